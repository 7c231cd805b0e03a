-- sova.bot.stats: timings the bot measures of itself, for GET /stats and bench/. Bounded: the
-- most recent samples only.
local core = require("sova.core")
local metrics = require("sova.metrics")

local M = {}

local KEEP = 20000

local function series()
  return { n = 0, sum = 0, samples = {}, next = 1 }
end

-- turns and starts: wall time of the bot's own work (its waits for a core included); starts_cpu
-- and ends_cpu: the loop thread's CPU time of a call's start (from the POST's arrival to its
-- answer) and of its end (the session's last writes, the sandbox closed), so bench/ can tell a
-- call's fixed cost from its turns'
local turns, starts, starts_cpu, ends_cpu = series(), series(), series(), series()

-- Voice turns, by stage (ms): from the other party's end of speech to its last final transcript
-- (recognizer: negative when the words were final before the speech's tail ended), from the later
-- of the two to the voice deciding the turn is over (endpointing: the flow's minimum silence),
-- from that to the model's first token (model: the provider's time), from that to the answer's
-- first line requested (platform; from the turn's end when no model was asked), from that to the
-- first synthesized audio (synthesizer), from that to the first frame out (outbound), and the
-- whole turn; and respond, the turn's end to the first say (model and platform as one figure: the
-- p99 of a sum is not the sum of the p99s). See sova.bot.voice.
M.VOICE_STAGES = { "recognizer", "endpointing", "model", "platform", "synthesizer", "outbound", "turn", "respond" }
local voice = {}
for _, k in ipairs(M.VOICE_STAGES) do voice[k] = series() end

local function add(s, v)
  s.samples[s.next] = v
  s.next = s.next % KEEP + 1
  s.n = s.n + 1
  s.sum = s.sum + v
end

local function summary(s)
  local xs = {}
  for i = 1, #s.samples do xs[i] = s.samples[i] end
  table.sort(xs)
  local function pct(p)
    if #xs == 0 then return nil end
    return xs[math.max(1, math.ceil(#xs * p))]
  end
  return { count = s.n, total = s.sum, window = #xs, p50 = pct(0.5), p90 = pct(0.9), p99 = pct(0.99), max = xs[#xs] }
end

function M.turn(ms) add(turns, ms) end
function M.start(ms) add(starts, ms) end
function M.start_cpu(ms) add(starts_cpu, ms) end
function M.end_cpu(ms) add(ends_cpu, ms) end

-- The loop thread's CPU clock (seconds) | nil, and the ms since such a reading | nil.
M.cpu = core.sys.thread_cpu
function M.cpu_ms_since(c0)
  local c1 = c0 and core.sys.thread_cpu()
  return c1 and (c1 - c0) * 1000
end

-- stages: {recognizer=ms, ...}, any subset of VOICE_STAGES
function M.voice_turn(stages)
  for k, v in pairs(stages) do
    if voice[k] and type(v) == "number" then
      add(voice[k], v)
      -- a negative recognizer figure (words final before the speech ended) is no wait
      metrics.observe("sova_turn_latency_seconds", { stage = k }, math.max(v, 0) / 1000)
    end
  end
end

function M.reset()
  turns, starts, starts_cpu, ends_cpu = series(), series(), series(), series()
  for _, k in ipairs(M.VOICE_STAGES) do voice[k] = series() end
end

local function rss_kib()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- Percentiles of 1 ms bucket counts ([k] = k - 1 to k ms) into out, each as the bucket's upper
-- bound ("p99_ms = 2": 99 % took less than 2 ms); returns the total.
local function bucket_percentiles(counts, out)
  local total = 0
  for _, n in ipairs(counts) do total = total + n end
  if total == 0 then return 0 end
  local function pct(p)
    local want, sum = math.ceil(total * p), 0
    for k, n in ipairs(counts) do
      sum = sum + n
      if sum >= want then return k end
    end
  end
  out.p50_ms, out.p99_ms, out.p999_ms = pct(0.5), pct(0.99), pct(0.999)
  for k = #counts, 1, -1 do if counts[k] > 0 then out.max_ms = k break end end
  return total
end

-- The voices' outbound pacing, from loop.voice_pacing()'s counts (frames sent k to k+1 ms after
-- their deadline, on the clock as they left): percentiles, the frames 5 ms (a quarter frame) or
-- more late, and the counts.
function M.pacing(counts)
  local out = { late = 0, late_ms_counts = counts }
  out.frames = bucket_percentiles(counts, out)
  for k = 6, #counts do out.late = out.late + counts[k] end
  return out
end

-- The media thread's tick (SOVA_LOOP_TICK_NS), from loop.tick_stats(): ticks run and missed, how late each began
-- after it was due (start_late) and how long it ran (run), as percentiles and counts.
function M.tick(t)
  local late, run = { counts = t.late_ms }, { counts = t.run_ms }
  bucket_percentiles(t.late_ms, late)
  bucket_percentiles(t.run_ms, run)
  return { ticks = t.ticks, missed = t.missed, start_late = late, run = run }
end

function M.snapshot(extra)
  local rss, hwm = rss_kib()
  local out = {
    turn_ms = summary(turns), start_ms = summary(starts),
    start_cpu_ms = summary(starts_cpu), end_cpu_ms = summary(ends_cpu),
    rss_kib = rss, peak_rss_kib = hwm, lua_kib = math.floor(collectgarbage("count")),
    voice_ms = {},
  }
  for _, k in ipairs(M.VOICE_STAGES) do out.voice_ms[k] = summary(voice[k]) end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

return M

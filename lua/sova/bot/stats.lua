-- sova.bot.stats: timings the bot measures of itself, for GET /stats and bench/. Bounded: the
-- most recent samples only.
local M = {}

local KEEP = 20000

local function series()
  return { n = 0, samples = {}, next = 1 }
end

local turns, starts = series(), series()

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
end

local function summary(s)
  local xs = {}
  for i = 1, #s.samples do xs[i] = s.samples[i] end
  table.sort(xs)
  local function pct(p)
    if #xs == 0 then return nil end
    return xs[math.max(1, math.ceil(#xs * p))]
  end
  return { count = s.n, window = #xs, p50 = pct(0.5), p90 = pct(0.9), p99 = pct(0.99), max = xs[#xs] }
end

function M.turn(ms) add(turns, ms) end
function M.start(ms) add(starts, ms) end

-- stages: {recognizer=ms, ...}, any subset of VOICE_STAGES
function M.voice_turn(stages)
  for k, v in pairs(stages) do if voice[k] and type(v) == "number" then add(voice[k], v) end end
end

function M.reset()
  turns, starts = series(), series()
  for _, k in ipairs(M.VOICE_STAGES) do voice[k] = series() end
end

local function rss_kib()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- The voices' outbound pacing, from loop.voice_pacing()'s counts (frames sent k to k+1 ms after
-- their deadline): each percentile as the bucket's upper bound ("p99_ms = 2": 99 % of the frames
-- left less than 2 ms late), and the frames 5 ms (a quarter frame) or more late; the counts too.
function M.pacing(counts)
  local total = 0
  for _, n in ipairs(counts) do total = total + n end
  local out = { frames = total, late = 0, late_ms_counts = counts }
  for k = 6, #counts do out.late = out.late + counts[k] end
  if total == 0 then return out end
  local function pct(p)
    local want, sum = math.ceil(total * p), 0
    for k, n in ipairs(counts) do
      sum = sum + n
      if sum >= want then return k end
    end
  end
  out.p50_ms, out.p99_ms, out.p999_ms = pct(0.5), pct(0.99), pct(0.999)
  for k = #counts, 1, -1 do if counts[k] > 0 then out.max_ms = k break end end
  return out
end

function M.snapshot(extra)
  local rss, hwm = rss_kib()
  local out = {
    turn_ms = summary(turns), start_ms = summary(starts),
    rss_kib = rss, peak_rss_kib = hwm, lua_kib = math.floor(collectgarbage("count")),
    voice_ms = {},
  }
  for _, k in ipairs(M.VOICE_STAGES) do out.voice_ms[k] = summary(voice[k]) end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

return M

-- The driver of bench/phone_calls.sh: N phone calls (Alpha prior_auth, mode phone) started on a
-- running `sova bot` as the API starts them (a patient and a queued session in the database, then
-- a signed call start with phone = {to}), BENCH_START_RATE a second; the bot places each at the
-- phone simulator. The simulator's events file says when each call's stream started and stopped,
-- how long the bot took to answer each callee line (bot_reply) and how its frames were paced
-- (stream_stop). Once every call is connected and BENCH_SETTLE_SECONDS have passed, a window of
-- BENCH_WINDOW_SECONDS is measured: the bot's CPU (utime + stime from /proc/<pid>/stat, and per
-- thread from /proc/<pid>/task/*/stat), its RSS, the calls connected (sampled every second), its
-- /stats pacing counts (the window's difference); then every call is hung up through the
-- simulator's REST API (Status=completed: the line ends from the callee's side), and the streams'
-- pacing figures and the bot's /stats stages are read. Trusted code run under LuaJIT with the
-- bot's modules (sova.core, sova.bot.twilio), not a flow.
--
--   luajit bench/phone_calls_driver.lua
--
-- Reads: BENCH_N, BENCH_WORKLOAD (talk | hold), BENCH_BOT_URL, BENCH_BOT_PID, BENCH_SIM_PID,
-- BENCH_EVENTS (the simulator's events file), SOVA_BOT_SECRET, MONGODB_URI, TWILIO_API_BASE,
-- TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, BENCH_START_RATE, BENCH_SETTLE_SECONDS,
-- BENCH_WINDOW_SECONDS, BENCH_CONNECT_SECONDS (how long all calls may take to connect past the
-- ramp), BENCH_RESULT (a JSON file written at the end, with run_tag for bench/calls_driver.lua's
-- tally).
local core = require("sova.core")
local bson = core.bson
local cjson = require("cjson")
local json = require("sova.json")
local config = require("sova.config")
local callsign = require("sova.callsign")
local twilio = require("sova.bot.twilio")

local mono = core.sys.monotonic

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error(name .. " is required", 0) end
    return default
  end
  return v
end

local N = tonumber(env("BENCH_N"))
local WORKLOAD = env("BENCH_WORKLOAD")
local BOT = env("BENCH_BOT_URL")
local BOT_PID = env("BENCH_BOT_PID")
local SIM_PID = env("BENCH_SIM_PID")
local RESULT = env("BENCH_RESULT")
local RATE = tonumber(env("BENCH_START_RATE", "20"))
-- a held call is on hold once its greeting (13 s) and "Sure, I'll hold" are said
local SETTLE = tonumber(env("BENCH_SETTLE_SECONDS", WORKLOAD == "hold" and "30" or "15"))
local WINDOW = tonumber(env("BENCH_WINDOW_SECONDS", "60"))
local CONNECT = tonumber(env("BENCH_CONNECT_SECONDS", "60"))
local secret = assert(callsign.secret())
local sim = twilio.client({ account_sid = env("TWILIO_ACCOUNT_SID"), auth_token = env("TWILIO_AUTH_TOKEN") })

local function say(fmt, ...) io.stdout:write(fmt:format(...), "\n") io.stdout:flush() end

local function http_get(url)
  local res, err = core.http.request { method = "GET", url = url, timeout_ms = 10000 }
  if not res or res.status ~= 200 then return nil, err or ("HTTP " .. tostring(res and res.status)) end
  return cjson.decode(res.body)
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- ---- the processes, from /proc ----

local HZ = 100 -- USER_HZ: the unit of utime and stime

-- utime + stime of a process or a thread, in seconds (fields 14 and 15, after the command's ")")
local function cpu_of(path)
  local s = read_file(path)
  if not s then return nil end
  local rest = s:match("%) (.*)$")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  -- rest starts at field 3 (state): utime is field 14, stime 15
  return (tonumber(fields[12]) + tonumber(fields[13])) / HZ
end

-- tid -> {cpu = seconds, name = comm} of each thread (the bot names its media, writer and offload
-- threads; the main thread is the Lua loop)
local function threads(pid)
  local out = {}
  local ls = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
  for tid in ls:lines() do
    local dir = "/proc/" .. pid .. "/task/" .. tid
    out[tid] = { cpu = cpu_of(dir .. "/stat"), name = (read_file(dir .. "/comm") or "?"):gsub("%s+$", "") }
  end
  ls:close()
  return out
end

local function rss_kib(pid)
  local s = read_file("/proc/" .. pid .. "/status") or ""
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

local function loadavg() return (read_file("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)") end

-- the machine's CPU time, all cores (jiffies): the share the bot got of what was there
local function machine_cpu()
  local s = read_file("/proc/stat") or ""
  local t = {}
  for x in s:match("^cpu%s+([^\n]+)"):gmatch("%d+") do t[#t + 1] = tonumber(x) end
  local idle = t[4] + (t[5] or 0)
  local total = 0
  for _, x in ipairs(t) do total = total + x end
  return { busy = (total - idle) / HZ, total = total / HZ }
end

-- ---- the simulator's events, read as they are written ----

local events = { pos = 0, partial = "" }
local calls = {}          -- call sid -> {to, streams, open, stopped_by_bot, stops = {}}
local n_created, n_open, n_connected, n_hung = 0, 0, 0, 0
local replies = {}        -- {t_ms, latency_ms}
local markers = {}        -- path -> t_ms of the marker request's `rest` event
local failed_streams = 0

local function on_event(e)
  local c = e.call and calls[e.call]
  if e.event == "created" then
    calls[e.call] = { to = e.to, streams = 0, open = false, stops = {} }
    n_created = n_created + 1
  elseif not c then
    local name = e.event == "rest" and e.path and e.path:match("/Calls/CA0+(%d%d%d%d%d%d)%.json")
    if name then markers[name] = e.t_ms end
    if e.event == "stream_failed" then failed_streams = failed_streams + 1 end
  elseif e.event == "stream_start" then
    if c.streams == 0 then n_connected = n_connected + 1 end
    c.streams = c.streams + 1
    if not c.open then n_open = n_open + 1 end
    c.open = true
  elseif e.event == "stream_stop" then
    if c.open then n_open = n_open - 1 end
    c.open = false
    c.stops[#c.stops + 1] = e
  elseif e.event == "stream_failed" then
    failed_streams = failed_streams + 1
  elseif e.event == "bot_reply" then
    replies[#replies + 1] = { e.t_ms, e.latency_ms }
  elseif e.event == "hangup" then
    c.hangup = e
    n_hung = n_hung + 1
  end
end

local function poll_events()
  local f = io.open(env("BENCH_EVENTS"))
  if not f then return end
  f:seek("set", events.pos)
  local chunk = f:read("*a") or ""
  events.pos = f:seek("cur")
  f:close()
  if chunk == "" then return end
  local text = events.partial .. chunk
  local last = 1
  for line, stop in text:gmatch("([^\n]*)\n()") do
    last = stop
    if line ~= "" then
      local ok, e = pcall(cjson.decode, line)
      if ok and type(e) == "table" then on_event(e) end
    end
  end
  events.partial = text:sub(last)
end

-- A marker on the simulator's clock: a request for an unknown call (404) is written as a `rest`
-- event with its t_ms; returns that t_ms and the driver's monotonic time it corresponds to.
local function marker(name)
  local t0 = mono()
  local req = sim:update("CA" .. ("0"):rep(26) .. name, { { "Status", "completed" } })
  core.http.request { method = "POST", url = req.url, headers = req.headers, body = req.body, timeout_ms = 10000 }
  local t1 = mono()
  for _ = 1, 200 do
    poll_events()
    if markers[name] then return markers[name], (t0 + t1) / 2 end
    core.sys.sleep(0.05)
  end
  error("the simulator did not log the marker request " .. name, 0)
end

-- ---- patients and queued sessions, as the API would have created them ----

assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = assert(h:find_one("organizations", { slug = "demo_clinic_alpha" }), "run setup_multi_tenant first")
local wf = assert(org.workflows and org.workflows.prior_auth, "Alpha has no prior_auth workflow")
local run_tag = tostring(bson.oid()) -- marks this run's sessions

local patients, sessions, starts = {}, {}, {}
for i = 1, N do
  local now = bson.now()
  local pid, sid = bson.oid(), bson.oid()
  local to = ("+1516555%04d"):format(i)
  local p = {
    _id = pid, organization_id = org._id, workflow = "prior_auth", call_status = "Queued",
    created_at = now, updated_at = now,
    -- the same fields for every patient: the agent's lines are then the same in every call, so the
    -- stand-in Cartesia synthesizes each once (a real provider has no such limit)
    patient_name = "Jordan Bench", date_of_birth = "1980-01-01",
    insurance_member_id = "MBR100200", insurance_company_name = "Aetna",
    insurance_phone = to, facility_name = "City Medical Center",
    provider_name = "Dr. Jane Wilson", provider_npi = "1234567890", cpt_code = "99213",
    appointment_time = "2026-12-01T14:30:00", prior_auth_status = "Pending",
  }
  patients[i] = p
  sessions[i] = {
    _id = sid, organization_id = org._id, patient_id = pid, workflow = "prior_auth", mode = "phone",
    status = "queued", flow = { path = "clients/demo_clinic_alpha/prior_auth" },
    transcript = { messages = bson.array(), summary = json.null }, events = bson.array(),
    bench_run = run_tag, created_at = now, updated_at = now,
  }
  local fields = {}
  for k, v in pairs(p) do if k ~= "_id" and k ~= "organization_id" then fields[k] = v end end
  starts[i] = json.encode({
    session_id = tostring(sid), patient_id = tostring(pid), mode = "phone", phone = { to = to },
    organization = { id = tostring(org._id), slug = org.slug, name = org.name },
    workflow = "prior_auth", patient = fields, fields = json.array(wf.patient_schema.fields),
  })
end
for _, coll in ipairs({ { "patients", patients }, { "sessions", sessions } }) do
  for i = 1, #coll[2], 250 do
    local batch = {}
    for j = i, math.min(i + 249, #coll[2]) do batch[#batch + 1] = coll[2][j] end
    assert(h:command(bson.ordered({ "insert", coll[1], "documents", bson.array(batch), "ordered", false })))
  end
end

local rss_idle = rss_kib(BOT_PID)
local cpu_idle = cpu_of("/proc/" .. BOT_PID .. "/stat")

-- ---- the starts, at the rate ----

local statuses = {}
local t_start = mono()
for i = 1, N do
  local due = t_start + (i - 1) / RATE
  local wait = due - mono()
  if wait > 0 then core.sys.sleep(wait) end
  local ts = os.time()
  local res, err = core.http.request {
    method = "POST", url = BOT .. "/calls", body = starts[i], timeout_ms = 10000,
    headers = { ["content-type"] = "application/json", ["x-sova-timestamp"] = tostring(ts),
      ["x-sova-signature"] = callsign.sign(secret, ts, starts[i]) },
  }
  local st = res and tostring(res.status) or ("error: " .. tostring(err))
  statuses[st] = (statuses[st] or 0) + 1
  if i % 50 == 0 then poll_events() end
end
local ramp_s = mono() - t_start
say("started %d phone calls in %.1f s: %s", N, ramp_s, cjson.encode(statuses))

-- ---- every call connected, then the settle ----

local deadline = mono() + CONNECT
while n_open < N and mono() < deadline do
  poll_events()
  core.sys.sleep(0.5)
end
local connect_s = mono() - t_start
say("%d of %d calls created at the simulator, %d streams open, %d ever connected, %.1f s after the first start",
  n_created, N, n_open, n_connected, connect_s)
local settle_until = mono() + SETTLE
while mono() < settle_until do
  poll_events()
  core.sys.sleep(0.5)
end

-- ---- the window ----

-- the harness's other processes (BENCH_OTHER_PIDS: "name=pid ..."): their CPU over the window
local others = {}
for name, pid in env("BENCH_OTHER_PIDS", ""):gmatch("(%w+)=(%d+)") do others[name] = pid end

local function sample()
  local o = {}
  for name, pid in pairs(others) do o[name] = cpu_of("/proc/" .. pid .. "/stat") end
  return { t = mono(), cpu = cpu_of("/proc/" .. BOT_PID .. "/stat"), threads = threads(BOT_PID),
    sim_cpu = cpu_of("/proc/" .. SIM_PID .. "/stat"), machine = machine_cpu(), load = loadavg(),
    rss = rss_kib(BOT_PID), stats = http_get(BOT .. "/stats"), others = o }
end

local w0_ms = marker("000001")
if os.getenv("BENCH_PERF") then -- a profile of the bot over the window (bench/phone_calls.sh reports it)
  os.execute(("perf record -q -F 499 -g -p %s -o %s/perf.data -- sleep %d >/dev/null 2>&1 &")
    :format(BOT_PID, env("BENCH_WORK"), WINDOW))
end
local s0 = sample()
local open_min, open_max, rss_max = n_open, n_open, s0.rss
local window_until = s0.t + WINDOW
while mono() < window_until do
  core.sys.sleep(math.min(1, math.max(0, window_until - mono())))
  poll_events()
  open_min, open_max = math.min(open_min, n_open), math.max(open_max, n_open)
  rss_max = math.max(rss_max, rss_kib(BOT_PID) or 0)
end
local s1 = sample()
local w1_ms = marker("000002")
local window_s = s1.t - s0.t
-- the calls whose line was over before the window ended, other than by us
local ended_early = 0
for _, c in pairs(calls) do if c.hangup then ended_early = ended_early + 1 end end

-- ---- every call hung up (the callee's side), the streams' figures ----

local hung_statuses = {}
for sid, c in pairs(calls) do
  if not c.hangup then
    local req = sim:update(sid, { { "Status", "completed" } })
    local res = core.http.request { method = "POST", url = req.url, headers = req.headers, body = req.body,
      timeout_ms = 10000 }
    local st = res and tostring(res.status) or "error"
    hung_statuses[st] = (hung_statuses[st] or 0) + 1
  end
end
local drain_until = mono() + 60
while mono() < drain_until do
  poll_events()
  local health = http_get(BOT .. "/health")
  if n_open == 0 and n_hung >= n_created and health and health.calls == 0 then break end
  core.sys.sleep(1)
end
poll_events()
local stats_end = http_get(BOT .. "/stats") or {}

-- ---- figures ----

local function pct(xs, p)
  if #xs == 0 then return nil end
  table.sort(xs)
  return xs[math.max(1, math.ceil(#xs * p))]
end

local function diff_counts(a, b)
  local out = {}
  for k = 1, math.max(#(a or {}), #(b or {})) do out[k] = (b[k] or 0) - (a[k] or 0) end
  return out
end

-- percentiles of 1 ms bucket counts ([k] = k - 1 to k ms), as the bucket's upper bound
local function bucket_pct(counts)
  local total = 0
  for _, n in ipairs(counts) do total = total + n end
  if total == 0 then return { frames = 0 } end
  local function at(p)
    local want, sum = math.ceil(total * p), 0
    for k, n in ipairs(counts) do
      sum = sum + n
      if sum >= want then return k end
    end
  end
  local late5, late20, max = 0, 0, 0
  for k, n in ipairs(counts) do
    if k >= 6 then late5 = late5 + n end
    if k >= 21 then late20 = late20 + n end
    if n > 0 then max = k end
  end
  return { frames = total, p50_ms = at(0.5), p99_ms = at(0.99), p999_ms = at(0.999), max_ms = max,
    late_5ms = late5, late_20ms = late20 }
end

-- the bot's turns answered inside the window, as the callee waited for them
local lat_window, lat_all = {}, {}
for _, r in ipairs(replies) do
  lat_all[#lat_all + 1] = r[2]
  if r[1] >= w0_ms and r[1] <= w1_ms then lat_window[#lat_window + 1] = r[2] end
end
local turns_in_window = #lat_window
-- the streams' pacing as the simulator received the bot's frames (each stream's own p50 / p99 /
-- max of the gaps inside talk spurts): spread over the streams
local g50, g99, gmax, dropped, bad, bot_closed, by_bot_media = {}, {}, {}, 0, 0, 0, 0
for _, c in pairs(calls) do
  for _, s in ipairs(c.stops) do
    if (s.bot_media or 0) > 1 then
      g50[#g50 + 1], g99[#g99 + 1], gmax[#gmax + 1] = s.bot_gap_p50_ms, s.bot_gap_p99_ms, s.bot_gap_max_ms
      by_bot_media = by_bot_media + s.bot_media
    end
    dropped, bad = dropped + (s.dropped_frames or 0), bad + (s.bad_messages or 0)
    if s.by == "bot" then bot_closed = bot_closed + 1 end
  end
end

local cpu_s = s1.cpu - s0.cpu
local threads_cpu = {}
for tid, t1 in pairs(s1.threads) do
  local t0 = s0.threads[tid]
  if t0 and t0.cpu and t1.cpu then
    threads_cpu[#threads_cpu + 1] = { tid = tid, name = tid == BOT_PID and "lua-loop" or t1.name, cpu_s = t1.cpu - t0.cpu }
  end
end
table.sort(threads_cpu, function(a, b) return a.cpu_s > b.cpu_s end)
local calls_mean = (open_min + open_max) / 2
local machine_busy = (s1.machine.busy - s0.machine.busy) / window_s

local function stage(name)
  local s = stats_end.voice_ms and stats_end.voice_ms[name]
  if not s or not s.count or s.count == 0 then return nil end
  return { p50 = s.p50, p90 = s.p90, p99 = s.p99, max = s.max, count = s.count }
end
local stages = {}
for _, k in ipairs({ "recognizer", "endpointing", "model", "platform", "respond", "synthesizer", "outbound", "turn" }) do
  stages[k] = stage(k)
end

local out = {
  n = N, workload = WORKLOAD, run_tag = run_tag, starts = statuses, ramp_s = ramp_s, connect_s = connect_s,
  created = n_created, connected = n_connected, failed_streams = failed_streams,
  window_s = window_s, open_min = open_min, open_max = open_max, ended_before_window_end = ended_early,
  hangups = hung_statuses, load_before = s0.load, load_after = s1.load, machine_busy_cores = machine_busy,
  bot = {
    cpu_s = cpu_s, cores = cpu_s / window_s, cpu_before_window_s = s0.cpu - cpu_idle,
    cpu_per_call_minute_ms = cpu_s * 1000 / (calls_mean * window_s / 60),
    cpu_per_call_hour_s = cpu_s / (calls_mean * window_s / 3600),
    rss_idle_kib = rss_idle, rss_kib = s1.rss, rss_max_kib = rss_max,
    rss_per_call_kib = (s1.rss - rss_idle) / math.max(1, calls_mean),
    threads = threads_cpu,
  },
  sim_cores = (s1.sim_cpu - s0.sim_cpu) / window_s, harness_cores = {},
  reply_ms = { window = { n = turns_in_window, p50 = pct(lat_window, 0.5), p90 = pct(lat_window, 0.9),
    p99 = pct(lat_window, 0.99), max = pct(lat_window, 1) },
    all = { n = #lat_all, p50 = pct(lat_all, 0.5), p90 = pct(lat_all, 0.9), p99 = pct(lat_all, 0.99), max = pct(lat_all, 1) } },
  stream_gaps = { streams = #g50, frames = by_bot_media, p50_of_p50 = pct(g50, 0.5), p50_of_p99 = pct(g99, 0.5),
    p99_of_p99 = pct(g99, 0.99), max_of_max = pct(gmax, 1), p99_of_max = pct(gmax, 0.99) },
  dropped_frames = dropped, bad_messages = bad, closed_by_bot = bot_closed,
  pacing_window = bucket_pct(diff_counts(s0.stats and s0.stats.voice_pacing.late_ms_counts,
    s1.stats and s1.stats.voice_pacing.late_ms_counts)),
  tick_window = s1.stats and s0.stats and { ticks = s1.stats.tick.ticks - s0.stats.tick.ticks,
    missed = s1.stats.tick.missed - s0.stats.tick.missed,
    start_late = bucket_pct(diff_counts(s0.stats.tick.start_late.counts, s1.stats.tick.start_late.counts)),
    run = bucket_pct(diff_counts(s0.stats.tick.run.counts, s1.stats.tick.run.counts)) },
  voice_ms = stages, writer = stats_end.writer,
}
local hl = {}
for name in pairs(others) do
  if s0.others[name] and s1.others[name] then
    out.harness_cores[name] = (s1.others[name] - s0.others[name]) / window_s
    hl[#hl + 1] = ("%s %.2f"):format(name, out.harness_cores[name])
  end
end
table.sort(hl)
local fo = assert(io.open(RESULT, "w"))
fo:write(cjson.encode(out), "\n")
fo:close()

local function f1(x) return x and ("%.1f"):format(x) or "-" end
say("window %.0f s: calls connected min %d max %d of %d (%d ended before the window's end, %d streams failed, %d closed by the bot)",
  window_s, open_min, open_max, N, ended_early, failed_streams, bot_closed)
say("load average %s -> %s; the machine busy %.2f cores of %d; the simulator %.2f cores, %s",
  s0.load, s1.load, machine_busy, 2, out.sim_cores, table.concat(hl, ", "))
say("bot: %.2f cores = %.1f ms CPU per call-minute = %.1f s per call-hour; RSS %d -> %d KiB (%.0f KiB per call)",
  out.bot.cores, out.bot.cpu_per_call_minute_ms, out.bot.cpu_per_call_hour_s, rss_idle, s1.rss, out.bot.rss_per_call_kib)
local tl = {}
for i = 1, math.min(6, #threads_cpu) do
  local t = threads_cpu[i]
  tl[#tl + 1] = ("%s %.3f"):format(t.name, t.cpu_s / window_s)
end
say("bot threads (cores): %s", table.concat(tl, ", "))
local r = out.reply_ms.window
say("bot_reply in the window: %d turns, p50 %s p90 %s p99 %s max %s ms (whole run: %d, p50 %s p99 %s)", r.n,
  f1(r.p50), f1(r.p90), f1(r.p99), f1(r.max), out.reply_ms.all.n, f1(out.reply_ms.all.p50), f1(out.reply_ms.all.p99))
local g = out.stream_gaps
say("pacing at the simulator (%d streams, %d frames): gap p50 %s, p99 median %s / p99 %s, max %s ms; dropped frames %d, bad messages %d",
  g.streams, g.frames, f1(g.p50_of_p50), f1(g.p50_of_p99), f1(g.p99_of_p99), f1(g.max_of_max), dropped, bad)
local p = out.pacing_window
say("pacing in the bot (window): %d frames, late p50 %s p99 %s p99.9 %s max %s ms; %d 5 ms or more late, %d 20 ms or more",
  p.frames, tostring(p.p50_ms), tostring(p.p99_ms), tostring(p.p999_ms), tostring(p.max_ms), p.late_5ms or 0, p.late_20ms or 0)
if out.tick_window then
  local t = out.tick_window
  say("tick (window): %d ran, %d missed; began late p50 %s p99 %s; ran p50 %s p99 %s ms", t.ticks, t.missed,
    tostring(t.start_late.p50_ms), tostring(t.start_late.p99_ms), tostring(t.run.p50_ms), tostring(t.run.p99_ms))
end
local parts = {}
for _, k in ipairs({ "recognizer", "endpointing", "respond", "synthesizer", "outbound", "turn" }) do
  local s = stages[k]
  if s then parts[#parts + 1] = ("%s p50 %s p99 %s (n %d)"):format(k, f1(s.p50), f1(s.p99), s.count) end
end
say("bot stages (ms, whole run): %s", table.concat(parts, "; "))
say("hung up through the simulator: %s", cjson.encode(hung_statuses))
os.exit(0)

-- The load generator of bench/calls.sh: N signed replay call starts against a running `sova bot`,
-- then the bot's own figures. Trusted code run under LuaJIT with the specs' modules (bench_lua in
-- bench/calls.sh: sova.core and sova.testkit from build/lua), not a flow.
--
--   bench_lua bench/calls_driver.lua run              -- settings from the environment (below)
--   bench_lua bench/calls_driver.lua sample URL PID   -- the sampler the run spawns: one line per
--     100 ms "t calls rss_kib", every 10th with "sandbox_bytes calls writes_queued queued_bytes"
--
--   bench_lua bench/calls_driver.lua tally            -- after the bot has stopped: how the sessions
--     ended, from the database and the bot's write spool (BENCH_RESULT, BENCH_SPOOL, MONGODB_URI)
--
-- run reads: BENCH_N (calls), BENCH_BOT_URL, BENCH_BOT_PID, SOVA_BOT_SECRET, MONGODB_URI,
-- BENCH_LINES (other-party lines per call),
-- BENCH_WORK (a scratch directory), BENCH_DRAIN_SECONDS (how long to wait for the bot's session
-- writer to reach the database), BENCH_RESULT (a JSON file written at the end). Each call is an
-- Alpha prior_auth call for a patient (and a queued session) inserted first, as the API would
-- have; the bot plays the script's lines itself (mode "replay") and each line costs one round trip
-- to the language model.
local core = require("sova.core")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local bson = core.bson
local cjson = require("cjson")
local json = require("sova.json")
local config = require("sova.config")
local callsign = require("sova.callsign")

local mono = core.sys.monotonic

local function http_get(url, timeout_ms)
  local res, err = core.http.request { method = "GET", url = url, timeout_ms = timeout_ms or 5000 }
  if not res or res.status ~= 200 then return nil, err or ("HTTP " .. tostring(res and res.status)) end
  local ok, v = pcall(cjson.decode, res.body)
  if not ok then return nil, "bad JSON" end
  return v
end

local function rss_kib(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- schedstat of the bot: {run seconds, seconds runnable but waiting for a CPU} of the loop thread
-- (the main thread) and of the whole process
local function schedstat(pid)
  local function read(path)
    local f = io.open(path)
    if not f then return 0, 0 end
    local run, wait = f:read("*a"):match("^(%d+) (%d+)")
    f:close()
    return (tonumber(run) or 0) / 1e9, (tonumber(wait) or 0) / 1e9
  end
  local lrun, lwait = read("/proc/" .. pid .. "/task/" .. pid .. "/schedstat")
  local prun, pwait = 0, 0
  local ls = io.popen("ls /proc/" .. pid .. "/task")
  for tid in ls:lines() do
    local r, w = read("/proc/" .. pid .. "/task/" .. tid .. "/schedstat")
    prun, pwait = prun + r, pwait + w
  end
  ls:close()
  return { loop_run = lrun, loop_wait = lwait, all_run = prun, all_wait = pwait }
end

-- ---------------------------------------------------------------------------------------------
-- sampler: runs in its own process so that posting (blocking) never stops the sampling

if arg[1] == "sample" then
  local url, pid = arg[2], arg[3]
  io.stdout:setvbuf("line")
  local t0, i = mono(), 0
  while true do
    local t = mono() - t0
    local h = http_get(url .. "/health", 2000)
    local rss = rss_kib(pid)
    if not rss then break end -- the bot is gone
    local line = ("%.3f %d %d"):format(t, h and h.calls or -1, rss)
    -- /stats sorts its timing windows: ask for it less often, it runs in the bot's loop
    if i % 10 == 0 then
      local s = http_get(url .. "/stats", 2000)
      if s then
        local w = s.writer or {}
        line = line .. (" %d %d %d %d"):format(s.sandbox_bytes or 0, s.calls or -1, w.queued or 0, w.queued_bytes or 0)
      end
    end
    print(line)
    i = i + 1
    core.sys.sleep(math.max(0, 0.1 - (mono() - t0 - t)))
  end
  os.exit(0)
end

-- ---------------------------------------------------------------------------------------------
-- tally: how each session ended, once the bot has stopped. What the bot's writer had not yet
-- applied to FerretDB (which is slower than the bot writes; see docs/benchmarks.md) is in its
-- spool file, in order: the database's state, then the spool's operations replayed over it.

local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return a + b * 256 + c * 65536 + d * 16777216
end

if arg[1] == "tally" then
  local result_path, spool_path = assert(os.getenv("BENCH_RESULT")), assert(os.getenv("BENCH_SPOOL"))
  local f = assert(io.open(result_path))
  local out = cjson.decode(f:read("*a"))
  f:close()
  assert(core.db.open(config.mongodb_uri()))
  local h = core.db.unscoped()
  local status, reason, landed = {}, {}, {}
  -- per session: the other party's lines and the nodes entered (session events), landed or spooled
  local heard, nodes = {}, {}
  local function count_pushed(id, pushed)
    if not pushed then return end
    local function each(key, fn)
      local v = pushed[key]
      if type(v) ~= "table" then return end
      if v["$each"] then for _, x in ipairs(v["$each"]) do fn(x) end else fn(v) end
    end
    each("transcript.messages", function(m) if m.role == "user" then heard[id] = (heard[id] or 0) + 1 end end)
    each("events", function(e) if e.type == "node" and e.node then nodes[id][e.node] = true end end)
  end
  local docs = assert(h:find("sessions", { bench_run = out.run_tag },
    { projection = { status = 1, reason = 1, ["transcript.messages"] = 1, events = 1 } }))
  local messages = {}
  for _, d in ipairs(docs) do
    local id = tostring(d._id)
    status[id], reason[id], landed[id] = d.status, d.reason, true
    messages[#messages + 1] = d.transcript and d.transcript.messages and #d.transcript.messages or 0
    nodes[id] = {}
    count_pushed(id, { ["transcript.messages"] = { ["$each"] = d.transcript and d.transcript.messages or {} },
      events = { ["$each"] = d.events or {} } })
  end
  local spooled = 0
  local sf = io.open(spool_path, "rb")
  if sf then
    local data = sf:read("*a")
    sf:close()
    assert(data:sub(1, 8) == "SOVASPL1", "not a spool file")
    local pos = u32(data, 9) + u32(data, 13) * 4294967296 + 1 -- the first record not applied yet
    while pos + 12 <= #data + 1 and data:sub(pos, pos + 3) == "SvW1" do
      local len = u32(data, pos + 4)
      local op = assert(bson.decode(data:sub(pos + 12, pos + 11 + len)))
      pos = pos + 12 + len
      spooled = spooled + 1
      local id = op.c == "sessions" and op.k == 2 and tostring(op.f._id)
      if id and landed[id] then -- this run's sessions only (the bot may have run several)
        local set = op.b["$set"]
        if set and set.status then status[id] = set.status end
        if set and set.reason then reason[id] = set.reason end
        count_pushed(id, op.b["$push"])
      end
    end
  end
  local by_status, reasons = {}, {}
  for id, st in pairs(status) do
    by_status[st] = (by_status[st] or 0) + 1
    if st ~= "completed" then
      local r = tostring(reason[id] or "?")
      reasons[r] = (reasons[r] or 0) + 1
    end
  end
  out.sessions, out.failure_reasons, out.spooled_at_stop = by_status, reasons, spooled
  local lines, entered = {}, {}
  for id in pairs(landed) do
    lines[#lines + 1] = heard[id] or 0
    for node in pairs(nodes[id]) do entered[node] = (entered[node] or 0) + 1 end
  end
  table.sort(lines)
  out.other_party_lines = { min = lines[1], p50 = lines[math.max(1, math.ceil(#lines / 2))], max = lines[#lines] }
  out.sessions_entering_node = entered
  table.sort(messages)
  out.transcript_messages_landed = { min = messages[1], max = messages[#messages] }
  local fo = assert(io.open(result_path, "w"))
  fo:write(cjson.encode(out), "\n")
  fo:close()
  local st = {}
  for k, v in pairs(by_status) do st[#st + 1] = k .. " " .. v end
  table.sort(st)
  local rs = {}
  for k, v in pairs(reasons) do rs[#rs + 1] = v .. " x " .. k end
  print(("sessions (database, then the %d operations the bot's spool still held): %s%s"):format(
    spooled, table.concat(st, ", "), #rs > 0 and ("; not completed: " .. table.concat(rs, "; ")) or ""))
  local en = {}
  for k, v in pairs(entered) do en[#en + 1] = k .. " " .. v end
  table.sort(en)
  print(("the other party's lines heard per session: min %s p50 %s max %s; sessions entering each node: %s"):format(
    tostring(lines[1]), tostring(out.other_party_lines.p50), tostring(lines[#lines]), table.concat(en, ", ")))
  os.exit(0)
end

if arg[1] ~= "run" then
  io.stderr:write("usage: bench_lua bench/calls_driver.lua run | tally | sample URL PID\n")
  os.exit(2)
end

-- ---------------------------------------------------------------------------------------------
-- run

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error(name .. " is required", 0) end
    return default
  end
  return v
end

local N = tonumber(env("BENCH_N"))
local BOT = env("BENCH_BOT_URL")
local BOT_PID = env("BENCH_BOT_PID")
local LINES = tonumber(env("BENCH_LINES", "8"))
local WORK = env("BENCH_WORK")
local DRAIN = tonumber(env("BENCH_DRAIN_SECONDS", "0"))
local RESULT = env("BENCH_RESULT")
local secret = assert(callsign.secret())

local function say(fmt, ...) io.stdout:write(fmt:format(...), "\n") io.stdout:flush() end

-- the insurance representative's side of the call: one model round trip per line
local SCRIPT = {
  "Thank you for calling provider services, this is Sam. How can I help you?",
  "Sure. Can I have the member ID and the date of birth, please?",
  "Thank you. One moment while I pull that up.",
  "Okay, I see the request. What is the CPT code and the date of service?",
  "That authorization is approved. Your reference number is PA 4471 2290.",
  "Yes, that is correct. Anything else I can help with?",
  "You're welcome, have a good day.",
  "Goodbye.",
}
local script = {}
for i = 1, LINES do script[i] = SCRIPT[(i - 1) % #SCRIPT + 1] end

-- ---- patients and queued sessions, as the API would have created them ----

assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = assert(h:find_one("organizations", { slug = "demo_clinic_alpha" }), "run setup_multi_tenant first")
local wf = assert(org.workflows and org.workflows.prior_auth, "Alpha has no prior_auth workflow")
local fields = wf.patient_schema.fields
local run_tag = tostring(bson.oid()) -- marks this run's sessions

local function insert_many(coll, docs)
  for i = 1, #docs, 250 do
    local batch = {}
    for j = i, math.min(i + 249, #docs) do batch[#batch + 1] = docs[j] end
    assert(h:command(bson.ordered({ "insert", coll, "documents", bson.array(batch), "ordered", false })))
  end
end

local t_seed = mono()
local patients, sessions, calls = {}, {}, {}
for i = 1, N do
  local now = bson.now()
  local pid, sid = bson.oid(), bson.oid()
  local p = {
    _id = pid, organization_id = org._id, workflow = "prior_auth", call_status = "Queued",
    created_at = now, updated_at = now,
    patient_name = ("Bench Caller %05d"):format(i), date_of_birth = "1980-01-01",
    insurance_member_id = ("MBR%06d"):format(i), insurance_company_name = "Aetna",
    insurance_phone = "+15165550100", facility_name = "City Medical Center",
    provider_name = "Dr. Jane Wilson", provider_npi = "1234567890", cpt_code = "99213",
    appointment_time = "2026-12-01T14:30:00", prior_auth_status = "Pending",
  }
  patients[i] = p
  sessions[i] = {
    _id = sid, organization_id = org._id, patient_id = pid, workflow = "prior_auth", mode = "replay",
    status = "queued", flow = { path = "clients/demo_clinic_alpha/prior_auth" },
    transcript = { messages = bson.array(), summary = json.null }, events = bson.array(),
    bench_run = run_tag, created_at = now, updated_at = now,
  }
  local fieldvals = {}
  for k, v in pairs(p) do if k ~= "_id" and k ~= "organization_id" then fieldvals[k] = v end end
  calls[i] = json.encode({
    session_id = tostring(sid), patient_id = tostring(pid), mode = "replay",
    organization = { id = tostring(org._id), slug = org.slug, name = org.name },
    workflow = "prior_auth", patient = fieldvals, fields = json.array(fields), script = script,
  })
end
insert_many("patients", patients)
insert_many("sessions", sessions)
say("seeded %d patients and queued sessions in %.1f s", N, mono() - t_seed)

-- ---- idle figures, then the sampler ----

local idle = assert(http_get(BOT .. "/stats"))
local rss_before = rss_kib(BOT_PID)
local samples_path = WORK .. "/samples-" .. N .. ".txt"
local sampler = assert(testkit.spawn({ "luajit", core.lua_dir .. "/../bench/calls_driver.lua", "sample", BOT, BOT_PID },
  { stdout = samples_path, stderr = WORK .. "/sampler.err" }))
core.sys.sleep(0.3)

-- ---- the starts, one after another, as fast as the bot takes them ----

-- the stand-in counts the model requests it answers (one per model turn): from zero for this run
local LLM = env("BENCH_LLM_URL", "")
if LLM ~= "" then assert(core.http.request { method = "POST", url = LLM .. "/_reset", body = "", timeout_ms = 5000 }) end

local lat, statuses, errors = {}, {}, {}
local sched0 = schedstat(BOT_PID)
local t_post = mono()
for i = 1, N do
  local body = calls[i]
  local ts = os.time()
  local t0 = mono()
  local res, err = core.http.request {
    method = "POST", url = BOT .. "/calls", body = body, timeout_ms = 10000,
    headers = { ["content-type"] = "application/json", ["x-sova-timestamp"] = tostring(ts),
      ["x-sova-signature"] = callsign.sign(secret, ts, body) },
  }
  lat[#lat + 1] = (mono() - t0) * 1000
  local st = res and tostring(res.status) or ("error: " .. tostring(err))
  statuses[st] = (statuses[st] or 0) + 1
  if not res or res.status ~= 202 then
    if #errors < 5 then errors[#errors + 1] = st .. " " .. tostring(res and res.body or "") end
  end
end
local post_seconds = mono() - t_post
say("posted %d starts in %.2f s (%.0f starts/s)", N, post_seconds, N / post_seconds)

-- ---- until the bot has no call left ----

local call_seconds_max = 60 + LINES * 30
local deadline = mono() + call_seconds_max + N * 0.05
local last
while mono() < deadline do
  last = http_get(BOT .. "/health", 5000)
  if last and last.calls == 0 then break end
  core.sys.sleep(0.2)
end
local all_done = last and last.calls == 0
local run_seconds = mono() - t_post
local sched1 = schedstat(BOT_PID)
local sched = {}
for k, v in pairs(sched1) do sched[k] = v - sched0[k] end
say("calls %s after %.1f s", all_done and "all ended" or ("still running: " .. tostring(last and last.calls)), run_seconds)
local final = assert(http_get(BOT .. "/stats", 10000))

testkit.kill(sampler, 15)
testkit.wait(sampler)

-- ---- how far the session writer got (the statuses are counted by `tally`, after the bot stops) ----

local t_drain, drained = mono(), false
local w
repeat
  local s = http_get(BOT .. "/stats", 10000)
  w = s and s.writer
  if w and (w.queued or 0) == 0 and (w.spooled or 0) == 0 then drained = true break end
  if DRAIN > 0 then core.sys.sleep(1) end
until mono() - t_drain >= DRAIN
local drain_seconds = mono() - t_drain
say("session writer: %s; %s applied, %s queued in memory, %s in the spool (waited %.0f s)",
  drained and "drained" or "behind", tostring(w and w.applied), tostring(w and w.queued),
  tostring(w and w.spooled), drain_seconds)

-- ---- figures ----

local function pct(xs, p)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  if #s == 0 then return nil end
  return s[math.max(1, math.ceil(#s * p))]
end

local peak_calls, peak_rss, rss_at_peak, peak_sb, sb_calls, wq_at_peak, wqb_at_peak, wqb_max = 0, 0, 0, 0, 0, 0, 0, 0
local f = io.open(samples_path)
local n_samples = 0
for line in f:lines() do
  local t, c, rss, sb, sbc, wq, wqb = line:match("^(%S+) (%-?%d+) (%d+) ?(%d*) ?(%-?%d*) ?(%d*) ?(%d*)")
  c, rss = tonumber(c), tonumber(rss)
  if c then
    n_samples = n_samples + 1
    if c > peak_calls or (c == peak_calls and rss > rss_at_peak) then peak_calls, rss_at_peak = c, rss end
    if rss > peak_rss then peak_rss = rss end
    sb, sbc = tonumber(sb), tonumber(sbc)
    if sb and sbc and sbc > sb_calls then
      peak_sb, sb_calls, wq_at_peak, wqb_at_peak = sb, sbc, tonumber(wq) or 0, tonumber(wqb) or 0
    end
    if tonumber(wqb) and tonumber(wqb) > wqb_max then wqb_max = tonumber(wqb) end
  end
end
f:close()

local model_requests = LLM ~= "" and http_get(LLM .. "/_requests", 30000)
model_requests = model_requests and #model_requests or nil
local start_cpu, end_cpu = final.start_cpu_ms or {}, final.end_cpu_ms or {}
local fixed_ms = (start_cpu.total or 0) + (end_cpu.total or 0)
local per_start = (start_cpu.count or 0) > 0 and fixed_ms / start_cpu.count or nil
local turns_n = model_requests or final.turn_ms.count or 0
local per_model_turn = turns_n > 0 and (sched.loop_run * 1000 - fixed_ms) / turns_n or nil
local out = {
  n = N, lines = LINES, started = statuses["202"] or 0, post_statuses = statuses, post_errors = errors,
  post_seconds = post_seconds, starts_per_second = N / post_seconds,
  post_ms = { p50 = pct(lat, 0.5), p99 = pct(lat, 0.99), max = pct(lat, 1) },
  bot_start_ms = final.start_ms, bot_turn_ms = final.turn_ms,
  peak_calls = peak_calls, samples = n_samples,
  rss_before_kib = rss_before, rss_idle_stats_kib = idle.rss_kib, rss_at_peak_kib = rss_at_peak,
  peak_rss_sampled_kib = peak_rss, vmhwm_kib = final.peak_rss_kib, rss_after_kib = final.rss_kib,
  per_call_rss_kib = peak_calls > 0 and (math.max(peak_rss, final.peak_rss_kib or 0) - rss_before) / peak_calls or nil,
  sandbox_bytes_at_peak = peak_sb, sandbox_calls_at_peak = sb_calls,
  sandbox_bytes_per_call = sb_calls > 0 and peak_sb / sb_calls or nil,
  writes_queued_at_peak = wq_at_peak, write_bytes_queued_at_peak = wqb_at_peak, write_bytes_queued_max = wqb_max,
  all_ended = all_done, run_seconds = run_seconds, bot_cpu = sched,
  loop_cpu_ms_per_turn = sched.loop_run * 1000 / math.max(1, (final.turn_ms.count or 0) + (final.start_ms.count or 0)), writer = w, writer_drained = drained,
  -- the same loop time split: a call's start and end as the bot measured them (its thread CPU
  -- clock), per call; everything else (the turns, the wake-ups, the writer's pushes, the
  -- timers) per model turn
  loop_cpu_ms_per_start = per_start, loop_cpu_ms_per_model_turn = per_model_turn, model_requests = model_requests,
  drain_seconds = drain_seconds, run_tag = run_tag,
}
local fo = assert(io.open(RESULT, "w"))
fo:write(cjson.encode(out), "\n")
fo:close()

local function ms(x) return x and ("%.2f"):format(x) or "-" end
say("N=%d started=%d peak_concurrent=%d", N, out.started, peak_calls)
say("memory: idle RSS %.1f MiB, peak RSS %.1f MiB -> %.0f KiB per call; sandbox %.0f KiB per call (%d calls)",
  rss_before / 1024, math.max(peak_rss, final.peak_rss_kib or 0) / 1024, out.per_call_rss_kib or 0,
  (out.sandbox_bytes_per_call or 0) / 1024, sb_calls)
say("session writes queued in the bot at peak: %d (%.1f MiB); most queued: %.1f MiB", wq_at_peak,
  wqb_at_peak / 1048576, wqb_max / 1048576)
say("bot turn ms: p50 %s p99 %s max %s (%d turns)", ms(final.turn_ms.p50), ms(final.turn_ms.p99),
  ms(final.turn_ms.max), final.turn_ms.count)
say("bot start ms: p50 %s p99 %s max %s; client POST ms: p50 %s p99 %s max %s",
  ms(final.start_ms.p50), ms(final.start_ms.p99), ms(final.start_ms.max),
  ms(out.post_ms.p50), ms(out.post_ms.p99), ms(out.post_ms.max))
say("bot CPU from the first start to the last end (%.1f s): loop thread %.2f s on CPU, %.2f s waiting for a CPU; "
  .. "all threads %.2f s on CPU; loop CPU per turn or start %.3f ms", run_seconds, sched.loop_run, sched.loop_wait,
  sched.all_run, out.loop_cpu_ms_per_turn)
local function ms3(x) return x and ("%.3f"):format(x) or "-" end
say("loop CPU split: per call start and end %s ms (start p50 %s, end p50 %s); per model turn %s ms (the rest of the loop's time, over %s model requests)",
  ms3(per_start), ms3(start_cpu.p50), ms3(end_cpu.p50), ms3(per_model_turn), tostring(model_requests or turns_n))
local ps = {}
for k, v in pairs(statuses) do ps[#ps + 1] = k .. " x" .. v end
say("POST statuses: %s%s", table.concat(ps, ", "),
  #errors > 0 and ("; first errors: " .. table.concat(errors, " | ")) or "")
os.exit(0)

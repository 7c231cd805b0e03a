-- The driver of bench/voice_calls.sh: N voice test calls (Alpha prior_auth, mode browser_voice)
-- started on a running `sova bot` as the API starts them (a patient and a queued session in the
-- database, then a signed call start), then bench_voice_load plays their other parties on the live
-- sockets, and the bot's own figures are read from GET /stats. Trusted code run under LuaJIT with
-- the specs' modules (sova.core, sova.testkit), not a flow.
--
--   bench_lua bench/voice_calls_driver.lua
--
-- Reads: BENCH_N, BENCH_BOT_URL, BENCH_BOT_PID, SOVA_BOT_SECRET, MONGODB_URI, BENCH_CLIPS (the
-- party's lines as audio: 1.raw, 2.raw, ...), BENCH_ENCODING, BENCH_RATE, BENCH_RAMP_SECONDS,
-- BENCH_MAX_SECONDS, BENCH_LOAD (the bench_voice_load binary), BENCH_WORK, BENCH_RESULT (a JSON
-- file written at the end, with run_tag for bench/calls_driver.lua's tally).
local core = require("sova.core")
local testkit = require("sova.testkit")
local bson = core.bson
local cjson = require("cjson")
local json = require("sova.json")
local config = require("sova.config")
local callsign = require("sova.callsign")

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
local BOT = env("BENCH_BOT_URL")
local BOT_PID = env("BENCH_BOT_PID")
local WORK = env("BENCH_WORK")
local RESULT = env("BENCH_RESULT")
local secret = assert(callsign.secret())

local function say(fmt, ...) io.stdout:write(fmt:format(...), "\n") io.stdout:flush() end

local function http_get(url)
  local res, err = core.http.request { method = "GET", url = url, timeout_ms = 10000 }
  if not res or res.status ~= 200 then return nil, err or ("HTTP " .. tostring(res and res.status)) end
  return cjson.decode(res.body)
end

-- ---- patients and queued sessions, as the API would have created them ----

assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = assert(h:find_one("organizations", { slug = "demo_clinic_alpha" }), "run setup_multi_tenant first")
local wf = assert(org.workflows and org.workflows.prior_auth, "Alpha has no prior_auth workflow")
local run_tag = tostring(bson.oid()) -- marks this run's sessions

local patients, sessions, starts, paths = {}, {}, {}, {}
for i = 1, N do
  local now = bson.now()
  local pid, sid = bson.oid(), bson.oid()
  local p = {
    _id = pid, organization_id = org._id, workflow = "prior_auth", call_status = "Queued",
    created_at = now, updated_at = now,
    -- the same fields for every patient: the agent's lines are then the same in every call, so the
    -- stand-in Cartesia synthesizes each once (a real provider has no such limit; the one-thread
    -- stand-in making N greetings with flite at once would be the bottleneck measured)
    patient_name = "Jordan Bench", date_of_birth = "1980-01-01",
    insurance_member_id = "MBR100200", insurance_company_name = "Aetna",
    insurance_phone = "+15165550100", facility_name = "City Medical Center",
    provider_name = "Dr. Jane Wilson", provider_npi = "1234567890", cpt_code = "99213",
    appointment_time = "2026-12-01T14:30:00", prior_auth_status = "Pending",
  }
  patients[i] = p
  sessions[i] = {
    _id = sid, organization_id = org._id, patient_id = pid, workflow = "prior_auth", mode = "browser_voice",
    status = "queued", flow = { path = "clients/demo_clinic_alpha/prior_auth" },
    transcript = { messages = bson.array(), summary = json.null }, events = bson.array(),
    bench_run = run_tag, created_at = now, updated_at = now,
  }
  local fields = {}
  for k, v in pairs(p) do if k ~= "_id" and k ~= "organization_id" then fields[k] = v end end
  starts[i] = json.encode({
    session_id = tostring(sid), patient_id = tostring(pid), mode = "browser_voice",
    organization = { id = tostring(org._id), slug = org.slug, name = org.name },
    workflow = "prior_auth", patient = fields, fields = json.array(wf.patient_schema.fields),
  })
  paths[i] = ("/calls/%s/live?token=%s"):format(tostring(sid), callsign.live_token(secret, tostring(sid), tostring(org._id)))
end
for _, coll in ipairs({ { "patients", patients }, { "sessions", sessions } }) do
  for i = 1, #coll[2], 250 do
    local batch = {}
    for j = i, math.min(i + 249, #coll[2]) do batch[#batch + 1] = coll[2][j] end
    assert(h:command(bson.ordered({ "insert", coll[1], "documents", bson.array(batch), "ordered", false })))
  end
end

-- ---- the starts ----

local statuses = {}
for i = 1, N do
  local ts = os.time()
  local res, err = core.http.request {
    method = "POST", url = BOT .. "/calls", body = starts[i], timeout_ms = 10000,
    headers = { ["content-type"] = "application/json", ["x-sova-timestamp"] = tostring(ts),
      ["x-sova-signature"] = callsign.sign(secret, ts, starts[i]) },
  }
  local st = res and tostring(res.status) or ("error: " .. tostring(err))
  statuses[st] = (statuses[st] or 0) + 1
end
say("started %d voice calls: %s", N, cjson.encode(statuses))
local paths_file = WORK .. "/paths-" .. N .. ".txt"
local f = assert(io.open(paths_file, "w"))
f:write(table.concat(paths, "\n"), "\n")
f:close()

-- ---- the other parties ----

local load_out = WORK .. "/load-" .. N .. ".json"
local port = assert(BOT:match(":(%d+)$"))
local t0 = mono()
local p = assert(testkit.spawn({ env("BENCH_LOAD"), "--port", port, "--calls", tostring(N), "--paths", paths_file,
  "--clips", env("BENCH_CLIPS"), "--encoding", env("BENCH_ENCODING", "mulaw"), "--rate", env("BENCH_RATE", "8000"),
  "--ramp", env("BENCH_RAMP_SECONDS", "10"), "--max-seconds", env("BENCH_MAX_SECONDS", "300"), "--pid", BOT_PID,
  "--trace", env("BENCH_TRACE", "0") },
  { stdout = load_out, stderr = WORK .. "/load-" .. N .. ".err" }))
local code = testkit.wait(p)
local ef = io.open(WORK .. "/load-" .. N .. ".err")
local load_err = ef and ef:read("*a") or ""
if ef then ef:close() end
if load_err ~= "" then io.stderr:write(load_err:sub(1, 4000)) end
local lf = assert(io.open(load_out))
local load_text = lf:read("*a")
lf:close()
if code ~= 0 or load_text == "" then error("bench_voice_load failed (" .. tostring(code) .. "); see " .. WORK, 0) end
local load = cjson.decode(load_text)
say("the parties' run took %.0f s", mono() - t0)

-- ---- the bot's figures ----

local stats = assert(http_get(BOT .. "/stats"))
local out = {
  n = N, run_tag = run_tag, starts = statuses, load = load, voice_ms = stats.voice_ms,
  voice_pacing = stats.voice_pacing, tick = stats.tick, writer = stats.writer, rss_kib = stats.rss_kib,
}
local fo = assert(io.open(RESULT, "w"))
fo:write(cjson.encode(out), "\n")
fo:close()

local function stage(name)
  local s = stats.voice_ms and stats.voice_ms[name]
  if not s or not s.count or s.count == 0 then return name .. " -" end
  return ("%s p50 %.1f p99 %.1f max %.1f (n %d)"):format(name, s.p50, s.p99, s.max, s.count)
end
local L, B = load, load.bot or {}
-- counts[k] holds k - 1 to k ms: the sum from bucket k on
local function sum_from(counts, k)
  local n = 0
  for i = k, #(counts or {}) do n = n + counts[i] end
  return n
end
say("calls: %d ready of %d, %d turns answered; %d closed by the bot, %d hung up by the party, %d otherwise, %d open at the deadline",
  L.ready, L.calls, L.turns, L.closed_by_bot_1000, L.party_hung_up, L.closed_otherwise, L.still_open_at_deadline)
say("delivery as the parties received it (a pause over 50 ms starts a new spurt): late p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms over %d frames; %d later than 20 ms",
  L.pacing_late_ms.p50, L.pacing_late_ms.p99, L.pacing_late_ms.p999, L.pacing_late_ms.max, L.pacing_late_ms.n, L.late_frames)
if stats.voice_pacing then
  local vp = stats.voice_pacing
  say("pacing in the bot: %d frames sent, %d 5 ms or more late, %d 20 ms or more, late p50 %s p99 %s p99.9 %s max %s ms",
    vp.frames or 0, vp.late or 0, sum_from(vp.late_ms_counts, 21), tostring(vp.p50_ms), tostring(vp.p99_ms),
    tostring(vp.p999_ms), tostring(vp.max_ms))
end
if stats.tick then
  local t, sl, r = stats.tick, stats.tick.start_late, stats.tick.run
  say("the bot's tick: %d ran, %d missed; began late p50 %s p99 %s max %s ms (%d 5 ms or more); ran p50 %s p99 %s max %s ms",
    t.ticks, t.missed, tostring(sl.p50_ms), tostring(sl.p99_ms), tostring(sl.max_ms), sum_from(sl.counts, 6),
    tostring(r.p50_ms), tostring(r.p99_ms), tostring(r.max_ms))
end
say("first words (audio.ready to the greeting's first frame): p50 %.0f p90 %.0f p99 %.0f max %.0f ms",
  L.first_words_ms.p50, L.first_words_ms.p90, L.first_words_ms.p99, L.first_words_ms.max)
say("the answer as the party hears it (end of its line to the agent's first frame): p50 %d p90 %d p99 %d ms",
  L.answer_ms.p50, L.answer_ms.p90, L.answer_ms.p99)
say("bot stages (ms): %s; %s", stage("recognizer"), stage("endpointing"))
say("  %s; %s (the offline rules engine: both are the bot's own time); together: %s",
  stage("model"), stage("platform"), stage("respond"))
say("  %s; %s", stage("synthesizer"), stage("outbound"))
say("bot: %.1f CPU s over %.0f call-seconds = %.2f %% of a core per call; RSS %d -> peak %d KiB (%d KiB per call at %d open); %d threads",
  B.cpu_s or 0, L.call_seconds, B.cpu_per_call_pct or 0, B.rss_idle_kib or 0, B.rss_peak_kib or 0,
  B.rss_per_call_kib or 0, L.open_max, B.threads_peak or 0)
os.exit(0)

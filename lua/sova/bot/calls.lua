-- sova.bot.calls: the calls a bot is running. A call is created from a verified call start,
-- loads its flow into a sandbox, and runs its turns as coroutines; what it says and decides goes
-- to the connected browser and, through the durable writer, to the database.
local core = require("sova.core")
local bson, loop = core.bson, core.loop
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local schema = require("sova.sandboxed.schema")
local engine = require("sova.call.engine")
local sandbox_host = require("sova.call.sandbox_host")
local llm = require("sova.llm")
local voice = require("sova.bot.voice")

local M = {}

-- Provider requests in the bot go through the event loop: the call's coroutine yields until the
-- answer arrives (and while it waits between retries), so a slow provider holds up no other call.
-- A request with on_data streams (core.http.stream's shape): each piece of a 2xx body is handed to
-- on_data as the media thread reads it; once on_data returns false the rest is read and dropped,
-- and the answer says stopped.
local LOOP_IO = {
  transport = function(req)
    local id, err = loop.fetch { method = req.method, url = req.url, headers = req.headers, body = req.body,
      timeout_ms = req.timeout_ms, stream = req.on_data ~= nil }
    if not id then return nil, err end
    local stopped = false
    while true do
      local ev = coroutine.yield({ fetch = id })
      if ev.kind ~= "fetch_data" then
        if ev.error then return nil, ev.error end
        return { status = ev.status, body = ev.body, headers = {}, stopped = stopped or nil }
      end
      if not stopped and req.on_data(ev.body) == false then stopped = true end
    end
  end,
  sleep = function(seconds) coroutine.yield({ sleep = seconds }) end,
}

local records = {}   -- session_id -> record
local sockets = {}   -- websocket id -> record
local waiting = {}   -- fetch id -> {co, rec}
local sleepers = {}  -- {at = monotonic time, co, rec}
local n_records = 0
local seen = {}      -- session_id -> monotonic time until which a repeated start is refused

M.NO_ANSWER_AFTER = tonumber(config.env("SOVA_CALL_NO_ANSWER_SECONDS", "")) or 600
M.MAX_CALL_SECONDS = tonumber(config.env("SOVA_CALL_MAX_SECONDS", "")) or 3600
-- A browser test call whose last live socket closed and did not come back within this many
-- seconds ends as hung up by the other party (a reload or a dropped connection may rejoin).
M.LEFT_GRACE_SECONDS = tonumber(config.env("SOVA_CALL_LEFT_GRACE_SECONDS", "")) or 20
-- Silence before the agent checks on the other party ("Are you still there?"), then ends the
-- call, unless the flow says otherwise. 30 s suits text test calls: people type.
M.SILENCE_SECONDS = tonumber(config.env("SOVA_CALL_SILENCE_SECONDS", "")) or 30

-- Who ended a call, as sessions record it: the other party (hung up, left), the agent (the flow
-- ended or transferred it), or the platform (no answer in time, the time limit, a failure, a stop).
local ENDED_BY = { other_party = true, agent = true, platform = true }

local vocabulary = require("sova.sandboxed.vocabulary")
local TERMINAL = vocabulary.TERMINAL_STATUSES

function M.count() return n_records end

-- bytes held by the sandboxes of the running calls
function M.sandbox_bytes()
  local total = 0
  for _, rec in pairs(records) do if rec.host then total = total + rec.host:memory() end end
  return total
end
function M.get(id) return records[id] end

-- ---- persistence (never blocks the loop: the writer thread does the I/O) ----

local function write(op)
  local ok, err = core.writer.push(op)
  if not ok then log.error("bot.write", { collection = op.collection, reason = tostring(err) }) end
end

local function session_update(rec, update)
  update["$set"] = update["$set"] or {}
  update["$set"].updated_at = bson.now()
  write({ collection = "sessions", kind = "update",
    filter = { _id = rec.oid, organization_id = rec.org_oid }, update = update })
end

-- ---- talking to the browser ----

local function broadcast(rec, msg)
  if next(rec.sockets) == nil then return end -- no browser (a replayed call): nothing to encode
  local text = json.encode(msg)
  for ws in pairs(rec.sockets) do loop.ws_send(ws, text) end
end

local function finish(rec)
  if rec.finished then return end
  rec.finished = true
  local c = rec.call
  local now = bson.now()
  -- outcome fields came out of tenant code: validated again here, by the trusted validator
  local outcome, rejected = {}, {}
  for key, value in pairs(c.outcome or {}) do
    local def = rec.fields_by_key[key]
    local ok, why
    if def and rec.writes[key] then ok, why = schema.check_field_value(def, value) else why = "not a declared outcome field" end
    if ok ~= nil then outcome[key] = ok else rejected[#rejected + 1] = { field = key, reason = why } end
  end
  local status = TERMINAL[c.status] and c.status or "failed"
  rec.status = status
  local set = {
    status = status, ended_at = now, outcome = outcome,
    duration_seconds = math.floor(core.sys.monotonic() - rec.started_mono + 0.5),
    ["transcript.summary"] = c.summary or json.null,
  }
  if c.reason then set.reason = c.reason end
  if type(c.missing) == "table" and #c.missing > 0 then set.missing = c.missing end
  set.ended_by = rec.ended_by or (status == "failed" and "platform" or "agent")
  assert(ENDED_BY[set.ended_by], "ended_by")
  if #rejected > 0 then set.rejected_outcome = rejected end
  session_update(rec, { ["$set"] = set })
  local pset = { call_status = vocabulary.call_status_label(status), last_call_at = now, last_session_id = rec.session_id, updated_at = now }
  for k, v in pairs(outcome) do pset[k] = v end
  write({ collection = "patients", kind = "update",
    filter = { _id = rec.patient_oid, organization_id = rec.org_oid }, update = { ["$set"] = pset } })
  if rec.last_status ~= status then broadcast(rec, { type = "status", status = status }) end
  voice.close(rec) -- the media thread finishes the recording; the writer stores it
  for ws in pairs(rec.sockets) do loop.ws_close(ws) end
  if rec.host then rec.host:close() end
  records[rec.session_id] = nil
  n_records = n_records - 1
  log.info("call.ended", { session = rec.session_id, org = rec.org_slug, workflow = rec.workflow, status = status })
end

local function on_event(rec, ev)
  if ev.type == "transcript" then
    if ev.role == "user" then rec.turn = rec.turn + 1 end -- each line of the other party opens a turn
    broadcast(rec, { type = "transcript", role = ev.role, text = ev.text, turn = rec.turn,
      final = voice.active(rec) and ev.role == "user" or nil })
    session_update(rec, { ["$push"] = { ["transcript.messages"] = {
      role = ev.role, content = ev.text, timestamp = bson.now() } } })
    rec.n_messages = rec.n_messages + 1
    if ev.role == "assistant" then voice.say(rec, ev.text, rec.n_messages - 1) end
  elseif ev.type == "status" then
    rec.last_status = ev.status
    broadcast(rec, { type = "status", status = ev.status })
  else
    -- transfers, DTMF, notes, failures: recorded as session events, names and codes only
    local copy = { type = ev.type, timestamp = bson.now() }
    for k, v in pairs(ev) do if k ~= "type" and type(v) ~= "table" then copy[k] = v end end
    session_update(rec, { ["$push"] = { events = copy } })
    broadcast(rec, { type = "event", event = ev.type, to = ev.to, digits = ev.digits })
  end
end

-- ---- turns as coroutines ----

local run_next

-- the shortest silence timer: a hold budget checked a moment early is checked again, not in a spin
M.MIN_SILENCE_WAIT = 0.2

-- The bot's own time per turn (provider waits excluded: they happen between resumes), for /stats.
local stats = require("sova.bot.stats")

local function arm_silence(rec)
  local after = rec.call:silence_after()
  rec.silence_at = after and core.sys.monotonic() + math.max(after, M.MIN_SILENCE_WAIT) or nil
end

local function resume(rec, co, ...)
  local t0 = core.sys.monotonic()
  local ok, want = coroutine.resume(co, ...)
  rec.turn_time = (rec.turn_time or 0) + (core.sys.monotonic() - t0)
  -- a line cut off while it streamed is trimmed once the engine holds it
  voice.settle(rec, not ok or coroutine.status(co) == "dead")
  if not ok then
    log.error("call.turn", { session = rec.session_id, reason = tostring(want) })
    rec.call.status, rec.call.reason = "failed", "internal error in the call runtime"
  elseif coroutine.status(co) == "suspended" then
    if type(want) == "table" and want.fetch then
      waiting[want.fetch] = { co = co, rec = rec } -- a provider request under way
    else
      sleepers[#sleepers + 1] = { at = core.sys.monotonic() + (type(want) == "table" and tonumber(want.sleep) or 0),
        co = co, rec = rec }
    end
    return
  end
  stats.turn(rec.turn_time * 1000)
  rec.turn_time = 0
  rec.busy = false
  if TERMINAL[rec.call.status] then
    finish(rec)
    return
  end
  run_next(rec)
  -- nothing left to do and the call goes on: the agent has finished this turn, the other party may
  -- talk (said once per turn; lines sent ahead are answered first). From now the silence timer runs
  -- (in a voice call, from when the agent's audio has finished playing).
  if not rec.busy and not rec.finished and #rec.queue == 0 and rec.call.status == "in_progress" then
    if voice.active(rec) then
      voice.turn_done(rec)
    else
      arm_silence(rec)
    end
    if rec.announced ~= rec.turn then
      rec.announced = rec.turn
      broadcast(rec, { type = "turn", expecting = "other_party", turn = rec.turn })
    end
  end
end

-- Runs the next queued action of the call, unless a turn is under way.
run_next = function(rec)
  if rec.busy or rec.finished then return end
  local action = table.remove(rec.queue, 1)
  if not action then return end
  rec.busy = true
  resume(rec, coroutine.create(action))
end

local function enqueue(rec, fn)
  rec.queue[#rec.queue + 1] = fn
  run_next(rec)
end

function M.fetched(ev)
  local w = waiting[ev.id]
  if not w then return end
  waiting[ev.id] = nil
  resume(w.rec, w.co, ev)
end

-- ---- starting ----

local SLUG = "^[a-z][a-z0-9_]*$"

-- start(payload) -> record | nil, err, status
function M.start(p)
  if type(p.session_id) ~= "string" or not bson.oid(p.session_id) then return nil, "session_id must be an ObjectId" end
  local now_m = core.sys.monotonic()
  if records[p.session_id] or (seen[p.session_id] or 0) > now_m then
    return nil, "this call was already started", 409
  end
  local org, patient = p.organization, p.patient
  if type(org) ~= "table" or type(org.slug) ~= "string" or not org.slug:match(SLUG) or not bson.oid(tostring(org.id)) then
    return nil, "organization {id, slug} required"
  end
  if type(p.workflow) ~= "string" or not p.workflow:match(SLUG) then return nil, "workflow required" end
  if type(patient) ~= "table" or not bson.oid(tostring(p.patient_id)) then return nil, "patient and patient_id required" end
  if type(p.fields) ~= "table" then return nil, "fields (the workflow's patient_schema) required" end
  -- replay: the other party's lines come with the start (recorded calls, load tests); not offered by the API
  if p.mode == "replay" then
    if type(p.script) ~= "table" or #p.script > 500 then return nil, "replay needs script: a list of lines" end
    for _, l in ipairs(p.script) do
      if type(l) ~= "string" or #l > 4000 then return nil, "script lines must be strings" end
    end
  elseif p.mode ~= "browser" and p.mode ~= "browser_voice" then
    return nil, "only browser test calls are available: telephony is not configured", 422
  end
  -- a signed start stays valid for callsign.MAX_SKEW seconds: refuse it twice for longer than that
  for id, t in pairs(seen) do if t < now_m then seen[id] = nil end end
  seen[p.session_id] = now_m + 2 * require("sova.callsign").MAX_SKEW

  local rel = "clients/" .. org.slug .. "/" .. p.workflow
  local dir = config.root_dir() .. "/" .. rel
  local rec = {
    session_id = p.session_id, oid = bson.oid(p.session_id), org_id = org.id, org_oid = bson.oid(org.id),
    org_slug = org.slug, workflow = p.workflow, patient_oid = bson.oid(p.patient_id),
    sockets = {}, queue = {}, started_mono = core.sys.monotonic(), fields_by_key = {}, writes = {},
    status = "in_progress", mode = p.mode, flow_dir = dir, n_messages = 0,
    turn = 1, -- the greeting is turn 1; each line of the other party opens the next (live messages carry it)
  }
  for _, f in ipairs(p.fields) do if type(f) == "table" and f.key then rec.fields_by_key[f.key] = f end end
  records[rec.session_id] = rec
  n_records = n_records + 1

  local host, herr = sandbox_host.new(dir)
  local set = { status = "in_progress", started_at = bson.now(), flow = { path = rel, sha256 = host and host.sha256 or json.null } }
  session_update(rec, { ["$set"] = set })
  write({ collection = "patients", kind = "update", filter = { _id = rec.patient_oid, organization_id = rec.org_oid },
    update = { ["$set"] = { call_status = vocabulary.call_status_label("in_progress"), updated_at = bson.now() } } })
  if not host then
    rec.call = { status = "failed", reason = "the flow could not be loaded: " .. tostring(herr and herr.message),
      outcome = {} }
    on_event(rec, { type = "failure", reason = rec.call.reason, source = herr and herr.source, line = herr and herr.line })
    finish(rec)
    return rec
  end
  rec.host = host
  local adapter, note = llm.for_flow(dir, LOOP_IO)
  if note then on_event(rec, { type = "note", text = note }) end
  rec.call = engine.new {
    host = host, llm = voice.model(rec, adapter), patient = patient, fields = p.fields,
    silence_seconds = M.SILENCE_SECONDS,
    on_event = function(ev) on_event(rec, ev) end,
    on_text = function(piece) voice.stream(rec, piece) end,
  }
  -- the fields the flow declares it writes, from the description the engine took (one crossing)
  for k in pairs(rec.call.writes) do rec.writes[k] = true end
  rec.deadline = core.sys.monotonic() + M.MAX_CALL_SECONDS
  rec.answer_by = core.sys.monotonic() + M.NO_ANSWER_AFTER
  log.info("call.started", { session = rec.session_id, org = org.slug, workflow = p.workflow, flow = rel })
  if rec.call.load_error or p.mode == "replay" then
    -- replayed calls start now; so does one whose flow the platform cannot read, to fail at
    -- once rather than wait for a socket that would change nothing
    rec.answered = true
    enqueue(rec, function() rec.call:start() end)
  end
  if p.mode == "replay" then
    for _, line in ipairs(p.script) do
      enqueue(rec, function() if not TERMINAL[rec.call.status] then rec.call:user_says(line) end end)
    end
    enqueue(rec, function() if not TERMINAL[rec.call.status] then rec.call:hangup() end end)
  end
  return rec
end

-- ---- the other party, over the WebSocket ----

local function answer(rec)
  if rec.answered then return end
  rec.answered = true
  enqueue(rec, function() rec.call:start() end)
end

function M.attach(rec, ws)
  rec.sockets[ws] = true
  rec.left_at = nil -- rejoined within the grace period
  sockets[ws] = rec
  loop.ws_send(ws, json.encode({ type = "status", status = rec.call.status }))
  if rec.announced == rec.turn then -- a browser rejoining while it is the other party's turn
    loop.ws_send(ws, json.encode({ type = "turn", expecting = "other_party", turn = rec.turn }))
  end
  -- a voice call is answered when its audio starts (or a line is typed), so the greeting is heard
  if not rec.answered and rec.mode ~= "browser_voice" then answer(rec) end
end

function M.detach(ws)
  local rec = sockets[ws]
  sockets[ws] = nil
  if not rec then return end
  rec.sockets[ws] = nil
  if rec.answered and not rec.finished and next(rec.sockets) == nil then rec.left_at = core.sys.monotonic() end
end

M.MAX_QUEUED_TURNS = 16 -- lines waiting for their turn; beyond it a flood is refused, not run

function M.from_socket(ws, msg)
  local rec = sockets[ws]
  if not rec then return end
  if #rec.queue >= M.MAX_QUEUED_TURNS then
    loop.ws_send(ws, json.encode({ type = "error", message = "too many lines at once: wait for the agent's answer" }))
    return
  end
  if msg.type == "say" and type(msg.text) == "string" and msg.text ~= "" and #msg.text <= 4000 then
    rec.silence_at = nil -- the other party spoke: its turn's timer stops
    answer(rec)
    enqueue(rec, function() rec.call:user_says(msg.text) end)
  elseif msg.type == "audio.start" then
    -- a browser_voice call starts with audio; a text test call may switch to it
    local ok, why = voice.open(rec, ws, msg)
    if not ok then
      loop.ws_send(ws, json.encode({ type = "error", message = "no audio: " .. tostring(why) }))
      return
    end
    answer(rec)
  elseif msg.type == "dtmf" then
    if type(msg.digits) ~= "string" or not msg.digits:match("^[0-9*#A-D]+$") or #msg.digits > 32 then
      loop.ws_send(ws, json.encode({ type = "error", message = "dtmf digits are 0-9, *, #, A-D (at most 32)" }))
      return
    end
    rec.silence_at = nil
    on_event(rec, { type = "dtmf_received", digits = msg.digits })
    enqueue(rec, function() rec.call:user_says(msg.digits) end)
  elseif msg.type == "mute" then
    on_event(rec, { type = "note", text = msg.muted and "the other party muted its microphone" or "the other party unmuted" })
  elseif msg.type == "hangup" then
    rec.silence_at = nil
    rec.ended_by = "other_party"
    enqueue(rec, function() rec.call:hangup() end)
  else
    loop.ws_send(ws, json.encode({ type = "error",
      message = "expected {type: say, text}, {type: hangup}, {type: audio.start, ...}, {type: dtmf, digits} or {type: mute}" }))
  end
end

-- ---- what the voice module may do to a call (sova.bot.voice) ----

voice.bind {
  broadcast = broadcast,
  session_update = session_update,
  write = write,
  note = function(rec, text) on_event(rec, { type = "note", text = text }) end,
  event = function(rec, ev) on_event(rec, ev) end,
  hear = function(rec, text)
    if rec.finished or #rec.queue >= M.MAX_QUEUED_TURNS then return end
    rec.silence_at = nil
    enqueue(rec, function() if not TERMINAL[rec.call.status] then rec.call:user_says(text) end end)
  end,
  agent_done = function(rec)
    if not rec.finished and not rec.busy and #rec.queue == 0 and rec.call.status == "in_progress" then arm_silence(rec) end
  end,
  end_call = function(rec, status, reason)
    if rec.finished then return end
    rec.call.status, rec.call.reason, rec.ended_by = status, reason, "platform"
    if not rec.busy then finish(rec) end -- else when the running turn returns
  end,
}

M.voice_event = voice.event

-- ---- time ----

function M.next_timeout()
  if #sleepers > 0 then return 20 end
  if n_records == 0 then return 1000 end
  return 250
end

function M.tick()
  local now = core.sys.monotonic()
  local due = {}
  for i = #sleepers, 1, -1 do
    if sleepers[i].at <= now then due[#due + 1] = table.remove(sleepers, i) end
  end
  for _, s in ipairs(due) do resume(s.rec, s.co) end
  for _, rec in pairs(records) do
    if not rec.finished and not rec.busy then
      if not rec.answered and now > rec.answer_by then
        rec.call.status, rec.ended_by = "no_answer", "platform"
        finish(rec)
      elseif now > rec.deadline then
        rec.call.status, rec.call.reason, rec.ended_by = "failed", "the call ran past its time limit", "platform"
        finish(rec)
      elseif rec.left_at and now > rec.left_at + M.LEFT_GRACE_SECONDS then
        rec.left_at, rec.ended_by, rec.silence_at = nil, "other_party", nil
        local why = ("the other party left: the live connection closed and did not come back within %d s")
          :format(M.LEFT_GRACE_SECONDS)
        enqueue(rec, function() if not TERMINAL[rec.call.status] then rec.call:hangup(why) end end)
      elseif rec.silence_at and now >= rec.silence_at and #rec.queue == 0 then
        -- the other party said nothing for the engine's silence time (re-armed when this turn ends)
        rec.silence_at = nil
        enqueue(rec, function() if not TERMINAL[rec.call.status] then rec.call:silence() end end)
      end
    end
  end
end

function M.stop_all(reason)
  for _, rec in pairs(records) do
    if not rec.finished then
      if not TERMINAL[rec.call.status] then rec.call.status, rec.call.reason, rec.ended_by = "failed", reason, "platform" end
      finish(rec)
    end
  end
end

return M

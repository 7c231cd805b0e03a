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
local phone = require("sova.bot.phone")
local listen = require("sova.bot.listen")
local patient_search = require("sova.patient_search")
local patient_counts = require("sova.patient_counts")
-- the clinic's webhooks hear of each call's end and outcome (events through the writer)
local webhooks = require("sova.webhooks")
-- the bot's own time per turn (provider waits excluded: they happen between resumes) and per
-- call start and end, for /stats
local stats = require("sova.bot.stats")
local metrics = require("sova.metrics")

local M = {}

-- Provider requests in the bot go through the event loop: the call's coroutine yields until the
-- answer arrives (and while it waits between retries), so a slow provider holds up no other call.
-- A request with on_data streams (core.http.stream's shape): each piece of a 2xx body is handed to
-- on_data as the media thread reads it; once on_data returns false the rest is read and dropped,
-- and the answer says stopped.
-- Each request counts for its provider's host (metrics): its outcome, and the time to its answer.
local function provider_done(host, t0, outcome)
  metrics.inc("sova_provider_requests_total", { host = host, outcome = outcome })
  metrics.observe("sova_provider_latency_seconds", { host = host }, core.sys.monotonic() - t0)
end

local LOOP_IO = {
  transport = function(req)
    local host = tostring(req.url):match("^%a+://([^/:?#]+)") or "unknown"
    local t0 = core.sys.monotonic()
    local id, err = loop.fetch { method = req.method, url = req.url, headers = req.headers, body = req.body,
      timeout_ms = req.timeout_ms, stream = req.on_data ~= nil }
    if not id then provider_done(host, t0, "transport_error"); return nil, err end
    local stopped = false
    while true do
      local ev = coroutine.yield({ fetch = id })
      if ev.kind ~= "fetch_data" then
        if ev.error then provider_done(host, t0, "transport_error"); return nil, ev.error end
        provider_done(host, t0, ev.status and ev.status >= 200 and ev.status < 300 and "ok" or "http_error")
        return { status = ev.status, body = ev.body, headers = {}, stopped = stopped or nil }
      end
      if not stopped and req.on_data(ev.body) == false then stopped = true end
    end
  end,
  sleep = function(seconds) coroutine.yield({ sleep = seconds }) end,
}

local records = {}   -- session_id -> record
local sockets = {}   -- websocket id -> record (a browser: the other party, or a phone call's watcher)
local streams = {}   -- websocket id -> record (a phone call's Media Streams socket)
local waiting = {}   -- fetch id -> {co, rec}
local sleepers = {}  -- {at = monotonic time, co, rec}
local n_records = 0
local seen = {}      -- session_id -> monotonic time until which a repeated start is refused

-- this bot, in the registry (sova.bots) and in the sessions it carries
M.BOT_ID = config.env("SOVA_BOT_ID", "bot-" .. core.crypto.random_hex(8))
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

local function push(op)
  local ok, err = core.writer.push(op)
  if not ok then log.error("bot.write", { collection = op.collection, reason = tostring(err) }) end
end

-- A turn's session updates are written as few updates as they can be, at the end of its resume
-- (the writer applies, and the database guards, each operation on its own): consecutive $set and
-- $push updates are merged unless their paths overlap ($push values in order, as $each); any other
-- write meanwhile sends them first, so the writer still applies everything in the order it was made.
local batching -- the record whose resume is collecting its session updates (rec.batch), or nil

local MERGED = { ["$set"] = true, ["$push"] = true }

-- an update that goes on its own: another operator, or a $push with modifiers
local function alone(update)
  for operator, fields in pairs(update) do
    if not MERGED[operator] then return true end
    if operator == "$push" then
      for _, v in pairs(fields) do if type(v) == "table" and v["$each"] ~= nil then return true end end
    end
  end
  return false
end

-- whether update may join the merged one whose paths (path -> operator) are given: no path of
-- one inside a path of the other, none under two operators (a $set of the same path: the later
-- wins, as it would applied second; a $push to the same array: appended after)
local function fits(paths, update)
  for operator, fields in pairs(update) do
    for k in pairs(fields) do
      for p, op in pairs(paths) do
        if p == k then
          if op ~= operator then return false end
        elseif p:sub(1, #k + 1) == k .. "." or k:sub(1, #p + 1) == p .. "." then
          return false
        end
      end
    end
  end
  return true
end

local function session_write(rec, update)
  update["$set"] = update["$set"] or {}
  update["$set"].updated_at = bson.now()
  push({ collection = "sessions", kind = "update",
    filter = { _id = rec.oid, organization_id = rec.org_oid }, update = update })
end

-- Writes the batch's updates (merged where they can be) and empties it.
local function flush_session(rec)
  local batch = rec.batch
  if not batch or #batch == 0 then return end
  rec.batch = {}
  local set, pushes, paths
  local function send()
    if not set then return end
    local update = { ["$set"] = set }
    for k, values in pairs(pushes) do
      update["$push"] = update["$push"] or {}
      update["$push"][k] = #values == 1 and values[1] or { ["$each"] = setmetatable(values, bson.array_mt) }
    end
    session_write(rec, update)
    set = nil
  end
  for _, update in ipairs(batch) do
    if alone(update) then
      send()
      session_write(rec, update)
    else
      if set and not fits(paths, update) then send() end
      if not set then set, pushes, paths = {}, {}, {} end
      for k, v in pairs(update["$set"] or {}) do set[k], paths[k] = v, "$set" end
      for k, v in pairs(update["$push"] or {}) do
        local values = pushes[k] or {}
        values[#values + 1] = v
        pushes[k], paths[k] = values, "$push"
      end
    end
  end
  send()
end

local function begin_batch(rec)
  if batching and batching ~= rec then
    flush_session(batching)
    batching.batch = nil
  end
  batching, rec.batch = rec, rec.batch or {}
end

local function end_batch(rec)
  flush_session(rec)
  rec.batch = nil
  if batching == rec then batching = nil end
end

local function session_update(rec, update)
  if rec.batch then rec.batch[#rec.batch + 1] = update else session_write(rec, update) end
end

-- any other write: the session updates collected so far go first
local function write(op)
  if batching then flush_session(batching) end
  push(op)
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
  local c0 = not rec.starting and stats.cpu() -- a start that fails counts as its start's
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
  listen.ended(rec) -- who listened until the end, before the session's last write
  session_update(rec, { ["$set"] = set })
  local pset = { call_status = vocabulary.call_status_label(status), last_call_at = now, last_session_id = rec.session_id,
    updated_at = now }
  local written = {}
  for k, v in pairs(outcome) do pset[k], written[#written + 1] = v, rec.fields_by_key[k] end
  write({ collection = "patients", kind = "update",
    filter = { _id = rec.patient_oid, organization_id = rec.org_oid }, update = { ["$set"] = pset } })
  -- what the call learned can be searched for: its terms join the patient's (sova.patient_search)
  local terms = patient_search.terms(written, outcome)
  if #terms > 0 then
    write({ collection = patient_search.COLLECTION, kind = "update",
      filter = { _id = rec.patient_oid, organization_id = rec.org_oid },
      update = { ["$addToSet"] = { terms = { ["$each"] = core.bson.array(terms) } } } })
  end
  write({ collection = patient_counts.RECOUNT, kind = "insert", doc = patient_counts.marker(rec.org_oid, rec.workflow, rec.patient_oid) })
  -- the clinic's webhooks (sova.webhooks): events the writer inserts like any other write, keyed
  -- by the session so a replayed spool records each once
  local ids = { session_id = rec.session_id, patient_id = rec.patient_oid, workflow = rec.workflow,
    campaign_id = rec.campaign_id }
  local ended = { status = status, reason = c.reason, ended_by = set.ended_by, duration_seconds = set.duration_seconds,
    mode = rec.mode, ended_at = now }
  for k, v in pairs(ids) do ended[k] = v end
  write({ collection = webhooks.EVENTS_COLL, kind = "insert",
    doc = webhooks.event(rec.org_oid, "call.ended", ended, "call.ended:" .. rec.session_id) })
  if next(outcome) then
    local o = { fields = outcome, status = status, written_at = now }
    for k, v in pairs(ids) do o[k] = v end
    write({ collection = webhooks.EVENTS_COLL, kind = "insert",
      doc = webhooks.event(rec.org_oid, "outcome.written", o, "outcome.written:" .. rec.session_id) })
  end
  if rec.last_status ~= status then broadcast(rec, { type = "status", status = status }) end
  -- the media thread finishes the recording; the writer stores it. A phone line closes once the
  -- agent's last words were heard.
  if rec.phone then phone.ended(rec) else voice.close(rec) end
  for ws in pairs(rec.sockets) do loop.ws_close(ws) end
  if rec.host then rec.host:close() end
  records[rec.session_id] = nil
  n_records = n_records - 1
  log.info("call.ended", { session = rec.session_id, org = rec.org_slug, workflow = rec.workflow, status = status })
  metrics.inc("sova_call_results_total", { mode = rec.mode, status = status, ended_by = set.ended_by })
  local cpu_ms = stats.cpu_ms_since(c0)
  if cpu_ms then stats.end_cpu(cpu_ms) end
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
    -- a node entered: the recognizer gets its phrases once the turn has run (one change however
    -- many nodes the turn passed through)
    if ev.type == "node" then rec.expect_due = true end
    if ev.type == "dtmf" and rec.phone then phone.press(rec, ev.digits) end
    if ev.type == "transfer" then
      if rec.phone then
        phone.transfer(rec, ev.to)
      elseif rec.call.transfer_result then
        -- no telephone line: the person is taken to have answered (text and browser test calls)
        M.after_turn(rec, function() rec.call:transfer_result("answered") end)
      end
    end
    -- transfers, DTMF, notes, failures: recorded as session events, names and codes only
    local copy = { type = ev.type, timestamp = bson.now() }
    for k, v in pairs(ev) do if k ~= "type" and type(v) ~= "table" then copy[k] = v end end
    session_update(rec, { ["$push"] = { events = copy } })
    -- by: the answering-machine verdict of a phone call's answered_by, for the page watching the line
    broadcast(rec, { type = "event", event = ev.type, to = ev.to, digits = ev.digits,
      by = ev.type == "answered_by" and ev.by or nil })
  end
end

-- ---- turns as coroutines ----

local run_next

-- the shortest silence timer: a hold budget checked a moment early is checked again, not in a spin
M.MIN_SILENCE_WAIT = 0.2


local function arm_silence(rec)
  local after = rec.call:silence_after()
  rec.silence_at = after and core.sys.monotonic() + math.max(after, M.MIN_SILENCE_WAIT) or nil
end

local function resume(rec, co, ...)
  local t0 = core.sys.monotonic()
  begin_batch(rec)
  local ok, want = coroutine.resume(co, ...)
  end_batch(rec)
  rec.turn_time = (rec.turn_time or 0) + (core.sys.monotonic() - t0)
  -- a line cut off while it streamed is trimmed once the engine holds it
  voice.settle(rec, not ok or coroutine.status(co) == "dead")
  if rec.expect_due then
    rec.expect_due = nil
    if rec.call.status == "in_progress" then
      voice.expect(rec)
      voice.hold(rec, rec.call:on_hold()) -- a hold node: recognition paused, a person watched for
    end
  end
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
      -- a turn that said nothing (listening first, keys pressed into a menu): no audio's end will
      -- start the timer, so it starts now
      if voice.idle(rec) then arm_silence(rec) end
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

-- after_turn(rec, fn): fn runs as the call's next action, unless the call has ended by then
function M.after_turn(rec, fn)
  enqueue(rec, function() if not TERMINAL[rec.call.status] then fn() end end)
end

function M.fetched(ev)
  if phone.fetched(ev) then return end
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
  elseif p.mode ~= "browser" and p.mode ~= "browser_voice" and p.mode ~= "phone" then
    return nil, "mode must be browser, browser_voice or phone", 422
  end
  -- a signed start stays valid for callsign.MAX_SKEW seconds: refuse it twice for longer than that
  for id, t in pairs(seen) do if t < now_m then seen[id] = nil end end
  seen[p.session_id] = now_m + 2 * require("sova.callsign").MAX_SKEW

  local rel = "clients/" .. org.slug .. "/" .. p.workflow
  local dir = config.root_dir() .. "/" .. rel
  local rec = {
    session_id = p.session_id, oid = bson.oid(p.session_id), org_id = org.id, org_oid = bson.oid(org.id),
    org_slug = org.slug, workflow = p.workflow, patient_oid = bson.oid(p.patient_id),
    campaign_id = type(p.campaign_id) == "string" and bson.oid(p.campaign_id) or nil,
    sockets = {}, listeners = {}, queue = {}, started_mono = core.sys.monotonic(), fields_by_key = {}, writes = {},
    status = "in_progress", mode = p.mode, flow_dir = dir, n_messages = 0, starting = true,
    turn = 1, -- the greeting is turn 1; each line of the other party opens the next (live messages carry it)
  }
  for _, f in ipairs(p.fields) do if type(f) == "table" and f.key then rec.fields_by_key[f.key] = f end end
  if p.mode == "phone" then
    -- the line is checked before anything is written: a call that cannot be placed changes nothing
    local ok, why = phone.setup(rec, p)
    if not ok then return nil, why, 422 end
    ok, why = voice.room(dir)
    if not ok then return nil, why, 503 end
  end
  records[rec.session_id] = rec
  n_records = n_records + 1
  metrics.inc("sova_calls_started_total", { mode = p.mode })

  local host, herr = sandbox_host.new(dir)
  local set = { status = "in_progress", started_at = bson.now(), bot_id = M.BOT_ID,
    flow = { path = rel, sha256 = host and host.sha256 or json.null } }
  session_update(rec, { ["$set"] = set })
  write({ collection = "patients", kind = "update", filter = { _id = rec.patient_oid, organization_id = rec.org_oid },
    update = { ["$set"] = { call_status = vocabulary.call_status_label("in_progress"), updated_at = bson.now() } } })
  write({ collection = patient_counts.RECOUNT, kind = "insert", doc = patient_counts.marker(rec.org_oid, rec.workflow, rec.patient_oid) })
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
  if rec.phone and not rec.call.load_error then
    -- Twilio ends a call it could not connect on its own (busy, no answer); this is the backstop
    rec.answer_by = core.sys.monotonic() + rec.phone.opts.ring_seconds + 60
    rec.deadline = core.sys.monotonic() + rec.phone.opts.max_call_seconds + 60
    phone.place(rec)
  end
  log.info("call.started", { session = rec.session_id, org = org.slug, workflow = p.workflow, flow = rel })
  -- from here the greeting's turn may run: its CPU time is a turn's, not the start's (/stats)
  rec.starting = nil
  local g0 = stats.cpu()
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
  rec.greeting_cpu_ms = stats.cpu_ms_since(g0)
  return rec
end

-- ---- the other party, over the WebSocket ----

-- A phone call's other party speaks first (a menu's prompt, "Prior authorization, this is Dana"):
-- a flow that listens first hears it, or a short silence, before it speaks. A test call starts
-- with the agent's greeting: the staff member playing the other party waits for it.
local function answer(rec)
  if rec.answered then return end
  rec.answered = true
  local opts = rec.phone and { listen_first = true } or nil
  enqueue(rec, function() rec.call:start(opts) end)
end

function M.attach(rec, ws)
  rec.sockets[ws] = true
  rec.left_at = nil -- rejoined within the grace period
  sockets[ws] = rec
  loop.ws_send(ws, json.encode({ type = "status", status = rec.call.status }))
  if rec.announced == rec.turn then -- a browser rejoining while it is the other party's turn
    loop.ws_send(ws, json.encode({ type = "turn", expecting = "other_party", turn = rec.turn }))
  end
  -- a voice call is answered when its audio starts (or a line is typed), so the greeting is heard;
  -- a phone call when the line is (the browser only watches it)
  if not rec.answered and rec.mode ~= "browser_voice" and not rec.phone then answer(rec) end
end

-- attach_phone(rec, ws): the call's Media Streams socket (the token in its path was checked)
function M.attach_phone(rec, ws)
  local ok, why = voice.attach_phone(rec, ws)
  if not ok then
    log.error("phone.attach", { session = rec.session_id, reason = tostring(why) })
    loop.ws_close(ws)
    return
  end
  streams[ws] = rec
end

function M.is_stream(ws) return streams[ws] ~= nil end

-- listen(rec, ws, user_id): a staff member's socket listens to the call (its token was checked)
function M.listen(rec, ws, user) listen.join(rec, ws, user) end

function M.is_listener(ws) return listen.is_listener(ws) end

function M.detach(ws)
  if listen.leave(ws) then return end
  local srec = streams[ws]
  if srec then
    streams[ws] = nil
    -- a stream that closed without its stop message: the line is gone the same way
    if srec.voice and srec.voice.ws == ws then
      srec.voice.ws = nil
      phone.stream_stopped(srec)
    end
    return
  end
  local rec = sockets[ws]
  sockets[ws] = nil
  if not rec then return end
  rec.sockets[ws] = nil
  if rec.answered and not rec.finished and not rec.phone and next(rec.sockets) == nil then
    rec.left_at = core.sys.monotonic()
  end
end

M.MAX_QUEUED_TURNS = 16 -- lines waiting for their turn; beyond it a flood is refused, not run

function M.from_socket(ws, msg)
  local rec = sockets[ws]
  if not rec then return end
  if rec.phone then
    loop.ws_send(ws, json.encode({ type = "error", message = "this is a phone call: the live page watches it" }))
    return
  end
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
  voice_opened = function(rec, id) listen.voice_opened(rec, id) end,
  session_update = session_update,
  write = write,
  note = function(rec, text) on_event(rec, { type = "note", text = text }) end,
  event = function(rec, ev) on_event(rec, ev) end,
  -- before_greeting: the words began before the phone's greeting went out
  hear = function(rec, text, before_greeting)
    if rec.finished or #rec.queue >= M.MAX_QUEUED_TURNS then return end
    -- a phone answered before its greeting (waiting for the answering-machine verdict): the
    -- "Hello?" is answered by the greeting itself, also when its words come after the greeting
    -- began (a recognizer's endpointing takes a second): it is no answer to the greeting's question
    if rec.phone and not rec.answered then return end
    rec.silence_at = nil
    enqueue(rec, function()
      if TERMINAL[rec.call.status] then return end
      if before_greeting and not rec.call.listening then return end -- a flow listening first hears it
      rec.call:user_says(text)
    end)
  end,
  agent_done = function(rec)
    if not rec.finished and not rec.busy and #rec.queue == 0 and rec.call.status == "in_progress" then arm_silence(rec) end
  end,
  end_call = function(rec, status, reason)
    if rec.finished then return end
    rec.call.status, rec.call.reason, rec.ended_by = status, reason, "platform"
    if not rec.busy then finish(rec) end -- else when the running turn returns
  end,
  stream_start = function(rec, e) return phone.stream_started(rec, e) end,
  stream_stop = function(rec) phone.stream_stopped(rec) end,
  played = function(rec) phone.played(rec) end,
  -- keys the other party pressed (an IVR's prompt hears none of ours): heard as a line
  keys = function(rec, digit)
    on_event(rec, { type = "dtmf_received", digits = digit })
    M.after_turn(rec, function() rec.call:user_says(digit) end)
  end,
}

-- ---- what listeners may do to a call (sova.bot.listen): be recorded, hear its voice ----

listen.bind {
  event = function(rec, ev) on_event(rec, ev) end,
  voice_id = function(rec) return voice.active(rec) and rec.voice.id or nil end,
}

-- ---- what the phone line may do to a call (sova.bot.phone) ----

phone.bind {
  event = function(rec, ev) on_event(rec, ev) end,
  session_update = session_update,
  open_voice = function(rec) return voice.open_phone(rec) end,
  close_voice = function(rec) voice.close(rec) end,
  speaking = function(rec) return voice.speaking(rec) end,
  finish_line = function(rec) return voice.finish_line(rec) end,
  -- the line ended before the call could be had (busy, no answer, failed) or by the platform
  end_call = function(rec, status, reason, ended_by)
    if rec.finished then return end
    if not TERMINAL[rec.call.status] then rec.call.status, rec.call.reason = status, reason end
    rec.ended_by = ended_by
    if not rec.busy then finish(rec) end
  end,
  other_party_left = function(rec, why)
    if rec.finished then return end
    rec.ended_by, rec.silence_at = "other_party", nil
    if not rec.answered then
      -- hung up before the agent spoke: nothing to say to anyone
      rec.call.status, rec.call.reason = "no_answer", why
      if not rec.busy then finish(rec) end
      return
    end
    M.after_turn(rec, function() rec.call:hangup(why) end)
  end,
  -- answered by whom the flow greets: its greeting goes out
  greet = function(rec)
    if rec.finished then return end
    voice.answered(rec)
    answer(rec)
  end,
  verdict = function(rec, by)
    if rec.finished then return end
    rec.answered = true
    voice.machine(rec)
    voice.answered(rec)
    if rec.call.machine then
      M.after_turn(rec, function() rec.call:machine(by) end)
    else
      rec.call.status, rec.call.reason = "voicemail", "an answering machine took the call"
      if not rec.busy then finish(rec) end
    end
  end,
  transfer_result = function(rec, status)
    if rec.call.transfer_result then M.after_turn(rec, function() rec.call:transfer_result(status) end) end
  end,
}

M.voice_event = voice.event

-- ---- time ----

function M.next_timeout()
  if #sleepers > 0 then return 20 end
  if n_records == 0 then return 1000 end
  return 250
end

-- The calls' own timers (seconds long: no answer, the time limit, a left browser, silence) are
-- looked at this often at most, not after every batch of events: that look visits every call.
M.TIMERS_EVERY = 0.05
local timers_at = 0

function M.tick()
  local now = core.sys.monotonic()
  if #sleepers > 0 then
    local due = {}
    for i = #sleepers, 1, -1 do
      if sleepers[i].at <= now then due[#due + 1] = table.remove(sleepers, i) end
    end
    for _, s in ipairs(due) do resume(s.rec, s.co) end
  end
  if now < timers_at + M.TIMERS_EVERY then return end
  timers_at = now
  phone.tick()
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

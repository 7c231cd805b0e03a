-- sova.bot.server: what `sova bot` runs in its one loop thread. Every call is a record here;
-- its flow runs in its own sandbox (sova.call.sandbox_host) driven by the call engine, and its
-- turns run as coroutines that yield while a provider answers, so one thread carries many calls.
-- The bot reads nothing from the database: the signed call start carries all the call needs.
local core = require("sova.core")
local bson, loop = core.bson, core.loop
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local callsign = require("sova.callsign")
local calls = require("sova.bot.calls")
local phone = require("sova.bot.phone")
local bots = require("sova.bots")
local stats = require("sova.bot.stats")
local recording = require("sova.recording")
local metrics = require("sova.metrics")

local M = {}

local secret
local stopping = false

-- ---- start-up ----

function M.prepare()
  local ok, err = core.db.open(config.mongodb_uri())
  if not ok then error(err, 0) end
  secret, err = callsign.secret()
  if not secret then error(err, 0) end
  local dir = config.data_dir()
  assert(core.sys.mkdir(dir))
  ok, err = core.writer.start { spool_dir = dir .. "/spool" }
  if not ok then error("session writer: " .. tostring(err), 0) end
  -- voice calls' recordings are sealed with SOVA_DATA_KEY as the writer stores them
  ok, err = recording.use_data_key()
  if not ok then error("recordings: " .. tostring(err), 0) end
  metrics.listen_if_asked()
  local port = tonumber(config.env("SOVA_BOT_PORT", "8081"))
  if not port or port < 0 or port > 65535 then error("SOVA_BOT_PORT must be a port number", 0) end
  return {
    host = config.env("SOVA_BOT_HOST", "127.0.0.1"),
    port = port,
    threads = tonumber(config.env("SOVA_BOT_THREADS", "64")) or 64,
  }
end

-- ---- HTTP ----

local function reply(id, status, body)
  loop.reply(id, status, body == nil and "" or json.encode(body))
end

local function fail(id, status, code, message)
  reply(id, status, { error = { code = code, message = message } })
end

local function start_call(ev)
  local t0, c0 = core.sys.monotonic(), stats.cpu()
  local h = ev.headers or {}
  local ok, why = callsign.verify(secret, h["x-sova-timestamp"], h["x-sova-signature"], ev.body)
  if not ok then return fail(ev.id, 401, "unauthorized", why) end
  local start = json.decode(ev.body)
  if type(start) ~= "table" then return fail(ev.id, 400, "bad_request", "the body must be a JSON object") end
  local rec, err, status = calls.start(start)
  if not rec then return fail(ev.id, status or 400, status == 503 and "at_capacity" or "bad_request", err) end
  reply(ev.id, 202, { session_id = rec.session_id, status = rec.status })
  stats.start((core.sys.monotonic() - t0) * 1000)
  local cpu_ms = stats.cpu_ms_since(c0)
  if cpu_ms then stats.start_cpu(cpu_ms - (rec.greeting_cpu_ms or 0)) end
end

-- ---- metrics: each request's route (its pattern: ids would make a series each), status and time ----

local answering = {} -- request id -> {route, t0} until its reply

local function route_of(path)
  local kind = path:match("^/twilio/(%l+)/%x+$")
  if kind then return "/twilio/" .. kind .. "/{session}" end
  if path == "/health" or path == "/stats" or path == "/metrics" or path == "/calls" then return path end
  return "unmatched"
end

-- every answer of this process goes through loop.reply (here, sova.bot.phone's webhooks): the
-- one place that sees its status
local raw_reply = loop.reply
loop.reply = function(id, status, ...)
  local a = answering[id]
  if a then
    answering[id] = nil
    metrics.http(a.route, status, core.sys.monotonic() - a.t0)
  end
  return raw_reply(id, status, ...)
end

local function forget_unanswered()
  local too_old = core.sys.monotonic() - 120 -- the loop answers or drops a request long before
  for id, a in pairs(answering) do if a.t0 < too_old then answering[id] = nil end end
end

local function refresh_gauges()
  metrics.set("sova_calls_live", nil, calls.count())
  metrics.writer(core.writer.stats())
end

local function on_http(ev)
  answering[ev.id] = { route = route_of(ev.path or ""), t0 = core.sys.monotonic() }
  if ev.path == "/metrics" then
    if ev.method ~= "GET" and ev.method ~= "HEAD" then return fail(ev.id, 405, "method_not_allowed", "GET /metrics") end
    refresh_gauges()
    local status, text, content_type = metrics.answer((ev.headers or {}).authorization, ev.remote_addr)
    return loop.reply(ev.id, status, text, content_type)
  end
  if ev.method == "GET" and ev.path == "/health" then
    return reply(ev.id, 200, { status = stopping and "stopping" or "ok", calls = calls.count() })
  end
  if ev.method == "GET" and ev.path == "/stats" then
    -- aggregate numbers only (no ids, no PHI): timings, memory, running calls
    return reply(ev.id, 200, stats.snapshot({ calls = calls.count(), sandbox_bytes = calls.sandbox_bytes(),
      writer = core.writer.stats(), voice_pacing = stats.pacing(loop.voice_pacing()),
      tick = stats.tick(loop.tick_stats()), stalled_sockets = loop.ws_stalled() }))
  end
  -- Twilio's callbacks: each checked against its signature (sova.bot.phone)
  if phone.webhook(ev) then return end
  if ev.path == "/calls" then
    if ev.method ~= "POST" then return fail(ev.id, 405, "method_not_allowed", "POST a signed call start") end
    if stopping then return fail(ev.id, 503, "stopping", "this bot is stopping") end
    return start_call(ev)
  end
  fail(ev.id, 404, "not_found", "no such endpoint")
end

-- ---- WebSocket: a staff member playing the other party of a browser test call (or watching a
-- phone call), a staff member listening to a call's audio, or a phone call's Media Streams socket ----

local function on_ws_open(ev)
  if ev.path:find("^/twilio/media/") then
    local rec = phone.media_socket(ev.path) -- the one-time token, spent
    if not rec then
      log.warn("phone.media_refused", { reason = "unknown, used or expired media token" })
      loop.ws_close(ev.id)
      return
    end
    return calls.attach_phone(rec, ev.id)
  end
  local token = (ev.query or ""):match("token=([%w%.]+)")
  local listen_id = ev.path:match("^/calls/(%x+)/listen$")
  if listen_id then
    -- a staff member listening to the call: a listen token (a live token is not one)
    local rec = calls.get(listen_id)
    local user = rec and callsign.check_listen_token(secret, token, listen_id, rec.org_id)
    if not user then
      loop.ws_send(ev.id, json.encode({ type = "error", message = "not authorized to listen to this call" }))
      loop.ws_close(ev.id)
      return
    end
    return calls.listen(rec, ev.id, user)
  end
  local session_id = ev.path:match("^/calls/(%x+)/live$")
  local rec = session_id and calls.get(session_id)
  if not rec or not callsign.check_live_token(secret, token, session_id, rec.org_id) then
    loop.ws_send(ev.id, json.encode({ type = "error", message = "not authorized for this call" }))
    loop.ws_close(ev.id)
    return
  end
  calls.attach(rec, ev.id)
end

local function on_ws_message(ev)
  if calls.is_stream(ev.id) then return end -- a phone stream's messages are the media thread's
  -- a listener is read-only: what it sends before the media thread takes its socket is dropped too
  if calls.is_listener(ev.id) then return end
  local msg = json.decode(ev.data)
  if type(msg) ~= "table" then
    loop.ws_send(ev.id, json.encode({ type = "error", message = "messages are JSON objects" }))
    return
  end
  calls.from_socket(ev.id, msg)
end

-- ---- the loop ----

-- this bot in the registry (sova.bots): where the API reaches it and where the world does
local me = {}

local function heartbeat()
  me.live_calls = calls.count()
  refresh_gauges() -- for the private listener, which reads the registry without asking this loop
  forget_unanswered()
  local ok, err = core.writer.push({ collection = bots.COLL, kind = "upsert", filter = { _id = calls.BOT_ID },
    update = { ["$set"] = bots.heartbeat(me) } })
  if not ok then log.warn("bot.heartbeat_failed", { reason = tostring(err) }) end
end

function M.run(port)
  -- voice calls' media on the loop's thread; their recordings wait in the writer's spool
  local ok, err = loop.voice_start(config.data_dir() .. "/spool")
  if not ok then error("voice: " .. tostring(err), 0) end
  phone.listening(port)
  local url = config.env("SOVA_BOT_ADVERTISE_URL", "http://127.0.0.1:" .. port):gsub("/+$", "")
  me = { url = url, public_url = config.env("SOVA_BOT_PUBLIC_URL", url), started_at = core.bson.now(),
    capacity = tonumber(config.env("SOVA_BOT_CAPACITY", "")) or 100 }
  heartbeat()
  local beat_at = core.sys.monotonic() + bots.HEARTBEAT_S
  log.info("bot.ready", { port = port, bot = calls.BOT_ID })
  local deadline
  while true do
    local events = loop.next_events(calls.next_timeout())
    for _, ev in ipairs(events) do
      local ok, err = pcall(function()
        if ev.kind == "http" then on_http(ev)
        elseif ev.kind == "fetch" or ev.kind == "fetch_data" then calls.fetched(ev)
        elseif ev.kind == "ws_open" then on_ws_open(ev)
        elseif ev.kind == "ws_message" then on_ws_message(ev)
        elseif ev.kind == "ws_close" then calls.detach(ev.id)
        elseif ev.kind == "voice" then calls.voice_event(ev)
        elseif ev.kind == "stop" and not stopping then
          stopping = true
          deadline = core.sys.monotonic() + 10
          calls.stop_all("the bot is stopping")
        end
      end)
      if not ok then
        log.error("bot.event", { kind = ev.kind, reason = tostring(err) })
        if ev.kind == "http" then fail(ev.id, 500, "internal", "internal error") end
      end
    end
    calls.tick()
    if core.sys.monotonic() >= beat_at then
      me.stopping = stopping -- a stopping bot is given no new call
      heartbeat()
      beat_at = core.sys.monotonic() + bots.HEARTBEAT_S
    end
    if stopping and (calls.count() == 0 or core.sys.monotonic() > deadline) then break end
  end
  me.stopping = true
  heartbeat()
  -- whatever could not reach the database stays in the spool for the next start
  local flushed, kept = core.writer.stop(5000)
  log.info("bot.stopped", { writes_flushed = flushed and true or false, kept = kept })
end

return M

-- sova.bot.phone: a call's telephone line through Twilio, as the control plane sees it. The bot
-- that carries the call creates it (REST), hears how it goes (signed status and AMD callbacks),
-- takes its audio on a Media Streams socket (one-time token in the path; the media thread decodes
-- it, sova.bot.voice drives it), presses keys and transfers by updating the live call with new
-- TwiML, and hangs up once the agent's last words were heard. Call state is keyed by the session
-- (and checked against the call sid), so a stream that reconnects after a TwiML update resumes the
-- same call. Wire formats: sova.bot.twilio; the contract with the simulator: core/testkit/phonesim/.
local core = require("sova.core")
local loop = core.loop
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local services = require("sova.services")
local twilio = require("sova.bot.twilio")

local M = {}

-- How long a phone call waits for the answering-machine verdict once the line is answered, before
-- it greets as if a person answered (Twilio's DetectMessageEnd can take the whole greeting).
M.AMD_WAIT_SECONDS = tonumber(config.env("SOVA_PHONE_AMD_WAIT_SECONDS", "")) or 6
-- The agent's last line is given this long to be heard before the bot hangs up anyway.
M.LAST_LINE_SECONDS = 20
-- A finished call's sid is remembered this long: late callbacks are acknowledged, not errors.
M.LINGER_SECONDS = 120
-- A media token unused this long after its TwiML was sent is void.
M.TOKEN_GRACE_SECONDS = 60
M.TRANSFER_RING_SECONDS = 20

local E164 = "^%+[1-9]%d%d%d%d%d%d+$" -- 8 to 15 digits; the length is checked beside it
local function e164(s) return type(s) == "string" and #s >= 8 and #s <= 16 and s:match(E164) ~= nil end
M.e164 = e164

local host            -- what sova.bot.calls lends (M.bind)
local sessions = {}   -- session id -> record of a phone call (kept M.LINGER_SECONDS after it ends)
local tokens = {}     -- media token -> {rec, expires}
local fetches = {}    -- fetch id -> {rec, what}
local port            -- the bot's listening port (the default public address on loopback)

function M.bind(h) host = h end
function M.listening(p) port = p end

local function now() return core.sys.monotonic() end

-- ---- addresses ----

-- the bot's public base (SOVA_BOT_PUBLIC_URL), as http(s) for webhooks and ws(s) for media
local function public_base()
  local base = config.env("SOVA_BOT_PUBLIC_URL", port and ("http://127.0.0.1:" .. port) or "")
  base = base:gsub("/+$", ""):gsub("^ws(s?)://", "http%1://")
  return base
end

local function webhook_url(kind, session_id) return public_base() .. "/twilio/" .. kind .. "/" .. session_id end

local function new_token(rec, ttl)
  local t = core.crypto.random_hex(16)
  tokens[t] = { rec = rec, expires = now() + ttl }
  return t
end

-- the TwiML that (re)connects the call's audio: a fresh one-time token each time
local function stream_args(rec, ttl)
  local t = new_token(rec, ttl or M.TOKEN_GRACE_SECONDS)
  local url = public_base():gsub("^http", "ws") .. "/twilio/media/" .. t
  return url, { { "session", rec.session_id } }
end

-- ---- setting up and placing ----

-- A simulated line (a campaign tried out without a carrier) goes to the phone simulator the bot
-- is given (core/testkit/phonesim/), with its own credentials; the caller ID is Twilio's test
-- number unless SOVA_PHONE_SIM_FROM names another.
local function simulator_credentials()
  local base, sid, token = config.env("SOVA_PHONE_SIM_URL", ""), config.env("SOVA_PHONE_SIM_ACCOUNT_SID", ""),
    config.env("SOVA_PHONE_SIM_AUTH_TOKEN", "")
  if base == "" or sid == "" or token == "" then
    return nil, "simulated calls need SOVA_PHONE_SIM_URL, SOVA_PHONE_SIM_ACCOUNT_SID and SOVA_PHONE_SIM_AUTH_TOKEN set on the bot"
  end
  if not base:match("^https?://") then return nil, "SOVA_PHONE_SIM_URL must be an http(s) URL" end
  local from = config.env("SOVA_PHONE_SIM_FROM", "+15005550006")
  if not e164(from) then return nil, "SOVA_PHONE_SIM_FROM must be an E.164 number" end
  return { api_base = base:gsub("/+$", ""), account_sid = sid, auth_token = token, from = from }
end

-- setup(rec, start) -> true | nil, reason: a phone call's line checked before it is created: the
-- number (from the start), the flow's telephony and the bot's credentials (or the simulator's)
function M.setup(rec, p)
  local to = type(p.phone) == "table" and p.phone.to
  if not e164(to) then return nil, "phone.to must be an E.164 number" end
  local cfg, problems = services.load(rec.flow_dir .. "/services.yaml")
  if not cfg then return nil, "services.yaml is not valid: " .. services.format_problems(problems) end
  local opts, why = services.telephony_options(cfg)
  if not opts then return nil, why end
  local creds, cwhy
  if p.phone.simulated == true then creds, cwhy = simulator_credentials()
  else creds, cwhy = services.telephony_credentials(opts) end
  if not creds then return nil, cwhy end
  if public_base() == "" then return nil, "SOVA_BOT_PUBLIC_URL is not set: Twilio cannot reach this bot" end
  rec.phone = { to = to, from = creds.from, opts = opts, client = twilio.client(creds), simulated = p.phone.simulated == true or nil,
    auth_token = creds.auth_token, account_sid = creds.account_sid, seq = -1 }
  return true
end

local function send(rec, what, req)
  local id, err = loop.fetch(req)
  if not id then
    log.error("phone.request", { session = rec.session_id, what = what, reason = tostring(err) })
    return nil, err
  end
  fetches[id] = { rec = rec, what = what }
  return id
end

local function event(rec, ev) if not rec.finished then host.event(rec, ev) end end

-- place(rec): the call is created at Twilio; its audio comes to the media socket once answered
function M.place(rec)
  local ph = rec.phone
  sessions[rec.session_id] = rec
  local ok, why = host.open_voice(rec)
  if not ok then return host.end_call(rec, "failed", "voice: " .. tostring(why), "platform") end
  local url, params = stream_args(rec, ph.opts.ring_seconds + M.TOKEN_GRACE_SECONDS)
  local form = {
    { "To", ph.to }, { "From", ph.from }, { "Twiml", twilio.stream_twiml(url, params) },
    { "StatusCallback", webhook_url("status", rec.session_id) }, { "StatusCallbackMethod", "POST" },
    { "StatusCallbackEvent", "initiated" }, { "StatusCallbackEvent", "ringing" },
    { "StatusCallbackEvent", "answered" }, { "StatusCallbackEvent", "completed" },
    { "Timeout", tostring(ph.opts.ring_seconds) }, { "TimeLimit", tostring(ph.opts.max_call_seconds) },
  }
  if ph.opts.voicemail then
    for _, p in ipairs({ { "MachineDetection", "DetectMessageEnd" }, { "AsyncAmd", "true" },
      { "AsyncAmdStatusCallback", webhook_url("amd", rec.session_id) }, { "AsyncAmdStatusCallbackMethod", "POST" } }) do
      form[#form + 1] = p
    end
  end
  if not send(rec, "create", ph.client:create(form)) then
    host.end_call(rec, "failed", "telephony: the call could not be requested", "platform")
  end
end

-- the live call updated with new TwiML (keys, a transfer), or hung up
local function update(rec, what, form)
  local ph = rec.phone
  if not ph.call_sid or ph.line_ended then return nil end
  return send(rec, what, ph.client:update(ph.call_sid, form))
end

local function hang_up(rec)
  local ph = rec.phone
  if ph.hung_up or ph.line_ended then return end
  ph.hung_up = true
  -- not answered yet: canceled (it stops ringing); answered: completed
  update(rec, "hangup", { { "Status", ph.answered and "completed" or "canceled" } })
end

local function close_voice(rec)
  local ph = rec.phone
  ph.closing_at = nil
  if not ph.voice_closed then
    ph.voice_closed = true
    host.close_voice(rec)
  end
end

local created = {}

function created.create(rec, res, err)
  local sid, why = twilio.created(res, err)
  local ph = rec.phone
  if not sid then
    log.error("phone.create", { session = rec.session_id, reason = why })
    return host.end_call(rec, "failed", "telephony: the call was not placed (" .. why .. ")", "platform")
  end
  if ph.call_sid and ph.call_sid ~= sid then
    return host.end_call(rec, "failed", "telephony: the stream named another call", "platform")
  end
  ph.call_sid = sid
  host.session_update(rec, { ["$set"] = { ["phone.call_sid"] = sid } })
  if rec.finished then hang_up(rec) end -- ended while the request was under way
end

local function updated(what)
  return function(rec, res, err)
    local ok, why = twilio.updated(res, err)
    if ok then return end
    if why == "ended" then rec.phone.line_ended = true end
    log.error("phone.update", { session = rec.session_id, what = what, reason = why })
    if rec.finished then return close_voice(rec) end
    if why ~= "ended" then event(rec, { type = "telephony_error", what = what, reason = why }) end
    if what == "transfer" then host.transfer_result(rec, "failed") end
  end
end
created.press, created.transfer = updated("press"), updated("transfer")
created.hangup = function(rec, res, err)
  updated("hangup")(rec, res, err)
  close_voice(rec)
end

-- fetched(ev) -> true when the answer was one of this module's requests
function M.fetched(ev)
  local f = fetches[ev.id]
  if not f then return false end
  fetches[ev.id] = nil
  if ev.kind == "fetch_data" then return true end
  created[f.what](f.rec, ev.error == nil and ev or nil, ev.error)
  return true
end

-- ---- the flow's actions on the line ----

-- press(rec, keys): DTMF into the line; the stream reconnects after it
function M.press(rec, keys)
  if type(keys) ~= "string" or not keys:match(twilio.KEYS) or #keys > 32 then return end
  local url, params = stream_args(rec)
  rec.phone.reconnect = true
  update(rec, "press", { { "Twiml", twilio.press_twiml(keys, url, params) } })
end

-- transfer(rec, to): the call goes to a person; the flow hears how it went (transfer_result)
function M.transfer(rec, to)
  local ph = rec.phone
  if not e164(to) then return host.transfer_result(rec, "failed") end
  ph.transfer = { to = to }
  ph.reconnect = true -- the stream stops now; it comes back if the transfer is not answered
  update(rec, "transfer", { { "Twiml", twilio.dial_twiml { to = to, caller_id = ph.from,
    timeout = M.TRANSFER_RING_SECONDS, action = webhook_url("dial", rec.session_id),
    bridged = webhook_url("bridged", rec.session_id) } } })
end

-- ended(rec): the call finished (everything is written); the line is closed once the agent's last
-- words were heard, or at once when the other party is gone or a person took the call
function M.ended(rec)
  local ph = rec.phone
  ph.linger_until = now() + M.LINGER_SECONDS
  if ph.bridged then return close_voice(rec) end
  if ph.line_ended or not ph.call_sid then
    if not ph.call_sid then ph.hung_up = true end -- create's answer hangs up if it comes later
    return close_voice(rec)
  end
  if ph.answered and host.finish_line(rec) then
    ph.closing_at = now() + M.LAST_LINE_SECONDS -- hang_up once it is heard (M.played) or then
    return
  end
  hang_up(rec)
end

-- played(rec): the other party has heard everything the agent said so far
function M.played(rec)
  local ph = rec.phone
  if ph and ph.closing_at and not host.speaking(rec) then
    ph.closing_at = nil
    hang_up(rec)
  end
end

-- ---- the media socket ----

-- media_socket(path) -> record | nil: the one-time token in the path, spent
function M.media_socket(path)
  local t = path:match("^/twilio/media/(%x+)$")
  local entry = t and #t == 32 and tokens[t]
  if not entry then return nil end
  tokens[t] = nil
  if entry.expires < now() or entry.rec.finished then return nil end
  return entry.rec
end

-- stream_started(rec, e) -> true | nil, reason: the stream's start names this call
function M.stream_started(rec, e)
  local ph = rec.phone
  local params = type(e.parameters) == "table" and e.parameters or {}
  if params.session ~= rec.session_id then return nil, "the stream names another session" end
  if type(e.call_sid) ~= "string" or not e.call_sid:match(twilio.CALL_SID) then return nil, "no call sid" end
  if ph.call_sid and e.call_sid ~= ph.call_sid then return nil, "the stream names another call" end
  if e.account_sid ~= nil and e.account_sid ~= ph.account_sid then return nil, "the stream names another account" end
  ph.call_sid = ph.call_sid or e.call_sid
  -- the call's first stream greets; the answered callback (which also sets answered) may come
  -- before or after it
  local first = not ph.streamed
  ph.answered, ph.streamed, ph.reconnect, ph.streaming = true, true, false, true
  if first then
    event(rec, { type = "answered" })
    if ph.opts.voicemail and not ph.verdict then
      ph.amd_until = now() + M.AMD_WAIT_SECONDS -- a person is greeted once AMD says so (or then)
    else
      host.greet(rec)
    end
  end
  return true
end

-- stream_stopped(rec): the stream ended: a TwiML update (keys, a transfer) brings a new one,
-- else the other party hung up
function M.stream_stopped(rec)
  local ph = rec.phone
  if not ph.streaming then return end -- its stop message and its socket's close: told once
  ph.streaming = false
  if ph.reconnect then return end
  ph.line_ended = true
  if rec.finished then return close_voice(rec) end -- hung up during the agent's last words
  host.other_party_left(rec, "the other party hung up")
end

-- ---- webhooks ----

local function reply(id, status, body, ct) loop.reply(id, status, body or "", ct or "text/plain") end

local FINAL = { busy = "busy", ["no-answer"] = "no_answer", failed = "failed", canceled = "canceled" }

local hooks = {}

function hooks.status(rec, f, id)
  local ph = rec.phone
  local seq = tonumber(f.SequenceNumber)
  if not seq or seq ~= math.floor(seq) or seq < 0 then return reply(id, 400, "SequenceNumber required") end
  if seq <= ph.seq then return reply(id, 204) end -- a replay, or older than one applied: no change
  ph.seq = seq
  local st = f.CallStatus
  if st == "initiated" then
    event(rec, { type = "dialed" })
  elseif st == "ringing" then
    event(rec, { type = "ringing" })
  elseif st == "in-progress" then
    ph.answered = true
  elseif FINAL[st] then
    ph.line_ended = true
    if not rec.finished then
      host.end_call(rec, FINAL[st], FINAL[st] == "failed" and "telephony: the call failed" or nil, "other_party")
    else
      close_voice(rec)
    end
  elseif st == "completed" then
    ph.line_ended = true
    if not rec.finished and not ph.bridged then
      host.other_party_left(rec, "the other party hung up")
    else
      close_voice(rec)
    end
  else
    return reply(id, 400, "unknown CallStatus")
  end
  reply(id, 204)
end

local HUMAN = { human = true, unknown = true }
local MACHINE = { machine_start = true, machine_end_beep = true, machine_end_silence = true,
  machine_end_other = true, fax = true }

function hooks.amd(rec, f, id)
  local ph = rec.phone
  local by = f.AnsweredBy
  if not HUMAN[by] and not MACHINE[by] then return reply(id, 400, "unknown AnsweredBy") end
  if ph.verdict or rec.finished then return reply(id, 204) end -- once per call
  ph.verdict = by
  host.session_update(rec, { ["$set"] = { ["phone.answered_by"] = by } })
  event(rec, { type = "answered_by", by = by })
  local waiting = ph.amd_until ~= nil
  ph.amd_until = nil
  if MACHINE[by] then
    host.verdict(rec, by)
  elseif waiting then
    host.greet(rec)
  end
  reply(id, 204)
end

-- the transfer's person answered: the bot leaves the call to them
function hooks.bridged(rec, f, id)
  local ph = rec.phone
  if f.ParentCallSid ~= nil and f.ParentCallSid ~= ph.call_sid then return reply(id, 400, "another call") end
  if ph.transfer and not ph.bridged and not rec.finished then
    ph.bridged, ph.reconnect = true, false
    host.transfer_result(rec, "answered")
  end
  reply(id, 200, twilio.empty_twiml(), "text/xml")
end

local DIAL = { completed = true, answered = true, busy = true, ["no-answer"] = true, failed = true, canceled = true }

-- how the transfer's dial ended: not answered, the call comes back to the flow on a new stream
function hooks.dial(rec, f, id)
  local ph = rec.phone
  local st = f.DialCallStatus
  if not DIAL[st] then return reply(id, 400, "unknown DialCallStatus") end
  if ph.bridged or rec.finished or not ph.transfer then return reply(id, 200, twilio.hangup_twiml(), "text/xml") end
  if st == "completed" or st == "answered" then
    -- the person answered and has hung up since (no word from the Number's url): handed over all the same
    ph.bridged, ph.reconnect = true, false
    host.transfer_result(rec, "answered")
    return reply(id, 200, twilio.hangup_twiml(), "text/xml")
  end
  ph.transfer = nil
  local url, params = stream_args(rec)
  ph.reconnect = true
  host.transfer_result(rec, st)
  reply(id, 200, twilio.stream_twiml(url, params), "text/xml")
end

-- webhook(ev) -> true when ev is a Twilio callback (answered here)
function M.webhook(ev)
  local kind, session_id = (ev.path or ""):match("^/twilio/(%l+)/(%x+)$")
  if not kind then return false end
  if not hooks[kind] then reply(ev.id, 404, "no such callback"); return true end
  if ev.method ~= "POST" then reply(ev.id, 405, "POST"); return true end
  local rec = sessions[session_id]
  if not rec then reply(ev.id, 404, "no such call"); return true end
  local list, f = twilio.form_decode(ev.body or "")
  local url = webhook_url(kind, session_id) .. ((ev.query and ev.query ~= "") and ("?" .. ev.query) or "")
  -- the signature first: nothing of an unsigned or forged request is looked at further
  if not list or not twilio.verify(rec.phone.auth_token, url, list, (ev.headers or {})["x-twilio-signature"]) then
    log.warn("phone.webhook_refused", { session = session_id, kind = kind })
    reply(ev.id, 403, "bad signature")
    return true
  end
  local ph = rec.phone
  -- a signed callback may come before the create's answer is read: its call sid is the call's then
  local call_sid = kind == "bridged" and f.ParentCallSid or f.CallSid
  if f.AccountSid ~= ph.account_sid or type(call_sid) ~= "string" or not call_sid:match(twilio.CALL_SID)
    or (ph.call_sid and call_sid ~= ph.call_sid) then
    reply(ev.id, 400, "the callback names another call")
    return true
  end
  ph.call_sid = call_sid
  hooks[kind](rec, f, ev.id)
  return true
end

-- ---- time ----

function M.tick()
  local t = now()
  for k, e in pairs(tokens) do if e.expires < t then tokens[k] = nil end end
  for id, rec in pairs(sessions) do
    local ph = rec.phone
    if ph.amd_until and t > ph.amd_until then
      ph.amd_until = nil
      host.greet(rec) -- no verdict in time: greeted as a person
    end
    if ph.closing_at and t > ph.closing_at then
      ph.closing_at = nil
      hang_up(rec)
    end
    if ph.linger_until and t > ph.linger_until then
      sessions[id] = nil
      close_voice(rec)
    end
  end
end

function M.count() local n = 0; for _ in pairs(sessions) do n = n + 1 end; return n end

return M

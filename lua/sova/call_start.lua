-- sova.call_start: starting a call, as the API (POST /api/patients/{id}/calls) and the campaign
-- scheduler do it. The session is created, then the bot is handed everything the call needs
-- (patient fields, schema, org and workflow) in one signed request, so the bot makes no database
-- trip during the call (DESIGN principle 3). Failures are answers, not raises: {status, code,
-- message, fields}, which the API sends as they are and the scheduler records on the attempt.
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local callsign = require("sova.callsign")
local present = require("sova.api.present")
local patient_counts = require("sova.patient_counts")
local vocabulary = require("sova.sandboxed.vocabulary")
local services = require("sova.services")
local bots = require("sova.bots")

local M = {}

function M.bot_url() return config.env("SOVA_BOT_URL", "http://127.0.0.1:8081") end

local function as_ws(url) return (url:gsub("^http", "ws"):gsub("/+$", "")) end

-- the bot as browsers reach it (ws/wss), when no bot is registered: SOVA_BOT_PUBLIC_URL may be
-- given as http(s), as Twilio needs
function M.public_url() return as_ws(config.env("SOVA_BOT_PUBLIC_URL", M.bot_url())) end

-- public_url_of(bot_id) -> where browsers reach the bot carrying a call (listening to it)
function M.public_url_of(bot_id)
  local b = bot_id and core.db.unscoped():find_one(bots.COLL, { _id = bot_id })
  if b and type(b.public_url or b.url) == "string" then return as_ws(b.public_url or b.url) end
  return M.public_url()
end

-- candidates() -> the bots to offer a call, in order: the registered live ones with room, most
-- room first; none registered (one bot, configured by address): SOVA_BOT_URL
local function candidates()
  local list = bots.pick(core.db.unscoped())
  if list and #list > 0 then
    local out = {}
    for i, b in ipairs(list) do out[i] = { id = b._id, url = b.url, public_url = as_ws(b.public_url or b.url) } end
    return out
  end
  if not list then log.warn("bots.unreadable", {}) end
  return { { url = M.bot_url(), public_url = M.public_url() } }
end

function M.secret()
  local s, err = callsign.secret()
  if not s then error("bot secret: " .. err) end
  return s
end

local E164 = "^%+[1-9]%d%d%d%d%d%d+$"

local function refused(status, code, message, fields)
  return nil, { status = status, code = code, message = message, fields = fields }
end

local function services_of(org_slug, workflow)
  return services.load(config.root_dir() .. "/clients/" .. org_slug .. "/" .. workflow .. "/services.yaml")
end

-- line_ready(org_slug, workflow, credentials) -> the workflow's telephony options | nil, refusal
-- (422): its telephony and speech engines are configured, and it names the patient field to dial;
-- credentials: its Twilio credentials are set here too (a real line, from the process the bot's
-- environment is shared with; a simulated one uses the simulator's, on the bot)
function M.line_ready(org_slug, workflow, credentials)
  local cfg = services_of(org_slug, workflow)
  if not cfg then
    return refused(422, "telephony_not_configured", "this workflow's services.yaml is not valid (sova flow validate shows why)",
      { mode = "services.yaml is not valid" })
  end
  local opts, why = services.telephony_options(cfg)
  if not opts then return refused(422, "telephony_not_configured", "phone calls need telephony: " .. why, { mode = why }) end
  local speech, swhy = services.speech_options(cfg)
  if not speech then return refused(422, "voice_not_configured", "phone calls need speech engines: " .. swhy, { mode = swhy }) end
  if credentials then
    local creds, cwhy = services.telephony_credentials(opts)
    if not creds then return refused(422, "telephony_not_configured", "phone calls need Twilio credentials: " .. cwhy, { mode = cwhy }) end
  end
  if not opts.to_field then
    return refused(422, "telephony_not_configured", "this workflow's telephony names no to_field (the patient field to dial)",
      { mode = "telephony.to_field is not set" })
  end
  return opts
end

-- phone_target(org_slug, p, credentials) -> the number to dial | nil, refusal (422): the line is
-- ready (line_ready) and the patient's field holds an E.164 number
function M.phone_target(org_slug, p, credentials)
  local opts, refusal = M.line_ready(org_slug, p.workflow, credentials)
  if not opts then return nil, refusal end
  local to = p[opts.to_field]
  if type(to) ~= "string" or #to > 16 or not to:match(E164) then
    return refused(422, "no_number", ("the patient's %s is not a phone number in E.164 form (+15551234567)"):format(opts.to_field),
      { [opts.to_field] = "must be an E.164 phone number" })
  end
  return to
end

-- voice_ready(org_slug, workflow) -> true | nil, refusal: a voice call needs speech engines
function M.voice_ready(org_slug, workflow)
  local cfg = services_of(org_slug, workflow)
  local speech, why = nil, "its services.yaml is not valid (sova flow validate shows why)"
  if cfg then speech, why = services.speech_options(cfg) end
  if not speech then return refused(422, "voice_not_configured", "this workflow has no voice calls: " .. why, { mode = why }) end
  return true
end

local function db_refusal(err)
  log.warn("call.start_db", { reason = tostring(err) })
  return refused(503, "database_unavailable", "the database is unavailable; try again shortly")
end

-- start(db, org, wf, p, o) -> {session_id = hex, live_url} | nil, refusal
--   db: the org's scoped handle; wf: its workflow definition; p: the patient document
--   o: {mode = "browser" | "browser_voice" | "phone", phone_to, simulated, user_id (hex),
--       campaign_id (oid, for a campaign's attempt), session_id (oid, when the caller chose it),
--       audit = fn(ev) -> true | nil: the access is recorded before the call can start}
function M.start(db, org, wf, p, o)
  local now = bson.now()
  local sid = o.session_id or bson.oid()
  local offer = candidates()
  local session = {
    _id = sid, patient_id = p._id, workflow = p.workflow, mode = o.mode, status = "queued",
    flow = { path = "clients/" .. org.slug .. "/" .. p.workflow },
    transcript = { messages = bson.array(), summary = json.null }, events = bson.array(),
    started_by = bson.oid(o.user_id), created_at = now, updated_at = now,
    simulated = o.simulated or nil, campaign_id = o.campaign_id,
    -- the bot it is offered to first (the one that takes it writes its own id at its start)
    bot_id = offer[1].id,
  }
  local details = { patient_id = present.hex(p._id), workflow = p.workflow, mode = o.mode,
    simulated = o.simulated or nil, campaign_id = o.campaign_id and present.hex(o.campaign_id) or nil }
  if not o.audit({ action = "call", resource_type = "call", resource_id = present.hex(sid), details = details }) then
    return refused(503, "audit_unavailable", "cannot record this access; nothing was served")
  end
  local ok, err = db:insert("sessions", session)
  if not ok then return db_refusal(err) end

  -- everything the call needs, in memory: the patient's fields without internal keys
  local fields = {}
  for k, v in pairs(p) do
    if not present.internal(k) then fields[k] = v end
  end
  local start = json.encode({
    session_id = present.hex(sid), patient_id = present.hex(p._id), mode = o.mode,
    organization = { id = present.hex(org._id), slug = org.slug, name = org.name },
    workflow = p.workflow, patient = fields, fields = json.array(wf.patient_schema.fields),
    phone = o.phone_to and { to = o.phone_to, simulated = o.simulated or nil } or nil,
    campaign_id = o.campaign_id and present.hex(o.campaign_id) or nil, -- for the call's webhooks
  })
  -- before the bot hears of it: its own, later writes (In Progress, the outcome) must win
  ok, err = db:update("patients", { _id = p._id }, { ["$set"] = { call_status = vocabulary.call_status_label("queued"),
    updated_at = bson.now() } })
  if not ok then return db_refusal(err) end
  ok, err = patient_counts.mark(db, p.workflow, p._id, true)
  if not ok then return db_refusal(err) end
  -- the bots in turn until one takes it: one at capacity (503) or away passes it on
  local res, herr, bot
  for _, b in ipairs(offer) do
    bot = b
    local ts = os.time()
    res, herr = core.http.request {
      method = "POST", url = b.url .. "/calls", body = start, timeout_ms = 5000,
      headers = { ["content-type"] = "application/json", ["x-sova-timestamp"] = tostring(ts),
        ["x-sova-signature"] = callsign.sign(M.secret(), ts, start) },
    }
    if res and res.status ~= 503 then break end
  end
  if not res or res.status ~= 202 then
    log.error("call.start_failed", { session = present.hex(sid), status = res and res.status, reason = herr })
    -- the bot's own words for a refusal it explains (at capacity, a line it cannot set up)
    local said = res and (res.status == 422 or res.status == 503) and json.decode(res.body or "")
    said = type(said) == "table" and type(said.error) == "table" and type(said.error.message) == "string"
      and said.error.message or nil
    local failure = said or "the call runtime is unavailable"
    local w1 = db:update("sessions", { _id = sid }, { ["$set"] = {
      status = "failed", failure = failure, not_placed = true, updated_at = bson.now() } })
    local w2 = db:update("patients", { _id = p._id }, { ["$set"] = {
      call_status = p.call_status or vocabulary.call_status_label("not_started"), updated_at = bson.now() } })
    local w3 = patient_counts.mark(db, p.workflow, p._id)
    if not (w1 and w2 and w3) then return db_refusal("undoing a start the bot refused") end
    if res and res.status == 422 and said then return refused(422, "call_refused", said) end
    return refused(503, "bot_unavailable", said or "the call runtime is unavailable; try again shortly")
  end
  local live = ("%s/calls/%s/live?token=%s"):format(bot.public_url, present.hex(sid),
    callsign.live_token(M.secret(), present.hex(sid), present.hex(org._id)))
  return { session_id = present.hex(sid), live_url = live }
end

return M

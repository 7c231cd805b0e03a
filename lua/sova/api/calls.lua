-- sova.api.calls: starting a call. The API creates the session, then hands the bot everything
-- the call needs (patient fields, schema, org and workflow) in one signed request, so the bot
-- makes no database trip during the call (DESIGN principle 3).
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local callsign = require("sova.callsign")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patient_counts = require("sova.patient_counts")
local patients = require("sova.api.patients")
local vocabulary = require("sova.sandboxed.vocabulary")
local services = require("sova.services")

local M = {}
local fail, db_ok = errors.fail, errors.db

local function bot_url() return config.env("SOVA_BOT_URL", "http://127.0.0.1:8081") end

-- the bot as browsers reach it (ws/wss): SOVA_BOT_PUBLIC_URL may be given as http(s), as Twilio needs
local function public_url()
  return (config.env("SOVA_BOT_PUBLIC_URL", bot_url()):gsub("^http", "ws"):gsub("/+$", ""))
end
M.public_url = public_url

local E164 = "^%+[1-9]%d%d%d%d%d%d+$"

-- phone_target(ctx, p) -> the number to dial: the workflow's telephony is configured, its
-- credentials are set, and the patient's field holds an E.164 number (else 422, nothing written)
function M.phone_target(ctx, p)
  local cfg = services.load(config.root_dir() .. "/clients/" .. ctx.tenant.slug .. "/" .. p.workflow .. "/services.yaml")
  if not cfg then
    fail(422, "telephony_not_configured", "this workflow's services.yaml is not valid (sova flow validate shows why)",
      { mode = "services.yaml is not valid" })
  end
  local opts, why = services.telephony_options(cfg)
  if not opts then fail(422, "telephony_not_configured", "phone calls need telephony: " .. why, { mode = why }) end
  local speech, swhy = services.speech_options(cfg)
  if not speech then fail(422, "voice_not_configured", "phone calls need speech engines: " .. swhy, { mode = swhy }) end
  local creds, cwhy = services.telephony_credentials(opts)
  if not creds then fail(422, "telephony_not_configured", "phone calls need Twilio credentials: " .. cwhy, { mode = cwhy }) end
  if not opts.to_field then
    fail(422, "telephony_not_configured", "this workflow's telephony names no to_field (the patient field to dial)",
      { mode = "telephony.to_field is not set" })
  end
  local to = p[opts.to_field]
  if type(to) ~= "string" or #to > 16 or not to:match(E164) then
    fail(422, "no_number", ("the patient's %s is not a phone number in E.164 form (+15551234567)"):format(opts.to_field),
      { [opts.to_field] = "must be an E.164 phone number" })
  end
  return to
end

local function secret()
  local s, err = callsign.secret()
  if not s then error("bot secret: " .. err) end
  return s
end
M.secret = secret

-- POST /api/patients/{id}/calls {mode}
function M.start(ctx, id)
  local p = patients.find_patient(ctx, id)
  local wf = patients.workflow(ctx, p.workflow)
  local body = request.json_object(ctx.req)
  local mode = body.mode or "browser"
  local phone_to
  if mode == "phone" then
    phone_to = M.phone_target(ctx, p)
  elseif mode == "browser_voice" then
    -- a voice call needs speech engines: refused here, before a session exists, when the flow has none
    local cfg = services.load(config.root_dir() .. "/clients/" .. ctx.tenant.slug .. "/" .. p.workflow .. "/services.yaml")
    local speech, why = nil, "its services.yaml is not valid (sova flow validate shows why)"
    if cfg then speech, why = services.speech_options(cfg) end
    if not speech then
      fail(422, "voice_not_configured", "this workflow has no voice calls: " .. why, { mode = why })
    end
  elseif mode ~= "browser" then
    fail(422, "validation_failed", "mode must be browser, browser_voice or phone",
      { mode = "must be browser, browser_voice or phone" })
  end
  for k in pairs(body) do
    if k ~= "mode" then fail(422, "validation_failed", "unknown field", { [k] = "unknown field" }) end
  end

  local now = bson.now()
  local sid = bson.oid()
  local session = {
    _id = sid, patient_id = p._id, workflow = p.workflow, mode = mode, status = "queued",
    flow = { path = "clients/" .. ctx.tenant.slug .. "/" .. p.workflow },
    transcript = { messages = bson.array(), summary = json.null }, events = bson.array(),
    started_by = bson.oid(ctx.user.id), created_at = now, updated_at = now,
  }
  patients.audit_or_503(ctx, { action = "call", resource_type = "call", resource_id = present.hex(sid),
    details = { patient_id = present.hex(p._id), workflow = p.workflow, mode = mode } })
  db_ok(ctx.db:insert("sessions", session))
  db_ok(patient_counts.call_placed(ctx.db, p.workflow))

  -- everything the call needs, in memory: the patient's fields without internal keys
  local fields = {}
  for k, v in pairs(p) do
    if not present.internal(k) then fields[k] = v end
  end
  local start = json.encode({
    session_id = present.hex(sid), patient_id = present.hex(p._id), mode = mode,
    organization = { id = present.hex(ctx.tenant._id), slug = ctx.tenant.slug, name = ctx.tenant.name },
    workflow = p.workflow, patient = fields, fields = json.array(wf.patient_schema.fields),
    phone = phone_to and { to = phone_to } or nil,
  })
  -- before the bot hears of it: its own, later writes (In Progress, the outcome) must win
  db_ok(ctx.db:update("patients", { _id = p._id }, { ["$set"] = { call_status = vocabulary.call_status_label("queued"),
    updated_at = bson.now() } }))
  db_ok(patient_counts.mark(ctx.db, p.workflow, p._id))
  local ts = os.time()
  local res, err = core.http.request {
    method = "POST", url = bot_url() .. "/calls", body = start, timeout_ms = 5000,
    headers = { ["content-type"] = "application/json", ["x-sova-timestamp"] = tostring(ts),
      ["x-sova-signature"] = callsign.sign(secret(), ts, start) },
  }
  if not res or res.status ~= 202 then
    log.error("call.start_failed", { session = present.hex(sid), status = res and res.status, reason = err })
    db_ok(ctx.db:update("sessions", { _id = sid }, { ["$set"] = {
      status = "failed", failure = "the call runtime is unavailable", updated_at = bson.now() } }))
    db_ok(ctx.db:update("patients", { _id = p._id }, { ["$set"] = {
      call_status = p.call_status or vocabulary.call_status_label("not_started"), updated_at = bson.now() } }))
    db_ok(patient_counts.mark(ctx.db, p.workflow, p._id))
    fail(503, "bot_unavailable", "the call runtime is unavailable; try again shortly")
  end
  local live = ("%s/calls/%s/live?token=%s"):format(public_url(), present.hex(sid),
    callsign.live_token(secret(), present.hex(sid), present.hex(ctx.tenant._id)))
  return 202, { session_id = present.hex(sid), live_url = live }
end

return M

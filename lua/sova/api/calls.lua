-- sova.api.calls: POST /api/patients/{id}/calls. The request is checked here; the start itself
-- (the session, the signed hand-over to the bot) is sova.call_start's, shared with campaigns.
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local patients = require("sova.api.patients")
local call_start = require("sova.call_start")

local M = {}
local fail = errors.fail

local function or_fail(v, refusal)
  if v == nil then fail(refusal.status, refusal.code, refusal.message, refusal.fields) end
  return v
end

-- POST /api/patients/{id}/calls {mode}
function M.start(ctx, id)
  local p = patients.find_patient(ctx, id)
  local wf = patients.workflow(ctx, p.workflow)
  local body = request.json_object(ctx.req)
  local mode = body.mode or "browser"
  local phone_to
  if mode == "phone" then
    phone_to = or_fail(call_start.phone_target(ctx.tenant.slug, p, true))
  elseif mode == "browser_voice" then
    -- refused here, before a session exists, when the flow has no speech engines
    or_fail(call_start.voice_ready(ctx.tenant.slug, p.workflow))
  elseif mode ~= "browser" then
    fail(422, "validation_failed", "mode must be browser, browser_voice or phone",
      { mode = "must be browser, browser_voice or phone" })
  end
  for k in pairs(body) do
    if k ~= "mode" then fail(422, "validation_failed", "unknown field", { [k] = "unknown field" }) end
  end
  local started = or_fail(call_start.start(ctx.db, ctx.tenant, wf, p, {
    mode = mode, phone_to = phone_to, user_id = ctx.user.id,
    audit = function(ev) patients.audit_or_503(ctx, ev); return true end,
  }))
  return 202, started
end

return M

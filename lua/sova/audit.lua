-- sova.audit: the HIPAA audit trail (DESIGN principle 4). Every PHI access writes one record
-- through the request's tenant-scoped handle before the PHI is served; when the write fails,
-- the caller answers 503 and serves nothing.
local bson = require("sova.core").bson

local M = {}

local MAX_UA = 512

-- record(ctx, ev) -> true | nil, err
--   ctx: {db = scoped handle (or nil with ev.organization_id for unscoped), user?, req}
--   ev:  {event_type, action, resource_type, resource_id, success, email, details}
function M.record(ctx, ev)
  local req = ctx.req or {}
  local headers = req.headers or {}
  local ua = headers["user-agent"]
  if type(ua) == "string" and #ua > MAX_UA then ua = ua:sub(1, MAX_UA) end
  local doc = {
    event_type = ev.event_type or "phi_access",
    action = ev.action,
    resource_type = ev.resource_type,
    resource_id = ev.resource_id,
    user_id = ctx.user and ctx.user.id or ev.user_id,
    email = ev.email,
    endpoint = req.path,
    method = req.method,
    ip_address = req.remote_addr,
    user_agent = ua,
    success = ev.success ~= false,
    timestamp = bson.now(),
    details = ev.details,
  }
  local h = ctx.db
  if not h then
    -- login events happen before a scoped handle exists: the org is named explicitly
    h = ev.handle
    doc.organization_id = ev.organization_id
  end
  local id, err = h:insert("audit_logs", doc)
  if not id then return nil, err end
  return true
end

return M

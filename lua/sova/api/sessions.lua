-- sova.api.sessions: call sessions (transcripts are PHI: audited like patients).
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")

local M = {}
local db_ok = errors.db

-- GET /api/patients/{id}/sessions: newest first, without transcripts
function M.for_patient(ctx, id)
  local p = patients.find_patient(ctx, id)
  local docs = db_ok(ctx.db:find("sessions", { patient_id = p._id },
    { sort = { _id = -1 }, limit = 200, projection = { transcript = 0, events = 0 } }))
  local items = json.array()
  for i, s in ipairs(docs) do items[i] = present.session(s) end
  patients.audit_or_503(ctx, { action = "list", resource_type = "session", resource_id = present.hex(p._id),
    details = { count = #items } })
  return 200, { items = items }
end

-- GET /api/sessions/{id}
function M.show(ctx, id)
  local oid = request.oid_or_404(id, "session")
  local s = db_ok(ctx.db:find_one("sessions", { _id = oid }))
  if not s then errors.not_found("session") end
  patients.audit_or_503(ctx, { action = "view", resource_type = "session", resource_id = present.hex(oid) })
  return 200, present.session(s)
end

return M

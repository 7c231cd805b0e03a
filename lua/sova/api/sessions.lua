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

-- GET /api/sessions/{id}/scenario: the call as a `sova flow eval` scenario, for the org's admins.
-- PHI-free by construction (sova.tools.scenario: synthetic patient fields, the patient's values
-- replaced in the other party's lines, no agent lines); audited as such an export.
function M.scenario(ctx, id)
  if ctx.user.role ~= "admin" then errors.fail(403, "forbidden", "only administrators can export test scenarios") end
  local oid = request.oid_or_404(id, "session")
  local s = db_ok(ctx.db:find_one("sessions", { _id = oid }))
  if not s then errors.not_found("session") end
  local wf = ctx.tenant.workflows and ctx.tenant.workflows[s.workflow]
  if type(wf) ~= "table" or type(wf.patient_schema) ~= "table" then errors.not_found("workflow") end
  local text, err = require("sova.tools.scenario").for_session(ctx.db, s, wf.patient_schema.fields or {})
  if not text then errors.fail(409, "not_exportable", err) end
  patients.audit_or_503(ctx, { action = "export", resource_type = "session", resource_id = present.hex(oid),
    details = { format = "scenario", phi = false } })
  return 200, text, {
    ["content-type"] = "text/yaml; charset=utf-8",
    ["content-disposition"] = ('attachment; filename="session-%s.yaml"'):format(present.hex(oid)),
  }
end

return M

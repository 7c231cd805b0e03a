-- sova.api.patients: patients of one org+workflow. Every field comes from the workflow's
-- patient_schema (DESIGN principle 1); every read and write is audited before it is served.
local bson = require("sova.core").bson
local schema = require("sova.sandboxed.schema")
local json = require("sova.json")
local audit = require("sova.audit")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local vocabulary = require("sova.sandboxed.vocabulary")
local patient_list = require("sova.patient_list")
local patient_search = require("sova.patient_search")
local patient_counts = require("sova.patient_counts")

local M = {}
local fail, db_ok = errors.fail, errors.db

-- The org's workflow definition, or 404 (a workflow the org lacks is simply not found).
function M.workflow(ctx, key)
  local wf = type(key) == "string" and ctx.tenant.workflows and ctx.tenant.workflows[key]
  if not wf or wf.enabled == false or type(wf.patient_schema) ~= "table" then errors.not_found("workflow") end
  return wf
end

local function fields_of(wf) return wf.patient_schema.fields or {} end

-- Audits, or answers 503 without serving anything.
function M.audit_or_503(ctx, ev)
  if not audit.record(ctx, ev) then
    fail(503, "audit_unavailable", "cannot record this access; nothing was served")
  end
end

local function find_patient(ctx, id)
  local oid = request.oid_or_404(id, "patient")
  local p = db_ok(ctx.db:find_one("patients", { _id = oid }))
  if not p then errors.not_found("patient") end
  return p
end
M.find_patient = find_patient

-- the ?cursor= of a list or search page (sova.patient_list), or 400
local function list_cursor(q)
  if q.cursor == nil or q.cursor == "" then return nil end
  return patient_list.decode_cursor(q.cursor) or fail(400, "bad_request", "malformed cursor")
end

-- A search walks the list newest first from the cursor on, reading only what may match
-- (sova.patient_search). -> docs, next_cursor, partial
local function search(ctx, wf, wf_key, q, cursor, limit)
  local docs, next_cursor, partial = patient_search.search(ctx.db, wf_key, fields_of(wf), q, cursor, limit)
  if not docs and partial == 400 then fail(400, "bad_request", next_cursor) end
  return db_ok(docs, next_cursor), next_cursor, partial
end

-- GET /api/workflows/{wf}/patients?limit=&cursor=&q=
function M.list(ctx, wf_key)
  local wf = M.workflow(ctx, wf_key)
  local q = request.query(ctx.req.query)
  local limit = request.limit(q, 25, 100)
  local cursor = list_cursor(q)
  local searched = q.q ~= nil and q.q ~= ""
  local docs, next_cursor, partial
  if searched then
    docs, next_cursor, partial = search(ctx, wf, wf_key, q.q, cursor, limit)
  else
    local after -- the next page's cursor, or the database's error
    docs, after = patient_list.page(ctx.db, wf_key, cursor, limit)
    if not docs then db_ok(nil, after) end
    next_cursor = after
  end
  local items = json.array()
  for i = 1, #docs do items[i] = present.patient(docs[i]) end
  M.audit_or_503(ctx, { action = "list", resource_type = "patient",
    details = { workflow = wf_key, count = #items, searched = searched } })
  local page = { items = items, next_cursor = next_cursor or json.null }
  if searched then page.search_partial = partial end
  return 200, page
end

local function validation_failed(errs)
  local input = errs[schema.INPUT_ERROR_KEY]
  if input then fail(400, "bad_request", input) end
  fail(422, "validation_failed", "some fields are not valid", errs)
end

-- POST /api/workflows/{wf}/patients
function M.create(ctx, wf_key)
  local wf = M.workflow(ctx, wf_key)
  local body = request.json_object(ctx.req)
  local doc, errs = schema.validate(fields_of(wf), body, "create")
  if not doc then validation_failed(errs) end
  local now = bson.now()
  doc.workflow, doc.call_status, doc.created_at, doc.updated_at = wf_key, vocabulary.call_status_label("not_started"), now, now
  doc._id = bson.oid()
  patient_list.place(doc, db_ok(patient_list.reserve(ctx.db, wf_key, 1)))
  M.audit_or_503(ctx, { action = "create", resource_type = "patient", resource_id = present.hex(doc._id),
    details = { workflow = wf_key } })
  db_ok(patient_search.index(ctx.db, wf_key, fields_of(wf), doc)) -- first: terms without a patient match none
  db_ok(ctx.db:insert("patients", doc))
  db_ok(patient_counts.recount(ctx.db, wf_key, fields_of(wf), doc._id))
  return 201, present.patient(doc)
end

-- GET /api/patients/{id}
function M.show(ctx, id)
  local p = find_patient(ctx, id)
  M.audit_or_503(ctx, { action = "view", resource_type = "patient", resource_id = present.hex(p._id) })
  return 200, present.patient(p)
end

-- PATCH /api/patients/{id}
function M.update(ctx, id)
  local p = find_patient(ctx, id)
  local wf = M.workflow(ctx, p.workflow)
  local body = request.json_object(ctx.req)
  local changes, errs = schema.validate(fields_of(wf), body, "update")
  if not changes then validation_failed(errs) end
  local changed = json.array()
  for k in pairs(changes) do changed[#changed + 1] = k end
  table.sort(changed)
  changes.updated_at = bson.now()
  -- field names, never values: the audit trail must not become a second copy of the PHI
  M.audit_or_503(ctx, { action = "update", resource_type = "patient", resource_id = present.hex(p._id),
    details = { fields = changed } })
  local r = db_ok(ctx.db:update("patients", { _id = p._id }, { ["$set"] = changes }))
  if r.matched == 0 then errors.not_found("patient") end
  for k, v in pairs(changes) do p[k] = v end
  db_ok(patient_search.index(ctx.db, p.workflow, fields_of(wf), p)) -- rebuilt from all its fields
  db_ok(patient_counts.recount(ctx.db, p.workflow, fields_of(wf), p._id))
  return 200, present.patient(p)
end

-- DELETE /api/patients/{id}
function M.delete(ctx, id)
  local oid = request.oid_or_404(id, "patient")
  local p = db_ok(ctx.db:find_one("patients", { _id = oid }, { projection = { _id = 1, workflow = 1 } }))
  if not p then errors.not_found("patient") end
  M.audit_or_503(ctx, { action = "delete", resource_type = "patient", resource_id = present.hex(oid) })
  local n = db_ok(ctx.db:delete("patients", { _id = oid }))
  if n == 0 then errors.not_found("patient") end
  local wf = ctx.tenant.workflows and ctx.tenant.workflows[p.workflow] -- it may be gone since
  db_ok(patient_counts.recount(ctx.db, p.workflow, type(wf) == "table" and type(wf.patient_schema) == "table" and
    fields_of(wf) or {}, oid))
  db_ok(patient_search.unindex(ctx.db, oid))
  return 204
end

-- GET /api/workflows/{wf}/dashboard: counts by call_status and by each select field, and calls
-- per day over the last 30 days (UTC), from counters (sova.patient_counts)
function M.dashboard(ctx, wf_key)
  local wf = M.workflow(ctx, wf_key)
  local c = db_ok(patient_counts.read(ctx.db, wf_key, fields_of(wf), 30))
  M.audit_or_503(ctx, { action = "dashboard", resource_type = "patient", details = { workflow = wf_key } })
  return 200, { workflow = wf_key, total = c.total, by_call_status = c.by_call_status, by_field = c.by_field,
    calls_per_day = c.calls_per_day }
end

return M

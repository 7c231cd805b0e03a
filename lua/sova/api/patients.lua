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

local function escape_pattern(s) return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?{}|\\/]", "\\%0")) end

-- the ?cursor= of a list or search page (sova.patient_list), or 400
local function list_cursor(q)
  if q.cursor == nil or q.cursor == "" then return nil end
  return patient_list.decode_cursor(q.cursor) or fail(400, "bad_request", "malformed cursor")
end

-- A search reads every patient of the workflow (a regular expression over the searchable fields).
local function search(ctx, wf, wf_key, text, cursor, limit)
  if #text > 100 then fail(400, "bad_request", "search text too long (100 characters at most)") end
  if text:find("[%z\1-\31\127]") or not schema.valid_utf8(text) then
    fail(400, "bad_request", "search text must be plain UTF-8 text")
  end
  local rx = escape_pattern(text)
  local any = {}
  for _, f in ipairs(fields_of(wf)) do
    if f.type == "string" or f.type == "email" or f.type == "phone" or f.type == "select" then
      any[#any + 1] = { [f.key] = { ["$regex"] = rx, ["$options"] = "i" } }
    end
  end
  if #any == 0 then any[1] = { _id = false } end
  local filter = { workflow = wf_key, ["$or"] = any }
  if cursor then
    local below = { { list_seq = { ["$lt"] = cursor.seq } } }
    if cursor.id ~= "" then below[2] = { list_seq = cursor.seq, _id = { ["$lt"] = bson.oid(cursor.id) } } end
    filter = { ["$and"] = { filter, { ["$or"] = below } } }
  end
  local docs = db_ok(ctx.db:find("patients", filter, { sort = bson.ordered { "list_seq", -1, "_id", -1 }, limit = limit + 1 }))
  local next_cursor
  if #docs > limit then
    next_cursor = patient_list.encode_cursor(docs[limit].list_seq, docs[limit]._id)
    docs[limit + 1] = nil
  end
  return docs, next_cursor
end

-- GET /api/workflows/{wf}/patients?limit=&cursor=&q=
function M.list(ctx, wf_key)
  local wf = M.workflow(ctx, wf_key)
  local q = request.query(ctx.req.query)
  local limit = request.limit(q, 25, 100)
  local cursor = list_cursor(q)
  local searched = q.q ~= nil and q.q ~= ""
  local docs, next_cursor
  if searched then
    docs, next_cursor = search(ctx, wf, wf_key, q.q, cursor, limit)
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
  return 200, { items = items, next_cursor = next_cursor or json.null }
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
  db_ok(ctx.db:insert("patients", doc))
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
  return 200, present.patient(p)
end

-- DELETE /api/patients/{id}
function M.delete(ctx, id)
  local oid = request.oid_or_404(id, "patient")
  local p = db_ok(ctx.db:find_one("patients", { _id = oid }, { projection = { _id = 1 } }))
  if not p then errors.not_found("patient") end
  M.audit_or_503(ctx, { action = "delete", resource_type = "patient", resource_id = present.hex(oid) })
  local n = db_ok(ctx.db:delete("patients", { _id = oid }))
  if n == 0 then errors.not_found("patient") end
  return 204
end

-- GET /api/workflows/{wf}/dashboard: counts by call_status and by each select field
function M.dashboard(ctx, wf_key)
  local wf = M.workflow(ctx, wf_key)
  local function counts(field)
    local rows = db_ok(ctx.db:aggregate("patients", {
      { ["$match"] = { workflow = wf_key } },
      { ["$group"] = { _id = "$" .. field, n = { ["$sum"] = 1 } } },
    }))
    local out, total = {}, 0
    for _, r in ipairs(rows) do
      local k = r._id
      if k == nil or k == json.null then k = "(none)" end
      out[tostring(k)] = (out[tostring(k)] or 0) + r.n
      total = total + r.n
    end
    return out, total
  end
  local by_status, total = counts("call_status")
  local by_field = {}
  for _, f in ipairs(fields_of(wf)) do
    if f.type == "select" then
      local c = counts(f.key)
      for _, opt in ipairs(f.options or {}) do c[opt] = c[opt] or 0 end
      by_field[f.key] = c
    end
  end
  -- calls per day over the last 30 days, from the sessions' start times (UTC days)
  local since = bson.date((os.time() - 30 * 86400) * 1000)
  local sessions = db_ok(ctx.db:find("sessions", { workflow = wf_key, created_at = { ["$gte"] = since } },
    { projection = { created_at = 1 }, limit = 100000 }))
  local per_day = {}
  for _, sdoc in ipairs(sessions) do
    local day = tostring(sdoc.created_at):sub(1, 10)
    per_day[day] = (per_day[day] or 0) + 1
  end
  M.audit_or_503(ctx, { action = "dashboard", resource_type = "patient", details = { workflow = wf_key } })
  return 200, { workflow = wf_key, total = total, by_call_status = by_status, by_field = by_field,
    calls_per_day = per_day }
end

return M

-- sova.api.patient_import: POST /api/workflows/{wf}/patients/import {csv, mode, import_id?}:
-- patients from a CSV file (sova.patient_csv reads it against the workflow's patient_schema).
--
-- mode "validate" writes nothing and answers what an import would do, with the cells as read
-- (preview) so the page shows the file as the server understood it; "all_or_nothing" imports
-- every row or, when any row has an error, nothing (422 with the errors); "good_rows" imports
-- the valid rows and reports the others.
--
-- An import is one patient_imports record, written before any patient: the file's digest, the
-- patients' ids and their list positions, reserved once. A database failure midway answers 503
-- with the patients written so far; the same request again (the same import_id: the page sends
-- one per file) carries on from the record and writes none twice, and once done answers what it
-- answered then. Audited as one event, with counts and never a value.
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local json = require("sova.json")
local log = require("sova.log")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local patient_csv = require("sova.patient_csv")
local patient_list = require("sova.patient_list")
local patient_search = require("sova.patient_search")
local patient_counts = require("sova.patient_counts")
local vocabulary = require("sova.sandboxed.vocabulary")

local M = {}
local fail, db_ok = errors.fail, errors.db

M.MAX_ROWS = 2000
M.MAX_BYTES = 1024 * 1024 -- the HTTP server's body limit refuses more before it gets here
M.COLLECTION = "patient_imports"
local MODES = { validate = true, all_or_nothing = true, good_rows = true }
local FIELD_ERRORS = 50 -- of the errors, also in error.fields of a 422

local function body_of(ctx)
  local body = request.json_object(ctx.req)
  local bad = {}
  for k in pairs(body) do
    if k ~= "csv" and k ~= "mode" and k ~= "import_id" then bad[k] = "unknown field" end
  end
  if type(body.csv) ~= "string" or not body.csv:find("%S") then bad.csv = "the CSV file's text is required" end
  if not MODES[body.mode] then bad.mode = "must be validate, all_or_nothing or good_rows" end
  local id = body.import_id
  if id ~= nil and (type(id) ~= "string" or not id:match("^[%w_%-]+$") or #id < 8 or #id > 64) then
    bad.import_id = "must be 8 to 64 letters, digits, - or _"
  end
  if next(bad) then fail(422, "validation_failed", "the request is not valid", bad) end
  if #body.csv > M.MAX_BYTES then
    fail(413, "payload_too_large", ("the file is over %d bytes"):format(M.MAX_BYTES), { csv = "too large" })
  end
  return body
end

local function errors_array(list)
  local out = json.array()
  for i, e in ipairs(list) do
    out[i] = { row = e.row, column = e.column, field = e.field or json.null, message = e.message }
  end
  return out
end

-- the counts and errors every answer carries
local function summary(t)
  return { rows = t.rows, valid = #t.valid, invalid = t.invalid, errors = errors_array(t.errors),
    errors_truncated = t.errors_truncated == true }
end

-- 422 with the errors, both as the list and (the first few) as error.fields, "rows.<n>.<field>"
local function refused(t, message)
  local fields = {}
  for i = 1, math.min(#t.errors, FIELD_ERRORS) do
    local e = t.errors[i]
    fields[("rows.%d.%s"):format(e.row, e.field or e.column)] = e.message
  end
  local out = summary(t)
  out.error = { code = "validation_failed", message = message, fields = fields }
  return 422, out
end

local function hexes(ids)
  local out = json.array()
  for i, id in ipairs(ids) do out[i] = present.hex(id) end
  return out
end

-- the import's record: found again for a retry (the same file, by the same user), or made with
-- its ids and list positions reserved. -> record, state ("new" | "resume" | "done")
local function record_for(ctx, wf_key, body, t, user_key)
  local key = body.import_id or crypto.random_hex(16)
  local digest = crypto.sha256_hex(wf_key .. "\0" .. body.mode .. "\0" .. body.csv)
  local rec = db_ok(ctx.db:find_one(M.COLLECTION, { workflow = wf_key, key = key }))
  if rec then
    if rec.digest ~= digest or rec.user_id ~= user_key then
      fail(409, "import_id_used", "this import_id belongs to another import; choose the file again",
        { import_id = "already used for another file" })
    end
    if rec.rows ~= #t.valid then
      fail(409, "import_changed", "the workflow's fields changed since this import began; choose the file again",
        { import_id = "the file now reads differently" })
    end
    return rec, rec.status == "done" and "done" or "resume"
  end
  local ids = {}
  for i = 1, #t.valid do ids[i] = bson.oid() end
  local first = db_ok(patient_list.reserve(ctx.db, wf_key, #ids))
  local now = bson.now()
  rec = { _id = bson.oid(), workflow = wf_key, key = key, digest = digest, mode = body.mode, user_id = user_key,
    rows = #ids, patient_ids = bson.array(ids), first_seq = first, status = "writing", created_at = now, updated_at = now }
  db_ok(ctx.db:insert(M.COLLECTION, rec)) -- a duplicate key: the same import_id at once, 409
  return rec, "new"
end

-- write(ctx, wf_key, fields, rec, t, resumed) -> written ids | nil, written ids, err: each patient
-- not yet there (resumed: an earlier attempt may have written some), at its reserved position;
-- the file's first row the top of the list
local function write(ctx, wf_key, fields, rec, t, resumed)
  local ids, n, written = rec.patient_ids, rec.rows, {}
  for i, v in ipairs(t.valid) do
    local id = ids[i]
    local there, err
    if resumed then
      there, err = ctx.db:find_one("patients", { _id = id }, { projection = { _id = 1 } })
      if err then return nil, written, err end
    end
    if not there then
      local doc, now = v.doc, bson.now()
      doc._id, doc.workflow, doc.call_status = id, wf_key, vocabulary.call_status_label("not_started")
      doc.created_at, doc.updated_at = now, now
      patient_list.place(doc, rec.first_seq + n - i)
      local ok
      ok, err = patient_search.index(ctx.db, wf_key, fields, doc) -- first: terms without a patient match none
      if not ok then return nil, written, err end
      ok, err = ctx.db:insert("patients", doc)
      if not ok then return nil, written, err end
    end
    written[#written + 1] = id
  end
  -- read again, not counted as written: another request may have changed or deleted some since
  local pages, last = {}, nil
  for seq = rec.first_seq, rec.first_seq + n - 1 do
    local page = math.floor(seq / patient_list.PAGE)
    if page ~= last then pages[#pages + 1], last = page, page end
  end
  local ok, err = patient_counts.recount_many(ctx.db, wf_key, fields, written, pages)
  if not ok then return nil, written, err end
  return written
end

-- POST /api/workflows/{wf}/patients/import
function M.import(ctx, wf_key)
  local wf = patients.workflow(ctx, wf_key)
  local fields = wf.patient_schema.fields or {}
  local body = body_of(ctx)
  local t, why, status, row = patient_csv.read(fields, body.csv, { max_rows = M.MAX_ROWS })
  if not t then
    local code = status == 413 and "too_many_rows" or "invalid_csv"
    fail(status, code, why, { csv = row and ("row %d: %s"):format(row, why) or why })
  end
  local audit = { action = "import", resource_type = "patient",
    details = { workflow = wf_key, mode = body.mode, rows = t.rows, valid = #t.valid, invalid = t.invalid } }

  if body.mode == "validate" then
    audit.action = "import_check"
    patients.audit_or_503(ctx, audit)
    local out = summary(t)
    out.columns, out.preview = json.array(t.columns), json.array(t.preview)
    for _, p in ipairs(t.preview) do p.cells = json.array(p.cells) end
    return 200, out
  end
  if t.rows == 0 then return refused(t, "the file has no patients: only its header row") end
  if t.file_error then return refused(t, "the file's columns do not fit this workflow; nothing was imported") end
  if body.mode == "all_or_nothing" and t.invalid > 0 then
    return refused(t, ("%d of %d rows have errors; nothing was imported"):format(t.invalid, t.rows))
  end
  if #t.valid == 0 then return refused(t, "no row is valid; nothing was imported") end

  local user_key = ctx.user and ctx.user.id or nil
  local rec, state = record_for(ctx, wf_key, body, t, user_key)
  audit.resource_id, audit.details.import_id = present.hex(rec._id), rec.key
  audit.details.imported, audit.details.retry = rec.rows, state ~= "new" or nil
  patients.audit_or_503(ctx, audit)

  local written, partial = rec.patient_ids, nil
  if state ~= "done" then written, partial = write(ctx, wf_key, fields, rec, t, state == "resume") end
  if not written then
    -- the database's message may quote a document (a duplicate key's values): never logged
    log.warn("patient_import.interrupted", { import_id = present.hex(rec._id), written = #partial, rows = rec.rows })
    local out = summary(t)
    out.error = { code = "database_unavailable", message = ("the database failed after %d of %d patients were " ..
      "written; send the same request again (the same import_id) to finish without duplicates"):format(#partial, rec.rows) }
    out.import_id, out.imported, out.patient_ids = rec.key, #partial, hexes(partial)
    return 503, out
  end
  if state ~= "done" then
    db_ok(ctx.db:update(M.COLLECTION, { _id = rec._id }, { ["$set"] = { status = "done", updated_at = bson.now() } }))
  end
  local out = summary(t)
  out.import_id, out.imported, out.patient_ids = rec.key, #written, hexes(written)
  return state == "done" and 200 or 201, out
end

return M

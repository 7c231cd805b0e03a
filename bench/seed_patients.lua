-- Seeds N more patients into a clinic's workflow, each field made up from the workflow's
-- patient_schema (as the API would store them: list positions, search terms, the dashboard's
-- counts, call_status, timestamps), inserted 250 to a command.
--   sova script bench/seed_patients.lua [N] [ORG_SLUG] [WORKFLOW]
-- Defaults: 1000 patients, demo_clinic_alpha, prior_auth. Patient i is named "Bench Patient i"
-- (counting on from those already there), so a search can find one, a few or all of them.
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local patient_list = require("sova.patient_list")
local patient_search = require("sova.patient_search")
local patient_counts = require("sova.patient_counts")
local schema = require("sova.sandboxed.schema")

local n = tonumber(arg and arg[1]) or 1000
local slug = arg and arg[2] or "demo_clinic_alpha"
local wf = arg and arg[3] or "prior_auth"
assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = assert(h:find_one("organizations", { slug = slug }), "run setup_multi_tenant first")
local def = assert(org.workflows and org.workflows[wf], "no workflow " .. wf .. " in " .. slug)
local db = core.db.scoped(org._id)

local function value(f, i)
  if f.type == "select" then return f.options[i % #f.options + 1] end
  if f.type == "date" then return ("19%02d-%02d-%02d"):format(40 + i % 60, i % 12 + 1, i % 28 + 1) end
  if f.type == "datetime" then return ("2026-12-%02dT%02d:30:00"):format(i % 28 + 1, 8 + i % 9) end
  if f.type == "phone" then return ("+1516555%04d"):format(i % 10000) end
  if f.type == "email" then return ("bench.patient.%d@example.com"):format(i) end
  if f.type == "number" then
    local lo, hi = f.min or 0, f.max or 999
    return lo + i % (hi - lo + 1)
  end
  if f.type == "boolean" then return i % 2 == 0 end
  return ("%s %d"):format(f.label or f.key, i)
end

local batch, terms, counted = bson.array(), bson.array(), bson.array()
local function flush()
  if #batch > 0 then
    assert(h:command(bson.ordered { "insert", patient_search.COLLECTION, "documents", terms }))
    assert(h:command(bson.ordered { "insert", "patients", "documents", batch }))
    assert(h:command(bson.ordered { "insert", patient_counts.COUNTED, "documents", counted }))
  end
  batch, terms, counted = bson.array(), bson.array(), bson.array()
end

local counts = {}
local first = assert(patient_list.reserve(db, wf, n))
for k = 1, n do
  local seq = first + k - 1
  local now = bson.now()
  local input = {}
  for _, f in ipairs(def.patient_schema.fields) do input[f.key] = value(f, seq) end
  input.patient_name = ("Bench Patient %d"):format(seq)
  local doc, errs = schema.validate(def.patient_schema.fields, input, "create") -- as the API stores it
  if not doc then error(require("cjson").encode(errs)) end
  doc.organization_id, doc.workflow, doc.created_at, doc.updated_at = org._id, wf, now, now
  doc.call_status = "Not Started"
  doc._id = bson.oid()
  local snap = patient_counts.snapshot(def.patient_schema.fields, doc)
  patient_counts.tally(counts, nil, snap)
  counted[#counted + 1] = { _id = doc._id, organization_id = org._id, workflow = wf, counted = snap }
  batch[#batch + 1] = patient_list.place(doc, seq)
  local t = patient_search.document(wf, def.patient_schema.fields, doc)
  t.organization_id = org._id
  terms[#terms + 1] = t
  if #batch == 250 then flush() end
end
flush()
assert(patient_counts.counting(db, wf, def.patient_schema.fields))
assert(patient_counts.apply(db, wf, counts))
print(("seeded %d patients into %s %s"):format(n, slug, wf))
return 0

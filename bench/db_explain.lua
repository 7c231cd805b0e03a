-- What the database does with each query shape the patient list, search, view and dashboard send
-- (for bench/db_pages.sh): FerretDB's explain flags, and PostgreSQL's plan where FerretDB shows it.
--   sova script bench/db_explain.lua
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local patient_list = require("sova.patient_list")
local patient_search = require("sova.patient_search")
local o = bson.ordered

assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org, err = h:find_one("organizations", { slug = "demo_clinic_alpha" })
assert(org, err or "run setup_multi_tenant first")
local counter = h:find_one("patient_lists", { organization_id = org._id, workflow = "prior_auth" })
local top = counter and counter.next_seq or 0
local one = h:find_one("patients", { organization_id = org._id, workflow = "prior_auth" })

local shapes = {
  { "list page (equality on its page key)", o { "find", "patients", "filter",
    o { "organization_id", org._id, "workflow", "prior_auth", "list_page", math.floor(top / patient_list.PAGE) } } },
  { "the old list page (sorted by _id, limit 51)", o { "find", "patients", "filter",
    o { "organization_id", org._id, "workflow", "prior_auth" }, "sort", o { "_id", -1 }, "limit", 51 } },
  { "view (by _id)", o { "find", "patients", "filter", o { "_id", one and one._id or bson.oid(), "organization_id", org._id } } },
  { "search, sparse (one term in one block)", o { "find", "patient_terms", "filter",
    o { "organization_id", org._id, "workflow", "prior_auth", "list_block", math.floor(top / patient_search.BLOCK),
      "terms", "42" }, "limit", patient_search.BLOCK_CANDIDATES + 1 } },
  { "the old search (regular expression, sorted)", o { "find", "patients", "filter",
    o { "organization_id", org._id, "workflow", "prior_auth", "patient_name", o { "$regex", "Patient 42", "$options", "i" } },
    "sort", o { "list_seq", -1, "_id", -1 }, "limit", 51 } },
  { "dashboard (count by call_status)", o { "aggregate", "patients", "pipeline", bson.array {
    { ["$match"] = o { "organization_id", org._id, "workflow", "prior_auth" } },
    { ["$group"] = { _id = "$call_status", n = { ["$sum"] = 1 } } } }, "cursor", {} } },
}

local function plan_text(p, depth)
  if type(p) ~= "table" then return tostring(p) end
  local parts = {}
  for k, v in pairs(p) do
    if k == "Node Type" or k == "Index Name" or k == "Relation Name" then parts[#parts + 1] = tostring(v) end
  end
  for _, k in ipairs({ "Plans", "Plan" }) do
    if type(p[k]) == "table" then
      local kids = p[k][1] and p[k] or { p[k] }
      for _, kid in ipairs(kids) do parts[#parts + 1] = "(" .. plan_text(kid, (depth or 0) + 1) .. ")" end
    end
  end
  return table.concat(parts, " ")
end

for _, s in ipairs(shapes) do
  local res, err = h:command(o { "explain", s[2] })
  if not res then
    print(("%-55s explain failed: %s"):format(s[1], tostring(err)))
  else
    local plan = res.queryPlanner and res.queryPlanner.Plan
    print(("%-55s filterPushdown=%s sortPushdown=%s limitPushdown=%s plan: %s"):format(s[1],
      tostring(res.filterPushdown), tostring(res.sortPushdown), tostring(res.limitPushdown),
      plan and plan_text(plan) or "-"))
  end
end
return 0

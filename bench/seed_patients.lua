-- Seeds N prior_auth patients into Demo Clinic Alpha (for bench/api_list.sh).
-- sova script bench/seed_patients.lua [N]
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")

local n = tonumber(arg and arg[1]) or 1000
assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = assert(h:find_one("organizations", { slug = "demo_clinic_alpha" }), "run setup_multi_tenant first")
local db = core.db.scoped(org._id)
local statuses = { "Pending", "Approved", "Denied" }
for i = 1, n do
  local now = bson.now()
  assert(db:insert("patients", {
    workflow = "prior_auth", call_status = "Not Started", created_at = now, updated_at = now,
    patient_name = ("Bench Patient %04d"):format(i), date_of_birth = "1980-01-01",
    insurance_member_id = ("MBR%06d"):format(i), insurance_company_name = "Aetna",
    insurance_phone = "+15165550100", facility_name = "City Medical Center",
    provider_name = "Dr. Jane Wilson", provider_npi = "1234567890", cpt_code = "99213",
    appointment_time = "2026-12-01T14:30:00", prior_auth_status = statuses[i % 3 + 1],
  }))
end
print(("seeded %d patients"):format(n))
return 0

-- Health, tenant resolution by Host, and the seed script (against the real sova api + FerretDB).
local helpers = require("helpers")

describe("health, tenants and seeding #api", function()
  local db, api

  lazy_setup(function()
    db, api = helpers.setup()
  end)

  lazy_teardown(helpers.stop_all)

  describe("GET /api/health", function()
    it("answers 200 with the database ok", function()
      local res = helpers.http(api, "GET", "/api/health")
      assert.status(200, res)
      assert.same({ status = "ok", database = "ok" }, res.json)
    end)

    it("answers on any host, also one no clinic uses", function()
      local res = helpers.http(api, "GET", "/api/health", { host = "nobody.localhost" })
      assert.status(200, res)
    end)

    it("answers JSON", function()
      local res = helpers.http(api, "GET", "/api/health")
      assert.truthy((res.headers["content-type"] or ""):find("application/json", 1, true))
    end)
  end)

  describe("GET /api/tenant", function()
    it("gives Alpha's public branding and its two workflows on Alpha's host", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = helpers.ALPHA.host })
      assert.status(200, res)
      assert.equal("Demo Clinic Alpha", res.json.name)
      assert.equal("demo_clinic_alpha", res.json.slug)
      assert.is_table(res.json.branding)
      assert.equal("Demo Clinic Alpha", res.json.branding.company_name)
      local keys = {}
      for _, wf in ipairs(res.json.workflows) do
        assert.is_string(wf.label)
        keys[#keys + 1] = wf.key
      end
      table.sort(keys)
      assert.same({ "patient_questions", "prior_auth" }, keys)
    end)

    it("gives Beta's branding and only patient_questions on Beta's host", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = helpers.BETA.host })
      assert.status(200, res)
      assert.equal("demo_clinic_beta", res.json.slug)
      assert.equal(1, #res.json.workflows)
      assert.equal("patient_questions", res.json.workflows[1].key)
    end)

    it("resolves the production host names too", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = "democlinicbeta.datasova.com" })
      assert.status(200, res)
      assert.equal("demo_clinic_beta", res.json.slug)
    end)

    it("ignores the port and the case of the Host header", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = "DemoClinicAlpha.localhost:" .. api.port })
      assert.status(200, res)
      assert.equal("demo_clinic_alpha", res.json.slug)
    end)

    it("takes no clinic from X-Forwarded-Host unless told to", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = "democlinicalpha.localhost",
        headers = { ["X-Forwarded-Host"] = "democlinicbeta.localhost" } })
      assert.status(200, res)
      assert.equal("demo_clinic_alpha", res.json.slug)
    end)

    it("answers 404 unknown_tenant for a host no clinic uses", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = "democlinicgamma.localhost" })
      assert.status(404, res)
      assert.error_code("unknown_tenant", res)
      assert.is_string(res.json.error.message)
    end)

    it("leaks no schema, users or internal ids to the anonymous caller", function()
      local res = helpers.http(api, "GET", "/api/tenant", { host = helpers.ALPHA.host })
      assert.status(200, res)
      assert.falsy(res.body:find("patient_schema", 1, true))
      assert.falsy(res.body:find("adambehun22", 1, true))
      assert.falsy(res.body:find("hashed_password", 1, true))
      assert.falsy(res.body:find("argon2", 1, true))
      assert.is_nil(res.json._id)
    end)
  end)

  describe("unknown routes", function()
    it("answer 404 with a JSON error", function()
      local res = helpers.http(api, "GET", "/api/no-such-thing")
      assert.status(404, res)
      assert.is_table(res.json and res.json.error)
    end)
  end)

  describe("scripts/setup_multi_tenant.lua", function()
    it("seeded the two demo clinics with one admin each", function()
      assert.equal(2, helpers.count(db, "organizations"))
      local alpha = helpers.org_doc(db, helpers.ALPHA)
      local beta = helpers.org_doc(db, helpers.BETA)
      assert.equal(1, helpers.count(db, "users", { email = helpers.ALPHA.email, organization_id = alpha._id }))
      assert.equal(1, helpers.count(db, "users", { email = helpers.BETA.email, organization_id = beta._id }))
      local u = db:handle():find_one("users", { email = helpers.ALPHA.email })
      assert.equal("admin", u.role)
    end)

    it("keeps Alpha's prior_auth schema to the 13 fields of the plan", function()
      local alpha = helpers.org_doc(db, helpers.ALPHA)
      local fields = alpha.workflows.prior_auth.patient_schema.fields
      local keys = {}
      for i, f in ipairs(fields) do keys[i] = f.key end
      assert.same({
        "patient_name", "date_of_birth", "insurance_member_id", "insurance_company_name", "insurance_phone",
        "facility_name", "provider_name", "provider_npi", "cpt_code", "appointment_time", "supervisor_phone",
        "prior_auth_status", "reference_number",
      }, keys)
      assert.is_nil(helpers.org_doc(db, helpers.BETA).workflows.prior_auth)
    end)

    it("stores passwords as argon2id hashes only", function()
      local u = db:handle():find_one("users", { email = helpers.ALPHA.email })
      local found_hash = false
      for _, v in pairs(u) do
        if type(v) == "string" then
          assert.falsy(v:find(helpers.DEMO_PASSWORD, 1, true))
          if v:match("^%$argon2id%$") then found_hash = true end
        end
      end
      assert.is_true(found_hash)
    end)

    it("changes nothing and duplicates nothing when run again", function()
      local function snapshot()
        return {
          orgs = helpers.count(db, "organizations"),
          users = helpers.count(db, "users"),
          patients = helpers.count(db, "patients"),
          alpha_id = tostring(helpers.org_doc(db, helpers.ALPHA)._id),
          beta_id = tostring(helpers.org_doc(db, helpers.BETA)._id),
        }
      end
      local before = snapshot()
      local hash_before = db:handle():find_one("users", { email = helpers.BETA.email })
      helpers.seed(db)
      assert.same(before, snapshot())
      local hash_after = db:handle():find_one("users", { email = helpers.BETA.email })
      assert.equal(tostring(hash_before._id), tostring(hash_after._id))
      -- the demo users can still log in
      helpers.login_as(api, helpers.BETA)
    end)
  end)
end)

-- Behind a frontend host that rewrites /api/* to the API (Vercel, docs/deploy.md): the Host is the
-- API's own name and the clinic is in X-Forwarded-Host.
describe("tenants through a rewriting frontend host #api", function()
  local api

  lazy_setup(function()
    local _
    _, api = helpers.setup({ api = { env = { SOVA_FORWARDED_HOST_VIA = "sova-api.example.test" } } })
  end)
  lazy_teardown(helpers.stop_all)

  local function tenant(host, fwd)
    return helpers.http(api, "GET", "/api/tenant", { host = host, headers = fwd and { ["X-Forwarded-Host"] = fwd } or nil })
  end

  it("reads the clinic from X-Forwarded-Host on requests to the API's own name", function()
    assert.equal("demo_clinic_beta", tenant("sova-api.example.test", "democlinicbeta.datasova.com").json.slug)
    assert.equal("demo_clinic_alpha", tenant("SOVA-API.example.test:443", "DemoClinicAlpha.datasova.com").json.slug)
    assert.status(400, tenant("sova-api.example.test", nil)) -- no clinic named at all
    assert.status(404, tenant("sova-api.example.test", "democlinicgamma.datasova.com"))
    assert.status(400, tenant("sova-api.example.test", "bad_host!/x"))
  end)

  it("ignores it on requests addressed to a clinic's own host", function()
    assert.equal("demo_clinic_alpha", tenant("democlinicalpha.localhost", "democlinicbeta.localhost").json.slug)
  end)

  it("still refuses one clinic's token at the other's", function()
    local token = helpers.login_as(api, helpers.ALPHA)
    local res = helpers.http(api, "GET", "/api/me", { host = "sova-api.example.test", token = token,
      headers = { ["X-Forwarded-Host"] = "democlinicbeta.datasova.com" } })
    assert.status(403, res)
  end)
end)

-- Login, logout, /api/me and the audit of authentication events.
-- argon2 logins are slow (and slower under ASan): each user logs in once here, plus one extra
-- Alpha login for the logout case. Failed attempts stay well below the throttling limits
-- (throttle_spec.lua covers those).
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local function count_auth_audit(db, event_type, success)
  return helpers.count(db, "audit_logs", { event_type = event_type, success = success })
end

describe("authentication #api", function()
  local db, api
  local alpha_token, alpha_login, beta_token, beta_login

  lazy_setup(function()
    db, api = helpers.setup()
    alpha_token, alpha_login = helpers.login_as(api, ALPHA)
    beta_token, beta_login = helpers.login_as(api, BETA)
  end)

  lazy_teardown(helpers.stop_all)

  describe("POST /api/auth/login", function()
    it("logs the Alpha admin in with the organization, its workflows and their schemas", function()
      local j = alpha_login.json
      assert.is_string(j.token)
      assert.truthy(j.expires_at)
      assert.equal(ALPHA.email, j.user.email)
      assert.equal("admin", j.user.role)
      assert.truthy(tostring(j.user.id):match("^%x+$") and #j.user.id == 24)
      assert.equal("Demo Clinic Alpha", j.organization.name)
      assert.equal("demo_clinic_alpha", j.organization.slug)
      assert.is_table(j.organization.branding)
      assert.truthy(#j.organization.id == 24)
      local pa = j.organization.workflows.prior_auth
      assert.is_true(pa.enabled)
      assert.equal("Prior Authorization", pa.label)
      assert.equal(13, #pa.patient_schema.fields)
      assert.equal("patient_name", pa.patient_schema.fields[1].key)
      assert.is_table(j.organization.workflows.patient_questions)
    end)

    it("logs the Beta admin in with only Beta's workflow", function()
      local j = beta_login.json
      assert.equal(BETA.email, j.user.email)
      assert.equal("demo_clinic_beta", j.organization.slug)
      assert.is_table(j.organization.workflows.patient_questions)
      assert.is_nil(j.organization.workflows.prior_auth)
      local keys = {}
      for _, f in ipairs(j.organization.workflows.patient_questions.patient_schema.fields) do keys[f.key] = true end
      assert.is_true(keys.preferred_language) -- Beta's schema differs from Alpha's
    end)

    it("gives different users, organizations and sessions different tokens", function()
      assert.are_not.equal(alpha_token, beta_token)
      assert.are_not.equal(alpha_login.json.organization.id, beta_login.json.organization.id)
    end)

    it("issues an HS256 JWT for the sova-api audience with sub, org, sid, iat and exp", function()
      local header, claims = helpers.jwt.decode(alpha_token)
      assert.equal("HS256", header.alg)
      assert.equal("sova-api", claims.aud)
      assert.equal(alpha_login.json.user.id, claims.sub)
      assert.equal(alpha_login.json.organization.id, claims.org)
      assert.is_string(claims.sid)
      assert.is_number(claims.iat)
      assert.is_number(claims.exp)
      assert.is_true(claims.exp > os.time())
      -- an absolute lifetime, not an eternal token
      assert.is_true(claims.exp - claims.iat <= 24 * 3600)
    end)

    it("never returns the password or its hash", function()
      for _, res in ipairs({ alpha_login, beta_login }) do
        assert.falsy(res.body:find("argon2", 1, true))
        assert.falsy(res.body:find("hashed_password", 1, true))
        assert.falsy(res.body:find(helpers.DEMO_PASSWORD, 1, true))
      end
    end)

    it("answers 401 invalid_credentials for a wrong password", function()
      local token, res = helpers.login(api, ALPHA.host, ALPHA.email, "wrong password")
      assert.is_nil(token)
      assert.status(401, res)
      assert.error_code("invalid_credentials", res)
    end)

    it("answers an unknown email exactly as a wrong password", function()
      local _, wrong = helpers.login(api, ALPHA.host, ALPHA.email, "another wrong password")
      local _, unknown = helpers.login(api, ALPHA.host, "nobody@example.com", helpers.DEMO_PASSWORD)
      assert.status(401, unknown)
      assert.equal(wrong.body, unknown.body)
    end)

    it("refuses Alpha's admin on Beta's host with 403, even with the right password", function()
      local token, res = helpers.login(api, BETA.host, ALPHA.email, helpers.DEMO_PASSWORD)
      assert.is_nil(token)
      assert.status(403, res)
      assert.falsy(res.body:find("token", 1, true))
    end)

    it("refuses Beta's admin on Alpha's host with 403", function()
      local token, res = helpers.login(api, ALPHA.host, BETA.email, helpers.DEMO_PASSWORD)
      assert.is_nil(token)
      assert.status(403, res)
    end)

    it("answers 400 to malformed JSON", function()
      local res = helpers.http(api, "POST", "/api/auth/login", { raw = '{"email": "a@b.c", "password": ' })
      assert.status(400, res)
      assert.is_table(res.json and res.json.error)
    end)

    it("refuses non-string credentials without a server error", function()
      local res = helpers.http(api, "POST", "/api/auth/login", {
        body = { email = { ["$gt"] = "" }, password = { ["$ne"] = 1 } },
      })
      assert.is_true(res.status == 400 or res.status == 401 or res.status == 422, res.body)
      assert.is_nil(res.json.token)
    end)
  end)

  describe("GET /api/me", function()
    it("gives the user and the organization of the token", function()
      local res = helpers.http(api, "GET", "/api/me", { token = alpha_token })
      assert.status(200, res)
      assert.equal(ALPHA.email, res.json.user.email)
      assert.equal("demo_clinic_alpha", res.json.organization.slug)
    end)

    it("works for Beta on Beta's host", function()
      local res = helpers.http(api, "GET", "/api/me", { host = BETA.host, token = beta_token })
      assert.status(200, res)
      assert.equal(BETA.email, res.json.user.email)
    end)

    it("answers 401 without a token", function()
      local res = helpers.http(api, "GET", "/api/me")
      assert.status(401, res)
      assert.is_table(res.json.error)
    end)

    it("answers 401 to a token that is not Bearer", function()
      local res = helpers.http(api, "GET", "/api/me", { headers = { Authorization = "Basic " .. alpha_token } })
      assert.status(401, res)
    end)
  end)

  describe("POST /api/auth/logout", function()
    it("answers 204 and the token is refused afterwards", function()
      local token = helpers.login_as(api, ALPHA)
      assert.status(200, helpers.http(api, "GET", "/api/me", { token = token }))
      local res = helpers.http(api, "POST", "/api/auth/logout", { token = token })
      assert.status(204, res)
      assert.equal("", res.body)
      assert.status(401, helpers.http(api, "GET", "/api/me", { token = token }))
      assert.status(401, helpers.http(api, "GET", "/api/workflows/prior_auth/patients", { token = token }))
      -- logging out again with the dead token is refused too
      assert.status(401, helpers.http(api, "POST", "/api/auth/logout", { token = token }))
      -- the other session of the same user lives on
      assert.status(200, helpers.http(api, "GET", "/api/me", { token = alpha_token }))
    end)

    it("answers 401 without a token", function()
      assert.status(401, helpers.http(api, "POST", "/api/auth/logout"))
    end)
  end)

  describe("audit of authentication", function()
    it("records a successful login", function()
      local before = count_auth_audit(db, "login", true)
      local _, res = helpers.login(api, BETA.host, BETA.email, helpers.DEMO_PASSWORD)
      assert.status(200, res)
      assert.equal(before + 1, count_auth_audit(db, "login", true))
    end)

    it("records a failed login", function()
      local before = count_auth_audit(db, "login", false)
      local _, res = helpers.login(api, BETA.host, BETA.email, "not the password")
      assert.status(401, res)
      assert.equal(before + 1, count_auth_audit(db, "login", false))
    end)

    it("records a logout", function()
      local token = helpers.login_as(api, BETA)
      local before = helpers.count(db, "audit_logs", { event_type = "logout" })
      assert.status(204, helpers.http(api, "POST", "/api/auth/logout", { host = BETA.host, token = token }))
      assert.equal(before + 1, helpers.count(db, "audit_logs", { event_type = "logout" }))
    end)

    it("never stores the password in the audit trail", function()
      local docs = assert(db:handle():find("audit_logs", {}))
      assert.is_true(#docs > 0)
      local blob = helpers.json_encode(docs)
      assert.falsy(blob:find("wrong password", 1, true))
      assert.falsy(blob:find(helpers.DEMO_PASSWORD, 1, true))
    end)
  end)
end)

-- The audit trail: each PHI endpoint call writes exactly one record with the right action,
-- GET /api/audit is for admins of the own org, and PHI is not served when its audit record
-- cannot be written.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local bson = helpers.core.bson

local UA = "sova-spec/1.0 (audit)"

describe("audit #api", function()
  local db, api, f
  local users = {}
  local patient, session_id

  local function req(who, method, path, body, token)
    return f:req(who, method, path, body, { token = token, headers = { ["User-Agent"] = UA } })
  end

  local function newest_audit()
    local docs = assert(db:handle():find("audit_logs", {}, { sort = { _id = -1 }, limit = 1 }))
    return docs[1]
  end

  -- runs fn, asserts that exactly one audit record was written, and returns it
  local function one_record(fn)
    local before = helpers.count(db, "audit_logs")
    local res = fn()
    local after = helpers.count(db, "audit_logs")
    assert.equal(1, after - before, "audit records written by " .. tostring(res and res.request))
    return newest_audit(), res
  end

  local function check_record(rec, action, resource_id, path)
    assert.equal(action, rec.action)
    assert.is_string(rec.event_type)
    assert.is_string(rec.resource_type)
    if resource_id then assert.equal(resource_id, tostring(rec.resource_id)) end
    assert.equal(users[ALPHA], tostring(rec.user_id))
    assert.equal(tostring(helpers.org_doc(db, ALPHA)._id), tostring(rec.organization_id))
    assert.truthy(tostring(rec.endpoint):find(path, 1, true), "endpoint " .. tostring(rec.endpoint))
    assert.equal("127.0.0.1", rec.ip_address)
    assert.equal(UA, rec.user_agent)
    assert.is_true(rec.success)
    assert.is_true(bson.is_date(rec.timestamp), "timestamp must be a BSON date (for the 6-year TTL)")
    local age_ms = os.time() * 1000 - rec.timestamp["$date"]
    assert.is_true(age_ms > -60000 and age_ms < 60000)
  end

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    users[ALPHA] = select(2, f:login(ALPHA)).user.id
    f:login(BETA)
  end)

  lazy_teardown(helpers.stop_all)

  describe("each PHI endpoint writes exactly one record", function()
    it("create", function()
      local rec, res = one_record(function()
        return req(ALPHA, "POST", "/api/workflows/prior_auth/patients", helpers.valid_patient("prior_auth"))
      end)
      assert.status(201, res)
      patient = res.json
      check_record(rec, "create", patient.id, "/api/workflows/prior_auth/patients")
      session_id = f:session(ALPHA, patient, { transcript = { messages = bson.array(), summary = "approved" } })
    end)

    it("list", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/workflows/prior_auth/patients") end)
      assert.status(200, res)
      check_record(rec, "list", nil, "/api/workflows/prior_auth/patients")
    end)

    it("list with a search", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/workflows/prior_auth/patients?q=smith") end)
      assert.status(200, res)
      check_record(rec, "list", nil, "/api/workflows/prior_auth/patients")
    end)

    it("view", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/patients/" .. patient.id) end)
      assert.status(200, res)
      check_record(rec, "view", patient.id, "/api/patients/" .. patient.id)
    end)

    it("dashboard", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/workflows/prior_auth/dashboard") end)
      assert.status(200, res)
      check_record(rec, "dashboard", nil, "/api/workflows/prior_auth/dashboard")
    end)

    it("update", function()
      local rec, res = one_record(function()
        return req(ALPHA, "PATCH", "/api/patients/" .. patient.id, { reference_number = "AUTH123456" })
      end)
      assert.status(200, res)
      check_record(rec, "update", patient.id, "/api/patients/" .. patient.id)
    end)

    it("sessions list", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/patients/" .. patient.id .. "/sessions") end)
      assert.status(200, res)
      check_record(rec, "list", nil, "/api/patients/" .. patient.id .. "/sessions")
    end)

    it("session view", function()
      local rec, res = one_record(function() return req(ALPHA, "GET", "/api/sessions/" .. session_id) end)
      assert.status(200, res)
      check_record(rec, "view", session_id, "/api/sessions/" .. session_id)
    end)

    it("delete", function()
      local rec, res = one_record(function() return req(ALPHA, "DELETE", "/api/patients/" .. patient.id) end)
      assert.status(204, res)
      check_record(rec, "delete", patient.id, "/api/patients/" .. patient.id)
    end)

    it("keeps PHI out of the record", function()
      local docs = assert(db:handle():find("audit_logs", {}))
      local blob = helpers.json_encode(docs)
      assert.falsy(blob:find("John Smith", 1, true))
      assert.falsy(blob:find("ABC123456", 1, true))
      assert.falsy(blob:find((f:login(ALPHA)), 1, true))
    end)
  end)

  describe("GET /api/audit", function()
    it("gives an admin the own organization's records, newest first, with the documented fields", function()
      local res = req(ALPHA, "GET", "/api/audit?limit=5")
      assert.status(200, res)
      assert.is_true(#res.json.items >= 1 and #res.json.items <= 5)
      assert.truthy(res.json.next_cursor ~= nil)
      local alpha_org = tostring(helpers.org_doc(db, ALPHA)._id)
      for _, r in ipairs(res.json.items) do
        assert.equal(alpha_org, tostring(r.organization_id))
        for _, k in ipairs({ "event_type", "organization_id", "ip_address", "user_agent", "success", "timestamp" }) do
          assert.truthy(r[k] ~= nil, "audit item lacks " .. k)
        end
      end
      local saw_delete = false
      for _, r in ipairs(res.json.items) do
        if r.action == "delete" and tostring(r.resource_id) == patient.id then saw_delete = true end
      end
      assert.is_true(saw_delete, "the latest delete is not among the newest records: " .. res.body)
      for i = 2, #res.json.items do
        assert.is_true(tostring(res.json.items[i - 1].timestamp) >= tostring(res.json.items[i].timestamp))
      end
    end)

    it("pages with next_cursor", function()
      local first = req(ALPHA, "GET", "/api/audit?limit=2")
      assert.status(200, first)
      assert.is_string(first.json.next_cursor)
      local second = req(ALPHA, "GET", "/api/audit?limit=2&cursor=" .. first.json.next_cursor)
      assert.status(200, second)
      for _, a in ipairs(first.json.items) do
        for _, b in ipairs(second.json.items) do
          assert.are_not.same(a, b)
        end
      end
    end)

    it("answers 401 without a token and 403 for Beta's token on Alpha's host", function()
      assert.status(401, helpers.http(api, "GET", "/api/audit", { host = ALPHA.host }))
      assert.status(403, req(ALPHA, "GET", "/api/audit", nil, (f:login(BETA))))
    end)

    it("answers 403 to a user who is not an admin", function()
      local h = db:handle()
      local admin = assert(h:find_one("users", { email = ALPHA.email }))
      local staff = {}
      for k, v in pairs(admin) do staff[k] = v end
      staff._id = nil
      staff.email = "staff.member@example.com"
      staff.role = "staff"
      assert(h:insert("users", staff))
      local token = helpers.login(api, ALPHA.host, staff.email, helpers.DEMO_PASSWORD)
      assert.truthy(token, "the staff user could not log in")
      assert.status(200, req(ALPHA, "GET", "/api/workflows/prior_auth/patients", nil, token))
      local res = req(ALPHA, "GET", "/api/audit", nil, token)
      assert.status(403, res)
      assert.is_nil(res.json.items)
    end)
  end)

  describe("when the audit record cannot be written", function()
    -- A unique index on audit_logs.organization_id, with one record of Alpha's already there,
    -- makes every further Alpha audit insert fail with a duplicate key.
    local INDEX = "spec_block_audit"
    local victim

    lazy_setup(function()
      victim = f:patient(ALPHA, "patient_questions", { patient_name = "Audit Guarded" })
      local h = db:handle()
      -- Alpha's organization_id exactly as the API stores it in audit records (ObjectId or text)
      local last = assert(h:find_one("audit_logs", { resource_id = victim.id }) or
        h:find_one("audit_logs", { resource_id = helpers.oid(victim.id) }), "no audit record of the create")
      helpers.block_audit_writes(db, last.organization_id, INDEX)
    end)

    lazy_teardown(function() helpers.unblock_audit_writes(db, INDEX) end)

    it("serves no PHI: view, list and dashboard answer 503", function()
      for _, path in ipairs({ "/api/patients/" .. victim.id, "/api/workflows/patient_questions/patients",
        "/api/workflows/patient_questions/dashboard" }) do
        local res = req(ALPHA, "GET", path)
        assert.status(503, res)
        assert.falsy(res.body:find("Audit Guarded", 1, true))
        assert.is_table(res.json and res.json.error)
      end
    end)

    it("serves PHI again once the audit can be written", function()
      local h = db:handle()
      assert(h:command(bson.ordered({ "dropIndexes", "audit_logs", "index", INDEX })))
      local res = req(ALPHA, "GET", "/api/patients/" .. victim.id)
      assert.status(200, res)
      assert.equal("Audit Guarded", res.json.patient_name)
    end)
  end)

  describe("retention", function()
    it("the running API removes records older than 6 years on its own timer, with no request", function()
      local swept = helpers.start_api(db, { env = { SOVA_MAINTENANCE_SECONDS = "1" } })
      local h = db:handle()
      local org = helpers.org_doc(db, ALPHA)._id
      local year_ms = 365.25 * 24 * 3600 * 1000
      local function record(age_years, tag)
        assert(h:insert("audit_logs", {
          organization_id = org, event_type = "phi_access", action = "view", success = true,
          spec_retention = tag, timestamp = bson.date(os.time() * 1000 - age_years * year_ms),
        }))
      end
      -- inserted after the API started: the sweep at its start has run already
      record(7, "expired")
      record(6.1, "expired")
      record(5.9, "kept")
      helpers.wait_until(function()
        return helpers.count(db, "audit_logs", { spec_retention = "expired" }) == 0
      end, 15)
      assert.equal(1, helpers.count(db, "audit_logs", { spec_retention = "kept" }))
      local log = swept:log_text()
      assert.matches('"event":"audit.swept"', log, 1, true)
      assert.is_falsy(log:find('"event":"http"', 1, true), "the sweep must not need a request")
      swept:stop_clean()
      h:delete("audit_logs", { spec_retention = "kept" }, { multi = true })
    end)
  end)
end)

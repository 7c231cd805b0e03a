-- GET /api/sessions/{id}/scenario: a finished call as a `sova flow eval` scenario, for the org's
-- admins, with no PHI of the patient in it; audited as an export; 404 across tenants like the
-- other session routes. Tags: #api #eval
local helpers = require("helpers")
local core = helpers.core
local bson = core.bson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local eval = require("sova.tools.eval")
local jsonschema = require("sova.jsonschema")

describe("session scenarios #api #eval", function()
  local db, api, f, patient, session_id

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    patient = f:patient(ALPHA, "prior_auth")
    local t0 = os.time() * 1000 - 120000
    local function at(s) return bson.date(t0 + s * 1000) end
    local function msg(role, content, s) return { role = role, content = content, timestamp = at(s) } end
    -- the rep repeats the patient's details back, as reps do: every one of them must be replaced
    session_id = f:session(ALPHA, patient, {
      status = "incomplete", ended_by = "other_party", missing = bson.array({ "reference_number" }),
      outcome = { prior_auth_status = "Approved" }, reason = "the other party hung up",
      flow = { path = "clients/demo_clinic_alpha/prior_auth" },
      started_at = at(0), ended_at = at(40),
      transcript = { summary = "Status: incomplete. Patient John Smith.", messages = bson.array({
        msg("assistant", "Hi, this is Alexandra calling about our patient John Smith.", 1),
        msg("user", "Aetna provider services, this is Jennifer.", 3),
        msg("assistant", "Is prior authorization required for 9 9 2 1 3?", 3.2),
        msg("user", "I have John Smith, born March 15th, 1985, member ID ABC123456, for CPT 99213.", 12),
        msg("assistant", "Thank you.", 12.1),
        msg("user", "Smith's callback is (516) 555-1234, NPI 1234567890. It's approved.", 14),
        msg("assistant", "Could I please have a reference number for this call?", 14.2),
      }) },
    })
  end)
  lazy_teardown(helpers.stop_all)

  local function get(who, id, token)
    return f:req(who, "GET", "/api/sessions/" .. id .. "/scenario", nil, { token = token })
  end

  it("gives an admin the scenario YAML: the other party's lines with timing, the hang-up, the result", function()
    local res = get(ALPHA, session_id)
    assert.status(200, res)
    assert.matches("^text/yaml", res.headers["content-type"])
    assert.matches('attachment; filename="session-' .. session_id .. '.yaml"', res.headers["content-disposition"], 1, true)
    local doc = assert(core.yaml.decode(res.body))
    assert.is_true(jsonschema.validate(eval.schema(), doc))
    assert.equal(5, #doc.lines)
    assert.matches("^[%a ]+ provider services, this is Jennifer%.$", doc.lines[1]) -- the insurer's name replaced
    assert.equal(9, doc.lines[2].after) -- 12 s, 2.8 s after the agent's line of 3.2 s: rounded
    assert.is_string(doc.lines[3]) -- 1.8 s after the agent: said at the default 2 s
    assert.equal(26, doc.lines[4].silence)
    assert.equal("hangup", doc.lines[5])
    assert.equal("incomplete", doc.expect.status)
    assert.same({ prior_auth_status = "Approved" }, doc.expect.outcome)
    assert.same({ "reference_number" }, doc.expect.missing)
    assert.equal(3, doc.expect.max_turns)
  end)

  it("carries no value of the patient's record: synthetic fields, replaced in the lines too", function()
    local body = get(ALPHA, session_id).body
    for _, value in ipairs({ "John", "Smith", "1985", "March 15", "ABC123456", "A B C", "99213", "1234567890",
                             "555-1234", "5165551234", "Aetna", "City Medical Center", "Jane Wilson", "Alexandra" }) do
      assert.is_nil(body:find(value, 1, true), "the scenario contains " .. value .. ":\n" .. body)
    end
    local doc = core.yaml.decode(body)
    -- every field the flow reads, synthetic and of its type
    assert.matches("^%d%d%d%d%-%d%d%-%d%d$", doc.patient.date_of_birth)
    assert.matches("^%u%u%u%d%d%d%d%d%d$", doc.patient.insurance_member_id)
    assert.matches("^%+1515555%d%d%d%d$", doc.patient.supervisor_phone)
    assert.matches("^%a+ %a+$", doc.patient.patient_name)
    -- the rep's repetition of them reads the synthetic values, in the same forms
    local p = doc.patient
    local y, m, d = p.date_of_birth:match("^(%d+)%-(%d+)%-(%d+)$")
    assert.matches(p.patient_name .. ", born %a+ " .. tonumber(d) .. "%a%a, " .. y, doc.lines[2].say)
    assert.matches("member ID " .. p.insurance_member_id .. ", for CPT " .. p.cpt_code, doc.lines[2].say, 1, true)
    assert.matches("NPI " .. p.provider_npi, doc.lines[3], 1, true)
    assert.is_not_nil(m)
  end)

  it("is audited as a PHI-free export", function()
    local before = helpers.count(db, "audit_logs")
    assert.status(200, get(ALPHA, session_id))
    assert.equal(before + 1, helpers.count(db, "audit_logs"))
    local rec = assert(db:handle():find("audit_logs", {}, { sort = { _id = -1 }, limit = 1 }))[1]
    assert.equal("export", rec.action)
    assert.equal("session", rec.resource_type)
    assert.equal(session_id, tostring(rec.resource_id))
    assert.same({ format = "scenario", phi = false }, rec.details)
  end)

  it("answers 403 to a user who is not an admin", function()
    local h = db:handle()
    local admin = assert(h:find_one("users", { email = ALPHA.email }))
    local staff = {}
    for k, v in pairs(admin) do staff[k] = v end
    staff._id, staff.email, staff.role = nil, "scenario.staff@example.com", "staff"
    assert(h:insert("users", staff))
    local token = assert(helpers.login(api, ALPHA.host, staff.email, helpers.DEMO_PASSWORD))
    assert.status(200, f:req(ALPHA, "GET", "/api/sessions/" .. session_id, nil, { token = token }))
    local res = get(ALPHA, session_id, token)
    assert.status(403, res)
    assert.is_nil(res.body:find("Jennifer", 1, true))
  end)

  it("answers 404 to another clinic's admin, as for a session that does not exist", function()
    local res = get(BETA, session_id)
    assert.status(404, res)
    assert.equal("not_found", res.json.error.code)
    assert.status(404, get(ALPHA, tostring(bson.oid())))
  end)

  it("answers 409 while the call has not ended", function()
    local running = f:session(ALPHA, patient, { status = "in_progress", flow = { path = "clients/demo_clinic_alpha/prior_auth" } })
    local res = get(ALPHA, running)
    assert.status(409, res)
    assert.matches("has not ended", res.json.error.message, 1, true)
  end)
end)

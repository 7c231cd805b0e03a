-- The isolation matrix: every endpoint with an id, called with one clinic's token on the other
-- clinic's ids, answers 404 exactly as for an id that exists nowhere, and changes nothing;
-- lists, dashboards and the audit trail never mix organizations.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

describe("tenant isolation #api", function()
  local db, api, f
  local own = {} -- own[who] = {patient = patient json, session = session id hex}

  -- the endpoints that take an id: {method, path template, body}
  local function endpoints(patient_id, session_id)
    return {
      { "GET", "/api/patients/" .. patient_id },
      { "PATCH", "/api/patients/" .. patient_id, { patient_name = "Hijacked" } },
      { "DELETE", "/api/patients/" .. patient_id },
      { "GET", "/api/patients/" .. patient_id .. "/sessions" },
      { "GET", "/api/sessions/" .. session_id },
    }
  end

  -- the body with every 24-hex id replaced, for comparing "foreign" with "nonexistent" answers
  local function normalized(body)
    return (tostring(body):gsub("%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x", "<id>"))
  end

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    f:login(ALPHA)
    f:login(BETA)
    own[ALPHA] = { patient = f:patient(ALPHA, "patient_questions", { patient_name = "Alpha Only Patient" }) }
    own[ALPHA].prior_auth = f:patient(ALPHA, "prior_auth", { patient_name = "Alpha Prior Auth Patient" })
    own[BETA] = { patient = f:patient(BETA, "patient_questions", { patient_name = "Beta Only Patient" }) }
    own[ALPHA].session = f:session(ALPHA, own[ALPHA].patient)
    own[BETA].session = f:session(BETA, own[BETA].patient)
  end)

  lazy_teardown(helpers.stop_all)

  for _, pair in ipairs({ { ALPHA, BETA }, { BETA, ALPHA } }) do
    local victim, attacker = pair[1], pair[2]
    local vname = victim == ALPHA and "Alpha" or "Beta"
    local aname = attacker == ALPHA and "Alpha" or "Beta"

    it(aname .. "'s token on each of " .. vname .. "'s ids answers 404 like an id that exists nowhere", function()
      local victim_set = endpoints(own[victim].patient.id, own[victim].session)
      local nowhere_set = endpoints(helpers.new_id(), helpers.new_id())
      local patients_before = helpers.count(db, "patients")
      for i, e in ipairs(victim_set) do
        local res = f:req(attacker, e[1], e[2], e[3])
        assert.status(404, res)
        local ghost = f:req(attacker, nowhere_set[i][1], nowhere_set[i][2], nowhere_set[i][3])
        assert.status(404, ghost)
        assert.equal(normalized(ghost.body), normalized(res.body), e[1] .. " " .. e[2])
        assert.falsy(res.body:find(own[victim].patient.patient_name, 1, true))
        assert.falsy(res.body:find("summary of", 1, true))
      end
      -- nothing changed: the victim's patient is intact and still readable by its owner
      assert.equal(patients_before, helpers.count(db, "patients"))
      local mine = f:req(victim, "GET", "/api/patients/" .. own[victim].patient.id)
      assert.status(200, mine)
      assert.equal(own[victim].patient.patient_name, mine.json.patient_name)
      assert.equal(own[victim].patient.updated_at, mine.json.updated_at)
      assert.status(200, f:req(victim, "GET", "/api/sessions/" .. own[victim].session))
    end)

    it(aname .. "'s list never shows " .. vname .. "'s patients", function()
      local res = f:req(attacker, "GET", "/api/workflows/patient_questions/patients?limit=100")
      assert.status(200, res)
      assert.is_true(#res.json.items >= 1)
      local org = helpers.org_doc(db, attacker)._id
      for _, p in ipairs(res.json.items) do
        assert.are_not.equal(own[victim].patient.id, p.id)
        local doc = db:handle():find_one("patients", { _id = helpers.oid(p.id) })
        assert.equal(tostring(org), tostring(doc.organization_id))
      end
      assert.falsy(res.body:find(own[victim].patient.patient_name, 1, true))
    end)

    it(aname .. "'s search for " .. vname .. "'s patient's name finds nothing", function()
      local q = own[victim].patient.patient_name:gsub(" ", "%%20")
      local res = f:req(attacker, "GET", "/api/workflows/patient_questions/patients?q=" .. q)
      assert.status(200, res)
      assert.equal(0, #res.json.items)
    end)

    it(aname .. "'s dashboard counts only " .. aname .. "'s patients", function()
      local res = f:req(attacker, "GET", "/api/workflows/patient_questions/dashboard")
      assert.status(200, res)
      local org = helpers.org_doc(db, attacker)._id
      assert.equal(helpers.count(db, "patients", { organization_id = org, workflow = "patient_questions" }), res.json.total)
    end)

    it(aname .. "'s audit trail holds only " .. aname .. "'s records", function()
      local res = f:req(attacker, "GET", "/api/audit?limit=100")
      assert.status(200, res)
      assert.is_true(#res.json.items >= 1)
      local org = tostring(helpers.org_doc(db, attacker)._id)
      for _, r in ipairs(res.json.items) do
        assert.equal(org, tostring(r.organization_id))
      end
      -- (the attacker's own failed attempts may name the victim's ids: the attacker sent them)
      assert.falsy(res.body:find(own[victim].patient.patient_name, 1, true))
    end)
  end

  it("Beta's token cannot reach Alpha's prior_auth workflow at all (404)", function()
    local before = helpers.count(db, "patients")
    assert.status(404, f:req(BETA, "GET", "/api/workflows/prior_auth/patients"))
    assert.status(404, f:req(BETA, "GET", "/api/workflows/prior_auth/dashboard"))
    assert.status(404, f:req(BETA, "POST", "/api/workflows/prior_auth/patients", helpers.valid_patient("prior_auth")))
    assert.status(404, f:req(BETA, "GET", "/api/patients/" .. own[ALPHA].prior_auth.id))
    assert.equal(before, helpers.count(db, "patients"))
  end)

  it("a patient's id on the wrong workflow's list is not there", function()
    local res = f:req(ALPHA, "GET", "/api/workflows/prior_auth/patients?limit=100")
    assert.status(200, res)
    for _, p in ipairs(res.json.items) do
      assert.equal("prior_auth", p.workflow)
      assert.are_not.equal(own[ALPHA].patient.id, p.id)
    end
  end)

  it("Alpha's token on Beta's host answers 403 and shows nothing", function()
    local res = helpers.http(api, "GET", "/api/patients/" .. own[BETA].patient.id,
      { host = BETA.host, token = (f:login(ALPHA)) })
    assert.status(403, res)
    assert.falsy(res.body:find("Beta Only Patient", 1, true))
    res = helpers.http(api, "GET", "/api/patients/" .. own[ALPHA].patient.id,
      { host = BETA.host, token = (f:login(ALPHA)) })
    assert.status(403, res)
    assert.falsy(res.body:find("Alpha Only Patient", 1, true))
  end)

  it("a client-supplied organization_id in a query string changes nothing", function()
    local beta_org = tostring(helpers.org_doc(db, BETA)._id)
    local res = f:req(ALPHA, "GET", "/api/workflows/patient_questions/patients?limit=100&organization_id=" .. beta_org)
    assert.is_true(res.status == 200 or res.status == 400, res.body)
    if res.status == 200 then
      assert.falsy(res.body:find("Beta Only Patient", 1, true))
    end
  end)
end)

-- Hostile input gets a clear 4xx, changes nothing in the database, and leaves the API serving.
local helpers = require("helpers")
local ALPHA = helpers.ALPHA

describe("hostile input #api", function()
  local db, api, token, patient

  local function req(method, path, opts)
    opts = opts or {}
    opts.host = opts.host or ALPHA.host
    if opts.token == nil then opts.token = token end
    return helpers.http(api, method, path, opts)
  end

  -- a fingerprint of every patient document, to prove that nothing changed
  local function snapshot()
    local docs = assert(db:handle():find("patients", {}, { sort = { _id = 1 } }))
    return helpers.canonical(docs)
  end

  local function unchanged(before)
    assert.equal(before, snapshot(), "the patients collection changed")
  end

  lazy_setup(function()
    db, api = helpers.setup()
    local f = helpers.factory(db, api)
    token = f:login(ALPHA)
    patient = f:patient(ALPHA, "prior_auth")
  end)

  lazy_teardown(helpers.stop_all)

  after_each(function()
    assert.is_true(api:alive(), "sova api died")
  end)

  describe("malformed JSON", function()
    for _, raw in ipairs({ "{", '{"patient_name": "x",}', "{'a': 1}", '{"a": tru}', "\255\254{}",
      '{"patient_name": "x"} trailing', "" }) do
      it("answers 400 to " .. string.format("%q", raw):sub(1, 40) .. " on create and update", function()
        local before = snapshot()
        local res = req("POST", "/api/workflows/prior_auth/patients", { raw = raw })
        assert.status(400, res)
        assert.is_table(res.json and res.json.error)
        assert.is_string(res.json.error.code)
        res = req("PATCH", "/api/patients/" .. patient.id, { raw = raw })
        assert.status(400, res)
        unchanged(before)
      end)
    end

    it("answers 400 to JSON nested a thousand levels deep", function()
      local before = snapshot()
      local raw = '{"patient_name": ' .. string.rep("[", 1000) .. string.rep("]", 1000) .. "}"
      local res = req("POST", "/api/workflows/prior_auth/patients", { raw = raw })
      assert.is_true(res.status == 400 or res.status == 422, res.status .. " " .. res.body)
      unchanged(before)
    end)
  end)

  describe("bodies over 1 MiB", function()
    it("answers 413 to a 1.5 MiB create", function()
      local before = snapshot()
      local big = helpers.json_encode(helpers.valid_patient("prior_auth", "alpha",
        { reference_number = string.rep("A", 1536 * 1024) }))
      local res = req("POST", "/api/workflows/prior_auth/patients", { raw = big })
      assert.status(413, res)
      unchanged(before)
    end)

    it("answers 413 to a 1.5 MiB update and a 1.5 MiB login", function()
      local before = snapshot()
      local big = '{"reference_number": "' .. string.rep("B", 1536 * 1024) .. '"}'
      assert.status(413, req("PATCH", "/api/patients/" .. patient.id, { raw = big }))
      local login = '{"email": "' .. ALPHA.email .. '", "password": "' .. string.rep("p", 1536 * 1024) .. '"}'
      assert.status(413, req("POST", "/api/auth/login", { raw = login, token = false }))
      unchanged(before)
    end)

    it("refuses a Content-Length over 1 MiB before reading the body", function()
      local res = req("POST", "/api/workflows/prior_auth/patients", {
        raw = "{}", headers = { ["Content-Length"] = tostring(50 * 1024 * 1024) }, timeout_ms = 10000,
      })
      assert.status(413, res)
    end)
  end)

  describe("ids that are not ObjectIds", function()
    for _, id in ipairs({ "abc", "123", "zzzzzzzzzzzzzzzzzzzzzzzz", "0123456789abcdef0123456", "0123456789abcdef012345678",
      "%24gt", "%7B%22%24gt%22%3A%22%22%7D", "null", "undefined", "..%2F..%2Fetc%2Fpasswd", "%00" }) do
      it("answer 404 for /api/patients/" .. id, function()
        local before = snapshot()
        for _, e in ipairs({ { "GET", "" }, { "PATCH", "" }, { "DELETE", "" }, { "GET", "/sessions" } }) do
          local res = req(e[1], "/api/patients/" .. id .. e[2], e[1] == "PATCH" and { body = { patient_name = "X" } } or nil)
          assert.status(404, res)
          assert.is_table(res.json and res.json.error)
        end
        assert.status(404, req("GET", "/api/sessions/" .. id))
        unchanged(before)
      end)
    end

    it("answer 404 for a well-formed ObjectId that exists nowhere", function()
      local id = helpers.new_id()
      assert.status(404, req("GET", "/api/patients/" .. id))
      assert.status(404, req("DELETE", "/api/patients/" .. id))
      assert.status(404, req("PATCH", "/api/patients/" .. id, { body = { patient_name = "X" } }))
    end)

    it("answer 404 or the same patient for the upper-case hex of an existing id", function()
      local res = req("GET", "/api/patients/" .. patient.id:upper())
      assert.is_true(res.status == 404 or res.status == 200, res.body)
    end)
  end)

  describe("field values", function()
    local function refused(body, key)
      local before = snapshot()
      local res = req("POST", "/api/workflows/prior_auth/patients", { body = body })
      assert.status(422, res)
      assert.is_string(res.json.error.fields[key], res.body)
      res = req("PATCH", "/api/patients/" .. patient.id, { body = { [key] = body[key] } })
      assert.status(422, res)
      unchanged(before)
    end

    it("refuses a 100 KB string (422)", function()
      refused(helpers.valid_patient("prior_auth", "alpha", { facility_name = string.rep("x", 100 * 1024) }), "facility_name")
    end)

    it("refuses NUL bytes (422)", function()
      refused(helpers.valid_patient("prior_auth", "alpha", { facility_name = "City\0Medical" }), "facility_name")
    end)

    it("refuses operator objects (422)", function()
      refused(helpers.valid_patient("prior_auth", "alpha", { facility_name = { ["$gt"] = "" } }), "facility_name")
      refused(helpers.valid_patient("prior_auth", "alpha", { cpt_code = { ["$where"] = "sleep(1000)" } }), "cpt_code")
    end)

    it("refuses keys with $ or dots, and a key with a NUL byte (422 or 400)", function()
      local before = snapshot()
      for _, raw in ipairs({ '{"$set": {"call_status": "Completed"}}', '{"a.b": 1}', '{"patient_name\\u0000x": "y"}' }) do
        local res = req("POST", "/api/workflows/prior_auth/patients", { raw = raw })
        assert.is_true(res.status == 422 or res.status == 400, raw .. " -> " .. res.status .. " " .. res.body)
        res = req("PATCH", "/api/patients/" .. patient.id, { raw = raw })
        assert.is_true(res.status == 422 or res.status == 400, raw .. " -> " .. res.status .. " " .. res.body)
      end
      unchanged(before)
    end)

    it("refuses a body with thousands of keys", function()
      local before = snapshot()
      local t = helpers.valid_patient("prior_auth")
      for i = 1, 5000 do t["k" .. i] = i end
      local res = req("POST", "/api/workflows/prior_auth/patients", { body = t })
      assert.is_true(res.status == 422 or res.status == 400, res.status .. " " .. res.body)
      unchanged(before)
    end)
  end)

  describe("query strings", function()
    it("refuse operator-looking and oversized parameters without a server error", function()
      for _, q in ipairs({ "?q=%24where", "?q=" .. string.rep("a", 5000), "?q=%00", "?q[$gt]=", "?limit[$gt]=1",
        "?cursor=%7B%22%24gt%22%3A%22%22%7D", "?q=%E0%80%80" }) do
        local res = req("GET", "/api/workflows/prior_auth/patients" .. q)
        assert.is_true(res.status == 200 or res.status == 400 or res.status == 422, q .. " -> " .. res.status .. " " .. res.body)
        assert.is_table(res.json)
      end
    end)
  end)

  describe("the Host header", function()
    it("answers 4xx, not 500, to a missing or odd host", function()
      for _, host in ipairs({ "", "democlinicalpha.localhost.evil.com", "evil.com", "democlinicalpha", "a:b:c" }) do
        local res = helpers.http(api, "GET", "/api/tenant", { host = host })
        assert.is_true(res.status == 400 or res.status == 404, "host " .. host .. " -> " .. res.status)
      end
    end)
  end)

  it("keeps serving afterwards", function()
    assert.status(200, helpers.http(api, "GET", "/api/health"))
    local res = req("GET", "/api/patients/" .. patient.id)
    assert.status(200, res)
    assert.equal(patient.patient_name, res.json.patient_name)
  end)
end)

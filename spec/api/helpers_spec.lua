-- The spec harness itself: FerretDB start/stop/restart with the in-process handle, token forging
-- pieces, assertions. Needs no API code.
local helpers = require("helpers")
local jwt = helpers.jwt

describe("spec helpers #api #helpers", function()
  local db

  lazy_setup(function()
    db = helpers.start_db()
  end)

  lazy_teardown(helpers.stop_all)

  it("start FerretDB on loopback with a fresh data directory", function()
    assert.truthy(db.uri:match("^mongodb://127%.0%.0%.1:%d+/sova_test$"))
    assert.truthy(db.dir:find("/.test-runs/", 1, true))
    assert.is_true(db:alive())
    assert.equal(0, helpers.count(db, "patients"))
  end)

  it("keep the data across a database restart on the same port", function()
    local h = db:handle()
    assert.truthy(h:insert("spec_probe", { n = 1 }))
    local port = db.port
    db:stop()
    assert.is_false(db:alive())
    db:start()
    assert.equal(port, db.port)
    assert.equal(1, helpers.wait_until(function() return helpers.count(db, "spec_probe") end, 10))
  end)

  it("round-trip base64url and HS256 signatures against sova.core's token.verify", function()
    for _, s in ipairs({ "", "a", "ab", "abc", "abcd", "\0\255\128 binary" }) do
      assert.equal(s, jwt.b64url_decode(jwt.b64url_encode(s)))
    end
    local claims = { sub = "u", org = "o", sid = "s", aud = "sova-api", iat = os.time(), exp = os.time() + 60 }
    local ours = jwt.sign_hs256({ alg = "HS256", typ = "JWT" }, claims, helpers.JWT_SECRET)
    assert.truthy(helpers.core.token.verify(ours, helpers.JWT_SECRET, "sova-api"))
    local header, decoded = jwt.decode(jwt.core_sign(claims, helpers.JWT_SECRET))
    assert.equal("HS256", header.alg)
    assert.equal("o", decoded.org)
    local hs512 = jwt.sign_hs512({ alg = "HS512", typ = "JWT" }, claims, helpers.JWT_SECRET)
    assert.equal(86, #select(3, jwt.decode(hs512))[3]) -- 64-byte MAC
    assert.falsy(helpers.core.token.verify(hs512, helpers.JWT_SECRET, "sova-api"))
  end)

  it("print the body when assert.status fails", function()
    local ok, err = pcall(assert.status, 200, { status = 404, body = '{"error":{"code":"not_found"}}', request = "GET /x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("not_found", 1, true))
    assert.truthy(tostring(err):find("GET /x", 1, true))
  end)

  it("give fresh copies of the patient fixtures, with overrides", function()
    local a = helpers.valid_patient("prior_auth", "alpha", { cpt_code = "12345", reference_number = helpers.NONE })
    assert.equal("12345", a.cpt_code)
    assert.equal("99213", helpers.valid_patient("prior_auth").cpt_code)
    assert.truthy(helpers.valid_patient("patient_questions", "beta").preferred_language)
  end)
end)

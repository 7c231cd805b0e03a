-- Forged, altered and misused tokens. The API's secret is SOVA_JWT_SECRET = helpers.JWT_SECRET,
-- so these specs can sign tokens exactly as the API does, then break one thing at a time.
local helpers = require("helpers")
local jwt = helpers.jwt
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local HEADER = { alg = "HS256", typ = "JWT" }
local ME = "/api/me"
local PHI = "/api/workflows/patient_questions/patients"

describe("tokens #api", function()
  local db, api
  local alpha_token, beta_token, alpha_claims, beta_claims

  local function get(path, token, host)
    return helpers.http(api, "GET", path, { token = token, host = host or ALPHA.host })
  end

  -- asserts that a token is refused with 401 on /api/me and on a PHI list
  local function refused(token)
    for _, path in ipairs({ ME, PHI }) do
      local res = get(path, token)
      assert.status(401, res)
      assert.is_table(res.json and res.json.error)
      assert.is_nil(res.json.items)
    end
  end

  lazy_setup(function()
    db, api = helpers.setup()
    alpha_token = helpers.login_as(api, ALPHA)
    beta_token = helpers.login_as(api, BETA)
    alpha_claims = select(2, jwt.decode(alpha_token))
    beta_claims = select(2, jwt.decode(beta_token))
  end)

  lazy_teardown(helpers.stop_all)

  it("accepts a token re-signed with the real secret and the same claims (control)", function()
    -- proves the forgeries below fail for the one thing each changes, not for the signing
    assert.status(200, get(ME, jwt.sign_hs256(HEADER, alpha_claims, helpers.JWT_SECRET)))
    assert.status(200, get(ME, jwt.core_sign(alpha_claims, helpers.JWT_SECRET)))
  end)

  it("refuses alg none", function()
    refused(jwt.assemble({ alg = "none", typ = "JWT" }, alpha_claims, ""))
    refused(jwt.assemble({ alg = "none", typ = "JWT" }, alpha_claims, "") :gsub("%.$", ""))
    refused(jwt.assemble({ alg = "None" }, alpha_claims, ""))
  end)

  it("refuses HS512 signed with the real secret", function()
    refused(jwt.sign_hs512({ alg = "HS512", typ = "JWT" }, alpha_claims, helpers.JWT_SECRET))
  end)

  it("refuses an HS256 header over a signature made with another algorithm", function()
    local h512 = jwt.sign_hs512({ alg = "HS512", typ = "JWT" }, alpha_claims, helpers.JWT_SECRET)
    local _, _, parts = jwt.decode(h512)
    refused(jwt.b64url_encode(helpers.json_encode(HEADER)) .. "." .. parts[2] .. "." .. parts[3])
  end)

  it("refuses an expired token", function()
    local c = jwt.copy(alpha_claims)
    c.iat = os.time() - 7200
    c.exp = os.time() - 3600
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
  end)

  it("refuses a token without exp", function()
    local c = jwt.copy(alpha_claims)
    c.exp = nil
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
  end)

  it("refuses a token for another audience", function()
    local c = jwt.copy(alpha_claims)
    c.aud = "sova-bot"
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
    c.aud = nil
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
  end)

  it("refuses a token whose org claim was switched to Beta's, signature kept", function()
    local _, _, parts = jwt.decode(alpha_token)
    local c = jwt.copy(alpha_claims)
    c.org = beta_claims.org
    local forged = parts[1] .. "." .. jwt.b64url_encode(helpers.json_encode(c)) .. "." .. parts[3]
    refused(forged)
    local res = get(PHI, forged, BETA.host)
    assert.status(401, res)
  end)

  it("refuses a token whose sub was switched to Beta's user, signature kept", function()
    local _, _, parts = jwt.decode(alpha_token)
    local c = jwt.copy(alpha_claims)
    c.sub = beta_claims.sub
    refused(parts[1] .. "." .. jwt.b64url_encode(helpers.json_encode(c)) .. "." .. parts[3])
  end)

  it("refuses a token signed with another secret", function()
    refused(jwt.sign_hs256(HEADER, alpha_claims, helpers.core.crypto.random_hex(32)))
  end)

  it("refuses a correctly signed token whose session does not exist", function()
    local c = jwt.copy(alpha_claims)
    c.sid = helpers.core.crypto.random_hex(16)
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
    c.sid = nil
    refused(jwt.core_sign(c, helpers.JWT_SECRET))
  end)

  it("refuses a correctly signed token mixing Alpha's session with Beta's org and user", function()
    local c = jwt.copy(alpha_claims)
    c.org, c.sub = beta_claims.org, beta_claims.sub
    local forged = jwt.core_sign(c, helpers.JWT_SECRET)
    -- on Beta's host (where the org claim fits) the session must not pass for Beta's user
    assert.status(401, get(ME, forged, BETA.host))
    assert.status(401, get(PHI, forged, BETA.host))
    -- on Alpha's host it is another clinic's token: 403 wrong tenant (or 401)
    local res = get(PHI, forged, ALPHA.host)
    assert.is_true(res.status == 401 or res.status == 403, res.body)
    assert.is_nil(res.json.items)
  end)

  it("refuses garbage", function()
    for _, t in ipairs({ "", "x", "a.b.c", "..", alpha_token .. "x", alpha_token:sub(1, -3),
      string.rep("A", 10000), alpha_token .. "." .. alpha_token }) do
      refused(t)
    end
  end)

  it("answers 403 wrong tenant to Beta's valid token on Alpha's host", function()
    local res = get(ME, beta_token, ALPHA.host)
    assert.status(403, res)
    res = get(PHI, beta_token, ALPHA.host)
    assert.status(403, res)
    assert.is_nil(res.json.items)
    assert.status(403, get(PHI, alpha_token, BETA.host))
  end)

  it("answers 401 to a valid token on a host no clinic uses, or 404 unknown_tenant", function()
    local res = get(ME, alpha_token, "nobody.localhost")
    assert.is_true(res.status == 404 or res.status == 401 or res.status == 403, res.body)
    assert.is_nil(res.json.user)
  end)

  it("signs a session out after 15 minutes without activity", function()
    -- the login session behind the sid claim lives in auth_sessions (last_seen_at)
    local token = helpers.login_as(api, BETA)
    local sid = select(2, jwt.decode(token)).sid
    local h = db:handle()
    local filter = { _id = helpers.core.bson.oid(sid) or sid }
    assert.truthy(h:find_one("auth_sessions", filter), "no auth_sessions document for sid " .. tostring(sid))
    local function last_seen(minutes_ago)
      assert(h:update("auth_sessions", filter, { ["$set"] = {
        last_seen_at = helpers.core.bson.date((os.time() - minutes_ago * 60) * 1000) } }))
    end
    last_seen(14)
    assert.status(200, get(ME, token, BETA.host))
    last_seen(16)
    local res = get(ME, token, BETA.host)
    assert.status(401, res)
    -- and it stays signed out
    last_seen(0)
    assert.status(401, get(ME, token, BETA.host))
  end)

  it("refuses the tokens of a user disabled after login", function()
    local token = helpers.login_as(api, BETA)
    assert.status(200, get(ME, token, BETA.host))
    local h = db:handle()
    local user = assert(h:find_one("users", { email = BETA.email }))
    local status_before = user.status
    assert.truthy(h:update("users", { _id = user._id }, { ["$set"] = { status = "disabled" } }))
    local ok, err = pcall(function()
      assert.status(401, get(ME, token, BETA.host))
      assert.status(401, get(PHI, beta_token, BETA.host))
    end)
    -- re-enable for whatever runs after
    if status_before == nil then
      h:update("users", { _id = user._id }, { ["$unset"] = { status = "" } })
    else
      h:update("users", { _id = user._id }, { ["$set"] = { status = status_before } })
    end
    assert(ok, err)
  end)
end)

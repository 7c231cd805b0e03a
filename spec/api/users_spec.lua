-- User administration as a clinic's administrators, its staff and a hostile client use it:
-- inviting (a one-time link: only its hash stored, used once even when used twice at once,
-- expired, revoked, another clinic's link at this clinic's host), roles and disabling (a
-- disabled user's live token stops at once; nobody disables or demotes themself; two
-- administrators disabling each other at once leave one), password reset links and one's own
-- password change; staff refused every admin route, another clinic's users not found, every
-- change in the audit trail, and no password hash, token or password in any answer, audit record
-- or log line. Tags: #api #users
local helpers = require("helpers")
local cjson = helpers.cjson
local core = helpers.core
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local PASSWORD = "correct horse battery staple"
-- requests at the same moment come from curl in the background: without the sanitizer preload
-- (under scripts/test a preloaded libasan can deadlock a child at its start) and with a deadline
local CURL = helpers.proc.shell_prefix() .. "curl --max-time 60"

describe("user administration #api #users", function()
  local db, api, f
  local answers = {} -- every body the API answered here, for the "no secret in any answer" check
  local secrets = {} -- tokens and passwords used here: none may appear in the audit trail or the log

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
  end)
  lazy_teardown(helpers.stop_all)

  local function keep(res)
    answers[#answers + 1] = res.body or ""
    return res
  end

  -- who's admin (or opts.token) at who's host
  local function req(who, method, path, body, token)
    return keep(f:req(who, method, path, body, token and { token = token } or nil))
  end

  -- no token at who's host
  local function anon(who, method, path, body)
    return keep(helpers.http(api, method, path, { host = who.host, body = body }))
  end

  local function token_of(link)
    local t = link:match("^/invite/(%x+)$") or link:match("^/reset/(%x+)$")
    assert(t and #t == 64, "a link with a token: " .. tostring(link))
    secrets[#secrets + 1] = t
    return t
  end

  local function invite(who, email, role, token)
    local res = req(who, "POST", "/api/users/invites", { email = email, role = role, name = "Invited " .. email }, token)
    assert.status(201, res)
    return res.json, token_of(res.json.link)
  end

  local function login(who, email, password)
    local token, res = helpers.login(api, who.host, email, password)
    keep(res)
    return token, res
  end

  -- a user of who's clinic made the real way (invited, accepted) and signed in: id, token
  local n = 0
  local function user(who, role)
    n = n + 1
    local email = ("user%d.%s@example.com"):format(n, role)
    local _, token = invite(who, email, role)
    local res = anon(who, "POST", "/api/invites/" .. token .. "/accept", { password = PASSWORD })
    assert.status(201, res)
    local signed = login(who, email, PASSWORD)
    assert.truthy(signed, "the invited user signs in")
    return res.json.user.id, signed, email
  end

  local function user_doc(id) return db:handle():find_one("users", { _id = helpers.oid(id) }) end
  local function db_text(coll) return helpers.canonical(db:handle():find(coll, {})) end

  it("an administrator invites; the invitee sees the invitation, accepts it and signs in with its role", function()
    local inv, token = invite(ALPHA, "  New.Nurse@Example.com ", "staff")
    assert.equal("new.nurse@example.com", inv.invite.email)
    assert.equal("staff", inv.invite.role)
    assert.is_false(inv.invite.expired)
    -- only the token's hash is stored
    local stored = db_text("user_tokens")
    assert.is_nil(stored:find(token, 1, true))
    assert.truthy(stored:find(core.crypto.sha256_hex(token), 1, true))

    local list = req(ALPHA, "GET", "/api/users")
    assert.status(200, list)
    local pending = {}
    for _, i in ipairs(list.json.invites) do pending[i.email] = i end
    assert.truthy(pending["new.nurse@example.com"])

    local show = anon(ALPHA, "GET", "/api/invites/" .. token)
    assert.status(200, show)
    assert.equal("new.nurse@example.com", show.json.email)
    assert.equal("Demo Clinic Alpha", show.json.clinic)

    local res = anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = PASSWORD, name = "Nora Nurse" })
    assert.status(201, res)
    assert.equal("staff", res.json.user.role)
    assert.equal("active", res.json.user.status)
    assert.equal("Nora Nurse", res.json.user.name)
    local doc = user_doc(res.json.user.id)
    assert.equal(tostring(helpers.org_doc(db, ALPHA)._id), tostring(doc.organization_id))
    assert.truthy(doc.hashed_password:find("^%$argon2id%$"))

    local tok, login_res = login(ALPHA, "new.nurse@example.com", PASSWORD)
    assert.truthy(tok, login_res.body)
    assert.equal("staff", login_res.json.user.role)
    -- the invitation is gone from the list, and its link from the web
    list = req(ALPHA, "GET", "/api/users")
    for _, i in ipairs(list.json.invites) do assert.not_equal("new.nurse@example.com", i.email) end
    local listed = false
    for _, u in ipairs(list.json.items) do listed = listed or u.email == "new.nurse@example.com" end
    assert.is_true(listed)
    assert.status(404, anon(ALPHA, "GET", "/api/invites/" .. token))
  end)

  it("an invitation link works once, even when five accept it at the same moment", function()
    local _, token = invite(ALPHA, "twice@example.com", "staff")
    local dir = helpers.proc.run_dir()
    local body = dir .. "/accept.json"
    local fh = assert(io.open(body, "wb"))
    fh:write(cjson.encode({ password = PASSWORD }))
    fh:close()
    local cmd = {}
    for i = 1, 5 do
      cmd[#cmd + 1] = (CURL .. " -s -o /dev/null -w '%%{http_code}' -H 'Host: %s' -H 'Content-Type: application/json' "
        .. "--data-binary @%s %s/api/invites/%s/accept > %s/accept%d.out &"):format(ALPHA.host, body, api.url, token, dir, i)
    end
    assert(os.execute(table.concat(cmd, " ") .. " wait"))
    local codes = {}
    for i = 1, 5 do
      local h = assert(io.open(("%s/accept%d.out"):format(dir, i)))
      local code = h:read("*a")
      h:close()
      codes[code] = (codes[code] or 0) + 1
    end
    assert.equal(1, codes["201"], cjson.encode(codes))
    assert.equal(4, codes["404"], cjson.encode(codes))
    assert.equal(1, helpers.count(db, "users", { email = "twice@example.com" }))
    -- and once more, later
    local res = anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = PASSWORD })
    assert.status(404, res)
    assert.error_code("link_invalid", res)
  end)

  it("an expired, a revoked, a malformed or another clinic's link is not found, and makes no account", function()
    local users_before = helpers.count(db, "users")
    local _, expired = invite(ALPHA, "late@example.com", "staff")
    assert(db:handle():update("user_tokens", { token_hash = core.crypto.sha256_hex(expired) },
      { ["$set"] = { expires_at = core.bson.date((os.time() - 1) * 1000) } }))
    local listed = req(ALPHA, "GET", "/api/users")
    for _, i in ipairs(listed.json.invites) do
      if i.email == "late@example.com" then assert.is_true(i.expired) end
    end
    local revoked_inv, revoked = invite(ALPHA, "revoked@example.com", "staff")
    assert.status(204, req(ALPHA, "DELETE", "/api/users/invites/" .. revoked_inv.invite.id))
    assert.status(404, req(ALPHA, "DELETE", "/api/users/invites/" .. revoked_inv.invite.id))
    local _, betas = invite(BETA, "beta.hire@example.com", "staff")

    for _, t in ipairs({ expired, revoked, betas, string.rep("0", 64), "nothex", string.rep("a", 5000) }) do
      local show = anon(ALPHA, "GET", "/api/invites/" .. t)
      assert.status(404, show)
      local res = anon(ALPHA, "POST", "/api/invites/" .. t .. "/accept", { password = PASSWORD })
      assert.status(404, res)
    end
    -- Beta's link at Beta's host still works: the refusal above was Alpha's wall, not a used link
    assert.status(200, anon(BETA, "GET", "/api/invites/" .. betas))
    assert.equal(users_before, helpers.count(db, "users"))
    -- a Beta admin cannot revoke Alpha's invitations
    local alpha_inv = invite(ALPHA, "walls@example.com", "staff")
    assert.status(404, req(BETA, "DELETE", "/api/users/invites/" .. alpha_inv.invite.id))
    assert.status(404, req(ALPHA, "DELETE", "/api/users/invites/not-an-id"))
  end)

  it("a new invitation of an email replaces its open one", function()
    local _, first = invite(ALPHA, "again@example.com", "staff")
    local _, second = invite(ALPHA, "again@example.com", "admin")
    assert.status(404, anon(ALPHA, "GET", "/api/invites/" .. first))
    local show = anon(ALPHA, "GET", "/api/invites/" .. second)
    assert.status(200, show)
    assert.equal("admin", show.json.role)
  end)

  it("refuses bad invitations field by field and writes nothing", function()
    local before = db_text("user_tokens")
    local cases = {
      { { email = "not an email", role = "staff" }, "email" },
      { { role = "staff" }, "email" },
      { { email = 42 }, "email" },
      { { email = string.rep("a", 250) .. "@example.com" }, "email" },
      { { email = "ok@example.com", role = "owner" }, "role" },
      { { email = "ok@example.com", name = string.rep("n", 101) }, "name" },
      { { email = "ok@example.com", name = "a\0b" }, "name" },
      { { email = "ok@example.com", hashed_password = "x" }, "hashed_password" },
    }
    for _, c in ipairs(cases) do
      local res = req(ALPHA, "POST", "/api/users/invites", c[1])
      assert.status(422, res)
      assert.is_string(res.json.error.fields[c[2]], c[2] .. ": " .. res.body)
    end
    assert.status(400, keep(helpers.http(api, "POST", "/api/users/invites", { host = ALPHA.host, token = f:login(ALPHA), raw = "[1]" })))
    -- a user of this clinic already
    local res = req(ALPHA, "POST", "/api/users/invites", { email = ALPHA.email:upper() })
    assert.status(409, res)
    assert.error_code("email_taken", res)
    assert.equal(before, db_text("user_tokens"))
  end)

  it("an invitation of an address with an account at another clinic fails when accepted", function()
    local _, token = invite(ALPHA, BETA.email, "staff") -- Alpha cannot know; the users index does
    local res = anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = PASSWORD })
    assert.status(409, res)
    assert.error_code("email_taken", res)
    assert.equal(1, helpers.count(db, "users", { email = BETA.email }))
    assert.status(404, anon(ALPHA, "GET", "/api/invites/" .. token))
  end)

  it("refuses a weak or oversized password per field, and the link still works after", function()
    local _, token = invite(ALPHA, "weak@example.com", "staff")
    for _, pw in ipairs({ "short", "", string.rep(" ", 20), string.rep("x", 1025), 12345678901234 }) do
      local res = anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = pw })
      assert.status(422, res)
      assert.is_string(res.json.error.fields.password)
    end
    local res = anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = PASSWORD, name = { "x" } })
    assert.status(422, res)
    assert.is_string(res.json.error.fields.name)
    assert.equal(0, helpers.count(db, "users", { email = "weak@example.com" }))
    -- twelve characters of any script are twelve characters
    assert.status(201, anon(ALPHA, "POST", "/api/invites/" .. token .. "/accept", { password = "ключключключ" }))
  end)

  it("staff are refused every administrator route, and nothing changes", function()
    local staff_id, staff = user(ALPHA, "staff")
    local other_id = user(ALPHA, "staff")
    local inv = invite(ALPHA, "pending@example.com", "staff")
    local before = db_text("users") .. db_text("user_tokens")
    local calls = {
      { "GET", "/api/users" },
      { "POST", "/api/users/invites", { email = "sneaky@example.com", role = "admin" } },
      { "DELETE", "/api/users/invites/" .. inv.invite.id },
      { "PATCH", "/api/users/" .. staff_id, { role = "admin" } },
      { "PATCH", "/api/users/" .. other_id, { status = "disabled" } },
      { "POST", "/api/users/" .. other_id .. "/password-reset" },
      { "GET", "/api/audit" },
    }
    for _, c in ipairs(calls) do
      local res = req(ALPHA, c[1], c[2], c[3], staff)
      assert.status(403, res)
      assert.error_code("forbidden", res)
    end
    assert.equal(before, db_text("users") .. db_text("user_tokens"))
  end)

  it("an administrator changes roles and names; another clinic's user is not found", function()
    local id, token, email = user(ALPHA, "staff")
    local res = req(ALPHA, "PATCH", "/api/users/" .. id, { role = "admin", name = "  Dana Admin " })
    assert.status(200, res)
    assert.equal("admin", res.json.role)
    assert.equal("Dana Admin", res.json.name)
    -- the new role holds for the live token at once
    assert.status(200, req(ALPHA, "GET", "/api/users", nil, token))
    assert.status(200, req(ALPHA, "PATCH", "/api/users/" .. id, { role = "staff" }))
    assert.status(403, req(ALPHA, "GET", "/api/users", nil, token))

    local before = db_text("users")
    for _, c in ipairs({
      { { role = "owner" }, "role" }, { { status = "gone" }, "status" }, { { name = "" }, "name" },
      { { email = "hijack@example.com" }, "email" }, { { hashed_password = "x" }, "hashed_password" },
      { { organization_id = "x" }, "organization_id" },
    }) do
      local r = req(ALPHA, "PATCH", "/api/users/" .. id, c[1])
      assert.status(422, r)
      assert.is_string(r.json.error.fields[c[2]], r.body)
    end
    assert.status(422, req(ALPHA, "PATCH", "/api/users/" .. id, {}))
    -- Beta's administrator: Alpha's user does not exist there
    assert.status(404, req(BETA, "PATCH", "/api/users/" .. id, { status = "disabled" }))
    assert.status(404, req(BETA, "POST", "/api/users/" .. id .. "/password-reset"))
    assert.status(404, req(ALPHA, "PATCH", "/api/users/" .. helpers.new_id(), { role = "admin" }))
    assert.status(404, req(ALPHA, "PATCH", "/api/users/zzz", { role = "admin" }))
    local listed = req(BETA, "GET", "/api/users")
    for _, u in ipairs(listed.json.items) do assert.not_equal(email, u.email) end
    assert.equal(before, db_text("users"))
  end)

  it("disabling a user ends their live token at once; enabling lets them sign in again", function()
    local id, token, email = user(ALPHA, "staff")
    assert.status(200, req(ALPHA, "GET", "/api/me", nil, token))
    local res = req(ALPHA, "PATCH", "/api/users/" .. id, { status = "disabled" })
    assert.status(200, res)
    assert.equal("disabled", res.json.status)
    assert.status(401, req(ALPHA, "GET", "/api/me", nil, token))
    assert.is_nil((login(ALPHA, email, PASSWORD)))
    assert.equal(0, helpers.count(db, "auth_sessions", { user_id = helpers.oid(id), revoked = false }))
    assert.status(200, req(ALPHA, "PATCH", "/api/users/" .. id, { status = "active" }))
    assert.status(401, req(ALPHA, "GET", "/api/me", nil, token)) -- the old sign-in stays ended
    assert.truthy((login(ALPHA, email, PASSWORD)))
  end)

  it("nobody disables or demotes themself; two administrators disabling each other at once leave one", function()
    local me = f:login(ALPHA)
    local my_id = select(2, f:login(ALPHA)).user.id
    for _, change in ipairs({ { status = "disabled" }, { role = "staff" } }) do
      local res = req(ALPHA, "PATCH", "/api/users/" .. my_id, change)
      assert.status(409, res)
      assert.error_code("cannot_change_self", res)
    end
    assert.status(200, req(ALPHA, "PATCH", "/api/users/" .. my_id, { name = "Adam B." }))
    assert.status(200, req(ALPHA, "GET", "/api/me", nil, me))

    -- Beta: its demo admin and a second one disable each other at the same moment
    local beta_me = f:login(BETA)
    local beta_my_id = select(2, f:login(BETA)).user.id
    local other_id, other = user(BETA, "admin")
    local dir = helpers.proc.run_dir()
    local body = dir .. "/disable.json"
    local fh = assert(io.open(body, "wb"))
    fh:write(cjson.encode({ status = "disabled" }))
    fh:close()
    local function curl(tok, target, out)
      return (CURL .. " -s -o /dev/null -w '%%{http_code}' -X PATCH -H 'Host: %s' -H 'Authorization: Bearer %s' "
        .. "-H 'Content-Type: application/json' --data-binary @%s %s/api/users/%s > %s &"):format(BETA.host, tok, body,
        api.url, target, out)
    end
    assert(os.execute(curl(beta_me, other_id, dir .. "/d1.out") .. " " .. curl(other, beta_my_id, dir .. "/d2.out") .. " wait"))
    local codes = {}
    for _, p in ipairs({ "/d1.out", "/d2.out" }) do
      local h = assert(io.open(dir .. p))
      codes[#codes + 1] = h:read("*a")
      h:close()
    end
    table.sort(codes)
    assert.equal("200", codes[1], cjson.encode(codes))
    -- the other: refused as the last admin (409), or its own sign-in already ended (401)
    assert.truthy(codes[2] == "409" or codes[2] == "401", cjson.encode(codes))
    local org = helpers.org_doc(db, BETA)._id
    assert.equal(1, helpers.count(db, "users", { organization_id = org, role = "admin", status = "active" }))
    -- whoever is left re-enables the other (for the specs after this one)
    local left = user_doc(beta_my_id).status == "active" and beta_me or other
    local gone = left == beta_me and other_id or beta_my_id
    assert.status(200, req(BETA, "PATCH", "/api/users/" .. gone, { status = "active" }, left))
    if gone == beta_my_id then f.tokens[BETA] = nil end -- its sign-in ended: log in again next time
  end)

  it("a password reset link sets the password once and ends the user's sign-ins", function()
    local id, token, email = user(ALPHA, "staff")
    local res = req(ALPHA, "POST", "/api/users/" .. id .. "/password-reset")
    assert.status(201, res)
    assert.equal(email, res.json.user.email)
    local reset = token_of(res.json.link)
    assert.is_nil(db_text("user_tokens"):find(reset, 1, true))
    local show = anon(ALPHA, "GET", "/api/password-resets/" .. reset)
    assert.status(200, show)
    assert.equal(email, show.json.email)
    assert.status(404, anon(BETA, "GET", "/api/password-resets/" .. reset))
    assert.status(404, anon(BETA, "POST", "/api/password-resets/" .. reset, { password = "a new long password" }))
    local weak = anon(ALPHA, "POST", "/api/password-resets/" .. reset, { password = "short" })
    assert.status(422, weak)
    assert.is_string(weak.json.error.fields.password)

    local new_password = "a brand new long password"
    secrets[#secrets + 1] = new_password
    assert.status(204, anon(ALPHA, "POST", "/api/password-resets/" .. reset, { password = new_password }))
    assert.status(401, req(ALPHA, "GET", "/api/me", nil, token))
    assert.is_nil((login(ALPHA, email, PASSWORD)))
    assert.truthy((login(ALPHA, email, new_password)))
    assert.status(404, anon(ALPHA, "POST", "/api/password-resets/" .. reset, { password = "yet another long password" }))
    assert.truthy((login(ALPHA, email, new_password)))

    -- a newer link replaces an older one; two uses at once: one wins
    local first = token_of(req(ALPHA, "POST", "/api/users/" .. id .. "/password-reset").json.link)
    local second = token_of(req(ALPHA, "POST", "/api/users/" .. id .. "/password-reset").json.link)
    assert.status(404, anon(ALPHA, "GET", "/api/password-resets/" .. first))
    local dir = helpers.proc.run_dir()
    local cmd = {}
    for i = 1, 4 do
      local body = ("%s/reset%d.json"):format(dir, i)
      local fh = assert(io.open(body, "wb"))
      fh:write(cjson.encode({ password = "racing password number " .. i }))
      fh:close()
      cmd[#cmd + 1] = (CURL .. " -s -o /dev/null -w '%%{http_code}' -H 'Host: %s' -H 'Content-Type: application/json' "
        .. "--data-binary @%s %s/api/password-resets/%s > %s/reset%d.out &"):format(ALPHA.host, body, api.url, second, dir, i)
    end
    assert(os.execute(table.concat(cmd, " ") .. " wait"))
    local won = {}
    for i = 1, 4 do
      local h = assert(io.open(("%s/reset%d.out"):format(dir, i)))
      if h:read("*a") == "204" then won[#won + 1] = i end
      h:close()
    end
    assert.equal(1, #won)
    assert.truthy((login(ALPHA, email, "racing password number " .. won[1])))
  end)

  it("a user changes their own password: the current one is checked, other sign-ins end", function()
    local _, token, email = user(ALPHA, "staff")
    local other = login(ALPHA, email, PASSWORD)
    local res = req(ALPHA, "POST", "/api/me/password", { current_password = "wrong password!!", new_password = "another long password" }, token)
    assert.status(403, res)
    assert.error_code("wrong_password", res)
    assert.is_string(res.json.error.fields.current_password)
    res = req(ALPHA, "POST", "/api/me/password", { current_password = PASSWORD, new_password = "short" }, token)
    assert.status(422, res)
    assert.is_string(res.json.error.fields.new_password)
    res = req(ALPHA, "POST", "/api/me/password", { current_password = PASSWORD, new_password = PASSWORD }, token)
    assert.status(422, res)
    assert.is_string(res.json.error.fields.new_password)
    assert.status(422, req(ALPHA, "POST", "/api/me/password", { new_password = "another long password" }, token))
    assert.status(401, keep(helpers.http(api, "POST", "/api/me/password", { host = ALPHA.host,
      body = { current_password = PASSWORD, new_password = "another long password" } })))

    local changed = "another long password"
    secrets[#secrets + 1] = changed
    assert.status(204, req(ALPHA, "POST", "/api/me/password", { current_password = PASSWORD, new_password = changed }, token))
    assert.status(200, req(ALPHA, "GET", "/api/me", nil, token)) -- this sign-in goes on
    assert.status(401, req(ALPHA, "GET", "/api/me", nil, other)) -- the others end
    assert.is_nil((login(ALPHA, email, PASSWORD)))
    assert.truthy((login(ALPHA, email, changed)))

    -- guessing the current password is throttled like a sign-in
    for _ = 1, 5 do
      assert.status(403, req(ALPHA, "POST", "/api/me/password", { current_password = "guess guess guess", new_password = "whatever long one" }, token))
    end
    res = req(ALPHA, "POST", "/api/me/password", { current_password = changed, new_password = "whatever long one" }, token)
    assert.status(429, res)
    assert.truthy((login(ALPHA, email, changed)))
  end)

  it("every change is in the clinic's audit trail, without a token or password", function()
    local seen = {}
    for _, a in ipairs(db:handle():find("audit_logs", {})) do
      seen[tostring(a.event_type) .. ":" .. tostring(a.action)] = true
    end
    for _, k in ipairs({ "user_invite:invite", "user_invite:accept", "user_invite:revoke", "user_update:update",
      "password_reset:link_created", "password_reset:reset", "password_change:change" }) do
      assert.is_true(seen[k] == true, k .. " is audited")
    end
    local res = req(ALPHA, "GET", "/api/audit?limit=500")
    assert.status(200, res)
    local update
    for _, a in ipairs(res.json.items) do
      if a.event_type == "user_update" and a.details and a.details.changes and a.details.changes.role then update = a end
    end
    assert.truthy(update, "a role change with what it was and is")
    local trail = db_text("audit_logs")
    local log = api:log_text()
    for _, s in ipairs(secrets) do
      assert.is_nil(trail:find(s, 1, true), "a secret in the audit trail")
      assert.is_nil(log:find(s, 1, true), "a secret in the log")
    end
    assert.is_nil(trail:find(PASSWORD, 1, true))
    assert.is_nil(log:find(PASSWORD, 1, true))
  end)

  it("no answer carries a password hash or a token's hash", function()
    assert.is_true(#answers > 50)
    local hashes = {}
    for _, s in ipairs(secrets) do hashes[#hashes + 1] = core.crypto.sha256_hex(s) end
    for _, body in ipairs(answers) do
      assert.is_nil(body:find("$argon2", 1, true), body)
      assert.is_nil(body:find("token_hash", 1, true), body)
      for _, h in ipairs(hashes) do assert.is_nil(body:find(h, 1, true), body) end
    end
  end)
end)

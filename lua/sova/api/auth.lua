-- sova.api.auth: login, logout, and authenticating each request.
--
-- Tokens are HS256 JWTs (algorithm pinned in the core) carrying the auth session id; the
-- session in the database is what logout, idle timeout and user disablement revoke.
local cjson = require("cjson")
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local config = require("sova.config")
local audit = require("sova.audit")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local json = require("sova.json")

local M = {}
local fail, db_ok = errors.fail, errors.db

local function secret()
  local s, err = config.jwt_secret()
  if not s then error("JWT secret: " .. err) end
  return s
end
M.secret = secret

local function now_s() return os.time() end
local function date_s(d) return d and d["$date"] and d["$date"] / 1000 or 0 end

-- ---- throttling (per email and per client address; shared by every API process via the DB) ----

local function throttled(h, key, max)
  local a = db_ok(h:find_one("login_attempts", { key = key }))
  return a and a.count >= max and date_s(a.window_start) > now_s() - config.LOGIN_WINDOW
end

-- under the key's lock: the embedded database's $inc is a read and a write, and failures at once
-- must all count (docs/architecture.md, "What the embedded database does not make atomic")
local function note_failure(h, key)
  core.lock.held("login_attempts\0" .. key, function()
    local a = db_ok(h:find_one("login_attempts", { key = key }))
    if a and date_s(a.window_start) > now_s() - config.LOGIN_WINDOW then
      db_ok(h:update("login_attempts", { key = key }, { ["$inc"] = { count = 1 } }))
    else
      db_ok(h:update("login_attempts", { key = key },
        { ["$set"] = { count = 1, window_start = bson.now() } }, { upsert = true }))
    end
  end)
end

-- the same throttle for other password checks (a password change: sova.api.users)
M.throttled, M.note_failure = throttled, note_failure

-- ---- login ----

local dummy_hash
local INVALID = "invalid email or password"

-- POST /api/auth/login {email, password}
function M.login(ctx)
  local body = request.json_object(ctx.req)
  local email, password = body.email, body.password
  if type(email) ~= "string" or type(password) ~= "string" or #email > 254 or #password > 1024
     or email == "" or password == "" then
    fail(422, "validation_failed", "email and password are required",
      { email = type(email) == "string" and #email <= 254 and email ~= "" and nil or "required",
        password = type(password) == "string" and #password <= 1024 and password ~= "" and nil or "required" })
  end
  email = email:lower():gsub("^%s+", ""):gsub("%s+$", "")
  local h = core.db.unscoped()
  local org = ctx.tenant
  local ip_key, email_key = "ip:" .. (ctx.req.remote_addr or "?"), "email:" .. email

  local function audit_login(success, reason, user)
    local ok = audit.record({ req = ctx.req }, {
      event_type = "login", action = "login", success = success, email = email,
      user_id = user and present.hex(user._id), handle = h, organization_id = org._id,
      details = reason and { reason = reason } or nil,
    })
    if not ok then fail(503, "audit_unavailable", "cannot record the login; try again shortly") end
  end

  if throttled(h, email_key, config.LOGIN_MAX_PER_EMAIL) or throttled(h, ip_key, config.LOGIN_MAX_PER_IP) then
    audit_login(false, "throttled")
    fail(429, "too_many_attempts", "too many failed logins; wait 15 minutes and try again")
  end

  local user = db_ok(h:find_one("users", { email = email }))
  -- Same work and same answer whether or not the email exists.
  if not dummy_hash then dummy_hash = assert(crypto.hash_password(crypto.random_hex(16))) end
  local ok = crypto.verify_password(user and user.hashed_password or dummy_hash, password)
  if not (user and ok and user.status == "active") then
    note_failure(h, email_key)
    note_failure(h, ip_key)
    audit_login(false, "invalid_credentials", user)
    fail(401, "invalid_credentials", INVALID)
  end
  if tostring(user.organization_id) ~= tostring(org._id) then
    note_failure(h, ip_key)
    audit_login(false, "wrong_tenant", user)
    fail(403, "wrong_tenant", "this account belongs to another clinic; sign in at your clinic's address")
  end
  db_ok(h:delete("login_attempts", { key = email_key }))

  local scoped = core.db.scoped(org._id)
  local now = now_s()
  local sid = db_ok(scoped:insert("auth_sessions", {
    user_id = user._id, created_at = bson.now(), last_seen_at = bson.now(),
    expires_at = bson.date((now + config.TOKEN_LIFETIME) * 1000), revoked = false,
    ip_address = ctx.req.remote_addr,
  }))
  local claims = {
    sub = present.hex(user._id), org = present.hex(org._id), sid = present.hex(sid),
    aud = config.AUDIENCE, iat = now, exp = now + config.TOKEN_LIFETIME,
  }
  local token = assert(core.token.sign(json.encode(claims), secret()))
  audit_login(true, nil, user)
  return 200, {
    token = token,
    expires_at = bson.date(claims.exp * 1000),
    idle_timeout_seconds = config.IDLE_TIMEOUT,
    user = present.user(user),
    organization = present.organization(org),
  }
end

-- ---- per-request authentication ----

local TOUCH_EVERY = 30 -- seconds between last_seen_at writes

local function unauthorized(code, message) fail(401, code or "unauthorized", message or "sign in again") end

-- ---- links: short-lived tokens in a URL, for what a browser fetches by itself ----
-- An <audio src> cannot send an Authorization header. A link token is a JWT of its own audience
-- (so it is no bearer token, and a bearer token is no link) naming one resource, and it carries
-- the sign-in's session id: logout, the idle limit and user disablement end it too.

M.LINK_AUDIENCE = "sova-link"
M.LINK_LIFETIME = 15 * 60

-- link_token(ctx, resource) -> token, expires_in: for the signed-in user of ctx, for resource
-- (e.g. "recording:<session id>") only.
function M.link_token(ctx, resource)
  local now = now_s()
  local claims = {
    sub = ctx.user.id, org = present.hex(ctx.tenant._id), sid = present.hex(ctx.session_id),
    aud = M.LINK_AUDIENCE, res = resource, iat = now, exp = now + M.LINK_LIFETIME,
  }
  return assert(core.token.sign(json.encode(claims), secret())), M.LINK_LIFETIME
end

-- Fills ctx.db (scoped to the token's org), ctx.user, ctx.session. Fails 401/403.
-- link_resource: the route also takes a link token for that resource in ?token= (no header then).
function M.authenticate(ctx, link_resource)
  local header = ctx.req.headers.authorization
  local token = type(header) == "string" and header:match("^[Bb]earer%s+([%w%-_%.]+)$")
  local audience = config.AUDIENCE
  if not token and link_resource and header == nil then
    local q = request.query(ctx.req.query)
    token = type(q.token) == "string" and #q.token <= 4096 and q.token:match("^[%w%-_%.]+$") and q.token or nil
    audience = M.LINK_AUDIENCE
  end
  if not token then unauthorized("unauthorized", "missing bearer token") end
  local claims_json = core.token.verify(token, secret(), audience)
  if not claims_json then unauthorized("invalid_token", "invalid or expired token") end
  local okc, claims = pcall(cjson.decode, claims_json)
  if not okc or type(claims) ~= "table" then unauthorized("invalid_token") end
  local via_link = audience == M.LINK_AUDIENCE
  if via_link and claims.res ~= link_resource then unauthorized("invalid_token", "this link is for another resource") end
  local org_id, user_id, sid = bson.oid(tostring(claims.org)), bson.oid(tostring(claims.sub)), bson.oid(tostring(claims.sid))
  if not (org_id and user_id and sid) then unauthorized("invalid_token") end
  if tostring(org_id) ~= tostring(ctx.tenant._id) then
    fail(403, "wrong_tenant", "this token belongs to another clinic")
  end
  local h = core.db.scoped(org_id)
  local sess = db_ok(h:find_one("auth_sessions", { _id = sid }))
  if not sess or sess.revoked or tostring(sess.user_id) ~= tostring(user_id) then
    unauthorized("session_ended", "your session has ended; sign in again")
  end
  local now = now_s()
  if date_s(sess.expires_at) <= now then unauthorized("session_expired", "your session has expired") end
  if date_s(sess.last_seen_at) + config.IDLE_TIMEOUT <= now then
    db_ok(h:update("auth_sessions", { _id = sid }, { ["$set"] = { revoked = true, revoked_reason = "idle" } }))
    unauthorized("session_idle", "signed out after 15 minutes without activity")
  end
  local user = db_ok(h:find_one("users", { _id = user_id }))
  if not user or user.status ~= "active" then unauthorized("session_ended", "this account is disabled") end
  -- a player fetching by itself through a link is no sign of someone at the keyboard
  if not via_link and now - date_s(sess.last_seen_at) >= TOUCH_EVERY then
    db_ok(h:update("auth_sessions", { _id = sid }, { ["$set"] = { last_seen_at = bson.now() } }))
  end
  ctx.db, ctx.session_id = h, sid
  ctx.user = present.user(user)
end

-- POST /api/auth/logout
function M.logout(ctx)
  db_ok(ctx.db:update("auth_sessions", { _id = ctx.session_id },
    { ["$set"] = { revoked = true, revoked_reason = "logout", revoked_at = bson.now() } }))
  if not audit.record(ctx, { event_type = "logout", action = "logout", success = true }) then
    fail(503, "audit_unavailable", "cannot record the logout; try again shortly")
  end
  return 204
end

-- GET /api/me
function M.me(ctx)
  return 200, { user = ctx.user, organization = present.organization(ctx.tenant) }
end

return M

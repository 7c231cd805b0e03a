-- sova.api.users: the clinic's users, for its administrators: the list with pending
-- invitations, inviting (a one-time link), roles, disabling, password-reset links; and each
-- user's own password change. Every change is audited before it is made. The handle is scoped:
-- another clinic's user or invitation is not found.
--
-- No mail is sent: an invitation or reset answers its link, and the administrator passes it on.
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local config = require("sova.config")
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local auth = require("sova.api.auth")
local tokens = require("sova.api.user_tokens")

local M = {}
local fail, db_ok = errors.fail, errors.db

M.ROLES = { admin = true, staff = true }
M.STATUSES = { active = true, disabled = true }
M.NAME_MAX = 100

local function admin_only(ctx)
  if ctx.user.role ~= "admin" then fail(403, "forbidden", "only administrators can manage the clinic's users") end
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- normalized email | nil, reason (the rule login applies: lower case, no surrounding space)
function M.email(v)
  if type(v) ~= "string" or trim(v) == "" then return nil, "required" end
  local e = trim(v):lower()
  if #e > 254 or not e:match("^[^%s@]+@[^%s@]+%.[^%s@]+$") then return nil, "not an email address" end
  return e
end

-- name | nil (absent) | false, reason
function M.name(v)
  if v == nil or v == json.null then return nil end
  if type(v) ~= "string" then return false, "must be text" end
  local n = trim(v)
  if n == "" then return false, "must not be empty" end
  if #n > M.NAME_MAX * 4 or select(2, n:gsub("[^\128-\191]", "")) > M.NAME_MAX then
    return false, ("at most %d characters"):format(M.NAME_MAX)
  end
  if n:find("[%z\1-\31\127]") then return false, "must not hold control characters" end
  return n
end

local function refuse(fields, message)
  fail(422, "validation_failed", message or "some fields are not valid", fields)
end

-- keys of body outside allowed: each an "unknown field" error in errs
local function unknown_keys(body, allowed, errs)
  for k in pairs(body) do
    if not allowed[k] then errs[tostring(k)] = "unknown field" end
  end
end

local function find_user(ctx, id)
  local oid = request.oid_or_404(id, "user")
  local u = db_ok(ctx.db:find_one("users", { _id = oid }))
  if not u then errors.not_found("user") end
  return u
end

-- ends every sign-in of the user (but keep_sid's): their tokens stop working at the next request
local function revoke_sessions(ctx, user_id, reason, keep_sid)
  local filter = { user_id = user_id, revoked = false }
  if keep_sid then filter._id = { ["$ne"] = keep_sid } end
  db_ok(ctx.db:update("auth_sessions", filter,
    { ["$set"] = { revoked = true, revoked_reason = reason, revoked_at = bson.now() } }, { multi = true }))
end
M.revoke_sessions = revoke_sessions

-- ---- the list ----

-- GET /api/users: the clinic's users and its invitations not used or revoked (expired ones say so)
function M.list(ctx)
  admin_only(ctx)
  local docs = db_ok(ctx.db:find("users", {}, { sort = { email = 1 }, limit = 1000 }))
  local items = json.array()
  for i, u in ipairs(docs) do items[i] = present.user(u) end
  local invites = json.array()
  for i, d in ipairs(db_ok(tokens.unused(ctx.db, "invite"))) do invites[i] = tokens.present_invite(d) end
  return 200, { items = items, invites = invites }
end

-- ---- invitations ----

-- POST /api/users/invites {email, name?, role?} -> 201 {invite, link}
function M.invite(ctx)
  admin_only(ctx)
  local body = request.json_object(ctx.req)
  local errs = {}
  unknown_keys(body, { email = true, name = true, role = true }, errs)
  local email, why = M.email(body.email)
  if not email then errs.email = why end
  local name, nwhy = M.name(body.name)
  if name == false then errs.name = nwhy end
  local role = body.role == nil and "staff" or body.role
  if not M.ROLES[role] then errs.role = "admin or staff" end
  if next(errs) then refuse(errs) end
  -- this clinic's users only: whether an address has an account at another clinic is that
  -- clinic's business (DESIGN principle 2); such an invitation fails when it is accepted
  if db_ok(ctx.db:find_one("users", { email = email })) then
    fail(409, "email_taken", "this email already belongs to a user of this clinic", { email = "already a user" })
  end
  patients.audit_or_503(ctx, { event_type = "user_invite", action = "invite", resource_type = "user",
    email = email, details = { role = role } })
  db_ok(tokens.replace_open(ctx.db, { purpose = "invite", email = email })) -- a new link replaces the old
  local doc, token = tokens.issue(ctx.db, "invite", {
    email = email, name = name, role = role, created_by = bson.oid(ctx.user.id),
  })
  db_ok(doc, token)
  return 201, { invite = tokens.present_invite(doc), link = "/invite/" .. token }
end

-- DELETE /api/users/invites/{id}
function M.revoke_invite(ctx, id)
  admin_only(ctx)
  local oid = request.oid_or_404(id, "invitation")
  local doc = db_ok(tokens.by_id(ctx.db, oid, "invite"))
  if not doc or doc.used_at ~= nil or doc.revoked_at ~= nil then errors.not_found("invitation") end
  patients.audit_or_503(ctx, { event_type = "user_invite", action = "revoke", resource_type = "invitation",
    resource_id = id, email = doc.email })
  local ok, err = tokens.claim(ctx.db, doc, "revoked")
  if not ok then
    if err == "used" then fail(409, "invitation_used", "this invitation was just accepted or revoked") end
    db_ok(nil, err)
  end
  db_ok(tokens.mark(ctx.db, doc, "revoked", { revoked_by = bson.oid(ctx.user.id) }))
  return 204
end

-- ---- changing a user ----

local function active_admins(ctx)
  return db_ok(ctx.db:count("users", { role = "admin", status = "active" }))
end

-- PATCH /api/users/{id} {role?, status?, name?}
function M.update(ctx, id)
  admin_only(ctx)
  local user = find_user(ctx, id)
  local body = request.json_object(ctx.req)
  local errs, set = {}, {}
  unknown_keys(body, { role = true, status = true, name = true }, errs)
  if body.role ~= nil then
    if M.ROLES[body.role] then set.role = body.role else errs.role = "admin or staff" end
  end
  if body.status ~= nil then
    if M.STATUSES[body.status] then set.status = body.status else errs.status = "active or disabled" end
  end
  if body.name ~= nil then
    local name, why = M.name(body.name)
    if name then set.name = name else errs.name = why or "must not be empty" end
  end
  if next(errs) then refuse(errs) end
  if next(set) == nil then refuse({}, "nothing to change: give role, status or name") end

  local is_self = present.hex(user._id) == ctx.user.id
  local loses_admin = (set.role and set.role ~= "admin") or (set.status and set.status ~= "active")
  if is_self and loses_admin then
    fail(409, "cannot_change_self", "you cannot disable yourself or give up your own administrator role; ask another administrator")
  end

  -- counted and written under the clinic's lock: two administrators disabling each other at
  -- once must not leave the clinic with none (the embedded database makes no count-then-write atomic)
  return core.lock.held("users\0" .. present.hex(ctx.tenant._id), function()
    local current = db_ok(ctx.db:find_one("users", { _id = user._id })) or errors.not_found("user")
    if loses_admin and current.role == "admin" and current.status == "active" and active_admins(ctx) <= 1 then
      fail(409, "last_admin", "this is the clinic's last active administrator; make another user an administrator first")
    end
    local changes = {}
    for k, v in pairs(set) do
      -- roles and statuses as they were and are; of a name only that it changed
      if current[k] ~= v then changes[k] = k == "name" and true or { from = current[k], to = v } end
    end
    set.updated_at = bson.now()
    patients.audit_or_503(ctx, { event_type = "user_update", action = "update", resource_type = "user",
      resource_id = present.hex(current._id), email = current.email, details = { changes = changes } })
    local r = db_ok(ctx.db:update("users", { _id = current._id }, { ["$set"] = set }))
    if r.matched == 0 then errors.not_found("user") end
    if set.status == "disabled" then revoke_sessions(ctx, current._id, "disabled") end
    for k, v in pairs(set) do current[k] = v end
    return 200, present.user(current)
  end)
end

-- POST /api/users/{id}/password-reset -> 201 {link, expires_at}
function M.reset_link(ctx, id)
  admin_only(ctx)
  local user = find_user(ctx, id)
  patients.audit_or_503(ctx, { event_type = "password_reset", action = "link_created", resource_type = "user",
    resource_id = present.hex(user._id), email = user.email })
  db_ok(tokens.replace_open(ctx.db, { purpose = "reset", user_id = user._id }))
  local doc, token = tokens.issue(ctx.db, "reset", {
    user_id = user._id, email = user.email, created_by = bson.oid(ctx.user.id),
  })
  db_ok(doc, token)
  return 201, { link = "/reset/" .. token, expires_at = doc.expires_at, user = present.user(user) }
end

-- ---- one's own password ----

-- POST /api/me/password {current_password, new_password} -> 204; the user's other sign-ins end
function M.change_password(ctx)
  local body = request.json_object(ctx.req)
  local errs = {}
  unknown_keys(body, { current_password = true, new_password = true }, errs)
  local current, new = body.current_password, body.new_password
  if type(current) ~= "string" or current == "" or #current > config.PASSWORD_MAX then
    errs.current_password = "required"
  end
  errs.new_password = tokens.password_problem(new)
  if next(errs) then refuse(errs) end

  local key = "password:" .. ctx.user.id
  if auth.throttled(ctx.db, key, config.LOGIN_MAX_PER_EMAIL) then
    fail(429, "too_many_attempts", "too many wrong passwords; wait 15 minutes and try again")
  end
  local user = find_user(ctx, ctx.user.id)
  if not crypto.verify_password(user.hashed_password, current) then
    auth.note_failure(ctx.db, key)
    patients.audit_or_503(ctx, { event_type = "password_change", action = "change", resource_type = "user",
      resource_id = ctx.user.id, success = false, details = { reason = "wrong_password" } })
    fail(403, "wrong_password", "your current password is not right", { current_password = "not your current password" })
  end
  if crypto.verify_password(user.hashed_password, new) then
    refuse({ new_password = "must differ from your current password" })
  end
  local hash = assert(crypto.hash_password(new))
  patients.audit_or_503(ctx, { event_type = "password_change", action = "change", resource_type = "user",
    resource_id = ctx.user.id })
  db_ok(ctx.db:update("users", { _id = user._id },
    { ["$set"] = { hashed_password = hash, password_changed_at = bson.now() } }))
  db_ok(ctx.db:delete("login_attempts", { key = key }))
  revoke_sessions(ctx, user._id, "password_changed", ctx.session_id)
  return 204
end

return M

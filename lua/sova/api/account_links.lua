-- sova.api.account_links: what a one-time link opens, without a sign-in: accepting an
-- invitation (the account is made, active, with the invitation's role) and setting a password
-- from a reset link. The link's token is the credential; it works once, before it expires, and
-- only at its own clinic's address (sova.api.user_tokens). Then the user signs in as usual.
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local audit = require("sova.audit")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local tokens = require("sova.api.user_tokens")
local users = require("sova.api.users")

local M = {}
local fail, db_ok = errors.fail, errors.db

local GONE = {
  invite = "this invitation link is not valid: it was used, revoked or has expired; ask your administrator for a new one",
  reset = "this password reset link is not valid: it was used, replaced or has expired; ask your administrator for a new one",
}

-- The token's document at this clinic, or a 404 that says no more than "not valid".
local function open_token(ctx, token, purpose)
  local db = core.db.scoped(ctx.tenant._id)
  local doc = db_ok(tokens.find(db, token, purpose))
  if not doc then fail(404, "link_invalid", GONE[purpose]) end
  return db, doc
end

-- Audit context of a link's use: the clinic's handle, and the route without the token in it
-- (the audit trail keeps paths; a link's token is a credential until it is used).
local function audit_ctx(ctx, db, user_id, route)
  local r = ctx.req
  return { db = db, user = user_id and { id = user_id } or nil,
    req = { headers = r.headers, method = r.method, remote_addr = r.remote_addr, path = route } }
end

local function password_or_422(body, key)
  local why = tokens.password_problem(body[key])
  if why then fail(422, "validation_failed", "the password is not acceptable", { [key] = why }) end
  return body[key]
end

-- claims the token or answers 404 as for a used one
local function claim_or_404(db, doc, purpose)
  local ok, err = tokens.claim(db, doc, "used")
  if ok then return end
  if err == "used" then fail(404, "link_invalid", GONE[purpose]) end
  db_ok(nil, err)
end

-- ---- invitations ----

-- GET /api/invites/{token}: whom the invitation is for, at which clinic
function M.show_invite(ctx, token)
  local _, doc = open_token(ctx, token, "invite")
  return 200, { email = doc.email, name = doc.name, role = doc.role, clinic = ctx.tenant.name,
    expires_at = doc.expires_at }
end

-- POST /api/invites/{token}/accept {password, name?} -> 201 {user}
function M.accept_invite(ctx, token)
  local db, doc = open_token(ctx, token, "invite")
  local body = request.json_object(ctx.req)
  local password = password_or_422(body, "password")
  local name, why = users.name(body.name)
  if name == false then fail(422, "validation_failed", "the name is not acceptable", { name = why }) end
  name = name or doc.name
  local hash = assert(crypto.hash_password(password)) -- before the claim: the claim's window stays short
  claim_or_404(db, doc, "invite")
  local user = { _id = bson.oid(), email = doc.email, name = name, role = doc.role, status = "active",
    hashed_password = hash, created_at = bson.now(), invited_by = doc.created_by, invite_id = doc._id }
  local actx = audit_ctx(ctx, db, present.hex(user._id), "/api/invites/{token}/accept")
  local ev = { event_type = "user_invite", action = "accept", resource_type = "user",
    resource_id = present.hex(user._id), email = doc.email, details = { role = doc.role } }
  if not audit.record(actx, ev) then
    tokens.release(db, doc)
    fail(503, "audit_unavailable", "cannot record this change; nothing was changed")
  end
  -- emails are unique across clinics (the users index): one with an account elsewhere fails here
  local ok, err, code = db:insert("users", user)
  if not ok then
    if code == 11000 then
      db_ok(tokens.mark(db, doc, "used", { outcome = "email_taken" }))
      ev.success, ev.details = false, { reason = "email_taken" }
      audit.record(actx, ev) -- the first record said it would be made; this one says it was not
      fail(409, "email_taken", "this email already has a Sova account; sign in with it, or ask your administrator to invite another address",
        { email = "already has an account" })
    end
    tokens.release(db, doc)
    db_ok(nil, err)
  end
  db_ok(tokens.mark(db, doc, "used", { user_id = user._id }))
  return 201, { user = present.user(user) }
end

-- ---- password resets ----

local function reset_user(db, doc)
  local user = db_ok(db:find_one("users", { _id = doc.user_id }))
  if not user then fail(404, "link_invalid", GONE.reset) end
  return user
end

-- GET /api/password-resets/{token}: whose password the link sets
function M.show_reset(ctx, token)
  local db, doc = open_token(ctx, token, "reset")
  local user = reset_user(db, doc)
  return 200, { email = user.email, name = user.name, clinic = ctx.tenant.name, expires_at = doc.expires_at }
end

-- POST /api/password-resets/{token} {password} -> 204; every sign-in of the user ends
function M.reset(ctx, token)
  local db, doc = open_token(ctx, token, "reset")
  local body = request.json_object(ctx.req)
  local password = password_or_422(body, "password")
  local user = reset_user(db, doc)
  local hash = assert(crypto.hash_password(password))
  claim_or_404(db, doc, "reset")
  local actx = audit_ctx(ctx, db, present.hex(user._id), "/api/password-resets/{token}")
  if not audit.record(actx, { event_type = "password_reset", action = "reset", resource_type = "user",
      resource_id = present.hex(user._id), email = user.email }) then
    tokens.release(db, doc)
    fail(503, "audit_unavailable", "cannot record this change; nothing was changed")
  end
  local ok, err = db:update("users", { _id = user._id },
    { ["$set"] = { hashed_password = hash, password_changed_at = bson.now() } })
  if not ok then
    tokens.release(db, doc)
    db_ok(nil, err)
  end
  db_ok(tokens.mark(db, doc, "used"))
  users.revoke_sessions({ db = db }, user._id, "password_reset")
  return 204
end

return M

-- sova.api.user_tokens: one-time links for accounts (an invitation, a password reset).
--
-- A link carries 32 random bytes; only their SHA-256 is stored (`user_tokens.token_hash`), so a
-- copy of the database opens no account. Tokens live in the clinic's scope: another clinic's
-- token at this clinic's host is simply not found.
--
-- Using a token is claiming it: inserting `{_id = <token id>}` into `user_token_claims`. An
-- insert against the unique _id is atomic on MongoDB and on the embedded database alike, where a
-- conditional update or findAndModify is not (docs/architecture.md, "What the embedded database
-- does not make atomic"): of two accepts of one link at once, exactly one wins. A revocation
-- claims the token too, so a link revoked while it is being used is either used or revoked.
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local config = require("sova.config")
local present = require("sova.api.present")

local M = {}

local COLL, CLAIMS = "user_tokens", "user_token_claims"

M.PURPOSES = { invite = true, reset = true }
M.LIFETIME = { invite = config.INVITE_LIFETIME, reset = config.RESET_LIFETIME }

local function date_s(d) return d and d["$date"] and d["$date"] / 1000 or 0 end

function M.expired(doc) return date_s(doc.expires_at) <= os.time() end

-- open(doc) -> whether the token can still be used (not claimed, not expired)
function M.open(doc) return doc.used_at == nil and doc.revoked_at == nil and not M.expired(doc) end

-- issue(db, purpose, fields) -> doc, token | nil, err. fields: the token's document (email, role,
-- user_id, created_by...); the token itself is returned once and never stored.
function M.issue(db, purpose, fields)
  assert(M.PURPOSES[purpose], "user_tokens.issue: purpose invite or reset")
  local token = crypto.random_hex(32)
  local doc = {}
  for k, v in pairs(fields) do doc[k] = v end
  doc._id = bson.oid()
  doc.purpose = purpose
  doc.token_hash = crypto.sha256_hex(token)
  doc.created_at = bson.now()
  doc.expires_at = bson.date((os.time() + M.LIFETIME[purpose]) * 1000)
  local ok, err = db:insert(COLL, doc)
  if not ok then return nil, err end
  return doc, token
end

-- find(db, token, purpose) -> the token's document while it can be used | false | nil, err.
-- A malformed token is not found (no database trip).
function M.find(db, token, purpose)
  if type(token) ~= "string" or #token ~= 64 or not token:match("^%x+$") then return false end
  local doc, err = db:find_one(COLL, { token_hash = crypto.sha256_hex(token:lower()), purpose = purpose })
  if doc == nil then return nil, err end
  if not doc or not M.open(doc) then return false end
  return doc
end

-- by_id(db, id, purpose) -> the token's document | false | nil, err
function M.by_id(db, id, purpose)
  return db:find_one(COLL, { _id = id, purpose = purpose })
end

-- claim(db, doc, how) -> true | nil, "used" (someone claimed it first) | nil, err
-- how: "used" or "revoked" (what the token's document then says).
function M.claim(db, doc, how)
  local ok, err, code = db:insert(CLAIMS, { _id = doc._id, how = how, at = bson.now() })
  if not ok then
    if code == 11000 then return nil, "used" end
    return nil, err
  end
  return true
end

-- release(db, doc): gives a claimed token back (the work it was claimed for failed). Best effort.
function M.release(db, doc)
  db:delete(CLAIMS, { _id = doc._id })
end

-- mark(db, doc, how, extra) -> true | nil, err: records on the token what its claim was for
function M.mark(db, doc, how, extra)
  local set = { [how == "revoked" and "revoked_at" or "used_at"] = bson.now() }
  for k, v in pairs(extra or {}) do set[k] = v end
  local ok, err = db:update(COLL, { _id = doc._id }, { ["$set"] = set })
  if not ok then return nil, err end
  return true
end

-- open_for(db, filter) -> the open tokens matching filter (e.g. an email's invitations) | nil, err
function M.open_for(db, filter)
  local docs, err = db:find(COLL, filter)
  if not docs then return nil, err end
  local out = {}
  for _, d in ipairs(docs) do
    if M.open(d) then out[#out + 1] = d end
  end
  return out
end

-- unused(db, purpose) -> the tokens of purpose neither used nor revoked (expired ones too), oldest first
function M.unused(db, purpose)
  local docs, err = db:find(COLL, { purpose = purpose }, { sort = { created_at = 1 }, limit = 1000 })
  if not docs then return nil, err end
  local out = {}
  for _, d in ipairs(docs) do
    if d.used_at == nil and d.revoked_at == nil then out[#out + 1] = d end
  end
  return out
end

-- replace_open(db, filter): revokes the open tokens matching filter (a new link replaces them).
-- true | nil, err
function M.replace_open(db, filter)
  local docs, err = M.open_for(db, filter)
  if not docs then return nil, err end
  for _, d in ipairs(docs) do
    local ok, cerr = M.claim(db, d, "revoked")
    if ok then
      ok, cerr = M.mark(db, d, "revoked", { revoked_reason = "replaced" })
    elseif cerr == "used" then
      ok = true -- used or revoked meanwhile: nothing to replace
    end
    if not ok then return nil, cerr end
  end
  return true
end

-- The invitation as the API shows it (never the token or its hash).
function M.present_invite(doc)
  return {
    id = present.hex(doc._id), email = doc.email, name = doc.name, role = doc.role,
    created_at = doc.created_at, expires_at = doc.expires_at, expired = M.expired(doc),
    invited_by = present.hex(doc.created_by),
  }
end

-- Password rules, shared by every way a password is set: nil | the reason it is refused.
function M.password_problem(pw)
  if type(pw) ~= "string" or pw == "" then return "required" end
  if #pw > config.PASSWORD_MAX then return ("at most %d bytes"):format(config.PASSWORD_MAX) end
  -- characters, not bytes: a passphrase in any script counts what the user typed
  local chars = select(2, pw:gsub("[^\128-\191]", ""))
  if chars < config.PASSWORD_MIN then return ("at least %d characters"):format(config.PASSWORD_MIN) end
  if not pw:find("%S") then return "must not be only spaces" end
  return nil
end

return M

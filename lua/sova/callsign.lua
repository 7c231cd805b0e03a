-- sova.callsign: what the API and the bot share to trust each other without a database trip.
-- A call start is one request signed with HMAC-SHA256 over the timestamp and the body; a browser
-- joins a live call with a token bound to that session and organization, valid for a while, and
-- a staff member listens to one with a token bound to them as well, valid for a minute.
local core = require("sova.core")
local crypto = core.crypto
local config = require("sova.config")

local M = {}

M.MAX_SKEW = 60          -- seconds a signed request may be old (or early)
M.LIVE_TOKEN_TTL = 3600  -- seconds a live-call token is good for

function M.secret() return config.secret("SOVA_BOT_SECRET", "bot_secret") end

function M.sign(secret, timestamp, body)
  return crypto.hmac_sha256_hex(secret, tostring(timestamp) .. "." .. body)
end

-- verify(secret, timestamp_header, signature_header, body[, now]) -> true | nil, reason
function M.verify(secret, ts, sig, body, now)
  now = now or os.time()
  local t = tonumber(ts)
  if not t or type(sig) ~= "string" or #sig ~= 64 then return nil, "unsigned request" end
  if math.abs(now - t) > M.MAX_SKEW then return nil, "stale or future timestamp" end
  if not crypto.equals(M.sign(secret, t, body), sig:lower()) then return nil, "bad signature" end
  return true
end

-- A token's MAC covers its purpose ("live", "listen"), so a token made for one is refused by the other.
local function mac(secret, purpose, session_id, org_id, user_id, exp)
  return crypto.hmac_sha256_hex(secret, purpose .. "." .. session_id .. "." .. org_id .. "."
    .. (user_id and (user_id .. ".") or "") .. exp)
end

-- live_token(secret, session_id, org_id[, now]) -> "exp.hmac"
function M.live_token(secret, session_id, org_id, now)
  local exp = (now or os.time()) + M.LIVE_TOKEN_TTL
  return exp .. "." .. mac(secret, "live", session_id, org_id, nil, exp)
end

function M.check_live_token(secret, token, session_id, org_id, now)
  local exp, got = tostring(token or ""):match("^(%d+)%.(%x+)$")
  if not exp or tonumber(exp) < (now or os.time()) then return nil, "expired or malformed token" end
  if not crypto.equals(mac(secret, "live", session_id, org_id, nil, exp), got:lower()) then
    return nil, "token not valid for this call"
  end
  return true
end

M.LISTEN_TOKEN_TTL = 60 -- seconds a listen token is good for: it only opens the socket

-- listen_token(secret, session_id, org_id, user_id[, now]) -> "exp.user.hmac": a staff member of
-- the org may listen to that call (read-only); the user is named so the call can record who did
function M.listen_token(secret, session_id, org_id, user_id, now)
  assert(type(user_id) == "string" and user_id:match("^%x+$"), "listen_token: user_id must be hex")
  local exp = (now or os.time()) + M.LISTEN_TOKEN_TTL
  return exp .. "." .. user_id .. "." .. mac(secret, "listen", session_id, org_id, user_id, exp)
end

-- check_listen_token(secret, token, session_id, org_id[, now]) -> user_id | nil, reason
function M.check_listen_token(secret, token, session_id, org_id, now)
  local exp, user, got = tostring(token or ""):match("^(%d+)%.(%x+)%.(%x+)$")
  if not exp or tonumber(exp) < (now or os.time()) then return nil, "expired or malformed token" end
  if not crypto.equals(mac(secret, "listen", session_id, org_id, user, exp), got:lower()) then
    return nil, "token not valid for this call"
  end
  return user
end

return M

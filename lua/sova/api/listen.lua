-- sova.api.listen: a staff member listening to a call while it runs (read-only). The API checks
-- the session is the org's and still running, audits the access (the call's audio is PHI), and
-- hands out the bot's listen socket with a token bound to the session, the org and the user, good
-- for a minute (sova.callsign). The bot checks it and records who listened on the session.
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local call_start = require("sova.call_start")
local callsign = require("sova.callsign")
local vocabulary = require("sova.sandboxed.vocabulary")

local M = {}

-- POST /api/sessions/{id}/listen -> {listen_url, expires_in}
function M.start(ctx, id)
  local oid = request.oid_or_404(id, "session")
  -- the handle is the org's: another org's session is not found
  local s = errors.db(ctx.db:find_one("sessions", { _id = oid }, { projection = { status = 1, bot_id = 1 } }))
  if not s then errors.not_found("session") end
  if vocabulary.TERMINAL_STATUSES[s.status] then
    errors.fail(409, "call_not_in_progress", "the call has ended: there is nothing to listen to")
  end
  local sid, org = present.hex(oid), present.hex(ctx.tenant._id)
  patients.audit_or_503(ctx, { action = "listen", resource_type = "session", resource_id = sid,
    details = { expires_in = callsign.LISTEN_TOKEN_TTL } })
  local token = callsign.listen_token(call_start.secret(), sid, org, ctx.user.id)
  return 200, {
    -- the bot carrying the call: each bot serves its own calls' sockets
    listen_url = ("%s/calls/%s/listen?token=%s"):format(call_start.public_url_of(s.bot_id), sid, token),
    expires_in = callsign.LISTEN_TOKEN_TTL,
  }
end

return M

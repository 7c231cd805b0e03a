-- sova.bots: the call runtimes a deployment runs, as the database knows them. Each `sova bot`
-- heart-beats one document in `bots` (its own: one writer) with the address the API reaches it
-- at, its public address (browsers' live sockets, Twilio's callbacks and streams), its capacity
-- and its live calls. A call starts on a live bot with room (pick); a bot whose heartbeat stopped
-- has its calls failed with the reason (reap), which a campaign then retries by its rules.
local core = require("sova.core")
local bson = core.bson
local log = require("sova.log")
local patient_counts = require("sova.patient_counts")
local vocabulary = require("sova.sandboxed.vocabulary")
local webhooks = require("sova.webhooks")

local M = {}

M.COLL = "bots"
M.HEARTBEAT_S = 2
-- no heartbeat this long: the bot is gone (a heartbeat may wait in a bot's spool while the
-- database is away, so this is generous)
M.DEAD_AFTER_S = 15

local function now_ms() return math.floor(core.sys.time() * 1000) end

-- heartbeat(o) -> the $set of bot o's heartbeat (o: {url, public_url, capacity, live_calls,
-- started_at, stopping})
function M.heartbeat(o)
  return { url = o.url, public_url = o.public_url, capacity = o.capacity, live_calls = o.live_calls,
    heartbeat_ms = now_ms(), started_at = o.started_at, stopping = o.stopping or nil }
end

local function alive(b, t)
  return type(b.heartbeat_ms) == "number" and b.heartbeat_ms > t - M.DEAD_AFTER_S * 1000 and not b.stopping
    and not b.dead
end

-- pick(h) -> the live bots with room, the most room first ({} when none registered) | nil, err
function M.pick(h)
  local list, err = h:find(M.COLL, {})
  if not list then return nil, err end
  local t, out = now_ms(), {}
  for _, b in ipairs(list) do
    if alive(b, t) and type(b.url) == "string" and (b.capacity or 0) > (b.live_calls or 0) then out[#out + 1] = b end
  end
  table.sort(out, function(a, b) return a.capacity - a.live_calls > b.capacity - b.live_calls end)
  return out
end

local REAPED = "the bot carrying this call stopped answering (no heartbeat for %d s)"

-- reap(h) -> how many calls were failed: the sessions still running on bots that stopped
-- heart-beating end failed, their patients with them; each such bot is then marked dead
function M.reap(h)
  local list, err = h:find(M.COLL, {})
  if not list then return nil, err end
  local t, n = now_ms(), 0
  for _, b in ipairs(list) do
    if not b.dead and type(b.heartbeat_ms) == "number" and b.heartbeat_ms <= t - M.DEAD_AFTER_S * 1000 then
      for _, status in ipairs({ "in_progress", "queued" }) do
        local sessions = h:find("sessions", { bot_id = b._id, status = status })
        for _, s in ipairs(sessions or {}) do
          local now = bson.now()
          local ok = h:update("sessions", { _id = s._id, organization_id = s.organization_id }, { ["$set"] = {
            status = "failed", reason = REAPED:format(M.DEAD_AFTER_S), ended_by = "platform", ended_at = now,
            updated_at = now } })
          if ok then
            n = n + 1
            h:update("patients", { _id = s.patient_id, organization_id = s.organization_id },
              { ["$set"] = { call_status = vocabulary.call_status_label("failed"), updated_at = now } })
            h:insert(patient_counts.RECOUNT, patient_counts.marker(s.organization_id, s.workflow, s.patient_id))
            -- the clinic's webhooks hear of this end too (keyed by the session, like the bot's own)
            webhooks.emit(h, s.organization_id, "call.ended", { session_id = s._id, patient_id = s.patient_id,
              workflow = s.workflow, campaign_id = s.campaign_id, status = "failed", reason = REAPED:format(M.DEAD_AFTER_S),
              ended_by = "platform", mode = s.mode, ended_at = now }, "call.ended:" .. s._id["$oid"])
          end
        end
      end
      h:update(M.COLL, { _id = b._id }, { ["$set"] = { dead = true } })
      log.warn("bot.reaped", { bot = b._id, calls = n })
    end
  end
  return n
end

return M

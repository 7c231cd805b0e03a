-- sova.webhooks: a clinic's signed outbound webhooks (issue 12), the rules in one place: which
-- events there are, how one is recorded, how an endpoint's secret is kept, how a body is signed,
-- and when a failed delivery is tried again.
--
-- A durable outbox in the database. Whoever learns a fact records one event (emit, or event()
-- through the bot's writer): `webhook_events` {organization_id, event, payload, created_at}.
-- `sova campaigns` (sova.webhooks.worker) turns each event into one `webhook_deliveries`
-- document per endpoint of that clinic that subscribes to it, and delivers those: a POST of the
-- JSON body, signed (sign), retried with BACKOFF until a 2xx or the last attempt. The API queues
-- deliveries of its own (a test ping, a replay) straight into webhook_deliveries.
--
-- Payloads hold ids, statuses and the outcome fields a call wrote: PHI the clinic sends to its
-- own EHR. They are never logged; each delivery sent is audited as a disclosure.
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")

local M = {}

M.EVENTS_COLL = "webhook_events"
M.DELIVERIES = "webhook_deliveries"
M.ENDPOINTS = "webhook_endpoints"

-- the events an endpoint may subscribe to ("ping" is sent only by the test button)
M.EVENTS = { "call.ended", "outcome.written", "campaign.finished" }
M.EVENT_SET = {}
for _, e in ipairs(M.EVENTS) do M.EVENT_SET[e] = true end
M.PING = "ping"

-- seconds before attempt n+1 after attempt n failed; after the last, the delivery has failed.
-- SOVA_WEBHOOK_BACKOFF_SCALE multiplies them (the specs use 0.01: 0.1 s, 0.6 s, ...).
M.BACKOFF = { 10, 60, 300, 1800, 7200, 21600 }
M.MAX_ATTEMPTS = #M.BACKOFF + 1

function M.backoff_scale()
  local s = tonumber(config.env("SOVA_WEBHOOK_BACKOFF_SCALE", "1"))
  if not s or s <= 0 or s > 1 then error("SOVA_WEBHOOK_BACKOFF_SCALE must be a number in (0, 1]", 0) end
  return s
end

-- retry_in(n) -> seconds to wait after failed attempt n, or nil: no attempt is left
function M.retry_in(n, scale)
  local s = M.BACKOFF[n]
  if not s then return nil end
  return s * (scale or M.backoff_scale())
end

-- ---- events ----

local function now_ms() return math.floor(core.sys.time() * 1000) end

-- event(org_id, event, payload, key) -> the webhook_events document. key names the fact once
-- ("call.ended:<session id>"): its _id is derived from it, so the fact recorded twice (a
-- replayed writer spool, a campaign finished again by the next lease holder) is one event.
function M.event(org_id, event, payload, key)
  assert(M.EVENT_SET[event], "webhook event: one of sova.webhooks.EVENTS")
  assert(type(payload) == "table", "webhook payload: a table")
  assert(type(key) == "string" and key ~= "", "webhook event key: a string naming the fact")
  return { _id = bson.oid(core.crypto.sha256_hex(key):sub(1, 24)), organization_id = org_id, event = event,
    payload = payload, created_at = bson.now() }
end

-- emit(db, org_id, event, payload, key) -> true | nil, err. db: the clinic's scoped handle, or
-- an unscoped one (the document names org_id). One insert whether or not anything subscribes;
-- the same key again is no second event.
function M.emit(db, org_id, event, payload, key)
  local doc = M.event(org_id, event, payload, key)
  if db:organization() then doc.organization_id = nil end -- the scoped handle adds it
  local ok, err, code = db:insert(M.EVENTS_COLL, doc)
  if not ok and code ~= 11000 then return nil, err end
  return true
end

-- delivery(endpoint, event, payload, key) -> a webhook_deliveries document, due now. key (unique
-- in the collection) names what it delivers: "<event id>:<endpoint id>" for a fanned-out event,
-- so an event fanned out twice makes one delivery; "queued:<its id>" for the API's own.
function M.delivery(endpoint, event, payload, key)
  local id = bson.oid()
  return { _id = id, key = key or ("queued:" .. id["$oid"]), organization_id = endpoint.organization_id,
    endpoint_id = endpoint._id, event = event, payload = payload, status = "pending", attempts = 0,
    attempt_log = bson.array(), next_at = now_ms(), created_at = bson.now() }
end

-- ---- secrets ----

-- The key endpoint secrets are sealed under: derived from SOVA_DATA_KEY for this one purpose.
local function seal_key()
  local secret, err = config.data_key()
  if not secret then return nil, err end
  return core.crypto.hmac_sha256_hex(secret, "sova.webhooks.endpoint_secret.v1")
end

-- new_secret() -> a signing secret ("whsec_" and 64 hex digits), shown to the admin once
function M.new_secret() return "whsec_" .. core.crypto.random_hex(32) end

-- seal(endpoint_id_hex, secret) -> sealed text | nil, err; open(...) -> secret | nil, err.
-- The endpoint's id is bound in: a sealed secret copied to another endpoint does not open.
function M.seal(id_hex, secret)
  local key, err = seal_key()
  if not key then return nil, err end
  return core.crypto.seal(key, secret, "webhook:" .. id_hex)
end

function M.open(id_hex, sealed)
  local key, err = seal_key()
  if not key then return nil, err end
  if type(sealed) ~= "string" then return nil, "no sealed secret" end
  return core.crypto.open(key, sealed, "webhook:" .. id_hex)
end

-- ---- signatures ----

-- Receivers verify: split the Sova-Signature header "t=<unix seconds>,v1=<hex>" (several v1
-- values may come during a secret's rotation: any may match), compute HMAC-SHA256(secret,
-- t .. "." .. raw_body) in hex, compare in constant time, and refuse a t more than TOLERANCE
-- seconds from their clock (a replayed capture).
M.TOLERANCE = 300

function M.signature(secret, t, body)
  return ("t=%d,v1=%s"):format(t, core.crypto.hmac_sha256_hex(secret, t .. "." .. body))
end

-- verify(secret, header, body, now) -> true | nil, why: what a receiver does (the specs use it)
function M.verify(secret, header, body, now)
  if type(header) ~= "string" then return nil, "no signature" end
  local t = tonumber(header:match("^t=(%d+),") or "")
  if not t then return nil, "no timestamp" end
  if math.abs((now or os.time()) - t) > M.TOLERANCE then return nil, "timestamp outside the tolerance" end
  local want = core.crypto.hmac_sha256_hex(secret, t .. "." .. body)
  for v in header:gmatch("v1=(%x+)") do
    if core.crypto.equals(v, want) then return true end
  end
  return nil, "no matching signature"
end

return M

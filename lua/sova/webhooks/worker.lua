-- sova.webhooks.worker: the clinics' webhooks delivered, from `sova campaigns`' loop (tick).
--
-- One process at a time delivers: the holder of the lease "webhooks" (sova.lease), like a
-- campaign's. On the embedded database a findAndModify claim can be won twice
-- (docs/architecture.md, "What the embedded database does not make atomic"), so the deliveries
-- are not claimed one by one; the lease gives them one writer, and no delivery is sent by two
-- processes at once. A holder that dies mid-request leaves its lease to expire (LEASE_MS); the
-- next holder sends that delivery again (the receiver de-duplicates by Sova-Delivery).
--
-- Each tick the holder (1) turns recorded events into deliveries, one per subscribed endpoint,
-- each keyed by the event's and the endpoint's ids (so an event fanned out twice, after a
-- crash between the inserts and its delete, makes no second delivery: sova.webhooks.delivery),
-- then (2) sends the due deliveries for at most BUDGET_S: the campaigns share this loop, and each
-- request is capped at TIMEOUT_MS.
local core = require("sova.core")
local bson = core.bson
local json = require("sova.json")
local log = require("sova.log")
local metrics = require("sova.metrics")
local audit = require("sova.audit")
local lease = require("sova.lease")
local webhooks = require("sova.webhooks")
local url = require("sova.webhooks.url")

local M = {}

M.LEASE_KEY = "webhooks"
M.LEASE_MS = 15000
M.RENEW_S = 4
M.SCAN_S = 2          -- a process without the lease tries to take it this often
M.BUDGET_S = 1        -- sending stops for this tick once this long has passed
M.TIMEOUT_MS = 5000   -- one delivery's whole exchange
M.BATCH = 20          -- due deliveries read per tick
M.EVENTS_BATCH = 50
M.RESPONSE_KEPT = 256 -- bytes of a receiver's answer kept in the attempt (shown to admins, never logged)
M.IDLE_S = 1          -- after a pass that found nothing to do, the next looks this much later

local held            -- the lease, while this process delivers
local owner
local renew_at, scan_at, poll_at = 0, -math.huge, -math.huge

local function now_ms() return math.floor(core.sys.time() * 1000) end
local function hex(v) return v and v["$oid"] or nil end

-- ---- events into deliveries ----

local function subscribed(ep, event)
  for _, e in ipairs(ep.events or {}) do if e == event then return true end end
  return false
end

-- fan_out() -> how many events | nil, err: the recorded events, each into its deliveries, then deleted
local function fan_out()
  local h = core.db.unscoped()
  local events, err = h:find(webhooks.EVENTS_COLL, {}, { sort = { created_at = 1 }, limit = M.EVENTS_BATCH })
  if not events then return nil, err end
  for _, ev in ipairs(events) do
    local eps
    eps, err = h:find(webhooks.ENDPOINTS, { organization_id = ev.organization_id, enabled = true })
    if not eps then return nil, err end
    for _, ep in ipairs(eps) do
      if subscribed(ep, ev.event) then
        local d = webhooks.delivery(ep, ev.event, ev.payload, hex(ev._id) .. ":" .. hex(ep._id))
        local ok, ierr, code = h:insert(webhooks.DELIVERIES, d)
        if not ok and code ~= 11000 then return nil, ierr end
      end
    end
    local ok, derr = h:delete(webhooks.EVENTS_COLL, { _id = ev._id })
    if not ok then return nil, derr end
  end
  return #events
end

-- ---- sending ----

local function printable(s)
  s = tostring(s or ""):sub(1, M.RESPONSE_KEPT)
  return (s:gsub("[%z\1-\8\11\12\14-\31\127-\255]", "?"))
end

-- the delivery's body: what receivers parse (README.md, "Webhooks")
function M.body(d)
  return json.encode({ id = hex(d._id), event = d.event, created_at = d.created_at, replay_of = d.replay_of,
    data = d.payload })
end

-- record(d, attempt, delivered): the attempt's outcome, and what comes next
local function record(d, attempt, delivered)
  local h = core.db.unscoped()
  local n = d.attempts + 1
  attempt.n, attempt.at = n, bson.now()
  local set = { attempts = n, last_status_code = attempt.status_code or json.null,
    last_error = attempt.error or json.null, updated_at = bson.now() }
  if delivered then
    set.status, set.delivered_at, set.next_at = "delivered", bson.now(), json.null
  else
    local wait = webhooks.retry_in(n)
    if wait then
      set.status, set.next_at = "pending", now_ms() + math.floor(wait * 1000)
    else
      set.status, set.next_at, set.failed_at = "failed", json.null, bson.now()
    end
  end
  local ok, err = h:update(webhooks.DELIVERIES, { _id = d._id }, { ["$set"] = set, ["$push"] = { attempt_log = attempt } })
  if not ok then log.warn("webhooks.record_failed", { delivery = hex(d._id), reason = tostring(err) }) end
  metrics.inc("sova_webhook_attempts_total", { event = d.event,
    outcome = set.status == "pending" and "retrying" or set.status })
  metrics.observe("sova_webhook_latency_seconds", nil, (attempt.duration_ms or 0) / 1000)
  log.info("webhooks.attempt", { delivery = hex(d._id), org = hex(d.organization_id), event = d.event, n = n,
    status = set.status, code = attempt.status_code, ms = attempt.duration_ms })
end

-- stop(d, why): a delivery that will not be sent (its endpoint is gone or disabled)
local function stop(d, why)
  core.db.unscoped():update(webhooks.DELIVERIES, { _id = d._id },
    { ["$set"] = { status = "cancelled", last_error = why, next_at = json.null, updated_at = bson.now() } })
end

-- send(d): one attempt of delivery d
local function send(d)
  local h = core.db.unscoped()
  local ep, err = h:find_one(webhooks.ENDPOINTS, { _id = d.endpoint_id, organization_id = d.organization_id })
  if err then return end -- the database is away: next tick
  if not ep then return stop(d, "the endpoint was deleted") end
  if not ep.enabled then return stop(d, "the endpoint was disabled") end
  local t0 = core.sys.monotonic()
  local function failed(why) return record(d, { error = why, duration_ms = 0 }, false) end
  local secret = webhooks.open(hex(ep._id), ep.secret_sealed)
  if not secret then return failed("the endpoint's secret cannot be opened with this SOVA_DATA_KEY") end
  -- checked again now: the name may resolve elsewhere than when it was saved
  local target, why = url.check(ep.url)
  if not target then return failed("refused: " .. why) end
  local db = core.db.scoped(d.organization_id)
  if not audit.record({ db = db }, { event_type = "disclosure", action = "webhook_delivery",
      resource_type = "webhook_delivery", resource_id = hex(d._id),
      details = { endpoint_id = hex(ep._id), event = d.event, attempt = d.attempts + 1, host = target.host,
        address = target.address } }) then
    return -- not disclosed without its record: tried again next tick, no attempt counted
  end
  local body = M.body(d)
  local ts = os.time()
  local res
  res, err = core.http.request {
    method = "POST", url = target.request_url, body = body, timeout_ms = M.TIMEOUT_MS,
    resolve = target.pin and { target.pin } or nil,
    headers = { ["content-type"] = "application/json", ["user-agent"] = "Sova-Webhooks/1",
      ["sova-event"] = d.event, ["sova-delivery"] = hex(d._id), ["sova-signature"] = webhooks.signature(secret, ts, body) },
  }
  local ms = math.floor((core.sys.monotonic() - t0) * 1000 + 0.5)
  if not res then return record(d, { error = tostring(err), duration_ms = ms }, false) end
  local ok = res.status >= 200 and res.status <= 299
  record(d, { status_code = res.status, duration_ms = ms, response = printable(res.body),
    error = not ok and ("answered HTTP " .. res.status) or nil }, ok)
end

-- deliver_due() -> how many were due | nil, err
local function deliver_due()
  local h = core.db.unscoped()
  local due, err = h:find(webhooks.DELIVERIES, { status = "pending", next_at = { ["$lte"] = now_ms() } },
    { sort = { next_at = 1 }, limit = M.BATCH })
  if not due then return nil, err end
  local t0 = core.sys.monotonic()
  for _, d in ipairs(due) do
    if core.sys.monotonic() - t0 >= M.BUDGET_S or not lease.valid(held) then break end
    send(d)
  end
  return #due
end

-- ---- the loop's part ----

-- tick(): called from `sova campaigns`' loop; errors are the loop's to log
function M.tick()
  local mono = core.sys.monotonic()
  local h = core.db.unscoped()
  owner = owner or (require("sova.config").env("HOSTNAME", "host") .. "/" .. core.crypto.random_hex(8))
  if held and mono >= renew_at then
    local l, err = lease.renew(h, held)
    if l then held, renew_at = l, mono + M.RENEW_S
    elseif err == "lost" then held = nil; log.info("webhooks.released", { why = "lease lost" }) end
  end
  if held and not lease.valid(held) then held = nil; log.info("webhooks.released", { why = "lease expired" }) end
  if not held and mono >= scan_at then
    scan_at = mono + M.SCAN_S
    local l = lease.take(h, M.LEASE_KEY, owner, M.LEASE_MS)
    if l then
      held, renew_at = l, mono + M.RENEW_S
      log.info("webhooks.taken", { epoch = l.epoch })
    end
  end
  if not held or mono < poll_at then return end
  local events, err = fan_out()
  if not events then log.warn("webhooks.fan_out_failed", { reason = tostring(err) }) end
  local due
  due, err = deliver_due()
  if not due then log.warn("webhooks.scan_failed", { reason = tostring(err) }) end
  -- an idle clinic costs the database two reads a second, not eight
  poll_at = (events == 0 and due == 0) and mono + M.IDLE_S or mono
end

-- release(): at the process's stop, so the next process takes the deliveries at once
function M.release()
  if held then lease.release(core.db.unscoped(), held); held = nil end
end

function M.holding() return held ~= nil end

return M

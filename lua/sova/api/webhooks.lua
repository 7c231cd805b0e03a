-- sova.api.webhooks: a clinic's outbound webhooks, for its admins (staff: 403). Endpoints are
-- saved here with a signing secret shown once; the deliveries' log is read here, a test ping and
-- a replay are queued here; `sova campaigns` (sova.webhooks.worker) sends them. Every change is
-- audited; another clinic's endpoint or delivery is a 404 (the handle is scoped).
local core = require("sova.core")
local bson = core.bson
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local webhooks = require("sova.webhooks")
local url = require("sova.webhooks.url")

local M = {}
local fail, db_ok = errors.fail, errors.db
local hex = present.hex

M.MAX_ENDPOINTS = 20
M.MAX_DESCRIPTION = 200
M.STATUSES = { pending = true, delivered = true, failed = true, cancelled = true }

local BODY_KEYS = { url = true, events = true, description = true, enabled = true }

local function admin_only(ctx)
  if ctx.user.role ~= "admin" then fail(403, "forbidden", "only administrators can manage webhooks") end
end

local function present_endpoint(ep)
  return { id = hex(ep._id), url = ep.url, events = json.array(ep.events or {}), enabled = ep.enabled == true,
    description = ep.description or json.null, secret_hint = ep.secret_hint, created_at = ep.created_at,
    updated_at = ep.updated_at, created_by = hex(ep.created_by) }
end

local function present_delivery(d)
  local log = json.array()
  for i, a in ipairs(d.attempt_log or {}) do
    log[i] = { n = a.n, at = a.at, status_code = a.status_code or json.null, error = a.error or json.null,
      duration_ms = a.duration_ms, response = a.response or json.null }
  end
  return { id = hex(d._id), endpoint_id = hex(d.endpoint_id), event = d.event, status = d.status,
    attempts = d.attempts or 0, last_status_code = d.last_status_code or json.null, last_error = d.last_error or json.null,
    next_at = type(d.next_at) == "number" and bson.date(d.next_at) or json.null, created_at = d.created_at,
    delivered_at = d.delivered_at or json.null, replay_of = d.replay_of and hex(d.replay_of) or json.null,
    attempt_log = log }
end

-- the body's fields, checked one by one; errs gets a message per bad field
local function read_body(body, creating)
  local errs, out = {}, {}
  for k in pairs(body) do
    if not BODY_KEYS[k] then errs[k] = "unknown field" end
  end
  if body.url ~= nil or creating then
    if type(body.url) ~= "string" then
      errs.url = "an https URL is required"
    else
      local t, why = url.check(body.url)
      if t then out.url = body.url else errs.url = why end
    end
  end
  if body.events ~= nil or creating then
    local ev = body.events
    if type(ev) ~= "table" or #ev == 0 or next(ev, #ev > 0 and #ev or nil) ~= nil then
      errs.events = "a list of one or more of: " .. table.concat(webhooks.EVENTS, ", ")
    else
      local seen = {}
      for i, e in ipairs(ev) do
        if not webhooks.EVENT_SET[e] then
          errs["events." .. i] = "not an event: one of " .. table.concat(webhooks.EVENTS, ", ")
        elseif seen[e] then
          errs["events." .. i] = "named twice"
        end
        seen[e] = true
      end
      out.events = json.array(ev)
    end
  end
  if body.description ~= nil and body.description ~= json.null then
    if type(body.description) ~= "string" or #body.description > M.MAX_DESCRIPTION then
      errs.description = ("text of at most %d characters"):format(M.MAX_DESCRIPTION)
    else
      out.description = body.description
    end
  elseif body.description == json.null then
    out.description = json.null
  end
  if body.enabled ~= nil then
    if type(body.enabled) ~= "boolean" then errs.enabled = "true or false" else out.enabled = body.enabled end
  end
  if next(errs) then fail(422, "validation_failed", "some fields are not valid", errs) end
  return out
end

local function find_endpoint(ctx, id)
  local ep = db_ok(ctx.db:find_one(webhooks.ENDPOINTS, { _id = request.oid_or_404(id, "webhook") }))
  if not ep then errors.not_found("webhook") end
  return ep
end

-- GET /api/webhooks
function M.list(ctx)
  admin_only(ctx)
  local docs = db_ok(ctx.db:find(webhooks.ENDPOINTS, {}, { sort = { _id = 1 } }))
  local items = json.array()
  for i, ep in ipairs(docs) do items[i] = present_endpoint(ep) end
  return 200, { items = items }
end

-- POST /api/webhooks -> the endpoint and its secret (shown this once)
function M.create(ctx)
  admin_only(ctx)
  local fields = read_body(request.json_object(ctx.req), true)
  local n = db_ok(ctx.db:count(webhooks.ENDPOINTS, {}))
  if n >= M.MAX_ENDPOINTS then
    fail(409, "conflict", ("a clinic can have at most %d webhook endpoints"):format(M.MAX_ENDPOINTS))
  end
  local id = bson.oid()
  local secret = webhooks.new_secret()
  local sealed, serr = webhooks.seal(hex(id), secret)
  if not sealed then error("cannot seal the webhook secret: " .. tostring(serr)) end
  local now = bson.now()
  local ep = { _id = id, url = fields.url, events = fields.events, description = fields.description or json.null,
    enabled = fields.enabled ~= false, secret_sealed = sealed, secret_hint = "whsec_…" .. secret:sub(-4),
    created_by = bson.oid(ctx.user.id), created_at = now, updated_at = now }
  patients.audit_or_503(ctx, { event_type = "admin_change", action = "webhook_create", resource_type = "webhook",
    resource_id = hex(id), details = { events = fields.events, enabled = ep.enabled } })
  db_ok(ctx.db:insert(webhooks.ENDPOINTS, ep))
  local out = present_endpoint(ep)
  out.secret = secret
  return 201, out
end

-- PATCH /api/webhooks/{id}: url, events, description, enabled
function M.update(ctx, id)
  admin_only(ctx)
  local ep = find_endpoint(ctx, id)
  local body = request.json_object(ctx.req)
  if next(body) == nil then
    fail(422, "validation_failed", "nothing to change", { url = "give url, events, description or enabled" })
  end
  local set = read_body(body, false)
  set.updated_at = bson.now()
  local changed = {}
  for k in pairs(set) do if k ~= "updated_at" then changed[#changed + 1] = k end end
  table.sort(changed)
  patients.audit_or_503(ctx, { event_type = "admin_change", action = "webhook_update", resource_type = "webhook",
    resource_id = hex(ep._id), details = { fields = json.array(changed), enabled = set.enabled } })
  db_ok(ctx.db:update(webhooks.ENDPOINTS, { _id = ep._id }, { ["$set"] = set }))
  for k, v in pairs(set) do ep[k] = v end
  return 200, present_endpoint(ep)
end

-- DELETE /api/webhooks/{id}: its deliveries stay in the log; pending ones are cancelled
function M.delete(ctx, id)
  admin_only(ctx)
  local ep = find_endpoint(ctx, id)
  patients.audit_or_503(ctx, { event_type = "admin_change", action = "webhook_delete", resource_type = "webhook",
    resource_id = hex(ep._id) })
  db_ok(ctx.db:delete(webhooks.ENDPOINTS, { _id = ep._id }))
  db_ok(ctx.db:update(webhooks.DELIVERIES, { endpoint_id = ep._id, status = "pending" },
    { ["$set"] = { status = "cancelled", last_error = "the endpoint was deleted", next_at = json.null,
      updated_at = bson.now() } }, { multi = true }))
  return 204, nil
end

local function must_be_enabled(ep)
  if not ep.enabled then fail(409, "conflict", "this webhook is disabled: enable it first") end
end

local function queue(ctx, ep, event, payload, replay_of)
  local d = webhooks.delivery(ep, event, payload)
  d.organization_id = nil -- the scoped handle adds it
  d.replay_of = replay_of
  d.queued_by = bson.oid(ctx.user.id)
  db_ok(ctx.db:insert(webhooks.DELIVERIES, d))
  return d
end

-- POST /api/webhooks/{id}/test: a "ping" delivery, due now
function M.test(ctx, id)
  admin_only(ctx)
  local ep = find_endpoint(ctx, id)
  must_be_enabled(ep)
  patients.audit_or_503(ctx, { event_type = "admin_change", action = "webhook_test", resource_type = "webhook",
    resource_id = hex(ep._id) })
  local d = queue(ctx, ep, webhooks.PING, { message = "a test delivery from Sova", webhook_id = hex(ep._id) })
  return 202, present_delivery(d)
end

-- GET /api/webhooks/deliveries?endpoint=&status=&limit=&cursor=: the log, newest first
function M.deliveries(ctx)
  admin_only(ctx)
  local q = request.query(ctx.req.query)
  local limit = request.limit(q, 50, 200)
  local filter = {}
  if q.endpoint ~= nil and q.endpoint ~= "" then
    local oid = bson.oid(q.endpoint)
    if not oid then fail(400, "bad_request", "endpoint: a webhook id") end
    filter.endpoint_id = oid
  end
  if q.status ~= nil and q.status ~= "" then
    if not M.STATUSES[q.status] then fail(400, "bad_request", "status: pending, delivered, failed or cancelled") end
    filter.status = q.status
  end
  local cursor = request.cursor(q)
  if cursor then filter._id = { ["$lt"] = cursor } end
  local docs = db_ok(ctx.db:find(webhooks.DELIVERIES, filter, { sort = { _id = -1 }, limit = limit + 1,
    projection = { payload = 0 } }))
  local items = json.array()
  for i = 1, math.min(#docs, limit) do items[i] = present_delivery(docs[i]) end
  patients.audit_or_503(ctx, { action = "list", resource_type = "webhook_delivery", details = { count = #items } })
  return 200, { items = items, next_cursor = #docs > limit and items[limit].id or json.null }
end

-- POST /api/webhook-deliveries/{id}/replay: the same event and payload again, as a new delivery
function M.replay(ctx, id)
  admin_only(ctx)
  local d = db_ok(ctx.db:find_one(webhooks.DELIVERIES, { _id = request.oid_or_404(id, "delivery") }))
  if not d then errors.not_found("delivery") end
  local ep = db_ok(ctx.db:find_one(webhooks.ENDPOINTS, { _id = d.endpoint_id }))
  if not ep then fail(409, "conflict", "this delivery's webhook was deleted") end
  must_be_enabled(ep)
  patients.audit_or_503(ctx, { event_type = "admin_change", action = "webhook_replay", resource_type = "webhook_delivery",
    resource_id = hex(d._id), details = { webhook_id = hex(ep._id), event = d.event } })
  local again = queue(ctx, ep, d.event, d.payload, d._id)
  return 202, present_delivery(again)
end

return M

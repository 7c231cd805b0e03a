-- sova.api.server: what `sova api` runs. prepare() once in the main thread; handle(req) in
-- each worker thread (one Lua state per worker); maintain() in the maintenance thread (the main
-- thread's state). Routes resolve the tenant by Host, then authenticate, then call a handler with
-- a database handle scoped to the token's org. The web UI's files never reach Lua: the C server
-- serves them from frontend_dir().
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local store = require("sova.store")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local auth = require("sova.api.auth")
local patients = require("sova.api.patients")
local patient_import = require("sova.api.patient_import")
local sessions = require("sova.api.sessions")
local audit_log = require("sova.api.audit_log")
local calls = require("sova.api.calls")
local campaigns = require("sova.api.campaigns")
local listen = require("sova.api.listen")
local meta = require("sova.api.meta")
local webhooks = require("sova.api.webhooks")
local metrics = require("sova.metrics")
local users = require("sova.api.users")
local account_links = require("sova.api.account_links")

local M = {}

-- ---- start-up ----

local function open_db()
  local ok, err = core.db.open(config.mongodb_uri())
  if not ok then error(err, 0) end
end

local indexes_ready = false

local function ensure_indexes()
  if indexes_ready then return end
  local ok, err = store.ensure_indexes()
  if ok then indexes_ready = true else log.warn("store.indexes_pending", { reason = err }) end
end

local function maintenance_seconds()
  local s = tonumber(config.env("SOVA_MAINTENANCE_SECONDS", "3600"))
  if not s or s < 1 then error("SOVA_MAINTENANCE_SECONDS must be a number of seconds >= 1", 0) end
  return s
end

function M.prepare()
  open_db()
  local secret, err = config.jwt_secret()
  if not secret then error(err, 0) end
  local key_ok, key_err = require("sova.recording").use_data_key()
  if not key_ok then error(key_err, 0) end
  ensure_indexes()
  if indexes_ready then
    log.info("store.ready", { audit_retention = store.ttl_supported and "ttl index and sweep" or "sweep" })
  end
  maintenance_seconds()
  metrics.listen_if_asked()
  local port = tonumber(config.env("SOVA_HTTP_PORT", "8080"))
  if not port or port < 0 or port > 65535 then error("SOVA_HTTP_PORT must be a port number", 0) end
  return {
    host = config.env("SOVA_HTTP_HOST", "127.0.0.1"),
    port = port,
    threads = tonumber(config.env("SOVA_HTTP_THREADS", "16")) or 16,
  }
end

-- ---- tenants ----

local TENANT_TTL = 5 -- seconds: schema edits in the database show up this quickly
local tenants = {}

local function tenant_for(req)
  local host = request.host(req)
  if not host then errors.fail(400, "bad_request", "missing or malformed Host header") end
  local c = tenants[host]
  local now = core.sys.monotonic()
  if c and now - c.at < TENANT_TTL then return c.org end
  local org = errors.db(core.db.unscoped():find_one("organizations", { domains = host }))
  if not org then errors.fail(404, "unknown_tenant", "no clinic is served at " .. host) end
  tenants[host] = { org = org, at = now }
  return org
end

-- ---- routes ----

local function health()
  local ok = core.db.ping()
  if ok then return 200, { status = "ok", database = "ok" } end
  return 503, { status = "degraded", database = "unavailable" }
end

local function tenant_info(ctx) return 200, present.tenant(ctx.tenant) end

local openapi_text -- schemas/openapi.json, read once per worker

-- GET /api/openapi.json: the document describing these routes, served as it is in the repository
local function openapi()
  if not openapi_text then
    local path = config.root_dir() .. "/schemas/openapi.json"
    openapi_text = config.read_file(path)
    if not openapi_text then error("cannot read " .. path) end
  end
  return 200, openapi_text
end

-- {method, path, handler, needs}: needs = "none" | "tenant" | "auth" | "auth_or_link" (a bearer
-- token, or a link token for "<resource>:<first path capture>" in ?token=); {name} in a path is one
-- segment, passed to the handler. The paths are those of schemas/openapi.json (spec/api/openapi_spec.lua).
local ROUTES = {
  { "GET", "/api/health", health, "none" },
  { "GET", "/api/meta", meta.show, "none" },
  { "GET", "/api/openapi.json", openapi, "none" },
  { "GET", "/api/tenant", tenant_info, "tenant" },
  { "POST", "/api/auth/login", auth.login, "tenant" },
  { "POST", "/api/auth/logout", auth.logout, "auth" },
  { "GET", "/api/me", auth.me, "auth" },
  { "GET", "/api/workflows/{workflow}/patients", patients.list, "auth" },
  { "POST", "/api/workflows/{workflow}/patients", patients.create, "auth" },
  { "POST", "/api/workflows/{workflow}/patients/import", patient_import.import, "auth" },
  { "GET", "/api/workflows/{workflow}/dashboard", patients.dashboard, "auth" },
  { "GET", "/api/patients/{id}", patients.show, "auth" },
  { "PATCH", "/api/patients/{id}", patients.update, "auth" },
  { "DELETE", "/api/patients/{id}", patients.delete, "auth" },
  { "GET", "/api/patients/{id}/sessions", sessions.for_patient, "auth" },
  { "POST", "/api/patients/{id}/calls", calls.start, "auth" },
  { "GET", "/api/sessions/{id}", sessions.show, "auth" },
  { "GET", "/api/sessions/{id}/scenario", sessions.scenario, "auth" },
  { "GET", "/api/sessions/{id}/recording", sessions.recording, "auth_or_link" },
  { "POST", "/api/sessions/{id}/recording/link", sessions.recording_link, "auth" },
  { "POST", "/api/sessions/{id}/listen", listen.start, "auth" },
  { "GET", "/api/workflows/{workflow}/campaigns", campaigns.list, "auth" },
  { "POST", "/api/workflows/{workflow}/campaigns", campaigns.create, "auth" },
  { "GET", "/api/campaigns/{id}", campaigns.show, "auth" },
  { "POST", "/api/campaigns/{id}/pause", campaigns.pause, "auth" },
  { "POST", "/api/campaigns/{id}/resume", campaigns.resume, "auth" },
  { "POST", "/api/campaigns/{id}/cancel", campaigns.cancel, "auth" },
  { "GET", "/api/campaigns/{id}/report.csv", campaigns.report, "auth" },
  { "GET", "/api/audit", audit_log.list, "auth" },
  { "GET", "/api/webhooks", webhooks.list, "auth" },
  { "POST", "/api/webhooks", webhooks.create, "auth" },
  { "GET", "/api/webhooks/deliveries", webhooks.deliveries, "auth" },
  { "PATCH", "/api/webhooks/{id}", webhooks.update, "auth" },
  { "DELETE", "/api/webhooks/{id}", webhooks.delete, "auth" },
  { "POST", "/api/webhooks/{id}/test", webhooks.test, "auth" },
  { "POST", "/api/webhook-deliveries/{id}/replay", webhooks.replay, "auth" },
  { "GET", "/api/users", users.list, "auth" },
  { "POST", "/api/users/invites", users.invite, "auth" },
  { "DELETE", "/api/users/invites/{id}", users.revoke_invite, "auth" },
  { "PATCH", "/api/users/{id}", users.update, "auth" },
  { "POST", "/api/users/{id}/password-reset", users.reset_link, "auth" },
  { "POST", "/api/me/password", users.change_password, "auth" },
  { "GET", "/api/invites/{token}", account_links.show_invite, "tenant" },
  { "POST", "/api/invites/{token}/accept", account_links.accept_invite, "tenant" },
  { "GET", "/api/password-resets/{token}", account_links.show_reset, "tenant" },
  { "POST", "/api/password-resets/{token}", account_links.reset, "tenant" },
}

-- "/api/patients/{id}" -> "^/api/patients/([^/]+)$"; the path with its {names} is the log's route name
for _, r in ipairs(ROUTES) do
  r.pattern = "^" .. r[2]:gsub("[%.%-]", "%%%0"):gsub("{[%w_]+}", "([^/]+)") .. "$"
  r.name = r[1] .. " " .. r[2]
  if r[4] == "auth_or_link" then r.link = r[2]:match("/([%w_]+)$") end -- "recording"
end

-- The route table as data, for the spec that holds it against schemas/openapi.json.
function M.routes()
  local out = {}
  for i, r in ipairs(ROUTES) do out[i] = { method = r[1], path = r[2], needs = r[4] } end
  return out
end

local function route(method, path)
  local path_known = false
  for _, r in ipairs(ROUTES) do
    local caps = { path:match(r.pattern) }
    if caps[1] ~= nil then
      path_known = true
      if r[1] == method or (method == "HEAD" and r[1] == "GET") then return r, caps end
    end
  end
  if path_known then errors.fail(405, "method_not_allowed", "method not allowed here") end
  errors.fail(404, "not_found", "no such endpoint")
end

-- ---- once per process: the web UI's files, and maintenance ----

--- The built web UI that the C server serves (asked once, at start).
function M.frontend_dir()
  return config.env("SOVA_FRONTEND_DIR", config.root_dir() .. "/frontend/dist")
end

--- The audit retention sweep (and indexes a database outage left pending). core/api/main.c runs
-- it in its maintenance thread at start and then again after the seconds it returns.
function M.maintain()
  ensure_indexes()
  local n, err = store.sweep_audit()
  if n == nil then
    log.warn("audit.sweep_failed", { reason = err })
  elseif n > 0 then
    log.info("audit.swept", { deleted = n })
  end
  local every = maintenance_seconds()
  if not indexes_ready then return math.min(every, 10) end -- retry the indexes soon
  return every
end

-- ---- the request entry point ----

local function error_body(f)
  return { error = { code = f.code, message = f.message, fields = f.fields } }
end

local JSON_HEADERS = { ["content-type"] = "application/json" }

-- GET /metrics (Prometheus): outside the API's routes and its tenants (sova.metrics says who may read)
local function serve_metrics(req)
  if req.method ~= "GET" and req.method ~= "HEAD" then
    return 405, '{"error":{"code":"method_not_allowed","message":"GET /metrics"}}', JSON_HEADERS
  end
  local status, text, content_type = metrics.answer(req.headers.authorization, request.client_ip(req))
  return status, text, { ["content-type"] = content_type }
end

function M.handle(req)
  if req.path == "/metrics" then return serve_metrics(req) end
  local t0 = core.sys.monotonic()
  req.remote_addr = request.client_ip(req)
  local ctx = { req = req }
  local r_pattern
  local ok, status, body, headers = xpcall(function()
    local r, caps = route(req.method, req.path)
    r_pattern = r.name
    if r[4] ~= "none" then ctx.tenant = tenant_for(req) end
    if r[4] == "auth" then auth.authenticate(ctx) end
    if r[4] == "auth_or_link" then auth.authenticate(ctx, r.link .. ":" .. tostring(caps[1])) end
    return r[3](ctx, unpack(caps))
  end, function(e)
    if errors.is_failure(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if not ok then
    if errors.is_failure(status) then
      if status.headers then
        headers = { ["content-type"] = "application/json" }
        for k, v in pairs(status.headers) do headers[k] = v end
      end
      body, status = error_body(status), status.status
    else
      log.error("api.error", { method = req.method, route = r_pattern, trace = status })
      status, body = 500, { error = { code = "internal", message = "internal error" } }
    end
  end
  local text = ""
  if type(body) == "string" then -- JSON already (the OpenAPI document), or text with its own headers
    text = body
  elseif body ~= nil then
    local eok, encoded = pcall(json.encode, body)
    if eok then
      text = encoded
    else
      log.error("api.encode", { route = r_pattern, reason = encoded })
      status, text = 500, '{"error":{"code":"internal","message":"internal error"}}'
    end
  end
  local seconds = core.sys.monotonic() - t0
  metrics.http(r_pattern, status, seconds)
  -- routes and ids only: query strings (search text) and bodies can hold PHI
  log.info("http", {
    method = req.method, route = r_pattern, status = status,
    ms = math.floor(seconds * 1e5 + 0.5) / 100,
    org = ctx.tenant and ctx.tenant.slug or nil, user = ctx.user and ctx.user.id or nil,
  })
  return status, text, headers or JSON_HEADERS
end

return M

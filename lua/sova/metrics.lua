-- sova.metrics: every metric Sova exports, declared in one place, and what reads them. The
-- registry is the process's (core.metrics, in C): `sova api`'s workers each have a Lua state,
-- and their counts add up there. GET /metrics on the API and the bot, and the private listener
-- (SOVA_METRICS_HOST/PORT) of any process, serve it (docs/operations.md lists them all).
local core = require("sova.core")
local config = require("sova.config")
local metrics = core.metrics

local M = {}

local SECONDS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
-- a turn's stages: an endpointing wait or a model's answer runs to seconds
local TURN_SECONDS = { 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10 }

-- name -> {kind, help[, buckets]}
M.FAMILIES = {
  -- every process with an HTTP server (api, bot)
  sova_http_requests_total = { "counter", "HTTP requests answered, by route (its pattern) and status." },
  sova_http_request_duration_seconds = { "histogram", "Time to answer an HTTP request, by route.", SECONDS },
  -- the bot
  sova_calls_live = { "gauge", "Calls this bot is carrying now." },
  sova_calls_started_total = { "counter", "Calls this bot started, by mode (text, voice, phone)." },
  sova_call_results_total = { "counter", "Calls ended, by mode, status and who ended them." },
  sova_turn_latency_seconds = { "histogram",
    "A voice turn's time by stage (recognizer, endpointing, model, platform, synthesizer, outbound; turn: the whole; respond: end of speech to the answer's first words requested).",
    TURN_SECONDS },
  sova_provider_requests_total = { "counter",
    "Provider requests of the flows (model, tools), by host and outcome (ok, http_error, transport_error)." },
  sova_provider_latency_seconds = { "histogram", "Time to a provider's answer, by host.", TURN_SECONDS },
  sova_voice_errors_total = { "counter", "Audio path failures (speech providers, the media plane), fatal to the call or not." },
  sova_writer_queue_depth = { "gauge", "Session writes waiting in the writer's memory queue." },
  sova_writer_queue_bytes = { "gauge", "Bytes of the writes waiting in the writer's memory queue." },
  sova_writer_spool_files = { "gauge", "Writes spooled to disk while the database was away." },
  sova_writer_spool_bytes = { "gauge", "Bytes of the writes spooled to disk." },
  sova_writer_database_down = { "gauge", "1 while the writer cannot reach the database." },
  sova_writer_applied_total = { "counter", "Writes the writer applied to the database." },
  sova_writer_failed_total = { "counter", "Writes the database refused for good (each one logged)." },
  -- the campaign schedulers
  sova_campaign_dials_total = { "counter", "Campaign attempts dialed, by mode (phone, simulated)." },
  sova_campaign_attempts_total = { "counter", "Campaign attempts ended, by result." },
  sova_campaign_refusals_total = { "counter", "Attempts given back because no bot could take the call." },
  sova_campaigns_held = { "gauge", "Campaigns this scheduler is driving (holds the lease of)." },
  sova_campaign_calls_in_flight = { "gauge", "Campaign calls dialing or talking, over the campaigns this scheduler drives." },
  sova_campaign_tick_seconds = { "histogram", "Time of one scheduler pass over its campaigns.", SECONDS },
  sova_webhook_attempts_total = { "counter",
    "Webhook delivery attempts, by event and outcome (delivered, retrying, failed: no attempt left)." },
  sova_webhook_latency_seconds = { "histogram", "Time to a webhook receiver's answer.", SECONDS },
}

local declared = false

-- Declares every family in this process (again in every Lua state: a no-op after the first).
function M.declare()
  if declared then return end
  for name, f in pairs(M.FAMILIES) do metrics[f[1]](name, f[2], f[3]) end
  declared = true
end

function M.inc(name, labels, n) M.declare(); metrics.inc(name, labels, n) end
function M.set(name, labels, v) M.declare(); metrics.set(name, labels, v) end
function M.observe(name, labels, v) M.declare(); metrics.observe(name, labels, v) end

-- An HTTP request answered: route is its pattern ("GET /api/patients/{id}"), never the path
-- (ids would make a series each), "unmatched" for none.
function M.http(route, status, seconds)
  M.inc("sova_http_requests_total", { route = route or "unmatched", status = status })
  M.observe("sova_http_request_duration_seconds", { route = route or "unmatched" }, seconds)
end

-- The writer's figures (core.writer.stats()): gauges as they are, the totals as counters.
local last_applied, last_failed = 0, 0
function M.writer(w)
  M.set("sova_writer_queue_depth", nil, w.queued or 0)
  M.set("sova_writer_queue_bytes", nil, w.queued_bytes or 0)
  M.set("sova_writer_spool_files", nil, w.spooled or 0)
  M.set("sova_writer_spool_bytes", nil, w.spool_bytes or 0)
  M.set("sova_writer_database_down", nil, w.db_down and 1 or 0)
  local applied, failed = w.applied or 0, w.failed_permanently or 0
  if applied >= last_applied then M.inc("sova_writer_applied_total", nil, applied - last_applied) end
  if failed >= last_failed then M.inc("sova_writer_failed_total", nil, failed - last_failed) end
  last_applied, last_failed = applied, failed
end

-- GET /metrics on a public port: (authorization header, peer) -> status, body, content type.
M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
function M.answer(authorization, peer)
  M.declare()
  if not metrics.authorized(authorization, peer) then
    return 401, '{"error":{"code":"unauthorized","message":"the metrics token is required"}}', "application/json"
  end
  return 200, metrics.render(), M.CONTENT_TYPE
end

-- The private listener, when SOVA_METRICS_PORT is set (on SOVA_METRICS_HOST, default
-- 127.0.0.1). -> port | nil (not asked for); raises when it cannot listen.
function M.listen_if_asked()
  local port = config.env("SOVA_METRICS_PORT", "")
  if port == "" then return nil end
  local n = tonumber(port)
  if not n or n ~= math.floor(n) or n < 0 or n > 65535 then error("SOVA_METRICS_PORT must be a port number", 0) end
  M.declare()
  local bound, err = metrics.listen(config.env("SOVA_METRICS_HOST", "127.0.0.1"), n)
  if not bound then error("metrics listener: " .. tostring(err), 0) end
  return bound
end

return M

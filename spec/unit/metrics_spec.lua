-- sova.metrics and core.metrics as platform Lua uses them: labels in any order are one series,
-- numbers as labels, misuse raises; and the three places that name the metrics agree: the
-- declarations (lua/sova/metrics.lua), the operators' list (docs/deploy.md) and the Grafana
-- dashboard (docs/grafana-dashboard.json), whose every query names only declared metrics.
-- (The registry itself, its text format and its thread safety: core/tests/test_metrics.c; the
-- processes' /metrics: spec/api/metrics_spec.lua.)
-- Tags: #unit #metrics
local helpers = require("helpers")
local prom = require("helpers.prometheus")
local cjson = helpers.cjson
local core = helpers.core
local metrics = require("sova.metrics")

local ROOT = helpers.proc.root
local function read(path) return assert(helpers.proc.read_file(ROOT .. "/" .. path), path) end

describe("metrics #unit #metrics", function()
  it("declares every family in core.metrics, and declaring again is harmless", function()
    metrics.declare()
    core.metrics.counter("sova_http_requests_total", metrics.FAMILIES.sova_http_requests_total[2])
    local m = prom.parse(core.metrics.render())
    for name, f in pairs(metrics.FAMILIES) do assert.equal(f[1], m.types[name], name) end
    assert.has_error(function() core.metrics.gauge("sova_http_requests_total", "another help") end)
  end)

  it("counts labels given in any order as one series, and numbers as labels", function()
    metrics.inc("sova_http_requests_total", { route = "GET /unit", status = 201 })
    metrics.inc("sova_http_requests_total", { status = "201", route = "GET /unit" })
    metrics.observe("sova_http_request_duration_seconds", { route = "GET /unit" }, 0.02)
    local m = prom.parse(core.metrics.render())
    local series = prom.series(m, "sova_http_requests_total", { route = "GET /unit" })
    assert.equal(1, #series)
    assert.equal(2, series[1].value)
    assert.equal("201", series[1].labels.status)
    assert.equal(1, prom.value(m, "sova_http_request_duration_seconds_bucket", { route = "GET /unit", le = "0.025" }))
    assert.equal(0, prom.value(m, "sova_http_request_duration_seconds_bucket", { route = "GET /unit", le = "0.01" }))
  end)

  it("keeps a hostile label value inside its quotes", function()
    local evil = 'a"} 1\nsova_fake_total 99\n\\'
    metrics.inc("sova_provider_requests_total", { host = evil, outcome = "ok" })
    local m = prom.parse(core.metrics.render())
    assert.is_nil(m.types.sova_fake_total)
    assert.is_nil(prom.value(m, "sova_fake_total"))
    assert.equal(1, prom.value(m, "sova_provider_requests_total", { host = evil }))
  end)

  it("raises on misuse: platform Lua's bug, not a runtime failure", function()
    metrics.declare()
    for _, bad in ipairs({
      function() core.metrics.inc("sova_not_declared_total") end,
      function() core.metrics.inc("sova_http_requests_total", { ["bad-name"] = "x" }) end,
      function() core.metrics.inc("sova_http_requests_total", { [1] = "x" }) end,
      function() core.metrics.inc("sova_http_requests_total", { route = {} }) end,
      function() core.metrics.inc("sova_http_requests_total", nil, -1) end,
      function() core.metrics.set("sova_http_requests_total", nil, 1) end,
      function() core.metrics.observe("sova_calls_live", nil, 1) end,
      function() core.metrics.inc("sova_http_requests_total", { a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9 }) end,
      function() core.metrics.inc("sova_http_requests_total", { route = string.rep("x", 600) }) end,
      function() core.metrics.histogram("sova_unit_seconds", "x", { 2, 1 }) end,
      function() core.metrics.listen("127.0.0.1", 70000) end,
    }) do
      assert.has_error(bad)
    end
  end)

  it("the operators' list names every metric", function()
    local doc = read("docs/deploy.md")
    for name in pairs(metrics.FAMILIES) do
      local short = name:gsub("^sova_writer", "")
      assert.truthy(doc:find(name, 1, true) or doc:find("`" .. short .. "`", 1, true), name .. " in docs/deploy.md")
    end
  end)

  it("the Grafana dashboard queries declared metrics only, and shows each kind of figure the issue asks for", function()
    local dash = cjson.decode((read("docs/grafana-dashboard.json")))
    local used = {}
    for _, p in ipairs(dash.panels) do
      for _, t in ipairs(p.targets or {}) do
        for name in t.expr:gmatch("sova_[%w_]+") do
          local family = name:gsub("_bucket$", ""):gsub("_count$", ""):gsub("_sum$", "")
          assert.truthy(metrics.FAMILIES[family] or family == "sova_metrics_series_dropped_total",
            name .. " (" .. p.title .. ") is no declared metric")
          used[family] = true
        end
      end
    end
    for _, want in ipairs({ "sova_calls_live", "sova_call_results_total", "sova_turn_latency_seconds",
      "sova_provider_requests_total", "sova_provider_latency_seconds", "sova_writer_queue_depth",
      "sova_writer_spool_files", "sova_campaign_dials_total", "sova_campaign_attempts_total",
      "sova_http_requests_total" }) do
      assert.truthy(used[want], want .. " on the dashboard")
    end
  end)
end)

-- Prometheus metrics of `sova api`, `sova bot` and `sova campaigns`, scraped as Prometheus would
-- (spec/helpers/prometheus.lua parses the text strictly): who may read them (SOVA_METRICS_TOKEN
-- on the public ports; the private listener of SOVA_METRICS_PORT), and that they count what
-- happened: the API's answers by route pattern and status, and a campaign's calls through the
-- phone simulator in the bot (calls, results, its HTTP answers, its writer) and the scheduler
-- (dials, attempts by result, its passes, the clinic's webhook delivered).
-- Tags: #api #metrics #campaign
local helpers = require("helpers")
local prom = require("helpers.prometheus")
local receiver = require("helpers.webhook_receiver")
local core = helpers.core
local cjson = helpers.cjson
local BETA = helpers.BETA
local WF = "patient_questions"

local TOKEN = core.crypto.random_hex(24)
local BUSY, FAILS = "+14155550301", "+14155550302"

local function get(url, headers, method)
  local res = assert(core.http.request { method = method or "GET", url = url, headers = headers or {}, timeout_ms = 10000 })
  return res
end

local function scrape(url)
  local res = get(url, { Authorization = "Bearer " .. TOKEN })
  assert.equal(200, res.status, res.body)
  assert.equal("text/plain; version=0.0.4; charset=utf-8", res.headers["content-type"])
  return prom.parse(res.body), res.body
end

-- a histogram's series is cumulative, and its +Inf bucket is its count
local function assert_histogram(m, name, labels)
  local buckets = prom.series(m, name .. "_bucket", labels)
  assert.is_true(#buckets >= 2, name .. " has buckets")
  local last = -1
  for _, b in ipairs(buckets) do
    assert.is_true(b.value >= last, name .. " buckets are cumulative")
    last = b.value
  end
  assert.equal(math.huge, tonumber(buckets[#buckets].labels.le) or (buckets[#buckets].labels.le == "+Inf" and math.huge))
  assert.equal(prom.value(m, name .. "_count", labels), last)
end

describe("metrics #api #metrics #campaign", function()
  local db, api, bot, f, sim, sched, sched_url, rx

  lazy_setup(function()
    sim = helpers.start_phonesim({ scenarios = {
      [BUSY] = { kind = "busy", ring_ms = 300 },
      [FAILS] = { kind = "failed" },
    } })
    db, api, bot = helpers.setup_calls({
      bot = { env = { SOVA_PHONE_SIM_URL = sim.api_base, SOVA_PHONE_SIM_ACCOUNT_SID = sim.account_sid,
        SOVA_PHONE_SIM_AUTH_TOKEN = sim.auth_token, SOVA_METRICS_TOKEN = TOKEN } },
      api = { env = { SOVA_METRICS_TOKEN = TOKEN } },
    })
    f = helpers.factory(db, api)
    -- no token: its private listener serves whoever reaches the address it was given
    sched = helpers.start_campaigns(db, bot, { env = { SOVA_METRICS_PORT = "0" } })
    local port = helpers.wait_until(function()
      for line in sched:log_text():gmatch("[^\n]+") do
        local ok, ev = pcall(cjson.decode, line)
        if ok and type(ev) == "table" and ev.event == "campaigns.ready" then return ev.metrics_port end
      end
    end, 10, 0.1)
    sched_url = "http://127.0.0.1:" .. port .. "/metrics"
    rx = receiver.start()
  end)
  lazy_teardown(function()
    if rx then rx:stop() end
    helpers.stop_all()
  end)

  it("the API's /metrics needs the token, even from loopback, and nothing else answers there", function()
    for _, h in ipairs({ {}, { Authorization = "Bearer wrong" }, { Authorization = "Bearer " .. TOKEN .. "x" },
      { Authorization = "Basic " .. TOKEN }, { Authorization = "Bearer " } }) do
      local res = get(api.url .. "/metrics", h)
      assert.equal(401, res.status, res.body)
      assert.equal("unauthorized", cjson.decode(res.body).error.code)
      assert.is_nil(res.body:find("sova_http", 1, true))
    end
    assert.equal(405, get(api.url .. "/metrics", { Authorization = "Bearer " .. TOKEN }, "POST").status)
    -- the web UI's files are served around it: a path under it is the app's
    local under = get(api.url .. "/metrics/x", { Authorization = "Bearer " .. TOKEN })
    assert.is_nil(under.body:find("# TYPE", 1, true))
    local m = scrape(api.url .. "/metrics")
    assert.equal("counter", m.types.sova_http_requests_total)
    assert.equal("histogram", m.types.sova_http_request_duration_seconds)
  end)

  it("the API counts each answer by its route's pattern and status, never by its path", function()
    local token = f:login(BETA)
    local before = scrape(api.url .. "/metrics")
    local missing = helpers.new_id()
    for _ = 1, 3 do assert.equal(200, f:req(BETA, "GET", "/api/me").status) end
    assert.equal(404, helpers.http(api, "GET", "/api/patients/" .. missing, { host = BETA.host, token = token }).status)
    assert.equal(404, helpers.http(api, "GET", "/api/no/such/thing").status)
    assert.equal(401, helpers.http(api, "GET", "/api/me").status)
    local after, text = scrape(api.url .. "/metrics")
    local function delta(labels)
      return (prom.value(after, "sova_http_requests_total", labels) or 0) -
        (prom.value(before, "sova_http_requests_total", labels) or 0)
    end
    assert.equal(3, delta({ route = "GET /api/me", status = 200 }))
    assert.equal(1, delta({ route = "GET /api/me", status = 401 }))
    assert.equal(1, delta({ route = "GET /api/patients/{id}", status = 404 }))
    assert.equal(1, delta({ route = "unmatched", status = 404 }))
    assert.is_nil(text:find(missing, 1, true), "no id in a label")
    assert.is_nil(text:find("/api/no/such", 1, true), "no path in a label")
    assert_histogram(after, "sova_http_request_duration_seconds", { route = "GET /api/me" })
  end)

  it("a campaign's calls count in the bot's and the scheduler's metrics", function()
    assert.equal(401, get(bot.url .. "/metrics").status, "the bot wants the token too")
    local hook = f:req(BETA, "POST", "/api/webhooks", { url = rx.url .. "/ok/metrics", events = { "campaign.finished" } })
    assert.equal(201, hook.status, hook.body)
    rx:set_secret("/ok/metrics", hook.json.secret)
    local ids = {
      f:patient(BETA, WF, { phone_number = BUSY }).id,
      f:patient(BETA, WF, { phone_number = FAILS }).id,
    }
    local res = f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", {
      patient_ids = ids, mode = "simulated", concurrency = 2, calls_per_second = 5,
      retry = { busy = { attempts = 1, every_minutes = 1 }, failed = { attempts = 1, every_minutes = 1 } } })
    assert.equal(201, res.status, res.body)
    local id = res.json.id
    helpers.wait_until(function()
      return f:req(BETA, "GET", "/api/campaigns/" .. id).json.status == "finished"
    end, 120, 0.5)

    local b = helpers.wait_until(function()
      local m = scrape(bot.url .. "/metrics")
      return (prom.value(m, "sova_call_results_total", { mode = "phone" }) or 0) >= 2 and m
    end, 30, 0.5)
    assert.equal(2, prom.value(b, "sova_calls_started_total", { mode = "phone" }))
    assert.equal(2, prom.value(b, "sova_call_results_total", { mode = "phone" }))
    for _, s in ipairs(prom.series(b, "sova_call_results_total")) do
      assert.truthy(({ busy = true, failed = true })[s.labels.status], s.labels.status)
    end
    assert.equal(0, prom.value(b, "sova_calls_live"))
    assert.equal(2, prom.value(b, "sova_http_requests_total", { route = "/calls", status = 202 }))
    assert.is_true((prom.value(b, "sova_http_requests_total", { route = "/twilio/status/{session}" }) or 0) >= 2,
      "Twilio's status callbacks count under their pattern")
    assert.is_number(prom.value(b, "sova_writer_queue_depth"))
    assert.is_number(prom.value(b, "sova_writer_spool_files"))
    assert.equal(0, prom.value(b, "sova_writer_database_down"))

    -- the scheduler's private listener: no token asked, /metrics only
    assert.equal(404, get((sched_url:gsub("/metrics$", "/other"))).status)
    assert.equal(405, get(sched_url, {}, "POST").status)
    local s = helpers.wait_until(function()
      local r = get(sched_url)
      assert.equal(200, r.status, r.body)
      local m = prom.parse(r.body)
      return prom.value(m, "sova_campaigns_held") == 0 and m
    end, 15, 0.5)
    assert.equal(2, prom.value(s, "sova_campaign_dials_total", { mode = "simulated" }))
    assert.equal(2, prom.value(s, "sova_campaign_attempts_total"))
    assert.equal(1, prom.value(s, "sova_campaign_attempts_total", { result = "busy" }))
    assert.equal(1, prom.value(s, "sova_campaign_attempts_total", { result = "failed" }))
    assert.equal(0, prom.value(s, "sova_campaign_calls_in_flight"))
    assert_histogram(s, "sova_campaign_tick_seconds")
    assert.is_true(prom.value(s, "sova_campaign_tick_seconds_count") > 10)
    -- the campaign's end, delivered to the clinic's receiver, counted by the scheduler that sent it
    local w = helpers.wait_until(function()
      local m = prom.parse(get(sched_url).body)
      return prom.value(m, "sova_webhook_attempts_total", { event = "campaign.finished" }) and m
    end, 30, 0.5)
    assert.equal(1, prom.value(w, "sova_webhook_attempts_total", { event = "campaign.finished", outcome = "delivered" }))
    assert.equal(1, prom.value(w, "sova_webhook_latency_seconds_count"))
    assert.equal(1, #rx:log())
  end)
end)

-- A clinic's signed outbound webhooks, end to end: an admin adds endpoints (the secret shown
-- once), `sova campaigns` delivers to a real receiver on loopback that checks every Sova-Signature
-- itself (spec/helpers/webhook_receiver.lua, Python's hmac), a receiver that fails twice is
-- retried on the backoff schedule (scaled down by SOVA_WEBHOOK_BACKOFF_SCALE) and one that is
-- always down ends failed, a delivery is replayed, an address refused at send time is not sent
-- to, staff get 403 and another clinic 404, every change is audited and every delivery recorded
-- as a disclosure; a test call that writes an outcome produces outcome.written and call.ended,
-- and a real simulated campaign call produces call.ended and campaign.finished.
-- Tags: #api #webhooks
local helpers = require("helpers")
local receiver = require("helpers.webhook_receiver")
local conversations = require("fixtures.conversations")
local cjson = helpers.cjson
local core = helpers.core
local bson = core.bson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local WF = "patient_questions"
local SCALE = 0.001 -- the backoff: 10 ms, 60 ms, 300 ms, 1.8 s, 7.2 s, 21.6 s
local BACKOFF = { 10, 60, 300, 1800, 7200, 21600 }
local HUMAN = "+14155550177"
local ONCE = { attempts = 1, every_minutes = 1 } -- no retry: the campaign ends after its one call

describe("webhooks #api #webhooks", function()
  local db, api, bot, f, sim, rx, staff_token, scheduler, schedulers

  lazy_setup(function()
    sim = helpers.start_phonesim({ scenarios = {
      [HUMAN] = { kind = "human", ring_ms = 300, greeting = "Hello?", lines = { "Sorry, wrong number." },
        hangup_in_line = 1, hangup_at_ms = 900 },
    } })
    db, api, bot = helpers.setup_calls({ bot = { env = { SOVA_PHONE_SIM_URL = sim.api_base,
      SOVA_PHONE_SIM_ACCOUNT_SID = sim.account_sid, SOVA_PHONE_SIM_AUTH_TOKEN = sim.auth_token } } })
    f = helpers.factory(db, api)
    -- two schedulers: one delivers at a time (the "webhooks" lease), so nothing below is sent twice
    schedulers = {}
    for i = 1, 2 do
      schedulers[i] = helpers.start_campaigns(db, bot, { env = { SOVA_WEBHOOK_BACKOFF_SCALE = tostring(SCALE) } })
    end
    scheduler = schedulers[1]
    rx = receiver.start()
    local h = db:handle()
    local admin = assert(h:find_one("users", { email = ALPHA.email }))
    local staff = {}
    for k, v in pairs(admin) do staff[k] = v end
    staff._id, staff.email, staff.role = nil, "webhook.staff@example.com", "staff"
    assert(h:insert("users", staff))
    staff_token = assert(helpers.login(api, ALPHA.host, staff.email, helpers.DEMO_PASSWORD))
  end)
  lazy_teardown(function()
    if rx then rx:stop() end
    helpers.stop_all()
  end)

  local function count(coll, filter) return #db:handle():find(coll, filter or {}) end

  -- adds an endpoint for who at the receiver's path; its secret goes to the receiver
  local function add(who, path, events)
    local res = f:req(who, "POST", "/api/webhooks", { url = rx.url .. path, events = events or { "call.ended",
      "outcome.written", "campaign.finished" }, description = "EHR feed " .. path })
    assert.status(201, res)
    rx:set_secret(path, res.json.secret)
    return res.json
  end

  local function deliveries(who, query)
    local res = f:req(who, "GET", "/api/webhooks/deliveries" .. (query or ""))
    assert.status(200, res)
    return res.json.items
  end

  local function delivery(who, id)
    for _, d in ipairs(deliveries(who, "?limit=200")) do if d.id == id then return d end end
  end

  local function received(fn, timeout)
    return helpers.wait_until(function()
      local out = {}
      for _, e in ipairs(rx:log()) do if fn(e) then out[#out + 1] = e end end
      return #out > 0 and out
    end, timeout or 20, 0.1)
  end

  local function audits(action)
    return db:handle():find("audit_logs", { action = action })
  end

  it("an admin adds an endpoint: its secret is shown once, stored sealed, never listed", function()
    local before = #audits("webhook_create")
    local ep = add(ALPHA, "/ok/first")
    assert.truthy(ep.secret:match("^whsec_%x+$") and #ep.secret == 70, ep.secret)
    assert.equal("whsec_…" .. ep.secret:sub(-4), ep.secret_hint)
    assert.same({ "call.ended", "outcome.written", "campaign.finished" }, ep.events)
    assert.is_true(ep.enabled)
    local doc = assert(db:handle():find_one("webhook_endpoints", { _id = bson.oid(ep.id) }))
    assert.is_string(doc.secret_sealed)
    assert.falsy(cjson.encode(doc):find(ep.secret:sub(7), 1, true), "the secret is stored in the clear")
    local list = f:req(ALPHA, "GET", "/api/webhooks")
    assert.status(200, list)
    local found
    for _, e in ipairs(list.json.items) do
      assert.is_nil(e.secret)
      assert.is_nil(e.secret_sealed)
      if e.id == ep.id then found = e end
    end
    assert.truthy(found)
    assert.equal(before + 1, #audits("webhook_create"))
  end)

  it("refuses bad bodies field by field, and writes nothing", function()
    local n = count("webhook_endpoints")
    local good = rx.url .. "/ok/x"
    local cases = {
      { { events = { "call.ended" } }, "url" },
      { { url = 42, events = { "call.ended" } }, "url" },
      { { url = "ftp://127.0.0.1/x", events = { "call.ended" } }, "url" },
      { { url = "http://user:pw@127.0.0.1/x", events = { "call.ended" } }, "url" },
      { { url = "http://169.254.169.254/latest/meta-data/", events = { "call.ended" } }, "url" },
      { { url = "http://0.0.0.0:80/", events = { "call.ended" } }, "url" },
      { { url = "http://[fe80::1]/", events = { "call.ended" } }, "url" },
      { { url = "http://2130706433/", events = { "call.ended" } }, "url" },
      { { url = "http://" .. string.rep("a", 3000) .. ".com/", events = { "call.ended" } }, "url" },
      { { url = good }, "events" },
      { { url = good, events = {} }, "events" },
      { { url = good, events = "call.ended" }, "events" },
      { { url = good, events = { call = "ended" } }, "events" },
      { { url = good, events = { "call.started" } }, "events.1" },
      { { url = good, events = { "call.ended", "call.ended" } }, "events.2" },
      { { url = good, events = { "ping" } }, "events.1" },
      { { url = good, events = { "call.ended" }, description = string.rep("d", 201) }, "description" },
      { { url = good, events = { "call.ended" }, enabled = "yes" }, "enabled" },
      { { url = good, events = { "call.ended" }, secret = "mine" }, "secret" },
    }
    for _, c in ipairs(cases) do
      local res = f:req(ALPHA, "POST", "/api/webhooks", c[1])
      assert.status(422, res)
      assert.equal("validation_failed", res.json.error.code)
      assert.is_string(res.json.error.fields[c[2]], cjson.encode(c[1]):sub(1, 200) .. " -> " .. res.body:sub(1, 300))
    end
    assert.status(400, f:req(ALPHA, "POST", "/api/webhooks", nil, { raw = "{" }))
    assert.status(400, f:req(ALPHA, "POST", "/api/webhooks", nil, { raw = "[1]" }))
    assert.equal(n, count("webhook_endpoints"))
  end)

  it("answers 403 to staff on every route, and changes nothing", function()
    local ep = add(ALPHA, "/ok/staff")
    local n, d = count("webhook_endpoints"), count("webhook_deliveries")
    local id = ep.id
    for _, r in ipairs({ { "GET", "/api/webhooks" }, { "POST", "/api/webhooks", { url = rx.url .. "/ok/s", events = { "call.ended" } } },
      { "GET", "/api/webhooks/deliveries" }, { "PATCH", "/api/webhooks/" .. id, { enabled = false } },
      { "DELETE", "/api/webhooks/" .. id }, { "POST", "/api/webhooks/" .. id .. "/test" },
      { "POST", "/api/webhook-deliveries/" .. id .. "/replay" } }) do
      local res = helpers.http(api, r[1], r[2], { host = ALPHA.host, token = staff_token, body = r[3] })
      assert.status(403, res)
      assert.equal("forbidden", res.json.error.code)
    end
    assert.equal(n, count("webhook_endpoints"))
    assert.equal(d, count("webhook_deliveries"))
    assert.is_true(db:handle():find_one("webhook_endpoints", { _id = bson.oid(id) }).enabled)
  end)

  it("a test ping arrives signed (the receiver checks it), and the log shows it delivered", function()
    local ep = add(ALPHA, "/ok/ping")
    local res = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test")
    assert.status(202, res)
    local id = res.json.id
    assert.equal("pending", res.json.status)
    assert.equal("ping", res.json.event)
    local got = received(function(e) return e.delivery == id end)[1]
    assert.is_true(got.valid, got.why)
    assert.equal("/ok/ping", got.path)
    assert.equal("ping", got.event)
    assert.equal("application/json", got.content_type)
    assert.equal(id, got.json.id)
    assert.equal("ping", got.json.event)
    assert.equal(ep.id, got.json.data.webhook_id)
    assert.truthy(got.signature:match("^t=%d+,v1=%x+$"))
    local d = helpers.wait_until(function()
      local x = delivery(ALPHA, id)
      return x and x.status == "delivered" and x
    end, 10, 0.1)
    assert.equal(1, d.attempts)
    assert.equal(200, d.last_status_code)
    assert.equal("thanks", d.attempt_log[1].response)
    assert.equal(ep.id, d.endpoint_id)
    -- the disclosure is on the clinic's audit trail
    local disclosed = db:handle():find("audit_logs", { event_type = "disclosure", resource_id = id })
    assert.equal(1, #disclosed)
    assert.equal(ep.id, disclosed[1].details.endpoint_id)
    assert.equal(1, #db:handle():find("audit_logs", { action = "webhook_test", resource_id = ep.id }))
  end)

  it("retries a receiver that fails twice, on the backoff schedule, until it answers 2xx", function()
    local ep = add(ALPHA, "/flaky/a")
    local id = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    local d = helpers.wait_until(function()
      local x = delivery(ALPHA, id)
      return x and x.status == "delivered" and x
    end, 20, 0.1)
    assert.equal(3, d.attempts)
    local codes = {}
    for i, a in ipairs(d.attempt_log) do codes[i] = a.status_code end
    assert.same({ 500, 500, 200 }, codes)
    assert.equal("answered HTTP 500", d.attempt_log[1].error)
    local got = received(function(e) return e.delivery == id end)
    assert.equal(3, #got)
    for _, e in ipairs(got) do assert.is_true(e.valid, e.why) end
    -- one delivery id for all attempts: the receiver de-duplicates by it
    assert.equal(got[1].json.id, got[3].json.id)
  end)

  it("gives up on a receiver that is always down after 7 attempts, each wait the schedule's", function()
    local ep = add(ALPHA, "/down/a")
    local id = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    local waits = {} -- attempt n -> ms from its attempt to the next one's due time
    local h = db:handle()
    local deadline = core.sys.monotonic() + 90
    local doc
    repeat
      doc = h:find_one("webhook_deliveries", { _id = bson.oid(id) })
      if doc and doc.status == "pending" and doc.attempts > 0 and not waits[doc.attempts] then
        local last = doc.attempt_log[#doc.attempt_log]
        waits[doc.attempts] = doc.next_at - last.at["$date"]
      end
      core.sys.sleep(0.02)
    until (doc and doc.status == "failed") or core.sys.monotonic() > deadline
    assert.equal("failed", doc.status)
    assert.equal(7, doc.attempts)
    for n = 1, 6 do
      assert(waits[n], "attempt " .. n .. " was not seen pending: " .. cjson.encode(waits))
      local want = BACKOFF[n] * SCALE * 1000
      assert(math.abs(waits[n] - want) <= 25, ("attempt %d waited %s ms, not %s"):format(n, waits[n], want))
    end
    -- and they were spaced at least so
    local log = doc.attempt_log
    for n = 2, 7 do
      assert.is_true(log[n].at["$date"] - log[n - 1].at["$date"] >= BACKOFF[n - 1] * SCALE * 1000 - 5)
    end
    local d = delivery(ALPHA, id)
    assert.equal(503, d.last_status_code)
    assert.equal(cjson.null, d.next_at)
    assert.equal(7, #received(function(e) return e.delivery == id end))
    local failed = deliveries(ALPHA, "?status=failed&endpoint=" .. ep.id)
    assert.equal(1, #failed)
    assert.equal(id, failed[1].id)
  end)

  it("replays a delivery as a new one of the same event and payload, audited", function()
    local ep = add(ALPHA, "/ok/replay")
    local first = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    received(function(e) return e.delivery == first end)
    local res = f:req(ALPHA, "POST", "/api/webhook-deliveries/" .. first .. "/replay")
    assert.status(202, res)
    local again = res.json.id
    assert.not_equal(first, again)
    assert.equal(first, res.json.replay_of)
    local a = received(function(e) return e.delivery == first end)[1]
    local b = received(function(e) return e.delivery == again end)[1]
    assert.is_true(b.valid, b.why)
    assert.equal(a.event, b.event)
    assert.same(a.json.data, b.json.data)
    assert.equal(first, b.json.replay_of)
    assert.equal(1, #db:handle():find("audit_logs", { action = "webhook_replay", resource_id = first }))
    -- malformed and unknown ids are not found
    assert.status(404, f:req(ALPHA, "POST", "/api/webhook-deliveries/nope/replay"))
    assert.status(404, f:req(ALPHA, "POST", "/api/webhook-deliveries/" .. ("0"):rep(24) .. "/replay"))
  end)

  it("another clinic sees none of it: 404 for Alpha's endpoints and deliveries, an empty log", function()
    local ep = add(ALPHA, "/ok/walls")
    local did = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    local n, d = count("webhook_endpoints"), count("webhook_deliveries")
    assert.status(404, f:req(BETA, "PATCH", "/api/webhooks/" .. ep.id, { enabled = false }))
    assert.status(404, f:req(BETA, "DELETE", "/api/webhooks/" .. ep.id))
    assert.status(404, f:req(BETA, "POST", "/api/webhooks/" .. ep.id .. "/test"))
    assert.status(404, f:req(BETA, "POST", "/api/webhook-deliveries/" .. did .. "/replay"))
    for _, e in ipairs(f:req(BETA, "GET", "/api/webhooks").json.items) do assert.not_equal(ep.id, e.id) end
    for _, x in ipairs(deliveries(BETA, "?limit=200")) do assert.not_equal(did, x.id) end
    assert.equal(0, #deliveries(BETA, "?endpoint=" .. ep.id))
    assert.equal(n, count("webhook_endpoints"))
    assert.equal(d, count("webhook_deliveries"))
    assert.is_true(db:handle():find_one("webhook_endpoints", { _id = bson.oid(ep.id) }).enabled)
  end)

  it("changes, disables and deletes an endpoint; a disabled one takes no test, a deleted one's log stays", function()
    local ep = add(ALPHA, "/ok/change")
    local res = f:req(ALPHA, "PATCH", "/api/webhooks/" .. ep.id, { events = { "campaign.finished" }, enabled = false })
    assert.status(200, res)
    assert.same({ "campaign.finished" }, res.json.events)
    assert.is_false(res.json.enabled)
    local d = count("webhook_deliveries")
    assert.status(409, f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test"))
    assert.equal(d, count("webhook_deliveries"))
    -- refusals change nothing
    assert.status(422, f:req(ALPHA, "PATCH", "/api/webhooks/" .. ep.id, { url = "http://169.254.169.254/" }))
    assert.status(422, f:req(ALPHA, "PATCH", "/api/webhooks/" .. ep.id, {}))
    assert.status(422, f:req(ALPHA, "PATCH", "/api/webhooks/" .. ep.id, { enabled = true, events = { "nope" } }))
    local doc = db:handle():find_one("webhook_endpoints", { _id = bson.oid(ep.id) })
    assert.equal(rx.url .. "/ok/change", doc.url)
    assert.is_false(doc.enabled)
    assert.status(200, f:req(ALPHA, "PATCH", "/api/webhooks/" .. ep.id, { enabled = true }))
    local did = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    received(function(e) return e.delivery == did end)
    assert.status(204, f:req(ALPHA, "DELETE", "/api/webhooks/" .. ep.id))
    assert.status(404, f:req(ALPHA, "DELETE", "/api/webhooks/" .. ep.id))
    assert.truthy(delivery(ALPHA, did), "the deleted endpoint's deliveries stay in the log")
    assert.status(409, f:req(ALPHA, "POST", "/api/webhook-deliveries/" .. did .. "/replay"))
    for _, a in ipairs({ "webhook_update", "webhook_delete" }) do
      assert.is_true(#db:handle():find("audit_logs", { action = a, resource_id = ep.id }) >= 1, a)
    end
  end)

  it("sends nothing to an address that is refused at send time", function()
    local ep = add(ALPHA, "/ok/rebound")
    -- as if its name now resolved to the metadata address: the saved URL changes under the API
    assert(db:handle():update("webhook_endpoints", { _id = bson.oid(ep.id) },
      { ["$set"] = { url = "http://169.254.169.254/latest/meta-data/" } }))
    local id = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    local d = helpers.wait_until(function()
      local x = delivery(ALPHA, id)
      return x and x.attempts >= 1 and x
    end, 10, 0.1)
    assert.truthy(d.last_error:find("refused", 1, true), d.last_error)
    assert.equal(cjson.null, d.last_status_code)
    assert.equal(0, #db:handle():find("audit_logs", { event_type = "disclosure", resource_id = id }))
  end)

  it("pages the log newest first and refuses bad filters", function()
    local all = deliveries(ALPHA, "?limit=200")
    assert.is_true(#all >= 5)
    local page1 = f:req(ALPHA, "GET", "/api/webhooks/deliveries?limit=2").json
    assert.equal(2, #page1.items)
    assert.equal(all[1].id, page1.items[1].id)
    local page2 = f:req(ALPHA, "GET", "/api/webhooks/deliveries?limit=2&cursor=" .. page1.next_cursor).json
    assert.equal(all[3].id, page2.items[1].id)
    assert.status(400, f:req(ALPHA, "GET", "/api/webhooks/deliveries?status=lost"))
    assert.status(400, f:req(ALPHA, "GET", "/api/webhooks/deliveries?endpoint=nope"))
    assert.status(400, f:req(ALPHA, "GET", "/api/webhooks/deliveries?limit=0"))
  end)

  -- plays lines over a test call's live WebSocket, one after each answer (spec/api/calls_spec.lua)
  local function play(live_url, lines)
    local ws = assert(core.ws_client.connect(live_url))
    local function drain(ms)
      while true do
        local m, err = ws:receive(ms)
        if not m then return err end
      end
    end
    drain(400)
    for _, line in ipairs(lines) do
      assert(ws:send(cjson.encode({ type = "say", text = line })))
      if drain(400) == "closed" then break end
    end
    drain(1000)
    ws:close()
  end

  it("a test call that writes an outcome sends outcome.written with the fields, and call.ended", function()
    add(ALPHA, "/ok/alpha-ehr", { "outcome.written", "call.ended" })
    local call = f:test_call(ALPHA, "prior_auth", { patient_name = "Ada Lovelace" })
    play(call.live_url, conversations.alpha_prior_auth.lines)
    local s = helpers.wait_session(db, call.session_id)
    assert.equal("completed", s.status)
    local function mine(event)
      return function(e) return e.path == "/ok/alpha-ehr" and e.event == event and e.json.data.session_id == call.session_id end
    end
    local out = received(mine("outcome.written"), 30)[1]
    assert.is_true(out.valid, out.why)
    assert.same(conversations.alpha_prior_auth.outcome, out.json.data.fields)
    assert.equal(call.patient.id, out.json.data.patient_id)
    assert.equal("prior_auth", out.json.data.workflow)
    local ended = received(mine("call.ended"), 30)[1]
    assert.is_true(ended.valid, ended.why)
    assert.equal("completed", ended.json.data.status)
    assert.is_nil(ended.json.data.campaign_id)
    assert.equal("browser", ended.json.data.mode)
    -- once each, whatever the writer or the fan-out repeated
    assert.equal(1, #received(mine("outcome.written")))
    assert.equal(1, #received(mine("call.ended")))
    -- Beta's endpoint heard nothing of Alpha's call
    for _, e in ipairs(rx:log()) do
      if e.path:find("beta", 1, true) then assert.not_equal(call.session_id, e.json.data.session_id) end
    end
  end)

  it("a campaign's simulated call sends call.ended, and the campaign campaign.finished", function()
    local ep = add(BETA, "/ok/beta-ehr", { "call.ended", "campaign.finished" })
    local p = f:patient(BETA, WF, { phone_number = HUMAN })
    local res = f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", { patient_ids = { p.id }, mode = "simulated",
      concurrency = 1, calls_per_second = 1,
      window = { days = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" }, start = "00:00", ["end"] = "24:00" },
      retry = { no_answer = ONCE, busy = ONCE, voicemail = ONCE, failed = ONCE, incomplete = ONCE } })
    assert.status(201, res)
    local cid = res.json.id
    local ok, got = pcall(received, function(e) return e.event == "campaign.finished" and e.path == "/ok/beta-ehr" end, 90)
    assert(ok, tostring(got) .. "\n" .. scheduler:log_text():sub(-3000) .. "\n" .. schedulers[2]:log_text():sub(-3000)
      .. "\n" .. bot:log_text():sub(-3000))
    local fin = got[1]
    assert.is_true(fin.valid, fin.why)
    assert.equal(cid, fin.json.data.campaign_id)
    assert.equal("finished", fin.json.data.status)
    assert.equal(WF, fin.json.data.workflow)
    assert.equal(1, fin.json.data.total)
    local ended = received(function(e) return e.event == "call.ended" and e.path == "/ok/beta-ehr" end, 30)[1]
    assert.is_true(ended.valid, ended.why)
    local data = ended.json.data
    assert.equal(p.id, data.patient_id)
    assert.equal(cid, data.campaign_id)
    assert.equal(WF, data.workflow)
    assert.truthy(helpers.vocabulary.TERMINAL_STATUSES[data.status], data.status)
    local s = helpers.session_doc(db, data.session_id)
    assert.truthy(s, "call.ended names the campaign's session")
    assert.equal(cid, s.campaign_id["$oid"])
    assert.equal(s.status, data.status)
    -- Alpha's endpoints heard nothing of Beta's campaign
    for _, e in ipairs(rx:log()) do
      if e.path ~= "/ok/beta-ehr" then
        assert.is_nil(e.json.data.campaign_id == cid or nil, "Alpha's endpoint got Beta's campaign")
      end
    end
    -- one event each: the campaign's is keyed by it
    assert.equal(1, #received(function(e) return e.event == "campaign.finished" and e.path == "/ok/beta-ehr" end))
    assert.equal(ep.id, delivery(BETA, fin.delivery).endpoint_id)
  end)

  it("a campaign cancelled before it dialed anyone sends campaign.finished as cancelled", function()
    local ep = add(BETA, "/ok/beta-cancel", { "campaign.finished" })
    -- the window is the day after tomorrow in Chicago: nothing is dialed meanwhile
    local zone = "America/Chicago"
    local t = os.time()
    local wday = tonumber(os.date("!%w", t + core.tz.offset(zone, t)))
    local day = ({ "sun", "mon", "tue", "wed", "thu", "fri", "sat" })[(wday + 2) % 7 + 1]
    local p = f:patient(BETA, WF, { phone_number = "+14155550178" })
    local res = f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", { patient_ids = { p.id }, mode = "simulated",
      window = { days = { day }, start = "10:00", ["end"] = "11:00", time_zone = zone } })
    assert.status(201, res)
    local cid = res.json.id
    -- a scheduler holds it (its next call is due when the window opens), then the cancel
    helpers.wait_until(function()
      return f:req(BETA, "GET", "/api/campaigns/" .. cid).json.next_at ~= cjson.null
    end, 30, 0.25)
    assert.status(200, f:req(BETA, "POST", "/api/campaigns/" .. cid .. "/cancel"))
    local fin = received(function(e) return e.path == "/ok/beta-cancel" and e.json.data.campaign_id == cid end, 30)
    assert.equal(1, #fin)
    assert.is_true(fin[1].valid, fin[1].why)
    assert.equal("campaign.finished", fin[1].event)
    assert.equal("cancelled", fin[1].json.data.status)
    assert.same({ cancelled = 1 }, fin[1].json.data.results)
    assert.equal(ep.id, delivery(BETA, fin[1].delivery).endpoint_id)
  end)

  it("when the delivering scheduler is SIGKILLed, the other takes the deliveries over", function()
    local function holds(sc)
      local taken, released = 0, 0
      for line in sc:log_text():gmatch("[^\n]+") do
        local e = cjson.decode(line)
        if e.event == "webhooks.taken" then taken = taken + 1 end
        if e.event == "webhooks.released" then released = released + 1 end
      end
      return taken > released
    end
    local holder = holds(schedulers[1]) and schedulers[1] or schedulers[2]
    local other = holder == schedulers[1] and schedulers[2] or schedulers[1]
    assert.is_true(holds(holder))
    assert.is_false(holds(other), "both schedulers held the webhooks lease")
    holder:kill()
    local ep = add(ALPHA, "/ok/failover")
    local id = f:req(ALPHA, "POST", "/api/webhooks/" .. ep.id .. "/test").json.id
    -- within the lease's 15 s and the take's scan
    local got = received(function(e) return e.delivery == id end, 40)
    assert.is_true(got[1].valid, got[1].why)
    assert.is_true(holds(other))
    assert.equal(1, #got)
  end)
end)

describe("webhook URLs at a production API #api #webhooks", function()
  local db, api, f

  lazy_setup(function()
    db, api = helpers.setup({ api = { env = { SOVA_ENV = "production" } } })
    f = helpers.factory(db, api)
  end)
  lazy_teardown(helpers.stop_all)

  it("refuses http and every non-public address, and writes nothing", function()
    for _, u in ipairs({ "http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://localhost/hook",
      "https://10.0.0.8/", "https://192.168.1.20/", "https://172.20.0.1/", "https://169.254.169.254/",
      "https://100.64.1.1/", "https://[::1]/", "https://[::ffff:10.0.0.1]/", "https://[fd00::1]/",
      "https://[fe80::1]/", "https://0.0.0.0/", "https://2130706433/", "https://u:p@93.184.216.34/" }) do
      local res = f:req(ALPHA, "POST", "/api/webhooks", { url = u, events = { "call.ended" } })
      assert.status(422, res)
      assert.is_string(res.json.error.fields.url, u)
    end
    assert.equal(0, #db:handle():find("webhook_endpoints", {}))
    -- a public literal address over https is accepted (no resolution needed)
    assert.status(201, f:req(ALPHA, "POST", "/api/webhooks", { url = "https://93.184.216.34/hook", events = { "call.ended" } }))
  end)
end)

-- Several bots: each registers itself in the database and heart-beats; the API offers each call to
-- a live bot with room (SOVA_BOT_URL here names a port where nothing listens: only the registry
-- can find the bots), and a call's live URL names the bot carrying it. A campaign's calls spread
-- over two bots; one is SIGKILLed while it carries calls: once its heartbeat is 15 s old its calls
-- end failed with the reason, and the campaign calls those patients again on the other bot.
-- Tags: #api #phone #campaign
local helpers = require("helpers")
local cjson = helpers.cjson
local core = helpers.core
local BETA = helpers.BETA
local WF = "patient_questions"
local N = 8


describe("calls over several bots #api #phone #campaign", function()
  local db, api, f, sim, bot_a, bot_b
  local scenarios = {}
  for i = 1, N do
    -- an answering machine: the agent's message takes a while, so calls overlap
    scenarios[("+1415557%04d"):format(i)] = { kind = "voicemail", ring_ms = 500,
      greeting = "You have reached the voicemail of a patient. Please leave a message after the tone.",
      beep_ms = 300, max_message_s = 60 }
  end

  lazy_setup(function()
    sim = helpers.start_phonesim({ scenarios = scenarios })
    db = helpers.start_db()
    helpers.seed(db)
    local env = { SOVA_PHONE_SIM_URL = sim.api_base, SOVA_PHONE_SIM_ACCOUNT_SID = sim.account_sid,
      SOVA_PHONE_SIM_AUTH_TOKEN = sim.auth_token, SOVA_OFFLINE_VOICE_CALLS = "4" }
    bot_a = helpers.start_bot(db, { env = env })
    bot_b = helpers.start_bot(db, { env = env })
    api = helpers.start_api(db, { env = { SOVA_BOT_URL = "http://127.0.0.1:9", SOVA_BOT_SECRET = helpers.bot_secret() } })
    f = helpers.factory(db, api)
    helpers.start_campaigns(db, { url = "http://127.0.0.1:9" })
  end)
  lazy_teardown(helpers.stop_all)

  local function bot_docs()
    local by = {}
    for _, b in ipairs(db:handle():find("bots", {})) do by[b.url] = b end
    return by
  end

  it("each bot registers, and a call's live URL names the bot that took it", function()
    local docs = helpers.wait_until(function()
      local d = bot_docs()
      return d[bot_a.url] and d[bot_b.url] and d
    end, 20, 0.5)
    assert.is_number(docs[bot_a.url].heartbeat_ms)
    assert.equal(100, docs[bot_a.url].capacity)
    local p = f:patient(BETA, WF)
    local res = f:req(BETA, "POST", "/api/patients/" .. p.id .. "/calls", { mode = "browser" })
    assert.equal(202, res.status, res.body)
    local s = helpers.wait_until(function()
      local doc = db:handle():find_one("sessions", { _id = core.bson.oid(res.json.session_id) })
      return doc and doc.status == "in_progress" and doc
    end, 20, 0.5)
    local carrier = s.bot_id == docs[bot_a.url]._id and bot_a or bot_b
    assert.equal(docs[carrier.url]._id, s.bot_id)
    local port = carrier.url:match(":(%d+)$")
    assert.truthy(res.json.live_url:find("^ws://127%.0%.0%.1:" .. port .. "/calls/"), res.json.live_url)
  end)

  it("spreads a campaign over both, and when one dies its calls fail and are made again", function()
    local ids = {}
    for i = 1, N do ids[i] = f:patient(BETA, WF, { phone_number = ("+1415557%04d"):format(i) }).id end
    local res = f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", { patient_ids = ids, mode = "simulated",
      concurrency = 6, calls_per_second = 5, retry = { failed = { attempts = 2, every_minutes = 1 },
        voicemail = { attempts = 1, every_minutes = 60 } } })
    assert.equal(201, res.status, res.body)
    local id = res.json.id
    local docs = bot_docs()
    local a_id, b_id = docs[bot_a.url]._id, docs[bot_b.url]._id
    -- both carry calls of it
    helpers.wait_until(function()
      local on = {}
      for _, s in ipairs(db:handle():find("sessions", { campaign_id = core.bson.oid(id), status = "in_progress" })) do
        on[s.bot_id] = true
      end
      return on[a_id] and on[b_id]
    end, 60, 0.5)
    local doomed = {}
    for _, s in ipairs(db:handle():find("sessions", { campaign_id = core.bson.oid(id), bot_id = b_id, status = "in_progress" })) do
      doomed[#doomed + 1] = s._id
    end
    assert.is_true(#doomed >= 1)
    bot_b:kill()
    -- its calls end failed once its heartbeat is old, saying why
    for _, sid in ipairs(doomed) do
      local s = helpers.wait_until(function()
        local doc = db:handle():find_one("sessions", { _id = sid })
        return doc.status == "failed" and doc
      end, 60, 0.5)
      assert.truthy(s.reason:find("stopped answering", 1, true), s.reason)
    end
    assert.is_true(bot_docs()[bot_b.url].dead)
    -- and the campaign finishes on the bot that is left: every patient's machine took a message
    local c = helpers.wait_until(function()
      local c = f:req(BETA, "GET", "/api/campaigns/" .. id).json
      return c.status == "finished" and c
    end, 300, 0.5)
    assert.equal(N, c.counts.voicemail, cjson.encode(c.counts))
    -- the patients of the dead bot's calls, and only they, were called twice: the second time on
    -- the bot that is left
    local retried = 0
    for _, a in ipairs(c.attempts) do
      if a.attempt == 2 then
        retried = retried + 1
        local s = db:handle():find_one("sessions", { _id = core.bson.oid(a.session_id) })
        assert.equal(a_id, s.bot_id)
      end
    end
    assert.equal(#doomed, retried, cjson.encode(c.attempts))
  end)
end)

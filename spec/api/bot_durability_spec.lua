-- The database goes away during a call, through the real API and bot: the call plays to its end
-- over the live WebSocket (the bot reads nothing from the database during a call), its writes
-- wait in the durable writer (memory, then the spool on disk), and once FerretDB is back on the
-- same port and data the session's transcript, summary and outcome and the patient's fields are
-- all there, in order: nothing lost. Also across a bot restart while the database is down (the
-- spool replayed by the next start). Tags: #api #calls
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local core = helpers.core
local cjson = helpers.cjson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local conversations = require("fixtures.conversations")
local PRIOR_AUTH_LINES, PRIOR_AUTH_OUTCOME = conversations.alpha_prior_auth.lines, conversations.alpha_prior_auth.outcome
local BETA_LINES, BETA_OUTCOME = conversations.beta_patient_questions.lines, conversations.beta_patient_questions.outcome

describe("bot: the database down during a call #api #calls", function()
  local db, api, bot, root
  local tokens = {}

  local function req(who, method, path, body)
    return helpers.http(api, method, path, { host = who.host, token = tokens[who], body = body })
  end

  local function start(who, wf, org, overrides)
    return helpers.start_test_call(api, tokens[who], who, wf, org, overrides)
  end

  local function writer_stats()
    local res = core.http.request { method = "GET", url = bot.url .. "/stats", timeout_ms = 5000 }
    assert.is_table(res, "the bot does not answer /stats")
    assert.equal(200, res.status)
    return cjson.decode(res.body).writer
  end

  -- plays a call to its end while the database is down; returns the party (what the bot sent)
  local function play_with_db_down(call, lines)
    local party = support.connect(call.live_url)
    assert.is_table(party:wait_greeting())
    -- the start's writes (in_progress, flow, the greeting) are in before the database goes
    helpers.wait_until(function()
      local s = db:handle():find_one("sessions", { _id = helpers.oid(call.session_id) })
      return s and s.status == "in_progress" and #s.transcript.messages == 1
    end, 15)
    db:kill()
    assert.is_false(db:alive())
    party:play(lines)
    assert.is_true(party:wait_closed())
    party:close()
    assert.equal("completed", party:last_status())
    return party
  end

  -- once the database is back: the session and the patient, as the call left them
  local function assert_all_there(call, party, outcome, flow_path, timeout)
    local s
    local ok, err = pcall(helpers.wait_until, function()
      s = db:handle():find_one("sessions", { _id = helpers.oid(call.session_id) })
      return s and s.status == "completed" and s.ended_at ~= nil
    end, timeout or 60)
    assert(ok, tostring(err) .. "; session: " .. tostring(s and s.status) .. ", writer: "
      .. (bot:alive() and cjson.encode(writer_stats()) or "(bot not running)"))
    assert.equal(flow_path, s.flow.path)
    assert.same(outcome, s.outcome)
    -- the transcript is exactly what the other party saw, in order
    assert.same(party:transcript(), support.transcript(s))
    assert.is_string(s.transcript.summary)
    assert.matches("Status: Completed", s.transcript.summary, 1, true)
    assert.is_number(s.duration_seconds)
    local p = req(call.who, "GET", "/api/patients/" .. call.patient.id).json
    assert.equal("Completed", p.call_status)
    assert.equal(call.session_id, p.last_session_id)
    for k, v in pairs(outcome) do assert.equal(v, p[k], k) end
    return s, p
  end

  lazy_setup(function()
    root = support.build_root()
    db, api, bot = helpers.setup_calls({ bot = { env = {
      SOVA_ROOT = root.dir, OPENAI_API_KEY = "", BETA_LLM_API_KEY = "",
    } } })
    tokens[ALPHA] = helpers.login_as(api, ALPHA)
    tokens[BETA] = helpers.login_as(api, BETA)
  end)
  lazy_teardown(helpers.stop_all)

  after_each(function()
    if not db:alive() then db:start() end
  end)

  it("a call played to its end while FerretDB is down is all in the database once it is back", function()
    local call = start(ALPHA, "prior_auth", "alpha", { patient_name = "Ada Lovelace" })
    local party = play_with_db_down(call, PRIOR_AUTH_LINES)
    -- the writes wait in the writer while the database is away
    helpers.wait_until(function()
      local w = writer_stats()
      return w.queued + w.spooled > 0
    end, 10)
    local before = writer_stats()
    assert.equal(0, before.failed_permanently)
    db:start()
    assert_all_there(call, party, PRIOR_AUTH_OUTCOME, "clients/demo_clinic_alpha/prior_auth")
    helpers.wait_until(function()
      local w = writer_stats()
      return w.queued == 0 and w.spooled == 0
    end, 30)
    local after = writer_stats()
    assert.equal(0, after.failed_permanently)
    assert.equal(0, after.corrupt_skipped)
    -- and calls run as before
    local next_call = start(BETA, "patient_questions", "beta")
    local p2 = support.connect(next_call.live_url)
    assert.is_table(p2:wait_greeting())
    p2:play(BETA_LINES)
    assert.is_true(p2:wait_closed())
    p2:close()
    assert_all_there(next_call, p2, BETA_OUTCOME, "clients/demo_clinic_beta/patient_questions", 30)
  end)

  it("the bot stopped while FerretDB is down keeps the writes on disk; its next start replays them", function()
    local call = start(BETA, "patient_questions", "beta")
    local party = play_with_db_down(call, BETA_LINES)
    -- a clean stop with the database away: what is not written stays in the spool
    bot:stop_clean()
    assert.is_false(bot:alive())
    assert.matches('"event":"bot.stopped"', bot:log_text(), 1, true)
    local spool = helpers.proc.read_file(bot.env.SOVA_DATA_DIR .. "/spool/writes.spool")
    assert.is_string(spool, "no spool file in " .. bot.env.SOVA_DATA_DIR .. "/spool")
    assert.is_true(#spool > 24, "the spool holds no operation")
    db:start()
    bot:start() -- same environment and data directory: the spool is replayed
    api.env.SOVA_BOT_URL = bot.url
    api:restart()
    tokens[ALPHA] = helpers.login_as(api, ALPHA)
    tokens[BETA] = helpers.login_as(api, BETA)
    assert_all_there(call, party, BETA_OUTCOME, "clients/demo_clinic_beta/patient_questions")
    helpers.wait_until(function()
      local w = writer_stats()
      return w.queued == 0 and w.spooled == 0
    end, 30)
    -- and a call through the restarted pair runs
    local next_call = start(ALPHA, "prior_auth", "alpha")
    local p2 = support.connect(next_call.live_url)
    assert.is_table(p2:wait_greeting())
    p2:play(PRIOR_AUTH_LINES)
    assert.is_true(p2:wait_closed())
    p2:close()
    assert_all_there(next_call, p2, PRIOR_AUTH_OUTCOME, "clients/demo_clinic_alpha/prior_auth", 30)
  end)
end)

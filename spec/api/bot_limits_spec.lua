-- Volume and back-pressure in the bot, through the real API and bot: what one call sends or
-- produces must not hold up the others (issue 3: "A flow that breaks any of this fails its own
-- call with a clear reason in the session; every other call goes on"; "Many calls run at once in
-- one process"). The bot runs from a fixture SOVA_ROOT (spec/fixtures/bot): Alpha
-- patient_questions holds the hostile flow (spec/fixtures/bot/flows/hostile), the others honest
-- copies of the real flows. Tags: #api #calls
--
-- Both cases failed when written (see the report of the session that wrote them):
--   - a live socket whose reader stops reading blocks the bot's one loop thread in
--     mg_websocket_write (core/http/server.c sova_ws_send), so every call of every clinic stops;
--     and once frames went to a sender thread per socket, the same party's lines, read as fast as
--     it sent them, each ran a turn in the loop thread ahead of everything else (core/bot/loop.c
--     now lets one socket have at most a few lines waiting for the loop);
--   - a handler's effects have no bound in bytes (call:note / call:say: up to 8 KiB each, any
--     number), so a flow capped at 4 MiB hands the host hundreds of MB, and a session whose
--     notes pass 16 MiB never gets its final write (status stays in_progress).
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local core = helpers.core
local cjson = helpers.cjson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local HOSTILE = "demo_clinic_alpha/patient_questions"
local conversations = require("fixtures.conversations")
local PRIOR_AUTH_LINES = conversations.alpha_prior_auth.lines
local TERMINAL = helpers.vocabulary.TERMINAL_STATUSES

describe("bot: one call's volume holds up no other call #api #calls", function()
  local db, api, bot, root
  local tokens = {}

  local function req(who, method, path, body)
    return helpers.http(api, method, path, { host = who.host, token = tokens[who], body = body })
  end

  local function start(who, wf, org, overrides)
    return helpers.start_test_call(api, tokens[who], who, wf, org, overrides)
  end

  -- GET /health on the bot: seconds it took, or nil when it did not answer within timeout_ms
  local function health(timeout_ms)
    local t = core.sys.monotonic()
    local res = core.http.request { method = "GET", url = bot.url .. "/health", timeout_ms = timeout_ms or 3000 }
    if res and res.status == 200 then return core.sys.monotonic() - t end
    return nil
  end

  local function wait_responsive(timeout_s)
    return pcall(helpers.wait_until, function() return health(1000) end, timeout_s or 60)
  end

  lazy_setup(function()
    root = support.build_root()
    root:install(HOSTILE, "hostile")
    db, api, bot = helpers.setup_calls({ bot = { env = {
      SOVA_ROOT = root.dir, OPENAI_API_KEY = "", BETA_LLM_API_KEY = "",
    } } })
    tokens[ALPHA] = helpers.login_as(api, ALPHA)
    tokens[BETA] = helpers.login_as(api, BETA)
  end)
  lazy_teardown(helpers.stop_all)

  it("a flow that notes megabytes in one handler fails its own call, and its session still ends", function()
    -- 2200 notes of 8000 bytes: each within the flow library's limit for one text; 17.6 MB together
    local call = start(ALPHA, "patient_questions", "alpha", { call_notes = "attack:note_flood 2200" })
    local party = support.connect(call.live_url)
    finally(function() party:close() end)
    assert.is_table(party:wait_greeting())
    party:send("Hello?")
    assert.is_true(party:wait_closed(60))
    assert.is_truthy(health(3000), "the bot did not answer GET /health within 3 s")
    local s
    local ok = pcall(helpers.wait_until, function()
      s = db:handle():find_one("sessions", { _id = helpers.oid(call.session_id) },
        { projection = { status = 1, reason = 1, ended_at = 1 } })
      return s and TERMINAL[s.status] and s.ended_at ~= nil
    end, 20)
    assert(ok, "the session did not end in the database within 20 s (status " .. tostring(s and s.status)
      .. "); bot log:\n" .. helpers.proc.tail(bot.log, 5))
  end)

  it("a live socket that stops reading holds up no other call", function()
    -- the staff member of a Beta call talks fast and stops reading what the bot sends back
    -- (the spec's WebSocket client stops reading once 1 MiB waits unread, as a stalled browser)
    local flooded = start(BETA, "patient_questions", "beta")
    local honest = start(ALPHA, "prior_auth", "alpha")
    local party = support.connect(honest.live_url)
    assert.is_table(party:wait_greeting())
    local ws = assert(core.ws_client.connect(flooded.live_url))
    finally(function()
      ws:close()
      wait_responsive(60)
      party:close()
    end)
    local line = ("Could you say that again please? "):rep(60)
    for i = 1, 4000 do
      if not ws:send(cjson.encode({ type = "say", text = i .. " " .. line })) then break end
    end
    core.sys.sleep(2)
    -- the bot answers, and the other clinic's call goes on
    local took = health(3000)
    assert.is_truthy(took, "the bot did not answer GET /health within 3 s while one socket was not read")
    local t = core.sys.monotonic()
    assert.is_true(party:say(PRIOR_AUTH_LINES[1], 5), "the honest call got no answer within 5 s")
    assert.is_true(core.sys.monotonic() - t < 5)
  end)
end)

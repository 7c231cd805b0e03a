-- Hostile tenant flows through the real API and the real bot: a flow that spins, allocates without
-- bound, does not compile, reaches for io/os/ffi, or writes what its schema does not allow fails
-- ITS call, with a clear reason in the session (status, reason, events) and the patient's
-- call_status "Failed", while honest calls in the other workflows, running at the same time, complete
-- with their outcomes; the bot stays up. The bot runs from a fixture SOVA_ROOT (spec/fixtures/bot):
-- Alpha patient_questions holds the hostile flow (spec/fixtures/bot/flows/hostile: the attack is
-- named by the patient's call_notes), Alpha prior_auth and Beta patient_questions hold honest
-- copies of the real flows. Tags: #api #calls
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local core = helpers.core
local cjson = helpers.cjson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local HOSTILE = "demo_clinic_alpha/patient_questions"
local HOSTILE_PATH = "clients/" .. HOSTILE

-- honest scripts (the real flows' branches, spec/flows/*) and the outcomes they end with
local conversations = require("fixtures.conversations")
local PRIOR_AUTH_LINES, PRIOR_AUTH_OUTCOME = conversations.alpha_prior_auth.lines, conversations.alpha_prior_auth.outcome
local BETA_LINES, BETA_OUTCOME = conversations.beta_patient_questions.lines, conversations.beta_patient_questions.outcome

describe("bot: failing flows fail only their own call #api #calls", function()
  local db, api, bot, root
  local tokens = {}

  local function req(who, method, path, body)
    return helpers.http(api, method, path, { host = who.host, token = tokens[who], body = body })
  end

  local function new_patient(who, wf, org, overrides)
    local res = req(who, "POST", "/api/workflows/" .. wf .. "/patients", helpers.valid_patient(wf, org, overrides))
    assert.status(201, res)
    return res.json
  end

  local function hostile_patient(attack)
    return new_patient(ALPHA, "patient_questions", "alpha", { call_notes = "attack:" .. attack })
  end

  local function start(who, patient)
    local res = req(who, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "browser" })
    assert.status(202, res)
    res.json.who, res.json.patient = who, patient
    return res.json
  end

  local function session_doc(id) return helpers.session_doc(db, id) end
  local function wait_session(id, timeout) return helpers.wait_session(db, id, timeout) end

  -- the patient (through the API) once its call_status is `status`
  local function wait_patient(who, patient, status)
    local p
    local ok = pcall(helpers.wait_until, function()
      p = req(who, "GET", "/api/patients/" .. patient.id).json
      return p and p.call_status == status
    end, 15)
    assert(ok, "patient " .. patient.id .. ": call_status " .. tostring(p and p.call_status) .. ", expected " .. status)
    return p
  end

  -- a hostile call ended: failed, with `pattern` (plain text) in its reason and in an event
  local function assert_failed(call, pattern, event_type)
    local s = wait_session(call.session_id)
    local info = "session " .. call.session_id .. ": status " .. tostring(s.status) .. ", reason "
      .. tostring(s.reason) .. "\nevents:\n" .. support.describe_events(s)
    assert.equal("failed", s.status, info)
    assert.is_string(s.reason, info)
    assert.is_truthy(s.reason:find(pattern, 1, true), info)
    local found
    for _, e in ipairs(support.events(s, event_type or "error")) do
      local text = e.message or e.reason
      if type(text) == "string" and text:find(pattern, 1, true) then found = e end
    end
    assert.is_truthy(found, "no " .. (event_type or "error") .. " event with " .. pattern .. "\n" .. info)
    assert.equal(HOSTILE_PATH, s.flow.path)
    local p = wait_patient(call.who, call.patient, "Failed")
    return s, p, found
  end

  -- an honest call ended as its script says: completed, with its outcome on the session and the patient
  local function assert_completed(call, outcome, lines, flow_path)
    local s = wait_session(call.session_id)
    assert.equal("completed", s.status, "reason: " .. tostring(s.reason) .. "\n" .. support.describe_events(s))
    assert.same(outcome, s.outcome)
    assert.equal(flow_path, s.flow.path)
    local users = {}
    for _, m in ipairs(support.transcript(s)) do if m.role == "user" then users[#users + 1] = m.text end end
    assert.same(lines, users)
    local p = wait_patient(call.who, call.patient, "Completed")
    for k, v in pairs(outcome) do assert.equal(v, p[k], k) end
    return s, p
  end

  local function honest_alpha()
    return start(ALPHA, new_patient(ALPHA, "prior_auth", "alpha", { patient_name = "Ada Lovelace" }))
  end

  local function honest_beta()
    return start(BETA, new_patient(BETA, "patient_questions", "beta"))
  end

  -- plays the honest scripts of both calls, a line of each in turn
  local function play_interleaved(a, b)
    for i = 1, math.max(#PRIOR_AUTH_LINES, #BETA_LINES) do
      if PRIOR_AUTH_LINES[i] then a:say(PRIOR_AUTH_LINES[i]) end
      if BETA_LINES[i] then b:say(BETA_LINES[i]) end
    end
    assert.is_true(a:wait_closed())
    assert.is_true(b:wait_closed())
    assert.equal("completed", a:last_status())
    assert.equal("completed", b:last_status())
  end

  local function bot_health()
    local res = core.http.request { method = "GET", url = bot.url .. "/health", timeout_ms = 5000 }
    assert.is_table(res, "the bot does not answer /health")
    assert.equal(200, res.status)
    return cjson.decode(res.body)
  end

  lazy_setup(function()
    root = support.build_root()
    root:install(HOSTILE, "hostile")
    db, api, bot = helpers.setup_calls({ bot = { env = {
      SOVA_ROOT = root.dir,
      -- honest copies name these key variables: unset, their calls use the offline rules engine
      OPENAI_API_KEY = "", BETA_LLM_API_KEY = "",
    } } })
    tokens[ALPHA] = helpers.login_as(api, ALPHA)
    tokens[BETA] = helpers.login_as(api, BETA)
  end)
  lazy_teardown(helpers.stop_all)

  after_each(function()
    root:install(HOSTILE, "hostile")
  end)

  describe("CPU", function()
    it("a handler that spins forever fails its call by the budget or the deadline, even inside pcall, "
      .. "while honest calls started with it complete", function()
      local attacks = { spin = "instruction budget exceeded", spin_in_pcall = "instruction budget exceeded",
        slow = "deadline exceeded" }
      local hostile = {}
      for attack in pairs(attacks) do
        local call = start(ALPHA, hostile_patient(attack))
        call.attack = attack
        hostile[#hostile + 1] = call
      end
      local a, b = honest_alpha(), honest_beta()
      -- every call is live at once
      for _, c in ipairs(hostile) do c.party = support.connect(c.live_url) end
      local pa, pb = support.connect(a.live_url), support.connect(b.live_url)
      for _, c in ipairs(hostile) do assert.is_table(c.party:wait_greeting()) end
      assert.is_table(pa:wait_greeting())
      assert.is_table(pb:wait_greeting())
      -- the hostile handlers run as soon as their party speaks; the honest parties go on talking
      for _, c in ipairs(hostile) do c.party:send("Hello?") end
      play_interleaved(pa, pb)
      for _, c in ipairs(hostile) do
        assert.is_true(c.party:wait_closed(), c.attack)
        assert.equal("failed", c.party:last_status(), c.attack)
        local s = assert_failed(c, attacks[c.attack])
        assert.is_truthy(s.reason:find("function anything in node greeting failed", 1, true), s.reason)
        assert.equal(root:sha256(HOSTILE), s.flow.sha256)
        c.party:close()
      end
      assert_completed(a, PRIOR_AUTH_OUTCOME, PRIOR_AUTH_LINES, "clients/demo_clinic_alpha/prior_auth")
      assert_completed(b, BETA_OUTCOME, BETA_LINES, "clients/demo_clinic_beta/patient_questions")
      pa:close()
      pb:close()
    end)

    it("a flow that spins forever while loading fails at start; an honest call started with it completes", function()
      root:install(HOSTILE, "spin_at_load")
      local h = start(ALPHA, hostile_patient("none"))
      local b = honest_beta()
      local pb = support.connect(b.live_url)
      assert.is_table(pb:wait_greeting())
      pb:play(BETA_LINES)
      assert.is_true(pb:wait_closed())
      local s = assert_failed(h, "instruction budget exceeded", "failure")
      assert.is_truthy(s.reason:find("the flow could not be loaded", 1, true), s.reason)
      assert_completed(b, BETA_OUTCOME, BETA_LINES, "clients/demo_clinic_beta/patient_questions")
      pb:close()
    end)

    it("a flow that spins when the platform reads it fails its call at start, with the budget named", function()
      root:install(HOSTILE, "spin_in_describe")
      local h = start(ALPHA, hostile_patient("none"))
      local s = assert_failed(h, "instruction budget exceeded") -- with no live socket opened
      assert.is_truthy(s.reason:find("flow could not be described", 1, true), s.reason)
      -- the live socket of a call that already ended answers, and closes
      local party = support.connect(h.live_url)
      local m = party:next(5000)
      assert.is_table(m)
      assert.equal("error", m.type)
      party:close()
    end)
  end)

  describe("memory, syntax, the host's libraries", function()
    it("a flow that allocates without bound fails its call with a memory reason, in a handler or at load", function()
      local c = start(ALPHA, hostile_patient("memory"))
      local party = support.connect(c.live_url)
      assert.is_table(party:wait_greeting())
      party:send("Hello?")
      assert.is_true(party:wait_closed())
      party:close()
      local s = assert_failed(c, "memory")
      assert.is_truthy(s.reason:find("function anything in node greeting failed", 1, true), s.reason)

      root:install(HOSTILE, "memory_at_load")
      local l = start(ALPHA, hostile_patient("none"))
      s = assert_failed(l, "memory", "failure")
      assert.is_truthy(s.reason:find("the flow could not be loaded", 1, true), s.reason)
    end)

    it("a flow with a syntax error fails at start, with the file and the line in the session's events", function()
      root:install(HOSTILE, "syntax_error")
      local c = start(ALPHA, hostile_patient("none"))
      local s, _, ev = assert_failed(c, "flow_definition.lua:6:", "failure")
      assert.is_truthy(s.reason:find("unexpected symbol", 1, true), s.reason)
      assert.is_truthy(s.reason:find("the flow could not be loaded", 1, true), s.reason)
      assert.is_truthy(ev.reason:find("flow_definition.lua:6:", 1, true))
      assert.is_not_string(s.flow.sha256) -- no flow was loaded
      -- the live socket of a call that never started answers, and closes
      local party = support.connect(c.live_url)
      local m = party:next(5000)
      assert.is_table(m)
      assert.equal("error", m.type)
      party:close()
    end)

    it("a flow the platform cannot read fails its call at once, with no live socket ever opened", function()
      local cases = {
        { name = "no flow_definition.lua", says = "the flow could not be loaded", why = "No such file or directory",
          setup = function() root:install(HOSTILE, nil) end },
        { name = "a folder named flow_definition.lua", says = "the flow could not be loaded", why = "Is a directory",
          setup = function()
            support.sh("mkdir " .. helpers.proc.shell_quote(root:install(HOSTILE, nil) .. "/flow_definition.lua"))
          end },
        { name = "a flow whose fields raise when read", says = "flow could not be described",
          setup = function() root:install(HOSTILE, "unreadable_flow") end },
      }
      for _, case in ipairs(cases) do
        case.setup()
        local t0 = core.sys.monotonic()
        local c = start(ALPHA, hostile_patient("none")) -- the API answers 202 with the session
        assert.is_string(c.session_id, case.name)
        local s = assert_failed(c, case.says, case.says:find("described") and "error" or "failure")
        -- ended by the bot on its own, long before the no-answer timeout
        assert.is_true(core.sys.monotonic() - t0 < 20, case.name)
        assert.is_truthy(s.reason:find("flow_definition.lua", 1, true) or s.reason:find("described", 1, true),
          case.name .. ": " .. s.reason)
        if case.why then -- what stopped the platform reading it, not a blanket "not found"
          assert.is_truthy(s.reason:find("cannot be read: " .. case.why, 1, true), case.name .. ": " .. s.reason)
        end
        local shown = req(ALPHA, "GET", "/api/sessions/" .. c.session_id)
        assert.status(200, shown)
        assert.equal("failed", shown.json.status, case.name)
        assert.equal(s.reason, shown.json.reason, case.name)
        assert.is_nil(shown.json._writer_ops, case.name)
      end
    end)

    it("io, os and require('ffi') fail the call, in a handler or at load", function()
      local expect = {
        io = "attempt to index global 'io' (a nil value)",
        os = "attempt to index global 'os' (a nil value)",
        ffi = "module 'ffi' is not available to flows",
      }
      local calls = {}
      for attack in pairs(expect) do
        local c = start(ALPHA, hostile_patient(attack))
        c.attack, c.party = attack, support.connect(c.live_url)
        calls[#calls + 1] = c
      end
      for _, c in ipairs(calls) do
        assert.is_table(c.party:wait_greeting())
        c.party:send("Hello?")
      end
      for _, c in ipairs(calls) do
        assert.is_true(c.party:wait_closed(), c.attack)
        c.party:close()
        assert_failed(c, expect[c.attack])
      end
      assert.is_false(helpers.proc.exists("/tmp/sova-flow-escaped"))

      root:install(HOSTILE, "ffi_at_load")
      local l = start(ALPHA, hostile_patient("none"))
      local s = assert_failed(l, "module 'ffi' is not available to flows", "failure")
      assert.is_truthy(s.reason:find("the flow could not be loaded", 1, true), s.reason)
    end)

    it("after all of that the bot is up: /health answers, and calls run", function()
      assert.is_true(bot:alive())
      local h = bot_health()
      assert.equal("ok", h.status)
      assert.equal(0, h.calls)
      local a, b = honest_alpha(), honest_beta()
      local pa, pb = support.connect(a.live_url), support.connect(b.live_url)
      assert.is_table(pa:wait_greeting())
      assert.is_table(pb:wait_greeting())
      play_interleaved(pa, pb)
      assert_completed(a, PRIOR_AUTH_OUTCOME, PRIOR_AUTH_LINES, "clients/demo_clinic_alpha/prior_auth")
      assert_completed(b, BETA_OUTCOME, BETA_LINES, "clients/demo_clinic_beta/patient_questions")
      pa:close()
      pb:close()
      -- and the hostile workflow itself runs again (its flow can end a call normally)
      local c = start(ALPHA, hostile_patient("nothing_at_all"))
      local party = support.connect(c.live_url)
      assert.is_table(party:wait_greeting())
      party:say("Hello?")
      assert.is_true(party:wait_closed())
      party:close()
      local s = wait_session(c.session_id)
      assert.equal("completed", s.status)
      assert.equal("no attack", s.reason)
      assert.equal(0, bot_health().calls)
    end)
  end)

  describe("writes", function()
    it("a value outside the schema fails the call or is refused; the patient's field keeps its value", function()
      local cases = {
        -- call:set refuses the option: the handler raises, the call fails
        bad_select = { status = "failed", reason = 'call:set("checkin_status", "Maybe Later")' },
        -- the flow catches the refusal and ends the call: completed, nothing written
        bad_select_swallowed = { status = "completed", reason = "attack finished",
          said = "The invalid value was refused." },
        -- the value put straight into the effects: the platform validates it again
        forged_set = { status = "failed", reason = "function anything wrote an invalid checkin_status" },
        undeclared_write = { status = "failed",
          reason = 'wrote "patient_name", which the flow does not declare in writes' },
        system_write = { status = "failed",
          reason = 'wrote "call_status", which the flow does not declare in writes' },
      }
      local calls = {}
      for attack, want in pairs(cases) do
        local c = start(ALPHA, hostile_patient(attack))
        c.attack, c.want, c.party = attack, want, support.connect(c.live_url)
        calls[#calls + 1] = c
      end
      for _, c in ipairs(calls) do
        assert.is_table(c.party:wait_greeting())
        c.party:send("Hello?")
      end
      for _, c in ipairs(calls) do
        assert.is_true(c.party:wait_closed(), c.attack)
        c.party:close()
        local s, p
        if c.want.status == "failed" then
          s, p = assert_failed(c, c.want.reason)
        else
          s = wait_session(c.session_id)
          assert.equal(c.want.status, s.status, c.attack .. ": " .. tostring(s.reason))
          assert.equal(c.want.reason, s.reason)
          local said = table.concat(c.party:lines("assistant"), "\n")
          assert.is_truthy(said:find(c.want.said, 1, true), said)
          p = wait_patient(ALPHA, c.patient, "Completed")
        end
        assert.same({}, s.outcome, c.attack)
        assert.is_nil(s.rejected_outcome, c.attack)
        -- the patient's own values are untouched
        assert.equal("Not Reached", p.checkin_status, c.attack)
        assert.equal("Maria Garcia", p.patient_name, c.attack)
        local doc = db:handle():find_one("patients", { _id = helpers.oid(c.patient.id) })
        assert.equal("Not Reached", doc.checkin_status, c.attack)
        assert.equal("Maria Garcia", doc.patient_name, c.attack)
      end
    end)
  end)
end)

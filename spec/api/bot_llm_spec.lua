-- The language model of a call, as the flow's services.yaml names it, through the real API and
-- bot: with no key set, the offline rules engine runs and the session says so; with base_url at
-- the loopback OpenAI stand-in (spec/fixtures/llm/openai_standin.py) and the key variable set for
-- the bot, every turn goes through the stand-in in OpenAI's wire format, a tool call runs the
-- flow's handler, provider errors fail only their own call, and a provider that hangs holds up no
-- other call. The bot runs from a fixture SOVA_ROOT (spec/fixtures/bot) where Alpha
-- patient_questions is swapped per test. Tags: #api #calls
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local standin = require("fixtures.llm.standin")
local core = helpers.core
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local WF = "demo_clinic_alpha/patient_questions"
local KEY_ENV = "SOVA_SPEC_STANDIN_KEY"

local conversations = require("fixtures.conversations")
local ALPHA_PQ_LINES, ALPHA_PQ_OUTCOME = conversations.alpha_patient_questions.lines, conversations.alpha_patient_questions.outcome
local BETA_LINES, BETA_OUTCOME = conversations.beta_patient_questions.lines, conversations.beta_patient_questions.outcome
local STANDIN_TEXT = "Hello from the stand-in. How can I help you today?"

describe("bot: the language model a flow names #api #calls", function()
  local db, api, bot, root, llm
  local tokens = {}

  local function req(who, method, path, body)
    return helpers.http(api, method, path, { host = who.host, token = tokens[who], body = body })
  end

  local function start(who, wf, org, overrides)
    return helpers.start_test_call(api, tokens[who], who, wf, org, overrides)
  end

  local function session_doc(id) return helpers.session_doc(db, id) end
  local function wait_session(id, timeout) return helpers.wait_session(db, id, timeout) end

  local function patient_of(call)
    local p
    helpers.wait_until(function()
      p = req(call.who, "GET", "/api/patients/" .. call.patient.id).json
      return p and p.call_status ~= "Queued" and p.call_status ~= "In Progress"
    end, 15)
    return p
  end

  local function notes_of(doc)
    local out = {}
    for _, e in ipairs(support.events(doc, "note")) do out[#out + 1] = e.text end
    return out
  end

  local function standin_services(extra)
    return table.concat({
      "# Written by spec/api/bot_llm_spec.lua: the loopback OpenAI stand-in; the key's NAME only.",
      "llm:",
      "  provider: openai",
      "  model: gpt-standin",
      "  base_url: " .. llm.base_url,
      "  api_key_env: " .. KEY_ENV,
      "  temperature: 0.2",
      "  timeout_ms: 1500",
      "telephony:",
      "  provider: none",
      extra or "",
    }, "\n")
  end

  lazy_setup(function()
    llm = standin.start()
    root = support.build_root()
    db, api, bot = helpers.setup_calls({ bot = { env = {
      SOVA_ROOT = root.dir,
      OPENAI_API_KEY = "", BETA_LLM_API_KEY = "", SOVA_SPEC_UNSET_LLM_KEY = "",
      [KEY_ENV] = llm.api_key,
    } } })
    tokens[ALPHA] = helpers.login_as(api, ALPHA)
    tokens[BETA] = helpers.login_as(api, BETA)
  end)
  lazy_teardown(function()
    if llm then llm:stop() end
    helpers.stop_all()
  end)

  before_each(function() llm:reset() end)
  after_each(function() root:restore(WF) end)

  it("with the key variable unset, the call runs on the offline rules engine, says so in the session, "
    .. "and works", function()
    root:install(WF, "rules_fallback", { base = WF })
    local call = start(ALPHA, "patient_questions", "alpha")
    local party = support.connect(call.live_url)
    assert.is_table(party:wait_greeting())
    party:play(ALPHA_PQ_LINES)
    assert.is_true(party:wait_closed())
    party:close()
    local s = wait_session(call.session_id)
    assert.equal("completed", s.status, s.reason)
    assert.equal("check-in completed", s.reason)
    assert.same(ALPHA_PQ_OUTCOME, s.outcome)
    assert.same({ "no SOVA_SPEC_UNSET_LLM_KEY set: using the offline rules engine" }, notes_of(s))
    -- the note is the first thing the session records
    assert.equal("note", s.events[1].type)
    local p = patient_of(call)
    assert.equal("Completed", p.call_status)
    assert.equal("Confirmed", p.checkin_status)
    assert.same({}, llm:requests())

    -- the honest copies of the real flows name OPENAI_API_KEY and BETA_LLM_API_KEY: unset here too
    for _, c in ipairs({ { ALPHA, "prior_auth", "alpha", "OPENAI_API_KEY" },
      { BETA, "patient_questions", "beta", "BETA_LLM_API_KEY" } }) do
      local other = start(c[1], c[2], c[3])
      local doc
      helpers.wait_until(function()
        doc = session_doc(other.session_id)
        return doc and #support.events(doc, "note") > 0
      end, 10)
      assert.same({ "no " .. c[4] .. " set: using the offline rules engine" }, notes_of(doc))
      local pp = support.connect(other.live_url)
      assert.is_table(pp:wait_greeting())
      pp:hangup()
      assert.is_true(pp:wait_closed())
      pp:close()
    end
  end)

  it("with base_url at the stand-in and the key set, turns go through it in OpenAI's shape, "
    .. "and its tool call runs the flow's handler", function()
    root:install(WF, "standin", { files = { ["services.yaml"] = standin_services() } })
    local call = start(ALPHA, "patient_questions", "alpha")
    local party = support.connect(call.live_url)
    assert.equal("Hello, this is Sophie calling for Maria Garcia.", (party:wait_greeting() or {}).text)
    assert.is_true(party:say("Hi, who is this?"))
    local said = party:lines("assistant")
    assert.equal(STANDIN_TEXT, said[#said])
    local line2 = "It was approved, the reference is REF-12345. [script:tool]"
    party:say(line2)
    assert.is_true(party:wait_closed())
    party:close()
    assert.equal("completed", party:last_status())

    local s = wait_session(call.session_id)
    assert.equal("completed", s.status, s.reason)
    assert.equal("outcome recorded by the model", s.reason)
    local notes = 'Ref REF-12345: Line one\nLine "two" \195\169'
    assert.same({ checkin_status = "Confirmed", call_notes = notes }, s.outcome)
    assert.same({
      { role = "assistant", text = "Hello, this is Sophie calling for Maria Garcia." },
      { role = "user", text = "Hi, who is this?" },
      { role = "assistant", text = STANDIN_TEXT },
      { role = "user", text = line2 },
      { role = "assistant", text = "Thank you, I've noted that." },
    }, support.transcript(s))
    assert.same({}, notes_of(s)) -- no fallback note: the model is the stand-in
    local p = patient_of(call)
    assert.equal("Completed", p.call_status)
    assert.equal("Confirmed", p.checkin_status)
    assert.equal(notes, p.call_notes)

    -- what the stand-in received: two Chat Completions requests, as OpenAI's API takes them
    local reqs = llm:requests()
    assert.equal(2, #reqs)
    assert.same({ "text", "tool" }, { reqs[1].script, reqs[2].script })
    for i, r in ipairs(reqs) do
      assert.equal("POST", r.method)
      assert.equal("/v1/chat/completions", r.path)
      assert.equal("Bearer " .. llm.api_key, r.headers.authorization, i)
      assert.matches("^application/json", r.headers["content-type"])
      local b = r.body
      assert.equal("gpt-standin", b.model)
      assert.is_true(b.stream)
      assert.equal(0.2, b.temperature)
      assert.equal(2, #b.tools)
      assert.equal("function", b.tools[1].type)
      assert.equal("record_outcome", b.tools[1]["function"].name)
      assert.equal("Record the outcome the other party gave.", b.tools[1]["function"].description)
      assert.same({ "approved", "denied", "pending" }, b.tools[1]["function"].parameters.properties.status.enum)
      assert.same({ "status" }, b.tools[1]["function"].parameters.required)
      assert.equal("call_back_later", b.tools[2]["function"].name)
      assert.equal("system", b.messages[1].role)
      assert.matches("You are Sophie, calling Maria Garcia for a check-in.", b.messages[1].content, 1, true)
      assert.matches("record it with record_outcome", b.messages[1].content, 1, true)
    end
    -- the history: the first exchange comes back in the second request, in order
    local m1, m2 = reqs[1].body.messages, reqs[2].body.messages
    assert.same({ role = "user", content = "Hi, who is this?" }, m1[#m1])
    local tail = {}
    for i = 2, #m2 do tail[#tail + 1] = { role = m2[i].role, content = m2[i].content } end
    assert.same({
      { role = "assistant", content = "Hello, this is Sophie calling for Maria Garcia." },
      { role = "user", content = "Hi, who is this?" },
      { role = "assistant", content = STANDIN_TEXT },
      { role = "user", content = line2 },
    }, tail)
    -- the key is sent to the provider and nowhere else
    assert.is_nil(helpers.cjson.encode(s):find(llm.api_key, 1, true))
    assert.is_nil(bot:log_text():find(llm.api_key, 1, true))
  end)

  it("a provider error fails only its own call; a retried 500 recovers; a hanging provider holds up "
    .. "no other call", function()
    root:install(WF, "standin", { files = { ["services.yaml"] = standin_services() } })
    local hang = start(ALPHA, "patient_questions", "alpha")
    local bad = start(ALPHA, "patient_questions", "alpha")
    local retried = start(ALPHA, "patient_questions", "alpha")
    local honest = start(BETA, "patient_questions", "beta")
    local ph, pbad, pr, po = support.connect(hang.live_url), support.connect(bad.live_url),
      support.connect(retried.live_url), support.connect(honest.live_url)
    for _, p in ipairs({ ph, pbad, pr, po }) do assert.is_table(p:wait_greeting()) end

    -- the hanging provider: its call waits (timeout_ms 1500, 3 attempts) while the others go on
    ph:send("Are you there? [script:hang]")
    local t0 = core.sys.monotonic()
    for _, line in ipairs(BETA_LINES) do
      local t = core.sys.monotonic()
      assert.is_true(po:say(line), line)
      assert.is_true(core.sys.monotonic() - t < 3, "the honest call waited " .. (core.sys.monotonic() - t) .. " s")
    end
    assert.is_true(po:wait_closed())
    po:close()
    -- all of it while the hanging call was still waiting for its provider
    assert.equal("in_progress", db:handle():find_one("sessions", { _id = helpers.oid(hang.session_id) }).status)
    local o = wait_session(honest.session_id)
    assert.equal("completed", o.status, o.reason)
    assert.same(BETA_OUTCOME, o.outcome)

    -- a 500 is retried (the call waits on the loop, not the thread) and the answer arrives
    assert.is_true(pr:say("Hello? [script:500_then_text]"))
    local rs = pr:lines("assistant")
    assert.equal(STANDIN_TEXT, rs[#rs])
    pr:hangup()
    assert.is_true(pr:wait_closed())
    pr:close()
    assert.equal("completed", wait_session(retried.session_id).status)

    -- a 400 is not retried: the call fails with the provider's reason
    pbad:send("Hello? [script:400]")
    assert.is_true(pbad:wait_closed())
    pbad:close()
    local sb = wait_session(bad.session_id)
    assert.equal("failed", sb.status)
    assert.matches("^llm: openai: HTTP 400", sb.reason)
    assert.matches("Invalid value for 'temperature'", sb.reason, 1, true)
    assert.equal("Failed", patient_of(bad).call_status)

    -- and the hanging one ends, failed, after its attempts
    assert.is_true(ph:wait_closed(30))
    ph:close()
    local sh = wait_session(hang.session_id)
    assert.equal("failed", sh.status)
    assert.matches("^llm: openai: ", sh.reason)
    assert.matches("timed out", sh.reason, 1, true) -- curl: "Operation timed out after 1500 milliseconds ..."
    assert.matches("after 3 attempts", sh.reason, 1, true)
    assert.is_true(core.sys.monotonic() - t0 >= 4.5)
    assert.equal("Failed", patient_of(hang).call_status)

    local counts = {}
    for _, r in ipairs(llm:requests()) do counts[r.script] = (counts[r.script] or 0) + 1 end
    assert.same({ hang = 3, ["500_then_text"] = 2, ["400"] = 1 }, counts)
  end)
end)

-- The global behaviours (lua/sova/sandboxed/behaviours.lua) in calls: the flow in the call
-- sandbox, the offline rules engine, the other party speaking naturally. A fixture flow with
-- options and one behaviour off (spec/fixtures/flows/behaviours), and the demo flows with theirs.
local S = require("flows.support")
local engine = require("sova.call.engine")
local rules = require("sova.llm.rules")

local FIELDS = require("fixtures.flows.fields")

-- a call of the fixture flow (not started)
local function fixture_call()
  local c = engine.new {
    host = S.host("spec/fixtures/flows/behaviours"),
    llm = rules.new(),
    patient = { patient_name = "Ann Lee", phone_number = "+15165550000" },
    fields = FIELDS,
    clock = S.clock(),
  }
  return c
end

-- the names of the functions the model called, in order
local function called(call)
  local out = {}
  for _, m in ipairs(call.messages) do
    for _, tc in ipairs(m.tool_calls or {}) do out[#out + 1] = tc.name end
  end
  return out
end

local function last_line(call)
  local lines = S.assistant_lines(call)
  return lines[#lines]
end

describe("global behaviours in calls #flows", function()
  describe("goodbye", function()
    it("ends the call when the other party says bye-bye", function()
      local call = fixture_call()
      S.script(call, { "Okay, bye-bye!" })
      assert.are.same({ "goodbye" }, called(call))
      assert.are.equal("Thank you for your time. Goodbye.", last_line(call))
      -- before the fixture flow's required status was recorded: ended, but not complete
      assert.are.equal("incomplete", call.status)
      assert.are.same({ "status" }, call.missing)
      assert.are.equal("the other party said goodbye", call.reason)
    end)

    it("closes prior_auth's read-back when the rep says goodbye or asks if there is anything else", function()
      for _, line in ipairs({ "Have a good day, goodbye.", "You're welcome. Is there anything else?" }) do
        local call = S.call("demo_clinic_alpha", "prior_auth")
        S.script(call, { "It's approved.", "The reference number is AUTH 123456.", line })
        assert.are.equal("That's everything I needed. Thank you for your help today. Goodbye!", last_line(call), line)
        assert.are.equal("completed", call.status)
        assert.are.same({ prior_auth_status = "Approved", reference_number = "AUTH123456" }, call.outcome)
      end
    end)

    it("does not end the call before a fact said in the same line is taken", function()
      local call = S.call("demo_clinic_alpha", "prior_auth")
      S.script(call, { "It's approved.", "Before we say goodbye, the reference is AUTH 445566." })
      assert.are.equal("AUTH445566", call.outcome.reference_number)
      assert.matches("Let me read that back: A U T H 4 4 5 5 6 6.", S.said(call), 1, true)
    end)
  end)

  describe("repeat_that", function()
    it("asks the engine to repeat, staying in the node, for the usual ways of asking", function()
      for _, line in ipairs({ "Sorry, what?", "Could you repeat that?", "Pardon?", "I didn't catch that." }) do
        local call = fixture_call()
        S.script(call, { line })
        assert.are.same({ "repeat_that" }, called(call), line)
        assert.are.equal("ask", call.node)
        assert.are.equal("in_progress", call.status)
        assert.are.same({}, call.outcome)
      end
    end)
  end)

  describe("who_is_calling", function()
    it("says the flow's introduction, then the call goes on where it was", function()
      local call = fixture_call()
      S.script(call, { "Who is this?" })
      assert.are.same({ "who_is_calling" }, called(call))
      assert.matches("This is the test clinic calling Ann Lee.", S.said(call), 1, true)
      assert.are.equal("ask", call.node)
      S.script(call, { "It's done." })
      assert.are.equal("Done", call.outcome.status)
    end)

    it("introduces the patient flows' agent without a word about care", function()
      local call = S.call("demo_clinic_alpha", "patient_questions")
      S.script(call, { "Who's calling?" })
      assert.matches("This is Sophie, a care coordinator calling from Demo Clinic Alpha.", S.said(call), 1, true)
      S.assert_no_care_details(call, { "Dr. Alan Park", "appointment", "December", "medication" })
      assert.are.equal("greeting", call.node)
    end)
  end)

  describe("wrong_number", function()
    it("apologises, sets what the flow asks and ends the call", function()
      local call = fixture_call()
      S.script(call, { "I think you have the wrong number." })
      assert.are.equal("Sorry to bother you.", last_line(call))
      assert.are.same({ status = "Open" }, call.outcome)
      assert.are.equal("completed", call.status)
      assert.are.equal("wrong number or department", call.reason)
    end)

    it("takes a wrong department in prior_auth, and \"there is no authorization\" is no wrong number", function()
      local call = S.call("demo_clinic_alpha", "prior_auth")
      S.script(call, { "You've reached the pharmacy." })
      assert.matches("I must have reached the wrong department", last_line(call), 1, true)
      assert.are.equal("wrong number or department", call.reason)
      assert.are.same({}, call.outcome)
      call = S.call("demo_clinic_alpha", "prior_auth")
      S.script(call, { "There is no authorization on file for that." })
      assert.are.equal("in_progress", call.status)
    end)
  end)

  describe("call_back_later", function()
    it("ends a patient call for a retry, without a word about care", function()
      local call = S.call("demo_clinic_beta", "patient_questions")
      S.script(call, { "Sorry, I'm at work, call me later." })
      assert.matches("We'll try you again another time", last_line(call), 1, true)
      assert.are.equal("asked to call back later", call.reason)
      assert.are.equal("incomplete", call.status)
      assert.are.same({ "checkin_status" }, call.missing)
      assert.are.same({}, call.outcome)
    end)

    it("is not offered when the flow turns it off", function()
      local call = fixture_call()
      S.script(call, { "Can you call back later?" })
      assert.are.same({}, called(call))
      assert.are.equal("Open or done?", last_line(call))
      assert.are.equal("in_progress", call.status)
    end)
  end)

  describe("hold", function()
    it("holds, keeps quiet about announcements, and goes back to the question", function()
      local call = fixture_call()
      S.script(call, { "Hold on a second, let me check." })
      assert.are.equal("on_hold", call.node)
      assert.are.equal("Sure, I'll hold.", last_line(call))
      local before = #S.assistant_lines(call)
      S.script(call, { "Your call is important to us." })
      assert.are.equal(before, #S.assistant_lines(call), "the agent spoke to a hold announcement")
      S.script(call, { "Thanks for holding." })
      assert.are.equal("ask", call.node)
      -- back in the node without entering it again: its question, not its greeting lines
      assert.matches("Yes, I'm here.\nOpen or done?", S.said(call), -40, true)
      S.script(call, { "It's done.", "Seven." })
      assert.are.same({ status = "Done", score = 7 }, call.outcome)
      assert.are.equal("completed", call.status)
    end)

    it("asked to hold again while holding, it stays on hold without a second \"I'll hold\"", function()
      local call = fixture_call()
      S.script(call, { "One moment please.", "Please hold." })
      assert.are.equal("on_hold", call.node)
      local holds = 0
      for _, l in ipairs(S.assistant_lines(call)) do if l == "Sure, I'll hold." then holds = holds + 1 end end
      assert.are.equal(1, holds)
      S.script(call, { "Sorry about the wait." })
      assert.are.equal("ask", call.node)
    end)

    it("waits while someone fetches the patient, then asks for them again", function()
      local call = S.call("demo_clinic_alpha", "patient_questions")
      S.script(call, { "One moment, let me get her." })
      assert.are.equal("on_hold", call.node)
      S.script(call, { "Hello?" })
      assert.are.equal("greeting", call.node)
      assert.are.equal("Hello, this is Sophie calling from Demo Clinic Alpha. May I please speak with Maria Garcia?",
        last_line(call))
    end)
  end)

  it("every demo flow gets the behaviours it did not override, and the on_hold node", function()
    for _, c in ipairs({ { "demo_clinic_alpha", "prior_auth" }, { "demo_clinic_alpha", "patient_questions" },
                         { "demo_clinic_beta", "patient_questions" } }) do
      local d = assert(S.host("clients/" .. c[1] .. "/" .. c[2]):describe())
      local names = {}
      for _, fn in ipairs(d.functions) do names[fn.name] = true end
      for _, b in ipairs({ "goodbye", "repeat_that", "who_is_calling", "wrong_number", "call_back_later", "hold" }) do
        assert.is_true(names[b], c[2] .. " lacks " .. b)
      end
      assert.are.equal(1200, d.nodes.on_hold.hold_seconds)
    end
  end)
end)

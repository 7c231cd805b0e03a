-- Demo Clinic Alpha's prior_auth flow, end to end with the offline rules engine, the flow in the
-- call sandbox: every branch, the transcript, the final status and the outcome fields.
local S = require("flows.support")

local ORG, WF = "demo_clinic_alpha", "prior_auth"

describe("Alpha prior_auth flow #flows", function()
  local function call_of(overrides) return S.call(ORG, WF, overrides) end

  it("checks clean against Alpha's prior_auth schema", function()
    local problems, text = S.check(ORG, WF)
    assert.are.same({}, problems, text)
  end)

  it("introduces itself, gives the details asked for, and records an approval with its reference read back", function()
    local call = call_of()
    S.script(call, {
      "Sure, what's the member ID and date of birth?",
      "And the provider's NPI?",
      "What facility is this at?",
      "When is the appointment?",
      "Can I have the patient's name?",
      "Authorization is required for that code.",
      "It was approved.",
      "Sure, the reference number is AUTH 123456.",
      "Yes, that's correct.",
    })
    local said = S.said(call)
    assert.matches("Alexandra calling from City Medical Center on behalf of Dr. Jane Wilson", said, 1, true)
    assert.matches("procedure code 9 9 2 1 3 for our patient John Smith", said, 1, true)
    assert.matches("The member ID is A B C 1 2 3 4 5 6.", said, 1, true)
    assert.matches("The date of birth is March 15, 1985.", said, 1, true)
    assert.matches("Dr. Jane Wilson, NPI 1 2 3 4 5 6 7 8 9 0", said, 1, true)
    assert.matches("The procedure will be done at City Medical Center.", said, 1, true)
    assert.matches("December 1, 2026 at 2:30 PM", said, 1, true)
    assert.matches("The patient's name is John Smith.", said, 1, true)
    assert.matches("Let me read that back: A U T H 1 2 3 4 5 6. Is that correct?", said, 1, true)
    assert.matches("Thank you so much for your help today", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.equal("prior authorization verified", call.reason)
    assert.are.same({ prior_auth_status = "Approved", reference_number = "AUTH123456" }, call.outcome)
    S.assert_outcome_valid(call)
    S.assert_transcript_sane(call)
    assert.matches("Auth Status: Approved", call.summary, 1, true)
    assert.matches("Reference #: AUTH123456", call.summary, 1, true)
  end)

  it("a denial asks the reason, notes it and still takes the reference number", function()
    local call = call_of()
    S.script(call, {
      "Let me look that up. It looks like that request was denied.",
      "It was denied as not medically necessary.",
      "The reference is DN-7781-22.",
      "That's right.",
    })
    local said = S.said(call)
    assert.matches("Could you tell me the reason for the denial?", said, 1, true)
    assert.matches("D N 7 7 8 1 2 2", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.same({ prior_auth_status = "Denied", reference_number = "DN778122" }, call.outcome)
    S.assert_outcome_valid(call)
    assert.matches("Denial reason: It was denied as not medically necessary.", call.summary, 1, true)
  end)

  it("\"not approved\" counts as a denial", function()
    local call = call_of()
    S.script(call, { "I'm afraid it's not approved." })
    assert.are.equal("Denied", call.outcome.prior_auth_status)
    assert.are.equal("denial_reason", call.node)
  end)

  it("a pending request is recorded as Pending with its reference", function()
    local call = call_of()
    S.script(call, {
      "Yes, that requires authorization.",
      "There's a request on file, it's still pending review.",
      "Reference number P A 2 0 2 4 0 0 9.",
      "Yep.",
    })
    assert.matches("Understood. Is there an authorization on file", S.said(call), 1, true)
    assert.matches("P A 2 0 2 4 0 0 9", S.said(call), 1, true)
    assert.are.equal("completed", call.status)
    assert.are.same({ prior_auth_status = "Pending", reference_number = "PA2024009" }, call.outcome)
    S.assert_outcome_valid(call)
  end)

  it("authorization not required: no status written, a note and the call reference", function()
    local call = call_of()
    S.script(call, {
      "No, that code does not require prior authorization.",
      "Your call reference is CR 55012.",
      "Correct.",
    })
    local said = S.said(call)
    assert.matches("confirming that no authorization is needed", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.same({ reference_number = "CR55012" }, call.outcome)
    assert.is_nil(call.outcome.prior_auth_status)
    assert.matches("not required", call.summary, 1, true)
    S.assert_outcome_valid(call)
  end)

  it("holds when asked, stays silent on hold, and resumes where it was", function()
    local call = call_of()
    S.script(call, { "Sure, one moment please, let me check." })
    assert.are.equal("on_hold", call.node)
    assert.matches("Sure, I'll hold.", S.said(call), 1, true)
    local before = #S.assistant_lines(call)
    S.script(call, { "Your call is important to us. Please stay on the line." })
    assert.are.equal(before, #S.assistant_lines(call), "the agent spoke while on hold")
    assert.are.equal("on_hold", call.node)
    S.script(call, { "Thanks for holding." })
    assert.are.equal("verify", call.node)
    assert.matches("Yes, I'm here. Thank you.", S.said(call), 1, true)
    -- hold again while being asked for the reference: resumes at the reference question
    S.script(call, { "It's approved.", "Hold on a second." })
    assert.are.equal("on_hold", call.node)
    S.script(call, { "Sorry about the wait.", "AUTH 998877", "yes" })
    assert.are.equal("completed", call.status)
    assert.are.same({ prior_auth_status = "Approved", reference_number = "AUTH998877" }, call.outcome)
  end)

  it("call back later ends the call politely, nothing written, for the clinic to follow up", function()
    local call = call_of()
    S.script(call, { "Our systems are down right now, you'll have to call back later." })
    assert.matches("we'll call back later", S.said(call), 1, true)
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "reference_number" }, call.missing)
    assert.are.equal("insurer asked to call back later", call.reason)
    assert.are.same({}, call.outcome)
  end)

  it("a representative who cannot help is transferred to the supervisor line", function()
    local call = call_of()
    S.script(call, { "Sorry, I can't provide that information over the phone." })
    local transfers = S.events_of(call, "transfer")
    assert.are.equal(1, #transfers)
    assert.are.equal("+15165551234", transfers[1].to)
    assert.matches("I'll transfer you to our supervisor", S.said(call), 1, true)
    assert.are.equal("in_progress", call.status) -- ringing the supervisor line
    call:transfer_result("answered")
    assert.are.equal("completed", call.status)
    assert.are.equal("transferred to +15165551234", call.reason)
  end)

  it("a supervisor line that does not answer brings the call back to asking the representative", function()
    local call = call_of()
    S.script(call, { "Sorry, I can't provide that information over the phone." })
    call:transfer_result("no-answer")
    assert.are.equal("await_supervisor", call.node)
    local lines = S.assistant_lines(call)
    assert.are.same({ "I'm sorry, our supervisor line didn't pick up.",
      "I'm sorry, I'm having trouble getting this information. Could I please speak with a supervisor?" },
      { lines[#lines - 1], lines[#lines] })
    S.script(call, { "Hi, this is Mark, the supervisor.", "It's approved.", "Reference SUP 4410.", "Yes." })
    assert.are.equal("completed", call.status)
    assert.are.same({ prior_auth_status = "Approved", reference_number = "SUP4410" }, call.outcome)
  end)

  it("without a supervisor phone, asks for a supervisor and restates the request", function()
    local call = call_of({ supervisor_phone = false })
    S.script(call, { "I'm not able to help with that, I don't have access." })
    assert.are.equal("await_supervisor", call.node)
    assert.matches("Could I please speak with a supervisor?", S.said(call), 1, true)
    S.script(call, { "Hi, this is Mark, the supervisor. How can I help?" })
    assert.matches("member ID A B C 1 2 3 4 5 6", S.said(call), 1, true)
    S.script(call, { "I see it, it's been approved.", "The reference is SUP 4410.", "Yes." })
    assert.are.equal(0, #S.events_of(call, "transfer"))
    assert.are.equal("completed", call.status)
    assert.are.same({ prior_auth_status = "Approved", reference_number = "SUP4410" }, call.outcome)
  end)

  it("takes a corrected reference number and reads it back again", function()
    local call = call_of()
    S.script(call, { "Approved.", "The reference is AUTH 123456." })
    S.script(call, { "No, it's AUTH 123457." })
    assert.matches("So it's A U T H 1 2 3 4 5 7. Is that correct?", S.said(call), 1, true)
    assert.are.equal("in_progress", call.status)
    S.script(call, { "Yes, that's right." })
    assert.are.equal("completed", call.status)
    assert.are.equal("AUTH123457", call.outcome.reference_number)
  end)

  it("asks again when the reference number is not understood", function()
    local call = call_of()
    S.script(call, { "Approved.", "Umm, hang on, I need to find it. Okay." })
    -- "hang on" is a hold request; after the hold, words without a code get the reprompt
    S.script(call, { "Thanks for waiting.", "It's something like that." })
    assert.matches("I didn't get the reference number", S.said(call), 1, true)
    assert.is_nil(call.outcome.reference_number)
    assert.are.equal("reference", call.node)
  end)

  it("a hang-up mid-call keeps what was learned: approved without its reference number is incomplete", function()
    local call = call_of()
    S.script(call, { "It's approved." })
    call:hangup()
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "reference_number" }, call.missing)
    assert.are.equal("the other party hung up", call.reason)
    assert.are.same({ prior_auth_status = "Approved" }, call.outcome)
  end)

  it("a hang-up during the read-back completes it with what was learned", function()
    local call = call_of()
    S.script(call, { "It's approved.", "The reference is AUTH 123456." })
    call:hangup()
    assert.are.equal("completed", call.status)
    assert.are.equal("the other party hung up", call.reason)
    assert.are.same({ prior_auth_status = "Approved", reference_number = "AUTH123456" }, call.outcome)
  end)

  it("requires the reference number, and falls back to asking for a supervisor", function()
    local d = assert(S.host("clients/" .. ORG .. "/" .. WF):describe())
    assert.are.same({ { field = "reference_number" } }, d.requires)
    assert.are.equal("ask_supervisor", d.fallback)
    assert.are.equal("await_supervisor", d.nodes.ask_supervisor.next)
    assert.matches("Could I please speak with a supervisor?", d.nodes.ask_supervisor.say[1], 1, true)
  end)

  it("on a phone call it listens first: a menu, a hold message and a person are told apart before a word", function()
    local function first(line)
      local call = call_of()
      call:start { listen_first = true }
      assert.are.same({ "answer", "" }, { call.node, S.said(call) })
      call:user_says(line)
      local keys = {}
      for _, e in ipairs(S.events_of(call, "dtmf")) do keys[#keys + 1] = e.digits end
      return call, table.concat(keys, ",")
    end
    local call, keys = first("Thank you for calling Aetna. For providers, press 1. For members, press 2.")
    assert.are.same({ "phone_menu", "", "1" }, { call.node, S.said(call), keys })
    call = first("Please hold while we connect you to the next available representative.")
    assert.are.same({ "menu_hold", "" }, { call.node, S.said(call) })
    for _, line in ipairs({ "Prior authorization, this is Dana, how can I help?", "Hello?" }) do
      call = first(line)
      assert.are.equal("verify", call.node)
      assert.matches("^Hi, this is Alexandra calling from City Medical Center", S.said(call))
      assert.are.equal(1, #S.assistant_lines(call), line)
    end
    -- a recorded greeting before the menu: still listening, the menu's prompt follows
    call = first("Thank you for calling Aetna.")
    assert.are.same({ "answer", "", 3 }, { call.node, S.said(call), call:silence_after() })
    call:user_says("For prior authorization, press 2.")
    assert.are.same({ "phone_menu", "" }, { call.node, S.said(call) })
  end)

  it("nobody answering is no_answer", function()
    local call = call_of()
    call:start()
    call:hangup()
    assert.are.equal("no_answer", call.status)
  end)
end)

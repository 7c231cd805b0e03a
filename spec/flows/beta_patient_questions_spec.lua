-- Demo Clinic Beta's patient_questions flow, end to end with the offline rules engine, the flow in
-- the call sandbox: two-step identity check, language, pain 0-10, medications, appointment; wrong
-- person, call back later, voicemail.
local S = require("flows.support")

local ORG, WF = "demo_clinic_beta", "patient_questions"
local DIR = "clients/demo_clinic_beta/patient_questions"

-- the fixture patient is Wei Chen, born 1990-06-21, Mandarin, appointment 2026-12-04 16:00
local CARE = { "appointment", "December", "4 PM", "pain", "medication", "Mandarin", "June", "1990", "nurse" }

describe("Beta patient_questions flow #flows", function()
  local function call_of(overrides) return S.call(ORG, WF, overrides) end

  it("checks clean against Beta's patient_questions schema", function()
    local problems, text = S.check(ORG, WF)
    assert.are.same({}, problems, text)
  end)

  it("is Beta's own flow, not Alpha's", function()
    local beta = assert(S.host(DIR):describe())
    local alpha = assert(S.host("clients/demo_clinic_alpha/patient_questions"):describe())
    assert.are_not.same(alpha.nodes.greeting.say, beta.nodes.greeting.say)
    assert.is_nil(alpha.nodes.pain)
    assert.is_table(beta.nodes.pain)
    assert.is_table(beta.nodes.verify_dob)
    assert.is_table(beta.nodes.verify_name)
    local writes = {}
    for _, w in ipairs(beta.writes) do writes[w] = true end
    assert.is_true(writes.pain_level)
    assert.is_true(writes.preferred_language)
  end)

  it("verifies date of birth then name, and records language, pain, medications and the appointment", function()
    local call = call_of()
    call:start()
    assert.are.same({ "Hi! This is Leo, the care assistant at Demo Clinic Beta. Am I speaking with Wei Chen?" },
      S.assistant_lines(call))
    S.script(call, { "Yes, speaking.", "June 21st, 1990." })
    S.assert_no_care_details(call, { "appointment", "December", "pain", "medication", "Mandarin" })
    assert.are.equal("verify_name", call.node)
    S.script(call, { "Wei Chen." })
    assert.matches("We have Mandarin as your preferred language", S.said(call), 1, true)
    S.script(call, { "Yes, that's right.", "I'd say about a three.", "No, nothing new.", "Yes, I'll be there." })
    local said = S.said(call)
    assert.matches("how would you rate any pain", said, 1, true)
    assert.matches("Thank you for letting me know.", said, 1, true)
    assert.matches("appointment for you on December 4, 2026 at 4 PM", said, 1, true)
    assert.matches("Take care", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.same({
      preferred_language = "Mandarin",
      pain_level = 3,
      medication_changes = "No changes reported",
      checkin_status = "Confirmed",
    }, call.outcome)
    S.assert_outcome_valid(call)
    S.assert_transcript_sane(call)
  end)

  it("a new language, high pain and a medication change are recorded and flagged", function()
    local call = call_of()
    S.script(call, {
      "This is he.", "06/21/1990", "My name is Wei Chen.",
      "Actually, Spanish please.",
      "Honestly it's an eight out of ten.",
      "Yes, my doctor increased my gabapentin dose.",
      "I need to reschedule, I can't make it that day.",
    })
    local said = S.said(call)
    assert.matches("I'll ask a nurse to call you back today", said, 1, true)
    assert.matches("someone from our front desk will call you", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.same({
      preferred_language = "Spanish",
      pain_level = 8,
      medication_changes = "Yes, my doctor increased my gabapentin dose.",
      needs_follow_up = true,
      checkin_status = "Reschedule Requested",
      call_notes = "Pain 8/10 reported; nurse call-back requested. Medication change reported. Patient asked to reschedule.",
    }, call.outcome)
    S.assert_outcome_valid(call)
  end)

  it("without an appointment on file, the check-in is confirmed without asking about one", function()
    local call = call_of({ appointment_time = false, preferred_language = false })
    S.script(call, { "Speaking.", "June 21 1990", "Wei Chen" })
    assert.matches("Which language would you prefer for our calls", S.said(call), 1, true)
    S.script(call, { "English is fine.", "No pain at all.", "Nope." })
    assert.is_nil(S.said(call):find("appointment", 1, true))
    assert.are.equal("completed", call.status)
    assert.are.same({
      preferred_language = "English",
      pain_level = 0,
      medication_changes = "No changes reported",
      checkin_status = "Confirmed",
    }, call.outcome)
    S.assert_outcome_valid(call)
  end)

  it("a pain rating out of range is asked again", function()
    local call = call_of()
    S.script(call, { "Speaking.", "June 21 1990", "Wei Chen", "Yes.", "Twelve!" })
    assert.are.equal("pain", call.node)
    assert.is_nil(call.outcome.pain_level)
    assert.matches("what number would you give your pain", S.said(call), 1, true)
    S.script(call, { "Okay, five." })
    assert.are.equal(5, call.outcome.pain_level)
  end)

  it("cancelling the appointment is recorded", function()
    local call = call_of()
    S.script(call, { "Speaking.", "June 21 1990", "Wei Chen", "Yes.", "Two.", "No.", "Please cancel it." })
    assert.are.equal("Cancelled", call.outcome.checkin_status)
    assert.are.equal("completed", call.status)
  end)

  it("the wrong person hears nothing about care", function()
    local call = call_of()
    S.script(call, { "Wrong number, nobody by that name lives here." })
    S.assert_no_care_details(call, CARE)
    assert.are.equal("completed", call.status)
    assert.are.same({ checkin_status = "Wrong Number" }, call.outcome)
  end)

  it("call back later, even after the date of birth, says nothing about care", function()
    local call = call_of()
    S.script(call, { "Yes.", "Actually I'm driving, can you call me back later?" })
    S.assert_no_care_details(call, CARE)
    assert.matches("We'll try you again another time", S.said(call), 1, true)
    assert.are.equal("asked to call back later", call.reason)
    assert.are.equal("incomplete", call.status)
    assert.are.same({}, call.outcome)
    assert.matches("Note: Asked to be called back later.", call.summary, 1, true)
  end)

  it("voicemail leaves a message without care details", function()
    local call = call_of()
    S.script(call, { "The person you are calling is not available to take your call. Please record your message after the tone." })
    S.assert_no_care_details(call, CARE)
    assert.are.equal("voicemail", call.status)
    assert.are.same({ checkin_status = "Not Reached" }, call.outcome)
  end)

  it("a wrong date of birth twice ends the call without care details", function()
    local call = call_of()
    S.script(call, { "Speaking.", "January 5th, 1991." })
    assert.matches("doesn't match what we have", S.said(call), 1, true)
    S.script(call, { "01/05/1991" })
    S.assert_no_care_details(call, CARE)
    assert.are.equal("identity not verified", call.reason)
    assert.are.same({ needs_follow_up = true, call_notes = "Identity could not be verified." }, call.outcome)
  end)

  it("the right date of birth with the wrong name is not enough", function()
    local call = call_of()
    S.script(call, { "Speaking.", "June 21 1990", "Li Wang" })
    assert.are.equal("verify_name", call.node)
    S.assert_no_care_details(call, CARE)
    S.script(call, { "Li Wang" })
    assert.are.equal("identity not verified", call.reason)
    S.assert_no_care_details(call, CARE)
  end)
end)

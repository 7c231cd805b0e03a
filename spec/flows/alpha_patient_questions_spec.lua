-- Demo Clinic Alpha's patient_questions flow, end to end with the offline rules engine, the flow
-- in the call sandbox: identity before care, check-in answers recorded, wrong person, call back
-- later, voicemail.
local S = require("flows.support")

local ORG, WF = "demo_clinic_alpha", "patient_questions"

-- the fixture patient is Maria Garcia, born 1972-11-02, seeing Dr. Alan Park on 2026-12-03 09:15
local CARE = { "Dr. Alan Park", "Alan Park", "appointment", "December", "9:15", "medication",
               "care team", "November 2", "1972" }

describe("Alpha patient_questions flow #flows", function()
  local function call_of(overrides) return S.call(ORG, WF, overrides) end

  it("checks clean against Alpha's patient_questions schema", function()
    local problems, text = S.check(ORG, WF)
    assert.are.same({}, problems, text)
  end)

  it("verifies name and date of birth, then records the check-in answers", function()
    local call = call_of()
    call:start()
    assert.are.same({ "Hello, this is Sophie calling from Demo Clinic Alpha. May I please speak with Maria Garcia?" },
      S.assistant_lines(call))
    S.script(call, { "Speaking." })
    S.assert_no_care_details(call, CARE)
    S.script(call, {
      "This is Maria Garcia, born November 2nd, 1972.",
      "Yes, I'll be there.",
      "I started taking metformin last week.",
      "Yes, I've been having some dizziness in the mornings.",
    })
    local said = S.said(call)
    assert.matches("could you please tell me your full name and date of birth?", said, 1, true)
    assert.matches("your appointment with Dr. Alan Park on December 3, 2026 at 9:15 AM", said, 1, true)
    assert.matches("Great, we'll see you then.", said, 1, true)
    assert.matches("Have there been any changes to your medications", said, 1, true)
    assert.matches("someone from the care team will follow up", said, 1, true)
    assert.matches("That's everything I needed", said, 1, true)
    assert.are.equal("completed", call.status)
    assert.are.equal("check-in completed", call.reason)
    assert.are.same({
      checkin_status = "Confirmed",
      medication_changes = "I started taking metformin last week.",
      needs_follow_up = true,
      call_notes = "Concern: Yes, I've been having some dizziness in the mornings.",
    }, call.outcome)
    S.assert_outcome_valid(call)
    S.assert_transcript_sane(call)
  end)

  it("nothing about care is said before the date of birth matches", function()
    local call = call_of()
    S.script(call, { "Yes, this is she." })
    -- the name alone is not enough
    S.script(call, { "My name is Maria Garcia." })
    S.assert_no_care_details(call, CARE)
    assert.are.equal("verify", call.node)
    S.script(call, { "Maria Garcia, 11/02/1972." })
    assert.are.equal("confirm_appointment", call.node)
    assert.matches("Dr. Alan Park", S.said(call), 1, true)
  end)

  it("no medication changes and no concerns", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Garcia, 1972-11-02.", "Yes.", "No, nothing has changed.", "No, that's all." })
    assert.are.equal("completed", call.status)
    assert.are.same({ checkin_status = "Confirmed", medication_changes = "No changes reported" }, call.outcome)
    S.assert_outcome_valid(call)
  end)

  it("a bare yes about medications gets a follow-up question", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Garcia, 1972-11-02.", "Yes.", "Yes." })
    assert.matches("What has changed?", S.said(call), 1, true)
    assert.are.equal("medications", call.node)
    S.script(call, { "I stopped the lisinopril.", "Nope." })
    assert.are.equal("I stopped the lisinopril.", call.outcome.medication_changes)
    assert.is_true(call.outcome.needs_follow_up)
    assert.are.equal("completed", call.status)
  end)

  it("a reschedule request is recorded and flagged for follow-up", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Garcia, 1972-11-02.", "No, I can't make it, I need to reschedule.",
                     "No changes.", "No." })
    assert.matches("scheduling team to call you", S.said(call), 1, true)
    assert.are.equal("completed", call.status)
    assert.are.equal("Reschedule Requested", call.outcome.checkin_status)
    assert.is_true(call.outcome.needs_follow_up)
    assert.are.equal("Patient asked to reschedule.", call.outcome.call_notes)
    S.assert_outcome_valid(call)
  end)

  it("a cancellation is recorded and skips the medication question", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Garcia, 1972-11-02.", "I'd like to cancel it.", "No." })
    assert.is_nil(S.said(call):find("medications", 1, true))
    assert.are.equal("Cancelled", call.outcome.checkin_status)
    assert.are.equal("completed", call.status)
    S.assert_outcome_valid(call)
  end)

  it("the wrong person hears nothing about care and the number is marked wrong", function()
    local call = call_of()
    S.script(call, { "Sorry, there's no one here by that name. You have the wrong number." })
    S.assert_no_care_details(call, CARE)
    assert.are.equal("completed", call.status)
    assert.are.equal("wrong number or department", call.reason)
    assert.are.same({ checkin_status = "Wrong Number" }, call.outcome)
    S.assert_outcome_valid(call)
  end)

  it("the wrong person after the name question hears nothing about care either", function()
    local call = call_of()
    S.script(call, { "Yes?", "Oh, you have the wrong number, I don't know anyone called Maria." })
    S.assert_no_care_details(call, CARE)
    assert.are.same({ checkin_status = "Wrong Number" }, call.outcome)
  end)

  it("call back later ends the call without a word about care", function()
    local call = call_of()
    S.script(call, { "She's not available right now, can you call back later?" })
    S.assert_no_care_details(call, CARE)
    assert.matches("We'll call back another time", S.said(call), 1, true)
    -- the check-in did not happen: incomplete, for a retry
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "checkin_status" }, call.missing)
    assert.are.equal("asked to call back later", call.reason)
    assert.are.same({}, call.outcome)
    assert.matches("Note: Asked to be called back later.", call.summary, 1, true)
  end)

  it("voicemail leaves a callback message without care details", function()
    local call = call_of()
    S.script(call, { "Hi, you've reached Maria. I can't come to the phone right now, please leave a message after the beep." })
    S.assert_no_care_details(call, CARE)
    local lines = S.assistant_lines(call)
    assert.is_nil(lines[#lines]:find("Maria", 1, true), "the voicemail message names the patient")
    assert.matches("Please call us back at your convenience", S.said(call), 1, true)
    assert.are.equal("voicemail", call.status)
    assert.are.same({ checkin_status = "Not Reached" }, call.outcome)
  end)

  it("a second identity mismatch ends the call, still without care details", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Lopez, March 3rd 1980." })
    assert.matches("doesn't match our records", S.said(call), 1, true)
    S.script(call, { "Maria Lopez, 03/03/1980." })
    S.assert_no_care_details(call, { "Dr. Alan Park", "appointment on", "December", "medications" })
    -- no check-in took place: the clinic follows up
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "checkin_status" }, call.missing)
    assert.are.equal("identity not verified", call.reason)
    assert.are.same({ needs_follow_up = true, call_notes = "Identity could not be verified." }, call.outcome)
  end)

  it("one mismatch, then the right answer, continues the check-in", function()
    local call = call_of()
    S.script(call, { "Speaking.", "Maria Garcia, November 3rd 1972.", "Sorry, Maria Garcia, November 2nd 1972." })
    assert.are.equal("confirm_appointment", call.node)
  end)

  it("without a provider on file, the appointment is confirmed without naming one", function()
    local call = call_of({ provider_name = false })
    S.script(call, { "Speaking.", "Maria Garcia, 1972-11-02." })
    assert.matches("your appointment on December 3, 2026 at 9:15 AM", S.said(call), 1, true)
    assert.is_nil(S.said(call):find("with  on", 1, true))
  end)
end)

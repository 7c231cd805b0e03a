-- Demo Clinic Beta: patient check-in call.
--
-- Beta's check-in differs from Alpha's: identity is verified in two steps (date of birth, then
-- the full name), the patient's preferred language is confirmed or updated, pain is rated on a
-- 0-10 scale (7 or more asks for a nurse call-back), medications are checked, and the
-- appointment is confirmed only when the patient has one. Nothing about the patient's care is
-- said before identity is verified; wrong person, call-back-later and voicemail end the call
-- (the first two are global behaviours, with this flow's lines and statuses). A call is
-- complete with a check-in status. On the phone, an answering machine gets the voicemail message
-- after its beep (no patient data in it); once verified, a patient who asks for a nurse is
-- transferred to Beta's nurse line, and back in the same step when no one picks up.
local flow = require("sova.sandboxed.flow")
local kit = require("sova.sandboxed.kit").new { notes = "call_notes", follow_up = "needs_follow_up" }

local MAX_ATTEMPTS = 2
local NURSE_CALLBACK_PAIN = 7
local NURSE_LINE = "+15165550177"

-- left on an answering machine, whoever may hear it: the clinic, never the patient's details
local CALL_US_BACK = "Hi, this is Leo from Demo Clinic Beta. Please give us a call back when you have a moment. Thanks!"

local nurse = kit:nurse_line {
  number = NURSE_LINE,
  say = "Sure, I'll put you through to our nurse line now. Please hold on.",
}

-- how a failed identity check goes on (once per step): ask again, then end the call
local function mismatch(call, again)
  return kit:mismatch(call, {
    attempts = MAX_ATTEMPTS,
    again = again,
    failed = "I'm sorry, I couldn't verify your identity, so I'm not able to continue. "
      .. "Please give Demo Clinic Beta a call when it's convenient. Goodbye.",
  })
end

-- once the medications are done: the appointment, if the patient has one
local function after_medications(call)
  if call:get("appointment_time") then
    call:say("I also see an appointment for you on {{appointment_time|datetime}}. Can you still make it?")
    return "appointment"
  end
  call:set("checkin_status", "Confirmed")
  return "wrap_up"
end

local unverified = {
  kit:voicemail {
    set = { checkin_status = "Not Reached" },
    say = CALL_US_BACK,
  },
}

return flow.define {
  name = "patient_questions",
  description = "Check-in: verify identity (DOB, then name), language, pain 0-10, medications, appointment.",
  reads = { "patient_name", "date_of_birth", "appointment_time", "preferred_language" },
  writes = { "checkin_status", "preferred_language", "pain_level", "medication_changes",
             "needs_follow_up", "call_notes" },
  requires = { "checkin_status" },
  role = "You are Leo, the care assistant of Demo Clinic Beta, checking in on a patient. Speak "
    .. "simply and kindly, one question at a time. Never mention the patient's appointment or "
    .. "health until their date of birth and full name have been verified.",
  initial = "greeting",
  voicemail = { message = CALL_US_BACK, phi = false, set = { checkin_status = "Not Reached" } },
  transfer_failed = "I'm sorry, the nurse line is busy right now, so I've asked a nurse to call you back today.",
  -- the behaviours' lines say nothing about care: they may run before identity is verified
  behaviours = {
    wrong_number = {
      set = { checkin_status = "Wrong Number" },
      say = "Oh, I'm sorry to bother you. Have a nice day.",
      rules = { "do not know" },
    },
    -- nothing is recorded: the check-in did not happen, so the call ends incomplete for a retry
    call_back_later = {
      say = "No problem at all. We'll try you again another time. Bye for now!",
      rules = { "not available", "not home", "not here right now" },
    },
    who_is_calling = { say = "This is Leo, the care assistant at Demo Clinic Beta." },
    goodbye = { say = "Okay, thanks for your time. Bye for now!" },
  },
  nodes = {
    greeting = {
      say = { "Hi! This is Leo, the care assistant at Demo Clinic Beta. Am I speaking with {{patient_name}}?" },
      task = "Find out whether you are speaking with {{patient_name}}.",
      expect = { "{{patient_name}}" }, -- "Yes, this is Wei Chen": the recognizer is told the name
      functions = kit.with({
        kit:is_patient {
          next = "verify_dob",
        },
      }, unverified),
    },

    verify_dob = {
      -- entry lines, skipped when the line that led here already answers them
      say = { "Thanks! To protect your privacy, could you tell me your date of birth?" },
      task = "Ask for the patient's date of birth. Say nothing about their care yet.",
      reprompt = "Sorry, could you tell me your date of birth, with the month, day and year?",
      functions = kit.with({
        {
          name = "verify_dob",
          description = "The person gives their date of birth.",
          parameters = kit.identity_parameters { "date_of_birth" },
          rules = { "born", "birth", "*" },
          handler = function(args, call)
            if kit.dob_matches(args.date_of_birth, call.patient.date_of_birth) then
              call.state.dob_ok = true
              return "verify_name"
            end
            return mismatch(call, "I'm sorry, that doesn't match what we have. Could you tell me your date of birth once more?")
          end,
        },
      }, unverified),
    },

    verify_name = {
      say = { "Thank you. And could you please confirm your first and last name?" },
      task = "Ask the patient to confirm their first and last name.",
      reprompt = "Sorry, could you tell me your first and last name?",
      expect = { "{{patient_name}}" },
      functions = kit.with({
        {
          name = "verify_name",
          description = "The person gives their first and last name.",
          parameters = kit.identity_parameters { "full_name" },
          rules = { "*" },
          handler = function(args, call)
            if not (call.state.dob_ok and kit.name_matches(args.full_name, call.patient.patient_name)) then
              return mismatch(call, "I'm sorry, that doesn't match what we have. Could you say your first and last name again?")
            end
            call.state.verified = true
            if call:get("preferred_language") then
              call:say("Thanks, {{patient_name}}, you're verified. We have {{preferred_language}} as your "
                .. "preferred language for our calls. Is that still right?")
            else
              call:say("Thanks, {{patient_name}}, you're verified. Which language would you prefer for our "
                .. "calls: English, Spanish, Mandarin, or another language?")
            end
            return "language"
          end,
        },
      }, unverified),
    },

    language = {
      task = "Confirm or update the patient's preferred language (English, Spanish, Mandarin, Other).",
      reprompt = "Which language would you prefer for our calls: English, Spanish, Mandarin, or another language?",
      functions = {
        {
          name = "set_language",
          description = "The patient names the language they prefer.",
          parameters = {
            type = "object",
            properties = {
              language = { type = "string", enum = { "English", "Spanish", "Mandarin", "Other" },
                           description = "The preferred language." },
            },
            required = { "language" },
          },
          rules = { values = { language = { Other = { "french", "russian", "korean", "vietnamese",
                                                      "arabic", "portuguese", "tagalog", "another language" } } } },
          handler = function(args, call)
            call:set("preferred_language", args.language)
            call:say("Thank you, I've updated that.")
            return "pain"
          end,
        },
        {
          name = "language_confirmed",
          description = "The patient confirms the preferred language we have on file is right.",
          rules = kit.phrases(kit.CONFIRM, { "that is right", "still right", "sure" }),
          handler = function(args, call)
            local current = call:get("preferred_language")
            if not current then
              call:say("Which language would you prefer: English, Spanish, Mandarin, or another language?")
              return false
            end
            call:set("preferred_language", current)
            return "pain"
          end,
        },
      },
    },

    pain = {
      say = { "On a scale from zero to ten, how would you rate any pain you're having today?" },
      task = "Ask the patient to rate their pain from 0 (none) to 10 (worst).",
      reprompt = "Sorry, on a scale from zero to ten, what number would you give your pain today?",
      on_transfer_failed = "pain",
      functions = {
        nurse,
        {
          name = "no_pain",
          description = "The patient says they have no pain at all.",
          rules = { "no pain", "not in pain", "pain free", "no pain at all", "not having any pain",
                    "i feel great", "feeling great", "none" },
          handler = function(args, call)
            call:set("pain_level", 0)
            call:say("Glad to hear it.")
            return "medications"
          end,
        },
        {
          name = "record_pain",
          description = "The patient rates their pain from 0 to 10.",
          parameters = {
            type = "object",
            properties = { level = { type = "integer", minimum = 0, maximum = 10, description = "Pain, 0 to 10." } },
            required = { "level" },
          },
          rules = { "*" },
          handler = function(args, call)
            call:set("pain_level", args.level)
            if args.level >= NURSE_CALLBACK_PAIN then
              call:set("needs_follow_up", true)
              kit:note(call, "Pain " .. args.level .. "/10 reported; nurse call-back requested.")
              call:say("I'm sorry you're hurting. I'll ask a nurse to call you back today.")
            else
              call:say("Thank you for letting me know.")
            end
            return "medications"
          end,
        },
      },
    },

    medications = {
      say = { "Are you taking any new medications, or have any of your doses changed?" },
      task = "Ask about new medications or changed doses and note them.",
      on_transfer_failed = "medications",
      functions = kit.with(kit:medications {
        field = "medication_changes",
        none = { value = "No changes reported", next = after_medications, rules = { "same as before" } },
        changed = { ask = "Okay, which medication, and what changed?", note = "Medication change reported.",
                    say = "Got it, I'll pass that on to your care team.", next = after_medications },
      }, { nurse }),
    },

    appointment = {
      task = "Ask whether the patient can still make the appointment; note a reschedule or cancellation.",
      reprompt = "Will you be able to make your appointment on {{appointment_time|datetime}}?",
      functions = kit:appointment {
        confirmed = { set = { checkin_status = "Confirmed" }, next = "wrap_up" },
        reschedule = { set = { checkin_status = "Reschedule Requested" },
                       say = "No problem, someone from our front desk will call you to pick a new time.", next = "wrap_up" },
        cancel = { set = { checkin_status = "Cancelled" }, say = "Okay, I've cancelled it for you.", next = "wrap_up" },
      },
    },

    wrap_up = kit.goodbye("Thanks so much, {{patient_name}}. Take care, and call us anytime if anything changes. Goodbye!",
      "check-in completed"),
  },
}

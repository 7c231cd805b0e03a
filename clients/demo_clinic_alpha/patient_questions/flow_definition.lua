-- Demo Clinic Alpha: pre-visit check-in call to a patient.
--
-- Identity first: nothing about the patient's care (provider, appointment, medications) is said
-- until the person has given the patient's full name and date of birth. Then: confirm the
-- appointment (or note a reschedule / cancellation), ask about medication changes and about any
-- concerns for the care team, and record the answers in the outcome fields. Wrong person,
-- "call me back later" and voicemail end the call without a word about care (the first two are
-- global behaviours, with this flow's lines and statuses). A call is complete with a check-in
-- status. On the phone, an answering machine gets the voicemail message after its beep (it names
-- no patient data); once verified, a patient who asks for a nurse is transferred to the nurse
-- line, and back in the same step, with a call-back promised, when no one picks up.
local flow = require("sova.sandboxed.flow")
local kit = require("sova.sandboxed.kit").new { notes = "call_notes", follow_up = "needs_follow_up" }

local MAX_ATTEMPTS = 2
local NURSE_LINE = "+15165550142"

-- left on an answering machine, whoever may hear it: the clinic, never the patient's details
local CALL_US_BACK = "Hello, this is Demo Clinic Alpha calling. Please call us back at your convenience. "
  .. "Thank you, and have a good day."

local nurse = kit:nurse_line { number = NURSE_LINE }

-- before identity is verified: nothing about care may be said in these handlers
local unverified = {
  kit:voicemail {
    set = { checkin_status = "Not Reached" },
    say = CALL_US_BACK,
  },
}

-- the identity check: in its own step, and in the greeting too, for a person who answers with
-- their name and date of birth at once ("Maria Garcia, November 2nd 1972")
local verify_identity = {
  name = "verify_identity",
  description = "The person gives their full name and date of birth.",
  parameters = kit.identity_parameters { "full_name", "date_of_birth" },
  rules = { "my name is", "name is", "this is", "born", "birth", "i am", "it s", "*" },
  handler = function(args, call)
    if kit.name_matches(args.full_name, call.patient.patient_name)
       and kit.dob_matches(args.date_of_birth, call.patient.date_of_birth) then
      call.state.verified = true
      local provider = call:get("provider_name")
      if provider then
        call:say("Thank you, {{patient_name}}. I'm calling about your appointment with "
          .. "{{provider_name}} on {{appointment_time|datetime}}. Will you be able to make it?")
      else
        call:say("Thank you, {{patient_name}}. I'm calling about your appointment on "
          .. "{{appointment_time|datetime}}. Will you be able to make it?")
      end
      return "confirm_appointment"
    end
    return kit:mismatch(call, {
      attempts = MAX_ATTEMPTS,
      again = "I'm sorry, that doesn't match our records. Could you please repeat your full name and date of birth?",
      failed = "I'm sorry, I'm not able to verify your identity, so I can't continue this call. "
        .. "Please call the clinic at your convenience. Goodbye.",
    })
  end,
}

return flow.define {
  name = "patient_questions",
  description = "Pre-visit check-in: verify identity, confirm the appointment, medications, concerns.",
  reads = { "patient_name", "date_of_birth", "appointment_time", "provider_name" },
  writes = { "checkin_status", "medication_changes", "needs_follow_up", "call_notes" },
  requires = { "checkin_status" },
  role = "You are Sophie, a friendly care coordinator calling from Demo Clinic Alpha. Keep answers "
    .. "short and warm. Never mention the patient's appointment, provider or health until the person "
    .. "has confirmed the patient's full name and date of birth.",
  initial = "greeting",
  voicemail = { message = CALL_US_BACK, phi = false, set = { checkin_status = "Not Reached" } },
  transfer_failed = "I'm sorry, our nurses are all busy right now. I've asked a nurse to call you back today.",
  -- the behaviours' lines say nothing about care: they may run before identity is verified
  behaviours = {
    wrong_number = {
      set = { checkin_status = "Wrong Number" },
      say = "I'm sorry for the trouble. I'll update our records. Have a good day.",
      rules = { "do not know anyone" },
    },
    -- nothing is recorded: the check-in did not happen, so the call ends incomplete for a retry
    call_back_later = {
      say = "Of course. We'll call back another time. Thank you, goodbye.",
      rules = { "is out right now", "not available", "not home", "not here right now" },
    },
    who_is_calling = { say = "This is Sophie, a care coordinator calling from Demo Clinic Alpha." },
    goodbye = { say = "Thank you. Goodbye!" },
  },
  nodes = {
    greeting = {
      say = { "Hello, this is Sophie calling from Demo Clinic Alpha. May I please speak with {{patient_name}}?" },
      task = "Find out whether you are speaking with {{patient_name}}.",
      expect = { "{{patient_name}}" }, -- "This is Maria Garcia": the recognizer is told the name
      functions = kit.with({
        kit:is_patient {
          next = "verify",
          rules = { "you got her", "you got him" },
        },
        verify_identity,
      }, unverified),
    },

    verify = {
      -- an entry line, not the is_patient answer: skipped when the same line already gave both
      say = { "Thank you. For your privacy, could you please tell me your full name and date of birth?" },
      task = "Ask for the patient's full name and date of birth and check them. Say nothing about "
        .. "the patient's care before they match.",
      reprompt = "For your privacy, could you please tell me your full name and date of birth?",
      expect = { "{{patient_name}}" },
      functions = kit.with({
        verify_identity,
      }, unverified),
    },

    confirm_appointment = {
      task = "Ask whether the patient can make the appointment; note a reschedule or cancellation.",
      reprompt = "Sorry, will you be able to make your appointment on {{appointment_time|datetime}}?",
      functions = kit:appointment {
        confirmed = { set = { checkin_status = "Confirmed" }, say = "Great, we'll see you then.", next = "medications",
                      rules = { "still coming" } },
        reschedule = { set = { checkin_status = "Reschedule Requested" },
                       say = "No problem. I'll ask our scheduling team to call you to find a new time.", next = "medications" },
        cancel = { set = { checkin_status = "Cancelled" }, say = "Understood, I've noted that you'd like to cancel.",
                   next = "concerns", rules = { "do not need the appointment" } },
      },
    },

    medications = {
      say = { "Have there been any changes to your medications since your last visit?" },
      task = "Ask about medication changes since the last visit and note them.",
      on_transfer_failed = "medications",
      functions = kit.with(kit:medications {
        field = "medication_changes",
        none = { value = "No changes reported", next = "concerns", rules = { "no change", "same", "has not changed" } },
        changed = { ask = "What has changed?", bare = { "yes there have" },
                    say = "Thank you, I've noted that for the care team.", next = "concerns", rules = { "switched" } },
      }, { nurse }),
    },

    concerns = {
      say = { "Do you have any questions or concerns you'd like the care team to follow up on?" },
      task = "Ask for questions or concerns for the care team and note them.",
      on_transfer_failed = "concerns",
      functions = {
        nurse,
        {
          name = "no_concerns",
          description = "The patient has no questions or concerns.",
          rules = { "no", "nope", "none", "nothing", "that s all", "that is all", "i am good", "all good",
                    "no questions", "no concerns", "i am fine", "not really", "i am all set" },
          next = "wrap_up",
        },
        {
          name = "has_concerns",
          description = "The patient has a question or concern for the care team.",
          parameters = {
            type = "object",
            properties = { concern = { type = "string", description = "The question or concern, in the patient's words." } },
            required = { "concern" },
          },
          rules = { "yes", "question", "concern", "worried", "pain", "problem", "wondering", "*" },
          handler = function(args, call)
            call:set("needs_follow_up", true)
            kit:note(call, "Concern: " .. args.concern)
            call:say("Thank you. I've noted that, and someone from the care team will follow up with you.")
            return "wrap_up"
          end,
        },
      },
    },

    wrap_up = kit.goodbye("Thank you, {{patient_name}}. That's everything I needed. Have a great day!",
      "check-in completed"),
  },
}

-- Demo Clinic Beta: patient check-in call.
--
-- Beta's check-in differs from Alpha's: identity is verified in two steps (date of birth, then
-- the full name), the patient's preferred language is confirmed or updated, pain is rated on a
-- 0-10 scale (7 or more asks for a nurse call-back), medications are checked, and the
-- appointment is confirmed only when the patient has one. Nothing about the patient's care is
-- said before identity is verified; wrong person, call-back-later and voicemail end the call.
local flow = require("sova.flow")
local checks = require("checks")

local MAX_ATTEMPTS = 2
local NURSE_CALLBACK_PAIN = 7

local function add_note(call, text)
  local notes = call.state.notes or {}
  notes[#notes + 1] = text
  call.state.notes = notes
  call:set("call_notes", table.concat(notes, " "))
end

local function verification_failed(call)
  add_note(call, "Identity could not be verified.")
  call:set("needs_follow_up", true)
  call:say("I'm sorry, I couldn't verify your identity, so I'm not able to continue. "
    .. "Please give Demo Clinic Beta a call when it's convenient. Goodbye.")
  call:end_call("completed", "identity not verified")
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
  {
    name = "wrong_person",
    description = "The person says this is the wrong number or that the patient is not known there.",
    rules = { "wrong number", "no one by that name", "nobody by that name", "no one named",
              "nobody named", "does not live here", "you have the wrong", "there is no", "there s no",
              "do not know", "never heard of" },
    handler = function(args, call)
      call:set("checkin_status", "Wrong Number")
      call:say("Oh, I'm sorry to bother you. Have a nice day.")
      call:end_call("completed", "wrong number")
    end,
  },
  {
    name = "voicemail",
    description = "An answering machine or voicemail greeting picked up.",
    rules = { "leave a message", "leave your message", "after the beep", "after the tone", "voicemail",
              "voice mail", "mailbox", "record your message", "not available to take your call",
              "can not take your call", "can not come to the phone" },
    handler = function(args, call)
      call:set("checkin_status", "Not Reached")
      call:say("Hi, this is Leo from Demo Clinic Beta. Please give us a call back when you have a moment. Thanks!")
      call:end_call("voicemail", "left a callback message")
    end,
  },
}

local function with_unverified(list)
  for _, fn in ipairs(unverified) do list[#list + 1] = fn end
  return list
end

local function medication_functions()
  return {
    {
      name = "no_medication_changes",
      description = "The patient is not taking anything new and no dose has changed.",
      rules = { "no", "nope", "none", "no changes", "nothing", "nothing new", "same as before",
                "have not changed", "not changed", "have not", "all the same" },
      handler = function(args, call)
        call:set("medication_changes", "No changes reported")
        return after_medications(call)
      end,
    },
    {
      name = "medication_changes",
      description = "The patient reports a new medication or a changed dose.",
      parameters = {
        type = "object",
        properties = { changes = { type = "string", description = "The changes, in the patient's words." } },
        required = { "changes" },
      },
      rules = { "yes", "started", "stopped", "new", "changed", "increased", "decreased", "dose",
                "prescribed", "taking", "*" },
      handler = function(args, call)
        local bare = args.changes:lower():gsub("[^%a ]", "")
        if bare == "yes" or bare == "yeah" or bare == "yep" then
          call:say("Okay, which medication, and what changed?")
          return false
        end
        call:set("medication_changes", args.changes)
        call:set("needs_follow_up", true)
        add_note(call, "Medication change reported.")
        call:say("Got it, I'll pass that on to your care team.")
        return after_medications(call)
      end,
    },
  }
end

return flow.define {
  name = "patient_questions",
  description = "Check-in: verify identity (DOB, then name), language, pain 0-10, medications, appointment.",
  reads = { "patient_name", "date_of_birth", "appointment_time", "preferred_language" },
  writes = { "checkin_status", "preferred_language", "pain_level", "medication_changes",
             "needs_follow_up", "call_notes" },
  role = "You are Leo, the care assistant of Demo Clinic Beta, checking in on a patient. Speak "
    .. "simply and kindly, one question at a time. Never mention the patient's appointment or "
    .. "health until their date of birth and full name have been verified.",
  initial = "greeting",
  functions = {
    {
      name = "call_back_later",
      description = "The person cannot talk now, the patient is not available, or they ask us to call back later.",
      rules = { "call back later", "call me back", "call me later", "call back", "bad time",
                "not a good time", "busy right now", "i am busy", "i am driving", "i am at work",
                "try me later", "not available", "not home", "not here right now" },
      handler = function(args, call)
        add_note(call, "Asked to be called back later.")
        call:say("No problem at all. We'll try you again another time. Bye for now!")
        call:end_call("completed", "asked to call back later")
      end,
    },
  },
  nodes = {
    greeting = {
      say = { "Hi! This is Leo, the care assistant at Demo Clinic Beta. Am I speaking with {{patient_name}}?" },
      task = "Find out whether you are speaking with {{patient_name}}.",
      functions = with_unverified {
        {
          name = "is_patient",
          description = "The person says they are the patient.",
          rules = { "speaking", "this is she", "this is he", "this is me", "it s me", "that s me",
                    "that is me", "yes", "yeah", "yep", "this is", "i am" },
          handler = function(args, call)
            call:say("Thanks! To protect your privacy, could you tell me your date of birth?")
            return "verify_dob"
          end,
        },
      },
    },

    verify_dob = {
      task = "Ask for the patient's date of birth. Say nothing about their care yet.",
      reprompt = "Sorry, could you tell me your date of birth, with the month, day and year?",
      functions = with_unverified {
        {
          name = "verify_dob",
          description = "The person gives their date of birth.",
          parameters = {
            type = "object",
            properties = {
              date_of_birth = { type = "string", format = "date", description = "The date of birth, YYYY-MM-DD." },
            },
            required = { "date_of_birth" },
          },
          rules = { "born", "birth", "*" },
          handler = function(args, call)
            if checks.dob_matches(args.date_of_birth, call.patient.date_of_birth) then
              call.state.dob_ok = true
              call:say("Thank you. And could you please confirm your first and last name?")
              return "verify_name"
            end
            call.state.attempts = (call.state.attempts or 0) + 1
            if call.state.attempts < MAX_ATTEMPTS then
              call:say("I'm sorry, that doesn't match what we have. Could you tell me your date of birth once more?")
              return false
            end
            verification_failed(call)
          end,
        },
      },
    },

    verify_name = {
      task = "Ask the patient to confirm their first and last name.",
      reprompt = "Sorry, could you tell me your first and last name?",
      functions = with_unverified {
        {
          name = "verify_name",
          description = "The person gives their first and last name.",
          parameters = {
            type = "object",
            properties = { full_name = { type = "string", description = "The full name as said." } },
            required = { "full_name" },
          },
          rules = { "*" },
          handler = function(args, call)
            if not (call.state.dob_ok and checks.name_matches(args.full_name, call.patient.patient_name)) then
              call.state.attempts = (call.state.attempts or 0) + 1
              if call.state.attempts < MAX_ATTEMPTS then
                call:say("I'm sorry, that doesn't match what we have. Could you say your first and last name again?")
                return false
              end
              return verification_failed(call)
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
      },
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
          rules = { "yes", "yeah", "yep", "correct", "that s right", "that is right", "right", "still right", "sure" },
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
      functions = {
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
              add_note(call, "Pain " .. args.level .. "/10 reported; nurse call-back requested.")
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
      functions = medication_functions(),
    },

    appointment = {
      task = "Ask whether the patient can still make the appointment; note a reschedule or cancellation.",
      reprompt = "Will you be able to make your appointment on {{appointment_time|datetime}}?",
      functions = {
        {
          name = "appointment_confirmed",
          description = "The patient will come to the appointment.",
          rules = { "yes", "yeah", "yep", "will be there", "see you then", "sure", "of course", "definitely",
                    "i can make it", "that works", "absolutely" },
          handler = function(args, call)
            call:set("checkin_status", "Confirmed")
            return "wrap_up"
          end,
        },
        {
          name = "reschedule_requested",
          description = "The patient cannot make it and wants another time.",
          rules = { "reschedule", "different time", "another time", "another day", "can not make it",
                    "not able to make it", "change the time", "move my appointment", "move the appointment" },
          handler = function(args, call)
            call:set("checkin_status", "Reschedule Requested")
            call:set("needs_follow_up", true)
            add_note(call, "Patient asked to reschedule.")
            call:say("No problem, someone from our front desk will call you to pick a new time.")
            return "wrap_up"
          end,
        },
        {
          name = "cancel_appointment",
          description = "The patient wants to cancel the appointment.",
          rules = { "cancel", "cancelled", "canceled", "will not be there", "not coming" },
          handler = function(args, call)
            call:set("checkin_status", "Cancelled")
            add_note(call, "Patient cancelled the appointment.")
            call:say("Okay, I've cancelled it for you.")
            return "wrap_up"
          end,
        },
      },
    },

    wrap_up = {
      say = { "Thanks so much, {{patient_name}}. Take care, and call us anytime if anything changes. Goodbye!" },
      post_actions = { { type = "end_call", status = "completed", reason = "check-in completed" } },
    },
  },
}

-- Demo Clinic Alpha: pre-visit check-in call to a patient.
--
-- Identity first: nothing about the patient's care (provider, appointment, medications) is said
-- until the person has given the patient's full name and date of birth. Then: confirm the
-- appointment (or note a reschedule / cancellation), ask about medication changes and about any
-- concerns for the care team, and record the answers in the outcome fields. Wrong person,
-- "call me back later" and voicemail end the call without a word about care.
local flow = require("sova.flow")
local schema = require("sova.schema")

local MAX_ATTEMPTS = 2

-- every word of the patient's name appears in what was said (case and punctuation ignored)
local function name_matches(said, expected)
  if type(said) ~= "string" or type(expected) ~= "string" then return false end
  local s = " " .. said:lower():gsub("[^%a]+", " ") .. " "
  local any = false
  for w in expected:lower():gmatch("%a+") do
    if #w > 1 then
      any = true
      if not s:find(" " .. w .. " ", 1, true) then return false end
    end
  end
  return any
end

local function dob_matches(said, expected)
  local d = schema.check_field_value({ type = "date", required = true }, said)
  return type(d) == "string" and d == expected
end

-- call notes accumulate over the call
local function add_note(call, text)
  local notes = call.state.notes or {}
  notes[#notes + 1] = text
  call.state.notes = notes
  call:set("call_notes", table.concat(notes, " "))
end

-- before identity is verified: nothing about care may be said in these handlers
local unverified = {
  {
    name = "wrong_person",
    description = "The person says we have the wrong number or that the patient is not known there.",
    rules = { "wrong number", "no one by that name", "nobody by that name", "no one named", "nobody named",
              "does not live here", "you have the wrong", "there is no", "there s no", "do not know anyone",
              "never heard of", "not the right number" },
    handler = function(args, call)
      call:set("checkin_status", "Wrong Number")
      call:say("I'm sorry for the trouble. I'll update our records. Have a good day.")
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
      call:say("Hello, this is Demo Clinic Alpha calling. Please call us back at your convenience. "
        .. "Thank you, and have a good day.")
      call:end_call("voicemail", "left a callback message")
    end,
  },
}

local function with_unverified(list)
  for _, fn in ipairs(unverified) do list[#list + 1] = fn end
  return list
end

return flow.define {
  name = "patient_questions",
  description = "Pre-visit check-in: verify identity, confirm the appointment, medications, concerns.",
  reads = { "patient_name", "date_of_birth", "appointment_time", "provider_name" },
  writes = { "checkin_status", "medication_changes", "needs_follow_up", "call_notes" },
  role = "You are Sophie, a friendly care coordinator calling from Demo Clinic Alpha. Keep answers "
    .. "short and warm. Never mention the patient's appointment, provider or health until the person "
    .. "has confirmed the patient's full name and date of birth.",
  initial = "greeting",
  functions = {
    {
      name = "call_back_later",
      description = "The person cannot talk now, the patient is not available, or they ask to be called back later.",
      rules = { "call back later", "call me back", "call me later", "call back", "bad time",
                "not a good time", "busy right now", "i am busy", "i am driving", "i am at work",
                "try me later", "not available", "not home", "not here right now", "is out right now" },
      handler = function(args, call)
        add_note(call, "Asked to be called back later.")
        call:say("Of course. We'll call back another time. Thank you, goodbye.")
        call:end_call("completed", "asked to call back later")
      end,
    },
  },
  nodes = {
    greeting = {
      say = { "Hello, this is Sophie calling from Demo Clinic Alpha. May I please speak with {{patient_name}}?" },
      task = "Find out whether you are speaking with {{patient_name}}.",
      functions = with_unverified {
        {
          name = "is_patient",
          description = "The person says they are the patient (for example \"speaking\", \"this is she\").",
          rules = { "speaking", "this is she", "this is he", "this is me", "it s me", "that s me", "that is me",
                    "yes", "yeah", "yep", "you got her", "you got him", "this is", "i am" },
          handler = function(args, call)
            call:say("Thank you. For your privacy, could you please tell me your full name and date of birth?")
            return "verify"
          end,
        },
      },
    },

    verify = {
      task = "Ask for the patient's full name and date of birth and check them. Say nothing about "
        .. "the patient's care before they match.",
      reprompt = "For your privacy, could you please tell me your full name and date of birth?",
      functions = with_unverified {
        {
          name = "verify_identity",
          description = "The person gives their full name and date of birth.",
          parameters = {
            type = "object",
            properties = {
              full_name = { type = "string", description = "The full name as said." },
              date_of_birth = { type = "string", format = "date", description = "The date of birth, YYYY-MM-DD." },
            },
            required = { "full_name", "date_of_birth" },
          },
          rules = { "my name is", "name is", "this is", "born", "birth", "i am", "it s", "*" },
          handler = function(args, call)
            if name_matches(args.full_name, call.patient.patient_name)
               and dob_matches(args.date_of_birth, call.patient.date_of_birth) then
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
            call.state.attempts = (call.state.attempts or 0) + 1
            if call.state.attempts < MAX_ATTEMPTS then
              call:say("I'm sorry, that doesn't match our records. Could you please repeat your full name and date of birth?")
              return false
            end
            add_note(call, "Identity could not be verified.")
            call:set("needs_follow_up", true)
            call:say("I'm sorry, I'm not able to verify your identity, so I can't continue this call. "
              .. "Please call the clinic at your convenience. Goodbye.")
            call:end_call("completed", "identity not verified")
          end,
        },
      },
    },

    confirm_appointment = {
      task = "Ask whether the patient can make the appointment; note a reschedule or cancellation.",
      reprompt = "Sorry, will you be able to make your appointment on {{appointment_time|datetime}}?",
      functions = {
        {
          name = "appointment_confirmed",
          description = "The patient confirms they will come to the appointment.",
          rules = { "yes", "yeah", "yep", "will be there", "see you then", "sure", "of course",
                    "definitely", "still coming", "i can make it", "that works", "absolutely" },
          handler = function(args, call)
            call:set("checkin_status", "Confirmed")
            call:say("Great, we'll see you then.")
            return "medications"
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
            call:say("No problem. I'll ask our scheduling team to call you to find a new time.")
            return "medications"
          end,
        },
        {
          name = "cancel_appointment",
          description = "The patient wants to cancel the appointment.",
          rules = { "cancel", "cancelled", "canceled", "will not be there", "not coming",
                    "do not need the appointment" },
          handler = function(args, call)
            call:set("checkin_status", "Cancelled")
            add_note(call, "Patient cancelled the appointment.")
            call:say("Understood, I've noted that you'd like to cancel.")
            return "concerns"
          end,
        },
      },
    },

    medications = {
      say = { "Have there been any changes to your medications since your last visit?" },
      task = "Ask about medication changes since the last visit and note them.",
      functions = {
        {
          name = "no_medication_changes",
          description = "The patient says their medications have not changed.",
          rules = { "no", "nope", "none", "no changes", "no change", "nothing", "nothing new", "same",
                    "have not changed", "has not changed", "not changed", "have not", "all the same" },
          handler = function(args, call)
            call:set("medication_changes", "No changes reported")
            return "concerns"
          end,
        },
        {
          name = "medication_changes",
          description = "The patient reports a change in medications (new, stopped, dose changed).",
          parameters = {
            type = "object",
            properties = { changes = { type = "string", description = "The changes, in the patient's words." } },
            required = { "changes" },
          },
          rules = { "yes", "started", "stopped", "new", "changed", "increased", "decreased", "switched",
                    "dose", "prescribed", "taking", "*" },
          handler = function(args, call)
            local bare = args.changes:lower():gsub("[^%a ]", "")
            if bare == "yes" or bare == "yeah" or bare == "yep" or bare == "yes there have" then
              call:say("What has changed?")
              return false
            end
            call:set("medication_changes", args.changes)
            call:set("needs_follow_up", true)
            call:say("Thank you, I've noted that for the care team.")
            return "concerns"
          end,
        },
      },
    },

    concerns = {
      say = { "Do you have any questions or concerns you'd like the care team to follow up on?" },
      task = "Ask for questions or concerns for the care team and note them.",
      functions = {
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
            add_note(call, "Concern: " .. args.concern)
            call:say("Thank you. I've noted that, and someone from the care team will follow up with you.")
            return "wrap_up"
          end,
        },
      },
    },

    wrap_up = {
      say = { "Thank you, {{patient_name}}. That's everything I needed. Have a great day!" },
      post_actions = { { type = "end_call", status = "completed", reason = "check-in completed" } },
    },
  },
}

-- Demo Clinic Alpha: prior authorization check with the patient's insurer.
--
-- The agent calls the insurer's provider line, gives the patient's and the procedure's details
-- when the representative asks for them, learns whether authorization is required and its status
-- (approved, denied, pending), captures a reference number and reads it back. A representative
-- who cannot help is asked for a supervisor, or the call is transferred to our supervisor line
-- when the patient record has one; a conversation stuck in a node also asks for a supervisor.
-- Hold, call back later, goodbye, wrong department, "who is this" and "repeat that" are the
-- global behaviours (sova.sandboxed.behaviours), with this flow's lines. A status of Approved,
-- Denied or Pending needs its reference number for the call to be complete.
--
-- On the phone, the insurer's line first meets an automated menu: heard in any node, it is
-- navigated by rules (sova.sandboxed.ivr) with Alpha's hints per insurer (insurer_menus.yaml)
-- first: providers, then prior authorization, the member ID keyed in when asked, silence
-- between prompts; its hold waits without a word until a person answers, who then hears the
-- introduction. A supervisor line that does not answer a transfer comes back to asking for one.
-- A phone call listens first (listen_first): the agent says nothing until it knows who picked
-- up — a menu is navigated without a greeting over its prompt, a person ("Prior authorization,
-- this is Dana") hears the introduction as the answer; after 3 s of silence it introduces itself.
local flow = require("sova.sandboxed.flow")
local kit = require("sova.sandboxed.kit")
local ivr = require("sova.sandboxed.ivr")

-- the insurer's automated menu and its hold; a person answering is greeted from the start
local menu = ivr.menu {
  node = "phone_menu", hold = "menu_hold", person = "greeting",
  insurer = "insurance_company_name",
  entries = { member_id = "insurance_member_id", date_of_birth = "date_of_birth", npi = "provider_npi",
              cpt_code = "cpt_code" },
  fallback = "menu_operator",
}

local STATUS_WORDS = {
  Approved = { "approved", "authorized", "good to go", "has an approval", "is on file and approved" },
  Denied = { "denied", "not approved", "rejected", "declined", "not authorized" },
  Pending = { "pending", "under review", "in review", "still processing", "no decision yet" },
}

-- what the agent says for each detail the representative asks for
local DETAILS = {
  patient_name = "The patient's name is {{patient_name}}.",
  member_id = "The member ID is {{insurance_member_id|spell}}.",
  date_of_birth = "The date of birth is {{date_of_birth|date}}.",
  cpt_code = "The CPT code is {{cpt_code|spell}}.",
  provider = "The rendering provider is {{provider_name}}, NPI {{provider_npi|spell}}.",
  facility = "The procedure will be done at {{facility_name}}.",
  appointment_time = "The procedure is scheduled for {{appointment_time|datetime}}.",
}

-- functions offered in every node
local globals = {
  {
    name = "provide_details",
    description = "The representative asks for patient, procedure or provider details "
      .. "(member ID, date of birth, name, CPT code, provider and NPI, facility, appointment time).",
    parameters = {
      type = "object",
      properties = {
        details = {
          type = "array",
          description = "The details asked for, in the order asked.",
          items = { type = "string", enum = { "patient_name", "member_id", "date_of_birth", "cpt_code",
                                              "provider", "facility", "appointment_time" } },
        },
      },
      required = { "details" },
    },
    rules = {
      when = "asked",
      values = { details = {
        patient_name = { "patient s name", "patient name", "name of the patient", "spell the name",
                         "first and last name", "full name" },
        member_id = { "member id", "member number", "id number", "subscriber id", "policy number",
                      "insurance id", "member", "subscriber", "the id" },
        date_of_birth = { "date of birth", "dob", "birthday", "birth date", "born" },
        cpt_code = { "cpt", "procedure code", "cpt code", "billing code", "what procedure" },
        provider = { "npi", "provider", "doctor", "physician", "ordering", "rendering" },
        facility = { "facility", "location", "place of service", "where is", "where will" },
        appointment_time = { "appointment", "date of service", "scheduled", "what time", "when is" },
      } },
    },
    handler = function(args, call)
      for _, d in ipairs(args.details) do call:say(DETAILS[d]) end
      return nil, "details given"
    end,
  },
  {
    name = "rep_cannot_help",
    description = "The representative cannot help with this request or cannot give the information.",
    rules = { "can not help", "unable to help", "not able to help", "can not give", "can not provide",
              "unable to provide", "not able to provide", "do not have access", "can not access",
              "can not see", "need to speak", "speak to someone else", "speak with someone else",
              "not my department", "can not do that" },
    handler = function(args, call)
      local supervisor = call:get("supervisor_phone")
      if supervisor then
        call:note("Representative could not help; transferred to the supervisor line.")
        call:say("I understand. I'll transfer you to our supervisor, who can help with this request. Thank you.")
        call:transfer(supervisor)
        return
      end
      call:say("I understand. Could I please speak with a supervisor?")
      return "await_supervisor"
    end,
  },
  menu.detect,
}

-- what the representative says about the authorization: in the verify step, and from whoever
-- answers after the agent asked for a supervisor (a rep who just carries on)
local STATUS_FUNCTIONS = {
  {
    name = "report_status",
    description = "The representative says the authorization's status: approved, denied or pending.",
    parameters = {
      type = "object",
      properties = {
        status = { type = "string", enum = { "Approved", "Denied", "Pending" },
                   description = "The authorization's status." },
      },
      required = { "status" },
    },
    rules = { values = { status = STATUS_WORDS } },
    handler = function(args, call)
      call:set("prior_auth_status", args.status)
      call:note("Authorization status: " .. args.status .. ".")
      if args.status == "Denied" then
        call:say("I see. Could you tell me the reason for the denial?")
        return "denial_reason"
      elseif args.status == "Approved" then
        call:say("Wonderful, thank you.")
      else
        call:say("Okay, thank you for checking.")
      end
      return "reference"
    end,
  },
  {
    name = "authorization_required",
    description = "The representative says whether this procedure requires prior authorization.",
    parameters = {
      type = "object",
      properties = {
        required = { type = "boolean", default = true,
                     description = "true if authorization is required, false if it is not." },
      },
      required = { "required" },
    },
    rules = { "requires", "required", "require", "needs authorization", "need authorization",
              "needs a prior auth", "does not require", "is not required", "not required",
              "no authorization needed", "no auth needed", "does not need" },
    handler = function(args, call)
      if args.required == false then
        call.state.not_required = true
        call:note("Prior authorization is not required for this procedure.")
        call:say("Great, thank you for confirming that no authorization is needed.")
        return "reference"
      end
      call:say("Understood. Is there an authorization on file for this patient, and what is its status?")
      if call.node ~= "verify" then return "verify" end
      return false
    end,
  },
}

return flow.define {
  name = "prior_auth",
  description = "Verify prior authorization for a scheduled procedure with the patient's insurer.",
  reads = { "patient_name", "date_of_birth", "insurance_member_id", "insurance_company_name",
            "facility_name", "provider_name", "provider_npi", "cpt_code", "appointment_time",
            "supervisor_phone" },
  writes = { "prior_auth_status", "reference_number" },
  -- every call that learned its answer ends with the insurer's reference number for it ("not
  -- required" too: the clinic documents who said so); without one the clinic must follow up
  requires = { "reference_number" },
  data = { "insurer_menus" },
  transfer_failed = "I'm sorry, our supervisor line didn't pick up.",
  role = "You are Alexandra, calling {{insurance_company_name}} from {{facility_name}} on behalf of "
    .. "{{provider_name}} to verify a prior authorization. Be brief, polite and precise. Only give "
    .. "the patient's details when the representative asks for them. Never guess a value.",
  initial = "greeting",
  listen_first = { node = "answer", seconds = 3 },
  fallback = "ask_supervisor",
  functions = globals,
  -- the insurer's own words, and what its representative reads back: hints for the recognizer
  vocabulary = { "{{insurance_company_name}}", "prior authorization", "reference number", "member id",
                 "date of birth", "cpt code", "provider services", "medically necessary", "clinical review",
                 "{{patient_name}}" },
  behaviours = {
    hold = { returned = { say = "Yes, I'm here. Thank you." } },
    call_back_later = {
      say = "No problem, we'll call back later. Thank you for your time. Goodbye.",
      note = "Insurer asked us to call back later.",
      end_call = { "completed", "insurer asked to call back later" },
      rules = { "systems are down", "system is down", "we are closed", "after hours", "no supervisor available",
                "no one available", "nobody available" },
    },
    goodbye = {
      say = "That's everything I needed. Thank you for your help today. Goodbye!",
      rules = { "is there anything else", "anything else i can help", "anything else i can do" },
    },
    wrong_number = {
      say = "I'm sorry, I must have reached the wrong department. Thank you for your time. Goodbye.",
    },
    who_is_calling = {
      say = "This is Alexandra, calling from {{facility_name}} on behalf of {{provider_name}}.",
    },
  },
  nodes = {
    -- the line just answered, on a phone call: who picked up (menu, hold or person), silently
    answer = menu.answer_node,
    -- the insurer's phone system: menus, then its hold (nothing is said to either)
    phone_menu = menu.node,
    menu_hold = menu.hold_node,
    -- a menu that went quiet: the operator's key, then listen again
    menu_operator = { pre_actions = { { type = "dtmf", digits = "0" } }, next = "phone_menu" },

    greeting = {
      say = {
        "Hi, this is Alexandra calling from {{facility_name}} on behalf of {{provider_name}}. "
          .. "I'm calling to verify prior authorization for procedure code {{cpt_code|spell}} "
          .. "for our patient {{patient_name}}.",
      },
      next = "verify",
    },

    verify = {
      task = "Find out whether prior authorization is required for CPT {{cpt_code}}, and if so "
        .. "whether it is approved, denied or pending. Give details only when asked.",
      reprompt = "Is prior authorization required for procedure code {{cpt_code|spell}}, and if so, what is its status?",
      functions = STATUS_FUNCTIONS,
    },

    denial_reason = {
      task = "Ask for the reason of the denial and note it.",
      reprompt = "Sorry, could you repeat the reason for the denial?",
      functions = {
        {
          name = "record_denial_reason",
          description = "The representative gives the reason for the denial.",
          parameters = {
            type = "object",
            properties = { reason = { type = "string", description = "The reason, in the representative's words." } },
            required = { "reason" },
          },
          rules = { "*" },
          handler = function(args, call)
            call:note("Denial reason: " .. args.reason)
            call:say("Thank you, I've noted that.")
            return "reference"
          end,
        },
      },
    },

    reference = {
      say = { "Could I please have a reference number for this call?" },
      task = "Get the reference number for this call or authorization.",
      reprompt = "Sorry, I didn't get the reference number. Could you repeat it, please?",
      functions = {
        {
          name = "record_reference",
          description = "The representative gives the reference number.",
          parameters = {
            type = "object",
            properties = {
              reference_number = { type = "string", format = "code",
                                   description = "The reference number, letters and digits only." },
            },
            required = { "reference_number" },
          },
          rules = { "reference", "number is", "*" },
          handler = function(args, call)
            kit.read_back(call, "reference_number", args.reference_number,
              "Thank you. Let me read that back: {{reference_number|spell}}. Is that correct?")
            return "confirm_reference"
          end,
        },
      },
    },

    confirm_reference = {
      task = "The reference number was read back. Confirm it, or take the corrected number.",
      reprompt = "Could you repeat the reference number for me, please?",
      functions = {
        {
          name = "reference_confirmed",
          description = "The representative confirms the reference number read back is correct.",
          rules = kit.phrases(kit.CONFIRM, { "that is correct", "that s correct", "you got it", "perfect" }),
          next = "wrap_up",
        },
        {
          name = "reference_corrected",
          description = "The representative says the number read back is wrong and gives the right one.",
          parameters = {
            type = "object",
            properties = {
              reference_number = { type = "string", format = "code",
                                   description = "The corrected reference number." },
            },
            required = { "reference_number" },
          },
          rules = { "no", "not quite", "incorrect", "actually", "wrong", "let me repeat", "*" },
          handler = function(args, call)
            kit.read_back(call, "reference_number", args.reference_number,
              "Sorry about that. So it's {{reference_number|spell}}. Is that correct?")
            return false
          end,
        },
      },
    },

    wrap_up = kit.goodbye("Thank you so much for your help today. Have a great day!", "prior authorization verified"),

    -- the fallback of a node where the conversation is stuck
    ask_supervisor = {
      say = { "I'm sorry, I'm having trouble getting this information. Could I please speak with a supervisor?" },
      next = "await_supervisor",
    },

    await_supervisor = {
      task = "You asked for a supervisor. Wait until the supervisor is on the line, then restate the request.",
      reprompt = "",
      functions = kit.with({
        {
          name = "supervisor_on_line",
          description = "A supervisor has joined the call.",
          rules = { "supervisor", "manager", "this is", "speaking", "how can i help", "how may i help" },
          handler = function(args, call)
            call:say("Hi, thank you for taking my call. I'm calling to verify prior authorization "
              .. "for procedure code {{cpt_code|spell}} for our patient {{patient_name}}, "
              .. "member ID {{insurance_member_id|spell}}.")
            return "verify"
          end,
        },
      }, STATUS_FUNCTIONS),
    },
  },
}

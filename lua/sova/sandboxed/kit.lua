-- sova.sandboxed.kit: the tenant kit, blocks of flows that clinics share instead of copying
-- them from each other: identity checks, confirmations and read-backs, goodbye nodes, and the
-- functions patient calls offer (voicemail, the appointment, medications). Runs inside the
-- call's sandbox like the rest of sova.sandboxed. What every call needs in every node (the
-- other party's goodbye, wrong number, call back later, hold, "who is this", "repeat that") is
-- not here: flows get those as global behaviours (sova.sandboxed.behaviours).
--
--   local kit = require("sova.sandboxed.kit").new { notes = "call_notes", follow_up = "needs_follow_up" }
--
-- The kit names no patient field of its own (the schema owns them): a flow gives its field names
-- to new() and to the blocks. new(config):
--   config.notes      a text field where notes accumulate over the call, one sentence each
--                     (without it, notes are the call's notes: call:note)
--   config.follow_up  a boolean field set to true when the clinic must follow up (needed by the
--                     blocks that flag one: mismatch, appointment, medications)
--
-- Blocks are methods of the flow's kit (kit:voicemail { ... }); helpers that need no fields
-- are plain functions (kit.name_matches(said, expected)). Blocks that make a function take the flow's part as options: say (a line, templated), set
-- ({ field = value }), note (text), follow_up (true), next (a node, false to stay, or
-- function(call, args) -> either), rules (phrases added to the kit's own).

local type, ipairs, pairs, setmetatable = type, ipairs, pairs, setmetatable
local lower, gsub, gmatch, find, upper = string.lower, string.gsub, string.gmatch, string.find, string.upper
local concat = table.concat

local schema = require("sova.sandboxed.schema")

local M = {}
M.__index = M
M.__metatable = false -- a flow's kit does not hand out the module behind its read-only view

---------------------------------------------------------------------------------------------
-- phrases

-- phrases(base, extra) -> a new list: base, then extra
function M.phrases(base, extra)
  local out = {}
  for _, p in ipairs(base) do out[#out + 1] = p end
  for _, p in ipairs(extra or {}) do out[#out + 1] = p end
  return out
end

local YES = { "yes", "yeah", "yep" }
-- agreeing that what was read back or asked is right
M.CONFIRM = M.phrases(YES, { "correct", "that s right", "right" })

-- with(list, more) -> list, with the functions of more appended (a node's own, then shared ones)
function M.with(list, more)
  for _, fn in ipairs(more) do list[#list + 1] = fn end
  return list
end

---------------------------------------------------------------------------------------------
-- identity

-- every word of the patient's name appears in what was said (case and punctuation ignored)
function M.name_matches(said, expected)
  if type(said) ~= "string" or type(expected) ~= "string" then return false end
  local s = " " .. gsub(lower(said), "[^%a]+", " ") .. " "
  local any = false
  for w in gmatch(lower(expected), "%a+") do
    if #w > 1 then
      any = true
      if not find(s, " " .. w .. " ", 1, true) then return false end
    end
  end
  return any
end

-- the date said (YYYY-MM-DD or MM/DD/YYYY) is the patient's date of birth
function M.dob_matches(said, expected)
  local d = schema.check_field_value({ type = "date", required = true }, said)
  return type(d) == "string" and d == expected
end

-- what a person gives to prove who they are, as function parameters
local IDENTITY_PARAMETERS = {
  full_name = { type = "string", description = "The full name as said." },
  date_of_birth = { type = "string", format = "date", description = "The date of birth, YYYY-MM-DD." },
}

-- identity_parameters(names) -> parameters asking for those facts (full_name, date_of_birth)
function M.identity_parameters(names)
  local properties, required = {}, {}
  for _, n in ipairs(names) do
    properties[n] = IDENTITY_PARAMETERS[n]
    required[#required + 1] = n
  end
  return { type = "object", properties = properties, required = required }
end

---------------------------------------------------------------------------------------------
-- read-backs

-- code(text) -> a reference code as said, without spaces and dashes, in upper case
function M.code(text)
  return (upper(gsub(text, "[%s%-]", "")))
end

-- read_back(call, field, said, line): records the code said in field and says line, which reads
-- it back (e.g. "{{reference_number|spell}}. Is that correct?")
function M.read_back(call, field, said, line)
  call:set(field, M.code(said))
  call:say(line)
end

-- just_yes(text[, more]) -> true when the answer is a bare yes (or one of more): the detail the
-- question asked for is still to come
function M.just_yes(text, more)
  local bare = gsub(lower(text), "[^%a ]", "")
  for _, y in ipairs(M.phrases(YES, more)) do
    if bare == y then return true end
  end
  return false
end

---------------------------------------------------------------------------------------------
-- goodbye

-- goodbye(line, reason) -> a node that says line and ends the call as completed
function M.goodbye(line, reason)
  return { say = { line }, post_actions = { { type = "end_call", status = "completed", reason = reason } } }
end

---------------------------------------------------------------------------------------------
-- a flow's kit

-- new(config) -> the kit bound to the flow's fields (see the top of this file)
function M.new(config)
  config = config or {}
  return setmetatable({ notes_field = config.notes, follow_up_field = config.follow_up }, M)
end

-- kit:note(call, text): a note of the call (in the notes field when the flow has one)
function M:note(call, text)
  if not self.notes_field then return call:note(text) end
  local notes = call.state.kit_notes or {}
  notes[#notes + 1] = text
  call.state.kit_notes = notes
  call:set(self.notes_field, concat(notes, " "))
end

-- act(call, o, args) -> where to go: sets, follow-up, note, the line said, then o.end_call
-- ({ status, reason }) or o.next
function M:act(call, o, args)
  for field, value in pairs(o.set or {}) do call:set(field, value) end
  if o.follow_up then call:set(self.follow_up_field, true) end
  if o.note then self:note(call, o.note) end
  if o.say then call:say(o.say) end
  if o.end_call then return call:end_call(o.end_call[1], o.end_call[2]) end
  if type(o.next) == "function" then return o.next(call, args) end
  return o.next
end

-- a function whose handler acts as o (merged over the block's own outcome) says
function M:make_function(name, description, rules, o, outcome)
  local merged = {}
  for k, v in pairs(outcome or {}) do merged[k] = v end
  for k, v in pairs(o) do if k ~= "rules" then merged[k] = v end end
  return {
    name = name, description = description, rules = M.phrases(rules, o.rules),
    handler = function(args, call) return self:act(call, merged, args) end,
  }
end

-- the person who answered is the patient: o.say asks for proof, o.next the node that checks it
function M:is_patient(o)
  return self:make_function("is_patient", "The person says they are the patient (for example \"speaking\", \"this is she\").",
    M.phrases({ "speaking", "this is she", "this is he", "this is me", "it s me", "that s me", "that is me" },
      M.phrases(YES, { "this is", "i am" })), o)
end

-- mismatch(call, o) -> false (stay) | nil (call ended): one more failed identity attempt.
-- While attempts are left (o.attempts in the whole check, default 2) says o.again; then ends the
-- call with o.failed said, a note and the follow-up flag. Nothing about care is said either way.
function M:mismatch(call, o)
  local attempts = (call.state.identity_attempts or 0) + 1
  call.state.identity_attempts = attempts
  if attempts < (o.attempts or 2) then
    call:say(o.again)
    return false
  end
  return self:act(call, { follow_up = true, note = "Identity could not be verified.", say = o.failed,
                          end_call = { "completed", "identity not verified" } })
end

-- an answering machine picked up: for any moment before identity is verified, it says
-- nothing about care
function M:voicemail(o)
  return self:make_function("voicemail", "An answering machine or voicemail greeting picked up.",
    { "leave a message", "leave your message", "after the beep", "after the tone", "at the tone", "voicemail",
      "the person you are calling", "the person you are trying to reach", "the party you are calling",
      "voice mail", "mailbox", "record your message", "not available to take your call",
      "can not take your call", "can not come to the phone" },
    o, { end_call = { "voicemail", "left a callback message" } })
end

-- nurse_line(o) -> a function: the patient asks to speak with a nurse now. Flags a follow-up,
-- notes it, says o.say and transfers the call to o.number (the clinic's nurse line). A transfer no
-- one answers comes back to the node it was made in (its on_transfer_failed, else its fallback):
-- the flow's transfer_failed line says what happens instead.
function M:nurse_line(o)
  if type(o) ~= "table" or type(o.number) ~= "string" then error("kit:nurse_line { number = \"+1...\" } expected", 2) end
  return {
    name = "speak_to_nurse",
    description = "The patient asks to speak with a nurse now.",
    rules = M.phrases({ "speak to a nurse", "speak with a nurse", "talk to a nurse", "talk with a nurse",
      "talk to the nurse", "speak to the nurse", "nurse please", "nurse line", "transfer me to a nurse",
      "connect me to a nurse", "connect me with a nurse", "put me through to a nurse", "a nurse", "the nurse",
      "speak to nurse", "speak with nurse", "talk to nurse", "talk with nurse" },
      o.rules),
    handler = function(args, call)
      call:set(self.follow_up_field, true)
      self:note(call, o.note or "Patient asked to speak with a nurse; transferred to the nurse line.")
      call:say(o.say or "Of course. I'll connect you with our nurse line now. Please stay on the line.")
      call:transfer(o.number)
    end,
  }
end

-- appointment(o) -> the functions confirming an appointment: o.confirmed, o.reschedule, o.cancel
-- (each the flow's part; a reschedule flags a follow-up; reschedule and cancel are noted)
function M:appointment(o)
  return {
    self:make_function("appointment_confirmed", "The patient confirms they will come to the appointment.",
      M.phrases(YES, { "will be there", "see you then", "sure", "of course", "definitely", "i can make it",
                       "that works", "absolutely" }), o.confirmed),
    self:make_function("reschedule_requested", "The patient cannot make it and wants another time.",
      { "reschedule", "different time", "another time", "another day", "can not make it", "not able to make it",
        "change the time", "move my appointment", "move the appointment" },
      o.reschedule, { follow_up = true, note = "Patient asked to reschedule." }),
    self:make_function("cancel_appointment", "The patient wants to cancel the appointment.",
      { "cancel", "cancelled", "canceled", "will not be there", "not coming" },
      o.cancel, { note = "Patient cancelled the appointment." }),
  }
end

-- medications(o) -> the functions asking about medication changes, recorded in the text field
-- o.field: o.none (nothing changed; o.none.value is recorded) and o.changed (the changes in the
-- patient's words, flagged for follow-up; o.changed.ask is said, staying, when the answer is a
-- bare yes, or one of o.changed.bare)
function M:medications(o)
  local changed = o.changed
  local record = {}
  for k, v in pairs(changed) do if k ~= "ask" and k ~= "bare" and k ~= "rules" then record[k] = v end end
  record.follow_up = true
  return {
    self:make_function("no_medication_changes", "The patient says they take nothing new and no dose has changed.",
      { "no", "nope", "none", "no changes", "nothing", "nothing new", "have not changed", "not changed",
        "have not", "all the same" },
      o.none, { set = { [o.field] = o.none.value } }),
    {
      name = "medication_changes",
      description = "The patient reports a change in medications (new, stopped, dose changed).",
      parameters = {
        type = "object",
        properties = { changes = { type = "string", description = "The changes, in the patient's words." } },
        required = { "changes" },
      },
      rules = M.phrases({ "yes", "started", "stopped", "new", "changed", "increased", "decreased", "dose",
                          "prescribed", "taking", "*" }, changed.rules),
      handler = function(args, call)
        if M.just_yes(args.changes, changed.bare) then
          call:say(changed.ask)
          return false
        end
        call:set(o.field, args.changes)
        return self:act(call, record, args)
      end,
    },
  }
end

return M

-- sova.sandboxed.vocabulary: the platform's words, spelled once — call statuses, the system
-- fields of a patient, and the events a call records. Pure data (flows may require it: the call
-- engine, the flow library and the schema validator do). Served at GET /api/meta; the web UI
-- gets it from frontend/src/schema/vocabulary.ts, generated from this file
-- (`build/sova script scripts/generate.lua`; spec/unit/generated_spec.lua checks it is current).
--
--   local vocabulary = require("sova.sandboxed.vocabulary")
--   vocabulary.call_status_label("no_answer")   --> "No Answer"
--   vocabulary.TERMINAL_STATUSES.completed      --> true
--   vocabulary.SYSTEM_FIELD_SET.call_status     --> true

local M = {}

-- Call statuses, in the order a call goes through them. `code` is the one spelling: the call
-- engine's call.status, sessions.status, a flow's end_call status, the live-call "status"
-- messages. `label` is how it reads, and what patients.call_status stores (the data model of the
-- seed: a patient is "Not Started" until its first call, "No Answer" after an unanswered one).
-- `terminal`: the call has ended.
M.CALL_STATUSES = {
  { code = "not_started", label = "Not Started" },
  { code = "queued", label = "Queued" },
  { code = "in_progress", label = "In Progress" },
  { code = "completed", label = "Completed", terminal = true },
  -- ended as a success would, but without an outcome the flow requires (sessions.missing says which)
  { code = "incomplete", label = "Incomplete", terminal = true },
  { code = "no_answer", label = "No Answer", terminal = true },
  -- a phone call the line refused: busy, or canceled before it was answered (Twilio's statuses).
  -- `line`: the phone line's own, which the platform sets from what the line said; a flow's
  -- end_call never uses them (a flow that hears a busy signal has a person or a machine to end with)
  { code = "busy", label = "Busy", terminal = true, line = true },
  { code = "canceled", label = "Canceled", terminal = true, line = true },
  { code = "voicemail", label = "Voicemail", terminal = true },
  { code = "failed", label = "Failed", terminal = true },
}

-- Keys the platform owns on a patient document: never settable through a patient schema.
M.SYSTEM_FIELDS = {
  "_id", "organization_id", "workflow", "call_status",
  "created_at", "updated_at", "last_call_at", "last_session_id",
  -- the bookkeeping of the list and of the dashboard's counts (never shown)
  "list_seq", "list_page", "counted", "counts_dirty",
}

-- What a call records in sessions.events (and sends as live-call "event" messages) besides its
-- transcript and status; `label` introduces the event's details where they are shown.
M.SESSION_EVENTS = {
  { type = "node", label = "Step" },             -- the flow moved to a node: {node}
  { type = "set", label = "Recorded" },          -- an outcome field was written: {field, value}
  { type = "note", label = "Note" },             -- {text}
  { type = "transfer", label = "Transfer" },     -- {to}
  { type = "dtmf", label = "Keypad tones" },     -- {digits}: the agent pressed them
  { type = "dtmf_received", label = "Keys pressed" }, -- {digits}: the other party pressed them (voice calls)
  { type = "interrupted", label = "Interrupted" }, -- the other party spoke over the agent: {played_ms}
  -- a phone call's line (sova.bot.phone): placed, ringing, answered, who answered (Twilio's
  -- answering-machine verdict: {by}), and a request Twilio refused ({what, reason}: codes only)
  { type = "dialed", label = "Dialed" },
  { type = "ringing", label = "Ringing" },
  { type = "answered", label = "Answered" },
  { type = "answered_by", label = "Answered by" },
  { type = "telephony_error", label = "Telephony error" },
  -- a staff member listened to the call's audio (read-only): {user_id}
  { type = "listening_started", label = "Listening started" },
  { type = "listening_ended", label = "Listening ended" },
  { type = "failure", label = "Failure" },       -- the flow could not be loaded: {reason, source, line}
  { type = "error", label = "Error" },           -- {message}
}

-- Derived look-ups.
-- FLOW_END_STATUSES: the terminal ones a flow may end a call with (not the line's own)
M.STATUS_BY_CODE, M.TERMINAL_STATUSES, M.FLOW_END_STATUSES, M.SYSTEM_FIELD_SET, M.EVENT_BY_TYPE = {}, {}, {}, {}, {}
for _, s in ipairs(M.CALL_STATUSES) do
  M.STATUS_BY_CODE[s.code] = s
  if s.terminal then M.TERMINAL_STATUSES[s.code] = true end
  if s.terminal and not s.line then M.FLOW_END_STATUSES[s.code] = true end
end
for _, k in ipairs(M.SYSTEM_FIELDS) do M.SYSTEM_FIELD_SET[k] = true end
for _, e in ipairs(M.SESSION_EVENTS) do M.EVENT_BY_TYPE[e.type] = e end

-- document() -> the vocabulary as plain JSON data (GET /api/meta, the generated TypeScript):
-- { call_statuses = { {code, label, terminal} }, system_fields = { key }, session_events = { {type, label} } }
function M.document()
  local statuses, events, fields = {}, {}, {}
  for i, s in ipairs(M.CALL_STATUSES) do
    statuses[i] = { code = s.code, label = s.label, terminal = s.terminal == true }
  end
  for i, e in ipairs(M.SESSION_EVENTS) do events[i] = { type = e.type, label = e.label } end
  for i, k in ipairs(M.SYSTEM_FIELDS) do fields[i] = k end
  return { call_statuses = statuses, system_fields = fields, session_events = events }
end

-- call_status_label(code) -> the label patients.call_status stores; raises on an unknown code
-- (a misspelt status is a bug in the platform, not data).
function M.call_status_label(code)
  local s = M.STATUS_BY_CODE[code]
  if not s then error("vocabulary: unknown call status " .. tostring(code), 2) end
  return s.label
end

local function codes_of(set, last_sep)
  local codes = {}
  for code in pairs(set) do codes[#codes + 1] = code end
  table.sort(codes)
  local last = table.remove(codes)
  if #codes == 0 then return last end
  return table.concat(codes, ", ") .. (last_sep or ", ") .. last
end

-- The terminal codes in alphabetical order, for messages: terminal_codes(" or ") -->
-- "busy, canceled, completed, ... no_answer or voicemail" (default: ", " before the last one too).
function M.terminal_codes(last_sep) return codes_of(M.TERMINAL_STATUSES, last_sep) end

-- The codes a flow may end a call with, the same way: "completed, failed, ... or voicemail".
function M.flow_end_codes(last_sep) return codes_of(M.FLOW_END_STATUSES, last_sep) end

-- flow_end_problem(status) -> nil when a flow may end a call with status, else why not (for the
-- flow check, call:end_call and the engine: one wording)
function M.flow_end_problem(status)
  if M.FLOW_END_STATUSES[status] then return nil end
  local s = type(status) == "string" and M.STATUS_BY_CODE[status]
  if s and s.line then
    return string.format("status %s is the phone line's own (the platform sets it from the line); a flow ends "
      .. "a call with %s", status, M.flow_end_codes(" or "))
  end
  return string.format("status must be %s, not %s", M.flow_end_codes(" or "),
    type(status) == "string" and string.format("%q", status) or tostring(status))
end

return M

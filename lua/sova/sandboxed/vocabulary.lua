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
  { code = "voicemail", label = "Voicemail", terminal = true },
  { code = "failed", label = "Failed", terminal = true },
}

-- Keys the platform owns on a patient document: never settable through a patient schema.
M.SYSTEM_FIELDS = {
  "_id", "organization_id", "workflow", "call_status",
  "created_at", "updated_at", "last_call_at", "last_session_id",
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
  { type = "failure", label = "Failure" },       -- the flow could not be loaded: {reason, source, line}
  { type = "error", label = "Error" },           -- {message}
}

-- Derived look-ups.
M.STATUS_BY_CODE, M.TERMINAL_STATUSES, M.SYSTEM_FIELD_SET, M.EVENT_BY_TYPE = {}, {}, {}, {}
for _, s in ipairs(M.CALL_STATUSES) do
  M.STATUS_BY_CODE[s.code] = s
  if s.terminal then M.TERMINAL_STATUSES[s.code] = true end
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

-- The terminal codes in alphabetical order, for messages: terminal_codes(" or ") -->
-- "completed, failed, incomplete, no_answer or voicemail" (default: ", " before the last one too).
function M.terminal_codes(last_sep)
  local codes = {}
  for code in pairs(M.TERMINAL_STATUSES) do codes[#codes + 1] = code end
  table.sort(codes)
  local last = table.remove(codes)
  if #codes == 0 then return last end
  return table.concat(codes, ", ") .. (last_sep or ", ") .. last
end

return M

-- sova.api.sessions: call sessions (transcripts are PHI: audited like patients).
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local auth = require("sova.api.auth")
local log = require("sova.log")
local recording = require("sova.recording")

local M = {}
local db_ok = errors.db

-- GET /api/patients/{id}/sessions: newest first, without transcripts
function M.for_patient(ctx, id)
  local p = patients.find_patient(ctx, id)
  local docs = db_ok(ctx.db:find("sessions", { patient_id = p._id },
    { sort = { _id = -1 }, limit = 200, projection = { transcript = 0, events = 0 } }))
  local items = json.array()
  for i, s in ipairs(docs) do items[i] = present.session(s) end
  patients.audit_or_503(ctx, { action = "list", resource_type = "session", resource_id = present.hex(p._id),
    details = { count = #items } })
  return 200, { items = items }
end

-- GET /api/sessions/{id}
function M.show(ctx, id)
  local oid = request.oid_or_404(id, "session")
  local s = db_ok(ctx.db:find_one("sessions", { _id = oid }))
  if not s then errors.not_found("session") end
  patients.audit_or_503(ctx, { action = "view", resource_type = "session", resource_id = present.hex(oid) })
  return 200, present.session(s)
end

-- GET /api/sessions/{id}/scenario: the call as a `sova flow eval` scenario, for the org's admins.
-- PHI-free by construction (sova.tools.scenario: synthetic patient fields, the patient's values
-- replaced in the other party's lines, no agent lines); audited as such an export.
function M.scenario(ctx, id)
  if ctx.user.role ~= "admin" then errors.fail(403, "forbidden", "only administrators can export test scenarios") end
  local oid = request.oid_or_404(id, "session")
  local s = db_ok(ctx.db:find_one("sessions", { _id = oid }))
  if not s then errors.not_found("session") end
  local wf = ctx.tenant.workflows and ctx.tenant.workflows[s.workflow]
  if type(wf) ~= "table" or type(wf.patient_schema) ~= "table" then errors.not_found("workflow") end
  local text, err = require("sova.tools.scenario").for_session(ctx.db, s, wf.patient_schema.fields or {})
  if not text then errors.fail(409, "not_exportable", err) end
  patients.audit_or_503(ctx, { action = "export", resource_type = "session", resource_id = present.hex(oid),
    details = { format = "scenario", phi = false } })
  return 200, text, {
    ["content-type"] = "text/yaml; charset=utf-8",
    ["content-disposition"] = ('attachment; filename="session-%s.yaml"'):format(present.hex(oid)),
  }
end

-- ---- the recording ----

local MiB = 1024 * 1024
-- An open-ended range (bytes=a-, and what a media element asks for) is answered in at most
-- 1 MiB, so seeking costs at most two sealed segments; any one answer (a closed range, or the
-- whole recording when no Range is sent) holds at most 16 MiB in the worker's memory.
M.OPEN_RANGE_MAX = 1 * MiB
M.ANSWER_MAX = 16 * MiB

-- The first range of a "bytes=" Range header against size: from, to (inclusive) | "unsatisfiable"
-- | nil (no Range, or one this server ignores as RFC 9110 allows: another unit, malformed).
function M.parse_range(header, size)
  if type(header) ~= "string" then return nil end
  local spec = header:match("^%s*bytes%s*=%s*([^,]+)")
  if not spec then return nil end
  spec = spec:gsub("%s+$", "")
  local a, b = spec:match("^(%d*)%-(%d*)$")
  if not a or (a == "" and b == "") or #a > 15 or #b > 15 then return nil end
  if a == "" then -- the last n bytes
    local n = tonumber(b)
    if n == 0 or size == 0 then return "unsatisfiable" end
    local from = math.max(0, size - n)
    return from, math.min(size - 1, from + M.OPEN_RANGE_MAX - 1)
  end
  local from = tonumber(a)
  if from >= size then return "unsatisfiable" end
  if b == "" then return from, math.min(size - 1, from + M.OPEN_RANGE_MAX - 1) end
  local to = tonumber(b)
  if to < from then return nil end -- invalid: ignored
  return from, math.min(size - 1, to, from + M.ANSWER_MAX - 1)
end

local function session_or_404(ctx, id)
  local oid = request.oid_or_404(id, "session")
  local s = db_ok(ctx.db:find_one("sessions", { _id = oid }, { projection = { _id = 1 } }))
  if not s then errors.not_found("session") end
  return oid
end

local function recording_or_404(ctx, oid)
  local info, err, kind = recording.info(ctx.db, ctx.tenant._id, oid)
  if info == nil then
    if kind == "key" then error("recording key: " .. tostring(err)) end
    errors.fail(503, "database_unavailable", "the database is unavailable; try again shortly", nil, err)
  end
  if not info then errors.not_found("recording") end
  return info
end

local function audit_recording(ctx, oid, details, success)
  patients.audit_or_503(ctx, { action = "view", resource_type = "recording", resource_id = present.hex(oid),
    details = details, success = success })
end

-- GET /api/sessions/{id}/recording: the call's WAV (agent left, other party right), decrypted
-- segment by segment for the bytes asked. A bearer token, or a link token from
-- POST .../recording/link (for <audio src>). Each answer is one PHI audit record, written after
-- the bytes decrypted and before any is sent.
function M.recording(ctx, id)
  local oid = session_or_404(ctx, id)
  local info = recording_or_404(ctx, oid)
  local size = info.bytes
  local base = { ["accept-ranges"] = "bytes", ["cache-control"] = "private, no-store" }
  local header = ctx.req.headers.range
  if type(header) == "string" and #header > 100 then header = header:sub(1, 100) end -- as recorded
  local from, to = M.parse_range(header, size)
  if from == "unsatisfiable" then
    audit_recording(ctx, oid, { range = header, served = 0 }, false)
    base["content-range"] = ("bytes */%d"):format(size)
    errors.fail_with(base, 416, "range_not_satisfiable", ("the recording has %d bytes"):format(size))
  end
  local status = from and 206 or 200
  if not from then
    if size > M.ANSWER_MAX then
      errors.fail(413, "range_required",
        ("the recording has %d bytes; ask for it in byte ranges (Range: bytes=0-)"):format(size))
    end
    from, to = 0, size - 1
  end
  local bytes, err, kind = "", nil, nil
  if size > 0 then bytes, err, kind = recording.read(ctx.db, ctx.tenant._id, oid, from, to) end
  if not bytes then
    if kind == "database" then
      errors.fail(503, "database_unavailable", "the database is unavailable; try again shortly", nil, err)
    end
    if kind == "not_found" then errors.not_found("recording") end -- deleted since the lookup
    -- damaged (a segment failed authentication, a chunk is gone) or sealed under another key
    log.error("recording.unreadable", { session = present.hex(oid), kind = kind, reason = err })
    audit_recording(ctx, oid, { range = header, served = 0, error = kind }, false)
    errors.fail(500, "recording_unreadable",
      "the recording failed its integrity check and cannot be played; nothing was served")
  end
  audit_recording(ctx, oid, { range = header, from = from, to = to, served = #bytes })
  local headers = base
  headers["content-type"] = info.content_type ~= "" and info.content_type or recording.CONTENT_TYPE
  if status == 206 then headers["content-range"] = ("bytes %d-%d/%d"):format(from, to, size) end
  return status, bytes, headers
end

-- POST /api/sessions/{id}/recording/link -> {url, expires_in}: a URL an <audio> element can
-- fetch by itself, for this user, this clinic and this recording only, for 15 minutes, ending
-- with the sign-in. Audited: it grants access to PHI.
function M.recording_link(ctx, id)
  local oid = session_or_404(ctx, id)
  local info = recording_or_404(ctx, oid)
  local token, expires_in = auth.link_token(ctx, "recording:" .. present.hex(oid))
  patients.audit_or_503(ctx, { action = "link", resource_type = "recording", resource_id = present.hex(oid),
    details = { expires_in = expires_in, bytes = info.bytes } })
  return 200, {
    url = ("/api/sessions/%s/recording?token=%s"):format(present.hex(oid), token),
    expires_in = expires_in,
  }
end

return M

-- sova.api.campaigns: a workflow's batch calls. The API writes a campaign and its targets (one
-- per patient) and changes its status; `sova campaigns` (sova.campaign.scheduler) dials them.
-- The targets' progress is read from the targets themselves, which only the scheduler writes.
local core = require("sova.core")
local bson = core.bson
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")
local patients = require("sova.api.patients")
local patient_search = require("sova.patient_search")
local call_start = require("sova.call_start")
local policy = require("sova.campaign.policy")

local M = {}
local fail, db_ok = errors.fail, errors.db
local hex = present.hex

M.MAX_TARGETS = 2000
M.MAX_NAME = 120
-- the results a target can end with (policy.RETRYABLE's, and the final ones)
M.RESULTS = { "completed", "incomplete", "no_answer", "busy", "voicemail", "failed", "skipped", "cancelled" }

local BODY_KEYS = { patient_ids = true, filter = true, name = true, mode = true, concurrency = true,
  calls_per_second = true, window = true, retry = true }

local function text_field(wf, key)
  for _, f in ipairs(wf.patient_schema.fields or {}) do
    if f.key == key then return f.type == "string" or f.type == "select" end
  end
  return false
end

-- the patients a request names: its ids (each in this workflow), or all that match filter.q
local function chosen(ctx, wf, wf_key, body)
  if (body.patient_ids == nil) == (body.filter == nil) then
    fail(422, "validation_failed", "name the patients: patient_ids, or filter (all that match)",
      { patient_ids = "patient_ids or filter, one of them" })
  end
  local out = {}
  if body.patient_ids ~= nil then
    local ids = body.patient_ids
    if type(ids) ~= "table" or #ids == 0 or #ids > M.MAX_TARGETS then
      fail(422, "validation_failed", "patient_ids: a list of patient ids",
        { patient_ids = ("a list of 1 to %d patient ids"):format(M.MAX_TARGETS) })
    end
    local seen, bad = {}, {}
    for i, id in ipairs(ids) do
      local oid = type(id) == "string" and bson.oid(id)
      local p = oid and not seen[id] and db_ok(ctx.db:find_one("patients", { _id = oid }))
      if not p or p.workflow ~= wf_key then
        bad["patient_ids." .. i] = seen[id] and "named twice" or "no such patient in this workflow"
      else
        seen[id] = true
        out[#out + 1] = p
      end
    end
    if next(bad) then fail(422, "validation_failed", "some patient ids are not this workflow's patients", bad) end
    return out
  end
  local filter = body.filter
  if type(filter) ~= "table" then fail(422, "validation_failed", "filter: {q}", { filter = "an object: {q}" }) end
  for k in pairs(filter) do
    if k ~= "q" then fail(422, "validation_failed", "unknown filter", { ["filter." .. tostring(k)] = "not a filter (q)" }) end
  end
  if filter.q ~= nil and type(filter.q) ~= "string" then
    fail(422, "validation_failed", "filter.q: the list's search text", { ["filter.q"] = "a string" })
  end
  local q = filter.q and filter.q:match("^%s*(.-)%s*$") or ""
  if q == "" then
    out = db_ok(ctx.db:find("patients", { workflow = wf_key }))
  else
    local cursor
    repeat
      local docs, next_cursor, partial = patient_search.search(ctx.db, wf_key, wf.patient_schema.fields or {}, q, cursor,
        100)
      if not docs and partial == 400 then fail(422, "validation_failed", next_cursor, { ["filter.q"] = next_cursor }) end
      db_ok(docs, next_cursor)
      for _, p in ipairs(docs) do out[#out + 1] = p end
      cursor = next_cursor
    until not cursor or #out > M.MAX_TARGETS
  end
  if #out == 0 then fail(422, "validation_failed", "no patient matches", { filter = "no patient matches" }) end
  if #out > M.MAX_TARGETS then
    fail(422, "validation_failed", ("more than %d patients match: narrow the search"):format(M.MAX_TARGETS),
      { filter = ("more than %d patients match"):format(M.MAX_TARGETS) })
  end
  table.sort(out, function(a, b) return (a.list_seq or 0) > (b.list_seq or 0) end) -- as the list shows them
  return out
end

local function show_settings(s)
  local out = { mode = s.mode, concurrency = s.concurrency, calls_per_second = s.calls_per_second, retry = s.retry }
  if s.window then
    local days = {}
    for i, d in ipairs(policy.DAYS) do if s.window.days[i] then days[#days + 1] = d end end
    local tz = s.window.time_zone
    out.window = { days = days, start = ("%02d:%02d"):format(math.floor(s.window.start / 60), s.window.start % 60),
      ["end"] = ("%02d:%02d"):format(math.floor(s.window["end"] / 60), s.window["end"] % 60),
      time_zone = tz.zone or (tz.field and { field = tz.field }) or "org" }
  end
  return out
end

local function summary(c)
  return { id = hex(c._id), name = c.name, workflow = c.workflow, status = c.status, total = c.total,
    settings = show_settings(policy.load(c.settings)), created_at = c.created_at, finished_at = c.finished_at,
    created_by = hex(c.created_by) }
end

-- POST /api/workflows/{wf}/campaigns
function M.create(ctx, wf_key)
  local wf = patients.workflow(ctx, wf_key)
  local body = request.json_object(ctx.req)
  for k in pairs(body) do
    if not BODY_KEYS[k] then fail(422, "validation_failed", "unknown field", { [k] = "unknown field" }) end
  end
  if body.name ~= nil and (type(body.name) ~= "string" or #body.name > M.MAX_NAME) then
    fail(422, "validation_failed", "name: a short text", { name = ("text of at most %d characters"):format(M.MAX_NAME) })
  end
  local settings, errs = policy.parse(body, { zone_ok = core.tz.valid, field_ok = function(k) return text_field(wf, k) end })
  if not settings then fail(422, "validation_failed", "the campaign's settings are not valid", errs) end
  if settings.window and settings.window.time_zone.org and not (type(ctx.tenant.time_zone) == "string"
      and core.tz.valid(ctx.tenant.time_zone)) then
    fail(422, "validation_failed", "this clinic has no time zone: name the window's",
      { ["window.time_zone"] = "this clinic has no time zone set: give an IANA name such as America/Chicago" })
  end
  local ready, refusal = call_start.line_ready(ctx.tenant.slug, wf_key, settings.mode == "phone")
  if not ready then fail(refusal.status, refusal.code, refusal.message, refusal.fields) end
  local list = chosen(ctx, wf, wf_key, body)

  local now = bson.now()
  local id = bson.oid()
  local campaign = { _id = id, workflow = wf_key, name = body.name or json.null, status = "preparing", active = false,
    settings = policy.store(settings), total = #list, created_by = bson.oid(ctx.user.id), created_at = now, updated_at = now }
  patients.audit_or_503(ctx, { action = "campaign_create", resource_type = "campaign", resource_id = hex(id),
    details = { workflow = wf_key, mode = settings.mode, patients = #list } })
  db_ok(ctx.db:insert("campaigns", campaign))
  -- the targets, then the campaign goes live: a campaign left "preparing" (the API died, the
  -- database went away) is never dialed, says so, and can be cancelled
  for i, p in ipairs(list) do
    db_ok(ctx.db:insert("campaign_targets", { campaign_id = id, patient_id = p._id, seq = i, state = "waiting",
      next_at = 0, attempts_made = 0, attempts = bson.array(), result = json.null, created_at = now }))
  end
  local live = db_ok(ctx.db:update("campaigns", { _id = id, status = "preparing" },
    { ["$set"] = { status = "running", active = true, updated_at = bson.now() } }))
  if live.matched == 0 then fail(409, "conflict", "the campaign was cancelled while it was being prepared") end
  campaign.status = "running"
  return 201, summary(campaign)
end

-- GET /api/workflows/{wf}/campaigns: newest first
function M.list(ctx, wf_key)
  patients.workflow(ctx, wf_key)
  local docs = db_ok(ctx.db:find("campaigns", { workflow = wf_key }))
  table.sort(docs, function(a, b) return a.created_at["$date"] > b.created_at["$date"] end)
  local items = {}
  for i = 1, math.min(#docs, 100) do items[i] = summary(docs[i]) end
  patients.audit_or_503(ctx, { action = "list", resource_type = "campaign", details = { workflow = wf_key, count = #items } })
  return 200, { items = json.array(items) }
end

local function find(ctx, id)
  local c = db_ok(ctx.db:find_one("campaigns", { _id = request.oid_or_404(id, "campaign") }))
  if not c then errors.not_found("campaign") end
  return c
end

local function targets_of(ctx, c)
  local t = db_ok(ctx.db:find("campaign_targets", { campaign_id = c._id }))
  table.sort(t, function(a, b) return a.seq < b.seq end)
  return t
end

-- progress(c, targets) -> counts by result (and waiting / in flight), the calls in flight, the next
local function progress(targets)
  local counts, in_flight, next_at = {}, {}, nil
  for _, r in ipairs(M.RESULTS) do counts[r] = 0 end
  counts.waiting, counts.in_flight = 0, 0
  local done = 0
  for _, t in ipairs(targets) do
    if t.state == "done" then
      counts[t.result] = (counts[t.result] or 0) + 1
      done = done + 1
    elseif t.state == "dialing" then
      counts.in_flight = counts.in_flight + 1
      local a = t.attempts[#t.attempts] or {}
      in_flight[#in_flight + 1] = { patient_id = hex(t.patient_id), session_id = hex(a.session_id), attempt = a.n,
        started_at = a.started_at }
    else
      counts.waiting = counts.waiting + 1
      if type(t.next_at) == "number" and (not next_at or t.next_at < next_at) then next_at = t.next_at end
    end
  end
  return counts, in_flight, next_at, done
end

-- GET /api/campaigns/{id}
function M.show(ctx, id)
  local c = find(ctx, id)
  local targets = targets_of(ctx, c)
  local counts, in_flight, next_at, n_done = progress(targets)
  local attempts = {}
  for _, t in ipairs(targets) do
    for _, a in ipairs(t.attempts) do
      attempts[#attempts + 1] = { patient_id = hex(t.patient_id), attempt = a.n, session_id = hex(a.session_id),
        result = a.result or json.null, reason = a.reason, started_at = a.started_at, ended_at = a.ended_at or json.null }
    end
  end
  patients.audit_or_503(ctx, { action = "view", resource_type = "campaign", resource_id = hex(c._id) })
  local out = summary(c)
  out.counts, out.done = counts, n_done
  out.in_flight = json.array(in_flight)
  out.next_at = next_at and next_at > 0 and bson.date(next_at * 1000) or json.null
  out.attempts = json.array(attempts)
  return 200, out
end

local MOVES = {
  pause = { from = { running = true }, to = "paused" },
  resume = { from = { paused = true }, to = "running" },
  -- a "preparing" campaign is one whose creation never finished (or is finishing: it then stays cancelled)
  cancel = { from = { running = true, paused = true, preparing = true }, to = "cancelled" },
}

-- POST /api/campaigns/{id}/pause|resume|cancel
local function move(action)
  local m = MOVES[action]
  return function(ctx, id)
    local c = find(ctx, id)
    if not m.from[c.status] then
      fail(409, "conflict", ("a %s campaign cannot be %s"):format(c.status, action == "cancel" and "cancelled" or action .. "d"))
    end
    patients.audit_or_503(ctx, { action = "campaign_" .. action, resource_type = "campaign", resource_id = hex(c._id) })
    db_ok(ctx.db:update("campaigns", { _id = c._id }, { ["$set"] = { status = m.to, updated_at = bson.now(),
      [m.to .. "_by"] = bson.oid(ctx.user.id) } }))
    c.status = m.to
    return 200, summary(c)
  end
end
M.pause, M.resume, M.cancel = move("pause"), move("resume"), move("cancel")

-- a CSV cell; a leading = + - @ is quoted away (a spreadsheet would run it as a formula)
local function cell(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" and v["$date"] then v = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v["$date"] / 1000)) end
  if type(v) == "table" and v["$oid"] then v = v["$oid"] end
  v = tostring(v)
  if v:match("^[=+%-@\t\r]") then v = "'" .. v end
  if v:find('[",\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- GET /api/campaigns/{id}/report.csv: one row per patient: its fields (outcomes included, as
-- they are now), attempts, the result and the last call
function M.report(ctx, id)
  local c = find(ctx, id)
  local wf = patients.workflow(ctx, c.workflow)
  local targets = targets_of(ctx, c)
  patients.audit_or_503(ctx, { action = "export", resource_type = "campaign", resource_id = hex(c._id),
    details = { patients = #targets } })
  local fields = wf.patient_schema.fields or {}
  local head = { "patient_id" }
  for _, f in ipairs(fields) do head[#head + 1] = f.key end
  for _, k in ipairs({ "call_status", "attempts", "result", "reason", "last_session_id", "last_attempt_at" }) do
    head[#head + 1] = k
  end
  local lines = { table.concat(head, ",") }
  for _, t in ipairs(targets) do
    local p = db_ok(ctx.db:find_one("patients", { _id = t.patient_id })) or {}
    local last = t.attempts[#t.attempts] or {}
    local row = { cell(t.patient_id) }
    for _, f in ipairs(fields) do row[#row + 1] = cell(p[f.key]) end
    for _, v in ipairs({ p.call_status, t.attempts_made, t.state == "done" and t.result or t.state, t.reason,
      last.session_id, last.started_at }) do
      row[#row + 1] = cell(v)
    end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return 200, table.concat(lines, "\r\n") .. "\r\n", {
    ["content-type"] = "text/csv; charset=utf-8",
    ["content-disposition"] = ('attachment; filename="campaign-%s.csv"'):format(hex(c._id)),
    ["cache-control"] = "no-store",
  }
end

return M

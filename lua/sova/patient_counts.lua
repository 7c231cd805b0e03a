-- sova.patient_counts: the dashboard's counts (a workflow's patients by call_status and by each
-- select field, its calls per day), kept as counters instead of counted on each request: on the
-- embedded FerretDB an aggregation decodes every patient of the workflow in Go
-- (docs/architecture.md, "The embedded database").
--
-- Counters are patient_counts documents {organization_id, workflow, field, value, n}: field
-- "total" (value ""), "call_status", a select field's key, or "calls_per_day" (value: the UTC
-- day), and "schema" (value: the counted fields). What the counters hold for each patient is in
-- patient_counted (its _id is the patient's), never in the patient: a write there would race the
-- bot's writes of the same patient.
--
-- Only the API changes counters, each workflow's under one lock of its process (sova.core.lock):
-- FerretDB computes an update in Go from a read and writes the document back, so two $inc at once
-- can lose one. The API recounts a patient as it writes it (recount); the bot, another process,
-- leaves a patient_recount marker after its writes (marker; a call's start too, in the API or the
-- campaign scheduler: mark, whose marker also counts the call in its day),
-- and the next dashboard read recounts those patients (settle): a read costs the writes since the
-- last, not the workflow's size. A marker is claimed by deleting it, which the database does once.
local core = require("sova.core")

local M = {}

local COLL = "patient_counts"
M.COUNTED = "patient_counted"
M.RECOUNT = "patient_recount"
M.NONE = "(none)"

local function value(v)
  if type(v) == "string" then return v end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  return M.NONE -- missing, or null
end

local function select_keys(fields)
  local out = {}
  for _, f in ipairs(fields or {}) do
    if f.type == "select" and type(f.key) == "string" then out[#out + 1] = f.key end
  end
  return out
end

-- snapshot(fields, doc) -> what the counters hold for doc: its call_status and select values
function M.snapshot(fields, doc)
  local s = { call_status = value(doc.call_status) }
  for _, k in ipairs(select_keys(fields)) do s[k] = value(doc[k]) end
  return s
end

-- tally(acc, old, new): the change of the counters from one patient's old snapshot to its new
-- (nil: not counted, or gone) into acc
function M.tally(acc, old, new)
  local function add(field, v, d)
    local k = field .. "\0" .. v
    acc[k] = (acc[k] or 0) + d
  end
  if old == nil and new ~= nil then add("total", "", 1) end
  if old ~= nil and new == nil then add("total", "", -1) end
  for f, v in pairs(type(old) == "table" and old or {}) do add(f, v, -1) end
  for f, v in pairs(new or {}) do add(f, v, 1) end
  return acc
end

local function bump(db, wf, field, v, d)
  local res, err
  for _ = 1, 2 do -- a first upsert racing another loses to the unique index once
    res, err = db:update(COLL, { workflow = wf, field = field, value = v }, { ["$inc"] = { n = d } }, { upsert = true })
    if res then return true end
  end
  return nil, err
end

-- apply(db, wf, acc) -> true | nil, err: acc (M.tally's) into the counters
function M.apply(db, wf, acc)
  for k, d in pairs(acc) do
    if d ~= 0 then
      local field, v = k:match("^(.-)%z(.*)$")
      local ok, err = bump(db, wf, field, v, d)
      if not ok then return nil, err end
    end
  end
  return true
end

local function signature(fields)
  local keys = select_keys(fields)
  table.sort(keys)
  return table.concat(keys, ",")
end

-- counting(db, wf, fields) -> true | nil, err: the counters say which fields they count, unless
-- they say so already (a workflow's first patient: nothing to count again at the next read)
function M.counting(db, wf, fields)
  local res, err = db:update(COLL, { workflow = wf, field = "schema" },
    { ["$setOnInsert"] = { value = signature(fields), n = 0 } }, { upsert = true })
  if not res then return nil, err end
  return true
end

-- locked(db, wf, fn, ...) -> fn(...): fn holding the workflow's counters (sova.core.lock)
local function locked(db, wf, fn, ...)
  return core.lock.held("patient_counts\0" .. tostring(db:organization()) .. "\0" .. wf, fn, ...)
end

-- follow(db, wf, fields, id, acc) -> true | nil, err: what the counters hold for patient id
-- changed to what it is now (gone: nothing), and the counters' change from it added to acc.
-- Holding the lock.
local function follow(db, wf, fields, id, acc)
  local p, err = db:find_one("patients", { _id = id })
  if err then return nil, err end
  local was
  was, err = db:find_one(M.COUNTED, { _id = id })
  if err then return nil, err end
  local old = was and was.counted or nil
  local new = p and p.workflow == wf and M.snapshot(fields, p) or nil
  local d = M.tally({}, old, new)
  local same = true
  for _, n in pairs(d) do same = same and n == 0 end
  if same and (old == nil) == (new == nil) then return true end
  -- the snapshot first: a crash between the two leaves the counters behind, not counted twice
  local ok
  if new then
    ok, err = db:update(M.COUNTED, { _id = id }, { ["$set"] = { workflow = wf, counted = new } }, { upsert = true })
  else
    ok, err = db:delete(M.COUNTED, { _id = id })
  end
  if not ok then return nil, err end
  for k, n in pairs(d) do acc[k] = (acc[k] or 0) + n end
  return true
end

-- count(db, wf, fields, id) -> true | nil, err: the counters follow patient id. Holding the lock.
local function count(db, wf, fields, id)
  local acc = {}
  local ok, err = follow(db, wf, fields, id, acc)
  if not ok then return nil, err end
  return M.apply(db, wf, acc)
end

-- recount(db, wf, fields, id) -> true | nil, err: after the API wrote patient id (created,
-- changed or deleted), the counters follow
function M.recount(db, wf, fields, id)
  return locked(db, wf, function()
    local ok, err = M.counting(db, wf, fields)
    if not ok then return nil, err end
    return count(db, wf, fields, id)
  end)
end

-- recount_many(db, wf, fields, ids[, pages]) -> true | nil, err: recount for many patients
-- written at once (an import), the counters changed once for all of them. pages: the list pages
-- (sova.patient_list) the patients are on, read whole instead of each patient by itself; a patient
-- found there with no snapshot yet is counted from what was read (one write, no read of its own).
-- Holding the lock while reading: a write of one of them since (its own recount waits for the lock)
-- changes the counters from the snapshot taken here.
function M.recount_many(db, wf, fields, ids, pages)
  return locked(db, wf, function()
    local ok, err = M.counting(db, wf, fields)
    if not ok then return nil, err end
    local now = {}
    for _, page in ipairs(pages or {}) do
      local docs
      docs, err = db:find("patients", { workflow = wf, list_page = page })
      if not docs then return nil, err end
      for _, d in ipairs(docs) do now[tostring(d._id)] = d end
    end
    local acc = {}
    for _, id in ipairs(ids) do
      local p = now[tostring(id)]
      if p and p.workflow == wf then
        local new, code = M.snapshot(fields, p), nil
        ok, err, code = db:insert(M.COUNTED, { _id = id, workflow = wf, counted = new })
        if ok then
          M.tally(acc, nil, new)
        elseif code == 11000 then -- counted before: from what that holds
          ok, err = follow(db, wf, fields, id, acc)
        end
      else
        ok, err = follow(db, wf, fields, id, acc)
      end
      if not ok then return nil, err end
    end
    return M.apply(db, wf, acc)
  end)
end

-- marker(org_id, wf, id) -> the patient_recount document another process (the bot) inserts
-- after it wrote patient id
function M.marker(org_id, wf, id) return { organization_id = org_id, workflow = wf, patient_id = id } end

-- mark(db, wf, id[, placed]) -> true | nil, err: patient id recounted at the next dashboard read
-- (one insert: for a write on a busy path, such as a call's start, from any process); placed:
-- a call was placed for it now, counted in its UTC day's calls then
function M.mark(db, wf, id, placed)
  local ok, err = db:insert(M.RECOUNT, { workflow = wf, patient_id = id,
    placed_day = placed and os.date("!%Y-%m-%d") or nil })
  if not ok then return nil, err end
  return true
end

-- recount_all(db, wf, fields) -> true | nil, err: every patient counted anew (the counted fields
-- changed, or were never counted). Holding the lock.
local function recount_all(db, wf, fields)
  local docs, err = db:find("patients", { workflow = wf })
  if not docs then return nil, err end
  local acc, counted = {}, {}
  for _, d in ipairs(docs) do
    counted[#counted + 1] = { d._id, M.snapshot(fields, d) }
    M.tally(acc, nil, counted[#counted][2])
  end
  local ok
  ok, err = db:delete(COLL, { workflow = wf, field = { ["$ne"] = "calls_per_day" } }, { multi = true })
  if not ok then return nil, err end
  ok, err = db:delete(M.COUNTED, { workflow = wf }, { multi = true })
  if not ok then return nil, err end
  for _, c in ipairs(counted) do
    ok, err = db:insert(M.COUNTED, { _id = c[1], workflow = wf, counted = c[2] })
    if not ok then return nil, err end
  end
  ok, err = M.apply(db, wf, acc)
  if not ok then return nil, err end
  return db:update(COLL, { workflow = wf, field = "schema" }, { ["$set"] = { value = signature(fields), n = 0 } }, { upsert = true })
end

-- settle(db, wf, fields) -> true | nil, err: the patients the bot marked recounted; when the
-- counted fields are not the schema's (a select field added or removed, or a workflow never
-- counted), every patient of the workflow, once.
function M.settle(db, wf, fields)
  return locked(db, wf, function()
    local mark, err = db:find_one(COLL, { workflow = wf, field = "schema" })
    if err then return nil, err end
    local markers
    markers, err = db:find(M.RECOUNT, { workflow = wf })
    if not markers then return nil, err end
    if not mark or mark.value ~= signature(fields) then
      local ok
      ok, err = recount_all(db, wf, fields)
      if not ok then return nil, err end
    end
    local seen = {}
    for _, m in ipairs(markers) do
      local n
      n, err = db:delete(M.RECOUNT, { _id = m._id }) -- claimed: once, whoever else reads it
      if not n then return nil, err end
      local key = tostring(m.patient_id)
      if n == 1 and type(m.placed_day) == "string" then
        local ok
        ok, err = bump(db, wf, "calls_per_day", m.placed_day, 1)
        if not ok then return nil, err end
      end
      if n == 1 and not seen[key] then
        seen[key] = true
        local ok
        ok, err = count(db, wf, fields, m.patient_id)
        if not ok then return nil, err end
      end
    end
    return true
  end)
end

-- backfill(db, wf, fields) -> true | nil, err: the counters of a workflow stored before there
-- were any: its patients counted, and its sessions by day (sova.store runs it once per workflow)
function M.backfill(db, wf, fields)
  return locked(db, wf, function()
    local ok, err = recount_all(db, wf, fields)
    if not ok then return nil, err end
    local sessions
    sessions, err = db:find("sessions", { workflow = wf }, { projection = { created_at = 1 } })
    if not sessions then return nil, err end
    local per_day = {}
    for _, s in ipairs(sessions) do
      local ms = type(s.created_at) == "table" and tonumber(s.created_at["$date"])
      if ms then
        local day = os.date("!%Y-%m-%d", math.floor(ms / 1000))
        per_day[day] = (per_day[day] or 0) + 1
      end
    end
    for day, n in pairs(per_day) do
      ok, err = bump(db, wf, "calls_per_day", day, n)
      if not ok then return nil, err end
    end
    return true
  end)
end

-- restart(db, wf, fields) -> true | nil, err: the workflow's patients counted anew (its calls per
-- day kept), for counters kept by an earlier version
function M.restart(db, wf, fields)
  return locked(db, wf, recount_all, db, wf, fields)
end

-- read(db, wf, fields[, days]) -> {total, by_call_status, by_field, calls_per_day} | nil, err,
-- settled first; calls_per_day covers the last days (30) UTC days, today included
function M.read(db, wf, fields, days)
  local ok, err = M.settle(db, wf, fields)
  if not ok then return nil, err end
  local rows
  rows, err = db:find(COLL, { workflow = wf })
  if not rows then return nil, err end
  local since = os.date("!%Y-%m-%d", os.time() - ((days or 30) - 1) * 86400)
  local out = { total = 0, by_call_status = {}, by_field = {}, calls_per_day = {} }
  local selects = {}
  for _, f in ipairs(fields or {}) do
    if f.type == "select" and type(f.key) == "string" then
      local c = {}
      for _, opt in ipairs(f.options or {}) do c[opt] = 0 end
      out.by_field[f.key], selects[f.key] = c, true
    end
  end
  for _, r in ipairs(rows) do
    local n = tonumber(r.n) or 0
    if r.field == "total" then
      out.total = n
    elseif r.field == "call_status" then
      if n ~= 0 then out.by_call_status[r.value] = n end
    elseif r.field == "calls_per_day" then
      if type(r.value) == "string" and r.value >= since then out.calls_per_day[r.value] = n end
    elseif selects[r.field] and (n ~= 0 or out.by_field[r.field][r.value] ~= nil) then
      out.by_field[r.field][r.value] = n
    end
  end
  return out
end

return M

-- sova.patient_counts: the dashboard's counts (a workflow's patients by call_status and by each
-- select field, its calls per day), kept as counters instead of counted on each request: on the
-- embedded FerretDB an aggregation decodes every patient of the workflow in Go
-- (docs/architecture.md, "The embedded database").
--
-- Counters are patient_counts documents {organization_id, workflow, field, value, n}: field
-- "total" (value ""), "call_status", a select field's key, or "calls_per_day" (value: the UTC
-- day), and "schema" (value: the counted fields). Each patient keeps `counted`, the values its
-- counters hold for it. The API counts a patient it creates or deletes as it does so; any other
-- write of a counted field (a PATCH, a call queued, the bot's call status and outcomes) sets
-- counts_dirty, and the next dashboard read counts the dirty patients (settle): a read costs the
-- writes since the last, not the size of the workflow. A patient is claimed on its updated_at,
-- so a write racing the count leaves it dirty for the next.
local M = {}

local COLL = "patient_counts"
M.NONE = "(none)"
-- what a write that leaves the counters behind adds to its $set
M.DIRTY = "counts_dirty"

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

-- place(fields, doc): doc, counted as it is (to insert, then M.added)
function M.place(fields, doc)
  doc.counted, doc[M.DIRTY] = M.snapshot(fields, doc), false
  return doc
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

-- added(db, wf, fields, doc) / removed(db, wf, doc) -> true | nil, err: a patient M.place
-- counted, now stored; a patient deleted (what its counters held for it goes)
function M.added(db, wf, fields, doc)
  local ok, err = M.counting(db, wf, fields)
  if not ok then return nil, err end
  return M.apply(db, wf, M.tally({}, nil, doc.counted))
end
function M.removed(db, wf, doc)
  if type(doc.counted) ~= "table" then return true end -- never counted
  return M.apply(db, wf, M.tally({}, doc.counted, nil))
end

-- call_placed(db, wf[, ms]) -> true | nil, err: one more call on its UTC day
function M.call_placed(db, wf, ms)
  return bump(db, wf, "calls_per_day", os.date("!%Y-%m-%d", math.floor((ms or os.time() * 1000) / 1000)), 1)
end

-- settle(db, wf, fields) -> true | nil, err: the dirty patients counted. When the counted fields
-- are not the schema's (a select field added or removed, or a workflow never counted) every
-- patient of the workflow is counted again, once.
function M.settle(db, wf, fields)
  local schema = signature(fields)
  local mark, err = db:find_one(COLL, { workflow = wf, field = "schema" })
  if err then return nil, err end
  if not mark or mark.value ~= schema then
    local ok
    ok, err = db:update("patients", { workflow = wf }, { ["$set"] = { [M.DIRTY] = true } }, { multi = true })
    if not ok then return nil, err end
    ok, err = db:update(COLL, { workflow = wf, field = "schema" }, { ["$set"] = { value = schema, n = 0 } }, { upsert = true })
    if not ok then return nil, err end
  end
  local dirty
  dirty, err = db:find("patients", { workflow = wf, [M.DIRTY] = true })
  if not dirty then return nil, err end
  for _, d in ipairs(dirty) do
    local now = M.snapshot(fields, d)
    local claim = { _id = d._id, [M.DIRTY] = true, updated_at = d.updated_at }
    local res
    res, err = db:update("patients", claim, { ["$set"] = { counted = now, [M.DIRTY] = false } })
    if not res then return nil, err end
    if res.matched == 1 then
      local ok
      ok, err = M.apply(db, wf, M.tally({}, d.counted, now))
      if not ok then return nil, err end
    end
  end
  return true
end

-- backfill(db, wf, fields) -> true | nil, err: the counters of a workflow stored before there
-- were any: its patients counted, and its sessions by day (sova.store runs it once per workflow)
function M.backfill(db, wf, fields)
  local ok, err = M.settle(db, wf, fields)
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

-- sova.patient_list: a patient's place in its workflow's list, and the list's pages, newest first.
--
-- Each patient gets a position when it is created (list_seq: 1, 2, 3, ... per organization and
-- workflow, from a counter in patient_lists) and a page key (list_page = list_seq // PAGE). A page
-- of the list reads whole pages by equality on {organization_id, workflow, list_page}: the one
-- query shape that costs the same at 100 and 100,000 patients both on MongoDB (its index) and on
-- the embedded FerretDB over PostgreSQL (pushed down and answered by the index's GIN twin,
-- scripts/embedded-db.sql); a sort or a range over the collection is done by FerretDB in Go over
-- every matching document (docs/architecture.md, "The embedded database").
--
-- The cursor is a position (list_seq, then _id: two patients created at once may share a
-- list_seq), so a patient created or deleted between two pages moves no other: none is skipped
-- or shown twice.
local bson = require("sova.core").bson

local M = {}

M.PAGE = 64
-- pages read for one request at most: a list thinned by deletions answers fewer items and a
-- cursor to go on from, rather than an unbounded walk
M.MAX_PAGES = 32

local COUNTERS = "patient_lists"

-- reserve(db, wf, n) -> the first of n new positions | nil, err (db: the tenant's scoped handle)
function M.reserve(db, wf, n)
  local doc, err
  for _ = 1, 2 do -- a first upsert racing another loses to the unique index once
    doc, err = db:find_one_and_update(COUNTERS, { workflow = wf }, { ["$inc"] = { next_seq = n } }, { upsert = true })
    if doc then return doc.next_seq - n + 1 end
  end
  return nil, err
end

-- place(doc, seq): doc's list fields for position seq
function M.place(doc, seq)
  doc.list_seq, doc.list_page = seq, math.floor(seq / M.PAGE)
  return doc
end

local function hex(id) return tostring(id) end

-- "seq-idhex" | nil
function M.encode_cursor(seq, id) return string.format("%d-%s", seq, id and hex(id) or "") end

-- decode_cursor(s) -> {seq, id} | nil (malformed)
function M.decode_cursor(s)
  local seq, id = tostring(s):match("^(%d+)%-(%x*)$")
  seq = tonumber(seq)
  if not seq or seq > 2 ^ 53 or (#id ~= 0 and #id ~= 24) then return nil end
  return { seq = seq, id = id:lower() }
end

-- newest first: list_seq, then _id, descending
function M.before(a, b)
  if a.list_seq ~= b.list_seq then return a.list_seq > b.list_seq end
  return hex(a._id) > hex(b._id)
end

-- whether doc comes after cursor c (nil: the list's top) in the list
function M.after_cursor(doc, c)
  if not c then return true end
  return doc.list_seq < c.seq or (doc.list_seq == c.seq and hex(doc._id) < c.id)
end

-- top(db, wf, cursor) -> the position a walk down the list starts from (the cursor's, or past
-- the newest patient's; 0 for a list never written) | nil, err
function M.top(db, wf, cursor)
  if cursor then return cursor.seq end
  local c, err = db:find_one(COUNTERS, { workflow = wf })
  if err then return nil, err end
  return c and c.next_seq or 0
end

-- page(db, wf, cursor, limit) -> docs, next_cursor (string | nil) | nil, err
function M.page(db, wf, cursor, limit)
  local top, err = M.top(db, wf, cursor)
  if not top then return nil, err end
  local out = {}
  local p, read = math.floor(top / M.PAGE), 0
  while p >= 0 and #out <= limit and read < M.MAX_PAGES do
    local docs, err = db:find("patients", { workflow = wf, list_page = p })
    if not docs then return nil, err end
    table.sort(docs, M.before)
    for _, d in ipairs(docs) do
      if type(d.list_seq) == "number" and M.after_cursor(d, cursor) then out[#out + 1] = d end
    end
    p, read = p - 1, read + 1
  end
  if #out > limit then
    local last = out[limit]
    for i = #out, limit + 1, -1 do out[i] = nil end
    return out, M.encode_cursor(last.list_seq, last._id)
  end
  if p >= 0 then -- stopped at MAX_PAGES: on from the pages not yet read
    return out, M.encode_cursor((p + 1) * M.PAGE, nil)
  end
  return out, nil
end

-- Positions for patients stored before lists had them (in _id order, after the counter's).
-- h: the unscoped handle; scoped(org_id): a tenant's. true | nil, err (sova.store runs it once)
function M.backfill(h, scoped)
  local docs, err = h:find("patients", { list_seq = { ["$exists"] = false } },
    { projection = { _id = 1, organization_id = 1, workflow = 1 }, sort = { _id = 1 } })
  if not docs then return nil, err end
  local groups, order = {}, {}
  for _, d in ipairs(docs) do
    if bson.is_oid(d.organization_id) and type(d.workflow) == "string" then
      local key = hex(d.organization_id) .. "/" .. d.workflow
      if not groups[key] then groups[key] = { org = d.organization_id, wf = d.workflow }; order[#order + 1] = key end
      table.insert(groups[key], d._id)
    end
  end
  for _, key in ipairs(order) do
    local g = groups[key]
    local db = scoped(g.org)
    local first
    first, err = M.reserve(db, g.wf, #g)
    if not first then return nil, err end
    for i, id in ipairs(g) do
      local seq = first + i - 1
      local ok
      ok, err = db:update("patients", { _id = id, list_seq = { ["$exists"] = false } },
        { ["$set"] = { list_seq = seq, list_page = math.floor(seq / M.PAGE) } })
      if not ok then return nil, err end
    end
  end
  return true
end

return M

-- sova.patient_search: a patient's search terms, and a search that reads only the patients that
-- may match.
--
-- Each patient has a patient_terms document (its _id is the patient's): its list position and its
-- terms, the start of every word of its searchable fields at a few lengths (LENGTHS) and each word
-- whole, folded (no case, no accents: sova.core.text). A phone's digits count as words: all of
-- them, and the last 10, 7 and 4. The terms live beside the patient, not in it: FerretDB decodes
-- every element of a document it reads, and a list page would pay for them.
--
-- A search finds its candidates by equality on one term (the patient_terms index
-- {organization_id, workflow, terms}; on the embedded FerretDB over PostgreSQL it is pushed down
-- and answered by the index's GIN twin), at most MAX_CANDIDATES of them, whatever the workflow's
-- size; a regular expression is a scan of every patient. The candidates are checked against every
-- word of the query, the page's patients are read by _id and checked against their fields as they
-- are now: terms a patient's old values left behind (the bot's outcome writes add terms, they do
-- not rebuild them) make a candidate, never a match.
local core = require("sova.core")
local patient_list = require("sova.patient_list")
local text, bson = core.text, core.bson

local M = {}

M.COLLECTION = "patient_terms"
-- candidates read for one term at most: a query that more patients match (one letter) says so
M.MAX_CANDIDATES = 100
-- terms tried in turn when the first has more candidates than are read
M.TRIED_TERMS = 3
M.MAX_TERM = 24 -- bytes of a word that are kept
M.MAX_QUERY = 100
-- the lengths (in characters) of a word's start that are terms, besides the whole word: few,
-- as FerretDB's cost of reading a candidate grows with its terms (docs/benchmarks.md)
local LENGTHS = { 1, 2, 3, 5, 8 }

local SEARCHABLE = { string = true, email = true, phone = true, select = true }

local function searchable(fields)
  local out = {}
  for _, f in ipairs(fields or {}) do
    if SEARCHABLE[f.type] and type(f.key) == "string" then out[#out + 1] = f end
  end
  return out
end

-- the first n bytes of s, cut at a character boundary
local function head(s, n)
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n)
end

-- the byte ends of s's first characters: ends[i] is where character i ends
local function char_ends(s)
  local ends, i = {}, 1
  while i <= #s do
    local b = s:byte(i)
    i = i + (b < 0x80 and 1 or b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1)
    ends[#ends + 1] = math.min(i - 1, #s)
  end
  return ends
end

-- folded words of s: runs of letters and digits (any byte of a multibyte character counts)
local function words(s, out)
  out = out or {}
  local folded = text.fold(s) or ""
  for w in folded:gmatch("[%w\128-\255]+") do out[#out + 1] = head(w, M.MAX_TERM) end
  return out
end

-- the words of doc's searchable fields, a phone's digits among them
local function doc_words(fields, doc)
  local out = {}
  for _, f in ipairs(searchable(fields)) do
    local v = doc[f.key]
    if type(v) == "string" and v ~= "" then
      words(v, out)
      if f.type == "phone" then
        local digits = v:gsub("%D", ""):sub(-M.MAX_TERM)
        for _, n in ipairs({ 0, 10, 7, 4 }) do
          if #digits > n then out[#out + 1] = n == 0 and digits or digits:sub(-n) end
        end
      end
    end
  end
  return out
end

-- terms(fields, doc) -> the array of doc's terms, sorted (the same doc, the same array)
function M.terms(fields, doc)
  local set = {}
  for _, w in ipairs(doc_words(fields, doc)) do
    local ends = char_ends(w)
    for _, n in ipairs(LENGTHS) do
      if ends[n] then set[w:sub(1, ends[n])] = true end
    end
    set[w] = true
  end
  local out = {}
  for t in pairs(set) do out[#out + 1] = t end
  table.sort(out)
  return out
end

-- the term a query word is looked up by: its start at the longest of LENGTHS it has
local function key(q)
  local ends = char_ends(q)
  for i = #LENGTHS, 1, -1 do
    if #ends == LENGTHS[i] then return q end
    if ends[LENGTHS[i]] then return q:sub(1, ends[LENGTHS[i]]) end
  end
  return q
end

-- query(q) -> the query's words, the likeliest to tell first (none for punctuation alone: it
-- matches nobody) | nil, reason (too long, not plain text)
function M.query(q)
  if type(q) ~= "string" or #q > M.MAX_QUERY then
    return nil, string.format("search text too long (%d characters at most)", M.MAX_QUERY)
  end
  if q:find("[%z\1-\31\127]") or not text.fold(q) then return nil, "search text must be plain UTF-8 text" end
  local ws, seen = {}, {}
  for _, w in ipairs(words(q)) do
    if not seen[w] then seen[w] = true; ws[#ws + 1] = w end
  end
  -- a number (an ID, a phone, a date) before words, longer first
  local function numeric(t) return #t >= 3 and t:find("%d") ~= nil end
  table.sort(ws, function(a, b)
    if numeric(a) ~= numeric(b) then return numeric(a) end
    return #a > #b or (#a == #b and a < b)
  end)
  return ws
end

-- whether every query word starts one of list's words or terms
local function starts_all(list, qwords)
  for _, q in ipairs(qwords) do
    local found = false
    for _, w in ipairs(list) do
      if #w >= #q and w:sub(1, #q) == q then found = true; break end
    end
    if not found then return false end
  end
  return true
end

-- matches(fields, doc, qwords) -> whether doc, as it is now, has a word starting with each
function M.matches(fields, doc, qwords) return starts_all(doc_words(fields, doc), qwords) end

-- index(db, wf, fields, doc) -> true | nil, err: doc's terms stored (anew), at its list position
function M.index(db, wf, fields, doc)
  local res, err = db:update(M.COLLECTION, { _id = doc._id }, { ["$set"] = { workflow = wf, list_seq = doc.list_seq,
    terms = bson.array(M.terms(fields, doc)) } }, { upsert = true })
  if not res then return nil, err end
  return true
end

-- unindex(db, id) -> true | nil, err
function M.unindex(db, id)
  local n, err = db:delete(M.COLLECTION, { _id = id })
  if not n then return nil, err end
  return true
end

-- search(db, wf, fields, q, cursor, limit) -> docs, next_cursor, limited | nil, err, status
-- (status 400: the query is refused). limited: nil, or "capped" (more patients had every word
-- tried than are read: the docs are some of the matches, not the newest), or "short" (no word of
-- MIN_LOOKUP characters: none is looked up, as the database reads every patient a word starts,
-- and one or two letters start most).
M.MIN_LOOKUP = 3
function M.search(db, wf, fields, q, cursor, limit)
  local qwords, why = M.query(q)
  if not qwords then return nil, why, 400 end
  if #qwords == 0 then return {}, nil, nil end
  local lookups = {}
  for _, w in ipairs(qwords) do
    if #char_ends(w) >= M.MIN_LOOKUP then lookups[#lookups + 1] = w end
  end
  if #lookups == 0 then return {}, nil, "short" end
  local found, capped, err
  for i = 1, math.min(#lookups, M.TRIED_TERMS) do
    found, err = db:find(M.COLLECTION, { workflow = wf, terms = key(lookups[i]) }, { limit = M.MAX_CANDIDATES + 1 })
    if not found then return nil, err end
    capped = #found > M.MAX_CANDIDATES
    if not capped then break end
  end
  local hits = {}
  for i = 1, math.min(#found, M.MAX_CANDIDATES) do
    local t = found[i]
    if type(t.list_seq) == "number" and patient_list.after_cursor(t, cursor) and starts_all(t.terms or {}, qwords) then
      hits[#hits + 1] = t
    end
  end
  table.sort(hits, patient_list.before)
  local next_cursor
  if #hits > limit then next_cursor = patient_list.encode_cursor(hits[limit].list_seq, hits[limit]._id) end
  local docs = {}
  for i = 1, math.min(#hits, limit) do
    local p
    p, err = db:find_one("patients", { _id = hits[i]._id })
    if err then return nil, err end
    -- gone since, or terms its old values left: no match
    if p and p.workflow == wf and M.matches(fields, p, qwords) then docs[#docs + 1] = p end
  end
  return docs, next_cursor, capped and "capped" or nil
end

-- backfill(db, wf, fields) -> true | nil, err: terms for the patients of a workflow stored before
-- search had them (sova.store runs it once per workflow)
function M.backfill(db, wf, fields)
  local docs, err = db:find("patients", { workflow = wf })
  if not docs then return nil, err end
  for _, d in ipairs(docs) do
    local ok
    ok, err = M.index(db, wf, fields, d)
    if not ok then return nil, err end
  end
  return true
end

return M

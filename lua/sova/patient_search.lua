-- sova.patient_search: a patient's search terms, and a search that reads only the patients that
-- may match.
--
-- Each patient has a patient_terms document (its _id is the patient's): its list position, the
-- block of positions it is in (list_block) and its terms, the start of every word of its
-- searchable fields at a few lengths (LENGTHS) and each word whole, folded (no case, no accents:
-- sova.core.text). A phone's digits count as words: all of them, and the last 10, 7 and 4. The
-- terms live beside the patient, not in it: FerretDB decodes every element of a document it
-- reads, and a list page would pay for them.
--
-- Candidates are checked against every word of the query, and the page's patients are read by _id
-- and checked against their fields as they are now: terms a patient's old values left behind (the
-- bot's outcome writes add terms, they do not rebuild them) make a candidate, never a match. A
-- regular expression would be a scan of every patient.
local core = require("sova.core")
local patient_list = require("sova.patient_list")
local text, bson = core.text, core.bson

local M = {}

M.COLLECTION = "patient_terms"
M.BLOCK = 4096 -- list positions in a block of a search's candidates: 64 list pages
M.MAX_TERM = 24 -- bytes of a word that are kept
M.MAX_QUERY = 100
-- the lengths (in characters) of a word's start that are terms, besides the whole word: few,
-- as FerretDB's cost of reading a candidate grows with its terms (docs/benchmarks.md)
local LENGTHS = { 1, 2, 3, 5, 8 }

local function block_of(seq) return math.floor(seq / M.BLOCK) end

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

-- document(wf, fields, doc) -> doc's patient_terms document (without its organization: the scoped
-- handle adds it)
function M.document(wf, fields, doc)
  local placed = type(doc.list_seq) == "number"
  return { _id = doc._id, workflow = wf, list_seq = doc.list_seq,
    list_page = placed and math.floor(doc.list_seq / patient_list.PAGE) or nil,
    list_block = placed and block_of(doc.list_seq) or nil, terms = bson.array(M.terms(fields, doc)) }
end

-- index(db, wf, fields, doc) -> true | nil, err: doc's terms stored (anew), at its list position
function M.index(db, wf, fields, doc)
  local t = M.document(wf, fields, doc)
  t._id = nil
  local res, err = db:update(M.COLLECTION, { _id = doc._id }, { ["$set"] = t }, { upsert = true })
  if not res then return nil, err end
  return true
end

-- unindex(db, id) -> true | nil, err
function M.unindex(db, id)
  local n, err = db:delete(M.COLLECTION, { _id = id })
  if not n then return nil, err end
  return true
end

-- A search walks the workflow's list newest first, from the cursor's position, the way that
-- costs least for its first word (the likeliest to tell, M.query), and never reads more than
-- MAX_READS times:
-- - dense (the word starts many names, as the first page's candidates tell, by equality on the
--   word's term and the page: {organization_id, workflow, list_page, terms}): whole list pages of
--   patients (the list's own query), each checked against the query;
-- - sparse: the candidates of one block of BLOCK positions at a time, by equality on the word's
--   term and the block ({organization_id, workflow, list_block, terms}), at most BLOCK_CANDIDATES
--   of them; a block with more is read page by page instead.
-- Every read is an equality the database answers from an index for the rows it returns (a
-- FerretDB find reads every row its filter matches, limit or not: docs/benchmarks.md), so one
-- request costs the same in a clinic of 100 patients or 100,000.
M.BLOCK_CANDIDATES = 64
M.MAX_READS = 48
-- a list page with this many matches tells that the next one is read whole too
local DENSE_PAGE = 12

-- search(db, wf, fields, q, cursor, limit) -> docs, next_cursor, partial | nil, err, status
-- (status 400: the query is refused). partial: true when the walk stopped at MAX_READS before the
-- page was full: docs are the matches above next_cursor, and the search goes on from there.
function M.search(db, wf, fields, q, cursor, limit)
  local qwords, why = M.query(q)
  if not qwords then return nil, why, 400 end
  if #qwords == 0 then return {}, nil, false end
  local term = key(qwords[1])
  local top, terr = patient_list.top(db, wf, cursor)
  if not top then return nil, terr end
  local hits, seen = {}, {}
  local function hit(t, doc)
    if not seen[tostring(t._id)] and type(t.list_seq) == "number" and patient_list.after_cursor(t, cursor) then
      seen[tostring(t._id)] = true
      hits[#hits + 1] = { _id = t._id, list_seq = t.list_seq, doc = doc }
    end
  end
  local per_block = M.BLOCK / patient_list.PAGE
  local page = math.floor(top / patient_list.PAGE)
  -- the first page tells: its candidates, up to as many as make it dense
  local first, ferr = db:find(M.COLLECTION, { workflow = wf, list_page = page, terms = term }, { limit = DENSE_PAGE })
  if not first then return nil, ferr end
  local dense, reads = #first >= DENSE_PAGE, 1
  if not dense then
    for _, t in ipairs(first) do
      if starts_all(t.terms or {}, qwords) then hit(t) end
    end
  end
  local dense_block -- a block with more candidates than are read: its pages are read instead
  while page >= 0 and #hits <= limit and reads < M.MAX_READS do
    reads = reads + 1
    local block = math.floor(page / per_block)
    if dense or block == dense_block then
      local docs, err = db:find("patients", { workflow = wf, list_page = page })
      if not docs then return nil, err end
      local n = 0
      for _, d in ipairs(docs) do
        if M.matches(fields, d, qwords) then n = n + 1; hit(d, d) end
      end
      dense, page = n >= DENSE_PAGE, page - 1
    else
      local found, err = db:find(M.COLLECTION, { workflow = wf, list_block = block, terms = term },
        { limit = M.BLOCK_CANDIDATES + 1 })
      if not found then return nil, err end
      if #found > M.BLOCK_CANDIDATES then
        dense_block = block
      else
        for _, t in ipairs(found) do
          if starts_all(t.terms or {}, qwords) then hit(t) end
        end
        page = block * per_block - 1
      end
    end
  end
  table.sort(hits, patient_list.before)
  local next_cursor, partial = nil, false
  if #hits > limit then
    next_cursor = patient_list.encode_cursor(hits[limit].list_seq, hits[limit]._id)
  elseif page >= 0 then -- stopped at MAX_READS: on from the positions not yet read
    next_cursor, partial = patient_list.encode_cursor((page + 1) * patient_list.PAGE, nil), true
  end
  local docs = {}
  for i = 1, math.min(#hits, limit) do
    local p, err = hits[i].doc, nil
    if not p then
      p, err = db:find_one("patients", { _id = hits[i]._id })
      if err then return nil, err end
      -- gone since, or terms its old values left: no match
      if not (p and p.workflow == wf and M.matches(fields, p, qwords)) then p = nil end
    end
    if p then docs[#docs + 1] = p end
  end
  return docs, next_cursor, partial
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

-- sova.patient_csv: a CSV file of patients read against a workflow's patient_schema: which field
-- each column is, each row's values as the API's JSON body would carry them, and each row checked
-- by schema.validate (one rule in one place: a row is valid exactly when POSTing it would be).
--
-- The header row names the fields, by key or label (case and surrounding spaces do not matter).
-- A column no field has, two columns of one field, a column with values and no name, and a
-- required field without a column are the file's errors (row 1): every row would be wrong.
-- Cells are text; a number or true/false field's cell is read as one where it reads as one (else
-- it goes to validate as text, which says what it must be), a select's matches its option
-- whatever the case, and an empty cell is a missing value (the field's default, or "required").
-- Empty lines are skipped. Rows keep the file's numbers: the header is row 1.
--
--   local t, err = patient_csv.read(fields, text, {max_rows = n})
--   -- t = {columns = {{column, field}}, rows = n, valid = {{row, doc}}, invalid = n,
--   --      errors = {{row, column, field, message}}, errors_truncated, file_error, preview}
--   -- | nil, reason, status (413 too many rows, 422 not CSV)
local csv = require("sova.csv")
local schema = require("sova.sandboxed.schema")

local M = {}

M.MAX_ERRORS = 1000 -- reported; a file with more says so (errors_truncated)

local function norm(s) return (s:lower():gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end

-- "1", "-2.5", "3e2": decimal numbers only (not "0x10", "inf", " ", "1,5")
local function number(s)
  local t = s:match("^%s*(.-)%s*$")
  if t:match("^[%+%-]?%d+%.?%d*$") or t:match("^[%+%-]?%.%d+$") or t:match("^[%+%-]?%d+%.?%d*[eE][%+%-]?%d+$") then
    return tonumber(t)
  end
  return nil
end

local BOOLEAN = { ["true"] = true, yes = true, y = true, ["1"] = true,
  ["false"] = false, no = false, n = false, ["0"] = false }

-- the cell as the field's value in a JSON body; nil when empty
local function value(field, cell)
  if not cell:find("%S") then return nil end
  if field.type == "number" then
    local n = number(cell)
    if n ~= nil then return n end
  elseif field.type == "boolean" then
    local b = BOOLEAN[norm(cell)]
    if b ~= nil then return b end
  elseif field.type == "select" and type(field.options) == "table" then
    local want = norm(cell)
    for _, o in ipairs(field.options) do
      if type(o) == "string" and norm(o) == want then return o end
    end
  end
  return cell
end

-- columns(fields, header, rows) -> cols (i -> field | nil), list ({column, field}), errors
local function columns(fields, header, rows)
  local by_name = {}
  for _, f in ipairs(fields) do
    if type(f) == "table" and type(f.key) == "string" then
      by_name[norm(f.key)] = f
      if type(f.label) == "string" and by_name[norm(f.label)] == nil then by_name[norm(f.label)] = f end
    end
  end
  local cols, list, errs, seen = {}, {}, {}, {}
  for i, name in ipairs(header) do
    local f = by_name[norm(name)]
    local label = name:match("^%s*(.-)%s*$")
    list[i] = { column = label, field = f and f.key or nil }
    if f then
      if seen[f.key] then
        list[i].field = nil
        errs[#errs + 1] = { row = 1, column = label, field = f.key,
          message = ("a second column for %s (the first is \"%s\")"):format(f.key, seen[f.key]) }
      else
        seen[f.key], cols[i] = label, f
      end
    elseif label == "" then
      for r = 2, #rows do
        if (rows[r][i] or ""):find("%S") then
          errs[#errs + 1] = { row = 1, column = ("column %d"):format(i), message = "a column with values has no name" }
          break
        end
      end
    elseif schema.SYSTEM_FIELDS[label] or schema.SYSTEM_FIELDS[norm(label)] then
      errs[#errs + 1] = { row = 1, column = label, message = "set by the platform; it cannot be imported" }
    else
      errs[#errs + 1] = { row = 1, column = label, message = "no field of this workflow is called that" }
    end
  end
  for _, f in ipairs(fields) do
    if type(f) == "table" and f.required == true and f.default == nil and not seen[f.key] then
      errs[#errs + 1] = { row = 1, column = f.label or f.key, field = f.key,
        message = "a required field has no column" }
    end
  end
  return cols, list, errs
end

-- a row's errors in its columns' order
local function row_errors(r, errs, header, cols, fields)
  local at = {}
  for i, f in pairs(cols) do at[f.key] = i end
  local out = {}
  for key, reason in pairs(errs) do
    local i = at[key]
    local label = key
    if i then
      label = header[i]:match("^%s*(.-)%s*$")
    else
      for _, f in ipairs(fields) do if f.key == key then label = f.label or key end end
    end
    out[#out + 1] = { row = r, column = label, field = key ~= schema.INPUT_ERROR_KEY and key or nil,
      message = reason, at = i or math.huge }
  end
  table.sort(out, function(a, b) return a.at < b.at or (a.at == b.at and a.column < b.column) end)
  for _, e in ipairs(out) do e.at = nil end
  return out
end

function M.read(fields, text, opts)
  if type(fields) ~= "table" then error("patient_csv.read: fields must be a table", 2) end
  opts = opts or {}
  local max_rows = opts.max_rows or 2000
  -- cells go back to the client as JSON text: only UTF-8 (Excel's plain "CSV" is Windows-1252)
  if text:find("%z") or not schema.valid_utf8(text) then
    return nil, "the file is not UTF-8 text: save it as \"CSV UTF-8\" and choose it again", 422
  end
  local rows, err, at = csv.parse(text, { delimiter = csv.sniff(text), max_rows = max_rows + 1 })
  if not rows then
    if err == csv.TOO_MANY_ROWS then
      return nil, ("at most %d rows can be imported at once (the file has more)"):format(max_rows), 413
    end
    return nil, err, 422, at
  end
  local header = rows[1]
  if not header or csv.blank(header) then return nil, "the file is empty: its first row must name the columns", 422 end

  local t = { rows = 0, valid = {}, invalid = 0, errors = {}, preview = {} }
  local function report(e)
    if #t.errors < M.MAX_ERRORS then t.errors[#t.errors + 1] = e else t.errors_truncated = true end
  end
  local cols, list, file_errs = columns(fields, header, rows)
  t.columns = list
  for _, e in ipairs(file_errs) do report(e) end
  t.file_error = #file_errs > 0

  for r = 2, #rows do
    local cells = rows[r]
    if not csv.blank(cells) then
      t.rows = t.rows + 1
      t.preview[#t.preview + 1] = { row = r, cells = cells }
      local input, bad = {}, {}
      for i = #header + 1, #cells do
        if cells[i]:find("%S") then bad[#bad + 1] = i end
      end
      for i, f in pairs(cols) do input[f.key] = value(f, cells[i] or "") end
      local doc, errs = schema.validate(fields, input, "create")
      local list_errs = doc and {} or row_errors(r, errs, header, cols, fields)
      if #bad > 0 then
        list_errs[#list_errs + 1] = { row = r, column = ("column %d"):format(bad[1]),
          message = ("this row has %d cells, the header names %d"):format(#cells, #header) }
      end
      if t.file_error or #list_errs > 0 then
        t.invalid = t.invalid + 1
        if not t.file_error then for _, e in ipairs(list_errs) do report(e) end end
      else
        t.valid[#t.valid + 1] = { row = r, doc = doc }
      end
    end
  end
  return t
end

return M

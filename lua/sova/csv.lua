-- sova.csv: CSV text -> rows of cells (RFC 4180), for imports.
--
-- Fields are separated by the delimiter (a comma unless told); a field in double quotes may
-- hold the delimiter, line breaks and doubled quotes (""); records end at CRLF, LF or a lone CR
-- (spreadsheets on every platform); a UTF-8 byte order mark at the start is dropped, and the
-- last line's break is optional. Malformed quoting (a quote inside an unquoted field, text after
-- a closing quote, a quote never closed) is refused with the row it is in: guessing would shift
-- every cell after it into the wrong column.
--
-- Rows are numbered as a spreadsheet shows them: the first record is row 1, a quoted line break
-- does not start a row, and an empty line is a row with one empty cell (kept, so the numbers
-- stay those of the file; the importer skips it).
--
--   local rows, err, row = csv.parse(text[, {delimiter = ",", max_rows = n}])
--   -- rows = { {cell, ...}, ... } | nil, "reason", row number ("too_many_rows" past max_rows)
local find, sub, gsub, byte = string.find, string.sub, string.gsub, string.byte

local M = {}

local QUOTE, CR, LF = 34, 13, 10

M.TOO_MANY_ROWS = "too_many_rows"

-- sniff(text) -> "," | ";" | "\t": the delimiter of the first line (outside quotes), by which of
-- the three it has most; a comma when it has none (a one-column file)
function M.sniff(text)
  local line = text:match("^[^\r\n]*") or ""
  line = gsub(line, '"[^"]*"', "")
  local best, most = ",", 0
  for _, d in ipairs({ ",", ";", "\t" }) do
    local _, n = gsub(line, d, "")
    if n > most then best, most = d, n end
  end
  return best
end

function M.parse(text, opts)
  if type(text) ~= "string" then error("csv.parse: text must be a string", 2) end
  opts = opts or {}
  local delim = opts.delimiter or ","
  if type(delim) ~= "string" or #delim ~= 1 or delim == '"' or delim == "\r" or delim == "\n" then
    error("csv.parse: delimiter must be one character other than a quote or a line break", 2)
  end
  local max_rows = opts.max_rows or math.huge
  local dbyte = byte(delim)
  -- the next delimiter, quote or line break in an unquoted field
  local special = "[" .. (delim:match("%w") and delim or "%" .. delim) .. '"\r\n]'

  local pos, n = 1, #text
  if sub(text, 1, 3) == "\239\187\191" then pos = 4 end
  local rows, row = {}, {}
  if pos > n then return rows end

  while true do
    local cell
    if byte(text, pos) == QUOTE then
      -- quoted: up to the quote that is not doubled
      local parts, from = {}, pos + 1
      while true do
        local q = find(text, '"', from, true)
        if not q then
          return nil, "a quoted field is never closed (it opens in row " .. (#rows + 1) .. ")", #rows + 1
        end
        parts[#parts + 1] = sub(text, from, q - 1)
        if byte(text, q + 1) == QUOTE then
          parts[#parts + 1] = '"'
          from = q + 2
        else
          pos = q + 1
          break
        end
      end
      cell = table.concat(parts)
      local b = byte(text, pos)
      if b ~= nil and b ~= dbyte and b ~= CR and b ~= LF then
        return nil, "text after a closing quote in row " .. (#rows + 1) .. " (a quote inside a field must be doubled)",
          #rows + 1
      end
    else
      local e = find(text, special, pos) or n + 1
      if byte(text, e) == QUOTE then
        return nil, "a quote inside an unquoted field in row " .. (#rows + 1) ..
          " (quote the whole field and double the quote)", #rows + 1
      end
      cell = sub(text, pos, e - 1)
      pos = e
    end
    row[#row + 1] = cell
    local b = byte(text, pos)
    if b == dbyte then
      pos = pos + 1 -- another cell follows (an empty one at the end of the text or line)
    else
      rows[#rows + 1] = row
      if #rows > max_rows then return nil, M.TOO_MANY_ROWS, #rows end
      row = {}
      if b == nil then return rows end
      pos = pos + ((b == CR and byte(text, pos + 1) == LF) and 2 or 1)
      if pos > n then return rows end
    end
  end
end

-- blank(row) -> whether every cell of the row is empty or spaces (an empty line of the file)
function M.blank(row)
  for _, c in ipairs(row) do
    if find(c, "%S") then return false end
  end
  return true
end

return M

-- sova.json: JSON for the API. Decoding refuses what a client must not send (deep nesting,
-- non-objects where objects are expected); encoding knows the core's BSON shapes: ObjectIds
-- become hex strings, dates ISO-8601 strings, and arrays stay arrays even when empty.
local cjson = require("cjson")
local bson = require("sova.core").bson

local M = {}

local decoder = cjson.new()
decoder.decode_max_depth(32)
decoder.decode_invalid_numbers(false) -- no NaN, Infinity, hex numbers

M.null = cjson.null

-- decode(text) -> value | nil, "reason"
function M.decode(text)
  if type(text) ~= "string" or text == "" then return nil, "empty body" end
  local ok, v = pcall(decoder.decode, text)
  if not ok then return nil, "malformed JSON" end
  return v
end

local quote = cjson.encode -- cjson escapes a Lua string into a JSON string literal
local concat, format, floor, huge, sort = table.concat, string.format, math.floor, math.huge, table.sort
local type, pairs, getmetatable, setmetatable, tostring, tonumber, error =
  type, pairs, getmetatable, setmetatable, tostring, tonumber, error
local is_oid, is_date, array_mt = bson.is_oid, bson.is_date, bson.array_mt
local null = cjson.null

-- Text that encode() writes as it is (see M.raw).
local raw_mt = {}

-- The encoder appends to one buffer, passing its length along (no # per piece): the bot encodes
-- every model request, log line and live message with it.
local encode_value

local function encode_table(t, out, n, depth)
  if depth > 64 then error("JSON nesting too deep", 0) end
  local mt = getmetatable(t)
  if mt ~= nil and mt ~= array_mt then -- plain tables and arrays are neither ids nor dates
    if mt == raw_mt then n = n + 1; out[n] = t[1]; return n end
    if is_oid(t) then n = n + 1; out[n] = quote(t["$oid"]); return n end
    if is_date(t) then n = n + 1; out[n] = quote(tostring(t)); return n end
  end
  local len = #t
  local sequence
  if len == 0 then
    sequence = mt == array_mt
  else
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    sequence = count == len
  end
  if sequence then
    n = n + 1; out[n] = "["
    for i = 1, len do
      if i > 1 then n = n + 1; out[n] = "," end
      n = encode_value(t[i], out, n, depth + 1)
    end
    n = n + 1; out[n] = "]"
    return n
  end
  -- sorted keys: stable output for logs and tests
  local keys, nk = {}, 0
  for k in pairs(t) do
    if type(k) ~= "string" then error("JSON object keys must be strings", 0) end
    nk = nk + 1
    keys[nk] = k
  end
  sort(keys)
  n = n + 1; out[n] = "{"
  for i = 1, nk do
    local k = keys[i]
    if i > 1 then n = n + 1; out[n] = "," end
    n = n + 1; out[n] = quote(k)
    n = n + 1; out[n] = ":"
    n = encode_value(t[k], out, n, depth + 1)
  end
  n = n + 1; out[n] = "}"
  return n
end

encode_value = function(v, out, n, depth)
  local tv = type(v)
  if tv == "string" then
    n = n + 1; out[n] = quote(v)
  elseif tv == "number" then
    if v ~= v or v == huge or v == -huge then error("cannot encode a non-finite number", 0) end
    n = n + 1
    if v == floor(v) and v > -2^53 and v < 2^53 then
      out[n] = format("%d", v)
    else
      local s = format("%.14g", v) -- short when exact enough, else the full 17 digits
      if tonumber(s) ~= v then s = format("%.17g", v) end
      out[n] = s
    end
  elseif tv == "boolean" then
    n = n + 1; out[n] = v and "true" or "false"
  elseif tv == "nil" or v == null then
    n = n + 1; out[n] = "null"
  elseif tv == "table" then
    n = encode_table(v, out, n, depth)
  else
    error("cannot encode a " .. tv, 0)
  end
  return n
end

-- encode(value) -> JSON text; raises on values JSON cannot hold
function M.encode(v)
  local out = {}
  local n = encode_value(v, out, 0, 0)
  return concat(out, "", 1, n)
end

-- raw(text) -> a value encode() writes as the JSON text given, for a part that is the same every
-- time (the caller encoded it once with encode()); raw(text)[1] is the text
function M.raw(text)
  if type(text) ~= "string" then error("json.raw: JSON text expected", 2) end
  return setmetatable({ text }, raw_mt)
end

-- array([t]) -> t marked as a JSON array (so an empty one encodes as [])
M.array = bson.array

return M

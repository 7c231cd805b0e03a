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
local concat, format, floor, huge = table.concat, string.format, math.floor, math.huge
local is_oid, is_date, array_mt = bson.is_oid, bson.is_date, bson.array_mt

local encode_value

local function is_sequence(t)
  local n = #t
  if n == 0 then return getmetatable(t) == array_mt end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode_table(t, out, depth)
  if depth > 64 then error("JSON nesting too deep", 0) end
  if is_oid(t) then out[#out + 1] = quote(t["$oid"]) return end
  if is_date(t) then out[#out + 1] = quote(tostring(t)) return end
  if is_sequence(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  -- sorted keys: stable output for logs and tests
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("JSON object keys must be strings", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = quote(k)
    out[#out + 1] = ":"
    encode_value(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "number" then
    if v ~= v or v == huge or v == -huge then error("cannot encode a non-finite number", 0) end
    if v == floor(v) and v > -2^53 and v < 2^53 then
      out[#out + 1] = format("%d", v)
    else
      local s = format("%.14g", v) -- short when exact enough, else the full 17 digits
      if tonumber(s) ~= v then s = format("%.17g", v) end
      out[#out + 1] = s
    end
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif tv == "nil" or v == cjson.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    encode_table(v, out, depth)
  else
    error("cannot encode a " .. tv, 0)
  end
end

-- encode(value) -> JSON text; raises on values JSON cannot hold
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return concat(out)
end

-- array([t]) -> t marked as a JSON array (so an empty one encodes as [])
M.array = bson.array

return M

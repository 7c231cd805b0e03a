-- sova.sandboxed.params: the JSON-Schema subset of flow function parameters.
--
-- Pure Lua 5.1 (sandbox side and trusted engine).
--   check_schema(schema) -> list of problems { message=, path= } (empty when the schema is usable)
--   validate(schema, args) -> clean args (only declared properties) | nil, reason
--
-- Supported: type object (properties, required), string (enum, format, minLength/maxLength,
-- pattern is passed through to the model but not enforced), number, integer (enum, minimum,
-- maximum), boolean, array (items, minItems, maxItems). Other keywords (description, default,
-- examples, format) are passed to the model unchanged.

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local format, match, find, floor, huge = string.format, string.match, string.find, math.floor, math.huge
local concat, sort = table.concat, table.sort

local data = require("sova.sandboxed.data")

local M = {}

M.TYPES = { string = true, number = true, integer = true, boolean = true, array = true, object = true }
M.MAX_DEPTH = 6
M.PROPERTY_NAME = "^[%a_][%w_]*$"

-- (patterns stay within the sandbox's two repetitions)
local function trim(s)
  local i = find(s, "%S")
  if not i then return "" end
  local j = #s
  while j > i and find(s, "^%s", j) do j = j - 1 end
  return s:sub(i, j)
end

local function is_finite(n) return type(n) == "number" and n == n and n ~= huge and n ~= -huge end

local function value_has_type(v, ty)
  if ty == "string" then return type(v) == "string" end
  if ty == "number" then return is_finite(v) end
  if ty == "integer" then return is_finite(v) and v == floor(v) end
  if ty == "boolean" then return type(v) == "boolean" end
  if ty == "array" then return type(v) == "table" and data.is_array(v) end
  if ty == "object" then return type(v) == "table" end
  return false
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end
M.sorted_keys = sorted_keys

local function check(s, path, depth, out, is_root)
  local function bad(msg) out[#out + 1] = { message = msg, path = path } end
  if type(s) ~= "table" then bad("must be a table (a JSON Schema)"); return end
  if depth > M.MAX_DEPTH then bad("nested too deep"); return end
  local ty = s.type
  if type(ty) ~= "string" or not M.TYPES[ty] then
    bad("type must be one of string, number, integer, boolean, array, object (got " .. tostring(ty) .. ")")
    return
  end
  if is_root and ty ~= "object" then bad("parameters must be of type \"object\""); return end
  if s.description ~= nil and type(s.description) ~= "string" then bad("description must be a string") end
  if s.enum ~= nil then
    if type(s.enum) ~= "table" or not data.is_array(s.enum) or #s.enum == 0 then
      bad("enum must be a non-empty list")
    else
      local seen = {}
      for i, v in ipairs(s.enum) do
        if not value_has_type(v, ty) or ty == "array" or ty == "object" then
          bad(format("enum value %d (%s) is not a %s", i, tostring(v), ty))
        elseif seen[v] then
          bad(format("enum value %s appears twice", tostring(v)))
        end
        seen[v] = true
      end
    end
  end
  for _, kw in ipairs({ "minimum", "maximum" }) do
    if s[kw] ~= nil and (not is_finite(s[kw]) or (ty ~= "number" and ty ~= "integer")) then
      bad(kw .. " must be a number on a number or integer parameter")
    end
  end
  for _, kw in ipairs({ "minLength", "maxLength", "minItems", "maxItems" }) do
    if s[kw] ~= nil and (not is_finite(s[kw]) or s[kw] < 0 or s[kw] ~= floor(s[kw])) then
      bad(kw .. " must be a non-negative integer")
    end
  end
  if ty == "object" then
    local props = s.properties
    if props == nil then props = {} end
    if type(props) ~= "table" then bad("properties must be a table"); return end
    for _, name in ipairs(sorted_keys(props)) do
      if type(name) ~= "string" or not match(name, M.PROPERTY_NAME) or #name > 64 then
        bad("property name " .. tostring(name) .. " must be an identifier (letters, digits, _)")
      else
        check(props[name], path .. ".properties." .. name, depth + 1, out, false)
      end
    end
    if s.required ~= nil then
      if type(s.required) ~= "table" or not data.is_array(s.required) then
        bad("required must be a list of property names")
      else
        for _, r in ipairs(s.required) do
          if type(r) ~= "string" or props[r] == nil then
            bad("required names " .. tostring(r) .. ", which is not among the properties")
          end
        end
      end
    end
  elseif ty == "array" then
    if s.items == nil then bad("array parameters need items")
    else check(s.items, path .. ".items", depth + 1, out, false) end
  end
end

-- check_schema(parameters) -> list of { message=, path= }
function M.check_schema(s)
  local out = {}
  check(s, "parameters", 1, out, true)
  return out
end

local validate

local function validate_value(s, v, path, depth)
  local ty = s.type
  if depth > M.MAX_DEPTH then return nil, path .. ": nested too deep" end
  if (ty == "number" or ty == "integer") and type(v) == "string" and #v <= 64 then
    -- digits given as a string, as some models send them: "7", " 7.5 "
    local t = trim(v)
    if match(t, "^%-?%d+%.?%d*$") and (ty == "number" or not find(t, ".", 1, true)) then v = tonumber(t) end
  end
  if not value_has_type(v, ty) then return nil, format("%s must be %s %s", path, ty == "integer" and "an" or "a", ty) end
  if s.enum then
    local found = false
    for _, o in ipairs(s.enum) do if o == v then found = true; break end end
    if not found then
      local list = {}
      for i, o in ipairs(s.enum) do list[i] = tostring(o) end
      return nil, format("%s must be one of: %s", path, concat(list, ", "))
    end
  end
  if (ty == "number" or ty == "integer") then
    if is_finite(s.minimum) and v < s.minimum then return nil, format("%s must be at least %s", path, tostring(s.minimum)) end
    if is_finite(s.maximum) and v > s.maximum then return nil, format("%s must be at most %s", path, tostring(s.maximum)) end
  elseif ty == "string" then
    if is_finite(s.maxLength) and #v > s.maxLength then return nil, format("%s is too long", path) end
    if is_finite(s.minLength) and #v < s.minLength then return nil, format("%s is too short", path) end
  elseif ty == "array" then
    if is_finite(s.maxItems) and #v > s.maxItems then return nil, format("%s has too many items", path) end
    if is_finite(s.minItems) and #v < s.minItems then return nil, format("%s has too few items", path) end
    local out = {}
    for i, item in ipairs(v) do
      local c, why = validate_value(s.items, item, path .. "[" .. i .. "]", depth + 1)
      if c == nil then return nil, why end
      out[i] = c
    end
    return out
  elseif ty == "object" then
    return validate(s, v, path, depth + 1)
  end
  return v
end

validate = function(s, args, path, depth)
  if type(args) ~= "table" then return nil, (path or "arguments") .. " must be an object" end
  local props = s.properties or {}
  local out = {}
  if type(s.required) == "table" then
    for _, r in ipairs(s.required) do
      if args[r] == nil then return nil, format("%s%s is required", path and (path .. ".") or "", r) end
    end
  end
  for _, name in ipairs(sorted_keys(props)) do
    local v = args[name]
    if v ~= nil then
      local c, why = validate_value(props[name], v, path and (path .. "." .. name) or name, depth)
      if c == nil then return nil, why end
      out[name] = c
    end
  end
  return out
end

-- validate(parameters, args) -> clean args | nil, reason. Unknown properties are dropped;
-- numbers given as digit strings are accepted for number/integer parameters.
function M.validate(s, args)
  if type(s) ~= "table" then s = { type = "object", properties = {} } end
  if args == nil then args = {} end
  return validate(s, args, nil, 1)
end

return M

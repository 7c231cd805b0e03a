-- sova.schema: the one implementation of patient-schema validation.
--
-- A workflow's patient_schema.fields (organizations.workflows[<wf>].patient_schema.fields)
-- defines every patient field. The API validates patient documents with validate(), calls
-- validate their writes (call:set) with check_field_value(), and scripts/checks validate the
-- definitions themselves with check_definition().
--
-- Pure Lua 5.1 / LuaJIT. cjson is used only for its null sentinel (cjson.null).
--
--   local schema = require("sova.sandboxed.schema")
--   local doc, errs = schema.validate(fields, input, "create" | "update")
--   local value, reason = schema.check_field_value(field, value)
--   local ok, reason = schema.check_definition(fields)

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local byte, sub, find, match, format, lower, gsub =
  string.byte, string.sub, string.find, string.match, string.format, string.lower, string.gsub
local huge, floor = math.huge, math.floor

local M = {}

local has_cjson, cjson = pcall(require, "cjson")
-- JSON null. Stored for cleared optional fields in update mode.
local NULL = has_cjson and cjson.null or setmetatable({}, { __tostring = function() return "null" end })
local ARRAY_MT = has_cjson and cjson.array_mt or nil
M.null = NULL

-- Keys the platform owns on a patient document: never settable through a patient schema.
M.SYSTEM_FIELDS = require("sova.sandboxed.vocabulary").SYSTEM_FIELD_SET

M.TYPES = {
  string = true, date = true, datetime = true, select = true,
  number = true, boolean = true, phone = true, email = true,
}

-- Key of the errors table under which problems of the input as a whole are reported.
-- It can never be a field key (field keys start with a lowercase letter).
M.INPUT_ERROR_KEY = "_input"

M.DEFAULT_MAX_LENGTH = 1000
M.MAX_INPUT_KEYS = 512          -- more keys than this in one document: refused as a whole

local DEFAULT_MAX_LENGTH = M.DEFAULT_MAX_LENGTH
local PHONE_REASON = "phone must be E.164, e.g. +15165551234"
local EMAIL_REASON = "must be a valid email address"
local DATE_REASON = "must be a valid date (YYYY-MM-DD)"
local DATETIME_REASON = "must be a valid date and time (YYYY-MM-DDTHH:MM)"

---------------------------------------------------------------------------------------------
-- helpers

local function is_null(v)
  return v == nil or v == NULL
end

-- nil, JSON null, or a string of only whitespace
local function is_empty(v)
  if v == nil or v == NULL then return true end
  return type(v) == "string" and not find(v, "%S")
end

local function is_space(b)
  return b == 32 or (b >= 9 and b <= 13)
end

-- linear-time trim (the pattern "^%s*(.-)%s*$" can backtrack quadratically)
local function trim(s)
  local i = find(s, "%S")
  if not i then return "" end
  local j = #s
  while j > i and is_space(byte(s, j)) do j = j - 1 end
  if i == 1 and j == #s then return s end
  return sub(s, i, j)
end

-- well-formed UTF-8: no overlongs, no surrogates, nothing above U+10FFFF
local function valid_utf8(s)
  if not find(s, "[\128-\255]") then return true end
  local i, n = 1, #s
  while i <= n do
    local c = byte(s, i)
    if c < 0x80 then
      i = i + 1
    else
      local len, lo, hi = 0, 0x80, 0xBF
      if c >= 0xC2 and c <= 0xDF then len = 1
      elseif c == 0xE0 then len, lo = 2, 0xA0
      elseif c >= 0xE1 and c <= 0xEC then len = 2
      elseif c == 0xED then len, hi = 2, 0x9F
      elseif c >= 0xEE and c <= 0xEF then len = 2
      elseif c == 0xF0 then len, lo = 3, 0x90
      elseif c >= 0xF1 and c <= 0xF3 then len = 3
      elseif c == 0xF4 then len, hi = 3, 0x8F
      else return false end
      if i + len > n then return false end
      local c2 = byte(s, i + 1)
      if c2 < lo or c2 > hi then return false end
      for k = 2, len do
        local ck = byte(s, i + k)
        if ck < 0x80 or ck > 0xBF then return false end
      end
      i = i + len + 1
    end
  end
  return true
end

-- common checks of text input: returns the trimmed string, or nil and a reason
M.valid_utf8 = valid_utf8

local function clean_text(s)
  if find(s, "%z") then return nil, "must not contain NUL bytes" end
  if find(s, "[\1-\8\11\12\14-\31\127]") then return nil, "must not contain control characters" end
  if not valid_utf8(s) then return nil, "must be valid UTF-8 text" end
  return trim(s)
end

local function num2str(n)
  if n == floor(n) and n > -1e15 and n < 1e15 then return format("%d", n) end
  return format("%.14g", n)
end

local function wrong_type(ftype)
  if ftype == "email" then return "must be an email" end
  return "must be a " .. tostring(ftype)
end

local function is_leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function valid_ymd(y, m, d)
  if y < 1 or m < 1 or m > 12 or d < 1 then return false end
  local dim = MONTH_DAYS[m]
  if m == 2 and is_leap(y) then dim = 29 end
  return d <= dim
end

-- "YYYY-MM-DD" or "MM/DD/YYYY" (month and day may have one digit) -> y, m, d numbers
local function parse_date(s)
  local y, m, d = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then
    m, d, y = match(s, "^(%d%d?)/(%d%d?)/(%d%d%d%d)$")
  end
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not valid_ymd(y, m, d) then return nil end
  return y, m, d
end

-- ISO 8601 zone designator: "" | "Z" | "+HH:MM" | "+HHMM" | "+HH" -> normalized or nil
local function parse_zone(z)
  if z == "" then return "" end
  if z == "Z" or z == "z" then return "Z" end
  local sign, hh, mm = match(z, "^([%+%-])(%d%d):?(%d%d)$")
  if not sign then
    sign, hh = match(z, "^([%+%-])(%d%d)$")
    mm = "00"
  end
  if not sign then return nil end
  if tonumber(hh) > 14 or tonumber(mm) > 59 then return nil end
  return sign .. hh .. ":" .. mm
end

-- returns the normalized datetime string or nil
local function parse_datetime(s)
  local y, mo, d, h, mi, rest = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d)(.*)$")
  local sec, zone = "00", ""
  if y then
    local ss, rest2 = match(rest, "^:(%d%d)(.*)$")
    if ss then
      sec = ss
      rest = match(rest2, "^[%.,]%d+(.*)$") or rest2   -- fractional seconds: accepted, dropped
    end
    zone = parse_zone(rest)
    if not zone then return nil end
  else
    -- US style, as staff type it: "12/01/2024 02:30 PM", "12/1/2024 14:30"
    local ampm
    -- (two repetitions at most: flows run this in the sandbox, which caps pattern backtracking)
    mo, d, y, h, mi, ampm = match(s, "^(%d%d?)/(%d%d?)/(%d%d%d%d)%s+(%d%d?):(%d%d)(.*)$")
    if not y then return nil end
    ampm = trim(ampm)
    h = tonumber(h)
    if ampm ~= "" then
      local ap = match(lower(ampm), "^([ap])%.?m%.?$")
      if not ap or h < 1 or h > 12 then return nil end
      if ap == "a" then h = (h == 12) and 0 or h else h = (h == 12) and 12 or h + 12 end
    end
  end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if not valid_ymd(y, mo, d) or h > 23 or mi > 59 or sec > 59 then return nil end
  return format("%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec) .. zone
end

local EMAIL_LOCAL_CHARS = "^[%w!#%$%%&'%*%+/=%?%^_`{|}~%.%-]+$"

local function normalize_email(s)
  if #s > 254 then return nil, "must be at most 254 characters" end
  local loc, dom = match(s, "^([^@]+)@([^@]+)$")
  if not loc then return nil, EMAIL_REASON end
  if #loc > 64 or not match(loc, EMAIL_LOCAL_CHARS)
     or sub(loc, 1, 1) == "." or sub(loc, -1) == "." or find(loc, "..", 1, true) then
    return nil, EMAIL_REASON
  end
  dom = lower(dom)
  if #dom > 253 then return nil, EMAIL_REASON end
  local labels = 0
  local last
  for label in (dom .. "."):gmatch("([^%.]*)%.") do
    if #label < 1 or #label > 63 or not match(label, "^[a-z0-9%-]+$")
       or sub(label, 1, 1) == "-" or sub(label, -1) == "-" then
      return nil, EMAIL_REASON
    end
    labels = labels + 1
    last = label
  end
  if labels < 2 or not find(last, "%a") then return nil, EMAIL_REASON end
  return loc .. "@" .. dom
end

---------------------------------------------------------------------------------------------
-- value checkers: (field, non-empty value) -> normalized | nil, reason

local check = {}

check.string = function(field, v)
  if type(v) ~= "string" then return nil, wrong_type("string") end
  local s, reason = clean_text(v)
  if not s then return nil, reason end
  local max = field.max_length or DEFAULT_MAX_LENGTH
  if #s > max then return nil, format("must be at most %d characters", max) end
  return s
end

check.date = function(_, v)
  if type(v) ~= "string" then return nil, wrong_type("date") end
  local y, m, d = parse_date(trim(v))
  if not y then return nil, DATE_REASON end
  return format("%04d-%02d-%02d", y, m, d)
end

check.datetime = function(_, v)
  if type(v) ~= "string" then return nil, wrong_type("datetime") end
  if #v > 64 then return nil, DATETIME_REASON end
  local out = parse_datetime(trim(v))
  if not out then return nil, DATETIME_REASON end
  return out
end

check.select = function(field, v)
  local options = field.options
  if type(options) ~= "table" then return nil, "select field has no options" end
  if type(v) == "string" then
    for _, o in ipairs(options) do
      if v == o then return v end
    end
  end
  local list = {}
  for i, o in ipairs(options) do list[i] = tostring(o) end
  return nil, "must be one of: " .. table.concat(list, ", ")
end

check.number = function(field, v)
  if type(v) ~= "number" then return nil, wrong_type("number") end
  if v ~= v or v == huge or v == -huge then return nil, "must be a finite number" end
  if type(field.min) == "number" and v < field.min then
    return nil, "must be at least " .. num2str(field.min)
  end
  if type(field.max) == "number" and v > field.max then
    return nil, "must be at most " .. num2str(field.max)
  end
  return v
end

check.boolean = function(_, v)
  if type(v) ~= "boolean" then return nil, wrong_type("boolean") end
  return v
end

check.phone = function(_, v)
  if type(v) ~= "string" then return nil, wrong_type("phone") end
  if #v > 64 then return nil, PHONE_REASON end
  local p = gsub(trim(v), "[ %-%(%)%.]", "")
  if not match(p, "^%+[1-9]%d+$") or #p < 9 or #p > 16 then return nil, PHONE_REASON end
  return p
end

check.email = function(_, v)
  if type(v) ~= "string" then return nil, wrong_type("email") end
  if #v > 1024 then return nil, "must be at most 254 characters" end
  local s, reason = clean_text(v)
  if not s then return nil, reason end
  return normalize_email(s)
end

---------------------------------------------------------------------------------------------
-- public API

-- Checks one value against one field definition.
-- Returns the normalized value; NULL (cjson.null) when an optional field is cleared
-- (value nil, null or blank); or nil and a short reason.
function M.check_field_value(field, value)
  if type(field) ~= "table" then error("schema.check_field_value: field must be a table", 2) end
  if is_empty(value) then
    if field.required == true then return nil, "required" end
    return NULL
  end
  local checker = check[field.type]
  if not checker then return nil, "unknown field type " .. tostring(field.type) end
  return checker(field, value)
end

local function bad_key(k)
  return sub(k, 1, 1) == "$" or find(k, ".", 1, true) ~= nil or find(k, "%z") ~= nil
end

-- Validates a patient document (or the changed part of one) against a workflow's fields.
-- mode "create": every required field must be present and non-empty; fields missing (or
--   null/blank) get their `default` if they have one, else are omitted.
-- mode "update": only the given keys are checked; an optional field given null or blank is
--   cleared (cjson.null in the result); a required one refuses with "required".
-- Returns the clean document (schema keys only, normalized values), or nil and
-- errors = { [key] = reason } (errors[schema.INPUT_ERROR_KEY] for the input as a whole).
function M.validate(fields, input, mode)
  if mode ~= "create" and mode ~= "update" then
    error("schema.validate: mode must be \"create\" or \"update\"", 2)
  end
  if type(fields) ~= "table" then error("schema.validate: fields must be a table", 2) end

  if type(input) ~= "table" or (ARRAY_MT and getmetatable(input) == ARRAY_MT) then
    return nil, { [M.INPUT_ERROR_KEY] = "must be a JSON object" }
  end
  local count = 0
  for k in pairs(input) do
    if type(k) ~= "string" then
      return nil, { [M.INPUT_ERROR_KEY] = "must be a JSON object" }
    end
    count = count + 1
    if count > M.MAX_INPUT_KEYS then
      return nil, { [M.INPUT_ERROR_KEY] = "too many fields" }
    end
  end

  local by_key = {}
  for _, f in ipairs(fields) do
    if type(f) == "table" and type(f.key) == "string" then by_key[f.key] = f end
  end

  local doc, errs, has_err = {}, {}, false
  for k, v in pairs(input) do
    local f = by_key[k]
    local reason
    if bad_key(k) then
      reason = "invalid field name"
    elseif M.SYSTEM_FIELDS[k] then
      reason = "system field, not settable"
    elseif not f then
      reason = "unknown field"
    elseif is_empty(v) then
      if mode == "update" then
        if f.required == true then reason = "required" else doc[k] = NULL end
      end
      -- create: treated as missing (default / required handled below)
    else
      local out
      out, reason = M.check_field_value(f, v)
      if out ~= nil then doc[k] = out end
    end
    if reason then errs[k] = reason; has_err = true end
  end

  if mode == "create" then
    for _, f in ipairs(fields) do
      local k = type(f) == "table" and f.key
      if type(k) == "string" and doc[k] == nil and errs[k] == nil then
        if f.default ~= nil and not is_empty(f.default) then
          local out, reason = M.check_field_value(f, f.default)
          if out ~= nil then doc[k] = out else errs[k] = "invalid default: " .. reason; has_err = true end
        elseif f.required == true then
          errs[k] = "required"; has_err = true
        end
      end
    end
  end

  if has_err then return nil, errs end
  return doc, nil
end

---------------------------------------------------------------------------------------------
-- definitions

-- The attributes a field definition may have (schemas/patient_schema_field.schema.json names
-- the same: spec/unit/field_definition_schema_spec.lua).
M.FIELD_ATTRIBUTES = {
  key = true, label = true, type = true, required = true, display_in_list = true,
  display_order = true, options = true, default = true, min = true, max = true,
  max_length = true, placeholder = true, help = true,
}

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k ~= floor(k) then return false end
    n = n + 1
  end
  return n == #t, n
end

local function is_finite(n)
  return type(n) == "number" and n == n and n ~= huge and n ~= -huge
end

M.KEY_PATTERN = "^[a-z][a-z0-9_]*$"   -- plus: at most 64 characters

function M.valid_key(k)
  return type(k) == "string" and #k <= 64 and match(k, M.KEY_PATTERN) ~= nil
end

local function check_one_definition(f)
  if type(f) ~= "table" then return "must be an object" end
  for attr in pairs(f) do
    if type(attr) ~= "string" or not M.FIELD_ATTRIBUTES[attr] then
      return "unknown attribute " .. tostring(attr)
    end
  end
  if not M.valid_key(f.key) then return "key must match ^[a-z][a-z0-9_]{0,63}$" end
  if M.SYSTEM_FIELDS[f.key] then return "key is a system field" end
  if type(f.label) ~= "string" or not find(f.label, "%S") or #f.label > 200 then
    return "label must be a non-empty string (at most 200 characters)"
  end
  if type(f.type) ~= "string" or not M.TYPES[f.type] then
    return "unknown type " .. tostring(f.type)
  end
  for _, attr in ipairs({ "required", "display_in_list" }) do
    if f[attr] ~= nil and type(f[attr]) ~= "boolean" then return attr .. " must be true or false" end
  end
  if f.display_order ~= nil then
    local o = f.display_order
    if not is_finite(o) or o < 0 or o ~= floor(o) then
      return "display_order must be a non-negative integer"
    end
  end
  for _, attr in ipairs({ "placeholder", "help" }) do
    if f[attr] ~= nil and (type(f[attr]) ~= "string" or #f[attr] > 500) then
      return attr .. " must be a string (at most 500 characters)"
    end
  end

  if f.type == "select" then
    local ok, n = is_array(f.options)
    if not ok or n == 0 then return "select needs a non-empty options list" end
    local seen = {}
    for _, o in ipairs(f.options) do
      if type(o) ~= "string" or not find(o, "%S") or #o > 200 or clean_text(o) ~= o then
        return "options must be non-empty strings without surrounding spaces"
      end
      if seen[o] then return "duplicate option " .. o end
      seen[o] = true
    end
  elseif f.options ~= nil then
    return "options are only allowed on select fields"
  end

  if f.type == "number" then
    if f.min ~= nil and not is_finite(f.min) then return "min must be a number" end
    if f.max ~= nil and not is_finite(f.max) then return "max must be a number" end
    if f.min ~= nil and f.max ~= nil and f.min > f.max then return "min must not exceed max" end
  elseif f.min ~= nil or f.max ~= nil then
    return "min/max are only allowed on number fields"
  end

  if f.type == "string" then
    local ml = f.max_length
    if ml ~= nil and (not is_finite(ml) or ml ~= floor(ml) or ml < 1 or ml > 100000) then
      return "max_length must be an integer from 1 to 100000"
    end
  elseif f.max_length ~= nil then
    return "max_length is only allowed on string fields"
  end

  if f.default ~= nil then
    if f.type == "select" then
      local found = false
      for _, o in ipairs(f.options) do if o == f.default then found = true end end
      if not found then return "default must be one of the options" end
    else
      if is_empty(f.default) then return "default must not be null or empty" end
      local out, reason = M.check_field_value(f, f.default)
      if out == nil then return "invalid default: " .. reason end
    end
  end
  return nil
end

-- Validates a patient schema definition (the fields array).
-- Returns true, or nil and a reason naming the offending field.
function M.check_definition(fields)
  local ok, n = is_array(fields)
  if not ok or n == 0 then return nil, "fields must be a non-empty array" end
  local seen = {}
  for i, f in ipairs(fields) do
    local reason = check_one_definition(f)
    local name = (type(f) == "table" and type(f.key) == "string") and format("field %d (%s)", i, f.key)
      or format("field %d", i)
    if reason then return nil, name .. ": " .. reason end
    if seen[f.key] then return nil, name .. ": duplicate key" end
    seen[f.key] = true
  end
  return true
end

return M

-- sova.sandboxed.template: `{{field}}` templates of flows (role, task, say lines, actions).
--
-- Pure Lua 5.1 (runs inside a call's sandbox): string/table/math only, subjects well under the
-- sandbox's 8 KiB pattern-subject cap (texts longer than MAX_TEMPLATE are reported by flow.check).
--
--   {{patient_name}}            the field's value
--   {{date_of_birth|date}}      "March 15, 1985"           (date or datetime values)
--   {{appointment_time|time}}   "2:30 PM"                  (datetime values)
--   {{appointment_time|datetime}} "December 1, 2026 at 2:30 PM"
--   {{reference_number|spell}}  "A U T H 1 2 3"            (reading codes back, character by character)
--
-- A reference whose value is nil, or whose filter is unknown, stays visible as written
-- ("{{x}}") and is returned in the list of unresolved names; flow.check reports such references
-- before a flow ever runs.

local type, tostring, floor = type, tostring, math.floor
local find, sub, match, format, upper, lower =
  string.find, string.sub, string.match, string.format, string.upper, string.lower
local concat = table.concat

local M = {}

M.MAX_TEMPLATE = 8192

local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December" }

local function spoken_date(v)
  local y, m, d = match(v, "^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  if not y then return nil end
  m = tonumber(m)
  if not MONTHS[m] then return nil end
  return format("%s %d, %d", MONTHS[m], tonumber(d), tonumber(y))
end

local function spoken_time(v)
  local h, mi = match(v, "^%d%d%d%d%-%d%d%-%d%d[T ](%d%d):(%d%d)")
  if not h then return nil end
  h, mi = tonumber(h), tonumber(mi)
  local ap = h >= 12 and "PM" or "AM"
  local h12 = h % 12
  if h12 == 0 then h12 = 12 end
  if mi == 0 then return format("%d %s", h12, ap) end
  return format("%d:%02d %s", h12, mi, ap)
end

M.FILTERS = {
  date = function(v) return spoken_date(v) or v end,
  time = function(v) return spoken_time(v) or v end,
  datetime = function(v)
    local d, t = spoken_date(v), spoken_time(v)
    if d and t then return d .. " at " .. t end
    return d or v
  end,
  spell = function(v)
    local out = {}
    for i = 1, #v do
      local c = sub(v, i, i)
      if find(c, "%w") then out[#out + 1] = upper(c) end
    end
    return concat(out, " ")
  end,
  upper = function(v) return upper(v) end,
  lower = function(v) return lower(v) end,
}

-- A value as text: numbers without a trailing ".0", booleans as yes/no.
function M.to_text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if v == floor(v) and v > -1e15 and v < 1e15 then return format("%d", v) end
    return format("%.14g", v)
  end
  if t == "boolean" then return v and "yes" or "no" end
  return nil
end

-- (the sandbox refuses patterns with more than two repetitions: keep each pattern simple)
local function trim(s)
  local i = find(s, "%S")
  if not i then return "" end
  local j = #s
  while j > i and find(sub(s, j, j), "%s") do j = j - 1 end
  return sub(s, i, j)
end

local IDENT = "^[%a_][%w_]*$"

-- parse one "{{ ... }}" inner text -> name, filter | nil
local function parse_ref(inner)
  local bar = find(inner, "|", 1, true)
  local name = trim(bar and sub(inner, 1, bar - 1) or inner)
  if not match(name, IDENT) then return nil end
  if not bar then return name, nil end
  local filter = trim(sub(inner, bar + 1))
  if not match(filter, IDENT) then return nil end
  return name, filter
end

-- refs(template) -> list of { name=, filter=, raw= }, list of problems (strings)
-- Problems: an unclosed "{{", or a reference that is not `name` or `name|filter`.
function M.refs(s)
  local refs, problems = {}, {}
  if type(s) ~= "string" then return refs, problems end
  local pos = 1
  while true do
    local a = find(s, "{{", pos, true)
    if not a then break end
    local b = find(s, "}}", a + 2, true)
    if not b then
      local from = a > 20 and a - 20 or 1
      local before = match(sub(s, from, a - 1), "([^\n]*)$") or ""
      problems[#problems + 1] = { message = "unclosed \"{{\"", raw = before .. match(sub(s, a, a + 20), "^[^\n]*") }
      break
    end
    local raw = sub(s, a, b + 1)
    local name, filter = parse_ref(sub(s, a + 2, b - 1))
    if name then
      refs[#refs + 1] = { name = name, filter = filter, raw = raw }
    else
      problems[#problems + 1] = { message = "malformed reference " .. raw .. " (write {{field}} or {{field|filter}})", raw = raw }
    end
    pos = b + 2
  end
  return refs, problems
end

-- render(template, values) -> text, unresolved (list of names left visible)
-- values: map name -> string | number | boolean. A name whose value is nil stays visible.
function M.render(s, values)
  if type(s) ~= "string" then return "", {} end
  if not find(s, "{{", 1, true) then return s, {} end
  values = values or {}
  local out, unresolved = {}, {}
  local pos = 1
  while true do
    local a = find(s, "{{", pos, true)
    if not a then out[#out + 1] = sub(s, pos); break end
    local b = find(s, "}}", a + 2, true)
    if not b then out[#out + 1] = sub(s, pos); break end
    out[#out + 1] = sub(s, pos, a - 1)
    local raw = sub(s, a, b + 1)
    local name, filter = parse_ref(sub(s, a + 2, b - 1))
    local text = name and M.to_text(values[name])
    if text and filter then
      local fn = M.FILTERS[filter]
      text = fn and fn(text) or nil
    end
    if text then
      out[#out + 1] = text
    else
      out[#out + 1] = raw
      unresolved[#unresolved + 1] = name or raw
    end
    pos = b + 2
  end
  return concat(out), unresolved
end

return M

-- Reads Prometheus' text exposition format as a scraper would, strictly: every sample line must
-- parse and belong to a family whose # TYPE came first, label values unescaped. Raises on
-- anything a scraper would refuse.
local M = {}

local function parse_labels(s, line)
  local labels, i = {}, 1
  while i <= #s do
    local name, rest = s:match("^([%a_][%w_]*)=\"()", i)
    if not name then error("bad labels in: " .. line, 3) end
    i = rest
    local value = {}
    while true do
      local c = s:sub(i, i)
      if c == "" then error("unterminated label value in: " .. line, 3) end
      if c == "\\" then
        local n = s:sub(i + 1, i + 1)
        value[#value + 1] = n == "n" and "\n" or n
        i = i + 2
      elseif c == "\"" then
        i = i + 1
        break
      else
        value[#value + 1] = c
        i = i + 1
      end
    end
    labels[name] = table.concat(value)
    if s:sub(i, i) == "," then i = i + 1 elseif i <= #s then error("bad labels in: " .. line, 3) end
  end
  return labels
end

--- text -> {types = {family = kind}, samples = {{name, labels, value}}}
function M.parse(text)
  local types, samples = {}, {}
  for line in text:gmatch("[^\n]+") do
    local family, kind = line:match("^# TYPE ([%a_:][%w_:]*) (%a+)$")
    if family then
      types[family] = kind
    elseif not line:match("^# HELP [%a_:][%w_:]* ") then
      local name, labels, value = line:match("^([%a_:][%w_:]*){(.*)} (%S+)$")
      if not name then
        name, value = line:match("^([%a_:][%w_:]*) (%S+)$")
        labels = ""
      end
      if not name then error("not a sample line: " .. line, 2) end
      local v = tonumber(value) or (value == "+Inf" and math.huge) or error("not a value: " .. line, 2)
      local base = name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
      if not types[name] and not (types[base] == "histogram") then error("sample before its # TYPE: " .. line, 2) end
      samples[#samples + 1] = { name = name, labels = parse_labels(labels, line), value = v }
    end
  end
  return { types = types, samples = samples }
end

local function matches(labels, want)
  for k, v in pairs(want or {}) do if labels[k] ~= tostring(v) then return false end end
  return true
end

--- The sum of the samples called name whose labels include want's (nil: none such).
function M.value(m, name, want)
  local sum
  for _, s in ipairs(m.samples) do
    if s.name == name and matches(s.labels, want) then sum = (sum or 0) + s.value end
  end
  return sum
end

--- The samples called name whose labels include want's.
function M.series(m, name, want)
  local out = {}
  for _, s in ipairs(m.samples) do
    if s.name == name and matches(s.labels, want) then out[#out + 1] = s end
  end
  return out
end

return M

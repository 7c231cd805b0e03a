-- sova.flow.checker: `sova flow check` for a flow directory (trusted side, NOT for the sandbox:
-- it reads files and loads the flow through sova.call.plain_host).
--
--   local checker = require("sova.flow.checker")
--   local problems = checker.check_dir("clients/demo_clinic_alpha/prior_auth", fields)
--   -- { { file = ".../flow_definition.lua", line = 12 | nil, message = "..." }, ... } sorted by line
--   checker.format(problems) -> "file:line: message\n..."
--   checker.locate(source, problem) -> line | nil  (for problems of flow.check run elsewhere,
--                                                   e.g. inside the C sandbox)
--
-- flow.check runs without a debug library, so lines are found the simple, honest way: the line
-- of the first occurrence of the problem's token in the source (a quoted field or node name,
-- the template text "{{x}}", an unknown key), else of the last name in the problem's path.

local plain_host = require("sova.call.plain_host")

local M = {}

local read_file = require("sova.config").read_file

local function line_of(source, pos)
  local n = 1
  for _ in source:sub(1, pos - 1):gmatch("\n") do n = n + 1 end
  return n
end

-- first occurrence of needle outside `--` comment lines -> line | nil
local function find_line(source, needle)
  if type(needle) ~= "string" or needle == "" then return nil end
  local init = 1
  while true do
    local a = source:find(needle, init, true)
    if not a then return nil end
    local bol = a
    while bol > 1 and source:sub(bol - 1, bol - 1) ~= "\n" do bol = bol - 1 end
    local before = source:sub(bol, a - 1)
    if not before:find("%-%-") then return line_of(source, a) end
    init = a + 1
  end
end

-- locate(source, problem) -> line | nil
function M.locate(source, problem)
  if type(source) ~= "string" or type(problem) ~= "table" then return nil end
  local token = problem.token
  local line = find_line(source, token)
  if not line and type(token) == "string" and token:sub(1, 1) == '"' and token:sub(-1) == '"' then
    line = find_line(source, "'" .. token:sub(2, -2) .. "'")
  end
  if not line and type(token) == "string" and token:match("^[%a_][%w_]*$") then
    line = find_line(source, token .. " =") or find_line(source, token .. "=")
  end
  if not line and type(problem.where) == "string" then
    -- "nodes.greeting.functions[2] (rep_ready).parameters" -> try rep_ready, then greeting
    local names = {}
    for name in problem.where:gmatch("%(([%w_%-]+)%)") do names[#names + 1] = '"' .. name .. '"' end
    for name in problem.where:gmatch("nodes%.([%w_]+)") do names[#names + 1] = name .. " =" end
    for _, n in ipairs(names) do
      line = find_line(source, n)
      if line then break end
    end
  end
  return line
end

-- check_dir(dir, fields) -> list of { file=, line=, message= } (empty: the flow is fine)
--   fields: the workflow's patient_schema.fields (list) or a map key -> definition
function M.check_dir(dir, fields)
  local file = dir:gsub("/+$", "") .. "/flow_definition.lua"
  local source = read_file(file)
  if not source then return { { file = file, message = "flow_definition.lua not found" } } end
  local host, err = plain_host.load(file)
  if not host then
    local msg = tostring(err.message):gsub("^[^\n]-:%d+: ", "")
    return { { file = file, line = err.line, message = msg } }
  end
  local ok, problems = pcall(host.flow.check, host.def, fields)
  if not ok then return { { file = file, message = "flow.check failed: " .. tostring(problems) } } end
  local out = {}
  for i, p in ipairs(problems) do
    out[#out + 1] = { file = file, line = M.locate(source, p), message = p.message, where = p.where, i = i }
  end
  table.sort(out, function(a, b)
    local la, lb = a.line or math.huge, b.line or math.huge
    if la ~= lb then return la < lb end
    return a.i < b.i
  end)
  for _, p in ipairs(out) do p.i = nil end
  return out
end

-- format(problems) -> "file:line: message" lines
function M.format(problems)
  local lines = {}
  for _, p in ipairs(problems) do
    lines[#lines + 1] = string.format("%s:%s: %s", p.file, p.line and tostring(p.line) or "?", p.message)
  end
  return table.concat(lines, "\n")
end

return M

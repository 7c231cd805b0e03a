-- sova.tools.flow_check: what `sova flow check` finds in a flow directory (trusted side: it
-- reads files). The flow loads in the call sandbox (sova.call.sandbox_host), as in a real call,
-- so whatever the sandbox refuses (a library it lacks, a trusted module, a pattern over its caps)
-- is a problem here too; flow.check then runs in there against the workflow's schema.
--
--   local checker = require("sova.tools.flow_check")
--   local problems, sha256 = checker.check_dir("clients/demo_clinic_alpha/prior_auth", fields)
--   -- { { file = ".../flow_definition.lua", line = 12 | nil, message = "..." }, ... } sorted by line;
--   -- sha256: of the flow file, when it loaded
--   checker.format(problems) -> "file:line: message\n..."
--   checker.locate(source, problem) -> line | nil
--
-- flow.check runs without a debug library, so lines are found the simple, honest way: the line
-- of the first occurrence of the problem's token in the source (a quoted field or node name,
-- the template text "{{x}}", an unknown key), else of the last name in the problem's path.

local sandbox_host = require("sova.call.sandbox_host")

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

-- A failure of the sandbox ({kind, message, source?, line?}) as a problem: in the flow file, in
-- a module of the flow's directory (source "helper.lua"), or in a platform module.
local function failure(dir, file, err)
  local message, source, line = tostring(err.message), err.source, err.line
  if not source then -- a syntax error: "path:line: ..." in the message
    local at, n = message:match("^([^\n:]+):(%d+): ")
    source, line = at, line or tonumber(n)
  end
  message = message:gsub("^[^\n:]+:%d+: ", "")
  if source and message:sub(1, #source + 2) == source .. ": " then message = message:sub(#source + 3) end
  if source == nil or source == file then
    source = file
  elseif source:match("^[%w_]+%.lua$") then
    source = dir .. "/" .. source
  end
  return { file = source, line = line, message = message }
end

-- check_dir(dir, fields) -> list of { file=, line=, message= } (empty: the flow is fine), sha256
--   fields: the workflow's patient_schema.fields (list) or a map key -> definition
function M.check_dir(dir, fields)
  dir = dir:gsub("/+$", "")
  local file = dir .. "/flow_definition.lua"
  local source, why = read_file(file)
  if not source then return { { file = file, message = "flow_definition.lua cannot be read: " .. tostring(why) } } end
  local host, err = sandbox_host.new(dir)
  if not host then return { failure(dir, file, err) } end
  local problems, cerr = host:check(fields)
  host:close()
  if not problems then return { failure(dir, file, cerr) }, host.sha256 end
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
  return out, host.sha256
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

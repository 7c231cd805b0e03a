-- sova.call.plain_host: a flow host for specs and development (trusted side).
--
-- Loads clients/<org>/<workflow>/flow_definition.lua with plain loadfile + setfenv into an
-- environment holding only what the production sandbox (core/lua/sandbox.c) offers: the base
-- functions, string (no dump; find/match/gmatch/gsub refuse subjects over 8 KiB and patterns
-- over 128 bytes), table, math; read-only globals; require limited to sova.flow, sova.schema,
-- sova.flow.<pure submodule> and modules in the flow's own directory. Each host loads its own
-- copies of those modules, as each call's sandbox does. It is NOT a security boundary (no memory
-- or instruction limits, shared string metatable): the bot uses the C sandbox.
--
--   local host, err = plain_host.load("clients/demo_clinic_alpha/prior_auth")  -- dir or file
--   host:describe()                                   -> flow description (plain data)
--   host:run_handler(node, fn, args, state)           -> effects | nil, { message = ... }
--   host.def, host.flow (the flow's own sova.flow), host.path, host.source

local data = require("sova.flow.data")

local M = {}

M.MAX_SUBJECT = 8192
M.MAX_PATTERN = 128
M.MAX_QUANTIFIERS = 2      -- *, + and - outside %-escapes, as core/lua/sandbox.c counts them

local function count_quantifiers(p)
  local n, i = 0, 1
  while i <= #p do
    local c = p:sub(i, i)
    if c == "%" then i = i + 1
    elseif c == "*" or c == "+" or c == "-" then n = n + 1 end
    i = i + 1
  end
  return n
end
M.count_quantifiers = count_quantifiers

local BASE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
               "tostring", "type", "unpack", "rawequal", "rawget", "setmetatable", "getmetatable" }
-- (no rawset, as in the sandbox: it would write through read-only views)

-- pure submodules of sova.flow a flow may require (the trusted checker is not one of them)
M.FLOW_SUBMODULES = { template = true, data = true, params = true }

local function capped_string()
  local s = {}
  for k, v in pairs(string) do s[k] = v end
  s.dump = nil
  for _, name in ipairs({ "find", "match", "gmatch", "gsub" }) do
    local f = string[name]
    s[name] = function(subject, pattern, ...)
      if type(subject) == "string" and #subject > M.MAX_SUBJECT then
        error("string." .. name .. ": subject longer than " .. M.MAX_SUBJECT .. " bytes", 2)
      end
      if type(pattern) == "string" and #pattern > M.MAX_PATTERN then
        error("string." .. name .. ": pattern longer than " .. M.MAX_PATTERN .. " bytes", 2)
      end
      if type(pattern) == "string" and count_quantifiers(pattern) > M.MAX_QUANTIFIERS then
        error("string." .. name .. ": pattern has more than " .. M.MAX_QUANTIFIERS .. " repetitions (*, +, -)", 2)
      end
      return f(subject, pattern, ...)
    end
  end
  return s
end

local function copy_lib(lib)
  local t = {}
  for k, v in pairs(lib) do t[k] = v end
  return t
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  return text
end

-- the environment of one flow: fresh module instances, read-only globals
local function make_env(dir)
  local G = {}
  for _, k in ipairs(BASE) do G[k] = _G[k] end
  G.string = capped_string()
  G.table = copy_lib(table)
  G.math = copy_lib(math)
  local env = setmetatable({}, {
    __index = G,
    __newindex = function(_, k)
      error("globals are read-only in a flow (assignment to " .. tostring(k) .. "); use local", 2)
    end,
    __metatable = false,
  })
  local loaded, loading = {}, {}
  G.require = function(name)
    if type(name) ~= "string" then error("require: module name must be a string", 2) end
    if loaded[name] ~= nil then return loaded[name] end
    local path
    local sub = name:match("^sova%.flow%.([%w_]+)$")
    if name == "sova.flow" or name == "sova.schema" or name == "sova.sandboxed.vocabulary"
       or (sub and M.FLOW_SUBMODULES[sub]) then
      path = package.searchpath(name, package.path)
    elseif name:match("^[%w_]+$") then
      path = dir .. "/" .. name .. ".lua"
    end
    if not path then error("require: module '" .. name .. "' is not available to flows", 2) end
    if loading[name] then error("require: module '" .. name .. "' requires itself", 2) end
    local chunk, err = loadfile(path)
    if not chunk then error("require '" .. name .. "': " .. tostring(err), 2) end
    setfenv(chunk, env)
    loading[name] = true
    local ok, mod = pcall(chunk, name)
    loading[name] = nil
    if not ok then error(mod, 0) end
    if mod == nil then mod = true end
    loaded[name] = mod
    return mod
  end
  return env, G
end

local Host = {}
Host.__index = Host

-- load(path) -> host | nil, { message=, file=, line= }
-- path: a flow directory (holding flow_definition.lua) or the file itself.
function M.load(path)
  local file = path
  if not path:match("%.lua$") then file = path:gsub("/+$", "") .. "/flow_definition.lua" end
  local dir = file:match("^(.*)/[^/]*$") or "."
  local source, rerr = read_file(file)
  if not source then return nil, { message = "cannot read " .. file .. ": " .. tostring(rerr), file = file } end
  local chunk, err = loadfile(file)
  if not chunk then
    local line = tonumber(tostring(err):match(":(%d+):"))
    return nil, { message = tostring(err), file = file, line = line }
  end
  local env, G = make_env(dir)
  setfenv(chunk, env)
  local ok, def = pcall(chunk)
  if not ok then
    local line = type(def) == "string" and tonumber(def:match("^[^:]*:(%d+):")) or nil
    return nil, { message = tostring(def), file = file, line = line }
  end
  if type(def) ~= "table" then
    return nil, { message = file .. ": must return flow.define { ... }", file = file }
  end
  local flow = G.require("sova.flow")
  return setmetatable({ def = def, flow = flow, path = file, dir = dir, source = source }, Host)
end

-- describe() -> plain data (a copy: nothing of the flow's state is shared)
function Host:describe()
  local ok, d = pcall(self.flow.describe, self.def)
  if not ok then return nil, { message = tostring(d) } end
  local ok2, c = pcall(data.copy, d, "flow description")
  if not ok2 then return nil, { message = tostring(c) } end
  return c
end

-- run_handler(node, fn, args, state) -> effects | nil, { message = ... }
function Host:run_handler(node, fn, args, state)
  local ok, eff = pcall(function()
    return self.flow.run_handler(self.def, node, fn, data.copy(args, "arguments"), data.copy(state, "state"))
  end)
  if not ok then return nil, { message = tostring(eff) } end
  local ok2, c = pcall(data.copy, eff, "effects")
  if not ok2 then return nil, { message = tostring(c) } end
  return c
end

return M

-- sova.call.sandbox_host: a flow loaded into its own sandbox (core/bind/sandbox.c), behind the
-- host interface the call engine uses: describe() and run_handler(). Tenant code runs only in
-- there; what crosses is plain data. The organization's data files the flow asks for
-- (sova.flow_data) are read here and handed in once, before any handler runs; a data file that
-- is not valid fails the load like the flow's own mistakes (err.source names the file).
local core = require("sova.core")

local M = {}

-- Per call: the byte cap of the flow's state, and per callback an instruction budget, a
-- deadline on the calling thread's CPU time, and a wall-clock cap as a second line (time the
-- process is starved or stopped counts only against the cap). A flow that exceeds them fails
-- its own call, nothing else.
M.LIMITS = { memory_limit = 4 * 1024 * 1024, instruction_budget = 5e6, deadline_ms = 250,
             wall_deadline_ms = 2500 }

local Host = {}
Host.__index = Host

local read = require("sova.config").read_file
local flow_data = require("sova.flow_data")

-- path -> {source =, sha256 =}: the digest of the text last read there (calls of one flow start
-- from the same text, hashed once)
local digests = {}

local function sha256_of(path, source)
  local d = digests[path]
  if not (d and d.source == source) then
    d = { source = source, sha256 = core.crypto.sha256_hex(source) }
    digests[path] = d
  end
  return d.sha256
end

-- new(dir[, limits]) -> host | nil, err (err = {kind, message, source?, line?})
function M.new(dir, limits)
  limits = limits or M.LIMITS
  local path = dir .. "/flow_definition.lua"
  local source, why = read(path)
  if not source then return nil, { kind = "error", message = path .. " cannot be read: " .. tostring(why) } end
  local sb, err = core.sandbox.new {
    flow_dir = dir, memory_limit = limits.memory_limit,
    instruction_budget = limits.instruction_budget, deadline_ms = limits.deadline_ms,
    wall_deadline_ms = limits.wall_deadline_ms,
  }
  if not sb then return nil, { kind = "error", message = err } end
  local ok, lerr = sb:load_flow(path)
  if not ok then
    sb:close()
    return nil, lerr
  end
  -- a flow whose fields cannot be read fails when the engine describes it, with that reason: only
  -- the data files it names are the load's business
  local names = sb:flow_call("data_files")
  if type(names) == "table" and #names > 0 then
    local data, problem = flow_data.load(dir, names)
    local nerr
    if data then ok, nerr = sb:flow_call("set_data", data) else ok = nil end
    if problem then
      nerr = { kind = "error", source = problem.file, line = tonumber(problem.message:match("^line (%d+):")),
               message = problem.file .. ": " .. (problem.path ~= "" and (problem.path .. ": ") or "") .. problem.message }
    end
    if not ok then
      sb:close()
      return nil, nerr
    end
  end
  return setmetatable({ sb = sb, dir = dir, path = path, sha256 = sha256_of(path, source) }, Host)
end

function Host:describe() return self.sb:flow_call("describe") end

function Host:run_handler(node, fn, args, state)
  return self.sb:flow_call("run_handler", node, fn, args, state)
end

function Host:check(fields) return self.sb:flow_call("check", fields) end

-- bytes in use by the flow's state
function Host:memory() return (self.sb:memory()) end

function Host:close() self.sb:close() end

return M

-- sova.sandboxed.data: copies of plain data across the boundary between a flow and the engine.
--
-- Pure Lua 5.1 (runs inside a call's sandbox and in the trusted engine). Plain data is nil,
-- booleans, finite numbers, strings and tables of them keyed by strings or numbers: no
-- functions, userdata, threads, cycles or metatables. copy() raises, naming the path of the
-- first offending value, so a flow that puts a function in call.state learns where.

local type, next, tostring, error = type, next, tostring, error
local format, huge = string.format, math.huge

local M = {}

M.MAX_DEPTH = 16
M.MAX_ITEMS = 20000          -- tables entries in one copy
M.MAX_BYTES = 1024 * 1024    -- string bytes in one copy

local function key_path(path, k)
  if type(k) == "string" then
    if path == "" then return k end
    return path .. "." .. k
  end
  return path .. "[" .. tostring(k) .. "]"
end

-- The path of a value is made only when it is needed (an error, or a table's own entries):
-- copies of large plain data are made on every handler call and call start.
local function copy(v, parent, key, depth, budget, on_path)
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "string" then
    if t == "string" then
      budget.bytes = budget.bytes + #v
      if budget.bytes > M.MAX_BYTES then error(format("%s: too much text (more than %d bytes)", budget.what, M.MAX_BYTES), 0) end
    end
    return v
  end
  local path = key == nil and parent or nil
  if t == "number" then
    if v ~= v or v == huge or v == -huge then
      path = path or key_path(parent, key)
      error(format("%s: %s is not a finite number", budget.what, path == "" and "value" or path), 0)
    end
    return v
  end
  path = path or key_path(parent, key)
  if t ~= "table" then
    error(format("%s: %s is a %s; only plain data (strings, numbers, booleans, tables) is allowed",
      budget.what, path == "" and "value" or path, t), 0)
  end
  if on_path[v] then error(format("%s: %s refers back to itself", budget.what, path == "" and "value" or path), 0) end
  if depth > M.MAX_DEPTH then error(format("%s: nested more than %d levels deep", budget.what, M.MAX_DEPTH), 0) end
  on_path[v] = true
  local out = {}
  local k, val = next(v)
  while k ~= nil do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" then
      error(format("%s: %s has a %s key; only string and number keys are allowed", budget.what,
        path == "" and "value" or path, kt), 0)
    end
    if kt == "number" and (k ~= k or k == huge or k == -huge) then
      error(format("%s: %s has a non-finite number key", budget.what, path == "" and "value" or path), 0)
    end
    budget.items = budget.items + 1
    if budget.items > M.MAX_ITEMS then error(format("%s: more than %d entries", budget.what, M.MAX_ITEMS), 0) end
    if kt == "string" then
      budget.bytes = budget.bytes + #k
    end
    out[k] = copy(val, path, k, depth + 1, budget, on_path)
    k, val = next(v, k)
  end
  on_path[v] = nil
  return out
end

-- copy(value, what) -> a deep copy of plain data, or raises "<what>: <path> ...".
function M.copy(v, what)
  return copy(v, "", nil, 1, { items = 0, bytes = 0, what = what or "data" }, {})
end

-- is_array(t) -> true when t is a table whose keys are exactly 1..#t (an empty table counts)
function M.is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for k in next, t do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  return n == #t
end

return M

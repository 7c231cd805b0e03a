-- The browser specs' common part (spec/e2e/): where the built web UI, Chromium and the
-- screenshots are, and running one of frontend/e2e/*.mjs against a running API.
local cjson = require("cjson")
local proc = require("helpers.proc")

local M = {}

M.DIST = proc.root .. "/frontend/dist"
M.SHOTS = proc.root .. "/.test-runs/screenshots"
M.CHROMIUM = os.getenv("E2E_CHROMIUM") or "/usr/bin/chromium"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

--- Raises unless the built UI, Chromium and playwright-core are there (CI must install them).
function M.require_tools()
  assert(exists(M.DIST .. "/index.html"),
    M.DIST .. "/index.html is missing: build the frontend first (cd frontend && npm run build)")
  assert(exists(M.CHROMIUM), M.CHROMIUM .. " is missing: install Debian's chromium (or set E2E_CHROMIUM)")
  assert(exists(proc.root .. "/frontend/node_modules/playwright-core/package.json"),
    "frontend/node_modules/playwright-core is missing: cd frontend && npm ci")
end

--- Runs `node frontend/e2e/<script>` with E2E_BASE_PORT (api's), E2E_PASSWORD, E2E_SHOTS_DIR,
-- E2E_CHROMIUM and env. -> the last JSON line of its output that has the key `key` (its results,
-- or nil), the whole output, its exit status.
function M.run(script, api, password, env, key)
  os.execute("mkdir -p " .. proc.shell_quote(M.SHOTS))
  local parts = { "cd", proc.shell_quote(proc.root), "&&", "E2E_BASE_PORT=" .. proc.shell_quote(api.port),
    "E2E_PASSWORD=" .. proc.shell_quote(password), "E2E_SHOTS_DIR=" .. proc.shell_quote(M.SHOTS),
    "E2E_CHROMIUM=" .. proc.shell_quote(M.CHROMIUM) }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. proc.shell_quote(v) end
  parts[#parts + 1] = "node " .. proc.shell_quote(proc.root .. "/frontend/e2e/" .. script) .. " 2>&1; echo E2E_EXIT=$?"
  -- LuaJIT's popen close does not report the exit status (5.1 semantics): the shell echoes it
  local p = assert(io.popen(table.concat(parts, " "), "r"))
  local out = p:read("*a")
  p:close()
  local results
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 1) == "{" then
      local ok, obj = pcall(cjson.decode, line)
      if ok and type(obj) == "table" and obj[key] ~= nil then results = obj end
    end
  end
  return results, out, tonumber(out:match("E2E_EXIT=(%d+)%s*$"))
end

return M

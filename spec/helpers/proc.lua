-- Processes, paths and scratch directories for the specs.
--
-- Every process a spec starts goes through proc.spawn: it runs in its own process group
-- (testkit.spawn does setpgid), so proc.stop ends it with everything it forked. A guard kept in
-- the Lua registry (which survives busted's insulation of spec files) SIGKILLs whatever is
-- still running when the busted process exits, even after a crashed spec file.
--
-- Scratch files live under <repo>/.test-runs/ (git-ignored): one directory per spec file run,
-- removed by proc.cleanup() unless SOVA_KEEP_TEST_RUNS is set.
local core = require("sova.core")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local sys = core.sys

local M = {}

M.SIGTERM, M.SIGKILL = 15, 9

---------------------------------------------------------------------------------------------
-- paths

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

local function find_root()
  local src = debug.getinfo(1, "S").source
  src = src:sub(1, 1) == "@" and src:sub(2) or src
  local dir = src:match("^(.-)/?spec/helpers/[^/]+%.lua$") or "."
  if dir == "" then dir = "." end
  if dir:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")  -- a shell builtin: no preload concerns
    local cwd = p:read("*l")
    p:close()
    dir = dir == "." and cwd or (cwd .. "/" .. dir:gsub("^%./", ""))
  end
  return dir
end

--- Absolute path of the repository (the directory holding spec/).
M.root = find_root()

--- Absolute path of the build directory: $SOVA_BUILD_DIR (relative to the repo) or build/.
function M.build_dir()
  local b = os.getenv("SOVA_BUILD_DIR")
  if not b or b == "" then b = "build" end
  if b:sub(1, 1) ~= "/" then b = M.root .. "/" .. b end
  return b
end

--- The sova binary of the build directory.
function M.sova_bin()
  return M.build_dir() .. "/sova"
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function M.read_file(path, offset)
  local f = io.open(path, "rb")
  if not f then return nil end
  if offset and offset > 0 then f:seek("set", offset) end
  local s = f:read("*a")
  f:close()
  return s
end

function M.file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

--- The last n lines of a file (for failure messages).
function M.tail(path, n)
  n = n or 40
  local s = M.read_file(path)
  if not s then return "(no file " .. tostring(path) .. ")" end
  local lines = {}
  for line in s:gmatch("[^\n]*\n?") do
    if line ~= "" then lines[#lines + 1] = line:gsub("\n$", "") end
  end
  local from = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", from)
end

---------------------------------------------------------------------------------------------
-- sanitizers

-- scripts/test runs busted with LD_PRELOAD=libasan.so (to load the sanitized core module into
-- LuaJIT). Children must not inherit that preload: FerretDB is a Go program, shell tools are not
-- instrumented, and the sova binary of a sanitizer build links the runtime itself.
function M.clean_env(env)
  env = env or {}
  local pre = os.getenv("LD_PRELOAD")
  if pre and pre:find("asan", 1, true) and env.LD_PRELOAD == nil then env.LD_PRELOAD = "" end
  return env
end

-- prefix for shell commands run through io.popen/os.execute
function M.shell_prefix()
  local pre = os.getenv("LD_PRELOAD")
  if pre and pre:find("asan", 1, true) then return "LD_PRELOAD= " end
  return ""
end

--- The first line of an ASan/LSan/UBSan report in a log file, or nil.
function M.sanitizer_report(path)
  local s = path and M.read_file(path)
  if not s then return nil end
  for line in s:gmatch("[^\n]+") do
    if line:find("ERROR: AddressSanitizer", 1, true) or line:find("ERROR: LeakSanitizer", 1, true)
      or line:find("%.[ch]p?p?:%d+:%d+: runtime error:") then
      return line
    end
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- process-wide state (survives busted's insulation of each spec file)

local REG_KEY = "sova.spec.helpers.state"

function M.state()
  local reg = debug.getregistry()
  local st = reg[REG_KEY]
  if not st then
    st = { procs = {}, seq = 0 }
    -- Safety net: at exit, SIGKILL the process groups a spec failed to stop. Uses os.execute,
    -- not testkit.kill: the C module may already be unloaded when finalizers run at lua_close.
    local guard = newproxy(true)
    getmetatable(guard).__gc = function()
      for pid in pairs(st.procs) do
        os.execute("kill -9 -" .. tonumber(pid) .. " 2>/dev/null")
      end
    end
    st.guard = guard
    reg[REG_KEY] = st
  end
  return st
end

---------------------------------------------------------------------------------------------
-- scratch directories

local run_dir -- this spec file's scratch directory (module state: reset per insulated file)

local function mkdir_p(path)
  local ok, err = sys.mkdir(path)
  if not ok then error("cannot create " .. path .. ": " .. tostring(err), 2) end
  return path
end

--- This spec file's scratch directory under .test-runs/, created on first use.
function M.run_dir()
  if run_dir then return run_dir end
  local st = M.state()
  st.seq = st.seq + 1
  mkdir_p(M.root .. "/.test-runs")
  run_dir = mkdir_p(string.format("%s/.test-runs/%d-%d-%s", M.root, testkit.getpid(), st.seq,
    core.crypto.random_hex(4)))
  return run_dir
end

--- A fresh directory inside this spec file's scratch directory.
function M.temp_dir(prefix)
  local base = M.run_dir()
  for _ = 1, 100 do
    local p = string.format("%s/%s-%s", base, prefix or "tmp", core.crypto.random_hex(3))
    if not M.exists(p) then return mkdir_p(p) end
  end
  error("cannot create a temporary directory in " .. base)
end

--- A fresh file name inside this spec file's scratch directory (the file is not created).
function M.temp_path(prefix, suffix)
  return string.format("%s/%s-%s%s", M.run_dir(), prefix or "tmp", core.crypto.random_hex(3), suffix or "")
end

function M.rm_rf(path)
  -- only ever inside .test-runs/
  if not path or not path:find("/.test-runs/", 1, true) then
    error("refusing to remove " .. tostring(path))
  end
  os.execute(M.shell_prefix() .. "rm -rf " .. shell_quote(path))
end

---------------------------------------------------------------------------------------------
-- processes

local Proc = {}
Proc.__index = Proc

--- Starts argv (argv[1] found in PATH) in its own process group.
-- opts: env = {K = V} (added to the inherited environment), log = path (stdout and stderr),
-- stdout = path, stderr = path.
function M.spawn(argv, opts)
  opts = opts or {}
  local pid, err = testkit.spawn(argv, {
    env = opts.env,
    stdout = opts.stdout or opts.log,
    stderr = opts.stderr or opts.log,
  })
  if not pid then error("cannot start " .. argv[1] .. ": " .. tostring(err), 2) end
  local p = setmetatable({ pid = pid, argv = argv, log = opts.log or opts.stderr, name = opts.name or argv[1] }, Proc)
  M.state().procs[pid] = argv[1]
  return p
end

--- Is the process still running? Reaps it (and records its exit status) when it has ended.
function Proc:alive()
  if self.status then return false end
  local r = testkit.wait(self.pid, true)
  if r == false then return true end
  self.status = r or -1
  M.state().procs[self.pid] = nil
  return false
end

--- Waits up to timeout seconds for the process to end; returns its exit status or nil.
function Proc:wait(timeout)
  local deadline = sys.monotonic() + (timeout or 30)
  while self:alive() do
    if sys.monotonic() > deadline then return nil end
    sys.sleep(0.02)
  end
  return self.status
end

--- Stops the process group: SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status.
function Proc:stop(grace)
  if not self:alive() then
    testkit.kill(-self.pid, M.SIGKILL) -- children left in the group, if any; ESRCH is fine
    return self.status
  end
  testkit.kill(-self.pid, M.SIGTERM)
  local st = self:wait(grace or 10)
  if not st then
    testkit.kill(-self.pid, M.SIGKILL)
    st = self:wait(10)
  end
  testkit.kill(-self.pid, M.SIGKILL)
  return st
end

--- Kills the process group at once (SIGKILL), e.g. to simulate a crash.
function Proc:kill()
  testkit.kill(-self.pid, M.SIGKILL)
  return self:wait(10)
end

function Proc:tail(n)
  return self.log and M.tail(self.log, n) or "(no log)"
end

--- Runs argv to completion. Returns exit status, output (stdout+stderr), log path.
-- Raises when it does not end within opts.timeout seconds (default 120).
function M.run(argv, opts)
  opts = opts or {}
  local log = opts.log or M.temp_path("run", ".log")
  local p = M.spawn(argv, { env = opts.env, log = log, name = opts.name })
  local status = p:wait(opts.timeout or 120)
  if not status then
    p:stop(1)
    error(string.format("%s did not end within %ss; output:\n%s", table.concat(argv, " "),
      tostring(opts.timeout or 120), M.tail(log)), 2)
  end
  return status, M.read_file(log) or "", log
end

--- Removes this spec file's scratch directory (unless SOVA_KEEP_TEST_RUNS is set).
function M.cleanup()
  if run_dir and (os.getenv("SOVA_KEEP_TEST_RUNS") or "") == "" then
    M.rm_rf(run_dir)
  end
  run_dir = nil
end

return M

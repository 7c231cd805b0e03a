-- The real sova binary for the specs: seeding with `sova script`, and `sova api` on a free port.
local core = require("sova.core")
local cjson = require("cjson")
local proc = require("helpers.proc")
local sys = core.sys

local M = {}

--- The demo users' password the specs seed with (SOVA_DEMO_PASSWORD).
M.DEMO_PASSWORD = "correct horse battery staple 42"

--- The API's JWT secret (SOVA_JWT_SECRET): 64 hex digits, one per busted process, so tokens
-- survive API restarts and specs can sign or forge tokens with it.
function M.jwt_secret()
  local st = proc.state()
  if not st.jwt_secret then st.jwt_secret = core.crypto.random_hex(32) end
  return st.jwt_secret
end

--- The key recordings are sealed under (SOVA_DATA_KEY), one per busted process and shared by the
-- API and the bot, so a spec can store a recording in-process (core.recording) that the API reads.
function M.data_key()
  local st = proc.state()
  if not st.data_key then st.data_key = core.crypto.random_hex(32) end
  return st.data_key
end

local SEED_SCRIPT = "scripts/setup_multi_tenant.lua"

-- The environment of a sova process: no inherited ASan preload, and the sanitizer options
-- scripts/test chose for server processes (SOVA_SERVER_ASAN_OPTIONS, e.g. leak detection on).
local function server_env(env)
  proc.clean_env(env)
  local so = os.getenv("SOVA_SERVER_ASAN_OPTIONS")
  if so and so ~= "" and env.ASAN_OPTIONS == nil then env.ASAN_OPTIONS = so end
  return env
end

local function sanitizer_check(log, what)
  local report = proc.sanitizer_report(log)
  if report then
    error(string.format("%s: sanitizer report (%s) in %s:\n%s", what, report, log, proc.tail(log, 80)), 3)
  end
end

local function require_binary()
  local bin = proc.sova_bin()
  if not proc.exists(bin) then
    error("no sova binary at " .. bin .. " (build it: ninja -C " .. proc.build_dir() .. ")", 3)
  end
  return bin
end

--- Runs `sova script scripts/setup_multi_tenant.lua` against db; raises unless it exits 0.
-- opts.env is added to the environment. Returns the script's output.
function M.seed(db, opts)
  opts = opts or {}
  local bin = require_binary()
  local script = proc.root .. "/" .. SEED_SCRIPT
  if not proc.exists(script) then error(SEED_SCRIPT .. " does not exist (yet)", 2) end
  local env = {
    MONGODB_URI = db.uri,
    SOVA_DATA_DIR = opts.data_dir or proc.temp_dir("seed-data"),
    SOVA_DEMO_PASSWORD = M.DEMO_PASSWORD,
  }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  server_env(env)
  local status, out, log = proc.run({ bin, "script", script }, { env = env, timeout = opts.timeout or 120, name = "seed" })
  if status ~= 0 then
    error(string.format("%s exited with %s; output (%s):\n%s", SEED_SCRIPT, tostring(status), log, proc.tail(log, 60)), 2)
  end
  sanitizer_check(log, SEED_SCRIPT)
  return out
end

---------------------------------------------------------------------------------------------
-- sova api

local Api = {}
Api.__index = Api

-- Finds {"event":"<event>","port":N} in the log after byte offset `from`.
local function listening_port(log, from, event)
  local s = proc.read_file(log, from)
  if not s then return nil end
  for line in s:gmatch("[^\n]+") do
    if line:find(event, 1, true) then
      local ok, obj = pcall(cjson.decode, line)
      if ok and type(obj) == "table" and obj.event == event and tonumber(obj.port) then
        return tonumber(obj.port)
      end
    end
  end
  return nil
end

function Api:start(timeout)
  if self.proc and self.proc:alive() then error("api already running (pid " .. self.pid .. ")", 2) end
  local bin = require_binary()
  local from = proc.file_size(self.log)
  self.proc = proc.spawn({ bin, self.command }, { env = self.env, log = self.log, name = "sova " .. self.command })
  self.pid = self.proc.pid
  timeout = timeout or self.timeout
  local deadline = sys.monotonic() + timeout
  while true do
    local port = listening_port(self.log, from, self.command .. ".listening")
    if self.ready and (proc.read_file(self.log, from) or ""):find('"event":"' .. self.ready .. '"', 1, true) then
      return self
    end
    if port then
      self.port = port
      self.url = "http://127.0.0.1:" .. port
      return self
    end
    if not self.proc:alive() then
      error(string.format("sova " .. self.command .. " exited early (status %s); log %s:\n%s", tostring(self.proc.status),
        self.log, proc.tail(self.log, 60)), 2)
    end
    if sys.monotonic() > deadline then
      self.proc:stop(2)
      error(string.format("sova " .. self.command .. " did not log its listening line within %ss; log %s:\n%s", tostring(timeout),
        self.log, proc.tail(self.log, 60)), 2)
    end
    sys.sleep(0.05)
  end
end

--- Stops the API (SIGTERM, then SIGKILL after 15 s). Returns its exit status.
function Api:stop()
  if not self.proc then return nil end
  return self.proc:stop(15)
end

--- Stops the API and raises unless it exited with status 0 (a sanitizer build exits non-zero
-- when it found leaks or memory errors, so this is where they surface).
function Api:stop_clean()
  local status = self:stop()
  if status ~= nil and status ~= 0 then
    error(string.format("sova api exited with status %s; log %s:\n%s", tostring(status), self.log,
      proc.tail(self.log, 60)), 2)
  end
  sanitizer_check(self.log, "sova api")
  return status
end

--- Stops (cleanly: exit status 0, or raises) and starts the API again with the same environment
-- and data directory (new port: api.port and api.url are updated in place).
function Api:restart(timeout)
  self:stop_clean()
  return self:start(timeout)
end

--- SIGKILL, as a crash: the process is gone at once and leaves what it held (stop_clean after it
-- has nothing to stop).
function Api:kill()
  if not self.proc then return end
  self.proc:kill()
  self.proc = nil
end

function Api:alive()
  return self.proc ~= nil and self.proc:alive()
end

--- The API's log since it started (JSON lines).
function Api:log_text()
  return proc.read_file(self.log) or ""
end

-- Starts `sova <command>` against db with env (plus MONGODB_URI and opts.env, which overrides)
-- and waits for its "<command>.listening" line.
local function start_server(command, db, env, opts)
  opts = opts or {}
  env.MONGODB_URI = db.uri
  for k, v in pairs(opts.env or {}) do env[k] = v end
  server_env(env)
  local self = setmetatable({
    command = command,
    env = env,
    log = proc.temp_path(command, ".log"),
    timeout = opts.timeout or 30,
    db = db,
  }, Api)
  return self:start()
end

--- Starts `sova api` against db on a free loopback port.
-- opts: env = {K = V} added to (and overriding) the defaults, timeout (seconds, default 30).
-- Returns {port, url, pid, log, env, stop(), restart(), alive(), log_text()}.
function M.start_api(db, opts)
  return start_server("api", db, {
    SOVA_HTTP_PORT = "0",
    SOVA_HTTP_HOST = "127.0.0.1",
    SOVA_DATA_DIR = proc.temp_dir("api-data"),
    SOVA_JWT_SECRET = M.jwt_secret(),
    SOVA_DATA_KEY = M.data_key(),
  }, opts)
end

---------------------------------------------------------------------------------------------
-- sova bot

--- A secret the API and the bot share to sign call starts (SOVA_BOT_SECRET), one per busted process.
function M.bot_secret()
  local st = proc.state()
  if not st.bot_secret then st.bot_secret = core.crypto.random_hex(32) end
  return st.bot_secret
end

--- Starts `sova bot` against db on a free loopback port (same handle as start_api: stop, restart,
-- log_text). The API learns where it is from start_api's opts.env.SOVA_BOT_URL (see helpers.setup_calls).
function M.start_bot(db, opts)
  opts = opts or {}
  return start_server("bot", db, {
    SOVA_BOT_PORT = "0",
    SOVA_BOT_HOST = "127.0.0.1",
    SOVA_DATA_DIR = opts.data_dir or proc.temp_dir("bot-data"),
    SOVA_BOT_SECRET = M.bot_secret(),
    SOVA_DATA_KEY = M.data_key(),
  }, opts)
end

---------------------------------------------------------------------------------------------
-- sova campaigns

--- Starts `sova campaigns` (the campaign scheduler) against db, pointed at bot, and waits for its
-- "campaigns.ready" line. Same handle as start_api, with kill() for a crash.
function M.start_campaigns(db, bot, opts)
  opts = opts or {}
  -- the API's data key: the webhooks' secrets it sealed are opened here
  local env = { SOVA_BOT_URL = bot.url, SOVA_BOT_SECRET = M.bot_secret(), MONGODB_URI = db.uri, SOVA_DATA_KEY = M.data_key() }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  server_env(env)
  local self = setmetatable({ command = "campaigns", ready = "campaigns.ready", env = env,
    log = proc.temp_path("campaigns", ".log"), timeout = opts.timeout or 30, db = db }, Api)
  return self:start()
end

return M

-- The embedded database for the specs (scripts/embedded-db): a private PostgreSQL cluster on its
-- Unix socket and FerretDB over it on a loopback port, with a fresh data directory each time (a
-- copy of one cluster made per busted process: initdb once), network reporting and the debug
-- port off. stop/kill/restart act on both servers, as a machine's database would.
--
-- Direct database access from a spec (counting audit records, inserting a session, ...) goes
-- through the core module in the busted process. The core opens one database per process with
-- one URI, so the first database a busted process starts fixes a port, and every later start in
-- the same process (the next spec file, or the same database restarted) reuses that port with a
-- fresh data directory: the in-process URI never changes, and the connection pool finds the new
-- server on its own. A second database running at the same time gets another port and no
-- in-process handle.
local core = require("sova.core")
local proc = require("helpers.proc")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local sys = core.sys

local M = {}

M.DB_NAME = "sova_test"

-- identifies this spec file (module state is reset for each insulated file)
local file_token = {}

function M.ferretdb_bin()
  local b = os.getenv("SOVA_FERRETDB")
  if not b or b == "" then b = proc.root .. "/.tools/bin/ferretdb" end
  return b
end

local EMBEDDED_DB = proc.root .. "/scripts/embedded-db"

-- runs scripts/embedded-db with args; raises with its output when it fails
local function embedded_db(...)
  local status, out = proc.run({ EMBEDDED_DB, ... }, { env = proc.clean_env(), timeout = 120 })
  if status ~= 0 then error("scripts/embedded-db " .. table.concat({ ... }, " ") .. " failed:\n" .. out, 3) end
end

-- PostgreSQL runs as the `postgres` account when the specs run as root (it refuses root): the
-- scratch directories (mode 700) must let it pass on the way to its cluster
local function passable(dir)
  local rel = dir:sub(#proc.root + 2)
  local path = proc.root
  for part in rel:gmatch("[^/]+") do
    path = path .. "/" .. part
    os.execute("chmod 711 '" .. path .. "' 2>/dev/null")
  end
end
M.passable = passable

-- the cluster every database of this busted process starts as a copy of
local function template_dir()
  local st = proc.state()
  if not st.pg_template then
    -- beside the spec files' scratch directories (each is removed after its file); scripts/test
    -- clears .test-runs/ before a run
    local dir = string.format("%s/.test-runs/pg-template-%d", proc.root, testkit.getpid())
    assert(sys.mkdir(proc.root .. "/.test-runs"))
    assert(sys.mkdir(dir))
    passable(dir)
    embedded_db("init", dir)
    st.pg_template = dir
  end
  return st.pg_template
end

local function inproc_state()
  local st = proc.state()
  if not st.db then
    local port = assert(testkit.free_port())
    st.db = {
      port = port,
      uri = string.format("mongodb://127.0.0.1:%d/%s?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
        .. "&socketTimeoutMS=20000", port, M.DB_NAME),
    }
  end
  return st.db
end

-- Is something accepting TCP connections on 127.0.0.1:port? (curl against the wire protocol:
-- "connection refused" means no; any other answer, even garbage, means yes)
local function tcp_open(port)
  local res, err = core.http.request { method = "GET", url = string.format("http://127.0.0.1:%d/", port), timeout_ms = 500 }
  if res then return true end
  err = tostring(err):lower()
  return not (err:find("connect", 1, true) or err:find("refused", 1, true) or err:find("timeout", 1, true)
    or err:find("timed out", 1, true))
end
M.tcp_open = tcp_open

local DB = {}
DB.__index = DB

local function ensure_open(ip)
  if not ip.opened then
    local ok, err = core.db.open(ip.uri)
    if not ok then error("in-process db.open(" .. ip.uri .. "): " .. tostring(err), 3) end
    ip.opened = true
  end
end

-- Spawns PostgreSQL on self.dir and FerretDB on self.port over it, and waits until it answers.
function DB:start(timeout)
  if self.proc and self.proc:alive() then error("database already running on port " .. self.port, 2) end
  local bin = M.ferretdb_bin()
  if not proc.exists(bin) then
    error("FerretDB not found at " .. bin .. " (run scripts/install-deps, or set SOVA_FERRETDB)", 2)
  end
  if tcp_open(self.port) then
    error(string.format("port %d is taken by another program%s", self.port, self.inproc and
      " (this busted process's database port: its in-process handle is bound to it)" or ""), 2)
  end
  self.pg = proc.spawn({ EMBEDDED_DB, "postgres", self.dir }, { log = self.log, name = "postgres", env = proc.clean_env() })
  embedded_db("wait", self.dir, "30")
  self.proc = proc.spawn({ EMBEDDED_DB, "ferretdb", self.dir, tostring(self.port) },
    { log = self.log, name = "ferretdb", env = proc.clean_env() })
  local deadline = sys.monotonic() + (timeout or 30)
  local last_err = "not listening yet"
  while true do
    if not self.proc:alive() then
      error(string.format("FerretDB exited early (status %s); log %s:\n%s", tostring(self.proc.status),
        self.log, proc.tail(self.log)), 2)
    end
    if tcp_open(self.port) then
      if not self.inproc then break end
      ensure_open(self.inproc)
      local ok, err = core.db.ping()
      if ok then break end
      last_err = err
    end
    if sys.monotonic() > deadline then
      self:stop()
      error(string.format("FerretDB on port %d not ready within %ss (%s); log:\n%s", self.port,
        tostring(timeout or 30), tostring(last_err), proc.tail(self.log)), 2)
    end
    sys.sleep(0.05)
  end
  return self
end

--- Stops the servers (SIGTERM, then SIGKILL); the data directory stays for a restart.
function DB:stop()
  if self.proc then self.proc:stop(10) end
  if self.pg then self.pg:stop(10) end
  return self
end

--- Kills the servers at once (SIGKILL), as in a crash (PostgreSQL recovers from its log at the
--- next start).
function DB:kill()
  if self.proc then self.proc:kill() end
  if self.pg then self.pg:kill() end
  return self
end

--- Stops and starts the server again on the same port with the same data.
function DB:restart(timeout)
  self:stop()
  return self:start(timeout)
end

function DB:alive()
  return self.proc ~= nil and self.proc:alive()
end

--- The unscoped handle of sova.core in the busted process, connected to this database.
function DB:handle()
  if not self.inproc then
    error("this database has no in-process handle: only one database per busted process has one", 2)
  end
  ensure_open(self.inproc)
  return core.db.unscoped()
end

--- Ends the server for good: SIGKILL, as its data directory is removed with the run dir.
function DB:shutdown()
  self:kill()
  if self.inproc and self.inproc.owner == self then self.inproc.owner = nil end
end

--- Starts a fresh database. Returns a DB object:
--   {uri, port, dir, log, stop(), start(), restart(), kill(), alive(), handle(), shutdown()}
function M.start(opts)
  opts = opts or {}
  local ip = inproc_state()
  local self = setmetatable({}, DB)
  local owner = ip.owner
  if owner and owner.file ~= file_token and owner.proc and owner.proc:alive() then
    -- leaked by an earlier spec file that did not tear down: it holds the in-process port
    owner:stop()
  end
  if not ip.owner or ip.owner.file ~= file_token or not ip.owner:alive() then
    self.port = ip.port
    self.inproc = ip
    ip.owner = self
  else
    self.port = assert(testkit.free_port())
  end
  self.file = file_token
  self.dir = proc.temp_dir("db")
  self.log = self.dir .. ".log"
  passable(self.dir)
  embedded_db("init", self.dir, template_dir())
  self.uri = string.format("mongodb://127.0.0.1:%d/%s", self.port, M.DB_NAME)
  return self:start(opts.timeout)
end

return M

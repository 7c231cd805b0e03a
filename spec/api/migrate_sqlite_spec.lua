-- scripts/migrate-sqlite: a data directory of the SQLite backend (Sova before the embedded
-- PostgreSQL) moves to the new default with every document as it was, and scripts/run's start
-- (lib.sh's start_database) does it by itself. Tags: #api #migrate
local helpers = require("helpers")
local proc = helpers.proc
local testkit = require("sova.testkit")

local ROOT = proc.root

local function ferretdb_sqlite(dir, port, log)
  return proc.spawn({ require("helpers.db").ferretdb_bin(), "--handler=sqlite", "--sqlite-url=file:" .. dir .. "/",
    "--listen-addr=127.0.0.1:" .. port, "--state-dir=" .. proc.temp_dir("fdbstate"), "--telemetry=disable",
    "--debug-addr=-", "--log-level=warn" }, { log = log, name = "ferretdb-sqlite", env = proc.clean_env() })
end

local function wait_port(port, p, log)
  local deadline = helpers.core.sys.monotonic() + 30
  while not require("helpers.db").tcp_open(port) do
    assert(p:alive(), "exited early:\n" .. proc.tail(log))
    assert(helpers.core.sys.monotonic() < deadline, "not listening:\n" .. proc.tail(log))
    helpers.core.sys.sleep(0.05)
  end
end

local function data(port, mode)
  local status, out = proc.run({ proc.sova_bin(), "script", ROOT .. "/spec/fixtures/migrate/data.lua", mode },
    { env = proc.clean_env({ MONGODB_URI = ("mongodb://127.0.0.1:%d/sova"):format(port) }) })
  assert.equal(0, status, out)
  return out
end

describe("a data directory of the SQLite backend #api #migrate", function()
  local dir, before

  lazy_setup(function()
    dir = proc.temp_dir("olddata")
    require("helpers.db").passable(dir) -- the cluster's account passes through (scripts/embedded-db)
    local port, log = assert(testkit.free_port()), proc.temp_path("sqlite", ".log")
    local old = ferretdb_sqlite(dir, port, log)
    wait_port(port, old, log)
    data(port, "write")
    before = data(port, "dump")
    old:stop()
  end)

  lazy_teardown(helpers.stop_all)

  it("moves to PostgreSQL with every document unchanged: ids, dates, binaries, nesting", function()
    assert.truthy(before:find("recordings.chunks 1 documents, 1 binary", 1, true), before)
    assert.truthy(before:find("patients 30 documents", 1, true), before)
    -- (clean_env: under scripts/test's sanitizer preload, PostgreSQL and FerretDB must not inherit it)
    local status, out = proc.run({ ROOT .. "/scripts/migrate-sqlite", dir, proc.temp_path("migrate", ".log") },
      { timeout = 180, env = proc.clean_env() })
    assert.equal(0, status, out)
    assert.is_true(proc.exists(dir .. "/sqlite-migrated/sova.sqlite"), out)
    assert.is_false(proc.exists(dir .. "/sova.sqlite"), "the old file stays in place")

    local port, log = assert(testkit.free_port()), proc.temp_path("newdb", ".log")
    local pg = proc.spawn({ ROOT .. "/scripts/embedded-db", "postgres", dir }, { log = log, name = "postgres", env = proc.clean_env() })
    local status_wait, wout = proc.run({ ROOT .. "/scripts/embedded-db", "wait", dir, "30" }, { env = proc.clean_env() })
    assert.equal(0, status_wait, wout)
    local fdb = proc.spawn({ ROOT .. "/scripts/embedded-db", "ferretdb", dir, tostring(port) },
      { log = log, name = "ferretdb", env = proc.clean_env() })
    wait_port(port, fdb, log)
    local after = data(port, "dump")
    fdb:stop()
    pg:stop()
    assert.equal(before, after)
  end)
end)

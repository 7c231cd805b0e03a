-- The per-call sandbox (core/bind/sandbox.c) against hostile flow code. Every attack must fail
-- safely, with a clear reason, while an honest call in its own sandbox keeps working and keeps
-- its own state. Tags: #sandbox
local core = require("sova.core")
local cjson = require("cjson")
local sandbox = core.sandbox

local LUA_DIR = "spec/fixtures/sandbox/lua"
local FLOWS = "spec/fixtures/sandbox/flows"
local BUILD = os.getenv("SOVA_BUILD_DIR") or "build"

local function new(opts)
  opts = opts or {}
  local sb = assert(sandbox.new {
    lua_dir = opts.lua_dir or LUA_DIR, flow_dir = FLOWS,
    memory_limit = opts.memory_limit or 4 * 1024 * 1024,
    instruction_budget = opts.instruction_budget or 2e6,
    deadline_ms = opts.deadline_ms or 500,
    wall_deadline_ms = opts.wall_deadline_ms,
  })
  return sb
end

-- loads, in a sandbox over the real platform tree (lua/), a flow file holding `source`
local function load_platform_flow(source)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  local sb = new({ lua_dir = "lua" })
  local ok, err = sb:load_flow(path)
  os.remove(path)
  sb:close()
  return ok, err
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function attacker(opts)
  local sb = new(opts)
  assert(sb:load_flow(FLOWS .. "/attacks.lua"))
  return sb
end

describe("the flow sandbox #sandbox", function()
  local honest, honest_calls

  -- the honest call: its counter must advance by exactly one per call, whatever happens elsewhere
  local function honest_call_completes()
    local sum, n = honest:flow_call("call", "add", 20, 22)
    assert.equal(42, sum)
    honest_calls = honest_calls + 1
    assert.equal(honest_calls, n)
    assert.equal("hello, Ada", (honest:flow_call("call", "greet", "Ada")))
  end

  before_each(function()
    if not honest then
      honest = new()
      assert(honest:load_flow(FLOWS .. "/honest.lua"))
      honest_calls = 0
    end
    honest_call_completes()
  end)
  after_each(honest_call_completes)

  local function fails(sb, fn, kind, pattern, ...)
    local ok, err = sb:flow_call("call", fn, ...)
    assert.is_nil(ok)
    assert.is_table(err)
    assert.equal(kind, err.kind)
    if pattern then assert.matches(pattern, err.message) end
    return err
  end

  describe("what flow code can reach", function()
    it("has none of io, os, debug, jit, package, ffi, coroutine, collectgarbage, print, _G", function()
      local g = attacker():flow_call("call", "globals")
      for _, name in ipairs({ "io", "os", "debug", "jit", "package", "ffi", "coroutine",
        "collectgarbage", "print", "_G", "module", "newproxy" }) do
        assert.equal("nil", g[name], name)
      end
    end)

    it("cannot load code: no load, loadstring, dofile, loadfile, string.dump", function()
      local g = attacker():flow_call("call", "globals")
      for _, name in ipairs({ "load", "loadstring", "dofile", "loadfile", "dump" }) do
        assert.equal("nil", g[name], name)
      end
    end)

    it("has no getfenv/setfenv and no rawset", function()
      local g = attacker():flow_call("call", "globals")
      assert.equal("nil", g.getfenv)
      assert.equal("nil", g.setfenv)
      assert.equal("nil", g.rawset)
    end)

    it("cannot require ffi, io, os, or debug", function()
      local sb = attacker()
      for _, name in ipairs({ "ffi", "io", "os", "debug", "jit", "jit.util" }) do
        fails(sb, "require", "error", "not available to flows", name)
      end
    end)

    it("cannot require platform modules outside sova.sandboxed", function()
      local sb = attacker()
      fails(sb, "require", "error", "not available to flows", "sova.api.server")
      fails(sb, "require", "error", "not available to flows", "sova.core")
      fails(sb, "require", "error", "not available to flows", "cjson")
    end)

    it("cannot require a trusted module of the real platform, though its file is there", function()
      for _, name in ipairs({ "sova.tools.flow_check", "sova.call.sandbox_host", "sova.call.engine",
        "sova.api.server", "sova.json", "sova.config" }) do
        assert.is_true(exists("lua/" .. name:gsub("%.", "/") .. ".lua"), name)
        local ok, err = load_platform_flow(("return require(%q)"):format(name))
        assert.is_nil(ok, name)
        assert.matches("module '" .. name:gsub("%.", "%%.") .. "' is not available to flows", err.message)
      end
    end)

    it("can require every module of lua/sova/sandboxed/ in the sandbox", function()
      local p = assert(io.popen("ls lua/sova/sandboxed"))
      local names = {}
      for file in p:lines() do names[#names + 1] = assert(file:match("^([%w_]+)%.lua$"), file) end
      p:close()
      assert.is_true(#names >= 6, table.concat(names, ", "))
      for _, name in ipairs(names) do
        assert(load_platform_flow(("return { mod = require(%q) }"):format("sova.sandboxed." .. name)))
      end
    end)

    it("cannot require outside its own directory, nor the flow library by its old names", function()
      local sb = attacker()
      fails(sb, "require", "error", "not available to flows", "../../../etc/passwd")
      fails(sb, "require", "error", "not available to flows", "sova.sandboxed..flow")
      fails(sb, "require", "error", "not available to flows", "sova.sandboxed.")
      fails(sb, "require", "error", "not available to flows", "sova.sandboxed")
      fails(sb, "require", "error", "not available to flows", "sova.flow")
      fails(sb, "require", "error", "not available to flows", "sova.schema")
      fails(sb, "require", "error", "not available to flows", "/etc/passwd")
      fails(sb, "require", "error", "no missing_module%.lua in the flow's directory", "missing_module")
    end)

    it("can require the flow library and its own modules", function()
      local sb = new()
      assert(sb:load_flow(FLOWS .. "/honest.lua"))
      assert.equal("hello, Jo", (sb:flow_call("call", "greet", "Jo")))
      assert.same({ name = "honest" }, (sb:flow_call("describe")))
    end)

    it("refuses a precompiled (bytecode) flow file", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(string.dump(function() return {} end))
      f:close()
      local ok, err = new():load_flow(path)
      os.remove(path)
      assert.is_nil(ok)
      assert.matches("wrong mode", err.message)
    end)

    it("a flow file whose text changed is compiled anew, not taken from an earlier call", function()
      local path = os.tmpname()
      local function write(source)
        local f = assert(io.open(path, "wb"))
        f:write(source)
        f:close()
      end
      local function answer()
        local sb = new()
        assert(sb:load_flow(path))
        local v = sb:flow_call("describe")
        sb:close()
        return v
      end
      write("return { name = 'first' }")
      assert.same({ name = "first" }, answer())
      assert.same({ name = "first" }, answer()) -- the second load comes from the compiled text
      write("return { name = 'second' }")
      assert.same({ name = "second" }, answer())
      write(string.dump(function() return { name = "bytecode" } end))
      local ok, err = new():load_flow(path)
      os.remove(path)
      assert.is_nil(ok)
      assert.matches("wrong mode", err.message)
    end)

    it("a flow loaded a second time still reports errors with its source and line", function()
      for _ = 1, 2 do
        local err = fails(attacker(), "set_global", "error")
        assert.matches("attacks%.lua$", err.source)
        assert.equal(14, err.line)
      end
    end)
  end)

  describe("globals and metatables", function()
    it("refuses writing a global", function()
      fails(attacker(), "set_global", "error", "read%-only")
    end)

    it("refuses patching a library", function()
      local sb = attacker()
      fails(sb, "patch_string", "error", "read%-only")
      -- and the library still works in that sandbox
      assert.same({ 2, 2 }, { sb:flow_call("call", "echo_find") })
    end)

    it("hides the string metatable and refuses replacing a library's metatable", function()
      local sb = attacker()
      assert.equal("locked", (sb:flow_call("call", "string_metatable")))
      fails(sb, "unlock_env", "error", "protected metatable")
    end)

    it("table.insert into a library view changes nothing that matters", function()
      local sb = attacker()
      assert.is_true((sb:flow_call("call", "rawset_library")))
      assert.is_nil(sb:flow_call("call", "long_subject_ok"))
    end)
  end)

  describe("CPU", function()
    it("stops an endless loop by the instruction budget", function()
      local sb = attacker()
      fails(sb, "spin", "budget", "instruction budget exceeded")
    end)

    it("a kill inside pcall still ends the flow", function()
      fails(attacker(), "spin_in_pcall", "budget", "instruction budget exceeded")
    end)

    it("a flow that swallows every error is still stopped", function()
      fails(attacker({ memory_limit = 2 * 1024 * 1024 }), "swallow_everything", "budget")
    end)

    -- (the wall-clock cap far off, so that a loaded machine cannot make it fire first)
    it("stops an endless loop by the CPU-time deadline, also inside pcall", function()
      local unlimited = { instruction_budget = 1e12, deadline_ms = 50, wall_deadline_ms = 60000 }
      fails(attacker(unlimited), "spin", "deadline", "^CPU%-time deadline exceeded$")
      fails(attacker(unlimited), "spin_in_pcall", "deadline", "^CPU%-time deadline exceeded$")
    end)

    it("counts the CPU time a loop spends inside C functions", function()
      fails(attacker({ instruction_budget = 1e12, deadline_ms = 50, wall_deadline_ms = 60000 }), "spin_in_c", "deadline",
        "^CPU%-time deadline exceeded$")
    end)

    it("stops a loop by the wall-clock cap, the second line", function()
      fails(attacker({ instruction_budget = 1e12, deadline_ms = 60000, wall_deadline_ms = 50 }), "spin",
        "deadline", "^wall%-clock deadline exceeded$")
    end)

    -- the process stops itself, so it runs apart (spec/fixtures/sandbox/starved.lua)
    local function starved(stop_ms, deadline_ms, wall_deadline_ms)
      local p = assert(io.popen(("LUA_PATH='lua/?.lua;;' LUA_CPATH='%s/lua/?.so;;' luajit "
        .. "spec/fixtures/sandbox/starved.lua %d %d %d 2>&1"):format(BUILD, stop_ms, deadline_ms, wall_deadline_ms)))
      local out = p:read("*a")
      p:close()
      -- its result is the one JSON line; a library's warning on stderr (mongoc's, when it cannot
      -- map its counters) may come before it
      local ok, r = pcall(cjson.decode, out:match("(%b{})%s*$") or out)
      assert(ok and type(r) == "table", out)
      assert.is_true(r.longest_ms > stop_ms, "the stop did not land inside a callback: " .. out)
      return r, out
    end

    it("time the process is stopped does not count against an honest callback", function()
      local r, out = starved(600, 200, 2000)
      assert.equal(0, r.failed, out)
      assert.is_true(r.ok > 0, out)
    end)

    it("a callback stopped for longer than the wall-clock cap still fails by it", function()
      local r, out = starved(600, 200, 400)
      assert.equal("wall-clock deadline exceeded", r.first, out)
    end)

    it("stops a loop hidden in a __tostring metamethod", function()
      fails(attacker(), "tostring_bomb", "budget")
    end)

    it("a killed sandbox refuses any further call", function()
      local sb = attacker()
      fails(sb, "spin", "budget")
      fails(sb, "globals", "budget")
      assert.equal("instruction budget exceeded", sb:killed())
    end)

    it("refuses patterns that could backtrack for too long", function()
      fails(attacker(), "pattern_bomb", "error", "repetitions")
      fails(attacker(), "long_subject", "error", "too long for pattern matching")
    end)
  end)

  describe("memory", function()
    it("caps a growing table at the call's memory limit", function()
      local sb = attacker({ memory_limit = 2 * 1024 * 1024, instruction_budget = 1e9, deadline_ms = 5000 })
      local err = fails(sb, "memory_bomb", "memory")
      assert.matches("memory", err.message)
      local used, cap = sb:memory()
      assert.is_true(used <= cap)
    end)

    it("refuses a gigabyte string.rep", function()
      fails(attacker(), "rep_bomb", "memory")
    end)

    it("a memory error caught by pcall inside the flow leaves the sandbox usable", function()
      local sb = attacker()
      local ok, err = sb:flow_call("call", "rep_bomb_in_pcall")
      assert.is_false(ok)
      assert.matches("memory", err)
      assert.equal("table", type((sb:flow_call("call", "globals"))))
    end)

    it("cannot start with less memory than a state needs", function()
      assert.has_error(function() sandbox.new { memory_limit = 1024 } end)
    end)
  end)

  describe("data crossing the boundary", function()
    it("refuses to hand a function to the host", function()
      fails(attacker(), "return_function", "error", "only plain data")
    end)

    it("refuses a cyclic table", function()
      fails(attacker(), "return_cycle", "error", "nested too deep")
    end)

    it("never runs a flow's __tostring in the host when the flow raises a table", function()
      local err = fails(attacker(), "error_table_with_tostring", "error")
      assert.equal("(error object is a table)", err.message)
    end)

    it("reports errors as data with source and line", function()
      local err = fails(attacker(), "set_global", "error")
      assert.matches("attacks%.lua$", err.source)
      assert.equal(14, err.line)
    end)

    it("copies arguments in: a change inside never reaches the caller's table", function()
      local sb = new()
      assert(sb:load_flow(FLOWS .. "/honest.lua"))
      local mine = { a = { 1, 2 } }
      local back = sb:flow_call("call", "echo", mine)
      assert.same(mine, back)
      assert.are_not.equal(mine, back)
    end)
  end)

  describe("isolation between calls", function()
    it("one call cannot see another call's data", function()
      local a, b = attacker(), attacker()
      assert.equal(1, (a:flow_call("call", "remember", "Alpha patient DOB 1985-03-15")))
      assert.same({}, (b:flow_call("call", "recall")))
      assert.same({ "Alpha patient DOB 1985-03-15" }, (a:flow_call("call", "recall")))
    end)

    it("a closed sandbox refuses calls", function()
      local sb = attacker()
      sb:close()
      assert.has_error(function() sb:flow_call("call", "globals") end, "sandbox is closed")
    end)
  end)
end)

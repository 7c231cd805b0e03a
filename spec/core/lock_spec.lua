-- Specs of the lock area of sova.core (core/bind/lock.c): a process's critical sections. That two
-- threads of one process wait on each other is shown where they run, in the API
-- (spec/api/patients_spec.lua: the dashboard stays exact under concurrent writes).
-- Run from the repo root: busted spec/core/lock_spec.lua
local helpers = require("helpers")
local lock = helpers.core.lock

describe("sova.core.lock #core", function()
  it("runs the function with its arguments and gives back all its results", function()
    local a, b, c = lock.held("k", function(x, y) return x + y, "two", nil end, 1, 2)
    assert.equal(3, a)
    assert.equal("two", b)
    assert.is_nil(c)
    assert.same({ 7 }, { lock.held("k", function() return 7 end) })
  end)

  it("raises the function's error again, the same value, and can be taken again after", function()
    local err = { code = "boom" }
    local ok, got = pcall(lock.held, "k", function() error(err) end)
    assert.is_false(ok)
    assert.equal(err, got)
    assert.equal("after", lock.held("k", function() return "after" end))
  end)

  it("may be taken again inside its own section", function()
    assert.equal("inner", lock.held("k", function() return lock.held("k", function() return "inner" end) end))
  end)

  it("refuses a call without a key or a function", function()
    assert.has_error(function() lock.held(nil, function() end) end)
    assert.has_error(function() lock.held("k", "not a function") end)
  end)
end)

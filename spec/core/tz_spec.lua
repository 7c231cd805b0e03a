-- Specs of the tz area of sova.core (core/bind/tz.c): time zones by IANA name, from ICU.
-- Run from the repo root: busted spec/core/tz_spec.lua
local helpers = require("helpers")
local tz = helpers.core.tz

-- 2026-07-01 and 2026-12-01, 12:00 UTC
local JULY, DECEMBER = 1782907200, 1796126400

describe("sova.core.tz #core", function()
  it("knows IANA zones, and nothing else", function()
    assert.is_true(tz.valid("America/Chicago"))
    assert.is_true(tz.valid("Asia/Kolkata"))
    assert.is_true(tz.valid("UTC"))
    for _, name in ipairs { "Mars/Base", "", "America/Chicago/x", "GMT+99", ("A"):rep(200), "America/Chicago\0x" } do
      assert.is_false(tz.valid(name), name)
    end
  end)

  it("gives the offset east of UTC at a moment, daylight saving time included", function()
    assert.equal(-5 * 3600, tz.offset("America/Chicago", JULY))
    assert.equal(-6 * 3600, tz.offset("America/Chicago", DECEMBER))
    assert.equal(-7 * 3600, tz.offset("America/Phoenix", JULY)) -- no daylight saving time there
    assert.equal(-7 * 3600, tz.offset("America/Phoenix", DECEMBER))
    assert.equal(5 * 3600 + 1800, tz.offset("Asia/Kolkata", DECEMBER))
    assert.equal(0, tz.offset("UTC", JULY))
  end)

  it("changes at the moment the clocks change (2026-11-01 07:00 UTC in Chicago)", function()
    local change = 1793516400
    assert.equal(-5 * 3600, tz.offset("America/Chicago", change - 1))
    assert.equal(-6 * 3600, tz.offset("America/Chicago", change))
  end)

  it("answers nil and why for a name that is not a zone; raises on misuse", function()
    assert.same({ nil, "not a time zone" }, { tz.offset("Mars/Base", JULY) })
    assert.has_error(function() tz.offset(nil, JULY) end)
    assert.has_error(function() tz.offset("UTC", "noon") end)
  end)
end)

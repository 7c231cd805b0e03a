-- sova.campaign.policy: what a campaign may ask, when a result calls for another attempt, and
-- when a time is inside the calling window (lua/sova/campaign/policy.lua).
local policy = require("sova.campaign.policy")

local OPTS = {
  zone_ok = function(z) return z == "America/Chicago" or z == "UTC" end,
  field_ok = function(k) return k == "time_zone" end,
}

-- 2026-12-07 is a Monday; seconds since the epoch at hh:mm UTC that day, plus `days`
local MONDAY = 1796601600
local function at(days, hh, mm) return MONDAY + days * 86400 + hh * 3600 + (mm or 0) * 60 end
local UTC = function() return 0 end
local CST = function() return -6 * 3600 end

describe("sova.campaign.policy #unit", function()
  it("fills the defaults of a minimal request", function()
    local s = assert(policy.parse({ mode = "simulated" }, OPTS))
    assert.equal("simulated", s.mode)
    assert.equal(5, s.concurrency)
    assert.equal(1, s.calls_per_second)
    assert.is_nil(s.window)
    assert.same(policy.DEFAULT_RETRY, s.retry)
  end)

  it("names every field it refuses, with what it expects", function()
    local s, errors = policy.parse({ mode = "fax", concurrency = 0, calls_per_second = 0 / 0,
      window = { days = { "mon", "mon", "funday" }, start = "9:00", ["end"] = "25:00", time_zone = "Mars/Base", extra = 1 },
      retry = { completed = { attempts = 2, every_minutes = 5 }, busy = { attempts = 11, every_minutes = 0.5 } } }, OPTS)
    assert.is_nil(s)
    for _, k in ipairs { "mode", "concurrency", "calls_per_second", "window.days.2", "window.days.3", "window.start",
      "window.end", "window.time_zone", "window.extra", "retry.completed", "retry.busy.attempts", "retry.busy.every_minutes" } do
      assert.is_string(errors[k], k)
    end
    assert.matches("whole number from 1 to 50", errors.concurrency)
  end)

  it("refuses a window that ends before it starts, lists no day, or takes its zone from no such field", function()
    local _, errors = policy.parse({ mode = "phone", window = { days = {}, start = "17:00", ["end"] = "09:00", time_zone = { field = "dob" } } }, OPTS)
    assert.matches("list of days", errors["window.days"])
    assert.matches("after the start", errors["window.end"])
    assert.matches("text field", errors["window.time_zone.field"])
  end)

  it("keeps a retry rule given, and the defaults of the others", function()
    local s = assert(policy.parse({ mode = "phone", retry = { no_answer = { attempts = 5, every_minutes = 15 } } }, OPTS))
    assert.same({ attempts = 5, every_minutes = 15 }, s.retry.no_answer)
    assert.same(policy.DEFAULT_RETRY.busy, s.retry.busy)
  end)

  it("schedules another attempt while a retryable result has attempts left, and none after a completed call", function()
    local s = assert(policy.parse({ mode = "phone", retry = { busy = { attempts = 3, every_minutes = 10 } } }, OPTS))
    assert.equal(1000 + 600, policy.retry_at(s, "busy", 1, 1000))
    assert.equal(1000 + 600, policy.retry_at(s, "busy", 2, 1000))
    assert.is_nil(policy.retry_at(s, "busy", 3, 1000))
    assert.is_nil(policy.retry_at(s, "completed", 1, 1000))
    assert.is_nil(policy.retry_at(s, "wrong_number", 1, 1000))
  end)

  describe("the calling window", function()
    local w = assert(policy.parse({ mode = "phone",
      window = { days = { "mon", "tue", "wed", "thu", "fri" }, start = "09:00", ["end"] = "17:00", time_zone = "America/Chicago" } }, OPTS)).window

    it("is open inside its hours on its days", function()
      assert.equal(at(0, 9), policy.open_at(w, at(0, 9), UTC))
      assert.equal(at(0, 16, 59), policy.open_at(w, at(0, 16, 59), UTC))
    end)

    it("opens later the same day before its start, and the next listed day after its end", function()
      assert.equal(at(0, 9), policy.open_at(w, at(0, 3), UTC))
      assert.equal(at(1, 9), policy.open_at(w, at(0, 17), UTC))
      assert.equal(at(7, 9), policy.open_at(w, at(4, 18), UTC)) -- Friday evening: next Monday
      assert.equal(at(7, 9), policy.open_at(w, at(5, 12), UTC)) -- Saturday noon
    end)

    it("is read in the zone's local time", function()
      -- 15:00 UTC on Monday is 09:00 in Chicago (UTC-6 in December): open
      assert.equal(at(0, 15), policy.open_at(w, at(0, 15), CST))
      -- 10:00 UTC is 04:00 there: it opens at 09:00 Chicago, 15:00 UTC
      assert.equal(at(0, 15), policy.open_at(w, at(0, 10), CST))
      -- Monday 02:00 UTC is still Sunday 20:00 in Chicago: Monday 09:00 Chicago
      assert.equal(at(0, 15), policy.open_at(w, at(0, 2), CST))
    end)

    it("asks the zone's offset again across a daylight-saving change", function()
      local change = at(2, 0) -- from Wednesday 00:00 UTC the zone is an hour ahead
      local function dst(t) return t < change and -6 * 3600 or -5 * 3600 end
      assert.equal(at(2, 14), policy.open_at(w, at(1, 23), dst)) -- Tue 17:00 CST: Wed 09:00 CDT
    end)

    it("without a window, any time is open", function()
      assert.equal(123, policy.open_at(nil, 123, UTC))
    end)
  end)
end)

-- Login throttling: more than 5 failed attempts for one email within 15 minutes answer 429,
-- then also for the right password; more than 20 failures from one IP answer 429.
-- Its own file: the throttle state would otherwise lock the demo users out of other specs.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

describe("login throttling #api", function()
  local db, api

  lazy_setup(function()
    db, api = helpers.setup()
  end)

  lazy_teardown(helpers.stop_all)

  it("answers 429 after 5 failed attempts for one email, also to the right password", function()
    local statuses = {}
    for i = 1, 5 do
      local _, res = helpers.login(api, ALPHA.host, ALPHA.email, "wrong password " .. i)
      assert.status(401, res)
      statuses[i] = res.status
    end
    local _, res = helpers.login(api, ALPHA.host, ALPHA.email, "wrong password 6")
    assert.status(429, res)
    assert.is_table(res.json and res.json.error)
    local token, right = helpers.login(api, ALPHA.host, ALPHA.email, helpers.DEMO_PASSWORD)
    assert.is_nil(token)
    assert.status(429, right)
    assert.falsy(right.body:find("token", 1, true))
  end)

  it("does not lock out another user", function()
    local token, res = helpers.login(api, BETA.host, BETA.email, helpers.DEMO_PASSWORD)
    assert.status(200, res)
    assert.truthy(token)
  end)

  it("answers 429 once one IP has failed more than 20 times, whatever the emails", function()
    local first_429
    for i = 1, 25 do
      local _, res = helpers.login(api, BETA.host, string.format("nobody%02d@example.com", i), "guess")
      if res.status == 429 then first_429 = first_429 or i else assert.status(401, res) end
    end
    -- earlier failures of this file (6 or 7) count for the IP too, so 429 comes by the 21st here
    assert.truthy(first_429, "no 429 after 25 more failed logins from one IP")
    assert.is_true(first_429 <= 21)
  end)
end)

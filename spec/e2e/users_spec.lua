-- User administration in the browser (issue 12): frontend/e2e/users.mjs drives Debian's
-- Chromium against the real `sova api` (serving frontend/dist): an invitation link accepted
-- without a sign-in, one's own password change, a disabled user's open tab signed out, a reset
-- link. Screenshots in .test-runs/screenshots/.
local helpers = require("helpers")
local e2e = require("helpers.e2e")

describe("user administration in the browser #e2e #users", function()
  local db, api

  lazy_setup(function()
    e2e.require_tools()
    db, api = helpers.setup({ api = { env = { SOVA_FRONTEND_DIR = e2e.DIST } } })
  end)
  lazy_teardown(helpers.stop_all)

  it("an administrator invites, disables and resets; the invitee joins and changes the password", function()
    local results, out, code = e2e.run("users.mjs", api, helpers.DEMO_PASSWORD, {}, "steps")
    local context = "\n--- node output ---\n" .. out
    assert(results, "users.mjs printed no results" .. context)
    assert(results.ok == true, "e2e failures: " .. table.concat(results.failures or {}, "; ") .. context)
    assert.equal(0, code, context)
    assert.equal(5, #results.steps)
    local nurse = db:handle():find_one("users", { email = "e2e.nurse@example.com" })
    assert.equal("active", nurse.status)
    assert.equal("staff", nurse.role)
  end)
end)

-- A campaign in the browser (issue 12): frontend/e2e/campaign.mjs drives Debian's Chromium
-- against the real `sova api` (serving frontend/dist), `sova bot`, `sova campaigns` and the
-- phone simulator, whose callees are a busy line, a line that fails, an answering machine and a
-- person who hangs up: staff tick the patients, start a simulated campaign, watch the progress
-- bar fill as the calls run, and download the report. Screenshots in .test-runs/screenshots/.
local helpers = require("helpers")
local e2e = require("helpers.e2e")
local BETA = helpers.BETA

local CALLEES = {
  ["+14155560001"] = { kind = "busy", ring_ms = 500 },
  ["+14155560002"] = { kind = "failed" },
  ["+14155560003"] = { kind = "voicemail", ring_ms = 800, greeting = "Please leave a message after the tone.",
    beep_ms = 300, max_message_s = 30 },
  ["+14155560004"] = { kind = "human", ring_ms = 800, greeting = "Hello?", lines = { "Not now, sorry." },
    hangup_in_line = 1, hangup_at_ms = 700 },
}

describe("a campaign in the browser #e2e #campaign", function()
  local db, api, bot, sim

  lazy_setup(function()
    e2e.require_tools()
    sim = helpers.start_phonesim({ scenarios = CALLEES })
    db, api, bot = helpers.setup_calls({
      api = { env = { SOVA_FRONTEND_DIR = e2e.DIST } },
      bot = { env = { SOVA_PHONE_SIM_URL = sim.api_base, SOVA_PHONE_SIM_ACCOUNT_SID = sim.account_sid,
        SOVA_PHONE_SIM_AUTH_TOKEN = sim.auth_token } },
    })
    helpers.start_campaigns(db, bot)
    local f = helpers.factory(db, api)
    for number in pairs(CALLEES) do f:patient(BETA, "patient_questions", { phone_number = number }) end
  end)
  lazy_teardown(helpers.stop_all)

  it("staff start a campaign of ticked patients and watch it run to the end", function()
    local results, out, code = e2e.run("campaign.mjs", api, helpers.DEMO_PASSWORD, { E2E_PATIENTS = 4 }, "steps")
    local context = "\n--- node output ---\n" .. out
    assert(results, "campaign.mjs printed no results" .. context)
    assert(results.ok == true, "e2e failures: " .. table.concat(results.failures or {}, "; ") .. context)
    assert.equal(0, code, context)
    assert.equal(4, results.report_rows)
    -- the simulator took one call per patient: the busy and failed lines got no second attempt
    local created = sim:events(function(e) return e.event == "created" end)
    assert.equal(4, #created, context)
  end)
end)

-- Browser end-to-end (issue 4): frontend/e2e/three_tabs.mjs drives Debian's Chromium with
-- playwright-core against the real `sova api` (serving frontend/dist), `sova bot` and FerretDB:
-- three browser contexts at the same time (Alpha prior_auth, Alpha patient_questions, Beta
-- patient_questions), each adding a patient through the form and playing a test call to the end,
-- then the isolation checks. axe-core checks each main page of each tab for accessibility (no
-- serious or critical violation). Screenshots go to .test-runs/screenshots/ (git-ignored).
--
-- Needs a built frontend (`cd frontend && npm run build`; scripts/test builds it first), node with
-- frontend/node_modules (playwright-core) and /usr/bin/chromium (or E2E_CHROMIUM). A missing one
-- fails the spec: CI must install them.
local helpers = require("helpers")
local e2e = require("helpers.e2e")

describe("web UI, three clinics' tabs at once #e2e", function()
  local api

  lazy_setup(function()
    e2e.require_tools()
    local _
    _, api = helpers.setup_calls({ api = { env = { SOVA_FRONTEND_DIR = e2e.DIST } } })
  end)

  lazy_teardown(helpers.stop_all)

  it("each tab completes its own workflow's call, and the clinics stay apart", function()
    local results, out, code = e2e.run("three_tabs.mjs", api, helpers.DEMO_PASSWORD, nil, "tabs")
    local context = "\n--- node output ---\n" .. out .. "\n--- api log tail ---\n" .. (api.log_text and
      tostring(api:log_text()):sub(-4000) or "")
    assert(results, "three_tabs.mjs printed no JSON results" .. context)
    assert(code == 0, "three_tabs.mjs exited " .. tostring(code) .. context)
    assert(results.ok == true, "e2e failures: " .. table.concat(results.failures or {}, "; ") .. context)
    assert.are.same({}, results.failures)

    local want_tabs = {
      ["alpha-prior_auth"] = "clients/demo_clinic_alpha/prior_auth",
      ["alpha-patient_questions"] = "clients/demo_clinic_alpha/patient_questions",
      ["beta-patient_questions"] = "clients/demo_clinic_beta/patient_questions",
    }
    for name, path in pairs(want_tabs) do
      local t = results.tabs[name]
      assert(t, "no results for tab " .. name .. context)
      assert(t.ok == true, "tab " .. name .. ": " .. tostring(t.error) .. context)
      assert.are.equal(path, t.flow_path)
      assert.is_table(t.outcome)
    end
    assert.are.equal("Approved", results.tabs["alpha-prior_auth"].outcome.prior_auth_status)
    assert.are.equal("Confirmed", results.tabs["alpha-patient_questions"].outcome.checkin_status)
    assert.is_nil(results.tabs["alpha-patient_questions"].outcome.pain_level)
    assert.are.equal("Confirmed", results.tabs["beta-patient_questions"].outcome.checkin_status)
    assert.are.equal("Mandarin", results.tabs["beta-patient_questions"].outcome.preferred_language)

    -- axe-core ran on every main page of every tab and found nothing serious or critical
    local main_pages = { "login", "workflow picker", "patient list", "patient form", "patient detail", "live call",
      "session", "dashboard" }
    assert.are.same(main_pages, results.main_pages)
    for name in pairs(want_tabs) do
      for _, page in ipairs(main_pages) do
        local a = results.tabs[name].a11y[page]
        assert(a and a.checked == true, "axe-core did not check " .. name .. " " .. page .. context)
        local blocking = {}
        for _, v in ipairs(a.violations) do
          if v.impact == "serious" or v.impact == "critical" then
            blocking[#blocking + 1] = v.impact .. " " .. v.id .. " at " .. table.concat(v.targets, ", ")
          end
        end
        assert.are.same({}, blocking, name .. " " .. page)
        assert.are.equal(0, a.blocking)
      end
    end

    for _, check in ipairs({ "beta_opens_alpha_patient", "alpha_list_hides_beta_patient",
                              "alpha_user_refused_on_beta_host" }) do
      local c = results.isolation[check]
      assert(c, "isolation check " .. check .. " did not run" .. context)
      assert(c.ok == true, "isolation check " .. check .. ": " .. tostring(c.error) .. context)
    end

    for _, page in ipairs({ "01-login", "02-list", "03-form", "05-live-start", "06-live-ended", "07-session",
                            "09-dashboard" }) do
      for name in pairs(want_tabs) do
        assert(helpers.proc.exists(e2e.SHOTS .. "/" .. name .. "-" .. page .. ".png"), "no screenshot " .. name .. "-" .. page)
      end
    end
  end)
end)

-- Restarts: the data and the tokens survive an API restart; with the database down the API
-- answers 503 quickly (never hangs, never dies) and recovers when the database is back.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local QUICK = 8 -- seconds: "within a few seconds, never a hang"

describe("restarts #api", function()
  local db, api, f, alpha, beta

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    alpha = f:login(ALPHA)
    beta = f:login(BETA)
  end)

  lazy_teardown(helpers.stop_all)

  describe("of the API", function()
    it("keep the patients and the tokens", function()
      local created = f:patient(ALPHA, "prior_auth", { patient_name = "Survivor One" }) -- (201)
      api:restart()
      assert.is_true(api:alive())
      local res = helpers.http(api, "GET", "/api/patients/" .. created.id, { token = alpha })
      assert.status(200, res)
      assert.same(created, res.json)
      local list = helpers.http(api, "GET", "/api/workflows/patient_questions/patients", { host = BETA.host, token = beta })
      assert.status(200, list)
    end)

    it("keep logged-out tokens logged out", function()
      local token = helpers.login_as(api, BETA)
      assert.status(204, helpers.http(api, "POST", "/api/auth/logout", { host = BETA.host, token = token }))
      api:restart()
      assert.status(401, helpers.http(api, "GET", "/api/me", { host = BETA.host, token = token }))
    end)
  end)

  describe("of the database", function()
    local patient

    lazy_setup(function()
      patient = f:patient(ALPHA, "patient_questions", { patient_name = "Survivor Two" })
    end)

    it("answer 503 on health and PHI within a few seconds while it is down", function()
      db:stop()
      local res = helpers.http(api, "GET", "/api/health", { timeout_ms = 20000 })
      assert.status(503, res)
      assert.same({ status = "degraded", database = "unavailable" }, res.json)
      assert.is_true(res.elapsed < QUICK, "health took " .. res.elapsed .. " s")

      for _, path in ipairs({ "/api/workflows/patient_questions/patients", "/api/patients/" .. patient.id,
        "/api/workflows/patient_questions/dashboard" }) do
        res = helpers.http(api, "GET", path, { token = alpha, timeout_ms = 20000 })
        assert.status(503, res)
        assert.is_table(res.json and res.json.error)
        assert.is_true(res.elapsed < QUICK, path .. " took " .. res.elapsed .. " s")
        assert.falsy(res.body:find("Survivor Two", 1, true))
      end

      res = helpers.http(api, "POST", "/api/workflows/patient_questions/patients",
        { token = alpha, body = helpers.valid_patient("patient_questions"), timeout_ms = 20000 })
      assert.status(503, res)
      assert.is_true(res.elapsed < QUICK)

      -- a login cannot be checked either: 503, not 401 (the password may well be right)
      local _, login = helpers.login(api, ALPHA.host, ALPHA.email, helpers.DEMO_PASSWORD)
      assert.status(503, login)

      assert.is_true(api:alive(), "sova api died with the database down")
    end)

    it("answer a stream of requests while it is down without dying", function()
      for _ = 1, 3 do
        local res = helpers.http(api, "GET", "/api/health", { timeout_ms = 20000 })
        assert.status(503, res)
      end
      assert.is_true(api:alive())
    end)

    it("recover when it is back, with the data", function()
      db:start()
      helpers.wait_until(function()
        return helpers.http(api, "GET", "/api/health", { timeout_ms = 20000 }).status == 200
      end, 30, 0.25)
      local res = helpers.wait_until(function()
        local r = helpers.http(api, "GET", "/api/patients/" .. patient.id, { token = alpha })
        return r.status == 200 and r
      end, 15, 0.25)
      assert.equal("Survivor Two", res.json.patient_name)
      assert.status(200, helpers.http(api, "GET", "/api/workflows/patient_questions/patients",
        { host = BETA.host, token = beta }))
    end)

    it("lose nothing a client was told was stored when the database crashes under a stream of writes", function()
      local proc = helpers.proc
      local victims, stop = proc.temp_path("victims", ".txt"), proc.temp_path("stop", "")
      assert(io.open(victims, "w")):close()
      local log = proc.temp_path("churn", ".log")
      local churn = proc.spawn({ proc.sova_bin(), "script", proc.root .. "/spec/fixtures/patient_churn.lua",
        api.url, ALPHA.host, alpha, "patient_questions",
        require("cjson").encode(helpers.valid_patient("patient_questions")), "100000", victims, stop },
        { stdout = log, stderr = log .. ".err", name = "patient_churn" })
      local function count(word)
        local _, n = (proc.read_file(log) or ""):gsub(word .. " ", "")
        return n
      end
      helpers.wait_until(function() return count("created") >= 10 end, 60, 0.05)
      db:kill()
      helpers.wait_until(function() return count("failed") >= 3 end, 60, 0.05)
      local created_while_down = count("created")
      db:start()
      helpers.wait_until(function() return count("created") >= created_while_down + 10 end, 60, 0.1)
      assert(io.open(stop, "w")):close()
      assert.equal(0, churn:wait(60), "patient_churn: " .. (proc.read_file(log .. ".err") or ""))
      assert.is_true(api:alive())

      local out = proc.read_file(log)
      local created = {}
      for line in out:gmatch("[^\n]+") do
        local word, what = line:match("^(%a+) (%S+)$")
        if word == "created" then created[#created + 1] = what else assert.equal("failed 503", line) end
      end
      for _, id in ipairs(created) do
        assert.status(200, helpers.http(api, "GET", "/api/patients/" .. id, { token = alpha }))
      end
      -- and each is in the list once
      local shown, cursor = {}, nil
      repeat
        local res = helpers.http(api, "GET", "/api/workflows/patient_questions/patients?limit=100" ..
          (cursor and ("&cursor=" .. cursor) or ""), { token = alpha })
        assert.status(200, res)
        for _, p in ipairs(res.json.items) do
          assert.is_nil(shown[p.id], "shown twice: " .. p.id)
          shown[p.id] = true
        end
        cursor = res.json.next_cursor ~= helpers.null and res.json.next_cursor or nil
      until not cursor
      for _, id in ipairs(created) do assert.is_true(shown[id], "missing from the list: " .. id) end
    end)

    it("recover after a crash of the database (SIGKILL) too", function()
      db:kill()
      assert.status(503, helpers.http(api, "GET", "/api/health", { timeout_ms = 20000 }))
      db:start()
      helpers.wait_until(function()
        return helpers.http(api, "GET", "/api/health").status == 200
      end, 30, 0.25)
      helpers.wait_until(function()
        return helpers.http(api, "GET", "/api/patients/" .. patient.id, { token = alpha }).status == 200
      end, 15, 0.25)
    end)
  end)
end)

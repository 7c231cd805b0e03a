-- Calls through the real API and the real bot: the API hands the bot a signed call start, the
-- bot runs the workflow's own flow in a sandbox, a "staff member" plays the other party over the
-- live WebSocket, and the transcript and outcome land in the database. Tags: #api #calls
local helpers = require("helpers")
local core = helpers.core
local cjson = helpers.cjson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local conversations = require("fixtures.conversations")

describe("calls #api #calls", function()
  local db, api, bot, f

  local function session_doc(id) return helpers.session_doc(db, id) end
  local function wait_session(id, timeout) return helpers.wait_session(db, id, timeout) end

  -- Plays lines over the live WebSocket, one after each answer; returns what the bot sent.
  local function play(live_url, lines)
    local ws = assert(core.ws_client.connect(live_url))
    local got = {}
    local function drain(ms)
      while true do
        local m, err = ws:receive(ms)
        if not m then return err end
        got[#got + 1] = cjson.decode(m)
      end
    end
    drain(400)
    for _, line in ipairs(lines) do
      assert(ws:send(cjson.encode({ type = "say", text = line })))
      if drain(400) == "closed" then break end
    end
    drain(1000)
    ws:close()
    return got
  end

  lazy_setup(function()
    db, api, bot = helpers.setup_calls({ bot = { env = { SOVA_BOT_THREADS = "300" } } })
    f = helpers.factory(db, api)
    f:login(ALPHA)
    f:login(BETA)
  end)
  lazy_teardown(helpers.stop_all)

  it("a call in each of the three workflows runs that workflow's own flow", function()
    local cases = {
      { ALPHA, "prior_auth", "clients/demo_clinic_alpha/prior_auth" },
      { ALPHA, "patient_questions", "clients/demo_clinic_alpha/patient_questions" },
      { BETA, "patient_questions", "clients/demo_clinic_beta/patient_questions" },
    }
    for _, c in ipairs(cases) do
      local call = f:test_call(c[1], c[2])
      assert.matches("^ws://127%.0%.0%.1:%d+/calls/" .. call.session_id .. "/live%?token=", call.live_url)
      play(call.live_url, {})
      local s = session_doc(call.session_id)
      helpers.wait_until(function() s = session_doc(call.session_id) return s.flow and s.flow.sha256 end, 10)
      assert.equal(c[3], s.flow.path)
      local file = assert(io.open(c[3] .. "/flow_definition.lua", "rb"))
      assert.equal(core.crypto.sha256_hex(file:read("*a")), s.flow.sha256)
      file:close()
      f:req(c[1], "GET", "/api/sessions/" .. call.session_id) -- readable by its own clinic
    end
  end)

  it("a browser test call plays to the end: transcript in order, outcome written back", function()
    local call = f:test_call(ALPHA, "prior_auth", { patient_name = "Ada Lovelace" })
    local patient = call.patient
    local lines = conversations.alpha_prior_auth.lines
    local got = play(call.live_url, lines)
    local statuses = {}
    for _, m in ipairs(got) do if m.type == "status" then statuses[#statuses + 1] = m.status end end
    assert.equal("completed", statuses[#statuses])
    local s = wait_session(call.session_id)
    assert.equal("completed", s.status)
    assert.same(conversations.alpha_prior_auth.outcome, s.outcome)
    local users = {}
    for _, m in ipairs(s.transcript.messages) do if m.role == "user" then users[#users + 1] = m.content end end
    assert.same(lines, users)
    assert.matches("Ada Lovelace", s.transcript.messages[1].content, 1, true)
    local p = f:req(ALPHA, "GET", "/api/patients/" .. patient.id).json
    assert.equal("Completed", p.call_status)
    assert.equal("Approved", p.prior_auth_status)
    assert.equal("AUTH123456", p.reference_number)
    local listed = f:req(ALPHA, "GET", "/api/patients/" .. patient.id .. "/sessions").json
    assert.equal(call.session_id, listed.items[1].id)
  end)

  it("phone calls are refused plainly until telephony is configured", function()
    local patient = f:patient(ALPHA, "prior_auth")
    local res = f:req(ALPHA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "phone" })
    assert.status(422, res)
    assert.equal("telephony_not_configured", res.json.error.code)
  end)

  it("another clinic cannot start a call on a patient it does not have", function()
    local patient = f:patient(ALPHA, "prior_auth")
    local res = f:req(BETA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "browser" })
    assert.status(404, res)
    assert.equal(0, helpers.count(db, "sessions", { patient_id = helpers.oid(patient.id) }))
  end)

  it("the live socket refuses a token of another call, and a forged one", function()
    local a = f:test_call(ALPHA, "prior_auth")
    local b = f:test_call(BETA, "patient_questions")
    local token_of_b = b.live_url:match("token=(.+)$")
    for _, url in ipairs({
      (a.live_url:gsub("token=.+$", "token=" .. token_of_b)),
      (a.live_url:gsub("token=.+$", "token=9999999999.deadbeef")),
      (a.live_url:gsub("%?token=.+$", "")),
    }) do
      local ws = assert(core.ws_client.connect(url))
      local m = ws:receive(3000)
      assert.is_string(m)
      assert.equal("error", cjson.decode(m).type)
      local _, err = ws:receive(3000)
      assert.equal("closed", err)
      ws:close()
    end
    play(a.live_url, { "Our systems are down right now, you'll have to call back later." })
    play(b.live_url, { "Wrong number, nobody by that name lives here." })
  end)

  it("the bot refuses an unsigned or replayed call start", function()
    local res = core.http.request { method = "POST", url = bot.url .. "/calls", body = "{}",
      headers = { ["content-type"] = "application/json" } }
    assert.equal(401, res.status)
    local ts = tostring(os.time() - 3600)
    local body = "{}"
    res = core.http.request { method = "POST", url = bot.url .. "/calls", body = body, headers = {
      ["x-sova-timestamp"] = ts, ["x-sova-signature"] = core.crypto.hmac_sha256_hex(helpers.proc.state().bot_secret, ts .. "." .. body) } }
    assert.equal(401, res.status)
    assert.matches("stale", res.body)
  end)

  it("200 simultaneous calls across both clinics finish with their own, unmixed transcripts", function()
    local calls = {}
    for i = 1, 200 do
      local who, wf = ALPHA, "prior_auth"
      if i % 2 == 0 then who, wf = BETA, "patient_questions" end
      local name = ("Patient Number%03d"):format(i)
      local call = f:test_call(who, wf, { patient_name = name })
      call.name, call.i = name, i
      call.ws = assert(core.ws_client.connect(call.live_url))
      calls[i] = call
    end
    -- every call is live at once; now each party speaks its own line
    for _, c in ipairs(calls) do
      local line = c.who == ALPHA and ("Caller %d here. Our systems are down right now, you'll have to call back later."):format(c.i)
        or ("Caller %d here. Wrong number, nobody by that name lives here."):format(c.i)
      c.line = line
      assert(c.ws:send(cjson.encode({ type = "say", text = line })))
    end
    for _, c in ipairs(calls) do
      local s = wait_session(c.session_id, 180) -- the sanitizer build on two shared cores is slow
      c.ws:close()
      -- Alpha's insurer asks for a call back (no reference number: incomplete, for a retry);
      -- Beta's wrong number records its check-in status (completed)
      assert.is_truthy(s.status == (c.who == ALPHA and "incomplete" or "completed") or s.status == "failed", s.status)
      local users, all = {}, {}
      for _, m in ipairs(s.transcript.messages) do
        all[#all + 1] = m.content
        if m.role == "user" then users[#users + 1] = m.content end
      end
      assert.same({ c.line }, users)
      local text = table.concat(all, "\n")
      for other in text:gmatch("Patient Number(%d%d%d)") do
        assert.equal(c.i, tonumber(other), "call " .. c.i .. " mentions another call's patient")
      end
      for other in text:gmatch("Caller (%d+) here") do
        assert.equal(c.i, tonumber(other), "call " .. c.i .. " holds another call's line")
      end
      assert.equal(c.who == ALPHA and "clients/demo_clinic_alpha/prior_auth" or "clients/demo_clinic_beta/patient_questions",
        s.flow.path)
    end
  end)

  it("the dashboard counts the workflow's calls per day", function()
    local res = f:req(ALPHA, "GET", "/api/workflows/prior_auth/dashboard")
    assert.status(200, res)
    -- summed over the days: a run that crosses midnight (UTC) spreads over two
    local function total(per_day)
      local sum = 0
      for day, k in pairs(per_day) do
        assert.matches("^%d%d%d%d%-%d%d%-%d%d$", day)
        sum = sum + k
      end
      return sum
    end
    local n = helpers.count(db, "sessions", { workflow = "prior_auth", organization_id = helpers.org_doc(db, ALPHA)._id })
    assert.is_true(n >= 100)
    assert.equal(n, total(res.json.calls_per_day))
    local beta = f:req(BETA, "GET", "/api/workflows/patient_questions/dashboard").json
    assert.equal(helpers.count(db, "sessions", { organization_id = helpers.org_doc(db, BETA)._id }),
      total(beta.calls_per_day))
  end)

  it("the dashboard counts what the calls wrote: call statuses and outcome fields", function()
    local org = helpers.org_doc(db, BETA)._id
    local function truth(field, v)
      return helpers.count(db, "patients", { organization_id = org, workflow = "patient_questions", [field] = v })
    end
    -- the bot's last writes go through its writer: the patients and the counters agree once they land
    local deadline, d, wrong = core.sys.monotonic() + 30, nil, nil
    repeat
      d = f:req(BETA, "GET", "/api/workflows/patient_questions/dashboard").json
      wrong = nil
      for status, n in pairs(d.by_call_status) do
        if truth("call_status", status) ~= n then wrong = status .. ": " .. n .. " counted, " .. truth("call_status", status) .. " stored" end
      end
      for v, n in pairs(d.by_field.checkin_status) do
        if truth("checkin_status", v) ~= n then wrong = v .. ": " .. n .. " counted, " .. truth("checkin_status", v) .. " stored" end
      end
      if wrong then core.sys.sleep(0.5) end
    until not wrong or core.sys.monotonic() > deadline
    assert.is_nil(wrong)
    local sum = 0
    for _, n in pairs(d.by_call_status) do sum = sum + n end
    assert.equal(d.total, sum)
    assert.is_true(sum - (d.by_call_status["Not Started"] or 0) >= 100, cjson.encode(d.by_call_status)) -- called
  end)
end)

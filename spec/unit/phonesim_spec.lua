-- Specs of the phone simulator alone (sova-phone-sim, core/testkit/phonesim/): its REST API as
-- Twilio's (HTTP Basic, Twilio's error shapes, 201 with a CA sid, 404 for calls that are over),
-- its status and AMD callbacks (signed: verified here with the openssl command, in
-- SequenceNumber order, CallDuration on the last), busy, no-answer and failed callees, and a
-- scenario file it refuses. Webhooks go to the simulator's own sink (/_sim/sink/…), so no server
-- of the spec's own is needed; the Media Streams side is tested in C (core/tests/test_phonesim.c),
-- against a WebSocket server the Lua test kit cannot run.
-- Run: busted spec/unit/phonesim_spec.lua
local helpers = require("helpers")
local phonesim = helpers.phonesim

local HUMAN, BUSY, SILENT, FAILED, AMD = "+15550100001", "+15550100002", "+15550100003", "+15550100004", "+15550100005"
local FROM = "+15559990000"

describe("the phone simulator #unit #phonesim", function()
  local sim

  lazy_setup(function()
    sim = helpers.start_phonesim({
      scenarios = {
        [HUMAN] = { kind = "human", ring_ms = 100, greeting = "Hello?", lines = { "Yes." } },
        [BUSY] = { kind = "busy", ring_ms = 100 },
        [SILENT] = { kind = "no_answer" },
        [FAILED] = { kind = "failed" },
        [AMD] = { kind = "human", ring_ms = 100, amd_ms = 300 },
      },
    })
  end)
  lazy_teardown(helpers.stop_all)

  local function hangup_twiml(pause)
    return string.format('<Response><Pause length="%d"/><Hangup/></Response>', pause or 1)
  end

  local function call_of(to, extra)
    local p = { To = to, From = FROM, Twiml = hangup_twiml() }
    for k, v in pairs(extra or {}) do p[k] = v end
    local res = sim:create_call(p)
    assert.are.equal(201, res.status, res.body)
    return res.json
  end

  local function sink_events(path)
    return sim:events(function(e) return e.event == "sink" and e.path == "/_sim/sink/" .. path end)
  end

  local function final_of(sid)
    return sim:wait_event(function(e) return e.call == sid and e.event == "hangup" end, 15)
  end

  it("refuses a create without Basic auth or with a wrong token: 401, code 20003", function()
    local p = { To = HUMAN, From = FROM, Twiml = hangup_twiml() }
    for _, opts in ipairs({ { no_auth = true }, { password = "wrong" }, { user = "AC" .. string.rep("0", 32) } }) do
      local res = sim:create_call(p, opts)
      assert.are.equal(401, res.status)
      assert.are.equal(20003, res.json.code)
      assert.is_string(res.json.message)
    end
    -- the right credentials on another account's path are refused too
    local res = sim:create_call(p, { account = "AC" .. string.rep("1", 32) })
    assert.are.equal(401, res.status)
  end)

  it("answers 400 with Twilio's codes for a missing or bad parameter", function()
    local cases = {
      { { From = FROM, Twiml = hangup_twiml() }, 21201 },
      { { To = "5550100001", From = FROM, Twiml = hangup_twiml() }, 21211 },
      { { To = HUMAN, Twiml = hangup_twiml() }, 21213 },
      { { To = HUMAN, From = FROM }, 21205 },
      { { To = HUMAN, From = FROM, Twiml = "<Response><Gather/></Response>" }, 12100 },
      { { To = HUMAN, From = FROM, Twiml = "<Response>" .. string.rep("<Pause/>", 600) .. "</Response>" }, 21236 },
      { { To = HUMAN, From = FROM, Twiml = hangup_twiml(), StatusCallbackEvent = "picked-up" }, 21626 },
    }
    for _, case in ipairs(cases) do
      local res = sim:create_call(case[1])
      assert.are.equal(400, res.status, res.body)
      assert.are.equal(case[2], res.json.code, res.body)
    end
  end)

  it("creates a call: 201 with a CA sid, queued, and runs it to its end", function()
    local call = call_of(HUMAN)
    assert.matches("^CA%x+$", call.sid)
    assert.are.equal(34, #call.sid)
    assert.are.equal("queued", call.status)
    assert.are.equal(HUMAN, call.to)
    local hangup = final_of(call.sid)
    assert.are.equal("twiml", hangup.by)
    assert.are.equal("completed", hangup.status)
    -- over: an update is 404 with code 20404, and so is an unknown sid
    local res = sim:update_call(call.sid, { Status = "completed" })
    assert.are.equal(404, res.status)
    assert.are.equal(20404, res.json.code)
    res = sim:update_call("CA" .. string.rep("e", 32), { Twiml = hangup_twiml() })
    assert.are.equal(404, res.status)
  end)

  it("sends signed status callbacks in SequenceNumber order, CallDuration on completed", function()
    local call = call_of(HUMAN, {
      StatusCallback = sim:sink_url("status/s1"), StatusCallbackMethod = "POST",
      StatusCallbackEvent = { "initiated", "ringing", "answered", "completed" },
    })
    final_of(call.sid)
    local got = helpers.wait_until(function()
      local s = sink_events("status/s1")
      return #s == 4 and s
    end, 10)
    local statuses = {}
    for i, e in ipairs(got) do
      assert.is_true(sim:sink_signed(e), "signature of callback " .. i)
      local _, form = phonesim.form_decode(e.body)
      assert.are.equal(call.sid, form.CallSid)
      assert.are.equal(sim.account_sid, form.AccountSid)
      assert.are.equal(tostring(i - 1), form.SequenceNumber)
      assert.are.equal("call-progress-events", form.CallbackSource)
      assert.are.equal("outbound-api", form.Direction)
      statuses[i] = form.CallStatus
    end
    assert.are.same({ "initiated", "ringing", "in-progress", "completed" }, statuses)
    local _, last = phonesim.form_decode(got[4].body)
    assert.is_truthy(tonumber(last.CallDuration) >= 1)
    -- the check can fail: one byte changed in the body, or another token
    local forged = { path = got[4].path, signature = got[4].signature, body = got[4].body:gsub("completed", "completeD") }
    assert.is_false(sim:sink_signed(forged))
    assert.are_not.equal(got[4].signature, phonesim.signature("other-token", sim.url .. got[4].path, phonesim.form_decode(got[4].body)))
  end)

  it("sends only the final callback when no event is named", function()
    local call = call_of(BUSY, { StatusCallback = sim:sink_url("status/busy") })
    local hangup = final_of(call.sid)
    assert.are.equal("busy", hangup.status)
    local got = helpers.wait_until(function()
      local s = sink_events("status/busy")
      return #s == 1 and s
    end, 10)
    local _, form = phonesim.form_decode(got[1].body)
    assert.are.equal("busy", form.CallStatus)
    assert.are.equal("0", form.SequenceNumber)
    assert.are.equal("0", form.CallDuration)
  end)

  it("rings a no-answer number for its Timeout, and fails a failed one without ringing", function()
    local t0 = helpers.core.sys.monotonic()
    local silent = call_of(SILENT, { Timeout = "2", StatusCallback = sim:sink_url("status/na"),
      StatusCallbackEvent = { "ringing", "completed" } })
    local failed = call_of(FAILED, { StatusCallback = sim:sink_url("status/failed"),
      StatusCallbackEvent = { "initiated", "ringing", "completed" } })
    assert.are.equal("failed", final_of(failed.sid).status)
    assert.are.equal("no-answer", final_of(silent.sid).status)
    assert.is_truthy(helpers.core.sys.monotonic() - t0 >= 2)
    local f = helpers.wait_until(function()
      local s = sink_events("status/failed")
      return #s == 2 and s
    end, 10)
    local _, first = phonesim.form_decode(f[1].body)
    local _, second = phonesim.form_decode(f[2].body)
    assert.are.same({ "initiated", "failed" }, { first.CallStatus, second.CallStatus })
    local na = helpers.wait_until(function()
      local s = sink_events("status/na")
      return #s == 2 and s
    end, 10)
    local _, ring = phonesim.form_decode(na[1].body)
    local _, last = phonesim.form_decode(na[2].body)
    assert.are.same({ "ringing", "no-answer" }, { ring.CallStatus, last.CallStatus })
  end)

  it("gives the async AMD verdict, signed, when MachineDetection was asked for", function()
    local call = call_of(AMD, {
      MachineDetection = "DetectMessageEnd", AsyncAmd = "true",
      AsyncAmdStatusCallback = sim:sink_url("amd/s5"), AsyncAmdStatusCallbackMethod = "POST",
    })
    final_of(call.sid)
    local e = helpers.wait_until(function() return sink_events("amd/s5")[1] end, 10)
    assert.is_true(sim:sink_signed(e))
    local _, form = phonesim.form_decode(e.body)
    assert.are.equal("human", form.AnsweredBy)
    assert.are.equal(call.sid, form.CallSid)
    assert.is_truthy(tonumber(form.MachineDetectionDuration) >= 300)
    -- without AsyncAmd, no verdict is sent
    local plain = call_of(AMD, { AsyncAmdStatusCallback = sim:sink_url("amd/none") })
    final_of(plain.sid)
    assert.are.equal(0, #sink_events("amd/none"))
  end)

  it("runs <Dial>: an answering target, then the signed action with DialCallStatus; no TwiML back ends the call", function()
    local action = sim:sink_url("dial/s6")
    local call = call_of(HUMAN, {
      Twiml = string.format('<Response><Dial timeout="10" action="%s"><Number>%s</Number></Dial></Response>', action, AMD),
    })
    local hangup = final_of(call.sid)
    assert.are.equal("twiml_end", hangup.by) -- the sink answers an empty <Response>
    local e = sink_events("dial/s6")[1]
    assert.is_truthy(e)
    assert.is_true(sim:sink_signed(e))
    local _, form = phonesim.form_decode(e.body)
    assert.are.equal("completed", form.DialCallStatus)
    assert.are.equal("2", form.DialCallDuration) -- the target's talk_seconds (default 2)
    assert.matches("^CA%x+$", form.DialCallSid)
    assert.are_not.equal(call.sid, form.DialCallSid)
    -- a busy target: busy, at once after its ring
    local busy = call_of(HUMAN, {
      Twiml = string.format('<Response><Dial action="%s"><Number>%s</Number></Dial></Response>', sim:sink_url("dial/b"), BUSY),
    })
    final_of(busy.sid)
    local _, bform = phonesim.form_decode(sink_events("dial/b")[1].body)
    assert.are.equal("busy", bform.DialCallStatus)
    assert.is_nil(bform.DialCallDuration)
  end)

  it("hangs up a ringing call on Status=completed: canceled, 200", function()
    local call = call_of(SILENT, { Timeout = "30" })
    local res = sim:update_call(call.sid, { Status = "completed" })
    assert.are.equal(200, res.status)
    assert.are.equal("canceled", final_of(call.sid).status)
  end)

  it("refuses a scenario file with the number and field at fault", function()
    local ok, err = pcall(phonesim.start, { scenarios = { [HUMAN] = { kind = "human", lines = { 42 } } } })
    assert.is_false(ok)
    assert.matches("+15550100001", tostring(err), 1, true)
    assert.matches("line 1", tostring(err), 1, true)
    ok, err = pcall(phonesim.start, { scenarios = { ["555"] = { kind = "busy" } } })
    assert.is_false(ok)
    assert.matches("E.164", tostring(err), 1, true)
  end)
end)

-- Alpha's check-in over the phone, end to end and offline: the API places the call, the bot
-- dials the patient at the phone simulator, the patient answers "Hello?", is greeted once the
-- answering-machine verdict says a person, verifies, answers, and asks for a nurse whose line
-- does not answer (the flow takes the call back and finishes). Deepgram and Cartesia are
-- sova-standin on loopback: its Deepgram hears each utterance by its sound and answers with the
-- next line of a script, which is what the simulated patient says, call after call, in order.
-- Tags: #api #phone
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local cjson = helpers.cjson
local ALPHA = helpers.ALPHA

local FROM_ALPHA = "+15165550100"
local NURSE_LINE = "+15165550142" -- Alpha's flow transfers to it (clients/demo_clinic_alpha/patient_questions)
local ANSWERS, NURSE = "+15165550301", "+15165550302"

local CALLS = {
  [ANSWERS] = { "Speaking.", "This is Maria Garcia, born November 2nd, 1972.", "Yes, I'll be there.",
    "No, nothing's changed.", "No, that's all, thank you!" },
  [NURSE] = { "Speaking.", "This is Maria Garcia, born November 2nd, 1972.", "Yes, I'll be there.",
    "Before that, could I speak with a nurse?", "Okay, no, nothing's changed.", "No, that's all, thank you!" },
}

-- the spec's processes: the simulator (the nurse line as given), sova-standin scripted with what
-- the patients of `numbers` say in that order, and the API and bot pointed at both
local function start(nurse_line, numbers)
  local scenarios = { [NURSE_LINE] = nurse_line }
  local script = {}
  for _, number in ipairs(numbers) do
    scenarios[number] = { kind = "human", ring_ms = 1000, greeting = "Hello?", lines = CALLS[number] }
    script[#script + 1] = "Hello?"
    for _, l in ipairs(CALLS[number]) do script[#script + 1] = l end
  end
  local sim = helpers.start_phonesim({ scenarios = scenarios })
  local standin = support.start_standin("phone_checkin", script)
  local from = { ALPHA_TWILIO_FROM_NUMBER = FROM_ALPHA }
  local db, api = helpers.setup_calls({ bot = { env = sim:twilio_env(from, standin.env("phone_checkin")) },
    api = { env = sim:twilio_env(from) } })
  return sim, standin, helpers.factory(db, api)
end

local function stop(sim, standin)
  helpers.stop_all()
  if sim then sim:stop_clean() end
  if standin then standin.proc:stop(5) end
end

-- places a phone call to the patient at number and waits for its end: the session, a description
-- for failed expectations, and the patient
local function call(f, number)
  local patient = f:patient(ALPHA, "patient_questions", { phone_number = number })
  local res = f:req(ALPHA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "phone" })
  assert.equal(202, res.status, res.body)
  local doc = f:wait_session(res.json.session_id, 240)
  local lines = {}
  for _, m in ipairs(doc.transcript.messages) do lines[#lines + 1] = m.role .. ": " .. (m.said or m.content) end
  local info = cjson.encode({ status = doc.status, reason = doc.reason, ended_by = doc.ended_by, transcript = lines,
    events = doc.events })
  return doc, info, patient
end

describe("a check-in over the phone #api #phone", function()
  local f, sim, standin

  lazy_setup(function() sim, standin, f = start({ kind = "no_answer" }, { ANSWERS, NURSE }) end)
  lazy_teardown(function() stop(sim, standin) end)

  it("the patient answers, is greeted once a person is known to be there, and checks in", function()
    local doc, info, patient = call(f, ANSWERS)
    assert.equal("completed", doc.status, info)
    assert.equal("Confirmed", doc.outcome.checkin_status, info)
    assert.equal("No changes reported", doc.outcome.medication_changes, info)
    assert.equal("human", doc.phone.answered_by, info)
    -- the "Hello?" is answered by the greeting, not taken as a line
    local first = doc.transcript.messages[1]
    assert.equal("assistant", first.role, info)
    local call_sid = doc.phone.call_sid
    -- the patient heard every turn of the agent, the goodbye whole, and the bot hung up after it
    local turns = sim:call_events(call_sid, "bot_turn")
    assert.is_true(#turns >= 5, info)
    for _, t in ipairs(turns) do assert.is_false(t.barged_in, cjson.encode(t)) end
    assert.is_true(turns[#turns].heard_ms > 500, cjson.encode(turns[#turns]))
    local hangup = sim:wait_event(function(e) return e.call == call_sid and e.event == "hangup" end, 30)
    assert.equal("rest", hangup.by)
    local p = f:req(ALPHA, "GET", "/api/patients/" .. patient.id).json
    assert.equal("Confirmed", p.checkin_status)
    assert.equal("Completed", p.call_status)
    -- the pace of the bot's audio on the line: 20 ms frames, without long gaps inside its turns
    local stop = sim:wait_event(function(e) return e.call == call_sid and e.event == "stream_stop" end, 10)
    assert.is_true(stop.bot_media > 100, cjson.encode(stop))
    assert.equal(0, stop.bad_messages, cjson.encode(stop))
  end)

  it("asks for a nurse whose line does not answer: the flow takes the call back and finishes the check-in", function()
    local doc, info = call(f, NURSE)
    assert.equal("completed", doc.status, info)
    assert.equal(true, doc.outcome.needs_follow_up, info)
    assert.equal("Confirmed", doc.outcome.checkin_status, info)
    local call_sid = doc.phone.call_sid
    local dial = sim:wait_event(function(e) return e.call == call_sid and e.event == "dial" end, 5)
    assert.equal(NURSE_LINE, dial.to)
    assert.equal("no-answer", dial.status)
    -- the stream came back to the bot after the dial, and the transfer is in the session
    assert.equal(2, #sim:call_events(call_sid, "stream_start"), info)
    local transfers = 0
    for _, e in ipairs(doc.events) do if e.type == "transfer" then transfers = transfers + 1 end end
    assert.equal(1, transfers, info)
  end)
end)

describe("a check-in over the phone, the nurse answering #api #phone", function()
  local f, sim, standin

  lazy_setup(function() sim, standin, f = start({ kind = "human", ring_ms = 1500, talk_seconds = 3 }, { NURSE }) end)
  lazy_teardown(function() stop(sim, standin) end)

  it("a transfer the nurse answers hands the call over: the bot leaves it, the session says transferred", function()
    local doc, info = call(f, NURSE)
    assert.equal("completed", doc.status, info)
    assert.truthy((doc.reason or ""):find("transferred", 1, true), info)
    assert.equal(true, doc.outcome.needs_follow_up, info)
    local call_sid = doc.phone.call_sid
    local dial = sim:wait_event(function(e) return e.call == call_sid and e.event == "dial" end, 30)
    assert.equal(NURSE_LINE, dial.to)
    assert.equal("completed", dial.status)
    -- the bot's stream ended with the transfer and never came back; the line ended after the nurse
    assert.equal(1, #sim:call_events(call_sid, "stream_start"), info)
    local hangup = sim:wait_event(function(e) return e.call == call_sid and e.event == "hangup" end, 30)
    assert.is_true(hangup.by == "dial_action" or hangup.by == "twiml" or hangup.by == "twiml_end", cjson.encode(hangup))
  end)
end)

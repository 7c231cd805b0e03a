-- A prior-authorization phone call end to end, offline: the bot dials the insurer at the phone
-- simulator, meets its phone menu (keys pressed by updating the live call, the member ID followed
-- by pound), waits five minutes on hold to music (the recognizer paused, the hold watcher
-- listening locally for a person), and talks the representative through to the outcome. Alpha's
-- flow hears with Deepgram and speaks with Cartesia: sova-standin speaks both providers' wire
-- formats on loopback (its Deepgram hears each utterance by its sound and answers with the next
-- line of a script: here, what the simulator's callee says, in order).
-- Tags: #api #phone #slow
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local cjson = helpers.cjson
local ALPHA = helpers.ALPHA

local INSURER = "+15165667001"
local FROM_ALPHA = "+15165550100"
local HOLD_SECONDS = 300

local MENU = "Thank you for calling Aetna. Calls may be monitored or recorded. For providers, press 1. For members, press 2."
local PROVIDERS = "For eligibility and benefits, press 1. For prior authorization and precertification, press 2. For claims, press 3."
local MEMBER = "Please enter the member ID, followed by the pound key."
local HOLD = "Thank you. Please hold while we connect you to the next available representative."
local REP = {
  "Thank you for holding, this is Jennifer with Aetna provider services, how can I help you?",
  "Sure. It looks like that one is approved.",
  "The reference number is AUTH778812.",
  "Yes, that's correct.",
}

describe("a prior-auth phone call: menu, a five-minute hold, the representative #api #phone #slow", function()
  local db, api, f, sim, standin

  lazy_setup(function()
    sim = helpers.start_phonesim({ scenarios = {
      [INSURER] = { kind = "ivr", ring_ms = 1200, start = "main", nodes = {
        main = { type = "menu", say = MENU, keys = { ["1"] = "providers", ["2"] = "bye" } },
        providers = { type = "menu", say = PROVIDERS, keys = { ["1"] = "bye", ["2"] = "member", ["3"] = "bye" } },
        member = { type = "collect", say = MEMBER, ["until"] = "#", next = "queue" },
        queue = { type = "hold", say = HOLD, hold_seconds = HOLD_SECONDS, next = "rep" },
        rep = { type = "human", greeting = REP[1], lines = { REP[2], REP[3], REP[4] } },
        bye = { type = "hangup", say = "Goodbye." },
      } },
    } })
    local script = { MENU, PROVIDERS, MEMBER, HOLD } -- what the line says, in order
    for _, l in ipairs(REP) do script[#script + 1] = l end
    standin = support.start_standin("phone_pa", script)
    local from = { ALPHA_TWILIO_FROM_NUMBER = FROM_ALPHA }
    db, api = helpers.setup_calls({ bot = { env = sim:twilio_env(from, standin.env("phone_pa")) },
      api = { env = sim:twilio_env(from) } })
    f = helpers.factory(db, api)
  end)

  lazy_teardown(function()
    helpers.stop_all()
    if sim then sim:stop_clean() end
    if standin then standin.proc:stop(5) end
  end)

  it("keys through the menu, holds five minutes without the recognizer, and records the approval", function()
    local patient = f:patient(ALPHA, "prior_auth", { insurance_phone = INSURER })
    local res = f:req(ALPHA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "phone" })
    assert.equal(202, res.status, res.body)
    local sid = res.json.session_id
    local doc = f:wait_session(sid, HOLD_SECONDS + 240)
    local heard = {}
    for _, m in ipairs(doc.transcript.messages) do heard[#heard + 1] = m.role .. ": " .. (m.said or m.content) end
    local info = cjson.encode({ status = doc.status, reason = doc.reason, transcript = heard, events = doc.events })
    assert.equal("completed", doc.status, info)
    assert.equal("Approved", doc.outcome.prior_auth_status, info)
    assert.equal("AUTH778812", doc.outcome.reference_number, info)
    local call = doc.phone.call_sid
    -- the keys reached the menu: providers, prior authorization, the member ID's digits and pound
    local keys = {}
    for _, e in ipairs(sim:call_events(call, "play_digits")) do keys[#keys + 1] = e.digits end
    assert.same({ "1", "2", "123456#" }, keys)
    local collected = sim:wait_event(function(e) return e.call == call and e.event == "collected" end, 5)
    assert.equal("123456", collected.digits)
    -- the whole hold was waited out, and the agent said nothing to the music
    local hold = sim:wait_event(function(e) return e.call == call and e.event == "hold_end" end, 5)
    assert.equal(HOLD_SECONDS * 1000, hold.held_ms)
    -- each key press replaced the stream: one stream per press, and the first
    assert.equal(4, #sim:call_events(call, "stream_start"))
    -- the agent listened first: the menu heard no greeting, the representative did, whole
    local first = {}
    for _, m in ipairs(doc.transcript.messages) do
      if m.role == "assistant" then first = m; break end
    end
    assert.truthy((first.content or ""):find("City Medical Center", 1, true), info)
    assert.is_nil(first.interrupted, info)
    local agent_turns = 0
    for _, t in ipairs(sim:call_events(call, "bot_turn")) do
      agent_turns = agent_turns + 1
      assert.equal("rep", t.node, cjson.encode(t)) -- nothing said to the menu or the music
      assert.is_false(t.barged_in, cjson.encode(t))
    end
    assert.is_true(agent_turns >= 3, info)
    -- the bot hung up once its goodbye had played
    local hangup = sim:wait_event(function(e) return e.call == call and e.event == "hangup" end, 30)
    assert.equal("rest", hangup.by)
  end)
end)

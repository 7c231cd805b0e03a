-- Streaming end to end in a voice call (docs/live-protocol.md, "Voice"; docs/architecture.md, "Voice
-- calls on the media thread"): the model is the loopback OpenAI stand-in (its "gated" script sends
-- the first clause of its answer, then holds the stream open until the spec releases it), the
-- speech engines are the offline pocketsphinx and flite, the bot and the API are real. What is
-- proved is order, not timing: the agent's answer is heard while the stand-in still holds the rest
-- of it; the transcript then has the whole line and the turn's latency row the model's first token;
-- and the other party talking over an answer still streaming keeps only what was heard, in the
-- transcript and in what the model is told next. Tags: #api #voice
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local standin = require("fixtures.llm.standin")
local cjson = helpers.cjson
local ALPHA = helpers.ALPHA
local sys = helpers.core.sys

local WF = "demo_clinic_alpha/patient_questions"
local KEY_ENV = "SOVA_SPEC_STANDIN_KEY"
-- the stand-in's gated answer (spec/fixtures/llm/openai_standin.py: GATED_HEAD .. GATED_TAIL)
local HEAD = "Thank you, I have written that down and I am now looking through the schedule for the "
  .. "next free morning appointment with the doctor,"
local LINE = HEAD .. " and the first free time is Tuesday at nine."

describe("voice calls stream the model's answer into speech #api #voice", function()
  local db, api, f, root, llm

  lazy_setup(function()
    llm = standin.start({ script = "gated" })
    root = support.build_root()
    root:install(WF, "standin", { files = { ["services.yaml"] = table.concat({
      "# Written by spec/api/voice_stream_spec.lua: the loopback OpenAI stand-in, offline speech.",
      "llm:",
      "  provider: openai",
      "  model: gpt-standin",
      "  base_url: " .. llm.base_url,
      "  api_key_env: " .. KEY_ENV,
      "  timeout_ms: 90000",
      "stt:",
      "  provider: pocketsphinx",
      "tts:",
      "  provider: flite",
      "telephony:",
      "  provider: none",
    }, "\n") } })
    db, api = helpers.setup_calls({ bot = { env = { SOVA_ROOT = root.dir, [KEY_ENV] = llm.api_key } } })
    f = helpers.factory(db, api)
  end)

  lazy_teardown(function()
    if llm then llm:stop() end
    helpers.stop_all()
  end)

  before_each(function() llm:reset() end) -- the gate closed again

  local function voice_call()
    local patient = f:patient(ALPHA, "patient_questions")
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url)
    local ready = v:ready(20)
    assert.is_table(ready, "no audio.ready")
    assert.equal("audio.ready", ready.type, cjson.encode(ready))
    return call, v
  end

  -- listens (silence sent) until pred() holds; false after seconds
  local function until_true(v, seconds, pred)
    local deadline = sys.monotonic() + seconds
    while not v.closed and sys.monotonic() < deadline do
      if pred() then return true end
      v:listen(0.1)
    end
    return pred() and true or false
  end

  -- the greeting (the flow's own line) played out
  local function past_greeting(v)
    assert.is_true(until_true(v, 40, function()
      return v.loud_frames > 25 and sys.monotonic() - (v.last_loud_at or 0) > 0.8
    end), "the greeting was not heard")
  end

  local function transcripts(v, role)
    local out = {}
    for _, m in ipairs(v.got) do
      if m.type == "transcript" and m.role == role then out[#out + 1] = m end
    end
    return out
  end

  local function states()
    local out = {}
    for i, s in ipairs(llm:streams()) do out[i] = s.state end
    return out
  end

  local function message_said(doc, line)
    for _, m in ipairs(doc.transcript.messages) do
      if m.role == "assistant" and (m.content == line or m.said == line) then return m end
    end
  end

  it("speaks the answer's first clause while the model is still streaming it, then keeps the whole line "
    .. "and the model's first token", function()
    local call, v = voice_call()
    past_greeting(v)
    local agent_lines = #transcripts(v, "assistant")
    v:speak("I would like to book an appointment please.")
    -- a second of the answer's audio reaches the other party ...
    assert.is_true(until_true(v, 40, function() return v.loud_frames - v.loud_at_speak >= 50 end),
      "no answer heard; stand-in streams: " .. cjson.encode(states()))
    -- ... while the stand-in still holds the rest of the answer, so no line of it is complete yet
    assert.same({ "head_sent" }, states())
    assert.equal(agent_lines, #transcripts(v, "assistant"))
    llm:release()
    assert.is_true(until_true(v, 30, function()
      local said = transcripts(v, "assistant")
      return #said > agent_lines and said[#said].text == LINE
    end), "the whole line was not sent: " .. cjson.encode(transcripts(v, "assistant")))
    assert.same({ "done" }, states())
    -- the rest of the line is spoken too: audio goes on well past the first clause
    assert.is_true(until_true(v, 30, function() return sys.monotonic() - (v.last_loud_at or 0) > 1 end))
    v:send_json({ type = "hangup" })
    assert.is_true(v:wait_closed(20))
    local doc = f:wait_session(call.session_id, 30)
    local m = message_said(doc, LINE)
    assert.is_table(m, cjson.encode(doc.transcript.messages))
    assert.equal(LINE, m.content)
    assert.is_nil(m.interrupted)
    local row
    for _, r in ipairs(doc.latency or {}) do if r.turn == 2 then row = r end end
    assert.is_table(row, "no latency row for the answer: " .. cjson.encode(doc.latency))
    assert.is_number(row.model_first_token_ms, cjson.encode(row))
    assert.is_number(row.model_ms, cjson.encode(row))
    assert.is_number(row.platform_ms, cjson.encode(row))
    -- the first token came after the final transcript and before the line's audio began
    assert.is_true(row.model_first_token_ms >= row.recognizer_ms, cjson.encode(row))
    assert.is_true(row.model_first_token_ms <= row.turn_ms, cjson.encode(row))
  end)

  it("drops the rest of an answer the other party talks over while it streams, and keeps only what "
    .. "was heard", function()
    local call, v = voice_call()
    past_greeting(v)
    -- the interruption is synthesized now: made while the answer plays, it ate into the few seconds
    -- of the first clause on a loaded machine, and the clause could end before the other party spoke
    local INTERRUPTION = "Sorry, could you say that again please?"
    support.speech_pcm(INTERRUPTION)
    v:speak("I would like to book an appointment please.")
    assert.is_true(until_true(v, 40, function() return v.loud_frames - v.loud_at_speak >= 25 end),
      "no answer heard; stand-in streams: " .. cjson.encode(states()))
    v:speak(INTERRUPTION)
    local clear = v:seen(function(m) return m.type == "audio.clear" end, 10)
    assert.is_table(clear, "no audio.clear")
    assert.same({ "head_sent" }, states()) -- the model was still streaming the answer cut off
    llm:release()
    local cut = v:seen(function(m) return m.type == "transcript" and m.interrupted end, 20)
    assert.is_table(cut, "no interrupted transcript")
    assert.equal("assistant", cut.role)
    -- the agent answers the other party's line (the gate is open now: that answer streams whole)
    assert.is_true(until_true(v, 40, function()
      for i = #v.got, 1, -1 do
        local m = v.got[i]
        if m.type == "turn" and m.turn >= 3 then return true end
      end
    end), "no answer to the interruption")
    v:send_json({ type = "hangup" })
    assert.is_true(v:wait_closed(20))
    local doc = f:wait_session(call.session_id, 30)
    local m = message_said(doc, LINE)
    assert.is_table(m, cjson.encode(doc.transcript.messages))
    assert.is_true(m.interrupted)
    assert.equal(LINE, m.said)
    assert.equal(cut.text, m.content)
    assert.is_true(#m.content > 0 and #m.content < #HEAD, m.content)
    assert.equal(m.content, HEAD:sub(1, #m.content)) -- a beginning of the first clause: the rest was never said
    -- the model's next request carries only what was heard
    local reqs = llm:requests()
    assert.is_true(#reqs >= 2, cjson.encode(reqs))
    local told
    for _, msg in ipairs(reqs[#reqs].body.messages) do
      if msg.role == "assistant" and type(msg.content) == "string" and HEAD:sub(1, 10) == msg.content:sub(1, 10) then
        told = msg.content
      end
    end
    assert.equal(m.content, told)
    assert.is_true(#support.events(doc, "interrupted") >= 1)
  end)
end)

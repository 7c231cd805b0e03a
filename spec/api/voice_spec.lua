-- Voice test calls (docs/live-protocol.md, "Voice") through the real API and bot with the offline
-- engines: the other party is real audio (flite's rms voice, made at test time) sent in 20 ms
-- frames at real-time pace; the agent answers in audio (flite slt) recognized by pocketsphinx on
-- the bot. A call reaches its outcome by voice, the agent can be interrupted and keeps only what
-- was heard, a backchannel does not interrupt, the session is recorded, and hostile audio fails
-- only its own call with a clear reason. Tags: #api #voice
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local cjson = helpers.cjson
local ALPHA = helpers.ALPHA

describe("voice test calls in the browser #api #voice", function()
  local db, api, f

  lazy_setup(function()
    db, api = helpers.setup_calls()
    f = helpers.factory(db, api)
  end)

  lazy_teardown(helpers.stop_all)

  local function voice_call(wf, overrides)
    local patient = f:patient(ALPHA, wf, overrides)
    local call = f:call(ALPHA, patient, "browser_voice")
    call.patient = patient
    local v = support.voice(call.live_url)
    local ready = v:ready(20)
    assert.is_table(ready, "no audio.ready")
    assert.equal("audio.ready", ready.type, cjson.encode(ready))
    return call, v, ready
  end

  local function of_type(v, kind, from)
    local out = {}
    for i = from or 1, #v.got do if v.got[i].type == kind then out[#out + 1] = v.got[i] end end
    return out
  end

  it("answers audio.start with the same format and the engines that run, then speaks the greeting", function()
    local call, v, ready = voice_call("patient_questions")
    assert.same({ type = "audio.ready", encoding = "pcm_s16le", sample_rate = 16000, channels = 1, frame_ms = 20,
      stt = "pocketsphinx", tts = "flite" }, { type = ready.type, encoding = ready.encoding,
      sample_rate = ready.sample_rate, channels = ready.channels, frame_ms = ready.frame_ms, stt = ready.stt, tts = ready.tts })
    assert.is_true(v:await_agent(40))
    assert.is_true(v.loud_frames > 25, "the greeting was not heard as audio") -- at least half a second of speech
    assert.equal(0, v.audio_bytes % 640) -- whole 20 ms PCM16 frames at 16 kHz
    local greeting = of_type(v, "transcript")[1]
    assert.equal("assistant", greeting.role)
    v:send_json({ type = "hangup" })
    assert.is_true(v:wait_closed(20))
    local doc = f:wait_session(call.session_id, 30)
    assert.same({ stt = "pocketsphinx", tts = "flite", encoding = "pcm_s16le", sample_rate = 16000 }, doc.voice)
  end)

  it("holds a prior-auth call by voice to its outcome, and records it", function()
    local call, v = voice_call("prior_auth")
    assert.is_true(v:await_agent(40))
    for _, line in ipairs({
      "Sure, what's the member ID and date of birth?",
      "Authorization is required for that code.",
      "It was approved.",
      "The reference number is 5 5 1 2 3 4.",
      "Yes, that's correct.",
    }) do
      if v.closed then break end
      v:speak(line)
      assert.is_true(v:await_agent(60), "no answer to: " .. line)
    end
    v:wait_closed(30)
    local doc = f:wait_session(call.session_id, 60)
    assert.equal("completed", doc.status, doc.reason)
    assert.equal("Approved", doc.outcome.prior_auth_status)
    assert.equal("551234", doc.outcome.reference_number)
    -- the other party's lines are what the recognizer heard, final and in the session
    local heard = {}
    for _, m in ipairs(doc.transcript.messages) do if m.role == "user" then heard[#heard + 1] = m.content end end
    assert.is_true(#heard >= 4, cjson.encode(heard))
    -- latency by stage (the greeting answers no one: it has no end of speech to count from)
    local timed = 0
    for _, row in ipairs(doc.latency or {}) do
      if row.turn_ms then
        timed = timed + 1
        assert.is_true(row.turn_ms > 0 and row.turn_ms < 30000, cjson.encode(row))
        assert.is_number(row.recognizer_ms)
        assert.is_number(row.synthesizer_ms)
      end
    end
    assert.is_true(timed >= 4, cjson.encode(doc.latency))
    -- the recording: two channels, playable, as long as the call
    local rec = helpers.wait_until(function()
      local d = helpers.session_doc(db, call.session_id)
      return d and d.recording
    end, 30)
    assert.is_table(rec, "no recording on the session")
    assert.equal("audio/wav", rec.content_type)
    assert.is_true(rec.duration_seconds > 10)
    local res = f:req(ALPHA, "GET", "/api/sessions/" .. call.session_id .. "/recording", nil,
      { headers = { Range = "bytes=0-43" } })
    assert.equal(206, res.status)
    assert.equal("RIFF", res.body:sub(1, 4))
    assert.equal(2, res.body:byte(23)) -- channels: agent, other party
  end)

  it("stops at once when the other party speaks over it, and keeps only what was heard", function()
    local call, v = voice_call("prior_auth")
    -- the greeting is long: let two seconds of it play, then talk over it
    local until_t = helpers.core.sys.monotonic() + 20
    while v.loud_frames < 100 and helpers.core.sys.monotonic() < until_t do v:listen(0.1) end
    local t100 = helpers.core.sys.monotonic() - (v.first_loud_at or 0)
    v:speak("Sorry, who is calling please?")
    local clear = v:seen(function(m) return m.type == "audio.clear" end, 10)
    local seen = {}
    for _, m in ipairs(v.got) do seen[#seen + 1] = m.type .. (m.text and (":" .. m.text) or "") .. (m.state and (":" .. m.state) or "") end
    assert.is_table(clear, ("no audio.clear (100 loud frames %.2f s after the first; %d frames in all); got %s"):format(
      t100, v.audio_frames, table.concat(seen, " | ")))
    local cut = v:seen(function(m) return m.type == "transcript" and m.interrupted end, 10)
    assert.is_table(cut, "no interrupted transcript")
    assert.equal("assistant", cut.role)
    local greeting = of_type(v, "transcript")[1].text
    assert.is_true(#cut.text < #greeting)
    assert.equal(greeting:sub(1, 3), cut.text:sub(1, 3)) -- a beginning of the line
    assert.is_true(v:await_agent(60))
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    local doc = f:wait_session(call.session_id, 30)
    local first = doc.transcript.messages[1]
    assert.is_true(first.interrupted)
    assert.equal(greeting, first.said)
    assert.is_true(#support.events(doc, "interrupted") >= 1)
  end)

  it("refuses an audio format it cannot take and keeps the call as text", function()
    local patient = f:patient(ALPHA, "patient_questions")
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url, { encoding = "pcm_s16le", sample_rate = 44100 })
    local err = v:ready(10) -- no audio is sent before the answer, as a browser does
    assert.is_table(err)
    assert.matches("sample_rate must be 8000, 16000 or 48000", err.message, 1, true)
    v:send_json({ type = "say", text = "Speaking." })
    assert.is_table(v:listen(20, function(m) return m.type == "transcript" and m.role == "assistant" end))
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
  end)

  it("fails only the call whose audio is malformed, with the reason, keeping its transcript", function()
    local call, v = voice_call("patient_questions")
    assert.is_true(v:await_agent(40))
    for _ = 1, 60 do v.ws:send(string.rep("\1", 321), "binary") end -- odd byte counts: not PCM16
    assert.is_true(v:wait_closed(20))
    local doc = f:wait_session(call.session_id, 30)
    assert.equal("failed", doc.status)
    assert.matches("malformed audio frames", doc.reason, 1, true)
    assert.is_true(#doc.transcript.messages >= 1) -- the greeting is kept
  end)

  it("closes a voice socket that stops reading the agent's audio, failing only that call", function()
    local patient = f:patient(ALPHA, "patient_questions")
    local call = f:call(ALPHA, patient, "browser_voice")
    -- a client whose playback hung: it keeps sending its microphone's frames and reads nothing,
    -- with a 4 KiB receive window, so the greeting's audio fills the bot's 64 KiB send buffer
    local cmd = string.format("%spython3 spec/fixtures/live/stalled_reader.py '%s' 0 20 voice",
      helpers.proc.shell_prefix(), call.live_url)
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    local r = cjson.decode(out:match("([^\n]+)%s*$") or "{}")
    assert.is_nil(r.error, out)
    assert.is_true(r.ended, "the bot did not end the stalled socket: " .. out)
    -- its close frame (1008) waits behind the audio the client never read: the client sees it only
    -- if it reads before the bot gives up sending it and drops the connection
    assert.is_true(r.close_code == 1008 or r.close_code == cjson.null, out)
    assert.is_true(r.sent < 1000, "the bot kept the socket for the whole 20 s: " .. out)
    local doc = f:wait_session(call.session_id, 30)
    assert.equal("failed", doc.status)
    assert.matches("stopped reading its audio", doc.reason, 1, true)
    assert.is_true(#doc.transcript.messages >= 1) -- the greeting is kept
    -- and another call goes on as usual
    local other, v = voice_call("patient_questions")
    assert.is_true(v:await_agent(40))
    assert.is_true(v.loud_frames > 25)
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    assert.equal("other_party", f:wait_session(other.session_id, 30).ended_by)
  end)

  it("takes keypad digits and a mute note from the browser", function()
    local call, v = voice_call("patient_questions")
    assert.is_true(v:await_agent(40))
    v:send_json({ type = "mute", muted = true })
    v:send_json({ type = "dtmf", digits = "1" })
    v:send_json({ type = "dtmf", digits = "12; DROP" })
    local bad = v:listen(10, function(m) return m.type == "error" end)
    assert.matches("dtmf digits are", bad.message, 1, true)
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    local doc = f:wait_session(call.session_id, 30)
    local keys = support.events(doc, "dtmf_received")
    assert.equal(1, #keys)
    assert.equal("1", keys[1].digits)
  end)

  it("refuses an unknown call mode, naming the voice mode", function()
    local patient = f:patient(ALPHA, "prior_auth")
    local res = f:req(ALPHA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "browser_chat" })
    assert.equal(422, res.status)
    assert.matches("browser_voice", res.json.error.message, 1, true)
  end)
end)

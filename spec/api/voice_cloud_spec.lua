-- Voice test calls with the cloud engines a flow's services.yaml names (Deepgram hears, Cartesia
-- speaks), against sova-standin on loopback, which speaks both providers' real wire formats: the
-- bot's own provider clients on its media loop, keys from the variables services.yaml names, API
-- roots from DEEPGRAM_API_BASE / CARTESIA_API_BASE. The stand-in Deepgram hears utterances by their
-- sound and answers each with the next line of a script; its Cartesia synthesizes real audio.
-- The stand-in records each connection's query (--requests): a node's expected phrases reach
-- Deepgram as keyterms, and the patient's name among them stays out of the bot's log.
-- Tags: #api #voice
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local cjson = helpers.cjson
local proc = helpers.proc
local ALPHA = helpers.ALPHA

-- The insurer's representative, as the stand-in Deepgram hears them: one line per utterance.
local LINES = {
  "Sure, what's the member ID and date of birth?",
  "Authorization is required for that code.",
  "It was approved.",
  "The reference number is 5 5 1 2 3 4.",
  "Yes, that's correct.",
}

describe("voice test calls on the cloud engines' stand-ins #api #voice", function()
  local db, api, bot, f, standin, requests

  lazy_setup(function()
    requests = proc.temp_path("requests", ".txt")
    local s = support.start_standin("prior_auth", LINES, { args = { "--requests", requests } })
    standin = s.proc
    -- one session for the script's lines: a node with other phrases opens another stream
    db, api, bot = helpers.setup_calls({ bot = { env = s.env("voice_cloud") } })
    f = helpers.factory(db, api)
  end)

  lazy_teardown(function()
    helpers.stop_all()
    if standin then standin:stop(5) end
  end)

  it("holds a prior-auth call through Deepgram and Cartesia to its outcome", function()
    local patient = f:patient(ALPHA, "prior_auth")
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url)
    local ready = v:ready(20)
    assert.equal("audio.ready", ready.type, cjson.encode(ready))
    assert.equal("deepgram", ready.stt)
    assert.equal("cartesia", ready.tts)
    -- the agent's greeting is Cartesia's audio (the stand-in's), paced out in 20 ms frames
    assert.is_true(v:await_agent(30))
    assert.is_true(v.loud_frames > 25, "no greeting audio")
    assert.equal(0, v.audio_bytes % 640)
    for i, line in ipairs(LINES) do
      if v.closed then break end
      v:speak(line)
      local heard = v:seen(function(m) return m.type == "transcript" and m.role == "user" and m.final end, 15)
      assert.is_table(heard, "Deepgram's final did not come back for line " .. i)
      assert.equal(line, heard.text) -- one utterance, one line of the script: nothing merged or lost
      assert.is_true(v:await_agent(30), "no answer to: " .. line)
    end
    assert.is_true(v:wait_closed(30), "the agent did not end the call")
    local doc = f:wait_session(call.session_id, 60)
    assert.equal("completed", doc.status, doc.reason)
    assert.equal("agent", doc.ended_by)
    assert.equal("Approved", doc.outcome.prior_auth_status)
    assert.equal("551234", doc.outcome.reference_number)
    assert.same({ stt = "deepgram", tts = "cartesia", encoding = "pcm_s16le", sample_rate = 16000 }, doc.voice)
    local heard = {}
    for _, m in ipairs(doc.transcript.messages) do if m.role == "user" then heard[#heard + 1] = m.content end end
    assert.same(LINES, heard)
    -- every answer was timed, stage by stage, on the bot's clock
    local timed = 0
    for _, row in ipairs(doc.latency or {}) do
      if row.turn_ms then
        timed = timed + 1
        for _, k in ipairs({ "endpointing_ms", "platform_ms", "synthesizer_ms", "outbound_ms" }) do
          assert.is_number(row[k], k .. " in " .. cjson.encode(row))
          assert.is_true(row[k] >= 0, cjson.encode(row))
        end
      end
    end
    assert.is_true(timed >= 4, cjson.encode(doc.latency))
    -- and the bot's own figures: each stage's percentiles, the response as one figure, the pacing
    local res = helpers.core.http.request { method = "GET", url = bot.url .. "/stats", timeout_ms = 5000 }
    assert.equal(200, res and res.status)
    local stats = cjson.decode(res.body)
    assert.is_true(stats.voice_ms.respond.count >= 4, res.body)
    assert.is_true(stats.voice_ms.respond.p99 >= stats.voice_ms.platform.p50, res.body)
    assert.is_true(stats.voice_pacing.frames > 500, res.body) -- the greeting and four answers, in 20 ms frames
    assert.is_number(stats.voice_pacing.p99_ms)
    assert.equal(51, #stats.voice_pacing.late_ms_counts)
    -- the media thread's tick: it ran the whole call (20 ms apart), its lateness and run time counted
    assert.is_true(stats.tick.ticks > 250, res.body)
    assert.is_number(stats.tick.missed)
    local started = 0
    for _, n in ipairs(stats.tick.start_late.counts) do started = started + n end
    assert.is_true(started - stats.tick.ticks <= 1 and started >= stats.tick.ticks, res.body) -- a tick may land between the reads
    assert.is_number(stats.tick.start_late.p99_ms)
    assert.equal(51, #stats.tick.run.counts)
  end)

  it("gives Deepgram the node's expected phrases as keyterms, and logs none of them", function()
    local name = "Siobhan O'Dowd"
    local patient = f:patient(ALPHA, "patient_questions", { patient_name = name })
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url)
    assert.equal("deepgram", v:ready(20).stt)
    assert.is_true(v:await_agent(30), "no greeting")
    -- the greeting node expects the patient's name ({{patient_name}}) and its functions' rules
    -- (not the global behaviours' phrases): one stream opened with them as keyterms
    local line = helpers.wait_until(function()
      for l in (proc.read_file(requests) or ""):gmatch("[^\n]+") do
        if l:find("keyterm=siobhan o'dowd", 1, true) then return l end
      end
    end, 15)
    assert.is_string(line, "no Deepgram stream with the patient's name as a keyterm: " .. tostring(proc.read_file(requests)))
    assert.truthy(line:find("model=nova-3&", 1, true), line)
    assert.truthy(line:find("&keyterm=you got her&", 1, true), line) -- a rule of the node's is_patient
    assert.falsy(line:find("keyterm=goodbye", 1, true), line) -- a global behaviour's
    v:send_json({ type = "hangup" })
    local doc = f:wait_session(call.session_id, 30)
    assert.equal("no_answer", doc.status, doc.reason) -- hung up before saying a word
    -- the name is PHI: in the transcript (the agent said it), never in the log or the events
    local log = bot:log_text():lower()
    assert.is_true(#log > 0)
    for _, part in ipairs({ "siobhan", "dowd" }) do
      assert.is_nil(log:find(part, 1, true), "the bot's log holds the patient's name")
      assert.is_nil(cjson.encode(doc.events or {}):lower():find(part, 1, true), "a session event holds the patient's name")
    end
  end)
end)

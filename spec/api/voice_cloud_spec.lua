-- Voice test calls with the cloud engines a flow's services.yaml names (Deepgram hears, Cartesia
-- speaks), against sova-standin on loopback, which speaks both providers' real wire formats: the
-- bot's own provider clients on its media loop, keys from the variables services.yaml names, API
-- roots from DEEPGRAM_API_BASE / CARTESIA_API_BASE. The stand-in Deepgram hears utterances by their
-- sound and answers each with the next line of a script; its Cartesia synthesizes real audio.
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
  local db, api, bot, f, standin

  lazy_setup(function()
    local dir = proc.temp_dir("standin")
    support.write_file(dir .. "/prior_auth.txt", table.concat(LINES, "\n") .. "\n")
    local out = dir .. "/standin.out"
    standin = proc.spawn({ proc.build_dir() .. "/sova-standin", "--port", "0", "--key", "test-key",
      "--script-dir", dir }, { stdout = out, stderr = dir .. "/standin.err" })
    local port = helpers.wait_until(function()
      return tonumber((proc.read_file(out) or ""):match("ready port=(%d+)"))
    end, 20)
    local base = "ws://127.0.0.1:" .. port
    db, api, bot = helpers.setup_calls({ bot = { env = {
      DEEPGRAM_API_KEY = "test-key", CARTESIA_API_KEY = "test-key",
      DEEPGRAM_API_BASE = base .. "/x/script=prior_auth.txt/", CARTESIA_API_BASE = base,
    } } })
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
  end)
end)

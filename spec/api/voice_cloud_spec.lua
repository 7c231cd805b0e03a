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

local LINE = "Sure, what's the member ID and date of birth?"

describe("voice test calls on the cloud engines' stand-ins #api #voice", function()
  local db, api, f, standin

  lazy_setup(function()
    local dir = proc.temp_dir("standin")
    support.write_file(dir .. "/prior_auth.txt", LINE .. "\n")
    local out = dir .. "/standin.out"
    standin = proc.spawn({ proc.build_dir() .. "/sova-standin", "--port", "0", "--key", "test-key",
      "--script-dir", dir }, { stdout = out, stderr = dir .. "/standin.err" })
    local port = helpers.wait_until(function()
      return tonumber((proc.read_file(out) or ""):match("ready port=(%d+)"))
    end, 20)
    local base = "ws://127.0.0.1:" .. port
    db, api = helpers.setup_calls({ bot = { env = {
      DEEPGRAM_API_KEY = "test-key", CARTESIA_API_KEY = "test-key",
      DEEPGRAM_API_BASE = base .. "/x/script=prior_auth.txt/", CARTESIA_API_BASE = base,
    } } })
    f = helpers.factory(db, api)
  end)

  lazy_teardown(function()
    helpers.stop_all()
    if standin then standin:stop(5) end
  end)

  it("hears the other party through Deepgram and answers in Cartesia's audio", function()
    local patient = f:patient(ALPHA, "prior_auth")
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url)
    local ready = v:ready(20)
    assert.equal("audio.ready", ready.type, cjson.encode(ready))
    assert.equal("deepgram", ready.stt)
    assert.equal("cartesia", ready.tts)
    -- the agent's greeting is Cartesia's audio (the stand-in's), paced out in 20 ms frames
    v:listen(15, function(m) return m.type == "turn" end)
    v:listen(3)
    assert.is_true(v.loud_frames > 25, "no greeting audio")
    assert.equal(0, v.audio_bytes % 640)
    local before = v.loud_frames
    v:speak("Sure, what's the member ID and date of birth?")
    local heard = v:seen(function(m) return m.type == "transcript" and m.role == "user" and m.final end, 15)
    assert.is_table(heard, "Deepgram's final did not come back as the other party's line")
    assert.equal(LINE, heard.text)
    local answer = v:seen(function(m) return m.type == "transcript" and m.role == "assistant" end, 15)
    assert.is_table(answer)
    assert.matches("member ID", answer.text, 1, true)
    v:listen(4)
    assert.is_true(v.loud_frames > before, "the answer was not heard as audio")
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    local doc = f:wait_session(call.session_id, 30)
    assert.same({ stt = "deepgram", tts = "cartesia", encoding = "pcm_s16le", sample_rate = 16000 }, doc.voice)
    assert.equal("other_party", doc.ended_by)
  end)
end)

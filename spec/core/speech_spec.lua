-- core.speech (core/bind/speech.c): the CLI's offline voice on a virtual clock, as
-- `sova flow eval --audio` drives it. The speech is synthesized at test time. Tags: #core #speech
local core = require("sova.core")
local speech = core.speech

describe("core.speech #core #speech", function()
  local model
  lazy_setup(function() model = assert(speech.model()) end)

  local function voice(extra)
    local o = { model = model, encoding = "pcm_s16le", sample_rate = 16000, tts = { engine = "espeak" } }
    for k, v in pairs(extra or {}) do o[k] = v end
    return speech.voice(o)
  end

  it("hears a spoken line through the voice and ends its turn, the clock moved by the audio fed", function()
    local v = assert(voice())
    assert.equal("cmu_us_slt", v:party_voice())
    assert.is_true(v:listen { search = "grammar", phrases = { "yes that is right", "no" } })
    local ms = assert(v:speak("yes that is right"))
    local quiet = v:silence(5000, true)
    assert.is_true(quiet < 5000)
    assert.equal(ms + quiet, v:now_ms())
    local events, dropped = v:events()
    assert.equal(0, dropped)
    local turns = {}
    for _, e in ipairs(events) do if e.type == "end_of_turn" then turns[#turns + 1] = e.text end end
    assert.same({ "yes that is right" }, turns)
    assert.same({}, (v:events())) -- taken once
    v:close()
  end)

  it("speaks in another flite voice than an slt agent's, on an 8 kHz mu-law line", function()
    local v = assert(voice { encoding = "mulaw", sample_rate = 8000, tts = { engine = "flite", voice = "cmu_us_slt" } })
    assert.equal("cmu_us_kal", v:party_voice())
    v:close()
  end)

  it("raises on misuse", function()
    assert.has_error(function() speech.voice { encoding = "pcm_s16le", tts = { engine = "flite" } } end)
    assert.has_error(function() voice { encoding = "opus" } end, "bad argument #1 to 'voice' (encoding must be pcm_s16le or mulaw)")
    assert.has_error(function() voice { encoding = "mulaw", sample_rate = 16000 } end)
    assert.has_error(function() voice { tts = { engine = "cartesia" } } end)
    assert.has_error(function() voice { min_silence_ms = 50 } end, "min_silence_ms must be 100..5000")
    local v = assert(voice())
    assert.has_error(function() v:listen { search = "grammar" } end)
    assert.has_error(function() v:speak("") end)
    v:close()
    assert.has_error(function() v:speak("hello") end, "speech voice already closed")
  end)

  it("returns nil, err when the engines cannot be had", function()
    local m, err = speech.model("/nonexistent/model")
    assert.is_nil(m)
    assert.is_string(err)
    local v, verr = voice { party_voice = "cmu_us_nobody" }
    assert.is_nil(v)
    assert.matches("cmu_us_nobody", verr, 1, true)
    local e, eerr = voice { tts = { engine = "espeak", voice = "no-such-voice" } }
    assert.is_nil(e)
    assert.is_string(eerr)
  end)
end)

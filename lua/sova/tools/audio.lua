-- sova.tools.audio: `sova flow eval --audio`: each of the other party's lines spoken and heard
-- through the media plane, so a scenario's pass rate is measured through audio.
--
--   local audio = require("sova.tools.audio")
--   local ctx = assert(audio.context(dir))          -- the flow's wire format and voice settings
--   local ear = assert(ctx:voice())                 -- one per call
--   assert(ear:expect(call:expected_phrases()))     -- the hints of the call's current node
--   local h = assert(ear:hear("It's approved, reference AUTH123456."))
--   -- h.said: the words spoken ("its approved reference auth one two three four five six"),
--   -- h.heard: what the recognizer returned at the end of the turn ("" when it heard nothing),
--   -- h.errors / h.words: word errors against said, h.seconds: audio time the line took
--   ear:close()
--
-- A line is said in its spoken form (speechify's clean form: numbers, codes and dates in words,
-- as a person reads them out), synthesized by flite in a voice other than the agent's, converted to
-- the wire format services.yaml implies (a Twilio flow: 8 kHz μ-law; a browser flow: 16 kHz PCM),
-- streamed in 20 ms frames through a real sova_voice (core/bot/media/voice_sim.h: the bot's VAD
-- and turn detection with the flow's voice settings, pocketsphinx with its full language model, as
-- in a call) on a virtual clock, then line silence until the voice ends the turn. The agent's lines
-- stay text (voice_sim.h says why).
local core = require("sova.core")
local services = require("sova.services")
local speechify = require("sova.tools.speechify")

local M = {}

M.LEAD_IN_MS = 200                -- line silence before each line (the VAD hears the line begin)
M.FINALIZE_WAIT_MS = 1000         -- the voice's wait for a finalize's answer (SOVA_VOICE_FINALIZE_WAIT_MS)
M.OFFLINE_TTS = "flite"           -- the agent's synthesizer when the flow's is a cloud one

-- wire(cfg) -> encoding, sample_rate: what the flow's calls carry
function M.wire(cfg)
  if cfg.telephony and cfg.telephony.provider == "twilio" then return "mulaw", 8000 end
  return "pcm_s16le", 16000
end

-- Word errors (substitutions, insertions, deletions) turning ref into hyp: Levenshtein on words.
function M.word_errors(ref, hyp)
  local prev = {}
  for j = 0, #hyp do prev[j] = j end
  for i = 1, #ref do
    local cur = { [0] = i }
    for j = 1, #hyp do
      local cost = ref[i] == hyp[j] and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#hyp]
end

local function words(text)
  local out = {}
  for w in text:gmatch("%S+") do out[#out + 1] = w end
  return out
end

local Context = {}
Context.__index = Context

-- context(dir[, model]) -> ctx | nil, err: the flow's speech settings, pocketsphinx's model loaded
-- (once; pass model to share one across flows)
function M.context(dir, model)
  local cfg, problems = services.load(dir .. "/services.yaml")
  if not cfg then return nil, "services.yaml is not valid: " .. services.format_problems(problems) end
  local encoding, rate = M.wire(cfg)
  local speech, none = services.speech_options(cfg, function() return nil end) -- offline: no key is read
  if not speech then return nil, none end
  local notes = {}
  local agent = { engine = speech.tts.engine, voice = speech.tts.voice, language = speech.tts.language }
  if agent.engine ~= "flite" and agent.engine ~= "espeak" then
    notes[#notes + 1] = ("the agent's %s is not offline: audio mode gives the voice %s"):format(agent.engine, M.OFFLINE_TTS)
    agent = { engine = M.OFFLINE_TTS }
  end
  if speech.stt.engine ~= "pocketsphinx" then
    notes[#notes + 1] = ("the flow's recognizer is %s: audio mode hears with pocketsphinx"):format(speech.stt.engine)
  end
  if not model then
    local err
    model, err = core.speech.model()
    if not model then return nil, "pocketsphinx: " .. tostring(err) end
  end
  return setmetatable({ model = model, encoding = encoding, sample_rate = rate, tts = agent, voice_cfg = speech.voice,
    notes = notes }, Context)
end

local Ear = {}
Ear.__index = Ear

-- ctx:voice() -> ear | nil, err: a call's media
function Context:voice()
  local v = self.voice_cfg
  local sim, err = core.speech.voice {
    model = self.model, encoding = self.encoding, sample_rate = self.sample_rate, tts = self.tts,
    vad = v.vad, min_silence_ms = v.min_silence_ms, max_silence_ms = v.max_silence_ms,
    barge_in = v.barge_in.enabled, barge_in_min_ms = v.barge_in.min_ms, barge_in_min_words = v.barge_in.min_words,
  }
  if not sim then return nil, err end
  -- the longest a turn can take to end after the line: the voice's max silence, then finalize's wait
  local ear = setmetatable({ sim = sim, wait_ms = v.max_silence_ms + M.FINALIZE_WAIT_MS + 500 }, Ear)
  local ok, lerr = ear:expect({})
  if not ok then
    sim:close()
    return nil, lerr
  end
  return ear
end

-- ear:expect(phrases) -> true | nil, err: the recognizer hears the lines that follow with these
-- hints (an open search, as the bot's: sova.bot.voice.expect), when they differ from its own
function Ear:expect(phrases)
  local key = table.concat(phrases, "\n")
  if key == self.expected then return true end
  local ok, err = self.sim:listen { search = "open", phrases = phrases }
  if not ok then return nil, err end
  self.expected = key
  return true
end

function Ear:party_voice() return self.sim:party_voice() end

-- ear:hear(text) -> {said, heard, errors, words, seconds} | nil, err
function Ear:hear(text)
  local sim = self.sim
  local said = table.concat(speechify.words(text), " ")
  sim:events()                                  -- what came before this line is not its turn
  local lead = sim:silence(M.LEAD_IN_MS)
  local ms, err = sim:speak(said ~= "" and said or text)
  if not ms then return nil, err end
  local quiet = sim:silence(self.wait_ms, true)
  local heard = {}
  for _, ev in ipairs((sim:events())) do
    if ev.type == "end_of_turn" and ev.text ~= "" then heard[#heard + 1] = ev.text end
    if ev.type == "error" and ev.fatal then return nil, ev.text end
  end
  local h = { said = said, heard = table.concat(heard, " "), seconds = (lead + ms + quiet) / 1000 }
  local ref = words(said)
  h.words, h.errors = #ref, M.word_errors(ref, words(h.heard))
  return h
end

function Ear:close() self.sim:close() end

return M

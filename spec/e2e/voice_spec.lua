-- Browser end-to-end voice calls (issue 9): frontend/e2e/voice_calls.mjs drives Chromium with a
-- WAV file as its microphone into a voice test call of each workflow, against the real `sova api`
-- (serving frontend/dist), `sova bot` with the offline engines (pocketsphinx hears, flite speaks)
-- and FerretDB. The other party is synthesized here (flite's rms voice) with a pause before each
-- line as long as the agent's answer to the line before: the answers are learned from the same
-- conversation played as a text call first, and timed by synthesizing them with the agent's voice.
-- Each call must reach its outcome by voice; the session page must show it and load the recording.
local helpers = require("helpers")
local e2e = require("helpers.e2e")
local support = require("fixtures.bot.support")
local cjson = helpers.cjson
local proc = helpers.proc
local ALPHA, BETA = helpers.ALPHA, helpers.BETA


-- Lines a recognizer can be expected to hear from a synthetic voice: natural, without spelled codes.
local CALLS = {
  { name = "alpha-prior_auth", who = ALPHA, workflow = "prior_auth", lines = {
      "Sure, what's the member ID and date of birth?", "Authorization is required for that code.",
      "It was approved.", "The reference number is 5 5 1 2 3 4.", "Yes, that's correct." },
    outcome = { prior_auth_status = "Approved", reference_number = "551234" } },
  { name = "alpha-patient_questions", who = ALPHA, workflow = "patient_questions", lines = {
      "Yes, this is Maria Garcia.", "Maria Garcia, born November 2nd, 1972.", "Yes, I'll be there.",
      "No, nothing has changed.", "No, I feel fine. Thank you, goodbye." },
    outcome = { checkin_status = "Confirmed" } },
  { name = "beta-patient_questions", who = BETA, workflow = "patient_questions",
    patient = { patient_name = "Mary Johnson" }, lines = {
      "Yes, speaking.", "June 21st, 1990.", "My name is Mary Johnson.", "Yes, that's right.",
      "My pain is a three.", "No, nothing new.", "Yes, I'll be there." },
    outcome = { checkin_status = "Confirmed", pain_level = "3" } },
}

local function q(s) return proc.shell_quote(s) end

local function seconds_of(wav)
  local p = assert(io.popen("soxi -D " .. q(wav)))
  local s = tonumber(p:read("*a"))
  p:close()
  return assert(s, "soxi could not read " .. wav)
end

-- how long the agent's voice (flite slt) takes to say these lines
local function agent_seconds(lines)
  if #lines == 0 then return 0 end
  local wav = proc.temp_path("agent", ".wav")
  support.sh("flite -voice slt -t " .. q(table.concat(lines, " ")) .. " -o " .. q(wav))
  return seconds_of(wav)
end

-- The text call of the same conversation: the agent's lines of each turn (1 = the greeting).
local function agent_turns(f, c)
  local call = f:call(c.who, f:patient(c.who, c.workflow, c.patient))
  local party = support.connect(call.live_url)
  local turns = { {} }
  local function take(from)
    for i = from, #party.got do
      local m = party.got[i]
      if m.type == "transcript" and m.role == "assistant" then
        local t = turns[#turns]
        t[#t + 1] = m.text
      end
    end
  end
  assert(party:wait_greeting(20), c.name .. ": no greeting in the text call")
  party:drain(500)
  take(1)
  for _, line in ipairs(c.lines) do
    local from = #party.got + 1
    turns[#turns + 1] = {}
    if not party:say(line, 30) then break end
    party:drain(500)
    take(from)
  end
  party:close()
  return turns
end

-- The other party's WAV: before each line, the agent's previous turn plus time to hear the line's end.
local MARGIN = 3.5 -- seconds: end of turn (min silence, the recognizer's endpointing) and the answer's start
local function party_wav(c, turns)
  local parts = {}
  for i, line in ipairs(c.lines) do
    local said = proc.temp_path("party", ".wav")
    support.sh("flite -voice rms -t " .. q(line) .. " -o " .. q(said))
    local padded = proc.temp_path("party", ".wav")
    local pause = agent_seconds(turns[i] or {}) + MARGIN
    support.sh(("sox %s -r 16000 -c 1 -b 16 %s pad %.2f 0"):format(q(said), q(padded), pause))
    parts[#parts + 1] = q(padded)
  end
  local wav = proc.temp_path("party-" .. c.name, ".wav")
  -- a long silence after the last line: Chromium loops the file, and the call must end before
  support.sh("sox " .. table.concat(parts, " ") .. " " .. q(wav) .. " pad 0 180")
  return wav
end

describe("web UI, voice test calls with a recorded other party #e2e #voice", function()
  local db, api, f

  lazy_setup(function()
    e2e.require_tools()
    db, api = helpers.setup_calls({ api = { env = { SOVA_FRONTEND_DIR = e2e.DIST } } })
    f = helpers.factory(db, api)
  end)

  lazy_teardown(helpers.stop_all)

  it("each workflow's voice call reaches its outcome by voice, and its recording plays", function()
    local jobs = {}
    for _, c in ipairs(CALLS) do
      local wav = party_wav(c, agent_turns(f, c))
      local patient = f:patient(c.who, c.workflow, c.patient)
      jobs[#jobs + 1] = { name = c.name, base = ("http://%s:%d"):format(c.who.host, api.port), email = c.who.email,
        patient_path = "/patients/" .. patient.id, wav = wav }
      c.patient_id = patient.id
    end
    local results, out = e2e.run("voice_calls.mjs", api, helpers.DEMO_PASSWORD, { E2E_CALLS = cjson.encode(jobs) }, "calls")
    local context = "\n--- node output ---\n" .. out:sub(-6000)
    assert(results, "voice_calls.mjs printed no JSON results" .. context)
    for _, c in ipairs(CALLS) do
      local r = results.calls[c.name]
      assert(r and r.ok, c.name .. ": " .. tostring(r and r.error) .. context)
      for k, want in pairs(c.outcome) do
        assert.are.equal(want, r.outcome[k], c.name .. " " .. k .. context)
      end
      assert.is_true(r.recording_seconds > 10, c.name .. ": recording of " .. tostring(r.recording_seconds) .. " s")
      -- the session in the database: ended by voice, engines recorded
      local doc = helpers.wait_until(function()
        return db:handle():find_one("sessions", { patient_id = helpers.oid(c.patient_id), status = { ["$ne"] = "queued" },
          ended_at = { ["$exists"] = true } })
      end, 30)
      assert.are.equal("completed", doc.status, c.name .. ": " .. tostring(doc.reason))
      assert.are.equal("pocketsphinx", doc.voice.stt)
      assert.is_table(doc.recording)
    end
    assert(results.ok, "e2e failures: " .. table.concat(results.failures or {}, "; ") .. context)
  end)
end)

-- A finished call as a regression scenario without PHI (lua/sova/tools/scenario.lua), as
-- `sova flow eval --from-session` and GET /api/sessions/{id}/scenario write it. Tags: #eval
local core = require("sova.core")
local bson = core.bson
local cjson = require("cjson")
local config = require("sova.config")
local jsonschema = require("sova.jsonschema")
local eval = require("sova.tools.eval")
local scenario = require("sova.tools.scenario")

local function fields_of(org, wf)
  local doc = cjson.decode((assert(config.read_file(config.root_dir() .. "/schemas/organizations/" .. org .. ".json"))))
  return doc.workflows[wf].patient_schema.fields
end

local T0 = 1764000000000
local function at(s) return bson.date(T0 + s * 1000) end
local function user(text, s) return { role = "user", content = text, timestamp = at(s) } end
local function agent(text, s) return { role = "assistant", content = text, timestamp = at(s) } end

local BETA = {
  _id = bson.oid(), patient_name = "Wei Chen", date_of_birth = "1990-06-21", phone_number = "+14155550187",
  appointment_time = "2026-12-04T16:00:00", preferred_language = "Mandarin", checkin_status = "Confirmed",
}
local BETA_READS = { "patient_name", "date_of_birth", "appointment_time", "preferred_language" }

local function beta_session(messages, extra)
  local s = { _id = bson.oid(), status = "completed", workflow = "patient_questions", started_at = at(0), ended_at = at(50),
    flow = { path = "clients/demo_clinic_beta/patient_questions" }, outcome = {}, transcript = { messages = messages } }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function build(session, patient, reads)
  return assert(scenario.build { session = session, patient = patient or BETA,
    fields = fields_of("demo_clinic_beta", "patient_questions"), reads = reads or BETA_READS })
end

describe("scenarios from sessions #eval", function()
  it("gives every field the flow reads a synthetic value of its type; false for one the patient lacks", function()
    local patient = {}
    for k, v in pairs(BETA) do patient[k] = v end
    patient.appointment_time = nil
    local sc = build(beta_session({ user("Yes.", 3) }), patient)
    assert.same({ "appointment_time", "date_of_birth", "patient_name", "preferred_language" }, require("helpers").sorted_keys(sc.patient))
    assert.is_false(sc.patient.appointment_time)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d$", sc.patient.date_of_birth)
    assert.are_not.equal("1990-06-21", sc.patient.date_of_birth)
    assert.matches("^%u%l+ %u%l+$", sc.patient.patient_name)
    assert.are_not.equal("Wei Chen", sc.patient.patient_name)
    assert.truthy(({ English = true, Spanish = true, Mandarin = true, Other = true })[sc.patient.preferred_language])
    -- the same session gives the same values
    assert.same(sc.patient, build(beta_session({ user("Yes.", 3) }, { _id = sc.source and bson.oid(sc.source.session) }), patient).patient)
  end)

  it("replaces the patient's values in the lines in the forms people say them, with the synthetic ones", function()
    local sc = build(beta_session({
      user("Wei here. Born June 21st, 1990, or 06/21/1990, or 1990-06-21.", 3),
      user("It's Wei Chen, call me at (415) 555-0187 or 415-555-0187.", 6),
      user("june twenty first nineteen ninety", 9),
      user("My wife Weina says hi.", 12),
    }))
    local text = table.concat({ sc.lines[1].say or sc.lines[1], sc.lines[2].say or sc.lines[2],
      sc.lines[3].say or sc.lines[3], sc.lines[4].say or sc.lines[4] }, "\n")
    for _, real in ipairs({ "Wei ", "Chen", "June 21", "1990", "06/21", "415", "0187", "june twenty first" }) do
      assert.is_nil(text:find(real, 1, true), real .. " left in:\n" .. text)
    end
    local first, last = sc.patient.patient_name:match("^(%S+) (%S+)$")
    local y, m, d = sc.patient.date_of_birth:match("^(%d+)%-(%d+)%-(%d+)$")
    assert.matches(("^%s here%%. Born %%a+ %d%%a%%a, %s, or %s/%s/%s, or %s%%-%s%%-%s%%.$"):format(first, tonumber(d), y, m, d, y, y, m, d),
      sc.lines[1].say or sc.lines[1])
    assert.matches(("It's %s %s, call me at %%(515%%) 555%%-01%%d%%d or 515%%-555%%-01%%d%%d%%."):format(first, last), sc.lines[2].say or sc.lines[2])
    assert.matches("Weina", sc.lines[4].say or sc.lines[4], 1, true) -- a word that merely begins like the name stays
  end)

  it("keeps the timing, ends with the hang-up when the other party hung up, expects what the call reached", function()
    local sc = build(beta_session({
      agent("Hi! Am I speaking with Wei Chen?", 0.5), user("Yes.", 2.6), agent("Date of birth?", 2.8),
      user("June 21st, 1990.", 10), agent("Thanks.", 10.2),
    }, { status = "incomplete", ended_by = "other_party", ended_at = at(25), missing = { "checkin_status" },
         outcome = { preferred_language = "Mandarin", pain_level = 3 } }))
    assert.equal("Yes.", sc.lines[1])
    assert.same({ say = sc.lines[2].say, after = 7 }, sc.lines[2])
    assert.same({ silence = 15 }, sc.lines[3])
    assert.equal("hangup", sc.lines[4])
    assert.equal("incomplete", sc.expect.status)
    assert.same({ "checkin_status" }, sc.expect.missing)
    assert.equal(2, sc.expect.max_turns)
    -- a written value that is the patient's own (read) value follows the synthetic patient
    assert.same({ preferred_language = sc.patient.preferred_language, pain_level = 3 }, sc.expect.outcome)
  end)

  it("a call nobody spoke in becomes a silence", function()
    local sc = build(beta_session({ agent("Hi!", 0.5) }, { status = "no_answer", ended_at = at(60) }))
    assert.same({ { silence = 60 } }, sc.lines)
    assert.equal("no_answer", sc.expect.status)
  end)

  it("a phone call's is a phone scenario, its first line timed from the answer, not the ringing", function()
    local sc = build(beta_session({ user("Hello?", 21), agent("Hi!", 21.5), user("Yes.", 23.5) }, {
      mode = "phone", events = { { type = "dialed", timestamp = at(0) }, { type = "answered", timestamp = at(18) } } }))
    assert.is_true(sc.phone)
    assert.same({ { say = "Hello?", after = 3 }, "Yes." }, { sc.lines[1], sc.lines[2] })
    local doc = assert(core.yaml.decode(scenario.encode(sc)))
    assert.is_true(jsonschema.validate(eval.schema(), doc))
    assert.is_true(doc.phone)
    sc = build(beta_session({ user("Hello?", 21) }))
    assert.is_nil(sc.phone)
    assert.is_nil(scenario.encode(sc):find("phone:", 1, true))
  end)

  it("refuses a call that has not ended", function()
    local sc, err = scenario.build { session = beta_session({}, { status = "in_progress" }), patient = BETA,
      fields = fields_of("demo_clinic_beta", "patient_questions"), reads = BETA_READS }
    assert.is_nil(sc)
    assert.matches("has not ended", err, 1, true)
  end)

  it("writes YAML that reads back as the same valid scenario", function()
    local sc = build(beta_session({ user('She said "hi" \\ bye: {ok}', 3), user("Wei Chen, 06/21/1990.", 9) },
      { ended_by = "other_party", outcome = { checkin_status = "Confirmed", needs_follow_up = true, pain_level = 7.5 } }))
    local text = scenario.encode(sc)
    local doc = assert(core.yaml.decode(text))
    assert.is_true(jsonschema.validate(eval.schema(), doc))
    assert.equal('She said "hi" \\ bye: {ok}', doc.lines[1].say or doc.lines[1])
    assert.same(sc.patient, doc.patient)
    assert.same(sc.expect.outcome, doc.expect.outcome)
    assert.is_nil(text:find("Wei", 1, true))
  end)
end)

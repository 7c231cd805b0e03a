-- `sova flow check` and `sova flow simulate`, run as a flow engineer runs them: the real binary,
-- the flow in the call sandbox. Tags: #flows #cli
local build = os.getenv("SOVA_BUILD_DIR") or "build"

local function run(args)
  local p = assert(io.popen(build .. "/sova flow " .. args .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return code, (out:gsub("exit=%d+%s*$", ""))
end

local FIELDS = "spec/fixtures/flows/prior_auth_fields.json"

describe("sova flow #flows #cli", function()
  lazy_setup(function()
    -- the prior_auth patient_schema as a schema file, taken from the demo clinic's definition
    local cjson = require("cjson")
    local f = assert(io.open("schemas/organizations/demo_clinic_alpha.json"))
    local org = cjson.decode(f:read("*a"))
    f:close()
    local out = assert(io.open(FIELDS, "w"))
    out:write(cjson.encode({ fields = org.workflows.prior_auth.patient_schema.fields }))
    out:close()
  end)
  lazy_teardown(function()
    os.remove(FIELDS)
    require("helpers.proc").cleanup()
  end)

  it("check passes each demo clinic's flow against its schema", function()
    for _, dir in ipairs({ "clients/demo_clinic_alpha/prior_auth", "clients/demo_clinic_alpha/patient_questions",
      "clients/demo_clinic_beta/patient_questions" }) do
      local code, out = run("check " .. dir)
      assert.equal(0, code, out)
      assert.matches(dir .. ": ok", out, 1, true)
    end
  end)

  it("check reports a field the schema lacks with file and line, and fails", function()
    local code, out = run("check spec/fixtures/flows/unknown_read --schema " .. FIELDS)
    assert.equal(1, code)
    assert.matches("spec/fixtures/flows/unknown_read/flow_definition.lua:%d+: reads \"insurance_id\": no such field", out)
  end)

  it("check reports a syntax error with file and line", function()
    local code, out = run("check spec/fixtures/flows/syntax_error --schema " .. FIELDS)
    assert.equal(1, code)
    assert.matches("syntax_error/flow_definition.lua:%d+:", out)
  end)

  it("check refuses what the call sandbox refuses, with file, line and the sandbox's reason", function()
    for fixture, reason in pairs({
      refused_io = "flow_definition.lua:3: attempt to index global 'io' (a nil value)",
      refused_require = "flow_definition.lua:3: module 'sova.json' is not available to flows",
      refused_pattern = "flow_definition.lua:4: pattern has more than 2 repetitions (*, +, -)",
      refused_in_module = "steps.lua:3: attempt to index global 'os' (a nil value)",
    }) do
      local code, out = run("check spec/fixtures/flows/" .. fixture .. " --schema " .. FIELDS)
      assert.equal(1, code, out)
      assert.matches("spec/fixtures/flows/" .. fixture .. "/" .. reason, out, 1, true)
    end
  end)

  it("check refuses a services.yaml that dials a field holding no phone number, with its line", function()
    local code, out = run("check spec/fixtures/flows/telephony_field --schema " .. FIELDS)
    assert.equal(1, code, out)
    assert.matches("spec/fixtures/flows/telephony_field/services.yaml:5: /telephony/to_field: \"cpt_code\" is not a "
      .. "phone field of the workflow's patient_schema", out, 1, true)
    assert.not_matches("flow_definition.lua", out, 1, true)
  end)

  it("check refuses a flow that writes a system field", function()
    local code, out = run("check spec/fixtures/flows/system_write --schema " .. FIELDS)
    assert.equal(1, code)
    assert.matches("writes \"call_status\": a system field", out, 1, true)
  end)

  it("simulate plays a script and prints the transcript and the outcome", function()
    local code, out = run("simulate clients/demo_clinic_alpha/prior_auth --patient spec/fixtures/cli/prior_auth_patient.json"
      .. " --script spec/fixtures/cli/prior_auth_approved.txt")
    assert.equal(0, code, out)
    assert.matches("agent: Thank you. Let me read that back: A U T H 1 2 3 4 5 6. Is that correct?", out, 1, true)
    assert.matches("  you: Sure, the reference number is AUTH 123456.", out, 1, true)
    assert.matches("[call ended: completed", out, 1, true)
    assert.matches("prior_auth_status = Approved", out, 1, true)
    assert.matches("reference_number = AUTH123456", out, 1, true)
  end)

  it("simulate --json gives the outcome, the transcript in order and the flow that ran", function()
    local code, out = run("simulate clients/demo_clinic_alpha/prior_auth --patient spec/fixtures/cli/prior_auth_patient.json"
      .. " --script spec/fixtures/cli/prior_auth_approved.txt --json")
    assert.equal(0, code, out)
    local r = require("cjson").decode(out)
    assert.equal("completed", r.status)
    assert.same({ prior_auth_status = "Approved", reference_number = "AUTH123456" }, r.outcome)
    assert.equal("clients/demo_clinic_alpha/prior_auth", r.flow.path)
    assert.matches("^%x+$", r.flow.sha256)
    assert.equal("assistant", r.transcript[1].role)
    local users = {}
    for _, m in ipairs(r.transcript) do if m.role == "user" then users[#users + 1] = m.text end end
    assert.equal("Sure, what's the member ID and date of birth?", users[1])
    assert.equal("Yes, that's correct.", users[#users])
  end)

  describe("eval", function()
    local EVAL = "spec/fixtures/flows/eval_flow"
    local SCHEMA = " --schema " .. EVAL .. "/fields.json"

    it("plays every scenario and prints a table of pass/FAIL, turns and what differed; exit 1 on a failure", function()
      local code, out = run("eval " .. EVAL .. SCHEMA)
      assert.equal(1, code, out)
      assert.matches("spec/fixtures/flows/eval_flow: text mode, offline rules engine", out, 1, true)
      assert.matches("picks_blue%s+pass%s+1", out)
      assert.matches("hangs_up%s+pass%s+0", out)
      assert.matches('expects_wrong_colour%s+FAIL%s+1%s+outcome.colour = "Green", expected "Blue"; the agent never said "Ada"', out)
      assert.matches("2 of 3 passed", out, 1, true)
    end)

    it("exits 0 when every scenario run passes (--scenario picks one by file name or name)", function()
      local code, out = run("eval " .. EVAL .. SCHEMA .. " --scenario picks_blue")
      assert.equal(0, code, out)
      assert.matches("1 of 1 passed", out, 1, true)
      code, out = run("eval " .. EVAL .. SCHEMA .. " --scenario 'Hangs up at once'")
      assert.equal(0, code, out)
      code, out = run("eval " .. EVAL .. SCHEMA .. " --scenario nothing_like_it")
      assert.equal(2, code, out)
      assert.matches("no scenario named nothing_like_it", out, 1, true)
    end)

    it("--json gives each scenario's result, differences and transcript on the virtual clock", function()
      local code, out = run("eval " .. EVAL .. SCHEMA .. " --json")
      assert.equal(1, code, out)
      local r = require("cjson").decode(out)
      assert.equal(2, r.passed)
      assert.equal(1, r.failed)
      assert.equal("text", r.mode)
      local by = {}
      for _, s in ipairs(r.scenarios) do by[s.id] = s end
      assert.is_true(by.picks_blue.passed)
      assert.same({ colour = "Blue" }, by.picks_blue.outcome)
      -- the line came 5 s after the greeting
      assert.same({ 0, 5, 5 }, { by.picks_blue.transcript[1].t, by.picks_blue.transcript[2].t, by.picks_blue.transcript[3].t })
      assert.is_false(by.expects_wrong_colour.passed)
      assert.equal(2, #by.expects_wrong_colour.differences)
      assert.matches("Grace Hopper", by.expects_wrong_colour.transcript[1].text, 1, true)
      assert.equal("no_answer", by.hangs_up.status)
    end)

    it("--speech gives the lines as a recognizer returns them, the same for the same seed", function()
      local _, a = run("eval " .. EVAL .. SCHEMA .. " --json --speech --seed 4")
      local _, b = run("eval " .. EVAL .. SCHEMA .. " --json --speech --seed 4")
      local ra, rb = require("cjson").decode(a), require("cjson").decode(b)
      assert.equal("speech", ra.mode)
      assert.equal(4, ra.seed)
      for i, s in ipairs(ra.scenarios) do
        assert.same(s.heard, rb.scenarios[i].heard)
        for _, line in ipairs(s.heard) do assert.matches("^[a-z' ]+$", line) end
      end
      -- each line rewritten on its own key (scenario and line), so other scenarios do not shift it
      local speechify = require("sova.tools.speechify")
      assert.equal("blue please", speechify.rewrite("Blue, please.", { rate = 0 }))
      -- seed 4 drops "blue"; the line got the call nowhere, so the person says it again, heard anew
      assert.same({ "please", speechify.rewrite("Blue, please.", { seed = 4, key = "picks_blue:1:again" }) },
        ra.scenarios[3].heard)
      assert.equal("please", speechify.rewrite("Blue, please.", { seed = 4, key = "picks_blue:1" }))
      assert.equal(1, ra.scenarios[3].repeats)
      assert.equal(1, ra.scenarios[3].turns)
    end)

    it("--audio speaks each line, hears it through the media plane and reports said, heard and WER", function()
      -- Demo Clinic Beta's check-in as a browser flow (16 kHz PCM: its services.yaml without
      -- telephony), espeak-ng for the agent, so the other party is flite's slt; pocketsphinx hears
      -- it through the bot's own voice module
      local proc = require("helpers.proc")
      local dir = proc.temp_dir("browser_flow") .. "/demo_clinic_beta/patient_questions"
      local from = "clients/demo_clinic_beta/patient_questions"
      assert(os.execute(proc.shell_prefix() .. "mkdir -p " .. proc.shell_quote(dir) .. " && cp -r "
        .. proc.shell_quote(from .. "/flow_definition.lua") .. " " .. proc.shell_quote(from .. "/scenarios") .. " "
        .. proc.shell_quote(dir)) == 0)
      local services = assert(io.open(from .. "/services.yaml")):read("*a"):gsub("\ntelephony:.*$", "\ntelephony: {provider: none}\n")
      local f = assert(io.open(dir .. "/services.yaml", "w"))
      f:write(services)
      f:close()
      local code, out = run("eval " .. dir .. " --offline --audio --json --scenario call_back_later")
      assert.equal(0, code, out)
      local r = require("cjson").decode(out)
      assert.equal("audio", r.mode)
      assert.same({ "pcm_s16le", 16000, "espeak", "cmu_us_slt" },
        { r.audio.encoding, r.audio.sample_rate, r.audio.agent_tts, r.audio.party_voice })
      local s = r.scenarios[1]
      assert.is_true(s.passed, table.concat(s.differences, "; "))
      assert.same({ "incomplete", "asked to call back later" }, { s.status, s.reason })
      -- the lines as spoken (speechify's clean form) and as heard at the end of each turn
      assert.equal(2, #s.lines)
      assert.same({ said = "yes speaking", heard = "yes speaking", errors = 0, words = 2 }, s.lines[1])
      assert.equal("oh this is a bad time i'm at work can you call me back later", s.lines[2].said)
      assert.matches("bad time i'm at work", s.lines[2].heard, 1, true)
      assert.same({ s.lines[1].heard, s.lines[2].heard }, s.heard)
      local users = {}
      for _, m in ipairs(s.transcript) do if m.role == "user" then users[#users + 1] = m.text end end
      assert.same(s.heard, users) -- the agent got what was heard
      assert.equal(s.lines[2].errors, s.errors)
      assert.near(s.errors / s.words, s.wer, 1e-9)
      assert.same({ s.errors, s.words }, { r.audio.errors, r.audio.words })
      -- the engine's clock ran through the audio: the second line came after the first's audio
      assert.is_true(r.audio.audio_seconds > 3)
      assert.is_true(s.transcript[#s.transcript].t > 2 * 2 + r.audio.audio_seconds - 1)
      -- the table: a WER column and the line heard wrong, said vs heard
      code, out = run("eval " .. dir .. " --offline --audio --scenario call_back_later")
      assert.equal(0, code, out)
      assert.matches("audio mode (pcm_s16le 16000 Hz, the other party in flite cmu_us_slt)", out, 1, true)
      assert.matches("call_back_later%s+pass%s+2%s+%d+%.%d%%", out)
      assert.matches('said "oh this is a bad time', out, 1, true)
      assert.matches("1 of 1 passed; WER %d+%.%d%% %(%d+ word errors in 17 words%)", out)
    end)

    it("--audio needs a flow with speech and is a mode of its own", function()
      local code, out = run("eval " .. EVAL .. SCHEMA .. " --audio")
      assert.equal(2, code, out)
      assert.matches("audio mode: this workflow's services.yaml has no stt provider: its calls are text only", out, 1, true)
      code, out = run("eval " .. EVAL .. SCHEMA .. " --audio --speech")
      assert.equal(2, code, out)
      assert.matches("--audio hears real audio: it takes neither --speech nor --seed", out, 1, true)
    end)

    it("refuses an invalid scenario file naming the file and the key; exit 2", function()
      local code, out = run("eval spec/fixtures/flows/eval_invalid" .. SCHEMA)
      assert.equal(2, code, out)
      assert.matches("eval_invalid/scenarios/bad.yaml: /expect/status: must be one of: completed", out, 1, true)
      assert.matches("eval_invalid/scenarios/bad.yaml: /lines/0/wait: is not allowed", out, 1, true)
      code, out = run("eval " .. EVAL .. SCHEMA .. " --seed many")
      assert.equal(2, code, out)
      assert.matches("--seed needs a whole number", out, 1, true)
    end)

    it("--from-session needs a session id and the database", function()
      local code, out = run("eval --from-session 12345")
      assert.equal(2, code, out)
      assert.matches("needs a session id", out, 1, true)
      local p = assert(io.popen("env -u MONGODB_URI " .. build .. "/sova flow eval --from-session 0123456789abcdef01234567 2>&1"))
      out = p:read("*a")
      p:close()
      assert.matches("set MONGODB_URI", out, 1, true)
    end)
  end)

  it("refuses unknown options and a missing patient file plainly", function()
    local code, out = run("simulate clients/demo_clinic_alpha/prior_auth --bogus")
    assert.equal(2, code)
    assert.matches("unknown option --bogus", out, 1, true)
    code, out = run("simulate clients/demo_clinic_alpha/prior_auth")
    assert.equal(2, code)
    assert.matches("needs --patient", out, 1, true)
  end)
end)

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
  lazy_teardown(function() os.remove(FIELDS) end)

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

  it("refuses unknown options and a missing patient file plainly", function()
    local code, out = run("simulate clients/demo_clinic_alpha/prior_auth --bogus")
    assert.equal(2, code)
    assert.matches("unknown option --bogus", out, 1, true)
    code, out = run("simulate clients/demo_clinic_alpha/prior_auth")
    assert.equal(2, code)
    assert.matches("needs --patient", out, 1, true)
  end)
end)

-- What phone calls add to the flow library, in the call sandbox: call:press, phone menu nodes
-- (ivr), the organization's data files (insurer_menus, loaded and validated by sova.flow_data on
-- the trusted side), the voicemail setting and its privacy check, and where a transfer that no
-- one answers goes. Tags: #flows #phone
local flow = require("sova.sandboxed.flow")
local checker = require("sova.tools.flow_check")
local sandbox_host = require("sova.call.sandbox_host")
local flow_data = require("sova.flow_data")
local proc = require("helpers.proc")

local FIELDS = require("fixtures.flows.fields")
local FIX = "spec/fixtures/flows/"

local function by_key(fields)
  local t = {}
  for _, f in ipairs(fields) do t[f.key] = f end
  return t
end

local function line_with(path, text)
  local n = 0
  for line in (assert(io.open(path)):read("*a") .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find(text, 1, true) and not line:match("^%s*%-%-") then return n end
  end
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("phone calls in the flow library #flows #phone", function()
  lazy_teardown(function() proc.cleanup() end)

  local host
  before_each(function() host = assert(sandbox_host.new(FIX .. "phone")) end)
  after_each(function() host:close() end)

  local function run(node, fn, args)
    return host:run_handler(node, fn, args or {}, { fields = by_key(FIELDS), patient = { patient_name = "Ann Lee" } })
  end

  it("checks clean, and describes the phone settings as plain data", function()
    assert.are.same({}, checker.check_dir(FIX .. "phone", FIELDS))
    local d = assert(host:describe())
    assert.is_true(d.nodes.menu.ivr)
    assert.is_nil(d.nodes.desk.ivr)
    assert.are.equal("desk", d.nodes.desk.on_transfer_failed)
    assert.are.equal("Nobody picked up.", d.transfer_failed)
    assert.are.same({ message = "Hello, this is the clinic. Please call us back.", phi = false, set = { status = "Open" } },
      d.voicemail)
  end)

  it("hands the organization's data files in: a handler reads call.data, and presses keys", function()
    local eff = assert(run("menu", "menu_prompt", { prompt = "For providers, press 3." }))
    assert.are.equal("3w#", eff.dtmf) -- two presses in one step, in order
    assert.are.equal("digits", eff.result)
  end)

  it("call:press takes 1 to 32 keys of 0-9 * # w W, in one step too", function()
    local _, err = run("desk", "keys")
    assert.matches('call:press%("1111.*"%): keys must be 0%-9, %*, # %(w/W to pause%), 1 to 32 of them', err.message)
    _, err = run("desk", "too_many")
    assert.matches("more than 32 keys in one step", err.message, 1, true)
  end)

  it("reports every mistake in the phone settings, each at its line", function()
    local problems = checker.check_dir(FIX .. "bad_phone", FIELDS)
    local f = FIX .. "bad_phone/flow_definition.lua"
    local function at(needle, text)
      local found
      for _, p in ipairs(problems) do if p.message:find(needle, 1, true) then found = p end end
      assert(found, "no problem mentions " .. needle .. ":\n" .. checker.format(problems))
      assert.are.equal(line_with(f, text), found.line, needle)
    end
    at('data[2]: "../secrets" is not a data file flows may read (known: insurer_menus)', '"../secrets"')
    at('transfer_failed: template {{nickname}} names "nickname"', "{{nickname}}")
    at("voicemail.message: {{patient_name}} is patient data and phi = false", "voicemail =")
    at('voicemail: unknown key "greeting" (message, phi, set)', "greeting")
    at('voicemail.set: "Closed" is not a value of "status"', '"Closed"')
    at("nodes.a.ivr must be true or false", "ivr")
    at('nodes.a.on_transfer_failed: node "gone" does not exist', '"gone"')
    assert.are.equal(7, #problems, checker.format(problems))
  end)

  it("allows patient fields in a voicemail message only with phi = true", function()
    local def = { name = "x", reads = { "patient_name" }, writes = { "status" }, initial = "a", behaviours = false,
                  nodes = { a = { say = { "Hi." }, post_actions = { { type = "end_call", status = "completed" } } } } }
    local function problems(vm)
      local d = flow.copy(def)
      d.voicemail = vm
      local out = {}
      for _, p in ipairs(flow.check(d, FIELDS)) do out[#out + 1] = p.message end
      return out
    end
    assert.are.same({}, problems({ message = "Hi, this is the clinic at 516 555 0100." }))
    assert.are.equal(1, #problems({ message = "Hi {{patient_name}}." }))
    assert.are.equal(1, #problems({ message = "Hi {{patient_name}}.", phi = false }))
    assert.are.same({}, problems({ message = "Hi {{patient_name}}.", phi = true }))
    assert.matches("voicemail.phi must be true or false", problems({ message = "Hi.", phi = "no" })[1], 1, true)
    assert.matches("voicemail.message must be the line left after the beep", problems({ phi = false })[1], 1, true)
    assert.matches("voicemail must be a table", problems("Hi.")[1], 1, true)
  end)

  it("checks listen_first: a node that hears the first words and says nothing, and its wait", function()
    local ask = { functions = { { name = "who", description = "Who picked up.", next = "a" } } }
    local def = { name = "x", initial = "a", behaviours = false,
                  nodes = { a = { say = { "Hi." }, post_actions = { { type = "end_call", status = "completed" } } },
                            answer = ask } }
    local function problems(lf, answer)
      local d = flow.copy(def)
      d.listen_first = lf
      if answer then d.nodes.answer = answer end
      local out = {}
      for _, p in ipairs(flow.check(d, FIELDS)) do out[#out + 1] = p.message end
      return out
    end
    assert.are.same({}, problems({ node = "answer" }))
    assert.are.same({}, problems({ node = "answer", seconds = 2.5 }))
    assert.are.same({ 'listen_first must be a table: { node = "...", seconds = 3 }' }, problems(true))
    assert.are.same({ 'listen_first: unknown key "wait" (node, seconds)' }, problems({ node = "answer", wait = 3 }))
    assert.are.same({ "listen_first.node must name the node that hears the first words" }, problems({ seconds = 3 }))
    assert.are.same({ 'listen_first.node: node "door" does not exist' }, problems({ node = "door" }))
    assert.are.same({ "listen_first.node must not be the initial node: initial is where a person is answered" },
      problems({ node = "a" }))
    assert.are.same({ "listen_first.seconds must be a number of seconds above 0" }, problems({ node = "answer", seconds = 0 }))
    local speaks = 'listen_first.node: node "answer" says something, but it listens before the agent speaks'
    assert.matches(speaks, problems({ node = "answer" }, { say = { "Hello?" }, functions = ask.functions })[1], 1, true)
    assert.matches(speaks, problems({ node = "answer" },
      { pre_actions = { { type = "say", text = "Hello?" } }, functions = ask.functions })[1], 1, true)
    assert.are.same({ 'listen_first.node: node "answer" has no functions to take the first words' },
      problems({ node = "answer" }, { next = "a" }))
    local d = flow.describe(flow.define(flow.copy(def)))
    assert.is_nil(d.listen_first)
    local with = flow.copy(def)
    with.listen_first = { node = "answer", seconds = 2 }
    assert.are.same({ node = "answer", seconds = 2 }, flow.describe(with).listen_first)
  end)

  describe("data files", function()
    local function org_with(flow_source, menus)
      local dir = proc.temp_dir("org")
      assert(require("sova.core").sys.mkdir(dir .. "/wf"))
      write(dir .. "/wf/flow_definition.lua", flow_source)
      if menus then write(dir .. "/insurer_menus.yaml", menus) end
      return dir .. "/wf"
    end
    local FLOW = [[
local flow = require("sova.sandboxed.flow")
return flow.define { name = "wf", initial = "a", behaviours = false, data = { "insurer_menus" },
  nodes = { a = { functions = { { name = "f", description = "f", rules = { "*" },
    handler = function(args, call) return false, call.data.insurer_menus or "none" end } } } } }
]]

    it("are read from the organization's folder, beside its workflows", function()
      assert.are.equal("clients/demo_clinic_alpha/insurer_menus.yaml",
        flow_data.file("clients/demo_clinic_alpha/prior_auth", "insurer_menus"))
      local data = assert(flow_data.load("clients/demo_clinic_alpha/prior_auth", { "insurer_menus" }))
      assert.are.equal("2", data.insurer_menus.insurers.Aetna.prior_authorization)
    end)

    it("an organization without the file gives the flow none", function()
      local h = assert(sandbox_host.new(org_with(FLOW)))
      assert.are.equal("none", assert(h:run_handler("a", "f", {}, {})).result)
      h:close()
    end)

    it("a file that is not valid fails the flow's load, naming the file and the key", function()
      local dir = org_with(FLOW, 'insurers:\n  Acme:\n    providers: "1x"\n')
      local h, err = sandbox_host.new(dir)
      assert.is_nil(h)
      assert.matches("insurer_menus.yaml: /insurers/Acme/providers: ", err.message, 1, true)
      local problems = checker.check_dir(dir, FIELDS)
      assert.are.equal(1, #problems)
      assert.matches("insurer_menus%.yaml$", problems[1].file)
      assert.matches("^/insurers/Acme/providers: ", problems[1].message)
      h, err = sandbox_host.new(org_with(FLOW, "insurers: [1, 2\n"))
      assert.is_nil(h)
      assert.matches("insurer_menus.yaml: ", err.message, 1, true)
    end)

    it("only the known names are loaded; another name is the caller's mistake", function()
      assert.has_error(function() flow_data.load("clients/demo_clinic_alpha/prior_auth", { "services" }) end,
        "flow_data.load: unknown data file services")
      -- a flow asking for another file gets nothing from it (check reports the name)
      local h = assert(sandbox_host.new(org_with(FLOW:gsub('"insurer_menus"', '"services"'))))
      assert.are.equal("none", assert(h:run_handler("a", "f", {}, {})).result)
      h:close()
    end)
  end)
end)

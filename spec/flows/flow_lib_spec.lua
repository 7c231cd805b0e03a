-- Unit specs of the flow library (lua/sova/sandboxed/): templates, flow.check on the fixture
-- flows (with file and line through the checker), the call object handlers see, describe(), and
-- the environment flows get. Flows run in the call sandbox (sova.call.sandbox_host), as in a call.
local flow = require("sova.sandboxed.flow")
local template = require("sova.sandboxed.template")
local data = require("sova.sandboxed.data")
local params = require("sova.sandboxed.params")
local checker = require("sova.tools.flow_check")
local sandbox_host = require("sova.call.sandbox_host")

local FIELDS = require("fixtures.flows.fields")
local FIX = "spec/fixtures/flows/"

local function by_key(fields)
  local t = {}
  for _, f in ipairs(fields) do t[f.key] = f end
  return t
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- line number of the first line of a file containing text
local function line_with(path, text)
  local n = 0
  for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find(text, 1, true) and not line:match("^%s*%-%-") then return n end
  end
end

-- the checker's problems for a fixture, and the one whose message contains `needle`
local function problems_of(name)
  return checker.check_dir(FIX .. name, FIELDS)
end

local function find_problem(problems, needle)
  for _, p in ipairs(problems) do
    if p.message:find(needle, 1, true) then return p end
  end
  error("no problem mentions " .. needle .. ":\n" .. checker.format(problems))
end

local function load(name) return assert(sandbox_host.new(FIX .. name)) end

-- run one handler of the good fixture with a fresh state
local good_host
local function run(fn, args, state)
  good_host = good_host or load("good")
  state = state or {}
  state.fields = state.fields or by_key(FIELDS)
  state.patient = state.patient or { patient_name = "Ann Lee", date_of_birth = "1980-01-31", phone_number = "+15165550000" }
  return good_host:run_handler(state.node or "start", fn, args or {}, state)
end

describe("flow library #flows", function()
  ---------------------------------------------------------------------------------------
  describe("templates", function()
    it("fills fields and leaves unknown ones visible, reporting them", function()
      local out, missing = flow.render("Hi {{name}}, {{ age }} years, {{unknown}}.", { name = "Ann", age = 42 })
      assert.are.equal("Hi Ann, 42 years, {{unknown}}.", out)
      assert.are.same({ "unknown" }, missing)
    end)

    it("renders numbers without .0 and booleans as yes/no", function()
      assert.are.equal("3 / 2.5 / yes / no", (flow.render("{{a}} / {{b}} / {{c}} / {{d}}", { a = 3, b = 2.5, c = true, d = false })))
    end)

    it("has date, time, datetime, spell, upper and lower filters", function()
      local v = { d = "1985-03-15", t = "2026-12-01T14:30:00", m = "2026-12-01T09:00:00", r = "auth-12 3" }
      assert.are.equal("March 15, 1985", (flow.render("{{d|date}}", v)))
      assert.are.equal("2:30 PM", (flow.render("{{t|time}}", v)))
      assert.are.equal("December 1, 2026 at 9 AM", (flow.render("{{m|datetime}}", v)))
      assert.are.equal("December 1, 2026", (flow.render("{{ t | date }}", v)))
      assert.are.equal("A U T H 1 2 3", (flow.render("{{r|spell}}", v)))
      assert.are.equal("AUTH-12 3", (flow.render("{{r|upper}}", v)))
    end)

    it("leaves an unknown filter visible", function()
      local out, missing = flow.render("{{d|shout}}", { d = "x" })
      assert.are.equal("{{d|shout}}", out)
      assert.are.same({ "d" }, missing)
    end)

    it("finds references, unclosed braces and malformed references", function()
      local refs, bad = template.refs("{{a}} {{b|date}} {{ not valid }} {{c")
      assert.are.same({ { name = "a", raw = "{{a}}" }, { name = "b", filter = "date", raw = "{{b|date}}" } }, refs)
      assert.are.equal(2, #bad)
      assert.matches("malformed", bad[1].message)
      assert.matches("unclosed", bad[2].message)
    end)

    it("text without braces comes back unchanged", function()
      assert.are.equal("plain", (flow.render("plain", {})))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("check", function()
    it("finds nothing wrong in a correct flow", function()
      assert.are.same({}, problems_of("good"))
    end)

    it("reports reads not in the schema, with the line", function()
      local p = find_problem(problems_of("unknown_read"), '"insurance_id": no such field')
      assert.are.equal(FIX .. "unknown_read/flow_definition.lua", p.file)
      assert.are.equal(6, p.line)
      assert.are.equal(line_with(p.file, '"insurance_id"'), p.line)
    end)

    it("reports writes of system fields", function()
      local p = find_problem(problems_of("system_write"), '"call_status": a system field')
      assert.are.equal(7, p.line)
    end)

    it("reports templates naming unknown fields, undeclared fields, unknown filters, unclosed braces", function()
      local problems = problems_of("bad_templates")
      local f = FIX .. "bad_templates/flow_definition.lua"
      local p = find_problem(problems, "{{favorite_color}} names \"favorite_color\", which is not a field")
      assert.are.equal(line_with(f, "{{favorite_color}}"), p.line)
      p = find_problem(problems, "{{secret_notes}} uses \"secret_notes\", which the flow does not declare")
      assert.are.equal(line_with(f, "{{secret_notes}}"), p.line)
      p = find_problem(problems, "unknown filter \"shout\"")
      assert.are.equal(line_with(f, "{{patient_name|shout}}"), p.line)
      p = find_problem(problems, "unclosed")
      assert.are.equal(line_with(f, "Bye {{patient_name"), p.line)
      assert.are.equal(4, #problems, checker.format(problems))
    end)

    it("reports nodes named by initial, a function's next and a node's next that do not exist", function()
      local problems = problems_of("missing_nodes")
      local f = FIX .. "missing_nodes/flow_definition.lua"
      assert.are.equal(line_with(f, '"begin"'), find_problem(problems, 'initial node "begin" does not exist').line)
      assert.are.equal(line_with(f, '"nowhere"'), find_problem(problems, 'node "nowhere" does not exist').line)
      assert.are.equal(line_with(f, '"elsewhere"'), find_problem(problems, 'node "elsewhere" does not exist').line)
    end)

    it("reports bad parameter schemas", function()
      local problems = problems_of("bad_params")
      local f = FIX .. "bad_params/flow_definition.lua"
      assert.are.equal(line_with(f, '"root_not_object"'), find_problem(problems, 'parameters must be of type "object"').line)
      assert.are.equal(line_with(f, '"bad_type"'), find_problem(problems, "type must be one of string").line)
      find_problem(problems, "required names b, which is not among the properties")
      find_problem(problems, "enum value 2 (two) is not a integer")
      find_problem(problems, "rules.values.s: \"C\" is not one of the options")
    end)

    it("reports duplicate function names in a node and clashes with global functions", function()
      local problems = problems_of("duplicate_functions")
      local f = FIX .. "duplicate_functions/flow_definition.lua"
      local p = find_problem(problems, 'duplicate function name "ask"')
      assert.matches("nodes.start.functions%[2%]", p.message)
      assert.are.equal(line_with(f, '"ask"'), p.line)  -- the first occurrence of the name: honest, simple
      find_problem(problems, 'function "hold" has the name of a global function')
    end)

    it("reports a node where the call would be stuck", function()
      local p = find_problem(problems_of("stuck_node"), "the call would be stuck here")
      assert.matches("nodes.limbo", p.message)
      assert.are.equal(line_with(FIX .. "stuck_node/flow_definition.lua", "limbo ="), p.line)
    end)

    it("reports misspelled keys of the flow, nodes, functions and actions, and bad end statuses", function()
      local problems = problems_of("unknown_keys")
      local f = FIX .. "unknown_keys/flow_definition.lua"
      assert.are.equal(line_with(f, "inital"), find_problem(problems, 'unknown key "inital"').line)
      assert.are.equal(line_with(f, "tsak"), find_problem(problems, 'unknown key "tsak"').line)
      assert.are.equal(line_with(f, "handle ="), find_problem(problems, 'unknown key "handle"').line)
      find_problem(problems, 'unknown key "why" for a end_call action')
      find_problem(problems, "status must be " .. require("sova.sandboxed.vocabulary").flow_end_codes(" or "))
    end)

    it("reports a Lua syntax error with its line", function()
      local problems = problems_of("syntax_error")
      assert.are.equal(1, #problems)
      assert.are.equal(4, problems[1].line)
    end)

    it("reports an error while loading (a flow has no os) with its line", function()
      local problems = problems_of("load_error")
      assert.are.equal(1, #problems)
      assert.are.equal(3, problems[1].line)
      assert.matches("os", problems[1].message)
    end)

    -- what the call sandbox refuses at load, the checker reports, with file and line
    it("reports a flow reaching for io", function()
      local problems = problems_of("refused_io")
      assert.are.equal(1, #problems, checker.format(problems))
      assert.are.equal(FIX .. "refused_io/flow_definition.lua", problems[1].file)
      assert.are.equal(line_with(problems[1].file, "io.open"), problems[1].line)
      assert.matches("attempt to index global 'io'", problems[1].message, 1, true)
    end)

    it("reports a flow requiring a trusted module", function()
      local problems = problems_of("refused_require")
      assert.are.equal(1, #problems, checker.format(problems))
      assert.are.equal(line_with(problems[1].file, "sova.json"), problems[1].line)
      assert.are.equal("module 'sova.json' is not available to flows", problems[1].message)
    end)

    it("reports a pattern over the sandbox's caps, also in a method call", function()
      local problems = problems_of("refused_pattern")
      assert.are.equal(1, #problems, checker.format(problems))
      assert.are.equal(line_with(problems[1].file, ":match("), problems[1].line)
      assert.are.equal("pattern has more than 2 repetitions (*, +, -)", problems[1].message)
    end)

    it("reports an error in a module of the flow's directory at that module's line", function()
      local problems = problems_of("refused_in_module")
      assert.are.equal(1, #problems, checker.format(problems))
      assert.are.equal(FIX .. "refused_in_module/steps.lua", problems[1].file)
      assert.are.equal(line_with(problems[1].file, "os.time"), problems[1].line)
    end)

    it("accepts the schema as a list or as a map by key", function()
      local host = load("good")
      assert.are.same({}, (host:check(by_key(FIELDS))))
      assert.are.same({}, (host:check(FIELDS)))
    end)

    it("a flow that is not a table is one problem", function()
      local problems = flow.check(nil, FIELDS)
      assert.are.equal(1, #problems)
    end)

    it("the checker formats problems as file:line: message", function()
      local text = checker.format(problems_of("unknown_read"))
      assert.matches("^spec/fixtures/flows/unknown_read/flow_definition.lua:6: reads \"insurance_id\"", text)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("describe", function()
    it("is plain data: no functions anywhere", function()
      local d = assert(load("good"):describe())
      local function walk(v, path)
        assert.are_not.equal("function", type(v), path)
        if type(v) == "table" then
          assert.is_nil(getmetatable(v), path)
          for k, x in pairs(v) do walk(x, path .. "." .. tostring(k)) end
        end
      end
      walk(d, "describe")
      assert.are.equal("fixture_good", d.name)
      assert.are.equal("start", d.initial)
      assert.are.same({ "Hello {{patient_name}}, born {{date_of_birth|date}}." }, d.nodes.start.say)
      local record = d.nodes.start.functions[1]
      assert.are.equal("record", record.name)
      assert.is_true(record.has_handler)
      assert.are.same({ "score" }, record.rules)
      assert.are.equal("object", record.parameters.type)
      local go = d.nodes.start.functions[2]
      assert.is_false(go.has_handler)
      assert.are.equal("second", go.next)
      assert.are.equal("bye", d.functions[1].name)
      assert.are.same({ { type = "dtmf", digits = "1w2" }, { type = "say", text = "Pre line for {{patient_name}}." } },
        d.nodes.start.pre_actions)
      assert.are.same({ { type = "end_call", status = "completed", reason = "fixture done" } }, d.nodes.done.post_actions)
    end)

    it("gives functions without parameters an empty object schema", function()
      local d = assert(load("good"):describe())
      assert.are.same({ type = "object", properties = {} }, d.nodes.start.functions[2].parameters)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("required outcomes, silence, fallbacks and behaviours in check and describe", function()
    it("finds nothing wrong in a correct flow using them", function()
      assert.are.same({}, problems_of("behaviours"))
    end)

    it("reports every mistake in them, each at its line", function()
      local problems = problems_of("bad_flow_keys")
      local f = FIX .. "bad_flow_keys/flow_definition.lua"
      local function at(needle, text) assert.are.equal(line_with(f, text), find_problem(problems, needle).line, needle) end
      at('requires "favorite_color": no such field', '"favorite_color"')
      at('requires "score": the flow does not declare it in writes', '"score"')
      at('requires "notes": when.status: "Closed" is not a value of "status": must be one of: Open, Done', '"Closed"')
      at('when names "visit_at", which the flow does not declare in reads or writes', "visit_at")
      at('silence: unknown key "timeout"', "timeout")
      at("silence.seconds must be a number of seconds above 0", "seconds = 0")
      at('silence.check: template {{nickname}} names "nickname"', "{{nickname}}")
      at('fallback: node "rescue" does not exist', '"rescue"')
      at('behaviours.goodbye.say: template {{secret_notes}} uses "secret_notes"', "{{secret_notes}}")
      at('behaviours.goodbye.end_call: status must be completed, failed, incomplete, no_answer or voicemail, not "finished"',
        "goodbye =")
      at('behaviours.wrong_number.set: "Wrong" is not a value of "status"', '"Wrong"')
      at('behaviours.wrong_number.next: node "elsewhere" does not exist', '"elsewhere"')
      at("behaviours.hold.hold_seconds must be a number of seconds above 0", "hold =")
      at("behaviours.hold.returned.say must be a line of text", "hold =")
      at('behaviours: unknown behaviour "small_talk"', "small_talk")
      at('behaviours.repeat_that: unknown option "set" (behaviours.repeat_that takes rules, say)', "repeat_that =")
      at("nodes.ask.max_reprompts must be a whole number", "max_reprompts = 1.5")
      at('nodes.ask.fallback: node "nowhere" does not exist', '"nowhere"')
      at("nodes.wait.hold_seconds must be a number of seconds above 0", "hold_seconds = 0")
      assert.are.equal(19, #problems, checker.format(problems))
    end)

    it("reports malformed requires, silence and behaviours tables as such", function()
      local function messages(def)
        local out = {}
        for _, p in ipairs(flow.check(def, FIELDS)) do out[#out + 1] = p.message end
        return table.concat(out, "\n")
      end
      local base = { name = "x", writes = { "status", "score" }, initial = "a",
                     nodes = { a = { say = { "Hi." }, post_actions = { { type = "end_call", status = "completed" } } } } }
      local function with(k, v) local d = flow.copy(base); d[k] = v; return d end
      assert.matches("requires must be a list", messages(with("requires", "status")), 1, true)
      assert.matches("requires[1] must be a field name or { field, when", messages(with("requires", { 5 })), 1, true)
      assert.matches('requires "status" appears twice', messages(with("requires", { "status", "status" })), 1, true)
      assert.matches('requires "score": when must name one field and its values',
        messages(with("requires", { { "score", when = { status = { "Done" }, flag = { true } } } })), 1, true)
      assert.matches('requires[1]: unknown key "if"', messages(with("requires", { { "score", ["if"] = {} } })), 1, true)
      assert.matches("silence must be a table", messages(with("silence", 30)), 1, true)
      assert.matches("behaviours must be false (none) or a table", messages(with("behaviours", "all")), 1, true)
      assert.matches("behaviours.hold must be false (off), true or a table of options", messages(with("behaviours", { hold = "no" })), 1, true)
      assert.matches("behaviours.goodbye.rules[1] must be a non-empty phrase", messages(with("behaviours", { goodbye = { rules = { "" } } })), 1, true)
      assert.matches('behaviours.goodbye.set: "notes" is not declared in writes',
        messages(with("behaviours", { goodbye = { set = { notes = "x" } } })), 1, true)
      assert.are.equal("", messages(with("requires", { "status", { "score", when = { status = "Done" } } })))
    end)

    it("keeps the phone line's own statuses (busy, canceled) out of a flow's end_call, saying why", function()
      local line_own = "is the phone line's own (the platform sets it from the line); a flow ends a call with "
        .. "completed, failed, incomplete, no_answer or voicemail"
      local function problems(def)
        local out = {}
        for _, p in ipairs(flow.check(def, FIELDS)) do out[#out + 1] = p.message end
        return out
      end
      local node = { say = { "Hi." }, post_actions = { { type = "end_call", status = "busy" } } }
      assert.are.same({ "nodes.a.post_actions[1]: status busy " .. line_own },
        problems({ name = "x", initial = "a", nodes = { a = node } }))
      node.post_actions[1].status = "completed"
      assert.are.same({ "behaviours.call_back_later.end_call: status canceled " .. line_own },
        problems({ name = "x", initial = "a", nodes = { a = node },
                   behaviours = { call_back_later = { end_call = { "canceled", "line dropped" } } } }))
      local def = flow.define({ name = "x", initial = "a", behaviours = false, nodes = { a = { say = { "Hi." },
        functions = { { name = "hang", description = "Hang up.", handler = function(_, call) call:end_call("busy") end } } } } })
      local ok, err = pcall(flow.run_handler, def, "a", "hang", {}, { fields = {}, patient = {}, vars = {} })
      assert.is_false(ok)
      assert.matches("call:end_call: status busy " .. line_own, err, 1, true)
    end)

    it("describes requires, silence and fallbacks as plain data, and the merged behaviours", function()
      local d = assert(load("behaviours"):describe())
      assert.are.same({ { field = "status" }, { field = "score", when = { field = "status", values = { "Done" } } } }, d.requires)
      assert.are.same({ seconds = 20, check = "{{patient_name}}, are you still there?", close = "Goodbye for now." }, d.silence)
      assert.are.equal("help", d.fallback)
      assert.are.equal(1, d.nodes.ask.max_reprompts)
      assert.are.equal("help", d.nodes.ask.fallback)
      assert.is_false(d.nodes.score.max_reprompts)
      assert.is_nil(d.nodes.wrap.max_reprompts)
      assert.is_nil(d.nodes.wrap.hold_seconds)
      local names = {}
      for _, fn in ipairs(d.functions) do names[#names + 1] = fn.name; assert.is_true(fn.has_handler) end
      assert.are.same({ "goodbye", "repeat_that", "who_is_calling", "wrong_number", "hold" }, names)   -- call_back_later is off
      local hold = d.nodes.on_hold
      assert.are.same({ name = "on_hold", task = "You are on hold. Say nothing until a person speaks to you again.",
                        say = {}, reprompt = "", hold_seconds = 600, fallback = "help", pre_actions = {}, post_actions = {},
                        functions = { hold.functions[1] } }, hold)
      assert.are.equal("returned", hold.functions[1].name)
      assert.is_true(#hold.functions[1].rules > 10)
    end)

    it("leaves requires, silence and fallback out when the flow has none", function()
      local d = assert(load("good"):describe())
      assert.is_nil(d.requires)
      assert.is_nil(d.silence)
      assert.is_nil(d.fallback)
      assert.is_nil(d.nodes.start.max_reprompts)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("define merges the global behaviours", function()
    local behaviours = require("sova.sandboxed.behaviours")
    local function base(extra)
      local def = {
        name = "x", reads = { "patient_name" }, writes = { "status" }, initial = "a",
        functions = { { name = "mine", description = "Mine.", rules = { "mine" }, next = "b" } },
        nodes = {
          a = { say = { "First question?" },
                functions = { { name = "answer", description = "An answer.", rules = { "answer" }, next = "b" } } },
          b = { say = { "Bye." }, post_actions = { { type = "end_call", status = "completed" } } },
        },
      }
      for k, v in pairs(extra or {}) do def[k] = v end
      return def
    end
    local function names(def)
      local out = {}
      for _, fn in ipairs(def.functions) do out[#out + 1] = fn.name end
      return out
    end
    local function state(vars) return { fields = by_key(FIELDS), patient = { patient_name = "Ann Lee" }, vars = vars or {} } end

    it("after the flow's own global functions, with the on_hold node, and checks clean", function()
      local def = flow.define(base())
      assert.are.same({ "mine", "goodbye", "repeat_that", "who_is_calling", "wrong_number", "call_back_later", "hold" }, names(def))
      assert.is_table(def.nodes.on_hold)
      assert.are.equal(behaviours.HOLD_SECONDS, def.nodes.on_hold.hold_seconds)
      assert.are.same({}, flow.check(def, FIELDS))
    end)

    it("is undone by behaviours = false, and one behaviour by name = false", function()
      local def = flow.define(base({ behaviours = false }))
      assert.are.same({ "mine" }, names(def))
      assert.is_nil(def.nodes.on_hold)
      def = flow.define(base({ behaviours = { hold = false, goodbye = false } }))
      assert.are.same({ "mine", "repeat_that", "who_is_calling", "wrong_number", "call_back_later" }, names(def))
      assert.is_nil(def.nodes.on_hold)
    end)

    it("a flow's own function of the same name, global or in a node, and its own on_hold node win", function()
      local def = base({ functions = { { name = "goodbye", description = "Ours.", rules = { "ciao" }, next = "b" } } })
      def.nodes.a.functions[2] = { name = "hold", description = "Our hold.", rules = { "wait" }, next = "b" }
      def = flow.define(def)
      assert.are.same({ "goodbye", "repeat_that", "who_is_calling", "wrong_number", "call_back_later" }, names(def))
      assert.are.same({ "ciao" }, def.functions[1].rules)
      assert.is_nil(def.nodes.on_hold)
      local own_hold = { say = { "Holding our way." }, reprompt = "", functions = { { name = "back", description = "Back.", next = "a" } } }
      def = flow.define(base({ nodes = { a = base().nodes.a, b = base().nodes.b, on_hold = own_hold } }))
      assert.are.equal(own_hold, def.nodes.on_hold)
      assert.are.equal("hold", names(def)[#names(def)])
      assert.are.same({}, flow.check(def, FIELDS))
    end)

    it("defining twice adds nothing more, and leaves the definition it was given as it was", function()
      local given = base()
      local once = flow.define(given)
      assert.are.same(names(once), names(flow.define(once)))
      assert.are.same({ "mine" }, names(given))
      assert.is_nil(given.nodes.on_hold)
    end)

    it("marks the goodbye as a closing (rules.last), and checks rules.last", function()
      local d = flow.describe(flow.define(base()))
      for _, f in ipairs(d.functions) do
        assert.are.equal(f.name == "goodbye" or nil, f.rules_last, f.name)
      end
      local def = base({ functions = { { name = "mine", description = "Mine.", rules = { "mine", last = "yes" }, next = "b" } } })
      local found = false
      for _, p in ipairs(flow.check(flow.define(def), FIELDS)) do
        if p.message:find("rules.last must be true or false", 1, true) then found = true end
      end
      assert.is_true(found)
    end)

    it("call:resume names a node of the flow; the returned function of the hold resumes", function()
      local def = flow.define(base())
      local back = flow.run_handler(def, "on_hold", "returned", {}, state({ hold_return = "a" }))
      assert.are.equal("a", back.resume)
      assert.is_nil(back.next)
      def.nodes.a.functions[1].handler = function(_, call) call:resume("nowhere") end
      local ok, err = pcall(flow.run_handler, def, "a", "answer", {}, state())
      assert.is_false(ok)
      assert.matches('resumes "nowhere": no such node', err, 1, true)
      def.nodes.a.functions[1].handler = function(_, call) call:resume(42) end
      ok, err = pcall(flow.run_handler, def, "a", "answer", {}, state())
      assert.is_false(ok)
      assert.matches("call:resume(node): node must be a node name", err, 1, true)
    end)

    it("leaves out a behaviour whose options are wrong (check reports them)", function()
      local def = flow.define(base({ behaviours = { goodbye = { end_call = { "finished" } }, hold = { hold_seconds = 0 } } }))
      assert.are.same({ "mine", "repeat_that", "who_is_calling", "wrong_number", "call_back_later" }, names(def))
      assert.is_nil(def.nodes.on_hold)
      assert.are.equal(2, #flow.check(def, FIELDS))
    end)

    it("runs the behaviours' handlers from any node with functions: effects as the contract says", function()
      local def = flow.define(base({ behaviours = {
        wrong_number = { set = { status = "Done" }, say = "Could you transfer me, {{patient_name}}?", next = false },
      } }))
      local eff = flow.run_handler(def, "a", "repeat_that", {}, state())
      assert.is_true(eff.repeat_last)
      assert.are.same({}, eff.say)
      assert.is_nil(eff.next)
      eff = flow.run_handler(def, "a", "who_is_calling", {}, state())
      assert.are.same({ "I'm an automated assistant calling on behalf of the clinic." }, eff.say)
      assert.is_true(eff.repeat_last)
      eff = flow.run_handler(def, "a", "goodbye", {}, state())
      assert.are.same({ "Thank you for your time. Goodbye." }, eff.say)
      assert.are.same({ status = "completed", reason = "the other party said goodbye" }, eff.end_call)
      eff = flow.run_handler(def, "a", "call_back_later", {}, state())
      assert.are.same({ "Asked to be called back later." }, eff.notes)
      assert.are.same({ status = "completed", reason = "asked to call back later" }, eff.end_call)
      eff = flow.run_handler(def, "a", "wrong_number", {}, state())
      assert.are.same({ status = "Done" }, eff.sets)
      assert.are.same({ "Could you transfer me, Ann Lee?" }, eff.say)
      assert.is_nil(eff.end_call)
      assert.is_nil(eff.next)
    end)

    it("hold remembers the node, stays put when asked again, and returned goes back there", function()
      local def = flow.define(base())
      local eff = flow.run_handler(def, "a", "hold", {}, state())
      assert.are.same({ "Sure, I'll hold." }, eff.say)
      assert.are.equal("on_hold", eff.next)
      assert.are.equal("a", eff.state.hold_return)
      local again = flow.run_handler(def, "on_hold", "hold", {}, state(eff.state))
      assert.are.same({}, again.say)
      assert.is_nil(again.next)
      assert.are.equal("a", again.state.hold_return)
      local back = flow.run_handler(def, "on_hold", "returned", {}, state(again.state))
      assert.are.same({ "Yes, I'm here." }, back.say)
      assert.is_nil(back.next)
      assert.are.equal("a", back.resume) -- back without entering again; the line is heard there
      assert.is_nil(back.state.hold_return)
      -- with nothing remembered, back to the first node
      assert.are.equal("a", flow.run_handler(def, "on_hold", "returned", {}, state()).resume)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("run_handler and the call object", function()
    it("returns effects: sets (validated, normalized), lines said (templated), notes, state, result", function()
      local eff = assert(run("record", { score = 7, status = "Done" }, { vars = { count = 1 } }))
      assert.are.same({ score = 7, status = "Done" }, eff.sets)
      assert.are.same({ "Recorded 7, count 2." }, eff.say)
      assert.are.same({ "recorded 7" }, eff.notes)
      assert.are.same({ count = 2 }, eff.state)
      assert.are.same({ recorded = 7 }, eff.result)
      assert.is_nil(eff.next)   -- the handler returned false: stay
    end)

    it("a function without a handler goes to its next node", function()
      local eff = assert(run("go_next"))
      assert.are.equal("second", eff.next)
      assert.are.equal("ok", eff.result)
    end)

    it("global functions run from any node, end_call is an effect", function()
      local eff = assert(run("bye", {}, { node = "second" }))
      assert.are.same({ "Goodbye Ann Lee." }, eff.say)
      assert.are.same({ status = "completed", reason = "said bye" }, eff.end_call)
    end)

    it("call:set refuses a value that is not one of the select options, naming field and reason", function()
      local eff, err = run("set_bad")
      assert.is_nil(eff)
      assert.matches('call:set%("status", "Maybe"%): must be one of: Open, Done', err.message)
      assert.matches("flow_definition.lua:%d+:", err.message)   -- the handler's line
    end)

    it("call:set refuses wrong types, out-of-range numbers, undeclared and system fields", function()
      local function try(field, value)
        local eff, err = run("try_set", { field = field, value = value }, { patient = {} })
        assert.is_nil(eff)
        return err.message
      end
      assert.matches('call:set%("score", "high"%): must be a number', try("score", "high"))
      assert.matches('call:set%("score", 11%): must be at most 10', try("score", 11))
      assert.matches('call:set%("flag", "yes"%): must be a boolean', try("flag", "yes"))
      assert.matches('call:set%("notes", .*%): must be at most 50 characters', try("notes", string.rep("x", 51)))
      assert.matches('the value is empty', try("notes", "  "))
      assert.matches('the flow does not declare "secret_notes" in writes', try("secret_notes", "x"))
      assert.matches('the flow does not declare "call_status" in writes', try("call_status", "completed"))
    end)

    it("reading a field the flow does not declare raises, through call.patient and call:get", function()
      local eff, err = run("read_secret", {}, { patient = { secret_notes = "top secret" } })
      assert.is_nil(eff)
      assert.matches('call.patient.secret_notes: the flow does not declare "secret_notes" in reads', err.message)
      eff, err = run("try_get", { field = "secret_notes" }, { patient = { secret_notes = "x" } })
      assert.is_nil(eff)
      assert.matches('call:get%("secret_notes"%): the flow does not declare', err.message)
    end)

    it("call.patient is read-only", function()
      local eff, err = run("write_patient", {}, { patient = {} })
      assert.is_nil(eff)
      assert.matches("call.patient.patient_name is read%-only", err.message)
    end)

    it("a handler's error comes back as an error with its message", function()
      local eff, err = run("boom")
      assert.is_nil(eff)
      assert.matches("kaboom", err.message)
    end)

    it("a handler going to a node that does not exist raises", function()
      local eff, err = run("jump")
      assert.is_nil(eff)
      assert.matches('goes to "nowhere": no such node', err.message)
    end)

    it("call.state must stay plain data", function()
      local eff, err = run("keep_function")
      assert.is_nil(eff)
      assert.matches("call.state: f is a function", err.message)
    end)

    it("transfer and dtmf are validated", function()
      local eff = assert(run("transfer_me"))
      assert.are.equal("+15165550000", eff.transfer)
      eff = assert(run("dial", { digits = "12#" }))
      assert.are.equal("12#", eff.dtmf)
      local _, err = run("dial", { digits = "12x" })
      assert.matches("call:dtmf%(\"12x\"%): digits must be", err.message)
      _, err = run("transfer_me", {}, { patient = { phone_number = "555" } })
      assert.matches("call:transfer%(\"555\"%): phone must be E.164", err.message)
    end)

    it("call:end_call refuses an unknown status", function()
      local _, err = run("end_unknown", {}, { patient = {} })
      assert.matches('call:end_call: status must be completed, failed, incomplete, no_answer or voicemail, not "done"',
        err.message, 1, true)
    end)

    it("methods called with a dot instead of a colon say so", function()
      local _, err = run("say_with_dot", {}, { patient = {} })
      assert.matches("must be called with a colon", err.message)
    end)

    it("templates in call:say see outcome values already set", function()
      local eff = assert(run("set_then_say", {}, { patient = { score = 4 }, outcome = {} }))
      assert.are.same({ "Status Open, before 4." }, eff.say)
    end)

    it("a module from the flow's own directory can be required", function()
      local eff = assert(run("helper_line"))
      assert.are.same({ "Hello Ann Lee." }, eff.say)
    end)

    it("unknown nodes and functions are errors", function()
      local _, err = run("nope")
      assert.matches('node "start" has no function "nope"', err.message)
      _, err = load("good"):run_handler("ghost", "record", {}, {})
      assert.matches('flow has no node "ghost"', err.message)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("the flow environment (the call sandbox)", function()
    local r
    setup(function()
      local host = load("probe")
      r = assert(host:run_handler("start", "probe", {}, { fields = by_key(FIELDS), patient = {} })).result
    end)

    it("has no io, os, debug, jit, package, loaders, getfenv/setfenv or string.dump", function()
      for _, k in ipairs({ "io", "os", "debug", "jit", "package", "load", "loadstring", "dofile",
                           "loadfile", "getfenv", "setfenv", "string_dump" }) do
        assert.are.equal("nil", r[k], k)
      end
    end)

    it("limits require to sova.sandboxed and the flow's directory", function()
      assert.is_true(r.require_kit)
      assert.is_false(r.require_io)
      assert.is_false(r.require_sandbox_host)
      assert.is_false(r.require_checker)
      assert.is_false(r.require_json)
      assert.are.equal("module 'sova.json' is not available to flows", r.require_json_reason)
      assert.is_false(r.require_old_flow)
    end)

    it("keeps globals read-only", function()
      assert.is_false(r.set_global)
    end)

    it("runs sova.schema without cjson, with its own null", function()
      assert.is_false(r.cjson)
      assert.are.equal("null", r.null)
      assert.are.equal("must be one of: A", r.select_reason)
      assert.is_true(r.cleared)
    end)

    it("refuses pattern subjects over 8 KiB and patterns with more than 2 repetitions, also as methods", function()
      assert.is_false(r.big_subject)
      assert.is_false(r.big_subject_method)
      assert.is_false(r.many_repetitions_method)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("the tenant kit", function()
    local kit = require("sova.sandboxed.kit")

    it("matches a name word by word, ignoring case, punctuation and one-letter words", function()
      assert.is_true(kit.name_matches("This is maria GARCIA, yes.", "Maria Garcia"))
      assert.is_true(kit.name_matches("Wei Chen", "Wei J. Chen"))
      assert.is_false(kit.name_matches("Maria", "Maria Garcia"))
      assert.is_false(kit.name_matches("Maria Garcia", nil))
    end)

    it("matches a date of birth said as YYYY-MM-DD or MM/DD/YYYY, nothing else", function()
      assert.is_true(kit.dob_matches("11/02/1972", "1972-11-02"))
      assert.is_true(kit.dob_matches("1972-11-02", "1972-11-02"))
      assert.is_false(kit.dob_matches("11/03/1972", "1972-11-02"))
      assert.is_false(kit.dob_matches("yesterday", "1972-11-02"))
    end)

    it("reads codes back without spaces and dashes, and tells a bare yes from an answer", function()
      assert.are.equal("AUTH123456", kit.code("auth 123-456"))
      assert.is_true(kit.just_yes("Yes."))
      assert.is_true(kit.just_yes("yes there have", { "yes there have" }))
      assert.is_false(kit.just_yes("Yes, I started metformin."))
    end)

    it("builds a goodbye node that says its line and ends the call", function()
      assert.are.same({ say = { "Bye." }, post_actions = { { type = "end_call", status = "completed", reason = "done" } } },
        kit.goodbye("Bye.", "done"))
    end)

    it("a block adds the flow's phrases to its own; a flow's kit hides its metatable", function()
      local k = kit.new { notes = "notes", follow_up = "flag" }
      local machine = k:voicemail { set = { status = "Done" }, say = "Sorry.", rules = { "at the beep" } }
      assert.are.equal("voicemail", machine.name)
      assert.are.equal("at the beep", machine.rules[#machine.rules])
      assert.is_true(#machine.rules > 1)
      assert.is_false(getmetatable(k))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("data and parameters", function()
    it("copies plain data and refuses functions, cycles and non-finite numbers, naming the path", function()
      assert.are.same({ a = { 1, "x", true } }, data.copy({ a = { 1, "x", true } }))
      assert.has_error(function() data.copy({ a = { f = print } }, "state") end, "state: a.f is a function; only plain data (strings, numbers, booleans, tables) is allowed")
      local t = {}; t.self = t
      assert.has_error(function() data.copy(t, "state") end, "state: self refers back to itself")
      assert.has_error(function() data.copy({ n = 0 / 0 }, "state") end, "state: n is not a finite number")
    end)

    it("validates arguments against parameters", function()
      local p = { type = "object", properties = {
        n = { type = "integer", minimum = 0, maximum = 10 },
        s = { type = "string", enum = { "A", "B" } },
        l = { type = "array", items = { type = "string", enum = { "x", "y" } } },
      }, required = { "n" } }
      assert.are.same({ n = 3, s = "A", l = { "x" } }, params.validate(p, { n = 3, s = "A", l = { "x" }, extra = 1 }))
      assert.are.same({ n = 4 }, params.validate(p, { n = "4" }))
      local _, why = params.validate(p, {})
      assert.are.equal("n is required", why)
      _, why = params.validate(p, { n = 11 })
      assert.are.equal("n must be at most 10", why)
      _, why = params.validate(p, { n = 1.5 })
      assert.are.equal("n must be an integer", why)
      _, why = params.validate(p, { n = 1, s = "C" })
      assert.are.equal("s must be one of: A, B", why)
      _, why = params.validate(p, { n = 1, l = { "z" } })
      assert.are.equal("l[1] must be one of: x, y", why)
    end)
  end)
end)

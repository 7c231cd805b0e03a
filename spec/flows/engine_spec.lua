-- Unit specs of the call engine (lua/sova/call/engine.lua) with a scripted stand-in model:
-- node entry, turns, tool calls and their effects, transitions, actions, the loop guard, and
-- failures that end one call cleanly (never an engine crash); then the conversations that go
-- nowhere (silence, holds, stuck nodes, loops), required outcomes, repeats, and lines that
-- answer more than one node (carry, several tool calls).
local engine = require("sova.call.engine")
local sandbox_host = require("sova.call.sandbox_host")
local rules = require("sova.llm.rules")

local FIELDS = require("fixtures.flows.fields")
local GOOD = "spec/fixtures/flows/good"
local PATIENT = { patient_name = "Ann Lee", date_of_birth = "1980-01-31", phone_number = "+15165550000",
                  secret_notes = "never for the flow", status = "Open" }

-- a stand-in model answering from a script: each entry a response table or function(req).
-- Carried lines (reason "carry") are answered from a second script, by default with nothing.
local function scripted(script, carry_script)
  local llm = { requests = {}, carried = {}, i = 0, ci = 0 }
  function llm:respond(req)
    self.requests[#self.requests + 1] = req
    local r
    if req.reason == "carry" then
      self.carried[#self.carried + 1] = req
      self.ci = self.ci + 1
      r = (carry_script or {})[self.ci]
    else
      self.i = self.i + 1
      r = script[self.i]
    end
    if type(r) == "function" then return r(req) end
    if r == nil then return { text = nil } end
    return r
  end
  return llm
end

local function tool(name, args, id)
  return { tool_calls = { { id = id or ("call_" .. name), name = name, arguments = args or {} } } }
end

local function clock()
  local t = 0
  return function() t = t + 0.5; return t end
end

local function new_call(llm, opts)
  opts = opts or {}
  local events = {}
  local call = engine.new {
    host = opts.host or assert(sandbox_host.new(GOOD)),
    llm = llm,
    patient = opts.patient or PATIENT,
    fields = FIELDS,
    clock = opts.clock or clock(),
    max_rounds = opts.max_rounds,
    silence_seconds = opts.silence_seconds,
    on_event = function(ev) events[#events + 1] = ev end,
  }
  return call, events
end

local function types(events)
  local out = {}
  for _, e in ipairs(events) do out[#out + 1] = e.type end
  return out
end

local function lines(call)
  local out = {}
  for _, e in ipairs(call.transcript) do if e.role == "assistant" then out[#out + 1] = e.text end end
  return out
end

-- OpenAI's rule: an assistant message with tool_calls is followed by one tool message per call
local function assert_openai_order(messages)
  for i, m in ipairs(messages) do
    if m.tool_calls then
      for k, tc in ipairs(m.tool_calls) do
        local t = messages[i + k]
        assert(t and t.role == "tool" and t.tool_call_id == tc.id, "tool result " .. k .. " does not follow message " .. i)
      end
    end
  end
end

-- a host made of plain data, for engine paths a real flow would not take
local function fake_host(desc, run)
  return { describe = function() return desc end, run_handler = function(_, ...) return run(...) end }
end

local function one_node(node, extra)
  local d = { name = "fake", reads = { "patient_name" }, writes = { "status", "score" }, role = "Role.",
              initial = "a", nodes = { a = node }, functions = {} }
  node.name = node.name or "a"
  node.say = node.say or {}
  node.functions = node.functions or {}
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

local function fn(name, more)
  local f = { name = name, description = name, parameters = { type = "object", properties = {} },
              has_handler = true, rules = {} }
  for k, v in pairs(more or {}) do f[k] = v end
  return f
end

describe("call engine #flows", function()
  it("starts: pre_actions, then the node's lines, then waits", function()
    local call, events = new_call(scripted({}))
    local evs = call:start()
    assert.are.same(events, evs)
    assert.are.same({ "status", "node", "dtmf", "transcript", "transcript" }, types(evs))
    assert.are.equal("in_progress", evs[1].status)
    assert.are.equal("1w2", evs[3].digits)
    assert.are.same({ "Pre line for Ann Lee.", "Hello Ann Lee, born January 31, 1980." }, lines(call))
    assert.are.equal("in_progress", call.status)
    assert.are.equal("start", call.node)
  end)

  it("a turn: the model's tool call runs the handler, its effects apply, its lines are said", function()
    local llm = scripted({ tool("record", { score = 7 }) })
    local call = new_call(llm)
    call:start()
    local evs = call:user_says("  my score is 7  ")
    assert.are.same({ "transcript", "set", "note", "transcript" }, types(evs))
    assert.are.equal("my score is 7", evs[1].text)
    assert.are.same({ type = "set", field = "score", value = 7 }, evs[2])
    assert.are.equal("Recorded 7, count 1.", evs[4].text)
    assert.are.same({ score = 7 }, call.outcome)
    assert.are.same({ count = 1 }, call.vars)
    -- the handler spoke: no second model round
    assert.are.equal(1, #llm.requests)
    assert_openai_order(call.messages)
    local tool_msg = call.messages[#call.messages - 1]
    assert.are.equal("tool", tool_msg.role)
    assert.are.equal('{"recorded":7}', tool_msg.content)
  end)

  it("gives the model the role and task, the node's and the global functions, without handlers", function()
    local llm = scripted({ { text = "Okay." } })
    local call = new_call(llm)
    call:start()
    call:user_says("hello")
    local req = llm.requests[1]
    assert.are.equal("user", req.reason)
    assert.are.equal("hello", req.last_user)
    assert.are.same({ role = "system", content = "You are a test agent calling Ann Lee.\n\nCollect a score." }, req.messages[1])
    assert.are.equal("user", req.messages[#req.messages].role)
    local names = {}
    for _, t in ipairs(req.tools) do
      names[#names + 1] = t.name
      assert.is_nil(t.handler)
      assert.is_nil(t.rules)
      assert.are.equal("table", type(t.parameters))
    end
    assert.are.equal("record", names[1])
    assert.are.equal("bye", names[#names])
    assert.are.equal(#req.tools, #req.functions)
    assert.are.same({ "score" }, req.functions[1].rules)
    assert.are.same({ "Hello Ann Lee, born January 31, 1980." }, req.node.say)
    assert.are.same({ "Pre line for Ann Lee.", "Hello Ann Lee, born January 31, 1980.", "Okay." }, lines(call))
  end)

  it("moves through nodes: post_actions on leaving, lines on entering, end_call at the end", function()
    local llm = scripted({ tool("go_next"), tool("finish") })
    local call = new_call(llm)
    call:start()
    call:user_says("next please")
    assert.are.equal("second", call.node)
    assert.are.equal("Second node, Ann Lee, status Open.", lines(call)[3])
    local evs = call:user_says("finish")
    assert.are.same({ "transcript", "transcript", "node", "transcript", "status" }, types(evs))
    assert.are.equal("Leaving second.", evs[2].text)
    assert.are.equal("Done.", evs[4].text)
    assert.are.same({ type = "status", status = "completed", reason = "fixture done" }, evs[5])
    assert.are.equal("completed", call.status)
    assert.matches("^Status: Completed %(fixture done%)%.", call.summary)
    -- after the end, nothing more happens
    assert.are.same({}, call:user_says("hello?"))
  end)

  it("asks the model again after a silent handler, and says its words", function()
    local llm = scripted({ tool("stay_quiet"), { text = "Anything else?" } })
    local call = new_call(llm)
    call:start()
    call:user_says("be quiet")
    assert.are.equal(2, #llm.requests)
    assert.are.equal("tool", llm.requests[2].reason)
    assert.are.equal("Anything else?", lines(call)[3])
    assert_openai_order(call.messages)
  end)

  it("a handler's error fails the call with its message, never the engine", function()
    local call, events = new_call(scripted({ tool("boom") }))
    call:start()
    local evs = call:user_says("boom")
    assert.are.equal("failed", call.status)
    assert.matches("function boom in node start failed: .*kaboom", call.reason)
    local kinds = types(evs)
    assert.are.equal("error", kinds[#kinds - 1])
    assert.are.equal("status", kinds[#kinds])
    assert.are.equal("failed", events[#events].status)
    assert.are.same({}, call:user_says("still there?"))
  end)

  it("invalid values written by a flow fail the call (call:set raises in the handler)", function()
    local call = new_call(scripted({ tool("set_bad") }))
    call:start()
    call:user_says("bad value")
    assert.are.equal("failed", call.status)
    assert.matches('call:set%("status", "Maybe"%): must be one of: Open, Done', call.reason)
  end)

  it("a model error or a raising adapter fails the call", function()
    local call = new_call({ respond = function() return nil, "timeout after 20000 ms" end })
    call:start()
    call:user_says("hi")
    assert.are.equal("failed", call.status)
    assert.are.equal("llm: timeout after 20000 ms", call.reason)
    call = new_call({ respond = function() error("socket closed") end })
    call:start()
    call:user_says("hi")
    assert.are.equal("failed", call.status)
    assert.matches("socket closed", call.reason)
  end)

  it("stops a turn after max_rounds model rounds (loop guard), the call goes on", function()
    local llm = { n = 0 }
    function llm:respond() self.n = self.n + 1; return tool("stay_quiet", {}, "c" .. self.n) end
    local call, events = new_call(llm, { max_rounds = 3 })
    call:start()
    call:user_says("quiet")
    assert.are.equal(3, llm.n)
    assert.are.equal("in_progress", call.status)
    assert.matches("loop guard", events[#events].text)
    assert_openai_order(call.messages)
  end)

  it("refused arguments go back to the model as an error; it can try again", function()
    local llm = scripted({ tool("record", { score = "high" }), tool("record", { score = 3 }, "again") })
    local call = new_call(llm)
    call:start()
    call:user_says("score high")
    assert.are.equal(2, #llm.requests)
    local msgs = llm.requests[2].messages
    assert.are.equal('{"error":"invalid arguments: score must be an integer"}', msgs[#msgs].content)
    assert.are.equal(3, call.outcome.score)
  end)

  it("an unknown function goes back to the model as an error", function()
    local llm = scripted({ tool("launch_rockets"), { text = "Sorry." } })
    local call = new_call(llm)
    call:start()
    call:user_says("launch")
    local msgs = llm.requests[2].messages
    assert.are.equal('{"error":"unknown function launch_rockets"}', msgs[#msgs].content)
    assert.are.equal("in_progress", call.status)
  end)

  it("later tool calls of a response that moved on are not run", function()
    local llm = scripted({ { tool_calls = { { id = "1", name = "go_next", arguments = {} },
                                            { id = "2", name = "record", arguments = { score = 1 } } } } })
    local call = new_call(llm)
    call:start()
    call:user_says("next and record")
    assert.are.equal("second", call.node)
    assert.is_nil(call.outcome.score)
    assert_openai_order(call.messages)
    local found
    for _, m in ipairs(call.messages) do if m.tool_call_id == "2" then found = m.content end end
    assert.matches("not run", found)
  end)

  it("transfers and DTMF from handlers become events; an answered transfer ends the call", function()
    local call = new_call(scripted({ tool("dial", { digits = "9#" }), tool("transfer_me") }))
    call:start()
    local evs = call:user_says("dial 9#")
    assert.are.same({ type = "dtmf", digits = "9#" }, evs[3])  -- after the lines said: sets, notes, lines, DTMF
    evs = call:user_says("transfer me")
    assert.are.same({ type = "transfer", to = "+15165550000" }, evs[2])
    assert.are.equal("in_progress", call.status)
    assert.are.same({ to = "+15165550000", node = "start" }, call.transferring)
    evs = call:transfer_result("answered")
    assert.are.same({ { type = "status", status = "completed", reason = "transferred to +15165550000" } }, evs)
    assert.are.equal("completed", call.status)
    assert.are.equal("transferred to +15165550000", call.reason)
    assert.is_nil(call.transferring)
  end)

  it("the flow gets only its declared fields and its own state back", function()
    local seen = {}
    local desc = one_node({ functions = { fn("f") } })
    local host = fake_host(desc, function(node, name, args, state)
      seen[#seen + 1] = state
      return { sets = {}, say = { "ok" }, notes = {}, state = { n = (state.vars.n or 0) + 1 } }
    end)
    local call = new_call(scripted({ tool("f"), tool("f") }), { host = host })
    call:start()
    call:user_says("one")
    call:user_says("two")
    assert.are.same({ patient_name = "Ann Lee", status = "Open" }, seen[1].patient)
    assert.is_nil(seen[1].patient.secret_notes)
    local keys = {}
    for k in pairs(seen[1].fields) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "patient_name", "score", "status" }, keys)
    assert.are.same({ n = 1 }, seen[2].vars)
  end)

  it("re-validates effects: invalid or undeclared writes, unknown nodes, bad numbers fail the call", function()
    local cases = {
      { eff = { sets = { status = "Maybe" } }, reason = "function f wrote an invalid status: must be one of: Open, Done" },
      { eff = { sets = { secret_notes = "x" } }, reason = 'function f wrote "secret_notes", which the flow does not declare in writes' },
      { eff = { next = "zzz" }, reason = 'function f goes to node "zzz", which does not exist' },
      { eff = { transfer = "12" }, reason = 'transfer to "12" refused' },
      { eff = { dtmf = "12x" }, reason = 'dtmf "12x" refused' },
      { eff = { end_call = { status = "done" } },
        reason = 'end_call: status must be completed, failed, incomplete, no_answer or voicemail, not "done"' },
      { eff = { end_call = { status = "busy" } }, reason = "end_call: status busy is the phone line's own" },
      { eff = { repeat_last = "yes" }, reason = "function f returned repeat_last = yes (true or false)" },
    }
    for _, c in ipairs(cases) do
      local host = fake_host(one_node({ functions = { fn("f") } }), function() return c.eff end)
      local call = new_call(scripted({ tool("f") }), { host = host })
      call:start()
      call:user_says("go")
      assert.are.equal("failed", call.status)
      assert.are.equal(c.reason, call.reason:sub(1, #c.reason))
    end
  end)

  it("a host returning nil and an error fails the call with that message", function()
    local host = fake_host(one_node({ functions = { fn("f") } }), function() return nil, { message = "instruction budget exceeded" } end)
    local call = new_call(scripted({ tool("f") }), { host = host })
    call:start()
    call:user_says("go")
    assert.are.equal("function f in node a failed: instruction budget exceeded", call.reason)
  end)

  it("a flow that cannot be described fails at start", function()
    local host = { describe = function() return nil, { message = "memory limit" } end }
    local call = new_call(scripted({}), { host = host })
    call:start()
    assert.are.equal("failed", call.status)
    assert.are.equal("flow could not be described: memory limit", call.reason)
  end)

  it("a node without lines lets the model speak first; a node that only speaks runs its post_actions", function()
    local desc = one_node({ task = "Greet.", functions = { fn("f", { next = "b", has_handler = false }) } })
    desc.nodes.b = { name = "b", task = "Say \"Goodbye now.\"", say = {}, functions = {},
                     post_actions = { { type = "end_call", status = "completed", reason = "bye" } } }
    local llm = scripted({ { text = "Hello from the model." }, tool("f") })
    local call = new_call(llm, { host = fake_host(desc, function() error("not called") end) })
    call:start()
    assert.are.equal("enter", llm.requests[1].reason)
    assert.are.same({ "Hello from the model." }, lines(call))
    -- with the rules engine, the node that only speaks says its task's quoted line
    call.llm = rules.new()
    call.llm.respond = (function(orig)
      return function(self, req)
        if req.reason == "user" then return tool("f") end
        return orig(self, req)
      end
    end)(call.llm.respond)
    call:user_says("bye")
    assert.are.same({ "Hello from the model.", "Goodbye now." }, lines(call))
    assert.are.equal("completed", call.status)
    assert.are.equal("bye", call.reason)
  end)

  it("a transfer action renders its number from the patient's fields", function()
    local desc = one_node({ say = { "Transferring." }, pre_actions = {},
                            post_actions = { { type = "transfer", to = "{{phone_number}}" } } },
                          { reads = { "patient_name", "phone_number" } })
    local call, events = new_call(scripted({}), { host = fake_host(desc, function() end) })
    call:start()
    call:transfer_result("answered")
    assert.are.equal("+15165550000", call.reason:match("%+%d+"))
    local t
    for _, e in ipairs(events) do if e.type == "transfer" then t = e end end
    assert.are.equal("+15165550000", t.to)
  end)

  it("hang-ups: before anyone answers is no_answer, after words is completed", function()
    local call = new_call(scripted({}))
    call:hangup()
    assert.are.equal("no_answer", call.status)
    call = new_call(scripted({}))
    call:start()
    call:hangup()
    assert.are.equal("no_answer", call.status)
    call = new_call(scripted({ { text = "Hi." } }))
    call:start()
    call:user_says("hello")
    call:hangup()
    assert.are.equal("completed", call.status)
    assert.are.equal("the other party hung up", call.reason)
    assert.are.same({}, call:hangup())
  end)

  it("an on_event callback that raises does not break the call", function()
    local call = engine.new { host = assert(sandbox_host.new(GOOD)), llm = scripted({}), patient = PATIENT,
                              fields = FIELDS, on_event = function() error("listener bug") end }
    call:start()
    assert.are.equal("in_progress", call.status)
  end)

  it("times transcript entries from the call's start", function()
    local call = new_call(scripted({ { text = "Yes?" } }))
    call:start()
    call:user_says("hi")
    local last = 0
    for _, e in ipairs(call.transcript) do
      assert.is_true(e.t >= last)
      last = e.t
    end
    assert.is_true(last > 0)
  end)

  it("ignores empty words, and cuts very long ones", function()
    local llm = scripted({ { text = "ok" } })
    local call = new_call(llm)
    call:start()
    assert.are.same({}, call:user_says("   "))
    call:user_says(string.rep("a", 5000))
    assert.are.equal(engine.MAX_USER_TEXT, #call.transcript[#call.transcript - 1].text)
  end)
end)

---------------------------------------------------------------------------------------------
-- conversations that go nowhere, required outcomes, repeats, multi-fact lines

-- a flow of plain data: nodes by name (each gets its name, say and functions), handlers by
-- function name: handler(args, node) -> effects; run[] records each call { node=, name=, args= }
local function flow_host(nodes, handlers, extra)
  local d = { name = "fake", reads = { "patient_name" }, writes = { "status", "score", "notes" }, role = "Role.",
              initial = "a", nodes = {}, functions = {} }
  for name, n in pairs(nodes) do
    n.name, n.say, n.functions = name, n.say or {}, n.functions or {}
    d.nodes[name] = n
  end
  for k, v in pairs(extra or {}) do d[k] = v end
  local host = { runs = {} }
  function host.describe() return d end
  function host.run_handler(_, node, name, args)
    host.runs[#host.runs + 1] = { node = node, name = name, args = args }
    return handlers[name](args, node)
  end
  return host
end

local STATUS_PARAM = { type = "object", properties = { status = { type = "string", enum = { "Open", "Done" } } },
                       required = { "status" } }
local SCORE_PARAM = { type = "object", properties = { score = { type = "integer" } }, required = { "score" } }

local function last_event(events, kind)
  for i = #events, 1, -1 do if events[i].type == kind then return events[i] end end
end

local function a_clock()
  local c = { t = 0 }
  setmetatable(c, { __call = function(self) return self.t end })
  return c
end

-- a model answering every request the same way (a function of the request)
local function always(f)
  local llm = { requests = {} }
  function llm:respond(req) self.requests[#self.requests + 1] = req; return f(req) end
  return llm
end

describe("call engine: required outcomes #flows", function()
  local REQUIRES = { { field = "score" }, { field = "notes", when = { field = "status", values = { "Done" } } } }
  local handlers = {
    set_status = function(args) return { sets = { status = args.status }, say = { "Noted." } } end,
    set_score = function(args) return { sets = { score = args.score }, say = { "Thanks." } } end,
    finish = function() return { say = { "Bye." }, end_call = { status = "completed", reason = "all done" } } end,
  }
  local function host()
    return flow_host({ a = { say = { "Hello." }, functions = {
      fn("set_status", { parameters = STATUS_PARAM }), fn("set_score", { parameters = SCORE_PARAM }), fn("finish") } } },
      handlers, { requires = REQUIRES })
  end

  it("a call the flow ends as completed without a required field is incomplete, naming what is missing", function()
    local call, events = new_call(scripted({ tool("set_status", { status = "Done" }), tool("finish") }), { host = host() })
    call:start()
    call:user_says("It's done.")
    call:user_says("Goodbye.")
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "score", "notes" }, call.missing)
    assert.are.equal("all done", call.reason)
    assert.are.same({ type = "status", status = "incomplete", reason = "all done" }, last_event(events, "status"))
    assert.matches("Missing: Score, Notes%.", call.summary)
  end)

  it("a real flow's requires reach the engine through the sandbox (flow.describe)", function()
    local host = assert(sandbox_host.new("spec/fixtures/flows/requires"))
    assert.are.same({ { field = "score", when = { field = "status", values = { "Done" } } } }, host:describe().requires)
    local call = new_call(rules.new(), { host = host })
    call:start()
    call:user_says("It's done.")
    assert.are.equal("incomplete", call.status)
    assert.are.same({ "score" }, call.missing)
    assert.are.equal("status Done", call.reason)
    call = new_call(scripted({ tool("done", { score = 8 }) }), { host = assert(sandbox_host.new("spec/fixtures/flows/requires")) })
    call:start()
    call:user_says("Done, eight.")
    assert.are.equal("completed", call.status)
    call = new_call(rules.new(), { host = assert(sandbox_host.new("spec/fixtures/flows/requires")) })
    call:start()
    call:user_says("Still open.")
    assert.are.equal("completed", call.status)
  end)

  it("a condition is this call's outcome, not a value left on the patient by an earlier call", function()
    local patient = { patient_name = "Ann Lee", status = "Done" }
    local call = new_call(scripted({ tool("set_score", { score = 2 }), tool("finish") }), { host = host(), patient = patient })
    call:start()
    call:user_says("Two.")
    call:user_says("Bye.")
    assert.are.equal("completed", call.status)
    assert.is_nil(call.missing)
  end)

  it("a condition that does not hold asks for nothing; with the required fields it is completed", function()
    local call = new_call(scripted({ tool("set_status", { status = "Open" }), tool("set_score", { score = 4 }),
                                     tool("finish") }), { host = host() })
    call:start()
    call:user_says("Still open.")
    call:user_says("Four.")
    call:user_says("Bye.")
    assert.are.equal("completed", call.status)
    assert.is_nil(call.missing)
  end)

  it("a hang-up after the call was answered is incomplete too; one before any word stays no answer", function()
    local call = new_call(scripted({ { text = "Sorry?" } }), { host = host() })
    call:start()
    call:user_says("Hello?")
    call:hangup()
    assert.are.equal("incomplete", call.status)
    assert.are.equal("the other party hung up", call.reason)
    assert.are.same({ "score" }, call.missing)
    call = new_call(scripted({}), { host = host() })
    call:start()
    call:hangup()
    assert.are.equal("no_answer", call.status)
    assert.is_nil(call.missing)
  end)
end)

describe("call engine: silence #flows", function()
  local function host(extra)
    return flow_host({ a = { say = { "Hello, {{patient_name}}." }, functions = { fn("f") } } },
      { f = function() return { say = { "Okay." } } end }, extra)
  end

  it("the first silence says the check, the second closes the call politely with the reason", function()
    local call, events = new_call(scripted({ tool("f") }), { host = host(), silence_seconds = 7 })
    assert.is_nil(call:silence_after())
    call:start()
    assert.are.equal(7, call:silence_after())
    call:user_says("Hi.")
    local evs = call:silence()
    assert.are.same({ "transcript" }, types(evs))
    assert.are.equal("Are you still there?", evs[1].text)
    assert.are.equal("in_progress", call.status)
    evs = call:silence()
    assert.are.equal(engine.SILENCE_CLOSE, evs[1].text)
    assert.are.equal("completed", call.status)
    assert.are.equal("no response from the other party", call.reason)
    assert.are.same({ type = "status", status = "completed", reason = "no response from the other party" },
      last_event(events, "status"))
    assert.is_nil(call:silence_after())
    assert.are.same({}, call:silence())
  end)

  it("the other party speaking again starts over; the flow's own lines and seconds", function()
    local call = new_call(scripted({ tool("f") }), { host = host({ silence = {
      seconds = 12, check = "Hello, {{patient_name}}, are you there?", close = "Goodbye then." } }) })
    call:start()
    assert.are.equal(12, call:silence_after())
    call:silence()
    call:user_says("Sorry, yes.")
    call:silence()
    assert.are.equal("in_progress", call.status)
    call:silence()
    assert.are.same({ "Hello, Ann Lee.", "Hello, Ann Lee, are you there?", "Okay.", "Hello, Ann Lee, are you there?",
                      "Goodbye then." }, lines(call))
    assert.are.equal("completed", call.status)
  end)

  it("silence before the other party said anything is no answer", function()
    local call = new_call(scripted({}), { host = host() })
    call:start()
    call:silence()
    call:silence()
    assert.are.equal("no_answer", call.status)
    assert.are.equal("no response from the other party", call.reason)
  end)
end)

describe("call engine: holds, stuck nodes and loops #flows", function()
  it("a hold node has its budget instead of silence checks and reprompts; past it the call closes", function()
    local clock = a_clock()
    local host = flow_host({
      a = { say = { "Is it approved?" }, functions = { fn("hold") } },
      on_hold = { hold_seconds = 60, functions = { fn("back") } },
    }, { hold = function() return { say = { "Sure, I'll hold." }, next = "on_hold" } end,
         back = function() return { say = { "Yes, I'm here." }, next = "a" } end })
    local call = new_call(scripted({ tool("hold") }), { host = host, clock = clock, silence_seconds = 5 })
    call:start()
    assert.are.equal(5, call:silence_after())
    clock.t = 10
    call:user_says("Please hold.")
    assert.are.equal("on_hold", call.node)
    clock.t = 25
    assert.are.equal(45, call:silence_after())
    assert.are.same({}, call:silence())
    for i = 1, 14 do call:user_says("(music " .. i .. ")") end  -- no reprompt limit, no line guard here
    assert.are.equal("in_progress", call.status)
    clock.t = 71
    assert.are.equal(0, call:silence_after())
    call:silence()
    assert.are.equal("incomplete", call.status)
    assert.are.equal("on hold for more than 60 s", call.reason)
    assert.are.equal(engine.HOLD_CLOSE, lines(call)[#lines(call)])
  end)

  local function stuck_host(extra, nodes_extra)
    local nodes = {
      a = { say = { "What is the score?" }, functions = { fn("score", { parameters = SCORE_PARAM }) } },
      supervisor = { say = { "Could I speak with a supervisor?" }, functions = { fn("back") } },
      callback = { say = { "When should we call back?" }, functions = { fn("back") } },
    }
    for name, more in pairs(nodes_extra or {}) do for k, v in pairs(more) do nodes[name][k] = v end end
    return flow_host(nodes, {
      score = function(args) return { sets = { score = args.score }, say = { "Thanks." } } end,
      back = function() return { say = { "Hello." }, next = "a" } end,
    }, extra)
  end

  it("lines that run no function count reprompts (a refused call too); past 2 the default close, incomplete", function()
    local llm = scripted({ { text = "Sorry?" }, { text = "Sorry?" }, tool("score", { score = 3 }),
                           tool("nope"), { text = "Sorry?" }, { text = "Sorry?" }, { text = "Sorry?" } })
    local call = new_call(llm, { host = stuck_host() })
    call:start()
    call:user_says("Who?")
    call:user_says("What?")
    call:user_says("Three.")      -- a function ran: the count starts again
    call:user_says("Launch it.")  -- an unknown function, then text
    call:user_says("Huh?")
    assert.are.equal("in_progress", call.status)
    call:user_says("Eh?")
    assert.are.equal("incomplete", call.status)
    assert.are.equal("stuck at a after 3 reprompts", call.reason)
    assert.are.equal(engine.STUCK_CLOSE, lines(call)[#lines(call)])
    assert.are.same({ score = 3 }, call.outcome)
  end)

  it("max_reprompts = false has no limit; 0 takes the fallback at the first line that runs nothing", function()
    local call = new_call(scripted({}), { host = stuck_host(nil, { a = { max_reprompts = false } }) })
    call:start()
    for i = 1, 10 do call:user_says("line " .. i) end
    assert.are.equal("in_progress", call.status)
    call = new_call(scripted({}), { host = stuck_host(nil, { a = { max_reprompts = 0 } }) })
    call:start()
    call:user_says("Hmm.")
    assert.are.equal("stuck at a after 1 reprompts", call.reason)
  end)

  it("the flow's fallback node runs instead, a node's own fallback first; a second stuck node gets the default",
    function()
    local call, events = new_call(scripted({ {}, {}, {}, tool("back"), {}, {}, {} }),
      { host = stuck_host({ fallback = "supervisor" }) })
    call:start()
    for _, l in ipairs({ "One.", "Two.", "Three." }) do call:user_says(l) end
    assert.are.equal("in_progress", call.status)
    assert.are.equal("supervisor", call.node)
    assert.are.equal("Could I speak with a supervisor?", lines(call)[#lines(call)])
    assert.are.equal("stuck at a after 3 reprompts: going to supervisor", last_event(events, "note").text)
    call:user_says("Supervisor here.")  -- back to a; stuck there again: no second fallback
    for _, l in ipairs({ "One.", "Two.", "Three." }) do call:user_says(l) end
    assert.are.equal("incomplete", call.status)
    assert.are.equal("stuck at a after 3 reprompts", call.reason)

    call = new_call(scripted({}), { host = stuck_host({ fallback = "supervisor" }, { a = { fallback = "callback" } }) })
    call:start()
    for _, l in ipairs({ "One.", "Two.", "Three." }) do call:user_says(l) end
    assert.are.equal("callback", call.node)
  end)

  it("a fallback node that gets stuck itself gets the default close", function()
    local call = new_call(scripted({}), { host = stuck_host({ fallback = "supervisor" }) })
    call:start()
    for i = 1, 6 do call:user_says("line " .. i) end
    assert.are.equal("incomplete", call.status)
    assert.are.equal("stuck at supervisor after 3 reprompts", call.reason)
  end)

  it("loop guards: more than 12 lines in one node, or more than 80 in a call, close as incomplete", function()
    local host = flow_host({ a = { say = { "Hi." }, functions = { fn("stay") } } },
      { stay = function() return { say = { "Mm-hm." } } end })
    local llm = always(function() return tool("stay") end)
    local call = new_call(llm, { host = host })
    call:start()
    for i = 1, 12 do call:user_says("line " .. i) end
    assert.are.equal("in_progress", call.status)
    call:user_says("line 13")
    assert.are.equal("incomplete", call.status)
    assert.are.equal("more than 12 lines from the other party at a", call.reason)
    assert.are.equal(12, #llm.requests)

    host = flow_host({ a = { functions = { fn("go", { next = "b", has_handler = false }) } },
                       b = { say = { "B." }, functions = { fn("go", { next = "a", has_handler = false }) } } }, {})
    call = new_call(always(function(req)
      if req.reason == "carry" then return { tool_calls = {} } end
      return tool("go")
    end), { host = host })
    call:start()
    for i = 1, 80 do call:user_says("line " .. i) end
    assert.are.equal("in_progress", call.status)
    assert.are.equal(80, call.turns)
    call:user_says("line 81")
    assert.are.equal("incomplete", call.status)
    assert.are.equal("more than 80 lines from the other party in one call", call.reason)
  end)
end)

describe("call engine: repeats and multi-fact lines #flows", function()
  it("repeat_last says again the agent's lines of its previous turn (a silence check is not one of them)", function()
    local host = flow_host({ a = { say = { "What is the score?" },
                                   functions = { fn("score", { parameters = SCORE_PARAM }), fn("again") } } }, {
      score = function(args) return { sets = { score = args.score }, say = { "Got it.", "And the status?" } } end,
      again = function() return { say = { "Sure." }, repeat_last = true } end,
    })
    local call = new_call(scripted({ tool("again"), tool("score", { score = 5 }), tool("again") }), { host = host })
    call:start()
    call:user_says("Say that again?")
    assert.are.same({ "What is the score?", "Sure.", "What is the score?" }, lines(call))
    call:user_says("Five.")
    call:silence()
    local evs = call:user_says("Sorry, what?")
    local said = {}
    for _, e in ipairs(evs) do if e.type == "transcript" and e.role == "assistant" then said[#said + 1] = e.text end end
    assert.are.same({ "Sure.", "Got it.", "And the status?" }, said)
    assert.are.equal("in_progress", call.status)
  end)

  local function chain_host(post)
    local g = fn("g")
    return flow_host({
      a = { say = { "What is the status?" }, functions = { fn("report", { parameters = STATUS_PARAM }) },
            post_actions = post },
      b = { say = { "What is the score?" }, functions = { fn("score", { parameters = SCORE_PARAM }) } },
      c = { say = { "Anything else?" }, functions = { fn("bye") } },
    }, {
      report = function(args) return { sets = { status = args.status }, say = { "Thanks." }, next = "b" } end,
      score = function(args) return { sets = { score = args.score }, say = { "Score noted." }, next = "c" } end,
      g = function() return { say = { "Global." } } end,
    }, { functions = { g } })
  end

  it("carry: the line that moved the call is offered to the next node, whose tool calls replace its lines", function()
    local llm = scripted({ tool("report", { status = "Done" }) },
      { tool("score", { score = 7 }), { text = "Dropped.", tool_calls = {} } })
    local call = new_call(llm, { host = chain_host() })
    call:start()
    call:user_says("It's done, and the score is 7.")
    assert.are.same({ "What is the status?", "Thanks.", "Score noted.", "Anything else?" }, lines(call))
    assert.are.same({ status = "Done", score = 7 }, call.outcome)
    assert.are.equal("c", call.node)
    assert.are.equal(2, #llm.carried)
    local first = llm.carried[1]
    assert.are.equal("It's done, and the score is 7.", first.last_user)
    assert.are.equal("b", first.node.name)
    assert.are.same({ "score" }, (function() local n = {} for i, t in ipairs(first.tools) do n[i] = t.name end return n end)())
    assert.are.same({ "Done" }, first.used)   -- the string values used this turn (7 is a number)
    assert.are.equal("c", llm.carried[2].node.name)
    assert_openai_order(call.messages)
  end)

  it("a carried line that runs nothing, or only what the node does not offer, leaves the node's lines", function()
    local llm = scripted({ tool("report", { status = "Open" }) }, { tool("g") })
    local call = new_call(llm, { host = chain_host() })
    call:start()
    call:user_says("Open.")
    assert.are.same({ "What is the status?", "Thanks.", "What is the score?" }, lines(call))
    assert.are.equal("b", call.node)
    local found
    for _, m in ipairs(call.messages) do if m.role == "tool" and m.name == "g" then found = m.content end end
    assert.are.equal('{"error":"unknown function g"}', found)
    assert_openai_order(call.messages)
    -- a line that moved nothing is not carried anywhere
    call:user_says("Hmm.")
    assert.are.equal(1, #llm.carried)
  end)

  it("a line is carried at most 3 times", function()
    local nodes, handlers = {}, {}
    for i = 1, 5 do
      nodes["n" .. i] = { say = { "Node " .. i .. "." }, functions = { fn("step" .. i) } }
      handlers["step" .. i] = function() return { next = "n" .. (i + 1) } end
    end
    local host = flow_host(nodes, handlers, { initial = "n1" })
    local llm = always(function(req) return tool("step" .. req.node.name:sub(2)) end)
    local call = new_call(llm, { host = host })
    call:start()
    call:user_says("All of it.")
    assert.are.equal("n5", call.node)
    local carried = 0
    for _, r in ipairs(llm.requests) do if r.reason == "carry" then carried = carried + 1 end end
    assert.are.equal(3, carried)
    assert.are.same({ "Node 1.", "Node 5." }, lines(call))
  end)

  it("several tool calls in one response: those after a move run in the new node when it has them", function()
    local llm = scripted({ { tool_calls = { { id = "1", name = "report", arguments = { status = "Done" } },
                                            { id = "2", name = "score", arguments = { score = 7 } } } } })
    local host = chain_host({ { type = "say", text = "Leaving a." } })
    local call, events = new_call(llm, { host = host })
    call:start()
    call:user_says("Done, score 7.")
    assert.are.same({ "What is the status?", "Thanks.", "Leaving a.", "Score noted.", "Anything else?" }, lines(call))
    assert.are.same({ node = "b", name = "score", args = { score = 7 } }, host.runs[2])
    assert.are.same({ status = "Done", score = 7 }, call.outcome)
    assert.are.equal("c", call.node)
    local nodes = {}
    for _, e in ipairs(events) do if e.type == "node" then nodes[#nodes + 1] = e.node end end
    assert.are.same({ "a", "b", "c" }, nodes)
    assert.are.equal(1, #llm.carried)            -- only into c: b took its call from the response
    assert.are.same({ "Done" }, llm.carried[1].used)
    assert_openai_order(call.messages)
  end)
end)

describe("call engine: returning from a detour, hand-overs, acknowledgements #flows", function()
  -- a: the question; away: a detour (a hold) whose "back" function resumes a
  local function host(extra)
    return flow_host({
      a = { say = { "Is it open or done?" }, reprompt = "Open or done?",
            functions = { fn("set_status", { parameters = STATUS_PARAM }), fn("away") } },
      away = { reprompt = "", hold_seconds = 600, functions = { fn("back") } },
    }, {
      set_status = function(args) return { sets = { status = args.status }, say = { "Noted." },
                                            end_call = { status = "completed" } } end,
      away = function() return { say = { "Sure, I'll wait." }, next = "away" } end,
      back = function() return { say = { "I'm here." }, resume = "a" } end,
    }, extra)
  end

  it("resume goes back without entering the node again and hears the returning line there", function()
    local h = host()
    local llm = always(function(req)
      if req.reason == "carry" then return { text = nil } end -- the line that led here answers nothing there
      if req.node.name == "a" and req.last_user:find("done") then return tool("set_status", { status = "Done" }) end
      if req.node.name == "a" and req.last_user:find("wait") then return tool("away") end
      if req.node.name == "away" then return tool("back") end
      return { text = req.node.reprompt }
    end)
    local call, events = new_call(llm, { host = h })
    call:start()
    call:user_says("Can you wait a moment?")
    assert.are.equal("away", call.node)
    call:user_says("Thanks for waiting, it's done.")
    -- back in a (a node event, no second "Is it open or done?"), where the same line set the status
    assert.are.same({ "Is it open or done?", "Sure, I'll wait.", "I'm here.", "Noted." }, lines(call))
    assert.are.same({ status = "Done" }, call.outcome)
    assert.are.equal("completed", call.status)
    local nodes = {}
    for _, e in ipairs(events) do if e.type == "node" then nodes[#nodes + 1] = e.node end end
    assert.are.same({ "a", "away", "a" }, nodes)
    assert.are.equal("resume", llm.requests[#llm.requests].reason)
  end)

  it("a returning line that says nothing more gets the node's question, not its entry lines", function()
    local llm = always(function(req)
      if req.reason == "carry" then return { text = nil } end
      if req.reason == "user" and req.node.name == "a" then return tool("away") end
      if req.node.name == "away" then return tool("back") end
      return { text = req.node.reprompt }
    end)
    local call = new_call(llm, { host = host() })
    call:start()
    call:user_says("Hold on.")
    call:user_says("Okay, I'm back.")
    assert.are.same({ "Is it open or done?", "Sure, I'll wait.", "I'm here.", "Open or done?" }, lines(call))
    assert.are.equal("a", call.node)
  end)

  it("a resume to a node that does not exist fails the call with the reason", function()
    local h = flow_host({ a = { functions = { fn("back") } } },
      { back = function() return { say = {}, resume = "nowhere" } end })
    local call = new_call(scripted({ tool("back") }), { host = h })
    call:start()
    call:user_says("Back.")
    assert.are.equal("failed", call.status)
    assert.matches("resumes node \"nowhere\", which does not exist", call.reason, 1, true)
  end)

  it("a transfer hands the call over: not judged by the required outcomes", function()
    local h = flow_host({ a = { functions = { fn("hand_over") } } },
      { hand_over = function() return { say = { "Transferring you now." }, transfer = "+15165550100" } end },
      { requires = { { field = "score" } } })
    local call = new_call(scripted({ tool("hand_over") }), { host = h })
    call:start()
    call:user_says("I need a person.")
    call:transfer_result("completed") -- Twilio's DialCallStatus once the person it reached hung up
    assert.are.equal("completed", call.status)
    assert.are.equal("transferred to +15165550100", call.reason)
    assert.is_nil(call.missing)
  end)

  describe("transfers", function()
    local function transfer_host(extra, node_extra)
      local a = { say = { "How can I help?" }, functions = { fn("hand_over"), fn("set_score", { parameters = SCORE_PARAM }) } }
      for k, v in pairs(node_extra or {}) do a[k] = v end
      return flow_host({
        a = a,
        back = { say = { "Let's go on here." }, functions = { fn("set_score", { parameters = SCORE_PARAM }) } },
        other = { say = { "The flow's fallback." }, functions = { fn("set_score", { parameters = SCORE_PARAM }) } },
      }, {
        hand_over = function() return { say = { "Transferring you now." }, transfer = "+15165550100" } end,
        set_score = function(args) return { sets = { score = args.score } } end,
      }, extra)
    end

    local function transferring(h, script)
      local call, events = new_call(scripted(script or { tool("hand_over") }), { host = h })
      call:start()
      call:user_says("I need a person.")
      assert.are.same({ to = "+15165550100", node = "a" }, call.transferring)
      return call, events
    end

    it("waits for the outcome: no silence timer, the other party's lines not taken", function()
      local call = transferring(transfer_host())
      assert.is_nil(call:silence_after())
      assert.are.same({}, call:silence())
      assert.are.same({}, call:user_says("Hello? Anyone?"))
      assert.are.equal("in_progress", call.status)
      assert.are.equal(3, #call.transcript) -- the greeting, the line that asked, the answer; nothing since
    end)

    it("not answered: the failed line, then the node's on_transfer_failed, with a note", function()
      local call, events = transferring(transfer_host(nil, { on_transfer_failed = "back" }),
        { tool("hand_over"), tool("set_score", { score = 4 }) })
      local evs = call:transfer_result("no-answer")
      assert.are.same({ "transcript", "note", "node", "transcript" }, types(evs))
      assert.are.equal(engine.TRANSFER_FAILED, evs[1].text)
      assert.are.equal("transfer to +15165550100: no-answer: going to back", evs[2].text)
      assert.are.same({ "I'm sorry, the transfer didn't go through.", "Let's go on here." },
        { lines(call)[3], lines(call)[4] })
      assert.is_nil(call.transferring)
      -- the flow goes on with the other party
      call:user_says("Four.")
      assert.are.same({ score = 4 }, call.outcome)
      assert.are.equal("in_progress", call.status)
      assert.is_nil(last_event(events, "error"))
    end)

    it("not answered: the node's fallback, else the flow's; the flow's own line when it has one", function()
      local call = transferring(transfer_host({ transfer_failed = "No one picked up, {{patient_name}}." },
        { fallback = "back" }))
      call:transfer_result("busy")
      assert.are.equal("back", call.node)
      assert.are.same({ "No one picked up, Ann Lee.", "Let's go on here." }, { lines(call)[3], lines(call)[4] })
      call = transferring(transfer_host({ fallback = "other" }))
      call:transfer_result("failed")
      assert.are.equal("other", call.node)
    end)

    it("not answered and nowhere to go: the default close, incomplete", function()
      local call = transferring(transfer_host())
      call:transfer_result("canceled")
      assert.are.equal("incomplete", call.status)
      assert.are.equal("transfer to +15165550100: canceled", call.reason)
      assert.are.same({ engine.TRANSFER_FAILED, engine.STUCK_CLOSE }, { lines(call)[3], lines(call)[4] })
    end)

    it("a transfer action in a node's post_actions is not run again when the transfer fails", function()
      local h = flow_host({
        a = { say = { "Connecting you." }, post_actions = { { type = "transfer", to = "+15165550100" } },
              on_transfer_failed = "back" },
        back = { say = { "Let's go on here." }, functions = { fn("set_score", { parameters = SCORE_PARAM }) } },
      }, {})
      local call, events = new_call(scripted({}), { host = h })
      call:start()
      call:transfer_result("no-answer")
      local n = 0
      for _, e in ipairs(events) do if e.type == "transfer" then n = n + 1 end end
      assert.are.equal(1, n)
      assert.are.equal("back", call.node)
      assert.are.equal("in_progress", call.status)
    end)

    it("a hang-up during the transfer ends the call; a late or repeated outcome changes nothing", function()
      local call = transferring(transfer_host())
      call:hangup()
      assert.are.equal("completed", call.status)
      assert.are.equal("the other party hung up during the transfer to +15165550100", call.reason)
      assert.are.same({}, call:transfer_result("answered"))
      assert.are.equal("the other party hung up during the transfer to +15165550100", call.reason)
      call = transferring(transfer_host())
      call:transfer_result("answered")
      assert.are.same({}, call:transfer_result("no-answer"))
      assert.are.equal("completed", call.status)
    end)

    it("an unknown outcome is the host's mistake and raises", function()
      local call = transferring(transfer_host())
      assert.has_error(function() call:transfer_result("ringing") end,
        "call:transfer_result: status must be answered, completed, busy, no-answer, failed or canceled, not ringing")
      assert.are.equal("in_progress", call.status)
    end)
  end)

  it("an answer the model marks acknowledged is not a reprompt; plain text is", function()
    local h = flow_host({ a = { say = { "Score?" }, functions = { fn("set_score", { parameters = SCORE_PARAM }) } } },
      { set_score = function(args) return { sets = { score = args.score }, say = { "Thanks." } } end })
    local acks = {}
    for i = 1, 5 do acks[i] = { text = "Thank you.", acknowledged = true } end
    local call = new_call(scripted(acks), { host = h })
    call:start()
    for i = 1, 5 do call:user_says("I have the patient's details here, line " .. i) end
    assert.are.equal("in_progress", call.status)
    call = new_call(scripted({ { text = "Hm?" }, { text = "Hm?" }, { text = "Hm?" } }), { host = h })
    call:start()
    for i = 1, 3 do call:user_says("Something else " .. i) end
    assert.are.equal("incomplete", call.status)
    assert.are.equal("stuck at a after 3 reprompts", call.reason)
  end)

  it("a hold past its budget closes with the hold line, not the flow's fallback", function()
    local clock = a_clock()
    local h = host({ fallback = "a" })
    local llm = always(function(req)
      if req.node.name == "a" then return tool("away") end
      return { text = nil }
    end)
    local call = new_call(llm, { host = h, clock = clock })
    call:start()
    call:user_says("Please hold.")
    clock.t = 700
    call:silence()
    assert.are.equal("incomplete", call.status)
    assert.are.equal("on hold for more than 600 s", call.reason)
    assert.are.equal(engine.HOLD_CLOSE, lines(call)[#lines(call)])
  end)
end)

describe("call engine: an agent cut off by the other party (voice) #flows", function()
  it("heard_parts gives each line the words that were heard, in order", function()
    local lines = { "Hello Ann Lee, born January 31.", "Is this a good time?" }
    assert.are.same({ "Hello Ann", "" }, engine.heard_parts(lines, "Hello Ann"))
    assert.are.same({ "Hello Ann Lee, born January 31.", "Is" }, engine.heard_parts(lines, "hello ann lee born january 31 is"))
    assert.are.same({ "", "" }, engine.heard_parts(lines, ""))
    assert.are.same(lines, engine.heard_parts(lines, "one two three four five six seven eight nine ten eleven"))
  end)

  it("keeps only what was heard in the transcript and in the model's history", function()
    local d = one_node({ say = { "First line of the greeting.", "Second line, never heard." },
                         functions = { fn("set_status") } })
    local llm = scripted({ { text = "Anything else?" } })
    local call = new_call(llm, { host = fake_host(d, function() return {} end) })
    call:start()
    local said = { "First line of the greeting.", "Second line, never heard." }
    local parts = call:interrupted(said, "First line of")
    assert.are.same({ "First line of", "" }, parts)
    assert.are.same({ "First line of" }, lines(call))
    assert.is_true(call.transcript[#call.transcript].interrupted)
    local history = {}
    for _, m in ipairs(call.messages) do if m.role == "assistant" then history[#history + 1] = m.content end end
    assert.are.same({ "First line of" }, history)
    -- the next model request sees the cut line, and the other party's words after it
    call:user_says("Sorry, who is this?")
    local last = llm.requests[#llm.requests].messages
    assert.are.equal("First line of", last[#last - 1].content)
    assert.are.equal("Sorry, who is this?", last[#last].content)
  end)

  it("never reaches past the other party's last line", function()
    local d = one_node({ say = { "Question?" }, functions = { fn("set_status") } })
    local llm = scripted({ { text = "Same words." } })
    local call = new_call(llm, { host = fake_host(d, function() return {} end) })
    call:start()
    call:user_says("Hm.")
    -- the greeting "Question?" was said before the other party spoke: an interruption of the
    -- answer "Same words." cannot cut it
    call:interrupted({ "Question?", "Same words." }, "")
    assert.are.same({ "Question?" }, lines(call))
  end)
end)

describe("call engine: answering machines #flows", function()
  local VOICEMAIL = { message = "Hi, this is the clinic calling for {{patient_name}}'s household. Please call us back.",
                      set = { status = "Open" } }

  local function machine_host(extra)
    local d = one_node({ say = { "Hello, is this {{patient_name}}?" }, functions = { fn("set_status", { parameters = STATUS_PARAM }) } },
      extra)
    return fake_host(d, function(_, _, args) return { sets = { status = args.status } } end)
  end

  it("after the beep: the setting's fields, then its message, and the call ends as voicemail", function()
    local call, events = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
    call:start()
    local evs = call:machine("machine_end_beep")
    assert.are.same({ "set", "transcript", "status" }, types(evs))
    assert.are.same({ type = "set", field = "status", value = "Open" }, evs[1])
    assert.are.equal("Hi, this is the clinic calling for Ann Lee's household. Please call us back.", evs[2].text)
    assert.are.same({ "voicemail", "left a voicemail message" }, { call.status, call.reason })
    assert.are.same({ status = "Open" }, call.outcome)
    assert.matches("^Status: Voicemail %(left a voicemail message%)%.", call.summary)
    -- the host hangs up once the line has played: nothing more happens
    assert.are.same({}, call:machine("machine_end_silence"))
    assert.are.same({}, call:user_says("Hello?"))
    assert.are.equal(#events, #call.events)
  end)

  it("every end-of-greeting verdict leaves the message; without one the call ends without a word", function()
    for _, verdict in ipairs({ "machine_end_silence", "machine_end_other", "machine_start" }) do
      local call = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
      call:start()
      call:machine(verdict)
      assert.are.equal("voicemail", call.status)
      assert.are.equal(2, #lines(call))
    end
    local call = new_call(scripted({}), { host = machine_host() })
    call:start()
    assert.are.same({ "status" }, types(call:machine("machine_end_beep")))
    assert.are.same({ "voicemail", "an answering machine answered; the flow leaves no message" }, { call.status, call.reason })
  end)

  it("a fax ends the call as not answered; so does no verdict while no one has spoken", function()
    local call = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
    call:start()
    call:machine("fax")
    assert.are.same({ "no_answer", "a fax machine answered" }, { call.status, call.reason })
    assert.are.equal(1, #lines(call))
    call = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
    call:start()
    call:machine("unknown")
    assert.are.same({ "no_answer", "answering machine detection could not tell a person from a machine, and no one spoke" },
      { call.status, call.reason })
  end)

  it("no verdict once the other party has spoken: a person is on the line, the call goes on", function()
    local call = new_call(scripted({ { text = "Great." } }), { host = machine_host({ voicemail = VOICEMAIL }) })
    call:start()
    call:user_says("Yes, speaking.")
    local evs = call:machine("unknown")
    assert.are.same({ { type = "note", text = "answering machine detection could not tell; a person is talking" } }, evs)
    assert.are.equal("in_progress", call.status)
  end)

  it("a verdict before the call started starts it; during a transfer it changes nothing", function()
    local call = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
    assert.are.same({ "status", "set", "transcript", "status" }, types(call:machine("machine_end_beep")))
    assert.are.equal("voicemail", call.status)
    local h = flow_host({ a = { say = { "Hi." }, functions = { fn("hand_over") } } },
      { hand_over = function() return { transfer = "+15165550100" } end }, { voicemail = VOICEMAIL })
    call = new_call(scripted({ tool("hand_over") }), { host = h })
    call:start()
    call:user_says("A person, please.")
    assert.are.same({}, call:machine("machine_end_beep"))
    assert.is_table(call.transferring)
  end)

  it("a setting that writes what the flow may not fails the call; an unknown verdict raises", function()
    local call = new_call(scripted({}), { host = machine_host({ voicemail = { message = "Hi.", set = { score = "lots" } } }) })
    call:start()
    call:machine("machine_end_beep")
    assert.are.equal("failed", call.status)
    assert.matches("voicemail.set: score cannot take lots", call.reason, 1, true)
    call = new_call(scripted({}), { host = machine_host({ voicemail = VOICEMAIL }) })
    call:start()
    assert.has_error(function() call:machine("human") end,
      "call:machine: verdict must be machine_end_beep, machine_end_silence, machine_end_other, machine_start, fax or unknown, not human")
  end)
end)

describe("call engine: phone menu nodes #flows", function()
  local function menu_host(node_extra, extra, handlers)
    local menu = { functions = { fn("menu_prompt"), fn("person") } }
    for k, v in pairs(node_extra or {}) do menu[k] = v end
    local h = flow_host({
      menu = menu,
      rep = { say = { "Hi, I'm calling about a prior authorization." }, functions = { fn("set_score", { parameters = SCORE_PARAM }) } },
      quiet = { say = { "Operator key." }, post_actions = { { type = "dtmf", digits = "0" } }, next = "menu" },
    }, handlers or { menu_prompt = function() return { dtmf = "1" } end, person = function() return { next = "rep" } end },
      extra)
    local d = h.describe()
    d.initial = "menu"
    d.functions = { fn("global_help") }
    return h
  end

  it("offers only the node's own functions and never says or streams the model's text", function()
    local streamed = {}
    local llm = scripted({ { text = "Hello? Is anyone there?" }, { text = "Pressing one.", tool_calls = { { id = "1", name = "menu_prompt", arguments = {} } } } })
    local call = engine.new { host = menu_host({ ivr = true, respond_immediately = false }), llm = llm, patient = PATIENT,
      fields = FIELDS, clock = clock(), on_text = function(p) streamed[#streamed + 1] = p end }
    call:start()
    call:user_says("Thank you for calling.")
    local tools = {}
    for _, t in ipairs(llm.requests[1].tools) do tools[#tools + 1] = t.name end
    assert.are.same({ "menu_prompt", "person" }, tools)
    assert.is_nil(llm.requests[1].on_text)
    call:user_says("For providers, press 1.")
    assert.are.same({}, lines(call))
    assert.are.same({}, streamed)
    assert.are.same({ type = "dtmf", digits = "1" }, call.events[#call.events])
    assert.are.equal("menu", call.node)
  end)

  it("the same node as a person's gets the global functions and says the model's text", function()
    local llm = scripted({ { text = "Hello? Is anyone there?" } })
    local call = new_call(llm, { host = menu_host({ respond_immediately = false }) })
    call:start()
    call:user_says("Thank you for calling.")
    assert.are.equal(3, #llm.requests[1].tools)
    assert.are.same({ "Hello? Is anyone there?" }, lines(call))
  end)

  it("an answering machine verdict in a menu node is the menu: noted, and the call goes on", function()
    local call = new_call(scripted({}), { host = menu_host({ ivr = true }, { voicemail = { message = "Hi." } }) })
    call:start()
    assert.are.same({ { type = "note", text = "answering machine detection heard the phone menu: machine_end_other" } },
      call:machine("machine_end_other"))
    assert.are.same({ "in_progress", "menu" }, { call.status, call.node })
    assert.are.same({}, lines(call))
  end)

  it("many lines that run nothing never reach the fallback or the line limit", function()
    local call = new_call(scripted({}), { host = menu_host({ ivr = true, fallback = "quiet" }) })
    call:start()
    for i = 1, engine.MAX_NODE_LINES + 3 do call:user_says("Your call is important to us, message " .. i .. ".") end
    assert.are.same({ "in_progress", "menu" }, { call.status, call.node })
    assert.are.same({}, lines(call))
  end)

  it("silence: no check; the second takes the node's fallback, else the default close", function()
    local call = new_call(scripted({}), { host = menu_host({ ivr = true, fallback = "quiet" }), silence_seconds = 10 })
    call:start()
    assert.are.equal(10, call:silence_after())
    assert.are.same({}, call:silence())
    local evs = call:silence()
    assert.are.same({ "note", "node", "transcript", "dtmf", "node" }, types(evs))
    assert.are.equal("the phone menu went silent: going to quiet", evs[1].text)
    assert.are.equal("menu", call.node)
    call = new_call(scripted({}), { host = menu_host({ ivr = true }), silence_seconds = 10 })
    call:start()
    call:silence()
    call:silence()
    assert.are.same({ "incomplete", "the phone menu went silent" }, { call.status, call.reason })
    assert.are.same({ engine.STUCK_CLOSE }, lines(call))
  end)
end)

describe("call engine: listening first (phone calls) #flows", function()
  local GREETING = "Hi, this is the clinic."
  local function listen_host(extra)
    return flow_host({
      answer = { ivr = true, respond_immediately = false, functions = { fn("menu_heard"), fn("person") } },
      a = { say = { GREETING }, next = "talk" },
      talk = { functions = { fn("set_score", { parameters = SCORE_PARAM }) } },
      menu = { ivr = true, respond_immediately = false, functions = { fn("menu_prompt") } },
    }, {
      menu_heard = function() return { resume = "menu" } end,
      person = function() return { next = "a" } end,
      menu_prompt = function() return { dtmf = "1" } end,
      set_score = function(args) return { sets = { score = args.score } } end,
    }, extra or { listen_first = { node = "answer", seconds = 3 } })
  end

  it("starts in the listen node saying nothing; a menu's prompt is read in the menu node, keys pressed, no greeting", function()
    local llm = scripted({ tool("menu_heard"), tool("menu_prompt") })
    local call = new_call(llm, { host = listen_host() })
    local evs = call:start { listen_first = true }
    assert.are.same({ "status", "node" }, types(evs))
    assert.are.same({ "in_progress", "answer" }, { call.status, call.node })
    assert.are.same({ node = "answer", seconds = 3 }, call.listening)
    assert.are.equal(3, call:silence_after())
    assert.is_nil(llm.requests[1])
    call:user_says("For providers, press 1.")
    assert.are.same({}, lines(call))
    assert.are.same({ type = "dtmf", digits = "1" }, call.events[#call.events])
    assert.are.same({ "menu", "resume" }, { call.node, llm.requests[2].reason })
    assert.is_nil(call.listening)
    assert.are.equal(engine.SILENCE_SECONDS, call:silence_after())
  end)

  it("a person's first words are answered by the initial node's lines, and the call goes on", function()
    local call = new_call(scripted({ tool("person"), tool("set_score", { score = 4 }) }), { host = listen_host() })
    call:start { listen_first = true }
    call:user_says("Prior authorization, this is Dana, how can I help?")
    assert.are.same({ GREETING }, lines(call))
    assert.are.same({ "user", "assistant" }, { call.transcript[1].role, call.transcript[2].role })
    assert.are.same({ "talk", nil }, { call.node, call.listening })
    call:user_says("It's a four.")
    assert.are.equal(4, call.outcome.score)
  end)

  it("silence after the answer: the greeting after the flow's short wait, then the usual checks", function()
    local c = a_clock()
    local call = new_call(scripted({}), { host = listen_host({ listen_first = { node = "answer", seconds = 5 } }), clock = c })
    call:start { listen_first = true }
    assert.are.equal(5, call:silence_after())
    c.t = 5
    local evs = call:silence()
    assert.are.same({ "note", "node", "transcript", "node" }, types(evs))
    assert.are.equal("nothing heard for 5 s after the answer: the agent speaks first", evs[1].text)
    assert.are.same({ GREETING }, lines(call))
    assert.are.equal(5, call.transcript[1].t)
    assert.are.same({ "talk", nil }, { call.node, call.listening })
    assert.are.equal(engine.SILENCE_SECONDS, call:silence_after())
    call:silence()
    assert.are.same({ GREETING, engine.SILENCE_CHECK }, lines(call))
    call:silence()
    assert.are.same({ "no_answer", engine.NO_RESPONSE }, { call.status, call.reason })
  end)

  it("words that run nothing keep it listening: the short wait again, then the greeting", function()
    local call = new_call(scripted({}), { host = listen_host() })
    call:start { listen_first = true }
    call:user_says("Thank you for calling.")
    assert.are.same({ {}, "answer", 3 }, { lines(call), call.node, call:silence_after() })
    call:silence()
    assert.are.same({ GREETING }, lines(call))
  end)

  it("the flow's default wait is engine.LISTEN_SECONDS", function()
    local call = new_call(scripted({}), { host = listen_host({ listen_first = { node = "answer" } }) })
    call:start { listen_first = true }
    assert.are.equal(engine.LISTEN_SECONDS, call:silence_after())
  end)

  it("greets at once without the option (test calls), and for a flow that does not listen first", function()
    local call = new_call(scripted({}), { host = listen_host() })
    call:start()
    assert.are.same({ { GREETING }, "talk", nil }, { lines(call), call.node, call.listening })
    call = new_call(scripted({}), { host = listen_host({}) })
    call:start { listen_first = true }
    assert.are.same({ { GREETING }, "talk" }, { lines(call), call.node })
    call = new_call(scripted({}), { host = listen_host() })
    call:start { listen_first = false }
    assert.are.same({ GREETING }, lines(call))
  end)

  it("a hang-up while listening is no answer, and nothing listens after the end", function()
    local call = new_call(scripted({}), { host = listen_host() })
    call:start { listen_first = true }
    call:hangup()
    assert.are.same({ "no_answer", "hung up without answering" }, { call.status, call.reason })
    assert.is_nil(call.listening)
    assert.is_nil(call:silence_after())
  end)

  it("raises on options that are not a table or a listen_first that is not a boolean", function()
    local call = new_call(scripted({}), { host = listen_host() })
    assert.has_error(function() call:start("phone") end, "call:start([opts]): opts must be a table")
    assert.has_error(function() call:start { listen_first = "yes" } end, "call:start: listen_first must be true or false")
    assert.are.equal("queued", call.status)
  end)
end)

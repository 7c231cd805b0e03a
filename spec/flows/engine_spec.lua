-- Unit specs of the call engine (lua/sova/call/engine.lua) with a scripted stand-in model:
-- node entry, turns, tool calls and their effects, transitions, actions, the loop guard, and
-- failures that end one call cleanly (never an engine crash).
local engine = require("sova.call.engine")
local sandbox_host = require("sova.call.sandbox_host")
local rules = require("sova.llm.rules")

local FIELDS = require("fixtures.flows.fields")
local GOOD = "spec/fixtures/flows/good"
local PATIENT = { patient_name = "Ann Lee", date_of_birth = "1980-01-31", phone_number = "+15165550000",
                  secret_notes = "never for the flow", status = "Open" }

-- a stand-in model answering from a script: each entry a response table or function(req)
local function scripted(script)
  local llm = { requests = {}, i = 0 }
  function llm:respond(req)
    self.requests[#self.requests + 1] = req
    self.i = self.i + 1
    local r = script[self.i]
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
    clock = clock(),
    max_rounds = opts.max_rounds,
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
    assert.matches("^Status: completed %(fixture done%)%.", call.summary)
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

  it("transfers and DTMF from handlers become events; a transfer ends the call", function()
    local call = new_call(scripted({ tool("dial", { digits = "9#" }), tool("transfer_me") }))
    call:start()
    local evs = call:user_says("dial 9#")
    assert.are.same({ type = "dtmf", digits = "9#" }, evs[3])  -- after the lines said: sets, notes, lines, DTMF
    evs = call:user_says("transfer me")
    assert.are.same({ type = "transfer", to = "+15165550000" }, evs[2])
    assert.are.equal("completed", call.status)
    assert.are.equal("transferred to +15165550000", call.reason)
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
      { eff = { end_call = { status = "done" } }, reason = 'end_call with unknown status "done"' },
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

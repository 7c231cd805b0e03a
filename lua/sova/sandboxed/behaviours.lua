-- sova.sandboxed.behaviours: the global behaviours every flow gets, so flows stop copying the
-- moments any phone call has. flow.define merges them into the flow's global functions (after
-- the flow's own) and adds the on_hold node, unless the flow opts out:
--
--   behaviours = false                                   -- none at all
--   behaviours = { hold = false,                         -- this one off
--                  goodbye = { say = "Thanks, bye!" } }  -- this one with the flow's options
--
-- A flow's own function of the same name (global or in any node) replaces the behaviour, and a
-- flow's own on_hold node replaces the behaviour's. Options are data, checked by flow.check:
-- say (a line, templated), set ({ field = value }, declared writes), note (a call note), next (a
-- node, or false to stay), end_call ({ status, reason }, or false), rules (phrases added to the
-- behaviour's own). A behaviour that ends the call stops doing so when the flow gives next.
--
--   goodbye          the other party says goodbye or closes the conversation: says "Thank you
--                    for your time. Goodbye." and ends the call as completed ("the other party
--                    said goodbye"). Options: say, set, note, next, end_call, rules.
--                    A closing (rules.last): after an answer in the same line, not instead.
--   repeat_that      "can you repeat that", "say that again", "sorry, what?", "pardon":
--                    call:repeat_last() (the engine says its previous turn again). Options: say
--                    (a line before the repeat), rules.
--   who_is_calling   "who is this", "who are you", "what company", "where are you calling
--                    from": says the introduction (option say; the default names no one: "I'm an
--                    automated assistant calling on behalf of the clinic."), then repeats the
--                    last question. Options: say, rules.
--   wrong_number     wrong number, wrong department, "you've reached the pharmacy": apologises
--                    and ends the call as completed ("wrong number or department"). A flow may
--                    set an outcome (set) or ask for a transfer instead (say, next = false).
--                    Options: say, set, note, next, end_call, rules.
--   call_back_later  the other party cannot talk now or asks to be called back: notes it, says
--                    so and ends the call as completed ("asked to call back later"). Options:
--                    say, set, note, next, end_call, rules.
--   hold             "please hold", "one moment", "let me check": says "Sure, I'll hold.",
--                    remembers the node and goes to the on_hold node (silent, hold_seconds 1200:
--                    no silence checks or reprompt limit there). Its `returned` function ("thank
--                    you for holding", "are you still there", "I'm back") says "Yes, I'm here."
--                    and goes back to the remembered node (the engine carries the line there).
--                    Asked to hold again while on hold, it stays there. Options: say, note, rules,
--                    hold_seconds, fallback (the on_hold node's), returned = { say, rules }.
--
-- Phrases are for the offline rules engine; they are kept specific because a behaviour is
-- offered in every node, beside the node's own functions (which win ties, being offered first).
-- The remembered node is call.state.hold_return.
--
-- For flow.lua: merge(def) -> def with the behaviours in; check(config, ctx) reports mistakes
-- in a flow's behaviours table.

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local format, find = string.format, string.find
local concat, sort = table.concat, table.sort

local vocabulary = require("sova.sandboxed.vocabulary")

local M = {}

M.NAMES = { "goodbye", "repeat_that", "who_is_calling", "wrong_number", "call_back_later", "hold" }
M.HOLD_NODE = "on_hold"
M.HOLD_SECONDS = 1200
M.RETURN_STATE = "hold_return"

M.PHRASES = {
  goodbye = { "bye", "goodbye", "good bye", "bye bye", "have a good day", "have a nice day",
              "have a great day", "have a good one", "talk to you later" },
  repeat_that = { "repeat that", "repeat it", "repeat the question", "repeat yourself", "you repeat",
                  "please repeat", "say that again", "say it again", "come again", "pardon", "pardon me",
                  "sorry what", "what do you mean", "what was that", "what did you say", "did not catch that",
                  "did not catch it", "did not hear that", "did not hear you", "could not hear you",
                  "can not hear you" },
  who_is_calling = { "who is this", "who is calling", "who s calling", "who are you", "who am i speaking",
                     "who am i talking", "who is speaking", "what company", "which company",
                     "where are you calling from", "where are you calling", "calling from where",
                     "who do you work for", "what is your name", "what s your name" },
  wrong_number = { "wrong number", "wrong department", "wrong office", "wrong person", "wrong place",
                   "you have the wrong", "not the right number", "not the right department",
                   "not the right office", "no one by that name", "nobody by that name",
                   "no one here by that name", "no one named", "nobody named", "no one here named",
                   "does not live here", "there is no one", "there s no one", "there is nobody",
                   "there s nobody", "you have reached the pharmacy", "this is the pharmacy",
                   "this is a pharmacy", "this is a private residence" },
  call_back_later = { "call back later", "call me back", "call us back", "call back", "call me later",
                      "me back later", "us back later", "back later",
                      "call later", "try again later", "try back later", "try me later",
                      "try again tomorrow", "bad time", "not a good time", "busy right now", "i am busy",
                      "i am driving", "i am at work", "can not talk right now", "can not talk now" },
  hold = { "please hold", "hold please", "hold on", "put you on hold", "a brief hold", "a quick hold", "one moment", "just a moment", "one second", "just a second", "give me a minute",
           "give me a second", "bear with me", "let me check", "let me look", "let me pull", "hang on",
           "transfer you", "let me get her", "let me get him", "i will get her", "i will get him" },
  returned = { "thank you for holding", "thanks for holding", "thank you for waiting", "thanks for waiting",
               "are you still there", "you still there", "still there", "still on the line", "i am back",
               "i am here", "sorry for the wait", "sorry about the wait", "sorry to keep you", "i found",
               "i have it", "i got it", "here it is", "this is", "hello", "hi", "okay", "ok", "alright",
               "all right", "yes", "yeah" },
}

local DEFAULTS = {
  goodbye = { say = "Thank you for your time. Goodbye.", end_call = { "completed", "the other party said goodbye" } },
  wrong_number = { say = "I'm sorry, I must have the wrong number. Thank you for your time, goodbye.",
                   end_call = { "completed", "wrong number or department" } },
  call_back_later = { say = "No problem, we'll call back another time. Thank you, goodbye.",
                      note = "Asked to be called back later.", end_call = { "completed", "asked to call back later" } },
  who_is_calling = { say = "I'm an automated assistant calling on behalf of the clinic." },
  hold = { say = "Sure, I'll hold." },
  returned = { say = "Yes, I'm here." },
}

local DESCRIPTIONS = {
  goodbye = "The other party says goodbye or ends the conversation.",
  repeat_that = "The other party asks us to repeat what we just said, or did not hear it.",
  who_is_calling = "The other party asks who is calling, who we are or where we are calling from.",
  wrong_number = "The other party says this is the wrong number, the wrong person or the wrong department.",
  call_back_later = "The other party cannot talk now, the person we need is not available, or they ask us to call back later.",
  hold = "The other party asks us to hold or wait a moment while they check something or get someone.",
  returned = "The other party is back on the line after a hold.",
}

-- the options each behaviour takes
local OPTIONS = {
  goodbye = { say = true, set = true, note = true, next = true, end_call = true, rules = true },
  repeat_that = { say = true, rules = true },
  who_is_calling = { say = true, rules = true },
  wrong_number = { say = true, set = true, note = true, next = true, end_call = true, rules = true },
  call_back_later = { say = true, set = true, note = true, next = true, end_call = true, rules = true },
  hold = { say = true, note = true, rules = true, hold_seconds = true, fallback = true, returned = true },
}
local RETURNED_OPTIONS = { say = true, rules = true }

local KNOWN = {}
for _, name in ipairs(M.NAMES) do KNOWN[name] = true end

local function phrases(base, extra)
  local out = {}
  for _, p in ipairs(base) do out[#out + 1] = p end
  for _, p in ipairs(extra or {}) do out[#out + 1] = p end
  return out
end

-- option o[key], else the behaviour's default
local function option(o, defaults, key)
  if o[key] ~= nil then return o[key] end
  return defaults and defaults[key]
end

---------------------------------------------------------------------------------------------
-- the functions and the hold node

-- sets, note, the line, then the ending: o.end_call, else (without o.next) the default ending
local function act(call, o, defaults)
  for field, value in pairs(o.set or {}) do call:set(field, value) end
  local note, say = option(o, defaults, "note"), option(o, defaults, "say")
  if note then call:note(note) end
  if say then call:say(say) end
  local ending = o.end_call
  if ending == nil and o.next == nil then ending = defaults.end_call end
  if ending then return call:end_call(ending[1], ending[2]) end
  if o.next == nil then return false end
  return o.next
end

local function acting(name)
  return function(o)
    return function(args, call) return act(call, o, DEFAULTS[name]) end
  end
end

local function repeating(name)
  return function(o)
    return function(args, call)
      local say = option(o, DEFAULTS[name], "say")
      if say then call:say(say) end
      call:repeat_last()
      return false
    end
  end
end

local HANDLERS = {
  goodbye = acting("goodbye"),
  wrong_number = acting("wrong_number"),
  call_back_later = acting("call_back_later"),
  repeat_that = repeating("repeat_that"),
  who_is_calling = repeating("who_is_calling"),
  hold = function(o)
    return function(args, call)
      if call.node == M.HOLD_NODE then return false, "already on hold: say nothing" end
      call.state[M.RETURN_STATE] = call.node
      if o.note then call:note(o.note) end
      call:say(option(o, DEFAULTS.hold, "say"))
      return M.HOLD_NODE
    end
  end,
}

-- closings that act after whatever else the same line says ("Yes, I'll be there. Bye!")
local LAST = { goodbye = true }

local function make_function(name, o)
  local rules = phrases(M.PHRASES[name], o.rules)
  rules.last = LAST[name]
  return { name = name, description = DESCRIPTIONS[name], rules = rules, handler = HANDLERS[name](o) }
end

local function hold_node(o, initial)
  local back = o.returned or {}
  return {
    task = "You are on hold. Say nothing until a person speaks to you again.",
    reprompt = "",
    hold_seconds = o.hold_seconds or M.HOLD_SECONDS,
    fallback = o.fallback,
    functions = {
      {
        name = "returned", description = DESCRIPTIONS.returned, rules = phrases(M.PHRASES.returned, back.rules),
        handler = function(args, call)
          call:say(option(back, DEFAULTS.returned, "say"))
          local node = call.state[M.RETURN_STATE] or initial
          call.state[M.RETURN_STATE] = nil
          call:resume(node) -- the returning line ("thanks for holding, it's approved") counts there
          return false
        end,
      },
    },
  }
end

---------------------------------------------------------------------------------------------
-- checking options

local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  return n == #t
end

local function check_rules(where, rules, problem, at)
  if rules == nil then return end
  if not is_list(rules) then problem(where .. ".rules must be a list of phrases", at); return end
  for i, r in ipairs(rules) do
    if type(r) ~= "string" or not find(r, "%S") then
      problem(format("%s.rules[%d] must be a non-empty phrase", where, i), at)
    end
  end
end

local function check_keys(where, o, allowed, problem, at)
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      sort(names)
      problem(format("%s: unknown option %q (%s takes %s)", where, tostring(k), where, concat(names, ", ")), at)
    end
  end
end

-- shape(name, o, problem, ctx): what can be told from the options alone; with ctx (flow.check),
-- also templates, fields and nodes. Problems point at the behaviour's line ("hold =").
local function shape(name, o, problem, ctx)
  local where, at = "behaviours." .. name, name .. " ="
  check_keys(where, o, OPTIONS[name], problem, at)
  for _, key in ipairs({ "say", "note" }) do
    local v = o[key]
    if v ~= nil and type(v) ~= "string" then
      problem(format("%s.%s must be a line of text", where, key), at)
    elseif key == "say" and ctx and v then
      ctx.template(where .. ".say", v)
    end
  end
  check_rules(where, o.rules, problem, at)
  if o.set ~= nil then
    if type(o.set) ~= "table" or next(o.set) == nil then
      problem(where .. ".set must map fields to values", at)
    elseif ctx then
      for field, value in pairs(o.set) do ctx.set(where .. ".set", field, value) end
    end
  end
  if o.next ~= nil and o.next ~= false then
    if type(o.next) ~= "string" then problem(where .. ".next must be a node name, or false to stay", at)
    elseif ctx then ctx.node(where .. ".next", o.next) end
  end
  local e = o.end_call
  if e ~= nil and e ~= false then
    if type(e) ~= "table" or (e[2] ~= nil and type(e[2]) ~= "string") then
      problem(format("%s.end_call must be false or { status, reason }", where), at)
    elseif not vocabulary.FLOW_END_STATUSES[e[1]] then
      problem(format("%s.end_call: %s", where, vocabulary.flow_end_problem(e[1])), at)
    end
  end
  if o.hold_seconds ~= nil and (type(o.hold_seconds) ~= "number" or not (o.hold_seconds > 0)) then
    problem(where .. ".hold_seconds must be a number of seconds above 0", at)
  end
  if o.fallback ~= nil then
    if type(o.fallback) ~= "string" then problem(where .. ".fallback must be a node name", at)
    elseif ctx then ctx.node(where .. ".fallback", o.fallback) end
  end
  local back = o.returned
  if back ~= nil then
    if type(back) ~= "table" then problem(where .. ".returned must be a table (say, rules)", at); return end
    check_keys(where .. ".returned", back, RETURNED_OPTIONS, problem, at)
    if back.say ~= nil and type(back.say) ~= "string" then
      problem(where .. ".returned.say must be a line of text", at)
    elseif ctx and back.say then
      ctx.template(where .. ".returned.say", back.say)
    end
    check_rules(where .. ".returned", back.rules, problem, at)
  end
end

local function enabled(config)
  if config == nil or config == true then return {} end
  if type(config) == "table" then return config end
  return nil
end

-- check(config, ctx) -> problems of a flow's behaviours table: { message=, token= } ...
--   ctx.template(where, text), ctx.set(where, field, value), ctx.node(where, name) report what
--   needs the flow and its schema (flow.check gives them)
function M.check(config, ctx)
  local problems = {}
  local function problem(message, token) problems[#problems + 1] = { message = message, token = token } end
  if config == nil or config == true or config == false then return problems end
  if type(config) ~= "table" then
    problem("behaviours must be false (none) or a table of behaviours (name = false or options)", "behaviours")
    return problems
  end
  for name, o in pairs(config) do
    if not KNOWN[name] then
      problem(format("behaviours: unknown behaviour %q (known: %s)", tostring(name), concat(M.NAMES, ", ")), tostring(name))
    elseif o ~= true and o ~= false and type(o) ~= "table" then
      problem(format("behaviours.%s must be false (off), true or a table of options", name), name .. " =")
    elseif type(o) == "table" then
      shape(name, o, problem, ctx)
    end
  end
  return problems
end

---------------------------------------------------------------------------------------------
-- merging into a flow

local function names_in(list, taken)
  if type(list) ~= "table" then return end
  for _, fn in ipairs(list) do
    if type(fn) == "table" and type(fn.name) == "string" then taken[fn.name] = true end
  end
end

-- merge(def) -> a new definition: def's keys, its functions followed by the behaviours it keeps
-- (those whose name the flow does not use, with valid options), its nodes plus on_hold. A def
-- whose behaviours, functions or nodes are malformed comes back as it is, for flow.check to report.
function M.merge(def)
  local config = enabled(def.behaviours)
  local functions, nodes = def.functions, def.nodes
  if not config or type(nodes) ~= "table" or (functions ~= nil and not is_list(functions)) then return def end
  local taken = {}
  names_in(functions, taken)
  for _, node in pairs(nodes) do
    if type(node) == "table" then names_in(node.functions, taken) end
  end
  local out_functions, out_nodes = {}, {}
  for i, fn in ipairs(functions or {}) do out_functions[i] = fn end
  for name, node in pairs(nodes) do out_nodes[name] = node end
  for _, name in ipairs(M.NAMES) do
    local o = config[name]
    if o == nil or o == true then o = {} end
    local valid = type(o) == "table"
    if valid then
      shape(name, o, function() valid = false end, nil)
    end
    if valid and not taken[name] then
      out_functions[#out_functions + 1] = make_function(name, o)
      if name == "hold" and out_nodes[M.HOLD_NODE] == nil then
        out_nodes[M.HOLD_NODE] = hold_node(o, def.initial)
      end
    end
  end
  local out = {}
  for k, v in pairs(def) do out[k] = v end
  out.functions, out.nodes = out_functions, out_nodes
  return out
end

return M

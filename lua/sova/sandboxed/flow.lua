-- sova.sandboxed.flow: the library flows (clients/<org>/<workflow>/flow_definition.lua) are built with;
-- shared blocks of flows (identity checks, read-backs, goodbye nodes) are in sova.sandboxed.kit,
-- and the global behaviours every flow gets (goodbye, repeat_that, who_is_calling, wrong_number,
-- call_back_later, hold) in sova.sandboxed.behaviours.
--
-- Pure Lua 5.1: it runs inside a call's sandbox (base functions, string, table, math; require
-- limited to sova.sandboxed.* and the flow's own directory). Nothing here
-- touches io, os, debug, jit, ffi, package, load, getfenv/setfenv, coroutine or cjson.
--
-- A flow is a graph of nodes, as data plus Lua handlers:
--
--   local flow = require("sova.sandboxed.flow")
--   return flow.define {
--     name = "prior_auth",
--     reads = { "patient_name", "cpt_code" },          -- patient fields the flow reads
--     writes = { "prior_auth_status" },                -- outcome fields it writes (validated)
--     role = "You are Alexandra, calling for {{patient_name}} ...",
--     initial = "greeting",
--     requires = { "x", { "reference_number",          -- outcomes a successful call must have: x
--       when = { prior_auth_status = { "Approved" } } } },  -- always, the other when the field's
--                                                      -- final value is one of these; else the
--                                                      -- call ends "incomplete", listing them
--     silence = { seconds = 30, check = "Are you still there?", close = "..." },  -- all optional
--     fallback = "ask_supervisor",                     -- the node entered when a node is stuck
--                                                      -- (see max_reprompts); default: a closing
--                                                      -- line, the call ends "incomplete"
--     transfer_failed = "Sorry, no one picked up.",    -- said when a transfer is not answered
--                                                      -- (templated; default: the engine's line)
--     voicemail = { message = "Hi, this is the clinic, please call us back at 516 555 0100.",
--                   phi = false,                       -- the message left after an answering
--                   set = { status = "Not Reached" } },  -- machine's beep (phone calls with AMD):
--                                                      -- templated; phi = false (the default)
--                                                      -- allows no patient field in it (see below);
--                                                      -- set: outcome fields written first
--     listen_first = { node = "answer", seconds = 3 },  -- phone calls: the agent listens before it
--                                                      -- speaks. The call starts in this node (it
--                                                      -- says nothing: no say lines or say actions),
--                                                      -- whose functions take the first words (a
--                                                      -- menu, a person, who is answered from
--                                                      -- initial); after seconds (default 3) with
--                                                      -- the call still there, initial is entered
--                                                      -- (the greeting). Test calls start at initial.
--     data = { "insurer_menus" },                      -- the organization's data files the flow's
--                                                      -- handlers read, as call.data.<name>
--     behaviours = { hold = false, goodbye = { say = "Bye!" } },  -- or false: none (see
--                                                      -- sova.sandboxed.behaviours for options)
--     functions = { ... },                             -- global functions, offered in every node
--     vocabulary = { "prior authorization", "{{insurance_company_name}}" },  -- words that may come
--                                                      -- up anywhere in the call (templated): hints
--                                                      -- for the speech recognizer
--     nodes = {
--       greeting = {
--         task = "...",                                -- the model's task in this node (templated)
--         expect = { "{{patient_name}}", "speaking" },  -- what the other party may say here that
--                                                      -- its functions' rules do not name (templated):
--                                                      -- hints for the speech recognizer
--         say = { "Hi, ..." },                         -- verbatim lines said on entry (templated)
--         reprompt = "Sorry, ...",                     -- said when the other party's words match
--                                                      -- nothing (rules engine); "" = stay silent
--         respond_immediately = nil,                   -- true: the model speaks on entry; false: never;
--                                                      -- nil: only when nothing was said this turn
--         max_reprompts = 2,                           -- lines that run no function before the
--                                                      -- fallback (false: no limit; default 2)
--         fallback = "other",                          -- this node's fallback (over the flow's)
--         hold_seconds = 1200,                         -- a hold: no silence checks or reprompt
--                                                      -- limit; after this long, the fallback
--         ivr = true,                                  -- an automated phone menu, not a person:
--                                                      -- only this node's functions are offered,
--                                                      -- the model's text is never said (handler
--                                                      -- lines are), no reprompt or line limits,
--                                                      -- no silence check (the second silence:
--                                                      -- its fallback); keys go with call:press
--         on_transfer_failed = "other",                -- where a transfer made in this node goes
--                                                      -- on when no one answers it (busy, no
--                                                      -- answer, failed); default: its fallback
--         functions = {
--           { name = "report_status", description = "...",
--             parameters = { type = "object", properties = { status = { type = "string",
--               enum = { "Approved", "Denied" } } }, required = { "status" } },
--             handler = function(args, call) ... return "next_node" end,  -- or nil / false to stay
--             next = "next_node",                      -- used when the handler returns nil
--             rules = { "approved", "denied",          -- phrases for the offline rules engine
--               values = { status = { Denied = { "not approved" } } },   -- option synonyms
--               when = "asked",                        -- or "stated": requests / statements only
--               ignore = { "status line" },            -- phrases inside which its own do not count
--               last = true },                         -- a closing ("bye"): runs after the answer
--                                                      -- the same line gives, not instead of it
--           },
--         },
--         next = "other",                              -- only for nodes without functions: go on
--         pre_actions = { { type = "say", text = "..." } },
--         post_actions = { { type = "end_call", status = "completed", reason = "..." } },
--       },
--     },
--   }
--
-- Actions: say {text}, end_call {status, reason}, transfer {to}, dtmf {digits}. A transfer ends the
-- turn: the call waits for its outcome (answered: the call is handed over and ends; not answered:
-- the transfer_failed line, then the node's on_transfer_failed, else its fallback, else the flow's).
-- pre_actions run on entering a node, before its say lines. post_actions run when the node is
-- done: right after its lines for a node without functions, else when the flow leaves it.
--
-- Handlers get (args, call):
--   call.patient.<field>, call:get(field)   declared reads (and writes: the value set, else stored)
--   call:set(field, value)                  declared writes, validated against the schema
--   call:say(text)   call:note(text)   call:end_call(status, reason)
--   call:transfer(number)   call:dtmf(digits)   call:press(keys)
--                                           press: keys for a phone menu (0-9 * # w W, at most
--                                           32); the node stays silent until the next prompt
--   call:repeat_last()                      the engine says its previous turn's lines again
--   call:resume(node)                       back to node after a detour (a hold): not entered
--                                           again (no actions, no say lines); the line just
--                                           heard is considered there (this replaces next)
--   call.state (per-call table of plain data, kept across handlers)   call.node (current node)
--   call.data.<name>                        the data files the flow asked for (data = {...}),
--                                           validated plain data, nil when the organization has
--                                           none; read it, do not change it
-- A handler returns the next node's name (nil: the function's `next`; false: stay) and, as a
-- second value, the result given back to the model (default "ok").
--
-- flow.define merges the global behaviours into the flow (its own functions first, then the
-- behaviours it keeps; a function or node of the flow with a behaviour's name replaces it), so
-- describe, run_handler and check see the flow as it runs.
--
-- For the runtime: flow.describe(def) (pure data), flow.run_handler(def, node, fn, args, state)
-- (an effects table), flow.check(def, fields) (problems), flow.render(template, values),
-- flow.data_files(def) (the data file names it asks for), flow.set_data(def, data) (once, before
-- any handler runs: what the platform loaded for them).

local type, pairs, ipairs, tostring, error, setmetatable, next, rawget =
  type, pairs, ipairs, tostring, error, setmetatable, next, rawget
local format, match, find, sub, gsub, gmatch, lower =
  string.format, string.match, string.find, string.sub, string.gsub, string.gmatch, string.lower
local concat, sort = table.concat, table.sort
local floor = math.floor

local schema = require("sova.sandboxed.schema")
local template = require("sova.sandboxed.template")
local data = require("sova.sandboxed.data")
local params = require("sova.sandboxed.params")
local behaviours = require("sova.sandboxed.behaviours")

local M = {}

M.VERSION = 1
M.render = template.render
M.copy = data.copy
M.validate_args = params.validate

-- Call statuses a flow may end a call with (the session's final status): the terminal ones but
-- the phone line's own (busy, canceled: the platform sets them from the line)
local vocabulary = require("sova.sandboxed.vocabulary")
M.END_STATUSES = vocabulary.FLOW_END_STATUSES
M.ACTION_TYPES = { say = true, end_call = true, transfer = true, dtmf = true }
M.DTMF_PATTERN = "^[0-9%*#wW]+$"       -- w / W: half-second / one-second pause
M.MAX_DTMF = 32                          -- keys in one go (one <Play digits> on a phone call)
M.MAX_TEXT = 8192                       -- longest template / said line (the sandbox's pattern-subject cap)
M.NAME_PATTERN = "^[%a_][%w_]*$"        -- node and flow names
M.FUNCTION_PATTERN = "^[%a_][%w_%-]*$"  -- function names (OpenAI: ^[a-zA-Z0-9_-]{1,64}$)
-- A node's expect and a flow's vocabulary: phrases for the speech recognizer (sova.call.expect)
M.MAX_PHRASES = 100                     -- entries in one list, and phrases a node gives the recognizer
M.MAX_PHRASE_WORDS = 6                  -- words in one phrase
M.MAX_PHRASE_BYTES = 200                -- one entry as written (a template included)
-- The organization's data files a flow may ask for (clients/<org>/<name>.yaml): the platform
-- loads and validates each against schemas/<name>.schema.json (sova.flow_data) and hands it in.
M.DATA_FILES = { insurer_menus = true }

local FLOW_KEYS = { name = true, description = true, reads = true, writes = true, role = true,
                    initial = true, nodes = true, functions = true, requires = true, silence = true,
                    fallback = true, behaviours = true, vocabulary = true, transfer_failed = true,
                    voicemail = true, data = true, listen_first = true }
local VOICEMAIL_KEYS = { message = true, phi = true, set = true }
local LISTEN_KEYS = { node = true, seconds = true }
local NODE_KEYS = { task = true, say = true, reprompt = true, functions = true, pre_actions = true,
                    post_actions = true, next = true, respond_immediately = true, description = true,
                    max_reprompts = true, fallback = true, hold_seconds = true, expect = true,
                    on_transfer_failed = true, ivr = true }
local SILENCE_KEYS = { seconds = true, check = true, close = true }
local FUNCTION_KEYS = { name = true, description = true, parameters = true, handler = true,
                        next = true, rules = true }
local ACTION_KEYS = {
  say = { type = true, text = true },
  end_call = { type = true, status = true, reason = true },
  transfer = { type = true, to = true },
  dtmf = { type = true, digits = true },
}

local EMPTY_PARAMETERS = { type = "object", properties = {} }

local function show(v)
  if type(v) == "string" then
    if #v > 60 then v = sub(v, 1, 57) .. "..." end
    return format("%q", v)
  end
  return tostring(v)
end

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  if type(v) == "table" then return v end
  return {}
end

local function set_of(list)
  local s = {}
  if type(list) == "table" then
    for _, v in ipairs(list) do if type(v) == "string" then s[v] = true end end
  end
  return s
end

local function fields_by_key(fields)
  if type(fields) ~= "table" then return {} end
  if fields[1] ~= nil then
    local by = {}
    for _, f in ipairs(fields) do
      if type(f) == "table" and type(f.key) == "string" then by[f.key] = f end
    end
    return by
  end
  return fields
end
M.fields_by_key = fields_by_key

-- phrase(text) -> text as a speech recognizer is given it, and its number of words: lower case,
-- words separated by single spaces, no punctuation but an apostrophe inside a word
-- ("O'Brien's, right?" -> "o'brien's right", 2); "" and 0 when it has no word
function M.phrase(text)
  local s = lower(text)
  s = gsub(s, "\226\128\153", "'")            -- right single quotation mark: an apostrophe
  s = gsub(s, "\226[\128\129][\128-\191]", " ") -- the rest of General Punctuation (dashes, quotes, spaces)
  s = gsub(s, "\194[\128-\191]", " ")         -- Latin-1 punctuation and symbols, no-break space
  local words = {}
  for w in gmatch(s, "[%w\128-\255']+") do
    w = gsub((gsub(w, "^'+", "")), "'+$", "")
    if w ~= "" then words[#words + 1] = w end
  end
  return concat(words, " "), #words
end

---------------------------------------------------------------------------------------------
-- define

-- define(def) -> def with the global behaviours merged in (sova.sandboxed.behaviours): its own
-- functions, then the behaviours it keeps; its nodes, plus on_hold. Merging here, once, means
-- describe, run_handler and check all see the flow that runs. Raises only when def is not a
-- table; everything else is reported by flow.check (with file and line, through the checker)
-- before a flow runs.
function M.define(def)
  if type(def) ~= "table" then error("flow.define expects a table describing the flow", 2) end
  return behaviours.merge(def)
end

---------------------------------------------------------------------------------------------
-- describe: pure data for the trusted engine

local function describe_function(fn)
  if type(fn) ~= "table" then return nil end
  local rules, values = {}, nil
  if type(fn.rules) == "table" then
    for _, r in ipairs(fn.rules) do if type(r) == "string" then rules[#rules + 1] = r end end
    if type(fn.rules.values) == "table" then values = data.copy(fn.rules.values, "rules.values") end
  end
  local when, ignore = nil, nil
  if type(fn.rules) == "table" then
    if fn.rules.when == "asked" or fn.rules.when == "stated" then when = fn.rules.when end
    if type(fn.rules.ignore) == "table" then
      ignore = {}
      for _, p in ipairs(fn.rules.ignore) do if type(p) == "string" then ignore[#ignore + 1] = p end end
    end
  end
  return {
    name = fn.name,
    description = type(fn.description) == "string" and fn.description or "",
    parameters = data.copy(fn.parameters or EMPTY_PARAMETERS, "parameters"),
    next = type(fn.next) == "string" and fn.next or nil,
    has_handler = type(fn.handler) == "function",
    rules = rules,
    values = values,
    rules_when = when,
    rules_ignore = ignore,
    rules_last = type(fn.rules) == "table" and fn.rules.last == true or nil,
  }
end

local function describe_actions(list)
  local out = {}
  for _, a in ipairs(list_of(list)) do
    if type(a) == "table" then out[#out + 1] = data.copy(a, "action") end
  end
  return out
end

local function describe_functions(list)
  local out = {}
  for _, fn in ipairs(list_of(list)) do
    local d = describe_function(fn)
    if d then out[#out + 1] = d end
  end
  return out
end

-- requires as { { field = }, { field =, when = { field =, values = {...} } } } | nil
local function describe_requires(list)
  if type(list) ~= "table" then return nil end
  local out = {}
  for _, r in ipairs(list) do
    local field, when = r, nil
    if type(r) == "table" then field, when = r[1], r.when end
    if type(field) == "string" then
      local entry = { field = field }
      if type(when) == "table" then
        local wf, values = next(when)
        if type(wf) == "string" then
          if type(values) ~= "table" then values = { values } end
          entry.when = { field = wf, values = data.copy(values, "requires.when") }
        end
      end
      out[#out + 1] = entry
    end
  end
  return out
end

local function describe_silence(s)
  if type(s) ~= "table" then return nil end
  return {
    seconds = type(s.seconds) == "number" and s.seconds or nil,
    check = type(s.check) == "string" and s.check or nil,
    close = type(s.close) == "string" and s.close or nil,
  }
end

-- a node's expect, a flow's vocabulary: the strings of a list, as many as a list may hold | nil
local function describe_phrases(list)
  if type(list) ~= "table" then return nil end
  local out = {}
  for _, p in ipairs(list) do
    if #out == M.MAX_PHRASES then break end
    if type(p) == "string" and #p <= M.MAX_PHRASE_BYTES then out[#out + 1] = p end
  end
  return out
end

-- a number, false (no limit) or nil (the engine's default)
local function max_reprompts_of(node)
  local m = node.max_reprompts
  if type(m) == "number" or m == false then return m end
  return nil
end

local function describe_voicemail(vm)
  if type(vm) ~= "table" or type(vm.message) ~= "string" then return nil end
  return { message = vm.message, phi = vm.phi == true,
           set = type(vm.set) == "table" and data.copy(vm.set, "voicemail.set") or nil }
end

local function describe_listen(lf)
  if type(lf) ~= "table" or type(lf.node) ~= "string" then return nil end
  return { node = lf.node, seconds = type(lf.seconds) == "number" and lf.seconds or nil }
end

-- describe(def) -> plain data (no functions) of the whole flow.
function M.describe(def)
  local nodes = {}
  for name, node in pairs(type(def.nodes) == "table" and def.nodes or {}) do
    if type(name) == "string" and type(node) == "table" then
      local say = {}
      for _, line in ipairs(list_of(node.say)) do
        if type(line) == "string" then say[#say + 1] = line end
      end
      nodes[name] = {
        name = name,
        task = type(node.task) == "string" and node.task or nil,
        say = say,
        reprompt = type(node.reprompt) == "string" and node.reprompt or nil,
        next = type(node.next) == "string" and node.next or nil,
        respond_immediately = type(node.respond_immediately) == "boolean" and node.respond_immediately or nil,
        functions = describe_functions(node.functions),
        pre_actions = describe_actions(node.pre_actions),
        post_actions = describe_actions(node.post_actions),
        max_reprompts = max_reprompts_of(node),
        fallback = type(node.fallback) == "string" and node.fallback or nil,
        on_transfer_failed = type(node.on_transfer_failed) == "string" and node.on_transfer_failed or nil,
        ivr = node.ivr == true or nil,
        hold_seconds = type(node.hold_seconds) == "number" and node.hold_seconds or nil,
        expect = describe_phrases(node.expect),
      }
    end
  end
  local reads, writes = {}, {}
  for _, f in ipairs(list_of(def.reads)) do if type(f) == "string" then reads[#reads + 1] = f end end
  for _, f in ipairs(list_of(def.writes)) do if type(f) == "string" then writes[#writes + 1] = f end end
  return {
    name = def.name,
    description = type(def.description) == "string" and def.description or nil,
    reads = reads,
    writes = writes,
    role = type(def.role) == "string" and def.role or "",
    initial = def.initial,
    nodes = nodes,
    functions = describe_functions(def.functions),
    requires = describe_requires(def.requires),
    silence = describe_silence(def.silence),
    fallback = type(def.fallback) == "string" and def.fallback or nil,
    transfer_failed = type(def.transfer_failed) == "string" and def.transfer_failed or nil,
    voicemail = describe_voicemail(def.voicemail),
    listen_first = describe_listen(def.listen_first),
    vocabulary = describe_phrases(def.vocabulary),
  }
end

---------------------------------------------------------------------------------------------
-- the organization's data files

-- def -> the data the platform handed in (one flow per sandbox; weak: nothing kept past it)
local loaded_data = setmetatable({}, { __mode = "k" })

-- data_files(def) -> the names of the data files the flow asks for, known ones only
function M.data_files(def)
  local out = {}
  for _, name in ipairs(type(def) == "table" and type(def.data) == "table" and def.data or {}) do
    if M.DATA_FILES[name] then out[#out + 1] = name end
  end
  return out
end

-- set_data(def, data): data = { [name] = plain data } as the platform loaded it
function M.set_data(def, d)
  if type(def) ~= "table" or type(d) ~= "table" then error("flow.set_data(def, data): two tables expected", 2) end
  loaded_data[def] = d
  return true
end

---------------------------------------------------------------------------------------------
-- the call object handlers see

local Call = {}
Call.__index = Call
Call.__metatable = false

local function check_self(call, method)
  if getmetatable(call) ~= false or rawget(call, "_eff") == nil then
    error("call:" .. method .. " must be called with a colon (call:" .. method .. "(...))", 3)
  end
end

local function value_of(call, field)
  local v = call._outcome[field]
  if v == nil then v = call._patient[field] end
  if v == schema.null then v = nil end
  return v
end

-- template values: every declared field, "" when empty
local function template_values(call)
  local values = {}
  for field in pairs(call._declared) do
    local v = value_of(call, field)
    if v == nil then v = "" end
    values[field] = v
  end
  return values
end

function Call:get(field)
  check_self(self, "get")
  if type(field) ~= "string" then error("call:get(field): field must be a string", 2) end
  if not self._declared[field] then
    error(format("call:get(%q): the flow does not declare %q in reads (or writes)", field, field), 2)
  end
  return value_of(self, field)
end

function Call:set(field, value)
  check_self(self, "set")
  if type(field) ~= "string" then error("call:set(field, value): field must be a string", 2) end
  if not self._writes[field] then
    error(format("call:set(%q, ...): the flow does not declare %q in writes", field, field), 2)
  end
  local fdef = self._fields[field]
  if type(fdef) ~= "table" then
    error(format("call:set(%q, ...): %q is not a field of the workflow's patient schema", field, field), 2)
  end
  if value == nil or value == schema.null or (type(value) == "string" and not find(value, "%S")) then
    error(format("call:set(%q, ...): the value is empty (outcome fields cannot be cleared during a call)", field), 2)
  end
  if type(value) == "string" and #value > M.MAX_TEXT then
    error(format("call:set(%q, ...): the value is too long (%d bytes)", field, #value), 2)
  end
  local out, reason = schema.check_field_value(fdef, value)
  if out == nil then
    error(format("call:set(%q, %s): %s", field, show(value), tostring(reason)), 2)
  end
  self._outcome[field] = out
  self._eff.sets[field] = out
  return out
end

function Call:say(text)
  check_self(self, "say")
  if type(text) ~= "string" then error("call:say(text): text must be a string", 2) end
  if #text > M.MAX_TEXT then error("call:say(text): text is too long", 2) end
  local line = template.render(text, template_values(self))
  if find(line, "%S") then
    local say = self._eff.say
    say[#say + 1] = line
  end
end

function Call:note(text)
  check_self(self, "note")
  if type(text) ~= "string" then error("call:note(text): text must be a string", 2) end
  if #text > M.MAX_TEXT then error("call:note(text): text is too long", 2) end
  local notes = self._eff.notes
  notes[#notes + 1] = text
end

function Call:end_call(status, reason)
  check_self(self, "end_call")
  if not M.END_STATUSES[status] then error("call:end_call: " .. vocabulary.flow_end_problem(status), 2) end
  if reason ~= nil and type(reason) ~= "string" then error("call:end_call(status, reason): reason must be a string", 2) end
  self._eff.end_call = { status = status, reason = reason }
end

-- repeat_last(): the engine says again the lines of the agent's previous turn
function Call:repeat_last()
  check_self(self, "repeat_last")
  self._eff.repeat_last = true
end

-- resume(node): return to node, where the other party's latest line is considered again
function Call:resume(node)
  check_self(self, "resume")
  if type(node) ~= "string" then error("call:resume(node): node must be a node name", 2) end
  self._eff.resume = node
end

function Call:transfer(number)
  check_self(self, "transfer")
  local out, reason = nil, "must be a string"
  if type(number) == "string" then out, reason = schema.check_field_value({ type = "phone", required = true }, number) end
  if type(out) ~= "string" then
    error(format("call:transfer(%s): %s", show(number), tostring(reason)), 2)
  end
  self._eff.transfer = out
end

function Call:dtmf(digits)
  check_self(self, "dtmf")
  if type(digits) == "number" then digits = tostring(digits) end
  if type(digits) ~= "string" or #digits > M.MAX_DTMF or not match(digits, M.DTMF_PATTERN) then
    error(format("call:dtmf(%s): digits must be 0-9, *, # (w/W to pause), at most %d", show(digits), M.MAX_DTMF), 2)
  end
  self._eff.dtmf = (self._eff.dtmf or "") .. digits
end

-- press(keys): what an IVR node does with a menu: the keys pressed (a number is taken as its digits)
function Call:press(keys)
  check_self(self, "press")
  if type(keys) == "number" then keys = tostring(keys) end
  if type(keys) ~= "string" or #keys == 0 or #keys > M.MAX_DTMF or not match(keys, M.DTMF_PATTERN) then
    error(format("call:press(%s): keys must be 0-9, *, # (w/W to pause), 1 to %d of them", show(keys), M.MAX_DTMF), 2)
  end
  local pressed = (self._eff.dtmf or "") .. keys
  if #pressed > M.MAX_DTMF then
    error(format("call:press(%s): more than %d keys in one step", show(keys), M.MAX_DTMF), 2)
  end
  self._eff.dtmf = pressed
end

local function patient_proxy(call)
  return setmetatable({}, {
    __index = function(_, field)
      if type(field) ~= "string" or not call._declared[field] then
        error(format("call.patient.%s: the flow does not declare %q in reads", tostring(field), tostring(field)), 2)
      end
      return value_of(call, field)
    end,
    __newindex = function(_, field)
      error(format("call.patient.%s is read-only: write outcome fields with call:set(%q, value)",
        tostring(field), tostring(field)), 2)
    end,
    __metatable = false,
  })
end

local function find_function(def, node, fn_name)
  for _, fn in ipairs(list_of(node.functions)) do
    if type(fn) == "table" and fn.name == fn_name then return fn end
  end
  for _, fn in ipairs(list_of(def.functions)) do
    if type(fn) == "table" and fn.name == fn_name then return fn end
  end
  return nil
end

-- run_handler(def, node_name, fn_name, args, state) -> effects (plain data), or raises.
--   state = { patient = {...}, outcome = {...}, fields = { [key] = field definition }, vars = {...} }
--   effects = { result=, next=, sets={field=value}, say={...}, end_call={status=, reason=}|nil,
--               transfer="+1..."|nil, dtmf="123"|nil, notes={...}, state=<vars> }
function M.run_handler(def, node_name, fn_name, args, state)
  local nodes = type(def) == "table" and def.nodes
  local node = type(nodes) == "table" and nodes[node_name]
  if type(node) ~= "table" then error(format("flow has no node %s", show(node_name)), 0) end
  local fn = find_function(def, node, fn_name)
  if not fn then error(format("node %s has no function %s", show(node_name), show(fn_name)), 0) end
  state = type(state) == "table" and state or {}

  local declared, writes = set_of(list_of(def.reads)), set_of(list_of(def.writes))
  for f in pairs(writes) do declared[f] = true end
  local eff = { sets = {}, say = {}, notes = {} }
  local call = setmetatable({
    _eff = eff,
    _declared = declared,
    _writes = writes,
    _fields = fields_by_key(state.fields),
    _patient = type(state.patient) == "table" and state.patient or {},
    _outcome = type(state.outcome) == "table" and state.outcome or {},
    node = node_name,
    state = type(state.vars) == "table" and state.vars or {},
    data = loaded_data[def] or {},
  }, Call)
  call.patient = patient_proxy(call)

  local nxt, result
  if type(fn.handler) == "function" then
    nxt, result = fn.handler(type(args) == "table" and args or {}, call)
  end
  if nxt == nil then nxt = fn.next elseif nxt == false then nxt = nil end
  if nxt ~= nil and (type(nxt) ~= "string" or type(nodes[nxt]) ~= "table") then
    error(format("function %s (node %s) goes to %s: no such node", show(fn_name), show(node_name), show(nxt)), 0)
  end
  if eff.resume ~= nil then
    if type(nodes[eff.resume]) ~= "table" then
      error(format("function %s (node %s) resumes %s: no such node", show(fn_name), show(node_name), show(eff.resume)), 0)
    end
    nxt = nil
  end
  eff.next = nxt
  if result == nil then result = "ok" end
  eff.result = data.copy(result, "function " .. tostring(fn_name) .. " result")
  eff.state = data.copy(type(call.state) == "table" and call.state or {}, "call.state")
  return eff
end

---------------------------------------------------------------------------------------------
-- check: mistakes a flow engineer makes, found before the flow runs

-- check(def, fields) -> list of { message=, where=, token= } (empty: no problem found).
--   fields: the workflow's patient_schema.fields (a list) or a map key -> definition.
--   token: text whose first occurrence in the flow's source marks the line (the checker uses it).
function M.check(def, fields)
  local problems = {}
  local function problem(where, message, token)
    problems[#problems + 1] = { where = where, message = message, token = token }
  end
  if type(def) ~= "table" then
    problem("flow", "the flow file must return flow.define { ... } (a table)", nil)
    return problems
  end
  local by_key = fields_by_key(fields)

  for k in pairs(def) do
    if type(k) ~= "string" or not FLOW_KEYS[k] then
      problem("flow", format("unknown key %s in the flow definition", show(k)), type(k) == "string" and k or nil)
    end
  end
  if type(def.name) ~= "string" or not match(def.name, M.NAME_PATTERN) then
    problem("name", "name must be an identifier (letters, digits, _)", "name")
  end

  -- reads / writes
  local declared, written = {}, {}
  for _, list in ipairs({ "reads", "writes" }) do
    local v = def[list]
    if v ~= nil and (type(v) ~= "table" or not data.is_array(v)) then
      problem(list, list .. " must be a list of field names", list)
    elseif v ~= nil then
      local seen = {}
      for i, f in ipairs(v) do
        local where = format("%s[%d]", list, i)
        if type(f) ~= "string" then
          problem(where, format("%s[%d] must be a field name (a string)", list, i), list)
        elseif list == "writes" and schema.SYSTEM_FIELDS[f] then
          problem(where, format("writes %q: a system field; flows cannot write it", f), '"' .. f .. '"')
        elseif by_key[f] == nil then
          problem(where, format("%s %q: no such field in the workflow's patient schema", list, f), '"' .. f .. '"')
        elseif seen[f] then
          problem(where, format("%s %q appears twice", list, f), '"' .. f .. '"')
        else
          declared[f] = true
          if list == "writes" then written[f] = true end
        end
        if type(f) == "string" then seen[f] = true end
      end
    end
  end

  local function check_template(where, text)
    if text == nil then return end
    if type(text) ~= "string" then problem(where, where .. " must be a string", nil); return end
    if #text > M.MAX_TEXT then problem(where, format("%s is longer than %d bytes", where, M.MAX_TEXT), nil) end
    local refs, bad = template.refs(text)
    for _, b in ipairs(bad) do problem(where, where .. ": " .. b.message, b.raw) end
    for _, r in ipairs(refs) do
      if by_key[r.name] == nil then
        problem(where, format("%s: template %s names %q, which is not a field of the patient schema", where, r.raw, r.name), r.raw)
      elseif not declared[r.name] then
        problem(where, format("%s: template %s uses %q, which the flow does not declare in reads or writes", where, r.raw, r.name), r.raw)
      end
      if r.filter and not template.FILTERS[r.filter] then
        local names = {}
        for f in pairs(template.FILTERS) do names[#names + 1] = f end
        sort(names)
        problem(where, format("%s: template %s uses unknown filter %q (known: %s)", where, r.raw, r.filter, concat(names, ", ")), r.raw)
      end
    end
  end

  check_template("role", def.role)

  -- a node's expect, the flow's vocabulary: a list of phrases or templates of declared fields
  -- key: the token of the list as a whole (nil: the line of the node's name)
  local function check_phrases(where, list, key)
    if list == nil then return end
    if type(list) ~= "table" or not data.is_array(list) then
      problem(where, where .. " must be a list of phrases (strings)", key)
      return
    end
    if #list > M.MAX_PHRASES then
      problem(where, format("%s has %d phrases; at most %d", where, #list, M.MAX_PHRASES), key)
    end
    for i, p in ipairs(list) do
      local pwhere = format("%s[%d]", where, i)
      if type(p) ~= "string" then
        problem(pwhere, pwhere .. " must be a phrase (a string)", key)
      elseif #p > M.MAX_PHRASE_BYTES then
        problem(pwhere, format("%s is longer than %d bytes", pwhere, M.MAX_PHRASE_BYTES), key)
      elseif find(p, "{{", 1, true) then
        check_template(pwhere, p) -- its words are known once rendered: the engine drops a long one
      else
        local _, n = M.phrase(p)
        if n == 0 then
          problem(pwhere, pwhere .. " has no word", '"' .. p .. '"')
        elseif n > M.MAX_PHRASE_WORDS then
          problem(pwhere, format("%s has %d words; a phrase has at most %d", pwhere, n, M.MAX_PHRASE_WORDS), '"' .. p .. '"')
        end
      end
    end
  end
  check_phrases("vocabulary", def.vocabulary, "vocabulary")

  -- a value a field of the schema can hold (the select's options, the type's form)
  local function check_value(where, field, value, token)
    local fdef = {}
    for k, v in pairs(by_key[field]) do fdef[k] = v end
    fdef.required = true
    local out, why = schema.check_field_value(fdef, value)
    if out == nil then
      problem(where, format("%s: %s is not a value of %q: %s", where, show(value), field, tostring(why)), token)
    end
  end

  local function check_requires(list)
    if list == nil then return end
    if type(list) ~= "table" or not data.is_array(list) then
      problem("requires", "requires must be a list: field names, or { field, when = { other_field = { values } } }", "requires")
      return
    end
    local seen = {}
    for i, r in ipairs(list) do
      local where = format("requires[%d]", i)
      local field, when = r, nil
      if type(r) == "table" then
        field, when = r[1], r.when
        for k in pairs(r) do
          if k ~= 1 and k ~= "when" then problem(where, format("%s: unknown key %s (a field, then when = {...})", where, show(k)), tostring(k)) end
        end
      end
      local token = type(field) == "string" and ('"' .. field .. '"') or "requires"
      if type(field) ~= "string" then
        problem(where, where .. " must be a field name or { field, when = { other_field = { values } } }", "requires")
      elseif by_key[field] == nil then
        problem(where, format("requires %q: no such field in the workflow's patient schema", field), token)
      elseif not written[field] then
        problem(where, format("requires %q: the flow does not declare it in writes (a required outcome is one the flow writes)", field), token)
      elseif seen[field] then
        problem(where, format("requires %q appears twice", field), token)
      end
      if type(field) == "string" then seen[field] = true end
      if when ~= nil then
        local wf, values = nil, nil
        if type(when) == "table" then wf, values = next(when) end
        if type(wf) ~= "string" or next(when, wf) ~= nil then
          problem(where, format("requires %s: when must name one field and its values: when = { field = { values } }", show(field)), "when")
        elseif by_key[wf] == nil then
          problem(where, format("requires %s: when names %q, which is not a field of the patient schema", show(field), wf), wf)
        elseif not declared[wf] then
          problem(where, format("requires %s: when names %q, which the flow does not declare in reads or writes", show(field), wf), wf)
        else
          if type(values) ~= "table" then values = { values } end
          if not data.is_array(values) or #values == 0 then
            problem(where, format("requires %s: when.%s must be a list of values", show(field), wf), wf)
          else
            for _, v in ipairs(values) do
              check_value(format("requires %s: when.%s", show(field), wf), wf, v, type(v) == "string" and ('"' .. v .. '"') or wf)
            end
          end
        end
      end
    end
  end
  check_requires(def.requires)

  local silence = def.silence
  if silence ~= nil then
    if type(silence) ~= "table" then
      problem("silence", "silence must be a table: { seconds =, check =, close = }", "silence")
    else
      for k in pairs(silence) do
        if not SILENCE_KEYS[k] then problem("silence", format("silence: unknown key %s (seconds, check, close)", show(k)), tostring(k)) end
      end
      if silence.seconds ~= nil and (type(silence.seconds) ~= "number" or not (silence.seconds > 0)) then
        problem("silence", "silence.seconds must be a number of seconds above 0", "seconds = " .. tostring(silence.seconds))
      end
      check_template("silence.check", silence.check)
      check_template("silence.close", silence.close)
    end
  end

  local nodes = def.nodes
  if type(nodes) ~= "table" or next(nodes) == nil then
    problem("nodes", "nodes must be a table with at least one node", "nodes")
    nodes = {}
  end
  if type(def.initial) ~= "string" then
    problem("initial", "initial must name the first node", "initial")
  elseif type(nodes[def.initial]) ~= "table" then
    problem("initial", format("initial node %q does not exist", def.initial), '"' .. def.initial .. '"')
  end

  local function check_next(where, target)
    if target == nil then return end
    if type(target) ~= "string" then
      problem(where, where .. " must be a node name", nil)
    elseif type(nodes[target]) ~= "table" then
      problem(where, format("%s: node %q does not exist", where, target), '"' .. target .. '"')
    end
  end

  check_next("fallback", def.fallback)
  check_template("transfer_failed", def.transfer_failed)

  -- listen_first: the node the call starts in on a phone call hears the first words; it says
  -- nothing itself (a line there would be said before anyone spoke, over a menu's prompt)
  local lf = def.listen_first
  if lf ~= nil then
    if type(lf) ~= "table" then
      problem("listen_first", "listen_first must be a table: { node = \"...\", seconds = 3 }", "listen_first")
    else
      for k in pairs(lf) do
        if not LISTEN_KEYS[k] then problem("listen_first", format("listen_first: unknown key %s (node, seconds)", show(k)), tostring(k)) end
      end
      local node = type(lf.node) == "string" and nodes[lf.node]
      if type(lf.node) ~= "string" then
        problem("listen_first", "listen_first.node must name the node that hears the first words", "listen_first")
      elseif type(node) ~= "table" then
        problem("listen_first", format("listen_first.node: node %q does not exist", lf.node), '"' .. lf.node .. '"')
      elseif lf.node == def.initial then
        problem("listen_first", "listen_first.node must not be the initial node: initial is where a person is answered",
          '"' .. lf.node .. '"')
      else
        local speaks = #list_of(node.say) > 0
        for _, a in ipairs(type(node.pre_actions) == "table" and node.pre_actions or {}) do
          if type(a) == "table" and a.type == "say" then speaks = true end
        end
        if speaks then
          problem("listen_first", format("listen_first.node: node %q says something, but it listens before the agent "
            .. "speaks (its functions move on to where the agent talks)", lf.node), '"' .. lf.node .. '"')
        end
        if type(node.functions) ~= "table" or #node.functions == 0 then
          problem("listen_first", format("listen_first.node: node %q has no functions to take the first words", lf.node),
            '"' .. lf.node .. '"')
        end
      end
      if lf.seconds ~= nil and (type(lf.seconds) ~= "number" or not (lf.seconds > 0)) then
        problem("listen_first", "listen_first.seconds must be a number of seconds above 0", "seconds = " .. tostring(lf.seconds))
      end
    end
  end

  -- voicemail: a message anyone near the answering machine may hear. Every field of a patient
  -- record says something about the patient (the name, a date, the provider, the appointment,
  -- and the schema marks none as harmless), so with phi = false the message names no patient
  -- field at all: the clinic's name and number are written in it as text.
  local vm = def.voicemail
  if vm ~= nil then
    if type(vm) ~= "table" then
      problem("voicemail", "voicemail must be a table: { message = \"...\", phi = false, set = { field = value } }", "voicemail")
    else
      for k in pairs(vm) do
        if not VOICEMAIL_KEYS[k] then problem("voicemail", format("voicemail: unknown key %s (message, phi, set)", show(k)), tostring(k)) end
      end
      if type(vm.message) ~= "string" or not find(vm.message, "%S") then
        problem("voicemail", "voicemail.message must be the line left after the beep", "voicemail")
      else
        check_template("voicemail.message", vm.message)
      end
      if vm.phi ~= nil and type(vm.phi) ~= "boolean" then
        problem("voicemail", "voicemail.phi must be true or false", "phi")
      elseif vm.phi ~= true and type(vm.message) == "string" then
        for _, r in ipairs((template.refs(vm.message))) do
          if by_key[r.name] ~= nil then
            problem("voicemail", format("voicemail.message: %s is patient data and phi = false: an answering machine "
              .. "may be heard by anyone, so the message names no patient field (write the clinic's name and number "
              .. "as text, or set phi = true where the clinic's policy allows it)", r.raw), "voicemail =")
          end
        end
      end
      if vm.set ~= nil then
        if type(vm.set) ~= "table" or next(vm.set) == nil then
          problem("voicemail", "voicemail.set must map outcome fields to values", "set")
        else
          for field, value in pairs(vm.set) do
            local token = type(field) == "string" and field or "set"
            if type(field) ~= "string" or by_key[field] == nil then
              problem("voicemail", format("voicemail.set: %s is not a field of the workflow's patient schema", show(field)), token)
            elseif not written[field] then
              problem("voicemail", format("voicemail.set: %q is not declared in writes", field), token)
            else
              check_value("voicemail.set", field, value, type(value) == "string" and ('"' .. value .. '"') or token)
            end
          end
        end
      end
    end
  end

  -- data: the organization's data files, by name (the platform loads and validates them)
  if def.data ~= nil then
    if type(def.data) ~= "table" or not data.is_array(def.data) then
      problem("data", "data must be a list of data file names, e.g. { \"insurer_menus\" }", "data")
    else
      for i, name in ipairs(def.data) do
        if not M.DATA_FILES[name] then
          local known = {}
          for n in pairs(M.DATA_FILES) do known[#known + 1] = n end
          sort(known)
          problem("data", format("data[%d]: %s is not a data file flows may read (known: %s)", i, show(name),
            concat(known, ", ")), type(name) == "string" and ('"' .. name .. '"') or "data")
        end
      end
    end
  end

  for _, p in ipairs(behaviours.check(def.behaviours, {
    template = check_template,
    node = check_next,
    set = function(where, field, value)
      local token = type(field) == "string" and field or "set"
      if type(field) ~= "string" or by_key[field] == nil then
        problem(where, format("%s: %s is not a field of the workflow's patient schema", where, show(field)), token)
      elseif not written[field] then
        problem(where, format("%s: %q is not declared in writes", where, field), token)
      else
        check_value(where, field, value, type(value) == "string" and ('"' .. value .. '"') or token)
      end
    end,
  })) do
    problem("behaviours", p.message, p.token)
  end

  local function check_rules(where, fn)
    local rules = fn.rules
    if rules == nil then return end
    if type(rules) ~= "table" then problem(where, where .. ".rules must be a list of phrases", fn.name); return end
    for i, r in ipairs(rules) do
      if type(r) ~= "string" or not find(r, "%S") then
        problem(where, format("%s.rules[%d] must be a non-empty phrase", where, i), fn.name)
      end
    end
    for k in pairs(rules) do
      if type(k) ~= "number" and k ~= "values" and k ~= "when" and k ~= "ignore" and k ~= "last" then
        problem(where, format("%s.rules: unknown key %s (a list of phrases, plus values = {...}, when = \"asked\" | \"stated\", ignore = {...}, last = true)", where, show(k)), tostring(k))
      end
    end
    if rules.last ~= nil and type(rules.last) ~= "boolean" then
      problem(where, where .. ".rules.last must be true or false", "last")
    end
    if rules.when ~= nil and rules.when ~= "asked" and rules.when ~= "stated" then
      problem(where, format("%s.rules.when must be \"asked\" (requests only) or \"stated\" (statements only)", where), "when")
    end
    if rules.ignore ~= nil then
      local ok = type(rules.ignore) == "table"
      for _, p in ipairs(ok and rules.ignore or {}) do
        if type(p) ~= "string" or not find(p, "%S") then ok = false end
      end
      if not ok then problem(where, where .. ".rules.ignore must be a list of phrases", "ignore") end
    end
    local values = rules.values
    if values == nil then return end
    if type(values) ~= "table" then problem(where, where .. ".rules.values must be a table", "values"); return end
    local props = type(fn.parameters) == "table" and type(fn.parameters.properties) == "table"
      and fn.parameters.properties or {}
    for pname, syn in pairs(values) do
      local p = props[pname]
      local enum = type(p) == "table" and (p.enum or (type(p.items) == "table" and p.items.enum))
      if type(enum) ~= "table" then
        problem(where, format("%s.rules.values.%s: %s is not a parameter with enum options", where, tostring(pname), tostring(pname)), tostring(pname))
      elseif type(syn) ~= "table" then
        problem(where, format("%s.rules.values.%s must map options to lists of synonyms", where, tostring(pname)), tostring(pname))
      else
        local options = set_of(enum)
        for opt, words in pairs(syn) do
          if not options[opt] then
            problem(where, format("%s.rules.values.%s: %s is not one of the options", where, tostring(pname), show(opt)), tostring(opt))
          elseif type(words) ~= "table" then
            problem(where, format("%s.rules.values.%s.%s must be a list of phrases", where, tostring(pname), tostring(opt)), tostring(opt))
          else
            for _, w in ipairs(words) do
              if type(w) ~= "string" then
                problem(where, format("%s.rules.values.%s.%s must be a list of phrases", where, tostring(pname), tostring(opt)), tostring(opt))
                break
              end
            end
          end
        end
      end
    end
  end

  local global_names = {}
  local function check_functions(where, list, seen, is_global)
    if list == nil then return 0 end
    if type(list) ~= "table" or not data.is_array(list) then
      problem(where, where .. " must be a list of functions", nil)
      return 0
    end
    for i, fn in ipairs(list) do
      local fwhere = format("%s[%d]", where, i)
      if type(fn) ~= "table" then
        problem(fwhere, fwhere .. " must be a table", nil)
      else
        local name = fn.name
        local token = type(name) == "string" and ('"' .. name .. '"') or nil
        if type(name) == "string" then fwhere = format("%s[%d] (%s)", where, i, name) end
        for k in pairs(fn) do
          if type(k) ~= "string" or not FUNCTION_KEYS[k] then
            problem(fwhere, format("%s: unknown key %s", fwhere, show(k)), type(k) == "string" and k or token)
          end
        end
        if type(name) ~= "string" or #name > 64 or not match(name, M.FUNCTION_PATTERN) then
          problem(fwhere, fwhere .. ": name must be letters, digits, _ or - (at most 64)", token)
        elseif seen[name] then
          problem(fwhere, format("%s: duplicate function name %q in this node", fwhere, name), token)
        elseif not is_global and global_names[name] then
          problem(fwhere, format("%s: function %q has the name of a global function", fwhere, name), token)
        else
          seen[name] = true
          if is_global then global_names[name] = true end
        end
        if type(fn.description) ~= "string" or not find(fn.description, "%S") then
          problem(fwhere, fwhere .. ": description must say when the model should call it", token)
        end
        if fn.handler ~= nil and type(fn.handler) ~= "function" then
          problem(fwhere, fwhere .. ": handler must be a function", token)
        end
        if fn.handler == nil and fn.next == nil then
          problem(fwhere, fwhere .. ": needs a handler or a next node", token)
        end
        check_next(fwhere .. ".next", fn.next)
        if fn.parameters ~= nil then
          for _, p in ipairs(params.check_schema(fn.parameters)) do
            problem(fwhere, format("%s: %s: %s", fwhere, p.path, p.message), token)
          end
        end
        check_rules(fwhere, fn)
      end
    end
    return #list
  end

  check_functions("functions", def.functions, {}, true)

  local function check_actions(where, list)
    local ends = false
    if list == nil then return false end
    if type(list) ~= "table" or not data.is_array(list) then problem(where, where .. " must be a list of actions", nil); return false end
    for i, a in ipairs(list) do
      local awhere = format("%s[%d]", where, i)
      if type(a) ~= "table" or not M.ACTION_TYPES[a.type] then
        problem(awhere, awhere .. ": type must be say, end_call, transfer or dtmf", type(a) == "table" and a.type and ('"' .. tostring(a.type) .. '"') or nil)
      else
        for k in pairs(a) do
          if not ACTION_KEYS[a.type][k] then problem(awhere, format("%s: unknown key %s for a %s action", awhere, show(k), a.type), tostring(k)) end
        end
        if a.type == "say" then
          if type(a.text) ~= "string" then problem(awhere, awhere .. ": say needs text", nil) end
          check_template(awhere .. ".text", a.text)
        elseif a.type == "end_call" then
          ends = true
          if not M.END_STATUSES[a.status] then
            problem(awhere, awhere .. ": " .. vocabulary.flow_end_problem(a.status), a.status and ('"' .. tostring(a.status) .. '"') or "end_call")
          end
          if a.reason ~= nil and type(a.reason) ~= "string" then problem(awhere, awhere .. ": reason must be a string", nil) end
        elseif a.type == "transfer" then
          ends = true
          if type(a.to) ~= "string" then
            problem(awhere, awhere .. ": transfer needs to = a phone number or a {{field}}", "transfer")
          elseif find(a.to, "{{", 1, true) then
            check_template(awhere .. ".to", a.to)
          else
            local out, why = schema.check_field_value({ type = "phone", required = true }, a.to)
            if type(out) ~= "string" then problem(awhere, awhere .. ".to: " .. tostring(why), '"' .. a.to .. '"') end
          end
        elseif a.type == "dtmf" then
          local d = type(a.digits) == "number" and tostring(a.digits) or a.digits
          if type(d) ~= "string" or #d > M.MAX_DTMF or not match(d, M.DTMF_PATTERN) then
            problem(awhere, awhere .. ": digits must be 0-9, *, # (w/W to pause)", "dtmf")
          end
        end
      end
    end
    return ends
  end

  local names = {}
  for name in pairs(nodes) do names[#names + 1] = name end
  sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, name in ipairs(names) do
    local node = nodes[name]
    local where = "nodes." .. tostring(name)
    local token = tostring(name) .. " ="
    if type(name) ~= "string" or not match(name, M.NAME_PATTERN) then
      problem(where, where .. ": node names must be identifiers (letters, digits, _)", nil)
    end
    if type(node) ~= "table" then
      problem(where, where .. " must be a table", token)
    else
      for k in pairs(node) do
        if type(k) ~= "string" or not NODE_KEYS[k] then
          problem(where, format("%s: unknown key %s", where, show(k)), type(k) == "string" and k or token)
        end
      end
      check_template(where .. ".task", node.task)
      if node.say ~= nil and type(node.say) ~= "string" and type(node.say) ~= "table" then
        problem(where, where .. ".say must be a line or a list of lines", token)
      end
      for i, line in ipairs(list_of(node.say)) do check_template(format("%s.say[%d]", where, i), line) end
      check_template(where .. ".reprompt", node.reprompt)
      check_phrases(where .. ".expect", node.expect, nil)
      local m = node.max_reprompts
      if m ~= nil and m ~= false and (type(m) ~= "number" or m < 0 or m ~= floor(m)) then
        problem(where, where .. ".max_reprompts must be a whole number of reprompts (0 or more), or false for no limit",
          "max_reprompts = " .. tostring(m))
      end
      check_next(where .. ".fallback", node.fallback)
      check_next(where .. ".on_transfer_failed", node.on_transfer_failed)
      local h = node.hold_seconds
      if h ~= nil and (type(h) ~= "number" or not (h > 0)) then
        problem(where, where .. ".hold_seconds must be a number of seconds above 0", "hold_seconds = " .. tostring(h))
      end
      if node.ivr ~= nil and type(node.ivr) ~= "boolean" then
        problem(where, where .. ".ivr must be true or false", "ivr")
      end
      if node.respond_immediately ~= nil and type(node.respond_immediately) ~= "boolean" then
        problem(where, where .. ".respond_immediately must be true or false", "respond_immediately")
      end
      local nfn = check_functions(where .. ".functions", node.functions, {}, false)
      local ends = check_actions(where .. ".pre_actions", node.pre_actions)
      ends = check_actions(where .. ".post_actions", node.post_actions) or ends
      check_next(where .. ".next", node.next)
      if nfn > 0 and node.next ~= nil then
        problem(where, where .. ": next is for nodes without functions (a function's next or handler picks where to go)", token)
      elseif nfn == 0 and node.next == nil and not ends then
        problem(where, where .. ": no functions, no next and no end_call or transfer action: the call would be stuck here", token)
      end
    end
  end
  return problems
end

return M

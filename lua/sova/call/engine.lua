-- sova.call.engine: drives one call's text conversation through a flow (trusted side).
--
--   local call = engine.new {
--     host = host,            -- host:describe() -> flow description | nil, err
--                             -- host:run_handler(node, fn, args, state) -> effects | nil, { message = }
--     llm = llm,              -- llm:respond(request) -> { text=, tool_calls = { {id=, name=, arguments={}} } } | nil, err
--     patient = { ... },      -- the patient's fields (only the flow's declared reads/writes reach the flow)
--     fields = { ... },       -- the workflow's patient_schema.fields (list) or a map key -> definition
--     on_event = function(ev) end,   -- optional: every event as it happens
--     on_text = function(piece) end, -- optional: the pieces of a model answer's text as they stream,
--                                    -- only of answers whose text is said (the whole line follows as
--                                    -- a transcript event once the answer is complete)
--     clock = function() return seconds end,  -- optional (default: monotonic clock)
--     max_rounds = 6,         -- optional: model rounds per turn (loop guard)
--     silence_seconds = 30,   -- optional: silence before the check when the flow does not say
--   }
--   call:start([{listen_first = true}]) -> events   (a phone call: see Listening first below)
--   call:user_says(text) -> events     call:hangup() -> events
--   call:silence_after() -> seconds | nil    call:silence() -> events    call:on_hold() -> boolean
--   call:transfer_result(status) -> events   (a transfer's outcome: see Transfers below)
--   call:machine(verdict) -> events          (answering machine detection: see Voicemail below)
--   call:interrupted(lines, heard) -> parts   (voice: the agent was cut off; keeps what was heard)
--   call:expected_phrases() -> { "..." }      (voice: what the speech recognizer is told the other
--                                              party may say in the current node; sova.call.expect)
--   call.status (a code of sova.sandboxed.vocabulary.CALL_STATUSES: "queued", "in_progress", then a terminal one),
--   call.transferring ({to=, node=} while a transfer waits for its outcome; the status stays in_progress),
--   call.listening ({node=, seconds=} while the agent listens before its first words: Listening first),
--   call.reason, call.missing (required outcome fields not captured, for an incomplete call), call.node,
--   call.transcript ({ {role=, text=, t=} }), call.outcome (validated writes), call.events,
--   call.summary (text, once ended), call.messages (model history), call.turns (other-party lines).
--
-- Events: { type = "transcript", role = "assistant"|"user", text=, t= }, { type = "status",
-- status=, reason= }, { type = "transfer", to= }, { type = "dtmf", digits= },
-- { type = "node", node= }, { type = "note", text= }, { type = "set", field=, value= },
-- { type = "error", message= }.
--
-- The request the llm gets (OpenAI-shaped, plus what the rules engine uses):
--   { messages = { {role="system", content=role+task}, {role="assistant", content=, tool_calls=},
--                  {role="user", content=}, {role="tool", tool_call_id=, name=, content=<string>} },
--     tools = { {name=, description=, parameters=} },     -- node functions, then global ones
--     functions = { <function descriptions, with rules and values> },  -- same order as tools
--     node = { name=, task=, say={...}, reprompt= },      -- rendered texts of the current node
--     last_user = "...", reason = "user" | "enter" | "tool" | "carry" | "resume",
--     used = { "..." } }                                  -- carry only: string arguments used this turn
--
-- A turn: the model's text is said; its tool calls run through host:run_handler (arguments
-- checked against the function's parameters first; a bad call goes back to the model as an
-- error result); the effects are validated again here (sets against the schema, next against
-- the nodes, transfer numbers, DTMF digits) and applied in order: sets, notes, lines said, the
-- previous turn's lines again (repeat_last), DTMF, transfer (the turn ends), end_call, next node.
-- When a call moves to another node, the response's remaining tool calls whose function the new
-- node has run there (its say lines are skipped: the line already answered them). After handlers
-- that said something or moved to a node that speaks, the turn ends and the other party is
-- awaited; otherwise the model gets another round, at most max_rounds per turn. A handler error,
-- an llm error or an invalid effect fails the call with the reason in the events: the engine
-- itself never raises for them.
--
-- Multi-fact lines (carry): when a function run for the other party's line moves the call to a
-- node with functions, the same line is offered to that node first (reason "carry", its own
-- functions only, `used` = what this turn already took). Tool calls that run replace the node's
-- say lines; a text answer is dropped. At most MAX_CARRIES per line.
--
-- Conversations that go nowhere end politely (the flow description's keys, sova.sandboxed.flow):
--   * silence: the caller runs a timer of call:silence_after() seconds from the end of the agent's
--     turn and then calls call:silence(): the first says the check line (flow silence.check), the
--     second the close line, ending as completed (no_answer if the other party never spoke);
--   * hold nodes (hold_seconds): no silence checks and no reprompt limit; silence_after() is the
--     hold budget left, and silence() past it takes the fallback path;
--   * phone menu nodes (ivr = true: an automated system, not a person): only the node's own
--     functions are offered (the global ones are for people), the model's text is never said nor
--     streamed (a handler's lines are: "representative"), no reprompt limit and no line limit; a
--     silence says no check: the second one takes the node's own fallback, else the default close;
--   * stuck nodes: a line that runs no function counts a reprompt of the node, one that runs a
--     function resets it (an answer the model marks `acknowledged = true`, understood but with
--     nothing to do, does neither); past max_reprompts (default 2) the fallback runs: the node's fallback,
--     else the flow's, else (also for a second fallback) the default close, as incomplete;
--   * loop guards: more than MAX_NODE_LINES lines in one node (holds exempt) or MAX_CALL_LINES in
--     a call close as incomplete too.
-- Listening first: a phone call is answered by whoever picked up, a person ("Prior authorization,
-- this is Dana") or a phone menu, and an agent that speaks at once talks over the menu's prompt.
-- call:start{listen_first = true} (the host says the line was answered and the other party
-- speaks first) starts the call, when the flow sets listen_first = {node =, seconds =}, in that
-- node, saying nothing (its pre_actions run; it has no lines): its functions take the first words (a menu
-- prompt: to the menu node, keys pressed, no greeting; a person: to the initial node, whose lines
-- answer that line). While the call is still in that node, silence_after() is the short wait
-- (seconds, default M.LISTEN_SECONDS) and silence() greets: the initial node is entered as
-- call:start() would (a note says so). Flows without listen_first, and call:start() without the
-- option (text and browser test calls), enter the initial node at once.
-- Required outcomes (flow requires): a call ending as completed without a required field ends as
-- incomplete, call.missing naming the fields (in requires order); the reason is kept. A transfer
-- is not judged by them: the person it reaches carries the call on.
--
-- Transfers: a transfer (action, or call:transfer in a handler) emits {type="transfer", to=} and
-- the turn ends there; the call waits in call.transferring (still in_progress: no silence timer,
-- the other party's lines are not taken) until the host reports the outcome with
-- call:transfer_result(status). "answered" or "completed" (the person it reached took the call):
-- the call ends completed, "transferred to <number>", handed over. "busy", "no-answer", "failed"
-- or "canceled": the other party is still on the line with the agent, who says the flow's
-- transfer_failed line (default M.TRANSFER_FAILED) and goes on at the node the transfer was made
-- in: its on_transfer_failed node, else its fallback, else the flow's, else the default close
-- (incomplete). Text test calls have no phone line: their host answers "answered" at once.
--
-- Voicemail: call:machine(verdict) is the phone network's answering machine detection, once the
-- greeting is over. machine_end_beep, machine_end_silence, machine_end_other (machine_start): the flow's
-- voicemail setting ({message =, set =}) writes its fields, says the message (rendered: it is
-- left after the beep) and the call ends as voicemail ("left a voicemail message"; without a
-- message: "an answering machine answered; the flow leaves no message"); the host hangs up once
-- the line has played. fax: ends as no_answer ("a fax machine answered"). unknown: ends as
-- no_answer when no one has spoken; once the other party has, a person is on the line and the
-- call goes on (a note says so). A verdict for a call that has ended, or that is transferring,
-- changes nothing; nor does one in a phone menu node (ivr): there the machine is the menu (a note
-- says so; flows that call phone menus should not ask for detection: telephony.voicemail false).

local type, pairs, ipairs, tostring, pcall, setmetatable, error =
  type, pairs, ipairs, tostring, pcall, setmetatable, error
local format, find, sub = string.format, string.find, string.sub
local concat = table.concat

local schema = require("sova.sandboxed.schema")
local vocabulary = require("sova.sandboxed.vocabulary")
local flowlib = require("sova.sandboxed.flow")
local data = require("sova.sandboxed.data")
local params = require("sova.sandboxed.params")
local expect = require("sova.call.expect")

local has_cjson, cjson = pcall(require, "cjson")

local M = {}

M.MAX_LINES_PER_STEP = 50
M.MAX_NOTES_PER_STEP = 50
M.MAX_CALL_TEXT_BYTES = 2 * 1024 * 1024

M.MAX_ROUNDS = 6
M.MAX_USER_TEXT = 2000
M.MAX_HISTORY = 120
M.MAX_ENTRIES = 16         -- node entries per turn (a ring of nodes without functions)
M.MAX_CARRIES = 3          -- nodes one line of the other party is offered to after the first

M.SILENCE_SECONDS = 30
M.SILENCE_CHECK = "Are you still there?"
M.SILENCE_CLOSE = "I haven't heard from you, so I'll end the call now. Thank you, goodbye."
M.NO_RESPONSE = "no response from the other party"
M.MAX_REPROMPTS = 2        -- a node's default: lines that run no function before the fallback
M.STUCK_CLOSE = "I'm sorry, I'm having trouble with this call. Someone from our office will follow up. "
  .. "Thank you, goodbye."
M.HOLD_CLOSE = "I've been holding for quite a while, so I'll call back another time. Thank you, goodbye."
M.TRANSFER_FAILED = "I'm sorry, the transfer didn't go through."
-- call:transfer_result's statuses (Twilio's DialCallStatus, and "answered" from a host that
-- connects at once) -> whether the person dialled took the call
M.TRANSFER_OUTCOMES = { answered = true, completed = true, busy = false, ["no-answer"] = false, failed = false,
                        canceled = false }
-- Twilio's AnsweredBy (but human) -> what the engine does; machine_start comes from detection
-- that does not wait for the beep (MachineDetection=Enable): the message is left all the same
M.MACHINE_VERDICTS = { machine_end_beep = "message", machine_end_silence = "message", machine_end_other = "message",
                       machine_start = "message", fax = "fax", unknown = "unknown" }
M.MAX_NODE_LINES = 12      -- other-party lines in one visit of a node (hold nodes exempt)
M.MAX_CALL_LINES = 80      -- other-party lines in a call
M.LISTEN_SECONDS = 3       -- listen_first: silence after the answer before the agent greets anyway

local function default_clock()
  local ok, core = pcall(require, "sova.core")
  if ok and type(core) == "table" and type(core.sys) == "table" and core.sys.monotonic then
    return core.sys.monotonic
  end
  return os.clock
end

local function encode(v)
  if type(v) == "string" then return v end
  if has_cjson then
    local ok, s = pcall(cjson.encode, v)
    if ok then return s end
  end
  return tostring(v)
end

local Call = {}
Call.__index = Call

function M.new(opts)
  if type(opts) ~= "table" then error("engine.new: options table required", 2) end
  if type(opts.host) ~= "table" and type(opts.host) ~= "userdata" then error("engine.new: host required", 2) end
  if type(opts.llm) ~= "table" and type(opts.llm) ~= "userdata" then error("engine.new: llm required", 2) end
  local self = setmetatable({
    host = opts.host,
    llm = opts.llm,
    fields = flowlib.fields_by_key(opts.fields or {}),
    on_event = opts.on_event,
    on_text = opts.on_text,
    clock = opts.clock or default_clock(),
    max_rounds = opts.max_rounds or M.MAX_ROUNDS,
    silence_seconds = tonumber(opts.silence_seconds) or M.SILENCE_SECONDS,
    status = "queued",
    transcript = {},
    events = {},
    outcome = {},
    notes = {},
    spoken_bytes = 0,
    messages = {},
    vars = {},
    node = nil,
    turns = 0,              -- other-party lines so far
    silences = 0,           -- silence checks since the other party last spoke
    reprompts = 0,          -- lines in this visit of the node that ran no function
    node_lines = 0,         -- other-party lines in this visit of the node
    turn_lines = {},        -- the agent's lines since the other party's latest line
    last_lines = {},        -- the agent's lines of its previous turn (repeat_last)
  }, Call)
  self.t0 = self.clock()

  local ok, desc, err = pcall(opts.host.describe, opts.host)
  if not ok then desc, err = nil, { message = tostring(desc) } end
  if type(desc) ~= "table" or type(desc.nodes) ~= "table" then
    self.load_error = "flow could not be described: " .. tostring(type(err) == "table" and err.message or err)
  else
    self.flow = desc
  end

  -- the flow sees only the fields it declares
  self.declared, self.writes = {}, {}
  local patient = type(opts.patient) == "table" and opts.patient or {}
  self.patient = {}
  if self.flow then
    for _, f in ipairs(self.flow.reads or {}) do self.declared[f] = true end
    for _, f in ipairs(self.flow.writes or {}) do self.declared[f] = true; self.writes[f] = true end
    for f in pairs(self.declared) do
      local v = patient[f]
      if v ~= nil and v ~= schema.null and type(v) ~= "userdata" and type(v) ~= "function" then
        local okc, c = pcall(data.copy, v, "patient field")
        if okc then self.patient[f] = c end
      end
    end
  end
  return self
end

---------------------------------------------------------------------------------------------
-- events

function Call:_now()
  local t = self.clock() - self.t0
  return t < 0 and 0 or t
end

function Call:_emit(ev)
  self.events[#self.events + 1] = ev
  if self._batch then self._batch[#self._batch + 1] = ev end
  if self.on_event then
    local ok, err = pcall(self.on_event, ev)
    if not ok then self.events[#self.events + 1] = { type = "error", message = "on_event: " .. tostring(err) } end
  end
end

function Call:_history(msg)
  local h = self.messages
  h[#h + 1] = msg
  if #h > M.MAX_HISTORY then
    -- drop the oldest messages, cutting at a user message (never between a tool call and its result)
    local cut
    for i = #h - M.MAX_HISTORY + 1, #h do
      if h[i].role == "user" then cut = i; break end
    end
    if cut and cut > 1 then
      local keep = {}
      for i = cut, #h do keep[#keep + 1] = h[i] end
      self.messages = keep
    end
  end
end

function Call:_values()
  local v = {}
  for f in pairs(self.declared) do
    local x = self.outcome[f]
    if x == nil then x = self.patient[f] end
    if x == nil then x = "" end
    v[f] = x
  end
  return v
end

-- values: self:_values() when the caller renders several texts at once
function Call:_render(text, values)
  return (flowlib.render(text or "", values or self:_values()))
end

-- say a line: transcript + event; history, unless deferred while tool results are being
-- recorded (self._defer). aside: not one of the turn's lines (a silence check is not repeated)
function Call:_say(text, aside)
  if type(text) ~= "string" or not find(text, "%S") then return end
  local entry = { role = "assistant", text = text, t = self:_now() }
  self.transcript[#self.transcript + 1] = entry
  self.said_this_turn = true
  if not aside then self.turn_lines[#self.turn_lines + 1] = text end
  self:_emit({ type = "transcript", role = "assistant", text = text, t = entry.t })
  local defer = self._defer
  if defer then defer[#defer + 1] = text else self:_history({ role = "assistant", content = text }) end
end

function Call:_summarize()
  -- the summary is read by clinic staff: the status as the patient list shows it
  local label = vocabulary.STATUS_BY_CODE[self.status] and vocabulary.STATUS_BY_CODE[self.status].label
  local parts = { "Status: " .. (label or tostring(self.status)) .. (self.reason and (" (" .. self.reason .. ")") or "") .. "." }
  local keys = {}
  for _, f in ipairs(self.flow and self.flow.writes or {}) do
    if self.outcome[f] ~= nil then keys[#keys + 1] = f end
  end
  for _, f in ipairs(keys) do
    local def = self.fields[f]
    local label = type(def) == "table" and def.label or f
    local text = flowlib.render("{{v}}", { v = self.outcome[f] })
    parts[#parts + 1] = format("%s: %s", label, text) .. (find(text, "[%.!%?]$") and "" or ".")
  end
  if self.missing then
    local labels = {}
    for i, f in ipairs(self.missing) do
      local def = self.fields[f]
      labels[i] = type(def) == "table" and def.label or f
    end
    parts[#parts + 1] = "Missing: " .. concat(labels, ", ") .. "."
  end
  for _, n in ipairs(self.notes) do parts[#parts + 1] = "Note: " .. n end
  self.summary = concat(parts, " ")
end

-- a condition's value: the call's outcome for a field the flow writes (a value left by an earlier
-- call says nothing about this one), the patient's for a field it only reads
function Call:_final(field)
  if self.writes[field] then return self.outcome[field] end
  return self.patient[field]
end

-- the flow's required outcomes this call did not capture, in requires order (a value left by
-- an earlier call is not this call's outcome)
function Call:_missing()
  local missing = {}
  local requires = self.flow and self.flow.requires
  if type(requires) ~= "table" then return missing end
  for _, r in ipairs(requires) do
    if type(r) == "table" and type(r.field) == "string" then
      local applies = true
      if type(r.when) == "table" then
        local v = self:_final(r.when.field)
        applies = false
        for _, x in ipairs(type(r.when.values) == "table" and r.when.values or {}) do
          if v ~= nil and v == x then applies = true; break end
        end
      end
      if applies and self.outcome[r.field] == nil then missing[#missing + 1] = r.field end
    end
  end
  return missing
end

-- handed_over: a transfer gave the call to a person, who takes it from here; required outcomes
-- judge only calls the agent finished itself
function Call:_finish(status, reason, handed_over)
  if self.status ~= "in_progress" and self.status ~= "queued" then return end
  if (status == "completed" or status == "incomplete") and not handed_over then
    local missing = self:_missing()
    if #missing > 0 then
      self.missing = missing
      status = "incomplete"
    end
  end
  self.status = status
  self.reason = reason
  self.transferring = nil
  self.listening = nil
  self:_summarize()
  self:_emit({ type = "status", status = status, reason = reason })
end

function Call:_fail(reason)
  self:_emit({ type = "error", message = reason })
  self:_finish("failed", reason)
end

-- the flow may act: the call is in progress and not waiting for a transfer's outcome
function Call:_active()
  return self.status == "in_progress" and not self.transferring
end

---------------------------------------------------------------------------------------------
-- nodes and actions

-- the functions offered in a node: its own, then the global ones (scope "node", or a phone menu
-- node: its own only)
local function node_functions(self, node, scope)
  local list = {}
  for _, fn in ipairs(node.functions or {}) do list[#list + 1] = fn end
  if #list > 0 and scope ~= "node" and not node.ivr then
    for _, fn in ipairs(self.flow.functions or {}) do list[#list + 1] = fn end
  end
  return list
end

function Call:_find_function(node, name, scope)
  for _, fn in ipairs(node_functions(self, node, scope)) do
    if fn.name == name then return fn end
  end
  return nil
end

local function is_hold(node)
  return type(node.hold_seconds) == "number"
end

-- nodes where the other party is not a person to talk to or to count lines of: a hold, a phone menu
local function is_machine(node)
  return is_hold(node) or node.ivr == true
end

function Call:_transfer(to)
  local out, why = schema.check_field_value({ type = "phone", required = true }, to)
  if type(out) ~= "string" then
    self:_fail(format("transfer to %q refused: %s", tostring(to), tostring(why)))
    return
  end
  self:_emit({ type = "transfer", to = out })
  self.transferring = { to = out, node = self.node }
end

function Call:_dtmf(digits)
  if type(digits) == "number" then digits = tostring(digits) end
  if type(digits) ~= "string" or #digits > flowlib.MAX_DTMF or not find(digits, flowlib.DTMF_PATTERN) then
    self:_fail(format("dtmf %q refused: digits must be 0-9, *, #, w, W", tostring(digits)))
    return
  end
  self:_emit({ type = "dtmf", digits = digits })
end

function Call:_end_call(status, reason)
  if not flowlib.END_STATUSES[status] then
    self:_fail("end_call: " .. vocabulary.flow_end_problem(status))
    return
  end
  self:_finish(status, type(reason) == "string" and reason or nil)
end

function Call:_actions(list)
  for _, a in ipairs(list or {}) do
    if not self:_active() then return end
    if a.type == "say" then
      self:_say(self:_render(a.text))
    elseif a.type == "end_call" then
      self:_end_call(a.status, a.reason)
    elseif a.type == "transfer" then
      local to = self:_render(a.to)
      if not find(to, "%S") then
        self:_fail("transfer action has no number (" .. tostring(a.to) .. " is empty for this patient)")
      else
        self:_transfer(to)
      end
    elseif a.type == "dtmf" then
      self:_dtmf(a.digits)
    else
      self:_fail("unknown action type " .. tostring(a.type))
    end
  end
end

-- the node as the model sees it (rendered texts)
function Call:_node_view(node, values)
  values = values or self:_values()
  local say = {}
  for i, line in ipairs(node.say or {}) do say[i] = self:_render(line, values) end
  return {
    name = node.name,
    task = node.task and self:_render(node.task, values) or nil,
    say = say,
    reprompt = node.reprompt and self:_render(node.reprompt, values) or nil,
  }
end


-- the call moves to node name: out of the listen node, the first words were taken
function Call:_moving(name)
  if self.listening and name ~= self.listening.node then self.listening = nil end
end

-- arrive at a node: its per-visit counters, the node event, its pre_actions. false: the call ended
function Call:_arrive(name)
  local node = self.flow.nodes[name]
  if type(node) ~= "table" then
    self:_fail(format("flow goes to node %q, which does not exist", tostring(name)))
    return false
  end
  self.entries = (self.entries or 0) + 1
  if self.entries > M.MAX_ENTRIES then
    self:_fail("flow moved through more than " .. M.MAX_ENTRIES .. " nodes in one turn")
    return false
  end
  self:_moving(name)
  self.node = name
  self.node_t = self:_now()
  self.reprompts, self.node_lines = 0, 0
  self:_emit({ type = "node", node = name })
  self:_actions(node.pre_actions)
  return self:_active()
end

function Call:_enter(name)
  if not self:_arrive(name) then return end
  local node = self.flow.nodes[name]
  if #(node.functions or {}) > 0 and self.carry_line and self.carries < M.MAX_CARRIES then
    -- the line that moved the call here may answer this node too
    self.carries = self.carries + 1
    if self:_rounds("carry", true) or not self:_active() then return end
  end
  for _, line in ipairs(node.say or {}) do self:_say(self:_render(line)) end
  if #(node.functions or {}) == 0 then
    -- a node that only speaks: its lines (or one model line), its post_actions, then next
    if #(node.say or {}) == 0 and node.task and node.respond_immediately ~= false then
      self:_rounds("enter", false)
      if not self:_active() then return end
    end
    self:_actions(node.post_actions)
    if not self:_active() then return end
    if node.next then return self:_enter(node.next) end
    self:_fail(format("flow is stuck at node %q: no functions, no next, no end", name))
    return
  end
  local ri = node.respond_immediately
  if ri == true or (ri == nil and not self.said_this_turn) then
    self:_rounds("enter", true)
  end
end

function Call:_leave()
  local node = self.node and self.flow.nodes[self.node]
  if node then self:_actions(node.post_actions) end
end

-- the default end of a call that goes nowhere: a closing line, incomplete, keeping what it captured
function Call:_close_stuck(reason, line)
  self:_say(line or M.STUCK_CLOSE)
  self:_finish("incomplete", reason)
end

-- a stuck node: the node's fallback, else the flow's, once per call; a fallback node stuck in
-- turn, or a second fallback, gets the default close (close_line, else M.STUCK_CLOSE). A hold past
-- its budget or a silent phone menu takes only the node's own fallback (own_only): the flow's
-- (e.g. asking for a supervisor) would talk to hold music or to a machine.
function Call:_fallback(reason, own_only, close_line)
  local node = self.flow.nodes[self.node]
  local target = node.fallback or (not own_only and self.flow.fallback) or nil
  if type(target) ~= "string" or self.fallback_used or target == self.node then
    return self:_close_stuck(reason, close_line)
  end
  self.fallback_used = true
  self.carry_line = nil -- the line that got nowhere is not offered to the fallback
  self:_emit({ type = "note", text = reason .. ": going to " .. target })
  self:_leave()
  if not self:_active() then return end
  self:_enter(target)
end

---------------------------------------------------------------------------------------------
-- model rounds

function Call:_request(reason, with_tools)
  local node = self.flow.nodes[self.node]
  local values = self:_values() -- one set for the request's texts: nothing changes them meanwhile
  local system = self:_render(self.flow.role or "", values)
  if node.task then
    local task = self:_render(node.task, values)
    system = system ~= "" and (system .. "\n\n" .. task) or task
  end
  local messages = { { role = "system", content = system } }
  for _, m in ipairs(self.messages) do messages[#messages + 1] = m end
  local tools, functions = {}, {}
  if with_tools then
    for _, fn in ipairs(node_functions(self, node, reason == "carry" and "node" or nil)) do
      tools[#tools + 1] = { name = fn.name, description = fn.description, parameters = fn.parameters }
      functions[#functions + 1] = fn
    end
  end
  local req = {
    messages = messages,
    tools = tools,
    functions = functions,
    node = self:_node_view(node, values),
    last_user = self.last_user,
    reason = reason,
  }
  if reason == "carry" then
    local used = {}
    for i, v in ipairs(self.used) do used[i] = v end
    req.used = used
  end
  return req
end

-- validate and apply one handler's effects; returns "end" | "next" | nil
function Call:_apply(fn, eff)
  if type(eff) ~= "table" then self:_fail("handler " .. fn.name .. " returned no effects"); return "end" end
  -- sets, validated again against the schema
  if type(eff.sets) == "table" then
    local keys = {}
    for k in pairs(eff.sets) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, field in ipairs(keys) do
      local value = eff.sets[field]
      if not self.writes[field] then
        self:_fail(format("function %s wrote %q, which the flow does not declare in writes", fn.name, field))
        return "end"
      end
      local def = self.fields[field]
      if type(def) ~= "table" then
        self:_fail(format("function %s wrote %q, which is not in the patient schema", fn.name, field))
        return "end"
      end
      local out, why = schema.check_field_value(def, value)
      if out == nil or out == schema.null then
        self:_fail(format("function %s wrote an invalid %s: %s", fn.name, field, tostring(why or "empty")))
        return "end"
      end
      self.outcome[field] = out
      self:_emit({ type = "set", field = field, value = out })
    end
  end
  if type(eff.state) == "table" then self.vars = eff.state end
  -- what one step may produce, and what a call may say in all: beyond it the flow fails its
  -- own call, before the runtime and the database carry megabytes for it
  local notes = type(eff.notes) == "table" and eff.notes or {}
  local lines = type(eff.say) == "table" and eff.say or {}
  if #notes > M.MAX_NOTES_PER_STEP or #lines > M.MAX_LINES_PER_STEP then
    self:_fail(format("function %s produced too much in one step (%d lines, %d notes; at most %d and %d)",
      fn.name, #lines, #notes, M.MAX_LINES_PER_STEP, M.MAX_NOTES_PER_STEP))
    return "end"
  end
  for _, text in ipairs(notes) do self.spoken_bytes = self.spoken_bytes + (type(text) == "string" and #text or 0) end
  for _, text in ipairs(lines) do self.spoken_bytes = self.spoken_bytes + (type(text) == "string" and #text or 0) end
  if self.spoken_bytes > M.MAX_CALL_TEXT_BYTES then
    self:_fail(format("the call's transcript and notes passed %d bytes", M.MAX_CALL_TEXT_BYTES))
    return "end"
  end
  for _, n in ipairs(notes) do
    if type(n) == "string" then
      self.notes[#self.notes + 1] = n
      self:_emit({ type = "note", text = n })
    end
  end
  for _, line in ipairs(lines) do
    if type(line) == "string" then self:_say(line) end
  end
  if eff.repeat_last ~= nil and type(eff.repeat_last) ~= "boolean" then
    self:_fail(format("function %s returned repeat_last = %s (true or false)", fn.name, tostring(eff.repeat_last)))
    return "end"
  end
  if eff.repeat_last then
    for _, line in ipairs(self.last_lines) do self:_say(line) end
  end
  if eff.dtmf ~= nil then self:_dtmf(eff.dtmf) end
  if not self:_active() then return "end" end
  if eff.transfer ~= nil then self:_transfer(eff.transfer); return "end" end
  if type(eff.end_call) == "table" then self:_end_call(eff.end_call.status, eff.end_call.reason); return "end" end
  if eff.resume ~= nil then
    if type(eff.resume) ~= "string" or type(self.flow.nodes[eff.resume]) ~= "table" then
      self:_fail(format("function %s resumes node %q, which does not exist", fn.name, tostring(eff.resume)))
      return "end"
    end
    return "resume"
  end
  if eff.next ~= nil then
    if type(eff.next) ~= "string" or type(self.flow.nodes[eff.next]) ~= "table" then
      self:_fail(format("function %s goes to node %q, which does not exist", fn.name, tostring(eff.next)))
      return "end"
    end
    return "next"
  end
  return nil
end

-- one handler call: returns effects | nil (the call has failed)
function Call:_run(fn, args)
  if not fn.has_handler then
    return { next = fn.next, result = "ok", sets = {}, say = {}, notes = {}, state = self.vars }
  end
  local state = { patient = self.patient, outcome = self.outcome, vars = self.vars, fields = {} }
  for f in pairs(self.declared) do state.fields[f] = self.fields[f] end
  local ok, eff, err = pcall(self.host.run_handler, self.host, self.node, fn.name, args, state)
  if not ok then eff, err = nil, { message = tostring(eff) } end
  if eff == nil then
    local msg = type(err) == "table" and err.message or err
    self:_fail(format("function %s in node %s failed: %s", fn.name, tostring(self.node), tostring(msg or "unknown error")))
    return nil
  end
  return eff
end


-- the string values of a call's arguments (and of their lists), for the carry requests' `used`
local function remember_used(used, args)
  for _, v in pairs(args) do
    if type(v) == "string" then
      used[#used + 1] = v
    elseif type(v) == "table" then
      for _, x in ipairs(v) do if type(x) == "string" then used[#used + 1] = x end end
    end
  end
end

-- one response's tool calls in order, each with its tool result in the history. After a call
-- that moved to another node, the remaining ones run there when that node has their function.
-- Returns ran (a function ran), outcome ("end" | "next" | nil, the target in self.pending_next),
-- said (a handler said something).
function Call:_run_calls(tc_list, scope)
  local ran, outcome, said = false, nil, false
  for _, tc in ipairs(tc_list) do
    local result
    if outcome == "next" and self:_find_function(self.flow.nodes[self.pending_next], tc.name, scope) then
      local target = self.pending_next
      self.pending_next, outcome = nil, nil
      self:_leave()
      if self:_active() then self:_arrive(target) end
      if not self:_active() then outcome = "end" end
    end
    if outcome then
      result = "not run: an earlier function " .. (outcome == "end" and "ended the call" or "moved to another node")
    else
      local fn = self:_find_function(self.flow.nodes[self.node], tc.name, scope)
      if not fn then
        result = encode({ error = "unknown function " .. tc.name })
      else
        local args, why = params.validate(fn.parameters, tc.arguments)
        if not args then
          result = encode({ error = "invalid arguments: " .. tostring(why) })
        else
          local eff = self:_run(fn, args)
          if not eff then return ran, "end", said end
          ran, self.ran_function = true, true
          remember_used(self.used, args)
          local before = #self._defer
          outcome = self:_apply(fn, eff)
          if #self._defer > before then said = true end
          result = encode(eff.result == nil and "ok" or eff.result)
          if outcome == "next" then self.pending_next = eff.next end
          if outcome == "resume" then self.pending_next = eff.resume end
        end
      end
    end
    self:_history({ role = "tool", tool_call_id = tc.id, name = tc.name, content = result })
    if not self:_active() and outcome ~= "end" then break end
  end
  return ran, outcome, said
end

-- model rounds until the turn is done. reason: "user" | "enter" | "carry" | "resume" (the line
-- heard again in the node a detour returned to, call:resume); with_tools: offer
-- functions. A carry offers the node's own functions and drops text; it ends at once when no
-- function ran. Returns true when a function ran in the first round (the line was taken).
function Call:_rounds(reason, with_tools)
  local taken = false
  while self:_active() do
    self.rounds = (self.rounds or 0) + 1
    if self.rounds > self.max_rounds then
      self:_emit({ type = "note", text = "loop guard: more than " .. self.max_rounds .. " model rounds in one turn" })
      return taken
    end
    local carry = reason == "carry"
    -- a carry's text is dropped, and a phone menu is never talked to: neither is streamed
    local mute = carry or self.flow.nodes[self.node].ivr == true
    local req = self:_request(reason, with_tools)
    if not mute then req.on_text = self.on_text end
    local ok, resp, err = pcall(self.llm.respond, self.llm, req)
    if not ok then resp, err = nil, resp end
    if type(resp) ~= "table" then
      self:_fail("llm: " .. tostring(type(err) == "table" and err.message or err or "no response"))
      return taken
    end
    local text = not mute and type(resp.text) == "string" and find(resp.text, "%S") and resp.text or nil
    local calls = type(resp.tool_calls) == "table" and resp.tool_calls or {}
    if not with_tools then calls = {} end
    if #calls == 0 then
      if resp.acknowledged == true then self.acknowledged = true end
      if text then self:_say(text) end
      return taken
    end

    -- the assistant message carrying the tool calls, then one tool message per call
    local tc_list = {}
    for i, tc in ipairs(calls) do
      tc_list[i] = { id = tostring(tc.id or ("call_" .. i)), name = tostring(tc.name),
                     arguments = type(tc.arguments) == "table" and tc.arguments or {} }
    end
    if text then
      local entry = { role = "assistant", text = text, t = self:_now() }
      self.transcript[#self.transcript + 1] = entry
      self.turn_lines[#self.turn_lines + 1] = text
      self.said_this_turn = true
      self:_emit({ type = "transcript", role = "assistant", text = text, t = entry.t })
    end
    self:_history({ role = "assistant", content = text, tool_calls = tc_list })

    self._defer = {}
    local ran, outcome, said = self:_run_calls(tc_list, carry and "node" or nil)
    local defer = self._defer
    self._defer = nil
    for _, line in ipairs(defer) do self:_history({ role = "assistant", content = line }) end
    if carry and not ran then return false end
    taken = taken or ran
    if not self:_active() then return taken end

    if outcome == "next" then
      local target = self.pending_next
      self.pending_next = nil
      self:_leave()
      if self:_active() then self:_enter(target) end
      return taken
    end
    if outcome == "resume" then
      -- back where the detour began, without entering again; the line is heard there anew
      local target = self.pending_next
      self.pending_next = nil
      self:_leave()
      if not self:_active() then return taken end
      self:_moving(target)
      self.node, self.node_t, self.reprompts, self.node_lines = target, self:_now(), 0, 0
      self:_emit({ type = "node", node = target })
      reason = "resume"
    else
      if said then return taken end
      reason = "tool"
    end
  end
  return taken
end

---------------------------------------------------------------------------------------------
-- public API

function Call:_turn(fn)
  local batch = {}
  self._batch = batch
  self.rounds, self.entries, self.said_this_turn = 0, 0, false
  self.carries, self.used, self.carry_line, self.ran_function, self.acknowledged = 0, {}, nil, false, false
  self._defer, self.pending_next = nil, nil
  local ok, err = pcall(fn)
  if not ok then
    -- a bug in the engine or a misbehaving adapter: fail this call, keep the process going
    self:_fail("internal error: " .. tostring(err))
  end
  self._batch, self._defer = nil, nil
  return batch
end

-- start([opts]) -> events: enters the initial node (its actions and lines, maybe a first model
-- line); with opts.listen_first and a flow that listens first, its listen node, saying nothing
-- (Listening first at the top). Options other than a table, or listen_first not a boolean, raise.
function Call:start(opts)
  if opts ~= nil and type(opts) ~= "table" then error("call:start([opts]): opts must be a table", 2) end
  local listen = opts and opts.listen_first
  if listen ~= nil and type(listen) ~= "boolean" then error("call:start: listen_first must be true or false", 2) end
  return self:_turn(function()
    if self.status ~= "queued" then return end
    self.status = "in_progress"
    self:_emit({ type = "status", status = "in_progress" })
    if self.load_error then self:_fail(self.load_error); return end
    if type(self.flow.nodes[self.flow.initial]) ~= "table" then
      self:_fail(format("flow's initial node %q does not exist", tostring(self.flow.initial)))
      return
    end
    local lf = listen and self.flow.listen_first
    if type(lf) == "table" and type(self.flow.nodes[lf.node]) == "table" then
      self.listening = { node = lf.node, seconds = tonumber(lf.seconds) or M.LISTEN_SECONDS }
      self:_arrive(lf.node)
      return
    end
    self:_enter(self.flow.initial)
  end)
end

-- a line of the other party that ran no function: one reprompt of the node; past its
-- max_reprompts (false: no limit) the fallback runs. Hold nodes have no limit.
function Call:_count_reprompt()
  local node = self.flow.nodes[self.node]
  if self.ran_function then self.reprompts = 0; return end
  if self.acknowledged then return end -- understood, nothing to do: neither stuck nor progress
  if is_machine(node) then return end
  self.reprompts = self.reprompts + 1
  local limit = node.max_reprompts
  if limit == nil then limit = M.MAX_REPROMPTS end
  if type(limit) == "number" and self.reprompts > limit then
    self:_fallback(format("stuck at %s after %d reprompts", self.node, self.reprompts))
  end
end

-- user_says(text) -> events of the agent's answer
function Call:user_says(text)
  return self:_turn(function()
    if not self:_active() then return end
    if type(text) ~= "string" then return end
    text = text:match("^%s*(.-)%s*$")
    if text == "" then return end
    if #text > M.MAX_USER_TEXT then text = sub(text, 1, M.MAX_USER_TEXT) end
    if not schema.valid_utf8(text) then text = text:gsub("[\128-\255]", "?") end
    self.turns = self.turns + 1
    self.silences = 0
    if #self.turn_lines > 0 then self.last_lines = self.turn_lines end
    self.turn_lines = {}
    self.last_user = text
    local entry = { role = "user", text = text, t = self:_now() }
    self.transcript[#self.transcript + 1] = entry
    self:_emit({ type = "transcript", role = "user", text = text, t = entry.t })
    self:_history({ role = "user", content = text })
    local node = self.flow.nodes[self.node]
    self.node_lines = self.node_lines + 1
    if self.turns > M.MAX_CALL_LINES then
      return self:_close_stuck(format("more than %d lines from the other party in one call", M.MAX_CALL_LINES))
    end
    if self.node_lines > M.MAX_NODE_LINES and not is_machine(node) then
      return self:_close_stuck(format("more than %d lines from the other party at %s", M.MAX_NODE_LINES, self.node))
    end
    if #(node.functions or {}) == 0 then return end
    self.carry_line = true
    self:_rounds("user", true)
    if self:_active() then self:_count_reprompt() end
  end)
end

-- silence_after() -> seconds until the engine wants call:silence(), counted from the end of the
-- agent's last turn; in a hold node the hold budget left. nil when the call is not in progress.
function Call:silence_after()
  if not self:_active() or not self.flow then return nil end
  local node = self.flow.nodes[self.node]
  if type(node) ~= "table" then return nil end
  if self.listening then return self.listening.seconds end
  if is_hold(node) then
    local left = node.hold_seconds - (self:_now() - (self.node_t or 0))
    return left > 0 and left or 0
  end
  local s = self.flow.silence
  return type(s) == "table" and tonumber(s.seconds) or self.silence_seconds
end

-- on_hold() -> whether the call waits in a hold node (the voice watches for a person locally)
function Call:on_hold()
  local node = self:_active() and self.flow and self.flow.nodes[self.node]
  return type(node) == "table" and is_hold(node)
end

-- silence() -> events: the other party said nothing for silence_after() seconds. The first time
-- since it last spoke: the check line; the second: the close line, and the call ends. In a hold
-- node: nothing until its budget is spent, then the fallback path. Listening first: the greeting.
function Call:silence()
  return self:_turn(function()
    if not self:_active() then return end
    if self.listening then
      self:_emit({ type = "note", text = format("nothing heard for %s s after the answer: the agent speaks first",
        tostring(self.listening.seconds)) })
      self.listening = nil
      return self:_enter(self.flow.initial)
    end
    local node = self.flow.nodes[self.node]
    if is_hold(node) then
      if self:_now() - (self.node_t or 0) >= node.hold_seconds then
        self:_fallback(format("on hold for more than %s s", tostring(node.hold_seconds)), true, M.HOLD_CLOSE)
      end
      return
    end
    local s = type(self.flow.silence) == "table" and self.flow.silence or {}
    self.silences = self.silences + 1
    if node.ivr then
      if self.silences >= 2 then self:_fallback("the phone menu went silent", true) end
      return
    end
    if self.silences == 1 then
      self:_say(self:_render(type(s.check) == "string" and s.check or M.SILENCE_CHECK), true)
      return
    end
    self:_say(self:_render(type(s.close) == "string" and s.close or M.SILENCE_CLOSE), true)
    self:_finish(self.turns == 0 and "no_answer" or "completed", M.NO_RESPONSE)
  end)
end

-- The part of each line the other party heard when the agent was cut off after `heard` (the
-- words whose audio went out, as the media plane reports them): the first words of the lines, in
-- order, as many as heard has. Returns one string per line ("" for a line not reached).
function M.heard_parts(lines, heard)
  local left = 0
  for _ in tostring(heard or ""):gmatch("%S+") do left = left + 1 end
  local parts = {}
  for i, line in ipairs(lines) do
    local words = {}
    for w in line:gmatch("%S+") do
      if left == 0 then break end
      words[#words + 1] = w
      left = left - 1
    end
    parts[i] = table.concat(words, " ")
  end
  return parts
end

-- interrupted(lines, heard) -> parts: the other party spoke over the agent, whose lines (the
-- voice turn's, in order) were cut off after `heard`. The transcript and the model's history keep
-- only what was heard (a line not reached at all leaves both), so the model knows what the other
-- party did not hear; transcript entries cut short are marked interrupted. Returns heard_parts.
function Call:interrupted(lines, heard)
  local parts = M.heard_parts(lines, heard)
  local function trim(list, role_of, text_of, set)
    local i = #list
    for j = #lines, 1, -1 do
      while i > 0 and not (role_of(list[i]) == "assistant" and text_of(list[i]) == lines[j]) do
        if role_of(list[i]) == "user" then return end -- never past the other party's last line
        i = i - 1
      end
      if i == 0 then return end
      if parts[j] ~= lines[j] then set(list, i, parts[j]) end
      i = i - 1
    end
  end
  trim(self.transcript, function(e) return e.role end, function(e) return e.text end, function(list, i, part)
    if part == "" then table.remove(list, i) else list[i].text, list[i].interrupted = part, true end
  end)
  trim(self.messages, function(m) return m.role end, function(m) return m.content end, function(list, i, part)
    if part == "" and not list[i].tool_calls then table.remove(list, i) else list[i].content = part end
  end)
  return parts
end

-- expected_phrases() -> the phrases the other party may say in the current node, for the speech
-- recognizer (sova.call.expect: the node's expect, its own functions' phrases, the flow's
-- vocabulary), templates rendered with the call's values. {} before the first node.
-- They may hold the patient's name: PHI.
function Call:expected_phrases()
  local node = self.flow and self.node and self.flow.nodes[self.node]
  if type(node) ~= "table" then return {} end
  local values = self:_values()
  return expect.phrases { expect = node.expect, functions = node_functions(self, node, "node"),
    vocabulary = self.flow.vocabulary, render = function(text) return self:_render(text, values) end }
end

-- transfer_result(status) -> events: the outcome of the transfer call.transferring waits for
-- (see Transfers at the top). A result with no transfer waiting changes nothing (a repeated or
-- late callback); a status outside M.TRANSFER_OUTCOMES is a bug of the host and raises.
function Call:transfer_result(status)
  if M.TRANSFER_OUTCOMES[status] == nil then
    error("call:transfer_result: status must be answered, completed, busy, no-answer, failed or canceled, not "
      .. tostring(status), 2)
  end
  return self:_turn(function()
    local t = self.transferring
    if not t or self.status ~= "in_progress" then return end
    self.transferring = nil
    if M.TRANSFER_OUTCOMES[status] then
      return self:_finish("completed", "transferred to " .. t.to, true)
    end
    local reason = format("transfer to %s: %s", t.to, status)
    self.carry_line = nil
    self:_say(self:_render(type(self.flow.transfer_failed) == "string" and self.flow.transfer_failed
      or M.TRANSFER_FAILED))
    local node = self.flow.nodes[t.node]
    local target = type(node) == "table" and (node.on_transfer_failed or node.fallback) or self.flow.fallback
    if type(target) ~= "string" then return self:_close_stuck(reason) end
    self:_emit({ type = "note", text = reason .. ": going to " .. target })
    -- the node the transfer left is not left again: its post_actions may be what transferred
    self:_enter(target)
  end)
end

-- the voicemail setting's sets, validated as a handler's are (declared writes, schema values)
function Call:_voicemail_sets(sets)
  local keys = {}
  for k in pairs(type(sets) == "table" and sets or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, field in ipairs(keys) do
    local def = self.fields[field]
    local out, why
    if self.writes[field] and type(def) == "table" then out, why = schema.check_field_value(def, sets[field]) end
    if out == nil or out == schema.null then
      self:_fail(format("voicemail.set: %s cannot take %s: %s", field, tostring(sets[field]),
        tostring(why or "not a declared outcome field")))
      return false
    end
    self.outcome[field] = out
    self:_emit({ type = "set", field = field, value = out })
  end
  return true
end

-- machine(verdict) -> events: an answering machine (or a fax) answered; see Voicemail at the top.
-- A verdict outside M.MACHINE_VERDICTS is a bug of the host and raises.
function Call:machine(verdict)
  local kind = M.MACHINE_VERDICTS[verdict]
  if not kind then
    error("call:machine: verdict must be machine_end_beep, machine_end_silence, machine_end_other, machine_start, fax "
      .. "or unknown, not "
      .. tostring(verdict), 2)
  end
  return self:_turn(function()
    if self.transferring or (self.status ~= "queued" and self.status ~= "in_progress") then return end
    if self.load_error then return self:_fail(self.load_error) end
    if self.status == "queued" then
      self.status = "in_progress"
      self:_emit({ type = "status", status = "in_progress" })
    end
    local node = self.node and self.flow.nodes[self.node]
    if type(node) == "table" and node.ivr then
      return self:_emit({ type = "note", text = "answering machine detection heard the phone menu: " .. verdict })
    end
    if kind == "fax" then return self:_finish("no_answer", "a fax machine answered") end
    if kind == "unknown" then
      if self.turns > 0 then
        return self:_emit({ type = "note", text = "answering machine detection could not tell; a person is talking" })
      end
      return self:_finish("no_answer", "answering machine detection could not tell a person from a machine, and no one spoke")
    end
    local vm = self.flow.voicemail
    if type(vm) ~= "table" or type(vm.message) ~= "string" then
      return self:_finish("voicemail", "an answering machine answered; the flow leaves no message")
    end
    if not self:_voicemail_sets(vm.set) then return end
    self:_say(self:_render(vm.message))
    self:_finish("voicemail", "left a voicemail message")
  end)
end

-- hangup([why]): the other party is gone; why names how (default: it hung up).
function Call:hangup(why)
  return self:_turn(function()
    if self.status == "queued" then
      self.status = "in_progress"
      self:_finish("no_answer", "hung up before the call started")
    elseif self.transferring then
      self:_finish("completed", why or ("the other party hung up during the transfer to " .. self.transferring.to))
    elseif self:_active() then
      if self.turns == 0 then
        self:_finish("no_answer", why or "hung up without answering")
      else
        self:_finish("completed", why or "the other party hung up")
      end
    end
  end)
end

return M

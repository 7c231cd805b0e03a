-- sova.tools.eval: `sova flow eval`: a flow's conversation scenarios (<dir>/scenarios/*.yaml,
-- schemas/scenario.schema.json) played through the real sandbox and call engine, each compared
-- with what a correct agent must reach.
--
--   local eval = require("sova.tools.eval")
--   local report = eval.run(dir, fields, { speech = true, seed = 7, only = "approved", llm = adapter })
--   print(eval.format(report))
--
-- The call runs on a virtual clock: a line waits its `after` seconds (default 2) before it is
-- said, `{silence: N}` lets N seconds pass, and while the other party is silent the engine's
-- silence timer runs (call:silence_after() says when call:silence() is due: the check, then the
-- close; in a hold node, the hold budget). When the lines run out and the call goes on, the
-- other party stays silent until the engine closes the call. "hangup" hangs up. The phone
-- network's part: `{machine: verdict}` is its answering machine detection (call:machine, after
-- `after` seconds, default 2); a transfer the agent makes is answered at once, as a text test
-- call's host does, unless the next line is `{transfer: status}` (call:transfer_result: busy,
-- no-answer, failed, canceled, or answered/completed). `phone: true` plays a phone call: the
-- call starts as the bot starts one once the line is answered (call:start{listen_first = true}:
-- a flow that listens first hears the other party's first words, or its silence, before it
-- speaks); without it, a test call (the agent speaks at once).
--
-- The comparison (expect): status exactly; reason, said and not_said as Lua patterns, where "|"
-- separates alternatives; outcome: each listed field written with exactly that value, null = not
-- written, {match: pattern} = a text matching it (tried on the value and on it lower-cased), and
-- with outcome_exact true (the default) no other field written; missing: the same set of
-- required outcomes missing (call.missing); max_turns: at most that many lines of the other
-- party were said to the agent (a line said again in speech mode, see say below, is not counted:
-- r.repeats counts those); pressed: the keys the agent pressed (dtmf events), exactly, in order;
-- speaks_first: whether the transcript begins with a line of the agent (false: it listened
-- first, or said nothing at all).
local cjson = require("cjson")
local core = require("sova.core")
local config = require("sova.config")
local jsonschema = require("sova.jsonschema")
local schema = require("sova.sandboxed.schema")
local flowlib = require("sova.sandboxed.flow")
local engine = require("sova.call.engine")
local sandbox_host = require("sova.call.sandbox_host")
local speechify = require("sova.tools.speechify")
local audio = require("sova.tools.audio")
local json = require("sova.json")

local NULL = cjson.null

local M = {}

M.DEFAULT_AFTER = 2          -- seconds before a line, when the line does not say
M.TRAILING_SILENCE = 7200    -- after the last line, the other party stays silent this long at most
M.MAX_SILENCES = 12          -- silence() calls in one wait: beyond it the engine is not closing the call
M.DEFAULT_SEED = 1
M.BASE_PATIENT = "patient.yaml"

-- The scenario JSON Schema (schemas/scenario.schema.json), read once.
function M.schema() return config.schema_document("scenario.schema.json") end

---------------------------------------------------------------------------------------------
-- patterns

-- "A|B" -> { "A", "B" }
local function alternatives(p)
  local out = {}
  for alt in (p .. "|"):gmatch("([^|]*)|") do out[#out + 1] = alt end
  return out
end

-- Lua reports a malformed pattern only when matching reaches the mistake: the whole pattern is
-- scanned here instead (escapes, sets, captures)
local function lua_pattern_error(p)
  local i, depth = 1, 0
  while i <= #p do
    local c = p:sub(i, i)
    if c == "%" then
      local n = p:sub(i + 1, i + 1)
      if n == "" then return "malformed pattern (ends with '%')" end
      if n == "b" then
        if #p < i + 3 then return "missing arguments to '%b'" end
        i = i + 2
      elseif n == "f" and p:sub(i + 2, i + 2) ~= "[" then
        return "missing '[' after '%f' in pattern"
      end
      i = i + 2
    elseif c == "[" then
      local j = i + 1
      if p:sub(j, j) == "^" then j = j + 1 end
      if p:sub(j, j) == "]" then j = j + 1 end
      while p:sub(j, j) ~= "]" do
        if j > #p then return "malformed pattern (missing ']')" end
        j = j + (p:sub(j, j) == "%" and 2 or 1)
      end
      i = j + 1
    else
      if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1 end
      if depth < 0 then return "invalid pattern capture" end
      i = i + 1
    end
  end
  if depth > 0 then return "unfinished capture" end
  return nil
end

local function pattern_error(p)
  for _, alt in ipairs(alternatives(p)) do
    local why = lua_pattern_error(alt)
    if why then return why end
  end
  return nil
end

local function matches(text, p)
  for _, alt in ipairs(alternatives(p)) do
    if text:find(alt) then return true end
  end
  return false
end
M.matches = matches

---------------------------------------------------------------------------------------------
-- loading

local function read_yaml(path)
  local text, err = config.read_file(path)
  if not text then return nil, { { file = path, path = "", message = "cannot read the file: " .. tostring(err) } } end
  local doc, yerr = core.yaml.decode(text)
  if doc == nil then return nil, { { file = path, path = "", message = yerr } } end
  return doc
end

-- what JSON Schema cannot say: the patterns must be Lua patterns
local function check_patterns(doc, file, problems)
  local expect = type(doc.expect) == "table" and doc.expect or {}
  local function check(p, where)
    local why = type(p) == "string" and pattern_error(p)
    if why then problems[#problems + 1] = { file = file, path = where, message = "not a Lua pattern: " .. why } end
  end
  if expect.reason then check(expect.reason, "/expect/reason") end
  for _, key in ipairs({ "said", "not_said" }) do
    for i, p in ipairs(type(expect[key]) == "table" and expect[key] or {}) do check(p, "/expect/" .. key .. "/" .. (i - 1)) end
  end
  for field, v in pairs(type(expect.outcome) == "table" and expect.outcome or {}) do
    if type(v) == "table" then check(v.match, "/expect/outcome/" .. field .. "/match") end
  end
end

-- load(path) -> scenario | nil, problems ({file=, path=, message=})
function M.load(path)
  local doc, problems = read_yaml(path)
  if not doc then return nil, problems end
  problems = {}
  local ok, errs = jsonschema.validate(M.schema(), doc)
  if not ok then
    for _, e in ipairs(errs) do problems[#problems + 1] = { file = path, path = e.path, message = e.message } end
  else
    check_patterns(doc, path, problems)
  end
  if #problems > 0 then return nil, problems end
  doc.file = path
  doc.id = path:match("([^/]+)%.yaml$")
  return doc
end

-- The scenario files of a flow directory, sorted (the base patient is not one).
function M.files(dir)
  local names, err = core.sys.list_dir(dir .. "/scenarios")
  if not names then return nil, err end
  local out = {}
  for _, n in ipairs(names) do
    if n:match("%.yaml$") and n ~= M.BASE_PATIENT then out[#out + 1] = dir .. "/scenarios/" .. n end
  end
  return out
end

-- patient(base, overrides, fields, file) -> the patient | nil, problems: each field checked
-- against the workflow's schema; false in overrides removes a field
function M.patient(base, overrides, fields, file)
  local by_key = flowlib.fields_by_key(fields)
  local out, problems = {}, {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(overrides or {}) do
    if v == false then out[k] = nil else out[k] = v end
  end
  local keys = {}
  for k in pairs(out) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local def = by_key[k]
    if type(def) ~= "table" then
      problems[#problems + 1] = { file = file, path = "/patient/" .. k, message = "not a field of the workflow's patient_schema" }
    else
      local value, why = schema.check_field_value(def, out[k])
      if value == nil then
        problems[#problems + 1] = { file = file, path = "/patient/" .. k, message = tostring(why) }
      elseif value == NULL then
        out[k] = nil
      else
        out[k] = value
      end
    end
  end
  if #problems > 0 then return nil, problems end
  return out
end

-- base_patient(dir) -> the workflow's synthetic patient (scenarios/patient.yaml; {} when absent)
function M.base_patient(dir)
  local path = dir .. "/scenarios/" .. M.BASE_PATIENT
  if not config.read_file(path) then return {} end
  local doc, problems = read_yaml(path)
  if not doc then return nil, problems end
  local jt = jsonschema.json_type(doc)
  if jt ~= "object" and jt ~= "empty" then
    return nil, { { file = path, path = "", message = "must be a mapping of patient fields" } }
  end
  return doc
end

function M.format_problems(problems)
  local out = {}
  for i, p in ipairs(problems) do
    out[i] = (p.file and (p.file .. ": ") or "") .. ((p.path and p.path ~= "") and (p.path .. ": ") or "") .. p.message
  end
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------------------------
-- playing one scenario

-- play(sc, o) -> result: o.host, o.llm, o.patient, o.fields, o.speech ({seed=, rate=}), o.ear (audio
-- mode: a sova.tools.audio ear), o.engine (default sova.call.engine). result: status, reason,
-- outcome, missing, turns, agent (lines said), heard (the lines as the agent got them), lines
-- (audio mode: {said, heard, errors, words} per line spoken), transcript, error.
function M.play(sc, o)
  local eng = o.engine or engine
  local now = 0
  local call = eng.new { host = o.host, llm = o.llm, patient = o.patient, fields = o.fields,
                         clock = function() return now end }
  local r = { turns = 0, repeats = 0, heard = {}, lines = {} }
  if type(call.silence_after) ~= "function" or type(call.silence) ~= "function" then
    r.error = "the call engine has no call:silence_after()/call:silence() (issue 8's engine interface)"
    r.status, r.outcome, r.transcript, r.agent = call.status, {}, {}, {}
    return r
  end

  -- the other party says nothing for `seconds`; the engine's silence timer may fire meanwhile
  local function wait(seconds)
    local left, n = seconds, 0
    while call.status == "in_progress" do
      local due = call:silence_after()
      if due == nil or due > left then break end
      n = n + 1
      if n > M.MAX_SILENCES then
        error(("the call went on through %d silences without ending"):format(M.MAX_SILENCES), 0)
      end
      if due < 0 then due = 0 end
      now, left = now + due, left - due
      call:silence()
    end
    now = now + left
  end

  -- what moved the call on: node changes, outcome fields written, keys pressed
  local function progress()
    local n = 0
    for _, ev in ipairs(call.events or {}) do
      if ev.type == "node" or ev.type == "set" or ev.type == "dtmf" then n = n + 1 end
    end
    return n
  end

  -- In speech mode a line the recognizer garbled (it differs from the clean spoken form) that got
  -- the call nowhere is said once more, as a person asked again does, and heard anew; not by a
  -- phone menu (an ivr node): the agent asks a machine nothing.
  -- In audio mode the line is spoken and heard through the media plane; the party talks for as
  -- long as its audio and the end of its turn take, and a line heard as nothing reaches no one.
  local function hear(text)
    local ok, lerr = o.ear:expect(call:expected_phrases()) -- the current node's hints, as in a call
    if not ok then error("audio: " .. tostring(lerr), 0) end
    local h, err = o.ear:hear(text)
    if not h then error("audio: " .. tostring(err), 0) end
    now = now + h.seconds
    r.audio_seconds = (r.audio_seconds or 0) + h.seconds
    r.lines[#r.lines + 1] = { said = h.said, heard = h.heard, errors = h.errors, words = h.words }
    r.heard[#r.heard + 1] = h.heard
    if h.heard ~= "" then call:user_says(h.heard) end
  end

  local function say(text, i)
    r.turns = r.turns + 1
    if o.ear then return hear(text) end
    if not o.speech then
      r.heard[#r.heard + 1] = text
      return call:user_says(text)
    end
    local key = (sc.id or "") .. ":" .. i
    local heard = speechify.rewrite(text, { seed = o.speech.seed, rate = o.speech.rate, key = key })
    local before = progress()
    r.heard[#r.heard + 1] = heard
    local node = call.flow and call.node and call.flow.nodes[call.node]
    local machine = type(node) == "table" and node.ivr == true
    call:user_says(heard)
    if call.status == "in_progress" and progress() == before and not machine
       and heard ~= speechify.rewrite(text, { seed = o.speech.seed, rate = 0, key = key }) then
      local again = speechify.rewrite(text, { seed = o.speech.seed, rate = o.speech.rate, key = key .. ":again" })
      r.repeats = r.repeats + 1
      r.heard[#r.heard + 1] = again
      call:user_says(again)
    end
  end

  -- a transfer under way is answered at once unless the scenario's next line gives its outcome
  local function settle(nxt)
    if call.transferring and not (type(nxt) == "table" and nxt.transfer) then call:transfer_result("answered") end
  end

  local ok, err = pcall(function()
    call:start(sc.phone and { listen_first = true } or nil)
    settle(sc.lines[1])
    for i, line in ipairs(sc.lines) do
      if call.status ~= "in_progress" then break end
      if line == "hangup" then
        call:hangup()
      elseif type(line) == "table" and line.transfer then
        if not call.transferring then error(("line %d gives a transfer's outcome, but no transfer is under way"):format(i), 0) end
        call:transfer_result(line.transfer)
      elseif type(line) == "table" and line.machine then
        wait(line.after or M.DEFAULT_AFTER)
        if call.status == "in_progress" then call:machine(line.machine) end
      elseif type(line) == "string" then
        wait(M.DEFAULT_AFTER)
        if call.status == "in_progress" then say(line, i) end
      elseif line.silence then
        wait(line.silence)
      else
        wait(line.after or M.DEFAULT_AFTER)
        if call.status == "in_progress" then say(line.say, i) end
      end
      settle(sc.lines[i + 1])
    end
    if call.status == "in_progress" then wait(M.TRAILING_SILENCE) end
  end)
  if not ok then r.error = tostring(err) end
  r.status, r.reason, r.outcome, r.missing = call.status, call.reason, call.outcome or {}, call.missing
  r.transcript, r.agent, r.pressed = {}, {}, {}
  for _, ev in ipairs(call.events or {}) do
    if ev.type == "dtmf" then r.pressed[#r.pressed + 1] = ev.digits end
  end
  for _, m in ipairs(call.transcript or {}) do
    r.transcript[#r.transcript + 1] = { role = m.role, text = m.text, t = m.t }
    if m.role == "assistant" then r.agent[#r.agent + 1] = m.text end
  end
  return r
end

---------------------------------------------------------------------------------------------
-- comparing

local function show(v)
  if v == nil then return "not written" end
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local sorted = require("sova.sandboxed.params").sorted_keys

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

local function list_text(list)
  local copy = {}
  for i, v in ipairs(list or {}) do copy[i] = v end
  table.sort(copy)
  return "[" .. table.concat(copy, ", ") .. "]"
end

local function compare_outcome(expect, got, diffs)
  local want = expect.outcome or {}
  for _, field in ipairs(sorted(want)) do
    local w, g = want[field], got[field]
    if w == NULL then
      if g ~= nil then diffs[#diffs + 1] = ("outcome.%s = %s, expected not written"):format(field, show(g)) end
    elseif type(w) == "table" then
      if type(g) ~= "string" or not (matches(g, w.match) or matches(g:lower(), w.match)) then
        diffs[#diffs + 1] = ("outcome.%s = %s, expected a text matching %q"):format(field, show(g), w.match)
      end
    elseif g ~= w then
      diffs[#diffs + 1] = ("outcome.%s = %s, expected %s"):format(field, show(g), show(w))
    end
  end
  if expect.outcome_exact ~= false then
    for _, field in ipairs(sorted(got)) do
      if want[field] == nil then
        diffs[#diffs + 1] = ("outcome.%s = %s written, not expected"):format(field, show(got[field]))
      end
    end
  end
end

-- compare(expect, result) -> list of differences (empty: passed)
function M.compare(expect, r)
  local diffs = {}
  if r.error then diffs[#diffs + 1] = "error: " .. r.error end
  if r.status ~= expect.status then
    diffs[#diffs + 1] = ("status %s%s, expected %s"):format(tostring(r.status),
      r.reason and (" (" .. r.reason .. ")") or "", expect.status)
  end
  if expect.reason and not matches(r.reason or "", expect.reason) then
    diffs[#diffs + 1] = ("reason %s, expected one matching %q"):format(show(r.reason), expect.reason)
  end
  compare_outcome(expect, r.outcome or {}, diffs)
  if expect.missing then
    local want, got = set_of(expect.missing), set_of(r.missing)
    local same = true
    for k in pairs(want) do if not got[k] then same = false end end
    for k in pairs(got) do if not want[k] then same = false end end
    if not same then
      diffs[#diffs + 1] = ("missing %s, expected %s"):format(list_text(r.missing), list_text(expect.missing))
    end
  end
  if expect.pressed then
    local got = table.concat(r.pressed or {}, ", ")
    if got ~= table.concat(expect.pressed, ", ") then
      diffs[#diffs + 1] = ("pressed [%s], expected [%s]"):format(got, table.concat(expect.pressed, ", "))
    end
  end
  if expect.speaks_first ~= nil then
    local first = (r.transcript or {})[1]
    if (first ~= nil and first.role == "assistant") ~= expect.speaks_first then
      diffs[#diffs + 1] = expect.speaks_first and "the agent did not speak first" or "the agent spoke first"
    end
  end
  if expect.max_turns and r.turns > expect.max_turns then
    diffs[#diffs + 1] = ("took %d turns, at most %d expected"):format(r.turns, expect.max_turns)
  end
  for _, p in ipairs(expect.said or {}) do
    local found = false
    for _, line in ipairs(r.agent or {}) do if matches(line, p) then found = true break end end
    if not found then diffs[#diffs + 1] = ("the agent never said %q"):format(p) end
  end
  for _, p in ipairs(expect.not_said or {}) do
    for _, line in ipairs(r.agent or {}) do
      if matches(line, p) then
        diffs[#diffs + 1] = ("the agent said %q (matches %q)"):format(line, p)
        break
      end
    end
  end
  return diffs
end

---------------------------------------------------------------------------------------------
-- a flow's scenarios

-- The word error rate of lines ({errors, words}), as a fraction; nil with no word.
local function wer(errors, words) return words > 0 and errors / words or nil end

-- run(dir, fields, o) -> report | nil, problems
--   o.llm (the adapter), o.llm_label, o.speech (bool), o.seed, o.rate, o.audio (bool; o.model: a
--   core.speech model to share), o.only (a scenario's file name without .yaml, or its name), o.engine
-- report: { flow = dir, mode = "text"|"speech"|"audio", seed =, llm =, passed =, failed =,
--           scenarios = { {id, file, name, tags, passed, differences, status, reason, outcome,
--                          missing, turns, transcript, heard, [lines, words, errors, wer]} },
--           [audio = {encoding, sample_rate, agent_tts, party_voice, notes, words, errors, wer,
--                     audio_seconds, seconds}] }
--   audio mode: lines = {said, heard, errors, words} per line spoken; wer = errors / words;
--   audio_seconds: the other party's audio streamed; seconds: the run's wall time
function M.run(dir, fields, o)
  local files, ferr = M.files(dir)
  if not files then return nil, { { file = dir .. "/scenarios", path = "", message = tostring(ferr) } } end
  local base, bproblems = M.base_patient(dir)
  if not base then return nil, bproblems end
  local scenarios, problems = {}, {}
  for _, path in ipairs(files) do
    local sc, sp = M.load(path)
    if sc then
      local patient, pp = M.patient(base, sc.patient, fields, path)
      if patient then
        sc.full_patient = patient
        if not o.only or o.only == sc.id or o.only == sc.name then scenarios[#scenarios + 1] = sc end
      else
        for _, p in ipairs(pp) do problems[#problems + 1] = p end
      end
    else
      for _, p in ipairs(sp) do problems[#problems + 1] = p end
    end
  end
  if #problems > 0 then return nil, problems end
  if o.only and #scenarios == 0 then
    return nil, { { file = dir .. "/scenarios", path = "", message = "no scenario named " .. o.only } }
  end
  local speech = o.speech and { seed = o.seed or M.DEFAULT_SEED, rate = o.rate } or nil
  local ctx
  if o.audio then
    local cerr
    ctx, cerr = audio.context(dir, o.model)
    if not ctx then return nil, { { file = dir .. "/services.yaml", path = "", message = "audio mode: " .. tostring(cerr) } } end
  end
  local started = core.sys.monotonic()
  local report = { flow = dir, mode = ctx and "audio" or speech and "speech" or "text", seed = speech and speech.seed or nil,
                   llm = o.llm_label, passed = 0, failed = 0, scenarios = json.array() }
  if ctx then
    report.audio = { encoding = ctx.encoding, sample_rate = ctx.sample_rate, agent_tts = ctx.tts.engine,
                     notes = json.array(ctx.notes), words = 0, errors = 0, audio_seconds = 0 }
  end
  for _, sc in ipairs(scenarios) do
    local host, herr = sandbox_host.new(dir)
    local ear, eerr
    if ctx then ear, eerr = ctx:voice() end
    local r
    if host and (ear or not ctx) then
      r = M.play(sc, { host = host, llm = o.llm, patient = sc.full_patient, fields = fields, speech = speech,
                       ear = ear, engine = o.engine })
    elseif not host then
      r = { error = "the flow could not be loaded: " .. tostring(herr and herr.message), turns = 0, outcome = {} }
    else
      r = { error = "audio: " .. tostring(eerr), turns = 0, outcome = {} }
    end
    if host then host:close() end
    if ear then
      report.audio.party_voice = ear:party_voice()
      ear:close()
    end
    local diffs = M.compare(sc.expect, r)
    local entry = {
      id = sc.id, file = sc.file, name = sc.name, tags = json.array(sc.tags or {}), passed = #diffs == 0,
      differences = json.array(diffs), status = r.status, reason = r.reason, outcome = r.outcome,
      missing = json.array(r.missing or {}), turns = r.turns, repeats = r.repeats or 0, transcript = json.array(r.transcript or {}),
      pressed = json.array(r.pressed or {}),
      heard = json.array(r.heard or {}),
    }
    if ctx then
      entry.lines, entry.words, entry.errors = json.array(r.lines or {}), 0, 0
      for _, l in ipairs(r.lines or {}) do entry.words, entry.errors = entry.words + l.words, entry.errors + l.errors end
      entry.wer = wer(entry.errors, entry.words)
      local a = report.audio
      a.words, a.errors = a.words + entry.words, a.errors + entry.errors
      a.audio_seconds = a.audio_seconds + (r.audio_seconds or 0)
    end
    report.scenarios[#report.scenarios + 1] = entry
    if entry.passed then report.passed = report.passed + 1 else report.failed = report.failed + 1 end
  end
  if ctx then
    report.audio.wer = wer(report.audio.errors, report.audio.words)
    report.audio.seconds = core.sys.monotonic() - started
  end
  return report
end

local function percent(x) return x and ("%.1f%%"):format(100 * x) or "-" end

-- format(report) -> the table people read (audio mode: a WER column, and under a scenario each
-- line the recognizer got wrong, said vs heard)
function M.format(report)
  local width = #"SCENARIO"
  for _, s in ipairs(report.scenarios) do width = math.max(width, #s.id) end
  local a = report.audio
  local head = a and ("%s: audio mode (%s %d Hz, the other party in flite %s), %s"):format(report.flow, a.encoding,
      a.sample_rate, tostring(a.party_voice), report.llm or "language model")
    or ("%s: %s mode%s, %s"):format(report.flow, report.mode, report.seed and (" (seed " .. report.seed .. ")") or "",
      report.llm or "language model")
  local row = "%-" .. width .. "s  %-6s %5s" .. (a and "  %6s" or "%s") .. "  %s"
  local out = { head, row:format("SCENARIO", "RESULT", "TURNS", a and "WER" or "", "WHAT DIFFERED") }
  for _, note in ipairs(a and a.notes or {}) do table.insert(out, 2, "  (" .. note .. ")") end
  for _, s in ipairs(report.scenarios) do
    out[#out + 1] = row:format(s.id, s.passed and "pass" or "FAIL", tostring(s.turns or 0), a and percent(s.wer) or "",
      table.concat(s.differences, "; "))
    for _, l in ipairs(a and s.lines or {}) do
      if l.errors > 0 then out[#out + 1] = ("    said %q, heard %q"):format(l.said, l.heard) end
    end
  end
  local tail = ("%d of %d passed"):format(report.passed, report.passed + report.failed)
  if a then
    tail = tail .. ("; WER %s (%d word errors in %d words); %.0f s of audio heard in %.0f s"):format(percent(a.wer),
      a.errors, a.words, a.audio_seconds, a.seconds)
  end
  out[#out + 1] = tail
  return table.concat(out, "\n")
end

return M

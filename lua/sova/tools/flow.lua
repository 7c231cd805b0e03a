-- sova.tools.flow: the flow engineer's commands (`sova flow check|simulate`). The flow runs in
-- the same sandbox as in a real call; the schema comes from the database or from a file.
local core = require("sova.core")
local cjson = require("cjson")
local config = require("sova.config")
local json = require("sova.json")
local checker = require("sova.tools.flow_check")
local engine = require("sova.call.engine")
local sandbox_host = require("sova.call.sandbox_host")
local services = require("sova.services")
local llm = require("sova.llm")
local eval = require("sova.tools.eval")
local flowlib = require("sova.sandboxed.flow")

local M = {}

local USAGE = [[
usage: sova flow check <dir> [--schema FILE | --db]
       sova flow simulate <dir> --patient FILE.json [--script FILE] [--json] [--schema FILE | --db]
       sova flow eval <dir> [--speech [--seed N] | --audio] [--scenario NAME] [--offline] [--json] [--schema FILE | --db]
       sova flow eval --from-session ID [--out FILE]

  <dir>        a flow directory: clients/<org_slug>/<workflow>/ (flow_definition.lua, services.yaml)
  --schema F   the patient_schema from a file: {"fields": [...]}, a list of fields, or an
               organization definition (schemas/organizations/<org>.json)
  --db         the patient_schema from the database (MONGODB_URI), by org slug and workflow
               (default when MONGODB_URI is set; otherwise schemas/organizations/<org_slug>.json)
  --patient F  the patient's fields, as JSON
  --script F   the other party's lines, one per line ('#' comments; '/hangup' hangs up);
               without it you type them (end with an empty line or Ctrl-D)
  --json       print the result as one JSON document
  --speech     eval: each line as a speech recognizer returns it (lower case, no punctuation,
               numbers, codes and dates in words, a few dropped or swapped words)
  --seed N     eval --speech: the seed of the recognition errors (default 1)
  --audio      eval: each line spoken (flite, in another voice than the agent's) and heard through
               the media plane (the bot's VAD and turn detection, pocketsphinx) in the flow's wire
               format, on a virtual clock; reports what was said and heard, and the word error rate
  --scenario S eval: only the scenario S (its file name without .yaml, or its name)
  --offline    eval: the offline rules engine, whatever services.yaml names
  --from-session ID  eval: write a scenario from a finished call (MONGODB_URI): the other
               party's lines with their timing and the outcome it reached, every patient field
               replaced by a synthetic value; to stdout or --out FILE

check loads the flow in the call sandbox and reports, with file and line, what does not fit the
schema: fields read or written that it lacks, unknown template references, bad nodes; and
validates services.yaml. Exit status 0 when clean.

eval plays every <dir>/scenarios/*.yaml (schemas/scenario.schema.json) through the call sandbox
and engine, with the flow's language model (services.yaml; the offline rules engine without a
key), on a virtual clock, and prints per scenario pass or FAIL, the turns taken and what
differed from its expect. Exit status 0 when every scenario passes, 1 when one fails, 2 when a
scenario file is invalid.]]

local function die(msg, code)
  io.stderr:write("sova flow: ", msg, "\n")
  return code or 2
end

local read = require("sova.config").read_file

local function parse(args)
  local o = { positional = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--schema" or a == "--patient" or a == "--script" or a == "--scenario" or a == "--out"
       or a == "--from-session" or a == "--seed" then
      local key = a:sub(3):gsub("%-", "_")
      o[key] = args[i + 1]
      if not o[key] then return nil, a .. " needs a value" end
      i = i + 2
    elseif a == "--json" or a == "--db" or a == "--speech" or a == "--offline" or a == "--audio" then
      o[a:sub(3)] = true
      i = i + 1
    elseif a == "--help" or a == "-h" then
      o.help = true
      i = i + 1
    elseif a:sub(1, 2) == "--" then
      return nil, "unknown option " .. a
    else
      o.positional[#o.positional + 1] = a
      i = i + 1
    end
  end
  return o
end

-- clients/<org>/<workflow>[/] -> org, workflow
local function names(dir)
  local org, wf = dir:gsub("/+$", ""):match("([%w_]+)/([%w_]+)$")
  return org, wf
end

-- The workflow's patient_schema fields | nil, err
local function fields_for(dir, o)
  local org, wf = names(dir)
  if not org then return nil, dir .. " is not clients/<org_slug>/<workflow>" end
  local function from_definition(def, source)
    if type(def) ~= "table" then return nil, source .. " is not a schema" end
    if def.workflows then
      local w = def.workflows[wf]
      if not w then return nil, source .. " has no workflow " .. wf end
      return w.patient_schema and w.patient_schema.fields
    end
    if def.fields then return def.fields end
    if def[1] then return def end
    return nil, source .. ": expected {fields: [...]}, a list of fields, or an organization"
  end
  if o.schema then
    local text = read(o.schema)
    if not text then return nil, "cannot read " .. o.schema end
    local ok, def = pcall(cjson.decode, text)
    if not ok then return nil, o.schema .. " is not JSON" end
    return from_definition(def, o.schema)
  end
  if o.db or os.getenv("MONGODB_URI") then
    local ok, err = core.db.open(config.mongodb_uri())
    if not ok then return nil, err end
    local doc, derr = core.db.unscoped():find_one("organizations", { slug = org })
    if doc == nil then return nil, "database: " .. tostring(derr) end
    if not doc then return nil, "no organization " .. org .. " in the database" end
    return from_definition(doc, "the database's " .. org)
  end
  local path = config.root_dir() .. "/schemas/organizations/" .. org .. ".json"
  local text = read(path)
  if not text then return nil, "no schema: pass --schema FILE, --db, or add " .. path end
  return from_definition(cjson.decode(text), path)
end

local function where(err)
  if err.source and err.line then return ("%s:%d: "):format(err.source, err.line) end
  return ""
end

function M.check(dir, o)
  local fields, ferr = fields_for(dir, o)
  if not fields then return die(ferr) end
  local out, sha256 = checker.check_dir(dir, fields)
  local cfg, sproblems = services.load(dir .. "/services.yaml")
  if not cfg then
    for _, p in ipairs(sproblems) do
      local at = (p.path and p.path ~= "") and (p.path .. ": ") or ""
      out[#out + 1] = { file = p.file or (dir .. "/services.yaml"), line = p.line, message = at .. p.message }
    end
  end
  local tel = cfg and services.telephony_options(cfg)
  if tel then
    -- the number dialled comes from the patient record: a phone field of this workflow
    local def = flowlib.fields_by_key(fields)[tel.to_field]
    if type(def) ~= "table" or def.type ~= "phone" then
      local text = read(dir .. "/services.yaml") or ""
      local at = text:find("to_field:", 1, true)
      out[#out + 1] = { file = dir .. "/services.yaml", line = at and select(2, text:sub(1, at):gsub("\n", "")) + 1,
        message = ("/telephony/to_field: %q is not a phone field of the workflow's patient_schema"):format(tostring(tel.to_field)) }
    end
  end
  table.sort(out, function(a, b)
    if a.file ~= b.file then return a.file < b.file end
    return (a.line or math.huge) < (b.line or math.huge)
  end)
  if #out == 0 then
    print(("%s: ok (%d fields in the schema; flow sha256 %s)"):format(dir, #fields, sha256))
    return 0
  end
  io.stdout:write(checker.format(out), "\n")
  return 1
end

function M.simulate(dir, o)
  if not o.patient then return die("simulate needs --patient FILE.json") end
  local fields, ferr = fields_for(dir, o)
  if not fields then return die(ferr) end
  local ptext = read(o.patient)
  if not ptext then return die("cannot read " .. o.patient) end
  local okp, patient = pcall(cjson.decode, ptext)
  if not okp or type(patient) ~= "table" then return die(o.patient .. " is not a JSON object") end
  local host, err = sandbox_host.new(dir)
  if not host then return die(where(err) .. tostring(err.message), 1) end
  local adapter, note = llm.for_flow(dir)
  local quiet = o.json
  local function show(ev)
    if quiet then return end
    if ev.type == "transcript" then
      if ev.role == "assistant" then print("agent: " .. ev.text)
      elseif o.script then print("  you: " .. ev.text) end -- typed lines are on the screen already
    elseif ev.type == "status" then
      print(("[status: %s]"):format(ev.status))
    elseif ev.type == "transfer" then
      print(("[transfer to %s]"):format(tostring(ev.to)))
    elseif ev.type == "dtmf" then
      print(("[dtmf %s]"):format(tostring(ev.digits)))
    elseif ev.type == "error" then
      print(("[error: %s]"):format(tostring(ev.message or ev.reason)))
    end
  end
  if note and not quiet then print("[" .. note .. "]") end
  local call = engine.new { host = host, llm = adapter, patient = patient, fields = fields, on_event = show }
  call:start()
  local lines
  if o.script then
    local text = read(o.script)
    if not text then return die("cannot read " .. o.script) end
    lines = {}
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      line = line:gsub("^%s+", ""):gsub("%s+$", "")
      if line ~= "" and line:sub(1, 1) ~= "#" then lines[#lines + 1] = line end
    end
  end
  local i = 0
  local function next_line()
    if lines then
      i = i + 1
      return lines[i]
    end
    io.stdout:write("> ")
    io.stdout:flush()
    local l = io.read("*l")
    if l == nil or l == "" then return nil end
    return l
  end
  local terminal = { completed = true, failed = true, no_answer = true, voicemail = true }
  while not terminal[call.status] do
    local line = next_line()
    if not line or line == "/hangup" then
      call:hangup()
      break
    end
    call:user_says(line)
  end
  host:close()
  if quiet then
    local transcript = json.array()
    for _, m in ipairs(call.transcript) do transcript[#transcript + 1] = { role = m.role, text = m.text } end
    print(json.encode({
      status = call.status, reason = call.reason, outcome = call.outcome, summary = call.summary,
      transcript = transcript, flow = { path = dir, sha256 = host.sha256 },
    }))
  else
    print(("[call ended: %s%s]"):format(call.status, call.reason and (" - " .. tostring(call.reason)) or ""))
    local keys = {}
    for k in pairs(call.outcome or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do print(("  %s = %s"):format(k, tostring(call.outcome[k]))) end
  end
  return 0
end

-- the language model the flow's calls use, in words
local function llm_label(dir, note)
  if note then return "offline rules engine (" .. note .. ")" end
  local cfg = services.load(dir .. "/services.yaml")
  if cfg and cfg.llm.provider == "openai" then
    return "openai " .. tostring(cfg.llm.model) .. (cfg.llm.base_url and (" at " .. cfg.llm.base_url) or "")
  end
  return "offline rules engine"
end

function M.eval(dir, o)
  local seed
  if o.seed then
    seed = tonumber(o.seed)
    if not seed or seed % 1 ~= 0 then return die("--seed needs a whole number") end
  end
  if o.audio and (o.speech or o.seed) then return die("--audio hears real audio: it takes neither --speech nor --seed") end
  local fields, ferr = fields_for(dir, o)
  if not fields then return die(ferr) end
  local adapter, note = llm.for_flow(dir)
  if o.offline then adapter, note = require("sova.llm.rules").new(), "--offline" end
  local report, problems = eval.run(dir, fields, {
    llm = adapter, llm_label = llm_label(dir, note), speech = o.speech, seed = seed, only = o.scenario, audio = o.audio,
  })
  if not report then return die("the scenarios are not valid:\n" .. eval.format_problems(problems)) end
  if o.json then
    print(json.encode(report))
  else
    print(eval.format(report))
  end
  return report.failed == 0 and 0 or 1
end

-- eval --from-session ID: the session's scenario, from the database the CLI uses elsewhere
function M.from_session(o)
  local bson = core.bson
  local oid = type(o.from_session) == "string" and o.from_session:match("^%x+$") and #o.from_session == 24
    and bson.oid(o.from_session)
  if not oid then return die("--from-session needs a session id (24 hex digits)") end
  if not os.getenv("MONGODB_URI") then return die("--from-session reads the database: set MONGODB_URI") end
  local ok, err = core.db.open(config.mongodb_uri())
  if not ok then return die(err) end
  local h = core.db.unscoped()
  local session, serr = h:find_one("sessions", { _id = oid })
  if session == nil then return die("database: " .. tostring(serr)) end
  if not session then return die("no session " .. o.from_session, 1) end
  local org, oerr = h:find_one("organizations", { _id = session.organization_id })
  if org == nil then return die("database: " .. tostring(oerr)) end
  local wf = org and org.workflows and org.workflows[session.workflow]
  if not (wf and wf.patient_schema) then return die("the session's workflow is not in its organization", 1) end
  local text, berr = require("sova.tools.scenario").for_session(h, session, wf.patient_schema.fields or {})
  if not text then return die(berr, 1) end
  if o.out then
    local f, ferr = io.open(o.out, "w")
    if not f then return die("cannot write " .. o.out .. ": " .. tostring(ferr)) end
    f:write(text)
    f:close()
    io.stderr:write("sova flow: wrote ", o.out, "\n")
  else
    io.stdout:write(text)
  end
  return 0
end

function M.main(args)
  local sub = args[1]
  if not sub or sub == "--help" or sub == "-h" or sub == "help" then
    print(USAGE)
    return sub and 0 or 2
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  local o, err = parse(rest)
  if not o then return die(err) end
  if o.help then
    print(USAGE)
    return 0
  end
  if sub == "eval" and o.from_session then return M.from_session(o) end
  local dir = o.positional[1]
  if not dir then return die("which flow directory? (see sova flow --help)") end
  if sub == "check" then return M.check(dir, o) end
  if sub == "simulate" then return M.simulate(dir, o) end
  if sub == "eval" then return M.eval(dir, o) end
  return die("unknown command " .. sub .. " (check, simulate, eval)")
end

return M

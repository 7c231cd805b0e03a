-- Support for the flow specs: schemas of the demo clinics, patients, and scripted calls with the
-- offline rules engine, the flow in the call sandbox (core/bind/sandbox.c through
-- sova.call.sandbox_host), as in a real call.
--
--   local S = require("flows.support")
--   local call = S.call("demo_clinic_alpha", "prior_auth", { supervisor_phone = false })
--   S.script(call, { "Sure, what's the member ID?", ... })
--   S.said(call)            -- everything the agent said, one string
--   S.assert_outcome_valid(call)
local cjson = require("cjson")
local schema = require("sova.sandboxed.schema")
local sandbox_host = require("sova.call.sandbox_host")
local checker = require("sova.tools.flow_check")
local engine = require("sova.call.engine")
local rules = require("sova.llm.rules")
local patients = require("fixtures.patients")

local S = {}

local ORG_KEY = { demo_clinic_alpha = "alpha", demo_clinic_beta = "beta" }

local function read_json(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return cjson.decode(text)
end

local function deep_copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = deep_copy(v) end
  return c
end
S.deep_copy = deep_copy

function S.fields(org, workflow)
  return read_json("schemas/organizations/" .. org .. ".json").workflows[workflow].patient_schema.fields
end

function S.field(org, workflow, key)
  for _, f in ipairs(S.fields(org, workflow)) do if f.key == key then return f end end
end

-- patient(org, workflow, overrides): a fresh copy of the fixture patient; false removes a field
function S.patient(org, workflow, overrides)
  local p = deep_copy(patients[ORG_KEY[org]][workflow])
  for k, v in pairs(overrides or {}) do
    if v == false then p[k] = nil else p[k] = v end
  end
  return p
end

-- a clock that advances one second per reading (transcript times are deterministic)
function S.clock()
  local t = 0
  return function() t = t + 1; return t end
end

-- host(dir) -> the flow loaded in its sandbox
function S.host(dir)
  local host, err = sandbox_host.new(dir)
  assert(host, "sandbox host: " .. tostring(err and err.message))
  return host
end

-- problems of a client flow, as `sova flow check` finds them, and their text
function S.check(org, workflow)
  local problems = checker.check_dir("clients/" .. org .. "/" .. workflow, S.fields(org, workflow))
  return problems, checker.format(problems)
end

-- call(org, workflow, overrides, opts) -> engine call (not started), host
--   opts.llm: default the rules engine
function S.call(org, workflow, overrides, opts)
  opts = opts or {}
  local host = S.host("clients/" .. org .. "/" .. workflow)
  local c = engine.new {
    host = host,
    llm = opts.llm or rules.new(),
    patient = S.patient(org, workflow, overrides),
    fields = S.fields(org, workflow),
    clock = S.clock(),
  }
  c.org, c.workflow = org, workflow
  return c, host
end

-- script(call, lines): starts the call (if needed) and says each line; returns all events
function S.script(call, lines)
  local all = {}
  local function add(evs) for _, e in ipairs(evs) do all[#all + 1] = e end end
  if call.status == "queued" then add(call:start()) end
  for _, line in ipairs(lines) do add(call:user_says(line)) end
  return all
end

-- the agent's lines, joined
function S.said(call)
  local out = {}
  for _, e in ipairs(call.transcript) do
    if e.role == "assistant" then out[#out + 1] = e.text end
  end
  return table.concat(out, "\n")
end

function S.assistant_lines(call)
  local out = {}
  for _, e in ipairs(call.transcript) do
    if e.role == "assistant" then out[#out + 1] = e.text end
  end
  return out
end

function S.events_of(call, ty)
  local out = {}
  for _, e in ipairs(call.events) do if e.type == ty then out[#out + 1] = e end end
  return out
end

-- every outcome field: declared in the schema, a valid value, already normalized
function S.assert_outcome_valid(call)
  local by_key = {}
  for _, f in ipairs(S.fields(call.org, call.workflow)) do by_key[f.key] = f end
  for k, v in pairs(call.outcome) do
    assert(by_key[k], "outcome field " .. k .. " is not in the schema")
    assert(not schema.SYSTEM_FIELDS[k], "outcome field " .. k .. " is a system field")
    local out, why = schema.check_field_value(by_key[k], v)
    assert(out ~= nil, "outcome " .. k .. " = " .. tostring(v) .. " is invalid: " .. tostring(why))
    assert(out == v, "outcome " .. k .. " is not normalized: " .. tostring(v) .. " vs " .. tostring(out))
  end
end

-- a transcript is ordered, times never go back, roles are assistant/user
function S.assert_transcript_sane(call)
  local last = -1
  for i, e in ipairs(call.transcript) do
    assert(e.role == "assistant" or e.role == "user", "transcript " .. i .. " has role " .. tostring(e.role))
    assert(type(e.text) == "string" and e.text ~= "", "transcript " .. i .. " has no text")
    assert(type(e.t) == "number" and e.t >= last, "transcript " .. i .. " goes back in time")
    last = e.t
  end
end

-- no word about the patient's care in anything the agent said
function S.assert_no_care_details(call, words)
  local said = S.said(call):lower()
  for _, w in ipairs(words) do
    assert(not said:find(w:lower(), 1, true),
      "the agent said care detail '" .. w .. "' before identity was verified:\n" .. S.said(call))
  end
end

return S

-- sova.tools.scenario: a finished call as a regression scenario for `sova flow eval`, without
-- PHI. Used by `sova flow eval --from-session ID` and GET /api/sessions/{id}/scenario.
--
--   local scenario = require("sova.tools.scenario")
--   local doc = scenario.build { session = s, patient = p, fields = schema_fields, reads = flow_reads }
--   local text = scenario.encode(doc)    -- YAML, as schemas/scenario.schema.json describes
--
-- Every field the flow reads gets a synthetic value of its type (names from a fixed list, dates,
-- phone numbers in the 555-01xx range, codes of the same shape), or false when the patient had
-- none (so the same branches run). Every value of the patient's record (read or not) is replaced
-- wherever the other party said it, in the written and spoken forms people use (names and each
-- of their words, dates as "March 15th, 1985", "03/15/1985", in words; codes spaced or in words;
-- phone numbers with any separators), by the synthetic value in the same form, so the replayed
-- call takes the same path. The agent's lines are left out (they carry the patient's data).
-- The lines keep their timing (seconds since the agent's previous line), the hang-up when the
-- other party ended the call; expect is the session's status, outcome, missing fields and turns.
-- A phone call's scenario is one (phone: true: a flow that listens first does), its first line
-- timed from when the line was answered (the session's answered event), not from the ringing.
local bit = require("bit")
local cjson = require("cjson")
local speechify = require("sova.tools.speechify")

local M = {}

local FIRST = { "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Drew",
  "Robin", "Skyler", "Parker", "Reese", "Rowan", "Emerson" }
local LAST = { "Rivera", "Bennett", "Hayes", "Foster", "Brooks", "Sullivan", "Price", "Ellis", "Hughes",
  "Porter", "Reyes", "Morales", "Palmer", "Warren", "Fleming", "Dalton" }
local COMPANIES = { "Blue Harbor Health", "Summit Mutual", "Evergreen Benefits", "Lakeside Health Plan" }
local FACILITIES = { "Riverside Surgical Center", "Northgate Medical Center", "Hillcrest Clinic", "Bayview Health Center" }
local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December" }

-- a number from a string, stable across runs (FNV-1a)
local function hash(s)
  local h = 2166136261
  for i = 1, #s do h = (bit.bxor(h, s:byte(i)) * 16777619) % 4294967296 end
  return h
end

local function pick(list, key) return list[hash(key) % #list + 1] end

-- the same shape with other characters: letters -> letters, digits -> digits (keeps the case)
local function reshape(value, key)
  local h = hash(key)
  local out = {}
  for i = 1, #value do
    local c = value:sub(i, i)
    h = (h * 1103515245 + 12345) % 2147483648
    if c:find("%d") then
      out[i] = tostring(h % 10)
    elseif c:find("%u") then
      out[i] = string.char(65 + h % 26)
    elseif c:find("%l") then
      out[i] = string.char(97 + h % 26)
    else
      out[i] = c
    end
  end
  local s = table.concat(out)
  if s == value then s = s:gsub("%d", function(d) return tostring((tonumber(d) + 1) % 10) end) end
  return s
end

local function person(key) return pick(FIRST, key .. "/first") .. " " .. pick(LAST, key .. "/last") end

-- synthetic(def, real, key) -> a value of the field's type
function M.synthetic(def, real, key)
  local t, k = def.type, def.key or ""
  if t == "date" then
    local h = hash(key)
    return ("%04d-%02d-%02d"):format(1940 + h % 60, 1 + math.floor(h / 60) % 12, 1 + math.floor(h / 720) % 28)
  elseif t == "datetime" then
    local h = hash(key)
    return ("2027-%02d-%02dT%02d:%s:00"):format(1 + h % 12, 1 + math.floor(h / 12) % 28,
      8 + math.floor(h / 336) % 9, math.floor(h / 3024) % 2 == 0 and "00" or "30")
  elseif t == "phone" then
    return ("+1515555%04d"):format(100 + hash(key) % 100)
  elseif t == "email" then
    return ("patient%d@example.com"):format(hash(key) % 10000)
  elseif t == "number" then
    local lo, hi = tonumber(def.min) or 0, tonumber(def.max) or 10
    return lo + hash(key) % (math.floor(hi - lo) + 1)
  elseif t == "boolean" then
    return hash(key) % 2 == 0
  elseif t == "select" then
    local options = def.options or {}
    return options[hash(key) % math.max(#options, 1) + 1] or real
  end
  -- strings: codes and numbers keep their shape; names by what the field holds
  if type(real) == "string" and real:find("%d") then return reshape(real, key) end
  if k:find("company") or k:find("insur") then return pick(COMPANIES, key) end
  if k:find("facility") or k:find("clinic") or k:find("hospital") then return pick(FACILITIES, key) end
  if k:find("provider") or k:find("doctor") or k:find("physician") then return "Dr. " .. person(key) end
  if k:find("name") then return person(key) end
  return "Synthetic " .. (def.label or k)
end

---------------------------------------------------------------------------------------------
-- the forms a value takes in speech, paired with the synthetic value's same forms

local function ordinal_suffix(d)
  if d % 100 >= 11 and d % 100 <= 13 then return "th" end
  return ({ "st", "nd", "rd" })[d % 10] or "th"
end

local function date_forms(iso)
  local y, m, d = tostring(iso):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  if not y then return {} end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local month = MONTHS[m]
  if not month then return {} end
  local ord = d .. ordinal_suffix(d)
  local forms = {
    ("%04d-%02d-%02d"):format(y, m, d),
    ("%02d/%02d/%04d"):format(m, d, y), ("%d/%d/%04d"):format(m, d, y), ("%02d/%02d/%02d"):format(m, d, y % 100),
    ("%s %s, %d"):format(month, ord, y), ("%s %s %d"):format(month, ord, y),
    ("%s %d, %d"):format(month, d, y), ("%s %d %d"):format(month, d, y),
    ("%s. %d, %d"):format(month:sub(1, 3), d, y), ("%s %d, %d"):format(month:sub(1, 3), d, y),
    ("the %s of %s, %d"):format(ord, month, y), ("%s of %s, %d"):format(ord, month, y),
    ("%d %s %d"):format(d, month, y),
    ("%s %s"):format(month, ord), ("%s %d"):format(month, d),
  }
  forms[#forms + 1] = speechify.rewrite(forms[5], { rate = 0 })
  return forms
end

local function phone_forms(p)
  local digits = tostring(p):gsub("%D", "")
  local ten = #digits == 11 and digits:sub(1, 1) == "1" and digits:sub(2) or digits
  local forms = { tostring(p), digits }
  if #ten == 10 then
    local a, b, c = ten:sub(1, 3), ten:sub(4, 6), ten:sub(7)
    for _, f in ipairs({ "%s-%s-%s", "(%s) %s-%s", "%s %s %s", "%s.%s.%s", "(%s)%s-%s" }) do forms[#forms + 1] = f:format(a, b, c) end
    forms[#forms + 1] = ten
    forms[#forms + 1] = speechify.rewrite(ten, { rate = 0 })
  end
  return forms
end

local function string_forms(s)
  local forms = { s }
  if s:find("%d") then
    forms[#forms + 1] = (s:gsub("%s", ""):gsub(".", "%0 ")):sub(1, -2)   -- "A B C 1 2 3"
    local letters, digits = s:match("^(%a+)[%s%-]?(%d+)$")
    if letters then
      forms[#forms + 1] = letters .. " " .. digits
      forms[#forms + 1] = letters .. "-" .. digits
      forms[#forms + 1] = digits
    end
  end
  forms[#forms + 1] = speechify.rewrite(s, { rate = 0 })
  return forms
end

-- words of a name-like value ("Dr. Jane Wilson" -> Jane, Wilson), each paired by position
local function word_pairs(real, fake, out)
  local rw, fw = {}, {}
  for w in real:gmatch("%a[%a'%-]+") do if #w >= 3 and w ~= "Dr" then rw[#rw + 1] = w end end
  for w in fake:gmatch("%a[%a'%-]+") do if #w >= 3 and w ~= "Dr" then fw[#fw + 1] = w end end
  if #fw == 0 then return end
  for i, w in ipairs(rw) do out[#out + 1] = { w, fw[math.min(i, #fw)] } end
end

-- replacements(values, fakes, defs) -> { {real form, synthetic form}, ... }, longest first
function M.replacements(values, fakes, defs)
  local pairs_out = {}
  for key, real in pairs(values) do
    local fake = fakes[key]
    local def = defs[key] or {}
    if fake ~= nil and (type(real) == "string" or type(real) == "number") then
      local rf, ff
      if def.type == "date" or def.type == "datetime" then
        rf, ff = date_forms(real), date_forms(fake)
      elseif def.type == "phone" then
        rf, ff = phone_forms(real), phone_forms(fake)
      else
        rf, ff = string_forms(tostring(real)), string_forms(tostring(fake))
      end
      for i, f in ipairs(rf) do
        if #f >= 2 and ff[i] then pairs_out[#pairs_out + 1] = { f, ff[i] } end
      end
      if type(real) == "string" and type(fake) == "string" and not real:find("%d") then word_pairs(real, fake, pairs_out) end
    end
  end
  table.sort(pairs_out, function(a, b) if #a[1] ~= #b[1] then return #a[1] > #b[1] end return a[1] < b[1] end)
  return pairs_out
end

-- a literal, case-insensitive Lua pattern for s, at word boundaries
local function literal(s)
  local p = s:gsub("%p", "%%%0"):gsub("%a", function(c) return "[" .. c:lower() .. c:upper() .. "]" end)
  if s:find("^%w") then p = "%f[%w]" .. p end
  if s:find("%w$") then p = p .. "%f[%W]" end
  return p
end

-- scrub(text, replacements) -> the text with every real form replaced by its synthetic one
function M.scrub(text, reps)
  -- through placeholders without letters or digits, so a synthetic value is never replaced again
  local placed = {}
  for _, r in ipairs(reps) do
    text = text:gsub(literal(r[1]), function()
      placed[#placed + 1] = r[2]
      return "\1" .. ("\3"):rep(#placed) .. "\2"
    end)
  end
  return (text:gsub("\1(\3+)\2", function(n) return placed[#n] end))
end

---------------------------------------------------------------------------------------------
-- building

local function ms(v)
  if type(v) == "table" and v["$date"] then return v["$date"] end
  return nil
end

local function hex(v) return type(v) == "table" and v["$oid"] or tostring(v) end

local TERMINAL = { completed = true, incomplete = true, no_answer = true, voicemail = true, failed = true }

-- build{session, patient, fields, reads} -> scenario table | nil, err
function M.build(o)
  local s = o.session
  if not TERMINAL[s.status] then return nil, "the session has not ended (status " .. tostring(s.status) .. ")" end
  local defs = {}
  for _, f in ipairs(o.fields or {}) do if type(f) == "table" and f.key then defs[f.key] = f end end
  local patient = o.patient or {}
  local sid = hex(s._id)

  local read = {}
  for _, key in ipairs(o.reads or {}) do read[key] = true end
  -- synthetic values for the fields the flow reads and every free value of the record (names,
  -- dates, phones, codes: what can identify); a select's, number's or boolean's value the flow
  -- does not read is the schema's vocabulary, kept
  local values, fakes = {}, {}
  for key, v in pairs(patient) do
    local def = defs[key]
    local free = def and def.type ~= "select" and def.type ~= "number" and def.type ~= "boolean"
    if def and (free or read[key]) and (type(v) == "string" or type(v) == "number" or type(v) == "boolean") then
      values[key] = v
      fakes[key] = M.synthetic(def, v, sid .. "/" .. key)
    end
  end
  local reps = M.replacements(values, fakes, defs)

  local synthetic_patient = {}
  for _, key in ipairs(o.reads or {}) do
    if defs[key] then
      if fakes[key] ~= nil then synthetic_patient[key] = fakes[key] else synthetic_patient[key] = false end
    end
  end

  local lines, turns = {}, 0
  local messages = s.transcript and s.transcript.messages or {}
  local phone = s.mode == "phone"
  local last_t = ms(s.started_at)
  for _, ev in ipairs(phone and type(s.events) == "table" and s.events or {}) do
    if type(ev) == "table" and ev.type == "answered" and ms(ev.timestamp) then last_t = ms(ev.timestamp); break end
  end
  for _, m in ipairs(messages) do
    local t = ms(m.timestamp)
    if m.role == "user" and type(m.content) == "string" then
      local text = M.scrub(m.content, reps)
      local after = (t and last_t) and math.floor((t - last_t) / 1000 + 0.5) or nil
      if after and after ~= 2 then lines[#lines + 1] = { say = text, after = math.max(after, 0) }
      else lines[#lines + 1] = text end
      turns = turns + 1
    end
    last_t = t or last_t
  end
  local ended = ms(s.ended_at)
  local gap = (ended and last_t) and math.floor((ended - last_t) / 1000 + 0.5) or 0
  if s.ended_by == "other_party" then
    if gap >= 1 then lines[#lines + 1] = { silence = gap } end
    lines[#lines + 1] = "hangup"
  elseif #lines == 0 then
    lines[#lines + 1] = { silence = math.max(gap, 1) }
  end

  local outcome = {}
  for key, v in pairs(s.outcome or {}) do
    outcome[key] = type(v) == "string" and M.scrub(v, reps) or v
    -- a written value equal to a patient value the flow read becomes the synthetic one
    if read[key] and values[key] ~= nil and v == values[key] then outcome[key] = fakes[key] end
  end
  local expect = { status = s.status, outcome = outcome, max_turns = math.max(turns, 1) }
  if type(s.missing) == "table" and #s.missing > 0 then expect.missing = s.missing end
  return {
    name = ("Session %s (%s, %s)"):format(sid, tostring(s.workflow), s.status),
    tags = { "from-session" },
    phone = phone or nil,
    patient = synthetic_patient,
    lines = lines,
    expect = expect,
    source = { session = sid, flow = s.flow and s.flow.path },
  }
end

-- The fields the session's flow reads (described in its sandbox) | nil, err
local function flow_reads(session)
  local path = session.flow and session.flow.path
  if type(path) ~= "string" or not path:match("^clients/[%w_]+/[%w_]+$") then
    return nil, "the session names no flow"
  end
  local host, err = require("sova.call.sandbox_host").new(require("sova.config").root_dir() .. "/" .. path)
  if not host then return nil, "the flow " .. path .. " cannot be loaded: " .. tostring(err and err.message) end
  local desc = host:describe()
  host:close()
  return desc and desc.reads or {}
end

-- for_session(h, session, fields) -> YAML text | nil, err: the scenario of a session read
-- through the database handle h (scoped to the session's org in the API), fields the
-- workflow's patient_schema fields. The patient record is needed to replace its values.
function M.for_session(h, session, fields)
  local patient, perr = h:find_one("patients", { _id = session.patient_id })
  if patient == nil then return nil, "database: " .. tostring(perr) end
  if not patient then return nil, "the session's patient record is gone: its values cannot be replaced" end
  local reads, rerr = flow_reads(session)
  if not reads then return nil, rerr end
  local doc, berr = M.build { session = session, patient = patient, fields = fields, reads = reads }
  if not doc then return nil, berr end
  return M.encode(doc)
end

---------------------------------------------------------------------------------------------
-- YAML (strings as JSON strings, which YAML reads as double-quoted scalars)

local function scalar(v)
  if type(v) == "string" then return (cjson.encode(v):gsub("\\/", "/")) end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "number" then
    if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  end
  return "null"
end

local sorted_keys = require("sova.sandboxed.params").sorted_keys

local function mapping(out, t, indent)
  local keys = sorted_keys(t)
  if #keys == 0 then
    out[#out] = out[#out] .. " {}"
    return
  end
  for _, k in ipairs(keys) do out[#out + 1] = indent .. k .. ": " .. scalar(t[k]) end
end

-- encode(scenario) -> YAML text
function M.encode(sc)
  local out = {
    ("# A scenario from session %s of %s, written by sova (sova flow eval --from-session)."):format(
      sc.source and sc.source.session or "?", sc.source and sc.source.flow or "?"),
    "# The patient's fields are synthetic; the other party's lines are the session's, with the",
    "# patient's values replaced by the synthetic ones.",
    "name: " .. scalar(sc.name),
    "tags: [" .. table.concat(sc.tags or {}, ", ") .. "]",
  }
  if sc.phone then out[#out + 1] = "phone: true" end
  out[#out + 1] = "patient:"
  mapping(out, sc.patient or {}, "  ")
  out[#out + 1] = "lines:"
  for _, l in ipairs(sc.lines) do
    if l == "hangup" then out[#out + 1] = "  - hangup"
    elseif type(l) == "string" then out[#out + 1] = "  - " .. scalar(l)
    elseif l.silence then out[#out + 1] = "  - { silence: " .. scalar(l.silence) .. " }"
    else out[#out + 1] = "  - { say: " .. scalar(l.say) .. ", after: " .. scalar(l.after) .. " }" end
  end
  local e = sc.expect
  out[#out + 1] = "expect:"
  out[#out + 1] = "  status: " .. e.status
  out[#out + 1] = "  outcome:"
  mapping(out, e.outcome or {}, "    ")
  if e.missing then out[#out + 1] = "  missing: [" .. table.concat(e.missing, ", ") .. "]" end
  out[#out + 1] = "  max_turns: " .. scalar(e.max_turns)
  return table.concat(out, "\n") .. "\n"
end

return M

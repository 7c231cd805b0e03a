-- sova.services: a flow's services.yaml — which providers its calls use (llm, stt, tts, telephony),
-- their models and voices, and the NAMES of the environment variables holding their secrets.
--
--   local services = require("sova.services")
--   local cfg, problems = services.load("clients/demo_clinic_alpha/prior_auth/services.yaml")
--   -- problems: { {path = "/llm/model", message = "is required", file = <path>, line = <n or nil>}, ... }
--   -- cfg: the file's content with defaults, and the language model resolved:
--   --   cfg.llm.provider   "openai" or "rules": the provider calls will use
--   --   cfg.llm.configured_provider  what the file asked for
--   --   cfg.llm.api_key_env  the variable holding the key (OPENAI_API_KEY by default for the
--   --                        OpenAI API; nil for a base_url without api_key_env: no key is sent)
--   --   cfg.fallback (also cfg.llm.fallback)  set when openai was asked for but its key variable
--   --                        is unset: "no OPENAI_API_KEY set: using the offline rules engine"
--   --   cfg.stt / cfg.tts / cfg.telephony  {provider = "none"} when absent
--   --   cfg.stt.engine / cfg.tts.engine  the speech engines voice calls will use: the provider,
--   --                        or the offline engine (pocketsphinx, flite) when a cloud provider's
--   --                        key variable is unset (cfg.stt.fallback / cfg.tts.fallback say so);
--   --                        nil for "none" (text calls only)
--   --   cfg.voice            turn taking, defaults filled (vad, min/max_silence_ms, barge_in)
--   local opts = services.llm_options(cfg)   -- options for sova.llm.openai.new, key read now
--   local speech = services.speech_options(cfg) -- engines and keys for a voice call, keys read now
--   local tel = services.telephony_options(cfg)      -- phone calls: what to dial, limits, AMD
--   local creds = services.telephony_credentials(tel) -- the Twilio account, read now (never logged)
--
-- The file is checked against schemas/services.schema.json (closed objects, secrets only through
-- *_env names), and every string value is also checked for the look of a secret (sk-..., long
-- hex tokens, "Bearer ..."), so a key pasted into the file is refused without being echoed back.
local core = require("sova.core")
local config = require("sova.config")
local jsonschema = require("sova.jsonschema")

local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local find, format, match = string.find, string.format, string.match

local M = {}

M.DEFAULT_OPENAI_KEY_ENV = "OPENAI_API_KEY"

-- Speech providers: the variable holding each cloud provider's key unless the file names another,
-- and the offline engine that runs in its place without one. whisper has no engine in Debian 12.
local SPEECH = {
  stt = {
    deepgram = { key_env = "DEEPGRAM_API_KEY", offline = "pocketsphinx" },
    whisper = { offline = "pocketsphinx" },
    pocketsphinx = {},
  },
  tts = {
    cartesia = { key_env = "CARTESIA_API_KEY", offline = "flite" },
    elevenlabs = { key_env = "ELEVENLABS_API_KEY", offline = "flite" },
    flite = {},
    espeak = {},
  },
}

-- Phone calls (telephony twilio): the variables read when the file names none, and the limits a
-- call gets unless the file says.
M.TELEPHONY_DEFAULTS = { ring_seconds = 30, max_call_seconds = 3600, voicemail = false,
  account_sid_env = "TWILIO_ACCOUNT_SID", auth_token_env = "TWILIO_AUTH_TOKEN", from_number_env = "TWILIO_FROM_NUMBER" }

M.VOICE_DEFAULTS = { vad = "energy", min_silence_ms = 500, max_silence_ms = 2000,
  barge_in = { enabled = true, min_ms = 400, min_words = 2 } }

-- The services.yaml JSON Schema (schemas/services.schema.json), read once.
function M.schema() return config.schema_document("services.schema.json") end

---------------------------------------------------------------------------------------------
-- secrets pasted where names belong

local SECRET_PREFIXES = { "sk-", "sk_", "gsk_", "xai-", "hf_", "AKIA", "ghp_", "xoxb-", "Bearer ", "Basic " }

-- Does a string look like a credential rather than a name? Never returns the value.
local function looks_secret(s)
  for _, p in ipairs(SECRET_PREFIXES) do
    if s:sub(1, #p) == p and #s > #p + 8 then return true end
  end
  if find(s, "^%x+$") and #s >= 32 then return true end -- Twilio auth tokens, Deepgram keys
  if #s >= 40 and find(s, "^[%w_%-+/=]+$") and find(s, "%d") and find(s, "%a") then return true end
  return false
end
M.looks_secret = looks_secret

local function scan_secrets(v, path, problems)
  if type(v) == "table" then
    for k, x in pairs(v) do
      local key = tostring(k)
      if not (type(x) == "string" and find(key, "_env$")) then
        scan_secrets(x, path .. "/" .. key, problems)
      end
    end
  elseif type(v) == "string" and looks_secret(v) then
    problems[#problems + 1] = { path = path, message = "looks like a secret value: put it in an environment "
      .. "variable and name that variable in an *_env property instead" }
  end
end

---------------------------------------------------------------------------------------------
-- loading

local function problem(file, message, path)
  return { path = path or "", message = message, file = file, line = tonumber(match(message, "^line (%d+):")) }
end

-- check(doc[, file]) -> true | nil, problems: the schema and the secret scan, on decoded data.
function M.check(doc, file)
  local problems = {}
  local ok, errs = jsonschema.validate(M.schema(), doc)
  if not ok then
    for _, e in ipairs(errs) do problems[#problems + 1] = problem(file, e.message, e.path) end
  end
  local secrets = {}
  scan_secrets(doc, "", secrets)
  for _, e in ipairs(secrets) do problems[#problems + 1] = problem(file, e.message, e.path) end
  local v = type(doc) == "table" and doc.voice
  if type(v) == "table" and type(v.min_silence_ms) == "number" and type(v.max_silence_ms) == "number"
      and v.max_silence_ms < v.min_silence_ms then
    problems[#problems + 1] = problem(file, "max_silence_ms must be at least min_silence_ms", "/voice/max_silence_ms")
  end
  if #problems > 0 then return nil, problems end
  return true
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- resolve(doc[, getenv]) -> config: defaults, and the language model calls will really use.
function M.resolve(doc, getenv)
  getenv = getenv or os.getenv
  local cfg = copy(doc)
  for _, area in ipairs({ "stt", "tts", "telephony" }) do
    if cfg[area] == nil then cfg[area] = { provider = "none" } end
  end
  for area, known in pairs(SPEECH) do
    local c = cfg[area]
    local p = known[c.provider]
    if p then
      c.api_key_env = c.api_key_env or p.key_env
      c.engine = c.provider
      if p.offline and not (c.api_key_env and (getenv(c.api_key_env) or "") ~= "") then
        c.engine = p.offline
        c.fallback = c.api_key_env and format("no %s set: using the offline %s", c.api_key_env, p.offline)
          or format("%s has no engine here: using the offline %s", c.provider, p.offline)
      end
    end
  end
  local voice = cfg.voice or {}
  local d = M.VOICE_DEFAULTS
  local barge = voice.barge_in or {}
  cfg.voice = {
    vad = voice.vad or d.vad, min_silence_ms = voice.min_silence_ms or d.min_silence_ms,
    max_silence_ms = voice.max_silence_ms or math.max(d.max_silence_ms, voice.min_silence_ms or 0),
    barge_in = { enabled = barge.enabled ~= false, min_ms = barge.min_ms or d.barge_in.min_ms,
      min_words = barge.min_words or d.barge_in.min_words },
  }
  local llm = cfg.llm
  llm.configured_provider = llm.provider
  if llm.provider == "openai" then
    if llm.api_key_env == nil and llm.base_url == nil then llm.api_key_env = M.DEFAULT_OPENAI_KEY_ENV end
    if llm.api_key_env then
      local key = getenv(llm.api_key_env)
      if key == nil or key == "" then
        llm.provider = "rules"
        llm.fallback = format("no %s set: using the offline rules engine", llm.api_key_env)
        cfg.fallback = llm.fallback
      end
    end
  end
  return cfg
end

-- path -> {text =, doc =}: the last text read there that passed the checks, decoded. The bot
-- reads a flow's file at every call start; the same text is not decoded and checked again
-- (resolve copies the document: the kept one is never changed).
local checked = {}

-- load(path[, opts]) -> config | nil, problems
-- opts.getenv: the environment lookup (default os.getenv).
function M.load(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("services.load: a path is expected", 2) end
  local f, err = io.open(path, "rb")
  if not f then return nil, { problem(path, "cannot read the file: " .. tostring(err)) } end
  local text = f:read(core.yaml.MAX_BYTES + 1)
  f:close()
  text = text or ""
  local kept = checked[path]
  if kept and kept.text == text then return M.resolve(kept.doc, opts.getenv) end
  local doc, yerr = core.yaml.decode(text)
  if doc == nil then return nil, { problem(path, yerr) } end
  local jt = jsonschema.json_type(doc)
  if jt ~= "object" and jt ~= "empty" then
    return nil, { problem(path, "must be a mapping with llm, stt, tts and telephony") }
  end
  local ok, problems = M.check(doc, path)
  if not ok then return nil, problems end
  checked[path] = { text = text, doc = doc }
  return M.resolve(doc, opts.getenv)
end

-- format_problems(problems) -> one line: "x/services.yaml: /llm/model: is required; ..."
function M.format_problems(problems)
  local out = {}
  for i, p in ipairs(problems or {}) do
    out[i] = (p.file and (p.file .. ": ") or "") .. (p.path ~= "" and (p.path .. ": ") or "") .. p.message
  end
  return table.concat(out, "; ")
end

-- llm_options(cfg[, getenv]) -> options for sova.llm.openai.new (the API key read now from the
-- variable cfg.llm.api_key_env names), or nil when the calls use another engine.
function M.llm_options(cfg, getenv)
  local llm = cfg and cfg.llm
  if not llm or llm.provider ~= "openai" then return nil end
  getenv = getenv or os.getenv
  local key = llm.api_key_env and getenv(llm.api_key_env) or nil
  if key == "" then key = nil end
  return {
    base_url = llm.base_url, model = llm.model, api_key = key,
    temperature = llm.temperature, timeout_ms = llm.timeout_ms,
  }
end

-- speech_options(cfg[, getenv]) -> {stt = {engine=, model=, language=, base_url=, api_key=},
-- tts = {engine=, voice=, model=, base_url=, api_key=}, voice = cfg.voice, notes = {...}} for a voice
-- call (keys read now, for the bot to hand to the engines, never logged), or nil, reason when
-- the flow has no speech (stt or tts "none").
function M.speech_options(cfg, getenv)
  getenv = getenv or os.getenv
  local out = { voice = cfg.voice, notes = {} }
  for _, area in ipairs({ "stt", "tts" }) do
    local c = cfg[area]
    if not c or not c.engine then
      return nil, format("this workflow's services.yaml has no %s provider: its calls are text only", area)
    end
    local key = c.engine == c.provider and c.api_key_env and getenv(c.api_key_env) or nil
    out[area] = { engine = c.engine, model = c.engine == c.provider and c.model or nil, language = c.language,
      voice = c.engine == c.provider and c.voice or nil, base_url = c.base_url, api_key = key ~= "" and key or nil }
    if c.fallback then out.notes[#out.notes + 1] = c.fallback end
  end
  return out
end

-- telephony_options(cfg) -> {provider, to_field, ring_seconds, max_call_seconds, voicemail,
-- account_sid_env, auth_token_env, from_number_env} with the defaults filled, or nil, reason when
-- the workflow places no phone calls. Names only: telephony_credentials reads the values.
function M.telephony_options(cfg)
  local t = cfg and cfg.telephony
  if type(t) ~= "table" or t.provider ~= "twilio" then return nil, "telephony is not configured" end
  local d = M.TELEPHONY_DEFAULTS
  local out = { provider = t.provider, to_field = t.to_field }
  for _, k in ipairs({ "ring_seconds", "max_call_seconds", "voicemail", "account_sid_env", "auth_token_env",
                       "from_number_env" }) do
    if t[k] == nil then out[k] = d[k] else out[k] = t[k] end
  end
  return out
end

M.ACCOUNT_SID_PATTERN = "^AC" .. string.rep("%x", 32) .. "$"
M.E164_PATTERN = "^%+[1-9]%d+$" -- and 8 to 16 characters: E.164 has at most 15 digits

-- telephony_credentials(opts[, getenv]) -> {account_sid, auth_token, from} read now from the
-- variables opts names, or nil, reason. The reason names the variables that are unset or hold
-- something of the wrong shape (an account SID is AC and 32 hex digits, the caller ID E.164),
-- never what they hold.
function M.telephony_credentials(opts, getenv)
  if type(opts) ~= "table" then error("services.telephony_credentials: telephony_options expected", 2) end
  getenv = getenv or os.getenv
  local values, unset = {}, {}
  for _, k in ipairs({ "account_sid_env", "auth_token_env", "from_number_env" }) do
    local v = getenv(opts[k])
    if v == nil or v == "" then unset[#unset + 1] = opts[k] else values[k] = v end
  end
  if #unset > 0 then
    return nil, format("phone calls need %s set", table.concat(unset, ", "))
  end
  local sid, from = values.account_sid_env, values.from_number_env
  if not match(sid, M.ACCOUNT_SID_PATTERN) then
    return nil, format("%s does not hold a Twilio account SID (AC followed by 32 hex digits)", opts.account_sid_env)
  end
  if not match(from, M.E164_PATTERN) or #from < 8 or #from > 16 then
    return nil, format("%s does not hold a phone number in E.164 form (e.g. +15165551234)", opts.from_number_env)
  end
  return { account_sid = sid, auth_token = values.auth_token_env, from = from }
end

return M

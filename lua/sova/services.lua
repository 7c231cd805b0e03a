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
--   local opts = services.llm_options(cfg)   -- options for sova.llm.openai.new, key read now
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
  local doc, yerr = core.yaml.decode(text)
  if doc == nil then return nil, { problem(path, yerr) } end
  local jt = jsonschema.json_type(doc)
  if jt ~= "object" and jt ~= "empty" then
    return nil, { problem(path, "must be a mapping with llm, stt, tts and telephony") }
  end
  local ok, problems = M.check(doc, path)
  if not ok then return nil, problems end
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

return M

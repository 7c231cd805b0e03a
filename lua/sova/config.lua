-- sova.config: settings from the environment. Secrets come only from environment variables,
-- or, for local runs, from files generated into the data directory with mode 0600.
local core = require("sova.core")

local M = {}

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end
M.env = env

function M.production() return env("SOVA_ENV", "development") == "production" end

function M.mongodb_uri() return env("MONGODB_URI", "mongodb://127.0.0.1:27017/sova") end

function M.data_dir() return env("SOVA_DATA_DIR", ".sova") end

-- Where the repository's data lives (schemas/, clients/): the parent of the platform Lua.
function M.root_dir() return env("SOVA_ROOT", core.lua_dir .. "/..") end

-- read_file(path) -> contents | nil, why ("No such file or directory", "Is a directory", ...)
local function read_file(path)
  local f, oerr = io.open(path, "rb")
  if not f then return nil, (tostring(oerr):gsub("^.-: ", "")) end
  local s, rerr = f:read("*a")
  f:close()
  if not s then return nil, (tostring(rerr):gsub("^.-: ", "")) end
  return s
end
M.read_file = read_file

local documents = {} -- schemas/<name> -> decoded JSON, once read (per Lua state)

-- schema_document(name) -> the JSON document schemas/<name> (e.g. "services.schema.json"),
-- decoded once; raises when it cannot be read (the repository is incomplete)
function M.schema_document(name)
  if documents[name] then return documents[name] end
  local path = M.root_dir() .. "/schemas/" .. name
  local text, why = read_file(path)
  if not text then error("cannot read " .. path .. ": " .. tostring(why), 2) end
  documents[name] = require("cjson").decode(text)
  return documents[name]
end

local secrets = {} -- env name -> value, once read (per Lua state)

-- A secret from the environment, else (outside production) one generated once into the data dir.
-- Returns secret | nil, reason.
function M.secret(env_name, file_name)
  if secrets[env_name] then return secrets[env_name] end
  local s, err = M.read_secret(env_name, file_name)
  if s then secrets[env_name] = s end
  return s, err
end

function M.read_secret(env_name, file_name)
  local v = env(env_name)
  if v then
    if #v < 32 then return nil, env_name .. " must be at least 32 bytes" end
    return v
  end
  if M.production() then return nil, env_name .. " is required when SOVA_ENV=production" end
  local dir = M.data_dir()
  local ok, err = core.sys.mkdir(dir)
  if not ok then return nil, err end
  local path = dir .. "/" .. file_name
  local s = read_file(path)
  if not s then
    -- O_EXCL: when two processes race, one writes and both read the winner's secret
    core.sys.write_private(path, core.crypto.random_hex(32))
    s = read_file(path)
  end
  s = s and s:gsub("%s+$", "")
  if not s or #s < 32 then return nil, "cannot read or create " .. path end
  return s
end

function M.jwt_secret() return M.secret("SOVA_JWT_SECRET", "jwt_secret") end

-- The key recordings are sealed under at rest (core.recording derives its per-purpose subkey).
function M.data_key() return M.secret("SOVA_DATA_KEY", "data_key") end

-- Idle timeout (automatic logoff) and absolute lifetime of a login, in seconds.
M.IDLE_TIMEOUT = 15 * 60
M.TOKEN_LIFETIME = tonumber(env("SOVA_TOKEN_LIFETIME", "")) or 12 * 3600
M.AUDIENCE = "sova-api"

-- Login throttling: failures per window before 429.
M.LOGIN_WINDOW = 15 * 60
M.LOGIN_MAX_PER_EMAIL = tonumber(env("SOVA_LOGIN_MAX_PER_EMAIL", "")) or 5
M.LOGIN_MAX_PER_IP = tonumber(env("SOVA_LOGIN_MAX_PER_IP", "")) or 20

-- Passwords (invitations, resets, changes): lengths in characters, and in bytes at most.
M.PASSWORD_MIN = 12
M.PASSWORD_MAX = 1024

-- One-time account links (sova.api.user_tokens), in seconds.
M.INVITE_LIFETIME = 72 * 3600
M.RESET_LIFETIME = 24 * 3600

-- Audit records are kept 6 years (HIPAA).
M.AUDIT_RETENTION = 6 * 365 * 24 * 3600 + 2 * 24 * 3600

return M

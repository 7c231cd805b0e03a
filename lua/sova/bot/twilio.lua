-- sova.bot.twilio: Twilio's wire formats as the bot speaks them — form bodies, the webhook
-- signature (X-Twilio-Signature), the TwiML the bot sends, and the REST requests that create and
-- steer a call. Pure functions and request tables: sova.bot.phone sends them through the loop.
-- TWILIO_API_BASE points the client at a stand-in (core/testkit/phonesim/); unset, it is Twilio.
local core = require("sova.core")
local config = require("sova.config")
local json = require("sova.json")

local M = {}

M.DEFAULT_API_BASE = "https://api.twilio.com"
M.MAX_FORM_BYTES = 64 * 1024 -- a callback is a few hundred bytes
M.MAX_FORM_PARAMS = 100
M.MAX_TWIML = 4000           -- Twilio's limit on the Twiml parameter

function M.api_base()
  return (config.env("TWILIO_API_BASE", M.DEFAULT_API_BASE):gsub("/+$", ""))
end

-- ---- application/x-www-form-urlencoded ----

local function pct(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- form_encode(params): params is a list of {name, value} (a name may repeat, in order)
function M.form_encode(params)
  local out = {}
  for i, p in ipairs(params) do out[i] = pct(p[1]) .. "=" .. pct(p[2]) end
  return table.concat(out, "&")
end

local function unpct(s)
  s = s:gsub("+", " ")
  local bad = false
  s = s:gsub("%%(..)", function(h)
    local n = tonumber(h, 16)
    if not n then bad = true; return "" end
    return string.char(n)
  end)
  if bad or s:find("%%") then return nil end
  return s
end

-- form_decode(body) -> list of {name, value}, map name -> first value | nil, reason
function M.form_decode(body)
  if type(body) ~= "string" then return nil, "no form body" end
  if #body > M.MAX_FORM_BYTES then return nil, "the form body is too large" end
  local list, map = {}, {}
  if body == "" then return list, map end
  for part in (body .. "&"):gmatch("([^&]*)&") do
    if part ~= "" then
      if #list >= M.MAX_FORM_PARAMS then return nil, "too many form parameters" end
      local k, v = part:match("^([^=]*)=?(.*)$")
      k, v = unpct(k), unpct(v)
      if not k or not v or k == "" then return nil, "a malformed form parameter" end
      list[#list + 1] = { k, v }
      if map[k] == nil then map[k] = v end
    end
  end
  return list, map
end

-- ---- X-Twilio-Signature ----

-- signature(auth_token, url, params) -> base64 HMAC-SHA1 over the URL and the parameters sorted by
-- name (a repeated name's values sorted too), each as name..value
function M.signature(auth_token, url, params)
  local sorted = {}
  for i, p in ipairs(params) do sorted[i] = p end
  table.sort(sorted, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local parts = { url }
  for _, p in ipairs(sorted) do parts[#parts + 1] = p[1] .. p[2] end
  return core.crypto.hmac_sha1_base64(auth_token, table.concat(parts))
end

-- the same URL with the scheme's default port written out, or taken away (Twilio may sign either)
local function port_variant(url)
  local scheme, host, port, rest = url:match("^(https?)://([^/:]+):?(%d*)(.*)$")
  if not scheme then return nil end
  local default = scheme == "https" and "443" or "80"
  if port == "" then return scheme .. "://" .. host .. ":" .. default .. rest end
  if port == default then return scheme .. "://" .. host .. rest end
  return nil
end

-- verify(auth_token, url, params, header) -> true | false: header is X-Twilio-Signature; url is
-- the configured public URL the callback was sent to (never built from the Host header)
function M.verify(auth_token, url, params, header)
  if type(header) ~= "string" or header == "" or #header > 128 then return false end
  if core.crypto.equals(M.signature(auth_token, url, params), header) then return true end
  local other = port_variant(url)
  return other ~= nil and core.crypto.equals(M.signature(auth_token, other, params), header)
end

-- ---- TwiML ----

local XML = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }
local function x(s) return (tostring(s):gsub("[&<>\"']", XML)) end

local function stream(url, params)
  local out = { ('<Connect><Stream url="%s">'):format(x(url)) }
  for _, p in ipairs(params or {}) do
    out[#out + 1] = ('<Parameter name="%s" value="%s"/>'):format(x(p[1]), x(p[2]))
  end
  out[#out + 1] = "</Stream></Connect>"
  return table.concat(out)
end

local function response(body) return '<?xml version="1.0" encoding="UTF-8"?><Response>' .. body .. "</Response>" end

-- stream_twiml(url, params): the call's audio to the bot's media socket; params {name, value}
-- arrive in the stream's start message (a stream URL takes no query string)
function M.stream_twiml(url, params) return response(stream(url, params)) end

M.KEYS = "^[0-9*#wW]+$"

-- press_twiml(keys, url, params): DTMF into the line, then the stream again (a new stream)
function M.press_twiml(keys, url, params)
  assert(type(keys) == "string" and keys:match(M.KEYS) and #keys <= 32, "keys: 0-9 * # w W, at most 32")
  return response(('<Play digits="%s"/>'):format(keys) .. stream(url, params))
end

-- dial_twiml{to, caller_id, timeout, action, bridged}: the call to a person; action hears how the
-- dial ended, bridged when the person answered
function M.dial_twiml(o)
  return response(('<Dial callerId="%s" timeout="%d" action="%s" method="POST"><Number url="%s" method="POST">%s</Number></Dial>')
    :format(x(o.caller_id), o.timeout, x(o.action), x(o.bridged), x(o.to)))
end

function M.hangup_twiml() return response("<Hangup/>") end
function M.empty_twiml() return response("") end

-- ---- REST ----

local Client = {}
Client.__index = Client

-- client{account_sid, auth_token, api_base} -> a client whose methods return request tables for
-- loop.fetch (api_base: a simulated line's simulator; else M.api_base())
function M.client(creds)
  return setmetatable({ sid = creds.account_sid, base = creds.api_base,
    auth = "Basic " .. core.crypto.base64(creds.account_sid .. ":" .. creds.auth_token) }, Client)
end

function Client:request(path, params)
  return {
    method = "POST",
    url = (self.base or M.api_base()) .. "/2010-04-01/Accounts/" .. self.sid .. path,
    headers = { ["Authorization"] = self.auth, ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Accept"] = "application/json" },
    body = M.form_encode(params),
    timeout_ms = 15000,
  }
end

-- create(params): POST Calls.json
function Client:create(params) return self:request("/Calls.json", params) end

-- update(call_sid, params): POST Calls/{sid}.json (new TwiML, or Status=completed)
function Client:update(call_sid, params) return self:request("/Calls/" .. call_sid .. ".json", params) end

local ENDED_CODE = 21220 -- "call is not in progress"; 20404 comes with a 404

M.CALL_SID = "^CA%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$"

-- Twilio's error as a code for the session (never its message: it may repeat the number dialled)
local function reason(res, err)
  if not res then return "unreachable: " .. tostring(err) end
  local body = json.decode(res.body or "")
  local code = type(body) == "table" and tonumber(body.code) or nil
  return ("http %d%s"):format(res.status or 0, code and (" code " .. math.floor(code)) or "")
end

-- created(res, err) -> call sid | nil, reason
function M.created(res, err)
  if res and res.status == 201 then
    local body = json.decode(res.body or "")
    local sid = type(body) == "table" and body.sid
    if type(sid) == "string" and sid:match(M.CALL_SID) then return sid end
    return nil, "http 201 without a call sid"
  end
  return nil, reason(res, err)
end

-- updated(res, err) -> true | nil, reason ("ended": the call is over already, Twilio's 20404)
function M.updated(res, err)
  if res and res.status >= 200 and res.status < 300 then return true end
  if res and res.status == 404 then return nil, "ended" end
  local body = res and json.decode(res.body or "")
  if type(body) == "table" and body.code == ENDED_CODE then return nil, "ended" end -- not in progress
  return nil, reason(res, err)
end

return M

-- The phone simulator for specs: sova-phone-sim (core/testkit/phonesim/, README.md there) on a
-- free loopback port with a scenario table, its events file read back as tables, and its REST
-- API called as the bot's Twilio client calls it.
--
--   local sim = phonesim.start({ scenarios = { ["+15550001111"] = { kind = "human", lines = { "Yes." } } } })
--   sim.api_base                      -- TWILIO_API_BASE for a bot: http://127.0.0.1:PORT
--   local res = sim:create_call({ To = "+15550001111", From = "+15559990000", Twiml = "<Response>…" })
--   sim:wait_event(function(e) return e.call == res.json.sid and e.event == "hangup" end, 10)
--   sim:stop_clean()
--
-- Scenario tables are written as JSON with cjson: lines must be non-empty arrays, and an ivr
-- names its start node ("start"), as a Lua table keeps no key order.
local core = require("sova.core")
local cjson = require("cjson")
local proc = require("helpers.proc")

local M = {}

M.ACCOUNT_SID = "AC5157" .. ("0"):rep(26) .. "ff" -- AC and 32 hex digits, as Twilio's
M.AUTH_TOKEN = "phonesim-spec-token"

---------------------------------------------------------------------------------------------
-- encodings

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (for HTTP Basic).
function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = {}
    for k = 3, 0, -1 do
      local idx = math.floor(n / 64 ^ k) % 64
      chars[#chars + 1] = B64:sub(idx + 1, idx + 1)
    end
    if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local function url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- A form body from {name = value | {values…}} (values of a list repeat the name), names sorted.
function M.form_encode(params)
  local names = {}
  for k in pairs(params) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do
    local v = params[k]
    if type(v) == "table" then
      for _, one in ipairs(v) do parts[#parts + 1] = url_encode(k) .. "=" .. url_encode(one) end
    else
      parts[#parts + 1] = url_encode(k) .. "=" .. url_encode(v)
    end
  end
  return table.concat(parts, "&")
end

--- A form body decoded into a list of {name, value} pairs, in order, and a table of first values.
function M.form_decode(body)
  local pairs_, first = {}, {}
  for piece in (body or ""):gmatch("[^&]+") do
    local k, v = piece:match("^([^=]*)=?(.*)$")
    k, v = url_decode(k), url_decode(v)
    pairs_[#pairs_ + 1] = { k, v }
    if first[k] == nil then first[k] = v end
  end
  return pairs_, first
end

--- Twilio's X-Twilio-Signature for url and a decoded form (pairs), computed with the openssl
-- command: base64(HMAC-SHA1(token, url .. sorted name..value)). An implementation of its own,
-- so a spec checks the simulator's signing against something else.
function M.signature(token, url, form_pairs)
  local sorted = {}
  for i, p in ipairs(form_pairs) do sorted[i] = p end
  table.sort(sorted, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local data = { url }
  for _, p in ipairs(sorted) do data[#data + 1] = p[1] .. p[2] end
  local path = proc.temp_path("signature", ".txt")
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(data))
  f:close()
  local cmd = string.format("%sopenssl dgst -sha1 -hmac %s -binary < %s | %sopenssl base64 -A", proc.shell_prefix(),
    proc.shell_quote(token), proc.shell_quote(path), proc.shell_prefix())
  local p = assert(io.popen(cmd))
  local sig = p:read("*a")
  p:close()
  os.remove(path)
  return (sig:gsub("%s+$", ""))
end

---------------------------------------------------------------------------------------------
-- the process

local Sim = {}
Sim.__index = Sim

-- SOVA_PHONESIM_BIN runs another build of it (e.g. build-asan/sova-phone-sim under the sanitizers).
local function binary()
  local bin = os.getenv("SOVA_PHONESIM_BIN") or (proc.build_dir() .. "/sova-phone-sim")
  if not proc.exists(bin) then
    error(bin .. " is missing: build with SOVA_TESTS=ON (ninja -C build sova-phone-sim)", 3)
  end
  return bin
end

--- Starts the simulator. opts: scenarios (table, see README), account_sid, auth_token (defaults
-- M.ACCOUNT_SID / M.AUTH_TOKEN), timeout (s, for "ready"; default 30), args (more arguments).
-- Returns the sim: {port, url, api_base, account_sid, auth_token, events_path, log}. Raises with
-- its log when it exits early (a bad scenario file says which number and field).
function M.start(opts)
  opts = opts or {}
  local self = setmetatable({
    account_sid = opts.account_sid or M.ACCOUNT_SID,
    auth_token = opts.auth_token or M.AUTH_TOKEN,
    scenarios_path = proc.temp_path("phonesim-scenarios", ".json"),
    events_path = proc.temp_path("phonesim-events", ".jsonl"),
    out = proc.temp_path("phonesim", ".out"),
    log = proc.temp_path("phonesim", ".log"),
  }, Sim)
  local f = assert(io.open(self.scenarios_path, "wb"))
  f:write(cjson.encode(opts.scenarios or {}))
  f:close()
  local argv = { binary(), "--port", "0", "--account-sid", self.account_sid, "--auth-token", self.auth_token,
    "--scenarios", self.scenarios_path, "--events", self.events_path }
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  self.proc = proc.spawn(argv, { env = proc.clean_env(), stdout = self.out, stderr = self.log, name = "sova-phone-sim" })
  local deadline = core.sys.monotonic() + (opts.timeout or 30)
  while true do
    local port = (proc.read_file(self.out) or ""):match("ready port=(%d+)")
    if port then
      self.port = tonumber(port)
      self.url = "http://127.0.0.1:" .. port
      self.api_base = self.url
      return self
    end
    if not self.proc:alive() then
      error(string.format("sova-phone-sim exited early (status %s):\n%s", tostring(self.proc.status), proc.tail(self.log, 20)), 2)
    end
    if core.sys.monotonic() > deadline then
      self.proc:stop(2)
      error("sova-phone-sim did not say ready:\n" .. proc.tail(self.log, 20), 2)
    end
    core.sys.sleep(0.02)
  end
end

--- The environment that points a bot (and an API) at this simulator as its Twilio, with the
-- caller ID variables given (e.g. {ALPHA_TWILIO_FROM_NUMBER = "+1…"}) and extra added.
function Sim:twilio_env(from_numbers, extra)
  local env = { TWILIO_API_BASE = self.api_base, TWILIO_ACCOUNT_SID = self.account_sid, TWILIO_AUTH_TOKEN = self.auth_token }
  for k, v in pairs(from_numbers or {}) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

--- A URL of the simulator's own webhook sink (POST /_sim/sink/…): the requests it gets are
-- "sink" events {path, signature, body}, answered 200 <Response></Response>.
function Sim:sink_url(path)
  return self.url .. "/_sim/sink/" .. (path or "hook")
end

--- Every event so far, as tables, optionally filtered by fn(event) → bool.
function Sim:events(fn)
  local out = {}
  for line in (proc.read_file(self.events_path) or ""):gmatch("[^\n]+") do
    local ok, e = pcall(cjson.decode, line)
    if ok and type(e) == "table" and (not fn or fn(e)) then out[#out + 1] = e end
  end
  return out
end

--- The events of one call (by sid), optionally of one name.
function Sim:call_events(sid, name)
  return self:events(function(e) return e.call == sid and (name == nil or e.event == name) end)
end

--- Waits (timeout s, default 10) for the first event fn accepts; returns it or raises with the
-- last events.
function Sim:wait_event(fn, timeout)
  local deadline = core.sys.monotonic() + (timeout or 10)
  while true do
    local found = self:events(fn)[1]
    if found then return found end
    if core.sys.monotonic() > deadline then
      local all = self:events()
      local tail = {}
      for i = math.max(1, #all - 15), #all do tail[#tail + 1] = cjson.encode(all[i]) end
      error("phonesim: the event did not come within " .. tostring(timeout or 10) .. " s; last events:\n"
        .. table.concat(tail, "\n"), 2)
    end
    core.sys.sleep(0.05)
  end
end

--- A REST request as Twilio's client makes it. path: after /2010-04-01/Accounts/{AC}; params: a
-- form table; opts: user, password (Basic; default the sim's), no_auth. Returns the response
-- {status, body, json, headers}.
function Sim:rest(method, path, params, opts)
  opts = opts or {}
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if not opts.no_auth then
    headers.Authorization = "Basic " .. M.base64((opts.user or self.account_sid) .. ":" .. (opts.password or self.auth_token))
  end
  local res, err = core.http.request {
    method = method, url = self.url .. "/2010-04-01/Accounts/" .. (opts.account or self.account_sid) .. path,
    headers = headers, body = params and M.form_encode(params) or nil, timeout_ms = 10000,
  }
  if not res then error("phonesim REST " .. method .. " " .. path .. ": " .. tostring(err), 2) end
  local ok, decoded = pcall(cjson.decode, res.body or "")
  if ok then res.json = decoded end
  res.request = method .. " " .. path
  return res
end

function Sim:create_call(params, opts)
  return self:rest("POST", "/Calls.json", params, opts)
end

function Sim:update_call(sid, params, opts)
  return self:rest("POST", "/Calls/" .. sid .. ".json", params, opts)
end

--- Whether a "sink" event's signature is Twilio's over its URL and body.
function Sim:sink_signed(e)
  local pairs_ = M.form_decode(e.body)
  return e.signature == M.signature(self.auth_token, self.url .. e.path, pairs_)
end

function Sim:stop()
  if not self.proc then return nil end
  return self.proc:stop(10)
end

--- Stops it and raises unless it exited 0 without a sanitizer report.
function Sim:stop_clean()
  local status = self:stop()
  if status ~= nil and status ~= 0 then
    error(string.format("sova-phone-sim exited with status %s:\n%s", tostring(status), proc.tail(self.log, 40)), 2)
  end
  local report = proc.sanitizer_report(self.log)
  if report then error("sova-phone-sim: " .. report, 2) end
  return status
end

function Sim:alive()
  return self.proc ~= nil and self.proc:alive()
end

return M

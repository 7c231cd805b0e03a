-- sova.api.request: reading what the client sent: host, query string, JSON body, ids.
local bson = require("sova.core").bson
local json = require("sova.json")
local errors = require("sova.api.errors")

local M = {}

local function clean_host(h)
  if type(h) ~= "string" or #h > 255 then return nil end
  h = h:lower():gsub(":%d+$", "")
  if not h:match("^[%w%.%-]+$") then return nil end
  return h
end

-- A frontend host that rewrites /api/* to this API (Vercel: docs/deploy.md) sends the API's own
-- name as Host and the clinic's in X-Forwarded-Host. Only requests addressed to that name
-- (SOVA_FORWARDED_HOST_VIA) are read so; a token still works only at its own clinic.
local forwarded_via = clean_host(os.getenv("SOVA_FORWARDED_HOST_VIA"))

-- The clinic's host: "DemoClinicAlpha.localhost:8080" -> "democlinicalpha.localhost"
function M.host(req)
  local h = clean_host(req.headers and req.headers.host)
  if h and forwarded_via and h == forwarded_via then
    local fwd = req.headers["x-forwarded-host"]
    return clean_host(type(fwd) == "string" and fwd:match("^%s*([^,%s]+)") or nil)
  end
  return h
end

-- The client's address. Behind a TLS-terminating proxy listed in SOVA_TRUSTED_PROXIES
-- (comma-separated addresses), the last X-Forwarded-For entry the proxy appended is the client.
-- Behind an edge whose addresses vary but which sets a header of its own on every request and
-- overwrites what a client sent in it (Fly.io's Fly-Client-IP), SOVA_CLIENT_IP_HEADER names that
-- header: only for a port that nothing but the edge reaches.
local trusted = {}
for addr in (os.getenv("SOVA_TRUSTED_PROXIES") or ""):gmatch("[^,%s]+") do trusted[addr] = true end
local edge_header = (os.getenv("SOVA_CLIENT_IP_HEADER") or ""):lower()
if edge_header == "" then edge_header = nil end

local function address(s)
  return type(s) == "string" and #s <= 45 and s:match("^[%x%.:]+$") and s or nil
end

function M.client_ip(req)
  local peer = req.remote_addr
  if edge_header then return address(req.headers[edge_header]) or peer end
  if not trusted[peer] then return peer end
  local xff = req.headers["x-forwarded-for"]
  return address(type(xff) == "string" and xff:match("([^,%s]+)%s*$")) or peer
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end))
end

-- "a=1&b=x%20y" -> {a = "1", b = "x y"}; the first of repeated keys wins
function M.query(qs)
  local out = {}
  if not qs or qs == "" then return out end
  if #qs > 4096 then errors.fail(400, "bad_request", "query string too long") end
  for pair in qs:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = unescape(k)
    if out[k] == nil then out[k] = unescape(v) end
  end
  return out
end

-- The request's JSON object body, or a 400.
function M.json_object(req)
  local ct = req.headers["content-type"]
  if ct and not ct:lower():match("^application/json") then
    errors.fail(400, "bad_request", "the body must be JSON (Content-Type: application/json)")
  end
  local v, err = json.decode(req.body)
  if v == nil then errors.fail(400, "bad_request", err) end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] ~= nil) then
    errors.fail(400, "bad_request", "the body must be a JSON object")
  end
  return v
end

-- An id from the path as an ObjectId; anything else is simply not found.
function M.oid_or_404(s, what)
  local oid = type(s) == "string" and bson.oid(s) or nil
  if not oid then errors.not_found(what) end
  return oid
end

-- limit=1..max (default def)
function M.limit(q, def, max)
  if q.limit == nil then return def end
  local n = tonumber(q.limit)
  if not n or n ~= math.floor(n) or n < 1 or n > max then
    errors.fail(400, "bad_request", ("limit must be an integer from 1 to %d"):format(max))
  end
  return n
end

-- cursor = the last id of the previous page
function M.cursor(q)
  if q.cursor == nil or q.cursor == "" then return nil end
  local oid = bson.oid(q.cursor)
  if not oid then errors.fail(400, "bad_request", "malformed cursor") end
  return oid
end

return M

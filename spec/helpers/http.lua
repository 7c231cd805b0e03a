-- A small JSON HTTP client for the API specs (libcurl through sova.core).
local core = require("sova.core")
local cjson = require("cjson")

local M = {}

M.DEFAULT_HOST = "democlinicalpha.localhost"

--- Sends a request to a running API.
-- api: {url=} (from start_api); path: "/api/..." (query string included).
-- opts: host (Host header, default democlinicalpha.localhost), token (Bearer), body (a table,
--   sent as JSON) or raw (a string, sent as is), headers = {Name = value} (override the
--   defaults), timeout_ms (default 30000).
-- Returns {status, body (raw string), json (decoded body or nil), headers (lowercased names),
--   request = "METHOD path", elapsed (seconds)}. Raises when no HTTP answer arrives.
function M.request(api, method, path, opts)
  opts = opts or {}
  local headers = { Host = opts.host or M.DEFAULT_HOST, Accept = "application/json" }
  if opts.token then headers.Authorization = "Bearer " .. opts.token end
  local body
  if opts.raw ~= nil then
    body = opts.raw
  elseif opts.body ~= nil then
    body = cjson.encode(opts.body)
  end
  if body ~= nil then headers["Content-Type"] = "application/json" end
  for k, v in pairs(opts.headers or {}) do
    -- a header given in any case replaces the default of the same name
    for dk in pairs(headers) do
      if dk:lower() == k:lower() then headers[dk] = nil end
    end
    headers[k] = v
  end
  local t0 = core.sys.monotonic()
  local res, err = core.http.request {
    method = method, url = api.url .. path, headers = headers, body = body,
    timeout_ms = opts.timeout_ms or 30000,
  }
  local elapsed = core.sys.monotonic() - t0
  if not res then
    error(string.format("%s %s: no HTTP answer after %.1fs: %s", method, path, elapsed, tostring(err)), 2)
  end
  res.elapsed = elapsed
  res.request = method .. " " .. path
  if res.body and res.body ~= "" then
    local ok, decoded = pcall(cjson.decode, res.body)
    if ok then res.json = decoded end
  end
  return res
end

--- POST /api/auth/login. Returns the token (nil unless 200) and the full response.
function M.login(api, host, email, password)
  local res = M.request(api, "POST", "/api/auth/login", {
    host = host, body = { email = email, password = password },
  })
  local token = res.status == 200 and type(res.json) == "table" and res.json.token or nil
  return token, res
end

return M

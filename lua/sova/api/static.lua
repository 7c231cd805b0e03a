-- sova.api.static: the built web UI (frontend/dist) on the API's own port, so one address serves
-- the whole product. Unknown paths get index.html: the app routes them itself.
local config = require("sova.config")

local M = {}

local TYPES = {
  html = "text/html; charset=utf-8", js = "text/javascript; charset=utf-8", css = "text/css; charset=utf-8",
  svg = "image/svg+xml", png = "image/png", ico = "image/x-icon", json = "application/json",
  woff2 = "font/woff2", txt = "text/plain; charset=utf-8", map = "application/json",
}

-- The page may talk to its own origin and to the call runtime's WebSocket (another port or host).
local CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
  .. "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

local cache = {} -- path -> {body, type} (dist files do not change while the API runs)

local function dist() return config.env("SOVA_FRONTEND_DIR", config.root_dir() .. "/frontend/dist") end

local function load(rel)
  local hit = cache[rel]
  if hit then return hit end
  local body = config.read_file(dist() .. "/" .. rel)
  if not body then return nil end
  hit = { body = body, type = TYPES[rel:match("%.(%w+)$") or ""] or "application/octet-stream" }
  cache[rel] = hit
  return hit
end

-- serve(req) -> status, body, headers
function M.serve(req)
  local rel = req.path:gsub("^/+", "")
  if rel == "" then rel = "index.html" end
  if rel:find("..", 1, true) or not rel:match("^[%w%._%-/]+$") then rel = "index.html" end
  local file = load(rel)
  if not file and not rel:match("^assets/") then file = load("index.html") end
  if not file then
    return 404, '{"error":{"code":"not_found","message":"the web UI is not built: cd frontend && npm ci && npm run build"}}',
      { ["content-type"] = "application/json" }
  end
  local headers = { ["content-type"] = file.type }
  if file.type:match("^text/html") then headers["content-security-policy"] = CSP end
  return 200, file.body, headers
end

return M

-- sova.log: JSON-line logs through the core's single sink. Never pass PHI, passwords or tokens:
-- log ids, counts, codes and routes, not values.
local core = require("sova.core")
local json = require("sova.json")

local M = {}

local function emit(level, event, fields)
  local rec = { ts = core.log.iso_now(), level = level, event = event }
  if fields then for k, v in pairs(fields) do rec[k] = v end end
  local ok, line = pcall(json.encode, rec)
  if not ok then line = json.encode({ ts = rec.ts, level = "error", event = "log.unencodable", about = event }) end
  core.log.line(line)
end

function M.info(event, fields) emit("info", event, fields) end
function M.warn(event, fields) emit("warn", event, fields) end
function M.error(event, fields) emit("error", event, fields) end

return M

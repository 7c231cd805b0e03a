-- sova.api.errors: how handlers fail. fail() raises a table the server turns into
-- {error = {code, message, fields}} with the status; anything else that raises is a 500.
local M = {}

local FAILURE = {}
FAILURE.__index = FAILURE

function M.fail(status, code, message, fields)
  error(setmetatable({ status = status, code = code, message = message, fields = fields }, FAILURE), 0)
end

-- fail with response headers of its own (e.g. Content-Range on a 416); the body stays JSON.
function M.fail_with(headers, status, code, message, fields)
  error(setmetatable({ status = status, code = code, message = message, fields = fields, headers = headers }, FAILURE), 0)
end

function M.is_failure(e) return getmetatable(e) == FAILURE end

-- Database results: value | fail 503 (409 for a duplicate key).
function M.db(v, err, code)
  if v == nil then
    if code == 11000 then M.fail(409, "duplicate", "already exists") end
    M.fail(503, "database_unavailable", "the database is unavailable; try again shortly", nil, err)
  end
  return v
end

function M.not_found(what) M.fail(404, "not_found", (what or "resource") .. " not found") end

return M

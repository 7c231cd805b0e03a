-- sova.api.audit_log: GET /api/audit for the org's admins (their own org only, by construction:
-- the handle is scoped).
local json = require("sova.json")
local errors = require("sova.api.errors")
local request = require("sova.api.request")
local present = require("sova.api.present")

local M = {}

function M.list(ctx)
  if ctx.user.role ~= "admin" then errors.fail(403, "forbidden", "only administrators can read the audit log") end
  local q = request.query(ctx.req.query)
  local limit = request.limit(q, 50, 500)
  local filter = {}
  local cursor = request.cursor(q)
  if cursor then filter._id = { ["$lt"] = cursor } end
  local docs = errors.db(ctx.db:find("audit_logs", filter, { sort = { _id = -1 }, limit = limit + 1 }))
  local items = json.array()
  for i = 1, math.min(#docs, limit) do items[i] = present.audit(docs[i]) end
  return 200, { items = items, next_cursor = #docs > limit and items[limit].id or json.null }
end

return M

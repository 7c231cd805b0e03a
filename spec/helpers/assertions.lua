-- Custom luassert assertions for the API specs.
--   assert.status(404, res)          -- status check that prints the request and body on failure
--   assert.error_code("not_found", res)
local say = require("say")
local luassert = require("luassert")

local M = {}

local MAX_BODY = 4000

local function describe_response(res)
  if type(res) ~= "table" then return "(not a response: " .. tostring(res) .. ")" end
  local body = tostring(res.body or "")
  if #body > MAX_BODY then body = body:sub(1, MAX_BODY) .. "... (" .. #body .. " bytes)" end
  return string.format("%s answered %s\nbody: %s", tostring(res.request or "request"), tostring(res.status), body)
end
M.describe_response = describe_response

local function status(_, args)
  local expected, res = args[1], args[2]
  local ok = type(res) == "table" and res.status == expected
  args[1] = tostring(expected)
  args[2] = describe_response(res)
  args.n = 2
  args.nofmt = { true, true }
  return ok
end

local function error_code(_, args)
  local expected, res = args[1], args[2]
  local code = type(res) == "table" and type(res.json) == "table" and type(res.json.error) == "table"
    and res.json.error.code or nil
  args[1] = tostring(expected)
  args[2] = describe_response(res)
  args.n = 2
  args.nofmt = { true, true }
  return code == expected
end

local registered = false

function M.register()
  if registered then return end
  registered = true
  say:set("assertion.status.positive", "Expected HTTP status %s, but\n%s")
  say:set("assertion.status.negative", "Expected an HTTP status other than %s, but\n%s")
  luassert:register("assertion", "status", status, "assertion.status.positive", "assertion.status.negative")
  say:set("assertion.error_code.positive", "Expected an error body with code %s, but\n%s")
  say:set("assertion.error_code.negative", "Expected no error body with code %s, but\n%s")
  luassert:register("assertion", "error_code", error_code, "assertion.error_code.positive",
    "assertion.error_code.negative")
end

return M

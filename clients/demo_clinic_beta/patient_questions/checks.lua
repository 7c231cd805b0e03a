-- Identity checks of Demo Clinic Beta's check-in flow (required by flow_definition.lua from the
-- flow's own directory: a flow may split its code into modules beside it).
local schema = require("sova.schema")

local M = {}

-- every word of the patient's name appears in what was said (case and punctuation ignored)
function M.name_matches(said, expected)
  if type(said) ~= "string" or type(expected) ~= "string" then return false end
  local s = " " .. said:lower():gsub("[^%a]+", " ") .. " "
  local any = false
  for w in expected:lower():gmatch("%a+") do
    if #w > 1 then
      any = true
      if not s:find(" " .. w .. " ", 1, true) then return false end
    end
  end
  return any
end

-- the date said (YYYY-MM-DD or MM/DD/YYYY) is the patient's date of birth
function M.dob_matches(said, expected)
  local d = schema.check_field_value({ type = "date", required = true }, said)
  return type(d) == "string" and d == expected
end

return M

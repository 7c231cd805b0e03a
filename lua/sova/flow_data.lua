-- sova.flow_data: the organization's data files a flow asks for (flow.define { data = {...} }),
-- read and checked on the trusted side and handed into the flow's sandbox as plain data. Flows
-- have no io: this is the only way a file reaches them, and only the files named in
-- sova.sandboxed.flow's DATA_FILES, at clients/<org>/<name>.yaml, each validated against
-- schemas/<name>.schema.json.
--
--   local flow_data = require("sova.flow_data")
--   local data, problem = flow_data.load("clients/demo_clinic_alpha/prior_auth", { "insurer_menus" })
--   -- data: { insurer_menus = {...} } (a file the organization does not have is left out)
--   -- problem: { file =, path =, message = } for a file that is not valid
local core = require("sova.core")
local config = require("sova.config")
local jsonschema = require("sova.jsonschema")
local flowlib = require("sova.sandboxed.flow")

local M = {}

-- path -> {text =, doc =}: the last text read there that passed the checks (every call of a
-- flow loads its data: the same text is not decoded and checked again)
local checked = {}

-- file(dir, name) -> the data file's path for the flow directory clients/<org>/<workflow>
function M.file(dir, name)
  local org = (dir:gsub("/+$", "")):match("^(.*)/[^/]+$") or "."
  return org .. "/" .. name .. ".yaml"
end

local function read(path, name)
  local text = config.read_file(path)
  if not text then return nil end -- the organization has no such file: the flow goes without
  if #text > core.yaml.MAX_BYTES then
    return nil, { file = path, path = "", message = "larger than " .. core.yaml.MAX_BYTES .. " bytes" }
  end
  local kept = checked[path]
  if kept and kept.text == text then return kept.doc end
  local doc, yerr = core.yaml.decode(text)
  if doc == nil then return nil, { file = path, path = "", message = tostring(yerr) } end
  local ok, errs = jsonschema.validate(config.schema_document(name .. ".schema.json"), doc)
  if not ok then return nil, { file = path, path = errs[1].path, message = errs[1].message } end
  checked[path] = { text = text, doc = doc }
  return doc
end

-- load(dir, names) -> { [name] = data } | nil, problem. A name outside the known data files is
-- the caller's mistake and raises.
function M.load(dir, names)
  if type(dir) ~= "string" or type(names) ~= "table" then error("flow_data.load(dir, names) expected", 2) end
  local out = {}
  for _, name in ipairs(names) do
    if not flowlib.DATA_FILES[name] then error("flow_data.load: unknown data file " .. tostring(name), 2) end
    local doc, problem = read(M.file(dir, name), name)
    if problem then return nil, problem end
    out[name] = doc
  end
  return out
end

return M

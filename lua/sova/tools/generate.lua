-- sova.tools.generate: the files derived from the platform's Lua, so each rule has one source.
--
--   frontend/src/schema/vocabulary.ts         from sova.sandboxed.vocabulary (the web UI's copy)
--   schemas/vectors/patient_validation.json   the shared validation vectors: their inputs are kept
--                                             in the file; every "expect" is what sova.schema answers
--                                             (check_field_value, validate, check_definition)
--
-- scripts/generate.lua writes them (`build/sova script scripts/generate.lua`); spec/unit/generated_spec.lua
-- fails when a committed one differs from what M.files() renders.
local cjson = require("cjson")
local config = require("sova.config")
local vocabulary = require("sova.sandboxed.vocabulary")
local schema = require("sova.sandboxed.schema")

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, gsub, byte = string.format, string.gsub, string.byte
local concat, sort, floor = table.concat, table.sort, math.floor

local M = {}

M.VOCABULARY_TS = "frontend/src/schema/vocabulary.ts"
M.VECTORS = "schemas/vectors/patient_validation.json"

---------------------------------------------------------------------------------------------
-- JSON with a stable layout: keys in a readable order, one vector per line

-- (cjson 2.1.0 decodes "[]" and "{}" alike: an empty table is written as {}, so vectors avoid
-- empty arrays)
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function quote(s)
  return '"' .. gsub(s, '[%c"\\]', function(c) return ESCAPES[c] or format("\\u%04x", byte(c)) end) .. '"'
end

-- keys named here come first, in this order; the others follow alphabetically
local KEY_ORDER = {}
for i, k in ipairs({ "name", "about", "schema", "mode", "code", "key", "type", "label", "field", "fields",
  "value", "input", "beyond_json_schema", "ok", "doc", "errors", "reason", "expect" }) do KEY_ORDER[k] = i end
local function key_before(a, b)
  local ra, rb = KEY_ORDER[a] or 1000, KEY_ORDER[b] or 1000
  if ra ~= rb then return ra < rb end
  return a < b
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- encode(v, lines, indent): the first `lines` levels are laid out one item per line, deeper
-- values on one line
local function encode(v, lines, indent)
  local t = type(v)
  if v == cjson.null or v == nil then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v == floor(v) and v > -1e15 and v < 1e15 then return format("%d", v) end
    return format("%.17g", v)
  end
  if t == "string" then return quote(v) end
  if t ~= "table" then error("generate: cannot write a " .. t .. " as JSON", 0) end
  local items, open, close = {}, "{", "}"
  if is_array(v) then
    open, close = "[", "]"
    for i = 1, #v do items[i] = encode(v[i], lines - 1, indent .. "  ") end
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys, key_before)
    for i, k in ipairs(keys) do items[i] = quote(k) .. ": " .. encode(v[k], lines - 1, indent .. "  ") end
  end
  if #items == 0 then return open .. close end
  if lines <= 0 then return open .. concat(items, ", ") .. close end
  local inner = indent .. "  "
  return open .. "\n" .. inner .. concat(items, ",\n" .. inner) .. "\n" .. indent .. close
end
M.encode = encode

function M.decode(text) return cjson.decode(text) end

---------------------------------------------------------------------------------------------
-- the files

function M.vocabulary_ts()
  return "// Generated from lua/sova/sandboxed/vocabulary.lua by `build/sova script scripts/generate.lua`:\n"
    .. "// do not edit (spec/unit/generated_spec.lua fails when this file is not what the generator writes).\n"
    .. "// The API serves the same document at GET /api/meta.\n"
    .. "export const VOCABULARY = " .. encode(vocabulary.document(), 2, "") .. " as const;\n"
end

-- What sova.schema answers for one vector: {ok = true, value | doc} or {ok = false, reason | errors}.
function M.expect_value(v)
  local out, reason = schema.check_field_value(v.field, v.value)
  if out == nil then return { ok = false, reason = reason } end
  return { ok = true, value = out }
end

function M.expect_document(v, schemas)
  local fields = v.fields or schemas[v.schema]
  if fields == nil then error("generate: vector " .. tostring(v.name) .. " names no schema", 0) end
  local doc, errs = schema.validate(fields, v.input, v.mode)
  if doc == nil then return { ok = false, errors = errs } end
  return { ok = true, doc = doc }
end

function M.expect_definition(v)
  local ok, reason = schema.check_definition({ v.field })
  if not ok then return { ok = false, reason = reason } end
  return { ok = true }
end

-- The vectors file with every "expect" recomputed from sova.schema.
function M.vectors_json(text)
  local vectors = cjson.decode(text)
  for _, v in ipairs(vectors.values) do v.expect = M.expect_value(v) end
  for _, v in ipairs(vectors.documents) do v.expect = M.expect_document(v, vectors.schemas) end
  for _, v in ipairs(vectors.definitions) do v.expect = M.expect_definition(v) end
  local parts = {}
  for i, k in ipairs({ "about", "schemas", "values", "documents", "definitions" }) do
    local depth = k == "schemas" and 2 or k == "about" and 0 or 1
    parts[i] = "  " .. quote(k) .. ": " .. encode(vectors[k], depth, "  ")
  end
  return "{\n" .. concat(parts, ",\n") .. "\n}\n"
end

-- files(root) -> { {path = relative path, text = content} }
function M.files(root)
  root = root or config.root_dir()
  local current = config.read_file(root .. "/" .. M.VECTORS)
  if not current then error("generate: cannot read " .. M.VECTORS, 0) end
  return {
    { path = M.VOCABULARY_TS, text = M.vocabulary_ts() },
    { path = M.VECTORS, text = M.vectors_json(current) },
  }
end

return M

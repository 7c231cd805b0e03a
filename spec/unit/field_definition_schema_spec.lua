-- The field-definition rules live in lua/sova/sandboxed/schema.lua (check_definition);
-- schemas/patient_schema_field.schema.json states them for editors and other tools. This spec
-- keeps the two agreeing: the same attributes, types and system fields, and the same verdict on
-- every definition vector of schemas/vectors/patient_validation.json, except for the rules JSON
-- Schema cannot express, where a vector says so (and the JSON Schema must then accept it).
local cjson = require("cjson")
local config = require("sova.config")
local jsonschema = require("sova.jsonschema")
local schema = require("sova.sandboxed.schema")
local vocabulary = require("sova.sandboxed.vocabulary")

local root = config.root_dir()
local function read_json(rel) return cjson.decode((assert(config.read_file(root .. "/" .. rel), rel))) end
local field_schema = read_json("schemas/patient_schema_field.schema.json")
local vectors = read_json("schemas/vectors/patient_validation.json")

-- what JSON Schema cannot say (the JSON Schema's description lists the same)
local BEYOND_JSON_SCHEMA = {
  ["lengths: schema.lua counts bytes, JSON Schema characters"] = true,
  ["min must not exceed max"] = true,
  ["a default must be a valid value of its own field: format, bounds, length, options"] = true,
}

local sorted_keys = require("helpers").sorted_keys

describe("the field-definition JSON Schema and schema.lua #unit", function()
  it("name the same attributes", function()
    assert.same(sorted_keys(schema.FIELD_ATTRIBUTES), sorted_keys(field_schema.properties))
  end)

  it("name the same types", function()
    local enum = { unpack(field_schema.properties.type.enum) }
    table.sort(enum)
    assert.same(sorted_keys(schema.TYPES), enum)
  end)

  it("refuse the same system fields as keys, by pattern or by name", function()
    local key = field_schema.properties.key
    local named = {}
    for _, k in ipairs(key["not"].enum) do named[k] = true end
    for _, k in ipairs(vocabulary.SYSTEM_FIELDS) do
      assert.is_true(named[k] or not jsonschema.regex_test(key.pattern, k), k .. " is allowed as a key")
    end
    for k in pairs(named) do assert.is_true(vocabulary.SYSTEM_FIELD_SET[k], k .. " is no system field") end
  end)

  it("have definition vectors on both sides of each rule", function()
    local ok, refused, beyond = 0, 0, 0
    for _, v in ipairs(vectors.definitions) do
      if v.beyond_json_schema then beyond = beyond + 1 elseif v.expect.ok then ok = ok + 1 else refused = refused + 1 end
    end
    assert.truthy(ok >= 10 and refused >= 30 and beyond >= 5, ok .. " accepted, " .. refused .. " refused, " .. beyond .. " beyond")
  end)

  for _, v in ipairs(vectors.definitions) do
    it("agree: " .. v.name, function()
      local lua_ok, reason = schema.check_definition({ v.field })
      local js_ok, errs = jsonschema.validate(field_schema, v.field)
      if v.beyond_json_schema then
        assert.is_true(BEYOND_JSON_SCHEMA[v.beyond_json_schema], "not a known limit: " .. v.beyond_json_schema)
        assert.is_nil(lua_ok, "schema.lua accepts it: then it is no limit of JSON Schema")
        assert(js_ok, "the JSON Schema refuses it: " .. jsonschema.format_errors(errs))
      elseif lua_ok then
        assert(js_ok, "schema.lua accepts it, the JSON Schema refuses it: " .. jsonschema.format_errors(errs))
      else
        assert(not js_ok, "schema.lua refuses it (" .. tostring(reason) .. "), the JSON Schema accepts it")
      end
    end)
  end
end)

-- The shared validation vectors (schemas/vectors/patient_validation.json) through
-- lua/sova/sandboxed/schema.lua, the one implementation on the server. The web UI's validate.ts runs the
-- same file (frontend/src/schema/__tests__/vectors.test.ts), so the two cannot drift apart;
-- spec/unit/generated_spec.lua checks the file is exactly what the generator writes.
local cjson = require("cjson")
local config = require("sova.config")
local schema = require("sova.sandboxed.schema")

local vectors = cjson.decode((assert(config.read_file(config.root_dir() .. "/schemas/vectors/patient_validation.json"))))

describe("shared validation vectors #unit", function()
  it("cover every field type, both modes, and refusals as well as normalizations", function()
    local types, modes, outcomes = {}, {}, {}
    for _, v in ipairs(vectors.values) do
      types[v.field.type] = true
      outcomes[tostring(v.expect.ok)] = true
    end
    for _, v in ipairs(vectors.documents) do modes[v.mode .. " " .. tostring(v.expect.ok)] = true end
    for t in pairs(schema.TYPES) do assert.is_true(types[t], "no vector of type " .. t) end
    assert.same({ ["true"] = true, ["false"] = true }, outcomes)
    for _, m in ipairs({ "create true", "create false", "update true", "update false" }) do
      assert.is_true(modes[m], "no document vector: " .. m)
    end
  end)

  describe("values (check_field_value)", function()
    for _, v in ipairs(vectors.values) do
      it(v.name, function()
        local out, reason = schema.check_field_value(v.field, v.value)
        if out == nil then
          assert.same(v.expect, { ok = false, reason = reason })
        else
          assert.same(v.expect, { ok = true, value = out })
        end
      end)
    end
  end)

  describe("documents (validate)", function()
    for _, v in ipairs(vectors.documents) do
      it(v.name, function()
        local doc, errs = schema.validate(v.fields or vectors.schemas[v.schema], v.input, v.mode)
        if doc == nil then
          assert.same(v.expect, { ok = false, errors = errs })
        else
          assert.same(v.expect, { ok = true, doc = doc })
        end
      end)
    end
  end)
end)

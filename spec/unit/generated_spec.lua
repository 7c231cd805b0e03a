-- Files generated from the platform's Lua (lua/sova/tools/generate.lua) are committed as the
-- generator writes them: after a change to sova.sandboxed.vocabulary, sova.schema or the
-- vectors' inputs, `build/sova script scripts/generate.lua` brings them up to date.
local config = require("sova.config")
local generate = require("sova.tools.generate")

describe("generated files #unit", function()
  local root = config.root_dir()
  for _, f in ipairs(generate.files(root)) do
    it(f.path .. " is what the generator writes", function()
      local committed = config.read_file(root .. "/" .. f.path)
      assert(committed == f.text, f.path .. " is out of date: run build/sova script scripts/generate.lua")
    end)
  end

  it("the TypeScript vocabulary carries the module's document", function()
    local text = generate.vocabulary_ts()
    local body = text:match("export const VOCABULARY = (.*) as const;\n$")
    assert.same(require("sova.sandboxed.vocabulary").document(), require("cjson").decode(body))
  end)
end)

-- Writes the files derived from the platform's Lua (lua/sova/tools/generate.lua says which):
-- the web UI's vocabulary and the expectations of the shared validation vectors.
-- Run after changing sova.sandboxed.vocabulary, sova.schema or the vectors' inputs:
--   build/sova script scripts/generate.lua
local generate = require("sova.tools.generate")
local root = require("sova.config").root_dir()

for _, f in ipairs(generate.files(root)) do
  local path = root .. "/" .. f.path
  local out = assert(io.open(path, "wb"))
  assert(out:write(f.text))
  assert(out:close())
  print("wrote " .. f.path)
end

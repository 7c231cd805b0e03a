-- The images build what the checkout builds: every library scripts/install-deps installs to
-- compile `sova` (a -dev package, test tooling aside) is in the build stage of both Dockerfiles,
-- so a new dependency of the C core cannot leave the images unbuildable (utf8proc once did).
local helpers = require("helpers")

local ROOT = helpers.proc.root
-- -dev packages the images do not need: the C unit tests' framework, the phone simulator's
-- and the specs' own
local TEST_ONLY = { ["libcmocka-dev"] = true }

local function read(path) return assert(helpers.proc.read_file(ROOT .. "/" .. path), path) end

local function dev_packages(text)
  local out = {}
  for name in text:gmatch("([%w%.%-+]+%-dev)") do out[name] = true end
  return out
end

describe("the Docker images #unit", function()
  local deps = read("scripts/install-deps")
  local list = assert(deps:match("DEB_PACKAGES=%((.-)%)"), "DEB_PACKAGES in scripts/install-deps")

  for _, file in ipairs({ "Dockerfile", "Dockerfile.bot" }) do
    it(file .. " builds with every library install-deps builds with", function()
      local stage = assert(read(file):match("AS build(.-)\nFROM "), "a build stage in " .. file)
      local have = dev_packages(stage)
      local missing = {}
      for name in pairs(dev_packages(list)) do
        if not TEST_ONLY[name] and not have[name] then missing[#missing + 1] = name end
      end
      table.sort(missing)
      assert.same({}, missing)
    end)
  end
end)

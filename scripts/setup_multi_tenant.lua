-- Creates or updates the demo clinics from their definitions in schemas/organizations/*.json.
-- Run with: sova script scripts/setup_multi_tenant.lua
-- Idempotent: a second run changes nothing and duplicates nothing. Existing passwords are kept.
--
-- Environment: MONGODB_URI; SOVA_DEMO_PASSWORD (else one is generated once, printed once, and
-- kept in $SOVA_DATA_DIR/demo_password with mode 0600).
local core = require("sova.core")
local bson, crypto = core.bson, core.crypto
local cjson = require("cjson")
local config = require("sova.config")
local json = require("sova.json")
local schema = require("sova.sandboxed.schema")
local store = require("sova.store")

local function die(msg)
  io.stderr:write("setup_multi_tenant: ", msg, "\n")
  os.exit(1)
end

local ok, err = core.db.open(config.mongodb_uri())
if not ok then die(err) end
local pong, perr = core.db.ping()
if not pong then die("database unreachable: " .. tostring(perr)) end
ok, err = store.ensure_indexes()
if not ok then die("cannot create indexes: " .. tostring(err)) end

local dir = config.root_dir() .. "/schemas/organizations"
local files = {}
local ls = assert(io.popen("ls -1 '" .. dir .. "'"))
for name in ls:lines() do
  if name:match("^[%w_%-]+%.json$") then files[#files + 1] = dir .. "/" .. name end
end
ls:close()
if #files == 0 then die("no organization definitions in " .. dir) end
table.sort(files)

-- The demo password: from the environment, or generated once into the data dir.
local function demo_password()
  local pw = os.getenv("SOVA_DEMO_PASSWORD")
  if pw and pw ~= "" then
    if #pw < 12 then die("SOVA_DEMO_PASSWORD must be at least 12 characters") end
    return pw, "SOVA_DEMO_PASSWORD"
  end
  local ddir = config.data_dir()
  assert(core.sys.mkdir(ddir))
  local path = ddir .. "/demo_password"
  local existing = config.read_file(path)
  if existing then return (existing:gsub("%s+$", "")), path end
  pw = "sova-" .. crypto.random_hex(9)
  local wok, werr = core.sys.write_private(path, pw .. "\n")
  if not wok then die(werr) end
  print(("Generated demo password (shown once, kept in %s, mode 0600): %s"):format(path, pw))
  return pw, path
end

local h = core.db.unscoped()
local password, password_source
local changed = 0

-- Canonical JSON of the org's configuration, to tell whether an update is needed.
local function canonical(def)
  return json.encode({ name = def.name, time_zone = def.time_zone, branding = def.branding, domains = def.domains,
    workflows = def.workflows })
end

for _, path in ipairs(files) do
  local text = assert(config.read_file(path))
  local def = cjson.decode(text)
  for wf_key, wf in pairs(def.workflows or {}) do
    local good, why = schema.check_definition(wf.patient_schema and wf.patient_schema.fields)
    if not good then die(("%s: workflow %s: %s"):format(path, wf_key, why)) end
  end
  for _, wf in pairs(def.workflows) do json.array(wf.patient_schema.fields) end
  json.array(def.domains)

  local org = h:find_one("organizations", { slug = def.slug })
  if org == nil then die("database error reading organizations") end
  local now = bson.now()
  if not org then
    local id = assert(h:insert("organizations", {
      name = def.name, slug = def.slug, time_zone = def.time_zone, branding = def.branding, domains = def.domains,
      workflows = def.workflows, created_at = now, updated_at = now,
    }))
    org = assert(h:find_one("organizations", { _id = id }))
    print(("created organization %s"):format(def.slug))
    changed = changed + 1
  elseif canonical(org) ~= canonical(def) then
    assert(h:update("organizations", { _id = org._id }, { ["$set"] = {
      name = def.name, time_zone = def.time_zone, branding = def.branding, domains = def.domains, workflows = def.workflows, updated_at = now,
    } }))
    print(("updated organization %s"):format(def.slug))
    changed = changed + 1
  else
    print(("organization %s is up to date"):format(def.slug))
  end

  for _, u in ipairs(def.users or {}) do
    local email = u.email:lower()
    local user = h:find_one("users", { email = email })
    if user == nil then die("database error reading users") end
    if not user then
      if not password then password, password_source = demo_password() end
      local hash = assert(crypto.hash_password(password))
      local uok, uerr = h:insert("users", {
        email = email, hashed_password = hash, organization_id = org._id, role = u.role or "staff",
        status = "active", name = u.name, created_at = bson.now(),
      })
      if not uok then die(("cannot create user %s: %s"):format(email, tostring(uerr))) end
      print(("created user %s (%s, %s)"):format(email, def.slug, u.role or "staff"))
      changed = changed + 1
    elseif tostring(user.organization_id) ~= tostring(org._id) or user.role ~= (u.role or "staff") then
      assert(h:update("users", { _id = user._id }, { ["$set"] = { organization_id = org._id, role = u.role or "staff" } }))
      print(("updated user %s"):format(email))
      changed = changed + 1
    else
      print(("user %s is up to date"):format(email))
    end
  end
end

print(("setup_multi_tenant: %d change(s)%s"):format(changed,
  password_source and (" - demo password from " .. password_source) or ""))
return 0

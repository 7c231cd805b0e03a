-- Moves a local database from FerretDB's SQLite backend to the embedded PostgreSQL one
-- (scripts/migrate-sqlite runs it twice: export against the old server, import against the new).
--   sova script scripts/migrate_sqlite.lua export FILE   every collection of MONGODB_URI's database
--   sova script scripts/migrate_sqlite.lua import FILE   inserted into MONGODB_URI's database
-- FILE holds, per document, the collection's name and the document's BSON, each after its length;
-- it is created mode 0600 (it holds PHI) and removed by the caller. Indexes are not copied: the
-- API creates its own at start (sova.store).
local core = require("sova.core")
local bson = core.bson
local o = bson.ordered

local mode, file = arg[1], arg[2]
if (mode ~= "export" and mode ~= "import") or not file then
  io.stderr:write("usage: sova script scripts/migrate_sqlite.lua export|import FILE\n")
  return 2
end
assert(core.db.open(assert(os.getenv("MONGODB_URI"), "MONGODB_URI is not set")))
local h = core.db.unscoped()

local function u32(n) return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216)) end
local function read_u32(s, at)
  local a, b, c, d = s:byte(at, at + 3)
  return a + b * 256 + c * 65536 + d * 16777216
end

-- Lua strings do not say whether they were BSON binary: GridFS chunks' data is, and so is any
-- string that is not UTF-8 text (the only binaries Sova stores are those)
local schema = require("sova.sandboxed.schema")
local function rewrap(coll, v, key)
  if type(v) == "string" and ((key == "data" and coll:match("%.chunks$")) or not schema.valid_utf8(v) or v:find("%z")) then
    return bson.binary(v)
  end
  if type(v) == "table" and getmetatable(v) == nil then
    for k, x in pairs(v) do v[k] = rewrap(coll, x, k) end
  end
  return v
end

if mode == "export" then
  local parts, count = {}, 0
  local r = assert(h:command(o { "listCollections", 1, "nameOnly", true }))
  for _, c in ipairs(r.cursor.firstBatch) do
    -- every document, in pages by _id (a cursor's first batch only is returned)
    local last
    while true do
      local docs = assert(h:find(c.name, last and { _id = { ["$gt"] = last } } or {}, { sort = { _id = 1 }, limit = 500 }))
      for _, d in ipairs(docs) do
        local b = assert(bson.encode(rewrap(c.name, d)))
        parts[#parts + 1] = u32(#c.name) .. c.name .. u32(#b) .. b
        count = count + 1
      end
      if #docs < 500 then break end
      last = docs[#docs]._id
    end
  end
  assert(core.sys.write_private(file, table.concat(parts)))
  print(("exported %d documents"):format(count))
else
  local f = assert(io.open(file, "rb"))
  local s = f:read("*a")
  f:close()
  local at, count = 1, 0
  while at <= #s do
    local n = read_u32(s, at)
    local name = s:sub(at + 4, at + 3 + n)
    at = at + 4 + n
    local m = read_u32(s, at)
    local doc = assert(bson.decode(s:sub(at + 4, at + 3 + m)))
    at = at + 4 + m
    assert(h:insert(name, rewrap(name, doc)))
    count = count + 1
  end
  print(("imported %d documents"):format(count))
end
return 0

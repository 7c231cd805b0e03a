-- Specs of the bson area of sova.core (core/bind/bson.c): Lua <-> BSON conversion.
-- Run from the repo root: busted spec/core/bson_spec.lua

local core = require("sova.core")
local cjson = require("cjson")
local bson = core.bson

-- BSON element type bytes (bsonspec.org).
local T = {
  double = 0x01, string = 0x02, document = 0x03, array = 0x04, oid = 0x07, bool = 0x08,
  date = 0x09, null = 0x0A, int32 = 0x10, int64 = 0x12,
}

local function le32(s, pos)
  local a, b, c, d = s:byte(pos, pos + 3)
  local n = a + b * 0x100 + c * 0x10000 + d * 0x1000000
  if n >= 0x80000000 then n = n - 0x100000000 end
  return n
end

-- Walks the top-level elements of an encoded document (independently of bson.decode):
-- returns a list of {type = byte, key = string, value = raw bytes of the value}.
local function elements(bytes)
  assert(le32(bytes, 1) == #bytes, "document length header does not match")
  local out, pos = {}, 5
  while true do
    local ty = bytes:byte(pos)
    if ty == 0 then break end
    local key_end = assert(bytes:find("\0", pos + 1, true))
    local key = bytes:sub(pos + 1, key_end - 1)
    local v = key_end + 1
    local size
    if ty == T.double or ty == T.date or ty == T.int64 then size = 8
    elseif ty == T.int32 then size = 4
    elseif ty == T.bool then size = 1
    elseif ty == T.null then size = 0
    elseif ty == T.oid then size = 12
    elseif ty == T.string then size = 4 + le32(bytes, v)
    elseif ty == T.document or ty == T.array then size = le32(bytes, v)
    else error("unexpected element type " .. ty) end
    out[#out + 1] = { type = ty, key = key, value = bytes:sub(v, v + size - 1) }
    pos = v + size
  end
  assert(pos == #bytes, "trailing bytes after the document")
  return out
end

local function element(bytes, key)
  for _, e in ipairs(elements(bytes)) do
    if e.key == key then return e end
  end
end

local function roundtrip(doc)
  local bytes, err = bson.encode(doc)
  assert(bytes, err)
  local back, derr = bson.decode(bytes)
  assert(back, derr)
  return back, bytes
end

-- A document nested `depth` levels deep: {a = {a = ...}}, or arrays {{...}} when as_array.
local function nested(depth, as_array)
  local root = {}
  local cur = root
  for _ = 1, depth do
    local child = as_array and bson.array() or {}
    if as_array and cur ~= root then cur[1] = child else cur.a = child end
    cur = child
  end
  return root
end

describe("sova.core bson #core", function()
  describe("round trips", function()
    it("keeps ASCII, empty and UTF-8 strings, and UTF-8 keys", function()
      local doc = { s = "hello", e = "", u = "héllo — 日本語 🎉", ["clé-ü"] = "v" }
      local back, bytes = roundtrip(doc)
      assert.same(doc, back)
      assert.equal(T.string, element(bytes, "u").type)
    end)

    it("stores integers in the int32 range as int32 and beyond as int64, exactly", function()
      local doc = {
        zero = 0, one = 1, neg = -1,
        i32max = 2147483647, i32min = -2147483648,
        above = 2147483648, below = -2147483649,
        big = 2 ^ 40, nbig = -(2 ^ 40), max53 = 2 ^ 53, min53 = -(2 ^ 53),
      }
      local back, bytes = roundtrip(doc)
      assert.same(doc, back)
      for _, k in ipairs({ "zero", "one", "neg", "i32max", "i32min" }) do
        assert.equal(T.int32, element(bytes, k).type, k)
      end
      for _, k in ipairs({ "above", "below", "big", "nbig", "max53", "min53" }) do
        assert.equal(T.int64, element(bytes, k).type, k)
      end
      assert.equal("\255\255\255\127", element(bytes, "i32max").value)
      assert.equal("\0\0\0\128\0\0\0\0", element(bytes, "above").value)
    end)

    it("stores fractions and integers beyond 2^53 as doubles", function()
      local doc = { half = 1.5, neg = -0.25, pi = math.pi, tiny = 5e-324, huge = 2 ^ 60, max = 1.7976931348623157e308 }
      local back, bytes = roundtrip(doc)
      assert.same(doc, back)
      for k in pairs(doc) do
        assert.equal(T.double, element(bytes, k).type, k)
      end
    end)

    it("keeps booleans", function()
      local back, bytes = roundtrip({ t = true, f = false })
      assert.is_true(back.t)
      assert.is_false(back.f)
      assert.equal(T.bool, element(bytes, "t").type)
      assert.equal("\1", element(bytes, "t").value)
      assert.equal("\0", element(bytes, "f").value)
    end)

    it("maps BSON null to bson.null, which is cjson.null", function()
      assert.equal(cjson.null, bson.null)
      local back, bytes = roundtrip({ n = bson.null, list = { 1, cjson.null, 3 } })
      assert.equal(T.null, element(bytes, "n").type)
      assert.equal(bson.null, back.n)
      assert.equal(cjson.null, back.n)
      assert.equal(3, #back.list)
      assert.equal(cjson.null, back.list[2])
      assert.equal(3, back.list[3])
    end)

    it("keeps nested documents and arrays", function()
      local doc = {
        patient = { name = { given = "Ada", family = "Lovelace" }, tags = { "a", "b" } },
        matrix = { { 1, 2 }, { 3, { x = { true } } } },
      }
      local back, bytes = roundtrip(doc)
      assert.same(doc, back)
      assert.equal(T.document, element(bytes, "patient").type)
      assert.equal(T.array, element(bytes, "matrix").type)
    end)

    it("marks decoded arrays with bson.array_mt, so they re-encode as arrays", function()
      local back = roundtrip({ list = { 1, 2 }, doc = { k = 1 } })
      assert.equal(bson.array_mt, getmetatable(back.list))
      assert.is_nil(getmetatable(back.doc))
    end)

    it("stores an empty table as a document and bson.array() as an empty array", function()
      local plain = bson.encode({ x = {} })
      local arr = bson.encode({ x = bson.array() })
      assert.equal(T.document, element(plain, "x").type)
      assert.equal(T.array, element(arr, "x").type)
      local back = assert(bson.decode(arr))
      assert.same({}, back.x)
      assert.equal(bson.array_mt, getmetatable(back.x))
      -- the decoded empty array stays an array when written again
      assert.equal(T.array, element(assert(bson.encode(back)), "x").type)
    end)

    it("bson.array marks and returns the given table", function()
      local t = { 1, 2 }
      assert.equal(t, bson.array(t))
      assert.equal(bson.array_mt, getmetatable(t))
      assert.has_error(function() bson.array("x") end)
    end)

    it("keeps ObjectIds as ObjectIds", function()
      local id = bson.oid()
      local back, bytes = roundtrip({ _id = id, refs = { id } })
      local e = element(bytes, "_id")
      assert.equal(T.oid, e.type)
      assert.equal(tostring(id), (e.value:gsub(".", function(c) return string.format("%02x", c:byte()) end)))
      assert.is_true(bson.is_oid(back._id))
      assert.equal(id, back._id)
      assert.equal(tostring(id), tostring(back._id))
      assert.is_true(bson.is_oid(back.refs[1]))
    end)

    it("keeps dates as dates, in milliseconds", function()
      local d = bson.date(1700000000123)
      local back, bytes = roundtrip({ at = d, before_epoch = bson.date(-86400000) })
      local e = element(bytes, "at")
      assert.equal(T.date, e.type)
      assert.is_true(bson.is_date(back.at))
      assert.equal(1700000000123, back.at["$date"])
      assert.equal(-86400000, back.before_epoch["$date"])
    end)

    it("encodes a top-level sequence with keys \"0\", \"1\", ...", function()
      local bytes = assert(bson.encode({ "a", "b" }))
      local els = elements(bytes)
      assert.equal("0", els[1].key)
      assert.equal("1", els[2].key)
    end)
  end)

  describe("ordered documents", function()
    it("keep the given key order in the encoded bytes", function()
      local bytes = assert(bson.encode(bson.ordered({ "z", 1, "a", 2, "m", 3, "b", 4 })))
      local keys = {}
      for i, e in ipairs(elements(bytes)) do keys[i] = e.key end
      assert.same({ "z", "a", "m", "b" }, keys)
    end)

    it("keep their key order when nested in a plain document", function()
      local bytes = assert(bson.encode({ sort = bson.ordered({ "updated", -1, "_id", 1 }) }))
      local sub = element(bytes, "sort")
      assert.equal(T.document, sub.type)
      local keys = {}
      for i, e in ipairs(elements(sub.value)) do keys[i] = e.key end
      assert.same({ "updated", "_id" }, keys)
      assert.same({ updated = -1, _id = 1 }, assert(bson.decode(bytes)).sort)
    end)

    it("refuse an odd number of entries and non-string keys", function()
      local b, err = bson.encode(bson.ordered({ "a", 1, "b" }))
      assert.is_nil(b)
      assert.equal("ordered document needs key, value pairs", err)
      b, err = bson.encode(bson.ordered({ 1, "x" }))
      assert.is_nil(b)
      assert.equal("invalid document key", err)
      b, err = bson.encode(bson.ordered({ "", "x" }))
      assert.is_nil(b)
      assert.equal("invalid document key", err)
    end)

    it("refuse the keys that plain documents refuse (invalid UTF-8, over 1024 bytes)", function()
      -- append_ordered in core/bind/bson.c checks only for empty keys and NUL bytes; append_table
      -- also checks UTF-8 and the 1024-byte limit, so bson.ordered({"\255", 1}) encodes to bytes
      -- that bson.decode then calls malformed.
      for _, key in ipairs({ "\255", string.rep("k", 1025) }) do
        local b, err = bson.encode(bson.ordered({ key, 1 }))
        assert.is_nil(b)
        assert.equal("invalid document key", err)
      end
    end)
  end)

  describe("refusals", function()
    local function refused(doc, pattern)
      local bytes, err = bson.encode(doc)
      assert.is_nil(bytes)
      assert.is_string(err)
      assert.matches(pattern, err)
    end

    it("refuses NaN and infinities", function()
      refused({ x = 0 / 0 }, "not finite")
      refused({ x = math.huge }, "not finite")
      refused({ x = -math.huge }, "not finite")
      refused({ list = { 1, 0 / 0 } }, "not finite")
    end)

    it("refuses strings holding NUL bytes or invalid UTF-8", function()
      refused({ x = "a\0b" }, "NUL")
      refused({ x = "\255" }, "UTF%-8")
      refused({ x = "\192\128" }, "UTF%-8") -- overlong encoding of NUL
      refused({ x = "\237\160\128" }, "UTF%-8") -- UTF-16 surrogate
      refused({ x = "caf\195" }, "UTF%-8") -- truncated sequence
    end)

    it("refuses invalid keys", function()
      refused({ ["a\0b"] = 1 }, "invalid document key")
      refused({ ["\255"] = 1 }, "invalid document key")
      refused({ [""] = 1 }, "invalid document key")
      refused({ [string.rep("k", 1025)] = 1 }, "invalid document key")
    end)

    it("refuses functions, coroutines and userdata", function()
      refused({ f = print }, "cannot store a function")
      refused({ co = coroutine.create(function() end) }, "cannot store a thread")
      refused({ fh = io.stdout }, "cannot store a userdata")
    end)

    it("refuses tables with holes, mixed keys or non-string keys", function()
      refused({ x = { 1, nil, 3 } }, "holes")
      refused({ x = { [2] = "b", [3] = "c" } }, "holes")
      refused({ x = { [1.5] = "b" } }, "holes")
      refused({ x = { 1, 2, y = 3 } }, "keys must be strings")
      refused({ x = { y = 3, [7] = 1 } }, "keys must be strings")
      refused({ x = { [true] = 1 } }, "keys must be strings")
      refused({ x = bson.array({ a = 1 }) }, "holes or non%-integer keys")
    end)

    it("accepts 64 levels of nesting and refuses 65", function()
      local ok = bson.encode(nested(64))
      assert.is_string(ok)
      local back = assert(bson.decode(ok))
      local depth, cur = 0, back
      while cur.a do depth, cur = depth + 1, cur.a end
      assert.equal(64, depth)
      refused(nested(65), "nested too deep")
      assert.is_string(bson.encode(nested(64, true)))
      refused(nested(65, true), "nested too deep")
      refused(nested(1000), "nested too deep")
    end)

    it("refuses non-tables, ObjectIds and dates at the top level", function()
      refused("x", "expected a table")
      refused(bson.oid(), "expected a document")
      refused(bson.date(0), "expected a document")
    end)

    it("refuses dates outside JavaScript's range (+-8.64e15 ms), so no cast overflows", function()
      assert.has_error(function() bson.date(1e300) end, "bad argument #1 to 'date' (date out of range)")
      assert.has_error(function() bson.date(-8.64e15 - 1) end, "bad argument #1 to 'date' (date out of range)")
      -- a date table forged around the constructor is refused when stored
      local mt = getmetatable(bson.date(0))
      refused({ at = setmetatable({ ["$date"] = 1e300 }, mt) }, "out%-of%-range date")
      local ok = bson.encode({ at = bson.date(8.64e15) })
      assert.is_string(ok)
    end)

    it("refuses a table that carries the ObjectId metatable but no valid id", function()
      local mt = getmetatable(bson.oid())
      refused({ x = setmetatable({ ["$oid"] = "zz" }, mt) }, "malformed ObjectId")
      refused({ x = setmetatable({}, mt) }, "malformed ObjectId")
    end)
  end)

  describe("ObjectIds", function()
    it("a {\"$oid\": ...} object from JSON stays a sub-document, never an ObjectId", function()
      local hex = tostring(bson.oid())
      local doc = cjson.decode('{"_id": {"$oid": "' .. hex .. '"}, "at": {"$date": 1700000000000}}')
      assert.is_false(bson.is_oid(doc._id))
      local back, bytes = roundtrip(doc)
      assert.equal(T.document, element(bytes, "_id").type)
      assert.equal(T.document, element(bytes, "at").type)
      assert.is_false(bson.is_oid(back._id))
      assert.is_false(bson.is_date(back.at))
      assert.same({ ["$oid"] = hex }, back._id)
    end)

    it("bson.oid(\"zz\") and other malformed ids return nil, \"invalid ObjectId\"", function()
      for _, bad in ipairs({ "zz", string.rep("g", 24), string.rep("a", 23), string.rep("a", 25), 123, true }) do
        local id, err = bson.oid(bad)
        assert.is_nil(id)
        assert.equal("invalid ObjectId", err)
      end
    end)

    it("parses 24 hex digits, prints them back, and compares by value", function()
      local hex = "507f1f77bcf86cd799439011"
      local a, b = bson.oid(hex), bson.oid(hex)
      assert.is_true(bson.is_oid(a))
      assert.equal(hex, tostring(a))
      assert.is_false(rawequal(a, b))
      assert.is_true(a == b)
      assert.is_false(a == bson.oid("507f1f77bcf86cd799439012"))
    end)

    it("bson.oid() makes distinct ids holding the current time", function()
      local seen = {}
      for _ = 1, 100 do
        local id = bson.oid()
        local hex = tostring(id)
        assert.matches("^%x+$", hex)
        assert.equal(24, #hex)
        assert.is_nil(seen[hex])
        seen[hex] = true
      end
      assert.is_true(math.abs(bson.oid_time(bson.oid()) - os.time()) <= 2)
      assert.equal(0x507f1f77, bson.oid_time(bson.oid("507f1f77bcf86cd799439011")))
      assert.has_error(function() bson.oid_time({ ["$oid"] = "507f1f77bcf86cd799439011" }) end)
    end)

    it("is_oid and is_date only accept the marked tables", function()
      assert.is_false(bson.is_oid({ ["$oid"] = "507f1f77bcf86cd799439011" }))
      assert.is_false(bson.is_oid("507f1f77bcf86cd799439011"))
      assert.is_false(bson.is_date({ ["$date"] = 0 }))
      assert.is_false(bson.is_date(0))
      assert.is_true(bson.is_date(bson.now()))
    end)
  end)

  describe("dates", function()
    it("print as ISO 8601 UTC with milliseconds", function()
      assert.equal("1970-01-01T00:00:00.000Z", tostring(bson.date(0)))
      assert.equal("2023-11-14T22:13:20.123Z", tostring(bson.date(1700000000123)))
      assert.equal("1969-12-31T23:59:59.999Z", tostring(bson.date(-1)))
      assert.equal("2000-02-29T12:00:00.500Z", tostring(bson.date(951825600500)))
    end)

    it("bson.date floors fractional milliseconds and refuses non-finite numbers", function()
      assert.equal(1500, bson.date(1500.9)["$date"])
      assert.has_error(function() bson.date(0 / 0) end)
      assert.has_error(function() bson.date(math.huge) end)
      assert.has_error(function() bson.date("soon") end)
    end)

    it("bson.now is the current time in milliseconds", function()
      local ms = bson.now()["$date"]
      assert.equal(math.floor(ms), ms)
      assert.is_true(math.abs(ms / 1000 - os.time()) <= 2)
    end)
  end)

  describe("decode", function()
    it("returns nil, \"malformed BSON\" for garbage, truncated or inconsistent bytes", function()
      local good = assert(bson.encode({ s = "ab", n = 1 }))
      for _, bad in ipairs({
        "", "garbage", "\0\0\0\0", "\5\0\0\0\1", good:sub(1, -2), good .. "\0",
        "\255\255\255\127" .. good:sub(5),
      }) do
        local t, err = bson.decode(bad)
        assert.is_nil(t)
        assert.equal("malformed BSON", err)
      end
    end)

    it("refuses a well-framed document whose string holds a NUL or an overlong NUL", function()
      local good = assert(bson.encode({ s = "ab" }))
      for _, bad_text in ipairs({ "a\0", "\192\128" }) do
        local bad = good:gsub("ab", bad_text, 1)
        assert.equal(#good, #bad)
        local t, err = bson.decode(bad)
        assert.is_nil(t)
        assert.equal("malformed BSON", err)
      end
    end)

    it("refuses a well-framed document whose key is not UTF-8", function()
      local good = assert(bson.encode({ ab = 1 }))
      local t, err = bson.decode((good:gsub("ab", "\255b", 1)))
      assert.is_nil(t)
      assert.equal("malformed BSON", err)
    end)

    it("refuses a well-framed document whose string value is not UTF-8", function()
      -- libbson 1.23's bson_validate(BSON_VALIDATE_UTF8) does not flag a string value such as
      -- "\255b" (bson_iter_visit_all bails out before the UTF-8 visitor and the validator ignores
      -- it), so l_decode in core/bind/bson.c hands invalid UTF-8 to Lua.
      local good = assert(bson.encode({ s = "ab", nested = { s = "ab" } }))
      local top = good:gsub("ab", "\255b", 1)
      local t, err = bson.decode(top)
      assert.is_nil(t)
      assert.equal("malformed BSON", err)
    end)

    it("decodes the empty document", function()
      assert.same({}, bson.decode("\5\0\0\0\0"))
    end)

    it("raises on a non-string argument", function()
      assert.has_error(function() bson.decode({}) end)
    end)
  end)
end)

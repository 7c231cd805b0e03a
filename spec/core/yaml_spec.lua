-- Specs of core.yaml (core/bind/yaml.c): YAML configuration text to Lua values with libyaml, and
-- the refusals that keep hostile or surprising files out (aliases, anchors, several documents,
-- deep nesting, huge texts, unknown tags).
-- Run: busted spec/core/yaml_spec.lua
local core = require("sova.core")
local cjson = require("cjson")

local yaml = core.yaml
local NULL = cjson.null

describe("core.yaml.decode #core", function()
  local function decode_ok(text)
    local v, err = yaml.decode(text)
    assert.is_nil(err)
    return v
  end

  local function decode_err(text)
    local v, err = yaml.decode(text)
    assert.is_nil(v)
    assert.is_string(err)
    return err
  end

  describe("shapes", function()
    it("decodes a services.yaml-like mapping into nested tables", function()
      local v = decode_ok([[
# the language model
llm:
  provider: openai
  model: gpt-4o-mini
  api_key_env: OPENAI_API_KEY
  temperature: 0.2
  timeout_ms: 8000
tts: {provider: espeak, voice: en-us}
]])
      assert.same({
        llm = { provider = "openai", model = "gpt-4o-mini", api_key_env = "OPENAI_API_KEY", temperature = 0.2, timeout_ms = 8000 },
        tts = { provider = "espeak", voice = "en-us" },
      }, v)
    end)

    it("marks sequences with the sova.array metatable, so empty ones stay arrays", function()
      local v = decode_ok("a: [1, 2]\nb: []\nc: {}\nd:\n  - x\n  - y\n")
      assert.equal(core.bson.array_mt, getmetatable(v.a))
      assert.equal(core.bson.array_mt, getmetatable(v.b))
      assert.is_nil(getmetatable(v.c))
      assert.same({ "x", "y" }, v.d)
      assert.equal('{"a":[1,2],"b":[],"c":{},"d":["x","y"]}', require("sova.json").encode(v))
    end)

    it("decodes a top-level scalar or sequence too", function()
      assert.equal("plain", decode_ok("plain"))
      assert.same({ 1, "two" }, decode_ok("- 1\n- two\n"))
    end)

    it("keeps mapping keys as strings, even when they look like numbers or booleans", function()
      local v = decode_ok("1: one\ntrue: yes\nnull: x\n")
      assert.equal("one", v["1"])
      assert.equal("yes", v["true"])
      assert.equal("x", v["null"])
      assert.is_nil(v[1])
    end)
  end)

  describe("scalars (YAML 1.2 core schema)", function()
    it("turns plain integers, octal, hex and floats into numbers", function()
      local v = decode_ok("a: 42\nb: -7\nc: +3\nd: 0o17\ne: 0x1F\nf: 3.25\ng: 1e3\nh: -.5\ni: 6.02E+23\nj: 007\n")
      assert.same({ a = 42, b = -7, c = 3, d = 15, e = 31, f = 3.25, g = 1000, h = -0.5, i = 6.02e23, j = 7 }, v)
    end)

    it("reads .inf, -.inf and .nan as numbers", function()
      local v = decode_ok("a: .inf\nb: -.Inf\nc: .NaN\n")
      assert.equal(math.huge, v.a)
      assert.equal(-math.huge, v.b)
      assert.is_true(v.c ~= v.c)
    end)

    it("reads true/false as booleans but leaves yes/no/on/off as strings (no Norway problem)", function()
      local v = decode_ok("a: true\nb: False\nc: TRUE\nd: yes\ne: no\nf: on\ng: NO\n")
      assert.same({ a = true, b = false, c = true, d = "yes", e = "no", f = "on", g = "NO" }, v)
    end)

    it("reads null, ~ and empty values as the JSON null (cjson.null)", function()
      local v = decode_ok("a: null\nb: ~\nc:\nd: Null\n")
      assert.equal(NULL, v.a)
      assert.equal(NULL, v.b)
      assert.equal(NULL, v.c)
      assert.equal(NULL, v.d)
    end)

    it("keeps quoted and block scalars as strings", function()
      local v = decode_ok("a: '42'\nb: \"true\"\nc: \"null\"\nd: |\n  line one\n  line two\ne: >\n  folded\n  text\n")
      assert.same({ a = "42", b = "true", c = "null", d = "line one\nline two\n", e = "folded text\n" }, v)
    end)

    it("leaves number-like text that is not a YAML number as a string", function()
      local v = decode_ok("a: 1_000\nb: 1.2.3\nc: 0x\nd: 12abc\ne: +\nf: 555-1234\ng: 2026-01-02\n")
      assert.same({ a = "1_000", b = "1.2.3", c = "0x", d = "12abc", e = "+", f = "555-1234", g = "2026-01-02" }, v)
    end)

    it("decodes escapes and UTF-8, and keeps a NUL inside a quoted string", function()
      local v = decode_ok('a: "caf\\u00e9 \\t tab"\nb: "x\\0y"\nc: señor\n')
      assert.equal("caf\195\169 \t tab", v.a)
      assert.equal("x\0y", v.b)
      assert.equal("se\195\177or", v.c)
    end)

    it("honours the standard tags !!str, !!int, !!float, !!bool, !!null", function()
      local v = decode_ok("a: !!str 12\nb: !!int '12'\nc: !!float '1.5'\nd: !!bool 'true'\ne: !!null ''\nf: ! 12\n")
      assert.same({ a = "12", b = 12, c = 1.5, d = true, e = NULL, f = "12" }, v)
    end)
  end)

  describe("refusals", function()
    it("refuses anchors and aliases (no billion laughs)", function()
      assert.equal("line 1: anchors (&name) are not allowed", decode_err("a: &x 1\nb: *x\n"))
      assert.equal("line 2: aliases (*name) are not allowed", decode_err("a: 1\nb: *x\n"))
      local laughs = "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      assert.matches("^line 1: anchors", decode_err(laughs))
    end)

    it("refuses merge keys, which need an alias", function()
      assert.matches("aliases", decode_err("base: {a: 1}\nx:\n  <<: *base\n"))
    end)

    it("refuses more than one document, and says where the second starts", function()
      assert.equal("line 3: more than one document", decode_err("---\na: 1\n---\nb: 2\n"))
    end)

    it("refuses nesting deeper than 32 and accepts exactly 32", function()
      assert.equal(32, yaml.MAX_DEPTH)
      assert.matches("^line 1: nesting deeper than 32 levels", decode_err(string.rep("[", 33) .. string.rep("]", 33)))
      local v = decode_ok(string.rep("[", 32) .. string.rep("]", 32))
      local depth = 0
      while type(v) == "table" do depth, v = depth + 1, v[1] end
      assert.equal(32, depth)
      local block = {}
      for i = 0, 33 do block[#block + 1] = string.rep("  ", i) .. "k" .. i .. ":" end
      assert.matches("nesting deeper than 32", decode_err(table.concat(block, "\n") .. " x\n"))
    end)

    it("refuses texts over 256 KiB without parsing them", function()
      assert.equal(256 * 1024, yaml.MAX_BYTES)
      local big = "a: " .. string.rep("x", 256 * 1024)
      assert.equal("line 1: document over 262144 bytes", decode_err(big))
      local fits = "a: " .. string.rep("x", 256 * 1024 - 4)
      assert.equal(256 * 1024 - 4, #decode_ok(fits).a)
    end)

    it("refuses duplicate keys, which YAML forbids and which would hide a setting", function()
      assert.equal("line 3: duplicate key 'model'", decode_err("llm:\n  model: a\n  model: b\n"))
    end)

    it("refuses unknown tags (no object construction)", function()
      assert.matches("^line 1: the tag tag:yaml.org,2002:python/object:os.system is not supported",
        decode_err("a: !!python/object:os.system x\n"))
      assert.matches("the tag !custom is not supported", decode_err("a: !custom x\n"))
      assert.matches("is not supported", decode_err("a: !!binary aGk=\n"))
      assert.matches("does not fit its tag !!int", decode_err("a: !!int twelve\n"))
    end)

    it("refuses collections as mapping keys", function()
      assert.equal("line 1: mapping keys must be scalars", decode_err("? [a, b]\n: c\n"))
    end)

    it("refuses an empty text (no document)", function()
      assert.equal("line 1: no document", decode_err(""))
      assert.equal("line 1: no document", decode_err("# only a comment\n"))
    end)

    it("returns null for an explicitly empty document", function()
      assert.equal(NULL, decode_ok("---\n"))
    end)
  end)

  describe("syntax errors", function()
    it("give the line of the mistake and libyaml's description", function()
      assert.equal("line 2: mapping values are not allowed in this context", decode_err("key: value\n  bad: indent\n"))
      assert.equal("line 3: while parsing a block mapping (from line 1) did not find expected key",
        decode_err("a:\n  b: 1\n c: 2\n"))
      assert.matches("^line %d+: .*flow", decode_err("a: [1, 2\n"))
      assert.equal("line 2: while scanning a quoted scalar (from line 1) found unexpected end of stream",
        decode_err('a: "unterminated\n'))
    end)

    it("reject invalid UTF-8 and control characters", function()
      assert.matches("^line 2: ", decode_err("a: 1\nb: \255\254\n"))
      assert.matches("^line 1: control characters are not allowed", decode_err("a: \1\n"))
    end)
  end)

  describe("arguments", function()
    it("raises on a non-string argument", function()
      assert.has_error(function() yaml.decode() end)
      assert.has_error(function() yaml.decode({}) end)
    end)

    it("decodes many documents in a row without leaking state between them", function()
      for i = 1, 2000 do
        local text = (i % 3 == 0) and "a: *bad\n" or ("n: " .. i .. "\nlist: [a, b, {c: d}]\n")
        local v, err = yaml.decode(text)
        if i % 3 == 0 then assert.is_nil(v) assert.is_string(err) else assert.equal(i, v.n) end
      end
    end)
  end)
end)

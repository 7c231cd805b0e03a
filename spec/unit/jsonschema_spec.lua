-- Specs of sova.jsonschema (lua/sova/jsonschema.lua): the draft 2020-12 subset the platform's
-- schemas use, its error paths and messages, its pattern engine, and the repository's own schemas
-- validating the repository's own documents.
-- Run: busted spec/unit/jsonschema_spec.lua
local cjson = require("cjson")
local core = require("sova.core")
local js = require("sova.jsonschema")
local config = require("sova.config")

local NULL = cjson.null
local array = core.bson.array

local function errors_of(schema, value, opts)
  local ok, errs = js.validate(schema, value, opts)
  if ok then return {} end
  assert.is_nil(ok)
  return errs
end

local function valid(schema, value, opts)
  local ok, errs = js.validate(schema, value, opts)
  assert(ok == true, "expected valid, got: " .. js.format_errors(errs))
end

local function one_error(schema, value, path, message)
  local errs = errors_of(schema, value)
  assert.equal(1, #errs, "errors: " .. js.format_errors(errs))
  assert.equal(path, errs[1].path)
  if message then assert.equal(message, errs[1].message) end
end

describe("sova.jsonschema #unit", function()
  describe("type", function()
    it("tells objects, arrays, strings, numbers, integers, booleans and null apart", function()
      valid({ type = "object" }, { a = 1 })
      valid({ type = "array" }, { 1, 2 })
      valid({ type = "array" }, array({}))
      valid({ type = "string" }, "x")
      valid({ type = "number" }, 1.5)
      valid({ type = "integer" }, 3)
      valid({ type = "boolean" }, false)
      valid({ type = "null" }, NULL)
      valid({ type = "null" }, nil)
      one_error({ type = "integer" }, 1.5, "", "must be an integer")
      one_error({ type = "object" }, { 1, 2 }, "", "must be an object")
      one_error({ type = "array" }, { a = 1 }, "", "must be an array")
      one_error({ type = "object" }, array({}), "", "must be an object")
      one_error({ type = "string" }, 5, "", "must be a string")
      one_error({ type = "boolean" }, "true", "", "must be a boolean")
      one_error({ type = "number" }, NULL, "", "must be a number")
    end)

    it("counts an unmarked empty table as both an empty object and an empty array", function()
      valid({ type = "object" }, {})
      valid({ type = "array" }, {})
    end)

    it("accepts a list of types", function()
      valid({ type = { "string", "null" } }, NULL)
      one_error({ type = { "string", "null" } }, 1, "", "must be one of the types: string, null")
    end)

    it("never matches functions or userdata other than null", function()
      one_error({ type = "object" }, print, "", "must be an object")
    end)
  end)

  describe("objects", function()
    local schema = {
      type = "object",
      required = { "provider", "model" },
      additionalProperties = false,
      properties = { provider = { enum = { "rules", "openai" } }, model = { type = "string" } },
    }

    it("reports a missing required property at its own path", function()
      one_error(schema, { provider = "openai" }, "/model", "is required")
    end)

    it("reports each property additionalProperties = false does not allow", function()
      local errs = errors_of(schema, { provider = "rules", model = "m", api_key = "k", zzz = 1 })
      assert.same({ { path = "/api_key", message = "is not allowed" }, { path = "/zzz", message = "is not allowed" } }, errs)
    end)

    it("applies a schema given as additionalProperties to the other properties", function()
      local s = { type = "object", properties = { a = { type = "string" } }, additionalProperties = { type = "number" } }
      valid(s, { a = "x", b = 1, c = 2 })
      one_error(s, { a = "x", b = "y" }, "/b", "must be a number")
    end)

    it("applies patternProperties and propertyNames", function()
      local s = { type = "object", patternProperties = { ["^x_"] = { type = "integer" } }, additionalProperties = false,
        propertyNames = { pattern = "^[a-z_]+$" } }
      valid(s, { x_a = 1 })
      one_error(s, { x_a = 1.5 }, "/x_a", "must be an integer")
      local errs = errors_of(s, { Bad = 1 })
      assert.equal(2, #errs)
      assert.same({ path = "/Bad", message = "is not allowed" }, errs[1])
      assert.same({ path = "/Bad", message = "is not an allowed name: must match the pattern ^[a-z_]+$" }, errs[2])
    end)

    it("checks minProperties, maxProperties and dependentRequired", function()
      one_error({ minProperties = 2 }, { a = 1 }, "", "must have at least 2 properties")
      one_error({ maxProperties = 1 }, { a = 1, b = 2 }, "", "must have at most 1 properties")
      one_error({ dependentRequired = { account_sid_env = { "auth_token_env" } } }, { account_sid_env = "A" },
        "/auth_token_env", "is required when account_sid_env is given")
    end)

    it("escapes / and ~ in error paths as JSON Pointer does", function()
      one_error({ additionalProperties = false }, { ["a/b~c"] = 1 }, "/a~1b~0c", "is not allowed")
    end)

    it("builds paths through nested objects and arrays (array indexes from 0)", function()
      local s = { type = "object", properties = { llm = { type = "object", properties = {
        tools = { type = "array", items = { type = "object", required = { "name" } } } } } } }
      one_error(s, { llm = { tools = { { name = "a" }, { nom = "b" } } } }, "/llm/tools/1/name", "is required")
    end)
  end)

  describe("strings and numbers", function()
    it("counts minLength and maxLength in characters, not bytes", function()
      valid({ maxLength = 3 }, "h\195\169\195\169")
      one_error({ minLength = 4 }, "h\195\169\195\169", "", "must be at least 4 characters long")
      one_error({ maxLength = 2 }, "abc", "", "must be at most 2 characters long")
    end)

    it("checks minimum, maximum, exclusive bounds and multipleOf", function()
      valid({ minimum = 0, maximum = 2 }, 2)
      one_error({ minimum = 0 }, -0.5, "", "must be at least 0")
      one_error({ maximum = 2 }, 2.5, "", "must be at most 2")
      one_error({ exclusiveMinimum = 0 }, 0, "", "must be greater than 0")
      one_error({ exclusiveMaximum = 1 }, 1, "", "must be less than 1")
      one_error({ multipleOf = 5 }, 12, "", "must be a multiple of 5")
    end)

    it("ignores string keywords on numbers and number keywords on strings", function()
      valid({ minLength = 3, minimum = 10 }, true)
      valid({ minLength = 3 }, 1)
      valid({ minimum = 10 }, "1")
    end)

    it("checks pattern as an unanchored ECMA-262 search", function()
      valid({ pattern = "b" }, "abc")
      one_error({ pattern = "^[A-Z][A-Z0-9_]*$" }, "openai_key", "", "must match the pattern ^[A-Z][A-Z0-9_]*$")
    end)
  end)

  describe("arrays", function()
    it("checks items, prefixItems, minItems, maxItems", function()
      valid({ items = { type = "string" }, minItems = 1, maxItems = 2 }, { "a", "b" })
      one_error({ items = { type = "string" } }, { "a", 2 }, "/1", "must be a string")
      one_error({ minItems = 1 }, array({}), "", "must have at least 1 items")
      one_error({ maxItems = 1 }, { 1, 2 }, "", "must have at most 1 items")
      local s = { prefixItems = { { type = "string" }, { type = "number" } }, items = false }
      valid(s, { "a", 1 })
      one_error(s, { "a", 1, true }, "/2", "is not allowed")
    end)

    it("finds duplicates for uniqueItems, comparing tables by content", function()
      one_error({ uniqueItems = true }, { "a", "b", "a" }, "/2", "duplicates item 0")
      one_error({ uniqueItems = true }, { { x = 1 }, { x = 1 } }, "/1", "duplicates item 0")
      valid({ uniqueItems = true }, { { x = 1 }, { x = 2 } })
    end)
  end)

  describe("enum and const", function()
    it("compares by JSON value, tables included", function()
      valid({ enum = { "rules", "openai" } }, "openai")
      one_error({ enum = { "rules", "openai" } }, "anthropic", "", "must be one of: rules, openai")
      valid({ const = { a = { 1, 2 } } }, { a = { 1, 2 } })
      one_error({ const = "openai" }, "rules", "", "must be openai")
      valid({ enum = { NULL } }, NULL)
      one_error({ enum = { 1, 2 } }, "1", "", "must be one of: 1, 2")
    end)
  end)

  describe("composition", function()
    it("allOf applies every schema", function()
      local errs = errors_of({ allOf = { { required = { "a" } }, { required = { "b" } } } }, {})
      assert.equal(2, #errs)
    end)

    it("anyOf passes when one branch passes and explains the closest branch when none does", function()
      local s = { anyOf = { { type = "string" }, { type = "object", required = { "name" } } } }
      valid(s, "x")
      valid(s, { name = "n" })
      local errs = errors_of(s, { nom = "n" })
      assert.same({ path = "", message = "must match at least one of the allowed shapes" }, errs[1])
      assert.same({ path = "/name", message = "is required" }, errs[2])
    end)

    it("oneOf needs exactly one branch", function()
      local s = { oneOf = { { type = "integer" }, { minimum = 0 } } }
      valid(s, -1)
      valid(s, 0.5)
      one_error(s, 3, "", "matches more than one of the allowed shapes")
      local errs = errors_of({ oneOf = { { type = "string" }, { type = "integer" } } }, 1.5)
      assert.equal("must match exactly one of the allowed shapes", errs[1].message)
    end)

    it("not refuses what its schema accepts", function()
      valid({ ["not"] = { enum = { "workflow" } } }, "key")
      one_error({ ["not"] = { enum = { "workflow" } } }, "workflow", "")
    end)

    it("if/then/else picks the branch by the condition", function()
      local s = { ["if"] = { properties = { provider = { const = "openai" } }, required = { "provider" } },
        ["then"] = { required = { "model" } }, ["else"] = { ["not"] = { required = { "model" } } } }
      valid(s, { provider = "openai", model = "m" })
      one_error(s, { provider = "openai" }, "/model", "is required")
      valid(s, { provider = "rules" })
      one_error(s, { provider = "rules", model = "m" }, "")
    end)

    it("boolean schemas: true accepts anything, false nothing", function()
      valid(true, { anything = 1 })
      one_error(false, 1, "", "is not allowed")
      one_error({ properties = { a = false } }, { a = 1 }, "/a", "is not allowed")
    end)
  end)

  describe("$ref", function()
    it("resolves #/$defs/... and # in the same document, recursively", function()
      local s = {
        type = "object",
        properties = { name = { ["$ref"] = "#/$defs/env" }, child = { ["$ref"] = "#" } },
        ["$defs"] = { env = { type = "string", pattern = "^[A-Z]+$" } },
      }
      valid(s, { name = "ABC", child = { name = "DEF", child = {} } })
      one_error(s, { child = { child = { name = "low" } } }, "/child/child/name", "must match the pattern ^[A-Z]+$")
    end)

    it("loads other documents through opts.load, with refs inside them resolved there", function()
      local other = { type = "object", properties = { x = { ["$ref"] = "#/$defs/n" } }, ["$defs"] = { n = { type = "number" } } }
      local loads = 0
      local opts = { load = function(uri) loads = loads + 1 assert.equal("other.json", uri) return other end }
      local s = { type = "array", items = { ["$ref"] = "other.json" } }
      valid(s, { { x = 1 }, { x = 2 } }, opts)
      local errs = errors_of(s, { { x = "one" } }, opts)
      assert.same({ { path = "/0/x", message = "must be a number" } }, errs)
      assert.equal(2, loads) -- once per validate call
    end)

    it("raises on a $ref it cannot resolve", function()
      assert.has_error(function() js.validate({ ["$ref"] = "#/$defs/missing" }, 1) end,
        "jsonschema: cannot resolve $ref #/$defs/missing")
      assert.has_error(function() js.validate({ ["$ref"] = "x.json" }, 1) end,
        "jsonschema: cannot resolve $ref x.json (no loader given)")
    end)

    it("raises on a $ref loop instead of overflowing", function()
      assert.has_error(function() js.validate({ ["$ref"] = "#" }, 1) end,
        "jsonschema: schema recursion too deep (a $ref loop?)")
    end)
  end)

  describe("schemas it cannot enforce", function()
    it("raises on unknown keywords rather than ignoring them", function()
      assert.has_error(function() js.validate({ type = "string", minLenght = 3 }, "x") end,
        "jsonschema: unsupported keyword 'minLenght' (at value /)")
      assert.has_error(function() js.validate({ unevaluatedProperties = false }, {}) end)
    end)

    it("ignores annotations: title, description, default, examples, format, $comment", function()
      valid({ title = "t", description = "d", default = 1, examples = { 1 }, format = "email", ["$comment"] = "c",
        ["$schema"] = "https://json-schema.org/draft/2020-12/schema", ["$id"] = "x" }, "not an email")
    end)

    it("raises on patterns using features it does not implement", function()
      for _, p in ipairs({ "(a)\\1", "(?<=a)b", "(?<name>a)", "\\p{L}", "[a", "a)", "*",
        "a++", "a{2}*", "^*", "(*ACCEPT)a", "(?i)a", "\\Qa\\E", "[\\S]", "\\x4", "\\u12" }) do
        assert.has_error(function() js.validate({ pattern = p }, "x") end)
      end
    end)
  end)

  describe("patterns", function()
    local cases = {
      { "^[A-Z][A-Z0-9_]*$", "OPENAI_API_KEY", true },
      { "^[A-Z][A-Z0-9_]*$", "1KEY", false },
      { "^[A-Z][A-Z0-9_]*$", "KEY-1", false },
      { "^a{2,3}$", "aaa", true },
      { "^a{2,3}$", "aaaa", false },
      { "^a{2}$", "aa", true },
      { "x{,2}", "x{,2}", true }, -- not a quantifier: literal text
      { "^(a|ab)c$", "abc", true },
      { "^(?:ab)*$", "ababab", true },
      { "^(?:ab)*$", "ababa", false },
      { "^a*?b$", "aaab", true },
      { "^\\d+(\\.\\d+)?$", "3.14", true },
      { "^\\d+(\\.\\d+)?$", "3.", false },
      { "^\\S+$", "a b", false },
      { "^.{3}$", "h\195\169\195\169", true }, -- three characters, five bytes
      { "^\\u00e9$", "\195\169", true },
      { "^(?!sk-)", "sk-abc", false },
      { "^(?!sk-)", "gpt-4o", true },
      { "\\bcat\\b", "a cat!", true },
      { "\\bcat\\b", "concat", false },
      { "^[^/?#@\\s]+$", "host:8080", true },
      { "^[^/?#@\\s]+$", "user@host", false },
      { "^[\\-x]$", "-", true },
      { "^[a-z-]+$", "a-b", true },
      { "^(a?){3}b$", "b", true },
      { "^.$", "\n", false },
      -- where PCRE2's defaults differ from ECMA-262
      { "^a$", "a\n", false }, -- "$" is the end of the text, not before a final newline
      { "^.$", "\r", false },
      { "^.$", "\226\128\168", false }, -- U+2028 ends a line
      { "^a\\sb$", "a\194\160b", true }, -- U+00A0 is white space
      { "^[^\\s]$", "\194\160", false },
      { "^\\v$", "\v", true },
      { "a[]", "a", false }, -- an empty class matches nothing
      { "^[^]$", "\n", true }, -- and its negation anything
      { "^[[:alpha:]]$", "a]", true }, -- no POSIX classes: "[", ":", "a", ... then "]"
      { "^[\\d-z]+$", "1-z", true }, -- "-" after a class escape is a literal
      { "a", "cat", true }, -- unanchored
    }
    it("follow ECMA-262 semantics for the supported syntax", function()
      for _, c in ipairs(cases) do
        assert.equal(c[3], js.regex_test(c[1], c[2]), c[1] .. " on " .. c[2])
      end
    end)

    it("match the organization schema's host pattern, lookahead and all", function()
      local host = "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
      assert.is_true(js.regex_test(host, "democlinicalpha.localhost"))
      assert.is_false(js.regex_test(host, "-x.localhost"))
      assert.is_false(js.regex_test(host, "x..localhost"))
      assert.is_true(js.regex_test(host, string.rep("a.", 126) .. "a")) -- 253 characters
      assert.is_false(js.regex_test(host, string.rep("a.", 127) .. "a")) -- 255 characters
    end)

    it("stop a catastrophic backtracking pattern with a message, quickly", function()
      local t0 = os.clock()
      local errs = errors_of({ pattern = "^(a+)+$" }, string.rep("a", 40) .. "b")
      assert.is_true(os.clock() - t0 < 5)
      assert.equal(1, #errs)
      assert.equal("is too complex to check against the pattern ^(a+)+$", errs[1].message)
    end)

    it("handle long strings without a recursion per character", function()
      assert.is_true(js.regex_test("^[a-z]*$", string.rep("a", 100000)))
      assert.is_true(js.regex_test("^.*z$", string.rep("a", 50000) .. "z"))
    end)
  end)

  describe("the repository's schemas", function()
    local root = config.root_dir()
    local function read_json(rel)
      return cjson.decode((assert(config.read_file(root .. "/" .. rel), rel)))
    end
    local function loader(uri) return read_json("schemas/" .. uri) end

    it("accept the demo organizations' definitions", function()
      local schema = read_json("schemas/organization.schema.json")
      for _, f in ipairs({ "demo_clinic_alpha", "demo_clinic_beta" }) do
        valid(schema, read_json("schemas/organizations/" .. f .. ".json"), { load = loader })
      end
    end)

    it("find a select field without options and a bad host in an organization", function()
      local schema = read_json("schemas/organization.schema.json")
      local org = read_json("schemas/organizations/demo_clinic_alpha.json")
      org.domains[1] = "Bad_Host"
      local wf = next(org.workflows)
      local fields = org.workflows[wf].patient_schema.fields
      local sel
      for i, f in ipairs(fields) do if f.type == "select" then sel = i break end end
      assert(sel, "the demo schema has a select field")
      fields[sel].options = nil
      local errs = errors_of(schema, org, { load = loader })
      local seen = {}
      for _, e in ipairs(errs) do seen[e.path .. " " .. e.message] = true end
      assert.is_true(seen["/domains/0 must match the pattern " .. schema.properties.domains.items.pattern], js.format_errors(errs))
      assert.is_true(seen[("/workflows/%s/patient_schema/fields/%d/options is required"):format(wf, sel - 1)],
        js.format_errors(errs))
    end)
  end)
end)

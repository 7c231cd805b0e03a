-- sova.jsonschema: a small JSON Schema validator (a draft 2020-12 subset) for the platform's own
-- schemas (schemas/*.json): services.yaml, organization definitions, patient schema fields.
--
--   local jsonschema = require("sova.jsonschema")
--   local ok, errors = jsonschema.validate(schema, value [, opts])
--   -- ok == true, or ok == nil and errors = { {path = "/llm/model", message = "is required"}, ... }
--
-- Values are Lua data as cjson or sova.core.yaml decode them: objects are tables, arrays are
-- tables marked with the sova.array metatable or plain sequences (an empty unmarked table counts as
-- both an empty object and an empty array), null is cjson.null (the NULL lightuserdata) or nil.
-- Paths are JSON Pointers into the value ("" is the whole value; array indexes count from 0).
--
-- Keywords: type, enum, const, properties, required, additionalProperties (boolean or schema),
-- patternProperties, propertyNames, minProperties, maxProperties, dependentRequired, pattern,
-- minLength, maxLength (in code points), minimum, maximum, exclusiveMinimum, exclusiveMaximum,
-- multipleOf, items, prefixItems, minItems, maxItems, uniqueItems, $ref ("#", "#/json/pointer",
-- and "other.json[#/pointer]" through opts.load), allOf, anyOf, oneOf, not, if/then/else, and
-- boolean schemas. Annotations are ignored: $schema, $id, $comment, $defs, definitions, title,
-- description, default, examples, format, deprecated, readOnly, writeOnly. Any other keyword
-- raises: a schema this validator cannot enforce fully is a bug, not a pass.
--
-- `pattern` is an ECMA-262 regular expression (unanchored, as JSON Schema says), matched by PCRE2
-- after a translation of the syntax where the two dialects differ: alternation, groups ((...),
-- (?:...)), lookahead ((?=...), (?!...)), classes ([...], \d \w \s and negations, .), anchors
-- (^ $ \b \B), quantifiers (* + ? {n} {n,} {n,m}, lazy with ?), escapes (\t \n \r \f \v \0 \xHH
-- \uHHHH and escaped punctuation). Backreferences, lookbehind, named groups, \p{...}, \S inside a
-- class and PCRE2's own syntax raise. A value that needs more than REGEX_MATCH_LIMIT backtracking
-- steps fails with a message.
--
-- opts: load = function(uri) -> schema table (for $ref to other documents), max_errors = 100.
local type, pairs, ipairs, next, tostring, tonumber, select, error, pcall, getmetatable =
  type, pairs, ipairs, next, tostring, tonumber, select, error, pcall, getmetatable
local sub, find, match, format, gsub, char = string.sub, string.find, string.match, string.format, string.gsub,
  string.char
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge

local rex = require("rex_pcre2")

local has_cjson, cjson = pcall(require, "cjson")
local NULL = has_cjson and cjson.null or nil
local CJSON_ARRAY_MT = has_cjson and cjson.array_mt or nil
local has_core, core = pcall(require, "sova.core")
local ARRAY_MT = has_core and core.bson and core.bson.array_mt or nil

local M = {}

M.REGEX_MATCH_LIMIT = 1000000 -- PCRE2 match limit (backtracking steps) for one value

---------------------------------------------------------------------------------------------
-- patterns: ECMA-262 regular expressions, matched by PCRE2 (Debian's lua-rex-pcre2)

local FLAGS = rex.flags()
local MATCH_INVALID_UTF = 0x04000000 -- PCRE2 >= 10.34; lrexlib's flag table predates it
-- "$" is the end of the text only (not before a final newline), "[]" matches nothing and "[^]"
-- anything, as in ECMA-262; a value that is not valid UTF-8 fails to match rather than raising.
local COMPILE_FLAGS = FLAGS.UTF + FLAGS.DOLLAR_ENDONLY + FLAGS.ALLOW_EMPTY_CLASS + MATCH_INVALID_UTF

-- ECMA-262's \s (WhiteSpace and LineTerminator; PCRE2's is ASCII only), and what its "." excludes
local SPACES = "\\t\\n\\x0b\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
local DOT = "[^\\n\\r\\x{2028}\\x{2029}]"
-- escapes PCRE2 reads as ECMA-262 does, or the PCRE2 spelling of the ECMA-262 meaning
local ESCAPES = { d = "\\d", D = "\\D", w = "\\w", W = "\\W", t = "\\t", n = "\\n", r = "\\r", f = "\\f",
  v = "\\x0b", ["0"] = "\\x00" }
local CLASS_ESCAPES = { d = true, D = true, w = true, W = true, s = true }

local function regex_error(pattern, what)
  error(format("jsonschema: pattern %q: %s", pattern, what), 0)
end

-- ECMA-262 pattern -> the PCRE2 pattern that means the same. Raises on what PCRE2 would read
-- differently and is outside the supported subset (see the top of the file), and on a quantifier
-- with nothing to repeat (PCRE2 would take "a++" as possessive); PCRE2 reports the other errors.
local function to_pcre2(pattern)
  local out, n, i, len = {}, 0, 1, #pattern
  local in_class = false
  local prev = "start" -- "start" (nothing to repeat), "atom", "quantifier", "lazy" (after "?")
  while i <= len do
    local c, text = sub(pattern, i, i), nil
    if c == "\\" then
      local e = sub(pattern, i + 1, i + 1)
      i = i + 2
      if e == "" then regex_error(pattern, "ends with a lone backslash") end
      if e == "u" or e == "x" then
        local hex = match(pattern, e == "u" and "^%x%x%x%x" or "^%x%x", i)
        if not hex then regex_error(pattern, "bad \\" .. e .. " escape") end
        text, i = "\\x{" .. hex .. "}", i + #hex
      elseif e == "s" then
        text = in_class and SPACES or "[" .. SPACES .. "]"
      elseif e == "S" then
        if in_class then regex_error(pattern, "\\S inside a character class is not supported") end
        text = "[^" .. SPACES .. "]"
      elseif e == "b" and in_class then
        text = "\\x08" -- backspace
      elseif (e == "b" or e == "B") and not in_class then
        text = "\\" .. e -- word boundary assertions
      elseif ESCAPES[e] then
        if e == "0" and find(pattern, "^%d", i) then regex_error(pattern, "octal escapes are not supported") end
        text = ESCAPES[e]
      elseif find(e, "^[1-9]") then regex_error(pattern, "backreferences are not supported")
      elseif e == "k" or e == "p" or e == "P" or e == "c" then regex_error(pattern, "\\" .. e .. " is not supported")
      elseif find(e, "^[%w_]") then regex_error(pattern, "unknown escape \\" .. e)
      else
        text = "\\" .. e -- punctuation (or a character beyond ASCII) stands for itself
      end
      -- "-" after a class escape is a literal in ECMA-262, a bad range in PCRE2
      if in_class and CLASS_ESCAPES[e] and sub(pattern, i, i) == "-" then text, i = text .. "\\-", i + 1 end
      if not in_class then prev = (e == "b" or e == "B") and "start" or "atom" end
    elseif in_class then
      if c == "]" then in_class, prev = false, "atom" end
      text, i = c == "[" and "\\[" or c, i + 1 -- "[:alpha:]" is no POSIX class in ECMA-262
    elseif c == "[" then
      in_class = true
      text, i = "[", i + 1
      if sub(pattern, i, i) == "^" then text, i = "[^", i + 1 end
    elseif c == "(" then
      if sub(pattern, i + 1, i + 1) == "?" then
        local kind = sub(pattern, i + 2, i + 2)
        if kind == "<" then regex_error(pattern, "lookbehind and named groups are not supported") end
        if kind ~= ":" and kind ~= "=" and kind ~= "!" then regex_error(pattern, "(?" .. kind .. " is not supported") end
        text, i = "(?" .. kind, i + 3
      else
        text, i = "(", i + 1
      end
      prev = "start"
    elseif c == "|" or c == "^" or c == "$" then
      text, i, prev = c, i + 1, "start"
    elseif c == "*" or c == "+" or c == "?" or (c == "{" and find(pattern, "^{%d+,?%d*}", i)) then
      if c == "?" and prev == "quantifier" then prev = "lazy"
      elseif prev == "atom" then prev = "quantifier"
      else regex_error(pattern, "nothing to repeat") end
      text = c == "{" and match(pattern, "^{%d+,?%d*}", i) or c
      i = i + #text
    elseif c == "." then
      text, i, prev = DOT, i + 1, "atom"
    else
      text, i, prev = c, i + 1, "atom" -- a literal, also "{" and "}" outside a quantifier
    end
    n = n + 1
    out[n] = text
  end
  return concat(out)
end

local regex_cache = {}

-- regex_test(pattern, s) -> true | false | nil, reason (too complex). Raises on a bad pattern.
-- Unanchored, as JSON Schema's pattern: "a" matches "cat".
local function regex_test(pattern, s)
  local re = regex_cache[pattern]
  if not re then
    local source = "(*LIMIT_MATCH=" .. M.REGEX_MATCH_LIMIT .. ")" .. to_pcre2(pattern)
    local ok, compiled = pcall(rex.new, source, COMPILE_FLAGS)
    if not ok then regex_error(pattern, (gsub(tostring(compiled), " %(pattern offset: %d+%)$", ""))) end
    re = compiled
    regex_cache[pattern] = re
  end
  local ok, from = pcall(re.find, re, s)
  if ok then return from ~= nil end
  if find(tostring(from), "LIMIT", 1, true) then
    return nil, "is too complex to check against the pattern " .. pattern
  end
  error(from, 0)
end
M.regex_test = regex_test

---------------------------------------------------------------------------------------------
-- values

local function is_null(v) return v == nil or (NULL ~= nil and v == NULL) end

-- JSON type of a Lua value: "object", "array", "empty" (an unmarked empty table: either),
-- "string", "number", "boolean", "null", or the Lua type for what JSON cannot hold.
local function json_type(v)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then return t end
  if is_null(v) then return "null" end
  if t ~= "table" then return t end
  local mt = getmetatable(v)
  if mt ~= nil and (mt == ARRAY_MT or mt == CJSON_ARRAY_MT) then return "array" end
  if next(v) == nil then return "empty" end
  local n = #v
  if n > 0 then
    local count = 0
    for _ in pairs(v) do count = count + 1 end
    if count == n then return "array" end
  end
  return "object"
end
M.json_type = json_type

local function is_integer(v) return type(v) == "number" and v == floor(v) and v > -huge and v < huge end

local function has_type(v, jt, want)
  if want == "integer" then return is_integer(v) end
  if want == jt then return true end
  if jt == "empty" then return want == "object" or want == "array" end
  return false
end

local function deep_equal(a, b)
  if a == b then return true end
  if is_null(a) and is_null(b) then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local ta, tb = json_type(a), json_type(b)
  if ta ~= tb and not (ta == "empty" or tb == "empty") then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.equal = deep_equal

local function utf8_len(s)
  return select(2, gsub(s, "[^\128-\191]", ""))
end

local function pointer_token(k)
  return (gsub(gsub(tostring(k), "~", "~0"), "/", "~1"))
end

local function show(v)
  if type(v) == "string" then return v end
  if is_null(v) then return "null" end
  if type(v) == "table" then
    local ok, s = pcall(function() return require("sova.json").encode(v) end)
    return ok and s or "(a table)"
  end
  return tostring(v)
end

local function list(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = show(v) end
  return concat(out, ", ")
end

-- the array elements of a value that is an array: 1..n
local function array_items(v)
  return v, #v
end

---------------------------------------------------------------------------------------------
-- the validator

local ANNOTATIONS = {
  ["$schema"] = true, ["$id"] = true, ["$comment"] = true, ["$defs"] = true, definitions = true,
  ["$anchor"] = false, title = true, description = true, default = true, examples = true, format = true,
  deprecated = true, readOnly = true, writeOnly = true, contentMediaType = true, contentEncoding = true,
  ["then"] = true, ["else"] = true, -- applied by "if"
}

local check -- check(ctx, schema, value, path, root) adds errors to ctx.errors

local function add(ctx, path, message)
  local errs = ctx.errors
  if #errs < ctx.max_errors then errs[#errs + 1] = { path = path, message = message } end
end

-- Runs schema on value with its own error list; returns that list.
local function trial(ctx, schema, value, path, root)
  local saved = ctx.errors
  local errs = {}
  ctx.errors = errs
  check(ctx, schema, value, path, root)
  ctx.errors = saved
  return errs
end

local function unescape_pointer(tok)
  tok = gsub(tok, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end)
  return (gsub(gsub(tok, "~1", "/"), "~0", "~"))
end

local function resolve(ctx, ref, root)
  local uri, frag = ref:match("^([^#]*)#?(.*)$")
  local doc = root
  if uri ~= "" then
    doc = ctx.loaded[uri]
    if doc == nil then
      if not ctx.load then error("jsonschema: cannot resolve $ref " .. ref .. " (no loader given)", 0) end
      doc = ctx.load(uri)
      if type(doc) ~= "table" and type(doc) ~= "boolean" then
        error("jsonschema: cannot resolve $ref " .. ref, 0)
      end
      ctx.loaded[uri] = doc
    end
  end
  local node = doc
  if frag ~= "" then
    if sub(frag, 1, 1) ~= "/" then error("jsonschema: unsupported $ref " .. ref .. " (anchors are not supported)", 0) end
    for tok in (frag .. "/"):sub(2):gmatch("([^/]*)/") do
      if type(node) ~= "table" then break end
      local key = unescape_pointer(tok)
      local v = node[key]
      if v == nil and find(key, "^%d+$") then v = node[tonumber(key) + 1] end
      node = v
    end
  end
  if node == nil then error("jsonschema: cannot resolve $ref " .. ref, 0) end
  return node, doc
end

local function check_object(ctx, s, v, path, root)
  local props, pprops, addl = s.properties, s.patternProperties, s.additionalProperties
  if s.required ~= nil then
    for _, key in ipairs(s.required) do
      if v[key] == nil then add(ctx, path .. "/" .. pointer_token(key), "is required") end
    end
  end
  if s.dependentRequired ~= nil then
    for key, needs in pairs(s.dependentRequired) do
      if v[key] ~= nil then
        for _, other in ipairs(needs) do
          if v[other] == nil then
            add(ctx, path .. "/" .. pointer_token(other), "is required when " .. key .. " is given")
          end
        end
      end
    end
  end
  local count = 0
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  for _, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    count = count + 1
    local kpath = path .. "/" .. pointer_token(k)
    local matched = false
    if props ~= nil and props[k] ~= nil then
      matched = true
      check(ctx, props[k], val, kpath, root)
    end
    if pprops ~= nil then
      for pat, sub_schema in pairs(pprops) do
        local ok = regex_test(pat, k)
        if ok then
          matched = true
          check(ctx, sub_schema, val, kpath, root)
        end
      end
    end
    if not matched and addl ~= nil then
      if addl == false then
        add(ctx, kpath, "is not allowed")
      elseif addl ~= true then
        check(ctx, addl, val, kpath, root)
      end
    end
    if s.propertyNames ~= nil then
      local errs = trial(ctx, s.propertyNames, k, kpath, root)
      if #errs > 0 then add(ctx, kpath, "is not an allowed name: " .. errs[1].message) end
    end
  end
  if s.minProperties ~= nil and count < s.minProperties then
    add(ctx, path, format("must have at least %d properties", s.minProperties))
  end
  if s.maxProperties ~= nil and count > s.maxProperties then
    add(ctx, path, format("must have at most %d properties", s.maxProperties))
  end
end

local function check_array(ctx, s, v, path, root)
  local items, n = array_items(v)
  local first = 1
  if s.prefixItems ~= nil then
    for i, sub_schema in ipairs(s.prefixItems) do
      if i <= n then check(ctx, sub_schema, items[i], path .. "/" .. (i - 1), root) end
    end
    first = #s.prefixItems + 1
  end
  if s.items ~= nil then
    for i = first, n do
      if s.items == false then
        add(ctx, path .. "/" .. (i - 1), "is not allowed")
      else
        check(ctx, s.items, items[i], path .. "/" .. (i - 1), root)
      end
    end
  end
  if s.minItems ~= nil and n < s.minItems then add(ctx, path, format("must have at least %d items", s.minItems)) end
  if s.maxItems ~= nil and n > s.maxItems then add(ctx, path, format("must have at most %d items", s.maxItems)) end
  if s.uniqueItems == true then
    for i = 1, n do
      for j = i + 1, n do
        if deep_equal(items[i], items[j]) then
          add(ctx, path .. "/" .. (j - 1), "duplicates item " .. (i - 1))
        end
      end
    end
  end
end

local function check_string(ctx, s, v, path)
  if s.minLength ~= nil or s.maxLength ~= nil then
    local len = utf8_len(v)
    if s.minLength ~= nil and len < s.minLength then
      add(ctx, path, format("must be at least %d characters long", s.minLength))
    end
    if s.maxLength ~= nil and len > s.maxLength then
      add(ctx, path, format("must be at most %d characters long", s.maxLength))
    end
  end
  if s.pattern ~= nil then
    local ok, why = regex_test(s.pattern, v)
    if ok == nil then add(ctx, path, why)
    elseif not ok then add(ctx, path, "must match the pattern " .. s.pattern) end
  end
end

local function num(x) return format("%.14g", x) end

local function check_number(ctx, s, v, path)
  if s.minimum ~= nil and v < s.minimum then add(ctx, path, "must be at least " .. num(s.minimum)) end
  if s.maximum ~= nil and v > s.maximum then add(ctx, path, "must be at most " .. num(s.maximum)) end
  if s.exclusiveMinimum ~= nil and v <= s.exclusiveMinimum then
    add(ctx, path, "must be greater than " .. num(s.exclusiveMinimum))
  end
  if s.exclusiveMaximum ~= nil and v >= s.exclusiveMaximum then
    add(ctx, path, "must be less than " .. num(s.exclusiveMaximum))
  end
  if s.multipleOf ~= nil then
    local q = v / s.multipleOf
    if q ~= floor(q) then add(ctx, path, "must be a multiple of " .. num(s.multipleOf)) end
  end
end

local KNOWN = {
  type = true, enum = true, const = true, properties = true, required = true, additionalProperties = true,
  patternProperties = true, propertyNames = true, minProperties = true, maxProperties = true,
  dependentRequired = true, pattern = true, minLength = true, maxLength = true, minimum = true,
  maximum = true, exclusiveMinimum = true, exclusiveMaximum = true, multipleOf = true, items = true,
  prefixItems = true, minItems = true, maxItems = true, uniqueItems = true, ["$ref"] = true, allOf = true,
  anyOf = true, oneOf = true, ["not"] = true, ["if"] = true,
}

local TYPE_NAMES = { object = "an object", array = "an array", string = "a string", number = "a number",
  integer = "an integer", boolean = "a boolean", null = "null" }

-- the errors of the alternative closest to matching: one whose type fits, then the fewest errors
local function best_branch(ctx, branches, v, path, root)
  local best, best_score
  for _, b in ipairs(branches) do
    local errs = trial(ctx, b, v, path, root)
    local score = #errs
    for _, e in ipairs(errs) do
      if e.path == path and ctx.type_errors[e] then score = score + 10000 end
    end
    if best == nil or score < best_score then best, best_score = errs, score end
  end
  return best or {}
end

check = function(ctx, s, v, path, root)
  if s == true then return end
  if s == false then add(ctx, path, "is not allowed") return end
  if type(s) ~= "table" then error("jsonschema: a schema must be a table or a boolean (at value " .. path .. ")", 0) end
  ctx.depth = ctx.depth + 1
  if ctx.depth > 200 then error("jsonschema: schema recursion too deep (a $ref loop?)", 0) end
  for k in pairs(s) do
    if not KNOWN[k] and not ANNOTATIONS[k] then
      error("jsonschema: unsupported keyword '" .. tostring(k) .. "' (at value " .. (path == "" and "/" or path) .. ")", 0)
    end
  end

  if s["$ref"] ~= nil then
    local target, doc = resolve(ctx, s["$ref"], root)
    check(ctx, target, v, path, doc)
  end

  local jt = json_type(v)
  if s.type ~= nil then
    local types = type(s.type) == "table" and s.type or { s.type }
    local ok = false
    for _, want in ipairs(types) do
      if has_type(v, jt, want) then ok = true break end
    end
    if not ok then
      if #types == 1 then
        add(ctx, path, "must be " .. (TYPE_NAMES[types[1]] or types[1]))
      else
        add(ctx, path, "must be one of the types: " .. list(types))
      end
      local last = ctx.errors[#ctx.errors]
      if last then ctx.type_errors[last] = true end
      ctx.depth = ctx.depth - 1
      return -- the other keywords would only repeat the point
    end
  end
  if s.enum ~= nil then
    local ok = false
    for _, e in ipairs(s.enum) do
      if deep_equal(v, e) then ok = true break end
    end
    if not ok then add(ctx, path, "must be one of: " .. list(s.enum)) end
  end
  if s.const ~= nil and not deep_equal(v, s.const) then add(ctx, path, "must be " .. show(s.const)) end

  if jt == "object" or jt == "empty" then check_object(ctx, s, v, path, root) end
  if jt == "array" or jt == "empty" then check_array(ctx, s, v, path, root) end
  if jt == "string" then check_string(ctx, s, v, path) end
  if jt == "number" then check_number(ctx, s, v, path) end

  if s.allOf ~= nil then
    for _, b in ipairs(s.allOf) do check(ctx, b, v, path, root) end
  end
  if s.anyOf ~= nil then
    local ok = false
    for _, b in ipairs(s.anyOf) do
      if #trial(ctx, b, v, path, root) == 0 then ok = true break end
    end
    if not ok then
      add(ctx, path, "must match at least one of the allowed shapes")
      for _, e in ipairs(best_branch(ctx, s.anyOf, v, path, root)) do add(ctx, e.path, e.message) end
    end
  end
  if s.oneOf ~= nil then
    local matches = 0
    for _, b in ipairs(s.oneOf) do
      if #trial(ctx, b, v, path, root) == 0 then matches = matches + 1 end
    end
    if matches == 0 then
      add(ctx, path, "must match exactly one of the allowed shapes")
      for _, e in ipairs(best_branch(ctx, s.oneOf, v, path, root)) do add(ctx, e.path, e.message) end
    elseif matches > 1 then
      add(ctx, path, "matches more than one of the allowed shapes")
    end
  end
  if s["not"] ~= nil and #trial(ctx, s["not"], v, path, root) == 0 then
    add(ctx, path, "must not match " .. show(s["not"]))
  end
  if s["if"] ~= nil then
    if #trial(ctx, s["if"], v, path, root) == 0 then
      if s["then"] ~= nil then check(ctx, s["then"], v, path, root) end
    elseif s["else"] ~= nil then
      check(ctx, s["else"], v, path, root)
    end
  end
  ctx.depth = ctx.depth - 1
end

-- validate(schema, value[, opts]) -> true | nil, { {path =, message =}, ... }
-- Raises when the schema itself is bad (unknown keyword, bad pattern, unresolvable $ref).
function M.validate(schema, value, opts)
  opts = opts or {}
  if opts.load ~= nil and type(opts.load) ~= "function" then error("jsonschema: opts.load must be a function", 2) end
  local ctx = { errors = {}, load = opts.load, loaded = {}, depth = 0, max_errors = opts.max_errors or 100,
    type_errors = setmetatable({}, { __mode = "k" }) }
  check(ctx, schema, value, "", schema)
  if #ctx.errors == 0 then return true end
  return nil, ctx.errors
end

-- format_errors(errors) -> "/llm/model: is required; /stt: is not allowed"
function M.format_errors(errors)
  local out = {}
  for i, e in ipairs(errors or {}) do out[i] = (e.path == "" and "/" or e.path) .. ": " .. e.message end
  return concat(out, "; ")
end

return M

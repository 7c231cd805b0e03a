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
-- `pattern` is an ECMA-262 regular expression, matched by the small backtracking engine below:
-- alternation, groups ((...), (?:...)), lookahead ((?=...), (?!...)), classes ([...], \d \w \s and
-- negations, .), anchors (^ $ \b \B), quantifiers (* + ? {n} {n,} {n,m}, lazy with ?), escapes
-- (\t \n \r \f \v \0 \xHH \uHHHH and escaped punctuation). Backreferences, lookbehind, named groups
-- and \p{...} raise. A match that takes over MAX_REGEX_STEPS steps fails the value with a message.
--
-- opts: load = function(uri) -> schema table (for $ref to other documents), max_errors = 100.
local type, pairs, ipairs, next, tostring, tonumber, select, error, pcall, getmetatable =
  type, pairs, ipairs, next, tostring, tonumber, select, error, pcall, getmetatable
local byte, sub, find, format, gsub, char = string.byte, string.sub, string.find, string.format, string.gsub,
  string.char
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge

local has_cjson, cjson = pcall(require, "cjson")
local NULL = has_cjson and cjson.null or nil
local CJSON_ARRAY_MT = has_cjson and cjson.array_mt or nil
local has_core, core = pcall(require, "sova.core")
local ARRAY_MT = has_core and core.bson and core.bson.array_mt or nil

local M = {}

M.MAX_REGEX_STEPS = 200000

---------------------------------------------------------------------------------------------
-- regular expressions (ECMA-262 subset)

-- UTF-8 text -> array of code points (a byte that is not valid UTF-8 stands for itself)
local function codepoints(s)
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local c = byte(s, i)
    local cp, size = c, 1
    if c >= 0xC2 and c <= 0xDF and i + 1 <= len then
      local c2 = byte(s, i + 1)
      if c2 >= 0x80 and c2 <= 0xBF then cp, size = (c - 0xC0) * 64 + (c2 - 0x80), 2 end
    elseif c >= 0xE0 and c <= 0xEF and i + 2 <= len then
      local c2, c3 = byte(s, i + 1, i + 2)
      if c2 >= 0x80 and c2 <= 0xBF and c3 >= 0x80 and c3 <= 0xBF then
        local v = (c - 0xE0) * 4096 + (c2 - 0x80) * 64 + (c3 - 0x80)
        if v >= 0x800 then cp, size = v, 3 end
      end
    elseif c >= 0xF0 and c <= 0xF4 and i + 3 <= len then
      local c2, c3, c4 = byte(s, i + 1, i + 3)
      if c2 >= 0x80 and c2 <= 0xBF and c3 >= 0x80 and c3 <= 0xBF and c4 >= 0x80 and c4 <= 0xBF then
        local v = (c - 0xF0) * 262144 + (c2 - 0x80) * 4096 + (c3 - 0x80) * 64 + (c4 - 0x80)
        if v >= 0x10000 and v <= 0x10FFFF then cp, size = v, 4 end
      end
    end
    n = n + 1
    out[n] = cp
    i = i + size
  end
  return out, n
end

local function is_digit(c) return c >= 48 and c <= 57 end
local function is_word(c)
  return c ~= nil and ((c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95)
end
local SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true, [0xA0] = true,
  [0x1680] = true, [0x2028] = true, [0x2029] = true, [0x202F] = true, [0x205F] = true, [0x3000] = true,
  [0xFEFF] = true }
local function is_space(c) return SPACE[c] or (c >= 0x2000 and c <= 0x200A) end
local function is_line_end(c) return c == 10 or c == 13 or c == 0x2028 or c == 0x2029 end

local CLASS_ESCAPES = {
  d = is_digit, D = function(c) return not is_digit(c) end,
  w = is_word, W = function(c) return not is_word(c) end,
  s = is_space, S = function(c) return not is_space(c) end,
}
local CHAR_ESCAPES = { t = 9, n = 10, r = 13, f = 12, v = 11, ["0"] = 0 }

local function regex_error(pattern, what)
  error(format("jsonschema: pattern %q: %s", pattern, what), 0)
end

-- Parser: pattern (array of code points) -> AST
--   {t = "test", f = function(cp)} | {t = "bol"} | {t = "eol"} | {t = "wordb", neg =}
--   {t = "seq", items} | {t = "alt", branches} | {t = "look", neg =, node}
--   {t = "rep", node, min, max, lazy}
local function parse_regex(pattern)
  local p, n = codepoints(pattern)
  local pos = 1
  local parse_alt

  local function peek(o) return p[pos + (o or 0)] end
  local function hexval(from, count)
    local v = 0
    for i = from, from + count - 1 do
      local c = p[i]
      if not c then return nil end
      local d = (c >= 48 and c <= 57) and c - 48 or (c >= 65 and c <= 70) and c - 55 or (c >= 97 and c <= 102) and c - 87
      if not d then return nil end
      v = v * 16 + d
    end
    return v
  end

  -- an escape after "\" at pos: returns a test function or a code point
  local function parse_escape(in_class)
    local c = p[pos]
    if not c then regex_error(pattern, "ends with a lone backslash") end
    local ch = char(c < 128 and c or 63)
    pos = pos + 1
    if CLASS_ESCAPES[ch] then return CLASS_ESCAPES[ch] end
    if CHAR_ESCAPES[ch] then
      if ch == "0" and p[pos] and is_digit(p[pos]) then regex_error(pattern, "octal escapes are not supported") end
      return CHAR_ESCAPES[ch]
    end
    if in_class and ch == "b" then return 8 end
    if ch == "x" then
      local v = hexval(pos, 2)
      if not v then regex_error(pattern, "bad \\x escape") end
      pos = pos + 2
      return v
    end
    if ch == "u" then
      local v = hexval(pos, 4)
      if not v then regex_error(pattern, "bad \\u escape") end
      pos = pos + 4
      return v
    end
    if c >= 49 and c <= 57 then regex_error(pattern, "backreferences are not supported") end
    if ch == "k" or ch == "p" or ch == "P" or ch == "c" then
      regex_error(pattern, "\\" .. ch .. " is not supported")
    end
    if is_word(c) then regex_error(pattern, "unknown escape \\" .. ch) end
    return c -- escaped punctuation stands for itself
  end

  local function parse_class()
    -- at pos: just after "["
    local neg = false
    if p[pos] == 94 then neg, pos = true, pos + 1 end -- ^
    local singles, ranges, tests = {}, {}, {}
    while true do
      local c = p[pos]
      if not c then regex_error(pattern, "unterminated character class") end
      if c == 93 then pos = pos + 1 break end -- ]
      local lo
      if c == 92 then
        pos = pos + 1
        lo = parse_escape(true)
      else
        lo = c
        pos = pos + 1
      end
      if type(lo) == "function" then
        tests[#tests + 1] = lo
      elseif p[pos] == 45 and p[pos + 1] and p[pos + 1] ~= 93 then -- a range lo-hi
        pos = pos + 1
        local hi = p[pos]
        if hi == 92 then
          pos = pos + 1
          hi = parse_escape(true)
          if type(hi) == "function" then regex_error(pattern, "a class escape cannot end a range") end
        else
          pos = pos + 1
        end
        if hi < lo then regex_error(pattern, "range out of order in a character class") end
        ranges[#ranges + 1] = { lo, hi }
      else
        singles[lo] = true
      end
    end
    local f = function(cp)
      if singles[cp] then return true end
      for i = 1, #ranges do
        local r = ranges[i]
        if cp >= r[1] and cp <= r[2] then return true end
      end
      for i = 1, #tests do if tests[i](cp) then return true end end
      return false
    end
    if neg then return { t = "test", f = function(cp) return not f(cp) end } end
    return { t = "test", f = f }
  end

  -- {n}, {n,}, {n,m} at pos (on "{"): min, max, or nil when it is not a quantifier
  local function parse_braces()
    local i = pos + 1
    local function num()
      local v, start = 0, i
      while p[i] and is_digit(p[i]) do v = v * 10 + p[i] - 48 i = i + 1 end
      if i == start then return nil end
      return v
    end
    local lo = num()
    if not lo then return nil end
    local hi = lo
    if p[i] == 44 then -- ,
      i = i + 1
      hi = num() or huge
    end
    if p[i] ~= 125 then return nil end -- }
    pos = i + 1
    if hi < lo then regex_error(pattern, "numbers out of order in a {} quantifier") end
    return lo, hi
  end

  local function parse_atom()
    local c = p[pos]
    if c == 40 then -- (
      pos = pos + 1
      local kind = "group"
      if p[pos] == 63 then -- ?
        local k = p[pos + 1]
        if k == 58 then kind = "group" -- ?:
        elseif k == 61 then kind = "ahead" -- ?=
        elseif k == 33 then kind = "nahead" -- ?!
        else regex_error(pattern, "lookbehind and named groups are not supported") end
        pos = pos + 2
      end
      local node = parse_alt()
      if p[pos] ~= 41 then regex_error(pattern, "unbalanced parenthesis") end
      pos = pos + 1
      if kind == "group" then return node, true end
      return { t = "look", neg = kind == "nahead", node = node }, false
    elseif c == 91 then -- [
      pos = pos + 1
      return parse_class(), true
    elseif c == 46 then -- .
      pos = pos + 1
      return { t = "test", f = function(cp) return not is_line_end(cp) end }, true
    elseif c == 94 then pos = pos + 1 return { t = "bol" }, false -- ^
    elseif c == 36 then pos = pos + 1 return { t = "eol" }, false -- $
    elseif c == 92 then -- \
      pos = pos + 1
      local e = p[pos]
      if e == 98 or e == 66 then -- \b \B
        pos = pos + 1
        return { t = "wordb", neg = e == 66 }, false
      end
      local v = parse_escape(false)
      if type(v) == "function" then return { t = "test", f = v }, true end
      return { t = "test", f = function(cp) return cp == v end, cp = v }, true
    elseif c == 41 then regex_error(pattern, "unbalanced parenthesis")
    elseif c == 42 or c == 43 or c == 63 then regex_error(pattern, "nothing to repeat")
    else
      pos = pos + 1
      return { t = "test", f = function(cp) return cp == c end, cp = c }, true
    end
  end

  local function parse_seq()
    local items = {}
    while pos <= n and p[pos] ~= 124 and p[pos] ~= 41 do -- not | or )
      local atom, quantifiable = parse_atom()
      local c = p[pos]
      local lo, hi
      if c == 42 then lo, hi, pos = 0, huge, pos + 1
      elseif c == 43 then lo, hi, pos = 1, huge, pos + 1
      elseif c == 63 then lo, hi, pos = 0, 1, pos + 1
      elseif c == 123 then lo, hi = parse_braces() end
      if lo then
        if not quantifiable and atom.t ~= "look" then regex_error(pattern, "nothing to repeat") end
        local lazy = false
        if p[pos] == 63 then lazy, pos = true, pos + 1 end
        atom = { t = "rep", node = atom, min = lo, max = hi, lazy = lazy }
      end
      items[#items + 1] = atom
    end
    if #items == 1 then return items[1] end
    return { t = "seq", items = items }
  end

  parse_alt = function()
    local branches = { parse_seq() }
    while p[pos] == 124 do
      pos = pos + 1
      branches[#branches + 1] = parse_seq()
    end
    if #branches == 1 then return branches[1] end
    return { t = "alt", branches = branches }
  end

  local ast = parse_alt()
  if pos <= n then regex_error(pattern, "unbalanced parenthesis") end
  return ast
end

local TOO_COMPLEX = {}

-- AST -> matcher(i, k): tries to match at code point i, then calls the continuation k(j).
-- S holds the subject of the current match: S.cps, S.n, S.steps.
local function compile(node, S)
  local function tick()
    local s = S.steps + 1
    S.steps = s
    if s > M.MAX_REGEX_STEPS then error(TOO_COMPLEX, 0) end
  end
  local t = node.t
  if t == "test" then
    local f = node.f
    return function(i, k)
      tick()
      local c = S.cps[i]
      if c ~= nil and f(c) then return k(i + 1) end
      return false
    end
  elseif t == "bol" then
    return function(i, k) if i == 1 then return k(i) end return false end
  elseif t == "eol" then
    return function(i, k) if i == S.n + 1 then return k(i) end return false end
  elseif t == "wordb" then
    local neg = node.neg
    return function(i, k)
      local at = is_word(S.cps[i - 1]) ~= is_word(S.cps[i])
      if at ~= neg then return k(i) end
      return false
    end
  elseif t == "look" then
    local inner, neg = compile(node.node, S), node.neg
    local function yes() return true end
    return function(i, k)
      local found = inner(i, yes)
      if found ~= neg then return k(i) end
      return false
    end
  elseif t == "seq" then
    local ms = {}
    for idx, item in ipairs(node.items) do ms[idx] = compile(item, S) end
    local count = #ms
    local function step(idx, i, k)
      if idx > count then return k(i) end
      return ms[idx](i, function(j) return step(idx + 1, j, k) end)
    end
    return function(i, k) return step(1, i, k) end
  elseif t == "alt" then
    local ms = {}
    for idx, b in ipairs(node.branches) do ms[idx] = compile(b, S) end
    return function(i, k)
      for idx = 1, #ms do
        if ms[idx](i, k) then return true end
      end
      return false
    end
  elseif t == "rep" then
    local lo, hi, lazy = node.min, node.max, node.lazy
    if node.node.t == "test" then
      -- one character at a time: a loop instead of a recursion per character
      local f = node.node.f
      return function(i, k)
        local cps, last = S.cps, i
        while last - i < hi and cps[last] ~= nil and f(cps[last]) do
          tick()
          last = last + 1
        end
        local most = last - i
        if most < lo then return false end
        if lazy then
          for c = lo, most do tick() if k(i + c) then return true end end
        else
          for c = most, lo, -1 do tick() if k(i + c) then return true end end
        end
        return false
      end
    end
    local m = compile(node.node, S)
    local function rep(i, c, k)
      tick()
      local function more()
        if c >= hi then return false end
        return m(i, function(j)
          if j == i and c >= lo then return false end -- an empty iteration adds nothing
          return rep(j, c + 1, k)
        end)
      end
      if lazy then
        if c >= lo and k(i) then return true end
        return more()
      end
      if more() then return true end
      return c >= lo and k(i)
    end
    return function(i, k) return rep(i, 0, k) end
  end
  error("jsonschema: internal: unknown regex node " .. tostring(t))
end

local regex_cache = {}

-- regex_test(pattern, s) -> true | false | nil, reason (too complex). Raises on a bad pattern.
local function regex_test(pattern, s)
  local re = regex_cache[pattern]
  if not re then
    local S = { steps = 0 }
    re = { S = S, m = compile(parse_regex(pattern), S) }
    regex_cache[pattern] = re
  end
  local S = re.S
  local cps, n = codepoints(s)
  S.cps, S.n, S.steps = cps, n, 0
  local function done() return true end
  local ok, res = pcall(function()
    for start = 1, n + 1 do
      if re.m(start, done) then return true end
    end
    return false
  end)
  S.cps = nil
  if ok then return res end
  if res == TOO_COMPLEX or (type(res) == "string" and find(res, "stack overflow", 1, true)) then
    return nil, "is too complex to check against the pattern " .. pattern
  end
  error(res, 0)
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

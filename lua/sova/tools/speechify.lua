-- sova.tools.speechify: a line of text as a speech recognizer would return it, for
-- `sova flow eval --speech`. Lower case, no punctuation, numbers and codes in words ("AUTH123456"
-- -> "auth one two three four five six"), dates in words ("March 15, 1985" and "1985-03-15" ->
-- "march fifteenth nineteen eighty five"), times ("2:30" -> "two thirty"), and a seeded rate of
-- recognition errors: a word dropped, or swapped for a homophone ("for" -> "four").
--
--   local speechify = require("sova.tools.speechify")
--   speechify.rewrite("It's approved, reference AUTH123456.", { seed = 7, key = "approved.yaml:2", rate = 0.03 })
--
-- The errors are deterministic for (seed, key): the same scenario line gets the same errors in
-- every run, whatever else runs. rate 0 gives the clean spoken form. A line never loses all its
-- words (a recognizer that heard nothing produces no turn at all).
local bit = require("bit")

local M = {}

M.DEFAULT_RATE = 0.03

local ONES = { [0] = "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen" }
local TENS = { "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety" }
local ORDINAL_ONES = { "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
  "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
  "eighteenth", "nineteenth" }
local ORDINAL_TENS = { "tenth", "twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth",
  "eightieth", "ninetieth" }
local MONTH_NAMES = { "january", "february", "march", "april", "may", "june", "july", "august",
  "september", "october", "november", "december" }
local MONTHS = {}
for i, m in ipairs(MONTH_NAMES) do
  MONTHS[m] = i
  if #m > 3 then MONTHS[m:sub(1, 3)] = i end
end
MONTHS.sept = 9

-- words a recognizer confuses: each maps to what it may come out as
local HOMOPHONES = {
  to = { "two", "too" }, two = { "to", "too" }, too = { "to", "two" },
  ["for"] = { "four" }, four = { "for" }, one = { "won" }, won = { "one" }, eight = { "ate" },
  there = { "their", "they're" }, their = { "there" }, ["they're"] = { "there" },
  right = { "write" }, write = { "right" }, no = { "know" }, know = { "no" }, here = { "hear" },
  hear = { "here" }, by = { "bye", "buy" }, bye = { "by" }, new = { "knew" }, knew = { "new" },
  wait = { "weight" }, hi = { "high" }, our = { "hour" }, hour = { "our" }, would = { "wood" },
  your = { "you're" }, ["you're"] = { "your" }, its = { "it's" }, ["it's"] = { "its" },
  week = { "weak" }, see = { "sea" }, ["then"] = { "than" }, than = { "then" }, i = { "eye" },
}

---------------------------------------------------------------------------------------------
-- numbers in words

-- 0..999 -> words
local function cardinal(n)
  if n < 20 then return ONES[n] end
  if n < 100 then
    local t, o = math.floor(n / 10), n % 10
    return o == 0 and TENS[t] or (TENS[t] .. " " .. ONES[o])
  end
  local h, rest = math.floor(n / 100), n % 100
  return ONES[h] .. " hundred" .. (rest > 0 and (" " .. cardinal(rest)) or "")
end
M.cardinal = cardinal

-- 1..99 -> ordinal words
local function ordinal(n)
  if n < 20 then return ORDINAL_ONES[n] end
  local t, o = math.floor(n / 10), n % 10
  return o == 0 and ORDINAL_TENS[t] or (TENS[t] .. " " .. ORDINAL_ONES[o])
end
M.ordinal = ordinal

-- a year as people say it: 1985 "nineteen eighty five", 1905 "nineteen oh five", 2000 "two
-- thousand", 2007 "two thousand seven", 2026 "twenty twenty six"
local function year(y)
  local hi, lo = math.floor(y / 100), y % 100
  if y >= 2000 and y < 2010 then return "two thousand" .. (lo > 0 and (" " .. ONES[lo]) or "") end
  if lo == 0 then return cardinal(hi) .. " hundred" end
  if lo < 10 then return cardinal(hi) .. " oh " .. ONES[lo] end
  return cardinal(hi) .. " " .. cardinal(lo)
end
M.year = year

local function digits(s)
  local out = {}
  for d in s:gmatch("%d") do out[#out + 1] = ONES[tonumber(d)] end
  return table.concat(out, " ")
end

local function date_words(m, d, y)
  if not MONTH_NAMES[m] or d < 1 or d > 31 then return nil end
  return MONTH_NAMES[m] .. " " .. ordinal(d) .. (y and (" " .. year(y)) or "")
end

-- a number said alone: small ones as numbers, years as years, longer ones digit by digit (ids,
-- codes, phone numbers are read out that way)
local function number(s)
  local n = tonumber(s)
  if #s <= 2 then return cardinal(n) end
  if #s == 4 and n >= 1900 and n <= 2099 then return year(n) end
  return digits(s)
end

-- a code mixing letters and digits ("AUTH123456", "PA-77812"): digit runs digit by digit, short or
-- vowelless letter runs letter by letter, longer ones as a word
local function code(s)
  local out = {}
  for part in s:gmatch("[%w]+") do
    local i = 1
    while i <= #part do
      local d = part:match("^%d+", i)
      if d then
        out[#out + 1] = digits(d)
        i = i + #d
      else
        local a = part:match("^%a+", i)
        if #a <= 3 or not a:lower():find("[aeiou]") then
          out[#out + 1] = (a:lower():gsub(".", "%0 ")):sub(1, -2)
        else
          out[#out + 1] = a:lower()
        end
        i = i + #a
      end
    end
  end
  return table.concat(out, " ")
end

---------------------------------------------------------------------------------------------
-- one token (a word with its punctuation) in words

local function spoken(core)
  local y, m, d = core:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if y then return date_words(tonumber(m), tonumber(d), tonumber(y)) end
  local m2, d2, y2 = core:match("^(%d%d?)/(%d%d?)/(%d%d%d?%d?)$")
  if m2 and (#y2 == 2 or #y2 == 4) then
    local yy = tonumber(y2)
    if #y2 == 2 then yy = yy + (yy > 30 and 1900 or 2000) end
    return date_words(tonumber(m2), tonumber(d2), yy)
  end
  local h, mm = core:match("^(%d%d?):(%d%d)$")
  if h then
    local mi = tonumber(mm)
    local hour = cardinal(tonumber(h))
    if mi == 0 then return hour end
    return hour .. " " .. (mi < 10 and ("oh " .. ONES[mi]) or cardinal(mi))
  end
  local n, suffix = core:match("^(%d%d?)(%a%a)$")
  if n and ({ st = true, nd = true, rd = true, th = true })[suffix:lower()] and tonumber(n) > 0 then
    return ordinal(tonumber(n))
  end
  if core:find("^%d+$") then return number(core) end
  local whole, frac = core:match("^(%d+)%.(%d+)$")
  if whole then return number(whole) .. " point " .. digits(frac) end
  if core:find("%d") and core:find("^[%w%-]+$") then return code(core) end
  return nil
end

local SYMBOLS = { ["&"] = " and ", ["%"] = " percent ", ["#"] = " number ", ["@"] = " at ", ["+"] = " plus " }

-- the text in words, clean (no recognition errors yet): a list of words
local function words_of(text)
  text = text:gsub("[&%%#@+]", SYMBOLS):gsub("(%D)/", "%1 "):gsub("/(%D)", " %1")
  local tokens = {}
  for t in text:gmatch("%S+") do tokens[#tokens + 1] = t end
  local out = {}
  local i = 1
  while i <= #tokens do
    local core = tokens[i]:match("^[^%w]*(.-)[^%w]*$")
    local month = MONTHS[core:lower()]
    local day = tokens[i + 1] and tokens[i + 1]:match("^(%d%d?)%a?%a?[,%.]?$")
    if month and day and tonumber(day) >= 1 and tonumber(day) <= 31 then
      -- "March 15th, 1985": the month, the day as an ordinal, maybe the year
      local y = tokens[i + 2] and tokens[i + 2]:match("^(%d%d%d%d)[,%.!%?]?$")
      out[#out + 1] = date_words(month, tonumber(day), y and tonumber(y))
      i = i + (y and 3 or 2)
    else
      out[#out + 1] = spoken(core) or core
      i = i + 1
    end
  end
  local words = {}
  for _, chunk in ipairs(out) do
    chunk = chunk:lower():gsub("[^%w']+", " ")
    for w in chunk:gmatch("%S+") do
      w = w:gsub("^'+", ""):gsub("'+$", "")
      if w ~= "" then words[#words + 1] = w end
    end
  end
  return words
end

---------------------------------------------------------------------------------------------
-- seeded errors

-- FNV-1a over a string -> 32-bit unsigned
local function hash(s)
  local h = 2166136261
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i))
    h = bit.tobit(h * 16777619 % 4294967296)
  end
  return h % 4294967296
end

-- xorshift32: a generator of numbers in [0, 1)
local function generator(seed)
  local x = seed ~= 0 and bit.tobit(seed) or 2463534242
  return function()
    x = bit.bxor(x, bit.lshift(x, 13))
    x = bit.bxor(x, bit.rshift(x, 17))
    x = bit.bxor(x, bit.lshift(x, 5))
    return (x % 4294967296) / 4294967296
  end
end

-- rewrite(text[, opts]) -> the line as a recognizer returns it
--   opts.seed (number, default 1), opts.key (string: which line, default ""), opts.rate (default 0.03)
function M.rewrite(text, opts)
  opts = opts or {}
  local rate = opts.rate or M.DEFAULT_RATE
  local words = words_of(text)
  local random = generator(hash(tostring(opts.seed or 1) .. "\0" .. tostring(opts.key or "")))
  local out = {}
  for i, w in ipairs(words) do
    if random() < rate then
      local alt = HOMOPHONES[w]
      if alt then
        out[#out + 1] = alt[1 + math.floor(random() * #alt)]
      elseif #out > 0 or i < #words then
        -- dropped (the last word stays when nothing else would)
      else
        out[#out + 1] = w
      end
    else
      out[#out + 1] = w
    end
  end
  return table.concat(out, " ")
end

M.words = words_of

return M

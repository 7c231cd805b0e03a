-- sova.llm.rules: the offline, deterministic LLM stand-in (trusted side).
--
-- Same interface as the OpenAI adapter:  local llm = rules.new()
--   llm:respond(request) -> { text = "..." | nil, tool_calls = { { id=, name=, arguments = {...} } } }
--
-- What it does with a request (see sova.call.engine for the request's shape):
--   reason "user":  picks the function whose phrases match the other party's last words
--                   (the function's `rules` phrases, else the words of its name and description,
--                   plus the options and synonyms of its enum parameters); the longest matched
--                   phrase wins, then the number of phrases matched, then the order offered (node
--                   functions before global ones). A phrase right after "not"/"never" does not
--                   count. A rule "*" matches anything, below every phrase. Parameters are filled
--                   from the words by their schema; a function whose required parameters cannot
--                   be filled is passed over. Nothing matched: the node's reprompt ("" = silence),
--                   else "Sorry, I didn't catch that." and the node's last verbatim line.
--   reason "enter": the node's reprompt, else the first "quoted" sentence of its task, else nothing.
--   reason "tool":  a short acknowledgement.
--   reason "carry": nothing (a line carried into the next node is not matched again).
-- Parameter filling (rules.fill / rules.extract.*): enum options and synonyms, booleans
-- (yes/no/yeah/nope/correct...), dates ("March 15 1985", "03/15/1985", "1985-03-15"), date-times,
-- numbers (digits and number words), reference-number-like codes ("AUTH 123456" -> "AUTH123456"),
-- person names ("this is Jane Doe"), and free text (the whole utterance).
-- Deterministic: no randomness, no clock, property names visited in sorted order.

local type, ipairs, pairs, tostring, tonumber = type, ipairs, pairs, tostring, tonumber
local find, match, gsub, lower, upper, sub, format, gmatch =
  string.find, string.match, string.gsub, string.lower, string.upper, string.sub, string.format, string.gmatch
local concat, sort, floor = table.concat, table.sort, math.floor

local M = {}

M.MAX_TEXT_ARG = 2000

---------------------------------------------------------------------------------------------
-- words

-- normalize(text) -> lower-case words separated by single spaces; contractions expanded
-- ("can't" -> "can not", "isn't" -> "is not", "it's" -> "it s"), punctuation dropped.
function M.normalize(text)
  local s = lower(text or "")
  s = gsub(s, "\226\128\153", "'")            -- right single quotation mark
  s = gsub(s, "can't", "can not")
  s = gsub(s, "cannot", "can not")
  s = gsub(s, "won't", "will not")
  s = gsub(s, "n't", " not")
  s = gsub(s, "'re", " are")
  s = gsub(s, "'m", " am")
  s = gsub(s, "'ll", " will")
  s = gsub(s, "'ve", " have")
  s = gsub(s, "[^%w\128-\255]+", " ")
  s = gsub(s, "^ +", "")
  s = gsub(s, " +$", "")
  return s
end

local function words_of(text)
  local w = {}
  for word in gmatch(M.normalize(text), "%S+") do w[#w + 1] = word end
  return w
end
M.words = words_of

local NEGATORS = { ["not"] = true, ["never"] = true }

-- occurrences of phrase (list of words) in words -> list of start indexes
local function occurrences(words, phrase)
  local out = {}
  local n, m = #words, #phrase
  if m == 0 then return out end
  for i = 1, n - m + 1 do
    local ok = true
    for j = 1, m do
      if words[i + j - 1] ~= phrase[j] then ok = false; break end
    end
    if ok then out[#out + 1] = i end
  end
  return out
end

local function phrase_words(p)
  local w = {}
  for word in gmatch(M.normalize(p), "%S+") do w[#w + 1] = word end
  return w
end

-- first non-negated occurrence of phrase -> start index | nil
local function find_phrase(words, phrase)
  for _, i in ipairs(occurrences(words, phrase)) do
    if not (i > 1 and NEGATORS[words[i - 1]] and phrase[1] ~= "not") then return i end
  end
  return nil
end

local STOPWORDS = {}
for w in gmatch([[the a an and or of to in on for with from by at is are was were be been this that these
  those it its when if then than so as into about after before call called calls model use used
  party other says say said person when what which who whom whose will would should could can
  has have had does did done not only also just they them their there here your you our we us
  his her him she he please any some each every more most such very]], "%S+") do STOPWORDS[w] = true end

---------------------------------------------------------------------------------------------
-- values: booleans, numbers, dates, codes, names

local YES = { "yes", "yeah", "yep", "yup", "ya", "correct", "right", "sure", "affirmative",
              "absolutely", "definitely", "true", "uh huh", "certainly", "of course", "i do", "confirmed" }
local NO = { "no", "nope", "nah", "not", "never", "negative", "incorrect", "wrong", "false",
             "none", "nothing" }

local function earliest(words, list)
  local best
  for _, p in ipairs(list) do
    local occ = occurrences(words, phrase_words(p))
    if occ[1] and (not best or occ[1] < best) then best = occ[1] end
  end
  return best
end

-- boolean(text) -> true | false | nil (the earlier of a yes-word and a no-word decides)
function M.boolean(text)
  local words = type(text) == "table" and text or words_of(text)
  local y, n = earliest(words, YES), earliest(words, NO)
  if y and (not n or y < n) then return true end
  if n then return false end
  return nil
end

local UNITS = { zero = 0, oh = nil, one = 1, two = 2, three = 3, four = 4, five = 5, six = 6,
                seven = 7, eight = 8, nine = 9, ten = 10, eleven = 11, twelve = 12, thirteen = 13,
                fourteen = 14, fifteen = 15, sixteen = 16, seventeen = 17, eighteen = 18, nineteen = 19 }
local TENS = { twenty = 20, thirty = 30, forty = 40, fifty = 50, sixty = 60, seventy = 70,
               eighty = 80, ninety = 90 }
M.UNITS, M.TENS = UNITS, TENS

-- number(text) -> the first number said (digits, "7.5", "7/10", or words up to ninety-nine) | nil
function M.number(text)
  local s = lower(text or "")
  local toks = {}
  for tok0 in gmatch(gsub(s, "[^%w%.%-/]+", " "), "%S+") do
    local tok = gsub(gsub(tok0, "^[%.%-]+", ""), "%.+$", "")
    -- "twenty-five" -> "twenty", "five"
    local a, b = match(tok, "^(%a+)%-(%a+)$")
    if a then toks[#toks + 1] = a; toks[#toks + 1] = b else toks[#toks + 1] = tok end
  end
  for i, tok in ipairs(toks) do
    local d = match(tok, "^%-?%d+%.?%d*$") or match(tok, "^(%-?%d+)%a*$")   -- "7", "7.5", "7th"
    if d then return tonumber(d) end
    if match(tok, "^%d+/%d+$") then return tonumber(match(tok, "^(%d+)")) end
    if TENS[tok] then
      local u = UNITS[toks[i + 1] or ""]
      if u and u > 0 and u < 10 then return TENS[tok] + u end
      return TENS[tok]
    end
    if UNITS[tok] then return UNITS[tok] end
  end
  return nil
end

local MONTHS = { january = 1, february = 2, march = 3, april = 4, may = 5, june = 6, july = 7,
                 august = 8, september = 9, october = 10, november = 11, december = 12,
                 jan = 1, feb = 2, mar = 3, apr = 4, jun = 6, jul = 7, aug = 8, sep = 9, sept = 9,
                 oct = 10, nov = 11, dec = 12 }
local ORDINALS = { first = 1, second = 2, third = 3, fourth = 4, fifth = 5, sixth = 6, seventh = 7,
                   eighth = 8, ninth = 9, tenth = 10, eleventh = 11, twelfth = 12, thirteenth = 13,
                   fourteenth = 14, fifteenth = 15, sixteenth = 16, seventeenth = 17,
                   eighteenth = 18, nineteenth = 19, twentieth = 20, thirtieth = 30 }

local function valid_ymd(y, m, d)
  if not (y and m and d) or y < 1000 or m < 1 or m > 12 or d < 1 then return false end
  local dim = ({ 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
  if m == 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then dim = 29 end
  return d <= dim
end

local function day_of(tok, nexttok)
  if not tok then return nil end
  local d = match(tok, "^(%d%d?)$") or match(tok, "^(%d%d?)st$") or match(tok, "^(%d%d?)nd$")
    or match(tok, "^(%d%d?)rd$") or match(tok, "^(%d%d?)th$")
  if d then return tonumber(d), 1 end
  if ORDINALS[tok] then return ORDINALS[tok], 1 end
  -- "twenty first", "thirty first"
  if (tok == "twenty" or tok == "thirty") and nexttok and ORDINALS[nexttok] and ORDINALS[nexttok] < 10 then
    return TENS[tok] + ORDINALS[nexttok], 2
  end
  return nil
end

-- date(text) -> "YYYY-MM-DD" | nil
function M.date(text)
  text = text or ""
  local y, m, d = match(text, "(%d%d%d%d)%-(%d%d?)%-(%d%d?)")
  if y then
    y, m, d = tonumber(y), tonumber(m), tonumber(d)
    if valid_ymd(y, m, d) then return format("%04d-%02d-%02d", y, m, d) end
  end
  m, d, y = match(text, "(%d%d?)[/%-](%d%d?)[/%-](%d%d%d%d)")
  if m then
    y, m, d = tonumber(y), tonumber(m), tonumber(d)
    if valid_ymd(y, m, d) then return format("%04d-%02d-%02d", y, m, d) end
  end
  local w = words_of(text)
  for i, tok in ipairs(w) do
    local mo = MONTHS[tok]
    if mo and not (tok == "may" and not day_of(w[i + 1]) and not day_of(w[i - 1])) then
      -- month day year: "March 15(th)(,) 1985", "March the 15th 1985"
      local j = i + 1
      if w[j] == "the" then j = j + 1 end
      local dd, used = day_of(w[j], w[j + 1])
      if dd then
        local yy = w[j + used]
        if yy and match(yy, "^%d%d%d%d$") and valid_ymd(tonumber(yy), mo, dd) then
          return format("%04d-%02d-%02d", tonumber(yy), mo, dd)
        end
      end
      -- day month year: "15 March 1985", "the 15th of March 1985"
      local k = i - 1
      if w[k] == "of" then k = k - 1 end
      local d2, used2
      if k > 1 then d2, used2 = day_of(w[k - 1], w[k]) end
      if not (d2 and used2 == 2) then d2 = day_of(w[k]) end
      local yy = w[i + 1]
      if d2 and yy and match(yy, "^%d%d%d%d$") and valid_ymd(tonumber(yy), mo, d2) then
        return format("%04d-%02d-%02d", tonumber(yy), mo, d2)
      end
    end
  end
  return nil
end

-- time(text) -> hour, minute | nil ("2:30 PM", "2 pm", "14:30")
function M.time(text)
  local s = lower(text or "")
  local h, mi, ap = match(s, "(%d%d?):(%d%d)%s*([ap])%.?%s*m%f[%A]")
  if not h then h, ap = match(s, "(%d%d?)%s*([ap])%.?%s*m%f[%A]"); mi = "00" end
  if not h then h, mi = match(s, "(%d%d?):(%d%d)"); ap = nil end
  if not h then return nil end
  h, mi = tonumber(h), tonumber(mi)
  if ap then
    if h < 1 or h > 12 then return nil end
    if ap == "a" then h = (h == 12) and 0 or h else h = (h == 12) and 12 or h + 12 end
  end
  if h > 23 or mi > 59 then return nil end
  return h, mi
end

-- datetime(text) -> "YYYY-MM-DDTHH:MM" | nil (a date and a time in the same words)
function M.datetime(text)
  local d = M.date(text)
  if not d then return nil end
  -- look for the time outside the date's own digits
  local rest = gsub(text, "%d%d%d%d%-%d%d?%-%d%d?", " ")
  rest = gsub(rest, "%d%d?[/%-]%d%d?[/%-]%d%d%d%d", " ")
  local h, mi = M.time(rest)
  if not h then return nil end
  return format("%sT%02d:%02d", d, h, mi)
end

local CODE_STOP = {}
for w in gmatch([[a an and are as at be but by for from go got have here i id in is it its it's me my
  no not number of ok okay on or our ref so that the their there this to uh um was we will yes you
  your code call auth's yeah sure number's reference confirmation that's thats is's]], "%S+") do CODE_STOP[w] = true end
local DIGIT_WORDS = { zero = "0", one = "1", two = "2", three = "3", four = "4", five = "5",
                      six = "6", seven = "7", eight = "8", nine = "9" }

-- code(text) -> a reference-number-like code: letters and digits, at least one digit, at least
-- 5 characters, possibly spelled with spaces or dashes ("AUTH 123456", "A-U-T-H-1-2-3") | nil
function M.code(text)
  local toks, ends = {}, {}
  for raw in gmatch(text or "", "%S+") do
    local stop = find(raw, "[,;%.!%?:]$") ~= nil        -- punctuation ends a code
    raw = gsub(raw, "^[%p]+", "")
    raw = gsub(raw, "[%p]+$", "")
    local parts = {}
    for part in gmatch(raw, "[^%-]+") do parts[#parts + 1] = part end
    if #parts > 1 and not find(raw, "'") then
      for _, p in ipairs(parts) do toks[#toks + 1] = p end
    else
      toks[#toks + 1] = raw
    end
    ends[#toks] = stop
  end
  -- classify: "d" digits/alnum with a digit, "w" digit word, "U" uppercase letters, "l" lowercase letters
  local kinds = {}
  for i, t in ipairs(toks) do
    local lt = lower(t)
    if match(t, "^%w+$") and find(t, "%d") then kinds[i] = "d"
    elseif DIGIT_WORDS[lt] then kinds[i] = "w"
    elseif match(t, "^%u+$") and #t <= 6 and not (#t >= 2 and CODE_STOP[lt]) then kinds[i] = "U"
    elseif match(t, "^%a+$") and #t <= 5 and not CODE_STOP[lt] then kinds[i] = "l"
    else kinds[i] = nil end
  end
  local best, run, has_digit = nil, {}, false
  local function close()
    local s = concat(run)
    if has_digit and #s >= 5 and (not best or #s > #best) then best = s end
    run, has_digit = {}, false
  end
  for i, t in ipairs(toks) do
    local k = kinds[i]
    local lt = lower(t)
    -- lowercase letters count only right before digits ("auth 123456")
    if k == "l" and not (kinds[i + 1] == "d" or kinds[i + 1] == "w" or kinds[i + 1] == "U" or kinds[i + 1] == "l") then
      k = nil
    end
    -- digit words count only next to other digits
    if k == "w" and not (kinds[i + 1] == "d" or kinds[i + 1] == "w" or kinds[i - 1] == "d" or kinds[i - 1] == "w") then
      k = nil
    end
    if k == "d" then run[#run + 1] = upper(t); has_digit = true
    elseif k == "w" then run[#run + 1] = DIGIT_WORDS[lt]; has_digit = true
    elseif k == "U" or k == "l" then run[#run + 1] = upper(t)
    else close() end
    if ends[i] then close() end
  end
  close()
  return best
end

local NAME_INTROS = { "my name is", "name is", "this is", "it is", "it's", "i am", "i'm", "you've got",
                      "you have", "speaking with", "speaking to" }
local NAME_STOP = {}
for w in gmatch([[and born my date birth the on i from calling speaking yes yeah no here is was of
  at in with dob d.o.b birthday]], "%S+") do NAME_STOP[w] = true end

-- person_name(text) -> the name after "this is" / "my name is" / "I'm" ... | nil
function M.person_name(text)
  text = text or ""
  local l = lower(text)
  local best
  for _, intro in ipairs(NAME_INTROS) do
    local a, b = find(l, intro, 1, true)
    while a and ((a > 1 and find(sub(l, a - 1, a - 1), "%a")) or find(sub(l, b + 1, b + 1), "%a")) do
      a, b = find(l, intro, b + 1, true)
    end
    if a and (not best or a < best.a) then best = { a = a, b = b } end
  end
  if not best then return nil end
  local out = {}
  for raw in gmatch(sub(text, best.b + 1), "%S+") do
    local word = gsub(gsub(raw, "^[^%a]+", ""), "[^%a'%-]+$", "")
    if word == "" or not match(word, "^%a[%a'%-]*$") or NAME_STOP[lower(word)] then break end
    out[#out + 1] = word
    if #out >= 4 or find(raw, "[,%.;:!%?]$") then break end
  end
  if #out == 0 then return nil end
  return concat(out, " ")
end

---------------------------------------------------------------------------------------------
-- enum options and their synonyms

-- Synonyms the rules engine knows for common option values (keys: normalized option text).
M.SYNONYMS = {
  approved = { "approved", "authorized", "approval on file", "good to go", "has been approved", "is active" },
  denied = { "denied", "rejected", "declined", "not approved", "not authorized", "denial", "turned down" },
  pending = { "pending", "under review", "in review", "being reviewed", "processing", "in process",
              "no decision", "not decided", "still waiting", "awaiting" },
  confirmed = { "confirmed", "confirm", "will be there", "see you then" },
  cancelled = { "cancel", "cancelled", "canceled", "cancellation" },
  ["reschedule requested"] = { "reschedule", "different time", "another time", "another day" },
  ["wrong number"] = { "wrong number" },
  english = { "english", "ingles" },
  spanish = { "spanish", "espanol", "espa\195\177ol", "castellano" },
  mandarin = { "mandarin", "chinese", "putonghua" },
  other = { "another language", "something else" },
}

local function option_phrases(option, extra)
  local list = {}
  local key = M.normalize(gsub(tostring(option), "_", " "))
  list[#list + 1] = key
  for _, s in ipairs(M.SYNONYMS[key] or {}) do list[#list + 1] = s end
  if type(extra) == "table" then
    for _, s in ipairs(extra) do if type(s) == "string" then list[#list + 1] = s end end
  end
  return list
end

-- spans of every option's phrases in words: { {option=, i=, len=} } (non-negated occurrences)
local function option_spans(words, options, synonyms)
  local spans = {}
  for oi, option in ipairs(options) do
    for _, p in ipairs(option_phrases(option, synonyms and synonyms[option])) do
      local pw = phrase_words(p)
      for _, i in ipairs(occurrences(words, pw)) do
        if not (i > 1 and NEGATORS[words[i - 1]] and pw[1] ~= "not") then
          spans[#spans + 1] = { option = option, i = i, len = #pw, oi = oi }
        end
      end
    end
  end
  -- longest first, then earliest, then option order
  sort(spans, function(a, b)
    if a.len ~= b.len then return a.len > b.len end
    if a.i ~= b.i then return a.i < b.i end
    return a.oi < b.oi
  end)
  return spans
end

-- enum(text, options, synonyms) -> the option said (longest phrase, then earliest) | nil
function M.enum(text, options, synonyms)
  local words = type(text) == "table" and text or words_of(text)
  local spans = option_spans(words, options, synonyms)
  return spans[1] and spans[1].option or nil
end

-- enums(text, options, synonyms) -> every option said, in the order said (non-overlapping)
function M.enums(text, options, synonyms)
  local words = type(text) == "table" and text or words_of(text)
  local taken, chosen = {}, {}
  for _, s in ipairs(option_spans(words, options, synonyms)) do
    local free = true
    for k = s.i, s.i + s.len - 1 do if taken[k] then free = false; break end end
    if free then
      for k = s.i, s.i + s.len - 1 do taken[k] = true end
      chosen[#chosen + 1] = s
    end
  end
  sort(chosen, function(a, b) return a.i < b.i end)
  local out, seen = {}, {}
  for _, s in ipairs(chosen) do
    if not seen[s.option] then seen[s.option] = true; out[#out + 1] = s.option end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- parameter filling

local function is_code_param(name, prop)
  if prop.format == "code" then return true end
  local n = lower(name)
  return find(n, "reference") or find(n, "confirmation") or find(n, "code") or find(n, "number")
    or match(n, "_id$") or n == "id"
end

local function is_date_param(name, prop)
  if prop.format == "date" then return true end
  if prop.format then return false end
  local n = lower(name)
  return find(n, "date") or find(n, "dob") or find(n, "birth")
end

-- extract(name, prop, text, whole, synonyms) -> value | nil
-- text: the sentence that chose the function; whole: the whole utterance. Values come from the
-- sentence first, then from the whole utterance; lists of options and free text from the whole.
local function extract(name, prop, text, whole, synonyms)
  local ty = prop.type
  if type(prop.enum) == "table" then
    local v = M.enum(words_of(text), prop.enum, synonyms)
    if v == nil and whole ~= text then v = M.enum(words_of(whole), prop.enum, synonyms) end
    return v
  end
  if ty == "array" and type(prop.items) == "table" and type(prop.items.enum) == "table" then
    local list = M.enums(words_of(whole), prop.items.enum, synonyms)
    if #list > 0 then return list end
    return nil
  end
  local function either(f)
    local v = f(text)
    if v == nil and whole ~= text then v = f(whole) end
    return v
  end
  if ty == "boolean" then return either(M.boolean) end
  if ty == "number" or ty == "integer" then
    local n = either(M.number)
    if n and ty == "integer" and n ~= floor(n) then return nil end
    return n
  end
  if ty == "string" then
    if prop.format == "date-time" then return either(M.datetime) end
    if is_date_param(name, prop) then return either(M.date) end
    if is_code_param(name, prop) then return either(M.code) end
    local t
    if match(lower(name), "name$") then t = either(M.person_name) end
    t = t or M.trim(whole)
    if t == "" then return nil end
    if #t > M.MAX_TEXT_ARG then t = sub(t, 1, M.MAX_TEXT_ARG) end
    return t
  end
  return nil
end

function M.trim(s)
  return (match(s or "", "^%s*(.-)%s*$"))
end

-- sentences(text) -> list of sentences (split after . ! ? followed by a space)
function M.sentences(text)
  local out = {}
  local s = (text or "") .. " "
  local pos = 1
  while true do
    local a, b = find(s, "[%.!%?]+%s+", pos)
    if not a then break end
    local piece = M.trim(sub(s, pos, a))
    if piece ~= "" then out[#out + 1] = piece end
    pos = b + 1
  end
  local rest = M.trim(sub(s, pos))
  if rest ~= "" then out[#out + 1] = rest end
  return out
end

-- fill(fn, text[, whole]) -> arguments table | nil (nil when a required parameter cannot be filled)
--   fn: a function description (name, parameters, values = { param = { Option = {synonyms} } })
function M.fill(fn, text, whole)
  whole = whole or text
  local ps = type(fn.parameters) == "table" and fn.parameters or {}
  local props = type(ps.properties) == "table" and ps.properties or {}
  local values = type(fn.values) == "table" and fn.values or {}
  local names = {}
  for k in pairs(props) do names[#names + 1] = k end
  sort(names)
  local args = {}
  for _, name in ipairs(names) do
    local prop = props[name]
    if type(prop) == "table" then
      local v = extract(name, prop, text or "", whole or "", values[name])
      if v == nil and prop.default ~= nil then v = prop.default end
      args[name] = v
    end
  end
  for _, r in ipairs(type(ps.required) == "table" and ps.required or {}) do
    if args[r] == nil then return nil end
  end
  return args
end

---------------------------------------------------------------------------------------------
-- choosing a function

-- the phrases a function answers to: its rules, else the words of its name and description,
-- plus its enum parameters' options and synonyms
local function phrases_of(fn)
  local list, wildcard = {}, false
  local rules = type(fn.rules) == "table" and fn.rules or {}
  for _, r in ipairs(rules) do
    if r == "*" then wildcard = true
    elseif type(r) == "string" then list[#list + 1] = phrase_words(r) end
  end
  if #rules == 0 and type(fn.values) ~= "table" then
    local text = gsub(tostring(fn.name or ""), "[_%-]", " ") .. " " .. tostring(fn.description or "")
    for _, w in ipairs(words_of(text)) do
      if #w >= 4 and not STOPWORDS[w] then list[#list + 1] = { w } end
    end
  end
  local props = type(fn.parameters) == "table" and type(fn.parameters.properties) == "table"
    and fn.parameters.properties or {}
  local values = type(fn.values) == "table" and fn.values or {}
  local names = {}
  for k in pairs(props) do names[#names + 1] = k end
  sort(names)
  for _, name in ipairs(names) do
    local p = props[name]
    local enum = type(p) == "table" and (p.enum or (type(p.items) == "table" and p.items.enum))
    if type(enum) == "table" then
      for _, option in ipairs(enum) do
        for _, ph in ipairs(option_phrases(option, values[name] and values[name][option])) do
          list[#list + 1] = phrase_words(ph)
        end
      end
    end
  end
  return list, wildcard
end

-- phrases per function description (the engine passes the same tables turn after turn)
local phrase_cache = setmetatable({}, { __mode = "k" })

-- score(fn, words) -> longest phrase length, phrases matched, wildcard
function M.score(fn, words)
  local cached = phrase_cache[fn]
  if not cached then
    local list, wild = phrases_of(fn)
    cached = { list = list, wild = wild }
    phrase_cache[fn] = cached
  end
  local phrases, wildcard = cached.list, cached.wild
  local best, count = 0, 0
  for _, p in ipairs(phrases) do
    if #p > 0 and find_phrase(words, p) then
      count = count + 1
      if #p > best then best = #p end
    end
  end
  return best, count, wildcard
end

-- choose(text, functions) -> { name=, arguments= } | nil
-- The last sentence with a matching phrase decides (the latest thing said wins); within it the
-- longest phrase, then the most phrases, then the order offered. Wildcard ("*") functions are
-- the fallback when no sentence matches any phrase.
function M.choose(text, functions)
  functions = functions or {}
  local sentences = M.sentences(text)
  for si = #sentences, 1, -1 do
    local sentence = sentences[si]
    local words = words_of(sentence)
    local best
    for idx, fn in ipairs(functions) do
      local b, c = M.score(fn, words)
      if b > 0 and (not best or b > best.b or (b == best.b and c > best.c)) then
        local args = M.fill(fn, sentence, text)
        if args then best = { b = b, c = c, idx = idx, name = fn.name, arguments = args } end
      end
    end
    if best then return { name = best.name, arguments = best.arguments } end
  end
  for _, fn in ipairs(functions) do
    local _, _, wild = M.score(fn, {})
    if wild then
      local args = M.fill(fn, text, text)
      if args then return { name = fn.name, arguments = args } end
    end
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- the adapter

local Rules = {}
Rules.__index = Rules

function M.new(opts)
  return setmetatable({ opts = opts or {} }, Rules)
end

local function quoted(task)
  if type(task) ~= "string" then return nil end
  return match(task, "\"([^\"]+)\"")
end

function Rules:respond(req)
  local node = req.node or {}
  local reason = req.reason or "user"
  if reason == "enter" then
    if node.reprompt ~= nil then
      if node.reprompt == "" then return { text = nil, tool_calls = {} } end
      return { text = node.reprompt, tool_calls = {} }
    end
    return { text = quoted(node.task), tool_calls = {} }
  elseif reason == "tool" then
    -- a function was refused (bad arguments, unknown name): ask again; else acknowledge
    local msgs = req.messages or {}
    local last = msgs[#msgs]
    if last and last.role == "tool" and type(last.content) == "string" and find(last.content, "\"error\"", 1, true) then
      if node.reprompt == "" then return { text = nil, tool_calls = {} } end
      return { text = node.reprompt or "Sorry, could you say that again?", tool_calls = {} }
    end
    return { text = "Okay, thank you.", tool_calls = {} }
  elseif reason == "carry" then
    -- phrase matching would fire on words meant for the node the line already moved from
    return { text = nil, tool_calls = {} }
  end
  local pick = M.choose(req.last_user or "", req.functions or req.tools or {})
  if pick then
    local id = format("rules_%d", #(req.messages or {}) + 1)
    return { text = nil, tool_calls = { { id = id, name = pick.name, arguments = pick.arguments } } }
  end
  if node.reprompt ~= nil then
    if node.reprompt == "" then return { text = nil, tool_calls = {} } end
    return { text = node.reprompt, tool_calls = {} }
  end
  local say = node.say or {}
  return { text = "Sorry, I didn't catch that. " .. (say[#say] or "Could you say that again?"), tool_calls = {} }
end

return M

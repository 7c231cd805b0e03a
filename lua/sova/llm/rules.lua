-- sova.llm.rules: the offline, deterministic LLM stand-in (trusted side).
--
-- Same interface as the OpenAI adapter:  local llm = rules.new()
--   llm:respond(request) -> { text = "..." | nil, tool_calls = { { id=, name=, arguments = {...} } } }
--
-- What it does with a request (see sova.call.engine for the request's shape):
--   reason "user":  picks the function whose phrases match the other party's last words
--                   (the function's `rules` phrases, else the words of its name and description,
--                   plus the options and synonyms of its enum parameters); the last sentence with
--                   a match decides, within it the longest matched phrase wins, then the number of
--                   phrases matched, then the order offered (node functions before global ones).
--                   Phrases do not count right after "not"/"never", nor inside a neutral phrase
--                   that is not theirs ("provider" in "provider services": M.NEUTRAL, plus the
--                   function's `rules_ignore`). A function with rules_when = "asked" answers
--                   requests only ("what's the member ID?", "and the NPI?"), "stated" statements
--                   only ("the member ID is ABC123456"; rules.kind tells them apart, also in
--                   lower case without punctuation); a statement whose only match is a
--                   request-only function gets "Thank you." instead of a recital (a wildcard may
--                   still take it when that match was a single word). A rule "*"
--                   matches anything, below every phrase. Parameters are filled from the words by
--                   their schema; a function whose required parameters cannot be filled is passed
--                   over. Other functions of the offered set that the same line fills with typed
--                   values (not free text) and a phrase of their own are called too, in offered
--                   order. Not confident (the only match a single word, tied with another
--                   function's single word in a long sentence; or only a wildcard on a question
--                   about the conversation itself): the node's reprompt, else "Sorry, could you
--                   say that again?". Nothing matched: the node's reprompt ("" = silence), else
--                   "Sorry, I didn't catch that." and the node's last verbatim line.
--   reason "carry": the line already ran a function that moved the call; the new node's functions
--                   (with a phrase of theirs in the line, or a wildcard) whose required parameters
--                   the line fills with typed values (an option, an explicit yes/no word, a date,
--                   number, code, or a name after an introduction: never free text), none of
--                   them a value in req.used, are called in offered order; else nothing.
--                   A greeting that matches nothing ("Thank you for calling Aetna provider
--                   services, this is Jennifer", "hello?") is answered with the node's question
--                   (its reprompt, else its last line) and marked acknowledged: not a reprompt.
--   reason "resume": as "user" (the line heard again where a hold returned to), but with nothing
--                   matched the node's question is asked plainly, without "Sorry, I didn't catch that."
--   reason "enter": the node's reprompt, else the first "quoted" sentence of its task, else nothing.
--   reason "tool":  a short acknowledgement; after a refused call, the reprompt.
-- Parameter filling (rules.fill; readers rules.enum, boolean, number, date, time, datetime, code,
-- person_name): enum options and synonyms, booleans
-- (yes/no/yeah/nope/correct...), dates ("March 15 1985", "03/15/1985", "1985-03-15"), date-times,
-- numbers, reference-number-like codes ("AUTH 123456" -> "AUTH123456"), person names ("this is
-- Jane Doe"), and free text (the whole utterance). Speech-recognition transcripts are understood:
-- no punctuation, lower case, filler words ("um", "you know") dropped, and spoken numbers, codes,
-- dates and times rewritten as written ones first (rules.written: "a u t h one two three" ->
-- "A U T H 123", "double five" -> "55", "nineteen eighty five" -> "1985", "two thirty pm" -> "2:30 pm").
-- Deterministic: no randomness, no clock, property names visited in sorted order.

local type, ipairs, pairs, tostring, tonumber, select, setmetatable =
  type, ipairs, pairs, tostring, tonumber, select, setmetatable
local find, match, gsub, lower, upper, sub, format, gmatch, rep =
  string.find, string.match, string.gsub, string.lower, string.upper, string.sub, string.format,
  string.gmatch, string.rep
local concat, sort, floor = table.concat, table.sort, math.floor

local M = {}

M.MAX_TEXT_ARG = 2000

local function set_of(text)
  local s = {}
  for w in gmatch(text, "%S+") do s[w] = true end
  return s
end

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

-- filler words a speaker or a recognizer puts in: never part of a phrase or a value
local FILLERS = set_of("um umm uh uhh uhm er erm ah hmm mm")
local LIKE_FILLER_AFTER = set_of("is s was were it it's that's and so but just or then because are um uh")
local YOU_KNOW_KEPT_AFTER = set_of("do did does would will if not can could may might as that what who whether i we they")

-- fillers(words) -> set of the indexes of filler words ("um", "like" as a filler, "you know")
local function fillers(ws)
  local drop = {}
  for i, w in ipairs(ws) do
    if FILLERS[w] and not (w == "uh" and ws[i + 1] == "huh") then
      drop[i] = true
    elseif w == "like" and (i == 1 or LIKE_FILLER_AFTER[ws[i - 1]]) and ws[i + 1] ~= "to" then
      drop[i] = true
    elseif w == "you" and ws[i + 1] == "know" and not YOU_KNOW_KEPT_AFTER[ws[i - 1] or ""] then
      drop[i], drop[i + 1] = true, true
    end
  end
  return drop
end

local function words_of(text)
  local all = {}
  for word in gmatch(M.normalize(text), "%S+") do all[#all + 1] = word end
  local drop = fillers(all)
  local w = {}
  for i, word in ipairs(all) do
    -- "member i d" as a recognizer writes "member ID"
    if word == "i" and all[i + 1] == "d" and (w[#w] == "member" or w[#w] == "subscriber" or w[#w] == "insurance") then
      w[#w + 1] = "id"; drop[i + 1] = true
    elseif not drop[i] then
      -- an answer does not open with "know": the recognizer's spelling of "no" ("know changes")
      w[#w + 1] = (word == "know" and #w == 0) and "no" or word
    end
  end
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

-- Phrases that name something other than what their words say on their own: a function's
-- shorter phrase inside one of them does not count ("provider" in "provider services").
M.NEUTRAL = { "provider services", "provider service", "provider line", "provider relations",
              "provider hotline", "provider portal", "member services", "member service",
              "member line", "customer service", "customer services", "customer care",
              "patient services" }
local NEUTRAL_WORDS = {}
for i, p in ipairs(M.NEUTRAL) do NEUTRAL_WORDS[i] = phrase_words(p) end

-- masks(words, extra) -> list of { from, to }: where the neutral phrases (and extra ones) occur
local function masks(words, extra)
  local out = {}
  local function add(list)
    for _, pw in ipairs(list) do
      for _, i in ipairs(occurrences(words, pw)) do out[#out + 1] = { i, i + #pw - 1 } end
    end
  end
  add(NEUTRAL_WORDS)
  if extra then add(extra) end
  return out
end

-- an occurrence [i, i+m-1] inside a masked span it does not cover whole
local function masked(spans, i, m)
  for _, s in ipairs(spans) do
    if s[1] <= i and i + m - 1 <= s[2] and m < s[2] - s[1] + 1 then return true end
  end
  return false
end

-- first counted occurrence of phrase (not negated, not masked) -> start index | nil
local function find_phrase(words, phrase, spans)
  for _, i in ipairs(occurrences(words, phrase)) do
    if not (i > 1 and NEGATORS[words[i - 1]] and phrase[1] ~= "not")
       and not (spans and masked(spans, i, #phrase)) then
      return i
    end
  end
  return nil
end

local STOPWORDS = set_of([[the a an and or of to in on for with from by at is are was were be been this that these
  those it its when if then than so as into about after before call called calls model use used
  party other says say said person when what which who whom whose will would should could can
  has have had does did done not only also just they them their there here your you our we us
  his her him she he please any some each every more most such very]])

---------------------------------------------------------------------------------------------
-- spoken forms: what a speech recognizer writes, rewritten as written numbers, codes and times

local UNITS = { zero = 0, one = 1, two = 2, three = 3, four = 4, five = 5, six = 6,
                seven = 7, eight = 8, nine = 9, ten = 10, eleven = 11, twelve = 12, thirteen = 13,
                fourteen = 14, fifteen = 15, sixteen = 16, seventeen = 17, eighteen = 18, nineteen = 19 }
local TENS = { twenty = 20, thirty = 30, forty = 40, fifty = 50, sixty = 60, seventy = 70,
               eighty = 80, ninety = 90 }
local MONTHS = { january = 1, february = 2, march = 3, april = 4, may = 5, june = 6, july = 7,
                 august = 8, september = 9, october = 10, november = 11, december = 12,
                 jan = 1, feb = 2, mar = 3, apr = 4, jun = 6, jul = 7, aug = 8, sep = 9, sept = 9,
                 oct = 10, nov = 11, dec = 12 }
local ORDINALS = { first = 1, second = 2, third = 3, fourth = 4, fifth = 5, sixth = 6, seventh = 7,
                   eighth = 8, ninth = 9, tenth = 10, eleventh = 11, twelfth = 12, thirteenth = 13,
                   fourteenth = 14, fifteenth = 15, sixteenth = 16, seventeenth = 17,
                   eighteenth = 18, nineteenth = 19, twentieth = 20, thirtieth = 30 }
local DIGIT_OF = { zero = "0", oh = "0", one = "1", two = "2", three = "3", four = "4", five = "5",
                   six = "6", seven = "7", eight = "8", nine = "9" }
for d = 0, 9 do DIGIT_OF[tostring(d)] = tostring(d) end
local MERIDIEM = { am = "am", pm = "pm", ["a.m"] = "am", ["p.m"] = "pm" }
local PARTS_OF_DAY = { morning = "am", afternoon = "pm", evening = "pm", night = "pm" }
local ID_NOUNS = set_of("member subscriber insurance patient the your his her their policy")

-- tokens_of(text) -> { { raw=, lead=, core=, trail=, lc= } } ("twenty-five" is two tokens)
local function tokens_of(text)
  local items = {}
  for raw in gmatch(text or "", "%S+") do
    local a, b = match(raw, "^(%a+)%-(%a+%p*)$")
    local parts = (a and TENS[lower(a)]) and { a, b } or { raw }
    for _, p in ipairs(parts) do
      local lead, core, trail = match(p, "^(%p*)(.-)(%p*)$")
      items[#items + 1] = { raw = p, lead = lead, core = core, trail = trail, lc = lower(core) }
    end
  end
  return items
end

local function lc_at(items, j) return items[j] and items[j].lc end

-- small(items, j) -> 0..99 said at j ("seven", "twenty three", "oh"), next index | nil
local function small(items, j)
  local w = lc_at(items, j)
  if not w then return nil end
  if TENS[w] then
    local u = UNITS[lc_at(items, j + 1) or ""]
    if u and u >= 1 and u <= 9 and items[j].trail == "" then return TENS[w] + u, j + 2 end
    return TENS[w], j + 1
  end
  if UNITS[w] then return UNITS[w], j + 1 end
  if w == "oh" then return 0, j + 1 end
  return nil
end

-- compound(items, j) -> a number with hundreds and thousands ("one hundred and five",
-- "two thousand one", "a hundred"), next index | nil
local function compound(items, j)
  local cur, k
  if lc_at(items, j) == "a" and (lc_at(items, j + 1) == "hundred" or lc_at(items, j + 1) == "thousand") then
    cur, k = 1, j + 1
  else
    cur, k = small(items, j)
    if not cur then return nil end
  end
  local total = 0
  while items[k - 1].trail == "" do
    local w = lc_at(items, k)
    if w == "hundred" and cur and cur < 100 then cur = cur * 100
    elseif w == "thousand" and cur then total = total + cur * 1000; cur = nil
    else break end
    k = k + 1
    if lc_at(items, k) == "and" and small(items, k + 1) then k = k + 1 end
    local s, k2 = small(items, k)
    if s and items[k - 1].trail == "" then cur = (cur or 0) + s; k = k2 end
  end
  return total + (cur or 0), k
end

local function is_number_word(w)
  return w ~= nil and (UNITS[w] ~= nil or TENS[w] ~= nil or w == "oh")
end

local function starts_number(items, i)
  local w, nx = lc_at(items, i), lc_at(items, i + 1)
  if w == "oh" then return is_number_word(nx) end
  if w == "double" or w == "triple" then return nx ~= nil and DIGIT_OF[nx] ~= nil end
  if w == "a" then return nx == "hundred" or nx == "thousand" end
  if TENS[w] and ORDINALS[nx or ""] then return false end    -- "twenty first": a day
  return is_number_word(w)
end

-- number_run(items, i, one) -> chunks { "2", "30" } of the numbers said from i, next index.
-- Digits said one by one join ("one two three" -> "1", "2", "3"); one: stop after the first.
local function number_run(items, i, one)
  local chunks, j = {}, i
  while items[j] and starts_number(items, j) do
    local w = lc_at(items, j)
    local text, nx
    if w == "double" or w == "triple" then
      text, nx = rep(DIGIT_OF[lc_at(items, j + 1)], w == "double" and 2 or 3), j + 2
    else
      local v
      v, nx = compound(items, j)
      text = tostring(v)
    end
    chunks[#chunks + 1] = text
    j = nx
    if items[j - 1].trail ~= "" or one then break end
  end
  return chunks, j
end

-- meridiem(items, j) -> "am" | "pm", next index | nil ("pm", "p.m.", "p m", "in the afternoon")
local function meridiem(items, j)
  local w, nx = lc_at(items, j), lc_at(items, j + 1)
  if w and MERIDIEM[w] then return MERIDIEM[w], j + 1 end
  if (w == "a" or w == "p") and nx == "m" then return w .. "m", j + 2 end
  if w == "in" and nx == "the" and PARTS_OF_DAY[lc_at(items, j + 2) or ""] then
    return PARTS_OF_DAY[lc_at(items, j + 2)], j + 3
  end
  return nil
end

-- a run said as a time of day: hour 1-12 then minutes ("two thirty", "ten oh five")
local function as_time(chunks)
  local h = tonumber(chunks[1])
  if not h or h < 1 or h > 12 or #chunks[1] > 2 then return nil end
  local minutes = concat(chunks, "", 2)
  if minutes == "" then return tostring(h) end
  if #minutes == 2 and tonumber(minutes) <= 59 then return h .. ":" .. minutes end
  return nil
end

local function is_letter(w) return #w == 1 and find(w, "^%a$") ~= nil end

-- the end of a contraction written apart ("what s", "don t", "i m", "we d")
local CONTRACTED = { s = set_of("what it that there here he she who let where how"),
                     t = set_of("don isn can won didn doesn wasn aren weren couldn wouldn shouldn"),
                     m = set_of("i"), d = set_of("i you we they he she it") }

-- a single letter said as a letter: any but "a" and "i", those only next to other letters
local function spelled(items, i)
  local w = items[i].lc
  if not is_letter(w) then return false end
  if CONTRACTED[w] and CONTRACTED[w][lc_at(items, i - 1) or ""] then return false end
  if w ~= "a" and w ~= "i" then return true end
  local p, n = lc_at(items, i - 1), lc_at(items, i + 1)
  return (p ~= nil and is_letter(p) and p ~= "a" and p ~= "i") or (n ~= nil and is_letter(n) and n ~= "a" and n ~= "i")
end

-- the last words written were a month with no day before it ("march", "march the")
local function after_bare_month(out)
  local k = #out
  if k > 0 and lower(out[k]) == "the" then k = k - 1 end
  local m = k > 0 and lower(gsub(out[k], "%p", ""))
  if not (m and MONTHS[m]) then return false end
  local before = k > 1 and lower(gsub(out[k - 1], "%p", "")) or ""
  return not (before == "of" or ORDINALS[before] or match(before, "^%d%d?%a*$"))
end

-- written(text) -> text with spoken numbers, codes and times written as digits and letters:
-- "a u t h one two three" -> "A U T H 123", "b as in boy" -> "B", "double five" -> "55",
-- "one hundred and five" -> "105", "nineteen eighty five" -> "1985", "two thousand one" ->
-- "2001", "two thirty pm" -> "2:30 pm", "march fifteen nineteen eighty five" -> "march 15 1985";
-- "dash" inside a code dropped, filler words dropped. Written text passes through unchanged.
-- words a recognizer writes for a digit said among digits ("pend two for six eight",
-- "nineteen seventy to")
local DIGIT_HOMOPHONES = { ["for"] = "four", fore = "four", to = "two", too = "two", won = "one", ate = "eight" }

local function is_digitish(w)
  return w ~= nil and (DIGIT_OF[w] ~= nil or UNITS[w] ~= nil or TENS[w] ~= nil or find(w, "^%d+$") ~= nil)
end

-- a homophone counts as its digit inside a run of digits or spelled letters, or after two
-- numbers at the end of a sentence: never on its own ("call back to confirm", "for the
-- patient"), and "to" not in a range ("two to three")
local function digit_homophones(items)
  local function at(j) return items[j] and items[j].lc end
  local function digit_like(j) return is_digitish(at(j)) or DIGIT_HOMOPHONES[at(j) or ""] ~= nil end
  local function code_part(j) return digit_like(j) or (at(j) ~= nil and find(at(j), "^%a$") ~= nil) end
  for i, it in ipairs(items) do
    local digit = DIGIT_HOMOPHONES[it.lc]
    if digit and i > 1 and items[i - 1].trail == "" and code_part(i - 1) then
      local joined = it.trail == "" and digit_like(i + 1)
      local ends = (items[i + 1] == nil or it.trail ~= "") and is_digitish(at(i - 1)) and is_digitish(at(i - 2))
      local run = code_part(i - 2) or digit_like(i + 2)
      if (joined and (digit ~= "two" or run)) or ends then it.lc = digit end
    end
  end
end

function M.written(text)
  local all = tokens_of(text)
  digit_homophones(all)
  local lcs = {}
  for i, it in ipairs(all) do lcs[i] = it.lc end
  local drop = fillers(lcs)
  local items = {}
  for i, it in ipairs(all) do if not drop[i] then items[#items + 1] = it end end
  local out, code_like = {}, false
  local function emit(s, is_code) out[#out + 1] = s; code_like = is_code end
  local i = 1
  while items[i] do
    local it = items[i]
    local w, nx = it.lc, lc_at(items, i + 1)
    if is_letter(w) and nx == "as" and lc_at(items, i + 2) == "in" and items[i + 3] then
      emit(upper(w) .. items[i + 3].trail, true)                        -- "b as in boy"
      i = i + 4
    elseif (w == "double" or w == "triple") and nx and is_letter(nx) then
      emit(rep(upper(nx), w == "double" and 2 or 3, " ") .. items[i + 1].trail, true)
      i = i + 2
    elseif w == "i" and nx == "d" and ID_NOUNS[lower(out[#out] or "")] then
      emit("ID" .. items[i + 1].trail, false)                           -- "member i d"
      i = i + 2
    elseif starts_number(items, i) then
      local chunks, j = number_run(items, i, after_bare_month(out))
      local ap, k = meridiem(items, j)
      local t = ap and as_time(chunks)
      if t then
        emit(it.lead .. t .. " " .. ap .. items[k - 1].trail, false)
        i = k
      else
        emit(it.lead .. concat(chunks) .. items[j - 1].trail, true)
        i = j
      end
    elseif (w == "dash" or w == "hyphen") and code_like and items[i + 1]
           and (starts_number(items, i + 1) or is_letter(nx) or find(nx, "%d")) then
      i = i + 1
    elseif spelled(items, i) then
      emit(it.lead .. upper(w) .. it.trail, true)
      i = i + 1
    else
      emit(it.raw, find(it.core, "%d") ~= nil)
      i = i + 1
    end
  end
  return concat(out, " ")
end

---------------------------------------------------------------------------------------------
-- values: booleans, numbers, dates, codes, names

local YES = { "yes", "yeah", "yep", "yup", "ya", "correct", "right", "sure", "affirmative",
              "absolutely", "definitely", "true", "uh huh", "certainly", "of course", "i do", "confirmed" }
local NO = { "no", "nope", "nah", "not", "never", "negative", "incorrect", "wrong", "false",
             "none", "nothing" }
-- the words that say yes or no and nothing else (a carried line must say one to fill a boolean)
local EXPLICIT = { "yes", "yeah", "yep", "yup", "correct", "affirmative", "uh huh",
                   "no", "nope", "nah", "negative", "incorrect" }

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

-- number(text) -> the first number said (digits, "7.5", "7/10", or in words: "twenty five",
-- "one hundred and five") | nil
function M.number(text)
  local s = lower(M.written(text))
  for tok0 in gmatch(gsub(s, "[^%w%.%-/]+", " "), "%S+") do
    local tok = gsub(gsub(tok0, "^[%.%-]+", ""), "%.+$", "")
    local d = match(tok, "^%-?%d+%.?%d*$") or match(tok, "^(%-?%d+)%a*$")   -- "7", "7.5", "7th"
    if d then return tonumber(d) end
    if match(tok, "^%d+/%d+$") then return tonumber(match(tok, "^(%d+)")) end
  end
  return nil
end

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

-- the year a word says: "1985", or two digits said after the day ("eighty five" -> 1985,
-- "twenty six" -> 2026) unless a time follows ("March 15 10 am")
local function year_of(tok, after)
  if not tok then return nil end
  if match(tok, "^%d%d%d%d$") then return tonumber(tok) end
  if match(tok, "^%d%d$") and not (after and MERIDIEM[after]) then
    local yy = tonumber(tok)
    return yy <= 30 and 2000 + yy or 1900 + yy
  end
  return nil
end

-- date(text) -> "YYYY-MM-DD" | nil
function M.date(text)
  text = M.written(text)
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
        local yy = year_of(w[j + used], w[j + used + 1])
        if yy and valid_ymd(yy, mo, dd) then return format("%04d-%02d-%02d", yy, mo, dd) end
      end
      -- day month year: "15 March 1985", "the 15th of March 1985"
      local k = i - 1
      if w[k] == "of" then k = k - 1 end
      local d2, used2
      if k > 1 then d2, used2 = day_of(w[k - 1], w[k]) end
      if not (d2 and used2 == 2) then d2 = day_of(w[k]) end
      local yy = year_of(w[i + 1], w[i + 2])
      if d2 and yy and valid_ymd(yy, mo, d2) then return format("%04d-%02d-%02d", yy, mo, d2) end
    end
  end
  return nil
end

-- time(text) -> hour, minute | nil ("2:30 PM", "2 pm", "14:30", "two thirty pm")
function M.time(text)
  local s = lower(M.written(text))
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
  text = M.written(text)
  local d = M.date(text)
  if not d then return nil end
  -- look for the time outside the date's own digits
  local rest = gsub(text, "%d%d%d%d%-%d%d?%-%d%d?", " ")
  rest = gsub(rest, "%d%d?[/%-]%d%d?[/%-]%d%d%d%d", " ")
  local h, mi = M.time(rest)
  if not h then return nil end
  return format("%sT%02d:%02d", d, h, mi)
end

local CODE_STOP = set_of([[a an and are as at be but by for from go got have here i id in is it its it's me my
  no not number of ok okay on or our ref so that the their there this to uh um was we will yes you
  your code call auth's yeah sure number's reference confirmation that's thats is's
  date birth born dob am pm]])
for w in pairs(MONTHS) do CODE_STOP[w] = true end       -- "march 15 1985" is a date, not a code
for w in pairs(ORDINALS) do CODE_STOP[w] = true end

-- code(text) -> a reference-number-like code: letters and digits, at least two digits, at least
-- 5 characters, possibly spelled with spaces or dashes ("AUTH 123456", "A-U-T-H-1-2-3",
-- "a u t h one two three four five six") | nil
function M.code(text)
  local toks, ends = {}, {}
  for raw in gmatch(M.written(text), "%S+") do
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
  -- classify: "d" digits/alnum with a digit, "U" uppercase letters, "l" lowercase letters
  local kinds, date_part = {}, {}
  for i, t in ipairs(toks) do
    local lt = lower(t)
    -- the day and year after a month are a date ("march 15 1985")
    if MONTHS[lt] then
      local j = i + 1
      if match(toks[j] or "", "^%d%d?%a*$") then date_part[j] = true; j = j + 1 end
      if match(toks[j] or "", "^%d%d%d%d$") then date_part[j] = true end
    end
    if date_part[i] then kinds[i] = nil
    elseif match(t, "^%w+$") and find(t, "%d") then kinds[i] = "d"
    elseif match(t, "^%u+$") and #t <= 6 and not (#t >= 2 and CODE_STOP[lt]) then kinds[i] = "U"
    elseif match(t, "^%a+$") and #t <= 5 and not CODE_STOP[lt] then kinds[i] = "l"
    else kinds[i] = nil end
  end
  local best, run, has_digit = nil, {}, false
  local function close()
    -- a lone short number before letters and digits is a word of the sentence, not the code's
    -- start ("the last digit is a seven, AUTH123457" without punctuation: "7 AUTH 123457")
    if #run >= 2 and match(run[1], "^%d%d?$")
       and (match(run[2], "^%u+%d") or (match(run[2], "^%u+$") and find(concat(run, "", 3), "%d"))) then
      table.remove(run, 1)
    end
    local s = concat(run)
    -- two digits at least: "a good one" is a pleasantry, not GOOD1
    local _, digits = gsub(s, "%d", "")
    if has_digit and digits >= 2 and #s >= 5 and (not best or #s > #best) then best = s end
    run, has_digit = {}, false
  end
  for i, t in ipairs(toks) do
    local k = kinds[i]
    -- lowercase letters count only right before digits or letters ("auth 123456")
    if k == "l" and not (kinds[i + 1] == "d" or kinds[i + 1] == "U" or kinds[i + 1] == "l") then
      k = nil
    end
    if k == "d" then run[#run + 1] = upper(t); has_digit = true
    elseif k == "U" or k == "l" then run[#run + 1] = upper(t)
    else close() end
    if ends[i] then close() end
  end
  close()
  return best
end

local NAME_INTROS = { "my name is", "name is", "this is", "it is", "it's", "i am", "i'm", "you've got",
                      "you have", "speaking with", "speaking to" }
-- words that end a name (in a transcript without punctuation the name runs into the next words)
local NAME_STOP = set_of([[and born my date birth the on i from calling speaking yes yeah no here is was of
  at in with dob d.o.b birthday how what who can may could would will please thank thanks so but
  um uh today again there hi hello ok okay sure a an for to that this it just your you]])

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
  local out, rest = {}, sub(text, best.b + 1)
  for raw in gmatch(rest, "%S+") do
    local word = gsub(gsub(raw, "^[^%a]+", ""), "[^%a'%-]+$", "")
    if word == "" or not match(word, "^%a[%a'%-]*$") or NAME_STOP[lower(word)] then break end
    out[#out + 1] = word
    if #out >= 4 or find(raw, "[,%.;:!%?]$") then break end
  end
  if #out == 0 then return nil end
  -- "it's June twenty-first": a date, not a name
  if MONTHS[lower(out[1])] and M.date(rest) then return nil end
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

-- extract(name, prop, text, whole, synonyms) -> value, "typed" | "text" | nil
-- text: the sentence that chose the function; whole: the whole utterance. Values come from the
-- sentence first, then from the whole utterance; lists of options and free text from the whole.
-- "typed": read by the parameter's type (an option, a yes/no word, a date, a number, a code,
-- a name after an introduction); "text": the words as said (free text, or a boolean read from
-- a word such as "right" or "not" that says yes or no only in passing).
local function extract(name, prop, text, whole, synonyms)
  local ty = prop.type
  if type(prop.enum) == "table" then
    local v = M.enum(words_of(text), prop.enum, synonyms)
    if v == nil and whole ~= text then v = M.enum(words_of(whole), prop.enum, synonyms) end
    return v, "typed"
  end
  if ty == "array" and type(prop.items) == "table" and type(prop.items.enum) == "table" then
    local list = M.enums(words_of(whole), prop.items.enum, synonyms)
    if #list > 0 then return list, "typed" end
    return nil
  end
  local function either(f)
    local v = f(text)
    if v == nil and whole ~= text then v = f(whole) end
    return v
  end
  if ty == "boolean" then
    local v = either(M.boolean)
    return v, (earliest(words_of(whole), EXPLICIT) and "typed" or "text")
  end
  if ty == "number" or ty == "integer" then
    local n = either(M.number)
    if n and ty == "integer" and n ~= floor(n) then return nil end
    return n, "typed"
  end
  if ty == "string" then
    if prop.format == "date-time" then return either(M.datetime), "typed" end
    if is_date_param(name, prop) then return either(M.date), "typed" end
    if is_code_param(name, prop) then return either(M.code), "typed" end
    if match(lower(name), "name$") then
      local n = either(M.person_name)
      if n then return n, "typed" end
    end
    local t = M.trim(whole)
    if t == "" then return nil end
    if #t > M.MAX_TEXT_ARG then t = sub(t, 1, M.MAX_TEXT_ARG) end
    return t, "text"
  end
  return nil
end

function M.trim(s)
  return (match(s or "", "^%s*(.-)%s*$"))
end

-- fill(fn, text[, whole]) -> arguments table, how | nil (nil when a required parameter cannot be
-- filled); how = { param = "typed" | "text" | "default" }
--   fn: a function description (name, parameters, values = { param = { Option = {synonyms} } })
function M.fill(fn, text, whole)
  whole = whole or text
  local ps = type(fn.parameters) == "table" and fn.parameters or {}
  local props = type(ps.properties) == "table" and ps.properties or {}
  local values = type(fn.values) == "table" and fn.values or {}
  local names = {}
  for k in pairs(props) do names[#names + 1] = k end
  sort(names)
  local args, how = {}, {}
  for _, name in ipairs(names) do
    local prop = props[name]
    if type(prop) == "table" then
      local v, kind = extract(name, prop, text or "", whole or "", values[name])
      if v == nil and prop.default ~= nil then v, kind = prop.default, "default" end
      args[name] = v
      how[name] = v ~= nil and kind or nil
    end
  end
  for _, r in ipairs(type(ps.required) == "table" and ps.required or {}) do
    if args[r] == nil then return nil end
  end
  return args, how
end

---------------------------------------------------------------------------------------------
-- sentences, and what kind of thing each one says

-- Words that open a new sentence in a transcript without punctuation ("this is jennifer how
-- can i help you"), unless the word before embeds them ("i do not know what the id is").
local OPENERS = set_of("what whats which how")
local AUX_OPENERS = { can = set_of("i you we"), could = set_of("i you we"), may = set_of("i"),
                      would = set_of("you"), ["do"] = set_of("you"), does = set_of("the he she it"),
                      will = set_of("you") }
local EMBEDDING = set_of([[know see check ask asking asked tell told is s was of about on in for
  me not wonder if whether sure remember say said find look looking and so ok okay]])
local JOINERS = set_of("and so okay ok")

local function opener_at(ws, k)
  local w, nx = ws[k], ws[k + 1]
  return OPENERS[w] or (AUX_OPENERS[w] and nx and AUX_OPENERS[w][nx])
end

-- split a piece without sentence punctuation before a question that starts inside it
local function split_speech(piece, out)
  local raws, first, last = {}, {}, {}
  for raw in gmatch(piece, "%S+") do
    raws[#raws + 1] = raw
    local n = M.normalize(raw)
    first[#raws], last[#raws] = match(n, "^(%S+)") or "", match(n, "(%S+)$") or ""
  end
  local from = 1
  for k = 3, #raws do
    -- a word opens by its first part ("what's" is "what s"), the word before embeds by its last
    if opener_at(first, k) and not EMBEDDING[last[k - 1]] then
      local cut = k
      if JOINERS[last[k - 1]] and k - 1 > from then cut = k - 1 end
      if cut - from >= 2 then
        out[#out + 1] = concat(raws, " ", from, cut - 1)
        from = cut
      end
    end
  end
  out[#out + 1] = concat(raws, " ", from)
end

-- sentences(text) -> list of sentences: split after . ! ? ; followed by a space, and before a
-- question that starts inside an unpunctuated stretch ("... this is jennifer how can i help")
function M.sentences(text)
  local out = {}
  local s = (text or "") .. " "
  local pos = 1
  while true do
    local a, b = find(s, "[%.!%?;]+%s+", pos)
    if not a then break end
    local piece = M.trim(sub(s, pos, a))
    if piece ~= "" then split_speech(piece, out) end
    pos = b + 1
  end
  local rest = M.trim(sub(s, pos))
  if rest ~= "" then split_speech(rest, out) end
  return out
end

-- words a sentence may open with before what it says ("okay, so what's the member ID")
local DISCOURSE = set_of("ok okay alright sure yes yeah yep so well great perfect thanks hi hello sorry now then also and oh right")
local QUESTION_START = set_of("what whats which where when who whose how can could may would will do does did is are should shall")
local REQUEST_PHRASES = {}
for _, p in ipairs({ "i need", "i will need", "i would need", "i d need", "we need", "we will need",
                     "going to need", "gonna need", "need the", "need your", "need his", "need her",
                     "need their", "can i get", "can i have", "could i get", "could i have", "may i have",
                     "may i get", "give me", "tell me", "read me", "go ahead with", "go ahead and",
                     "please provide", "please give", "please spell", "please confirm", "please verify",
                     "provide the", "verify the", "confirm the", "spell the", "spell that",
                     "looking for the", "let me have", "do you have", "i would like the",
                     "i d like the" }) do
  REQUEST_PHRASES[#REQUEST_PHRASES + 1] = phrase_words(p)
end
local STATEMENT_VERBS = set_of("is are was were s have has got see shows show says reads")

local function strip_discourse(ws)
  local i = 1
  while ws[i] and (DISCOURSE[ws[i]] or (ws[i] == "thank" and ws[i + 1] == "you")
                   or (ws[i] == "you" and ws[i - 1] == "thank") or (ws[i] == "all" and ws[i + 1] == "right")) do
    i = i + 1
  end
  local out = {}
  for k = i, #ws do out[#out + 1] = ws[k] end
  return out
end

-- kind(sentence) -> "request" (a question or a request: "what's the member ID?", "can I get the
-- date of birth", "I need the patient's name", "go ahead with the member id"), "fragment" (a
-- few words with no verb and no value: "and the NPI", "date of birth"), or "statement" ("the
-- member ID is ABC123456", "I have John Smith here").
M.FRAGMENT_WORDS = 6

function M.kind(sentence)
  local ws = strip_discourse(words_of(sentence))
  if #ws == 0 then return "statement" end
  if QUESTION_START[ws[1]] then return "request" end
  for _, p in ipairs(REQUEST_PHRASES) do
    if occurrences(ws, p)[1] then return "request" end
  end
  if (find(sentence, "%?%s*$") and #ws <= 6) or ws[#ws] == "please" then return "request" end
  -- a short noun phrase, no verb and no value: a question without its question mark, as a
  -- recognizer writes "and the date of birth?"
  if #ws <= M.FRAGMENT_WORDS then
    for _, w in ipairs(ws) do if STATEMENT_VERBS[w] then return "statement" end end
    if not find(M.written(sentence), "%d") then return "fragment" end
  end
  return "statement"
end

-- what opens a conversation: a company's line answering, a hello, a name
local GREETING_PHRASES = {}
for _, p in ipairs({ "thank you for calling", "thanks for calling", "you have reached", "you ve reached",
                     "how can i help", "how may i help", "how can i assist", "how may i assist",
                     "what can i do for you", "hello", "hi", "hey", "good morning", "good afternoon",
                     "good evening", "this is", "my name is", "speaking" }) do
  GREETING_PHRASES[#GREETING_PHRASES + 1] = phrase_words(p)
end
for _, p in ipairs(NEUTRAL_WORDS) do GREETING_PHRASES[#GREETING_PHRASES + 1] = p end

-- greeting(text) -> true when every sentence of the line only opens the conversation ("Thank you
-- for calling Aetna provider services, this is Jennifer. How can I help you?"): no value, and a
-- greeting phrase in each
function M.greeting(text)
  local sentences = M.sentences(text)
  if #sentences == 0 or find(M.written(text), "%d") then return false end
  for _, s in ipairs(sentences) do
    local ws, any = words_of(s), false
    for _, p in ipairs(GREETING_PHRASES) do
      if occurrences(ws, p)[1] then any = true; break end
    end
    if not any then return false end
  end
  return true
end

local WHEN_KINDS = { asked = { request = true, fragment = true }, stated = { statement = true, fragment = true } }

local function when_fits(fn, kind)
  local kinds = WHEN_KINDS[fn.rules_when]
  return kinds == nil or kinds[kind] == true
end

-- words that say nothing about the matter at hand, in a question about the conversation itself
local META = set_of([[mean meant question asking ask asked need needed want wanted know repeat again sorry
  pardon hear heard talking calling thing one get give got tell sure right okay ok]])

-- a question about the conversation itself ("what do you mean?", "do you need the reference
-- number?"): no word in it but question words, filler and the node's own words
local function about_the_conversation(sentence, node)
  local own = {}
  node = node or {}
  local said = { node.task or "", node.reprompt or "" }
  for _, l in ipairs(node.say or {}) do said[#said + 1] = l end
  for _, w in ipairs(words_of(concat(said, " "))) do own[w] = true end
  if find(M.written(sentence), "%d") then return false end     -- it says a value
  for _, w in ipairs(words_of(sentence)) do
    if #w >= 3 and not (STOPWORDS[w] or META[w] or QUESTION_START[w] or own[w]) then return false end
  end
  return true
end

---------------------------------------------------------------------------------------------
-- choosing functions

-- phrases(fn) -> the phrases a function (as the engine describes it) names, as written: its rules
-- but "*", then its enum parameters' options and their synonyms (M.SYNONYMS, rules.values); and
-- whether it has the wildcard rule "*". The rules engine matches them; the call's speech
-- recognizer is told to expect them (sova.call.expect).
function M.phrases(fn)
  local list, wildcard = {}, false
  local rules = type(fn.rules) == "table" and fn.rules or {}
  for _, r in ipairs(rules) do
    if r == "*" then wildcard = true
    elseif type(r) == "string" then list[#list + 1] = r end
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
          list[#list + 1] = ph
        end
      end
    end
  end
  return list, wildcard
end

-- the phrases a function answers to, as word lists: M.phrases, plus, for a function with no
-- rules and no option synonyms, the words of its name and description
local function phrases_of(fn)
  local named, wildcard = M.phrases(fn)
  local list = {}
  for i, p in ipairs(named) do list[i] = phrase_words(p) end
  if #(type(fn.rules) == "table" and fn.rules or {}) == 0 and type(fn.values) ~= "table" then
    local text = gsub(tostring(fn.name or ""), "[_%-]", " ") .. " " .. tostring(fn.description or "")
    for _, w in ipairs(words_of(text)) do
      if #w >= 4 and not STOPWORDS[w] then list[#list + 1] = { w } end
    end
  end
  return list, wildcard
end

-- phrases per function description (the engine passes the same tables turn after turn)
local compiled_cache = setmetatable({}, { __mode = "k" })

local function compiled(fn)
  local c = compiled_cache[fn]
  if not c then
    local list, wild = phrases_of(fn)
    local ignore = {}
    for _, p in ipairs(type(fn.rules_ignore) == "table" and fn.rules_ignore or {}) do
      if type(p) == "string" then ignore[#ignore + 1] = phrase_words(p) end
    end
    c = { list = list, wild = wild, ignore = ignore }
    compiled_cache[fn] = c
  end
  return c
end

-- score(fn, words) -> longest phrase length, phrases matched, wildcard
function M.score(fn, words)
  local c = compiled(fn)
  local spans = masks(words, c.ignore)
  local best, count = 0, 0
  for _, p in ipairs(c.list) do
    if #p > 0 and find_phrase(words, p, spans) then
      count = count + 1
      if #p > best then best = #p end
    end
  end
  return best, count, c.wild
end

local function analyse(text)
  local list = {}
  for _, s in ipairs(M.sentences(text)) do
    list[#list + 1] = { raw = s, words = words_of(s), kind = M.kind(s) }
  end
  return list
end

-- what a function hears of the line: all of it, or only its requests / statements (rules_when)
local function heard(fn, sentences, text)
  if not fn.rules_when then return text end
  local parts = {}
  for _, s in ipairs(sentences) do if when_fits(fn, s.kind) then parts[#parts + 1] = s.raw end end
  return concat(parts, " ")
end

-- the functions whose phrases a sentence matches and whose parameters fill, best first; and the
-- longest phrase of a function that matched but does not take this kind of sentence
local function candidates(s, functions, sentences, text)
  local list, refused = {}, 0
  for idx, fn in ipairs(functions) do
    local b, c = M.score(fn, s.words)
    if b > 0 then
      if not when_fits(fn, s.kind) then
        if b > refused then refused = b end
      else
        local args, how = M.fill(fn, s.raw, heard(fn, sentences, text))
        if args then list[#list + 1] = { b = b, c = c, idx = idx, fn = fn, args = args, how = how } end
      end
    end
  end
  sort(list, function(x, y)
    if x.b ~= y.b then return x.b > y.b end
    if x.c ~= y.c then return x.c > y.c end
    return x.idx < y.idx
  end)
  return list, refused
end

M.LONG_SENTENCE = 8   -- words: a single matched word in a sentence this long is only a hint

-- every required parameter (and at least one) read by its type, none of them free text
local function typed(fn, args, how)
  local ps = type(fn.parameters) == "table" and fn.parameters or {}
  for _, r in ipairs(type(ps.required) == "table" and ps.required or {}) do
    if how[r] ~= "typed" then return false end
  end
  for name in pairs(args) do if how[name] == "typed" then return true end end
  return false
end

-- the best is one word, tied with another function's one word, in a long sentence, and the line
-- gives neither of them a typed value (a code or a date said is evidence; "goodbye" alone is not)
local function weak_tie(list, s)
  local a, b = list[1], list[2]
  if not (#s.words >= M.LONG_SENTENCE and b ~= nil and a.b == 1 and b.b == 1 and a.c == b.c) then return false end
  local ta, tb = typed(a.fn, a.args, a.how), typed(b.fn, b.args, b.how)
  if ta ~= tb then
    if tb then list[1], list[2] = b, a end
    return false
  end
  return true
end

-- values of arguments, as lower-case strings (the items of lists too)
local function add_values(set, args)
  for _, v in pairs(args) do
    if type(v) == "table" then
      for _, x in ipairs(v) do set[lower(tostring(x))] = true end
    else
      set[lower(tostring(v))] = true
    end
  end
end

local function shares(set, args)
  local mine = {}
  add_values(mine, args)
  for v in pairs(mine) do if set[v] then return true end end
  return false
end

-- the last sentence that a function's phrases match and that it takes -> arguments, how | nil
local function filled_by_phrase(fn, sentences, text)
  for si = #sentences, 1, -1 do
    local s = sentences[si]
    if M.score(fn, s.words) > 0 and when_fits(fn, s.kind) then
      return M.fill(fn, s.raw, heard(fn, sentences, text)), s
    end
  end
  return nil
end

local function sorted_calls(chosen)
  sort(chosen, function(x, y) return x.idx < y.idx end)
  local calls = {}
  for _, c in ipairs(chosen) do calls[#calls + 1] = { name = c.fn.name, arguments = c.args } end
  return calls
end

local HYPOTHETICAL = set_of("if whether")

local function hypothetical(s)
  for _, w in ipairs(s.words) do if HYPOTHETICAL[w] then return true end end
  return false
end

-- the chosen call plus the other functions the line fills with typed values of their own
-- (not in a question nor after "if"/"whether", no value shared), in offered order
local function with_extras(best, functions, sentences, text)
  local chosen, values = { best }, {}
  add_values(values, best.args)
  for idx, fn in ipairs(functions) do
    if idx ~= best.idx then
      local args, how, s
      args, s = filled_by_phrase(fn, sentences, text)
      if args then
        how = select(2, M.fill(fn, s.raw, heard(fn, sentences, text)))
        if typed(fn, args, how) and (s.kind ~= "request" or fn.rules_when == "asked") and not hypothetical(s)
           and not shares(values, args) then
          add_values(values, args)
          chosen[#chosen + 1] = { idx = idx, fn = fn, args = args }
        end
      end
    end
  end
  return sorted_calls(chosen)
end

-- decide(text, functions, node) -> { calls = { { name=, arguments= } }, chosen = the call that
-- decided | nil, ack = true | nil, weak = true | nil }. The last sentence with a matching phrase decides; a statement whose
-- only matches are request-only functions (rules_when = "asked") is acknowledged (ack), unless
-- those matched one word only and a wildcard function fills from the line; wildcard ("*")
-- functions are the fallback when no sentence matches any phrase. weak: not confident. A closing
-- (rules_last: goodbye) that decides comes after the answer another function's phrase finds in
-- the same line ("Yes, I'll be there. Bye!": the confirmation, then the goodbye).
local function decide_on(text, functions, node, phrases_only)
  local sentences = analyse(text)
  local refused = 0
  for si = #sentences, 1, -1 do
    local list, r = candidates(sentences[si], functions, sentences, text)
    if r > refused then refused = r end
    if list[1] then
      if weak_tie(list, sentences[si]) then return { calls = {}, weak = true } end
      local best = list[1]
      return { calls = with_extras(best, functions, sentences, text),
               chosen = { name = best.fn.name, arguments = best.args } }
    end
  end
  if phrases_only then return { calls = {} } end
  if refused > 1 then return { calls = {}, ack = true } end
  local last = sentences[#sentences]
  for idx, fn in ipairs(functions) do
    if compiled(fn).wild and (not last or when_fits(fn, last.kind)) then
      local args = M.fill(fn, heard(fn, sentences, text))
      if args then
        if last and last.kind == "request" and about_the_conversation(last.raw, node) then
          return { calls = {}, weak = true }
        end
        local call = { name = fn.name, arguments = args }
        return { calls = { call }, chosen = call }
      end
    end
  end
  if refused > 0 then return { calls = {}, ack = true } end
  return { calls = {} }
end

function M.decide(text, functions, node)
  functions = functions or {}
  local d = decide_on(text, functions, node)
  local closing
  for _, fn in ipairs(functions) do
    if fn.rules_last and d.chosen and fn.name == d.chosen.name then closing = d.chosen end
  end
  if not closing then return d end
  -- a closing ("bye") decided: an answer the same line gives by a phrase comes first
  local others = {}
  for _, fn in ipairs(functions) do if not fn.rules_last then others[#others + 1] = fn end end
  local first = decide_on(text, others, node, true)
  if #first.calls == 0 then return d end
  first.calls[#first.calls + 1] = closing
  return first
end

-- choose(text, functions) -> the call that decides ({ name=, arguments= }) | nil
function M.choose(text, functions)
  return M.decide(text, functions).chosen
end

-- carry(text, functions, used) -> calls: the functions a line that already ran a function fills
-- with typed values (by a phrase of theirs, or as a wildcard), none of them a value in used
function M.carry(text, functions, used)
  local sentences = analyse(text)
  local values = {}
  for _, u in ipairs(type(used) == "table" and used or {}) do values[lower(tostring(u))] = true end
  local chosen = {}
  local last = sentences[#sentences]
  for idx, fn in ipairs(functions or {}) do
    local args, s = filled_by_phrase(fn, sentences, text)
    local how
    if args then
      how = select(2, M.fill(fn, s.raw, heard(fn, sentences, text)))
    elseif compiled(fn).wild and last and when_fits(fn, last.kind) then
      args, how = M.fill(fn, heard(fn, sentences, text))
    end
    if args and typed(fn, args, how) and not shares(values, args) then
      add_values(values, args)
      chosen[#chosen + 1] = { idx = idx, fn = fn, args = args }
    end
  end
  return sorted_calls(chosen)
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

local function say(text) return { text = text, tool_calls = {} } end

-- the node's reprompt ("" = silence), else the given line
local function reprompt(node, otherwise)
  if node.reprompt == "" then return { text = nil, tool_calls = {} } end
  return say(node.reprompt or otherwise)
end

local function tool_calls(req, calls)
  local n = #(req.messages or {}) + 1
  local out = {}
  for i, c in ipairs(calls) do
    local id = i == 1 and format("rules_%d", n) or format("rules_%d_%d", n, i)
    out[i] = { id = id, name = c.name, arguments = c.arguments }
  end
  return { text = nil, tool_calls = out }
end

function Rules:respond(req)
  local node = req.node or {}
  local reason = req.reason or "user"
  local functions = req.functions or req.tools or {}
  if reason == "enter" then
    if node.reprompt ~= nil then return reprompt(node) end
    return say(quoted(node.task))
  elseif reason == "tool" then
    -- a function was refused (bad arguments, unknown name): ask again; else acknowledge
    local msgs = req.messages or {}
    local last = msgs[#msgs]
    if last and last.role == "tool" and type(last.content) == "string" and find(last.content, "\"error\"", 1, true) then
      return reprompt(node, "Sorry, could you say that again?")
    end
    return say("Okay, thank you.")
  elseif reason == "carry" then
    return tool_calls(req, M.carry(req.last_user or "", functions, req.used))
  end
  local d = M.decide(req.last_user or "", functions, node)
  if #d.calls > 0 then return tool_calls(req, d.calls) end
  -- understood, nothing to act on: the engine does not count it as a reprompt
  if d.ack then return { text = "Thank you.", tool_calls = {}, acknowledged = true } end
  if d.weak then return reprompt(node, "Sorry, could you say that again?") end
  local lines = node.say or {}
  if M.greeting(req.last_user or "") then
    -- the other party opening the conversation: understood (not a reprompt); the node's question
    local r = node.reprompt ~= nil and reprompt(node) or say(lines[#lines] or "How are you today?")
    r.acknowledged = true
    return r
  end
  if node.reprompt ~= nil then return reprompt(node) end
  -- back from a hold, a greeting ("hello?") is no mishearing: the node's question, plainly
  if reason == "resume" then return say(lines[#lines] or "Could you say that again?") end
  return say("Sorry, I didn't catch that. " .. (lines[#lines] or "Could you say that again?"))
end

return M

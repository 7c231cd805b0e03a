-- sova.sandboxed.ivr: automated phone menus ("for providers, press 1"), read by rules so a flow
-- gets through an insurer's phone tree offline, the same way every time. Runs inside the call's
-- sandbox like the rest of sova.sandboxed.
--
--   local ivr = require("sova.sandboxed.ivr")
--   local menu = ivr.menu {
--     node = "phone_menu", hold = "menu_hold",      -- the names the flow gives the two nodes
--     person = "greeting",                          -- where a person answering goes (entered)
--     insurer = "insurance_company_name",           -- the field naming the insurer (for hints)
--     entries = { member_id = "insurance_member_id", date_of_birth = "date_of_birth",
--                 npi = "provider_npi", cpt_code = "cpt_code" },  -- what a menu may ask to key in
--     goals = { "prior_authorization", "providers", "representative" },  -- wanted, best first
--     fallback = "node",                            -- where a silent menu goes (else the close)
--     hold_seconds = 2700, hold_fallback = "node",  -- the hold's budget, and past it (else the close)
--   }
--   functions = kit.with(globals, { menu.detect })  -- a menu heard in any node: go to the menu node
--   nodes = { phone_menu = menu.node, menu_hold = menu.hold_node, answer = menu.answer_node, ... }
--   listen_first = { node = "answer" },            -- phone calls: the first words heard there
--
-- The answer node (flow.listen_first: the line was just answered, nothing said yet) tells who
-- picked up, silently: a menu or a request to key in goes to the menu node, where the same prompt
-- is read (keys pressed, no greeting over it); a hold message to the hold node; a person
-- (M.ANSWER_PHRASES: "this is Dana", "how can I help", "hello") to o.person, whose lines answer
-- them. Anything else waits for the next words, or for the engine's short silence (the greeting).
--
-- The menu node (ivr = true: the engine never says the model's text there) reads each prompt:
--   1. a request to key something in ("enter the member ID followed by pound"): the value, keyed
--      (a date of birth as MMDDYYYY, letters of an ID as their keypad keys, or left out when the
--      menu says "numbers only" or the hints say member_id: digits), then # or * when asked;
--   2. the options ("for providers press 1", "press 2 for prior authorization", "press one"):
--      the best goal offered, its key from the insurer's hints (call.data.insurer_menus, matched
--      on the insurer field) before the key heard, so a garbled digit or an odd wording still
--      leads the right way; with no option understood, a hint for a goal the prompt names;
--   3. else the model's own keys (online), else nothing: an extension prompt or a greeting waits.
-- Then it stays silent until the next prompt. The same menu heard again: the representative's
-- key (the menu's, the hints', else 0); a third time: it says "Representative"; a fourth: the
-- call ends incomplete. "Please hold" and the like go to the hold node (silent, hold_seconds);
-- a person ("thank you for holding, this is Jennifer") goes to o.person.
--
-- Pure functions for specs and flows: ivr.words(text), ivr.options(text), ivr.entry(text),
-- ivr.goal_of(text), ivr.keypad(text), ivr.hints_for(menus, insurer), ivr.choose(prompt, ctx),
-- ivr.signature(prompt).

local type, ipairs, pairs, tostring = type, ipairs, pairs, tostring
local lower, gsub, gmatch, find, match = string.lower, string.gsub, string.gmatch, string.find, string.match
local concat = table.concat

local M = {}

M.GOALS = { "prior_authorization", "providers", "representative" }
M.HOLD_SECONDS = 2700     -- insurers' provider lines hold for long
M.MAX_KEYS = 32
M.REPRESENTATIVE_KEY = "0"
M.SAY_REPRESENTATIVE = "Representative."
M.STUCK_REASON = "stuck in the phone menu: the same menu kept coming back"

---------------------------------------------------------------------------------------------
-- words

local SPOKEN = { zero = "0", one = "1", two = "2", three = "3", four = "4", five = "5", six = "6", seven = "7",
                 eight = "8", nine = "9", star = "*", asterisk = "*", pound = "#", hash = "#" }

-- words(text) -> lower-case words; "#" and "*" are words of their own; "party's" -> party, s
function M.words(text)
  local s = lower(tostring(text or ""))
  s = gsub(s, "\226\128\153", "'")
  s = gsub(s, "[#%*]", " %0 ")
  s = gsub(s, "[^%w#%*]", " ")
  local out = {}
  for w in gmatch(s, "%S+") do
    if w == "d" and out[#out] == "i" then out[#out] = "id" else out[#out + 1] = w end -- "member i d"
  end
  return out
end

-- a key as said: a digit or two ("1", "one"), star, pound
local function key_of(w)
  if w == nil then return nil end
  if SPOKEN[w] then return SPOKEN[w] end
  if w == "#" or w == "*" then return w end
  if find(w, "^%d%d?$") then return w end
  return nil
end

local VERBS = { press = true, dial = true, select = true, push = true, choose = true, touch = true, hit = true,
                enter = true }
-- words between a verb and its key: "press the number 1", "dial option 2"
local BETWEEN = { the = true, number = true, key = true, button = true, option = true, now = true }

-- " a b c " for phrase look-ups on word boundaries
local function spaced(words, i, j)
  local part = {}
  for k = i or 1, j or #words do part[#part + 1] = words[k] end
  return " " .. concat(part, " ") .. " "
end

local function has(text, phrases)
  for _, p in ipairs(phrases) do
    if find(text, " " .. p .. " ", 1, true) then return p end
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- options

-- the keys said in the prompt: { {key =, verb = index of the verb, at = index of the key} }; a
-- verb whose key was lost ("press... to hear these options") is kept, without a key, as the
-- end of the descriptions around it
local function keys_in(words)
  local out = {}
  local i = 1
  while i <= #words do
    if VERBS[words[i]] then
      local j = i + 1
      while BETWEEN[words[j]] do j = j + 1 end
      local k = key_of(words[j])
      out[#out + 1] = { key = k, verb = i, at = k and j or i }
      if k then i = j end
    end
    i = i + 1
  end
  return out
end

-- options(text) -> { {key = "1", text = "for providers"}, ... } in the order said. Whether a
-- description comes before its key ("for providers, press 1") or after it ("press 1 for
-- providers") is told by what follows the last key: "for ...", "to ..." or "if ..." means after.
function M.options(text)
  local words = M.words(text)
  local found = keys_in(words)
  local out = {}
  local last
  for _, f in ipairs(found) do if f.key then last = f end end
  if not last then return out end
  local after = words[last.at + 1]
  local forward = after == "for" or after == "to" or after == "if"
  for n, f in ipairs(found) do
    if f.key then
      local i, j
      if forward then
        i, j = f.at + 1, (found[n + 1] and found[n + 1].verb - 1) or #words
      else
        i, j = (found[n - 1] and found[n - 1].at + 1) or 1, f.verb - 1
      end
      local part = {}
      for k = i, j do part[#part + 1] = words[k] end
      out[#out + 1] = { key = f.key, text = concat(part, " ") }
    end
  end
  return out
end

-- what a description leads to, by the goals' words
M.GOAL_WORDS = {
  prior_authorization = { "prior authorization", "prior authorizations", "prior auth", "authorization", "authorizations",
    "preauthorization", "pre authorization", "precertification", "pre certification", "precert", "pre cert",
    "utilization management", "utilization review", "referrals" },
  providers = { "provider", "providers", "health care professional", "health care professionals",
    "healthcare professional", "healthcare professionals", "physician", "physicians", "doctor s office",
    "doctor", "hospital", "medical office" },
  representative = { "representative", "agent", "operator", "customer service", "speak to someone",
    "speak with someone", "speak to a person", "all other", "other questions", "associate" },
}

-- goal_of(text) -> the first goal of `goals` (default M.GOALS) whose words the text has, or nil
function M.goal_of(text, goals)
  local t = spaced(M.words(text))
  for _, g in ipairs(goals or M.GOALS) do
    if M.GOAL_WORDS[g] and has(t, M.GOAL_WORDS[g]) then return g end
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- keying a value in

local ENTRY_VERBS = { "enter", "key in", "type in", "input", "say or enter", "say or key in", "provide" }
M.ENTRY_WORDS = {
  member_id = { "member id", "member identification", "member number", "members id", "member s id",
    "subscriber id", "subscriber number", "identification number", "id number", "policy number" },
  date_of_birth = { "date of birth", "birth date", "birthdate" },
  npi = { "npi", "national provider identifier" },
  cpt_code = { "cpt", "procedure code" },
}
local ENTRY_ORDER = { "member_id", "date_of_birth", "npi", "cpt_code" }
-- numbers the flows do not key in, though their words look like one of the above ("tax ID number")
local OTHER_ENTRIES = { "tax id", "tax identification", "taxpayer", "ein", "social security", "ssn", "zip code",
  "claim number", "phone number", "pin" }
local DIGITS_ONLY = { "numbers only", "only the numbers", "numeric", "digits only", "only the digits",
  "without the letters", "leave out the letters", "skip the letters", "omit the letters", "without the prefix",
  "omit the prefix", "skip the prefix" }
-- what ends an entry: "followed by pound", "followed by the pound key", "then press pound"
local TERMINATORS = { { "followed by pound", "#" }, { "followed by the pound", "#" }, { "followed by hash", "#" },
  { "followed by the hash", "#" }, { "followed by #", "#" }, { "followed by the #", "#" }, { "then press pound", "#" },
  { "then press #", "#" }, { "then pound", "#" }, { "followed by star", "*" }, { "followed by the star", "*" },
  { "followed by *", "*" },
  -- the key's name lost on the line: menus that say "the ... key" end entries with pound
  { "followed by the key", "#" } }

-- entry(text) -> { what = "member_id" | "date_of_birth" | "npi" | "cpt_code" | false (something
-- else: a tax ID...), terminator = "#" | "*" | "", digits_only = bool } | nil (nothing to key in)
function M.entry(text)
  local t = spaced(M.words(text))
  if not has(t, ENTRY_VERBS) then return nil end
  local what = false
  if not has(t, OTHER_ENTRIES) then
    for _, name in ipairs(ENTRY_ORDER) do
      if has(t, M.ENTRY_WORDS[name]) then what = name; break end
    end
    -- "enter the members i ...": the ID's words cut short, still the member's number
    if not what and has(t, { "member", "members", "subscriber", "subscribers" }) then what = "member_id" end
  end
  if what == false and not (find(t, " followed by ", 1, true) or has(t, { "number", "id", "code" })) then
    return nil -- "enter" without anything to key in ("to enter a new request, press 2")
  end
  if what == false and #M.options(text) > 0 then return nil end -- a menu that says "enter"
  local terminator = ""
  for _, tm in ipairs(TERMINATORS) do
    if find(t, " " .. tm[1] .. " ", 1, true) then
      terminator = tm[2]
      break
    end
  end
  return { what = what, terminator = terminator, digits_only = has(t, DIGITS_ONLY) ~= nil }
end

local KEYPAD = { a = "2", b = "2", c = "2", d = "3", e = "3", f = "3", g = "4", h = "4", i = "4", j = "5", k = "5",
                 l = "5", m = "6", n = "6", o = "6", p = "7", q = "7", r = "7", s = "7", t = "8", u = "8", v = "8",
                 w = "9", x = "9", y = "9", z = "9" }

-- keypad(text) -> the digits of text, letters as the keys that carry them ("ABC123" -> "222123")
function M.keypad(text)
  return (gsub(gsub(lower(text), "[^%w]", ""), "%a", KEYPAD))
end

local function digits(text) return (gsub(text, "%D", "")) end

-- the keys for a value of the entry's kind; nil when it has none to give
local function entry_keys(e, value, member_mode)
  if type(value) ~= "string" or value == "" then return nil end
  local keys
  if e.what == "date_of_birth" then
    local y, m, d = match(value, "^(%d%d%d%d)%-(%d%d)%-(%d%d)")
    if not y then return nil end
    keys = m .. d .. y
  elseif e.what == "member_id" and not e.digits_only and member_mode ~= "digits" then
    keys = M.keypad(value)
  elseif e.what == "cpt_code" and not e.digits_only then
    keys = M.keypad(value)
  else
    keys = digits(value)
  end
  if keys == "" then return nil end
  keys = keys .. e.terminator
  if #keys > M.MAX_KEYS then return nil end
  return keys
end

---------------------------------------------------------------------------------------------
-- choosing

-- hints_for(menus, insurer) -> the hints for the insurer (insurer_menus.yaml's entry whose words
-- all appear in the insurer's name, the longest such name), or nil
function M.hints_for(menus, insurer)
  if type(menus) ~= "table" or type(menus.insurers) ~= "table" or type(insurer) ~= "string" then return nil end
  local name = spaced(M.words(insurer))
  local best, best_len
  for key, hints in pairs(menus.insurers) do
    local words = M.words(key)
    local all = #words > 0
    for _, w in ipairs(words) do
      if not find(name, " " .. w .. " ", 1, true) then all = false; break end
    end
    if all and type(hints) == "table" and (not best_len or #key > best_len or (#key == best_len and key < best)) then
      best, best_len = key, #key
    end
  end
  return best and menus.insurers[best] or nil
end

-- choose(prompt, ctx) -> keys, why | nil, why
--   ctx.goals (default M.GOALS), ctx.hints (hints_for), ctx.values = { member_id =, date_of_birth =,
--   npi =, cpt_code = } (the patient's values; absent ones cannot be keyed in)
function M.choose(prompt, ctx)
  ctx = ctx or {}
  local hints = type(ctx.hints) == "table" and ctx.hints or {}
  local goals = ctx.goals or M.GOALS
  local e = M.entry(prompt)
  if e then
    if not e.what then return nil, "asked to key in something the flow does not have" end
    local keys = entry_keys(e, (ctx.values or {})[e.what], hints.member_id)
    if keys then return keys, "keyed in the " .. e.what end
    return nil, "no " .. e.what .. " to key in"
  end
  local options = M.options(prompt)
  for _, g in ipairs(goals) do
    for _, o in ipairs(options) do
      if M.goal_of(o.text, { g }) then return hints[g] or o.key, "the option for " .. g end
    end
  end
  -- no option understood for a goal (a garbled key, an odd wording) in a prompt that asks for a
  -- key: the insurer's key for a goal it names
  local asks = false
  for _, w in ipairs(M.words(prompt)) do
    if VERBS[w] then asks = true; break end
  end
  for _, g in ipairs(asks and goals or {}) do
    if hints[g] and M.goal_of(prompt, { g }) then return hints[g], "the insurer's key for " .. g end
  end
  if #options == 0 then return nil, "no option to press" end
  return nil, "no option leads where the call needs to go"
end

-- signature(prompt) -> the same text for the same menu said again ("1:providers 2:member"),
-- nil for a prompt without options or entry (a greeting, an extension prompt: never repeated)
function M.signature(prompt)
  local e = M.entry(prompt)
  if e then return "enter:" .. tostring(e.what) end
  local parts = {}
  for _, o in ipairs(M.options(prompt)) do
    local label = M.goal_of(o.text)
    if not label then
      label = ""
      for w in gmatch(o.text, "%a+") do if #w > #label then label = w end end
    end
    parts[#parts + 1] = o.key .. ":" .. label
  end
  if #parts == 0 then return nil end
  return concat(parts, " ")
end

-- the representative's key: the menu's own option, the insurer's hint, else 0
local function representative_key(prompt, hints)
  for _, o in ipairs(M.options(prompt)) do
    if M.goal_of(o.text, { "representative" }) then return o.key end
  end
  return hints.representative or M.REPRESENTATIVE_KEY
end

---------------------------------------------------------------------------------------------
-- the flow's blocks

local function valid_keys(k)
  return type(k) == "string" and #k >= 1 and #k <= M.MAX_KEYS and find(k, "^[0-9%*#wW]+$") ~= nil
end

local PROMPT_PARAMETERS = {
  type = "object",
  properties = {
    prompt = { type = "string", description = "The automated system's words, exactly as heard." },
    keys = { type = "string", description = "Keys to press (0-9, * and #) if the menu offers an option for "
      .. "providers, prior authorization or a representative, or asks for a value you were given; leave it "
      .. "out when it does not." },
  },
  required = { "prompt" },
}

M.MENU_PHRASES = { "press 1", "press 2", "press 3", "press 4", "press 5", "press 6", "press 7", "press 8", "press 9",
  "press 0", "press one", "press two", "press three", "press four", "press five", "press six", "press seven",
  "press eight", "press nine", "press zero", "press star", "press pound", "or press", "please press", "followed by pound", "followed by the pound",
  "pound key", "pound sign", "please enter", "please say or enter", "main menu", "this menu", "following options",
  "menu options", "your party s extension", "extension", "para espanol", "for providers", "for members" }
M.HOLD_PHRASES = { "please hold", "continue to hold", "your call is important", "next available",
  "all of our representatives", "all representatives", "transferring your call", "transfer your call",
  "transfer you", "connect you", "connecting you", "wait time", "stay on the line", "remain on the line",
  "hold time", "in the order it was received", "in the order they were received", "one moment please" }
M.PERSON_PHRASES = { "thank you for holding", "thanks for holding", "thank you for waiting", "thanks for waiting",
  "my name is", "speaking", "how can i help", "how may i help", "how can i assist", "how may i assist",
  "who am i speaking with", "who do i have", "this is" }
-- who picked up the line: a person's first words (a recorded menu greets with "thank you for
-- calling", hardly ever with a hello)
M.ANSWER_PHRASES = { "hello" }
for _, p in ipairs(M.PERSON_PHRASES) do M.ANSWER_PHRASES[#M.ANSWER_PHRASES + 1] = p end

-- menu(o) -> { detect = function, node = node, hold_node = node, answer_node = node }: see the top
-- of this file
function M.menu(o)
  if type(o) ~= "table" or type(o.node) ~= "string" or type(o.hold) ~= "string" or type(o.person) ~= "string" then
    error("ivr.menu { node =, hold =, person = } expected", 2)
  end
  local goals = o.goals or M.GOALS
  local entries = o.entries or {}

  local function context(call)
    local values = {}
    for what, field in pairs(entries) do values[what] = call:get(field) end
    local insurer = o.insurer and call:get(o.insurer)
    return { goals = goals, values = values, hints = M.hints_for(call.data.insurer_menus, insurer) }
  end

  local function on_prompt(args, call)
    local st = call.state.ivr or { heard = {} }
    call.state.ivr = st
    local prompt = args.prompt
    local sig = M.signature(prompt)
    local ctx = context(call)
    local n = 1
    if sig then
      n = (st.heard[sig] or 0) + 1
      st.heard[sig] = n
    end
    local keys, why
    if n == 1 then
      keys, why = M.choose(prompt, ctx)
      if not keys and valid_keys(args.keys) then keys, why = args.keys, "the model's choice" end
    elseif n == 2 then
      keys, why = representative_key(prompt, ctx.hints or {}), "the menu came back: asking for a representative"
    elseif n == 3 then
      call:say(M.SAY_REPRESENTATIVE)
      return false, "the menu came back again: said representative"
    else
      call:note("The insurer's phone menu kept repeating; the call ended there.")
      return call:end_call("incomplete", M.STUCK_REASON)
    end
    if not keys then return false, why end
    call:press(keys)
    if call.node ~= o.node then return o.node, why end -- a menu while on hold: back to the menu node
    return false, why
  end

  local prompt_fn = {
    name = "menu_prompt",
    description = "The automated phone system speaks: a menu of options, a request to key in a number, an "
      .. "extension prompt or a recorded message. Give its words; press keys only for the options the task names.",
    parameters = PROMPT_PARAMETERS,
    rules = { "press", "enter", "pound", "extension", "menu", "option", "options", "*" },
    handler = on_prompt,
  }
  local person_fn = {
    name = "person_answered",
    description = "A person (a representative) speaks, not the automated system.",
    rules = M.PERSON_PHRASES,
    next = o.person,
  }
  local hold_fn = {
    name = "menu_hold",
    description = "The automated system puts the call on hold or says it is connecting to a representative.",
    rules = M.HOLD_PHRASES,
    next = o.hold,
  }
  local hold_person = {
    name = "person_answered",
    description = person_fn.description,
    -- on hold, recorded messages say "this is Aetna": only what a person says
    rules = { "thank you for holding", "thanks for holding", "thank you for waiting", "thanks for waiting",
              "my name is", "how can i help", "how may i help", "how can i assist", "how may i assist",
              "who am i speaking with", "who do i have", "speaking" },
    next = o.person,
  }

  local answer_person = {
    name = "person_answered",
    description = person_fn.description,
    rules = M.ANSWER_PHRASES,
    next = o.person,
  }
  local menu_heard = {
    name = "menu_heard",
    description = "An automated phone system answered: a menu of options to press, a request to key in a number, "
      .. "or an extension prompt.",
    parameters = { type = "object", properties = {} },
    rules = M.MENU_PHRASES,
    handler = function(args, call)
      call:resume(o.node) -- the prompt is read there
      return false
    end,
  }

  local task = "An automated phone system is speaking, not a person. Say nothing. Call menu_prompt with its "
    .. "words; a person speaking: person_answered; hold or connecting messages: menu_hold."
  return {
    detect = {
      name = "phone_menu",
      description = "An automated phone system (not a person) speaks: a menu of options to press, a request to "
        .. "key in a number, or an extension prompt.",
      parameters = { type = "object", properties = {} },
      rules = M.MENU_PHRASES,
      handler = function(args, call)
        call:resume(o.node) -- the prompt is read there, where the menu's functions are
        return false
      end,
    },
    node = {
      task = task,
      reprompt = "",
      ivr = true,
      respond_immediately = false,
      fallback = o.fallback,
      functions = { prompt_fn, hold_fn, person_fn },
    },
    hold_node = {
      task = "On hold with the insurer's phone system. Say nothing until a person speaks.",
      reprompt = "",
      ivr = true,
      respond_immediately = false,
      hold_seconds = o.hold_seconds or M.HOLD_SECONDS,
      fallback = o.hold_fallback,
      functions = { hold_person, prompt_fn },
    },
    answer_node = {
      task = "The call was just answered and no one has spoken to you yet. Say nothing. An automated phone "
        .. "system answered (a menu, a request to key something in): menu_heard; a hold or connecting message: "
        .. "menu_hold; a person speaking: person_answered.",
      reprompt = "",
      ivr = true,
      respond_immediately = false,
      functions = { menu_heard, hold_fn, answer_person },
    },
  }
end

return M

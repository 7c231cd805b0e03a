-- sova.call.expect: what a call's speech recognizer is told the other party may say in the
-- current node (trusted side). Hints, not a grammar: the recognizer still hears anything
-- (pocketsphinx: its language model, with a keyword-spotting pass that puts a spotted phrase in
-- place of the model's words; Deepgram: keyterms). Digits and dates need none: the language
-- model hears them. The phrases may hold the patient's values (a name): PHI, never logged.
--
--   local list = expect.phrases { expect = node.expect, functions = node.functions,
--                                 vocabulary = flow.vocabulary, render = fn }
--   -- call:expected_phrases() (sova.call.engine) gives them for the call's current node
local type, ipairs, setmetatable = type, ipairs, setmetatable
local find, gsub = string.find, string.gsub

local flowlib = require("sova.sandboxed.flow")
local rules = require("sova.llm.rules")

local M = {}

-- The words of a node's phrases in all: hints stay short (Deepgram takes 500 tokens of keyterms
-- a stream, a word being a token or two; its client keeps the first 50 phrases)
M.MAX_WORDS = 250

-- A rule is written as the rules engine normalizes words ("it's me" -> "it s me"): its "s" goes
-- back onto the word before it, as a recognizer spells it ("it's me")
local function spoken_rule(text)
  return (gsub(text, "(%w) +[sS]%f[^%w']", "%1's"))
end

-- The normalized phrases of a function description or of a list of expect / vocabulary
-- entries ({p =, n =}, or {template =} for an entry to render per call), per table: the engine
-- passes the same tables node after node, and this is most of the work.
local cache = setmetatable({}, { __mode = "k" })

local function entry(text)
  local p, n = flowlib.phrase(text)
  return { p = p, n = n }
end

-- a flow's own text -> its entry: the same phrases come in every call of a flow. Never a
-- rendered template: no patient's value is kept. At most MEMO texts, then the memo starts again.
local MEMO = 4096
local memo, memo_n = {}, 0

local function text_entry(text)
  local e = memo[text]
  if not e then
    e = entry(text)
    if memo_n == MEMO then memo, memo_n = {}, 0 end
    memo[text], memo_n = e, memo_n + 1
  end
  return e
end

local function of_function(fn)
  local list = cache[fn]
  if not list then
    list = {}
    for i, text in ipairs((rules.phrases(fn))) do list[i] = text_entry(spoken_rule(text)) end
    cache[fn] = list
  end
  return list
end

local function of_list(texts)
  local list = cache[texts]
  if not list then
    list = {}
    for _, text in ipairs(texts) do
      if type(text) == "string" then
        list[#list + 1] = find(text, "{{", 1, true) and { template = text } or text_entry(text)
      end
    end
    cache[texts] = list
  end
  return list
end

-- phrases{expect =, functions =, vocabulary =, render =} -> list of phrases, in this order (most
-- particular first, as the bounds cut the tail): the node's expect, the phrases of its own
-- functions (rules.phrases: their rules but "*", their options and synonyms), the flow's
-- vocabulary. Not the global behaviours' ("pardon", "not available"): common words the recognizer
-- hears anyway, and through audio a spotted "pardon" took the place of the "born" said before a
-- date of birth, failing the identity check (the browser e2e). Templates (of expect and
-- vocabulary) are rendered by render(text); each phrase is normalized (flow.phrase), kept once,
-- and only with 1 to flow.MAX_PHRASE_WORDS words; at most flow.MAX_PHRASES phrases and
-- M.MAX_WORDS words in all.
function M.phrases(o)
  local out, seen, count, words = {}, {}, 0, 0
  -- adds the entries of list (nil: none); false once the list is full
  local function add(list)
    for _, e in ipairs(list or {}) do
      if count == flowlib.MAX_PHRASES then return false end
      if e.template then e = entry(o.render(e.template)) end
      local p, n = e.p, e.n
      if n > 0 and n <= flowlib.MAX_PHRASE_WORDS and #p <= flowlib.MAX_PHRASE_BYTES and not seen[p]
         and words + n <= M.MAX_WORDS then
        seen[p], count, words = true, count + 1, words + n
        out[count] = p
      end
    end
    return true
  end
  local function functions(fns)
    for _, fn in ipairs(type(fns) == "table" and fns or {}) do
      if type(fn) == "table" and not add(of_function(fn)) then return end
    end
  end
  add(type(o.expect) == "table" and of_list(o.expect) or nil)
  functions(o.functions)
  add(type(o.vocabulary) == "table" and of_list(o.vocabulary) or nil)
  return out
end

return M

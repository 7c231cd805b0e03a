-- What a call's speech recognizer is told to expect (sova.call.expect, call:expected_phrases()):
-- a node's expect and a flow's vocabulary (templates of the flow's fields), checked by flow.check;
-- the phrases the rules engine matches there (rules.phrases); normalized, once each, bounded.
local flow = require("sova.sandboxed.flow")
local rules = require("sova.llm.rules")
local expect = require("sova.call.expect")
local engine = require("sova.call.engine")
local checker = require("sova.tools.flow_check")
local sandbox_host = require("sova.call.sandbox_host")

local FIELDS = require("fixtures.flows.fields")
local FIX = "spec/fixtures/flows/"

local function line_with(path, text)
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if line:find(text, 1, true) and not line:match("^%s*%-%-") then return n end
  end
end

local function index_of(list, x)
  for i, v in ipairs(list) do if v == x then return i end end
end

local function words(list)
  local n = 0
  for _, p in ipairs(list) do for _ in p:gmatch("%S+") do n = n + 1 end end
  return n
end

describe("expected phrases for the speech recognizer #flows", function()
  describe("flow.phrase", function()
    it("lower-cases, keeps an apostrophe inside a word, drops other punctuation and extra spaces", function()
      assert.are.same({ "o'brien's right", 2 }, { flow.phrase("  O\226\128\153Brien's,   RIGHT?! ") })
      assert.are.same({ "prior authorization", 2 }, { flow.phrase("Prior-Authorization.") })
      assert.are.same({ "yes no", 2 }, { flow.phrase("yes\226\128\148no") }) -- an em dash
      assert.are.same({ "quoted", 1 }, { flow.phrase("'quoted'") })
      assert.are.same({ "", 0 }, { flow.phrase(" ?! -- ") })
    end)
  end)

  describe("rules.phrases", function()
    it("gives a function's rules but the wildcard, then its options with their synonyms", function()
      local fn = { rules = { "it s done", "*" }, values = { status = { Done = { "all finished" } } },
                   parameters = { properties = { status = { type = "string", enum = { "Approved", "Done" } } } } }
      local list, wildcard = rules.phrases(fn)
      assert.is_true(wildcard)
      assert.are.equal("it s done", list[1])
      assert.are.equal("approved", list[2])
      assert.truthy(index_of(list, "authorized"), "a synonym the rules engine knows")
      assert.are.same({ "done", "all finished" }, { list[#list - 1], list[#list] })
      assert.is_nil(index_of(list, "*"))
    end)

    it("names nothing of a function's description: that is the rules engine's own fallback", function()
      local list, wildcard = rules.phrases({ name = "confirm_identity", description = "The patient confirms." })
      assert.are.same({}, list)
      assert.is_false(wildcard)
    end)
  end)

  describe("expect.phrases", function()
    local function render(values)
      return function(text) return (flow.render(text, values)) end
    end

    it("takes the node's expect, its functions, then the vocabulary, each once", function()
      local list = expect.phrases {
        expect = { "{{patient_name}}", "Speaking." },
        functions = { { rules = { "speaking", "it s me" } } },
        vocabulary = { "Member ID", "{{patient_name}}" },
        render = render({ patient_name = "Ann Lee" }),
      }
      assert.are.same({ "ann lee", "speaking", "it's me", "member id" }, list)
    end)

    it("drops a template that renders empty and a phrase of more than six words", function()
      local list = expect.phrases {
        expect = { "{{patient_name}}", "one two three four five six", "one two three four five six seven" },
        vocabulary = { "{{patient_name}} of the clinic of the city of light" },
        render = render({ patient_name = "" }),
      }
      assert.are.same({ "one two three four five six" }, list)
    end)

    it("keeps at most 100 phrases and 250 words, the most particular first", function()
      local many = {}
      for i = 1, 150 do many[i] = "w" .. i end
      local list = expect.phrases { expect = { "first" }, vocabulary = many, render = render({}) }
      assert.are.equal(flow.MAX_PHRASES, #list)
      assert.are.same({ "first", "w1" }, { list[1], list[2] })
      local long = {}
      for i = 1, 80 do long[i] = ("a%d b%d c%d d%d e%d"):format(i, i, i, i, i) end
      list = expect.phrases { vocabulary = long, render = render({}) }
      assert.are.equal(50, #list)
      assert.are.equal(expect.MAX_WORDS, words(list))
    end)
  end)

  describe("call:expected_phrases()", function()
    local host
    before_each(function() host = assert(sandbox_host.new(FIX .. "expect")) end)
    after_each(function() host:close() end)

    local function call_of()
      return engine.new { host = host, llm = rules.new(), fields = FIELDS,
                          patient = { patient_name = "Siobhan O'Dowd", secret_notes = "Never heard" } }
    end

    it("are the current node's, rendered with the patient's values, and follow the call", function()
      local call = call_of()
      assert.are.same({}, call:expected_phrases()) -- no node yet
      call:start()
      local ask = call:expected_phrases()
      assert.are.same({ "siobhan o'dowd", "o'brien's office", "speaking", "it's done", "open", "done", "all finished",
                        "prior authorization", "member id" }, { unpack(ask, 1, 9) })
      assert.is_nil(index_of(ask, "so long"), "a global behaviour's rule")
      assert.is_nil(index_of(ask, "goodbye"), "a global behaviour's phrases")
      call:user_says("It's done.")
      assert.are.equal("note", call.node)
      local note = call:expected_phrases()
      assert.are.same({ "prior authorization", "siobhan o'dowd", "member id" }, { unpack(note, 1, 3) })
      assert.is_nil(index_of(note, "goodbye"))
      assert.is_nil(index_of(note, "speaking"))
      for _, p in ipairs(note) do assert.is_nil(p:find("never heard", 1, true)) end -- undeclared fields stay out
    end)

    it("in a node without functions are its expect and the vocabulary only", function()
      local call = call_of()
      call:start()
      call:user_says("It's done.")
      call:user_says("Nothing else.")
      assert.are.equal("done", call.node)
      assert.are.same({ "prior authorization", "siobhan o'dowd", "member id" }, call:expected_phrases())
    end)
  end)

  describe("flow.check", function()
    it("finds nothing wrong in expect and vocabulary lists of phrases and declared fields", function()
      assert.are.same({}, checker.check_dir(FIX .. "expect", FIELDS))
    end)

    it("reports each mistake in them at its line", function()
      local problems = checker.check_dir(FIX .. "bad_expect", FIELDS)
      local f = FIX .. "bad_expect/flow_definition.lua"
      local function at(needle, text)
        for _, p in ipairs(problems) do
          if p.message:find(needle, 1, true) then
            assert.are.equal(line_with(f, text), p.line, needle)
            return
          end
        end
        error("no problem mentions " .. needle .. ":\n" .. checker.format(problems))
      end
      at("vocabulary must be a list of phrases (strings)", "vocabulary =")
      at('nodes.ask.expect[1]: template {{secret_notes}} uses "secret_notes", which the flow does not declare', "{{secret_notes}}")
      at('nodes.ask.expect[2]: template {{nickname}} names "nickname", which is not a field', "{{nickname}}")
      at("nodes.ask.expect[3] has 7 words; a phrase has at most 6", "seven")
      at("nodes.ask.expect[4] has no word", '"?!"')
      at("nodes.ask.expect[5] must be a phrase (a string)", "ask =")
      at("nodes.ask.expect[6]: ", "{{patient_name\",")
      at("nodes.bye.expect must be a list of phrases (strings)", "bye =")
      assert.are.equal(8, #problems, checker.format(problems))
    end)

    it("bounds the lists and their phrases", function()
      local function messages(node_expect, vocabulary)
        local def = { name = "x", reads = { "patient_name" }, initial = "a", behaviours = false, vocabulary = vocabulary,
                      nodes = { a = { expect = node_expect, say = { "Hi." },
                                      post_actions = { { type = "end_call", status = "completed" } } } } }
        local out = {}
        for _, p in ipairs(flow.check(def, FIELDS)) do out[#out + 1] = p.message end
        return table.concat(out, "\n")
      end
      local many = {}
      for i = 1, flow.MAX_PHRASES + 1 do many[i] = "w" .. i end
      assert.matches("vocabulary has 101 phrases; at most 100", messages(nil, many), 1, true)
      assert.matches("nodes.a.expect[1] is longer than 200 bytes", messages({ ("x"):rep(201) }), 1, true)
      assert.matches("nodes.a.expect must be a list of phrases", messages({ a = "b" }), 1, true)
      assert.are.equal("", messages({ "{{patient_name}}", "Yes, it's me." }, { "{{patient_name|upper}}" }))
    end)

    it("describe carries them as plain data", function()
      local h = assert(sandbox_host.new(FIX .. "expect"))
      local d = assert(h:describe())
      h:close()
      assert.are.same({ "{{patient_name}}", "O'Brien's office", "speaking" }, d.nodes.ask.expect)
      assert.are.same({ "Prior Authorization!", "{{patient_name}}", "member ID" }, d.vocabulary)
      assert.is_nil(d.nodes.note.expect)
    end)
  end)
end)

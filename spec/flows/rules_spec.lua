-- Unit specs of the offline rules engine (lua/sova/llm/rules.lua): filling function parameters
-- from the other party's words (written, and as a speech recognizer writes them), telling
-- requests from statements, choosing the functions, carrying a line into the next node, and what
-- it says. The prior-auth and check-in cases use the real flows' descriptions, as the engine
-- passes them. Deterministic.
local rules = require("sova.llm.rules")
local flow = require("sova.sandboxed.flow")
local S = require("flows.support")

local STATUS = { "Approved", "Denied", "Pending" }

describe("rules engine #flows", function()
  ---------------------------------------------------------------------------------------
  describe("enum options and synonyms", function()
    it("knows the options' words and synonyms", function()
      assert.are.equal("Approved", rules.enum("approved", STATUS))
      assert.are.equal("Approved", rules.enum("It's been authorized.", STATUS))
      assert.are.equal("Approved", rules.enum("yes it's approved", STATUS))
      assert.are.equal("Denied", rules.enum("Unfortunately it was denied.", STATUS))
      assert.are.equal("Denied", rules.enum("It's not approved.", STATUS))
      assert.are.equal("Denied", rules.enum("It isn't authorized", STATUS))
      assert.are.equal("Pending", rules.enum("still under review", STATUS))
      assert.is_nil(rules.enum("I have no idea", STATUS))
    end)

    it("ignores an option right after not", function()
      assert.are.equal("Approved", rules.enum("It's not pending anymore, it was approved.", STATUS))
    end)

    it("matches options case-insensitively and with underscores as spaces", function()
      assert.are.equal("date_of_birth", rules.enum("what's the DATE OF BIRTH", { "member_id", "date_of_birth" }))
      assert.are.equal("Reschedule Requested",
        rules.enum("I'd like to reschedule", { "Confirmed", "Reschedule Requested", "Cancelled" }))
    end)

    it("uses the flow's own synonyms", function()
      assert.are.equal("Other", rules.enum("I speak French", { "English", "Other" }, { Other = { "french" } }))
      assert.is_nil(rules.enum("I speak French", { "English", "Other" }))
    end)

    it("prefers the longest phrase, then the earliest", function()
      assert.are.equal("Denied", rules.enum("not approved", STATUS))
      assert.are.equal("Pending", rules.enum("pending, or maybe approved", STATUS))
    end)

    it("collects every option said, in order, for lists", function()
      local opts = { "member_id", "date_of_birth", "patient_name" }
      local syn = { member_id = { "member id" }, date_of_birth = { "dob" }, patient_name = { "name" } }
      assert.are.same({ "member_id", "date_of_birth" }, rules.enums("member ID and DOB please", opts, syn))
      assert.are.same({ "date_of_birth", "member_id" }, rules.enums("DOB, then the member ID, then the DOB again", opts, syn))
      assert.are.same({}, rules.enums("nothing", opts, syn))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("booleans", function()
    it("reads yes-words as true", function()
      for _, s in ipairs({ "yes", "Yeah.", "yep", "Correct", "That's right", "sure thing", "Absolutely" }) do
        assert.is_true(rules.boolean(s), s)
      end
    end)

    it("reads no-words as false", function()
      for _, s in ipairs({ "no", "Nope.", "nah", "That's not right", "incorrect", "It doesn't" }) do
        assert.is_false(rules.boolean(s), s)
      end
    end)

    it("lets the earlier word decide, and says nothing when there is none", function()
      assert.is_false(rules.boolean("No, that's correct"))
      assert.is_true(rules.boolean("Yes, no problem"))
      assert.is_nil(rules.boolean("maybe"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("dates", function()
    it("reads spoken and written dates as YYYY-MM-DD", function()
      local cases = {
        ["March 15 1985"] = "1985-03-15",
        ["march 15th, 1985"] = "1985-03-15",
        ["It's Mar. 15, 1985."] = "1985-03-15",
        ["15 March 1985"] = "1985-03-15",
        ["the 15th of March, 1985"] = "1985-03-15",
        ["June twenty first 1990"] = "1990-06-21",
        ["the twenty first of June 1990"] = "1990-06-21",
        ["03/15/1985"] = "1985-03-15",
        ["born 3/5/1985"] = "1985-03-05",
        ["1985-03-15"] = "1985-03-15",
        ["February 29th 2024"] = "2024-02-29",
      }
      for input, want in pairs(cases) do assert.are.equal(want, rules.date(input), input) end
    end)

    it("refuses dates that do not exist and words without a date", function()
      assert.is_nil(rules.date("February 30 1985"))
      assert.is_nil(rules.date("13/01/1985"))
      assert.is_nil(rules.date("I may be late"))
      assert.is_nil(rules.date("March 15"))
    end)

    it("reads a date and a time together", function()
      assert.are.equal("2026-03-20T14:30", rules.datetime("March 20 2026 at 2:30 PM"))
      assert.are.equal("2026-03-20T09:00", rules.datetime("03/20/2026 9 am"))
      assert.are.equal("2026-03-20T16:05", rules.datetime("2026-03-20 16:05"))
      assert.is_nil(rules.datetime("March 20 2026"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("numbers", function()
    it("reads digits and number words", function()
      assert.are.equal(7, rules.number("7"))
      assert.are.equal(7, rules.number("seven"))
      assert.are.equal(3, rules.number("I'd say about a three."))
      assert.are.equal(25, rules.number("twenty five"))
      assert.are.equal(25, rules.number("twenty-five"))
      assert.are.equal(7, rules.number("7 out of 10"))
      assert.are.equal(8, rules.number("an 8/10"))
      assert.are.equal(7.5, rules.number("7.5"))
      assert.are.equal(0, rules.number("zero"))
      assert.is_nil(rules.number("none at all"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("reference-number-like codes", function()
    it("joins letters and digits said with spaces or dashes", function()
      assert.are.equal("AUTH123456", rules.code("the reference is AUTH 123456"))
      assert.are.equal("AUTH123456", rules.code("A-U-T-H-1-2-3-4-5-6"))
      assert.are.equal("AUTH123456", rules.code("reference number auth 123456."))
      assert.are.equal("123456", rules.code("it's 1 2 3 4 5 6"))
      assert.are.equal("12345", rules.code("one two three four five"))
      assert.are.equal("PA20240099", rules.code("Reference number PA 2024 0099, thanks."))
      assert.are.equal("ABC123456", rules.code("Member ID ABC123456"))
      assert.are.equal("DN778122", rules.code("The reference is DN-7781-22."))
    end)

    it("refuses codes that are too short or have no digit", function()
      assert.is_nil(rules.code("it's 1234"))
      assert.is_nil(rules.code("ABCDEF"))
      assert.is_nil(rules.code("no code here"))
      assert.is_nil(rules.code("I have one question"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("names", function()
    it("takes the name after an introduction", function()
      assert.are.equal("Jane Doe", rules.person_name("Yes, this is Jane Doe, born March 15 1985"))
      assert.are.equal("maria garcia", rules.person_name("my name is maria garcia and I was born in 1972"))
      assert.are.equal("Mark", rules.person_name("Hi, this is Mark, the supervisor."))
      assert.is_nil(rules.person_name("Speaking."))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("fill", function()
    local fn = {
      name = "report",
      parameters = { type = "object", properties = {
        status = { type = "string", enum = STATUS },
        reference_number = { type = "string" },
        dob = { type = "string", format = "date" },
        pain = { type = "integer" },
        ok = { type = "boolean", default = true },
        notes = { type = "string" },
      }, required = { "status" } },
    }

    it("fills each parameter by its schema", function()
      local args = rules.fill(fn, "Yes it's approved, reference AUTH 123456, DOB 03/15/1985.")
      assert.are.same({
        status = "Approved", reference_number = "AUTH123456", dob = "1985-03-15", pain = 123456, ok = true,
        notes = "Yes it's approved, reference AUTH 123456, DOB 03/15/1985.",
      }, args)  -- numbers: the first one said
      assert.are.equal(7, rules.fill(fn, "Pending. Pain is about a seven.").pain)
    end)

    it("uses a parameter's default when the words do not say", function()
      assert.is_true(rules.fill(fn, "approved").ok)
      assert.is_false(rules.fill(fn, "no, not approved").ok)
    end)

    it("gives nothing when a required parameter cannot be filled", function()
      assert.is_nil(rules.fill(fn, "I don't know"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("choosing a function", function()
    local fns = {
      { name = "report_status", rules = { values = {} },
        parameters = { type = "object", properties = { status = { type = "string", enum = STATUS } }, required = { "status" } },
        values = {} },
      { name = "please_hold", rules = { "please hold", "let me check", "one moment" } },
      { name = "record_reference", rules = { "*" },
        parameters = { type = "object", properties = { reference_number = { type = "string" } }, required = { "reference_number" } } },
      { name = "transfer_to_billing", description = "Caller wants billing department" },
    }

    it("picks the function whose phrases match, filling its parameters", function()
      assert.are.same({ name = "report_status", arguments = { status = "Denied" } }, rules.choose("It was denied.", fns))
      assert.are.same({ name = "please_hold", arguments = {} }, rules.choose("Please hold.", fns))
    end)

    it("lets the last sentence with a match decide", function()
      assert.are.equal("report_status", rules.choose("Let me check. Yes, it's approved.", fns).name)
      assert.are.equal("please_hold", rules.choose("It's approved. Let me check the reference, one moment.", fns).name)
      assert.are.equal("report_status", rules.choose("It's approved. Is there anything else?", fns).name)
    end)

    it("uses name and description words for functions without rules", function()
      assert.are.equal("transfer_to_billing", rules.choose("I need the billing department", fns).name)
    end)

    it("falls back to a wildcard function only when nothing else matches and its parameters fill", function()
      assert.are.same({ name = "record_reference", arguments = { reference_number = "XY12345" } },
        rules.choose("XY 12345", fns))
      assert.is_nil(rules.choose("hmm, okay", fns))
    end)

    it("passes over a function whose required parameters cannot be filled", function()
      local two = {
        { name = "needs_date", rules = { "born" },
          parameters = { type = "object", properties = { date = { type = "string", format = "date" } }, required = { "date" } } },
        { name = "anything", rules = { "born" } },
      }
      assert.are.equal("anything", rules.choose("I was born a while ago", two).name)
      assert.are.equal("needs_date", rules.choose("I was born on May 2 1970", two).name)
    end)

    it("does not count a phrase right after not", function()
      local two = { { name = "confirm", rules = { "coming" } }, { name = "cancel", rules = { "cancel" } } }
      assert.is_nil(rules.choose("I'm not coming", { two[1] }))
      assert.are.equal("confirm", rules.choose("I'm coming", two).name)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("respond", function()
    local llm = rules.new()
    local node = { name = "n", task = 'Ask: "What is the status?"', say = { "Hello there." } }
    local function req(reason, user, extra)
      local r = { reason = reason, last_user = user, node = node,
                  messages = { { role = "system", content = "x" }, { role = "user", content = user } },
                  functions = { { name = "please_hold", rules = { "please hold" } } } }
      for k, v in pairs(extra or {}) do r[k] = v end
      return r
    end

    it("answers a match with one tool call, and is deterministic", function()
      local a = llm:respond(req("user", "Please hold"))
      local b = rules.new():respond(req("user", "Please hold"))
      assert.are.same(a, b)
      assert.are.same({ { id = "rules_3", name = "please_hold", arguments = {} } }, a.tool_calls)
      assert.is_nil(a.text)
    end)

    it("says sorry and the node's last line when nothing matches, or its reprompt", function()
      assert.are.equal("Sorry, I didn't catch that. Hello there.", llm:respond(req("user", "blah")).text)
      node.reprompt = "Could you repeat that?"
      assert.are.equal("Could you repeat that?", llm:respond(req("user", "blah")).text)
      node.reprompt = ""
      assert.is_nil(llm:respond(req("user", "blah")).text)
      node.reprompt = nil
    end)

    it("on entering a node says the reprompt or the quoted sentence of the task", function()
      assert.are.equal("What is the status?", llm:respond(req("enter")).text)
    end)

    it("after a tool result acknowledges, and after a refused call asks again", function()
      assert.are.equal("Okay, thank you.", llm:respond(req("tool")).text)
      local r = req("tool", nil, { messages = { { role = "tool", content = '{"error":"invalid arguments"}' } } })
      node.reprompt = "Which number?"
      assert.are.equal("Which number?", llm:respond(r).text)
      node.reprompt = nil
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("spoken forms (speech-recognition transcripts)", function()
    it("writes spoken numbers, codes and times as digits and letters", function()
      local cases = {
        ["a u t h one two three four five six"] = "A U T H 123456",
        ["a as in apple b as in boy c one two three"] = "A B C 123",
        ["double five"] = "55",
        ["triple zero one"] = "0001",
        ["one oh five"] = "105",
        ["twenty three"] = "23",
        ["twenty-three"] = "23",
        ["one hundred and five"] = "105",
        ["a hundred"] = "100",
        ["nineteen eighty five"] = "1985",
        ["nineteen oh five"] = "1905",
        ["two thousand one"] = "2001",
        ["two thousand and twenty four"] = "2024",
        ["twenty twenty four"] = "2024",
        ["two thirty pm"] = "2:30 pm",
        ["ten oh five a m"] = "10:05 am",
        ["two thirty in the afternoon"] = "2:30 pm",
        ["march fifteen nineteen eighty five"] = "march 15 1985",
        ["d n dash seven seven eight one dash two two"] = "D N 7781 22",
        ["member i d a b c one two three"] = "member ID A B C 123",
        ["um the reference is uh a u t h one two three"] = "the reference is A U T H 123",
      }
      for said, want in pairs(cases) do assert.are.equal(want, rules.written(said), said) end
    end)

    it("leaves written text and words that are not numbers alone", function()
      for _, s in ipairs({ "The reference is AUTH 123456.", "March 15, 1985 at 2:30 PM", "oh okay",
                           "what's the member id", "I'd like a second opinion", "june twenty first 1990" }) do
        assert.are.equal(s, rules.written(s), s)
      end
    end)

    it("reads spelled-out codes", function()
      assert.are.equal("AUTH123456", rules.code("a u t h one two three four five six"))
      assert.are.equal("AUTH123456", rules.code("it s approved reference auth one two three four five six"))
      assert.are.equal("ABC123", rules.code("a as in apple b as in boy c one two three"))
      assert.are.equal("ABC123456", rules.code("the member i d is a b c one two three four five six"))
      assert.are.equal("PA2024009", rules.code("reference number p a two zero two four zero zero nine"))
      assert.are.equal("DN778122", rules.code("d n dash seven seven eight one dash two two"))
      assert.are.equal("5555512", rules.code("five five five double five one two"))
      assert.are.equal("X00012", rules.code("x triple zero one two"))
      assert.are.equal("AUTH123456", rules.code("um it's uh a u t h one two three four five six"))
    end)

    it("does not read a code out of dates, counts or a lone letter", function()
      assert.is_nil(rules.code("I see the date of birth March 15 1985"))
      assert.is_nil(rules.code("date of birth march fifteenth nineteen eighty five"))
      assert.is_nil(rules.code("one moment please"))
      assert.is_nil(rules.code("i have one question"))
      assert.is_nil(rules.code("what s the member id"))
      assert.are.equal("ABC123456", rules.code("date of birth March 15 1985, member ID ABC123456"))
    end)

    it("reads numbers in words", function()
      assert.are.equal(105, rules.number("one hundred and five"))
      assert.are.equal(23, rules.number("twenty three"))
      assert.are.equal(100, rules.number("about a hundred"))
      assert.are.equal(55, rules.number("double five"))
      assert.are.equal(2001, rules.number("two thousand one"))
      assert.are.equal(7, rules.number("um like a seven out of ten"))
    end)

    it("reads dates in words", function()
      local cases = {
        ["march fifteenth nineteen eighty five"] = "1985-03-15",
        ["march fifteen nineteen eighty five"] = "1985-03-15",
        ["the fifteenth of march eighty five"] = "1985-03-15",
        ["the fifteenth of march nineteen eighty five"] = "1985-03-15",
        ["born on the third of june two thousand one"] = "2001-06-03",
        ["december first twenty twenty four"] = "2024-12-01",
        ["june twenty first nineteen ninety"] = "1990-06-21",
        ["uh date of birth is march fifteenth um nineteen eighty five"] = "1985-03-15",
      }
      for said, want in pairs(cases) do assert.are.equal(want, rules.date(said), said) end
      assert.is_nil(rules.date("march fifteenth"))
      assert.is_nil(rules.date("march fifteenth ten am"))
    end)

    it("reads times in words, with a date", function()
      assert.are.same({ 14, 30 }, { rules.time("two thirty pm") })
      assert.are.same({ 10, 5 }, { rules.time("ten oh five a m") })
      assert.are.same({ 21, 0 }, { rules.time("nine in the evening") })
      assert.is_nil(rules.time("two thirty"))
      assert.are.equal("2026-12-01T14:30", rules.datetime("december first twenty twenty six at two thirty p m"))
    end)

    it("drops filler words, but not the same words meaning something", function()
      assert.are.same({ "so", "it", "s", "approved" }, rules.words("um so uh it's like approved you know"))
      assert.are.same({ "do", "you", "know", "the", "member", "id" }, rules.words("do you know the member id"))
      assert.are.same({ "i", "d", "like", "to", "reschedule" }, rules.words("I'd like to reschedule"))
      assert.is_true(rules.boolean("uh huh"))
      assert.are.same({ "member", "id" }, rules.words("member i d"))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("sentences and what they say", function()
    it("splits an unpunctuated line before a question inside it, and only there", function()
      assert.are.same({ "thank you for calling aetna provider services this is jennifer", "how can i help you" },
        rules.sentences("thank you for calling aetna provider services this is jennifer how can i help you"))
      assert.are.same({ "the member id is abc123456", "what s the date of birth" },
        rules.sentences("the member id is abc123456 what s the date of birth"))
      assert.are.same({ "i do not know what the member id is" }, rules.sentences("i do not know what the member id is"))
      local long = "the member id is abc123456 yes i have john smith here date of birth march fifteenth nineteen eighty five"
      assert.are.same({ long }, rules.sentences(long))
      assert.are.same({ "It's approved.", "What's the reference for?" }, rules.sentences("It's approved. What's the reference for?"))
    end)

    it("tells requests from statements, written or spoken", function()
      for _, s in ipairs({ "What's the member ID?", "what s the member id", "whats the member id", "Can I get the date of birth",
                           "can i get the date of birth", "And the NPI?", "I need the patient's name",
                           "i need the patients name", "go ahead with the member id", "um could you spell the last name",
                           "Okay, and who is the rendering provider?", "do you have the CPT code",
                           "member ID please" }) do
        assert.are.equal("request", rules.kind(s), s)
      end
      for _, s in ipairs({ "The member ID is ABC123456.", "the member id is abc123456", "I have John Smith here",
                           "Yes, I have John Smith here, date of birth March 15 1985",
                           "I see the date of birth March 15 1985", "i see the date of birth march fifteenth nineteen eighty five",
                           "Thank you for calling Aetna provider services, this is Jennifer",
                           "It's approved.", "date of birth march 15 1985" }) do
        assert.are.equal("statement", rules.kind(s), s)
      end
      for _, s in ipairs({ "and the npi", "date of birth", "The NPI", "approved" }) do
        assert.are.equal("fragment", rules.kind(s), s)
      end
    end)
  end)

  ---------------------------------------------------------------------------------------
  -- the prior-auth flow's functions as the engine offers them (node functions, then global ones)
  local PA = S.host("clients/demo_clinic_alpha/prior_auth"):describe()
  local PQ = S.host("clients/demo_clinic_alpha/patient_questions"):describe()

  local function offered(d, node, globals)
    local list = {}
    for _, fn in ipairs(d.nodes[node].functions) do list[#list + 1] = fn end
    if globals ~= false then for _, fn in ipairs(d.functions) do list[#list + 1] = fn end end
    return list
  end

  local llm = rules.new()
  local function respond(d, node, line, extra)
    local n = d.nodes[node]
    local req = { reason = "user", last_user = line, messages = {},
                  node = { name = node, task = n.task, say = n.say or {}, reprompt = n.reprompt },
                  functions = offered(d, node, not (extra and extra.reason == "carry")) }
    for k, v in pairs(extra or {}) do req[k] = v end
    return llm:respond(req)
  end
  local function names(resp)
    local out = {}
    for _, c in ipairs(resp.tool_calls) do out[#out + 1] = c.name end
    return out
  end

  describe("details given when asked, acknowledged when stated (rules_when = \"asked\")", function()
    it("the flow library passes rules.when through describe", function()
      local details = offered(PA, "verify")[3]
      assert.are.equal("provide_details", details.name)
      assert.are.equal("asked", details.rules_when)
    end)

    it("gives the details asked for, however the request is put", function()
      local cases = {
        ["What's the member ID?"] = { "member_id" },
        ["what s the member id"] = { "member_id" },
        ["Can I get the date of birth"] = { "date_of_birth" },
        ["um can i get the date of birth"] = { "date_of_birth" },
        ["And the NPI?"] = { "provider" },
        ["and the npi"] = { "provider" },
        ["I need the patient's name"] = { "patient_name" },
        ["go ahead with the member id"] = { "member_id" },
        ["okay who is the rendering provider"] = { "provider" },
        ["Sure, what's the member ID and date of birth?"] = { "member_id", "date_of_birth" },
      }
      for line, want in pairs(cases) do
        local r = respond(PA, "verify", line)
        assert.are.same({ { id = "rules_1", name = "provide_details", arguments = { details = want } } }, r.tool_calls, line)
      end
    end)

    it("acknowledges a representative who states or confirms the details, instead of reciting them", function()
      for _, line in ipairs({
        "The member ID is ABC123456. Yes, I have John Smith here, date of birth March 15 1985",
        "the member id is abc123456 yes i have john smith here date of birth march fifteenth nineteen eighty five",
        "I see the date of birth March 15 1985",
        "The member ID is ABC123456.",
      }) do
        assert.are.same({ text = "Thank you.", tool_calls = {}, acknowledged = true }, respond(PA, "verify", line), line)
      end
      -- in the reference node too: a stated member ID is not taken for the reference number
      assert.are.same({ text = "Thank you.", tool_calls = {}, acknowledged = true }, respond(PA, "reference", "The member ID is ABC123456"))
    end)

    it("gives only what the request asks for when details are stated in the same line", function()
      for _, line in ipairs({ "The member ID is ABC123456. What's the date of birth?",
                              "the member id is abc123456 what s the date of birth" }) do
        assert.are.same({ "date_of_birth" }, respond(PA, "verify", line).tool_calls[1].arguments.details, line)
      end
    end)

    it("lets another function take a statement that also names a detail", function()
      local r = respond(PA, "verify", "The member ID is ABC123456 and it's approved")
      assert.are.same({ { id = "rules_1", name = "report_status", arguments = { status = "Approved" } } }, r.tool_calls)
      -- one generic word ("member") stated beside a reference number: the reference is taken
      r = respond(PA, "reference", "The reference number is AUTH123456 for member John Smith")
      assert.are.same({ reference_number = "AUTH123456" }, r.tool_calls[1].arguments)
    end)

    it("rules_when = \"stated\" takes statements only", function()
      local fns = { { name = "note_member_id", rules = { "member id" }, rules_when = "stated",
        parameters = { type = "object", properties = { member_id = { type = "string" } }, required = { "member_id" } } } }
      assert.are.same({ name = "note_member_id", arguments = { member_id = "ABC123456" } },
        rules.choose("the member id is abc123456", fns))
      assert.is_nil(rules.choose("what's the member id?", fns))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("keywords inside neutral phrases", function()
    it("a greeting naming the insurer's provider services gives no details", function()
      for _, line in ipairs({ "Thank you for calling Aetna provider services, this is Jennifer.",
                              "thank you for calling aetna provider services this is jennifer how can i help you",
                              "You've reached the provider line, this is Mark.",
                              "Member services, this is Dana speaking.",
                              "thanks for calling customer service my name is jennifer" }) do
        local r = respond(PA, "verify", line)
        assert.are.same({}, r.tool_calls, line)
        assert.are.equal(PA.nodes.verify.reprompt, r.text, line)
      end
    end)

    it("the same words still count on their own, or as the whole neutral phrase", function()
      assert.are.equal("provide_details", respond(PA, "verify", "who's the provider?").tool_calls[1].name)
      local fns = { { name = "ask_for_member_services", rules = { "member services" } },
                    { name = "give_member_id", rules = { "member" } } }
      assert.are.equal("ask_for_member_services", rules.choose("can you transfer me to member services", fns).name)
      assert.are.equal("give_member_id", rules.choose("I need the member number", fns).name)
    end)

    it("a function's own ignore list (rules_ignore) masks more phrases for it alone", function()
      local fns = { { name = "billing", rules = { "billing" }, rules_ignore = { "billing address" } },
                    { name = "address", rules = { "address" } } }
      assert.are.equal("address", rules.choose("what's the billing address on file", fns).name)
      assert.are.equal("billing", rules.choose("I have a billing question", fns).name)
      assert.is_nil(rules.choose("what's the billing address", { fns[1] }))
    end)

    it("flow.check accepts rules.when and rules.ignore and reports wrong ones", function()
      local function problems(r)
        local def = { name = "x", description = "x", reads = {}, writes = {}, role = "r", initial = "a",
                      nodes = { a = { task = "t", functions = { { name = "f", description = "d", rules = r, next = "a" } } } } }
        local out = {}
        for _, p in ipairs(flow.check(def, {})) do out[#out + 1] = p.message end
        return table.concat(out, "\n")
      end
      assert.are.equal("", problems({ "hi", when = "asked", ignore = { "hi there" } }))
      assert.matches("rules.when must be", problems({ "hi", when = "sometimes" }), 1, true)
      assert.matches("rules.ignore must be a list of phrases", problems({ "hi", ignore = { 3 } }), 1, true)
      local d = flow.describe({ name = "x", initial = "a", nodes = { a = { functions = {
        { name = "f", rules = { "hi", when = "stated", ignore = { "hi there" } } } } } } })
      assert.are.equal("stated", d.nodes.a.functions[1].rules_when)
      assert.are.same({ "hi there" }, d.nodes.a.functions[1].rules_ignore)
      assert.are.same({ "hi" }, d.nodes.a.functions[1].rules)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("confidence", function()
    it("asks again when one word each points two ways in a long line", function()
      local r = respond(PQ, "concerns", "No, but I have a question about my medication dose")
      assert.are.same({ text = "Sorry, could you say that again?", tool_calls = {} }, r)
      -- short lines and clear ones still act
      assert.are.same({ "no_concerns" }, names(respond(PQ, "concerns", "no")))
      assert.are.same({ "has_concerns" }, names(respond(PQ, "concerns", "I have a question about my medication dose")))
    end)

    it("does not take a question about the conversation as a wildcard's answer", function()
      assert.are.same({ text = PA.nodes.denial_reason.reprompt, tool_calls = {} },
        respond(PA, "denial_reason", "Do you want the reason for the denial?"))
      -- "what do you mean" asks for the line again: the repeat behaviour, not the wildcard
      for _, line in ipairs({ "sorry what do you mean", "What do you mean?" }) do
        assert.are.same({ "repeat_that" }, names(respond(PA, "denial_reason", line)), line)
      end
      assert.are.same({ "repeat_that" }, names(respond(PQ, "concerns", "what do you mean")))
    end)

    it("still takes an answer, and a patient's own question, as the wildcard's", function()
      assert.are.same({ reason = "It was denied as not medically necessary" },
        respond(PA, "denial_reason", "It was denied as not medically necessary").tool_calls[1].arguments)
      assert.are.same({ concern = "Can I eat before the procedure?" },
        respond(PQ, "concerns", "Can I eat before the procedure?").tool_calls[1].arguments)
    end)

    it("stays silent when not confident in a node whose reprompt is silence", function()
      local fns = { { name = "one", rules = { "yes" } }, { name = "two", rules = { "cancel" } } }
      local r = llm:respond({ reason = "user", last_user = "yes well actually I think I might need to cancel it",
                              node = { reprompt = "" }, functions = fns, messages = {} })
      assert.are.same({ tool_calls = {} }, r)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("several calls for one line", function()
    it("calls every function of the set the line fills with typed values, in offered order", function()
      local r = respond(PA, "verify", "It's approved, let me check the reference number, one moment.")
      assert.are.same({
        { id = "rules_1", name = "report_status", arguments = { status = "Approved" } },
        { id = "rules_1_2", name = "hold", arguments = {} },
      }, r.tool_calls)
      assert.are.same({ "report_status", "authorization_required" },
        names(respond(PA, "verify", "Yes, it requires authorization, and it's approved.")))
    end)

    it("adds no call for a function without typed parameters, a hypothetical or a question", function()
      assert.are.same({ "hold" }, names(respond(PA, "verify", "Let me check whether it's approved, one moment.")))
      local fns = { { name = "report", parameters = { type = "object", required = { "status" },
                      properties = { status = { type = "string", enum = STATUS } } } },
                    { name = "thanked", rules = { "thanks" } } }
      assert.are.same({ { name = "report", arguments = { status = "Approved" } } }, rules.decide("it's approved, thanks", fns).calls)
      assert.are.same({ "provide_details" }, names(respond(PA, "verify", "What's the member ID on the approved request?")))
      assert.are.same({ "report_status" }, names(respond(PA, "verify", "It's approved.")))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("carrying a line into the next node (reason \"carry\")", function()
    local function carry(node, line, used) return respond(PA, node, line, { reason = "carry", used = used }) end

    it("fills the new node's functions from typed values not used yet", function()
      local r = carry("reference", "The authorization has been approved. The reference number is AUTH123456.", { "Approved" })
      assert.are.same({ { id = "rules_1", name = "record_reference", arguments = { reference_number = "AUTH123456" } } }, r.tool_calls)
      assert.is_nil(r.text)
      assert.are.same({ reference_number = "AUTH123456" },
        carry("reference", "it s approved reference a u t h one two three four five six", { "Approved" }).tool_calls[1].arguments)
      assert.are.same({ { id = "rules_1", name = "report_status", arguments = { status = "Approved" } } },
        carry("verify", "Thanks for holding, it's been approved", {}).tool_calls)
      assert.are.same({ required = true }, carry("verify", "yes it requires authorization", {}).tool_calls[1].arguments)
      local pq = respond(PQ, "verify", "yes this is john smith born march fifteenth nineteen eighty five", { reason = "carry", used = {} })
      assert.are.same({ full_name = "john smith", date_of_birth = "1985-03-15" }, pq.tool_calls[1].arguments)
    end)

    it("carries nothing that is free text, already used, or a boolean without a yes or no", function()
      assert.are.same({ tool_calls = {} }, carry("reference", "It's approved.", { "Approved" }))
      assert.are.same({ tool_calls = {} }, carry("confirm_reference", "The reference number is AUTH123456", { "AUTH123456" }))
      assert.are.same({ tool_calls = {} }, carry("denial_reason", "It was denied as not medically necessary", { "Denied" }))
      assert.are.same({ tool_calls = {} }, carry("verify", "Thanks for holding", {}))
      assert.are.same({ tool_calls = {} }, carry("verify", "thanks for holding it does not require authorization", {}))
      assert.are.same({ tool_calls = {} }, carry("confirm_reference", "Yes, that's correct", {}))
      -- a typed value beside a required free-text one is not enough
      local fns = { { name = "note_visit", rules = { "*" }, parameters = { type = "object", required = { "note" },
                      properties = { note = { type = "string" }, visit_date = { type = "string", format = "date" } } } } }
      assert.are.same({}, rules.carry("it was approved on march 3 2026", fns, {}))
      fns[1].parameters.required = { "visit_date" }
      assert.are.same({ { name = "note_visit", arguments = { note = "it was approved on march 3 2026", visit_date = "2026-03-03" } } },
        rules.carry("it was approved on march 3 2026", fns, {}))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("greetings, closings and speech after the merge with the behaviours", function()
    it("answers a greeting with the node's question and marks it understood (not a reprompt)", function()
      for _, line in ipairs({ "Thank you for calling Aetna provider services, this is Jennifer. How can I help you today?",
                              "aetna provider services", "Hello?" }) do
        local r = respond(PA, "verify", line)
        assert.are.same({ text = PA.nodes.verify.reprompt, tool_calls = {}, acknowledged = true }, r, line)
      end
      -- a greeting with a question of its own is not only a greeting
      assert.is_nil(respond(PA, "verify", "Hi, this is Jennifer. Is this about the billing dispute?").acknowledged)
      assert.is_false(rules.greeting("Hi, this is Jennifer. The member ID is ABC123456."))
    end)

    it("puts a goodbye after the answer the same line gives, not instead of it", function()
      assert.are.same({ "appointment_confirmed", "goodbye" },
        names(respond(PQ, "confirm_appointment", "Yes, I'll be there. Sorry, I have to run, bye!")))
      assert.are.same({ "goodbye" }, names(respond(PQ, "confirm_appointment", "Okay, bye.")))
      assert.are.same({ "no_concerns", "goodbye" }, names(respond(PQ, "concerns", "Nope, that's it, bye bye!")))
      -- the wildcard (has_concerns) does not take a bare goodbye as a concern
      assert.are.same({ "goodbye" }, names(respond(PQ, "concerns", "Alright, bye bye!")))
    end)

    it("reads digits a recognizer wrote as words that sound alike, only among digits", function()
      assert.are.equal("PEND2468", rules.code("your reference number is pend two for six eight"))
      assert.are.equal("DEN445566", rules.code("d e n for four five five six six"))
      assert.are.equal("1972-11-02", rules.date("november second nineteen seventy to"))
      assert.are.equal("call back to confirm", rules.written("call back to confirm"))
      assert.are.equal("i have 2 for you", rules.written("i have two for you"))
      assert.are.equal("2 to 3", rules.written("two to three"))
    end)

    it("does not take a stray number before a code for its first character", function()
      assert.are.equal("AUTH123457", rules.code("actually no sorry the last digit is a seven auth one two three four five seven"))
      assert.are.equal("AUTH123457", rules.code("it's 5 AUTH123457"))
      assert.are.equal("55123", rules.code("double five one two three"))
    end)

    it("hears an answer's \"no\" that a recognizer wrote \"know\"", function()
      assert.are.same({ "no", "changes" }, rules.words("know changes"))
      assert.are.same({ "i", "know", "the", "id" }, rules.words("I know the ID"))
      assert.are.same({ "no_medication_changes" }, names(respond(PQ, "medications", "know changes")))
    end)

    it("does not take a date after \"it's\" for a name", function()
      assert.is_nil(rules.person_name("It's June twenty-first, 1990."))
      assert.are.equal("June Carter", rules.person_name("It's June Carter."))
    end)

    it("hears a question without its question mark", function()
      assert.are.equal("fragment", rules.kind("and the date of birth"))
      assert.are.equal("statement", rules.kind("date of birth march 15 1985"))
      assert.are.same({ "sure i can help with that", "what's the id" }, rules.sentences("sure i can help with that what's the id"))
      local r = respond(PA, "verify", "sure i can help with that what's the id")
      assert.are.same({ { id = "rules_1", name = "provide_details", arguments = { details = { "member_id" } } } }, r.tool_calls)
    end)
  end)
end)

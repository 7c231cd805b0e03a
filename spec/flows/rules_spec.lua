-- Unit specs of the offline rules engine (lua/sova/llm/rules.lua): filling function parameters
-- from the other party's words, choosing the function, and what it says. Deterministic.
local rules = require("sova.llm.rules")

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
end)

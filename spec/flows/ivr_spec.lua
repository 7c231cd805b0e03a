-- sova.sandboxed.ivr: automated phone menus read by rules (the options and their keys, in both
-- orders and in spoken forms; requests to key a value in; the insurer's hints first), and Demo
-- Clinic Alpha's prior_auth flow getting through one in the call sandbox. Tags: #flows #ivr
local ivr = require("sova.sandboxed.ivr")
local S = require("flows.support")

local function options(text)
  local out = {}
  for _, o in ipairs(ivr.options(text)) do out[#out + 1] = o.key .. "=" .. o.text end
  return out
end

local VALUES = { member_id = "ABC123456", date_of_birth = "1985-03-15", npi = "1234567890", cpt_code = "99213" }

describe("phone menus #flows #ivr", function()
  describe("reading a menu", function()
    it("pairs each key with its words, the description before the key or after it", function()
      assert.are.same({ "1=thank you for calling aetna for providers", "2=for members" },
        options("Thank you for calling Aetna. For providers, press 1. For members, press 2."))
      assert.are.same({ "1=for providers", "2=for members" },
        options("Welcome to Aetna. Press 1 for providers. Press 2 for members."))
      assert.are.same({ "2=for prior authorization or", "0=for a representative" },
        options("Press 2 for prior authorization, or press 0 for a representative."))
    end)

    it("reads spoken keys as a recognizer writes them: one, star, pound, the number", function()
      assert.are.same({ "1=welcome for providers", "2=for members" },
        options("welcome for providers press one for members press two"))
      assert.are.same({ "*=to return to the main menu", "#=to repeat" },
        options("to return to the main menu press star to repeat press the pound key"))
      assert.are.same({ "9=para espanol" }, options("para espanol press the number nine"))
    end)

    it("finds no option in a greeting or an extension prompt", function()
      assert.are.same({}, options("If you know your party's extension, you may dial it at any time."))
      assert.are.same({}, options("Calls may be monitored or recorded for quality purposes."))
    end)

    it("names the goal an option leads to", function()
      assert.are.equal("prior_authorization", ivr.goal_of("for precertification and clinical review"))
      assert.are.equal("providers", ivr.goal_of("if you are a health care professional"))
      assert.are.equal("representative", ivr.goal_of("to speak with someone"))
      assert.is_nil(ivr.goal_of("for members"))
    end)
  end)

  describe("keying a value in", function()
    it("keys the member ID in, letters on the keypad, then the terminator asked for", function()
      assert.are.equal("222123456#", ivr.choose("Please enter the member ID, followed by the pound key.", { values = VALUES }))
      assert.are.equal("222123456#", ivr.choose("please enter the member i d followed by pound", { values = VALUES }))
      assert.are.equal("222123456", ivr.choose("Enter the subscriber ID.", { values = VALUES }))
      assert.are.equal("222123456*", ivr.choose("Enter the member number followed by star.", { values = VALUES }))
      -- words the line lost: "i d", the key's name
      assert.are.equal("222123456#", ivr.choose("using your keypad enter the members i followed by the key", { values = VALUES }))
    end)

    it("leaves the letters out when the menu or the insurer's hints say so", function()
      assert.are.equal("123456#", ivr.choose("Enter the numeric portion of the member ID, followed by pound.", { values = VALUES }))
      assert.are.equal("123456#", ivr.choose("Enter the member ID followed by pound.",
        { values = VALUES, hints = { member_id = "digits" } }))
    end)

    it("keys a date of birth as MMDDYYYY, the NPI and the procedure code", function()
      assert.are.equal("03151985", ivr.choose("Using your keypad, enter the patient's date of birth.", { values = VALUES }))
      assert.are.equal("1234567890#", ivr.choose("Please enter your NPI followed by pound.", { values = VALUES }))
      assert.are.equal("99213#", ivr.choose("Enter the CPT code followed by pound.", { values = VALUES }))
    end)

    it("keys in nothing the flow does not have, nor what only looks like it", function()
      local keys, why = ivr.choose("Please say or enter your tax ID number, followed by pound.", { values = VALUES })
      assert.is_nil(keys)
      assert.are.equal("asked to key in something the flow does not have", why)
      keys, why = ivr.choose("Enter the member ID followed by pound.", { values = {} })
      assert.is_nil(keys)
      assert.are.equal("no member_id to key in", why)
      -- "enter" in an option is not an entry
      assert.are.equal("3", ivr.choose("To enter a new request, press 2. For prior authorization status, press 3."))
    end)

    it("letters are the keys that carry them", function()
      assert.are.equal("22233344455566677778889999", ivr.keypad("abc def ghi jkl mno pqrs tuv wxyz"))
      assert.are.equal("0001", ivr.keypad("000-1"))
    end)
  end)

  describe("choosing", function()
    it("presses the best goal offered: prior authorization, then providers, then a person", function()
      assert.are.same({ "3", "the option for prior_authorization" },
        { ivr.choose("For eligibility, press 1. For claims, press 2. For prior authorization, press 3.") })
      assert.are.equal("1", ivr.choose("For providers, press 1. For members, press 2."))
      assert.are.equal("0", ivr.choose("For claims press 1. For an operator press 0."))
      assert.are.same({ nil, "no option leads where the call needs to go" },
        { ivr.choose("For claims, press 1. For pharmacy, press 2.") })
      assert.are.same({ nil, "no option to press" }, { ivr.choose("Calls may be recorded.") })
    end)

    it("the insurer's hints come before the keys heard, and rescue a key that was lost", function()
      local hints = { providers = "1", prior_authorization = "2" }
      assert.are.equal("1", ivr.choose("For providers, press 3.", { hints = hints }))
      assert.are.same({ "2", "the insurer's key for prior_authorization" },
        { ivr.choose("For prior authorization requests, press... To hear these options again, press 9.", { hints = hints }) })
      -- a prompt that asks for no key gets no hint pressed
      assert.is_nil(ivr.choose("One moment while I transfer you to a representative.", { hints = { representative = "0" } }))
    end)

    it("finds the insurer's hints by the words of its name, the longest name first", function()
      local menus = { insurers = { Aetna = { providers = "1" }, ["Aetna Better Health"] = { providers = "5" },
                                   ["Blue Cross Blue Shield"] = { providers = "2" } } }
      assert.are.equal("5", ivr.hints_for(menus, "Aetna Better Health of Ohio").providers)
      assert.are.equal("1", ivr.hints_for(menus, "AETNA").providers)
      assert.are.equal("2", ivr.hints_for(menus, "Blue Cross Blue Shield of Texas").providers)
      assert.is_nil(ivr.hints_for(menus, "Cigna"))
      assert.is_nil(ivr.hints_for(nil, "Aetna"))
    end)

    it("knows a menu said again by its options, whatever the words around them", function()
      assert.are.equal(ivr.signature("For providers, press 1. For members, press 2."),
        ivr.signature("I'm sorry, I didn't get that. For providers, press 1. For members, press 2."))
      assert.are_not.equal(ivr.signature("For providers, press 1. For members, press 2."),
        ivr.signature("For eligibility, press 1. For prior authorization, press 2."))
      assert.are.equal("enter:member_id", ivr.signature("Enter the member ID followed by pound."))
      assert.is_nil(ivr.signature("Your call is important to us."))
    end)
  end)

  describe("the prior_auth flow on a phone menu", function()
    local function pressed(call)
      local out = {}
      for _, e in ipairs(S.events_of(call, "dtmf")) do out[#out + 1] = e.digits end
      return out
    end

    it("keys through to prior authorization in silence, holds, then introduces itself to the person", function()
      local call = S.call("demo_clinic_alpha", "prior_auth")
      S.script(call, {
        "Thank you for calling Aetna. For providers, press 1. For members, press 2.",
        "For eligibility, press 1. For prior authorization, press 2.",
        "Please enter the member ID followed by pound.",
        "Please hold for the next available representative.",
        "Your call is important to us.",
      })
      assert.are.same({ "1", "2", "123456#" }, pressed(call)) -- Aetna's hints: digits only
      assert.are.equal("menu_hold", call.node)
      assert.are.equal(1, #S.assistant_lines(call)) -- the greeting at the start, nothing since
      S.script(call, { "Thank you for holding, this is Jennifer. How can I help you?" })
      assert.are.equal("verify", call.node)
      local lines = S.assistant_lines(call)
      assert.are.equal(lines[1], lines[2]) -- the representative hears who is calling
      S.script(call, { "It's approved.", "Reference AUTH778812.", "Yes." })
      assert.are.equal("completed", call.status)
    end)

    it("a menu that keeps coming back: 0, then \"Representative\", then the call ends incomplete", function()
      local call = S.call("demo_clinic_alpha", "prior_auth")
      local tax = "Please enter your tax ID followed by pound."
      S.script(call, { tax, tax })
      assert.are.same({ "0" }, pressed(call))
      S.script(call, { tax })
      assert.are.equal("Representative.", S.assistant_lines(call)[2])
      S.script(call, { tax })
      assert.are.equal("incomplete", call.status)
      assert.are.equal(ivr.STUCK_REASON, call.reason)
      assert.are.same({ "reference_number" }, call.missing)
    end)

    it("a menu that goes silent gets the operator's key, once", function()
      local call = S.call("demo_clinic_alpha", "prior_auth")
      S.script(call, { "If you know your party's extension, please dial it now. For providers, press 1." })
      call:silence()
      call:silence()
      assert.are.same({ "1", "0" }, pressed(call))
      assert.are.equal("phone_menu", call.node)
      assert.are.equal(1, #S.assistant_lines(call))
    end)
  end)
end)

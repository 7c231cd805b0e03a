-- Speech mode of `sova flow eval`: lines as a speech recognizer returns them. Tags: #eval
local speechify = require("sova.tools.speechify")

local function clean(text) return speechify.rewrite(text, { rate = 0 }) end

describe("speechify #eval", function()
  it("lower-cases and drops punctuation, keeping apostrophes inside words", function()
    assert.equal("yes that's correct thank you", clean("Yes, that's correct. Thank you!"))
    assert.equal("sure what's the member id", clean("Sure -- what's the member ID?"))
  end)

  it("spells codes: digits one by one, short letter runs letter by letter", function()
    assert.equal("reference auth one two three four five six", clean("Reference AUTH123456."))
    assert.equal("a b c one two three four five six", clean("ABC123456"))
    assert.equal("p a seven seven eight one two", clean("PA-77812"))
    assert.equal("the npi is one two three four five six seven eight nine zero", clean("The NPI is 1234567890."))
    assert.equal("call five one six five five five one two three four", clean("Call (516) 555-1234"))
  end)

  it("says small numbers, years and decimals as people say them", function()
    assert.equal("i'd say about a three", clean("I'd say about a 3."))
    assert.equal("seven point five out of ten", clean("7.5 out of 10"))
    assert.equal("twenty one", clean("21"))
    assert.equal("in nineteen eighty five", clean("in 1985"))
    assert.equal("two thousand seven twenty twenty six nineteen hundred nineteen oh five",
      clean("2007 2026 1900 1905"))
  end)

  it("reads dates in every written form as month, ordinal day and year", function()
    local want = "march fifteenth nineteen eighty five"
    assert.equal("date of birth " .. want, clean("Date of birth March 15 1985"))
    assert.equal(want, clean("March 15th, 1985."))
    assert.equal(want, clean("03/15/1985"))
    assert.equal(want, clean("1985-03-15"))
    assert.equal("born november second nineteen seventy two", clean("born Nov. 2, 1972"))
    assert.equal("june twenty first", clean("June 21st"))
    assert.equal("at two thirty pm or nine oh five", clean("at 2:30 pm or 9:05"))
  end)

  it("adds errors at the seeded rate, the same for the same seed and line, different across seeds", function()
    local line = "Thank you for calling Aetna provider services, this is Jennifer, how can I help you today?"
    local base = clean(line)
    local changed, words, kept = 0, 0, 0
    for i = 1, 400 do
      local key = "scenario.yaml:" .. i
      local a = speechify.rewrite(line, { seed = 3, key = key })
      assert.equal(a, speechify.rewrite(line, { seed = 3, key = key }))
      if a ~= base then changed = changed + 1 end
      for _ in base:gmatch("%S+") do words = words + 1 end
      for _ in a:gmatch("%S+") do kept = kept + 1 end
    end
    -- 16 words at 3%: about 38% of the lines carry an error; drops shorten them
    assert.is_true(changed > 100 and changed < 210, "changed " .. changed)
    assert.is_true(kept < words and kept > words * 0.95)
    local differ = 0
    for i = 1, 50 do
      local key = "k" .. i
      if speechify.rewrite(line, { seed = 1, key = key }) ~= speechify.rewrite(line, { seed = 2, key = key }) then
        differ = differ + 1
      end
    end
    assert.is_true(differ > 5)
  end)

  it("swaps homophones and never drops a line's every word", function()
    assert.equal("know", speechify.rewrite("No.", { rate = 1 }))
    assert.equal("four", speechify.rewrite("for", { rate = 1 }))
    assert.equal("fine", speechify.rewrite("Okay, fine.", { rate = 1 }))
    assert.equal("goodbye", speechify.rewrite("Goodbye!", { rate = 1 }))
  end)
end)

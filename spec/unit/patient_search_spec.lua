-- sova.patient_search: the terms a patient stores, the words of a query, and the check of a
-- candidate, which must agree: a patient matches a query when, and only when, each word of it
-- starts one of the patient's terms. (The search over a database: spec/api/patients_spec.lua.)
local search = require("sova.patient_search")
local text = require("sova.core").text

local FIELDS = {
  { key = "patient_name", type = "string" }, { key = "email", type = "email" },
  { key = "phone_number", type = "phone" }, { key = "insurer", type = "select", options = { "Aetna", "Blue Cross" } },
  { key = "date_of_birth", type = "date" }, { key = "visits", type = "number" },
}

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function finds(doc, q)
  return search.matches(FIELDS, doc, assert(search.query(q)))
end

describe("sova.patient_search #unit", function()
  it("folds case, accents and compatibility forms alike (utf8proc)", function()
    assert.equal("jose muller", text.fold("José MÜLLER"))
    assert.equal("strasse", text.fold("Straße"))
    assert.equal("fine abc", text.fold("ﬁne Ａbc"))
    local folded, err = text.fold("\255 not UTF-8")
    assert.is_nil(folded)
    assert.is_string(err)
  end)

  it("stores each word's starts and the whole word, and a phone's digits, from the searchable fields only", function()
    local terms = search.terms(FIELDS, { patient_name = "Ana O'Neil", phone_number = "+1 (415) 555-0207",
      date_of_birth = "1990-06-21", visits = 7, insurer = "Blue Cross", email = "ana@clinic.example" })
    local s = set_of(terms)
    for _, t in ipairs({ "a", "an", "ana", "o", "n", "ne", "nei", "neil", "blue", "cro", "cross", "clinic", "exa",
      "examp", "example", "415", "0207", "5550207", "4155550207", "14155550207" }) do
      assert.is_true(s[t], t)
    end
    assert.is_nil(s["1990"], "a date is not searched")
    assert.is_nil(s["7"], "a number is not searched")
    assert.is_nil(s["nei l"])
    assert.is_nil(s["exam"], "starts of 4 characters are not stored: 3 are, and a query of 4 is looked up by them")
    local sorted = { unpack(terms) }
    table.sort(sorted)
    assert.same(sorted, terms) -- the same patient stores the same array
  end)

  it("keeps at most MAX_TERM bytes of a word, cut between characters", function()
    local long = string.rep("é", 20) -- 40 bytes
    local terms = search.terms(FIELDS, { patient_name = long })
    local longest = ""
    for _, t in ipairs(terms) do
      if #t > #longest then longest = t end
    end
    assert.is_true(#longest <= search.MAX_TERM)
    assert.truthy(text.fold(longest), "a whole UTF-8 string")
    assert.is_true(finds({ patient_name = long }, long))
  end)

  it("matches what is stored, both ways, for natural queries", function()
    local doc = { patient_name = "José García-López", email = "JGL@Example.org", phone_number = "+14155550123",
      insurer = "Aetna" }
    local stored = set_of(search.terms(FIELDS, doc))
    for _, q in ipairs({ "jose", "JOSÉ garc", "lopez jose", "garcía-lópez", "555-0123", "(415) 555", "0123",
      "jgl@example", "aetna", "  jose  ", "Jose Garcia Lopez", "smith", "jose smith", "0124", "12", "x" }) do
      local terms = assert(search.query(q))
      local all = true
      for _, t in ipairs(terms) do
        local some = false
        for s in pairs(stored) do some = some or s:sub(1, #t) == t end
        all = all and some
      end
      assert.equal(all, search.matches(FIELDS, doc, terms), q)
    end
    assert.is_true(finds(doc, "JOSÉ garc"))
    assert.is_true(finds(doc, "555-0123"))
    assert.is_false(finds(doc, "jose smith"))
    assert.is_false(finds(doc, "12"), "the middle of a number is not searched")
  end)

  it("answers a query's words numbers first, then longest first; punctuation alone has none", function()
    assert.same({ "garcia", "jose" }, search.query("Jose, García!"))
    assert.same({ "4242", "patient", "bench", "42" }, search.query("Bench Patient 4242 42"))
    assert.same({}, search.query(".*"))
    assert.same({}, search.query("( ) $"))
  end)

  it("refuses a query too long, with control characters, or not UTF-8", function()
    local none, why = search.query(string.rep("a", search.MAX_QUERY + 1))
    assert.is_nil(none)
    assert.matches("too long", why)
    assert.is_nil(search.query("a\0b"))
    assert.is_nil(search.query("a\nb"))
    assert.is_nil(search.query("\224\128\128")) -- an overlong encoding
    assert.is_nil(search.query(42))
  end)
end)

-- sova.csv (lua/sova/csv.lua): what spreadsheets export, parsed the way RFC 4180 says, and
-- malformed quoting refused with its row rather than guessed at.
local csv = require("sova.csv")

local function parse(text, opts)
  local rows, err, row = csv.parse(text, opts)
  assert(rows, tostring(err))
  return rows
end

describe("sova.csv parse", function()
  it("reads plain rows with LF, CRLF or lone CR endings, the last break optional", function()
    local want = { { "a", "b" }, { "1", "2" } }
    assert.same(want, parse("a,b\n1,2\n"))
    assert.same(want, parse("a,b\r\n1,2\r\n"))
    assert.same(want, parse("a,b\r1,2"))
    assert.same(want, parse("a,b\n1,2"))
  end)

  it("reads quoted delimiters, doubled quotes and line breaks inside quotes as one cell", function()
    local rows = parse('name,notes\r\n"Smith, John","said ""hi""\r\nthen left"\r\n"",x\r\n')
    assert.same({ { "name", "notes" }, { "Smith, John", 'said "hi"\r\nthen left' }, { "", "x" } }, rows)
  end)

  it("drops a UTF-8 byte order mark at the start only", function()
    assert.same({ { "a", "b" } }, parse("\239\187\191a,b\r\n"))
    assert.same({ { "x", "\239\187\191y" } }, parse("x,\239\187\191y"))
    assert.same({}, parse("\239\187\191"))
    assert.same({}, parse(""))
  end)

  it("keeps empty cells and empty lines, so row numbers stay the file's", function()
    local rows = parse("a,b,c\n,,\n\n1,,3,\n")
    assert.same({ { "a", "b", "c" }, { "", "", "" }, { "" }, { "1", "", "3", "" } }, rows)
    assert.is_true(csv.blank(rows[2]))
    assert.is_true(csv.blank(rows[3]))
    assert.is_false(csv.blank(rows[4]))
  end)

  it("keeps what looks like a formula or a number as text, spaces included", function()
    assert.same({ { "=HYPERLINK(\"http://x\")", " 007 ", "+1" } }, parse('"=HYPERLINK(""http://x"")", 007 ,+1'))
  end)

  it("refuses malformed quoting with the row it is in", function()
    local cases = {
      { 'a,b\n1,"never closed\n2,3\n', 2, "never closed" },
      { 'a,b\n1,2\nx"y,3\n', 3, "quote inside an unquoted field" },
      { 'a,b\n"1"x,2\n', 2, "text after a closing quote" },
      { 'a,b\n"q\nstill q" 1,2\n', 2, "text after a closing quote" },
    }
    for _, c in ipairs(cases) do
      local rows, err, row = csv.parse(c[1])
      assert.is_nil(rows, c[1])
      assert.equal(c[2], row, c[1])
      assert.matches(c[3], err, 1, true)
      assert.matches("row " .. c[2], err, 1, true)
    end
  end)

  it("numbers rows after quoted line breaks as records, not lines", function()
    local rows, err, row = csv.parse('a,b\n"x\ny\nz",1\nbad"q,2\n')
    assert.is_nil(rows)
    assert.equal(3, row, err)
  end)

  it("stops past max_rows", function()
    assert.equal(3, #parse("a\n1\n2\n", { max_rows = 3 }))
    local rows, err, row = csv.parse("a\n1\n2\n3\n", { max_rows = 3 })
    assert.is_nil(rows)
    assert.equal(csv.TOO_MANY_ROWS, err)
    assert.equal(4, row)
  end)

  it("takes another delimiter, and sniffs it from the first line outside quotes", function()
    assert.same({ { "a", "b,c" }, { "1", "2" } }, parse("a;b,c\n1;2\n", { delimiter = ";" }))
    assert.same({ { "a", "b" } }, parse("a\tb", { delimiter = "\t" }))
    assert.equal(";", csv.sniff("name;phone;\"x,y,z\"\n1;2;3"))
    assert.equal("\t", csv.sniff("name\tphone"))
    assert.equal(",", csv.sniff("name,phone;x"))
    assert.equal(",", csv.sniff("name"))
    assert.has_error(function() csv.parse("a", { delimiter = '"' }) end)
    assert.has_error(function() csv.parse(nil) end)
  end)

  it("parses a large file in linear time", function()
    local parts = { "name,notes" }
    for i = 1, 20000 do parts[#parts + 1] = ('"Patient %d","a, ""b""\nc",+1555%07d'):format(i, i) end
    local text = table.concat(parts, "\r\n")
    local t0 = os.clock()
    local rows = parse(text)
    assert.equal(20001, #rows)
    assert.same({ "Patient 20000", 'a, "b"\nc', "+15550020000" }, rows[20001])
    assert.is_true(os.clock() - t0 < 2, "too slow")
    -- one long quoted cell and one long unquoted cell
    assert.equal(500000, #parse('"' .. ("x"):rep(500000) .. '"')[1][1])
    assert.equal(500000, #parse(("y"):rep(500000))[1][1])
  end)
end)

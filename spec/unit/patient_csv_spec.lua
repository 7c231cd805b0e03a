-- sova.patient_csv (lua/sova/patient_csv.lua): a CSV file read against a patient schema: which
-- field each column is, cells read as the field's type, each row checked by schema.validate.
local patient_csv = require("sova.patient_csv")

local FIELDS = {
  { key = "full_name", label = "Full Name", type = "string", required = true },
  { key = "amount", label = "Amount", type = "number", min = 0, max = 100 },
  { key = "flag", label = "Flag", type = "boolean", default = false },
  { key = "colour", label = "Colour", type = "select", options = { "Red", "Dark Blue" }, default = "Red" },
  { key = "born", label = "Born", type = "date" },
}

local function read(text, opts)
  local t, err = patient_csv.read(FIELDS, text, opts)
  assert(t, tostring(err))
  return t
end

local function messages(t)
  local out = {}
  for _, e in ipairs(t.errors) do out[#out + 1] = e.row .. " " .. e.column .. ": " .. e.message end
  return out
end

describe("sova.patient_csv", function()
  it("maps columns by key or label, any case and spacing; trailing unnamed empty columns are ignored", function()
    local t = read("  FULL   name ,amount,flag,,\nAda,1,yes,,\n")
    assert.same({}, t.errors)
    assert.same({ column = "FULL   name", field = "full_name" }, t.columns[1])
    assert.is_nil(t.columns[4].field)
    assert.same({ full_name = "Ada", amount = 1, flag = true, colour = "Red" }, t.valid[1].doc)
  end)

  it("reads numbers, booleans and select options from text, and lets validate refuse the rest", function()
    local t = read(table.concat({
      "full_name,amount,flag,colour",
      "A, 2.5 ,No,dark blue",
      "B,1e1,0,RED",
      "C,0x10,,",
      "D,inf,maybe,Green",
      "E,-1,TRUE,",
    }, "\n"))
    assert.same({ full_name = "A", amount = 2.5, flag = false, colour = "Dark Blue" }, t.valid[1].doc)
    assert.same({ full_name = "B", amount = 10, flag = false, colour = "Red" }, t.valid[2].doc)
    assert.same({
      "4 amount: must be a number",
      "5 amount: must be a number",
      "5 flag: must be a boolean",
      "5 colour: must be one of: Red, Dark Blue",
      "6 amount: must be at least 0",
    }, messages(t))
    assert.equal(2, #t.valid)
    assert.equal(3, t.invalid)
  end)

  it("reports the file's column problems at row 1 and no row as valid", function()
    local t = read("amount,_id,Amount,,created_at\n1,x,2,has a value,y\n")
    assert.same({
      "1 _id: set by the platform; it cannot be imported",
      '1 Amount: a second column for amount (the first is "amount")',
      "1 column 4: a column with values has no name",
      "1 created_at: set by the platform; it cannot be imported",
      "1 Full Name: a required field has no column",
    }, messages(t))
    assert.is_true(t.file_error)
    assert.equal(0, #t.valid)
    assert.equal(1, t.invalid)
  end)

  it("skips empty lines but keeps the file's row numbers, and reports extra cells", function()
    local t = read("full_name,born\n\nAda,1815-12-10\n ,\nBo,1815-02-30,extra\n")
    assert.equal(2, t.rows)
    assert.equal(3, t.valid[1].row)
    assert.same({ "5 born: must be a valid date (YYYY-MM-DD)", "5 column 3: this row has 3 cells, the header names 2" },
      messages(t))
    assert.same({ 3, 5 }, { t.preview[1].row, t.preview[2].row })
  end)

  it("refuses what is not a CSV file of UTF-8 text, and too many rows", function()
    local t, err, status, row = patient_csv.read(FIELDS, 'full_name\nA"b\n')
    assert.is_nil(t)
    assert.equal(422, status)
    assert.equal(2, row)
    assert.matches("row 2", err, 1, true)
    t, err, status = patient_csv.read(FIELDS, "full_name\nJos\233\n")
    assert.is_nil(t)
    assert.equal(422, status)
    assert.matches("UTF-8", err, 1, true)
    t, err, status = patient_csv.read(FIELDS, "\n\n")
    assert.is_nil(t)
    assert.equal(422, status)
    t, err, status = patient_csv.read(FIELDS, "full_name\n1\n2\n3\n", { max_rows = 2 })
    assert.is_nil(t)
    assert.equal(413, status)
    assert.matches("at most 2 rows", err, 1, true)
    assert.equal(2, #read("full_name\n1\n2\n", { max_rows = 2 }).valid)
  end)

  it("caps the errors it lists", function()
    local lines = { "full_name,amount" }
    for i = 1, 1200 do lines[#lines + 1] = "P" .. i .. ",nope" end
    local t = read(table.concat(lines, "\n"), { max_rows = 2000 })
    assert.equal(patient_csv.MAX_ERRORS, #t.errors)
    assert.is_true(t.errors_truncated)
    assert.equal(1200, t.invalid)
  end)
end)

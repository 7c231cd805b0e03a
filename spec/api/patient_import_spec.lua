-- CSV import of patients (POST /api/workflows/{wf}/patients/import) as staff and a hostile client
-- use it: a good file lands in the list and the search; every bad row and column is reported by
-- row and column and nothing is written when it must not be; good_rows writes only the good; what
-- spreadsheets export (quotes, line breaks, a BOM, semicolons) reads right; a database failure
-- midway is finished by the same request without duplicates; limits, the clinic's walls, and one
-- audit record without a value in it.
-- Tags: #api #import
local helpers = require("helpers")
local cjson = helpers.cjson
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local WF = "patient_questions" -- Beta's: string, date, phone, datetime, select, number, boolean
local PATH = "/api/workflows/" .. WF .. "/patients/import"

local HEADER = "Patient Name,date_of_birth,PHONE NUMBER,Preferred Language,pain_level,Needs Follow-up,call_notes"

local function csv(...) return table.concat({ HEADER, ... }, "\r\n") .. "\r\n" end

describe("CSV import of patients #api #import", function()
  local db, api, f

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
  end)
  lazy_teardown(helpers.stop_all)

  local function import(who, body, path) return f:req(who, "POST", path or PATH, body) end
  local function beta_patients(filter)
    local org = require("helpers.factory").org_doc(db, BETA)
    filter = filter or {}
    filter.organization_id = org._id
    return helpers.count(db, "patients", filter)
  end
  local function list(q)
    local res = f:req(BETA, "GET", "/api/workflows/" .. WF .. "/patients?limit=100" .. (q and "&q=" .. q or ""))
    assert.status(200, res)
    local names = {}
    for _, p in ipairs(res.json.items) do names[p.patient_name] = (names[p.patient_name] or 0) + 1 end
    return names, res.json.items
  end

  -- first: the unique index it uses needs the workflow's patients to differ in call_notes
  describe("when the database fails midway", function()
    local INDEX = "spec_import_blocker"

    it("answers 503 with what was written, and the same request finishes it without duplicates", function()
      assert.equal(0, beta_patients())
      local h = db:handle()
      local ok, err = h:command(helpers.core.bson.ordered({
        "createIndexes", "patients",
        "indexes", helpers.core.bson.array({ { key = helpers.core.bson.ordered({ "organization_id", 1, "workflow", 1,
          "call_notes", 1 }), name = INDEX, unique = true } }),
      }))
      assert(ok, err)
      f:patient(BETA, WF, { patient_name = "Blocker Patient", call_notes = "taken" })
      local body = { mode = "all_or_nothing", import_id = "retry-test-0001", csv = csv(
        "Mid One,1980-01-01,+14155550201,English,1,no,n1",
        "Mid Two,1980-01-02,+14155550202,English,2,no,n2",
        "Mid Three,1980-01-03,+14155550203,English,3,no,taken",
        "Mid Four,1980-01-04,+14155550204,English,4,no,n4") }
      local res = import(BETA, body)
      assert.status(503, res)
      assert.equal("database_unavailable", res.json.error.code)
      assert.equal(2, res.json.imported)
      assert.equal(2, #res.json.patient_ids)
      assert.matches("after 2 of 4", res.json.error.message, 1, true)
      assert.equal(3, beta_patients())
      h:command(helpers.core.bson.ordered({ "dropIndexes", "patients", "index", INDEX }))

      -- the same request: rows 1 and 2 are not written again
      res = import(BETA, body)
      assert.status(201, res)
      assert.equal(4, res.json.imported)
      assert.equal(5, beta_patients())
      local names = list()
      assert.equal(1, names["Mid One"])
      assert.equal(1, names["Mid Two"])
      assert.equal(1, names["Mid Three"])
      assert.equal(1, names["Mid Four"])
      -- once done, again: what it answered then, nothing written
      local again = import(BETA, body)
      assert.status(200, again)
      assert.same(res.json.patient_ids, again.json.patient_ids)
      assert.equal(5, beta_patients())
      -- the dashboard counted each once
      local dash = f:req(BETA, "GET", "/api/workflows/" .. WF .. "/dashboard")
      assert.status(200, dash)
      assert.equal(5, dash.json.total)
      -- the import_id is this file's: another file with it is refused, nothing written
      local other = import(BETA, { mode = "all_or_nothing", import_id = "retry-test-0001",
        csv = csv("Someone Else,1980-01-05,+14155550205,,,,") })
      assert.status(409, other)
      assert.equal(5, beta_patients())
    end)
  end)

  it("imports a good file: in the list (the file's first row on top), the search and the dashboard", function()
    local before = beta_patients()
    local dash0 = f:req(BETA, "GET", "/api/workflows/" .. WF .. "/dashboard").json
    local res = import(BETA, { mode = "all_or_nothing", csv = csv(
      "Ana Lima,1984-02-29,+1 (415) 555-0101,spanish,7,yes,",
      "Ben Okafor,03/15/1990,+14155550102,,0,FALSE,first visit",
      "Cy Twombly,1970-07-07,+14155550103,Other,,,") })
    assert.status(201, res)
    assert.equal(3, res.json.imported)
    assert.equal(3, res.json.rows)
    assert.equal(0, res.json.invalid)
    assert.same({}, res.json.errors)
    assert.equal(3, #res.json.patient_ids)
    assert.is_string(res.json.import_id)
    assert.equal(before + 3, beta_patients())

    local _, items = list()
    assert.equal("Ana Lima", items[1].patient_name)
    assert.equal("Ben Okafor", items[2].patient_name)
    assert.equal("Cy Twombly", items[3].patient_name)
    local ana = f:req(BETA, "GET", "/api/patients/" .. res.json.patient_ids[1]).json
    assert.equal("Ana Lima", ana.patient_name)
    assert.equal("1984-02-29", ana.date_of_birth)
    assert.equal("+14155550101", ana.phone_number) -- normalized as the form's would be
    assert.equal("Spanish", ana.preferred_language) -- the option, whatever the case
    assert.equal(7, ana.pain_level)
    assert.equal(true, ana.needs_follow_up)
    assert.equal("Not Reached", ana.checkin_status) -- the field's default
    assert.equal("Not Started", ana.call_status)
    local ben = f:req(BETA, "GET", "/api/patients/" .. res.json.patient_ids[2]).json
    assert.equal("1990-03-15", ben.date_of_birth)
    assert.equal("English", ben.preferred_language)
    assert.equal(0, ben.pain_level)
    assert.equal(false, ben.needs_follow_up)

    local found = list("okafor")
    assert.equal(1, found["Ben Okafor"])
    found = list("4155550103")
    assert.equal(1, found["Cy Twombly"])
    local dash = f:req(BETA, "GET", "/api/workflows/" .. WF .. "/dashboard").json
    assert.equal(dash0.total + 3, dash.total)
  end)

  it("reports each bad row and column by row and column, and validate and all_or_nothing write nothing", function()
    local text = csv(
      "Good Row,1980-01-01,+14155550111,,,,",                 -- row 2
      ",1980-01-01,+14155550112,,,,",                         -- row 3: name required
      "Bad Date,1980-02-30,+14155550113,,,,",                 -- row 4
      "Bad Phone,1980-01-01,555-0114,,,,",                    -- row 5
      "Bad Select,1980-01-01,+14155550115,Klingon,,,",        -- row 6
      "Bad Number,1980-01-01,+14155550116,,eleven,,",         -- row 7
      "Too High,1980-01-01,+14155550117,,11,,",               -- row 8
      "Bad Bool,1980-01-01,+14155550118,,,maybe,",            -- row 9
      "Extra Cell,1980-01-01,+14155550119,,,,,surprise",      -- row 10
      "",                                                     -- row 11: an empty line, skipped
      "Two Bad,not a date,+1,,,,")                            -- row 12
    local before = beta_patients()
    local res = import(BETA, { mode = "validate", csv = text })
    assert.status(200, res)
    assert.equal(10, res.json.rows)
    assert.equal(1, res.json.valid)
    assert.equal(9, res.json.invalid)
    local got = {}
    for _, e in ipairs(res.json.errors) do got[#got + 1] = e.row .. " " .. e.column .. ": " .. e.message end
    local want = {
      "3 Patient Name: required",
      "4 date_of_birth: must be a valid date (YYYY-MM-DD)",
      "5 PHONE NUMBER: phone must be E.164, e.g. +15165551234",
      "6 Preferred Language: must be one of: English, Spanish, Mandarin, Other",
      "7 pain_level: must be a number",
      "8 pain_level: must be at most 10",
      "9 Needs Follow-up: must be a boolean",
      "10 column 8: this row has 8 cells, the header names 7",
      "12 date_of_birth: must be a valid date (YYYY-MM-DD)",
      "12 PHONE NUMBER: phone must be E.164, e.g. +15165551234",
    }
    assert.same(want, got)
    assert.equal("patient_name", res.json.errors[1].field)
    -- the preview is the file as read, with the spreadsheet's row numbers
    assert.equal(10, #res.json.preview)
    assert.same({ row = 12, cells = { "Two Bad", "not a date", "+1", "", "", "", "" } }, res.json.preview[10])
    assert.same({ column = "PHONE NUMBER", field = "phone_number" }, res.json.columns[3])

    res = import(BETA, { mode = "all_or_nothing", csv = text })
    assert.status(422, res)
    assert.equal("validation_failed", res.json.error.code)
    assert.equal("phone must be E.164, e.g. +15165551234", res.json.error.fields["rows.5.phone_number"])
    assert.equal(#want, #res.json.errors)
    assert.equal(before, beta_patients())
  end)

  it("reports the file's column problems at row 1 and imports nothing in any mode", function()
    local before = beta_patients()
    local text = "Patient Name,Phone Number,Favourite Colour,call_status,patient_name\r\nX,+14155550120,blue,Done,Y\r\n"
    for _, mode in ipairs({ "validate", "all_or_nothing", "good_rows" }) do
      local res = import(BETA, { mode = mode, csv = text })
      assert.status(mode == "validate" and 200 or 422, res)
      local got = {}
      for _, e in ipairs(res.json.errors) do got[#got + 1] = e.row .. " " .. e.column .. ": " .. e.message end
      assert.same({
        '1 Favourite Colour: no field of this workflow is called that',
        '1 call_status: set by the platform; it cannot be imported',
        '1 patient_name: a second column for patient_name (the first is "Patient Name")',
        '1 Date of Birth: a required field has no column',
      }, got)
      assert.equal(0, res.json.valid)
    end
    assert.equal(before, beta_patients())
  end)

  it("imports only the good rows with good_rows, and reports the others", function()
    local before = beta_patients()
    local res = import(BETA, { mode = "good_rows", csv = csv(
      "Good One,1980-01-01,+14155550131,,,,",
      "Bad One,1980-13-01,+14155550132,,,,",
      "Good Two,1980-01-02,+14155550133,,,,") })
    assert.status(201, res)
    assert.equal(2, res.json.imported)
    assert.equal(1, res.json.invalid)
    assert.equal(3, res.json.errors[1].row)
    assert.equal(before + 2, beta_patients())
    local names = list()
    assert.equal(1, names["Good One"])
    assert.equal(1, names["Good Two"])
    assert.is_nil(names["Bad One"])
    -- no good row at all: 422, nothing written
    res = import(BETA, { mode = "good_rows", csv = csv("Bad Two,1980-13-01,+14155550134,,,,") })
    assert.status(422, res)
    assert.equal(before + 2, beta_patients())
  end)

  it("reads quoted commas and line breaks, doubled quotes, a BOM, semicolons; a formula stays text", function()
    local text = "\239\187\191" .. HEADER .. "\n" ..
      '"Okafor, Ben Jr.",1980-01-01,+14155550141,,,,"line one\nline two, ""quoted"""\n' ..
      '"=HYPERLINK(""http://evil.example"",""x"")",1980-01-01,+14155550142,,,,@SUM(A1)\n'
    local res = import(BETA, { mode = "all_or_nothing", csv = text })
    assert.status(201, res)
    local a = f:req(BETA, "GET", "/api/patients/" .. res.json.patient_ids[1]).json
    assert.equal("Okafor, Ben Jr.", a.patient_name)
    assert.equal('line one\nline two, "quoted"', a.call_notes)
    local b = f:req(BETA, "GET", "/api/patients/" .. res.json.patient_ids[2]).json
    assert.equal('=HYPERLINK("http://evil.example","x")', b.patient_name)
    assert.equal("@SUM(A1)", b.call_notes)

    res = import(BETA, { mode = "all_or_nothing",
      csv = "patient_name;date_of_birth;phone_number\r\n\"Semi; Colon\";1980-01-01;+14155550143\r\n" })
    assert.status(201, res)
    assert.equal("Semi; Colon", f:req(BETA, "GET", "/api/patients/" .. res.json.patient_ids[1]).json.patient_name)
  end)

  it("refuses malformed quoting with its row, and writes nothing", function()
    local before = beta_patients()
    for _, mode in ipairs({ "validate", "all_or_nothing", "good_rows" }) do
      local res = import(BETA, { mode = mode, csv = csv("Ok Row,1980-01-01,+14155550151,,,,", 'Bro"ken,1980-01-01,+1,,,,') })
      assert.status(422, res)
      assert.equal("invalid_csv", res.json.error.code)
      assert.matches("row 3", res.json.error.fields.csv, 1, true)
    end
    -- not UTF-8 (Windows-1252, UTF-16): refused as a whole, nothing echoed
    for _, text in ipairs({ "patient_name\r\nJos\233\r\n", "\255\254p\0a\0" }) do
      local res = import(BETA, { mode = "validate", csv = text })
      assert.status(422, res)
      assert.equal("invalid_csv", res.json.error.code)
      assert.matches("UTF-8", res.json.error.message, 1, true)
    end
    assert.equal(before, beta_patients())
  end)

  it("refuses bad requests, too many rows and too big a body, and writes nothing", function()
    local before = beta_patients()
    local cases = {
      { { mode = "validate" }, "csv" },
      { { mode = "validate", csv = "" }, "csv" },
      { { mode = "validate", csv = 42 }, "csv" },
      { { mode = "import", csv = csv() }, "mode" },
      { { csv = csv() }, "mode" },
      { { mode = "validate", csv = csv(), import_id = "short" }, "import_id" },
      { { mode = "validate", csv = csv(), import_id = "../../etc/passwd" }, "import_id" },
      { { mode = "validate", csv = csv(), extra = true }, "extra" },
    }
    for _, c in ipairs(cases) do
      local res = import(BETA, c[1])
      assert.equal(422, res.status, cjson.encode(c[1]) .. " -> " .. res.body)
      assert.is_string(res.json.error.fields[c[2]], c[2] .. " in " .. res.body)
    end
    assert.status(422, import(BETA, { mode = "all_or_nothing", csv = HEADER .. "\r\n" })) -- a header only
    assert.status(422, import(BETA, { mode = "validate", csv = "\r\n\r\n" }))
    assert.status(400, f:req(BETA, "POST", PATH, nil, { raw = "[1, 2]" }))
    assert.status(400, f:req(BETA, "POST", PATH, nil, { raw = "{not json" }))

    local rows = {}
    for i = 1, 2001 do rows[i] = ("P%d,1980-01-01,+1415555%04d,,,,"):format(i, i) end
    local res = import(BETA, { mode = "good_rows", csv = csv(unpack(rows)) })
    assert.status(413, res)
    assert.equal("too_many_rows", res.json.error.code)
    res = import(BETA, { mode = "validate", csv = HEADER .. "\r\n" .. ("x"):rep(1100 * 1024) })
    assert.status(413, res)
    assert.equal(before, beta_patients())
  end)

  it("imports 2000 rows in one request", function()
    local before = beta_patients()
    local rows = {}
    for i = 1, 2000 do rows[i] = ("Bulk Patient %d,1980-01-01,+1415666%04d,,%d,,"):format(i, i, i % 11) end
    local res = import(BETA, { mode = "all_or_nothing", csv = csv(unpack(rows)) }, nil)
    assert.status(201, res)
    assert.equal(2000, res.json.imported)
    assert.equal(before + 2000, beta_patients())
    io.stderr:write(("2000 rows imported in %.1fs\n"):format(res.elapsed))
    local found = list("bulk%20patient%201999")
    assert.equal(1, found["Bulk Patient 1999"])
  end)

  it("keeps to the clinic: another clinic's workflow is not found, its token not taken", function()
    local h = db:handle()
    local admin = assert(h:find_one("users", { email = BETA.email }))
    local staff = {}
    for k, v in pairs(admin) do staff[k] = v end
    staff._id, staff.email, staff.role = nil, "import.staff@example.com", "staff"
    assert(h:insert("users", staff))
    local token = helpers.login(api, BETA.host, staff.email, helpers.DEMO_PASSWORD)
    assert.truthy(token)
    local before = beta_patients()
    local good = csv("Staff Import,1980-01-01,+14155550161,,,,")
    -- staff may import into their own clinic's workflow, as they may add a patient
    assert.status(201, f:req(BETA, "POST", PATH, { mode = "all_or_nothing", csv = good }, { token = token }))
    -- prior_auth is Alpha's workflow: Beta's users find no such workflow
    local res = f:req(BETA, "POST", "/api/workflows/prior_auth/patients/import",
      { mode = "all_or_nothing", csv = "patient_name\r\nX\r\n" }, { token = token })
    assert.status(404, res)
    assert.status(404, import(BETA, { mode = "validate", csv = good }, "/api/workflows/no_such/patients/import"))
    -- Alpha's token at Beta's host
    assert.status(403, f:req(BETA, "POST", PATH, { mode = "all_or_nothing", csv = good }, { token = (f:login(ALPHA)) }))
    assert.status(401, helpers.http(api, "POST", PATH, { host = BETA.host, body = { mode = "validate", csv = good } }))
    assert.equal(before + 1, beta_patients())
  end)

  it("audits an import as one record with counts and no value from the file", function()
    local h = db:handle()
    local n0 = #h:find("audit_logs", { action = "import" })
    local res = import(BETA, { mode = "good_rows", csv = csv(
      "Audit Secretname,1961-04-12,+14155550171,,,,very private note",
      "Audit Other,1961-13-12,+14155550172,,,,") })
    assert.status(201, res)
    local recs = h:find("audit_logs", { action = "import" }, { sort = { timestamp = -1 } })
    assert.equal(n0 + 1, #recs)
    local rec = recs[1]
    for _, r in ipairs(recs) do if r.details.import_id == res.json.import_id then rec = r end end
    assert.equal(res.json.import_id, rec.details.import_id)
    assert.equal(WF, rec.details.workflow)
    assert.equal(2, rec.details.rows)
    assert.equal(1, rec.details.valid)
    assert.equal(1, rec.details.invalid)
    assert.equal(1, rec.details.imported)
    assert.equal("good_rows", rec.details.mode)
    local text = cjson.encode(helpers.canonical(rec))
    for _, v in ipairs({ "Secretname", "1961", "5550171", "private", "Audit Other" }) do
      assert.is_nil(text:find(v, 1, true), v .. " in the audit record " .. text)
    end
    -- a check is audited too, as import_check
    assert.status(200, import(BETA, { mode = "validate", csv = csv("Audit Check,1961-04-12,+14155550173,,,,") }))
    assert.is_true(#h:find("audit_logs", { action = "import_check", ["details.rows"] = 1 }) > 0)
  end)
end)

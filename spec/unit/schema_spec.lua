-- Unit specs of lua/sova/sandboxed/schema.lua, the one implementation of patient-schema validation.
-- Run from the repo root:
--   busted --lua=luajit --lpath='lua/?.lua;lua/?/init.lua' spec/unit/schema_spec.lua

local cjson = require("cjson")
local schema = require("sova.sandboxed.schema")

local NULL = cjson.null

local function read_json(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return cjson.decode(text)
end

local function fields_of(org, workflow)
  return org.workflows[workflow].patient_schema.fields
end

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function deep_copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = deep_copy(v) end
  return c
end

-- check_field_value on a one-off field definition
local function cv(field, value)
  return schema.check_field_value(field, value)
end

local function refuses(field, value, reason)
  local out, why = cv(field, value)
  assert.is_nil(out)
  assert.is_string(why)
  if reason then assert.are.equal(reason, why) end
  return why
end

local PHONE_REASON = "phone must be E.164, e.g. +15165551234"

describe("sova.schema", function()
  local alpha, beta

  setup(function()
    alpha = read_json("schemas/organizations/demo_clinic_alpha.json")
    beta = read_json("schemas/organizations/demo_clinic_beta.json")
  end)

  ---------------------------------------------------------------------------------------
  describe("SYSTEM_FIELDS", function()
    it("is exactly the platform's patient keys", function()
      local expected = { "_id", "organization_id", "workflow", "call_status", "created_at",
                         "updated_at", "last_call_at", "last_session_id", "list_seq", "list_page",
                         "counted", "counts_dirty" }
      for _, k in ipairs(expected) do assert.is_true(schema.SYSTEM_FIELDS[k], k) end
      assert.are.equal(#expected, count_keys(schema.SYSTEM_FIELDS))
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("demo organization definitions", function()
    local PLAN_PRIOR_AUTH = {
      -- key, label, type, required, display_in_list
      { "patient_name", "Patient Name", "string", true, true },
      { "date_of_birth", "Date of Birth", "date", true, true },
      { "insurance_member_id", "Member ID", "string", true, true },
      { "insurance_company_name", "Insurance Company", "string", true, false },
      { "insurance_phone", "Insurance Phone", "phone", true, true },
      { "facility_name", "Facility", "string", true, false },
      { "provider_name", "Provider Name", "string", true, false },
      { "provider_npi", "Provider NPI", "string", true, false },
      { "cpt_code", "CPT Code", "string", true, true },
      { "appointment_time", "Appointment Time", "datetime", true, false },
      { "supervisor_phone", "Supervisor Phone", "phone", false, false },
      { "prior_auth_status", "Auth Status", "select", false, true },
      { "reference_number", "Reference #", "string", false, true },
    }

    it("Alpha's prior_auth schema has exactly the plan's 13 fields in display order", function()
      local fields = fields_of(alpha, "prior_auth")
      assert.are.equal(13, #fields)
      for i, want in ipairs(PLAN_PRIOR_AUTH) do
        local f = fields[i]
        assert.are.equal(want[1], f.key)
        assert.are.equal(want[2], f.label, f.key)
        assert.are.equal(want[3], f.type, f.key)
        assert.are.equal(want[4], f.required, f.key)
        assert.are.equal(want[5], f.display_in_list, f.key)
        assert.are.equal(i, f.display_order, f.key)
      end
      local status = fields[12]
      assert.are.same({ "Pending", "Approved", "Denied" }, status.options)
      assert.are.equal("Pending", status.default)
      for i, f in ipairs(fields) do
        if i ~= 12 then
          assert.is_nil(f.options, f.key)
          assert.is_nil(f.default, f.key)
        end
      end
    end)

    it("organizations carry slug, branding, domains, users and workflows", function()
      assert.are.equal("demo_clinic_alpha", alpha.slug)
      assert.are.equal("Demo Clinic Alpha", alpha.name)
      assert.are.equal("Demo Clinic Alpha", alpha.branding.company_name)
      assert.are.same({ "democlinicalpha.datasova.com", "democlinicalpha.localhost" }, alpha.domains)
      assert.are.same({ { email = "adambehun22@gmail.com", role = "admin" } }, alpha.users)
      assert.is_true(alpha.workflows.prior_auth.enabled)
      assert.is_true(alpha.workflows.patient_questions.enabled)
      assert.are.equal(2, count_keys(alpha.workflows))

      assert.are.equal("demo_clinic_beta", beta.slug)
      assert.are.equal("Demo Clinic Beta", beta.name)
      assert.are.same({ "democlinicbeta.datasova.com", "democlinicbeta.localhost" }, beta.domains)
      assert.are.same({ { email = "adam@datasova.com", role = "admin" } }, beta.users)
      assert.are.equal(1, count_keys(beta.workflows))
      assert.is_true(beta.workflows.patient_questions.enabled)
    end)

    it("every demo workflow schema passes check_definition", function()
      for _, org in ipairs({ alpha, beta }) do
        for name, wf in pairs(org.workflows) do
          local ok, reason = schema.check_definition(wf.patient_schema.fields)
          assert.is_true(ok, org.slug .. "/" .. name .. ": " .. tostring(reason))
        end
      end
    end)

    it("display_order is 1..n in array order in every demo schema", function()
      for _, org in ipairs({ alpha, beta }) do
        for _, wf in pairs(org.workflows) do
          for i, f in ipairs(wf.patient_schema.fields) do assert.are.equal(i, f.display_order) end
        end
      end
    end)

    it("patient_questions schemas identify the patient and record the check-in outcome", function()
      for _, org in ipairs({ alpha, beta }) do
        local by = {}
        for _, f in ipairs(fields_of(org, "patient_questions")) do by[f.key] = f end
        assert.are.equal("string", by.patient_name.type)
        assert.is_true(by.patient_name.required)
        assert.are.equal("date", by.date_of_birth.type)
        assert.are.equal("phone", by.phone_number.type)
        assert.is_true(by.phone_number.required)
        assert.are.equal("datetime", by.appointment_time.type)
        assert.are.equal("select", by.checkin_status.type)
        assert.are.equal("Not Reached", by.checkin_status.default)
        assert.are.equal("boolean", by.needs_follow_up.type)
        assert.are.equal("string", by.call_notes.type)
      end
    end)

    it("Beta's patient_questions differs from Alpha's", function()
      local a, b = {}, {}
      for _, f in ipairs(fields_of(alpha, "patient_questions")) do a[f.key] = f end
      for _, f in ipairs(fields_of(beta, "patient_questions")) do b[f.key] = f end
      assert.is_nil(a.preferred_language)
      assert.is_nil(a.pain_level)
      assert.are.equal("select", b.preferred_language.type)
      assert.are.equal("number", b.pain_level.type)
      assert.are.equal(0, b.pain_level.min)
      assert.are.equal(10, b.pain_level.max)
    end)

    it("creates a full prior_auth patient like the plan's example, normalized", function()
      local input = cjson.decode([[{
        "patient_name": "John Smith", "date_of_birth": "03/15/1985",
        "insurance_member_id": "ABC123456", "insurance_company_name": "Aetna",
        "insurance_phone": "+15165667132", "facility_name": "City Medical Center",
        "provider_name": "Dr. Jane Wilson", "provider_npi": "1234567890", "cpt_code": "99213",
        "appointment_time": "12/01/2024 02:30 PM", "supervisor_phone": "+1 (516) 555-1234",
        "reference_number": null }]])
      local doc, errs = schema.validate(fields_of(alpha, "prior_auth"), input, "create")
      assert.is_nil(errs)
      assert.are.same({
        patient_name = "John Smith", date_of_birth = "1985-03-15",
        insurance_member_id = "ABC123456", insurance_company_name = "Aetna",
        insurance_phone = "+15165667132", facility_name = "City Medical Center",
        provider_name = "Dr. Jane Wilson", provider_npi = "1234567890", cpt_code = "99213",
        appointment_time = "2024-12-01T14:30:00", supervisor_phone = "+15165551234",
        prior_auth_status = "Pending",
      }, doc)
    end)

    it("an empty prior_auth create names each of the 10 required fields", function()
      local doc, errs = schema.validate(fields_of(alpha, "prior_auth"), {}, "create")
      assert.is_nil(doc)
      local n = 0
      for _, f in ipairs(fields_of(alpha, "prior_auth")) do
        if f.required then
          assert.are.equal("required", errs[f.key], f.key)
          n = n + 1
        else
          assert.is_nil(errs[f.key], f.key)
        end
      end
      assert.are.equal(10, n)
      assert.are.equal(10, count_keys(errs))
    end)

    it("a Beta check-in validates pain_level and preferred_language; Alpha refuses them", function()
      local input = {
        patient_name = "Maria Lopez", date_of_birth = "1970-02-28", phone_number = "+1 516 555 0101",
        pain_level = 4, preferred_language = "Spanish",
      }
      local doc, errs = schema.validate(fields_of(beta, "patient_questions"), input, "create")
      assert.is_nil(errs)
      assert.are.equal(4, doc.pain_level)
      assert.are.equal("Spanish", doc.preferred_language)
      assert.are.equal("+15165550101", doc.phone_number)
      assert.are.equal("Not Reached", doc.checkin_status)
      assert.are.equal(false, doc.needs_follow_up)

      local _, errs2 = schema.validate(fields_of(beta, "patient_questions"),
        { pain_level = 11 }, "update")
      assert.are.equal("must be at most 10", errs2.pain_level)

      input.appointment_time = "2025-01-10T09:00"
      local doc3, errs3 = schema.validate(fields_of(alpha, "patient_questions"), input, "create")
      assert.is_nil(doc3)
      assert.are.equal("unknown field", errs3.pain_level)
      assert.are.equal("unknown field", errs3.preferred_language)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("check_field_value", function()
    describe("string", function()
      local f = { key = "s", label = "S", type = "string" }

      it("accepts and trims", function()
        assert.are.equal("hello world", cv(f, "  hello world \n\t"))
        assert.are.equal("a\tb\nc\r\nd", cv(f, "a\tb\nc\r\nd"))
        assert.are.equal("Zoë 🙂", cv(f, "Zoë 🙂"))
      end)

      it("refuses non-strings, including operator objects", function()
        refuses(f, 42, "must be a string")
        refuses(f, true, "must be a string")
        refuses(f, { ["$gt"] = "" }, "must be a string")
        refuses(f, { "a", "b" }, "must be a string")
        refuses(f, {}, "must be a string")
      end)

      it("refuses NUL bytes and control characters", function()
        refuses(f, "abc\0def", "must not contain NUL bytes")
        refuses(f, "\0", "must not contain NUL bytes")
        refuses(f, "bell\7", "must not contain control characters")
        refuses(f, "esc\27[31m", "must not contain control characters")
        refuses(f, "del\127", "must not contain control characters")
        refuses(f, "vt\11x", "must not contain control characters")
      end)

      it("refuses invalid UTF-8", function()
        refuses(f, "bad \255 byte", "must be valid UTF-8 text")
        refuses(f, "overlong \192\175", "must be valid UTF-8 text")
        refuses(f, "surrogate \237\160\128", "must be valid UTF-8 text")
        refuses(f, "truncated \226\130", "must be valid UTF-8 text")
      end)

      it("limits length to 1000 bytes by default, measured after trimming", function()
        assert.are.equal(1000, #cv(f, string.rep("x", 1000)))
        assert.are.equal(1000, #cv(f, "   " .. string.rep("x", 1000) .. "   "))
        refuses(f, string.rep("x", 1001), "must be at most 1000 characters")
        -- bytes, not characters: 500 two-byte characters fit, 501 do not
        assert.is_string(cv(f, string.rep("é", 500)))
        refuses(f, string.rep("é", 501), "must be at most 1000 characters")
      end)

      it("honours max_length", function()
        local short = { key = "s", label = "S", type = "string", max_length = 5 }
        assert.are.equal("abcde", cv(short, "abcde"))
        refuses(short, "abcdef", "must be at most 5 characters")
      end)

      it("refuses a huge string quickly", function()
        local huge = string.rep("A", 8 * 1024 * 1024)
        local t0 = os.clock()
        refuses(f, huge, "must be at most 1000 characters")
        refuses(f, huge .. string.rep(" ", 100000), "must be at most 1000 characters")
        -- a megabyte of inner spaces must not trigger quadratic trimming
        refuses(f, "a" .. string.rep(" ", 1024 * 1024) .. "b", "must be at most 1000 characters")
        assert.is_true(os.clock() - t0 < 2)
      end)

      it("blank and null clear an optional field, and are 'required' for a required one", function()
        assert.are.equal(NULL, cv(f, ""))
        assert.are.equal(NULL, cv(f, "   "))
        assert.are.equal(NULL, cv(f, NULL))
        assert.are.equal(NULL, cv(f, nil))
        local req = { key = "s", label = "S", type = "string", required = true }
        refuses(req, "", "required")
        refuses(req, " \t ", "required")
        refuses(req, NULL, "required")
        refuses(req, nil, "required")
      end)
    end)

    describe("date", function()
      local f = { key = "d", label = "D", type = "date" }

      it("accepts YYYY-MM-DD and MM/DD/YYYY, normalized to YYYY-MM-DD", function()
        assert.are.equal("1985-03-15", cv(f, "1985-03-15"))
        assert.are.equal("1985-03-15", cv(f, "03/15/1985"))
        assert.are.equal("1985-03-05", cv(f, "3/5/1985"))
        assert.are.equal("1985-03-15", cv(f, " 1985-03-15 "))
      end)

      it("knows the calendar", function()
        assert.are.equal("2024-02-29", cv(f, "2024-02-29"))
        assert.are.equal("2000-02-29", cv(f, "02/29/2000"))
        refuses(f, "2023-02-29")
        refuses(f, "1900-02-29")
        refuses(f, "2024-04-31")
        refuses(f, "2024-13-01")
        refuses(f, "2024-00-10")
        refuses(f, "2024-01-00")
        refuses(f, "0000-01-01")
        refuses(f, "13/01/2024")
      end)

      it("refuses other formats and types", function()
        local why = refuses(f, "15.03.1985")
        assert.are.equal("must be a valid date (YYYY-MM-DD)", why)
        refuses(f, "1985-3-15")
        refuses(f, "85-03-15")
        refuses(f, "1985-03-15T00:00:00")
        refuses(f, "1985-03-15\0")
        refuses(f, "yesterday")
        refuses(f, 19850315, "must be a date")
        refuses(f, { ["$gt"] = "" }, "must be a date")
      end)
    end)

    describe("datetime", function()
      local f = { key = "t", label = "T", type = "datetime" }

      it("accepts ISO 8601 and normalizes seconds and zone", function()
        assert.are.equal("2024-12-01T14:30:00Z", cv(f, "2024-12-01T14:30Z"))
        assert.are.equal("2024-12-01T14:30:00Z", cv(f, "2024-12-01T14:30:00Z"))
        assert.are.equal("2024-12-01T14:30:15", cv(f, "2024-12-01T14:30:15"))
        assert.are.equal("2024-12-01T14:30:00", cv(f, "2024-12-01T14:30"))
        assert.are.equal("2024-12-01T14:30:00-05:00", cv(f, "2024-12-01T14:30-05:00"))
        assert.are.equal("2024-12-01T14:30:00+05:30", cv(f, "2024-12-01T14:30:00+0530"))
        assert.are.equal("2024-12-01T14:30:00Z", cv(f, "2024-12-01 14:30:00z"))
      end)

      it("accepts a JavaScript toISOString() value, dropping the milliseconds", function()
        assert.are.equal("2024-12-01T14:30:00Z", cv(f, "2024-12-01T14:30:00.000Z"))
      end)

      it("accepts the US style staff type, as 24-hour local time", function()
        assert.are.equal("2024-12-01T14:30:00", cv(f, "12/01/2024 02:30 PM"))
        assert.are.equal("2024-12-01T00:05:00", cv(f, "12/1/2024 12:05 am"))
        assert.are.equal("2024-12-01T12:05:00", cv(f, "12/01/2024 12:05PM"))
        assert.are.equal("2024-12-01T14:30:00", cv(f, "12/01/2024 14:30"))
        refuses(f, "12/01/2024 13:30 PM")
      end)

      it("refuses impossible values and other formats", function()
        local why = refuses(f, "2024-12-01")
        assert.are.equal("must be a valid date and time (YYYY-MM-DDTHH:MM)", why)
        refuses(f, "2024-02-30T10:00")
        refuses(f, "2024-12-01T24:00")
        refuses(f, "2024-12-01T12:60")
        refuses(f, "2024-12-01T12:00:60")
        refuses(f, "2024-12-01T12:00+15:00")
        refuses(f, "2024-12-01T12:00 UTC")
        refuses(f, "2024-12-01T12:00Zjunk")
        refuses(f, "tomorrow at noon")
        refuses(f, 1733063400, "must be a datetime")
        refuses(f, { ["$ne"] = NULL }, "must be a datetime")
      end)
    end)

    describe("select", function()
      local f = { key = "st", label = "St", type = "select", options = { "Pending", "Approved", "Denied" } }

      it("accepts exactly one of the options", function()
        assert.are.equal("Approved", cv(f, "Approved"))
        assert.are.equal("Denied", cv(f, "Denied"))
      end)

      it("refuses anything else, naming the options", function()
        refuses(f, "approved", "must be one of: Pending, Approved, Denied")
        refuses(f, "Approved ", "must be one of: Pending, Approved, Denied")
        refuses(f, "Maybe", "must be one of: Pending, Approved, Denied")
        refuses(f, 1, "must be one of: Pending, Approved, Denied")
        refuses(f, { ["$in"] = { "Approved" } }, "must be one of: Pending, Approved, Denied")
      end)
    end)

    describe("number", function()
      local f = { key = "n", label = "N", type = "number", min = 0, max = 10 }

      it("accepts numbers within min/max", function()
        assert.are.equal(0, cv(f, 0))
        assert.are.equal(10, cv(f, 10))
        assert.are.equal(7.5, cv(f, 7.5))
        assert.are.equal(-3, cv({ key = "n", label = "N", type = "number" }, -3))
      end)

      it("refuses out of range, non-finite and non-numbers", function()
        refuses(f, -1, "must be at least 0")
        refuses(f, 10.5, "must be at most 10")
        refuses(f, 0 / 0, "must be a finite number")
        refuses(f, math.huge, "must be a finite number")
        refuses(f, -math.huge, "must be a finite number")
        refuses(f, "5", "must be a number")
        refuses(f, true, "must be a number")
        refuses(f, { ["$gt"] = 0 }, "must be a number")
      end)

      it("refuses a JSON number that overflows to infinity", function()
        local v = cjson.decode('{"n": 1e999}').n
        refuses({ key = "n", label = "N", type = "number" }, v, "must be a finite number")
      end)
    end)

    describe("boolean", function()
      local f = { key = "b", label = "B", type = "boolean" }

      it("accepts true and false", function()
        assert.are.equal(true, cv(f, true))
        assert.are.equal(false, cv(f, false))
      end)

      it("refuses look-alikes", function()
        refuses(f, "true", "must be a boolean")
        refuses(f, 1, "must be a boolean")
        refuses(f, 0, "must be a boolean")
        refuses(f, { ["$exists"] = true }, "must be a boolean")
      end)

      it("false is a value, not an empty one, for a required field", function()
        assert.are.equal(false, cv({ key = "b", label = "B", type = "boolean", required = true }, false))
      end)
    end)

    describe("phone", function()
      local f = { key = "p", label = "P", type = "phone" }

      it("accepts E.164 and strips spaces, dashes, parentheses", function()
        assert.are.equal("+15165551234", cv(f, "+15165551234"))
        assert.are.equal("+15165551234", cv(f, "+1 (516) 555-1234"))
        assert.are.equal("+15165551234", cv(f, " +1-516-555-1234 "))
        assert.are.equal("+442071838750", cv(f, "+44 20 7183 8750"))
        assert.are.equal("+12345678", cv(f, "+12345678"))             -- 8 digits: shortest
        assert.are.equal("+123456789012345", cv(f, "+123456789012345")) -- 15 digits: longest
      end)

      it("does not assume a country for a bare number", function()
        refuses(f, "5165551234", PHONE_REASON)
        refuses(f, "(516) 555-1234", PHONE_REASON)
        refuses(f, "15165551234", PHONE_REASON)
      end)

      it("refuses malformed numbers", function()
        refuses(f, "+05165551234", PHONE_REASON)
        refuses(f, "+1234567", PHONE_REASON)           -- 7 digits
        refuses(f, "+1234567890123456", PHONE_REASON)  -- 16 digits
        refuses(f, "+1516555123x", PHONE_REASON)
        refuses(f, "++15165551234", PHONE_REASON)
        refuses(f, "+1516+5551234", PHONE_REASON)
        refuses(f, "+15165551234\0", PHONE_REASON)
        refuses(f, "tel:+15165551234", PHONE_REASON)
        refuses(f, 15165551234, "must be a phone")
        refuses(f, { ["$regex"] = ".*" }, "must be a phone")
      end)
    end)

    describe("email", function()
      local f = { key = "e", label = "E", type = "email" }

      it("accepts addresses and lowercases the domain only", function()
        assert.are.equal("adam@datasova.com", cv(f, "adam@datasova.com"))
        assert.are.equal("Adam.Behun+test@gmail.com", cv(f, " Adam.Behun+test@GMAIL.Com "))
        assert.are.equal("a_b-c@mail.clinic-alpha.co.uk", cv(f, "a_b-c@mail.clinic-alpha.co.uk"))
      end)

      it("refuses malformed addresses", function()
        local reason = "must be a valid email address"
        refuses(f, "adam", reason)
        refuses(f, "adam@", reason)
        refuses(f, "@datasova.com", reason)
        refuses(f, "adam@datasova", reason)
        refuses(f, "adam@@datasova.com", reason)
        refuses(f, "a@b@datasova.com", reason)
        refuses(f, "adam smith@datasova.com", reason)
        refuses(f, ".adam@datasova.com", reason)
        refuses(f, "ad..am@datasova.com", reason)
        refuses(f, "adam@-datasova.com", reason)
        refuses(f, "adam@datasova..com", reason)
        refuses(f, "adam@datasova.123", reason)
        refuses(f, "adam@data_sova.com", reason)
        refuses(f, "adam@datasova.com\0evil", "must not contain NUL bytes")
        refuses(f, "adam@datasova.com\r\nBcc: x@y.z", "must be a valid email address")
        refuses(f, { ["$ne"] = "" }, "must be an email")
      end)

      it("limits the length to 254", function()
        local long = string.rep("a", 64) .. "@" .. string.rep("b", 63) .. "." .. string.rep("c", 63)
          .. "." .. string.rep("d", 63) .. ".com"
        assert.is_true(#long > 254)
        refuses(f, long, "must be at most 254 characters")
        refuses(f, string.rep("a", 65) .. "@datasova.com", "must be a valid email address")
      end)
    end)

    it("reports an unknown type", function()
      refuses({ key = "x", label = "X", type = "blob" }, "v", "unknown field type blob")
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("validate", function()
    local FIELDS = {
      { key = "name", label = "Name", type = "string", required = true },
      { key = "dob", label = "DOB", type = "date", required = true },
      { key = "phone", label = "Phone", type = "phone", required = false },
      { key = "status", label = "Status", type = "select", options = { "Open", "Done" }, default = "Open" },
      { key = "score", label = "Score", type = "number", min = 1, max = 5 },
      { key = "vip", label = "VIP", type = "boolean" },
      { key = "note", label = "Note", type = "string" },
    }

    it("create: returns only schema keys, normalized, with defaults applied", function()
      local doc, errs = schema.validate(FIELDS, { name = " Ann ", dob = "01/02/1990" }, "create")
      assert.is_nil(errs)
      assert.are.same({ name = "Ann", dob = "1990-01-02", status = "Open" }, doc)
    end)

    it("create: a given select value wins over the default", function()
      local doc = schema.validate(FIELDS, { name = "Ann", dob = "1990-01-02", status = "Done" }, "create")
      assert.are.equal("Done", doc.status)
    end)

    it("create: null or blank is treated as missing (default or required)", function()
      local input = cjson.decode('{"name":"Ann","dob":"1990-01-02","status":null,"note":"  ","phone":null}')
      local doc, errs = schema.validate(FIELDS, input, "create")
      assert.is_nil(errs)
      assert.are.same({ name = "Ann", dob = "1990-01-02", status = "Open" }, doc)

      local doc2, errs2 = schema.validate(FIELDS, cjson.decode('{"name":"","dob":null}'), "create")
      assert.is_nil(doc2)
      assert.are.same({ name = "required", dob = "required" }, errs2)
    end)

    it("create: collects every error at once", function()
      local doc, errs = schema.validate(FIELDS,
        { name = 5, dob = "1990-02-30", phone = "5165551234", status = "Nope", score = 9, vip = "yes" }, "create")
      assert.is_nil(doc)
      assert.are.same({
        name = "must be a string",
        dob = "must be a valid date (YYYY-MM-DD)",
        phone = PHONE_REASON,
        status = "must be one of: Open, Done",
        score = "must be at most 5",
        vip = "must be a boolean",
      }, errs)
    end)

    it("refuses unknown keys", function()
      local doc, errs = schema.validate(FIELDS, { name = "Ann", dob = "1990-01-02", colour = "red" }, "create")
      assert.is_nil(doc)
      assert.are.same({ colour = "unknown field" }, errs)
    end)

    it("refuses system fields, in both modes", function()
      for _, mode in ipairs({ "create", "update" }) do
        local input = { name = "Ann", dob = "1990-01-02" }
        for k in pairs(schema.SYSTEM_FIELDS) do input[k] = "x" end
        local doc, errs = schema.validate(FIELDS, input, mode)
        assert.is_nil(doc)
        for k in pairs(schema.SYSTEM_FIELDS) do
          assert.are.equal("system field, not settable", errs[k], k)
        end
        assert.are.equal(count_keys(schema.SYSTEM_FIELDS), count_keys(errs))
      end
    end)

    it("refuses keys with $, dots or NUL bytes", function()
      local input = { name = "Ann", dob = "1990-01-02" }
      input["$where"] = "sleep(1000)"
      input["$set"] = { organization_id = "other" }
      input["name.first"] = "x"
      input["note\0"] = "x"
      input["."] = 1
      local doc, errs = schema.validate(FIELDS, input, "update")
      assert.is_nil(doc)
      assert.are.same({
        ["$where"] = "invalid field name", ["$set"] = "invalid field name",
        ["name.first"] = "invalid field name", ["note\0"] = "invalid field name",
        ["."] = "invalid field name",
      }, errs)
    end)

    it("refuses operator injection in values", function()
      local input = cjson.decode('{"name":{"$gt":""},"dob":{"$ne":null},"status":{"$in":["Open"]},"score":{"$gt":0}}')
      local doc, errs = schema.validate(FIELDS, input, "create")
      assert.is_nil(doc)
      assert.are.equal("must be a string", errs.name)
      assert.are.equal("must be a date", errs.dob)
      assert.are.equal("must be one of: Open, Done", errs.status)
      assert.are.equal("must be a number", errs.score)
    end)

    it("refuses a NUL byte in a value", function()
      local _, errs = schema.validate(FIELDS, cjson.decode('{"name":"Ann\\u0000x","dob":"1990-01-02"}'), "create")
      assert.are.equal("must not contain NUL bytes", errs.name)
    end)

    it("refuses a huge value without failing", function()
      local input = { name = string.rep("x", 5 * 1024 * 1024), dob = "1990-01-02" }
      local doc, errs = schema.validate(FIELDS, input, "create")
      assert.is_nil(doc)
      assert.are.equal("must be at most 1000 characters", errs.name)
    end)

    it("refuses input that is not a JSON object", function()
      local K = schema.INPUT_ERROR_KEY
      for _, bad in ipairs({ "str", 42, true, NULL, { "a", "b" }, { [1] = "x", name = "Ann" } }) do
        local doc, errs = schema.validate(FIELDS, bad, "create")
        assert.is_nil(doc)
        assert.are.equal("must be a JSON object", errs[K])
      end
      local doc, errs = schema.validate(FIELDS, nil, "update")
      assert.is_nil(doc)
      assert.are.equal("must be a JSON object", errs[K])
      local arr = cjson.decode('["name"]')
      local _, errs2 = schema.validate(FIELDS, arr, "update")
      assert.are.equal("must be a JSON object", errs2[K])
    end)

    it("the input error key cannot collide with a field key", function()
      assert.is_false(schema.valid_key(schema.INPUT_ERROR_KEY))
    end)

    it("refuses a document with too many keys as a whole", function()
      local input = {}
      for i = 1, schema.MAX_INPUT_KEYS + 1 do input["k" .. i] = i end
      local doc, errs = schema.validate(FIELDS, input, "update")
      assert.is_nil(doc)
      assert.are.same({ [schema.INPUT_ERROR_KEY] = "too many fields" }, errs)
    end)

    it("does not modify its input", function()
      local input = { name = "  Ann ", dob = "01/02/1990", status = NULL }
      local before = deep_copy(input)
      schema.validate(FIELDS, input, "create")
      assert.are.same(before, input)
    end)

    it("an empty object is a valid (no-op) update", function()
      local doc, errs = schema.validate(FIELDS, {}, "update")
      assert.is_nil(errs)
      assert.are.same({}, doc)
    end)

    describe("update mode", function()
      it("validates only the given keys, and applies no defaults", function()
        local doc, errs = schema.validate(FIELDS, { phone = "+1 516 555 1234" }, "update")
        assert.is_nil(errs)
        assert.are.same({ phone = "+15165551234" }, doc)
      end)

      it("clears an optional field given null or blank", function()
        local doc, errs = schema.validate(FIELDS, cjson.decode('{"phone":null,"note":"","status":" "}'), "update")
        assert.is_nil(errs)
        assert.are.same({ phone = NULL, note = NULL, status = NULL }, doc)
        assert.are.equal(NULL, doc.phone)
      end)

      it("a required field may not be set to null or blank", function()
        local doc, errs = schema.validate(FIELDS, cjson.decode('{"name":null,"dob":"  "}'), "update")
        assert.is_nil(doc)
        assert.are.same({ name = "required", dob = "required" }, errs)
      end)

      it("still refuses bad values, unknown and system keys", function()
        local doc, errs = schema.validate(FIELDS, { score = 0, nope = 1, call_status = "Done" }, "update")
        assert.is_nil(doc)
        assert.are.same({
          score = "must be at least 1", nope = "unknown field", call_status = "system field, not settable",
        }, errs)
      end)
    end)

    it("raises on a programming error: bad mode or fields", function()
      assert.has_error(function() schema.validate(FIELDS, {}, "upsert") end)
      assert.has_error(function() schema.validate(FIELDS, {}) end)
      assert.has_error(function() schema.validate(nil, {}, "create") end)
    end)
  end)

  ---------------------------------------------------------------------------------------
  describe("check_definition", function()
    local function base()
      return {
        { key = "patient_name", label = "Patient Name", type = "string", required = true,
          display_in_list = true, display_order = 1, max_length = 200, placeholder = "Jane Doe", help = "Full name" },
        { key = "status", label = "Status", type = "select", options = { "A", "B" }, default = "A" },
        { key = "score", label = "Score", type = "number", min = 0, max = 10, default = 5 },
        { key = "flag", label = "Flag", type = "boolean", default = false },
        { key = "when", label = "When", type = "datetime" },
        { key = "dob", label = "DOB", type = "date" },
        { key = "phone", label = "Phone", type = "phone" },
        { key = "email", label = "Email", type = "email" },
      }
    end

    local function broken(mutate)
      local fields = base()
      mutate(fields)
      local ok, reason = schema.check_definition(fields)
      assert.is_nil(ok)
      assert.is_string(reason)
      return reason
    end

    it("accepts a well-formed definition with every type", function()
      assert.is_true(schema.check_definition(base()))
    end)

    it("refuses a non-array or empty fields list", function()
      assert.is_nil(schema.check_definition({}))
      assert.is_nil(schema.check_definition(nil))
      assert.is_nil(schema.check_definition("fields"))
      assert.is_nil(schema.check_definition({ patient_name = { key = "patient_name", label = "P", type = "string" } }))
      local ok, reason = schema.check_definition({})
      assert.is_nil(ok)
      assert.are.equal("fields must be a non-empty array", reason)
    end)

    it("refuses duplicate keys", function()
      local reason = broken(function(f) f[3].key = "status" end)
      assert.are.equal("field 3 (status): duplicate key", reason)
    end)

    it("refuses malformed keys", function()
      for _, k in ipairs({ "Patient", "1abc", "_x", "a-b", "a.b", "$where", "", "a b", "a\0",
                           "a" .. string.rep("b", 64) }) do
        broken(function(f) f[1].key = k end)
      end
      broken(function(f) f[1].key = nil end)
      broken(function(f) f[1].key = 7 end)
      -- 64 characters is the longest allowed key
      local fields = base()
      fields[1].key = "a" .. string.rep("b", 63)
      assert.is_true(schema.check_definition(fields))
    end)

    it("refuses system field keys", function()
      for k in pairs(schema.SYSTEM_FIELDS) do
        broken(function(f) f[1].key = k end)
      end
      assert.are.equal("field 1 (workflow): key is a system field", broken(function(f) f[1].key = "workflow" end))
    end)

    it("refuses unknown types and missing labels", function()
      assert.are.equal("field 1 (patient_name): unknown type text",
        broken(function(f) f[1].type = "text" end))
      broken(function(f) f[1].type = nil end)
      broken(function(f) f[1].label = nil end)
      broken(function(f) f[1].label = "  " end)
      broken(function(f) f[1].label = 3 end)
    end)

    it("refuses a select without non-empty, unique options", function()
      assert.are.equal("field 2 (status): select needs a non-empty options list",
        broken(function(f) f[2].options = nil; f[2].default = nil end))
      broken(function(f) f[2].options = {}; f[2].default = nil end)
      broken(function(f) f[2].options = "A,B" end)
      broken(function(f) f[2].options = { "A", "A" } end)
      broken(function(f) f[2].options = { "A", "" } end)
      broken(function(f) f[2].options = { "A", 2 } end)
      broken(function(f) f[2].options = { "A", NULL } end)
    end)

    it("refuses a default outside the options", function()
      assert.are.equal("field 2 (status): default must be one of the options",
        broken(function(f) f[2].default = "C" end))
      broken(function(f) f[2].default = NULL end)
    end)

    it("refuses defaults of the wrong type", function()
      broken(function(f) f[3].default = 11 end)      -- beyond max
      broken(function(f) f[3].default = "5" end)
      broken(function(f) f[4].default = "false" end)
      broken(function(f) f[7].default = "5165551234" end)
      broken(function(f) f[6].default = "" end)
    end)

    it("refuses attributes on the wrong type", function()
      broken(function(f) f[1].options = { "A" } end)
      broken(function(f) f[1].min = 0 end)
      broken(function(f) f[7].max_length = 20 end)
      broken(function(f) f[3].min = 11 end)          -- min > max
      broken(function(f) f[3].max = 0 / 0 end)
      broken(function(f) f[3].max = "10" end)
    end)

    it("refuses bad flags, order, max_length and texts", function()
      broken(function(f) f[1].required = "yes" end)
      broken(function(f) f[1].display_in_list = 1 end)
      broken(function(f) f[1].display_order = -1 end)
      broken(function(f) f[1].display_order = 1.5 end)
      broken(function(f) f[1].max_length = 0 end)
      broken(function(f) f[1].max_length = 100001 end)
      broken(function(f) f[1].max_length = 2.5 end)
      broken(function(f) f[1].placeholder = 3 end)
      broken(function(f) f[1].help = string.rep("h", 501) end)
    end)

    it("refuses unknown attributes", function()
      assert.are.equal("field 1 (patient_name): unknown attribute pattern",
        broken(function(f) f[1].pattern = ".*" end))
      broken(function(f) f[1]["$where"] = "1" end)
    end)

    it("refuses a field that is not an object", function()
      broken(function(f) f[2] = "status" end)
    end)

    it("refuses a demo schema once broken", function()
      local fields = deep_copy(fields_of(alpha, "prior_auth"))
      fields[12].default = "Unknown"
      local ok, reason = schema.check_definition(fields)
      assert.is_nil(ok)
      assert.are.equal("field 12 (prior_auth_status): default must be one of the options", reason)
    end)
  end)
end)

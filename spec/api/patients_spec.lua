-- Patients: CRUD per workflow with schema validation, lists (pagination, search), dashboards,
-- sessions. Two logins (Alpha, Beta) for the whole file.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local null = helpers.null

local SYSTEM_KEYS = { "id", "workflow", "call_status", "created_at", "updated_at" }

-- the three tenant workflows: who, workflow, org key of the fixtures
local CASES = {
  { who = ALPHA, wf = "prior_auth", org = "alpha" },
  { who = ALPHA, wf = "patient_questions", org = "alpha" },
  { who = BETA, wf = "patient_questions", org = "beta" },
}

local function is_id(s)
  return type(s) == "string" and #s == 24 and s:match("^%x+$") ~= nil
end

describe("patients #api", function()
  local db, api, f

  local function create(c, overrides)
    return f:patient(c.who, c.wf, overrides)
  end

  local function patient_count()
    return helpers.count(db, "patients")
  end

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    f:login(ALPHA)
    f:login(BETA)
  end)

  lazy_teardown(helpers.stop_all)

  for _, c in ipairs(CASES) do
    describe(c.org .. " " .. c.wf, function()
      local created

      it("creates a patient: 201 with id, workflow, call_status, timestamps and the fields", function()
        local body = helpers.valid_patient(c.wf, c.org)
        local res = f:req(c.who, "POST", "/api/workflows/" .. c.wf .. "/patients", body)
        assert.status(201, res)
        created = res.json
        assert.truthy(is_id(created.id))
        assert.equal(c.wf, created.workflow)
        assert.is_string(created.call_status)
        assert.truthy(created.created_at)
        assert.truthy(created.updated_at)
        for k, v in pairs(body) do
          if k ~= "appointment_time" then assert.same(v, created[k], k) end
        end
        assert.truthy(tostring(created.appointment_time):find(body.appointment_time:sub(1, 16), 1, true))
        assert.is_nil(created.organization_id)
        assert.is_nil(created._id)
        -- stored flat, beside organization_id and workflow
        local doc = db:handle():find_one("patients", { _id = helpers.oid(created.id) })
        assert.truthy(doc)
        assert.equal(c.wf, doc.workflow)
        assert.equal(tostring(helpers.org_doc(db, c.who)._id), tostring(doc.organization_id))
        assert.equal(body.patient_name, doc.patient_name)
      end)

      it("reads it back with GET /api/patients/{id}", function()
        local res = f:req(c.who, "GET", "/api/patients/" .. created.id)
        assert.status(200, res)
        assert.same(created, res.json)
      end)

      it("updates one field with PATCH, leaving the others", function()
        local res = f:req(c.who, "PATCH", "/api/patients/" .. created.id, { patient_name = "Renamed Person" })
        assert.status(200, res)
        assert.equal("Renamed Person", res.json.patient_name)
        assert.equal(created.date_of_birth, res.json.date_of_birth)
        assert.equal(created.id, res.json.id)
        assert.equal(created.created_at, res.json.created_at)
        local again = f:req(c.who, "GET", "/api/patients/" .. created.id)
        assert.equal("Renamed Person", again.json.patient_name)
      end)

      it("refuses to clear a required field with PATCH (422), changing nothing", function()
        local res = f:req(c.who, "PATCH", "/api/patients/" .. created.id, { patient_name = "" })
        assert.status(422, res)
        assert.is_string(res.json.error.fields.patient_name)
        assert.equal("Renamed Person", f:req(c.who, "GET", "/api/patients/" .. created.id).json.patient_name)
      end)

      it("refuses system fields and unknown keys in PATCH (422)", function()
        for _, body in ipairs({
          { call_status = "Completed" }, { organization_id = "x" }, { workflow = "prior_auth" },
          { _id = "x" }, { created_at = "2020-01-01" }, { no_such_field = "x" },
        }) do
          local k = next(body)
          local res = f:req(c.who, "PATCH", "/api/patients/" .. created.id, body)
          assert.status(422, res)
          assert.is_string(res.json.error.fields[k], k)
        end
        local doc = db:handle():find_one("patients", { _id = helpers.oid(created.id) })
        assert.equal(c.wf, doc.workflow)
        assert.equal(created.call_status, doc.call_status)
        assert.is_nil(doc.no_such_field)
      end)

      it("lists it in GET /api/workflows/{wf}/patients", function()
        local res = f:req(c.who, "GET", "/api/workflows/" .. c.wf .. "/patients")
        assert.status(200, res)
        assert.is_table(res.json.items)
        local found
        for _, p in ipairs(res.json.items) do
          assert.equal(c.wf, p.workflow)
          assert.is_nil(p.organization_id)
          if p.id == created.id then found = p end
        end
        assert.truthy(found)
        assert.equal("Renamed Person", found.patient_name)
      end)

      it("deletes it: 204, then 404", function()
        local res = f:req(c.who, "DELETE", "/api/patients/" .. created.id)
        assert.status(204, res)
        assert.equal("", res.body)
        assert.status(404, f:req(c.who, "GET", "/api/patients/" .. created.id))
        assert.status(404, f:req(c.who, "DELETE", "/api/patients/" .. created.id))
        assert.status(404, f:req(c.who, "PATCH", "/api/patients/" .. created.id, { patient_name = "X" }))
        assert.equal(0, helpers.count(db, "patients", { _id = helpers.oid(created.id) }))
      end)
    end)
  end

  describe("defaults", function()
    it("fill select and boolean defaults from the schema when omitted", function()
      local p = create(CASES[1], { prior_auth_status = helpers.NONE })
      assert.equal("Pending", p.prior_auth_status)
      local q = create(CASES[2], { checkin_status = helpers.NONE, needs_follow_up = helpers.NONE })
      assert.equal("Not Reached", q.checkin_status)
      assert.equal(false, q.needs_follow_up)
      local b = create(CASES[3], { preferred_language = helpers.NONE })
      assert.equal("English", b.preferred_language)
    end)

    it("start every patient with a call_status the client did not choose", function()
      local p = create(CASES[2])
      assert.is_string(p.call_status)
      assert.truthy(#p.call_status > 0)
    end)
  end)

  describe("validation", function()
    local pa = CASES[1]

    -- posts an invalid body; asserts 422, a reason for `key`, and no new patient
    local function refused(c, overrides, key)
      local before = patient_count()
      local res = f:req(c.who, "POST", "/api/workflows/" .. c.wf .. "/patients", helpers.valid_patient(c.wf, c.org, overrides))
      assert.status(422, res)
      assert.is_table(res.json.error)
      assert.is_string(res.json.error.code)
      assert.is_string(res.json.error.message)
      assert.is_table(res.json.error.fields)
      assert.is_string(res.json.error.fields[key], "no reason for " .. key .. ": " .. res.body)
      assert.equal(before, patient_count())
      return res
    end

    it("refuses unknown keys", function()
      refused(pa, { favourite_color = "blue" }, "favourite_color")
    end)

    it("refuses every system field", function()
      for _, k in ipairs({ "call_status", "organization_id", "_id", "workflow", "created_at", "updated_at", "id" }) do
        refused(pa, { [k] = "x" }, k)
      end
    end)

    it("refuses a missing required field", function()
      refused(pa, { insurance_member_id = helpers.NONE }, "insurance_member_id")
      refused(pa, { patient_name = "" }, "patient_name")
      refused(pa, { patient_name = "   " }, "patient_name")
      refused(pa, { patient_name = null }, "patient_name")
    end)

    it("refuses wrong types", function()
      refused(pa, { patient_name = 123 }, "patient_name")
      refused(pa, { patient_name = { "a" } }, "patient_name")
      refused(pa, { patient_name = true }, "patient_name")
      refused(CASES[2], { needs_follow_up = "yes" }, "needs_follow_up")
      refused(CASES[3], { pain_level = "5" }, "pain_level")
      refused(pa, { date_of_birth = 19850315 }, "date_of_birth")
    end)

    it("refuses operator objects such as {\"$gt\": \"\"} as values", function()
      refused(pa, { patient_name = { ["$gt"] = "" } }, "patient_name")
      refused(pa, { insurance_member_id = { ["$ne"] = null } }, "insurance_member_id")
      refused(pa, { prior_auth_status = { ["$in"] = { "Pending" } } }, "prior_auth_status")
    end)

    it("refuses NUL bytes and control characters in strings", function()
      refused(pa, { patient_name = "John\0Smith" }, "patient_name")
      refused(pa, { cpt_code = "99213\0" }, "cpt_code")
      refused(pa, { facility_name = "City\27[31mMedical" }, "facility_name")
    end)

    it("refuses a select value outside its options", function()
      refused(pa, { prior_auth_status = "Maybe" }, "prior_auth_status")
      refused(pa, { prior_auth_status = "pending" }, "prior_auth_status")
      refused(CASES[3], { preferred_language = "Klingon" }, "preferred_language")
    end)

    it("refuses phones that are not E.164", function()
      refused(pa, { insurance_phone = "555-1234" }, "insurance_phone")
      refused(pa, { insurance_phone = "15165667132" }, "insurance_phone")
      refused(pa, { insurance_phone = "+1 (516) abc-7132" }, "insurance_phone")
      refused(CASES[3], { phone_number = "+0123456789" }, "phone_number")
    end)

    it("refuses impossible dates and datetimes", function()
      refused(pa, { date_of_birth = "1985-02-30" }, "date_of_birth")
      refused(pa, { date_of_birth = "yesterday" }, "date_of_birth")
      refused(pa, { appointment_time = "2026-13-01T10:00" }, "appointment_time")
    end)

    it("refuses numbers out of range", function()
      refused(CASES[3], { pain_level = 11 }, "pain_level")
      refused(CASES[3], { pain_level = -1 }, "pain_level")
    end)

    it("refuses strings longer than the field allows", function()
      refused(CASES[2], { provider_name = string.rep("x", 201) }, "provider_name")
      refused(pa, { patient_name = string.rep("x", 100 * 1024) }, "patient_name")
    end)

    it("reports every bad field at once", function()
      local res = refused(pa, { insurance_phone = "12", prior_auth_status = "Maybe", extra = 1 }, "insurance_phone")
      assert.is_string(res.json.error.fields.prior_auth_status)
      assert.is_string(res.json.error.fields.extra)
    end)

    it("normalizes what it accepts (E.164 phone with spaces, US dates)", function()
      local p = create(pa, { insurance_phone = "+1 516 566 7132", date_of_birth = "03/15/1985" })
      assert.equal("+15165667132", p.insurance_phone)
      assert.equal("1985-03-15", p.date_of_birth)
    end)

    it("refuses a body that is not a JSON object (400 or 422)", function()
      local before = patient_count()
      for _, raw in ipairs({ "[]", "[1,2]", "\"text\"", "42", "null" }) do
        local res = f:req(pa.who, "POST", "/api/workflows/prior_auth/patients", nil, { raw = raw })
        assert.is_true(res.status == 400 or res.status == 422, raw .. " -> " .. res.status .. " " .. res.body)
        assert.is_table(res.json and res.json.error)
      end
      assert.equal(before, patient_count())
    end)
  end)

  describe("lists", function()
    local wf_case = CASES[2] -- Alpha patient_questions
    local ids = {}
    local tag = "Zyx" .. helpers.core.crypto.random_hex(3)

    lazy_setup(function()
      for i = 1, 7 do
        local p = create(wf_case, { patient_name = string.format("%s Person %02d", tag, i) })
        ids[i] = p.id
        helpers.core.sys.sleep(0.01)
      end
    end)

    local function list(query)
      local res = f:req(ALPHA, "GET", "/api/workflows/patient_questions/patients" .. (query or ""))
      assert.status(200, res)
      return res
    end

    it("sorts newest first", function()
      local items = list("?limit=100").json.items
      local pos = {}
      for i, p in ipairs(items) do pos[p.id] = i end
      for i = 1, #ids - 1 do
        assert.truthy(pos[ids[i]] and pos[ids[i + 1]])
        assert.is_true(pos[ids[i + 1]] < pos[ids[i]], "patient " .. (i + 1) .. " should come before " .. i)
      end
    end)

    it("pages with limit and next_cursor, without gaps or repeats", function()
      local total = helpers.count(db, "patients", {
        workflow = "patient_questions", organization_id = helpers.org_doc(db, ALPHA)._id })
      local seen, n, cursor, pages = {}, 0, nil, 0
      repeat
        local res = list("?limit=3" .. (cursor and ("&cursor=" .. cursor) or ""))
        pages = pages + 1
        assert.is_true(#res.json.items <= 3)
        for _, p in ipairs(res.json.items) do
          assert.is_nil(seen[p.id], "repeated " .. p.id)
          seen[p.id] = true
          n = n + 1
        end
        cursor = res.json.next_cursor
        if cursor == null then cursor = nil end
        assert.is_true(pages < 50)
      until not cursor
      assert.equal(total, n)
      for _, id in ipairs(ids) do assert.is_true(seen[id]) end
    end)

    it("gives next_cursor null on the last page", function()
      local res = list("?limit=100")
      assert.equal(null, res.json.next_cursor)
    end)

    it("defaults to 25 items", function()
      for _ = 1, 20 do create(wf_case) end
      local res = list("")
      assert.equal(25, #res.json.items)
      assert.is_string(res.json.next_cursor)
    end)

    it("refuses limits outside 1..100 and garbage cursors", function()
      for _, q in ipairs({ "?limit=0", "?limit=101", "?limit=-5", "?limit=abc", "?limit=1e9",
        "?cursor=not-a-cursor", "?cursor=%24gt", "?cursor=" .. string.rep("A", 500) }) do
        local res = f:req(ALPHA, "GET", "/api/workflows/patient_questions/patients" .. q)
        assert.is_true(res.status == 400 or res.status == 422, q .. " -> " .. res.status .. " " .. res.body)
        assert.is_table(res.json and res.json.error)
      end
    end)

    it("searches string fields case-insensitively with q", function()
      local res = list("?limit=100&q=" .. tag:lower() .. "%20person%2003")
      assert.equal(1, #res.json.items)
      assert.equal(ids[3], res.json.items[1].id)
      res = list("?limit=100&q=" .. tag:upper())
      assert.equal(#ids, #res.json.items)
    end)

    it("treats q as text, not as a regular expression", function()
      for _, q in ipairs({ ".%2A", "%5E", "(", "%5B", "%5C", "%24where" }) do
        local res = f:req(ALPHA, "GET", "/api/workflows/patient_questions/patients?limit=100&q=" .. q)
        assert.status(200, res)
        assert.equal(0, #res.json.items, "q=" .. q .. " matched " .. #res.json.items)
      end
    end)

    it("finds a patient by the start of any word, whatever its case and accents, and by part of its phone", function()
      local n = helpers.core.crypto.random_hex(3)
      local phone = "+1516" .. string.format("%07d", tonumber(n, 16) % 10000000)
      local p = create(wf_case, { patient_name = "Zoë " .. tag .. "ñ Núñez-O'Hara", phone_number = phone })
      for _, q in ipairs({ "zoe", "ZO%C3%8B", "nunez", "o'hara%20zoe", "hara", tag:lower() .. "n", phone:sub(-7, -5) .. "-" .. phone:sub(-4),
        phone:sub(3) }) do
        local res = list("?limit=100&q=" .. q)
        local found = false
        for _, item in ipairs(res.json.items) do found = found or item.id == p.id end
        assert.is_true(found, "q=" .. q)
        assert.is_false(res.json.search_partial, "q=" .. q)
        assert.is_nil(res.json.items[1].search_terms, "the terms stay inside")
      end
      for _, q in ipairs({ "zoe%20smith", "nunez" .. tag, "hara%20x" }) do
        assert.equal(0, #list("?limit=100&q=" .. q).json.items, "q=" .. q)
      end
      -- a word of one or two letters is a search too
      for _, q in ipairs({ "zo", "z%20n", "n%20" .. tag:sub(1, 2) }) do
        local found = false
        for _, item in ipairs(list("?limit=100&q=" .. q).json.items) do found = found or item.id == p.id end
        assert.is_true(found, "q=" .. q)
      end
    end)

    it("finds a renamed patient by its new name only", function()
      local p = create(wf_case, { patient_name = "Oldname " .. tag .. " Person" })
      assert.status(200, f:req(ALPHA, "PATCH", "/api/patients/" .. p.id, { patient_name = "Newname " .. tag .. " Person" }))
      assert.equal(0, #list("?limit=100&q=oldname%20" .. tag).json.items)
      local items = list("?limit=100&q=newname%20" .. tag).json.items
      assert.equal(1, #items)
      assert.equal(p.id, items[1].id)
    end)

    describe("while patients are created and deleted between pages", function()
      local c = CASES[1] -- Alpha prior_auth: its own list, long enough to cross page keys
      local base = "/api/workflows/prior_auth/patients"
      local tag2 = "Qvw" .. helpers.core.crypto.random_hex(3)

      -- every page of path (limit per page), following next_cursor; between(items) runs after each
      local function walk(query, limit, between)
        local out, cursor, pages = {}, nil, 0
        repeat
          local res = f:req(ALPHA, "GET", base .. "?limit=" .. limit .. query .. (cursor and ("&cursor=" .. cursor) or ""))
          assert.status(200, res)
          for _, p in ipairs(res.json.items) do out[#out + 1] = p.id end
          cursor = res.json.next_cursor ~= null and res.json.next_cursor or nil
          pages = pages + 1
          assert.is_true(pages < 400, "the walk does not end")
          if between then between(res.json.items) end
        until not cursor
        return out
      end

      local function set_of(list)
        local s = {}
        for _, id in ipairs(list) do s[id] = true end
        return s
      end

      local function assert_no_repeats(list)
        local s = {}
        for _, id in ipairs(list) do
          assert.is_nil(s[id], "shown twice: " .. id)
          s[id] = true
        end
      end

      lazy_setup(function()
        for i = 1, 150 do create(c, { patient_name = string.format("%s Member %03d", tag2, i) }) end
      end)

      it("skips none and repeats none, in the same order", function()
        local order = walk("", 100)
        assert.is_true(#order >= 150)
        local pos = {}
        for i, id in ipairs(order) do pos[id] = i end
        local deleted, created, seen = {}, {}, {}
        local got = walk("", 9, function(items)
          for _, p in ipairs(items) do seen[p.id] = true end
          for _ = 1, 2 do created[#created + 1] = create(c).id end
          -- one not shown yet (three places on) and one already shown go away
          local last = pos[items[#items].id]
          local ahead = order[last + 3]
          if ahead and not deleted[ahead] then
            assert.status(204, f:req(ALPHA, "DELETE", "/api/patients/" .. ahead))
            deleted[ahead] = true
          end
          local behind = items[1].id
          if not deleted[behind] then
            assert.status(204, f:req(ALPHA, "DELETE", "/api/patients/" .. behind))
            deleted[behind] = true
          end
        end)
        local want = {}
        for _, id in ipairs(order) do
          if not (deleted[id] and not seen[id]) then want[#want + 1] = id end
        end
        assert.same(want, got)
        assert.is_true(#created > 30)
        local shown = set_of(got)
        for _, id in ipairs(created) do assert.is_nil(shown[id], "a patient created after the walk began showed up below it") end
      end)

      it("skips none and repeats none while another client creates and deletes at the same time", function()
        local order = walk("", 100)
        local victims = {}
        for i = 5, #order, math.max(1, math.floor(#order / 40)) do victims[#victims + 1] = order[i] end
        local victims_file = helpers.proc.temp_path("victims", ".txt")
        local fh = assert(io.open(victims_file, "w"))
        fh:write(table.concat(victims, "\n"), "\n")
        fh:close()
        local log = helpers.proc.temp_path("churn", ".log")
        local churn = helpers.proc.spawn({ helpers.proc.sova_bin(), "script", helpers.proc.root .. "/spec/fixtures/patient_churn.lua",
          api.url, ALPHA.host, (f:login(ALPHA)), "prior_auth",
          require("cjson").encode(helpers.valid_patient("prior_auth", "alpha")), tostring(#victims), victims_file },
          { stdout = log, stderr = log .. ".err", name = "patient_churn" })
        helpers.wait_until(function() return (helpers.proc.read_file(log) or ""):find("created") end, 30, 0.05)
        local got = walk("", 7)
        local during = helpers.proc.read_file(log) or ""
        assert.equal(0, churn:wait(120), "patient_churn: " .. (helpers.proc.read_file(log .. ".err") or ""))
        assert.truthy(during:find("deleted"), "the walk ended before any deletion: not concurrent")
        assert_no_repeats(got)
        local shown, victim = set_of(got), set_of(victims)
        for _, id in ipairs(order) do
          if not victim[id] then assert.is_true(shown[id], "skipped " .. id) end
        end
        -- the patients that were there before keep their order
        local pos = {}
        for i, id in ipairs(order) do pos[id] = i end
        local prev = 0
        for _, id in ipairs(got) do
          if pos[id] then
            assert.is_true(pos[id] > prev, "out of order: " .. id)
            prev = pos[id]
          end
        end
        local out = helpers.proc.read_file(log)
        local _, deletions = out:gsub("deleted ", "")
        assert.equal(#victims, deletions, out)
        assert.is_nil(out:find("failed"), out)
      end)

      it("pages a search the same way", function()
        local all = walk("&q=" .. tag2, 100)
        local got = walk("&q=" .. tag2, 11)
        assert.is_true(#all > 3 * 11, "too few left to page: " .. #all)
        assert.same(all, got)
        assert_no_repeats(got)
        local names = {}
        for _, id in ipairs(got) do names[#names + 1] = f:req(ALPHA, "GET", "/api/patients/" .. id).json.patient_name end
        for i = 2, #names do assert.is_true(names[i - 1] > names[i], names[i - 1] .. " before " .. names[i]) end
      end)
    end)

    it("answers 404 for a workflow the org does not have", function()
      assert.status(404, f:req(ALPHA, "GET", "/api/workflows/billing/patients"))
      assert.status(404, f:req(BETA, "GET", "/api/workflows/prior_auth/patients"))
      local before = patient_count()
      local res = f:req(BETA, "POST", "/api/workflows/prior_auth/patients", helpers.valid_patient("prior_auth"))
      assert.status(404, res)
      assert.equal(before, patient_count())
    end)
  end)

  describe("dashboard", function()
    it("counts by call_status and by each select field of the workflow", function()
      local c = CASES[3] -- Beta patient_questions
      local before = f:req(BETA, "GET", "/api/workflows/patient_questions/dashboard")
      assert.status(200, before)
      create(c, { preferred_language = "Spanish", checkin_status = "Confirmed" })
      create(c, { preferred_language = "Spanish", checkin_status = "Cancelled" })
      local res = f:req(BETA, "GET", "/api/workflows/patient_questions/dashboard")
      assert.status(200, res)
      local d, d0 = res.json, before.json
      assert.equal("patient_questions", d.workflow)
      assert.equal(d0.total + 2, d.total)
      assert.equal(helpers.count(db, "patients", { organization_id = helpers.org_doc(db, BETA)._id }), d.total)
      local sum = 0
      for _, n in pairs(d.by_call_status) do sum = sum + n end
      assert.equal(d.total, sum)
      assert.equal(((d0.by_field.preferred_language or {}).Spanish or 0) + 2, d.by_field.preferred_language.Spanish)
      assert.equal(((d0.by_field.checkin_status or {}).Confirmed or 0) + 1, d.by_field.checkin_status.Confirmed)
      -- only select fields
      local keys = {}
      for k in pairs(d.by_field) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "checkin_status", "preferred_language" }, keys)
    end)

    local DASH = "/api/workflows/patient_questions/dashboard"
    local function dashboard() local res = f:req(BETA, "GET", DASH); assert.status(200, res); return res.json end
    local function langs(d) return d.by_field.preferred_language end

    it("counts a patient again after a PATCH of a select field, and no more once it is deleted", function()
      local d0 = dashboard()
      local p = create(CASES[3], { preferred_language = "Spanish" })
      assert.status(200, f:req(BETA, "PATCH", "/api/patients/" .. p.id, { preferred_language = "Mandarin" }))
      local d1 = dashboard()
      assert.equal(d0.total + 1, d1.total)
      assert.equal(langs(d0).Spanish, langs(d1).Spanish)
      assert.equal(langs(d0).Mandarin + 1, langs(d1).Mandarin)
      assert.status(204, f:req(BETA, "DELETE", "/api/patients/" .. p.id))
      local d2 = dashboard()
      assert.same(d0.by_field, d2.by_field)
      assert.same(d0.by_call_status, d2.by_call_status)
      assert.equal(d0.total, d2.total)
    end)

    it("counts the same from scratch: the counters are what the patients hold", function()
      local d1 = dashboard()
      local h = db:handle()
      local org = helpers.org_doc(db, BETA)._id
      -- no counters, no patient counted: the next read counts every patient of the workflow
      assert(h:delete("patient_counts", { organization_id = org, workflow = "patient_questions",
        field = { ["$ne"] = "calls_per_day" } }, { multi = true }))
      assert(h:delete("patient_counted", { organization_id = org, workflow = "patient_questions" }, { multi = true }))
      local d2 = dashboard()
      assert.same(d1.by_field, d2.by_field)
      assert.same(d1.by_call_status, d2.by_call_status)
      assert.equal(d1.total, d2.total)
      assert.equal(helpers.count(db, "patients", { organization_id = org, workflow = "patient_questions" }), d2.total)
    end)

    it("stays exact while four clients create and delete at once and the dashboard is read", function()
      local proc = helpers.proc
      local org = helpers.org_doc(db, BETA)._id
      local token = f:login(BETA)
      local churns = {}
      for i = 1, 4 do
        local victims = proc.temp_path("victims", ".txt")
        local fh = assert(io.open(victims, "w"))
        for _ = 1, 5 do fh:write(create(CASES[3], { preferred_language = "Spanish" }).id, "\n") end
        fh:close()
        local log = proc.temp_path("churn", ".log")
        churns[i] = { log = log, p = proc.spawn({ proc.sova_bin(), "script", proc.root .. "/spec/fixtures/patient_churn.lua",
          api.url, BETA.host, token, "patient_questions", require("cjson").encode(helpers.valid_patient("patient_questions", "beta")),
          "15", victims }, { stdout = log, stderr = log .. ".err", name = "patient_churn" .. i }) }
      end
      for _ = 1, 10 do dashboard() end -- while they write
      for _, c in ipairs(churns) do
        assert.equal(0, c.p:wait(120), "patient_churn: " .. (proc.read_file(c.log .. ".err") or ""))
        assert.is_nil(proc.read_file(c.log):find("failed"), proc.read_file(c.log))
      end
      local d = dashboard()
      local function stored(q)
        q.organization_id, q.workflow = org, "patient_questions"
        return helpers.count(db, "patients", q)
      end
      assert.equal(stored({}), d.total)
      for status, n in pairs(d.by_call_status) do assert.equal(stored({ call_status = status }), n, status) end
      for lang, n in pairs(langs(d)) do assert.equal(stored({ preferred_language = lang }), n, lang) end
    end)

    it("gives prior_auth its own select field", function()
      local res = f:req(ALPHA, "GET", "/api/workflows/prior_auth/dashboard")
      assert.status(200, res)
      assert.equal("prior_auth", res.json.workflow)
      assert.is_table(res.json.by_field.prior_auth_status)
      assert.is_nil(res.json.by_field.checkin_status)
    end)

    it("answers 404 for a workflow the org does not have", function()
      assert.status(404, f:req(BETA, "GET", "/api/workflows/prior_auth/dashboard"))
    end)
  end)

  describe("sessions", function()
    local patient, session_id

    lazy_setup(function()
      patient = create(CASES[1])
      session_id = f:session(ALPHA, patient, { transcript = {
        messages = { { role = "assistant", content = "Hi, this is Sova calling about a prior authorization." } },
        summary = "Authorization approved, reference number AUTH123456",
      } })
    end)

    it("lists a new patient's sessions as an empty list", function()
      local p = create(CASES[2])
      local res = f:req(ALPHA, "GET", "/api/patients/" .. p.id .. "/sessions")
      assert.status(200, res)
      assert.equal(0, #res.json.items)
    end)

    it("lists a patient's sessions", function()
      local res = f:req(ALPHA, "GET", "/api/patients/" .. patient.id .. "/sessions")
      assert.status(200, res)
      assert.equal(1, #res.json.items)
      assert.equal(session_id, res.json.items[1].id)
    end)

    it("reads a session with its transcript", function()
      local res = f:req(ALPHA, "GET", "/api/sessions/" .. session_id)
      assert.status(200, res)
      assert.equal(session_id, res.json.id)
      assert.equal("completed", res.json.status)
      assert.equal("Authorization approved, reference number AUTH123456", res.json.transcript.summary)
      assert.is_nil(res.json.organization_id)
    end)

    it("answers 404 for an unknown session and an unknown patient", function()
      assert.status(404, f:req(ALPHA, "GET", "/api/sessions/" .. helpers.new_id()))
      assert.status(404, f:req(ALPHA, "GET", "/api/patients/" .. helpers.new_id() .. "/sessions"))
    end)
  end)

  describe("a search in a workflow of hundreds of thousands of positions", function()
    -- Patients stored directly (the API's own path would take a while) far apart in the list:
    -- a word in one patient per block (more blocks than one request reads), a word 100 patients
    -- share in one block below the top, and a word 200 patients at the top share.
    local search = require("sova.patient_search")
    local PAGE, BLOCK = 64, search.BLOCK
    local tag = helpers.core.crypto.random_hex(3)
    local SPREAD, CLUSTER, TOP = "spread" .. tag, "cluster" .. tag, "top" .. tag
    local spread, cluster, top = {}, {}, {} -- names, newest first

    lazy_setup(function()
      local bson = helpers.core.bson
      local org = helpers.org_doc(db, BETA)._id
      local h = db:handle()
      local counter = assert(h:find_one("patient_lists", { organization_id = org, workflow = "patient_questions" }))
      local base = (math.floor(counter.next_seq / BLOCK) + 1) * BLOCK
      local docs, terms = {}, {}
      local function add(name, seq)
        local id = bson.oid()
        local d = { _id = id, organization_id = org, workflow = "patient_questions", patient_name = name,
          call_status = "Not Started", list_seq = seq, list_page = math.floor(seq / PAGE) }
        docs[#docs + 1] = d
        local t = search.document("patient_questions", { { key = "patient_name", type = "string" } }, d)
        t.organization_id = org
        terms[#terms + 1] = t
      end
      local blocks = search.MAX_READS + 12
      for k = blocks - 1, 0, -1 do
        spread[#spread + 1] = SPREAD .. " " .. k
        add(spread[#spread], base + k * BLOCK + 7)
      end
      local at = base + 20 * BLOCK + BLOCK - 200 -- the block's last pages, below its top one
      for i = 100, 1, -1 do
        cluster[#cluster + 1] = CLUSTER .. " " .. i
        add(cluster[#cluster], at + i)
      end
      local high = base + blocks * BLOCK
      for i = 200, 1, -1 do
        top[#top + 1] = TOP .. " " .. i
        add(top[#top], high + i)
      end
      for _, c in ipairs({ { "patients", docs }, { search.COLLECTION, terms } }) do
        for i = 1, #c[2], 250 do
          local batch = bson.array()
          for j = i, math.min(i + 249, #c[2]) do batch[#batch + 1] = c[2][j] end
          assert(h:command(bson.ordered { "insert", c[1], "documents", batch }))
        end
      end
      assert(h:update("patient_lists", { _id = counter._id }, { ["$set"] = { next_seq = high + 201 } }))
    end)

    -- every page of a search: the names in order, and the pages' search_partial flags
    local function walk(q, limit)
      local names, partial, cursor = {}, {}, nil
      repeat
        local res = f:req(BETA, "GET", "/api/workflows/patient_questions/patients?limit=" .. limit .. "&q=" .. q ..
          (cursor and ("&cursor=" .. cursor) or ""))
        assert.status(200, res)
        for _, p in ipairs(res.json.items) do names[#names + 1] = p.patient_name end
        partial[#partial + 1] = res.json.search_partial
        cursor = res.json.next_cursor ~= helpers.null and res.json.next_cursor or nil
        assert.is_true(#partial < 200, "the walk does not end")
      until not cursor
      return names, partial
    end

    it("finds a word each block has once: some per request, and the rest from its cursor", function()
      local names, partial = walk(SPREAD, 100)
      assert.same(spread, names)
      assert.is_true(partial[1], "one request read every block")
      assert.is_false(partial[#partial])
    end)

    it("finds a word many patients of one block share, below the top", function()
      local names, partial = walk(CLUSTER, 30)
      assert.same(cluster, names)
      assert.is_false(partial[#partial])
    end)

    it("pages a word the newest patients share like the list, without stopping short", function()
      local names, partial = walk(TOP, 50)
      assert.same(top, names)
      -- the first three pages are full; the fourth has the last 50 and cannot yet tell it is the last
      assert.same({ false, false, false }, { partial[1], partial[2], partial[3] })
      local one = walk(TOP .. "%20" .. "137", 50)
      assert.same({ TOP .. " 137" }, one)
    end)

    it("searches by a single letter", function()
      local res = f:req(BETA, "GET", "/api/workflows/patient_questions/patients?limit=100&q=" .. TOP:sub(1, 1))
      assert.status(200, res)
      assert.equal(100, #res.json.items)
      assert.equal(top[1], res.json.items[1].patient_name)
      -- a list, not a search, says nothing about searching
      assert.is_nil(f:req(BETA, "GET", "/api/workflows/patient_questions/patients?limit=5").json.search_partial)
    end)
  end)

  describe("logs", function()
    it("are JSON lines without PHI, tokens or passwords", function()
      local text = api:log_text()
      assert.truthy(#text > 0)
      for line in text:gmatch("[^\n]+") do
        local ok, obj = pcall(helpers.json_decode, line)
        assert.is_true(ok and type(obj) == "table", "not a JSON line: " .. line)
      end
      for _, secret in ipairs({ "John Smith", "Maria Garcia", "Wei Chen", "Renamed Person", "ABC123456",
        "+15165667132", helpers.DEMO_PASSWORD, (f:login(ALPHA)), (f:login(BETA)), helpers.JWT_SECRET }) do
        assert.falsy(text:find(secret, 1, true), "the API log holds " .. secret)
      end
    end)
  end)
end)

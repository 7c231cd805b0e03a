-- The campaign API as staff and a hostile client use it: what a request may ask (every refusal a
-- 422 with a message per field, and nothing written), whose patients it may name, the clinic's
-- walls (404 across clinics), status changes, the audit trail, the CSV report; and a scheduler
-- that honours a closed calling window and a cancel. No bot is needed: nothing here is dialed.
-- Tags: #api #campaign
local helpers = require("helpers")
local cjson = helpers.cjson
local core = helpers.core
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local WF = "patient_questions"
local ALL_DAYS = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" }

local function post(f, who, body) return f:req(who, "POST", "/api/workflows/" .. WF .. "/campaigns", body) end

describe("the campaign API #api #campaign", function()
  local db, api, f
  local mine, theirs -- patients of Beta's check-ins; one of Alpha's

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    mine = {
      f:patient(BETA, WF, { patient_name = "Ana Lima", phone_number = "+14155550101" }),
      f:patient(BETA, WF, { patient_name = "Ben Okafor", phone_number = "+14155550102" }),
      f:patient(BETA, WF, { patient_name = "=HYPERLINK(\"http://x\")", phone_number = "+14155550103" }),
    }
    theirs = f:patient(ALPHA, WF, { phone_number = "+15165550199" })
  end)
  lazy_teardown(helpers.stop_all)

  local function campaigns_in_db() return #db:handle():find("campaigns", {}) end

  it("refuses settings it cannot honour, field by field, and writes nothing", function()
    local before = campaigns_in_db()
    local ids = { mine[1].id }
    local cases = {
      { { patient_ids = ids, mode = "fax" }, "mode" },
      { { patient_ids = ids, mode = "simulated", concurrency = 0 }, "concurrency" },
      { { patient_ids = ids, mode = "simulated", concurrency = 51 }, "concurrency" },
      { { patient_ids = ids, mode = "simulated", concurrency = 2.5 }, "concurrency" },
      { { patient_ids = ids, mode = "simulated", calls_per_second = 0 }, "calls_per_second" },
      { { patient_ids = ids, mode = "simulated", calls_per_second = 11 }, "calls_per_second" },
      { { patient_ids = ids, mode = "simulated", window = { days = { "mon" }, start = "17:00", ["end"] = "09:00" } }, "window.end" },
      { { patient_ids = ids, mode = "simulated", window = { days = { "someday" }, start = "09:00", ["end"] = "17:00" } }, "window.days.1" },
      { { patient_ids = ids, mode = "simulated", window = { days = ALL_DAYS, start = "9am", ["end"] = "17:00" } }, "window.start" },
      { { patient_ids = ids, mode = "simulated", window = { days = ALL_DAYS, start = "09:00", ["end"] = "17:00",
        time_zone = "Mars/Olympus" } }, "window.time_zone" },
      { { patient_ids = ids, mode = "simulated", window = { days = ALL_DAYS, start = "09:00", ["end"] = "17:00",
        time_zone = { field = "no_such_field" } } }, "window.time_zone.field" },
      { { patient_ids = ids, mode = "simulated", retry = { completed = { attempts = 2, every_minutes = 5 } } }, "retry.completed" },
      { { patient_ids = ids, mode = "simulated", retry = { busy = { attempts = 11, every_minutes = 5 } } }, "retry.busy.attempts" },
      { { patient_ids = ids, mode = "simulated", retry = { busy = { attempts = 2, every_minutes = 0 } } }, "retry.busy.every_minutes" },
      { { patient_ids = ids, mode = "simulated", dial_everyone = true }, "dial_everyone" },
      { { patient_ids = ids, filter = {}, mode = "simulated" }, "patient_ids" },
      { { mode = "simulated" }, "patient_ids" },
      { { patient_ids = {}, mode = "simulated" }, "patient_ids" },
      { { patient_ids = { mine[1].id, mine[1].id }, mode = "simulated" }, "patient_ids.2" },
      { { patient_ids = { "not-an-id" }, mode = "simulated" }, "patient_ids.1" },
      -- another clinic's patient is no patient of this workflow
      { { patient_ids = { mine[1].id, theirs.id }, mode = "simulated" }, "patient_ids.2" },
      { { filter = { q = "Nobody Matches This" }, mode = "simulated" }, "filter" },
      { { filter = { status = "x" }, mode = "simulated" }, "filter.status" },
    }
    for _, c in ipairs(cases) do
      local res = post(f, BETA, c[1])
      assert.equal(422, res.status, cjson.encode(c[1]) .. " -> " .. res.body)
      assert.is_string(res.json.error.fields[c[2]], c[2] .. " in " .. res.body)
    end
    -- real calls need the workflow's Twilio credentials, which this API does not have
    local res = post(f, BETA, { patient_ids = ids, mode = "phone" })
    assert.equal(422, res.status, res.body)
    assert.equal("telephony_not_configured", res.json.error.code)
    assert.equal(400, f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", nil, { raw = "[1, 2]" }).status)
    assert.equal(404, f:req(BETA, "POST", "/api/workflows/no_such_workflow/campaigns",
      { patient_ids = ids, mode = "simulated" }).status)
    assert.equal(before, campaigns_in_db())
  end)

  it("takes all that match the list's search, or the whole workflow", function()
    local res = post(f, BETA, { filter = { q = "ana lim" }, mode = "simulated" })
    assert.equal(201, res.status, res.body)
    assert.equal(1, res.json.total)
    local targets = db:handle():find("campaign_targets", { campaign_id = core.bson.oid(res.json.id) })
    assert.equal(1, #targets)
    assert.equal(mine[1].id, targets[1].patient_id["$oid"])
    res = post(f, BETA, { filter = {}, mode = "simulated" })
    assert.equal(201, res.status, res.body)
    assert.equal(3, res.json.total)
    -- the defaults, as they are shown
    assert.same({ attempts = 3, every_minutes = 60 }, res.json.settings.retry.no_answer)
    assert.equal(5, res.json.settings.concurrency)
    assert.equal(1, res.json.settings.calls_per_second)
  end)

  it("keeps each clinic's campaigns behind its walls", function()
    local res = post(f, BETA, { patient_ids = { mine[1].id }, mode = "simulated" })
    assert.equal(201, res.status, res.body)
    local id = res.json.id
    for _, r in ipairs({ { "GET", "" }, { "GET", "/report.csv" }, { "POST", "/pause" }, { "POST", "/cancel" } }) do
      assert.equal(404, f:req(ALPHA, r[1], "/api/campaigns/" .. id .. r[2]).status, r[1] .. r[2])
    end
    for _, item in ipairs(f:req(ALPHA, "GET", "/api/workflows/" .. WF .. "/campaigns").json.items) do
      assert.are_not.equal(id, item.id)
    end
    assert.equal("running", f:req(BETA, "GET", "/api/campaigns/" .. id).json.status)
    assert.equal(404, f:req(BETA, "GET", "/api/campaigns/zzz").status)
  end)

  it("pauses, resumes and cancels only from a status that allows it, and audits each", function()
    local id = post(f, BETA, { patient_ids = { mine[2].id }, mode = "simulated" }).json.id
    local function act(a) return f:req(BETA, "POST", "/api/campaigns/" .. id .. "/" .. a) end
    assert.equal(409, act("resume").status)
    assert.equal("paused", act("pause").json.status)
    assert.equal(409, act("pause").status)
    assert.equal("running", act("resume").json.status)
    assert.equal("cancelled", act("cancel").json.status)
    assert.equal(409, act("cancel").status)
    assert.equal(409, act("resume").status)
    local actions = {}
    for _, a in ipairs(db:handle():find("audit_logs", { resource_type = "campaign", resource_id = id })) do
      actions[a.action] = (actions[a.action] or 0) + 1
    end
    assert.same({ campaign_create = 1, campaign_pause = 1, campaign_resume = 1, campaign_cancel = 1 }, actions)
  end)

  it("cancels a campaign whose creation never finished (the API died between its targets)", function()
    local org = db:handle():find_one("organizations", { slug = BETA.slug })
    local id = core.bson.oid()
    local now = core.bson.now()
    assert(db:handle():insert("campaigns", { _id = id, organization_id = org._id, workflow = WF, status = "preparing",
      active = false, total = 2, settings = { mode = "simulated", concurrency = 1, calls_per_second = 1 },
      created_at = now, updated_at = now }))
    local path = "/api/campaigns/" .. tostring(id)
    assert.equal("preparing", f:req(BETA, "GET", path).json.status)
    assert.equal(409, f:req(BETA, "POST", path .. "/pause").status)
    assert.equal(404, f:req(ALPHA, "POST", path .. "/cancel").status)
    local res = f:req(BETA, "POST", path .. "/cancel")
    assert.equal(200, res.status, res.body)
    assert.equal("cancelled", res.json.status)
    local doc = db:handle():find_one("campaigns", { _id = id })
    assert.equal("cancelled", doc.status)
    assert.is_false(doc.active)
    assert.equal(1, #db:handle():find("audit_logs", { action = "campaign_cancel", resource_id = tostring(id) }))
  end)

  it("reports a row per patient, with formulas made harmless, audited as an export", function()
    local id = post(f, BETA, { patient_ids = { mine[1].id, mine[3].id }, mode = "simulated" }).json.id
    local res = f:req(BETA, "GET", "/api/campaigns/" .. id .. "/report.csv")
    assert.equal(200, res.status)
    assert.truthy(res.headers["content-disposition"]:find("attachment", 1, true))
    local rows = {}
    for line in res.body:gmatch("[^\r\n]+") do rows[#rows + 1] = line end
    assert.equal(3, #rows)
    assert.truthy(rows[1]:find("patient_name", 1, true))
    assert.truthy(res.body:find([["'=HYPERLINK(""http://x"")"]], 1, true), res.body)
    assert.equal(1, #db:handle():find("audit_logs", { action = "export", resource_id = id }))
  end)
end)

describe("the scheduler and a calling window #api #campaign", function()
  local db, api, f

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    -- nothing is dialed: a bot that is not there would only be asked if the window opened
    helpers.start_campaigns(db, { url = "http://127.0.0.1:9" })
  end)
  lazy_teardown(helpers.stop_all)

  it("dials no one outside the window, says when it opens, and a cancel ends the campaign", function()
    -- the window is the day after tomorrow in Chicago, 10:00-11:00
    local zone = "America/Chicago"
    local t = os.time()
    local wday = tonumber(os.date("!%w", t + core.tz.offset(zone, t))) -- 0 = Sunday
    local day = ({ "sun", "mon", "tue", "wed", "thu", "fri", "sat" })[(wday + 2) % 7 + 1]
    local p = f:patient(BETA, WF, { phone_number = "+14155550111" })
    local res = post(f, BETA, { patient_ids = { p.id }, mode = "simulated",
      window = { days = { day }, start = "10:00", ["end"] = "11:00", time_zone = zone } })
    assert.equal(201, res.status, res.body)
    local id = res.json.id
    local c
    local deadline = core.sys.monotonic() + 30
    repeat
      core.sys.sleep(0.5)
      c = f:req(BETA, "GET", "/api/campaigns/" .. id).json
    until c.next_at ~= cjson.null or core.sys.monotonic() > deadline
    assert.is_string(c.next_at, cjson.encode(c))
    assert.equal(0, #c.attempts)
    assert.equal(1, c.counts.waiting)
    -- 10:00 in Chicago, two days on: 15:00 or 16:00 UTC (daylight saving time or not)
    local hh = tonumber(c.next_at:match("T(%d%d):00:00"))
    assert.is_true(hh == 15 or hh == 16, c.next_at)
    assert.equal(200, f:req(BETA, "POST", "/api/campaigns/" .. id .. "/cancel").status)
    deadline = core.sys.monotonic() + 30
    repeat
      core.sys.sleep(0.5)
      c = f:req(BETA, "GET", "/api/campaigns/" .. id).json
    until c.counts.cancelled == 1 or core.sys.monotonic() > deadline
    assert.equal(1, c.counts.cancelled, cjson.encode(c.counts))
    assert.equal("cancelled", c.status)
    assert.equal(0, #c.attempts)
    local doc = db:handle():find_one("campaigns", { _id = core.bson.oid(id) })
    assert.is_false(doc.active) -- the scheduler let it go
  end)
end)

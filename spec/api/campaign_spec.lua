-- Campaigns end to end: the API writes a campaign of Beta's check-in patients, `sova campaigns`
-- dials them as simulated phone calls through the phone simulator (scripted callees: answering
-- machines, busy lines, lines that fail or ring out, people who answer), within the concurrency
-- and calls-per-second caps and the calling window, and retries by the campaign's rules. Two
-- schedulers run; the one driving the campaign is SIGKILLed half way, and the other takes over:
-- no number is called twice at once, none is skipped, the counts add up.
-- Tags: #api #phone #campaign
local helpers = require("helpers")
local cjson = helpers.cjson
local core = helpers.core
local BETA, ALPHA = helpers.BETA, helpers.ALPHA
local WF = "patient_questions"

-- what answers each number: n numbers of each kind, +1415555KKNN
local KINDS = {
  { kind = "voicemail", n = 14, scenario = { kind = "voicemail", ring_ms = 500,
    greeting = "Please leave a message.", beep_ms = 300, max_message_s = 40 } },
  { kind = "busy", n = 12, scenario = { kind = "busy", ring_ms = 300 } },
  { kind = "failed", n = 12, scenario = { kind = "failed" } },
  { kind = "no_answer", n = 4, scenario = { kind = "no_answer" } },
  -- a person who says hello and hangs up on the agent's greeting
  { kind = "human", n = 8, scenario = { kind = "human", ring_ms = 500, greeting = "Hello?",
    lines = { "Sorry, wrong number." }, hangup_in_line = 1, hangup_at_ms = 900 } },
}
local RETRY = { busy = { attempts = 2, every_minutes = 1 }, failed = { attempts = 2, every_minutes = 1 },
  no_answer = { attempts = 1, every_minutes = 1 }, voicemail = { attempts = 1, every_minutes = 60 },
  incomplete = { attempts = 1, every_minutes = 1 } }

local function numbers()
  local out, scenarios = {}, {}
  for k, def in ipairs(KINDS) do
    for i = 1, def.n do
      local number = ("+141555%02d%03d"):format(k, i)
      out[#out + 1] = { number = number, kind = def.kind }
      scenarios[number] = def.scenario
    end
  end
  return out, scenarios
end

-- the phone simulator's calls: number -> {{created = t, hangup = t}}, and the most at once
local function sim_calls(sim)
  local by_sid, by_number, edges = {}, {}, {}
  for _, e in ipairs(sim:events()) do
    if e.event == "created" then
      by_sid[e.call] = { number = e.to, from = e.t_ms }
      by_number[e.to] = by_number[e.to] or {}
      table.insert(by_number[e.to], by_sid[e.call])
      edges[#edges + 1] = { t = e.t_ms, d = 1 }
    elseif e.event == "hangup" and by_sid[e.call] then
      by_sid[e.call].to = e.t_ms
      edges[#edges + 1] = { t = e.t_ms, d = -1 }
    end
  end
  table.sort(edges, function(a, b) if a.t ~= b.t then return a.t < b.t end return a.d < b.d end)
  local now, most, starts = 0, 0, {}
  for _, e in ipairs(edges) do
    now = now + e.d
    most = math.max(most, now)
    if e.d == 1 then starts[#starts + 1] = e.t end
  end
  return by_number, most, starts
end

-- "2026-12-04T03:23:54.123Z" -> ms since the epoch (days from the civil date: H. Hinnant's)
local function ms(iso)
  local y, m, d, h, mi, sec, frac = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m > 2 and m - 3 or m + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return ((days * 24 + h) * 60 + mi) * 60000 + sec * 1000 + (tonumber(frac) or 0)
end


-- the live scheduler that took campaign id (its log says so)
local function holder(schedulers, id)
  for _, s in ipairs(schedulers) do
    if s:alive() then
      for line in s:log_text():gmatch("[^\n]+") do
        local e = cjson.decode(line)
        if e.event == "campaign.taken" and e.campaign == id then return s end
      end
    end
  end
end

describe("campaigns #api #phone #campaign", function()
  local db, api, bot, f, sim, schedulers
  local list, scenarios = numbers()

  lazy_setup(function()
    sim = helpers.start_phonesim({ scenarios = scenarios })
    db, api, bot = helpers.setup_calls({ bot = { env = { SOVA_PHONE_SIM_URL = sim.api_base,
      SOVA_PHONE_SIM_ACCOUNT_SID = sim.account_sid, SOVA_PHONE_SIM_AUTH_TOKEN = sim.auth_token, SOVA_OFFLINE_VOICE_CALLS = "5" } } })
    f = helpers.factory(db, api)
    schedulers = { helpers.start_campaigns(db, bot), helpers.start_campaigns(db, bot) }
  end)
  lazy_teardown(function()
    helpers.stop_all()
  end)

  it("calls 50 patients within the caps, retries by result, and survives its scheduler's SIGKILL", function()
    local ids, kind_of = {}, {}
    for _, n in ipairs(list) do
      local p = f:patient(BETA, WF, { phone_number = n.number })
      ids[#ids + 1] = p.id
      kind_of[p.id] = n.kind
    end
    local res = f:req(BETA, "POST", "/api/workflows/" .. WF .. "/campaigns", {
      patient_ids = ids, mode = "simulated", concurrency = 5, calls_per_second = 2,
      window = { days = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" }, start = "00:00", ["end"] = "24:00" },
      retry = RETRY,
    })
    assert.equal(201, res.status, res.body)
    local id = res.json.id
    assert.equal("running", res.json.status)
    assert.equal(50, res.json.total)

    -- half way, the scheduler driving it dies
    local driver = helpers.wait_until(function() return holder(schedulers, id) end, 30, 0.5)
    helpers.wait_until(function()
      local c = f:req(BETA, "GET", "/api/campaigns/" .. id).json
      return #c.attempts >= 25
    end, 240, 0.5)
    driver:kill()
    local survivor = schedulers[1] == driver and schedulers[2] or schedulers[1]
    local c = helpers.wait_until(function()
      local c = f:req(BETA, "GET", "/api/campaigns/" .. id).json
      return c.status == "finished" and c
    end, 420, 0.5)
    assert.truthy(holder({ survivor }, id), "the other scheduler took the campaign over")
    -- for a failed expectation: each kind's attempts, as result (reason)
    local seen = {}
    for _, a in ipairs(c.attempts) do
      local k = kind_of[a.patient_id] .. " " .. tostring(a.result) .. " (" .. tostring(a.reason) .. ")"
      seen[k] = (seen[k] or 0) + 1
    end
    local info = cjson.encode({ counts = c.counts, attempts = seen })

    -- every patient had its last word, as its callee was scripted
    assert.equal(50, c.done, info)
    assert.equal(0, c.counts.waiting, info)
    assert.equal(0, c.counts.in_flight, info)
    assert.equal(14, c.counts.voicemail, info)
    assert.equal(12, c.counts.busy, info)
    assert.equal(12, c.counts.failed, info)
    -- the ones that ring out, and the people who hang up on the greeting: no answer while their
    -- first words had not reached the agent as a turn, incomplete once they had (the recognizer's
    -- timing against the hangup, which the machine's load moves); the reason is theirs either way
    local silent = seen["human no_answer (the other party hung up)"] or 0
    local spoke = seen["human incomplete (the other party hung up)"] or 0
    assert.equal(8, silent + spoke, info)
    assert.equal(4 + silent, c.counts.no_answer, info)
    assert.equal(spoke, c.counts.incomplete, info)

    -- attempts: one per call the simulator saw, none twice at once, never more than 5 at once
    local calls, most, starts = sim_calls(sim)
    assert.is_true(most <= 5, "at most 5 calls at once, saw " .. most)
    assert.is_true(most >= 3, "the cap was used: " .. most)
    -- two calls a second: any ten in a row span 4.5 s (slots of 0.5 s), less what the requests' own
    -- times add
    for i = 1, #starts - 9 do
      assert.is_true(starts[i + 9] - starts[i] >= 3500, ("calls %d..%d within %d ms"):format(i, i + 9, starts[i + 9] - starts[i]))
    end
    local per_patient = {}
    for _, a in ipairs(c.attempts) do
      per_patient[a.patient_id] = (per_patient[a.patient_id] or 0) + 1
      assert.is_string(a.session_id)
    end
    local placed = 0
    for _, s in ipairs(db:handle():find("sessions", { campaign_id = core.bson.oid(id) })) do
      if not s.not_placed then placed = placed + 1 end
    end
    assert.equal(#c.attempts, placed, "a session per attempt")
    for pid, kind in pairs(kind_of) do
      local want = (kind == "busy" or kind == "failed") and 2 or 1
      assert.equal(want, per_patient[pid], kind .. " " .. pid)
    end
    for number, list_ in pairs(calls) do
      table.sort(list_, function(a, b) return a.from < b.from end)
      for i = 2, #list_ do
        assert.is_true(list_[i].from >= (list_[i - 1].to or math.huge), number .. " was called twice at once")
      end
    end
    -- a retry came a minute or more after the attempt before it ended
    local by_patient = {}
    for _, a in ipairs(c.attempts) do
      by_patient[a.patient_id] = by_patient[a.patient_id] or {}
      by_patient[a.patient_id][a.attempt] = a
    end
    for _, as in pairs(by_patient) do
      if as[2] then
        assert.is_true(ms(as[2].started_at) - ms(as[1].ended_at) >= 59000, cjson.encode(as))
      end
    end

    -- the report: a row per patient, with its attempts and result
    local csv = f:req(BETA, "GET", "/api/campaigns/" .. id .. "/report.csv")
    assert.equal(200, csv.status)
    assert.truthy(csv.headers["content-type"]:find("text/csv", 1, true))
    local rows = {}
    for line in csv.body:gmatch("[^\r\n]+") do rows[#rows + 1] = line end
    assert.equal(51, #rows)
    assert.truthy(rows[1]:find("^patient_id,"))
  end)
end)

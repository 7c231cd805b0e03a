-- sova.campaign.scheduler: what `sova campaigns` runs. It drives the campaigns that have work
-- (campaigns.active) through their targets: dials the due ones within the concurrency cap, the
-- calls-per-second cap and the calling window, watches the calls in flight, and retries by the
-- campaign's rules.
--
-- Any number of these processes may run, on any machines: a campaign is driven by the holder of
-- its lease (sova.lease, key "campaign<id>") and only by it, so no two processes dial for one
-- campaign, and a target's document has one writer. A holder that dies (SIGKILL, a lost machine)
-- stops renewing; after the lease's TTL another process takes the campaign, reads its targets
-- again, and adopts the calls in flight: they count against the cap until they end. An attempt is
-- written (its session id chosen) before its call is started, so a holder that dies between the
-- two leaves an attempt whose session never appears, which the next holder gives back.
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local log = require("sova.log")
local audit = require("sova.audit")
local lease = require("sova.lease")
local store = require("sova.store")
local call_start = require("sova.call_start")
local bots = require("sova.bots")
local present = require("sova.api.present")
local vocabulary = require("sova.sandboxed.vocabulary")
local policy = require("sova.campaign.policy")
local webhooks = require("sova.webhooks")
local webhook_worker = require("sova.webhooks.worker")
local metrics = require("sova.metrics")

local M = {}

M.LEASE_MS = 15000
M.RENEW_S = 4             -- a third of the lease and some: two renewals may fail before it is lost
M.TICK_S = 0.25
M.WATCH_S = 1             -- a campaign's status and its calls' sessions are read this often
M.SCAN_S = 2              -- how often the active campaigns are looked for
M.START_GRACE_S = 60      -- a session still queued this long after its attempt never reached a bot
M.NO_SESSION_S = 10       -- an attempt without its session this long was never started
M.STUCK_GRACE_S = 600     -- beyond a call's longest time: its bot stopped reporting
M.BOT_BACKOFF_S = 5       -- a campaign whose call no bot could take waits this long to dial again
M.REAP_S = 5              -- how often the calls of bots that stopped heart-beating are looked for

local held = {}           -- campaign id (hex) -> the state of a campaign this process drives
local owner               -- this process, in its leases
local last_scan, last_prune, last_reap = -math.huge, -math.huge, -math.huge

local function now() return os.time() end
local function hex(v) return present.hex(v) end

-- ---- targets ----

-- write(st, t, set): the target's fields, as this holder has them; false when the database
-- failed (the holder retries at its next tick: the document is its own)
local function write(st, t, set)
  if not lease.valid(st.lease) then return false end
  set.updated_at = bson.now()
  local ok, err = st.db:update("campaign_targets", { _id = t._id }, { ["$set"] = set })
  if not ok then
    log.warn("campaign.write_failed", { campaign = st.id, reason = tostring(err) })
    return false
  end
  return true
end

local function attempts_array(t)
  local a = bson.array()
  for i, x in ipairs(t.attempts or {}) do a[i] = x end
  return a
end

-- wait(st, t): t is among the waiting targets again (once)
local function wait(st, t)
  t.listed = true
  st.waiting[#st.waiting + 1] = t
end

-- done(st, t, result, reason): the target's last word
local function done(st, t, result, reason)
  t.state, t.result, t.reason = "done", result, reason
  st.dialing[hex(t._id)] = nil
  write(st, t, { state = "done", result = result, reason = reason or bson.null, next_at = bson.null,
    attempts = attempts_array(t), attempts_made = t.attempts_made })
end

-- ended(st, t, result, reason): its attempt ended with result: another is due, or it is done
local function ended(st, t, result, reason)
  local a = t.attempts[#t.attempts]
  a.result, a.reason, a.ended_at = result, reason, bson.now()
  st.dialing[hex(t._id)] = nil
  metrics.inc("sova_campaign_attempts_total", { result = result })
  local at = st.c.status ~= "cancelled" and policy.retry_at(st.c.settings, result, t.attempts_made, now())
  if not at then return done(st, t, result, reason) end
  t.state, t.next_at, t.result = "waiting", at, result
  wait(st, t)
  write(st, t, { state = "waiting", next_at = at, result = result, attempts = attempts_array(t),
    attempts_made = t.attempts_made })
end

-- ---- the calls in flight ----

local function watch(st, t)
  local a = t.attempts[#t.attempts]
  local s, err = st.db:find_one("sessions", { _id = a.session_id })
  if err then return end -- the database is away: looked at again next tick
  local age = now() - math.floor((a.started_at and a.started_at["$date"] or now() * 1000) / 1000)
  if not s then
    if age < M.NO_SESSION_S then return end
    -- the holder died before it created the session: nothing was dialed; the attempt is given back
    t.attempts[#t.attempts] = nil
    t.attempts_made = t.attempts_made - 1
    t.state, t.next_at = "waiting", now()
    st.dialing[hex(t._id)] = nil
    wait(st, t)
    write(st, t, { state = "waiting", next_at = t.next_at, attempts = attempts_array(t), attempts_made = t.attempts_made })
    return
  end
  if vocabulary.TERMINAL_STATUSES[s.status] then
    local result = s.status == "canceled" and "failed" or s.status
    return ended(st, t, result, s.reason or s.failure)
  end
  if s.status == "queued" and age > M.START_GRACE_S then
    local why = "the call was never started by a bot"
    st.db:update("sessions", { _id = s._id, status = "queued" }, { ["$set"] = { status = "failed", failure = why,
      not_placed = true, updated_at = bson.now() } })
    return ended(st, t, "failed", why)
  end
  if age > st.max_call_s + M.STUCK_GRACE_S then
    return ended(st, t, "failed", "the call runtime stopped reporting on this call")
  end
end

-- ---- dialing ----

-- the zone a target's window is judged in: the campaign's, the patient's field, or the clinic's
local function zone_of(st, p)
  local tz = st.c.settings.window.time_zone
  if tz.zone then return tz.zone end
  if tz.field and p and type(p[tz.field]) == "string" and core.tz.valid(p[tz.field]) then return p[tz.field] end
  if type(st.org.time_zone) == "string" and core.tz.valid(st.org.time_zone) then return st.org.time_zone end
  return nil
end

-- rate_ok(st) -> may a call start now from this campaign's caller ID. Time is cut in slots of
-- 1/cps seconds; a call takes one slot by a unique insert, shared by every process and campaign.
-- The slots of the last tick are open, so a rate above the tick's (4 a second) is kept too.
local function rate_ok(st)
  local cps = st.c.settings.calls_per_second
  local t = core.sys.time()
  local last = math.floor(t * cps)
  for slot = math.min(last, math.max(math.floor((t - M.TICK_S) * cps) + 1, last - 9)), last do
    local ok, _, code = core.db.unscoped():insert("campaign_rate",
      { _id = ("%s:%d"):format(st.caller, slot), at = math.floor(t) })
    if ok then return true end
    if code ~= 11000 then return false end
  end
  return false
end

local function dial(st, t)
  local p, err = st.db:find_one("patients", { _id = t.patient_id })
  if err then return false end
  if not p or p.workflow ~= st.c.workflow then done(st, t, "skipped", "the patient was deleted"); return true end
  local to, refusal = call_start.phone_target(st.org.slug, p, false)
  if not to then done(st, t, "skipped", refusal.message); return true end
  local sid = bson.oid()
  t.attempts_made = t.attempts_made + 1
  t.attempts[#t.attempts + 1] = { n = t.attempts_made, session_id = sid, started_at = bson.now() }
  t.state = "dialing"
  st.dialing[hex(t._id)] = t
  if not write(st, t, { state = "dialing", attempts = attempts_array(t), attempts_made = t.attempts_made }) then
    t.attempts[#t.attempts] = nil
    t.attempts_made, t.state = t.attempts_made - 1, "waiting"
    st.dialing[hex(t._id)] = nil
    return false
  end
  local started
  started, refusal = call_start.start(st.db, st.org, st.wf, p, {
    mode = "phone", phone_to = to, simulated = st.c.settings.mode == "simulated" or nil,
    user_id = hex(st.c.created_by), campaign_id = st.c._id, session_id = sid,
    audit = function(ev) return audit.record({ db = st.db, user = { id = hex(st.c.created_by) } }, ev) end,
  })
  if not started and refusal.status == 503 then
    -- no bot could take it now (at capacity, away): nothing was dialed; the attempt is given
    -- back, and this campaign dials nothing for a while
    t.attempts[#t.attempts] = nil
    t.attempts_made, t.state, t.next_at = t.attempts_made - 1, "waiting", now()
    st.dialing[hex(t._id)] = nil
    st.hold_until = core.sys.monotonic() + M.BOT_BACKOFF_S
    metrics.inc("sova_campaign_refusals_total")
    write(st, t, { state = "waiting", next_at = t.next_at, attempts = attempts_array(t), attempts_made = t.attempts_made })
    log.warn("campaign.bot_refused", { campaign = st.id, reason = refusal.message })
    return false
  end
  metrics.inc("sova_campaign_dials_total", { mode = st.c.settings.mode })
  if not started then ended(st, t, "failed", refusal.message) end
  return true
end

-- when_open(st, t, t_now) -> when the calling window next opens for t (t_now: it is open) | nil,
-- why: there is no zone to judge it in
local function when_open(st, t, t_now)
  local w = st.c.settings.window
  if not w then return t_now end
  local p = w.time_zone.field and st.db:find_one("patients", { _id = t.patient_id }) or nil
  local zone = zone_of(st, p)
  if not zone then return nil, "no time zone to judge the calling window in" end
  local open = policy.open_at(w, t_now, function(at) return core.tz.offset(zone, at) or 0 end)
  if not open then return nil, "the calling window names no day" end
  return open
end

local function dispatch(st)
  if st.hold_until and core.sys.monotonic() < st.hold_until then return end
  local free = st.c.settings.concurrency
  for _ in pairs(st.dialing) do free = free - 1 end
  if free <= 0 then return end
  local t_now = now()
  local list = st.waiting
  table.sort(list, function(a, b)
    if a.next_at ~= b.next_at then return a.next_at < b.next_at end
    return a.seq < b.seq
  end)
  for _, t in ipairs(list) do t.listed = false end
  st.waiting = {} -- what stays waiting goes back; an attempt that ends at once (refused) comes back itself
  for _, t in ipairs(list) do
    if free > 0 and t.next_at <= t_now then
      local open, why = when_open(st, t, t_now)
      if not open then
        done(st, t, "skipped", why)
      elseif open > t_now then
        t.next_at = open
        write(st, t, { next_at = open })
      elseif not rate_ok(st) then
        free = 0
      elseif dial(st, t) then
        free = free - 1
      else
        free = 0 -- the database or the bots are away: the next tick tries again
      end
    end
    if t.state == "waiting" and not t.listed then wait(st, t) end
  end
end

-- ---- campaigns ----

local function load(c, l)
  local db = core.db.scoped(c.organization_id)
  local org = core.db.unscoped():find_one("organizations", { _id = c.organization_id })
  local wf = org and org.workflows and org.workflows[c.workflow]
  if not wf then return nil, "the campaign's clinic or workflow is gone" end
  c.settings = policy.load(c.settings)
  local st = { id = hex(c._id), c = c, lease = l, db = db, org = org, wf = wf, waiting = {}, dialing = {},
    renew_at = core.sys.monotonic() + M.RENEW_S, watch_at = -math.huge,
    -- one caller ID: the variable that holds the workflow's number (a simulated line: the clinic's)
    caller = hex(c.organization_id) .. ":" .. c.workflow .. ":" .. c.settings.mode }
  local opts = call_start.line_ready(org.slug, c.workflow, false)
  st.max_call_s = opts and opts.max_call_seconds or 3600
  for _, state in ipairs({ "waiting", "dialing" }) do
    local docs, err = db:find("campaign_targets", { campaign_id = c._id, state = state })
    if not docs then return nil, err end
    for _, t in ipairs(docs) do
      t.attempts = t.attempts or {}
      if state == "waiting" then wait(st, t) else st.dialing[hex(t._id)] = t end
    end
  end
  return st
end

local function let_go(st, why)
  held[st.id] = nil
  log.info("campaign.released", { campaign = st.id, why = why })
end

-- the campaign.finished webhook's payload: the campaign, how it ended, its targets' results
local function finished_payload(st, status)
  local counts = {}
  local targets = st.db:find("campaign_targets", { campaign_id = st.c._id }, { projection = { result = 1 } }) or {}
  for _, t in ipairs(targets) do
    if t.result and t.result ~= bson.null then counts[t.result] = (counts[t.result] or 0) + 1 end
  end
  return { campaign_id = hex(st.c._id), workflow = st.c.workflow, name = st.c.name, status = status,
    total = st.c.total, results = counts, finished_at = bson.now() }
end

local function finish(st)
  if st.c.status == "running" then -- a status the API changes meanwhile is kept
    local ok = st.db:update("campaigns", { _id = st.c._id, status = "running" },
      { ["$set"] = { status = "finished", finished_at = bson.now() } })
    if not ok then return end
    if (ok.matched or 1) > 0 then
      st.c.status = "finished"
    else -- the API changed it meanwhile (a cancel): that status is the one to report
      local c = st.db:find_one("campaigns", { _id = st.c._id })
      if not c then return end
      st.c.status = c.status
    end
  end
  -- before the campaign leaves the active ones: a holder that dies here leaves it to the next,
  -- which finishes it again; the event's key makes that one event
  local ok, err = webhooks.emit(st.db, st.c.organization_id, "campaign.finished", finished_payload(st, st.c.status),
    "campaign.finished:" .. st.id)
  if not ok then
    log.warn("campaign.webhook_failed", { campaign = st.id, reason = tostring(err) })
    return
  end
  ok = st.db:update("campaigns", { _id = st.c._id }, { ["$set"] = { active = false, updated_at = bson.now() } })
  if not ok then return end
  log.info("campaign.finished", { campaign = st.id, status = st.c.status })
  lease.release(core.db.unscoped(), st.lease)
  let_go(st, "finished")
end

local function drive(st)
  local mono = core.sys.monotonic()
  if mono >= st.renew_at then
    local l, err = lease.renew(core.db.unscoped(), st.lease)
    if l then st.lease, st.renew_at = l, mono + M.RENEW_S
    elseif err == "lost" then return let_go(st, "lease lost") end
  end
  if not lease.valid(st.lease) then return let_go(st, "lease expired") end
  -- the campaign's status and its calls in flight are read once a WATCH_S, not every tick
  if mono >= st.watch_at then
    local c, err = st.db:find_one("campaigns", { _id = st.c._id })
    if err then return end
    if not c then return let_go(st, "campaign deleted") end
    st.c.status, st.watch_at = c.status, mono + M.WATCH_S
    for _, t in pairs(st.dialing) do watch(st, t) end
  end
  local c = st.c
  if c.status == "cancelled" then
    for _, t in ipairs(st.waiting) do done(st, t, "cancelled") end
    st.waiting = {}
  elseif c.status == "running" then
    dispatch(st)
  end
  if #st.waiting == 0 and next(st.dialing) == nil then finish(st) end
end

local function scan()
  local list, err = core.db.unscoped():find("campaigns", { active = true })
  if not list then log.warn("campaign.scan_failed", { reason = tostring(err) }); return end
  for _, c in ipairs(list) do
    local id = hex(c._id)
    if not held[id] and c.status ~= "preparing" then
      local l = lease.take(core.db.unscoped(), "campaign" .. id, owner, M.LEASE_MS)
      if l then
        local st, why = load(c, l)
        if st then
          held[id] = st
          log.info("campaign.taken", { campaign = id, epoch = l.epoch, waiting = #st.waiting })
        else
          log.warn("campaign.unloadable", { campaign = id, reason = tostring(why) })
          lease.release(core.db.unscoped(), l)
        end
      end
    end
  end
end

-- tick(): one pass over the campaigns (the loop's body; specs and benchmarks call it too)
function M.tick()
  local mono = core.sys.monotonic()
  if mono - last_scan >= M.SCAN_S then last_scan = mono; scan() end
  -- calls on bots that stopped heart-beating end failed (sova.bots): any scheduler may do it, and
  -- the campaigns' own watch then retries them
  if mono - last_reap >= M.REAP_S then
    last_reap = mono
    local n, err = bots.reap(core.db.unscoped())
    if not n then log.warn("bots.reap_failed", { reason = tostring(err) }) end
  end
  local in_flight = 0
  for _, st in pairs(held) do
    drive(st)
    for _ in pairs(st.dialing) do in_flight = in_flight + 1 end
  end
  metrics.set("sova_campaigns_held", nil, M.held_count())
  metrics.set("sova_campaign_calls_in_flight", nil, in_flight)
  if mono - last_prune >= 60 then
    last_prune = mono
    core.db.unscoped():delete("campaign_rate", { at = { ["$lt"] = now() - 60 } }, { multi = true })
  end
end

function M.held_count()
  local n = 0
  for _ in pairs(held) do n = n + 1 end
  return n
end

-- `sova campaigns`: runs until SIGTERM or SIGINT, which end it after its pass, its campaigns
-- released for the next process to take at once (the calls in flight go on; it adopts them).
-- A kill leaves them to be taken once their leases expire (LEASE_MS).
function M.main(args)
  if args[1] == "--help" or args[1] == "-h" then
    print("usage: sova campaigns\n\nDrives the clinics' campaigns (batch calls). Run one or more, anywhere:"
      .. " each campaign is driven by one of them at a time.\nEnvironment: MONGODB_URI, SOVA_BOT_URL, SOVA_BOT_SECRET;"
      .. " SOVA_METRICS_HOST and SOVA_METRICS_PORT for its Prometheus metrics.\nIt also delivers the clinics' webhooks"
      .. " (SOVA_DATA_KEY opens their secrets; SOVA_WEBHOOK_BACKOFF_SCALE shortens their retries in tests).")
    return 0
  end
  local ok, err = core.db.open(config.mongodb_uri())
  if not ok then io.stderr:write("sova campaigns: ", tostring(err), "\n"); return 69 end
  local sok, serr = pcall(call_start.secret)
  if not sok then io.stderr:write("sova campaigns: ", tostring(serr), "\n"); return 78 end
  -- webhooks: the key their secrets are sealed under, and the retry schedule's scale
  local kok, kerr = config.data_key()
  if not kok then io.stderr:write("sova campaigns: ", tostring(kerr), "\n"); return 78 end
  sok, serr = pcall(webhooks.backoff_scale)
  if not sok then io.stderr:write("sova campaigns: ", tostring(serr), "\n"); return 78 end
  store.ensure_indexes()
  owner = config.env("HOSTNAME", "host") .. "/" .. core.crypto.random_hex(8)
  local cok, cerr = core.sys.catch_stop()
  if not cok then io.stderr:write("sova campaigns: ", tostring(cerr), "\n"); return 71 end
  local mok, mport = pcall(metrics.listen_if_asked)
  if not mok then io.stderr:write("sova campaigns: ", tostring(mport), "\n"); return 78 end
  log.info("campaigns.ready", { owner = owner, metrics_port = mport })
  while not core.sys.stop_requested() do
    local t0 = core.sys.monotonic()
    local tok, terr = xpcall(M.tick, debug.traceback)
    if not tok then log.error("campaigns.tick_failed", { trace = tostring(terr) }) end
    metrics.observe("sova_campaign_tick_seconds", nil, core.sys.monotonic() - t0)
    -- the clinics' webhooks share the loop (sova.webhooks.worker: a second of sending at most)
    tok, terr = xpcall(webhook_worker.tick, debug.traceback)
    if not tok then log.error("webhooks.tick_failed", { trace = tostring(terr) }) end
    core.sys.sleep(M.TICK_S)
  end
  for _, st in pairs(held) do
    lease.release(core.db.unscoped(), st.lease)
    let_go(st, "stopping")
  end
  webhook_worker.release()
  log.info("campaigns.stopped", {})
  return 0
end

return M

-- Spec helpers: a thin, documented front over spec/helpers/*.lua (in the manner of Kong's).
--
-- A typical API spec file:
--
--   local helpers = require("helpers")
--   describe("patients #api", function()
--     local db, api, alpha
--     lazy_setup(function()
--       db = helpers.start_db()            -- FerretDB on a free loopback port, fresh data dir
--       helpers.seed(db)                   -- sova script scripts/setup_multi_tenant.lua
--       api = helpers.start_api(db)        -- sova api on a free port
--       alpha = helpers.login(api, helpers.ALPHA.host, helpers.ALPHA.email, helpers.DEMO_PASSWORD)
--       -- or: db, api = helpers.setup(); alpha = helpers.login_as(api, helpers.ALPHA)
--       -- or, with the fixture factory: f = helpers.factory(db, api); patient = f:patient(ALPHA, "prior_auth")
--     end)
--     lazy_teardown(helpers.stop_all)      -- stops everything started, removes scratch dirs
--     it("...", function()
--       local res = helpers.http(api, "GET", "/api/me", { token = alpha })
--       assert.status(200, res)            -- prints the request and body on failure
--     end)
--   end)
--
-- Environment: SOVA_BUILD_DIR (build/ by default; build-asan/ for the sanitizer build),
-- SOVA_FERRETDB (FerretDB binary; default .tools/bin/ferretdb), SOVA_KEEP_TEST_RUNS=1 keeps the
-- scratch directories under .test-runs/ (logs of the API and the database) for a look after a run,
-- SOVA_SERVER_ASAN_OPTIONS (ASAN_OPTIONS for the sova processes started, e.g. leak detection on:
-- an API that does not exit 0, or logs a sanitizer report, fails helpers.stop_all).
--
-- One busted process keeps one database port (sova.core opens one database per process): each
-- spec file gets a fresh FerretDB data directory on that same port. See spec/helpers/db.lua.
local core = require("sova.core")
local cjson = require("cjson")
local proc = require("helpers.proc")
local dbh = require("helpers.db")
local sova = require("helpers.sova")
local http = require("helpers.http")
local jwt = require("helpers.jwt")
local assertions = require("helpers.assertions")
local factory = require("helpers.factory")
local phonesim = require("helpers.phonesim")

assertions.register()

local helpers = {}

helpers.core = core
helpers.cjson = cjson
helpers.jwt = jwt
helpers.proc = proc

--- The demo clinics as the seed creates them (fixtures: their patients in spec/fixtures/patients.lua).
helpers.ALPHA = { host = "democlinicalpha.localhost", email = "adambehun22@gmail.com", slug = "demo_clinic_alpha", fixtures = "alpha" }
helpers.BETA = { host = "democlinicbeta.localhost", email = "adam@datasova.com", slug = "demo_clinic_beta", fixtures = "beta" }

--- The password the specs seed the demo users with (SOVA_DEMO_PASSWORD).
helpers.DEMO_PASSWORD = sova.DEMO_PASSWORD

--- The API's SOVA_JWT_SECRET (64 hex digits, fixed for the busted process).
helpers.JWT_SECRET = sova.jwt_secret()

--- The API's and bot's SOVA_DATA_KEY (the recordings' key), fixed for the busted process.
helpers.DATA_KEY = sova.data_key()

--- Absolute path of the repository.
helpers.ROOT = proc.root

local started = {} -- what this spec file started, in order (module state: one list per file)

---------------------------------------------------------------------------------------------
-- processes

--- Starts FerretDB with a fresh data directory under .test-runs/ on a loopback port and waits
-- until it answers a ping. Returns {uri, port, dir, log, stop(), start(), restart(), kill(),
-- alive(), handle()}: stop/start keep the port and the data (for "database down" specs);
-- handle() is sova.core's unscoped db handle on it, in this process.
function helpers.start_db(opts)
  local db = dbh.start(opts)
  started[#started + 1] = { kind = "db", obj = db }
  return db
end

--- Seeds the demo clinics into db: `sova script scripts/setup_multi_tenant.lua` with
-- MONGODB_URI, a scratch SOVA_DATA_DIR and SOVA_DEMO_PASSWORD = helpers.DEMO_PASSWORD.
-- Raises unless it exits 0. opts.env adds variables. Returns the script's output.
function helpers.seed(db, opts)
  return sova.seed(db, opts)
end

--- Starts `sova api` (SOVA_HTTP_PORT=0, SOVA_HTTP_HOST=127.0.0.1, MONGODB_URI, a scratch
-- SOVA_DATA_DIR, SOVA_JWT_SECRET = helpers.JWT_SECRET, plus opts.env) and waits (opts.timeout,
-- default 30 s) for its "api.listening" log line. Returns {port, url, pid, log, stop(),
-- restart(), alive(), log_text()}. Raises with the log's tail when the process exits early.
function helpers.start_api(db, opts)
  local api = sova.start_api(db, opts)
  started[#started + 1] = { kind = "api", obj = api }
  return api
end

--- The usual lazy_setup in one call: start_db + seed + start_api. Returns db, api.
function helpers.setup(opts)
  opts = opts or {}
  local db = helpers.start_db(opts.db)
  helpers.seed(db, opts.seed)
  local api = helpers.start_api(db, opts.api)
  return db, api
end

--- Starts `sova bot` (SOVA_BOT_PORT=0, the shared SOVA_BOT_SECRET, plus opts.env) and waits for its
-- "bot.listening" line. Same handle as start_api.
function helpers.start_bot(db, opts)
  local bot = sova.start_bot(db, opts)
  started[#started + 1] = { kind = "bot", obj = bot }
  return bot
end

--- The secret API, bots and schedulers share to sign call starts (SOVA_BOT_SECRET), one per busted process.
helpers.bot_secret = sova.bot_secret

--- Starts `sova campaigns` against db and bot (helpers/sova.lua start_campaigns); stop_all stops it.
function helpers.start_campaigns(db, bot, opts)
  local c = sova.start_campaigns(db, bot, opts)
  started[#started + 1] = { kind = "campaigns", obj = c }
  return c
end

--- lazy_setup for calls: start_db + seed + start_bot + start_api wired to that bot.
-- Returns db, api, bot.
function helpers.setup_calls(opts)
  opts = opts or {}
  local db = helpers.start_db(opts.db)
  helpers.seed(db, opts.seed)
  local bot = helpers.start_bot(db, opts.bot)
  local api_opts = opts.api or {}
  api_opts.env = api_opts.env or {}
  api_opts.env.SOVA_BOT_URL = bot.url
  api_opts.env.SOVA_BOT_SECRET = sova.bot_secret()
  local api = helpers.start_api(db, api_opts)
  return db, api, bot
end

--- Starts the phone simulator (sova-phone-sim, a loopback Twilio) with opts.scenarios (a table:
-- the number called → its scripted callee; core/testkit/phonesim/README.md) on a free port and
-- waits for "ready port=". Returns the sim (spec/helpers/phonesim.lua): sim.api_base (the bot's
-- TWILIO_API_BASE), sim.account_sid / sim.auth_token, sim:create_call(params),
-- sim:update_call(sid, params), sim:events(fn), sim:wait_event(fn, timeout), sim:sink_url(path),
-- sim:sink_signed(event). stop_all stops it (raising unless it exited cleanly).
function helpers.start_phonesim(opts)
  local sim = phonesim.start(opts)
  started[#started + 1] = { kind = "phonesim", obj = sim }
  return sim
end
helpers.phonesim = phonesim

--- The platform's vocabulary (call statuses, system fields, event types): specs spell none of it.
helpers.vocabulary = require("sova.sandboxed.vocabulary")

--- A session document by id (hex), or false; and the session once the bot has ended it.
helpers.session_doc = factory.session_doc
helpers.wait_session = factory.wait_session

--- The fixture factory bound to a running API and its database (spec/helpers/factory.lua):
-- f:login(who), f:req(who, method, path, body, extra), f:patient(who, wf, overrides),
-- f:session(who, patient, fields), f:call(who, patient, mode), f:test_call(who, wf, overrides).
function helpers.factory(db, api)
  return factory.new(db, api, helpers.DEMO_PASSWORD)
end

--- Adds a patient through the API (helpers.valid_patient(wf, org, overrides)) and starts a
-- browser test call for it, with a token at hand. Returns the 202 body {session_id, live_url}
-- plus who and patient. (With a factory: f:test_call(who, wf, overrides).)
function helpers.start_test_call(api, token, who, wf, org, overrides)
  local patient = factory.add_patient(api, token, who, wf, helpers.valid_patient(wf, org, overrides))
  local call = factory.start_call(api, token, who, patient)
  call.who, call.patient = who, patient
  return call
end

--- Stops everything this spec file started (APIs first, then databases; process groups are
-- killed) and removes its scratch directory. Meant for lazy_teardown. Raises (after stopping
-- everything) when an API did not exit with status 0: a crash, or leaks found by the sanitizers.
function helpers.stop_all()
  local errs = {}
  for i = #started, 1, -1 do
    local s = started[i]
    local ok, err = pcall(function()
      if s.kind == "db" then s.obj:shutdown() else s.obj:stop_clean() end
    end)
    if not ok then errs[#errs + 1] = tostring(err) end
  end
  started = {}
  if #errs > 0 then
    -- keep the logs of a failed teardown for a look
    error("stop_all: " .. table.concat(errs, "; ") .. "\n(scratch files kept in " .. proc.run_dir() .. ")")
  end
  proc.cleanup()
end

---------------------------------------------------------------------------------------------
-- HTTP

--- helpers.http(api, method, path, {host=, token=, body= (table, sent as JSON) | raw= (string),
--   headers=, timeout_ms=}) -> {status, body (raw), json (decoded or nil), headers, elapsed}.
-- The Host header defaults to democlinicalpha.localhost.
helpers.http = http.request

--- POST /api/auth/login -> token (nil unless 200), full response.
helpers.login = http.login

--- Logs in as a demo user ({host=, email=}: helpers.ALPHA or helpers.BETA) with the demo
-- password; raises unless it answers 200. Returns token, login response.
function helpers.login_as(api, who)
  local token, res = http.login(api, who.host, who.email, helpers.DEMO_PASSWORD)
  if not token then
    error("login as " .. who.email .. " failed: " .. assertions.describe_response(res), 2)
  end
  return token, res
end

---------------------------------------------------------------------------------------------
-- utilities

--- Calls fn until it returns a truthy value (returned), for up to timeout_s seconds (default 10),
-- every step_s (default 0.1). Errors raised by fn count as "not yet". Raises on timeout.
function helpers.wait_until(fn, timeout_s, step_s)
  local deadline = core.sys.monotonic() + (timeout_s or 10)
  local last
  while true do
    local ok, v = pcall(fn)
    if ok and v then return v end
    if not ok then last = v end
    if core.sys.monotonic() > deadline then
      error(string.format("wait_until: condition not met within %ss%s", tostring(timeout_s or 10),
        last and (" (last error: " .. tostring(last) .. ")") or ""), 2)
    end
    core.sys.sleep(step_s or 0.1)
  end
end

--- A valid patient body (a fresh copy) for a workflow of an org ("alpha" by default):
-- helpers.valid_patient("prior_auth"), helpers.valid_patient("patient_questions", "beta"),
-- with overrides merged in (an override of helpers.NONE removes that key).
helpers.NONE = factory.NONE
helpers.valid_patient = factory.valid_patient

--- ObjectId from hex (a table sova.core stores as an ObjectId), for direct DB filters.
--- The keys of table t, sorted: for comparing which fields two documents define.
function helpers.sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

function helpers.oid(hex)
  local o, err = core.bson.oid(hex)
  if not o then error("oid(" .. tostring(hex) .. "): " .. tostring(err), 2) end
  return o
end

--- A fresh ObjectId's hex: an id that exists nowhere.
function helpers.new_id()
  return tostring(core.bson.oid())
end

--- Counts documents in the database directly (unscoped, in this process).
function helpers.count(db, coll, filter)
  local n, err = db:handle():count(coll, filter or {})
  if not n then error("count " .. coll .. ": " .. tostring(err), 2) end
  return n
end

--- The organization document of a demo clinic (helpers.ALPHA / helpers.BETA), read directly.
helpers.org_doc = factory.org_doc

--- A canonical text of a value (keys sorted, ObjectIds and dates as their text), to compare
-- database contents before and after a request.
function helpers.canonical(v)
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    if v["$oid"] and mt then return 'ObjectId("' .. tostring(v["$oid"]) .. '")' end
    if v["$date"] and mt then return "Date(" .. string.format("%.0f", v["$date"]) .. ")" end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = string.format("%q", tostring(k)) .. ":" .. helpers.canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif v == cjson.null then
    return "null"
  end
  return tostring(v)
end

--- JSON-decodes s (raises on bad JSON).
-- block_audit_writes(db, organization_id, index_name): from now on every audit insert of that
-- organization fails with a duplicate key (a unique index on audit_logs.organization_id with one
-- record of it already there; the other records are removed). unblock_audit_writes undoes it.
-- organization_id exactly as the API stores it in audit records (take it from one of them).
function helpers.block_audit_writes(db, organization_id, index_name)
  local h = db:handle()
  assert(h:delete("audit_logs", {}, { multi = true }))
  assert(h:insert("audit_logs", { organization_id = organization_id, spec_blocker = true }))
  local ok, err = h:command(core.bson.ordered({
    "createIndexes", "audit_logs",
    "indexes", core.bson.array({ { key = { organization_id = 1 }, name = index_name, unique = true } }),
  }))
  assert(ok, err)
end

function helpers.unblock_audit_writes(db, index_name)
  local h = db:handle()
  h:command(core.bson.ordered({ "dropIndexes", "audit_logs", "index", index_name }))
  h:delete("audit_logs", { spec_blocker = true }, { multi = true })
end

helpers.json_decode = cjson.decode
helpers.json_encode = cjson.encode
helpers.null = cjson.null

return helpers

-- For bench/writer.sh: the write shapes of calls and of PHI reads, timed against the database.
--   sova script bench/writer_driver.lua CALLS TURNS AUDITS SPOOL_DIR
-- 1. The session writer (sova.core.writer, the bot's): CALLS sessions, each getting TURNS turn
--    updates as the bot sends them (a $push of the two lines and a $set, one update per turn), then
--    its end ($set of status and summary), its patient's outcome and the dashboard's recount marker;
--    pushed at once, then flushed.
-- 2. Audit records (sova.audit's shape): AUDITS inserts, one after another on one connection, as
--    one API request makes one.
-- Prints one JSON line of figures.
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")
local cjson = require("cjson")
local writer, sys = core.writer, core.sys

local calls, turns, audits, spool = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), arg[4]
assert(calls and turns and audits and spool, "usage: writer_driver.lua CALLS TURNS AUDITS SPOOL_DIR")
assert(core.db.open(config.mongodb_uri()))
local h = core.db.unscoped()
local org = bson.oid()

local sessions, patients = {}, {}
for i = 1, calls do
  patients[i] = assert(h:insert("patients", { organization_id = org, workflow = "prior_auth", patient_name = "Writer Bench " .. i }))
  sessions[i] = assert(h:insert("sessions", { organization_id = org, workflow = "prior_auth", patient_id = patients[i],
    status = "in_progress", created_at = bson.now(), transcript = { messages = bson.array() } }))
end

assert(writer.start { spool_dir = spool })
local t0 = sys.monotonic()
local pushed = 0
local function push(op) assert(writer.push(op)); pushed = pushed + 1 end
for t = 1, turns do
  for i = 1, calls do
    push { collection = "sessions", kind = "update", filter = { _id = sessions[i], organization_id = org },
      update = { ["$set"] = { updated_at = bson.now(), current_node = "node_" .. t },
        ["$push"] = { ["transcript.messages"] = { ["$each"] = bson.array {
          { role = "user", content = "Line " .. t .. " of the other party, about as long as a real one.", ts = bson.now() },
          { role = "assistant", content = "The agent's answer " .. t .. ", a sentence or two long, as on a call.", ts = bson.now() } } } } } }
  end
end
for i = 1, calls do
  push { collection = "sessions", kind = "update", filter = { _id = sessions[i], organization_id = org },
    update = { ["$set"] = { status = "completed", updated_at = bson.now(), ["transcript.summary"] = "Approved, reference AUTH" .. i } } }
  push { collection = "patients", kind = "update", filter = { _id = patients[i], organization_id = org },
    update = { ["$set"] = { call_status = "Completed", auth_status = "Approved" } } }
  push { collection = "patient_recount", kind = "insert", doc = { organization_id = org, workflow = "prior_auth", patient_id = patients[i] } }
end
local t_pushed = sys.monotonic() - t0
assert(writer.flush(600000), "the writer did not finish")
local elapsed = sys.monotonic() - t0
local st = writer.stats()
writer.stop(5000)

local done = h:find("sessions", { organization_id = org, status = "completed" }, { projection = { _id = 1 } })
local a0 = sys.monotonic()
for i = 1, audits do
  assert(h:insert("audit_logs", { organization_id = org, user_id = bson.oid(), action = "view", resource_type = "patient",
    resource_id = patients[i % calls + 1], timestamp = bson.now(), details = { workflow = "prior_auth" } }))
end
local a_elapsed = sys.monotonic() - a0

print(cjson.encode {
  calls = calls, turns = turns, writes = pushed, push_seconds = t_pushed, write_seconds = elapsed,
  writes_per_second = pushed / elapsed, applied = st.applied, failed = st.failed_permanently,
  sessions_completed = #done, audits = audits, audit_inserts_per_second = audits / a_elapsed,
})
return 0

-- sova.store: the database's shape: collections, indexes, and the audit retention sweep.
-- Works on MongoDB 6+ and on FerretDB (which lacks TTL indexes, hence the sweep).
local core = require("sova.core")
local bson = core.bson
local config = require("sova.config")

local M = {}

local o = bson.ordered

-- collection -> list of {name=, key=ordered, unique=}
local INDEXES = {
  organizations = {
    { name = "slug_unique", key = o { "slug", 1 }, unique = true },
    { name = "domains", key = o { "domains", 1 } },
  },
  users = {
    { name = "email_unique", key = o { "email", 1 }, unique = true },
    { name = "org", key = o { "organization_id", 1 } },
  },
  patients = {
    { name = "org_workflow_created", key = o { "organization_id", 1, "workflow", 1, "created_at", -1 } },
    -- the list's pages, read by equality (sova.patient_list); a search sorts by list position
    { name = "org_workflow_page", key = o { "organization_id", 1, "workflow", 1, "list_page", 1 } },
    { name = "org_workflow_seq", key = o { "organization_id", 1, "workflow", 1, "list_seq", -1 } },
  },
  -- a search's candidates, by equality on one term in one page or block of the list (sova.patient_search)
  patient_terms = {
    { name = "org_workflow_block_terms", key = o { "organization_id", 1, "workflow", 1, "list_block", 1, "terms", 1 } },
    { name = "org_workflow_page_terms", key = o { "organization_id", 1, "workflow", 1, "list_page", 1, "terms", 1 } },
  },
  -- the dashboard's counters (sova.patient_counts)
  -- what the counters hold for each patient, and the patients the bot wrote since (sova.patient_counts)
  patient_counted = {
    { name = "org_workflow", key = o { "organization_id", 1, "workflow", 1 } },
  },
  patient_recount = {
    { name = "org_workflow", key = o { "organization_id", 1, "workflow", 1 } },
  },
  patient_counts = {
    { name = "org_workflow_field_value", key = o { "organization_id", 1, "workflow", 1, "field", 1, "value", 1 }, unique = true },
  },
  -- a CSV import's record, found again by its import_id when a request is retried (sova.api.patient_import)
  patient_imports = {
    { name = "org_workflow_key_unique", key = o { "organization_id", 1, "workflow", 1, "key", 1 }, unique = true },
  },
  -- each workflow's list counter (sova.patient_list)
  patient_lists = {
    { name = "org_workflow_unique", key = o { "organization_id", 1, "workflow", 1 }, unique = true },
  },
  sessions = {
    { name = "org_patient", key = o { "organization_id", 1, "patient_id", 1 } },
    -- the calls of a bot that stopped heart-beating (sova.bots.reap)
    { name = "bot_status", key = o { "bot_id", 1, "status", 1 } },
  },
  audit_logs = {
    { name = "org_timestamp", key = o { "organization_id", 1, "timestamp", -1 } },
  },
  auth_sessions = {
    { name = "org_user", key = o { "organization_id", 1, "user_id", 1 } },
  },
  -- GridFS bucket "recordings" (core/db/recordings.h): the driver's standard indexes, by their
  -- standard names (other drivers reading the bucket look for them), and the tenant's lookup
  ["recordings.files"] = {
    { name = "filename_1_uploadDate_1", key = o { "filename", 1, "uploadDate", 1 } },
    { name = "org_session", key = o { "metadata.organization_id", 1, "metadata.session_id", 1 } },
  },
  ["recordings.chunks"] = {
    { name = "files_id_1_n_1", key = o { "files_id", 1, "n", 1 }, unique = true },
  },
  -- batch calls (sova.campaign): a workflow's campaigns; the scheduler's work, by equality on active
  campaigns = {
    { name = "org_workflow", key = o { "organization_id", 1, "workflow", 1 } },
    { name = "active", key = o { "active", 1 } },
  },
  -- one per patient of a campaign: its attempts, written only by the campaign's lease holder
  campaign_targets = {
    { name = "org_campaign_state", key = o { "organization_id", 1, "campaign_id", 1, "state", 1 } },
  },
  -- calls started per second from one caller ID: one document per slot, won by a unique insert
  campaign_rate = {
    { name = "at", key = o { "at", 1 } },
  },
  -- who may drive a campaign now (sova.lease): the epochs of one key
  leases = {
    { name = "key", key = o { "key", 1 } },
  },
  -- one-time account links (sova.api.user_tokens): found by the token's hash; a claim is a
  -- unique insert of the token's _id
  user_tokens = {
    { name = "token_hash_unique", key = o { "token_hash", 1 }, unique = true },
    { name = "org_purpose", key = o { "organization_id", 1, "purpose", 1 } },
  },
  login_attempts = {
    { name = "key_unique", key = o { "key", 1 }, unique = true },
  },
  -- a clinic's webhooks (sova.webhooks): its endpoints; events waiting to be fanned out; the
  -- deliveries, by what they deliver (unique: one per event and endpoint), the worker's due ones,
  -- and each clinic's log, newest first
  webhook_endpoints = {
    { name = "org", key = o { "organization_id", 1 } },
  },
  webhook_events = {
    { name = "created", key = o { "created_at", 1 } },
  },
  webhook_deliveries = {
    { name = "key_unique", key = o { "key", 1 }, unique = true },
    { name = "status_next", key = o { "status", 1, "next_at", 1 } },
    { name = "org_endpoint", key = o { "organization_id", 1, "endpoint_id", 1, "_id", -1 } },
  },
}

-- Names of the collection's existing indexes | nil, err (a missing collection has none).
local function existing(h, coll)
  local names = {}
  local r, err, code = h:command(o { "listIndexes", coll })
  if not r then
    if code == 26 then return names end -- NamespaceNotFound
    return nil, err
  end
  for _, ix in ipairs(r.cursor and r.cursor.firstBatch or {}) do names[ix.name] = true end
  return names
end

-- indexes of earlier versions, dropped where they are found
local RETIRED = {
  patient_terms = { "org_workflow_terms" }, -- a search read every row one term matched
  patients = { "org_workflow_dirty" }, -- the counters' marks were in the patients
}

-- Creates the indexes the collection lacks (by name), and drops its RETIRED ones. Asking FerretDB
-- to re-create an existing index can crash its connection, so existing ones are never sent again.

local function create(h, coll, specs)
  local have, err = existing(h, coll)
  if not have then return nil, err end
  for _, name in ipairs(RETIRED[coll] or {}) do
    if have[name] then
      local ok
      ok, err = h:command(o { "dropIndexes", coll, "index", name })
      if not ok then return nil, err end
    end
  end
  local list = bson.array()
  for _, s in ipairs(specs) do
    if not have[s.name] then
      list[#list + 1] = { name = s.name, key = s.key, unique = s.unique or nil, expireAfterSeconds = s.ttl }
    end
  end
  if #list == 0 then return true end
  return h:command(o { "createIndexes", coll, "indexes", list })
end

-- fn(db, key, fields) for every workflow of every organization (db: the organization's scoped
-- handle). true | nil, err (fn's first)
local function each_workflow(h, fn)
  local orgs, err = h:find("organizations", {}, { projection = { _id = 1, workflows = 1 } })
  if not orgs then return nil, err end
  for _, org in ipairs(orgs) do
    local db = core.db.scoped(org._id)
    for key, wf in pairs(type(org.workflows) == "table" and org.workflows or {}) do
      local fields = type(wf) == "table" and type(wf.patient_schema) == "table" and wf.patient_schema.fields or {}
      local ok
      ok, err = fn(db, key, fields)
      if not ok then return nil, err end
    end
  end
  return true
end

-- Runs fn(h, scoped) once per database: a document in migrations says it ran. true | nil, err
local function once(h, name, fn)
  local done, err = h:find_one("migrations", { _id = name })
  if err then return nil, err end
  if done then return true end
  local ok
  ok, err = fn(h, core.db.scoped)
  if not ok then return nil, err end
  return h:insert("migrations", { _id = name, at = bson.now() })
end

-- Creates every index (idempotent). Returns true | nil, err. Sets M.ttl_supported.
function M.ensure_indexes()
  local h = core.db.unscoped()
  for coll, specs in pairs(INDEXES) do
    local ok, err = create(h, coll, specs)
    if not ok then return nil, err end
  end
  -- 6-year retention: a TTL index where the server has them (MongoDB), the sweep everywhere.
  local ttl = create(h, "audit_logs", { { name = "retention_ttl", key = o { "timestamp", 1 }, ttl = config.AUDIT_RETENTION } })
  M.ttl_supported = ttl and true or false
  -- patients stored before lists had positions, or search its terms (v2: in blocks), get theirs
  local ok, err = once(h, "patient_list_v1", require("sova.patient_list").backfill)
  if not ok then return nil, err end
  ok, err = once(h, "patient_search_v2", function() return each_workflow(h, require("sova.patient_search").backfill) end)
  if not ok then return nil, err end
  ok, err = once(h, "patient_counts_v1", function() return each_workflow(h, require("sova.patient_counts").backfill) end)
  if not ok then return nil, err end
  -- v2: what the counters hold for each patient moved out of the patients: counted anew
  return once(h, "patient_counts_v2", function() return each_workflow(h, require("sova.patient_counts").restart) end)
end

-- Deletes audit records older than the retention period. Returns deleted count | nil, err.
function M.sweep_audit()
  local cutoff = bson.date((os.time() - config.AUDIT_RETENTION) * 1000)
  return core.db.unscoped():delete("audit_logs", { timestamp = { ["$lt"] = cutoff } }, { multi = true })
end

return M

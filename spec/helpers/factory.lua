-- The fixture factory: what specs need in the database, built the way the product builds it
-- (through the running API; sessions the API only makes through a call are inserted directly).
--
--   local f = helpers.factory(db, api)        -- after helpers.setup / setup_calls
--   f:login(ALPHA)                            -- the clinic's demo admin token and login body (logs in once)
--   f:req(ALPHA, "GET", "/api/me")            -- helpers.http with that clinic's Host and token
--   f:patient(ALPHA, "prior_auth", { patient_name = "Ada Lovelace" })  -- POST, asserts 201, the body
--   f:session(ALPHA, patient, { status = "failed" })                   -- a session document's id (hex)
--   f:call(ALPHA, patient)                    -- POST .../calls (browser), asserts 202, {session_id, live_url}
--   f:test_call(ALPHA, "prior_auth", overrides)  -- a new patient and a call: the 202 body + who, patient
--   f:wait_session(id[, timeout])             -- the session once the bot has ended it (also M.wait_session(db, id))
--
-- who is helpers.ALPHA or helpers.BETA ({host, email, slug, fixtures}); patient bodies come from
-- spec/fixtures/patients.lua (helpers.valid_patient) with overrides merged in.
local core = require("sova.core")
local http = require("helpers.http")
local assertions = require("helpers.assertions")
local patients = require("fixtures.patients")
local vocabulary = require("sova.sandboxed.vocabulary")

local bson = core.bson

local M = {}

--- Removes a key from a fixture when given as an override's value.
M.NONE = setmetatable({}, { __tostring = function() return "helpers.NONE" end })

--- A valid patient body (a fresh copy) of a workflow for a fixture set ("alpha" by default).
function M.valid_patient(workflow, fixtures, overrides)
  local set = patients[fixtures or "alpha"]
  local base = set and set[workflow]
  if not base then error("no patient fixture for " .. tostring(fixtures or "alpha") .. "/" .. tostring(workflow), 2) end
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(overrides or {}) do
    if v == M.NONE then t[k] = nil else t[k] = v end
  end
  return t
end

--- The organization document of a demo clinic, read directly.
function M.org_doc(db, who)
  local doc, err = db:handle():find_one("organizations", { slug = who.slug })
  if not doc then error("no organization " .. who.slug .. ": " .. tostring(err), 2) end
  return doc
end

local function expect(status, res, what)
  if res.status ~= status then error(what .. " failed: " .. assertions.describe_response(res), 3) end
  return res.json
end

--- POST /api/workflows/{wf}/patients {body} as token at who's host; raises unless 201. The patient.
function M.add_patient(api, token, who, wf, body)
  local res = http.request(api, "POST", "/api/workflows/" .. wf .. "/patients", { host = who.host, token = token, body = body })
  return expect(201, res, "adding a patient")
end

--- POST /api/patients/{id}/calls {mode} (default browser); raises unless 202. The 202 body.
function M.start_call(api, token, who, patient, mode)
  local res = http.request(api, "POST", "/api/patients/" .. patient.id .. "/calls",
    { host = who.host, token = token, body = { mode = mode or "browser" } })
  return expect(202, res, "starting the call")
end

--- The session document with id (hex), or false.
function M.session_doc(db, id)
  return db:handle():find_one("sessions", { _id = bson.oid(id) })
end

--- The session once the bot has ended it and its final write has landed (a terminal status of
--- the vocabulary, and ended_at); raises after timeout seconds (default 30).
function M.wait_session(db, id, timeout)
  local doc
  local deadline = core.sys.monotonic() + (timeout or 30)
  repeat
    doc = M.session_doc(db, id)
    if doc and vocabulary.TERMINAL_STATUSES[doc.status] and doc.ended_at ~= nil then return doc end
    core.sys.sleep(0.1)
  until core.sys.monotonic() > deadline
  error(("session %s did not end within %ss (status %s)"):format(id, tostring(timeout or 30),
    tostring(doc and doc.status)), 2)
end

local Factory = {}
Factory.__index = Factory

function Factory:wait_session(id, timeout) return M.wait_session(self.db, id, timeout) end

function M.new(db, api, password)
  return setmetatable({ db = db, api = api, password = password, tokens = {}, logins = {} }, Factory)
end

--- The demo admin's token of who's clinic and the login's body {token, user, organization, ...}
-- (logged in at the first use; raises unless 200).
function Factory:login(who)
  local token = self.tokens[who]
  if token then return token, self.logins[who] end
  local res
  token, res = http.login(self.api, who.host, who.email, self.password)
  if not token then error("login as " .. who.email .. " failed: " .. assertions.describe_response(res), 2) end
  self.tokens[who], self.logins[who] = token, res.json
  return token, res.json
end

--- helpers.http at who's host with who's token; extra = more options (headers, timeout_ms, raw,
-- or token = another token).
function Factory:req(who, method, path, body, extra)
  local opts = { host = who.host, token = (self:login(who)), body = body }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return http.request(self.api, method, path, opts)
end

--- A patient of who's clinic in workflow wf, added through the API (asserts 201).
function Factory:patient(who, wf, overrides)
  return M.add_patient(self.api, self:login(who), who, wf, M.valid_patient(wf, who.fixtures, overrides))
end

--- A completed session of patient, inserted directly (the API writes sessions only through calls).
-- fields override the document's (e.g. transcript, status). Returns the id as hex.
function Factory:session(who, patient, fields)
  local org = M.org_doc(self.db, who)
  local doc = {
    organization_id = org._id,
    patient_id = bson.oid(patient.id),
    workflow = patient.workflow,
    status = "completed",
    transcript = { messages = bson.array(), summary = "summary of " .. tostring(patient.patient_name) },
    created_at = bson.now(),
  }
  for k, v in pairs(fields or {}) do doc[k] = v end
  local id, err = self.db:handle():insert("sessions", doc)
  if not id then error("inserting a session: " .. tostring(err), 2) end
  return tostring(id)
end

--- Starts a call (mode browser unless given) on patient (asserts 202): {session_id, live_url}.
function Factory:call(who, patient, mode)
  return M.start_call(self.api, self:login(who), who, patient, mode)
end

--- A new patient (fixture + overrides) and a browser test call for it: the 202 body plus who, patient.
function Factory:test_call(who, wf, overrides)
  local patient = self:patient(who, wf, overrides)
  local call = self:call(who, patient)
  call.who, call.patient = who, patient
  return call
end

return M

-- sova.api.present: documents as the API shows them. Ids become hex strings; internal fields
-- (organization_id, password hashes) never leave.
local json = require("sova.json")

local M = {}

local function hex(v) return v and v["$oid"] or nil end
M.hex = hex

-- the tenant, and the bookkeeping of the list (sova.patient_list) and of the dashboard's first
-- counts (counted, counts_dirty: patients written before sova.patient_counts kept its own), are
-- not the patient's
local HIDDEN = { _id = true, organization_id = true, list_seq = true, list_page = true, counted = true,
  counts_dirty = true }

-- internal(key) -> whether a patient document's key is the platform's, never shown (nor given to a call)
function M.internal(key) return HIDDEN[key] == true end

function M.patient(doc)
  local out = {}
  for k, v in pairs(doc) do
    if not HIDDEN[k] then out[k] = v end
  end
  out.id = hex(doc._id)
  return out
end

function M.user(u)
  return { id = hex(u._id), email = u.email, role = u.role, name = u.name, status = u.status }
end

local function workflows(org, full)
  local out = {}
  for key, wf in pairs(org.workflows or {}) do
    local w = { enabled = wf.enabled ~= false, label = wf.label or key }
    if full then
      w.patient_schema = { fields = json.array(wf.patient_schema and wf.patient_schema.fields or {}) }
    end
    out[key] = w
  end
  return out
end

-- The org with its workflows and their patient_schemas (login, /api/me).
function M.organization(org)
  return {
    id = hex(org._id), name = org.name, slug = org.slug, branding = org.branding,
    workflows = workflows(org, true),
  }
end

-- Public branding for a host (no auth).
function M.tenant(org)
  local list = json.array()
  for key, wf in pairs(workflows(org, false)) do
    if wf.enabled then list[#list + 1] = { key = key, label = wf.label } end
  end
  table.sort(list, function(a, b) return a.key < b.key end)
  return { name = org.name, slug = org.slug, branding = org.branding, workflows = list }
end

function M.session(s)
  local out = {}
  for k, v in pairs(s) do
    -- _writer_ops: the ids of the bot's writes already applied (core/db/writer.h)
    if k ~= "_id" and k ~= "organization_id" and k ~= "_writer_ops" then out[k] = v end
  end
  out.id = hex(s._id)
  out.patient_id = hex(s.patient_id)
  return out
end

function M.audit(a)
  local out = {}
  for k, v in pairs(a) do
    if k ~= "_id" then out[k] = v end
  end
  out.id = hex(a._id)
  out.organization_id = hex(a.organization_id)
  return out
end

return M

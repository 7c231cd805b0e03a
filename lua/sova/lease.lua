-- sova.lease: who may act on a thing now (a campaign's attempt, a scheduler's turn), among
-- processes on several machines that share only the database.
--
-- A lease is a run of epochs. Epoch n of key k is one document, _id "k:n", in `leases`: taking or
-- renewing a lease is inserting the next epoch, and the unique _id lets exactly one inserter win
-- it. Nothing is ever updated in place: FerretDB over PostgreSQL computes an update (findAndModify
-- too) from a read outside the write, so two conditional updates at once can both succeed
-- (measured: docs/architecture.md, "What the embedded database does not make atomic"); an insert
-- against a unique index and a delete by _id are atomic on both databases.
--
-- The holder is the owner of the newest epoch while it has not expired. A holder renews well
-- before expiry (renew: epoch n+1 if n is still the newest), and acts only while
-- `lease.valid(l)`: its own clock, with SKEW_MS of margin for the others'. A crashed holder's
-- lease expires and the next take wins epoch n+1. A release writes an epoch that has already
-- expired, so the next take need not wait. Older epochs are pruned; a taker that raced on a
-- pruned one sees the newer epoch when it reads again after its insert, and withdraws.
local core = require("sova.core")

local M = {}

M.COLL = "leases"
M.SKEW_MS = 2000 -- clocks of machines that may disagree this much still never share a lease

local function now_ms() return math.floor(core.sys.time() * 1000) end

-- the newest epoch of key | false (none) | nil, err
local function newest(h, key)
  local docs, err = h:find(M.COLL, { key = key })
  if not docs then return nil, err end
  local top = false
  for _, d in ipairs(docs) do
    if not top or d.epoch > top.epoch then top = d end
  end
  return top
end

-- inserts epoch n of key for owner; then the lease | nil, "held" (another process won) | nil, err
local function claim(h, key, n, owner, ttl_ms)
  local t = now_ms()
  local doc = { _id = key .. ":" .. n, key = key, epoch = n, owner = owner, expires_at = t + ttl_ms, taken_at = t }
  local ok, err, code = h:insert(M.COLL, doc)
  if not ok then
    if code == 11000 then return nil, "held" end
    return nil, err
  end
  local top
  top, err = newest(h, key)
  if top == nil then return nil, err end
  if top.epoch ~= n then -- raced on a pruned epoch: the lease is someone else's
    h:delete(M.COLL, { _id = doc._id })
    return nil, "held"
  end
  h:delete(M.COLL, { key = key, epoch = { ["$lt"] = n - 1 } }, { multi = true }) -- best effort
  return { key = key, epoch = n, owner = owner, ttl_ms = ttl_ms, expires_at = doc.expires_at, taken_at = t }
end

-- take(h, key, owner, ttl_ms) -> lease | nil, "held" | nil, err (the database)
-- h: an unscoped handle (a lease's key is unique across clinics: an ObjectId's hex, prefixed)
function M.take(h, key, owner, ttl_ms)
  assert(type(key) == "string" and key ~= "" and not key:find(":", 1, true), "lease key: a string without ':'")
  assert(type(owner) == "string" and owner ~= "", "lease owner: a string")
  assert(type(ttl_ms) == "number" and ttl_ms > M.SKEW_MS, "lease ttl_ms: more than SKEW_MS")
  local top, err = newest(h, key)
  if top == nil then return nil, err end
  if top and top.expires_at + M.SKEW_MS > now_ms() then return nil, "held" end
  return claim(h, key, top and top.epoch + 1 or 1, owner, ttl_ms)
end

-- renew(h, lease) -> the lease, renewed for its ttl | nil, "lost" | nil, err
-- Lost: another process took it after it expired; the caller stops acting on it.
function M.renew(h, l)
  if not M.valid(l) then return nil, "lost" end
  local top, err = newest(h, l.key)
  if top == nil then return nil, err end
  if not top or top.epoch ~= l.epoch or top.owner ~= l.owner then return nil, "lost" end
  local nl
  nl, err = claim(h, l.key, l.epoch + 1, l.owner, l.ttl_ms)
  if not nl then return nil, err == "held" and "lost" or err end
  return nl
end

-- valid(lease) -> may its holder still act on it (by its own clock)?
function M.valid(l)
  return l ~= nil and now_ms() + M.SKEW_MS < l.expires_at
end

-- release(h, lease) -> true | nil, "lost" | nil, err: the next take needs no wait
function M.release(h, l)
  local ok, err, code = h:insert(M.COLL, { _id = l.key .. ":" .. (l.epoch + 1), key = l.key, epoch = l.epoch + 1,
    owner = "", expires_at = 0, taken_at = now_ms() })
  if ok then return true end
  return nil, code == 11000 and "lost" or err
end

-- forget(h, key): the thing is done; its epochs go (a later take starts again at 1)
function M.forget(h, key)
  return h:delete(M.COLL, { key = key }, { multi = true })
end

return M

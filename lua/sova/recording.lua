-- sova.recording: a call's recording kept with its session. The bytes are sealed at rest in the
-- database by core.recording (GridFS bucket "recordings", libsodium secretstream in 1 MiB
-- segments, key from SOVA_DATA_KEY); the session document gets a summary the web UI shows:
-- recording = {bytes, duration_seconds, content_type}.
local core = require("sova.core")
local config = require("sova.config")

local M = {}

M.CONTENT_TYPE = "audio/wav"

local key_ready = false

-- Loads SOVA_DATA_KEY into core.recording (once per process; required in production).
-- Returns the key id | nil, err.
function M.use_data_key()
  local secret, err = config.data_key()
  if not secret then return nil, err end
  local id = core.recording.set_key(secret)
  key_ready = true
  return id
end

local function ensure_key()
  if key_ready or core.recording.key_id() then return true end
  return M.use_data_key()
end

local function u16(s, i) local a, b = s:byte(i, i + 1); return a + b * 256 end
local function u32(s, i) local a, b, c, d = s:byte(i, i + 3); return a + b * 256 + c * 65536 + d * 16777216 end

-- Seconds of audio in a PCM WAV (RIFF fmt then data chunks), or nil when it is not one.
function M.wav_duration(wav)
  if #wav < 44 or wav:sub(1, 4) ~= "RIFF" or wav:sub(9, 12) ~= "WAVE" then return nil end
  local at, byte_rate = 13, nil
  while at + 8 <= #wav do
    local id, size = wav:sub(at, at + 3), u32(wav, at + 4)
    if id == "fmt " and size >= 16 then
      byte_rate = u32(wav, at + 16)
    elseif id == "data" then
      if not byte_rate or byte_rate == 0 then return nil end
      local data = math.min(size, #wav - (at + 8) + 1)
      return math.floor(data / byte_rate * 100 + 0.5) / 100
    end
    at = at + 8 + size + size % 2
  end
  return nil
end

-- store(db, org_id, session_id, wav) -> info | nil, err, kind: seals and stores the WAV, then
-- writes the session's summary (db: a handle that may write the session: scoped to org_id, or
-- unscoped). The channel layout (agent left, other party right) is core/bot/media/wav.h's.
function M.store(db, org_id, session_id, wav)
  local ok, err = ensure_key()
  if not ok then return nil, err, "key" end
  local duration = M.wav_duration(wav)
  if not duration then return nil, "not a PCM WAV", "format" end
  local info, serr, kind = core.recording.store(db, org_id, session_id, wav)
  if not info then return nil, serr, kind end
  local summary = { bytes = info.bytes, duration_seconds = duration, content_type = M.CONTENT_TYPE }
  local filter = { _id = session_id }
  if not db:organization() then filter.organization_id = org_id end
  local r, uerr = db:update("sessions", filter, { ["$set"] = { recording = summary } })
  if not r then return nil, uerr, "database" end
  return info
end

-- info / read with the key loaded: core.recording's, for a request's scoped handle.
function M.info(db, org_id, session_id)
  local ok, err = ensure_key()
  if not ok then return nil, err, "key" end
  return core.recording.info(db, org_id, session_id)
end

function M.read(db, org_id, session_id, from, to)
  local ok, err = ensure_key()
  if not ok then return nil, err, "key" end
  return core.recording.read(db, org_id, session_id, from, to)
end

return M

-- sova.bot.listen: staff listening to a call's audio (docs/live-protocol.md, "Listening"). A
-- listener's socket was let in with a listen token (sova.callsign) naming its user; from then on it
-- only receives: the media thread sends it the mix of both sides (loop.voice_listener) and drops
-- whatever it sends, so it never reaches the call. Each start and end is a session event with the
-- user's id. A call without a voice yet (a text call that may switch to voice) keeps its listeners
-- waiting: they hear it from when its voice opens.
local core = require("sova.core")
local loop = core.loop
local json = require("sova.json")

local M = {}

-- listeners of one call at most (the media thread's SOVA_VOICE_MAX_LISTENERS)
M.MAX_PER_CALL = 4

local listeners = {} -- websocket id -> call record
local host           -- what sova.bot.calls lends: event(rec, ev), voice_id(rec)

function M.bind(h) host = h end

local function refuse(ws, message)
  loop.ws_send(ws, json.encode({ type = "error", message = message }))
  loop.ws_close(ws)
end

local function hear(rec, ws, on)
  local id = host.voice_id(rec)
  if id then loop.voice_listener(id, ws, on) end
end

-- join(rec, ws, user_id): socket ws listens to the call from now on
function M.join(rec, ws, user)
  local n = 0
  for _ in pairs(rec.listeners) do n = n + 1 end
  if n >= M.MAX_PER_CALL then
    return refuse(ws, ("this call has %d listeners already"):format(M.MAX_PER_CALL))
  end
  rec.listeners[ws] = user
  listeners[ws] = rec
  host.event(rec, { type = "listening_started", user_id = user })
  hear(rec, ws, true)
end

function M.is_listener(ws) return listeners[ws] ~= nil end

-- leave(ws) -> whether ws was a listener (its socket closed)
function M.leave(ws)
  local rec = listeners[ws]
  if not rec then return false end
  listeners[ws] = nil
  local user = rec.listeners[ws]
  rec.listeners[ws] = nil
  hear(rec, ws, false)
  host.event(rec, { type = "listening_ended", user_id = user })
  return true
end

-- voice_opened(rec, voice_id): the call's voice is there: its listeners hear it
function M.voice_opened(rec, id)
  for ws in pairs(rec.listeners) do loop.voice_listener(id, ws, true) end
end

-- ended(rec): the call is over: each listener's end is recorded and its socket closed
function M.ended(rec)
  for ws, user in pairs(rec.listeners) do
    listeners[ws] = nil
    host.event(rec, { type = "listening_ended", user_id = user })
    loop.ws_close(ws)
  end
  rec.listeners = {}
end

return M

-- sova.bot.voice: a call's audio as the control plane sees it. Audio never passes through Lua:
-- the media thread (core/bot/voice_loop.c, sova.core.loop's voice_* functions) decodes, detects
-- speech, recognizes, synthesizes, paces and records; this module opens a call's voice when the
-- browser asks for audio, streams the agent's lines into it, and turns its events into the
-- call's turns, interruptions, transcripts and latency figures.
--
-- Events from the media thread: {kind = "voice", id = <voice id>, body = <JSON>}, body.type one of
-- ready, speech_started, speech_stopped, interim, final, end_of_turn, agent_started, agent_done,
-- interrupted, error, closed, and on a phone's stream stream_start, stream_stop, played, dtmf
-- (see core/bot/voice_loop.h).
local core = require("sova.core")
local loop = core.loop
local config = require("sova.config")
local json = require("sova.json")
local log = require("sova.log")
local services = require("sova.services")
local stats = require("sova.bot.stats")
local metrics = require("sova.metrics")

local M = {}

-- The audio formats a browser may send (docs/live-protocol.md, "Voice"); the bot answers in the same.
M.FORMATS = { pcm_s16le = { [8000] = true, [16000] = true, [48000] = true }, mulaw = { [8000] = true } }
-- Offline recognizers hold a full language model each (80 MiB, docs/benchmarks.md): a cap on the
-- voice calls that run them at once, beyond which a call stays text-only with a clear message.
M.MAX_OFFLINE = tonumber(config.env("SOVA_OFFLINE_VOICE_CALLS", "")) or 4
local OFFLINE_STT = { pocketsphinx = true }

local voices = {}   -- voice id -> call record
local offline = 0   -- voice calls on an offline recognizer
local host          -- what sova.bot.calls lends (voice.bind in calls.lua)

function M.bind(h) host = h end

local function ms(ns) return ns and ns > 0 and ns / 1e6 or nil end

-- the call's voice while it is open
local function live(rec)
  local v = rec.voice
  return v and not v.closing and v or nil
end

-- format(msg) -> {encoding, sample_rate} | nil, reason: an audio.start message checked
function M.format(msg)
  local enc, rate = msg.encoding, msg.sample_rate
  if type(enc) ~= "string" or not M.FORMATS[enc] then
    return nil, "encoding must be pcm_s16le or mulaw"
  end
  if type(rate) ~= "number" or not M.FORMATS[enc][rate] then
    return nil, enc == "mulaw" and "mulaw audio is 8000 Hz" or "sample_rate must be 8000, 16000 or 48000"
  end
  if msg.channels ~= nil and msg.channels ~= 1 then return nil, "audio is mono: channels must be 1" end
  return { encoding = enc, sample_rate = rate }
end

-- open(rec, ws, msg) -> true | nil, reason: the browser asked for audio on socket ws.
local function ready(ws, fmt, v)
  loop.ws_send(ws, json.encode({ type = "audio.ready", encoding = fmt.encoding, sample_rate = fmt.sample_rate,
    channels = 1, frame_ms = 20, stt = v.engines.stt, tts = v.engines.tts }))
end

-- room(flow_dir) -> true | nil, reason: a voice call of this flow could open now (a phone call is
-- refused at its start when not, before anything is dialed or written)
function M.room(flow_dir)
  local cfg = services.load(flow_dir .. "/services.yaml")
  local speech = cfg and services.speech_options(cfg)
  if speech and OFFLINE_STT[speech.stt.engine] and offline >= M.MAX_OFFLINE then
    return nil, ("offline speech is at capacity (%d voice calls): try again shortly, or use text"):format(M.MAX_OFFLINE)
  end
  return true
end

-- new_voice(rec, fmt) -> voice | nil, reason: the call's voice on the media thread, not yet fed
local function new_voice(rec, fmt)
  local cfg, problems = services.load(rec.flow_dir .. "/services.yaml")
  if not cfg then return nil, "services.yaml is not valid: " .. services.format_problems(problems) end
  local speech, none = services.speech_options(cfg)
  if not speech then return nil, none end
  local is_offline = OFFLINE_STT[speech.stt.engine]
  if is_offline and offline >= M.MAX_OFFLINE then
    return nil, ("offline speech is at capacity (%d voice calls): try again shortly, or use text"):format(M.MAX_OFFLINE)
  end
  local v = speech.voice
  local id, err = loop.voice_new {
    encoding = fmt.encoding, sample_rate = fmt.sample_rate,
    stt = speech.stt, tts = speech.tts,
    vad = v.vad, min_silence_ms = v.min_silence_ms, max_silence_ms = v.max_silence_ms,
    barge_in = v.barge_in.enabled, barge_in_min_ms = v.barge_in.min_ms, barge_in_min_words = v.barge_in.min_words,
    record = true,
  }
  if not id then return nil, err end
  if is_offline then offline = offline + 1 end
  rec.voice = { id = id, format = fmt, offline = is_offline, lines = {}, indices = {}, in_turn = false,
    lines_out = 0, engines = { stt = speech.stt.engine, tts = speech.tts.engine } }
  voices[id] = rec
  host.voice_opened(rec, id) -- listeners waiting for the call's audio hear it from now on
  for _, note in ipairs(speech.notes) do host.note(rec, note) end
  host.session_update(rec, { ["$set"] = { voice = { stt = speech.stt.engine, tts = speech.tts.engine,
    encoding = fmt.encoding, sample_rate = fmt.sample_rate } } })
  M.expect(rec)
  return rec.voice
end

-- open(rec, ws, msg) -> true | nil, reason: the browser asked for audio on socket ws.
function M.open(rec, ws, msg)
  local fmt, why = M.format(msg)
  if not fmt then return nil, why end
  if rec.voice and not rec.voice.closing then
    -- a rejoining socket, or a new format (phone quality switched on mid-call): the same voice
    -- carries on, its audio converted to and from the socket's format
    local ok, err = loop.voice_attach(rec.voice.id, ws, fmt.encoding, fmt.sample_rate)
    if not ok then return nil, err end
    rec.voice.ws = ws
    ready(ws, fmt, rec.voice)
    return true
  end
  local v, err = new_voice(rec, fmt)
  if not v then return nil, err end
  local ok, aerr = loop.voice_attach(v.id, ws, fmt.encoding, fmt.sample_rate)
  if not ok then
    M.close(rec)
    return nil, aerr
  end
  v.ws = ws
  ready(ws, fmt, v)
  -- answered: the greeting goes out as soon as its first clause is synthesized
  loop.voice_answered(v.id)
  return true
end

-- open_phone(rec) -> true | nil, reason: a phone call's voice (μ-law 8 kHz, Twilio's), made while
-- the line rings so its engines are ready when it is answered
function M.open_phone(rec)
  local v, err = new_voice(rec, { encoding = "mulaw", sample_rate = 8000 })
  if not v then return nil, err end
  v.phone = true
  return true
end

-- attach_phone(rec, ws) -> true | nil, reason: the call's Media Streams socket (a new one after
-- each TwiML update) carries the voice's audio
function M.attach_phone(rec, ws)
  local v = live(rec)
  if not v then return nil, "the call has no voice" end
  local ok, err = loop.voice_attach(v.id, ws, "twilio")
  if not ok then return nil, err end
  v.ws = ws
  return true
end

-- answered(rec): the phone was answered by whom the flow greets: its greeting may go out
function M.answered(rec)
  local v = live(rec)
  if v then loop.voice_answered(v.id) end
end

-- hold(rec, on): recognition paused while on hold, the audio watched locally for a person
function M.hold(rec, on)
  local v = live(rec)
  if not v or v.holding == on then return end
  v.holding = on
  local ok, err = loop.voice_hold(v.id, on)
  if not ok then log.error("voice.hold", { session = rec.session_id, reason = tostring(err) }) end
end

-- machine(rec): an answering machine took the call: it takes the message whole, never interrupting
-- (its beep and silence are not someone talking over the agent)
function M.machine(rec)
  local v = live(rec)
  if not v then return end
  local ok, err = loop.voice_barge_in(v.id, false)
  if not ok then log.error("voice.barge_in", { session = rec.session_id, reason = tostring(err) }) end
end

-- speaking(rec): the agent has words not yet heard (a phone's lines count until their mark returns)
function M.speaking(rec)
  local v = rec.voice
  return v ~= nil and not v.closing and (v.in_turn or v.lines_out > 0)
end

-- idle(rec): the agent says nothing now and has nothing left to be heard (its turn said nothing)
function M.idle(rec)
  local v = rec.voice
  return v ~= nil and not v.closing and not v.in_turn and v.lines_out == 0 and #v.lines == 0
end

-- finish_line(rec) -> whether a last line is still to be heard: its text is ended so it plays out
function M.finish_line(rec)
  local v = rec.voice
  if not v or v.closing then return false end
  M.turn_done(rec)
  return M.speaking(rec)
end

-- ---- the model's answers, streamed into speech ----
--
-- v.answer: the answer being streamed now ({parts, dropped}); v.streamed: the text of the last one
-- streamed, until the engine says it as a line; v.cut: an interruption heard while an answer
-- streamed: nothing more of the engine's turn is said, and its lines are cut to what was heard
-- once the engine holds them (settle); v.first_token: the turn's model first token (text: the
-- first text piece reached Lua; byte: the first answer's first byte), in CLOCK_MONOTONIC ns like
-- the media thread's stamps.

local function stamp(rec, kind)
  local v = rec.voice
  local t = v.first_token
  if not t or t.turn ~= rec.turn then
    t = { turn = rec.turn }
    v.first_token = t
  end
  t[kind] = t[kind] or core.sys.monotonic() * 1e9
end


-- model(rec, adapter) -> the adapter the call's engine asks: in a voice call each answer is
-- timed, and its text goes to the synthesizer as it streams (stream) rather than once complete
function M.model(rec, adapter)
  return {
    respond = function(_, req)
      local v = live(rec)
      if not v then return adapter:respond(req) end
      M.settle(rec, false) -- the history this request carries keeps only what was heard
      local a = { parts = {} }
      v.answer, v.streamed = a, nil
      req.on_first_byte = function() stamp(rec, "byte") end
      local out, err = adapter:respond(req)
      if v.answer == a then v.answer = nil end
      stamp(rec, "byte") -- an adapter that does not stream (the rules engine): its answer's arrival
      if #a.parts > 0 then
        v.streamed = table.concat(a.parts)
        if not out and not a.dropped then
          loop.voice_cancel(v.id) -- no line will hold what was streamed: say no more of it
          v.lines, v.indices = {}, {}
        end
      end
      return out, err
    end,
  }
end

-- stream(rec, piece): a piece of the text of the answer being streamed (the engine's on_text)
function M.stream(rec, piece)
  local v = live(rec)
  local a = v and v.answer
  if not a then return end
  stamp(rec, "text")
  a.parts[#a.parts + 1] = piece
  if a.dropped then return end -- the other party spoke over it: the rest is not said
  local ok, err = loop.voice_say(v.id, piece, false)
  if not ok then
    log.error("voice.say", { session = rec.session_id, reason = tostring(err) })
    a.dropped = true
    return
  end
  v.in_turn = true
end

-- say(rec, text, index): one line of the agent (index: its place in the session's transcript)
function M.say(rec, text, index)
  local v = live(rec)
  if not v then return end
  local streamed = v.streamed == text
  v.streamed = nil
  local cut = v.cut
  if cut then -- cut off while it streamed: not said, and trimmed to what was heard (settle)
    cut.lines[#cut.lines + 1] = text
    cut.indices[#cut.indices + 1] = index
    return
  end
  -- a streamed answer's text is in the synthesizer already: only the space that ends it goes now
  local ok, err = loop.voice_say(v.id, streamed and " " or (text .. " "), false)
  if not ok then
    log.error("voice.say", { session = rec.session_id, reason = tostring(err) })
    return
  end
  v.lines[#v.lines + 1] = text
  v.indices[#v.indices + 1] = index
  v.in_turn = true
end

-- turn_done(rec): the agent has nothing more to say for now: its voice turn's text is complete
function M.turn_done(rec)
  local v = rec.voice
  if v and v.in_turn and not v.closing then
    v.in_turn = false
    loop.voice_say(v.id, "", true)
    if v.phone then v.lines_out = v.lines_out + 1 end -- heard when its mark returns (played)
  end
end

-- listen(rec, options): what the recognizer should expect in the current step (phrases), or open
function M.listen(rec, options)
  local v = rec.voice
  if not v or v.closing then return end
  local ok, err = loop.voice_listen(v.id, options or { search = "open" })
  -- err is the voice's (no such voice, out of memory), never the phrases
  if not ok then log.error("voice.listen", { session = rec.session_id, reason = tostring(err) }) end
end

-- expect(rec): the recognizer hears with the hints of the call's current node (an open search
-- with call:expected_phrases(): the node's expected phrases and the flow's vocabulary), when they
-- differ from those it has. They may hold the patient's name: never logged, never an event.
function M.expect(rec)
  local v = live(rec)
  if not v then return end
  local phrases = rec.call:expected_phrases()
  local key = table.concat(phrases, "\n")
  if key == v.expected then return end
  v.expected = key
  M.listen(rec, { search = "open", phrases = phrases })
end

function M.active(rec) return rec.voice ~= nil and not rec.voice.closing end

-- close(rec): the call ended; the recording is finished by the media thread and stored by the writer
function M.close(rec)
  local v = rec.voice
  if not v or v.closing then return end
  v.closing = true
  loop.voice_close(v.id)
  -- a phone's stream socket: closed with the voice (Twilio then ends a call still up)
  if v.phone and v.ws then loop.ws_close(v.ws) end
end

-- ---- events ----

-- The turn's model first token, if it came before the line was requested (the answer that line
-- is): its first text piece, else (tool calls only, then the flow's own line) its first byte.
local function first_token(rec, say_requested)
  local ft = rec.voice.first_token
  if not ft or ft.turn ~= rec.turn or not say_requested then return nil end
  for _, kind in ipairs({ "text", "byte" }) do
    local at = ms(ft[kind])
    if at and at <= say_requested then return at end
  end
end

local function round1(x) return math.floor(x * 10 + 0.5) / 10 end

local function latency(rec, s)
  -- stamps are monotonic ns of the media thread (and the model's first token, of this thread on
  -- the same clock); stages in ms (docs/live-protocol.md, "Voice")
  local t = {}
  for k, x in pairs(s or {}) do t[k] = ms(x) end
  if not t.first_frame_out then return end
  local token = first_token(rec, t.say_requested)
  local from = token or t.turn_end -- no model asked: the platform's time from the turn's end
  local stages = {
    recognizer = t.speech_end and t.final_transcript and (t.final_transcript - t.speech_end),
    endpointing = t.turn_end and (t.turn_end - math.max(t.speech_end or 0, t.final_transcript or 0)),
    model = t.turn_end and token and (token - t.turn_end),
    platform = from and t.say_requested and (t.say_requested - from),
    synthesizer = t.say_requested and t.first_audio and (t.first_audio - t.say_requested),
    outbound = t.first_audio and (t.first_frame_out - t.first_audio),
    turn = t.speech_end and (t.first_frame_out - t.speech_end),
  }
  stats.voice_turn(stages)
  stats.voice_turn({ respond = t.turn_end and t.say_requested and (t.say_requested - t.turn_end) })
  local row = { turn = rec.turn } -- the session keeps the stages; respond is their sum
  for k, x in pairs(stages) do row[k .. "_ms"] = round1(x) end
  if token and t.speech_end then row.model_first_token_ms = round1(token - t.speech_end) end
  host.session_update(rec, { ["$push"] = { latency = row } })
end

local handlers = {}

function handlers.ready(rec, e)
  log.info("voice.ready", { session = rec.session_id, stt = e.stt, tts = e.tts })
end

function handlers.speech_started(rec, e)
  rec.silence_at = nil -- the other party is talking: no "are you still there?"
  -- a phone's "Hello?" as it is picked up, said before the greeting: its words may come after
  rec.voice.before_greeting = rec.phone ~= nil and not rec.answered
  -- on hold, probe: the hold watcher heard what may be a person; the recognizer listens to confirm
  host.broadcast(rec, { type = "speech", state = "started", probe = e.probe == true or nil })
end

function handlers.speech_stopped(rec)
  host.broadcast(rec, { type = "speech", state = "stopped" })
  -- the timer speech_started stopped runs again from here: a sound that brings no words (a click
  -- on the line as it is answered, a cough) would otherwise leave the agent waiting for ever,
  -- never greeting a line it listens to first; words that follow stop it again (hear)
  if M.idle(rec) then host.agent_done(rec) end
end

function handlers.interim(rec, e)
  if type(e.text) == "string" and e.text ~= "" then
    host.broadcast(rec, { type = "transcript", role = "user", text = e.text, final = false, turn = rec.turn + 1 })
  end
end

function handlers.final() end -- a segment; the turn's words come whole with end_of_turn

function handlers.end_of_turn(rec, e)
  if type(e.text) ~= "string" or not e.text:find("%S") then return end
  host.hear(rec, e.text, rec.voice.before_greeting)
end

function handlers.agent_started(rec, e)
  -- each line of the agent starts; the first of a turn answers the other party's line
  if rec.voice.timed_turn ~= rec.turn then
    rec.voice.timed_turn = rec.turn
    latency(rec, e.stamps)
  end
end

function handlers.agent_done(rec)
  rec.voice.lines, rec.voice.indices = {}, {}
  -- the silence timer runs from when the agent's audio ended: on a phone, when its mark came back
  if not rec.voice.phone then host.agent_done(rec) end
end

-- ---- a phone call's stream (attach mode "twilio", core/bot/voice_loop.c) ----

function handlers.stream_start(rec, e)
  local ok, why = host.stream_start(rec, e)
  if not ok then
    log.warn("voice.stream_refused", { session = rec.session_id, reason = why })
    if rec.voice.ws then loop.ws_close(rec.voice.ws) end
  end
end

function handlers.stream_stop(rec)
  rec.voice.ws = nil
  rec.voice.lines_out = 0 -- the old stream's marks never come back
  host.stream_stop(rec)
end

-- a turn's last mark came back: the other party heard all of it
function handlers.played(rec)
  local v = rec.voice
  if v.lines_out > 0 then v.lines_out = v.lines_out - 1 end
  if v.lines_out == 0 and not v.in_turn then
    host.agent_done(rec)
    host.played(rec)
  end
end

function handlers.dtmf(rec, e)
  if type(e.digit) == "string" and e.digit:match("^[0-9*#A-D]$") then host.keys(rec, e.digit) end
end

-- The agent's lines cut off after heard (what was played): the transcript, the model's history,
-- the session's messages and the live page keep only that.
-- quiet: lines said after the cut was told (the live page has its interrupted form already).
local function cut_off(rec, lines, indices, heard, played_ms, quiet)
  if #lines == 0 then return end
  local parts = rec.call:interrupted(lines, heard)
  local set = {}
  for j, line in ipairs(lines) do
    if parts[j] ~= line and indices[j] then
      local at = "transcript.messages." .. indices[j]
      set[at .. ".content"], set[at .. ".interrupted"], set[at .. ".said"] = parts[j], true, line
    end
  end
  if next(set) then host.session_update(rec, { ["$set"] = set }) end
  if quiet then return end
  host.broadcast(rec, { type = "transcript", role = "assistant", text = table.concat(parts, " "):gsub("%s+$", ""),
    turn = rec.turn, interrupted = true })
  host.event(rec, { type = "interrupted", played_ms = played_ms })
end

function handlers.interrupted(rec, e)
  local v = rec.voice
  v.lines_out = 0 -- cleared: what was still to be heard never will be
  local lines, indices = v.lines, v.indices
  v.lines, v.indices = {}, {}
  if v.answer then
    -- the model is still streaming the line cut off: the rest of it, and of the engine's turn, is
    -- not said, and the cut waits until the engine has the lines (settle). The voice's line is
    -- ended now, so the answer to what the other party said is heard. Later INTERRUPTED events of
    -- the same barge-in (older lines) add nothing.
    v.answer.dropped = true
    if not v.cut then
      v.cut = { lines = lines, indices = indices, heard = e.text, played_ms = tonumber(e.played_ms) }
      loop.voice_say(v.id, "", true) -- nil, "an empty line" when the voice held no line open: nothing to end
      v.in_turn = false
    end
    return
  end
  cut_off(rec, lines, indices, e.text, tonumber(e.played_ms))
end

-- settle(rec, turn_over): the engine ran (its turn's coroutine yielded, or returned: turn_over);
-- an interruption heard while the model streamed is applied to the lines said since, the heard
-- words to the first of them; once the turn is over the call's lines are said again.
function M.settle(rec, turn_over)
  local v = rec.voice
  local cut = v and not v.answer and v.cut
  if not cut then return end
  if #cut.lines > 0 then
    cut_off(rec, cut.lines, cut.indices, cut.heard, cut.played_ms, cut.told)
    cut.told, cut.heard, cut.lines, cut.indices = true, "", {}, {}
  end
  if turn_over then v.cut, v.streamed = nil, nil end
end

function handlers.error(rec, e)
  local reason = type(e.text) == "string" and e.text or "the audio path failed"
  log.error("voice.error", { session = rec.session_id, reason = reason, fatal = e.fatal and true or false })
  metrics.inc("sova_voice_errors_total", { fatal = e.fatal and "true" or "false" })
  if e.fatal then host.end_call(rec, "failed", "voice: " .. reason) else host.note(rec, "voice: " .. reason) end
end

function handlers.closed(rec, e)
  voices[rec.voice.id] = nil
  if rec.voice.offline then offline = offline - 1 end
  if e.recording then
    host.write({ kind = "recording", organization_id = rec.org_oid, session_id = rec.oid, spill = e.recording })
  end
end

-- event(ev): a {kind = "voice"} event of the loop
function M.event(ev)
  local rec = voices[ev.id]
  if not rec then return end
  local e = json.decode(ev.body or "")
  if type(e) ~= "table" or not handlers[e.type] then
    log.error("voice.event", { session = rec.session_id, reason = "unknown voice event" })
    return
  end
  handlers[e.type](rec, e)
end

function M.count() return offline end

return M

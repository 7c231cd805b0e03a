-- Live listening (docs/live-protocol.md, "Listening") through the real API and bot with the offline
-- engines: a staff member of the clinic asks for a listen URL (audited: no audit, no URL), the bot
-- lets in only a listen token of that call (not a live token, not an expired one), and the
-- listener hears the call's audio, both sides, in 20 ms PCM16 frames while it runs. It is
-- read-only: what it sends reaches neither the call nor its transcript. Its start and end are
-- session events naming the user. The calls under test are browser voice calls, and a phone call
-- through the phone simulator (Beta's check-in, offline speech). Tags: #api #voice #listen
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local callsign = require("sova.callsign")
local sova = require("helpers.sova")
local cjson = helpers.cjson
local core = helpers.core
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local CALLEE = "+14155550301" -- the phone simulator's callee: answers, says a line, hangs up on the next

local SILENCE = string.rep("\0", 640) -- 20 ms at 16 kHz

describe("live listening #api #voice #listen", function()
  local db, api, f, me

  lazy_setup(function()
    local sim = helpers.start_phonesim({ scenarios = {
      [CALLEE] = { kind = "human", ring_ms = 800, greeting = "Hello?",
        lines = { "Yes, this is Wei Chen.", "Sorry, I cannot talk now, I have to go because" }, hangup_in_line = 2 },
    } })
    local twilio = { TWILIO_API_BASE = sim.api_base, TWILIO_ACCOUNT_SID = sim.account_sid,
      TWILIO_AUTH_TOKEN = sim.auth_token, BETA_TWILIO_FROM_NUMBER = "+14155550100" }
    db, api = helpers.setup_calls({ bot = { env = twilio }, api = { env = twilio } })
    f = helpers.factory(db, api)
    me = f:req(ALPHA, "GET", "/api/me").json.user.id
  end)

  lazy_teardown(helpers.stop_all)

  -- a browser voice call whose other party has joined with audio
  local function voice_call()
    local patient = f:patient(ALPHA, "patient_questions")
    local call = f:call(ALPHA, patient, "browser_voice")
    local v = support.voice(call.live_url)
    local ready = v:ready(20)
    assert.equal("audio.ready", ready and ready.type, cjson.encode(ready))
    return call, v
  end

  local function listen_url(who, session_id)
    local res = f:req(who, "POST", "/api/sessions/" .. session_id .. "/listen")
    assert.status(200, res)
    return res.json.listen_url, res.json
  end

  -- A listener: counts the binary frames (the loud ones: above -45 dBFS; the odd ones: not 20 ms),
  -- keeps the text ones.
  local Listener = {}
  Listener.__index = Listener

  local function listener(url)
    local ws = assert(core.ws_client.connect(url, { binary = true }))
    return setmetatable({ ws = ws, texts = {}, frames = 0, loud = 0, odd = 0, closed = false }, Listener)
  end

  local function loud(frame)
    local sum = 0
    for i = 1, #frame - 1, 2 do
      local lo, hi = frame:byte(i, i + 1)
      local x = lo + hi * 256
      if x >= 32768 then x = x - 65536 end
      sum = sum + x * x
    end
    return sum > 0 and 10 * math.log10(sum / (#frame / 2) / (32768 * 32768)) > -45
  end

  function Listener:poll(wait_ms)
    while not self.closed do
      local m, kind = self.ws:receive(wait_ms or 0)
      wait_ms = 0
      if not m then
        if kind == "closed" then self.closed = true end
        return
      end
      if kind == "binary" then
        self.frames = self.frames + 1
        if #m ~= self.frame_bytes then self.odd = self.odd + 1 end
        if loud(m) then self.loud = self.loud + 1 end
      else
        local msg = cjson.decode(m)
        if msg.type == "listen.ready" then self.frame_bytes = msg.sample_rate / 50 * 2 end -- 20 ms of PCM16
        self.texts[#self.texts + 1] = msg
      end
    end
  end

  -- the first text message (listen.ready, or an error), within seconds
  function Listener:first(seconds)
    local deadline = core.sys.monotonic() + (seconds or 10)
    while #self.texts == 0 and not self.closed and core.sys.monotonic() < deadline do self:poll(50) end
    return self.texts[1]
  end

  -- the other party sends silence for seconds while the listeners take what came
  local function run(v, seconds, listeners)
    local deadline = core.sys.monotonic() + seconds
    while not v.closed and core.sys.monotonic() < deadline do
      v:frame(SILENCE)
      for _, l in ipairs(listeners) do l:poll() end
    end
  end

  it("gives a signed-in user of the clinic a short-lived listen URL, audited", function()
    local call, v = voice_call()
    local before = helpers.count(db, "audit_logs")
    local url, body = listen_url(ALPHA, call.session_id)
    assert.equal(before + 1, helpers.count(db, "audit_logs"))
    local rec = assert(db:handle():find("audit_logs", {}, { sort = { _id = -1 }, limit = 1 }))[1]
    assert.equal("listen", rec.action)
    assert.equal("session", rec.resource_type)
    assert.equal(call.session_id, tostring(rec.resource_id))
    assert.equal(me, tostring(rec.user_id))
    assert.equal(60, body.expires_in)
    local host, sid, exp, user = url:match("^ws://([^/]+)/calls/(%x+)/listen%?token=(%d+)%.(%x+)%.%x+$")
    assert.equal(call.live_url:match("^ws://([^/]+)/"), host)
    assert.equal(call.session_id, sid)
    assert.equal(me, user)
    assert.is_true(tonumber(exp) <= os.time() + 60)
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
  end)

  it("answers 404 for another clinic's call and 409 once the call has ended", function()
    local call, v = voice_call()
    local res = f:req(BETA, "POST", "/api/sessions/" .. call.session_id .. "/listen")
    assert.status(404, res)
    assert.is_nil(res.json.listen_url)
    assert.status(404, f:req(ALPHA, "POST", "/api/sessions/" .. helpers.new_id() .. "/listen"))
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    f:wait_session(call.session_id, 30)
    res = f:req(ALPHA, "POST", "/api/sessions/" .. call.session_id .. "/listen")
    assert.status(409, res)
    assert.equal("call_not_in_progress", res.json.error.code)
  end)

  it("gives no listen URL when the access cannot be audited", function()
    local call, v = voice_call()
    listen_url(ALPHA, call.session_id)
    local last = assert(db:handle():find("audit_logs", {}, { sort = { _id = -1 }, limit = 1 }))[1]
    helpers.block_audit_writes(db, last.organization_id, "listen_audit_blocker")
    local ok, err = pcall(function()
      local res = f:req(ALPHA, "POST", "/api/sessions/" .. call.session_id .. "/listen")
      assert.status(503, res)
      assert.is_nil(res.json.listen_url)
    end)
    helpers.unblock_audit_writes(db, "listen_audit_blocker")
    assert(ok, err)
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
  end)

  it("refuses a bad, expired or live token, and a listen token on the live socket", function()
    local call, v = voice_call()
    local other = voice_call()
    local url = listen_url(ALPHA, call.session_id)
    local base = url:match("^(.-)%?")
    local org = tostring(helpers.org_doc(db, ALPHA)._id)
    local secret = sova.bot_secret()
    local live_token = call.live_url:match("token=([%w%.]+)")
    local tokens = {
      "nonsense",
      live_token,
      callsign.listen_token(secret, call.session_id, org, me, os.time() - 61),       -- expired
      callsign.listen_token(secret, other.session_id, org, me),                     -- another call's
      callsign.listen_token(string.rep("ab", 32), call.session_id, org, me),        -- not the bot's secret
      (callsign.listen_token(secret, call.session_id, org, me):gsub("%.(%x+)%.", "." .. helpers.new_id() .. ".", 1)), -- another user
    }
    for i, token in ipairs(tokens) do
      local l = listener(base .. "?token=" .. token)
      local first = l:first(10)
      assert.equal("error", first and first.type, "token " .. i .. ": " .. cjson.encode(first or {}))
      l:poll(2000)
      assert.is_true(l.closed, "token " .. i .. " left the socket open")
      assert.equal(0, l.frames)
    end
    -- and a listen token does not join the call as its other party
    local t = url:match("token=([%w%.]+)")
    local party = support.connect((call.live_url:gsub("token=[%w%.]+", "token=" .. t)))
    local m = party:next(5000)
    assert.equal("error", m and m.type)
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
  end)

  it("hears the call while it runs, changes nothing by what it sends, and is recorded", function()
    local call, v = voice_call()
    local l = listener(listen_url(ALPHA, call.session_id))
    local ready = l:first(10)
    assert.same({ type = "listen.ready", encoding = "pcm_s16le", sample_rate = 16000, channels = 1, frame_ms = 20 }, ready)
    -- the greeting, heard by the other party and by the listener
    local t0 = core.sys.monotonic()
    assert.is_true(v:await_agent(40))
    run(v, 0.5, { l })
    local elapsed = core.sys.monotonic() - t0
    assert.equal(0, l.odd)
    assert.is_true(l.frames >= elapsed / 0.02 * 0.8, ("%d frames in %.1f s"):format(l.frames, elapsed))
    assert.is_true(l.loud >= 25, "the greeting was not heard: " .. l.loud .. " loud frames")
    -- the listener talks and types: the call does not hear it
    local noise = {}
    for i = 1, 320 do noise[i] = i % 2 == 0 and "\0\96" or "\0\160" end
    noise = table.concat(noise)
    local got_before = #v.got
    for i = 1, 100 do
      l.ws:send(noise, "binary")
      if i % 25 == 0 then
        l.ws:send(cjson.encode({ type = "say", text = "This is the listener speaking." }))
        l.ws:send(cjson.encode({ type = "hangup" }))
      end
      run(v, 0.02, { l })
    end
    run(v, 3, { l })
    assert.is_false(v.closed, "the call ended")
    assert.is_false(l.closed, "the listener was closed")
    for i = got_before + 1, #v.got do
      local m = v.got[i]
      assert.is_false(m.type == "transcript" and m.role == "user", "the call heard: " .. cjson.encode(m))
      assert.is_false(m.type == "speech", "the call heard speech: " .. cjson.encode(m))
      assert.is_false(m.type == "status", cjson.encode(m))
    end
    assert.equal(1, #l.texts) -- listen.ready alone: no error, no transcript
    -- a second listener; then the call ends and both are closed
    local l2 = listener(listen_url(ALPHA, call.session_id))
    assert.equal("listen.ready", l2:first(10).type)
    l2.ws:close()
    run(v, 0.5, { l })
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
    l:poll(5000)
    assert.is_true(l.closed)
    local doc = f:wait_session(call.session_id, 30)
    assert.equal("other_party", doc.ended_by)
    for _, msg in ipairs(doc.transcript.messages) do
      assert.is_nil(msg.content:find("listener", 1, true), msg.content)
    end
    local started, ended = support.events(doc, "listening_started"), support.events(doc, "listening_ended")
    assert.equal(2, #started, support.describe_events(doc))
    assert.equal(2, #ended, support.describe_events(doc))
    for _, e in ipairs(started) do
      assert.equal(me, e.user_id)
      assert.same({ "timestamp", "type", "user_id" }, helpers.sorted_keys(e))
    end
    for _, e in ipairs(ended) do assert.equal(me, e.user_id) end
  end)

  it("hears a phone call, at 8 kHz, until it ends", function()
    local beta_me = f:req(BETA, "GET", "/api/me").json.user.id
    local patient = f:patient(BETA, "patient_questions", { phone_number = CALLEE })
    local res = f:req(BETA, "POST", "/api/patients/" .. patient.id .. "/calls", { mode = "phone" })
    assert.status(202, res)
    local sid = res.json.session_id
    local url = listen_url(BETA, sid)
    assert.status(404, f:req(ALPHA, "POST", "/api/sessions/" .. sid .. "/listen"))
    local l = listener(url)
    local ready = l:first(30)
    assert.same({ type = "listen.ready", encoding = "pcm_s16le", sample_rate = 8000, channels = 1, frame_ms = 20 }, ready)
    local deadline = core.sys.monotonic() + 120
    while not l.closed and core.sys.monotonic() < deadline do l:poll(100) end
    assert.is_true(l.closed, "the listener was not closed when the call ended")
    local doc = f:wait_session(sid, 30)
    assert.equal("phone", doc.mode)
    assert.equal(0, l.odd) -- 320 bytes: 20 ms at 8 kHz
    assert.is_true(l.loud >= 50, ("%d loud frames of %d"):format(l.loud, l.frames)) -- the callee and the agent
    local started = support.events(doc, "listening_started")
    assert.equal(1, #started, support.describe_events(doc))
    assert.equal(beta_me, started[1].user_id)
    assert.equal(1, #support.events(doc, "listening_ended"))
  end)

  it("takes four listeners of one call at most", function()
    local call, v = voice_call()
    local ls = {}
    for i = 1, 4 do
      ls[i] = listener(listen_url(ALPHA, call.session_id))
      assert.equal("listen.ready", ls[i]:first(10).type)
    end
    local fifth = listener(listen_url(ALPHA, call.session_id))
    local first = fifth:first(10)
    assert.equal("error", first and first.type)
    assert.matches("4 listeners", first.message, 1, true)
    run(v, 1, ls)
    for _, l in ipairs(ls) do
      assert.is_false(l.closed)
      assert.is_true(l.frames >= 30)
    end
    v:send_json({ type = "hangup" })
    v:wait_closed(20)
  end)
end)

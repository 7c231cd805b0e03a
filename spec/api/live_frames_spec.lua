-- The live socket's frame rules on the bot's media loop (core/bot/http.c, issue 9): binary
-- frames on a socket that has not started audio, messages over 64 KiB, and a reader that stops
-- reading, through the real API and bot. Tags: #api #calls
local helpers = require("helpers")
local support = require("fixtures.bot.support")
local core = helpers.core
local ALPHA = helpers.ALPHA

-- every message until the bot closes the socket (or timeout_s passes): decoded, and the close code
local function until_closed(ws, timeout_s)
  local got, deadline = {}, core.sys.monotonic() + (timeout_s or 10)
  while core.sys.monotonic() < deadline do
    local text, err = ws:receive(200)
    if text then
      got[#got + 1] = helpers.cjson.decode(text)
    elseif err == "closed" then
      return got, true, ws:close_code()
    end
  end
  return got, false
end

describe("the live socket's frames #api #calls", function()
  local db, api, bot, f

  lazy_setup(function()
    db, api, bot = helpers.setup_calls()
    f = helpers.factory(db, api)
  end)
  lazy_teardown(helpers.stop_all)

  local function open_call()
    local call = f:test_call(ALPHA, "prior_auth")
    local party = support.connect(call.live_url)
    assert.is_table(party:wait_greeting())
    party:close()
    local ws = assert(core.ws_client.connect(call.live_url))
    finally(function() ws:close() end)
    return ws
  end

  it("binary frames before audio.start get one error and are dropped; the 51st closes with 1003", function()
    local ws = open_call()
    local frame = ("\0\1"):rep(320) -- 20 ms of 16 kHz PCM16
    assert.is_true(ws:send(frame, "binary"))
    local errors = 0
    for _ = 1, 50 do
      local text = ws:receive(500)
      if not text then break end
      local m = helpers.cjson.decode(text)
      if m.type == "error" then
        errors = errors + 1
        assert.matches("audio", m.message)
      end
    end
    assert.equal(1, errors)
    for _ = 2, 50 do assert.is_true(ws:send(frame, "binary")) end
    local got, closed = until_closed(ws, 1)
    assert.is_false(closed, "closed after 50 binary frames")
    for _, m in ipairs(got) do assert.is_not.equal("error", m.type) end
    ws:send(frame, "binary")
    local _, now_closed, code = until_closed(ws, 10)
    assert.is_true(now_closed)
    assert.equal(1003, code)
  end)

  it("a message over 64 KiB closes the socket with 1009; one just under it is read", function()
    local ws = open_call()
    assert.is_true(ws:send(("x"):rep(60 * 1024)))
    local answer
    repeat -- after the call's own messages (status, greeting, turn)
      local text = assert(ws:receive(5000))
      answer = helpers.cjson.decode(text)
    until answer.type == "error"
    assert.same({ type = "error", message = "messages are JSON objects" }, answer)
    ws:send(("x"):rep(64 * 1024 + 1))
    local _, closed, code = until_closed(ws, 10)
    assert.is_true(closed)
    assert.equal(1009, code)
  end)

  -- A client that sends `messages` lines that each cost an error frame back (55 bytes), then
  -- reads nothing until the bot's /stats counts a socket closed for stalling (however slow the
  -- machine, the bot has given up on it by then: a fixed wait was too short once for the ASan
  -- build), then reads what is left. Its report, and whether the bot counted the close.
  local function stalled_reader(messages, wait_s)
    local call = f:test_call(ALPHA, "prior_auth")
    local function stalled()
      local res = core.http.request { method = "GET", url = bot.url .. "/stats", timeout_ms = 5000 }
      assert.equal(200, res and res.status)
      return helpers.cjson.decode(res.body).stalled_sockets
    end
    local before = stalled()
    local go, log = helpers.proc.temp_path("stalled-go", ""), helpers.proc.temp_path("stalled", ".out")
    local p = helpers.proc.spawn({ "python3", "spec/fixtures/live/stalled_reader.py", call.live_url,
      tostring(messages), "file:" .. go }, { stdout = log, env = helpers.proc.clean_env() })
    local deadline = core.sys.monotonic() + wait_s
    while stalled() == before and p:alive() and core.sys.monotonic() < deadline do core.sys.sleep(0.2) end
    local closed = stalled() > before
    assert(io.open(go, "w")):close()
    assert.is_not_nil(p:wait(60), "the stalled reader did not end")
    local out = helpers.proc.read_file(log) or ""
    assert.is_true(closed, "the bot did not close the stalled socket: " .. out)
    local r = helpers.cjson.decode(out:match("([^\n]+)%s*$") or "{}")
    assert.is_nil(r.error, out)
    assert.is_true(r.ended, "the bot did not end the stalled socket: " .. out)
    assert.is_true(r.received < r.sent * 55, "every frame reached the stalled reader: " .. out)
    local t = core.sys.monotonic()
    local res = core.http.request { method = "GET", url = bot.url .. "/health", timeout_ms = 3000 }
    assert.equal(200, res and res.status)
    assert.is_true(core.sys.monotonic() - t < 3)
  end

  it("a reader that stops reading is closed, and the bot answers the others meanwhile", function()
    -- 3.3 MB of answers: more than the 1 MiB the bot keeps for one socket beyond what TCP holds
    -- (the bot bounds a live socket's kernel send buffer to 64 KiB). Its tiny receive window can
    -- also leave both ends in TCP retransmission backoff, sending nothing for minutes (seen under
    -- ASan in CI): then the bot's rule that a peer taking nothing for 30 s is reset closes it.
    stalled_reader(60000, 300)
  end)

  it("a reader that stops reading and sending is reset after 30 s, though less than 1 MiB waits", function()
    -- 275 KB of answers: beyond what TCP holds, under the 1 MiB bound, and the party sends no
    -- more, so Lua has nothing more to answer: only the 30 s rule can end it
    stalled_reader(5000, 120)
  end)
end)

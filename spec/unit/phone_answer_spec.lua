-- sova.bot.phone: the call's first Media Streams socket greets, whichever of Twilio's two signs of
-- the answer comes first: the signed in-progress status callback and the stream's start reach the
-- bot on different connections, in either order. The bot's event loop (core.loop) is a stub here:
-- what phone.lua sends is recorded, nothing goes out.
-- Tags: #unit #phone
local core = require("sova.core")
local twilio = require("sova.bot.twilio")

local ACCOUNT = "AC" .. ("5"):rep(32)
local TOKEN = "phone-answer-spec-token"
local CALL = "CA" .. ("7"):rep(32)
local SESSION = ("ab"):rep(12)
local PORT = 18099

describe("a phone call's answer #unit #phone", function()
  local phone, rec, greeted, replies

  before_each(function()
    replies = {}
    core.loop = { -- auto-insulate: this file's own sova.core table
      fetch = function() return 1 end,
      reply = function(id, status) replies[#replies + 1] = status end,
    }
    package.loaded["sova.bot.phone"] = nil
    phone = require("sova.bot.phone")
    greeted = 0
    phone.bind {
      event = function() end, session_update = function() end, open_voice = function() return true end,
      greet = function() greeted = greeted + 1 end,
      end_call = function(_, status, reason) error("the call ended: " .. tostring(status) .. " " .. tostring(reason)) end,
    }
    phone.listening(PORT)
    rec = { session_id = SESSION, phone = {
      to = "+15165550100", from = "+15165550101", seq = -1, account_sid = ACCOUNT, auth_token = TOKEN,
      opts = { voicemail = false, ring_seconds = 30, max_call_seconds = 600 },
      client = twilio.client({ account_sid = ACCOUNT, auth_token = TOKEN }),
    } }
    phone.place(rec)
  end)

  local function status_callback(seq, status)
    local url = "http://127.0.0.1:" .. PORT .. "/twilio/status/" .. SESSION
    local form = { { "AccountSid", ACCOUNT }, { "CallSid", CALL }, { "CallStatus", status },
      { "SequenceNumber", tostring(seq) } }
    assert.is_true(phone.webhook({ id = seq, method = "POST", path = "/twilio/status/" .. SESSION,
      body = twilio.form_encode(form), headers = { ["x-twilio-signature"] = twilio.signature(TOKEN, url, form) } }))
    assert.equal(204, replies[#replies])
  end

  local function stream_start()
    assert.is_true(phone.stream_started(rec, { call_sid = CALL, account_sid = ACCOUNT,
      parameters = { session = SESSION } }))
  end

  it("greets once when the stream starts after the in-progress callback", function()
    status_callback(0, "initiated")
    status_callback(1, "ringing")
    status_callback(2, "in-progress")
    assert.equal(0, greeted)
    stream_start()
    assert.equal(1, greeted)
  end)

  it("greets once when the stream starts before the in-progress callback", function()
    status_callback(0, "initiated")
    stream_start()
    status_callback(1, "in-progress")
    assert.equal(1, greeted)
  end)

  it("does not greet again when the stream comes back after keys were pressed", function()
    stream_start()
    phone.press(rec, "1")
    phone.stream_stopped(rec)
    stream_start()
    assert.equal(1, greeted)
  end)
end)

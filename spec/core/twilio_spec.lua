-- Specs of Twilio's wire formats as the bot speaks them (lua/sova/bot/twilio.lua) and the digest
-- under them (crypto.hmac_sha1_base64, core/crypto/webhook_sig.c): form bodies, X-Twilio-Signature,
-- TwiML, and the REST requests. Run from the repo root: busted spec/core/twilio_spec.lua

local crypto = require("sova.core").crypto
local json = require("sova.json")
local twilio = require("sova.bot.twilio")

-- Twilio's own documented example (VOICE-NOTES.md §1, checked against its request validator)
local URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
local TOKEN = "12345"
local PARAMS = {
  { "CallSid", "CA1234567890ABCDE" }, { "Caller", "+12349013030" }, { "Digits", "1234" },
  { "From", "+12349013030" }, { "To", "+18005551212" },
}
local EXPECTED = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

describe("twilio #core", function()
  describe("digests", function()
    it("HMAC-SHA1 matches RFC 2202's first vector", function()
      -- key 0x0b * 20, "Hi There" -> b617318655057264e28bc0b6fb378c8ef146be00
      local mac = crypto.hmac_sha1_base64(("\11"):rep(20), "Hi There")
      assert.equal("thcxhlUFcmTii8C2+zeMjvFGvgA=", mac)
    end)

    it("base64 is the standard padded alphabet", function()
      assert.equal("QUMxMjM6c2VjcmV0", crypto.base64("AC123:secret"))
      assert.equal("", crypto.base64(""))
      assert.equal("/w==", crypto.base64("\255"))
    end)
  end)

  describe("signature", function()
    it("is Twilio's for its documented example, in any parameter order", function()
      assert.equal(EXPECTED, twilio.signature(TOKEN, URL, PARAMS))
      local shuffled = { PARAMS[5], PARAMS[3], PARAMS[1], PARAMS[4], PARAMS[2] }
      assert.equal(EXPECTED, twilio.signature(TOKEN, URL, shuffled))
    end)

    it("verifies the right header and refuses a changed URL, parameter, token or header", function()
      assert.is_true(twilio.verify(TOKEN, URL, PARAMS, EXPECTED))
      assert.is_false(twilio.verify(TOKEN, URL .. "&x=1", PARAMS, EXPECTED))
      local changed = { { "CallSid", "CA1234567890ABCDF" }, PARAMS[2], PARAMS[3], PARAMS[4], PARAMS[5] }
      assert.is_false(twilio.verify(TOKEN, URL, changed, EXPECTED))
      assert.is_false(twilio.verify("12346", URL, PARAMS, EXPECTED))
      assert.is_false(twilio.verify(TOKEN, URL, PARAMS, EXPECTED:sub(2)))
      assert.is_false(twilio.verify(TOKEN, URL, PARAMS, nil))
      assert.is_false(twilio.verify(TOKEN, URL, PARAMS, ""))
      assert.is_false(twilio.verify(TOKEN, URL, PARAMS, ("A"):rep(4096)))
    end)

    it("accepts the URL signed with or without the scheme's default port", function()
      local with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
      assert.is_true(twilio.verify(TOKEN, with_port, PARAMS, EXPECTED))
      local sig = twilio.signature(TOKEN, with_port, PARAMS)
      assert.is_true(twilio.verify(TOKEN, URL, PARAMS, sig))
      assert.is_false(twilio.verify(TOKEN, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", PARAMS, EXPECTED))
    end)

    it("sorts a repeated name's values too", function()
      local a = twilio.signature(TOKEN, URL, { { "E", "b" }, { "E", "a" } })
      assert.equal(a, twilio.signature(TOKEN, URL, { { "E", "a" }, { "E", "b" } }))
      assert.equal(crypto.hmac_sha1_base64(TOKEN, URL .. "EaEb"), a)
    end)
  end)

  describe("forms", function()
    it("round-trips names, repeats, spaces, pluses and UTF-8", function()
      local params = { { "To", "+15551234567" }, { "StatusCallbackEvent", "initiated" },
        { "StatusCallbackEvent", "answered" }, { "Twiml", '<Response a="b & c"/>' }, { "Name", "José Ñ" } }
      local body = twilio.form_encode(params)
      assert.is_nil(body:find('[ <>"]')) -- all escaped
      assert.truthy(body:find("To=%%2B15551234567", 1))
      local list, map = twilio.form_decode(body)
      assert.same(params, list)
      assert.equal("initiated", map.StatusCallbackEvent) -- the first value
      assert.equal("a b", select(2, twilio.form_decode("x=a+b")).x)
    end)

    it("refuses malformed, oversize and flooding bodies", function()
      assert.is_nil(twilio.form_decode("a=%zz"))
      assert.is_nil(twilio.form_decode("a=%4"))
      assert.is_nil(twilio.form_decode("=v"))
      assert.is_nil(twilio.form_decode(nil))
      assert.is_nil(twilio.form_decode(("a=1&"):rep(twilio.MAX_FORM_PARAMS + 1)))
      assert.is_nil(twilio.form_decode("a=" .. ("x"):rep(twilio.MAX_FORM_BYTES)))
      local list = twilio.form_decode("")
      assert.same({}, list)
    end)
  end)

  describe("TwiML", function()
    it("connects a stream with its parameters, escaped", function()
      local t = twilio.stream_twiml("wss://bot.example/twilio/media/ab", { { "session", 'a"<&>' } })
      assert.equal('<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://bot.example/twilio/media/ab">'
        .. '<Parameter name="session" value="a&quot;&lt;&amp;&gt;"/></Stream></Connect></Response>', t)
    end)

    it("presses keys then streams again, and refuses anything but keys", function()
      local t = twilio.press_twiml("ww1#", "wss://b/m/t", {})
      assert.truthy(t:find('<Play digits="ww1#"/><Connect><Stream url="wss://b/m/t">', 1, true))
      assert.has_error(function() twilio.press_twiml('1"/><Hangup', "wss://b/m/t", {}) end)
      assert.has_error(function() twilio.press_twiml(("1"):rep(33), "wss://b/m/t", {}) end)
      assert.has_error(function() twilio.press_twiml("", "wss://b/m/t", {}) end)
    end)

    it("dials with a caller id, a timeout, and the bridged and action URLs", function()
      local t = twilio.dial_twiml { to = "+15550001111", caller_id = "+15552223333", timeout = 20,
        action = "https://b/twilio/dial/s", bridged = "https://b/twilio/bridged/s" }
      assert.truthy(t:find('<Dial callerId="+15552223333" timeout="20" action="https://b/twilio/dial/s" method="POST">'
        .. '<Number url="https://b/twilio/bridged/s" method="POST">+15550001111</Number></Dial>', 1, true))
    end)
  end)

  describe("REST", function()
    local saved
    before_each(function() saved = os.getenv("TWILIO_API_BASE") end)

    it("creates and updates calls with Basic auth, form-encoded, at TWILIO_API_BASE or Twilio's", function()
      local c = twilio.client { account_sid = "AC" .. ("0"):rep(32), auth_token = "tok" }
      local req = c:create({ { "To", "+15551234567" } })
      assert.equal("POST", req.method)
      local base = saved and saved:gsub("/+$", "") or twilio.DEFAULT_API_BASE
      assert.equal(base .. "/2010-04-01/Accounts/AC" .. ("0"):rep(32) .. "/Calls.json", req.url)
      assert.equal("Basic " .. crypto.base64("AC" .. ("0"):rep(32) .. ":tok"), req.headers.Authorization)
      assert.equal("application/x-www-form-urlencoded", req.headers["Content-Type"])
      assert.equal("To=%2B15551234567", req.body)
      local up = c:update("CA" .. ("1"):rep(32), { { "Status", "completed" } })
      assert.truthy(up.url:find("/Calls/CA" .. ("1"):rep(32) .. ".json", 1, true))
    end)

    it("reads a created call's sid, and errors as codes only", function()
      local sid = "CA" .. ("a"):rep(32)
      assert.equal(sid, twilio.created({ status = 201, body = json.encode({ sid = sid, status = "queued" }) }))
      local _, why = twilio.created({ status = 201, body = json.encode({ sid = "CA1" }) })
      assert.equal("http 201 without a call sid", why)
      _, why = twilio.created({ status = 400, body = json.encode({ code = 21211, message = "The 'To' number +1555 is not valid" }) })
      assert.equal("http 400 code 21211", why) -- never the message: it repeats the number
      _, why = twilio.created(nil, "timeout")
      assert.equal("unreachable: timeout", why)
      assert.is_true(twilio.updated({ status = 200, body = "{}" }))
      assert.same({ nil, "ended" }, { twilio.updated({ status = 404, body = json.encode({ code = 20404 }) }) })
      assert.same({ nil, "ended" }, { twilio.updated({ status = 400, body = json.encode({ code = 21220 }) }) })
    end)
  end)
end)

-- sova.callsign's tokens: a live token joins one call as its other party, a listen token lets one
-- user listen to one call; each is refused for the other purpose, another call or org, once
-- expired, or when tampered with.
local callsign = require("sova.callsign")

local SECRET = string.rep("5a", 32)
local S, S2 = "65f000000000000000000001", "65f000000000000000000002"
local ORG, ORG2 = "65f0000000000000000000a1", "65f0000000000000000000a2"
local USER, USER2 = "65f0000000000000000000b1", "65f0000000000000000000b2"

describe("sova.callsign tokens #unit", function()
  it("a listen token names its user and is good for a minute", function()
    local now = 1700000000
    local t = callsign.listen_token(SECRET, S, ORG, USER, now)
    assert.equal(USER, callsign.check_listen_token(SECRET, t, S, ORG, now))
    assert.equal(USER, callsign.check_listen_token(SECRET, t, S, ORG, now + 60))
    local ok, why = callsign.check_listen_token(SECRET, t, S, ORG, now + 61)
    assert.is_nil(ok)
    assert.matches("expired", why)
  end)

  it("a listen token is refused for another call, org, user or secret, or as a live token", function()
    local t = callsign.listen_token(SECRET, S, ORG, USER)
    assert.is_nil(callsign.check_listen_token(SECRET, t, S2, ORG))
    assert.is_nil(callsign.check_listen_token(SECRET, t, S, ORG2))
    assert.is_nil(callsign.check_listen_token(string.rep("a5", 32), t, S, ORG))
    assert.is_nil(callsign.check_listen_token(SECRET, (t:gsub(USER, USER2)), S, ORG))
    assert.is_nil(callsign.check_live_token(SECRET, t, S, ORG))
    -- with the user taken out it has a live token's shape, and still is not one
    assert.is_nil(callsign.check_live_token(SECRET, (t:gsub("%." .. USER, "")), S, ORG))
  end)

  it("a live token is refused as a listen token", function()
    local t = callsign.live_token(SECRET, S, ORG)
    assert.is_true(callsign.check_live_token(SECRET, t, S, ORG))
    assert.is_nil(callsign.check_listen_token(SECRET, t, S, ORG))
    local exp, mac = t:match("^(%d+)%.(%x+)$")
    assert.is_nil(callsign.check_listen_token(SECRET, exp .. "." .. USER .. "." .. mac, S, ORG))
  end)

  it("a listen token is made for a user id only", function()
    assert.has_error(function() callsign.listen_token(SECRET, S, ORG, nil) end)
    assert.has_error(function() callsign.listen_token(SECRET, S, ORG, "a.b") end)
  end)
end)

-- Specs of the token area of sova.core (core/bind/token.c, core/crypto/token.c): HS256 JWTs with
-- the algorithm pinned. Forged tokens are built by hand here (base64url in Lua, HMAC-SHA256 from
-- crypto.hmac_sha256_hex, HMAC-SHA384/512 from python3's hmac module).
-- Run from the repo root: busted spec/core/token_spec.lua

local core = require("sova.core")
local cjson = require("cjson")
local token, crypto = core.token, core.crypto

local SECRET = "0123456789abcdef0123456789abcdef-spec-secret"
local AUD = "sova-api"

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- base64url without padding (RFC 7515 section 2).
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local idx = math.floor(n / 2 ^ (6 * (4 - j))) % 64
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

local function unhex(h)
  return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

local function python_hmac(digest, key, data)
  -- key and data are restricted to shell-safe characters by the callers
  assert(not (key .. data):find("[^%w%-_.]"), "unsafe characters for the shell")
  local cmd = string.format(
    "python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.%s).hexdigest())' %s %s",
    digest, key, data)
  local f = assert(io.popen(cmd))
  local out = f:read("*a")
  f:close()
  local hex = out:match("^(%x+)%s*$")
  assert(hex, "python3 hmac failed: " .. out)
  return hex
end

local SIGNERS = {
  HS256 = function(key, data) return unhex(crypto.hmac_sha256_hex(key, data)) end,
  HS384 = function(key, data) return unhex(python_hmac("sha384", key, data)) end,
  HS512 = function(key, data) return unhex(python_hmac("sha512", key, data)) end,
}

-- A JWT built by hand: header and claims are tables or raw JSON strings; alg picks the signer
-- ("none" leaves the signature empty).
local function forge(header, claims, key, alg)
  if type(header) == "table" then header = cjson.encode(header) end
  if type(claims) == "table" then claims = cjson.encode(claims) end
  local signing_input = b64url(header) .. "." .. b64url(claims)
  if alg == "none" then return signing_input .. "." end
  return signing_input .. "." .. b64url(SIGNERS[alg](key, signing_input))
end

local function claims(extra)
  local c = { sub = "user-1", org = "org-1", aud = AUD, exp = os.time() + 600 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function refused(tok, reason, aud, now)
  local out, why = token.verify(tok, SECRET, aud or AUD, now)
  assert.is_nil(out)
  assert.equal(reason, why)
end

describe("sova.core token #core", function()
  describe("sign and verify", function()
    it("verify returns the signed claims as JSON", function()
      local c = claims({ roles = { "admin" }, n = 3 })
      local tok = assert(token.sign(cjson.encode(c), SECRET))
      assert.matches("^[%w%-_]+%.[%w%-_]+%.[%w%-_]+$", tok)
      local json = assert(token.verify(tok, SECRET, AUD))
      assert.same(c, cjson.decode(json))
    end)

    it("signs with an HS256 JWT header", function()
      local tok = assert(token.sign(cjson.encode(claims()), SECRET))
      local header = tok:match("^([^.]+)%.")
      assert.equal(b64url('{"alg":"HS256","typ":"JWT"}'), header)
    end)

    it("accepts a hand-built HS256 token (the forging helper is sound)", function()
      local c = claims()
      local json = assert(token.verify(forge({ alg = "HS256", typ = "JWT" }, c, SECRET, "HS256"), SECRET, AUD))
      assert.same(c, cjson.decode(json))
    end)

    it("sign refuses claims that are not a JSON object", function()
      for _, bad in ipairs({ "[1,2]", "not json", '"str"', "" }) do
        local tok, err = token.sign(bad, SECRET)
        assert.is_nil(tok)
        assert.equal("claims are not a JSON object", err)
      end
    end)

    it("a secret under 32 bytes raises, in sign and in verify", function()
      local short = string.rep("s", 31)
      local ok, err = pcall(token.sign, cjson.encode(claims()), short)
      assert.is_false(ok)
      assert.matches("secret must be at least 32 bytes", err, 1, true)
      local tok = assert(token.sign(cjson.encode(claims()), SECRET))
      assert.has_error(function() token.verify(tok, short, AUD) end)
      assert.has_error(function() token.verify(tok, "", AUD) end)
      -- exactly 32 bytes is enough
      local ok32 = string.rep("k", 32)
      assert.is_string(token.verify(assert(token.sign(cjson.encode(claims()), ok32)), ok32, AUD))
    end)
  end)

  describe("refuses forged tokens", function()
    it("alg none with an empty signature", function()
      for _, alg in ipairs({ "none", "None", "NONE" }) do
        refused(forge({ alg = alg, typ = "JWT" }, claims(), nil, "none"), "bad signature or malformed token")
      end
    end)

    it("alg none carrying the signature of a real token", function()
      local real = assert(token.sign(cjson.encode(claims()), SECRET))
      local sig = real:match("%.([^.]+)$")
      refused(forge({ alg = "none", typ = "JWT" }, claims(), nil, "none") .. sig, "bad signature or malformed token")
    end)

    it("HS512 and HS384 tokens signed with the same secret", function()
      refused(forge({ alg = "HS512", typ = "JWT" }, claims(), SECRET, "HS512"), "algorithm not allowed")
      refused(forge({ alg = "HS384", typ = "JWT" }, claims(), SECRET, "HS384"), "algorithm not allowed")
    end)

    it("a header claiming HS256 over an HS512 signature", function()
      local hs512 = forge({ alg = "HS512", typ = "JWT" }, claims(), SECRET, "HS512")
      local sig = hs512:match("%.([^.]+)$")
      local lie = b64url(cjson.encode({ alg = "HS256", typ = "JWT" })) .. "." .. b64url(cjson.encode(claims())) .. "." .. sig
      refused(lie, "bad signature or malformed token")
    end)

    it("a tampered payload under the original signature", function()
      local c = claims({ role = "user" })
      local tok = assert(token.sign(cjson.encode(c), SECRET))
      local head, _, sig = tok:match("^([^.]+)%.([^.]+)%.([^.]+)$")
      for _, change in ipairs({ { role = "admin" }, { sub = "user-2" }, { exp = c.exp + 86400 } }) do
        local t = claims({ role = "user" })
        t.exp = c.exp
        for k, v in pairs(change) do t[k] = v end
        refused(head .. "." .. b64url(cjson.encode(t)) .. "." .. sig, "bad signature or malformed token")
      end
    end)

    it("a token signed with another secret", function()
      local tok = assert(token.sign(cjson.encode(claims()), string.rep("x", 32)))
      refused(tok, "bad signature or malformed token")
      refused(forge({ alg = "HS256", typ = "JWT" }, claims(), SECRET .. "!", "HS256"), "bad signature or malformed token")
    end)

    it("a truncated signature or a malformed token", function()
      local tok = assert(token.sign(cjson.encode(claims()), SECRET))
      refused(tok:sub(1, -2), "bad signature or malformed token")
      refused(tok:match("^(.*%.)"), "bad signature or malformed token")
      for _, bad in ipairs({ "", "abc", "a.b", "a.b.c", "..", tok .. ".extra" }) do
        refused(bad, "bad signature or malformed token")
      end
    end)
  end)

  describe("refuses invalid claims", function()
    local function signed(c)
      return assert(token.sign(type(c) == "string" and c or cjson.encode(c), SECRET))
    end

    it("an expired token", function()
      refused(signed(claims({ exp = os.time() - 10 })), "expired")
    end)

    it("a token whose exp is the given now, and accepts one second before", function()
      local c = claims({ exp = 2000000000 })
      local tok = signed(c)
      refused(tok, "expired", AUD, 2000000000)
      refused(tok, "expired", AUD, 2000000001)
      assert.is_string(token.verify(tok, SECRET, AUD, 1999999999))
    end)

    it("a token without a usable exp", function()
      local c = claims()
      c.exp = nil
      refused(signed(c), "no expiry")
      refused(signed(claims({ exp = 0 })), "no expiry")
      refused(signed(claims({ exp = -5 })), "no expiry")
      refused(signed(claims({ exp = tostring(os.time() + 600) })), "no expiry")
      refused(signed('{"aud":"' .. AUD .. '","exp":' .. (os.time() + 600) .. '.5}'), "no expiry")
    end)

    it("a token for another audience, without one, or with a non-string one", function()
      refused(signed(claims({ aud = "other" })), "wrong audience")
      refused(signed(claims({ aud = AUD .. "x" })), "wrong audience")
      local c = claims()
      c.aud = nil
      refused(signed(c), "wrong audience")
      refused(signed(claims({ aud = { AUD } })), "wrong audience")
      refused(signed(claims()), "wrong audience", "other")
    end)

    it("a token that is not valid yet (nbf beyond the 60 s leeway)", function()
      refused(signed(claims({ nbf = os.time() + 3600 })), "not yet valid")
      refused(signed(claims({ nbf = os.time() + 120 })), "not yet valid")
      -- small clock skew and past nbf are fine
      assert.is_string(token.verify(signed(claims({ nbf = os.time() + 30 })), SECRET, AUD))
      assert.is_string(token.verify(signed(claims({ nbf = os.time() - 30 })), SECRET, AUD))
    end)

    it("a token over 4096 bytes, while one of at most 4096 bytes verifies", function()
      local pad, under, over = 2900, nil, nil
      while not over do
        local tok = signed(claims({ pad = string.rep("p", pad) }))
        if #tok <= 4096 then under = tok else over = tok end
        pad = pad + 1
      end
      assert.is_true(#under <= 4096 and #under > 4000)
      assert.is_string(token.verify(under, SECRET, AUD))
      assert.is_true(#over > 4096)
      refused(over, "token too long")
      refused(over .. string.rep("A", 100000), "token too long")
    end)
  end)
end)

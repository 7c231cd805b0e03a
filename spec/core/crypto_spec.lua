-- Specs of the crypto area of sova.core (core/bind/crypto.c, core/crypto/password.c):
-- argon2id password hashing, randomness, SHA-256 / HMAC-SHA256 digests, constant-time equality.
-- Run from the repo root: busted spec/core/crypto_spec.lua

local crypto = require("sova.core").crypto

-- Splits "$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>" into its parts.
local function parse_argon2(s)
  local alg, v, m, t, p, salt, hash = s:match("^%$(argon2id)%$v=(%d+)%$m=(%d+),t=(%d+),p=(%d+)%$([^$]+)%$([^$]+)$")
  if not alg then return nil end
  return { v = tonumber(v), m = tonumber(m), t = tonumber(t), p = tonumber(p), salt = salt, hash = hash }
end

describe("sova.core crypto #core", function()
  describe("argon2id passwords", function()
    local hash

    lazy_setup(function()
      hash = assert(crypto.hash_password("correct horse battery staple"))
    end)

    it("produces an argon2id v=19 string with m=64 MiB and t=2", function()
      assert.equal("$argon2id$v=19$m=65536,t=2", hash:sub(1, #"$argon2id$v=19$m=65536,t=2"))
      local p = assert(parse_argon2(hash), "not an argon2id PHC string: " .. hash)
      assert.equal(19, p.v)
      -- OWASP minimum for argon2id: m >= 19 MiB (19456 KiB) and t >= 2
      assert.is_true(p.m >= 19456, "memory cost " .. p.m .. " KiB is under 19456")
      assert.is_true(p.t >= 2, "time cost " .. p.t .. " is under 2")
      assert.is_true(#p.salt >= 22, "salt shorter than 16 bytes")
    end)

    it("verifies the right password and refuses others", function()
      assert.is_true(crypto.verify_password(hash, "correct horse battery staple"))
      assert.is_false(crypto.verify_password(hash, "correct horse battery stapl"))
      assert.is_false(crypto.verify_password(hash, "correct horse battery staple "))
      assert.is_false(crypto.verify_password(hash, ""))
    end)

    it("salts each hash: the same password gives different hashes that both verify", function()
      local again = assert(crypto.hash_password("correct horse battery staple"))
      assert.not_equal(hash, again)
      assert.not_equal(parse_argon2(hash).salt, parse_argon2(again).salt)
      assert.is_true(crypto.verify_password(again, "correct horse battery staple"))
    end)

    it("hashes passwords holding NUL bytes and UTF-8 over their full length", function()
      local h = assert(crypto.hash_password("a\0b"))
      assert.is_true(crypto.verify_password(h, "a\0b"))
      assert.is_false(crypto.verify_password(h, "a"))
      assert.is_false(crypto.verify_password(h, "a\0c"))
      local u = assert(crypto.hash_password("pässwörd 🔑"))
      assert.is_true(crypto.verify_password(u, "pässwörd 🔑"))
    end)

    it("accepts a 1024-byte password and refuses a 2000-byte one with nil, err", function()
      local h = assert(crypto.hash_password(string.rep("p", 1024)))
      assert.is_true(crypto.verify_password(h, string.rep("p", 1024)))
      local none, err = crypto.hash_password(string.rep("p", 2000))
      assert.is_nil(none)
      assert.equal("cannot hash password", err)
      assert.is_false(crypto.verify_password(hash, string.rep("p", 2000)))
    end)

    it("returns false for a stored hash that is not an argon2 string", function()
      assert.is_false(crypto.verify_password("", "x"))
      assert.is_false(crypto.verify_password("garbage", "x"))
      assert.is_false(crypto.verify_password(string.rep("$", 500), "x"))
      assert.is_false(crypto.verify_password(hash:sub(1, -5), "correct horse battery staple"))
    end)

    it("raises on non-string arguments", function()
      assert.has_error(function() crypto.hash_password(nil) end)
      assert.has_error(function() crypto.verify_password(nil, "x") end)
      assert.has_error(function() crypto.verify_password(hash, nil) end)
    end)
  end)

  describe("random_hex", function()
    it("returns 2n lowercase hex digits", function()
      for _, n in ipairs({ 1, 16, 32, 64 }) do
        local s = crypto.random_hex(n)
        assert.equal(2 * n, #s)
        assert.matches("^[0-9a-f]+$", s)
      end
    end)

    it("does not repeat itself", function()
      local seen = {}
      for _ = 1, 1000 do
        local s = crypto.random_hex(16)
        assert.is_nil(seen[s])
        seen[s] = true
      end
    end)

    it("uses every hex digit", function()
      local digits = {}
      for c in crypto.random_hex(64):gmatch(".") do digits[c] = true end
      for c in crypto.random_hex(64):gmatch(".") do digits[c] = true end
      local n = 0
      for _ in pairs(digits) do n = n + 1 end
      assert.equal(16, n)
    end)

    it("raises outside 1..64 bytes", function()
      assert.has_error(function() crypto.random_hex(0) end)
      assert.has_error(function() crypto.random_hex(65) end)
      assert.has_error(function() crypto.random_hex(-1) end)
      assert.has_error(function() crypto.random_hex("x") end)
    end)
  end)

  describe("sha256_hex", function()
    it("matches the FIPS 180-2 test vectors", function()
      assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", crypto.sha256_hex("abc"))
      assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", crypto.sha256_hex(""))
      assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        crypto.sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
    end)

    it("hashes the whole string, NUL bytes included", function()
      assert.not_equal(crypto.sha256_hex("a"), crypto.sha256_hex("a\0"))
      assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        crypto.sha256_hex(string.rep("a", 1000000)))
    end)
  end)

  describe("hmac_sha256_hex", function()
    it("matches RFC 4231 test case 2 (key \"Jefe\")", function()
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        crypto.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
    end)

    it("matches RFC 4231 test case 1 (20-byte binary key)", function()
      assert.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        crypto.hmac_sha256_hex(string.rep("\11", 20), "Hi There"))
    end)

    it("matches RFC 4231 test case 6 (131-byte key, hashed first)", function()
      assert.equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        crypto.hmac_sha256_hex(string.rep("\170", 131), "Test Using Larger Than Block-Size Key - Hash Key First"))
    end)

    it("depends on the key and the message", function()
      local base = crypto.hmac_sha256_hex("k", "m")
      assert.not_equal(base, crypto.hmac_sha256_hex("k2", "m"))
      assert.not_equal(base, crypto.hmac_sha256_hex("k", "m2"))
      assert.not_equal(base, crypto.sha256_hex("m"))
    end)
  end)

  describe("equals", function()
    it("is true only for identical strings", function()
      assert.is_true(crypto.equals("", ""))
      assert.is_true(crypto.equals("secret", "secret"))
      assert.is_false(crypto.equals("secret", "secreT"))
      assert.is_false(crypto.equals("Secret", "secret"))
    end)

    it("compares lengths and bytes after a NUL", function()
      assert.is_false(crypto.equals("secret", "secret2"))
      assert.is_false(crypto.equals("secret", ""))
      assert.is_false(crypto.equals("a\0b", "a\0c"))
      assert.is_false(crypto.equals("a", "a\0"))
      assert.is_true(crypto.equals("a\0b", "a\0b"))
    end)

    it("raises on non-string arguments", function()
      assert.has_error(function() crypto.equals(nil, "x") end)
      assert.has_error(function() crypto.equals("x", {}) end)
    end)
  end)

  describe("seal and open (small secrets at rest)", function()
    local KEY = crypto.sha256_hex("a key for the spec")
    local OTHER = crypto.sha256_hex("another key")

    it("opens what it sealed, under the same key and associated data only", function()
      local sealed = assert(crypto.seal(KEY, "whsec_the secret", "webhook:1"))
      assert.is_nil(sealed:find("the secret", 1, true))
      assert.equal("whsec_the secret", crypto.open(KEY, sealed, "webhook:1"))
      local none, err = crypto.open(KEY, sealed, "webhook:2")
      assert.is_nil(none)
      assert.equal("cannot open", err)
      assert.is_nil((crypto.open(OTHER, sealed, "webhook:1")))
    end)

    it("seals the same text differently each time (a random nonce)", function()
      local a, b = crypto.seal(KEY, "same", ""), crypto.seal(KEY, "same", "")
      assert.not_equal(a, b)
      assert.equal("same", crypto.open(KEY, a, ""))
      assert.equal("same", crypto.open(KEY, b, ""))
    end)

    it("holds empty, binary and 64 KiB texts, and refuses more", function()
      for _, text in ipairs({ "", "a\0b\255", string.rep("x", 64 * 1024) }) do
        assert.equal(text, crypto.open(KEY, assert(crypto.seal(KEY, text, "ad")), "ad"))
      end
      assert.has_error(function() crypto.seal(KEY, string.rep("x", 64 * 1024 + 1), "ad") end)
    end)

    it("refuses tampered, truncated and malformed sealed texts with nil, err", function()
      local sealed = assert(crypto.seal(KEY, "secret", "ad"))
      local flipped = sealed:sub(1, 10) .. (sealed:sub(11, 11) == "A" and "B" or "A") .. sealed:sub(12)
      for _, bad in ipairs({ flipped, sealed:sub(1, #sealed - 4), "", "not base64 at all!", string.rep("A", 40) }) do
        local none, err = crypto.open(KEY, bad, "ad")
        assert.is_nil(none)
        assert.equal("cannot open", err)
      end
    end)

    it("raises on a key that is not 64 hex digits, and on non-string arguments", function()
      for _, k in ipairs({ "", "zz", KEY:sub(1, 62), KEY .. "00", string.rep("g", 64) }) do
        assert.has_error(function() crypto.seal(k, "x", "ad") end)
        assert.has_error(function() crypto.open(k, "x", "ad") end)
      end
      assert.has_error(function() crypto.seal(KEY, nil, "ad") end)
      assert.has_error(function() crypto.seal(KEY, "x", nil) end)
      assert.has_error(function() crypto.open(KEY, {}, "ad") end)
    end)
  end)
end)

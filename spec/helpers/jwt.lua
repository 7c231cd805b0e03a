-- JWT pieces for the token specs: decode a token, and build forged ones (alg none, HS512 with the
-- real secret, tampered claims, ...). HS256 signatures use sova.core's HMAC; HS512 uses openssl.
local core = require("sova.core")
local cjson = require("cjson")
local bit = require("bit")
local proc = require("helpers.proc")

local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local DECODE = {}
for i = 1, #ALPHABET do DECODE[ALPHABET:byte(i)] = i - 1 end
DECODE[("+"):byte()] = 62
DECODE[("/"):byte()] = 63

--- base64url without padding
function M.b64url_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = bit.bor(bit.lshift(a, 16), bit.lshift(b or 0, 8), c or 0)
    local chunk = {}
    for j = 1, 4 do
      local idx = bit.band(bit.rshift(n, 6 * (4 - j)), 63)
      chunk[j] = ALPHABET:sub(idx + 1, idx + 1)
    end
    local keep = b == nil and 2 or (c == nil and 3 or 4)
    out[#out + 1] = table.concat(chunk, "", 1, keep)
  end
  return table.concat(out)
end

--- base64url (or base64) decoding, padding optional; nil on bad input
function M.b64url_decode(s)
  s = s:gsub("=+$", "")
  local out, n, bits = {}, 0, 0
  for i = 1, #s do
    local v = DECODE[s:byte(i)]
    if not v then return nil end
    n = bit.bor(bit.lshift(n, 6), v)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char(bit.band(bit.rshift(n, bits), 255))
      n = bit.band(n, bit.lshift(1, bits) - 1)
    end
  end
  return table.concat(out)
end

local function hex_to_bin(h)
  return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

--- Splits a token: header table, claims table, {h64, p64, s64}.
function M.decode(token)
  local h64, p64, s64 = tostring(token):match("^([^.]*)%.([^.]*)%.([^.]*)$")
  if not h64 then error("not a JWT: " .. tostring(token), 2) end
  local header = cjson.decode(assert(M.b64url_decode(h64)))
  local claims = cjson.decode(assert(M.b64url_decode(p64)))
  return header, claims, { h64, p64, s64 }
end

local function encode_part(t)
  return M.b64url_encode(type(t) == "string" and t or cjson.encode(t))
end

--- header.claims with the given signature (raw bytes, "" for none)
function M.assemble(header, claims, sig)
  return encode_part(header) .. "." .. encode_part(claims) .. "." .. M.b64url_encode(sig or "")
end

--- HS256 with our own HMAC (independent of the API's signing code)
function M.sign_hs256(header, claims, secret)
  local input = encode_part(header) .. "." .. encode_part(claims)
  return input .. "." .. M.b64url_encode(hex_to_bin(core.crypto.hmac_sha256_hex(secret, input)))
end

--- HS512 through openssl (the secret is hex text, safe on a command line)
function M.sign_hs512(header, claims, secret)
  assert(secret:match("^[%w]+$"), "secret must be alphanumeric")
  local input = encode_part(header) .. "." .. encode_part(claims)
  local path = proc.temp_path("jwt-input", ".txt")
  local f = assert(io.open(path, "wb"))
  f:write(input)
  f:close()
  local p = assert(io.popen(proc.shell_prefix() .. "openssl dgst -sha512 -hmac " .. secret .. " -binary " .. proc.shell_quote(path)))
  local mac = p:read("*a")
  p:close()
  os.remove(path)
  assert(#mac == 64, "openssl HMAC-SHA512 failed")
  return input .. "." .. M.b64url_encode(mac)
end

--- A token signed HS256 by sova.core's token.sign (the API's own signing path).
function M.core_sign(claims, secret)
  local tok, err = core.token.sign(cjson.encode(claims), secret)
  if not tok then error("token.sign: " .. tostring(err), 2) end
  return tok
end

function M.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

return M

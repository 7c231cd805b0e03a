/* The `crypto` table of sova.core: password hashing, randomness, digests, sealing small secrets
 * (libsodium). */
#include <string.h>

#include "crypto/password.h"
#include "crypto/webhook_sig.h"
#include "bind/sova_bind.h"

static void push_hex(lua_State *L, const unsigned char *bin, size_t len)
{
	char hex[2 * 64 + 1];
	sodium_bin2hex(hex, sizeof hex, bin, len);
	lua_pushlstring(L, hex, 2 * len);
}

/* crypto.hash_password(pw) -> "$argon2id$..." | nil, err */
static int l_hash_password(lua_State *L)
{
	size_t len;
	const char *pw = luaL_checklstring(L, 1, &len);
	char out[SOVA_PASSWORD_HASH_BYTES];
	if (len > SOVA_PASSWORD_MAX || !sova_password_hash(pw, len, out)) {
		lua_pushnil(L);
		lua_pushliteral(L, "cannot hash password");
		return 2;
	}
	lua_pushstring(L, out);
	return 1;
}

/* crypto.verify_password(hash, pw) -> boolean */
static int l_verify_password(lua_State *L)
{
	const char *hash = luaL_checkstring(L, 1);
	size_t len;
	const char *pw = luaL_checklstring(L, 2, &len);
	lua_pushboolean(L, sova_password_verify(hash, pw, len));
	return 1;
}

/* crypto.random_hex(nbytes) -> 2*nbytes hex digits from the OS CSPRNG */
static int l_random_hex(lua_State *L)
{
	int n = luaL_checkint(L, 1);
	luaL_argcheck(L, n > 0 && n <= 64, 1, "1..64 bytes");
	unsigned char buf[64];
	randombytes_buf(buf, (size_t)n);
	push_hex(L, buf, (size_t)n);
	sodium_memzero(buf, sizeof buf);
	return 1;
}

/* crypto.sha256_hex(data) */
static int l_sha256_hex(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	unsigned char out[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(out, (const unsigned char *)s, len);
	push_hex(L, out, sizeof out);
	return 1;
}

/* crypto.hmac_sha256_hex(key, data) */
static int l_hmac_sha256_hex(lua_State *L)
{
	size_t klen, len;
	const char *key = luaL_checklstring(L, 1, &klen);
	const char *s = luaL_checklstring(L, 2, &len);
	unsigned char out[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, klen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)s, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
	push_hex(L, out, sizeof out);
	return 1;
}

/* crypto.hmac_sha1_base64(key, data): Twilio's webhook signature (X-Twilio-Signature) */
static int l_hmac_sha1_base64(lua_State *L)
{
	size_t klen, len;
	const char *key = luaL_checklstring(L, 1, &klen);
	const char *s = luaL_checklstring(L, 2, &len);
	char out[SOVA_HMAC_SHA1_B64_BYTES];
	if (!sova_hmac_sha1_base64(key, klen, s, len, out))
		return luaL_error(L, "HMAC-SHA1 failed");
	lua_pushstring(L, out);
	return 1;
}

/* crypto.base64(data): standard alphabet, padded (HTTP Basic credentials) */
static int l_base64(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_argcheck(L, len <= 1 << 20, 1, "at most 1 MiB");
	size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = lua_newuserdata(L, cap); /* freed by the collector, even if pushing raises */
	sodium_bin2base64(out, cap, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
	lua_pushstring(L, out);
	return 1;
}

/* crypto.equals(a, b) -> boolean, in time independent of where they differ */
static int l_equals(lua_State *L)
{
	size_t alen, blen;
	const char *a = luaL_checklstring(L, 1, &alen);
	const char *b = luaL_checklstring(L, 2, &blen);
	lua_pushboolean(L, alen == blen && sodium_memcmp(a, b, alen) == 0);
	return 1;
}

/* ---- Small secrets sealed at rest ---- */

#define SEAL_MAX (64 * 1024)
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

/* The 32-byte key given as 64 hex digits; raises on misuse (what was decoded wiped first). */
static void check_key(lua_State *L, int idx, unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	size_t len, got = 0;
	const char *hex = luaL_checklstring(L, idx, &len);
	if (len != 2 * crypto_aead_xchacha20poly1305_ietf_KEYBYTES ||
	    sodium_hex2bin(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, hex, len, NULL, &got, NULL) != 0 ||
	    got != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
		sodium_memzero(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
		luaL_argerror(L, idx, "key: 64 hex digits");
	}
}

/* crypto.seal(key_hex, plaintext, ad) -> base64 of nonce || ciphertext || tag
 * (XChaCha20-Poly1305; ad, e.g. the owning document's id, is bound in: the sealed text opens only
 * with the same ad). For small secrets (at most 64 KiB), such as a webhook's signing secret. */
static int l_seal(lua_State *L)
{
	size_t len, adlen;
	const char *plain = luaL_checklstring(L, 2, &len);
	const char *ad = luaL_checklstring(L, 3, &adlen);
	luaL_argcheck(L, len <= SEAL_MAX, 2, "at most 64 KiB");
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	size_t blen = SEAL_NONCE + len + SEAL_ABYTES;
	size_t cap = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_ORIGINAL);
	/* both buffers belong to Lua (freed by the collector even if a later push raises); the key is
	 * read last, so nothing that raises comes after it is on the stack */
	unsigned char *box = lua_newuserdata(L, blen);
	char *out = lua_newuserdata(L, cap);
	check_key(L, 1, key);
	randombytes_buf(box, SEAL_NONCE);
	unsigned long long clen = 0;
	int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(box + SEAL_NONCE, &clen, (const unsigned char *)plain, len,
							    (const unsigned char *)ad, adlen, NULL, box, key);
	sodium_memzero(key, sizeof key);
	if (rc != 0 || clen != len + SEAL_ABYTES) {
		lua_pushnil(L);
		lua_pushliteral(L, "cannot seal");
		return 2;
	}
	sodium_bin2base64(out, cap, box, blen, sodium_base64_VARIANT_ORIGINAL);
	lua_pushstring(L, out);
	return 1;
}

/* crypto.open(key_hex, sealed_base64, ad) -> plaintext | nil, "cannot open" (tampered, another
 * key or another ad, not base64) */
static int l_open(lua_State *L)
{
	size_t slen, adlen;
	const char *sealed = luaL_checklstring(L, 2, &slen);
	const char *ad = luaL_checklstring(L, 3, &adlen);
	luaL_argcheck(L, slen <= 2 * SEAL_MAX, 2, "too long");
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	size_t cap = slen / 4 * 3 + 3;
	unsigned char *box = lua_newuserdata(L, cap);
	unsigned char *plain = lua_newuserdata(L, cap);
	check_key(L, 1, key);
	size_t blen = 0;
	unsigned long long plen = 0;
	int ok = sodium_base642bin(box, cap, sealed, slen, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
		 blen >= SEAL_NONCE + SEAL_ABYTES &&
		 crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, box + SEAL_NONCE, blen - SEAL_NONCE,
							    (const unsigned char *)ad, adlen, box, key) == 0;
	sodium_memzero(key, sizeof key);
	if (!ok) {
		lua_pushnil(L);
		lua_pushliteral(L, "cannot open");
		return 2;
	}
	lua_pushlstring(L, (const char *)plain, (size_t)plen);
	sodium_memzero(plain, (size_t)plen);
	return 1;
}

int sova_open_crypto(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"hash_password", l_hash_password}, {"verify_password", l_verify_password},
		{"random_hex", l_random_hex},       {"sha256_hex", l_sha256_hex},
		{"hmac_sha256_hex", l_hmac_sha256_hex}, {"hmac_sha1_base64", l_hmac_sha1_base64},
		{"base64", l_base64},               {"equals", l_equals},
		{"seal", l_seal},                   {"open", l_open},
		{NULL, NULL},
	};
	if (!sova_crypto_init())
		return luaL_error(L, "libsodium cannot be initialized");
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

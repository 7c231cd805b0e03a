/* The `crypto` table of sova.core: password hashing, randomness, digests (libsodium). */
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

int sova_open_crypto(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"hash_password", l_hash_password}, {"verify_password", l_verify_password},
		{"random_hex", l_random_hex},       {"sha256_hex", l_sha256_hex},
		{"hmac_sha256_hex", l_hmac_sha256_hex}, {"hmac_sha1_base64", l_hmac_sha1_base64},
		{"base64", l_base64},               {"equals", l_equals},
		{NULL, NULL},
	};
	if (!sova_crypto_init())
		return luaL_error(L, "libsodium cannot be initialized");
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

/* The `token` table of sova.core: HS256 JWTs with the algorithm pinned. */
#include <stdlib.h>
#include <time.h>

#include "crypto/token.h"
#include "bind/sova_bind.h"

/* token.sign(claims_json, secret) -> token | nil, err */
static int l_sign(lua_State *L)
{
	const char *claims = luaL_checkstring(L, 1);
	size_t klen;
	const char *key = luaL_checklstring(L, 2, &klen);
	luaL_argcheck(L, klen >= SOVA_SECRET_MIN, 2, "secret must be at least 32 bytes");
	const char *why = NULL;
	char *tok = sova_token_sign(claims, (const unsigned char *)key, klen, &why);
	if (!tok) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushstring(L, tok);
	free(tok); /* libjwt 1.10 allocates with malloc */
	return 1;
}

/* token.verify(token, secret, audience[, now]) -> claims_json | nil, reason */
static int l_verify(lua_State *L)
{
	const char *tok = luaL_checkstring(L, 1);
	size_t klen;
	const char *key = luaL_checklstring(L, 2, &klen);
	const char *aud = luaL_checkstring(L, 3);
	luaL_argcheck(L, klen >= SOVA_SECRET_MIN, 2, "secret must be at least 32 bytes");
	time_t now = lua_isnoneornil(L, 4) ? time(NULL) : (time_t)luaL_checknumber(L, 4);
	const char *why = NULL;
	char *claims = sova_token_verify(tok, (const unsigned char *)key, klen, aud, now, &why);
	if (!claims) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushstring(L, claims);
	free(claims);
	return 1;
}

int sova_open_token(lua_State *L)
{
	static const luaL_Reg fns[] = {{"sign", l_sign}, {"verify", l_verify}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

/* The `http` table of sova.core: outbound HTTP requests (libcurl), blocking the calling thread. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "lua/sova_lua.h"

#define MAX_HEADERS 64

/* Pushes a table of the response headers, names lowercased. */
static void push_headers(lua_State *L, const sova_buf *raw)
{
	lua_newtable(L);
	if (!raw->data)
		return;
	const char *p = raw->data, *end = raw->data + raw->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon && colon > p) {
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (const char *q = p; q < colon; q++)
				luaL_addchar(&b, (char)tolower((unsigned char)*q));
			luaL_pushresult(&b);
			const char *v = colon + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			lua_pushlstring(L, v, (size_t)(ve - v));
			lua_rawset(L, -3);
		}
		p = eol + 1;
	}
}

/* http.request{method=, url=, headers={name=value}, body=, timeout_ms=}
 *   -> {status=, body=, headers=} | nil, err */
static int l_request(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "method"); /* 2 */
	lua_getfield(L, 1, "url");    /* 3 */
	lua_getfield(L, 1, "body");   /* 4 */
	lua_getfield(L, 1, "timeout_ms"); /* 5 */
	lua_getfield(L, 1, "headers");    /* 6 */
	const char *method = luaL_optstring(L, 2, "GET");
	size_t mlen = strlen(method);
	luaL_argcheck(L, mlen > 0 && mlen <= 16 && strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == mlen, 1,
		      "method must be an upper-case HTTP method token");
	const char *url = luaL_checkstring(L, 3);
	size_t body_len = 0;
	const char *body = lua_isnil(L, 4) ? NULL : luaL_checklstring(L, 4, &body_len);
	long timeout = (long)luaL_optnumber(L, 5, 30000);
	/* Header lines are built as Lua strings (index 7) first: nothing is malloc'd before the last check. */
	lua_newtable(L); /* 7 */
	int nh = 0;
	if (!lua_isnil(L, 6)) {
		luaL_checktype(L, 6, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, 6)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(L, "headers must map strings to strings");
			if (++nh > MAX_HEADERS)
				return luaL_error(L, "too many headers");
			const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
			if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
				return luaL_error(L, "header names and values may not hold CR, LF or ':'");
			lua_pushfstring(L, "%s: %s", k, v);
			lua_rawseti(L, 7, nh);
			lua_pop(L, 1);
		}
	}
	const char *lines[MAX_HEADERS];
	for (int i = 0; i < nh; i++) {
		lua_rawgeti(L, 7, i + 1);
		lines[i] = lua_tostring(L, -1); /* anchored in table 7 */
		lua_pop(L, 1);
	}
	sova_fetch_request req = {
		.method = method, .url = url, .headers = lines, .num_headers = nh,
		.body = body, .body_len = body_len, .timeout_ms = timeout,
	};
	sova_fetch_response res;
	char err[256];
	if (sova_fetch(&req, &res, err, sizeof err) != 0) {
		sova_buf_free(&res.body);
		sova_buf_free(&res.headers);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_createtable(L, 0, 3);
	lua_pushnumber(L, (lua_Number)res.status);
	lua_setfield(L, -2, "status");
	lua_pushlstring(L, res.body.data, res.body.len);
	lua_setfield(L, -2, "body");
	push_headers(L, &res.headers);
	lua_setfield(L, -2, "headers");
	sova_buf_free(&res.body);
	sova_buf_free(&res.headers);
	return 1;
}

int sova_open_http(lua_State *L)
{
	static const luaL_Reg fns[] = {{"request", l_request}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

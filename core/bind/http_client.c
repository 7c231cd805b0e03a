/* The `http` table of sova.core: outbound HTTP requests (libcurl), blocking the calling thread. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "bind/sova_bind.h"

#define MAX_HEADERS 64
#define MAX_RESOLVE 8

/* Pushes a table of the response headers, names lowercased. */
static void push_headers(lua_State *L, const sova_sbuf *raw)
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

/* ---- Response holder ---- */

#define RESPONSE_MT "sova.http.response"

/* The response buffers live in a userdata whose __gc frees them, so a push that raises (out of
 * memory) after the exchange leaks nothing. */
static int response_gc(lua_State *L)
{
	sova_fetch_response *res = luaL_checkudata(L, 1, RESPONSE_MT);
	sova_sbuf_free(&res->body);
	sova_sbuf_free(&res->headers);
	return 0;
}

/* Pushes an empty holder; may raise, so call it before anything is allocated. */
static sova_fetch_response *new_response(lua_State *L)
{
	sova_fetch_response *res = lua_newuserdata(L, sizeof *res);
	memset(res, 0, sizeof *res);
	luaL_getmetatable(L, RESPONSE_MT);
	lua_setmetatable(L, -2);
	return res;
}

/* ---- Arguments ---- */

/* Reads the request table at index 1 into req; raises on misuse. Leaves the fields it read at
 * 2..7 (method, url, body, timeout_ms, headers, header and resolve lines), anchoring every string
 * req, lines and pins point at. Allocates nothing outside Lua. */
static void check_request(lua_State *L, sova_fetch_request *req, const char **lines, const char **pins)
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
				luaL_error(L, "headers must map strings to strings");
			if (++nh > MAX_HEADERS)
				luaL_error(L, "too many headers");
			const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
			if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
				luaL_error(L, "header names and values may not hold CR, LF or ':'");
			lua_pushfstring(L, "%s: %s", k, v);
			lua_rawseti(L, 7, nh);
			lua_pop(L, 1);
		}
	}
	/* resolve = {"host:port:address", ...}: copied after the header lines into table 7 */
	int nr = 0;
	lua_getfield(L, 1, "resolve"); /* 8 */
	if (!lua_isnil(L, 8)) {
		luaL_checktype(L, 8, LUA_TTABLE);
		int n = (int)lua_objlen(L, 8);
		luaL_argcheck(L, n <= MAX_RESOLVE, 1, "resolve: at most 8 entries");
		for (int i = 1; i <= n; i++) {
			lua_rawgeti(L, 8, i);
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "resolve: a list of \"host:port:address\" strings");
			size_t len;
			const char *v = lua_tolstring(L, -1, &len);
			if (len == 0 || len > 300 || strpbrk(v, "\r\n \t") || strlen(v) != len || !strchr(v, ':'))
				luaL_error(L, "resolve: a list of \"host:port:address\" strings");
			lua_rawseti(L, 7, nh + (++nr));
		}
	}
	lua_pop(L, 1); /* [tbl, method, url, body, timeout, headers, lines] */
	for (int i = 0; i < nh; i++) {
		lua_rawgeti(L, 7, i + 1);
		lines[i] = lua_tostring(L, -1); /* anchored in table 7 */
		lua_pop(L, 1);
	}
	for (int i = 0; i < nr; i++) {
		lua_rawgeti(L, 7, nh + i + 1);
		pins[i] = lua_tostring(L, -1); /* anchored in table 7 */
		lua_pop(L, 1);
	}
	*req = (sova_fetch_request){
		.method = method, .url = url, .headers = lines, .num_headers = nh,
		.body = body, .body_len = body_len, .timeout_ms = timeout,
		.resolve = pins, .num_resolve = nr,
	};
}

/* ---- http.request ---- */

/* http.request{method=, url=, headers={name=value}, body=, timeout_ms=, resolve={"host:port:addr"}}
 *   -> {status=, body=, headers=} | nil, err
 * resolve pins each host:port to an address (CURLOPT_RESOLVE; no proxy then). */
static int l_request(lua_State *L)
{
	const char *lines[MAX_HEADERS], *pins[MAX_RESOLVE];
	sova_fetch_request req;
	check_request(L, &req, lines, pins);
	sova_fetch_response *res = new_response(L); /* 8; frees its buffers when collected */
	char err[256];
	if (sova_fetch(&req, res, err, sizeof err) != 0) {
		sova_sbuf_free(&res->body);
		sova_sbuf_free(&res->headers);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_createtable(L, 0, 3);
	lua_pushnumber(L, (lua_Number)res->status);
	lua_setfield(L, -2, "status");
	lua_pushlstring(L, res->body.data, res->body.len);
	lua_setfield(L, -2, "body");
	push_headers(L, &res->headers);
	lua_setfield(L, -2, "headers");
	sova_sbuf_free(&res->body);
	sova_sbuf_free(&res->headers);
	return 1;
}

/* ---- http.stream ---- */

/* One streamed exchange. Its address is also the registry key of its on_data function. */
typedef struct lua_stream {
	lua_State *L;
	const char *data; /* the piece being handed over (owned by curl) */
	size_t len;
	int stop;         /* on_data returned false */
	int failed;       /* on_data raised; message in err */
	char err[512];
} lua_stream;

/* Runs under lua_cpcall: [ud]. Any error here, out of memory included, is caught by lua_cpcall,
 * so nothing longjmps through curl. */
static int call_on_data(lua_State *L)
{
	lua_stream *ls = lua_touserdata(L, 1);
	lua_pushlightuserdata(L, ls);
	lua_rawget(L, LUA_REGISTRYINDEX);        /* [ud, on_data] */
	lua_pushlstring(L, ls->data, ls->len); /* [ud, on_data, chunk] */
	lua_call(L, 1, 1);                     /* [ud, result] */
	ls->stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
	return 0;
}

static int on_chunk(void *ud, const char *data, size_t len)
{
	lua_stream *ls = ud;
	ls->data = data;
	ls->len = len;
	if (lua_cpcall(ls->L, call_on_data, ls) != 0) {
		/* [error object] */
		const char *msg = lua_type(ls->L, -1) == LUA_TSTRING ? lua_tostring(ls->L, -1) : NULL;
		if (msg)
			snprintf(ls->err, sizeof ls->err, "%s", msg);
		else
			snprintf(ls->err, sizeof ls->err, "on_data raised a %s value", luaL_typename(ls->L, -1));
		lua_pop(ls->L, 1);
		ls->failed = 1;
		return SOVA_STREAM_FAIL;
	}
	return ls->stop ? SOVA_STREAM_STOP : SOVA_STREAM_GO;
}

/* http.stream{method=, url=, headers=, body=, timeout_ms=, idle_timeout_ms=, on_data=function(chunk)}
 *   -> {status=, headers=, body= (non-2xx only), stopped= (true when on_data returned false)} | nil, err
 * on_data gets each piece of a 2xx body as it arrives; an error it raises ends the exchange and
 * comes back as nil, err. idle_timeout_ms ends an exchange during which no byte arrives for that
 * long (0 or absent: no limit). */
static int l_stream(lua_State *L)
{
	const char *lines[MAX_HEADERS], *pins[MAX_RESOLVE];
	sova_fetch_request req;
	check_request(L, &req, lines, pins); /* [tbl, method, url, body, timeout, headers, lines] */
	lua_getfield(L, 1, "on_data");         /* 8 */
	lua_getfield(L, 1, "idle_timeout_ms"); /* 9 */
	luaL_argcheck(L, lua_isfunction(L, 8), 1, "on_data must be a function");
	lua_Number idle = luaL_optnumber(L, 9, 0);
	luaL_argcheck(L, idle >= 0, 1, "idle_timeout_ms must not be negative");
	req.idle_timeout_ms = (long)idle;
	sova_fetch_response *res = new_response(L); /* 10; frees its buffers when collected */
	lua_stream ls = {.L = L};
	lua_pushlightuserdata(L, &ls);
	lua_pushvalue(L, 8);
	lua_rawset(L, LUA_REGISTRYINDEX); /* registry[&ls] = on_data; the last step that can raise */
	char err[256];
	int rc = sova_fetch_stream(&req, on_chunk, &ls, res, err, sizeof err);
	lua_pushlightuserdata(L, &ls);
	lua_pushnil(L);
	lua_rawset(L, LUA_REGISTRYINDEX); /* removing an existing key allocates nothing */
	if (rc != 0) {
		sova_sbuf_free(&res->body);
		sova_sbuf_free(&res->headers);
		lua_pushnil(L);
		lua_pushstring(L, ls.failed ? ls.err : err);
		return 2;
	}
	lua_createtable(L, 0, 4);
	lua_pushnumber(L, (lua_Number)res->status);
	lua_setfield(L, -2, "status");
	push_headers(L, &res->headers);
	lua_setfield(L, -2, "headers");
	if (res->status < 200 || res->status > 299) {
		lua_pushlstring(L, res->body.data, res->body.len);
		lua_setfield(L, -2, "body");
	}
	sova_sbuf_free(&res->body);
	sova_sbuf_free(&res->headers);
	if (res->stopped) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "stopped");
	}
	return 1;
}

/* ---- http.lookup ---- */

/* http.lookup(host) -> {"203.0.113.7", "2001:db8::1", ...} (getaddrinfo, distinct, at most 16)
 *   | nil, err. Blocks while the resolver works. */
static int l_lookup(lua_State *L)
{
	size_t len;
	const char *host = luaL_checklstring(L, 1, &len);
	luaL_argcheck(L, len > 0 && len <= 255 && strlen(host) == len, 1, "a host name of 1 to 255 bytes");
	char addrs[SOVA_LOOKUP_MAX][SOVA_ADDRSTRLEN];
	char err[320];
	int n = sova_lookup(host, addrs, SOVA_LOOKUP_MAX, err, sizeof err);
	if (n < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, addrs[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

int sova_open_http(lua_State *L)
{
	static const luaL_Reg fns[] = {{"request", l_request}, {"stream", l_stream}, {"lookup", l_lookup},
				       {NULL, NULL}};
	luaL_newmetatable(L, RESPONSE_MT);
	lua_pushcfunction(L, response_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

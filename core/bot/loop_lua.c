/* The `loop` table of sova.core: the Lua face of the bot's event loop (core/bot/loop.c), the
 * bot's own Lua glue. Loop thread only; core/bot/main.c adds it to sova.core in `sova bot` alone. */
#include <stdio.h>
#include <string.h>

#include "bind/sova_bind.h"
#include "bot/loop.h"

#define FETCH_MAX_HEADERS 64

static void require_ready(lua_State *L)
{
	if (!sova_loop_ready())
		luaL_error(L, "the event loop runs only in `sova bot`");
}

/* loop.reply(id, status, body[, content_type]) -> true | false (the requester is gone) */
static int l_reply(lua_State *L)
{
	require_ready(L);
	long long id = (long long)luaL_checknumber(L, 1);
	int status = luaL_checkint(L, 2);
	size_t len;
	const char *body = luaL_checklstring(L, 3, &len);
	const char *ct = luaL_optstring(L, 4, "application/json");
	luaL_argcheck(L, status >= 100 && status <= 599, 2, "HTTP status expected");
	lua_pushboolean(L, sova_loop_reply(id, status, body, len, ct));
	return 1;
}

/* loop.ws_send(id, text) -> true | false (closed, or stalled: the reader fell too far behind) */
static int l_ws_send(lua_State *L)
{
	require_ready(L);
	long long id = (long long)luaL_checknumber(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	lua_pushboolean(L, sova_loop_ws_send(id, text, len));
	return 1;
}

/* loop.ws_close(id): after the frames already queued */
static int l_ws_close(lua_State *L)
{
	require_ready(L);
	sova_loop_ws_close_id((long long)luaL_checknumber(L, 1));
	return 0;
}

/* loop.fetch{method=, url=, headers={k=v}, body=, timeout_ms=, stream=} -> id | nil, err: the answer
 * comes back from next_events as {kind="fetch", id=, status=, body=} or {kind="fetch", id=, error=}.
 * With stream = true a 2xx body comes first as {kind="fetch_data", id=, status=, body=<piece>}
 * events as it arrives, and the final event's body is empty (core/bot/loop.h). */
static int l_fetch(lua_State *L)
{
	require_ready(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	sova_loop_fetch_request r = {0};
	lua_getfield(L, 1, "url");
	r.url = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "method");
	r.method = luaL_optstring(L, -1, "GET");
	size_t mlen = strlen(r.method);
	luaL_argcheck(L, mlen > 0 && mlen <= 16 && strspn(r.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == mlen, 1,
		      "method must be an HTTP method token");
	lua_getfield(L, 1, "body");
	r.body = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &r.body_len);
	lua_getfield(L, 1, "timeout_ms");
	r.timeout_ms = (long)luaL_optnumber(L, -1, 30000);
	lua_getfield(L, 1, "stream");
	r.stream = lua_toboolean(L, -1);
	lua_getfield(L, 1, "headers");
	int htab = lua_gettop(L);
	/* "Name: value" lines live as Lua strings on the stack until the request copies them */
	const char *lines[FETCH_MAX_HEADERS];
	if (!lua_isnil(L, htab)) {
		luaL_checktype(L, htab, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, htab)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
			    strpbrk(lua_tostring(L, -2), "\r\n:") || strpbrk(lua_tostring(L, -1), "\r\n"))
				return luaL_error(L, "headers must map names to values without CR, LF or ':'");
			if (r.num_headers == FETCH_MAX_HEADERS)
				return luaL_error(L, "at most %d headers", FETCH_MAX_HEADERS);
			luaL_checkstack(L, 3, "fetch headers");
			lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1)); /* [.., k, v, line] */
			lua_insert(L, -3);                                                    /* [.., line, k, v] */
			lua_pop(L, 1);                                                        /* [.., line, k] */
			lines[r.num_headers] = lua_tostring(L, -2);
			r.num_headers++;
		}
	}
	r.headers = lines;
	char err[128];
	long long id = sova_loop_fetch(&r, err, sizeof err);
	if (!id) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushnumber(L, (lua_Number)id);
	return 1;
}

static void push_headers_table(lua_State *L, const char *h, size_t len)
{
	lua_newtable(L);
	const char *p = h, *end = h + len;
	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (v >= end)
			break;
		lua_pushstring(L, v);
		lua_setfield(L, -2, p);
		p = v + strlen(v) + 1;
	}
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, key);
	}
}

static void push_event(lua_State *L, const sova_loop_event *ev)
{
	static const char *const KINDS[] = {NULL, "http", "ws_open", "ws_message", "ws_close", "fetch", "voice", "fetch_data"};
	lua_createtable(L, 0, 8);
	lua_pushstring(L, KINDS[ev->kind]);
	lua_setfield(L, -2, "kind");
	lua_pushnumber(L, (lua_Number)ev->id);
	lua_setfield(L, -2, "id");
	set_string(L, "method", ev->method);
	set_string(L, "path", ev->path);
	set_string(L, "query", ev->query);
	set_string(L, "remote_addr", ev->remote);
	set_string(L, "error", ev->error);
	if (ev->headers) {
		push_headers_table(L, ev->headers, ev->headers_len);
		lua_setfield(L, -2, "headers");
	}
	if ((ev->kind == SOVA_EV_FETCH || ev->kind == SOVA_EV_FETCH_DATA) && !ev->error) {
		lua_pushnumber(L, ev->status);
		lua_setfield(L, -2, "status");
	}
	if (ev->body) {
		lua_pushlstring(L, ev->body, ev->body_len);
		lua_setfield(L, -2, ev->kind == SOVA_EV_WS_MESSAGE ? "data" : "body");
	}
}

/* loop.next_events(timeout_ms) -> {events...}: waits at most timeout_ms for something to happen.
 * An event {kind="stop"} comes once the process is asked to stop. */
static int l_next_events(lua_State *L)
{
	require_ready(L);
	int timeout = luaL_optint(L, 1, 1000);
	luaL_argcheck(L, timeout >= 0 && timeout <= 60000, 1, "0..60000 ms");
	lua_newtable(L); /* before the wait: nothing below may raise while events are held in C */
	bool stopping = false;
	sova_loop_event *ev = sova_loop_wait(timeout, &stopping);
	int n = 0;
	/* each event is freed once it is a Lua table */
	while (ev) {
		sova_loop_event *next = ev->next;
		push_event(L, ev);
		lua_rawseti(L, -2, ++n);
		sova_loop_event_free(ev);
		ev = next;
	}
	if (stopping) {
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "stop");
		lua_setfield(L, -2, "kind");
		lua_rawseti(L, -2, ++n);
	}
	return 1;
}

/* loop.pending() -> fetches whose answer has not come back from next_events yet */
static int l_pending(lua_State *L)
{
	lua_pushinteger(L, sova_loop_pending());
	return 1;
}

static void push_buckets(lua_State *L, const uint64_t *counts, const char *name)
{
	lua_createtable(L, SOVA_LOOP_TICK_BUCKETS, 0);
	for (int k = 0; k < SOVA_LOOP_TICK_BUCKETS; k++) {
		lua_pushnumber(L, (lua_Number)counts[k]);
		lua_rawseti(L, -2, k + 1);
	}
	lua_setfield(L, -2, name);
}

/* loop.tick_stats() -> {ticks, missed, late_ms = {n0, n1, ...}, run_ms = {...}}: the media thread's
 * tick ([k + 1] = ticks that began k to k+1 ms after they were due / ran that long, the
 * last that or more) */
static int l_tick_stats(lua_State *L)
{
	sova_loop_tick_stats st;
	sova_loop_tick_stats_get(&st);
	lua_createtable(L, 0, 4);
	lua_pushnumber(L, (lua_Number)st.ticks);
	lua_setfield(L, -2, "ticks");
	lua_pushnumber(L, (lua_Number)st.missed);
	lua_setfield(L, -2, "missed");
	push_buckets(L, st.late_ms, "late_ms");
	push_buckets(L, st.run_ms, "run_ms");
	return 1;
}

/* loop.ws_stalled() -> text sockets closed so far because their reader fell too far behind */
static int l_ws_stalled(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)sova_loop_ws_stalled_count());
	return 1;
}

int sova_open_loop(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"next_events", l_next_events}, {"reply", l_reply},   {"ws_send", l_ws_send},
		{"ws_close", l_ws_close},       {"fetch", l_fetch},   {"pending", l_pending},
		{"tick_stats", l_tick_stats},   {"ws_stalled", l_ws_stalled}, {NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

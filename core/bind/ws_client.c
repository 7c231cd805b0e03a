/* The `ws_client` table of sova.core: outbound WebSocket connections (civetweb's client; libcurl
 * here has no WebSocket support). For streaming providers and for specs that play the other
 * party of a browser test call. Frames arrive on civetweb's client thread and wait in a queue
 * until receive() takes them. */
#include <civetweb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bind/sova_bind.h"
#include "util/clock.h"

#define WS_CLIENT_MT "sova.ws_client"
#define MAX_QUEUED (1024 * 1024)

typedef struct frame {
	struct frame *next;
	size_t len;
	bool binary;
	char data[];
} frame;

/* Shared with civetweb's client thread; freed by __gc/close after the connection is closed. */
typedef struct ws_conn {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mg_connection *conn;
	frame *head, *tail;
	size_t queued;
	bool closed;
	bool keep_binary;                   /* binary frames are queued for receive(); else counted only */
	unsigned long long binary_frames, binary_bytes;
	int close_code; /* from the peer's close frame; 0 when none came */
} ws_conn;

typedef struct ws_handle {
	ws_conn *c; /* owned; NULL once closed */
} ws_handle;

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *ud)
{
	ws_conn *c = ud;
	int opcode = bits & 0x0f;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
		pthread_mutex_lock(&c->lock);
		if (len >= 2 && !c->close_code)
			c->close_code = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (opcode != MG_WEBSOCKET_OPCODE_TEXT && opcode != MG_WEBSOCKET_OPCODE_BINARY)
		return 1;
	if (opcode == MG_WEBSOCKET_OPCODE_BINARY) {
		pthread_mutex_lock(&c->lock);
		c->binary_frames++;
		c->binary_bytes += len;
		bool keep = c->keep_binary;
		pthread_mutex_unlock(&c->lock);
		if (!keep)
			return 1;
	}
	frame *f = malloc(sizeof *f + len);
	if (!f)
		return 0;
	f->next = NULL;
	f->len = len;
	f->binary = opcode == MG_WEBSOCKET_OPCODE_BINARY;
	memcpy(f->data, data, len);
	pthread_mutex_lock(&c->lock);
	if (c->queued + len > MAX_QUEUED) {
		pthread_mutex_unlock(&c->lock);
		free(f);
		return 0; /* nobody is reading: drop the connection rather than grow without bound */
	}
	if (c->tail)
		c->tail->next = f;
	else
		c->head = f;
	c->tail = f;
	c->queued += len;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 1;
}

static void on_close(const struct mg_connection *conn, void *ud)
{
	ws_conn *c = ud;
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static ws_handle *check_handle(lua_State *L)
{
	ws_handle *h = luaL_checkudata(L, 1, WS_CLIENT_MT);
	if (!h->c)
		luaL_error(L, "websocket is closed");
	return h;
}

/* ws_client.connect("ws://host:port/path?query"[, {binary = true}]) -> client | nil, err
 * binary: keep binary frames for receive() (audio); without it they are only counted. */
static int l_connect(lua_State *L)
{
	const char *url = luaL_checkstring(L, 1);
	char host[256], path[2048];
	int port = 80;
	if (sscanf(url, "ws://%255[^:/]:%d%2047s", host, &port, path) != 3) {
		if (sscanf(url, "ws://%255[^:/]%2047s", host, path) != 2) {
			lua_pushnil(L);
			lua_pushliteral(L, "expected ws://host[:port]/path (wss is terminated in front)");
			return 2;
		}
		port = 80;
	}
	ws_handle *h = lua_newuserdata(L, sizeof *h); /* owned by Lua now */
	h->c = NULL;
	luaL_getmetatable(L, WS_CLIENT_MT);
	lua_setmetatable(L, -2);
	ws_conn *c = calloc(1, sizeof *c);
	if (!c) {
		lua_pushnil(L);
		lua_pushliteral(L, "out of memory");
		return 2;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "binary");
		c->keep_binary = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	char err[256] = "";
	c->conn = mg_connect_websocket_client(host, port, 0, err, sizeof err, path, NULL, on_data, on_close, c);
	if (!c->conn) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
		lua_pushnil(L);
		lua_pushfstring(L, "cannot connect: %s", err[0] ? err : "refused");
		return 2;
	}
	h->c = c;
	return 1;
}

/* client:send(data[, "binary"]) -> true | nil, "closed": a text frame, or a binary one */
static int l_send(lua_State *L)
{
	ws_handle *h = check_handle(L);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	const char *kind = luaL_optstring(L, 3, "text");
	luaL_argcheck(L, strcmp(kind, "text") == 0 || strcmp(kind, "binary") == 0, 3, "\"text\" or \"binary\"");
	int opcode = kind[0] == 'b' ? MG_WEBSOCKET_OPCODE_BINARY : MG_WEBSOCKET_OPCODE_TEXT;
	if (mg_websocket_client_write(h->c->conn, opcode, text, len) <= 0) {
		lua_pushnil(L);
		lua_pushliteral(L, "closed");
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* client:receive(timeout_ms) -> data, "text" | "binary" | nil, "timeout" | nil, "closed" */
static int l_receive(lua_State *L)
{
	ws_handle *h = check_handle(L);
	int timeout = luaL_optint(L, 2, 5000);
	ws_conn *c = h->c;
	struct timespec until;
	sova_deadline_after(&until, timeout);
	pthread_mutex_lock(&c->lock);
	while (!c->head && !c->closed) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) != 0)
			break;
	}
	frame *f = c->head;
	if (f) {
		c->head = f->next;
		if (!c->head)
			c->tail = NULL;
		c->queued -= f->len;
	}
	bool closed = c->closed;
	pthread_mutex_unlock(&c->lock);
	if (!f) {
		lua_pushnil(L);
		lua_pushstring(L, closed ? "closed" : "timeout");
		return 2;
	}
	lua_pushlstring(L, f->data, f->len); /* may raise on OOM: free first would lose the frame */
	lua_pushstring(L, f->binary ? "binary" : "text");
	free(f);
	return 2;
}

/* client:binary_stats() -> frames, bytes: binary frames received so far (kept or not) */
static int l_binary_stats(lua_State *L)
{
	ws_conn *c = check_handle(L)->c;
	pthread_mutex_lock(&c->lock);
	lua_Number frames = (lua_Number)c->binary_frames, bytes = (lua_Number)c->binary_bytes;
	pthread_mutex_unlock(&c->lock);
	lua_pushnumber(L, frames);
	lua_pushnumber(L, bytes);
	return 2;
}

/* client:close_code() -> the code of the peer's close frame, or nil (none came yet) */
static int l_close_code(lua_State *L)
{
	ws_handle *h = check_handle(L);
	pthread_mutex_lock(&h->c->lock);
	int code = h->c->close_code;
	pthread_mutex_unlock(&h->c->lock);
	if (!code)
		lua_pushnil(L);
	else
		lua_pushinteger(L, code);
	return 1;
}

static int l_close(lua_State *L)
{
	ws_handle *h = luaL_checkudata(L, 1, WS_CLIENT_MT);
	ws_conn *c = h->c;
	if (!c)
		return 0;
	h->c = NULL;
	mg_close_connection(c->conn); /* stops civetweb's client thread: no callback runs after this */
	for (frame *f = c->head; f;) {
		frame *next = f->next;
		free(f);
		f = next;
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	return 0;
}

int sova_open_ws_client(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"send", l_send}, {"receive", l_receive}, {"close_code", l_close_code}, {"close", l_close},
		{"binary_stats", l_binary_stats}, {NULL, NULL},
	};
	luaL_newmetatable(L, WS_CLIENT_MT);
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	lua_newtable(L);
	lua_pushcfunction(L, l_connect);
	lua_setfield(L, -2, "connect");
	return 1;
}

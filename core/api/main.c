/* `sova api`: civetweb workers, each with its own trusted Lua state running lua/sova/api/server.lua.
 *
 * The Lua side exports prepare(env) -> {host, port, threads} (run once, in the main thread) and
 * handle(req) -> status, body, headers (run in workers). A worker's state lives as long as the thread. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mongo.h"
#include "http/server.h"
#include "commands.h"
#include "bind/sova_bind.h"
#include "util/log.h"

#define SERVER_MODULE "sova.api.server"
#define MAX_RESPONSE_HEADERS 16

typedef struct worker {
	lua_State *L;
	int handle_ref;
	sova_http_header headers[MAX_RESPONSE_HEADERS];
} worker;

static __thread worker *tls_worker;

/* Pushes require(SERVER_MODULE)[fn]; returns false (logged) when that fails. */
static bool push_server_fn(lua_State *L, const char *fn)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, SERVER_MODULE);
	if (sova_host_pcall(L, 1, 1, "api.load") != 0)
		return false;
	lua_getfield(L, -1, fn);
	lua_remove(L, -2);
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		sova_log("error", "api.load", "server module lacks a function");
		return false;
	}
	return true;
}

static worker *worker_get(void)
{
	if (tls_worker)
		return tls_worker;
	worker *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->L = sova_host_new_state();
	if (!w->L || !push_server_fn(w->L, "handle")) {
		if (w->L)
			lua_close(w->L);
		free(w);
		return NULL;
	}
	w->handle_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
	tls_worker = w;
	return w;
}

static void worker_exit(void)
{
	if (!tls_worker)
		return;
	lua_close(tls_worker->L);
	free(tls_worker);
	tls_worker = NULL;
}

static void push_request(lua_State *L, const sova_http_request *req)
{
	lua_createtable(L, 0, 7);
	lua_pushstring(L, req->method);
	lua_setfield(L, -2, "method");
	lua_pushstring(L, req->path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, req->raw_path);
	lua_setfield(L, -2, "raw_path");
	lua_pushstring(L, req->query);
	lua_setfield(L, -2, "query");
	lua_pushstring(L, req->remote_addr);
	lua_setfield(L, -2, "remote_addr");
	lua_pushlstring(L, req->body, req->body_len);
	lua_setfield(L, -2, "body");
	lua_createtable(L, 0, req->num_headers); /* [req, headers] */
	for (int i = 0; i < req->num_headers; i++) {
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (const char *p = req->headers[i].name; *p; p++)
			luaL_addchar(&b, (char)tolower((unsigned char)*p));
		luaL_pushresult(&b);
		lua_pushstring(L, req->headers[i].value);
		lua_rawset(L, -3);
	}
	lua_setfield(L, -2, "headers");
}

static const char INTERNAL[] = "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}";

/* Leaves status, body and headers on the worker's stack until on_finish. */
static void on_request(const sova_http_request *req, sova_http_response *res, void *ud)
{
	worker *w = worker_get();
	res->status = 500;
	res->body = INTERNAL;
	res->body_len = sizeof INTERNAL - 1;
	if (!w)
		return;
	lua_State *L = w->L;
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->handle_ref);
	push_request(L, req);
	if (sova_host_pcall(L, 1, 3, "api.handle") != 0)
		return;
	/* [status, body, headers] */
	if (!lua_isnumber(L, 1) || lua_type(L, 2) != LUA_TSTRING)
		return;
	res->status = (int)lua_tointeger(L, 1);
	res->body = lua_tolstring(L, 2, &res->body_len); /* anchored on the stack until on_finish */
	res->num_headers = 0;
	if (lua_istable(L, 3)) {
		lua_pushnil(L);
		while (lua_next(L, 3) && res->num_headers < MAX_RESPONSE_HEADERS) {
			if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
				const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
				if (strcasecmp(k, "content-type") == 0) {
					res->content_type = v;
				} else if (!strpbrk(k, "\r\n:") && !strpbrk(v, "\r\n")) {
					w->headers[res->num_headers].name = k;
					w->headers[res->num_headers].value = v;
					res->num_headers++;
				}
			}
			lua_pop(L, 1);
		}
	}
	res->headers = w->headers;
}

static void on_finish(void *ud)
{
	if (tls_worker)
		lua_settop(tls_worker->L, 0);
}

static int help(void)
{
	puts("usage: sova api\n"
	     "\n"
	     "Serves the REST API (and later the web UI) for every clinic, resolving the tenant by Host.\n"
	     "\n"
	     "environment:\n"
	     "  SOVA_HTTP_HOST     address to bind (default 127.0.0.1; TLS terminates in front)\n"
	     "  SOVA_HTTP_PORT     port (default 8080; 0 picks a free one, printed at start)\n"
	     "  SOVA_HTTP_THREADS  worker threads (default 16)\n"
	     "  MONGODB_URI        database (default mongodb://127.0.0.1:27017/sova)\n"
	     "  SOVA_DATA_DIR      local state: generated JWT secret (default .sova)\n"
	     "  SOVA_JWT_SECRET    token signing secret, >= 32 bytes (required when SOVA_ENV=production)\n"
	     "  SOVA_ENV           production | development (default development)");
	return 0;
}

int sova_main_api(int argc, char **argv)
{
	if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0))
		return help();
	if (argc > 0) {
		fprintf(stderr, "sova api: unexpected argument '%s' (see sova api --help)\n", argv[0]);
		return 64;
	}
	lua_State *L = sova_host_new_state();
	if (!L) {
		fprintf(stderr, "sova api: out of memory\n");
		return 70;
	}
	sova_listen at;
	if (!sova_host_prepare(L, SERVER_MODULE, "api.prepare", &at)) {
		lua_close(L);
		return 1;
	}
	lua_settop(L, 0);

	/* Workers inherit this mask, so only the main thread takes the stop signals. */
	sigset_t stop;
	sova_host_block_stop_signals(&stop);

	sova_http_config cfg = {
		.host = at.host, .port = at.port, .threads = at.threads,
		.handler = on_request, .finish = on_finish, .thread_exit = worker_exit,
	};
	char err[256];
	sova_http_server *srv = sova_http_start(&cfg, err, sizeof err);
	if (!srv) {
		sova_log("error", "api.listen", err);
		lua_close(L);
		return 1;
	}
	char line[256];
	snprintf(line, sizeof line, "{\"level\":\"info\",\"event\":\"api.listening\",\"host\":\"%s\",\"port\":%d}",
		 at.host, sova_http_port(srv));
	sova_log_line(line, strlen(line));

	int sig = 0;
	sigwait(&stop, &sig);
	sova_log("info", "api.stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sova_http_stop(srv);
	lua_close(L);
	sova_db_close();
	return 0;
}

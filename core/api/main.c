/* `sova api`: civetweb workers, each with its own trusted Lua state running lua/sova/api/server.lua,
 * the built web UI served by civetweb from its files, and one maintenance thread.
 *
 * The Lua side exports prepare() -> {host, port, threads} and frontend_dir() (run once, in the
 * main thread), handle(req) -> status, body, headers (run in workers; a worker's state lives as
 * long as the thread), and maintain() -> seconds until the next run (run in the maintenance
 * thread with the main thread's state, at start and then on that timer, never inside a request). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/mongo.h"
#include "http/server.h"
#include "commands.h"
#include "bind/sova_bind.h"
#include "util/log.h"

#define SERVER_MODULE "sova.api.server"
#define MAX_RESPONSE_HEADERS 16

/* The web UI may talk to its own origin and to the call runtime's WebSocket (another port or host). */
static const char UI_CSP[] = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
			     "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
			     "form-action 'self'";

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
	lua_createtable(L, 0, 6);
	lua_pushstring(L, req->method);
	lua_setfield(L, -2, "method");
	lua_pushstring(L, req->path);
	lua_setfield(L, -2, "path");
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

/* ---- Maintenance: one thread per process, on a timer ---- */

typedef struct maintenance {
	lua_State *L; /* the main thread's state, the thread's own until it is joined */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
} maintenance;

#define MAINTENANCE_RETRY_SECONDS 60 /* after maintain() itself failed */

static void *maintenance_run(void *arg)
{
	maintenance *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		pthread_mutex_unlock(&m->lock);
		double next = MAINTENANCE_RETRY_SECONDS;
		lua_settop(m->L, 0);
		if (push_server_fn(m->L, "maintain") && sova_host_pcall(m->L, 0, 1, "api.maintain") == 0) {
			if (lua_isnumber(m->L, -1) && lua_tonumber(m->L, -1) >= 1)
				next = lua_tonumber(m->L, -1);
			else
				sova_log("error", "api.maintain", "maintain() must return the seconds until its next run");
		}
		lua_settop(m->L, 0);
		struct timespec at;
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += (time_t)next;
		pthread_mutex_lock(&m->lock);
		while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &at) != ETIMEDOUT) {
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* Starts the thread (it runs maintain() at once). false when it cannot. */
static bool maintenance_start(maintenance *m, lua_State *L)
{
	memset(m, 0, sizeof *m);
	m->L = L;
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return false;
	bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&m->wake, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return false;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		pthread_cond_destroy(&m->wake);
		return false;
	}
	if (pthread_create(&m->thread, NULL, maintenance_run, m) != 0) {
		pthread_mutex_destroy(&m->lock);
		pthread_cond_destroy(&m->wake);
		return false;
	}
	return true;
}

/* Wakes the thread, waits for a run in progress to finish, and joins it. */
static void maintenance_stop(maintenance *m)
{
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->wake);
}

/* Copies require(SERVER_MODULE).frontend_dir() into out. false (logged) when that fails. */
static bool frontend_dir(lua_State *L, char *out, size_t outlen)
{
	if (!push_server_fn(L, "frontend_dir") || sova_host_pcall(L, 0, 1, "api.prepare") != 0)
		return false;
	size_t len;
	const char *dir = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
	bool ok = dir && len > 0 && len < outlen;
	if (ok)
		memcpy(out, dir, len + 1);
	else
		sova_log("error", "api.prepare", "frontend_dir() must return a directory path");
	lua_pop(L, 1);
	return ok;
}

static int help(void)
{
	puts("usage: sova api\n"
	     "\n"
	     "Serves the REST API and the web UI for every clinic, resolving the tenant by Host.\n"
	     "\n"
	     "environment:\n"
	     "  SOVA_HTTP_HOST     address to bind (default 127.0.0.1; TLS terminates in front)\n"
	     "  SOVA_HTTP_PORT     port (default 8080; 0 picks a free one, printed at start)\n"
	     "  SOVA_HTTP_THREADS  worker threads (default 16)\n"
	     "  MONGODB_URI        database (default mongodb://127.0.0.1:27017/sova)\n"
	     "  SOVA_DATA_DIR      local state: generated JWT secret (default .sova)\n"
	     "  SOVA_JWT_SECRET    token signing secret, >= 32 bytes (required when SOVA_ENV=production)\n"
	     "  SOVA_ENV           production | development (default development)\n"
	     "  SOVA_FRONTEND_DIR  the built web UI (default <root>/frontend/dist)\n"
	     "  SOVA_MAINTENANCE_SECONDS  seconds between audit retention sweeps (default 3600)");
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
	char ui_dir[4096];
	if (!frontend_dir(L, ui_dir, sizeof ui_dir)) {
		lua_close(L);
		return 1;
	}

	/* Workers inherit this mask, so only the main thread takes the stop signals. */
	sigset_t stop;
	sova_host_block_stop_signals(&stop);

	sova_http_config cfg = {
		.host = at.host, .port = at.port, .threads = at.threads,
		.handler = on_request, .finish = on_finish, .thread_exit = worker_exit,
		.site = {.dir = ui_dir, .api_prefix = "/api", .also = "/metrics", .csp = UI_CSP},
	};
	char err[256];
	sova_http_server *srv = sova_http_start(&cfg, err, sizeof err);
	if (!srv) {
		sova_log("error", "api.listen", err);
		lua_close(L);
		return 1;
	}
	maintenance m;
	if (!maintenance_start(&m, L)) {
		sova_log("error", "api.maintain", "cannot start the maintenance thread");
		sova_http_stop(srv);
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
	maintenance_stop(&m);
	lua_close(L);
	sova_db_close();
	return 0;
}

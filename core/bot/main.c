/* `sova bot`: the call runtime. civetweb threads only carry bytes; every call runs in the one
 * loop thread (this process's main thread) in lua/sova/bot/server.lua, each tenant flow in its
 * own sandbox. No thread per call. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mongo.h"
#include "http/server.h"
#include "commands.h"
#include "bot/loop.h"
#include "bind/sova_bind.h"
#include "util/log.h"

#define SERVER_MODULE "sova.bot.server"

int sova_open_loop(lua_State *L); /* core/bot/loop_lua.c */
#define REPLY_TIMEOUT_MS 10000

static __thread char *tls_body, *tls_ct;

static void on_request(const sova_http_request *req, sova_http_response *res, void *ud)
{
	size_t len = 0;
	res->status = sova_loop_http(req, REPLY_TIMEOUT_MS, &tls_body, &len, &tls_ct);
	if (!tls_body) {
		static const char BUSY[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"the bot did not answer in time\"}}";
		res->body = BUSY;
		res->body_len = sizeof BUSY - 1;
		res->content_type = "application/json";
		return;
	}
	res->body = tls_body; /* freed in on_finish */
	res->body_len = len;
	res->content_type = tls_ct ? tls_ct : "application/json";
}

static void on_finish(void *ud)
{
	free(tls_body);
	free(tls_ct);
	tls_body = tls_ct = NULL;
}

static void on_ws_open(sova_ws *ws, const char *path, const char *query, const char *remote, void *ud)
{
	sova_loop_ws_open(ws, path, query, remote);
}

static void on_ws_message(sova_ws *ws, const char *data, size_t len, void *ud) { sova_loop_ws_message(ws, data, len); }

static void on_ws_close(sova_ws *ws, void *ud) { sova_loop_ws_close(ws); }

static void *wait_for_stop(void *arg)
{
	sigset_t *stop = arg;
	int sig = 0;
	sigwait(stop, &sig);
	sova_log("info", "bot.stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sova_loop_stop();
	return NULL;
}

static int help(void)
{
	puts("usage: sova bot\n"
	     "\n"
	     "The call runtime: receives signed call starts from `sova api`, runs each call's flow\n"
	     "(clients/<org>/<workflow>/) in its own sandbox, and serves browser test calls over WebSocket.\n"
	     "\n"
	     "environment:\n"
	     "  SOVA_BOT_HOST       address to bind (default 127.0.0.1)\n"
	     "  SOVA_BOT_PORT       port (default 8081; 0 picks a free one, printed at start)\n"
	     "  SOVA_BOT_SECRET     shared secret with the API for signed call starts (>= 32 bytes;\n"
	     "                      generated into SOVA_DATA_DIR for local runs)\n"
	     "  MONGODB_URI         where sessions are written (asynchronously; spooled to disk when down)\n"
	     "  SOVA_DATA_DIR       local state: secrets, the write spool (default .sova)\n"
	     "  OPENAI_API_KEY      when set and a flow's services.yaml names openai, calls use it;\n"
	     "                      otherwise the offline rules engine");
	return 0;
}

int sova_main_bot(int argc, char **argv)
{
	if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0))
		return help();
	if (argc > 0) {
		fprintf(stderr, "sova bot: unexpected argument '%s' (see sova bot --help)\n", argv[0]);
		return 64;
	}
	char err[256];
	if (!sova_loop_init(err, sizeof err)) {
		sova_log("error", "bot.start", err);
		return 1;
	}
	lua_State *L = sova_host_new_state();
	if (!L) {
		fprintf(stderr, "sova bot: out of memory\n");
		return 70;
	}
	/* sova.core.loop exists in this process only: the event loop is the bot's */
	lua_getglobal(L, "require");
	lua_pushliteral(L, "sova.core");
	if (sova_host_pcall(L, 1, 1, "bot.start") != 0) {
		lua_close(L);
		return 1;
	}
	lua_pushcfunction(L, sova_open_loop);
	lua_call(L, 0, 1);             /* [core, loop] */
	lua_setfield(L, -2, "loop");   /* [core] */
	lua_pop(L, 1);
	sova_listen at;
	if (!sova_host_prepare(L, SERVER_MODULE, "bot.prepare", &at)) {
		lua_close(L);
		return 1;
	}
	int server = lua_gettop(L);

	sigset_t stop;
	sova_host_block_stop_signals(&stop);
	pthread_t stopper;
	if (pthread_create(&stopper, NULL, wait_for_stop, &stop) != 0) {
		lua_close(L);
		return 1;
	}
	pthread_detach(stopper);

	sova_http_config cfg = {
		.host = at.host, .port = at.port, .threads = at.threads,
		.handler = on_request, .finish = on_finish,
		.ws_pattern = "/calls/*/live",
		.ws_open = on_ws_open, .ws_message = on_ws_message, .ws_close = on_ws_close,
	};
	sova_http_server *srv = sova_http_start(&cfg, err, sizeof err);
	if (!srv) {
		sova_log("error", "bot.listen", err);
		lua_close(L);
		return 1;
	}
	char line[256];
	snprintf(line, sizeof line, "{\"level\":\"info\",\"event\":\"bot.listening\",\"host\":\"%s\",\"port\":%d}",
		 at.host, sova_http_port(srv));
	sova_log_line(line, strlen(line));

	/* The loop: runs until the stop signal, then lets calls end and writes drain. */
	lua_getfield(L, server, "run");
	lua_pushinteger(L, sova_http_port(srv));
	int status = sova_host_pcall(L, 1, 0, "bot.run") == 0 ? 0 : 1;
	sova_http_stop(srv);
	lua_close(L);
	sova_db_close();
	return status;
}

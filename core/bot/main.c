/* `sova bot`: the call runtime. The media thread (core/bot/loop.c: libwebsockets, curl and the
 * 5 ms tick on one libuv loop) carries bytes; every call runs in the one Lua thread (this
 * process's main thread) in lua/sova/bot/server.lua, each tenant flow in its own sandbox. No
 * thread per call. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mongo.h"
#include "commands.h"
#include "bot/loop.h"
#include "bot/voice_loop.h"
#include "bind/sova_bind.h"
#include "util/log.h"

#define SERVER_MODULE "sova.bot.server"

int sova_open_loop(lua_State *L);  /* core/bot/loop_lua.c */
void sova_open_voice(lua_State *L); /* core/bot/voice_lua.c */
#define REPLY_TIMEOUT_MS 10000

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
	     "  SOVA_BOT_THREADS    accepted and ignored (HTTP has no thread pool any more)\n"
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
		sova_loop_shutdown();
		lua_close(L);
		return 1;
	}
	lua_pushcfunction(L, sova_open_loop);
	lua_call(L, 0, 1);             /* [core, loop] */
	sova_open_voice(L);            /* loop.voice_*: the calls' audio (core/bot/voice_lua.c) */
	lua_setfield(L, -2, "loop");   /* [core] */
	lua_pop(L, 1);
	sova_listen at;
	if (!sova_host_prepare(L, SERVER_MODULE, "bot.prepare", &at)) {
		sova_loop_shutdown();
		lua_close(L);
		return 1;
	}
	int server = lua_gettop(L);

	sigset_t stop;
	sova_host_block_stop_signals(&stop);
	pthread_t stopper;
	if (pthread_create(&stopper, NULL, wait_for_stop, &stop) != 0) {
		sova_loop_shutdown();
		lua_close(L);
		return 1;
	}
	pthread_detach(stopper);

	/* at.threads (SOVA_BOT_THREADS) sized civetweb's pool; one media thread serves every socket now */
	sova_loop_config cfg = {.host = at.host, .port = at.port, .reply_timeout_ms = REPLY_TIMEOUT_MS};
	int port = 0;
	if (!sova_loop_start(&cfg, &port, err, sizeof err)) {
		sova_log("error", "bot.listen", err);
		sova_loop_shutdown();
		lua_close(L);
		return 1;
	}
	char line[256];
	snprintf(line, sizeof line, "{\"level\":\"info\",\"event\":\"bot.listening\",\"host\":\"%s\",\"port\":%d}",
		 at.host, port);
	sova_log_line(line, strlen(line));

	/* The loop: runs until the stop signal, then lets calls end and writes drain. */
	lua_getfield(L, server, "run");
	lua_pushinteger(L, port);
	int status = sova_host_pcall(L, 1, 0, "bot.run") == 0 ? 0 : 1;
	sova_loop_shutdown(); /* what Lua queued last goes out; the media thread is joined */
	sova_voices_shutdown(); /* nothing runs on the media thread any more */
	lua_close(L);
	sova_db_close();
	return status;
}

/* Trusted Lua states (API workers, the bot, scripts, tools). Tenant flows get sandboxed states
 * (sandbox.c); never this. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lualib.h>

#include "bind/sova_bind.h"
#include "util/log.h"

int luaopen_cjson(lua_State *L);     /* lua-cjson ships no header */
int luaopen_rex_pcre2(lua_State *L); /* nor does lua-rex-pcre2 */

int sova_host_traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = "(error object is not a string)";
	luaL_traceback(L, L, msg, 1);
	return 1;
}

int sova_host_pcall(lua_State *L, int nargs, int nresults, const char *event)
{
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, sova_host_traceback);
	lua_insert(L, base);
	int rc = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	if (rc != 0) {
		sova_log("error", event, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return rc;
}

static void preload(lua_State *L, const char *name, lua_CFunction fn)
{
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, fn);
	lua_setfield(L, -2, name);
	lua_pop(L, 2);
}

lua_State *sova_host_new_state(void)
{
	lua_State *L = luaL_newstate();
	if (!L)
		return NULL;
	const char *dir = sova_lua_dir();
	if (!dir) {
		lua_close(L);
		return NULL;
	}
	luaL_openlibs(L); /* trusted code only */
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
	lua_setfield(L, -2, "path");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath"); /* every C module is linked in */
	lua_pop(L, 1);
	preload(L, "sova.core", luaopen_sova_core);
	preload(L, "cjson", luaopen_cjson);
	preload(L, "rex_pcre2", luaopen_rex_pcre2);
	return L;
}

bool sova_host_prepare(lua_State *L, const char *module, const char *event, sova_listen *out)
{
	lua_getglobal(L, "require");
	lua_pushstring(L, module);
	if (sova_host_pcall(L, 1, 1, event) != 0)
		return false;
	lua_getfield(L, -1, "prepare"); /* [mod, prepare] */
	if (sova_host_pcall(L, 0, 1, event) != 0)
		goto fail;
	if (!lua_istable(L, -1)) {
		sova_log("error", event, "prepare() must return {host, port, threads}");
		goto fail;
	}
	lua_getfield(L, -1, "host");    /* [mod, cfg, host] */
	lua_getfield(L, -2, "port");    /* [mod, cfg, host, port] */
	lua_getfield(L, -3, "threads"); /* [mod, cfg, host, port, threads] */
	const char *host = lua_type(L, -3) == LUA_TSTRING ? lua_tostring(L, -3) : "127.0.0.1";
	if (strlen(host) >= sizeof out->host || !lua_isnumber(L, -2) || !lua_isnumber(L, -1)) {
		sova_log("error", event, "prepare() returned a bad host, port or threads");
		goto fail;
	}
	snprintf(out->host, sizeof out->host, "%s", host);
	out->port = (int)lua_tointeger(L, -2);
	out->threads = (int)lua_tointeger(L, -1);
	lua_pop(L, 4); /* [mod] */
	return out->port >= 0 && out->port <= 65535 && out->threads > 0 && out->threads <= 4096;
fail:
	lua_pop(L, 1);
	return false;
}

void sova_host_block_stop_signals(sigset_t *stop)
{
	sigemptyset(stop);
	sigaddset(stop, SIGINT);
	sigaddset(stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, stop, NULL);
	signal(SIGPIPE, SIG_IGN);
}

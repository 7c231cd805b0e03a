/* sova.core: the C primitives given to trusted Lua, one table per area. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/sova_lua.h"

static char lua_dir[PATH_MAX];

#ifndef SOVA_LUA_MODULE
static int dir_has_platform(const char *dir)
{
	char probe[PATH_MAX + 32];
	snprintf(probe, sizeof probe, "%s/sova/config.lua", dir);
	return access(probe, R_OK) == 0;
}
#endif

/* Where the platform Lua lives: $SOVA_LUA_DIR, else <exe>/../lua (build tree or /opt/sova),
 * else the source tree this was built from. */
const char *sova_lua_dir(void)
{
	if (lua_dir[0])
		return lua_dir;
	const char *env = getenv("SOVA_LUA_DIR");
	if (env && *env) {
		snprintf(lua_dir, sizeof lua_dir, "%s", env);
		return lua_dir;
	}
#ifndef SOVA_LUA_MODULE
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char cand[PATH_MAX + 16];
			snprintf(cand, sizeof cand, "%s/../lua", exe);
			if (dir_has_platform(cand) && realpath(cand, lua_dir))
				return lua_dir;
		}
	}
#endif
	snprintf(lua_dir, sizeof lua_dir, "%s", SOVA_DEFAULT_LUA_DIR);
	return lua_dir;
}


static void add_area(lua_State *L, const char *name, lua_CFunction open)
{
	lua_pushcfunction(L, open);
	lua_call(L, 0, 1);        /* [core, area] */
	lua_setfield(L, -2, name); /* [core] */
}

int luaopen_sova_core(lua_State *L)
{
	lua_newtable(L);
	add_area(L, "bson", sova_open_bson);
	add_area(L, "db", sova_open_db);
	add_area(L, "crypto", sova_open_crypto);
	add_area(L, "token", sova_open_token);
	add_area(L, "http", sova_open_http);
	add_area(L, "log", sova_open_log);
	add_area(L, "sys", sova_open_sys);
	add_area(L, "sandbox", sova_open_sandbox);
	add_area(L, "writer", sova_open_writer);
	add_area(L, "ws_client", sova_open_ws_client);
	add_area(L, "yaml", sova_open_yaml);
#ifndef SOVA_LUA_MODULE
	add_area(L, "loop", sova_open_loop); /* only `sova bot` runs the loop */
#endif
	lua_pushstring(L, sova_lua_dir());
	lua_setfield(L, -2, "lua_dir");
	return 1;
}

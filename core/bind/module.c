/* sova.core: the C primitives given to trusted Lua, one table per area. */
#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind/sova_bind.h"

static char lua_dir[PATH_MAX];

/* Strips the last n components of path in place; false when it runs out of them. */
static bool strip_components(char *path, int n)
{
	while (n-- > 0) {
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			return false;
		*slash = '\0';
	}
	return true;
}

/* The directory this code was loaded from: <prefix>/bin for the binary, <build> for the specs'
 * module (<build>/lua/sova/core.so). */
static bool own_base(char *out, size_t n)
{
#ifdef SOVA_LUA_MODULE
	Dl_info info;
	if (!dladdr((void *)luaopen_sova_core, &info) || !info.dli_fname || !realpath(info.dli_fname, out))
		return false;
	return strip_components(out, 3);
#else
	ssize_t len = readlink("/proc/self/exe", out, n - 1);
	if (len <= 0)
		return false;
	out[len] = '\0';
	return strip_components(out, 1);
#endif
}

/* Where the platform Lua lives, found from this binary itself, never from a path fixed at build
 * time: <prefix>/share/sova/lua when installed (cmake --install), <build>/../lua in a build tree. */
const char *sova_lua_dir(void)
{
	if (lua_dir[0])
		return lua_dir;
	char base[PATH_MAX];
	if (!own_base(base, sizeof base))
		return NULL;
	static const char *const candidates[] = {"%s/../share/sova/lua", "%s/../lua"};
	for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
		char cand[PATH_MAX + 32], probe[PATH_MAX + 64];
		snprintf(cand, sizeof cand, candidates[i], base);
		snprintf(probe, sizeof probe, "%s/sova/config.lua", cand);
		if (access(probe, R_OK) == 0 && realpath(cand, lua_dir))
			return lua_dir;
	}
	lua_dir[0] = '\0';
	return NULL;
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
	add_area(L, "recording", sova_open_recording);
	add_area(L, "yaml", sova_open_yaml);
	add_area(L, "llm", sova_open_llm);
	add_area(L, "speech", sova_open_speech);
	add_area(L, "text", sova_open_text);
	add_area(L, "tz", sova_open_tz);
	add_area(L, "lock", sova_open_lock);
	add_area(L, "metrics", sova_open_metrics);
#ifdef SOVA_TEST_SEAMS
	add_area(L, "recorder", sova_open_recorder);
#endif
	const char *dir = sova_lua_dir();
	if (!dir)
		return luaL_error(L, "sova.core: cannot find the platform Lua (share/sova/lua or ../lua) next to this binary");
	lua_pushstring(L, dir);
	lua_setfield(L, -2, "lua_dir");
	return 1;
}

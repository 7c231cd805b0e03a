/* `sova script FILE.lua` and `sova flow ...`: trusted Lua run once from the command line. */
#include <stdio.h>

#include "bind/sova_bind.h"
#include "commands.h"

int sova_main_script(int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "usage: sova script FILE.lua [ARGS...]\n");
		return 64;
	}
	lua_State *L = sova_host_new_state();
	if (!L) {
		fprintf(stderr, "sova script: out of memory\n");
		return 70;
	}
	lua_newtable(L);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");
	int status = 0;
	if (luaL_loadfile(L, argv[0]) != 0) {
		fprintf(stderr, "sova script: %s\n", lua_tostring(L, -1));
		status = 66;
	} else {
		int fn = lua_gettop(L); /* [chunk] */
		lua_pushcfunction(L, sova_host_traceback);
		lua_insert(L, fn); /* [traceback, chunk] */
		for (int i = 1; i < argc; i++)
			lua_pushstring(L, argv[i]);
		if (lua_pcall(L, argc - 1, 1, fn) != 0) {
			fprintf(stderr, "sova script: %s\n", lua_tostring(L, -1));
			status = 1;
		} else if (lua_isnumber(L, -1)) {
			status = (int)lua_tointeger(L, -1);
		}
	}
	lua_close(L);
	return status;
}

int sova_main_tool(const char *module, int argc, char **argv)
{
	lua_State *L = sova_host_new_state();
	if (!L) {
		fprintf(stderr, "sova: out of memory\n");
		return 70;
	}
	lua_pushcfunction(L, sova_host_traceback);
	lua_getglobal(L, "require");
	lua_pushstring(L, module);
	int status = 70;
	if (lua_pcall(L, 1, 1, 1) != 0) {
		fprintf(stderr, "sova: %s\n", lua_tostring(L, -1));
	} else {
		lua_getfield(L, -1, "main"); /* [tb, mod, main] */
		lua_createtable(L, argc, 0);
		for (int i = 0; i < argc; i++) {
			lua_pushstring(L, argv[i]);
			lua_rawseti(L, -2, i + 1);
		}
		if (lua_pcall(L, 1, 1, 1) != 0)
			fprintf(stderr, "sova: %s\n", lua_tostring(L, -1));
		else
			status = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	}
	lua_close(L);
	return status;
}

/* sova.core: the C primitives given to trusted Lua, one table per area. */
#include "lua/sova_lua.h"

const char *sova_lua_dir(void);

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
	lua_pushstring(L, sova_lua_dir());
	lua_setfield(L, -2, "lua_dir");
	return 1;
}

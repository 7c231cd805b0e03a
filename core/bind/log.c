/* The `log` table of sova.core: the process's one JSON-line log sink (shared with the C parts). */
#include "bind/sova_bind.h"
#include "util/log.h"

/* log.line(json) writes one already-encoded JSON object as a line. */
static int l_line(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	sova_log_line(s, len);
	return 0;
}

/* log.iso_now() -> "2026-11-26T23:30:00.123Z" */
static int l_iso_now(lua_State *L)
{
	char buf[40];
	sova_iso_now(buf, sizeof buf);
	lua_pushstring(L, buf);
	return 1;
}

int sova_open_log(lua_State *L)
{
	static const luaL_Reg fns[] = {{"line", l_line}, {"iso_now", l_iso_now}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

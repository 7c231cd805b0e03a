/* The `text` table of sova.core: Unicode text as people search it (utf8proc). */
#include <stdlib.h>
#include <utf8proc.h>

#include "bind/sova_bind.h"

/* text.fold(s) -> s folded | nil, err (not UTF-8)
 * Case-folded, compatibility-composed (NFKC: "ﬁ" is "fi", a full-width "Ａ" is "a") and without
 * combining marks ("José" and "JOSE" fold alike): what a search compares, on both sides. */
static int l_fold(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	utf8proc_uint8_t *out = NULL;
	utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &out,
					  UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
						  UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
	if (n < 0) {
		lua_pushnil(L);
		lua_pushstring(L, utf8proc_errmsg(n));
		return 2;
	}
	lua_pushlstring(L, (const char *)out, (size_t)n);
	free(out); /* utf8proc_map allocates with malloc */
	return 1;
}

int sova_open_text(lua_State *L)
{
	static const luaL_Reg fns[] = {{"fold", l_fold}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

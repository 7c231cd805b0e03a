/* The `tz` table of sova.core: time zones by their IANA names, from ICU's zone data (a
 * campaign's calling window is in the clinic's or the patient's local time). ICU rather than
 * setenv("TZ") + localtime_r: TZ is the whole process's, and the bot's threads read the clock. */
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "bind/sova_bind.h"

#define ZONE_MAX 64

/* name as ICU's UTF-16, if it is an IANA zone ICU knows; false otherwise */
static bool zone_id(const char *name, size_t len, UChar *out)
{
	if (len == 0 || len >= ZONE_MAX || strlen(name) != len) /* a NUL inside would cut the name short */
		return false;
	u_uastrncpy(out, name, ZONE_MAX);
	UChar canonical[ZONE_MAX];
	UBool system = 0;
	UErrorCode st = U_ZERO_ERROR;
	ucal_getCanonicalTimeZoneID(out, -1, canonical, ZONE_MAX, &system, &st);
	return U_SUCCESS(st) && system;
}

/* tz.valid(name) -> is it a time zone (an IANA name such as "America/Chicago") */
static int l_valid(lua_State *L)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);
	UChar id[ZONE_MAX];
	lua_pushboolean(L, zone_id(name, len, id));
	return 1;
}

/* tz.offset(name, t) -> seconds east of UTC in that zone at t (seconds since the epoch), daylight
 * saving time included | nil, err (not a zone) */
static int l_offset(lua_State *L)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);
	lua_Number t = luaL_checknumber(L, 2);
	UChar id[ZONE_MAX];
	if (!zone_id(name, len, id)) {
		lua_pushnil(L);
		lua_pushstring(L, "not a time zone");
		return 2;
	}
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st); /* owned; closed below */
	if (U_FAILURE(st)) {
		lua_pushnil(L);
		lua_pushstring(L, u_errorName(st));
		return 2;
	}
	ucal_setMillis(cal, (UDate)t * 1000.0, &st);
	int32_t zone = ucal_get(cal, UCAL_ZONE_OFFSET, &st);
	int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, &st);
	ucal_close(cal);
	if (U_FAILURE(st)) {
		lua_pushnil(L);
		lua_pushstring(L, u_errorName(st));
		return 2;
	}
	lua_pushinteger(L, (zone + dst) / 1000);
	return 1;
}

int sova_open_tz(lua_State *L)
{
	static const luaL_Reg fns[] = {{"valid", l_valid}, {"offset", l_offset}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

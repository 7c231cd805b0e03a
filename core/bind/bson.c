/* BSON <-> Lua conversion and the `bson` table of sova.core.
 *
 * Lua shapes: ObjectId is a table {["$oid"] = hex} with metatable "sova.oid"; a datetime is
 * {["$date"] = ms} with "sova.date"; BSON null is lightuserdata NULL (equal to cjson.null).
 * Only tables carrying these metatables become ObjectIds and dates, so JSON from a client
 * ({"$oid": ...}) can never forge one. Arrays: a sequence 1..n, or any table with "sova.array". */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bind/sova_bind.h"

/* ---- BSON -> Lua ---- */

static void push_iter_doc(lua_State *L, bson_iter_t *it, bool is_array, int depth);

static void push_value(lua_State *L, bson_iter_t *it, int depth)
{
	uint32_t len;
	bson_iter_t child;
	switch (bson_iter_type(it)) {
	case BSON_TYPE_DOUBLE:
		lua_pushnumber(L, bson_iter_double(it));
		break;
	case BSON_TYPE_UTF8: {
		const char *s = bson_iter_utf8(it, &len);
		lua_pushlstring(L, s, len);
		break;
	}
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (depth >= SOVA_BSON_MAX_DEPTH || !bson_iter_recurse(it, &child)) {
			lua_pushnil(L);
			break;
		}
		push_iter_doc(L, &child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1);
		break;
	case BSON_TYPE_BINARY: {
		const uint8_t *bin;
		bson_subtype_t st;
		bson_iter_binary(it, &st, &len, &bin);
		lua_pushlstring(L, (const char *)bin, len);
		break;
	}
	case BSON_TYPE_OID:
		sova_push_oid(L, bson_iter_oid(it));
		break;
	case BSON_TYPE_BOOL:
		lua_pushboolean(L, bson_iter_bool(it));
		break;
	case BSON_TYPE_DATE_TIME:
		lua_createtable(L, 0, 1);
		lua_pushnumber(L, (lua_Number)bson_iter_date_time(it));
		lua_setfield(L, -2, "$date");
		luaL_getmetatable(L, SOVA_DATE_MT);
		lua_setmetatable(L, -2);
		break;
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED:
		lua_pushlightuserdata(L, NULL);
		break;
	case BSON_TYPE_INT32:
		lua_pushnumber(L, bson_iter_int32(it));
		break;
	case BSON_TYPE_INT64:
		lua_pushnumber(L, (lua_Number)bson_iter_int64(it));
		break;
	case BSON_TYPE_DECIMAL128: {
		bson_decimal128_t d;
		char s[BSON_DECIMAL128_STRING];
		bson_iter_decimal128(it, &d);
		bson_decimal128_to_string(&d, s);
		lua_pushstring(L, s);
		break;
	}
	case BSON_TYPE_TIMESTAMP: {
		uint32_t t, inc;
		bson_iter_timestamp(it, &t, &inc);
		lua_pushnumber(L, t);
		break;
	}
	default:
		lua_pushnil(L); /* regex, code, minkey...: not used by Sova */
		break;
	}
}

static void push_iter_doc(lua_State *L, bson_iter_t *it, bool is_array, int depth)
{
	luaL_checkstack(L, 4, "BSON nested too deep");
	lua_newtable(L);
	int i = 1;
	while (bson_iter_next(it)) {
		push_value(L, it, depth); /* [t, v] */
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			if (is_array)
				i++;
			continue;
		}
		if (is_array)
			lua_rawseti(L, -2, i++);
		else
			lua_setfield(L, -2, bson_iter_key(it));
	}
	if (is_array) {
		luaL_getmetatable(L, SOVA_ARRAY_MT);
		lua_setmetatable(L, -2);
	}
}

void sova_push_bson(lua_State *L, const bson_t *doc)
{
	bson_iter_t it;
	if (!bson_iter_init(&it, doc)) {
		lua_newtable(L);
		return;
	}
	push_iter_doc(L, &it, false, 0);
}

void sova_push_oid(lua_State *L, const bson_oid_t *oid)
{
	char hex[25];
	bson_oid_to_string(oid, hex);
	lua_createtable(L, 0, 1);
	lua_pushlstring(L, hex, 24);
	lua_setfield(L, -2, "$oid");
	luaL_getmetatable(L, SOVA_OID_MT);
	lua_setmetatable(L, -2);
}

/* ---- Lua -> BSON ---- */

static bool has_metatable(lua_State *L, int idx, const char *name)
{
	if (!lua_getmetatable(L, idx))
		return false;
	luaL_getmetatable(L, name);
	bool eq = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return eq;
}

bool sova_check_oid(lua_State *L, int idx, bson_oid_t *oid)
{
	if (lua_type(L, idx) != LUA_TTABLE || !has_metatable(L, idx, SOVA_OID_MT))
		return false;
	lua_getfield(L, idx, "$oid");
	size_t len;
	const char *hex = lua_tolstring(L, -1, &len);
	bool ok = hex && lua_type(L, -1) == LUA_TSTRING && bson_oid_is_valid(hex, len) && len == 24;
	if (ok)
		bson_oid_init_from_string(oid, hex);
	lua_pop(L, 1);
	return ok;
}

/* Dates are kept within JavaScript's range (+-8.64e15 ms), which also keeps the int64 cast defined. */
#define MAX_DATE_MS 8.64e15

static bool valid_key(const char *key, size_t kl)
{
	return kl > 0 && kl <= 1024 && !memchr(key, '\0', kl) && bson_utf8_validate(key, kl, false);
}

static bool append_table(lua_State *L, int idx, bson_t *doc, int depth, char *err, size_t errlen);
static bool append_ordered(lua_State *L, int idx, bson_t *doc, int depth, char *err, size_t errlen);

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return false; } while (0)

static bool append_value(lua_State *L, int idx, bson_t *doc, const char *key, int klen, int depth, char *err,
			 size_t errlen)
{
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		if (!bson_append_bool(doc, key, klen, lua_toboolean(L, idx)))
			FAIL("document too large");
		return true;
	case LUA_TNUMBER: {
		lua_Number n = lua_tonumber(L, idx);
		if (!isfinite(n))
			FAIL("field '%s': number is not finite", key);
		bool ok;
		if (n == floor(n) && fabs(n) <= 9007199254740992.0) {
			if (n >= INT32_MIN && n <= INT32_MAX)
				ok = bson_append_int32(doc, key, klen, (int32_t)n);
			else
				ok = bson_append_int64(doc, key, klen, (int64_t)n);
		} else {
			ok = bson_append_double(doc, key, klen, n);
		}
		if (!ok)
			FAIL("document too large");
		return true;
	}
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		if (!bson_utf8_validate(s, len, false))
			FAIL("field '%s': string is not valid UTF-8 or holds a NUL byte", key);
		if (!bson_append_utf8(doc, key, klen, s, (int)len))
			FAIL("document too large");
		return true;
	}
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) != NULL)
			FAIL("field '%s': unsupported value", key);
		if (!bson_append_null(doc, key, klen))
			FAIL("document too large");
		return true;
	case LUA_TTABLE: {
		if (has_metatable(L, idx, SOVA_OID_MT)) {
			bson_oid_t oid;
			if (!sova_check_oid(L, idx, &oid))
				FAIL("field '%s': malformed ObjectId", key);
			if (!bson_append_oid(doc, key, klen, &oid))
				FAIL("document too large");
			return true;
		}
		if (has_metatable(L, idx, SOVA_BINARY_MT)) {
			size_t blen;
			lua_getfield(L, idx, "$binary");
			const char *bin = lua_tolstring(L, -1, &blen);
			bool ok = bin && blen <= INT32_MAX &&
				  bson_append_binary(doc, key, klen, BSON_SUBTYPE_BINARY, (const uint8_t *)bin, (uint32_t)blen);
			lua_pop(L, 1);
			if (!ok)
				FAIL("field '%s': malformed binary or document too large", key);
			return true;
		}
		if (has_metatable(L, idx, SOVA_DATE_MT)) {
			lua_getfield(L, idx, "$date");
			lua_Number ms = lua_tonumber(L, -1);
			bool isnum = lua_type(L, -1) == LUA_TNUMBER;
			lua_pop(L, 1);
			if (!isnum || !isfinite(ms) || fabs(ms) > MAX_DATE_MS)
				FAIL("field '%s': malformed or out-of-range date", key);
			if (!bson_append_date_time(doc, key, klen, (int64_t)ms))
				FAIL("document too large");
			return true;
		}
		if (depth >= SOVA_BSON_MAX_DEPTH)
			FAIL("nested too deep");
		bson_t child;
		if (has_metatable(L, idx, SOVA_ORDERED_MT)) {
			if (!bson_append_document_begin(doc, key, klen, &child))
				FAIL("document too large");
			bool ok = append_ordered(L, idx, &child, depth + 1, err, errlen);
			bson_append_document_end(doc, &child);
			return ok;
		}
		bool is_array = false;
		/* decide the kind first: append_table needs to know where to open */
		if (has_metatable(L, idx, SOVA_ARRAY_MT)) {
			is_array = true;
		} else {
			lua_rawgeti(L, idx, 1);
			is_array = !lua_isnil(L, -1);
			lua_pop(L, 1);
		}
		if (is_array ? !bson_append_array_begin(doc, key, klen, &child)
			     : !bson_append_document_begin(doc, key, klen, &child))
			FAIL("document too large");
		if (!append_table(L, idx, &child, depth + 1, err, errlen)) {
			if (is_array)
				bson_append_array_end(doc, &child);
			else
				bson_append_document_end(doc, &child);
			return false;
		}
		if (is_array ? !bson_append_array_end(doc, &child) : !bson_append_document_end(doc, &child))
			FAIL("document too large");
		return true;
	}
	default:
		FAIL("field '%s': cannot store a %s", key, luaL_typename(L, idx));
	}
}

/* Appends the entries of the table at idx: as an array when it is a sequence (or carries
 * "sova.array"), otherwise as a document whose keys must all be strings. */
static bool append_table(lua_State *L, int idx, bson_t *doc, int depth, char *err, size_t errlen)
{
	if (idx < 0)
		idx = lua_gettop(L) + idx + 1;
	if (!lua_checkstack(L, 6))
		FAIL("nested too deep");
	bool forced_array = has_metatable(L, idx, SOVA_ARRAY_MT);
	size_t n = lua_objlen(L, idx);
	size_t count = 0;
	bool all_int = true;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		count++;
		if (lua_type(L, -2) != LUA_TNUMBER)
			all_int = false;
		lua_pop(L, 1);
	}
	if (forced_array || (count > 0 && all_int)) {
		if (count != n || !all_int)
			FAIL("array has holes or non-integer keys");
		for (size_t i = 1; i <= n; i++) {
			char kbuf[16];
			const char *key;
			size_t kl = bson_uint32_to_string((uint32_t)(i - 1), &key, kbuf, sizeof kbuf);
			lua_rawgeti(L, idx, (int)i);
			bool ok = append_value(L, -1, doc, key, (int)kl, depth, err, errlen);
			lua_pop(L, 1);
			if (!ok)
				return false;
		}
		return true;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) { /* [.., k, v] */
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			FAIL("document keys must be strings");
		}
		size_t kl;
		const char *key = lua_tolstring(L, -2, &kl);
		if (!valid_key(key, kl)) {
			lua_pop(L, 2);
			FAIL("invalid document key");
		}
		bool ok = append_value(L, -1, doc, key, (int)kl, depth, err, errlen);
		lua_pop(L, 1);
		if (!ok) {
			lua_pop(L, 1);
			return false;
		}
	}
	return true;
}

/* A "sova.ordered" table {k1, v1, k2, v2, ...} becomes a document with keys in that order
 * (index keys and sort specifications depend on it). */
static bool append_ordered(lua_State *L, int idx, bson_t *doc, int depth, char *err, size_t errlen)
{
	if (idx < 0)
		idx = lua_gettop(L) + idx + 1;
	size_t n = lua_objlen(L, idx);
	if (n % 2)
		FAIL("ordered document needs key, value pairs");
	for (size_t i = 1; i < n; i += 2) {
		lua_rawgeti(L, idx, (int)i);
		lua_rawgeti(L, idx, (int)i + 1); /* [k, v] */
		size_t kl = 0;
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
		bool ok = key && valid_key(key, kl);
		if (!ok)
			snprintf(err, errlen, "invalid document key");
		else
			ok = append_value(L, -1, doc, key, (int)kl, depth, err, errlen);
		lua_pop(L, 2);
		if (!ok)
			return false;
	}
	return true;
}

bool sova_to_bson(lua_State *L, int idx, bson_t *doc, char *err, size_t errlen)
{
	if (lua_type(L, idx) != LUA_TTABLE)
		FAIL("expected a table, got %s", luaL_typename(L, idx));
	if (has_metatable(L, idx, SOVA_OID_MT) || has_metatable(L, idx, SOVA_DATE_MT))
		FAIL("expected a document");
	if (has_metatable(L, idx, SOVA_ORDERED_MT))
		return append_ordered(L, idx, doc, 0, err, errlen);
	return append_table(L, idx, doc, 0, err, errlen);
}

#undef FAIL

/* ---- The `bson` table ---- */

/* bson.oid([hex]) -> oid | nil, "invalid ObjectId": a new id, or one parsed from 24 hex digits. */
static int l_oid(lua_State *L)
{
	bson_oid_t oid;
	if (lua_isnoneornil(L, 1)) {
		bson_oid_init(&oid, NULL);
	} else {
		size_t len;
		const char *hex = lua_tolstring(L, 1, &len);
		if (!hex || lua_type(L, 1) != LUA_TSTRING || len != 24 || !bson_oid_is_valid(hex, len)) {
			lua_pushnil(L);
			lua_pushliteral(L, "invalid ObjectId");
			return 2;
		}
		bson_oid_init_from_string(&oid, hex);
	}
	sova_push_oid(L, &oid);
	return 1;
}

/* bson.binary(bytes) -> a value stored as BSON binary (subtype 0); binary reads back as a string. */
static int l_binary(lua_State *L)
{
	luaL_checkstring(L, 1);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "$binary");
	luaL_getmetatable(L, SOVA_BINARY_MT);
	lua_setmetatable(L, -2);
	return 1;
}

static int l_is_oid(lua_State *L)
{
	lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && has_metatable(L, 1, SOVA_OID_MT));
	return 1;
}

static int l_is_date(lua_State *L)
{
	lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && has_metatable(L, 1, SOVA_DATE_MT));
	return 1;
}

/* bson.oid_time(oid) -> unix seconds of the id's creation. */
static int l_oid_time(lua_State *L)
{
	bson_oid_t oid;
	luaL_argcheck(L, sova_check_oid(L, 1, &oid), 1, "ObjectId expected");
	lua_pushnumber(L, (lua_Number)bson_oid_get_time_t(&oid));
	return 1;
}

static int push_date(lua_State *L, lua_Number ms)
{
	lua_createtable(L, 0, 1);
	lua_pushnumber(L, ms);
	lua_setfield(L, -2, "$date");
	luaL_getmetatable(L, SOVA_DATE_MT);
	lua_setmetatable(L, -2);
	return 1;
}

/* bson.date(ms) -> date */
static int l_date(lua_State *L)
{
	lua_Number ms = luaL_checknumber(L, 1);
	luaL_argcheck(L, isfinite(ms) && fabs(ms) <= MAX_DATE_MS, 1, "date out of range");
	return push_date(L, floor(ms));
}

/* bson.now() -> date of the current time */
static int l_now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return push_date(L, (lua_Number)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* bson.array([t]) -> t, marked to be stored as an array even when empty */
static int l_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	else
		luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_getmetatable(L, SOVA_ARRAY_MT);
	lua_setmetatable(L, 1);
	return 1;
}

/* bson.ordered({k1, v1, k2, v2, ...}) -> the table, to be stored as a document in that key order */
static int l_ordered(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_getmetatable(L, SOVA_ORDERED_MT);
	lua_setmetatable(L, 1);
	return 1;
}

/* bson.encode(t) -> bytes | nil, err */
static int l_encode(lua_State *L)
{
	char err[256];
	bson_t doc = BSON_INITIALIZER;
	if (!sova_to_bson(L, 1, &doc, err, sizeof err)) {
		bson_destroy(&doc);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushlstring(L, (const char *)bson_get_data(&doc), doc.len);
	bson_destroy(&doc);
	return 1;
}

/* libbson 1.23's BSON_VALIDATE_UTF8 lets invalid UTF-8 in string values through: walk them. */
static bool strings_valid(bson_iter_t *it, int depth)
{
	while (bson_iter_next(it)) {
		if (BSON_ITER_HOLDS_UTF8(it)) {
			uint32_t len;
			const char *v = bson_iter_utf8(it, &len);
			if (!bson_utf8_validate(v, len, false))
				return false;
		} else if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) {
			bson_iter_t child;
			if (depth >= SOVA_BSON_MAX_DEPTH || !bson_iter_recurse(it, &child) || !strings_valid(&child, depth + 1))
				return false;
		}
	}
	return true;
}

/* bson.decode(bytes) -> t | nil, err */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len);
	bson_t doc;
	bson_iter_t it;
	if (!bson_init_static(&doc, (const uint8_t *)data, len) || !bson_validate(&doc, BSON_VALIDATE_UTF8, NULL) ||
	    !bson_iter_init(&it, &doc) || !strings_valid(&it, 0)) {
		lua_pushnil(L);
		lua_pushliteral(L, "malformed BSON");
		return 2;
	}
	sova_push_bson(L, &doc);
	return 1;
}

static int oid_tostring(lua_State *L)
{
	lua_getfield(L, 1, "$oid");
	return 1;
}

static int oid_eq(lua_State *L)
{
	lua_getfield(L, 1, "$oid");
	lua_getfield(L, 2, "$oid");
	lua_pushboolean(L, lua_rawequal(L, -1, -2));
	return 1;
}

static int date_tostring(lua_State *L)
{
	lua_getfield(L, 1, "$date");
	lua_Number ms = lua_tonumber(L, -1);
	time_t secs = (time_t)floor(ms / 1000);
	struct tm tm;
	char buf[96];
	if (!gmtime_r(&secs, &tm))
		return luaL_error(L, "date out of range");
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - (lua_Number)secs * 1000));
	lua_pushstring(L, buf);
	return 1;
}

int sova_open_bson(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"oid", l_oid},       {"is_oid", l_is_oid}, {"is_date", l_is_date}, {"oid_time", l_oid_time},
		{"date", l_date},     {"now", l_now},       {"array", l_array},     {"ordered", l_ordered}, {"encode", l_encode},
		{"decode", l_decode}, {"binary", l_binary}, {NULL, NULL},
	};
	luaL_newmetatable(L, SOVA_OID_MT);
	lua_pushcfunction(L, oid_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushcfunction(L, oid_eq);
	lua_setfield(L, -2, "__eq");
	lua_pop(L, 1);
	luaL_newmetatable(L, SOVA_DATE_MT);
	lua_pushcfunction(L, date_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pop(L, 1);
	luaL_newmetatable(L, SOVA_ARRAY_MT);
	lua_pop(L, 1);
	luaL_newmetatable(L, SOVA_ORDERED_MT);
	lua_pop(L, 1);
	luaL_newmetatable(L, SOVA_BINARY_MT);
	lua_pop(L, 1);

	lua_newtable(L);
	luaL_register(L, NULL, fns);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	luaL_getmetatable(L, SOVA_ARRAY_MT);
	lua_setfield(L, -2, "array_mt");
	return 1;
}

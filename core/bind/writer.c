/* The `writer` table of sova.core: the call runtime's durable asynchronous database writes
 * (core/db/writer.h). The event loop pushes and moves on; one background thread applies the
 * operations in order, and keeps them on disk while the database is away.
 *
 *   writer.start{spool_dir = path, retry_ms = 500, max_queue_bytes = 64 MiB} -> true | nil, err
 *   writer.push{collection =, kind = "insert", doc = {...}}                  -> true | nil, err
 *   writer.push{collection =, kind = "update"|"upsert", filter = {...}, update = {$set = ...}}
 *   writer.push{kind = "recording", organization_id = oid, session_id = oid, spill = id}
 *       a finished recorder's spill (its id in the process's spill registry, crypto/spill.h: the
 *       key itself never comes through Lua) stored as the session's recording (db/writer.h)
 *   writer.flush(timeout_ms = 10000) -> true | nil, "timeout" | nil, "not started"
 *   writer.stop(timeout_ms = 5000)   -> true | nil, "N operations kept in the spool"
 *   writer.stats() -> {running, db_down, queued, queued_bytes, spooled, spool_bytes, applied,
 *                      failed_permanently, overflowed, corrupt_skipped, recordings_stored,
 *                      recordings_lost, last_error (or nil)}
 *
 * Delivery is at least once and effects once: every operation gets an id, and an update such as
 * $push applies only to a document that does not carry it yet (core/db/writer.h).
 *
 * Misuse (a bad option or operation shape) raises before anything is allocated; a runtime
 * failure (not started, a value BSON cannot hold, a full queue with an unwritable spool) returns
 * nil, err. The writer lives as long as the Lua state that started it: closing that state stops
 * it (what is left goes to the spool), so the thread never outlives the code it runs or the
 * database pool. */
#include <string.h>

#include "db/writer.h"
#include "bind/sova_bind.h"

#define GUARD_MT "sova.writer.guard"
#define ERRLEN 256
#define GUARD_FLUSH_MS 5000

static char KEY_GUARD; /* registry[&KEY_GUARD] = the guard of the run this state started */

typedef struct writer_guard {
	uint64_t generation; /* 0: no run attached */
} writer_guard;

/* Raises unless every key of the table at idx is in allowed (a typo must not pass silently). */
static void check_keys(lua_State *L, int idx, const char *const *allowed, const char *what)
{
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1); /* [key] */
		bool ok = false;
		if (lua_type(L, -1) == LUA_TSTRING) {
			const char *k = lua_tostring(L, -1);
			for (int i = 0; allowed[i] && !ok; i++)
				ok = strcmp(k, allowed[i]) == 0;
		}
		if (!ok && lua_type(L, -1) == LUA_TSTRING)
			luaL_error(L, "%s: unknown field '%s'", what, lua_tostring(L, -1));
		if (!ok)
			luaL_error(L, "%s: unknown %s key", what, luaL_typename(L, -1));
	}
}

/* Reads an optional integer field of the table at 1 into *out; raises unless lo <= value <= hi. */
static void opt_int_field(lua_State *L, const char *key, lua_Number lo, lua_Number hi, lua_Number *out)
{
	lua_getfield(L, 1, key);
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TNUMBER)
			luaL_error(L, "writer.start: %s must be a number", key);
		lua_Number v = lua_tonumber(L, -1);
		if (v != (lua_Number)(int64_t)v || v < lo || v > hi)
			luaL_error(L, "writer.start: %s must be an integer in %f..%f", key, lo, hi);
		*out = v;
	}
	lua_pop(L, 1);
}

/* ---- writer.start(opts) ---- */
static int l_start(lua_State *L)
{
	static const char *const keys[] = {"spool_dir", "retry_ms", "max_queue_bytes", NULL};
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	check_keys(L, 1, keys, "writer.start");
	lua_getfield(L, 1, "spool_dir"); /* [opts, dir] */
	if (lua_type(L, 2) != LUA_TSTRING || lua_objlen(L, 2) == 0)
		return luaL_error(L, "writer.start: spool_dir (a directory path) is required");
	lua_Number retry = 500, max_bytes = 0;
	opt_int_field(L, "retry_ms", 1, 3600000, &retry);
	opt_int_field(L, "max_queue_bytes", 1, (lua_Number)((int64_t)1 << 40), &max_bytes);

	/* The guard exists before the thread, so no raise can come between starting the thread and
	 * tying it to this state. */
	writer_guard *g = lua_newuserdata(L, sizeof *g); /* [opts, dir, guard] */
	g->generation = 0;
	luaL_getmetatable(L, GUARD_MT);
	lua_setmetatable(L, -2);
	lua_pushlightuserdata(L, &KEY_GUARD);
	lua_pushvalue(L, -2);
	lua_rawset(L, LUA_REGISTRYINDEX); /* a guard of an earlier run here is replaced: its __gc does nothing */

	sova_writer_config cfg = {
		.spool_dir = lua_tostring(L, 2),
		.retry_ms = (int)retry,
		.max_queue_bytes = (size_t)max_bytes,
	};
	char err[ERRLEN];
	uint64_t gen;
	if (!sova_writer_start(&cfg, &gen, err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	g->generation = gen;
	lua_pushboolean(L, 1);
	return 1;
}

/* Closing the state that started the writer stops it: the thread runs code of this library,
 * which may be unloaded with the state, and uses the pool the host closes after it. */
static int l_guard_gc(lua_State *L)
{
	writer_guard *g = luaL_checkudata(L, 1, GUARD_MT);
	if (g->generation)
		sova_writer_stop(g->generation, GUARD_FLUSH_MS, NULL);
	g->generation = 0;
	return 0;
}

/* ---- writer.push(op) ---- */

static sova_write_kind check_kind(lua_State *L, int idx)
{
	const char *k = lua_tostring(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING) {
		if (strcmp(k, "insert") == 0)
			return SOVA_WRITE_INSERT;
		if (strcmp(k, "update") == 0)
			return SOVA_WRITE_UPDATE;
		if (strcmp(k, "upsert") == 0)
			return SOVA_WRITE_UPSERT;
	}
	luaL_error(L, "writer.push: kind must be \"insert\", \"update\", \"upsert\" or \"recording\"");
	return SOVA_WRITE_INSERT; /* not reached */
}

/* An update is operators only: {$set = {...}, $push = {...}}. */
static void check_update(lua_State *L, int idx)
{
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_tostring(L, -2)[0] != '$' || !lua_istable(L, -1))
			luaL_error(L, "writer.push: update must hold only operators such as $set, each with a table");
		lua_pop(L, 1);
		n++;
	}
	if (n == 0)
		luaL_error(L, "writer.push: update is empty");
}

/* Converts the table at idx into an initialized doc; false with err ("what: message"). */
static bool to_bson(lua_State *L, int idx, bson_t *doc, const char *what, char *err, size_t errlen)
{
	char msg[ERRLEN - 16]; /* room for what */
	if (sova_to_bson(L, idx, doc, msg, sizeof msg))
		return true;
	snprintf(err, errlen, "%s: %s", what, msg);
	return false;
}

/* writer.push{kind = "recording", organization_id =, session_id =, spill =} (the table at 1). */
static int push_recording(lua_State *L)
{
	static const char *const keys[] = {"kind", "organization_id", "session_id", "spill", NULL};
	check_keys(L, 1, keys, "writer.push");
	bson_oid_t org, session;
	lua_getfield(L, 1, "organization_id"); /* [op, kind, org] */
	lua_getfield(L, 1, "session_id");      /* [op, kind, org, session] */
	lua_getfield(L, 1, "spill");           /* [op, kind, org, session, spill] */
	if (!sova_check_oid(L, 3, &org) || !sova_check_oid(L, 4, &session))
		return luaL_error(L, "writer.push: a recording takes organization_id and session_id (ObjectIds)");
	if (lua_type(L, 5) != LUA_TSTRING)
		return luaL_error(L, "writer.push: a recording takes spill (a spill id)");
	char err[ERRLEN];
	if (!sova_writer_push_recording(&org, &session, lua_tostring(L, 5), err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_push(lua_State *L)
{
	static const char *const keys[] = {"collection", "kind", "filter", "doc", "update", NULL};
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "kind"); /* [op, kind] */
	bool recording = lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "recording") == 0;
	lua_pop(L, 1);
	if (recording) {
		lua_getfield(L, 1, "kind");
		return push_recording(L);
	}
	check_keys(L, 1, keys, "writer.push");
	lua_getfield(L, 1, "collection"); /* 2 */
	lua_getfield(L, 1, "kind");       /* 3 */
	lua_getfield(L, 1, "filter");     /* 4 */
	lua_getfield(L, 1, "doc");        /* 5 */
	lua_getfield(L, 1, "update");     /* 6 */
	if (lua_type(L, 2) != LUA_TSTRING || lua_objlen(L, 2) == 0)
		return luaL_error(L, "writer.push: collection (a name) is required");
	sova_write_kind kind = check_kind(L, 3);
	if (kind == SOVA_WRITE_INSERT) {
		if (!lua_istable(L, 5) || !lua_isnil(L, 4) || !lua_isnil(L, 6))
			return luaL_error(L, "writer.push: an insert takes doc (a table), and no filter or update");
	} else {
		if (!lua_istable(L, 4) || !lua_istable(L, 6) || !lua_isnil(L, 5))
			return luaL_error(L, "writer.push: an %s takes filter and update (tables), and no doc",
					  lua_tostring(L, 3));
		check_update(L, 6);
	}
	/* From here on, nothing raises: failures return nil, err. */
	char err[ERRLEN];
	bson_t filter, body;
	bson_init(&filter);
	bson_init(&body);
	bool ok = kind == SOVA_WRITE_INSERT ? to_bson(L, 5, &body, "doc", err, sizeof err)
					    : to_bson(L, 4, &filter, "filter", err, sizeof err) &&
						      to_bson(L, 6, &body, "update", err, sizeof err);
	ok = ok && sova_writer_push(lua_tostring(L, 2), kind, kind == SOVA_WRITE_INSERT ? NULL : &filter, &body, err,
				    sizeof err); /* copies both */
	bson_destroy(&filter);
	bson_destroy(&body);
	if (!ok) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- writer.flush(timeout_ms) ---- */
static int l_flush(lua_State *L)
{
	lua_Integer ms = luaL_optinteger(L, 1, 10000);
	luaL_argcheck(L, ms >= 0 && ms <= 86400000, 1, "timeout_ms in 0..86400000");
	sova_writer_stats st;
	sova_writer_get_stats(&st);
	if (!st.running) {
		lua_pushnil(L);
		lua_pushliteral(L, "not started");
		return 2;
	}
	if (!sova_writer_flush((int)ms)) {
		lua_pushnil(L);
		lua_pushliteral(L, "timeout");
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- writer.stop(timeout_ms) ---- */
static int l_stop(lua_State *L)
{
	lua_Integer ms = luaL_optinteger(L, 1, 5000);
	luaL_argcheck(L, ms >= 0 && ms <= 86400000, 1, "timeout_ms in 0..86400000");
	uint64_t left = 0;
	if (!sova_writer_stop(0, (int)ms, &left)) {
		lua_pushnil(L);
		lua_pushfstring(L, "%f operations kept in the spool", (lua_Number)left);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- writer.stats() ---- */
static void set_number(lua_State *L, const char *key, uint64_t v)
{
	lua_pushnumber(L, (lua_Number)v);
	lua_setfield(L, -2, key);
}

static int l_stats(lua_State *L)
{
	sova_writer_stats st;
	sova_writer_get_stats(&st);
	lua_createtable(L, 0, 13);
	lua_pushboolean(L, st.running);
	lua_setfield(L, -2, "running");
	lua_pushboolean(L, st.db_down);
	lua_setfield(L, -2, "db_down");
	set_number(L, "queued", st.queued);
	set_number(L, "queued_bytes", st.queued_bytes);
	set_number(L, "spooled", st.spooled);
	set_number(L, "spool_bytes", st.spool_bytes);
	set_number(L, "applied", st.applied);
	set_number(L, "failed_permanently", st.failed_permanently);
	set_number(L, "overflowed", st.overflowed);
	set_number(L, "corrupt_skipped", st.corrupt_skipped);
	set_number(L, "recordings_stored", st.recordings_stored);
	set_number(L, "recordings_lost", st.recordings_lost);
	if (st.last_error[0]) {
		lua_pushstring(L, st.last_error);
		lua_setfield(L, -2, "last_error");
	}
	return 1;
}

int sova_open_writer(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"start", l_start}, {"push", l_push}, {"flush", l_flush},
		{"stop", l_stop},   {"stats", l_stats}, {NULL, NULL},
	};
	luaL_newmetatable(L, GUARD_MT);
	lua_pushcfunction(L, l_guard_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

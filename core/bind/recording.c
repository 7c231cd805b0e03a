/* The `recording` table of sova.core: call recordings sealed at rest in the database
 * (core/db/recordings.h, core/crypto/sealed.h).
 *
 *   recording.set_key(secret) -> key_id        SOVA_DATA_KEY; once per process (the same again is a no-op)
 *   recording.key_id() -> key_id | nil          the loaded key's id
 *   recording.store(db, org, session, bytes)   -> info | nil, err, kind
 *   recording.info(db, org, session)           -> info | false | nil, err, kind
 *   recording.read(db, org, session, from, to) -> bytes | nil, err, kind   (from, to: inclusive, 0-based)
 *   recording.delete(db, org, session)         -> true | false | nil, err, kind
 *
 * info = {id, bytes, segment_size, content_type, key_id, sha256}. db is a database handle (a
 * scoped one must be of org). Misuse raises; a runtime failure returns nil, message, kind with
 * kind "database", "exists", "damaged" (a segment failed authentication or a chunk is missing),
 * "key" (sealed under a key this process does not have), and for read "not_found" or "range". */
#include <string.h>

#include "crypto/sealed.h"
#include "db/mongo.h"
#include "db/recordings.h"
#include "db/scope.h"
#include "bind/sova_bind.h"

#define ERRLEN 256
/* The largest range one read may decrypt into memory (the API serves less per response). */
#define READ_MAX (64u << 20)

/* The process's recording key lives in db/recordings.c (the writer thread stores with it too). */
static bool current_key(sova_sealed_key *out) { return sova_recording_process_key(out); }

/* ---- recording.set_key(secret) -> key_id ---- */
static int l_set_key(lua_State *L)
{
	size_t len;
	const char *secret = luaL_checklstring(L, 1, &len);
	luaL_argcheck(L, len >= 32, 1, "the data key must be at least 32 bytes");
	sova_sealed_key k;
	if (!sova_sealed_derive_key(secret, len, SOVA_KEY_RECORDING, &k))
		return luaL_error(L, "cannot derive the recording key (libsodium)");
	int rc = sova_recording_set_process_key(&k);
	const char *why = rc < 0 ? "out of memory" : rc > 0 ? "a different data key is already set in this process" : NULL;
	char id[sizeof k.id];
	memcpy(id, k.id, sizeof id);
	sova_sealed_key_wipe(&k);
	if (why)
		return luaL_error(L, "%s", why);
	lua_pushstring(L, id);
	return 1;
}

/* ---- recording.key_id() -> the loaded key's id | nil ---- */
static int l_key_id(lua_State *L)
{
	sova_sealed_key k;
	if (!current_key(&k))
		return 0;
	lua_pushstring(L, k.id);
	sova_sealed_key_wipe(&k);
	return 1;
}

/* ---- arguments ---- */

/* Checks (db, org, session) at 1..3 and that a scoped handle is org's; raises on misuse. */
static void check_target(lua_State *L, bson_oid_t *org, bson_oid_t *session)
{
	sova_scope *h = luaL_checkudata(L, 1, "sova.db.handle");
	luaL_argcheck(L, sova_check_oid(L, 2, org), 2, "organization ObjectId expected");
	luaL_argcheck(L, sova_check_oid(L, 3, session), 3, "session ObjectId expected");
	if (h->scoped && !bson_oid_equal(&h->org, org))
		luaL_error(L, "scoped handle of another organization");
	if (!sova_db_is_open())
		luaL_error(L, "database not opened: call db.open(uri) first");
}

static void need_key(lua_State *L, sova_sealed_key *k)
{
	if (!current_key(k))
		luaL_error(L, "no recording key: call recording.set_key(SOVA_DATA_KEY) first");
}

static int push_misfit(lua_State *L, const char *err, const char *kind)
{
	lua_pushnil(L);
	lua_pushstring(L, err);
	lua_pushstring(L, kind);
	return 3;
}

static int push_failure(lua_State *L, sova_rec_status st, const char *err)
{
	lua_pushnil(L);
	lua_pushstring(L, err);
	switch (st) {
	case SOVA_REC_EXISTS: lua_pushliteral(L, "exists"); break;
	case SOVA_REC_DAMAGED: lua_pushliteral(L, "damaged"); break;
	case SOVA_REC_KEY: lua_pushliteral(L, "key"); break;
	default: lua_pushliteral(L, "database"); break;
	}
	return 3;
}

static void push_info(lua_State *L, const sova_recording_info *r)
{
	lua_createtable(L, 0, 6);
	sova_push_oid(L, &r->file_id);
	lua_setfield(L, -2, "id");
	lua_pushnumber(L, (lua_Number)r->bytes);
	lua_setfield(L, -2, "bytes");
	lua_pushnumber(L, (lua_Number)r->segment_size);
	lua_setfield(L, -2, "segment_size");
	lua_pushstring(L, r->content_type);
	lua_setfield(L, -2, "content_type");
	lua_pushstring(L, r->key_id);
	lua_setfield(L, -2, "key_id");
	lua_pushstring(L, r->sha256);
	lua_setfield(L, -2, "sha256");
}

/* ---- recording.store(db, org, session, bytes) ---- */
static int l_store(lua_State *L)
{
	bson_oid_t org, session;
	check_target(L, &org, &session);
	size_t len;
	const char *data = luaL_checklstring(L, 4, &len);
	sova_sealed_key k;
	need_key(L, &k);
	char err[ERRLEN];
	sova_recording_info info;
	sova_rec_status st = sova_recording_store(&org, &session, "audio/wav", &k, (const uint8_t *)data, len, &info,
						  err, sizeof err);
	sova_sealed_key_wipe(&k);
	if (st != SOVA_REC_OK)
		return push_failure(L, st, err);
	push_info(L, &info);
	return 1;
}

/* ---- recording.info(db, org, session) ---- */
static int l_info(lua_State *L)
{
	bson_oid_t org, session;
	check_target(L, &org, &session);
	char err[ERRLEN];
	sova_recording_info info;
	sova_rec_status st = sova_recording_find(&org, &session, &info, err, sizeof err);
	if (st == SOVA_REC_NOT_FOUND) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (st != SOVA_REC_OK)
		return push_failure(L, st, err);
	push_info(L, &info);
	return 1;
}

/* ---- recording.read(db, org, session, from, to) ---- */
static int l_read(lua_State *L)
{
	bson_oid_t org, session;
	check_target(L, &org, &session);
	lua_Number from = luaL_checknumber(L, 4), to = luaL_checknumber(L, 5);
	luaL_argcheck(L, from >= 0 && from == (lua_Number)(uint64_t)from, 4, "a byte offset (integer >= 0) expected");
	luaL_argcheck(L, to >= from && to == (lua_Number)(uint64_t)to, 5, "a byte offset >= from expected");
	luaL_argcheck(L, to - from < READ_MAX, 5, "at most 64 MiB per read");
	sova_sealed_key probe;
	need_key(L, &probe);
	sova_sealed_key_wipe(&probe);
	char err[ERRLEN];
	sova_recording_info info;
	sova_rec_status st = sova_recording_find(&org, &session, &info, err, sizeof err);
	if (st == SOVA_REC_NOT_FOUND)
		return push_misfit(L, "no recording", "not_found");
	if (st != SOVA_REC_OK)
		return push_failure(L, st, err);
	if ((uint64_t)to >= info.bytes)
		return push_misfit(L, "range outside the recording", "range");
	size_t n = (size_t)(to - from) + 1;
	/* a userdata, so nothing leaks if a later push raises; wiped once copied into the string */
	uint8_t *out = lua_newuserdata(L, n); /* [.., buf] */
	sova_sealed_key k;
	if (!current_key(&k))
		return luaL_error(L, "no recording key");
	st = sova_recording_read(&info, &k, (uint64_t)from, (uint64_t)to, out, err, sizeof err);
	sova_sealed_key_wipe(&k);
	if (st != SOVA_REC_OK)
		return push_failure(L, st, err);
	lua_pushlstring(L, (const char *)out, n); /* [.., buf, bytes] */
	sodium_memzero(out, n);
	return 1;
}

/* ---- recording.delete(db, org, session) ---- */
static int l_delete(lua_State *L)
{
	bson_oid_t org, session;
	check_target(L, &org, &session);
	char err[ERRLEN];
	sova_rec_status st = sova_recording_delete(&org, &session, err, sizeof err);
	if (st == SOVA_REC_NOT_FOUND) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (st != SOVA_REC_OK)
		return push_failure(L, st, err);
	lua_pushboolean(L, 1);
	return 1;
}

int sova_open_recording(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"set_key", l_set_key}, {"key_id", l_key_id}, {"store", l_store}, {"info", l_info},
		{"read", l_read},	{"delete", l_delete}, {NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

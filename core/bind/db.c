/* The `db` table of sova.core: database handles for Lua.
 *
 * Tenant isolation is structural (DESIGN principle 2): a handle from db.scoped(org) applies the
 * rules of core/db/scope.c to every filter, inserted document, update and aggregation. Request
 * handlers only ever get scoped handles; db.unscoped() is for login and trusted scripts.
 *
 * Misuse raises; a database failure returns nil, "message", code (11000: duplicate key). */
#include <string.h>

#include "db/mongo.h"
#include "db/scope.h"
#include "bind/sova_bind.h"

#define HANDLE_MT "sova.db.handle"
#define ERRLEN 256

static sova_scope *check_handle(lua_State *L)
{
	return luaL_checkudata(L, 1, HANDLE_MT);
}

/* Reports a driver error the Lua way: nil, message, code. */
static int push_db_error(lua_State *L, const bson_error_t *e)
{
	lua_pushnil(L);
	lua_pushfstring(L, "database: %s", e->message);
	lua_pushinteger(L, (lua_Integer)e->code);
	return 3;
}

/* Converts the Lua table at idx (or nil: empty) into out. Raises on misuse, after freeing out. */
static void to_bson_or_raise(lua_State *L, int idx, bson_t *out, const char *what)
{
	char err[ERRLEN];
	bson_init(out);
	if (lua_isnoneornil(L, idx))
		return;
	if (!sova_to_bson(L, idx, out, err, sizeof err)) {
		bson_destroy(out);
		luaL_error(L, "%s: %s", what, err);
	}
}

/* Binds filter to the handle's tenant (db/scope.h); raises, after freeing filter, on misuse.
 * lone_id_ok: the operation may send a lone _id lookup and check the tenant on each result. */
static bool scope_filter_or_raise(lua_State *L, const sova_scope *s, const char *coll, bson_t *filter, bool lone_id_ok)
{
	char err[ERRLEN];
	bool check_each = false;
	bool lone = lone_id_ok && s->scoped && sova_db_lone_id_lookups();
	if (!sova_scope_filter(s, coll, filter, lone, &check_each, err, sizeof err)) {
		bson_destroy(filter);
		luaL_error(L, "%s", err);
	}
	return check_each;
}

/* For updates and deletes by a lone _id: does the document exist and belong to the handle's
 * tenant? Returns false with e set on a database error. The tenant field cannot change through a
 * scoped handle, so the answer holds for the write that follows. */
static bool check_owned(mongoc_collection_t *c, const sova_scope *s, const bson_t *filter, bool *is_owned,
			bson_error_t *e)
{
	bson_t opts = BSON_INITIALIZER, proj;
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "organization_id", 1);
	bson_append_document_end(&opts, &proj);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, &opts, NULL);
	const bson_t *doc;
	*is_owned = mongoc_cursor_next(cur, &doc) && sova_scope_owns(s, doc);
	bool failed = mongoc_cursor_error(cur, e);
	mongoc_cursor_destroy(cur);
	bson_destroy(&opts);
	return !failed;
}

/* Pushes the cursor's documents as an array (kept to those only_owned owns, when given); false
 * with e set when the cursor failed (the partial array is popped). */
static bool push_docs(lua_State *L, mongoc_cursor_t *cur, const sova_scope *only_owned, bson_error_t *e)
{
	const bson_t *doc;
	lua_newtable(L);
	int i = 1;
	while (mongoc_cursor_next(cur, &doc)) {
		if (only_owned && !sova_scope_owns(only_owned, doc))
			continue;
		sova_push_bson(L, doc);
		lua_rawseti(L, -2, i++);
	}
	if (mongoc_cursor_error(cur, e)) {
		lua_pop(L, 1);
		return false;
	}
	luaL_getmetatable(L, SOVA_ARRAY_MT);
	lua_setmetatable(L, -2);
	return true;
}

/* Raises, after freeing filter and update, when a scoped update breaks the rules. */
static void check_update_or_raise(lua_State *L, const sova_scope *s, bson_t *filter, bson_t *update)
{
	char err[ERRLEN];
	if (!sova_scope_check_update(s, update, err, sizeof err)) {
		bson_destroy(filter);
		bson_destroy(update);
		luaL_error(L, "%s", err);
	}
}

static mongoc_collection_t *get_collection(mongoc_client_t *client, const char *name)
{
	return mongoc_client_get_collection(client, sova_db_name(), name);
}

/* Raises before anything is allocated, so no operation leaks on this misuse. */
static void require_open(lua_State *L)
{
	if (!sova_db_is_open())
		luaL_error(L, "database not opened: call db.open(uri) first");
}

static mongoc_client_t *pop_client(lua_State *L) { return sova_db_pop(); }

/* ---- handle:find(coll, filter, opts) -> {docs...} | nil, err, code ---- */
static int l_find(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	bson_t filter, opts;
	to_bson_or_raise(L, 3, &filter, "filter");
	bool check_tenant = scope_filter_or_raise(L, h, coll, &filter, true);
	if (!lua_isnoneornil(L, 4)) {
		char err[ERRLEN];
		bson_init(&opts);
		if (!sova_to_bson(L, 4, &opts, err, sizeof err)) {
			bson_destroy(&opts);
			bson_destroy(&filter);
			return luaL_error(L, "options: %s", err);
		}
	} else {
		bson_init(&opts);
	}
	if (check_tenant)
		sova_scope_keep_tenant_field(&opts);
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
	bson_error_t e;
	bool ok = push_docs(L, cur, check_tenant ? h : NULL, &e);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return ok ? 1 : push_db_error(L, &e);
}

/* ---- handle:find_one(coll, filter, opts) -> doc | false | nil, err, code ---- */
static int l_find_one(lua_State *L)
{
	lua_settop(L, 4);
	if (lua_isnil(L, 4)) {
		lua_newtable(L);
		lua_replace(L, 4);
	} else
		luaL_checktype(L, 4, LUA_TTABLE);
	lua_pushinteger(L, 1);
	lua_setfield(L, 4, "limit");
	int n = l_find(L);
	if (n != 1)
		return n;
	lua_rawgeti(L, -1, 1);
	if (lua_isnil(L, -1))
		lua_pushboolean(L, 0);
	return 1;
}

/* ---- handle:insert(coll, doc) -> _id | nil, err, code ---- */
static int l_insert(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	bson_t doc;
	bson_oid_t id;
	bson_init(&doc);
	lua_getfield(L, 3, "_id");
	bool has_id = !lua_isnil(L, -1);
	lua_pop(L, 1);
	if (!has_id) {
		bson_oid_init(&id, NULL);
		BSON_APPEND_OID(&doc, "_id", &id);
	}
	char err[ERRLEN];
	if (!sova_to_bson(L, 3, &doc, err, sizeof err)) {
		bson_destroy(&doc);
		return luaL_error(L, "document: %s", err);
	}
	if (!sova_scope_insert(h, coll, &doc, err, sizeof err)) {
		bson_destroy(&doc);
		return luaL_error(L, "%s", err);
	}
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	bson_error_t e;
	bool ok = mongoc_collection_insert_one(c, &doc, NULL, NULL, &e);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	if (!ok) {
		bson_destroy(&doc);
		return push_db_error(L, &e);
	}
	bson_iter_t it;
	if (bson_iter_init_find(&it, &doc, "_id") && BSON_ITER_HOLDS_OID(&it))
		sova_push_oid(L, bson_iter_oid(&it));
	else
		lua_getfield(L, 3, "_id");
	bson_destroy(&doc);
	return 1;
}

static lua_Number reply_number(const bson_t *reply, const char *key)
{
	bson_iter_t it;
	if (bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it))
		return (lua_Number)bson_iter_as_int64(&it);
	return 0;
}

/* ---- handle:update(coll, filter, update, {upsert=, multi=}) -> {matched, modified, upserted_id} ---- */
static int l_update(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	bool upsert = false, multi = false;
	if (lua_istable(L, 5)) {
		lua_getfield(L, 5, "upsert");
		upsert = lua_toboolean(L, -1);
		lua_getfield(L, 5, "multi");
		multi = lua_toboolean(L, -1);
		lua_pop(L, 2);
	}
	bson_t filter, update, opts, reply;
	to_bson_or_raise(L, 3, &filter, "filter");
	bool check_tenant = scope_filter_or_raise(L, h, coll, &filter, !upsert);
	char err[ERRLEN];
	bson_init(&update);
	if (!sova_to_bson(L, 4, &update, err, sizeof err)) {
		bson_destroy(&filter);
		bson_destroy(&update);
		return luaL_error(L, "update: %s", err);
	}
	check_update_or_raise(L, h, &filter, &update);
	bson_init(&opts);
	if (upsert)
		BSON_APPEND_BOOL(&opts, "upsert", true);
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	bson_error_t e;
	bool is_owned = true;
	bool ok = !check_tenant || check_owned(c, h, &filter, &is_owned, &e);
	if (ok && !is_owned) {
		/* another tenant's document, or none: nothing matched */
		bson_init(&reply);
	} else if (ok) {
		ok = multi ? mongoc_collection_update_many(c, &filter, &update, &opts, &reply, &e)
			   : mongoc_collection_update_one(c, &filter, &update, &opts, &reply, &e);
	} else {
		bson_init(&reply);
	}
	mongoc_collection_destroy(c);
	sova_db_push(client);
	bson_destroy(&filter);
	bson_destroy(&update);
	bson_destroy(&opts);
	if (!ok) {
		bson_destroy(&reply);
		return push_db_error(L, &e);
	}
	lua_createtable(L, 0, 3);
	lua_pushnumber(L, reply_number(&reply, "matchedCount"));
	lua_setfield(L, -2, "matched");
	lua_pushnumber(L, reply_number(&reply, "modifiedCount"));
	lua_setfield(L, -2, "modified");
	bson_iter_t it;
	if (bson_iter_init_find(&it, &reply, "upsertedId") && BSON_ITER_HOLDS_OID(&it)) {
		sova_push_oid(L, bson_iter_oid(&it));
		lua_setfield(L, -2, "upserted_id");
	}
	bson_destroy(&reply);
	return 1;
}

/* ---- handle:find_one_and_update(coll, filter, update, {upsert=}) -> new doc | false | nil, err ---- */
static int l_find_one_and_update(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	bool upsert = false;
	if (lua_istable(L, 5)) {
		lua_getfield(L, 5, "upsert");
		upsert = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	bson_t filter, update, reply;
	to_bson_or_raise(L, 3, &filter, "filter");
	scope_filter_or_raise(L, h, coll, &filter, false);
	char err[ERRLEN];
	bson_init(&update);
	if (!sova_to_bson(L, 4, &update, err, sizeof err)) {
		bson_destroy(&filter);
		bson_destroy(&update);
		return luaL_error(L, "update: %s", err);
	}
	check_update_or_raise(L, h, &filter, &update);
	mongoc_find_and_modify_opts_t *fm = mongoc_find_and_modify_opts_new();
	mongoc_find_and_modify_opts_set_update(fm, &update);
	mongoc_find_and_modify_opts_set_flags(fm, MONGOC_FIND_AND_MODIFY_RETURN_NEW |
							  (upsert ? MONGOC_FIND_AND_MODIFY_UPSERT : 0));
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	bson_error_t e;
	bool ok = mongoc_collection_find_and_modify_with_opts(c, &filter, fm, &reply, &e);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	mongoc_find_and_modify_opts_destroy(fm);
	bson_destroy(&filter);
	bson_destroy(&update);
	if (!ok) {
		bson_destroy(&reply);
		return push_db_error(L, &e);
	}
	bson_iter_t it;
	if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		uint32_t len;
		const uint8_t *data;
		bson_iter_document(&it, &len, &data);
		bson_t value;
		if (bson_init_static(&value, data, len))
			sova_push_bson(L, &value);
		else
			lua_pushboolean(L, 0);
	} else {
		lua_pushboolean(L, 0);
	}
	bson_destroy(&reply);
	return 1;
}

/* ---- handle:delete(coll, filter, {multi=}) -> deleted count ---- */
static int l_delete(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	bool multi = false;
	if (lua_istable(L, 4)) {
		lua_getfield(L, 4, "multi");
		multi = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	char err[ERRLEN];
	if (!sova_scope_check_delete(h, coll, err, sizeof err))
		return luaL_error(L, "%s", err);
	bson_t filter, reply;
	to_bson_or_raise(L, 3, &filter, "filter");
	bool check_tenant = scope_filter_or_raise(L, h, coll, &filter, true);
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	bson_error_t e;
	bool is_owned = true;
	bool ok = !check_tenant || check_owned(c, h, &filter, &is_owned, &e);
	if (ok && is_owned) {
		ok = multi ? mongoc_collection_delete_many(c, &filter, NULL, &reply, &e)
			   : mongoc_collection_delete_one(c, &filter, NULL, &reply, &e);
	} else {
		bson_init(&reply);
	}
	mongoc_collection_destroy(c);
	sova_db_push(client);
	bson_destroy(&filter);
	if (!ok) {
		bson_destroy(&reply);
		return push_db_error(L, &e);
	}
	lua_pushnumber(L, reply_number(&reply, "deletedCount"));
	bson_destroy(&reply);
	return 1;
}

/* ---- handle:count(coll, filter) -> n ---- */
static int l_count(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	bson_t filter;
	to_bson_or_raise(L, 3, &filter, "filter");
	scope_filter_or_raise(L, h, coll, &filter, false);
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	bson_error_t e;
	int64_t n = mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL, &e);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	bson_destroy(&filter);
	if (n < 0)
		return push_db_error(L, &e);
	lua_pushnumber(L, (lua_Number)n);
	return 1;
}

/* ---- handle:aggregate(coll, pipeline) -> {docs...}; scoped: a tenant $match goes first ---- */
static int l_aggregate(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	const char *coll = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	bson_t cmd, stages;
	char err[ERRLEN];
	bson_init(&cmd);
	BSON_APPEND_ARRAY_BEGIN(&cmd, "pipeline", &stages);
	uint32_t idx = sova_scope_pipeline_start(h, coll, &stages);
	size_t n = lua_objlen(L, 3);
	bool ok = true;
	for (size_t i = 1; ok && i <= n; i++) {
		char kbuf[16];
		const char *key;
		bson_uint32_to_string(idx++, &key, kbuf, sizeof kbuf);
		bson_t stage;
		BSON_APPEND_DOCUMENT_BEGIN(&stages, key, &stage);
		lua_rawgeti(L, 3, (int)i);
		ok = sova_to_bson(L, -1, &stage, err, sizeof err);
		lua_pop(L, 1);
		bson_append_document_end(&stages, &stage);
	}
	bson_append_array_end(&cmd, &stages);
	if (!ok) {
		bson_destroy(&cmd);
		return luaL_error(L, "pipeline: %s", err);
	}
	mongoc_client_t *client = pop_client(L);
	mongoc_collection_t *c = get_collection(client, coll);
	mongoc_cursor_t *cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, &cmd, NULL, NULL);
	bson_error_t e;
	ok = push_docs(L, cur, NULL, &e);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	bson_destroy(&cmd);
	return ok ? 1 : push_db_error(L, &e);
}

/* ---- handle:command(cmd) -> reply (unscoped handles only) ---- */
static int l_command(lua_State *L)
{
	sova_scope *h = check_handle(L);
	require_open(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	if (h->scoped)
		return luaL_error(L, "scoped handle: commands need an unscoped handle");
	bson_t cmd, reply;
	to_bson_or_raise(L, 2, &cmd, "command");
	mongoc_client_t *client = pop_client(L);
	bson_error_t e;
	bool ok = mongoc_client_command_simple(client, sova_db_name(), &cmd, NULL, &reply, &e);
	sova_db_push(client);
	bson_destroy(&cmd);
	if (!ok) {
		bson_destroy(&reply);
		return push_db_error(L, &e);
	}
	sova_push_bson(L, &reply);
	bson_destroy(&reply);
	return 1;
}

static int l_handle_org(lua_State *L)
{
	sova_scope *h = check_handle(L);
	if (!h->scoped)
		return 0;
	sova_push_oid(L, &h->org);
	return 1;
}

static int l_handle_tostring(lua_State *L)
{
	sova_scope *h = check_handle(L);
	if (h->scoped) {
		char hex[25];
		bson_oid_to_string(&h->org, hex);
		lua_pushfstring(L, "sova.db.handle(scoped %s)", hex);
	} else {
		lua_pushliteral(L, "sova.db.handle(unscoped)");
	}
	return 1;
}

/* ---- db.open(uri) -> true | nil, err ---- */
static int l_open(lua_State *L)
{
	const char *uri = luaL_checkstring(L, 1);
	char err[ERRLEN];
	if (!sova_db_open(uri, err, sizeof err)) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- db.ping() -> true | nil, err ---- */
static int l_ping(lua_State *L)
{
	require_open(L);
	mongoc_client_t *client = pop_client(L);
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t e;
	BSON_APPEND_INT32(&cmd, "ping", 1);
	bool ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &e);
	sova_db_push(client);
	bson_destroy(&cmd);
	bson_destroy(&reply);
	if (!ok)
		return push_db_error(L, &e);
	lua_pushboolean(L, 1);
	return 1;
}

static int push_handle(lua_State *L, bool scoped, const bson_oid_t *org)
{
	sova_scope *h = lua_newuserdata(L, sizeof *h);
	h->scoped = scoped;
	if (org)
		bson_oid_copy(org, &h->org);
	luaL_getmetatable(L, HANDLE_MT);
	lua_setmetatable(L, -2);
	return 1;
}

/* db.unscoped() -> handle with access to every tenant (login, trusted scripts) */
static int l_unscoped(lua_State *L) { return push_handle(L, false, NULL); }

/* db.scoped(org_oid) -> handle bound to one organization */
static int l_scoped(lua_State *L)
{
	bson_oid_t org;
	luaL_argcheck(L, sova_check_oid(L, 1, &org), 1, "organization ObjectId expected");
	return push_handle(L, true, &org);
}

static int l_name(lua_State *L)
{
	lua_pushstring(L, sova_db_name());
	return 1;
}

int sova_open_db(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"find", l_find},
		{"find_one", l_find_one},
		{"insert", l_insert},
		{"update", l_update},
		{"find_one_and_update", l_find_one_and_update},
		{"delete", l_delete},
		{"count", l_count},
		{"aggregate", l_aggregate},
		{"command", l_command},
		{"organization", l_handle_org},
		{NULL, NULL},
	};
	static const luaL_Reg fns[] = {
		{"open", l_open}, {"ping", l_ping}, {"unscoped", l_unscoped}, {"scoped", l_scoped}, {"name", l_name},
		{NULL, NULL},
	};
	luaL_newmetatable(L, HANDLE_MT);
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_handle_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

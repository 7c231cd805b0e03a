/* The `recorder` table of sova.core, in the specs' module only (SOVA_TEST_SEAMS; CMakeLists.txt):
 * drives the media plane's recorder (core/bot/media/recorder.h) from Lua the way the bot's media
 * thread does from C, so a spec can record, hand the spill to the writer and read the stored
 * recording back. The `sova` binary has no such table: there the media thread records.
 *
 *   recorder.new(spool_dir, sample_rate)    -> rec | nil, err
 *   rec:write(channel, at_sample, pcm)      -> true | nil, "failed"   (pcm: PCM16 LE bytes)
 *   rec:stats()                             -> {frames, late_samples, capped_samples, spilled_bytes,
 *                                               max_frames, memory_bytes, failed}
 *   rec:finish()  -> spill_id, {bytes, duration_seconds, sample_rate, path} | nil, err
 *                    (the spill is registered for the writer, as the bot's media glue does)
 *   recorder.registered(spill_id) -> boolean  (still waiting for the writer)
 *   recorder.forget(spill_id) -> boolean      what the end of the process does to a spill: the
 *                                             key goes (the file too: it is unreadable without it) */
#include <string.h>
#include <unistd.h>

#include "bot/media/recorder.h"
#include "crypto/spill.h"
#include "bind/sova_bind.h"

#define REC_MT "sova.recorder"
#define ERRLEN 256

typedef struct rec_ud {
	sova_recorder *r; /* owned; NULL once freed */
} rec_ud;

static rec_ud *check_rec(lua_State *L)
{
	rec_ud *u = luaL_checkudata(L, 1, REC_MT);
	if (!u->r)
		luaL_error(L, "recorder already finished");
	return u;
}

static int l_new(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	int rate = (int)luaL_checkinteger(L, 2);
	rec_ud *u = lua_newuserdata(L, sizeof *u); /* [dir, rate, ud] */
	u->r = NULL;
	luaL_getmetatable(L, REC_MT);
	lua_setmetatable(L, -2);
	char err[ERRLEN];
	u->r = sova_recorder_new(dir, rate, err, sizeof err);
	if (!u->r) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int l_write(lua_State *L)
{
	rec_ud *u = check_rec(L);
	lua_Integer ch = luaL_checkinteger(L, 2);
	lua_Number at = luaL_checknumber(L, 3);
	size_t len;
	const char *pcm = luaL_checklstring(L, 4, &len);
	luaL_argcheck(L, ch == 0 || ch == 1, 2, "channel 0 (agent) or 1 (other party)");
	luaL_argcheck(L, at >= 0 && at == (lua_Number)(uint64_t)at, 3, "a sample position (integer >= 0)");
	luaL_argcheck(L, len % 2 == 0, 4, "PCM16 bytes (an even length)");
	int16_t buf[1024]; /* aligned copy, a block at a time */
	size_t n = len / 2;
	for (size_t i = 0; i < n;) {
		size_t k = n - i < 1024 ? n - i : 1024;
		for (size_t j = 0; j < k; j++) {
			const uint8_t *p = (const uint8_t *)pcm + 2 * (i + j);
			buf[j] = (int16_t)(uint16_t)(p[0] | p[1] << 8);
		}
		if (sova_recorder_write(u->r, (int)ch, (uint64_t)at + i, buf, k) != 0) {
			lua_pushnil(L);
			lua_pushliteral(L, "failed");
			return 2;
		}
		i += k;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static void set_num(lua_State *L, const char *k, double v)
{
	lua_pushnumber(L, v);
	lua_setfield(L, -2, k);
}

static int l_stats(lua_State *L)
{
	rec_ud *u = check_rec(L);
	sova_recorder_stats st;
	sova_recorder_get_stats(u->r, &st);
	lua_createtable(L, 0, 7);
	set_num(L, "frames", (double)st.frames);
	set_num(L, "late_samples", (double)st.late_samples);
	set_num(L, "capped_samples", (double)st.capped_samples);
	set_num(L, "spilled_bytes", (double)st.spilled_bytes);
	set_num(L, "max_frames", (double)st.max_frames);
	set_num(L, "memory_bytes", (double)st.memory_bytes);
	lua_pushboolean(L, st.failed);
	lua_setfield(L, -2, "failed");
	return 1;
}

static int l_finish(lua_State *L)
{
	rec_ud *u = check_rec(L);
	lua_createtable(L, 0, 4); /* [rec, info]: made before anything can fail */
	char err[ERRLEN];
	sova_recording_spill s;
	bool ok = sova_recorder_finish(u->r, &s, err, sizeof err);
	sova_recorder_free(u->r);
	u->r = NULL;
	if (ok && !sova_spill_register(&s, err, sizeof err)) {
		unlink(s.path);
		ok = false;
	}
	if (!ok) {
		sova_recording_spill_wipe(&s);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	set_num(L, "bytes", (double)s.pcm_bytes);
	set_num(L, "duration_seconds", s.duration_seconds);
	set_num(L, "sample_rate", s.sample_rate);
	char id[sizeof s.id], path[sizeof s.path];
	memcpy(id, s.id, sizeof id);
	memcpy(path, s.path, sizeof path);
	sova_recording_spill_wipe(&s); /* the registry holds the key now */
	lua_pushstring(L, path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, id); /* [rec, info, id] */
	lua_insert(L, -2);     /* [rec, id, info] */
	return 2;
}

static int l_gc(lua_State *L)
{
	rec_ud *u = luaL_checkudata(L, 1, REC_MT);
	sova_recorder_free(u->r); /* deletes an unfinished spill, wipes the key */
	u->r = NULL;
	return 0;
}

static int l_registered(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	sova_recording_spill s;
	bool known = sova_spill_lookup(id, &s);
	sova_recording_spill_wipe(&s);
	lua_pushboolean(L, known);
	return 1;
}

static int l_forget(lua_State *L)
{
	lua_pushboolean(L, sova_spill_discard(luaL_checkstring(L, 1)));
	return 1;
}

int sova_open_recorder(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"write", l_write}, {"stats", l_stats}, {"finish", l_finish}, {NULL, NULL},
	};
	static const luaL_Reg fns[] = {
		{"new", l_new}, {"registered", l_registered}, {"forget", l_forget}, {NULL, NULL},
	};
	luaL_newmetatable(L, REC_MT);
	lua_pushcfunction(L, l_gc);
	lua_setfield(L, -2, "__gc");
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

/* The voice_* functions of sova.core.loop: the Lua face of the bot's voice calls
 * (core/bot/voice_loop.h). Lua thread only; core/bot/main.c adds them in `sova bot` alone.
 * Misuse raises; what fails at run time (the bot stopping, a voice already gone) returns nil, err. */
#include <stdlib.h>
#include <string.h>

#include "bind/sova_bind.h"
#include "bot/voice_loop.h"


static long long check_id(lua_State *L, int i)
{
	lua_Number n = luaL_checknumber(L, i);
	luaL_argcheck(L, n >= 1 && n == (lua_Number)(long long)n, i, "a voice id expected");
	return (long long)n;
}

static int result(lua_State *L, bool ok, const char *err)
{
	if (ok) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, err);
	return 2;
}

static char *opt_dup(lua_State *L, int t, const char *key, size_t max)
{
	lua_getfield(L, t, key);
	char *out = NULL;
	if (!lua_isnil(L, -1)) {
		size_t n;
		const char *s = luaL_checklstring(L, -1, &n);
		if (n == 0 || n > max || memchr(s, '\0', n))
			luaL_error(L, "%s: 1 to %d bytes of text", key, (int)max);
		out = strdup(s);
		if (!out)
			luaL_error(L, "out of memory");
	}
	lua_pop(L, 1);
	return out;
}

static int opt_int(lua_State *L, int t, const char *key, int dflt, int lo, int hi)
{
	lua_getfield(L, t, key);
	int v = lua_isnil(L, -1) ? dflt : (int)luaL_checkinteger(L, -1);
	lua_pop(L, 1);
	if (v < lo || v > hi)
		luaL_error(L, "%s must be %d..%d", key, lo, hi);
	return v;
}

static void engine_spec(lua_State *L, int t, const char *key, sova_voice_engine_spec *e)
{
	lua_getfield(L, t, key);
	luaL_argcheck(L, lua_istable(L, -1), 1, "stt and tts tables expected");
	int et = lua_gettop(L);
	e->engine = opt_dup(L, et, "engine", 32);
	if (!e->engine)
		luaL_error(L, "%s.engine is required", key);
	e->model = opt_dup(L, et, "model", 200);
	e->language = opt_dup(L, et, "language", 32);
	e->voice = opt_dup(L, et, "voice", 200);
	e->base_url = opt_dup(L, et, "base_url", 2000);
	e->api_key = opt_dup(L, et, "api_key", 512);
	lua_pop(L, 1);
}

/* Builds the spec as a userdata-free struct; on a raised error it is freed by the guard below. */
static int build_spec(lua_State *L)
{
	sova_voice_spec *s = lua_touserdata(L, 2);
	int t = 1;
	lua_getfield(L, t, "encoding");
	const char *enc = luaL_checkstring(L, -1);
	if (strcmp(enc, "pcm_s16le") == 0)
		s->encoding = SOVA_AUDIO_PCM16;
	else if (strcmp(enc, "mulaw") == 0)
		s->encoding = SOVA_AUDIO_MULAW;
	else
		return luaL_error(L, "encoding must be pcm_s16le or mulaw");
	lua_pop(L, 1);
	s->sample_rate = opt_int(L, t, "sample_rate", 16000, 8000, 48000);
	if (s->sample_rate != 8000 && s->sample_rate != 16000 && s->sample_rate != 48000)
		return luaL_error(L, "sample_rate must be 8000, 16000 or 48000");
	engine_spec(L, t, "stt", &s->stt);
	engine_spec(L, t, "tts", &s->tts);
	lua_getfield(L, t, "vad");
	s->vad = lua_isnil(L, -1) ? SOVA_VAD_ENERGY : sova_vad_kind_parse(luaL_checkstring(L, -1));
	if (!s->vad)
		return luaL_error(L, "vad must be energy, webrtc or speex");
	lua_pop(L, 1);
	s->min_silence_ms = opt_int(L, t, "min_silence_ms", 500, 100, 5000);
	s->max_silence_ms = opt_int(L, t, "max_silence_ms", 2000, 300, 10000);
	s->barge_in_min_ms = opt_int(L, t, "barge_in_min_ms", 400, 0, 3000);
	s->barge_in_min_words = opt_int(L, t, "barge_in_min_words", 2, 0, 10);
	lua_getfield(L, t, "barge_in");
	s->barge_in = lua_isnil(L, -1) || lua_toboolean(L, -1);
	lua_getfield(L, t, "record");
	s->record = lua_toboolean(L, -1);
	return 0;
}

/* loop.voice_new{encoding=, sample_rate=, stt={engine=, ...}, tts={engine=, ...}, vad=, min_silence_ms=,
 * max_silence_ms=, barge_in=, barge_in_min_ms=, barge_in_min_words=, record=} -> id | nil, err */
static int l_voice_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	sova_voice_spec *s = calloc(1, sizeof *s);
	if (!s)
		return luaL_error(L, "out of memory");
	lua_pushcfunction(L, build_spec);
	lua_pushvalue(L, 1);
	lua_pushlightuserdata(L, s);
	if (lua_pcall(L, 2, 0, 0) != 0) {
		sova_voice_spec_free(s);
		return lua_error(L); /* the message is build_spec's */
	}
	char err[256];
	long long id = sova_voices_new(s, err, sizeof err);
	if (!id) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushnumber(L, (lua_Number)id);
	return 1;
}

/* loop.voice_attach(id, ws_id, encoding, sample_rate) -> true | nil, err: the socket's binary
 * frames are this voice's audio, in that format. loop.voice_attach(id, ws_id, "twilio"): the
 * socket speaks Twilio Media Streams (JSON text frames, μ-law 8 kHz; no rate). */
static int l_voice_attach(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	long long ws = (long long)luaL_checknumber(L, 2);
	const char *enc = luaL_checkstring(L, 3);
	if (strcmp(enc, "twilio") == 0) {
		luaL_argcheck(L, lua_isnoneornil(L, 4), 4, "Media Streams are 8000 Hz: no rate");
		return result(L, sova_voices_attach_twilio(id, ws, err, sizeof err), err);
	}
	luaL_argcheck(L, strcmp(enc, "pcm_s16le") == 0 || strcmp(enc, "mulaw") == 0, 3, "pcm_s16le, mulaw or twilio");
	int rate = luaL_checkint(L, 4);
	sova_audio_encoding e = enc[0] == 'm' ? SOVA_AUDIO_MULAW : SOVA_AUDIO_PCM16;
	return result(L, sova_voices_attach(id, ws, e, rate, err, sizeof err), err);
}

/* loop.voice_listen(id, {search = "open"|"grammar"|"keywords", phrases = {...}, sequence = bool}) */
static int l_voice_listen(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	sova_stt_options opt;
	sova_check_stt_options(L, 2, &opt);
	return result(L, sova_voices_listen(id, &opt, err, sizeof err), err);
}

/* loop.voice_say(id, text, final) -> true | nil, err: a chunk of the agent's line, streamed */
static int l_voice_say(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	luaL_argcheck(L, len <= 16384, 2, "at most 16 KiB a chunk");
	return result(L, sova_voices_say(id, text, len, lua_toboolean(L, 3), err, sizeof err), err);
}

static int l_voice_cancel(lua_State *L)
{
	char err[128];
	return result(L, sova_voices_cancel(check_id(L, 1), err, sizeof err), err);
}

static int l_voice_answered(lua_State *L)
{
	char err[128];
	return result(L, sova_voices_answered(check_id(L, 1), err, sizeof err), err);
}

/* loop.voice_hold(id, on) -> true | nil, err: on hold, the local watcher listens instead of the
 * recognizer; true again during a probe (a hold message heard) sends it back to watching */
static int l_voice_hold(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	luaL_checktype(L, 2, LUA_TBOOLEAN);
	return result(L, sova_voices_hold(id, lua_toboolean(L, 2), err, sizeof err), err);
}

/* loop.voice_barge_in(id, on) -> true | nil, err: whether the other party may interrupt */
static int l_voice_barge_in(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	luaL_checktype(L, 2, LUA_TBOOLEAN);
	return result(L, sova_voices_barge_in(id, lua_toboolean(L, 2), err, sizeof err), err);
}

static int l_voice_close(lua_State *L)
{
	char err[128];
	return result(L, sova_voices_close(check_id(L, 1), err, sizeof err), err);
}

/* loop.voice_listener(id, ws_id, on) -> true | nil, err: socket ws_id listens to the voice's audio,
 * read-only (on), or no longer does */
static int l_voice_listener(lua_State *L)
{
	char err[128];
	long long id = check_id(L, 1);
	long long ws = (long long)luaL_checknumber(L, 2);
	luaL_checktype(L, 3, LUA_TBOOLEAN);
	return result(L, sova_voices_listener(id, ws, lua_toboolean(L, 3), err, sizeof err), err);
}

/* loop.voice_pacing() -> {n0, n1, ...}: frames the voices sent, [k + 1] = those k to k+1 ms late,
 * the last that or more */
static int l_voice_pacing(lua_State *L)
{
	uint64_t late[SOVA_VOICE_LATE_BUCKETS];
	sova_voices_pacing(late);
	lua_createtable(L, SOVA_VOICE_LATE_BUCKETS, 0);
	for (int k = 0; k < SOVA_VOICE_LATE_BUCKETS; k++) {
		lua_pushnumber(L, (lua_Number)late[k]);
		lua_rawseti(L, -2, k + 1);
	}
	return 1;
}

/* loop.voice_start(spool_dir) -> true | nil, err: once, after the loop started (recordings wait in
 * spool_dir, the writer's, until it stores them) */
static int l_voice_start(lua_State *L)
{
	char err[160];
	const char *dir = luaL_checkstring(L, 1);
	return result(L, sova_voices_init(dir, err, sizeof err), err);
}

/* Adds the voice_* functions to the table on top of the stack (sova.core.loop). */
void sova_open_voice(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"voice_new", l_voice_new},       {"voice_attach", l_voice_attach}, {"voice_listen", l_voice_listen},
		{"voice_say", l_voice_say},       {"voice_cancel", l_voice_cancel}, {"voice_answered", l_voice_answered},
		{"voice_hold", l_voice_hold},     {"voice_barge_in", l_voice_barge_in},
		{"voice_close", l_voice_close},   {"voice_start", l_voice_start},
		{"voice_pacing", l_voice_pacing}, {"voice_listener", l_voice_listener}, {NULL, NULL},
	};
	luaL_register(L, NULL, fns);
}

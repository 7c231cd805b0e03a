/* The `speech` table of sova.core: a voice call's media on a virtual clock
 * (core/bot/media/voice_sim.h), for `sova flow eval --audio` in the CLI. The bot's voices are
 * sova.core.loop's (core/bot/voice_lua.c), tied to its media thread; these run inline, in the
 * calling thread, as fast as the engines go.
 *
 *   speech.model([dir])  -> model | nil, err   pocketsphinx's model (stt_pocketsphinx.h), shared by voices
 *                                              (it lives as long as the last of them)
 *   speech.voice{model=, encoding="mulaw"|"pcm_s16le", sample_rate=, tts={engine=, voice=, language=},
 *                party_voice=, vad=, min_silence_ms=, max_silence_ms=, barge_in=, barge_in_min_ms=,
 *                barge_in_min_words=}  -> voice | nil, err
 *       (the recognizer is pocketsphinx with the full language model, as in the bot; the agent's
 *        synthesizer is the flow's offline one)
 *   voice:listen{search="open"|"grammar"|"keywords", phrases={...}, sequence=} -> true | nil, err
 *   voice:speak(text)      -> ms of audio streamed in | nil, err   (the other party says text)
 *   voice:silence(ms[, until_turn]) -> ms streamed
 *   voice:events()         -> {{type=, text=, at_ms=, confidence=, fatal=}, ...}, dropped (taken)
 *   voice:now_ms(), voice:party_voice(), voice:close()
 * Event types as the bot's: speech_started, speech_stopped, interim, final, end_of_turn,
 * agent_started, agent_done, interrupted, clear, error. Misuse raises; what fails at run time
 * returns nil, err. */
#include <stdlib.h>
#include <string.h>

#include "bind/sova_bind.h"
#include "bot/media/voice_sim.h"
#include "bot/speech/offline.h"
#include "bot/speech/stt_pocketsphinx.h"

#define MODEL_MT "sova.speech.model"
#define VOICE_MT "sova.speech.voice"
#define ERRLEN 256
#define MAX_PHRASES 2000
#define MAX_TEXT 16384

/* The model is shared by its userdata and every voice made from it: freed with the last of them,
 * whatever order the collector finalizes them in. */
typedef struct shared_model {
	sova_ps_model *m; /* owned */
	int refs;
} shared_model;

static void release(shared_model *sm)
{
	if (sm && --sm->refs == 0) {
		sova_ps_model_free(sm->m);
		free(sm);
	}
}

typedef struct model_ud {
	shared_model *sm; /* one reference; NULL when loading failed */
} model_ud;

typedef struct voice_ud {
	sova_voice_sim *sim; /* owned; NULL once closed */
	shared_model *sm;    /* one reference, dropped after the simulator is freed */
} voice_ud;

static voice_ud *check_voice(lua_State *L)
{
	voice_ud *u = luaL_checkudata(L, 1, VOICE_MT);
	if (!u->sim)
		luaL_error(L, "speech voice already closed");
	return u;
}

static int fail(lua_State *L, const char *err)
{
	lua_pushnil(L);
	lua_pushstring(L, err);
	return 2;
}

/* ---- the model ---- */

static int l_model(lua_State *L)
{
	const char *dir = luaL_optstring(L, 1, NULL);
	model_ud *u = lua_newuserdata(L, sizeof *u);
	u->sm = NULL;
	luaL_getmetatable(L, MODEL_MT);
	lua_setmetatable(L, -2);
	char err[ERRLEN];
	shared_model *sm = calloc(1, sizeof *sm);
	if (!sm)
		return fail(L, "out of memory");
	sm->m = sova_ps_model_load(dir, err, sizeof err);
	if (!sm->m) {
		free(sm);
		return fail(L, err);
	}
	sm->refs = 1;
	u->sm = sm;
	return 1;
}

static int l_model_gc(lua_State *L)
{
	model_ud *u = luaL_checkudata(L, 1, MODEL_MT);
	release(u->sm);
	u->sm = NULL;
	return 0;
}

/* ---- making a voice ---- */

static const char *opt_string(lua_State *L, int t, const char *key)
{
	lua_getfield(L, t, key);
	const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
	lua_pop(L, 1); /* the string stays alive in the table */
	return s;
}

static int opt_int(lua_State *L, int t, const char *key, int dflt, int lo, int hi)
{
	lua_getfield(L, t, key);
	lua_Integer v = lua_isnil(L, -1) ? dflt : luaL_checkinteger(L, -1);
	lua_pop(L, 1);
	if (v < lo || v > hi)
		luaL_error(L, "%s must be %d..%d", key, lo, hi);
	return (int)v;
}

static int l_voice(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "model"); /* [opts, model] */
	model_ud *mu = luaL_checkudata(L, -1, MODEL_MT);
	luaL_argcheck(L, mu->sm != NULL, 1, "model: not loaded");
	const char *enc = opt_string(L, 1, "encoding");
	luaL_argcheck(L, enc && (strcmp(enc, "mulaw") == 0 || strcmp(enc, "pcm_s16le") == 0), 1,
		      "encoding must be pcm_s16le or mulaw");
	sova_voice_sim_config c = {.wire_encoding = enc[0] == 'm' ? SOVA_AUDIO_MULAW : SOVA_AUDIO_PCM16};
	c.wire_rate = opt_int(L, 1, "sample_rate", 16000, 8000, 48000);
	luaL_argcheck(L, c.wire_rate == 8000 || c.wire_rate == 16000 || c.wire_rate == 48000, 1,
		      "sample_rate must be 8000, 16000 or 48000");
	luaL_argcheck(L, c.wire_encoding == SOVA_AUDIO_PCM16 || c.wire_rate == 8000, 1, "mulaw audio is 8000 Hz");
	lua_getfield(L, 1, "tts"); /* [opts, model, tts] */
	luaL_argcheck(L, lua_istable(L, -1), 1, "tts: a table {engine=, voice=, language=} expected");
	int tt = lua_gettop(L);
	const char *engine = opt_string(L, tt, "engine"), *tvoice = opt_string(L, tt, "voice"),
		   *language = opt_string(L, tt, "language");
	luaL_argcheck(L, sova_offline_tts_engine(engine), 1, "tts.engine must be an offline synthesizer (flite, espeak)");
	c.party_voice = opt_string(L, 1, "party_voice");
	const char *vad = opt_string(L, 1, "vad");
	c.vad = vad ? sova_vad_kind_parse(vad) : SOVA_VAD_ENERGY;
	luaL_argcheck(L, c.vad != 0, 1, "vad must be energy, webrtc or speex");
	c.turn_min_silence_ms = opt_int(L, 1, "min_silence_ms", 500, 100, 5000);
	c.turn_max_silence_ms = opt_int(L, 1, "max_silence_ms", 2000, 300, 10000);
	c.barge_in_min_ms = opt_int(L, 1, "barge_in_min_ms", 400, 0, 3000);
	c.barge_in_min_words = opt_int(L, 1, "barge_in_min_words", 2, 0, 10);
	lua_getfield(L, 1, "barge_in");
	c.barge_in_off = !lua_isnil(L, -1) && !lua_toboolean(L, -1);
	lua_pop(L, 1);

	voice_ud *u = lua_newuserdata(L, sizeof *u); /* [opts, model, tts, voice]: nothing raises after this */
	u->sim = NULL;
	u->sm = mu->sm;
	u->sm->refs++;
	luaL_getmetatable(L, VOICE_MT);
	lua_setmetatable(L, -2);

	char err[ERRLEN];
	sova_stt_config sc = sova_offline_stt_config();
	c.stt = sova_stt_pocketsphinx_new(u->sm->m, &sc, true, sova_voice_stt_callback, NULL, err, sizeof err);
	c.stt_rate = sc.sample_rate;
	c.tts = c.stt ? sova_offline_tts_new(engine, tvoice, language, c.wire_rate, sova_voice_tts_callback, NULL, err, sizeof err)
		      : NULL;
	if (!c.tts) {
		sova_stt_free(c.stt);
		return fail(L, err);
	}
	u->sim = sova_voice_sim_new(&c, err, sizeof err); /* takes stt and tts */
	return u->sim ? 1 : fail(L, err);
}

/* ---- a voice's methods ---- */

/* What a recognizer is to listen for, from the table at idx: {search = "open"|"grammar"|"keywords",
 * phrases = {...}, sequence = bool}. Misuse raises. Pushes the phrases table and the list opt
 * points into: they stay on the stack while opt is used. Shared by core.speech and loop.voice_listen. */
void sova_check_stt_options(lua_State *L, int idx, sova_stt_options *opt)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	*opt = (sova_stt_options){.interim_results = true};
	lua_getfield(L, idx, "search");
	const char *search = luaL_optstring(L, -1, "open");
	opt->search = strcmp(search, "open") == 0      ? SOVA_STT_SEARCH_OPEN
		      : strcmp(search, "grammar") == 0  ? SOVA_STT_SEARCH_GRAMMAR
		      : strcmp(search, "keywords") == 0 ? SOVA_STT_SEARCH_KEYWORDS
							: 0;
	luaL_argcheck(L, opt->search != 0, idx, "search must be open, grammar or keywords");
	lua_pop(L, 1);
	lua_getfield(L, idx, "sequence");
	opt->sequence = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, idx, "phrases");
	int pt = lua_gettop(L);
	luaL_argcheck(L, lua_isnil(L, pt) || lua_istable(L, pt), idx, "phrases: a list of strings");
	size_t n = lua_istable(L, pt) ? lua_objlen(L, pt) : 0;
	luaL_argcheck(L, n <= MAX_PHRASES, idx, "too many phrases");
	luaL_argcheck(L, opt->search == SOVA_STT_SEARCH_OPEN || n > 0, idx, "a grammar or keyword search needs phrases");
	const char **list = lua_newuserdata(L, (n ? n : 1) * sizeof *list); /* freed by the GC */
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, pt, (int)i + 1);
		luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, idx, "phrases: a list of strings");
		list[i] = lua_tostring(L, -1);
		lua_pop(L, 1); /* the string stays alive in the phrases table */
	}
	opt->phrases = n ? list : NULL;
	opt->num_phrases = n;
}

static int l_listen(lua_State *L)
{
	voice_ud *u = check_voice(L);
	sova_stt_options opt;
	sova_check_stt_options(L, 2, &opt);
	char err[ERRLEN];
	if (!sova_voice_sim_listen(u->sim, &opt, err, sizeof err))
		return fail(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_speak(lua_State *L)
{
	voice_ud *u = check_voice(L);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	luaL_argcheck(L, len > 0 && len <= MAX_TEXT && !memchr(text, '\0', len), 2, "1 to 16384 bytes of text");
	char err[ERRLEN];
	uint64_t ms;
	if (!sova_voice_sim_speak(u->sim, text, &ms, err, sizeof err))
		return fail(L, err);
	lua_pushnumber(L, (lua_Number)ms);
	return 1;
}

static int l_silence(lua_State *L)
{
	voice_ud *u = check_voice(L);
	lua_Number ms = luaL_checknumber(L, 2);
	luaL_argcheck(L, ms >= 0 && ms <= 3600 * 1000, 2, "0 to 3,600,000 ms");
	lua_pushnumber(L, (lua_Number)sova_voice_sim_silence(u->sim, (uint64_t)ms, lua_toboolean(L, 3)));
	return 1;
}

static const char *const EVENT_TYPES[] = {
	[SOVA_VOICE_SPEECH_STARTED] = "speech_started", [SOVA_VOICE_SPEECH_STOPPED] = "speech_stopped",
	[SOVA_VOICE_INTERIM] = "interim",               [SOVA_VOICE_FINAL] = "final",
	[SOVA_VOICE_END_OF_TURN] = "end_of_turn",       [SOVA_VOICE_AGENT_STARTED] = "agent_started",
	[SOVA_VOICE_AGENT_DONE] = "agent_done",         [SOVA_VOICE_INTERRUPTED] = "interrupted",
	[SOVA_VOICE_CLEAR] = "clear",                   [SOVA_VOICE_ERROR] = "error",
};

static int l_events(lua_State *L)
{
	voice_ud *u = check_voice(L);
	const sova_voice_sim_event *ev;
	size_t dropped, n = sova_voice_sim_events(u->sim, &ev, &dropped);
	lua_createtable(L, (int)n, 0); /* [voice, list] */
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 5);
		lua_pushstring(L, ev[i].kind < sizeof EVENT_TYPES / sizeof *EVENT_TYPES && EVENT_TYPES[ev[i].kind]
					  ? EVENT_TYPES[ev[i].kind] : "unknown");
		lua_setfield(L, -2, "type");
		lua_pushstring(L, ev[i].text);
		lua_setfield(L, -2, "text");
		lua_pushnumber(L, (lua_Number)ev[i].at_ms);
		lua_setfield(L, -2, "at_ms");
		lua_pushnumber(L, ev[i].confidence);
		lua_setfield(L, -2, "confidence");
		lua_pushboolean(L, ev[i].fatal);
		lua_setfield(L, -2, "fatal");
		lua_rawseti(L, -2, (int)i + 1);
	}
	sova_voice_sim_clear(u->sim);
	lua_pushnumber(L, (lua_Number)dropped);
	return 2;
}

static int l_now_ms(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)sova_voice_sim_now_ms(check_voice(L)->sim));
	return 1;
}

static int l_party_voice(lua_State *L)
{
	lua_pushstring(L, sova_voice_sim_party_voice(check_voice(L)->sim));
	return 1;
}

static int l_close(lua_State *L)
{
	voice_ud *u = luaL_checkudata(L, 1, VOICE_MT);
	sova_voice_sim_free(u->sim); /* its recognizer first, then the model it reads */
	u->sim = NULL;
	release(u->sm);
	u->sm = NULL;
	return 0;
}

int sova_open_speech(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"listen", l_listen}, {"speak", l_speak}, {"silence", l_silence}, {"events", l_events},
		{"now_ms", l_now_ms}, {"party_voice", l_party_voice}, {"close", l_close}, {NULL, NULL},
	};
	static const luaL_Reg fns[] = {{"model", l_model}, {"voice", l_voice}, {NULL, NULL}};
	luaL_newmetatable(L, MODEL_MT);
	lua_pushcfunction(L, l_model_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	luaL_newmetatable(L, VOICE_MT);
	lua_pushcfunction(L, l_close);
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

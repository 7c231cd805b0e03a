/* Cartesia's WebSocket (tts_cartesia.h) on the shared cloud synthesizer (tts_cloud.h). */
#include "bot/speech/tts_cartesia.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/speech/tts_cloud.h"

#define DEFAULT_BASE "wss://api.cartesia.ai"
#define DEFAULT_VERSION "2026-03-01"
#define DEFAULT_MODEL "sonic-3.5"

typedef struct cartesia_tts {
	cloud_tts cloud; /* first: the sova_tts and cloud_tts views are the same pointer */
	char *model, *voice, *language; /* owned */
} cartesia_tts;

static bool c_say(cloud_tts *t, const char *text, size_t len, bool final, bool new_turn, char *err, size_t errlen)
{
	cartesia_tts *c = (cartesia_tts *)t;
	(void)new_turn;
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, "{\"model_id\":");
	sova_sbuf_json_string(&b, c->model, strlen(c->model));
	sova_sbuf_adds(&b, ",\"transcript\":");
	sova_sbuf_json_string(&b, text, len);
	sova_sbuf_adds(&b, ",\"voice\":{\"mode\":\"id\",\"id\":");
	sova_sbuf_json_string(&b, c->voice, strlen(c->voice));
	sova_sbuf_printf(&b, "},\"output_format\":{\"container\":\"raw\",\"encoding\":\"%s\",\"sample_rate\":%d},\"context_id\":",
			 t->base.config.encoding == SOVA_AUDIO_MULAW ? "pcm_mulaw" : "pcm_s16le", t->base.sample_rate);
	sova_sbuf_json_string(&b, t->context_id, strlen(t->context_id));
	sova_sbuf_printf(&b, ",\"continue\":%s,\"flush\":%s,\"add_timestamps\":true,\"language\":", final ? "false" : "true",
			 final ? "false" : "true");
	sova_sbuf_json_string(&b, c->language, strlen(c->language));
	sova_sbuf_adds(&b, "}");
	bool ok = cloud_tts_send(t, &b, err, errlen);
	sova_sbuf_free(&b);
	return ok;
}

static void c_cancel(cloud_tts *t)
{
	sova_sbuf b = {0};
	char err[80];
	sova_sbuf_adds(&b, "{\"context_id\":");
	sova_sbuf_json_string(&b, t->context_id, strlen(t->context_id));
	sova_sbuf_adds(&b, ",\"cancel\":true}");
	cloud_tts_send(t, &b, err, sizeof err); /* a socket already gone has nothing left to stop */
	sova_sbuf_free(&b);
}

/* The chunk a message belongs to: flush_id counts the turn's flushes from 1, one per say() chunk. */
static uint32_t chunk_of(const cloud_tts *t, const bson_t *doc)
{
	double flush_id = 0;
	if (sova_json_number(doc, "flush_id", &flush_id, NULL) && flush_id >= 1)
		return (uint32_t)flush_id - 1;
	return cloud_tts_last_chunk(t);
}

static void on_timestamps(cloud_tts *t, const bson_t *doc)
{
	bson_iter_t words, starts, ends;
	if (!sova_json_find(doc, "word_timestamps.words", &words) || !sova_json_find(doc, "word_timestamps.start", &starts) ||
	    !sova_json_find(doc, "word_timestamps.end", &ends) || !BSON_ITER_HOLDS_ARRAY(&words) || !BSON_ITER_HOLDS_ARRAY(&starts) ||
	    !BSON_ITER_HOLDS_ARRAY(&ends)) {
		cloud_tts_malformed(t, "timestamps without words, start and end lists");
		return;
	}
	bson_iter_t w, s, e;
	if (!bson_iter_recurse(&words, &w) || !bson_iter_recurse(&starts, &s) || !bson_iter_recurse(&ends, &e))
		return;
	uint32_t chunk = chunk_of(t, doc);
	while (bson_iter_next(&w)) {
		double st, en;
		if (!bson_iter_next(&s) || !bson_iter_next(&e) || !BSON_ITER_HOLDS_UTF8(&w) || !sova_json_iter_number(&s, &st) ||
		    !sova_json_iter_number(&e, &en)) {
			cloud_tts_malformed(t, "timestamps whose lists do not match");
			return;
		}
		sova_tts_event ev = {.kind = SOVA_TTS_MARK, .text = bson_iter_utf8(&w, NULL), .start_s = st, .end_s = en, .chunk = chunk};
		if (!cloud_tts_emit(t, &ev))
			return;
	}
}

static void c_message(cloud_tts *t, const bson_t *doc)
{
	const char *type = NULL, *ctx = NULL, *data = NULL;
	uint32_t tl = 0, cl = 0, dl = 0;
	bool present = false;
	if (!sova_json_string(doc, "type", &type, &tl, NULL)) {
		cloud_tts_malformed(t, "no type");
		return;
	}
	if (!sova_json_string(doc, "context_id", &ctx, &cl, &present)) {
		if (present || strcmp(type, "error") != 0) {
			cloud_tts_malformed(t, "no context_id");
			return;
		}
		ctx = NULL; /* an error about the socket itself: it concerns the live turn */
	}
	if (ctx && (!t->turn_live || strcmp(ctx, t->context_id) != 0))
		return; /* a cancelled or finished turn's late message */
	if (!strcmp(type, "chunk")) {
		if (!sova_json_string(doc, "data", &data, &dl, NULL)) {
			cloud_tts_malformed(t, "a chunk without data");
			return;
		}
		cloud_tts_audio(t, data, dl, chunk_of(t, doc));
	} else if (!strcmp(type, "timestamps")) {
		on_timestamps(t, doc);
	} else if (!strcmp(type, "flush_done")) {
		sova_tts_event ev = {.kind = SOVA_TTS_CHUNK_DONE, .chunk = chunk_of(t, doc)};
		cloud_tts_emit(t, &ev);
	} else if (!strcmp(type, "done")) {
		cloud_tts_done(t, cloud_tts_last_chunk(t));
	} else if (!strcmp(type, "error")) {
		const char *code = NULL, *msg = NULL, *title = NULL;
		uint32_t l = 0;
		double status = 0;
		sova_json_string(doc, "error_code", &code, &l, NULL);
		sova_json_string(doc, "message", &msg, &l, NULL);
		sova_json_string(doc, "title", &title, &l, NULL);
		sova_json_number(doc, "status_code", &status, NULL);
		char scode[16];
		snprintf(scode, sizeof scode, "%d", (int)status);
		cloud_tts_turn_error(t, "%s: %s", code ? code : status > 0 ? scode : "error", msg ? msg : title ? title : "Cartesia error");
	}
	/* other types (phoneme_timestamps, new ones) are not needed */
}

static const cloud_tts_ops CARTESIA_OPS = {.provider = "cartesia", .say = c_say, .cancel = c_cancel, .message = c_message};

static void cartesia_destroy(sova_tts *s)
{
	cartesia_tts *c = (cartesia_tts *)s;
	free(c->model);
	free(c->voice);
	free(c->language);
	c->model = c->voice = c->language = NULL;
	cloud_tts_destroy(s);
}

static const sova_tts_vtable CARTESIA_VTABLE = {
	.name = "cartesia", .say = cloud_tts_say, .cancel = cloud_tts_cancel, .close = cloud_tts_close, .destroy = cartesia_destroy};

sova_tts *sova_tts_cartesia_new(struct lws_context *ctx, const sova_cartesia_config *cc, const sova_tts_config *config,
				sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	if (!ctx || !cc || !config || !cb) {
		snprintf(err, errlen, "cartesia: missing %s", !ctx ? "lws context" : !cc ? "cartesia config" : !config ? "config" : "callback");
		return NULL;
	}
	if (!cc->api_key || !*cc->api_key || !config->voice || !*config->voice) {
		snprintf(err, errlen, "cartesia: %s", !cc->api_key || !*cc->api_key ? "no API key" : "no voice id");
		return NULL;
	}
	int rate = config->sample_rate ? config->sample_rate : 16000;
	if (rate < 8000 || rate > 48000 || (config->encoding && config->encoding != SOVA_AUDIO_PCM16 && config->encoding != SOVA_AUDIO_MULAW)) {
		snprintf(err, errlen, "cartesia: %d Hz %s is not an output format Cartesia has", rate,
			 config->encoding == SOVA_AUDIO_MULAW ? "μ-law" : "PCM16");
		return NULL;
	}
	if (config->frame_ms < 0 || config->frame_ms > 1000) {
		snprintf(err, errlen, "cartesia: frame_ms %d is outside 0..1000", config->frame_ms);
		return NULL;
	}
	const char *base = cc->base_url && *cc->base_url ? cc->base_url : DEFAULT_BASE;
	cartesia_tts *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "cartesia: out of memory");
		return NULL;
	}
	sova_tts_init_base(&c->cloud.base, &CARTESIA_VTABLE, config, cb, user);
	c->model = strdup(config->model ? config->model : DEFAULT_MODEL);
	c->voice = strdup(config->voice);
	c->language = strdup(config->language ? config->language : "en");
	sova_sbuf url = {0};
	sova_sbuf_adds(&url, base);
	while (url.len && url.data[url.len - 1] == '/')
		url.data[--url.len] = '\0';
	sova_sbuf_adds(&url, "/tts/websocket");
	cloud_tts_setup setup = {.url = url.data, .headers = {{"X-API-Key", cc->api_key}, {"Cartesia-Version", cc->version ? cc->version : DEFAULT_VERSION}},
				 .num_headers = 2, .ca_file = cc->ca_file, .connect_timeout_ms = cc->connect_timeout_ms,
				 .first_audio_timeout_ms = cc->first_audio_timeout_ms, .max_malformed = cc->max_malformed,
				 .sample_rate = rate};
	bool ok = c->model && c->voice && c->language && !url.failed;
	if (!ok)
		snprintf(err, errlen, "cartesia: out of memory");
	ok = ok && cloud_tts_setup_run(&c->cloud, ctx, &CARTESIA_OPS, &setup, err, errlen);
	sova_sbuf_free(&url);
	if (!ok) {
		cartesia_destroy(&c->cloud.base);
		return NULL;
	}
	c->cloud.base.config.voice = c->voice;
	c->cloud.base.config.model = c->model;
	c->cloud.base.config.language = c->language;
	return &c->cloud.base;
}

size_t sova_tts_cartesia_malformed(const sova_tts *s) { return s ? ((const cloud_tts *)s)->malformed : 0; }

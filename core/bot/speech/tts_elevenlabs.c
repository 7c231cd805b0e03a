/* ElevenLabs multi-stream-input (tts_elevenlabs.h) on the shared cloud synthesizer (tts_cloud.h). */
#include "bot/speech/tts_elevenlabs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/speech/tts_cloud.h"

#define DEFAULT_BASE "wss://api.elevenlabs.io"
#define DEFAULT_MODEL "eleven_flash_v2_5"

typedef struct eleven_tts {
	cloud_tts cloud; /* first: the sova_tts and cloud_tts views are the same pointer */
	sova_sbuf word;  /* a word being joined from alignment characters (may span messages) */
	double word_start, word_end;
} eleven_tts;

static bool send_obj(cloud_tts *t, const char *before_id, const char *after_id, char *err, size_t errlen)
{
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, before_id);
	sova_sbuf_json_string(&b, t->context_id, strlen(t->context_id));
	sova_sbuf_adds(&b, after_id);
	bool ok = cloud_tts_send(t, &b, err, errlen);
	sova_sbuf_free(&b);
	return ok;
}

static bool e_say(cloud_tts *t, const char *text, size_t len, bool final, bool new_turn, char *err, size_t errlen)
{
	eleven_tts *e = (eleven_tts *)t;
	if (new_turn) {
		sova_sbuf_reset(&e->word);
		if (!send_obj(t, "{\"text\":\" \",\"context_id\":", "}", err, errlen))
			return false;
	}
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len) {
		sova_sbuf b = {0};
		sova_sbuf_adds(&b, "{\"text\":");
		/* ElevenLabs wants each text to end with one space */
		bool spaced = text[len - 1] == ' ';
		if (spaced) {
			sova_sbuf_json_string(&b, text, len);
		} else {
			sova_sbuf tmp = {0};
			sova_sbuf_add(&tmp, text, len);
			sova_sbuf_add(&tmp, " ", 1);
			sova_sbuf_json_string(&b, tmp.data ? tmp.data : "", tmp.len);
			b.failed |= tmp.failed;
			sova_sbuf_free(&tmp);
		}
		sova_sbuf_adds(&b, ",\"context_id\":");
		sova_sbuf_json_string(&b, t->context_id, strlen(t->context_id));
		sova_sbuf_adds(&b, ",\"flush\":true}");
		bool ok = cloud_tts_send(t, &b, err, errlen);
		sova_sbuf_free(&b);
		if (!ok)
			return false;
	}
	if (final)
		return send_obj(t, "{\"context_id\":", ",\"close_context\":true}", err, errlen);
	return true;
}

static void e_cancel(cloud_tts *t)
{
	char err[80];
	send_obj(t, "{\"context_id\":", ",\"close_context\":true}", err, sizeof err); /* nothing to stop if the socket went */
}

static bool flush_word(cloud_tts *t)
{
	eleven_tts *e = (eleven_tts *)t;
	if (!e->word.len)
		return true;
	sova_tts_event ev = {.kind = SOVA_TTS_MARK, .text = e->word.data, .start_s = e->word_start, .end_s = e->word_end,
			     .chunk = cloud_tts_last_chunk(t)};
	bool ok = cloud_tts_emit(t, &ev);
	sova_sbuf_reset(&e->word);
	return ok;
}

/* Characters with times relative to this message's audio, which begins at base_s of the turn. */
static void on_alignment(cloud_tts *t, const bson_t *doc, double base_s)
{
	eleven_tts *e = (eleven_tts *)t;
	bson_iter_t al, chars, starts, durs;
	const char *which = "alignment";
	if (!sova_json_find(doc, which, &al) || !BSON_ITER_HOLDS_DOCUMENT(&al)) {
		which = "normalizedAlignment";
		if (!sova_json_find(doc, which, &al) || !BSON_ITER_HOLDS_DOCUMENT(&al))
			return; /* null or absent: a message without new characters */
	}
	char p1[40], p2[40], p3[40];
	snprintf(p1, sizeof p1, "%s.chars", which);
	snprintf(p2, sizeof p2, "%s.charStartTimesMs", which);
	snprintf(p3, sizeof p3, "%s.charDurationsMs", which);
	bson_iter_t c, s, d;
	if (!sova_json_find(doc, p1, &chars) || !sova_json_find(doc, p2, &starts) || !sova_json_find(doc, p3, &durs) ||
	    !BSON_ITER_HOLDS_ARRAY(&chars) || !BSON_ITER_HOLDS_ARRAY(&starts) || !BSON_ITER_HOLDS_ARRAY(&durs) ||
	    !bson_iter_recurse(&chars, &c) || !bson_iter_recurse(&starts, &s) || !bson_iter_recurse(&durs, &d)) {
		cloud_tts_malformed(t, "alignment without chars, charStartTimesMs and charDurationsMs");
		return;
	}
	while (bson_iter_next(&c)) {
		double st, du;
		uint32_t l = 0;
		if (!bson_iter_next(&s) || !bson_iter_next(&d) || !BSON_ITER_HOLDS_UTF8(&c) || !sova_json_iter_number(&s, &st) ||
		    !sova_json_iter_number(&d, &du)) {
			cloud_tts_malformed(t, "alignment lists that do not match");
			return;
		}
		const char *ch = bson_iter_utf8(&c, &l);
		if (l == 0 || ch[0] == ' ' || ch[0] == '\n' || ch[0] == '\t') {
			if (!flush_word(t))
				return;
			continue;
		}
		if (!e->word.len)
			e->word_start = base_s + st / 1000.0;
		e->word_end = base_s + (st + du) / 1000.0;
		sova_sbuf_add(&e->word, ch, l);
	}
}

static void e_message(cloud_tts *t, const bson_t *doc)
{
	const char *ctx = NULL, *audio = NULL, *msg = NULL, *error = NULL;
	uint32_t l = 0, al = 0;
	bool present = false, is_final = false;
	bson_iter_t it;
	if (!sova_json_string(doc, "contextId", &ctx, &l, &present) && present) {
		cloud_tts_malformed(t, "a contextId that is not a string");
		return;
	}
	if (!present && (sova_json_string(doc, "error", &error, &l, NULL) | sova_json_string(doc, "message", &msg, &l, NULL))) {
		double code = 0;
		sova_json_number(doc, "code", &code, NULL);
		cloud_tts_turn_error(t, "%s: %s", error ? error : "error", msg ? msg : "ElevenLabs error");
		return;
	}
	if (ctx && (!t->turn_live || strcmp(ctx, t->context_id) != 0))
		return; /* a cancelled or finished turn's late message */
	if (!ctx && !t->turn_live)
		return;
	bool has_audio = sova_json_find(doc, "audio", &it) && !BSON_ITER_HOLDS_NULL(&it);
	if (has_audio && !BSON_ITER_HOLDS_UTF8(&it)) {
		cloud_tts_malformed(t, "audio that is not a string");
		return;
	}
	bool final_present = sova_json_find(doc, "isFinal", &it) && !BSON_ITER_HOLDS_NULL(&it);
	if (final_present && !BSON_ITER_HOLDS_BOOL(&it)) {
		cloud_tts_malformed(t, "isFinal that is not a boolean");
		return;
	}
	is_final = final_present && bson_iter_bool(&it);
	if (!has_audio && !final_present) {
		cloud_tts_malformed(t, "neither audio nor isFinal");
		return;
	}
	if (has_audio) {
		sova_json_find(doc, "audio", &it);
		audio = bson_iter_utf8(&it, &al);
		double base_s = sova_framer_seconds(&t->framer);
		on_alignment(t, doc, base_s);
		if (!t->turn_live || !cloud_tts_audio(t, audio, al, cloud_tts_last_chunk(t)))
			return;
	}
	if (is_final) {
		if (!flush_word(t))
			return;
		cloud_tts_done(t, cloud_tts_last_chunk(t));
	}
}

static const cloud_tts_ops ELEVEN_OPS = {.provider = "elevenlabs", .say = e_say, .cancel = e_cancel, .message = e_message};

static void eleven_destroy(sova_tts *s)
{
	eleven_tts *e = (eleven_tts *)s;
	sova_sbuf_free(&e->word);
	cloud_tts_destroy(s);
}

static const sova_tts_vtable ELEVEN_VTABLE = {
	.name = "elevenlabs", .say = cloud_tts_say, .cancel = cloud_tts_cancel, .close = cloud_tts_close, .destroy = eleven_destroy};

sova_tts *sova_tts_elevenlabs_new(struct lws_context *ctx, const sova_elevenlabs_config *ec, const sova_tts_config *config,
				  sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	if (!ctx || !ec || !config || !cb) {
		snprintf(err, errlen, "elevenlabs: missing %s", !ctx ? "lws context" : !ec ? "elevenlabs config" : !config ? "config" : "callback");
		return NULL;
	}
	if (!ec->api_key || !*ec->api_key || !config->voice || !*config->voice) {
		snprintf(err, errlen, "elevenlabs: %s", !ec->api_key || !*ec->api_key ? "no API key" : "no voice id");
		return NULL;
	}
	int rate = config->sample_rate ? config->sample_rate : 16000;
	char format[16];
	if (config->encoding == SOVA_AUDIO_MULAW) {
		if (rate != 8000) {
			snprintf(err, errlen, "elevenlabs: μ-law only at 8000 Hz (ulaw_8000), not %d", rate);
			return NULL;
		}
		snprintf(format, sizeof format, "ulaw_8000");
	} else if (rate == 8000 || rate == 16000 || rate == 22050 || rate == 24000 || rate == 44100 || rate == 48000) {
		snprintf(format, sizeof format, "pcm_%d", rate);
	} else {
		snprintf(err, errlen, "elevenlabs: no PCM output format at %d Hz", rate);
		return NULL;
	}
	if (config->frame_ms < 0 || config->frame_ms > 1000) {
		snprintf(err, errlen, "elevenlabs: frame_ms %d is outside 0..1000", config->frame_ms);
		return NULL;
	}
	eleven_tts *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, errlen, "elevenlabs: out of memory");
		return NULL;
	}
	sova_tts_init_base(&e->cloud.base, &ELEVEN_VTABLE, config, cb, user);
	const char *base = ec->base_url && *ec->base_url ? ec->base_url : DEFAULT_BASE;
	sova_sbuf url = {0};
	sova_sbuf_adds(&url, base);
	while (url.len && url.data[url.len - 1] == '/')
		url.data[--url.len] = '\0';
	sova_sbuf_adds(&url, "/v1/text-to-speech/");
	sova_sbuf_url_encode(&url, config->voice);
	sova_sbuf_adds(&url, "/multi-stream-input?model_id=");
	sova_sbuf_url_encode(&url, config->model ? config->model : DEFAULT_MODEL);
	sova_sbuf_printf(&url, "&output_format=%s", format);
	if (config->language) {
		sova_sbuf_adds(&url, "&language_code=");
		sova_sbuf_url_encode(&url, config->language);
	}
	cloud_tts_setup setup = {.url = url.data, .headers = {{"xi-api-key", ec->api_key}}, .num_headers = 1, .ca_file = ec->ca_file,
				 .connect_timeout_ms = ec->connect_timeout_ms, .first_audio_timeout_ms = ec->first_audio_timeout_ms,
				 .max_malformed = ec->max_malformed, .sample_rate = rate};
	bool ok = !url.failed;
	if (!ok)
		snprintf(err, errlen, "elevenlabs: out of memory");
	ok = ok && cloud_tts_setup_run(&e->cloud, ctx, &ELEVEN_OPS, &setup, err, errlen);
	sova_sbuf_free(&url);
	if (!ok) {
		eleven_destroy(&e->cloud.base);
		return NULL;
	}
	/* the config's strings are the caller's: not kept (the URL has what is needed) */
	e->cloud.base.config.voice = e->cloud.base.config.model = e->cloud.base.config.language = NULL;
	return &e->cloud.base;
}

size_t sova_tts_elevenlabs_malformed(const sova_tts *s) { return s ? ((const cloud_tts *)s)->malformed : 0; }

/* The Cartesia and ElevenLabs stand-ins (standin.h): real speech from flite (cmu_us_kal for
 * 8 kHz, cmu_us_slt for 16 kHz, slt resampled for 48 kHz), μ-law or PCM16 as asked, base64 in
 * the providers' JSON with word timestamps (Cartesia) or character alignment (ElevenLabs). Clips
 * are cached by (text, rate, encoding) so hundreds of streams saying the same lines cost little. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"
#include "bot/speech/provider_util.h"
#include "bot/speech/tts_flite.h"
#include "standin.h"

#define CACHE_SLOTS 256
#define MAX_CLIP_WORDS 256
#define MAX_CONTEXTS 16

/* ---- Synthesis ---- */

typedef struct clip {
	char *key;       /* "<rate>|<m or p>|<text>" (owned) */
	uint8_t *audio;  /* owned */
	size_t bytes;
	int rate;
	bool mulaw;
	int num_words;
	char *words[MAX_CLIP_WORDS]; /* owned */
	double start[MAX_CLIP_WORDS], end[MAX_CLIP_WORDS];
} clip;

static clip *cache[CACHE_SLOTS];
static int cache_next;
static sova_tts *flite_slt, *flite_kal;

typedef struct collect {
	int16_t *pcm;
	size_t n, cap;
	clip *c;
	bool failed;
} collect;

static void on_flite(void *user, const sova_tts_event *ev)
{
	collect *k = user;
	if (ev->kind == SOVA_TTS_AUDIO) {
		if (k->n + ev->num_samples > k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 16000;
			while (cap < k->n + ev->num_samples)
				cap *= 2;
			int16_t *p = realloc(k->pcm, cap * sizeof *p);
			if (!p) {
				k->failed = true;
				return;
			}
			k->pcm = p;
			k->cap = cap;
		}
		memcpy(k->pcm + k->n, ev->data, ev->num_samples * sizeof(int16_t));
		k->n += ev->num_samples;
	} else if (ev->kind == SOVA_TTS_MARK && k->c->num_words < MAX_CLIP_WORDS) {
		int i = k->c->num_words++;
		k->c->words[i] = strdup(ev->text);
		k->c->start[i] = ev->start_s;
		k->c->end[i] = ev->end_s;
		if (!k->c->words[i])
			k->failed = true;
	} else if (ev->kind == SOVA_TTS_ERROR) {
		k->failed = true;
	}
}

static void clip_free(clip *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->num_words; i++)
		free(c->words[i]);
	free(c->key);
	free(c->audio);
	free(c);
}

bool tts_init(char *err, size_t errlen)
{
	sova_tts_config slt = {.voice = "cmu_us_slt", .frame_ms = 20}, kal = {.voice = "cmu_us_kal", .frame_ms = 20};
	flite_slt = sova_tts_flite_new(&slt, on_flite, NULL, err, errlen);
	flite_kal = flite_slt ? sova_tts_flite_new(&kal, on_flite, NULL, err, errlen) : NULL;
	return flite_kal != NULL;
}

/* The clip for text at rate/encoding (cached; the cache owns it). NULL with err. */
static const clip *synth(const char *text, int rate, bool mulaw, char *err, size_t errlen)
{
	if (rate != 8000 && rate != 16000 && rate != 48000) {
		snprintf(err, errlen, "sample_rate %d is not supported here (8000, 16000, 48000)", rate);
		return NULL;
	}
	sova_sbuf key = {0};
	sova_sbuf_printf(&key, "%d|%c|%s", rate, mulaw ? 'm' : 'p', text);
	if (key.failed) {
		sova_sbuf_free(&key);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i] && !strcmp(cache[i]->key, key.data)) {
			sova_sbuf_free(&key);
			return cache[i];
		}
	clip *c = calloc(1, sizeof *c);
	collect k = {.c = c};
	sova_tts *engine = rate == 8000 ? flite_kal : flite_slt;
	int voice_rate = rate == 8000 ? 8000 : 16000;
	if (!c) {
		sova_sbuf_free(&key);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->key = key.data; /* the clip owns the buffer now */
	c->rate = rate;
	c->mulaw = mulaw;
	engine->user = &k;
	char serr[128];
	bool ok = sova_tts_say(engine, text, strlen(text), true, serr, sizeof serr) && !k.failed && k.n > 0;
	engine->user = NULL;
	int16_t *pcm = k.pcm;
	size_t n = k.n;
	if (ok && voice_rate != rate) {
		sova_resampler *r = sova_resampler_new(voice_rate, rate, serr, sizeof serr);
		size_t cap = r ? sova_resampler_out_max(r, n) + sova_resampler_latency(r) + 16 : 0;
		int16_t *out = r ? malloc(cap * sizeof *out) : NULL;
		size_t got = 0, tail = 0;
		ok = out && sova_resampler_process(r, pcm, n, out, cap, &got) == 0 &&
		     sova_resampler_flush(r, out + got, cap - got, &tail) == 0;
		sova_resampler_free(r);
		free(pcm);
		pcm = out;
		n = got + tail;
	}
	if (ok) {
		c->bytes = mulaw ? n : 2 * n;
		c->audio = malloc(c->bytes ? c->bytes : 1);
		ok = c->audio != NULL;
		if (ok && mulaw)
			sova_mulaw_encode_frame(pcm, n, c->audio);
		else if (ok)
			sova_pcm16le_write(pcm, n, c->audio);
	}
	free(pcm);
	if (!ok) {
		clip_free(c);
		snprintf(err, errlen, "synthesis failed");
		return NULL;
	}
	clip_free(cache[cache_next]);
	cache[cache_next] = c;
	cache_next = (cache_next + 1) % CACHE_SLOTS;
	return c;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

/* ---- Per-connection contexts (both providers) ---- */

typedef struct tts_context {
	char id[64];
	double audio_s;      /* audio of this context sent so far */
	int64_t start_us;    /* realtime pacing: when its first chunk went */
	int flush_id;        /* Cartesia: the flush group in progress, from 1 */
	sova_sbuf pending;   /* ElevenLabs: text not yet synthesized */
	bool closed, used;
} tts_context;

typedef struct tts_state {
	int rate;
	bool mulaw;
	int chunk_ms;
	bool realtime;
	tts_context ctx[MAX_CONTEXTS];
} tts_state;

static tts_context *context(tts_state *s, const char *id)
{
	for (int i = 0; i < MAX_CONTEXTS; i++)
		if (s->ctx[i].used && !strcmp(s->ctx[i].id, id))
			return &s->ctx[i];
	int victim = 0;
	for (int i = 0; i < MAX_CONTEXTS; i++)
		if (!s->ctx[i].used) {
			victim = i;
			goto fresh;
		}
	for (int i = 0; i < MAX_CONTEXTS; i++) /* all in use: reuse a closed one */
		if (s->ctx[i].closed) {
			victim = i;
			break;
		}
fresh:
	sova_sbuf_free(&s->ctx[victim].pending);
	memset(&s->ctx[victim], 0, sizeof s->ctx[victim]);
	s->ctx[victim].used = true;
	s->ctx[victim].flush_id = 1;
	snprintf(s->ctx[victim].id, sizeof s->ctx[victim].id, "%s", id);
	return &s->ctx[victim];
}

static tts_state *tts_open(standin_conn *c)
{
	tts_state *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->chunk_ms = standin_param_int(&c->params, "chunk_ms", 100);
	if (s->chunk_ms < 10)
		s->chunk_ms = 10;
	s->realtime = standin_param_int(&c->params, "realtime", 0) != 0;
	c->state = s;
	return s;
}

static void tts_free_state(standin_conn *c)
{
	tts_state *s = c->state;
	if (!s)
		return;
	for (int i = 0; i < MAX_CONTEXTS; i++)
		sova_sbuf_free(&s->ctx[i].pending);
	free(s);
	c->state = NULL;
}

/* The due time of audio at offset_s of a context's audio. */
static int64_t due_of(tts_state *s, tts_context *x, double offset_s)
{
	if (!s->realtime)
		return 0;
	if (!x->start_us)
		x->start_us = standin_now_us();
	return x->start_us + (int64_t)(offset_s * 1e6);
}

/* ---- Cartesia ---- */

static void cartesia_error(standin_conn *c, const char *context_id, int status, const char *title, const char *message,
			   const char *code)
{
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, "{\"type\":\"error\",\"context_id\":");
	sova_sbuf_json_string(&b, context_id ? context_id : "", context_id ? strlen(context_id) : 0);
	sova_sbuf_printf(&b, ",\"status_code\":%d,\"done\":true,\"title\":", status);
	sova_sbuf_json_string(&b, title, strlen(title));
	sova_sbuf_adds(&b, ",\"message\":");
	sova_sbuf_json_string(&b, message, strlen(message));
	sova_sbuf_adds(&b, ",\"error_code\":");
	sova_sbuf_json_string(&b, code, strlen(code));
	sova_sbuf_adds(&b, "}");
	if (!b.failed)
		standin_send_text(c, b.data);
	sova_sbuf_free(&b);
}

bool cartesia_open(standin_conn *c) { return tts_open(c) != NULL; }

static void cartesia_speak(standin_conn *c, tts_state *s, tts_context *x, const clip *k, bool timestamps)
{
	if (timestamps && k->num_words) {
		sova_sbuf b = {0};
		sova_sbuf_adds(&b, "{\"type\":\"timestamps\",\"context_id\":");
		sova_sbuf_json_string(&b, x->id, strlen(x->id));
		sova_sbuf_adds(&b, ",\"status_code\":206,\"done\":false,\"flush_id\":");
		sova_sbuf_printf(&b, "%d,\"word_timestamps\":{\"words\":[", x->flush_id);
		for (int i = 0; i < k->num_words; i++) {
			if (i)
				sova_sbuf_add(&b, ",", 1);
			sova_sbuf_json_string(&b, k->words[i], strlen(k->words[i]));
		}
		sova_sbuf_adds(&b, "],\"start\":[");
		for (int i = 0; i < k->num_words; i++)
			sova_sbuf_printf(&b, "%s%.4f", i ? "," : "", x->audio_s + k->start[i]);
		sova_sbuf_adds(&b, "],\"end\":[");
		for (int i = 0; i < k->num_words; i++)
			sova_sbuf_printf(&b, "%s%.4f", i ? "," : "", x->audio_s + k->end[i]);
		sova_sbuf_adds(&b, "]}}");
		if (!b.failed)
			standin_send(c, b.data, b.len, false, due_of(s, x, x->audio_s), x->id);
		sova_sbuf_free(&b);
	}
	size_t bps = k->mulaw ? 1 : 2, chunk = (size_t)k->rate * (size_t)s->chunk_ms / 1000 * bps;
	for (size_t off = 0; off < k->bytes; off += chunk) {
		size_t n = k->bytes - off < chunk ? k->bytes - off : chunk;
		sova_sbuf b = {0};
		sova_sbuf_adds(&b, "{\"type\":\"chunk\",\"context_id\":");
		sova_sbuf_json_string(&b, x->id, strlen(x->id));
		sova_sbuf_printf(&b, ",\"status_code\":206,\"done\":false,\"step_time\":1.5,\"flush_id\":%d,\"data\":\"", x->flush_id);
		sova_sbuf_base64(&b, k->audio + off, n);
		sova_sbuf_adds(&b, "\"}");
		if (!b.failed)
			standin_send(c, b.data, b.len, false, due_of(s, x, x->audio_s + (double)(off / bps) / k->rate), x->id);
		sova_sbuf_free(&b);
	}
	x->audio_s += (double)(k->bytes / bps) / k->rate;
}

void cartesia_message(standin_conn *c, const uint8_t *data, size_t len, bool binary)
{
	tts_state *s = c->state;
	bson_t doc;
	if (!s || binary || !sova_json_parse(&doc, data, len)) {
		if (s && !binary)
			bson_destroy(&doc);
		cartesia_error(c, NULL, 400, "Invalid request", "the message is not a JSON object", "invalid_request");
		return;
	}
	const char *id = NULL, *transcript = NULL, *s_model = NULL, *s_voice = NULL, *s_mode = NULL, *container = NULL,
		   *encoding = NULL;
	uint32_t l = 0;
	bool cancel = false, cont = false, flush = false, timestamps = false;
	double rate = 0;
	if (!sova_json_string(&doc, "context_id", &id, &l, NULL)) {
		cartesia_error(c, NULL, 400, "Invalid request", "context_id is required", "invalid_request");
		goto out;
	}
	if (sova_json_bool(&doc, "cancel", &cancel, NULL) && cancel) {
		standin_drop_tag(c, id);
		context(s, id)->closed = true;
		goto out;
	}
	if (c->faults_on && c->error_fault) {
		c->error_fault = 0;
		cartesia_error(c, id, 500, "Internal error", "the model is overloaded, try again", "model_overloaded");
		goto out;
	}
	if (!sova_json_string(&doc, "transcript", &transcript, &l, NULL) || !sova_json_string(&doc, "model_id", &s_model, &l, NULL) ||
	    !sova_json_string(&doc, "voice.mode", &s_mode, &l, NULL) || strcmp(s_mode, "id") ||
	    !sova_json_string(&doc, "voice.id", &s_voice, &l, NULL) ||
	    !sova_json_string(&doc, "output_format.container", &container, &l, NULL) || strcmp(container, "raw") ||
	    !sova_json_string(&doc, "output_format.encoding", &encoding, &l, NULL) ||
	    !sova_json_number(&doc, "output_format.sample_rate", &rate, NULL)) {
		cartesia_error(c, id, 400, "Invalid request",
			       "transcript, model_id, voice {mode: id, id}, output_format {container: raw, encoding, sample_rate} are required",
			       "invalid_request");
		goto out;
	}
	bool mulaw = !strcmp(encoding, "pcm_mulaw");
	if (!mulaw && strcmp(encoding, "pcm_s16le")) {
		cartesia_error(c, id, 400, "Invalid request", "encoding must be pcm_s16le or pcm_mulaw here", "invalid_request");
		goto out;
	}
	sova_json_bool(&doc, "continue", &cont, NULL);
	sova_json_bool(&doc, "flush", &flush, NULL);
	sova_json_bool(&doc, "add_timestamps", &timestamps, NULL);
	tts_context *x = context(s, id);
	if (x->closed)
		goto out; /* cancelled or done: Cartesia ignores further input on it */
	if (!blank(transcript)) {
		char err[160];
		const clip *k = synth(transcript, (int)rate, mulaw, err, sizeof err);
		if (!k) {
			cartesia_error(c, id, 400, "Invalid request", err, "invalid_request");
			x->closed = true;
			goto out;
		}
		cartesia_speak(c, s, x, k, timestamps);
	}
	if (flush) {
		char msg[200];
		snprintf(msg, sizeof msg, "{\"type\":\"flush_done\",\"context_id\":\"%s\",\"status_code\":206,\"done\":false,"
					  "\"flush_done\":true,\"flush_id\":%d}", x->id, x->flush_id);
		standin_send(c, msg, strlen(msg), false, due_of(s, x, x->audio_s), x->id);
		x->flush_id++;
	}
	if (!cont) {
		char msg[160];
		snprintf(msg, sizeof msg, "{\"type\":\"done\",\"context_id\":\"%s\",\"status_code\":206,\"done\":true}", x->id);
		standin_send(c, msg, strlen(msg), false, due_of(s, x, x->audio_s), x->id);
		x->closed = true;
	}
out:
	bson_destroy(&doc);
}

void cartesia_close(standin_conn *c) { tts_free_state(c); }

/* ---- ElevenLabs ---- */

bool eleven_open(standin_conn *c)
{
	tts_state *s = tts_open(c);
	if (!s)
		return false;
	const char *fmt = standin_param(&c->params, "output_format");
	if (!fmt)
		fmt = "mp3_44100_128"; /* ElevenLabs' default, which a raw-audio client cannot use */
	if (!strcmp(fmt, "ulaw_8000")) {
		s->rate = 8000;
		s->mulaw = true;
	} else if (!strncmp(fmt, "pcm_", 4)) {
		s->rate = atoi(fmt + 4);
	}
	if (s->rate != 8000 && s->rate != 16000 && s->rate != 48000) {
		char msg[200];
		snprintf(msg, sizeof msg, "{\"message\":\"output_format %.40s is not supported here\",\"error\":\"invalid_output_format\","
					  "\"code\":1008}", fmt);
		standin_send_text(c, msg);
		standin_close_after(c, 1008, "invalid output_format");
	}
	return true;
}

/* Audio messages for a clip, alignment per message with times relative to it (as ElevenLabs'). */
static void eleven_speak(standin_conn *c, tts_state *s, tts_context *x, const clip *k)
{
	size_t bps = k->mulaw ? 1 : 2, chunk = (size_t)k->rate * (size_t)s->chunk_ms / 1000 * bps;
	int w = 0;
	for (size_t off = 0; off < k->bytes; off += chunk) {
		size_t n = k->bytes - off < chunk ? k->bytes - off : chunk;
		double t0 = (double)(off / bps) / k->rate, t1 = (double)((off + n) / bps) / k->rate;
		bool last = off + n >= k->bytes;
		sova_sbuf b = {0}, chars = {0}, starts = {0}, durs = {0};
		int nc = 0;
		/* words starting in this chunk: their characters, spread over the word, then a space */
		for (; w < k->num_words && (k->start[w] < t1 || last); w++) {
			const char *word = k->words[w];
			size_t wl = strlen(word);
			double ws = k->start[w], we = k->end[w] > ws ? k->end[w] : ws + 0.01, per = (we - ws) / (double)(wl ? wl : 1);
			for (size_t i = 0; i <= wl; i++) {
				char ch[2] = {i < wl ? word[i] : ' ', 0};
				double cs = i < wl ? ws + per * (double)i : we, cd = i < wl ? per : 0.0;
				if (nc++) {
					sova_sbuf_add(&chars, ",", 1);
					sova_sbuf_add(&starts, ",", 1);
					sova_sbuf_add(&durs, ",", 1);
				}
				sova_sbuf_json_string(&chars, ch, 1);
				sova_sbuf_printf(&starts, "%d", (int)((cs - t0) * 1000 + 0.5));
				sova_sbuf_printf(&durs, "%d", (int)(cd * 1000 + 0.5));
			}
		}
		sova_sbuf_adds(&b, "{\"audio\":\"");
		sova_sbuf_base64(&b, k->audio + off, n);
		sova_sbuf_adds(&b, "\",\"isFinal\":false");
		if (nc) {
			for (int rep = 0; rep < 2; rep++) {
				sova_sbuf_adds(&b, rep ? ",\"normalizedAlignment\":{\"chars\":[" : ",\"alignment\":{\"chars\":[");
				sova_sbuf_add(&b, chars.data, chars.len);
				sova_sbuf_adds(&b, "],\"charStartTimesMs\":[");
				sova_sbuf_add(&b, starts.data, starts.len);
				sova_sbuf_adds(&b, "],\"charDurationsMs\":[");
				sova_sbuf_add(&b, durs.data, durs.len);
				sova_sbuf_adds(&b, "]}");
			}
		} else {
			sova_sbuf_adds(&b, ",\"alignment\":null,\"normalizedAlignment\":null");
		}
		sova_sbuf_adds(&b, ",\"contextId\":");
		sova_sbuf_json_string(&b, x->id, strlen(x->id));
		sova_sbuf_adds(&b, "}");
		if (!b.failed)
			standin_send(c, b.data, b.len, false, due_of(s, x, x->audio_s + t0), x->id);
		sova_sbuf_free(&b);
		sova_sbuf_free(&chars);
		sova_sbuf_free(&starts);
		sova_sbuf_free(&durs);
	}
	x->audio_s += (double)(k->bytes / bps) / k->rate;
}

static void eleven_synthesize(standin_conn *c, tts_state *s, tts_context *x)
{
	if (!x->pending.data || blank(x->pending.data)) {
		sova_sbuf_reset(&x->pending);
		return;
	}
	char err[160];
	const clip *k = synth(x->pending.data, s->rate, s->mulaw, err, sizeof err);
	sova_sbuf_reset(&x->pending);
	if (!k) {
		char msg[256];
		snprintf(msg, sizeof msg, "{\"message\":\"%.160s\",\"error\":\"synthesis_failed\",\"code\":1011}", err);
		standin_send_text(c, msg);
		return;
	}
	eleven_speak(c, s, x, k);
}

void eleven_message(standin_conn *c, const uint8_t *data, size_t len, bool binary)
{
	tts_state *s = c->state;
	bson_t doc;
	if (!s || !s->rate || binary || !sova_json_parse(&doc, data, len)) {
		if (s && s->rate && !binary)
			bson_destroy(&doc);
		standin_send_text(c, "{\"message\":\"the message is not a JSON object\",\"error\":\"invalid_message\",\"code\":1008}");
		standin_close_after(c, 1008, "invalid message");
		return;
	}
	bool flag = false;
	const char *id = "", *text = NULL;
	uint32_t l = 0;
	if (sova_json_bool(&doc, "close_socket", &flag, NULL) && flag) {
		standin_close_after(c, 1000, "");
		goto out;
	}
	sova_json_string(&doc, "context_id", &id, &l, NULL);
	tts_context *x = context(s, id);
	if (sova_json_bool(&doc, "close_context", &flag, NULL) && flag) {
		if (!x->closed) {
			eleven_synthesize(c, s, x);
			char msg[160];
			snprintf(msg, sizeof msg, "{\"isFinal\":true,\"contextId\":\"%.64s\"}", x->id);
			standin_send(c, msg, strlen(msg), false, due_of(s, x, x->audio_s), x->id);
			x->closed = true;
		}
		goto out;
	}
	if (x->closed)
		goto out;
	if (c->faults_on && c->error_fault) {
		c->error_fault = 0;
		standin_send_text(c, "{\"message\":\"This request exceeds your quota.\",\"error\":\"quota_exceeded\",\"code\":1008}");
		standin_close_after(c, 1008, "quota_exceeded");
		goto out;
	}
	if (sova_json_string(&doc, "text", &text, &l, NULL))
		sova_sbuf_add(&x->pending, text, l);
	flag = false;
	sova_json_bool(&doc, "flush", &flag, NULL);
	if (flag)
		eleven_synthesize(c, s, x);
out:
	bson_destroy(&doc);
}

void eleven_close(standin_conn *c) { tts_free_state(c); }

/* Deepgram live streaming (stt_deepgram.h). */
#include "bot/speech/stt_deepgram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "bot/speech/provider_util.h"
#include "bot/speech/ws_client.h"

#define DEFAULT_BASE "wss://api.deepgram.com"
#define MAX_WORDS_PER_RESULT 2000
/* Deepgram takes 100 keyterms a request, 500 tokens of them (past it a stream stops transcribing).
 * The first 50 are the most particular (sova.call.expect orders them so): a shorter list boosts
 * more, and the stand-in's HTTP parser (lws) takes about 85 query arguments in all. */
#define MAX_KEYTERMS 50
#define MAX_KEYTERM_WORDS 400
#define MAX_KEYTERM_BYTES 2560 /* the request line stays within lws's 4 KiB handshake buffer */
#define SEND_CHUNK_SAMPLES 4096

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "linear16 is sent as the host's int16 bytes: little-endian hosts only"
#endif

typedef struct deepgram_stt deepgram_stt;

/* One WebSocket stream. Its times count from its first sample, `offset` samples into the
 * recognizer's audio. */
typedef struct dg_stream {
	deepgram_stt *owner;
	sova_ws_client *ws; /* owned */
	uint64_t offset;    /* absolute sample index of this stream's time 0 */
	bool open, draining, reconnect; /* reconnect: made to replace a dropped stream */
} dg_stream;

struct deepgram_stt {
	sova_stt base;
	struct lws_context *ctx;
	sova_deepgram_config dg; /* the strings point at the copies below */
	char *api_key, *base_url, *ca_file, *model, *language; /* owned; the key is wiped at free */
	char *auth_header;  /* "Token <key>" (owned, wiped at free) */
	char *keyterms;     /* "&keyterm=..." of the current options (owned) */
	bool interim_wanted;
	dg_stream *cur, *draining; /* owned */
	/* audio not yet covered by a final, kept for a reconnect */
	int16_t *replay;    /* owned */
	size_t replay_len, replay_cap, replay_max;
	uint64_t replay_start; /* absolute index of replay[0] */
	uint64_t fed;       /* samples fed so far */
	uint64_t sent_upto; /* absolute index: audio before it went to cur */
	int reconnects_left;
	bool failed, finalize_on_open, utterance_open;
	double last_word_end, last_speech_started;
	size_t malformed, reconnects;
	int64_t last_audio_us;
	lws_sorted_usec_list_t keepalive_timer, result_timer;
	bool keepalive_on;
	int depth;          /* inside the owner's callback */
	bool destroy_pending;
};

static void open_stream(deepgram_stt *s, bool reconnect);

static int64_t now_us(void) { return lws_now_usecs(); }

static void wipe(char *p)
{
	if (!p)
		return;
	volatile char *v = p;
	while (*v)
		*v++ = '\0';
}

/* ---- Delivering events (the owner may close or free the recognizer from its callback) ---- */

static bool gone(const deepgram_stt *s) { return s->base.closed || s->failed; }

static void deliver(deepgram_stt *s, sova_stt_event *ev)
{
	if (s->base.closed)
		return;
	s->depth++;
	s->base.callback(s->base.user, ev);
	s->depth--;
}

static void really_destroy(deepgram_stt *s)
{
	wipe(s->api_key);
	wipe(s->auth_header);
	free(s->api_key);
	free(s->auth_header);
	free(s->base_url);
	free(s->ca_file);
	free(s->model);
	free(s->language);
	free(s->keyterms);
	free(s->replay);
	free(s);
}

/* After a ws callback: a free asked for inside the owner's callback happens now. */
static void settle(deepgram_stt *s)
{
	if (s->destroy_pending && s->depth == 0)
		really_destroy(s);
}

static void free_stream(dg_stream *st)
{
	if (!st)
		return;
	sova_ws_client_free(st->ws);
	free(st);
}

static void fail(deepgram_stt *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(deepgram_stt *s, const char *fmt, ...)
{
	if (gone(s))
		return;
	char text[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	s->failed = true;
	lws_sul_cancel(&s->keepalive_timer);
	lws_sul_cancel(&s->result_timer);
	free_stream(s->cur);
	s->cur = NULL;
	sova_stt_event ev = {.kind = SOVA_STT_ERROR, .text = text, .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
	deliver(s, &ev);
}

/* ---- Audio ---- */

static bool replay_append(deepgram_stt *s, const int16_t *pcm, size_t n)
{
	if (s->replay_len + n > s->replay_cap) {
		size_t cap = s->replay_cap ? s->replay_cap : 16384;
		while (cap < s->replay_len + n)
			cap *= 2;
		int16_t *p = realloc(s->replay, cap * sizeof *p);
		if (!p)
			return false;
		s->replay = p;
		s->replay_cap = cap;
	}
	memcpy(s->replay + s->replay_len, pcm, n * sizeof *pcm);
	s->replay_len += n;
	if (s->replay_len > s->replay_max) { /* a very long stretch without a final: the oldest goes */
		size_t drop = s->replay_len - s->replay_max;
		memmove(s->replay, s->replay + drop, (s->replay_len - drop) * sizeof *s->replay);
		s->replay_len -= drop;
		s->replay_start += drop;
		if (s->sent_upto < s->replay_start)
			s->sent_upto = s->replay_start;
	}
	return true;
}

/* Audio before `upto` (absolute) is covered by a final: it need not be re-sent. */
static void replay_trim(deepgram_stt *s, uint64_t upto)
{
	if (upto > s->sent_upto)
		upto = s->sent_upto;
	if (upto <= s->replay_start)
		return;
	size_t drop = (size_t)(upto - s->replay_start);
	if (drop > s->replay_len)
		drop = s->replay_len;
	memmove(s->replay, s->replay + drop, (s->replay_len - drop) * sizeof *s->replay);
	s->replay_len -= drop;
	s->replay_start += drop;
}

/* Sends what cur has not had yet. */
static void pump(deepgram_stt *s)
{
	dg_stream *st = s->cur;
	if (!st || !st->open)
		return;
	while (s->sent_upto < s->fed) {
		size_t from = (size_t)(s->sent_upto - s->replay_start);
		size_t n = (size_t)(s->fed - s->sent_upto);
		if (n > SEND_CHUNK_SAMPLES)
			n = SEND_CHUNK_SAMPLES;
		sova_wsc_send_result r = sova_ws_client_send(st->ws, s->replay + from, n * sizeof(int16_t), true);
		if (r == SOVA_WSC_FULL) {
			fail(s, "overload: more than the send queue's bound of audio waits for Deepgram");
			return;
		}
		if (r != SOVA_WSC_QUEUED)
			return;
		s->sent_upto += n;
		s->last_audio_us = now_us();
	}
}

static void send_control(dg_stream *st, const char *type)
{
	char msg[48];
	int n = snprintf(msg, sizeof msg, "{\"type\":\"%s\"}", type);
	if (st && st->ws)
		sova_ws_client_send(st->ws, msg, (size_t)n, false);
}

static void on_keepalive(lws_sorted_usec_list_t *sul)
{
	deepgram_stt *s = lws_container_of(sul, deepgram_stt, keepalive_timer);
	if (gone(s))
		return;
	int64_t idle = now_us() - s->last_audio_us;
	if (s->cur && s->cur->open && idle >= (int64_t)s->dg.keepalive_ms * 1000) {
		send_control(s->cur, "KeepAlive");
		s->last_audio_us = now_us();
		idle = 0;
	}
	lws_sul_schedule(s->ctx, 0, &s->keepalive_timer, on_keepalive, (int64_t)s->dg.keepalive_ms * 1000 - idle);
}

static void on_result_timeout(lws_sorted_usec_list_t *sul)
{
	deepgram_stt *s = lws_container_of(sul, deepgram_stt, result_timer);
	fail(s, "timeout: Deepgram did not answer Finalize within %d ms", s->dg.result_timeout_ms);
	settle(s);
}

static void send_finalize(deepgram_stt *s)
{
	if (!s->cur)
		return;
	if (!s->cur->open) {
		s->finalize_on_open = true;
		return;
	}
	send_control(s->cur, "Finalize");
	lws_sul_schedule(s->ctx, 0, &s->result_timer, on_result_timeout, (int64_t)s->dg.result_timeout_ms * 1000);
}

/* ---- Deepgram's messages ---- */

static void malformed(deepgram_stt *s, const char *what)
{
	s->malformed++;
	if (s->malformed > (size_t)s->dg.max_malformed)
		fail(s, "malformed: %zu messages from Deepgram could not be read (the last: %s)", s->malformed, what);
}

static double abs_s(const deepgram_stt *s, const dg_stream *st, double t)
{
	return (double)st->offset / s->base.config.sample_rate + t;
}

/* Reads the words of alternatives[0]; false when a word is wrongly typed. */
static bool read_words(const deepgram_stt *s, const dg_stream *st, const bson_t *doc, sova_stt_word **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	bson_iter_t it, arr;
	if (!sova_json_find(doc, "channel.alternatives.0.words", &it))
		return true;
	if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
		return false;
	size_t cap = 0;
	while (bson_iter_next(&arr)) {
		if (*n == MAX_WORDS_PER_RESULT)
			break;
		bson_iter_t w;
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &w))
			goto bad;
		sova_stt_word word = {.confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
		bool has_word = false, has_start = false, has_end = false;
		while (bson_iter_next(&w)) {
			const char *k = bson_iter_key(&w);
			double v;
			if (!strcmp(k, "word")) {
				if (!BSON_ITER_HOLDS_UTF8(&w))
					goto bad;
				word.word = bson_iter_utf8(&w, NULL);
				has_word = true;
			} else if (!strcmp(k, "punctuated_word")) {
				if (!BSON_ITER_HOLDS_UTF8(&w))
					goto bad;
				word.punctuated_word = bson_iter_utf8(&w, NULL);
			} else if (!strcmp(k, "start") || !strcmp(k, "end") || !strcmp(k, "confidence")) {
				if (!sova_json_iter_number(&w, &v))
					goto bad;
				if (k[0] == 's') {
					word.start_s = abs_s(s, st, v);
					has_start = true;
				} else if (k[0] == 'e') {
					word.end_s = abs_s(s, st, v);
					has_end = true;
				} else {
					word.confidence = (float)v;
				}
			}
		}
		if (!has_word || !has_start || !has_end)
			goto bad;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			sova_stt_word *p = realloc(*out, cap * sizeof *p);
			if (!p)
				goto bad;
			*out = p;
		}
		(*out)[(*n)++] = word;
	}
	return true;
bad:
	free(*out);
	*out = NULL;
	*n = 0;
	return false;
}

static void on_results(deepgram_stt *s, dg_stream *st, const bson_t *doc)
{
	const char *text = NULL;
	uint32_t tl = 0;
	bool is_final = false, speech_final = false, from_finalize = false, present = false;
	double start = 0, duration = 0, confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN;
	if (!sova_json_string(doc, "channel.alternatives.0.transcript", &text, &tl, NULL) ||
	    !sova_json_bool(doc, "is_final", &is_final, NULL) || !sova_json_number(doc, "start", &start, NULL) ||
	    !sova_json_number(doc, "duration", &duration, NULL) ||
	    (!sova_json_bool(doc, "speech_final", &speech_final, &present) && present) ||
	    (!sova_json_bool(doc, "from_finalize", &from_finalize, &present) && present) ||
	    (!sova_json_number(doc, "channel.alternatives.0.confidence", &confidence, &present) && present)) {
		malformed(s, "Results with a missing or wrongly typed field");
		return;
	}
	sova_stt_word *words = NULL;
	size_t num_words = 0;
	if (!read_words(s, st, doc, &words, &num_words)) {
		malformed(s, "Results with a wrongly typed word");
		return;
	}
	if (is_final && st == s->cur) {
		replay_trim(s, st->offset + (uint64_t)((start + duration) * s->base.config.sample_rate + 0.5));
		s->reconnects_left = 1; /* this stream made progress: a later drop may reconnect again */
	}
	if (from_finalize)
		lws_sul_cancel(&s->result_timer);
	bool has_text = tl > 0;
	if (has_text) {
		s->utterance_open = true;
		if (num_words)
			s->last_word_end = words[num_words - 1].end_s;
	}
	sova_stt_event ev = {.kind = is_final ? SOVA_STT_FINAL : SOVA_STT_INTERIM, .text = text, .confidence = (float)confidence,
			     .start_s = abs_s(s, st, start), .duration_s = duration, .speech_final = speech_final,
			     .from_finalize = from_finalize, .words = num_words ? words : NULL, .num_words = num_words};
	bool wanted = is_final ? (has_text || speech_final || from_finalize) : (has_text && s->interim_wanted);
	if (wanted)
		deliver(s, &ev);
	free(words);
	if (gone(s))
		return;
	if (is_final && from_finalize && s->utterance_open) {
		/* stt.h: finalize() ends the utterance; Deepgram's own UtteranceEnd for it is not repeated */
		s->utterance_open = false;
		sova_stt_event end = {.kind = SOVA_STT_UTTERANCE_END, .at_s = s->last_word_end,
				      .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
		deliver(s, &end);
	}
}

static void on_message(deepgram_stt *s, dg_stream *st, const uint8_t *data, size_t len)
{
	bson_t doc;
	if (!sova_json_parse(&doc, data, len)) {
		bson_destroy(&doc);
		malformed(s, "not a JSON object");
		return;
	}
	const char *type = NULL;
	uint32_t tl = 0;
	double v = 0;
	bool present = false;
	if (!sova_json_string(&doc, "type", &type, &tl, NULL)) {
		malformed(s, "no type");
	} else if (!strcmp(type, "Results")) {
		on_results(s, st, &doc);
	} else if (!strcmp(type, "SpeechStarted")) {
		if (!sova_json_number(&doc, "timestamp", &v, &present) && present) {
			malformed(s, "SpeechStarted with a wrongly typed timestamp");
		} else if (abs_s(s, st, v) > s->last_speech_started + 0.05 || s->last_speech_started < 0) {
			/* replayed audio announces speech already announced: once is enough */
			s->last_speech_started = abs_s(s, st, v);
			sova_stt_event ev = {.kind = SOVA_STT_SPEECH_STARTED, .at_s = s->last_speech_started,
					     .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
			deliver(s, &ev);
		}
	} else if (!strcmp(type, "UtteranceEnd")) {
		if (!sova_json_number(&doc, "last_word_end", &v, &present) && present) {
			malformed(s, "UtteranceEnd with a wrongly typed last_word_end");
		} else if (s->utterance_open) {
			s->utterance_open = false;
			sova_stt_event ev = {.kind = SOVA_STT_UTTERANCE_END, .at_s = present ? abs_s(s, st, v) : s->last_word_end,
					     .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
			deliver(s, &ev);
		}
	} else if (!strcmp(type, "Metadata")) {
		const char *rid = NULL, *model = NULL;
		uint32_t l = 0;
		sova_json_string(&doc, "request_id", &rid, &l, NULL);
		bson_iter_t it, info, first;
		if (bson_iter_init_find(&it, &doc, "model_info") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &info) &&
		    bson_iter_next(&info) && BSON_ITER_HOLDS_DOCUMENT(&info) && bson_iter_recurse(&info, &first) &&
		    bson_iter_find(&first, "name") && BSON_ITER_HOLDS_UTF8(&first))
			model = bson_iter_utf8(&first, NULL);
		sova_stt_event ev = {.kind = SOVA_STT_METADATA, .request_id = rid, .model = model,
				     .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
		deliver(s, &ev);
	}
	/* other types (new ones Deepgram adds) are ignored, not counted as malformed */
	bson_destroy(&doc);
}

/* ---- The socket's callbacks ---- */

static void ws_open(void *ud)
{
	dg_stream *st = ud;
	deepgram_stt *s = st->owner;
	st->open = true;
	if (st != s->cur)
		return;
	st->offset = s->replay_start;
	s->sent_upto = s->replay_start; /* everything not covered by a final goes (again) */
	pump(s);
	if (!gone(s) && s->finalize_on_open) {
		s->finalize_on_open = false;
		send_finalize(s);
	}
	settle(s);
}

static void ws_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	dg_stream *st = ud;
	deepgram_stt *s = st->owner;
	if (gone(s))
		return;
	if (binary)
		malformed(s, "a binary message");
	else
		on_message(s, st, data, len);
	settle(s);
}

static void stream_ended(deepgram_stt *s, dg_stream *st, int code, const char *reason, bool opened)
{
	if (st == s->draining) {
		s->draining = NULL;
		free_stream(st);
		return;
	}
	if (st != s->cur || gone(s))
		return;
	bool dropped = opened && (code == 1006 || code == 1001 || code == 1005);
	if (dropped && s->reconnects_left > 0) {
		s->reconnects_left--;
		s->reconnects++;
		s->cur = NULL;
		free_stream(st);
		open_stream(s, true);
		return;
	}
	if (!opened) {
		bool auth = strstr(reason, "HTTP 401") || strstr(reason, "HTTP 403") || strstr(reason, "unauthorized");
		fail(s, "%s: %s%s", auth ? "auth" : strncmp(reason, "timeout", 7) ? "connect" : "timeout",
		     st->reconnect ? "reconnecting after a dropped stream: " : "", reason);
	} else if (dropped) {
		fail(s, "network: the stream dropped again after a reconnect (%d: %s)", code, reason);
	} else {
		fail(s, "%d: %s", code, reason && *reason ? reason : "Deepgram closed the stream");
	}
}

static void ws_close(void *ud, int code, const char *reason)
{
	dg_stream *st = ud;
	deepgram_stt *s = st->owner;
	stream_ended(s, st, code, reason, true);
	settle(s);
}

static void ws_error(void *ud, const char *reason)
{
	dg_stream *st = ud;
	deepgram_stt *s = st->owner;
	stream_ended(s, st, 0, reason, false);
	settle(s);
}

static void open_stream(deepgram_stt *s, bool reconnect)
{
	dg_stream *st = calloc(1, sizeof *st);
	sova_sbuf url = {0};
	if (!st) {
		fail(s, "memory: out of memory");
		return;
	}
	st->owner = s;
	st->reconnect = reconnect;
	sova_sbuf_printf(&url, "%s/v1/listen?model=", s->base_url);
	sova_sbuf_url_encode(&url, s->model);
	if (s->language) {
		sova_sbuf_adds(&url, "&language=");
		sova_sbuf_url_encode(&url, s->language);
	}
	sova_sbuf_printf(&url, "&encoding=linear16&sample_rate=%d&channels=1&interim_results=true&vad_events=true",
			 s->base.config.sample_rate);
	if (s->base.config.endpointing_ms > 0)
		sova_sbuf_printf(&url, "&endpointing=%d", s->base.config.endpointing_ms);
	if (s->base.config.utterance_end_ms > 0)
		sova_sbuf_printf(&url, "&utterance_end_ms=%d", s->base.config.utterance_end_ms < 1000 ? 1000 : s->base.config.utterance_end_ms);
	sova_sbuf_adds(&url, s->dg.smart_format ? "&smart_format=true" : "&punctuate=true");
	if (s->keyterms)
		sova_sbuf_adds(&url, s->keyterms);
	sova_ws_header auth = {"Authorization", s->auth_header};
	size_t audio_bytes = s->replay_max * sizeof(int16_t);
	sova_ws_client_config wc = {.url = url.data, .headers = &auth, .num_headers = 1, .ca_file = s->ca_file,
				    .connect_timeout_ms = s->dg.connect_timeout_ms, .max_queued_bytes = audio_bytes + 1024 * 1024};
	sova_ws_callbacks cb = {.on_open = ws_open, .on_frame = ws_frame, .on_close = ws_close, .on_error = ws_error, .ud = st};
	char err[200];
	st->ws = url.failed ? NULL : sova_ws_client_new(s->ctx, &wc, &cb, err, sizeof err);
	sova_sbuf_free(&url);
	if (!st->ws) {
		free(st);
		fail(s, "connect: %s", url.failed ? "out of memory" : err);
		return;
	}
	s->cur = st;
}

/* Keyterm prompting is Nova-3's ("nova-3", "nova-3-medical", ...); other models get none. */
static bool takes_keyterms(const char *model)
{
	return !strcmp(model, "nova-3") || !strncmp(model, "nova-3-", 7);
}

/* "&keyterm=a&keyterm=b" for the phrases of the options (a grammar's, a keyword list's, an open
 * search's hints), NULL for none. Phrases may hold a patient's name: the URL is never logged. */
static char *keyterms_of(const deepgram_stt *s, const sova_stt_options *opt)
{
	if (!takes_keyterms(s->model))
		return NULL;
	sova_sbuf b = {0};
	size_t n = 0, words = 0;
	for (size_t i = 0; i < opt->num_phrases && n < MAX_KEYTERMS; i++) {
		/* <digits>, <letter> and the like are the grammar's, not words to boost */
		char term[256];
		size_t o = 0;
		for (const char *p = opt->phrases[i]; *p && o + 1 < sizeof term;) {
			if (*p == '<') {
				const char *e = strchr(p, '>');
				p = e ? e + 1 : p + strlen(p);
				continue;
			}
			term[o++] = *p++;
		}
		term[o] = '\0';
		char *t = term;
		while (*t == ' ')
			t++;
		for (size_t e = strlen(t); e > 0 && t[e - 1] == ' '; e--)
			t[e - 1] = '\0';
		if (!*t)
			continue;
		size_t w = 1;
		for (const char *p = t; *p; p++)
			w += p[0] == ' ' && p[1] != ' ';
		if (words + w > MAX_KEYTERM_WORDS)
			break;
		size_t before = b.len;
		sova_sbuf_adds(&b, "&keyterm=");
		sova_sbuf_url_encode(&b, t);
		if (b.len > MAX_KEYTERM_BYTES) {
			b.len = before;
			if (b.data)
				b.data[before] = '\0';
			break;
		}
		words += w;
		n++;
	}
	if (b.failed || !b.len) {
		sova_sbuf_free(&b);
		return NULL;
	}
	return b.data;
}

/* ---- The vtable ---- */

static bool dg_start(sova_stt *r, const sova_stt_options *opt, char *err, size_t errlen)
{
	deepgram_stt *s = (deepgram_stt *)r;
	if (s->failed) {
		snprintf(err, errlen, "deepgram: the stream failed; make a new recognizer");
		return false;
	}
	char *terms = keyterms_of(s, opt);
	s->interim_wanted = opt->interim_results;
	bool same = (!terms && !s->keyterms) || (terms && s->keyterms && !strcmp(terms, s->keyterms));
	if (s->cur && same) {
		free(terms);
		if (s->fed > s->replay_start)
			send_finalize(s);
		return true;
	}
	if (s->cur) { /* other keyterms: this stream finishes on its own, a new one listens */
		if (s->cur->open) {
			send_control(s->cur, "Finalize");
			send_control(s->cur, "CloseStream");
		}
		free_stream(s->draining);
		s->draining = s->cur;
		s->draining->draining = true;
		s->cur = NULL;
		s->replay_start = s->sent_upto = s->fed;
		s->replay_len = 0;
	}
	free(s->keyterms);
	s->keyterms = terms;
	s->reconnects_left = 1;
	open_stream(s, false);
	if (s->failed) {
		snprintf(err, errlen, "deepgram: cannot open the stream");
		return false;
	}
	if (!s->keepalive_on) {
		s->keepalive_on = true;
		s->last_audio_us = now_us();
		lws_sul_schedule(s->ctx, 0, &s->keepalive_timer, on_keepalive, (int64_t)s->dg.keepalive_ms * 1000);
	}
	return true;
}

static bool dg_feed(sova_stt *r, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	deepgram_stt *s = (deepgram_stt *)r;
	if (s->failed) {
		snprintf(err, errlen, "deepgram: the stream failed");
		return false;
	}
	if (!replay_append(s, pcm, n)) {
		snprintf(err, errlen, "deepgram: out of memory");
		return false;
	}
	s->fed += n;
	pump(s);
	return true;
}

static bool dg_finalize(sova_stt *r, char *err, size_t errlen)
{
	deepgram_stt *s = (deepgram_stt *)r;
	if (s->failed) {
		snprintf(err, errlen, "deepgram: the stream failed");
		return false;
	}
	send_finalize(s);
	return true;
}

static void close_stream(dg_stream *st)
{
	if (!st)
		return;
	if (st->open) {
		send_control(st, "CloseStream");
		sova_ws_client_close(st->ws, 1000, "");
	}
	free_stream(st); /* the close completes in the background */
}

static void dg_close(sova_stt *r)
{
	deepgram_stt *s = (deepgram_stt *)r;
	lws_sul_cancel(&s->keepalive_timer);
	lws_sul_cancel(&s->result_timer);
	close_stream(s->cur);
	close_stream(s->draining);
	s->cur = s->draining = NULL;
}

static void dg_destroy(sova_stt *r)
{
	deepgram_stt *s = (deepgram_stt *)r;
	if (s->depth > 0)
		s->destroy_pending = true; /* freed when its callback returns */
	else
		really_destroy(s);
}

static const sova_stt_vtable DEEPGRAM_VTABLE = {
	.name = "deepgram", .start = dg_start, .feed = dg_feed, .finalize = dg_finalize, .close = dg_close, .destroy = dg_destroy};

static char *dup_or_null(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

sova_stt *sova_stt_deepgram_new(struct lws_context *ctx, const sova_deepgram_config *dg, const sova_stt_config *config,
				sova_stt_callback cb, void *user, char *err, size_t errlen)
{
	if (!ctx || !dg || !config || !cb) {
		snprintf(err, errlen, "deepgram: missing %s", !ctx ? "lws context" : !dg ? "deepgram config" : !config ? "config" : "callback");
		return NULL;
	}
	if (!dg->api_key || !*dg->api_key) {
		snprintf(err, errlen, "deepgram: no API key");
		return NULL;
	}
	if (config->sample_rate < 8000 || config->sample_rate > 48000) {
		snprintf(err, errlen, "deepgram: sample rate %d is outside 8000..48000", config->sample_rate);
		return NULL;
	}
	const char *base = dg->base_url && *dg->base_url ? dg->base_url : DEFAULT_BASE;
	if (strncmp(base, "wss://", 6) && strncmp(base, "ws://", 5)) {
		snprintf(err, errlen, "deepgram: the base URL must be wss:// (or ws:// for a stand-in)");
		return NULL;
	}
	deepgram_stt *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "deepgram: out of memory");
		return NULL;
	}
	sova_stt_init_base(&s->base, &DEEPGRAM_VTABLE, config, cb, user);
	s->ctx = ctx;
	s->dg = *dg;
	bool oom = false;
	s->api_key = dup_or_null(dg->api_key, &oom);
	s->base_url = dup_or_null(base, &oom);
	s->ca_file = dup_or_null(dg->ca_file, &oom);
	s->model = dup_or_null(dg->model ? dg->model : "nova-3", &oom);
	s->language = dup_or_null(config->language, &oom);
	size_t al = strlen(dg->api_key) + 7;
	s->auth_header = malloc(al);
	if (oom || !s->auth_header) {
		really_destroy(s);
		snprintf(err, errlen, "deepgram: out of memory");
		return NULL;
	}
	snprintf(s->auth_header, al, "Token %s", dg->api_key);
	for (size_t l = strlen(s->base_url); l > 0 && s->base_url[l - 1] == '/'; l--)
		s->base_url[l - 1] = '\0';
	s->base.config.language = s->language;
	s->dg.api_key = s->dg.base_url = s->dg.ca_file = s->dg.model = NULL; /* the owned copies are used */
	if (s->dg.connect_timeout_ms <= 0)
		s->dg.connect_timeout_ms = 5000;
	if (s->dg.keepalive_ms <= 0)
		s->dg.keepalive_ms = 4000;
	if (s->dg.result_timeout_ms <= 0)
		s->dg.result_timeout_ms = 5000;
	if (s->dg.max_replay_ms <= 0)
		s->dg.max_replay_ms = 60000;
	if (s->dg.max_malformed <= 0)
		s->dg.max_malformed = 10;
	s->replay_max = (size_t)config->sample_rate * (size_t)s->dg.max_replay_ms / 1000;
	s->last_speech_started = -1;
	return &s->base;
}

size_t sova_stt_deepgram_malformed(const sova_stt *r) { return r ? ((const deepgram_stt *)r)->malformed : 0; }

size_t sova_stt_deepgram_reconnects(const sova_stt *r) { return r ? ((const deepgram_stt *)r)->reconnects : 0; }

/* The Deepgram live stand-in (standin.h): speech is found by the audio's level, in 10 ms windows,
 * so what it answers depends only on the audio sent (never on wall-clock time), and the words of
 * the k-th utterance of a session are line k of the script file (an utterance ends with its
 * UtteranceEnd: speech after a shorter pause carries on the same line). Messages as Deepgram sends them:
 * SpeechStarted (vad_events=true), Results (interim every 0.5 s of speech with interim_results=true;
 * a final with speech_final after `endpointing` ms of silence; an empty final every 3 s of silence,
 * as Deepgram's are), UtteranceEnd after utterance_end_ms past the last word, Finalize →
 * from_finalize, CloseStream → final, Metadata, close 1000, NET-0001 after idle_ms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"
#include "bot/speech/provider_util.h"
#include "standin.h"

#define MAX_WORDS 64
#define WINDOW_MS 10
#define INTERIM_EVERY_S 0.5
#define WORD_S 0.3           /* interims: one word heard per this much speech */
#define SILENT_FINAL_EVERY_S 3.0
#define MAX_SESSIONS 4096

typedef struct dg_state {
	int rate;
	bool mulaw, interim, vad_events;
	int endpointing_ms, utterance_end_ms, idle_ms, drop_at_ms;
	double threshold_db;
	char script[512];
	char session[64];
	int own_utterances;      /* utterances begun without a session */
	uint64_t samples;        /* audio received */
	uint8_t odd_byte;        /* a PCM16 sample split across frames */
	bool have_odd;
	int16_t *window;         /* WINDOW_MS of samples (owned) */
	size_t window_len, window_cap;
	bool in_speech;
	double speech_start, last_voiced_end, last_interim;
	bool utterance_open;     /* words came since the last UtteranceEnd */
	double last_word_end;
	double cursor;           /* end of the last final's segment */
	char words[MAX_WORDS][48];
	int num_words, words_done; /* the current utterance's words, and how many went out in finals */
	bool line_taken;         /* the current utterance consumed its script line */
	char request_id[40];
	int64_t last_client_us;
	lws_sorted_usec_list_t idle_timer;
	standin_conn *conn;
} dg_state;

/* Utterances begun per session, so a reconnected stream's replayed audio gets the same line. */
static struct {
	char name[64];
	int utterances;
} dg_sessions[MAX_SESSIONS];
static int dg_num_sessions;

static int *session_utterances(const char *name)
{
	for (int i = 0; i < dg_num_sessions; i++)
		if (!strcmp(dg_sessions[i].name, name))
			return &dg_sessions[i].utterances;
	if (dg_num_sessions == MAX_SESSIONS)
		return NULL;
	snprintf(dg_sessions[dg_num_sessions].name, sizeof dg_sessions[0].name, "%s", name);
	return &dg_sessions[dg_num_sessions++].utterances;
}

static double now_s(const dg_state *s) { return (double)s->samples / s->rate; }

/* Line `index` of the script (or "hello world" without one) into the utterance's words. */
static void load_words(dg_state *s, int index)
{
	char line[1024] = "hello world";
	if (s->script[0]) {
		FILE *f = fopen(s->script, "r");
		line[0] = '\0';
		for (int i = 0; f && i <= index; i++)
			if (!fgets(line, sizeof line, f))
				line[0] = '\0';
		if (f)
			fclose(f);
	}
	s->num_words = 0;
	s->words_done = 0;
	char *save = NULL;
	for (char *w = strtok_r(line, " \t\r\n", &save); w && s->num_words < MAX_WORDS; w = strtok_r(NULL, " \t\r\n", &save))
		snprintf(s->words[s->num_words++], sizeof s->words[0], "%s", w);
}

static void lower_bare(char *out, size_t cap, const char *w)
{
	size_t o = 0;
	for (const char *p = w; *p && o + 1 < cap; p++)
		if (!strchr(".,;:!?\"", *p))
			out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	out[o] = '\0';
}

/* One Results message: words [from, to) of the utterance, timed across [t0, t1]. */
static void send_results(dg_state *s, int from, int to, double t0, double t1, bool is_final, bool speech_final,
			 bool from_finalize, double seg_start, double seg_end)
{
	sova_sbuf b = {0}, text = {0};
	for (int i = from; i < to; i++) {
		if (i > from)
			sova_sbuf_add(&text, " ", 1);
		sova_sbuf_adds(&text, s->words[i]);
	}
	sova_sbuf_printf(&b, "{\"type\":\"Results\",\"channel_index\":[0,1],\"duration\":%.3f,\"start\":%.3f,"
			     "\"is_final\":%s,\"speech_final\":%s,\"from_finalize\":%s,\"channel\":{\"alternatives\":[{\"transcript\":",
			 seg_end - seg_start, seg_start, is_final ? "true" : "false", speech_final ? "true" : "false",
			 from_finalize ? "true" : "false");
	sova_sbuf_json_string(&b, text.data ? text.data : "", text.len);
	sova_sbuf_printf(&b, ",\"confidence\":%.2f,\"words\":[", to > from ? 0.97 : 0.0);
	int n = s->num_words > 0 ? s->num_words : 1;
	for (int i = from; i < to; i++) {
		double ws = t0 + (t1 - t0) * i / n, we = t0 + (t1 - t0) * (i + 1) / n;
		char bare[48];
		lower_bare(bare, sizeof bare, s->words[i]);
		sova_sbuf_printf(&b, "%s{\"word\":", i > from ? "," : "");
		sova_sbuf_json_string(&b, bare, strlen(bare));
		sova_sbuf_printf(&b, ",\"start\":%.3f,\"end\":%.3f,\"confidence\":0.97,\"punctuated_word\":", ws, we);
		sova_sbuf_json_string(&b, s->words[i], strlen(s->words[i]));
		sova_sbuf_add(&b, "}", 1);
	}
	sova_sbuf_printf(&b, "]}]},\"metadata\":{\"request_id\":\"%s\",\"model_info\":{\"name\":\"2-general-nova\","
			     "\"version\":\"2024-01-09.29447\",\"arch\":\"nova-3\"},\"model_uuid\":\"standin-nova-3\"}}",
			 s->request_id);
	if (!b.failed)
		standin_send_text(s->conn, b.data);
	sova_sbuf_free(&b);
	sova_sbuf_free(&text);
}

static void take_line(dg_state *s)
{
	if (s->line_taken)
		return;
	s->line_taken = true;
	int *counter = s->session[0] ? session_utterances(s->session) : NULL;
	if (counter)
		(*counter)++;
	else
		s->own_utterances++;
}

static int line_index(dg_state *s)
{
	int *counter = s->session[0] ? session_utterances(s->session) : NULL;
	return counter ? *counter : s->own_utterances;
}

/* A final for every word not yet in one (Finalize, CloseStream, the end of speech). */
static void final_now(dg_state *s, bool speech_final, bool from_finalize)
{
	double t = now_s(s);
	double t1 = s->in_speech ? fmax(t, s->speech_start + WORD_S * s->num_words) : s->last_voiced_end;
	int from = s->words_done, to = s->num_words;
	if (to > from)
		take_line(s);
	if (to > from) {
		s->utterance_open = true;
		s->last_word_end = s->in_speech ? t : s->last_voiced_end;
	}
	send_results(s, from, to, s->speech_start, t1, true, speech_final, from_finalize, s->cursor, t);
	s->words_done = to;
	s->cursor = t;
}

static void window_done(dg_state *s, const int16_t *pcm, size_t n)
{
	double t = now_s(s), w_start = t - (double)n / s->rate;
	bool voiced = sova_level_dbfs(pcm, n) > s->threshold_db;
	if (voiced) {
		if (!s->in_speech) {
			s->in_speech = true;
			s->speech_start = w_start;
			s->last_interim = w_start;
			/* a pause shorter than utterance_end_ms (a comma, a breath) goes on the same line */
			if (!s->utterance_open) {
				s->line_taken = false;
				load_words(s, line_index(s));
			}
			if (s->vad_events) {
				char msg[128];
				snprintf(msg, sizeof msg, "{\"type\":\"SpeechStarted\",\"channel\":[0,1],\"timestamp\":%.3f}", w_start);
				standin_send_text(s->conn, msg);
			}
		}
		s->last_voiced_end = t;
		if (s->utterance_open)
			s->last_word_end = t; /* its words are being said: UtteranceEnd waits */
		if (s->interim && t - s->last_interim >= INTERIM_EVERY_S) {
			s->last_interim = t;
			int heard = (int)((t - s->speech_start) / WORD_S) + 1;
			if (heard > s->num_words)
				heard = s->num_words;
			if (heard > s->words_done)
				send_results(s, s->words_done, heard, s->speech_start, s->speech_start + WORD_S * s->num_words, false,
					     false, false, s->cursor, t);
		}
		return;
	}
	if (s->in_speech && (t - s->last_voiced_end) * 1000 >= s->endpointing_ms) {
		s->in_speech = false;
		final_now(s, true, false);
		return;
	}
	if (!s->in_speech && s->utterance_open && (t - s->last_word_end) * 1000 >= s->utterance_end_ms) {
		s->utterance_open = false;
		char msg[128];
		snprintf(msg, sizeof msg, "{\"type\":\"UtteranceEnd\",\"channel\":[0,1],\"last_word_end\":%.3f}", s->last_word_end);
		standin_send_text(s->conn, msg);
		return;
	}
	if (!s->in_speech && t - s->cursor >= SILENT_FINAL_EVERY_S) {
		send_results(s, 0, 0, t, t, true, false, false, s->cursor, t);
		s->cursor = t;
	}
}

static void feed(dg_state *s, const int16_t *pcm, size_t n)
{
	size_t window = (size_t)s->rate * WINDOW_MS / 1000;
	for (size_t i = 0; i < n; i++) {
		s->window[s->window_len++] = pcm[i];
		s->samples++;
		if (s->window_len == window) {
			window_done(s, s->window, window);
			s->window_len = 0;
		}
	}
}

static void on_idle(lws_sorted_usec_list_t *sul)
{
	dg_state *s = lws_container_of(sul, dg_state, idle_timer);
	int64_t idle_us = standin_now_us() - s->last_client_us;
	if (idle_us >= (int64_t)s->idle_ms * 1000) {
		standin_close_after(s->conn, 1011,
				    "NET-0001: Deepgram did not receive audio data or a text message within the timeout window.");
		return;
	}
	lws_sul_schedule(standin_ctx, 0, &s->idle_timer, on_idle, (int64_t)s->idle_ms * 1000 - idle_us);
}

bool dg_open(standin_conn *c)
{
	dg_state *s = calloc(1, sizeof *s);
	if (!s)
		return false;
	c->state = s;
	s->conn = c;
	const standin_params *p = &c->params;
	s->rate = standin_param_int(p, "sample_rate", 16000);
	const char *enc = standin_param(p, "encoding");
	s->mulaw = enc && !strcmp(enc, "mulaw");
	const char *interim = standin_param(p, "interim_results"), *vad = standin_param(p, "vad_events");
	s->interim = interim && !strcmp(interim, "true");
	s->vad_events = vad && !strcmp(vad, "true");
	s->endpointing_ms = standin_param_int(p, "endpointing", 10);
	s->utterance_end_ms = standin_param_int(p, "utterance_end_ms", 1000);
	s->idle_ms = standin_param_int(p, "idle_ms", 10000);
	s->drop_at_ms = c->faults_on ? standin_param_int(p, "drop_at_ms", 0) : 0;
	const char *th = standin_param(p, "threshold_db");
	s->threshold_db = th ? atof(th) : -40.0;
	const char *script = standin_param(p, "script"), *session = standin_param(p, "session");
	if (script && !strchr(script, '/') && strcmp(script, "..") != 0)
		snprintf(s->script, sizeof s->script, "%s/%s", standin_script_dir ? standin_script_dir : ".", script);
	snprintf(s->session, sizeof s->session, "%s", session ? session : "");
	sova_random_hex16(s->request_id);
	s->last_client_us = standin_now_us();
	s->window_cap = (size_t)s->rate * WINDOW_MS / 1000;
	if ((s->rate != 8000 && s->rate != 16000 && s->rate != 48000) || (enc && strcmp(enc, "linear16") && !s->mulaw)) {
		/* Deepgram refuses a bad request at the handshake; here the socket is open already, so
		 * it closes as Deepgram does for undecodable audio */
		standin_close_after(c, 1008, "DATA-0000: The payload cannot be decoded as audio.");
		return false;
	}
	s->window = malloc(s->window_cap * sizeof *s->window);
	if (!s->window)
		return false;
	lws_sul_schedule(standin_ctx, 0, &s->idle_timer, on_idle, (int64_t)s->idle_ms * 1000);
	return true;
}

void dg_message(standin_conn *c, const uint8_t *data, size_t len, bool binary)
{
	dg_state *s = c->state;
	if (!s || !s->window)
		return;
	s->last_client_us = standin_now_us();
	if (c->faults_on && c->error_fault) {
		standin_close_after(c, 1011, "NET-0000: The service has encountered an internal error.");
		c->error_fault = 0;
		return;
	}
	if (binary) {
		int16_t pcm[4096];
		size_t n = 0;
		for (size_t i = 0; i < len; i++) {
			if (s->mulaw) {
				pcm[n++] = sova_mulaw_decode(data[i]);
			} else if (s->have_odd) {
				pcm[n++] = (int16_t)(s->odd_byte | data[i] << 8);
				s->have_odd = false;
			} else {
				s->odd_byte = data[i];
				s->have_odd = true;
			}
			if (n == sizeof pcm / sizeof pcm[0]) {
				feed(s, pcm, n);
				n = 0;
			}
		}
		feed(s, pcm, n);
		if (s->drop_at_ms > 0 && s->samples * 1000 >= (uint64_t)s->drop_at_ms * (uint64_t)s->rate)
			c->drop_now = true;
		return;
	}
	bson_t doc;
	const char *type = NULL;
	uint32_t tl = 0;
	bool ok = sova_json_parse(&doc, data, len) && sova_json_string(&doc, "type", &type, &tl, NULL);
	if (ok && !strcmp(type, "Finalize")) {
		final_now(s, false, true);
	} else if (ok && !strcmp(type, "CloseStream")) {
		final_now(s, false, false);
		char msg[512];
		snprintf(msg, sizeof msg,
			 "{\"type\":\"Metadata\",\"transaction_key\":\"deprecated\",\"request_id\":\"%s\",\"sha256\":\"standin\","
			 "\"created\":\"2026-01-01T00:00:00.000Z\",\"duration\":%.3f,\"channels\":1,\"models\":[\"standin-nova-3\"],"
			 "\"model_info\":{\"standin-nova-3\":{\"name\":\"2-general-nova\",\"version\":\"2024-01-09.29447\",\"arch\":\"nova-3\"}}}",
			 s->request_id, now_s(s));
		standin_send_text(c, msg);
		standin_close_after(c, 1000, "");
	}
	/* KeepAlive only resets the idle clock; anything else Deepgram ignores as well */
	bson_destroy(&doc);
}

void dg_close(standin_conn *c)
{
	dg_state *s = c->state;
	if (!s)
		return;
	lws_sul_cancel(&s->idle_timer);
	free(s->window);
	free(s);
	c->state = NULL;
}

const char *standin_malformed(standin_mode mode, int i)
{
	static const char *const dg[] = {
		"{\"type\":\"Results\",\"is_final\":tru",
		"{\"type\":\"Results\",\"is_final\":\"yes\",\"start\":0,\"duration\":1,\"channel\":{\"alternatives\":[{\"transcript\":42}]}}",
	};
	static const char *const cartesia[] = {
		"{\"type\":\"chunk\",\"data\":",
		"{\"type\":\"chunk\",\"context_id\":7,\"data\":12345,\"done\":\"no\"}",
	};
	static const char *const eleven[] = {
		"{\"audio\":\"AAAA\",\"isFinal\":",
		"{\"audio\":17,\"isFinal\":\"maybe\",\"contextId\":[1]}",
	};
	const char *const *set = mode == STANDIN_DEEPGRAM ? dg : mode == STANDIN_CARTESIA ? cartesia : eleven;
	return set[i % 2];
}

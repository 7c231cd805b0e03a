/* The WebSocket synthesizers' shared part (tts_cloud.h). */
#include "bot/speech/tts_cloud.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void wipe(char *p)
{
	if (!p)
		return;
	volatile char *v = p;
	while (*v)
		*v++ = '\0';
}

static void really_destroy(cloud_tts *t)
{
	lws_sul_cancel(&t->first_audio_timer);
	sova_ws_client_free(t->ws);
	sova_framer_free(&t->framer);
	for (int i = 0; i < 2; i++) {
		wipe(t->header_values[i]);
		free(t->header_values[i]);
		free(t->header_names[i]);
	}
	free(t->url);
	free(t->ca_file);
	free(t);
}

static void settle(cloud_tts *t)
{
	if (t->destroy_pending && t->depth == 0)
		really_destroy(t);
}

bool cloud_tts_emit(cloud_tts *t, sova_tts_event *ev)
{
	if (t->base.closed || !t->turn_live)
		return false;
	t->depth++;
	bool ok = sova_tts_emit(&t->base, ev);
	t->depth--;
	if (!ok || t->base.closed)
		t->turn_live = false; /* cancelled from the callback */
	return t->turn_live;
}

void cloud_tts_turn_error(cloud_tts *t, const char *fmt, ...)
{
	if (!t->turn_live || t->base.closed)
		return;
	char text[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	lws_sul_cancel(&t->first_audio_timer);
	sova_tts_event ev = {.kind = SOVA_TTS_ERROR, .text = text, .chunk = cloud_tts_last_chunk(t)};
	cloud_tts_emit(t, &ev);
	t->turn_live = false;
}

uint32_t cloud_tts_last_chunk(const cloud_tts *t) { return t->base.chunk ? t->base.chunk - 1 : 0; }

/* The socket is replaced: the live turn (if any) fails with why. */
static void drop_socket(cloud_tts *t, const char *why)
{
	sova_ws_client_free(t->ws);
	t->ws = NULL;
	cloud_tts_turn_error(t, "%s", why);
}

void cloud_tts_malformed(cloud_tts *t, const char *what)
{
	t->malformed++;
	if (t->malformed > (size_t)t->max_malformed && t->ws) {
		char why[200];
		snprintf(why, sizeof why, "malformed: %zu messages from %s could not be read (the last: %s)", t->malformed,
			 t->ops->provider, what);
		t->malformed = 0; /* the next socket starts afresh */
		drop_socket(t, why);
	}
}

bool cloud_tts_audio(cloud_tts *t, const char *b64, size_t len, uint32_t chunk)
{
	size_t n = 0;
	uint8_t *audio = sova_base64_decode(b64, len, &n);
	if (!audio) {
		cloud_tts_malformed(t, "audio that is not base64");
		return t->turn_live;
	}
	if (!t->got_audio) {
		t->got_audio = true;
		lws_sul_cancel(&t->first_audio_timer);
	}
	if ((n % t->framer.bytes_per_sample) != 0) {
		free(audio);
		cloud_tts_malformed(t, "audio that is not whole samples");
		return t->turn_live;
	}
	t->depth++;
	bool ok = sova_framer_push(&t->framer, audio, n, chunk);
	t->depth--;
	free(audio);
	if (!ok || t->base.closed)
		t->turn_live = false;
	return t->turn_live;
}

void cloud_tts_done(cloud_tts *t, uint32_t chunk)
{
	lws_sul_cancel(&t->first_audio_timer);
	t->depth++;
	bool ok = sova_framer_flush(&t->framer, chunk);
	t->depth--;
	if (!ok || t->base.closed) {
		t->turn_live = false;
		return;
	}
	sova_tts_event cd = {.kind = SOVA_TTS_CHUNK_DONE, .chunk = chunk};
	if (!cloud_tts_emit(t, &cd))
		return;
	sova_tts_event done = {.kind = SOVA_TTS_DONE, .chunk = chunk};
	cloud_tts_emit(t, &done);
	t->turn_live = false;
}

/* ---- The socket ---- */

static void ws_open(void *ud) { (void)ud; }

static void ws_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	cloud_tts *t = ud;
	bson_t doc;
	if (binary || !sova_json_parse(&doc, data, len)) {
		if (!binary)
			bson_destroy(&doc);
		cloud_tts_malformed(t, binary ? "a binary message" : "not a JSON object");
	} else {
		t->ops->message(t, &doc);
		bson_destroy(&doc);
	}
	settle(t);
}

static void ws_close(void *ud, int code, const char *reason)
{
	cloud_tts *t = ud;
	char why[200];
	snprintf(why, sizeof why, "network: the %s socket closed (%d: %s)", t->ops->provider, code, reason);
	drop_socket(t, why);
	settle(t);
}

static void ws_error(void *ud, const char *reason)
{
	cloud_tts *t = ud;
	bool auth = strstr(reason, "HTTP 401") || strstr(reason, "HTTP 403") || strstr(reason, "unauthorized");
	char why[200];
	snprintf(why, sizeof why, "%s: %s: %s", auth ? "auth" : !strncmp(reason, "timeout", 7) ? "timeout" : "network",
		 t->ops->provider, reason);
	drop_socket(t, why);
	settle(t);
}

static bool connect_socket(cloud_tts *t, char *err, size_t errlen)
{
	sova_ws_callbacks cb = {.on_open = ws_open, .on_frame = ws_frame, .on_close = ws_close, .on_error = ws_error, .ud = t};
	t->ws = sova_ws_client_new(t->ctx, &t->wc, &cb, err, errlen);
	return t->ws != NULL;
}

static void on_first_audio_timeout(lws_sorted_usec_list_t *sul)
{
	cloud_tts *t = lws_container_of(sul, cloud_tts, first_audio_timer);
	if (!t->turn_live || t->got_audio)
		return;
	t->ops->cancel(t);
	cloud_tts_turn_error(t, "timeout: no audio from %s within %d ms", t->ops->provider, t->first_audio_timeout_ms);
	settle(t);
}

bool cloud_tts_send(cloud_tts *t, const sova_sbuf *json, char *err, size_t errlen)
{
	if (json->failed) {
		snprintf(err, errlen, "%s: out of memory", t->ops->provider);
		return false;
	}
	sova_wsc_send_result r = t->ws ? sova_ws_client_send(t->ws, json->data, json->len, false) : SOVA_WSC_CLOSED;
	if (r == SOVA_WSC_QUEUED)
		return true;
	snprintf(err, errlen, "%s: %s", t->ops->provider, r == SOVA_WSC_FULL ? "the send queue is full" : "the socket is closed");
	return false;
}

bool cloud_tts_setup_run(cloud_tts *t, struct lws_context *ctx, const cloud_tts_ops *ops, const cloud_tts_setup *setup,
			 char *err, size_t errlen)
{
	t->ctx = ctx;
	t->ops = ops;
	t->first_audio_timeout_ms = setup->first_audio_timeout_ms > 0 ? setup->first_audio_timeout_ms : 5000;
	t->max_malformed = setup->max_malformed > 0 ? setup->max_malformed : 10;
	t->base.sample_rate = setup->sample_rate;
	sova_random_hex16(t->prefix);
	t->url = strdup(setup->url);
	t->ca_file = setup->ca_file ? strdup(setup->ca_file) : NULL;
	bool ok = t->url && (!setup->ca_file || t->ca_file);
	for (size_t i = 0; i < setup->num_headers && i < 2; i++) {
		t->header_names[i] = strdup(setup->headers[i].name);
		t->header_values[i] = strdup(setup->headers[i].value);
		ok = ok && t->header_names[i] && t->header_values[i];
		t->headers[i].name = t->header_names[i];
		t->headers[i].value = t->header_values[i];
	}
	if (!ok || !sova_framer_init(&t->framer, &t->base, t->base.config.encoding, setup->sample_rate, t->base.config.frame_ms)) {
		snprintf(err, errlen, "%s: out of memory", ops->provider);
		return false;
	}
	t->wc = (sova_ws_client_config){.url = t->url, .headers = t->headers, .num_headers = setup->num_headers,
					.ca_file = t->ca_file, .connect_timeout_ms = setup->connect_timeout_ms > 0 ? setup->connect_timeout_ms : 5000};
	return connect_socket(t, err, errlen);
}

/* ---- The vtable ---- */

bool cloud_tts_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	cloud_tts *t = (cloud_tts *)s;
	bool new_turn = s->chunk == 0;
	if (!t->ws && !connect_socket(t, err, errlen))
		return false;
	if (new_turn) {
		snprintf(t->context_id, sizeof t->context_id, "%s-t%u", t->prefix, s->turn);
		sova_framer_reset(&t->framer);
		t->turn_live = true;
		t->got_audio = false;
		lws_sul_schedule(t->ctx, 0, &t->first_audio_timer, on_first_audio_timeout, (int64_t)t->first_audio_timeout_ms * 1000);
	} else if (!t->turn_live) {
		/* the turn already ended (an error was delivered): nothing more to say in it */
		snprintf(err, errlen, "%s: the turn ended with an error", t->ops->provider);
		return false;
	}
	if (!t->ops->say(t, text, len, final, new_turn, err, errlen)) {
		lws_sul_cancel(&t->first_audio_timer);
		t->turn_live = false;
		return false;
	}
	return true;
}

void cloud_tts_cancel(sova_tts *s)
{
	cloud_tts *t = (cloud_tts *)s;
	if (!t->turn_live)
		return;
	lws_sul_cancel(&t->first_audio_timer);
	t->ops->cancel(t);
	t->turn_live = false;
}

void cloud_tts_close(sova_tts *s)
{
	cloud_tts *t = (cloud_tts *)s;
	if (t->turn_live)
		t->ops->cancel(t);
	t->turn_live = false;
	lws_sul_cancel(&t->first_audio_timer);
	if (t->ws)
		sova_ws_client_close(t->ws, 1000, ""); /* the queued cancel goes first */
	sova_ws_client_free(t->ws);
	t->ws = NULL;
}

void cloud_tts_destroy(sova_tts *s)
{
	cloud_tts *t = (cloud_tts *)s;
	if (t->depth > 0)
		t->destroy_pending = true;
	else
		really_destroy(t);
}

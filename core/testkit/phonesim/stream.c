/* A Media Streams connection into the bot (stream.h). */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bot/speech/provider_util.h"
#include "bot/speech/ws_client.h"
#include "call.h"
#include "events.h"

#define US_PER_BYTE 125        /* μ-law at 8 kHz */
#define MAX_MARKS 4096
#define MAX_MESSAGE (1024 * 1024)
#define MAX_QUEUED (256 * 1024) /* what the bot has not read: about 15 s of media messages */
#define GAP_BUCKETS 500         /* 1 ms each: gaps between the bot's media messages inside a spurt */

typedef struct mark {
	struct mark *next;
	uint64_t at;   /* the bot's audio bytes queued before it */
	char name[128];
} mark;

struct ps_stream {
	struct ps_call *call;  /* borrowed; the call owns this stream */
	sova_ws_client *ws;    /* owned */
	char sid[PS_SID_LEN];
	char *url;             /* owned */
	bool started;          /* the socket opened: connected and start went */
	unsigned seq;          /* the last sequenceNumber sent */
	uint64_t frames;       /* the callee's frames since the start (timestamps and chunks) */
	uint64_t dropped;      /* frames the bot did not read in time */
	/* the bot's audio, as Twilio's buffer plays it */
	uint64_t received, played;
	int64_t play_us, credit_us;
	mark *marks, *marks_tail;
	int num_marks;
	int bad;
	/* the bot's pacing: gaps between its media messages (a longer gap ends a talk spurt) */
	uint64_t bot_media;
	int64_t last_bot_media_us;
	uint32_t gaps[GAP_BUCKETS];
	uint64_t num_gaps;
};

/* ---- Sending ---- */

static void send_text(ps_stream *s, const char *text, size_t len)
{
	if (sova_ws_client_send(s->ws, text, len, false) == SOVA_WSC_FULL)
		s->dropped++;
}

static void send_sbuf(ps_stream *s, sova_sbuf *b)
{
	if (!b->failed)
		send_text(s, b->data, b->len);
	sova_sbuf_free(b);
}

static void send_connected_and_start(ps_stream *s, const tw_verb *v)
{
	const ps_call *c = s->call;
	static const char CONNECTED[] = "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}";
	send_text(s, CONNECTED, sizeof CONNECTED - 1);
	sova_sbuf b = {0};
	sova_sbuf_printf(&b,
			 "{\"event\":\"start\",\"sequenceNumber\":\"%u\",\"streamSid\":\"%s\",\"start\":{\"accountSid\":\"%s\","
			 "\"streamSid\":\"%s\",\"callSid\":\"%s\",\"tracks\":[\"inbound\"],\"customParameters\":{",
			 ++s->seq, s->sid, c->account, s->sid, c->sid);
	for (int i = 0; i < v->num_params; i++) {
		if (i)
			sova_sbuf_add(&b, ",", 1);
		sova_sbuf_json_string(&b, v->param_name[i], strlen(v->param_name[i]));
		sova_sbuf_add(&b, ":", 1);
		sova_sbuf_json_string(&b, v->param_value[i], strlen(v->param_value[i]));
	}
	sova_sbuf_adds(&b, "},\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}}}");
	send_sbuf(s, &b);
}

void ps_stream_media(ps_stream *s, const uint8_t frame[PS_FRAME_BYTES])
{
	if (!s->started)
		return;
	char msg[512];
	int n = snprintf(msg, sizeof msg,
			 "{\"event\":\"media\",\"sequenceNumber\":\"%u\",\"streamSid\":\"%s\",\"media\":{\"track\":\"inbound\","
			 "\"chunk\":\"%llu\",\"timestamp\":\"%llu\",\"payload\":\"",
			 ++s->seq, s->sid, (unsigned long long)s->frames + 1, (unsigned long long)s->frames * PS_FRAME_MS);
	s->frames++;
	n += EVP_EncodeBlock((unsigned char *)msg + n, frame, PS_FRAME_BYTES); /* 216 characters */
	memcpy(msg + n, "\"}}", 3);
	/* 50 a second a call: written at once when the socket is free, as Twilio's would be */
	if (sova_ws_client_send_now(s->ws, msg, (size_t)n + 3, false) == SOVA_WSC_FULL)
		s->dropped++;
}

void ps_stream_dtmf(ps_stream *s, char digit)
{
	if (!s->started)
		return;
	char msg[256];
	int n = snprintf(msg, sizeof msg,
			 "{\"event\":\"dtmf\",\"streamSid\":\"%s\",\"sequenceNumber\":\"%u\",\"dtmf\":{\"track\":\"inbound_track\","
			 "\"digit\":\"%c\"}}",
			 s->sid, ++s->seq, digit);
	send_text(s, msg, (size_t)n);
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "callee_dtmf");
	char d[2] = {digit, 0};
	ps_ev_str(&e, "digit", d);
	ps_ev_end(&e);
}

void ps_stream_garbage(ps_stream *s, int n)
{
	static const char *const BAD[] = {
		"{\"event\":\"media\",\"media\":{\"payload\":",                 /* cut off */
		"{\"event\":\"media\",\"streamSid\":7,\"media\":{\"payload\":[]}}", /* wrong types */
		"{\"event\":\"media\",\"streamSid\":\"MZ00000000000000000000000000000000\",\"media\":{\"payload\":\"AAAA\"}}",
		"{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"payload\":\"!!not base64!!\"}}",
	};
	if (!s->started)
		return;
	for (int i = 0; i < n; i++) {
		char msg[256];
		int len = snprintf(msg, sizeof msg, BAD[i % 4], s->sid);
		send_text(s, msg, (size_t)len);
	}
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "callee_garbage");
	ps_ev_int(&e, "messages", n);
	ps_ev_end(&e);
}

static void echo_mark(ps_stream *s, mark *m, bool cleared)
{
	sova_sbuf b = {0};
	sova_sbuf_printf(&b, "{\"event\":\"mark\",\"sequenceNumber\":\"%u\",\"streamSid\":\"%s\",\"mark\":{\"name\":", ++s->seq,
			 s->sid);
	sova_sbuf_json_string(&b, m->name, strlen(m->name));
	sova_sbuf_adds(&b, "}}");
	send_sbuf(s, &b);
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "mark");
	ps_ev_str(&e, "name", m->name);
	ps_ev_bool(&e, "cleared", cleared);
	ps_ev_end(&e);
}

/* Returns the marks whose audio has played (all of them when cleared). */
static void echo_marks(ps_stream *s, bool cleared)
{
	while (s->marks && (cleared || s->marks->at <= s->played)) {
		mark *m = s->marks;
		s->marks = m->next;
		if (!s->marks)
			s->marks_tail = NULL;
		s->num_marks--;
		echo_mark(s, m, cleared);
		free(m);
	}
}

/* ---- The bot's pacing ---- */

static void count_bot_media(ps_stream *s, int64_t now_us)
{
	int64_t gap_ms = s->last_bot_media_us ? (now_us - s->last_bot_media_us) / 1000 : GAP_BUCKETS;
	s->last_bot_media_us = now_us;
	s->bot_media++;
	if (gap_ms < GAP_BUCKETS) {
		s->gaps[gap_ms]++;
		s->num_gaps++;
	}
}

/* The gap at quantile q (0..1) in ms. */
static int gap_quantile(const ps_stream *s, double q)
{
	uint64_t want = (uint64_t)((double)(s->num_gaps - 1) * q), seen = 0;
	for (int i = 0; i < GAP_BUCKETS; i++) {
		seen += s->gaps[i];
		if (seen > want)
			return i;
	}
	return GAP_BUCKETS - 1;
}

/* What a stream's end reports about the bot: messages, and their pacing inside talk spurts. */
static void pacing_fields(const ps_stream *s, ps_ev *e)
{
	ps_ev_int(e, "bad_messages", s->bad);
	ps_ev_int(e, "dropped_frames", (long long)s->dropped);
	ps_ev_int(e, "bot_media", (long long)s->bot_media);
	if (!s->num_gaps)
		return;
	int max = 0;
	for (int i = 0; i < GAP_BUCKETS; i++)
		if (s->gaps[i])
			max = i;
	ps_ev_int(e, "bot_gap_p50_ms", gap_quantile(s, 0.5));
	ps_ev_int(e, "bot_gap_p99_ms", gap_quantile(s, 0.99));
	ps_ev_int(e, "bot_gap_max_ms", max);
}

/* ---- Playing the bot's audio ---- */

void ps_stream_tick(ps_stream *s, int64_t now_us)
{
	if (!s->started)
		return;
	int64_t dt = now_us - s->play_us;
	s->play_us = now_us;
	uint64_t buffered = s->received - s->played;
	if (buffered && dt > 0) {
		s->credit_us += dt;
		uint64_t n = (uint64_t)s->credit_us / US_PER_BYTE;
		if (n > buffered)
			n = buffered;
		s->credit_us -= (int64_t)n * US_PER_BYTE;
		s->played += n;
		if (s->played == s->received)
			s->credit_us = 0; /* silence is not saved up for the next audio */
		if (n)
			ps_callee_heard(s->call, (size_t)n, now_us);
	}
	echo_marks(s, false);
}

size_t ps_stream_buffered(const ps_stream *s) { return s ? (size_t)(s->received - s->played) : 0; }

static void bad_message(ps_stream *s, const char *why)
{
	s->bad++;
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "bad_message");
	ps_ev_str(&e, "stream_sid", s->sid);
	ps_ev_str(&e, "why", why);
	ps_ev_int(&e, "count", s->bad);
	ps_ev_end(&e);
}

static void on_clear(ps_stream *s)
{
	uint64_t dropped = s->received - s->played;
	int marks = s->num_marks;
	s->played = s->received;
	s->credit_us = 0;
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "clear");
	ps_ev_int(&e, "dropped_ms", (long long)(dropped / PS_BYTES_PER_MS));
	ps_ev_int(&e, "marks_returned", marks);
	ps_ev_end(&e);
	echo_marks(s, true);
	ps_callee_cleared(s->call);
}

static void on_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	ps_stream *s = ud;
	if (binary) {
		bad_message(s, "a binary frame");
		return;
	}
	bson_t doc;
	const char *event = NULL, *sid = NULL, *str = NULL;
	uint32_t event_len = 0, str_len = 0;
	if (!sova_json_parse(&doc, data, len) || !sova_json_string(&doc, "event", &event, &event_len, NULL)) {
		bson_destroy(&doc);
		bad_message(s, "not JSON with an event");
		return;
	}
	if (!sova_json_string(&doc, "streamSid", &sid, NULL, NULL) || strcmp(sid, s->sid) != 0) {
		bson_destroy(&doc);
		bad_message(s, "streamSid is not this stream's");
		return;
	}
	if (!strcmp(event, "media")) {
		size_t n = 0;
		uint8_t *audio = sova_json_string(&doc, "media.payload", &str, &str_len, NULL) ? sova_base64_decode(str, str_len, &n) : NULL;
		if (!audio)
			bad_message(s, "media without a base64 payload");
		else {
			s->received += n; /* only its length matters: the callee hears it as time */
			int64_t now = ps_now_us();
			count_bot_media(s, now);
			ps_callee_bot_audio(s->call, now);
		}
		free(audio);
	} else if (!strcmp(event, "mark")) {
		mark *m = NULL;
		if (!sova_json_string(&doc, "mark.name", &str, &str_len, NULL) || str_len >= sizeof m->name)
			bad_message(s, "mark without a name (or one over 127 bytes)");
		else if (s->num_marks == MAX_MARKS || !(m = calloc(1, sizeof *m)))
			bad_message(s, "too many pending marks");
		else {
			memcpy(m->name, str, str_len);
			m->at = s->received;
			if (s->marks_tail)
				s->marks_tail->next = m;
			else
				s->marks = m;
			s->marks_tail = m;
			s->num_marks++;
		}
	} else if (!strcmp(event, "clear")) {
		on_clear(s);
	} else {
		bad_message(s, "an event that is not media, mark or clear");
	}
	bson_destroy(&doc);
}

/* ---- Life ---- */

static void free_stream(ps_stream *s)
{
	for (mark *m = s->marks, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	sova_ws_client_free(s->ws);
	free(s->url);
	free(s);
}

static void on_open(void *ud)
{
	ps_stream *s = ud;
	s->started = true;
	s->play_us = ps_now_us();
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "stream_start");
	ps_ev_str(&e, "stream_sid", s->sid);
	ps_ev_str(&e, "url", s->url);
	ps_ev_end(&e);
	ps_callee_begin(s->call, s->play_us);
}

/* The bot ended the stream (or it never opened): the call goes on without it. */
static void gone(ps_stream *s)
{
	struct ps_call *c = s->call;
	free_stream(s);   /* inside the client's own callback: sova_ws_client_free allows it */
	c->stream = NULL;
	ps_call_stream_gone(c);
}

static void on_close(void *ud, int code, const char *reason)
{
	ps_stream *s = ud;
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "stream_stop");
	ps_ev_str(&e, "stream_sid", s->sid);
	ps_ev_str(&e, "by", "bot");
	ps_ev_int(&e, "code", code);
	ps_ev_str(&e, "reason", reason);
	pacing_fields(s, &e);
	ps_ev_end(&e);
	gone(s);
}

static void on_error(void *ud, const char *reason)
{
	ps_stream *s = ud;
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "stream_failed");
	ps_ev_str(&e, "url", s->url);
	ps_ev_str(&e, "reason", reason);
	ps_ev_end(&e);
	gone(s);
}

ps_stream *ps_stream_open(struct ps_call *c, const tw_verb *verb)
{
	ps_stream *s = calloc(1, sizeof *s);
	char err[256] = "out of memory";
	if (s && (s->url = strdup(verb->url))) {
		s->call = c;
		ps_new_sid(s->sid, "MZ");
		sova_ws_client_config cfg = {.url = verb->url, .ca_file = ps_opt.ca_file, .max_queued_bytes = MAX_QUEUED,
					     .max_message_bytes = MAX_MESSAGE};
		sova_ws_callbacks cb = {.on_open = on_open, .on_frame = on_frame, .on_close = on_close, .on_error = on_error, .ud = s};
		s->ws = sova_ws_client_new(ps_ctx, &cfg, &cb, err, sizeof err);
	}
	if (!s || !s->ws) {
		ps_ev e;
		ps_ev_begin(&e, c->sid, "stream_failed");
		ps_ev_str(&e, "url", verb->url);
		ps_ev_str(&e, "reason", err);
		ps_ev_end(&e);
		if (s)
			free_stream(s);
		return NULL;
	}
	send_connected_and_start(s, verb); /* queued until the handshake is done */
	return s;
}

void ps_stream_stop(ps_stream *s, const char *why)
{
	if (s->started) {
		char msg[256];
		int n = snprintf(msg, sizeof msg,
				 "{\"event\":\"stop\",\"sequenceNumber\":\"%u\",\"streamSid\":\"%s\",\"stop\":{\"accountSid\":\"%s\","
				 "\"callSid\":\"%s\"}}",
				 ++s->seq, s->sid, s->call->account, s->call->sid);
		send_text(s, msg, (size_t)n);
		sova_ws_client_close(s->ws, 1000, "stop");
	}
	ps_ev e;
	ps_ev_begin(&e, s->call->sid, "stream_stop");
	ps_ev_str(&e, "stream_sid", s->sid);
	ps_ev_str(&e, "by", "sim");
	ps_ev_str(&e, "reason", why);
	ps_ev_bool(&e, "was_open", s->started);
	pacing_fields(s, &e);
	ps_ev_end(&e);
	free_stream(s); /* the close goes out in the background */
}

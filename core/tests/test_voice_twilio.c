/* A voice attached to a Twilio Media Streams socket (core/bot/voice_loop.c, mode "twilio"), through
 * the real bot loop: this test's main thread plays the Lua thread (voice commands, events), and a
 * blocking WebSocket client written here plays Twilio on the bot's live-socket path. The voices'
 * engines are the offline ones (pocketsphinx fed silence, flite speaking), so the agent's audio is
 * real and paced at real time. Listeners of a call (sova_voices_listener) are such clients too:
 * they hear both sides mixed, cannot be heard, and one that stops reading is dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "bot/loop.h"
#include "bot/media/audio.h"
#include "bot/media/twilio_stream.h"
#include "bot/speech/provider_util.h"
#include "bot/voice_loop.h"

#define ACCOUNT "ACfedcba9876543210fedcba9876543210"
#define CALL "CA0123456789abcdef0123456789abcdef"

static int port;
static char spool[] = "/tmp/sova-test-twilio-XXXXXX";

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the loop's events, kept until a test takes them ---- */

static sova_loop_event *events, **events_tail = &events;

static void pump(int ms)
{
	bool stopping;
	for (sova_loop_event *ev = sova_loop_wait(ms, &stopping); ev;) {
		sova_loop_event *next = ev->next;
		ev->next = NULL;
		*events_tail = ev;
		events_tail = &ev->next;
		ev = next;
	}
}

/* The oldest event of kind (for id, 0: any) whose voice body has that type; NULL when none came
 * within wait_ms. */
static sova_loop_event *take_within(int kind, long long id, const char *type, int wait_ms)
{
	char want[64] = "";
	if (type)
		snprintf(want, sizeof want, "{\"type\":\"%s\"", type);
	for (int64_t end = now_ms() + wait_ms;; pump(50)) {
		for (sova_loop_event **p = &events; *p; p = &(*p)->next) {
			sova_loop_event *ev = *p;
			if (ev->kind != kind || (id && ev->id != id) || (type && strncmp(ev->body, want, strlen(want)) != 0))
				continue;
			*p = ev->next;
			if (!*p)
				events_tail = p;
			ev->next = NULL;
			return ev;
		}
		if (now_ms() >= end)
			return NULL;
	}
}

static sova_loop_event *take(int kind, long long id, const char *type) { return take_within(kind, id, type, 8000); }

/* None of these came (what the loop had by now, after a short wait). */
static void none_of(long long voice, const char *type)
{
	sova_loop_event *ev = take_within(SOVA_EV_VOICE, voice, type, 200);
	if (ev)
		fail_msg("unexpected: %s", ev->body);
}

/* A voice event of that type (or the test fails); caller frees. */
static sova_loop_event *voice_event(long long voice, const char *type)
{
	sova_loop_event *ev = take(SOVA_EV_VOICE, voice, type);
	if (!ev)
		fail_msg("no %s event from voice %lld", type, voice);
	return ev;
}

static double number_in(const sova_loop_event *ev, const char *path)
{
	bson_t doc;
	double v = -1;
	assert_true(sova_json_parse(&doc, ev->body, ev->body_len));
	assert_true(sova_json_number(&doc, path, &v, NULL));
	bson_destroy(&doc);
	return v;
}

static void string_in(const sova_loop_event *ev, const char *path, const char *want)
{
	bson_t doc;
	const char *s;
	uint32_t n;
	assert_true(sova_json_parse(&doc, ev->body, ev->body_len));
	if (!sova_json_string(&doc, path, &s, &n, NULL))
		fail_msg("%s: no %s", ev->body, path);
	assert_string_equal(s, want);
	bson_destroy(&doc);
}

/* ---- Twilio's side: a blocking WebSocket client ---- */

typedef struct client {
	int fd;
	uint8_t buf[65536];
	size_t len;
	long long ws_id; /* the bot's id for it */
} client;

/* A WebSocket to path, with a receive buffer of rcvbuf bytes (0: the system's); the bot's ws_open
 * taken (c->ws_id). */
static void client_connect_with(client *c, const char *path, int rcvbuf)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	if (rcvbuf)
		assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
	char req[512];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 path);
	assert_int_equal(send(c->fd, req, (size_t)n, 0), n);
	char *end = NULL;
	while (!end) {
		ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
		assert_true(got > 0);
		c->len += (size_t)got;
		c->buf[c->len] = '\0';
		end = strstr((char *)c->buf, "\r\n\r\n");
	}
	assert_non_null(strstr((char *)c->buf, " 101 "));
	size_t head = (size_t)(end + 4 - (char *)c->buf);
	memmove(c->buf, c->buf + head, c->len - head);
	c->len -= head;
	sova_loop_event *open = take(SOVA_EV_WS_OPEN, 0, NULL);
	assert_non_null(open);
	c->ws_id = open->id;
	sova_loop_event_free(open);
}

static void client_connect(client *c, const char *path) { client_connect_with(c, path, 0); }

/* Twilio dialling in on the Media Streams path. */
static void client_open(client *c) { client_connect(c, "/twilio/media/0123456789abcdef0123456789abcdef"); }

static void client_send(client *c, const void *data, size_t len, int opcode)
{
	uint8_t frame[70000];
	size_t h = 0;
	frame[h++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		frame[h++] = (uint8_t)(0x80 | len);
	} else {
		assert_true(len < 65536);
		frame[h++] = 0x80 | 126;
		frame[h++] = (uint8_t)(len >> 8);
		frame[h++] = (uint8_t)len;
	}
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	memcpy(frame + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		frame[h + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
	assert_int_equal(send(c->fd, frame, h + len, MSG_NOSIGNAL), (ssize_t)(h + len));
}

static void client_text(client *c, const char *text) { client_send(c, text, strlen(text), 1); }

/* The next frame from the bot: its opcode, its payload NUL-terminated in out; -1 when nothing came
 * within timeout_ms (0: only what is here already), 0 when the socket closed. */
static int client_read(client *c, char *out, size_t cap, size_t *out_len, int timeout_ms)
{
	for (;;) {
		if (c->len >= 2) {
			size_t need = 2, plen = c->buf[1] & 0x7f;
			if (plen == 126) {
				need = 4;
				plen = c->len >= 4 ? (size_t)c->buf[2] << 8 | c->buf[3] : 0;
			}
			assert_true(plen != 127 && plen < cap);
			if (c->len >= need && c->len >= need + plen) {
				int op = c->buf[0] & 0x0f;
				memcpy(out, c->buf + need, plen);
				out[plen] = '\0';
				*out_len = plen;
				memmove(c->buf, c->buf + need + plen, c->len - need - plen);
				c->len -= need + plen;
				return op;
			}
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n <= 0)
			return 0;
		c->len += (size_t)n;
	}
}

static void client_close(client *c)
{
	close(c->fd);
	c->fd = -1;
	sova_loop_event *ev = take(SOVA_EV_WS_CLOSE, c->ws_id, NULL);
	assert_non_null(ev);
	sova_loop_event_free(ev);
}

static void client_start(client *c, const char *stream_sid, const char *session)
{
	char start[1024];
	snprintf(start, sizeof start,
		 "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"streamSid\":\"%s\",\"start\":{\"accountSid\":\"" ACCOUNT "\","
		 "\"streamSid\":\"%s\",\"callSid\":\"" CALL "\",\"tracks\":[\"inbound\"],\"customParameters\":{\"session\":\"%s\"},"
		 "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}}}",
		 stream_sid, stream_sid, session);
	client_text(c, "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}");
	client_text(c, start);
}

static void client_mark(client *c, const char *stream_sid, uint32_t turn)
{
	char mark[256];
	snprintf(mark, sizeof mark, "{\"event\":\"mark\",\"sequenceNumber\":\"9\",\"streamSid\":\"%s\",\"mark\":{\"name\":\"t%u\"}}",
		 stream_sid, turn);
	client_text(c, mark);
}

/* Reads the agent's media messages up to the next mark (or clear, when until_clear): every one of
 * the stream's sid; returns how many media messages came, the mark's turn in *turn. */
static int read_to_mark(client *c, const char *stream_sid, uint32_t *turn, bool until_clear)
{
	static char payload[65536];
	static sova_twilio_msg m;
	char err[160];
	size_t n;
	for (int frames = 0;;) {
		int op = client_read(c, payload, sizeof payload, &n, 8000);
		if (op != 1)
			fail_msg("waiting for a %s: opcode %d", until_clear ? "clear" : "mark", op);
		if (strstr(payload, "\"event\":\"clear\"")) {
			char want[256];
			snprintf(want, sizeof want, "{\"event\":\"clear\",\"streamSid\":\"%s\"}", stream_sid);
			assert_string_equal(payload, want);
			if (until_clear)
				return frames;
			fail_msg("a clear before the mark");
		}
		if (!sova_twilio_parse(&m, payload, n, err, sizeof err))
			fail_msg("the bot sent %.80s: %s", payload, err);
		assert_string_equal(m.stream_sid, stream_sid);
		if (m.event == SOVA_TWILIO_MEDIA) {
			assert_int_equal(m.audio_len, 160); /* 20 ms of μ-law 8 kHz */
			frames++;
			continue;
		}
		assert_int_equal(m.event, SOVA_TWILIO_MARK);
		assert_false(until_clear);
		assert_true(sova_twilio_mark_turn(m.mark, turn));
		return frames;
	}
}

/* ---- voices ---- */

static long long new_voice_as(sova_audio_encoding encoding, int rate)
{
	char err[256];
	sova_voice_spec *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->encoding = encoding;
	s->sample_rate = rate;
	s->stt.engine = strdup("pocketsphinx");
	s->tts.engine = strdup("flite");
	s->vad = SOVA_VAD_ENERGY;
	s->barge_in = false;
	long long id = sova_voices_new(s, err, sizeof err);
	assert_true(id > 0);
	sova_loop_event_free(voice_event(id, "ready"));
	return id;
}

static long long new_voice(void) { return new_voice_as(SOVA_AUDIO_MULAW, 8000); }

static uint32_t say(long long voice, const char *text)
{
	char err[160];
	assert_true(sova_voices_say(voice, text, strlen(text), true, err, sizeof err));
	sova_loop_event *ev = voice_event(voice, "agent_started");
	uint32_t turn = (uint32_t)number_in(ev, "turn");
	sova_loop_event_free(ev);
	return turn;
}

static void close_voice(long long voice)
{
	char err[160];
	assert_true(sova_voices_close(voice, err, sizeof err));
	sova_loop_event_free(voice_event(voice, "closed"));
}

/* ---- the cases ---- */

static void a_stream_starts_speaks_is_marked_and_heard(void **state)
{
	char err[160];
	long long v = new_voice();
	client c;
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	/* said before the stream started: paced out into nothing, not one byte sent */
	uint32_t early = say(v, "Hello.");
	sova_loop_event *done = voice_event(v, "agent_done");
	assert_int_equal(number_in(done, "turn"), early);
	sova_loop_event_free(done);
	char frame[65536];
	size_t n;
	assert_int_equal(client_read(&c, frame, sizeof frame, &n, 100), -1);

	client_start(&c, "MZ00000000000000000000000000000001", "s-1");
	sova_loop_event *start = voice_event(v, "stream_start");
	string_in(start, "call_sid", CALL);
	string_in(start, "stream_sid", "MZ00000000000000000000000000000001");
	string_in(start, "account_sid", ACCOUNT);
	string_in(start, "parameters.session", "s-1");
	sova_loop_event_free(start);

	client_text(&c, "{\"event\":\"dtmf\",\"streamSid\":\"MZ00000000000000000000000000000001\",\"dtmf\":{"
			"\"track\":\"inbound_track\",\"digit\":\"5\"}}");
	sova_loop_event *dtmf = voice_event(v, "dtmf");
	string_in(dtmf, "digit", "5");
	sova_loop_event_free(dtmf);
	/* the callee's audio: 20 ms of μ-law silence a message, taken without complaint */
	uint8_t silence[160];
	memset(silence, 0xff, sizeof silence);
	char b64[256], media[512];
	sodium_bin2base64(b64, sizeof b64, silence, sizeof silence, sodium_base64_VARIANT_ORIGINAL);
	snprintf(media, sizeof media,
		 "{\"event\":\"media\",\"streamSid\":\"MZ00000000000000000000000000000001\",\"media\":{\"track\":\"inbound\","
		 "\"payload\":\"%s\"}}",
		 b64);
	for (int i = 0; i < 10; i++)
		client_text(&c, media);

	uint32_t turn = say(v, "Good morning.");
	uint32_t marked = 0;
	int frames = read_to_mark(&c, "MZ00000000000000000000000000000001", &marked, false);
	assert_true(frames >= 10); /* "Good morning." is most of a second */
	assert_int_equal(marked, turn);
	done = voice_event(v, "agent_done");
	assert_int_equal(number_in(done, "turn"), turn);
	sova_loop_event_free(done);
	/* not played until the mark comes back; then once, however often it comes */
	none_of(v, "played");
	client_mark(&c, "MZ00000000000000000000000000000001", turn);
	client_mark(&c, "MZ00000000000000000000000000000001", turn);
	sova_loop_event *played = voice_event(v, "played");
	assert_int_equal(number_in(played, "turn"), turn);
	sova_loop_event_free(played);
	none_of(v, "played");
	none_of(v, "error");
	close_voice(v);
	client_close(&c);
}

static void marks_a_clear_returns_give_no_played(void **state)
{
	char err[160];
	const char *sid = "MZ00000000000000000000000000000002";
	long long v = new_voice();
	client c;
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	client_start(&c, sid, "s-2");
	sova_loop_event_free(voice_event(v, "stream_start"));
	/* turn A is sent in full and marked; its mark is still in Twilio's buffer */
	uint32_t a = say(v, "One.");
	uint32_t marked = 0;
	read_to_mark(&c, sid, &marked, false);
	assert_int_equal(marked, a);
	/* turn B is cut off: the bot clears, and Twilio returns A's mark */
	say(v, "This is a long line that the caller will not hear to its end, because it is cancelled.");
	assert_true(sova_voices_cancel(v, err, sizeof err));
	int frames = read_to_mark(&c, sid, NULL, true);
	assert_true(frames >= 1);
	client_mark(&c, sid, a);
	/* turn C is heard: its played is the only one */
	uint32_t cturn = say(v, "Two.");
	read_to_mark(&c, sid, &marked, false);
	assert_int_equal(marked, cturn);
	client_mark(&c, sid, cturn);
	sova_loop_event *played = voice_event(v, "played");
	assert_int_equal(number_in(played, "turn"), cturn);
	sova_loop_event_free(played);
	/* marks that are not ours, or of turns never marked, say nothing */
	client_mark(&c, sid, cturn + 5);
	client_text(&c, "{\"event\":\"mark\",\"streamSid\":\"MZ00000000000000000000000000000002\",\"mark\":{\"name\":\"t7c3\"}}");
	none_of(v, "played");
	none_of(v, "error");
	close_voice(v);
	client_close(&c);
}

static void a_stopped_stream_leaves_the_voice_for_the_next(void **state)
{
	char err[160];
	long long v = new_voice();
	client c;
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	client_start(&c, "MZ00000000000000000000000000000003", "s-3");
	sova_loop_event_free(voice_event(v, "stream_start"));
	client_text(&c, "{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"streamSid\":\"MZ00000000000000000000000000000003\","
			"\"stop\":{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\"}}");
	sova_loop_event_free(voice_event(v, "stream_stop"));
	client_close(&c);
	/* the reconnect (after a DTMF update): a new socket, a new stream sid, the same voice */
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	client_start(&c, "MZ00000000000000000000000000000004", "s-3");
	sova_loop_event *start = voice_event(v, "stream_start");
	string_in(start, "stream_sid", "MZ00000000000000000000000000000004");
	sova_loop_event_free(start);
	/* a message of the old stream is malformed here (counted, not fatal) */
	client_text(&c, "{\"event\":\"dtmf\",\"streamSid\":\"MZ00000000000000000000000000000003\",\"dtmf\":{\"digit\":\"1\"}}");
	uint32_t turn = say(v, "Welcome back.");
	uint32_t marked = 0;
	assert_true(read_to_mark(&c, "MZ00000000000000000000000000000004", &marked, false) > 0);
	assert_int_equal(marked, turn);
	client_mark(&c, "MZ00000000000000000000000000000004", turn);
	sova_loop_event *played = voice_event(v, "played");
	assert_int_equal(number_in(played, "turn"), turn);
	sova_loop_event_free(played);
	none_of(v, "dtmf");
	/* a socket that drops without a stop ends its stream too */
	close(c.fd);
	sova_loop_event_free(voice_event(v, "stream_stop"));
	sova_loop_event_free(take(SOVA_EV_WS_CLOSE, c.ws_id, NULL));
	none_of(v, "error");
	close_voice(v);
}

static void malformed_messages_past_the_limit_fail_that_call_alone(void **state)
{
	char err[160];
	long long v = new_voice(), other = new_voice();
	client c, d;
	client_open(&c);
	client_open(&d);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	assert_true(sova_voices_attach_twilio(other, d.ws_id, err, sizeof err));
	client_start(&c, "MZ00000000000000000000000000000005", "s-5");
	client_start(&d, "MZ00000000000000000000000000000006", "s-6");
	sova_loop_event_free(voice_event(v, "stream_start"));
	sova_loop_event_free(voice_event(other, "stream_start"));
	/* fifty are tolerated; an unknown event is not malformed */
	for (int i = 0; i < 50; i++)
		client_text(&c, i % 2 ? "{\"event\":\"media\",\"streamSid\":\"MZ00000000000000000000000000000005\",\"media\":{\"payload\":\"%%%\"}}"
				      : "{\"event\":");
	client_text(&c, "{\"event\":\"something_new\"}");
	none_of(v, "error");
	uint8_t bin[160];
	memset(bin, 0xff, sizeof bin);
	client_send(&c, bin, sizeof bin, 2); /* Twilio sends no binary frames */
	sova_loop_event *ev = voice_event(v, "error");
	assert_non_null(strstr(ev->body, "\"fatal\":true"));
	assert_non_null(strstr(ev->body, "malformed media stream messages"));
	sova_loop_event_free(ev);
	char frame[256];
	size_t n;
	int op;
	while ((op = client_read(&c, frame, sizeof frame, &n, 5000)) == 1)
		; /* anything the bot had sent before */
	assert_int_equal(op, 8);
	assert_true(n >= 2);
	assert_int_equal((uint8_t)frame[0] << 8 | (uint8_t)frame[1], 1008);
	/* the other call goes on */
	uint32_t turn = 0;
	assert_true(sova_voices_answered(other, err, sizeof err));
	uint32_t said = say(other, "Still here.");
	assert_true(read_to_mark(&d, "MZ00000000000000000000000000000006", &turn, false) > 0);
	assert_int_equal(turn, said);
	none_of(other, "error");
	close_voice(v);
	close_voice(other);
	close(c.fd);
	client_close(&d);
}

static void a_start_in_another_format_fails_the_call(void **state)
{
	char err[160];
	long long v = new_voice();
	client c;
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	client_text(&c, "{\"event\":\"start\",\"streamSid\":\"MZ00000000000000000000000000000007\",\"start\":{\"accountSid\":\""
			ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":16000,"
			"\"channels\":1}}}");
	sova_loop_event *ev = voice_event(v, "error");
	assert_non_null(strstr(ev->body, "\"fatal\":true"));
	sova_loop_event_free(ev);
	none_of(v, "stream_start");
	char frame[256];
	size_t n;
	assert_int_equal(client_read(&c, frame, sizeof frame, &n, 5000), 8);
	close_voice(v);
	close(c.fd);
}

static void the_audio_attach_form_still_sends_binary_frames(void **state)
{
	char err[160];
	long long v = new_voice();
	client c;
	client_connect(&c, "/calls/browser/live");
	assert_true(sova_voices_attach(v, c.ws_id, SOVA_AUDIO_MULAW, 8000, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	say(v, "Hi.");
	char frame[4096];
	size_t n;
	assert_int_equal(client_read(&c, frame, sizeof frame, &n, 5000), 2);
	assert_int_equal(n, 160);
	/* text frames stay Lua's on this socket */
	client_text(&c, "{\"event\":\"stop\"}");
	sova_loop_event *msg = take(SOVA_EV_WS_MESSAGE, c.ws_id, NULL);
	assert_non_null(msg);
	sova_loop_event_free(msg);
	close_voice(v);
	client_close(&c);
}

static void what_twilio_sends_before_the_attach_is_the_voices(void **state)
{
	char err[160];
	long long v = new_voice();
	client c;
	client_open(&c);
	/* Twilio's first messages follow the upgrade at once, long before Lua attaches */
	client_start(&c, "MZ00000000000000000000000000000008", "s-8");
	none_of(v, "stream_start");
	assert_null(take_within(SOVA_EV_WS_MESSAGE, c.ws_id, NULL, 100));
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	sova_loop_event *start = voice_event(v, "stream_start");
	string_in(start, "stream_sid", "MZ00000000000000000000000000000008");
	sova_loop_event_free(start);
	assert_null(take_within(SOVA_EV_WS_MESSAGE, c.ws_id, NULL, 100));
	close_voice(v);
	client_close(&c);
}

static void only_token_shaped_media_paths_are_upgraded(void **state)
{
	static const char *const BAD[] = {"/twilio/media/", "/twilio/media/0123456789ABCDEF0123456789abcdef",
					  "/twilio/media/0123456789abcdef0123456789abcde", "/twilio/media/0123456789abcdef0123456789abcdef0",
					  "/twilio/media/0123456789abcdef0123456789abcdef/x", "/twilio/status/0123456789abcdef0123456789abcdef"};
	for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
		char req[512], answer[1024] = "";
		int n = snprintf(req, sizeof req,
				 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
				 BAD[i]);
		assert_int_equal(send(fd, req, (size_t)n, 0), n);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) == 1)
			(void)!recv(fd, answer, sizeof answer - 1, 0);
		if (strstr(answer, " 101 "))
			fail_msg("%s was upgraded", BAD[i]);
		close(fd);
	}
	assert_null(take_within(SOVA_EV_WS_OPEN, 0, NULL, 100));
}

/* ---- listeners ---- */

/* One Media Streams media message of 20 ms: a 440 Hz tone (amplitude > 0) or silence. */
static void tone_media(char *out, size_t cap, const char *stream_sid, int amplitude, int *phase)
{
	int16_t pcm[160];
	uint8_t mulaw[160];
	char b64[256];
	for (int i = 0; i < 160; i++, (*phase)++)
		pcm[i] = (int16_t)(amplitude * sin(2 * M_PI * 440 * *phase / 8000.0));
	sova_mulaw_encode_frame(pcm, 160, mulaw);
	sodium_bin2base64(b64, sizeof b64, mulaw, sizeof mulaw, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, cap, "{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"track\":\"inbound\",\"payload\":\"%s\"}}",
		 stream_sid, b64);
}

/* What a listener received so far: frames, how many of them were loud (RMS above 300), and
 * whether any had another size than frame_bytes. */
typedef struct heard {
	int frames, loud, odd;
} heard;

static void hear(client *l, heard *h, size_t frame_bytes, int timeout_ms)
{
	static char payload[65536];
	size_t n;
	int op;
	while ((op = client_read(l, payload, sizeof payload, &n, timeout_ms)) == 2) {
		h->frames++;
		if (n != frame_bytes) {
			h->odd++;
			continue;
		}
		double sum = 0;
		for (size_t i = 0; i + 1 < n; i += 2) {
			int16_t v = (int16_t)((uint8_t)payload[i] | (uint8_t)payload[i + 1] << 8);
			sum += (double)v * v;
		}
		if (sqrt(sum / (double)(n / 2)) > 300)
			h->loud++;
		timeout_ms = 0;
	}
	assert_int_equal(op, -1); /* no text after listen.ready, and not closed */
}

/* Sends count 20 ms media messages on the real-time grid, reading the listener meanwhile. */
static void far_end_for(client *c, const char *sid, int amplitude, int count, client *l, heard *h, size_t frame_bytes)
{
	static int phase;
	char media[1024];
	int64_t next = now_ms();
	for (int i = 0; i < count; i++, next += 20) {
		tone_media(media, sizeof media, sid, amplitude, &phase);
		client_text(c, media);
		int64_t wait = next + 20 - now_ms();
		hear(l, h, frame_bytes, wait > 0 ? (int)wait : 0);
		while (now_ms() < next + 20)
			hear(l, h, frame_bytes, 1);
	}
}

static void a_listener_hears_both_sides_and_is_never_heard(void **state)
{
	char err[160];
	const char *sid = "MZ00000000000000000000000000000009";
	long long v = new_voice();
	client c, l;
	client_open(&c);
	assert_true(sova_voices_attach_twilio(v, c.ws_id, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	client_start(&c, sid, "s-9");
	sova_loop_event_free(voice_event(v, "stream_start"));
	client_connect(&l, "/calls/s-9/listen");
	assert_true(sova_voices_listener(v, l.ws_id, true, err, sizeof err));
	char frame[4096];
	size_t n;
	assert_int_equal(client_read(&l, frame, sizeof frame, &n, 2000), 1);
	assert_string_equal(frame, "{\"type\":\"listen.ready\",\"encoding\":\"pcm_s16le\",\"sample_rate\":8000,\"channels\":1,"
				   "\"frame_ms\":20}");

	/* the far end: a second of tone, then silence; the agent says nothing */
	heard tone = {0};
	far_end_for(&c, sid, 8000, 50, &l, &tone, 320);
	far_end_for(&c, sid, 0, 15, &l, &tone, 320);
	assert_int_equal(tone.odd, 0);
	assert_true(tone.frames >= 55);  /* 20 ms frames in real time, 1.3 s of them */
	assert_true(tone.loud >= 40);    /* the far end's second, heard */
	assert_true(tone.loud <= 52);

	/* the listener talks: loud PCM, and a line of text. Nothing of it is heard or reaches Lua. */
	heard quiet = {0};
	int16_t pcm[160];
	uint8_t bytes[320];
	for (int i = 0; i < 160; i++)
		pcm[i] = (int16_t)(i % 2 ? 12000 : -12000);
	sova_pcm16le_write(pcm, 160, bytes);
	client_text(&l, "{\"type\":\"say\",\"text\":\"I am not the other party.\"}");
	for (int i = 0; i < 50; i++) {
		client_send(&l, bytes, sizeof bytes, 2);
		far_end_for(&c, sid, 0, 1, &l, &quiet, 320);
	}
	assert_true(quiet.frames >= 40);
	assert_int_equal(quiet.loud, 0);
	assert_null(take_within(SOVA_EV_WS_MESSAGE, l.ws_id, NULL, 100));
	none_of(v, "error");

	/* the agent speaks: heard by the listener, and by the far end as ever */
	heard agent = {0};
	uint32_t turn = say(v, "Good morning, this is the clinic calling.");
	uint32_t marked = 0;
	assert_true(read_to_mark(&c, sid, &marked, false) >= 50);
	assert_int_equal(marked, turn);
	hear(&l, &agent, 320, 300);
	assert_true(agent.loud >= 25);

	/* off: no more frames, and the socket's messages are Lua's again */
	assert_true(sova_voices_listener(v, l.ws_id, false, err, sizeof err));
	pump(50);
	while (client_read(&l, frame, sizeof frame, &n, 100) == 2)
		;
	assert_int_equal(client_read(&l, frame, sizeof frame, &n, 200), -1);
	client_text(&l, "{\"type\":\"say\"}");
	sova_loop_event *msg = take(SOVA_EV_WS_MESSAGE, l.ws_id, NULL);
	assert_non_null(msg);
	sova_loop_event_free(msg);
	none_of(v, "error");
	close_voice(v);
	client_close(&c);
	client_close(&l);
}

/* The caller's frames and the reading listener's, for ms: the gaps between the caller's. */
typedef struct call_side {
	int frames;
	int64_t last, worst_gap;
} call_side;

static void caller_and_listener_for(client *c, call_side *cs, client *ok, heard *fine, int ms)
{
	static char frame[65536];
	size_t n;
	for (int64_t end = now_ms() + ms; now_ms() < end;) {
		int op;
		while ((op = client_read(c, frame, sizeof frame, &n, 5)) == 2) {
			assert_int_equal(n, 1920);
			int64_t t = now_ms();
			if (cs->frames++ && t - cs->last > cs->worst_gap)
				cs->worst_gap = t - cs->last;
			cs->last = t;
		}
		if (op != -1)
			fail_msg("the caller's socket: opcode %d %.200s", op, frame);
		hear(ok, fine, 1920, 0);
	}
}

static void a_listener_that_stops_reading_is_dropped_and_the_call_goes_on(void **state)
{
	char err[160];
	/* a browser voice call at 48 kHz: 1920 bytes a frame, so the stalled reader's buffers fill in
	 * about a second; 2 s later it is dropped */
	long long v = new_voice_as(SOVA_AUDIO_PCM16, 48000);
	client c, l, ok;
	client_connect(&c, "/calls/browser/live");
	assert_true(sova_voices_attach(v, c.ws_id, SOVA_AUDIO_PCM16, 48000, err, sizeof err));
	assert_true(sova_voices_answered(v, err, sizeof err));
	client_connect_with(&l, "/calls/browser/listen", 4096);
	client_connect(&ok, "/calls/browser/listen");
	assert_true(sova_voices_listener(v, l.ws_id, true, err, sizeof err));
	assert_true(sova_voices_listener(v, ok.ws_id, true, err, sizeof err));
	static char frame[65536];
	size_t n;
	assert_int_equal(client_read(&ok, frame, sizeof frame, &n, 2000), 1); /* listen.ready */
	assert_non_null(strstr(frame, "\"sample_rate\":48000"));
	say(v, "This line is long on purpose. It goes on while one of the listeners has stopped reading its audio, "
	       "and the call must not notice that at all. The other listener keeps hearing it, and so does the caller, "
	       "frame after frame, at the same pace as ever, until the very last word of it.");
	call_side cs = {0};
	heard fine = {0};
	/* l reads nothing for 5 s */
	caller_and_listener_for(&c, &cs, &ok, &fine, 5000);
	int heard_by_then = fine.frames;
	/* then everything it was sent: listen.ready, the frames up to its stall, and the close (1008) */
	int op, frames = 0;
	assert_int_equal(client_read(&l, frame, sizeof frame, &n, 1000), 1);
	while ((op = client_read(&l, frame, sizeof frame, &n, 1000)) == 2)
		frames++;
	assert_int_equal(op, 8);
	assert_int_equal((uint8_t)frame[0] << 8 | (uint8_t)frame[1], 1008);
	assert_true(frames < heard_by_then - 50); /* cut off a second or more before the end */
	sova_loop_event *closed = take(SOVA_EV_WS_CLOSE, l.ws_id, NULL);
	assert_non_null(closed);
	sova_loop_event_free(closed);
	/* the call went on, and goes on, never waiting for it */
	int before = cs.frames;
	caller_and_listener_for(&c, &cs, &ok, &fine, 1000);
	assert_true(cs.frames - before >= 40);
	assert_true(cs.frames >= 280);
	assert_true(cs.worst_gap < 500);
	assert_int_equal(fine.odd, 0);
	assert_true(fine.loud >= 100); /* the listener that reads heard the line throughout */
	none_of(v, "error");
	close(l.fd);
	close_voice(v);
	client_close(&c);
	client_close(&ok);
}

/* ---- start and stop ---- */

static int start(void **state)
{
	char err[256];
	if (!mkdtemp(spool) || !sova_loop_init(err, sizeof err))
		return -1;
	sova_loop_config cfg = {.host = "127.0.0.1", .port = 0, .reply_timeout_ms = 1000};
	if (!sova_loop_start(&cfg, &port, err, sizeof err) || !sova_voices_init(spool, err, sizeof err)) {
		fprintf(stderr, "start: %s\n", err);
		return -1;
	}
	return 0;
}

static int stop(void **state)
{
	sova_loop_shutdown();
	sova_voices_shutdown();
	while (events) {
		sova_loop_event *ev = events;
		events = ev->next;
		sova_loop_event_free(ev);
	}
	return rmdir(spool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_stream_starts_speaks_is_marked_and_heard),
		cmocka_unit_test(marks_a_clear_returns_give_no_played),
		cmocka_unit_test(a_stopped_stream_leaves_the_voice_for_the_next),
		cmocka_unit_test(malformed_messages_past_the_limit_fail_that_call_alone),
		cmocka_unit_test(a_start_in_another_format_fails_the_call),
		cmocka_unit_test(the_audio_attach_form_still_sends_binary_frames),
		cmocka_unit_test(what_twilio_sends_before_the_attach_is_the_voices),
		cmocka_unit_test(only_token_shaped_media_paths_are_upgraded),
		cmocka_unit_test(a_listener_hears_both_sides_and_is_never_heard),
		cmocka_unit_test(a_listener_that_stops_reading_is_dropped_and_the_call_goes_on),
	};
	return cmocka_run_group_tests(tests, start, stop);
}

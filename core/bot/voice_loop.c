/* Voice calls on the media thread (voice_loop.h). The Lua thread posts commands; the media thread
 * alone touches a voice, its engines, its recorder and its socket, so none of them needs a lock.
 * Blocking engines (pocketsphinx, flite, espeak) run on the offload pool and deliver on the tick;
 * cloud engines are lws clients on the loop itself. */
#include "bot/voice_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/loop.h"
#include "bot/media/audio.h"
#include "bot/media/listen_mix.h"
#include "bot/media/recorder.h"
#include "bot/media/twilio_stream.h"
#include "bot/media/voice.h"
#include "bot/speech/offline.h"
#include "bot/speech/offload.h"
#include "bot/speech/provider_util.h"
#include "bot/speech/stt_deepgram.h"
#include "bot/speech/tts_cartesia.h"
#include "bot/speech/tts_elevenlabs.h"
#include "crypto/spill.h"
#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts_flite.h"
#include "util/log.h"

/* A socket that has not taken a frame for this long has stopped reading: the call fails. */
#define STALLED_NS (2000LL * 1000 * 1000)
/* Malformed frames (or Media Streams messages) from the far end a call tolerates before it fails. */
#define MAX_BAD_FRAMES 50
#define BUCKETS 1024
/* Marks not yet written because the socket was busy: at most the lines that can end in one tick. */
#define MAX_PENDING_MARKS (SOVA_VOICE_MAX_LINES + 1)

/* A socket attached "twilio" speaks Media Streams (bot/media/twilio_stream.h): JSON text frames,
 * μ-law 8 kHz in base64. Each agent turn's last frame is followed by the mark "t<turn>"; the mark
 * coming back means the callee heard all of it, except the marks Twilio returns because a clear
 * emptied its buffer: every mark written before a clear comes back unplayed (VOICE-NOTES §2). */
typedef struct twilio_stream {
	char stream_sid[SOVA_TWILIO_MAX_SID + 1]; /* the running stream's; "" until its start: nothing is sent */
	uint32_t mark_sent;    /* the newest turn whose mark was written */
	uint32_t mark_back;    /* the newest turn whose mark came back */
	uint32_t cleared_upto; /* marks of turns up to this were written before a clear: not played */
	uint32_t pending[MAX_PENDING_MARKS]; /* marks waiting for a socket that was busy, oldest first */
	size_t num_pending;
	bool clear_pending;    /* a clear waits likewise (before the marks) */
} twilio_stream;

struct listener;

typedef struct voice_slot {
	struct voice_slot *next; /* bucket chain */
	long long id;
	sova_voice *voice;     /* owned */
	sova_recorder *rec;    /* owned; NULL when not recording */
	long long ws_id;       /* the attached live socket, 0 when none */
	sova_audio_encoding encoding; /* the voice's wire format, fixed when it was made */
	int rate;
	/* the socket's format, which may differ (a browser switching to phone quality mid-call): the
	 * audio is converted both ways; NULL resamplers when the rates are equal */
	sova_audio_encoding sock_encoding;
	int sock_rate;
	sova_resampler *to_voice, *to_socket; /* owned */
	int64_t stalled_since; /* the socket's writer has been busy since (0: it is not) */
	int bad_frames;
	bool failed;           /* a fatal error was reported: nothing more is sent */
	bool twilio;           /* the socket speaks Media Streams (attached "twilio") */
	twilio_stream tw;
	uint64_t late_ms_counted[SOVA_VOICE_LATE_BUCKETS]; /* the voice's pacing already in V.late_ms */
	bool rec_failed;       /* the recorder refused audio: the rest of the call is not recorded */
	/* the sockets listening to the call (voice_loop.h), and the mix they hear: made with the first,
	 * freed with the last, so a call nobody listens to holds nothing for it */
	struct listener *listeners[SOVA_VOICE_MAX_LISTENERS]; /* owned */
	size_t num_listeners;
	sova_listen_mix *mix; /* owned */
	int64_t t0;           /* CLOCK_MONOTONIC ns when the voice began: its recording's position 0 */
} voice_slot;

static struct {
	voice_slot *buckets[BUCKETS];
	sova_offload *offload;
	sova_ps_model *ps_model; /* loaded on a worker with the first offline recognizer */
	char *spool_dir;
	_Atomic long long next_id;
	/* every voice's frames out by lateness (sova_voice_stats.late_ms), read by any thread */
	_Atomic uint64_t late_ms[SOVA_VOICE_LATE_BUCKETS];
	unsigned ticks;
} V;

/* pocketsphinx's shared model: loaded at start, or by the first worker that needs it */
static pthread_mutex_t ps_lock = PTHREAD_MUTEX_INITIALIZER;

static voice_slot *find(long long id)
{
	for (voice_slot *s = V.buckets[(unsigned long long)id % BUCKETS]; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void unlink_slot(voice_slot *slot)
{
	for (voice_slot **p = &V.buckets[(unsigned long long)slot->id % BUCKETS]; *p; p = &(*p)->next)
		if (*p == slot) {
			*p = slot->next;
			return;
		}
}

/* Adds what the voice paced out since the last time to the bot's pacing figures. */
static void count_pacing(voice_slot *s)
{
	sova_voice_stats st;
	sova_voice_get_stats(s->voice, &st);
	for (int k = 0; k < SOVA_VOICE_LATE_BUCKETS; k++)
		if (st.late_ms[k] != s->late_ms_counted[k]) {
			atomic_fetch_add_explicit(&V.late_ms[k], st.late_ms[k] - s->late_ms_counted[k], memory_order_relaxed);
			s->late_ms_counted[k] = st.late_ms[k];
		}
}

void sova_voices_pacing(uint64_t out[SOVA_VOICE_LATE_BUCKETS])
{
	for (int k = 0; k < SOVA_VOICE_LATE_BUCKETS; k++)
		out[k] = atomic_load_explicit(&V.late_ms[k], memory_order_relaxed);
}

/* ---- events to Lua ---- */

typedef struct jbuf {
	char s[2048];
	size_t n;
} jbuf;

static void j_raw(jbuf *b, const char *s)
{
	size_t k = strlen(s);
	if (b->n + k < sizeof b->s) {
		memcpy(b->s + b->n, s, k + 1);
		b->n += k;
	}
}

static void j_str(jbuf *b, const char *key, const char *value)
{
	char q[1400];
	size_t need = sova_json_quote(q, sizeof q, value ? value : "");
	if (need >= sizeof q)
		sova_json_quote(q, sizeof q, "(too long)");
	char head[64];
	snprintf(head, sizeof head, ",\"%s\":", key);
	j_raw(b, head);
	j_raw(b, q);
}

static void j_num(jbuf *b, const char *key, double value)
{
	char s[96];
	snprintf(s, sizeof s, ",\"%s\":%.17g", key, value);
	j_raw(b, s);
}

static void emit(long long id, jbuf *b)
{
	j_raw(b, "}");
	sova_loop_emit(SOVA_EV_VOICE, id, b->s, b->n);
}

static void begin(jbuf *b, const char *type)
{
	b->n = 0;
	b->s[0] = '\0';
	j_raw(b, "{\"type\":\"");
	j_raw(b, type);
	j_raw(b, "\"");
}

static void emit_error(long long id, const char *text, bool fatal)
{
	jbuf b;
	begin(&b, "error");
	j_str(&b, "text", text);
	j_raw(&b, fatal ? ",\"fatal\":true" : ",\"fatal\":false");
	emit(id, &b);
}

static void fail(voice_slot *slot, const char *why)
{
	if (slot->failed)
		return;
	slot->failed = true;
	emit_error(slot->id, why, true);
}

/* ---- converting between the socket's format and the voice's (media thread) ---- */

#define MAX_FRAME_SAMPLES 4800 /* 100 ms at 48 kHz */

static int16_t conv_a[MAX_FRAME_SAMPLES * 6 + 64], conv_b[MAX_FRAME_SAMPLES * 6 + 64];
static uint8_t conv_wire[(MAX_FRAME_SAMPLES * 6 + 64) * 2];

/* wire bytes of enc into PCM16 samples; false when they are not whole samples */
static bool decode_wire(sova_audio_encoding enc, const uint8_t *in, size_t len, int16_t *out, size_t cap, size_t *n)
{
	if (enc == SOVA_AUDIO_MULAW) {
		if (len > cap)
			return false;
		sova_mulaw_decode_frame(in, len, out);
		*n = len;
		return true;
	}
	if (!sova_pcm16le_samples(len, n) || *n > cap)
		return false;
	sova_pcm16le_read(in, *n, out);
	return true;
}

static size_t encode_wire(sova_audio_encoding enc, const int16_t *pcm, size_t n, uint8_t *out)
{
	if (enc == SOVA_AUDIO_MULAW) {
		sova_mulaw_encode_frame(pcm, n, out);
		return n;
	}
	sova_pcm16le_write(pcm, n, out);
	return 2 * n;
}

/* converts len bytes from one format to the other into conv_wire; returns its length, or 0 with
 * err when the frame is malformed */
static size_t convert(sova_audio_encoding from_enc, sova_resampler *rs, sova_audio_encoding to_enc, int from_rate,
		      const uint8_t *in, size_t len, char *err, size_t errlen)
{
	size_t n = 0;
	if (len == 0 || !decode_wire(from_enc, in, len, conv_a, sova_frame_samples(from_rate, 100), &n) || n == 0) {
		snprintf(err, errlen, "a frame of %zu bytes is not %s audio of 100 ms or less", len,
			 from_enc == SOVA_AUDIO_MULAW ? "mu-law" : "PCM16");
		return 0;
	}
	const int16_t *pcm = conv_a;
	if (rs) {
		size_t m = 0;
		if (sova_resampler_process(rs, conv_a, n, conv_b, sizeof conv_b / sizeof *conv_b, &m) != 0) {
			snprintf(err, errlen, "resampling failed");
			return 0;
		}
		pcm = conv_b, n = m;
	}
	return encode_wire(to_enc, pcm, n, conv_wire);
}

static bool same_format(const voice_slot *s) { return s->sock_encoding == s->encoding && s->sock_rate == s->rate; }

/* the socket's format from here on; false with err when a resampler cannot be made */
static bool set_socket_format(voice_slot *s, sova_audio_encoding enc, int rate, char *err, size_t errlen)
{
	sova_resampler *in = NULL, *out = NULL;
	if (rate != s->rate) {
		in = sova_resampler_new(rate, s->rate, err, errlen);
		out = in ? sova_resampler_new(s->rate, rate, err, errlen) : NULL;
		if (!out) {
			sova_resampler_free(in);
			return false;
		}
	}
	sova_resampler_free(s->to_voice);
	sova_resampler_free(s->to_socket);
	s->to_voice = in, s->to_socket = out;
	s->sock_encoding = enc, s->sock_rate = rate;
	return true;
}

/* The socket's audio into the voice, converted when the formats differ; false with err for a
 * malformed frame. */
static bool audio_in(voice_slot *slot, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	if (same_format(slot))
		return sova_voice_input(slot->voice, data, len, err, errlen);
	size_t n = convert(slot->sock_encoding, slot->to_voice, slot->encoding, slot->sock_rate, data, len, err, errlen);
	return n && sova_voice_input(slot->voice, conv_wire, n, err, errlen);
}

/* The call fails, and a Media Streams socket is closed: Twilio ends the stream (the call's other
 * legs are Lua's to end). */
static void fail_socket(voice_slot *slot, const char *why)
{
	fail(slot, why);
	if (slot->twilio && slot->ws_id)
		sova_loop_ws_close_with(slot->ws_id, 1008, "malformed media stream");
}

/* One more malformed frame; past MAX_BAD_FRAMES the call fails (this call only). */
static void count_bad(voice_slot *slot, const char *err)
{
	if (++slot->bad_frames <= MAX_BAD_FRAMES)
		return;
	char why[256];
	snprintf(why, sizeof why, "input: more than %d malformed %s (the last: %s)", MAX_BAD_FRAMES,
		 slot->twilio ? "media stream messages" : "audio frames", err);
	fail_socket(slot, why);
}

/* ---- Twilio Media Streams (media thread) ---- */

static sova_sbuf tw_out;       /* the frame being written; freed at shutdown */
static sova_twilio_msg tw_msg; /* the message being read */

static int tw_write(voice_slot *s) { return sova_loop_ws_write(s->ws_id, tw_out.data, tw_out.len, false); }

static void no_memory(const char *what) { sova_log("error", "voice.twilio", what); }

/* Marks written or waiting all count as written: a clear or the stream's end takes them back. */
static void tw_settle_pending(twilio_stream *t)
{
	for (size_t i = 0; i < t->num_pending; i++)
		if (t->pending[i] > t->mark_sent)
			t->mark_sent = t->pending[i];
	t->num_pending = 0;
}

/* No stream (a socket attached, or the stream stopped): the old stream's marks never come back. */
static void tw_reset(voice_slot *s)
{
	twilio_stream *t = &s->tw;
	tw_settle_pending(t);
	t->mark_back = t->cleared_upto = t->mark_sent;
	t->clear_pending = false;
	t->stream_sid[0] = '\0';
}

/* Writes what waited for a busy socket, in order; false while some of it still waits. */
static bool tw_flush(voice_slot *s)
{
	twilio_stream *t = &s->tw;
	if (t->clear_pending) {
		if (!sova_twilio_clear_frame(&tw_out, t->stream_sid)) {
			no_memory("out of memory: a clear waits");
			return false;
		}
		if (tw_write(s) == SOVA_WS_BUSY)
			return false;
		t->clear_pending = false;
	}
	size_t k = 0;
	for (; k < t->num_pending; k++) {
		if (!sova_twilio_mark_frame(&tw_out, t->stream_sid, t->pending[k])) {
			no_memory("out of memory: a mark waits");
			break;
		}
		int r = tw_write(s);
		if (r == SOVA_WS_BUSY)
			break;
		if (r == SOVA_WS_SENT)
			t->mark_sent = t->pending[k];
	}
	memmove(t->pending, t->pending + k, (t->num_pending - k) * sizeof *t->pending);
	t->num_pending -= k;
	return t->num_pending == 0;
}

/* Turn's last frame went out: its mark follows it (behind whatever waits). */
static void tw_mark(voice_slot *s, uint32_t turn)
{
	twilio_stream *t = &s->tw;
	if (!s->ws_id || !t->stream_sid[0])
		return;
	if (!t->clear_pending && t->num_pending == 0) {
		if (!sova_twilio_mark_frame(&tw_out, t->stream_sid, turn)) {
			no_memory("out of memory: a mark was not sent");
			return;
		}
		int r = tw_write(s);
		if (r == SOVA_WS_SENT)
			t->mark_sent = turn;
		if (r != SOVA_WS_BUSY)
			return;
	}
	if (t->num_pending == MAX_PENDING_MARKS) { /* more lines than can end in a tick: the oldest is not told */
		memmove(t->pending, t->pending + 1, (MAX_PENDING_MARKS - 1) * sizeof *t->pending);
		t->num_pending--;
	}
	t->pending[t->num_pending++] = turn;
}

/* Barge-in or cancel: Twilio drops its buffer and returns every mark written before. */
static void tw_clear(voice_slot *s)
{
	twilio_stream *t = &s->tw;
	tw_settle_pending(t); /* waiting marks follow audio the clear drops: never sent */
	t->cleared_upto = t->mark_sent;
	if (!s->ws_id || !t->stream_sid[0])
		return;
	if (!sova_twilio_clear_frame(&tw_out, t->stream_sid)) {
		no_memory("out of memory: a clear was not sent");
		return;
	}
	t->clear_pending = tw_write(s) == SOVA_WS_BUSY;
}

/* One agent frame (already in the socket's format) as a media message. */
static void tw_media(voice_slot *s, const uint8_t *mulaw, size_t len)
{
	twilio_stream *t = &s->tw;
	if (!t->stream_sid[0])
		return; /* nothing before the stream's start gave its sid */
	if ((t->clear_pending || t->num_pending) && !tw_flush(s))
		return; /* the socket is busy: dropped, as a binary frame would be */
	if (sova_twilio_media_frame(&tw_out, t->stream_sid, mulaw, len))
		tw_write(s);
}

static void tw_emit_start(voice_slot *s, const sova_twilio_msg *m)
{
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, "{\"type\":\"stream_start\",\"call_sid\":");
	sova_sbuf_json_string(&b, m->call_sid, strlen(m->call_sid));
	sova_sbuf_adds(&b, ",\"stream_sid\":");
	sova_sbuf_json_string(&b, m->stream_sid, strlen(m->stream_sid));
	sova_sbuf_adds(&b, ",\"account_sid\":");
	sova_sbuf_json_string(&b, m->account_sid, strlen(m->account_sid));
	sova_sbuf_adds(&b, ",\"parameters\":{");
	for (size_t i = 0; i < m->num_params; i++) {
		if (i)
			sova_sbuf_adds(&b, ",");
		sova_sbuf_json_string(&b, m->params[i].name, strlen(m->params[i].name));
		sova_sbuf_adds(&b, ":");
		sova_sbuf_json_string(&b, m->params[i].value, strlen(m->params[i].value));
	}
	sova_sbuf_adds(&b, "}}");
	if (b.failed)
		fail_socket(s, "input: out of memory at the media stream's start");
	else
		sova_loop_emit(SOVA_EV_VOICE, s->id, b.data, b.len);
	sova_sbuf_free(&b);
}

/* One frame from a Media Streams socket. */
static void tw_frame(voice_slot *s, const uint8_t *data, size_t len, bool binary)
{
	char err[160];
	sova_twilio_msg *m = &tw_msg;
	twilio_stream *t = &s->tw;
	if (binary) {
		count_bad(s, "media stream: a binary frame");
		return;
	}
	if (!sova_twilio_parse(m, data, len, err, sizeof err)) {
		count_bad(s, err);
		return;
	}
	if (m->event == SOVA_TWILIO_CONNECTED || m->event == SOVA_TWILIO_OTHER)
		return;
	if (m->event == SOVA_TWILIO_START) {
		if (t->stream_sid[0]) {
			count_bad(s, "media stream: a second start");
		} else if (strcmp(m->encoding, "audio/x-mulaw") != 0 || m->sample_rate != 8000 || m->channels != 1) {
			fail_socket(s, "input: the media stream's audio is not mu-law 8 kHz mono");
		} else {
			memcpy(t->stream_sid, m->stream_sid, sizeof t->stream_sid);
			tw_emit_start(s, m);
		}
		return;
	}
	if (!t->stream_sid[0] || strcmp(m->stream_sid, t->stream_sid) != 0) {
		count_bad(s, "media stream: a message before its start or of another stream");
		return;
	}
	jbuf b;
	switch (m->event) {
	case SOVA_TWILIO_MEDIA:
		if (!audio_in(s, m->audio, m->audio_len, err, sizeof err))
			count_bad(s, err);
		return;
	case SOVA_TWILIO_DTMF: {
		char digit[2] = {m->digit, '\0'};
		begin(&b, "dtmf");
		j_str(&b, "digit", digit);
		break;
	}
	case SOVA_TWILIO_MARK: {
		uint32_t turn;
		/* not one of ours, not written on this stream, or told already: nothing to say */
		if (!sova_twilio_mark_turn(m->mark, &turn) || turn > t->mark_sent || turn <= t->mark_back)
			return;
		t->mark_back = turn;
		if (turn <= t->cleared_upto)
			return; /* returned by a clear: that turn was interrupted, not heard */
		begin(&b, "played");
		j_num(&b, "turn", turn);
		break;
	}
	default: /* stop: the voice stays, for the stream that may follow (a reconnect) */
		tw_reset(s);
		begin(&b, "stream_stop");
		break;
	}
	emit(s->id, &b);
}

/* ---- the voice's callbacks (media thread) ---- */

static void on_voice_event(void *ud, const sova_voice_event *ev)
{
	voice_slot *slot = ud;
	jbuf b;
	switch (ev->kind) {
	case SOVA_VOICE_SPEECH_STARTED:
		begin(&b, "speech_started");
		if (ev->probe) /* on hold: the watcher suspects a voice, the transcript will tell */
			j_raw(&b, ",\"probe\":true");
		break;
	case SOVA_VOICE_SPEECH_STOPPED:
		begin(&b, "speech_stopped");
		break;
	case SOVA_VOICE_INTERIM:
		begin(&b, "interim");
		j_str(&b, "text", ev->text);
		break;
	case SOVA_VOICE_FINAL:
		begin(&b, "final");
		j_str(&b, "text", ev->text);
		break;
	case SOVA_VOICE_END_OF_TURN:
		begin(&b, "end_of_turn");
		j_str(&b, "text", ev->text);
		j_num(&b, "confidence", ev->confidence);
		break;
	case SOVA_VOICE_AGENT_STARTED: {
		begin(&b, "agent_started");
		j_num(&b, "turn", ev->turn);
		const sova_voice_stamps *t = &ev->stamps;
		char s[256];
		snprintf(s, sizeof s,
			 ",\"stamps\":{\"speech_end\":%lld,\"final_transcript\":%lld,\"turn_end\":%lld,\"say_requested\":%lld,"
			 "\"first_audio\":%lld,\"first_frame_out\":%lld}",
			 (long long)t->speech_end, (long long)t->final_transcript, (long long)t->turn_end, (long long)t->say_requested,
			 (long long)t->first_audio, (long long)t->first_frame_out);
		j_raw(&b, s);
		break;
	}
	case SOVA_VOICE_AGENT_DONE:
		if (slot->twilio)
			tw_mark(slot, ev->turn);
		begin(&b, "agent_done");
		j_num(&b, "turn", ev->turn);
		break;
	case SOVA_VOICE_INTERRUPTED:
		begin(&b, "interrupted");
		j_num(&b, "turn", ev->turn);
		j_str(&b, "text", ev->text);
		j_num(&b, "played_ms", (double)ev->played_ms);
		break;
	case SOVA_VOICE_CLEAR: {
		/* at once, not through Lua: the far end drops what it buffered (barge-in) */
		static const char CLEAR[] = "{\"type\":\"audio.clear\"}";
		if (slot->twilio)
			tw_clear(slot);
		else if (slot->ws_id)
			sova_loop_ws_write(slot->ws_id, CLEAR, sizeof CLEAR - 1, false);
		return;
	}
	case SOVA_VOICE_ERROR:
		if (ev->fatal) {
			fail(slot, ev->text);
			return;
		}
		begin(&b, "error");
		j_str(&b, "text", ev->text);
		j_raw(&b, ",\"fatal\":false");
		break;
	default:
		return;
	}
	emit(slot->id, &b);
}

static void on_voice_frame(void *ud, const void *wire, size_t len)
{
	voice_slot *slot = ud;
	if (!slot->ws_id || slot->failed)
		return;
	if (!same_format(slot)) {
		char err[96];
		len = convert(slot->encoding, slot->to_socket, slot->sock_encoding, slot->rate, wire, len, err, sizeof err);
		if (!len)
			return;
		wire = conv_wire;
	}
	if (slot->twilio)
		tw_media(slot, wire, len);
	else
		sova_loop_ws_write(slot->ws_id, wire, len, true);
}

/* The recording tap: both channels with their positions, for the recorder and the listeners'
 * mix. Always 0, so the voice keeps tapping for the listeners when the recorder has failed. */
static int on_record(void *ud, int channel, uint64_t at_sample, const int16_t *pcm, size_t n)
{
	voice_slot *slot = ud;
	if (slot->mix)
		sova_listen_mix_add(slot->mix, at_sample, pcm, n);
	if (slot->rec && !slot->rec_failed && sova_recorder_write(slot->rec, channel, at_sample, pcm, n) != 0) {
		slot->rec_failed = true;
		emit_error(slot->id, "record: the recording sink refused audio; the rest of the call is not recorded", false);
	}
	return 0;
}

/* ---- the socket (media thread) ---- */

static void on_socket_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	voice_slot *slot = ud;
	char err[160];
	if (slot->failed)
		return;
	if (slot->twilio) {
		tw_frame(slot, data, len, binary);
		return;
	}
	if (!binary)
		return; /* text frames stay Lua's: a browser's sink takes binary only */
	if (!audio_in(slot, data, len, err, sizeof err))
		count_bad(slot, err);
}

static void on_socket_close(void *ud)
{
	voice_slot *slot = ud;
	/* a Media Streams socket that drops without a stop: its stream ended all the same */
	bool ended = slot->twilio && slot->tw.stream_sid[0] && !slot->failed;
	slot->ws_id = 0;
	slot->stalled_since = 0;
	if (slot->twilio)
		tw_reset(slot);
	if (ended) {
		jbuf b;
		begin(&b, "stream_stop");
		emit(slot->id, &b);
	}
}

/* ---- listeners (media thread) ---- */

typedef struct listener {
	voice_slot *slot;
	long long ws_id;
	bool ready_sent;       /* listen.ready went out: frames may follow */
	int64_t stalled_since; /* its writer has been busy since (0: it is not) */
} listener;

#define LISTEN_MAX_FRAME 960 /* 20 ms at 48 kHz */
static int16_t listen_pcm[LISTEN_MAX_FRAME];
static uint8_t listen_wire[LISTEN_MAX_FRAME * 2];

/* Position on the voice's timeline of an instant (as the voice's own sample_at). */
static uint64_t timeline_at(const voice_slot *s, int64_t ns)
{
	return ns <= s->t0 ? 0 : (uint64_t)((ns - s->t0) / 1000) * (uint64_t)s->rate / 1000000u;
}

/* Read-only: what a listener sends is dropped here, so none of it reaches the voice or Lua. */
static void listener_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	(void)ud, (void)data, (void)len, (void)binary;
}

/* The mix goes with the last listener. */
static void mix_unheard(voice_slot *s)
{
	if (s->num_listeners == 0) {
		sova_listen_mix_free(s->mix);
		s->mix = NULL;
	}
}

/* Takes l out of its slot's list and frees it; unset: its socket's sink is still set. */
static void drop_listener(listener *l, bool unset)
{
	voice_slot *s = l->slot;
	for (size_t i = 0; i < s->num_listeners; i++)
		if (s->listeners[i] == l) {
			s->listeners[i] = s->listeners[--s->num_listeners];
			break;
		}
	if (unset)
		sova_loop_ws_set_sink(l->ws_id, NULL);
	free(l);
	mix_unheard(s);
}

static void listener_closed(void *ud) { drop_listener(ud, false); /* the loop took the sink */ }

static listener *find_listener(voice_slot *s, long long ws_id)
{
	for (size_t i = 0; i < s->num_listeners; i++)
		if (s->listeners[i]->ws_id == ws_id)
			return s->listeners[i];
	return NULL;
}

static void add_listener(voice_slot *s, long long ws_id)
{
	char err[128];
	if (find_listener(s, ws_id))
		return;
	if (s->num_listeners == SOVA_VOICE_MAX_LISTENERS) {
		sova_loop_ws_close_with(ws_id, 1008, "too many listeners");
		return;
	}
	if (!s->mix && !(s->mix = sova_listen_mix_new(s->rate, 20, SOVA_VOICE_LISTEN_DELAY_MS,
						      timeline_at(s, sova_clock_monotonic_ns(NULL)), err, sizeof err))) {
		sova_loop_ws_close_with(ws_id, 1011, "out of memory");
		return;
	}
	listener *l = calloc(1, sizeof *l);
	if (!l) {
		mix_unheard(s);
		sova_loop_ws_close_with(ws_id, 1011, "out of memory");
		return;
	}
	l->slot = s, l->ws_id = ws_id;
	s->listeners[s->num_listeners++] = l;
	sova_loop_sink sink = {.on_frame = listener_frame, .on_close = listener_closed, .ud = l, .text_too = true};
	if (!sova_loop_ws_set_sink(ws_id, &sink))
		drop_listener(l, false); /* the socket closed meanwhile */
}

/* l's writer is busy: past STALLED_NS it has stopped reading, and is closed; true then (l freed). */
static bool listener_stalled(listener *l, int64_t tick_ns)
{
	if (!l->stalled_since) {
		l->stalled_since = tick_ns;
		return false;
	}
	if (tick_ns - l->stalled_since <= STALLED_NS)
		return false;
	long long ws = l->ws_id;
	drop_listener(l, true);
	sova_loop_ws_close_with(ws, 1008, "stopped reading");
	return true;
}

/* One frame of the mix (len bytes in listen_wire) to l: listen.ready first. A frame a busy writer
 * cannot take is dropped: the call never waits for a listener. */
static void listener_send(listener *l, size_t len, int64_t tick_ns)
{
	if (!l->ready_sent) {
		char ready[160];
		int n = snprintf(ready, sizeof ready,
				 "{\"type\":\"listen.ready\",\"encoding\":\"pcm_s16le\",\"sample_rate\":%d,\"channels\":1,"
				 "\"frame_ms\":20}",
				 l->slot->rate);
		int r = sova_loop_ws_write(l->ws_id, ready, (size_t)n, false);
		if (r == SOVA_WS_BUSY)
			listener_stalled(l, tick_ns);
		if (r != SOVA_WS_SENT)
			return; /* gone: its close drops it */
		l->ready_sent = true;
	}
	int r = sova_loop_ws_write(l->ws_id, listen_wire, len, true);
	if (r == SOVA_WS_SENT)
		l->stalled_since = 0;
	else if (r == SOVA_WS_BUSY)
		listener_stalled(l, tick_ns);
}

/* The mix's frames that are due, to every listener. */
static void listen_tick(voice_slot *s, int64_t tick_ns)
{
	uint64_t now = timeline_at(s, tick_ns);
	size_t n = sova_listen_mix_frame_samples(s->mix);
	while (s->mix && sova_listen_mix_next(s->mix, now, listen_pcm)) {
		sova_pcm16le_write(listen_pcm, n, listen_wire);
		for (size_t i = s->num_listeners; i-- > 0;) /* from the end: a stalled one leaves the list */
			listener_send(s->listeners[i], 2 * n, tick_ns);
	}
}

/* Every listener of s gone (its sockets stay open: Lua closes them). */
static void drop_listeners(voice_slot *s)
{
	while (s->num_listeners)
		drop_listener(s->listeners[0], true);
}

/* ---- engines ---- */

static sova_stt *make_pocketsphinx(void *ud, const sova_stt_config *cfg, char *err, size_t errlen)
{
	(void)ud;
	/* on a worker; the model is loaded by the first and shared read-only (stt_pocketsphinx.h) */
	pthread_mutex_lock(&ps_lock);
	if (!V.ps_model)
		V.ps_model = sova_ps_model_load(NULL, err, errlen);
	sova_ps_model *m = V.ps_model;
	pthread_mutex_unlock(&ps_lock);
	if (!m)
		return NULL;
	return sova_stt_pocketsphinx_new(m, cfg, true, sova_voice_stt_callback, NULL, err, errlen);
}

/* The provider's API root: services.yaml's base_url, else the variable tests point at a stand-in. */
static const char *base_url(const sova_voice_engine_spec *e, const char *env)
{
	return e->base_url ? e->base_url : getenv(env);
}

static sova_stt *new_stt(const sova_voice_engine_spec *e, int wire_rate, int *rate, void *voice_user, char *err,
			 size_t errlen)
{
	if (strcmp(e->engine, "pocketsphinx") == 0) {
		sova_stt_config c = sova_offline_stt_config();
		*rate = c.sample_rate;
		return sova_offload_stt_lazy(V.offload, &c, make_pocketsphinx, NULL, sova_voice_stt_callback, voice_user, err,
					     errlen);
	}
	if (strcmp(e->engine, "deepgram") == 0) {
		/* any wire rate: Deepgram takes the far end's audio as it comes */
		*rate = wire_rate;
		sova_deepgram_config dg = {.api_key = e->api_key, .base_url = base_url(e, "DEEPGRAM_API_BASE"),
					   .ca_file = getenv("SOVA_PROVIDER_CA_FILE"), .model = e->model, .smart_format = true};
		sova_stt_config c = {.sample_rate = wire_rate, .language = e->language};
		return sova_stt_deepgram_new(sova_loop_lws(), &dg, &c, sova_voice_stt_callback, voice_user, err, errlen);
	}
	snprintf(err, errlen, "no recognizer named %s in this bot", e->engine);
	return NULL;
}

static sova_tts *new_tts(const sova_voice_engine_spec *e, int wire_rate, void *voice_user, char *err, size_t errlen)
{
	if (sova_offline_tts_engine(e->engine)) {
		sova_tts *inner = sova_offline_tts_new(e->engine, e->voice, e->language, wire_rate, sova_voice_tts_callback,
						       voice_user, err, errlen);
		return inner ? sova_offload_tts(V.offload, inner, sova_voice_tts_callback, voice_user, err, errlen) : NULL;
	}
	if (strcmp(e->engine, "cartesia") == 0 || strcmp(e->engine, "elevenlabs") == 0) {
		/* asynchronous, on the media loop: no offload */
		/* ElevenLabs has PCM at 16 kHz (and μ-law only at 8): 16 kHz PCM for it, resampled by the voice */
		sova_tts_config c = {.voice = e->voice, .model = e->model, .language = e->language,
				     .sample_rate = e->engine[0] == 'c' ? wire_rate : 16000};
		if (e->engine[0] == 'c') {
			sova_cartesia_config cc = {.api_key = e->api_key, .base_url = base_url(e, "CARTESIA_API_BASE"),
						   .ca_file = getenv("SOVA_PROVIDER_CA_FILE")};
			return sova_tts_cartesia_new(sova_loop_lws(), &cc, &c, sova_voice_tts_callback, voice_user, err, errlen);
		}
		sova_elevenlabs_config ec = {.api_key = e->api_key, .base_url = base_url(e, "ELEVENLABS_API_BASE"),
					     .ca_file = getenv("SOVA_PROVIDER_CA_FILE")};
		return sova_tts_elevenlabs_new(sova_loop_lws(), &ec, &c, sova_voice_tts_callback, voice_user, err, errlen);
	}
	snprintf(err, errlen, "no synthesizer named %s in this bot", e->engine);
	return NULL;
}

/* ---- commands (posted by the Lua thread, run on the media thread) ---- */

typedef enum {
	CMD_NEW = 1, CMD_ATTACH, CMD_LISTEN, CMD_SAY, CMD_CANCEL, CMD_ANSWERED, CMD_HOLD, CMD_BARGE_IN, CMD_LISTENER_ADD,
	CMD_LISTENER_REMOVE, CMD_CLOSE
} cmd_kind;

typedef struct cmd {
	cmd_kind kind;
	long long id, ws_id;          /* ws_id: attach's socket, a listener's */
	sova_audio_encoding encoding; /* attach: the socket's format */
	int rate;
	bool flag;                    /* attach: Media Streams; say: final; hold: on */
	char *text; /* say: owned */
	size_t len;
	sova_stt_options opt;  /* listen: phrases owned (phrase_block) */
	char **phrase_block;
	sova_voice_spec *spec; /* new: owned */
} cmd;

static void cmd_free(cmd *c)
{
	free(c->text);
	free(c->phrase_block);
	sova_voice_spec_free(c->spec);
	free(c);
}

static void run_new(cmd *c)
{
	char err[256] = "";
	sova_voice_spec *sp = c->spec;
	voice_slot *slot = calloc(1, sizeof *slot);
	if (!slot) {
		emit_error(c->id, "out of memory", true);
		return;
	}
	slot->id = c->id;
	slot->encoding = slot->sock_encoding = sp->encoding;
	slot->rate = slot->sock_rate = sp->sample_rate;
	int stt_rate = 0;
	/* the engines call back into the voice; voice_user is the slot until the voice exists */
	sova_stt *stt = new_stt(&sp->stt, sp->sample_rate, &stt_rate, NULL, err, sizeof err);
	sova_tts *tts = stt ? new_tts(&sp->tts, sp->sample_rate, NULL, err, sizeof err) : NULL;
	if (sp->record && stt && tts && !(slot->rec = sova_recorder_new(V.spool_dir, sp->sample_rate, err, sizeof err))) {
		sova_stt_free(stt);
		sova_tts_free(tts);
		stt = NULL, tts = NULL;
	}
	if (!stt || !tts) {
		sova_stt_free(stt);
		emit_error(c->id, err, true);
		free(slot);
		return;
	}
	sova_voice_config vc = {
		.wire_rate = sp->sample_rate, .wire_encoding = sp->encoding, .frame_ms = 20, .tick_ns = SOVA_LOOP_TICK_NS,
		.stt = stt, .stt_rate = stt_rate, .tts = tts, .vad = sp->vad,
		.turn_min_silence_ms = sp->min_silence_ms, .turn_max_silence_ms = sp->max_silence_ms,
		.barge_in_min_ms = sp->barge_in_min_ms, .barge_in_min_words = sp->barge_in_min_words, .barge_in_off = !sp->barge_in,
		.on_event = on_voice_event, .on_frame = on_voice_frame, .record = on_record, .ud = slot,
	};
	sova_vad_opts_default(&vc.vad_opts);
	slot->t0 = sova_clock_monotonic_ns(NULL); /* the voice's is taken within microseconds after */
	slot->voice = sova_voice_new(&vc, err, sizeof err); /* takes stt and tts */
	if (!slot->voice) {
		sova_recorder_free(slot->rec);
		emit_error(c->id, err, true);
		free(slot);
		return;
	}
	unsigned long long b = (unsigned long long)slot->id % BUCKETS;
	slot->next = V.buckets[b];
	V.buckets[b] = slot;
	jbuf j;
	begin(&j, "ready");
	j_str(&j, "stt", sp->stt.engine);
	j_str(&j, "tts", sp->tts.engine);
	emit(slot->id, &j);
}

static void run_close(voice_slot *slot)
{
	char err[160];
	if (slot->ws_id)
		sova_loop_ws_set_sink(slot->ws_id, NULL);
	drop_listeners(slot);
	count_pacing(slot);
	sova_voice_free(slot->voice); /* its last frames were recorded */
	jbuf j;
	begin(&j, "closed");
	sova_recording_spill spill;
	/* the key goes into the registry here and never to Lua: Lua hands the writer the spill's id */
	bool finished = slot->rec && sova_recorder_finish(slot->rec, &spill, err, sizeof err);
	if (finished && sova_spill_register(&spill, err, sizeof err)) {
		j_str(&j, "recording", spill.id);
	} else {
		if (finished)
			unlink(spill.path); /* sealed under a key that is about to be wiped: unreadable anyway */
		if (slot->rec)
			emit_error(slot->id, err, false);
		j_raw(&j, ",\"recording\":null");
	}
	if (finished)
		sova_recording_spill_wipe(&spill);
	sova_recorder_free(slot->rec);
	emit(slot->id, &j);
	unlink_slot(slot);
	sova_resampler_free(slot->to_voice);
	sova_resampler_free(slot->to_socket);
	free(slot);
}

static void run_cmd(void *arg)
{
	cmd *c = arg;
	char err[256] = "";
	if (c->kind == CMD_NEW) {
		run_new(c);
		cmd_free(c);
		return;
	}
	voice_slot *slot = find(c->id);
	if (!slot) {
		cmd_free(c); /* closed, or its making failed and said so */
		return;
	}
	switch (c->kind) {
	case CMD_ATTACH: {
		if (slot->ws_id && slot->ws_id != c->ws_id)
			sova_loop_ws_set_sink(slot->ws_id, NULL);
		if (!set_socket_format(slot, c->encoding, c->rate, err, sizeof err)) {
			emit_error(slot->id, err, false);
			break;
		}
		slot->twilio = c->flag;
		tw_reset(slot); /* a new socket is a new stream */
		sova_loop_sink sink = {.on_frame = on_socket_frame, .on_close = on_socket_close, .ud = slot, .text_too = c->flag};
		slot->ws_id = sova_loop_ws_set_sink(c->ws_id, &sink) ? c->ws_id : 0;
		if (!slot->ws_id)
			emit_error(slot->id, "the live socket closed before its audio started", false);
		break;
	}
	case CMD_LISTEN:
		if (!sova_voice_listen(slot->voice, &c->opt, err, sizeof err))
			emit_error(slot->id, err, false);
		break;
	case CMD_SAY:
		if (!sova_voice_say(slot->voice, c->text ? c->text : "", c->len, c->flag, err, sizeof err) && err[0])
			emit_error(slot->id, err, false);
		break;
	case CMD_CANCEL:
		sova_voice_cancel(slot->voice);
		break;
	case CMD_ANSWERED:
		sova_voice_set_answered(slot->voice, true);
		break;
	case CMD_HOLD:
		sova_voice_set_hold(slot->voice, c->flag);
		break;
	case CMD_BARGE_IN:
		sova_voice_set_barge_in(slot->voice, c->flag);
		break;
	case CMD_LISTENER_ADD:
		add_listener(slot, c->ws_id);
		break;
	case CMD_LISTENER_REMOVE: {
		listener *l = find_listener(slot, c->ws_id);
		if (l)
			drop_listener(l, true);
		break;
	}
	case CMD_CLOSE:
		run_close(slot);
		break;
	case CMD_NEW:
		break;
	}
	cmd_free(c);
}

static bool post(cmd *c, char *err, size_t errlen)
{
	if (sova_loop_post(run_cmd, c))
		return true;
	cmd_free(c);
	snprintf(err, errlen, "the bot is stopping");
	return false;
}

static cmd *new_cmd(cmd_kind kind, long long id, char *err, size_t errlen)
{
	cmd *c = calloc(1, sizeof *c);
	if (!c)
		snprintf(err, errlen, "out of memory");
	else
		c->kind = kind, c->id = id;
	return c;
}

/* ---- the tick (media thread) ---- */

/* First every voice's due frames (the time-critical part), then the rest: the offline engines'
 * results, the synthesizers' next text, the pacing figures. */
static void on_tick(void *ud, int64_t tick_ns)
{
	(void)ud;
	for (int b = 0; b < BUCKETS; b++)
		for (voice_slot *s = V.buckets[b]; s; s = s->next) {
			if (s->failed)
				continue;
			bool busy = false;
			if (s->ws_id) {
				busy = sova_loop_ws_busy(s->ws_id);
				if (!busy && s->twilio && (s->tw.clear_pending || s->tw.num_pending))
					busy = !tw_flush(s); /* what a busy socket held up goes before new frames */
				if (!busy)
					s->stalled_since = 0;
				else if (!s->stalled_since)
					s->stalled_since = tick_ns;
				else if (tick_ns - s->stalled_since > STALLED_NS) {
					fail(s, "output: the other party stopped reading its audio");
					sova_loop_ws_close_with(s->ws_id, 1008, "stopped reading");
					continue;
				}
			}
			sova_voice_pace(s->voice, tick_ns, busy);
		}
	sova_offload_deliver(V.offload);
	bool count = ++V.ticks % (1000000000LL / SOVA_LOOP_TICK_NS) == 0; /* the pacing figures, once a second */
	for (int b = 0; b < BUCKETS; b++)
		for (voice_slot *s = V.buckets[b]; s; s = s->next) {
			if (count)
				count_pacing(s);
			if (s->failed)
				continue;
			sova_voice_tick(s->voice, tick_ns, false); /* paced above: no sends here */
			if (s->mix)
				listen_tick(s, tick_ns); /* the listeners' frames, after the call's own */
		}
}

/* ---- the Lua thread's side ---- */

void sova_voice_spec_free(sova_voice_spec *s)
{
	if (!s)
		return;
	sova_voice_engine_spec *e[] = {&s->stt, &s->tts};
	for (int i = 0; i < 2; i++) {
		free(e[i]->engine);
		free(e[i]->model);
		free(e[i]->language);
		free(e[i]->voice);
		free(e[i]->base_url);
		if (e[i]->api_key) {
			memset(e[i]->api_key, 0, strlen(e[i]->api_key));
			free(e[i]->api_key);
		}
	}
	free(s);
}

static void discard_audio(void *user, const sova_tts_event *ev) { (void)user, (void)ev; }

/* What the first voice call would otherwise wait for (first words fast): flite's voices registered
 * and pocketsphinx's shared model loaded, once per process, at start. A failure here only means
 * the first call pays it (or reports it). */
static void warm_up(void)
{
	char err[160];
	static const char *const VOICES[] = {"cmu_us_slt", "cmu_us_kal"};
	for (size_t i = 0; i < sizeof VOICES / sizeof *VOICES; i++) {
		sova_tts_config c = {.voice = VOICES[i]};
		sova_tts_free(sova_tts_flite_new(&c, discard_audio, NULL, err, sizeof err));
	}
	pthread_mutex_lock(&ps_lock);
	V.ps_model = sova_ps_model_load(NULL, err, sizeof err);
	pthread_mutex_unlock(&ps_lock);
	if (!V.ps_model)
		sova_log("warn", "voice.offline_model", err);
}

static void start_tick(void *arg)
{
	(void)arg;
	sova_loop_on_tick(on_tick, NULL); /* the media thread's own setting */
}

static void wake_media(void *ud)
{
	(void)ud; /* the tick delivers within 5 ms; a sooner wake is not needed for correctness */
}

bool sova_voices_init(const char *spool_dir, char *err, size_t errlen)
{
	if (V.offload) {
		snprintf(err, errlen, "voices already started");
		return false;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	/* at least two workers, so a decoder that is loading does not hold up the greeting's synthesis */
	V.offload = sova_offload_new(cores > 2 ? (int)cores : 2, 1, wake_media, NULL, err, errlen);
	if (!V.offload)
		return false;
	V.spool_dir = strdup(spool_dir);
	if (!V.spool_dir) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	atomic_store(&V.next_id, 1);
	warm_up();
	if (!sova_loop_post(start_tick, NULL)) {
		snprintf(err, errlen, "the bot's loop is not running");
		return false;
	}
	return true;
}

void sova_voices_shutdown(void)
{
	for (int b = 0; b < BUCKETS; b++)
		while (V.buckets[b]) {
			voice_slot *s = V.buckets[b];
			V.buckets[b] = s->next;
			while (s->num_listeners) /* the loop has stopped: no socket to unset */
				drop_listener(s->listeners[0], false);
			sova_voice_free(s->voice);
			sova_recorder_free(s->rec); /* deletes its spill: unfinished, never stored */
			sova_resampler_free(s->to_voice);
			sova_resampler_free(s->to_socket);
			free(s);
		}
	sova_offload_free(V.offload);
	sova_ps_model_free(V.ps_model);
	free(V.spool_dir);
	sova_sbuf_free(&tw_out);
	memset(&V, 0, sizeof V);
}

long long sova_voices_new(sova_voice_spec *spec, char *err, size_t errlen)
{
	if (!spec || !spec->stt.engine || !spec->tts.engine) {
		sova_voice_spec_free(spec);
		snprintf(err, errlen, "a voice needs a recognizer and a synthesizer");
		return 0;
	}
	long long id = atomic_fetch_add(&V.next_id, 1);
	cmd *c = new_cmd(CMD_NEW, id, err, errlen);
	if (!c) {
		sova_voice_spec_free(spec);
		return 0;
	}
	c->spec = spec;
	return post(c, err, errlen) ? id : 0;
}

static bool attach(long long id, long long ws_id, sova_audio_encoding encoding, int rate, bool twilio, char *err,
		   size_t errlen)
{
	cmd *c = new_cmd(CMD_ATTACH, id, err, errlen);
	if (!c)
		return false;
	c->ws_id = ws_id;
	c->encoding = encoding;
	c->rate = rate;
	c->flag = twilio;
	return post(c, err, errlen);
}

bool sova_voices_attach(long long id, long long ws_id, sova_audio_encoding encoding, int rate, char *err, size_t errlen)
{
	if (!sova_audio_rate_ok(rate) || (encoding != SOVA_AUDIO_PCM16 && encoding != SOVA_AUDIO_MULAW)) {
		snprintf(err, errlen, "attach: unsupported audio format");
		return false;
	}
	return attach(id, ws_id, encoding, rate, false, err, errlen);
}

bool sova_voices_attach_twilio(long long id, long long ws_id, char *err, size_t errlen)
{
	return attach(id, ws_id, SOVA_AUDIO_MULAW, 8000, true, err, errlen);
}

bool sova_voices_listen(long long id, const sova_stt_options *opt, char *err, size_t errlen)
{
	cmd *c = new_cmd(CMD_LISTEN, id, err, errlen);
	if (!c)
		return false;
	c->opt = *opt;
	size_t bytes = opt->num_phrases * sizeof(char *);
	for (size_t i = 0; i < opt->num_phrases; i++)
		bytes += strlen(opt->phrases[i]) + 1;
	if (opt->num_phrases) {
		c->phrase_block = malloc(bytes);
		if (!c->phrase_block) {
			cmd_free(c);
			snprintf(err, errlen, "out of memory");
			return false;
		}
		char *at = (char *)(c->phrase_block + opt->num_phrases);
		for (size_t i = 0; i < opt->num_phrases; i++) {
			size_t n = strlen(opt->phrases[i]) + 1;
			c->phrase_block[i] = memcpy(at, opt->phrases[i], n);
			at += n;
		}
		c->opt.phrases = (const char *const *)c->phrase_block;
	}
	return post(c, err, errlen);
}

bool sova_voices_say(long long id, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	cmd *c = new_cmd(CMD_SAY, id, err, errlen);
	if (!c)
		return false;
	c->text = malloc(len + 1);
	if (!c->text) {
		cmd_free(c);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	c->len = len;
	c->flag = final;
	return post(c, err, errlen);
}

static bool simple(cmd_kind kind, long long id, bool flag, char *err, size_t errlen)
{
	cmd *c = new_cmd(kind, id, err, errlen);
	if (!c)
		return false;
	c->flag = flag;
	return post(c, err, errlen);
}

bool sova_voices_cancel(long long id, char *err, size_t errlen) { return simple(CMD_CANCEL, id, false, err, errlen); }
bool sova_voices_answered(long long id, char *err, size_t errlen) { return simple(CMD_ANSWERED, id, true, err, errlen); }
bool sova_voices_hold(long long id, bool on, char *err, size_t errlen) { return simple(CMD_HOLD, id, on, err, errlen); }
bool sova_voices_barge_in(long long id, bool on, char *err, size_t errlen)
{
	return simple(CMD_BARGE_IN, id, on, err, errlen);
}
bool sova_voices_close(long long id, char *err, size_t errlen) { return simple(CMD_CLOSE, id, false, err, errlen); }

bool sova_voices_listener(long long id, long long ws_id, bool on, char *err, size_t errlen)
{
	cmd *c = new_cmd(on ? CMD_LISTENER_ADD : CMD_LISTENER_REMOVE, id, err, errlen);
	if (!c)
		return false;
	c->ws_id = ws_id;
	return post(c, err, errlen);
}

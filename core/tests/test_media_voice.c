/* One voice call's media (core/bot/media/voice.c) on a fake clock: turn detection, barge-in,
 * backchannels, hold, first words, wire formats, hostile input, the recording's timeline.
 *
 * Two kinds of engines: scripted ones (a stub recognizer whose words the test delivers through
 * sova_voice_stt_callback, as an asynchronous cloud engine would; a stub synthesizer making a
 * tone per word with word marks), for exact timings; and the real offline engines (pocketsphinx
 * with a grammar, flite), on speech flite makes here at test time, in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "bot/media/audio.h"
#include "bot/media/voice.h"
#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts_flite.h"

#define MS 1000000LL
#define T0 (1000 * MS)

static sova_ps_model *model;
static char err[512];

/* ---- a scripted recognizer ---- */

typedef struct stub_stt {
	sova_stt base;
	uint64_t fed;            /* samples */
	int finalize_calls;
	char finalize_text[128]; /* what finalize() answers ("" : no words) */
	bool silent_finalize;    /* finalize() answers nothing */
} stub_stt;

static bool sst_start(sova_stt *r, const sova_stt_options *o, char *e, size_t el) { return true; }
static bool sst_feed(sova_stt *r, const int16_t *pcm, size_t n, char *e, size_t el)
{
	((stub_stt *)r)->fed += n;
	return true;
}
static bool sst_finalize(sova_stt *r, char *e, size_t el)
{
	stub_stt *s = (stub_stt *)r;
	s->finalize_calls++;
	if (s->silent_finalize)
		return true;
	sova_stt_event ev = {.kind = SOVA_STT_FINAL, .text = s->finalize_text, .from_finalize = true, .confidence = -1};
	r->callback(r->user, &ev);
	return true;
}
static void sst_close(sova_stt *r) {}
static void sst_destroy(sova_stt *r) { free(r); }
static const sova_stt_vtable STUB_STT = {"stub", sst_start, sst_feed, sst_finalize, sst_close, sst_destroy};

static stub_stt *new_stub_stt(void)
{
	stub_stt *s = calloc(1, sizeof *s);
	assert_non_null(s);
	sova_stt_config c = {.sample_rate = 16000};
	sova_stt_init_base(&s->base, &STUB_STT, &c, NULL, NULL);
	return s;
}

/* ---- a scripted synthesizer: word_ms of a 440 Hz tone per word, a mark per word ---- */

typedef struct stub_tts {
	sova_tts base;
	int word_ms;
	bool marks, fail;
	int64_t turn_ms; /* audio made this turn */
	uint64_t phase;
	int says;
} stub_tts;

static bool stts_say(sova_tts *t, const char *text, size_t len, bool final, char *e, size_t el)
{
	stub_tts *s = (stub_tts *)t;
	s->says++;
	if (t->chunk == 0)
		s->turn_ms = 0;
	if (s->fail) {
		snprintf(e, el, "stub: synthesis failed");
		sova_tts_event ev = {.kind = SOVA_TTS_ERROR, .text = e, .chunk = t->chunk};
		sova_tts_emit(t, &ev);
		return false;
	}
	size_t frame = (size_t)t->sample_rate / 50;
	int16_t pcm[960];
	for (size_t i = 0; i < len;) {
		while (i < len && text[i] == ' ')
			i++;
		size_t j = i;
		while (j < len && text[j] != ' ')
			j++;
		if (j == i)
			break;
		char word[64];
		snprintf(word, sizeof word, "%.*s", (int)(j - i), text + i);
		if (s->marks) {
			sova_tts_event m = {.kind = SOVA_TTS_MARK, .text = word, .start_s = s->turn_ms / 1000.0,
					    .end_s = (s->turn_ms + s->word_ms) / 1000.0, .chunk = t->chunk};
			if (!sova_tts_emit(t, &m))
				return true;
		}
		for (int f = 0; f < s->word_ms / 20; f++) {
			for (size_t k = 0; k < frame; k++, s->phase++)
				pcm[k] = (int16_t)(3000 * sin(2 * M_PI * 440.0 * (double)s->phase / t->sample_rate));
			sova_tts_event a = {.kind = SOVA_TTS_AUDIO, .data = pcm, .bytes = frame * 2, .num_samples = frame,
					    .sample_rate = t->sample_rate, .encoding = SOVA_AUDIO_PCM16, .chunk = t->chunk};
			if (!sova_tts_emit(t, &a))
				return true;
		}
		s->turn_ms += s->word_ms;
		i = j;
	}
	if (final) {
		sova_tts_event d = {.kind = SOVA_TTS_DONE, .chunk = t->chunk};
		sova_tts_emit(t, &d);
	}
	return true;
}
static void stts_cancel(sova_tts *t) {}
static void stts_close(sova_tts *t) {}
static void stts_destroy(sova_tts *t) { free(t); }
static const sova_tts_vtable STUB_TTS = {"stub", stts_say, stts_cancel, stts_close, stts_destroy};

static stub_tts *new_stub_tts(int word_ms, bool marks)
{
	stub_tts *s = calloc(1, sizeof *s);
	assert_non_null(s);
	sova_tts_config c = {0};
	sova_tts_init_base(&s->base, &STUB_TTS, &c, NULL, NULL);
	s->base.sample_rate = 16000;
	s->word_ms = word_ms;
	s->marks = marks;
	return s;
}

/* ---- the harness: a voice on a fake clock, its events, frames and recording ---- */

typedef struct rec_event {
	sova_voice_event_kind kind;
	char text[512];
	uint32_t turn;
	uint64_t played_ms;
	bool fatal;
	sova_voice_stamps stamps;
	int64_t at; /* fake time */
} rec_event;

typedef struct harness {
	int64_t now;
	int rate;
	sova_audio_encoding enc;
	sova_voice *v;
	stub_stt *sst; /* owned by v */
	stub_tts *stts;
	rec_event ev[512];
	int nev, kinds[16];
	int frames;
	size_t frame_bytes;
	int64_t first_frame_at;
	int16_t *rec[2]; /* owned */
	size_t rec_len[2];
} harness;

static int64_t fake_now(void *ud) { return ((harness *)ud)->now; }

static void on_event(void *ud, const sova_voice_event *ev)
{
	harness *h = ud;
	h->kinds[ev->kind]++;
	if (h->nev == (int)(sizeof h->ev / sizeof *h->ev))
		return;
	rec_event *r = &h->ev[h->nev++];
	r->kind = ev->kind;
	snprintf(r->text, sizeof r->text, "%s", ev->text);
	r->turn = ev->turn;
	r->played_ms = ev->played_ms;
	r->fatal = ev->fatal;
	r->stamps = ev->stamps;
	r->at = h->now;
	if (getenv("VOICE_TEST_TRACE"))
		fprintf(stderr, "# %lld ms: event %d turn %u \"%s\" played %llu\n", (long long)((h->now - T0) / MS), ev->kind,
			ev->turn, ev->text, (unsigned long long)ev->played_ms);
}

static void on_frame(void *ud, const void *wire, size_t len)
{
	harness *h = ud;
	if (h->frames++ == 0)
		h->first_frame_at = h->now;
	h->frame_bytes = len;
}

static int on_record(void *ud, int ch, uint64_t at, const int16_t *pcm, size_t n)
{
	harness *h = ud;
	if (at + n > h->rec_len[ch]) {
		h->rec[ch] = realloc(h->rec[ch], (at + n) * sizeof *pcm);
		assert_non_null(h->rec[ch]);
		memset(h->rec[ch] + h->rec_len[ch], 0, (at + n - h->rec_len[ch]) * sizeof *pcm);
		h->rec_len[ch] = at + n;
	}
	memcpy(h->rec[ch] + at, pcm, n * sizeof *pcm);
	return 0;
}

static const rec_event *find(const harness *h, sova_voice_event_kind kind, int nth)
{
	for (int i = 0; i < h->nev; i++)
		if (h->ev[i].kind == kind && nth-- == 0)
			return &h->ev[i];
	return NULL;
}

static bool barge_in_off; /* the next voice is made with barge-in turned off */

static void start(harness *h, int rate, sova_audio_encoding enc, sova_stt *stt, sova_tts *tts, bool recorded)
{
	memset(h, 0, sizeof *h);
	h->now = T0;
	h->rate = rate;
	h->enc = enc;
	sova_voice_config c = {.wire_rate = rate, .wire_encoding = enc, .stt = stt, .tts = tts, .on_event = on_event,
			       .on_frame = on_frame, .record = recorded ? on_record : NULL, .ud = h, .clock = fake_now, .clock_ud = h,
			       .barge_in_off = barge_in_off};
	barge_in_off = false;
	h->v = sova_voice_new(&c, err, sizeof err);
	if (!h->v)
		fail_msg("%s", err);
}

static void start_stub(harness *h, int word_ms, bool marks)
{
	stub_stt *s = new_stub_stt();
	stub_tts *t = new_stub_tts(word_ms, marks);
	start(h, 16000, SOVA_AUDIO_PCM16, &s->base, &t->base, true);
	h->sst = s;
	h->stts = t;
	sova_stt_options o = {.search = SOVA_STT_SEARCH_OPEN};
	assert_true(sova_voice_listen(h->v, &o, err, sizeof err));
}

static void stop(harness *h)
{
	sova_voice_free(h->v);
	free(h->rec[0]);
	free(h->rec[1]);
}

/* 20 ms of the far end's audio arrives, then the 20 ms tick runs. */
static void step(harness *h, const int16_t *pcm)
{
	size_t n = (size_t)h->rate / 50;
	uint8_t wire[1920];
	if (h->enc == SOVA_AUDIO_MULAW)
		sova_mulaw_encode_frame(pcm, n, wire);
	else
		sova_pcm16le_write(pcm, n, wire);
	h->now += 20 * MS;
	if (!sova_voice_input(h->v, wire, h->enc == SOVA_AUDIO_MULAW ? n : 2 * n, err, sizeof err))
		fail_msg("%s", err);
	sova_voice_tick(h->v, h->now, false);
}

static void feed(harness *h, const int16_t *pcm, size_t n)
{
	size_t f = (size_t)h->rate / 50;
	int16_t frame[960];
	for (size_t i = 0; i < n; i += f) {
		size_t k = n - i < f ? n - i : f;
		memcpy(frame, pcm + i, k * sizeof *pcm);
		memset(frame + k, 0, (f - k) * sizeof *frame);
		step(h, frame);
	}
}

static void silence(harness *h, int ms)
{
	int16_t frame[960] = {0};
	for (int i = 0; i < ms / 20; i++)
		step(h, frame);
}

/* "Speech" for the energy VAD: a 300 Hz tone at about -23 dBFS. */
static void tone(harness *h, int ms)
{
	size_t f = (size_t)h->rate / 50;
	int16_t frame[960];
	static uint64_t phase;
	for (int i = 0; i < ms / 20; i++) {
		for (size_t k = 0; k < f; k++, phase++)
			frame[k] = (int16_t)(3000 * sin(2 * M_PI * 300.0 * (double)phase / h->rate));
		step(h, frame);
	}
}

/* The recognizer (a cloud one, say) delivers words now. */
static void stt_says(harness *h, sova_stt_event_kind kind, const char *text, bool speech_final)
{
	sova_stt_event ev = {.kind = kind, .text = text, .speech_final = speech_final, .confidence = 0.9f};
	sova_voice_stt_callback(h->v, &ev);
}

/* ---- turn detection (scripted engines) ---- */

static void an_answer_ends_the_turn_after_min_silence(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 500);
	tone(&h, 800);
	stt_says(&h, SOVA_STT_FINAL, "i need a refill", false);
	int64_t speech_stopped_by = h.now;
	silence(&h, 400);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0); /* 400 ms of silence: not yet */
	silence(&h, 400);
	const rec_event *e = find(&h, SOVA_VOICE_END_OF_TURN, 0);
	assert_non_null(e);
	assert_string_equal(e->text, "i need a refill");
	/* at min silence (500 ms) after the end of the speech, within a VAD frame */
	assert_in_range((e->at - speech_stopped_by) / MS, 480, 540);
	assert_true(e->stamps.speech_end > 0 && e->stamps.speech_end <= speech_stopped_by);
	assert_true(e->stamps.final_transcript == speech_stopped_by);
	assert_true(e->stamps.turn_end == e->at); /* when the owner was told */
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STARTED], 1);
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STOPPED], 1);
	assert_int_equal(h.kinds[SOVA_VOICE_FINAL], 1);
	assert_int_equal(h.sst->finalize_calls, 0);
	assert_int_equal(h.sst->fed, (uint64_t)(500 + 800 + 800) * 16); /* everything heard went to the recognizer */
	/* the answer's line carries the turn's stamps to AGENT_STARTED */
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, "Sure.", 5, true, err, sizeof err), 1);
	silence(&h, 40);
	const rec_event *s = find(&h, SOVA_VOICE_AGENT_STARTED, 0);
	assert_non_null(s);
	assert_true(s->stamps.speech_end == e->stamps.speech_end && s->stamps.final_transcript == e->stamps.final_transcript &&
		    s->stamps.turn_end == e->stamps.turn_end);
	assert_true(s->stamps.say_requested >= s->stamps.turn_end && s->stamps.first_audio >= s->stamps.say_requested &&
		    s->stamps.first_frame_out >= s->stamps.first_audio);
	stop(&h);
}

static void a_pause_shorter_than_min_silence_does_not_end_the_turn(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 300);
	tone(&h, 600);
	stt_says(&h, SOVA_STT_FINAL, "i would like", false);
	silence(&h, 300); /* a pause for thought */
	tone(&h, 600);
	stt_says(&h, SOVA_STT_FINAL, "a refill", false);
	silence(&h, 1000);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "i would like a refill");
	assert_int_equal(h.kinds[SOVA_VOICE_FINAL], 2);
	stop(&h);
}

static void the_recognizers_endpoint_ends_the_turn_once_the_vad_is_quiet(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 300);
	tone(&h, 600);
	stt_says(&h, SOVA_STT_INTERIM, "tuesday", false);
	const rec_event *i = find(&h, SOVA_VOICE_INTERIM, 0);
	assert_non_null(i);
	assert_string_equal(i->text, "tuesday");
	stt_says(&h, SOVA_STT_FINAL, "tuesday morning", true); /* speech_final while the VAD still holds */
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0);
	silence(&h, 600);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "tuesday morning");
	stop(&h);
}

static void max_silence_forces_an_end_with_what_finalize_gives(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	snprintf(h.sst->finalize_text, sizeof h.sst->finalize_text, "maybe tuesday");
	silence(&h, 300);
	tone(&h, 700);
	int64_t speech_stopped_by = h.now;
	/* the recognizer reports nothing until asked */
	silence(&h, 1900);
	assert_int_equal(h.sst->finalize_calls, 0);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0);
	silence(&h, 300);
	assert_int_equal(h.sst->finalize_calls, 1);
	const rec_event *e = find(&h, SOVA_VOICE_END_OF_TURN, 0);
	assert_non_null(e);
	assert_string_equal(e->text, "maybe tuesday");
	assert_in_range((e->at - speech_stopped_by) / MS, 1980, 2060);
	stop(&h);
}

static void words_without_a_final_are_finalized_at_min_silence(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	snprintf(h.sst->finalize_text, sizeof h.sst->finalize_text, "maybe tuesday");
	silence(&h, 300);
	tone(&h, 700);
	int64_t speech_stopped_by = h.now;
	stt_says(&h, SOVA_STT_INTERIM, "maybe tues", false); /* a lagging recognizer: no final yet */
	silence(&h, 700);
	assert_int_equal(h.sst->finalize_calls, 1);
	const rec_event *e = find(&h, SOVA_VOICE_END_OF_TURN, 0);
	assert_non_null(e);
	assert_string_equal(e->text, "maybe tuesday");
	assert_in_range((e->at - speech_stopped_by) / MS, 480, 540);
	stop(&h);
}

static void an_unanswered_finalize_ends_the_turn_with_the_interim(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	h.sst->silent_finalize = true; /* an asynchronous recognizer that never answers */
	silence(&h, 300);
	tone(&h, 700);
	stt_says(&h, SOVA_STT_INTERIM, "maybe tues", false);
	silence(&h, 700);
	assert_int_equal(h.sst->finalize_calls, 1);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0);
	silence(&h, SOVA_VOICE_FINALIZE_WAIT_MS);
	const rec_event *e = find(&h, SOVA_VOICE_END_OF_TURN, 0);
	assert_non_null(e);
	assert_string_equal(e->text, "maybe tues");
	stop(&h);
}

static void speech_without_words_ends_no_turn(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 300);
	tone(&h, 300); /* a cough */
	silence(&h, 3000);
	assert_int_equal(h.sst->finalize_calls, 1); /* asked, and it heard nothing */
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0);
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STARTED], 1);
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STOPPED], 1);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.utterances_dropped, 1);
	/* the next words are a turn of their own */
	tone(&h, 500);
	stt_says(&h, SOVA_STT_FINAL, "hello", false);
	silence(&h, 700);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "hello");
	stop(&h);
}

/* ---- barge-in, backchannels, hold (scripted engines) ---- */

static const char LONG_LINE[] = "I am calling about the referral, for patient Jane Doe, from Demo Clinic Alpha, "
				"and I would like to know whether the authorization was approved.";

/* The agent's long line has been going out for about a second. */
static void agent_mid_line(harness *h, bool marks, bool final)
{
	start_stub(h, 300, marks);
	sova_voice_set_answered(h->v, true);
	assert_int_equal(sova_voice_say(h->v, LONG_LINE, strlen(LONG_LINE), final, err, sizeof err), 1);
	silence(h, 1000);
	assert_int_equal(h->kinds[SOVA_VOICE_AGENT_STARTED], 1);
	assert_true(h->frames >= 49);
}

static void barge_in_stops_playback_at_once_and_keeps_what_was_played(bool marks)
{
	harness h;
	agent_mid_line(&h, marks, false); /* the model is still streaming the line */
	tone(&h, 420);
	assert_int_equal(h.kinds[SOVA_VOICE_CLEAR], 0); /* speech alone (no words yet) interrupts nothing */
	stt_says(&h, SOVA_STT_INTERIM, "wait a", false);
	int frames_then = h.frames;
	/* at once, inside the recognizer's callback: CLEAR, then INTERRUPTED */
	const rec_event *c = find(&h, SOVA_VOICE_CLEAR, 0), *i = find(&h, SOVA_VOICE_INTERRUPTED, 0);
	assert_non_null(c);
	assert_non_null(i);
	assert_true(c < i);
	assert_int_equal(i->turn, 1);
	assert_in_range(i->played_ms, 1400, 1460);
	/* 300 ms a word: the words whose audio fully went out */
	size_t words = i->played_ms / 300, n = 0, len = 0;
	for (const char *p = LONG_LINE; *p && n < words; p++, len++)
		if (p[1] == ' ' || p[1] == '\0')
			n++;
	if (getenv("VOICE_TEST_TRACE"))
		fprintf(stderr, "# played: \"%s\"\n", i->text);
	assert_true(strlen(i->text) > 0);
	assert_memory_equal(i->text, LONG_LINE, strlen(i->text)); /* a prefix of the line */
	assert_int_equal(strlen(i->text), len);
	/* no frame after it: playback stopped within the tick */
	tone(&h, 200);
	assert_int_equal(h.frames, frames_then);
	/* the model still streaming the interrupted line: dropped */
	assert_int_equal(sova_voice_say(h.v, "More text.", 10, true, err, sizeof err), 1);
	silence(&h, 100);
	assert_int_equal(h.frames, frames_then);
	stt_says(&h, SOVA_STT_FINAL, "wait a second", false);
	silence(&h, 700);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1); /* the interruption is a turn */
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "wait a second");
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 0);
	/* the next line is a new turn and plays */
	assert_int_equal(sova_voice_say(h.v, "Of course.", 10, true, err, sizeof err), 2);
	silence(&h, 100);
	assert_true(h.frames > frames_then);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.barge_ins, 1);
	stop(&h);
}

static void barge_in_with_word_marks(void **state) { barge_in_stops_playback_at_once_and_keeps_what_was_played(true); }
static void barge_in_without_word_marks(void **state) { barge_in_stops_playback_at_once_and_keeps_what_was_played(false); }

static void a_backchannel_does_not_interrupt(void **state)
{
	harness h;
	agent_mid_line(&h, true, true);
	tone(&h, 600);
	stt_says(&h, SOVA_STT_INTERIM, "yeah", false);
	stt_says(&h, SOVA_STT_FINAL, "yeah okay", false);
	stt_says(&h, SOVA_STT_INTERIM, "uh-huh", false);
	silence(&h, 200);
	stt_says(&h, SOVA_STT_FINAL, "uh-huh", false);
	silence(&h, 800);
	assert_int_equal(h.kinds[SOVA_VOICE_CLEAR], 0);
	assert_int_equal(h.kinds[SOVA_VOICE_INTERRUPTED], 0);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0); /* not a turn of its own */
	silence(&h, 7000);
	const rec_event *d = find(&h, SOVA_VOICE_AGENT_DONE, 0);
	assert_non_null(d); /* the line played to its end */
	assert_string_equal(d->text, LONG_LINE);
	assert_in_range(d->played_ms, 25 * 300 - 20, 25 * 300 + 40);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.backchannels_ignored, 1);
	assert_int_equal(st.barge_ins, 0);
	/* the same word when the agent is silent is an answer */
	tone(&h, 400);
	stt_says(&h, SOVA_STT_FINAL, "okay", false);
	silence(&h, 700);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	stop(&h);
}

static void speech_during_hold_does_not_barge_in(void **state)
{
	harness h;
	agent_mid_line(&h, true, true);
	sova_voice_set_hold(h.v, true);
	uint64_t fed = h.sst->fed;
	tone(&h, 1000); /* hold music, or a person */
	stt_says(&h, SOVA_STT_INTERIM, "please stay on the line", false);
	stt_says(&h, SOVA_STT_FINAL, "please stay on the line", false);
	silence(&h, 800);
	assert_int_equal(h.sst->fed, fed); /* recognition paused */
	assert_int_equal(h.kinds[SOVA_VOICE_CLEAR], 0);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 0);
	sova_voice_set_hold(h.v, false);
	tone(&h, 600);
	stt_says(&h, SOVA_STT_INTERIM, "hello are you there", false);
	assert_int_equal(h.kinds[SOVA_VOICE_INTERRUPTED], 1); /* off hold, barge-in works again */
	assert_true(h.sst->fed > fed);
	stop(&h);
}

static void a_flow_may_turn_barge_in_off(void **state)
{
	harness h;
	barge_in_off = true;
	agent_mid_line(&h, true, true);
	tone(&h, 1000);
	stt_says(&h, SOVA_STT_INTERIM, "wait a moment please", false);
	stt_says(&h, SOVA_STT_FINAL, "wait a moment please", false);
	assert_int_equal(h.kinds[SOVA_VOICE_CLEAR], 0);
	assert_int_equal(h.kinds[SOVA_VOICE_INTERRUPTED], 0);
	silence(&h, 8000);
	const rec_event *d = find(&h, SOVA_VOICE_AGENT_DONE, 0);
	assert_non_null(d); /* the line played to its end */
	assert_string_equal(d->text, LONG_LINE);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1); /* and the words spoken over it are still heard */
	stop(&h);
}

static void the_owner_cancels_a_line(void **state)
{
	harness h;
	agent_mid_line(&h, true, true);
	int frames = h.frames;
	sova_voice_cancel(h.v);
	assert_int_equal(h.kinds[SOVA_VOICE_CLEAR], 1);
	assert_int_equal(h.kinds[SOVA_VOICE_INTERRUPTED], 0);
	silence(&h, 200);
	assert_int_equal(h.frames, frames);
	assert_int_equal(sova_voice_say(h.v, "Goodbye.", 8, true, err, sizeof err), 2); /* a new line at once */
	silence(&h, 600);
	assert_non_null(find(&h, SOVA_VOICE_AGENT_DONE, 0));
	assert_int_equal(find(&h, SOVA_VOICE_AGENT_DONE, 0)->turn, 2);
	stop(&h);
}

static void streamed_chunks_play_as_one_line(void **state)
{
	harness h;
	start_stub(&h, 100, true);
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, "Thanks, ", 8, false, err, sizeof err), 1);
	silence(&h, 60); /* the first clause plays while the model streams the rest */
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_STARTED], 1);
	assert_int_equal(sova_voice_say(h.v, "I will ", 7, false, err, sizeof err), 1);
	assert_int_equal(sova_voice_say(h.v, "wait.", 5, true, err, sizeof err), 1);
	silence(&h, 600);
	const rec_event *d = find(&h, SOVA_VOICE_AGENT_DONE, 0);
	assert_non_null(d);
	assert_string_equal(d->text, "Thanks, I will wait.");
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_STARTED], 1);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 1);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.underruns, 0);
	stop(&h);
}

/* A pause with nothing to say between two lines: the second line starts a talk spurt of its own,
 * one frame a tick, never a burst to "catch up" the pause (the pacer's old spurt, seen dry by no
 * poll, would have made every frame of it look seconds late). */
static void a_line_after_a_pause_is_paced_not_burst(void **state)
{
	harness h;
	start_stub(&h, 100, true);
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, "Hello there.", 12, true, err, sizeof err), 1);
	silence(&h, 1000);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 1);
	silence(&h, 3000); /* nothing queued: the other party's turn */
	assert_int_equal(sova_voice_say(h.v, "Second line here.", 17, true, err, sizeof err), 2);
	for (int i = 0; i < 50; i++) {
		int before = h.frames;
		silence(&h, 20);
		assert_in_range(h.frames - before, 0, 1);
	}
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 2);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.late_ms[0], st.frames_out); /* on a fake clock every frame leaves on time */
	assert_int_equal(st.frames_late, 0);
	stop(&h);
}

/* ---- hostile input, errors ---- */

static void malformed_frames_are_refused_with_a_reason(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	uint8_t buf[4000] = {0};
	assert_false(sova_voice_input(h.v, buf, 0, err, sizeof err));
	assert_non_null(strstr(err, "empty"));
	assert_false(sova_voice_input(h.v, buf, 641, err, sizeof err));
	assert_non_null(strstr(err, "odd"));
	assert_false(sova_voice_input(h.v, buf, 3202, err, sizeof err)); /* 100.06 ms at 16 kHz */
	assert_non_null(strstr(err, "100 ms"));
	assert_true(sova_voice_input(h.v, buf, 3200, err, sizeof err)); /* 100 ms exactly */
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.input_refused, 3);
	assert_int_equal(st.frames_in, 1);
	stop(&h);
}

static void a_flood_is_dropped_and_reported(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	uint8_t buf[640] = {0};
	/* 10 s of audio in 1 s of time: ten times real time */
	for (int i = 0; i < 500; i++) {
		h.now += 2 * MS;
		assert_true(sova_voice_input(h.v, buf, sizeof buf, err, sizeof err));
	}
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	/* what was taken is real time plus the burst allowance: 1 s + 1 s */
	assert_in_range(st.frames_in, 99, 101);
	assert_in_range(st.input_dropped_ms, 7980, 8020);
	assert_in_range(h.sst->fed, 99 * 320, 101 * 320);
	const rec_event *e = find(&h, SOVA_VOICE_ERROR, 0);
	assert_non_null(e);
	assert_false(e->fatal);
	assert_non_null(strstr(e->text, "faster than real time"));
	assert_in_range(h.kinds[SOVA_VOICE_ERROR], 1, 2); /* at most once a second */
	/* back to real time: taken again */
	h.now += 2000 * MS;
	assert_true(sova_voice_input(h.v, buf, sizeof buf, err, sizeof err));
	sova_voice_get_stats(h.v, &st);
	assert_in_range(st.frames_in, 100, 102);
	stop(&h);
}

static void engine_errors_become_error_events_and_keep_the_words(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 200);
	tone(&h, 500);
	stt_says(&h, SOVA_STT_FINAL, "my member id is", false);
	sova_stt_event e = {.kind = SOVA_STT_ERROR, .text = "net: the provider closed the socket"};
	sova_voice_stt_callback(h.v, &e);
	const rec_event *t = find(&h, SOVA_VOICE_END_OF_TURN, 0), *x = find(&h, SOVA_VOICE_ERROR, 0);
	assert_non_null(t);
	assert_string_equal(t->text, "my member id is");
	assert_non_null(x);
	assert_true(x->fatal);
	assert_true(t < x);
	assert_false(sova_voice_listen(h.v, &(sova_stt_options){.search = SOVA_STT_SEARCH_OPEN}, err, sizeof err));
	/* a synthesizer error is not fatal: the line ends */
	h.stts->fail = true;
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, "Hello.", 6, true, err, sizeof err), 1);
	silence(&h, 100);
	const rec_event *y = find(&h, SOVA_VOICE_ERROR, 1);
	assert_non_null(y);
	assert_false(y->fatal);
	assert_non_null(strstr(y->text, "tts: "));
	assert_int_equal(h.kinds[SOVA_VOICE_ERROR], 2);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 1);
	h.stts->fail = false;
	assert_int_equal(sova_voice_say(h.v, "Hello.", 6, true, err, sizeof err), 2);
	silence(&h, 400);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_STARTED], 1);
	stop(&h);
}

/* ---- the recording ---- */

static size_t first_loud(const int16_t *pcm, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (abs(pcm[i]) > 200)
			return i;
	return (size_t)-1;
}

static void the_recording_has_both_channels_on_one_timeline(void **state)
{
	harness h;
	start_stub(&h, 200, true);
	silence(&h, 500);
	int64_t beep_at = h.now; /* the next frame's first sample is at this instant */
	tone(&h, 200);
	silence(&h, 300);
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, "Hello there.", 12, true, err, sizeof err), 1);
	silence(&h, 600);
	/* the agent's first frame went out at the tick after the say (its deadline) */
	int64_t out_at = h.first_frame_at;
	size_t other = first_loud(h.rec[1], h.rec_len[1], 0), agent = first_loud(h.rec[0], h.rec_len[0], 0);
	assert_true(other != (size_t)-1 && agent != (size_t)-1);
	size_t want_other = (size_t)((beep_at - T0) / MS) * 16, want_agent = (size_t)((out_at - T0) / MS) * 16;
	assert_in_range(other, want_other, want_other + 16);
	assert_in_range(agent, want_agent, want_agent + 16);
	/* the agent's 2 × 200 ms of audio is contiguous from there */
	size_t after = first_loud(h.rec[0], h.rec_len[0], agent + 400 * 16 + 100);
	assert_true(after == (size_t)-1);
	assert_true(h.rec_len[1] >= (size_t)((h.now - T0) / MS) * 16 - 320);
	stop(&h);
}

/* ---- the real offline engines ---- */

static int16_t *flite_speech(const char *text, int rate, size_t *n);

typedef struct collected { int16_t *pcm; size_t n, cap; } collected;

static void collect(void *user, const sova_tts_event *ev)
{
	collected *c = user;
	if (ev->kind != SOVA_TTS_AUDIO)
		return;
	if (c->n + ev->num_samples > c->cap) {
		c->cap = (c->n + ev->num_samples) * 2;
		c->pcm = realloc(c->pcm, c->cap * sizeof *c->pcm);
		assert_non_null(c->pcm);
	}
	memcpy(c->pcm + c->n, ev->data, ev->num_samples * 2);
	c->n += ev->num_samples;
}

/* flite's slt saying text, resampled to rate: the other party. Caller frees. */
static int16_t *flite_speech(const char *text, int rate, size_t *n)
{
	collected c = {0};
	sova_tts_config tc = {.voice = "cmu_us_slt"};
	sova_tts *t = sova_tts_flite_new(&tc, collect, &c, err, sizeof err);
	assert_non_null(t);
	assert_true(sova_tts_say(t, text, strlen(text), true, err, sizeof err));
	sova_tts_free(t);
	sova_resampler *r = sova_resampler_new(16000, rate, err, sizeof err);
	assert_non_null(r);
	size_t cap = sova_resampler_out_max(r, c.n) + sova_resampler_latency(r) + 16, out = 0, tail = 0;
	int16_t *pcm = malloc(cap * sizeof *pcm);
	assert_non_null(pcm);
	assert_int_equal(sova_resampler_process(r, c.pcm, c.n, pcm, cap, &out), 0);
	assert_int_equal(sova_resampler_flush(r, pcm + out, cap - out, &tail), 0);
	sova_resampler_free(r);
	free(c.pcm);
	*n = out + tail;
	return pcm;
}

static const char *const PHRASES[] = {"i need to reschedule my appointment", "yes that is right", "no",
				      "wait i have a question", "the member id is four two seven"};

static int ps_endpointing_ms; /* 0: pocketsphinx's own 500 ms */

static void start_real(harness *h, int rate, sova_audio_encoding enc, const char *voice)
{
	sova_stt_config sc = {.sample_rate = 16000, .endpointing_ms = ps_endpointing_ms};
	sova_stt *stt = sova_stt_pocketsphinx_new(model, &sc, false, sova_voice_stt_callback, NULL, err, sizeof err);
	if (!stt)
		fail_msg("%s", err);
	sova_tts_config tc = {.voice = voice};
	sova_tts *tts = sova_tts_flite_new(&tc, sova_voice_tts_callback, NULL, err, sizeof err);
	assert_non_null(tts);
	start(h, rate, enc, stt, tts, true);
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = PHRASES, .num_phrases = 5, .interim_results = true};
	assert_true(sova_voice_listen(h->v, &o, err, sizeof err));
}

/* The other party says `said` (after 500 ms of line silence, then 1.5 s of it); the agent
 * answers with a line. */
static void spoken_turn(int rate, sova_audio_encoding enc, const char *voice, const char *said)
{
	harness h;
	start_real(&h, rate, enc, voice);
	sova_voice_set_answered(h.v, true);
	size_t n;
	int16_t *speech = flite_speech(said, rate, &n);
	silence(&h, 500);
	feed(&h, speech, n);
	free(speech);
	silence(&h, 1500);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, said);
	const char *answer = "Let me check the calendar.";
	assert_int_equal(sova_voice_say(h.v, answer, strlen(answer), true, err, sizeof err), 1);
	silence(&h, 3000);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_DONE], 1);
	assert_int_equal(h.frame_bytes, (size_t)rate / 50 * (enc == SOVA_AUDIO_MULAW ? 1 : 2));
	const rec_event *s = find(&h, SOVA_VOICE_AGENT_STARTED, 0);
	assert_non_null(s);
	assert_true(s->stamps.speech_end > 0 && s->stamps.final_transcript >= s->stamps.speech_end);
	assert_true(s->stamps.first_frame_out >= s->stamps.first_audio && s->stamps.first_audio >= s->stamps.say_requested);
	stop(&h);
}

static void a_spoken_answer_ends_a_turn_with_the_right_text(void **state)
{
	spoken_turn(16000, SOVA_AUDIO_PCM16, "cmu_us_slt", "i need to reschedule my appointment");
}

static void mulaw_8k_wire_works(void **state) { spoken_turn(8000, SOVA_AUDIO_MULAW, "cmu_us_kal", "i need to reschedule my appointment"); }

static void wire_48k_works(void **state) { spoken_turn(48000, SOVA_AUDIO_PCM16, "cmu_us_slt", "yes that is right"); }

/* [*from, *to): the audible part, 20 ms of margin either side. */
static void trim(const int16_t *pcm, size_t n, size_t *from, size_t *to)
{
	size_t i = 0, j = n;
	while (i < n && abs(pcm[i]) < 300)
		i++;
	while (j > i && abs(pcm[j - 1]) < 300)
		j--;
	*from = i > 320 ? i - 320 : 0;
	*to = j + 320 < n ? j + 320 : n;
}

static void a_pause_inside_a_spoken_sentence_does_not_end_the_turn(void **state)
{
	harness h;
	ps_endpointing_ms = 1000; /* the voice ends the turn (voice.h) */
	start_real(&h, 16000, SOVA_AUDIO_PCM16, "cmu_us_slt");
	ps_endpointing_ms = 0;
	size_t n1, n2;
	int16_t *a = flite_speech("i need to reschedule", 16000, &n1), *b = flite_speech("my appointment", 16000, &n2);
	/* flite pads each line with silence: cut it, so the pause is the one given here */
	size_t a0, a1, b0, b1;
	trim(a, n1, &a0, &a1);
	trim(b, n2, &b0, &b1);
	silence(&h, 500);
	feed(&h, a + a0, a1 - a0);
	silence(&h, 300);
	feed(&h, b + b0, b1 - b0);
	silence(&h, 1500);
	free(a);
	free(b);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "i need to reschedule my appointment");
	stop(&h);
}

static void spoken_barge_in_over_a_flite_line(void **state)
{
	harness h;
	start_real(&h, 16000, SOVA_AUDIO_PCM16, "cmu_us_slt");
	sova_voice_set_answered(h.v, true);
	assert_int_equal(sova_voice_say(h.v, LONG_LINE, strlen(LONG_LINE), true, err, sizeof err), 1);
	silence(&h, 1500);
	size_t n;
	int16_t *speech = flite_speech("wait i have a question", 16000, &n);
	feed(&h, speech, n);
	free(speech);
	const rec_event *i = find(&h, SOVA_VOICE_INTERRUPTED, 0);
	assert_non_null(i);
	assert_non_null(find(&h, SOVA_VOICE_CLEAR, 0));
	if (getenv("VOICE_TEST_TRACE"))
		fprintf(stderr, "# played %llu ms: \"%s\"\n", (unsigned long long)i->played_ms, i->text);
	assert_true(i->played_ms > 1500 && i->played_ms < 1500 + n / 16);
	assert_true(strlen(i->text) > 0 && strlen(i->text) < strlen(LONG_LINE));
	assert_memory_equal(i->text, LONG_LINE, strlen(i->text));
	int frames = h.frames;
	silence(&h, 1500);
	assert_int_equal(h.frames, frames);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(find(&h, SOVA_VOICE_END_OF_TURN, 0)->text, "wait i have a question");
	stop(&h);
}

static const char GREETING[] = "Hello, this is the virtual assistant calling from Demo Clinic Alpha. "
			       "Am I speaking with the provider services department?";

static void first_words_go_out_at_the_first_tick_after_answer(void **state)
{
	harness h;
	start_real(&h, 16000, SOVA_AUDIO_PCM16, "cmu_us_slt");
	assert_int_equal(sova_voice_say(h.v, GREETING, strlen(GREETING), true, err, sizeof err), 1);
	silence(&h, 400); /* ringing: synthesized ahead, nothing sent */
	assert_int_equal(h.frames, 0);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_true(st.queued_ms >= SOVA_VOICE_LOOKAHEAD_MS && st.queued_ms < 4000); /* ahead, but bounded */
	sova_voice_set_answered(h.v, true);
	int64_t answered_at = h.now;
	sova_voice_tick(h.v, h.now, false);
	assert_int_equal(h.frames, 1);
	assert_int_equal(h.first_frame_at, answered_at);
	assert_int_equal(h.kinds[SOVA_VOICE_AGENT_STARTED], 1);
	silence(&h, 9000);
	const rec_event *d = find(&h, SOVA_VOICE_AGENT_DONE, 0);
	assert_non_null(d);
	assert_string_equal(d->text, GREETING);
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.underruns, 0); /* clause by clause, never behind */
	assert_int_equal(st.frames_late, 0);
	stop(&h);
}

static void bad_configurations_are_refused_and_free_the_engines(void **state)
{
	harness h;
	memset(&h, 0, sizeof h);
	stub_stt *s = new_stub_stt();
	stub_tts *t = new_stub_tts(200, true);
	sova_voice_config c = {.wire_rate = 11025, .wire_encoding = SOVA_AUDIO_PCM16, .stt = &s->base, .tts = &t->base,
			       .on_event = on_event, .on_frame = on_frame, .ud = &h};
	assert_null(sova_voice_new(&c, err, sizeof err)); /* and LeakSanitizer sees both engines freed */
	assert_non_null(strstr(err, "wire_rate"));
}

static int setup(void **state)
{
	model = sova_ps_model_load(NULL, err, sizeof err);
	if (!model)
		fprintf(stderr, "# %s\n", err);
	return model ? 0 : -1;
}

static int teardown(void **state)
{
	sova_ps_model_free(model);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_answer_ends_the_turn_after_min_silence),
		cmocka_unit_test(a_pause_shorter_than_min_silence_does_not_end_the_turn),
		cmocka_unit_test(the_recognizers_endpoint_ends_the_turn_once_the_vad_is_quiet),
		cmocka_unit_test(max_silence_forces_an_end_with_what_finalize_gives),
		cmocka_unit_test(words_without_a_final_are_finalized_at_min_silence),
		cmocka_unit_test(an_unanswered_finalize_ends_the_turn_with_the_interim),
		cmocka_unit_test(speech_without_words_ends_no_turn),
		cmocka_unit_test(barge_in_with_word_marks),
		cmocka_unit_test(barge_in_without_word_marks),
		cmocka_unit_test(a_backchannel_does_not_interrupt),
		cmocka_unit_test(speech_during_hold_does_not_barge_in),
		cmocka_unit_test(a_flow_may_turn_barge_in_off),
		cmocka_unit_test(the_owner_cancels_a_line),
		cmocka_unit_test(streamed_chunks_play_as_one_line),
		cmocka_unit_test(a_line_after_a_pause_is_paced_not_burst),
		cmocka_unit_test(malformed_frames_are_refused_with_a_reason),
		cmocka_unit_test(a_flood_is_dropped_and_reported),
		cmocka_unit_test(engine_errors_become_error_events_and_keep_the_words),
		cmocka_unit_test(the_recording_has_both_channels_on_one_timeline),
		cmocka_unit_test(a_spoken_answer_ends_a_turn_with_the_right_text),
		cmocka_unit_test(mulaw_8k_wire_works),
		cmocka_unit_test(wire_48k_works),
		cmocka_unit_test(a_pause_inside_a_spoken_sentence_does_not_end_the_turn),
		cmocka_unit_test(spoken_barge_in_over_a_flite_line),
		cmocka_unit_test(first_words_go_out_at_the_first_tick_after_answer),
		cmocka_unit_test(bad_configurations_are_refused_and_free_the_engines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* The espeak-ng synthesizer (core/bot/speech/tts_espeak.c) through tts.h: frames at each rate and
 * encoding, word marks, clause streaming, cancel, literal text, two calls' synthesizers at once on
 * two offload workers (espeak-ng is one per process), and pocketsphinx hearing its voice back
 * through a grammar. Audio is made here, at test time, in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/media/audio.h"
#include "bot/speech/offload.h"
#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts_espeak.h"

static char err[512];

/* ---- what a synthesizer delivered ---- */

typedef struct heard_audio {
	int16_t *pcm; /* owned: every frame, decoded to PCM16 */
	size_t n, cap;
	int frames, marks, chunk_done, done, errors;
	size_t frame_samples, frame_bytes; /* of the last frame */
	int rate;
	sova_audio_encoding encoding;
	char words[1024];    /* marks, space-separated */
	double last_start, last_end;
	bool marks_in_order; /* every mark starts at or after the previous one, and ends after it starts */
	int cancel_after;    /* cancel the synthesizer after this many frames (0: never) */
	sova_tts *tts;
} heard_audio;

static void on_audio(void *user, const sova_tts_event *ev)
{
	heard_audio *h = user;
	switch (ev->kind) {
	case SOVA_TTS_AUDIO:
		h->frames++;
		h->frame_samples = ev->num_samples;
		h->frame_bytes = ev->bytes;
		h->rate = ev->sample_rate;
		h->encoding = ev->encoding;
		if (h->n + ev->num_samples > h->cap) {
			h->cap = (h->n + ev->num_samples) * 2;
			h->pcm = realloc(h->pcm, h->cap * sizeof *h->pcm);
			assert_non_null(h->pcm);
		}
		if (ev->encoding == SOVA_AUDIO_MULAW)
			sova_mulaw_decode_frame(ev->data, ev->num_samples, h->pcm + h->n);
		else
			memcpy(h->pcm + h->n, ev->data, ev->bytes);
		h->n += ev->num_samples;
		if (h->cancel_after && h->frames == h->cancel_after)
			sova_tts_cancel(h->tts);
		break;
	case SOVA_TTS_MARK:
		if (h->marks > 0 && ev->start_s < h->last_start)
			h->marks_in_order = false;
		if (ev->end_s < ev->start_s)
			h->marks_in_order = false;
		h->marks++;
		h->last_start = ev->start_s;
		h->last_end = ev->end_s;
		if (strlen(h->words) + strlen(ev->text) + 2 < sizeof h->words) {
			if (h->words[0])
				strcat(h->words, " ");
			strcat(h->words, ev->text);
		}
		break;
	case SOVA_TTS_CHUNK_DONE:
		h->chunk_done++;
		break;
	case SOVA_TTS_DONE:
		h->done++;
		break;
	case SOVA_TTS_ERROR:
		h->errors++;
		break;
	}
}

static void reset(heard_audio *h)
{
	free(h->pcm);
	memset(h, 0, sizeof *h);
	h->marks_in_order = true;
}

static sova_tts *new_tts(const sova_tts_config *c, heard_audio *h)
{
	memset(h, 0, sizeof *h);
	h->marks_in_order = true;
	sova_tts *t = sova_tts_espeak_new(c, on_audio, h, err, sizeof err);
	if (!t)
		fail_msg("%s", err);
	h->tts = t;
	return t;
}

static void say(sova_tts *t, const char *text, bool final)
{
	if (!sova_tts_say(t, text, strlen(text), final, err, sizeof err))
		fail_msg("%s", err);
}

static double seconds(const heard_audio *h) { return (double)h->n / h->rate; }

/* ---- frames ---- */

static void frames_come_at_the_wanted_rate_length_and_encoding(void **state)
{
	(void)state;
	static const struct {
		int rate, frame_ms;
		sova_audio_encoding enc;
		int want_rate;
		size_t want_samples;
	} cases[] = {
		{16000, 0, 0, 16000, 320},                /* the browser */
		{8000, 20, SOVA_AUDIO_MULAW, 8000, 160},  /* a phone line */
		{8000, 20, SOVA_AUDIO_PCM16, 8000, 160},
		{48000, 10, 0, 48000, 480},
		{0, 0, 0, 22050, 441},                    /* espeak-ng's own rate */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		heard_audio h;
		sova_tts_config c = {.sample_rate = cases[i].rate, .frame_ms = cases[i].frame_ms, .encoding = cases[i].enc};
		sova_tts *t = new_tts(&c, &h);
		assert_string_equal(sova_tts_name(t), "espeak");
		assert_int_equal(sova_tts_sample_rate(t), cases[i].want_rate);
		say(t, "Hello, this is the clinic.", true);
		assert_int_equal(h.rate, cases[i].want_rate);
		assert_int_equal(h.frame_samples, cases[i].want_samples);
		bool mulaw = cases[i].enc == SOVA_AUDIO_MULAW;
		assert_int_equal(h.encoding, mulaw ? SOVA_AUDIO_MULAW : SOVA_AUDIO_PCM16);
		assert_int_equal(h.frame_bytes, h.frame_samples * (mulaw ? 1 : 2));
		assert_int_equal(h.n % cases[i].want_samples, 0);
		assert_true(seconds(&h) > 1.0 && seconds(&h) < 3.0); /* espeak-ng's 175 words a minute, and its pauses */
		assert_true(sova_level_dbfs(h.pcm, h.n) > -40);       /* speech, not silence */
		assert_int_equal(h.done, 1);
		assert_int_equal(h.chunk_done, 1);
		assert_int_equal(h.errors, 0);
		assert_string_equal(h.words, "Hello this is the clinic");
		sova_tts_free(t);
		reset(&h);
	}
}

/* ---- marks ---- */

static void marks_name_the_words_in_order_within_the_audio(void **state)
{
	(void)state;
	heard_audio h;
	sova_tts_config c = {.sample_rate = 16000};
	sova_tts *t = new_tts(&c, &h);
	say(t, "Hello, I am calling about a prior", false);
	say(t, " authorization for Mr. O'Neil.", true);
	assert_string_equal(h.words, "Hello I am calling about a prior authorization for Mr O'Neil");
	assert_true(h.marks_in_order);
	assert_true(h.last_end <= seconds(&h) + 1e-9);
	assert_true(h.last_start > 1.0); /* the second clause's times follow the first's audio */
	reset(&h);
	h.tts = t;
	/* espeak-ng's own word events: "don't" is three characters long to it, "$25" is three events */
	say(t, "I owe $25, don't I? Café au lait.", true);
	assert_string_equal(h.words, "I owe 25 don't I Café au lait");
	assert_true(h.marks_in_order);
	sova_tts_free(t);
	reset(&h);
}

static void a_complete_clause_is_spoken_before_the_line_ends(void **state)
{
	(void)state;
	const char *first = "Thank you for holding, I am calling about a prior";
	heard_audio h;
	sova_tts_config c = {.sample_rate = 16000};
	sova_tts *t = new_tts(&c, &h);
	say(t, first, false);
	assert_true(h.frames > 0);                             /* "Thank you for holding," is out */
	assert_string_equal(h.words, "Thank you for holding"); /* the rest waits for its clause's end */
	assert_int_equal(h.done, 0);
	say(t, " authorization.", true);
	assert_int_equal(h.done, 1);
	assert_string_equal(h.words, "Thank you for holding I am calling about a prior authorization");
	double streamed = seconds(&h);
	sova_tts_free(t);
	reset(&h);

	c.whole_line = true; /* nothing until the final chunk */
	t = new_tts(&c, &h);
	say(t, first, false);
	assert_int_equal(h.frames, 0);
	say(t, " authorization.", true);
	assert_true(h.frames > 0);
	/* each clause keeps its pause (espeakENDPAUSE): streamed and whole lines last about as long */
	assert_true(seconds(&h) > streamed * 0.9 && seconds(&h) < streamed * 1.1);
	sova_tts_free(t);
	reset(&h);
}

/* ---- cancel ---- */

static void cancel_stops_delivery_at_once(void **state)
{
	(void)state;
	const char *line = "One moment please, let me check that, and I will be right back with you.";
	heard_audio h;
	sova_tts_config c = {.sample_rate = 8000, .encoding = SOVA_AUDIO_MULAW};
	sova_tts *t = new_tts(&c, &h);
	h.cancel_after = 3;
	say(t, line, true);
	assert_int_equal(h.frames, 3); /* nothing after the frame that cancelled */
	assert_int_equal(h.done, 0);
	assert_int_equal(h.chunk_done, 0);
	assert_int_equal(h.errors, 0);
	assert_string_equal(h.words, "One moment please"); /* only the first clause was synthesized */
	/* the next say() is a new turn and plays from its start */
	h.cancel_after = 0;
	say(t, "Yes.", true);
	assert_int_equal(h.done, 1);
	assert_string_equal(h.words, "One moment please Yes");
	assert_true(h.frames > 3 + 10);
	sova_tts_cancel(t); /* with nothing playing: harmless */
	sova_tts_free(t);
	reset(&h);
}

/* ---- literal text ---- */

static void text_is_read_literally_without_control_characters(void **state)
{
	(void)state;
	heard_audio h;
	sova_tts_config c = {.sample_rate = 16000};
	sova_tts *t = new_tts(&c, &h);
	/* no SSML: a 5 s break is not obeyed */
	say(t, "Yes <break time=\"5s\"/> no.", true);
	assert_true(seconds(&h) < 4.0);
	reset(&h);
	h.tts = t;
	/* control characters and invalid UTF-8 go; tabs and line breaks are spaces */
	say(t, "Hel\x01lo\x7f\tthere\xff\xc2\x85\nfriend.", true);
	assert_string_equal(h.words, "Hello there friend");
	assert_int_equal(h.done, 1);
	sova_tts_free(t);
	reset(&h);
}

/* ---- two calls at once ---- */

typedef struct call {
	heard_audio h;
	sova_tts *tts; /* the offloaded wrapper */
} call;

static void deliver_until_done(sova_offload *o, call *calls, int n)
{
	for (int i = 0; i < 20000; i++) {
		sova_offload_deliver(o);
		int done = 0;
		for (int k = 0; k < n; k++)
			done += calls[k].h.done + calls[k].h.errors;
		if (done >= n)
			return;
		usleep(1000);
	}
	fail_msg("the synthesizers did not finish");
}

static void two_calls_speak_at_once_on_two_workers(void **state)
{
	(void)state;
	const char *lines[2] = {"Hello, this is the scheduling assistant calling from Demo Clinic Beta. "
				"I am calling about a prior authorization for one of our patients.",
				"Could you tell me the status of the request, and the reference number if there is one? "
				"Thank you, I will hold while you look that up."};
	const char *words[2] = {"Hello this is the scheduling assistant calling from Demo Clinic Beta I am calling about a prior "
				"authorization for one of our patients",
				"Could you tell me the status of the request and the reference number if there is one Thank you I "
				"will hold while you look that up"};
	const char *voices[2] = {"en-us", "en"}; /* each synthesis loads its own voice into the one espeak-ng */
	/* each line alone first: how long it is */
	double alone[2];
	for (int k = 0; k < 2; k++) {
		heard_audio h;
		sova_tts_config c = {.voice = voices[k], .sample_rate = 16000};
		sova_tts *t = new_tts(&c, &h);
		say(t, lines[k], true);
		alone[k] = seconds(&h);
		sova_tts_free(t);
		reset(&h);
	}
	sova_offload *o = sova_offload_new(2, 0, NULL, NULL, err, sizeof err);
	assert_non_null(o);
	call calls[2];
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 2; k++) {
			memset(&calls[k].h, 0, sizeof calls[k].h);
			calls[k].h.marks_in_order = true;
			sova_tts_config c = {.voice = voices[k], .sample_rate = k == 0 ? 16000 : 8000};
			sova_tts *inner = sova_tts_espeak_new(&c, on_audio, &calls[k].h, err, sizeof err);
			assert_non_null(inner);
			calls[k].tts = sova_offload_tts(o, inner, on_audio, &calls[k].h, err, sizeof err);
			assert_non_null(calls[k].tts);
		}
		/* both turns queued before either is delivered: the two workers synthesize at once */
		for (int k = 0; k < 2; k++)
			assert_true(sova_tts_say(calls[k].tts, lines[k], strlen(lines[k]), true, err, sizeof err));
		deliver_until_done(o, calls, 2);
		for (int k = 0; k < 2; k++) {
			heard_audio *h = &calls[k].h;
			assert_int_equal(h->errors, 0);
			assert_int_equal(h->done, 1);
			assert_int_equal(h->rate, k == 0 ? 16000 : 8000);
			assert_string_equal(h->words, words[k]);
			assert_true(h->marks_in_order);
			/* all of it, and none of the other's: espeak-ng varies a little from run to run */
			assert_true(seconds(h) > alone[k] * 0.95 && seconds(h) < alone[k] * 1.05);
			sova_tts_free(calls[k].tts);
			reset(h);
		}
	}
	/* one cancelled while the other speaks: the other is untouched */
	for (int k = 0; k < 2; k++) {
		memset(&calls[k].h, 0, sizeof calls[k].h);
		calls[k].h.marks_in_order = true;
		sova_tts_config c = {.voice = voices[k], .sample_rate = 16000};
		calls[k].tts = sova_offload_tts(o, sova_tts_espeak_new(&c, on_audio, &calls[k].h, err, sizeof err), on_audio,
						&calls[k].h, err, sizeof err);
		assert_non_null(calls[k].tts);
		assert_true(sova_tts_say(calls[k].tts, lines[k], strlen(lines[k]), true, err, sizeof err));
	}
	sova_tts_cancel(calls[0].tts);
	calls[0].h.done = 1; /* it never will: wait for the other */
	deliver_until_done(o, calls, 2);
	assert_int_equal(calls[1].h.done, 1);
	assert_string_equal(calls[1].h.words, words[1]);
	assert_true(seconds(&calls[1].h) > alone[1] * 0.95 && seconds(&calls[1].h) < alone[1] * 1.05);
	usleep(100000);
	sova_offload_deliver(o);
	assert_int_equal(calls[0].h.frames, 0); /* cancelled before the owner took any of it */
	for (int k = 0; k < 2; k++) {
		sova_tts_free(calls[k].tts);
		reset(&calls[k].h);
	}
	sova_offload_free(o);
}

/* ---- heard back ---- */

typedef struct heard_text {
	char text[512]; /* finals, space-joined */
} heard_text;

static void on_text(void *user, const sova_stt_event *ev)
{
	heard_text *h = user;
	if (ev->kind == SOVA_STT_FINAL && ev->text[0]) {
		if (h->text[0])
			strcat(h->text, " ");
		strncat(h->text, ev->text, sizeof h->text - strlen(h->text) - 1);
	}
}

/* espeak-ng says `said` at 16 kHz (0.5 s of silence before, 1 s after); a pocketsphinx grammar
 * decoder expecting `phrases` hears it in 20 ms frames. */
static void round_trip(const sova_ps_model *m, const char *voice, const char *said, const char *const *phrases, size_t n,
		       heard_text *out)
{
	heard_audio a;
	sova_tts_config tc = {.voice = voice, .sample_rate = 16000};
	sova_tts *t = new_tts(&tc, &a);
	say(t, said, true);
	sova_tts_free(t);
	size_t before = 8000, after = 16000, total = before + a.n + after;
	int16_t *pcm = calloc(total, sizeof *pcm);
	assert_non_null(pcm);
	memcpy(pcm + before, a.pcm, a.n * sizeof *pcm);
	reset(&a);

	memset(out, 0, sizeof *out);
	sova_stt_config sc = {.sample_rate = 16000};
	sova_stt *r = sova_stt_pocketsphinx_new(m, &sc, false, on_text, out, err, sizeof err);
	if (!r)
		fail_msg("%s", err);
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = n};
	if (!sova_stt_start(r, &o, err, sizeof err))
		fail_msg("%s", err);
	for (size_t i = 0; i < total; i += 320)
		if (!sova_stt_feed(r, pcm + i, total - i < 320 ? total - i : 320, err, sizeof err))
			fail_msg("%s", err);
	assert_true(sova_stt_finalize(r, err, sizeof err));
	sova_stt_free(r);
	free(pcm);
}

/* What holds, tried three times each on this machine: the default male en-us voice is heard as
 * said on short phrases (yes, no, monday morning, tuesday afternoon, wednesday evening: 15/15) but
 * not on "none of those" or the longer reference-number phrases (1/9: mostly nothing heard, the
 * grammar rejects it); its female variant en-us+f3 was heard as said on every phrase (30/30). So
 * the short phrases are tested with en-us and the long ones with en-us+f3. */
static void pocketsphinx_hears_espeak_through_a_grammar(void **state)
{
	(void)state;
	sova_ps_model *m = sova_ps_model_load(NULL, err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	static const char *const yes_no[] = {"yes", "no"};
	static const char *const options[] = {"monday morning", "tuesday afternoon", "wednesday evening", "none of those"};
	static const char *const reference[] = {"the reference number is a u t h one two three", "i do not have a reference number"};
	heard_text h;
	round_trip(m, "en-us", "yes", yes_no, 2, &h);
	assert_string_equal(h.text, "yes");
	round_trip(m, "en-us", "no", yes_no, 2, &h);
	assert_string_equal(h.text, "no");
	round_trip(m, "en-us", "tuesday afternoon", options, 4, &h);
	assert_string_equal(h.text, "tuesday afternoon");
	round_trip(m, "en-us+f3", "none of those", options, 4, &h);
	assert_string_equal(h.text, "none of those");
	round_trip(m, "en-us+f3", reference[0], reference, 2, &h);
	assert_string_equal(h.text, reference[0]);
	sova_ps_model_free(m);
}

/* ---- refused ---- */

static void unknown_voices_and_rates_are_refused(void **state)
{
	(void)state;
	heard_audio h = {0};
	sova_tts_config c = {.voice = "xx-nowhere"};
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	assert_non_null(strstr(err, "no voice xx-nowhere"));
	c.voice = "../../etc/passwd";
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	assert_non_null(strstr(err, "not an espeak-ng voice name"));
	c.voice = "";
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	static const int rates[] = {44100, 22051, 11025, -8000};
	for (size_t i = 0; i < sizeof rates / sizeof *rates; i++) {
		c = (sova_tts_config){.sample_rate = rates[i]};
		assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
		assert_non_null(strstr(err, "cannot give"));
	}
	c = (sova_tts_config){.sample_rate = 0, .frame_ms = 10}; /* 220.5 samples at 22050 Hz */
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	assert_non_null(strstr(err, "multiple of 20"));
	c = (sova_tts_config){.sample_rate = 16000, .frame_ms = 250};
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	c = (sova_tts_config){.sample_rate = 16000, .encoding = 7};
	assert_null(sova_tts_espeak_new(&c, on_audio, &h, err, sizeof err));
	assert_null(sova_tts_espeak_new(NULL, on_audio, &h, err, sizeof err));
	c = (sova_tts_config){0};
	assert_null(sova_tts_espeak_new(&c, NULL, &h, err, sizeof err));

	/* other voices espeak-ng knows are taken; language picks one when no voice is named */
	static const char *const known[] = {"en", "en-us+f3", "fr"};
	for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
		c = (sova_tts_config){.voice = known[i], .sample_rate = 8000};
		sova_tts *t = new_tts(&c, &h);
		say(t, "Bonjour.", true);
		assert_int_equal(h.done, 1);
		sova_tts_free(t);
		reset(&h);
	}
	c = (sova_tts_config){.language = "de", .sample_rate = 8000};
	sova_tts *t = new_tts(&c, &h);
	sova_tts_close(t);
	assert_false(sova_tts_say(t, "Ja.", 3, true, err, sizeof err));
	assert_non_null(strstr(err, "closed"));
	sova_tts_free(t);
	assert_int_equal(h.frames, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_come_at_the_wanted_rate_length_and_encoding),
		cmocka_unit_test(marks_name_the_words_in_order_within_the_audio),
		cmocka_unit_test(a_complete_clause_is_spoken_before_the_line_ends),
		cmocka_unit_test(cancel_stops_delivery_at_once),
		cmocka_unit_test(text_is_read_literally_without_control_characters),
		cmocka_unit_test(two_calls_speak_at_once_on_two_workers),
		cmocka_unit_test(pocketsphinx_hears_espeak_through_a_grammar),
		cmocka_unit_test(unknown_voices_and_rates_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

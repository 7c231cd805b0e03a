/* The offline speech engines (core/bot/speech/) through their provider-neutral interfaces:
 * flite speaks a phrase, pocketsphinx, given the phrases the node expects as a grammar, hears it
 * back; cancel, clause streaming and misuse. Audio is made here, at test time, in memory.
 *
 * One pocketsphinx model is loaded for the whole group (as a process does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/speech/stt.h"
#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts.h"
#include "bot/speech/tts_flite.h"

static sova_ps_model *model;
static char err[512];

/* ---- what a synthesizer delivered ---- */

typedef struct heard_audio {
	int16_t *pcm; /* owned */
	size_t n, cap;
	int frames, marks, chunk_done, done, errors;
	size_t frame_samples; /* of the last frame */
	char words[512];      /* marks, space-separated */
	int cancel_after;     /* cancel the synthesizer after this many frames (0: never) */
	sova_tts *tts;
	int audio_during_say; /* frames seen before the say() under test returned */
} heard_audio;

static void on_audio(void *user, const sova_tts_event *ev)
{
	heard_audio *h = user;
	switch (ev->kind) {
	case SOVA_TTS_AUDIO:
		h->frames++;
		h->frame_samples = ev->num_samples;
		assert_int_equal(ev->encoding, SOVA_AUDIO_PCM16);
		assert_int_equal(ev->bytes, ev->num_samples * 2);
		if (h->n + ev->num_samples > h->cap) {
			h->cap = (h->n + ev->num_samples) * 2;
			h->pcm = realloc(h->pcm, h->cap * sizeof *h->pcm);
			assert_non_null(h->pcm);
		}
		memcpy(h->pcm + h->n, ev->data, ev->bytes);
		h->n += ev->num_samples;
		if (h->cancel_after && h->frames == h->cancel_after)
			sova_tts_cancel(h->tts);
		break;
	case SOVA_TTS_MARK:
		h->marks++;
		assert_true(ev->end_s >= ev->start_s);
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

static sova_tts *new_tts(const char *voice, heard_audio *h, bool whole_line)
{
	memset(h, 0, sizeof *h);
	sova_tts_config c = {.voice = voice, .whole_line = whole_line};
	sova_tts *t = sova_tts_flite_new(&c, on_audio, h, err, sizeof err);
	assert_non_null(t);
	h->tts = t;
	return t;
}

/* flite's slt voice saying text, with silence before and after, as the other party's audio. */
static int16_t *speak(const char *text, size_t *n)
{
	heard_audio h;
	sova_tts *t = new_tts("cmu_us_slt", &h, false);
	assert_true(sova_tts_say(t, text, strlen(text), true, err, sizeof err));
	assert_int_equal(h.done, 1);
	sova_tts_free(t);
	size_t before = 8000, after = 16000; /* 0.5 s, 1 s */
	int16_t *pcm = calloc(before + h.n + after, sizeof *pcm);
	assert_non_null(pcm);
	memcpy(pcm + before, h.pcm, h.n * sizeof *pcm);
	free(h.pcm);
	*n = before + h.n + after;
	return pcm;
}

/* ---- what a recognizer delivered ---- */

typedef struct heard_text {
	char text[512]; /* finals, space-joined */
	int finals, interims, speech_started, utterance_ends, dropped;
	char dropped_text[256];
	double last_word_end;
} heard_text;

static void on_text(void *user, const sova_stt_event *ev)
{
	heard_text *h = user;
	switch (ev->kind) {
	case SOVA_STT_FINAL:
		h->finals++;
		if (ev->text[0]) {
			if (h->text[0])
				strcat(h->text, " ");
			strncat(h->text, ev->text, sizeof h->text - strlen(h->text) - 1);
		}
		for (size_t i = 0; i < ev->num_words; i++)
			assert_true(ev->words[i].end_s > ev->words[i].start_s);
		break;
	case SOVA_STT_INTERIM:
		h->interims++;
		break;
	case SOVA_STT_SPEECH_STARTED:
		h->speech_started++;
		break;
	case SOVA_STT_UTTERANCE_END:
		h->utterance_ends++;
		h->last_word_end = ev->at_s;
		break;
	case SOVA_STT_PHRASES_DROPPED:
		h->dropped++;
		snprintf(h->dropped_text, sizeof h->dropped_text, "%s", ev->text);
		break;
	default:
		fail_msg("unexpected event %d", (int)ev->kind);
	}
}

static sova_stt *new_stt(heard_text *h)
{
	memset(h, 0, sizeof *h);
	sova_stt_config c = {.sample_rate = 16000};
	sova_stt *r = sova_stt_pocketsphinx_new(model, &c, false, on_text, h, err, sizeof err);
	if (!r)
		fail_msg("%s", err);
	return r;
}

/* Speaks `said` with flite, feeds it in 20 ms frames to a recognizer expecting `phrases`, and
 * returns what it heard (finals joined). */
static void round_trip(const char *said, const char *const *phrases, size_t n, sova_stt_search search, heard_text *h)
{
	size_t samples;
	int16_t *pcm = speak(said, &samples);
	sova_stt *r = new_stt(h);
	sova_stt_options o = {.search = search, .phrases = phrases, .num_phrases = n, .interim_results = true};
	if (!sova_stt_start(r, &o, err, sizeof err))
		fail_msg("%s", err);
	for (size_t i = 0; i < samples; i += 320) {
		size_t k = samples - i < 320 ? samples - i : 320;
		if (!sova_stt_feed(r, pcm + i, k, err, sizeof err))
			fail_msg("%s", err);
	}
	assert_true(sova_stt_finalize(r, err, sizeof err));
	sova_stt_free(r);
	free(pcm);
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

/* ---- round trips ---- */

static const char *const YES_NO[] = {"yes", "no"};

static void yes_and_no_are_heard_as_said(void **state)
{
	heard_text h;
	round_trip("yes", YES_NO, 2, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "yes");
	assert_int_equal(h.speech_started, 1);
	assert_int_equal(h.utterance_ends, 1); /* the endpointer ended it, before finalize */
	assert_true(h.last_word_end > 0.5);    /* after the leading silence */
	round_trip("no", YES_NO, 2, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "no");
}

static void a_spelled_out_reference_number_is_heard_as_said(void **state)
{
	static const char *const phrases[] = {"the reference number is a u t h one two three", "i do not have a reference number"};
	heard_text h;
	round_trip("the reference number is a u t h one two three", phrases, 2, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "the reference number is a u t h one two three");
}

static void a_select_option_is_heard_as_said(void **state)
{
	static const char *const options[] = {"monday morning", "tuesday afternoon", "wednesday evening", "none of those"};
	heard_text h;
	round_trip("tuesday afternoon", options, 4, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "tuesday afternoon");
	round_trip("none of those", options, 4, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "none of those");
}

/* <digits> takes any number read out digit by digit; a short vowel may slip in between repeated
 * digits ("nine one one" came back "nine one oh one"), so a code of known length is given as
 * <digit> tokens. <letters> is in the grammar too, but spelled letters through it are not
 * reliable with this model (flite's "t" comes back as "d": the e-set), so a node that knows the
 * code it expects gives it as a phrase (the test above). */
static void digit_classes_take_any_number(void **state)
{
	static const char *const phrases[] = {"the reference number is <digits>", "<letters> <digits>", "i do not know"};
	char *jsgf = NULL, *dropped = NULL;
	assert_true(sova_ps_build_jsgf(model, phrases, 3, false, &jsgf, &dropped, err, sizeof err));
	assert_null(dropped);
	assert_non_null(strstr(jsgf, "<digit> = zero | oh | one"));
	assert_non_null(strstr(jsgf, "<letter> = a | b | c"));
	assert_non_null(strstr(jsgf, "(<letter>+ <digit>+)"));
	free(jsgf);
	heard_text h;
	round_trip("the reference number is four oh seven two", phrases, 3, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "the reference number is four oh seven two");
	static const char *const digits_only[] = {"<digit> <digit> <digit>", "i do not know"};
	round_trip("nine one one", digits_only, 2, SOVA_STT_SEARCH_GRAMMAR, &h);
	assert_string_equal(h.text, "nine one one");
}

static void keywords_are_spotted_in_a_longer_line(void **state)
{
	static const char *const keys[] = {"reference number"};
	heard_text h;
	round_trip("okay, the reference number is ready", keys, 1, SOVA_STT_SEARCH_KEYWORDS, &h);
	assert_non_null(strstr(h.text, "reference number"));
}

/* ---- hints: expected phrases in an open search ---- */

/* The other party's lines, each synthesized once: flite's voices excite with noise, so two
 * syntheses of a line differ, and a comparison with and without hints needs the same audio. */
typedef struct spoken {
	int16_t *pcm[4]; /* owned */
	size_t n[4], lines;
} spoken;

static void speak_lines(spoken *s, const char *const *lines, size_t n)
{
	assert_true(n <= 4);
	s->lines = n;
	for (size_t i = 0; i < n; i++)
		s->pcm[i] = speak(lines[i], &s->n[i]);
}

static void free_spoken(spoken *s)
{
	for (size_t i = 0; i < s->lines; i++)
		free(s->pcm[i]);
}

/* One open-vocabulary recognizer hears each line in turn (hints, if any, as expected phrases);
 * out[i] is what it heard of line i. */
static void hear_lines(const spoken *s, const char *const *hints, size_t nh, char out[][256], heard_text *h)
{
	memset(h, 0, sizeof *h);
	sova_stt_config c = {.sample_rate = 16000};
	sova_stt *r = sova_stt_pocketsphinx_new(model, &c, true, on_text, h, err, sizeof err);
	if (!r)
		fail_msg("%s", err);
	sova_stt_options o = {.search = SOVA_STT_SEARCH_OPEN, .phrases = hints, .num_phrases = nh};
	if (!sova_stt_start(r, &o, err, sizeof err))
		fail_msg("%s", err);
	for (size_t l = 0; l < s->lines; l++) {
		size_t before = strlen(h->text);
		for (size_t i = 0; i < s->n[l]; i += 320)
			if (!sova_stt_feed(r, s->pcm[l] + i, s->n[l] - i < 320 ? s->n[l] - i : 320, err, sizeof err))
				fail_msg("%s", err);
		assert_true(sova_stt_finalize(r, err, sizeof err));
		snprintf(out[l], 256, "%s", h->text + before + (before && h->text[before] == ' '));
	}
	sova_stt_free(r);
}

static const char *const NAME_CALL[] = {"hello, this is the front desk", "wei chen"};

/* The language model has no n-grams for the name and hears something else; the keyword pass over
 * the same utterance finds it, and it replaces the words that sound like it. */
static void a_hinted_name_replaces_what_the_language_model_heard(void **state)
{
	static const char *const hints[] = {"wei chen", "date of birth"};
	spoken s;
	speak_lines(&s, NAME_CALL, 2);
	char plain[2][256], hinted[2][256];
	heard_text h;
	hear_lines(&s, NULL, 0, plain, &h);
	assert_string_not_equal(plain[1], "wei chen"); /* what makes hints worth having */
	hear_lines(&s, hints, 2, hinted, &h);
	assert_string_equal(hinted[0], plain[0]);
	assert_string_equal(hinted[1], "wei chen");
	assert_int_equal(h.dropped, 0);
	free_spoken(&s);
}

/* A line without the phrase, and the lines after a hinted one (the pass must not move the
 * decoder's state), are heard as without hints. */
static void hints_leave_other_lines_as_the_language_model_heard_them(void **state)
{
	static const char *const lines[] = {"hello, this is the front desk", "i don't know anybody by that name, sorry",
					    "wei chen", "thank you for calling, goodbye"};
	static const char *const hints[] = {"wei chen"};
	spoken s;
	speak_lines(&s, lines, 4);
	char plain[4][256], hinted[4][256];
	heard_text h;
	hear_lines(&s, NULL, 0, plain, &h);
	hear_lines(&s, hints, 1, hinted, &h);
	assert_string_equal(hinted[1], plain[1]);
	assert_string_equal(hinted[2], "wei chen");
	assert_string_equal(hinted[3], plain[3]);
	free_spoken(&s);
}

/* A hint of common words is not searched for: the LM hears those as well as a keyword search
 * does, and a spotting of "that is me" would take the place of the "this is me" said. */
static void a_hint_of_common_words_changes_nothing(void **state)
{
	static const char *const lines[] = {"hello, this is the front desk", "yes, this is me"};
	static const char *const hints[] = {"that is me"};
	spoken s;
	speak_lines(&s, lines, 2);
	char plain[2][256], hinted[2][256];
	heard_text h;
	hear_lines(&s, NULL, 0, plain, &h);
	hear_lines(&s, hints, 1, hinted, &h);
	assert_string_equal(hinted[1], plain[1]);
	free_spoken(&s);
}

/* A hint the dictionary cannot spell is reported and left out; the open search still listens. */
static void a_hint_with_unknown_words_is_dropped_and_the_search_stays_open(void **state)
{
	static const char *const hints[] = {"qzxv blorp", "wei chen"};
	static const char *const none[] = {"qzxv"};
	spoken s;
	speak_lines(&s, NAME_CALL, 2);
	char plain[2][256], hinted[2][256];
	heard_text h;
	hear_lines(&s, hints, 2, hinted, &h);
	assert_int_equal(h.dropped, 1);
	assert_string_equal(h.dropped_text, "qzxv blorp");
	assert_string_equal(hinted[1], "wei chen");
	hear_lines(&s, NULL, 0, plain, &h);
	hear_lines(&s, none, 1, hinted, &h);
	assert_int_equal(h.dropped, 1);
	assert_string_equal(hinted[1], plain[1]);
	free_spoken(&s);
}

/* ---- grammars ---- */

static void unknown_words_drop_their_phrase_and_are_reported(void **state)
{
	static const char *const phrases[] = {"yes", "qzxv blorp", "It's fine.", "and/or"};
	char *jsgf = NULL, *dropped = NULL;
	assert_true(sova_ps_build_jsgf(model, phrases, 4, false, &jsgf, &dropped, err, sizeof err));
	assert_string_equal(dropped, "qzxv blorp|and/or"); /* "/" is a JSGF operator, and no word has it */
	assert_non_null(strstr(jsgf, "(yes)"));
	assert_non_null(strstr(jsgf, "(it's fine)")); /* lowercased, edge punctuation trimmed */
	assert_null(strstr(jsgf, "qzxv"));
	free(jsgf);
	free(dropped);

	heard_text h;
	sova_stt *r = new_stt(&h);
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 4};
	if (!sova_stt_start(r, &o, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(h.dropped, 1);
	assert_string_equal(h.dropped_text, "qzxv blorp|and/or");
	sova_stt_free(r);

	static const char *const nothing[] = {"qzxv"};
	assert_false(sova_ps_build_jsgf(model, nothing, 1, false, &jsgf, &dropped, err, sizeof err));
	assert_non_null(strstr(err, "qzxv"));
	r = new_stt(&h);
	o = (sova_stt_options){.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = nothing, .num_phrases = 1};
	assert_false(sova_stt_start(r, &o, err, sizeof err));
	sova_stt_free(r);
}

/* ---- synthesis ---- */

static void frames_are_20_ms_at_each_voices_rate(void **state)
{
	heard_audio h;
	sova_tts *t = new_tts("cmu_us_kal", &h, false);
	assert_int_equal(sova_tts_sample_rate(t), 8000);
	assert_true(sova_tts_say(t, "Hello.", 6, true, err, sizeof err));
	assert_int_equal(h.frame_samples, 160);
	assert_true(h.frames > 5);
	assert_int_equal(h.done, 1);
	assert_string_equal(h.words, "hello");
	sova_tts_free(t);
	free(h.pcm);
	t = new_tts(NULL, &h, false);
	assert_int_equal(sova_tts_sample_rate(t), 16000);
	assert_string_equal(sova_tts_name(t), "flite");
	assert_true(sova_tts_say(t, "Yes.", 4, true, err, sizeof err));
	assert_int_equal(h.frame_samples, 320);
	sova_tts_free(t);
	free(h.pcm);
}

static void a_complete_clause_is_spoken_before_the_line_ends(void **state)
{
	const char *first = "Thank you for holding, I am calling about a prior";
	heard_audio h;
	sova_tts *t = new_tts("cmu_us_slt", &h, false);
	assert_true(sova_tts_say(t, first, strlen(first), false, err, sizeof err));
	assert_true(h.frames > 0);                        /* "Thank you for holding," is out */
	assert_string_equal(h.words, "thank you for holding"); /* the rest waits for its clause's end */
	assert_int_equal(h.done, 0);
	assert_true(sova_tts_say(t, " authorization.", 15, true, err, sizeof err));
	assert_int_equal(h.done, 1);
	assert_string_equal(h.words, "thank you for holding i am calling about a prior authorization");
	sova_tts_free(t);
	free(h.pcm);

	t = new_tts("cmu_us_slt", &h, true); /* whole line: nothing until the final chunk */
	assert_true(sova_tts_say(t, first, strlen(first), false, err, sizeof err));
	assert_int_equal(h.frames, 0);
	assert_true(sova_tts_say(t, " authorization.", 15, true, err, sizeof err));
	assert_true(h.frames > 0);
	sova_tts_free(t);
	free(h.pcm);
}

static void cancel_stops_delivery_at_once(void **state)
{
	const char *line = "One moment please, let me check that, and I will be right back with you.";
	heard_audio h;
	sova_tts *t = new_tts("cmu_us_slt", &h, false);
	h.cancel_after = 3;
	assert_true(sova_tts_say(t, line, strlen(line), true, err, sizeof err));
	assert_int_equal(h.frames, 3); /* nothing after the frame that cancelled */
	assert_int_equal(h.done, 0);
	assert_int_equal(h.chunk_done, 0);
	int marks = h.marks;
	assert_true(marks > 0 && marks <= 4); /* only the first clause was synthesized */
	/* the next say() is a new turn and plays */
	h.cancel_after = 0;
	assert_true(sova_tts_say(t, "Yes.", 4, true, err, sizeof err));
	assert_true(h.frames > 3);
	assert_int_equal(h.done, 1);
	/* a cancel with nothing playing is harmless */
	sova_tts_cancel(t);
	sova_tts_free(t);
	free(h.pcm);
}

/* ---- misuse ---- */

static void wrong_sample_rates_are_refused(void **state)
{
	heard_text h;
	sova_stt_config c = {.sample_rate = 8000};
	assert_null(sova_stt_pocketsphinx_new(model, &c, false, on_text, &h, err, sizeof err));
	assert_non_null(strstr(err, "16000"));
	c.sample_rate = 48000;
	assert_null(sova_stt_pocketsphinx_new(model, &c, false, on_text, &h, err, sizeof err));

	heard_audio a;
	sova_tts_config tc = {.voice = "cmu_us_slt", .sample_rate = 8000};
	assert_null(sova_tts_flite_new(&tc, on_audio, &a, err, sizeof err));
	assert_non_null(strstr(err, "16000"));
	tc = (sova_tts_config){.voice = "cmu_us_kal", .sample_rate = 16000};
	assert_null(sova_tts_flite_new(&tc, on_audio, &a, err, sizeof err));
	tc = (sova_tts_config){.voice = "cmu_us_awb"};
	assert_null(sova_tts_flite_new(&tc, on_audio, &a, err, sizeof err));
	tc = (sova_tts_config){.encoding = SOVA_AUDIO_MULAW};
	assert_null(sova_tts_flite_new(&tc, on_audio, &a, err, sizeof err));
}

static void empty_text_and_null_arguments_are_refused(void **state)
{
	heard_audio h;
	sova_tts *t = new_tts("cmu_us_kal", &h, false);
	assert_false(sova_tts_say(t, "", 0, true, err, sizeof err));
	assert_non_null(strstr(err, "empty"));
	assert_false(sova_tts_say(t, "  \n", 3, false, err, sizeof err));
	assert_false(sova_tts_say(t, NULL, 3, true, err, sizeof err));
	assert_false(sova_tts_say(NULL, "yes", 3, true, err, sizeof err));
	assert_false(sova_tts_say(t, "a\0b", 3, true, err, sizeof err));
	assert_int_equal(h.frames, 0);
	/* an empty final chunk ends a turn that has text */
	assert_true(sova_tts_say(t, "Yes", 3, false, err, sizeof err));
	assert_true(sova_tts_say(t, "", 0, true, err, sizeof err));
	assert_int_equal(h.done, 1);
	assert_true(h.frames > 0);
	sova_tts_free(t);
	free(h.pcm);
	assert_null(sova_tts_flite_new(NULL, on_audio, &h, err, sizeof err));
	sova_tts_config c = {0};
	assert_null(sova_tts_flite_new(&c, NULL, &h, err, sizeof err));

	heard_text ht;
	sova_stt_config sc = {.sample_rate = 16000};
	assert_null(sova_stt_pocketsphinx_new(NULL, &sc, false, on_text, &ht, err, sizeof err));
	assert_null(sova_stt_pocketsphinx_new(model, NULL, false, on_text, &ht, err, sizeof err));
	assert_null(sova_stt_pocketsphinx_new(model, &sc, false, NULL, &ht, err, sizeof err));
	sova_stt *r = new_stt(&ht);
	assert_false(sova_stt_start(r, NULL, err, sizeof err));
	assert_false(sova_stt_start(NULL, &(sova_stt_options){.search = SOVA_STT_SEARCH_OPEN}, err, sizeof err));
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR};
	assert_false(sova_stt_start(r, &o, err, sizeof err)); /* a grammar with no phrases */
	const char *const with_null[] = {"yes", NULL};
	o = (sova_stt_options){.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = with_null, .num_phrases = 2};
	assert_false(sova_stt_start(r, &o, err, sizeof err));
	o = (sova_stt_options){.search = SOVA_STT_SEARCH_OPEN};
	assert_false(sova_stt_start(r, &o, err, sizeof err)); /* made without open_vocabulary */
	assert_non_null(strstr(err, "open_vocabulary"));
	assert_false(sova_stt_feed(r, NULL, 320, err, sizeof err));
	assert_false(sova_stt_feed(NULL, NULL, 0, err, sizeof err));
	assert_false(sova_ps_build_jsgf(NULL, YES_NO, 2, false, &(char *){NULL}, &(char *){NULL}, err, sizeof err));
	sova_stt_free(r);
	sova_stt_free(NULL);
	sova_tts_free(NULL);
}

static void feeding_before_start_or_after_close_is_refused(void **state)
{
	heard_text h;
	sova_stt *r = new_stt(&h);
	int16_t silence[320] = {0};
	assert_false(sova_stt_feed(r, silence, 320, err, sizeof err));
	assert_non_null(strstr(err, "start"));
	assert_false(sova_stt_finalize(r, err, sizeof err));
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = YES_NO, .num_phrases = 2};
	assert_true(sova_stt_start(r, &o, err, sizeof err));
	assert_true(sova_stt_feed(r, silence, 320, err, sizeof err));
	assert_true(sova_stt_finalize(r, err, sizeof err));
	assert_int_equal(h.finals, 1); /* finalize answers with an empty final, as Deepgram does */
	assert_string_equal(h.text, "");
	sova_stt_close(r);
	assert_false(sova_stt_feed(r, silence, 320, err, sizeof err));
	assert_non_null(strstr(err, "closed"));
	assert_false(sova_stt_start(r, &o, err, sizeof err));
	assert_false(sova_stt_finalize(r, err, sizeof err));
	sova_stt_close(r); /* twice is harmless */
	sova_stt_free(r);

	heard_audio a;
	sova_tts *t = new_tts("cmu_us_kal", &a, false);
	sova_tts_close(t);
	assert_false(sova_tts_say(t, "yes", 3, true, err, sizeof err));
	assert_non_null(strstr(err, "closed"));
	sova_tts_cancel(t);
	sova_tts_free(t);
	assert_int_equal(a.frames, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yes_and_no_are_heard_as_said),
		cmocka_unit_test(a_spelled_out_reference_number_is_heard_as_said),
		cmocka_unit_test(a_select_option_is_heard_as_said),
		cmocka_unit_test(digit_classes_take_any_number),
		cmocka_unit_test(keywords_are_spotted_in_a_longer_line),
		cmocka_unit_test(a_hinted_name_replaces_what_the_language_model_heard),
		cmocka_unit_test(hints_leave_other_lines_as_the_language_model_heard_them),
		cmocka_unit_test(a_hint_of_common_words_changes_nothing),
		cmocka_unit_test(a_hint_with_unknown_words_is_dropped_and_the_search_stays_open),
		cmocka_unit_test(unknown_words_drop_their_phrase_and_are_reported),
		cmocka_unit_test(frames_are_20_ms_at_each_voices_rate),
		cmocka_unit_test(a_complete_clause_is_spoken_before_the_line_ends),
		cmocka_unit_test(cancel_stops_delivery_at_once),
		cmocka_unit_test(wrong_sample_rates_are_refused),
		cmocka_unit_test(empty_text_and_null_arguments_are_refused),
		cmocka_unit_test(feeding_before_start_or_after_close_is_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* The cases every WebSocket synthesizer must pass against sova-standin (test_tts_cartesia.c,
 * test_tts_elevenlabs.c include this after defining make_tts, PROVIDER and ERROR_CODE):
 * a normal turn (marks and audio in frames of the right size, chunk ends, done, in order), μ-law
 * at 8 kHz, cancel mid-turn (nothing more of it, the next turn works), a dropped socket (an error,
 * then a new socket at the next turn), a slow provider (first-audio timeout), the provider's error
 * message, malformed messages (counted, then an error past the bound), 401. */
#ifndef SOVA_TESTS_TTS_CLOUD_TESTS_H
#define SOVA_TESTS_TTS_CLOUD_TESTS_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "bot/speech/tts.h"
#include "standin_harness.h"

#define MAX_MARKS 128

typedef struct tts_seen {
	int audio_frames, bad_frames, marks, chunk_done, done, errors;
	size_t audio_bytes;
	uint32_t last_turn;
	char mark[MAX_MARKS][32];
	double mark_start[MAX_MARKS], mark_end[MAX_MARKS];
	char error[256];
	size_t frame_bytes;          /* what every frame must be */
	int frames_before_first_mark; /* order check: marks of a chunk come with or before its audio */
	int done_index, last_event_index, events;
	bool cancel_on_first_audio;
	sova_tts *tts;
	uint32_t cancelled_turn;
	int after_cancel;            /* events of the cancelled turn after cancel() */
} tts_seen;

static void on_tts(void *user, const sova_tts_event *ev)
{
	tts_seen *s = user;
	s->events++;
	if (s->cancelled_turn && ev->turn == s->cancelled_turn)
		s->after_cancel++;
	s->last_turn = ev->turn;
	switch (ev->kind) {
	case SOVA_TTS_AUDIO:
		s->audio_frames++;
		s->audio_bytes += ev->bytes;
		if (ev->bytes != s->frame_bytes)
			s->bad_frames++;
		if (s->cancel_on_first_audio && s->tts) {
			s->cancel_on_first_audio = false;
			s->cancelled_turn = ev->turn;
			sova_tts_cancel(s->tts);
		}
		break;
	case SOVA_TTS_MARK:
		if (s->marks == 0)
			s->frames_before_first_mark = s->audio_frames;
		if (s->marks < MAX_MARKS) {
			snprintf(s->mark[s->marks], sizeof s->mark[0], "%s", ev->text);
			s->mark_start[s->marks] = ev->start_s;
			s->mark_end[s->marks] = ev->end_s;
		}
		s->marks++;
		break;
	case SOVA_TTS_CHUNK_DONE:
		s->chunk_done++;
		break;
	case SOVA_TTS_DONE:
		s->done++;
		s->done_index = s->events;
		break;
	case SOVA_TTS_ERROR:
		s->errors++;
		snprintf(s->error, sizeof s->error, "%s", ev->text);
		break;
	}
}

static standin tts_sd;
static test_loop tts_lp;

static int tts_setup(void **state)
{
	(void)state;
	const char *args[] = {"--key", "tts-test-key", NULL};
	if (!standin_start(&tts_sd, args) || !loop_init(&tts_lp))
		return -1;
	return 0;
}

static int tts_teardown(void **state)
{
	(void)state;
	loop_free(&tts_lp);
	standin_stop(&tts_sd);
	return 0;
}

/* Defined by the including test: a synthesizer on the stand-in with these parameters. */
static sova_tts *make_tts(tts_seen *s, const char *params, int rate, sova_audio_encoding enc, const char *key,
			  int first_audio_timeout_ms, int max_malformed);

static bool turn_over(void *ud)
{
	tts_seen *s = ud;
	return s->done > 0 || s->errors > 0;
}

static bool was_cancelled(void *ud) { return ((tts_seen *)ud)->cancelled_turn != 0; }

static bool said(sova_tts *t, const char *text, bool final)
{
	char err[200];
	bool ok = sova_tts_say(t, text, strlen(text), final, err, sizeof err);
	if (!ok)
		print_message("# say: %s\n", err);
	return ok;
}

static void test_a_turn_gives_marks_and_frames_then_done(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640; /* 20 ms at 16 kHz PCM16 */
	sova_tts *t = make_tts(&s, "", 16000, SOVA_AUDIO_PCM16, NULL, 0, 0);
	assert_string_equal(sova_tts_name(t), PROVIDER);
	assert_int_equal(sova_tts_sample_rate(t), 16000);
	assert_true(said(t, "Hello there, ", false));
	assert_true(said(t, "how are you today?", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.bad_frames, 0);
	assert_true(s.audio_frames > 50); /* well over a second of speech */
	assert_int_equal(s.marks, 6);
	const char *words[] = {"hello", "there", "how", "are", "you", "today"};
	for (int i = 0; i < 6; i++) {
		assert_string_equal(s.mark[i], words[i]);
		assert_true(s.mark_end[i] >= s.mark_start[i]);
		if (i)
			assert_true(s.mark_start[i] >= s.mark_start[i - 1]);
	}
	/* marks fall inside the audio delivered */
	assert_true(s.mark_end[5] <= (double)s.audio_bytes / 2 / 16000 + 0.05);
	assert_true(s.chunk_done >= 1);
	assert_int_equal(s.done_index, s.events); /* DONE is the last event */
	/* a second turn on the same socket */
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	assert_true(said(t, "Goodbye.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.done, 1);
	assert_int_equal(s.last_turn, 2);
	sova_tts_free(t);
}

static void test_mulaw_at_8k_comes_in_160_byte_frames(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 160;
	sova_tts *t = make_tts(&s, "", 8000, SOVA_AUDIO_MULAW, NULL, 0, 0);
	assert_true(said(t, "Your appointment is at ten.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.bad_frames, 0);
	assert_true(s.audio_frames > 20);
	assert_true(s.marks >= 5);
	sova_tts_free(t);
}

static void test_cancel_mid_turn_stops_it_and_the_next_turn_works(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	/* paced at real time, so the turn is still coming when it is cancelled */
	sova_tts *t = make_tts(&s, "realtime=1", 16000, SOVA_AUDIO_PCM16, NULL, 0, 0);
	s.tts = t;
	s.cancel_on_first_audio = true;
	assert_true(said(t, "This is a long sentence that will be interrupted by the caller, ", false));
	assert_true(said(t, "so most of it is never heard.", true));
	assert_true(loop_until(&tts_lp, was_cancelled, &s, 5000));
	loop_run_ms(&tts_lp, 1000); /* what the stand-in still sends for that context is dropped */
	assert_int_equal(s.cancelled_turn, 1);
	assert_int_equal(s.after_cancel, 0);
	assert_int_equal(s.done, 0);
	assert_int_equal(s.errors, 0);
	assert_true(said(t, "Yes?", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.done, 1);
	assert_int_equal(s.last_turn, 2);
	assert_int_equal(s.after_cancel, 0);
	sova_tts_free(t);
}

static void test_a_dropped_socket_ends_the_turn_and_the_next_turn_reconnects(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	sova_tts *t = make_tts(&s, "session=" PROVIDER "-drop&faults_for=1&drop_after=3", 16000, SOVA_AUDIO_PCM16, NULL, 0, 0);
	assert_true(said(t, "Hello there, how are you today?", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.errors, 1);
	assert_non_null(strstr(s.error, "network"));
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	assert_true(said(t, "Hello again.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 5000));
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.done, 1);
	sova_tts_free(t);
}

static void test_a_slow_provider_is_a_timeout(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	sova_tts *t = make_tts(&s, "delay_ms=3000", 16000, SOVA_AUDIO_PCM16, NULL, 300, 0);
	assert_true(said(t, "Hello.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 2000));
	assert_int_equal(s.errors, 1);
	assert_true(!strncmp(s.error, "timeout: ", 9));
	loop_run_ms(&tts_lp, 200);
	assert_int_equal(s.audio_frames, 0);
	sova_tts_free(t);
}

static void test_the_provider_error_message_is_an_error_with_its_code(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	sova_tts *t = make_tts(&s, "error=1", 16000, SOVA_AUDIO_PCM16, NULL, 0, 0);
	assert_true(said(t, "Hello.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 3000));
	assert_int_equal(s.errors, 1);
	assert_non_null(strstr(s.error, ERROR_CODE));
	sova_tts_free(t);
}

static void test_malformed_messages_are_counted_then_an_error(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	sova_tts *t = make_tts(&s, "malformed=3", 16000, SOVA_AUDIO_PCM16, NULL, 0, 0);
	assert_true(said(t, "Hello there.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 3000));
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.done, 1);
	assert_int_equal(MALFORMED_COUNT(t), 3);
	sova_tts_free(t);
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	t = make_tts(&s, "malformed=3", 16000, SOVA_AUDIO_PCM16, NULL, 0, 2);
	assert_true(said(t, "Hello there.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 3000));
	assert_int_equal(s.errors, 1);
	assert_non_null(strstr(s.error, "malformed"));
	sova_tts_free(t);
}

static void test_a_wrong_key_is_an_auth_error(void **state)
{
	(void)state;
	static tts_seen s;
	memset(&s, 0, sizeof s);
	s.frame_bytes = 640;
	sova_tts *t = make_tts(&s, "", 16000, SOVA_AUDIO_PCM16, "wrong-key", 0, 0);
	loop_run_ms(&tts_lp, 200); /* the pre-opened socket is refused; the turn's own try says so */
	assert_true(said(t, "Hello.", true));
	assert_true(loop_until(&tts_lp, turn_over, &s, 3000));
	assert_int_equal(s.errors, 1);
	assert_true(!strncmp(s.error, "auth: ", 6));
	assert_null(strstr(s.error, "wrong-key"));
	sova_tts_free(t);
}

#define TTS_CLOUD_TESTS                                                                  \
	cmocka_unit_test(test_a_turn_gives_marks_and_frames_then_done),                  \
	cmocka_unit_test(test_mulaw_at_8k_comes_in_160_byte_frames),                     \
	cmocka_unit_test(test_cancel_mid_turn_stops_it_and_the_next_turn_works),         \
	cmocka_unit_test(test_a_dropped_socket_ends_the_turn_and_the_next_turn_reconnects), \
	cmocka_unit_test(test_a_slow_provider_is_a_timeout),                             \
	cmocka_unit_test(test_the_provider_error_message_is_an_error_with_its_code),     \
	cmocka_unit_test(test_malformed_messages_are_counted_then_an_error),             \
	cmocka_unit_test(test_a_wrong_key_is_an_auth_error)
#endif

/* Outbound pacing (core/bot/media/pacer.c) on an injected clock: deadlines at start + n × frame
 * whatever the wake-ups, late frames reported, barge-in drops unsent audio at once, and
 * played_ms counts only what went out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/media/pacer.h"

#define MS 1000000LL

typedef struct { int64_t now; } fake_clock;

static int64_t fake_now(void *ud) { return ((fake_clock *)ud)->now; }

static sova_pacer *make(fake_clock *c, int rate, int frame_ms, size_t capacity_ms)
{
	char err[128];
	sova_pacer_config cfg = {.sample_rate = rate, .frame_ms = frame_ms, .capacity_ms = capacity_ms,
				 .clock = fake_now, .clock_ud = c};
	sova_pacer *p = sova_pacer_new(&cfg, err, sizeof err);
	assert_non_null(p);
	return p;
}

/* n samples counting up from first, so frames can be recognised on the way out. */
static void push_ramp(sova_pacer *p, int first, size_t n)
{
	int16_t *pcm = malloc(n * sizeof *pcm);
	assert_non_null(pcm);
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)(first + (int)i);
	assert_int_equal(sova_pacer_push(p, pcm, n), n);
	free(pcm);
}

static void deadlines_do_not_drift(void **state)
{
	fake_clock c = {.now = 1000 * MS};
	sova_pacer *p = make(&c, 8000, 20, 2000);
	sova_pacer_begin_line(p);
	push_ramp(p, 0, 160 * 50);
	int16_t out[160];
	sova_pacer_frame info;
	int64_t next = 0;
	/* A loop that sleeps "20 ms" and wakes 3 ms late each time, as sleep-accumulated pacing
	 * would: the deadlines stay on the 20 ms grid and the pacer catches up by sending two. */
	int64_t t0 = c.now;
	uint64_t sent = 0;
	for (int wake = 0; wake < 40; wake++) {
		int rc;
		while ((rc = sova_pacer_poll(p, c.now, out, &info, &next)) == 1) {
			assert_int_equal(info.seq, sent);
			assert_int_equal(info.deadline_ns, t0 + (int64_t)sent * 20 * MS);
			assert_int_equal(info.late_ns, c.now - info.deadline_ns);
			assert_int_equal(out[0], (int16_t)(sent * 160));
			sent++;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(next, t0 + (int64_t)sent * 20 * MS);
		c.now += 23 * MS;
	}
	/* 40 wake-ups over 39 × 23 ms = 897 ms: every frame due by then went out (45 of them), none
	 * early. */
	assert_int_equal(sent, 897 / 20 + 1);
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.frames_sent, sent);
	assert_true(st.frames_late > 0);
	assert_true(st.max_late_ns < 23 * MS);
	sova_pacer_free(p);
}

/* A 20 ms tick whose wake-ups wander by a few ms either way (the bot's timerfd, with other calls
 * served first): with half a frame of early allowance every tick sends exactly one frame, never
 * two after a tick that came sooner than the last. */
static void a_jittery_tick_sends_one_frame_each(void **state)
{
	fake_clock c = {.now = 1000 * MS};
	char err[128];
	sova_pacer_config cfg = {.sample_rate = 8000, .frame_ms = 20, .capacity_ms = 2000, .early_ns = 10 * MS,
				 .clock = fake_now, .clock_ud = &c};
	sova_pacer *p = sova_pacer_new(&cfg, err, sizeof err);
	assert_non_null(p);
	push_ramp(p, 0, 160 * 60);
	int16_t out[160];
	sova_pacer_frame info;
	int64_t next, base = c.now;
	static const int jitter_ms[] = {3, 0, 4, 1, 0, 3, -2, 2, 0, 4, -3, 1};
	for (int tick = 0; tick < 48; tick++) {
		c.now = base + tick * 20 * MS + jitter_ms[tick % 12] * MS;
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
		assert_int_equal(info.seq, tick);
		assert_int_equal(out[0], (int16_t)(tick * 160));
		assert_int_equal(info.late_ns, c.now > info.deadline_ns ? c.now - info.deadline_ns : 0);
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 0);
	}
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.frames_sent, 48);
	assert_true(st.max_late_ns <= 7 * MS);
	sova_pacer_free(p);
}

/* Audio that arrives 13 ms after a tick: its first frame leaves at once, the rest on the ticks
 * (the grid of the last tick), one per tick and none late; while that spurt runs, another start
 * between ticks sends nothing. */
static void a_spurt_can_start_between_ticks(void **state)
{
	fake_clock c = {.now = 1000 * MS};
	char err[128];
	sova_pacer_config cfg = {.sample_rate = 8000, .frame_ms = 20, .capacity_ms = 2000, .early_ns = 10 * MS,
				 .clock = fake_now, .clock_ud = &c};
	sova_pacer *p = sova_pacer_new(&cfg, err, sizeof err);
	assert_non_null(p);
	int16_t out[160];
	sova_pacer_frame info;
	int64_t next, tick = c.now;
	assert_int_equal(sova_pacer_start_between_ticks(p, tick, out, &info, &next), 0); /* nothing ready */
	push_ramp(p, 0, 160 * 10);
	c.now = tick + 13 * MS;
	assert_int_equal(sova_pacer_start_between_ticks(p, tick, out, &info, &next), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(info.late_ns, 0);
	assert_int_equal(sova_pacer_start_between_ticks(p, tick, out, &info, &next), 0); /* a spurt runs */
	assert_int_equal(next, tick + 20 * MS - 10 * MS); /* frame 1 is due at the next tick (10 ms early allowed) */
	for (int n = 1; n < 10; n++) {
		c.now = tick + n * 20 * MS;
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
		assert_int_equal(out[0], (int16_t)(n * 160));
		assert_int_equal(info.deadline_ns, tick + n * 20 * MS);
		assert_int_equal(info.late_ns, 0);
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 0);
	}
	sova_pacer_free(p);
}

static void nothing_before_its_deadline(void **state)
{
	fake_clock c = {.now = 5 * MS};
	sova_pacer *p = make(&c, 16000, 10, 1000);
	int16_t out[160];
	int64_t next = 0;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 0);
	assert_int_equal(next, -1); /* nothing buffered */
	push_ramp(p, 0, 480);
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 1); /* the spurt starts now */
	assert_int_equal(next, 15 * MS);
	c.now += 9 * MS;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 0);
	assert_int_equal(next, 15 * MS);
	c.now += 1 * MS;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 1);
	assert_int_equal(out[0], 160);
	sova_pacer_free(p);
}

static void late_frames_are_reported(void **state)
{
	fake_clock c = {.now = 0};
	sova_pacer *p = make(&c, 8000, 20, 1000);
	push_ramp(p, 0, 160 * 10);
	int16_t out[160];
	sova_pacer_frame info;
	int64_t next;
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
	assert_false(info.late);
	/* The worker stalls 70 ms: frames 1..3 are due, all go out now, each late by its distance. */
	c.now = 70 * MS;
	int64_t want_late[] = {50 * MS, 30 * MS, 10 * MS};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
		assert_int_equal(info.late_ns, want_late[i]);
		assert_true(info.late); /* beyond a quarter frame (5 ms) */
	}
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 0);
	assert_int_equal(next, 80 * MS); /* the grid is unchanged */
	c.now = 81 * MS;
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
	assert_false(info.late); /* 1 ms: within the tolerance */
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.frames_late, 3);
	assert_int_equal(st.max_late_ns, 50 * MS);
	sova_pacer_free(p);
}

static void clear_drops_unsent_audio_at_once(void **state)
{
	fake_clock c = {.now = 0};
	sova_pacer *p = make(&c, 16000, 20, 5000);
	sova_pacer_begin_line(p);
	push_ramp(p, 0, 320 * 100); /* a 2 s line */
	int16_t out[320];
	int64_t next;
	for (int i = 0; i < 7; i++) {
		assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 1);
		c.now += 20 * MS;
	}
	/* Barge-in: everything unsent goes, the next poll sends nothing, played_ms stays readable. */
	assert_int_equal(sova_pacer_clear(p), 320 * 93);
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 0);
	assert_int_equal(next, -1);
	assert_int_equal(sova_pacer_played_ms(p), 140);
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.samples_dropped, 320 * 93);
	assert_int_equal(st.buffered_samples, 0);
	assert_int_equal(st.underruns, 0);
	/* The next line starts its own spurt on a fresh grid. */
	c.now += 3 * MS;
	sova_pacer_begin_line(p);
	assert_int_equal(sova_pacer_played_ms(p), 0);
	push_ramp(p, 5, 320);
	sova_pacer_frame info;
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
	assert_int_equal(info.deadline_ns, c.now);
	assert_int_equal(out[0], 5);
	sova_pacer_free(p);
}

static void line_end_pads_and_counts_only_audio(void **state)
{
	fake_clock c = {.now = 0};
	sova_pacer *p = make(&c, 8000, 10, 1000);
	sova_pacer_begin_line(p);
	push_ramp(p, 1, 250); /* 3 frames of 80 and 10 samples */
	sova_pacer_end_line(p);
	int16_t out[80];
	sova_pacer_frame info;
	int64_t next;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
		assert_false(info.line_end);
		c.now += 10 * MS;
	}
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
	assert_true(info.line_end);
	assert_int_equal(out[0], 241);
	assert_int_equal(out[9], 250);
	assert_int_equal(out[10], 0); /* padding */
	assert_int_equal(out[79], 0);
	assert_int_equal(sova_pacer_played_ms(p), 31); /* 250 samples at 8 kHz */
	c.now += 10 * MS;
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 0);
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.underruns, 0); /* ran dry at a line's end: not an underrun */
	sova_pacer_free(p);
}

static void a_lagging_synthesizer_is_an_underrun(void **state)
{
	fake_clock c = {.now = 0};
	sova_pacer *p = make(&c, 8000, 20, 1000);
	sova_pacer_begin_line(p);
	push_ramp(p, 0, 240); /* one and a half frames, line still open */
	int16_t out[160];
	int64_t next;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 1);
	c.now = 20 * MS;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 0);
	assert_int_equal(next, -1);
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.underruns, 1);
	/* More audio 35 ms later: a new spurt from then, no burst for the gap. */
	c.now = 55 * MS;
	push_ramp(p, 240, 160);
	sova_pacer_frame info;
	assert_int_equal(sova_pacer_poll(p, c.now, out, &info, &next), 1);
	assert_int_equal(info.deadline_ns, 55 * MS);
	assert_int_equal(out[0], 160);
	sova_pacer_free(p);
}

static void a_full_buffer_pushes_back(void **state)
{
	fake_clock c = {.now = 0};
	sova_pacer *p = make(&c, 8000, 20, 100); /* 5 frames */
	int16_t pcm[1000] = {0};
	assert_int_equal(sova_pacer_push(p, pcm, 1000), 800);
	assert_int_equal(sova_pacer_push(p, pcm, 10), 0);
	int16_t out[160];
	int64_t next;
	assert_int_equal(sova_pacer_poll(p, c.now, out, NULL, &next), 1);
	assert_int_equal(sova_pacer_push(p, pcm, 1000), 160);
	sova_pacer_free(p);
}

/* An owner that serves many pacers per tick: the deadlines stay on its ticks' grid, and each
 * frame's lateness is the clock when it left, the owner's own delay within the tick included. */
static void lateness_is_taken_when_the_frame_leaves(void **state)
{
	fake_clock c = {.now = 1000 * MS};
	char err[128];
	sova_pacer_config cfg = {.sample_rate = 8000, .frame_ms = 20, .capacity_ms = 2000, .early_ns = 10 * MS,
				 .clock = fake_now, .clock_ud = &c};
	sova_pacer *p = sova_pacer_new(&cfg, err, sizeof err);
	assert_non_null(p);
	push_ramp(p, 0, 160 * 10);
	int16_t out[160];
	sova_pacer_frame info;
	int64_t next, tick = 1000 * MS;
	static const int within_tick_ms[] = {2, 0, 7, 1};
	for (int n = 0; n < 4; n++) {
		c.now = tick + n * 20 * MS + within_tick_ms[n] * MS;
		assert_int_equal(sova_pacer_poll(p, tick + n * 20 * MS, out, &info, &next), 1);
		assert_int_equal(info.deadline_ns, tick + n * 20 * MS); /* the spurt began at the tick, not 2 ms into it */
		assert_int_equal(info.late_ns, within_tick_ms[n] * MS);
		assert_int_equal(info.late, within_tick_ms[n] > 5);
		assert_int_equal(sova_pacer_poll(p, tick + n * 20 * MS, out, &info, &next), 0);
	}
	sova_pacer_stats st;
	sova_pacer_get_stats(p, &st);
	assert_int_equal(st.frames_late, 1);
	assert_int_equal(st.max_late_ns, 7 * MS);
	sova_pacer_free(p);
}

static void bad_configuration_is_refused(void **state)
{
	char err[128];
	sova_pacer_config cfg = {.sample_rate = 44100, .frame_ms = 20, .capacity_ms = 1000};
	assert_null(sova_pacer_new(&cfg, err, sizeof err));
	cfg.sample_rate = 8000;
	cfg.frame_ms = 5;
	assert_null(sova_pacer_new(&cfg, err, sizeof err));
	cfg.frame_ms = 20;
	cfg.capacity_ms = 10;
	assert_null(sova_pacer_new(&cfg, err, sizeof err));
	assert_null(sova_pacer_new(NULL, err, sizeof err));
	cfg.capacity_ms = 1000;
	sova_pacer *p = sova_pacer_new(&cfg, err, sizeof err); /* the real monotonic clock */
	assert_non_null(p);
	int16_t out[160];
	int64_t next;
	assert_int_equal(sova_pacer_poll(p, 0, NULL, NULL, &next), -1);
	assert_int_equal(sova_pacer_poll(p, 0, out, NULL, NULL), -1);
	sova_pacer_free(p);
	sova_pacer_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deadlines_do_not_drift),
		cmocka_unit_test(a_jittery_tick_sends_one_frame_each),
		cmocka_unit_test(a_spurt_can_start_between_ticks),
		cmocka_unit_test(nothing_before_its_deadline),
		cmocka_unit_test(late_frames_are_reported),
		cmocka_unit_test(clear_drops_unsent_audio_at_once),
		cmocka_unit_test(line_end_pads_and_counts_only_audio),
		cmocka_unit_test(a_lagging_synthesizer_is_an_underrun),
		cmocka_unit_test(a_full_buffer_pushes_back),
		cmocka_unit_test(lateness_is_taken_when_the_frame_leaves),
		cmocka_unit_test(bad_configuration_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

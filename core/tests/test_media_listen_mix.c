/* A listener's mix (core/bot/media/listen_mix.c): both channels added on their timeline, frames
 * handed out aligned and only once the delay has passed, late and far-early samples dropped,
 * sums saturated, and a present that ran a window ahead skipping rather than bursting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/media/listen_mix.h"

/* 8 kHz, 20 ms frames (160 samples), 120 ms delay (960 samples) */
#define FRAME 160
#define DELAY 960

static sova_listen_mix *make(uint64_t now)
{
	char err[128];
	sova_listen_mix *m = sova_listen_mix_new(8000, 20, 120, now, err, sizeof err);
	assert_non_null(m);
	assert_int_equal(sova_listen_mix_frame_samples(m), FRAME);
	return m;
}

static void fill(int16_t *pcm, size_t n, int16_t v)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = v;
}

static void frames_are_aligned_and_wait_for_the_delay(void **state)
{
	(void)state;
	int16_t out[FRAME];
	/* present 5000: due frames end at or before 4040; the newest of them is [3840, 4000) */
	sova_listen_mix *m = make(5000);
	int16_t pcm[FRAME];
	fill(pcm, FRAME, 100);
	sova_listen_mix_add(m, 3840, pcm, FRAME);
	assert_true(sova_listen_mix_next(m, 5000, out));
	for (int i = 0; i < FRAME; i++)
		assert_int_equal(out[i], 100);
	/* [4000, 4160) is due once the present reaches 4160 + 960 */
	assert_false(sova_listen_mix_next(m, 5119, out));
	assert_true(sova_listen_mix_next(m, 5120, out));
	for (int i = 0; i < FRAME; i++)
		assert_int_equal(out[i], 0); /* nobody wrote: silence */
	assert_false(sova_listen_mix_next(m, 5120, out));
	sova_listen_mix_free(m);
}

static void both_channels_add_at_their_positions(void **state)
{
	(void)state;
	int16_t out[FRAME];
	sova_listen_mix *m = make(0);
	int16_t agent[FRAME], far[100];
	fill(agent, FRAME, 1000);
	fill(far, 100, -300);
	sova_listen_mix_add(m, 0, agent, FRAME);   /* the agent's frame at its deadline */
	sova_listen_mix_add(m, 100, far, 100);     /* the far end's, from 100 to 200: across two frames */
	assert_true(sova_listen_mix_next(m, FRAME + DELAY, out));
	assert_int_equal(out[0], 1000);
	assert_int_equal(out[99], 1000);
	assert_int_equal(out[100], 700);
	assert_int_equal(out[159], 700);
	assert_true(sova_listen_mix_next(m, 2 * FRAME + DELAY, out));
	assert_int_equal(out[0], -300);
	assert_int_equal(out[39], -300);
	assert_int_equal(out[40], 0);
	sova_listen_mix_free(m);
}

static void sums_saturate(void **state)
{
	(void)state;
	int16_t out[FRAME], loud[FRAME], low[FRAME];
	sova_listen_mix *m = make(0);
	fill(loud, FRAME, 30000);
	fill(low, FRAME, -30000);
	sova_listen_mix_add(m, 0, loud, FRAME);
	sova_listen_mix_add(m, 0, loud, FRAME);
	sova_listen_mix_add(m, FRAME, low, FRAME);
	sova_listen_mix_add(m, FRAME, low, FRAME);
	assert_true(sova_listen_mix_next(m, FRAME + DELAY, out));
	assert_int_equal(out[7], INT16_MAX);
	assert_true(sova_listen_mix_next(m, 2 * FRAME + DELAY, out));
	assert_int_equal(out[7], INT16_MIN);
	sova_listen_mix_free(m);
}

static void late_and_far_early_samples_are_dropped(void **state)
{
	(void)state;
	int16_t out[FRAME], pcm[8000];
	sova_listen_mix *m = make(0);
	fill(pcm, 8000, 50);
	assert_true(sova_listen_mix_next(m, FRAME + DELAY, out)); /* [0, 160) is out */
	sova_listen_mix_add(m, 0, pcm, FRAME);                      /* too late for it */
	/* a second of audio at once: only the window (500 ms) from the next frame on is kept */
	sova_listen_mix_add(m, FRAME, pcm, 8000);
	uint64_t now = 2 * FRAME + DELAY;
	int kept = 0, frames = 0;
	for (; frames < 50; frames++, now += FRAME) {
		assert_true(sova_listen_mix_next(m, now, out));
		if (out[0] == 50 && out[FRAME - 1] == 50)
			kept++;
		else
			assert_int_equal(out[0], 0);
	}
	assert_int_equal(kept, 25); /* 4000 samples: what the ring held, never wrapped onto later frames */
	sova_listen_mix_free(m);
}

static void a_present_a_window_ahead_skips(void **state)
{
	(void)state;
	int16_t out[FRAME], pcm[FRAME];
	sova_listen_mix *m = make(0);
	fill(pcm, FRAME, 9);
	sova_listen_mix_add(m, 0, pcm, FRAME); /* stale once the present is far ahead */
	/* ten seconds later: one frame, the newest due, then nothing until the next is */
	uint64_t now = 80000;
	assert_true(sova_listen_mix_next(m, now, out));
	assert_int_equal(out[0], 0);
	assert_false(sova_listen_mix_next(m, now, out));
	assert_true(sova_listen_mix_next(m, now + FRAME, out));
	sova_listen_mix_free(m);
}

static void refuses_what_it_cannot_hold(void **state)
{
	(void)state;
	char err[128];
	assert_null(sova_listen_mix_new(4000, 20, 120, 0, err, sizeof err));
	assert_null(sova_listen_mix_new(8000, 20, 490, 0, err, sizeof err));
	assert_null(sova_listen_mix_new(8000, 5, 120, 0, err, sizeof err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_are_aligned_and_wait_for_the_delay),
		cmocka_unit_test(both_channels_add_at_their_positions),
		cmocka_unit_test(sums_saturate),
		cmocka_unit_test(late_and_far_early_samples_are_dropped),
		cmocka_unit_test(a_present_a_window_ahead_skips),
		cmocka_unit_test(refuses_what_it_cannot_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

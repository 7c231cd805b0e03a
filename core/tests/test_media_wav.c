/* The two-channel recording (core/bot/media/wav.c): the header is parsed back field by field,
 * silent stretches of either side are zeros, and the sizes are patched at finish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/media/wav.h"

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Sample i of channel ch (0 left, 1 right) in the data chunk. */
static int16_t sample_at(const uint8_t *wav, size_t i, int ch) { return (int16_t)get16(wav + 44 + i * 4 + (size_t)ch * 2); }

static void header_parses_back(void **state)
{
	char err[128];
	sova_wav *w = sova_wav_new(16000, 1 << 20, err, sizeof err);
	assert_non_null(w);
	int16_t agent[320], other[160];
	for (int i = 0; i < 320; i++)
		agent[i] = (int16_t)(i + 1);
	for (int i = 0; i < 160; i++)
		other[i] = (int16_t)-(i + 1);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 0, agent, 320), 0);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, 0, other, 160), 0);
	size_t len = 0;
	const uint8_t *f = sova_wav_finish(w, &len);
	assert_int_equal(len, 44 + 320 * 4);
	assert_memory_equal(f, "RIFF", 4);
	assert_int_equal(get32(f + 4), len - 8);
	assert_memory_equal(f + 8, "WAVEfmt ", 8);
	assert_int_equal(get32(f + 16), 16);
	assert_int_equal(get16(f + 20), 1);      /* PCM */
	assert_int_equal(get16(f + 22), 2);      /* channels */
	assert_int_equal(get32(f + 24), 16000);  /* rate */
	assert_int_equal(get32(f + 28), 64000);  /* byte rate */
	assert_int_equal(get16(f + 32), 4);      /* block align */
	assert_int_equal(get16(f + 34), 16);     /* bits */
	assert_memory_equal(f + 36, "data", 4);
	assert_int_equal(get32(f + 40), 320 * 4);
	assert_int_equal(sample_at(f, 0, 0), 1);
	assert_int_equal(sample_at(f, 0, 1), -1);
	assert_int_equal(sample_at(f, 319, 0), 320);
	assert_int_equal(sample_at(f, 159, 1), -160);
	/* The shorter side is padded with silence to the longer one's end. */
	assert_int_equal(sample_at(f, 160, 1), 0);
	assert_int_equal(sample_at(f, 319, 1), 0);
	/* Finished: no more writes. */
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 320, agent, 1), -1);
	sova_wav_free(w);
}

static void silent_stretches_stay_aligned(void **state)
{
	char err[128];
	sova_wav *w = sova_wav_new(8000, 1 << 20, err, sizeof err);
	assert_non_null(w);
	int16_t a[80], b[80];
	for (int i = 0; i < 80; i++) {
		a[i] = 1000;
		b[i] = -2000;
	}
	/* The other party speaks at 0 and at 1 s; the agent only at 0.5 s. Both at their times. */
	assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, 0, b, 80), 0);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 4000, a, 80), 0);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, 8000, b, 80), 0);
	assert_int_equal(sova_wav_channel_end(w, SOVA_WAV_AGENT), 4080);
	assert_int_equal(sova_wav_channel_end(w, SOVA_WAV_OTHER), 8080);
	/* A position already passed appends at the channel's end (never back in time). */
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 100, a, 80), 0);
	assert_int_equal(sova_wav_channel_end(w, SOVA_WAV_AGENT), 4160);
	size_t len = 0;
	const uint8_t *f = sova_wav_finish(w, &len);
	assert_int_equal(len, 44 + 8080 * 4);
	assert_int_equal(get32(f + 40), 8080 * 4);
	for (size_t i = 0; i < 8080; i++) {
		int16_t want_a = i >= 4000 && i < 4160 ? 1000 : 0;
		int16_t want_b = i < 80 || i >= 8000 ? -2000 : 0;
		assert_int_equal(sample_at(f, i, 0), want_a);
		assert_int_equal(sample_at(f, i, 1), want_b);
	}
	sova_wav_free(w);
}

static void bounds_and_bad_arguments(void **state)
{
	char err[128];
	assert_null(sova_wav_new(44100, 1 << 20, err, sizeof err));
	assert_null(sova_wav_new(8000, 10, err, sizeof err));
	/* Room for exactly 100 stereo frames. */
	sova_wav *w = sova_wav_new(8000, 44 + 400, err, sizeof err);
	assert_non_null(w);
	int16_t pcm[101] = {0};
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 0, pcm, 101), -1);
	assert_int_equal(sova_wav_channel_end(w, SOVA_WAV_AGENT), 0);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_AGENT, 0, pcm, 100), 0);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, 100, pcm, 1), -1);
	assert_int_equal(sova_wav_write(w, (sova_wav_channel)2, 0, pcm, 1), -1);
	assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, 0, NULL, 1), -1);
	size_t len = 0;
	sova_wav_finish(w, &len);
	assert_int_equal(len, 444);
	sova_wav_free(w);
	sova_wav_free(NULL);
}

/* An hour-long call at 8 kHz grows the buffer many times: contents survive each growth. */
static void grows_across_many_writes(void **state)
{
	char err[128];
	sova_wav *w = sova_wav_new(8000, (size_t)64 << 20, err, sizeof err);
	assert_non_null(w);
	int16_t frame[160];
	for (uint64_t f = 0; f < 3000; f++) { /* 60 s of 20 ms frames */
		for (int i = 0; i < 160; i++)
			frame[i] = (int16_t)(f % 30000);
		assert_int_equal(sova_wav_write(w, SOVA_WAV_OTHER, f * 160, frame, 160), 0);
	}
	size_t len = 0;
	const uint8_t *f = sova_wav_finish(w, &len);
	assert_int_equal(len, 44 + 3000 * 160 * 4);
	for (size_t k = 0; k < 3000; k++) {
		assert_int_equal(sample_at(f, k * 160 + 7, 1), (int16_t)(k % 30000));
		assert_int_equal(sample_at(f, k * 160 + 7, 0), 0);
	}
	sova_wav_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_parses_back),
		cmocka_unit_test(silent_stretches_stay_aligned),
		cmocka_unit_test(bounds_and_bad_arguments),
		cmocka_unit_test(grows_across_many_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The media plane's audio primitives (core/bot/media/audio.c): μ-law against the ITU-T G.191
 * reference, PCM16 little-endian, frame levels, and the streaming resampler on a 1 kHz sine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/media/audio.h"

/* ---- μ-law ---- */

/* ulaw_compress of ITU-T G.191 (g711.c), one sample, written out as the reference has it: the
 * implementation under test uses lookup tables instead of this loop. */
static uint8_t g191_ulaw_compress(int16_t lin)
{
	int absno = lin < 0 ? ((~lin) >> 2) + 33 : (lin >> 2) + 33;
	if (absno > 0x1FFF)
		absno = 0x1FFF;
	int i = absno >> 6, segno = 1;
	while (i != 0) {
		segno++;
		i >>= 1;
	}
	int high_nibble = 0x0008 - segno;
	int low_nibble = 0x000F - ((absno >> segno) & 0x000F);
	int code = (high_nibble << 4) | low_nibble;
	if (lin >= 0)
		code |= 0x0080;
	return (uint8_t)code;
}

/* ulaw_expand of G.191. */
static int16_t g191_ulaw_expand(uint8_t log)
{
	int sign = log < 0x0080 ? -1 : 1;
	int mantissa = ~log;
	int exponent = (mantissa >> 4) & 0x0007;
	int segment = exponent + 1;
	mantissa &= 0x000F;
	int step = 4 << segment;
	return (int16_t)(sign * ((0x0080 << exponent) + step * mantissa + step / 2 - 4 * 33));
}

static void mulaw_known_values(void **state)
{
	static const struct { int16_t lin; uint8_t code; } enc[] = {
		{0, 0xFF}, {-1, 0x7F}, {1, 0xFF}, {4, 0xFE}, {100, 0xF2}, {-100, 0x73}, {1000, 0xCE},
		{-1000, 0x4E}, {8159, 0x9F}, {12345, 0x97}, {32124, 0x80}, {32767, 0x80}, {-32124, 0x00},
		{-32768, 0x00},
	};
	for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++)
		assert_int_equal(sova_mulaw_encode(enc[i].lin), enc[i].code);
	/* Decoded values of the G.711 table (both zeros decode to 0). */
	assert_int_equal(sova_mulaw_decode(0x00), -32124);
	assert_int_equal(sova_mulaw_decode(0x80), 32124);
	assert_int_equal(sova_mulaw_decode(0xFF), 0);
	assert_int_equal(sova_mulaw_decode(0x7F), 0);
	assert_int_equal(sova_mulaw_decode(0xF2), 104);
	assert_int_equal(sova_mulaw_decode(0xCE), 988);
	assert_int_equal(sova_mulaw_decode(0x4E), -988);
}

static void mulaw_matches_g191_for_every_input(void **state)
{
	for (int x = -32768; x <= 32767; x++)
		assert_int_equal(sova_mulaw_encode((int16_t)x), g191_ulaw_compress((int16_t)x));
	for (int c = 0; c < 256; c++)
		assert_int_equal(sova_mulaw_decode((uint8_t)c), g191_ulaw_expand((uint8_t)c));
}

static void mulaw_round_trip_of_all_256_codes(void **state)
{
	uint8_t codes[256], again[256];
	int16_t pcm[256];
	for (int c = 0; c < 256; c++)
		codes[c] = (uint8_t)c;
	sova_mulaw_decode_frame(codes, 256, pcm);
	sova_mulaw_encode_frame(pcm, 256, again);
	for (int c = 0; c < 256; c++) {
		/* 0x7F is the negative zero: it decodes to 0, which encodes as the positive zero. */
		assert_int_equal(again[c], c == 0x7F ? 0xFF : c);
	}
	/* And linear -> μ-law -> linear stays within half a quantization step: the step of segment
	 * e is 8 << e and its magnitudes start at (128 << e) - 132, so half a step <= (|x| + 132) / 32. */
	for (int x = -32768; x <= 32767; x++) {
		int clipped = x < -32124 ? -32124 : x > 32124 ? 32124 : x;
		int back = sova_mulaw_decode(sova_mulaw_encode((int16_t)x));
		assert_true(abs(back - clipped) <= (abs(clipped) + 132) / 32 + 1);
	}
}

/* ---- PCM16 little-endian, levels, frame sizes ---- */

static void pcm16le_round_trip(void **state)
{
	const uint8_t bytes[] = {0x01, 0x00, 0xFF, 0xFF, 0x00, 0x80, 0xFF, 0x7F};
	int16_t pcm[4];
	size_t n = 0;
	assert_true(sova_pcm16le_samples(sizeof bytes, &n));
	assert_int_equal(n, 4);
	assert_false(sova_pcm16le_samples(7, &n));
	sova_pcm16le_read(bytes, 4, pcm);
	assert_int_equal(pcm[0], 1);
	assert_int_equal(pcm[1], -1);
	assert_int_equal(pcm[2], -32768);
	assert_int_equal(pcm[3], 32767);
	uint8_t out[8];
	sova_pcm16le_write(pcm, 4, out);
	assert_memory_equal(out, bytes, sizeof bytes);
}

static void sine(int16_t *out, size_t n, int rate, double freq, double amp, size_t phase0)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (int16_t)lrint(amp * sin(2 * M_PI * freq * (double)(i + phase0) / rate));
}

static void levels(void **state)
{
	int16_t buf[1600];
	for (size_t i = 0; i < 1600; i++)
		buf[i] = (i / 4) % 2 ? -32767 : 32767;
	assert_true(fabs(sova_level_dbfs(buf, 1600) - 0.0) < 0.01);
	sine(buf, 1600, 16000, 1000, 32767 * 0.1, 0);
	assert_true(fabs(sova_level_dbfs(buf, 1600) - (-20.0 - 3.0103)) < 0.05);
	memset(buf, 0, sizeof buf);
	assert_true(sova_level_dbfs(buf, 1600) == SOVA_LEVEL_FLOOR_DBFS);
	assert_true(sova_level_dbfs(buf, 0) == SOVA_LEVEL_FLOOR_DBFS);
}

static void frame_sizes(void **state)
{
	assert_int_equal(sova_frame_samples(8000, 10), 80);
	assert_int_equal(sova_frame_samples(16000, 20), 320);
	assert_int_equal(sova_frame_samples(48000, 100), 4800);
	assert_int_equal(sova_frame_samples(16000, 9), 0);
	assert_int_equal(sova_frame_samples(16000, 101), 0);
	assert_int_equal(sova_frame_samples(44100, 20), 0);
	assert_false(sova_audio_rate_ok(22050));
}

/* ---- Resampler ---- */

/* Positive-going zero crossings in pcm[from, to), interpolated, as a frequency. */
static double frequency_of(const int16_t *pcm, size_t from, size_t to, int rate)
{
	double first = -1, last = -1;
	int count = 0;
	for (size_t i = from + 1; i < to; i++) {
		if (pcm[i - 1] < 0 && pcm[i] >= 0) {
			double t = (double)(i - 1) + (double)-pcm[i - 1] / (double)(pcm[i] - pcm[i - 1]);
			if (first < 0)
				first = t;
			else
				count++;
			last = t;
		}
	}
	assert_true(count > 10);
	return count * (double)rate / (last - first);
}

/* One second of a 1 kHz sine at -13 dBFS, streamed in frames of frame_ms, then flushed. */
static void resample_sine(int in_rate, int out_rate, int frame_ms)
{
	char err[128];
	sova_resampler *r = sova_resampler_new(in_rate, out_rate, err, sizeof err);
	assert_non_null(r);
	size_t frame = sova_frame_samples(in_rate, frame_ms);
	assert_true(frame > 0);
	size_t frames = 1000 / (size_t)frame_ms, total_in = frame * frames;
	int16_t *in = malloc(total_in * sizeof *in);
	size_t cap = (size_t)out_rate * 2;
	int16_t *out = malloc(cap * sizeof *out);
	assert_non_null(in);
	assert_non_null(out);
	sine(in, total_in, in_rate, 1000, 32767 * 0.316, 0);
	size_t n_out = 0;
	for (size_t f = 0; f < frames; f++) {
		size_t got = 0;
		assert_int_equal(sova_resampler_process(r, in + f * frame, frame, out + n_out, cap - n_out, &got), 0);
		n_out += got;
	}
	size_t tail = 0;
	assert_int_equal(sova_resampler_flush(r, out + n_out, cap - n_out, &tail), 0);
	assert_true(tail <= sova_resampler_latency(r) + 1);
	n_out += tail;
	/* The whole second comes out: the delay is skipped at the start and flushed at the end. */
	size_t expect = total_in * (size_t)out_rate / (size_t)in_rate;
	assert_true(n_out + 2 >= expect && n_out <= expect + 2);
	/* Away from the edges, the frequency and the level are the input's. */
	size_t lo = (size_t)out_rate / 20, hi = n_out - (size_t)out_rate / 20;
	double f = frequency_of(out, lo, hi, out_rate);
	assert_true(fabs(f - 1000.0) < 2.0);
	double level = sova_level_dbfs(out + lo, hi - lo);
	double want = sova_level_dbfs(in + (size_t)in_rate / 20, (size_t)in_rate * 9 / 10);
	assert_true(fabs(level - want) < 0.3);

	/* Streaming keeps state across frames: the same signal in one piece gives the same output. */
	sova_resampler *one = sova_resampler_new(in_rate, out_rate, err, sizeof err);
	assert_non_null(one);
	int16_t *out1 = malloc(cap * sizeof *out1);
	assert_non_null(out1);
	size_t n1 = 0, t1 = 0;
	assert_int_equal(sova_resampler_process(one, in, total_in, out1, cap, &n1), 0);
	assert_int_equal(sova_resampler_flush(one, out1 + n1, cap - n1, &t1), 0);
	assert_int_equal(n1 + t1, n_out);
	size_t differ = 0;
	for (size_t i = 0; i < n_out; i++)
		differ += abs(out1[i] - out[i]) > 1;
	assert_int_equal(differ, 0);
	sova_resampler_free(one);
	free(out1);
	free(in);
	free(out);
	sova_resampler_free(r);
}

static void resampler_keeps_frequency_and_level(void **state)
{
	static const int pairs[][2] = {{8000, 16000}, {16000, 8000}, {8000, 48000},
				       {48000, 8000}, {16000, 48000}, {48000, 16000}};
	static const int sizes[] = {10, 20, 50, 100};
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
			resample_sine(pairs[p][0], pairs[p][1], sizes[s]);
}

static void resampler_equal_rates_copy(void **state)
{
	char err[128];
	sova_resampler *r = sova_resampler_new(16000, 16000, err, sizeof err);
	assert_non_null(r);
	int16_t in[320], out[400];
	sine(in, 320, 16000, 1000, 1000, 0);
	size_t n = 0;
	assert_int_equal(sova_resampler_process(r, in, 320, out, 400, &n), 0);
	assert_int_equal(n, 320);
	assert_memory_equal(in, out, sizeof in);
	assert_int_equal(sova_resampler_flush(r, out, 400, &n), 0);
	assert_int_equal(n, 0);
	sova_resampler_free(r);
}

static void resampler_refuses_bad_arguments(void **state)
{
	char err[128] = "";
	assert_null(sova_resampler_new(44100, 16000, err, sizeof err));
	assert_non_null(strstr(err, "unsupported rate"));
	assert_null(sova_resampler_new(8000, 0, err, sizeof err));
	sova_resampler *r = sova_resampler_new(8000, 16000, err, sizeof err);
	assert_non_null(r);
	int16_t in[160] = {0}, out[400];
	size_t n = 99;
	/* Too small an output for 160 samples at twice the rate: refused, nothing consumed. */
	assert_int_equal(sova_resampler_process(r, in, 160, out, 319, &n), -1);
	assert_int_equal(n, 99);
	assert_int_equal(sova_resampler_process(r, NULL, 160, out, 400, &n), -1);
	assert_int_equal(sova_resampler_process(r, in, 160, out, 400, NULL), -1);
	assert_int_equal(sova_resampler_process(NULL, in, 160, out, 400, &n), -1);
	assert_int_equal(sova_resampler_flush(r, out, 1, &n), -1);
	assert_int_equal(sova_resampler_process(r, in, 160, out, 400, &n), 0);
	sova_resampler_free(r);
	sova_resampler_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mulaw_known_values),
		cmocka_unit_test(mulaw_matches_g191_for_every_input),
		cmocka_unit_test(mulaw_round_trip_of_all_256_codes),
		cmocka_unit_test(pcm16le_round_trip),
		cmocka_unit_test(levels),
		cmocka_unit_test(frame_sizes),
		cmocka_unit_test(resampler_keeps_frequency_and_level),
		cmocka_unit_test(resampler_equal_rates_copy),
		cmocka_unit_test(resampler_refuses_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Audio primitives: see audio.h. */
#include "bot/media/audio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_resampler.h>

bool sova_audio_rate_ok(int sample_rate)
{
	return sample_rate == 8000 || sample_rate == 16000 || sample_rate == 48000;
}

size_t sova_frame_samples(int sample_rate, int frame_ms)
{
	if (!sova_audio_rate_ok(sample_rate) || frame_ms < SOVA_FRAME_MIN_MS || frame_ms > SOVA_FRAME_MAX_MS)
		return 0;
	return (size_t)sample_rate / 1000 * (size_t)frame_ms;
}

/* ---- G.711 μ-law ---- */

/* ulaw_expand of G.191 for every code: sign from bit 7, then the one's complement of the rest
 * gives segment and mantissa; values are the 14-bit magnitudes left-justified in 16 bits. */
static const int16_t mulaw_to_pcm[256] = {
	-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
	-23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
	-15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
	-11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
	-7932, -7676, -7420, -7164, -6908, -6652, -6396, -6140,
	-5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092,
	-3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004,
	-2876, -2748, -2620, -2492, -2364, -2236, -2108, -1980,
	-1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436,
	-1372, -1308, -1244, -1180, -1116, -1052, -988, -924,
	-876, -844, -812, -780, -748, -716, -684, -652,
	-620, -588, -556, -524, -492, -460, -428, -396,
	-372, -356, -340, -324, -308, -292, -276, -260,
	-244, -228, -212, -196, -180, -164, -148, -132,
	-120, -112, -104, -96, -88, -80, -72, -64,
	-56, -48, -40, -32, -24, -16, -8, 0,
	32124, 31100, 30076, 29052, 28028, 27004, 25980, 24956,
	23932, 22908, 21884, 20860, 19836, 18812, 17788, 16764,
	15996, 15484, 14972, 14460, 13948, 13436, 12924, 12412,
	11900, 11388, 10876, 10364, 9852, 9340, 8828, 8316,
	7932, 7676, 7420, 7164, 6908, 6652, 6396, 6140,
	5884, 5628, 5372, 5116, 4860, 4604, 4348, 4092,
	3900, 3772, 3644, 3516, 3388, 3260, 3132, 3004,
	2876, 2748, 2620, 2492, 2364, 2236, 2108, 1980,
	1884, 1820, 1756, 1692, 1628, 1564, 1500, 1436,
	1372, 1308, 1244, 1180, 1116, 1052, 988, 924,
	876, 844, 812, 780, 748, 716, 684, 652,
	620, 588, 556, 524, 492, 460, 428, 396,
	372, 356, 340, 324, 308, 292, 276, 260,
	244, 228, 212, 196, 180, 164, 148, 132,
	120, 112, 104, 96, 88, 80, 72, 64,
	56, 48, 40, 32, 24, 16, 8, 0,
};

/* The segment (exponent) of a biased magnitude, indexed by magnitude >> 6 (0..127): the bit
 * length, i.e. G.191's "segno - 1" loop done by lookup. */
static const uint8_t mulaw_segment[128] = {
	0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
};

uint8_t sova_mulaw_encode(int16_t sample)
{
	/* G.191: 14-bit magnitude (one's complement for negatives, so -1 codes like 0), bias 33,
	 * clipped to 13 bits; the code is the inverted segment and mantissa, bit 7 set for >= 0. */
	int mag = sample < 0 ? ((~sample) >> 2) + 33 : (sample >> 2) + 33;
	if (mag > 0x1FFF)
		mag = 0x1FFF;
	int seg = mulaw_segment[mag >> 6];
	uint8_t code = (uint8_t)(0x7F - ((seg << 4) | ((mag >> (seg + 1)) & 0x0F)));
	return sample >= 0 ? (uint8_t)(code | 0x80) : code;
}

int16_t sova_mulaw_decode(uint8_t code) { return mulaw_to_pcm[code]; }

void sova_mulaw_encode_frame(const int16_t *pcm, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = sova_mulaw_encode(pcm[i]);
}

void sova_mulaw_decode_frame(const uint8_t *in, size_t n, int16_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mulaw_to_pcm[in[i]];
}

/* ---- PCM16 little-endian ---- */

bool sova_pcm16le_samples(size_t bytes, size_t *n_samples)
{
	if (bytes % 2 != 0)
		return false;
	*n_samples = bytes / 2;
	return true;
}

void sova_pcm16le_read(const uint8_t *bytes, size_t n_samples, int16_t *out)
{
	for (size_t i = 0; i < n_samples; i++)
		out[i] = (int16_t)(uint16_t)(bytes[2 * i] | (uint16_t)bytes[2 * i + 1] << 8);
}

void sova_pcm16le_write(const int16_t *pcm, size_t n_samples, uint8_t *out)
{
	for (size_t i = 0; i < n_samples; i++) {
		uint16_t u = (uint16_t)pcm[i];
		out[2 * i] = (uint8_t)(u & 0xFF);
		out[2 * i + 1] = (uint8_t)(u >> 8);
	}
}

double sova_level_dbfs(const int16_t *pcm, size_t n)
{
	if (n == 0)
		return SOVA_LEVEL_FLOOR_DBFS;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)pcm[i] * pcm[i];
	double ms = sum / (double)n / (32768.0 * 32768.0);
	if (ms <= 0)
		return SOVA_LEVEL_FLOOR_DBFS;
	double db = 10.0 * log10(ms);
	return db < SOVA_LEVEL_FLOOR_DBFS ? SOVA_LEVEL_FLOOR_DBFS : db;
}

/* ---- Resampler ---- */

struct sova_resampler {
	int in_rate, out_rate;
	SpeexResamplerState *st; /* owned; NULL when the rates are equal (a copy) */
	int16_t *zeros;          /* owned: input_latency zeros that push the tail out at flush */
	size_t in_latency;       /* input samples of filter delay */
};

sova_resampler *sova_resampler_new(int in_rate, int out_rate, char *err, size_t errlen)
{
	if (!(sova_audio_rate_ok(in_rate) || in_rate == SOVA_RESAMPLER_ENGINE_RATE) || !sova_audio_rate_ok(out_rate)) {
		snprintf(err, errlen, "resampler: unsupported rate %d -> %d (8000, 16000, 48000; from %d too)", in_rate, out_rate,
			 SOVA_RESAMPLER_ENGINE_RATE);
		return NULL;
	}
	sova_resampler *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "resampler: out of memory");
		return NULL;
	}
	r->in_rate = in_rate;
	r->out_rate = out_rate;
	if (in_rate == out_rate)
		return r;
	int rc = 0;
	r->st = speex_resampler_init(1, (spx_uint32_t)in_rate, (spx_uint32_t)out_rate, SOVA_RESAMPLER_QUALITY, &rc);
	if (!r->st || rc != RESAMPLER_ERR_SUCCESS) {
		snprintf(err, errlen, "resampler: speexdsp: %s", speex_resampler_strerror(rc));
		sova_resampler_free(r);
		return NULL;
	}
	/* Without this, the first output samples are the filter's ramp from zero: the stream would
	 * start with a delay and a fade instead of the signal. */
	speex_resampler_skip_zeros(r->st);
	r->in_latency = (size_t)speex_resampler_get_input_latency(r->st);
	r->zeros = calloc(r->in_latency ? r->in_latency : 1, sizeof *r->zeros);
	if (!r->zeros) {
		snprintf(err, errlen, "resampler: out of memory");
		sova_resampler_free(r);
		return NULL;
	}
	return r;
}

void sova_resampler_free(sova_resampler *r)
{
	if (!r)
		return;
	if (r->st)
		speex_resampler_destroy(r->st);
	free(r->zeros);
	free(r);
}

size_t sova_resampler_out_max(const sova_resampler *r, size_t n_in)
{
	return (n_in * (size_t)r->out_rate + (size_t)r->in_rate - 1) / (size_t)r->in_rate + 2;
}

size_t sova_resampler_latency(const sova_resampler *r)
{
	return r->st ? (size_t)speex_resampler_get_output_latency(r->st) : 0;
}

/* One speexdsp call that must consume all the input into out. */
static int run(sova_resampler *r, const int16_t *in, size_t n_in, int16_t *out, size_t out_cap, size_t *n_out)
{
	if (n_in > UINT32_MAX || out_cap > UINT32_MAX)
		return -1;
	spx_uint32_t in_len = (spx_uint32_t)n_in, out_len = (spx_uint32_t)out_cap;
	int rc = speex_resampler_process_int(r->st, 0, in, &in_len, out, &out_len);
	if (rc != RESAMPLER_ERR_SUCCESS || in_len != n_in)
		return -1;
	*n_out = out_len;
	return 0;
}

int sova_resampler_process(sova_resampler *r, const int16_t *in, size_t n_in, int16_t *out, size_t out_cap,
			   size_t *n_out)
{
	if (!r || !n_out || (n_in && (!in || !out)) || out_cap < sova_resampler_out_max(r, n_in))
		return -1;
	if (!r->st) {
		if (n_in)
			memcpy(out, in, n_in * sizeof *in);
		*n_out = n_in;
		return 0;
	}
	return run(r, in, n_in, out, out_cap, n_out);
}

int sova_resampler_flush(sova_resampler *r, int16_t *out, size_t out_cap, size_t *n_out)
{
	if (!r || !out || !n_out)
		return -1;
	if (!r->st) {
		*n_out = 0;
		return 0;
	}
	if (out_cap < sova_resampler_out_max(r, r->in_latency))
		return -1;
	if (run(r, r->zeros, r->in_latency, out, out_cap, n_out) != 0)
		return -1;
	speex_resampler_reset_mem(r->st);
	speex_resampler_skip_zeros(r->st);
	return 0;
}

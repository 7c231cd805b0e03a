/* Audio primitives of the media plane: G.711 μ-law, PCM16 little-endian frames, frame levels and
 * a streaming resampler (speexdsp). Plain C, no allocation except the resampler handle.
 *
 * Samples are int16_t mono throughout. Supported rates: 8000, 16000, 48000 Hz. A frame is 10 to
 * 100 ms of audio (the live protocol's frame sizes), a whole number of milliseconds. */
#ifndef SOVA_MEDIA_AUDIO_H
#define SOVA_MEDIA_AUDIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_FRAME_MIN_MS 10
#define SOVA_FRAME_MAX_MS 100
/* Level reported for digital silence (and the lowest level reported at all): below the 16-bit
 * noise floor (-96 dBFS), so any real signal is louder. */
#define SOVA_LEVEL_FLOOR_DBFS (-100.0)

/* 8000, 16000 or 48000. */
bool sova_audio_rate_ok(int sample_rate);
/* Samples in one frame of frame_ms at sample_rate; 0 when the rate is unsupported or frame_ms is
 * outside [SOVA_FRAME_MIN_MS, SOVA_FRAME_MAX_MS]. */
size_t sova_frame_samples(int sample_rate, int frame_ms);

/* ---- G.711 μ-law, bit-exact with the ITU-T G.191 reference (ulaw_compress / ulaw_expand) ---- */

uint8_t sova_mulaw_encode(int16_t sample);
int16_t sova_mulaw_decode(uint8_t code);
void sova_mulaw_encode_frame(const int16_t *pcm, size_t n, uint8_t *out); /* out: n bytes */
void sova_mulaw_decode_frame(const uint8_t *in, size_t n, int16_t *out);  /* out: n samples */

/* ---- PCM16 little-endian (the wire format of the live socket) ---- */

/* Samples in a byte payload; false for an odd length (not whole samples). */
bool sova_pcm16le_samples(size_t bytes, size_t *n_samples);
void sova_pcm16le_read(const uint8_t *bytes, size_t n_samples, int16_t *out);
void sova_pcm16le_write(const int16_t *pcm, size_t n_samples, uint8_t *out); /* out: 2n bytes */

/* RMS level of n samples in dBFS (re 32768: a full-scale square wave is 0 dBFS, a full-scale sine
 * -3.01 dBFS); SOVA_LEVEL_FLOOR_DBFS for silence or n == 0. */
double sova_level_dbfs(const int16_t *pcm, size_t n);

/* ---- Resampler (speexdsp), streaming ----
 * Quality SOVA_RESAMPLER_QUALITY = 3 (speexdsp's "VoIP" setting): a 48-tap Kaiser-windowed sinc
 * with about 84 dB stopband attenuation, passband to 0.9 of the lower Nyquist (3.6 kHz of a
 * telephone line's 4 kHz), and a delay of 24 input samples (1.5 ms at 16 kHz). That is far beyond
 * what the material needs (μ-law itself has about 38 dB SNR; recognizers and VADs see no difference)
 * at about a third of the CPU of quality 10, so thousands of calls can afford it.
 *
 * The filter keeps its state across calls of sova_resampler_process, so a stream cut into frames
 * of any size comes out as if resampled in one piece. sova_resampler_flush pushes out the tail
 * still inside the filter (its delay) at the end of a stream and resets the state for the next. */
#define SOVA_RESAMPLER_QUALITY 3

typedef struct sova_resampler sova_resampler;

/* A synthesizer's own rate the resampler also takes as its input (never a wire rate): espeak-ng's
 * 22050 Hz. */
#define SOVA_RESAMPLER_ENGINE_RATE 22050

/* NULL when a rate is unsupported or speexdsp fails (err says which). Equal rates are allowed
 * (a copy), so callers need no special case. Caller frees with sova_resampler_free. */
sova_resampler *sova_resampler_new(int in_rate, int out_rate, char *err, size_t errlen);
void sova_resampler_free(sova_resampler *r);
/* Output capacity enough for n_in input samples (plus the filter's rounding). */
size_t sova_resampler_out_max(const sova_resampler *r, size_t n_in);
/* Resamples all n_in samples into out (capacity out_cap samples, at least
 * sova_resampler_out_max(r, n_in)); *n_out = samples written. -1 on bad arguments or a too small
 * out_cap (nothing consumed), or a speexdsp error. */
int sova_resampler_process(sova_resampler *r, const int16_t *in, size_t n_in, int16_t *out, size_t out_cap,
			   size_t *n_out);
/* The end of a stream: writes the delayed tail (sova_resampler_latency output samples at most)
 * and resets the filter. Same return convention. */
int sova_resampler_flush(sova_resampler *r, int16_t *out, size_t out_cap, size_t *n_out);
/* The filter's delay in output samples. */
size_t sova_resampler_latency(const sova_resampler *r);
#endif

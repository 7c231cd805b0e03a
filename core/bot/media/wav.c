/* Two-channel WAV recording in memory: see wav.h. */
#include "bot/media/wav.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"

#define CHANNELS 2
#define BLOCK_BYTES (CHANNELS * 2) /* one stereo frame of 16-bit samples */

struct sova_wav {
	int sample_rate;
	size_t max_bytes;
	uint8_t *buf;        /* owned: header + interleaved little-endian frames */
	size_t cap;          /* allocated bytes */
	uint64_t frames;     /* stereo frames in buf (zeros where a channel has not written) */
	uint64_t end[CHANNELS];
	bool finished;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* The canonical PCM header: RIFF size and data size are patched at finish. */
static void write_header(sova_wav *w, uint32_t data_bytes)
{
	uint8_t *h = w->buf;
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + data_bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);                                    /* fmt chunk size */
	put16(h + 20, 1);                                     /* PCM */
	put16(h + 22, CHANNELS);
	put32(h + 24, (uint32_t)w->sample_rate);
	put32(h + 28, (uint32_t)w->sample_rate * BLOCK_BYTES); /* byte rate */
	put16(h + 32, BLOCK_BYTES);
	put16(h + 34, 16);                                    /* bits per sample */
	memcpy(h + 36, "data", 4);
	put32(h + 40, data_bytes);
}

sova_wav *sova_wav_new(int sample_rate, size_t max_bytes, char *err, size_t errlen)
{
	if (!sova_audio_rate_ok(sample_rate) || max_bytes < SOVA_WAV_HEADER_BYTES || max_bytes > UINT32_MAX) {
		snprintf(err, errlen, "wav: unsupported rate %d or max_bytes outside 44..4 GiB", sample_rate);
		return NULL;
	}
	sova_wav *w = calloc(1, sizeof *w);
	size_t cap = 4096 < max_bytes ? 4096 : max_bytes;
	if (w)
		w->buf = calloc(1, cap);
	if (!w || !w->buf) {
		snprintf(err, errlen, "wav: out of memory");
		free(w);
		return NULL;
	}
	w->sample_rate = sample_rate;
	w->max_bytes = max_bytes;
	w->cap = cap;
	write_header(w, 0);
	return w;
}

void sova_wav_free(sova_wav *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

/* Room for frames stereo frames, new bytes zeroed; false beyond max_bytes or without memory. */
static bool reserve(sova_wav *w, uint64_t frames)
{
	if (frames > (w->max_bytes - SOVA_WAV_HEADER_BYTES) / BLOCK_BYTES)
		return false;
	size_t need = SOVA_WAV_HEADER_BYTES + (size_t)frames * BLOCK_BYTES;
	if (need > w->cap) {
		size_t cap = w->cap;
		while (cap < need)
			cap = cap > w->max_bytes / 2 ? w->max_bytes : cap * 2;
		uint8_t *buf = realloc(w->buf, cap);
		if (!buf)
			return false;
		memset(buf + w->cap, 0, cap - w->cap);
		w->buf = buf;
		w->cap = cap;
	}
	if (frames > w->frames)
		w->frames = frames;
	return true;
}

int sova_wav_write(sova_wav *w, sova_wav_channel ch, uint64_t at_sample, const int16_t *pcm, size_t n)
{
	if (!w || w->finished || (ch != SOVA_WAV_AGENT && ch != SOVA_WAV_OTHER) || (n && !pcm))
		return -1;
	uint64_t at = at_sample > w->end[ch] ? at_sample : w->end[ch];
	if (at > UINT32_MAX || n > UINT32_MAX || !reserve(w, at + n))
		return -1;
	uint8_t *p = w->buf + SOVA_WAV_HEADER_BYTES + (size_t)at * BLOCK_BYTES + (size_t)ch * 2;
	for (size_t i = 0; i < n; i++, p += BLOCK_BYTES)
		put16(p, (uint16_t)pcm[i]);
	w->end[ch] = at + n;
	return 0;
}

uint64_t sova_wav_channel_end(const sova_wav *w, sova_wav_channel ch) { return w->end[ch]; }

const uint8_t *sova_wav_finish(sova_wav *w, size_t *len)
{
	w->finished = true;
	uint32_t data = (uint32_t)(w->frames * BLOCK_BYTES);
	write_header(w, data);
	*len = SOVA_WAV_HEADER_BYTES + data;
	return w->buf;
}

/* Both sides of a call mixed for its listeners (listen_mix.h). */
#include "bot/media/listen_mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sova_listen_mix {
	int32_t *ring;   /* sums by position mod len */
	size_t len;      /* a whole number of frames */
	size_t frame;
	uint64_t delay;
	uint64_t pos;    /* the next frame's first sample; a multiple of frame */
};

static uint64_t first_frame(const sova_listen_mix *m, uint64_t now)
{
	uint64_t end = now > m->delay ? now - m->delay : 0;
	return end >= m->frame ? (end / m->frame - 1) * m->frame : 0;
}

sova_listen_mix *sova_listen_mix_new(int rate, int frame_ms, int delay_ms, uint64_t now, char *err, size_t errlen)
{
	if (rate < 8000 || rate > 48000 || frame_ms < 10 || frame_ms > 100 || delay_ms < 0 ||
	    delay_ms + frame_ms >= SOVA_LISTEN_MIX_WINDOW_MS) {
		snprintf(err, errlen, "listen mix: unsupported rate, frame or delay");
		return NULL;
	}
	sova_listen_mix *m = calloc(1, sizeof *m);
	size_t frame = (size_t)rate * (size_t)frame_ms / 1000;
	size_t len = (size_t)rate * SOVA_LISTEN_MIX_WINDOW_MS / 1000 / frame * frame;
	if (m)
		m->ring = calloc(len, sizeof *m->ring);
	if (!m || !m->ring) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->len = len;
	m->frame = frame;
	m->delay = (uint64_t)rate * (uint64_t)delay_ms / 1000;
	m->pos = first_frame(m, now);
	return m;
}

void sova_listen_mix_free(sova_listen_mix *m)
{
	if (!m)
		return;
	free(m->ring);
	free(m);
}

size_t sova_listen_mix_frame_samples(const sova_listen_mix *m) { return m->frame; }

void sova_listen_mix_add(sova_listen_mix *m, uint64_t at, const int16_t *pcm, size_t n)
{
	uint64_t from = at < m->pos ? m->pos : at, to = at + n, limit = m->pos + m->len;
	if (to > limit)
		to = limit; /* too early: beyond what the ring holds */
	for (uint64_t p = from; p < to; p++)
		m->ring[p % m->len] += pcm[p - at];
}

bool sova_listen_mix_next(sova_listen_mix *m, uint64_t now, int16_t *out)
{
	if (now < m->pos + m->frame + m->delay)
		return false;
	if (now - m->delay > m->pos + m->len) { /* a window behind: what it holds is stale */
		memset(m->ring, 0, m->len * sizeof *m->ring);
		m->pos = first_frame(m, now);
	}
	int32_t *at = m->ring + m->pos % m->len; /* a frame never wraps: len is whole frames */
	for (size_t i = 0; i < m->frame; i++) {
		int32_t v = at[i];
		out[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
	}
	memset(at, 0, m->frame * sizeof *at);
	m->pos += m->frame;
	return true;
}

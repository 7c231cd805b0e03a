/* Outbound audio pacing: see pacer.h. */
#include "bot/media/pacer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/media/audio.h"

int64_t sova_clock_monotonic_ns(void *ud)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct sova_pacer {
	sova_pacer_config cfg;
	size_t frame_samples;
	int64_t frame_ns;

	int16_t *ring;    /* owned: capacity samples */
	size_t capacity;
	size_t head;      /* index of the oldest buffered sample */
	size_t len;       /* buffered samples */

	bool line_end_marked;
	size_t to_line_end;   /* buffered samples up to the end of the line, when marked */
	uint64_t line_played; /* samples of the current line sent */

	bool in_spurt;
	int64_t spurt_start_ns;
	uint64_t spurt_frames; /* frames sent in this spurt: the next is due at start + n * frame */
	bool last_was_line_end; /* the spurt ran out at a line's end, not in its middle */

	sova_pacer_stats stats;
};

sova_pacer *sova_pacer_new(const sova_pacer_config *cfg, char *err, size_t errlen)
{
	size_t frame = cfg ? sova_frame_samples(cfg->sample_rate, cfg->frame_ms) : 0;
	if (frame == 0) {
		snprintf(err, errlen, "pacer: unsupported rate or frame size");
		return NULL;
	}
	if (cfg->capacity_ms < (size_t)cfg->frame_ms || cfg->capacity_ms > 600000 || cfg->late_after_ns < 0 ||
	    cfg->early_ns < 0 || cfg->early_ns >= (int64_t)cfg->frame_ms * 1000000) {
		snprintf(err, errlen, "pacer: capacity_ms must be one frame to 600000, late_after_ns >= 0, early_ns under a frame");
		return NULL;
	}
	sova_pacer *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "pacer: out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	if (!p->cfg.clock)
		p->cfg.clock = sova_clock_monotonic_ns;
	p->frame_samples = frame;
	p->frame_ns = (int64_t)cfg->frame_ms * 1000000;
	if (p->cfg.late_after_ns == 0)
		p->cfg.late_after_ns = p->frame_ns / 4;
	/* Whole frames, so a full buffer always holds a sendable frame. */
	size_t frames = (cfg->capacity_ms + (size_t)cfg->frame_ms - 1) / (size_t)cfg->frame_ms;
	p->capacity = frames * frame;
	p->ring = malloc(p->capacity * sizeof *p->ring);
	if (!p->ring) {
		snprintf(err, errlen, "pacer: out of memory");
		free(p);
		return NULL;
	}
	return p;
}

void sova_pacer_free(sova_pacer *p)
{
	if (!p)
		return;
	free(p->ring);
	free(p);
}

size_t sova_pacer_frame_samples(const sova_pacer *p) { return p->frame_samples; }

void sova_pacer_begin_line(sova_pacer *p) { p->line_played = 0; }

size_t sova_pacer_push(sova_pacer *p, const int16_t *pcm, size_t n)
{
	if (!pcm)
		return 0;
	size_t take = p->capacity - p->len;
	if (take > n)
		take = n;
	size_t tail = (p->head + p->len) % p->capacity;
	size_t first = p->capacity - tail < take ? p->capacity - tail : take;
	memcpy(p->ring + tail, pcm, first * sizeof *pcm);
	memcpy(p->ring, pcm + first, (take - first) * sizeof *pcm);
	p->len += take;
	return take;
}

void sova_pacer_end_line(sova_pacer *p)
{
	/* With nothing buffered the line's last frame has gone out already: nothing to pad. */
	p->line_end_marked = p->len > 0;
	p->to_line_end = p->len;
}

size_t sova_pacer_clear(sova_pacer *p)
{
	size_t dropped = p->len;
	p->head = p->len = 0;
	p->line_end_marked = false;
	p->to_line_end = 0;
	p->in_spurt = false;
	p->stats.samples_dropped += dropped;
	return dropped;
}

/* Samples of audio the next frame takes, 0 when no frame is ready. */
static size_t ready_samples(const sova_pacer *p)
{
	if (p->line_end_marked && p->to_line_end < p->frame_samples)
		return p->to_line_end;
	return p->len >= p->frame_samples ? p->frame_samples : 0;
}

/* Sends the next frame (take samples of it, the rest silence) as due at deadline. */
static void send_next(sova_pacer *p, int16_t *out, sova_pacer_frame *info, int64_t *next_deadline_ns, size_t take,
		      int64_t deadline, int64_t now)
{
	bool line_end = p->line_end_marked && p->to_line_end == take;
	size_t first = p->capacity - p->head < take ? p->capacity - p->head : take;
	memcpy(out, p->ring + p->head, first * sizeof *out);
	memcpy(out + first, p->ring, (take - first) * sizeof *out);
	memset(out + take, 0, (p->frame_samples - take) * sizeof *out);
	p->head = (p->head + take) % p->capacity;
	p->len -= take;
	if (p->line_end_marked) {
		p->to_line_end -= take;
		if (line_end)
			p->line_end_marked = false;
	}
	p->line_played += take;
	p->spurt_frames++;
	p->last_was_line_end = line_end;

	int64_t late_ns = now > deadline ? now - deadline : 0;
	bool late = late_ns > p->cfg.late_after_ns;
	p->stats.frames_sent++;
	if (late)
		p->stats.frames_late++;
	if (late_ns > p->stats.max_late_ns)
		p->stats.max_late_ns = late_ns;
	if (info) {
		info->seq = p->stats.frames_sent - 1;
		info->deadline_ns = deadline;
		info->late_ns = late_ns;
		info->late = late;
		info->line_end = line_end;
	}
	*next_deadline_ns = p->spurt_start_ns + (int64_t)p->spurt_frames * p->frame_ns - p->cfg.early_ns;
}

int sova_pacer_poll(sova_pacer *p, int64_t at_ns, int16_t *out, sova_pacer_frame *info, int64_t *next_deadline_ns)
{
	if (!p || !out || !next_deadline_ns)
		return -1;
	size_t take = ready_samples(p);
	if (take == 0) {
		if (p->in_spurt && !p->last_was_line_end)
			p->stats.underruns++;
		p->in_spurt = false;
		*next_deadline_ns = -1;
		return 0;
	}
	if (!p->in_spurt) {
		p->in_spurt = true;
		p->spurt_start_ns = at_ns;
		p->spurt_frames = 0;
	}
	int64_t deadline = p->spurt_start_ns + (int64_t)p->spurt_frames * p->frame_ns;
	if (at_ns + p->cfg.early_ns < deadline) {
		*next_deadline_ns = deadline - p->cfg.early_ns;
		return 0;
	}
	send_next(p, out, info, next_deadline_ns, take, deadline, p->cfg.clock(p->cfg.clock_ud));
	return 1;
}

int sova_pacer_start_between_ticks(sova_pacer *p, int64_t last_tick_ns, int16_t *out, sova_pacer_frame *info,
				   int64_t *next_deadline_ns)
{
	if (!p || !out || !next_deadline_ns)
		return -1;
	size_t take = ready_samples(p);
	if (p->in_spurt || take == 0)
		return 0;
	int64_t now = p->cfg.clock(p->cfg.clock_ud);
	if (last_tick_ns > now)
		last_tick_ns = now;
	p->in_spurt = true;
	p->spurt_start_ns = last_tick_ns; /* frame n (n >= 1) is due at the owner's tick n */
	p->spurt_frames = 0;
	send_next(p, out, info, next_deadline_ns, take, now, now);
	return 1;
}

uint64_t sova_pacer_played_ms(const sova_pacer *p)
{
	return p->line_played * 1000 / (uint64_t)p->cfg.sample_rate;
}

void sova_pacer_get_stats(const sova_pacer *p, sova_pacer_stats *out)
{
	*out = p->stats;
	out->buffered_samples = p->len;
}

/* Outbound audio pacing: the agent's synthesized audio waits in a bounded ring buffer and leaves
 * one frame per frame duration, on a schedule that does not drift.
 *
 * The schedule: the first poll that finds a frame while the pacer is idle begins a talk spurt at
 * the poll's time (start: the owner's tick); frame n of the spurt is due at start + n * frame
 * duration. Deadlines are computed, never accumulated from sleeps, so a late wake-up delays only
 * the frames already due (they come out at once, each reported late) and the next deadline stays
 * where it was. A frame's lateness is taken on the injected clock (CLOCK_MONOTONIC in production)
 * as it leaves, so an owner that serves many pacers per tick counts its own delay too. When the buffer runs dry the spurt ends and the next audio
 * starts a new one (no burst to "catch up" a pause).
 *
 * Barge-in: sova_pacer_clear drops every unsent sample at once. sova_pacer_played_ms says how
 * much of the current line actually went out, so the transcript and the model's context keep only
 * that part. A frame counts as played when it leaves the pacer at its deadline: real-time pacing
 * keeps the far end's buffer to the network's and the client's small jitter buffer.
 *
 * One pacer per call, used by one thread. */
#ifndef SOVA_MEDIA_PACER_H
#define SOVA_MEDIA_PACER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on a monotonic clock. */
typedef int64_t (*sova_clock_ns_fn)(void *ud);
/* CLOCK_MONOTONIC in nanoseconds (ud unused): the production clock. */
int64_t sova_clock_monotonic_ns(void *ud);

typedef struct sova_pacer_config {
	int sample_rate;         /* 8000, 16000 or 48000 */
	int frame_ms;            /* 10..100 */
	size_t capacity_ms;      /* ring buffer bound: pushes beyond it are refused (backpressure) */
	int64_t late_after_ns;   /* a frame sent later than its deadline by more than this is late;
				    0: a quarter of a frame */
	int64_t early_ns;        /* a frame may leave up to this long before its deadline (0: never):
				    a caller woken by a periodic tick sets half its period, or every
				    tick that comes a little sooner than the last would hold its frame
				    back to the next one, and the far end would get frames in pairs */
	sova_clock_ns_fn clock;  /* NULL: sova_clock_monotonic_ns */
	void *clock_ud;
} sova_pacer_config;

typedef struct sova_pacer_frame {
	uint64_t seq;         /* frames sent since the pacer was made */
	int64_t deadline_ns;  /* when it was due */
	int64_t late_ns;      /* the clock as it left - deadline, 0 when sent early */
	bool late;            /* late_ns > late_after_ns */
	bool line_end;        /* the last frame of a line: its tail was padded with silence */
} sova_pacer_frame;

typedef struct sova_pacer_stats {
	uint64_t frames_sent;
	uint64_t frames_late;
	int64_t max_late_ns;
	uint64_t underruns;        /* spurts that ran dry in the middle of a line (the synthesizer lagged) */
	uint64_t samples_dropped;  /* by sova_pacer_clear */
	size_t buffered_samples;
} sova_pacer_stats;

typedef struct sova_pacer sova_pacer;

/* NULL on bad configuration or no memory (err says which). Caller frees with sova_pacer_free. */
sova_pacer *sova_pacer_new(const sova_pacer_config *cfg, char *err, size_t errlen);
void sova_pacer_free(sova_pacer *p);
size_t sova_pacer_frame_samples(const sova_pacer *p);

/* A new line of the agent begins: played_ms counts from zero. */
void sova_pacer_begin_line(sova_pacer *p);
/* Appends up to n samples of the current line; returns how many were taken (fewer when the
 * buffer is full: push the rest once frames have gone out). */
size_t sova_pacer_push(sova_pacer *p, const int16_t *pcm, size_t n);
/* The line's audio is complete: a partial last frame goes out padded with silence. */
void sova_pacer_end_line(sova_pacer *p);
/* Barge-in: drops all unsent audio at once and ends the spurt; played_ms keeps its value. Returns
 * the samples dropped. */
size_t sova_pacer_clear(sova_pacer *p);

/* Writes the next frame due at at_ns (the owner's tick, on the clock's time line) into out
 * (sova_pacer_frame_samples samples) and returns 1; returns 0 when no frame is due
 * (*next_deadline_ns: when the next one may leave, or -1 when no frame is ready: nothing buffered,
 * or a partial frame of a line not ended yet). Call again after a 1: several frames are due after
 * missed ticks. info may be NULL. */
int sova_pacer_poll(sova_pacer *p, int64_t at_ns, int16_t *out, sova_pacer_frame *info, int64_t *next_deadline_ns);

/* Milliseconds of the current line sent so far (padding of its last frame excluded). */
/* When no spurt runs and a frame is ready: the spurt begins now, between the owner's ticks (audio
 * that arrived since the last one, last_tick_ns), its first frame written into out at once and
 * the next ones due on the owner's grid (frame n at last_tick_ns + n * frame), so the far end gets
 * the first audio without waiting for a tick and the rest on the ticks. Returns 1 (a frame) or
 * 0 (a spurt runs already, or nothing is ready: poll on the tick as usual); -1 on bad arguments. */
int sova_pacer_start_between_ticks(sova_pacer *p, int64_t last_tick_ns, int16_t *out, sova_pacer_frame *info,
				   int64_t *next_deadline_ns);
uint64_t sova_pacer_played_ms(const sova_pacer *p);
void sova_pacer_get_stats(const sova_pacer *p, sova_pacer_stats *out);
#endif

/* What the WebSocket audio I/O benchmark (bench/ws_io.sh) sends and expects, shared by its load
 * generator and its servers: one call's audio is a 640-byte binary frame every 20 ms (PCM16 mono,
 * 16 kHz), in both directions. Frames carry a sequence number and the client's send time so the
 * client can tell lost frames from late ones. Bench code only: never linked into `sova`. */
#ifndef SOVA_BENCH_AUDIO_H
#define SOVA_BENCH_AUDIO_H
#include <stdint.h>
#include <string.h>
#include <time.h>

#define AUDIO_FRAME_BYTES 640
#define AUDIO_FRAME_US 20000
/* Frames a server holds before it starts pacing a call out: the pre-roll that absorbs inbound
 * jitter, as a media plane's playout would. */
#define AUDIO_PREROLL_FRAMES 2
/* Frames a server keeps per call; past that the oldest is dropped (and the client sees a gap). */
#define AUDIO_RING_FRAMES 8

static inline int64_t bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Frame header, little-endian: bytes 0..3 the call's frame sequence number, 4..11 the client's
 * send time, 12..19 the server's pacing deadline for the echoed frame, written by the server (all
 * CLOCK_MONOTONIC µs: client and servers run on one machine); the rest is audio. */
static inline void bench_frame_stamp(unsigned char *frame, uint32_t seq, int64_t sent_us)
{
	memcpy(frame, &seq, 4);
	memcpy(frame + 4, &sent_us, 8);
}

static inline void bench_frame_set_due(unsigned char *frame, int64_t due_us) { memcpy(frame + 12, &due_us, 8); }

static inline int64_t bench_frame_due(const unsigned char *frame)
{
	int64_t due;
	memcpy(&due, frame + 12, 8);
	return due;
}

static inline void bench_frame_read(const unsigned char *frame, uint32_t *seq, int64_t *sent_us)
{
	memcpy(seq, frame, 4);
	memcpy(sent_us, frame + 4, 8);
}
#endif

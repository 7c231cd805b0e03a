/* A voice call's recording on the media thread: two channels (0 the agent, 1 the other party) on
 * one timeline at the call's rate, streamed to a sealed spill file (crypto/spill.h) as the call
 * goes, so neither the whole call nor any plaintext audio is ever kept: at most 56 KiB of audio
 * sits in memory per call, and what leaves memory is sealed under a key only this process holds.
 *
 * Timeline: at_sample counts samples (per channel) since the recording began. Writes for either
 * channel may come in any order within the window: the ring holds the newest SOVA_RECORDER_RING_FRAMES
 * stereo frames, flushed to disk one SOVA_SPILL_CHUNK (2048 frames) at a time when a write reaches
 * past the ring, so a write at least SOVA_RECORDER_WINDOW_FRAMES (12288 frames: 1.54 s at 8 kHz,
 * 0.77 s at 16 kHz, 0.26 s at 48 kHz) behind the newest sample is always accepted; samples older
 * than what the ring still holds are dropped and counted (late_samples). Positions nobody wrote are
 * silence. Writing a position twice keeps the last. The window is memory's bound, not time's: at
 * 48 kHz 2 s of stereo PCM16 would be 375 KiB.
 *
 * Length cap: SOVA_RECORDING_MAX_SECONDS (read at sova_recorder_new; default 14400 = 4 h; at most
 * what a WAV's 4 GiB holds at the rate): samples past it are dropped and counted (capped_samples),
 * the call goes on. A disk error fails the recording (write returns -1 from then on; finish says
 * why); it never stops the call.
 *
 * Not thread-safe: one recorder belongs to the media thread's call. */
#ifndef SOVA_MEDIA_RECORDER_H
#define SOVA_MEDIA_RECORDER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/spill.h"

#define SOVA_RECORDER_CHUNK_FRAMES (SOVA_SPILL_CHUNK / 4)
#define SOVA_RECORDER_RING_FRAMES (7 * SOVA_RECORDER_CHUNK_FRAMES) /* 56 KiB of stereo PCM16 */
#define SOVA_RECORDER_WINDOW_FRAMES (SOVA_RECORDER_RING_FRAMES - SOVA_RECORDER_CHUNK_FRAMES)
#define SOVA_RECORDER_DEFAULT_MAX_SECONDS 14400

typedef struct sova_recorder sova_recorder;

typedef struct sova_recorder_stats {
	uint64_t frames;          /* timeline length so far (stereo frames) */
	uint64_t late_samples;    /* dropped: older than the window */
	uint64_t capped_samples;  /* dropped: past the length cap */
	uint64_t spilled_bytes;   /* plaintext bytes sealed to the spill so far */
	uint64_t max_frames;      /* the cap, in frames */
	size_t memory_bytes;      /* what this recorder allocated (ring, spill writer, itself) */
	bool failed;              /* a disk error stopped the recording */
} sova_recorder_stats;

/* sample_rate 8000, 16000 or 48000; the spill file is created under spool_dir (which must exist)
 * at once, so a bad directory fails the call's recording at its start. NULL with err. */
sova_recorder *sova_recorder_new(const char *spool_dir, int sample_rate, char *err, size_t errlen);
/* n samples of channel (0 agent, 1 other party) from at_sample on. 0 (late or capped samples are
 * dropped and counted, not errors); -1 on bad arguments, after finish, or once the recording
 * failed. The signature of sova_voice_config.record (with the recorder as ud). */
int sova_recorder_write(sova_recorder *r, int channel, uint64_t at_sample, const int16_t *pcm, size_t n);
/* Flushes the rest (both channels end at the later one's end) and fills *out with the spill
 * (path, key, PCM bytes, rate, duration): the file is out's owner's from here on (register it
 * with sova_spill_register and wipe out). false with err (the recording failed; nothing is kept). */
bool sova_recorder_finish(sova_recorder *r, sova_recording_spill *out, char *err, size_t errlen);
void sova_recorder_get_stats(const sova_recorder *r, sova_recorder_stats *out);
/* Wipes the key; deletes the spill unless finish handed it over. NULL is fine. */
void sova_recorder_free(sova_recorder *r);
#endif

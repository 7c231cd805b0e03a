/* Streaming two-channel recording into a sealed spill: see recorder.h.
 *
 * The ring holds stereo frames [flushed, flushed + RING_FRAMES) of the timeline, interleaved
 * little-endian PCM16 as the WAV will hold them. flushed is a multiple of CHUNK_FRAMES and the
 * ring a whole number of chunks, so the chunk at flushed is always contiguous in the ring and is
 * sealed straight from it (no copy), then zeroed: the silence of the next lap. */
#include "bot/media/recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"

#define FRAME_BYTES 4
#define RING_BYTES (SOVA_RECORDER_RING_FRAMES * FRAME_BYTES)
#define MAX_WAV_DATA ((uint64_t)UINT32_MAX - 36 - 8) /* the RIFF size field's bound, header included */

struct sova_recorder {
	sova_spill_writer *spill; /* owned; NULL once finished */
	int sample_rate;
	bool failed;
	bool finished;
	uint64_t flushed;    /* frames sealed to the spill */
	uint64_t end;        /* frames on the timeline: one past the newest written */
	uint64_t max_frames; /* the length cap */
	uint64_t late, capped;
	uint8_t ring[RING_BYTES]; /* PHI: zeroed as it is flushed, wiped on free */
};

static uint64_t max_frames_for(int rate)
{
	uint64_t secs = SOVA_RECORDER_DEFAULT_MAX_SECONDS;
	const char *env = getenv("SOVA_RECORDING_MAX_SECONDS");
	if (env && *env) {
		char *end = NULL;
		unsigned long long v = strtoull(env, &end, 10);
		if (end && *end == '\0' && v > 0)
			secs = v;
	}
	uint64_t limit = MAX_WAV_DATA / FRAME_BYTES;
	return secs > limit / (uint64_t)rate ? limit : secs * (uint64_t)rate;
}

sova_recorder *sova_recorder_new(const char *spool_dir, int sample_rate, char *err, size_t errlen)
{
	if (!sova_audio_rate_ok(sample_rate)) {
		snprintf(err, errlen, "recorder: unsupported rate %d", sample_rate);
		return NULL;
	}
	sova_recorder *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "recorder: out of memory");
		return NULL;
	}
	r->spill = sova_spill_create(spool_dir, err, errlen);
	if (!r->spill) {
		free(r);
		return NULL;
	}
	r->sample_rate = sample_rate;
	r->max_frames = max_frames_for(sample_rate);
	return r;
}

/* Seals the chunk at flushed and clears it for the ring's next lap. */
static bool flush_chunk(sova_recorder *r)
{
	uint8_t *p = r->ring + (size_t)(r->flushed % SOVA_RECORDER_RING_FRAMES) * FRAME_BYTES;
	char err[160];
	if (!sova_spill_append(r->spill, p, err, sizeof err)) {
		r->failed = true;
		return false;
	}
	memset(p, 0, SOVA_SPILL_CHUNK);
	r->flushed += SOVA_RECORDER_CHUNK_FRAMES;
	return true;
}

int sova_recorder_write(sova_recorder *r, int channel, uint64_t at_sample, const int16_t *pcm, size_t n)
{
	if (!r || r->finished || r->failed || (channel != 0 && channel != 1) || (n && !pcm) ||
	    at_sample > UINT64_MAX - n)
		return -1;
	size_t i = 0;
	if (at_sample < r->flushed) { /* already sealed: too late */
		uint64_t behind = r->flushed - at_sample;
		i = behind < n ? (size_t)behind : n;
		r->late += i;
	}
	while (i < n) {
		uint64_t pos = at_sample + i;
		if (pos >= r->max_frames) {
			r->capped += n - i;
			break;
		}
		while (pos >= r->flushed + SOVA_RECORDER_RING_FRAMES)
			if (!flush_chunk(r))
				return -1;
		/* a run that stays inside the ring's window, its memory, and the cap */
		uint64_t run = n - i;
		uint64_t to_window = r->flushed + SOVA_RECORDER_RING_FRAMES - pos;
		uint64_t to_wrap = SOVA_RECORDER_RING_FRAMES - pos % SOVA_RECORDER_RING_FRAMES;
		uint64_t to_cap = r->max_frames - pos;
		run = run < to_window ? run : to_window;
		run = run < to_wrap ? run : to_wrap;
		run = run < to_cap ? run : to_cap;
		uint8_t *p = r->ring + (size_t)(pos % SOVA_RECORDER_RING_FRAMES) * FRAME_BYTES + (size_t)channel * 2;
		for (uint64_t k = 0; k < run; k++, p += FRAME_BYTES) {
			uint16_t v = (uint16_t)pcm[i + k];
			p[0] = (uint8_t)v;
			p[1] = (uint8_t)(v >> 8);
		}
		i += (size_t)run;
		if (pos + run > r->end)
			r->end = pos + run;
	}
	return 0;
}

bool sova_recorder_finish(sova_recorder *r, sova_recording_spill *out, char *err, size_t errlen)
{
	if (!r || r->finished) {
		snprintf(err, errlen, "recorder: already finished");
		return false;
	}
	r->finished = true;
	while (!r->failed && r->end - r->flushed >= SOVA_RECORDER_CHUNK_FRAMES)
		flush_chunk(r);
	if (r->failed) {
		snprintf(err, errlen, "recorder: the spill could not be written (disk full or failing)");
		return false;
	}
	size_t last = (size_t)(r->end - r->flushed) * FRAME_BYTES;
	const uint8_t *p = r->ring + (size_t)(r->flushed % SOVA_RECORDER_RING_FRAMES) * FRAME_BYTES;
	if (!sova_spill_close(r->spill, p, last, r->sample_rate, out, err, errlen)) {
		r->failed = true;
		return false;
	}
	r->flushed = r->end;
	sova_spill_writer_free(r->spill); /* the file is out's now; the writer's key copy is wiped */
	r->spill = NULL;
	sodium_memzero(r->ring, sizeof r->ring);
	return true;
}

void sova_recorder_get_stats(const sova_recorder *r, sova_recorder_stats *out)
{
	memset(out, 0, sizeof *out);
	out->frames = r->end;
	out->late_samples = r->late;
	out->capped_samples = r->capped;
	out->spilled_bytes = r->flushed * FRAME_BYTES;
	out->max_frames = r->max_frames;
	out->memory_bytes = sizeof *r + sova_spill_writer_memory();
	out->failed = r->failed;
}

void sova_recorder_free(sova_recorder *r)
{
	if (!r)
		return;
	sova_spill_writer_free(r->spill); /* deletes an unfinished spill */
	sodium_memzero(r, sizeof *r);
	free(r);
}

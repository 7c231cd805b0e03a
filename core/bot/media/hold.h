/* The hold watcher: while a call is on hold the recognizer hears nothing (no provider cost); this
 * watches the far end's audio for a human voice coming back, and keeps the last seconds of it
 * (the pre-roll) so the representative's first words can still be recognized once it fires.
 *
 * The detector works on the envelope, 10 ms steps of energy (in dB), because that is where speech
 * and hold music differ most and it costs almost nothing: speech comes in syllables, each an
 * onset out of a dip of 10 dB or more (between syllables and words the level falls towards the
 * line's floor), three to six a second at irregular intervals; music is a steady envelope (held
 * notes, chords, reverb, tremolo), and where it does dip (staccato notes with rests between them)
 * its onsets keep a beat. So: an onset is a rise of rise_db out of a valley that is dip_db below
 * the level just before it (or a rise from the line's floor, after silence); the watcher fires
 * when min_onsets onsets fall within window_ms and their intervals are not all one beat.
 * docs/benchmarks.md ("Hold") has the measurements behind the numbers.
 *
 * It fires on any speech, hold messages included ("your call is important to us"): telling those
 * from the representative is the recognizer's and the flow's job on the transcript.
 *
 * Any rate the media plane takes (8000, 16000, 48000); the envelope reads every (rate / 8000)th
 * sample, so the cost per second is the same at every rate. Plain C; one handle per call. */
#ifndef SOVA_MEDIA_HOLD_H
#define SOVA_MEDIA_HOLD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_HOLD_PREROLL_MS 2000 /* audio kept for the recognizer when the watcher fires */

typedef struct sova_hold_opts {
	int preroll_ms;     /* default SOVA_HOLD_PREROLL_MS; 100..10000 */
	double rise_db;     /* an onset rises this much out of its valley; default 10 */
	double dip_db;      /* its valley is this much below the level before it; default 10 */
	double floor_db;    /* or: a rise to this much above the line's floor from near it; default 15 */
	double min_dbfs;    /* an onset reaches at least this level; default -45 */
	int window_ms;      /* onsets counted over this much audio; default 1000 */
	int min_onsets;     /* fires at this many onsets in the window; default 3 */
	double beat_tolerance; /* intervals within this fraction of one beat (or its double) are music;
	                          default 0.08; 0: never a beat */
} sova_hold_opts;

typedef struct sova_hold_stats {
	uint64_t onsets;   /* syllable-like onsets seen */
	uint64_t fired;    /* times the watcher suspected a voice */
	uint64_t beats;    /* times a full window of onsets was taken for music (a beat) */
} sova_hold_stats;

typedef struct sova_hold sova_hold;

void sova_hold_opts_default(sova_hold_opts *o);
/* opts NULL: defaults. NULL + err on a bad rate or option, or no memory. Caller frees. */
sova_hold *sova_hold_new(int sample_rate, const sova_hold_opts *opts, char *err, size_t errlen);
void sova_hold_free(sova_hold *h);
/* n samples of the far end's audio, any n: kept in the pre-roll and looked at. true when they
 * made the watcher suspect a voice; it stays quiet after that until sova_hold_reset. A new
 * handle looks at once. */
bool sova_hold_feed(sova_hold *h, const int16_t *pcm, size_t n);
/* The pre-roll, oldest first, in at most two pieces (the ring's wrap): *a, *na then *b, *nb
 * (nb may be 0): once fired, from half a second before the first syllable it found (within
 * preroll_ms; the music before it would only confuse a recognizer), else all preroll_ms. Valid
 * until the next sova_hold_feed or sova_hold_reset. */
void sova_hold_preroll(const sova_hold *h, const int16_t **a, size_t *na, const int16_t **b, size_t *nb);
/* Forgets everything: the pre-roll (it was handed on, or heard already) and what the detector has
 * seen (its next decision is on audio from now on). after_voice: a voice was just heard (a
 * probe's, a hold message going on), so the watcher waits for it to pause (1 s without an onset)
 * before it looks again: one long message, or a song's verse, costs one probe, not one a second. */
void sova_hold_reset(sova_hold *h, bool after_voice);
void sova_hold_get_stats(const sova_hold *h, sova_hold_stats *out);
#endif

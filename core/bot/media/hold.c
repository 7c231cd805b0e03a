/* The hold watcher: see hold.h. */
#include "bot/media/hold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"

#define STEP_MS 10       /* one envelope value per 10 ms */
#define ENV_STEPS 64     /* envelope history kept: 640 ms, more than a valley and the fall before it */
#define VALLEY_STEPS 20  /* an onset's valley lies within the 200 ms before it */
#define FALL_STEPS 25    /* and the level it fell from within the 250 ms before the valley */
#define NEAR_FLOOR_DB 6.0 /* a valley this close to the line's floor is silence (a pause) */
#define FLOOR_RISE_DB 0.03 /* the floor follows louder audio by 3 dB/s (quieter at once) */
#define MAX_ONSETS 16    /* onsets remembered; a window counts at most these (min_onsets is at most 16) */
#define MIN_GAP_STEPS 5  /* onsets closer than 50 ms are one */
#define PAUSE_STEPS 100  /* after a voice: 1 s without an onset is a pause */
#define CHAIN_STEPS 60   /* onsets closer than 600 ms are one voice's syllables */
#define LEAD_STEPS 50    /* the pre-roll begins 500 ms before the first of them: the voice's first
			    syllable rises out of the music, not out of a dip, so it is not an onset */

struct sova_hold {
	sova_hold_opts o;
	size_t step_len;   /* samples per envelope step */
	size_t stride;     /* every stride-th sample enters the envelope: 8000 of them a second */

	int16_t *ring;     /* owned: the pre-roll */
	size_t cap, head, len;
	uint64_t kept;     /* samples since the last reset */
	uint64_t voice_from; /* when fired: the sample the pre-roll begins at */

	int64_t acc;       /* sum of squares of the current step so far */
	size_t acc_n, pos; /* samples summed, samples into the step */

	float env[ENV_STEPS]; /* dBFS per step, at [t % ENV_STEPS] */
	uint64_t t;        /* steps seen since the last reset */
	double floor_db;   /* the line's floor */
	uint64_t onset[MAX_ONSETS]; /* step of each onset, at [k % MAX_ONSETS] */
	uint64_t n_onsets; /* since the last reset */
	int window_steps;
	bool fired;
	bool waiting;      /* after a voice: for it to pause before looking again */
	uint64_t quiet_from; /* the step of its last onset */

	sova_hold_stats stats;
};

void sova_hold_opts_default(sova_hold_opts *o)
{
	*o = (sova_hold_opts){.preroll_ms = SOVA_HOLD_PREROLL_MS, .rise_db = 10, .dip_db = 10, .floor_db = 15,
			      .min_dbfs = -45, .window_ms = 1000, .min_onsets = 3, .beat_tolerance = 0.08};
}

static const char *bad_opts(const sova_hold_opts *o)
{
	if (o->preroll_ms < 100 || o->preroll_ms > 10000)
		return "preroll_ms must be 100..10000";
	if (!(o->rise_db > 0 && o->rise_db < 60) || !(o->dip_db > 0 && o->dip_db < 60) || !(o->floor_db > 0 && o->floor_db < 60))
		return "rise_db, dip_db and floor_db must be in (0, 60)";
	if (!(o->min_dbfs > -100 && o->min_dbfs < 0))
		return "min_dbfs must be in (-100, 0)";
	if (o->min_onsets < 2 || o->min_onsets > MAX_ONSETS)
		return "min_onsets must be 2..16";
	if (o->window_ms < 200 || o->window_ms > 5000)
		return "window_ms must be 200..5000";
	if (!(o->beat_tolerance >= 0 && o->beat_tolerance < 0.5))
		return "beat_tolerance must be in [0, 0.5)";
	return NULL;
}

sova_hold *sova_hold_new(int sample_rate, const sova_hold_opts *opts, char *err, size_t errlen)
{
	sova_hold_opts o;
	if (opts)
		o = *opts;
	else
		sova_hold_opts_default(&o);
	const char *bad = !sova_audio_rate_ok(sample_rate) ? "the rate must be 8000, 16000 or 48000" : bad_opts(&o);
	if (bad) {
		snprintf(err, errlen, "hold: %s", bad);
		return NULL;
	}
	sova_hold *h = calloc(1, sizeof *h);
	if (h) {
		h->cap = (size_t)sample_rate / 1000 * (size_t)o.preroll_ms;
		h->ring = malloc(h->cap * sizeof *h->ring);
	}
	if (!h || !h->ring) {
		free(h);
		snprintf(err, errlen, "hold: out of memory");
		return NULL;
	}
	h->o = o;
	h->step_len = (size_t)sample_rate / 1000 * STEP_MS;
	h->stride = (size_t)sample_rate / 8000;
	h->window_steps = o.window_ms / STEP_MS;
	return h;
}

void sova_hold_free(sova_hold *h)
{
	if (!h)
		return;
	free(h->ring);
	free(h);
}

void sova_hold_reset(sova_hold *h, bool after_voice)
{
	h->len = h->head = 0;
	h->kept = h->voice_from = 0;
	h->acc = 0;
	h->acc_n = h->pos = 0;
	h->t = h->n_onsets = h->quiet_from = 0;
	h->fired = false;
	h->waiting = after_voice;
}

/* ---- the pre-roll ---- */

static void keep(sova_hold *h, const int16_t *pcm, size_t n)
{
	h->kept += n;
	if (n >= h->cap) { /* only the newest cap samples matter */
		memcpy(h->ring, pcm + (n - h->cap), h->cap * sizeof *pcm);
		h->head = 0;
		h->len = h->cap;
		return;
	}
	size_t first = h->cap - h->head < n ? h->cap - h->head : n;
	memcpy(h->ring + h->head, pcm, first * sizeof *pcm);
	memcpy(h->ring, pcm + first, (n - first) * sizeof *pcm);
	h->head = (h->head + n) % h->cap;
	h->len = h->len + n < h->cap ? h->len + n : h->cap;
}

void sova_hold_preroll(const sova_hold *h, const int16_t **a, size_t *na, const int16_t **b, size_t *nb)
{
	size_t len = h->len;
	if (h->fired && h->kept - h->voice_from < len)
		len = (size_t)(h->kept - h->voice_from);
	size_t start = (h->head + h->cap - len) % h->cap;
	*a = h->ring + start;
	*na = start + len <= h->cap ? len : h->cap - start;
	*b = h->ring;
	*nb = len - *na;
}

/* ---- the detector ---- */

static float env_at(const sova_hold *h, uint64_t step) { return h->env[step % ENV_STEPS]; }

/* The onsets of the window ending at step t keep one beat: every interval is the shortest one or
 * twice it, within the tolerance (a melody of equal notes, or notes and rests of two lengths). */
static bool one_beat(const sova_hold *h, uint64_t first, uint64_t count)
{
	if (h->o.beat_tolerance <= 0 || count < 3) /* one interval is no beat */
		return false;
	double base = 1e9;
	for (uint64_t k = first + 1; k < first + count; k++) {
		double iv = (double)(h->onset[k % MAX_ONSETS] - h->onset[(k - 1) % MAX_ONSETS]);
		if (iv < base)
			base = iv;
	}
	/* a step of slack: onsets are only known to the 10 ms step */
	double slack = base * h->o.beat_tolerance + 1.0;
	for (uint64_t k = first + 1; k < first + count; k++) {
		double iv = (double)(h->onset[k % MAX_ONSETS] - h->onset[(k - 1) % MAX_ONSETS]);
		if (fabs(iv - base) > slack && fabs(iv - 2 * base) > 2 * slack)
			return false;
	}
	return true;
}

/* An onset at step t: fires when the window holds enough of them, not in one beat. */
static bool onset(sova_hold *h, uint64_t t)
{
	h->onset[h->n_onsets % MAX_ONSETS] = t;
	h->n_onsets++;
	h->stats.onsets++;
	if (h->waiting) { /* the voice already heard goes on */
		h->quiet_from = t;
		return false;
	}
	uint64_t count = 0;
	while (count < h->n_onsets && count < MAX_ONSETS &&
	       t - h->onset[(h->n_onsets - 1 - count) % MAX_ONSETS] < (uint64_t)h->window_steps)
		count++;
	if (count < (uint64_t)h->o.min_onsets)
		return false;
	if (one_beat(h, h->n_onsets - count, count)) {
		h->stats.beats++;
		return false;
	}
	/* the voice began with the first of the syllables leading up to here */
	uint64_t k = h->n_onsets - 1;
	while (k > 0 && h->n_onsets - k < MAX_ONSETS &&
	       h->onset[k % MAX_ONSETS] - h->onset[(k - 1) % MAX_ONSETS] < CHAIN_STEPS)
		k--;
	uint64_t from = h->onset[k % MAX_ONSETS];
	h->voice_from = from > LEAD_STEPS ? (from - LEAD_STEPS) * h->step_len : 0;
	h->fired = true;
	h->stats.fired++;
	return true;
}

/* One envelope step of level e dBFS; true when the watcher fires on it. */
static bool step(sova_hold *h, float e)
{
	uint64_t t = h->t++;
	h->env[t % ENV_STEPS] = e;
	if (h->waiting && t - h->quiet_from >= PAUSE_STEPS) { /* it paused: look again, from here */
		h->waiting = false;
		h->n_onsets = 0;
	}
	if (t == 0 || e < h->floor_db)
		h->floor_db = e;
	else
		h->floor_db += FLOOR_RISE_DB;
	if (h->fired || e < h->o.min_dbfs)
		return false;
	uint64_t last = h->n_onsets ? h->onset[(h->n_onsets - 1) % MAX_ONSETS] : 0;
	if (h->n_onsets && t - last < MIN_GAP_STEPS)
		return false;
	/* the valley: the lowest step in the 200 ms before, after the last onset (one rise, one onset) */
	uint64_t lo = t > VALLEY_STEPS ? t - VALLEY_STEPS : 0;
	if (h->n_onsets && lo <= last)
		lo = last + 1;
	if (lo >= t)
		return false;
	uint64_t m = lo;
	for (uint64_t k = lo + 1; k < t; k++)
		if (env_at(h, k) < env_at(h, m))
			m = k;
	float valley = env_at(h, m);
	if (e - valley < h->o.rise_db)
		return false;
	/* a dip: the level fell into the valley from dip_db above it, within 250 ms before it */
	float fell_from = valley;
	for (uint64_t k = m > FALL_STEPS ? m - FALL_STEPS : 0; k < m; k++)
		if (env_at(h, k) > fell_from)
			fell_from = env_at(h, k);
	bool dip = fell_from - valley >= h->o.dip_db;
	bool from_floor = valley <= h->floor_db + NEAR_FLOOR_DB && e >= h->floor_db + h->o.floor_db;
	return (dip || from_floor) && onset(h, t);
}

bool sova_hold_feed(sova_hold *h, const int16_t *pcm, size_t n)
{
	keep(h, pcm, n);
	bool fired = false;
	for (size_t i = 0; i < n;) {
		size_t take = h->step_len - h->pos < n - i ? h->step_len - h->pos : n - i;
		size_t skip = (h->stride - h->pos % h->stride) % h->stride; /* to the next sample on the stride */
		int64_t acc = 0;
		for (size_t k = skip; k < take; k += h->stride)
			acc += (int32_t)pcm[i + k] * pcm[i + k];
		h->acc += acc;
		h->acc_n += take > skip ? (take - skip + h->stride - 1) / h->stride : 0;
		h->pos += take;
		i += take;
		if (h->pos == h->step_len) {
			/* dBFS re full scale 32768 (2^30 squared); +1e-10 keeps digital silence finite */
			double ms = h->acc_n ? (double)h->acc / (double)h->acc_n / 1073741824.0 : 0;
			fired |= step(h, (float)(10.0 * log10(ms + 1e-10)));
			h->acc = 0;
			h->acc_n = h->pos = 0;
		}
	}
	return fired;
}

void sova_hold_get_stats(const sova_hold *h, sova_hold_stats *out) { *out = h->stats; }

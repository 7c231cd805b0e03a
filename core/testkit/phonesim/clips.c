/* The callees' audio (clips.h). */
#include "clips.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"
#include "bot/speech/tts_flite.h"

#define RATE 8000
#define MUSIC_SECONDS 8
#define MUSIC_DBFS (-22.0) /* quieter than speech, as hold music is */
#define BEEP_HZ 1000.0
#define BEEP_DBFS (-9.0)

typedef struct entry {
	struct entry *next;
	char *key; /* "<voice>|<text>", "beep|<ms>" (owned) */
	ps_clip clip;
} entry;

static entry *cache; /* owned */
static sova_tts *flite_kal, *flite_slt;
static ps_clip music;

/* ---- Speech ---- */

typedef struct collect {
	int16_t *pcm;
	size_t n, cap;
	bool failed;
} collect;

static void on_flite(void *user, const sova_tts_event *ev)
{
	collect *k = user;
	if (ev->kind == SOVA_TTS_ERROR) {
		k->failed = true;
		return;
	}
	if (ev->kind != SOVA_TTS_AUDIO || k->failed)
		return;
	if (k->n + ev->num_samples > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16000;
		while (cap < k->n + ev->num_samples)
			cap *= 2;
		int16_t *p = realloc(k->pcm, cap * sizeof *p);
		if (!p) {
			k->failed = true;
			return;
		}
		k->pcm = p;
		k->cap = cap;
	}
	memcpy(k->pcm + k->n, ev->data, ev->num_samples * sizeof(int16_t));
	k->n += ev->num_samples;
}

static const ps_clip *cached(const char *key)
{
	for (entry *e = cache; e; e = e->next)
		if (!strcmp(e->key, key))
			return &e->clip;
	return NULL;
}

/* Encodes n samples at 8 kHz into a new cache entry under key (pcm stays the caller's). */
static const ps_clip *store(const char *key, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	entry *e = calloc(1, sizeof *e);
	uint8_t *audio = malloc(n ? n : 1);
	char *k = strdup(key);
	if (!e || !audio || !k) {
		free(e);
		free(audio);
		free(k);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sova_mulaw_encode_frame(pcm, n, audio);
	e->key = k;
	e->clip.audio = audio;
	e->clip.len = n;
	e->next = cache;
	cache = e;
	return &e->clip;
}

const ps_clip *ps_clip_speech(const char *voice, const char *text, char *err, size_t errlen)
{
	if (!voice)
		voice = "kal";
	sova_tts *engine = !strcmp(voice, "kal") ? flite_kal : !strcmp(voice, "slt") ? flite_slt : NULL;
	if (!engine) {
		snprintf(err, errlen, "voice \"%s\" is not kal or slt", voice);
		return NULL;
	}
	char *key = NULL;
	if (asprintf(&key, "%s|%s", voice, text) < 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const ps_clip *c = cached(key);
	if (c) {
		free(key);
		return c;
	}
	collect k = {0};
	engine->user = &k;
	char serr[128] = "";
	bool ok = sova_tts_say(engine, text, strlen(text), true, serr, sizeof serr) && !k.failed && k.n > 0;
	engine->user = NULL;
	int16_t *pcm = k.pcm;
	size_t n = k.n;
	if (ok && sova_tts_sample_rate(engine) != RATE) {
		sova_resampler *r = sova_resampler_new(sova_tts_sample_rate(engine), RATE, serr, sizeof serr);
		size_t cap = r ? sova_resampler_out_max(r, n) + sova_resampler_latency(r) + 16 : 0;
		int16_t *out = r ? malloc(cap * sizeof *out) : NULL;
		size_t got = 0, tail = 0;
		ok = out && sova_resampler_process(r, pcm, n, out, cap, &got) == 0 &&
		     sova_resampler_flush(r, out + got, cap - got, &tail) == 0;
		sova_resampler_free(r);
		free(pcm);
		pcm = out;
		n = got + tail;
	}
	c = ok ? store(key, pcm, n, err, errlen) : NULL;
	if (!ok)
		snprintf(err, errlen, "flite could not speak \"%.40s\": %s", text, serr[0] ? serr : "no audio");
	free(pcm);
	free(key);
	return c;
}

/* ---- Tones ---- */

const ps_clip *ps_clip_beep(int ms, char *err, size_t errlen)
{
	char key[32];
	snprintf(key, sizeof key, "beep|%d", ms);
	const ps_clip *c = cached(key);
	if (c)
		return c;
	size_t n = (size_t)ms * RATE / 1000, ramp = RATE / 200; /* 5 ms edges: no clicks */
	int16_t *pcm = malloc((n ? n : 1) * sizeof *pcm);
	if (!pcm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	double amp = 32767.0 * pow(10.0, BEEP_DBFS / 20.0) * sqrt(2.0);
	for (size_t i = 0; i < n; i++) {
		double edge = i < ramp ? (double)i / ramp : n - i < ramp ? (double)(n - i) / ramp : 1.0;
		pcm[i] = (int16_t)(amp * edge * sin(2 * M_PI * BEEP_HZ * (double)i / RATE));
	}
	c = store(key, pcm, n, err, errlen);
	free(pcm);
	return c;
}

/* Hold music: a I–V–vi–IV progression in C major, one chord every two seconds, as plucked
 * arpeggios (a note every 250 ms with its octave and fifth as overtones, decaying) over a soft
 * sustained root. Enough like music that a voice detector sees no speech rhythm in it. */
static bool make_music(void)
{
	static const double CHORDS[4][3] = {
		{261.63, 329.63, 392.00}, /* C */
		{196.00, 246.94, 293.66}, /* G */
		{220.00, 261.63, 329.63}, /* Am */
		{174.61, 220.00, 261.63}, /* F */
	};
	size_t n = (size_t)MUSIC_SECONDS * RATE;
	double *mix = calloc(n, sizeof *mix);
	int16_t *pcm = malloc(n * sizeof *pcm);
	uint8_t *audio = malloc(n);
	if (!mix || !pcm || !audio) {
		free(mix);
		free(pcm);
		free(audio);
		return false;
	}
	size_t note_len = RATE / 4, chord_len = 2 * RATE;
	for (size_t i = 0; i < n; i++) {
		const double *chord = CHORDS[(i / chord_len) % 4];
		size_t note = i / note_len, t = i % note_len;
		double f = chord[note % 3] * (note % 6 >= 3 ? 2.0 : 1.0);
		double x = (double)t / RATE, env = exp(-x * 9.0);
		double s = env * (sin(2 * M_PI * f * x) + 0.35 * sin(4 * M_PI * f * x) + 0.15 * sin(6 * M_PI * f * x));
		double pad = 0.25 * sin(2 * M_PI * chord[0] / 2 * (double)i / RATE);
		mix[i] = s + pad;
	}
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += mix[i] * mix[i];
	double rms = sqrt(sum / (double)n), gain = 32768.0 * pow(10.0, MUSIC_DBFS / 20.0) / (rms > 0 ? rms : 1);
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)fmax(-32768.0, fmin(32767.0, mix[i] * gain));
	sova_mulaw_encode_frame(pcm, n, audio);
	free(mix);
	free(pcm);
	music.audio = audio;
	music.len = n;
	return true;
}

const ps_clip *ps_clip_music(void) { return &music; }

bool ps_clips_init(char *err, size_t errlen)
{
	sova_tts_config kal = {.voice = "cmu_us_kal", .frame_ms = 20}, slt = {.voice = "cmu_us_slt", .frame_ms = 20};
	flite_kal = sova_tts_flite_new(&kal, on_flite, NULL, err, errlen);
	flite_slt = flite_kal ? sova_tts_flite_new(&slt, on_flite, NULL, err, errlen) : NULL;
	if (!flite_slt)
		return false;
	if (!make_music()) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

void ps_clips_free(void)
{
	for (entry *e = cache, *next; e; e = next) {
		next = e->next;
		free((void *)e->clip.audio);
		free(e->key);
		free(e);
	}
	cache = NULL;
	free((void *)music.audio);
	music = (ps_clip){0};
	sova_tts_free(flite_kal);
	sova_tts_free(flite_slt);
	flite_kal = flite_slt = NULL;
}

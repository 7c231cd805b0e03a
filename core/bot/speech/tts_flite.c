/* The offline synthesizer (tts_flite.h): flite 2.2 behind tts.h. */
#include "bot/speech/tts_flite.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flite/flite.h>

/* The voices' registration functions (their libraries have no headers). */
cst_voice *register_cmu_us_slt(const char *voxdir);
cst_voice *register_cmu_us_kal(const char *voxdir);

#define MAX_PENDING_TEXT (64 * 1024) /* one turn's text not yet synthesized */

/* ---- once per process ---- */

static pthread_once_t flite_once = PTHREAD_ONCE_INIT;
static cst_voice *voice_slt, *voice_kal; /* process-wide, read-only after registration */

static void init_flite(void)
{
	flite_init();
	voice_slt = register_cmu_us_slt(NULL);
	voice_kal = register_cmu_us_kal(NULL);
}

/* ---- the synthesizer ---- */

typedef struct flite_tts {
	sova_tts base;
	cst_voice *voice;     /* shared, read-only */
	size_t frame_samples; /* samples per frame */
	char *pending;        /* this turn's text not yet synthesized (owned) */
	size_t pending_len, pending_cap;
	int16_t *partial;     /* a frame not yet full: the start of the next clause's frame (owned) */
	size_t partial_len;
	uint64_t turn_samples; /* delivered or in `partial` this turn: where the next clause's audio begins */
} flite_tts;

static bool append_pending(flite_tts *t, const char *text, size_t len, char *err, size_t errlen)
{
	if (t->pending_len + len > MAX_PENDING_TEXT) {
		snprintf(err, errlen, "flite: more than %d bytes of unspoken text in one turn", MAX_PENDING_TEXT);
		return false;
	}
	if (t->pending_len + len + 1 > t->pending_cap) {
		size_t cap = t->pending_cap ? t->pending_cap : 256;
		while (cap < t->pending_len + len + 1)
			cap *= 2;
		char *p = realloc(t->pending, cap);
		if (!p) {
			snprintf(err, errlen, "flite: out of memory");
			return false;
		}
		t->pending = p;
		t->pending_cap = cap;
	}
	memcpy(t->pending + t->pending_len, text, len);
	t->pending_len += len;
	t->pending[t->pending_len] = '\0';
	return true;
}

/* Delivers whole frames from the samples; keeps the rest in `partial`. False once cancelled. */
static bool deliver(flite_tts *t, const short *samples, size_t n)
{
	size_t fs = t->frame_samples;
	while (n > 0) {
		size_t take = fs - t->partial_len < n ? fs - t->partial_len : n;
		memcpy(t->partial + t->partial_len, samples, take * sizeof *samples);
		t->partial_len += take;
		samples += take;
		n -= take;
		if (t->partial_len < fs)
			break;
		sova_tts_event ev = {.kind = SOVA_TTS_AUDIO, .data = t->partial, .bytes = fs * sizeof(int16_t), .num_samples = fs,
				     .sample_rate = t->base.sample_rate, .encoding = SOVA_AUDIO_PCM16, .chunk = t->base.chunk};
		t->partial_len = 0;
		if (!sova_tts_emit(&t->base, &ev))
			return false;
	}
	return true;
}

/* The last frame of the turn, padded with silence. */
static bool flush_partial(flite_tts *t)
{
	if (t->partial_len == 0)
		return true;
	memset(t->partial + t->partial_len, 0, (t->frame_samples - t->partial_len) * sizeof *t->partial);
	t->partial_len = 0;
	sova_tts_event ev = {.kind = SOVA_TTS_AUDIO, .data = t->partial, .bytes = t->frame_samples * sizeof(int16_t),
			     .num_samples = t->frame_samples, .sample_rate = t->base.sample_rate, .encoding = SOVA_AUDIO_PCM16,
			     .chunk = t->base.chunk};
	return sova_tts_emit(&t->base, &ev);
}

/* Synthesizes one clause: its word marks, then its audio. False when cancelled or on failure
 * (then err says why). */
static bool speak(flite_tts *t, const char *clause, char *err, size_t errlen)
{
	cst_utterance *utt = flite_synth_text(clause, t->voice);
	cst_wave *w = utt ? utt_wave(utt) : NULL;
	if (!w) {
		if (utt)
			delete_utterance(utt);
		snprintf(err, errlen, "flite: synthesis failed");
		return false;
	}
	double base = (double)t->turn_samples / t->base.sample_rate;
	bool ok = true;
	for (cst_item *word = relation_head(utt_relation(utt, "Word")); word && ok; word = item_next(word)) {
		/* a word's time is that of its first and last segments (phones) */
		float start = ffeature_float(word, "R:SylStructure.daughter1.daughter1.R:Segment.p.end");
		float end = ffeature_float(word, "R:SylStructure.daughtern.daughtern.R:Segment.end");
		sova_tts_event ev = {.kind = SOVA_TTS_MARK, .text = item_feat_string(word, "name"), .start_s = base + start,
				     .end_s = base + end, .chunk = t->base.chunk};
		ok = sova_tts_emit(&t->base, &ev);
	}
	if (ok) {
		t->turn_samples += (uint64_t)w->num_samples;
		ok = deliver(t, w->samples, (size_t)w->num_samples);
	}
	delete_utterance(utt);
	return ok;
}

/* Speaks and removes complete clauses from pending (all of it when final). */
static bool speak_pending(flite_tts *t, bool final, char *err, size_t errlen)
{
	for (;;) {
		size_t end = t->base.config.whole_line ? 0 : sova_tts_clause_end(t->pending, t->pending_len);
		if (end == 0) {
			if (!final)
				return true;
			end = t->pending_len;
		}
		if (end == 0)
			return true;
		char saved = t->pending[end];
		t->pending[end] = '\0';
		bool ok = sova_tts_blank(t->pending, end) || speak(t, t->pending, err, errlen);
		t->pending[end] = saved;
		memmove(t->pending, t->pending + end, t->pending_len - end + 1);
		t->pending_len -= end;
		if (!ok)
			return false;
	}
}

static bool flite_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	flite_tts *t = (flite_tts *)s;
	if (s->chunk == 0) { /* a new turn */
		t->pending_len = 0;
		t->partial_len = 0;
		t->turn_samples = 0;
	}
	err[0] = '\0';
	if (!append_pending(t, text, len, err, errlen))
		return false;
	if (!speak_pending(t, final, err, errlen) || (final && !flush_partial(t))) {
		if (err[0]) {
			sova_tts_event ev = {.kind = SOVA_TTS_ERROR, .text = err, .chunk = s->chunk};
			sova_tts_emit(s, &ev);
			return false;
		}
		return true; /* cancelled: not an error */
	}
	if (t->pending_len == 0 || sova_tts_blank(t->pending, t->pending_len)) {
		sova_tts_event ev = {.kind = SOVA_TTS_CHUNK_DONE, .chunk = s->chunk};
		if (!sova_tts_emit(s, &ev))
			return true;
	}
	if (final) {
		sova_tts_event ev = {.kind = SOVA_TTS_DONE, .chunk = s->chunk};
		sova_tts_emit(s, &ev);
	}
	return true;
}

/* Nothing to do at once: say() checks the flag between frames and clauses, and the next turn
 * starts afresh. Touching the buffers here could race with a say() on another thread. */
static void flite_cancel(sova_tts *s) { (void)s; }

static void flite_close(sova_tts *s)
{
	flite_tts *t = (flite_tts *)s;
	free(t->pending);
	free(t->partial);
	t->pending = NULL;
	t->partial = NULL;
}

static void flite_destroy(sova_tts *s) { free(s); }

static const sova_tts_vtable FLITE_VTABLE = {
	.name = "flite", .say = flite_say, .cancel = flite_cancel, .close = flite_close, .destroy = flite_destroy};

sova_tts *sova_tts_flite_new(const sova_tts_config *config, sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	if (!config || !cb) {
		snprintf(err, errlen, "flite: missing %s", !config ? "config" : "callback");
		return NULL;
	}
	pthread_once(&flite_once, init_flite);
	const char *name = config->voice ? config->voice : "cmu_us_slt";
	cst_voice *voice = strcmp(name, "cmu_us_slt") == 0 ? voice_slt : strcmp(name, "cmu_us_kal") == 0 ? voice_kal : NULL;
	int rate = voice == voice_slt ? 16000 : 8000;
	if (!voice) {
		snprintf(err, errlen, "flite: no voice %s (cmu_us_slt, 16000 Hz; cmu_us_kal, 8000 Hz)", name);
		return NULL;
	}
	if (config->sample_rate != 0 && config->sample_rate != rate) {
		snprintf(err, errlen, "flite: %s speaks at %d Hz, not %d; resample the output or choose the other voice", name, rate,
			 config->sample_rate);
		return NULL;
	}
	if (config->encoding != 0 && config->encoding != SOVA_AUDIO_PCM16) {
		snprintf(err, errlen, "flite: PCM16 output only (the media plane encodes μ-law)");
		return NULL;
	}
	if (config->frame_ms < 0 || config->frame_ms > 1000) {
		snprintf(err, errlen, "flite: frame_ms %d is outside 0..1000", config->frame_ms);
		return NULL;
	}
	if (config->language && strncmp(config->language, "en", 2) != 0) {
		snprintf(err, errlen, "flite: English voices only, not %s", config->language);
		return NULL;
	}
	flite_tts *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "flite: out of memory");
		return NULL;
	}
	sova_tts_init_base(&t->base, &FLITE_VTABLE, config, cb, user);
	t->voice = voice;
	t->base.sample_rate = rate;
	t->frame_samples = (size_t)rate * (size_t)t->base.config.frame_ms / 1000;
	t->partial = malloc(t->frame_samples * sizeof *t->partial);
	if (!t->partial) {
		free(t);
		snprintf(err, errlen, "flite: out of memory");
		return NULL;
	}
	return &t->base;
}

/* Voice activity detection: see vad.h. */
#include "bot/media/vad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_preprocess.h>

#include "bot/media/audio.h"
#include "bot/media/vad_webrtc.h"

/* ---- Options and names ---- */

void sova_vad_opts_default(sova_vad_opts *opts)
{
	opts->frame_ms = 20;
	opts->min_speech_ms = 100;
	opts->min_silence_ms = 500;
	opts->gap_ms = 40;
	opts->energy_snr_db = 12.0;
	opts->energy_min_dbfs = -50.0;
	opts->speex_prob_start = 35;
	opts->speex_prob_continue = 20;
	opts->webrtc_mode = 3;
}

const char *sova_vad_kind_name(sova_vad_kind kind)
{
	switch (kind) {
	case SOVA_VAD_ENERGY: return "energy";
	case SOVA_VAD_SPEEX: return "speex";
	case SOVA_VAD_WEBRTC: return "webrtc";
	}
	return NULL;
}

sova_vad_kind sova_vad_kind_parse(const char *name)
{
	for (int k = SOVA_VAD_ENERGY; k <= SOVA_VAD_WEBRTC; k++)
		if (name && strcmp(name, sova_vad_kind_name((sova_vad_kind)k)) == 0)
			return (sova_vad_kind)k;
	return 0;
}

bool sova_vad_kind_available(sova_vad_kind kind)
{
	return sova_vad_kind_name(kind) != NULL;
}

/* ---- The handle ---- */

struct sova_vad {
	sova_vad_kind kind;
	sova_vad_opts opts;
	int sample_rate;
	size_t frame_samples;

	/* energy */
	double floor_db;  /* tracked noise floor, dBFS */
	bool floor_set;   /* false until the first frame */

	/* speex */
	SpeexPreprocessState *speex; /* owned */
	int16_t *scratch;            /* owned: speex_preprocess_run writes into its frame */
	bool speex_was_speech;       /* the previous frame's decision (continue threshold) */

	/* webrtc */
	sova_webrtc_vad *webrtc; /* owned */

	/* debouncing */
	uint64_t frames;         /* fed so far */
	bool in_speech;
	int run_ms;              /* speech counted toward a start */
	int run_gap_ms;          /* non-speech since the run's last speech frame */
	uint64_t run_start_ms;
	int silence_ms;          /* non-speech since the last speech frame, in speech */
	uint64_t last_speech_end_ms;
};

void sova_vad_free(sova_vad *v)
{
	if (!v)
		return;
	if (v->speex)
		speex_preprocess_state_destroy(v->speex);
	free(v->scratch);
	sova_webrtc_vad_free(v->webrtc);
	free(v);
}

static bool opts_ok(const sova_vad_opts *o, char *err, size_t errlen)
{
	if (o->frame_ms != 10 && o->frame_ms != 20 && o->frame_ms != 30) {
		snprintf(err, errlen, "vad: frame_ms must be 10, 20 or 30 (got %d)", o->frame_ms);
		return false;
	}
	if (o->min_speech_ms < 0 || o->min_silence_ms < 0 || o->gap_ms < 0 || o->min_speech_ms > 60000 ||
	    o->min_silence_ms > 60000 || o->gap_ms > 60000) {
		snprintf(err, errlen, "vad: min_speech_ms, min_silence_ms and gap_ms must be 0..60000");
		return false;
	}
	if (!(o->energy_snr_db > 0 && o->energy_snr_db < 60) || !(o->energy_min_dbfs > -100 && o->energy_min_dbfs < 0)) {
		snprintf(err, errlen, "vad: energy_snr_db must be in (0, 60) and energy_min_dbfs in (-100, 0)");
		return false;
	}
	if (o->speex_prob_start < 1 || o->speex_prob_start > 99 || o->speex_prob_continue < 1 ||
	    o->speex_prob_continue > o->speex_prob_start) {
		snprintf(err, errlen, "vad: speex probabilities must satisfy 1 <= continue <= start <= 99");
		return false;
	}
	if (o->webrtc_mode < 0 || o->webrtc_mode > 3) {
		snprintf(err, errlen, "vad: webrtc_mode must be 0..3");
		return false;
	}
	return true;
}

static bool speex_start(sova_vad *v, char *err, size_t errlen)
{
	v->scratch = calloc(v->frame_samples, sizeof *v->scratch);
	v->speex = speex_preprocess_state_init((int)v->frame_samples, v->sample_rate);
	if (!v->scratch || !v->speex) {
		snprintf(err, errlen, "vad: speexdsp preprocessor could not start");
		return false;
	}
	/* Only the analysis: denoise, AGC and dereverb would cost CPU and change nothing we read.
	 * SPEEX_PREPROCESS_SET_VAD is not used: speexdsp 1.2 prints "The VAD has been replaced by a
	 * hack pending a complete rewrite" on it, and all it adds is the start/continue hysteresis
	 * over the speech probability, done the same way in speex_frame. */
	spx_int32_t off = 0;
	if (speex_preprocess_ctl(v->speex, SPEEX_PREPROCESS_SET_DENOISE, &off) != 0 ||
	    speex_preprocess_ctl(v->speex, SPEEX_PREPROCESS_SET_AGC, &off) != 0 ||
	    speex_preprocess_ctl(v->speex, SPEEX_PREPROCESS_SET_DEREVERB, &off) != 0) {
		snprintf(err, errlen, "vad: speexdsp preprocessor refused its settings");
		return false;
	}
	return true;
}

sova_vad *sova_vad_new(sova_vad_kind kind, int sample_rate, const sova_vad_opts *opts, char *err, size_t errlen)
{
	sova_vad_opts o;
	if (opts)
		o = *opts;
	else
		sova_vad_opts_default(&o);
	if (!sova_vad_kind_available(kind)) {
		snprintf(err, errlen, "vad: unknown kind %d", (int)kind);
		return NULL;
	}
	if (!sova_audio_rate_ok(sample_rate)) {
		snprintf(err, errlen, "vad: unsupported sample rate %d (8000, 16000, 48000)", sample_rate);
		return NULL;
	}
	if (!opts_ok(&o, err, errlen))
		return NULL;
	sova_vad *v = calloc(1, sizeof *v);
	if (!v) {
		snprintf(err, errlen, "vad: out of memory");
		return NULL;
	}
	v->kind = kind;
	v->opts = o;
	v->sample_rate = sample_rate;
	v->frame_samples = sova_frame_samples(sample_rate, o.frame_ms);
	bool ok = true;
	if (kind == SOVA_VAD_SPEEX)
		ok = speex_start(v, err, errlen);
	else if (kind == SOVA_VAD_WEBRTC)
		ok = (v->webrtc = sova_webrtc_vad_new(sample_rate, o.webrtc_mode, err, errlen)) != NULL;
	if (!ok) {
		sova_vad_free(v);
		return NULL;
	}
	return v;
}

size_t sova_vad_frame_samples(const sova_vad *v) { return v->frame_samples; }

/* ---- The detectors: one frame to a probability and a decision ---- */

static void energy_frame(sova_vad *v, const int16_t *frame, float *prob, bool *speech)
{
	double level = sova_level_dbfs(frame, v->frame_samples);
	if (!v->floor_set) {
		v->floor_db = level;
		v->floor_set = true;
	}
	double snr = level - v->floor_db;
	*speech = snr >= v->opts.energy_snr_db && level >= v->opts.energy_min_dbfs;
	*prob = level < v->opts.energy_min_dbfs ? 0.0f : (float)(1.0 / (1.0 + exp(-(snr - v->opts.energy_snr_db) / 2.0)));
	/* The floor follows quieter frames within a few frames (pauses between words reach it) and
	 * rises slowly, so speech cannot lift it but a steady sound (hold music, a fan) becomes the
	 * floor within seconds. */
	double frame_s = v->opts.frame_ms / 1000.0;
	if (level < v->floor_db)
		v->floor_db += (level - v->floor_db) * (1.0 - exp(-frame_s / 0.05));
	else
		v->floor_db = fmin(level, v->floor_db + SOVA_VAD_ENERGY_RISE_DB_PER_S * frame_s);
}

static int speex_frame(sova_vad *v, const int16_t *frame, float *prob, bool *speech)
{
	memcpy(v->scratch, frame, v->frame_samples * sizeof *frame);
	speex_preprocess_run(v->speex, v->scratch);
	spx_int32_t p = 0;
	if (speex_preprocess_ctl(v->speex, SPEEX_PREPROCESS_GET_PROB, &p) != 0)
		return -1;
	/* speexdsp's own VAD rule (preprocess.c): above start, or above continue right after speech. */
	*speech = p > v->opts.speex_prob_start || (v->speex_was_speech && p > v->opts.speex_prob_continue);
	v->speex_was_speech = *speech;
	*prob = (float)p / 100.0f;
	return 0;
}

static int webrtc_frame(sova_vad *v, const int16_t *frame, float *prob, bool *speech)
{
	/* VoiceDetection takes 10 ms; a longer frame is speech when any of its 10 ms parts is, so a
	 * 20 ms frame reacts as fast as two 10 ms ones. */
	size_t step = (size_t)v->sample_rate / 100;
	bool any = false;
	for (size_t off = 0; off < v->frame_samples; off += step) {
		int rc = sova_webrtc_vad_process_10ms(v->webrtc, frame + off);
		if (rc < 0)
			return -1;
		any = any || rc == 1;
	}
	*speech = any;
	*prob = any ? 1.0f : 0.0f;
	return 0;
}

/* ---- Debouncing: decisions to events ---- */

static void debounce(sova_vad *v, bool speech, sova_vad_result *out)
{
	int ms = v->opts.frame_ms;
	uint64_t frame_start = v->frames * (uint64_t)ms;
	uint64_t frame_end = frame_start + (uint64_t)ms;
	out->event = SOVA_VAD_EVENT_NONE;
	out->event_at_ms = 0;
	if (!v->in_speech) {
		if (speech) {
			if (v->run_ms == 0)
				v->run_start_ms = frame_start;
			v->run_ms += ms;
			v->run_gap_ms = 0;
			if (v->run_ms >= v->opts.min_speech_ms) {
				v->in_speech = true;
				v->silence_ms = 0;
				v->last_speech_end_ms = frame_end;
				out->event = SOVA_VAD_SPEECH_START;
				out->event_at_ms = v->run_start_ms;
			}
		} else if (v->run_ms > 0) {
			v->run_gap_ms += ms;
			if (v->run_gap_ms > v->opts.gap_ms)
				v->run_ms = v->run_gap_ms = 0;
		}
	} else if (speech) {
		v->silence_ms = 0;
		v->last_speech_end_ms = frame_end;
	} else {
		v->silence_ms += ms;
		if (v->silence_ms >= v->opts.min_silence_ms) {
			v->in_speech = false;
			v->run_ms = v->run_gap_ms = 0;
			out->event = SOVA_VAD_SPEECH_STOP;
			out->event_at_ms = v->last_speech_end_ms;
		}
	}
	v->frames++;
	out->in_speech = v->in_speech;
	out->now_ms = frame_end;
}

int sova_vad_feed(sova_vad *v, const int16_t *frame, size_t n, sova_vad_result *out)
{
	if (!v || !frame || !out || n != v->frame_samples)
		return -1;
	float prob = 0;
	bool speech = false;
	int rc = 0;
	switch (v->kind) {
	case SOVA_VAD_ENERGY: energy_frame(v, frame, &prob, &speech); break;
	case SOVA_VAD_SPEEX: rc = speex_frame(v, frame, &prob, &speech); break;
	case SOVA_VAD_WEBRTC: rc = webrtc_frame(v, frame, &prob, &speech); break;
	}
	if (rc != 0)
		return -1;
	out->probability = prob;
	out->speech = speech;
	debounce(v, speech, out);
	return 0;
}

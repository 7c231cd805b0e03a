/* A voice call's media on a virtual clock (voice_sim.h). */
#include "bot/media/voice_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"
#include "bot/speech/tts_flite.h"

#define NS_PER_MS 1000000LL
#define T0_NS (1000 * NS_PER_MS) /* the clock starts above 0: a 0 stamp means "did not happen" */

struct sova_voice_sim {
	sova_voice *voice; /* owned; owns the recognizer and the agent's synthesizer */
	sova_tts *party;   /* owned */
	sova_resampler *to_wire; /* owned: the party's rate to the wire's */
	int wire_rate;
	sova_audio_encoding wire_encoding;
	const char *party_voice; /* a flite voice name (static) */
	int64_t now;             /* the virtual clock, ns */
	/* the party's line as synthesized (party rate), then at the wire rate; owned */
	int16_t *line, *wire_pcm;
	size_t line_len, line_cap, wire_cap;
	char synth_err[256];
	bool too_long;
	sova_voice_sim_event *events; /* owned, with their texts */
	size_t num_events, events_cap, dropped;
	bool turn_ended; /* an END_OF_TURN came since the last silence() began */
};

static int64_t sim_clock(void *ud) { return ((const sova_voice_sim *)ud)->now; }

static void on_event(void *ud, const sova_voice_event *ev)
{
	sova_voice_sim *s = ud;
	if (ev->kind == SOVA_VOICE_END_OF_TURN)
		s->turn_ended = true;
	if (s->num_events == SOVA_VOICE_SIM_MAX_EVENTS) {
		s->dropped++;
		return;
	}
	if (s->num_events == s->events_cap) {
		size_t cap = s->events_cap ? 2 * s->events_cap : 64;
		sova_voice_sim_event *p = realloc(s->events, cap * sizeof *p);
		if (!p) {
			s->dropped++;
			return;
		}
		s->events = p, s->events_cap = cap;
	}
	char *text = strdup(ev->text ? ev->text : "");
	if (!text) {
		s->dropped++;
		return;
	}
	s->events[s->num_events++] = (sova_voice_sim_event){.kind = ev->kind, .text = text, .at_ms = (s->now - T0_NS) / NS_PER_MS,
							   .confidence = ev->confidence, .fatal = ev->fatal};
}

static void on_frame(void *ud, const void *wire, size_t len) { (void)ud, (void)wire, (void)len; } /* nobody listens */

/* The party's synthesizer delivers inside say(): its audio is gathered into s->line. */
static void on_party_audio(void *user, const sova_tts_event *ev)
{
	sova_voice_sim *s = user;
	if (ev->kind == SOVA_TTS_ERROR) {
		snprintf(s->synth_err, sizeof s->synth_err, "%s", ev->text ? ev->text : "synthesis failed");
		return;
	}
	if (ev->kind != SOVA_TTS_AUDIO || s->too_long)
		return;
	size_t max = (size_t)ev->sample_rate * SOVA_VOICE_SIM_MAX_LINE_MS / 1000;
	if (s->line_len + ev->num_samples > max) {
		s->too_long = true;
		return;
	}
	if (s->line_len + ev->num_samples > s->line_cap) {
		size_t cap = s->line_cap ? s->line_cap : 16384;
		while (cap < s->line_len + ev->num_samples)
			cap *= 2;
		int16_t *p = realloc(s->line, cap * sizeof *p);
		if (!p) {
			snprintf(s->synth_err, sizeof s->synth_err, "out of memory");
			return;
		}
		s->line = p, s->line_cap = cap;
	}
	memcpy(s->line + s->line_len, ev->data, ev->num_samples * sizeof *s->line);
	s->line_len += ev->num_samples;
}

static const char *party_voice_for(const sova_voice_sim_config *cfg)
{
	if (cfg->party_voice)
		return cfg->party_voice;
	const char *agent = cfg->tts && strcmp(sova_tts_name(cfg->tts), "flite") == 0 ? cfg->tts->config.voice : NULL;
	return agent && strcmp(agent, SOVA_VOICE_SIM_PARTY_VOICE) == 0 ? "cmu_us_kal" : SOVA_VOICE_SIM_PARTY_VOICE;
}

sova_voice_sim *sova_voice_sim_new(const sova_voice_sim_config *cfg, char *err, size_t errlen)
{
	sova_voice_sim *s = cfg ? calloc(1, sizeof *s) : NULL;
	if (!s) {
		snprintf(err, errlen, "voice_sim: %s", cfg ? "out of memory" : "no config");
		if (cfg) {
			sova_stt_free(cfg->stt);
			sova_tts_free(cfg->tts);
		}
		return NULL;
	}
	s->wire_rate = cfg->wire_rate;
	s->wire_encoding = cfg->wire_encoding;
	s->now = T0_NS;
	const char *pv = party_voice_for(cfg);
	sova_tts_config pc = {.voice = pv};
	s->party = sova_tts_flite_new(&pc, on_party_audio, s, err, errlen);
	s->party_voice = strcmp(pv, "cmu_us_kal") == 0 ? "cmu_us_kal" : SOVA_VOICE_SIM_PARTY_VOICE; /* flite knows no other */
	if (!s->party) {
		sova_stt_free(cfg->stt);
		sova_tts_free(cfg->tts);
		free(s);
		return NULL;
	}
	s->to_wire = sova_resampler_new(sova_tts_sample_rate(s->party), cfg->wire_rate, err, errlen);
	if (!s->to_wire) {
		sova_stt_free(cfg->stt);
		sova_tts_free(cfg->tts);
		sova_voice_sim_free(s);
		return NULL;
	}
	sova_voice_config vc = {
		.wire_rate = cfg->wire_rate, .wire_encoding = cfg->wire_encoding, .frame_ms = SOVA_VOICE_SIM_FRAME_MS,
		.stt = cfg->stt, .stt_rate = cfg->stt_rate, .tts = cfg->tts, .vad = cfg->vad,
		.turn_min_silence_ms = cfg->turn_min_silence_ms, .turn_max_silence_ms = cfg->turn_max_silence_ms,
		.barge_in_min_ms = cfg->barge_in_min_ms, .barge_in_min_words = cfg->barge_in_min_words,
		.barge_in_off = cfg->barge_in_off, .on_event = on_event, .on_frame = on_frame, .ud = s,
		.clock = sim_clock, .clock_ud = s,
	};
	sova_vad_opts_default(&vc.vad_opts);
	s->voice = sova_voice_new(&vc, err, errlen); /* takes stt and tts */
	if (!s->voice) {
		sova_voice_sim_free(s);
		return NULL;
	}
	sova_voice_set_answered(s->voice, true);
	return s;
}

void sova_voice_sim_clear(sova_voice_sim *s)
{
	for (size_t i = 0; i < s->num_events; i++)
		free(s->events[i].text);
	s->num_events = 0;
	s->dropped = 0;
}

void sova_voice_sim_free(sova_voice_sim *s)
{
	if (!s)
		return;
	sova_voice_free(s->voice);
	sova_tts_free(s->party);
	sova_resampler_free(s->to_wire);
	sova_voice_sim_clear(s);
	free(s->events);
	free(s->line);
	free(s->wire_pcm);
	free(s);
}

const char *sova_voice_sim_party_voice(const sova_voice_sim *s) { return s->party_voice; }

bool sova_voice_sim_listen(sova_voice_sim *s, const sova_stt_options *opt, char *err, size_t errlen)
{
	return sova_voice_listen(s->voice, opt, err, errlen);
}

/* One frame of wire-rate PCM (n samples, a frame's worth) arrives; then the tick runs. */
static void step(sova_voice_sim *s, const int16_t *pcm, size_t n)
{
	uint8_t wire[SOVA_VOICE_SIM_FRAME_MS * 48 * 2]; /* 20 ms at 48 kHz, PCM16 */
	size_t len = n;
	if (s->wire_encoding == SOVA_AUDIO_MULAW) {
		sova_mulaw_encode_frame(pcm, n, wire);
	} else {
		sova_pcm16le_write(pcm, n, wire);
		len = 2 * n;
	}
	s->now += SOVA_VOICE_SIM_FRAME_MS * NS_PER_MS;
	char err[256];
	if (!sova_voice_input(s->voice, wire, len, err, sizeof err)) {
		/* cannot happen with whole frames of the voice's own format; reported like the voice's errors */
		sova_voice_event ev = {.kind = SOVA_VOICE_ERROR, .text = err, .fatal = true};
		on_event(s, &ev);
	}
	sova_voice_tick(s->voice, s->now, false);
}

static size_t frame_samples(const sova_voice_sim *s) { return sova_frame_samples(s->wire_rate, SOVA_VOICE_SIM_FRAME_MS); }

bool sova_voice_sim_speak(sova_voice_sim *s, const char *text, uint64_t *ms, char *err, size_t errlen)
{
	*ms = 0;
	s->line_len = 0;
	s->synth_err[0] = '\0';
	s->too_long = false;
	if (!sova_tts_say(s->party, text, strlen(text), true, err, errlen))
		return false;
	if (s->synth_err[0] || s->too_long) {
		snprintf(err, errlen, "the other party's line: %s",
			 s->too_long ? "longer than the longest line simulated" : s->synth_err);
		return false;
	}
	size_t need = sova_resampler_out_max(s->to_wire, s->line_len) + sova_resampler_latency(s->to_wire) + 16;
	if (need > s->wire_cap) {
		int16_t *p = realloc(s->wire_pcm, need * sizeof *p);
		if (!p) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		s->wire_pcm = p, s->wire_cap = need;
	}
	size_t n = 0, tail = 0;
	if (sova_resampler_process(s->to_wire, s->line, s->line_len, s->wire_pcm, s->wire_cap, &n) != 0 ||
	    sova_resampler_flush(s->to_wire, s->wire_pcm + n, s->wire_cap - n, &tail) != 0) {
		snprintf(err, errlen, "resampling the other party's line failed");
		return false;
	}
	n += tail;
	size_t f = frame_samples(s);
	int16_t frame[SOVA_VOICE_SIM_FRAME_MS * 48];
	for (size_t i = 0; i < n; i += f) {
		size_t k = n - i < f ? n - i : f;
		memcpy(frame, s->wire_pcm + i, k * sizeof *frame);
		memset(frame + k, 0, (f - k) * sizeof *frame); /* the last frame padded with silence */
		step(s, frame, f);
		*ms += SOVA_VOICE_SIM_FRAME_MS;
	}
	return true;
}

uint64_t sova_voice_sim_silence(sova_voice_sim *s, uint64_t ms, bool until_turn)
{
	int16_t frame[SOVA_VOICE_SIM_FRAME_MS * 48] = {0};
	uint64_t done = 0;
	s->turn_ended = false;
	while (done + SOVA_VOICE_SIM_FRAME_MS <= ms && !(until_turn && s->turn_ended)) {
		step(s, frame, frame_samples(s));
		done += SOVA_VOICE_SIM_FRAME_MS;
	}
	return done;
}

int64_t sova_voice_sim_now_ms(const sova_voice_sim *s) { return (s->now - T0_NS) / NS_PER_MS; }

size_t sova_voice_sim_events(const sova_voice_sim *s, const sova_voice_sim_event **events, size_t *dropped)
{
	*events = s->events;
	if (dropped)
		*dropped = s->dropped;
	return s->num_events;
}

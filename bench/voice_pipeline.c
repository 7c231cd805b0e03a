/* The voice pipeline's costs (core/bot/media/voice.c); bench/voice_pipeline.sh runs it, figures in
 * docs/benchmarks.md "Voice pipeline".
 *
 *   frame   the voice's own CPU per 20 ms step of one call (one input frame, one tick, an output
 *           frame while the agent talks, both channels recorded), N calls on this one thread, with
 *           trivial engines (a stub recognizer that only counts, a stub synthesizer that copies a
 *           tone), so the figure excludes the engines. A fake clock: no sleeping.
 *   first   first words with flite: the demo greeting said before set_answered (ringing), then
 *           the wall time from set_answered to the first frame handed to on_frame when the tick
 *           comes at once; and the greeting said only after set_answered.
 *   turn    one spoken turn with pocketsphinx (grammar) and flite on a fake clock: CPU per second
 *           of audio for the other party's side (decode, VAD, resample, recognize) and the
 *           agent's side (synthesize, resample, pace). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/media/audio.h"
#include "bot/media/voice.h"
#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts_flite.h"

#define MS 1000000LL

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void) { return sova_clock_monotonic_ns(NULL); }

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_voice_pipeline: %s: %s\n", what, why);
	exit(1);
}

/* ---- trivial engines ---- */

typedef struct stub_stt { sova_stt base; uint64_t fed; } stub_stt;
static bool sst_start(sova_stt *r, const sova_stt_options *o, char *e, size_t el) { return true; }
static bool sst_feed(sova_stt *r, const int16_t *p, size_t n, char *e, size_t el)
{
	((stub_stt *)r)->fed += n;
	return true;
}
static bool sst_finalize(sova_stt *r, char *e, size_t el) { return true; }
static void sst_close(sova_stt *r) {}
static void sst_destroy(sova_stt *r) { free(r); }
static const sova_stt_vtable STUB_STT = {"stub", sst_start, sst_feed, sst_finalize, sst_close, sst_destroy};

static int16_t TONE[960]; /* 20 ms at the stub's rate */
static int stub_rate = 16000;

typedef struct stub_tts { sova_tts base; } stub_tts;
/* 20 frames (400 ms) of tone per chunk, then DONE on the final one */
static bool stts_say(sova_tts *t, const char *text, size_t len, bool final, char *e, size_t el)
{
	for (int f = 0; f < 20; f++) {
		size_t n = (size_t)stub_rate / 50;
		sova_tts_event a = {.kind = SOVA_TTS_AUDIO, .data = TONE, .bytes = 2 * n, .num_samples = n,
				    .sample_rate = stub_rate, .encoding = SOVA_AUDIO_PCM16, .chunk = t->chunk};
		if (!sova_tts_emit(t, &a))
			return true;
	}
	if (final) {
		sova_tts_event d = {.kind = SOVA_TTS_DONE, .chunk = t->chunk};
		sova_tts_emit(t, &d);
	}
	return true;
}
static void stts_cancel(sova_tts *t) {}
static void stts_close(sova_tts *t) {}
static void stts_destroy(sova_tts *t) { free(t); }
static const sova_tts_vtable STUB_TTS = {"stub", stts_say, stts_cancel, stts_close, stts_destroy};

/* ---- a call as the bench drives it ---- */

typedef struct call {
	sova_voice *v;
	int64_t *now; /* the shared fake clock */
	bool agent_done;
	uint64_t frames_out, events, recorded;
	int64_t first_frame_wall; /* first: wall time of the first frame */
} call;

static int64_t fake_now(void *ud) { return *(int64_t *)ud; }

static void on_event(void *ud, const sova_voice_event *ev)
{
	call *c = ud;
	c->events++;
	if (ev->kind == SOVA_VOICE_AGENT_DONE || ev->kind == SOVA_VOICE_INTERRUPTED)
		c->agent_done = true;
}

static void on_frame(void *ud, const void *wire, size_t len)
{
	call *c = ud;
	if (c->frames_out++ == 0)
		c->first_frame_wall = wall_ns();
}

static int on_record(void *ud, int ch, uint64_t at, const int16_t *pcm, size_t n)
{
	((call *)ud)->recorded += n;
	return 0;
}

static sova_voice *new_voice(call *c, int rate, sova_audio_encoding enc, sova_stt *stt, sova_tts *tts, int64_t *clock)
{
	char err[256];
	sova_voice_config cfg = {.wire_rate = rate, .wire_encoding = enc, .stt = stt, .tts = tts, .on_event = on_event,
				 .on_frame = on_frame, .record = on_record, .ud = c, .clock = clock ? fake_now : NULL, .clock_ud = clock};
	sova_voice *v = sova_voice_new(&cfg, err, sizeof err);
	if (!v)
		die("voice", err);
	return v;
}

/* ---- frame: the voice's own cost ---- */

static const char LINE[] = "Thank you, I will note that, and I will call back tomorrow morning.";

/* engine_rate: the stub engines' rate (16000 as pocketsphinx and flite slt: the voice resamples;
 * the wire rate, as Deepgram and Cartesia take and give it: no resampling). */
static void bench_frame(int calls, int seconds, int rate, sova_audio_encoding enc, int engine_rate)
{
	stub_rate = engine_rate;
	for (int k = 0; k < engine_rate / 50; k++)
		TONE[k] = (int16_t)(3000 * sin(2 * M_PI * 400.0 * (double)k / engine_rate));
	int64_t now = 1000 * MS;
	call *cs = calloc((size_t)calls, sizeof *cs);
	if (!cs)
		die("frame", "out of memory");
	char err[256];
	sova_stt_options open = {.search = SOVA_STT_SEARCH_OPEN};
	for (int i = 0; i < calls; i++) {
		stub_stt *s = calloc(1, sizeof *s);
		stub_tts *t = calloc(1, sizeof *t);
		if (!s || !t)
			die("frame", "out of memory");
		sova_stt_config sc = {.sample_rate = engine_rate};
		sova_stt_init_base(&s->base, &STUB_STT, &sc, sova_voice_stt_callback, NULL);
		sova_tts_config tc = {0};
		sova_tts_init_base(&t->base, &STUB_TTS, &tc, sova_voice_tts_callback, NULL);
		t->base.sample_rate = engine_rate;
		cs[i].v = new_voice(&cs[i], rate, enc, &s->base, &t->base, &now);
		if (!sova_voice_listen(cs[i].v, &open, err, sizeof err))
			die("listen", err);
		sova_voice_set_answered(cs[i].v, true);
		cs[i].agent_done = true;
	}
	size_t n = sova_frame_samples(rate, 20);
	int16_t speech[960], quiet[960] = {0};
	for (size_t k = 0; k < n; k++)
		speech[k] = (int16_t)(3000 * sin(2 * M_PI * 300.0 * (double)k / rate));
	uint8_t wire_speech[1920], wire_quiet[1920];
	size_t bytes = enc == SOVA_AUDIO_MULAW ? n : 2 * n;
	if (enc == SOVA_AUDIO_MULAW) {
		sova_mulaw_encode_frame(speech, n, wire_speech);
		sova_mulaw_encode_frame(quiet, n, wire_quiet);
	} else {
		sova_pcm16le_write(speech, n, wire_speech);
		sova_pcm16le_write(quiet, n, wire_quiet);
	}
	int steps = seconds * 50;
	int64_t t0 = cpu_ns();
	for (int s = 0; s < steps; s++) {
		now += 20 * MS;
		/* the other party talks 1.5 s in every 4 s; the agent talks whenever its last line ended */
		bool talking = (s % 200) < 75;
		for (int i = 0; i < calls; i++) {
			call *c = &cs[i];
			if (!sova_voice_input(c->v, talking ? wire_speech : wire_quiet, bytes, err, sizeof err))
				die("input", err);
			if (c->agent_done) {
				c->agent_done = false;
				if (!sova_voice_say(c->v, LINE, sizeof LINE - 1, true, err, sizeof err))
					die("say", err);
			}
			sova_voice_tick(c->v, now, false);
		}
	}
	int64_t cpu = cpu_ns() - t0;
	uint64_t frames_out = 0;
	for (int i = 0; i < calls; i++) {
		frames_out += cs[i].frames_out;
		sova_voice_free(cs[i].v);
	}
	double per = (double)cpu / ((double)calls * steps);
	printf("frame: %d calls x %d s, wire %d Hz %s, engines at %d Hz: %.0f ns per call per 20 ms step (%.1f%% of a core for %d calls), "
	       "%.0f%% of steps with an agent frame out\n",
	       calls, seconds, rate, enc == SOVA_AUDIO_MULAW ? "mulaw" : "pcm16", engine_rate, per, per * calls / 20e6 * 100, calls,
	       100.0 * (double)frames_out / ((double)calls * steps));
	free(cs);
}

/* ---- first: first words with flite ---- */

static const char GREETING[] = "Hello, this is the virtual assistant calling from Demo Clinic Alpha. "
			       "Am I speaking with the provider services department?";

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void bench_first(const char *voice, int rate, int repeats)
{
	int64_t *ahead = malloc((size_t)repeats * sizeof *ahead), *late = malloc((size_t)repeats * sizeof *late),
		*say_cost = malloc((size_t)repeats * sizeof *say_cost);
	if (!ahead || !late || !say_cost)
		die("first", "out of memory");
	char err[256];
	for (int r = 0; r < repeats; r++) {
		for (int mode = 0; mode < 2; mode++) {
			call c = {0};
			stub_stt *s = calloc(1, sizeof *s);
			if (!s)
				die("first", "out of memory");
			sova_stt_config sc = {.sample_rate = 16000};
			sova_stt_init_base(&s->base, &STUB_STT, &sc, sova_voice_stt_callback, NULL);
			sova_tts_config tc = {.voice = voice};
			sova_tts *t = sova_tts_flite_new(&tc, sova_voice_tts_callback, NULL, err, sizeof err);
			if (!t)
				die("flite", err);
			c.v = new_voice(&c, rate, rate == 8000 ? SOVA_AUDIO_MULAW : SOVA_AUDIO_PCM16, &s->base, t, NULL);
			if (mode == 0) { /* said while ringing */
				int64_t a = wall_ns();
				if (!sova_voice_say(c.v, GREETING, sizeof GREETING - 1, true, err, sizeof err))
					die("say", err);
				say_cost[r] = wall_ns() - a;
			}
			int64_t answered = wall_ns();
			sova_voice_set_answered(c.v, true);
			if (mode == 1 && !sova_voice_say(c.v, GREETING, sizeof GREETING - 1, true, err, sizeof err))
				die("say", err);
			sova_voice_tick(c.v, wall_ns(), false);
			if (c.frames_out == 0)
				die("first", "no frame at the first tick");
			(mode == 0 ? ahead : late)[r] = c.first_frame_wall - answered;
			sova_voice_free(c.v);
		}
	}
	qsort(ahead, (size_t)repeats, sizeof *ahead, cmp_i64);
	qsort(late, (size_t)repeats, sizeof *late, cmp_i64);
	qsort(say_cost, (size_t)repeats, sizeof *say_cost, cmp_i64);
	printf("first: flite %s, wire %d Hz, %d runs: set_answered -> first frame, greeting said ahead: p50 %.3f ms, max %.3f ms "
	       "(its say() while ringing: p50 %.1f ms); said after set_answered: p50 %.1f ms, max %.1f ms; "
	       "plus the wait for the next 20 ms tick (0-20 ms)\n",
	       voice, rate, repeats, ahead[repeats / 2] / 1e6, ahead[repeats - 1] / 1e6, say_cost[repeats / 2] / 1e6,
	       late[repeats / 2] / 1e6, late[repeats - 1] / 1e6);
	free(ahead);
	free(late);
	free(say_cost);
}

/* ---- turn: pocketsphinx + flite, one spoken turn ---- */

typedef struct collected { int16_t *pcm; size_t n, cap; } collected;

static void collect(void *user, const sova_tts_event *ev)
{
	collected *c = user;
	if (ev->kind != SOVA_TTS_AUDIO)
		return;
	if (c->n + ev->num_samples > c->cap) {
		c->cap = (c->n + ev->num_samples) * 2;
		c->pcm = realloc(c->pcm, c->cap * sizeof *c->pcm);
		if (!c->pcm)
			die("collect", "out of memory");
	}
	memcpy(c->pcm + c->n, ev->data, ev->num_samples * 2);
	c->n += ev->num_samples;
}

static const char *const PHRASES[] = {"i need to reschedule my appointment", "yes that is right", "no",
				      "wait i have a question", "the member id is four two seven"};

static void bench_turn(const sova_ps_model *model, int repeats)
{
	char err[256];
	collected said = {0};
	sova_tts_config sc16 = {.voice = "cmu_us_slt"};
	sova_tts *maker = sova_tts_flite_new(&sc16, collect, &said, err, sizeof err);
	if (!maker || !sova_tts_say(maker, PHRASES[0], strlen(PHRASES[0]), true, err, sizeof err))
		die("flite", err);
	sova_tts_free(maker);
	double in_cpu = 0, out_cpu = 0, in_audio = 0, out_audio = 0;
	int heard = 0;
	for (int r = 0; r < repeats; r++) {
		int64_t now = 1000 * MS;
		call c = {0};
		sova_stt_config stc = {.sample_rate = 16000, .endpointing_ms = 1000};
		sova_stt *stt = sova_stt_pocketsphinx_new(model, &stc, false, sova_voice_stt_callback, NULL, err, sizeof err);
		sova_tts *tts = sova_tts_flite_new(&sc16, sova_voice_tts_callback, NULL, err, sizeof err);
		if (!stt || !tts)
			die("engines", err);
		c.v = new_voice(&c, 16000, SOVA_AUDIO_PCM16, stt, tts, &now);
		sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = PHRASES, .num_phrases = 5};
		if (!sova_voice_listen(c.v, &o, err, sizeof err))
			die("listen", err);
		sova_voice_set_answered(c.v, true);
		uint8_t wire[640];
		size_t total = 8000 + said.n + 24000; /* 0.5 s, the words, 1.5 s */
		int64_t t0 = cpu_ns();
		for (size_t i = 0; i < total; i += 320) {
			int16_t frame[320] = {0};
			for (size_t k = 0; k < 320; k++) {
				size_t at = i + k;
				frame[k] = at >= 8000 && at - 8000 < said.n ? said.pcm[at - 8000] : 0;
			}
			sova_pcm16le_write(frame, 320, wire);
			now += 20 * MS;
			if (!sova_voice_input(c.v, wire, sizeof wire, err, sizeof err))
				die("input", err);
			sova_voice_tick(c.v, now, false);
		}
		in_cpu += (double)(cpu_ns() - t0);
		in_audio += total / 16000.0;
		sova_voice_stats st;
		sova_voice_get_stats(c.v, &st);
		heard += st.turns == 1;
		const char *answer = "Of course. Which day would suit you better, Tuesday or Thursday?";
		uint64_t before = c.frames_out;
		t0 = cpu_ns();
		if (!sova_voice_say(c.v, answer, strlen(answer), true, err, sizeof err))
			die("say", err);
		c.agent_done = false;
		while (!c.agent_done) {
			now += 20 * MS;
			sova_voice_tick(c.v, now, false);
		}
		out_cpu += (double)(cpu_ns() - t0);
		out_audio += (double)(c.frames_out - before) * 0.02;
		sova_voice_free(c.v);
	}
	free(said.pcm);
	printf("turn: %d runs, heard as said %d/%d: the other party's side RTF %.4f (pocketsphinx grammar, VAD, decode); "
	       "the agent's side RTF %.4f (flite slt clause by clause, resample, pace)\n",
	       repeats, heard, repeats, in_cpu / 1e9 / in_audio, out_cpu / 1e9 / out_audio);
}

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 500, seconds = argc > 2 ? atoi(argv[2]) : 20, repeats = argc > 3 ? atoi(argv[3]) : 10;
	bench_frame(calls, seconds, 8000, SOVA_AUDIO_MULAW, 8000);
	bench_frame(calls, seconds, 16000, SOVA_AUDIO_PCM16, 16000);
	bench_frame(calls, seconds, 48000, SOVA_AUDIO_PCM16, 48000);
	bench_frame(calls, seconds, 8000, SOVA_AUDIO_MULAW, 16000);
	bench_frame(calls, seconds, 48000, SOVA_AUDIO_PCM16, 16000);
	bench_first("cmu_us_slt", 16000, repeats);
	bench_first("cmu_us_kal", 8000, repeats);
	char err[256];
	sova_ps_model *model = sova_ps_model_load(NULL, err, sizeof err);
	if (!model)
		die("pocketsphinx", err);
	bench_turn(model, repeats > 5 ? 5 : repeats);
	sova_ps_model_free(model);
	return 0;
}

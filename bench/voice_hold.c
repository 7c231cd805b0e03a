/* Calls on hold: the voice's CPU per call-second while the hold watcher listens instead of the
 * recognizer (core/bot/media/voice.c, hold.c). bench/voice_hold.sh makes the audio and runs it;
 * figures in docs/benchmarks.md, "Hold".
 *
 *   bench_voice_hold AUDIO_DIR [calls] [seconds] [repeats]
 *
 * N calls on this one thread, as the media thread drives them on an 8 kHz μ-law wire (Twilio's)
 * with the recognizer at 8 kHz (Deepgram's μ-law: no resampling): every 20 ms each call's input
 * frame, and every 5 ms (SOVA_LOOP_TICK_NS) sova_voice_pace for every call, then sova_voice_tick
 * for every call. A fake clock: no sleeping. The engines are stubs (the recognizer counts what it
 * is fed; nothing is said), so the figure is the voice's own work, not a provider client's. Each
 * call starts at its own place in the playlist. Scenarios:
 *   music      on hold, the hold music (AUDIO_DIR's music_*.raw one after another)
 *   messages   on hold, the music with a recorded message (message_*.raw) every 30 s; each is a
 *              probe that runs its full SOVA_VOICE_PROBE_MAX_MS (the flow does not end it early)
 *   re-held    the same, the flow holding again 3 s into each probe (it heard the message)
 *   recorded   music, with the call recorded by the real recorder (core/bot/media/recorder.c,
 *              sealed spill files in a temporary directory), calls / 10 of them
 *   listening  not on hold, the same music: what the hold saves (energy VAD, recognizer fed)
 *   webrtc     listening with the WebRTC VAD (why the watcher does not use it)
 * First, what the watcher alone costs and how it hears: probes over 10 minutes of each hold music
 * looped (a probe takes 10 s off, as a voice's would), and how soon it suspects each voice_*.raw
 * after each background (music, or the line alone), with 0, 300 and 1000 ms of line between, at
 * the voice's level, 10 dB quieter, and under the music 12 dB down (the music going on). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot/media/audio.h"
#include "bot/media/hold.h"
#include "bot/media/recorder.h"
#include "bot/media/voice.h"

#define RATE 8000
#define FRAME 160 /* 20 ms */
#define TICKS_PER_FRAME 4 /* a 5 ms tick */
#define MS 1000000LL

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_voice_hold: %s: %s\n", what, why);
	exit(1);
}

/* ---- audio ---- */

typedef struct track {
	uint8_t *mulaw; /* owned */
	size_t n;
} track;

static int16_t *read_raw(const char *dir, const char *name, size_t *n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.raw", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path, "cannot open (bench/voice_hold.sh makes it)");
	if (fseek(f, 0, SEEK_END) != 0)
		die(path, "cannot seek");
	long bytes = ftell(f);
	rewind(f);
	uint8_t *raw = malloc((size_t)bytes);
	int16_t *pcm = malloc((size_t)bytes);
	if (bytes <= 0 || !raw || !pcm || fread(raw, 1, (size_t)bytes, f) != (size_t)bytes)
		die(path, "cannot read");
	fclose(f);
	*n = (size_t)bytes / 2 / FRAME * FRAME;
	sova_pcm16le_read(raw, *n, pcm);
	free(raw);
	return pcm;
}

static void append(track *t, const int16_t *pcm, size_t n)
{
	uint8_t *m = realloc(t->mulaw, t->n + n);
	if (!m)
		die("track", "out of memory");
	t->mulaw = m;
	sova_mulaw_encode_frame(pcm, n, t->mulaw + t->n);
	t->n += n;
}

static const char *const MUSIC[] = {"music_melody", "music_tremolo", "music_arpeggio", "music_legato", "music_beat",
				    "music_chords", "music_pad", "music_staccato", "music_stabs"};
#define N_MUSIC (sizeof MUSIC / sizeof *MUSIC)

/* The playlist: the music, and with messages one of them after each 30 s of it. */
static track playlist(const char *dir, bool messages)
{
	track t = {0};
	size_t mn[2], since = 0;
	int16_t *msg[2] = {read_raw(dir, "message_0", &mn[0]), read_raw(dir, "message_1", &mn[1])};
	int next = 0;
	for (size_t m = 0; m < N_MUSIC; m++) {
		size_t n;
		int16_t *pcm = read_raw(dir, MUSIC[m], &n);
		for (size_t off = 0; off < n; off += FRAME) {
			append(&t, pcm + off, FRAME);
			if (messages && (since += FRAME) >= 30 * RATE) {
				append(&t, msg[next], mn[next]);
				next ^= 1;
				since = 0;
			}
		}
		free(pcm);
	}
	free(msg[0]);
	free(msg[1]);
	return t;
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

static bool stts_say(sova_tts *t, const char *text, size_t len, bool final, char *e, size_t el) { return true; }
static void stts_cancel(sova_tts *t) {}
static void stts_close(sova_tts *t) {}
static void stts_destroy(sova_tts *t) { free(t); }
static const sova_tts_vtable STUB_TTS = {"stub", stts_say, stts_cancel, stts_close, stts_destroy};

/* ---- calls ---- */

typedef struct call {
	sova_voice *v;
	stub_stt *stt;        /* owned by v */
	sova_recorder *rec;   /* owned; NULL when not recorded */
	size_t pos;           /* in the playlist */
	uint64_t probes;      /* seen so far */
	int rehold_in;        /* frames until the flow holds again; 0: not waiting */
} call;

static int64_t fake_now(void *ud) { return *(int64_t *)ud; }
static void on_event(void *ud, const sova_voice_event *ev) {}
static void on_frame(void *ud, const void *wire, size_t len) {}
static int on_record(void *ud, int ch, uint64_t at, const int16_t *pcm, size_t n)
{
	return sova_recorder_write(((call *)ud)->rec, ch, at, pcm, n);
}

typedef struct result {
	double us_per_call_s;     /* CPU per call-second */
	double probes_per_hour;   /* per call */
	double heard;             /* fraction of the audio the recognizer got */
} result;

/* rehold_ms: the flow holds again this long into each probe; 0: never */
static result run(const track *t, int calls, int seconds, bool hold, sova_vad_kind vad, const char *spool, int rehold_ms)
{
	int64_t now = 1000 * MS;
	call *cs = calloc((size_t)calls, sizeof *cs);
	if (!cs)
		die("calls", "out of memory");
	char err[256];
	sova_stt_options open = {.search = SOVA_STT_SEARCH_OPEN};
	for (int i = 0; i < calls; i++) {
		call *c = &cs[i];
		c->stt = calloc(1, sizeof *c->stt);
		sova_tts *tts = calloc(1, sizeof *tts);
		if (!c->stt || !tts)
			die("calls", "out of memory");
		sova_stt_config sc = {.sample_rate = RATE};
		sova_stt_init_base(&c->stt->base, &STUB_STT, &sc, NULL, NULL);
		sova_tts_config tc = {0};
		sova_tts_init_base(tts, &STUB_TTS, &tc, NULL, NULL);
		tts->sample_rate = RATE;
		if (spool && !(c->rec = sova_recorder_new(spool, RATE, err, sizeof err)))
			die("recorder", err);
		sova_voice_config cfg = {.wire_rate = RATE, .wire_encoding = SOVA_AUDIO_MULAW, .frame_ms = 20,
					 .tick_ns = 5 * MS, .stt = &c->stt->base, .tts = tts, .vad = vad, .on_event = on_event,
					 .on_frame = on_frame, .record = spool ? on_record : NULL, .ud = c, .clock = fake_now, .clock_ud = &now};
		if (!(c->v = sova_voice_new(&cfg, err, sizeof err)))
			die("voice", err);
		if (!sova_voice_listen(c->v, &open, err, sizeof err))
			die("listen", err);
		sova_voice_set_answered(c->v, true);
		sova_voice_set_hold(c->v, hold);
		c->pos = (size_t)i * 7919 * FRAME % t->n; /* each its own place */
	}
	int frames = seconds * 50;
	int64_t t0 = cpu_ns();
	for (int f = 0; f < frames; f++) {
		for (int i = 0; i < calls; i++) {
			call *c = &cs[i];
			if (!sova_voice_input(c->v, t->mulaw + c->pos, FRAME, err, sizeof err))
				die("input", err);
			c->pos = (c->pos + FRAME) % t->n;
			if (!rehold_ms)
				continue;
			sova_voice_stats st;
			sova_voice_get_stats(c->v, &st);
			if (st.hold_probes > c->probes) {
				c->probes = st.hold_probes;
				c->rehold_in = rehold_ms / 20;
			} else if (c->rehold_in && --c->rehold_in == 0) {
				sova_voice_set_hold(c->v, true);
			}
		}
		for (int k = 0; k < TICKS_PER_FRAME; k++) {
			now += 5 * MS;
			for (int i = 0; i < calls; i++)
				sova_voice_pace(cs[i].v, now, false);
			for (int i = 0; i < calls; i++)
				sova_voice_tick(cs[i].v, now, false);
		}
	}
	int64_t cpu = cpu_ns() - t0;
	uint64_t probes = 0, fed = 0;
	for (int i = 0; i < calls; i++) {
		sova_voice_stats st;
		sova_voice_get_stats(cs[i].v, &st);
		probes += st.hold_probes;
		fed += cs[i].stt->fed;
		sova_voice_free(cs[i].v);
		sova_recorder_free(cs[i].rec);
	}
	free(cs);
	double call_s = (double)calls * seconds;
	return (result){.us_per_call_s = (double)cpu / 1000.0 / call_s, .probes_per_hour = (double)probes / call_s * 3600,
			.heard = (double)fed / (call_s * RATE)};
}

static int cmp(const void *a, const void *b)
{
	double x = ((const result *)a)->us_per_call_s, y = ((const result *)b)->us_per_call_s;
	return x < y ? -1 : x > y;
}

static void scenario(const char *name, const track *t, int calls, int seconds, int repeats, bool hold, sova_vad_kind vad,
		     const char *spool, int rehold_ms)
{
	result r[64];
	if (repeats > 64)
		repeats = 64;
	for (int k = 0; k < repeats; k++)
		r[k] = run(t, calls, seconds, hold, vad, spool, rehold_ms);
	qsort(r, (size_t)repeats, sizeof *r, cmp);
	result m = r[repeats / 2];
	printf("| %s | %d x %d s | %.1f (%.1f-%.1f) | %.1f %% | %.0f | %.1f %% |\n", name, calls, seconds, m.us_per_call_s,
	       r[0].us_per_call_s, r[repeats - 1].us_per_call_s, m.us_per_call_s * 1000 / 1e6 * 100, m.probes_per_hour,
	       m.heard * 100);
}

/* ---- the watcher alone ---- */

/* Probes over seconds of pcm looped, a probe taking 10 s off. */
static int probes_over(const int16_t *pcm, size_t n, int seconds, sova_hold *h)
{
	int probes = 0;
	size_t off = 0, skip = 0;
	for (size_t done = 0; done < (size_t)seconds * RATE; done += FRAME, off = (off + FRAME) % n) {
		if (skip) {
			if ((skip -= FRAME) == 0)
				sova_hold_reset(h, false);
		} else if (sova_hold_feed(h, pcm + off, FRAME)) {
			probes++;
			skip = 10 * RATE;
		}
	}
	return probes;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* ms from the voice's first 10 ms above -40 dBFS to the watcher's fire; -1: never; -2: it fired
 * more than 20 ms before the voice */
static int latency(const int16_t *bg, size_t nbg, int gap_ms, const int16_t *voice, size_t nv, double gain, bool under,
		   const int16_t *line, sova_hold *h)
{
	size_t nb = 8 * RATE < nbg ? 8 * RATE : nbg, ng = (size_t)gap_ms * RATE / 1000, n = nb + ng + nv, on = 0;
	int16_t *x = malloc(n * sizeof *x);
	if (!x)
		die("latency", "out of memory");
	memcpy(x, bg, nb * sizeof *x);
	for (size_t i = 0; i < ng; i++)
		x[nb + i] = line[i % (10 * RATE)];
	for (size_t i = 0; i < nv; i++) {
		double s = voice[i] * gain + (under ? bg[(nb + ng + i) % nbg] * 0.25 : 0); /* -12 dB */
		x[nb + ng + i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
	}
	while (on + RATE / 100 <= nv && sova_level_dbfs(voice + on, RATE / 100) + 20 * log10(gain) <= -40)
		on += RATE / 100;
	size_t speech = nb + ng + on;
	sova_hold_reset(h, false);
	int ms = -1;
	for (size_t i = 0; i + FRAME <= n && ms == -1; i += FRAME)
		if (sova_hold_feed(h, x + i, FRAME))
			ms = i + FRAME + FRAME < speech ? -2 : i + FRAME > speech ? (int)((i + FRAME - speech) * 1000 / RATE) : 0;
	free(x);
	return ms;
}

static void detection(const char *dir)
{
	char err[128];
	sova_hold *h = sova_hold_new(RATE, NULL, err, sizeof err);
	if (!h)
		die("hold", err);
	printf("probes in 10 minutes of each music looped:");
	for (size_t m = 0; m < N_MUSIC; m++) {
		size_t n;
		int16_t *pcm = read_raw(dir, MUSIC[m], &n);
		sova_hold_reset(h, false);
		printf(" %s %d;", MUSIC[m] + 6, probes_over(pcm, n, 600, h));
		free(pcm);
	}
	size_t nl;
	int16_t *line = read_raw(dir, "line", &nl);
	sova_hold_reset(h, false);
	printf(" line alone %d\n", probes_over(line, nl, 600, h));
	static const char *const BG[] = {"music_melody", "music_tremolo", "music_beat", "music_staccato", "line"};
	static const struct { const char *name; double gain; bool under; } HOW[] = {
		{"at -21 dBFS", 1.0, false}, {"10 dB quieter", 0.316, false}, {"under the music (-12 dB)", 1.0, true}};
	for (size_t w = 0; w < 3; w++) {
		int lat[256], n = 0, missed = 0, early = 0;
		for (int vi = 0; vi < 6; vi++) {
			char name[16];
			snprintf(name, sizeof name, "voice_%d", vi);
			size_t nv;
			int16_t *voice = read_raw(dir, name, &nv);
			for (size_t b = 0; b < 5; b++) {
				if (HOW[w].under && b == 4)
					continue; /* nothing to be under */
				size_t nbg;
				int16_t *bg = read_raw(dir, BG[b], &nbg);
				for (int gap = 0; gap <= 1000; gap = gap ? gap + 700 : 300) {
					int ms = latency(bg, nbg, HOW[w].under ? 0 : gap, voice, nv, HOW[w].gain, HOW[w].under, line, h);
					if (ms == -1)
						missed++;
					else if (ms == -2)
						early++;
					else
						lat[n++] = ms;
					if (HOW[w].under)
						break;
				}
				free(bg);
			}
			free(voice);
		}
		qsort(lat, (size_t)n, sizeof *lat, cmp_int);
		printf("voice after hold audio, %s: %d heard, %d missed, %d fired early; latency p50 %d ms, p90 %d ms, max %d ms\n",
		       HOW[w].name, n, missed, early, n ? lat[n / 2] : -1, n ? lat[n * 9 / 10] : -1, n ? lat[n - 1] : -1);
	}
	free(line);
	sova_hold_free(h);
}

/* The watcher alone on the music, per call-second. */
static void watcher_alone(const char *dir)
{
	size_t n;
	int16_t *pcm = read_raw(dir, "music_melody", &n);
	char err[128];
	sova_hold *h = sova_hold_new(RATE, NULL, err, sizeof err);
	if (!h)
		die("hold", err);
	int reps = 200;
	int64_t t0 = cpu_ns();
	for (int r = 0; r < reps; r++)
		for (size_t off = 0; off < n; off += FRAME)
			if (sova_hold_feed(h, pcm + off, FRAME))
				sova_hold_reset(h, false);
	double s = (double)reps * (double)n / RATE;
	printf("watcher alone (sova_hold_feed, 20 ms frames, music_melody): %.2f µs per call-second; ring %zu bytes per call\n",
	       (double)(cpu_ns() - t0) / 1000.0 / s, (size_t)SOVA_HOLD_PREROLL_MS * RATE / 1000 * sizeof(int16_t));
	sova_hold_free(h);
	free(pcm);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage", "bench_voice_hold AUDIO_DIR [calls] [seconds] [repeats]");
	const char *dir = argv[1];
	int calls = argc > 2 ? atoi(argv[2]) : 1000, seconds = argc > 3 ? atoi(argv[3]) : 60, repeats = argc > 4 ? atoi(argv[4]) : 5;
	if (calls < 10 || seconds < 1 || repeats < 1)
		die("usage", "calls >= 10, seconds >= 1, repeats >= 1");
	track music = playlist(dir, false), messages = playlist(dir, true);
	char spool[] = "/tmp/sova-bench-hold-XXXXXX";
	if (!mkdtemp(spool))
		die("spool", "mkdtemp failed");
	watcher_alone(dir);
	detection(dir);
	printf("\n| scenario | calls x audio | µs CPU per call-second: median (min-max of %d) | 1,000 calls: share of a core | probes per call-hour | audio to the recognizer |\n",
	       repeats);
	printf("|---|---|---|---|---|---|\n");
	scenario("on hold, music", &music, calls, seconds, repeats, true, SOVA_VAD_ENERGY, NULL, 0);
	scenario("on hold, music and a message every 30 s", &messages, calls, seconds, repeats, true, SOVA_VAD_ENERGY, NULL, 0);
	scenario("the same, re-held 3 s into each probe", &messages, calls, seconds, repeats, true, SOVA_VAD_ENERGY, NULL, 3000);
	scenario("on hold, music, recorded", &music, calls / 10, seconds, repeats, true, SOVA_VAD_ENERGY, spool, 0);
	scenario("not on hold (listening), music", &music, calls, seconds, repeats, false, SOVA_VAD_ENERGY, NULL, 0);
	scenario("not on hold, music, WebRTC VAD", &music, calls, seconds, repeats, false, SOVA_VAD_WEBRTC, NULL, 0);
	if (rmdir(spool) != 0)
		fprintf(stderr, "bench_voice_hold: %s is not empty\n", spool);
	free(music.mulaw);
	free(messages.mulaw);
	return 0;
}

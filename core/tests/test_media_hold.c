/* The hold watcher (core/bot/media/hold.c) and a voice on hold (core/bot/media/voice.c), on audio
 * made at test time by core/tests/hold_audio.sh (sox hold music, flite and espeak-ng voices, as a
 * phone line carries them; those tools are declared dependencies: no skip, the test fails without
 * them). The watcher: minutes of hold music and line noise raise no probe; a representative after
 * the music is suspected within a second, with the first words in the pre-roll; at every rate.
 * The voice: the recognizer hears nothing on hold; a probe hands it the pre-roll then the live
 * audio, ends after probe_max_ms or when the owner holds again; ending the hold hears the
 * pre-roll; and pocketsphinx hears a representative's greeting from its first word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/media/audio.h"
#include "bot/media/hold.h"
#include "bot/media/voice.h"
#include "bot/speech/stt_pocketsphinx.h"

#define RATE 8000
#define FRAME 160 /* 20 ms at 8 kHz */
#define MS 1000000LL

static char dir[] = "/tmp/sova-hold-XXXXXX";
static char err[512];

typedef struct clip {
	int16_t *pcm; /* owned */
	size_t n;
} clip;

/* One of hold_audio.sh's files. */
static clip load(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s.raw", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("no %s: did core/tests/hold_audio.sh run?", path);
	clip c = {0};
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long bytes = ftell(f);
	assert_true(bytes > 0);
	rewind(f);
	uint8_t *raw = malloc((size_t)bytes);
	c.n = (size_t)bytes / 2;
	c.pcm = malloc(c.n * sizeof *c.pcm);
	assert_non_null(raw);
	assert_non_null(c.pcm);
	assert_int_equal(fread(raw, 1, (size_t)bytes, f), (size_t)bytes);
	fclose(f);
	sova_pcm16le_read(raw, c.n, c.pcm);
	free(raw);
	return c;
}

/* a then b, at most a_ms of a's end, gap_ms of line noise between. Caller frees. */
static clip join(const clip *a, int a_ms, int gap_ms, const clip *line, const clip *b)
{
	size_t na = (size_t)a_ms * RATE / 1000 < a->n ? (size_t)a_ms * RATE / 1000 : a->n, ng = (size_t)gap_ms * RATE / 1000;
	clip c = {.n = na + ng + b->n};
	c.pcm = malloc(c.n * sizeof *c.pcm);
	assert_non_null(c.pcm);
	memcpy(c.pcm, a->pcm + (a->n - na), na * sizeof *c.pcm);
	for (size_t i = 0; i < ng; i++)
		c.pcm[na + i] = line->pcm[i % line->n];
	memcpy(c.pcm + na + ng, b->pcm, b->n * sizeof *c.pcm);
	return c;
}

/* Where a voice clip's speech begins: its first 10 ms above -40 dBFS (the line is at -50). */
static size_t onset_of(const clip *c)
{
	for (size_t off = 0; off + RATE / 100 <= c->n; off += RATE / 100)
		if (sova_level_dbfs(c->pcm + off, RATE / 100) > -40)
			return off;
	fail_msg("a voice clip without speech");
	return 0;
}

static const char *const MUSIC[] = {"melody", "tremolo", "arpeggio", "legato", "beat", "chords", "pad", "staccato", "stabs"};
#define N_MUSIC (sizeof MUSIC / sizeof *MUSIC)
#define N_VOICES 6

/* ---- the watcher ---- */

/* seconds of c looped through a watcher in 20 ms frames; after each probe (it fired) 10 s go by
 * unwatched, as a voice's probe would take them, and it looks again. Returns the probes. */
static int probes_over(const clip *c, int seconds, sova_hold_stats *st)
{
	sova_hold *h = sova_hold_new(RATE, NULL, err, sizeof err);
	assert_non_null(h);
	int probes = 0;
	size_t total = (size_t)seconds * RATE, unwatched = 0;
	for (size_t done = 0, i = 0; done < total; done += FRAME, i = (i + FRAME) % (c->n - c->n % FRAME)) {
		if (unwatched) {
			if ((unwatched -= FRAME) == 0)
				sova_hold_reset(h, false);
			continue;
		}
		if (sova_hold_feed(h, c->pcm + i, FRAME)) {
			probes++;
			unwatched = 10 * RATE;
		}
	}
	sova_hold_get_stats(h, st);
	sova_hold_free(h);
	return probes;
}

static void minutes_of_hold_music_raise_no_probe(void **state)
{
	int total = 0;
	for (size_t m = 0; m < N_MUSIC; m++) {
		char name[32];
		snprintf(name, sizeof name, "music_%s", MUSIC[m]);
		clip c = load(name);
		sova_hold_stats st;
		int p = probes_over(&c, 60, &st);
		if (p)
			fprintf(stderr, "# %s: %d probes in 60 s (%llu onsets, %llu beats)\n", MUSIC[m], p,
				(unsigned long long)st.onsets, (unsigned long long)st.beats);
		total += p;
		free(c.pcm);
	}
	assert_true(total <= 1); /* 9 minutes of music (measured: none) */
}

static void line_noise_raises_no_probe(void **state)
{
	clip c = load("line");
	sova_hold_stats st;
	assert_int_equal(probes_over(&c, 120, &st), 0);
	assert_int_equal(st.onsets, 0);
	free(c.pcm);
}

/* The watcher over c; the sample count when it first fired (0: never). Feeds chunk samples at a time. */
static size_t first_fire(const clip *c, int rate, size_t chunk, sova_hold **keep)
{
	sova_hold *h = sova_hold_new(rate, NULL, err, sizeof err);
	assert_non_null(h);
	size_t at = 0;
	for (size_t i = 0; i < c->n && !at; i += chunk)
		if (sova_hold_feed(h, c->pcm + i, c->n - i < chunk ? c->n - i : chunk))
			at = i + (c->n - i < chunk ? c->n - i : chunk);
	if (keep)
		*keep = h;
	else
		sova_hold_free(h);
	return at;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void a_voice_after_the_music_is_suspected_within_a_second(void **state)
{
	static const char *const BEFORE[] = {"music_melody", "music_tremolo", "music_beat", "music_staccato", "line"};
	clip line = load("line");
	int latency[2 * N_VOICES * 5], n = 0;
	for (int gap = 0; gap <= 300; gap += 300)
		for (int vi = 0; vi < N_VOICES; vi++) {
			char name[16];
			snprintf(name, sizeof name, "voice_%d", vi);
			clip voice = load(name);
			size_t onset = onset_of(&voice);
			for (size_t b = 0; b < 5; b++) {
				clip before = load(BEFORE[b]);
				clip c = join(&before, 8000, gap, &line, &voice);
				size_t speech = c.n - voice.n + onset, at = first_fire(&c, RATE, FRAME, NULL);
				if (!at)
					fail_msg("%s after %s (gap %d ms): never suspected", name, BEFORE[b], gap);
				/* a frame early is the transition itself: the music's last onsets and the first syllable */
				if (at + 2 * FRAME < speech)
					fail_msg("%s after %s: fired %zu ms before the voice", name, BEFORE[b], (speech - at) * 1000 / RATE);
				latency[n] = at > speech ? (int)((at - speech) * 1000 / RATE) : 0;
				if (latency[n] > 900)
					fail_msg("%s after %s (gap %d ms): %d ms", name, BEFORE[b], gap, latency[n]);
				n++;
				free(c.pcm);
				free(before.pcm);
			}
			free(voice.pcm);
		}
	qsort(latency, (size_t)n, sizeof *latency, cmp_int);
	fprintf(stderr, "# latency over %d: p50 %d ms, p90 %d ms, max %d ms\n", n, latency[n / 2], latency[n * 9 / 10], latency[n - 1]);
	assert_true(latency[n / 2] <= 500); /* measured 440 ms (590 without the onsets out of silence) */
	free(line.pcm);
}

/* In odd chunks (the ring wraps at every offset), the pre-roll is the audio up to the fire, from
 * shortly before the voice's first syllable; before any fire, the last 2 s. */
static void the_pre_roll_holds_the_first_words_and_little_music(void **state)
{
	clip music = load("music_melody"), line = load("line"), voice = load("voice_1");
	clip c = join(&music, 10000, 0, &line, &voice);
	size_t speech = c.n - voice.n + onset_of(&voice);
	static const size_t CHUNKS[] = {37, 160, 1, 999};
	for (size_t k = 0; k < sizeof CHUNKS / sizeof *CHUNKS; k++) {
		sova_hold *h;
		size_t at = first_fire(&c, RATE, CHUNKS[k], &h);
		assert_true(at > speech);
		const int16_t *a, *b;
		size_t na, nb;
		sova_hold_preroll(h, &a, &na, &b, &nb);
		assert_true(na + nb <= (size_t)SOVA_HOLD_PREROLL_MS * RATE / 1000);
		assert_memory_equal(a, c.pcm + at - na - nb, na * sizeof *a);
		assert_memory_equal(b, c.pcm + at - nb, nb * sizeof *b);
		size_t from = at - (na + nb);
		if (from > speech || speech - from > RATE) /* the first syllable in it, and at most 1 s before */
			fail_msg("chunks of %zu: the pre-roll begins %+d ms from the voice", CHUNKS[k],
				 (int)((long)from - (long)speech) * 1000 / RATE);
		sova_hold_reset(h, false);
		sova_hold_preroll(h, &a, &na, &b, &nb);
		assert_int_equal(na + nb, 0);
		sova_hold_free(h);
	}
	/* no fire yet: the newest 2 s, even of a chunk longer than the ring */
	sova_hold *h = sova_hold_new(RATE, NULL, err, sizeof err);
	assert_non_null(h);
	assert_false(sova_hold_feed(h, music.pcm, music.n));
	const int16_t *a, *b;
	size_t na, nb;
	sova_hold_preroll(h, &a, &na, &b, &nb);
	assert_int_equal(na, (size_t)SOVA_HOLD_PREROLL_MS * RATE / 1000);
	assert_int_equal(nb, 0);
	assert_memory_equal(a, music.pcm + music.n - na, na * sizeof *a);
	sova_hold_free(h);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(voice.pcm);
}

/* The same audio at 16 and 48 kHz (our resampler) fires within a few envelope steps of 8 kHz. */
static void every_wire_rate_hears_the_same(void **state)
{
	clip music = load("music_beat"), line = load("line"), voice = load("voice_4");
	clip c = join(&music, 8000, 300, &line, &voice);
	size_t at8 = first_fire(&c, RATE, FRAME, NULL);
	assert_true(at8 > 0);
	for (int rate = 16000; rate <= 48000; rate += 32000) {
		sova_resampler *r = sova_resampler_new(RATE, rate, err, sizeof err);
		assert_non_null(r);
		clip up = {.n = sova_resampler_out_max(r, c.n)};
		up.pcm = malloc(up.n * sizeof *up.pcm);
		assert_non_null(up.pcm);
		assert_int_equal(sova_resampler_process(r, c.pcm, c.n, up.pcm, up.n, &up.n), 0);
		sova_resampler_free(r);
		size_t at = first_fire(&up, rate, (size_t)rate / 50, NULL);
		double ms8 = at8 * 1000.0 / RATE, ms = at * 1000.0 / rate;
		if (!at || ms < ms8 - 60 || ms > ms8 + 60)
			fail_msg("at %d Hz fired at %.0f ms, at 8 kHz %.0f ms", rate, ms, ms8);
		free(up.pcm);
	}
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(voice.pcm);
}

static void bad_arguments_are_refused(void **state)
{
	assert_null(sova_hold_new(22050, NULL, err, sizeof err));
	assert_non_null(strstr(err, "rate"));
	sova_hold_opts o;
	sova_hold_opts_default(&o);
	o.preroll_ms = 20000;
	assert_null(sova_hold_new(RATE, &o, err, sizeof err));
	assert_non_null(strstr(err, "preroll_ms"));
	sova_hold_opts_default(&o);
	o.min_onsets = 1;
	assert_null(sova_hold_new(RATE, &o, err, sizeof err));
	assert_non_null(strstr(err, "min_onsets"));
	sova_hold_free(NULL);
}

/* ---- a voice on hold ---- */

typedef struct stub_stt {
	sova_stt base;
	uint64_t fed; /* samples at 16 kHz */
} stub_stt;

static bool sst_start(sova_stt *r, const sova_stt_options *o, char *e, size_t el) { return true; }
static bool sst_feed(sova_stt *r, const int16_t *pcm, size_t n, char *e, size_t el)
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

typedef struct harness {
	int64_t now;
	sova_voice *v;
	stub_stt *stt; /* owned by v; NULL with pocketsphinx */
	int kinds[16];
	int probes;          /* SPEECH_STARTED with probe set */
	int64_t probe_at[8]; /* fake time of each */
	int plain_starts;    /* SPEECH_STARTED without it */
	char turn[256];      /* the last END_OF_TURN's text */
} harness;

static int64_t fake_now(void *ud) { return ((harness *)ud)->now; }

static void on_event(void *ud, const sova_voice_event *ev)
{
	harness *h = ud;
	h->kinds[ev->kind]++;
	if (getenv("HOLD_TEST_TRACE"))
		fprintf(stderr, "# %lld ms: event %d%s \"%s\"\n", (long long)(h->now / MS - 1000), ev->kind, ev->probe ? " (probe)" : "", ev->text);
	if (ev->kind == SOVA_VOICE_SPEECH_STARTED && ev->probe) {
		if (h->probes < 8)
			h->probe_at[h->probes] = h->now;
		h->probes++;
	} else if (ev->kind == SOVA_VOICE_SPEECH_STARTED) {
		h->plain_starts++;
	} else if (ev->kind == SOVA_VOICE_END_OF_TURN) {
		snprintf(h->turn, sizeof h->turn, "%s", ev->text);
	}
}

static void on_frame(void *ud, const void *wire, size_t len) {}

/* A voice on an 8 kHz μ-law wire (Twilio's) with the recognizer at 16 kHz: stt NULL, the stub
 * (listening open), else that one listening as o says. */
static void start(harness *h, sova_stt *stt, const sova_stt_options *o, int probe_max_ms)
{
	memset(h, 0, sizeof *h);
	h->now = 1000 * MS;
	if (!stt) {
		h->stt = calloc(1, sizeof *h->stt);
		assert_non_null(h->stt);
		sova_stt_config sc = {.sample_rate = 16000};
		sova_stt_init_base(&h->stt->base, &STUB_STT, &sc, NULL, NULL);
		stt = &h->stt->base;
	}
	sova_tts *tts = calloc(1, sizeof *tts);
	assert_non_null(tts);
	sova_tts_config tc = {0};
	sova_tts_init_base(tts, &STUB_TTS, &tc, NULL, NULL);
	tts->sample_rate = 8000;
	sova_voice_config c = {.wire_rate = RATE, .wire_encoding = SOVA_AUDIO_MULAW, .stt = stt, .tts = tts,
			       .probe_max_ms = probe_max_ms, .on_event = on_event, .on_frame = on_frame, .ud = h,
			       .clock = fake_now, .clock_ud = h};
	h->v = sova_voice_new(&c, err, sizeof err);
	if (!h->v)
		fail_msg("%s", err);
	sova_stt_options open = {.search = SOVA_STT_SEARCH_OPEN};
	if (!sova_voice_listen(h->v, o ? o : &open, err, sizeof err))
		fail_msg("%s", err);
	sova_voice_set_answered(h->v, true);
}

/* samples [from, to) of c arrive in 20 ms frames, each followed by its tick */
static void play(harness *h, const clip *c, size_t from, size_t to)
{
	uint8_t wire[FRAME];
	for (size_t i = from; i + FRAME <= to; i += FRAME) {
		sova_mulaw_encode_frame(c->pcm + i, FRAME, wire);
		h->now += 20 * MS;
		if (!sova_voice_input(h->v, wire, FRAME, err, sizeof err))
			fail_msg("%s", err);
		sova_voice_tick(h->v, h->now, false);
	}
}

static void play_all(harness *h, const clip *c) { play(h, c, 0, c->n); }

static uint64_t fed(const harness *h) { return h->stt->fed; }

static void on_hold_the_recognizer_hears_none_of_the_music(void **state)
{
	harness h;
	start(&h, NULL, NULL, 0);
	clip melody = load("music_melody"), beat = load("music_beat");
	play(&h, &melody, 0, RATE); /* a second before the hold is heard */
	uint64_t before = fed(&h);
	assert_true(before > 15000);
	sova_voice_set_hold(h.v, true);
	size_t held = 0;
	for (int r = 0; r < 2; r++) {
		play_all(&h, &melody);
		play_all(&h, &beat);
		held += melody.n / FRAME * FRAME + beat.n / FRAME * FRAME;
	}
	assert_int_equal(fed(&h), before);
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STARTED], 0);
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.hold_probes, 0);
	assert_int_equal(st.hold_bytes, held * 2 * 2); /* PCM16 at the recognizer's 16 kHz */
	sova_voice_free(h.v);
	free(melody.pcm);
	free(beat.pcm);
}

static void a_voice_after_the_music_starts_a_probe_with_the_pre_roll(void **state)
{
	harness h;
	start(&h, NULL, NULL, 0);
	clip music = load("music_tremolo"), line = load("line"), voice = load("voice_0");
	clip c = join(&music, 12000, 0, &line, &voice);
	size_t speech = c.n - voice.n + onset_of(&voice);
	sova_voice_set_hold(h.v, true);
	size_t i = 0;
	for (; i + FRAME <= c.n && h.probes == 0; i += FRAME)
		play(&h, &c, i, i + FRAME);
	assert_int_equal(h.probes, 1);
	int64_t speech_at = 1000 * MS + (int64_t)(speech / FRAME + 1) * 20 * MS;
	int64_t latency_ms = (h.probe_at[0] - speech_at) / MS;
	fprintf(stderr, "# probe %lld ms after the voice began\n", (long long)latency_ms);
	assert_in_range(latency_ms, 0, 900);
	/* the recognizer got the pre-roll at once (at its 16 kHz), from before the first syllable */
	uint64_t at_probe = fed(&h);
	assert_in_range(at_probe, 16000 / 2, 2 * 16000);
	assert_true(h.probe_at[0] - (int64_t)at_probe * 1000 / 16000 * MS < speech_at);
	play(&h, &c, i, c.n);
	assert_in_range(fed(&h) - at_probe, (c.n - i) / FRAME * 320 - 64, (c.n - i) / FRAME * 320 + 64); /* then live */
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	assert_int_equal(st.hold_probes, 1);
	/* what the watcher alone heard: the resampler's few samples of delay aside */
	assert_in_range(st.hold_bytes, (i / FRAME * FRAME) * 4 - at_probe * 2 - 64 * 2, (i / FRAME * FRAME) * 4 - at_probe * 2 + 64 * 2);
	assert_int_equal(h.plain_starts, 0); /* every start on hold is a probe's */
	sova_voice_free(h.v);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(voice.pcm);
}

static void a_probe_ends_after_probe_max_ms_and_the_watcher_looks_again(void **state)
{
	harness h;
	start(&h, NULL, NULL, 3000);
	clip music = load("music_melody"), line = load("line"), message = load("message_0");
	clip c = join(&music, 8000, 300, &line, &message);
	sova_voice_set_hold(h.v, true);
	play_all(&h, &c);
	play(&h, &music, 0, 3 * RATE); /* the music again: the last probe runs out */
	sova_voice_stats st;
	sova_voice_get_stats(h.v, &st);
	/* the message goes on past the first probe, but the watcher waits for it to pause: one probe */
	assert_int_equal(st.hold_probes, 1);
	assert_true(h.probes >= 1);
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STOPPED], h.kinds[SOVA_VOICE_SPEECH_STARTED]); /* each start ended */
	assert_in_range(fed(&h), 3 * 16000, 5 * 16000); /* its pre-roll and 3 s of live audio */
	uint64_t after = fed(&h);
	play_all(&h, &music); /* nothing more for the recognizer */
	assert_int_equal(fed(&h), after);
	sova_voice_free(h.v);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(message.pcm);
}

static void holding_again_during_a_probe_sends_the_watcher_back(void **state)
{
	harness h;
	start(&h, NULL, NULL, 0);
	clip music = load("music_beat"), line = load("line"), message = load("message_1");
	clip c = join(&music, 8000, 0, &line, &message);
	sova_voice_set_hold(h.v, true);
	size_t i = 0;
	for (; i + FRAME <= c.n && h.probes == 0; i += FRAME)
		play(&h, &c, i, i + FRAME);
	assert_int_equal(h.probes, 1);
	sova_voice_set_hold(h.v, true); /* the flow heard "all of our agents are ...": still on hold */
	assert_int_equal(h.kinds[SOVA_VOICE_SPEECH_STOPPED], 1);
	uint64_t then = fed(&h);
	play(&h, &c, i, c.n); /* the message goes on, unheard: the watcher waits for it to pause */
	play(&h, &music, 0, 3 * RATE);
	assert_int_equal(fed(&h), then);
	assert_int_equal(h.probes, 1);
	sova_voice_free(h.v);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(message.pcm);
}

static void ending_the_hold_hears_the_pre_roll_then_everything(void **state)
{
	harness h;
	start(&h, NULL, NULL, 0);
	clip music = load("music_pad"), line = load("line"), voice = load("voice_2");
	clip c = join(&music, 6000, 0, &line, &voice);
	size_t speech = c.n - voice.n + onset_of(&voice);
	sova_voice_set_hold(h.v, true);
	play(&h, &c, 0, speech / FRAME * FRAME + 10 * FRAME); /* 200 ms into the voice: no probe yet */
	assert_int_equal(h.probes, 0);
	assert_int_equal(fed(&h), 0);
	sova_voice_set_hold(h.v, false); /* the flow knows better (a DTMF, a timer) */
	assert_in_range(fed(&h), 2 * 16000 - 64, 2 * 16000);
	uint64_t then = fed(&h);
	play(&h, &c, speech / FRAME * FRAME + 10 * FRAME, c.n);
	assert_true(fed(&h) - then >= (c.n - speech) / FRAME * 320 - 10 * 320 - 64);
	/* turns work again */
	sova_stt_event ev = {.kind = SOVA_STT_FINAL, .text = "hello this is mike", .confidence = 0.9f, .speech_final = true};
	sova_voice_stt_callback(h.v, &ev);
	play(&h, &line, 0, RATE);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(h.turn, "hello this is mike");
	assert_int_equal(h.probes, 0);
	sova_voice_free(h.v);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(voice.pcm);
}

/* pocketsphinx with a grammar that also holds the greeting's tails: without its first words, the
 * probe would hear one of those. */
static void a_representative_is_heard_from_the_first_word(void **state)
{
	static const char *const PHRASES[] = {"hello this is karen from provider services", "karen from provider services",
					      "from provider services", "provider services", "thank you for holding"};
	sova_ps_model *model = *state;
	sova_stt_config sc = {.sample_rate = 16000, .endpointing_ms = 1500};
	sova_stt *stt = sova_stt_pocketsphinx_new(model, &sc, false, sova_voice_stt_callback, NULL, err, sizeof err);
	if (!stt)
		fail_msg("%s", err);
	harness h;
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = PHRASES, .num_phrases = 5};
	start(&h, stt, &o, 0);
	clip music = load("music_chords"), line = load("line"), greeting = load("greeting");
	clip c = join(&music, 10000, 300, &line, &greeting); /* the music stops, she picks up */
	sova_voice_set_hold(h.v, true);
	play_all(&h, &c);
	play_all(&h, &line);
	assert_int_equal(h.probes, 1);
	assert_int_equal(h.kinds[SOVA_VOICE_END_OF_TURN], 1);
	assert_string_equal(h.turn, "hello this is karen from provider services");
	sova_voice_free(h.v);
	free(c.pcm);
	free(music.pcm);
	free(line.pcm);
	free(greeting.pcm);
}

/* ---- setup ---- */

static int setup(void **state)
{
	char cmd[512];
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof cmd, "'%s' '%s' >/dev/null", HOLD_AUDIO_SH, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "# %s failed (sox, flite and espeak-ng are declared dependencies: scripts/install-deps)\n", cmd);
		return -1;
	}
	sova_ps_model *model = sova_ps_model_load(NULL, err, sizeof err);
	if (!model)
		fprintf(stderr, "# %s\n", err);
	*state = model;
	return model ? 0 : -1;
}

static int teardown(void **state)
{
	sova_ps_model_free(*state);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minutes_of_hold_music_raise_no_probe),
		cmocka_unit_test(line_noise_raises_no_probe),
		cmocka_unit_test(a_voice_after_the_music_is_suspected_within_a_second),
		cmocka_unit_test(the_pre_roll_holds_the_first_words_and_little_music),
		cmocka_unit_test(every_wire_rate_hears_the_same),
		cmocka_unit_test(bad_arguments_are_refused),
		cmocka_unit_test(on_hold_the_recognizer_hears_none_of_the_music),
		cmocka_unit_test(a_voice_after_the_music_starts_a_probe_with_the_pre_roll),
		cmocka_unit_test(a_probe_ends_after_probe_max_ms_and_the_watcher_looks_again),
		cmocka_unit_test(holding_again_during_a_probe_sends_the_watcher_back),
		cmocka_unit_test(ending_the_hold_hears_the_pre_roll_then_everything),
		cmocka_unit_test(a_representative_is_heard_from_the_first_word),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

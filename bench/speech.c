/* The offline speech engines' costs (core/bot/speech/): model load, per-call decoder time and
 * memory, pocketsphinx's real-time factor with a grammar and with the full language model,
 * the synthesizers' (flite per voice, espeak-ng at 16 and 8 kHz) real-time factors, and their
 * first-audio latency for a long line streamed clause by clause against the whole line at once.
 * Audio is made by flite at run time.
 *
 * Usage: bench_speech [repeats]   (bench/speech.sh runs it; figures in docs/benchmarks.md) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/speech/stt_pocketsphinx.h"
#include "bot/speech/tts_espeak.h"
#include "bot/speech/tts_flite.h"

static char err[512];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* This thread's CPU seconds: real-time factors are CPU per audio second, which is what a core
 * carries, and stays right on a machine shared with other work. */
static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resident memory in KiB (VmRSS). */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_speech: %s: %s\n", what, err);
	exit(1);
}

/* ---- synthesis ---- */

typedef struct audio {
	short *pcm; /* owned */
	size_t n, cap;
	double first_frame_at; /* now() at the first frame, 0 before */
} audio;

static void on_audio(void *user, const sova_tts_event *ev)
{
	audio *a = user;
	if (ev->kind != SOVA_TTS_AUDIO)
		return;
	if (a->first_frame_at == 0)
		a->first_frame_at = now();
	if (a->n + ev->num_samples > a->cap) {
		a->cap = (a->n + ev->num_samples) * 2;
		a->pcm = realloc(a->pcm, a->cap * sizeof *a->pcm);
		if (!a->pcm)
			exit(1);
	}
	memcpy(a->pcm + a->n, ev->data, ev->bytes);
	a->n += ev->num_samples;
}

/* A synthesizer measured: engine, voice, output rate. */
typedef struct synth {
	const char *label;
	sova_tts *(*make)(const sova_tts_config *, sova_tts_callback, void *, char *, size_t);
	const char *voice;
	int rate;
} synth;

static const synth SYNTHS[] = {
	{"flite cmu_us_slt", sova_tts_flite_new, "cmu_us_slt", 16000},
	{"flite cmu_us_kal", sova_tts_flite_new, "cmu_us_kal", 8000},
	{"espeak en-us 16k", sova_tts_espeak_new, "en-us", 16000},
	{"espeak en-us 8k ", sova_tts_espeak_new, "en-us", 8000},
};
#define NUM_SYNTHS (sizeof SYNTHS / sizeof *SYNTHS)

/* Says text with s; returns the CPU seconds it took, fills a. first_audio: wall seconds to the first frame. */
static double say(const synth *s, bool whole_line, const char *text, audio *a, double *first_audio)
{
	sova_tts_config c = {.voice = s->voice, .sample_rate = s->rate, .whole_line = whole_line};
	memset(a, 0, sizeof *a);
	sova_tts *t = s->make(&c, on_audio, a, err, sizeof err);
	if (!t)
		die(s->label);
	double t0 = now(), c0 = cpu_now();
	if (!sova_tts_say(t, text, strlen(text), true, err, sizeof err))
		die("say");
	double took = cpu_now() - c0;
	if (first_audio)
		*first_audio = a->first_frame_at - t0;
	sova_tts_free(t);
	return took;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- recognition ---- */

typedef struct heard {
	char text[1024];
} heard;

static void on_text(void *user, const sova_stt_event *ev)
{
	heard *h = user;
	if (ev->kind == SOVA_STT_FINAL && ev->text[0]) {
		if (h->text[0])
			strncat(h->text, " ", sizeof h->text - strlen(h->text) - 1);
		strncat(h->text, ev->text, sizeof h->text - strlen(h->text) - 1);
	}
}

static const char *const PHRASES[] = {"yes", "no", "the reference number is a u t h one two three", "tuesday afternoon",
				      "i would like to speak to a representative", "the patient's date of birth is march third"};
#define NUM_PHRASES (sizeof PHRASES / sizeof *PHRASES)

/* Feeds every phrase (spoken by slt, 0.5 s of silence around it) to one recognizer; returns the
 * decoding CPU seconds, adds the audio seconds to *audio_s and the exact matches to *matches. */
static double recognize(const sova_ps_model *m, bool open, short *const *pcm, const size_t *n, double *audio_s, int *matches)
{
	sova_stt_config c = {.sample_rate = 16000};
	heard h;
	sova_stt *r = sova_stt_pocketsphinx_new(m, &c, open, on_text, &h, err, sizeof err);
	if (!r)
		die("pocketsphinx");
	sova_stt_options o = {.search = open ? SOVA_STT_SEARCH_OPEN : SOVA_STT_SEARCH_GRAMMAR, .phrases = PHRASES,
			      .num_phrases = NUM_PHRASES, .interim_results = true};
	double busy = 0;
	for (size_t p = 0; p < NUM_PHRASES; p++) {
		memset(&h, 0, sizeof h);
		double t0 = cpu_now();
		if (!sova_stt_start(r, &o, err, sizeof err))
			die("start");
		for (size_t i = 0; i < n[p]; i += 320)
			if (!sova_stt_feed(r, pcm[p] + i, n[p] - i < 320 ? n[p] - i : 320, err, sizeof err))
				die("feed");
		if (!sova_stt_finalize(r, err, sizeof err))
			die("finalize");
		busy += cpu_now() - t0;
		*audio_s += (double)n[p] / 16000;
		*matches += strcmp(h.text, PHRASES[p]) == 0;
	}
	sova_stt_free(r);
	return busy;
}

int main(int argc, char **argv)
{
	int repeats = argc > 1 ? atoi(argv[1]) : 3;
	if (repeats < 1)
		repeats = 1;

	/* ---- model and decoders ---- */
	long rss0 = rss_kib();
	double t0 = now();
	sova_ps_model *m = sova_ps_model_load(NULL, err, sizeof err);
	if (!m)
		die("model");
	printf("model load (shared dictionary)      %8.1f ms  %6ld KiB\n", (now() - t0) * 1e3, rss_kib() - rss0);

	enum { GRAMMAR_DECODERS = 8, OPEN_DECODERS = 2 };
	sova_stt *d[GRAMMAR_DECODERS];
	sova_stt_config c = {.sample_rate = 16000};
	heard h;
	sova_stt_options o = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = PHRASES, .num_phrases = NUM_PHRASES};
	long rss1 = rss_kib();
	t0 = now();
	for (int i = 0; i < GRAMMAR_DECODERS; i++)
		if (!(d[i] = sova_stt_pocketsphinx_new(m, &c, false, on_text, &h, err, sizeof err)) || !sova_stt_start(d[i], &o, err, sizeof err))
			die("grammar decoder");
	printf("grammar decoder per call             %8.1f ms  %6ld KiB  (created and grammar set, mean of %d)\n",
	       (now() - t0) * 1e3 / GRAMMAR_DECODERS, (rss_kib() - rss1) / GRAMMAR_DECODERS, GRAMMAR_DECODERS);
	for (int i = 0; i < GRAMMAR_DECODERS; i++)
		sova_stt_free(d[i]);
	rss1 = rss_kib();
	t0 = now();
	for (int i = 0; i < OPEN_DECODERS; i++)
		if (!(d[i] = sova_stt_pocketsphinx_new(m, &c, true, on_text, &h, err, sizeof err)))
			die("open decoder");
	printf("open-vocabulary decoder per call     %8.1f ms  %6ld KiB  (full dictionary + LM, mean of %d)\n",
	       (now() - t0) * 1e3 / OPEN_DECODERS, (rss_kib() - rss1) / OPEN_DECODERS, OPEN_DECODERS);
	for (int i = 0; i < OPEN_DECODERS; i++)
		sova_stt_free(d[i]);

	/* ---- synthesis: real-time factor per voice ---- */
	const char *paragraph = "Hello, this is the scheduling assistant calling from Demo Clinic Alpha. "
				"I am calling about a prior authorization for one of our patients. "
				"Could you tell me the status of the request, and the reference number if there is one? "
				"Thank you, I will hold while you look that up.";
	double rtf_tts[NUM_SYNTHS];
	for (size_t v = 0; v < NUM_SYNTHS; v++) {
		double busy = 0, secs = 0;
		for (int k = 0; k < repeats; k++) {
			audio a;
			busy += say(&SYNTHS[v], false, paragraph, &a, NULL);
			secs += (double)a.n / SYNTHS[v].rate;
			free(a.pcm);
		}
		rtf_tts[v] = busy / secs;
		printf("%s RTF                  %8.4f      (%.1f s of audio x %d)\n", SYNTHS[v].label, rtf_tts[v], secs / repeats, repeats);
	}

	/* ---- synthesis: first audio of a long line ---- */
	for (size_t v = 0; v < NUM_SYNTHS; v++)
		for (int whole = 0; whole < 2; whole++) {
			double first[16];
			int k = repeats < 16 ? repeats : 16;
			for (int i = 0; i < k; i++) {
				audio a;
				say(&SYNTHS[v], whole, paragraph, &a, &first[i]);
				free(a.pcm);
			}
			qsort(first, (size_t)k, sizeof *first, cmp_double);
			printf("%s first audio, %-11s %8.1f ms  (median of %d)\n", SYNTHS[v].label, whole ? "whole line" : "clauses",
			       first[k / 2] * 1e3, k);
		}

	/* ---- recognition: real-time factor, grammar and full LM ---- */
	short *pcm[NUM_PHRASES];
	size_t n[NUM_PHRASES];
	for (size_t p = 0; p < NUM_PHRASES; p++) {
		audio a;
		say(&SYNTHS[0], false, PHRASES[p], &a, NULL);
		n[p] = 8000 + a.n + 8000;
		pcm[p] = calloc(n[p], sizeof **pcm);
		if (!pcm[p])
			return 1;
		memcpy(pcm[p] + 8000, a.pcm, a.n * sizeof *a.pcm);
		free(a.pcm);
	}
	double rtf_stt[2];
	for (int open = 0; open < 2; open++) {
		double busy = 0, secs = 0;
		int matches = 0;
		for (int k = 0; k < repeats; k++)
			busy += recognize(m, open, pcm, n, &secs, &matches);
		rtf_stt[open] = busy / secs;
		printf("pocketsphinx %-8s RTF               %8.4f      (%.1f s of audio x %d; heard as said %d/%d)\n",
		       open ? "full LM" : "grammar", rtf_stt[open], secs / repeats, repeats, matches, (int)NUM_PHRASES * repeats);
	}
	for (size_t p = 0; p < NUM_PHRASES; p++)
		free(pcm[p]);

	/* ---- calls per core ---- */
	printf("(real-time factors are CPU seconds per audio second; first audio is wall time)\n");
	printf("calls per core, recognizing all the time: grammar %.0f, full LM %.0f\n", 1 / rtf_stt[0], 1 / rtf_stt[1]);
	printf("calls per core, recognizing all the time and speaking all the time (worst case): "
	       "grammar+slt %.0f, grammar+kal %.0f, grammar+espeak 16k %.0f, grammar+espeak 8k %.0f, full LM+slt %.0f\n",
	       1 / (rtf_stt[0] + rtf_tts[0]), 1 / (rtf_stt[0] + rtf_tts[1]), 1 / (rtf_stt[0] + rtf_tts[2]),
	       1 / (rtf_stt[0] + rtf_tts[3]), 1 / (rtf_stt[1] + rtf_tts[0]));
	sova_ps_model_free(m);
	return 0;
}

/* The VAD comparison: every kind of core/bot/media/vad.h over the materials bench/vad.sh makes,
 * printed as Markdown table rows.
 *
 *   bench_vad RATE FRAME_MS NAME=AUDIO.raw[:CLEAN.raw] ...
 *
 * Files are raw mono PCM16 little-endian at RATE. With CLEAN (the same speech before any noise was
 * added, from the synthesizers) the labels come from it: a frame is speech when the clean frame is
 * above LABEL_DBFS, and speech segments are labelled runs joined across gaps under SEGMENT_GAP_MS.
 * Without CLEAN every frame is non-speech (hold music, keyboard, line noise).
 *
 * Per kind and material: false-trigger rate (non-speech frames decided speech), miss rate (speech
 * frames decided non-speech), false speech-starts per minute (debounced starts outside any speech
 * segment: what would interrupt the agent), speech-start latency (from a segment's labelled onset
 * to the start event, median and 90th percentile, over the segments a start event announced),
 * segments heard (by a start event, or by speech carried over from before the segment), and CPU
 * per frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/media/audio.h"
#include "bot/media/vad.h"

#define LABEL_DBFS (-45.0)
#define SEGMENT_GAP_MS 300

typedef struct {
	int16_t *pcm; /* owned */
	size_t n;
} samples;

typedef struct {
	size_t first, end; /* frames [first, end) */
} segment;

typedef struct {
	const char *name;
	samples audio;
	bool *label;      /* owned: per frame; NULL when there is no clean track */
	segment *segs;    /* owned */
	size_t n_segs;
} material;

static bool read_raw(const char *path, samples *out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return false;
	}
	bool ok = fseek(f, 0, SEEK_END) == 0;
	long len = ok ? ftell(f) : -1;
	ok = ok && len >= 0 && fseek(f, 0, SEEK_SET) == 0;
	uint8_t *bytes = ok ? malloc((size_t)len + 1) : NULL;
	ok = bytes && fread(bytes, 1, (size_t)len, f) == (size_t)len;
	fclose(f);
	size_t n = 0;
	ok = ok && sova_pcm16le_samples((size_t)len, &n);
	out->pcm = ok ? malloc((n ? n : 1) * sizeof *out->pcm) : NULL;
	if (!out->pcm) {
		fprintf(stderr, "bench_vad: cannot read %s\n", path);
		free(bytes);
		return false;
	}
	sova_pcm16le_read(bytes, n, out->pcm);
	out->n = n;
	free(bytes);
	return true;
}

static bool label(material *m, const samples *clean, size_t frame, int frame_ms)
{
	size_t frames = m->audio.n / frame;
	m->label = calloc(frames ? frames : 1, sizeof *m->label);
	m->segs = calloc(frames ? frames : 1, sizeof *m->segs);
	if (!m->label || !m->segs)
		return false;
	size_t gap_frames = SEGMENT_GAP_MS / (size_t)frame_ms;
	for (size_t f = 0; f < frames && (f + 1) * frame <= clean->n; f++) {
		m->label[f] = sova_level_dbfs(clean->pcm + f * frame, frame) > LABEL_DBFS;
		if (!m->label[f])
			continue;
		if (m->n_segs > 0 && f - m->segs[m->n_segs - 1].end < gap_frames)
			m->segs[m->n_segs - 1].end = f + 1;
		else
			m->segs[m->n_segs++] = (segment){f, f + 1};
	}
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One kind over one material: a table row. */
static int measure(sova_vad_kind kind, int rate, int frame_ms, const material *m)
{
	char err[160];
	sova_vad_opts o;
	sova_vad_opts_default(&o);
	o.frame_ms = frame_ms;
	sova_vad *v = sova_vad_new(kind, rate, &o, err, sizeof err);
	if (!v) {
		fprintf(stderr, "bench_vad: %s\n", err);
		return -1;
	}
	size_t frame = sova_vad_frame_samples(v), frames = m->audio.n / frame;
	size_t nonspeech = 0, false_trig = 0, speech = 0, missed = 0, false_starts = 0, heard = 0;
	double *lat = calloc(m->n_segs ? m->n_segs : 1, sizeof *lat);
	bool *seg_heard = calloc(m->n_segs ? m->n_segs : 1, sizeof *seg_heard);
	if (!lat || !seg_heard) {
		free(lat);
		free(seg_heard);
		sova_vad_free(v);
		return -1;
	}
	size_t n_lat = 0, seg = 0;
	double t0 = cpu_seconds();
	for (size_t f = 0; f < frames; f++) {
		sova_vad_result r;
		if (sova_vad_feed(v, m->audio.pcm + f * frame, frame, &r) != 0) {
			fprintf(stderr, "bench_vad: feed failed\n");
			free(lat);
			free(seg_heard);
			sova_vad_free(v);
			return -1;
		}
		bool is_speech = m->label && m->label[f];
		if (is_speech) {
			speech++;
			missed += !r.speech;
		} else {
			nonspeech++;
			false_trig += r.speech;
		}
		while (seg < m->n_segs && f >= m->segs[seg].end)
			seg++;
		bool in_seg = seg < m->n_segs && f >= m->segs[seg].first;
		if (in_seg && !seg_heard[seg] && r.in_speech) {
			/* Heard: by a start event in the segment, or speech carried over from before it
			 * (no latency to measure then). */
			seg_heard[seg] = true;
			heard++;
			if (r.event == SOVA_VAD_SPEECH_START)
				lat[n_lat++] = (double)r.now_ms - (double)m->segs[seg].first * frame_ms;
		}
		if (r.event == SOVA_VAD_SPEECH_START && !in_seg)
			false_starts++;
	}
	double cpu = cpu_seconds() - t0;
	qsort(lat, n_lat, sizeof *lat, cmp_double);
	double minutes = (double)frames * frame_ms / 60000.0;
	printf("| %s | %d kHz | %d ms | %s | %.1f%% | ", m->name, rate / 1000, frame_ms, sova_vad_kind_name(kind),
	       nonspeech ? 100.0 * (double)false_trig / (double)nonspeech : 0.0);
	if (m->label)
		printf("%.1f%% | ", speech ? 100.0 * (double)missed / (double)speech : 0.0);
	else
		printf("– | ");
	printf("%.1f | ", minutes > 0 ? (double)false_starts / minutes : 0.0);
	if (n_lat)
		printf("%.0f / %.0f ms | %zu/%zu | ", lat[n_lat / 2], lat[(n_lat * 9) / 10 < n_lat ? (n_lat * 9) / 10 : n_lat - 1],
		       heard, m->n_segs);
	else
		printf("– | %zu/%zu | ", heard, m->n_segs);
	printf("%.1f µs |\n", frames ? cpu * 1e6 / (double)frames : 0.0);
	free(lat);
	free(seg_heard);
	sova_vad_free(v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_vad RATE FRAME_MS NAME=AUDIO.raw[:CLEAN.raw] ...\n");
		return 2;
	}
	int rate = atoi(argv[1]), frame_ms = atoi(argv[2]);
	size_t frame = sova_frame_samples(rate, frame_ms);
	if (frame == 0) {
		fprintf(stderr, "bench_vad: unsupported rate %d or frame %d ms\n", rate, frame_ms);
		return 2;
	}
	int n = argc - 3, rc = 0;
	material *ms = calloc((size_t)n, sizeof *ms);
	if (!ms)
		return 1;
	for (int i = 0; i < n && rc == 0; i++) {
		char *spec = argv[3 + i], *eq = strchr(spec, '=');
		if (!eq) {
			fprintf(stderr, "bench_vad: %s: expected NAME=FILE[:CLEAN]\n", spec);
			rc = 2;
			break;
		}
		*eq = '\0';
		ms[i].name = spec;
		char *clean_path = strchr(eq + 1, ':');
		if (clean_path)
			*clean_path++ = '\0';
		if (!read_raw(eq + 1, &ms[i].audio)) {
			rc = 1;
			break;
		}
		if (clean_path) {
			samples clean = {0};
			bool ok = read_raw(clean_path, &clean) && label(&ms[i], &clean, frame, frame_ms);
			free(clean.pcm);
			if (!ok)
				rc = 1;
		}
	}
	for (int i = 0; i < n && rc == 0; i++)
		for (int k = SOVA_VAD_ENERGY; k <= SOVA_VAD_WEBRTC && rc == 0; k++)
			rc = measure((sova_vad_kind)k, rate, frame_ms, &ms[i]) == 0 ? 0 : 1;
	for (int i = 0; i < n; i++) {
		free(ms[i].audio.pcm);
		free(ms[i].label);
		free(ms[i].segs);
	}
	free(ms);
	return rc;
}

/* The recorder's costs (bench/recorder.sh runs it; figures in docs/benchmarks.md "Recording").
 *
 *   bench_recorder frames SECONDS         recorder CPU per 20 ms frame (both channels written,
 *                                         sealing and the spill's disk writes included) and its
 *                                         memory, at 8, 16 and 48 kHz
 *   bench_recorder store URI SECONDS RATE  records SECONDS at RATE into a spill, then times the
 *                                         writer's recording operation storing it in the database
 *                                         (spill read back, WAV header, sealed GridFS segments,
 *                                         session summary), then reads it back and checks it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bot/media/recorder.h"
#include "crypto/spill.h"
#include "db/mongo.h"
#include "db/recordings.h"
#include "db/writer.h"

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(int16_t *buf, size_t n, uint64_t at, int ch)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (int16_t)(((at + i) * (ch ? 104729u : 7919u)) >> 3);
}

/* Records seconds at rate into a finished spill; returns the CPU seconds it took. */
static double record(const char *dir, int rate, uint64_t seconds, sova_recording_spill *out, size_t *memory)
{
	char err[256];
	sova_recorder *r = sova_recorder_new(dir, rate, err, sizeof err);
	if (!r) {
		fprintf(stderr, "recorder: %s\n", err);
		exit(1);
	}
	size_t step = (size_t)rate / 50;
	int16_t a[960], b[960];
	double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	for (uint64_t at = 0; at < seconds * (uint64_t)rate; at += step) {
		fill(a, step, at, 0);
		fill(b, step, at, 1);
		if (sova_recorder_write(r, 0, at, a, step) != 0 || sova_recorder_write(r, 1, at, b, step) != 0) {
			fprintf(stderr, "write failed\n");
			exit(1);
		}
	}
	sova_recorder_stats st;
	sova_recorder_get_stats(r, &st);
	if (!sova_recorder_finish(r, out, err, sizeof err)) {
		fprintf(stderr, "finish: %s\n", err);
		exit(1);
	}
	double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
	*memory = st.memory_bytes;
	sova_recorder_free(r);
	return cpu;
}

static int frames_mode(uint64_t seconds)
{
	char dir[] = "/tmp/sova-bench-recorder-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	int rates[] = {8000, 16000, 48000};
	printf("rate | seconds | CPU per 20 ms frame (both channels) | memory per call | spill bytes\n");
	for (int i = 0; i < 3; i++) {
		sova_recording_spill s;
		size_t mem;
		double cpu = record(dir, rates[i], seconds, &s, &mem);
		double frames = (double)seconds * 50;
		printf("%d | %llu | %.2f us | %zu bytes | %llu\n", rates[i], (unsigned long long)seconds, cpu / frames * 1e6,
		       mem, (unsigned long long)s.pcm_bytes);
		unlink(s.path);
		sova_recording_spill_wipe(&s);
	}
	rmdir(dir);
	return 0;
}

static int store_mode(const char *uri, uint64_t seconds, int rate)
{
	char err[256];
	char dir[] = "/tmp/sova-bench-recorder-XXXXXX";
	if (!mkdtemp(dir) || !sova_db_open(uri, err, sizeof err)) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	static const char secret[] = "bench-data-key-bench-data-key-bench-data-key";
	sova_sealed_key key;
	if (!sova_sealed_derive_key(secret, sizeof secret - 1, SOVA_KEY_RECORDING, &key) ||
	    sova_recording_set_process_key(&key) != 0)
		return 1;
	sova_recording_spill s;
	size_t mem;
	double rec_cpu = record(dir, rate, seconds, &s, &mem);
	if (!sova_spill_register(&s, err, sizeof err)) {
		fprintf(stderr, "register: %s\n", err);
		return 1;
	}
	sova_writer_config cfg = {.spool_dir = dir, .retry_ms = 200};
	uint64_t gen;
	if (!sova_writer_start(&cfg, &gen, err, sizeof err)) {
		fprintf(stderr, "writer: %s\n", err);
		return 1;
	}
	bson_oid_t org, session;
	bson_oid_init(&org, NULL);
	bson_oid_init(&session, NULL);
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	if (!sova_writer_push_recording(&org, &session, s.id, err, sizeof err) || !sova_writer_flush(600000)) {
		fprintf(stderr, "push/flush failed: %s\n", err);
		return 1;
	}
	double wall = now_s(CLOCK_MONOTONIC) - w0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	sova_writer_stats ws;
	sova_writer_get_stats(&ws);
	uint64_t wav = SOVA_WAV_HEADER_LEN + s.pcm_bytes;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%llu s at %d Hz: WAV %.1f MiB; recording CPU %.2f s; writer stored it in %.2f s wall (%.1f MiB/s), "
	       "%.2f s CPU in this process; stored=%llu; peak RSS %ld KiB\n",
	       (unsigned long long)seconds, rate, wav / 1048576.0, rec_cpu, wall, wav / 1048576.0 / wall, cpu,
	       (unsigned long long)ws.recordings_stored, ru.ru_maxrss);
	/* read back in 1 MiB ranges and compare with the pattern */
	sova_recording_info info;
	if (sova_recording_find(&org, &session, &info, err, sizeof err) != SOVA_REC_OK || info.bytes != wav) {
		fprintf(stderr, "find: %s\n", err);
		return 1;
	}
	uint8_t *buf = malloc(1 << 20);
	double r0 = now_s(CLOCK_MONOTONIC);
	bool same = true;
	for (uint64_t from = 0; from < wav && same; from += 1 << 20) {
		uint64_t to = from + (1 << 20) - 1 < wav - 1 ? from + (1 << 20) - 1 : wav - 1;
		if (sova_recording_read(&info, &key, from, to, buf, err, sizeof err) != SOVA_REC_OK) {
			fprintf(stderr, "read: %s\n", err);
			return 1;
		}
		for (uint64_t p = from < 44 ? 44 : from; p + 4 <= to + 1 && same; p += 4 * 997) {
			uint64_t frame = (p - 44) / 4;
			if (((p - 44) % 4) != 0)
				continue;
			int16_t want[2], got[2];
			fill(&want[0], 1, frame, 0);
			fill(&want[1], 1, frame, 1);
			memcpy(got, buf + (p - from), 4);
			same = got[0] == want[0] && got[1] == want[1];
		}
	}
	printf("read back in 1 MiB ranges: %.2f s (%.1f MiB/s), %s\n", now_s(CLOCK_MONOTONIC) - r0,
	       wav / 1048576.0 / (now_s(CLOCK_MONOTONIC) - r0), same ? "samples match" : "MISMATCH");
	free(buf);
	sova_recording_delete(&org, &session, err, sizeof err);
	sova_writer_stop(gen, 5000, NULL);
	sova_sealed_key_wipe(&key);
	sova_recording_spill_wipe(&s);
	rmdir(dir);
	return same ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "frames") == 0)
		return frames_mode(strtoull(argv[2], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "store") == 0)
		return store_mode(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
	fprintf(stderr, "usage: bench_recorder frames SECONDS | store URI SECONDS RATE\n");
	return 2;
}

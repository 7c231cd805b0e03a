/* Unit tests of the streaming recorder (core/bot/media/recorder.h) and its sealed spill files and
 * registry (core/crypto/spill.h). Linked with --wrap for malloc, calloc, realloc and free, so the
 * memory test counts every byte the recorder and the spill code allocate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/media/recorder.h"
#include "crypto/spill.h"

/* ---- allocation accounting ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

#define HDR 16 /* keeps malloc's 16-byte alignment */
static size_t live, peak;

void *__wrap_malloc(size_t n)
{
	uint8_t *p = __real_malloc(n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof n);
	live += n;
	if (live > peak)
		peak = live;
	return p + HDR;
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (size && n > (SIZE_MAX - HDR) / size)
		return NULL;
	void *p = __wrap_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void __wrap_free(void *p)
{
	if (!p)
		return;
	uint8_t *b = (uint8_t *)p - HDR;
	size_t n;
	memcpy(&n, b, sizeof n);
	live -= n;
	__real_free(b);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (!p)
		return __wrap_malloc(n);
	uint8_t *b = (uint8_t *)p - HDR;
	size_t old;
	memcpy(&old, b, sizeof old);
	uint8_t *q = __real_realloc(b, n + HDR);
	if (!q)
		return NULL;
	memcpy(q, &n, sizeof n);
	live = live - old + n;
	if (live > peak)
		peak = live;
	return q + HDR;
}

/* ---- helpers ---- */

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/sova-recorder-XXXXXX");
	assert_non_null(mkdtemp(dir));
	unsetenv("SOVA_RECORDING_MAX_SECONDS");
	return 0;
}

static size_t count_spills(void)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strncmp(de->d_name, "rec-", 4) == 0;
	closedir(d);
	return n;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

/* A sample of channel ch at position p: hashed, so no run repeats (the leak check looks for runs). */
static int16_t sample(int ch, uint64_t p)
{
	uint64_t x = p * 0x9E3779B97F4A7C15ull + (uint64_t)ch * 0xBF58476D1CE4E5B9ull + 1;
	x ^= x >> 31;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 29;
	return (int16_t)(uint16_t)x;
}

static void frame(int ch, uint64_t at, size_t n, int16_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = sample(ch, at + i);
}

/* Writes [from, to) of channel ch in 20 ms frames at rate. */
static void write_span(sova_recorder *r, int ch, int rate, uint64_t from, uint64_t to)
{
	size_t step = (size_t)rate / 50;
	int16_t buf[960];
	for (uint64_t at = from; at < to; at += step) {
		size_t n = to - at < step ? (size_t)(to - at) : step;
		frame(ch, at, n, buf);
		assert_int_equal(0, sova_recorder_write(r, ch, at, buf, n));
	}
}

/* The interleaved LE bytes the spill should hold for frames [0, frames): the channel is the
 * hashed sample where have(ch, p), else silence. */
typedef bool (*have_fn)(int ch, uint64_t p);

static void expect_spill(const sova_recording_spill *s, uint64_t frames, have_fn have)
{
	assert_int_equal(frames * 4, s->pcm_bytes);
	char err[160];
	sova_spill_reader *rd = sova_spill_open(s, err, sizeof err);
	assert_non_null(rd);
	uint8_t buf[4 * 1000];
	uint64_t p = 0;
	size_t piece = 1;
	while (p < frames) {
		/* odd piece sizes: reads that straddle the spill's sealed chunks */
		size_t n = frames - p < piece ? (size_t)(frames - p) : piece;
		assert_true(sova_spill_read(rd, buf, n * 4, err, sizeof err));
		for (size_t i = 0; i < n; i++, p++)
			for (int ch = 0; ch < 2; ch++) {
				int16_t want = have(ch, p) ? sample(ch, p) : 0;
				int16_t got = (int16_t)(uint16_t)(buf[i * 4 + ch * 2] | buf[i * 4 + ch * 2 + 1] << 8);
				if (got != want)
					fail_msg("frame %llu channel %d: %d, expected %d", (unsigned long long)p, ch, got, want);
			}
		piece = piece * 3 % 997 + 1;
	}
	sova_spill_reader_free(rd);
}

static bool have_all(int ch, uint64_t p) { return true; }

static sova_recorder *new_recorder(int rate)
{
	char err[160];
	sova_recorder *r = sova_recorder_new(dir, rate, err, sizeof err);
	if (!r)
		fail_msg("sova_recorder_new: %s", err);
	return r;
}

static void finish(sova_recorder *r, sova_recording_spill *s)
{
	char err[160];
	if (!sova_recorder_finish(r, s, err, sizeof err))
		fail_msg("finish: %s", err);
}

/* ---- cases ---- */

static void both_channels_aligned_read_back_exactly(void **state)
{
	sova_recorder *r = new_recorder(16000);
	const uint64_t frames = 16000 * 3 + 123; /* not a whole number of chunks */
	for (uint64_t at = 0; at < frames; at += 320) {
		uint64_t end = at + 320 < frames ? at + 320 : frames;
		write_span(r, 0, 16000, at, end);
		write_span(r, 1, 16000, at, end);
	}
	sova_recorder_stats st;
	sova_recorder_get_stats(r, &st);
	assert_int_equal(frames, st.frames);
	assert_int_equal(0, st.late_samples);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	assert_int_equal(16000, s.sample_rate);
	assert_true(s.duration_seconds > 3.007 && s.duration_seconds < 3.008);
	expect_spill(&s, frames, have_all);
	assert_int_equal(0, unlink(s.path));
	sova_recording_spill_wipe(&s);
}

static void out_of_order_within_the_window(void **state)
{
	/* 20 ms frames of both channels in a shuffled order within blocks of 0.5 s (the window at
	 * 16 kHz is 0.77 s), the other party lagging the agent by 100 ms */
	sova_recorder *r = new_recorder(16000);
	const int per_block = 25; /* frames of 20 ms */
	const uint64_t blocks = 8;
	int order[2 * 25];
	srand(7);
	for (uint64_t b = 0; b < blocks; b++) {
		for (int i = 0; i < 2 * per_block; i++)
			order[i] = i;
		for (int i = 2 * per_block - 1; i > 0; i--) {
			int j = rand() % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int i = 0; i < 2 * per_block; i++) {
			int ch = order[i] % 2;
			uint64_t at = (b * per_block + (uint64_t)(order[i] / 2)) * 320;
			if (ch == 1 && at >= 1600)
				at -= 1600; /* lag */
			write_span(r, ch, 16000, at, at + 320);
		}
	}
	/* the other party's last 100 ms */
	write_span(r, 1, 16000, blocks * per_block * 320 - 1600, blocks * per_block * 320);
	sova_recorder_stats st;
	sova_recorder_get_stats(r, &st);
	assert_int_equal(0, st.late_samples);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	expect_spill(&s, blocks * per_block * 320, have_all);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

/* 8 kHz, the agent 3 s ahead: the ring then starts at frame 10240 (2048-frame chunks) */
static bool have_late(int ch, uint64_t p) { return ch == 0 || (p >= 10240 && p < 10320) || p >= 12000; }

static void too_late_writes_are_dropped_and_counted(void **state)
{
	/* the agent runs 3 s ahead (8 kHz: the window is 1.54 s); the other party's first second
	 * comes too late and is silence, its rest is in time */
	sova_recorder *r = new_recorder(8000);
	write_span(r, 0, 8000, 0, 24000);
	write_span(r, 1, 8000, 0, 8000);
	sova_recorder_stats st;
	sova_recorder_get_stats(r, &st);
	assert_int_equal(8000, st.late_samples);
	assert_true(st.spilled_bytes >= (24000 - SOVA_RECORDER_RING_FRAMES) * 4);
	/* a write that is late for its first half only keeps its second half */
	int16_t buf[160];
	uint64_t edge = st.spilled_bytes / 4;
	assert_int_equal(10240, edge);
	frame(1, edge - 80, 160, buf);
	assert_int_equal(0, sova_recorder_write(r, 1, edge - 80, buf, 160));
	sova_recorder_get_stats(r, &st);
	assert_int_equal(8080, st.late_samples);
	/* what is still in the window is accepted: 1.5 s behind the newest sample */
	write_span(r, 1, 8000, 12000, 24000);
	sova_recorder_get_stats(r, &st);
	assert_int_equal(8080, st.late_samples);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	expect_spill(&s, 24000, have_late);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

static bool have_gaps(int ch, uint64_t p) { return ch == 0 ? p < 4000 || p >= 20000 : (p >= 10000 && p < 12000); }

static void gaps_are_silence_on_one_timeline(void **state)
{
	sova_recorder *r = new_recorder(8000);
	write_span(r, 0, 8000, 0, 4000);
	write_span(r, 1, 8000, 10000, 12000);
	write_span(r, 0, 8000, 20000, 24000);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	expect_spill(&s, 24000, have_gaps);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

static void memory_stays_bounded_however_long_the_call(void **state)
{
	size_t peaks[2];
	for (int round = 0; round < 2; round++) {
		int rate = 48000;
		uint64_t seconds = round == 0 ? 5 : 60;
		size_t base = live;
		peak = live;
		sova_recorder *r = new_recorder(rate);
		for (uint64_t at = 0; at < seconds * (uint64_t)rate; at += 960) {
			write_span(r, 0, rate, at, at + 960);
			write_span(r, 1, rate, at, at + 960);
		}
		sova_recorder_stats st;
		sova_recorder_get_stats(r, &st);
		sova_recording_spill s;
		finish(r, &s);
		sova_recorder_free(r);
		peaks[round] = peak - base;
		print_message("# %llu s at 48 kHz: peak %zu bytes allocated (recorder says %zu)\n",
			      (unsigned long long)seconds, peaks[round], st.memory_bytes);
		assert_true(peaks[round] <= st.memory_bytes + 64); /* nothing the recorder does not know of */
		assert_true(st.memory_bytes <= 66 * 1024);        /* 56 KiB ring + one sealed chunk + state */
		assert_int_equal(seconds * (uint64_t)rate * 4, s.pcm_bytes);
		unlink(s.path);
		sova_recording_spill_wipe(&s);
		assert_int_equal(base, live); /* everything freed */
	}
	assert_int_equal(peaks[0], peaks[1]);
}

static void the_spill_holds_no_plaintext_and_needs_its_key(void **state)
{
	sova_recorder *r = new_recorder(16000);
	write_span(r, 0, 16000, 0, 32000);
	write_span(r, 1, 16000, 0, 32000);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	struct stat stt;
	assert_int_equal(0, stat(s.path, &stt));
	assert_int_equal(0600, stt.st_mode & 0777);
	FILE *f = fopen(s.path, "rb");
	assert_non_null(f);
	uint8_t *file = malloc((size_t)stt.st_size);
	assert_non_null(file);
	assert_int_equal((size_t)stt.st_size, fread(file, 1, (size_t)stt.st_size, f));
	fclose(f);
	/* sealing costs 8 + 24 bytes of header and 17 per 8 KiB message */
	assert_int_equal(32 + s.pcm_bytes + 17 * (s.pcm_bytes / SOVA_SPILL_CHUNK + 1), (uint64_t)stt.st_size);
	/* no 8-byte run of the plaintext (two stereo frames) anywhere in the file, at any of 200 places */
	for (uint64_t p = 0; p < 32000; p += 160) {
		uint8_t run[8];
		for (int k = 0; k < 2; k++)
			for (int ch = 0; ch < 2; ch++) {
				uint16_t v = (uint16_t)sample(ch, p + (uint64_t)k);
				run[k * 4 + ch * 2] = (uint8_t)v;
				run[k * 4 + ch * 2 + 1] = (uint8_t)(v >> 8);
			}
		assert_null(memmem(file, (size_t)stt.st_size, run, sizeof run));
	}
	free(file);
	/* another key opens nothing */
	char err[160];
	sova_recording_spill wrong = s;
	wrong.key[0] ^= 1;
	sova_spill_reader *rd = sova_spill_open(&wrong, err, sizeof err);
	uint8_t buf[64];
	assert_true(!rd || !sova_spill_read(rd, buf, sizeof buf, err, sizeof err));
	sova_spill_reader_free(rd);
	sova_recording_spill_wipe(&wrong);
	/* a truncated spill is detected at its end */
	assert_int_equal(0, truncate(s.path, stt.st_size - 100));
	rd = sova_spill_open(&s, err, sizeof err);
	assert_non_null(rd);
	uint8_t *all = malloc(s.pcm_bytes);
	assert_false(sova_spill_read(rd, all, s.pcm_bytes, err, sizeof err));
	free(all);
	sova_spill_reader_free(rd);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

static void free_deletes_an_unfinished_spill(void **state)
{
	assert_int_equal(0, count_spills());
	sova_recorder *r = new_recorder(8000);
	assert_int_equal(1, count_spills());
	write_span(r, 0, 8000, 0, 40000);
	sova_recorder_free(r);
	assert_int_equal(0, count_spills());
	sova_recorder_free(NULL);
}

static void the_length_cap_stops_recording_not_the_call(void **state)
{
	setenv("SOVA_RECORDING_MAX_SECONDS", "2", 1);
	sova_recorder *r = new_recorder(8000);
	unsetenv("SOVA_RECORDING_MAX_SECONDS");
	for (uint64_t at = 0; at < 8000 * 5; at += 160) {
		write_span(r, 0, 8000, at, at + 160);
		write_span(r, 1, 8000, at, at + 160);
	}
	sova_recorder_stats st;
	sova_recorder_get_stats(r, &st);
	assert_int_equal(16000, st.max_frames);
	assert_int_equal(16000, st.frames);
	assert_int_equal(2 * 8000 * 3, st.capped_samples);
	assert_false(st.failed);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	assert_true(s.duration_seconds == 2.0);
	expect_spill(&s, 16000, have_all);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

static void misuse_is_refused(void **state)
{
	char err[160];
	assert_null(sova_recorder_new(dir, 44100, err, sizeof err));
	assert_null(sova_recorder_new("/nonexistent/sova", 8000, err, sizeof err));
	assert_non_null(strstr(err, "cannot create"));
	sova_recorder *r = new_recorder(8000);
	int16_t x[4] = {1, 2, 3, 4};
	assert_int_equal(-1, sova_recorder_write(r, 2, 0, x, 4));
	assert_int_equal(-1, sova_recorder_write(r, 0, 0, NULL, 4));
	assert_int_equal(-1, sova_recorder_write(NULL, 0, 0, x, 4));
	assert_int_equal(0, sova_recorder_write(r, 0, 0, x, 0));
	sova_recording_spill s;
	finish(r, &s);
	assert_int_equal(0, s.pcm_bytes); /* an empty recording is a valid, empty spill */
	assert_int_equal(-1, sova_recorder_write(r, 0, 0, x, 4)); /* after finish */
	assert_false(sova_recorder_finish(r, &s, err, sizeof err));
	sova_recorder_free(r);
	sova_spill_reader *rd = sova_spill_open(&s, err, sizeof err);
	assert_non_null(rd);
	assert_true(sova_spill_read(rd, NULL, 0, err, sizeof err));
	sova_spill_reader_free(rd);
	unlink(s.path);
	sova_recording_spill_wipe(&s);
}

static void the_registry_hands_over_and_the_sweep_clears_orphans(void **state)
{
	sova_recorder *r = new_recorder(8000);
	write_span(r, 0, 8000, 0, 800);
	sova_recording_spill s;
	finish(r, &s);
	sova_recorder_free(r);
	char err[160];
	assert_true(sova_spill_register(&s, err, sizeof err));
	assert_false(sova_spill_register(&s, err, sizeof err)); /* once */
	/* an orphan: a spill file from a process that died */
	sova_recorder *orphan = new_recorder(8000);
	sova_recording_spill o;
	finish(orphan, &o);
	sova_recorder_free(orphan);
	sova_recording_spill_wipe(&o);
	assert_int_equal(2, count_spills());
	assert_int_equal(1, sova_spill_sweep(dir));
	assert_int_equal(1, count_spills());
	sova_recording_spill got;
	assert_true(sova_spill_lookup(s.id, &got));
	assert_memory_equal(s.key, got.key, sizeof s.key);
	assert_string_equal(s.path, got.path);
	sova_recording_spill_wipe(&got);
	assert_true(sova_spill_path_ok(s.path));
	assert_false(sova_spill_path_ok("/etc/passwd"));
	assert_false(sova_spill_lookup("not-an-id", &got));
	assert_true(sova_spill_discard(s.id));
	assert_false(sova_spill_discard(s.id));
	assert_false(sova_spill_lookup(s.id, &got));
	assert_int_equal(0, count_spills());
	sova_recording_spill_wipe(&s);
	uint8_t h[SOVA_WAV_HEADER_LEN];
	sova_spill_wav_header(h, 16000, 64000);
	assert_memory_equal("RIFF", h, 4);
	assert_int_equal(36 + 64000, h[4] | h[5] << 8 | h[6] << 16);
	assert_memory_equal("data", h + 36, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(both_channels_aligned_read_back_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(out_of_order_within_the_window, setup, teardown),
		cmocka_unit_test_setup_teardown(too_late_writes_are_dropped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(gaps_are_silence_on_one_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(memory_stays_bounded_however_long_the_call, setup, teardown),
		cmocka_unit_test_setup_teardown(the_spill_holds_no_plaintext_and_needs_its_key, setup, teardown),
		cmocka_unit_test_setup_teardown(free_deletes_an_unfinished_spill, setup, teardown),
		cmocka_unit_test_setup_teardown(the_length_cap_stops_recording_not_the_call, setup, teardown),
		cmocka_unit_test_setup_teardown(misuse_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(the_registry_hands_over_and_the_sweep_clears_orphans, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

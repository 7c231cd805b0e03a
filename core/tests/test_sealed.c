/* Recordings sealed in segments (core/crypto/sealed.c): round trips, ranges across segment edges,
 * and every way a sealed recording can be damaged or misread — a flipped byte, swapped or moved
 * segments, a cut-off stream, a forged length, the wrong key — fails instead of giving bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/sealed.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-data-key"
#define SEG 1000 /* small segments so a few KiB span several */

/* A sealed recording in memory and the fetch that reads its segments. */
typedef struct sealed_buf {
	sova_sealed_layout layout;
	uint8_t *sealed; /* owned: sova_sealed_total(&layout) bytes */
	int fetches;     /* segments fetched by the last reads */
	uint64_t cut_at; /* when nonzero, segments from this index on are gone (a cut-off stream) */
} sealed_buf;

static bool fetch_mem(void *ud, uint64_t i, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
	sealed_buf *b = ud;
	if (i >= sova_sealed_segments(&b->layout) || (b->cut_at && i >= b->cut_at)) {
		snprintf(err, errlen, "segment %llu missing", (unsigned long long)i);
		return false;
	}
	size_t at = (size_t)i * (SEG + SOVA_SEALED_OVERHEAD);
	*data = b->sealed + at;
	*len = sova_sealed_segment_len(&b->layout, i);
	b->fetches++;
	return true;
}

static const uint8_t REC_A[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t REC_B[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 8));
	return p;
}

static sova_sealed_key key_of(const char *secret)
{
	sova_sealed_key k;
	assert_true(sova_sealed_derive_key(secret, strlen(secret), SOVA_KEY_RECORDING, &k));
	return k;
}

static sealed_buf seal(const sova_sealed_key *k, const uint8_t *id, const uint8_t *plain, size_t n)
{
	sealed_buf b = {.layout = {.rec_id = id, .rec_id_len = 12, .plain_bytes = n, .segment_size = SEG}};
	b.sealed = malloc((size_t)sova_sealed_total(&b.layout));
	assert_non_null(b.sealed);
	assert_true(sova_sealed_seal(k, &b.layout, plain, b.sealed));
	return b;
}

/* Reads [from, to] and compares with the plaintext. */
static void expect_range(const sova_sealed_key *k, sealed_buf *b, const uint8_t *plain, uint64_t from, uint64_t to)
{
	size_t n = (size_t)(to - from + 1);
	uint8_t *out = malloc(n);
	char err[128];
	assert_true(sova_sealed_read_range(k, &b->layout, from, to, fetch_mem, b, out, err, sizeof err));
	assert_memory_equal(out, plain + from, n);
	free(out);
}

/* Reads [from, to] expecting failure; returns the message, checks out was left zeroed. */
static void expect_failure(const sova_sealed_key *k, sealed_buf *b, uint64_t from, uint64_t to, const char *msg)
{
	size_t n = (size_t)(to - from + 1);
	uint8_t *out = malloc(n);
	memset(out, 0xAA, n);
	char err[128] = "";
	assert_false(sova_sealed_read_range(k, &b->layout, from, to, fetch_mem, b, out, err, sizeof err));
	assert_non_null(strstr(err, msg));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], 0);
	free(out);
}

static void keys_are_derived_per_purpose_and_named(void **state)
{
	sova_sealed_key a = key_of(SECRET), b = key_of(SECRET), c = key_of(SECRET "-other");
	assert_memory_equal(a.key, b.key, sizeof a.key);
	assert_string_equal(a.id, b.id);
	assert_memory_not_equal(a.key, c.key, sizeof a.key);
	assert_string_not_equal(a.id, c.id);
	assert_int_equal(strlen(a.id), SOVA_SEALED_KEY_ID_LEN);
	assert_memory_equal(a.id, "k1:", 3);
	sova_sealed_key short_key;
	assert_false(sova_sealed_derive_key("short", 5, SOVA_KEY_RECORDING, &short_key));
	sova_sealed_key_wipe(&a);
	for (size_t i = 0; i < sizeof a.key; i++)
		assert_int_equal(a.key[i], 0);
}

static void round_trip_and_layout(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	size_t n = 3 * SEG + 123;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	assert_int_equal(sova_sealed_segments(&b.layout), 4);
	assert_int_equal(sova_sealed_total(&b.layout), n + 4 * SOVA_SEALED_OVERHEAD);
	assert_int_equal(sova_sealed_segment_len(&b.layout, 3), 123 + SOVA_SEALED_OVERHEAD);
	/* no plaintext segment survives in the sealed bytes */
	assert_null(memmem(b.sealed, (size_t)sova_sealed_total(&b.layout), plain + 10, 32));
	expect_range(&k, &b, plain, 0, n - 1);
	/* sealing again gives other bytes (fresh headers) that open the same */
	sealed_buf again = seal(&k, REC_A, plain, n);
	assert_memory_not_equal(again.sealed, b.sealed, 64);
	expect_range(&k, &again, plain, 0, n - 1);
	free(again.sealed);
	free(b.sealed);
	free(plain);
}

static void ranges_across_segment_edges_fetch_only_what_they_touch(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	size_t n = 5 * SEG + 7;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	const struct {
		uint64_t from, to;
		int segments;
	} cases[] = {
		{0, 0, 1},		   {SEG - 1, SEG - 1, 1},	  {SEG - 1, SEG, 2},	   {SEG, SEG, 1},
		{SEG + 5, 3 * SEG + 2, 3}, {5 * SEG, 5 * SEG + 6, 1},	  {n - 1, n - 1, 1},	   {2 * SEG, 3 * SEG - 1, 1},
		{17, 4 * SEG + 999, 5},	   {4 * SEG + 999, 5 * SEG, 2},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		b.fetches = 0;
		expect_range(&k, &b, plain, cases[c].from, cases[c].to);
		assert_int_equal(b.fetches, cases[c].segments);
	}
	char err[128];
	uint8_t one;
	assert_false(sova_sealed_read_range(&k, &b.layout, n, n, fetch_mem, &b, &one, err, sizeof err));
	assert_false(sova_sealed_read_range(&k, &b.layout, 5, 4, fetch_mem, &b, &one, err, sizeof err));
	free(b.sealed);
	free(plain);
}

static void a_tampered_byte_fails_its_segment(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	size_t n = 3 * SEG;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	size_t seg1 = SEG + SOVA_SEALED_OVERHEAD;
	b.sealed[seg1 + 100] ^= 0x01; /* ciphertext of segment 1 */
	expect_failure(&k, &b, 0, n - 1, "segment 1 failed authentication");
	expect_range(&k, &b, plain, 0, SEG - 1); /* the untouched segments still read */
	expect_range(&k, &b, plain, 2 * SEG, n - 1);
	b.sealed[seg1 + 100] ^= 0x01;
	b.sealed[seg1 + 3] ^= 0x80; /* its header */
	expect_failure(&k, &b, SEG, SEG, "segment 1");
	b.sealed[seg1 + 3] ^= 0x80;
	b.sealed[2 * seg1 - 1] ^= 0x01; /* its MAC */
	expect_failure(&k, &b, SEG + 10, SEG + 20, "segment 1");
	free(b.sealed);
	free(plain);
}

static void swapped_or_moved_segments_fail(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	size_t n = 3 * SEG;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	size_t seg = SEG + SOVA_SEALED_OVERHEAD;
	uint8_t *tmp = malloc(seg);
	memcpy(tmp, b.sealed, seg); /* swap segments 0 and 1 (both full and tagged MESSAGE) */
	memcpy(b.sealed, b.sealed + seg, seg);
	memcpy(b.sealed + seg, tmp, seg);
	expect_failure(&k, &b, 0, 0, "segment 0");
	expect_failure(&k, &b, SEG, SEG, "segment 1");
	free(tmp);

	/* the same bytes under another recording's id (moved between recordings) */
	sealed_buf other = seal(&k, REC_B, plain, n);
	sealed_buf moved = {.layout = b.layout, .sealed = other.sealed};
	expect_failure(&k, &moved, 2 * SEG, 2 * SEG, "segment 2");
	free(other.sealed);
	free(b.sealed);
	free(plain);
}

static void a_truncated_stream_is_detected(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	size_t n = 3 * SEG;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	/* the last segment gone: reading it is an error, not a short answer */
	b.cut_at = 2;
	expect_failure(&k, &b, 0, n - 1, "segment 2 missing");
	expect_range(&k, &b, plain, 0, 2 * SEG - 1);
	sealed_buf cut = b;
	cut.layout.plain_bytes = 2 * SEG; /* a forged length that hides the cut */
	expect_failure(&k, &cut, 0, 0, "segment 0");          /* the length is bound into every segment */
	expect_failure(&k, &cut, SEG, 2 * SEG - 1, "segment 1"); /* and segment 1 is not tagged FINAL */
	free(b.sealed);
	free(plain);
}

static void the_wrong_key_fails(void **state)
{
	sova_sealed_key k = key_of(SECRET), wrong = key_of(SECRET "-rotated");
	size_t n = 2 * SEG + 1;
	uint8_t *plain = pattern(n);
	sealed_buf b = seal(&k, REC_A, plain, n);
	expect_failure(&wrong, &b, 0, n - 1, "segment 0");
	free(b.sealed);
	free(plain);
}

static void an_empty_recording_is_one_sealed_segment(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	sealed_buf b = seal(&k, REC_A, NULL, 0);
	assert_int_equal(sova_sealed_segments(&b.layout), 1);
	assert_int_equal(sova_sealed_total(&b.layout), SOVA_SEALED_OVERHEAD);
	uint8_t none[1];
	assert_true(sova_sealed_open_segment(&k, &b.layout, 0, b.sealed, SOVA_SEALED_OVERHEAD, none));
	b.sealed[30] ^= 1;
	assert_false(sova_sealed_open_segment(&k, &b.layout, 0, b.sealed, SOVA_SEALED_OVERHEAD, none));
	char err[128];
	assert_false(sova_sealed_read_range(&k, &b.layout, 0, 0, fetch_mem, &b, none, err, sizeof err));
	free(b.sealed);
}

static void bad_layouts_are_refused(void **state)
{
	sova_sealed_key k = key_of(SECRET);
	uint8_t out[64];
	sova_sealed_layout no_id = {.rec_id = REC_A, .rec_id_len = 0, .plain_bytes = 1, .segment_size = SEG};
	assert_false(sova_sealed_seal(&k, &no_id, (const uint8_t *)"x", out));
	sova_sealed_layout huge = {.rec_id = REC_A, .rec_id_len = 12, .plain_bytes = 1,
				   .segment_size = SOVA_SEALED_SEGMENT_MAX + 1};
	assert_false(sova_sealed_seal(&k, &huge, (const uint8_t *)"x", out));
	sova_sealed_layout ok = {.rec_id = REC_A, .rec_id_len = 12, .plain_bytes = 1, .segment_size = SEG};
	assert_false(sova_sealed_seal_segment(&k, &ok, 1, (const uint8_t *)"x", out)); /* no segment 1 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_are_derived_per_purpose_and_named),
		cmocka_unit_test(round_trip_and_layout),
		cmocka_unit_test(ranges_across_segment_edges_fetch_only_what_they_touch),
		cmocka_unit_test(a_tampered_byte_fails_its_segment),
		cmocka_unit_test(swapped_or_moved_segments_fail),
		cmocka_unit_test(a_truncated_stream_is_detected),
		cmocka_unit_test(the_wrong_key_fails),
		cmocka_unit_test(an_empty_recording_is_one_sealed_segment),
		cmocka_unit_test(bad_layouts_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The session writer's spool file (core/db/writer.c), through its public API: with the database
 * pool pointing at a loopback port nobody listens on, every operation goes to the spool, and
 * the file on disk is read back here byte by byte.
 *
 * The tests run in order and share one spool directory: the writer is one per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "db/mongo.h"
#include "db/writer.h"

#define HDR_SIZE 24
#define REC_HDR 12
#define LINES 5

static char dir[64], spool[128];
static char err[256];
static uint64_t generation;

/* ---- reading the file ---- */

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* CRC-32 (IEEE, reflected), computed here independently of the writer's table. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	uint8_t *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The header: magic, the offset of the first record not applied yet, the CRC of both. */
static uint64_t check_header(const uint8_t *buf, size_t len)
{
	assert_true(len >= HDR_SIZE);
	assert_memory_equal(buf, "SOVASPL1", 8);
	assert_int_equal(get32(buf + 16), crc32_of(buf, 16));
	assert_int_equal(get32(buf + 20), 0);
	uint64_t done = get64(buf + 8);
	assert_true(done >= HDR_SIZE && done <= len);
	return done;
}

typedef struct record {
	size_t at, len; /* offset of the record; payload length */
	const char *collection;
	int32_t kind;
	bson_oid_t id;
	bson_t filter, body;
} record;

static void view(const bson_t *op, const char *key, bson_t *out)
{
	bson_iter_t it;
	uint32_t n;
	const uint8_t *data;
	assert_true(bson_iter_init_find(&it, op, key));
	assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
	bson_iter_document(&it, &n, &data);
	assert_true(bson_init_static(out, data, n));
}

/* Every record from off to len: its magic, length and checksum, and its payload's fields. */
static size_t parse_records(const uint8_t *buf, size_t len, size_t off, record *out, size_t max)
{
	size_t n = 0;
	while (off < len) {
		assert_true(n < max);
		assert_true(len - off >= REC_HDR);
		assert_memory_equal(buf + off, "SvW1", 4);
		uint32_t plen = get32(buf + off + 4);
		assert_true(plen <= len - off - REC_HDR);
		const uint8_t *p = buf + off + REC_HDR;
		assert_int_equal(get32(buf + off + 8), crc32_of(p, plen));
		record *r = &out[n++];
		r->at = off;
		r->len = plen;
		bson_t op;
		bson_iter_t it;
		assert_true(bson_init_static(&op, p, plen));
		assert_true(bson_validate(&op, BSON_VALIDATE_NONE, NULL));
		assert_true(bson_iter_init_find(&it, &op, "c") && BSON_ITER_HOLDS_UTF8(&it));
		r->collection = bson_iter_utf8(&it, NULL);
		assert_true(bson_iter_init_find(&it, &op, "k") && BSON_ITER_HOLDS_INT32(&it));
		r->kind = bson_iter_int32(&it);
		assert_true(bson_iter_init_find(&it, &op, "i") && BSON_ITER_HOLDS_OID(&it));
		bson_oid_copy(bson_iter_oid(&it), &r->id);
		view(&op, "f", &r->filter);
		view(&op, "b", &r->body);
		off += REC_HDR + plen;
	}
	return n;
}

/* The line number an update of push_line carries: body.$push.lines.n */
static int32_t line_of(const record *r)
{
	bson_iter_t it, found;
	assert_int_equal(r->kind, SOVA_WRITE_UPDATE);
	assert_true(bson_iter_init(&it, &r->body));
	assert_true(bson_iter_find_descendant(&it, "$push.lines.n", &found));
	assert_true(BSON_ITER_HOLDS_INT32(&found));
	return bson_iter_int32(&found);
}

/* ---- driving the writer ---- */

static void push_line(int32_t n)
{
	bson_t *filter = BCON_NEW("_id", BCON_UTF8("session-1"));
	bson_t *update = BCON_NEW("$push", "{", "lines", "{", "n", BCON_INT32(n), "text", BCON_UTF8("a line"), "}", "}");
	assert_true(sova_writer_push("sessions", SOVA_WRITE_UPDATE, filter, update, err, sizeof err));
	bson_destroy(filter);
	bson_destroy(update);
}

static void start(void)
{
	sova_writer_config cfg = {.spool_dir = dir, .retry_ms = 20};
	assert_true(sova_writer_start(&cfg, &generation, err, sizeof err));
}

static void stats(sova_writer_stats *s) { sova_writer_get_stats(s); }

/* Waits (up to 20 s) until the writer has spooled `records` and holds nothing in memory. */
static void wait_spooled(uint64_t records)
{
	sova_writer_stats s;
	for (int i = 0; i < 2000; i++) {
		stats(&s);
		if (s.spooled == records && s.queued == 0)
			return;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fail_msg("spooled %llu, queued %llu; expected %llu spooled", (unsigned long long)s.spooled,
		 (unsigned long long)s.queued, (unsigned long long)records);
}

static void stop_keeping(uint64_t expected)
{
	uint64_t remaining = 0;
	assert_false(sova_writer_stop(generation, 0, &remaining));
	assert_int_equal(remaining, expected);
}

/* A loopback port that refuses connections: bound to find a free one, then closed. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sova-writer-spool-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(spool, sizeof spool, "%s/%s", dir, SOVA_WRITER_SPOOL_FILE);
	char uri[160];
	snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/sova_test?serverSelectionTimeoutMS=100&connectTimeoutMS=100",
		 closed_port());
	return sova_db_open(uri, err, sizeof err) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sova_writer_stop(0, 0, NULL);
	char path[160];
	const char *names[] = {SOVA_WRITER_SPOOL_FILE, SOVA_WRITER_REJECTED_FILE, "writes.lock", "writes.spool.tmp"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	sova_db_close();
	return 0;
}

/* ---- the tests ---- */

static void every_operation_goes_to_the_spool_in_the_documented_format(void **state)
{
	(void)state;
	start();
	for (int32_t n = 1; n <= LINES; n++)
		push_line(n);
	bson_t *doc = BCON_NEW("note", BCON_UTF8("an insert without _id"));
	assert_true(sova_writer_push("events", SOVA_WRITE_INSERT, NULL, doc, err, sizeof err));
	bson_destroy(doc);
	wait_spooled(LINES + 1);
	sova_writer_stats s;
	stats(&s);
	assert_true(s.db_down);
	assert_int_equal(s.applied, 0);
	assert_int_equal(s.corrupt_skipped, 0);
	assert_true(s.spool_bytes > 0);
	stop_keeping(LINES + 1);

	size_t len;
	uint8_t *buf = read_all(spool, &len);
	assert_int_equal(check_header(buf, len), HDR_SIZE); /* nothing applied yet */
	record r[16];
	assert_int_equal(parse_records(buf, len, HDR_SIZE, r, 16), LINES + 1);
	for (int i = 0; i < LINES; i++) {
		assert_string_equal(r[i].collection, "sessions");
		assert_int_equal(line_of(&r[i]), i + 1); /* in the order pushed */
		bson_iter_t it;
		assert_true(bson_iter_init_find(&it, &r[i].filter, "_id"));
		assert_string_equal(bson_iter_utf8(&it, NULL), "session-1");
		for (int j = 0; j < i; j++) /* every operation its own id */
			assert_false(bson_oid_equal(&r[i].id, &r[j].id));
	}
	record *ins = &r[LINES];
	assert_string_equal(ins->collection, "events");
	assert_int_equal(ins->kind, SOVA_WRITE_INSERT);
	bson_iter_t it;
	assert_true(bson_iter_init_find(&it, &ins->body, "_id") && BSON_ITER_HOLDS_OID(&it));
	assert_true(bson_oid_equal(bson_iter_oid(&it), &ins->id)); /* an insert's _id is its id */
	assert_true(bson_iter_init_find(&it, &ins->body, "note"));
	assert_int_equal(bson_count_keys(&ins->filter), 0);
	free(buf);
}

static void a_torn_tail_and_a_bad_checksum_are_skipped_and_counted(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = read_all(spool, &len);
	record r[16];
	assert_int_equal(parse_records(buf, len, HDR_SIZE, r, 16), LINES + 1);
	/* the first record's payload damaged; then a crash in the middle of an append */
	buf[r[0].at + REC_HDR + r[0].len / 2] ^= 0x5a;
	static const uint8_t torn[] = {'S', 'v', 'W', '1', 0xf4, 0x01, 0, 0, 0x12, 0x34, 0x56, 0x78, 'h', 'a', 'l', 'f'};
	uint8_t *damaged = malloc(len + sizeof torn);
	assert_non_null(damaged);
	memcpy(damaged, buf, len);
	memcpy(damaged + len, torn, sizeof torn);
	write_all(spool, damaged, len + sizeof torn);
	free(damaged);

	start();
	sova_writer_stats s;
	stats(&s);
	assert_true(s.corrupt_skipped >= 1); /* the torn tail, cut at start */
	/* the replay meets the bad record first: it skips it and stops at the next, the database being away */
	for (int i = 0; i < 2000 && (stats(&s), s.corrupt_skipped < 2); i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(s.corrupt_skipped, 2);
	assert_int_equal(s.applied, 0);
	wait_spooled(LINES);
	stop_keeping(LINES);

	size_t after_len;
	uint8_t *after = read_all(spool, &after_len);
	assert_int_equal(after_len, len);                          /* the torn tail is gone */
	assert_int_equal(check_header(after, after_len), r[1].at); /* replay resumes after the bad record */
	assert_memory_equal(after + r[1].at, buf + r[1].at, len - r[1].at);
	free(after);
	free(buf);
}

static void what_is_pushed_after_a_restart_replays_after_the_spool(void **state)
{
	(void)state;
	start();
	push_line(LINES + 1);
	push_line(LINES + 2);
	wait_spooled(LINES + 2);
	stop_keeping(LINES + 2);

	size_t len;
	uint8_t *buf = read_all(spool, &len);
	uint64_t done = check_header(buf, len);
	record r[16];
	assert_int_equal(parse_records(buf, len, (size_t)done, r, 16), LINES + 2);
	/* lines 2..5, the insert, then lines 6 and 7: the order the next replay applies them in */
	for (int i = 0; i < LINES - 1; i++)
		assert_int_equal(line_of(&r[i]), i + 2);
	assert_int_equal(r[LINES - 1].kind, SOVA_WRITE_INSERT);
	assert_int_equal(line_of(&r[LINES]), LINES + 1);
	assert_int_equal(line_of(&r[LINES + 1]), LINES + 2);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_operation_goes_to_the_spool_in_the_documented_format),
		cmocka_unit_test(a_torn_tail_and_a_bad_checksum_are_skipped_and_counted),
		cmocka_unit_test(what_is_pushed_after_a_restart_replays_after_the_spool),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

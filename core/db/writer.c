/* The durable asynchronous writer (see writer.h for the contract).
 *
 * The order of operations is the order of one conceptual queue: [held] ++ [spool file] ++
 * [memory list]. Every path keeps that invariant:
 *   - the thread takes from memory only when the spool is empty and nothing is held;
 *   - the thread moves memory to the END of the spool (memory is always newer than the spool);
 *   - a push that finds memory full moves memory and then itself to the END of the spool;
 *   - an operation taken from memory that fails transiently goes to the FRONT of the spool
 *     (appended when the spool is empty, else the spool is rewritten with it first), or stays
 *     "held" in memory, ahead of everything, when the disk refuses it.
 *
 * Locks: spool_mu (the file) is taken before mu (queue and counters) when both are needed.
 * Pushes take only mu on their usual path, never for longer than a list append: file writes
 * and fsyncs happen under spool_mu. Counters about the spool (q.spooled, q.spool_bytes,
 * q.spool_present) change only with both locks held, so either lock is enough to read them. */
#include "db/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/spill.h"
#include "db/mongo.h"
#include "db/recordings.h"
#include "util/log.h"

/* ---- File format ----
 * Spool and rejected files: a 24-byte header, then records.
 *   header:  "SOVASPL1" | u64 LE offset of the first record not applied yet
 *            | u32 LE CRC-32 of the 16 bytes before | 4 zero bytes
 *   record:  "SvW1" | u32 LE payload length | u32 LE CRC-32 of the payload | payload
 *   payload: BSON {c: collection, k: kind (int32), i: the operation's id (ObjectId),
 *                  f: filter, b: document or update}
 * The header's offset is rewritten (without fsync) after each replayed record, so a process that
 * dies during a replay does not apply twice what it had applied; after a power loss it may.
 * The record magic lets a reader find the next intact record after a damaged one. */
#define HDR_SIZE 24
#define REC_HDR 12
#define MAX_DOCUMENT ((uint32_t)16 << 20) /* MongoDB's limit for one document */
#define MAX_PAYLOAD (2 * MAX_DOCUMENT + 4096) /* filter + body + the record's own fields */
#define COPY_CHUNK 65536
#define REJECT_ATTEMPTS 3 /* tries for a server error of unknown kind before it counts as permanent */
#define MAX_COLLECTION 120

static const uint8_t file_magic[8] = {'S', 'O', 'V', 'A', 'S', 'P', 'L', '1'};
static const uint8_t rec_magic[4] = {'S', 'v', 'W', '1'};

/* One operation: the whole record, as it is written to the spool. */
typedef struct node {
	struct node *next;
	size_t size; /* bytes in rec */
	uint8_t rec[];
} node;

enum { REC_OK, REC_BAD, REC_IOERR };
enum { APPLIED, PERMANENT, TRANSIENT };

/* ---- State ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;  /* start and stop, one at a time */
static pthread_mutex_t spool_mu = PTHREAD_MUTEX_INITIALIZER; /* the spool file (sp) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;       /* the queue and counters (q) */
static pthread_cond_t work;     /* to the thread: a push, spool work, a stop (CLOCK_MONOTONIC) */
static pthread_cond_t progress; /* to flush: something was applied or spooled */
static uint32_t crc_table[256];

/* Set by start before the thread exists, constant while it runs (life_mu). */
static struct {
	bool running;
	pthread_t thread;
	uint64_t generation;
	int lock_fd;
	int retry_ms;
	size_t max_bytes;
	char dir[PATH_MAX];
	char spool_path[PATH_MAX];
	char tmp_path[PATH_MAX];
	char rejected_path[PATH_MAX];
} cfg = {.lock_fd = -1};

/* mu */
static struct {
	bool running, accepting, stopping, down;
	node *head, *tail;
	uint64_t queued, queued_bytes; /* memory list + the operation in flight + held */
	uint64_t spooled, spool_bytes; /* also need spool_mu to change */
	bool spool_present;
	uint64_t applied, failed, overflowed, corrupt;
	uint64_t recordings_stored, recordings_lost;
	char last_error[192];
} q;

/* spool_mu */
static struct {
	int fd;         /* -1: no spool file */
	uint64_t done;  /* first byte not applied yet */
	uint64_t end;   /* end of the last intact record */
} sp = {.fd = -1};

/* The writer thread's own. */
static node *held;        /* failed transiently and could not be spooled: goes first */
static bool backoff;      /* wait until retry_at before touching the spool or held again */
static uint64_t retry_at; /* CLOCK_MONOTONIC ms */
static bool spool_failing;
static uint64_t replayed;  /* since the spool was last empty, for the log */

static void init_once(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	/* Timed waits use the monotonic clock: a wall-clock jump must not stall or spin the thread. */
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) == 0) {
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&work, &attr);
		pthread_cond_init(&progress, &attr);
		pthread_condattr_destroy(&attr);
	} else {
		pthread_cond_init(&work, NULL);
		pthread_cond_init(&progress, NULL);
	}
}

/* ---- Small helpers ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void to_timespec(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

static const char *err_text(int e, char *buf, size_t n)
{
	return strerror_r(e, buf, n); /* GNU variant (_GNU_SOURCE) */
}

/* Logs "what: strerror(errno)". */
static void log_errno(const char *level, const char *event, const char *what)
{
	char eb[128], m[PATH_MAX + 256];
	snprintf(m, sizeof m, "%s: %s", what, err_text(errno, eb, sizeof eb));
	sova_log(level, event, m);
}

static void note_error(const char *text)
{
	pthread_mutex_lock(&mu);
	snprintf(q.last_error, sizeof q.last_error, "%s", text);
	pthread_mutex_unlock(&mu);
}

static void free_list(node *n)
{
	while (n) {
		node *next = n->next;
		free(n);
		n = next;
	}
}

/* Puts list back in front of the memory queue (mu held). */
static void relink_front(node *list)
{
	if (!list)
		return;
	node *last = list;
	while (last->next)
		last = last->next;
	last->next = q.head;
	if (!q.head)
		q.tail = last;
	q.head = list;
}

/* ---- File I/O ---- */

static bool write_at(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return true;
}

/* 1: all n bytes read; 0: the file ends first; -1: error (errno). */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 1;
}

static bool write_header(int fd, uint64_t done)
{
	uint8_t h[HDR_SIZE];
	memcpy(h, file_magic, 8);
	put64(h + 8, done);
	put32(h + 16, crc32_of(h, 16));
	memset(h + 20, 0, 4);
	return write_at(fd, h, HDR_SIZE, 0);
}

/* A new directory entry is durable only once the directory is synced. */
static bool sync_dir(void)
{
	int fd = open(cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = fsync(fd) == 0;
	int e = errno;
	close(fd);
	errno = e;
	return ok;
}

/* Reads the record at off, which must end by end. REC_OK: *payload (caller frees) and *len. */
static int read_record(int fd, uint64_t off, uint64_t end, uint8_t **payload, uint32_t *len)
{
	uint8_t h[REC_HDR];
	if (off >= end || end - off < REC_HDR)
		return REC_BAD;
	int r = read_at(fd, h, REC_HDR, off);
	if (r <= 0)
		return r < 0 ? REC_IOERR : REC_BAD;
	uint32_t n = get32(h + 4);
	if (memcmp(h, rec_magic, 4) != 0 || n < 5 || n > MAX_PAYLOAD || n > end - off - REC_HDR)
		return REC_BAD;
	uint8_t *p = malloc(n);
	if (!p)
		return REC_IOERR;
	r = read_at(fd, p, n, off + REC_HDR);
	if (r <= 0 || crc32_of(p, n) != get32(h + 8)) {
		free(p);
		return r < 0 ? REC_IOERR : REC_BAD;
	}
	*payload = p;
	*len = n;
	return REC_OK;
}

/* After a damaged record at from-1: the offset of the next intact record, or end when none
 * follows. REC_OK or REC_IOERR. */
static int find_next(int fd, uint64_t from, uint64_t end, uint64_t *next)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	if (!buf)
		return REC_IOERR;
	int result = REC_OK;
	*next = end;
	for (uint64_t pos = from; pos < end && end - pos >= REC_HDR;) {
		size_t n = end - pos < COPY_CHUNK ? (size_t)(end - pos) : COPY_CHUNK;
		int r = read_at(fd, buf, n, pos);
		if (r <= 0) {
			result = r < 0 ? REC_IOERR : REC_OK;
			break;
		}
		for (size_t i = 0; i + 4 <= n; i++) {
			if (memcmp(buf + i, rec_magic, 4) != 0)
				continue;
			uint8_t *p;
			uint32_t len;
			int rr = read_record(fd, pos + i, end, &p, &len);
			if (rr == REC_OK) {
				free(p);
				*next = pos + i;
				free(buf);
				return REC_OK;
			}
			if (rr == REC_IOERR) {
				free(buf);
				return REC_IOERR;
			}
		}
		pos += n - 3; /* a magic may straddle two chunks */
	}
	free(buf);
	return result;
}

/* ---- The spool (spool_mu held) ---- */

/* Both locks held: the counters flush and stats read. */
static void mirror_spool(void)
{
	q.spool_present = sp.fd >= 0;
	q.spool_bytes = sp.fd >= 0 && sp.end > sp.done ? sp.end - sp.done : 0;
}

static bool spool_create(void)
{
	if (sp.fd >= 0)
		return true;
	/* No spool file is open, so any file at the path holds only applied records. */
	int fd = open(cfg.spool_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	if (!write_header(fd, HDR_SIZE) || fdatasync(fd) != 0 || !sync_dir()) {
		int e = errno;
		close(fd);
		unlink(cfg.spool_path);
		errno = e;
		return false;
	}
	sp.fd = fd;
	sp.done = sp.end = HDR_SIZE;
	return true;
}

/* Writes the records of list, in order, after the last one and syncs them. On failure the file
 * is cut back to where it was and errno says why. */
static bool spool_append(const node *list)
{
	if (!spool_create())
		return false;
	uint64_t off = sp.end;
	for (const node *n = list; n; n = n->next) {
		if (!write_at(sp.fd, n->rec, n->size, off))
			goto fail;
		off += n->size;
	}
	if (fdatasync(sp.fd) != 0)
		goto fail;
	sp.end = off;
	return true;
fail:;
	int e = errno;
	if (ftruncate(sp.fd, (off_t)sp.end) != 0) {
		/* Leftover bytes past sp.end are overwritten by the next append, or cut as a torn tail
		 * at the next start. */
	}
	errno = e;
	return false;
}

/* Puts x before every record of the spool: a new file with x and then the records not applied
 * yet, synced, renamed over the old one. */
static bool spool_prepend(const node *x)
{
	int fd = open(cfg.tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	uint64_t off = HDR_SIZE;
	bool ok = write_header(fd, HDR_SIZE) && write_at(fd, x->rec, x->size, off);
	off += x->size;
	uint8_t *buf = ok ? malloc(COPY_CHUNK) : NULL;
	if (ok && !buf) {
		ok = false;
		errno = ENOMEM;
	}
	for (uint64_t from = sp.done; ok && from < sp.end;) {
		size_t n = sp.end - from < COPY_CHUNK ? (size_t)(sp.end - from) : COPY_CHUNK;
		int r = read_at(sp.fd, buf, n, from);
		if (r == 0)
			errno = EIO;
		ok = r > 0 && write_at(fd, buf, n, off);
		from += n;
		off += n;
	}
	free(buf);
	ok = ok && fdatasync(fd) == 0 && rename(cfg.tmp_path, cfg.spool_path) == 0;
	if (!ok) {
		int e = errno;
		close(fd);
		unlink(cfg.tmp_path);
		errno = e;
		return false;
	}
	if (!sync_dir())
		log_errno("warn", "writer.spool", "cannot sync the spool directory after a rewrite");
	close(sp.fd);
	sp.fd = fd; /* owned by sp now */
	sp.done = HDR_SIZE;
	sp.end = off;
	return true;
}

/* Everything in the spool was applied: the file goes. */
static void spool_remove(void)
{
	if (sp.fd < 0)
		return;
	close(sp.fd);
	sp.fd = -1;
	sp.done = sp.end = 0;
	if (unlink(cfg.spool_path) != 0 && errno != ENOENT)
		log_errno("warn", "writer.spool", "cannot remove the drained spool");
}

/* At start (no thread yet): opens an existing spool, counts its intact records, cuts a torn tail
 * left by a crash while appending. False with err when the file is not usable. */
static bool spool_load(uint64_t *records, char *err, size_t errlen)
{
	char eb[128], m[PATH_MAX + 256];
	*records = 0;
	sp.fd = -1;
	sp.done = sp.end = 0;
	int fd = open(cfg.spool_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen, "cannot open %s: %s", cfg.spool_path, err_text(errno, eb, sizeof eb));
		return false;
	}
	struct stat st;
	uint8_t h[HDR_SIZE];
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat %s: %s", cfg.spool_path, err_text(errno, eb, sizeof eb));
		close(fd);
		return false;
	}
	uint64_t size = (uint64_t)st.st_size;
	int r = read_at(fd, h, size < HDR_SIZE ? (size_t)size : HDR_SIZE, 0);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", cfg.spool_path, err_text(errno, eb, sizeof eb));
		close(fd);
		return false;
	}
	if (memcmp(h, file_magic, size < 8 ? (size_t)size : 8) != 0) {
		snprintf(err, errlen, "%s is not a Sova spool file (move it away)", cfg.spool_path);
		close(fd);
		return false;
	}
	if (size < HDR_SIZE) {
		/* A crash while the file was being created: it holds no record. */
		close(fd);
		unlink(cfg.spool_path);
		return true;
	}
	uint64_t done = get64(h + 8);
	if (crc32_of(h, 16) != get32(h + 16) || done < HDR_SIZE || done > size) {
		sova_log("warn", "writer.spool", "damaged spool header: replaying the whole spool (inserts are idempotent)");
		done = HDR_SIZE;
	}
	uint64_t off = done, good_end = done, count = 0;
	while (off < size) {
		uint8_t *p;
		uint32_t len;
		int rr = read_record(fd, off, size, &p, &len);
		if (rr == REC_OK) {
			free(p);
			count++;
			off += REC_HDR + len;
			good_end = off;
			continue;
		}
		uint64_t next = size;
		if (rr == REC_IOERR || find_next(fd, off + 1, size, &next) == REC_IOERR) {
			snprintf(err, errlen, "cannot read %s: %s", cfg.spool_path, err_text(errno, eb, sizeof eb));
			close(fd);
			return false;
		}
		off = next; /* a damaged region before intact records is skipped at replay */
	}
	if (good_end < size) {
		snprintf(m, sizeof m, "ignored %llu bytes of a torn or damaged record at the end of the spool "
				      "(a crash while appending)", (unsigned long long)(size - good_end));
		sova_log("warn", "writer.spool", m);
		pthread_mutex_lock(&mu);
		q.corrupt++;
		pthread_mutex_unlock(&mu);
		if (ftruncate(fd, (off_t)good_end) != 0 || fdatasync(fd) != 0)
			log_errno("warn", "writer.spool", "cannot cut the torn tail (new records overwrite it)");
	}
	if (count == 0) {
		close(fd);
		if (unlink(cfg.spool_path) != 0)
			log_errno("warn", "writer.spool", "cannot remove the empty spool");
		return true;
	}
	sp.fd = fd; /* owned by sp now */
	sp.done = done;
	sp.end = good_end;
	*records = count;
	return true;
}

/* Keeps an operation the server refused for good in writes.rejected, for an operator. */
static void keep_rejected(const uint8_t *payload, uint32_t len)
{
	int fd = open(cfg.rejected_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_errno("error", "writer.rejected", "cannot open writes.rejected: a rejected operation is lost");
		return;
	}
	struct stat st;
	bool ok = fstat(fd, &st) == 0;
	uint8_t h[HDR_SIZE > REC_HDR ? HDR_SIZE : REC_HDR];
	if (ok && st.st_size == 0) {
		memcpy(h, file_magic, 8);
		put64(h + 8, HDR_SIZE);
		put32(h + 16, crc32_of(h, 16));
		memset(h + 20, 0, 4);
		ok = write_at(fd, h, HDR_SIZE, 0); /* O_APPEND: at the end */
	}
	memcpy(h, rec_magic, 4);
	put32(h + 4, len);
	put32(h + 8, crc32_of(payload, len));
	ok = ok && write_at(fd, h, REC_HDR, 0) && write_at(fd, payload, len, 0) && fdatasync(fd) == 0;
	if (!ok)
		log_errno("error", "writer.rejected", "cannot write writes.rejected: a rejected operation is lost");
	close(fd);
}

/* ---- Applying operations ---- */

typedef struct op_view {
	const char *coll;
	int32_t kind;
	bool has_id; /* false only in records spooled before operations had ids: applied unguarded */
	bson_oid_t id;
	bson_t filter, body; /* static views into the payload */
} op_view;

/* Update operators whose second application leaves the document as the first left it. */
static bool idempotent_operator(const char *op)
{
	static const char *const ops[] = {"$set", "$unset", "$setOnInsert", "$addToSet", "$min",
					  "$max", "$pull", "$pullAll", "$currentDate"};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

/* An update with any other operator ($push, $inc, ...) is guarded by its id. */
static bool needs_guard(const op_view *v)
{
	bson_iter_t it;
	if (!v->has_id || v->kind == SOVA_WRITE_INSERT || !bson_iter_init(&it, &v->body))
		return false;
	while (bson_iter_next(&it))
		if (!idempotent_operator(bson_iter_key(&it)))
			return true;
	return false;
}

/* The guarded form of an update: the filter excludes documents that already carry the
 * operation's id, and the update adds it (to the $push it may have), so applying it twice
 * changes the document once. */
static bool guard(const op_view *v, bson_t *filter, bson_t *body)
{
	bson_t ne, push;
	bson_iter_t it;
	bson_init(filter);
	bson_init(body);
	bool ok = bson_concat(filter, &v->filter) && BSON_APPEND_DOCUMENT_BEGIN(filter, SOVA_WRITER_OPS_FIELD, &ne);
	if (ok) {
		bool inner = BSON_APPEND_OID(&ne, "$ne", &v->id);
		ok = bson_append_document_end(filter, &ne) && inner;
	}
	bool pushed = false;
	ok = ok && bson_iter_init(&it, &v->body);
	while (ok && bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "$push") != 0) {
			ok = bson_append_iter(body, NULL, 0, &it);
			continue;
		}
		uint32_t len;
		const uint8_t *data;
		bson_t fields;
		bson_iter_document(&it, &len, &data);
		ok = bson_init_static(&fields, data, len) && BSON_APPEND_DOCUMENT_BEGIN(body, "$push", &push);
		if (ok) {
			bool inner = bson_concat(&push, &fields) && BSON_APPEND_OID(&push, SOVA_WRITER_OPS_FIELD, &v->id);
			ok = bson_append_document_end(body, &push) && inner;
		}
		pushed = true;
	}
	if (ok && !pushed && BSON_APPEND_DOCUMENT_BEGIN(body, "$push", &push)) {
		bool inner = BSON_APPEND_OID(&push, SOVA_WRITER_OPS_FIELD, &v->id);
		ok = bson_append_document_end(body, &push) && inner;
	}
	if (!ok) {
		bson_destroy(filter);
		bson_destroy(body);
	}
	return ok;
}

/* A guarded upsert that met a duplicate key: applied before when the document its filter names
 * already carries the operation's id. */
static bool applied_before(mongoc_collection_t *c, const op_view *v)
{
	bson_t f;
	bson_init(&f);
	bool ok = bson_concat(&f, &v->filter) && BSON_APPEND_OID(&f, SOVA_WRITER_OPS_FIELD, &v->id);
	bson_error_t e;
	int64_t n = ok ? mongoc_collection_count_documents(c, &f, NULL, NULL, NULL, &e) : -1; /* -1: not known */
	bson_destroy(&f);
	return n > 0;
}

static bool view_doc(const bson_t *op, const char *key, bson_t *out)
{
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;
	if (!bson_iter_init_find(&it, op, key) || !BSON_ITER_HOLDS_DOCUMENT(&it))
		return false;
	bson_iter_document(&it, &len, &data);
	return bson_init_static(out, data, len);
}

static bool parse_op(const uint8_t *p, uint32_t len, op_view *v)
{
	bson_t op;
	bson_iter_t it;
	if (!bson_init_static(&op, p, len) || !bson_validate(&op, BSON_VALIDATE_NONE, NULL))
		return false;
	if (!bson_iter_init_find(&it, &op, "c") || !BSON_ITER_HOLDS_UTF8(&it))
		return false;
	v->coll = bson_iter_utf8(&it, NULL);
	if (!bson_iter_init_find(&it, &op, "k") || !BSON_ITER_HOLDS_INT32(&it))
		return false;
	v->kind = bson_iter_int32(&it);
	v->has_id = bson_iter_init_find(&it, &op, "i");
	if (v->has_id && !BSON_ITER_HOLDS_OID(&it))
		return false;
	if (v->has_id)
		bson_oid_copy(bson_iter_oid(&it), &v->id);
	return v->kind >= SOVA_WRITE_INSERT && v->kind <= SOVA_WRITE_RECORDING && view_doc(&op, "f", &v->filter) &&
	       view_doc(&op, "b", &v->body);
}

static const char *kind_name(int32_t kind)
{
	return kind == SOVA_WRITE_INSERT ? "insert" : kind == SOVA_WRITE_UPDATE ? "update"
	     : kind == SOVA_WRITE_UPSERT ? "upsert" : "recording";
}

enum { E_UNAVAILABLE, E_DUPLICATE, E_VALIDATION, E_INVALID, E_REJECTED };

/* Server codes that mean "not now" rather than "never" (MongoDB's retryable and shutdown codes). */
static bool retryable_code(uint32_t code)
{
	static const uint32_t codes[] = {6,     7,     24,    50,    63,    64,    89,    91,    134,
					 150,   189,   202,   262,   9001,  10107, 11600, 11602, 13435,
					 13436};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i] == code)
			return true;
	return false;
}

/* Sorts a driver error into a class and describes it without document contents: the server's
 * own message can quote values (a duplicate key names the key), so server errors keep only
 * their code. */
static int classify(const bson_error_t *e, const bson_t *reply, char *text, size_t n)
{
	if (e->domain == MONGOC_ERROR_SERVER) {
		if (e->code == 11000 || e->code == 11001 || e->code == 12582) {
			snprintf(text, n, "duplicate_key (code %u)", e->code);
			return E_DUPLICATE;
		}
		if (e->code == 121) {
			snprintf(text, n, "validation (code %u)", e->code);
			return E_VALIDATION;
		}
		if (retryable_code(e->code) || mongoc_error_has_label(reply, "RetryableWriteError")) {
			snprintf(text, n, "unavailable: server code %u", e->code);
			return E_UNAVAILABLE;
		}
		snprintf(text, n, "rejected (code %u)", e->code);
		return E_REJECTED;
	}
	if (e->domain == MONGOC_ERROR_WRITE_CONCERN) {
		snprintf(text, n, "unavailable: write concern (code %u)", e->code);
		return E_UNAVAILABLE;
	}
	if (e->domain == MONGOC_ERROR_BSON || e->domain == MONGOC_ERROR_COMMAND ||
	    e->domain == MONGOC_ERROR_NAMESPACE ||
	    (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_TOO_BIG)) {
		snprintf(text, n, "invalid (domain %u code %u)", e->domain, e->code);
		return E_INVALID;
	}
	/* Network, server selection, protocol, pool: the database is not reachable now. The driver's
	 * own messages here name hosts, never documents. */
	snprintf(text, n, "unavailable: %.160s", e->message); /* the class first, the detail cut */
	return E_UNAVAILABLE;
}

/* Waits until `until` (or a push when wake_on_push, or a stop). */
static void wait_work(uint64_t until, bool wake_on_push)
{
	struct timespec ts;
	to_timespec(until, &ts);
	pthread_mutex_lock(&mu);
	while (!q.stopping && !(wake_on_push && q.head) && now_ms() < until)
		if (pthread_cond_timedwait(&work, &mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&mu);
}

static bool stopping(void)
{
	pthread_mutex_lock(&mu);
	bool s = q.stopping;
	pthread_mutex_unlock(&mu);
	return s;
}

/* ---- The recording operation ---- */

static void count_recording(bool stored)
{
	pthread_mutex_lock(&mu);
	if (stored)
		q.recordings_stored++;
	else
		q.recordings_lost++;
	pthread_mutex_unlock(&mu);
}

/* The WAV the spill becomes: the header, then the spill's PCM as it is read back. */
typedef struct wav_source {
	uint8_t header[SOVA_WAV_HEADER_LEN];
	size_t header_at;          /* header bytes handed out */
	sova_spill_reader *reader; /* borrowed */
} wav_source;

static bool wav_read(void *ud, uint8_t *out, size_t n, char *err, size_t errlen)
{
	wav_source *w = ud;
	size_t h = SOVA_WAV_HEADER_LEN - w->header_at;
	h = h < n ? h : n;
	memcpy(out, w->header + w->header_at, h);
	w->header_at += h;
	return h == n || sova_spill_read(w->reader, out + h, n - h, err, errlen);
}

/* A Lua number as sova_to_bson writes it (int32, int64 or double), so the summary this writes is
 * the one lua/sova/recording.lua writes. */
static bool append_lua_number(bson_t *doc, const char *key, double n)
{
	if (n == floor(n) && fabs(n) <= 9007199254740992.0)
		return n >= INT32_MIN && n <= INT32_MAX ? BSON_APPEND_INT32(doc, key, (int32_t)n)
							: BSON_APPEND_INT64(doc, key, (int64_t)n);
	return BSON_APPEND_DOUBLE(doc, key, n);
}

/* The session's summary: recording = {bytes, duration_seconds, content_type}. */
static int set_summary(const op_view *v, uint64_t bytes, double duration)
{
	char text[192], m[256];
	bson_t body = BSON_INITIALIZER, set, rec;
	bool built = BSON_APPEND_DOCUMENT_BEGIN(&body, "$set", &set) && BSON_APPEND_DOCUMENT_BEGIN(&set, "recording", &rec) &&
		     append_lua_number(&rec, "bytes", (double)bytes) &&
		     append_lua_number(&rec, "duration_seconds", duration) &&
		     BSON_APPEND_UTF8(&rec, "content_type", "audio/wav") && bson_append_document_end(&set, &rec) &&
		     bson_append_document_end(&body, &set);
	mongoc_client_t *client = built ? sova_db_pop() : NULL;
	if (!client) {
		bson_destroy(&body);
		note_error(built ? "unavailable: database pool closed" : "unavailable: out of memory");
		return TRANSIENT;
	}
	mongoc_collection_t *c = mongoc_client_get_collection(client, sova_db_name(), v->coll);
	bson_t reply;
	bson_error_t e;
	bool ok = mongoc_collection_update_one(c, &v->filter, &body, NULL, &reply, &e);
	int cls = ok ? -1 : classify(&e, &reply, text, sizeof text);
	bson_destroy(&reply);
	bson_destroy(&body);
	mongoc_collection_destroy(c);
	sova_db_push(client);
	if (ok)
		return APPLIED;
	note_error(text);
	if (cls == E_UNAVAILABLE)
		return TRANSIENT;
	snprintf(m, sizeof m, "recording stored, but the session's summary was refused: %s", text);
	sova_log("error", "writer.recording", m);
	return PERMANENT;
}

/* Reads the operation's ids: filter {_id: session, organization_id: org}, body {spill, path}. */
static bool recording_args(const op_view *v, bson_oid_t *org, bson_oid_t *session, const char **spill,
			   const char **path)
{
	bson_iter_t it;
	if (!bson_iter_init_find(&it, &v->filter, "_id") || !BSON_ITER_HOLDS_OID(&it))
		return false;
	bson_oid_copy(bson_iter_oid(&it), session);
	if (!bson_iter_init_find(&it, &v->filter, "organization_id") || !BSON_ITER_HOLDS_OID(&it))
		return false;
	bson_oid_copy(bson_iter_oid(&it), org);
	if (!bson_iter_init_find(&it, &v->body, "spill") || !BSON_ITER_HOLDS_UTF8(&it))
		return false;
	*spill = bson_iter_utf8(&it, NULL);
	*path = NULL;
	if (bson_iter_init_find(&it, &v->body, "path") && BSON_ITER_HOLDS_UTF8(&it))
		*path = bson_iter_utf8(&it, NULL);
	return true;
}

/* A spill the registry does not know: stored before a restart (the recording is there), or lost
 * with the process that held its key. */
static int recording_without_key(const bson_oid_t *org, const bson_oid_t *session, const char *path)
{
	char err[192];
	sova_recording_info info;
	sova_rec_status st = sova_recording_find(org, session, &info, err, sizeof err);
	if (st == SOVA_REC_ERROR) {
		note_error("unavailable: database (recording lookup)");
		return TRANSIENT;
	}
	if (path && sova_spill_path_ok(path))
		unlink(path); /* unreadable without its key: nothing to keep */
	if (st == SOVA_REC_OK)
		return APPLIED; /* a replay of a store that completed */
	sova_log("error", "writer.recording",
		 "a call recording is lost: its spill's key did not survive the process that recorded it (by design: "
		 "no key on disk)");
	count_recording(false);
	return PERMANENT;
}

/* Whether the spill, as a WAV, is the recording already stored (sha256 of the plaintext): a
 * replay of a store that completed, or another recording. -1 when the spill cannot be read. */
static int spill_is_stored(const sova_recording_spill *s, const sova_recording_info *info)
{
	char err[160];
	wav_source src = {.header_at = 0};
	sova_spill_wav_header(src.header, s->sample_rate, (uint32_t)s->pcm_bytes);
	src.reader = sova_spill_open(s, err, sizeof err);
	if (!src.reader)
		return -1;
	crypto_hash_sha256_state sha;
	crypto_hash_sha256_init(&sha);
	uint8_t buf[SOVA_SPILL_CHUNK]; /* PHI: wiped */
	uint64_t left = SOVA_WAV_HEADER_LEN + s->pcm_bytes;
	bool ok = true;
	while (ok && left > 0) {
		size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
		ok = wav_read(&src, buf, n, err, sizeof err);
		if (ok)
			crypto_hash_sha256_update(&sha, buf, n);
		left -= n;
	}
	sodium_memzero(buf, sizeof buf);
	sova_spill_reader_free(src.reader);
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof digest + 1];
	crypto_hash_sha256_final(&sha, digest);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	return ok ? strcmp(hex, info->sha256) == 0 : -1;
}

static int apply_recording(const op_view *v)
{
	char err[256], m[400];
	bson_oid_t org, session;
	const char *spill_id, *path;
	if (!recording_args(v, &org, &session, &spill_id, &path)) {
		note_error("invalid: malformed recording operation");
		sova_log("error", "writer.recording", "a malformed recording operation was dropped");
		return PERMANENT;
	}
	sova_recording_spill s;
	if (!sova_spill_lookup(spill_id, &s))
		return recording_without_key(&org, &session, path);
	sova_sealed_key key;
	if (!sova_recording_process_key(&key)) {
		sova_recording_spill_wipe(&s);
		note_error("unavailable: no recording key (recording.set_key was not called)");
		return TRANSIENT; /* the spill waits for the key */
	}
	uint64_t wav_bytes = SOVA_WAV_HEADER_LEN + s.pcm_bytes;
	double duration = floor((double)s.pcm_bytes / ((double)s.sample_rate * 4) * 100 + 0.5) / 100;
	wav_source src = {.header_at = 0};
	sova_spill_wav_header(src.header, s.sample_rate, (uint32_t)s.pcm_bytes);
	src.reader = sova_spill_open(&s, err, sizeof err);
	sova_recording_info info;
	sova_rec_status st = src.reader ? sova_recording_store_stream(&org, &session, "audio/wav", &key, wav_bytes, wav_read,
								      &src, &info, err, sizeof err)
					: SOVA_REC_SOURCE;
	sova_spill_reader_free(src.reader);
	sova_sealed_key_wipe(&key);
	int same = st == SOVA_REC_EXISTS ? spill_is_stored(&s, &info) : 0;
	sova_recording_spill_wipe(&s);
	if (st == SOVA_REC_ERROR) {
		note_error("unavailable: database (recording store)");
		return TRANSIENT; /* retried; the spill stays until stored */
	}
	if (st == SOVA_REC_EXISTS && same == 0) {
		sova_log("error", "writer.recording", "the session already has another recording: this one is dropped");
		sova_spill_discard(spill_id);
		return PERMANENT;
	}
	if (st == SOVA_REC_EXISTS && same < 0)
		st = SOVA_REC_SOURCE;
	if (st != SOVA_REC_OK && st != SOVA_REC_EXISTS) { /* the spill is unreadable: it cannot get better */
		snprintf(m, sizeof m, "a call recording is lost: its spill cannot be read back (%s)", err);
		sova_log("error", "writer.recording", m);
		sova_spill_discard(spill_id);
		count_recording(false);
		return PERMANENT;
	}
	int r = set_summary(v, wav_bytes, duration);
	if (r == TRANSIENT)
		return TRANSIENT; /* the retry finds the recording stored and sets the summary */
	sova_spill_discard(spill_id);
	count_recording(true);
	return r;
}

/* Applies one operation. replay: it may have reached the database before (a spool record, or one
 * that failed once), so an insert's duplicate key means "already there". A permanent failure is
 * logged and kept in writes.rejected here. */
static int apply_op(const uint8_t *payload, uint32_t len, bool replay)
{
	char text[192], m[PATH_MAX + 384];
	op_view v;
	if (!parse_op(payload, len, &v)) {
		note_error("invalid: malformed record");
		sova_log("error", "writer.rejected", "a malformed operation record was set aside in writes.rejected");
		keep_rejected(payload, len);
		return PERMANENT;
	}
	if (v.kind == SOVA_WRITE_RECORDING)
		return apply_recording(&v);
	bool guarded = needs_guard(&v);
	bson_t gfilter, gbody;
	if (guarded && !guard(&v, &gfilter, &gbody)) {
		note_error("unavailable: out of memory");
		return TRANSIENT;
	}
	const bson_t *filter = guarded ? &gfilter : &v.filter, *body = guarded ? &gbody : &v.body;
	int result = TRANSIENT;
	for (int attempt = 1;; attempt++) {
		mongoc_client_t *client = sova_db_pop();
		if (!client) {
			note_error("unavailable: database pool closed");
			break;
		}
		mongoc_collection_t *c = mongoc_client_get_collection(client, sova_db_name(), v.coll);
		bson_t reply;
		bson_error_t e;
		bool ok;
		if (v.kind == SOVA_WRITE_INSERT) {
			ok = mongoc_collection_insert_one(c, body, NULL, &reply, &e);
		} else {
			bson_t opts = BSON_INITIALIZER;
			if (v.kind == SOVA_WRITE_UPSERT)
				BSON_APPEND_BOOL(&opts, "upsert", true);
			ok = mongoc_collection_update_one(c, filter, body, &opts, &reply, &e);
			bson_destroy(&opts);
		}
		int cls = ok ? -1 : classify(&e, &reply, text, sizeof text);
		/* a guarded upsert finds no document to update when it was applied: its insert then
		 * meets the document's key */
		bool repeat = cls == E_DUPLICATE && ((v.kind == SOVA_WRITE_INSERT && replay) ||
						     (v.kind == SOVA_WRITE_UPSERT && guarded && applied_before(c, &v)));
		bson_destroy(&reply);
		mongoc_collection_destroy(c);
		sova_db_push(client);
		if (ok || repeat) {
			result = APPLIED; /* a repeat was written before the failure that brought it here */
			break;
		}
		note_error(text);
		if (cls == E_UNAVAILABLE)
			break;
		/* An upsert that races another upsert can meet a duplicate key; an unknown server error
		 * may pass. Both get a few tries; a stop keeps the operation for the next start. */
		bool retry = (cls == E_REJECTED || (cls == E_DUPLICATE && v.kind != SOVA_WRITE_INSERT)) &&
			     attempt < REJECT_ATTEMPTS;
		if (retry) {
			wait_work(now_ms() + (uint64_t)cfg.retry_ms, false);
			if (stopping())
				break;
			continue;
		}
		snprintf(m, sizeof m, "%s into %s failed permanently: %s; kept in %s", kind_name(v.kind), v.coll, text,
			 cfg.rejected_path);
		sova_log("error", "writer.rejected", m);
		keep_rejected(payload, len);
		result = PERMANENT;
		break;
	}
	if (guarded) {
		bson_destroy(&gfilter);
		bson_destroy(&gbody);
	}
	return result;
}

/* ---- The thread ---- */

static void mark_down(bool db)
{
	backoff = true;
	retry_at = now_ms() + (uint64_t)cfg.retry_ms;
	if (!db)
		return;
	char err[192], m[PATH_MAX + 320];
	pthread_mutex_lock(&mu);
	bool was = q.down;
	q.down = true;
	snprintf(err, sizeof err, "%s", q.last_error);
	pthread_mutex_unlock(&mu);
	if (was)
		return;
	snprintf(m, sizeof m, "database unavailable (%s); operations are kept in %s and retried every %d ms", err,
		 cfg.spool_path, cfg.retry_ms);
	sova_log("warn", "writer.down", m);
}

static void mark_up(void)
{
	backoff = false;
	pthread_mutex_lock(&mu);
	bool was = q.down;
	q.down = false;
	pthread_mutex_unlock(&mu);
	if (was)
		sova_log("info", "writer.up", "database available again");
}

static void spool_trouble(bool failing, const char *what)
{
	if (failing && !spool_failing)
		log_errno("error", "writer.spool", what);
	else if (!failing && spool_failing)
		sova_log("info", "writer.spool", "the spool is writable again");
	spool_failing = failing;
}

/* Moves the operations waiting in memory to the end of the spool (they are newer than all of it).
 * On failure they go back in front of memory. */
static bool spool_memory(void)
{
	pthread_mutex_lock(&spool_mu);
	pthread_mutex_lock(&mu);
	node *list = q.head; /* still counted in q.queued until written: flush waits for them */
	q.head = q.tail = NULL;
	pthread_mutex_unlock(&mu);
	if (!list) {
		pthread_mutex_unlock(&spool_mu);
		return true;
	}
	uint64_t n = 0, bytes = 0;
	for (node *x = list; x; x = x->next) {
		n++;
		bytes += x->size;
	}
	bool ok = spool_append(list);
	int e = errno;
	pthread_mutex_lock(&mu);
	if (ok) {
		q.queued -= n;
		q.queued_bytes -= bytes;
		q.spooled += n;
		mirror_spool();
		pthread_cond_broadcast(&progress);
	} else {
		relink_front(list);
	}
	pthread_mutex_unlock(&mu);
	pthread_mutex_unlock(&spool_mu);
	errno = e;
	spool_trouble(!ok, "cannot write the spool; operations stay in memory");
	if (ok)
		free_list(list);
	return ok;
}

/* x (counted in q.queued) failed transiently: it goes before everything in the spool. */
static bool spool_first(node *x)
{
	pthread_mutex_lock(&spool_mu);
	bool ok = q.spooled == 0 ? spool_append(x) : spool_prepend(x);
	int e = errno;
	if (ok) {
		pthread_mutex_lock(&mu);
		q.queued--;
		q.queued_bytes -= x->size;
		q.spooled++;
		mirror_spool();
		pthread_cond_broadcast(&progress);
		pthread_mutex_unlock(&mu);
	}
	pthread_mutex_unlock(&spool_mu);
	errno = e;
	spool_trouble(!ok, "cannot write the spool; operations stay in memory");
	return ok;
}

static void park(node *x)
{
	mark_down(true);
	if (spool_first(x))
		free(x);
	else
		held = x; /* ahead of everything, retried first */
	spool_memory();
}

/* x came from memory and is done with (applied or set aside). */
static void finish(node *x, int outcome)
{
	pthread_mutex_lock(&mu);
	q.queued--;
	q.queued_bytes -= x->size;
	if (outcome == APPLIED)
		q.applied++;
	else
		q.failed++;
	pthread_cond_broadcast(&progress);
	pthread_mutex_unlock(&mu);
	free(x);
}

/* Records that the spool is done up to next (records: how many records that covered). */
static void advance(uint64_t next, uint64_t records, int outcome)
{
	char m[160];
	pthread_mutex_lock(&spool_mu);
	sp.done = next;
	bool drained = sp.done >= sp.end;
	if (drained)
		spool_remove();
	else if (!write_header(sp.fd, sp.done))
		log_errno("warn", "writer.spool", "cannot record replay progress (a restart may apply some again)");
	pthread_mutex_lock(&mu);
	q.spooled = q.spooled >= records ? q.spooled - records : 0;
	if (drained)
		q.spooled = 0;
	if (records && outcome == APPLIED)
		q.applied++;
	else if (records)
		q.failed++;
	mirror_spool();
	pthread_cond_broadcast(&progress);
	pthread_mutex_unlock(&mu);
	pthread_mutex_unlock(&spool_mu);
	replayed += records;
	if (drained && replayed > 0) {
		snprintf(m, sizeof m, "%llu spooled operations replayed", (unsigned long long)replayed);
		sova_log("info", "writer.replayed", m);
		replayed = 0;
	}
}

/* Applies the spool's records in order until it is empty, a transient failure, or a stop. */
static void replay(void)
{
	char m[160];
	while (!stopping()) {
		pthread_mutex_lock(&spool_mu);
		int fd = sp.fd;
		uint64_t off = sp.done, end = sp.end;
		if (fd < 0 || off >= end) {
			spool_remove();
			pthread_mutex_lock(&mu);
			q.spooled = 0;
			mirror_spool();
			pthread_cond_broadcast(&progress);
			pthread_mutex_unlock(&mu);
			pthread_mutex_unlock(&spool_mu);
			mark_up();
			return;
		}
		/* Records below end never change while the thread reads them: other writers only append. */
		pthread_mutex_unlock(&spool_mu);
		uint8_t *p;
		uint32_t len;
		int rr = read_record(fd, off, end, &p, &len);
		if (rr == REC_BAD) {
			uint64_t next;
			rr = find_next(fd, off + 1, end, &next);
			if (rr == REC_OK) {
				snprintf(m, sizeof m, "skipped %llu bytes of a damaged spool record",
					 (unsigned long long)(next - off));
				sova_log("warn", "writer.spool", m);
				pthread_mutex_lock(&mu);
				q.corrupt++;
				pthread_mutex_unlock(&mu);
				advance(next, 0, APPLIED);
				continue;
			}
		}
		if (rr == REC_IOERR) {
			log_errno("error", "writer.spool", "cannot read the spool; retrying");
			mark_down(false);
			return;
		}
		int r = apply_op(p, len, true);
		free(p);
		if (r == TRANSIENT) {
			mark_down(true);
			return;
		}
		mark_up();
		advance(off + REC_HDR + len, 1, r);
	}
}

static void retry_held(void)
{
	node *x = held;
	held = NULL;
	int r = apply_op(x->rec + REC_HDR, (uint32_t)(x->size - REC_HDR), true);
	if (r == TRANSIENT) {
		park(x);
		return;
	}
	mark_up();
	finish(x, r);
}

/* The next operation from memory, or NULL when the spool has work or the writer stops. */
static node *take(void)
{
	pthread_mutex_lock(&mu);
	while (!q.stopping && !q.head && q.spooled == 0)
		pthread_cond_wait(&work, &mu);
	node *x = NULL;
	if (!q.stopping && q.spooled == 0 && q.head) {
		x = q.head; /* in flight: still counted in q.queued */
		q.head = x->next;
		if (!q.head)
			q.tail = NULL;
		x->next = NULL;
	}
	pthread_mutex_unlock(&mu);
	return x;
}

static void *writer_main(void *arg)
{
	(void)arg;
	(void)pthread_setname_np(pthread_self(), "sova-writer"); /* for /proc's comm; failure ignored */
	while (!stopping()) {
		pthread_mutex_lock(&mu);
		bool older = held || q.spooled > 0;
		pthread_mutex_unlock(&mu);
		if (older && backoff && now_ms() < retry_at) {
			/* Waiting for the database: what arrives meanwhile goes to disk. */
			bool ok = spool_memory();
			wait_work(retry_at, ok);
			continue;
		}
		if (held) {
			retry_held();
			continue;
		}
		if (older) {
			replay();
			continue;
		}
		node *x = take();
		if (!x)
			continue;
		int r = apply_op(x->rec + REC_HDR, (uint32_t)(x->size - REC_HDR), false);
		if (r == TRANSIENT)
			park(x);
		else
			finish(x, r);
	}
	return NULL;
}

/* ---- Public API ---- */

static bool wait_flushed(int timeout_ms)
{
	uint64_t until = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	struct timespec ts;
	to_timespec(until, &ts);
	pthread_mutex_lock(&mu);
	bool done;
	while (!(done = q.queued == 0 && q.spooled == 0 && !q.spool_present) && now_ms() < until)
		if (pthread_cond_timedwait(&progress, &mu, &ts) == ETIMEDOUT)
			break;
	done = q.queued == 0 && q.spooled == 0 && !q.spool_present;
	pthread_mutex_unlock(&mu);
	return done;
}

static bool path_in_dir(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return n > 0 && n < PATH_MAX;
}

bool sova_writer_start(const sova_writer_config *c, uint64_t *generation, char *err, size_t errlen)
{
	char eb[128], lock_path[PATH_MAX], m[PATH_MAX + 128];
	pthread_once(&once, init_once);
	pthread_mutex_lock(&life_mu);
	bool ok = false;
	if (cfg.running) {
		snprintf(err, errlen, "already started");
		goto out;
	}
	if (!sova_db_is_open()) {
		snprintf(err, errlen, "database not opened: call db.open(uri) first");
		goto out;
	}
	if (!c || !c->spool_dir || !*c->spool_dir || c->retry_ms <= 0) {
		snprintf(err, errlen, "spool_dir and a positive retry_ms are required");
		goto out;
	}
	if (strlen(c->spool_dir) >= PATH_MAX - 32) {
		snprintf(err, errlen, "spool_dir too long");
		goto out;
	}
	snprintf(cfg.dir, sizeof cfg.dir, "%s", c->spool_dir);
	if (!path_in_dir(cfg.spool_path, cfg.dir, SOVA_WRITER_SPOOL_FILE) ||
	    !path_in_dir(cfg.tmp_path, cfg.dir, SOVA_WRITER_SPOOL_FILE ".tmp") ||
	    !path_in_dir(cfg.rejected_path, cfg.dir, SOVA_WRITER_REJECTED_FILE) ||
	    !path_in_dir(lock_path, cfg.dir, "writes.lock")) {
		snprintf(err, errlen, "spool_dir too long");
		goto out;
	}
	cfg.retry_ms = c->retry_ms;
	cfg.max_bytes = c->max_queue_bytes ? c->max_queue_bytes : SOVA_WRITER_DEFAULT_QUEUE_BYTES;
	if (mkdir(cfg.dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", cfg.dir, err_text(errno, eb, sizeof eb));
		goto out;
	}
	/* Two processes appending to one spool would interleave records: one owner at a time. */
	cfg.lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (cfg.lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", lock_path, err_text(errno, eb, sizeof eb));
		goto out;
	}
	if (flock(cfg.lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "spool directory %s is in use by another process", cfg.dir);
		else
			snprintf(err, errlen, "cannot lock %s: %s", lock_path, err_text(errno, eb, sizeof eb));
		goto fail_lock;
	}
	size_t swept = sova_spill_sweep(cfg.dir); /* under the flock: no live process spills here */
	if (swept) {
		snprintf(m, sizeof m, "deleted %zu unreadable recording spills left by a process that ended (their "
				      "keys died with it)", swept);
		sova_log("warn", "writer.start", m);
	}
	pthread_mutex_lock(&mu);
	memset(&q, 0, sizeof q);
	pthread_mutex_unlock(&mu);
	held = NULL;
	backoff = spool_failing = false;
	replayed = 0;
	uint64_t records = 0;
	pthread_mutex_lock(&spool_mu);
	bool loaded = spool_load(&records, err, errlen);
	pthread_mutex_lock(&mu);
	q.spooled = records;
	mirror_spool();
	q.running = q.accepting = loaded;
	pthread_mutex_unlock(&mu);
	pthread_mutex_unlock(&spool_mu);
	if (!loaded)
		goto fail_lock;
	/* The thread takes no signals: they belong to the process's own handlers (bot's stopper). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&cfg.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the writer thread: %s", err_text(rc, eb, sizeof eb));
		pthread_mutex_lock(&spool_mu);
		if (sp.fd >= 0)
			close(sp.fd);
		sp.fd = -1;
		pthread_mutex_lock(&mu);
		q.running = q.accepting = false;
		q.spooled = 0;
		mirror_spool();
		pthread_mutex_unlock(&mu);
		pthread_mutex_unlock(&spool_mu);
		goto fail_lock;
	}
	cfg.running = true;
	*generation = ++cfg.generation;
	snprintf(m, sizeof m, "started; %llu spooled operations to replay from %s", (unsigned long long)records,
		 cfg.dir);
	sova_log("info", "writer.start", m);
	ok = true;
	goto out;
fail_lock:
	close(cfg.lock_fd); /* releases the flock */
	cfg.lock_fd = -1;
out:
	pthread_mutex_unlock(&life_mu);
	return ok;
}

static bool valid_collection(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= MAX_COLLECTION && !strchr(s, '$') && s[0] != '.' && strncmp(s, "system.", 7) != 0;
}

/* Whether a top-level key of doc is the writer's own field (or a path into it). */
static bool names_ops_field(const bson_t *doc)
{
	static const size_t n = sizeof SOVA_WRITER_OPS_FIELD - 1;
	bson_iter_t it;
	if (!bson_iter_init(&it, doc))
		return false;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strncmp(k, SOVA_WRITER_OPS_FIELD, n) == 0 && (k[n] == '\0' || k[n] == '.'))
			return true;
	}
	return false;
}

/* An update must be operators only ({$set: {...}, $push: {...}}), as update_one requires, and
 * leave the writer's own field alone. */
static bool valid_update(const bson_t *u)
{
	bson_iter_t it;
	int n = 0;
	if (!bson_iter_init(&it, u))
		return false;
	while (bson_iter_next(&it)) {
		if (bson_iter_key(&it)[0] != '$' || !BSON_ITER_HOLDS_DOCUMENT(&it))
			return false;
		uint32_t len;
		const uint8_t *data;
		bson_t fields;
		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&fields, data, len) || names_ops_field(&fields))
			return false;
		n++;
	}
	return n > 0;
}

static bool append_empty(bson_t *op, const char *key)
{
	bson_t empty = BSON_INITIALIZER;
	return bson_append_document(op, key, -1, &empty);
}

/* The whole record for an operation; NULL with err. */
static node *make_node(const char *collection, sova_write_kind kind, const bson_t *filter, const bson_t *body,
		       char *err, size_t errlen)
{
	bson_t op = BSON_INITIALIZER, b;
	bson_oid_t id;
	bson_oid_init(&id, NULL);
	bool ok = BSON_APPEND_UTF8(&op, "c", collection) && BSON_APPEND_INT32(&op, "k", (int32_t)kind) &&
		  BSON_APPEND_OID(&op, "i", &id);
	ok = ok && (filter ? BSON_APPEND_DOCUMENT(&op, "f", filter) : append_empty(&op, "f"));
	if (ok && kind == SOVA_WRITE_INSERT && !bson_has_field(body, "_id")) {
		/* An explicit _id makes a replayed insert idempotent (its duplicate key = applied). */
		ok = BSON_APPEND_DOCUMENT_BEGIN(&op, "b", &b);
		if (ok) {
			bool inner = BSON_APPEND_OID(&b, "_id", &id) && bson_concat(&b, body);
			ok = bson_append_document_end(&op, &b) && inner;
		}
	} else if (ok) {
		ok = BSON_APPEND_DOCUMENT(&op, "b", body);
	}
	if (!ok || op.len > MAX_PAYLOAD) {
		snprintf(err, errlen, "operation too large");
		bson_destroy(&op);
		return NULL;
	}
	node *x = malloc(sizeof *x + REC_HDR + op.len);
	if (!x) {
		snprintf(err, errlen, "out of memory");
		bson_destroy(&op);
		return NULL;
	}
	const uint8_t *data = bson_get_data(&op);
	x->next = NULL;
	x->size = REC_HDR + op.len;
	memcpy(x->rec, rec_magic, 4);
	put32(x->rec + 4, op.len);
	put32(x->rec + 8, crc32_of(data, op.len));
	memcpy(x->rec + REC_HDR, data, op.len);
	bson_destroy(&op);
	return x;
}

/* Memory is full: memory, then x, go to the end of the spool. Takes ownership of x. */
static bool spill(node *x, char *err, size_t errlen)
{
	char eb[128];
	pthread_mutex_lock(&spool_mu);
	pthread_mutex_lock(&mu);
	if (!q.accepting) {
		pthread_mutex_unlock(&mu);
		pthread_mutex_unlock(&spool_mu);
		free(x);
		snprintf(err, errlen, "writer not started");
		return false;
	}
	if (q.queued_bytes + x->size <= cfg.max_bytes) { /* drained meanwhile */
		if (q.tail)
			q.tail->next = x;
		else
			q.head = x;
		q.tail = x;
		q.queued++;
		q.queued_bytes += x->size;
		pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		pthread_mutex_unlock(&spool_mu);
		return true;
	}
	node *list = q.head; /* older than x: written before it */
	node *last = q.tail;
	q.head = q.tail = NULL;
	pthread_mutex_unlock(&mu);
	uint64_t n = 0, bytes = 0;
	for (node *y = list; y; y = y->next) {
		n++;
		bytes += y->size;
	}
	if (last)
		last->next = x;
	else
		list = x;
	bool ok = spool_append(list);
	int e = errno;
	pthread_mutex_lock(&mu);
	if (ok) {
		q.queued -= n;
		q.queued_bytes -= bytes;
		q.spooled += n + 1;
		q.overflowed++;
		mirror_spool();
		pthread_cond_signal(&work);
		pthread_cond_broadcast(&progress);
	} else {
		if (last)
			last->next = NULL;
		relink_front(last ? list : NULL);
	}
	pthread_mutex_unlock(&mu);
	pthread_mutex_unlock(&spool_mu);
	if (ok) {
		free_list(list); /* x included */
		return true;
	}
	free(x);
	snprintf(err, errlen, "queue full and spool not writable: %s", err_text(e, eb, sizeof eb));
	return false;
}

static bool enqueue(node *x, char *err, size_t errlen);

bool sova_writer_push(const char *collection, sova_write_kind kind, const bson_t *filter, const bson_t *body,
		      char *err, size_t errlen)
{
	bson_error_t e;
	pthread_once(&once, init_once);
	if (!collection || !valid_collection(collection)) {
		snprintf(err, errlen, "invalid collection name");
		return false;
	}
	if (kind < SOVA_WRITE_INSERT || kind > SOVA_WRITE_UPSERT || !body) {
		snprintf(err, errlen, "invalid operation");
		return false;
	}
	if (body->len > MAX_DOCUMENT || (filter && filter->len > MAX_DOCUMENT)) {
		snprintf(err, errlen, "document too large (the database takes at most 16 MiB)");
		return false;
	}
	if (kind == SOVA_WRITE_INSERT) {
		/* What the driver would refuse at insert time, refused now, where the caller can see it. */
		if (!bson_validate_with_error(body, BSON_VALIDATE_UTF8 | BSON_VALIDATE_EMPTY_KEYS | BSON_VALIDATE_DOLLAR_KEYS,
					      &e)) {
			snprintf(err, errlen, "document: %s", e.message);
			return false;
		}
	} else {
		if (!filter) {
			snprintf(err, errlen, "an update needs a filter");
			return false;
		}
		if (names_ops_field(filter)) {
			snprintf(err, errlen, "filter: %s is the writer's own field", SOVA_WRITER_OPS_FIELD);
			return false;
		}
		if (!valid_update(body)) {
			snprintf(err, errlen, "update: only operators such as $set, each with a document, and not %s",
				 SOVA_WRITER_OPS_FIELD);
			return false;
		}
	}
	return enqueue(make_node(collection, kind, filter, body, err, errlen), err, errlen);
}

/* Queues x (NULL: make_node failed, err says why) at the end of memory, or of the spool when
 * memory is full. Takes ownership of x. */
static bool enqueue(node *x, char *err, size_t errlen)
{
	if (!x)
		return false;
	pthread_mutex_lock(&mu);
	if (!q.accepting) {
		pthread_mutex_unlock(&mu);
		free(x);
		snprintf(err, errlen, "writer not started");
		return false;
	}
	if (q.queued_bytes + x->size <= cfg.max_bytes) {
		if (q.tail)
			q.tail->next = x;
		else
			q.head = x;
		q.tail = x; /* owned by the queue now */
		q.queued++;
		q.queued_bytes += x->size;
		pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		return true;
	}
	pthread_mutex_unlock(&mu);
	return spill(x, err, errlen);
}

bool sova_writer_push_recording(const bson_oid_t *org, const bson_oid_t *session, const char *spill_id, char *err,
				size_t errlen)
{
	pthread_once(&once, init_once);
	sova_recording_spill s;
	if (!org || !session || !sova_spill_lookup(spill_id, &s)) {
		snprintf(err, errlen, "no such spill (finish the recorder and register its spill first)");
		return false;
	}
	bson_t filter = BSON_INITIALIZER, body = BSON_INITIALIZER;
	bool ok = BSON_APPEND_OID(&filter, "_id", session) && BSON_APPEND_OID(&filter, "organization_id", org) &&
		  BSON_APPEND_UTF8(&body, "spill", s.id) && BSON_APPEND_UTF8(&body, "path", s.path); /* never the key */
	sova_recording_spill_wipe(&s);
	node *x = ok ? make_node("sessions", SOVA_WRITE_RECORDING, &filter, &body, err, errlen) : NULL;
	if (!ok)
		snprintf(err, errlen, "out of memory");
	bson_destroy(&filter);
	bson_destroy(&body);
	return enqueue(x, err, errlen);
}

bool sova_writer_flush(int timeout_ms)
{
	pthread_once(&once, init_once);
	pthread_mutex_lock(&mu);
	bool running = q.running;
	pthread_mutex_unlock(&mu);
	return running && wait_flushed(timeout_ms);
}

bool sova_writer_stop(uint64_t generation, int timeout_ms, uint64_t *remaining)
{
	char m[PATH_MAX + 160];
	pthread_once(&once, init_once);
	if (remaining)
		*remaining = 0;
	pthread_mutex_lock(&life_mu);
	if (!cfg.running || (generation && generation != cfg.generation)) {
		pthread_mutex_unlock(&life_mu);
		return true;
	}
	wait_flushed(timeout_ms);
	pthread_mutex_lock(&mu);
	q.accepting = false;
	q.stopping = true;
	pthread_cond_broadcast(&work);
	pthread_mutex_unlock(&mu);
	pthread_join(cfg.thread, NULL); /* after its current database call, at most the pool's timeouts */

	/* The thread is gone: what it did not apply goes to the spool, held first. */
	if (held && spool_first(held)) {
		free(held);
		held = NULL;
	}
	if (!held)
		spool_memory();
	pthread_mutex_lock(&spool_mu);
	pthread_mutex_lock(&mu);
	uint64_t lost = q.queued;
	node *list = q.head;
	q.head = q.tail = NULL;
	q.queued = q.queued_bytes = 0;
	if (sp.fd >= 0 && sp.done >= sp.end)
		spool_remove();
	else if (sp.fd >= 0)
		close(sp.fd);
	sp.fd = -1;
	uint64_t left = q.spooled;
	q.spool_present = false;
	q.spool_bytes = 0;
	q.running = false;
	q.stopping = false;
	pthread_cond_broadcast(&progress);
	pthread_mutex_unlock(&mu);
	pthread_mutex_unlock(&spool_mu);
	free_list(list);
	free(held);
	held = NULL;
	close(cfg.lock_fd); /* releases the flock: another process may own the spool now */
	cfg.lock_fd = -1;
	cfg.running = false;
	if (lost) {
		snprintf(m, sizeof m, "%llu operations could not be written to %s and are lost",
			 (unsigned long long)lost, cfg.spool_path);
		sova_log("error", "writer.stop", m);
	}
	snprintf(m, sizeof m, "stopped; %llu operations kept in the spool", (unsigned long long)left);
	sova_log(left ? "warn" : "info", "writer.stop", m);
	pthread_mutex_unlock(&life_mu);
	if (remaining)
		*remaining = left + lost;
	return left + lost == 0;
}

void sova_writer_get_stats(sova_writer_stats *out)
{
	pthread_once(&once, init_once);
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&mu);
	out->running = q.running;
	out->db_down = q.down;
	out->queued = q.queued;
	out->queued_bytes = q.queued_bytes;
	out->spooled = q.spooled;
	out->spool_bytes = q.spool_bytes;
	out->applied = q.applied;
	out->failed_permanently = q.failed;
	out->overflowed = q.overflowed;
	out->corrupt_skipped = q.corrupt;
	out->recordings_stored = q.recordings_stored;
	out->recordings_lost = q.recordings_lost;
	snprintf(out->last_error, sizeof out->last_error, "%s", q.last_error);
	pthread_mutex_unlock(&mu);
}

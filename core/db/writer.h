/* The durable asynchronous database writer of the call runtime (DESIGN principle 3: a call
 * writes its transcript and outcome asynchronously and loses none of it if the database blips).
 *
 * One background thread per process applies operations (insert, update, upsert of one document)
 * in the order they were pushed, through the process's pool (db/mongo.h). Pushing never waits
 * for the database. When the database is unavailable, operations go to an append-only spool file
 * (<spool_dir>/writes.spool, checksummed records, fsync'd) that is replayed in order, before any
 * newer operation, once the database answers again, and at the next start after a crash.
 *
 * Delivery is at least once: an operation in flight when the process dies may be applied again
 * on replay. Its effect is applied once all the same: every operation gets an id at push.
 * Inserts carry an explicit _id (the id, when the document has none), so a replayed insert that
 * meets a duplicate key counts as applied. An update whose operators are not idempotent by
 * themselves ($push, $inc: anything but $set, $unset, $setOnInsert, $addToSet, $min, $max,
 * $pull, $pullAll, $currentDate) is applied as {filter, SOVA_WRITER_OPS_FIELD: {$ne: id}} with
 * {$push: {SOVA_WRITER_OPS_FIELD: id}} added, so a repeat matches nothing; the document keeps
 * the ids in that field, which callers neither filter on nor update, and readers leave out.
 * Operations the server rejects for good (validation, bad operators, a
 * duplicate key on a first insert) are counted, logged by class and code, and kept in
 * <spool_dir>/writes.rejected (same record format) for an operator, never silently dropped.
 *
 * Nothing here logs document contents (PHI): logs carry counts, collections and error classes. */
#ifndef SOVA_DB_WRITER_H
#define SOVA_DB_WRITER_H
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	SOVA_WRITE_INSERT = 1, /* insert_one(body) */
	SOVA_WRITE_UPDATE = 2, /* update_one(filter, body) */
	SOVA_WRITE_UPSERT = 3, /* update_one(filter, body, {upsert: true}) */
} sova_write_kind;

#define SOVA_WRITER_DEFAULT_QUEUE_BYTES ((size_t)64 << 20)
#define SOVA_WRITER_SPOOL_FILE "writes.spool"
#define SOVA_WRITER_REJECTED_FILE "writes.rejected"
#define SOVA_WRITER_OPS_FIELD "_writer_ops" /* ids of the guarded operations applied to a document */

typedef struct sova_writer_config {
	const char *spool_dir;  /* created (0700) when missing; one process at a time (flock) */
	int retry_ms;           /* pause between attempts while the database is unavailable */
	size_t max_queue_bytes; /* memory queue bound; beyond it pushes go to the spool. 0: default */
} sova_writer_config;

typedef struct sova_writer_stats {
	bool running;
	bool db_down;                /* the last attempt failed transiently */
	uint64_t queued;             /* operations in memory, including the one being applied */
	uint64_t queued_bytes;
	uint64_t spooled;            /* records in the spool not applied yet */
	uint64_t spool_bytes;
	uint64_t applied;            /* since start, replays included */
	uint64_t failed_permanently; /* rejected by the server for good: kept in writes.rejected */
	uint64_t overflowed;         /* pushes that went to the spool because memory was full */
	uint64_t corrupt_skipped;    /* damaged spool regions skipped (torn tail, bad checksum) */
	char last_error[192];        /* class and code only; "" when none */
} sova_writer_stats;

/* Starts the thread; replays an existing spool first. The pool must be open (sova_db_open).
 * False with a message in err: already started, pool not open, spool unusable.
 * *generation identifies this run for sova_writer_stop. */
bool sova_writer_start(const sova_writer_config *cfg, uint64_t *generation, char *err, size_t errlen);

/* Queues one operation; copies filter and body (the caller keeps ownership of both). filter may
 * be NULL for inserts; an insert body without _id gets a fresh ObjectId. Never waits for the
 * database: false with a message on a bad operation, when not running, or when memory is full
 * and the spool cannot be written. */
bool sova_writer_push(const char *collection, sova_write_kind kind, const bson_t *filter, const bson_t *body,
		      char *err, size_t errlen);

/* Waits up to timeout_ms until memory and spool are empty. False on timeout or when not running. */
bool sova_writer_flush(int timeout_ms);

/* Flushes (up to timeout_ms), then stops the thread once its current database call returns; what
 * was not applied is written to the spool for the next start. generation 0 stops any run; another
 * value stops only that run. True when nothing remains; else *remaining (may be NULL) says how
 * many operations wait in the spool. True and 0 when not running. */
bool sova_writer_stop(uint64_t generation, int timeout_ms, uint64_t *remaining);

void sova_writer_get_stats(sova_writer_stats *out);
#endif

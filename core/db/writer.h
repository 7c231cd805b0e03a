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
	SOVA_WRITE_RECORDING = 4, /* a finished spill stored as the session's recording: sova_writer_push_recording */
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
	uint64_t recordings_stored;  /* recording operations applied */
	uint64_t recordings_lost;    /* recording operations whose spill key did not survive a restart */
	char last_error[192];        /* class and code only; "" when none */
} sova_writer_stats;

/* Starts the thread; replays an existing spool first. The pool must be open (sova_db_open).
 * Spill files (rec-*.spill) under spool_dir that no registered spill names are deleted first:
 * they were left by a process that died and nobody can read them (recorders should spill into
 * the writer's spool_dir so this finds them).
 * False with a message in err: already started, pool not open, spool unusable.
 * *generation identifies this run for sova_writer_stop. */
bool sova_writer_start(const sova_writer_config *cfg, uint64_t *generation, char *err, size_t errlen);

/* Queues one operation; copies filter and body (the caller keeps ownership of both). filter may
 * be NULL for inserts; an insert body without _id gets a fresh ObjectId. Never waits for the
 * database: false with a message on a bad operation, when not running, or when memory is full
 * and the spool cannot be written. */
bool sova_writer_push(const char *collection, sova_write_kind kind, const bson_t *filter, const bson_t *body,
		      char *err, size_t errlen);

/* Queues the recording operation: the registered spill spill_id (crypto/spill.h) becomes the
 * session's recording — a two-channel WAV (the header written now that the length is known, then
 * the spill's PCM), sealed under the process key (sova_recording_set_process_key) into GridFS
 * one segment at a time (db/recordings.h, sova_recording_store_stream) — and the session
 * document {_id: session, organization_id: org} gets recording = {bytes, duration_seconds,
 * content_type = "audio/wav"} as lua/sova/recording.lua sets it; then the spill is discarded.
 *
 * The operation's record (in memory, and in the spool while the database is away) holds the
 * ids, the spill's id and its path, never its key: the key stays in the spill registry in
 * memory. So a database outage only delays the store (the spill is kept until it is stored), but
 * a recording still waiting when the process ends is lost: at the next start its operation finds
 * no key, deletes the spill and counts recordings_lost (and sova_writer_start deletes spill files
 * under spool_dir that no registered spill names). Writing the key into the spool would keep the
 * recording, and keep it readable by anyone holding the disk, spill and key side by side: no.
 *
 * A replay after a store that completed is recognised (the session's recording is there, of the
 * spill's length) and only the summary is set again. A store runs to its end even when the writer
 * is asked to stop (seconds for an hour-long call), since stopping midway would lose it. false with
 * err when spill_id is not registered or the operation cannot be queued. */
bool sova_writer_push_recording(const bson_oid_t *org, const bson_oid_t *session, const char *spill_id, char *err,
				size_t errlen);

/* Waits up to timeout_ms until memory and spool are empty. False on timeout or when not running. */
bool sova_writer_flush(int timeout_ms);

/* Flushes (up to timeout_ms), then stops the thread once its current database call returns; what
 * was not applied is written to the spool for the next start. generation 0 stops any run; another
 * value stops only that run. True when nothing remains; else *remaining (may be NULL) says how
 * many operations wait in the spool. True and 0 when not running. */
bool sova_writer_stop(uint64_t generation, int timeout_ms, uint64_t *remaining);

void sova_writer_get_stats(sova_writer_stats *out);
#endif

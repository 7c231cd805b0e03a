/* Call recordings in the database: sealed bytes (crypto/sealed.h) in a GridFS bucket, through
 * mongo-c-driver's mongoc_gridfs_bucket_*, so they live and scale with the database.
 *
 * Bucket "recordings" (collections recordings.files and recordings.chunks, the GridFS format any
 * driver reads: mongoc_gridfs_bucket_open_download_stream gives the sealed file whole). The file's
 * _id is the session's (one recording per session). One sealed segment is one GridFS chunk
 * (chunkSize = segment size + the sealing overhead), so a byte range reads just the chunks of the
 * segments it touches. Lookups use the bucket (mongoc_gridfs_bucket_find, _delete_by_id); chunks
 * are written and read here, each by an _id derived from (files_id, n), because the driver's
 * upload stream gives chunks random ids and its download stream cannot seek, and FerretDB 1.24
 * pushes down only a lone _id lookup (see recordings.c and docs/architecture.md). The files
 * document's metadata: organization_id, session_id, content_type, bytes (plaintext length),
 * segment_size, key_id, sha256 (of the plaintext), sealing (the format's name).
 *
 * Tenancy: every lookup names the organization (metadata.organization_id); another
 * organization's recording is simply not found, as with core/db/scope.c. Chunks are read only by
 * the files_id of a files document found that way. Uses the process pool (db/mongo.h). */
#ifndef SOVA_DB_RECORDINGS_H
#define SOVA_DB_RECORDINGS_H
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/sealed.h"

#define SOVA_RECORDING_BUCKET "recordings"
#define SOVA_RECORDING_SEALING "secretstream-xchacha20poly1305-segments-v1"

typedef enum {
	SOVA_REC_OK = 0,
	SOVA_REC_NOT_FOUND = 1, /* none for this session in this organization */
	SOVA_REC_EXISTS = 2,    /* store: the session already has a recording */
	SOVA_REC_DAMAGED = 3,   /* read: a segment failed authentication, or a chunk is missing */
	SOVA_REC_KEY = 4,       /* read: sealed with a key that is not the one given */
	SOVA_REC_SOURCE = 5,    /* store_stream: the source failed (nothing stored) */
	SOVA_REC_ERROR = -1,    /* the database failed, or out of memory */
} sova_rec_status;

/* What the files document says about one recording. */
typedef struct sova_recording_info {
	bson_oid_t file_id;
	bson_oid_t session_id;
	uint64_t bytes;        /* plaintext length */
	uint32_t segment_size; /* plaintext bytes per sealed segment */
	char content_type[32];
	char key_id[SOVA_SEALED_KEY_ID_LEN + 1];
	char sha256[65]; /* hex */
	int64_t uploaded_ms;
} sova_recording_info;

/* Seals data (len bytes, content_type e.g. "audio/wav") under key and stores it for the session.
 * SOVA_REC_EXISTS when the session already has one. *out describes what was stored. Nothing is
 * left behind on failure (the chunks already written are removed; the files document goes last). */
sova_rec_status sova_recording_store(const bson_oid_t *org, const bson_oid_t *session, const char *content_type,
				     const sova_sealed_key *key, const uint8_t *data, size_t len,
				     sova_recording_info *out, char *err, size_t errlen);

/* Fills out with exactly n plaintext bytes, the next ones; false with err to abort the store. */
typedef bool (*sova_recording_source_fn)(void *ud, uint8_t *out, size_t n, char *err, size_t errlen);

/* sova_recording_store with the len plaintext bytes pulled from source one segment at a time
 * (at most one segment's plaintext and one sealed segment in memory; the plaintext buffer is
 * wiped). SOVA_REC_SOURCE when the source failed. On SOVA_REC_EXISTS, *out describes the
 * recording already there (so a retried store can recognise its own earlier success). */
sova_rec_status sova_recording_store_stream(const bson_oid_t *org, const bson_oid_t *session, const char *content_type,
					    const sova_sealed_key *key, uint64_t len, sova_recording_source_fn source,
					    void *ud, sova_recording_info *out, char *err, size_t errlen);

/* The process's recording key (SOVA_DATA_KEY's subkey), for the threads that store recordings
 * (the writer's recording operation) as well as the Lua bindings. Set once: 0 set (or the same
 * key again), 1 a different key is already set, -1 out of memory. */
int sova_recording_set_process_key(const sova_sealed_key *k);
/* Copies the process key into *out (the caller wipes it); false when none is set. */
bool sova_recording_process_key(sova_sealed_key *out);

/* The session's recording. */
sova_rec_status sova_recording_find(const bson_oid_t *org, const bson_oid_t *session, sova_recording_info *out,
				    char *err, size_t errlen);

/* Decrypts plaintext bytes [from, to] (inclusive; to < info->bytes) into out (to - from + 1
 * bytes), reading only the chunks they touch. DAMAGED or KEY leave out zeroed. */
sova_rec_status sova_recording_read(const sova_recording_info *info, const sova_sealed_key *key, uint64_t from,
				    uint64_t to, uint8_t *out, char *err, size_t errlen);

/* Deletes the session's recording (files document and chunks). NOT_FOUND when there is none. */
sova_rec_status sova_recording_delete(const bson_oid_t *org, const bson_oid_t *session, char *err, size_t errlen);
#endif

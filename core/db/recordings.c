/* Recordings in a GridFS bucket: see recordings.h. */
#include "db/recordings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/mongo.h"

#define CHUNKS_COLL SOVA_RECORDING_BUCKET ".chunks"
#define FILES_COLL SOVA_RECORDING_BUCKET ".files"

static sova_rec_status fail(char *err, size_t errlen, sova_rec_status st, const char *what, const bson_error_t *e)
{
	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", e ? e->message : "");
	return st;
}

/* A borrowed client with its database and bucket; release with bucket_close. */
typedef struct bucket_conn {
	mongoc_client_t *client;
	mongoc_database_t *db;
	mongoc_gridfs_bucket_t *bucket;
} bucket_conn;

static bool bucket_open(bucket_conn *c, bson_error_t *e)
{
	memset(c, 0, sizeof *c);
	c->client = sova_db_pop();
	if (!c->client) {
		bson_set_error(e, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, "database not opened");
		return false;
	}
	c->db = mongoc_client_get_database(c->client, sova_db_name());
	bson_t opts = BSON_INITIALIZER;
	BSON_APPEND_UTF8(&opts, "bucketName", SOVA_RECORDING_BUCKET);
	c->bucket = mongoc_gridfs_bucket_new(c->db, &opts, NULL, e);
	bson_destroy(&opts);
	return c->bucket != NULL;
}

static void bucket_close(bucket_conn *c)
{
	if (c->bucket)
		mongoc_gridfs_bucket_destroy(c->bucket);
	if (c->db)
		mongoc_database_destroy(c->db);
	sova_db_push(c->client);
}

/* ---- files documents ---- */

static void copy_utf8(bson_iter_t *md, const char *key, char *out, size_t n)
{
	bson_iter_t it;
	out[0] = '\0';
	if (bson_iter_find_descendant(md, key, &it) && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(out, n, "%s", bson_iter_utf8(&it, NULL));
}

/* Fills out from a files document; false when it is not one of ours. */
static bool parse_files_doc(const bson_t *doc, sova_recording_info *out)
{
	memset(out, 0, sizeof *out);
	bson_iter_t it, md;
	if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it))
		return false;
	bson_oid_copy(bson_iter_oid(&it), &out->file_id);
	if (bson_iter_init_find(&it, doc, "uploadDate") && BSON_ITER_HOLDS_DATE_TIME(&it))
		out->uploaded_ms = bson_iter_date_time(&it);
	if (!bson_iter_init_find(&it, doc, "metadata") || !BSON_ITER_HOLDS_DOCUMENT(&it))
		return false;
	bson_iter_t f;
	if (!bson_iter_recurse(&it, &md))
		return false;
	f = md;
	if (!bson_iter_find_descendant(&f, "bytes", &it) || !BSON_ITER_HOLDS_INT64(&it) || bson_iter_int64(&it) < 0)
		return false;
	out->bytes = (uint64_t)bson_iter_int64(&it);
	f = md;
	if (!bson_iter_find_descendant(&f, "segment_size", &it) || !BSON_ITER_HOLDS_INT32(&it) ||
	    bson_iter_int32(&it) < 1 || (uint32_t)bson_iter_int32(&it) > SOVA_SEALED_SEGMENT_MAX)
		return false;
	out->segment_size = (uint32_t)bson_iter_int32(&it);
	f = md;
	if (!bson_iter_find_descendant(&f, "session_id", &it) || !BSON_ITER_HOLDS_OID(&it))
		return false;
	bson_oid_copy(bson_iter_oid(&it), &out->session_id);
	f = md;
	copy_utf8(&f, "content_type", out->content_type, sizeof out->content_type);
	f = md;
	copy_utf8(&f, "key_id", out->key_id, sizeof out->key_id);
	f = md;
	copy_utf8(&f, "sha256", out->sha256, sizeof out->sha256);
	return true;
}

/* Does the files document belong to org? */
static bool owned_by(const bson_t *doc, const bson_oid_t *org)
{
	bson_iter_t it, f;
	return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "metadata.organization_id", &f) &&
	       BSON_ITER_HOLDS_OID(&f) && bson_oid_equal(bson_iter_oid(&f), org);
}

/* The file of a session is the session's id. The tenant is in the filter where the server pushes
 * such a filter down (MongoDB), and always checked on the document found: on FerretDB the lone
 * _id lookup is what it pushes down (db/mongo.h), so the tenant is checked on the one document. */
static sova_rec_status find_in(bucket_conn *c, const bson_oid_t *org, const bson_oid_t *session,
			       sova_recording_info *out, char *err, size_t errlen)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	BSON_APPEND_OID(&filter, "_id", session);
	if (!sova_db_lone_id_lookups())
		BSON_APPEND_OID(&filter, "metadata.organization_id", org);
	BSON_APPEND_INT64(&opts, "limit", 1);
	mongoc_cursor_t *cur = mongoc_gridfs_bucket_find(c->bucket, &filter, &opts);
	const bson_t *doc;
	bool found = mongoc_cursor_next(cur, &doc) && owned_by(doc, org) && parse_files_doc(doc, out);
	bson_error_t e;
	sova_rec_status st = found ? SOVA_REC_OK : SOVA_REC_NOT_FOUND;
	if (mongoc_cursor_error(cur, &e))
		st = fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return st;
}

sova_rec_status sova_recording_find(const bson_oid_t *org, const bson_oid_t *session, sova_recording_info *out,
				    char *err, size_t errlen)
{
	bucket_conn c;
	bson_error_t e;
	sova_rec_status st = bucket_open(&c, &e) ? find_in(&c, org, session, out, err, errlen)
						  : fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	bucket_close(&c);
	return st;
}

/* ---- chunks ---- */

/* The _id of chunk n of a file: an ObjectId derived from (files_id, n), so a reader finds each
 * chunk by a lone _id lookup — the one query FerretDB 1.24 pushes down to SQLite (a
 * {files_id, n} filter is decoded document by document over the whole collection there: seconds
 * per read once a few hundred MiB are stored). On MongoDB the _id index serves it likewise. The
 * GridFS format only asks for a unique _id; readers go by files_id and n, which chunks still carry. */
static void chunk_id(const bson_oid_t *file_id, uint64_t n, bson_oid_t *out)
{
	uint8_t in[12 + 8];
	memcpy(in, file_id->bytes, 12);
	for (int b = 0; b < 8; b++)
		in[12 + b] = (uint8_t)(n >> (8 * b));
	crypto_generichash(out->bytes, sizeof out->bytes, in, sizeof in, (const unsigned char *)"sova.rec.chunk", 14);
}

static bool insert_chunk(mongoc_collection_t *chunks, const bson_oid_t *file_id, uint64_t n, const uint8_t *data,
			 size_t len, bson_error_t *e)
{
	bson_t doc = BSON_INITIALIZER;
	bson_oid_t id;
	chunk_id(file_id, n, &id);
	BSON_APPEND_OID(&doc, "_id", &id);
	BSON_APPEND_OID(&doc, "files_id", file_id);
	BSON_APPEND_INT32(&doc, "n", (int32_t)n);
	BSON_APPEND_BINARY(&doc, "data", BSON_SUBTYPE_BINARY, data, (uint32_t)len);
	/* Replaced, not inserted: a store that failed with the database gone could not remove its
	 * chunks, and the retry (the writer's recording operation) writes the same ids again. No
	 * files document names them until the store completes, so no reader sees the swap. */
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	BSON_APPEND_OID(&filter, "_id", &id);
	BSON_APPEND_BOOL(&opts, "upsert", true);
	bool ok = mongoc_collection_replace_one(chunks, &filter, &doc, &opts, NULL, e);
	bson_destroy(&filter);
	bson_destroy(&opts);
	bson_destroy(&doc);
	return ok;
}

/* Removes chunks [0, count) of file_id, each by its own id (never another upload's). */
static void remove_chunks(mongoc_collection_t *chunks, const bson_oid_t *file_id, uint64_t count)
{
	for (uint64_t n = 0; n < count; n++) {
		bson_t f = BSON_INITIALIZER;
		bson_oid_t id;
		chunk_id(file_id, n, &id);
		BSON_APPEND_OID(&f, "_id", &id);
		mongoc_collection_delete_one(chunks, &f, NULL, NULL, NULL);
		bson_destroy(&f);
	}
}

/* ---- store ---- */

/* The GridFS files document (written after its chunks, so a reader never sees a partial one). */
static void files_doc(bson_t *doc, const sova_recording_info *r, const bson_oid_t *org, uint64_t sealed_len,
		      uint32_t chunk)
{
	bson_t md;
	char hex[25], filename[64];
	bson_oid_to_string(&r->session_id, hex);
	snprintf(filename, sizeof filename, "session-%s.wav.sealed", hex);
	bson_init(doc);
	BSON_APPEND_OID(doc, "_id", &r->file_id);
	BSON_APPEND_INT64(doc, "length", (int64_t)sealed_len);
	BSON_APPEND_INT32(doc, "chunkSize", (int32_t)chunk);
	BSON_APPEND_DATE_TIME(doc, "uploadDate", r->uploaded_ms);
	BSON_APPEND_UTF8(doc, "filename", filename);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "metadata", &md);
	BSON_APPEND_OID(&md, "organization_id", org);
	BSON_APPEND_OID(&md, "session_id", &r->session_id);
	BSON_APPEND_UTF8(&md, "content_type", r->content_type);
	BSON_APPEND_INT64(&md, "bytes", (int64_t)r->bytes);
	BSON_APPEND_INT32(&md, "segment_size", (int32_t)r->segment_size);
	BSON_APPEND_UTF8(&md, "key_id", r->key_id);
	BSON_APPEND_UTF8(&md, "sha256", r->sha256);
	BSON_APPEND_UTF8(&md, "sealing", SOVA_RECORDING_SEALING);
	bson_append_document_end(doc, &md);
}

/* Seals each segment and writes it as chunk n, one segment's buffers at a time: the plaintext
 * comes from the source as it goes (and is hashed on the way), so nothing holds the whole
 * recording. Returns how many chunks were written (all of them on success); *source_failed when
 * the source, not the database, stopped it. */
static uint64_t write_chunks(mongoc_collection_t *chunks, const sova_sealed_key *key, const sova_sealed_layout *l,
			     const bson_oid_t *file_id, sova_recording_source_fn source, void *ud,
			     crypto_hash_sha256_state *sha, bool *source_failed, char *err, size_t errlen)
{
	*source_failed = false;
	uint8_t *plain = malloc(l->segment_size); /* PHI: wiped before free */
	uint8_t *seg = malloc(l->segment_size + SOVA_SEALED_OVERHEAD); /* sealed bytes only: no wipe needed */
	if (!plain || !seg) {
		free(plain);
		free(seg);
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	uint64_t i = 0;
	for (; i < sova_sealed_segments(l); i++) {
		size_t n = sova_sealed_segment_len(l, i) - SOVA_SEALED_OVERHEAD;
		if (n && !source(ud, plain, n, err, errlen)) {
			*source_failed = true;
			break;
		}
		crypto_hash_sha256_update(sha, plain, n);
		if (!sova_sealed_seal_segment(key, l, i, plain, seg)) {
			snprintf(err, errlen, "sealing segment %llu failed", (unsigned long long)i);
			break;
		}
		bson_error_t e;
		if (!insert_chunk(chunks, file_id, i, seg, sova_sealed_segment_len(l, i), &e)) {
			snprintf(err, errlen, "database: %s", e.message);
			break;
		}
	}
	sodium_memzero(plain, l->segment_size);
	free(plain);
	free(seg);
	return i;
}

sova_rec_status sova_recording_store_stream(const bson_oid_t *org, const bson_oid_t *session, const char *content_type,
					    const sova_sealed_key *key, uint64_t len, sova_recording_source_fn source,
					    void *ud, sova_recording_info *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	bucket_conn c;
	bson_error_t e;
	if (!bucket_open(&c, &e)) {
		bucket_close(&c);
		return fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	}
	sova_recording_info existing;
	sova_rec_status st = find_in(&c, org, session, &existing, err, errlen);
	if (st != SOVA_REC_NOT_FOUND) {
		bucket_close(&c);
		if (st == SOVA_REC_OK) {
			*out = existing; /* the caller may recognise its own earlier store */
			return fail(err, errlen, SOVA_REC_EXISTS, "the session already has a recording", NULL);
		}
		return st;
	}

	/* one recording per session: the file is the session's id (a second store collides) */
	bson_oid_copy(session, &out->file_id);
	bson_oid_copy(session, &out->session_id);
	out->bytes = len;
	out->segment_size = SOVA_SEALED_SEGMENT_SIZE;
	out->uploaded_ms = (int64_t)time(NULL) * 1000;
	snprintf(out->content_type, sizeof out->content_type, "%s", content_type);
	snprintf(out->key_id, sizeof out->key_id, "%s", key->id);
	/* the recording's id binds its segments: they cannot be moved to another recording */
	sova_sealed_layout layout = {.rec_id = out->file_id.bytes, .rec_id_len = sizeof out->file_id.bytes,
				     .plain_bytes = len, .segment_size = out->segment_size};

	mongoc_collection_t *chunks = mongoc_database_get_collection(c.db, CHUNKS_COLL);
	mongoc_collection_t *files = mongoc_database_get_collection(c.db, FILES_COLL);
	crypto_hash_sha256_state sha;
	crypto_hash_sha256_init(&sha);
	bool source_failed = false;
	uint64_t written = write_chunks(chunks, key, &layout, &out->file_id, source, ud, &sha, &source_failed, err, errlen);
	bool ok = written == sova_sealed_segments(&layout);
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&sha, digest);
	sodium_bin2hex(out->sha256, sizeof out->sha256, digest, sizeof digest);
	if (ok) {
		bson_t doc;
		files_doc(&doc, out, org, sova_sealed_total(&layout), out->segment_size + SOVA_SEALED_OVERHEAD);
		ok = mongoc_collection_insert_one(files, &doc, NULL, NULL, &e);
		bson_destroy(&doc);
		if (!ok)
			snprintf(err, errlen, "database: %s", e.message);
	}
	if (!ok)
		remove_chunks(chunks, &out->file_id, written + 1); /* nothing half-stored stays behind */
	mongoc_collection_destroy(files);
	mongoc_collection_destroy(chunks);
	bucket_close(&c);
	if (ok)
		return SOVA_REC_OK;
	return source_failed ? SOVA_REC_SOURCE : SOVA_REC_ERROR;
}

/* The in-memory source of sova_recording_store. */
typedef struct memory_source {
	const uint8_t *data; /* borrowed */
	size_t at;
} memory_source;

static bool from_memory(void *ud, uint8_t *out, size_t n, char *err, size_t errlen)
{
	memory_source *m = ud;
	memcpy(out, m->data + m->at, n);
	m->at += n;
	return true;
}

sova_rec_status sova_recording_store(const bson_oid_t *org, const bson_oid_t *session, const char *content_type,
				     const sova_sealed_key *key, const uint8_t *data, size_t len,
				     sova_recording_info *out, char *err, size_t errlen)
{
	memory_source m = {.data = data};
	sova_rec_status st = sova_recording_store_stream(org, session, content_type, key, len, from_memory, &m, out, err,
							 errlen);
	if (st == SOVA_REC_EXISTS)
		memset(out, 0, sizeof *out);
	return st;
}

/* ---- the process key ---- */

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static sova_sealed_key *process_key; /* sodium_malloc'd (guarded, locked); lives as long as the process */

int sova_recording_set_process_key(const sova_sealed_key *k)
{
	pthread_mutex_lock(&key_lock);
	int rc = 0;
	if (!process_key) {
		process_key = sodium_malloc(sizeof *process_key);
		if (process_key)
			*process_key = *k;
		else
			rc = -1;
	} else if (sodium_memcmp(process_key->key, k->key, sizeof k->key) != 0) {
		rc = 1;
	}
	pthread_mutex_unlock(&key_lock);
	return rc;
}

bool sova_recording_process_key(sova_sealed_key *out)
{
	pthread_mutex_lock(&key_lock);
	bool ok = process_key != NULL;
	if (ok)
		*out = *process_key;
	pthread_mutex_unlock(&key_lock);
	return ok;
}

/* ---- read ---- */

/* Fetches chunk i by its own id; keeps the document until the next fetch. */
typedef struct chunk_reader {
	mongoc_collection_t *chunks; /* borrowed */
	const bson_oid_t *file_id;
	bson_t *doc; /* owned: the last chunk fetched */
	bool db_failed;
} chunk_reader;

static bool fetch_chunk(void *ud, uint64_t i, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
	chunk_reader *r = ud;
	if (r->doc) {
		bson_destroy(r->doc);
		r->doc = NULL;
	}
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_oid_t id;
	chunk_id(r->file_id, i, &id);
	BSON_APPEND_OID(&filter, "_id", &id);
	BSON_APPEND_INT64(&opts, "limit", 1);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(r->chunks, &filter, &opts, NULL);
	const bson_t *doc;
	bson_error_t e;
	if (mongoc_cursor_next(cur, &doc))
		r->doc = bson_copy(doc);
	else if (mongoc_cursor_error(cur, &e)) {
		r->db_failed = true;
		snprintf(err, errlen, "database: %s", e.message);
	} else
		snprintf(err, errlen, "chunk %llu is missing", (unsigned long long)i);
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	bson_destroy(&opts);
	if (!r->doc)
		return false;
	bson_iter_t it;
	/* the id says which file and index it is; the fields must agree */
	if (!bson_iter_init_find(&it, r->doc, "files_id") || !BSON_ITER_HOLDS_OID(&it) ||
	    !bson_oid_equal(bson_iter_oid(&it), r->file_id) || !bson_iter_init_find(&it, r->doc, "n") ||
	    !BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) != (int64_t)i ||
	    !bson_iter_init_find(&it, r->doc, "data") || !BSON_ITER_HOLDS_BINARY(&it)) {
		snprintf(err, errlen, "chunk %llu is malformed", (unsigned long long)i);
		return false;
	}
	bson_subtype_t sub;
	uint32_t n = 0;
	bson_iter_binary(&it, &sub, &n, data);
	*len = n;
	return true;
}

sova_rec_status sova_recording_read(const sova_recording_info *info, const sova_sealed_key *key, uint64_t from,
				    uint64_t to, uint8_t *out, char *err, size_t errlen)
{
	if (from > to || to >= info->bytes)
		return fail(err, errlen, SOVA_REC_ERROR, "range outside the recording", NULL);
	if (strcmp(info->key_id, key->id) != 0) {
		snprintf(err, errlen, "sealed with key %s, which is not loaded", info->key_id);
		return SOVA_REC_KEY;
	}
	sova_sealed_layout layout = {.rec_id = info->file_id.bytes, .rec_id_len = sizeof info->file_id.bytes,
				     .plain_bytes = info->bytes, .segment_size = info->segment_size};
	mongoc_client_t *client = sova_db_pop();
	if (!client)
		return fail(err, errlen, SOVA_REC_ERROR, "database not opened", NULL);
	chunk_reader r = {.chunks = mongoc_client_get_collection(client, sova_db_name(), CHUNKS_COLL),
			  .file_id = &info->file_id};
	bool ok = sova_sealed_read_range(key, &layout, from, to, fetch_chunk, &r, out, err, errlen);
	if (r.doc)
		bson_destroy(r.doc);
	mongoc_collection_destroy(r.chunks);
	sova_db_push(client);
	if (ok)
		return SOVA_REC_OK;
	return r.db_failed ? SOVA_REC_ERROR : SOVA_REC_DAMAGED;
}

/* ---- delete ---- */

sova_rec_status sova_recording_delete(const bson_oid_t *org, const bson_oid_t *session, char *err, size_t errlen)
{
	bucket_conn c;
	bson_error_t e;
	if (!bucket_open(&c, &e)) {
		bucket_close(&c);
		return fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	}
	sova_recording_info info;
	sova_rec_status st = find_in(&c, org, session, &info, err, errlen);
	if (st == SOVA_REC_OK) {
		bson_value_t id = {.value_type = BSON_TYPE_OID};
		bson_oid_copy(&info.file_id, &id.value.v_oid);
		if (!mongoc_gridfs_bucket_delete_by_id(c.bucket, &id, &e))
			st = fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	}
	bucket_close(&c);
	return st;
}

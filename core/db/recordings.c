/* Recordings in a GridFS bucket: see recordings.h. */
#include "db/recordings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/mongo.h"

#define CHUNKS_COLL SOVA_RECORDING_BUCKET ".chunks"

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

/* The tenant is part of the filter itself: another organization's recording never matches. */
static void session_filter(bson_t *filter, const bson_oid_t *org, const bson_oid_t *session)
{
	bson_init(filter);
	BSON_APPEND_OID(filter, "metadata.organization_id", org);
	BSON_APPEND_OID(filter, "metadata.session_id", session);
}

static sova_rec_status find_in(bucket_conn *c, const bson_oid_t *org, const bson_oid_t *session,
			       sova_recording_info *out, char *err, size_t errlen)
{
	bson_t filter, opts = BSON_INITIALIZER, sort;
	session_filter(&filter, org, session);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "uploadDate", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", 1);
	mongoc_cursor_t *cur = mongoc_gridfs_bucket_find(c->bucket, &filter, &opts);
	const bson_t *doc;
	bool found = mongoc_cursor_next(cur, &doc) && parse_files_doc(doc, out);
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

/* ---- store ---- */

static void metadata_of(bson_t *opts, const sova_recording_info *r, const bson_oid_t *org, uint32_t chunk)
{
	bson_t md;
	bson_init(opts);
	BSON_APPEND_INT32(opts, "chunkSizeBytes", (int32_t)chunk);
	BSON_APPEND_DOCUMENT_BEGIN(opts, "metadata", &md);
	BSON_APPEND_OID(&md, "organization_id", org);
	BSON_APPEND_OID(&md, "session_id", &r->session_id);
	BSON_APPEND_UTF8(&md, "content_type", r->content_type);
	BSON_APPEND_INT64(&md, "bytes", (int64_t)r->bytes);
	BSON_APPEND_INT32(&md, "segment_size", (int32_t)r->segment_size);
	BSON_APPEND_UTF8(&md, "key_id", r->key_id);
	BSON_APPEND_UTF8(&md, "sha256", r->sha256);
	BSON_APPEND_UTF8(&md, "sealing", SOVA_RECORDING_SEALING);
	bson_append_document_end(opts, &md);
}

/* Seals each segment and writes it to the upload stream: one segment's buffer at a time. */
static bool write_sealed(mongoc_stream_t *up, const sova_sealed_key *key, const sova_sealed_layout *l,
			 const uint8_t *data, char *err, size_t errlen)
{
	uint8_t *seg = malloc(l->segment_size + SOVA_SEALED_OVERHEAD); /* sealed bytes only: no wipe needed */
	if (!seg) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	bool ok = true;
	for (uint64_t i = 0; ok && i < sova_sealed_segments(l); i++) {
		size_t n = sova_sealed_segment_len(l, i);
		ok = sova_sealed_seal_segment(key, l, i, data + i * l->segment_size, seg);
		if (!ok) {
			snprintf(err, errlen, "sealing segment %llu failed", (unsigned long long)i);
			break;
		}
		ok = mongoc_stream_write(up, seg, n, 0) == (ssize_t)n;
		if (!ok) {
			bson_error_t e;
			mongoc_gridfs_bucket_stream_error(up, &e);
			snprintf(err, errlen, "database: %s", e.message);
		}
	}
	free(seg);
	return ok;
}

sova_rec_status sova_recording_store(const bson_oid_t *org, const bson_oid_t *session, const char *content_type,
				     const sova_sealed_key *key, const uint8_t *data, size_t len,
				     sova_recording_info *out, char *err, size_t errlen)
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
		return st == SOVA_REC_OK ? fail(err, errlen, SOVA_REC_EXISTS, "the session already has a recording", NULL) : st;
	}

	bson_oid_init(&out->file_id, NULL);
	bson_oid_copy(session, &out->session_id);
	out->bytes = len;
	out->segment_size = SOVA_SEALED_SEGMENT_SIZE;
	snprintf(out->content_type, sizeof out->content_type, "%s", content_type);
	snprintf(out->key_id, sizeof out->key_id, "%s", key->id);
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, data, len);
	sodium_bin2hex(out->sha256, sizeof out->sha256, digest, sizeof digest);
	/* the recording's own id binds its segments: they cannot be moved to another recording */
	sova_sealed_layout layout = {.rec_id = out->file_id.bytes, .rec_id_len = sizeof out->file_id.bytes,
				     .plain_bytes = len, .segment_size = out->segment_size};

	bson_t opts;
	metadata_of(&opts, out, org, out->segment_size + SOVA_SEALED_OVERHEAD);
	bson_value_t id = {.value_type = BSON_TYPE_OID};
	bson_oid_copy(&out->file_id, &id.value.v_oid);
	char filename[64];
	char hex[25];
	bson_oid_to_string(session, hex);
	snprintf(filename, sizeof filename, "session-%s.wav.sealed", hex);
	mongoc_stream_t *up = mongoc_gridfs_bucket_open_upload_stream_with_id(c.bucket, &id, filename, &opts, &e);
	bson_destroy(&opts);
	if (!up) {
		bucket_close(&c);
		return fail(err, errlen, SOVA_REC_ERROR, "database", &e);
	}
	bool ok = write_sealed(up, key, &layout, data, err, errlen);
	/* close writes the files document (and the last chunk) */
	if (ok && mongoc_stream_close(up) != 0) {
		mongoc_gridfs_bucket_stream_error(up, &e);
		snprintf(err, errlen, "database: %s", e.message);
		ok = false;
	}
	if (!ok)
		mongoc_gridfs_bucket_abort_upload(up); /* deletes this upload's chunks: a fresh id, ours alone */
	mongoc_stream_destroy(up);
	bucket_close(&c);
	return ok ? SOVA_REC_OK : SOVA_REC_ERROR;
}

/* ---- read ---- */

/* The chunks of one range, in order, from one query; each fetch takes the next. */
typedef struct chunk_reader {
	mongoc_cursor_t *cur; /* owned */
	const bson_oid_t *file_id;
	bool db_failed;
} chunk_reader;

static bool next_chunk(void *ud, uint64_t i, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
	chunk_reader *r = ud;
	const bson_t *doc;
	bson_error_t e;
	if (!mongoc_cursor_next(r->cur, &doc)) {
		if (mongoc_cursor_error(r->cur, &e)) {
			r->db_failed = true;
			snprintf(err, errlen, "database: %s", e.message);
		} else {
			snprintf(err, errlen, "chunk %llu is missing", (unsigned long long)i);
		}
		return false;
	}
	bson_iter_t it;
	if (!bson_iter_init_find(&it, doc, "n") || !BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) != (int64_t)i) {
		snprintf(err, errlen, "chunk %llu is missing", (unsigned long long)i);
		return false;
	}
	bson_subtype_t sub;
	uint32_t n = 0;
	if (!bson_iter_init_find(&it, doc, "data") || !BSON_ITER_HOLDS_BINARY(&it)) {
		snprintf(err, errlen, "chunk %llu has no data", (unsigned long long)i);
		return false;
	}
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
	mongoc_collection_t *chunks = mongoc_client_get_collection(client, sova_db_name(), CHUNKS_COLL);
	bson_t filter = BSON_INITIALIZER, n, opts = BSON_INITIALIZER, sort;
	BSON_APPEND_OID(&filter, "files_id", &info->file_id);
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "n", &n);
	BSON_APPEND_INT64(&n, "$gte", (int64_t)(from / info->segment_size));
	BSON_APPEND_INT64(&n, "$lte", (int64_t)(to / info->segment_size));
	bson_append_document_end(&filter, &n);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "n", 1);
	bson_append_document_end(&opts, &sort);
	chunk_reader r = {.cur = mongoc_collection_find_with_opts(chunks, &filter, &opts, NULL), .file_id = &info->file_id};
	bool ok = sova_sealed_read_range(key, &layout, from, to, next_chunk, &r, out, err, errlen);
	mongoc_cursor_destroy(r.cur);
	bson_destroy(&filter);
	bson_destroy(&opts);
	mongoc_collection_destroy(chunks);
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

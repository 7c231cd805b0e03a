/* Sealed spill files and their registry: see spill.h. */
#include "crypto/spill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "SvRecSp1"
#define MAGIC_LEN 8
#define HEADER_BYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SEALED_CHUNK (SOVA_SPILL_CHUNK + ABYTES)
#define PREFIX "rec-"
#define SUFFIX ".spill"

typedef crypto_secretstream_xchacha20poly1305_state stream_state;

void sova_recording_spill_wipe(sova_recording_spill *s)
{
	if (s)
		sodium_memzero(s, sizeof *s);
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* 1: n bytes read; 0: the file ended first; -1: error. */
static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

bool sova_spill_id_ok(const char *id)
{
	if (!id || strlen(id) != SOVA_SPILL_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The id in a spill file's name, or NULL. */
static const char *name_id(const char *name, char id[SOVA_SPILL_ID_LEN + 1])
{
	size_t n = strlen(name);
	if (n != sizeof PREFIX - 1 + SOVA_SPILL_ID_LEN + sizeof SUFFIX - 1 || strncmp(name, PREFIX, sizeof PREFIX - 1) != 0 ||
	    strcmp(name + n - (sizeof SUFFIX - 1), SUFFIX) != 0)
		return NULL;
	memcpy(id, name + sizeof PREFIX - 1, SOVA_SPILL_ID_LEN);
	id[SOVA_SPILL_ID_LEN] = '\0';
	return sova_spill_id_ok(id) ? id : NULL;
}

bool sova_spill_path_ok(const char *path)
{
	char id[SOVA_SPILL_ID_LEN + 1];
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash && strlen(path) < SOVA_SPILL_PATH_MAX && name_id(slash + 1, id) != NULL;
}

/* ---- writing ---- */

struct sova_spill_writer {
	int fd;                 /* owned; -1 once closed */
	bool handed_over;       /* sova_spill_close gave the file to its caller */
	stream_state st;        /* holds key material: wiped on free */
	unsigned char key[SOVA_SPILL_KEYBYTES];
	char id[SOVA_SPILL_ID_LEN + 1];
	char path[SOVA_SPILL_PATH_MAX];
	uint64_t plain_bytes;   /* sealed so far */
	uint8_t sealed[SEALED_CHUNK]; /* ciphertext only: no wipe needed */
};

size_t sova_spill_writer_memory(void) { return sizeof(struct sova_spill_writer); }

sova_spill_writer *sova_spill_create(const char *dir, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "spill: libsodium cannot start");
		return NULL;
	}
	if (!dir || !*dir || strlen(dir) > SOVA_SPILL_PATH_MAX - 64) {
		snprintf(err, errlen, "spill: spool directory missing or too long");
		return NULL;
	}
	sova_spill_writer *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "spill: out of memory");
		return NULL;
	}
	w->fd = -1;
	unsigned char rnd[SOVA_SPILL_ID_LEN / 2];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(w->id, sizeof w->id, rnd, sizeof rnd);
	snprintf(w->path, sizeof w->path, "%s/" PREFIX "%s" SUFFIX, dir, w->id);
	crypto_secretstream_xchacha20poly1305_keygen(w->key);
	/* O_EXCL and O_NOFOLLOW: never open a file or a link someone placed under the name */
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		snprintf(err, errlen, "spill: cannot create a file in %s: %s", dir, strerror(errno));
		sova_spill_writer_free(w);
		return NULL;
	}
	uint8_t head[MAGIC_LEN + HEADER_BYTES];
	memcpy(head, MAGIC, MAGIC_LEN);
	if (crypto_secretstream_xchacha20poly1305_init_push(&w->st, head + MAGIC_LEN, w->key) != 0 ||
	    !write_all(w->fd, head, sizeof head)) {
		snprintf(err, errlen, "spill: cannot write %s: %s", w->path, strerror(errno));
		sova_spill_writer_free(w);
		return NULL;
	}
	return w;
}

static bool push(sova_spill_writer *w, const uint8_t *plain, size_t n, unsigned char tag, char *err, size_t errlen)
{
	unsigned long long clen = 0;
	if (w->fd < 0 || crypto_secretstream_xchacha20poly1305_push(&w->st, w->sealed, &clen, n ? plain : (const uint8_t *)"",
								    n, NULL, 0, tag) != 0) {
		snprintf(err, errlen, "spill: sealing failed");
		return false;
	}
	if (!write_all(w->fd, w->sealed, (size_t)clen)) {
		snprintf(err, errlen, "spill: cannot write %s: %s", w->path, errno ? strerror(errno) : "short write");
		return false;
	}
	w->plain_bytes += n;
	return true;
}

bool sova_spill_append(sova_spill_writer *w, const uint8_t *plain, char *err, size_t errlen)
{
	return push(w, plain, SOVA_SPILL_CHUNK, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, err, errlen);
}

bool sova_spill_close(sova_spill_writer *w, const uint8_t *last, size_t n, int sample_rate,
		      sova_recording_spill *out, char *err, size_t errlen)
{
	if (n > SOVA_SPILL_CHUNK || sample_rate <= 0) {
		snprintf(err, errlen, "spill: bad final chunk");
		return false;
	}
	if (!push(w, last, n, crypto_secretstream_xchacha20poly1305_TAG_FINAL, err, errlen))
		return false;
	/* No fsync: a spill outlives only the process's memory, where its key is (see spill.h). */
	if (close(w->fd) != 0) {
		w->fd = -1;
		snprintf(err, errlen, "spill: cannot close %s: %s", w->path, strerror(errno));
		return false;
	}
	w->fd = -1;
	memset(out, 0, sizeof *out);
	memcpy(out->id, w->id, sizeof out->id);
	memcpy(out->path, w->path, sizeof out->path);
	memcpy(out->key, w->key, sizeof out->key);
	out->pcm_bytes = w->plain_bytes;
	out->sample_rate = sample_rate;
	out->duration_seconds = (double)(w->plain_bytes / 4) / sample_rate;
	w->handed_over = true;
	return true;
}

void sova_spill_writer_free(sova_spill_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->handed_over && w->path[0])
		unlink(w->path);
	sodium_memzero(w, sizeof *w);
	free(w);
}

/* ---- reading ---- */

struct sova_spill_reader {
	int fd;           /* owned */
	stream_state st;  /* key material: wiped */
	uint64_t expect;  /* plaintext bytes the spill says it holds */
	uint64_t done;    /* plaintext bytes handed out */
	bool final_seen;
	size_t have, at;  /* plaintext in plain[]: bytes, and the next one to hand out */
	uint8_t plain[SOVA_SPILL_CHUNK]; /* PHI: wiped on free */
	uint8_t sealed[SEALED_CHUNK];
};

void sova_spill_reader_free(sova_spill_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	sodium_memzero(r, sizeof *r);
	free(r);
}

sova_spill_reader *sova_spill_open(const sova_recording_spill *s, char *err, size_t errlen)
{
	if (sodium_init() < 0 || !sova_spill_path_ok(s->path)) {
		snprintf(err, errlen, "spill: not a spill path");
		return NULL;
	}
	sova_spill_reader *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "spill: out of memory");
		return NULL;
	}
	r->expect = s->pcm_bytes;
	r->fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (r->fd < 0) {
		snprintf(err, errlen, "spill: cannot open %s: %s", s->path, strerror(errno));
		sova_spill_reader_free(r);
		return NULL;
	}
	uint8_t head[MAGIC_LEN + HEADER_BYTES];
	if (read_all(r->fd, head, sizeof head) != 1 || memcmp(head, MAGIC, MAGIC_LEN) != 0 ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&r->st, head + MAGIC_LEN, s->key) != 0) {
		snprintf(err, errlen, "spill: %s is not a spill file", s->path);
		sova_spill_reader_free(r);
		return NULL;
	}
	return r;
}

/* Opens the next sealed message into plain[]. */
static bool next_message(sova_spill_reader *r, char *err, size_t errlen)
{
	if (r->final_seen) {
		snprintf(err, errlen, "spill: read past the end");
		return false;
	}
	/* A full message is SEALED_CHUNK bytes; only the FINAL one may be shorter (the file's end). */
	size_t got = 0;
	while (got < SEALED_CHUNK) {
		ssize_t n = read(r->fd, r->sealed + got, SEALED_CHUNK - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "spill: read failed: %s", strerror(errno));
			return false;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	unsigned long long mlen = 0;
	unsigned char tag = 0xff;
	if (got < ABYTES || crypto_secretstream_xchacha20poly1305_pull(&r->st, r->plain, &mlen, &tag, r->sealed, got, NULL,
								      0) != 0) {
		snprintf(err, errlen, "spill: damaged (authentication failed)");
		return false;
	}
	bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	if (!final && (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE || mlen != SOVA_SPILL_CHUNK)) {
		snprintf(err, errlen, "spill: damaged (a message out of place)");
		return false;
	}
	uint8_t extra;
	if (final && read_all(r->fd, &extra, 1) != 0) {
		snprintf(err, errlen, "spill: damaged (bytes after the end)");
		return false;
	}
	r->final_seen = final;
	r->have = (size_t)mlen;
	r->at = 0;
	return true;
}

bool sova_spill_read(sova_spill_reader *r, uint8_t *out, size_t n, char *err, size_t errlen)
{
	size_t done = 0;
	bool ok = r->done + n <= r->expect;
	if (!ok)
		snprintf(err, errlen, "spill: read past its length");
	while (ok && done < n) {
		if (r->at == r->have) {
			ok = next_message(r, err, errlen);
			if (ok && r->have == 0 && done < n) {
				snprintf(err, errlen, "spill: shorter than its length");
				ok = false;
			}
			continue;
		}
		size_t k = r->have - r->at < n - done ? r->have - r->at : n - done;
		memcpy(out + done, r->plain + r->at, k);
		r->at += k;
		done += k;
	}
	r->done += done;
	/* the last byte given: the stream must end exactly here, FINAL-tagged */
	if (ok && r->done == r->expect) {
		while (ok && r->at == r->have && !r->final_seen) {
			ok = next_message(r, err, errlen);
			if (ok && r->have > 0) {
				snprintf(err, errlen, "spill: longer than its length");
				ok = false;
			}
		}
		if (ok && r->at != r->have) {
			snprintf(err, errlen, "spill: longer than its length");
			ok = false;
		}
	}
	if (!ok)
		sodium_memzero(out, n);
	return ok;
}

/* ---- WAV header ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* The layout core/bot/media/wav.c writes: RIFF, fmt (PCM, 2 channels, 16 bits), data. */
void sova_spill_wav_header(uint8_t h[SOVA_WAV_HEADER_LEN], int sample_rate, uint32_t data_bytes)
{
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + data_bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	put16(h + 20, 1);
	put16(h + 22, 2);
	put32(h + 24, (uint32_t)sample_rate);
	put32(h + 28, (uint32_t)sample_rate * 4);
	put16(h + 32, 4);
	put16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	put32(h + 40, data_bytes);
}

/* ---- the registry ---- */

typedef struct entry {
	struct entry *next;
	sova_recording_spill spill; /* key material: wiped when the entry goes */
} entry;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static entry *reg_head; /* owned: the spills waiting for the writer */
static size_t reg_count;

static entry **find_locked(const char *id)
{
	for (entry **e = &reg_head; *e; e = &(*e)->next)
		if (strcmp((*e)->spill.id, id) == 0)
			return e;
	return NULL;
}

bool sova_spill_register(const sova_recording_spill *s, char *err, size_t errlen)
{
	if (!s || !sova_spill_id_ok(s->id) || !sova_spill_path_ok(s->path) || s->sample_rate <= 0) {
		snprintf(err, errlen, "spill: malformed");
		return false;
	}
	entry *x = calloc(1, sizeof *x);
	if (!x) {
		snprintf(err, errlen, "spill: out of memory");
		return false;
	}
	x->spill = *s;
	pthread_mutex_lock(&reg_mu);
	bool ok = reg_count < SOVA_SPILL_REGISTRY_MAX && !find_locked(s->id);
	if (ok) {
		x->next = reg_head;
		reg_head = x;
		reg_count++;
	}
	pthread_mutex_unlock(&reg_mu);
	if (!ok) {
		sodium_memzero(x, sizeof *x);
		free(x);
		snprintf(err, errlen, "spill: registry full or id registered twice");
	}
	return ok;
}

bool sova_spill_lookup(const char *id, sova_recording_spill *out)
{
	if (!sova_spill_id_ok(id))
		return false;
	pthread_mutex_lock(&reg_mu);
	entry **e = find_locked(id);
	if (e)
		*out = (*e)->spill;
	pthread_mutex_unlock(&reg_mu);
	return e != NULL;
}

bool sova_spill_discard(const char *id)
{
	if (!sova_spill_id_ok(id))
		return false;
	pthread_mutex_lock(&reg_mu);
	entry **e = find_locked(id);
	entry *x = e ? *e : NULL;
	if (x) {
		*e = x->next;
		reg_count--;
	}
	pthread_mutex_unlock(&reg_mu);
	if (!x)
		return false;
	unlink(x->spill.path);
	sodium_memzero(x, sizeof *x);
	free(x);
	return true;
}

size_t sova_spill_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char id[SOVA_SPILL_ID_LEN + 1];
		if (!name_id(de->d_name, id))
			continue;
		pthread_mutex_lock(&reg_mu);
		bool known = find_locked(id) != NULL;
		pthread_mutex_unlock(&reg_mu);
		if (!known && unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

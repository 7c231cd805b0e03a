/* Recordings encrypted at rest: libsodium crypto_secretstream_xchacha20poly1305 in independently
 * decryptable segments, so a byte range decrypts only the segments it touches.
 *
 * Layout: the plaintext is cut into segments of segment_size bytes (the last one shorter; an empty
 * recording is one empty segment). Each sealed segment is its own secretstream — a fresh 24-byte
 * header, then one message of the segment's bytes plus 17 bytes of tag and MAC — so sealed
 * segment i sits at i * (segment_size + SOVA_SEALED_OVERHEAD). The additional data of every
 * segment binds the format version, the recording's id, the segment's index and the plaintext
 * length: a segment cannot be swapped within a recording, moved to another, or read under a
 * forged length. The last segment is tagged FINAL and every other MESSAGE, so a recording cut
 * at a segment boundary is detected.
 *
 * Keys: crypto_kdf subkeys of SOVA_DATA_KEY, one per purpose; the key id (a fingerprint of the
 * subkey, never the key) is stored with each recording so keys can be rotated later. */
#ifndef SOVA_CRYPTO_SEALED_H
#define SOVA_CRYPTO_SEALED_H
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_SEALED_KEYBYTES crypto_secretstream_xchacha20poly1305_KEYBYTES
/* Per segment: the secretstream header plus the message's tag and MAC (24 + 17 bytes). */
#define SOVA_SEALED_OVERHEAD \
	(crypto_secretstream_xchacha20poly1305_HEADERBYTES + crypto_secretstream_xchacha20poly1305_ABYTES)
/* 1 MiB of plaintext per segment: a seek decrypts at most about 2 MiB. */
#define SOVA_SEALED_SEGMENT_SIZE (1u << 20)
#define SOVA_SEALED_SEGMENT_MAX (8u << 20)
#define SOVA_SEALED_ID_MAX 64
#define SOVA_SEALED_KEY_ID_LEN 19 /* "k1:" + 16 hex digits */

/* What a subkey is for: its crypto_kdf subkey id under the context "sovadata". */
typedef enum {
	SOVA_KEY_RECORDING = 1,
} sova_key_purpose;

/* A derived key and its public fingerprint. Zero it with sova_sealed_key_wipe when done. */
typedef struct sova_sealed_key {
	unsigned char key[SOVA_SEALED_KEYBYTES];
	char id[SOVA_SEALED_KEY_ID_LEN + 1];
} sova_sealed_key;

/* Derives purpose's subkey from the data key secret (any length >= 32 bytes: it is hashed to the
 * 32-byte crypto_kdf master key first). false when libsodium cannot start or secret is short. */
bool sova_sealed_derive_key(const char *secret, size_t secret_len, sova_key_purpose purpose, sova_sealed_key *out);
void sova_sealed_key_wipe(sova_sealed_key *k);

/* The recording's sealing parameters, bound into every segment. */
typedef struct sova_sealed_layout {
	const uint8_t *rec_id; /* borrowed: the recording's id (e.g. its 12 ObjectId bytes) */
	size_t rec_id_len;     /* 1..SOVA_SEALED_ID_MAX */
	uint64_t plain_bytes;  /* the whole plaintext's length */
	uint32_t segment_size; /* plaintext bytes per segment, 1..SOVA_SEALED_SEGMENT_MAX */
} sova_sealed_layout;

/* Number of segments (>= 1), the sealed length of segment i, and of the whole recording. */
uint64_t sova_sealed_segments(const sova_sealed_layout *l);
size_t sova_sealed_segment_len(const sova_sealed_layout *l, uint64_t i);
uint64_t sova_sealed_total(const sova_sealed_layout *l);
bool sova_sealed_layout_ok(const sova_sealed_layout *l);

/* Seals segment i of the plaintext (plain: the segment's bytes, sova_sealed_segment_len - OVERHEAD
 * of them) into out (sova_sealed_segment_len bytes). false on bad arguments. */
bool sova_sealed_seal_segment(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t i,
			      const uint8_t *plain, uint8_t *out);

/* Opens sealed segment i (sealed_len must be its exact length) into out (its plaintext length).
 * false when it fails authentication (tampered, another recording's or index's segment, wrong
 * key, wrong tag for its place) or has the wrong length. */
bool sova_sealed_open_segment(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t i,
			      const uint8_t *sealed, size_t sealed_len, uint8_t *out);

/* Seals the whole plaintext into out (sova_sealed_total bytes). */
bool sova_sealed_seal(const sova_sealed_key *k, const sova_sealed_layout *l, const uint8_t *plain, uint8_t *out);

/* Where sealed segments come from when reading a range: fills *data and *len with sealed segment i
 * (owned by the source, valid until the next call or the end of the read). false with err set
 * when it is missing or cannot be read. */
typedef bool (*sova_sealed_fetch_fn)(void *ud, uint64_t i, const uint8_t **data, size_t *len, char *err,
				     size_t errlen);

/* Decrypts plaintext bytes [from, to] (inclusive, to < plain_bytes) into out (to - from + 1
 * bytes), fetching only the segments the range touches. Nothing of a segment that fails is
 * left in out (out is zeroed on failure). false with err ("segment 3 failed authentication", or
 * the fetch's message). */
bool sova_sealed_read_range(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t from, uint64_t to,
			    sova_sealed_fetch_fn fetch, void *ud, uint8_t *out, char *err, size_t errlen);
#endif

/* Segmented secretstream sealing of recordings: see sealed.h. */
#include "crypto/sealed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KDF_CONTEXT "sovadata" /* crypto_kdf_CONTEXTBYTES = 8 */
#define AD_MAGIC "sova.rec.v1"
#define AD_MAX (sizeof AD_MAGIC - 1 + 1 + SOVA_SEALED_ID_MAX + 8 + 8 + 4)

typedef crypto_secretstream_xchacha20poly1305_state stream_state;

/* ---- keys ---- */

bool sova_sealed_derive_key(const char *secret, size_t secret_len, sova_key_purpose purpose, sova_sealed_key *out)
{
	if (sodium_init() < 0 || !secret || secret_len < 32)
		return false;
	/* SOVA_DATA_KEY is text of any length; crypto_kdf wants exactly 32 bytes of master key. */
	unsigned char master[crypto_kdf_KEYBYTES];
	crypto_generichash(master, sizeof master, (const unsigned char *)secret, secret_len, NULL, 0);
	int rc = crypto_kdf_derive_from_key(out->key, sizeof out->key, (uint64_t)purpose, KDF_CONTEXT, master);
	sodium_memzero(master, sizeof master);
	if (rc != 0)
		return false;
	/* The id is a keyed hash of nothing under the subkey: it names the key without revealing it. */
	unsigned char fp[8];
	crypto_generichash(fp, sizeof fp, (const unsigned char *)"sova key id", 11, out->key, sizeof out->key);
	char hex[2 * sizeof fp + 1];
	sodium_bin2hex(hex, sizeof hex, fp, sizeof fp);
	snprintf(out->id, sizeof out->id, "k1:%s", hex);
	return true;
}

void sova_sealed_key_wipe(sova_sealed_key *k) { sodium_memzero(k, sizeof *k); }

/* ---- layout ---- */

bool sova_sealed_layout_ok(const sova_sealed_layout *l)
{
	return l && l->rec_id && l->rec_id_len >= 1 && l->rec_id_len <= SOVA_SEALED_ID_MAX && l->segment_size >= 1 &&
	       l->segment_size <= SOVA_SEALED_SEGMENT_MAX;
}

uint64_t sova_sealed_segments(const sova_sealed_layout *l)
{
	if (l->plain_bytes == 0)
		return 1;
	return (l->plain_bytes + l->segment_size - 1) / l->segment_size;
}

/* Plaintext bytes in segment i. */
static size_t plain_len_of(const sova_sealed_layout *l, uint64_t i)
{
	uint64_t start = i * l->segment_size;
	if (start >= l->plain_bytes)
		return 0;
	uint64_t left = l->plain_bytes - start;
	return (size_t)(left < l->segment_size ? left : l->segment_size);
}

size_t sova_sealed_segment_len(const sova_sealed_layout *l, uint64_t i) { return plain_len_of(l, i) + SOVA_SEALED_OVERHEAD; }

uint64_t sova_sealed_total(const sova_sealed_layout *l) { return l->plain_bytes + sova_sealed_segments(l) * SOVA_SEALED_OVERHEAD; }

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int b = 0; b < n; b++)
		p[b] = (uint8_t)(v >> (8 * b));
}

/* The additional data of segment i: magic, id (length-prefixed), index, plaintext length, segment size. */
static size_t build_ad(const sova_sealed_layout *l, uint64_t i, uint8_t ad[AD_MAX])
{
	size_t n = sizeof AD_MAGIC - 1;
	memcpy(ad, AD_MAGIC, n);
	ad[n++] = (uint8_t)l->rec_id_len;
	memcpy(ad + n, l->rec_id, l->rec_id_len);
	n += l->rec_id_len;
	put_le(ad + n, i, 8);
	put_le(ad + n + 8, l->plain_bytes, 8);
	put_le(ad + n + 16, l->segment_size, 4);
	return n + 20;
}

/* ---- one segment ---- */

bool sova_sealed_seal_segment(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t i,
			      const uint8_t *plain, uint8_t *out)
{
	if (!sova_sealed_layout_ok(l) || i >= sova_sealed_segments(l))
		return false;
	uint8_t ad[AD_MAX];
	size_t adlen = build_ad(l, i, ad);
	size_t mlen = plain_len_of(l, i);
	unsigned char tag = i + 1 == sova_sealed_segments(l) ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
							      : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	stream_state st;
	bool ok = crypto_secretstream_xchacha20poly1305_init_push(&st, out, k->key) == 0 &&
		  crypto_secretstream_xchacha20poly1305_push(&st, out + crypto_secretstream_xchacha20poly1305_HEADERBYTES,
							     NULL, mlen ? plain : (const uint8_t *)"", mlen, ad, adlen,
							     tag) == 0;
	sodium_memzero(&st, sizeof st);
	return ok;
}

bool sova_sealed_open_segment(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t i,
			      const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
	if (!sova_sealed_layout_ok(l) || i >= sova_sealed_segments(l) || sealed_len != sova_sealed_segment_len(l, i))
		return false;
	uint8_t ad[AD_MAX];
	size_t adlen = build_ad(l, i, ad);
	unsigned char want = i + 1 == sova_sealed_segments(l) ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
							       : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	unsigned char tag = 0xff;
	unsigned long long mlen = 0;
	stream_state st;
	/* an empty segment still needs somewhere to write its zero bytes */
	uint8_t none[1];
	bool ok = crypto_secretstream_xchacha20poly1305_init_pull(&st, sealed, k->key) == 0 &&
		  crypto_secretstream_xchacha20poly1305_pull(
			  &st, plain_len_of(l, i) ? out : none, &mlen, &tag,
			  sealed + crypto_secretstream_xchacha20poly1305_HEADERBYTES,
			  sealed_len - crypto_secretstream_xchacha20poly1305_HEADERBYTES, ad, adlen) == 0 &&
		  tag == want && mlen == plain_len_of(l, i);
	sodium_memzero(&st, sizeof st);
	if (!ok && plain_len_of(l, i))
		sodium_memzero(out, plain_len_of(l, i));
	return ok;
}

/* ---- whole recordings and ranges ---- */

bool sova_sealed_seal(const sova_sealed_key *k, const sova_sealed_layout *l, const uint8_t *plain, uint8_t *out)
{
	if (!sova_sealed_layout_ok(l))
		return false;
	uint64_t n = sova_sealed_segments(l);
	size_t at = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!sova_sealed_seal_segment(k, l, i, plain + i * l->segment_size, out + at))
			return false;
		at += sova_sealed_segment_len(l, i);
	}
	return true;
}

bool sova_sealed_read_range(const sova_sealed_key *k, const sova_sealed_layout *l, uint64_t from, uint64_t to,
			    sova_sealed_fetch_fn fetch, void *ud, uint8_t *out, char *err, size_t errlen)
{
	if (!sova_sealed_layout_ok(l) || from > to || to >= l->plain_bytes) {
		snprintf(err, errlen, "range %llu-%llu outside the recording", (unsigned long long)from,
			 (unsigned long long)to);
		return false;
	}
	uint8_t *seg = malloc(l->segment_size); /* one segment's plaintext at a time; wiped before free */
	if (!seg) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	bool ok = true;
	size_t written = 0;
	for (uint64_t i = from / l->segment_size; ok && i <= to / l->segment_size; i++) {
		const uint8_t *data = NULL;
		size_t len = 0;
		if (!fetch(ud, i, &data, &len, err, errlen)) {
			ok = false;
			break;
		}
		if (!sova_sealed_open_segment(k, l, i, data, len, seg)) {
			snprintf(err, errlen, "segment %llu failed authentication", (unsigned long long)i);
			ok = false;
			break;
		}
		uint64_t seg_start = i * l->segment_size;
		uint64_t a = from > seg_start ? from - seg_start : 0;
		uint64_t b = to - seg_start < plain_len_of(l, i) - 1 ? to - seg_start : plain_len_of(l, i) - 1;
		memcpy(out + written, seg + a, (size_t)(b - a + 1));
		written += (size_t)(b - a + 1);
	}
	sodium_memzero(seg, l->segment_size);
	free(seg);
	if (!ok)
		sodium_memzero(out, (size_t)(to - from + 1));
	return ok;
}

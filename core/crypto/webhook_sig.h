/* Webhook signatures that are not ours to choose: Twilio signs its callbacks with HMAC-SHA1 over
 * the public URL and the sorted form parameters, base64-encoded (X-Twilio-Signature). libsodium
 * has no SHA-1, so this one digest comes from OpenSSL's libcrypto. Plain C. */
#ifndef SOVA_CRYPTO_WEBHOOK_SIG_H
#define SOVA_CRYPTO_WEBHOOK_SIG_H
#include <stdbool.h>
#include <stddef.h>

/* base64 (standard alphabet, padded) of a 20-byte digest, with its NUL */
#define SOVA_HMAC_SHA1_B64_BYTES 29

/* out = base64(HMAC-SHA1(key, data)); false only when libcrypto fails */
bool sova_hmac_sha1_base64(const void *key, size_t key_len, const void *data, size_t len,
			   char out[SOVA_HMAC_SHA1_B64_BYTES]);
#endif

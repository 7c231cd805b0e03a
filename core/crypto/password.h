/* Password hashing: argon2id through libsodium (OWASP: m >= 19 MiB, t >= 2). */
#ifndef SOVA_CRYPTO_PASSWORD_H
#define SOVA_CRYPTO_PASSWORD_H
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#define SOVA_PASSWORD_HASH_BYTES crypto_pwhash_STRBYTES
#define SOVA_PASSWORD_MAX 1024

/* Initializes libsodium; false when the library cannot be used. */
bool sova_crypto_init(void);
/* out receives a NUL-terminated "$argon2id$..." string. Returns false on failure (out of memory). */
bool sova_password_hash(const char *pw, size_t len, char out[SOVA_PASSWORD_HASH_BYTES]);
/* true only for a matching password. Hashing runs in bounded concurrency: each uses 64 MiB. */
bool sova_password_verify(const char *hash, const char *pw, size_t len);
#endif

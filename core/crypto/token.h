/* Session tokens: HS256 JWTs. libjwt 1.10 checks neither algorithm nor expiry, so this does. */
#ifndef SOVA_CRYPTO_TOKEN_H
#define SOVA_CRYPTO_TOKEN_H
#include <stddef.h>
#include <time.h>

#define SOVA_TOKEN_MAX 4096
#define SOVA_SECRET_MIN 32

/* Signs a JSON object of claims. Returns a malloc'd token (caller frees), or NULL with *why set. */
char *sova_token_sign(const char *claims_json, const unsigned char *key, size_t keylen, const char **why);

/* Verifies signature (HS256 only), exp (required, > now), nbf (if present, <= now) and aud (== aud).
 * Returns the claims as a malloc'd JSON object (caller frees), or NULL with *why set. */
char *sova_token_verify(const char *token, const unsigned char *key, size_t keylen, const char *aud,
			time_t now, const char **why);
#endif

#include "crypto/token.h"

#include <errno.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

char *sova_token_sign(const char *claims_json, const unsigned char *key, size_t keylen, const char **why)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	if (keylen < SOVA_SECRET_MIN) {
		*why = "secret too short";
		return NULL;
	}
	if (jwt_new(&jwt) != 0) {
		*why = "out of memory";
		return NULL;
	}
	if (jwt_add_grants_json(jwt, claims_json) != 0) {
		*why = "claims are not a JSON object";
		goto out;
	}
	if (jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen) != 0) {
		*why = "cannot set algorithm";
		goto out;
	}
	out = jwt_encode_str(jwt);
	if (!out)
		*why = "cannot encode token";
out:
	jwt_free(jwt);
	return out;
}

char *sova_token_verify(const char *token, const unsigned char *key, size_t keylen, const char *aud,
			time_t now, const char **why)
{
	jwt_t *jwt = NULL;
	char *claims = NULL;
	if (keylen < SOVA_SECRET_MIN) {
		*why = "secret too short";
		return NULL;
	}
	if (strnlen(token, SOVA_TOKEN_MAX + 1) > SOVA_TOKEN_MAX) {
		*why = "token too long";
		return NULL;
	}
	/* The key is always passed, so an unsigned token never decodes... */
	if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || !jwt) {
		*why = "bad signature or malformed token";
		return NULL;
	}
	/* ...and the algorithm is pinned: HS384/HS512 with the same secret, or "none", are refused. */
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		*why = "algorithm not allowed";
		goto out;
	}
	errno = 0;
	long exp = jwt_get_grant_int(jwt, "exp");
	if (errno != 0 || exp <= 0) {
		*why = "no expiry";
		goto out;
	}
	if ((time_t)exp <= now) {
		*why = "expired";
		goto out;
	}
	errno = 0;
	long nbf = jwt_get_grant_int(jwt, "nbf");
	if (errno == 0 && (time_t)nbf > now + 60) {
		*why = "not yet valid";
		goto out;
	}
	const char *a = jwt_get_grant(jwt, "aud");
	if (!a || strcmp(a, aud) != 0) {
		*why = "wrong audience";
		goto out;
	}
	claims = jwt_get_grants_json(jwt, NULL);
	if (!claims)
		*why = "cannot read claims";
out:
	jwt_free(jwt);
	return claims;
}

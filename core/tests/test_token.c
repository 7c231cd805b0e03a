/* Session tokens (core/crypto/token.c): libjwt 1.10 checks neither algorithm nor expiry, so these
 * cases are what stands between a forged token and a clinic's data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <sodium.h>

#include "crypto/token.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof KEY - 1)
#define NOW ((time_t)1800000000)
#define AUD "sova-api"

static char *sign_claims(const char *fmt, long exp)
{
	char claims[256];
	snprintf(claims, sizeof claims, fmt, exp);
	const char *why = NULL;
	char *t = sova_token_sign(claims, KEY, KEYLEN, &why);
	assert_non_null(t);
	return t;
}

static const char *verify_fails(const char *token)
{
	const char *why = NULL;
	char *claims = sova_token_verify(token, KEY, KEYLEN, AUD, NOW, &why);
	assert_null(claims);
	assert_non_null(why);
	return why;
}

static void a_signed_token_verifies_and_gives_its_claims(void **state)
{
	char *t = sign_claims("{\"sub\":\"u1\",\"aud\":\"" AUD "\",\"exp\":%ld}", (long)NOW + 60);
	const char *why = NULL;
	char *claims = sova_token_verify(t, KEY, KEYLEN, AUD, NOW, &why);
	assert_non_null(claims);
	assert_non_null(strstr(claims, "\"sub\":\"u1\""));
	free(claims);
	free(t);
}

static void expired_missing_expiry_and_wrong_audience_are_refused(void **state)
{
	char *expired = sign_claims("{\"aud\":\"" AUD "\",\"exp\":%ld}", (long)NOW);
	assert_string_equal(verify_fails(expired), "expired");
	char *no_exp = sign_claims("{\"aud\":\"" AUD "\",\"x\":%ld}", 1L);
	assert_string_equal(verify_fails(no_exp), "no expiry");
	char *other_aud = sign_claims("{\"aud\":\"sova-bot\",\"exp\":%ld}", (long)NOW + 60);
	assert_string_equal(verify_fails(other_aud), "wrong audience");
	char *no_aud = sign_claims("{\"exp\":%ld}", (long)NOW + 60);
	assert_string_equal(verify_fails(no_aud), "wrong audience");
	free(expired);
	free(no_exp);
	free(other_aud);
	free(no_aud);
}

static void a_token_not_yet_valid_is_refused(void **state)
{
	char claims[128];
	snprintf(claims, sizeof claims, "{\"aud\":\"" AUD "\",\"exp\":%ld,\"nbf\":%ld}", (long)NOW + 600, (long)NOW + 300);
	const char *why;
	char *t = sova_token_sign(claims, KEY, KEYLEN, &why);
	assert_string_equal(verify_fails(t), "not yet valid");
	free(t);
}

/* The same secret with another HMAC: libjwt would accept it. */
static void hs512_with_the_same_secret_is_refused(void **state)
{
	jwt_t *jwt = NULL;
	assert_int_equal(jwt_new(&jwt), 0);
	char claims[128];
	snprintf(claims, sizeof claims, "{\"aud\":\"" AUD "\",\"exp\":%ld}", (long)NOW + 60);
	assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
	assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS512, KEY, (int)KEYLEN), 0);
	char *t = jwt_encode_str(jwt);
	assert_non_null(t);
	assert_string_equal(verify_fails(t), "algorithm not allowed");
	free(t);
	jwt_free(jwt);
}

static char *b64url(const char *s)
{
	size_t n = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(n);
	assert_non_null(out);
	sodium_bin2base64(out, n, (const unsigned char *)s, strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

static void an_unsigned_alg_none_token_is_refused(void **state)
{
	char payload[128];
	snprintf(payload, sizeof payload, "{\"aud\":\"" AUD "\",\"exp\":%ld,\"sub\":\"admin\"}", (long)NOW + 60);
	char *h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"), *p = b64url(payload);
	char token[512];
	snprintf(token, sizeof token, "%s.%s.", h, p);
	verify_fails(token);
	snprintf(token, sizeof token, "%s.%s", h, p);
	verify_fails(token);
	free(h);
	free(p);
}

static void a_tampered_payload_or_another_key_is_refused(void **state)
{
	char *t = sign_claims("{\"sub\":\"u1\",\"aud\":\"" AUD "\",\"exp\":%ld}", (long)NOW + 60);
	/* swap the payload for one naming another user, keeping the signature */
	char payload[128];
	snprintf(payload, sizeof payload, "{\"sub\":\"u2\",\"aud\":\"" AUD "\",\"exp\":%ld}", (long)NOW + 60);
	char *p = b64url(payload);
	char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
	char forged[1024];
	snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - t), t, p, dot2);
	assert_string_equal(verify_fails(forged), "bad signature or malformed token");

	static const unsigned char OTHER[] = "another-secret-of-enough-length-0123456789";
	const char *why;
	assert_null(sova_token_verify(t, OTHER, sizeof OTHER - 1, AUD, NOW, &why));
	free(p);
	free(t);
}

static void short_secrets_oversized_and_garbage_tokens_are_refused(void **state)
{
	const char *why = NULL;
	assert_null(sova_token_sign("{}", (const unsigned char *)"short", 5, &why));
	assert_string_equal(why, "secret too short");
	assert_null(sova_token_verify("a.b.c", (const unsigned char *)"short", 5, AUD, NOW, &why));
	assert_string_equal(why, "secret too short");

	char *huge = malloc(SOVA_TOKEN_MAX + 2);
	assert_non_null(huge);
	memset(huge, 'a', SOVA_TOKEN_MAX + 1);
	huge[SOVA_TOKEN_MAX + 1] = '\0';
	assert_string_equal(verify_fails(huge), "token too long");
	free(huge);
	verify_fails("");
	verify_fails("not a token");
	verify_fails("...");
	assert_null(sova_token_sign("[1,2]", KEY, KEYLEN, &why));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_signed_token_verifies_and_gives_its_claims),
		cmocka_unit_test(expired_missing_expiry_and_wrong_audience_are_refused),
		cmocka_unit_test(a_token_not_yet_valid_is_refused),
		cmocka_unit_test(hs512_with_the_same_secret_is_refused),
		cmocka_unit_test(an_unsigned_alg_none_token_is_refused),
		cmocka_unit_test(a_tampered_payload_or_another_key_is_refused),
		cmocka_unit_test(short_secrets_oversized_and_garbage_tokens_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

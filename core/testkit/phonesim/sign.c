/* Twilio's request signature (sign.h). */
#include "sign.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

typedef struct pair {
	const char *name, *value;
} pair;

static int by_name_then_value(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

bool ps_twilio_signature(const char *auth_token, const char *url, const ps_form *params, char out[PS_SIGNATURE_LEN])
{
	pair *sorted = params->n ? malloc(params->n * sizeof *sorted) : NULL;
	if (params->n && !sorted)
		return false;
	for (size_t i = 0; i < params->n; i++)
		sorted[i] = (pair){params->name[i], params->value[i]};
	if (params->n)
		qsort(sorted, params->n, sizeof *sorted, by_name_then_value);
	sova_sbuf data = {0};
	sova_sbuf_adds(&data, url);
	for (size_t i = 0; i < params->n; i++) {
		sova_sbuf_adds(&data, sorted[i].name);
		sova_sbuf_adds(&data, sorted[i].value);
	}
	free(sorted);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	bool ok = !data.failed && HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token), (const unsigned char *)data.data,
				       data.len, mac, &mac_len) != NULL && mac_len == 20;
	sova_sbuf_free(&data);
	if (ok)
		EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len); /* 28 characters and a NUL */
	return ok;
}

/* Form-encoded parameters (application/x-www-form-urlencoded), as Twilio's REST API takes them and
 * its webhooks send them: an ordered list of name/value pairs in which a name may repeat
 * (StatusCallbackEvent). Plain C, no lws. */
#ifndef SOVA_PHONESIM_FORM_H
#define SOVA_PHONESIM_FORM_H
#include <stdbool.h>
#include <stddef.h>

#include "util/sbuf.h"

typedef struct ps_form {
	char **name, **value; /* owned, decoded, NUL-terminated */
	size_t n, cap;
	bool failed; /* an add ran out of memory: the pairs are incomplete (checked once, by the sender) */
} ps_form;

/* Appends the pairs of a body (percent and '+' decoded). false on out of memory or a broken
 * escape ("%zz"); the pairs read so far stay. */
bool ps_form_parse(ps_form *f, const char *body, size_t len);
/* Appends a pair (copied). false on out of memory. */
bool ps_form_add(ps_form *f, const char *name, const char *value);
/* The first value of name, or NULL. */
const char *ps_form_get(const ps_form *f, const char *name);
/* Encodes every pair, in order, as a body. */
void ps_form_encode(const ps_form *f, sova_sbuf *out);
void ps_form_free(ps_form *f);
#endif

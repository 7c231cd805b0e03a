/* Twilio's request signature (X-Twilio-Signature), as Twilio signs its webhooks: the URL exactly
 * as called (query string included), then every POST parameter as name followed by value, sorted
 * by name (a repeated name's values sorted too), HMAC-SHA1 keyed with the auth token, base64.
 * OpenSSL's libcrypto computes it (libsodium has no SHA-1). Plain C. */
#ifndef SOVA_PHONESIM_SIGN_H
#define SOVA_PHONESIM_SIGN_H
#include <stdbool.h>

#include "form.h"

#define PS_SIGNATURE_LEN 29 /* base64 of 20 bytes, NUL included */

/* false on out of memory or an HMAC failure. */
bool ps_twilio_signature(const char *auth_token, const char *url, const ps_form *params, char out[PS_SIGNATURE_LEN]);
#endif

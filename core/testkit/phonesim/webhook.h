/* Twilio's webhooks out of the simulator: status callbacks, the async AMD callback and <Dial>'s
 * action, each a form POST signed with X-Twilio-Signature (sign.h) over the URL as given.
 *
 * An HTTP client on the simulator's own lws context (its own client vhost), not curl on a worker
 * pool: the loop is single-threaded and already does sockets, a call makes a handful of webhooks
 * in its life, and a callback then runs where the call lives, with no locks and no hand-off.
 *
 * A call's webhooks go one at a time, in the order made (SequenceNumber order for the status
 * ones), each waiting for the previous answer, with a 15 s limit (Twilio's default); Twilio
 * does not retry by default, and neither does this. Every one is written to the events file with
 * the HTTP status it got (0: no answer). */
#ifndef SOVA_PHONESIM_WEBHOOK_H
#define SOVA_PHONESIM_WEBHOOK_H
#include <stdbool.h>
#include <stddef.h>

#include "form.h"

struct ps_call;

/* body: the answer (NUL-terminated, len bytes) when status is 2xx, else NULL. */
typedef void (*ps_webhook_done)(struct ps_call *c, int status, const char *body, size_t len);

/* The client vhost (TLS with ca_file as the only CA when given, else the system's). */
bool ps_webhooks_init(char *err, size_t errlen);
/* Queues a POST of params (consumed) to url for c. kind and label name it in the events file
 * ("status", "ringing"); seq < 0 when it has no SequenceNumber. done may be NULL. */
void ps_webhook_post(struct ps_call *c, const char *kind, const char *label, int seq, const char *url, ps_form *params,
		     ps_webhook_done done);
/* Drops c's webhooks (at exit): none of them reports. */
void ps_webhooks_cancel(struct ps_call *c);
/* Webhooks queued or in flight for c. */
bool ps_webhooks_pending(const struct ps_call *c);
#endif

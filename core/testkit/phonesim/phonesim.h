/* sova-phone-sim: a loopback Twilio stand-in for tests, demos and load (README.md beside this
 * file). One process, one libuv loop with libwebsockets on it: the REST API (rest.c), the calls
 * and the TwiML they run (call.c), Media Streams clients into the bot (stream.c), signed webhooks
 * (callback.c) and the scripted callees (callee.c, scenario.c, clips.c). Test tooling only: built
 * with SOVA_TESTS=ON, never part of `sova`.
 *
 * What every part shares: the lws context, the clock, the options. */
#ifndef SOVA_PHONESIM_H
#define SOVA_PHONESIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws_context;

#define PS_FRAME_MS 20
#define PS_FRAME_BYTES 160  /* 20 ms of μ-law at 8 kHz */
#define PS_BYTES_PER_MS 8
#define PS_SID_LEN 35       /* "CA" + 32 hex digits + NUL */

typedef struct ps_options {
	const char *account_sid, *auth_token; /* what Basic auth must present; the webhooks' key */
	const char *ca_file;                  /* wss:// streams: the bot's test CA (NULL: the system's) */
	int port;                             /* the REST port actually bound */
} ps_options;

extern ps_options ps_opt;
extern struct lws_context *ps_ctx;
extern int64_t ps_started_us;

/* CLOCK_MONOTONIC in microseconds. */
int64_t ps_now_us(void);
/* prefix followed by 32 random lowercase hex digits ("CA…", "MZ…"), NUL-terminated. */
void ps_new_sid(char out[PS_SID_LEN], const char *prefix);
#endif

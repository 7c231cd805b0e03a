/* The bot's event loop (core/bot/loop.c): an inbox filled by civetweb's threads and a curl multi
 * handle for provider requests, both drained by the one loop thread. Plain C. */
#ifndef SOVA_BOT_LOOP_H
#define SOVA_BOT_LOOP_H
#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"

enum { SOVA_EV_HTTP = 1, SOVA_EV_WS_OPEN, SOVA_EV_WS_MESSAGE, SOVA_EV_WS_CLOSE, SOVA_EV_FETCH };

/* What happened, for the loop thread. Strings are NUL-terminated copies owned by the event. */
typedef struct sova_loop_event {
	struct sova_loop_event *next;
	int kind;
	long long id;                        /* request, socket or fetch id */
	char *method, *path, *query, *remote; /* http; ws_open has path, query, remote */
	char *headers;                       /* http: "name\0value\0" pairs, names lowercased */
	size_t headers_len;
	char *body; /* http body, ws message, fetch answer */
	size_t body_len;
	int status;  /* fetch: HTTP status */
	char *error; /* fetch: why the transfer failed (then no body) */
	struct ws_entry *socket; /* ws_message, ws_close: the loop's record of the socket, until taken */
} sova_loop_event;

bool sova_loop_init(char *err, size_t errlen);
/* Makes sova_loop_wait report stopping; safe from any thread. */
void sova_loop_stop(void);
bool sova_loop_ready(void);

/* ---- civetweb threads ---- */
/* Hands an HTTP request to the loop and waits (at most timeout_ms) for sova_loop_reply. Returns the
 * status (503 on timeout); *body and *content_type are malloc'd (caller frees; may be NULL). */
int sova_loop_http(const sova_http_request *req, int timeout_ms, char **body, size_t *body_len, char **content_type);
void sova_loop_ws_open(sova_ws *ws, const char *path, const char *query, const char *remote);
void sova_loop_ws_message(sova_ws *ws, const char *data, size_t len);
void sova_loop_ws_close(sova_ws *ws);

/* ---- the loop thread ---- */
/* Answers request id (copies body); false when the requester stopped waiting. */
bool sova_loop_reply(long long id, int status, const char *body, size_t len, const char *content_type);
/* Queues a text frame for socket id; false when it is closed or stalled (its reader fell too far behind). */
bool sova_loop_ws_send(long long id, const char *text, size_t len);
/* Closes socket id after the frames already queued. */
void sova_loop_ws_close_id(long long id);

typedef struct sova_loop_fetch_request {
	const char *method, *url;
	const char *const *headers; /* "Name: value" lines, already checked for CR/LF */
	size_t num_headers;
	const char *body; /* may be NULL */
	size_t body_len;
	long timeout_ms;
} sova_loop_fetch_request;
/* Starts an outbound request; its answer arrives as a SOVA_EV_FETCH event with the returned id.
 * 0 with err set when it cannot start. */
long long sova_loop_fetch(const sova_loop_fetch_request *r, char *err, size_t errlen);
/* Waits at most timeout_ms, then returns every event since the last call (caller frees each
 * with sova_loop_event_free) and whether the process is asked to stop. */
sova_loop_event *sova_loop_wait(int timeout_ms, bool *stopping);
void sova_loop_event_free(sova_loop_event *ev);
/* Outstanding fetches. */
int sova_loop_pending(void);
#endif

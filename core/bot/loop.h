/* The bot's event loop (core/bot/loop.c, core/bot/http.c). Two threads:
 *
 *   - the media thread runs a libuv loop that Sova owns, with libwebsockets on it (foreign-loop
 *     mode: the bot's HTTP routes and the live WebSockets), curl's multi-socket API (loop.fetch)
 *     and a 5 ms tick on the absolute grid (a timerfd). Plain C only: per-call media state and
 *     provider clients run here (docs/architecture.md, "Media plane I/O").
 *   - the Lua thread (the process main thread) runs lua/sova/bot/server.lua: sova_loop_wait hands
 *     it what happened; its answers (reply, ws_send, ws_close, fetch) go down as commands.
 *
 * Events go up and commands go down through two short mutex-protected queues that wake the other
 * side (an eventfd the Lua thread polls; a uv_async_t on the media side). Plain C, no lua.h. */
#ifndef SOVA_BOT_LOOP_H
#define SOVA_BOT_LOOP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SOVA_EV_VOICE: kind "voice" in Lua: {kind="voice", id=<voice id>, body=<JSON object text>}
 * SOVA_EV_FETCH_DATA: kind "fetch_data": a piece of a streamed fetch's 2xx body (status, body);
 * the fetch's SOVA_EV_FETCH follows them. */
enum { SOVA_EV_HTTP = 1, SOVA_EV_WS_OPEN, SOVA_EV_WS_MESSAGE, SOVA_EV_WS_CLOSE, SOVA_EV_FETCH, SOVA_EV_VOICE,
       SOVA_EV_FETCH_DATA };

/* What happened, for the Lua thread. Strings are NUL-terminated copies owned by the event. */
typedef struct sova_loop_event {
	struct sova_loop_event *next;
	int kind;
	long long id;                        /* request, socket, fetch or voice id */
	char *method, *path, *query, *remote; /* http; ws_open has path, query, remote */
	char *headers;                       /* http: "name\0value\0" pairs, names lowercased */
	size_t headers_len;
	char *body; /* http body, ws message, fetch answer (or piece of it), voice event */
	size_t body_len;
	int status;  /* fetch, fetch_data: HTTP status */
	char *error; /* fetch: why the transfer failed (then no body) */
} sova_loop_event;

/* ---- start and stop (the process main thread) ---- */

/* The queues and the Lua thread's eventfd; before anything else. */
bool sova_loop_init(char *err, size_t errlen);

typedef struct sova_loop_config {
	const char *host;     /* address to listen on (borrowed for the call) */
	int port;             /* 0: any free port */
	int reply_timeout_ms; /* an HTTP request Lua does not answer within this gets a 503 */
} sova_loop_config;
/* Starts the media thread listening on cfg's address; *port is the port bound. Call with the stop
 * signals blocked (the media thread inherits the mask). */
bool sova_loop_start(const sova_loop_config *cfg, int *port, char *err, size_t errlen);
/* Makes sova_loop_wait report stopping; safe from any thread. */
void sova_loop_stop(void);
/* After the Lua thread is done: the media thread writes what is queued (for at most a second),
 * closes every connection and transfer, and is joined; then everything left is freed. */
void sova_loop_shutdown(void);
bool sova_loop_ready(void);

/* ---- the Lua thread ---- */

/* Answers request id (copies body); false when the requester is gone or was answered already. */
bool sova_loop_reply(long long id, int status, const char *body, size_t len, const char *content_type);
/* Queues a text frame for socket id; false when it is closed or stalled (its reader fell too far
 * behind: then it gets a closing handshake instead). */
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
	bool stream; /* a 2xx body comes as SOVA_EV_FETCH_DATA events as it arrives (one per batch curl
	                reads at once), at most SOVA_FETCH_MAX_BODY bytes in all; the final event then has
	                no body. Other statuses' bodies come whole in the final event, as unstreamed. */
} sova_loop_fetch_request;
/* Starts an outbound request; its answer arrives as a SOVA_EV_FETCH event with the returned id
 * (after its SOVA_EV_FETCH_DATA events when streamed). 0 with err set when it cannot start. */
long long sova_loop_fetch(const sova_loop_fetch_request *r, char *err, size_t errlen);
/* Waits at most timeout_ms, then returns every event since the last call (caller frees each
 * with sova_loop_event_free) and whether the process is asked to stop. */
sova_loop_event *sova_loop_wait(int timeout_ms, bool *stopping);
void sova_loop_event_free(sova_loop_event *ev);
/* Fetches started whose answer the Lua thread has not taken yet. */
int sova_loop_pending(void);

/* Runs task(arg) on the media thread, in posting order (any thread but the media thread). false
 * when the loop is not running or is stopping: the task does not run and the caller still owns arg. */
typedef void (*sova_loop_task)(void *arg);
bool sova_loop_post(sova_loop_task task, void *arg);

/* ---- the media thread only ---- */

/* Queues an event for the Lua thread (body copied; wakes sova_loop_wait). */
void sova_loop_emit(int kind, long long id, const char *body, size_t len);

/* Routes a live socket's frames to C instead of Lua: binary frames always; text frames too when
 * text_too (Twilio Media Streams is JSON text). on_close runs once when the socket goes (then the
 * sink is gone). A NULL sink unsets, on a closing socket too (on_close does not run then). false
 * when ws_id is not open (or, unsetting, not there at all). A Media Streams socket
 * (/twilio/media/<token>) is not read at all until its first sink is set. */
typedef struct sova_loop_sink {
	void (*on_frame)(void *ud, const uint8_t *data, size_t len, bool binary);
	void (*on_close)(void *ud);
	void *ud;
	bool text_too;
} sova_loop_sink;
bool sova_loop_ws_set_sink(long long ws_id, const sova_loop_sink *sink);

/* Writes one frame now. SOVA_WS_SENT; SOVA_WS_BUSY: lws still holds unsent bytes of this socket
 * (the frame was NOT taken: keep it and try on the next tick; a socket busy for longer than the
 * caller allows is closed by it); SOVA_WS_GONE: closed or closing. */
enum { SOVA_WS_SENT = 0, SOVA_WS_BUSY = 1, SOVA_WS_GONE = -1 };
int sova_loop_ws_write(long long ws_id, const void *data, size_t len, bool binary);
/* Whether lws still holds unsent bytes of ws_id (a write now would be SOVA_WS_BUSY). */
bool sova_loop_ws_busy(long long ws_id);
/* Closes ws_id now with a close frame carrying code and reason (a short text; frames still queued
 * for it are dropped). */
void sova_loop_ws_close_with(long long ws_id, int code, const char *reason);

/* The tick's period: a quarter of a 20 ms frame. The calls' talk spurts begin on whichever tick
 * first finds their audio, so their frames fall due on four phases of a frame, and each tick sends
 * about a quarter of them (one tick per frame sent them all at once: the last left 2-3 ms after
 * the first at 200 calls, docs/benchmarks.md). */
#define SOVA_LOOP_TICK_NS 5000000LL

/* fn(ud, tick_ns) every SOVA_LOOP_TICK_NS on the absolute grid (no drift), on the media thread; tick_ns is
 * when the tick was due (CLOCK_MONOTONIC, on the grid), so a late tick still schedules on time.
 * One tick client; fn NULL stops the tick. Ticks missed while the thread was busy are not
 * replayed: the next one comes with the later tick_ns (and counts them). */
void sova_loop_on_tick(void (*fn)(void *ud, int64_t tick_ns), void *ud);

/* The tick's own timing, since the start (any thread): ticks run, ticks missed (the thread came
 * back more than a tick late), and by 1 ms buckets how late each began after it was due and how
 * long it ran ([k]: k to k+1 ms, the last that or more). */
#define SOVA_LOOP_TICK_BUCKETS 51
typedef struct sova_loop_tick_stats {
	uint64_t ticks, missed;
	uint64_t late_ms[SOVA_LOOP_TICK_BUCKETS];
	uint64_t run_ms[SOVA_LOOP_TICK_BUCKETS];
} sova_loop_tick_stats;
void sova_loop_tick_stats_get(sova_loop_tick_stats *out);
/* Text sockets closed since the start because their reader fell too far behind (any thread). */
uint64_t sova_loop_ws_stalled_count(void);

/* The lws context (its uv loop is the media loop), for provider clients. */
struct lws_context *sova_loop_lws(void);
#endif

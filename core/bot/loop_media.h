/* Inside the bot's event loop: what core/bot/loop.c (the crossing between the threads, the media
 * thread, curl, the tick) and core/bot/http.c (libwebsockets: HTTP and the live sockets) share.
 * Not for other files. */
#ifndef SOVA_BOT_LOOP_MEDIA_H
#define SOVA_BOT_LOOP_MEDIA_H
#include <libwebsockets.h>
#include <pthread.h>
#include <uv.h>

#include "bot/loop.h"
#include "http/client.h"

/* What one live socket may have waiting for the Lua thread. Every line from a socket can run a
 * whole turn in the Lua thread; without this bound a party that talks faster than its turns run
 * fills the queue with thousands of lines, and every other call and HTTP answer waits behind them
 * (issue 3: /health over 3 s). At the bound the media thread stops reading that socket
 * (lws_rx_flow_control), TCP pushes back on that party alone, and the Lua thread's taking of the
 * lines turns reading back on. */
#define WS_MAX_INBOX 8
/* Text frames from Lua not yet written to one socket: beyond this its reader has stopped reading;
 * it gets no more frames but a closing handshake. */
#define WS_MAX_PENDING (1024 * 1024)
/* A live socket with bytes written that its peer has taken none of for this long is reset: that
 * peer stopped reading, and the bound above never trips when it stopped sending too (Lua then has
 * nothing to answer): a frozen tab, a network gone, a TCP stuck in retransmission backoff. */
#define WS_STALL_S 30
/* The live socket's largest message (100 ms of 48 kHz PCM16 is 9.6 KB); bigger closes with 1009. */
#define WS_MAX_MESSAGE (64 * 1024)
/* Binary frames on a socket without a sink: one error, then dropped; more than this closes (1003). */
#define WS_MAX_UNSINKED_BINARY 50

/* A command for the media thread, or a frame waiting in a socket's out queue (a WS_TEXT command
 * becomes that frame without a copy). */
typedef struct loop_command {
	struct loop_command *next;
	enum { CMD_TASK, CMD_REPLY, CMD_WS_TEXT, CMD_WS_CLOSE, CMD_WS_RESUME, CMD_FETCH, CMD_STOP } kind;
	long long id;
	sova_loop_task task; /* task */
	void *arg;           /* task: its argument; fetch: the transfer */
	int status;          /* reply */
	char content_type[96]; /* reply */
	bool counted;        /* ws text: in the socket's pending bytes (from Lua), else made here */
	size_t len;
	unsigned char data[]; /* reply body; ws text after LWS_PRE bytes of room for lws's header */
} loop_command;

enum { PEER_HTTP = 1, PEER_WS };

/* One HTTP request or live socket, known to both threads by its id. Made and freed by the media
 * thread, which adds it to and removes it from the id table holding loop.lock; the Lua thread
 * reaches it only through the table with the lock held. */
typedef struct loop_peer {
	struct loop_peer *hnext; /* id table chain */
	long long id;
	int kind;
	/* ---- under loop.lock ---- */
	bool answered;   /* http: Lua replied (or the 503 went out) */
	size_t pending;  /* ws: bytes of Lua's frames not yet written */
	bool stalled;    /* ws: pending passed WS_MAX_PENDING */
	bool closing;    /* ws: a close is queued: no more frames */
	unsigned inbox;  /* ws: its messages queued for the Lua thread */
	bool rx_paused;  /* ws: not read until the Lua thread takes some of them */
	/* ---- media thread only ---- */
	struct lws *wsi; /* NULL once the connection is gone */
	/* http */
	char *method, *path, *query, *remote;
	sova_sbuf headers, body;
	bool too_large;
	bool head_only;       /* HEAD: the answer's headers without its body */
	loop_command *answer; /* the reply being written */
	size_t answer_off;
	bool head_sent;
	lws_sorted_usec_list_t deadline; /* Lua's answer is due */
	/* ws */
	loop_command *out_head, *out_tail; /* text frames and at most one close marker, in order */
	bool has_sink;
	sova_loop_sink sink;
	bool held;        /* a Media Streams socket: not read until a sink takes its frames */
	unsigned unsinked_binary;
	sova_sbuf message; /* the message being received (fragments) */
	int close_code;   /* non-zero: close now with it */
	char close_reason[64];
	lws_sorted_usec_list_t stall_check; /* once a second: has the peer taken anything? */
	uint64_t acked;                     /* bytes its peer had acknowledged at taken_at */
	lws_usec_t taken_at;                /* the last check that found nothing waiting, or progress */
} loop_peer;

typedef struct loop_media {
	uv_loop_t uv;
	struct lws_context *lws;
	int reply_timeout_ms;
	pthread_t thread;
} loop_media;
extern loop_media media;

/* loop.c for http.c */
long long loop_new_id(void);
void loop_lock(void);
void loop_unlock(void);
loop_peer *loop_peer_find(long long id); /* media thread, or loop.lock held */
void loop_peer_add(loop_peer *p);        /* media thread; takes the lock */
void loop_peer_remove(loop_peer *p);     /* media thread; takes the lock */
bool loop_any_peer(bool (*pred)(const loop_peer *p)); /* media thread */
void loop_emit_event(sova_loop_event *ev); /* media thread; ownership moves to the queue */
/* Runs the tick now if it is due (media thread, outside any voice's work): called between the
 * callbacks of a batch of ready sockets, so the tick's frames do not wait for the rest of the
 * batch (hundreds of inbound frames at a few µs each) to be served first. */
void loop_tick_if_due(void);
void loop_count_stalled(void); /* a live socket closed because its reader stopped reading */
char *loop_dup(const char *s, size_t n);
void loop_command_free(loop_command *c);

/* http.c for loop.c (media thread) */
bool http_start(const sova_loop_config *cfg, int *port, char *err, size_t errlen);
void http_command(loop_command *c); /* CMD_REPLY / WS_*: takes c */
/* Stopping: true while some socket still has frames or a close to write. */
bool http_draining(void);
void http_stop(void); /* lws_context_destroy: its handles close as the uv loop runs on */
#endif

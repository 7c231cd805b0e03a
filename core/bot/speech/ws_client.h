/* A WebSocket client for the speech providers (Deepgram, Cartesia, ElevenLabs), on the bot's
 * libwebsockets context (sova_loop_lws(): lws on a libuv loop Sova owns; tests make their own
 * the same way). Plain C on lws; everything, callbacks included, runs on the loop's thread.
 *
 * The context must have been created with LWS_SERVER_OPTION_LIBUV (or any event library) and
 * LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT. The clients get vhosts of their own without a listen port
 * ("sova-ws-client", one per CA file), created on first use and destroyed with the context.
 *
 * ws:// and wss:// (OpenSSL): the server's certificate and host name are verified against the
 * CA file given (only it: SOVA_PROVIDER_CA_FILE for the stand-ins' test certificates), else
 * against the system's CAs. Frames may be sent from the moment the client is made: they wait in
 * a byte-bounded queue until the handshake is done. Header values (API keys) are never logged.
 *
 * Exactly one of on_close / on_error ends a client's life, once: on_error when the connection
 * never opened (refused, 401, TLS, timeout), on_close(code, reason) when an open one ended (the
 * peer's close code, 1006 when the socket dropped without one, ours when we closed). */
#ifndef SOVA_SPEECH_WS_CLIENT_H
#define SOVA_SPEECH_WS_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws_context;

typedef struct sova_ws_client sova_ws_client;

typedef struct sova_ws_header {
	const char *name;  /* "Authorization" */
	const char *value; /* "Token ..." */
} sova_ws_header;

typedef struct sova_ws_callbacks {
	void (*on_open)(void *ud);
	/* One whole message (fragments joined); data valid during the call. */
	void (*on_frame)(void *ud, const uint8_t *data, size_t len, bool binary);
	void (*on_close)(void *ud, int code, const char *reason);
	void (*on_error)(void *ud, const char *reason);
	void *ud;
} sova_ws_callbacks;

typedef struct sova_ws_client_config {
	const char *url;                /* ws://host[:port]/path?query or wss://...; copied */
	const sova_ws_header *headers;  /* extra request headers; copied */
	size_t num_headers;
	const char *ca_file;            /* wss://: trust only this PEM file; NULL: the system's CAs */
	int connect_timeout_ms;         /* TCP + TLS + handshake; 0: 10000 */
	size_t max_queued_bytes;        /* unsent frames' bytes; 0: 1 MiB */
	size_t max_message_bytes;       /* one inbound message; 0: 4 MiB (a bigger one closes with 1009) */
} sova_ws_client_config;

/* Starts connecting. NULL with err set on a bad URL or header, or when lws refuses at once; every
 * later failure arrives as on_error. The caller frees the client with sova_ws_client_free. */
sova_ws_client *sova_ws_client_new(struct lws_context *ctx, const sova_ws_client_config *cfg,
				   const sova_ws_callbacks *cb, char *err, size_t errlen);

typedef enum {
	SOVA_WSC_QUEUED = 0, /* taken (sent when the socket can take it) */
	SOVA_WSC_FULL = 1,   /* the queue's byte bound would be passed: not taken */
	SOVA_WSC_CLOSED = -1 /* closing or closed: not taken */
} sova_wsc_send_result;

/* Queues one text or binary message (copied). */
sova_wsc_send_result sova_ws_client_send(sova_ws_client *c, const void *data, size_t len, bool binary);
/* The same, written at once when the socket is open and nothing waits (this client's queue and
 * lws's partial write both empty): no poll change for it, which is what paced media wants at
 * thousands of messages a second (bench/ws_io measured the same for the bot's server sockets).
 * Otherwise, or for a message over 4 KiB, it is queued as sova_ws_client_send queues it. Only from
 * the loop's thread, outside the client's own callbacks. */
sova_wsc_send_result sova_ws_client_send_now(sova_ws_client *c, const void *data, size_t len, bool binary);
/* Closes after the queued frames went out, with a close frame carrying code and reason (≤ 123
 * bytes). on_close follows when the peer answers (or the socket goes). */
void sova_ws_client_close(sova_ws_client *c, int code, const char *reason);
/* No callback runs after this. A close already asked for still completes in the background (the
 * queued frames and the close frame go out); otherwise the socket is dropped. NULL is fine.
 * Safe inside the client's own callbacks. */
void sova_ws_client_free(sova_ws_client *c);

bool sova_ws_client_is_open(const sova_ws_client *c);
size_t sova_ws_client_queued_bytes(const sova_ws_client *c);
#endif

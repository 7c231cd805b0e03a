/* sova-standin: loopback stand-ins for the speech providers, speaking their real wire formats
 * (Deepgram live, Cartesia WebSocket contexts, ElevenLabs multi-stream-input) on one lws server
 * (libuv loop, one thread). Test tooling only: built with SOVA_TESTS=ON, never part of `sova`.
 *
 * The mode is chosen by the request path (anything may come before it, e.g. the fault prefix):
 *   .../v1/listen?...                                  Deepgram
 *   .../tts/websocket?...                              Cartesia
 *   .../v1/text-to-speech/{voice}/multi-stream-input?  ElevenLabs
 * Faults and script options come from the query string or from a path segment "/x/k=v&k=v/"
 * before the provider's path (so a client's configured base URL can carry them):
 *   status=401        refuse the handshake with HTTP 401 (a wrong key gets 401 as well)
 *   drop_after=N      drop the TCP connection, no close frame, after sending N messages
 *   delay_ms=N        hold the first message N ms
 *   error=1           the provider's error (Deepgram: close 1011 NET-0000; Cartesia: an error
 *                     message; ElevenLabs: an error message, then close 1008)
 *   malformed=N       N malformed messages (broken JSON, wrong-typed fields) before the first real one
 *   session=S&faults_for=N   faults only on the first N connections naming session S
 *   Deepgram: drop_at_ms=N (drop once N ms of audio came: mid-utterance drops at a known place),
 *     script=NAME (a file in --script-dir, one transcript per utterance, in order, counted per session;
 *     a name, not a path: lws decodes %2F in the request path), idle_ms=N
 *     (NET-0001 close without audio or KeepAlive; default 10000), threshold_db=D (speech level;
 *     default -40)
 *   Cartesia / ElevenLabs: chunk_ms=N (audio per message, default 100), realtime=1 (pace audio at
 *     real time from the first chunk; default: as fast as it is made) */
#ifndef SOVA_STANDIN_H
#define SOVA_STANDIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

typedef enum { STANDIN_DEEPGRAM = 1, STANDIN_CARTESIA, STANDIN_ELEVENLABS } standin_mode;

#define STANDIN_MAX_PARAMS 32

typedef struct standin_params {
	char buf[2048];                    /* the parameters' text, cut into the pairs below */
	size_t used;
	const char *key[STANDIN_MAX_PARAMS], *value[STANDIN_MAX_PARAMS];
	int n;
} standin_params;

const char *standin_param(const standin_params *p, const char *key);
int standin_param_int(const standin_params *p, const char *key, int dflt);

typedef struct out_msg {
	struct out_msg *next;
	int64_t due_us;   /* not before (monotonic) */
	char tag[64];     /* the context it belongs to ("" none): dropped together on cancel */
	size_t len;
	bool binary;
	unsigned char buf[]; /* LWS_PRE headroom, then the payload */
} out_msg;

typedef struct standin_conn {
	struct lws *wsi;
	standin_mode mode;
	standin_params params;
	char path[256];          /* the provider path after any fault prefix */
	int drop_after, delay_ms, malformed, error_fault;
	bool faults_on;          /* the faults apply to this connection (session / faults_for) */
	int64_t opened_us;
	int sent;
	bool first_real_queued;  /* malformed messages go before the first real one */
	out_msg *head, *tail;    /* owned */
	lws_sorted_usec_list_t due_timer;
	bool close_pending;      /* close once the queue is empty */
	bool close_sent;
	bool drop_now;           /* a mode asks for the connection to be dropped (no close frame) */
	int close_code;
	char close_reason[122];
	uint8_t *rx;             /* a message being joined (owned) */
	size_t rx_len, rx_cap;
	void *state;             /* the mode's per-connection state (owned by the mode) */
} standin_conn;

int64_t standin_now_us(void);
/* Queues a message (copied) for sending not before due_us (0: at once), tagged for cancel. */
void standin_send(standin_conn *c, const void *data, size_t len, bool binary, int64_t due_us, const char *tag);
void standin_send_text(standin_conn *c, const char *json);
/* Drops queued messages with this tag. */
void standin_drop_tag(standin_conn *c, const char *tag);
/* Closes with code and reason once the queue is empty. */
void standin_close_after(standin_conn *c, int code, const char *reason);
/* Kept until the end of the queue is due: the time the last queued message goes, or now. */
int64_t standin_queue_end_us(const standin_conn *c);

/* Modes (standin_deepgram.c, standin_tts.c). open: false refuses (the connection closes). */
bool dg_open(standin_conn *c);
void dg_message(standin_conn *c, const uint8_t *data, size_t len, bool binary);
void dg_close(standin_conn *c);
bool cartesia_open(standin_conn *c);
void cartesia_message(standin_conn *c, const uint8_t *data, size_t len, bool binary);
void cartesia_close(standin_conn *c);
bool eleven_open(standin_conn *c);
void eleven_message(standin_conn *c, const uint8_t *data, size_t len, bool binary);
void eleven_close(standin_conn *c);
bool tts_init(char *err, size_t errlen);

/* A malformed message of kind i (alternating broken JSON and a wrong-typed field), for mode. */
const char *standin_malformed(standin_mode mode, int i);

extern struct lws_context *standin_ctx;
extern const char *standin_script_dir; /* --script-dir; NULL: the working directory */
#endif

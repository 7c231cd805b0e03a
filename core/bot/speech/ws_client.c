/* The providers' WebSocket client (ws_client.h) on libwebsockets 4.1.
 *
 * Lifetime: the client struct is lws's per-connection user data (ci.userdata), so it must outlive
 * the connection. sova_ws_client_free while a connection exists only detaches the owner (no more
 * callbacks) and asks lws to close; the struct goes at LWS_CALLBACK_WSI_DESTROY, which lws sends
 * for every connection it made (also failed ones) to protocols[0] of its vhost: ours. */
#include "bot/speech/ws_client.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_QUEUED (1024 * 1024)
#define DEFAULT_MAX_MESSAGE (4 * 1024 * 1024)
#define MAX_CA_FILES 16
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt" /* Debian's ca-certificates */

typedef enum { WSC_CONNECTING, WSC_OPEN, WSC_CLOSING, WSC_DONE } wsc_state;

typedef struct queued_frame {
	struct queued_frame *next;
	size_t len;
	bool binary;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
} queued_frame;

typedef struct client_header {
	char *name;  /* lowercase with the trailing colon lws wants ("authorization:"); owned */
	char *value; /* owned; never logged */
} client_header;

struct sova_ws_client {
	struct lws_context *ctx;
	struct lws *wsi; /* from lws_client_connect_via_info until LWS_CALLBACK_WSI_DESTROY */
	sova_ws_callbacks cb; /* zeroed by free: the owner is gone */
	wsc_state state;
	bool orphan;      /* freed by its owner: the struct goes with the connection */
	bool in_connect;  /* inside lws_client_connect_via_info: failures are returned, not called back */
	bool finished;    /* on_close / on_error delivered (or the owner gone) */
	char connect_error[160];
	/* where to */
	char *url_copy;   /* lws_parse_uri cuts it into the pieces below; owned */
	const char *host; /* into url_copy */
	char *path;       /* "/" + path + query; owned */
	int port;
	bool tls;
	client_header *headers; /* owned */
	size_t num_headers;
	int connect_timeout_ms;
	lws_sorted_usec_list_t connect_timer;
	/* out */
	queued_frame *q_head, *q_tail; /* owned */
	size_t queued_bytes, max_queued;
	bool close_asked;
	int close_code;
	char close_reason[122]; /* a close frame's payload is at most 125 bytes with the code */
	/* in */
	uint8_t *rx; /* a message being joined from fragments; owned */
	size_t rx_len, rx_cap, max_message;
	bool rx_binary;
	int peer_close_code; /* 0 until the peer's close frame came */
	char peer_close_reason[124];
};

/* ---- Vhosts: one per CA file, named after it, created on first use ---- */

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

static const struct lws_protocols client_protocols[] = {
	{"sova-ws-client", client_callback, 0, 16384, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws keeps a vhost's name pointer, so the names live for the process; a handful of CA files at
 * most (one per configuration), so a small fixed table. */
static pthread_mutex_t vhost_names_lock = PTHREAD_MUTEX_INITIALIZER;
static char *vhost_names[MAX_CA_FILES + 1];
static char *vhost_ca_files[MAX_CA_FILES + 1];

static struct lws_vhost *client_vhost(struct lws_context *ctx, const char *ca_file, char *err, size_t errlen)
{
	pthread_mutex_lock(&vhost_names_lock);
	int slot = -1;
	for (int i = 0; i <= MAX_CA_FILES && vhost_names[i]; i++)
		if ((!ca_file && !vhost_ca_files[i]) || (ca_file && vhost_ca_files[i] && !strcmp(ca_file, vhost_ca_files[i]))) {
			slot = i;
			break;
		}
	if (slot < 0) {
		for (int i = 0; i <= MAX_CA_FILES; i++)
			if (!vhost_names[i]) {
				char name[32];
				snprintf(name, sizeof name, "sova-ws-client-%d", i);
				vhost_names[i] = strdup(name);
				vhost_ca_files[i] = ca_file ? strdup(ca_file) : NULL;
				if (!vhost_names[i] || (ca_file && !vhost_ca_files[i])) {
					free(vhost_names[i]);
					free(vhost_ca_files[i]);
					vhost_names[i] = vhost_ca_files[i] = NULL;
					break;
				}
				slot = i;
				break;
			}
	}
	pthread_mutex_unlock(&vhost_names_lock);
	if (slot < 0) {
		snprintf(err, errlen, "ws client: more than %d CA files in one process", MAX_CA_FILES);
		return NULL;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(ctx, vhost_names[slot]);
	if (vh)
		return vh;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.vhost_name = vhost_names[slot];
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT; /* lws makes a vhost's client TLS context only with it */
	if (ca_file) {
		info.client_ssl_ca_filepath = vhost_ca_files[slot];
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS; /* this CA alone */
	} else {
		/* lws loads the system's default paths too; naming the bundle avoids its fallback to a
		 * build-time directory that does not exist (an error line at every vhost) */
		info.client_ssl_ca_filepath = SYSTEM_CA_BUNDLE;
	}
	vh = lws_create_vhost(ctx, &info);
	if (!vh)
		snprintf(err, errlen, "ws client: lws cannot create the client vhost%s%s", ca_file ? " with CA file " : "",
			 ca_file ? ca_file : "");
	return vh;
}

/* ---- Helpers ---- */

static void free_queue(sova_ws_client *c)
{
	for (queued_frame *f = c->q_head, *next; f; f = next) {
		next = f->next;
		free(f);
	}
	c->q_head = c->q_tail = NULL;
	c->queued_bytes = 0;
}

static void destroy(sova_ws_client *c)
{
	lws_sul_cancel(&c->connect_timer);
	free_queue(c);
	for (size_t i = 0; i < c->num_headers; i++) {
		free(c->headers[i].name);
		if (c->headers[i].value) {
			/* an API key: not left in freed memory */
			volatile char *v = c->headers[i].value;
			while (*v)
				*v++ = '\0';
		}
		free(c->headers[i].value);
	}
	free(c->headers);
	free(c->url_copy);
	free(c->path);
	free(c->rx);
	free(c);
}

static void report_error(sova_ws_client *c, const char *reason)
{
	if (c->finished)
		return;
	c->finished = true;
	c->state = WSC_DONE;
	if (c->cb.on_error)
		c->cb.on_error(c->cb.ud, reason);
}

static void report_close(sova_ws_client *c)
{
	if (c->finished)
		return;
	c->finished = true;
	c->state = WSC_DONE;
	int code = c->peer_close_code ? c->peer_close_code : c->close_asked ? c->close_code : 1006;
	const char *reason = c->peer_close_code ? c->peer_close_reason : c->close_asked ? c->close_reason : "the connection dropped";
	if (c->cb.on_close)
		c->cb.on_close(c->cb.ud, code, reason);
}

static void on_connect_timeout(lws_sorted_usec_list_t *sul)
{
	sova_ws_client *c = lws_container_of(sul, sova_ws_client, connect_timer);
	if (c->state != WSC_CONNECTING || !c->wsi)
		return;
	char reason[96];
	snprintf(reason, sizeof reason, "timeout: no WebSocket handshake within %d ms", c->connect_timeout_ms);
	struct lws *wsi = c->wsi;
	report_error(c, reason);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* ---- lws callback ---- */

static int on_receive(sova_ws_client *c, struct lws *wsi, const void *in, size_t len)
{
	if (c->rx_len == 0)
		c->rx_binary = lws_frame_is_binary(wsi);
	if (c->rx_len + len > c->max_message) {
		char reason[80];
		snprintf(reason, sizeof reason, "message bigger than %zu bytes", c->max_message);
		c->close_asked = true;
		c->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
		snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)reason, strlen(reason));
		return -1;
	}
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		while (cap < c->rx_len + len)
			cap *= 2;
		uint8_t *p = realloc(c->rx, cap);
		if (!p)
			return -1;
		c->rx = p;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	size_t n = c->rx_len;
	c->rx_len = 0;
	if (c->cb.on_frame && !c->orphan)
		c->cb.on_frame(c->cb.ud, c->rx, n, c->rx_binary);
	return c->orphan && !c->close_asked ? -1 : 0;
}

static int on_writable(sova_ws_client *c, struct lws *wsi)
{
	queued_frame *f = c->q_head;
	if (!f) {
		if (c->close_asked && c->state != WSC_CLOSING) {
			/* lws 4.1 drops the socket without a close frame when a writable callback returns -1;
			 * a synchronous close with a reason set takes its polite path instead (close frame,
			 * then the peer's answer). CLIENT_CLOSED runs inside it. */
			c->state = WSC_CLOSING;
			lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
					 strlen(c->close_reason));
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
			return 0;
		}
		return c->orphan && !c->close_asked ? -1 : 0;
	}
	c->q_head = f->next;
	if (!c->q_head)
		c->q_tail = NULL;
	c->queued_bytes -= f->len;
	int n = lws_write(wsi, f->buf + LWS_PRE, f->len, f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	size_t sent_len = f->len;
	free(f);
	if (n < (int)sent_len)
		return -1; /* the socket failed: CLIENT_CLOSED reports it */
	if (c->q_head || c->close_asked)
		lws_callback_on_writable(wsi);
	return 0;
}

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	sova_ws_client *c = user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		if (!c)
			break;
		unsigned char **p = in, *end = *p + len;
		for (size_t i = 0; i < c->num_headers; i++)
			if (lws_add_http_header_by_name(wsi, (const unsigned char *)c->headers[i].name,
							(const unsigned char *)c->headers[i].value,
							(int)strlen(c->headers[i].value), p, end))
				return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			return -1;
		lws_sul_cancel(&c->connect_timer);
		if (c->orphan && !c->close_asked)
			return -1;
		c->state = WSC_OPEN;
		if (c->cb.on_open)
			c->cb.on_open(c->cb.ud);
		if (c->orphan && !c->close_asked)
			return -1;
		if (c->q_head || c->close_asked)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return c ? on_receive(c, wsi, in, len) : -1;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return c ? on_writable(c, wsi) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c && len >= 2) {
			const unsigned char *b = in;
			c->peer_close_code = b[0] << 8 | b[1];
			size_t rl = len - 2 < sizeof c->peer_close_reason - 1 ? len - 2 : sizeof c->peer_close_reason - 1;
			memcpy(c->peer_close_reason, b + 2, rl);
			c->peer_close_reason[rl] = '\0';
		} else if (c) {
			c->peer_close_code = LWS_CLOSE_STATUS_NO_STATUS;
			snprintf(c->peer_close_reason, sizeof c->peer_close_reason, "closed without a status");
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		if (!c)
			break;
		lws_sul_cancel(&c->connect_timer);
		char why[160];
		unsigned int status = lws_http_client_http_response(wsi);
		const char *what = in && len ? (const char *)in : "connection failed";
		int wl = in && len ? (int)strnlen(what, len) : (int)strlen(what);
		if (status && status != 101)
			snprintf(why, sizeof why, "handshake refused: HTTP %u (%.*s)", status, wl, what);
		else
			snprintf(why, sizeof why, "connect: %.*s", wl, what);
		if (c->in_connect)
			snprintf(c->connect_error, sizeof c->connect_error, "%s", why);
		else
			report_error(c, why);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			lws_sul_cancel(&c->connect_timer);
			if (c->state == WSC_CONNECTING)
				report_error(c, "connect: closed during the handshake");
			else
				report_close(c);
		}
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (c && c->wsi == wsi) {
			c->wsi = NULL;
			if (!c->finished && !c->in_connect)
				report_error(c, c->state == WSC_CONNECTING ? "connect: connection failed" : "connection lost");
			if (c->orphan)
				destroy(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* ---- API ---- */

static bool copy_headers(sova_ws_client *c, const sova_ws_client_config *cfg, char *err, size_t errlen)
{
	if (!cfg->num_headers)
		return true;
	if (!cfg->headers) {
		snprintf(err, errlen, "ws client: num_headers without headers");
		return false;
	}
	c->headers = calloc(cfg->num_headers, sizeof *c->headers);
	if (!c->headers) {
		snprintf(err, errlen, "ws client: out of memory");
		return false;
	}
	c->num_headers = cfg->num_headers;
	for (size_t i = 0; i < cfg->num_headers; i++) {
		const char *n = cfg->headers[i].name, *v = cfg->headers[i].value;
		if (!n || !*n || !v || strpbrk(n, ": \r\n") || strpbrk(v, "\r\n")) {
			snprintf(err, errlen, "ws client: header %zu is empty or has a colon, space or line break", i);
			return false;
		}
		size_t nl = strlen(n);
		c->headers[i].name = malloc(nl + 2);
		c->headers[i].value = strdup(v);
		if (!c->headers[i].name || !c->headers[i].value) {
			snprintf(err, errlen, "ws client: out of memory");
			return false;
		}
		for (size_t k = 0; k < nl; k++)
			c->headers[i].name[k] = (char)tolower((unsigned char)n[k]);
		c->headers[i].name[nl] = ':';
		c->headers[i].name[nl + 1] = '\0';
	}
	return true;
}

static bool parse_url(sova_ws_client *c, const char *url, char *err, size_t errlen)
{
	c->url_copy = strdup(url);
	if (!c->url_copy) {
		snprintf(err, errlen, "ws client: out of memory");
		return false;
	}
	const char *proto = NULL, *path = NULL;
	if (lws_parse_uri(c->url_copy, &proto, &c->host, &c->port, &path) || !proto || !c->host || !*c->host) {
		/* not the query: it may carry what a caller was given (a recognizer's keyterms) */
		snprintf(err, errlen, "ws client: not a URL: %.*s", (int)strcspn(url, "?"), url);
		return false;
	}
	if (!strcmp(proto, "wss"))
		c->tls = true;
	else if (strcmp(proto, "ws") != 0) {
		snprintf(err, errlen, "ws client: %s:// is not ws:// or wss://", proto);
		return false;
	}
	size_t pl = strlen(path);
	c->path = malloc(pl + 2);
	if (!c->path) {
		snprintf(err, errlen, "ws client: out of memory");
		return false;
	}
	c->path[0] = '/';
	memcpy(c->path + 1, path, pl + 1);
	return true;
}

sova_ws_client *sova_ws_client_new(struct lws_context *ctx, const sova_ws_client_config *cfg,
				   const sova_ws_callbacks *cb, char *err, size_t errlen)
{
	if (!ctx || !cfg || !cb || !cfg->url) {
		snprintf(err, errlen, "ws client: missing %s", !ctx ? "lws context" : !cfg ? "config" : !cb ? "callbacks" : "url");
		return NULL;
	}
	sova_ws_client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "ws client: out of memory");
		return NULL;
	}
	c->ctx = ctx;
	c->cb = *cb;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_queued = cfg->max_queued_bytes ? cfg->max_queued_bytes : DEFAULT_MAX_QUEUED;
	c->max_message = cfg->max_message_bytes ? cfg->max_message_bytes : DEFAULT_MAX_MESSAGE;
	struct lws_vhost *vh = NULL;
	if (!parse_url(c, cfg->url, err, errlen) || !copy_headers(c, cfg, err, errlen) ||
	    !(vh = client_vhost(ctx, cfg->ca_file, err, errlen))) {
		destroy(c);
		return NULL;
	}
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.vhost = vh;
	ci.address = c->host;
	ci.port = c->port;
	ci.path = c->path;
	ci.host = c->host;
	ci.origin = c->host;
	ci.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0; /* certificate and host name both checked */
	ci.local_protocol_name = client_protocols[0].name;
	ci.userdata = c;
	ci.pwsi = &c->wsi;
	c->in_connect = true;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	c->in_connect = false;
	if (!wsi) {
		snprintf(err, errlen, "ws client: %s", c->connect_error[0] ? c->connect_error : "lws cannot start the connection");
		if (c->wsi) { /* lws still holds it: it goes at WSI_DESTROY */
			c->orphan = true;
			c->finished = true;
			memset(&c->cb, 0, sizeof c->cb);
		} else {
			destroy(c);
		}
		return NULL;
	}
	c->wsi = wsi;
	lws_sul_schedule(ctx, 0, &c->connect_timer, on_connect_timeout, (lws_usec_t)c->connect_timeout_ms * 1000);
	return c;
}

sova_wsc_send_result sova_ws_client_send(sova_ws_client *c, const void *data, size_t len, bool binary)
{
	if (!c || c->orphan || c->close_asked || c->state == WSC_CLOSING || c->state == WSC_DONE || !c->wsi)
		return SOVA_WSC_CLOSED;
	if (c->queued_bytes + len > c->max_queued)
		return SOVA_WSC_FULL;
	queued_frame *f = malloc(sizeof *f + LWS_PRE + len);
	if (!f)
		return SOVA_WSC_FULL;
	f->next = NULL;
	f->len = len;
	f->binary = binary;
	if (len)
		memcpy(f->buf + LWS_PRE, data, len);
	if (c->q_tail)
		c->q_tail->next = f;
	else
		c->q_head = f;
	c->q_tail = f;
	c->queued_bytes += len;
	if (c->state == WSC_OPEN)
		lws_callback_on_writable(c->wsi);
	return SOVA_WSC_QUEUED;
}

#define SEND_NOW_MAX 4096 /* the messages worth writing at once: paced media frames */

sova_wsc_send_result sova_ws_client_send_now(sova_ws_client *c, const void *data, size_t len, bool binary)
{
	static unsigned char buf[LWS_PRE + SEND_NOW_MAX]; /* the loop's thread only */
	if (!c || c->state != WSC_OPEN || c->q_head || c->close_asked || c->orphan || !c->wsi || len > SEND_NOW_MAX ||
	    lws_partial_buffered(c->wsi))
		return sova_ws_client_send(c, data, len, binary);
	memcpy(buf + LWS_PRE, data, len);
	if (lws_write(c->wsi, buf + LWS_PRE, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)len) {
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC); /* CLIENT_CLOSED reports it */
		return SOVA_WSC_CLOSED;
	}
	return SOVA_WSC_QUEUED;
}

void sova_ws_client_close(sova_ws_client *c, int code, const char *reason)
{
	if (!c || c->close_asked || c->state == WSC_DONE || !c->wsi)
		return;
	c->close_asked = true;
	c->close_code = code;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
	if (c->state == WSC_OPEN)
		lws_callback_on_writable(c->wsi);
	else if (c->state == WSC_CONNECTING) /* nothing was said yet: just go */
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void sova_ws_client_free(sova_ws_client *c)
{
	if (!c)
		return;
	memset(&c->cb, 0, sizeof c->cb);
	c->finished = true;
	if (!c->wsi) {
		destroy(c);
		return;
	}
	c->orphan = true;
	if (!c->close_asked || c->state != WSC_OPEN) {
		free_queue(c);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

bool sova_ws_client_is_open(const sova_ws_client *c) { return c && c->state == WSC_OPEN && !c->close_asked; }

size_t sova_ws_client_queued_bytes(const sova_ws_client *c) { return c ? c->queued_bytes : 0; }

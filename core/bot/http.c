/* The bot's HTTP routes and live WebSockets on libwebsockets, on the media thread (see
 * core/bot/loop.h). One lws protocol serves both: plain requests (the routes are Lua's: POST
 * /calls, GET /health, GET /stats, 404/405) and WebSocket upgrades on /calls/<id>/live,
 * /calls/<id>/listen (a listener of the call's audio) and /twilio/media/<token> (Twilio Media
 * Streams: 32 lowercase hex, the one-time token Lua checks).
 *
 * HTTP follows what core/http/server.c does for `sova api`: bodies up to SOVA_HTTP_MAX_BODY (a
 * bigger Content-Length is refused with 413 before the body is read, and no event is made),
 * headers up to 16 KiB, names lowercased, keep-alive, the same security headers and no-store.
 * Lua answers within reply_timeout_ms or the request gets a 503.
 *
 * Live sockets: text messages go to Lua (at most WS_MAX_INBOX unread, then the socket is not read
 * until Lua takes them), Lua's frames wait in the socket's out queue for a writable callback;
 * a media-plane module can take the socket's frames instead (a sink) and write frames itself.
 * A Media Streams socket is not read until its sink is set: Twilio sends connected and start
 * at once, and they are the voice's (loop.voice_attach(..., "twilio") on ws_open), not Lua's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bot/loop_media.h"
#include "bot/tcp_progress.h"
#include "http/server.h"
#include "util/log.h"

#define HTTP_MAX_HEADER_DATA 16384
#define HTTP_WRITE_CHUNK 16384
#define CLOSE_SEND_TIMEOUT_S 5
/* A live socket's kernel send buffer (Linux doubles it). Left to autotuning it grows to 4 MiB on
 * loopback: two minutes of 16 kHz audio that no audio.clear can take back, and a reader that
 * stopped reading would be seen minutes late. 64 KiB is 2 s of that audio. */
#define WS_SNDBUF (64 * 1024)

/* lws's per-connection data: the request of the current transaction, or the live socket. */
typedef struct conn_data {
	loop_peer *peer; /* owned; NULL between requests */
} conn_data;

/* Headers lws keeps outside its token table (LWS_WITH_CUSTOM_HEADERS); lws 4.1 cannot list them,
 * so these are the ones the bot's Lua reads. */
static const char *const CUSTOM_HEADERS[] = {"x-sova-timestamp:", "x-sova-signature:", "x-request-id:",
					     "x-twilio-signature:"};

static unsigned char *write_buf; /* LWS_PRE + WS_MAX_MESSAGE: direct writes of media frames */

/* ---- peers ---- */

static void free_out_queue(loop_peer *p)
{
	for (loop_command *c = p->out_head; c;) {
		loop_command *next = c->next;
		loop_command_free(c);
		c = next;
	}
	p->out_head = p->out_tail = NULL;
}

static void free_peer(loop_peer *p)
{
	if (!p)
		return;
	lws_sul_schedule(media.lws, 0, &p->deadline, NULL, LWS_SET_TIMER_USEC_CANCEL);
	lws_sul_schedule(media.lws, 0, &p->stall_check, NULL, LWS_SET_TIMER_USEC_CANCEL);
	free(p->method);
	free(p->path);
	free(p->query);
	free(p->remote);
	sova_sbuf_free(&p->headers);
	sova_sbuf_free(&p->body);
	sova_sbuf_free(&p->message);
	loop_command_free(p->answer);
	free_out_queue(p);
	free(p);
}

static loop_peer *new_peer(struct lws *wsi, int kind)
{
	loop_peer *p = calloc(1, sizeof *p);
	if (p) {
		p->id = loop_new_id();
		p->kind = kind;
		p->wsi = wsi;
	}
	return p;
}

static bool in_table(const loop_peer *p) { return loop_peer_find(p->id) == p; }

/* The URI's arguments as sent, "a=1&b=2" (lws keeps them as fragments). malloc'd. */
static char *copy_query(struct lws *wsi)
{
	sova_sbuf q = {0};
	char frag[2048];
	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		if ((i && !sova_fetch_append(&q, "&", 1)) || (n && !sova_fetch_append(&q, frag, (size_t)n))) {
			sova_sbuf_free(&q);
			return NULL;
		}
	}
	return q.data ? q.data : loop_dup("", 0);
}

static char *copy_remote(struct lws *wsi)
{
	char addr[64] = "";
	lws_get_peer_simple(wsi, addr, sizeof addr);
	return loop_dup(addr, strlen(addr));
}

/* Appends "name\0value\0". */
static bool add_header(sova_sbuf *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
	return sova_fetch_append(h, name, nlen) && sova_fetch_append(h, "", 1) && /* "" is one NUL byte */
	       (vlen == 0 || sova_fetch_append(h, value, vlen)) && sova_fetch_append(h, "", 1);
}

/* "name\0value\0" pairs of every header lws knows by name, plus CUSTOM_HEADERS. lws lowercases
 * names as it parses them; its table names end in ':' ("host:"), pseudo-headers start with it. */
static bool collect_headers(struct lws *wsi, sova_sbuf *out)
{
	char value[HTTP_MAX_HEADER_DATA];
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
		size_t nlen = name ? strlen(name) : 0;
		if (nlen < 2 || name[nlen - 1] != ':' || name[0] == ':' || !lws_hdr_total_length(wsi, t))
			continue;
		int vlen = lws_hdr_copy(wsi, value, sizeof value, (enum lws_token_indexes)t);
		if (vlen < 0)
			continue;
		if (!add_header(out, name, nlen - 1, value, (size_t)vlen))
			return false;
	}
	for (size_t i = 0; i < sizeof CUSTOM_HEADERS / sizeof CUSTOM_HEADERS[0]; i++) {
		int nlen = (int)strlen(CUSTOM_HEADERS[i]);
		if (lws_hdr_custom_length(wsi, CUSTOM_HEADERS[i], nlen) < 0)
			continue;
		int vlen = lws_hdr_custom_copy(wsi, value, sizeof value, CUSTOM_HEADERS[i], nlen);
		if (vlen < 0)
			continue;
		if (!add_header(out, CUSTOM_HEADERS[i], (size_t)nlen - 1, value, (size_t)vlen))
			return false;
	}
	return true;
}

/* ---- HTTP requests ---- */

static const char *method_name(struct lws *wsi)
{
	static const char *const NAMES[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
	char *uri;
	int len;
	int m = lws_http_get_uri_and_method(wsi, &uri, &len);
	return m >= 0 && m < (int)(sizeof NAMES / sizeof NAMES[0]) ? NAMES[m] : NULL;
}

/* A JSON error {"error":{"code","message"}} as the request's answer (made here, not by Lua). */
static void answer_error(loop_peer *p, int status, const char *code, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
	loop_command *c = calloc(1, sizeof *c + (size_t)n);
	if (!c) {
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	c->kind = CMD_REPLY;
	c->status = status;
	c->len = (size_t)n;
	memcpy(c->data, body, (size_t)n);
	snprintf(c->content_type, sizeof c->content_type, "application/json");
	loop_command_free(p->answer);
	p->answer = c;
	p->answer_off = 0;
	lws_callback_on_writable(p->wsi);
}

static void on_reply_deadline(lws_sorted_usec_list_t *sul)
{
	loop_peer *p = lws_container_of(sul, loop_peer, deadline);
	loop_lock();
	bool answered = p->answered; /* Lua's reply may be in the command queue already */
	p->answered = true;
	loop_unlock();
	if (!answered)
		answer_error(p, 503, "unavailable", "the bot did not answer in time");
}

/* The whole request is in: it goes to Lua as an event, and its answer is due. */
static int deliver_request(loop_peer *p)
{
	sova_loop_event *ev = calloc(1, sizeof *ev);
	char *body = loop_dup(p->body.data ? p->body.data : "", p->body.len);
	if (!ev || !body) {
		free(ev);
		free(body);
		answer_error(p, 500, "internal", "out of memory");
		return 0;
	}
	ev->kind = SOVA_EV_HTTP;
	ev->id = p->id;
	ev->method = p->method, p->method = NULL; /* the event owns them now */
	ev->path = p->path, p->path = NULL;
	ev->query = p->query, p->query = NULL;
	ev->remote = p->remote, p->remote = NULL;
	ev->headers = p->headers.data, ev->headers_len = p->headers.len;
	p->headers = (sova_sbuf){0};
	ev->body = body;
	ev->body_len = p->body.len;
	sova_sbuf_free(&p->body);
	loop_peer_add(p);
	lws_sul_schedule(media.lws, 0, &p->deadline, on_reply_deadline, (lws_usec_t)media.reply_timeout_ms * 1000);
	loop_emit_event(ev);
	return 0;
}

static int on_http(struct lws *wsi, conn_data *cd, const char *uri, size_t uri_len)
{
	if (cd->peer) { /* a transaction that never completed (lws parses no request before that) */
		if (in_table(cd->peer))
			loop_peer_remove(cd->peer);
		free_peer(cd->peer);
	}
	loop_peer *p = cd->peer = new_peer(wsi, PEER_HTTP);
	if (!p)
		return -1;
	const char *method = method_name(wsi);
	p->method = loop_dup(method ? method : "", method ? strlen(method) : 0);
	p->head_only = method && strcmp(method, "HEAD") == 0;
	p->path = loop_dup(uri, uri_len);
	p->query = copy_query(wsi);
	p->remote = copy_remote(wsi);
	if (!p->method || !p->path || !p->query || !p->remote || !collect_headers(wsi, &p->headers)) {
		answer_error(p, 500, "internal", "out of memory");
		return 0;
	}
	if (!method) {
		answer_error(p, 405, "method_not_allowed", "unsupported method");
		return 0;
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)) {
		answer_error(p, 411, "length_required", "send the body with a Content-Length");
		return 0;
	}
	char cl[32] = "";
	bool has_length = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	long long length = has_length ? atoll(cl) : 0;
	if (length > SOVA_HTTP_MAX_BODY || length < 0) {
		/* refused before reading it; the connection closes after the answer (the body is unread) */
		p->too_large = true;
		answer_error(p, 413, "payload_too_large", "request body over 1 MiB");
		return 0;
	}
	/* lws reads a body when there is a length (and calls BODY_COMPLETION for a POST of length 0) */
	if (has_length && (length > 0 || strcmp(p->method, "POST") == 0))
		return 0;
	return deliver_request(p);
}

static int on_http_body(conn_data *cd, const void *in, size_t len)
{
	loop_peer *p = cd->peer;
	if (!p || p->answer || in_table(p))
		return 0; /* answered already (an error): the rest is not read into memory */
	if (p->body.len + len > SOVA_HTTP_MAX_BODY) {
		p->too_large = true;
		answer_error(p, 413, "payload_too_large", "request body over 1 MiB");
		return 0;
	}
	if (len && !sova_fetch_append(&p->body, in, len)) {
		answer_error(p, 500, "internal", "out of memory");
		return 0;
	}
	return 0;
}

static int on_http_body_done(conn_data *cd)
{
	loop_peer *p = cd->peer;
	if (!p || p->answer || in_table(p))
		return 0;
	return deliver_request(p);
}

/* Writes the answer's headers, then its body in chunks; -1 closes the connection. */
static int on_http_writable(struct lws *wsi, conn_data *cd)
{
	loop_peer *p = cd->peer;
	if (!p || !p->answer)
		return 0;
	loop_command *a = p->answer;
	bool head = p->head_only;
	if (!p->head_sent) {
		unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *q = start, *end = buf + sizeof buf - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)a->status, a->content_type, a->len, &q, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-store", 8, &q, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:", (const unsigned char *)"nosniff", 7, &q, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"referrer-policy:", (const unsigned char *)"no-referrer", 11, &q, end) ||
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-frame-options:", (const unsigned char *)"DENY", 4, &q, end) ||
		    (p->too_large && lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:", (const unsigned char *)"close", 5, &q, end)) ||
		    lws_finalize_write_http_header(wsi, start, &q, end))
			return -1;
		p->head_sent = true;
		if (a->len && !head) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else if (p->answer_off < a->len && !head) {
		size_t n = a->len - p->answer_off;
		if (n > HTTP_WRITE_CHUNK)
			n = HTTP_WRITE_CHUNK;
		unsigned char chunk[LWS_PRE + HTTP_WRITE_CHUNK];
		memcpy(chunk + LWS_PRE, a->data + p->answer_off, n);
		bool last = p->answer_off + n == a->len;
		if (lws_write(wsi, chunk + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
			return -1;
		p->answer_off += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	/* the transaction is done: the connection waits for the next request (keep-alive) */
	bool close_after = p->too_large;
	if (in_table(p))
		loop_peer_remove(p);
	free_peer(p);
	cd->peer = NULL;
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void on_http_closed(conn_data *cd)
{
	loop_peer *p = cd->peer;
	if (!p)
		return;
	if (in_table(p))
		loop_peer_remove(p); /* Lua's reply finds no one */
	free_peer(p);
	cd->peer = NULL;
}

static void reply_command(loop_command *c)
{
	loop_peer *p = loop_peer_find(c->id);
	if (!p || p->kind != PEER_HTTP || p->answer || !p->wsi) {
		loop_command_free(c); /* gone, or the 503 went out */
		return;
	}
	lws_sul_schedule(media.lws, 0, &p->deadline, NULL, LWS_SET_TIMER_USEC_CANCEL);
	p->answer = c;
	p->answer_off = 0;
	lws_callback_on_writable(p->wsi);
}

/* ---- live WebSockets ---- */

/* "/twilio/media/<token>", the token 32 lowercase hex. */
static bool twilio_media_path(const char *path)
{
	static const char PREFIX[] = "/twilio/media/";
	size_t pl = sizeof PREFIX - 1;
	if (strncmp(path, PREFIX, pl) != 0 || strlen(path + pl) != 32)
		return false;
	return strspn(path + pl, "0123456789abcdef") == 32;
}

/* "/calls/<segment>/<suffix>" */
static bool call_path(const char *path, const char *suffix)
{
	static const char PREFIX[] = "/calls/";
	size_t n = strlen(path), pl = sizeof PREFIX - 1, sl = strlen(suffix);
	if (n <= pl + sl || strncmp(path, PREFIX, pl) != 0 || strcmp(path + n - sl, suffix) != 0)
		return false;
	return memchr(path + pl, '/', n - pl - sl) == NULL;
}

/* "/calls/<segment>/live": civetweb's "/calls/ * /live" as `sova bot` served it; a listener's
 * "/calls/<segment>/listen"; or a Media Streams path. */
static bool live_path(const char *path)
{
	return twilio_media_path(path) || call_path(path, "/live") || call_path(path, "/listen");
}

static void ws_queue(loop_peer *p, loop_command *c)
{
	c->next = NULL;
	if (p->out_tail)
		p->out_tail->next = c;
	else
		p->out_head = c;
	p->out_tail = c;
	lws_callback_on_writable(p->wsi);
}

/* A text frame made here (not Lua's: not in its pending bytes). */
static void ws_queue_text(loop_peer *p, const char *text)
{
	size_t len = strlen(text);
	loop_command *c = calloc(1, sizeof *c + LWS_PRE + len);
	if (!c)
		return;
	c->kind = CMD_WS_TEXT;
	c->id = p->id;
	c->len = len;
	memcpy(c->data + LWS_PRE, text, len);
	ws_queue(p, c);
}

/* Closes now: queued frames are dropped, the close frame goes out when the socket can take it,
 * and a socket that cannot is dropped after CLOSE_SEND_TIMEOUT_S. */
static void ws_close_now(loop_peer *p, int code, const char *reason)
{
	if (!p->wsi || p->close_code)
		return;
	free_out_queue(p);
	p->close_code = code;
	snprintf(p->close_reason, sizeof p->close_reason, "%s", reason ? reason : "");
	loop_lock();
	p->closing = true;
	loop_unlock();
	lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_SEND_TIMEOUT_S);
	lws_callback_on_writable(p->wsi);
}

/* The peer has acknowledged none of the bytes waiting for it for WS_STALL_S: the socket is reset
 * (a FIN would wait behind bytes that peer will never take) and Lua hears of its close. */
static void on_stall_check(lws_sorted_usec_list_t *sul)
{
	loop_peer *p = lws_container_of(sul, loop_peer, stall_check);
	if (!p->wsi)
		return;
	int fd = lws_get_socket_fd(p->wsi);
	uint64_t acked, queued;
	lws_usec_t now = lws_now_usecs();
	if (!sova_tcp_progress(fd, &acked, &queued)) {
		p->taken_at = now; /* not TCP: the rule cannot be told, and does not apply */
	} else if ((!queued && !p->out_head && !lws_partial_buffered(p->wsi)) || acked != p->acked) {
		p->acked = acked;
		p->taken_at = now;
	} else if (now - p->taken_at >= (lws_usec_t)WS_STALL_S * LWS_US_PER_SEC) {
		loop_lock();
		p->stalled = p->closing = true; /* Lua's frames are refused from now on */
		loop_unlock();
		loop_count_stalled();
		char msg[96];
		snprintf(msg, sizeof msg, "a live socket's reader took nothing for %d s: reset", WS_STALL_S);
		sova_log("warn", "bot.loop", msg);
		if (!sova_tcp_abort_on_close(fd))
			sova_log("warn", "bot.loop", "cannot make a stalled socket's close a reset");
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	lws_sul_schedule(media.lws, 0, &p->stall_check, on_stall_check, LWS_US_PER_SEC);
}

static int on_ws_open(struct lws *wsi, conn_data *cd)
{
	loop_peer *p = cd->peer = new_peer(wsi, PEER_WS);
	sova_loop_event *ev = calloc(1, sizeof *ev);
	char path[1024];
	if (!p || !ev || lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0 ||
	    !(ev->path = loop_dup(path, strlen(path))) || !(ev->query = copy_query(wsi)) ||
	    !(ev->remote = copy_remote(wsi))) {
		sova_loop_event_free(ev);
		free_peer(p);
		cd->peer = NULL;
		return -1;
	}
	ev->kind = SOVA_EV_WS_OPEN;
	ev->id = p->id;
	if (twilio_media_path(path)) {
		p->held = true;
		lws_rx_flow_control(wsi, 0);
	}
	int sndbuf = WS_SNDBUF;
	if (setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
		sova_log("warn", "bot.loop", "cannot bound a live socket's send buffer");
	loop_peer_add(p);
	p->taken_at = lws_now_usecs();
	lws_sul_schedule(media.lws, 0, &p->stall_check, on_stall_check, LWS_US_PER_SEC);
	loop_emit_event(ev);
	return 0;
}

/* One whole message: to the sink, or to Lua (text), or refused (binary without a sink). */
static int ws_message(loop_peer *p, const uint8_t *data, size_t len, bool binary)
{
	if (p->has_sink && (binary || p->sink.text_too)) {
		p->sink.on_frame(p->sink.ud, data, len, binary);
		return 0;
	}
	if (binary) {
		if (++p->unsinked_binary == 1)
			ws_queue_text(p, "{\"type\":\"error\",\"message\":\"binary frames are audio: send audio.start first\"}");
		if (p->unsinked_binary > WS_MAX_UNSINKED_BINARY)
			ws_close_now(p, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames without audio.start");
		return 0;
	}
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (!ev || !(ev->body = loop_dup((const char *)data, len))) {
		free(ev);
		sova_log("error", "bot.loop", "out of memory: a live message was dropped");
		return 0;
	}
	ev->kind = SOVA_EV_WS_MESSAGE;
	ev->id = p->id;
	ev->body_len = len;
	loop_lock();
	bool pause = ++p->inbox >= WS_MAX_INBOX && !p->rx_paused;
	if (pause)
		p->rx_paused = true;
	loop_unlock();
	if (pause)
		lws_rx_flow_control(p->wsi, 0);
	loop_emit_event(ev); /* after the count: the Lua thread's taking of it makes room */
	return 0;
}

static int on_ws_receive(struct lws *wsi, conn_data *cd, const void *in, size_t len)
{
	loop_peer *p = cd->peer;
	if (!p || p->close_code)
		return 0;
	if (p->message.len + len > WS_MAX_MESSAGE) {
		sova_sbuf_free(&p->message);
		ws_close_now(p, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over 64 KiB");
		return 0;
	}
	bool whole = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (whole && !p->message.len) /* the usual case: one frame, delivered from lws's buffer */
		return ws_message(p, in, len, lws_frame_is_binary(wsi));
	if (len && !sova_fetch_append(&p->message, in, len)) {
		ws_close_now(p, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return 0;
	}
	if (!whole)
		return 0;
	int rc = ws_message(p, (const uint8_t *)p->message.data, p->message.len, lws_frame_is_binary(wsi));
	sova_sbuf_free(&p->message);
	return rc;
}

/* Writes the close frame itself, then the connection ends (-1). lws 4.1's own way (lws_close_reason,
 * then -1) drops the connection without the frame on this path: measured with a raw client, which
 * got no close frame; browsers would see 1006 instead of the code. */
static int ws_send_close(struct lws *wsi, int code, const char *reason)
{
	unsigned char frame[LWS_PRE + 2 + 123];
	size_t n = strlen(reason);
	if (n > 123)
		n = 123;
	frame[LWS_PRE] = (unsigned char)(code >> 8);
	frame[LWS_PRE + 1] = (unsigned char)code;
	memcpy(frame + LWS_PRE + 2, reason, n);
	/* LWS_WRITE_CLOSE is 4 inside lws; its public header leaves the number out (lws-write.h) */
	lws_write(wsi, frame + LWS_PRE, 2 + n, (enum lws_write_protocol)4); /* failing or not, it ends here */
	return -1;
}

static int on_ws_writable(struct lws *wsi, conn_data *cd)
{
	loop_peer *p = cd->peer;
	if (!p)
		return 0;
	if (p->close_code)
		return ws_send_close(wsi, p->close_code, p->close_reason);
	loop_command *c = p->out_head;
	if (!c)
		return 0;
	p->out_head = c->next;
	if (!p->out_head)
		p->out_tail = NULL;
	if (c->kind == CMD_WS_CLOSE) { /* Lua's close, after its frames */
		loop_command_free(c);
		return ws_send_close(wsi, LWS_CLOSE_STATUS_NORMAL, "");
	}
	int n = lws_write(wsi, c->data + LWS_PRE, c->len, LWS_WRITE_TEXT);
	if (c->counted) {
		loop_lock();
		p->pending -= c->len;
		loop_unlock();
	}
	bool failed = n < (int)c->len;
	loop_command_free(c);
	if (failed)
		return -1;
	if (p->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

static void on_ws_closed(conn_data *cd)
{
	loop_peer *p = cd->peer;
	if (!p)
		return;
	cd->peer = NULL;
	if (p->has_sink) {
		p->has_sink = false;
		p->sink.on_close(p->sink.ud);
	}
	loop_peer_remove(p);
	p->wsi = NULL;
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (ev) {
		ev->kind = SOVA_EV_WS_CLOSE;
		ev->id = p->id;
		loop_emit_event(ev);
	} else {
		sova_log("error", "bot.loop", "out of memory: a socket's close was not told to Lua");
	}
	free_peer(p);
}

static void ws_command(loop_command *c)
{
	loop_peer *p = loop_peer_find(c->id);
	if (!p || p->kind != PEER_WS || !p->wsi || p->close_code) {
		loop_command_free(c);
		return;
	}
	switch (c->kind) {
	case CMD_WS_TEXT:
		ws_queue(p, c);
		break;
	case CMD_WS_CLOSE:
		if (c->status) { /* the reader stalled: close now */
			ws_close_now(p, c->status, c->content_type);
			loop_command_free(c);
		} else {
			ws_queue(p, c);
		}
		break;
	case CMD_WS_RESUME:
		lws_rx_flow_control(p->wsi, 1);
		loop_command_free(c);
		break;
	default:
		loop_command_free(c);
		break;
	}
}

void http_command(loop_command *c)
{
	if (c->kind == CMD_REPLY)
		reply_command(c);
	else
		ws_command(c);
}

/* ---- the C API of the media plane ---- */

static loop_peer *open_socket(long long ws_id)
{
	loop_peer *p = loop_peer_find(ws_id);
	return p && p->kind == PEER_WS && p->wsi && !p->close_code ? p : NULL;
}

bool sova_loop_ws_set_sink(long long ws_id, const sova_loop_sink *sink)
{
	/* a sink is removed from a closing socket too: its owner may be freed before the close ends */
	loop_peer *p = sink ? open_socket(ws_id) : loop_peer_find(ws_id);
	if (!p || p->kind != PEER_WS)
		return false;
	p->has_sink = sink != NULL;
	if (sink)
		p->sink = *sink;
	if (sink && p->held) {
		p->held = false;
		loop_lock();
		bool paused = p->rx_paused;
		loop_unlock();
		if (!paused)
			lws_rx_flow_control(p->wsi, 1);
	}
	return true;
}

int sova_loop_ws_write(long long ws_id, const void *data, size_t len, bool binary)
{
	loop_peer *p = open_socket(ws_id);
	if (!p || len > WS_MAX_MESSAGE)
		return SOVA_WS_GONE;
	if (lws_partial_buffered(p->wsi)) {
		lws_callback_on_writable(p->wsi); /* lws flushes what it holds when the socket can take it */
		return SOVA_WS_BUSY;
	}
	/* nothing of this socket waits in lws: written now, without a poll change (bench/ws_io) */
	memcpy(write_buf + LWS_PRE, data, len);
	if (lws_write(p->wsi, write_buf + LWS_PRE, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)len) {
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return SOVA_WS_GONE;
	}
	return SOVA_WS_SENT;
}

bool sova_loop_ws_busy(long long ws_id)
{
	loop_peer *p = open_socket(ws_id);
	if (!p || !lws_partial_buffered(p->wsi))
		return false;
	lws_callback_on_writable(p->wsi); /* lws flushes what it holds when the socket can take it */
	return true;
}

void sova_loop_ws_close_with(long long ws_id, int code, const char *reason)
{
	loop_peer *p = open_socket(ws_id);
	if (p)
		ws_close_now(p, code, reason);
}

/* ---- the lws protocol, start and stop ---- */

static int cb_bot(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	conn_data *cd = user;
	/* a connection closed before its first request has no per-connection data */
	if (!cd && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		char path[1024];
		return lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) > 0 && live_path(path) ? 0 : -1;
	}
	case LWS_CALLBACK_ESTABLISHED:
		return on_ws_open(wsi, cd);
	case LWS_CALLBACK_RECEIVE:
		loop_tick_if_due(); /* the frames due go out before this socket's input is handled */
		return on_ws_receive(wsi, cd, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_ws_writable(wsi, cd);
	case LWS_CALLBACK_CLOSED:
		on_ws_closed(cd);
		return 0;
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, cd, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		return on_http_body(cd, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return on_http_body_done(cd);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_http_writable(wsi, cd);
	case LWS_CALLBACK_CLOSED_HTTP:
		on_http_closed(cd);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols PROTOCOLS[] = {
	/* rx buffer: a frame of up to this much comes in one RECEIVE callback */
	{"sova-bot", cb_bot, sizeof(conn_data), 16384, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

bool http_start(const sova_loop_config *cfg, int *port, char *err, size_t errlen)
{
	write_buf = malloc(LWS_PRE + WS_MAX_MESSAGE);
	if (!write_buf) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	void *foreign[1] = {&media.uv};
	info.port = cfg->port;
	info.iface = cfg->host;
	info.protocols = PROTOCOLS;
	info.options = LWS_SERVER_OPTION_LIBUV | (strchr(cfg->host, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
	info.foreign_loops = foreign;
	info.max_http_header_data = HTTP_MAX_HEADER_DATA;
	info.max_http_header_pool = 256;
	info.timeout_secs = 30;     /* a request's headers and body (civetweb's request_timeout_ms) */
	info.keepalive_timeout = 5; /* an idle kept-alive connection */
	media.lws = lws_create_context(&info);
	int bound = media.lws ? lws_get_vhost_listen_port(lws_get_vhost_by_name(media.lws, "default")) : -1;
	if (!media.lws || bound <= 0) {
		snprintf(err, errlen, "cannot listen on %s:%d (address in use or not permitted)", cfg->host, cfg->port);
		if (media.lws)
			lws_context_destroy(media.lws);
		media.lws = NULL;
		free(write_buf);
		write_buf = NULL;
		return false;
	}
	*port = bound;
	return true;
}

static bool has_output(const loop_peer *p) { return p->kind == PEER_WS && p->wsi && (p->out_head || p->close_code); }

bool http_draining(void) { return loop_any_peer(has_output); }

void http_stop(void)
{
	lws_context_destroy(media.lws); /* closes every connection; its uv handles close as the loop runs */
	media.lws = NULL;
	free(write_buf);
	write_buf = NULL;
}

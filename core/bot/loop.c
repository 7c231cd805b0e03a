/* The call runtime's event loop (`sova bot`), plain C; its Lua face is core/bot/loop_lua.c.
 *
 * One thread runs Lua and every call; nothing blocks it. HTTP requests and WebSocket traffic
 * arrive from civetweb's threads as events in an inbox; outbound HTTP (LLM providers) runs on a
 * libcurl multi handle in the loop thread. sova_loop_wait(timeout) waits on both
 * (curl_multi_poll, woken by curl_multi_wakeup when another thread queues an event) and returns
 * what happened, so the Lua scheduler resumes the coroutine of each call. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/client.h"
#include "http/server.h"
#include "bot/loop.h"
#include "util/clock.h"
#include "util/log.h"

/* A pending HTTP request: its civetweb thread waits on `cond` for the loop's reply. */
typedef struct reply_slot {
	struct reply_slot *next;
	long long id;
	bool done;
	int status;
	char *body, *content_type; /* malloc'd by the loop thread; freed by the waiting thread */
	size_t body_len;
	pthread_cond_t cond;
} reply_slot;

/* Frames for one socket wait here: the loop thread never writes to a socket itself, so a
 * browser that stops reading holds up nothing but its own live view. */
typedef struct ws_out {
	struct ws_out *next;
	bool close; /* a closing handshake instead of text */
	size_t len;
	char data[];
} ws_out;

#define WS_MAX_PENDING (1024 * 1024)

/* What one socket may have in the inbox, not yet taken by the loop. Every line from a socket can
 * run a whole turn in the loop thread; without this bound a party that talks faster than its turns
 * run fills the inbox with thousands of lines, and every other call and HTTP answer waits behind
 * them (issue 3's stalled-socket case: /health over 3 s). With it, the socket's civetweb thread
 * waits instead, TCP pushes back on that party alone, and each batch of events carries at most
 * this many of its lines. */
#define WS_MAX_INBOX 8

struct ws_entry {
	struct ws_entry *next;
	sova_ws *ws;
	long long id;
	ws_out *head, *tail;
	size_t pending;
	bool stalled, closing;
	pthread_cond_t cond; /* with loop.lock: work for the sender */
	pthread_t sender;
	size_t inbox;            /* its messages in the inbox */
	pthread_cond_t room;     /* with loop.lock: the loop took some of them */
	sova_loop_event *closed; /* its WS_CLOSE event, made at open so that closing cannot fail */
};
typedef struct ws_entry ws_entry;

/* civetweb runs a socket's ready, data and close handlers on the one worker thread that holds
 * the connection, so that thread's socket is found without a search. */
static __thread ws_entry *reader_entry;

typedef struct fetch {
	long long id;
	CURL *easy;
	struct curl_slist *headers;
	char *req_body;
	sova_buf body, resp_headers;
	char errbuf[CURL_ERROR_SIZE];
} fetch;

static struct {
	pthread_mutex_t lock;
	bool ready, stopping;
	CURLM *multi;
	sova_loop_event *head, *tail;
	reply_slot *slots;
	ws_entry *sockets;
	long long next_id;
	int running_fetches;
} loop = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static char *dup_s(const char *s) { return dup_n(s ? s : "", strlen(s ? s : "")); }

void sova_loop_event_free(sova_loop_event *ev)
{
	if (!ev)
		return;
	free(ev->method);
	free(ev->path);
	free(ev->query);
	free(ev->remote);
	free(ev->headers);
	free(ev->body);
	free(ev->error);
	free(ev);
}

static void enqueue_locked(sova_loop_event *ev)
{
	if (loop.tail)
		loop.tail->next = ev;
	else
		loop.head = ev;
	loop.tail = ev;
}

static void wake_loop(void)
{
	pthread_mutex_lock(&loop.lock);
	CURLM *m = loop.multi;
	pthread_mutex_unlock(&loop.lock);
	if (m)
		curl_multi_wakeup(m);
}

/* Queues ev (ownership moves to the loop) and wakes the loop thread. */
static void enqueue(sova_loop_event *ev)
{
	pthread_mutex_lock(&loop.lock);
	enqueue_locked(ev);
	pthread_mutex_unlock(&loop.lock);
	wake_loop();
}

static long long new_id(void)
{
	pthread_mutex_lock(&loop.lock);
	long long id = ++loop.next_id;
	pthread_mutex_unlock(&loop.lock);
	return id;
}

/* ---- Called from civetweb threads ---- */

bool sova_loop_init(char *err, size_t errlen)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *m = curl_multi_init();
	if (!m) {
		snprintf(err, errlen, "cannot create the HTTP multi handle");
		return false;
	}
	pthread_mutex_lock(&loop.lock);
	loop.multi = m;
	loop.ready = true;
	pthread_mutex_unlock(&loop.lock);
	return true;
}

void sova_loop_stop(void)
{
	pthread_mutex_lock(&loop.lock);
	loop.stopping = true;
	for (ws_entry *e = loop.sockets; e; e = e->next)
		pthread_cond_broadcast(&e->room); /* readers waiting for room must not hold up mg_stop */
	CURLM *m = loop.multi;
	pthread_mutex_unlock(&loop.lock);
	if (m)
		curl_multi_wakeup(m);
}

int sova_loop_http(const sova_http_request *req, int timeout_ms, char **body, size_t *body_len, char **content_type)
{
	*body = NULL;
	*content_type = NULL;
	*body_len = 0;
	sova_loop_event *ev = calloc(1, sizeof *ev);
	reply_slot *slot = calloc(1, sizeof *slot);
	size_t hlen = 0;
	for (int i = 0; i < req->num_headers; i++)
		hlen += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
	char *headers = malloc(hlen + 1);
	if (!ev || !slot || !headers) {
		free(ev);
		free(slot);
		free(headers);
		return 500;
	}
	size_t off = 0;
	for (int i = 0; i < req->num_headers; i++) {
		for (const char *p = req->headers[i].name; *p; p++)
			headers[off++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
		headers[off++] = '\0';
		size_t vl = strlen(req->headers[i].value);
		memcpy(headers + off, req->headers[i].value, vl + 1);
		off += vl + 1;
	}
	ev->kind = SOVA_EV_HTTP;
	ev->id = slot->id = new_id();
	ev->method = dup_s(req->method);
	ev->path = dup_s(req->path);
	ev->query = dup_s(req->query);
	ev->remote = dup_s(req->remote_addr);
	ev->headers = headers;
	ev->headers_len = off;
	ev->body = dup_n(req->body, req->body_len);
	ev->body_len = req->body_len;
	pthread_cond_init(&slot->cond, NULL);
	if (!ev->method || !ev->path || !ev->query || !ev->remote || !ev->body) {
		sova_loop_event_free(ev);
		pthread_cond_destroy(&slot->cond);
		free(slot);
		return 500;
	}
	pthread_mutex_lock(&loop.lock);
	if (!loop.ready || loop.stopping) {
		pthread_mutex_unlock(&loop.lock);
		sova_loop_event_free(ev);
		pthread_cond_destroy(&slot->cond);
		free(slot);
		return 503;
	}
	slot->next = loop.slots;
	loop.slots = slot;
	pthread_mutex_unlock(&loop.lock);
	enqueue(ev);

	struct timespec until;
	sova_deadline_after(&until, timeout_ms);
	pthread_mutex_lock(&loop.lock);
	while (!slot->done) {
		if (pthread_cond_timedwait(&slot->cond, &loop.lock, &until) != 0 && !slot->done)
			break;
	}
	/* unlink: from here the loop can no longer reply into this slot */
	for (reply_slot **pp = &loop.slots; *pp; pp = &(*pp)->next) {
		if (*pp == slot) {
			*pp = slot->next;
			break;
		}
	}
	pthread_mutex_unlock(&loop.lock);
	int status = slot->done ? slot->status : 503;
	*body = slot->body; /* caller frees */
	*body_len = slot->body_len;
	*content_type = slot->content_type;
	pthread_cond_destroy(&slot->cond);
	free(slot);
	return status;
}

/* One per live socket: writes its queued frames, possibly blocking, never on the loop thread. */
static void *ws_sender(void *arg)
{
	ws_entry *e = arg;
	pthread_mutex_lock(&loop.lock);
	for (;;) {
		while (!e->head && !e->closing)
			pthread_cond_wait(&e->cond, &loop.lock);
		if (e->closing)
			break;
		ws_out *o = e->head;
		e->head = o->next;
		if (!e->head)
			e->tail = NULL;
		e->pending -= o->len;
		pthread_mutex_unlock(&loop.lock);
		if (o->close)
			sova_ws_close(e->ws);
		else
			sova_ws_send(e->ws, o->data, o->len);
		free(o);
		pthread_mutex_lock(&loop.lock);
	}
	pthread_mutex_unlock(&loop.lock);
	return NULL;
}

static void free_entry(ws_entry *e)
{
	for (ws_out *o = e->head; o;) {
		ws_out *next = o->next;
		free(o);
		o = next;
	}
	sova_loop_event_free(e->closed);
	pthread_cond_destroy(&e->cond);
	pthread_cond_destroy(&e->room);
	free(e);
}

void sova_loop_ws_open(sova_ws *ws, const char *path, const char *query, const char *remote)
{
	reader_entry = NULL;
	ws_entry *e = calloc(1, sizeof *e);
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (e)
		e->closed = calloc(1, sizeof *e->closed);
	if (!e || !ev || !e->closed) {
		if (e)
			free(e->closed);
		free(e);
		free(ev);
		sova_ws_close(ws);
		return;
	}
	e->ws = ws;
	e->id = sova_ws_id(ws);
	e->closed->kind = SOVA_EV_WS_CLOSE;
	e->closed->id = e->id;
	e->closed->socket = e;
	pthread_cond_init(&e->cond, NULL);
	pthread_cond_init(&e->room, NULL);
	if (pthread_create(&e->sender, NULL, ws_sender, e) != 0) {
		free_entry(e);
		free(ev);
		sova_ws_close(ws);
		return;
	}
	ev->kind = SOVA_EV_WS_OPEN;
	ev->id = e->id;
	ev->path = dup_s(path);
	ev->query = dup_s(query);
	ev->remote = dup_s(remote);
	pthread_mutex_lock(&loop.lock);
	e->next = loop.sockets;
	loop.sockets = e;
	pthread_mutex_unlock(&loop.lock);
	reader_entry = e;
	enqueue(ev);
}

void sova_loop_ws_message(sova_ws *ws, const char *data, size_t len)
{
	ws_entry *e = reader_entry && reader_entry->ws == ws ? reader_entry : NULL;
	if (!e)
		return; /* its open failed and it is being closed: nobody would read the line */
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (!ev)
		return;
	ev->kind = SOVA_EV_WS_MESSAGE;
	ev->id = e->id;
	ev->socket = e;
	ev->body = dup_n(data, len);
	ev->body_len = len;
	if (!ev->body) {
		free(ev);
		return;
	}
	pthread_mutex_lock(&loop.lock);
	while (e->inbox >= WS_MAX_INBOX && !loop.stopping)
		pthread_cond_wait(&e->room, &loop.lock);
	e->inbox++;
	enqueue_locked(ev);
	pthread_mutex_unlock(&loop.lock);
	wake_loop();
}

void sova_loop_ws_close(sova_ws *ws)
{
	ws_entry *dead = reader_entry && reader_entry->ws == ws ? reader_entry : NULL;
	reader_entry = NULL;
	if (!dead)
		return; /* its open failed: the loop never heard of it */
	/* Unlinked first, so no send finds it; then its sender is stopped before civetweb frees ws.
	 * A write in progress ends when the peer is gone, or after civetweb's request timeout. */
	pthread_mutex_lock(&loop.lock);
	for (ws_entry **pp = &loop.sockets; *pp; pp = &(*pp)->next) {
		if (*pp == dead) {
			*pp = dead->next;
			break;
		}
	}
	dead->closing = true;
	pthread_cond_signal(&dead->cond);
	pthread_mutex_unlock(&loop.lock);
	pthread_join(dead->sender, NULL);
	/* Its WS_CLOSE comes after all its messages; the loop frees the entry when it takes it. */
	pthread_mutex_lock(&loop.lock);
	sova_loop_event *ev = dead->closed;
	dead->closed = NULL;
	enqueue_locked(ev);
	pthread_mutex_unlock(&loop.lock);
	wake_loop();
}

/* ---- Called from the loop thread ---- */

bool sova_loop_ready(void) { return loop.ready; }

bool sova_loop_reply(long long id, int status, const char *body, size_t len, const char *content_type)
{
	char *b = dup_n(body, len), *c = dup_s(content_type);
	if (!b || !c) {
		free(b);
		free(c);
		return false;
	}
	bool delivered = false;
	pthread_mutex_lock(&loop.lock);
	for (reply_slot *s = loop.slots; s; s = s->next) {
		if (s->id == id && !s->done) {
			s->status = status;
			s->body = b; /* owned by the waiting thread now */
			s->body_len = len;
			s->content_type = c;
			s->done = true;
			pthread_cond_signal(&s->cond);
			delivered = true;
			break;
		}
	}
	pthread_mutex_unlock(&loop.lock);
	if (!delivered) {
		free(b);
		free(c);
	}
	return delivered;
}

static ws_entry *find_ws(long long id)
{
	for (ws_entry *e = loop.sockets; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

/* Queues a frame for the socket's sender (loop.lock held). A socket with more than
 * WS_MAX_PENDING unread is stalled: it gets no more frames but a closing handshake. */
static bool queue_frame(ws_entry *e, const char *data, size_t len, bool close)
{
	if (e->stalled || e->closing)
		return false;
	if (!close && e->pending + len > WS_MAX_PENDING) {
		e->stalled = true;
		close = true, data = NULL, len = 0;
	}
	ws_out *o = malloc(sizeof *o + len);
	if (!o)
		return false;
	o->next = NULL;
	o->close = close;
	o->len = len;
	if (len)
		memcpy(o->data, data, len);
	if (e->tail)
		e->tail->next = o;
	else
		e->head = o;
	e->tail = o;
	e->pending += len;
	pthread_cond_signal(&e->cond);
	return !close || !e->stalled;
}

bool sova_loop_ws_send(long long id, const char *text, size_t len)
{
	pthread_mutex_lock(&loop.lock);
	ws_entry *e = find_ws(id);
	bool ok = e && queue_frame(e, text, len, false);
	pthread_mutex_unlock(&loop.lock);
	return ok;
}

void sova_loop_ws_close_id(long long id)
{
	pthread_mutex_lock(&loop.lock);
	ws_entry *e = find_ws(id);
	if (e)
		queue_frame(e, NULL, 0, true);
	pthread_mutex_unlock(&loop.lock);
}

static size_t fetch_body(char *p, size_t size, size_t n, void *ud)
{
	fetch *f = ud;
	return sova_buf_append(&f->body, p, size * n);
}

static void free_fetch(fetch *f)
{
	if (f->easy)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->req_body);
	sova_buf_free(&f->body);
	sova_buf_free(&f->resp_headers);
	free(f);
}

long long sova_loop_fetch(const sova_loop_fetch_request *r, char *err, size_t errlen)
{
	fetch *f = calloc(1, sizeof *f);
	if (!f || !(f->easy = curl_easy_init())) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	f->id = new_id();
	for (size_t i = 0; i < r->num_headers; i++) {
		struct curl_slist *n = curl_slist_append(f->headers, r->headers[i]);
		if (!n)
			goto oom;
		f->headers = n;
	}
	struct curl_slist *n = curl_slist_append(f->headers, "Expect:");
	if (!n)
		goto oom;
	f->headers = n;
	if (r->body && !(f->req_body = dup_n(r->body, r->body_len)))
		goto oom;
	CURL *c = f->easy;
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_PRIVATE, f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->req_body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->req_body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	if (curl_multi_add_handle(loop.multi, c) != CURLM_OK) {
		free_fetch(f);
		snprintf(err, errlen, "cannot start the request");
		return 0;
	}
	loop.running_fetches++;
	return f->id;
oom:
	free_fetch(f);
	snprintf(err, errlen, "out of memory");
	return 0;
}

/* A finished transfer as an event; the transfer is freed. NULL on out of memory. */
static sova_loop_event *fetch_done(fetch *f, CURLcode rc)
{
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (ev) {
		ev->kind = SOVA_EV_FETCH;
		ev->id = f->id;
		if (rc == CURLE_OK) {
			long status = 0;
			curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
			ev->status = (int)status;
			ev->body = dup_n(f->body.data ? f->body.data : "", f->body.len);
			ev->body_len = f->body.len;
		} else {
			ev->error = dup_s(f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
		}
		if (!ev->body && !ev->error) {
			sova_loop_event_free(ev);
			ev = NULL;
		}
	}
	free_fetch(f);
	return ev;
}

sova_loop_event *sova_loop_wait(int timeout_ms, bool *stopping)
{
	pthread_mutex_lock(&loop.lock);
	bool idle = !loop.head && !loop.stopping;
	pthread_mutex_unlock(&loop.lock);
	if (idle)
		curl_multi_poll(loop.multi, NULL, 0, timeout_ms, NULL);
	int running = 0;
	curl_multi_perform(loop.multi, &running);

	sova_loop_event *head = NULL, **tail = &head;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(loop.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		fetch *f = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(loop.multi, msg->easy_handle);
		loop.running_fetches--;
		if (!f)
			continue;
		sova_loop_event *ev = fetch_done(f, rc);
		if (!ev) {
			sova_log("error", "loop.fetch", "out of memory: a provider answer was dropped");
			continue;
		}
		*tail = ev;
		tail = &ev->next;
	}

	pthread_mutex_lock(&loop.lock);
	*tail = loop.head; /* inbox events after the finished transfers, in arrival order */
	for (sova_loop_event *ev = loop.head; ev; ev = ev->next) {
		if (!ev->socket)
			continue;
		if (ev->kind == SOVA_EV_WS_MESSAGE) {
			ev->socket->inbox--;
			pthread_cond_signal(&ev->socket->room);
		} else if (ev->kind == SOVA_EV_WS_CLOSE) {
			free_entry(ev->socket); /* its sender is joined and no message of it is left */
		}
		ev->socket = NULL;
	}
	loop.head = loop.tail = NULL;
	*stopping = loop.stopping;
	pthread_mutex_unlock(&loop.lock);
	return head;
}

int sova_loop_pending(void) { return loop.running_fetches; }

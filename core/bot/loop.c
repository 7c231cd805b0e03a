/* The call runtime's event loop (`sova bot`), plain C; its Lua face is core/bot/loop_lua.c, its
 * HTTP and WebSocket side core/bot/http.c.
 *
 * The media thread runs a libuv loop with libwebsockets, curl multi-socket and a 5 ms tick on it;
 * the Lua thread runs every call. Between them, one mutex guards two short queues (events up,
 * commands down) and the id table of open requests and sockets. Each crossing holds the lock for
 * a few pointer moves (measured: docs/benchmarks.md, "Bot event loop"), so single-producer rings
 * would buy nothing measurable here; the lock also makes the Lua thread's checks ("is this socket
 * stalled?") and its command one step. The Lua thread sleeps in poll(2) on an eventfd that the
 * first event of a batch writes; the media thread is woken by a uv_async_t. */
#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bot/loop_media.h"
#include "util/log.h"

#define ID_BUCKETS 4096
#define DRAIN_MAX_MS 1000

loop_media media;

static struct {
	pthread_mutex_t lock;
	bool ready;     /* sova_loop_init done */
	bool accepting; /* the media thread takes commands (between start and the end of shutdown) */
	bool stopping;  /* the stop signal came: Lua sees {kind="stop"} */
	int event_fd;   /* written when the event queue turns non-empty; the Lua thread polls it */
	sova_loop_event *ev_head, *ev_tail;
	loop_command *cmd_head, *cmd_tail;
	loop_peer *ids[ID_BUCKETS];
	int pending_fetches; /* started, answer not yet taken by Lua */
	long long next_id;
} loop = {.lock = PTHREAD_MUTEX_INITIALIZER, .event_fd = -1};

/* Media thread only. */
typedef struct fetch {
	struct fetch *prev, *next; /* running transfers */
	long long id;
	CURL *easy;
	struct curl_slist *headers;
	char *req_body;
	sova_sbuf body;   /* unstreamed: the whole body; streamed: a non-2xx body */
	bool stream;     /* 2xx body pieces go up as they arrive */
	sova_sbuf piece;  /* streamed: read since the last SOVA_EV_FETCH_DATA */
	size_t streamed; /* streamed: 2xx body bytes read in all */
	struct fetch *next_unsent; /* in m.unsent while piece holds bytes */
	bool cut;        /* streamed: a piece was lost (no memory): the transfer fails */
	char errbuf[CURL_ERROR_SIZE];
} fetch;

typedef struct curl_watch {
	uv_poll_t poll;
	curl_socket_t fd;
} curl_watch;

static struct {
	uv_async_t wake;
	uv_poll_t tick_poll;
	int tick_fd;
	void (*tick_fn)(void *ud, int64_t tick_ns);
	void *tick_ud;
	int64_t next_tick_ns; /* when the next tick is due: the timerfd's grid */
	bool in_tick;
	CURLM *multi;
	uv_timer_t curl_timer, drain_timer;
	fetch *fetches;
	fetch *unsent; /* streamed transfers with a piece read and not yet sent up */
	bool draining;
	uint64_t drain_started_ms;
} m = {.tick_fd = -1};

/* The tick's figures (sova_loop_tick_stats): written by the media thread, read by any. */
static struct {
	_Atomic uint64_t ticks, missed;
	_Atomic uint64_t late_ms[SOVA_LOOP_TICK_BUCKETS], run_ms[SOVA_LOOP_TICK_BUCKETS];
} tick_stats;

/* Live sockets closed because their reader fell too far behind or took nothing for WS_STALL_S
 * (sova_loop_ws_stalled_count). */
static _Atomic uint64_t ws_stalled_closes;

/* ---- shared helpers ---- */

void loop_lock(void) { pthread_mutex_lock(&loop.lock); }
void loop_unlock(void) { pthread_mutex_unlock(&loop.lock); }

long long loop_new_id(void) { return __atomic_add_fetch(&loop.next_id, 1, __ATOMIC_RELAXED); }

char *loop_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static char *dup_s(const char *s) { return loop_dup(s ? s : "", strlen(s ? s : "")); }

loop_peer *loop_peer_find(long long id)
{
	for (loop_peer *p = loop.ids[(unsigned long long)id % ID_BUCKETS]; p; p = p->hnext)
		if (p->id == id)
			return p;
	return NULL;
}

void loop_peer_add(loop_peer *p)
{
	loop_peer **b = &loop.ids[(unsigned long long)p->id % ID_BUCKETS];
	loop_lock();
	p->hnext = *b;
	*b = p;
	loop_unlock();
}

void loop_peer_remove(loop_peer *p)
{
	loop_lock();
	for (loop_peer **pp = &loop.ids[(unsigned long long)p->id % ID_BUCKETS]; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	loop_unlock();
}

bool loop_any_peer(bool (*pred)(const loop_peer *p))
{
	for (size_t b = 0; b < ID_BUCKETS; b++)
		for (const loop_peer *p = loop.ids[b]; p; p = p->hnext)
			if (pred(p))
				return true;
	return false;
}

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

void loop_command_free(loop_command *c) { free(c); }

void loop_emit_event(sova_loop_event *ev)
{
	ev->next = NULL;
	loop_lock();
	bool was_empty = !loop.ev_head;
	if (loop.ev_tail)
		loop.ev_tail->next = ev;
	else
		loop.ev_head = ev;
	loop.ev_tail = ev;
	loop_unlock();
	if (was_empty) {
		uint64_t one = 1;
		/* only EAGAIN can fail here (the counter is full): the Lua thread is awake then anyway */
		if (write(loop.event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
			sova_log("error", "bot.loop", "cannot wake the Lua thread");
	}
}

/* Queues c for the media thread (loop.lock held). false when it takes no commands. */
static bool post_locked(loop_command *c)
{
	if (!loop.accepting)
		return false;
	c->next = NULL;
	bool was_empty = !loop.cmd_head;
	if (loop.cmd_tail)
		loop.cmd_tail->next = c;
	else
		loop.cmd_head = c;
	loop.cmd_tail = c;
	if (was_empty)
		uv_async_send(&m.wake); /* thread-safe; the handle lives while accepting */
	return true;
}

static loop_command *new_command(int kind, long long id, size_t len)
{
	loop_command *c = calloc(1, sizeof *c + len);
	if (c) {
		c->kind = kind;
		c->id = id;
		c->len = len;
	}
	return c;
}

/* ---- the Lua thread ---- */

bool sova_loop_init(char *err, size_t errlen)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return false;
	}
	loop.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop.event_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		curl_global_cleanup();
		return false;
	}
	loop.ready = true;
	return true;
}

bool sova_loop_ready(void) { return loop.ready; }

void sova_loop_stop(void)
{
	loop_lock();
	loop.stopping = true;
	loop_unlock();
	uint64_t one = 1;
	if (loop.event_fd >= 0 && write(loop.event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		sova_log("error", "bot.loop", "cannot wake the Lua thread");
}

bool sova_loop_post(sova_loop_task task, void *arg)
{
	loop_command *c = new_command(CMD_TASK, 0, 0);
	if (!c)
		return false;
	c->task = task;
	c->arg = arg;
	loop_lock();
	bool ok = post_locked(c);
	loop_unlock();
	if (!ok)
		free(c);
	return ok;
}

bool sova_loop_reply(long long id, int status, const char *body, size_t len, const char *content_type)
{
	loop_command *c = new_command(CMD_REPLY, id, len);
	if (!c)
		return false;
	c->status = status;
	if (len)
		memcpy(c->data, body, len);
	snprintf(c->content_type, sizeof c->content_type, "%s", content_type ? content_type : "application/json");
	loop_lock();
	loop_peer *p = loop_peer_find(id);
	bool ok = p && p->kind == PEER_HTTP && !p->answered;
	if (ok)
		p->answered = true;
	ok = ok && post_locked(c);
	loop_unlock();
	if (!ok)
		free(c);
	return ok;
}

bool sova_loop_ws_send(long long id, const char *text, size_t len)
{
	loop_command *c = new_command(CMD_WS_TEXT, id, LWS_PRE + len);
	if (!c)
		return false;
	memcpy(c->data + LWS_PRE, text, len);
	c->len = len;
	c->counted = true;
	loop_lock();
	loop_peer *p = loop_peer_find(id);
	bool ok = p && p->kind == PEER_WS && !p->stalled && !p->closing;
	if (ok && p->pending + len > WS_MAX_PENDING) {
		/* its reader stopped reading: what waits is dropped, and the socket closed */
		p->stalled = p->closing = true;
		loop_count_stalled();
		c->kind = CMD_WS_CLOSE;
		c->status = 1008;
		snprintf(c->content_type, sizeof c->content_type, "the reader fell too far behind");
		if (!post_locked(c))
			free(c);
		loop_unlock();
		return false;
	}
	if (ok)
		p->pending += len;
	ok = ok && post_locked(c);
	loop_unlock();
	if (!ok)
		free(c);
	return ok;
}

void sova_loop_ws_close_id(long long id)
{
	loop_command *c = new_command(CMD_WS_CLOSE, id, 0);
	if (!c)
		return;
	loop_lock();
	loop_peer *p = loop_peer_find(id);
	bool ok = p && p->kind == PEER_WS && !p->closing;
	if (ok)
		p->closing = true;
	ok = ok && post_locked(c);
	loop_unlock();
	if (!ok)
		free(c);
}

/* CURLOPT_WRITEFUNCTION (media thread). A streamed 2xx body collects into f->piece, sent up after
 * curl's read (send_pieces): one event per batch, not per write callback. */
static size_t fetch_body(char *p, size_t size, size_t n, void *ud)
{
	fetch *f = ud;
	size_t len = size * n;
	long status = 0;
	if (f->stream)
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return sova_fetch_append(&f->body, p, len);
	if (f->cut || f->streamed + len > SOVA_FETCH_MAX_BODY)
		return 0; /* as an unstreamed body over the limit: curl fails with CURLE_WRITE_ERROR */
	bool had = f->piece.len > 0;
	if (sova_fetch_append(&f->piece, p, len) != len)
		return 0;
	f->streamed += len;
	if (!had) {
		f->next_unsent = m.unsent;
		m.unsent = f;
	}
	return len;
}

static void free_fetch(fetch *f)
{
	if (f->easy)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->req_body);
	sova_sbuf_free(&f->body);
	sova_sbuf_free(&f->piece);
	free(f);
}

long long sova_loop_fetch(const sova_loop_fetch_request *r, char *err, size_t errlen)
{
	fetch *f = calloc(1, sizeof *f);
	loop_command *c = new_command(CMD_FETCH, 0, 0);
	if (!f || !c || !(f->easy = curl_easy_init()))
		goto oom;
	f->id = c->id = loop_new_id();
	c->arg = f;
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
	if (r->body && !(f->req_body = loop_dup(r->body, r->body_len)))
		goto oom;
	CURL *e = f->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	f->stream = r->stream;
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_PRIVATE, f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->req_body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->req_body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	}
	/* the handle is the media thread's from here on */
	loop_lock();
	bool ok = post_locked(c);
	if (ok)
		loop.pending_fetches++;
	loop_unlock();
	if (!ok) {
		free_fetch(f);
		free(c);
		snprintf(err, errlen, "the bot is stopping");
		return 0;
	}
	return f->id;
oom:
	if (f)
		free_fetch(f);
	free(c);
	snprintf(err, errlen, "out of memory");
	return 0;
}

/* Takes the queued events (loop.lock held): each line taken from a socket makes room in its inbox,
 * and a socket paused at WS_MAX_INBOX is read again. */
static sova_loop_event *take_events_locked(void)
{
	sova_loop_event *head = loop.ev_head;
	loop.ev_head = loop.ev_tail = NULL;
	for (sova_loop_event *ev = head; ev; ev = ev->next) {
		if (ev->kind == SOVA_EV_FETCH) { /* not FETCH_DATA: the answer is still to come */
			loop.pending_fetches--;
		} else if (ev->kind == SOVA_EV_WS_MESSAGE) {
			loop_peer *p = loop_peer_find(ev->id);
			if (!p || !p->inbox)
				continue;
			p->inbox--;
			if (p->rx_paused && p->inbox < WS_MAX_INBOX) {
				loop_command *c = new_command(CMD_WS_RESUME, ev->id, 0);
				if (c && post_locked(c))
					p->rx_paused = false;
				else
					free(c); /* stays paused: the next line taken tries again */
			}
		}
	}
	return head;
}

sova_loop_event *sova_loop_wait(int timeout_ms, bool *stopping)
{
	loop_lock();
	bool idle = !loop.ev_head && !loop.stopping;
	loop_unlock();
	if (idle) {
		struct pollfd pfd = {.fd = loop.event_fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
			sova_log("error", "bot.loop", "poll on the event queue failed");
	}
	uint64_t n;
	if (read(loop.event_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		sova_log("error", "bot.loop", "cannot read the event queue's eventfd");
	loop_lock();
	sova_loop_event *head = take_events_locked();
	*stopping = loop.stopping;
	loop_unlock();
	return head;
}

int sova_loop_pending(void)
{
	loop_lock();
	int n = loop.pending_fetches;
	loop_unlock();
	return n;
}

/* ---- the media thread: events for Lua ---- */

void sova_loop_emit(int kind, long long id, const char *body, size_t len)
{
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (ev && !(ev->body = loop_dup(body ? body : "", body ? len : 0))) {
		free(ev);
		ev = NULL;
	}
	if (!ev) {
		sova_log("error", "bot.loop", "out of memory: an event for the Lua thread was dropped");
		return;
	}
	ev->kind = kind;
	ev->id = id;
	ev->body_len = body ? len : 0;
	loop_emit_event(ev);
}

/* ---- the media thread: curl multi-socket on the uv loop (loop.fetch) ---- */

/* The pieces of streamed bodies read since the last call, one event each (media thread). Runs
 * before curl_check_done, so a transfer's pieces are queued before its end. */
static void send_pieces(void)
{
	while (m.unsent) {
		fetch *f = m.unsent;
		m.unsent = f->next_unsent;
		f->next_unsent = NULL;
		sova_loop_event *ev = calloc(1, sizeof *ev);
		if (!ev) {
			/* the answer would reach Lua with a hole in it: fail the transfer instead */
			sova_log("error", "loop.fetch", "out of memory: a streamed answer is cut off");
			sova_sbuf_free(&f->piece);
			f->cut = true;
			continue;
		}
		long status = 0;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
		ev->kind = SOVA_EV_FETCH_DATA;
		ev->id = f->id;
		ev->status = (int)status;
		ev->body = f->piece.data; /* owned by the event now */
		ev->body_len = f->piece.len;
		f->piece = (sova_sbuf){0};
		loop_emit_event(ev);
	}
}

/* A finished transfer as an event for Lua; the transfer is freed. */
static void fetch_done(fetch *f, CURLcode rc)
{
	sova_loop_event *ev = calloc(1, sizeof *ev);
	if (ev) {
		ev->kind = SOVA_EV_FETCH;
		ev->id = f->id;
		if (rc == CURLE_OK && f->cut)
			rc = CURLE_OUT_OF_MEMORY;
		if (rc == CURLE_OK) {
			long status = 0;
			curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
			ev->status = (int)status;
			ev->body = loop_dup(f->body.data ? f->body.data : "", f->body.len);
			ev->body_len = f->body.len;
		} else {
			ev->error = dup_s(f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
		}
		if (!ev->body && !ev->error) {
			sova_loop_event_free(ev);
			ev = NULL;
		}
	}
	if (ev) {
		loop_emit_event(ev);
	} else {
		sova_log("error", "loop.fetch", "out of memory: a provider answer was dropped");
		loop_lock();
		loop.pending_fetches--; /* its answer never comes */
		loop_unlock();
	}
	free_fetch(f);
}

static void unlink_fetch(fetch *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		m.fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

static void curl_check_done(void)
{
	send_pieces();
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		fetch *f = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(m.multi, msg->easy_handle);
		if (f) {
			unlink_fetch(f);
			fetch_done(f, rc);
		}
	}
}

static void on_curl_socket(uv_poll_t *h, int status, int events)
{
	curl_watch *w = h->data;
	loop_tick_if_due();
	int flags = status < 0 ? CURL_CSELECT_ERR : 0;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	int running;
	curl_multi_socket_action(m.multi, w->fd, flags, &running);
	curl_check_done();
}

static void free_watch(uv_handle_t *h) { free(h->data); }

/* CURLMOPT_SOCKETFUNCTION: curl says which socket it wants watched for what. */
static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *ud, void *socketp)
{
	curl_watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			uv_poll_stop(&w->poll);
			uv_close((uv_handle_t *)&w->poll, free_watch);
			curl_multi_assign(m.multi, s, NULL);
		}
		return 0;
	}
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w)
			return -1;
		if (uv_poll_init_socket(&media.uv, &w->poll, s) != 0) {
			free(w);
			return -1;
		}
		w->fd = s;
		w->poll.data = w;
		curl_multi_assign(m.multi, s, w);
	}
	int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	return uv_poll_start(&w->poll, events, on_curl_socket) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *t)
{
	int running;
	curl_multi_socket_action(m.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curl_check_done();
}

/* CURLMOPT_TIMERFUNCTION: curl's one timeout, as a uv timer. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *ud)
{
	if (timeout_ms < 0)
		return uv_timer_stop(&m.curl_timer) == 0 ? 0 : -1;
	return uv_timer_start(&m.curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static void start_fetch(fetch *f)
{
	if (curl_multi_add_handle(m.multi, f->easy) != CURLM_OK) {
		snprintf(f->errbuf, sizeof f->errbuf, "cannot start the request");
		fetch_done(f, CURLE_FAILED_INIT);
		return;
	}
	f->prev = NULL;
	f->next = m.fetches;
	if (f->next)
		f->next->prev = f;
	m.fetches = f;
}

/* ---- the media thread: the tick ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void count_ms(_Atomic uint64_t *buckets, int64_t ns)
{
	int64_t k = ns / 1000000;
	atomic_fetch_add_explicit(&buckets[k < SOVA_LOOP_TICK_BUCKETS - 1 ? k : SOVA_LOOP_TICK_BUCKETS - 1], 1,
				  memory_order_relaxed);
}

/* Runs the tick that is due (the latest on the grid; those before it are missed) when one is: from
 * the timerfd's callback, and from the other callbacks (loop_tick_if_due), whichever comes first. */
void loop_tick_if_due(void)
{
	if (!m.tick_fn || m.in_tick)
		return;
	int64_t now = now_ns(); /* vDSO: tens of ns, against µs for the callback it precedes */
	if (now < m.next_tick_ns)
		return;
	int64_t missed = (now - m.next_tick_ns) / SOVA_LOOP_TICK_NS, due = m.next_tick_ns + missed * SOVA_LOOP_TICK_NS;
	m.next_tick_ns = due + SOVA_LOOP_TICK_NS;
	atomic_fetch_add_explicit(&tick_stats.ticks, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&tick_stats.missed, (uint64_t)missed, memory_order_relaxed);
	count_ms(tick_stats.late_ms, now - due);
	m.in_tick = true;
	m.tick_fn(m.tick_ud, due);
	m.in_tick = false;
	count_ms(tick_stats.run_ms, now_ns() - now);
}

static void on_tick(uv_poll_t *h, int status, int events)
{
	uint64_t expirations;
	/* the count is not needed: the grid and the clock say which tick is due */
	if (read(m.tick_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		sova_log("error", "bot.loop", "cannot read the tick's timerfd");
	loop_tick_if_due();
}

void loop_count_stalled(void) { atomic_fetch_add_explicit(&ws_stalled_closes, 1, memory_order_relaxed); }

uint64_t sova_loop_ws_stalled_count(void)
{
	return atomic_load_explicit(&ws_stalled_closes, memory_order_relaxed);
}

void sova_loop_tick_stats_get(sova_loop_tick_stats *out)
{
	out->ticks = atomic_load_explicit(&tick_stats.ticks, memory_order_relaxed);
	out->missed = atomic_load_explicit(&tick_stats.missed, memory_order_relaxed);
	for (int k = 0; k < SOVA_LOOP_TICK_BUCKETS; k++) {
		out->late_ms[k] = atomic_load_explicit(&tick_stats.late_ms[k], memory_order_relaxed);
		out->run_ms[k] = atomic_load_explicit(&tick_stats.run_ms[k], memory_order_relaxed);
	}
}

void sova_loop_on_tick(void (*fn)(void *ud, int64_t tick_ns), void *ud)
{
	bool was_on = m.tick_fn != NULL;
	m.tick_fn = fn;
	m.tick_ud = ud;
	if (was_on == (fn != NULL))
		return;
	/* One absolute-interval timerfd: the kernel keeps the grid, so ticks never drift. */
	struct itimerspec its = {0};
	if (fn) {
		int64_t first = now_ns() + SOVA_LOOP_TICK_NS;
		m.next_tick_ns = first;
		its.it_interval.tv_nsec = SOVA_LOOP_TICK_NS;
		its.it_value.tv_sec = first / 1000000000LL;
		its.it_value.tv_nsec = first % 1000000000LL;
	}
	if (timerfd_settime(m.tick_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		sova_log("error", "bot.loop", "cannot set the tick");
}

struct lws_context *sova_loop_lws(void) { return media.lws; }

/* ---- the media thread: commands, start and stop ---- */

static void finish_shutdown(void);

static void on_drain_check(uv_timer_t *t)
{
	if (http_draining() && uv_now(&media.uv) - m.drain_started_ms < DRAIN_MAX_MS)
		return;
	uv_timer_stop(&m.drain_timer);
	finish_shutdown();
}

static void run_command(loop_command *c)
{
	switch (c->kind) {
	case CMD_TASK:
		c->task(c->arg);
		free(c);
		break;
	case CMD_FETCH:
		start_fetch(c->arg);
		free(c);
		break;
	case CMD_STOP:
		free(c);
		if (m.draining)
			break;
		/* what Lua queued last (a call's closing lines, its close) goes out first */
		m.draining = true;
		m.drain_started_ms = uv_now(&media.uv);
		if (uv_timer_start(&m.drain_timer, on_drain_check, 0, 20) != 0)
			finish_shutdown();
		break;
	default:
		http_command(c);
		break;
	}
}

static void on_wake(uv_async_t *h)
{
	loop_lock();
	loop_command *c = loop.cmd_head;
	loop.cmd_head = loop.cmd_tail = NULL;
	loop_unlock();
	while (c) {
		loop_command *next = c->next;
		loop_tick_if_due();
		run_command(c);
		c = next;
	}
}

/* The end: no more commands; every handle closed, so uv_run returns once lws's are gone too. */
static void finish_shutdown(void)
{
	loop_lock();
	loop.accepting = false;
	loop_command *c = loop.cmd_head;
	loop.cmd_head = loop.cmd_tail = NULL;
	loop_unlock();
	while (c) { /* accepted before the end: tasks run (their args are theirs to free) */
		loop_command *next = c->next;
		if (c->kind == CMD_TASK)
			c->task(c->arg);
		else if (c->kind == CMD_FETCH)
			free_fetch(c->arg);
		free(c);
		c = next;
	}
	uv_close((uv_handle_t *)&m.wake, NULL);
	uv_close((uv_handle_t *)&m.drain_timer, NULL);
	uv_poll_stop(&m.tick_poll);
	uv_close((uv_handle_t *)&m.tick_poll, NULL);
	m.unsent = NULL; /* always empty between curl's callbacks; the transfers are freed below */
	while (m.fetches) { /* unfinished transfers are abandoned: the process ends */
		fetch *f = m.fetches;
		unlink_fetch(f);
		curl_multi_remove_handle(m.multi, f->easy);
		free_fetch(f);
	}
	curl_multi_cleanup(m.multi);
	m.multi = NULL;
	uv_timer_stop(&m.curl_timer);
	uv_close((uv_handle_t *)&m.curl_timer, NULL);
	http_stop();
}

static void lws_log(int level, const char *line)
{
	char msg[256];
	size_t n = strcspn(line, "\n");
	snprintf(msg, sizeof msg, "%.*s", (int)(n < sizeof msg ? n : sizeof msg - 1), line);
	sova_log(level == LLL_ERR ? "error" : "warn", "bot.lws", msg);
}

typedef struct start_state {
	const sova_loop_config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, ok;
	int port;
	char err[256];
} start_state;

static bool media_setup(start_state *st)
{
	if (uv_loop_init(&media.uv) != 0) {
		snprintf(st->err, sizeof st->err, "cannot make the event loop");
		return false;
	}
	m.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m.tick_fd < 0 || uv_async_init(&media.uv, &m.wake, on_wake) != 0) {
		snprintf(st->err, sizeof st->err, "cannot make the loop's wake-up or tick");
		if (m.tick_fd >= 0)
			close(m.tick_fd);
		m.tick_fd = -1;
		uv_loop_close(&media.uv);
		return false;
	}
	uv_timer_init(&media.uv, &m.curl_timer);
	uv_timer_init(&media.uv, &m.drain_timer);
	m.multi = curl_multi_init();
	bool ok = m.multi && uv_poll_init(&media.uv, &m.tick_poll, m.tick_fd) == 0;
	if (ok && uv_poll_start(&m.tick_poll, UV_READABLE, on_tick) != 0) {
		uv_close((uv_handle_t *)&m.tick_poll, NULL);
		ok = false;
	}
	if (!ok)
		snprintf(st->err, sizeof st->err, "cannot start the HTTP client or the tick");
	if (ok) {
		curl_multi_setopt(m.multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
		curl_multi_setopt(m.multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
		ok = http_start(st->cfg, &st->port, st->err, sizeof st->err);
		if (!ok) {
			uv_poll_stop(&m.tick_poll);
			uv_close((uv_handle_t *)&m.tick_poll, NULL);
		}
	}
	if (ok)
		return true;
	if (m.multi)
		curl_multi_cleanup(m.multi);
	m.multi = NULL;
	uv_close((uv_handle_t *)&m.wake, NULL);
	uv_close((uv_handle_t *)&m.curl_timer, NULL);
	uv_close((uv_handle_t *)&m.drain_timer, NULL);
	uv_run(&media.uv, UV_RUN_DEFAULT);
	uv_loop_close(&media.uv);
	close(m.tick_fd);
	m.tick_fd = -1;
	return false;
}

/* The media thread asks for short scheduler slices (Linux 6.12+ EEVDF custom slices, at the nice it
 * has: no privilege needed): a thread with the earlier virtual deadline may preempt on wake-up, so
 * its tick waits less behind the bot's Lua thread and other processes' longer slices (the run-queue
 * wait is most of the pacing's lateness on a busy 2-core machine: docs/benchmarks.md). Older
 * kernels refuse or ignore it; it is only latency. */
#define MEDIA_SLICE_NS 500000ULL
struct sched_attr_v1 { /* <linux/sched/types.h>'s struct sched_attr (it clashes with <sched.h>) */
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};
static void ask_short_slices(void)
{
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (nice == -1 && errno)
		return;
	struct sched_attr_v1 attr = {.size = sizeof attr, .sched_policy = 0 /* SCHED_OTHER */, .sched_nice = nice,
				  .sched_runtime = MEDIA_SLICE_NS};
	(void)syscall(SYS_sched_setattr, 0, &attr, 0);
}

static void *media_main(void *arg)
{
	start_state *st = arg;
	/* named for /proc/<pid>/task/<tid>/comm (bench/, top -H); a name is a convenience: failure ignored */
	(void)pthread_setname_np(pthread_self(), "sova-media");
	ask_short_slices();
	bool ok = media_setup(st);
	pthread_mutex_lock(&st->lock);
	st->ok = ok;
	st->done = true;
	if (ok) {
		loop_lock();
		loop.accepting = true;
		loop_unlock();
	}
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock); /* st is the starter's: not touched after this */
	if (!ok)
		return NULL;
	uv_run(&media.uv, UV_RUN_DEFAULT);
	if (uv_loop_close(&media.uv) != 0)
		sova_log("error", "bot.loop", "a handle was left open on the media loop");
	close(m.tick_fd);
	m.tick_fd = -1;
	return NULL;
}

bool sova_loop_start(const sova_loop_config *cfg, int *port, char *err, size_t errlen)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	media.reply_timeout_ms = cfg->reply_timeout_ms;
	start_state st = {.cfg = cfg};
	pthread_mutex_init(&st.lock, NULL);
	pthread_cond_init(&st.cond, NULL);
	bool ok = pthread_create(&media.thread, NULL, media_main, &st) == 0;
	if (!ok)
		snprintf(st.err, sizeof st.err, "cannot start the media thread");
	if (ok) {
		pthread_mutex_lock(&st.lock);
		while (!st.done)
			pthread_cond_wait(&st.cond, &st.lock);
		pthread_mutex_unlock(&st.lock);
		ok = st.ok;
		if (!ok)
			pthread_join(media.thread, NULL);
	}
	pthread_mutex_destroy(&st.lock);
	pthread_cond_destroy(&st.cond);
	if (!ok) {
		snprintf(err, errlen, "%s", st.err);
		return false;
	}
	*port = st.port;
	return true;
}

void sova_loop_shutdown(void)
{
	loop_command *c = new_command(CMD_STOP, 0, 0);
	loop_lock();
	bool running = loop.accepting;
	bool posted = running && c && post_locked(c);
	loop_unlock();
	if (!posted)
		free(c);
	if (running) {
		if (!posted) /* out of memory: nothing else can stop it */
			sova_log("error", "bot.loop", "cannot stop the media thread");
		else
			pthread_join(media.thread, NULL);
	}
	loop_lock();
	sova_loop_event *ev = loop.ev_head;
	loop.ev_head = loop.ev_tail = NULL;
	loop_unlock();
	while (ev) {
		sova_loop_event *next = ev->next;
		sova_loop_event_free(ev);
		ev = next;
	}
	if (loop.event_fd >= 0)
		close(loop.event_fd);
	loop.event_fd = -1;
	loop.ready = false;
	curl_global_cleanup();
}

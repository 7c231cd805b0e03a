/* The `loop` table of sova.core: the call runtime's event loop (`sova bot`).
 *
 * One thread runs Lua and every call; nothing blocks it. HTTP requests and WebSocket traffic
 * arrive from civetweb's threads as events in an inbox; outbound HTTP (LLM providers) runs on a
 * libcurl multi handle in the loop thread. loop.next_events(timeout) waits on both
 * (curl_multi_poll, woken by curl_multi_wakeup when another thread queues an event) and returns
 * what happened as plain tables, so the Lua scheduler resumes the coroutine of each call. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/client.h"
#include "http/server.h"
#include "lua/loop.h"
#include "lua/sova_lua.h"
#include "util/clock.h"
#include "util/log.h"

enum { EV_HTTP = 1, EV_WS_OPEN, EV_WS_MESSAGE, EV_WS_CLOSE };

typedef struct loop_event {
	struct loop_event *next;
	int kind;
	long long id;
	char *method, *path, *query, *remote;
	char *headers; /* "name\0value\0" pairs, names lowercased */
	size_t headers_len;
	char *body;
	size_t body_len;
} loop_event;

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

typedef struct ws_entry {
	struct ws_entry *next;
	sova_ws *ws;
	long long id;
	ws_out *head, *tail;
	size_t pending;
	bool stalled, closing;
	pthread_cond_t cond; /* with loop.lock: work for the sender */
	pthread_t sender;
} ws_entry;

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
	loop_event *head, *tail;
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

static void free_event(loop_event *ev)
{
	if (!ev)
		return;
	free(ev->method);
	free(ev->path);
	free(ev->query);
	free(ev->remote);
	free(ev->headers);
	free(ev->body);
	free(ev);
}

/* Queues ev (ownership moves to the loop) and wakes the loop thread. */
static void enqueue(loop_event *ev)
{
	pthread_mutex_lock(&loop.lock);
	if (loop.tail)
		loop.tail->next = ev;
	else
		loop.head = ev;
	loop.tail = ev;
	CURLM *m = loop.multi;
	pthread_mutex_unlock(&loop.lock);
	if (m)
		curl_multi_wakeup(m);
}

static long long new_id(void)
{
	pthread_mutex_lock(&loop.lock);
	long long id = ++loop.next_id;
	pthread_mutex_unlock(&loop.lock);
	return id;
}

/* ---- Called from civetweb threads (plain C; see lua/loop.h) ---- */

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
	loop_event *ev = calloc(1, sizeof *ev);
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
	ev->kind = EV_HTTP;
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
		free_event(ev);
		pthread_cond_destroy(&slot->cond);
		free(slot);
		return 500;
	}
	pthread_mutex_lock(&loop.lock);
	if (!loop.ready || loop.stopping) {
		pthread_mutex_unlock(&loop.lock);
		free_event(ev);
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

void sova_loop_ws_open(sova_ws *ws, const char *path, const char *query, const char *remote)
{
	ws_entry *e = calloc(1, sizeof *e);
	loop_event *ev = calloc(1, sizeof *ev);
	if (!e || !ev) {
		free(e);
		free(ev);
		sova_ws_close(ws);
		return;
	}
	e->ws = ws;
	e->id = sova_ws_id(ws);
	pthread_cond_init(&e->cond, NULL);
	if (pthread_create(&e->sender, NULL, ws_sender, e) != 0) {
		pthread_cond_destroy(&e->cond);
		free(e);
		free(ev);
		sova_ws_close(ws);
		return;
	}
	ev->kind = EV_WS_OPEN;
	ev->id = e->id;
	ev->path = dup_s(path);
	ev->query = dup_s(query);
	ev->remote = dup_s(remote);
	pthread_mutex_lock(&loop.lock);
	e->next = loop.sockets;
	loop.sockets = e;
	pthread_mutex_unlock(&loop.lock);
	enqueue(ev);
}

void sova_loop_ws_message(sova_ws *ws, const char *data, size_t len)
{
	loop_event *ev = calloc(1, sizeof *ev);
	if (!ev)
		return;
	ev->kind = EV_WS_MESSAGE;
	ev->id = sova_ws_id(ws);
	ev->body = dup_n(data, len);
	ev->body_len = len;
	if (!ev->body) {
		free(ev);
		return;
	}
	enqueue(ev);
}

void sova_loop_ws_close(sova_ws *ws)
{
	/* Unlinked first, so no send finds it; then its sender is stopped before civetweb frees ws. */
	ws_entry *dead = NULL;
	pthread_mutex_lock(&loop.lock);
	for (ws_entry **pp = &loop.sockets; *pp; pp = &(*pp)->next) {
		if ((*pp)->ws == ws) {
			dead = *pp;
			*pp = dead->next;
			dead->closing = true;
			pthread_cond_signal(&dead->cond);
			break;
		}
	}
	pthread_mutex_unlock(&loop.lock);
	if (dead) {
		pthread_join(dead->sender, NULL); /* a write in progress fails fast: the connection is closing */
		for (ws_out *o = dead->head; o;) {
			ws_out *next = o->next;
			free(o);
			o = next;
		}
		pthread_cond_destroy(&dead->cond);
		free(dead);
	}
	loop_event *ev = calloc(1, sizeof *ev);
	if (!ev)
		return;
	ev->kind = EV_WS_CLOSE;
	ev->id = sova_ws_id(ws);
	enqueue(ev);
}

/* ---- The Lua side (loop thread only) ---- */

static void require_ready(lua_State *L)
{
	if (!loop.ready)
		luaL_error(L, "the event loop runs only in `sova bot`");
}

/* loop.reply(id, status, body[, content_type]) -> true | false (the requester is gone) */
static int l_reply(lua_State *L)
{
	require_ready(L);
	long long id = (long long)luaL_checknumber(L, 1);
	int status = luaL_checkint(L, 2);
	size_t len;
	const char *body = luaL_checklstring(L, 3, &len);
	const char *ct = luaL_optstring(L, 4, "application/json");
	luaL_argcheck(L, status >= 100 && status <= 599, 2, "HTTP status expected");
	char *b = dup_n(body, len), *c = dup_s(ct);
	if (!b || !c) {
		free(b);
		free(c);
		return luaL_error(L, "out of memory");
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
	lua_pushboolean(L, delivered);
	return 1;
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

/* loop.ws_send(id, text) -> true | false (closed, or stalled: the reader fell too far behind) */
static int l_ws_send(lua_State *L)
{
	require_ready(L);
	long long id = (long long)luaL_checknumber(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	pthread_mutex_lock(&loop.lock);
	ws_entry *e = find_ws(id);
	bool ok = e && queue_frame(e, text, len, false);
	pthread_mutex_unlock(&loop.lock);
	lua_pushboolean(L, ok);
	return 1;
}

/* loop.ws_close(id): after the frames already queued */
static int l_ws_close(lua_State *L)
{
	require_ready(L);
	long long id = (long long)luaL_checknumber(L, 1);
	pthread_mutex_lock(&loop.lock);
	ws_entry *e = find_ws(id);
	if (e)
		queue_frame(e, NULL, 0, true);
	pthread_mutex_unlock(&loop.lock);
	return 0;
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

/* loop.fetch{method=, url=, headers={k=v}, body=, timeout_ms=} -> id: the answer comes back from
 * next_events as {kind="fetch", id=, status=, body=} or {kind="fetch", id=, error=}. */
static int l_fetch(lua_State *L)
{
	require_ready(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "url");
	const char *url = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "method");
	const char *method = luaL_optstring(L, -1, "GET");
	size_t mlen = strlen(method);
	luaL_argcheck(L, mlen > 0 && mlen <= 16 && strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == mlen, 1,
		      "method must be an HTTP method token");
	lua_getfield(L, 1, "body");
	size_t blen = 0;
	const char *body = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &blen);
	lua_getfield(L, 1, "timeout_ms");
	long timeout = (long)luaL_optnumber(L, -1, 30000);
	lua_getfield(L, 1, "headers");
	int htab = lua_gettop(L);
	if (!lua_isnil(L, htab)) {
		luaL_checktype(L, htab, LUA_TTABLE);
		lua_pushnil(L);
		while (lua_next(L, htab)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
			    strpbrk(lua_tostring(L, -2), "\r\n:") || strpbrk(lua_tostring(L, -1), "\r\n"))
				return luaL_error(L, "headers must map names to values without CR, LF or ':'");
			lua_pop(L, 1);
		}
	}
	/* every check is done: from here failures are returned, not raised */
	fetch *f = calloc(1, sizeof *f);
	if (!f || !(f->easy = curl_easy_init())) {
		free(f);
		lua_pushnil(L);
		lua_pushliteral(L, "out of memory");
		return 2;
	}
	f->id = new_id();
	bool ok = true;
	if (!lua_isnil(L, htab)) {
		lua_pushnil(L);
		while (ok && lua_next(L, htab)) {
			char line[8192];
			snprintf(line, sizeof line, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
			struct curl_slist *n = curl_slist_append(f->headers, line);
			ok = n != NULL;
			if (n)
				f->headers = n;
			lua_pop(L, 1);
		}
		if (!ok)
			lua_pop(L, 1);
	}
	struct curl_slist *n = ok ? curl_slist_append(f->headers, "Expect:") : NULL;
	if (n)
		f->headers = n;
	if (!n || (body && !(f->req_body = dup_n(body, blen)))) {
		free_fetch(f);
		lua_pushnil(L);
		lua_pushliteral(L, "out of memory");
		return 2;
	}
	CURL *c = f->easy;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_PRIVATE, f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->req_body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->req_body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	}
	if (curl_multi_add_handle(loop.multi, c) != CURLM_OK) {
		free_fetch(f);
		lua_pushnil(L);
		lua_pushliteral(L, "cannot start the request");
		return 2;
	}
	loop.running_fetches++;
	lua_pushnumber(L, (lua_Number)f->id);
	return 1;
}

static void push_headers_table(lua_State *L, const char *h, size_t len)
{
	lua_newtable(L);
	const char *p = h, *end = h + len;
	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (v >= end)
			break;
		lua_pushstring(L, v);
		lua_setfield(L, -2, p);
		p = v + strlen(v) + 1;
	}
}

static void push_event(lua_State *L, const loop_event *ev)
{
	static const char *const KINDS[] = {NULL, "http", "ws_open", "ws_message", "ws_close"};
	lua_createtable(L, 0, 8);
	lua_pushstring(L, KINDS[ev->kind]);
	lua_setfield(L, -2, "kind");
	lua_pushnumber(L, (lua_Number)ev->id);
	lua_setfield(L, -2, "id");
	if (ev->method) {
		lua_pushstring(L, ev->method);
		lua_setfield(L, -2, "method");
	}
	if (ev->path) {
		lua_pushstring(L, ev->path);
		lua_setfield(L, -2, "path");
	}
	if (ev->query) {
		lua_pushstring(L, ev->query);
		lua_setfield(L, -2, "query");
	}
	if (ev->remote) {
		lua_pushstring(L, ev->remote);
		lua_setfield(L, -2, "remote_addr");
	}
	if (ev->headers) {
		push_headers_table(L, ev->headers, ev->headers_len);
		lua_setfield(L, -2, "headers");
	}
	if (ev->body) {
		lua_pushlstring(L, ev->body, ev->body_len);
		lua_setfield(L, -2, ev->kind == EV_WS_MESSAGE ? "data" : "body");
	}
}

/* loop.next_events(timeout_ms) -> {events...}: waits at most timeout_ms for something to happen.
 * An event {kind="stop"} comes once the process is asked to stop. */
static int l_next_events(lua_State *L)
{
	require_ready(L);
	int timeout = luaL_optint(L, 1, 1000);
	luaL_argcheck(L, timeout >= 0 && timeout <= 60000, 1, "0..60000 ms");
	pthread_mutex_lock(&loop.lock);
	bool idle = !loop.head && !loop.stopping;
	pthread_mutex_unlock(&loop.lock);
	if (idle)
		curl_multi_poll(loop.multi, NULL, 0, timeout, NULL);
	int running = 0;
	curl_multi_perform(loop.multi, &running);

	lua_newtable(L);
	int n = 0;
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
		lua_createtable(L, 0, 4);
		lua_pushliteral(L, "fetch");
		lua_setfield(L, -2, "kind");
		lua_pushnumber(L, (lua_Number)f->id);
		lua_setfield(L, -2, "id");
		if (rc == CURLE_OK) {
			long status = 0;
			curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
			lua_pushnumber(L, status);
			lua_setfield(L, -2, "status");
			lua_pushlstring(L, f->body.data ? f->body.data : "", f->body.len);
			lua_setfield(L, -2, "body");
		} else {
			lua_pushstring(L, f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
			lua_setfield(L, -2, "error");
		}
		free_fetch(f);
		lua_rawseti(L, -2, ++n);
	}

	pthread_mutex_lock(&loop.lock);
	loop_event *ev = loop.head;
	loop.head = loop.tail = NULL;
	bool stopping = loop.stopping;
	pthread_mutex_unlock(&loop.lock);
	/* each event is freed once it is a Lua table */
	while (ev) {
		loop_event *next = ev->next;
		push_event(L, ev);
		lua_rawseti(L, -2, ++n);
		free_event(ev);
		ev = next;
	}
	if (stopping) {
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "stop");
		lua_setfield(L, -2, "kind");
		lua_rawseti(L, -2, ++n);
	}
	return 1;
}

/* loop.pending() -> outstanding fetches */
static int l_pending(lua_State *L)
{
	lua_pushinteger(L, loop.running_fetches);
	return 1;
}

int sova_open_loop(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"next_events", l_next_events}, {"reply", l_reply},   {"ws_send", l_ws_send},
		{"ws_close", l_ws_close},       {"fetch", l_fetch},   {"pending", l_pending},
		{NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

/* Server B of the WebSocket audio I/O benchmark (bench/ws_io.sh): libwebsockets on ONE thread
 * serving every call's socket. Each call's inbound frames go into its ring; a timerfd ticks every
 * 20 ms / slots and, for the calls of that slot, asks for a writable callback; the writable
 * callback sends one frame (lws_callback_on_writable is the flow control: a socket that cannot take
 * a frame gets no callback, and its ring drops its oldest frame instead of growing).
 *
 *   --loop uv    lws on a libuv loop we own (epoll), with curl's multi-socket API on the same loop
 *   --loop poll  lws's own loop (poll(2)); pacing by lws_sul timers (no curl)
 *   --write direct  the tick writes a frame itself when lws_partial_buffered says lws holds nothing
 *                   of that socket unsent, and asks for a writable callback only when it does (the
 *                   default asks for one every frame: two poll changes per frame on libuv)
 *
 * In uv mode it can also prove that provider connections belong on this loop:
 *   --curl-url URL --curl-every-ms MS   a GET through curl_multi_socket_action every MS
 *   --wss-url wss://localhost:PORT/ --wss-ca CERT   one lws client over TLS, one echoed message
 * Results go to stdout as "curl: ..." and "wss: ..." lines when it stops (SIGTERM/SIGINT).
 * Bench code only: never linked into `sova`. */
#include <curl/curl.h>
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

#include "bench_audio.h"

#define MAX_SLOTS 20
#define MAX_CURL_SAMPLES 4096

/* One call's socket state; lives in lws's per-session data (lws allocates and frees it). */
typedef struct call_conn {
	struct call_conn *prev, *next; /* in its pacing slot's list */
	struct lws *wsi;
	int slot;
	bool started;     /* pre-roll reached: paced out from now on */
	int due;          /* ticks owed a frame (more than 1 only if ticks were missed) */
	int head, count;  /* ring of inbound frames */
	size_t partial;   /* bytes of the frame being received */
	unsigned char ring[AUDIO_RING_FRAMES][LWS_PRE + AUDIO_FRAME_BYTES];
	unsigned char rx[AUDIO_FRAME_BYTES];
} call_conn;

static struct {
	bool use_uv;
	bool direct_write; /* --write direct: the tick writes itself when lws holds nothing unsent */
	int slots;
	int64_t tick_us; /* AUDIO_FRAME_US / slots */
	struct lws_context *ctx;
	call_conn *slot_head[MAX_SLOTS];
	int slot_size[MAX_SLOTS];
	long long tick;
	int64_t next_tick_us; /* the next tick's deadline (CLOCK_MONOTONIC), stamped into its frames */
	lws_sorted_usec_list_t sul;
	unsigned long long frames_out, underruns, overflows, missed_ticks, bad_frames;
	pthread_t loop_thread;
	/* uv mode */
	uv_loop_t uv;
	uv_poll_t tick_poll;
	int tick_fd;
	uv_signal_t sigterm, sigint;
	bool stopping;
} srv;

/* ---- Pacing ---- */

static void slot_link(call_conn *c)
{
	int best = 0;
	for (int s = 1; s < srv.slots; s++)
		if (srv.slot_size[s] < srv.slot_size[best])
			best = s;
	c->slot = best;
	c->prev = NULL;
	c->next = srv.slot_head[best];
	if (c->next)
		c->next->prev = c;
	srv.slot_head[best] = c;
	srv.slot_size[best]++;
}

static void slot_unlink(call_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv.slot_head[c->slot] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv.slot_size[c->slot]--;
}

/* One tick: every call of this slot that has started owes its socket a frame. */
static void run_tick(void)
{
	int slot = (int)(srv.tick++ % srv.slots);
	int64_t due_us = srv.next_tick_us;
	srv.next_tick_us += srv.tick_us;
	for (call_conn *c = srv.slot_head[slot]; c; c = c->next) {
		if (!c->started && c->count >= AUDIO_PREROLL_FRAMES)
			c->started = true;
		if (!c->started)
			continue;
		if (c->count > c->due) {
			bench_frame_set_due(c->ring[(c->head + c->due) % AUDIO_RING_FRAMES] + LWS_PRE, due_us);
			if (srv.direct_write && !c->due && !lws_partial_buffered(c->wsi)) {
				/* nothing of this socket is waiting in lws: write now, no poll change */
				if (lws_write(c->wsi, c->ring[c->head] + LWS_PRE, AUDIO_FRAME_BYTES, LWS_WRITE_BINARY) <
				    AUDIO_FRAME_BYTES) {
					lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_TO_KILL_ASYNC);
					continue;
				}
				c->head = (c->head + 1) % AUDIO_RING_FRAMES;
				c->count--;
				srv.frames_out++;
				continue;
			}
			c->due++;
			lws_callback_on_writable(c->wsi);
		} else {
			srv.underruns++;
		}
	}
}

static void on_tick_fd(uv_poll_t *h, int status, int events)
{
	uint64_t expirations = 0;
	if (read(srv.tick_fd, &expirations, sizeof expirations) != sizeof expirations)
		return;
	if (expirations > 1)
		srv.missed_ticks += expirations - 1;
	for (uint64_t i = 0; i < expirations; i++)
		run_tick();
}

/* poll mode: lws_sul takes a relative delay, so each tick aims at the next absolute deadline. */
static void on_tick_sul(lws_sorted_usec_list_t *sul)
{
	int64_t now = bench_now_us();
	while (srv.next_tick_us <= now)
		run_tick();
	lws_sul_schedule(srv.ctx, 0, &srv.sul, on_tick_sul, srv.next_tick_us - now);
}

/* ---- The audio protocol ---- */

static int cb_audio(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	call_conn *c = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof *c);
		c->wsi = wsi;
		slot_link(c);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (!lws_frame_is_binary(wsi))
			break;
		if (c->partial + len > AUDIO_FRAME_BYTES) {
			srv.bad_frames++;
			return -1; /* not this benchmark's audio: close that call alone */
		}
		memcpy(c->rx + c->partial, in, len);
		c->partial += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			break;
		if (c->partial != AUDIO_FRAME_BYTES) {
			srv.bad_frames++;
			return -1;
		}
		c->partial = 0;
		if (c->count == AUDIO_RING_FRAMES) { /* the reader fell behind: drop the oldest */
			c->head = (c->head + 1) % AUDIO_RING_FRAMES;
			c->count--;
			if (c->due) /* the dropped frame was owed a tick: that tick's frame is lost, not unstamped */
				c->due--;
			srv.overflows++;
		}
		memcpy(c->ring[(c->head + c->count) % AUDIO_RING_FRAMES] + LWS_PRE, c->rx, AUDIO_FRAME_BYTES);
		c->count++;
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c->due || !c->count)
			break;
		if (lws_write(wsi, c->ring[c->head] + LWS_PRE, AUDIO_FRAME_BYTES, LWS_WRITE_BINARY) < AUDIO_FRAME_BYTES)
			return -1;
		c->head = (c->head + 1) % AUDIO_RING_FRAMES;
		c->count--;
		c->due--;
		srv.frames_out++;
		if (c->due)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLOSED:
		slot_unlink(c);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- curl's multi-socket API on the uv loop (provider HTTP requests) ---- */

typedef struct curl_watch {
	uv_poll_t poll;
	curl_socket_t fd;
} curl_watch;

static struct {
	const char *url;
	int every_ms;
	CURLM *multi;
	uv_timer_t timeout, every;
	int running;
	long long started, ok, failed, off_loop;
	double ms[MAX_CURL_SAMPLES];
	int samples;
} cu;

typedef struct curl_req {
	CURL *easy;
	int64_t start_us;
	size_t bytes;
} curl_req;

static size_t curl_body(char *p, size_t size, size_t n, void *ud)
{
	curl_req *r = ud;
	if (!pthread_equal(pthread_self(), srv.loop_thread))
		cu.off_loop++;
	r->bytes += size * n;
	return size * n;
}

static void curl_check_done(void)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(cu.multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		long status = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (m->data.result == CURLE_OK && status == 200 && r->bytes > 0) {
			cu.ok++;
			if (cu.samples < MAX_CURL_SAMPLES)
				cu.ms[cu.samples++] = (double)(bench_now_us() - r->start_us) / 1000.0;
		} else {
			cu.failed++;
			fprintf(stderr, "curl: %s (HTTP %ld)\n", curl_easy_strerror(m->data.result), status);
		}
		curl_multi_remove_handle(cu.multi, m->easy_handle);
		curl_easy_cleanup(m->easy_handle);
		free(r);
	}
}

static void on_curl_socket_ready(uv_poll_t *h, int status, int events)
{
	curl_watch *w = h->data;
	int flags = status < 0 ? CURL_CSELECT_ERR : 0;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cu.multi, w->fd, flags, &cu.running);
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
			curl_multi_assign(cu.multi, s, NULL);
		}
		return 0;
	}
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w || uv_poll_init_socket(&srv.uv, &w->poll, s) != 0) {
			free(w);
			return -1;
		}
		w->fd = s;
		w->poll.data = w;
		curl_multi_assign(cu.multi, s, w);
	}
	int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	return uv_poll_start(&w->poll, events, on_curl_socket_ready) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *t)
{
	curl_multi_socket_action(cu.multi, CURL_SOCKET_TIMEOUT, 0, &cu.running);
	curl_check_done();
}

/* CURLMOPT_TIMERFUNCTION: curl's one timeout, as a uv timer. */
static int curl_timer_cb(CURLM *m, long timeout_ms, void *ud)
{
	if (timeout_ms < 0)
		uv_timer_stop(&cu.timeout);
	else
		uv_timer_start(&cu.timeout, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static void curl_start_one(uv_timer_t *t)
{
	curl_req *r = calloc(1, sizeof *r);
	if (!r || !(r->easy = curl_easy_init())) {
		free(r);
		cu.failed++;
		return;
	}
	r->start_us = bench_now_us();
	curl_easy_setopt(r->easy, CURLOPT_URL, cu.url);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, curl_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(cu.multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		free(r);
		cu.failed++;
		return;
	}
	cu.started++;
}

static bool curl_setup(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(cu.multi = curl_multi_init()))
		return false;
	curl_multi_setopt(cu.multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(cu.multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	uv_timer_init(&srv.uv, &cu.timeout);
	uv_timer_init(&srv.uv, &cu.every);
	return uv_timer_start(&cu.every, curl_start_one, 0, (uint64_t)cu.every_ms) == 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void curl_report(void)
{
	qsort(cu.ms, (size_t)cu.samples, sizeof cu.ms[0], cmp_double);
	printf("curl: %lld started, %lld ok, %lld failed, latency p50 %.2f ms max %.2f ms, "
	       "callbacks off the loop thread %lld\n",
	       cu.started, cu.ok, cu.failed, cu.samples ? cu.ms[cu.samples / 2] : 0.0,
	       cu.samples ? cu.ms[cu.samples - 1] : 0.0, cu.off_loop);
}

/* ---- One provider-style wss:// client on the same loop ---- */

#define WSS_HELLO "{\"type\":\"KeepAlive\"}"

static struct {
	const char *url, *ca;
	char result[256];
	int64_t start_us;
} wss = {.result = "not run"};

static int cb_provider(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	static unsigned char out[LWS_PRE + sizeof WSS_HELLO];
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(wss.result, sizeof wss.result, "FAILED: %.*s", in ? (int)len : 7, in ? (const char *)in : "unknown");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		memcpy(out + LWS_PRE, WSS_HELLO, sizeof WSS_HELLO - 1);
		if (lws_write(wsi, out + LWS_PRE, sizeof WSS_HELLO - 1, LWS_WRITE_TEXT) < (int)sizeof WSS_HELLO - 1)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		bool same = len == sizeof WSS_HELLO - 1 && memcmp(in, WSS_HELLO, len) == 0;
		SSL *ssl = lws_get_ssl(wsi);
		bool verified = ssl && SSL_get_verify_result(ssl) == X509_V_OK;
		snprintf(wss.result, sizeof wss.result, "%s: echo %s in %.1f ms over %s, %s, certificate %s%s",
			 wss.url, same ? "matches" : "DIFFERS", (double)(bench_now_us() - wss.start_us) / 1000.0,
			 ssl ? SSL_get_version(ssl) : "no TLS", ssl ? SSL_get_cipher_name(ssl) : "-",
			 verified ? "verified against --wss-ca" : "NOT verified",
			 pthread_equal(pthread_self(), srv.loop_thread) ? ", on the loop thread" : ", OFF the loop thread");
		return -1; /* done: close it */
	}
	default:
		break;
	}
	return 0;
}

static void wss_connect(void)
{
	static char url[256];
	snprintf(url, sizeof url, "%s", wss.url);
	const char *proto = NULL, *path = NULL;
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	if (lws_parse_uri(url, &proto, &ci.address, &ci.port, &path) || strcmp(proto, "wss") != 0) {
		snprintf(wss.result, sizeof wss.result, "FAILED: not a wss:// URL");
		return;
	}
	static char full_path[256];
	snprintf(full_path, sizeof full_path, "/%s", path);
	ci.context = srv.ctx;
	ci.path = full_path;
	ci.host = ci.address;
	ci.origin = ci.address;
	ci.ssl_connection = LCCSCF_USE_SSL; /* the certificate is checked against --wss-ca, hostname too */
	ci.protocol = NULL;
	ci.local_protocol_name = "provider";
	wss.start_us = bench_now_us();
	if (!lws_client_connect_via_info(&ci))
		snprintf(wss.result, sizeof wss.result, "FAILED: cannot start the connection");
}

/* ---- Start and stop ---- */

static const struct lws_protocols protocols[] = {
	{"audio", cb_audio, sizeof(call_conn), 1024, 0, NULL, 0},
	{"provider", cb_provider, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void report(void)
{
	printf("server: lws %s, loop %s, write %s, slots %d, frames out %llu, underruns %llu, ring overflows %llu, "
	       "missed ticks %llu, bad frames %llu\n",
	       lws_get_library_version(), srv.use_uv ? "uv" : "poll", srv.direct_write ? "direct" : "writable", srv.slots, srv.frames_out, srv.underruns,
	       srv.overflows, srv.missed_ticks, srv.bad_frames);
	if (cu.url)
		curl_report();
	if (wss.url)
		printf("wss: %s\n", wss.result);
	fflush(stdout);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
	if (srv.stopping)
		return;
	srv.stopping = true;
	report();
	uv_poll_stop(&srv.tick_poll);
	uv_signal_stop(&srv.sigterm);
	uv_signal_stop(&srv.sigint);
	uv_stop(&srv.uv);
}

static volatile sig_atomic_t poll_stop;
static void on_poll_signal(int sig) { poll_stop = 1; }

static int usage(void)
{
	fprintf(stderr, "usage: bench_ws_lws --port P [--loop uv|poll] [--write writable|direct] [--slots S] [--curl-url URL --curl-every-ms MS]"
			" [--wss-url URL --wss-ca FILE]\n");
	return 64;
}

int main(int argc, char **argv)
{
	int port = 0;
	srv.use_uv = true;
	srv.slots = 1;
	cu.every_ms = 1000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--loop"))
			srv.use_uv = strcmp(v, "poll") != 0;
		else if (!strcmp(a, "--write"))
			srv.direct_write = !strcmp(v, "direct");
		else if (!strcmp(a, "--slots"))
			srv.slots = atoi(v);
		else if (!strcmp(a, "--curl-url"))
			cu.url = v;
		else if (!strcmp(a, "--curl-every-ms"))
			cu.every_ms = atoi(v);
		else if (!strcmp(a, "--wss-url"))
			wss.url = v;
		else if (!strcmp(a, "--wss-ca"))
			wss.ca = v;
		else
			return usage();
		i++;
	}
	if (port <= 0 || srv.slots < 1 || srv.slots > MAX_SLOTS || AUDIO_FRAME_US % srv.slots || cu.every_ms < 1 ||
	    (!srv.use_uv && (cu.url || wss.url)))
		return usage();
	srv.tick_us = AUDIO_FRAME_US / srv.slots;
	srv.loop_thread = pthread_self();
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_IPV6;
	info.client_ssl_ca_filepath = wss.ca;
	info.fd_limit_per_thread = 1 + 65536;
	void *foreign[1] = {&srv.uv};
	if (srv.use_uv) {
		if (uv_loop_init(&srv.uv) != 0)
			return 1;
		info.options |= LWS_SERVER_OPTION_LIBUV;
		info.foreign_loops = foreign;
	}
	srv.ctx = lws_create_context(&info);
	if (!srv.ctx) {
		fprintf(stderr, "bench_ws_lws: cannot create the lws context\n");
		return 1;
	}

	if (!srv.use_uv) {
		signal(SIGTERM, on_poll_signal);
		signal(SIGINT, on_poll_signal);
		srv.next_tick_us = bench_now_us() + srv.tick_us;
		lws_sul_schedule(srv.ctx, 0, &srv.sul, on_tick_sul, srv.tick_us);
		printf("ready\n");
		fflush(stdout);
		while (!poll_stop && lws_service(srv.ctx, 0) >= 0)
			;
		report();
		lws_context_destroy(srv.ctx);
		return 0;
	}

	/* One absolute-interval timerfd: the kernel keeps the 20 ms grid, so ticks never drift. */
	srv.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	srv.next_tick_us = bench_now_us() + srv.tick_us;
	struct itimerspec its = {.it_interval = {0, srv.tick_us * 1000},
				 .it_value = {srv.next_tick_us / 1000000, srv.next_tick_us % 1000000 * 1000}};
	if (srv.tick_fd < 0 || timerfd_settime(srv.tick_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0 ||
	    uv_poll_init(&srv.uv, &srv.tick_poll, srv.tick_fd) != 0 ||
	    uv_poll_start(&srv.tick_poll, UV_READABLE, on_tick_fd) != 0) {
		fprintf(stderr, "bench_ws_lws: cannot start the pacing timer: %s\n", strerror(errno));
		return 1;
	}
	uv_signal_init(&srv.uv, &srv.sigterm);
	uv_signal_init(&srv.uv, &srv.sigint);
	uv_signal_start(&srv.sigterm, on_stop_signal, SIGTERM);
	uv_signal_start(&srv.sigint, on_stop_signal, SIGINT);
	if (cu.url && !curl_setup()) {
		fprintf(stderr, "bench_ws_lws: cannot start curl multi\n");
		return 1;
	}
	if (wss.url)
		wss_connect();
	printf("ready\n");
	fflush(stdout);
	uv_run(&srv.uv, UV_RUN_DEFAULT);

	/* Teardown: our handles closed first, then lws closes its own on our loop, and the loop runs
	 * until they are all gone. */
	uv_close((uv_handle_t *)&srv.tick_poll, NULL);
	uv_close((uv_handle_t *)&srv.sigterm, NULL);
	uv_close((uv_handle_t *)&srv.sigint, NULL);
	if (cu.multi) {
		curl_multi_cleanup(cu.multi); /* unfinished requests are abandoned: the process ends */
		curl_global_cleanup();
		uv_close((uv_handle_t *)&cu.timeout, NULL);
		uv_close((uv_handle_t *)&cu.every, NULL);
	}
	lws_context_destroy(srv.ctx);
	uv_run(&srv.uv, UV_RUN_DEFAULT);
	uv_loop_close(&srv.uv);
	close(srv.tick_fd);
	return 0;
}

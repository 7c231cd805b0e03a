/* The load generator of the WebSocket audio I/O benchmark (bench/ws_io.sh). One process, one
 * thread, epoll, non-blocking sockets; the WebSocket client handshake and framing are written
 * here (a fixed key, masked 640-byte binary frames out, unmasked frames in) so the measuring side
 * is the same small code against every server and shares no library with the servers it measures.
 *
 * It opens N sockets, and each sends one frame every 20 ms at real-time pace (calls spread evenly
 * over the 20 ms by a 1 ms timerfd). The server echoes each call's frames, paced at 20 ms, and
 * stamps into each frame the deadline its pacing gave it; a frame's lateness is its arrival here
 * minus that deadline (one machine, one CLOCK_MONOTONIC), so it measures the server's outbound
 * pacing and delivery, not the client's own send jitter. Lost frames are gaps in the echoed
 * sequence numbers. At the start and
 * end of the window it reads the server's /proc/PID/stat (user+sys) and /proc/PID/status (RSS,
 * threads). Prints one line of key=value figures. Bench code only: never linked into `sova`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_audio.h"
#include "bench_client.h"

#define SEND_SLOTS 20 /* 1 ms apart */
#define RX_BUF 8192
/* later than one frame period after its deadline: a one-frame playout buffer would have run dry */
#define LATE_US AUDIO_FRAME_US

enum conn_state { CONNECTING, HANDSHAKE, OPEN, CLOSED };

/* One call's socket and what was measured on it. */
typedef struct call {
	bench_sock sock;
	enum conn_state state;
	uint32_t next_seq, expect_seq;
	uint32_t received;              /* frames received since the socket opened */
	size_t rx_len;
	unsigned char rx[RX_BUF];
} call;

static struct {
	int epfd, n;
	call *calls;
	bool measuring, sending;
	unsigned long long sent, received, lost, send_dropped, rx_window;
	int64_t *rtt, *late; /* window round trips and lateness, µs (owned) */
	size_t n_rtt, cap_rtt, n_late, cap_late;
} g;

static const char HANDSHAKE_FMT[] = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
				    "Sec-WebSocket-Protocol: audio\r\n\r\n";

static bool push_i64(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		int64_t *na = realloc(*arr, nc * sizeof *na);
		if (!na)
			return false;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
	return true;
}

static void close_call(call *c)
{
	if (c->state == CLOSED)
		return;
	bench_sock_close(&c->sock);
	c->state = CLOSED;
}

static void send_frame(call *c, int64_t now)
{
	unsigned char *f = bench_sock_reserve(&c->sock, 8 + AUDIO_FRAME_BYTES);
	unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	if (!f) {
		g.send_dropped++;
		return;
	}
	f[0] = 0x82; /* FIN, binary */
	f[1] = 0x80 | 126;
	f[2] = AUDIO_FRAME_BYTES >> 8;
	f[3] = AUDIO_FRAME_BYTES & 0xff;
	memcpy(f + 4, mask, 4);
	unsigned char *payload = f + 8;
	memset(payload, 0, AUDIO_FRAME_BYTES);
	bench_frame_stamp(payload, c->next_seq++, now);
	for (int i = 0; i < AUDIO_FRAME_BYTES; i++)
		payload[i] ^= mask[i & 3];
	g.sent++;
	if (!bench_sock_flush(&c->sock))
		close_call(c);
}

static void on_frame(call *c, const unsigned char *p, size_t len, int64_t now)
{
	if (len != AUDIO_FRAME_BYTES)
		return;
	uint32_t seq;
	int64_t sent_us;
	bench_frame_read(p, &seq, &sent_us);
	if (seq > c->expect_seq)
		g.lost += seq - c->expect_seq;
	c->expect_seq = seq + 1;
	c->received++;
	g.received++;
	if (!g.measuring)
		return;
	g.rx_window++;
	push_i64(&g.late, &g.n_late, &g.cap_late, now - bench_frame_due(p));
	push_i64(&g.rtt, &g.n_rtt, &g.cap_rtt, now - sent_us);
}

/* Parses the server's frames out of rx; false on a protocol error or a close frame. */
static bool parse_frames(call *c, int64_t now)
{
	size_t off = 0;
	for (;;) {
		unsigned char *h = c->rx + off;
		int opcode, got;
		size_t hl, len;
		if ((got = bench_ws_frame(h, c->rx_len - off, RX_BUF, &opcode, &hl, &len)) <= 0) {
			if (got < 0)
				return false;
			break;
		}
		if (opcode == 0x8)
			return false;
		if (opcode == 0x2)
			on_frame(c, h + hl, len, now);
		off += hl + len;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
	return true;
}

static void on_readable(call *c, int64_t now)
{
	for (;;) {
		ssize_t r = recv(c->sock.fd, c->rx + c->rx_len, RX_BUF - c->rx_len, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			close_call(c);
			return;
		}
		if (r < 0)
			return;
		c->rx_len += (size_t)r;
		bool drained = (size_t)r < RX_BUF - c->rx_len + (size_t)r; /* short read: nothing more queued now */
		if (c->state == HANDSHAKE) {
			unsigned char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
			if (!end)
				continue;
			if (c->rx_len < 12 || memcmp(c->rx, "HTTP/1.1 101", 12) != 0) {
				close_call(c);
				return;
			}
			size_t hl = (size_t)(end - c->rx) + 4;
			memmove(c->rx, c->rx + hl, c->rx_len - hl);
			c->rx_len -= hl;
			c->state = OPEN;
		}
		if (!parse_frames(c, now)) {
			close_call(c);
			return;
		}
		if (drained)
			return; /* epoll is level-triggered: it says when more comes, without an EAGAIN recv */
	}
}

/* ---- The server's process figures, from /proc ---- */

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* ---- Results ---- */

static double pct_ms(const int64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1000.0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_ws_load --port P --conns N --seconds S [--warmup W] [--pid SERVER_PID]"
			" [--path /audio]\n");
	return 64;
}

int main(int argc, char **argv)
{
	int port = 0, n = 0, seconds = 10, warmup = 3, pid = 0;
	const char *path = "/audio";
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--conns"))
			n = atoi(v);
		else if (!strcmp(a, "--seconds"))
			seconds = atoi(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atoi(v);
		else if (!strcmp(a, "--pid"))
			pid = atoi(v);
		else if (!strcmp(a, "--path"))
			path = v;
		else
			return usage();
	}
	if (argc % 2 == 0 || port <= 0 || n <= 0 || seconds <= 0 || warmup < 0)
		return usage();
	bench_proc idle = {0}, at_start = {0}, at_end = {0};
	if (pid && !bench_read_proc(pid, &idle)) {
		fprintf(stderr, "bench_ws_load: cannot read /proc/%d\n", pid);
		return 1;
	}
	g.n = n;
	g.calls = calloc((size_t)n, sizeof *g.calls);
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
	if (!g.calls || g.epfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0) {
		fprintf(stderr, "bench_ws_load: %s\n", strerror(errno));
		return 1;
	}
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(g.epfd, EPOLL_CTL_ADD, tfd, &tev);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	char handshake[512];
	int hs_len = snprintf(handshake, sizeof handshake, HANDSHAKE_FMT, path, "127.0.0.1", port);

	/* Phases: ramp up (50 connects a ms), warm up, measure, then a short drain. */
	int started = 0, failed_connect = 0;
	int64_t t0 = bench_now_us(), window_start = 0, window_end = 0, drain_end = 0;
	long long tick = 0;
	double client_cpu_start = 0, client_cpu_end = 0; /* this process's user+sys at the window's ends */
	struct epoll_event evs[512];
	for (;;) {
		int ne = epoll_wait(g.epfd, evs, 512, 50);
		int64_t now = bench_now_us();
		for (int i = 0; i < ne; i++) {
			call *c = evs[i].data.ptr;
			if (!c) { /* the 1 ms tick: the calls of this slot send a frame */
				uint64_t exp;
				if (read(tfd, &exp, sizeof exp) != sizeof exp)
					continue;
				for (uint64_t e = 0; e < exp; e++, tick++) {
					if (!g.sending)
						continue;
					for (int k = (int)(tick % SEND_SLOTS); k < n; k += SEND_SLOTS)
						if (g.calls[k].state == OPEN)
							send_frame(&g.calls[k], now);
				}
				continue;
			}
			if (c->state == CLOSED)
				continue;
			if (c->state == CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				if (!bench_sock_connected(&c->sock)) {
					close_call(c);
					failed_connect++;
					continue;
				}
				c->state = HANDSHAKE;
				unsigned char *at = bench_sock_reserve(&c->sock, (size_t)hs_len);
				if (!at) {
					close_call(c);
					continue;
				}
				memcpy(at, handshake, (size_t)hs_len);
				if (!bench_sock_flush(&c->sock)) {
					close_call(c);
					continue;
				}
				if (c->sock.tx_len == 0)
					bench_sock_watch(&c->sock, false);
				continue;
			}
			if (evs[i].events & EPOLLOUT && !bench_sock_flush(&c->sock)) {
				close_call(c);
				continue;
			}
			/* the clock read again per socket: a batch can take long on a starved machine */
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c, bench_now_us());
		}
		while (started < n && started < (now - t0) / 1000 * 50 + 50) {
			call *c = &g.calls[started++];
			if (bench_sock_connect(&c->sock, g.epfd, c, &to)) {
				c->state = CONNECTING;
			} else {
				bench_sock_close(&c->sock);
				c->state = CLOSED;
				failed_connect++;
			}
		}
		if (started == n && !window_start) {
			g.sending = true;
			window_start = now + (int64_t)warmup * 1000000;
		}
		if (window_start && !g.measuring && !window_end && now >= window_start) {
			g.measuring = true;
			window_end = now + (int64_t)seconds * 1000000;
			client_cpu_start = self_cpu_s();
			if (pid && !bench_read_proc(pid, &at_start))
				break;
		}
		if (g.measuring && now >= window_end) {
			g.measuring = false;
			window_end = now; /* the window as it was, if this loop was held up */
			g.sending = false;
			client_cpu_end = self_cpu_s();
			if (pid)
				bench_read_proc(pid, &at_end);
			drain_end = now + 300000;
		}
		if (drain_end && now >= drain_end)
			break;
	}
	double window_s = (double)(window_end - window_start) / 1e6;

	int open = 0;
	for (int i = 0; i < n; i++)
		if (g.calls[i].state == OPEN)
			open++;
	unsigned long long late_frames = 0;
	for (size_t i = 0; i < g.n_late; i++)
		if (g.late[i] > LATE_US)
			late_frames++;
	int64_t *late = g.late;
	size_t m = g.n_late;
	qsort(late, m, sizeof *late, bench_cmp_i64);
	qsort(g.rtt, g.n_rtt, sizeof *g.rtt, bench_cmp_i64);
	/* frames every open call should have got in the window: 50 a second each */
	double expected = (double)open * window_s * 1e6 / AUDIO_FRAME_US;
	double client_cpu = (client_cpu_end - client_cpu_start) / window_s;
	printf("conns=%d open=%d failed_connect=%d window_s=%.1f", n, open, failed_connect, window_s);
	if (pid) {
		double user = (at_end.user_s - at_start.user_s) / window_s, sys = (at_end.sys_s - at_start.sys_s) / window_s;
		printf(" server_cpu=%.3f server_user=%.3f server_sys=%.3f server_rss_mib=%.1f rss_per_conn_kib=%.1f server_threads=%ld", user + sys, user, sys,
		       (double)at_end.rss_kib / 1024.0, (double)(at_end.rss_kib - idle.rss_kib) / n, at_end.threads);
	}
	printf(" frames_rx=%llu frames_expected=%.0f late_p50_ms=%.2f late_p99_ms=%.2f late_max_ms=%.2f late_frames=%llu"
	       " lost=%llu rtt_p50_ms=%.2f rtt_p99_ms=%.2f send_dropped=%llu client_cpu=%.3f\n",
	       g.rx_window, expected, pct_ms(late, m, 0.5), pct_ms(late, m, 0.99), m ? (double)late[m - 1] / 1000.0 : 0.0,
	       late_frames, g.lost, pct_ms(g.rtt, g.n_rtt, 0.5), pct_ms(g.rtt, g.n_rtt, 0.99), g.send_dropped, client_cpu);
	for (int i = 0; i < n; i++)
		close_call(&g.calls[i]);
	free(g.late);
	free(g.rtt);
	free(g.calls);
	close(tfd);
	close(g.epfd);
	return 0;
}

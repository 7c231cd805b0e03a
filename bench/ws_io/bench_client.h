/* What the benchmarks' WebSocket load generators share (bench/ws_io/ws_load.c,
 * bench/voice_calls/voice_load.c): a non-blocking socket on an epoll set with a bounded send queue,
 * the server frames' header, and the measured process's CPU and memory from /proc. Written here,
 * not taken from a library, so the measuring side shares no code with the servers it measures.
 * Bench code only: never linked into `sova`. */
#ifndef SOVA_BENCH_CLIENT_H
#define SOVA_BENCH_CLIENT_H
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BENCH_TX_BUF 16384

/* A client socket: its fd on epfd (the epoll data is owner), and what waits to be sent. */
typedef struct bench_sock {
	int fd, epfd;
	void *owner;
	size_t tx_len, tx_off;
	unsigned char tx[BENCH_TX_BUF];
} bench_sock;

static inline void bench_sock_watch(bench_sock *s, bool want_out)
{
	struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = s->owner};
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Starts a non-blocking connect (TCP_NODELAY) watched for both directions; false on failure. */
static inline bool bench_sock_connect(bench_sock *s, int epfd, void *owner, const struct sockaddr_in *to)
{
	s->epfd = epfd;
	s->owner = owner;
	s->tx_len = s->tx_off = 0;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return false;
	int one = 1;
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
	    (connect(s->fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS)) {
		close(s->fd);
		s->fd = -1;
		return false;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = owner};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0;
}

static inline void bench_sock_close(bench_sock *s)
{
	if (s->fd < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
}

/* Whether the socket connected (after EPOLLOUT on a connecting socket). */
static inline bool bench_sock_connected(const bench_sock *s)
{
	int err = 0;
	socklen_t el = sizeof err;
	return getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0;
}

/* Writes what is queued (watching for EPOLLOUT while some is left); false when the socket failed. */
static inline bool bench_sock_flush(bench_sock *s)
{
	while (s->tx_off < s->tx_len) {
		ssize_t w = send(s->fd, s->tx + s->tx_off, s->tx_len - s->tx_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN) {
				bench_sock_watch(s, true);
				return true;
			}
			return false;
		}
		s->tx_off += (size_t)w;
	}
	if (s->tx_len) {
		s->tx_off = s->tx_len = 0;
		bench_sock_watch(s, false);
	}
	return true;
}

/* Room for n more bytes at the end of the queue (NULL: it is full). */
static inline unsigned char *bench_sock_reserve(bench_sock *s, size_t n)
{
	if (s->tx_off && s->tx_off == s->tx_len)
		s->tx_off = s->tx_len = 0;
	if (s->tx_len + n > BENCH_TX_BUF)
		return NULL;
	unsigned char *at = s->tx + s->tx_len;
	s->tx_len += n;
	return at;
}

/* One server frame at p (avail bytes, at most cap in one frame): 1 with its opcode, header and
 * payload lengths; 0 when more bytes are needed; -1 when it is not a frame this client takes
 * (masked, or over cap). */
static inline int bench_ws_frame(const unsigned char *p, size_t avail, size_t cap, int *opcode, size_t *hl,
				 size_t *len)
{
	if (avail < 2)
		return 0;
	*opcode = p[0] & 0x0f;
	*len = p[1] & 0x7f;
	*hl = 2;
	if (p[1] & 0x80)
		return -1; /* servers do not mask */
	if (*len == 126) {
		if (avail < 4)
			return 0;
		*len = (size_t)p[2] << 8 | p[3];
		*hl = 4;
	} else if (*len == 127) {
		return -1; /* nothing this large in these benchmarks */
	}
	if (*hl + *len > cap)
		return -1;
	return avail >= *hl + *len ? 1 : 0;
}

/* ---- the measured process, from /proc ---- */

typedef struct bench_proc {
	double user_s, sys_s;
	long rss_kib, threads;
} bench_proc;

static inline bool bench_read_proc(int pid, bench_proc *s)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return false;
	s->user_s = (double)ut / (double)sysconf(_SC_CLK_TCK);
	s->sys_s = (double)st / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return false;
	while (fgets(buf, sizeof buf, f)) {
		sscanf(buf, "VmRSS: %ld", &s->rss_kib);
		sscanf(buf, "Threads: %ld", &s->threads);
	}
	fclose(f);
	return true;
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}
#endif

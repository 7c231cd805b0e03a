/* The other parties of bench/voice_calls.sh: N voice test calls on one `sova bot`, each a live
 * socket that asks for audio (audio.start), then sends a frame every 20 ms at real-time pace for
 * the whole call (silence, or the next line of the script as audio when it is the party's turn)
 * and receives the agent's audio. One process, one thread, epoll, non-blocking sockets; the
 * WebSocket client framing is written here and in bench/ws_io/bench_client.h (shared with
 * bench/ws_io/ws_load.c), so the measuring side shares no library with the bot it measures.
 *
 * The party speaks its next line when the agent has spoken since its last line, has sent `turn`
 * (it waits), and its audio has stopped for PARTY_WAITS_US; after its last line and the agent's
 * answer it hangs up, unless the bot ended the call first. Measured per call, over the whole run:
 *  - delivery: within a talk spurt of the agent (frames less than SPURT_GAP_US apart), frame n is
 *    due at anchor + n * 20 ms, the anchor being the earliest the frames seen so far allow; a
 *    frame's lateness is its arrival minus that (so it measures the bot's pacing and delivery);
 *  - the answer's delay as the party hears it: the end of its line to the agent's first frame;
 *  - first words: audio.ready (the call is answered) to the greeting's first frame;
 *  - frames in and out, late frames (over one frame period), how each socket closed.
 * The bot's CPU and RSS come from /proc/PID at the start, every second, and at the end. Prints
 * one JSON object. Bench code only: never linked into `sova`. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../ws_io/bench_client.h"

#define FRAME_US 20000
#define SEND_SLOTS 20           /* calls spread over the 20 ms, 1 ms apart */
#define RX_BUF 65536
/* A longer silence between the agent's frames starts a new spurt: the synthesizer had nothing yet
 * (the next line's audio still coming), which the bot's pacer counts as an underrun, not lateness.
 * A stall of the bot longer than this is hidden here, but not in the bot's own pacing figures
 * (/stats voice_pacing: every frame against its deadline). */
#define SPURT_GAP_US 50000
#define PARTY_WAITS_US 400000   /* after the agent's audio stops, before the party speaks */
#define HANGUP_AFTER_US 4000000 /* after the last answer: the party hangs up if the bot has not */
#define MAX_CLIPS 32

enum conn_state { IDLE, CONNECTING, HANDSHAKE, OPEN, CLOSED };

/* One call: its socket, the party's place in the script, and what was measured on it. */
typedef struct call {
	bench_sock sock;
	enum conn_state state;
	char *path;               /* "/calls/<id>/live?token=..." (owned) */
	int64_t connect_at;       /* when the ramp opens it */
	int64_t ready_at, closed_at;
	bool ready;               /* audio.ready came */
	bool turn_seen;           /* `turn` since the party's last line */
	bool agent_heard;         /* agent audio since the party's last line */
	bool hung_up;
	int clip;                 /* the next line to say */
	size_t clip_pos;          /* bytes of it sent; speaking while < the clip's length */
	bool speaking;
	int64_t line_end;         /* the end of the party's last line, 0 once answered */
	int64_t last_rx;          /* the agent's last frame */
	int64_t anchor;           /* the spurt's schedule origin */
	uint32_t spurt_n;
	uint64_t frames_in, frames_out, turns;
	int close_code;           /* from the bot's close frame; 0 none, -1 EOF or error */
	char last_text[4][160];   /* the bot's last messages, for the diagnosis of a call that stopped */
	int n_text;
	size_t rx_len;
	unsigned char rx[RX_BUF];
} call;

typedef struct i64s {
	int64_t *v;
	size_t n, cap;
} i64s;

static struct {
	int epfd, n;
	call *calls;
	const char *encoding;
	int rate;
	size_t frame_bytes;
	unsigned char silence_byte;
	unsigned char *clips[MAX_CLIPS]; /* the script's lines as audio in the call's format (owned) */
	size_t clip_len[MAX_CLIPS];
	int num_clips;
	i64s late, answer, first_words;  /* µs */
	uint64_t late_frames, send_dropped, tx_full, errors_seen;
	bool trace;                      /* the first call's messages and turns on stderr */
} g;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void push(i64s *a, int64_t v)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 4096;
		int64_t *nv = realloc(a->v, nc * sizeof *nv);
		if (!nv)
			return; /* the figure loses a sample, the run goes on */
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = v;
}

static void close_call(call *c, int code)
{
	if (c->state == CLOSED)
		return;
	bench_sock_close(&c->sock);
	if (!c->close_code)
		c->close_code = code;
	c->state = CLOSED;
	c->closed_at = now_us();
}

/* Queues one masked client frame (opcode 1 text, 2 binary); false when the queue is full. */
static bool queue_frame(call *c, int opcode, const void *payload, size_t len)
{
	static const unsigned char mask[4] = {0x5a, 0x13, 0xc7, 0x2e};
	size_t hl = len < 126 ? 6 : 8;
	unsigned char *f = bench_sock_reserve(&c->sock, hl + len);
	if (!f) {
		g.tx_full++;
		return false;
	}
	f[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		f[1] = (unsigned char)(0x80 | len);
	} else {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(len >> 8);
		f[3] = (unsigned char)(len & 0xff);
	}
	memcpy(f + hl - 4, mask, 4);
	const unsigned char *p = payload;
	for (size_t i = 0; i < len; i++)
		f[hl + i] = p[i] ^ mask[i & 3];
	return true;
}

static void send_text(call *c, const char *text)
{
	if (queue_frame(c, 1, text, strlen(text)) && !bench_sock_flush(&c->sock))
		close_call(c, -1);
}

/* The party's 20 ms: the next piece of its line while it speaks, else silence. */
static void send_audio(call *c, int64_t now)
{
	unsigned char frame[1920];
	size_t n = g.frame_bytes;
	memset(frame, g.silence_byte, n);
	if (c->speaking) {
		size_t left = g.clip_len[c->clip] - c->clip_pos, take = left < n ? left : n;
		memcpy(frame, g.clips[c->clip] + c->clip_pos, take);
		c->clip_pos += take;
		if (c->clip_pos == g.clip_len[c->clip]) {
			c->speaking = false;
			c->clip++;
			c->line_end = now;
		}
	}
	if (!queue_frame(c, 2, frame, n)) {
		g.send_dropped++;
		return;
	}
	c->frames_out++;
	if (!bench_sock_flush(&c->sock))
		close_call(c, -1);
}

/* Whether the party takes its turn now, and hangs up once its script is done. */
static void party_turn(call *c, int64_t now)
{
	if (!c->ready || c->speaking || !c->turn_seen || !c->agent_heard || now - c->last_rx < PARTY_WAITS_US)
		return;
	if (c->clip < g.num_clips) {
		if (g.trace && c == &g.calls[0])
			fprintf(stderr, "trace %.3f party says line %d\n", (double)now / 1e6, c->clip + 1);
		c->speaking = true;
		c->clip_pos = 0;
		c->turn_seen = c->agent_heard = false;
		return;
	}
	if (!c->hung_up && now - c->last_rx >= HANGUP_AFTER_US) {
		c->hung_up = true;
		send_text(c, "{\"type\":\"hangup\"}");
	}
}

static void on_agent_frame(call *c, int64_t now)
{
	if (!c->frames_in && c->ready_at) {
		push(&g.first_words, now - c->ready_at);
		if (g.trace && c == &g.calls[0])
			fprintf(stderr, "trace %.3f the agent's first frame\n", (double)now / 1e6);
	}
	c->frames_in++;
	c->agent_heard = true;
	if (c->line_end) {
		push(&g.answer, now - c->line_end);
		c->line_end = 0;
		c->turns++;
	}
	if (!c->last_rx || now - c->last_rx > SPURT_GAP_US) {
		c->anchor = now;
		c->spurt_n = 0;
	} else {
		int64_t due = c->anchor + (int64_t)(++c->spurt_n) * FRAME_US;
		if (now < due) {
			c->anchor -= due - now; /* earlier than the schedule so far allowed: move it */
			push(&g.late, 0);
		} else {
			push(&g.late, now - due);
			if (now - due > FRAME_US)
				g.late_frames++;
		}
	}
	c->last_rx = now;
}

static void on_text(call *c, const char *p, size_t len, int64_t now)
{
	if (g.trace && c == &g.calls[0])
		fprintf(stderr, "trace %.3f text %.*s\n", (double)now / 1e6, (int)(len > 400 ? 400 : len), p);
	snprintf(c->last_text[c->n_text++ % 4], sizeof c->last_text[0], "%.3f %.*s", (double)now / 1e6,
		 (int)(len > 130 ? 130 : len), p);

	if (memmem(p, len, "\"type\":\"audio.ready\"", 20)) {
		c->ready = true;
		c->ready_at = now;
	} else if (memmem(p, len, "\"type\":\"turn\"", 13)) {
		c->turn_seen = true;
	} else if (memmem(p, len, "\"type\":\"error\"", 15) && g.errors_seen++ < 3) {
		fprintf(stderr, "bench_voice_load: the bot said: %.*s\n", (int)(len > 300 ? 300 : len), p);
	}
}

/* Parses the bot's frames out of rx; false on a protocol error or a close frame. */
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
		if (opcode == 0x8) {
			c->close_code = len >= 2 ? (h[hl] << 8 | h[hl + 1]) : 1005;
			return false;
		}
		if (opcode == 0x2)
			on_agent_frame(c, now);
		else if (opcode == 0x1)
			on_text(c, (const char *)h + hl, len, now);
		off += hl + len;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
	return true;
}

static void on_readable(call *c, const char *audio_start)
{
	for (;;) {
		ssize_t r = recv(c->sock.fd, c->rx + c->rx_len, RX_BUF - c->rx_len, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			close_call(c, -1);
			return;
		}
		if (r < 0)
			return;
		size_t room = RX_BUF - c->rx_len;
		c->rx_len += (size_t)r;
		int64_t now = now_us();
		if (c->state == HANDSHAKE) {
			unsigned char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
			if (!end)
				continue;
			if (c->rx_len < 12 || memcmp(c->rx, "HTTP/1.1 101", 12) != 0) {
				close_call(c, -2);
				return;
			}
			size_t hl = (size_t)(end - c->rx) + 4;
			memmove(c->rx, c->rx + hl, c->rx_len - hl);
			c->rx_len -= hl;
			c->state = OPEN;
			send_text(c, audio_start);
		}
		if (c->state == OPEN && !parse_frames(c, now)) {
			close_call(c, -1);
			return;
		}
		if ((size_t)r < room)
			return; /* a short read: nothing more queued now (epoll is level-triggered) */
	}
}

/* ---- Setup and results ---- */

static bool load_clips(const char *dir)
{
	for (int i = 0; i < MAX_CLIPS; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%d.raw", dir, i + 1);
		FILE *f = fopen(path, "rb");
		if (!f)
			break;
		struct stat st;
		if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || !(g.clips[i] = malloc((size_t)st.st_size)) ||
		    fread(g.clips[i], 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
			fclose(f);
			return false;
		}
		fclose(f);
		g.clip_len[i] = (size_t)st.st_size;
		g.num_clips = i + 1;
	}
	return g.num_clips > 0;
}

static bool load_paths(const char *file, int want)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return false;
	char line[2048];
	while (g.n < want && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (!(g.calls[g.n].path = strdup(line))) {
			fclose(f);
			return false;
		}
		g.calls[g.n].sock.fd = -1;
		g.n++;
	}
	fclose(f);
	return g.n == want;
}

static double pct_ms(i64s *a, double p)
{
	if (!a->n)
		return -1;
	return (double)a->v[(size_t)(p * (double)(a->n - 1))] / 1000.0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_voice_load --port P --calls N --paths FILE --clips DIR [--encoding mulaw|pcm_s16le]"
			" [--rate 8000|16000|48000] [--ramp SECONDS] [--max-seconds S] [--pid BOT_PID] [--trace 1]\n");
	return 64;
}

int main(int argc, char **argv)
{
	int port = 0, n = 0, pid = 0;
	double ramp_s = 10, max_s = 600;
	const char *paths = NULL, *clips = NULL;
	g.encoding = "mulaw";
	g.rate = 8000;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--calls"))
			n = atoi(v);
		else if (!strcmp(a, "--paths"))
			paths = v;
		else if (!strcmp(a, "--clips"))
			clips = v;
		else if (!strcmp(a, "--encoding"))
			g.encoding = v;
		else if (!strcmp(a, "--rate"))
			g.rate = atoi(v);
		else if (!strcmp(a, "--ramp"))
			ramp_s = atof(v);
		else if (!strcmp(a, "--max-seconds"))
			max_s = atof(v);
		else if (!strcmp(a, "--pid"))
			pid = atoi(v);
		else if (!strcmp(a, "--trace"))
			g.trace = atoi(v) != 0;
		else
			return usage();
	}
	bool mulaw = !strcmp(g.encoding, "mulaw");
	if (argc % 2 == 0 || port <= 0 || n <= 0 || !paths || !clips || ramp_s < 0 || max_s <= 0 ||
	    (!mulaw && strcmp(g.encoding, "pcm_s16le")) || (mulaw && g.rate != 8000) ||
	    (g.rate != 8000 && g.rate != 16000 && g.rate != 48000))
		return usage();
	g.frame_bytes = (size_t)g.rate / 50 * (mulaw ? 1 : 2);
	g.silence_byte = mulaw ? 0xff : 0x00; /* μ-law 0xff is zero */
	g.calls = calloc((size_t)n, sizeof *g.calls);
	if (!g.calls || !load_paths(paths, n) || !load_clips(clips)) {
		fprintf(stderr, "bench_voice_load: cannot read %s (%d paths wanted) or the clips in %s\n", paths, n, clips);
		return 1;
	}
	char audio_start[160];
	snprintf(audio_start, sizeof audio_start,
		 "{\"type\":\"audio.start\",\"encoding\":\"%s\",\"sample_rate\":%d,\"channels\":1}", g.encoding, g.rate);
	bench_proc idle = {0}, at_end = {0}, sample;
	long peak_rss = 0, peak_threads = 0;
	if (pid && !bench_read_proc(pid, &idle)) {
		fprintf(stderr, "bench_voice_load: cannot read /proc/%d\n", pid);
		return 1;
	}
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
	if (g.epfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0 ||
	    epoll_ctl(g.epfd, EPOLL_CTL_ADD, tfd, &tev) != 0) {
		fprintf(stderr, "bench_voice_load: %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	int64_t t0 = now_us(), deadline = t0 + (int64_t)(max_s * 1e6), next_sample = t0;
	for (int i = 0; i < n; i++)
		g.calls[i].connect_at = t0 + (int64_t)(ramp_s * 1e6 * i / n);
	int started = 0, failed_connect = 0, open_max = 0;
	long long tick = 0;
	struct epoll_event evs[512];
	int64_t loop_max = 0, loop_prev = 0; /* this process's own stalls, which the pacing figures would include */
	for (;;) {
		int ne = epoll_wait(g.epfd, evs, 512, 20);
		int64_t now = now_us();
		if (loop_prev && now - loop_prev > loop_max)
			loop_max = now - loop_prev; /* the 1 ms timer wakes it: a longer turn is a stall */
		loop_prev = now;
		for (int i = 0; i < ne; i++) {
			call *c = evs[i].data.ptr;
			if (!c) { /* the 1 ms tick: the calls of this slot send their 20 ms */
				uint64_t exp;
				if (read(tfd, &exp, sizeof exp) != sizeof exp)
					continue;
				for (uint64_t e = 0; e < exp; e++, tick++)
					for (int k = (int)(tick % SEND_SLOTS); k < started; k += SEND_SLOTS) {
						call *s = &g.calls[k];
						if (s->state != OPEN || !s->ready)
							continue;
						party_turn(s, now);
						if (s->state == OPEN)
							send_audio(s, now);
					}
				continue;
			}
			if (c->state == CLOSED)
				continue;
			if (c->state == CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				if (!bench_sock_connected(&c->sock)) {
					close_call(c, -3);
					failed_connect++;
					continue;
				}
				char hs[2600];
				int hl = snprintf(hs, sizeof hs,
						  "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
						  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
						  c->path, port);
				c->state = HANDSHAKE;
				unsigned char *at = hl > 0 && (size_t)hl < sizeof hs ? bench_sock_reserve(&c->sock, (size_t)hl) : NULL;
				if (!at) {
					close_call(c, -3);
					continue;
				}
				memcpy(at, hs, (size_t)hl);
				if (!bench_sock_flush(&c->sock))
					close_call(c, -1);
				else if (c->sock.tx_len == 0)
					bench_sock_watch(&c->sock, false);
				continue;
			}
			if (evs[i].events & EPOLLOUT && !bench_sock_flush(&c->sock)) {
				close_call(c, -1);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c, audio_start);
		}
		while (started < n && g.calls[started].connect_at <= now) {
			call *c = &g.calls[started++];
			if (bench_sock_connect(&c->sock, g.epfd, c, &to)) {
				c->state = CONNECTING;
			} else {
				bench_sock_close(&c->sock);
				c->state = CLOSED;
				c->close_code = -3;
				failed_connect++;
			}
		}
		int open = 0;
		for (int i = 0; i < started; i++)
			open += g.calls[i].state != CLOSED;
		if (open > open_max)
			open_max = open;
		if (pid && now >= next_sample) {
			if (bench_read_proc(pid, &sample)) {
				if (sample.rss_kib > peak_rss)
					peak_rss = sample.rss_kib;
				if (sample.threads > peak_threads)
					peak_threads = sample.threads;
			}
			next_sample = now + 1000000;
		}
		if ((started == n && open == 0) || now >= deadline)
			break;
	}
	int64_t t_end = now_us();
	if (pid && !bench_read_proc(pid, &at_end))
		at_end = idle;
	/* call-seconds: each call from its audio.ready to its close */
	double call_s = 0;
	int ready = 0, by_bot = 0, still_open = 0, errors = 0, hung_up = 0, diagnosed = 0;
	uint64_t frames_in = 0, frames_out = 0, turns = 0;
	for (int i = 0; i < n; i++) {
		call *c = &g.calls[i];
		if (c->state != CLOSED) {
			still_open++;
			close_call(c, -4);
		}
		if (c->ready) {
			ready++;
			call_s += (double)(c->closed_at - c->ready_at) / 1e6;
		}
		by_bot += c->close_code == 1000;
		if ((c->close_code != 1000 || c->clip < g.num_clips) && diagnosed++ < 10) /* what the others were doing */
			fprintf(stderr, "bench_voice_load: call %d closed %d with %d of %d lines said, turn %d, agent heard %d, %llu frames in\n",
				i + 1, c->close_code, c->clip, g.num_clips, c->turn_seen, c->agent_heard,
				(unsigned long long)c->frames_in);
		if ((c->close_code != 1000 || c->clip < g.num_clips) && diagnosed <= 3)
			for (int k = 0; k < 4 && k < c->n_text; k++)
				fprintf(stderr, "    %s\n", c->last_text[(c->n_text - (c->n_text < 4 ? c->n_text : 4) + k) % 4]);
		errors += c->close_code != 1000 && c->close_code != -4;
		hung_up += c->hung_up;
		frames_in += c->frames_in;
		frames_out += c->frames_out;
		turns += c->turns;
	}
	qsort(g.late.v, g.late.n, sizeof *g.late.v, bench_cmp_i64);
	qsort(g.answer.v, g.answer.n, sizeof *g.answer.v, bench_cmp_i64);
	qsort(g.first_words.v, g.first_words.n, sizeof *g.first_words.v, bench_cmp_i64);
	double cpu = at_end.user_s + at_end.sys_s - idle.user_s - idle.sys_s;
	printf("{\"calls\":%d,\"ready\":%d,\"failed_connect\":%d,\"open_max\":%d,\"seconds\":%.1f,\"call_seconds\":%.0f,"
	       "\"closed_by_bot_1000\":%d,\"party_hung_up\":%d,\"closed_otherwise\":%d,\"still_open_at_deadline\":%d,"
	       "\"error_messages\":%llu,\"turns\":%llu,\"frames_in\":%llu,\"frames_out\":%llu,\"send_dropped\":%llu,"
	       "\"pacing_late_ms\":{\"n\":%zu,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},\"late_frames\":%llu,"
	       "\"answer_ms\":{\"n\":%zu,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"max\":%.0f},"
	       "\"first_words_ms\":{\"n\":%zu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}",
	       n, ready, failed_connect, open_max, (double)(t_end - t0) / 1e6, call_s, by_bot, hung_up, errors, still_open,
	       (unsigned long long)g.errors_seen, (unsigned long long)turns, (unsigned long long)frames_in, (unsigned long long)frames_out,
	       (unsigned long long)g.send_dropped, g.late.n, pct_ms(&g.late, 0.5), pct_ms(&g.late, 0.99),
	       pct_ms(&g.late, 0.999), pct_ms(&g.late, 1.0), (unsigned long long)g.late_frames, g.answer.n,
	       pct_ms(&g.answer, 0.5), pct_ms(&g.answer, 0.9), pct_ms(&g.answer, 0.99), pct_ms(&g.answer, 1.0),
	       g.first_words.n, pct_ms(&g.first_words, 0.5), pct_ms(&g.first_words, 0.9), pct_ms(&g.first_words, 0.99),
	       pct_ms(&g.first_words, 1.0));
	if (pid)
		printf(",\"bot\":{\"cpu_s\":%.2f,\"cpu_per_call_pct\":%.3f,\"rss_idle_kib\":%ld,\"rss_peak_kib\":%ld,"
		       "\"rss_per_call_kib\":%.0f,\"rss_end_kib\":%ld,\"threads_peak\":%ld}",
		       cpu, call_s > 0 ? cpu / call_s * 100 : 0, idle.rss_kib, peak_rss,
		       open_max ? (double)(peak_rss - idle.rss_kib) / open_max : 0, at_end.rss_kib, peak_threads);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(",\"client_loop_max_ms\":%.1f", (double)loop_max / 1000.0);
	printf(",\"client_cpu_s\":%.2f}\n", (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
						      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
	for (int i = 0; i < n; i++)
		free(g.calls[i].path);
	for (int i = 0; i < g.num_clips; i++)
		free(g.clips[i]);
	free(g.calls);
	free(g.late.v);
	free(g.answer.v);
	free(g.first_words.v);
	close(tfd);
	close(g.epfd);
	return 0;
}

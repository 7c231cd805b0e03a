/* Server A of the WebSocket audio I/O benchmark (bench/ws_io.sh): civetweb's WebSocket server as
 * `sova bot` runs it today. Each socket holds one civetweb worker thread (which reads its frames),
 * plus one sender thread of our own, as core/bot/loop.c starts per live socket; here the sender
 * paces the call's frames out every 20 ms (clock_nanosleep on an absolute deadline) from the ring
 * its reader fills. Bench code only: never linked into `sova`. */
#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_audio.h"

/* One call's socket; made when civetweb says it is ready, freed when it closes. */
typedef struct call_conn {
	struct mg_connection *conn;
	pthread_mutex_t lock; /* ring and stop, between the reader (civetweb's) and the sender */
	bool stop, started;
	int head, count;
	unsigned char ring[AUDIO_RING_FRAMES][AUDIO_FRAME_BYTES];
	pthread_t sender;
} call_conn;

static atomic_ullong frames_out, underruns, overflows, late_wakeups, bad_frames;

static void add_us(struct timespec *t, long us)
{
	t->tv_nsec += us * 1000;
	while (t->tv_nsec >= 1000000000) {
		t->tv_nsec -= 1000000000;
		t->tv_sec++;
	}
}

static void *pace_out(void *arg)
{
	call_conn *c = arg;
	unsigned char frame[AUDIO_FRAME_BYTES];
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		add_us(&next, AUDIO_FRAME_US);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - next.tv_sec) * 1000000 + (now.tv_nsec - next.tv_nsec) / 1000 > AUDIO_FRAME_US)
			atomic_fetch_add(&late_wakeups, 1);
		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (!c->started && c->count >= AUDIO_PREROLL_FRAMES)
			c->started = true;
		bool have = c->started && c->count > 0;
		if (have) {
			memcpy(frame, c->ring[c->head], AUDIO_FRAME_BYTES);
			c->head = (c->head + 1) % AUDIO_RING_FRAMES;
			c->count--;
		} else if (c->started) {
			atomic_fetch_add(&underruns, 1);
		}
		pthread_mutex_unlock(&c->lock);
		if (have) {
			bench_frame_set_due(frame, (int64_t)next.tv_sec * 1000000 + next.tv_nsec / 1000);
			if (mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_BINARY, (const char *)frame, AUDIO_FRAME_BYTES) <= 0)
				break;
			atomic_fetch_add(&frames_out, 1);
		}
	}
	return NULL;
}

static int ws_connect(const struct mg_connection *conn, void *ud) { return 0; }

static void ws_ready(struct mg_connection *conn, void *ud)
{
	call_conn *c = calloc(1, sizeof *c); /* freed in ws_close */
	if (!c)
		return;
	c->conn = conn;
	pthread_mutex_init(&c->lock, NULL);
	if (pthread_create(&c->sender, NULL, pace_out, c) != 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return;
	}
	mg_set_user_connection_data(conn, c);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *ud)
{
	call_conn *c = mg_get_user_connection_data(conn);
	int opcode = bits & 0x0f;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (opcode != MG_WEBSOCKET_OPCODE_BINARY || !c)
		return 1;
	if (len != AUDIO_FRAME_BYTES) {
		atomic_fetch_add(&bad_frames, 1);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if (c->count == AUDIO_RING_FRAMES) { /* the sender fell behind: drop the oldest */
		c->head = (c->head + 1) % AUDIO_RING_FRAMES;
		c->count--;
		atomic_fetch_add(&overflows, 1);
	}
	memcpy(c->ring[(c->head + c->count) % AUDIO_RING_FRAMES], data, len);
	c->count++;
	pthread_mutex_unlock(&c->lock);
	return 1;
}

static void ws_close(const struct mg_connection *conn, void *ud)
{
	call_conn *c = mg_get_user_connection_data(conn);
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->sender, NULL);
	pthread_mutex_destroy(&c->lock);
	mg_set_user_connection_data((struct mg_connection *)conn, NULL);
	free(c);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = 1; }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_ws_civetweb PORT THREADS\n");
		return 64;
	}
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", atoi(argv[1]));
	/* the options core/http/server.c gives civetweb in `sova bot` */
	const char *options[] = {
		"listening_ports", listen,
		"num_threads", argv[2],
		"request_timeout_ms", "30000",
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"max_request_size", "16384",
		"websocket_timeout_ms", "3600000",
		"tcp_nodelay", "1",
		NULL,
	};
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	mg_init_library(0);
	struct mg_callbacks cb;
	memset(&cb, 0, sizeof cb);
	struct mg_context *ctx = mg_start(&cb, NULL, options);
	if (!ctx) {
		fprintf(stderr, "bench_ws_civetweb: cannot listen on %s\n", listen);
		return 1;
	}
	mg_set_websocket_handler(ctx, "/audio", ws_connect, ws_ready, ws_data, ws_close, NULL);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	printf("server: civetweb %s, frames out %llu, underruns %llu, ring overflows %llu, late wakeups %llu, "
	       "bad frames %llu\n",
	       mg_version(), (unsigned long long)frames_out, (unsigned long long)underruns,
	       (unsigned long long)overflows, (unsigned long long)late_wakeups, (unsigned long long)bad_frames);
	fflush(stdout);
	mg_stop(ctx);
	mg_exit_library();
	return 0;
}

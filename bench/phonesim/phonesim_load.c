/* Load on sova-phone-sim (bench/phonesim.sh): N simulated calls at once, each streaming into a
 * bot stand-in made here (an lws server on this process's loop), to measure what the simulator
 * itself costs, so a benchmark of the bot through it knows the simulator is not the bottleneck.
 *
 *   phonesim_load --sim PATH --calls N --seconds S --kind hold|talk
 *
 * hold: every callee plays hold music (the shared loop) with a message every 30 s.
 * talk: every callee is a human; the bot here says 1 s and a mark every 4 s on every stream
 *   (staggered), and the callee answers each turn with a line (flite audio).
 * Reported: calls streaming, the simulator's CPU (from /proc/<pid>/stat over the window) and RSS,
 * media frames received against 50 a second a call, the gaps between a stream's frames (p50, p99,
 * max), and (talk) marks returned with their lag past the audio's real-time end.
 * Bench code only: never linked into `sova`. */
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <poll.h>
#include <uv.h>

#include "bot/media/audio.h"
#include "bot/speech/provider_util.h"

#define ACCOUNT "AC00000000000000000000000000000b0b"
#define TOKEN "bench-token"
#define MAX_CALLS 4096
#define MAX_GAPS 4000000

typedef struct bot_stream {
	struct lws *wsi;
	bool started;
	char sid[64];
	int64_t last_frame_us, next_say_us, say_end_us;
	bool mark_out;
	char *out[4];
	int out_n;
} bot_stream;

static bot_stream streams[MAX_CALLS];
static int num_streams, num_started, calls;
static bool measuring, talk;
static uint64_t frames, marks;
static int64_t *gaps;
static size_t num_gaps;
static double mark_lag_sum, mark_lag_max;
static char *say_msg_tail; /* "\"media\":{\"payload\":\"…\"}}" of 1 s of tone */
static struct lws_context *ctx;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void queue(bot_stream *s, char *msg)
{
	if (s->out_n < 4) {
		s->out[s->out_n++] = msg;
		lws_callback_on_writable(s->wsi);
	} else {
		free(msg);
	}
}

static void on_message(bot_stream *s, const char *data, size_t len)
{
	int64_t t = now_us();
	if (len > 18 && !memcmp(data, "{\"event\":\"media\"", 16)) {
		if (measuring && s->last_frame_us && num_gaps < MAX_GAPS)
			gaps[num_gaps++] = t - s->last_frame_us;
		s->last_frame_us = t;
		if (measuring)
			frames++;
		return;
	}
	bson_t doc;
	const char *event = NULL, *v = NULL;
	if (!sova_json_parse(&doc, data, len) || !sova_json_string(&doc, "event", &event, NULL, NULL)) {
		bson_destroy(&doc);
		return;
	}
	if (!strcmp(event, "start") && sova_json_string(&doc, "start.streamSid", &v, NULL, NULL)) {
		snprintf(s->sid, sizeof s->sid, "%s", v);
		s->started = true;
		num_started++;
		s->next_say_us = t + (int64_t)(rand() % 4000) * 1000;
	} else if (!strcmp(event, "mark")) {
		double lag = (double)(t - s->say_end_us) / 1000.0;
		s->mark_out = false;
		if (measuring) {
			marks++;
			mark_lag_sum += lag;
			if (lag > mark_lag_max)
				mark_lag_max = lag;
		}
	}
	bson_destroy(&doc);
}

static int bot_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	int *idx = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (num_streams == MAX_CALLS)
			return -1;
		*idx = num_streams++;
		memset(&streams[*idx], 0, sizeof streams[0]);
		streams[*idx].wsi = wsi;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		on_message(&streams[*idx], in, len); /* the simulator's messages are small: one frame each */
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		bot_stream *s = &streams[*idx];
		if (!s->out_n)
			return 0;
		char *m = s->out[0];
		memmove(s->out, s->out + 1, (size_t)(--s->out_n) * sizeof s->out[0]);
		size_t n = strlen(m);
		unsigned char *buf = malloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, m, n);
		int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		free(m);
		if (s->out_n)
			lws_callback_on_writable(wsi);
		return w < (int)n ? -1 : 0;
	}
	case LWS_CALLBACK_CLOSED:
		if (idx && *idx >= 0 && *idx < num_streams)
			streams[*idx].wsi = NULL;
		return 0;
	case LWS_CALLBACK_HTTP:
		return -1;
	default:
		return 0;
	}
}

static const struct lws_protocols PROTOCOLS[] = {
	{"bot", bot_callback, sizeof(int), 65536, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* talk: the bot's turns, every 4 s a stream (1 s of audio and a mark). */
static void on_tick(uv_timer_t *t)
{
	(void)t;
	if (!talk)
		return;
	int64_t now = now_us();
	for (int i = 0; i < num_streams; i++) {
		bot_stream *s = &streams[i];
		if (!s->started || !s->wsi || now < s->next_say_us)
			continue;
		s->next_say_us = now + 4000000;
		s->say_end_us = now + 1000000;
		char *media = NULL, *mark = NULL;
		if (asprintf(&media, "{\"event\":\"media\",\"streamSid\":\"%s\",%s", s->sid, say_msg_tail) < 0 ||
		    asprintf(&mark, "{\"event\":\"mark\",\"streamSid\":\"%s\",\"mark\":{\"name\":\"t\"}}", s->sid) < 0)
			exit(1);
		queue(s, media);
		queue(s, mark);
	}
}

static pid_t start_sim(const char *path, const char *scenarios, int *port)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(path, path, "--port", "0", "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--scenarios", scenarios, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char line[128] = "";
	size_t len = 0;
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	while (len + 1 < sizeof line && poll(&p, 1, 20000) > 0 && read(fds[0], line + len, 1) == 1 && line[len] != '\n')
		len++;
	line[len] = '\0';
	close(fds[0]);
	*port = 0;
	sscanf(line, "ready port=%d", port);
	return *port > 0 ? pid : -1;
}

static double cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* fields after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
	(void)d;
	(void)u;
	return s * n;
}

int main(int argc, char **argv)
{
	const char *sim_path = NULL, *kind = "hold";
	int seconds = 20;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--sim"))
			sim_path = argv[i + 1];
		else if (!strcmp(argv[i], "--calls"))
			calls = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--kind"))
			kind = argv[i + 1];
	}
	talk = !strcmp(kind, "talk");
	if (!sim_path || calls <= 0 || calls > MAX_CALLS || seconds <= 0) {
		fprintf(stderr, "usage: phonesim_load --sim PATH --calls N (1..%d) --seconds S --kind hold|talk\n", MAX_CALLS);
		return 64;
	}
	gaps = malloc(MAX_GAPS * sizeof *gaps);
	char scenarios[] = "/tmp/phonesim-load-XXXXXX";
	int fd = mkstemp(scenarios);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || !gaps)
		return 1;
	fprintf(f, talk ? "{\"*\": {\"kind\": \"human\", \"ring_ms\": 100, \"reply_gap_ms\": 400, \"lines\": [%s]}}"
			: "{\"*\": {\"kind\": \"hold\", \"ring_ms\": 100, \"hold_seconds\": 3600, \"message\": \"Your call is important to us.\","
			  " \"message_every_s\": 30, \"rep\": {\"greeting\": \"Hello.\"}}}",
		"\"Yes, that is right.\", \"Thank you.\", \"I see.\", \"Yes, that is right.\", \"Thank you.\", \"I see.\", \"Okay.\","
		" \"Sure.\", \"Yes, that is right.\", \"Thank you.\", \"I see.\", \"Okay.\", \"Sure.\", \"Yes.\", \"Right.\", \"Okay.\"");
	fclose(f);
	/* 1 s of a 440 Hz tone, μ-law, as the bot's turn */
	int16_t pcm[8000];
	uint8_t mu[8000];
	for (int i = 0; i < 8000; i++)
		pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 440 * i / 8000.0));
	sova_mulaw_encode_frame(pcm, 8000, mu);
	sova_sbuf tail = {0};
	sova_sbuf_adds(&tail, "\"media\":{\"payload\":\"");
	sova_sbuf_base64(&tail, mu, sizeof mu);
	sova_sbuf_adds(&tail, "\"}}");
	say_msg_tail = tail.data;

	int port = 0;
	pid_t sim = start_sim(sim_path, scenarios, &port);
	if (sim < 0) {
		fprintf(stderr, "phonesim_load: the simulator did not start\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	uv_loop_t loop;
	uv_loop_init(&loop);
	void *foreign[1] = {&loop};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = PROTOCOLS;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
	info.foreign_loops = foreign;
	info.fd_limit_per_thread = 1 + 2 * MAX_CALLS + 64;
	ctx = lws_create_context(&info);
	int bot_port = ctx ? lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx, "default")) : 0;
	if (bot_port <= 0)
		return 1;
	uv_timer_t tick;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 10, 10);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	char url[256], body[1024], twiml[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/2010-04-01/Accounts/%s/Calls.json", port, ACCOUNT);
	snprintf(twiml, sizeof twiml, "<Response><Connect><Stream url=\"ws://127.0.0.1:%d/twilio/media/t\"/></Connect></Response>", bot_port);
	sova_sbuf enc = {0};
	sova_sbuf_url_encode(&enc, twiml);
	int created = 0;
	int64_t t_create = now_us();
	for (int i = 0; i < calls; i++) {
		snprintf(body, sizeof body, "To=%%2B1555%07d&From=%%2B15559990000&Twiml=%s", i, enc.data);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_USERPWD, ACCOUNT ":" TOKEN);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		long code = 0;
		if (curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 201)
			created++;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	double create_s = (double)(now_us() - t_create) / 1e6;
	int64_t wait_end = now_us() + 20000000;
	while (num_started < created && now_us() < wait_end)
		uv_run(&loop, UV_RUN_ONCE);
	/* settle, then measure */
	int64_t settle = now_us() + 2000000;
	while (now_us() < settle)
		uv_run(&loop, UV_RUN_ONCE);
	measuring = true;
	double cpu0 = cpu_s(sim);
	int64_t t0 = now_us(), t_end = t0 + (int64_t)seconds * 1000000;
	while (now_us() < t_end)
		uv_run(&loop, UV_RUN_ONCE);
	double window = (double)(now_us() - t0) / 1e6;
	double cpu = cpu_s(sim) - cpu0;
	long rss = rss_kb(sim);
	measuring = false;
	qsort(gaps, num_gaps, sizeof *gaps, cmp64);
	double p50 = num_gaps ? gaps[num_gaps / 2] / 1000.0 : 0, p99 = num_gaps ? gaps[num_gaps * 99 / 100] / 1000.0 : 0;
	double mx = num_gaps ? gaps[num_gaps - 1] / 1000.0 : 0;
	printf("phonesim %s: %d calls created in %.1f s, %d streaming; simulator CPU %.1f%% of a core (%.3f%% a call), RSS %ld KiB"
	       " (%.1f KiB a call)\n",
	       kind, created, create_s, num_started, 100.0 * cpu / window, 100.0 * cpu / window / (num_started ? num_started : 1), rss,
	       (double)rss / (num_started ? num_started : 1));
	printf("  media frames %.1f%% of 50/s a call; gaps between a stream's frames p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	       100.0 * (double)frames / (window * 50.0 * (num_started ? num_started : 1)), p50, p99, mx);
	if (talk)
		printf("  marks %llu, lag past the audio's end mean %.1f ms, max %.1f ms\n", (unsigned long long)marks,
		       marks ? mark_lag_sum / (double)marks : 0.0, mark_lag_max);
	kill(sim, SIGTERM);
	waitpid(sim, NULL, 0);
	unlink(scenarios);
	curl_easy_cleanup(h);
	sova_sbuf_free(&enc);
	free(say_msg_tail);
	uv_timer_stop(&tick);
	uv_close((uv_handle_t *)&tick, NULL);
	lws_context_destroy(ctx);
	uv_run(&loop, UV_RUN_DEFAULT);
	lws_context_destroy(ctx);
	uv_loop_close(&loop);
	free(gaps);
	return 0;
}

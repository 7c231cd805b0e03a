/* Load on sova-standin (bench/standins.sh): N provider streams at real-time pace from one process,
 * through the production clients on one lws/libuv loop, as the bot will run them.
 *
 *   bench_standins --standin PATH --mode deepgram|cartesia --streams N --seconds S
 *
 * deepgram: every stream sends 20 ms PCM16 frames at 16 kHz on a 20 ms timer, speech (a tone) for
 *   1 s then 1 s of silence, phases staggered; reported: finals received against utterances sent,
 *   and each final's lag (arrival minus the wall time its segment's last audio was sent).
 * cartesia: every stream says a line (about 3 s of audio) every 5 s (stand-in paced at real time); reported: turns done,
 *   first-audio latency, frames.
 * Both: the stand-in's CPU (from /proc/<pid>/stat over the window) and this process's own.
 * Bench code only: never linked into `sova`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

#include "bot/speech/stt_deepgram.h"
#include "bot/speech/tts_cartesia.h"

#define RATE 16000
#define FRAME (RATE / 50)
#define MAX_LAGS 200000

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct stream {
	sova_stt *stt;
	sova_tts *tts;
	int phase;          /* frames into its 2 s speech/silence cycle */
	uint64_t frames;    /* sent */
	int64_t *sent_at;   /* wall time of each frame sent (owned) */
	int64_t said_at;    /* cartesia: the turn's say() */
	bool got_audio;
	int errors;
} stream;

static struct {
	int n, seconds;
	bool deepgram;
	stream *s;
	uv_loop_t uv;
	uv_timer_t tick;
	struct lws_context *ctx;
	int64_t start_us, end_us;
	long long finals, utterances, done, turns, frames_out, errors;
	double lag_ms[MAX_LAGS];
	int lags;
	int16_t speech[FRAME], quiet[FRAME];
} b;

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

static void on_stt(void *user, const sova_stt_event *ev)
{
	stream *s = user;
	if (ev->kind == SOVA_STT_ERROR) {
		s->errors++;
		b.errors++;
		fprintf(stderr, "stt error: %s\n", ev->text);
	}
	if (ev->kind != SOVA_STT_FINAL || !ev->text || !*ev->text)
		return;
	b.finals++;
	uint64_t idx = (uint64_t)((ev->start_s + ev->duration_s) * 50 + 0.5);
	if (idx > 0 && idx <= s->frames && b.lags < MAX_LAGS)
		b.lag_ms[b.lags++] = (double)(now_us() - s->sent_at[idx - 1]) / 1000.0;
}

static void on_tts(void *user, const sova_tts_event *ev)
{
	stream *s = user;
	if (ev->kind == SOVA_TTS_AUDIO) {
		b.frames_out++;
		if (!s->got_audio && b.lags < MAX_LAGS) {
			s->got_audio = true;
			b.lag_ms[b.lags++] = (double)(now_us() - s->said_at) / 1000.0;
		}
	} else if (ev->kind == SOVA_TTS_DONE) {
		b.done++;
	} else if (ev->kind == SOVA_TTS_ERROR) {
		s->errors++;
		b.errors++;
		fprintf(stderr, "tts error: %s\n", ev->text);
	}
}

static void on_tick(uv_timer_t *t)
{
	int64_t now = now_us();
	if (now >= b.end_us) {
		uv_timer_stop(t);
		uv_stop(&b.uv);
		return;
	}
	char err[200];
	for (int i = 0; i < b.n; i++) {
		stream *s = &b.s[i];
		bool voiced = s->phase < 50;
		if (b.deepgram) {
			if (s->frames < (uint64_t)b.seconds * 50 + 100) {
				s->sent_at[s->frames++] = now;
				if (!sova_stt_feed(s->stt, voiced ? b.speech : b.quiet, FRAME, err, sizeof err) && !s->errors) {
					s->errors++;
					b.errors++;
				}
			}
			if (s->phase == 49)
				b.utterances++;
		} else if (s->phase == 0) {
			s->said_at = now;
			s->got_audio = false;
			const char *line = "Your appointment is on Tuesday at ten in the morning.";
			if (sova_tts_say(s->tts, line, strlen(line), true, err, sizeof err))
				b.turns++;
		}
		s->phase = (s->phase + 1) % (b.deepgram ? 100 : 250);
	}
}

static long long proc_ticks(pid_t pid)
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
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (long long)(ut + st);
}

int main(int argc, char **argv)
{
	const char *standin = NULL, *mode = "deepgram";
	b.n = 100;
	b.seconds = 20;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--standin"))
			standin = argv[i + 1];
		else if (!strcmp(argv[i], "--mode"))
			mode = argv[i + 1];
		else if (!strcmp(argv[i], "--streams"))
			b.n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			b.seconds = atoi(argv[i + 1]);
	}
	b.deepgram = !strcmp(mode, "deepgram");
	if (!standin || b.n < 1 || b.seconds < 2) {
		fprintf(stderr, "usage: bench_standins --standin PATH --mode deepgram|cartesia --streams N --seconds S\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl = {.rlim_cur = 65536, .rlim_max = 65536};
	setrlimit(RLIMIT_NOFILE, &rl);
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(standin, standin, "--port", "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char line[128] = {0};
	int port = 0;
	for (size_t len = 0; len + 1 < sizeof line && read(fds[0], line + len, 1) == 1; len++)
		if (line[len] == '\n') {
			sscanf(line, "ready port=%d", &port);
			break;
		}
	if (port <= 0) {
		fprintf(stderr, "bench_standins: the stand-in did not start\n");
		return 1;
	}
	for (int i = 0; i < FRAME; i++) {
		b.speech[i] = (int16_t)(8000 * __builtin_sin(2 * 3.14159265 * 440 * i / RATE));
		b.quiet[i] = 0;
	}
	uv_loop_init(&b.uv);
	lws_set_log_level(LLL_ERR, NULL);
	void *foreign[1] = {&b.uv};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_IPV6 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.foreign_loops = foreign;
	info.fd_limit_per_thread = 1 + 8192;
	b.ctx = lws_create_context(&info);
	b.s = calloc((size_t)b.n, sizeof *b.s);
	if (!b.ctx || !b.s)
		return 1;
	char base[128], err[200];
	snprintf(base, sizeof base, "ws://127.0.0.1:%d", port);
	for (int i = 0; i < b.n; i++) {
		stream *s = &b.s[i];
		s->phase = (i * 7) % (b.deepgram ? 100 : 250);
		if (b.deepgram) {
			sova_deepgram_config dg = {.api_key = "bench", .base_url = base};
			sova_stt_config cfg = {.sample_rate = RATE, .endpointing_ms = 300, .utterance_end_ms = 1000};
			s->sent_at = calloc((size_t)b.seconds * 50 + 100, sizeof *s->sent_at);
			s->stt = sova_stt_deepgram_new(b.ctx, &dg, &cfg, on_stt, s, err, sizeof err);
			sova_stt_options opt = {.search = SOVA_STT_SEARCH_OPEN, .interim_results = true};
			if (!s->stt || !s->sent_at || !sova_stt_start(s->stt, &opt, err, sizeof err)) {
				fprintf(stderr, "stream %d: %s\n", i, err);
				return 1;
			}
		} else {
			char cbase[160];
			snprintf(cbase, sizeof cbase, "%s/x/realtime=1", base);
			sova_cartesia_config cc = {.api_key = "bench", .base_url = cbase};
			sova_tts_config cfg = {.voice = "bench-voice", .sample_rate = 16000, .frame_ms = 20};
			s->tts = sova_tts_cartesia_new(b.ctx, &cc, &cfg, on_tts, s, err, sizeof err);
			if (!s->tts) {
				fprintf(stderr, "stream %d: %s\n", i, err);
				return 1;
			}
		}
	}
	/* let the connections open, then measure */
	uv_timer_init(&b.uv, &b.tick);
	int64_t t0 = now_us();
	while (now_us() - t0 < 2000000)
		uv_run(&b.uv, UV_RUN_ONCE);
	long long st0 = proc_ticks(pid);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	b.start_us = now_us();
	b.end_us = b.start_us + (int64_t)b.seconds * 1000000;
	uv_timer_start(&b.tick, on_tick, 20, 20);
	uv_run(&b.uv, UV_RUN_DEFAULT);
	double wall = (double)(now_us() - b.start_us) / 1e6;
	long long st1 = proc_ticks(pid);
	getrusage(RUSAGE_SELF, &ru1);
	double self = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double standin_cores = (double)(st1 - st0) / (double)sysconf(_SC_CLK_TCK) / wall;
	qsort(b.lag_ms, (size_t)b.lags, sizeof b.lag_ms[0], cmp);
	double p50 = b.lags ? b.lag_ms[b.lags / 2] : 0, p99 = b.lags ? b.lag_ms[(int)(b.lags * 0.99)] : 0,
	       mx = b.lags ? b.lag_ms[b.lags - 1] : 0;
	if (b.deepgram)
		printf("deepgram: %d streams, %.1f s, utterances %lld, finals %lld, final lag p50 %.1f ms p99 %.1f ms max %.1f ms, "
		       "errors %lld, stand-in %.2f cores, clients %.2f cores\n",
		       b.n, wall, b.utterances, b.finals, p50, p99, mx, b.errors, standin_cores, self / wall);
	else
		printf("cartesia: %d streams, %.1f s, turns %lld, done %lld, frames %lld, first audio p50 %.1f ms p99 %.1f ms max %.1f ms, "
		       "errors %lld, stand-in %.2f cores, clients %.2f cores\n",
		       b.n, wall, b.turns, b.done, b.frames_out, p50, p99, mx, b.errors, standin_cores, self / wall);
	for (int i = 0; i < b.n; i++) {
		sova_stt_free(b.s[i].stt);
		sova_tts_free(b.s[i].tts);
		free(b.s[i].sent_at);
	}
	free(b.s);
	uv_close((uv_handle_t *)&b.tick, NULL);
	lws_context_destroy(b.ctx);
	uv_run(&b.uv, UV_RUN_DEFAULT);
	lws_context_destroy(b.ctx);
	uv_loop_close(&b.uv);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return 0;
}

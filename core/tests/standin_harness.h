/* What the provider tests share: sova-standin as a child process on a free loopback port (it
 * picks the port and says so), an lws context on a libuv loop made the way the bot makes its own,
 * running that loop until a condition holds, test audio, and a certificate made with the openssl
 * command for wss://. Header-only: each test is one program. */
#ifndef SOVA_TESTS_STANDIN_HARNESS_H
#define SOVA_TESTS_STANDIN_HARNESS_H
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

typedef struct standin {
	pid_t pid;
	int port;
} standin;

/* Stand-ins still running, so a failed test (cmocka jumps out of it) still stops its own. */
static standin *running_standins[8];

/* Starts sova-standin with extra arguments (NULL-terminated); false when it did not say ready.
 * SOVA_STANDIN_WRAPPER (e.g. "valgrind") runs it under that program, for debugging. */
static bool standin_start(standin *s, const char *const *extra)
{
	int fds[2];
	if (pipe(fds) != 0)
		return false;
	const char *argv[16];
	int n = 0;
	if (getenv("SOVA_STANDIN_WRAPPER"))
		argv[n++] = getenv("SOVA_STANDIN_WRAPPER");
	argv[n++] = SOVA_STANDIN_PATH;
	argv[n++] = "--port";
	argv[n++] = "0";
	for (int i = 0; extra && extra[i] && n < 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	s->pid = fork();
	if (s->pid < 0)
		return false;
	if (s->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	char line[128];
	size_t len = 0;
	s->port = 0;
	while (len + 1 < sizeof line) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t r = read(fds[0], line + len, 1);
		if (r <= 0)
			break;
		if (line[len] == '\n') {
			line[len] = '\0';
			sscanf(line, "ready port=%d", &s->port);
			break;
		}
		len++;
	}
	close(fds[0]);
	for (int i = 0; i < 8; i++)
		if (!running_standins[i]) {
			running_standins[i] = s;
			break;
		}
	return s->port > 0;
}

static void standin_stop(standin *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		int status = 0;
		waitpid(s->pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
			fprintf(stderr, "# sova-standin died of signal %d\n", WTERMSIG(status)); /* a stand-in bug */
	}
	s->pid = 0;
	for (int i = 0; i < 8; i++)
		if (running_standins[i] == s)
			running_standins[i] = NULL;
}

/* cmocka teardown: stops what a failed test left running. */
__attribute__((unused)) static int stop_standins(void **state)
{
	(void)state;
	for (int i = 0; i < 8; i++)
		if (running_standins[i])
			standin_stop(running_standins[i]);
	return 0;
}

/* ---- The loop ---- */

typedef struct test_loop {
	uv_loop_t uv;
	uv_timer_t tick;
	struct lws_context *ctx;
} test_loop;

static void on_test_tick(uv_timer_t *t) { (void)t; }

static bool loop_init(test_loop *l)
{
	memset(l, 0, sizeof *l);
	if (uv_loop_init(&l->uv) != 0)
		return false;
	lws_set_log_level(getenv("SOVA_LWS_LOG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : 0, NULL);
	void *foreign[1] = {&l->uv};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_IPV6 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.foreign_loops = foreign;
	l->ctx = lws_create_context(&info);
	uv_timer_init(&l->uv, &l->tick);
	uv_timer_start(&l->tick, on_test_tick, 5, 5);
	return l->ctx != NULL;
}

static int64_t test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until done(ud) or timeout_ms; returns done(ud). */
static bool loop_until(test_loop *l, bool (*done)(void *), void *ud, int timeout_ms)
{
	int64_t end = test_now_ms() + timeout_ms;
	while (!(done && done(ud)) && test_now_ms() < end)
		uv_run(&l->uv, UV_RUN_ONCE);
	return done && done(ud);
}

static void loop_run_ms(test_loop *l, int ms) { loop_until(l, NULL, NULL, ms); }

static void loop_free(test_loop *l)
{
	uv_timer_stop(&l->tick);
	uv_close((uv_handle_t *)&l->tick, NULL);
	/* lws 4.1 on a foreign loop: the first call closes its handles on the loop, the second frees
	 * the context once the loop has run them down */
	lws_context_destroy(l->ctx);
	uv_run(&l->uv, UV_RUN_DEFAULT);
	lws_context_destroy(l->ctx);
	uv_loop_close(&l->uv);
}

/* ---- Test audio: a tone for speech (the Deepgram stand-in listens for level), silence ---- */

__attribute__((unused)) static size_t tone(int16_t *out, int rate, int ms, double freq, double dbfs)
{
	size_t n = (size_t)rate * (size_t)ms / 1000;
	double amp = 32767.0 * pow(10.0, dbfs / 20.0) * sqrt(2.0);
	for (size_t i = 0; i < n; i++)
		out[i] = (int16_t)(amp * sin(2 * M_PI * freq * (double)i / rate));
	return n;
}

__attribute__((unused)) static size_t silence(int16_t *out, int rate, int ms)
{
	size_t n = (size_t)rate * (size_t)ms / 1000;
	memset(out, 0, n * sizeof *out);
	return n;
}

/* ---- A certificate for localhost, made at test time ---- */

typedef struct test_cert {
	char dir[64], cert[96], key[96];
} test_cert;

__attribute__((unused)) static bool cert_make(test_cert *c)
{
	snprintf(c->dir, sizeof c->dir, "/tmp/sova-standin-XXXXXX");
	if (!mkdtemp(c->dir))
		return false;
	snprintf(c->cert, sizeof c->cert, "%s/cert.pem", c->dir);
	snprintf(c->key, sizeof c->key, "%s/key.pem", c->dir);
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
		 "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
		 c->key, c->cert);
	return system(cmd) == 0;
}

__attribute__((unused)) static void cert_remove(test_cert *c)
{
	unlink(c->cert);
	unlink(c->key);
	rmdir(c->dir);
}
#endif

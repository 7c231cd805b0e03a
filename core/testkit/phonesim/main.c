/* sova-phone-sim: the process (phonesim.h, README.md).
 *
 *   sova-phone-sim --account-sid AC… --auth-token T [--port P] [--host 127.0.0.1]
 *                  [--scenarios FILE] [--events FILE] [--ca-file PEM]
 *
 * The account SID and auth token may come from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN instead.
 * Prints "ready port=<port>" on stdout once listening (port 0 picks a free one) and the scenarios'
 * audio is made. Stops on SIGTERM/SIGINT, printing "phonesim: <n> calls, <m> still up". */
#include "phonesim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libwebsockets.h>
#include <uv.h>

#include "bot/speech/provider_util.h"
#include "call.h"
#include "clips.h"
#include "events.h"
#include "rest.h"
#include "scenario.h"
#include "webhook.h"

#define TICK_MS 10 /* the callee's 20 ms frames leave within half a frame of their time */

ps_options ps_opt;
struct lws_context *ps_ctx;
int64_t ps_started_us;

static uv_loop_t loop;
static uv_signal_t sigterm, sigint;
static uv_timer_t tick;

int64_t ps_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ps_new_sid(char out[PS_SID_LEN], const char *prefix)
{
	char a[17], b[17];
	sova_random_hex16(a);
	sova_random_hex16(b);
	snprintf(out, PS_SID_LEN, "%.2s%s%s", prefix, a, b);
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
	ps_calls_tick(ps_now_us());
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	uv_signal_stop(&sigterm);
	uv_signal_stop(&sigint);
	uv_timer_stop(&tick);
	uv_stop(&loop);
}

/* Hundreds of calls: a stream and a webhook socket each, beyond the usual soft limit of 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: sova-phone-sim [--account-sid AC…] [--auth-token T] [--port P] [--host H] [--scenarios FILE]\n"
			"                      [--events FILE] [--ca-file PEM]\n"
			"       (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN stand in for the first two)\n");
	return 64;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *scenarios = NULL, *events = NULL;
	int port = 0;
	ps_opt.account_sid = getenv("TWILIO_ACCOUNT_SID");
	ps_opt.auth_token = getenv("TWILIO_AUTH_TOKEN");
	if (argc % 2 == 0)
		return usage();
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port"))
			port = atoi(v);
		else if (!strcmp(k, "--host"))
			host = v;
		else if (!strcmp(k, "--account-sid"))
			ps_opt.account_sid = v;
		else if (!strcmp(k, "--auth-token"))
			ps_opt.auth_token = v;
		else if (!strcmp(k, "--scenarios"))
			scenarios = v;
		else if (!strcmp(k, "--events"))
			events = v;
		else if (!strcmp(k, "--ca-file"))
			ps_opt.ca_file = v;
		else
			return usage();
	}
	if (!ps_opt.account_sid || strncmp(ps_opt.account_sid, "AC", 2) != 0 || !ps_opt.auth_token || !*ps_opt.auth_token) {
		fprintf(stderr, "sova-phone-sim: an account SID (AC…) and an auth token are needed\n");
		return usage();
	}
	ps_started_us = ps_now_us();
	char err[512];
	if (!ps_clips_init(err, sizeof err) || (scenarios && !ps_scenarios_load(scenarios, err, sizeof err)) ||
	    !ps_events_open(events, err, sizeof err)) {
		fprintf(stderr, "sova-phone-sim: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	lws_set_log_level(getenv("SOVA_LWS_LOG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : LLL_ERR, NULL);
	if (uv_loop_init(&loop) != 0)
		return 1;
	void *foreign[1] = {&loop};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = ps_rest_protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = foreign;
	info.fd_limit_per_thread = 1 + 16384;
	info.timeout_secs = 30;
	info.keepalive_timeout = 5;
	info.max_http_header_pool = 256;
	ps_ctx = lws_create_context(&info);
	struct lws_vhost *vh = ps_ctx ? lws_get_vhost_by_name(ps_ctx, "default") : NULL;
	ps_opt.port = vh ? lws_get_vhost_listen_port(vh) : -1;
	if (!ps_ctx || ps_opt.port <= 0 || !ps_webhooks_init(err, sizeof err)) {
		fprintf(stderr, "sova-phone-sim: cannot listen on %s:%d (or start its clients)\n", host, port);
		return 1;
	}
	ps_ev e;
	ps_ev_begin(&e, NULL, "ready");
	ps_ev_int(&e, "port", ps_opt.port);
	ps_ev_end(&e);
	printf("ready port=%d\n", ps_opt.port);
	fflush(stdout);
	uv_signal_init(&loop, &sigterm);
	uv_signal_init(&loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
	uv_run(&loop, UV_RUN_DEFAULT);
	printf("phonesim: %d calls still up\n", ps_calls_alive());
	fflush(stdout);
	ps_calls_free();
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	lws_context_destroy(ps_ctx); /* on a foreign loop: closes, then the second call frees */
	uv_run(&loop, UV_RUN_DEFAULT);
	lws_context_destroy(ps_ctx);
	uv_loop_close(&loop);
	ps_scenarios_free();
	ps_clips_free();
	ps_events_close();
	return 0;
}

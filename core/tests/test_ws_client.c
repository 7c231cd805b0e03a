/* The providers' WebSocket client (core/bot/speech/ws_client.h) against sova-standin on loopback:
 * open, frames both ways, close codes, 401, connect timeout, refused port, the send queue's
 * bound, a free inside a callback, and wss:// with and without the test CA. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "bot/speech/ws_client.h"
#include "standin_harness.h"

typedef struct probe {
	bool opened, closed, errored, free_on_open;
	int close_code;
	char reason[200];
	int frames;
	char last[4096];
	sova_ws_client *c;
} probe;

static void p_open(void *ud)
{
	probe *p = ud;
	p->opened = true;
	if (p->free_on_open) {
		sova_ws_client_free(p->c);
		p->c = NULL;
	}
}

static void p_frame(void *ud, const uint8_t *data, size_t len, bool binary)
{
	probe *p = ud;
	p->frames++;
	snprintf(p->last, sizeof p->last, "%.*s", binary ? 0 : (int)len, (const char *)data);
}

static void p_close(void *ud, int code, const char *reason)
{
	probe *p = ud;
	p->closed = true;
	p->close_code = code;
	snprintf(p->reason, sizeof p->reason, "%s", reason);
}

static void p_error(void *ud, const char *reason)
{
	probe *p = ud;
	p->errored = true;
	snprintf(p->reason, sizeof p->reason, "%s", reason);
}

static bool ended(void *ud)
{
	probe *p = ud;
	return p->closed || p->errored;
}

static bool opened(void *ud)
{
	probe *p = ud;
	return p->opened || p->errored;
}

static bool got_frame(void *ud) { return ((probe *)ud)->frames >= 1 || ended(ud); }

static sova_ws_client *connect_to(test_loop *l, probe *p, const char *url, const char *ca, const sova_ws_header *h, size_t nh)
{
	sova_ws_client_config cfg = {.url = url, .headers = h, .num_headers = nh, .ca_file = ca, .connect_timeout_ms = 2000};
	sova_ws_callbacks cb = {.on_open = p_open, .on_frame = p_frame, .on_close = p_close, .on_error = p_error, .ud = p};
	char err[200];
	p->c = sova_ws_client_new(l->ctx, &cfg, &cb, err, sizeof err);
	return p->c;
}

static void test_frames_both_ways_and_a_clean_close(void **state)
{
	(void)state;
	static standin s;
	assert_true(standin_start(&s, NULL));
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/listen?sample_rate=16000&encoding=linear16", s.port);
	probe p = {0};
	assert_non_null(connect_to(&l, &p, url, NULL, NULL, 0));
	/* queued before the handshake is done, sent once it is */
	assert_int_equal(sova_ws_client_send(p.c, "{\"type\":\"Finalize\"}", 19, false), SOVA_WSC_QUEUED);
	assert_true(loop_until(&l, opened, &p, 5000));
	assert_true(p.opened);
	assert_true(sova_ws_client_is_open(p.c));
	assert_true(loop_until(&l, got_frame, &p, 5000));
	assert_non_null(strstr(p.last, "\"type\":\"Results\""));
	assert_int_equal(sova_ws_client_send(p.c, "{\"type\":\"CloseStream\"}", 22, false), SOVA_WSC_QUEUED);
	assert_true(loop_until(&l, ended, &p, 5000));
	assert_true(p.closed);
	if (p.close_code != 1000)
		print_message("# frames %d last %.80s reason %s\n", p.frames, p.last, p.reason);
	assert_int_equal(p.close_code, 1000);
	assert_non_null(strstr(p.last, "Metadata"));
	sova_ws_client_free(p.c);
	loop_free(&l);
	standin_stop(&s);
}

static void test_our_close_code_reaches_the_peer_and_back(void **state)
{
	(void)state;
	static standin s;
	assert_true(standin_start(&s, NULL));
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/tts/websocket", s.port);
	probe p = {0};
	assert_non_null(connect_to(&l, &p, url, NULL, NULL, 0));
	assert_true(loop_until(&l, opened, &p, 5000));
	sova_ws_client_close(p.c, 4000, "done here");
	assert_int_equal(sova_ws_client_send(p.c, "x", 1, false), SOVA_WSC_CLOSED);
	assert_true(loop_until(&l, ended, &p, 5000));
	assert_true(p.closed);
	assert_int_equal(p.close_code, 4000);
	sova_ws_client_free(p.c);
	loop_free(&l);
	standin_stop(&s);
}

static void test_401_is_a_clear_error(void **state)
{
	(void)state;
	static standin s;
	const char *args[] = {"--key", "right-key", NULL};
	assert_true(standin_start(&s, args));
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/listen", s.port);
	sova_ws_header h = {"Authorization", "Token wrong-key"};
	probe p = {0};
	assert_non_null(connect_to(&l, &p, url, NULL, &h, 1));
	assert_true(loop_until(&l, ended, &p, 5000));
	assert_true(p.errored);
	assert_false(p.opened);
	assert_non_null(strstr(p.reason, "HTTP 401"));
	sova_ws_client_free(p.c);
	/* the right key opens */
	sova_ws_header ok = {"Authorization", "Token right-key"};
	probe q = {0};
	assert_non_null(connect_to(&l, &q, url, NULL, &ok, 1));
	assert_true(loop_until(&l, opened, &q, 5000));
	assert_true(q.opened);
	sova_ws_client_free(q.c);
	loop_free(&l);
	standin_stop(&s);
}

static void test_a_silent_server_times_out_and_a_closed_port_is_refused(void **state)
{
	(void)state;
	/* a socket that listens and never answers: TCP connects, the handshake never comes */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/listen", ntohs(a.sin_port));
	sova_ws_client_config cfg = {.url = url, .connect_timeout_ms = 300};
	probe p = {0};
	sova_ws_callbacks cb = {.on_open = p_open, .on_frame = p_frame, .on_close = p_close, .on_error = p_error, .ud = &p};
	char err[200];
	p.c = sova_ws_client_new(l.ctx, &cfg, &cb, err, sizeof err);
	assert_non_null(p.c);
	assert_true(loop_until(&l, ended, &p, 5000));
	assert_true(p.errored);
	assert_non_null(strstr(p.reason, "timeout"));
	sova_ws_client_free(p.c);
	close(fd); /* now nothing listens there */
	probe q = {0};
	cb.ud = &q;
	q.c = sova_ws_client_new(l.ctx, &cfg, &cb, err, sizeof err);
	if (q.c) {
		assert_true(loop_until(&l, ended, &q, 5000));
		assert_true(q.errored);
		assert_non_null(strstr(q.reason, "connect"));
		sova_ws_client_free(q.c);
	}
	loop_free(&l);
}

static void test_the_queue_is_bounded_and_bad_input_is_refused(void **state)
{
	(void)state;
	test_loop l;
	assert_true(loop_init(&l));
	probe p = {0};
	sova_ws_callbacks cb = {.on_open = p_open, .on_frame = p_frame, .on_close = p_close, .on_error = p_error, .ud = &p};
	char err[200];
	sova_ws_client_config bad = {.url = "http://example.org/"};
	assert_null(sova_ws_client_new(l.ctx, &bad, &cb, err, sizeof err));
	assert_non_null(strstr(err, "ws://"));
	sova_ws_header h = {"Bad: name", "v"};
	sova_ws_client_config badh = {.url = "ws://127.0.0.1:9/", .headers = &h, .num_headers = 1};
	assert_null(sova_ws_client_new(l.ctx, &badh, &cb, err, sizeof err));
	sova_ws_client_config cfg = {.url = "ws://127.0.0.1:9/", .max_queued_bytes = 100, .connect_timeout_ms = 200};
	sova_ws_client *c = sova_ws_client_new(l.ctx, &cfg, &cb, err, sizeof err);
	assert_non_null(c);
	char buf[60] = {0};
	assert_int_equal(sova_ws_client_send(c, buf, sizeof buf, true), SOVA_WSC_QUEUED);
	assert_int_equal(sova_ws_client_send(c, buf, sizeof buf, true), SOVA_WSC_FULL);
	assert_int_equal(sova_ws_client_queued_bytes(c), 60);
	sova_ws_client_free(c); /* before it ever connected: nothing is called back */
	loop_run_ms(&l, 300);
	assert_false(p.opened || p.closed || p.errored);
	loop_free(&l);
}

static void test_free_inside_a_callback(void **state)
{
	(void)state;
	static standin s;
	assert_true(standin_start(&s, NULL));
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/tts/websocket", s.port);
	probe p = {.free_on_open = true};
	assert_non_null(connect_to(&l, &p, url, NULL, NULL, 0));
	assert_true(loop_until(&l, opened, &p, 5000));
	assert_null(p.c);
	loop_run_ms(&l, 100);
	assert_false(p.closed || p.errored); /* freed: no callback after */
	loop_free(&l);
	standin_stop(&s);
}

static void test_wss_with_the_test_ca_and_refused_without_it(void **state)
{
	(void)state;
	test_cert cert;
	assert_true(cert_make(&cert));
	static standin s;
	const char *args[] = {"--tls-cert", cert.cert, "--tls-key", cert.key, NULL};
	assert_true(standin_start(&s, args));
	test_loop l;
	assert_true(loop_init(&l));
	char url[160];
	snprintf(url, sizeof url, "wss://localhost:%d/v1/listen?sample_rate=16000", s.port);
	probe p = {0};
	assert_non_null(connect_to(&l, &p, url, cert.cert, NULL, 0));
	assert_true(loop_until(&l, opened, &p, 5000));
	if (!p.opened)
		print_message("# %s\n", p.reason);
	assert_true(p.opened);
	assert_int_equal(sova_ws_client_send(p.c, "{\"type\":\"Finalize\"}", 19, false), SOVA_WSC_QUEUED);
	assert_true(loop_until(&l, got_frame, &p, 3000));
	assert_non_null(strstr(p.last, "Results"));
	sova_ws_client_free(p.c);
	/* the system's CAs do not know the test certificate */
	probe q = {0};
	assert_non_null(connect_to(&l, &q, url, NULL, NULL, 0));
	assert_true(loop_until(&l, ended, &q, 5000));
	assert_true(q.errored);
	assert_false(q.opened);
	sova_ws_client_free(q.c);
	loop_free(&l);
	standin_stop(&s);
	cert_remove(&cert);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_frames_both_ways_and_a_clean_close, stop_standins),
		cmocka_unit_test_teardown(test_our_close_code_reaches_the_peer_and_back, stop_standins),
		cmocka_unit_test_teardown(test_401_is_a_clear_error, stop_standins),
		cmocka_unit_test_teardown(test_a_silent_server_times_out_and_a_closed_port_is_refused, stop_standins),
		cmocka_unit_test_teardown(test_the_queue_is_bounded_and_bad_input_is_refused, stop_standins),
		cmocka_unit_test_teardown(test_free_inside_a_callback, stop_standins),
		cmocka_unit_test_teardown(test_wss_with_the_test_ca_and_refused_without_it, stop_standins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The HTTP server's limits (core/http/server.c), against a real civetweb listener on loopback:
 * bodies over 1 MiB are refused with 413 before any handler runs; bodies that end early are 400. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/server.h"
#include "http_exchange.h"

static sova_http_server *srv;
static int handled; /* requests that reached the handler */
static size_t last_len;
static char answer[64];

static void handler(const sova_http_request *req, sova_http_response *res, void *ud)
{
	__atomic_add_fetch(&handled, 1, __ATOMIC_SEQ_CST);
	last_len = req->body_len;
	int n = snprintf(answer, sizeof answer, "{\"len\":%zu}", req->body_len);
	res->status = 200;
	res->body = answer;
	res->body_len = (size_t)n;
}

static int start(void **state)
{
	char err[128];
	sova_http_config cfg = {.host = "127.0.0.1", .port = 0, .threads = 2, .handler = handler};
	srv = sova_http_start(&cfg, err, sizeof err);
	return srv ? 0 : -1;
}

static int stop(void **state)
{
	sova_http_stop(srv);
	return 0;
}

static int exchange(const char *head, const char *body, size_t body_len, char *out, size_t n)
{
	return http_exchange(sova_http_port(srv), head, body, body_len, out, n);
}

static char *filled(size_t n)
{
	char *b = malloc(n);
	assert_non_null(b);
	memset(b, 'x', n);
	return b;
}

static void a_body_of_exactly_1_mib_is_accepted(void **state)
{
	char head[256], out[4096];
	char *body = filled(SOVA_HTTP_MAX_BODY);
	snprintf(head, sizeof head, "POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		 SOVA_HTTP_MAX_BODY);
	assert_int_equal(exchange(head, body, SOVA_HTTP_MAX_BODY, out, sizeof out), 200);
	assert_int_equal(last_len, SOVA_HTTP_MAX_BODY);
	free(body);
}

static void a_declared_body_over_1_mib_is_413_before_the_handler(void **state)
{
	int before = handled;
	char head[256], out[4096];
	snprintf(head, sizeof head, "POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		 SOVA_HTTP_MAX_BODY + 1);
	char *body = filled(SOVA_HTTP_MAX_BODY + 1);
	assert_int_equal(exchange(head, body, SOVA_HTTP_MAX_BODY + 1, out, sizeof out), 413);
	assert_non_null(strstr(out, "\"code\":\"payload_too_large\""));
	assert_non_null(strstr(out, "Content-Type: application/json"));
	assert_int_equal(handled, before);
	free(body);
}

static void a_chunked_body_over_1_mib_is_413(void **state)
{
	int before = handled;
	/* 33 chunks of 32 KiB: 1 MiB + 32 KiB, no length declared up front */
	size_t chunk = 32 * 1024, count = 33;
	size_t total = count * (chunk + 16) + 8;
	char *body = malloc(total), *p = body;
	assert_non_null(body);
	for (size_t i = 0; i < count; i++) {
		p += sprintf(p, "%zx\r\n", chunk);
		memset(p, 'x', chunk);
		p += chunk;
		p += sprintf(p, "\r\n");
	}
	p += sprintf(p, "0\r\n\r\n");
	char out[4096];
	int status = exchange("POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
			      body, (size_t)(p - body), out, sizeof out);
	assert_int_equal(status, 413);
	assert_int_equal(handled, before);
	free(body);
}

static void a_body_shorter_than_declared_is_400(void **state)
{
	int before = handled;
	char out[4096];
	int status = exchange("POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 100\r\n\r\n", "short", 5,
			      out, sizeof out);
	assert_int_equal(status, 400);
	assert_int_equal(handled, before);
}

static void security_headers_come_with_every_answer(void **state)
{
	char out[4096];
	assert_int_equal(exchange("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "", 0, out, sizeof out), 200);
	assert_non_null(strstr(out, "Cache-Control: no-store"));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(out, "X-Frame-Options: DENY"));
	assert_non_null(strstr(out, "{\"len\":0}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_body_of_exactly_1_mib_is_accepted),
		cmocka_unit_test(a_declared_body_over_1_mib_is_413_before_the_handler),
		cmocka_unit_test(a_chunked_body_over_1_mib_is_413),
		cmocka_unit_test(a_body_shorter_than_declared_is_400),
		cmocka_unit_test(security_headers_come_with_every_answer),
	};
	return cmocka_run_group_tests(tests, start, stop);
}

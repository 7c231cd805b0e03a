/* Outbound HTTP's name pinning and resolution (core/http/client.c), against a real civetweb
 * listener on loopback: a request whose resolve list pins a name goes to the pinned address
 * (even a name no resolver knows), tries each pinned address in turn, and goes nowhere else;
 * sova_lookup gives numeric, distinct addresses and fails cleanly. Run under ASan in the
 * sanitizer build, so every path of both frees what it allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "http/client.h"
#include "http/server.h"

static sova_http_server *srv;
static char seen_host[256];

static void handler(const sova_http_request *req, sova_http_response *res, void *ud)
{
	(void)ud;
	for (int i = 0; i < req->num_headers; i++)
		if (strcasecmp(req->headers[i].name, "Host") == 0)
			snprintf(seen_host, sizeof seen_host, "%s", req->headers[i].value);
	res->status = 200;
	res->body = "pinned";
	res->body_len = 6;
}

static int start(void **state)
{
	(void)state;
	char err[128];
	sova_http_config cfg = {.host = "127.0.0.1", .port = 0, .threads = 2, .handler = handler};
	srv = sova_http_start(&cfg, err, sizeof err);
	return srv ? 0 : -1;
}

static int stop(void **state)
{
	(void)state;
	sova_http_stop(srv);
	return 0;
}

/* one GET of url with the resolve list; the response's status, or -1 with err */
static long get(const char *url, const char *const *pins, int n, char *err, size_t errlen)
{
	sova_fetch_request req = {.method = "GET", .url = url, .timeout_ms = 3000, .resolve = pins, .num_resolve = n};
	sova_fetch_response res;
	int rc = sova_fetch(&req, &res, err, errlen);
	long status = rc == 0 ? res.status : -1;
	if (rc == 0)
		assert_memory_equal(res.body.data, "pinned", 6);
	sova_sbuf_free(&res.body);
	sova_sbuf_free(&res.headers);
	return status;
}

static void a_pinned_name_reaches_the_pinned_address(void **state)
{
	(void)state;
	char url[128], pin[128], err[256];
	int port = sova_http_port(srv);
	snprintf(url, sizeof url, "http://hooks.sova.invalid:%d/x", port);
	snprintf(pin, sizeof pin, "hooks.sova.invalid:%d:127.0.0.1", port);
	const char *pins[] = {pin};
	seen_host[0] = 0;
	assert_int_equal(get(url, pins, 1, err, sizeof err), 200);
	char want[64];
	snprintf(want, sizeof want, "hooks.sova.invalid:%d", port);
	assert_string_equal(seen_host, want);
}

static void each_pinned_address_is_tried_in_turn(void **state)
{
	(void)state;
	char url[128], pin[128], err[256];
	int port = sova_http_port(srv);
	snprintf(url, sizeof url, "http://two.sova.invalid:%d/", port);
	snprintf(pin, sizeof pin, "two.sova.invalid:%d:127.0.0.2,127.0.0.1", port);
	const char *pins[] = {pin};
	assert_int_equal(get(url, pins, 1, err, sizeof err), 200);
}

static void a_pin_to_a_closed_address_goes_nowhere_else(void **state)
{
	(void)state;
	char url[128], pin[128], err[256] = "";
	int port = sova_http_port(srv);
	/* localhost resolves to the listener, but the pin says 127.0.0.9, where nothing listens */
	snprintf(url, sizeof url, "http://localhost:%d/", port);
	snprintf(pin, sizeof pin, "localhost:%d:127.0.0.9", port);
	const char *pins[] = {pin};
	assert_int_equal(get(url, pins, 1, err, sizeof err), -1);
	assert_true(strlen(err) > 0);
	/* without the pin the same URL answers: the pin, not the URL, sent it away */
	assert_int_equal(get(url, NULL, 0, err, sizeof err), 200);
}

static void an_unpinned_unknown_name_fails_with_a_message(void **state)
{
	(void)state;
	char err[256] = "";
	assert_int_equal(get("http://nowhere.sova.invalid/", NULL, 0, err, sizeof err), -1);
	assert_true(strlen(err) > 0);
}

static void lookup_gives_distinct_numeric_addresses(void **state)
{
	(void)state;
	char addrs[SOVA_LOOKUP_MAX][SOVA_ADDRSTRLEN], err[256];
	int n = sova_lookup("localhost", addrs, SOVA_LOOKUP_MAX, err, sizeof err);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		assert_true(strcmp(addrs[i], "127.0.0.1") == 0 || strcmp(addrs[i], "::1") == 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(addrs[i], addrs[j]);
	}
	assert_int_equal(sova_lookup("127.0.0.1", addrs, SOVA_LOOKUP_MAX, err, sizeof err), 1);
	assert_string_equal(addrs[0], "127.0.0.1");
	assert_int_equal(sova_lookup("::1", addrs, 1, err, sizeof err), 1);
	assert_string_equal(addrs[0], "::1");
}

static void lookup_fails_cleanly(void **state)
{
	(void)state;
	char addrs[2][SOVA_ADDRSTRLEN], err[256] = "";
	assert_int_equal(sova_lookup("no-such-host.sova.invalid", addrs, 2, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot resolve no-such-host.sova.invalid"));
	assert_int_equal(sova_lookup("", addrs, 2, err, sizeof err), -1);
	assert_int_equal(sova_lookup(NULL, addrs, 2, err, sizeof err), -1);
	assert_int_equal(sova_lookup("localhost", addrs, 0, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_pinned_name_reaches_the_pinned_address),
		cmocka_unit_test(each_pinned_address_is_tried_in_turn),
		cmocka_unit_test(a_pin_to_a_closed_address_goes_nowhere_else),
		cmocka_unit_test(an_unpinned_unknown_name_fails_with_a_message),
		cmocka_unit_test(lookup_gives_distinct_numeric_addresses),
		cmocka_unit_test(lookup_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, start, stop);
}

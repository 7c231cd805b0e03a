/* The web app's files served by the HTTP server itself (sova_http_site in core/http/server.c),
 * against a real civetweb listener on loopback and a scratch directory: what reaches the handler,
 * conditional requests, precompressed files (and stale ones left alone), the SPA fallback and
 * refused dot segments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/server.h"
#include "http_exchange.h"

static sova_http_server *srv;
static char dir[] = "/tmp/sova-test-site-XXXXXX";
static int handled; /* requests that reached the handler */

static void handler(const sova_http_request *req, sova_http_response *res, void *ud)
{
	__atomic_add_fetch(&handled, 1, __ATOMIC_SEQ_CST);
	res->status = 200;
	res->body = "{\"handler\":true}";
	res->body_len = strlen(res->body);
}

static void write_file(const char *rel, const char *text, time_t mtime)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	struct timeval tv[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	assert_int_equal(utimes(path, tv), 0);
}

static int start(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	char assets[512];
	snprintf(assets, sizeof assets, "%s/assets", dir);
	if (mkdir(assets, 0700) != 0)
		return -1;
	write_file("index.html", "<!doctype html><title>site test</title>", 1700000000);
	write_file("assets/app.js", "console.log('plain')", 1700000000);
	write_file("assets/app.js.gz", "GZIPPED-APP", 1700000000);
	write_file("assets/old.css", "body{}", 1700000100);
	write_file("assets/old.css.gz", "STALE-GZIP", 1700000000); /* older than old.css */
	char err[128];
	sova_http_config cfg = {
		.host = "127.0.0.1", .port = 0, .threads = 2, .handler = handler,
		.site = {.dir = dir, .api_prefix = "/api", .also = "/metrics", .csp = "default-src 'self'"},
	};
	srv = sova_http_start(&cfg, err, sizeof err);
	return srv ? 0 : -1;
}

static int stop(void **state)
{
	sova_http_stop(srv);
	const char *rels[] = {"assets/app.js", "assets/app.js.gz", "assets/old.css", "assets/old.css.gz",
			      "index.html", "assets", ""};
	for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, rels[i]);
		remove(path);
	}
	return 0;
}

/* Sends one request (head lines after the request line), returns the status; the response in out. */
static int exchange(const char *method, const char *path, const char *headers, char *out, size_t n)
{
	char req[1024];
	snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n", method, path, headers);
	return http_exchange(sova_http_port(srv), req, "", 0, out, n);
}

/* The value of a response header (copied into v), or NULL. */
static const char *header(const char *res, const char *name, char *v, size_t n)
{
	char key[128];
	snprintf(key, sizeof key, "\r\n%s: ", name);
	const char *p = strstr(res, key);
	if (!p)
		return NULL;
	p += strlen(key);
	size_t len = strcspn(p, "\r");
	snprintf(v, n, "%.*s", (int)len, p);
	return v;
}

static const char *body(const char *res)
{
	const char *p = strstr(res, "\r\n\r\n");
	return p ? p + 4 : "";
}

static void api_paths_and_other_methods_reach_the_handler(void **state)
{
	char out[4096];
	int before = handled;
	assert_int_equal(exchange("GET", "/api/x", "", out, sizeof out), 200);
	assert_string_equal(body(out), "{\"handler\":true}");
	assert_int_equal(exchange("GET", "/api", "", out, sizeof out), 200);
	assert_int_equal(exchange("POST", "/", "Content-Length: 0\r\n", out, sizeof out), 200);
	assert_int_equal(handled, before + 3);
	assert_int_equal(exchange("GET", "/apix", "", out, sizeof out), 200);
	assert_non_null(strstr(body(out), "site test"));
	assert_int_equal(handled, before + 3);
	/* the one extra path, exactly: not what is under it */
	assert_int_equal(exchange("GET", "/metrics", "", out, sizeof out), 200);
	assert_string_equal(body(out), "{\"handler\":true}");
	assert_int_equal(handled, before + 4);
	assert_int_equal(exchange("GET", "/metrics/x", "", out, sizeof out), 200);
	assert_non_null(strstr(body(out), "site test"));
	assert_int_equal(handled, before + 4);
}

static void a_file_comes_with_its_validators_and_a_304_when_unchanged(void **state)
{
	char out[4096], etag[128], modified[128], h[256];
	assert_int_equal(exchange("GET", "/assets/app.js", "", out, sizeof out), 200);
	assert_string_equal(body(out), "console.log('plain')");
	assert_non_null(header(out, "ETag", etag, sizeof etag));
	assert_non_null(header(out, "Last-Modified", modified, sizeof modified));
	assert_string_equal(modified, "Tue, 14 Nov 2023 22:13:20 GMT");
	assert_string_equal(header(out, "Cache-Control", h, sizeof h), "public, max-age=31536000, immutable");
	assert_string_equal(header(out, "Content-Type", h, sizeof h), "text/javascript; charset=utf-8");
	assert_null(header(out, "Content-Security-Policy", h, sizeof h));

	char cond[256];
	snprintf(cond, sizeof cond, "If-None-Match: \"other\", %s\r\n", etag);
	assert_int_equal(exchange("GET", "/assets/app.js", cond, out, sizeof out), 304);
	assert_string_equal(body(out), "");
	assert_string_equal(header(out, "ETag", h, sizeof h), etag);
	/* If-None-Match decides even when If-Modified-Since would say "not modified" */
	snprintf(cond, sizeof cond, "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", modified);
	assert_int_equal(exchange("GET", "/assets/app.js", cond, out, sizeof out), 200);
	snprintf(cond, sizeof cond, "If-Modified-Since: %s\r\n", modified);
	assert_int_equal(exchange("GET", "/assets/app.js", cond, out, sizeof out), 304);
	assert_int_equal(exchange("GET", "/assets/app.js", "If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n", out,
				  sizeof out), 200);
}

static void gzip_is_sent_when_accepted_and_fresh(void **state)
{
	char out[4096], h[256];
	assert_int_equal(exchange("GET", "/assets/app.js", "Accept-Encoding: br, gzip\r\n", out, sizeof out), 200);
	assert_string_equal(body(out), "GZIPPED-APP");
	assert_string_equal(header(out, "Content-Encoding", h, sizeof h), "gzip");
	assert_string_equal(header(out, "Vary", h, sizeof h), "Accept-Encoding");
	assert_int_equal(exchange("GET", "/assets/app.js", "Accept-Encoding: gzip;q=0\r\n", out, sizeof out), 200);
	assert_string_equal(body(out), "console.log('plain')");
	assert_int_equal(exchange("GET", "/assets/app.js", "Accept-Encoding: deflate\r\n", out, sizeof out), 200);
	assert_string_equal(body(out), "console.log('plain')");
	/* a .gz older than its file was left by an earlier build */
	assert_int_equal(exchange("GET", "/assets/old.css", "Accept-Encoding: gzip\r\n", out, sizeof out), 200);
	assert_string_equal(body(out), "body{}");
	assert_null(header(out, "Content-Encoding", h, sizeof h));
}

static void app_routes_get_index_html_and_missing_assets_404(void **state)
{
	char out[4096], h[256];
	const char *routes[] = {"/", "/w/prior_auth/patients", "/w/x/", "/.env", "/index.html"};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		assert_int_equal(exchange("GET", routes[i], "", out, sizeof out), 200);
		assert_non_null(strstr(body(out), "site test"));
		assert_string_equal(header(out, "Cache-Control", h, sizeof h), "no-cache");
		assert_string_equal(header(out, "Content-Security-Policy", h, sizeof h), "default-src 'self'");
		assert_string_equal(header(out, "X-Frame-Options", h, sizeof h), "DENY");
	}
	assert_int_equal(exchange("GET", "/assets/missing.js", "", out, sizeof out), 404);
	assert_non_null(strstr(body(out), "\"code\":\"not_found\""));
}

static void dot_segments_are_refused(void **state)
{
	char out[4096];
	const char *paths[] = {"/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fetc/passwd", "/assets/%2e/app.js",
			       "/a%5c..%5cb"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		assert_int_equal(exchange("GET", paths[i], "", out, sizeof out), 400);
		assert_non_null(strstr(body(out), "\"code\":\"bad_request\""));
	}
}

static void head_sends_the_headers_alone(void **state)
{
	char out[4096], h[256];
	assert_int_equal(exchange("HEAD", "/assets/app.js", "", out, sizeof out), 200);
	assert_string_equal(header(out, "Content-Length", h, sizeof h), "20");
	assert_string_equal(body(out), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(api_paths_and_other_methods_reach_the_handler),
		cmocka_unit_test(a_file_comes_with_its_validators_and_a_304_when_unchanged),
		cmocka_unit_test(gzip_is_sent_when_accepted_and_fresh),
		cmocka_unit_test(app_routes_get_index_html_and_missing_assets_404),
		cmocka_unit_test(dot_segments_are_refused),
		cmocka_unit_test(head_sends_the_headers_alone),
	};
	return cmocka_run_group_tests(tests, start, stop);
}

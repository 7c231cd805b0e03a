#include "http/client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

size_t sova_fetch_append(sova_sbuf *b, const char *p, size_t n)
{
	if (b->len + n > SOVA_FETCH_MAX_BODY)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	sova_sbuf_add(b, p, n);
	return b->failed ? 0 : n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) { return sova_fetch_append(ud, p, size * n); }

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	sova_sbuf *b = ud;
	/* A new status line (after a 100 Continue or a redirect) starts a new header block. */
	if (size * n > 5 && memcmp(p, "HTTP/", 5) == 0)
		b->len = 0;
	return sova_fetch_append(b, p, size * n);
}

/* ---- Common set-up ---- */

/* Sets the options both kinds of exchange share. *hl receives the header list and *rl the resolve
 * list (caller frees both with curl_slist_free_all, also on failure). */
static int setup(CURL *c, const sova_fetch_request *req, struct curl_slist **hl, struct curl_slist **rl, char *err,
		 size_t errlen)
{
	for (int i = 0; i < req->num_resolve; i++) {
		struct curl_slist *n = curl_slist_append(*rl, req->resolve[i]);
		if (!n) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*rl = n;
	}
	if (*rl) {
		/* pinned: the checked address, and no proxy that would resolve the name itself */
		if (curl_easy_setopt(c, CURLOPT_RESOLVE, *rl) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK) {
			snprintf(err, errlen, "cannot pin the address");
			return -1;
		}
	}
	for (int i = 0; i < req->num_headers; i++) {
		struct curl_slist *n = curl_slist_append(*hl, req->headers[i]);
		if (!n) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*hl = n;
	}
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	struct curl_slist *n = curl_slist_append(*hl, "Expect:");
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*hl = n;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	return 0;
}

/* ---- Whole responses ---- */

int sova_fetch(const sova_fetch_request *req, sova_fetch_response *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	pthread_once(&once, init_curl);
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot start an HTTP client");
		return -1;
	}
	struct curl_slist *hl = NULL, *rl = NULL;
	int rc = -1;
	if (setup(c, req, &hl, &rl, err, errlen) != 0)
		goto out;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &res->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &res->headers);
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (!res->body.data) {
		/* Always hand back a valid, possibly empty string. */
		res->body.data = calloc(1, 1);
		if (!res->body.data) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	curl_easy_cleanup(c); /* before the lists it points at */
	curl_slist_free_all(hl);
	curl_slist_free_all(rl);
	return rc;
}

/* ---- Streamed responses ---- */

typedef struct stream_ctx {
	CURL *c;
	sova_stream_fn fn;
	void *ud;
	sova_fetch_response *res;
	long status;     /* 0 until the first body byte */
	int verdict;     /* what fn answered when it did not say GO */
	int too_big;     /* a non-2xx body over SOVA_STREAM_MAX_ERROR_BODY */
	long long last;  /* monotonic ms of the last byte received */
} stream_ctx;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_stream_body(char *p, size_t size, size_t n, void *ud)
{
	stream_ctx *s = ud;
	size_t len = size * n;
	s->last = now_ms();
	if (s->status == 0)
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status < 200 || s->status > 299) {
		if (s->res->body.len + len > SOVA_STREAM_MAX_ERROR_BODY) {
			s->too_big = 1;
			return 0;
		}
		return sova_fetch_append(&s->res->body, p, len);
	}
	int v = s->fn(s->ud, p, len);
	if (v != SOVA_STREAM_GO) {
		s->verdict = v;
		return 0; /* ends the transfer with CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t on_stream_header(char *p, size_t size, size_t n, void *ud)
{
	stream_ctx *s = ud;
	s->last = now_ms();
	return on_header(p, size, n, &s->res->headers);
}

int sova_fetch_stream(const sova_fetch_request *req, sova_stream_fn on_data, void *ud, sova_fetch_response *res,
		      char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	pthread_once(&once, init_curl);
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot start an HTTP client");
		return -1;
	}
	CURLM *m = NULL;
	int added = 0, rc = -1;
	struct curl_slist *hl = NULL, *rl = NULL;
	stream_ctx s = {.c = c, .fn = on_data, .ud = ud, .res = res, .last = now_ms()};
	if (setup(c, req, &hl, &rl, err, errlen) != 0)
		goto out;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_stream_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
	m = curl_multi_init();
	if (!m) {
		snprintf(err, errlen, "cannot start an HTTP client");
		goto out;
	}
	CURLMcode mc = curl_multi_add_handle(m, c);
	if (mc != CURLM_OK) {
		snprintf(err, errlen, "%s", curl_multi_strerror(mc));
		goto out;
	}
	added = 1;
	/* Our own loop instead of curl_easy_perform, to end an idle exchange to the millisecond. */
	long idle = req->idle_timeout_ms > 0 ? req->idle_timeout_ms : 0;
	for (;;) {
		int running = 0;
		mc = curl_multi_perform(m, &running);
		if (mc != CURLM_OK) {
			snprintf(err, errlen, "%s", curl_multi_strerror(mc));
			goto out;
		}
		if (!running)
			break;
		long wait = 1000;
		if (idle) {
			long long quiet = now_ms() - s.last;
			if (quiet >= idle) {
				snprintf(err, errlen, "idle timeout: no data for %ld ms", idle);
				goto out;
			}
			if (idle - quiet < wait)
				wait = (long)(idle - quiet);
		}
		mc = curl_multi_poll(m, NULL, 0, (int)wait, NULL);
		if (mc != CURLM_OK) {
			snprintf(err, errlen, "%s", curl_multi_strerror(mc));
			goto out;
		}
	}
	CURLcode cc = CURLE_OK;
	int left;
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			cc = msg->data.result;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (cc == CURLE_WRITE_ERROR && s.verdict == SOVA_STREAM_STOP) {
		res->stopped = 1;
	} else if (cc == CURLE_WRITE_ERROR && s.verdict == SOVA_STREAM_FAIL) {
		snprintf(err, errlen, "aborted by the data callback");
		goto out;
	} else if (s.too_big) {
		snprintf(err, errlen, "error response body over %d bytes", SOVA_STREAM_MAX_ERROR_BODY);
		goto out;
	} else if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	if (!res->body.data) {
		res->body.data = calloc(1, 1);
		if (!res->body.data) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (added)
		curl_multi_remove_handle(m, c);
	if (m)
		curl_multi_cleanup(m);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	curl_slist_free_all(rl);
	return rc;
}

/* ---- Name resolution ---- */

int sova_lookup(const char *host, char (*out)[SOVA_ADDRSTRLEN], int max, char *err, size_t errlen)
{
	if (!host || !*host || max < 1) {
		snprintf(err, errlen, "no host");
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *list = NULL;
	int gr = getaddrinfo(host, NULL, &hints, &list);
	if (gr != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gr));
		return -1; /* getaddrinfo leaves nothing to free when it fails */
	}
	int n = 0;
	for (struct addrinfo *a = list; a && n < max; a = a->ai_next) {
		char buf[SOVA_ADDRSTRLEN];
		const void *src = NULL;
		if (a->ai_family == AF_INET)
			src = &((const struct sockaddr_in *)(const void *)a->ai_addr)->sin_addr;
		else if (a->ai_family == AF_INET6)
			src = &((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_addr;
		if (!src || !inet_ntop(a->ai_family, src, buf, sizeof buf))
			continue;
		int seen = 0;
		for (int i = 0; i < n && !seen; i++)
			seen = strcmp(out[i], buf) == 0;
		if (!seen)
			memcpy(out[n++], buf, sizeof buf);
	}
	freeaddrinfo(list);
	if (n == 0) {
		snprintf(err, errlen, "cannot resolve %s: no IPv4 or IPv6 address", host);
		return -1;
	}
	return n;
}

#include "http/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void sova_buf_free(sova_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static size_t buf_append(sova_buf *b, const char *p, size_t n)
{
	if (b->len + n > SOVA_FETCH_MAX_BODY)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) { return buf_append(ud, p, size * n); }

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	sova_buf *b = ud;
	/* A new status line (after a 100 Continue or a redirect) starts a new header block. */
	if (size * n > 5 && memcmp(p, "HTTP/", 5) == 0)
		b->len = 0;
	return buf_append(b, p, size * n);
}

int sova_fetch(const sova_fetch_request *req, sova_fetch_response *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	pthread_once(&once, init_curl);
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot start an HTTP client");
		return -1;
	}
	struct curl_slist *hl = NULL;
	int rc = -1;
	for (int i = 0; i < req->num_headers; i++) {
		struct curl_slist *n = curl_slist_append(hl, req->headers[i]);
		if (!n) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		hl = n;
	}
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	struct curl_slist *n = curl_slist_append(hl, "Expect:");
	if (!n) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	hl = n;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &res->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &res->headers);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
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
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}

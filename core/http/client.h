/* Outbound HTTP (libcurl), for provider adapters and the specs' HTTP client. */
#ifndef SOVA_HTTP_CLIENT_H
#define SOVA_HTTP_CLIENT_H
#include <stddef.h>

#define SOVA_FETCH_MAX_BODY (16 * 1024 * 1024)

typedef struct sova_buf {
	char *data; /* NUL-terminated; owned by the buf */
	size_t len, cap;
} sova_buf;

void sova_buf_free(sova_buf *b);

typedef struct sova_fetch_request {
	const char *method, *url;
	const char *const *headers; /* "Name: value" lines */
	int num_headers;
	const char *body;
	size_t body_len;
	long timeout_ms;
} sova_fetch_request;

typedef struct sova_fetch_response {
	long status;
	sova_buf body;
	sova_buf headers; /* raw header block of the final response */
} sova_fetch_response;

/* 0 on a completed exchange (any status); otherwise -1 with a message in err.
 * The caller frees res->body and res->headers with sova_buf_free in both cases. */
int sova_fetch(const sova_fetch_request *req, sova_fetch_response *res, char *err, size_t errlen);
#endif

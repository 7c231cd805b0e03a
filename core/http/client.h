/* Outbound HTTP (libcurl), for provider adapters and the specs' HTTP client. */
#ifndef SOVA_HTTP_CLIENT_H
#define SOVA_HTTP_CLIENT_H
#include <stddef.h>

#include "util/sbuf.h"

#define SOVA_FETCH_MAX_BODY (16 * 1024 * 1024)

/* Appends n bytes of a fetch's body or headers to b. Returns n, or 0 when out of memory or past
 * SOVA_FETCH_MAX_BODY: the shape curl's write callbacks expect. */
size_t sova_fetch_append(sova_sbuf *b, const char *p, size_t n);

typedef struct sova_fetch_request {
	const char *method, *url;
	const char *const *headers; /* "Name: value" lines */
	int num_headers;
	const char *body;
	size_t body_len;
	long timeout_ms;      /* whole exchange; 30000 when 0 */
	long idle_timeout_ms; /* sova_fetch_stream only: no byte received for this long ends it; 0: none */
	/* "host:port:address" entries (CURLOPT_RESOLVE): the connection to host:port goes to address
	 * and to nothing else, so a name checked before the request cannot resolve elsewhere during it
	 * (DNS rebinding). When set, no proxy is used either. */
	const char *const *resolve;
	int num_resolve;
} sova_fetch_request;

typedef struct sova_fetch_response {
	long status;
	sova_sbuf body;
	sova_sbuf headers; /* raw header block of the final response */
	int stopped;      /* sova_fetch_stream: on_data asked to stop */
} sova_fetch_response;

/* 0 on a completed exchange (any status); otherwise -1 with a message in err.
 * The caller frees res->body and res->headers with sova_buf_free in both cases. */
int sova_fetch(const sova_fetch_request *req, sova_fetch_response *res, char *err, size_t errlen);

/* Receives a piece of a 2xx response body as it arrives. Returns SOVA_STREAM_GO to go on,
 * SOVA_STREAM_STOP to end the exchange early (not an error), SOVA_STREAM_FAIL to fail it. */
enum { SOVA_STREAM_GO = 0, SOVA_STREAM_STOP = 1, SOVA_STREAM_FAIL = 2 };
typedef int (*sova_stream_fn)(void *ud, const char *data, size_t len);

#define SOVA_STREAM_MAX_ERROR_BODY (1024 * 1024)

/* Like sova_fetch, but a 2xx body goes to on_data piece by piece (res->body stays empty); the body
 * of any other status is collected into res->body (at most SOVA_STREAM_MAX_ERROR_BODY bytes).
 * Returns 0 on a completed exchange (res->stopped set when on_data stopped it), -1 with a message
 * in err otherwise (on_data's failure: "aborted by the data callback"; the caller knows better).
 * The caller frees res->body and res->headers with sova_buf_free in both cases. */
int sova_fetch_stream(const sova_fetch_request *req, sova_stream_fn on_data, void *ud, sova_fetch_response *res,
		      char *err, size_t errlen);

#define SOVA_LOOKUP_MAX 16
#define SOVA_ADDRSTRLEN 46 /* INET6_ADDRSTRLEN */

/* Resolves host (a name or a literal address) with getaddrinfo, TCP, IPv4 and IPv6. Fills out with
 * up to max distinct numeric addresses ("203.0.113.7", "2001:db8::1"), in the resolver's order.
 * Returns how many (>= 1), or -1 with a message in err (no such host, resolver failure). */
int sova_lookup(const char *host, char (*out)[SOVA_ADDRSTRLEN], int max, char *err, size_t errlen);
#endif

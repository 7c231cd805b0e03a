/* The private metrics listener: GET /metrics and nothing else, on an address of the operator's
 * choosing (SOVA_METRICS_HOST:SOVA_METRICS_PORT, e.g. a Fly machine's private 6PN address), for
 * a process with no HTTP server of its own (`sova campaigns`) or to keep /metrics off the public
 * port. The same rule of who may read applies (sova_metrics_authorized). Plain C. */
#ifndef SOVA_HTTP_METRICS_SERVER_H
#define SOVA_HTTP_METRICS_SERVER_H
#include <stddef.h>

/* Starts the process's one listener; returns its port, or -1 with a message in err (already
 * listening, the address taken). It lives as long as the process. */
int sova_metrics_listen(const char *host, int port, char *err, size_t errlen);
#endif

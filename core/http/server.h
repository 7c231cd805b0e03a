/* The HTTP server (civetweb): plain HTTP on a configured address; TLS terminates in front
 * (civetweb's TLS is broken on OpenSSL 3). Knows nothing of Lua. */
#ifndef SOVA_HTTP_SERVER_H
#define SOVA_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>

#define SOVA_HTTP_MAX_BODY (1024 * 1024)

struct mg_connection;

typedef struct sova_http_header {
	const char *name, *value;
} sova_http_header;

/* One request, valid only during the handler call. */
typedef struct sova_http_request {
	const char *method;
	const char *path;   /* URL-decoded, cleaned */
	const char *query;  /* raw, "" when none */
	const char *remote_addr;
	const sova_http_header *headers;
	int num_headers;
	const char *body; /* NUL-terminated copy; body_len excludes the NUL */
	size_t body_len;
} sova_http_request;

typedef struct sova_http_response {
	int status;
	const char *content_type;
	const sova_http_header *headers; /* extra headers */
	int num_headers;
	const char *body;
	size_t body_len;
} sova_http_response;

/* The handler fills res; res->body must stay valid until the handler's finish callback. */
typedef void (*sova_http_handler)(const sova_http_request *req, sova_http_response *res, void *ud);
/* Called after the response is sent (to release what the handler kept alive). */
typedef void (*sova_http_finish)(void *ud);
/* Per-worker-thread teardown (e.g. to close the thread's Lua state). */
typedef void (*sova_http_thread_exit)(void);

/* One WebSocket connection; valid from ws_open until ws_close returns (then freed). */
typedef struct sova_ws sova_ws;
long long sova_ws_id(const sova_ws *ws);
/* Sends a text frame; thread-safe. Returns false when the connection is gone. */
bool sova_ws_send(sova_ws *ws, const char *text, size_t len);
/* Starts the closing handshake; ws_close follows. */
void sova_ws_close(sova_ws *ws);

#define SOVA_WS_MAX_MESSAGE (64 * 1024)

/* Optional: the files of a built single-page web app, served by the server itself for GET and
 * HEAD outside api_prefix (from the OS page cache, never copied into memory): ETag and
 * Last-Modified with 304 answers to If-None-Match / If-Modified-Since, FILE.gz instead of FILE
 * when the client accepts gzip and it is there (produced at build time), hashed /assets/ * files
 * cached as immutable and everything else revalidated, paths that are no file answered with
 * index.html (the app routes them; a missing /assets/ file is a 404), dot segments refused. */
typedef struct sova_http_site {
	const char *dir;        /* NULL: no files; every request goes to the handler */
	const char *api_prefix; /* that path and everything under it always go to the handler */
	const char *also;       /* one more path that goes to the handler (NULL: none), e.g. "/metrics" */
	const char *csp;        /* Content-Security-Policy of the HTML pages */
} sova_http_site;

/* The strings a config points to are borrowed: they must outlive the server. */
typedef struct sova_http_config {
	const char *host; /* "127.0.0.1" */
	int port;         /* 0: any free port */
	int threads;
	sova_http_handler handler;
	sova_http_finish finish;
	sova_http_thread_exit thread_exit;
	void *ud;
	/* Optional WebSocket endpoint: URIs matching ws_pattern (a civetweb pattern such as
	 * "/calls/ * /live" without the spaces). Callbacks run on the connection's thread. */
	const char *ws_pattern;
	void (*ws_open)(sova_ws *ws, const char *path, const char *query, const char *remote, void *ud);
	void (*ws_message)(sova_ws *ws, const char *data, size_t len, void *ud);
	void (*ws_close)(sova_ws *ws, void *ud);
	sova_http_site site;
} sova_http_config;

typedef struct sova_http_server sova_http_server;

/* Starts listening; NULL with a message in err on failure. */
sova_http_server *sova_http_start(const sova_http_config *cfg, char *err, size_t errlen);
int sova_http_port(const sova_http_server *srv);
void sova_http_stop(sova_http_server *srv);

/* A JSON error body {"error":{"code","message"}} for the C paths (413, 500). */
void sova_http_send_error(struct mg_connection *conn, int status, const char *code, const char *message);
#endif

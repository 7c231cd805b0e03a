#include "http/server.h"

#include <civetweb.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util/log.h"

struct sova_http_server {
	struct mg_context *ctx;
	sova_http_config cfg;
	int port;
};

static void add_security_headers(struct mg_connection *conn)
{
	mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
	mg_response_header_add(conn, "Referrer-Policy", "no-referrer", -1);
	mg_response_header_add(conn, "X-Frame-Options", "DENY", -1);
}

static void add_common_headers(struct mg_connection *conn, const char *content_type)
{
	mg_response_header_add(conn, "Content-Type", content_type, -1);
	/* PHI must not be cached by browsers or proxies. */
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	add_security_headers(conn);
}

void sova_http_send_error(struct mg_connection *conn, int status, const char *code, const char *message)
{
	char body[512], len[32];
	char m[384];
	sova_json_quote(m, sizeof m, message);
	int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":%s}}", code, m);
	if (n < 0 || (size_t)n >= sizeof body)
		n = 0;
	snprintf(len, sizeof len, "%d", n);
	mg_response_header_start(conn, status);
	add_common_headers(conn, "application/json");
	mg_response_header_add(conn, "Content-Length", len, -1);
	mg_response_header_send(conn);
	mg_write(conn, body, (size_t)n);
}

/* Reads the whole body into a malloc'd, NUL-terminated buffer (caller frees).
 * Returns 0, or the HTTP status to answer with (413 too large, 400 unreadable). */
static int read_body(struct mg_connection *conn, const struct mg_request_info *ri, char **out, size_t *outlen)
{
	long long cl = ri->content_length;
	*out = NULL;
	*outlen = 0;
	if (cl > SOVA_HTTP_MAX_BODY)
		return 413;
	size_t cap = cl >= 0 ? (size_t)cl : 8192;
	char *buf = malloc(cap + 1);
	if (!buf)
		return 500;
	size_t len = 0;
	for (;;) {
		if (len == cap) {
			if (cl >= 0)
				break;
			if (cap > SOVA_HTTP_MAX_BODY) {
				free(buf);
				return 413;
			}
			size_t ncap = cap * 2;
			char *nb = realloc(buf, ncap + 1);
			if (!nb) {
				free(buf);
				return 500;
			}
			buf = nb;
			cap = ncap;
		}
		int n = mg_read(conn, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return 400;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (cl >= 0 && len != (size_t)cl) {
		free(buf);
		return 400;
	}
	if (len > SOVA_HTTP_MAX_BODY) {
		free(buf);
		return 413;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- The built web app (sova_http_site) ---- */

static const struct {
	const char *ext, *type;
} MIME_TYPES[] = {
	{"html", "text/html; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},   {"svg", "image/svg+xml"},
	{"png", "image/png"},                 {"ico", "image/x-icon"},
	{"json", "application/json"},         {"map", "application/json"},
	{"woff2", "font/woff2"},              {"txt", "text/plain; charset=utf-8"},
};

static const char *mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof MIME_TYPES / sizeof MIME_TYPES[0]; i++)
			if (strcmp(dot + 1, MIME_TYPES[i].ext) == 0)
				return MIME_TYPES[i].type;
	return "application/octet-stream";
}

/* path is prefix itself or below it ("/api", "/api/x"; not "/apix"). */
static bool under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A "." or ".." segment, a backslash or a control character in the path as sent (decoded, not
 * yet cleaned by civetweb): never a page of the app, so refused rather than resolved. */
static bool has_dot_segment(const char *raw)
{
	for (const char *p = raw; *p; p++) {
		if (*p == '\\' || (unsigned char)*p < 0x20)
			return true;
		if (p[0] == '.' && (p == raw || p[-1] == '/')) {
			size_t dots = p[1] == '.' ? 2 : 1;
			if (p[dots] == '/' || p[dots] == '\0')
				return true;
		}
	}
	return false;
}

/* A path that may name a file of the app: "/" and segments of [A-Za-z0-9._-], none empty or
 * starting with a dot (no hidden files). */
static bool file_like(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p; p++) {
		if (*p == '/') {
			if (p[1] == '\0' || p[1] == '/' || p[1] == '.')
				return false;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			     *p == '.' || *p == '_' || *p == '-')) {
			return false;
		}
	}
	return true;
}

static bool regular_file(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* Accept-Encoding names gzip without q=0. */
static bool accepts_gzip(struct mg_connection *conn)
{
	const char *h = mg_get_header(conn, "Accept-Encoding");
	while (h && *h) {
		h += strspn(h, " \t,");
		size_t n = strcspn(h, " \t;,");
		bool gzip = n == 4 && strncasecmp(h, "gzip", 4) == 0;
		h += n;
		size_t item = strcspn(h, ",");
		if (gzip) {
			const char *q = h;
			while ((q = strstr(q, "q=")) && q < h + item) {
				char *end;
				double v = strtod(q + 2, &end);
				if (end > q + 2)
					return v > 0;
				q += 2;
			}
			return true;
		}
		h += item;
	}
	return false;
}

/* If-None-Match lists etag (or is "*"); weak tags compare by their opaque part. */
static bool etag_listed(const char *list, const char *etag)
{
	size_t elen = strlen(etag);
	while (list && *list) {
		list += strspn(list, " \t,");
		if (*list == '*')
			return true;
		if (strncmp(list, "W/", 2) == 0)
			list += 2;
		size_t n = strcspn(list, ",");
		while (n > 0 && (list[n - 1] == ' ' || list[n - 1] == '\t'))
			n--;
		if (n == elen && memcmp(list, etag, n) == 0)
			return true;
		list += strcspn(list, ",");
	}
	return false;
}

static bool not_modified(struct mg_connection *conn, const char *etag, time_t mtime)
{
	const char *inm = mg_get_header(conn, "If-None-Match");
	if (inm) /* takes precedence over If-Modified-Since (RFC 9110 13.2.2) */
		return etag_listed(inm, etag);
	const char *ims = mg_get_header(conn, "If-Modified-Since");
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!ims || !strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return false;
	return mtime <= timegm(&tm);
}

/* Answers with the file at path (rel: its path in the app, for the cache rule). Returns the status. */
static int send_site_file(struct mg_connection *conn, const sova_http_site *site, const char *path,
			  const char *rel, const struct stat *plain)
{
	char gz[PATH_MAX];
	struct stat st = *plain;
	const char *body = path;
	bool gzipped = false;
	int n = snprintf(gz, sizeof gz, "%s.gz", path);
	struct stat gst;
	/* a .gz older than its file is left over from an earlier build: not served */
	if (n > 0 && (size_t)n < sizeof gz && accepts_gzip(conn) && regular_file(gz, &gst) &&
	    gst.st_mtime >= plain->st_mtime) {
		st = gst;
		body = gz;
		gzipped = true;
	}
	char etag[96], modified[64], len[32];
	snprintf(etag, sizeof etag, "\"%llx.%lx.%llx%s\"", (unsigned long long)st.st_mtim.tv_sec,
		 (unsigned long)st.st_mtim.tv_nsec, (unsigned long long)st.st_size, gzipped ? ".gz" : "");
	struct tm tm;
	strftime(modified, sizeof modified, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&st.st_mtime, &tm));
	snprintf(len, sizeof len, "%lld", (long long)st.st_size);
	const char *type = mime_type(path);
	int status = not_modified(conn, etag, st.st_mtime) ? 304 : 200;

	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", type, -1);
	/* hashed names under /assets/ never change; everything else (index.html) is revalidated */
	mg_response_header_add(conn, "Cache-Control",
			       under(rel, "/assets") ? "public, max-age=31536000, immutable" : "no-cache", -1);
	mg_response_header_add(conn, "ETag", etag, -1);
	mg_response_header_add(conn, "Last-Modified", modified, -1);
	mg_response_header_add(conn, "Vary", "Accept-Encoding", -1);
	add_security_headers(conn);
	if (site->csp && strncmp(type, "text/html", 9) == 0)
		mg_response_header_add(conn, "Content-Security-Policy", site->csp, -1);
	if (gzipped)
		mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
	if (status == 200)
		mg_response_header_add(conn, "Content-Length", len, -1);
	mg_response_header_send(conn);
	if (status == 200 && strcmp(mg_get_request_info(conn)->request_method, "HEAD") != 0 &&
	    mg_send_file_body(conn, body) < 0)
		sova_log("warn", "http.site", "a file of the web app could not be read");
	return status;
}

/* GET or HEAD of a path outside the API. Returns the status sent. */
static int serve_site(struct mg_connection *conn, const sova_http_site *site, const char *path,
		      const char *raw_path)
{
	if (has_dot_segment(raw_path)) {
		sova_http_send_error(conn, 400, "bad_request", "a path with dot segments");
		return 400;
	}
	char file[PATH_MAX];
	struct stat st;
	if (file_like(path)) {
		int n = snprintf(file, sizeof file, "%s%s", site->dir, path);
		if (n > 0 && (size_t)n < sizeof file && regular_file(file, &st))
			return send_site_file(conn, site, file, path, &st);
	}
	if (under(path, "/assets")) {
		sova_http_send_error(conn, 404, "not_found", "no such file");
		return 404;
	}
	/* the app's own routes (and /): index.html, which routes them in the browser */
	int n = snprintf(file, sizeof file, "%s/index.html", site->dir);
	if (n > 0 && (size_t)n < sizeof file && regular_file(file, &st))
		return send_site_file(conn, site, file, "/index.html", &st);
	sova_http_send_error(conn, 404, "not_found", "the web UI is not built: cd frontend && npm ci && npm run build");
	return 404;
}

/* ---- Requests ---- */

static int on_request(struct mg_connection *conn, void *cbdata)
{
	sova_http_server *srv = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *path = ri->local_uri ? ri->local_uri : "/";
	/* by the path as sent: "/api/..%2F..%2Fx" is an API request (answered by the handler) */
	const char *raw_path = ri->local_uri_raw ? ri->local_uri_raw : path;
	const sova_http_site *site = &srv->cfg.site;
	if (site->dir && (strcmp(ri->request_method, "GET") == 0 || strcmp(ri->request_method, "HEAD") == 0) &&
	    !(site->api_prefix && under(raw_path, site->api_prefix)) && !(site->also && strcmp(raw_path, site->also) == 0))
		return serve_site(conn, site, path, raw_path);
	char *body;
	size_t body_len;
	int rc = read_body(conn, ri, &body, &body_len);
	if (rc != 0) {
		sova_http_send_error(conn, rc, rc == 413 ? "payload_too_large" : rc == 400 ? "bad_request" : "internal",
				     rc == 413 ? "request body over 1 MiB" : rc == 400 ? "unreadable request body"
										  : "out of memory");
		return rc;
	}
	sova_http_header headers[64];
	int nh = ri->num_headers < 64 ? ri->num_headers : 64;
	for (int i = 0; i < nh; i++) {
		headers[i].name = ri->http_headers[i].name;
		headers[i].value = ri->http_headers[i].value;
	}
	sova_http_request req = {
		.method = ri->request_method,
		.path = path,
		.query = ri->query_string ? ri->query_string : "",
		.remote_addr = ri->remote_addr,
		.headers = headers,
		.num_headers = nh,
		.body = body,
		.body_len = body_len,
	};
	sova_http_response res = {.status = 500, .content_type = "application/json"};
	srv->cfg.handler(&req, &res, srv->cfg.ud);
	free(body);

	char len[32];
	snprintf(len, sizeof len, "%zu", res.body_len);
	mg_response_header_start(conn, res.status);
	add_common_headers(conn, res.content_type ? res.content_type : "application/json");
	for (int i = 0; i < res.num_headers; i++)
		mg_response_header_add(conn, res.headers[i].name, res.headers[i].value, -1);
	mg_response_header_add(conn, "Content-Length", len, -1);
	mg_response_header_send(conn);
	if (res.body_len && strcmp(ri->request_method, "HEAD") != 0)
		mg_write(conn, res.body, res.body_len);
	int status = res.status;
	if (srv->cfg.finish)
		srv->cfg.finish(srv->cfg.ud);
	return status;
}

/* ---- WebSockets ---- */

struct sova_ws {
	struct mg_connection *conn;
	long long id;
	sova_http_server *srv;
};

static long long next_ws_id;
static pthread_mutex_t ws_id_lock = PTHREAD_MUTEX_INITIALIZER;

long long sova_ws_id(const sova_ws *ws) { return ws->id; }

bool sova_ws_send(sova_ws *ws, const char *text, size_t len)
{
	return mg_websocket_write(ws->conn, MG_WEBSOCKET_OPCODE_TEXT, text, len) > 0;
}

void sova_ws_close(sova_ws *ws)
{
	mg_websocket_write(ws->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "\x03\xe8", 2); /* 1000: normal */
}

static int ws_connect(const struct mg_connection *conn, void *cbdata)
{
	sova_ws *ws = calloc(1, sizeof *ws); /* freed in ws_closed */
	if (!ws)
		return 1; /* refuse */
	pthread_mutex_lock(&ws_id_lock);
	ws->id = ++next_ws_id;
	pthread_mutex_unlock(&ws_id_lock);
	ws->conn = (struct mg_connection *)conn;
	ws->srv = cbdata;
	mg_set_user_connection_data(conn, ws);
	return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
	sova_http_server *srv = cbdata;
	sova_ws *ws = mg_get_user_connection_data(conn);
	const struct mg_request_info *ri = mg_get_request_info(conn);
	if (ws && srv->cfg.ws_open)
		srv->cfg.ws_open(ws, ri->local_uri ? ri->local_uri : "/", ri->query_string ? ri->query_string : "",
				 ri->remote_addr, srv->cfg.ud);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	sova_http_server *srv = cbdata;
	sova_ws *ws = mg_get_user_connection_data(conn);
	int opcode = bits & 0x0f;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (opcode != MG_WEBSOCKET_OPCODE_TEXT)
		return 1; /* pings are answered by civetweb; binary frames are not part of the protocol */
	if (len > SOVA_WS_MAX_MESSAGE)
		return 0;
	if (ws && srv->cfg.ws_message)
		srv->cfg.ws_message(ws, data, len, srv->cfg.ud);
	return 1;
}

static void ws_closed(const struct mg_connection *conn, void *cbdata)
{
	sova_http_server *srv = cbdata;
	sova_ws *ws = mg_get_user_connection_data(conn);
	if (!ws)
		return;
	if (srv->cfg.ws_close)
		srv->cfg.ws_close(ws, srv->cfg.ud);
	mg_set_user_connection_data(conn, NULL);
	free(ws);
}

static void on_thread_exit(const struct mg_context *ctx, int thread_type, void *thread_pointer)
{
	sova_http_server *srv = mg_get_user_data(ctx);
	if (srv && srv->cfg.thread_exit && thread_type == 1 /* worker */)
		srv->cfg.thread_exit();
}

static int on_log(const struct mg_connection *conn, const char *message)
{
	sova_log("warn", "http", message);
	return 1;
}

static void init_library(void) { mg_init_library(0); }

sova_http_server *sova_http_start(const sova_http_config *cfg, char *err, size_t errlen)
{
	static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
	pthread_once(&lib_once, init_library);
	sova_http_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->cfg = *cfg;
	char listen[128], threads[16];
	snprintf(listen, sizeof listen, "%s:%d", cfg->host, cfg->port);
	snprintf(threads, sizeof threads, "%d", cfg->threads);
	const char *options[] = {
		"listening_ports", listen,
		"num_threads", threads,
		"request_timeout_ms", "30000",
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"max_request_size", "16384",
		"websocket_timeout_ms", "3600000",
		/* small answers on kept-alive connections must not wait ~40 ms for a delayed ACK */
		"tcp_nodelay", "1",
		NULL,
	};
	struct mg_callbacks cb;
	memset(&cb, 0, sizeof cb);
	cb.exit_thread = on_thread_exit;
	cb.log_message = on_log;
	srv->ctx = mg_start(&cb, srv, options);
	if (!srv->ctx) {
		snprintf(err, errlen, "cannot listen on %s (address in use or not permitted)", listen);
		free(srv);
		return NULL;
	}
	mg_set_request_handler(srv->ctx, "/", on_request, srv);
	if (cfg->ws_pattern)
		mg_set_websocket_handler(srv->ctx, cfg->ws_pattern, ws_connect, ws_ready, ws_data, ws_closed, srv);
	struct mg_server_port ports[4];
	int n = mg_get_server_ports(srv->ctx, 4, ports);
	srv->port = n > 0 ? ports[0].port : cfg->port;
	return srv;
}

int sova_http_port(const sova_http_server *srv) { return srv->port; }

void sova_http_stop(sova_http_server *srv)
{
	if (!srv)
		return;
	mg_stop(srv->ctx);
	free(srv);
}

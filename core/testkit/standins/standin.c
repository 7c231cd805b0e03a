/* sova-standin: the server, routing by path, fault modes and the paced send queue (standin.h).
 *
 *   sova-standin [--port P] [--host 127.0.0.1] [--key KEY] [--tls-cert PEM --tls-key PEM] [--script-dir DIR]
 *                [--requests FILE]
 *
 * Prints "ready port=<port>" on stdout once listening (port 0 picks a free one). --key: the API key
 * every client must present (Authorization: Token KEY, X-API-Key, xi-api-key); without it any key
 * is accepted. --requests: each connection's path and query arguments (decoded) are
 * appended to FILE as a line "path?k=v&k=v", so a spec can check what a client asked for (a
 * recognizer's keyterms). Stops on SIGTERM/SIGINT and prints "standin: <connections> connections, <messages>
 * messages out, <in> in" (the benchmark reads it). */
#include "standin.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

struct lws_context *standin_ctx;
const char *standin_script_dir;
static const char *api_key;
static FILE *requests; /* --requests (owned; closed at exit) */
static unsigned long long stat_conns, stat_out, stat_in;

int64_t standin_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Parameters ---- */

static void params_add(standin_params *p, const char *text)
{
	size_t tl = strlen(text);
	if (p->used + tl + 1 > sizeof p->buf)
		return;
	char *s = p->buf + p->used, *save = NULL;
	memcpy(s, text, tl + 1);
	p->used += tl + 1;
	for (char *tok = strtok_r(s, "&,", &save); tok && p->n < STANDIN_MAX_PARAMS; tok = strtok_r(NULL, "&,", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		p->key[p->n] = tok;
		p->value[p->n] = eq ? eq + 1 : tok + strlen(tok);
		p->n++;
	}
}

const char *standin_param(const standin_params *p, const char *key)
{
	for (int i = p->n - 1; i >= 0; i--)
		if (!strcmp(p->key[i], key))
			return p->value[i];
	return NULL;
}

int standin_param_int(const standin_params *p, const char *key, int dflt)
{
	const char *v = standin_param(p, key);
	return v && *v ? atoi(v) : dflt;
}

/* Percent-decodes in place (lws hands query arguments still encoded). */
static void url_decode(char *s)
{
	char *o = s;
	for (char *i = s; *i; i++) {
		if (*i == '%' && i[1] && i[2]) {
			char hex[3] = {i[1], i[2], 0};
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (*i == '+') {
			*o++ = ' ';
		} else {
			*o++ = *i;
		}
	}
	*o = '\0';
}

/* The URI: "/x/k=v&k=v" segments give parameters (lws hands the path with "&" turned into ",", so
 * both separate them), the rest is the provider path. */
static void read_request(struct lws *wsi, standin_conn *c)
{
	char uri[512];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		uri[0] = '\0';
	char *q = strchr(uri, '?');
	if (q)
		*q = '\0';
	const char *p = uri;
	while (!strncmp(p, "/x/", 3)) {
		const char *seg = p + 3, *end = strchr(seg, '/');
		char one[512];
		size_t sl = end ? (size_t)(end - seg) : strlen(seg);
		snprintf(one, sizeof one, "%.*s", (int)sl, seg);
		url_decode(one);
		params_add(&c->params, one);
		p = end ? end : seg + sl;
	}
	snprintf(c->path, sizeof c->path, "%s", p);
	char arg[512];
	for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
		url_decode(arg);
		params_add(&c->params, arg);
	}
}

/* Appends the connection's path (its /x/ segments too) and query arguments to the --requests file. */
static void record_request(struct lws *wsi)
{
	if (!requests)
		return;
	char uri[512];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		uri[0] = '\0';
	uri[strcspn(uri, "?")] = '\0';
	url_decode(uri);
	fprintf(requests, "%s", uri);
	char arg[512];
	for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
		url_decode(arg);
		fprintf(requests, "%s%s", i ? "&" : "?", arg);
	}
	fputc('\n', requests);
	fflush(requests);
}

static standin_mode mode_of(const char *path)
{
	size_t l = strlen(path);
	if (!strcmp(path, "/v1/listen"))
		return STANDIN_DEEPGRAM;
	if (!strcmp(path, "/tts/websocket"))
		return STANDIN_CARTESIA;
	if (!strncmp(path, "/v1/text-to-speech/", 19) && l > 19 + 19 && !strcmp(path + l - 19, "/multi-stream-input"))
		return STANDIN_ELEVENLABS;
	return 0;
}

/* ---- Sessions: faults_for counts connections per session name ---- */

#define MAX_SESSIONS 4096
static struct {
	char name[64];
	int conns;
} sessions[MAX_SESSIONS];
static int num_sessions;

static int session_count(const char *name)
{
	for (int i = 0; i < num_sessions; i++)
		if (!strcmp(sessions[i].name, name))
			return ++sessions[i].conns;
	if (num_sessions == MAX_SESSIONS)
		return 1;
	snprintf(sessions[num_sessions].name, sizeof sessions[num_sessions].name, "%s", name);
	sessions[num_sessions].conns = 1;
	num_sessions++;
	return 1;
}

/* ---- Send queue ---- */

static void on_due(lws_sorted_usec_list_t *sul)
{
	standin_conn *c = lws_container_of(sul, standin_conn, due_timer);
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void kick(standin_conn *c)
{
	if (!c->wsi)
		return;
	int64_t now = standin_now_us();
	if (!c->head || c->head->due_us <= now)
		lws_callback_on_writable(c->wsi);
	else
		lws_sul_schedule(standin_ctx, 0, &c->due_timer, on_due, c->head->due_us - now);
}

static void enqueue(standin_conn *c, const void *data, size_t len, bool binary, int64_t due_us, const char *tag)
{
	out_msg *m = malloc(sizeof *m + LWS_PRE + len);
	if (!m)
		return;
	m->next = NULL;
	int64_t floor_us = c->opened_us + (c->faults_on ? (int64_t)c->delay_ms * 1000 : 0);
	m->due_us = due_us > floor_us ? due_us : floor_us;
	if (c->tail && c->tail->due_us > m->due_us)
		m->due_us = c->tail->due_us; /* in order */
	snprintf(m->tag, sizeof m->tag, "%s", tag ? tag : "");
	m->len = len;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, data, len);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
}

void standin_send(standin_conn *c, const void *data, size_t len, bool binary, int64_t due_us, const char *tag)
{
	if (!c->first_real_queued) {
		c->first_real_queued = true;
		for (int i = 0; c->faults_on && i < c->malformed; i++) {
			const char *bad = standin_malformed(c->mode, i);
			enqueue(c, bad, strlen(bad), false, 0, NULL);
		}
	}
	enqueue(c, data, len, binary, due_us, tag);
	kick(c);
}

void standin_send_text(standin_conn *c, const char *json) { standin_send(c, json, strlen(json), false, 0, NULL); }

void standin_drop_tag(standin_conn *c, const char *tag)
{
	out_msg **pp = &c->head, *last = NULL;
	while (*pp) {
		out_msg *m = *pp;
		if (!strcmp(m->tag, tag)) {
			*pp = m->next;
			free(m);
		} else {
			last = m;
			pp = &m->next;
		}
	}
	c->tail = last;
}

int64_t standin_queue_end_us(const standin_conn *c)
{
	int64_t now = standin_now_us();
	return c->tail && c->tail->due_us > now ? c->tail->due_us : now;
}

void standin_close_after(standin_conn *c, int code, const char *reason)
{
	c->close_pending = true;
	c->close_code = code;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
	kick(c);
}

static int on_writable(standin_conn *c, struct lws *wsi)
{
	out_msg *m = c->head;
	if (!m) {
		if (c->close_pending && !c->close_sent) {
			/* lws 4.1 sends no close frame when a writable callback returns -1: a synchronous
			 * close with the reason set does (LWS_CALLBACK_CLOSED runs inside it) */
			c->close_sent = true;
			lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
					 strlen(c->close_reason));
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		}
		return 0;
	}
	int64_t now = standin_now_us();
	if (m->due_us > now) {
		kick(c);
		return 0;
	}
	c->head = m->next;
	if (!c->head)
		c->tail = NULL;
	int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	bool ok = n >= (int)m->len;
	free(m);
	if (!ok)
		return -1;
	c->sent++;
	stat_out++;
	if (c->faults_on && c->drop_after > 0 && c->sent >= c->drop_after) {
		/* a dropped connection: no close frame, the peer sees the TCP stream end */
		shutdown(lws_get_socket_fd(wsi), SHUT_RDWR);
		return -1;
	}
	if (c->head || c->close_pending)
		kick(c);
	return 0;
}

/* ---- The server callback ---- */

static bool key_ok(struct lws *wsi, standin_mode mode)
{
	if (!api_key)
		return true;
	char v[256];
	const char *name = mode == STANDIN_DEEPGRAM ? "authorization:" : mode == STANDIN_CARTESIA ? "x-api-key:" : "xi-api-key:";
	if (lws_hdr_custom_copy(wsi, v, sizeof v, name, (int)strlen(name)) <= 0) {
		int tok = mode == STANDIN_DEEPGRAM ? WSI_TOKEN_HTTP_AUTHORIZATION : -1;
		if (tok < 0 || lws_hdr_copy(wsi, v, sizeof v, (enum lws_token_indexes)tok) <= 0)
			return false;
	}
	if (mode == STANDIN_DEEPGRAM)
		return !strncmp(v, "Token ", 6) && !strcmp(v + 6, api_key);
	return !strcmp(v, api_key);
}

static void free_conn(standin_conn *c)
{
	lws_sul_cancel(&c->due_timer);
	for (out_msg *m = c->head, *n; m; m = n) {
		n = m->next;
		free(m);
	}
	c->head = c->tail = NULL;
	free(c->rx);
	c->rx = NULL;
	c->wsi = NULL;
}

static int refuse(struct lws *wsi, unsigned int status, const char *body)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
	if (lws_add_http_common_headers(wsi, status, "application/json", (lws_filepos_t)strlen(body), &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (lws_write(wsi, (unsigned char *)body, strlen(body), LWS_WRITE_HTTP_FINAL) < 0)
		return -1;
	return 1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	standin_conn *c = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		standin_conn probe;
		memset(&probe, 0, sizeof probe);
		read_request(wsi, &probe);
		standin_mode mode = mode_of(probe.path);
		if (!mode)
			return refuse(wsi, 404, "{\"err_code\":\"NOT_FOUND\",\"err_msg\":\"no such path\"}");
		const char *st = standin_param(&probe.params, "status");
		if ((st && atoi(st) == 401) || !key_ok(wsi, mode))
			return refuse(wsi, 401, "{\"err_code\":\"INVALID_AUTH\",\"err_msg\":\"Invalid credentials.\"}");
		return 0;
	}
	case LWS_CALLBACK_HTTP:
		return refuse(wsi, 404, "{\"err_msg\":\"WebSocket only\"}") > 0 ? -1 : -1;
	case LWS_CALLBACK_ESTABLISHED: {
		memset(c, 0, sizeof *c);
		c->wsi = wsi;
		c->opened_us = standin_now_us();
		read_request(wsi, c);
		record_request(wsi);
		c->mode = mode_of(c->path);
		const char *session = standin_param(&c->params, "session");
		int faults_for = standin_param_int(&c->params, "faults_for", 0);
		c->faults_on = !session || faults_for <= 0 || session_count(session) <= faults_for;
		c->drop_after = standin_param_int(&c->params, "drop_after", 0);
		c->delay_ms = standin_param_int(&c->params, "delay_ms", 0);
		c->malformed = standin_param_int(&c->params, "malformed", 0);
		c->error_fault = standin_param_int(&c->params, "error", 0);
		stat_conns++;
		bool ok = c->mode == STANDIN_DEEPGRAM ? dg_open(c) : c->mode == STANDIN_CARTESIA ? cartesia_open(c) : eleven_open(c);
		return ok ? 0 : 0; /* a refusing mode queued its error and a close */
	}
	case LWS_CALLBACK_RECEIVE: {
		if (!c || !c->wsi)
			break;
		if (c->rx_len + len > 16 * 1024 * 1024)
			return -1;
		if (c->rx_len + len > c->rx_cap) {
			size_t cap = c->rx_cap ? c->rx_cap : 4096;
			while (cap < c->rx_len + len)
				cap *= 2;
			uint8_t *p = realloc(c->rx, cap);
			if (!p)
				return -1;
			c->rx = p;
			c->rx_cap = cap;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			break;
		size_t n = c->rx_len;
		c->rx_len = 0;
		stat_in++;
		bool binary = lws_frame_is_binary(wsi);
		if (c->mode == STANDIN_DEEPGRAM)
			dg_message(c, c->rx, n, binary);
		else if (c->mode == STANDIN_CARTESIA)
			cartesia_message(c, c->rx, n, binary);
		else
			eleven_message(c, c->rx, n, binary);
		if (c->drop_now) {
			shutdown(lws_get_socket_fd(wsi), SHUT_RDWR);
			return -1;
		}
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c && c->wsi ? on_writable(c, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c && c->wsi) {
			if (c->mode == STANDIN_DEEPGRAM)
				dg_close(c);
			else if (c->mode == STANDIN_CARTESIA)
				cartesia_close(c);
			else
				eleven_close(c);
			free_conn(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* ---- Main ---- */

static uv_loop_t loop;
static uv_signal_t sigterm, sigint;

static void on_signal(uv_signal_t *s, int signum)
{
	printf("standin: %llu connections, %llu messages out, %llu in\n", stat_conns, stat_out, stat_in);
	fflush(stdout);
	uv_signal_stop(&sigterm);
	uv_signal_stop(&sigint);
	uv_stop(&loop);
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *host = "127.0.0.1", *cert = NULL, *key = NULL, *requests_path = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--host"))
			host = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			api_key = argv[i + 1];
		else if (!strcmp(argv[i], "--tls-cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--tls-key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--script-dir"))
			standin_script_dir = argv[i + 1];
		else if (!strcmp(argv[i], "--requests"))
			requests_path = argv[i + 1];
		else {
			fprintf(stderr, "usage: sova-standin [--port P] [--host H] [--key KEY] [--tls-cert PEM --tls-key PEM] [--script-dir DIR] [--requests FILE]\n");
			return 64;
		}
	}
	if (argc % 2 == 0 || (!cert != !key)) {
		fprintf(stderr, "usage: sova-standin [--port P] [--host H] [--key KEY] [--tls-cert PEM --tls-key PEM] [--script-dir DIR] [--requests FILE]\n");
		return 64;
	}
	if (requests_path && !(requests = fopen(requests_path, "a"))) {
		fprintf(stderr, "sova-standin: cannot open %s\n", requests_path);
		return 1;
	}
	char err[256];
	if (!tts_init(err, sizeof err)) {
		fprintf(stderr, "sova-standin: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(getenv("SOVA_LWS_LOG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : LLL_ERR, NULL);
	static const struct lws_protocols protocols[] = {
		{"standin", callback, sizeof(standin_conn), 65536, 0, NULL, 0},
		{NULL, NULL, 0, 0, 0, NULL, 0},
	};
	if (uv_loop_init(&loop) != 0)
		return 1;
	void *foreign[1] = {&loop};
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
		       (cert ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = foreign;
	info.ssl_cert_filepath = cert;
	info.ssl_private_key_filepath = key;
	info.fd_limit_per_thread = 1 + 8192;
	info.timeout_secs = 30;
	info.max_http_header_data = 16384; /* a Deepgram URL with its keyterms */
	standin_ctx = lws_create_context(&info);
	if (!standin_ctx) {
		fprintf(stderr, "sova-standin: cannot create the lws context (port %d)\n", port);
		return 1;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(standin_ctx, "default");
	printf("ready port=%d\n", vh ? lws_get_vhost_listen_port(vh) : port);
	fflush(stdout);
	uv_signal_init(&loop, &sigterm);
	uv_signal_init(&loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	lws_context_destroy(standin_ctx); /* on a foreign loop: closes, then the second call frees */
	uv_run(&loop, UV_RUN_DEFAULT);
	lws_context_destroy(standin_ctx);
	uv_loop_close(&loop);
	if (requests)
		fclose(requests);
	return 0;
}

/* Twilio's webhooks out of the simulator (webhook.h). */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "call.h"
#include "events.h"
#include "phonesim.h"
#include "sign.h"

#define TIMEOUT_US (15 * 1000000LL)
#define MAX_ANSWER (64 * 1024)
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt" /* Debian's ca-certificates */
#define VHOST_NAME "phonesim-webhooks"

typedef struct ps_request {
	struct ps_request *next;
	struct ps_call *call;       /* borrowed: the call stays until its queue is empty */
	char kind[16], label[32];
	int seq;
	char *url;                  /* owned, as signed */
	char *parsed;               /* owned: url cut by lws_parse_uri */
	const char *host;           /* into parsed */
	char *path;                 /* owned: "/" + the path */
	int port;
	bool tls;
	char host_header[300];
	sova_sbuf body;
	char signature[PS_SIGNATURE_LEN];
	ps_webhook_done done;
	struct lws *wsi;
	bool started, finished, in_connect;
	int status;
	sova_sbuf answer;
	char error[160];
	int64_t started_us;
	lws_sorted_usec_list_t timer;
} ps_request;

static struct lws_vhost *vhost;

static void request_free(ps_request *r)
{
	lws_sul_cancel(&r->timer);
	free(r->url);
	free(r->parsed);
	free(r->path);
	sova_sbuf_free(&r->body);
	sova_sbuf_free(&r->answer);
	free(r);
}

static bool start(ps_request *r);

/* Takes the head request r off its call's queue and reports it: the events file, then done. */
static void complete(ps_request *r, const char *error)
{
	r->finished = true;
	lws_sul_cancel(&r->timer);
	if (error && !r->error[0])
		snprintf(r->error, sizeof r->error, "%s", error);
	struct ps_call *c = r->call;
	c->cb_head = r->next;
	if (!c->cb_head)
		c->cb_tail = NULL;
	ps_ev e;
	ps_ev_begin(&e, c->sid, "callback");
	ps_ev_str(&e, "kind", r->kind);
	ps_ev_str(&e, "status", r->label);
	if (r->seq >= 0)
		ps_ev_int(&e, "seq", r->seq);
	ps_ev_str(&e, "url", r->url);
	ps_ev_int(&e, "code", r->status);
	ps_ev_int(&e, "ms", (ps_now_us() - r->started_us) / 1000);
	if (r->error[0])
		ps_ev_str(&e, "error", r->error);
	ps_ev_end(&e);
	bool ok = r->status >= 200 && r->status < 300 && !r->error[0];
	if (r->done)
		r->done(c, r->status, ok ? (r->answer.data ? r->answer.data : "") : NULL, ok ? r->answer.len : 0);
	if (!r->wsi)
		request_free(r); /* else at WSI_DESTROY */
}

/* Starts the call's next webhook; those that cannot start are reported in their turn. */
static void kick(struct ps_call *c)
{
	while (c->cb_head && !c->cb_head->started) {
		ps_request *h = c->cb_head;
		if (start(h))
			return;
		complete(h, NULL);
	}
}

/* The request in flight is over (answered, failed or timed out): the next one goes. The call is
 * freed by its owner's tick, never here (call.c), so c stays valid after done. */
static void finish(ps_request *r, const char *error)
{
	if (r->finished)
		return;
	struct ps_call *c = r->call;
	complete(r, error);
	kick(c);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	ps_request *r = lws_container_of(sul, ps_request, timer);
	struct lws *wsi = r->wsi;
	finish(r, "no answer within 15 s");
	if (wsi)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* false when it could not start (r->error says why). */
static bool start(ps_request *r)
{
	r->started = true;
	r->started_us = ps_now_us();
	if (r->error[0])
		return false; /* a bad URL, found when it was queued */
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = ps_ctx;
	ci.vhost = vhost;
	ci.address = r->host;
	ci.port = r->port;
	ci.path = r->path;
	ci.host = r->host_header;
	ci.origin = r->host_header;
	ci.method = "POST";
	ci.alpn = "http/1.1";
	ci.ssl_connection = (r->tls ? LCCSCF_USE_SSL : 0) | LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	ci.local_protocol_name = "phonesim-webhook";
	ci.userdata = r;
	ci.pwsi = &r->wsi;
	r->in_connect = true;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	r->in_connect = false;
	if (!wsi) {
		r->wsi = NULL; /* lws gave it up */
		if (!r->error[0])
			snprintf(r->error, sizeof r->error, "cannot connect");
		return false;
	}
	lws_sul_schedule(ps_ctx, 0, &r->timer, on_timeout, TIMEOUT_US);
	return true;
}

static int on_append_headers(ps_request *r, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	char length[24];
	int ln = snprintf(length, sizeof length, "%zu", r->body.len);
	static const char FORM[] = "application/x-www-form-urlencoded; charset=utf-8";
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)FORM, (int)sizeof FORM - 1, p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (const unsigned char *)length, ln, p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-twilio-signature:", (const unsigned char *)r->signature,
					(int)strlen(r->signature), p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_USER_AGENT, (const unsigned char *)"TwilioProxy/1.1", 15, p, end))
		return -1;
	lws_client_http_body_pending(wsi, 1);
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_writable(ps_request *r, struct lws *wsi)
{
	/* form bodies are a few hundred bytes: one write */
	size_t n = r->body.len;
	unsigned char *buf = malloc(LWS_PRE + n + 1);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, r->body.data ? r->body.data : "", n);
	int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
	free(buf);
	lws_client_http_body_pending(wsi, 0);
	return w < (int)n ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	ps_request *r = user;
	if (!r)
		return 0;
	if (!r->call) { /* dropped (ps_webhooks_cancel): only waits for its socket to go */
		if (reason == LWS_CALLBACK_WSI_DESTROY)
			request_free(r);
		return reason == LWS_CALLBACK_WSI_DESTROY ? 0 : -1;
	}
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return r->finished ? -1 : on_append_headers(r, wsi, in, (unsigned char *)(*(unsigned char **)in) + len);
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return r->finished ? -1 : on_writable(r, wsi);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		r->status = (int)lws_http_client_http_response(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
		int n = (int)sizeof buf - LWS_PRE;
		return lws_http_client_read(wsi, &px, &n) < 0 ? -1 : 0;
	}
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (r->answer.len + len > MAX_ANSWER)
			return -1;
		sova_sbuf_add(&r->answer, in, len);
		return 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		finish(r, r->answer.failed ? "out of memory" : NULL);
		return -1; /* one request a connection */
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[150];
		snprintf(why, sizeof why, "%.*s", in ? (int)len : 0, in ? (const char *)in : "");
		if (!why[0])
			snprintf(why, sizeof why, "connection failed");
		if (r->in_connect)
			snprintf(r->error, sizeof r->error, "%s", why);
		else
			finish(r, why);
		return 0;
	}
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (!r->in_connect)
			finish(r, r->status ? "the connection closed before the answer ended" : "the connection closed");
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (r->wsi == wsi || !r->wsi) {
			r->wsi = NULL;
			if (r->in_connect)
				return 0; /* start() sees lws give it up */
			if (!r->finished)
				finish(r, "the connection was lost"); /* frees r: no wsi any more */
			else
				request_free(r);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols PROTOCOLS[] = {
	{"phonesim-webhook", callback, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

bool ps_webhooks_init(char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = PROTOCOLS;
	info.vhost_name = VHOST_NAME;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (ps_opt.ca_file) {
		info.client_ssl_ca_filepath = ps_opt.ca_file;
		info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	} else {
		info.client_ssl_ca_filepath = SYSTEM_CA_BUNDLE;
	}
	vhost = lws_create_vhost(ps_ctx, &info);
	if (!vhost)
		snprintf(err, errlen, "lws cannot create the webhooks' client vhost");
	return vhost != NULL;
}

/* Cuts the URL into what lws connects to; false (with r->error) when it is not http(s). */
static bool parse(ps_request *r)
{
	const char *proto = NULL, *path = NULL;
	if (!(r->parsed = strdup(r->url)) || lws_parse_uri(r->parsed, &proto, &r->host, &r->port, &path) || !proto ||
	    !r->host || !*r->host || (strcmp(proto, "http") != 0 && strcmp(proto, "https") != 0)) {
		snprintf(r->error, sizeof r->error, "not an http(s) URL");
		return false;
	}
	r->tls = !strcmp(proto, "https");
	if (asprintf(&r->path, "/%s", path) < 0) {
		r->path = NULL;
		snprintf(r->error, sizeof r->error, "out of memory");
		return false;
	}
	bool default_port = r->port == (r->tls ? 443 : 80);
	if (default_port)
		snprintf(r->host_header, sizeof r->host_header, "%s", r->host);
	else
		snprintf(r->host_header, sizeof r->host_header, "%s:%d", r->host, r->port);
	return true;
}

void ps_webhook_post(struct ps_call *c, const char *kind, const char *label, int seq, const char *url, ps_form *params,
		     ps_webhook_done done)
{
	ps_request *r = calloc(1, sizeof *r);
	if (!r || !(r->url = strdup(url))) {
		free(r);
		ps_form_free(params);
		ps_ev e;
		ps_ev_begin(&e, c->sid, "callback");
		ps_ev_str(&e, "kind", kind);
		ps_ev_str(&e, "error", "out of memory");
		ps_ev_end(&e);
		if (done)
			done(c, 0, NULL, 0);
		return;
	}
	r->call = c;
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	snprintf(r->label, sizeof r->label, "%s", label);
	r->seq = seq;
	r->done = done;
	ps_form_encode(params, &r->body);
	/* a request that cannot go (r->error set) is reported in its turn, keeping the call's order */
	if (parse(r) && (params->failed || !ps_twilio_signature(ps_opt.auth_token, url, params, r->signature) || r->body.failed))
		snprintf(r->error, sizeof r->error, "out of memory: the request is not sent");
	ps_form_free(params);
	if (c->cb_tail)
		c->cb_tail->next = r;
	else
		c->cb_head = r;
	c->cb_tail = r;
	kick(c);
}

void ps_webhooks_cancel(struct ps_call *c)
{
	for (ps_request *r = c->cb_head, *next; r; r = next) {
		next = r->next;
		lws_sul_cancel(&r->timer);
		if (r->wsi) {
			r->call = NULL;
			lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		} else {
			request_free(r);
		}
	}
	c->cb_head = c->cb_tail = NULL;
}

bool ps_webhooks_pending(const struct ps_call *c) { return c->cb_head != NULL; }

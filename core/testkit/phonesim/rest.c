/* The REST API (rest.h). */
#include "rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#include "bot/speech/provider_util.h"
#include "call.h"
#include "events.h"
#include "form.h"
#include "scenario.h"
#include "twiml.h"

#define MAX_BODY (64 * 1024)
#define MAX_TWIML 4000
#define API_PREFIX "/2010-04-01/Accounts/"
#define SINK_PREFIX "/_sim/sink/"

typedef struct rest_conn {
	char path[1024];          /* with the query string */
	char method[8];
	char auth[512];
	char signature[64];       /* sink: the X-Twilio-Signature it got */
	sova_sbuf body;
	bool too_large, answered;
	int status;
	const char *content_type;
	sova_sbuf answer;
	bool head_sent;
} rest_conn;

/* ---- Answers ---- */

static void answer(struct lws *wsi, rest_conn *r, int status, const char *content_type, sova_sbuf *body)
{
	r->answered = true;
	r->status = status;
	r->content_type = content_type;
	sova_sbuf_free(&r->answer);
	r->answer = *body;
	*body = (sova_sbuf){0};
	ps_ev e;
	ps_ev_begin(&e, NULL, "rest");
	ps_ev_str(&e, "method", r->method);
	ps_ev_str(&e, "path", r->path);
	ps_ev_int(&e, "status", status);
	ps_ev_end(&e);
	lws_callback_on_writable(wsi);
}

/* Twilio's error shape. */
static void error(struct lws *wsi, rest_conn *r, int status, int code, const char *message)
{
	sova_sbuf b = {0};
	sova_sbuf_printf(&b, "{\"code\":%d,\"message\":", code);
	sova_sbuf_json_string(&b, message, strlen(message));
	sova_sbuf_printf(&b, ",\"more_info\":\"https://www.twilio.com/docs/errors/%d\",\"status\":%d}", code, status);
	answer(wsi, r, status, "application/json", &b);
}

static void call_answer(struct lws *wsi, rest_conn *r, int status, const ps_call *c)
{
	sova_sbuf b = {0};
	ps_call_json(c, &b);
	answer(wsi, r, status, "application/json", &b);
}

/* ---- Requests ---- */

/* HTTP Basic for the configured account (constant-time compare of the whole pair). */
static bool authorized(const rest_conn *r)
{
	if (strncmp(r->auth, "Basic ", 6) != 0)
		return false;
	size_t n = 0;
	uint8_t *pair = sova_base64_decode(r->auth + 6, strlen(r->auth + 6), &n);
	char *want = NULL;
	bool ok = pair && asprintf(&want, "%s:%s", ps_opt.account_sid, ps_opt.auth_token) >= 0 && strlen(want) == n &&
		  CRYPTO_memcmp(want, pair, n) == 0;
	free(pair);
	free(want);
	return ok;
}

static bool http_url(const char *s) { return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8); }

/* The TwiML parameter parsed into doc; false after answering 400. */
static bool read_twiml(struct lws *wsi, rest_conn *r, const char *twiml, tw_doc *doc)
{
	if (strlen(twiml) > MAX_TWIML) {
		error(wsi, r, 400, 21236, "Twiml is longer than 4000 characters");
		return false;
	}
	char why[200], msg[300];
	if (!tw_parse(twiml, strlen(twiml), doc, why, sizeof why)) {
		snprintf(msg, sizeof msg, "Document parse failure: %s", why);
		error(wsi, r, 400, 12100, msg);
		return false;
	}
	return true;
}

static bool number_ok(struct lws *wsi, rest_conn *r, const ps_form *f, const char *name, int missing, int invalid)
{
	const char *v = ps_form_get(f, name);
	char msg[128];
	if (!v || !*v) {
		snprintf(msg, sizeof msg, "No '%s' number is specified", name);
		error(wsi, r, 400, missing, msg);
		return false;
	}
	if (!ps_e164(v)) {
		snprintf(msg, sizeof msg, "Invalid '%s' Phone Number: %.40s", name, v);
		error(wsi, r, 400, invalid, msg);
		return false;
	}
	return true;
}

static bool int_param(struct lws *wsi, rest_conn *r, const ps_form *f, const char *name, int lo, int hi)
{
	const char *v = ps_form_get(f, name);
	char *end = NULL;
	long x = v ? strtol(v, &end, 10) : lo;
	if (v && (!*v || *end || x < lo || x > hi)) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s must be a whole number of seconds, %d to %d", name, lo, hi);
		error(wsi, r, 400, 21220, msg);
		return false;
	}
	return true;
}

/* The parameters Twilio checks before it takes a call; false after answering 400. */
static bool create_params_ok(struct lws *wsi, rest_conn *r, const ps_form *f)
{
	if (!number_ok(wsi, r, f, "To", 21201, 21211) || !number_ok(wsi, r, f, "From", 21213, 21212))
		return false;
	if (ps_form_get(f, "Url") || ps_form_get(f, "ApplicationSid")) {
		error(wsi, r, 400, 21205, "the simulator runs Twiml only (it fetches no Url)");
		return false;
	}
	if (!ps_form_get(f, "Twiml")) {
		error(wsi, r, 400, 21205, "Url parameter is required (or Twiml)");
		return false;
	}
	const char *cb = ps_form_get(f, "StatusCallback"), *method = ps_form_get(f, "StatusCallbackMethod");
	const char *amd_cb = ps_form_get(f, "AsyncAmdStatusCallback"), *md = ps_form_get(f, "MachineDetection");
	if ((cb && !http_url(cb)) || (amd_cb && !http_url(amd_cb))) {
		error(wsi, r, 400, 21609, "a callback URL must be http:// or https://");
		return false;
	}
	if ((method && strcmp(method, "POST") != 0) ||
	    (ps_form_get(f, "AsyncAmdStatusCallbackMethod") && strcmp(ps_form_get(f, "AsyncAmdStatusCallbackMethod"), "POST") != 0)) {
		error(wsi, r, 400, 21609, "the simulator sends callbacks with POST only");
		return false;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->name[i], "StatusCallbackEvent") != 0)
			continue;
		char buf[128], msg[200];
		snprintf(buf, sizeof buf, "%s", f->value[i]);
		char *save = NULL;
		for (char *w = strtok_r(buf, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
			if (strcmp(w, "initiated") && strcmp(w, "ringing") && strcmp(w, "answered") && strcmp(w, "completed")) {
				snprintf(msg, sizeof msg, "Invalid StatusCallbackEvent: %.40s", w);
				error(wsi, r, 400, 21626, msg);
				return false;
			}
	}
	if (md && strcmp(md, "Enable") != 0 && strcmp(md, "DetectMessageEnd") != 0) {
		error(wsi, r, 400, 21217, "MachineDetection must be Enable or DetectMessageEnd");
		return false;
	}
	return int_param(wsi, r, f, "Timeout", 1, 600) && int_param(wsi, r, f, "TimeLimit", 1, 14400);
}

static void create_call(struct lws *wsi, rest_conn *r, const ps_form *f)
{
	if (!create_params_ok(wsi, r, f))
		return;
	tw_doc doc;
	if (!read_twiml(wsi, r, ps_form_get(f, "Twiml"), &doc))
		return;
	char err[128];
	ps_call *c = ps_call_create(f, &doc, err, sizeof err);
	if (!c) {
		tw_free(&doc);
		error(wsi, r, 500, 20500, err);
		return;
	}
	call_answer(wsi, r, 201, c);
}

static void not_found(struct lws *wsi, rest_conn *r)
{
	char msg[1100];
	snprintf(msg, sizeof msg, "The requested resource %.1000s was not found", r->path);
	error(wsi, r, 404, 20404, msg);
}

static void update_call(struct lws *wsi, rest_conn *r, ps_call *c, const ps_form *f)
{
	const char *twiml = ps_form_get(f, "Twiml"), *status = ps_form_get(f, "Status");
	if (ps_form_get(f, "Url")) {
		error(wsi, r, 400, 21205, "the simulator runs Twiml only (it fetches no Url)");
		return;
	}
	if (status) {
		if (strcmp(status, "completed") != 0 && strcmp(status, "canceled") != 0) {
			error(wsi, r, 400, 21218, "Status must be completed or canceled");
			return;
		}
		ps_call_hangup(c, "rest");
		call_answer(wsi, r, 200, c);
		return;
	}
	if (!twiml) {
		error(wsi, r, 400, 21205, "Url parameter is required (or Twiml, or Status)");
		return;
	}
	tw_doc doc;
	if (!read_twiml(wsi, r, twiml, &doc))
		return;
	ps_call_redirect(c, &doc);
	call_answer(wsi, r, 200, c);
}

static void api_request(struct lws *wsi, rest_conn *r)
{
	char account[64], rest[512];
	const char *after = r->path + strlen(API_PREFIX);
	size_t al = strcspn(after, "/");
	snprintf(account, sizeof account, "%.*s", (int)(al < 63 ? al : 63), after);
	snprintf(rest, sizeof rest, "%s", after + al);
	rest[strcspn(rest, "?")] = '\0';
	if (!authorized(r) || strcmp(account, ps_opt.account_sid) != 0) {
		error(wsi, r, 401, 20003, "Authentication Error - invalid username");
		return;
	}
	ps_form f = {0};
	if (!ps_form_parse(&f, r->body.data ? r->body.data : "", r->body.len)) {
		ps_form_free(&f);
		error(wsi, r, 400, 21201, "the body is not form-encoded");
		return;
	}
	bool post = !strcmp(r->method, "POST");
	char sid[64] = "";
	if (!strcmp(rest, "/Calls.json") && post) {
		create_call(wsi, r, &f);
	} else if (sscanf(rest, "/Calls/%34[A-Za-z0-9].json", sid) == 1 && !strcmp(rest + 7 + strlen(sid), ".json")) {
		ps_call *c = ps_call_find(sid);
		if (!c || (post && c->state == CALL_ENDED))
			not_found(wsi, r);
		else if (post)
			update_call(wsi, r, c, &f);
		else
			call_answer(wsi, r, 200, c);
	} else {
		not_found(wsi, r);
	}
	ps_form_free(&f);
}

static void sink_request(struct lws *wsi, rest_conn *r)
{
	ps_ev e;
	ps_ev_begin(&e, NULL, "sink");
	ps_ev_str(&e, "path", r->path);
	ps_ev_str(&e, "signature", r->signature);
	ps_ev_str(&e, "body", r->body.data ? r->body.data : "");
	ps_ev_end(&e);
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, "<Response></Response>");
	answer(wsi, r, 200, "text/xml", &b);
}

static void handle(struct lws *wsi, rest_conn *r)
{
	if (r->body.failed) {
		error(wsi, r, 500, 20500, "out of memory");
	} else if (!strncmp(r->path, API_PREFIX, strlen(API_PREFIX)) && (!strcmp(r->method, "POST") || !strcmp(r->method, "GET"))) {
		api_request(wsi, r);
	} else if (!strncmp(r->path, SINK_PREFIX, strlen(SINK_PREFIX)) && !strcmp(r->method, "POST")) {
		sink_request(wsi, r);
	} else {
		not_found(wsi, r);
	}
}

/* ---- lws ---- */

static void reset(rest_conn *r)
{
	sova_sbuf_free(&r->body);
	sova_sbuf_free(&r->answer);
	memset(r, 0, sizeof *r);
}

static int on_http(struct lws *wsi, rest_conn *r, const char *uri, size_t len)
{
	reset(r);
	char *u = NULL;
	int ul = 0;
	int m = lws_http_get_uri_and_method(wsi, &u, &ul);
	snprintf(r->method, sizeof r->method, "%s", m == LWSHUMETH_GET ? "GET" : m == LWSHUMETH_POST ? "POST" : "OTHER");
	snprintf(r->path, sizeof r->path, "%.*s", (int)len, uri);
	char frag[512];
	for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
		size_t pl = strlen(r->path);
		snprintf(r->path + pl, sizeof r->path - pl, "%c%s", i ? '&' : '?', frag);
	}
	if (lws_hdr_copy(wsi, r->auth, sizeof r->auth, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		r->auth[0] = '\0';
	if (lws_hdr_custom_copy(wsi, r->signature, sizeof r->signature, "x-twilio-signature:", 19) < 0)
		r->signature[0] = '\0';
	char cl[32] = "";
	bool has_length = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	long long length = has_length ? atoll(cl) : 0;
	if (length > MAX_BODY || length < 0) {
		r->too_large = true;
		error(wsi, r, 413, 20413, "the body is over 64 KiB");
		return 0;
	}
	if (has_length && (length > 0 || m == LWSHUMETH_POST))
		return 0; /* the body comes (BODY_COMPLETION even for an empty POST) */
	handle(wsi, r);
	return 0;
}

static int on_writable(struct lws *wsi, rest_conn *r)
{
	if (!r->answered)
		return 0;
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
	size_t n = r->answer.len;
	if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->content_type, n, &p, end) ||
	    (r->too_large && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	unsigned char *body = malloc(LWS_PRE + n + 1);
	if (!body)
		return -1;
	memcpy(body + LWS_PRE, r->answer.data ? r->answer.data : "", n);
	int w = lws_write(wsi, body + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
	free(body);
	bool close_after = r->too_large;
	reset(r);
	if (w < (int)n || close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	rest_conn *r = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return r ? on_http(wsi, r, in, len) : -1;
	case LWS_CALLBACK_HTTP_BODY:
		if (!r || r->answered)
			return 0;
		if (r->body.len + len > MAX_BODY) {
			r->too_large = true;
			error(wsi, r, 413, 20413, "the body is over 64 KiB");
			return 0;
		}
		sova_sbuf_add(&r->body, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (r && !r->answered)
			handle(wsi, r);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return r ? on_writable(wsi, r) : -1;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r)
			reset(r);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return -1; /* no WebSockets on the REST port */
	default:
		return 0;
	}
}

const struct lws_protocols ps_rest_protocols[] = {
	{"phonesim-rest", callback, sizeof(rest_conn), 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The phone simulator (core/testkit/phonesim/): its pure parts (Twilio's signature, forms,
 * TwiML), then sova-phone-sim as a child on loopback against a tiny bot made here (an lws server
 * taking the webhooks and the Media Streams socket): REST refusals, a call's stream (connected,
 * start with its parameters, media at real-time pace, marks returned as their audio plays, clear
 * returning them at once, the scripted callee answering after the bot's turn, stop on hang-up)
 * and signed status callbacks checked with an HMAC computed here; then keys pressed with
 * <Play digits> (the stream replaced, the digits collected) and <Dial> to a busy number with its
 * action answered. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bot/media/audio.h"
#include "bot/speech/provider_util.h"
#include "form.h"
#include "sign.h"
#include "twiml.h"
#include "standin_harness.h"

#define ACCOUNT "AC00000000000000000000000000000001"
#define TOKEN "test-auth-token"

/* ---- Pure parts ---- */

static void test_signature_matches_the_known_vector(void **state)
{
	(void)state;
	ps_form f = {0};
	/* VOICE-NOTES §1: computed with Twilio's own validator; given here out of order */
	assert_true(ps_form_add(&f, "To", "+18005551212"));
	assert_true(ps_form_add(&f, "CallSid", "CA1234567890ABCDE"));
	assert_true(ps_form_add(&f, "Caller", "+12349013030"));
	assert_true(ps_form_add(&f, "Digits", "1234"));
	assert_true(ps_form_add(&f, "From", "+12349013030"));
	char sig[PS_SIGNATURE_LEN];
	assert_true(ps_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &f, sig));
	assert_string_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	assert_true(ps_twilio_signature("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", &f, sig));
	assert_string_not_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	ps_form_free(&f);
}

static void test_forms_decode_plus_escapes_and_repeats(void **state)
{
	(void)state;
	ps_form f = {0};
	const char *body = "To=%2B15551234567&Say=a+b&StatusCallbackEvent=initiated&StatusCallbackEvent=completed&Empty=";
	assert_true(ps_form_parse(&f, body, strlen(body)));
	assert_int_equal(f.n, 5);
	assert_string_equal(ps_form_get(&f, "To"), "+15551234567");
	assert_string_equal(ps_form_get(&f, "Say"), "a b");
	assert_string_equal(f.value[3], "completed");
	assert_string_equal(ps_form_get(&f, "Empty"), "");
	ps_form_free(&f);
	assert_false(ps_form_parse(&f, "A=%zz", 5));
	ps_form_free(&f);
	sova_sbuf b = {0};
	assert_true(ps_form_add(&f, "To", "+1 555&"));
	ps_form_encode(&f, &b);
	assert_string_equal(b.data, "To=%2B1%20555%26");
	sova_sbuf_free(&b);
	ps_form_free(&f);
}

static void test_twiml_subset_parses_and_refuses(void **state)
{
	(void)state;
	tw_doc d;
	char err[200];
	const char *ok = "<?xml version=\"1.0\"?><Response><Play digits=\"ww1#\"/><Connect><Stream url=\"wss://b.example/twilio/media/t\">"
			 "<Parameter name=\"session\" value=\"a&amp;b\"/></Stream></Connect><!-- c --><Pause length=\"2\"/>"
			 "<Dial callerId=\"+15550000000\" timeout=\"20\" action=\"https://b.example/d\"><Number> +15551112222 </Number></Dial>"
			 "<Say>hi</Say><Hangup/></Response>";
	assert_true(tw_parse(ok, strlen(ok), &d, err, sizeof err));
	assert_int_equal(d.n, 6);
	assert_int_equal(d.verbs[0].kind, TW_PLAY_DIGITS);
	assert_string_equal(d.verbs[0].digits, "ww1#");
	assert_int_equal(d.verbs[1].kind, TW_STREAM);
	assert_string_equal(d.verbs[1].param_value[0], "a&b");
	assert_int_equal(d.verbs[2].length_s, 2);
	assert_string_equal(d.verbs[3].number, "+15551112222");
	assert_int_equal(d.verbs[3].timeout_s, 20);
	assert_int_equal(d.verbs[5].kind, TW_HANGUP);
	tw_free(&d);
	static const char *const BAD[] = {
		"<Response><Gather/></Response>",                                    /* not simulated */
		"<Response><Connect><Stream url=\"ws://x/a?b=1\"/></Connect></Response>", /* a query string */
		"<Response><Play digits=\"12x\"/></Response>",
		"<Response><Hangup></Response>",                                     /* not closed */
		"<Reply><Hangup/></Reply>",
		"<Response><Pause length=\"soon\"/></Response>",
		"<Response><Say>&bogus;</Say></Response>",
	};
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		assert_false(tw_parse(BAD[i], strlen(BAD[i]), &d, err, sizeof err));
		assert_int_equal(d.n, 0);
	}
}

/* ---- The bot stand-in: webhooks and Media Streams on one lws server ---- */

#define MAX_HOOKS 64
#define MAX_STREAMS 8
#define MAX_OUT 64

typedef struct hook {
	char path[256], signature[64];
	char body[4096];
} hook;

typedef struct bot_stream {
	struct lws *wsi;
	char path[256];
	bool connected, started, stopped, closed;
	char stream_sid[64], call_sid[64], session[64];
	int media, voiced;          /* frames from the sim, and those with speech in them */
	int64_t first_media_ms, last_media_ms;
	int64_t voiced_at_ms;       /* the first voiced frame after voiced_since_ms */
	int64_t voiced_since_ms;
	char marks[16][64];
	int64_t mark_ms[16];
	int num_marks;
	char *out[MAX_OUT];
	int out_n;
} bot_stream;

static hook hooks[MAX_HOOKS];
static int num_hooks;
static bot_stream streams[MAX_STREAMS];
static int num_streams;
static const char *dial_answer = "<Response><Hangup/></Response>";

typedef struct pss {
	int stream; /* -1: a plain HTTP request */
	char path[256], signature[64];
	sova_sbuf body;
} pss;

static void on_sim_message(bot_stream *s, const uint8_t *data, size_t len)
{
	bson_t doc;
	const char *event = NULL, *v = NULL;
	uint32_t vl = 0;
	if (!sova_json_parse(&doc, data, len) || !sova_json_string(&doc, "event", &event, NULL, NULL)) {
		bson_destroy(&doc);
		return;
	}
	if (!strcmp(event, "connected")) {
		s->connected = true;
	} else if (!strcmp(event, "start")) {
		s->started = true;
		if (sova_json_string(&doc, "start.streamSid", &v, NULL, NULL))
			snprintf(s->stream_sid, sizeof s->stream_sid, "%s", v);
		if (sova_json_string(&doc, "start.callSid", &v, NULL, NULL))
			snprintf(s->call_sid, sizeof s->call_sid, "%s", v);
		if (sova_json_string(&doc, "start.customParameters.session", &v, NULL, NULL))
			snprintf(s->session, sizeof s->session, "%s", v);
	} else if (!strcmp(event, "media") && sova_json_string(&doc, "media.payload", &v, &vl, NULL)) {
		size_t n = 0;
		uint8_t *mu = sova_base64_decode(v, vl, &n);
		int16_t pcm[160];
		if (mu && n == 160) {
			int64_t now = test_now_ms();
			if (!s->media)
				s->first_media_ms = now;
			s->last_media_ms = now;
			s->media++;
			sova_mulaw_decode_frame(mu, n, pcm);
			if (sova_level_dbfs(pcm, n) > -45.0) {
				s->voiced++;
				if (s->voiced_since_ms && !s->voiced_at_ms && now >= s->voiced_since_ms)
					s->voiced_at_ms = now;
			}
		}
		free(mu);
	} else if (!strcmp(event, "mark") && sova_json_string(&doc, "mark.name", &v, NULL, NULL) && s->num_marks < 16) {
		snprintf(s->marks[s->num_marks], sizeof s->marks[0], "%s", v);
		s->mark_ms[s->num_marks++] = test_now_ms();
	} else if (!strcmp(event, "stop")) {
		s->stopped = true;
	}
	bson_destroy(&doc);
}

static void bot_send(int i, const char *json)
{
	bot_stream *s = &streams[i];
	if (s->out_n < MAX_OUT && s->wsi && !s->closed) {
		s->out[s->out_n++] = strdup(json);
		lws_callback_on_writable(s->wsi);
	}
}

/* ms of a 440 Hz tone as one media message, then a mark. */
static void bot_say(int i, int ms, const char *mark)
{
	size_t n = (size_t)ms * 8;
	int16_t *pcm = malloc(n * sizeof *pcm);
	uint8_t *mu = malloc(n);
	assert_non_null(pcm);
	assert_non_null(mu);
	for (size_t k = 0; k < n; k++)
		pcm[k] = (int16_t)(8000 * sin(2 * M_PI * 440 * (double)k / 8000));
	sova_mulaw_encode_frame(pcm, n, mu);
	sova_sbuf b = {0};
	sova_sbuf_printf(&b, "{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"payload\":\"", streams[i].stream_sid);
	sova_sbuf_base64(&b, mu, n);
	sova_sbuf_adds(&b, "\"}}");
	bot_send(i, b.data);
	sova_sbuf_reset(&b);
	sova_sbuf_printf(&b, "{\"event\":\"mark\",\"streamSid\":\"%s\",\"mark\":{\"name\":\"%s\"}}", streams[i].stream_sid, mark);
	bot_send(i, b.data);
	sova_sbuf_free(&b);
	free(pcm);
	free(mu);
}

static int http_reply(struct lws *wsi, const char *type, const char *body)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
	size_t n = strlen(body);
	if (lws_add_http_common_headers(wsi, 200, type, n, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	unsigned char out[LWS_PRE + 512];
	memcpy(out + LWS_PRE, body, n);
	if (lws_write(wsi, out + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) < (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int bot_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	pss *p = user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (num_streams == MAX_STREAMS)
			return -1;
		memset(p, 0, sizeof *p);
		p->stream = num_streams++;
		memset(&streams[p->stream], 0, sizeof streams[0]);
		streams[p->stream].wsi = wsi;
		lws_hdr_copy(wsi, streams[p->stream].path, sizeof streams[0].path, WSI_TOKEN_GET_URI);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		on_sim_message(&streams[p->stream], in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		bot_stream *s = &streams[p->stream];
		if (!s->out_n)
			return 0;
		char *m = s->out[0];
		memmove(s->out, s->out + 1, (size_t)(--s->out_n) * sizeof s->out[0]);
		size_t n = strlen(m);
		unsigned char *buf = malloc(LWS_PRE + n);
		memcpy(buf + LWS_PRE, m, n);
		int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
		free(buf);
		free(m);
		if (s->out_n)
			lws_callback_on_writable(wsi);
		return w < (int)n ? -1 : 0;
	}
	case LWS_CALLBACK_CLOSED:
		if (p && p->stream >= 0) {
			streams[p->stream].closed = true;
			for (int i = 0; i < streams[p->stream].out_n; i++)
				free(streams[p->stream].out[i]);
			streams[p->stream].out_n = 0;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		memset(p, 0, sizeof *p);
		p->stream = -1;
		snprintf(p->path, sizeof p->path, "%.*s", (int)len, (const char *)in);
		if (lws_hdr_custom_copy(wsi, p->signature, sizeof p->signature, "x-twilio-signature:", 19) < 0)
			p->signature[0] = '\0';
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		sova_sbuf_add(&p->body, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
		if (num_hooks < MAX_HOOKS) {
			hook *h = &hooks[num_hooks++];
			snprintf(h->path, sizeof h->path, "%s", p->path);
			snprintf(h->signature, sizeof h->signature, "%s", p->signature);
			snprintf(h->body, sizeof h->body, "%s", p->body.data ? p->body.data : "");
		}
		sova_sbuf_free(&p->body);
		bool dial = strstr(p->path, "/twilio/dial/") != NULL;
		return http_reply(wsi, dial ? "text/xml" : "text/plain", dial ? dial_answer : "");
	}
	case LWS_CALLBACK_CLOSED_HTTP:
		if (p)
			sova_sbuf_free(&p->body);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols BOT_PROTOCOLS[] = {
	{"bot", bot_callback, sizeof(pss), 65536, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int bot_port;

static void bot_listen(test_loop *l)
{
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = BOT_PROTOCOLS;
	info.vhost_name = "bot";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	struct lws_vhost *vh = lws_create_vhost(l->ctx, &info);
	assert_non_null(vh);
	bot_port = lws_get_vhost_listen_port(vh);
	assert_true(bot_port > 0);
}

/* ---- The simulator and its REST API ---- */

static char dir[64], scenarios_path[128], events_path[128];

static void write_scenarios(void)
{
	snprintf(dir, sizeof dir, "/tmp/sova-phonesim-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(scenarios_path, sizeof scenarios_path, "%s/scenarios.json", dir);
	snprintf(events_path, sizeof events_path, "%s/events.jsonl", dir);
	FILE *f = fopen(scenarios_path, "w");
	assert_non_null(f);
	fputs("{\"+15550000001\": {\"kind\": \"human\", \"ring_ms\": 200, \"reply_gap_ms\": 300,"
	      "   \"lines\": [\"Yes, this is Ann.\", \"Goodbye.\"]},"
	      " \"+15550000002\": {\"kind\": \"ivr\", \"ring_ms\": 200, \"start\": \"id\", \"nodes\": {"
	      "   \"id\": {\"type\": \"collect\", \"say\": \"Enter the member ID followed by pound.\", \"next\": \"bye\"},"
	      "   \"bye\": {\"type\": \"human\", \"greeting\": \"Thank you.\"}}},"
	      " \"+15550000003\": {\"kind\": \"busy\", \"ring_ms\": 300},"
	      " \"+15550000004\": {\"kind\": \"ivr\", \"ring_ms\": 200, \"start\": \"main\", \"nodes\": {"
	      "   \"main\": {\"type\": \"menu\", \"say\": \"For providers, press 1.\", \"keys\": {\"1\": \"member\"}},"
	      "   \"member\": {\"type\": \"collect\", \"say\": \"Enter the member ID followed by pound.\", \"next\": \"queue\"},"
	      "   \"queue\": {\"type\": \"hold\", \"hold_seconds\": 3, \"message\": \"Your call is important to us.\","
	      "     \"message_every_s\": 1, \"next\": \"rep\"},"
	      "   \"rep\": {\"type\": \"human\", \"voice\": \"slt\", \"greeting\": \"Prior authorization, this is Dana.\"}}},"
	      " \"+15550000005\": {\"kind\": \"voicemail\", \"ring_ms\": 200, \"beep_ms\": 400,"
	      "   \"greeting\": \"Please leave a message after the tone.\"},"
	      " \"+15550000006\": {\"kind\": \"human\", \"ring_ms\": 200, \"reply_gap_ms\": 200, \"hangup_in_line\": 1,"
	      "   \"hangup_at_ms\": 500, \"lines\": [\"One two three four five six seven eight nine ten.\"]}}",
	      f);
	assert_int_equal(fclose(f), 0);
}

typedef struct rest_answer {
	long status;
	char body[4096];
	size_t len;
} rest_answer;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	rest_answer *a = ud;
	size_t k = size * n;
	if (a->len + k < sizeof a->body) {
		memcpy(a->body + a->len, data, k);
		a->len += k;
		a->body[a->len] = '\0';
	}
	return k;
}

/* A form POST (fields: "k=v" already encoded, NULL-terminated) to the sim's REST API. */
static rest_answer rest(const standin *sim, const char *path, const char *user, const char *const *fields)
{
	rest_answer a = {0};
	char url[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/2010-04-01/Accounts/%s%s", sim->port, ACCOUNT, path);
	sova_sbuf body = {0};
	sova_sbuf_add(&body, "", 0);
	for (int i = 0; fields && fields[i]; i++) {
		if (i)
			sova_sbuf_add(&body, "&", 1);
		sova_sbuf_adds(&body, fields[i]);
	}
	CURL *h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERPWD, user);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
	curl_easy_cleanup(h);
	sova_sbuf_free(&body);
	return a;
}

/* name=value with value percent-encoded, into out. */
static const char *field(char *out, size_t cap, const char *name, const char *value)
{
	sova_sbuf b = {0};
	sova_sbuf_url_encode(&b, value);
	snprintf(out, cap, "%s=%s", name, b.data ? b.data : "");
	sova_sbuf_free(&b);
	return out;
}

static bool start_sim(standin *sim)
{
	const char *args[] = {"--account-sid", ACCOUNT, "--auth-token", TOKEN, "--scenarios", scenarios_path, "--events", events_path, NULL};
	return standin_start(sim, args);
}

/* Twilio's signature over url and the hook's form body, computed here without sign.c. */
static bool signed_right(const hook *h, const char *url)
{
	ps_form f = {0};
	if (!ps_form_parse(&f, h->body, strlen(h->body)))
		return false;
	/* insertion sort by name then value: a separate path from sign.c's qsort */
	for (size_t i = 1; i < f.n; i++)
		for (size_t j = i; j > 0 && (strcmp(f.name[j - 1], f.name[j]) > 0 ||
					     (!strcmp(f.name[j - 1], f.name[j]) && strcmp(f.value[j - 1], f.value[j]) > 0)); j--) {
			char *n = f.name[j], *v = f.value[j];
			f.name[j] = f.name[j - 1];
			f.value[j] = f.value[j - 1];
			f.name[j - 1] = n;
			f.value[j - 1] = v;
		}
	sova_sbuf data = {0};
	sova_sbuf_adds(&data, url);
	for (size_t i = 0; i < f.n; i++) {
		sova_sbuf_adds(&data, f.name[i]);
		sova_sbuf_adds(&data, f.value[i]);
	}
	unsigned char mac[20];
	unsigned int ml = 0;
	HMAC(EVP_sha1(), TOKEN, (int)strlen(TOKEN), (unsigned char *)data.data, data.len, mac, &ml);
	char b64[40];
	EVP_EncodeBlock((unsigned char *)b64, mac, 20);
	sova_sbuf_free(&data);
	ps_form_free(&f);
	return !strcmp(b64, h->signature);
}

static const hook *find_hook(const char *path_part, const char *body_part)
{
	for (int i = 0; i < num_hooks; i++)
		if (strstr(hooks[i].path, path_part) && strstr(hooks[i].body, body_part))
			return &hooks[i];
	return NULL;
}

static const char *hook_want_path, *hook_want_body;
static bool hook_came(void *ud)
{
	(void)ud;
	return find_hook(hook_want_path, hook_want_body) != NULL;
}

static const hook *wait_hook(test_loop *l, const char *path_part, const char *body_part, int ms)
{
	hook_want_path = path_part;
	hook_want_body = body_part;
	loop_until(l, hook_came, NULL, ms);
	return find_hook(path_part, body_part);
}

static bool events_have(const char *a, const char *b)
{
	FILE *f = fopen(events_path, "r");
	char line[8192];
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, a) && (!b || strstr(line, b));
	if (f)
		fclose(f);
	return found;
}

/* The number after "field": in the first line of event; -1 when there is none. */
static long event_int(const char *event, const char *field)
{
	char want[64], key[64], line[8192];
	snprintf(want, sizeof want, "\"event\":\"%s\"", event);
	snprintf(key, sizeof key, "\"%s\":", field);
	FILE *f = fopen(events_path, "r");
	long v = -1;
	while (f && v < 0 && fgets(line, sizeof line, f)) {
		const char *k = strstr(line, want) ? strstr(line, key) : NULL;
		if (k)
			v = strtol(k + strlen(key), NULL, 10);
	}
	if (f)
		fclose(f);
	return v;
}

static const char *events_want_a, *events_want_b;
static bool events_came(void *ud)
{
	(void)ud;
	return events_have(events_want_a, events_want_b);
}

static bool wait_events(test_loop *l, const char *a, const char *b, int ms)
{
	events_want_a = a;
	events_want_b = b;
	return loop_until(l, events_came, NULL, ms);
}

/* Places a call to `to` whose TwiML streams to /twilio/media/<token>, with webhooks under
 * /twilio/…/<session> (every status event; AMD when amd). The call's sid into sid. */
static void place(const standin *sim, const char *to, const char *token, const char *session, bool amd, char sid[40])
{
	char twiml[512], twiml_f[1024], cb[256], cb_f[512], amd_cb[256], amd_f[512], to_f[64], from_f[64];
	snprintf(twiml, sizeof twiml, "<Response><Connect><Stream url=\"ws://127.0.0.1:%d/twilio/media/%s\"/></Connect></Response>",
		 bot_port, token);
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	snprintf(cb, sizeof cb, "http://127.0.0.1:%d/twilio/status/%s", bot_port, session);
	field(cb_f, sizeof cb_f, "StatusCallback", cb);
	snprintf(amd_cb, sizeof amd_cb, "http://127.0.0.1:%d/twilio/amd/%s", bot_port, session);
	field(amd_f, sizeof amd_f, "AsyncAmdStatusCallback", amd_cb);
	field(to_f, sizeof to_f, "To", to);
	field(from_f, sizeof from_f, "From", "+15559990000");
	const char *create[] = {to_f, from_f, twiml_f, cb_f, "StatusCallbackEvent=initiated+ringing+answered+completed",
				amd ? "MachineDetection=DetectMessageEnd" : NULL, "AsyncAmd=true", amd_f, NULL};
	rest_answer a = rest(sim, "/Calls.json", ACCOUNT ":" TOKEN, create);
	assert_int_equal(a.status, 201);
	snprintf(sid, 40, "%.34s", strstr(a.body, "\"sid\":\"") + 7);
}

/* <Play digits> then a new stream, as a flow presses keys. */
static void press(const standin *sim, const char *sid, const char *keys, const char *token)
{
	char twiml[512], twiml_f[1024], path[80];
	snprintf(twiml, sizeof twiml,
		 "<Response><Play digits=\"%s\"/><Connect><Stream url=\"ws://127.0.0.1:%d/twilio/media/%s\"/></Connect></Response>",
		 keys, bot_port, token);
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	snprintf(path, sizeof path, "/Calls/%s.json", sid);
	const char *update[] = {twiml_f, NULL};
	assert_int_equal(rest(sim, path, ACCOUNT ":" TOKEN, update).status, 200);
}

static void cleanup_dir(void)
{
	unlink(scenarios_path);
	unlink(events_path);
	rmdir(dir);
}

static void reset_bot(void)
{
	num_hooks = 0;
	num_streams = 0;
	memset(streams, 0, sizeof streams);
}

static void test_rest_refuses_bad_auth_parameters_and_unknown_calls(void **state)
{
	(void)state;
	write_scenarios();
	standin sim;
	assert_true(start_sim(&sim));
	char to[64], from[64], twiml[256];
	field(to, sizeof to, "To", "+15550000001");
	field(from, sizeof from, "From", "+15559990000");
	field(twiml, sizeof twiml, "Twiml", "<Response><Hangup/></Response>");
	const char *good[] = {to, from, twiml, NULL};
	rest_answer a = rest(&sim, "/Calls.json", ACCOUNT ":wrong", good);
	assert_int_equal(a.status, 401);
	assert_non_null(strstr(a.body, "\"code\":20003"));
	const char *bad_to[] = {"To=15550000001", from, twiml, NULL};
	a = rest(&sim, "/Calls.json", ACCOUNT ":" TOKEN, bad_to);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body, "\"code\":21211"));
	const char *no_twiml[] = {to, from, NULL};
	a = rest(&sim, "/Calls.json", ACCOUNT ":" TOKEN, no_twiml);
	assert_int_equal(a.status, 400);
	const char *hangup[] = {"Status=completed", NULL};
	a = rest(&sim, "/Calls/CA0123456789abcdef0123456789abcdef.json", ACCOUNT ":" TOKEN, hangup);
	assert_int_equal(a.status, 404);
	assert_non_null(strstr(a.body, "\"code\":20404"));
	a = rest(&sim, "/Calls.json", ACCOUNT ":" TOKEN, good);
	assert_int_equal(a.status, 201);
	assert_non_null(strstr(a.body, "\"sid\":\"CA"));
	assert_non_null(strstr(a.body, "\"status\":\"queued\""));
	standin_stop(&sim);
	cleanup_dir();
}

typedef struct want {
	int stream;
	bool (*cond)(const bot_stream *s);
} want;

static bool stream_cond(void *ud)
{
	want *w = ud;
	return w->stream < num_streams && w->cond(&streams[w->stream]);
}

static bool is_started(const bot_stream *s) { return s->started || s->closed; }
static bool has_50_media(const bot_stream *s) { return s->media >= 50 || s->closed; }
static bool has_mark_1(const bot_stream *s) { return s->num_marks >= 1 || s->closed; }
static bool has_mark_2(const bot_stream *s) { return s->num_marks >= 2 || s->closed; }
static bool voiced_again(const bot_stream *s) { return s->voiced_at_ms || s->closed; }
static bool is_stopped(const bot_stream *s) { return (s->stopped && s->closed) || s->closed; }

static void wait_stream(test_loop *l, int i, bool (*cond)(const bot_stream *), int ms)
{
	want w = {i, cond};
	assert_true(loop_until(l, stream_cond, &w, ms));
}

static void test_a_call_streams_marks_clears_and_hangs_up(void **state)
{
	(void)state;
	write_scenarios();
	reset_bot();
	test_loop l;
	assert_true(loop_init(&l));
	bot_listen(&l);
	standin sim;
	assert_true(start_sim(&sim));
	char twiml[512], cb[256], to[64], from[64];
	snprintf(twiml, sizeof twiml,
		 "<Response><Connect><Stream url=\"ws://127.0.0.1:%d/twilio/media/0123abcd\">"
		 "<Parameter name=\"session\" value=\"S1\"/></Stream></Connect></Response>",
		 bot_port);
	char twiml_f[1024], cb_f[512];
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	snprintf(cb, sizeof cb, "http://127.0.0.1:%d/twilio/status/S1", bot_port);
	field(cb_f, sizeof cb_f, "StatusCallback", cb);
	field(to, sizeof to, "To", "+15550000001");
	field(from, sizeof from, "From", "+15559990000");
	const char *create[] = {to, from, twiml_f, cb_f, "StatusCallbackMethod=POST", "StatusCallbackEvent=initiated",
				"StatusCallbackEvent=ringing", "StatusCallbackEvent=answered", "StatusCallbackEvent=completed", NULL};
	rest_answer a = rest(&sim, "/Calls.json", ACCOUNT ":" TOKEN, create);
	assert_int_equal(a.status, 201);
	char sid[40] = "";
	const char *s = strstr(a.body, "\"sid\":\"");
	assert_non_null(s);
	snprintf(sid, sizeof sid, "%.34s", s + 7);

	/* the stream: connected, start with the call and its parameters */
	wait_stream(&l, 0, is_started, 5000);
	bot_stream *st = &streams[0];
	assert_true(st->connected);
	assert_true(st->started);
	assert_string_equal(st->path, "/twilio/media/0123abcd");
	assert_string_equal(st->call_sid, sid);
	assert_string_equal(st->session, "S1");
	assert_int_equal(strncmp(st->stream_sid, "MZ", 2), 0);
	/* media at real-time pace: 50 frames take about a second */
	wait_stream(&l, 0, has_50_media, 3000);
	int64_t span = st->last_media_ms - st->first_media_ms;
	assert_true(span >= 900 && span <= 1200);

	/* the bot says 1 s; its mark comes back when that has played */
	int64_t said = test_now_ms();
	st->voiced_since_ms = said;
	bot_say(0, 1000, "t1c0");
	wait_stream(&l, 0, has_mark_1, 3000);
	assert_string_equal(st->marks[0], "t1c0");
	int64_t played = st->mark_ms[0] - said;
	assert_true(played >= 950 && played <= 1300);
	/* then the callee answers: its first line after the reply gap */
	wait_stream(&l, 0, voiced_again, 4000);
	assert_true(st->voiced_at_ms - st->mark_ms[0] >= 250);
	assert_true(st->voiced_at_ms - st->mark_ms[0] <= 1000);

	/* the bot starts 3 s more, then clears: the mark comes back at once */
	loop_run_ms(&l, 2500);
	bot_say(0, 3000, "t2c0");
	loop_run_ms(&l, 300);
	int64_t cleared = test_now_ms();
	char clear[160];
	snprintf(clear, sizeof clear, "{\"event\":\"clear\",\"streamSid\":\"%s\"}", st->stream_sid);
	bot_send(0, clear);
	wait_stream(&l, 0, has_mark_2, 2000);
	assert_string_equal(st->marks[1], "t2c0");
	assert_true(st->mark_ms[1] - cleared < 200);
	assert_true(events_have("\"event\":\"clear\"", "\"marks_returned\":1"));
	assert_true(events_have("\"event\":\"callee_line\"", "Yes, this is Ann."));
	/* the bot's reply came about 2.5 s after the line began (the line is shorter) */
	long reply = event_int("bot_reply", "latency_ms");
	assert_true(reply > 500 && reply < 2500);

	/* hang up through REST: stop on the stream, then the completed callback */
	const char *hangup[] = {"Status=completed", NULL};
	char path[80];
	snprintf(path, sizeof path, "/Calls/%s.json", sid);
	a = rest(&sim, path, ACCOUNT ":" TOKEN, hangup);
	assert_int_equal(a.status, 200);
	wait_stream(&l, 0, is_stopped, 3000);
	assert_true(st->stopped);
	assert_true(wait_events(&l, "\"event\":\"stream_stop\"", "\"bot_media\":2", 2000));
	const hook *done = wait_hook(&l, "/twilio/status/S1", "CallStatus=completed", 3000);
	assert_non_null(done);
	assert_true(signed_right(done, cb));
	assert_non_null(strstr(done->body, "SequenceNumber=3"));
	assert_non_null(strstr(done->body, "CallDuration="));
	const hook *init = find_hook("/twilio/status/S1", "CallStatus=initiated");
	assert_non_null(init);
	assert_non_null(strstr(init->body, "SequenceNumber=0"));
	assert_true(signed_right(init, cb));
	/* a forged copy does not verify: the check can fail */
	hook forged = *done;
	forged.body[strlen(forged.body) - 1] ^= 1;
	assert_false(signed_right(&forged, cb));
	/* the call is over: another update is 404 */
	a = rest(&sim, path, ACCOUNT ":" TOKEN, hangup);
	assert_int_equal(a.status, 404);
	standin_stop(&sim);
	loop_free(&l);
	cleanup_dir();
}

static bool streams_2_started(void *ud)
{
	(void)ud;
	return num_streams >= 2 && streams[1].started;
}

static void test_keys_replace_the_stream_and_a_busy_dial_runs_its_action(void **state)
{
	(void)state;
	write_scenarios();
	reset_bot();
	test_loop l;
	assert_true(loop_init(&l));
	bot_listen(&l);
	standin sim;
	assert_true(start_sim(&sim));
	char stream[256], twiml[512], twiml_f[1024], cb[256], cb_f[512], to[64], from[64];
	snprintf(stream, sizeof stream, "<Connect><Stream url=\"ws://127.0.0.1:%d/twilio/media/feed0001\"/></Connect>", bot_port);
	snprintf(twiml, sizeof twiml, "<Response>%s</Response>", stream);
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	snprintf(cb, sizeof cb, "http://127.0.0.1:%d/twilio/status/S2", bot_port);
	field(cb_f, sizeof cb_f, "StatusCallback", cb);
	field(to, sizeof to, "To", "+15550000002");
	field(from, sizeof from, "From", "+15559990000");
	const char *create[] = {to, from, twiml_f, cb_f, NULL};
	rest_answer a = rest(&sim, "/Calls.json", ACCOUNT ":" TOKEN, create);
	assert_int_equal(a.status, 201);
	char sid[40], path[80];
	snprintf(sid, sizeof sid, "%.34s", strstr(a.body, "\"sid\":\"") + 7);
	snprintf(path, sizeof path, "/Calls/%s.json", sid);
	wait_stream(&l, 0, is_started, 5000);
	loop_run_ms(&l, 500);

	/* keys: the old stream gets stop, the keys reach the menu, a new stream starts */
	snprintf(twiml, sizeof twiml, "<Response><Play digits=\"1234#\"/>%s</Response>", stream);
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	const char *keys[] = {twiml_f, NULL};
	a = rest(&sim, path, ACCOUNT ":" TOKEN, keys);
	assert_int_equal(a.status, 200);
	wait_stream(&l, 0, is_stopped, 3000);
	assert_true(streams[0].stopped);
	assert_true(loop_until(&l, streams_2_started, NULL, 5000));
	assert_string_not_equal(streams[1].stream_sid, streams[0].stream_sid);
	assert_string_equal(streams[1].call_sid, sid);
	assert_true(events_have("\"event\":\"collected\"", "\"digits\":\"1234\""));

	/* <Dial> to a busy number: the action gets DialCallStatus=busy (signed), its <Hangup/> ends the call */
	char dial_url[256];
	snprintf(dial_url, sizeof dial_url, "http://127.0.0.1:%d/twilio/dial/S2", bot_port);
	snprintf(twiml, sizeof twiml, "<Response><Dial timeout=\"10\" action=\"%s\"><Number>+15550000003</Number></Dial></Response>", dial_url);
	field(twiml_f, sizeof twiml_f, "Twiml", twiml);
	const char *dial[] = {twiml_f, NULL};
	a = rest(&sim, path, ACCOUNT ":" TOKEN, dial);
	assert_int_equal(a.status, 200);
	const hook *h = wait_hook(&l, "/twilio/dial/S2", "DialCallStatus=busy", 4000);
	assert_non_null(h);
	assert_true(signed_right(h, dial_url));
	assert_non_null(strstr(h->body, "DialCallSid=CA"));
	const hook *done = wait_hook(&l, "/twilio/status/S2", "CallStatus=completed", 3000);
	assert_non_null(done);
	assert_true(signed_right(done, cb));
	/* only completed was asked for (no events named): one callback, SequenceNumber 0 */
	assert_non_null(strstr(done->body, "SequenceNumber=0"));
	assert_null(find_hook("/twilio/status/S2", "CallStatus=ringing"));
	standin_stop(&sim);
	loop_free(&l);
	cleanup_dir();
}

static void test_a_menu_collects_keys_then_holds_with_music_then_a_rep_answers(void **state)
{
	(void)state;
	write_scenarios();
	reset_bot();
	test_loop l;
	assert_true(loop_init(&l));
	bot_listen(&l);
	standin sim;
	assert_true(start_sim(&sim));
	char sid[40];
	place(&sim, "+15550000004", "a0000001", "S4", false, sid);
	wait_stream(&l, 0, is_started, 5000);
	assert_true(wait_events(&l, "\"event\":\"callee_node\"", "\"node\":\"main\"", 3000));
	loop_run_ms(&l, 800);
	press(&sim, sid, "w1", "a0000002");
	assert_true(wait_events(&l, "\"node\":\"member\"", "callee_node", 3000));
	loop_run_ms(&l, 300);
	press(&sim, sid, "98765#", "a0000003");
	assert_true(wait_events(&l, "\"event\":\"collected\"", "\"digits\":\"98765\"", 4000));
	assert_true(wait_events(&l, "\"event\":\"callee_node\"", "\"node\":\"queue\"", 3000));
	int64_t held = test_now_ms();
	/* on hold: music (level, not silence) reaches the bot's third stream */
	bot_stream *st = &streams[2];
	int voiced_before = st->voiced;
	loop_run_ms(&l, 1500);
	assert_true(st->voiced - voiced_before > 40);
	assert_true(wait_events(&l, "\"event\":\"hold_end\"", NULL, 5000));
	assert_true(test_now_ms() - held >= 2900);
	assert_int_equal(event_int("hold_end", "held_ms"), 3000);
	assert_true(wait_events(&l, "\"event\":\"callee_node\"", "\"node\":\"rep\"", 1000));
	assert_true(st->started && !st->closed);
	standin_stop(&sim);
	loop_free(&l);
	cleanup_dir();
}

static bool amd_hook_came(void *ud)
{
	(void)ud;
	return find_hook("/twilio/amd/S5", "AnsweredBy=") != NULL;
}

static void test_a_voicemail_beeps_gives_its_verdict_and_records_the_message(void **state)
{
	(void)state;
	write_scenarios();
	reset_bot();
	test_loop l;
	assert_true(loop_init(&l));
	bot_listen(&l);
	standin sim;
	assert_true(start_sim(&sim));
	char sid[40], path[80];
	place(&sim, "+15550000005", "b0000001", "S5", true, sid);
	snprintf(path, sizeof path, "/Calls/%s.json", sid);
	wait_stream(&l, 0, is_started, 5000);
	int64_t started = test_now_ms();
	assert_true(loop_until(&l, amd_hook_came, NULL, 10000));
	const hook *amd = find_hook("/twilio/amd/S5", "AnsweredBy=");
	char amd_url[128];
	snprintf(amd_url, sizeof amd_url, "http://127.0.0.1:%d/twilio/amd/S5", bot_port);
	assert_true(signed_right(amd, amd_url));
	assert_non_null(strstr(amd->body, "AnsweredBy=machine_end_beep"));
	assert_true(test_now_ms() - started >= 1000); /* after the greeting and the beep */
	assert_true(events_have("\"event\":\"beep\"", NULL));
	/* the message: 2 s, then the bot hangs up once its mark is back */
	bot_say(0, 2000, "vm");
	wait_stream(&l, 0, has_mark_1, 4000);
	const char *hangup[] = {"Status=completed", NULL};
	assert_int_equal(rest(&sim, path, ACCOUNT ":" TOKEN, hangup).status, 200);
	assert_true(wait_events(&l, "\"event\":\"voicemail\"", "\"beeped\":true", 3000));
	long ms = event_int("voicemail", "message_ms");
	assert_true(ms >= 1950 && ms <= 2000);
	assert_int_equal(event_int("voicemail", "before_beep_ms"), 0);
	standin_stop(&sim);
	loop_free(&l);
	cleanup_dir();
}

static void test_a_human_hangs_up_mid_sentence(void **state)
{
	(void)state;
	write_scenarios();
	reset_bot();
	test_loop l;
	assert_true(loop_init(&l));
	bot_listen(&l);
	standin sim;
	assert_true(start_sim(&sim));
	char sid[40];
	place(&sim, "+15550000006", "c0000001", "S6", false, sid);
	wait_stream(&l, 0, is_started, 5000);
	bot_say(0, 600, "t1");
	assert_true(wait_events(&l, "\"event\":\"callee_line\"", NULL, 4000));
	int64_t line_at = test_now_ms();
	wait_stream(&l, 0, is_stopped, 3000);
	assert_true(streams[0].stopped);
	int64_t after = test_now_ms() - line_at;
	assert_true(after >= 400 && after <= 900); /* half a second into a three-second line */
	assert_true(events_have("\"event\":\"hangup\"", "\"by\":\"callee\""));
	long heard = event_int("bot_turn", "heard_ms");
	assert_true(heard >= 590 && heard <= 600);
	const hook *done = wait_hook(&l, "/twilio/status/S6", "CallStatus=completed", 3000);
	assert_non_null(done);
	standin_stop(&sim);
	loop_free(&l);
	cleanup_dir();
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_matches_the_known_vector),
		cmocka_unit_test(test_forms_decode_plus_escapes_and_repeats),
		cmocka_unit_test(test_twiml_subset_parses_and_refuses),
		cmocka_unit_test_teardown(test_rest_refuses_bad_auth_parameters_and_unknown_calls, stop_standins),
		cmocka_unit_test_teardown(test_a_call_streams_marks_clears_and_hangs_up, stop_standins),
		cmocka_unit_test_teardown(test_keys_replace_the_stream_and_a_busy_dial_runs_its_action, stop_standins),
		cmocka_unit_test_teardown(test_a_menu_collects_keys_then_holds_with_music_then_a_rep_answers, stop_standins),
		cmocka_unit_test_teardown(test_a_voicemail_beeps_gives_its_verdict_and_records_the_message, stop_standins),
		cmocka_unit_test_teardown(test_a_human_hangs_up_mid_sentence, stop_standins),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}

/* Deepgram live (core/bot/speech/stt_deepgram.h) against sova-standin: a normal stream
 * (speech started, interims, finals with words, utterance ends, in order), finalize, KeepAlive,
 * switching keyterms, an open search's hints as keyterms (Nova-3 only), close; and every fault: a socket dropped mid-utterance (one reconnect, the
 * audio not yet final re-sent, no words lost), dropped again (an error, earlier finals kept),
 * Deepgram's error close, malformed messages (ignored and counted, then an error past the bound),
 * 401, a slow provider (no answer to Finalize; a server that never answers the handshake). The
 * stand-in hears speech by level, so test speech is a tone: what matters here is the wire. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "bot/speech/stt_deepgram.h"
#include "bot/speech/provider_util.h"
#include "standin_harness.h"

#define RATE 16000
#define MAX_EVENTS 256

typedef struct seen {
	sova_stt_event_kind kind;
	char text[256];
	double start_s, at_s;
	bool speech_final, from_finalize;
	size_t num_words;
	double first_word_start, last_word_end;
	char first_word[32];
} seen;

typedef struct events {
	seen ev[MAX_EVENTS];
	int n;
} events;

static void on_event(void *user, const sova_stt_event *ev)
{
	events *e = user;
	if (getenv("SOVA_TEST_VERBOSE"))
		fprintf(stderr, "# event %d %s at %.3f start %.3f\n", ev->kind, ev->text ? ev->text : "", ev->at_s, ev->start_s);
	if (e->n == MAX_EVENTS)
		return;
	seen *s = &e->ev[e->n++];
	memset(s, 0, sizeof *s);
	s->kind = ev->kind;
	snprintf(s->text, sizeof s->text, "%s", ev->text ? ev->text : "");
	s->start_s = ev->start_s;
	s->at_s = ev->at_s;
	s->speech_final = ev->speech_final;
	s->from_finalize = ev->from_finalize;
	s->num_words = ev->num_words;
	if (ev->num_words) {
		s->first_word_start = ev->words[0].start_s;
		s->last_word_end = ev->words[ev->num_words - 1].end_s;
		snprintf(s->first_word, sizeof s->first_word, "%s", ev->words[0].word);
	}
}

static int count(const events *e, sova_stt_event_kind k)
{
	int n = 0;
	for (int i = 0; i < e->n; i++)
		n += e->ev[i].kind == k;
	return n;
}

/* The i-th event of kind k (from 0), or NULL. */
static const seen *nth(const events *e, sova_stt_event_kind k, int i)
{
	for (int j = 0; j < e->n; j++)
		if (e->ev[j].kind == k && i-- == 0)
			return &e->ev[j];
	return NULL;
}

static int index_of(const events *e, const seen *s) { return s ? (int)(s - e->ev) : -1; }

typedef struct wait_for {
	events *e;
	sova_stt_event_kind kind;
	int n;
} wait_for;

static bool has_n(void *ud)
{
	wait_for *w = ud;
	return count(w->e, w->kind) >= w->n || count(w->e, SOVA_STT_ERROR) > 0;
}

static bool wait_kind(test_loop *l, events *e, sova_stt_event_kind kind, int n, int ms)
{
	wait_for w = {e, kind, n};
	return loop_until(l, has_n, &w, ms) && count(e, kind) >= n;
}

/* ---- Fixture: stand-in, loop, script ---- */

static standin sd;
static test_loop lp;
static char script_path[64];
static char requests_path[64]; /* the stand-in's --requests: one line per connection */

static int setup(void **state)
{
	(void)state;
	snprintf(script_path, sizeof script_path, "/tmp/sova-dg-script-XXXXXX");
	int fd = mkstemp(script_path);
	if (fd < 0)
		return -1;
	const char *lines = "Hello there.\nI need a refill, please.\nThank you.\n";
	if (write(fd, lines, strlen(lines)) != (ssize_t)strlen(lines))
		return -1;
	close(fd);
	snprintf(requests_path, sizeof requests_path, "/tmp/sova-dg-requests-XXXXXX");
	int rfd = mkstemp(requests_path);
	if (rfd < 0)
		return -1;
	close(rfd);
	const char *args[] = {"--key", "dg-test-key", "--script-dir", "/tmp", "--requests", requests_path, NULL};
	if (!standin_start(&sd, args) || !loop_init(&lp))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	loop_free(&lp);
	standin_stop(&sd);
	unlink(script_path);
	unlink(requests_path);
	return 0;
}

/* A recognizer on the stand-in with these fault/script parameters ("k=v&k=v"). */
static sova_stt *make(events *e, const char *params, const sova_deepgram_config *extra, const char *key)
{
	char base[512];
	snprintf(base, sizeof base, "ws://127.0.0.1:%d/x/script=%s&%s", sd.port, script_path + 5, params ? params : "");
	sova_deepgram_config dg = extra ? *extra : (sova_deepgram_config){0};
	dg.api_key = key ? key : "dg-test-key";
	dg.base_url = base;
	if (!dg.connect_timeout_ms)
		dg.connect_timeout_ms = 3000;
	sova_stt_config cfg = {.sample_rate = RATE, .endpointing_ms = 300, .utterance_end_ms = 1000, .language = "en"};
	char err[200];
	sova_stt *r = sova_stt_deepgram_new(lp.ctx, &dg, &cfg, on_event, e, err, sizeof err);
	assert_non_null(r);
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_OPEN, .interim_results = true};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	return r;
}

/* Feeds audio in 20 ms frames at ten times real time (the loop runs between frames). */
static void feed(sova_stt *r, const int16_t *pcm, size_t n)
{
	char err[200];
	size_t frame = RATE / 50;
	for (size_t i = 0; i < n; i += frame) {
		size_t k = n - i < frame ? n - i : frame;
		if (!sova_stt_feed(r, pcm + i, k, err, sizeof err))
			return;
		loop_run_ms(&lp, 2);
	}
}

/* 0.3 s silence, "Hello there." 1.0 s, 1.5 s silence, "I need a refill, please." 1.2 s, 1.5 s silence. */
static size_t two_utterances(int16_t *buf)
{
	size_t n = 0;
	n += silence(buf + n, RATE, 300);
	n += tone(buf + n, RATE, 1000, 440, -12);
	n += silence(buf + n, RATE, 1500);
	n += tone(buf + n, RATE, 1200, 330, -12);
	n += silence(buf + n, RATE, 1500);
	return n;
}

static int16_t audio[RATE * 12];

/* ---- Normal stream ---- */

static void test_a_stream_gives_speech_interims_finals_and_utterance_ends_in_order(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=normal", NULL, NULL);
	assert_string_equal(sova_stt_name(r), "deepgram");
	size_t n = two_utterances(audio);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_UTTERANCE_END, 2, 5000));
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	const seen *s1 = nth(&e, SOVA_STT_SPEECH_STARTED, 0), *f1 = nth(&e, SOVA_STT_FINAL, 0), *u1 = nth(&e, SOVA_STT_UTTERANCE_END, 0);
	const seen *s2 = nth(&e, SOVA_STT_SPEECH_STARTED, 1), *f2 = nth(&e, SOVA_STT_FINAL, 1), *u2 = nth(&e, SOVA_STT_UTTERANCE_END, 1);
	const seen *i1 = nth(&e, SOVA_STT_INTERIM, 0);
	assert_non_null(s1);
	assert_non_null(i1);
	assert_non_null(f2);
	assert_true(index_of(&e, s1) < index_of(&e, i1) && index_of(&e, i1) < index_of(&e, f1));
	assert_true(index_of(&e, f1) < index_of(&e, u1) && index_of(&e, u1) < index_of(&e, s2));
	assert_true(index_of(&e, s2) < index_of(&e, f2) && index_of(&e, f2) < index_of(&e, u2));
	assert_string_equal(f1->text, "Hello there.");
	assert_true(f1->speech_final);
	assert_int_equal(f1->num_words, 2);
	assert_string_equal(f1->first_word, "hello");
	assert_true(fabs(s1->at_s - 0.3) < 0.02);
	assert_true(fabs(f1->first_word_start - 0.3) < 0.02);
	assert_true(fabs(f1->last_word_end - 1.3) < 0.02);
	assert_string_equal(f2->text, "I need a refill, please.");
	assert_int_equal(f2->num_words, 5);
	assert_true(fabs(s2->at_s - 2.8) < 0.02);
	assert_true(fabs(u2->at_s - 4.0) < 0.05);
	/* after close nothing more arrives */
	int before = e.n;
	sova_stt_close(r);
	feed(r, audio, RATE / 10);
	loop_run_ms(&lp, 200);
	assert_int_equal(e.n, before);
	sova_stt_free(r);
}

static void test_finalize_flushes_and_ends_the_utterance_once(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=finalize", NULL, NULL);
	size_t n = silence(audio, RATE, 300);
	n += tone(audio + n, RATE, 700, 440, -12);
	feed(r, audio, n);
	char err[200];
	assert_true(sova_stt_finalize(r, err, sizeof err));
	assert_true(wait_kind(&lp, &e, SOVA_STT_UTTERANCE_END, 1, 3000));
	const seen *f = nth(&e, SOVA_STT_FINAL, 0);
	assert_non_null(f);
	assert_true(f->from_finalize);
	assert_string_equal(f->text, "Hello there.");
	assert_true(index_of(&e, f) < index_of(&e, nth(&e, SOVA_STT_UTTERANCE_END, 0)));
	/* the speech then stops: Deepgram's own UtteranceEnd for those words is not repeated */
	n = silence(audio, RATE, 1600);
	feed(r, audio, n);
	loop_run_ms(&lp, 300);
	assert_int_equal(count(&e, SOVA_STT_UTTERANCE_END), 1);
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	sova_stt_free(r);
}

static void test_keepalive_holds_a_quiet_stream_open(void **state)
{
	(void)state;
	static events e, q;
	memset(&e, 0, sizeof e);
	memset(&q, 0, sizeof q);
	sova_deepgram_config ka = {.keepalive_ms = 300};
	sova_stt *r = make(&e, "session=ka&idle_ms=1000", &ka, NULL);
	sova_deepgram_config no_ka = {.keepalive_ms = 60000};
	sova_stt *quiet = make(&q, "session=ka2&idle_ms=1000", &no_ka, NULL);
	feed(r, audio, silence(audio, RATE, 100));
	feed(quiet, audio, silence(audio, RATE, 100));
	loop_run_ms(&lp, 2200);
	/* without KeepAlive Deepgram closes with NET-0001; with it the stream still works */
	assert_int_equal(count(&q, SOVA_STT_ERROR), 1);
	assert_non_null(strstr(nth(&q, SOVA_STT_ERROR, 0)->text, "NET-0001"));
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	size_t n = tone(audio, RATE, 600, 440, -12);
	n += silence(audio + n, RATE, 500);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_FINAL, 1, 3000));
	sova_stt_free(r);
	sova_stt_free(quiet);
}

static void test_other_keyterms_open_a_new_stream_and_results_continue(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=switch", NULL, NULL);
	size_t n = silence(audio, RATE, 200);
	n += tone(audio + n, RATE, 600, 440, -12);
	n += silence(audio + n, RATE, 500);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_FINAL, 1, 3000));
	const char *phrases[] = {"refill", "my date of birth is <digits>"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_KEYWORDS, .phrases = phrases, .num_phrases = 2, .interim_results = false};
	char err[200];
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	int interims = count(&e, SOVA_STT_INTERIM);
	int finals = count(&e, SOVA_STT_FINAL); /* the first stream's flush may add an empty one */
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_FINAL, finals + 1, 3000));
	const seen *last = nth(&e, SOVA_STT_FINAL, count(&e, SOVA_STT_FINAL) - 1);
	assert_string_equal(last->text, "I need a refill, please.");
	/* the second stream's clock continues the first's: its words come after the switch */
	assert_true(last->first_word_start > 1.49);
	assert_int_equal(count(&e, SOVA_STT_INTERIM), interims); /* interim_results false now */
	sova_stt_free(r);
}

/* The stand-in's latest record of a connection whose path names this session ("session=x/"). */
static char request_line[4096];
static bool latest_request(const char *session)
{
	request_line[0] = '\0';
	FILE *f = fopen(requests_path, "r");
	if (!f)
		return false;
	char line[sizeof request_line];
	while (fgets(line, sizeof line, f))
		if (strstr(line, session))
			snprintf(request_line, sizeof request_line, "%s", line);
	fclose(f);
	return request_line[0] != '\0';
}

typedef struct wait_request {
	const char *session, *needle;
} wait_request;
static bool has_request(void *ud)
{
	const wait_request *w = ud;
	return latest_request(w->session) && strstr(request_line, w->needle);
}

static void test_an_open_search_with_hints_gives_keyterms_on_nova_3(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=hints", NULL, NULL);
	assert_true(loop_until(&lp, has_request, &(wait_request){"session=hints/", "model=nova-3&"}, 3000));
	assert_null(strstr(request_line, "keyterm=")); /* an open search without phrases: none */
	const char *phrases[] = {"maria garcia", "o'brien", "prior authorization"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_OPEN, .phrases = phrases, .num_phrases = 3, .interim_results = true};
	char err[200];
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	/* other keyterms: a new stream, opened with them */
	assert_true(loop_until(&lp, has_request, &(wait_request){"session=hints/", "&keyterm="}, 3000));
	assert_non_null(strstr(request_line, "&keyterm=maria garcia&keyterm=o'brien&keyterm=prior authorization\n"));
	size_t n = silence(audio, RATE, 200);
	n += tone(audio + n, RATE, 600, 440, -12);
	n += silence(audio + n, RATE, 500);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_FINAL, 1, 3000)); /* and it hears */
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	sova_stt_free(r);

	/* keyterm prompting is Nova-3's: another model is asked for none */
	static events e2;
	memset(&e2, 0, sizeof e2);
	sova_deepgram_config nova2 = {.model = "nova-2"};
	sova_stt *r2 = make(&e2, "session=hints2", &nova2, NULL);
	assert_true(sova_stt_start(r2, &opt, err, sizeof err));
	assert_true(loop_until(&lp, has_request, &(wait_request){"session=hints2/", "model=nova-2&"}, 3000));
	loop_run_ms(&lp, 200);
	assert_true(latest_request("session=hints2/"));
	assert_null(strstr(request_line, "keyterm="));
	sova_stt_free(r2);
}

/* ---- Faults ---- */

static void test_a_drop_mid_utterance_reconnects_once_and_loses_no_words(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=drop1&faults_for=1&drop_at_ms=800", NULL, NULL);
	size_t n = two_utterances(audio);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_UTTERANCE_END, 2, 5000));
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	assert_int_equal(sova_stt_deepgram_reconnects(r), 1);
	const seen *f1 = nth(&e, SOVA_STT_FINAL, 0), *f2 = nth(&e, SOVA_STT_FINAL, 1);
	assert_string_equal(f1->text, "Hello there.");
	assert_string_equal(f2->text, "I need a refill, please.");
	/* the replayed audio keeps the first stream's clock */
	assert_true(fabs(f1->first_word_start - 0.3) < 0.02);
	assert_true(fabs(nth(&e, SOVA_STT_SPEECH_STARTED, 1)->at_s - 2.8) < 0.02);
	assert_int_equal(count(&e, SOVA_STT_SPEECH_STARTED), 2); /* the replay's repeat is not announced */
	sova_stt_free(r);
}

static void test_a_second_drop_is_an_error_and_earlier_finals_stay(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=drop2&faults_for=2&drop_at_ms=2000", NULL, NULL);
	size_t n = two_utterances(audio);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_ERROR, 1, 5000));
	assert_int_equal(sova_stt_deepgram_reconnects(r), 1);
	const seen *f1 = nth(&e, SOVA_STT_FINAL, 0), *err = nth(&e, SOVA_STT_ERROR, 0);
	assert_non_null(f1);
	assert_string_equal(f1->text, "Hello there.");
	assert_true(index_of(&e, f1) < index_of(&e, err));
	assert_non_null(strstr(err->text, "network"));
	assert_int_equal(count(&e, SOVA_STT_ERROR), 1);
	char msg[200];
	assert_false(sova_stt_feed(r, audio, 160, msg, sizeof msg)); /* the recognizer stopped */
	sova_stt_free(r);
}

static void test_deepgram_error_close_is_an_error_with_its_code(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=err&error=1", NULL, NULL);
	feed(r, audio, silence(audio, RATE, 100));
	assert_true(wait_kind(&lp, &e, SOVA_STT_ERROR, 1, 3000));
	const seen *err = nth(&e, SOVA_STT_ERROR, 0);
	assert_non_null(strstr(err->text, "1011"));
	assert_non_null(strstr(err->text, "NET-0000"));
	assert_int_equal(sova_stt_deepgram_reconnects(r), 0); /* an error is not a drop */
	sova_stt_free(r);
}

static void test_malformed_messages_are_counted_then_an_error(void **state)
{
	(void)state;
	static events e, f;
	memset(&e, 0, sizeof e);
	memset(&f, 0, sizeof f);
	sova_stt *r = make(&e, "session=bad&malformed=3", NULL, NULL);
	size_t n = silence(audio, RATE, 200);
	n += tone(audio + n, RATE, 600, 440, -12);
	n += silence(audio + n, RATE, 500);
	feed(r, audio, n);
	assert_true(wait_kind(&lp, &e, SOVA_STT_FINAL, 1, 3000));
	assert_int_equal(sova_stt_deepgram_malformed(r), 3);
	assert_int_equal(count(&e, SOVA_STT_ERROR), 0);
	sova_deepgram_config strict = {.max_malformed = 2};
	sova_stt *s = make(&f, "session=bad2&malformed=3", &strict, NULL);
	feed(s, audio, n);
	assert_true(wait_kind(&lp, &f, SOVA_STT_ERROR, 1, 3000));
	assert_non_null(strstr(nth(&f, SOVA_STT_ERROR, 0)->text, "malformed"));
	sova_stt_free(r);
	sova_stt_free(s);
}

static void test_a_wrong_key_is_an_auth_error(void **state)
{
	(void)state;
	static events e;
	memset(&e, 0, sizeof e);
	sova_stt *r = make(&e, "session=auth", NULL, "not-the-key");
	feed(r, audio, silence(audio, RATE, 100));
	assert_true(wait_kind(&lp, &e, SOVA_STT_ERROR, 1, 3000));
	const seen *err = nth(&e, SOVA_STT_ERROR, 0);
	assert_true(!strncmp(err->text, "auth: ", 6));
	assert_non_null(strstr(err->text, "401"));
	assert_null(strstr(err->text, "not-the-key")); /* keys are never in messages */
	sova_stt_free(r);
}

static void test_a_slow_provider_times_out(void **state)
{
	(void)state;
	static events e, h;
	memset(&e, 0, sizeof e);
	memset(&h, 0, sizeof h);
	/* every answer held back 3 s: Finalize is not answered within 400 ms */
	sova_deepgram_config quick = {.result_timeout_ms = 400};
	sova_stt *r = make(&e, "session=slow&delay_ms=3000", &quick, NULL);
	feed(r, audio, silence(audio, RATE, 100));
	char err[200];
	assert_true(sova_stt_finalize(r, err, sizeof err));
	assert_true(wait_kind(&lp, &e, SOVA_STT_ERROR, 1, 2000));
	assert_non_null(strstr(nth(&e, SOVA_STT_ERROR, 0)->text, "timeout"));
	sova_stt_free(r);
	/* a server that accepts TCP and never answers the handshake */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	char base[64];
	snprintf(base, sizeof base, "ws://127.0.0.1:%d", ntohs(a.sin_port));
	sova_deepgram_config dg = {.api_key = "k", .base_url = base, .connect_timeout_ms = 300};
	sova_stt_config cfg = {.sample_rate = RATE};
	sova_stt *s = sova_stt_deepgram_new(lp.ctx, &dg, &cfg, on_event, &h, err, sizeof err);
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_OPEN};
	assert_true(sova_stt_start(s, &opt, err, sizeof err));
	assert_true(wait_kind(&lp, &h, SOVA_STT_ERROR, 1, 3000));
	assert_true(!strncmp(nth(&h, SOVA_STT_ERROR, 0)->text, "timeout: ", 9));
	sova_stt_free(s);
	close(fd);
}

static void test_bad_configs_are_refused(void **state)
{
	(void)state;
	char err[200];
	events e;
	sova_stt_config cfg = {.sample_rate = RATE};
	sova_deepgram_config nokey = {0};
	assert_null(sova_stt_deepgram_new(lp.ctx, &nokey, &cfg, on_event, &e, err, sizeof err));
	assert_non_null(strstr(err, "API key"));
	sova_deepgram_config http = {.api_key = "k", .base_url = "https://api.deepgram.com"};
	assert_null(sova_stt_deepgram_new(lp.ctx, &http, &cfg, on_event, &e, err, sizeof err));
	sova_stt_config slow = {.sample_rate = 4000};
	sova_deepgram_config ok = {.api_key = "k"};
	assert_null(sova_stt_deepgram_new(lp.ctx, &ok, &slow, on_event, &e, err, sizeof err));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_stream_gives_speech_interims_finals_and_utterance_ends_in_order),
		cmocka_unit_test(test_finalize_flushes_and_ends_the_utterance_once),
		cmocka_unit_test(test_keepalive_holds_a_quiet_stream_open),
		cmocka_unit_test(test_other_keyterms_open_a_new_stream_and_results_continue),
		cmocka_unit_test(test_an_open_search_with_hints_gives_keyterms_on_nova_3),
		cmocka_unit_test(test_a_drop_mid_utterance_reconnects_once_and_loses_no_words),
		cmocka_unit_test(test_a_second_drop_is_an_error_and_earlier_finals_stay),
		cmocka_unit_test(test_deepgram_error_close_is_an_error_with_its_code),
		cmocka_unit_test(test_malformed_messages_are_counted_then_an_error),
		cmocka_unit_test(test_a_wrong_key_is_an_auth_error),
		cmocka_unit_test(test_a_slow_provider_times_out),
		cmocka_unit_test(test_bad_configs_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* Simulated calls: their Twilio life and the TwiML they run (call.h). */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bot/speech/provider_util.h"
#include "events.h"
#include "stream.h"
#include "webhook.h"

#define INITIATED_AFTER_US 50000LL  /* Twilio queues the call a moment before it dials */
#define RINGING_AFTER_US 100000LL
#define FAILED_AFTER_US 200000LL
#define KEY_MS 250                  /* one DTMF key: tone and gap */
#define MAX_CATCH_UP_FRAMES 10      /* a loop late by more than this drops the callee's audio, as a line would */

static ps_call *calls; /* owned, newest first */
static int alive;

static void run(ps_call *c);
static void end_call(ps_call *c, const char *final_status, const char *by);

/* ---- Webhook parameters ---- */

/* RFC 2822 in UTC, as Twilio's Timestamp. */
static void rfc2822_now(char out[40])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static long long duration_s(const ps_call *c)
{
	if (!c->answered_us)
		return 0;
	int64_t end = c->ended_us ? c->ended_us : ps_now_us();
	return (end - c->answered_us + 500000) / 1000000;
}

/* The parameters every webhook of a call carries. */
static void call_params(const ps_call *c, ps_form *f)
{
	ps_form_add(f, "AccountSid", c->account);
	ps_form_add(f, "ApiVersion", "2010-04-01");
	ps_form_add(f, "CallSid", c->sid);
	ps_form_add(f, "CallStatus", c->status);
	ps_form_add(f, "Called", c->to);
	ps_form_add(f, "Caller", c->from);
	ps_form_add(f, "Direction", "outbound-api");
	ps_form_add(f, "From", c->from);
	ps_form_add(f, "To", c->to);
}

static bool final_status(const char *status) { return strcmp(status, "initiated") && strcmp(status, "ringing") && strcmp(status, "in-progress"); }

/* A status callback for status, when the call asked for that event (the final one: when it asked
 * for completed, or for no event at all, as Twilio does). */
static void status_callback(ps_call *c, const char *status)
{
	snprintf(c->status, sizeof c->status, "%s", status);
	if (!c->status_cb)
		return;
	unsigned want = !strcmp(status, "initiated") ? PS_EV_INITIATED : !strcmp(status, "ringing") ? PS_EV_RINGING
		      : !strcmp(status, "in-progress")                    ? PS_EV_ANSWERED
									  : PS_EV_COMPLETED;
	if (!(c->events & want) && !(want == PS_EV_COMPLETED && c->events == 0))
		return;
	ps_form f = {0};
	char ts[40], seq[16], dur[24];
	rfc2822_now(ts);
	snprintf(seq, sizeof seq, "%d", c->seq);
	call_params(c, &f);
	ps_form_add(&f, "CallbackSource", "call-progress-events");
	ps_form_add(&f, "SequenceNumber", seq);
	ps_form_add(&f, "Timestamp", ts);
	if (final_status(status)) {
		snprintf(dur, sizeof dur, "%lld", duration_s(c));
		ps_form_add(&f, "CallDuration", dur);
		ps_form_add(&f, "Duration", c->answered_us ? "1" : "0");
	}
	ps_webhook_post(c, "status", status, c->seq++, c->status_cb, &f, NULL);
}

void ps_call_amd(ps_call *c, const char *answered_by)
{
	if (c->amd_sent || !c->amd || !c->amd_cb || c->state != CALL_IN_PROGRESS)
		return;
	c->amd_sent = true;
	ps_form f = {0};
	char ms[24];
	snprintf(ms, sizeof ms, "%lld", (long long)((ps_now_us() - c->answered_us) / 1000));
	ps_form_add(&f, "AccountSid", c->account);
	ps_form_add(&f, "AnsweredBy", answered_by);
	ps_form_add(&f, "CallSid", c->sid);
	ps_form_add(&f, "MachineDetectionDuration", ms);
	ps_webhook_post(c, "amd", answered_by, -1, c->amd_cb, &f, NULL);
}

/* ---- Ringing and answering ---- */

static void on_amd_timer(lws_sorted_usec_list_t *sul)
{
	ps_call *c = lws_container_of(sul, ps_call, amd_timer);
	ps_call_amd(c, c->sc->answered_by);
}

static void on_limit(lws_sorted_usec_list_t *sul)
{
	ps_call *c = lws_container_of(sul, ps_call, limit_timer);
	ps_call_hangup(c, "time_limit");
}

static void answer(ps_call *c)
{
	c->state = CALL_IN_PROGRESS;
	c->answered_us = c->audio_t0_us = ps_now_us();
	ps_ev e;
	ps_ev_begin(&e, c->sid, "answered");
	ps_ev_str(&e, "kind", ps_scenario_kind_name(c->sc->kind));
	ps_ev_end(&e);
	status_callback(c, "in-progress");
	lws_sul_schedule(ps_ctx, 0, &c->limit_timer, on_limit, (lws_usec_t)c->time_limit_s * 1000000);
	/* a voicemail gives its verdict at the beep (callee.c); everyone else after amd_ms */
	if (c->amd && c->sc->kind != SC_VOICEMAIL)
		lws_sul_schedule(ps_ctx, 0, &c->amd_timer, on_amd_timer, (lws_usec_t)c->sc->amd_ms * 1000);
	run(c);
}

static void on_progress(lws_sorted_usec_list_t *sul)
{
	ps_call *c = lws_container_of(sul, ps_call, progress_timer);
	const ps_scenario *sc = c->sc;
	int step = c->progress_step++;
	if (step == 0) {
		status_callback(c, "initiated");
		bool fails = !sc || sc->kind == SC_FAILED;
		lws_sul_schedule(ps_ctx, 0, &c->progress_timer, on_progress, fails ? FAILED_AFTER_US : RINGING_AFTER_US);
		return;
	}
	if (!sc || sc->kind == SC_FAILED) {
		end_call(c, "failed", sc ? "callee" : "no_scenario");
		return;
	}
	if (step == 1) {
		c->state = CALL_RINGING;
		status_callback(c, "ringing");
		int64_t ring_us = (int64_t)sc->ring_ms * 1000, timeout_us = (int64_t)c->timeout_s * 1000000;
		bool answers = sc->kind != SC_BUSY && sc->kind != SC_NO_ANSWER && ring_us <= timeout_us;
		lws_sul_schedule(ps_ctx, 0, &c->progress_timer, on_progress, sc->kind == SC_BUSY || answers ? ring_us : timeout_us);
		return;
	}
	if (sc->kind == SC_BUSY)
		end_call(c, "busy", "callee");
	else if (sc->kind == SC_NO_ANSWER || (int64_t)sc->ring_ms * 1000 > (int64_t)c->timeout_s * 1000000)
		end_call(c, "no-answer", "callee");
	else
		answer(c);
}

/* ---- Running TwiML ---- */

static void on_verb_timer(lws_sorted_usec_list_t *sul);

static int key_ms(char k) { return k == 'w' ? 500 : k == 'W' ? 1000 : KEY_MS; }

static void next_verb(ps_call *c)
{
	c->pc++;
	run(c);
}

/* <Dial>'s action answered: its TwiML continues the call; none (or no answer) ends it. */
static void on_dial_action(ps_call *c, int status, const char *body, size_t len)
{
	if (c->state != CALL_IN_PROGRESS || c->doc_gen != c->dial_gen)
		return; /* the call ended, or a REST update replaced the document meanwhile */
	tw_doc doc;
	char err[160] = "no TwiML";
	if (body && len && tw_parse(body, len, &doc, err, sizeof err)) {
		ps_call_redirect(c, &doc);
		return;
	}
	ps_ev e;
	ps_ev_begin(&e, c->sid, "dial_action_ended");
	ps_ev_int(&e, "code", status);
	ps_ev_str(&e, "why", err);
	ps_ev_end(&e);
	ps_call_hangup(c, "dial_action");
}

static void dial_done(ps_call *c, const char *dial_status)
{
	const tw_verb *v = &c->doc.verbs[c->pc];
	long long secs = c->dial_answered_us ? (ps_now_us() - c->dial_answered_us + 500000) / 1000000 : 0;
	ps_ev e;
	ps_ev_begin(&e, c->sid, "dial");
	ps_ev_str(&e, "to", v->number);
	ps_ev_str(&e, "status", dial_status);
	ps_ev_int(&e, "duration_s", secs);
	ps_ev_end(&e);
	if (!v->action) {
		next_verb(c);
		return;
	}
	ps_form f = {0};
	char dur[24];
	snprintf(dur, sizeof dur, "%lld", secs);
	call_params(c, &f);
	ps_form_add(&f, "DialCallSid", c->dial_sid);
	ps_form_add(&f, "DialCallStatus", dial_status);
	if (!strcmp(dial_status, "completed"))
		ps_form_add(&f, "DialCallDuration", dur);
	c->dial_gen = c->doc_gen;
	ps_webhook_post(c, "dial", dial_status, -1, v->action, &f, on_dial_action);
}

static void dial_progress(ps_call *c)
{
	const tw_verb *v = &c->doc.verbs[c->pc];
	const ps_scenario *t = c->dial_sc;
	int step = c->dial_step++;
	if (!t || t->kind == SC_FAILED) {
		dial_done(c, "failed");
	} else if (t->kind == SC_BUSY) {
		dial_done(c, "busy");
	} else if (t->kind == SC_NO_ANSWER || t->ring_ms > v->timeout_s * 1000) {
		dial_done(c, "no-answer");
	} else if (step == 0) {
		c->dial_answered_us = ps_now_us();
		ps_ev e;
		ps_ev_begin(&e, c->sid, "dial_answered");
		ps_ev_str(&e, "to", v->number);
		ps_ev_end(&e);
		lws_sul_schedule(ps_ctx, 0, &c->verb_timer, on_verb_timer, (lws_usec_t)t->talk_ms * 1000);
	} else {
		dial_done(c, "completed");
	}
}

static void start_dial(ps_call *c, const tw_verb *v)
{
	c->dial_sc = ps_scenario_find(v->number);
	c->dial_step = 0;
	c->dial_answered_us = 0;
	ps_new_sid(c->dial_sid, "CA");
	ps_ev e;
	ps_ev_begin(&e, c->sid, "dial_start");
	ps_ev_str(&e, "to", v->number);
	ps_ev_str(&e, "kind", c->dial_sc ? ps_scenario_kind_name(c->dial_sc->kind) : NULL);
	ps_ev_int(&e, "timeout_s", v->timeout_s);
	ps_ev_end(&e);
	const ps_scenario *t = c->dial_sc;
	int64_t wait_us = !t || t->kind == SC_FAILED ? FAILED_AFTER_US
			  : t->kind == SC_NO_ANSWER || t->ring_ms > v->timeout_s * 1000 ? (int64_t)v->timeout_s * 1000000
											     : (int64_t)t->ring_ms * 1000;
	lws_sul_schedule(ps_ctx, 0, &c->verb_timer, on_verb_timer, wait_us);
}

static void on_verb_timer(lws_sorted_usec_list_t *sul)
{
	ps_call *c = lws_container_of(sul, ps_call, verb_timer);
	if (c->state != CALL_IN_PROGRESS || c->pc >= c->doc.n)
		return;
	const tw_verb *v = &c->doc.verbs[c->pc];
	if (v->kind == TW_DIAL) {
		dial_progress(c);
		return;
	}
	if (v->kind == TW_PLAY_DIGITS) {
		char k = v->digits[c->digit_at++];
		if (k != 'w' && k != 'W')
			ps_callee_key(c, k, ps_now_us());
		if (v->digits[c->digit_at]) {
			lws_sul_schedule(ps_ctx, 0, &c->verb_timer, on_verb_timer, (lws_usec_t)key_ms(v->digits[c->digit_at]) * 1000);
			return;
		}
	}
	next_verb(c); /* Pause, or the last key */
}

/* Runs verbs from pc until one waits (a stream, keys, a pause, a dial) or the document ends. */
static void run(ps_call *c)
{
	while (c->state == CALL_IN_PROGRESS && c->pc < c->doc.n) {
		const tw_verb *v = &c->doc.verbs[c->pc];
		ps_ev e;
		switch (v->kind) {
		case TW_STREAM:
			c->streams++;
			if ((c->stream = ps_stream_open(c, v)))
				return; /* until the stream ends */
			c->pc++;
			break;
		case TW_PLAY_DIGITS:
			ps_ev_begin(&e, c->sid, "play_digits");
			ps_ev_str(&e, "digits", v->digits);
			ps_ev_end(&e);
			c->digit_at = 0;
			lws_sul_schedule(ps_ctx, 0, &c->verb_timer, on_verb_timer, (lws_usec_t)key_ms(v->digits[0]) * 1000);
			return;
		case TW_PAUSE:
			lws_sul_schedule(ps_ctx, 0, &c->verb_timer, on_verb_timer, (lws_usec_t)v->length_s * 1000000 + 1);
			return;
		case TW_DIAL:
			start_dial(c, v);
			return;
		case TW_HANGUP:
			ps_call_hangup(c, "twiml");
			return;
		case TW_SAY:
			c->pc++;
			break;
		}
	}
	if (c->state == CALL_IN_PROGRESS)
		ps_call_hangup(c, "twiml_end"); /* nothing more to run: Twilio hangs up */
}

void ps_call_stream_gone(ps_call *c)
{
	if (c->state == CALL_IN_PROGRESS)
		next_verb(c);
}

bool ps_call_redirect(ps_call *c, tw_doc *doc_taken)
{
	if (c->state == CALL_ENDED) {
		tw_free(doc_taken);
		return false;
	}
	lws_sul_cancel(&c->verb_timer);
	if (c->stream) {
		ps_stream_stop(c->stream, "twiml_update");
		c->stream = NULL;
	}
	tw_free(&c->doc);
	c->doc = *doc_taken;
	memset(doc_taken, 0, sizeof *doc_taken);
	c->pc = 0;
	c->doc_gen++;
	ps_ev e;
	ps_ev_begin(&e, c->sid, "twiml");
	ps_ev_int(&e, "verbs", c->doc.n);
	ps_ev_end(&e);
	if (c->state == CALL_IN_PROGRESS)
		run(c); /* before the answer, the new document waits for it */
	return true;
}

/* ---- Ending ---- */

static void end_call(ps_call *c, const char *final, const char *by)
{
	if (c->state == CALL_ENDED)
		return;
	lws_sul_cancel(&c->progress_timer);
	lws_sul_cancel(&c->verb_timer);
	lws_sul_cancel(&c->limit_timer);
	lws_sul_cancel(&c->amd_timer);
	if (c->stream) {
		ps_stream_stop(c->stream, "hangup");
		c->stream = NULL;
	}
	c->state = CALL_ENDED;
	c->ended_us = ps_now_us();
	ps_callee_end(c);
	ps_ev e;
	ps_ev_begin(&e, c->sid, "hangup");
	ps_ev_str(&e, "by", by);
	ps_ev_str(&e, "status", final);
	ps_ev_int(&e, "duration_s", duration_s(c));
	ps_ev_int(&e, "streams", c->streams);
	ps_ev_end(&e);
	status_callback(c, final);
}

void ps_call_hangup(ps_call *c, const char *by)
{
	end_call(c, c->answered_us ? "completed" : "canceled", by);
}

/* ---- Creating, finding, freeing ---- */

static unsigned events_of(const ps_form *p)
{
	unsigned ev = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->name[i], "StatusCallbackEvent") != 0)
			continue;
		/* one value a parameter, or several separated by spaces (both are accepted by Twilio) */
		char buf[128];
		snprintf(buf, sizeof buf, "%s", p->value[i]);
		char *save = NULL;
		for (char *w = strtok_r(buf, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
			ev |= !strcmp(w, "initiated") ? PS_EV_INITIATED : !strcmp(w, "ringing") ? PS_EV_RINGING
			    : !strcmp(w, "answered")                    ? PS_EV_ANSWERED
			    : !strcmp(w, "completed")                   ? PS_EV_COMPLETED
									: 0;
	}
	return ev;
}

ps_call *ps_call_create(const ps_form *p, const tw_doc *doc_taken, char *err, size_t errlen)
{
	ps_call *c = calloc(1, sizeof *c);
	const char *cb = ps_form_get(p, "StatusCallback"), *amd_cb = ps_form_get(p, "AsyncAmdStatusCallback");
	const char *md = ps_form_get(p, "MachineDetection"), *async = ps_form_get(p, "AsyncAmd");
	const char *timeout = ps_form_get(p, "Timeout"), *limit = ps_form_get(p, "TimeLimit");
	if (!c || (cb && !(c->status_cb = strdup(cb))) || (amd_cb && !(c->amd_cb = strdup(amd_cb)))) {
		if (c) {
			free(c->status_cb);
			free(c);
		}
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ps_new_sid(c->sid, "CA");
	snprintf(c->account, sizeof c->account, "%s", ps_opt.account_sid);
	snprintf(c->to, sizeof c->to, "%s", ps_form_get(p, "To"));
	snprintf(c->from, sizeof c->from, "%s", ps_form_get(p, "From"));
	snprintf(c->status, sizeof c->status, "queued");
	c->events = events_of(p);
	c->amd = md && (!strcmp(md, "Enable") || !strcmp(md, "DetectMessageEnd")) && async && !strcmp(async, "true");
	c->timeout_s = timeout ? atoi(timeout) : 60;
	c->time_limit_s = limit ? atoi(limit) : 14400;
	c->sc = ps_scenario_find(c->to);
	c->doc = *doc_taken;
	c->created_us = ps_now_us();
	ps_callee_init(c);
	c->next = calls;
	calls = c;
	alive++;
	ps_ev e;
	ps_ev_begin(&e, c->sid, "created");
	ps_ev_str(&e, "to", c->to);
	ps_ev_str(&e, "from", c->from);
	ps_ev_str(&e, "kind", c->sc ? ps_scenario_kind_name(c->sc->kind) : NULL);
	ps_ev_bool(&e, "amd", c->amd);
	ps_ev_int(&e, "timeout_s", c->timeout_s);
	ps_ev_int(&e, "time_limit_s", c->time_limit_s);
	ps_ev_int(&e, "verbs", c->doc.n);
	ps_ev_end(&e);
	lws_sul_schedule(ps_ctx, 0, &c->progress_timer, on_progress, INITIATED_AFTER_US);
	return c;
}

ps_call *ps_call_find(const char *sid)
{
	for (ps_call *c = calls; c; c = c->next)
		if (!strcmp(c->sid, sid))
			return c;
	return NULL;
}

static void call_free(ps_call *c)
{
	lws_sul_cancel(&c->progress_timer);
	lws_sul_cancel(&c->verb_timer);
	lws_sul_cancel(&c->limit_timer);
	lws_sul_cancel(&c->amd_timer);
	if (c->stream)
		ps_stream_stop(c->stream, "exit");
	ps_webhooks_cancel(c);
	tw_free(&c->doc);
	free(c->status_cb);
	free(c->amd_cb);
	free(c);
	alive--;
}

void ps_calls_tick(int64_t now)
{
	uint8_t frame[PS_FRAME_BYTES];
	for (ps_call *c = calls; c; c = c->next) {
		if (c->state != CALL_IN_PROGRESS)
			continue;
		/* frame n of the callee's audio is due at t0 + n × 20 ms */
		uint64_t due = (uint64_t)((now - c->audio_t0_us) / (PS_FRAME_MS * 1000)) + 1;
		if (due > c->frames + MAX_CATCH_UP_FRAMES)
			c->frames = due - MAX_CATCH_UP_FRAMES;
		while (c->frames < due) {
			ps_callee_frame(c, frame, now);
			c->frames++;
			if (c->stream)
				ps_stream_media(c->stream, frame);
		}
		if (c->stream)
			ps_stream_tick(c->stream, now);
		ps_callee_tick(c, now); /* may end the call: nothing of it is used after */
	}
	/* ended calls go once their last webhook is done (never from inside a webhook's callback) */
	for (ps_call **pp = &calls; *pp;) {
		ps_call *c = *pp;
		if (c->state == CALL_ENDED && !ps_webhooks_pending(c)) {
			*pp = c->next;
			call_free(c);
		} else {
			pp = &c->next;
		}
	}
}

void ps_calls_free(void)
{
	/* at exit, before the context goes: streams stopped, webhooks in flight dropped */
	while (calls) {
		ps_call *c = calls;
		calls = c->next;
		call_free(c);
	}
}

int ps_calls_alive(void) { return alive; }

void ps_call_json(const ps_call *c, sova_sbuf *b)
{
	char duration[32] = "null"; /* Twilio's duration is a string once the call is over */
	if (c->state == CALL_ENDED)
		snprintf(duration, sizeof duration, "\"%lld\"", duration_s(c));
	sova_sbuf_printf(b,
			 "{\"sid\":\"%s\",\"account_sid\":\"%s\",\"to\":\"%s\",\"from\":\"%s\",\"status\":\"%s\","
			 "\"direction\":\"outbound-api\",\"api_version\":\"2010-04-01\",\"answered_by\":null,\"queue_time\":\"0\","
			 "\"duration\":%s,\"uri\":\"/2010-04-01/Accounts/%s/Calls/%s.json\"}",
			 c->sid, c->account, c->to, c->from, c->status, duration, c->account, c->sid);
}

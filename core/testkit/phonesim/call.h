/* A simulated call: its Twilio life (queued → ringing → in-progress → a final status, each
 * status callback in order), the TwiML it runs verb by verb, and its scripted callee. Calls live
 * on the loop's thread; REST requests (rest.c) create and update them.
 *
 * Running TwiML: <Connect><Stream> opens a Media Streams client and holds the call until the
 * stream ends (the bot closes it: the next verb runs; none left: the call hangs up); <Play digits>
 * presses the keys one by one (the callee hears each as it ends: 0.25 s a key, w 0.5 s, W 1 s);
 * <Pause>; <Dial> rings the number's scenario, then POSTs the action URL (signed) and runs the
 * TwiML it answers (no action, or no TwiML: the call ends); <Hangup/>. A REST update with Twiml
 * stops the running stream (stop first) and runs the new document from its start. */
#ifndef SOVA_PHONESIM_CALL_H
#define SOVA_PHONESIM_CALL_H
#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "callee.h"
#include "form.h"
#include "phonesim.h"
#include "scenario.h"
#include "twiml.h"

typedef enum { CALL_QUEUED = 0, CALL_RINGING, CALL_IN_PROGRESS, CALL_ENDED } ps_call_state;

/* StatusCallbackEvent values asked for. */
enum { PS_EV_INITIATED = 1, PS_EV_RINGING = 2, PS_EV_ANSWERED = 4, PS_EV_COMPLETED = 8 };

struct ps_stream;
struct ps_request;

typedef struct ps_call {
	struct ps_call *next;
	char sid[PS_SID_LEN], account[PS_SID_LEN];
	char to[17], from[17];
	char *status_cb, *amd_cb;  /* owned; NULL: not asked for */
	unsigned events;           /* PS_EV_* */
	bool amd;                  /* MachineDetection with AsyncAmd */
	int timeout_s, time_limit_s;
	const ps_scenario *sc;     /* NULL: nobody at that number (the call fails) */
	ps_call_state state;
	char status[16];           /* the Twilio status now: queued, ringing, in-progress, completed, busy… */
	int seq;                   /* the next status callback's SequenceNumber */
	int64_t created_us, answered_us, ended_us;

	tw_doc doc;                /* the TwiML running (owned) */
	int pc;                    /* the verb running */
	int digit_at;              /* <Play digits>: the next key */
	struct ps_stream *stream;  /* the open stream, or NULL */
	int streams;               /* streams opened so far */
	lws_sorted_usec_list_t progress_timer; /* ringing, answer, busy, no-answer */
	lws_sorted_usec_list_t verb_timer;     /* Pause, Play digits, Dial */
	lws_sorted_usec_list_t limit_timer;    /* TimeLimit */
	lws_sorted_usec_list_t amd_timer;
	/* <Dial> in progress */
	const ps_scenario *dial_sc;
	char dial_sid[PS_SID_LEN];
	int dial_step;             /* 0 ringing, 1 talking */
	int64_t dial_answered_us;
	unsigned doc_gen;          /* counts documents run: a Dial action's answer is for its own */
	unsigned dial_gen;
	int progress_step;
	bool amd_sent;

	int64_t audio_t0_us;       /* the callee's audio clock: frames made since */
	uint64_t frames;
	ps_callee callee;

	struct ps_request *cb_head, *cb_tail; /* webhooks waiting, in order; the head is in flight */
} ps_call;

/* Validated parameters of a create request (rest.c checked them). Takes nothing from params. */
ps_call *ps_call_create(const ps_form *params, const tw_doc *doc_taken, char *err, size_t errlen);
ps_call *ps_call_find(const char *sid);
/* Live update: new TwiML (taken). false when the call is over. */
bool ps_call_redirect(ps_call *c, tw_doc *doc_taken);
/* Ends the call (REST Status=completed, <Hangup/>, the callee hanging up, TimeLimit): stop on
 * the stream, the final status callback. by: who, for the events file. c stays valid until the
 * next tick. */
void ps_call_hangup(ps_call *c, const char *by);
/* Every loop tick: the callee's audio and timers of every answered call. */
void ps_calls_tick(int64_t now_us);
/* The stream of c ended without the call asking (the bot closed it, or it never opened). */
void ps_call_stream_gone(ps_call *c);
/* The async AMD callback, once per call (when MachineDetection was asked for). */
void ps_call_amd(ps_call *c, const char *answered_by);
/* Frees every call (at exit). */
void ps_calls_free(void);
/* The call's resource JSON (Twilio's Call shape, the fields the bot reads) into b. */
void ps_call_json(const ps_call *c, sova_sbuf *b);
/* The number of calls alive (ended ones are freed by the tick once their webhooks are done). */
int ps_calls_alive(void);
#endif

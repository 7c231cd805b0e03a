/* The TwiML subset the bot sends (docs/i10 contract), parsed into a list of verbs to run:
 *   <Response>
 *     <Connect><Stream url="wss://…"><Parameter name="n" value="v"/>…</Stream></Connect>
 *     <Play digits="ww1#"/>           keys 0-9 * # and w (0.5 s) / W (1 s) pauses
 *     <Dial action="…" timeout="20" callerId="+1…"><Number>+1…</Number></Dial>
 *     <Pause length="N"/>  <Hangup/>  <Say>…</Say> (its text is not spoken)
 *   </Response>
 * A small XML reader of its own (elements, attributes, text, the five predefined entities and
 * numeric ones, comments, the XML declaration): the subset needs no more, and a parse error or an
 * unknown verb is reported, as Twilio reports a document it cannot run. Plain C. */
#ifndef SOVA_PHONESIM_TWIML_H
#define SOVA_PHONESIM_TWIML_H
#include <stdbool.h>
#include <stddef.h>

typedef enum {
	TW_STREAM = 1, /* <Connect><Stream> */
	TW_PLAY_DIGITS,
	TW_DIAL,
	TW_PAUSE,
	TW_HANGUP,
	TW_SAY,
} tw_kind;

#define TW_MAX_PARAMS 32

typedef struct tw_verb {
	tw_kind kind;
	char *url;                   /* Stream url (owned) */
	int num_params;
	char *param_name[TW_MAX_PARAMS], *param_value[TW_MAX_PARAMS]; /* Stream <Parameter>s (owned) */
	char *digits;                /* Play digits (owned) */
	char *action, *number, *caller_id; /* Dial (owned; action may be NULL) */
	int timeout_s;               /* Dial timeout (default 30) */
	int length_s;                /* Pause length (default 1) */
} tw_verb;

typedef struct tw_doc {
	tw_verb *verbs; /* owned */
	int n;
} tw_doc;

/* Parses a document; false with err (and doc empty) when it is not the subset. */
bool tw_parse(const char *xml, size_t len, tw_doc *doc, char *err, size_t errlen);
void tw_free(tw_doc *doc);
#endif

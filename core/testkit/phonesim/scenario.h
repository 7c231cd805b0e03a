/* The scripted callees (--scenarios FILE): a JSON object from the number called (E.164, or "*"
 * for any other number) to what answers it. The format, in full in README.md:
 *
 *   {"+15550001": {"kind": "human", "greeting": "Hello?", "lines": ["Yes.", {"text": "…", "barge_in_ms": 800}]},
 *    "+15550002": {"kind": "ivr", "start": "main", "nodes": {"main": {"type": "menu", "say": "…", "keys": {"1": "id"}},
 *                  "id": {"type": "collect", "say": "…followed by pound", "next": "queue"},
 *                  "queue": {"type": "hold", "hold_seconds": 300, "message": "…", "next": "rep"},
 *                  "rep": {"type": "human", "greeting": "…", "lines": ["…"]}}},
 *    "+15550003": {"kind": "hold", "hold_seconds": 60, "rep": {"greeting": "…", "lines": ["…"]}},
 *    "+15550004": {"kind": "voicemail", "greeting": "…after the tone."},
 *    "+15550005": {"kind": "busy"}, "+15550006": {"kind": "no_answer"}, "+15550007": {"kind": "failed"}}
 *
 * Every kind is compiled into a graph of nodes (a human is one human node; a hold is a hold node
 * then a human node), and every text into a clip at load time. Plain C (libbson reads the JSON). */
#ifndef SOVA_PHONESIM_SCENARIO_H
#define SOVA_PHONESIM_SCENARIO_H
#include <stdbool.h>
#include <stddef.h>

#include "clips.h"

typedef enum { SC_HUMAN = 1, SC_IVR, SC_HOLD, SC_VOICEMAIL, SC_BUSY, SC_NO_ANSWER, SC_FAILED } sc_kind;
typedef enum { NODE_MENU = 1, NODE_COLLECT, NODE_HOLD, NODE_HUMAN, NODE_VOICEMAIL, NODE_HANGUP } sc_node_type;

#define SC_MAX_KEYS 12
#define SC_NONE (-1) /* no next node: the callee hangs up */

typedef struct sc_line {
	char *text;            /* owned; NULL for a key press line */
	const ps_clip *clip;
	char *dtmf;            /* owned: keys the callee presses (sent as Media Streams dtmf messages) */
	int barge_in_ms;       /* ≥ 0: said this far into the bot's turn instead of after it; -1: after */
	int garbage;           /* > 0: a fault, not a line: this many malformed Media Streams messages */
} sc_line;

typedef struct sc_node {
	char *name;            /* owned */
	sc_node_type type;
	char *say_text;        /* owned: the prompt (menu, collect, hangup), greeting (human, voicemail); may be NULL */
	const ps_clip *say;
	/* menu */
	int num_keys;
	char key_digit[SC_MAX_KEYS];
	int key_next[SC_MAX_KEYS];
	const ps_clip *invalid;
	/* menu and collect */
	int timeout_ms, repeats, prompt_delay_ms;
	/* collect: keys until this one (not kept) or max_digits; then next */
	char until;
	int max_digits;
	int next;              /* collect, hold: the node that follows (SC_NONE: hang up) */
	/* hold */
	int hold_ms, message_every_ms;
	const ps_clip *message;
	char *message_text;    /* owned */
	/* human */
	sc_line *lines;        /* owned */
	int num_lines, reply_gap_ms;
	int hangup_in_line;    /* 1-based: hang up while saying this line (0: never) */
	int hangup_at_ms;      /* that far into it (-1: half way) */
	bool hangup_at_end;    /* after the bot's turn that follows the last line */
	/* voicemail */
	const ps_clip *beep;
	int max_message_ms;
} sc_node;

typedef struct ps_scenario {
	char number[17];       /* "+1…" or "*" */
	sc_kind kind;
	int ring_ms;           /* ringing before the answer (or busy) */
	int amd_ms;            /* answered: the AMD verdict this long after the answer (voicemail: after the beep) */
	int talk_ms;           /* as a <Dial> target: how long the transferred call lasts */
	char answered_by[24];  /* the AMD verdict */
	sc_node *nodes;        /* owned */
	int num_nodes, start;
} ps_scenario;

/* false with err (the number and field at fault) when the file is not a valid scenario set. */
bool ps_scenarios_load(const char *path, char *err, size_t errlen);
void ps_scenarios_free(void);
/* The scenario for a number: its own, else "*", else NULL. */
const ps_scenario *ps_scenario_find(const char *number);
const char *ps_scenario_kind_name(sc_kind k);
/* Whether s is E.164: + then 2 to 15 digits, the first not 0. */
bool ps_e164(const char *s);
#endif

/* The scripted callees' file (scenario.h). */
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#define MAX_FILE (4 * 1024 * 1024)
#define MAX_SCENARIOS 4096
#define MAX_NODES 64
#define MAX_LINES 256

static ps_scenario *scenarios; /* owned */
static int num_scenarios;

typedef struct loader {
	const char *where; /* the number being read */
	const char *node;  /* the node being read, or NULL */
	char *err;
	size_t errlen;
	bool failed;
} loader;

static void fail(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(loader *l, const char *fmt, ...)
{
	if (l->failed)
		return;
	l->failed = true;
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (l->node)
		snprintf(l->err, l->errlen, "scenario \"%s\", node \"%s\": %s", l->where, l->node, what);
	else
		snprintf(l->err, l->errlen, "scenario \"%s\": %s", l->where, what);
}

bool ps_e164(const char *s)
{
	size_t n = strlen(s);
	return n >= 3 && n <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' && strspn(s + 1, "0123456789") == n - 1;
}

const char *ps_scenario_kind_name(sc_kind k)
{
	switch (k) {
	case SC_HUMAN: return "human";
	case SC_IVR: return "ivr";
	case SC_HOLD: return "hold";
	case SC_VOICEMAIL: return "voicemail";
	case SC_BUSY: return "busy";
	case SC_NO_ANSWER: return "no_answer";
	case SC_FAILED: return "failed";
	}
	return "?";
}

/* ---- Fields ---- */

static bool find(const bson_t *doc, const char *key, bson_iter_t *it) { return bson_iter_init_find(it, doc, key); }

/* A sub-document (object or array) at key into out (static storage of the caller). */
static bool sub(loader *l, const bson_t *doc, const char *key, bson_type_t type, bson_t *out)
{
	bson_iter_t it;
	if (!find(doc, key, &it))
		return false;
	uint32_t len = 0;
	const uint8_t *data = NULL;
	if (bson_iter_type(&it) != type) {
		fail(l, "\"%s\" must be an %s", key, type == BSON_TYPE_ARRAY ? "array" : "object");
		return false;
	}
	if (type == BSON_TYPE_ARRAY)
		bson_iter_array(&it, &len, &data);
	else
		bson_iter_document(&it, &len, &data);
	return bson_init_static(out, data, len);
}

static int int_field(loader *l, const bson_t *doc, const char *key, int dflt, int lo, int hi)
{
	bson_iter_t it;
	if (!find(doc, key, &it))
		return dflt;
	double v;
	if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it))
		v = (double)bson_iter_as_int64(&it);
	else if (BSON_ITER_HOLDS_DOUBLE(&it))
		v = bson_iter_double(&it);
	else {
		fail(l, "\"%s\" must be a number", key);
		return dflt;
	}
	if (v < lo || v > hi) {
		fail(l, "\"%s\" must be within %d..%d", key, lo, hi);
		return dflt;
	}
	return (int)v;
}

/* A string field (borrowed from doc), or NULL when absent. */
static const char *str_field(loader *l, const bson_t *doc, const char *key, bool required)
{
	bson_iter_t it;
	if (!find(doc, key, &it)) {
		if (required)
			fail(l, "\"%s\" is missing", key);
		return NULL;
	}
	if (!BSON_ITER_HOLDS_UTF8(&it)) {
		fail(l, "\"%s\" must be a string", key);
		return NULL;
	}
	const char *s = bson_iter_utf8(&it, NULL);
	if (required && !*s)
		fail(l, "\"%s\" is empty", key);
	return s;
}

static char *dup_or_fail(loader *l, const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		fail(l, "out of memory");
	return d;
}

/* text spoken in voice: its clip (cached), or NULL when text is NULL or on failure. */
static const ps_clip *speech(loader *l, const char *voice, const char *text)
{
	if (!text || l->failed)
		return NULL;
	char why[256];
	const ps_clip *c = ps_clip_speech(voice, text, why, sizeof why);
	if (!c)
		fail(l, "%s", why);
	return c;
}

/* ---- Nodes ---- */

typedef struct names {
	const char *name[MAX_NODES];
	int n;
} names;

static int node_index(loader *l, const names *nm, const char *key, const char *name)
{
	if (!name)
		return SC_NONE;
	for (int i = 0; i < nm->n; i++)
		if (!strcmp(nm->name[i], name))
			return i;
	fail(l, "\"%s\" names node \"%s\", which does not exist", key, name);
	return SC_NONE;
}

static void read_lines(loader *l, const bson_t *doc, const char *voice, sc_node *n)
{
	bson_t arr;
	if (!sub(l, doc, "lines", BSON_TYPE_ARRAY, &arr))
		return;
	uint32_t count = bson_count_keys(&arr);
	if (count > MAX_LINES) {
		fail(l, "more than %d lines", MAX_LINES);
		return;
	}
	n->lines = calloc(count ? count : 1, sizeof *n->lines);
	if (!n->lines) {
		fail(l, "out of memory");
		return;
	}
	bson_iter_t it;
	bson_iter_init(&it, &arr);
	while (!l->failed && bson_iter_next(&it)) {
		sc_line *line = &n->lines[n->num_lines];
		line->barge_in_ms = -1;
		if (BSON_ITER_HOLDS_UTF8(&it)) {
			line->text = dup_or_fail(l, bson_iter_utf8(&it, NULL));
		} else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			uint32_t len;
			const uint8_t *data;
			bson_t obj;
			bson_iter_document(&it, &len, &data);
			bson_init_static(&obj, data, len);
			line->text = dup_or_fail(l, str_field(l, &obj, "text", false));
			line->dtmf = dup_or_fail(l, str_field(l, &obj, "dtmf", false));
			line->barge_in_ms = int_field(l, &obj, "barge_in_ms", -1, 0, 600000);
			line->garbage = int_field(l, &obj, "garbage", 0, 1, 1000);
			if (!l->failed && (line->text != NULL) + (line->dtmf != NULL) + (line->garbage > 0) != 1)
				fail(l, "line %d must have one of \"text\", \"dtmf\" or \"garbage\"", n->num_lines + 1);
			if (!l->failed && line->dtmf && strspn(line->dtmf, "0123456789*#") != strlen(line->dtmf))
				fail(l, "line %d: \"dtmf\" takes 0-9 * #", n->num_lines + 1);
		} else {
			fail(l, "line %d must be a string or an object", n->num_lines + 1);
		}
		if (!l->failed && line->text && !*line->text)
			fail(l, "line %d is empty", n->num_lines + 1);
		line->clip = speech(l, voice, line->text);
		n->num_lines++;
	}
}

static void read_human(loader *l, const bson_t *doc, const char *voice, sc_node *n)
{
	n->type = NODE_HUMAN;
	n->say_text = dup_or_fail(l, str_field(l, doc, "greeting", false));
	n->say = speech(l, voice, n->say_text);
	read_lines(l, doc, voice, n);
	n->reply_gap_ms = int_field(l, doc, "reply_gap_ms", 600, 0, 60000);
	n->hangup_in_line = int_field(l, doc, "hangup_in_line", 0, 0, n->num_lines);
	n->hangup_at_ms = int_field(l, doc, "hangup_at_ms", -1, 0, 600000);
	const char *end = str_field(l, doc, "end", false);
	if (end && strcmp(end, "hangup") != 0 && strcmp(end, "wait") != 0)
		fail(l, "\"end\" must be \"hangup\" or \"wait\"");
	n->hangup_at_end = end && !strcmp(end, "hangup");
}

static void read_hold(loader *l, const bson_t *doc, const char *voice, sc_node *n)
{
	n->type = NODE_HOLD;
	n->hold_ms = int_field(l, doc, "hold_seconds", -1, 1, 24 * 3600) * 1000;
	if (!l->failed && n->hold_ms < 0)
		fail(l, "\"hold_seconds\" is missing");
	n->message_text = dup_or_fail(l, str_field(l, doc, "message", false));
	n->message = speech(l, voice, n->message_text);
	n->message_every_ms = int_field(l, doc, "message_every_s", 30, 1, 3600) * 1000;
	n->say_text = dup_or_fail(l, str_field(l, doc, "say", false)); /* "Please hold", before the music */
	n->say = speech(l, voice, n->say_text);
}

static void read_voicemail(loader *l, const bson_t *doc, const char *voice, sc_node *n)
{
	n->type = NODE_VOICEMAIL;
	n->say_text = dup_or_fail(l, str_field(l, doc, "greeting", true));
	n->say = speech(l, voice, n->say_text);
	char why[128];
	int beep_ms = int_field(l, doc, "beep_ms", 500, 50, 5000);
	if (!l->failed && !(n->beep = ps_clip_beep(beep_ms, why, sizeof why)))
		fail(l, "%s", why);
	n->max_message_ms = int_field(l, doc, "max_message_s", 120, 1, 3600) * 1000;
}

/* A node of an ivr's "nodes" (type named), its references resolved against nm. */
static void read_node(loader *l, const bson_t *doc, const char *voice, const names *nm, sc_node *n)
{
	const char *own_voice = str_field(l, doc, "voice", false);
	if (own_voice)
		voice = own_voice;
	const char *type = str_field(l, doc, "type", true);
	if (l->failed)
		return;
	n->timeout_ms = int_field(l, doc, "timeout_ms", 6000, 500, 600000);
	n->repeats = int_field(l, doc, "repeats", 2, 0, 100);
	n->prompt_delay_ms = int_field(l, doc, "prompt_delay_ms", 600, 0, 60000);
	n->next = node_index(l, nm, "next", str_field(l, doc, "next", false));
	if (!strcmp(type, "menu") || !strcmp(type, "collect") || !strcmp(type, "hangup")) {
		n->type = !strcmp(type, "menu") ? NODE_MENU : !strcmp(type, "collect") ? NODE_COLLECT : NODE_HANGUP;
		n->say_text = dup_or_fail(l, str_field(l, doc, "say", n->type != NODE_HANGUP));
		n->say = speech(l, voice, n->say_text);
	} else if (!strcmp(type, "hold")) {
		read_hold(l, doc, voice, n);
	} else if (!strcmp(type, "human")) {
		read_human(l, doc, voice, n);
	} else if (!strcmp(type, "voicemail")) {
		read_voicemail(l, doc, voice, n);
	} else {
		fail(l, "\"type\" must be menu, collect, hold, human, voicemail or hangup");
		return;
	}
	if (n->type == NODE_MENU) {
		bson_t keys;
		if (!sub(l, doc, "keys", BSON_TYPE_DOCUMENT, &keys)) {
			fail(l, "a menu needs \"keys\"");
			return;
		}
		bson_iter_t it;
		bson_iter_init(&it, &keys);
		while (!l->failed && bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);
			if (strlen(k) != 1 || !strchr("0123456789*#", k[0]) || n->num_keys == SC_MAX_KEYS || !BSON_ITER_HOLDS_UTF8(&it)) {
				fail(l, "\"keys\" maps one key (0-9 * #) to a node name");
				return;
			}
			n->key_digit[n->num_keys] = k[0];
			n->key_next[n->num_keys] = node_index(l, nm, "keys", bson_iter_utf8(&it, NULL));
			n->num_keys++;
		}
		const char *invalid = str_field(l, doc, "invalid", false);
		n->invalid = speech(l, voice, invalid ? invalid : "Sorry, that is not a valid choice.");
	} else if (n->type == NODE_COLLECT) {
		const char *until = str_field(l, doc, "until", false);
		if (until && (strlen(until) != 1 || !strchr("*#", until[0])))
			fail(l, "\"until\" must be \"#\" or \"*\"");
		n->until = until ? until[0] : '#';
		n->max_digits = int_field(l, doc, "max_digits", 32, 1, 64);
	}
}

static void read_ivr(loader *l, const bson_t *doc, const char *voice, ps_scenario *s)
{
	bson_t nodes;
	if (!sub(l, doc, "nodes", BSON_TYPE_DOCUMENT, &nodes)) {
		fail(l, "an ivr needs \"nodes\"");
		return;
	}
	names nm = {0};
	bson_iter_t it;
	bson_iter_init(&it, &nodes);
	while (bson_iter_next(&it) && !l->failed) {
		if (nm.n == MAX_NODES || !BSON_ITER_HOLDS_DOCUMENT(&it))
			fail(l, "\"nodes\" holds up to %d objects", MAX_NODES);
		else
			nm.name[nm.n++] = bson_iter_key(&it);
	}
	if (!l->failed && !nm.n)
		fail(l, "\"nodes\" is empty");
	if (l->failed || !(s->nodes = calloc((size_t)nm.n, sizeof *s->nodes))) {
		fail(l, "out of memory");
		return;
	}
	bson_iter_init(&it, &nodes);
	for (int i = 0; i < nm.n && !l->failed && bson_iter_next(&it); i++) {
		uint32_t len;
		const uint8_t *data;
		bson_t node;
		bson_iter_document(&it, &len, &data);
		bson_init_static(&node, data, len);
		l->node = nm.name[i];
		s->nodes[i].name = dup_or_fail(l, nm.name[i]);
		s->num_nodes++;
		read_node(l, &node, voice, &nm, &s->nodes[i]);
	}
	l->node = NULL;
	/* named, not "the first": a table encoded by cjson keeps no key order */
	s->start = node_index(l, &nm, "start", str_field(l, doc, "start", true));
	if (!l->failed && s->start == SC_NONE)
		fail(l, "\"start\" must name a node");
}

/* A human, hold or voicemail scenario: one or two nodes made from the scenario's own fields. */
static void read_simple(loader *l, const bson_t *doc, const char *voice, ps_scenario *s)
{
	int count = s->kind == SC_HOLD ? 2 : 1;
	if (!(s->nodes = calloc((size_t)count, sizeof *s->nodes))) {
		fail(l, "out of memory");
		return;
	}
	s->num_nodes = count;
	s->nodes[0].name = dup_or_fail(l, ps_scenario_kind_name(s->kind));
	if (s->kind == SC_HUMAN) {
		read_human(l, doc, voice, &s->nodes[0]);
	} else if (s->kind == SC_VOICEMAIL) {
		read_voicemail(l, doc, voice, &s->nodes[0]);
	} else {
		read_hold(l, doc, voice, &s->nodes[0]);
		s->nodes[0].next = 1;
		s->nodes[1].name = dup_or_fail(l, "rep");
		bson_t rep;
		bool has_rep = sub(l, doc, "rep", BSON_TYPE_DOCUMENT, &rep);
		const char *rep_voice = has_rep ? str_field(l, &rep, "voice", false) : NULL;
		if (has_rep)
			read_human(l, &rep, rep_voice ? rep_voice : voice, &s->nodes[1]);
		else if (!l->failed)
			fail(l, "a hold needs \"rep\" (the human who answers after it)");
	}
}

static void read_scenario(loader *l, const bson_t *doc, ps_scenario *s)
{
	static const struct {
		const char *name;
		sc_kind kind;
	} KINDS[] = {{"human", SC_HUMAN}, {"ivr", SC_IVR}, {"hold", SC_HOLD}, {"voicemail", SC_VOICEMAIL},
		     {"busy", SC_BUSY}, {"no_answer", SC_NO_ANSWER}, {"failed", SC_FAILED}, {"reject", SC_FAILED}};
	const char *kind = str_field(l, doc, "kind", true);
	for (size_t i = 0; kind && i < sizeof KINDS / sizeof KINDS[0]; i++)
		if (!strcmp(kind, KINDS[i].name))
			s->kind = KINDS[i].kind;
	if (!l->failed && !s->kind) {
		fail(l, "\"kind\" must be human, ivr, hold, voicemail, busy, no_answer, failed or reject");
		return;
	}
	s->ring_ms = int_field(l, doc, "ring_ms", 1000, 0, 600000);
	s->amd_ms = int_field(l, doc, "amd_ms", 2000, 0, 60000);
	s->talk_ms = int_field(l, doc, "talk_seconds", 2, 0, 3600) * 1000;
	const char *answered_by = str_field(l, doc, "answered_by", false);
	static const char *const VERDICTS[] = {"human", "machine_start", "machine_end_beep", "machine_end_silence",
					       "machine_end_other", "fax", "unknown"};
	bool known = !answered_by;
	for (size_t i = 0; answered_by && i < sizeof VERDICTS / sizeof VERDICTS[0]; i++)
		known = known || !strcmp(answered_by, VERDICTS[i]);
	if (!known)
		fail(l, "\"answered_by\" is not an AMD verdict Twilio sends");
	snprintf(s->answered_by, sizeof s->answered_by, "%s",
		 answered_by ? answered_by : s->kind == SC_VOICEMAIL ? "machine_end_beep" : "human");
	const char *voice = str_field(l, doc, "voice", false);
	if (l->failed)
		return;
	if (s->kind == SC_IVR)
		read_ivr(l, doc, voice, s);
	else if (s->kind == SC_HUMAN || s->kind == SC_HOLD || s->kind == SC_VOICEMAIL)
		read_simple(l, doc, voice, s);
}

/* ---- File ---- */

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(MAX_FILE + 1);
	size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
	bool bad = ferror(f) || n > MAX_FILE;
	fclose(f);
	if (!buf || bad) {
		snprintf(err, errlen, !buf ? "out of memory" : "cannot read %s (or it is over 4 MiB)", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void node_free(sc_node *n)
{
	free(n->name);
	free(n->say_text);
	free(n->message_text);
	for (int i = 0; i < n->num_lines; i++) {
		free(n->lines[i].text);
		free(n->lines[i].dtmf);
	}
	free(n->lines);
}

void ps_scenarios_free(void)
{
	for (int i = 0; i < num_scenarios; i++) {
		for (int k = 0; k < scenarios[i].num_nodes; k++)
			node_free(&scenarios[i].nodes[k]);
		free(scenarios[i].nodes);
	}
	free(scenarios);
	scenarios = NULL;
	num_scenarios = 0;
}

bool ps_scenarios_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = read_file(path, &len, err, errlen);
	if (!text)
		return false;
	bson_error_t berr;
	bson_t *doc = bson_new_from_json((const uint8_t *)text, (ssize_t)len, &berr);
	free(text);
	if (!doc) {
		snprintf(err, errlen, "%s is not a JSON object: %s", path, berr.message);
		return false;
	}
	uint32_t count = bson_count_keys(doc);
	loader l = {.where = "", .err = err, .errlen = errlen};
	if (count > MAX_SCENARIOS)
		fail(&l, "more than %d numbers", MAX_SCENARIOS);
	else if (!(scenarios = calloc(count ? count : 1, sizeof *scenarios)))
		fail(&l, "out of memory");
	bson_iter_t it;
	bson_iter_init(&it, doc);
	while (!l.failed && bson_iter_next(&it)) {
		const char *number = bson_iter_key(&it);
		ps_scenario *s = &scenarios[num_scenarios++];
		l.where = number;
		if (strcmp(number, "*") != 0 && !ps_e164(number)) {
			fail(&l, "the key must be an E.164 number or \"*\"");
			break;
		}
		snprintf(s->number, sizeof s->number, "%s", number);
		if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
			fail(&l, "must be an object");
			break;
		}
		uint32_t blen;
		const uint8_t *data;
		bson_t sc;
		bson_iter_document(&it, &blen, &data);
		bson_init_static(&sc, data, blen);
		read_scenario(&l, &sc, s);
	}
	bson_destroy(doc);
	if (l.failed)
		ps_scenarios_free();
	return !l.failed;
}

const ps_scenario *ps_scenario_find(const char *number)
{
	const ps_scenario *any = NULL;
	for (int i = 0; i < num_scenarios; i++) {
		if (!strcmp(scenarios[i].number, number))
			return &scenarios[i];
		if (!strcmp(scenarios[i].number, "*"))
			any = &scenarios[i];
	}
	return any;
}

/* The TwiML subset (twiml.h): a small XML reader into a tree, then the tree into verbs. */
#include "twiml.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"

#define MAX_DEPTH 16
#define MAX_ATTRS 16

/* ---- XML reader ---- */

typedef struct xnode {
	char *name;
	int num_attrs;
	char *attr_name[MAX_ATTRS], *attr_value[MAX_ATTRS];
	sova_sbuf text;                /* the element's own text, entities decoded */
	struct xnode *child, *last, *next;
} xnode;

typedef struct reader {
	const char *p, *end;
	char *err;
	size_t errlen;
	bool failed;
} reader;

static void fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(reader *r, const char *fmt, ...)
{
	if (r->failed)
		return;
	r->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

static void xnode_free(xnode *n)
{
	while (n) {
		xnode *next = n->next;
		xnode_free(n->child);
		free(n->name);
		for (int i = 0; i < n->num_attrs; i++) {
			free(n->attr_name[i]);
			free(n->attr_value[i]);
		}
		sova_sbuf_free(&n->text);
		free(n);
		n = next;
	}
}

static bool starts(const reader *r, const char *s)
{
	size_t l = strlen(s);
	return (size_t)(r->end - r->p) >= l && !memcmp(r->p, s, l);
}

static void skip_space(reader *r)
{
	while (r->p < r->end && isspace((unsigned char)*r->p))
		r->p++;
}

/* Skips past the next occurrence of s; false when there is none. */
static bool skip_past(reader *r, const char *s)
{
	size_t l = strlen(s);
	for (const char *q = r->p; q + l <= r->end; q++)
		if (!memcmp(q, s, l)) {
			r->p = q + l;
			return true;
		}
	return false;
}

/* Comments, processing instructions (the XML declaration) and white space. */
static void skip_misc(reader *r)
{
	for (;;) {
		skip_space(r);
		if (starts(r, "<!--")) {
			if (!skip_past(r, "-->"))
				fail(r, "unterminated comment");
		} else if (starts(r, "<?")) {
			if (!skip_past(r, "?>"))
				fail(r, "unterminated processing instruction");
		} else {
			return;
		}
		if (r->failed)
			return;
	}
}

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && (isdigit((unsigned char)c) || c == '-' || c == '.'));
}

static char *read_name(reader *r)
{
	const char *s = r->p;
	while (r->p < r->end && name_char(*r->p, r->p == s))
		r->p++;
	if (r->p == s) {
		fail(r, "a tag or attribute name was expected");
		return NULL;
	}
	char *n = strndup(s, (size_t)(r->p - s));
	if (!n)
		fail(r, "out of memory");
	return n;
}

static void add_utf8(sova_sbuf *b, unsigned long cp)
{
	char u[4];
	if (cp < 0x80) {
		u[0] = (char)cp;
		sova_sbuf_add(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		sova_sbuf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		sova_sbuf_add(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		sova_sbuf_add(b, u, 4);
	}
}

/* Appends s[0..n) to b with entities decoded. */
static void decode_text(reader *r, sova_sbuf *b, const char *s, size_t n)
{
	static const struct {
		const char *name;
		char c;
	} NAMED[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '&') {
			sova_sbuf_add(b, s + i, 1);
			continue;
		}
		const char *e = s + i + 1;
		size_t rest = n - i - 1;
		bool done = false;
		for (size_t k = 0; k < sizeof NAMED / sizeof NAMED[0] && !done; k++) {
			size_t l = strlen(NAMED[k].name);
			if (rest >= l && !memcmp(e, NAMED[k].name, l)) {
				sova_sbuf_add(b, &NAMED[k].c, 1);
				i += l;
				done = true;
			}
		}
		if (!done && rest >= 3 && e[0] == '#') {
			const char *semi = memchr(e, ';', rest);
			char *stop = NULL;
			unsigned long cp = e[1] == 'x' ? strtoul(e + 2, &stop, 16) : strtoul(e + 1, &stop, 10);
			if (semi && stop == semi && cp > 0 && cp <= 0x10FFFF) {
				add_utf8(b, cp);
				i += (size_t)(semi - e) + 1;
				done = true;
			}
		}
		if (!done) {
			fail(r, "an unknown entity");
			return;
		}
	}
}

static xnode *read_element(reader *r, int depth);

static void read_attrs(reader *r, xnode *n)
{
	for (;;) {
		skip_space(r);
		if (r->p >= r->end || *r->p == '>' || *r->p == '/')
			return;
		char *name = read_name(r);
		if (!name)
			return;
		skip_space(r);
		if (r->p >= r->end || *r->p != '=') {
			free(name);
			fail(r, "attribute without a value in <%s>", n->name);
			return;
		}
		r->p++;
		skip_space(r);
		char q = r->p < r->end ? *r->p : 0;
		const char *close = q == '"' || q == '\'' ? memchr(r->p + 1, q, (size_t)(r->end - r->p - 1)) : NULL;
		if (!close || n->num_attrs == MAX_ATTRS) {
			free(name);
			fail(r, close ? "too many attributes in <%s>" : "unquoted or unterminated attribute in <%s>", n->name);
			return;
		}
		sova_sbuf v = {0};
		sova_sbuf_add(&v, "", 0);
		decode_text(r, &v, r->p + 1, (size_t)(close - r->p - 1));
		r->p = close + 1;
		if (v.failed || r->failed) {
			free(name);
			sova_sbuf_free(&v);
			fail(r, "out of memory");
			return;
		}
		n->attr_name[n->num_attrs] = name;
		n->attr_value[n->num_attrs] = v.data; /* the node owns the buffer now */
		n->num_attrs++;
	}
}

static void read_content(reader *r, xnode *n, int depth)
{
	for (;;) {
		const char *lt = memchr(r->p, '<', (size_t)(r->end - r->p));
		if (!lt) {
			fail(r, "<%s> is not closed", n->name);
			return;
		}
		decode_text(r, &n->text, r->p, (size_t)(lt - r->p));
		r->p = lt;
		if (r->failed)
			return;
		if (starts(r, "</")) {
			r->p += 2;
			char *name = read_name(r);
			bool same = name && !strcmp(name, n->name);
			free(name);
			skip_space(r);
			if (!same || r->p >= r->end || *r->p != '>') {
				fail(r, "mismatched closing tag for <%s>", n->name);
				return;
			}
			r->p++;
			return;
		}
		if (starts(r, "<!--")) {
			if (!skip_past(r, "-->")) {
				fail(r, "unterminated comment");
				return;
			}
			continue;
		}
		if (starts(r, "<![CDATA[") || starts(r, "<!")) {
			fail(r, "CDATA and declarations are not part of the subset");
			return;
		}
		xnode *c = read_element(r, depth + 1);
		if (!c)
			return;
		if (n->last)
			n->last->next = c;
		else
			n->child = c;
		n->last = c;
	}
}

static xnode *read_element(reader *r, int depth)
{
	if (depth > MAX_DEPTH) {
		fail(r, "elements nested deeper than %d", MAX_DEPTH);
		return NULL;
	}
	if (r->p >= r->end || *r->p != '<') {
		fail(r, "an element was expected");
		return NULL;
	}
	r->p++;
	xnode *n = calloc(1, sizeof *n);
	if (!n) {
		fail(r, "out of memory");
		return NULL;
	}
	n->name = read_name(r);
	if (n->name)
		read_attrs(r, n);
	if (!r->failed) {
		if (starts(r, "/>"))
			r->p += 2;
		else if (starts(r, ">")) {
			r->p++;
			read_content(r, n, depth);
		} else {
			fail(r, "a broken tag <%s>", n->name);
		}
	}
	if (r->failed) {
		xnode_free(n);
		return NULL;
	}
	return n;
}

/* ---- Tree into verbs ---- */

static const char *attr(const xnode *n, const char *name)
{
	for (int i = 0; i < n->num_attrs; i++)
		if (!strcmp(n->attr_name[i], name))
			return n->attr_value[i];
	return NULL;
}

/* The text with surrounding white space cut, as a new string (caller frees). */
static char *trimmed_text(const sova_sbuf *t)
{
	const char *s = t->data ? t->data : "";
	size_t l = strlen(s);
	while (l && isspace((unsigned char)s[l - 1]))
		l--;
	while (l && isspace((unsigned char)*s)) {
		s++;
		l--;
	}
	return strndup(s, l);
}

static bool int_attr(reader *r, const xnode *n, const char *name, int dflt, int lo, int hi, int *out)
{
	const char *v = attr(n, name);
	if (!v) {
		*out = dflt;
		return true;
	}
	char *end = NULL;
	long x = strtol(v, &end, 10);
	if (!*v || *end || x < lo || x > hi) {
		fail(r, "<%s %s=\"%s\">: a whole number %d..%d was expected", n->name, name, v, lo, hi);
		return false;
	}
	*out = (int)x;
	return true;
}

static bool stream_verb(reader *r, const xnode *connect, tw_verb *v)
{
	const xnode *s = connect->child;
	if (!s || s->next || strcmp(s->name, "Stream") != 0) {
		fail(r, "<Connect> must hold one <Stream>");
		return false;
	}
	const char *url = attr(s, "url");
	if (!url || (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0) || strchr(url, '?')) {
		fail(r, "<Stream url> must be a ws:// or wss:// URL without a query string");
		return false;
	}
	v->kind = TW_STREAM;
	if (!(v->url = strdup(url))) {
		fail(r, "out of memory");
		return false;
	}
	for (const xnode *p = s->child; p; p = p->next) {
		const char *name = attr(p, "name"), *value = attr(p, "value");
		if (strcmp(p->name, "Parameter") != 0 || !name || !value || v->num_params == TW_MAX_PARAMS) {
			fail(r, "<Stream> may hold up to %d <Parameter name value/>", TW_MAX_PARAMS);
			return false;
		}
		v->param_name[v->num_params] = strdup(name);
		v->param_value[v->num_params] = strdup(value);
		if (!v->param_name[v->num_params] || !v->param_value[v->num_params]) {
			free(v->param_name[v->num_params]);
			free(v->param_value[v->num_params]);
			fail(r, "out of memory");
			return false;
		}
		v->num_params++;
	}
	return true;
}

static bool dial_verb(reader *r, const xnode *n, tw_verb *v)
{
	v->kind = TW_DIAL;
	if (!int_attr(r, n, "timeout", 30, 5, 600, &v->timeout_s))
		return false;
	const char *action = attr(n, "action"), *caller = attr(n, "callerId");
	const xnode *num = n->child;
	if (num && (num->next || strcmp(num->name, "Number") != 0)) {
		fail(r, "<Dial> may hold one <Number> (the only noun simulated)");
		return false;
	}
	v->number = trimmed_text(num ? &num->text : &n->text);
	v->action = action ? strdup(action) : NULL;
	v->caller_id = caller ? strdup(caller) : NULL;
	if (!v->number || (action && !v->action) || (caller && !v->caller_id)) {
		fail(r, "out of memory");
		return false;
	}
	if (!*v->number) {
		fail(r, "<Dial> without a number");
		return false;
	}
	return true;
}

static bool verb_of(reader *r, const xnode *n, tw_verb *v)
{
	if (!strcmp(n->name, "Connect"))
		return stream_verb(r, n, v);
	if (!strcmp(n->name, "Dial"))
		return dial_verb(r, n, v);
	if (!strcmp(n->name, "Play")) {
		const char *d = attr(n, "digits");
		if (!d || !*d || strlen(d) > 32 || strspn(d, "0123456789*#wW") != strlen(d)) {
			fail(r, "<Play> must have digits=\"…\" (0-9 * # w W, at most 32)");
			return false;
		}
		v->kind = TW_PLAY_DIGITS;
		if (!(v->digits = strdup(d)))
			fail(r, "out of memory");
		return !r->failed;
	}
	if (!strcmp(n->name, "Pause")) {
		v->kind = TW_PAUSE;
		return int_attr(r, n, "length", 1, 0, 600, &v->length_s);
	}
	if (!strcmp(n->name, "Hangup")) {
		v->kind = TW_HANGUP;
		return true;
	}
	if (!strcmp(n->name, "Say")) {
		v->kind = TW_SAY;
		return true;
	}
	fail(r, "<%s> is not simulated", n->name);
	return false;
}

static void verb_free(tw_verb *v)
{
	free(v->url);
	for (int i = 0; i < v->num_params; i++) {
		free(v->param_name[i]);
		free(v->param_value[i]);
	}
	free(v->digits);
	free(v->action);
	free(v->number);
	free(v->caller_id);
}

void tw_free(tw_doc *doc)
{
	for (int i = 0; i < doc->n; i++)
		verb_free(&doc->verbs[i]);
	free(doc->verbs);
	doc->verbs = NULL;
	doc->n = 0;
}

bool tw_parse(const char *xml, size_t len, tw_doc *doc, char *err, size_t errlen)
{
	memset(doc, 0, sizeof *doc);
	reader r = {.p = xml, .end = xml + len, .err = err, .errlen = errlen};
	skip_misc(&r);
	xnode *root = r.failed ? NULL : read_element(&r, 0);
	if (root)
		skip_misc(&r);
	if (root && !r.failed && r.p != r.end)
		fail(&r, "text after the document");
	if (root && !r.failed && strcmp(root->name, "Response") != 0)
		fail(&r, "the root element must be <Response>");
	int count = 0;
	for (const xnode *c = root && !r.failed ? root->child : NULL; c; c = c->next)
		count++;
	if (!r.failed && count && !(doc->verbs = calloc((size_t)count, sizeof *doc->verbs)))
		fail(&r, "out of memory");
	for (const xnode *c = root && !r.failed ? root->child : NULL; c && !r.failed; c = c->next) {
		if (!verb_of(&r, c, &doc->verbs[doc->n]))
			verb_free(&doc->verbs[doc->n]);
		else
			doc->n++;
	}
	xnode_free(root);
	if (r.failed) {
		tw_free(doc);
		return false;
	}
	return true;
}

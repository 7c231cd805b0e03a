/* An OpenAI Chat Completions stream read as it arrives (openai_stream.h). */
#include "llm/openai_stream.h"
#include "util/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64 /* lua-cjson's decode_max_depth as the adapter set it */

/* ---- the text buffers (core/util/sbuf.h): false once memory ran out ---- */

static bool buf_add(sova_sbuf *b, const char *s, size_t n)
{
	sova_sbuf_add(b, s, n);
	return !b->failed;
}

static bool buf_set(sova_sbuf *b, const char *s, size_t n)
{
	sova_sbuf_reset(b);
	return buf_add(b, s, n);
}

typedef struct {
	double index;
	bool has_id;
	sova_sbuf id, name, args;
} tool_call;

struct sova_oai_stream {
	size_t max_event;
	sova_sbuf line;       /* a line whose end has not arrived yet */
	sova_sbuf data;       /* the data lines of the event under way, joined by "\n" */
	bool has_data;  /* a data line was seen since the last dispatch (data may be "") */
	sova_sbuf text;       /* every text delta, joined */
	sova_sbuf finish_reason;
	bool has_finish_reason, done;
	double usage[3];
	unsigned usage_set;
	tool_call *calls; /* in the order they began */
	size_t n_calls, cap_calls;
	sova_oai_status status;
	sova_sbuf message;
	sova_sbuf scratch; /* a decoded key */
	size_t *piece_ends; /* offsets in text where the last feed's pieces end */
	size_t n_pieces, cap_pieces, pieces_from; /* pieces_from: text.len when that feed began */
};

sova_oai_stream *sova_oai_stream_new(size_t max_event_bytes)
{
	sova_oai_stream *s = calloc(1, sizeof *s);
	if (s)
		s->max_event = max_event_bytes;
	return s;
}

void sova_oai_stream_free(sova_oai_stream *s)
{
	if (!s)
		return;
	sova_sbuf *bufs[] = {&s->line, &s->data, &s->text, &s->finish_reason, &s->message, &s->scratch};
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		free(bufs[i]->data);
	for (size_t i = 0; i < s->n_calls; i++) {
		free(s->calls[i].id.data);
		free(s->calls[i].name.data);
		free(s->calls[i].args.data);
	}
	free(s->calls);
	free(s->piece_ends);
	free(s);
}

static sova_oai_status fail(sova_oai_stream *s, sova_oai_status status, const char *message, size_t len)
{
	s->status = status;
	if (!buf_set(&s->message, message, len))
		s->status = SOVA_OAI_OUT_OF_MEMORY;
	return s->status;
}

static sova_oai_status out_of_memory(sova_oai_stream *s)
{
	return fail(s, SOVA_OAI_OUT_OF_MEMORY, "out of memory reading the stream", 32);
}

/* ---- JSON: validation first (the whole event, as a decoder would), then reading members ---- */

static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hex4(const char *p, const char *e)
{
	if (e - p < 4)
		return -1;
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* A \u escape at p (just after the backslash-u): its code point, and p moved past it (and past
 * a surrogate pair's second half); -1 when it is not a valid escape. */
static long unicode_escape(const char **pp, const char *e)
{
	const char *p = *pp;
	int hi = hex4(p, e);
	if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
		return -1;
	p += 4;
	long cp = hi;
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (e - p < 6 || p[0] != '\\' || p[1] != 'u')
			return -1;
		int lo = hex4(p + 2, e);
		if (lo < 0xDC00 || lo > 0xDFFF)
			return -1;
		cp = 0x10000 + ((long)(hi - 0xD800) << 10) + (lo - 0xDC00);
		p += 6;
	}
	*pp = p;
	return cp;
}

/* p at the opening quote: past the closing one, or NULL */
static const char *skip_string(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '"')
			return p + 1;
		if (*p != '\\')
			continue;
		if (++p == e)
			return NULL;
		if (*p == 'u') {
			const char *q = p + 1;
			if (unicode_escape(&q, e) < 0)
				return NULL;
			p = q - 1;
		} else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
			return NULL;
		}
	}
	return NULL;
}

static const char *skip_digits(const char *p, const char *e)
{
	const char *start = p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p > start ? p : NULL;
}

static const char *skip_number(const char *p, const char *e)
{
	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (!(p = skip_digits(p, e)))
		return NULL;
	if (p < e && *p == '.' && !(p = skip_digits(p + 1, e)))
		return NULL;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (!(p = skip_digits(p, e)))
			return NULL;
	}
	return p;
}

static const char *skip_word(const char *p, const char *e, const char *w, size_t n)
{
	return (size_t)(e - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

/* One JSON value at p (no leading space): past it, or NULL when it is not JSON. */
static const char *skip_value(const char *p, const char *e, int depth)
{
	if (p >= e)
		return NULL;
	switch (*p) {
	case '"':
		return skip_string(p, e);
	case 't':
		return skip_word(p, e, "true", 4);
	case 'f':
		return skip_word(p, e, "false", 5);
	case 'n':
		return skip_word(p, e, "null", 4);
	case '{':
	case '[': {
		bool object = *p == '{';
		char close = object ? '}' : ']';
		if (depth + 1 > MAX_DEPTH)
			return NULL;
		p = ws(p + 1, e);
		if (p < e && *p == close)
			return p + 1;
		for (;;) {
			if (object) {
				if (p >= e || *p != '"' || !(p = skip_string(p, e)))
					return NULL;
				p = ws(p, e);
				if (p >= e || *p != ':')
					return NULL;
				p = ws(p + 1, e);
			}
			if (!(p = skip_value(p, e, depth + 1)))
				return NULL;
			p = ws(p, e);
			if (p < e && *p == ',') {
				p = ws(p + 1, e);
				continue;
			}
			return p < e && *p == close ? p + 1 : NULL;
		}
	}
	default:
		return skip_number(p, e);
	}
}

/* A validated string at p, decoded, appended to out. */
static bool add_string(sova_sbuf *out, const char *p, const char *e)
{
	p++;
	for (;;) {
		const char *run = p;
		while (*p != '"' && *p != '\\')
			p++;
		if (p > run && !buf_add(out, run, (size_t)(p - run)))
			return false;
		if (*p == '"')
			return true;
		char c = p[1], one;
		p += 2;
		switch (c) {
		case 'b': one = '\b'; break;
		case 'f': one = '\f'; break;
		case 'n': one = '\n'; break;
		case 'r': one = '\r'; break;
		case 't': one = '\t'; break;
		case 'u': {
			long cp = unicode_escape(&p, e);
			char u[4];
			size_t n;
			if (cp < 0x80) {
				u[0] = (char)cp, n = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
			} else if (cp < 0x10000) {
				u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
				u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
			} else {
				u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
				u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
			}
			if (!buf_add(out, u, n))
				return false;
			continue;
		}
		default: one = c; break; /* " \ / */
		}
		if (!buf_add(out, &one, 1))
			return false;
	}
}

/* The members named by keys of the validated object at p: vals[i] the value of keys[i] (its
 * last occurrence, as a decoder keeps it), or NULL. false: out of memory (a key to decode). */
static bool members(sova_oai_stream *s, const char *p, const char *e, const char *const *keys, size_t n,
		    const char **vals)
{
	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	p = ws(p + 1, e);
	if (*p == '}')
		return true;
	for (;;) {
		const char *k = p, *kend = skip_string(p, e);
		const char *key = k + 1;
		size_t klen = (size_t)(kend - 1 - key);
		if (memchr(key, '\\', klen)) {
			sova_sbuf_reset(&s->scratch);
			if (!add_string(&s->scratch, k, e))
				return false;
			key = s->scratch.data ? s->scratch.data : "";
			klen = s->scratch.len;
		}
		p = ws(ws(kend, e) + 1, e);
		for (size_t i = 0; i < n; i++)
			if (strlen(keys[i]) == klen && memcmp(keys[i], key, klen) == 0)
				vals[i] = p;
		p = ws(skip_value(p, e, 0), e);
		if (*p != ',')
			return true;
		p = ws(p + 1, e);
	}
}

/* Steps through a validated array: *pp at '[' first; each call gives the next element or NULL. */
static const char *next_element(const char **pp, const char *e, bool first)
{
	const char *p = *pp;
	if (first) {
		p = ws(p + 1, e);
		if (*p == ']')
			return NULL;
	} else {
		p = ws(skip_value(p, e, 0), e);
		if (*p != ',')
			return NULL;
		p = ws(p + 1, e);
	}
	*pp = p;
	return p;
}

/* A validated number: its value. The common case (a small integer) without strtod. */
static double number(const char *p, const char *e)
{
	const char *q = p + (*p == '-');
	const char *end = skip_number(p, e);
	double v = 0;
	if (end - q <= 15) {
		for (; q < end && *q >= '0' && *q <= '9'; q++)
			v = v * 10 + (*q - '0');
		if (q == end)
			return *p == '-' ? -v : v;
	}
	char tmp[512];
	size_t n = (size_t)(end - p);
	if (n >= sizeof tmp)
		return strtod(p, NULL); /* the data is NUL-terminated and the number ends in it */
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return strtod(tmp, NULL);
}

static bool is_table(const char *v) { return v && (*v == '{' || *v == '['); }
static bool is_object(const char *v) { return v && *v == '{'; }
static bool is_string(const char *v) { return v && *v == '"'; }
static bool is_number(const char *v) { return v && (*v == '-' || (*v >= '0' && *v <= '9')); }
static bool is_empty_string(const char *v) { return v[1] == '"'; }

/* ---- reading a chunk ---- */

static tool_call *call_at(sova_oai_stream *s, double index)
{
	for (size_t i = 0; i < s->n_calls; i++)
		if (s->calls[i].index == index)
			return &s->calls[i];
	if (s->n_calls == s->cap_calls) {
		size_t cap = s->cap_calls ? 2 * s->cap_calls : 4;
		tool_call *c = realloc(s->calls, cap * sizeof *c);
		if (!c)
			return NULL;
		s->calls = c;
		s->cap_calls = cap;
	}
	tool_call *c = &s->calls[s->n_calls++];
	memset(c, 0, sizeof *c);
	c->index = index;
	return c;
}

/* Whether the string value v equals the bytes of b. */
static bool string_equals(sova_oai_stream *s, const char *v, const char *e, const sova_sbuf *b, bool *eq)
{
	if (!buf_set(&s->scratch, "", 0) || !add_string(&s->scratch, v, e))
		return false;
	*eq = s->scratch.len == b->len && memcmp(s->scratch.data, b->data, b->len) == 0;
	return true;
}

/* One element of delta.tool_calls (an object, or an array: a call with nothing in it). */
static bool tool_delta(sova_oai_stream *s, const char *tc, const char *e)
{
	static const char *const KEYS[] = {"index", "id", "function"};
	const char *v[3] = {NULL, NULL, NULL};
	if (is_object(tc) && !members(s, tc, e, KEYS, 3, v))
		return false;
	bool has_id = is_string(v[1]) && !is_empty_string(v[1]);
	double index;
	if (is_number(v[0])) {
		index = number(v[0], e);
	} else {
		/* servers that omit the index: a new id starts a new call, anything else continues the last */
		tool_call *last = s->n_calls ? &s->calls[s->n_calls - 1] : NULL;
		bool other = false;
		if (last && has_id && last->has_id && !string_equals(s, v[1], e, &last->id, &other))
			return false;
		if (last && has_id && last->has_id)
			other = !other;
		index = !last ? 0 : other ? last->index + 1 : last->index;
	}
	tool_call *c = call_at(s, index);
	if (!c)
		return false;
	if (has_id && !c->has_id) {
		if (!buf_set(&c->id, "", 0) || !add_string(&c->id, v[1], e))
			return false;
		c->has_id = true;
	}
	if (is_table(v[2])) {
		static const char *const FN[] = {"name", "arguments"};
		const char *f[2] = {NULL, NULL};
		if (is_object(v[2]) && !members(s, v[2], e, FN, 2, f))
			return false;
		if (is_string(f[0]) && !add_string(&c->name, f[0], e))
			return false;
		if (is_string(f[1]) && !add_string(&c->args, f[1], e))
			return false;
	}
	return true;
}

/* The text delta just added ends a piece. */
static bool add_piece(sova_oai_stream *s)
{
	if (s->n_pieces == s->cap_pieces) {
		size_t cap = s->cap_pieces ? 2 * s->cap_pieces : 16;
		size_t *p = realloc(s->piece_ends, cap * sizeof *p);
		if (!p)
			return false;
		s->piece_ends = p;
		s->cap_pieces = cap;
	}
	s->piece_ends[s->n_pieces++] = s->text.len;
	return true;
}

/* One choice (choices[i]): text, tool-call fragments and finish_reason of choice 0. */
static bool choice(sova_oai_stream *s, const char *ch, const char *e)
{
	static const char *const KEYS[] = {"index", "delta", "finish_reason"};
	const char *v[3];
	if (!is_object(ch))
		return true; /* an array holds none of these */
	if (!members(s, ch, e, KEYS, 3, v))
		return false;
	if (v[0] && !(is_number(v[0]) && number(v[0], e) == 0))
		return true;
	if (is_object(v[1])) {
		static const char *const DELTA[] = {"content", "tool_calls"};
		const char *d[2];
		if (!members(s, v[1], e, DELTA, 2, d))
			return false;
		if (is_string(d[0]) && !is_empty_string(d[0])) {
			if (!add_string(&s->text, d[0], e) || !add_piece(s))
				return false;
		}
		if (d[1] && *d[1] == '[') {
			const char *p = d[1];
			for (const char *tc = next_element(&p, e, true); tc; tc = next_element(&p, e, false))
				if (is_table(tc) && !tool_delta(s, tc, e))
					return false;
		}
	}
	if (is_string(v[2])) {
		if (!buf_set(&s->finish_reason, "", 0) || !add_string(&s->finish_reason, v[2], e))
			return false;
		s->has_finish_reason = true;
	}
	return true;
}

/* One complete event's data (s->data). */
static sova_oai_status event(sova_oai_stream *s)
{
	const char *p = s->data.data ? s->data.data : "", *e = p + s->data.len;
	if (s->data.len == 6 && memcmp(p, "[DONE]", 6) == 0) {
		s->done = true;
		return SOVA_OAI_OK;
	}
	const char *start = ws(p, e);
	const char *end = skip_value(start, e, 0);
	if (end)
		end = ws(end, e);
	if (!end || end != e) {
		char msg[96];
		int n = snprintf(msg, sizeof msg, "malformed stream event: not JSON (at character %zu)",
				 (size_t)((end ? end : start) - p) + 1);
		return fail(s, SOVA_OAI_MALFORMED, msg, (size_t)n);
	}
	if (*start == '[')
		return SOVA_OAI_OK; /* an array: no member to take */
	if (*start != '{')
		return fail(s, SOVA_OAI_MALFORMED, "malformed stream event (not an object)", 38);
	static const char *const KEYS[] = {"error", "usage", "choices"};
	const char *v[3];
	if (!members(s, start, e, KEYS, 3, v))
		return out_of_memory(s);
	if (is_table(v[0]) || is_string(v[0]))
		return fail(s, SOVA_OAI_ERROR_EVENT, p, s->data.len);
	if (is_table(v[1])) {
		s->usage_set = 0;
		if (is_object(v[1])) {
			static const char *const USAGE[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
			const char *u[3];
			if (!members(s, v[1], e, USAGE, 3, u))
				return out_of_memory(s);
			for (int i = 0; i < 3; i++)
				if (is_number(u[i])) {
					s->usage[i] = number(u[i], e);
					s->usage_set |= 1u << i;
				}
		}
	}
	if (v[2] && *v[2] == '[') {
		const char *q = v[2];
		for (const char *ch = next_element(&q, e, true); ch; ch = next_element(&q, e, false))
			if (!choice(s, ch, e))
				return out_of_memory(s);
	}
	return SOVA_OAI_OK;
}

/* ---- the event stream ---- */

static sova_oai_status too_big(sova_oai_stream *s)
{
	char msg[64];
	int n = snprintf(msg, sizeof msg, "stream event over %zu bytes", s->max_event);
	return fail(s, SOVA_OAI_TOO_BIG, msg, (size_t)n);
}

/* One line of the event stream, without its line ending. */
static sova_oai_status line(sova_oai_stream *s, const char *l, size_t n)
{
	if (n == 0) {
		if (!s->has_data)
			return SOVA_OAI_OK;
		s->has_data = false;
		sova_oai_status st = event(s);
		sova_sbuf_reset(&s->data);
		return st;
	}
	if (l[0] == ':')
		return SOVA_OAI_OK; /* a comment (keep-alives) */
	const char *colon = memchr(l, ':', n);
	size_t field = colon ? (size_t)(colon - l) : n;
	if (field != 4 || memcmp(l, "data", 4) != 0)
		return SOVA_OAI_OK; /* "event", "id", "retry" and unknown fields are ignored, as SSE says */
	const char *value = colon ? colon + 1 : l + n;
	if (value < l + n && *value == ' ')
		value++;
	size_t vlen = (size_t)(l + n - value);
	if (s->has_data && !buf_add(&s->data, "\n", 1))
		return out_of_memory(s);
	if (!buf_add(&s->data, value, vlen))
		return out_of_memory(s);
	s->has_data = true;
	if (s->data.len > s->max_event)
		return too_big(s);
	return SOVA_OAI_OK;
}

static void new_read(sova_oai_stream *s)
{
	s->n_pieces = 0;
	s->pieces_from = s->text.len;
}

sova_oai_status sova_oai_stream_feed(sova_oai_stream *s, const char *bytes, size_t len)
{
	new_read(s);
	if (s->status != SOVA_OAI_OK)
		return s->status;
	const char *p = bytes, *end = bytes + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		const char *l = p;
		size_t n = (size_t)(nl - p);
		if (s->line.len) { /* the start of this line came in an earlier piece */
			if (!buf_add(&s->line, p, n))
				return out_of_memory(s);
			l = s->line.data;
			n = s->line.len;
		}
		if (n > 0 && l[n - 1] == '\r')
			n--;
		sova_oai_status st = line(s, l, n);
		sova_sbuf_reset(&s->line);
		if (st != SOVA_OAI_OK)
			return st;
		p = nl + 1;
	}
	if (p < end && !buf_add(&s->line, p, (size_t)(end - p)))
		return out_of_memory(s);
	if (s->line.len > s->max_event)
		return too_big(s);
	return SOVA_OAI_OK;
}

sova_oai_status sova_oai_stream_finish(sova_oai_stream *s)
{
	new_read(s);
	if (s->status != SOVA_OAI_OK)
		return s->status;
	if (s->line.len) {
		size_t n = s->line.len;
		if (s->line.data[n - 1] == '\r')
			n--;
		sova_oai_status st = line(s, s->line.data, n);
		sova_sbuf_reset(&s->line);
		if (st != SOVA_OAI_OK)
			return st;
	}
	sova_oai_status st = line(s, "", 0);
	if (st != SOVA_OAI_OK)
		return st;
	if (!s->done && !s->has_finish_reason)
		return fail(s, SOVA_OAI_INCOMPLETE, "the stream ended before the answer was complete", 47);
	return SOVA_OAI_OK;
}

size_t sova_oai_stream_pieces(const sova_oai_stream *s) { return s->n_pieces; }

const char *sova_oai_stream_piece(const sova_oai_stream *s, size_t i, size_t *len)
{
	size_t from = i ? s->piece_ends[i - 1] : s->pieces_from;
	*len = s->piece_ends[i] - from;
	return s->text.data + from;
}

const char *sova_oai_stream_message(const sova_oai_stream *s, size_t *len)
{
	*len = s->message.len;
	return s->message.data ? s->message.data : "";
}

const char *sova_oai_stream_text(const sova_oai_stream *s, size_t *len)
{
	*len = s->text.len;
	return s->text.data ? s->text.data : "";
}

const char *sova_oai_stream_finish_reason(const sova_oai_stream *s, size_t *len)
{
	*len = s->finish_reason.len;
	return s->has_finish_reason ? s->finish_reason.data : NULL;
}

unsigned sova_oai_stream_usage(const sova_oai_stream *s, double usage[3])
{
	memcpy(usage, s->usage, sizeof s->usage);
	return s->usage_set;
}

size_t sova_oai_stream_tool_calls(const sova_oai_stream *s) { return s->n_calls; }

void sova_oai_stream_tool_call(const sova_oai_stream *s, size_t i, sova_oai_tool_call *out)
{
	const tool_call *c = &s->calls[i];
	out->id = c->has_id ? c->id.data : NULL;
	out->id_len = c->id.len;
	out->name = c->name.data ? c->name.data : "";
	out->name_len = c->name.len;
	out->arguments = c->args.data ? c->args.data : "";
	out->arguments_len = c->args.len;
}

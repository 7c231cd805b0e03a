/* The `yaml` table of sova.core: YAML configuration files (services.yaml) to Lua values (libyaml).
 *
 * yaml.decode(text) -> value | nil, "line N: message"
 *   mappings -> tables (keys are always strings; a duplicate key is an error), sequences -> arrays
 *   (tables with the sova.array metatable), plain scalars by the YAML 1.2 core schema: null / ~ /
 *   empty -> the null lightuserdata (cjson.null), true/false -> booleans, integers (decimal, 0o, 0x)
 *   and floats (.inf, .nan too) -> numbers, anything else -> strings; quoted and block scalars are
 *   strings. Explicit tags: only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map and "!".
 *   Refused, as configuration files need none of them and they invite abuse: anchors and aliases
 *   (billion laughs), more than one document, nesting deeper than 32, texts over 256 KiB.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bind/sova_bind.h"

#define YAML_MAX_BYTES (256 * 1024)
#define YAML_MAX_DEPTH 32
#define TAG_PREFIX "tag:yaml.org,2002:"

/* One decoding. Lives on l_decode's C stack; the parser and the current event are freed there,
 * whatever happens inside the protected part. */
typedef struct decoder {
	yaml_parser_t parser;
	yaml_event_t event;
	int has_event;
	const char *text;
	size_t len;
	char err[256];
} decoder;

/* ---- Errors ---- */

/* Records "line N: message"; returns 0 so callers can `return fail(...)`. */
static int fail(decoder *d, size_t line, const char *fmt, ...)
{
	int n = snprintf(d->err, sizeof d->err, "line %zu: ", line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

static size_t line_at_offset(const decoder *d, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off && i < d->len; i++)
		line += d->text[i] == '\n';
	return line;
}

static size_t event_line(const decoder *d) { return d->event.start_mark.line + 1; }

/* ---- Events ---- */

/* Replaces the current event with the next one; refuses anchors and aliases. 0 on failure. */
static int next(decoder *d)
{
	if (d->has_event) {
		yaml_event_delete(&d->event);
		d->has_event = 0;
	}
	if (!yaml_parser_parse(&d->parser, &d->event)) {
		yaml_parser_t *p = &d->parser;
		const char *problem = p->problem ? p->problem : "malformed YAML";
		size_t line = p->error == YAML_READER_ERROR ? line_at_offset(d, p->problem_offset)
							    : p->problem_mark.line + 1;
		if (p->context && p->error != YAML_READER_ERROR && p->context_mark.line + 1 != line)
			return fail(d, line, "%s (from line %zu) %s", p->context, p->context_mark.line + 1, problem);
		if (p->context)
			return fail(d, line, "%s %s", p->context, problem);
		return fail(d, line, "%s", problem);
	}
	d->has_event = 1;
	const yaml_char_t *anchor = NULL;
	switch (d->event.type) {
	case YAML_ALIAS_EVENT:
		return fail(d, event_line(d), "aliases (*name) are not allowed");
	case YAML_SCALAR_EVENT:
		anchor = d->event.data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = d->event.data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = d->event.data.mapping_start.anchor;
		break;
	default:
		break;
	}
	if (anchor)
		return fail(d, event_line(d), "anchors (&name) are not allowed");
	return 1;
}

/* ---- Scalars ---- */

static int all_digits(const char *s, const char *e, const char *set)
{
	if (s >= e)
		return 0;
	for (; s < e; s++)
		if (!strchr(set, *s))
			return 0;
	return 1;
}

/* YAML 1.2 core schema integer: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static int to_int(const char *s, size_t len, double *out)
{
	const char *e = s + len;
	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		int hex = s[1] == 'x';
		if (!all_digits(s + 2, e, hex ? "0123456789abcdefABCDEF" : "01234567"))
			return 0;
		*out = (double)strtoull(s + 2, NULL, hex ? 16 : 8);
		return 1;
	}
	const char *p = s;
	if (p < e && (*p == '-' || *p == '+'))
		p++;
	if (!all_digits(p, e, "0123456789"))
		return 0;
	*out = strtod(s, NULL);
	return 1;
}

/* YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? and the
 * .inf/.nan spellings. */
static int to_float(const char *s, size_t len, double *out)
{
	static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"};
	static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF"};
	static const char *const nan_[] = {".nan", ".NaN", ".NAN"};
	for (size_t i = 0; i < sizeof pinf / sizeof *pinf; i++)
		if (strcmp(s, pinf[i]) == 0)
			return *out = HUGE_VAL, 1;
	for (size_t i = 0; i < sizeof ninf / sizeof *ninf; i++)
		if (strcmp(s, ninf[i]) == 0)
			return *out = -HUGE_VAL, 1;
	for (size_t i = 0; i < sizeof nan_ / sizeof *nan_; i++)
		if (strcmp(s, nan_[i]) == 0)
			return *out = NAN, 1;
	const char *p = s, *e = s + len;
	if (p < e && (*p == '-' || *p == '+'))
		p++;
	size_t int_digits = 0, frac_digits = 0;
	while (p < e && *p >= '0' && *p <= '9')
		p++, int_digits++;
	if (p < e && *p == '.') {
		p++;
		while (p < e && *p >= '0' && *p <= '9')
			p++, frac_digits++;
	}
	if (int_digits == 0 && frac_digits == 0)
		return 0;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '-' || *p == '+'))
			p++;
		if (!all_digits(p, e, "0123456789"))
			return 0;
		p = e;
	}
	if (p != e)
		return 0;
	*out = strtod(s, NULL);
	return 1;
}

static int is_null(const char *s, size_t len)
{
	return len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

/* 1 true, 0 false, -1 neither */
static int to_bool(const char *s)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return 0;
	return -1;
}

/* Pushes the current scalar event's value. 0 on failure. */
static int push_scalar(lua_State *L, decoder *d)
{
	const char *s = (const char *)d->event.data.scalar.value;
	size_t len = d->event.data.scalar.length;
	const char *tag = (const char *)d->event.data.scalar.tag;
	int plain = d->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	double num;
	int b;
	/* Quoted scalars may hold NUL ("\0"): such a value can only be a string. */
	int clean = strlen(s) == len;
	if (tag) {
		const char *t = strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 ? tag + strlen(TAG_PREFIX) : NULL;
		if (strcmp(tag, "!") == 0 || (t && strcmp(t, "str") == 0)) {
			lua_pushlstring(L, s, len);
		} else if (t && clean && strcmp(t, "null") == 0 && is_null(s, len)) {
			lua_pushlightuserdata(L, NULL);
		} else if (t && clean && strcmp(t, "bool") == 0 && (b = to_bool(s)) >= 0) {
			lua_pushboolean(L, b);
		} else if (t && clean && strcmp(t, "int") == 0 && to_int(s, len, &num)) {
			lua_pushnumber(L, num);
		} else if (t && clean && strcmp(t, "float") == 0 && (to_float(s, len, &num) || to_int(s, len, &num))) {
			lua_pushnumber(L, num);
		} else if (t && (strcmp(t, "null") == 0 || strcmp(t, "bool") == 0 || strcmp(t, "int") == 0 ||
				 strcmp(t, "float") == 0)) {
			return fail(d, event_line(d), "the value does not fit its tag !!%s", t);
		} else {
			return fail(d, event_line(d), "the tag %.60s is not supported", tag);
		}
		return 1;
	}
	if (!plain)
		lua_pushlstring(L, s, len);
	else if (is_null(s, len))
		lua_pushlightuserdata(L, NULL);
	else if ((b = to_bool(s)) >= 0)
		lua_pushboolean(L, b);
	else if (to_int(s, len, &num) || to_float(s, len, &num))
		lua_pushnumber(L, num);
	else
		lua_pushlstring(L, s, len);
	return 1;
}

/* ---- Collections ---- */

static int push_node(lua_State *L, decoder *d, int depth);

static int check_collection_tag(decoder *d, const yaml_char_t *tag, const char *want)
{
	if (!tag)
		return 1;
	const char *t = (const char *)tag;
	if (strcmp(t, "!") == 0)
		return 1;
	if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 && strcmp(t + strlen(TAG_PREFIX), want) == 0)
		return 1;
	return fail(d, event_line(d), "the tag %.60s is not supported", t);
}

static int push_sequence(lua_State *L, decoder *d, int depth)
{
	if (!check_collection_tag(d, d->event.data.sequence_start.tag, "seq"))
		return 0;
	lua_newtable(L);                   /* [seq] */
	luaL_getmetatable(L, SOVA_ARRAY_MT); /* [seq, mt or nil] */
	if (lua_istable(L, -1))
		lua_setmetatable(L, -2);
	else
		lua_pop(L, 1);
	int n = 0;
	for (;;) {
		if (!next(d))
			return 0;
		if (d->event.type == YAML_SEQUENCE_END_EVENT)
			return 1;
		if (!push_node(L, d, depth)) /* [seq, item] */
			return 0;
		lua_rawseti(L, -2, ++n);   /* [seq] */
	}
}

static int push_mapping(lua_State *L, decoder *d, int depth)
{
	if (!check_collection_tag(d, d->event.data.mapping_start.tag, "map"))
		return 0;
	lua_newtable(L); /* [map] */
	for (;;) {
		if (!next(d))
			return 0;
		if (d->event.type == YAML_MAPPING_END_EVENT)
			return 1;
		if (d->event.type != YAML_SCALAR_EVENT)
			return fail(d, event_line(d), "mapping keys must be scalars");
		size_t key_line = event_line(d);
		lua_pushlstring(L, (const char *)d->event.data.scalar.value,
				d->event.data.scalar.length); /* [map, key] */
		lua_pushvalue(L, -1);
		lua_rawget(L, -3); /* [map, key, existing] */
		if (!lua_isnil(L, -1))
			return fail(d, key_line, "duplicate key '%.60s'", lua_tostring(L, -2));
		lua_pop(L, 1); /* [map, key] */
		if (!next(d) || !push_node(L, d, depth)) /* [map, key, value] */
			return 0;
		lua_rawset(L, -3); /* [map] */
	}
}

/* Pushes the node that starts at the current event. depth: nesting of the enclosing collections. */
static int push_node(lua_State *L, decoder *d, int depth)
{
	if (!lua_checkstack(L, 8))
		return fail(d, event_line(d), "out of Lua stack");
	switch (d->event.type) {
	case YAML_SCALAR_EVENT:
		return push_scalar(L, d);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (depth + 1 > YAML_MAX_DEPTH)
			return fail(d, event_line(d), "nesting deeper than %d levels", YAML_MAX_DEPTH);
		return d->event.type == YAML_SEQUENCE_START_EVENT ? push_sequence(L, d, depth + 1)
								  : push_mapping(L, d, depth + 1);
	default:
		return fail(d, event_line(d), "unexpected YAML event");
	}
}

/* ---- Documents ---- */

/* Runs under lua_pcall: [decoder]. Returns the value, or nothing with d->err set. */
static int decode_protected(lua_State *L)
{
	decoder *d = lua_touserdata(L, 1);
	if (!next(d)) /* stream start */
		return 0;
	if (!next(d))
		return 0;
	if (d->event.type == YAML_STREAM_END_EVENT)
		return fail(d, 1, "no document");
	if (d->event.type != YAML_DOCUMENT_START_EVENT)
		return fail(d, event_line(d), "unexpected YAML event");
	if (!next(d) || !push_node(L, d, 0))
		return 0;
	if (!next(d)) /* document end */
		return 0;
	if (!next(d))
		return 0;
	if (d->event.type == YAML_DOCUMENT_START_EVENT)
		return fail(d, event_line(d), "more than one document");
	if (d->event.type != YAML_STREAM_END_EVENT)
		return fail(d, event_line(d), "unexpected YAML event");
	return 1;
}

/* yaml.decode(text) -> value | nil, "line N: message" */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	if (len > YAML_MAX_BYTES) {
		lua_pushnil(L);
		lua_pushfstring(L, "line 1: document over %d bytes", YAML_MAX_BYTES);
		return 2;
	}
	lua_settop(L, 1);
	decoder d;
	memset(&d, 0, sizeof d);
	d.text = text; /* anchored at index 1 */
	d.len = len;
	lua_pushcfunction(L, decode_protected); /* [text, f] */
	lua_pushlightuserdata(L, &d);           /* [text, f, d]: the last step that can raise */
	if (!yaml_parser_initialize(&d.parser)) {
		lua_pushnil(L);
		lua_pushliteral(L, "line 1: out of memory");
		return 2;
	}
	yaml_parser_set_input_string(&d.parser, (const unsigned char *)text, len);
	int status = lua_pcall(L, 1, 1, 0); /* [text, value | error] */
	if (d.has_event)
		yaml_event_delete(&d.event);
	yaml_parser_delete(&d.parser);
	if (status != 0)
		return lua_error(L); /* out of memory: raised again, nothing left to free */
	if (d.err[0]) {
		lua_pushnil(L);
		lua_pushstring(L, d.err);
		return 2;
	}
	return 1;
}

int sova_open_yaml(lua_State *L)
{
	static const luaL_Reg fns[] = {{"decode", l_decode}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	lua_pushinteger(L, YAML_MAX_BYTES);
	lua_setfield(L, -2, "MAX_BYTES");
	lua_pushinteger(L, YAML_MAX_DEPTH);
	lua_setfield(L, -2, "MAX_DEPTH");
	return 1;
}

/* Form-encoded parameters (form.h). */
#include "form.h"

#include <stdlib.h>
#include <string.h>

#include "bot/speech/provider_util.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* s[0..len) decoded into a new string (caller frees); NULL on a broken escape or out of memory. */
static char *decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static bool grow(ps_form *f)
{
	if (f->n < f->cap)
		return true;
	size_t cap = f->cap ? f->cap * 2 : 16;
	char **names = realloc(f->name, cap * sizeof *names);
	if (!names)
		return false;
	f->name = names;
	char **values = realloc(f->value, cap * sizeof *values);
	if (!values)
		return false;
	f->value = values;
	f->cap = cap;
	return true;
}

static bool add_owned(ps_form *f, char *name, char *value)
{
	if (!name || !value || !grow(f)) {
		free(name);
		free(value);
		f->failed = true;
		return false;
	}
	f->name[f->n] = name;
	f->value[f->n] = value;
	f->n++;
	return true;
}

bool ps_form_parse(ps_form *f, const char *body, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end > i) {
			const char *eq = memchr(body + i, '=', end - i);
			size_t nl = eq ? (size_t)(eq - (body + i)) : end - i;
			char *name = decode(body + i, nl);
			char *value = eq ? decode(eq + 1, end - i - nl - 1) : strdup("");
			if (!add_owned(f, name, value))
				return false;
		}
		i = end + 1;
	}
	return true;
}

bool ps_form_add(ps_form *f, const char *name, const char *value)
{
	return add_owned(f, strdup(name), strdup(value));
}

const char *ps_form_get(const ps_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->name[i], name))
			return f->value[i];
	return NULL;
}

void ps_form_encode(const ps_form *f, sova_sbuf *out)
{
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			sova_sbuf_add(out, "&", 1);
		sova_sbuf_url_encode(out, f->name[i]);
		sova_sbuf_add(out, "=", 1);
		sova_sbuf_url_encode(out, f->value[i]);
	}
}

void ps_form_free(ps_form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->name[i]);
		free(f->value[i]);
	}
	free(f->name);
	free(f->value);
	memset(f, 0, sizeof *f);
}

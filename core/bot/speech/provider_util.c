/* Shared pieces of the cloud speech clients (provider_util.h). */
#include "bot/speech/provider_util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- Text buffer as JSON and URLs ---- */

void sova_sbuf_json_string(sova_sbuf *b, const char *s, size_t n)
{
	sova_sbuf_add(b, "\"", 1);
	size_t run = 0; /* characters copied as they are, in one go */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sova_sbuf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': sova_sbuf_add(b, "\\\"", 2); break;
		case '\\': sova_sbuf_add(b, "\\\\", 2); break;
		case '\n': sova_sbuf_add(b, "\\n", 2); break;
		case '\r': sova_sbuf_add(b, "\\r", 2); break;
		case '\t': sova_sbuf_add(b, "\\t", 2); break;
		default: sova_sbuf_printf(b, "\\u%04x", c); break;
		}
	}
	sova_sbuf_add(b, s + run, n - run);
	sova_sbuf_add(b, "\"", 1);
}

void sova_sbuf_url_encode(sova_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			sova_sbuf_add(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			sova_sbuf_add(b, e, 3);
		}
	}
}

/* ---- Reading JSON ---- */

bool sova_json_parse(bson_t *doc, const void *json, size_t len)
{
	bson_error_t error;
	/* bson parses a top-level array too; providers send objects, so anything else is malformed */
	const char *p = json;
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
		i++;
	if (i == len || p[i] != '{' || len > (size_t)SSIZE_MAX) {
		bson_init(doc);
		return false;
	}
	if (!bson_init_from_json(doc, json, (ssize_t)len, &error)) {
		bson_init(doc);
		return false;
	}
	return true;
}

bool sova_json_find(const bson_t *doc, const char *path, bson_iter_t *out)
{
	bson_iter_t it;
	if (!bson_iter_init(&it, doc))
		return false;
	if (!strchr(path, '.'))
		return bson_iter_init_find(out, doc, path);
	return bson_iter_find_descendant(&it, path, out);
}

bool sova_json_iter_number(const bson_iter_t *it, double *v)
{
	switch (bson_iter_type(it)) {
	case BSON_TYPE_DOUBLE: *v = bson_iter_double(it); return true;
	case BSON_TYPE_INT32: *v = bson_iter_int32(it); return true;
	case BSON_TYPE_INT64: *v = (double)bson_iter_int64(it); return true;
	default: return false;
	}
}

bool sova_json_string(const bson_t *doc, const char *path, const char **s, uint32_t *len, bool *present)
{
	bson_iter_t it;
	bool found = sova_json_find(doc, path, &it);
	if (present)
		*present = found;
	if (!found || !BSON_ITER_HOLDS_UTF8(&it))
		return false;
	*s = bson_iter_utf8(&it, len);
	return true;
}

bool sova_json_number(const bson_t *doc, const char *path, double *v, bool *present)
{
	bson_iter_t it;
	bool found = sova_json_find(doc, path, &it);
	if (present)
		*present = found;
	return found && sova_json_iter_number(&it, v);
}

bool sova_json_bool(const bson_t *doc, const char *path, bool *v, bool *present)
{
	bson_iter_t it;
	bool found = sova_json_find(doc, path, &it);
	if (present)
		*present = found;
	if (!found || !BSON_ITER_HOLDS_BOOL(&it))
		return false;
	*v = bson_iter_bool(&it);
	return true;
}

/* ---- Base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

uint8_t *sova_base64_decode(const char *in, size_t in_len, size_t *out_len)
{
	while (in_len > 0 && in[in_len - 1] == '=')
		in_len--;
	if (in_len % 4 == 1)
		return NULL;
	uint8_t *out = malloc(in_len / 4 * 3 + 3);
	if (!out)
		return NULL;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < in_len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	*out_len = n;
	return out;
}

void sova_sbuf_base64(sova_sbuf *b, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (!sova_sbuf_reserve(b, (len + 2) / 3 * 4))
		return;
	char *o = b->data + b->len;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = B64[(v >> 6) & 63];
		*o++ = B64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

/* ---- Audio framer ---- */

bool sova_framer_init(sova_framer *f, sova_tts *tts, sova_audio_encoding enc, int sample_rate, int frame_ms)
{
	memset(f, 0, sizeof *f);
	f->tts = tts;
	f->encoding = enc;
	f->sample_rate = sample_rate;
	f->bytes_per_sample = enc == SOVA_AUDIO_MULAW ? 1 : 2;
	f->frame_bytes = (size_t)sample_rate * (size_t)frame_ms / 1000 * f->bytes_per_sample;
	f->partial = f->frame_bytes ? malloc(f->frame_bytes) : NULL;
	return f->partial != NULL;
}

void sova_framer_free(sova_framer *f)
{
	free(f->partial);
	f->partial = NULL;
}

void sova_framer_reset(sova_framer *f)
{
	f->partial_len = 0;
	f->turn_bytes = 0;
}

static bool emit_frame(sova_framer *f, uint32_t chunk)
{
	sova_tts_event ev = {.kind = SOVA_TTS_AUDIO, .data = f->partial, .bytes = f->frame_bytes,
			     .num_samples = f->frame_bytes / f->bytes_per_sample, .sample_rate = f->sample_rate,
			     .encoding = f->encoding, .chunk = chunk};
	f->partial_len = 0;
	return sova_tts_emit(f->tts, &ev);
}

bool sova_framer_push(sova_framer *f, const uint8_t *data, size_t len, uint32_t chunk)
{
	f->turn_bytes += len;
	while (len > 0) {
		size_t take = f->frame_bytes - f->partial_len < len ? f->frame_bytes - f->partial_len : len;
		memcpy(f->partial + f->partial_len, data, take);
		f->partial_len += take;
		data += take;
		len -= take;
		if (f->partial_len == f->frame_bytes && !emit_frame(f, chunk))
			return false;
	}
	return true;
}

bool sova_framer_flush(sova_framer *f, uint32_t chunk)
{
	if (f->partial_len == 0)
		return true;
	memset(f->partial + f->partial_len, f->encoding == SOVA_AUDIO_MULAW ? 0xFF : 0, f->frame_bytes - f->partial_len);
	return emit_frame(f, chunk);
}

double sova_framer_seconds(const sova_framer *f)
{
	return (double)(f->turn_bytes / f->bytes_per_sample) / f->sample_rate;
}

/* ---- Identifiers ---- */

void sova_random_hex16(char out[17])
{
	uint8_t raw[8] = {0};
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		/* no kernel randomness: an id unique enough within this process (ids are not secrets) */
		static unsigned long long counter;
		unsigned long long v = (unsigned long long)getpid() << 32 ^ ++counter;
		memcpy(raw, &v, sizeof raw);
	}
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[16] = '\0';
}

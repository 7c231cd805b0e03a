/* Twilio Media Streams messages (twilio_stream.h). */
#include "bot/media/twilio_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "bot/speech/provider_util.h"

/* ---- Inbound ---- */

static bool refuse(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "media stream: %s", what);
	return false;
}

/* The string at path: false with err when it is absent (and required), not a string, holds a NUL,
 * or its length is outside [1, max]. *s is NULL when it is absent and optional. */
static bool text_at(const bson_t *doc, const char *path, bool required, size_t max, const char **s, uint32_t *n,
		    char *err, size_t errlen)
{
	bool present;
	*s = NULL;
	if (!sova_json_string(doc, path, s, n, &present)) {
		if (!present && !required)
			return true;
		snprintf(err, errlen, "media stream: %s %s", path, present ? "is not a string" : "is missing");
		return false;
	}
	if (*n == 0 || *n > max || memchr(*s, '\0', *n)) {
		snprintf(err, errlen, "media stream: %s must be 1 to %zu bytes of text", path, max);
		return false;
	}
	return true;
}

/* A Twilio sid (CA…, MZ…, AC…) at path copied into out (SOVA_TWILIO_MAX_SID + 1 bytes). */
static bool sid_at(const bson_t *doc, const char *path, char *out, char *err, size_t errlen)
{
	const char *s;
	uint32_t n;
	if (!text_at(doc, path, true, SOVA_TWILIO_MAX_SID, &s, &n, err, errlen))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			snprintf(err, errlen, "media stream: %s is not a sid", path);
			return false;
		}
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* An integer at path into *v (absent: *v unchanged); false when it is not a whole number in
 * [1, 1000000]. */
static bool count_at(const bson_t *doc, const char *path, int *v, char *err, size_t errlen)
{
	double d;
	bool present;
	if (!sova_json_number(doc, path, &d, &present)) {
		if (!present)
			return true;
		snprintf(err, errlen, "media stream: %s is not a number", path);
		return false;
	}
	if (!(d >= 1 && d <= 1000000) || d != (double)(int)d) {
		snprintf(err, errlen, "media stream: %s is out of range", path);
		return false;
	}
	*v = (int)d;
	return true;
}

/* start.customParameters: name/value strings copied into m->param_text. */
static bool parse_params(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	bson_iter_t it, child;
	if (!sova_json_find(doc, "start.customParameters", &it))
		return true;
	if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &child))
		return refuse(err, errlen, "start.customParameters is not an object");
	size_t used = 0;
	while (bson_iter_next(&child)) {
		const char *name = bson_iter_key(&child);
		size_t name_len = strlen(name);
		uint32_t value_len;
		if (!BSON_ITER_HOLDS_UTF8(&child))
			return refuse(err, errlen, "a custom parameter is not a string");
		const char *value = bson_iter_utf8(&child, &value_len);
		if (m->num_params == SOVA_TWILIO_MAX_PARAMS)
			return refuse(err, errlen, "too many custom parameters");
		if (name_len == 0 || name_len > SOVA_TWILIO_MAX_PARAM_NAME || memchr(value, '\0', value_len))
			return refuse(err, errlen, "a custom parameter's name or value is malformed");
		if (name_len + 1 + value_len + 1 > sizeof m->param_text - used)
			return refuse(err, errlen, "custom parameters are too long");
		char *at = m->param_text + used;
		memcpy(at, name, name_len + 1);
		memcpy(at + name_len + 1, value, value_len);
		at[name_len + 1 + value_len] = '\0';
		m->params[m->num_params++] = (sova_twilio_param){.name = at, .value = at + name_len + 1};
		used += name_len + 1 + value_len + 1;
	}
	return true;
}

static bool parse_start(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	if (!sid_at(doc, "start.callSid", m->call_sid, err, errlen) ||
	    !sid_at(doc, "start.accountSid", m->account_sid, err, errlen))
		return false;
	const char *enc;
	uint32_t n;
	if (!text_at(doc, "start.mediaFormat.encoding", false, sizeof m->encoding - 1, &enc, &n, err, errlen))
		return false;
	if (enc) {
		memcpy(m->encoding, enc, n);
		m->encoding[n] = '\0';
	} else {
		strcpy(m->encoding, "audio/x-mulaw");
	}
	m->sample_rate = 8000, m->channels = 1;
	return count_at(doc, "start.mediaFormat.sampleRate", &m->sample_rate, err, errlen) &&
	       count_at(doc, "start.mediaFormat.channels", &m->channels, err, errlen) && parse_params(doc, m, err, errlen);
}

/* The largest payload's base64: 4 characters per 3 bytes, padded. */
#define MAX_PAYLOAD_B64 ((SOVA_TWILIO_MAX_AUDIO + 2) / 3 * 4)

static bool parse_media(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	const char *b64;
	uint32_t n;
	bool present;
	if (!sova_json_string(doc, "media.payload", &b64, &n, &present))
		return refuse(err, errlen, present ? "media.payload is not a string" : "media.payload is missing");
	if (n > MAX_PAYLOAD_B64)
		return refuse(err, errlen, "media.payload is more than 100 ms of audio");
	/* no b64_end: sodium fails unless the whole string is base64 with its padding */
	if (sodium_base642bin(m->audio, sizeof m->audio, b64, n, NULL, &m->audio_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return refuse(err, errlen, "media.payload is not base64 of 100 ms or less");
	if (m->audio_len == 0)
		return refuse(err, errlen, "media.payload is empty");
	return true;
}

static bool parse_dtmf(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	const char *d;
	uint32_t n;
	if (!text_at(doc, "dtmf.digit", true, 1, &d, &n, err, errlen))
		return false;
	if (!strchr("0123456789*#ABCD", d[0])) /* the 16 DTMF tones */
		return refuse(err, errlen, "dtmf.digit is not a key");
	m->digit = d[0];
	return true;
}

static bool parse_mark(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	const char *s;
	uint32_t n;
	if (!text_at(doc, "mark.name", true, SOVA_TWILIO_MAX_NAME, &s, &n, err, errlen))
		return false;
	memcpy(m->mark, s, n);
	m->mark[n] = '\0';
	return true;
}

static const struct {
	const char *name;
	sova_twilio_event event;
} EVENTS[] = {
	{"connected", SOVA_TWILIO_CONNECTED}, {"start", SOVA_TWILIO_START}, {"media", SOVA_TWILIO_MEDIA},
	{"dtmf", SOVA_TWILIO_DTMF},           {"mark", SOVA_TWILIO_MARK},   {"stop", SOVA_TWILIO_STOP},
};

static bool parse_doc(const bson_t *doc, sova_twilio_msg *m, char *err, size_t errlen)
{
	const char *ev;
	uint32_t n;
	if (!text_at(doc, "event", true, 32, &ev, &n, err, errlen))
		return false;
	for (size_t i = 0; i < sizeof EVENTS / sizeof *EVENTS; i++)
		if (strlen(EVENTS[i].name) == n && memcmp(EVENTS[i].name, ev, n) == 0)
			m->event = EVENTS[i].event;
	if (m->event == SOVA_TWILIO_OTHER || m->event == SOVA_TWILIO_CONNECTED)
		return true;
	if (!sid_at(doc, "streamSid", m->stream_sid, err, errlen))
		return false;
	switch (m->event) {
	case SOVA_TWILIO_START: return parse_start(doc, m, err, errlen);
	case SOVA_TWILIO_MEDIA: return parse_media(doc, m, err, errlen);
	case SOVA_TWILIO_DTMF: return parse_dtmf(doc, m, err, errlen);
	case SOVA_TWILIO_MARK: return parse_mark(doc, m, err, errlen);
	default: return true; /* stop */
	}
}

bool sova_twilio_parse(sova_twilio_msg *m, const void *data, size_t len, char *err, size_t errlen)
{
	m->event = SOVA_TWILIO_OTHER;
	m->stream_sid[0] = m->call_sid[0] = m->account_sid[0] = m->encoding[0] = m->mark[0] = '\0';
	m->num_params = 0;
	m->audio_len = 0;
	m->digit = '\0';
	if (len > SOVA_TWILIO_MAX_MESSAGE)
		return refuse(err, errlen, "a message is too long");
	bson_t doc;
	if (!sova_json_parse(&doc, data, len)) {
		bson_destroy(&doc);
		return refuse(err, errlen, "a message is not a JSON object");
	}
	bool ok = parse_doc(&doc, m, err, errlen);
	bson_destroy(&doc);
	return ok;
}

/* ---- Outbound ---- */

static void head(sova_sbuf *out, const char *event, const char *stream_sid)
{
	sova_sbuf_reset(out);
	sova_sbuf_adds(out, "{\"event\":\"");
	sova_sbuf_adds(out, event);
	sova_sbuf_adds(out, "\",\"streamSid\":");
	sova_sbuf_json_string(out, stream_sid, strlen(stream_sid));
}

bool sova_twilio_media_frame(sova_sbuf *out, const char *stream_sid, const uint8_t *mulaw, size_t len)
{
	head(out, "media", stream_sid);
	sova_sbuf_adds(out, ",\"media\":{\"payload\":\"");
	size_t b64 = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL); /* its NUL included */
	if (sova_sbuf_reserve(out, b64)) {
		sodium_bin2base64(out->data + out->len, b64, mulaw, len, sodium_base64_VARIANT_ORIGINAL);
		out->len += b64 - 1;
	}
	sova_sbuf_adds(out, "\"}}");
	return !out->failed;
}

bool sova_twilio_mark_frame(sova_sbuf *out, const char *stream_sid, uint32_t turn)
{
	head(out, "mark", stream_sid);
	sova_sbuf_printf(out, ",\"mark\":{\"name\":\"t%" PRIu32 "\"}}", turn);
	return !out->failed;
}

bool sova_twilio_clear_frame(sova_sbuf *out, const char *stream_sid)
{
	head(out, "clear", stream_sid);
	sova_sbuf_adds(out, "}");
	return !out->failed;
}

bool sova_twilio_mark_turn(const char *name, uint32_t *turn)
{
	if (name[0] != 't' || name[1] < '1' || name[1] > '9')
		return false;
	uint64_t v = 0;
	for (const char *p = name + 1; *p; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (uint64_t)(*p - '0')) > UINT32_MAX)
			return false;
	}
	*turn = (uint32_t)v;
	return true;
}

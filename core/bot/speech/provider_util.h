/* What the cloud speech clients share (core/bot/speech/): writing JSON and URLs into a text buffer,
 * reading provider JSON (libbson parses it: it is linked already, and its iterators check types),
 * base64, and a framer that cuts audio arriving in provider-sized pieces into frames of frame_ms.
 * Plain C, no lws. Used by stt_deepgram.c, tts_cartesia.c, tts_elevenlabs.c and the stand-ins. */
#ifndef SOVA_SPEECH_PROVIDER_UTIL_H
#define SOVA_SPEECH_PROVIDER_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "bot/speech/tts.h"
#include "util/sbuf.h"

/* ---- Text buffer (core/util/sbuf.h), as JSON and URLs ---- */

/* s (n bytes of UTF-8) as a JSON string literal, quotes included. */
void sova_sbuf_json_string(sova_sbuf *b, const char *s, size_t n);
/* s percent-encoded for a URL query value (RFC 3986 unreserved characters kept). */
void sova_sbuf_url_encode(sova_sbuf *b, const char *s);

/* ---- Reading JSON ---- */

/* Parses one JSON object; false (and doc left empty) when it is not one. doc must be destroyed
 * with bson_destroy either way. */
bool sova_json_parse(bson_t *doc, const void *json, size_t len);
/* The value at a dotted path ("channel.alternatives.0.transcript"); false when absent. */
bool sova_json_find(const bson_t *doc, const char *path, bson_iter_t *out);
/* Typed getters: present and of the right type (any JSON number for a double) → true. A field
 * that is absent gives false with *present = false; wrongly typed gives false with *present = true
 * (the caller counts it as malformed). present may be NULL. */
bool sova_json_string(const bson_t *doc, const char *path, const char **s, uint32_t *len, bool *present);
bool sova_json_number(const bson_t *doc, const char *path, double *v, bool *present);
bool sova_json_bool(const bson_t *doc, const char *path, bool *v, bool *present);
/* A number from an iterator already on the value. */
bool sova_json_iter_number(const bson_iter_t *it, double *v);

/* ---- Base64 (providers send audio as standard base64 inside JSON) ---- */

/* Decodes into a buffer the caller frees; NULL on malformed input. */
uint8_t *sova_base64_decode(const char *in, size_t in_len, size_t *out_len);
/* Appends the base64 of data to b. */
void sova_sbuf_base64(sova_sbuf *b, const void *data, size_t len);

/* ---- Audio framer ---- */

/* Cuts a turn's audio into frames of frame_ms and delivers them through sova_tts_emit. */
typedef struct sova_framer {
	sova_tts *tts;          /* the synthesizer whose callback gets the frames (borrowed) */
	sova_audio_encoding encoding;
	int sample_rate;
	size_t frame_bytes, bytes_per_sample;
	uint8_t *partial;       /* a frame being filled (owned) */
	size_t partial_len;
	uint64_t turn_bytes;    /* bytes of this turn given to the framer: where the turn's audio stands */
} sova_framer;

bool sova_framer_init(sova_framer *f, sova_tts *tts, sova_audio_encoding enc, int sample_rate, int frame_ms);
void sova_framer_free(sova_framer *f);
void sova_framer_reset(sova_framer *f); /* a new turn: the partial frame is dropped */
/* Delivers whole frames of data; keeps the rest. false once the turn was cancelled. */
bool sova_framer_push(sova_framer *f, const uint8_t *data, size_t len, uint32_t chunk);
/* The end of the turn: the partial frame padded with silence (0 for PCM16, 0xFF for μ-law). */
bool sova_framer_flush(sova_framer *f, uint32_t chunk);
/* Seconds of this turn's audio given so far. */
double sova_framer_seconds(const sova_framer *f);

/* ---- Identifiers ---- */

/* 16 lowercase hex characters from the kernel's random source, NUL-terminated (17 bytes). */
void sova_random_hex16(char out[17]);
#endif

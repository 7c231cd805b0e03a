/* What the WebSocket synthesizers (tts_cartesia.c, tts_elevenlabs.c) share: the socket (opened at
 * creation, replaced at the next say() after it went), one provider context per turn, the
 * first-audio timeout, framing, malformed-message counting, and a free from inside the owner's
 * callback (deferred until the callback returns). Internal to core/bot/speech/. */
#ifndef SOVA_SPEECH_TTS_CLOUD_H
#define SOVA_SPEECH_TTS_CLOUD_H
#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>
#include <libwebsockets.h>

#include "bot/speech/provider_util.h"
#include "bot/speech/tts.h"
#include "bot/speech/ws_client.h"

typedef struct cloud_tts cloud_tts;

typedef struct cloud_tts_ops {
	const char *provider; /* "cartesia": the start of error texts' context */
	/* Sends one say() chunk (new_turn: the turn's first, t->context_id is fresh). */
	bool (*say)(cloud_tts *t, const char *text, size_t len, bool final, bool new_turn, char *err, size_t errlen);
	void (*cancel)(cloud_tts *t);          /* tells the provider to stop the live context */
	void (*message)(cloud_tts *t, const bson_t *doc); /* one parsed JSON message */
} cloud_tts_ops;

typedef struct cloud_tts_setup {
	const char *url;             /* the socket's URL (copied) */
	sova_ws_header headers[2];   /* copied (API key, version) */
	size_t num_headers;
	const char *ca_file;
	int connect_timeout_ms, first_audio_timeout_ms, max_malformed;
	int sample_rate;             /* of the frames */
} cloud_tts_setup;

struct cloud_tts {
	sova_tts base;
	const cloud_tts_ops *ops;
	struct lws_context *ctx;
	sova_ws_client *ws;           /* owned; NULL after it went (a new one at the next say) */
	sova_ws_client_config wc;     /* url, headers, ca_file point at the owned copies below */
	char *url, *ca_file;          /* owned */
	sova_ws_header headers[2];
	char *header_names[2], *header_values[2]; /* owned; values wiped at free */
	int first_audio_timeout_ms, max_malformed;
	char prefix[17];              /* this synthesizer's random part of context ids */
	char context_id[48];          /* the live turn's context */
	bool turn_live, got_audio;
	sova_framer framer;
	lws_sorted_usec_list_t first_audio_timer;
	size_t malformed;
	int depth;                    /* inside the owner's callback */
	bool destroy_pending;
};

/* Fills t (already zeroed, base initialized by sova_tts_init_base) and opens the socket. */
bool cloud_tts_setup_run(cloud_tts *t, struct lws_context *ctx, const cloud_tts_ops *ops, const cloud_tts_setup *setup,
			 char *err, size_t errlen);
/* The generic vtable functions. */
bool cloud_tts_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen);
void cloud_tts_cancel(sova_tts *s);
void cloud_tts_close(sova_tts *s);
void cloud_tts_destroy(sova_tts *s);

/* For the providers' message handlers. All return false when the turn stopped (cancelled, ended,
 * closed): the handler stops too. */
bool cloud_tts_send(cloud_tts *t, const sova_sbuf *json, char *err, size_t errlen);
bool cloud_tts_emit(cloud_tts *t, sova_tts_event *ev);
bool cloud_tts_audio(cloud_tts *t, const char *b64, size_t len, uint32_t chunk);
/* The turn ended well: the last frame, CHUNK_DONE(chunk) and DONE. */
void cloud_tts_done(cloud_tts *t, uint32_t chunk);
/* The turn ends with SOVA_TTS_ERROR text. */
void cloud_tts_turn_error(cloud_tts *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cloud_tts_malformed(cloud_tts *t, const char *what);
/* The chunk being said: the last say() chunk's number. */
uint32_t cloud_tts_last_chunk(const cloud_tts *t);
#endif

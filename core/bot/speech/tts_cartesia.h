/* Cartesia's WebSocket behind tts.h (wire format: /work/shared/VOICE-NOTES.md section 4).
 *
 * One socket per synthesizer, opened at creation (so the first turn does not wait for a handshake):
 * `<base>/tts/websocket` with headers `X-API-Key` and `Cartesia-Version`. One context per turn
 * ("<random>-t<turn>"): each say() chunk is one request with the turn's model, voice, raw
 * output_format (pcm_s16le or pcm_mulaw at the wanted rate), `add_timestamps: true`, `continue:
 * true` and `flush: true` on every chunk but the last, `continue: false` on the last. `chunk`
 * messages (base64 audio) become AUDIO events in frames of config.frame_ms (the turn's last frame
 * padded with silence), `timestamps` become MARK events (seconds from the start of the turn),
 * `flush_done` CHUNK_DONE (chunk = flush_id - 1: one flush per chunk), `done` the last CHUNK_DONE
 * and DONE, `error` SOVA_TTS_ERROR "error_code: message" (the turn ends). cancel() sends
 * `{"context_id":..,"cancel":true}` and drops whatever still arrives for that context.
 *
 * Faults: a socket that drops or never opens ends the live turn with SOVA_TTS_ERROR ("network:",
 * "auth:" for 401/403, "timeout:"); the next say() opens a new socket. No audio within
 * first_audio_timeout_ms of a turn's first say() → "timeout:" error and the context is cancelled.
 * Malformed messages are ignored and counted; past max_malformed the turn ends with an error and
 * the socket is replaced. Everything, cancel() included, runs on the lws context's loop thread. */
#ifndef SOVA_SPEECH_TTS_CARTESIA_H
#define SOVA_SPEECH_TTS_CARTESIA_H
#include <stddef.h>

#include "bot/speech/tts.h"

struct lws_context;

typedef struct sova_cartesia_config {
	const char *api_key;        /* required; sent only in X-API-Key, never logged */
	const char *base_url;       /* CARTESIA_API_BASE; NULL: wss://api.cartesia.ai (a path prefix is kept) */
	const char *ca_file;        /* SOVA_PROVIDER_CA_FILE; NULL: the system's CAs */
	const char *version;        /* Cartesia-Version; NULL: "2026-03-01" */
	int connect_timeout_ms;     /* 0: 5000 */
	int first_audio_timeout_ms; /* 0: 5000 */
	int max_malformed;          /* 0: 10 */
} sova_cartesia_config;

/* config->voice: the Cartesia voice id (required); config->model: NULL means "sonic-3.5";
 * config->sample_rate 8000..48000 (0: 16000); encoding PCM16 or μ-law; language NULL: "en". */
sova_tts *sova_tts_cartesia_new(struct lws_context *ctx, const sova_cartesia_config *cc, const sova_tts_config *config,
				sova_tts_callback cb, void *user, char *err, size_t errlen);

size_t sova_tts_cartesia_malformed(const sova_tts *s);
#endif

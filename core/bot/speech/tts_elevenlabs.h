/* ElevenLabs multi-stream-input behind tts.h (wire format: /work/shared/VOICE-NOTES.md section 4).
 *
 * One socket per synthesizer, opened at creation: `<base>/v1/text-to-speech/{voice}/multi-stream-input
 * ?model_id=&output_format=` (pcm_8000 / pcm_16000 / pcm_22050 / pcm_24000 / pcm_44100 / pcm_48000
 * for PCM16, ulaw_8000 for μ-law), header `xi-api-key`. One context per turn: the first say()
 * initializes it (`{"text":" ","context_id":..}`), each chunk goes as `{"text":"... ","context_id":..,
 * "flush":true}` (so the audio of a clause comes without waiting for more text), the final one is
 * followed by `close_context`, after which ElevenLabs sends the rest and `{"isFinal":true}`.
 * cancel() sends `close_context` and drops whatever still arrives for that context.
 *
 * `audio` (base64) becomes AUDIO frames of config.frame_ms; `alignment` (falling back to
 * `normalizedAlignment`: chars, charStartTimesMs, charDurationsMs, relative to that message's audio)
 * is joined into words, each a MARK (seconds from the start of the turn); `isFinal` → DONE; an
 * error message (`{"message":..,"error":..,"code":..}`) → SOVA_TTS_ERROR "error: message". Faults
 * as tts_cartesia.h: drop / 401 / timeouts → error for the live turn, a new socket at the next
 * say(); malformed messages counted, an error past max_malformed. Loop thread only. */
#ifndef SOVA_SPEECH_TTS_ELEVENLABS_H
#define SOVA_SPEECH_TTS_ELEVENLABS_H
#include <stddef.h>

#include "bot/speech/tts.h"

struct lws_context;

typedef struct sova_elevenlabs_config {
	const char *api_key;        /* required; sent only in xi-api-key, never logged */
	const char *base_url;       /* ELEVENLABS_API_BASE; NULL: wss://api.elevenlabs.io */
	const char *ca_file;        /* SOVA_PROVIDER_CA_FILE; NULL: the system's CAs */
	int connect_timeout_ms;     /* 0: 5000 */
	int first_audio_timeout_ms; /* 0: 5000 */
	int max_malformed;          /* 0: 10 */
} sova_elevenlabs_config;

/* config->voice: the ElevenLabs voice id (required); config->model: NULL means "eleven_flash_v2_5";
 * sample_rate/encoding must name one of the output formats above (0: pcm_16000). */
sova_tts *sova_tts_elevenlabs_new(struct lws_context *ctx, const sova_elevenlabs_config *ec, const sova_tts_config *config,
				  sova_tts_callback cb, void *user, char *err, size_t errlen);

size_t sova_tts_elevenlabs_malformed(const sova_tts *s);
#endif

/* A voice call's media run offline on a virtual clock, for `sova flow eval --audio`: a real
 * sova_voice (the bot's own module: decoding, VAD, turn detection, the recognizer) with inline
 * engines, and the other party's lines synthesized by flite, converted to the wire format and
 * streamed into it in 20 ms frames, the voice's clock advancing by the audio fed: as fast as the
 * engines run, never sleeping. The voice's events are kept until the owner takes them.
 *
 * The agent's lines are not played: a scenario's lines come after the agent's, with no echo path,
 * so the agent's audio would change nothing the recognizer hears (barge-in is
 * core/tests/test_media_voice.c's). The voice still holds the flow's synthesizer, as in a call.
 *
 * The recognizer and both synthesizers must deliver inside their calls (pocketsphinx, flite,
 * espeak-ng: not the offload pool, not a cloud engine). One thread. Plain C, no lua.h. */
#ifndef SOVA_MEDIA_VOICE_SIM_H
#define SOVA_MEDIA_VOICE_SIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/media/voice.h"

#define SOVA_VOICE_SIM_FRAME_MS 20
#define SOVA_VOICE_SIM_MAX_LINE_MS 120000 /* synthesized audio of one line, at most */
#define SOVA_VOICE_SIM_MAX_EVENTS 4096    /* kept between two takes; later ones are counted, not kept */

typedef struct sova_voice_sim sova_voice_sim;

typedef struct sova_voice_sim_config {
	int wire_rate;                     /* 8000 / 16000 / 48000 */
	sova_audio_encoding wire_encoding; /* SOVA_AUDIO_PCM16 or SOVA_AUDIO_MULAW */
	sova_stt *stt;                     /* owned from sova_voice_sim_new on, even when it fails */
	int stt_rate;                      /* 0: stt->config.sample_rate */
	sova_tts *tts;                     /* the agent's synthesizer, owned likewise */
	const char *party_voice;           /* flite voice of the other party; NULL: SOVA_VOICE_SIM_PARTY_VOICE,
	                                      or cmu_us_kal when the agent speaks with it */
	sova_vad_kind vad;                 /* as sova_voice_config */
	int turn_min_silence_ms, turn_max_silence_ms;
	int barge_in_min_ms, barge_in_min_words;
	bool barge_in_off;
} sova_voice_sim_config;

#define SOVA_VOICE_SIM_PARTY_VOICE "cmu_us_slt"

typedef struct sova_voice_sim_event {
	sova_voice_event_kind kind;
	char *text;        /* owned by the simulator; "" when none */
	int64_t at_ms;     /* on the virtual clock, from the simulator's start */
	double confidence; /* END_OF_TURN / FINAL: 0..1, -1 unknown */
	bool fatal;        /* ERROR */
} sova_voice_sim_event;

/* NULL + err on a bad configuration, an engine that cannot be made, or no memory. Caller frees. */
sova_voice_sim *sova_voice_sim_new(const sova_voice_sim_config *cfg, char *err, size_t errlen);
void sova_voice_sim_free(sova_voice_sim *s);
/* The flite voice the other party speaks with. */
const char *sova_voice_sim_party_voice(const sova_voice_sim *s);
/* What the current step expects (sova_voice_listen). */
bool sova_voice_sim_listen(sova_voice_sim *s, const sova_stt_options *opt, char *err, size_t errlen);
/* The other party says text: synthesized, then streamed in; *ms = the audio's length (flite's own
 * silence around the words included). false + err when synthesis fails or the line is longer than
 * SOVA_VOICE_SIM_MAX_LINE_MS. */
bool sova_voice_sim_speak(sova_voice_sim *s, const char *text, uint64_t *ms, char *err, size_t errlen);
/* Line silence streamed in for up to ms; with until_turn it stops after the frame in which an
 * END_OF_TURN arrived. Returns the ms streamed. */
uint64_t sova_voice_sim_silence(sova_voice_sim *s, uint64_t ms, bool until_turn);
/* Milliseconds on the virtual clock since the simulator started. */
int64_t sova_voice_sim_now_ms(const sova_voice_sim *s);
/* The events since the last take (borrowed until the next call on s); *dropped = those beyond
 * SOVA_VOICE_SIM_MAX_EVENTS. sova_voice_sim_clear forgets them. */
size_t sova_voice_sim_events(const sova_voice_sim *s, const sova_voice_sim_event **events, size_t *dropped);
void sova_voice_sim_clear(sova_voice_sim *s);
#endif

/* The offline engines as a flow's voice call sets them up: one rule for the bot
 * (core/bot/voice_loop.c, which runs them on the offload pool) and for `sova flow eval --audio`
 * (core/bot/media/voice_sim.c, which runs them inline). Plain C, no lua.h. */
#ifndef SOVA_SPEECH_OFFLINE_H
#define SOVA_SPEECH_OFFLINE_H
#include <stdbool.h>
#include <stddef.h>

#include "bot/speech/stt.h"
#include "bot/speech/tts.h"

/* pocketsphinx's settings in a call: 16 kHz (the only rate its model takes) and an endpointing
 * above the turn's minimum silence (at 500 ms this decoder splits a sentence at a pause, so the
 * voice ends turns: core/bot/media/voice.h). */
sova_stt_config sova_offline_stt_config(void);

/* Whether engine names an offline synthesizer (flite, espeak). */
bool sova_offline_tts_engine(const char *engine);
/* The flite voice a call speaks with: the flow's, else cmu_us_kal on an 8 kHz wire (phone
 * quality), cmu_us_slt otherwise. */
const char *sova_offline_flite_voice(const char *voice, int wire_rate);
/* The offline synthesizer named engine, delivering inside say() (tts_flite.h, tts_espeak.h):
 * flite with sova_offline_flite_voice, espeak-ng at the wire rate. NULL with err when the engine
 * is not offline or refuses the settings. Caller frees. */
sova_tts *sova_offline_tts_new(const char *engine, const char *voice, const char *language, int wire_rate,
			       sova_tts_callback cb, void *user, char *err, size_t errlen);
#endif

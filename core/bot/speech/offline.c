/* The offline engines' settings in a call (offline.h). */
#include "bot/speech/offline.h"

#include <stdio.h>
#include <string.h>

#include "bot/speech/tts_espeak.h"
#include "bot/speech/tts_flite.h"

sova_stt_config sova_offline_stt_config(void)
{
	return (sova_stt_config){.sample_rate = 16000, .endpointing_ms = 1000};
}

bool sova_offline_tts_engine(const char *engine)
{
	return engine && (strcmp(engine, "flite") == 0 || strcmp(engine, "espeak") == 0);
}

const char *sova_offline_flite_voice(const char *voice, int wire_rate)
{
	return voice ? voice : wire_rate == 8000 ? "cmu_us_kal" : "cmu_us_slt";
}

sova_tts *sova_offline_tts_new(const char *engine, const char *voice, const char *language, int wire_rate,
			       sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	if (engine && strcmp(engine, "flite") == 0) {
		sova_tts_config c = {.voice = sova_offline_flite_voice(voice, wire_rate)};
		return sova_tts_flite_new(&c, cb, user, err, errlen);
	}
	if (engine && strcmp(engine, "espeak") == 0) {
		sova_tts_config c = {.voice = voice, .language = language, .sample_rate = wire_rate};
		return sova_tts_espeak_new(&c, cb, user, err, errlen);
	}
	snprintf(err, errlen, "no offline synthesizer named %s", engine ? engine : "(none)");
	return NULL;
}

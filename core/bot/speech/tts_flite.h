/* The offline synthesizer: Debian's flite 2.2 with its compiled-in voices, behind tts.h.
 * cmu_us_slt speaks at 16 kHz (the browser), cmu_us_kal at 8 kHz (phone quality).
 *
 * Streaming: text is synthesized clause by clause (a clause ends at , ; : . ! ? followed by a
 * space, or at the end of the turn), so the first audio of a long line comes after its first
 * clause. Audio is delivered inside say(), in frames of config.frame_ms (the last one padded
 * with silence), each clause's word marks before its audio; cancel() takes effect between
 * frames and clauses.
 *
 * Threads: flite_init and the voices' registration run once per process (pthread_once). flite's
 * README says it is "thread safe (again) [after initialization]": the voices are shared read-only,
 * each synthesis builds its own utterance, and nothing here writes to a voice (flite's own audio
 * streaming callback would: it is set as a voice feature, so it is not used). */
#ifndef SOVA_SPEECH_TTS_FLITE_H
#define SOVA_SPEECH_TTS_FLITE_H
#include <stdbool.h>
#include <stddef.h>

#include "bot/speech/tts.h"

/* config->voice: "cmu_us_slt" (NULL means it) or "cmu_us_kal". NULL with err set on a voice,
 * rate or encoding flite cannot give. */
sova_tts *sova_tts_flite_new(const sova_tts_config *config, sova_tts_callback cb, void *user, char *err, size_t errlen);
#endif

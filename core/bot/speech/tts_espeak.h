/* The second offline synthesizer: Debian's libespeak-ng 1.51 behind tts.h (a formant voice:
 * robotic, but very cheap, and many languages). Its own rate is 22050 Hz; frames come at
 * config.sample_rate (8000, 16000 or 48000, resampled with audio.h's speexdsp resampler; 0 means
 * the voice's own 22050), PCM16 or μ-law (config.encoding).
 *
 * Streaming as tts_flite: text is synthesized clause by clause (a clause ends at , ; : . ! ?
 * followed by a space, or at the end of the turn), each clause's word marks (from espeak-ng's
 * word events; times from its sample count) before its audio, in frames of config.frame_ms (the
 * last one of the turn padded with silence). cancel() takes effect between frames and clauses, and
 * inside espeak-ng's synthesis of a clause (its callback asks it to stop).
 *
 * Text is read literally: SSML and espeak-ng's [[phoneme]] input are off, control characters and
 * invalid UTF-8 are dropped.
 *
 * Threads: espeak-ng is one process-wide synthesizer (one voice, one callback, one output at a
 * time). It is initialised once (pthread_once) and every call into it holds one process-wide
 * mutex, so engines on different offload workers take turns clause by clause; the clause's audio
 * is delivered after the mutex is released, so a slow callback holds up no other call.
 * espeak_Cancel is never called (it is global: it would stop another engine's synthesis).
 *
 * Data: espeak-ng finds its data in $ESPEAK_DATA_PATH/espeak-ng-data when that exists, else in
 * $HOME/espeak-ng-data when that exists, else in Debian's /usr/lib/<triplet>/espeak-ng-data
 * (package espeak-ng-data); nothing needs setting on Debian 12. */
#ifndef SOVA_SPEECH_TTS_ESPEAK_H
#define SOVA_SPEECH_TTS_ESPEAK_H
#include <stdbool.h>
#include <stddef.h>

#include "bot/speech/tts.h"

/* config->voice: an espeak-ng voice name ("en-us", "en" (British), "en-us+f3", "fr"...). When NULL:
 * config->language if it names a language other than English (espeak-ng's voices are named by
 * language), else "en-us".
 * NULL with err set on a voice espeak-ng does not know, or a rate, encoding or frame length it
 * cannot give, or when espeak-ng's data cannot be loaded. */
sova_tts *sova_tts_espeak_new(const sova_tts_config *config, sova_tts_callback cb, void *user, char *err, size_t errlen);
#endif

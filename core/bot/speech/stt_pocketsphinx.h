/* The offline recognizer: Debian's pocketsphinx 0.8+5prealpha (the pre-5.0 API) with the
 * pocketsphinx-en-us model, behind stt.h. 16 kHz only: this model at 8 kHz crashes the decoder,
 * so other rates are refused and the caller resamples.
 *
 * Costs, measured (docs/benchmarks.md, bench/speech): the shared model (our copy of the
 * pronunciation dictionary, for checking and adding words) loads once per process; a grammar
 * decoder needs only the acoustic model and the words of its phrases (about 15 ms and 6 MiB per
 * call); an open-vocabulary decoder loads the full dictionary and language model itself (about
 * 0.46 s and 80 MiB per call), because this API cannot share them between decoders (no copy of
 * an acoustic model or dictionary is exported; the trie LM's caches are written while scoring).
 * A stream's first utterance may be decoded twice (about a second of it, once), when its cepstral
 * mean lies far from the model's start (stt_pocketsphinx.c, "the cepstral mean"). */
#ifndef SOVA_SPEECH_STT_POCKETSPHINX_H
#define SOVA_SPEECH_STT_POCKETSPHINX_H
#include <stdbool.h>
#include <stddef.h>

#include "bot/speech/stt.h"

#define SOVA_POCKETSPHINX_MODEL_ENV "SOVA_POCKETSPHINX_MODEL"
#define SOVA_POCKETSPHINX_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"

/* Read-only once loaded: any number of recognizers, on any threads, may share it. */
typedef struct sova_ps_model sova_ps_model;

/* dir: NULL means $SOVA_POCKETSPHINX_MODEL, else the package's path. It must hold en-us/ (the
 * acoustic model), cmudict-en-us.dict and en-us.lm.bin. NULL with err set when it cannot load. */
sova_ps_model *sova_ps_model_load(const char *dir, char *err, size_t errlen);
/* After every recognizer made from it is freed. NULL is fine. */
void sova_ps_model_free(sova_ps_model *m);
/* Whether the dictionary has the word (lowercase). */
bool sova_ps_model_knows(const sova_ps_model *m, const char *word);

/* A JSGF grammar accepting exactly one of the phrases (see sova_stt_options for <digits> and
 * <letters>), or with sequence a run of one or more of them. Phrases with a word the dictionary lacks are left out and listed in *dropped
 * ("|"-separated; NULL when none). *jsgf and *dropped are malloc'd (caller frees). False with err
 * when no phrase is left or memory runs out. */
bool sova_ps_build_jsgf(const sova_ps_model *m, const char *const *phrases, size_t n, bool sequence, char **jsgf, char **dropped,
			char *err, size_t errlen);

/* A recognizer on its own decoder. open_vocabulary: also load the full dictionary and language
 * model so utterances may use SOVA_STT_SEARCH_OPEN (slow: see above); without it such an
 * utterance is refused. The model must outlive the recognizer. */
sova_stt *sova_stt_pocketsphinx_new(const sova_ps_model *m, const sova_stt_config *cfg, bool open_vocabulary, sova_stt_callback cb,
				    void *user, char *err, size_t errlen);
#endif

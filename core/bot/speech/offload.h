/* Runs blocking speech engines (pocketsphinx, flite) on worker threads, so the media thread that
 * paces every call's audio never waits for a decoder or a synthesizer. Plain C, no lua.h.
 *
 * A wrapped engine is an ordinary sova_stt / sova_tts: its calls return at once (they queue a job
 * for the inner engine, in order, on one worker at a time), and its events are held until the
 * owner's thread calls sova_offload_deliver (the media loop does on every tick and when the pool's
 * notify fires), which runs the callbacks there. So an engine's callback always runs on the thread
 * that owns the call, as stt.h and tts.h promise, whichever thread did the work.
 *
 * Errors of the inner engine's calls (a feed that failed) arrive as SOVA_STT_ERROR /
 * SOVA_TTS_ERROR events. A synthesizer's cancel() takes effect at once: the inner engine is
 * cancelled across threads (tts.h allows it), its queued text dropped, and no held audio of the
 * cancelled turn is delivered. Synthesizers waiting for a worker go before recognizers: a line's
 * first words are what the far end waits for. Freeing a wrapped engine hands it to the pool, which frees the inner
 * engine on a worker once it is idle; nothing is delivered after the free. */
#ifndef SOVA_SPEECH_OFFLOAD_H
#define SOVA_SPEECH_OFFLOAD_H
#include <stdbool.h>
#include <stddef.h>

#include "bot/speech/stt.h"
#include "bot/speech/tts.h"

typedef struct sova_offload sova_offload;

/* workers: threads (>= 1) for any engine's jobs; synth_workers (>= 0) more that take only
 * synthesizers' (the greeting must not wait for two recognizers' 0.5 s decoders being made on a
 * 2-core machine). notify (may be NULL) is called from a worker when events are waiting;
 * it must be thread-safe and quick (uv_async_send). NULL with err when threads cannot start. */
sova_offload *sova_offload_new(int workers, int synth_workers, void (*notify)(void *ud), void *notify_ud, char *err,
			       size_t errlen);
/* Stops the workers once their current job ends and frees every engine still wrapped. Owner thread. */
void sova_offload_free(sova_offload *o);

/* Wraps inner (owned from here on, even when NULL is returned). The wrapper's config is inner's;
 * events go to cb(user) on the owner's thread (inner's own callback is replaced). */
sova_stt *sova_offload_stt(sova_offload *o, sova_stt *inner, sova_stt_callback cb, void *user, char *err, size_t errlen);
sova_tts *sova_offload_tts(sova_offload *o, sova_tts *inner, sova_tts_callback cb, void *user, char *err, size_t errlen);

/* Like sova_offload_stt, for an engine that is slow to make (pocketsphinx's open-vocabulary
 * decoder loads for about 0.5 s): make(make_ud, ...) runs as the first job on a worker, with cfg as
 * the recognizer's config; the calls before it completes wait behind it. When make fails, one
 * SOVA_STT_ERROR event carries its reason and later calls do nothing. make_ud is the caller's. */
typedef sova_stt *(*sova_offload_stt_maker)(void *make_ud, const sova_stt_config *cfg, char *err, size_t errlen);
sova_stt *sova_offload_stt_lazy(sova_offload *o, const sova_stt_config *cfg, sova_offload_stt_maker make, void *make_ud,
				sova_stt_callback cb, void *user, char *err, size_t errlen);

/* Owner thread: runs the callbacks of every held event. Returns how many it delivered. */
size_t sova_offload_deliver(sova_offload *o);

/* Seconds of a recognizer's audio that may wait for its worker; more is refused (the feed fails
 * with "the recognizer is behind"), so a stalled engine cannot grow memory without bound. */
#define SOVA_OFFLOAD_MAX_QUEUED_SECONDS 10
#endif

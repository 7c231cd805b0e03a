/* Voice activity detection for the media plane: one interface over three detectors, and the
 * debouncing that turns per-frame decisions into speech-start / speech-stop events (barge-in and
 * turn detection listen to those events, not to single frames).
 *
 * Kinds:
 *   SOVA_VAD_ENERGY  an adaptive energy detector: the frame's RMS level against a tracked noise
 *                    floor (falls fast, rises SOVA_VAD_ENERGY_RISE_DB_PER_S), speech when the level
 *                    is energy_snr_db above the floor and above energy_min_dbfs.
 *   SOVA_VAD_SPEEX   speexdsp's preprocessor (denoise and AGC off): its speech probability
 *                    (SPEEX_PREPROCESS_GET_PROB) with speexdsp's start/continue hysteresis.
 *   SOVA_VAD_WEBRTC  WebRTC's VoiceDetection from libwebrtc-audio-processing 0.3 (C++, through
 *                    vad_webrtc.cc): a GMM on sub-band energies, 10 ms steps; probability 0 or 1.
 *
 * Frames are frame_ms (10, 20 or 30) of mono PCM16 at 8000, 16000 or 48000 Hz. Stream time is the
 * number of frames fed times frame_ms. A handle belongs to one call; not thread-safe. */
#ifndef SOVA_MEDIA_VAD_H
#define SOVA_MEDIA_VAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	SOVA_VAD_ENERGY = 1,
	SOVA_VAD_SPEEX = 2,
	SOVA_VAD_WEBRTC = 3,
} sova_vad_kind;

#define SOVA_VAD_ENERGY_RISE_DB_PER_S 3.0

typedef struct sova_vad_opts {
	int frame_ms;          /* 10, 20 or 30; default 20 */
	int min_speech_ms;     /* speech needed before speech-start; default 100 */
	int min_silence_ms;    /* the hangover: speech state holds through this much non-speech before
				  speech-stop; default 500 */
	int gap_ms;            /* non-speech up to this long inside a starting run does not reset its
				  count toward min_speech_ms (a dip between syllables); default 40 */
	double energy_snr_db;  /* energy: dB above the noise floor that is speech; default 12 */
	double energy_min_dbfs; /* energy: never speech below this level; default -50 */
	int speex_prob_start;  /* speex: percent probability that starts speech; default 35 (speexdsp's) */
	int speex_prob_continue; /* speex: percent that keeps it; default 20 (speexdsp's) */
	int webrtc_mode;       /* webrtc: 0 (most detections) .. 3 (fewest false triggers), as
				  py-webrtcvad's modes; default 3 */
} sova_vad_opts;

typedef enum {
	SOVA_VAD_EVENT_NONE = 0,
	SOVA_VAD_SPEECH_START = 1,
	SOVA_VAD_SPEECH_STOP = 2,
} sova_vad_event;

typedef struct sova_vad_result {
	float probability;    /* this frame's speech probability, 0..1 (webrtc: 0 or 1) */
	bool speech;          /* this frame's decision */
	bool in_speech;       /* the debounced state after this frame */
	sova_vad_event event; /* fired by this frame, or NONE */
	uint64_t event_at_ms; /* START: stream time the speech run began; STOP: end of its last speech frame */
	uint64_t now_ms;      /* stream time at the end of this frame */
} sova_vad_result;

void sova_vad_opts_default(sova_vad_opts *opts);
/* "energy", "speex", "webrtc"; NULL for an unknown kind. */
const char *sova_vad_kind_name(sova_vad_kind kind);
/* The kind of a name; 0 when unknown. */
sova_vad_kind sova_vad_kind_parse(const char *name);
/* Whether this build has the kind (WebRTC needs the C++ shim). */
bool sova_vad_kind_available(sova_vad_kind kind);

typedef struct sova_vad sova_vad;

/* opts NULL: defaults. NULL on bad arguments or a detector that fails to start (err says why).
 * Caller frees with sova_vad_free. */
sova_vad *sova_vad_new(sova_vad_kind kind, int sample_rate, const sova_vad_opts *opts, char *err, size_t errlen);
void sova_vad_free(sova_vad *v);
/* Samples per frame this handle takes. */
size_t sova_vad_frame_samples(const sova_vad *v);
/* One frame of exactly sova_vad_frame_samples samples (the frame is not modified). 0, or -1 on a
 * wrong length or a detector error (the state is unchanged then). */
int sova_vad_feed(sova_vad *v, const int16_t *frame, size_t n, sova_vad_result *out);
#endif

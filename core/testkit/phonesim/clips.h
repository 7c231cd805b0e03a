/* The callees' audio, all μ-law at 8 kHz: speech from flite (linked, as the provider stand-ins
 * use it: cmu_us_kal speaks at 8 kHz, cmu_us_slt at 16 kHz resampled), cached per voice and text
 * and made once when the scenarios load (never on the loop while calls run); hold music and beeps
 * generated in C. Hold music is one loop shared by every call, so a call on hold costs a copy of
 * 160 bytes a frame. Plain C. */
#ifndef SOVA_PHONESIM_CLIPS_H
#define SOVA_PHONESIM_CLIPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ps_clip {
	const uint8_t *audio; /* μ-law 8 kHz (owned by the cache) */
	size_t len;           /* bytes = samples */
} ps_clip;

bool ps_clips_init(char *err, size_t errlen);
void ps_clips_free(void);
/* voice: "kal" (NULL means it) or "slt". NULL with err when flite fails or the voice is unknown. */
const ps_clip *ps_clip_speech(const char *voice, const char *text, char *err, size_t errlen);
/* A beep (a 1 kHz tone with soft edges) of ms, cached per length. */
const ps_clip *ps_clip_beep(int ms, char *err, size_t errlen);
/* The hold music loop (a few seconds; callers wrap around). */
const ps_clip *ps_clip_music(void);
#endif

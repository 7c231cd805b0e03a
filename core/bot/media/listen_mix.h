/* What a listener of a call hears (core/bot/voice_loop.c, "listeners"): both channels of the
 * call's recording tap mixed into frames on their common timeline. Plain C, no allocation after
 * sova_listen_mix_new.
 *
 * Timeline: positions are samples since the voice began, as the recorder's (recorder.h). Writes of
 * either channel are added where they belong; a frame [pos, pos + frame) is handed out once the
 * timeline's present is delay samples past its end, so the far end's audio (frames of up to 100 ms,
 * placed where each began) and the agent's (at its pacing deadline) are both in. Frames start at
 * multiples of the frame length. Samples older than the next frame, or more than the window ahead
 * of it, are dropped. A present that ran a whole window ahead of the frames (the media thread was
 * held up) skips to it: a gap, not a burst. */
#ifndef SOVA_MEDIA_LISTEN_MIX_H
#define SOVA_MEDIA_LISTEN_MIX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_LISTEN_MIX_WINDOW_MS 500 /* the samples held: delay plus what may come early */

typedef struct sova_listen_mix sova_listen_mix;

/* rate 8000..48000, frame_ms 10..100, delay_ms below the window; now: the timeline's present (the
 * first frame is the one that ends delay before it). NULL with err. Caller frees. */
sova_listen_mix *sova_listen_mix_new(int rate, int frame_ms, int delay_ms, uint64_t now, char *err, size_t errlen);
void sova_listen_mix_free(sova_listen_mix *m);
size_t sova_listen_mix_frame_samples(const sova_listen_mix *m);
/* n samples from position at on, added to what is there. */
void sova_listen_mix_add(sova_listen_mix *m, uint64_t at, const int16_t *pcm, size_t n);
/* The next frame, when the present (now) is past its end by the delay: its samples (the sums,
 * saturated) into out (frame_samples) and true; false while it is not due. */
bool sova_listen_mix_next(sova_listen_mix *m, uint64_t now, int16_t *out);
#endif

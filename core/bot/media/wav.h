/* A call's recording as a two-channel 16-bit PCM WAV in a growable memory buffer: the agent on the
 * left channel, the other party on the right.
 *
 * Each channel is written at positions on the call's common timeline (samples since the recording
 * began). Audio written past a channel's end leaves zeros before it, so a side that was silent for
 * a stretch (the agent listening, a muted party) stays aligned in time with the other. A channel
 * never goes back: audio given for a position it has already passed is appended at its end.
 * sova_wav_finish patches the RIFF and data sizes in the 44-byte header. */
#ifndef SOVA_MEDIA_WAV_H
#define SOVA_MEDIA_WAV_H
#include <stddef.h>
#include <stdint.h>

#define SOVA_WAV_HEADER_BYTES 44

typedef enum {
	SOVA_WAV_AGENT = 0, /* left */
	SOVA_WAV_OTHER = 1, /* right */
} sova_wav_channel;

typedef struct sova_wav sova_wav;

/* sample_rate 8000, 16000 or 48000; max_bytes bounds the whole file (header included; a WAV
 * cannot exceed 4 GiB). NULL on bad arguments or no memory. Caller frees with sova_wav_free. */
sova_wav *sova_wav_new(int sample_rate, size_t max_bytes, char *err, size_t errlen);
void sova_wav_free(sova_wav *w);
/* Writes n samples to channel ch starting at timeline position at_sample (or at the channel's end
 * when that is later). 0, or -1 on bad arguments, the max_bytes bound, no memory, or after finish
 * (nothing written then). */
int sova_wav_write(sova_wav *w, sova_wav_channel ch, uint64_t at_sample, const int16_t *pcm, size_t n);
/* Where channel ch ends on the timeline (samples). */
uint64_t sova_wav_channel_end(const sova_wav *w, sova_wav_channel ch);
/* Patches the header and returns the file (owned by w, valid until sova_wav_free); *len = bytes.
 * Both channels end at the longer one's end (zeros after the shorter). Further writes are refused. */
const uint8_t *sova_wav_finish(sova_wav *w, size_t *len);
#endif

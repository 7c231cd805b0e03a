/* The C face of WebRTC's VoiceDetection (vad_webrtc.cc, compiled as C++): used by vad.c only. */
#ifndef SOVA_MEDIA_VAD_WEBRTC_H
#define SOVA_MEDIA_VAD_WEBRTC_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sova_webrtc_vad sova_webrtc_vad;

/* sample_rate 8000, 16000 or 48000; mode 0..3 (3: fewest false triggers). NULL on failure (err
 * says why). Caller frees with sova_webrtc_vad_free. */
sova_webrtc_vad *sova_webrtc_vad_new(int sample_rate, int mode, char *err, size_t errlen);
void sova_webrtc_vad_free(sova_webrtc_vad *w);
/* One 10 ms chunk (sample_rate / 100 samples): 1 voice, 0 none, -1 error. */
int sova_webrtc_vad_process_10ms(sova_webrtc_vad *w, const int16_t *pcm);

#ifdef __cplusplus
}
#endif
#endif

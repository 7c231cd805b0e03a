// WebRTC's VoiceDetection (libwebrtc-audio-processing 0.3, Debian 12) behind a C interface.
// Only the voice detector is enabled: AGC, noise suppression, echo control and the high-pass
// filter stay off, so ProcessStream leaves the audio alone and costs only the band split and the
// VAD. No exception crosses into C: allocation failures are caught and become a NULL handle.
#include "bot/media/vad_webrtc.h"

#include <cstdio>
#include <cstring>
#include <new>

#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

struct sova_webrtc_vad {
	webrtc::AudioProcessing *apm; // owned
	webrtc::AudioFrame frame;     // scratch: ProcessStream works in place
	int sample_rate;
};

static webrtc::VoiceDetection::Likelihood likelihood_of(int mode)
{
	// Mode 3 is the least likely to call a frame speech, as py-webrtcvad's mode 3.
	switch (mode) {
	case 0: return webrtc::VoiceDetection::kHighLikelihood;
	case 1: return webrtc::VoiceDetection::kModerateLikelihood;
	case 2: return webrtc::VoiceDetection::kLowLikelihood;
	default: return webrtc::VoiceDetection::kVeryLowLikelihood;
	}
}

extern "C" sova_webrtc_vad *sova_webrtc_vad_new(int sample_rate, int mode, char *err, size_t errlen)
{
	if ((sample_rate != 8000 && sample_rate != 16000 && sample_rate != 48000) || mode < 0 || mode > 3) {
		std::snprintf(err, errlen, "webrtc vad: unsupported rate %d or mode %d", sample_rate, mode);
		return nullptr;
	}
	sova_webrtc_vad *w = new (std::nothrow) sova_webrtc_vad();
	if (!w) {
		std::snprintf(err, errlen, "webrtc vad: out of memory");
		return nullptr;
	}
	try {
		webrtc::Config config;
		// On by default in this version; with gain control off it does nothing, but say so.
		config.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
		w->apm = webrtc::AudioProcessing::Create(config);
	} catch (const std::bad_alloc &) {
		w->apm = nullptr;
	}
	webrtc::VoiceDetection *vd = w->apm ? w->apm->voice_detection() : nullptr;
	if (!vd || vd->Enable(true) != webrtc::AudioProcessing::kNoError ||
	    vd->set_likelihood(likelihood_of(mode)) != webrtc::AudioProcessing::kNoError ||
	    vd->set_frame_size_ms(10) != webrtc::AudioProcessing::kNoError) {
		std::snprintf(err, errlen, "webrtc vad: could not enable VoiceDetection");
		sova_webrtc_vad_free(w);
		return nullptr;
	}
	w->sample_rate = sample_rate;
	return w;
}

extern "C" void sova_webrtc_vad_free(sova_webrtc_vad *w)
{
	if (!w)
		return;
	delete w->apm;
	delete w;
}

extern "C" int sova_webrtc_vad_process_10ms(sova_webrtc_vad *w, const int16_t *pcm)
{
	size_t n = (size_t)w->sample_rate / 100;
	w->frame.sample_rate_hz_ = w->sample_rate;
	w->frame.num_channels_ = 1;
	w->frame.samples_per_channel_ = n;
	std::memcpy(w->frame.data_, pcm, n * sizeof *pcm);
	if (w->apm->ProcessStream(&w->frame) != webrtc::AudioProcessing::kNoError)
		return -1;
	return w->apm->voice_detection()->stream_has_voice() ? 1 : 0;
}

/* ElevenLabs multi-stream-input (core/bot/speech/tts_elevenlabs.h) against sova-standin: the
 * shared cases of tts_cloud_tests.h, plus its configuration (output formats). */
#include "bot/speech/tts_elevenlabs.h"

#define PROVIDER "elevenlabs"
#define ERROR_CODE "quota_exceeded"
#define MALFORMED_COUNT(t) sova_tts_elevenlabs_malformed(t)
#include "tts_cloud_tests.h"

static sova_tts *make_tts(tts_seen *s, const char *params, int rate, sova_audio_encoding enc, const char *key,
			  int first_audio_timeout_ms, int max_malformed)
{
	char base[256];
	snprintf(base, sizeof base, "ws://127.0.0.1:%d/x/%s", tts_sd.port, params && *params ? params : "none=0");
	sova_elevenlabs_config ec = {.api_key = key ? key : "tts-test-key", .base_url = base, .connect_timeout_ms = 3000,
				     .first_audio_timeout_ms = first_audio_timeout_ms, .max_malformed = max_malformed};
	sova_tts_config cfg = {.voice = "21m00Tcm4TlvDq8ikWAM", .sample_rate = rate, .encoding = enc, .frame_ms = 20};
	char err[200];
	sova_tts *t = sova_tts_elevenlabs_new(tts_lp.ctx, &ec, &cfg, on_tts, s, err, sizeof err);
	if (!t)
		print_message("# %s\n", err);
	assert_non_null(t);
	return t;
}

static void test_bad_configs_are_refused(void **state)
{
	(void)state;
	char err[200];
	tts_seen s;
	sova_elevenlabs_config nokey = {0}, ok = {.api_key = "k"};
	sova_tts_config cfg = {.voice = "v"}, mulaw16 = {.voice = "v", .sample_rate = 16000, .encoding = SOVA_AUDIO_MULAW},
			odd = {.voice = "v", .sample_rate = 11025};
	assert_null(sova_tts_elevenlabs_new(tts_lp.ctx, &nokey, &cfg, on_tts, &s, err, sizeof err));
	assert_non_null(strstr(err, "API key"));
	assert_null(sova_tts_elevenlabs_new(tts_lp.ctx, &ok, &mulaw16, on_tts, &s, err, sizeof err));
	assert_non_null(strstr(err, "ulaw_8000"));
	assert_null(sova_tts_elevenlabs_new(tts_lp.ctx, &ok, &odd, on_tts, &s, err, sizeof err));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {TTS_CLOUD_TESTS, cmocka_unit_test(test_bad_configs_are_refused)};
	return cmocka_run_group_tests(tests, tts_setup, tts_teardown);
}

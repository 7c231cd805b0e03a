/* Cartesia's WebSocket (core/bot/speech/tts_cartesia.h) against sova-standin: the shared cases
 * of tts_cloud_tests.h, plus what only Cartesia's client checks (its configuration). */
#include "bot/speech/tts_cartesia.h"

#define PROVIDER "cartesia"
#define ERROR_CODE "model_overloaded"
#define MALFORMED_COUNT(t) sova_tts_cartesia_malformed(t)
#include "tts_cloud_tests.h"

static sova_tts *make_tts(tts_seen *s, const char *params, int rate, sova_audio_encoding enc, const char *key,
			  int first_audio_timeout_ms, int max_malformed)
{
	char base[256];
	snprintf(base, sizeof base, "ws://127.0.0.1:%d/x/%s", tts_sd.port, params && *params ? params : "none=0");
	sova_cartesia_config cc = {.api_key = key ? key : "tts-test-key", .base_url = base, .connect_timeout_ms = 3000,
				   .first_audio_timeout_ms = first_audio_timeout_ms, .max_malformed = max_malformed};
	sova_tts_config cfg = {.voice = "a0e99841-438c-4a64-b679-ae501e7d6091", .sample_rate = rate, .encoding = enc, .frame_ms = 20};
	char err[200];
	sova_tts *t = sova_tts_cartesia_new(tts_lp.ctx, &cc, &cfg, on_tts, s, err, sizeof err);
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
	sova_cartesia_config nokey = {0}, ok = {.api_key = "k"};
	sova_tts_config cfg = {.voice = "v"}, novoice = {0}, rate = {.voice = "v", .sample_rate = 96000};
	assert_null(sova_tts_cartesia_new(tts_lp.ctx, &nokey, &cfg, on_tts, &s, err, sizeof err));
	assert_non_null(strstr(err, "API key"));
	assert_null(sova_tts_cartesia_new(tts_lp.ctx, &ok, &novoice, on_tts, &s, err, sizeof err));
	assert_null(sova_tts_cartesia_new(tts_lp.ctx, &ok, &rate, on_tts, &s, err, sizeof err));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {TTS_CLOUD_TESTS, cmocka_unit_test(test_bad_configs_are_refused)};
	return cmocka_run_group_tests(tests, tts_setup, tts_teardown);
}

/* Twilio Media Streams messages (core/bot/media/twilio_stream.c): every inbound kind as Twilio
 * sends it (VOICE-NOTES §2), hostile frames refused with a reason and no crash (run under ASan),
 * and the outbound frames parsed back (media round trip). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "bot/media/twilio_stream.h"
#include "bot/speech/provider_util.h"

#define SID "MZ18ad3ab5a668481ce02b83e7395059f0"
#define CALL "CA0123456789abcdef0123456789abcdef"
#define ACCOUNT "ACfedcba9876543210fedcba9876543210"

static sova_twilio_msg msg;
static char err[256];

static bool parse(const char *json) { return sova_twilio_parse(&msg, json, strlen(json), err, sizeof err); }

/* The frame is refused, with a reason that names why (want, a part of it). */
static void refused(const char *json, size_t len, const char *want)
{
	err[0] = '\0';
	if (sova_twilio_parse(&msg, json, len, err, sizeof err))
		fail_msg("accepted: %.120s", json);
	if (!strstr(err, want))
		fail_msg("refused %.80s with \"%s\", not \"%s\"", json, err, want);
}

static void refuse(const char *json, const char *want) { refused(json, strlen(json), want); }

/* ---- every kind ---- */

static void connected_is_parsed(void **state)
{
	assert_true(parse("{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}"));
	assert_int_equal(msg.event, SOVA_TWILIO_CONNECTED);
	assert_string_equal(msg.stream_sid, "");
}

static void start_gives_the_sids_the_format_and_the_parameters(void **state)
{
	assert_true(parse("{\"event\":\"start\",\"sequenceNumber\":\"1\",\"streamSid\":\"" SID "\",\"start\":{"
			  "\"accountSid\":\"" ACCOUNT "\",\"streamSid\":\"" SID "\",\"callSid\":\"" CALL "\","
			  "\"tracks\":[\"inbound\"],\"customParameters\":{\"session\":\"s-42\",\"org\":\"Beta clinic \\\"east\\\"\"},"
			  "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}}}"));
	assert_int_equal(msg.event, SOVA_TWILIO_START);
	assert_string_equal(msg.stream_sid, SID);
	assert_string_equal(msg.call_sid, CALL);
	assert_string_equal(msg.account_sid, ACCOUNT);
	assert_string_equal(msg.encoding, "audio/x-mulaw");
	assert_int_equal(msg.sample_rate, 8000);
	assert_int_equal(msg.channels, 1);
	assert_int_equal(msg.num_params, 2);
	assert_string_equal(msg.params[0].name, "session");
	assert_string_equal(msg.params[0].value, "s-42");
	assert_string_equal(msg.params[1].name, "org");
	assert_string_equal(msg.params[1].value, "Beta clinic \"east\"");
}

static void start_without_format_or_parameters_is_the_default_stream(void **state)
{
	assert_true(parse("{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT
			  "\",\"callSid\":\"" CALL "\"}}"));
	assert_int_equal(msg.event, SOVA_TWILIO_START);
	assert_string_equal(msg.encoding, "audio/x-mulaw");
	assert_int_equal(msg.sample_rate, 8000);
	assert_int_equal(msg.channels, 1);
	assert_int_equal(msg.num_params, 0);
	/* another format is parsed as it is: the owner refuses it */
	assert_true(parse("{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT
			  "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":\"audio/l16\",\"sampleRate\":16000.0,"
			  "\"channels\":2}}}"));
	assert_string_equal(msg.encoding, "audio/l16");
	assert_int_equal(msg.sample_rate, 16000);
	assert_int_equal(msg.channels, 2);
}

static void media_payload_is_decoded_to_mulaw(void **state)
{
	uint8_t audio[160];
	for (int i = 0; i < 160; i++)
		audio[i] = (uint8_t)(i * 7 + 3);
	char b64[256];
	sodium_bin2base64(b64, sizeof b64, audio, sizeof audio, sodium_base64_VARIANT_ORIGINAL);
	char json[512];
	snprintf(json, sizeof json,
		 "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"streamSid\":\"" SID "\",\"media\":{\"track\":\"inbound\","
		 "\"chunk\":\"2\",\"timestamp\":\"5\",\"payload\":\"%s\"}}",
		 b64);
	assert_true(parse(json));
	assert_int_equal(msg.event, SOVA_TWILIO_MEDIA);
	assert_string_equal(msg.stream_sid, SID);
	assert_int_equal(msg.audio_len, 160);
	assert_memory_equal(msg.audio, audio, 160);
	/* the largest payload: 100 ms */
	uint8_t big[SOVA_TWILIO_MAX_AUDIO];
	memset(big, 0x7f, sizeof big);
	char b64big[1200];
	sodium_bin2base64(b64big, sizeof b64big, big, sizeof big, sodium_base64_VARIANT_ORIGINAL);
	char jbig[1400];
	snprintf(jbig, sizeof jbig, "{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":\"%s\"}}", b64big);
	assert_true(parse(jbig));
	assert_int_equal(msg.audio_len, SOVA_TWILIO_MAX_AUDIO);
}

static void dtmf_mark_and_stop_are_parsed(void **state)
{
	assert_true(parse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"sequenceNumber\":\"5\",\"dtmf\":{"
			  "\"track\":\"inbound_track\",\"digit\":\"#\"}}"));
	assert_int_equal(msg.event, SOVA_TWILIO_DTMF);
	assert_int_equal(msg.digit, '#');
	assert_true(parse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{\"digit\":\"D\"}}"));
	assert_int_equal(msg.digit, 'D');
	assert_true(parse("{\"event\":\"mark\",\"sequenceNumber\":\"6\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"t7\"}}"));
	assert_int_equal(msg.event, SOVA_TWILIO_MARK);
	assert_string_equal(msg.mark, "t7");
	assert_true(parse("{\"event\":\"stop\",\"sequenceNumber\":\"9\",\"streamSid\":\"" SID "\",\"stop\":{\"accountSid\":\""
			  ACCOUNT "\",\"callSid\":\"" CALL "\"}}"));
	assert_int_equal(msg.event, SOVA_TWILIO_STOP);
	assert_string_equal(msg.stream_sid, SID);
}

static void an_unknown_event_is_other_not_an_error(void **state)
{
	assert_true(parse("{\"event\":\"dtmf_v2\",\"whatever\":[1,{\"x\":null}]}"));
	assert_int_equal(msg.event, SOVA_TWILIO_OTHER);
	/* what a known kind left behind is not kept */
	assert_true(parse("{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"t1\"}}"));
	assert_true(parse("{\"event\":\"later\"}"));
	assert_int_equal(msg.event, SOVA_TWILIO_OTHER);
	assert_string_equal(msg.mark, "");
	assert_string_equal(msg.stream_sid, "");
}

/* ---- hostile frames ---- */

static void frames_that_are_not_one_json_object_are_refused(void **state)
{
	static const char *const NOT_JSON[] = {
		"", " ", "null", "[]", "[{\"event\":\"stop\"}]", "\"event\"", "42", "{", "{\"event\":",
		"{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":\"AAAA\"}",
		"{\"event\":\"stop\",}", "{event:\"stop\"}", "{\"event\":\"stop\"}}", "\xff\xfe{}",
	};
	for (size_t i = 0; i < sizeof NOT_JSON / sizeof *NOT_JSON; i++)
		refuse(NOT_JSON[i], "not a JSON object");
	/* every prefix of a good frame */
	const char *good = "{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT
			   "\",\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":\"b\"}}}";
	for (size_t n = 0; n < strlen(good); n++)
		assert_false(sova_twilio_parse(&msg, good, n, err, sizeof err));
	assert_true(parse(good));
	/* a NUL inside the frame */
	refused("{\"event\":\"stop\",\"streamSid\":\"" SID "\"}\0{}", strlen("{\"event\":\"stop\",\"streamSid\":\"" SID "\"}") + 3,
		"not a JSON object");
}

static void fields_of_the_wrong_type_are_refused(void **state)
{
	refuse("{\"type\":\"media\"}", "event is missing");
	refuse("{\"event\":7}", "event is not a string");
	refuse("{\"event\":null}", "event is not a string");
	refuse("{\"event\":[\"media\"]}", "event is not a string");
	refuse("{\"event\":\"\"}", "event must be");
	refuse("{\"event\":\"stop\"}", "streamSid is missing");
	refuse("{\"event\":\"stop\",\"streamSid\":1}", "streamSid is not a string");
	refuse("{\"event\":\"stop\",\"streamSid\":\"MZ\\\"; drop\"}", "streamSid is not a sid");
	refuse("{\"event\":\"stop\",\"streamSid\":\"MZ\\u0000x\"}", "streamSid");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\"}", "media.payload is missing");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":\"AAAA\"}", "media.payload is missing");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":123}}", "media.payload is not a string");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":{\"$binary\":\"AAAA\"}}}", "media stream: ");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":{\"$binary\":{\"base64\":\"AAAA\","
	       "\"subType\":\"00\"}}}}",
	       "media.payload is not a string");
	refuse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{\"digit\":1}}", "dtmf.digit is not a string");
	refuse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{\"digit\":\"12\"}}", "dtmf.digit must be");
	refuse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{\"digit\":\"x\"}}", "not a key");
	refuse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{\"digit\":\"E\"}}", "not a key");
	refuse("{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"dtmf\":{}}", "dtmf.digit is missing");
	refuse("{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":false}}", "mark.name is not a string");
	refuse("{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"\"}}", "mark.name must be");
	refuse("{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"t1\\u0000t2\"}}", "mark.name");
	const char *start = "{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT "\"";
	char json[1024];
	snprintf(json, sizeof json, "%s}}", start);
	refuse(json, "start.callSid is missing");
	snprintf(json, sizeof json, "%s,\"callSid\":[\"" CALL "\"]}}", start);
	refuse(json, "start.callSid is not a string");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"customParameters\":[\"a\"]}}", start);
	refuse(json, "customParameters is not an object");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"customParameters\":\"a=b\"}}", start);
	refuse(json, "customParameters is not an object");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":1}}}", start);
	refuse(json, "not a string");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":{\"b\":\"c\"}}}}", start);
	refuse(json, "not a string");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":\"x\\u0000y\"}}}", start);
	refuse(json, "malformed");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"mediaFormat\":{\"sampleRate\":\"8000\"}}}", start);
	refuse(json, "sampleRate is not a number");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"mediaFormat\":{\"sampleRate\":8000.5}}}", start);
	refuse(json, "sampleRate is out of range");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"mediaFormat\":{\"channels\":-1}}}", start);
	refuse(json, "channels is out of range");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"mediaFormat\":{\"sampleRate\":1e300}}}", start);
	refuse(json, "out of range");
	snprintf(json, sizeof json, "%s,\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":8}}}", start);
	refuse(json, "encoding is not a string");
}

static void bad_base64_is_refused(void **state)
{
	static const char *const BAD[] = {
		"", "A", "AA", "AAA", "AAAA=", "AA==AA==", "AA=A", "A===", "AA-_", "AA AA", "AAAA\\n", "AAA\\u00e9",
		"QUJD\\u0000", "=AAA", "AA\\\"=",
	};
	for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
		char json[256];
		snprintf(json, sizeof json, "{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":\"%s\"}}", BAD[i]);
		refuse(json, "media.payload");
	}
}

static void oversize_frames_and_fields_are_refused(void **state)
{
	/* a payload one byte over 100 ms, and one far over */
	uint8_t audio[SOVA_TWILIO_MAX_AUDIO + 3];
	memset(audio, 0xff, sizeof audio);
	char b64[2048];
	sodium_bin2base64(b64, sizeof b64, audio, SOVA_TWILIO_MAX_AUDIO + 1, sodium_base64_VARIANT_ORIGINAL);
	char json[4096];
	snprintf(json, sizeof json, "{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":\"%s\"}}", b64);
	refuse(json, "media.payload is not base64 of 100 ms or less");
	sodium_bin2base64(b64, sizeof b64, audio, SOVA_TWILIO_MAX_AUDIO + 3, sodium_base64_VARIANT_ORIGINAL);
	snprintf(json, sizeof json, "{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":{\"payload\":\"%s\"}}", b64);
	refuse(json, "more than 100 ms");
	/* a frame over the limit is refused before it is parsed */
	size_t n = SOVA_TWILIO_MAX_MESSAGE + 1;
	char *huge = malloc(n + 1);
	assert_non_null(huge);
	memset(huge, ' ', n);
	memcpy(huge, "{\"event\":\"stop\",\"streamSid\":\"" SID "\"}", strlen("{\"event\":\"stop\",\"streamSid\":\"" SID "\"}"));
	huge[n] = '\0';
	refused(huge, n, "too long");
	assert_true(sova_twilio_parse(&msg, huge, n - 1, err, sizeof err)); /* at the limit it is read */
	free(huge);
	/* a sid, a mark name, a parameter name over their bounds */
	char longsid[SOVA_TWILIO_MAX_SID + 2];
	memset(longsid, 'A', sizeof longsid - 1);
	longsid[sizeof longsid - 1] = '\0';
	snprintf(json, sizeof json, "{\"event\":\"stop\",\"streamSid\":\"%s\"}", longsid);
	refuse(json, "streamSid must be 1 to 64");
	snprintf(json, sizeof json, "{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"%s\"}}", longsid);
	refuse(json, "mark.name must be");
	const char *start = "{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT
			    "\",\"callSid\":\"" CALL "\",\"customParameters\":{";
	snprintf(json, sizeof json, "%s\"%s\":\"v\"}}}", start, longsid);
	refuse(json, "malformed");
	snprintf(json, sizeof json, "%s\"\":\"v\"}}}", start);
	refuse(json, "malformed");
	/* too many parameters, and parameters too long together */
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, start);
	for (int i = 0; i <= SOVA_TWILIO_MAX_PARAMS; i++)
		sova_sbuf_printf(&b, "%s\"p%d\":\"v\"", i ? "," : "", i);
	sova_sbuf_adds(&b, "}}}");
	assert_false(b.failed);
	refused(b.data, b.len, "too many custom parameters");
	sova_sbuf_reset(&b);
	sova_sbuf_adds(&b, start);
	for (int i = 0; i < 3; i++) {
		sova_sbuf_printf(&b, "%s\"p%d\":\"", i ? "," : "", i);
		for (int k = 0; k < 900; k++)
			sova_sbuf_adds(&b, "x");
		sova_sbuf_adds(&b, "\"");
	}
	sova_sbuf_adds(&b, "}}}");
	refused(b.data, b.len, "custom parameters are too long");
	sova_sbuf_free(&b);
}

static void nested_garbage_is_refused_or_ignored(void **state)
{
	/* nesting far deeper than any parser stack, inside a known kind and alone */
	sova_sbuf b = {0};
	sova_sbuf_adds(&b, "{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":");
	for (int i = 0; i < 5000; i++)
		sova_sbuf_adds(&b, "{\"payload\":[");
	for (int i = 0; i < 5000; i++)
		sova_sbuf_adds(&b, "]}");
	sova_sbuf_adds(&b, "}");
	assert_false(b.failed);
	assert_false(sova_twilio_parse(&msg, b.data, b.len, err, sizeof err));
	sova_sbuf_reset(&b);
	for (int i = 0; i < 8000; i++)
		sova_sbuf_adds(&b, "[");
	assert_false(sova_twilio_parse(&msg, b.data, b.len, err, sizeof err));
	sova_sbuf_free(&b);
	/* payload, digit and name in the wrong places; extended JSON that is not a plain string */
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"payload\":\"AAAA\"}", "media.payload is missing");
	refuse("{\"event\":\"media\",\"streamSid\":\"" SID "\",\"media\":[{\"payload\":\"AAAA\"}]}", "media.payload");
	refuse("{\"event\":\"media\",\"streamSid\":{\"$oid\":\"5f1d7a2c9e8b4a3d2c1b0a99\"},\"media\":{\"payload\":\"AAAA\"}}",
	       "streamSid");
	refuse("{\"event\":{\"$numberLong\":\"1\"}}", "event");
	refuse("{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":{\"name\":\"t1\"}}}", "mark.name");
	/* a frame made of every byte value between the braces: no crash either way */
	char bytes[300];
	bytes[0] = '{';
	for (int i = 1; i < 299; i++)
		bytes[i] = (char)(i % 256);
	bytes[299] = '}';
	(void)sova_twilio_parse(&msg, bytes, sizeof bytes, err, sizeof err);
	/* random frames, and a good frame with random bytes swapped in */
	const char *good = "{\"event\":\"start\",\"streamSid\":\"" SID "\",\"start\":{\"accountSid\":\"" ACCOUNT
			   "\",\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":\"b\"},\"mediaFormat\":{\"encoding\":"
			   "\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}}}";
	size_t n = strlen(good);
	char *mut = malloc(n);
	assert_non_null(mut);
	srand(7);
	for (int round = 0; round < 20000; round++) {
		memcpy(mut, good, n);
		for (int k = 0; k < 1 + round % 4; k++)
			mut[(size_t)rand() % n] = (char)(rand() % 256);
		if (sova_twilio_parse(&msg, mut, n, err, sizeof err) && msg.event == SOVA_TWILIO_START) {
			assert_true(strlen(msg.stream_sid) >= 1 && strlen(msg.call_sid) >= 1);
			assert_true(msg.num_params <= SOVA_TWILIO_MAX_PARAMS);
		}
	}
	free(mut);
}

/* ---- outbound ---- */

static void media_round_trips(void **state)
{
	sova_sbuf out = {0};
	uint8_t frame[SOVA_TWILIO_MAX_AUDIO];
	for (size_t len = 1; len <= SOVA_TWILIO_MAX_AUDIO; len += len < 170 ? 1 : 97) {
		for (size_t i = 0; i < len; i++)
			frame[i] = (uint8_t)(i * 31 + len);
		assert_true(sova_twilio_media_frame(&out, SID, frame, len));
		assert_int_equal(out.len, strlen(out.data));
		/* what Twilio reads: the same JSON, and the payload is the frame */
		bson_t doc;
		assert_true(sova_json_parse(&doc, out.data, out.len));
		const char *s;
		uint32_t n;
		assert_true(sova_json_string(&doc, "event", &s, &n, NULL));
		assert_string_equal(s, "media");
		assert_true(sova_json_string(&doc, "streamSid", &s, &n, NULL));
		assert_string_equal(s, SID);
		bson_destroy(&doc);
		/* and the codec reads it back as a media message */
		assert_true(sova_twilio_parse(&msg, out.data, out.len, err, sizeof err));
		assert_int_equal(msg.event, SOVA_TWILIO_MEDIA);
		assert_string_equal(msg.stream_sid, SID);
		assert_int_equal(msg.audio_len, len);
		assert_memory_equal(msg.audio, frame, len);
	}
	sova_sbuf_free(&out);
}

static void mark_and_clear_frames_are_twilios(void **state)
{
	sova_sbuf out = {0};
	assert_true(sova_twilio_mark_frame(&out, SID, 7));
	assert_string_equal(out.data, "{\"event\":\"mark\",\"streamSid\":\"" SID "\",\"mark\":{\"name\":\"t7\"}}");
	assert_true(sova_twilio_parse(&msg, out.data, out.len, err, sizeof err));
	assert_int_equal(msg.event, SOVA_TWILIO_MARK);
	uint32_t turn = 0;
	assert_true(sova_twilio_mark_turn(msg.mark, &turn));
	assert_int_equal(turn, 7);
	assert_true(sova_twilio_clear_frame(&out, SID));
	assert_string_equal(out.data, "{\"event\":\"clear\",\"streamSid\":\"" SID "\"}");
	assert_true(sova_twilio_mark_frame(&out, SID, UINT32_MAX));
	assert_true(sova_twilio_parse(&msg, out.data, out.len, err, sizeof err));
	assert_true(sova_twilio_mark_turn(msg.mark, &turn));
	assert_int_equal(turn, UINT32_MAX);
	sova_sbuf_free(&out);
}

static void only_our_marks_name_a_turn(void **state)
{
	uint32_t turn = 99;
	assert_true(sova_twilio_mark_turn("t1", &turn));
	assert_int_equal(turn, 1);
	assert_true(sova_twilio_mark_turn("t4294967295", &turn));
	assert_int_equal(turn, 4294967295u);
	static const char *const NOT_OURS[] = {"", "t", "t0", "t01", "T1", "t-1", "t+1", "t1 ", " t1", "t1x", "t4294967296",
					       "t99999999999999999999999", "t7c3", "x7"};
	for (size_t i = 0; i < sizeof NOT_OURS / sizeof *NOT_OURS; i++)
		if (sova_twilio_mark_turn(NOT_OURS[i], &turn))
			fail_msg("\"%s\" named a turn", NOT_OURS[i]);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connected_is_parsed),
		cmocka_unit_test(start_gives_the_sids_the_format_and_the_parameters),
		cmocka_unit_test(start_without_format_or_parameters_is_the_default_stream),
		cmocka_unit_test(media_payload_is_decoded_to_mulaw),
		cmocka_unit_test(dtmf_mark_and_stop_are_parsed),
		cmocka_unit_test(an_unknown_event_is_other_not_an_error),
		cmocka_unit_test(frames_that_are_not_one_json_object_are_refused),
		cmocka_unit_test(fields_of_the_wrong_type_are_refused),
		cmocka_unit_test(bad_base64_is_refused),
		cmocka_unit_test(oversize_frames_and_fields_are_refused),
		cmocka_unit_test(nested_garbage_is_refused_or_ignored),
		cmocka_unit_test(media_round_trips),
		cmocka_unit_test(mark_and_clear_frames_are_twilios),
		cmocka_unit_test(only_our_marks_name_a_turn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

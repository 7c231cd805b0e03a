/* The OpenAI stream reader (core/llm/openai_stream.c): one recorded answer cut everywhere, and
 * what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm/openai_stream.h"

/* Text (with an escaped quote, a \u escape and a surrogate pair), a tool call in three fragments,
 * a comment, CRLF line ends, usage, [DONE]. */
static const char STREAM[] =
	": keep-alive\n"
	"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Ol\\u00e1, \\\"x\\\"\"},"
	"\"finish_reason\":null}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d\\ude00 \xe2\x82\xac\"}}]}\r\n\r\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
	"\"function\":{\"name\":\"note\",\"arguments\":\"\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\": \"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"[1, 2]}\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n"
	"data: [DONE]\n\n";

static const char TEXT[] = "Ol\xc3\xa1, \"x\"\xf0\x9f\x98\x80 \xe2\x82\xac";

/* Feeds the pieces, joining the text deltas read, then finishes. */
static sova_oai_status run(sova_oai_stream *s, const char *const *pieces, const size_t *lens, size_t n, char *deltas,
			   size_t *n_deltas)
{
	size_t at = 0;
	*n_deltas = 0;
	sova_oai_status st = SOVA_OAI_OK;
	for (size_t i = 0; i <= n && st == SOVA_OAI_OK; i++) {
		st = i < n ? sova_oai_stream_feed(s, pieces[i], lens[i]) : sova_oai_stream_finish(s);
		for (size_t k = 0; k < sova_oai_stream_pieces(s); k++) {
			size_t len;
			const char *p = sova_oai_stream_piece(s, k, &len);
			assert_true(len > 0);
			memcpy(deltas + at, p, len);
			at += len;
			(*n_deltas)++;
		}
	}
	deltas[at] = '\0';
	return st;
}

static void check_answer(sova_oai_stream *s, const char *deltas, size_t n_deltas)
{
	size_t len;
	assert_int_equal(n_deltas, 2);
	assert_string_equal(deltas, TEXT);
	const char *text = sova_oai_stream_text(s, &len);
	assert_int_equal(len, strlen(TEXT));
	assert_memory_equal(text, TEXT, len);
	const char *reason = sova_oai_stream_finish_reason(s, &len);
	assert_non_null(reason);
	assert_string_equal(reason, "tool_calls");
	double usage[3];
	assert_int_equal(sova_oai_stream_usage(s, usage), 7);
	assert_true(usage[0] == 3 && usage[1] == 4 && usage[2] == 7);
	assert_int_equal(sova_oai_stream_tool_calls(s), 1);
	sova_oai_tool_call c;
	sova_oai_stream_tool_call(s, 0, &c);
	assert_non_null(c.id);
	assert_string_equal(c.id, "call_1");
	assert_string_equal(c.name, "note");
	assert_string_equal(c.arguments, "{\"a\": [1, 2]}");
}

static void the_same_answer_wherever_the_stream_is_cut(void **state)
{
	(void)state;
	size_t total = sizeof STREAM - 1;
	char deltas[256];
	for (size_t cut = 0; cut <= total; cut++) {
		sova_oai_stream *s = sova_oai_stream_new(1 << 20);
		assert_non_null(s);
		const char *pieces[] = {STREAM, STREAM + cut};
		size_t lens[] = {cut, total - cut}, n_deltas;
		assert_int_equal(run(s, pieces, lens, 2, deltas, &n_deltas), SOVA_OAI_OK);
		check_answer(s, deltas, n_deltas);
		sova_oai_stream_free(s);
	}
}

static void the_same_answer_a_byte_at_a_time(void **state)
{
	(void)state;
	size_t total = sizeof STREAM - 1;
	const char **pieces = malloc(total * sizeof *pieces);
	size_t *lens = malloc(total * sizeof *lens);
	assert_non_null(pieces);
	assert_non_null(lens);
	for (size_t i = 0; i < total; i++)
		pieces[i] = STREAM + i, lens[i] = 1;
	sova_oai_stream *s = sova_oai_stream_new(1 << 20);
	char deltas[256];
	size_t n_deltas;
	assert_int_equal(run(s, pieces, lens, total, deltas, &n_deltas), SOVA_OAI_OK);
	check_answer(s, deltas, n_deltas);
	sova_oai_stream_free(s);
	free(pieces);
	free(lens);
}

static sova_oai_status one(sova_oai_stream *s, const char *body)
{
	sova_oai_status st = sova_oai_stream_feed(s, body, strlen(body));
	return st == SOVA_OAI_OK ? sova_oai_stream_finish(s) : st;
}

static void malformed_events_fail_and_stay_failed(void **state)
{
	(void)state;
	static const char *const BAD[] = {
		"data: {not json\n\n",
		"data: {\"choices\":[]} x\n\n",
		"data: \"a string\"\n\n",
		"data: \n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"\\ud800 lone\"}}]}\n\n",
		"data: {\"a\":\"\\q\"}\n\n",
		"data: {\"a\":01}\n\n",
		"data: [1,]\n\n",
	};
	for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
		sova_oai_stream *s = sova_oai_stream_new(1 << 20);
		assert_int_equal(one(s, BAD[i]), SOVA_OAI_MALFORMED);
		size_t len;
		assert_true(strncmp(sova_oai_stream_message(s, &len), "malformed stream event", 22) == 0);
		const char *more = "data: {\"choices\":[{\"delta\":{\"content\":\"late\"},\"finish_reason\":\"stop\"}]}\n\n";
		assert_int_equal(sova_oai_stream_feed(s, more, strlen(more)), SOVA_OAI_MALFORMED);
		assert_int_equal(sova_oai_stream_pieces(s), 0);
		sova_oai_stream_free(s);
	}
}

static void nesting_deeper_than_64_is_refused(void **state)
{
	(void)state;
	char deep[256] = "data: ", *p = deep + 6;
	for (int i = 0; i < 65; i++)
		*p++ = '[';
	for (int i = 0; i < 65; i++)
		*p++ = ']';
	strcpy(p, "\n\n");
	sova_oai_stream *s = sova_oai_stream_new(1 << 20);
	assert_int_equal(sova_oai_stream_feed(s, deep, strlen(deep)), SOVA_OAI_MALFORMED);
	sova_oai_stream_free(s);
	/* 64 levels are JSON it reads (an array: nothing in it for the answer) */
	memmove(deep + 6, deep + 7, strlen(deep + 7) + 1);
	memmove(deep + 6 + 64, deep + 7 + 64, strlen(deep + 7 + 64) + 1);
	s = sova_oai_stream_new(1 << 20);
	assert_int_equal(sova_oai_stream_feed(s, deep, strlen(deep)), SOVA_OAI_OK);
	sova_oai_stream_free(s);
}

static void an_error_event_is_handed_back_whole(void **state)
{
	(void)state;
	sova_oai_stream *s = sova_oai_stream_new(1 << 20);
	const char *body = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
			   "data: {\"error\":{\"message\":\"overloaded\",\"code\":null}}\n\n";
	assert_int_equal(sova_oai_stream_feed(s, body, strlen(body)), SOVA_OAI_ERROR_EVENT);
	assert_int_equal(sova_oai_stream_pieces(s), 1); /* the text before the error was read */
	size_t len;
	assert_string_equal(sova_oai_stream_message(s, &len), "{\"error\":{\"message\":\"overloaded\",\"code\":null}}");
	sova_oai_stream_free(s);
}

static void a_stream_without_finish_reason_or_done_is_incomplete(void **state)
{
	(void)state;
	sova_oai_stream *s = sova_oai_stream_new(1 << 20);
	assert_int_equal(one(s, "data: {\"choices\":[{\"delta\":{\"content\":\"half\"}}]}\n\n"), SOVA_OAI_INCOMPLETE);
	sova_oai_stream_free(s);
	/* [DONE] alone, or finish_reason without [DONE], completes it; a last event without its blank line counts */
	s = sova_oai_stream_new(1 << 20);
	assert_int_equal(one(s, "data: [DONE]"), SOVA_OAI_OK);
	sova_oai_stream_free(s);
	s = sova_oai_stream_new(1 << 20);
	assert_int_equal(one(s, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\r"), SOVA_OAI_OK);
	sova_oai_stream_free(s);
}

static void lines_and_events_over_the_limit_fail(void **state)
{
	(void)state;
	char big[200];
	memset(big, 'x', sizeof big);
	sova_oai_stream *s = sova_oai_stream_new(100);
	assert_int_equal(sova_oai_stream_feed(s, "data: ", 6), SOVA_OAI_OK);
	assert_int_equal(sova_oai_stream_feed(s, big, sizeof big), SOVA_OAI_TOO_BIG);
	size_t len;
	assert_string_equal(sova_oai_stream_message(s, &len), "stream event over 100 bytes");
	sova_oai_stream_free(s);
	/* many short data lines of one event */
	s = sova_oai_stream_new(100);
	sova_oai_status st = SOVA_OAI_OK;
	for (int i = 0; i < 20 && st == SOVA_OAI_OK; i++)
		st = sova_oai_stream_feed(s, "data: 0123456789\n", 17);
	assert_int_equal(st, SOVA_OAI_TOO_BIG);
	sova_oai_stream_free(s);
}

static void members_are_read_as_a_decoder_reads_them(void **state)
{
	(void)state;
	/* the last of a repeated key; an escaped key; choices other than 0 and index null ignored;
	 * wrong types ignored; a tool call without index continues the last unless its id is new */
	const char *body =
		"data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}},{\"index\":null,\"delta\":{\"content\":\"n\"}},"
		"{\"index\":0,\"delta\":{\"content\":\"first\",\"cont\\u0065nt\":\"A\"}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":7,\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}},{\"id\":\"b\",\"function\":"
		"{\"name\":\"g\",\"arguments\":\"[]\"}}]}}]}\n\n"
		"data: {\"usage\":{\"prompt_tokens\":1},\"choices\":{\"0\":1}}\n\n"
		"data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n";
	sova_oai_stream *s = sova_oai_stream_new(1 << 20);
	assert_int_equal(one(s, body), SOVA_OAI_OK);
	size_t len;
	assert_string_equal(sova_oai_stream_text(s, &len), "A");
	double usage[3];
	assert_int_equal(sova_oai_stream_usage(s, usage), 1);
	assert_int_equal(sova_oai_stream_tool_calls(s), 2);
	sova_oai_tool_call c;
	sova_oai_stream_tool_call(s, 0, &c);
	assert_string_equal(c.id, "a");
	assert_string_equal(c.name, "f");
	assert_string_equal(c.arguments, "{}");
	sova_oai_stream_tool_call(s, 1, &c);
	assert_string_equal(c.id, "b");
	assert_string_equal(c.arguments, "[]");
	sova_oai_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_same_answer_wherever_the_stream_is_cut),
		cmocka_unit_test(the_same_answer_a_byte_at_a_time),
		cmocka_unit_test(malformed_events_fail_and_stay_failed),
		cmocka_unit_test(nesting_deeper_than_64_is_refused),
		cmocka_unit_test(an_error_event_is_handed_back_whole),
		cmocka_unit_test(a_stream_without_finish_reason_or_done_is_incomplete),
		cmocka_unit_test(lines_and_events_over_the_limit_fail),
		cmocka_unit_test(members_are_read_as_a_decoder_reads_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

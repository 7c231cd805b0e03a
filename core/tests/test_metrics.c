/* The metrics registry (core/util/metrics.c): declarations, the three kinds, label escaping,
 * the text format as Prometheus parses it, the series cap, concurrent updates, and who may read. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/metrics.h"

static char err[256];

static int reset(void **state)
{
	(void)state;
	sova_metrics_reset();
	unsetenv("SOVA_METRICS_TOKEN");
	return 0;
}

static char *render(void)
{
	size_t len = 0;
	char *text = sova_metrics_render(&len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void has_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "\n%s\n", line);
	char *with_nl = malloc(strlen(text) + 2);
	assert_non_null(with_nl);
	with_nl[0] = '\n';
	strcpy(with_nl + 1, text);
	if (!strstr(with_nl, want))
		fail_msg("no line \"%s\" in:\n%s", line, text);
	free(with_nl);
}

static void counters_and_gauges_render_with_help_and_type(void **state)
{
	(void)state;
	assert_true(sova_metric_define("sova_x_total", SOVA_METRIC_COUNTER, "Things \\ counted\nhere.", NULL, 0, err, sizeof err));
	assert_true(sova_metric_define("sova_live", SOVA_METRIC_GAUGE, "Live ones.", NULL, 0, err, sizeof err));
	char labels[SOVA_METRICS_MAX_LABELS] = "";
	assert_true(sova_metric_label(labels, sizeof labels, "route", "GET /api/x", 10));
	assert_true(sova_metric_label(labels, sizeof labels, "status", "200", 3));
	assert_string_equal(labels, "route=\"GET /api/x\",status=\"200\"");
	assert_true(sova_metric_add("sova_x_total", labels, 1, err, sizeof err));
	assert_true(sova_metric_add("sova_x_total", labels, 2, err, sizeof err));
	assert_true(sova_metric_add("sova_x_total", "", 0.5, err, sizeof err));
	assert_true(sova_metric_set("sova_live", "", 7, err, sizeof err));
	assert_true(sova_metric_add("sova_live", "", -2, err, sizeof err));
	char *text = render();
	has_line(text, "# HELP sova_x_total Things \\\\ counted\\nhere.");
	has_line(text, "# TYPE sova_x_total counter");
	has_line(text, "sova_x_total{route=\"GET /api/x\",status=\"200\"} 3");
	has_line(text, "sova_x_total 0.5");
	has_line(text, "# TYPE sova_live gauge");
	has_line(text, "sova_live 5");
	has_line(text, "sova_metrics_series_dropped_total 0");
	free(text);
}

static void histograms_count_cumulatively_with_inf_sum_and_count(void **state)
{
	(void)state;
	const double b[] = {0.1, 0.5, 1};
	assert_true(sova_metric_define("sova_t_seconds", SOVA_METRIC_HISTOGRAM, "Times.", b, 3, err, sizeof err));
	const double xs[] = {0.05, 0.1, 0.3, 0.7, 2.5};
	for (int i = 0; i < 5; i++)
		assert_true(sova_metric_observe("sova_t_seconds", "stage=\"model\"", xs[i], err, sizeof err));
	char *text = render();
	has_line(text, "# TYPE sova_t_seconds histogram");
	has_line(text, "sova_t_seconds_bucket{stage=\"model\",le=\"0.1\"} 2");
	has_line(text, "sova_t_seconds_bucket{stage=\"model\",le=\"0.5\"} 3");
	has_line(text, "sova_t_seconds_bucket{stage=\"model\",le=\"1\"} 4");
	has_line(text, "sova_t_seconds_bucket{stage=\"model\",le=\"+Inf\"} 5");
	has_line(text, "sova_t_seconds_sum{stage=\"model\"} 3.65");
	has_line(text, "sova_t_seconds_count{stage=\"model\"} 5");
	free(text);
}

static void misuse_is_refused_with_a_reason(void **state)
{
	(void)state;
	const double b[] = {1, 2};
	const double bad[] = {2, 1};
	assert_false(sova_metric_define("9starts_with_a_digit", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err));
	assert_false(sova_metric_define("has space", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err));
	assert_false(sova_metric_define("sova_h", SOVA_METRIC_HISTOGRAM, "x", bad, 2, err, sizeof err));
	assert_false(sova_metric_define("sova_h", SOVA_METRIC_HISTOGRAM, "x", NULL, 0, err, sizeof err));
	assert_false(sova_metric_define("sova_c", SOVA_METRIC_COUNTER, "x", b, 2, err, sizeof err));
	assert_true(sova_metric_define("sova_c", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err));
	assert_true(sova_metric_define("sova_c", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err)); /* again: no-op */
	assert_false(sova_metric_define("sova_c", SOVA_METRIC_GAUGE, "x", NULL, 0, err, sizeof err));
	assert_non_null(strstr(err, "declared before"));
	assert_false(sova_metric_add("sova_nothing", "", 1, err, sizeof err));
	assert_non_null(strstr(err, "no such metric"));
	assert_false(sova_metric_add("sova_c", "", -1, err, sizeof err));
	assert_false(sova_metric_set("sova_c", "", 1, err, sizeof err));
	assert_false(sova_metric_observe("sova_c", "", 1, err, sizeof err));
	assert_false(sova_metric_add("sova_c", "", 0.0 / 0.0, err, sizeof err));
	char labels[32] = "";
	assert_false(sova_metric_label(labels, sizeof labels, "bad-name", "v", 1));
	assert_false(sova_metric_label(labels, sizeof labels, "__reserved", "v", 1));
	assert_false(sova_metric_label(labels, sizeof labels, "long", "0123456789012345678901234567890", 31));
}

static void label_values_are_escaped(void **state)
{
	(void)state;
	char labels[128] = "";
	assert_true(sova_metric_label(labels, sizeof labels, "v", "a\"b\\c\nd", 7));
	assert_string_equal(labels, "v=\"a\\\"b\\\\c\\nd\"");
}

static void series_past_the_cap_are_dropped_and_counted(void **state)
{
	(void)state;
	assert_true(sova_metric_define("sova_many_total", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err));
	for (int i = 0; i < SOVA_METRICS_MAX_SERIES + 10; i++) {
		char labels[64];
		snprintf(labels, sizeof labels, "k=\"%d\"", i);
		assert_true(sova_metric_add("sova_many_total", labels, 1, err, sizeof err));
	}
	char *text = render();
	has_line(text, "sova_metrics_series_dropped_total 10");
	char last[64];
	snprintf(last, sizeof last, "sova_many_total{k=\"%d\"} 1", SOVA_METRICS_MAX_SERIES - 1);
	has_line(text, last);
	snprintf(last, sizeof last, "k=\"%d\"", SOVA_METRICS_MAX_SERIES);
	assert_null(strstr(text, last));
	free(text);
}

static void *bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++)
		sova_metric_add("sova_threads_total", i % 2 ? "odd=\"1\"" : "", 1, NULL, 0);
	return NULL;
}

static void updates_from_many_threads_all_count(void **state)
{
	(void)state;
	assert_true(sova_metric_define("sova_threads_total", SOVA_METRIC_COUNTER, "x", NULL, 0, err, sizeof err));
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, bump, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	char *text = render();
	has_line(text, "sova_threads_total 40000");
	has_line(text, "sova_threads_total{odd=\"1\"} 40000");
	free(text);
}

static void reading_needs_the_token_or_a_private_or_loopback_peer(void **state)
{
	(void)state;
	assert_true(sova_metrics_authorized(NULL, "127.0.0.1", false));
	assert_true(sova_metrics_authorized(NULL, "::1", false));
	assert_false(sova_metrics_authorized(NULL, "10.0.0.5", false));
	assert_true(sova_metrics_authorized(NULL, "10.0.0.5", true));
	setenv("SOVA_ENV", "production", 1);
	assert_false(sova_metrics_authorized(NULL, "127.0.0.1", false));
	assert_true(sova_metrics_authorized(NULL, "10.0.0.5", true));
	unsetenv("SOVA_ENV");
	setenv("SOVA_METRICS_TOKEN", "s3cret-token", 1);
	assert_false(sova_metrics_authorized(NULL, "127.0.0.1", false));
	assert_false(sova_metrics_authorized(NULL, "10.0.0.5", true));
	assert_false(sova_metrics_authorized("Bearer s3cret-toke", "127.0.0.1", false));
	assert_false(sova_metrics_authorized("Bearer s3cret-token-and-more", "127.0.0.1", false));
	assert_false(sova_metrics_authorized("Basic s3cret-token", "127.0.0.1", false));
	assert_true(sova_metrics_authorized("Bearer s3cret-token", "203.0.113.9", false));
	assert_true(sova_metrics_authorized("bearer s3cret-token", "10.0.0.5", true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(counters_and_gauges_render_with_help_and_type, reset),
		cmocka_unit_test_setup(histograms_count_cumulatively_with_inf_sum_and_count, reset),
		cmocka_unit_test_setup(misuse_is_refused_with_a_reason, reset),
		cmocka_unit_test_setup(label_values_are_escaped, reset),
		cmocka_unit_test_setup(series_past_the_cap_are_dropped_and_counted, reset),
		cmocka_unit_test_setup(updates_from_many_threads_all_count, reset),
		cmocka_unit_test_setup(reading_needs_the_token_or_a_private_or_loopback_peer, reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	sova_metrics_reset();
	return rc;
}

/* The process's metrics, in Prometheus' text format: counters, gauges and histograms, each a
 * family of series told apart by their labels. One registry per process, shared by every thread
 * (`sova api` has one Lua state per worker; their counts must add up in one place). Plain C. */
#ifndef SOVA_UTIL_METRICS_H
#define SOVA_UTIL_METRICS_H
#include <stdbool.h>
#include <stddef.h>

typedef enum { SOVA_METRIC_COUNTER, SOVA_METRIC_GAUGE, SOVA_METRIC_HISTOGRAM } sova_metric_kind;

#define SOVA_METRICS_MAX_FAMILIES 64
#define SOVA_METRICS_MAX_BUCKETS 16
/* Series per family: a label fed from outside (a route, a host) must not grow the registry
 * without bound; past this, observations of new series are dropped and counted. */
#define SOVA_METRICS_MAX_SERIES 512
#define SOVA_METRICS_MAX_LABELS 512 /* bytes of one series' rendered labels */

/* Declares a family. Declaring it again the same way is a no-op (every Lua state declares what
 * it uses); another kind, help or buckets under the same name is an error. buckets: upper
 * bounds, increasing (histograms only; +Inf is implied). false with a message in err. */
bool sova_metric_define(const char *name, sova_metric_kind kind, const char *help, const double *buckets,
			int nbuckets, char *err, size_t errlen);

/* labels: the series' rendered label pairs, `a="x",b="y"` (sova_metric_labels builds them), ""
 * for none. Counters take add (v >= 0), gauges add and set, histograms observe. false with a
 * message in err on misuse (no such family, the wrong kind, a negative count); a series dropped
 * for the cap is no error. */
bool sova_metric_add(const char *name, const char *labels, double v, char *err, size_t errlen);
bool sova_metric_set(const char *name, const char *labels, double v, char *err, size_t errlen);
bool sova_metric_observe(const char *name, const char *labels, double v, char *err, size_t errlen);

/* Renders one label pair onto out (`,` first when out is not empty), the value escaped as the
 * text format wants. false when the name is no label name or out would overflow (outlen bytes). */
bool sova_metric_label(char *out, size_t outlen, const char *name, const char *value, size_t value_len);

/* The whole registry as the text exposition format (version 0.0.4); malloc'd, NUL-terminated,
 * the caller frees. NULL when out of memory. */
char *sova_metrics_render(size_t *len);

/* Who may read the metrics. With SOVA_METRICS_TOKEN set: a request carrying
 * "Authorization: Bearer <that token>" (compared in constant time), on any listener. Without it:
 * any peer on the private metrics listener (its address is the operator's choice:
 * SOVA_METRICS_HOST), and outside production (SOVA_ENV) a loopback peer on a public port. */
bool sova_metrics_authorized(const char *authorization, const char *peer, bool private_listener);

/* Forgets every family (tests). */
void sova_metrics_reset(void);
#endif

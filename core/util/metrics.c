/* The process's metrics registry (metrics.h). One mutex guards it all: an update is a few
 * compares and an add, far below what the request or call it counts costs. */
#include "util/metrics.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/sbuf.h"

#define NAME_MAX_LEN 96
#define HELP_MAX_LEN 256

typedef struct series {
	char *labels;  /* owned */
	double value;  /* a counter's or gauge's value; a histogram's sum */
	unsigned long long count;                        /* histograms: observations */
	unsigned long long buckets[SOVA_METRICS_MAX_BUCKETS]; /* histograms: per bucket, not cumulative */
} series;

typedef struct family {
	char name[NAME_MAX_LEN];
	char help[HELP_MAX_LEN];
	sova_metric_kind kind;
	int nbuckets;
	double bounds[SOVA_METRICS_MAX_BUCKETS];
	series *series; /* owned, nseries used of cap */
	int nseries, cap;
	unsigned long long dropped; /* observations of series past the cap */
} family;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static family families[SOVA_METRICS_MAX_FAMILIES];
static int nfamilies;

static void set_err(char *err, size_t errlen, const char *msg, const char *name)
{
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s", msg, name ? ": " : "", name ? name : "");
}

static bool valid_name(const char *s, bool colon_ok)
{
	size_t n = strlen(s);
	if (n == 0 || n >= NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* under mu */
static family *find_family(const char *name)
{
	for (int i = 0; i < nfamilies; i++)
		if (strcmp(families[i].name, name) == 0)
			return &families[i];
	return NULL;
}

bool sova_metric_define(const char *name, sova_metric_kind kind, const char *help, const double *buckets,
			int nbuckets, char *err, size_t errlen)
{
	if (!name || !valid_name(name, true)) {
		set_err(err, errlen, "not a metric name", name);
		return false;
	}
	if (!help || strlen(help) >= HELP_MAX_LEN) {
		set_err(err, errlen, "a metric's help is a text of fewer than 256 bytes", name);
		return false;
	}
	if (kind == SOVA_METRIC_HISTOGRAM) {
		if (nbuckets < 1 || nbuckets > SOVA_METRICS_MAX_BUCKETS || !buckets) {
			set_err(err, errlen, "a histogram has 1 to 16 buckets", name);
			return false;
		}
		for (int i = 0; i < nbuckets; i++)
			if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
				set_err(err, errlen, "a histogram's buckets are finite and increasing", name);
				return false;
			}
	} else if (nbuckets != 0) {
		set_err(err, errlen, "only histograms have buckets", name);
		return false;
	}
	bool ok = true;
	pthread_mutex_lock(&mu);
	family *f = find_family(name);
	if (f) {
		ok = f->kind == kind && strcmp(f->help, help) == 0 && f->nbuckets == nbuckets &&
		     (nbuckets == 0 || memcmp(f->bounds, buckets, sizeof(double) * (size_t)nbuckets) == 0);
		if (!ok)
			set_err(err, errlen, "declared before in another way", name);
	} else if (nfamilies == SOVA_METRICS_MAX_FAMILIES) {
		ok = false;
		set_err(err, errlen, "too many metric families", name);
	} else {
		f = &families[nfamilies++];
		memset(f, 0, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", name);
		snprintf(f->help, sizeof f->help, "%s", help);
		f->kind = kind;
		f->nbuckets = nbuckets;
		if (nbuckets)
			memcpy(f->bounds, buckets, sizeof(double) * (size_t)nbuckets);
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

/* under mu: the series of labels, made when new; NULL when the family is full (counted) or out
 * of memory */
static series *series_of(family *f, const char *labels)
{
	for (int i = 0; i < f->nseries; i++)
		if (strcmp(f->series[i].labels, labels) == 0)
			return &f->series[i];
	if (f->nseries == SOVA_METRICS_MAX_SERIES) {
		f->dropped++;
		return NULL;
	}
	if (f->nseries == f->cap) {
		int cap = f->cap ? f->cap * 2 : 8;
		series *grown = realloc(f->series, sizeof(series) * (size_t)cap);
		if (!grown) {
			f->dropped++;
			return NULL;
		}
		f->series = grown;
		f->cap = cap;
	}
	char *copy = strdup(labels);
	if (!copy) {
		f->dropped++;
		return NULL;
	}
	series *s = &f->series[f->nseries++];
	memset(s, 0, sizeof *s);
	s->labels = copy;
	return s;
}

typedef enum { OP_ADD, OP_SET, OP_OBSERVE } op;

static bool update(op o, const char *name, const char *labels, double v, char *err, size_t errlen)
{
	if (!labels || strlen(labels) >= SOVA_METRICS_MAX_LABELS) {
		set_err(err, errlen, "labels too long", name);
		return false;
	}
	if (!isfinite(v)) {
		set_err(err, errlen, "a metric's value is a finite number", name);
		return false;
	}
	pthread_mutex_lock(&mu);
	family *f = find_family(name);
	const char *why = NULL;
	if (!f)
		why = "no such metric";
	else if (o == OP_OBSERVE && f->kind != SOVA_METRIC_HISTOGRAM)
		why = "only a histogram observes";
	else if (o != OP_OBSERVE && f->kind == SOVA_METRIC_HISTOGRAM)
		why = "a histogram observes";
	else if (o == OP_SET && f->kind != SOVA_METRIC_GAUGE)
		why = "only a gauge is set";
	else if (o == OP_ADD && f->kind == SOVA_METRIC_COUNTER && v < 0)
		why = "a counter only goes up";
	if (why) {
		pthread_mutex_unlock(&mu);
		set_err(err, errlen, why, name);
		return false;
	}
	series *s = series_of(f, labels);
	if (s) {
		if (o == OP_ADD)
			s->value += v;
		else if (o == OP_SET)
			s->value = v;
		else {
			s->value += v;
			s->count++;
			for (int i = 0; i < f->nbuckets; i++)
				if (v <= f->bounds[i]) {
					s->buckets[i]++;
					break;
				}
		}
	}
	pthread_mutex_unlock(&mu);
	return true;
}

bool sova_metric_add(const char *name, const char *labels, double v, char *err, size_t errlen)
{
	return update(OP_ADD, name, labels, v, err, errlen);
}

bool sova_metric_set(const char *name, const char *labels, double v, char *err, size_t errlen)
{
	return update(OP_SET, name, labels, v, err, errlen);
}

bool sova_metric_observe(const char *name, const char *labels, double v, char *err, size_t errlen)
{
	return update(OP_OBSERVE, name, labels, v, err, errlen);
}

bool sova_metric_label(char *out, size_t outlen, const char *name, const char *value, size_t value_len)
{
	if (!valid_name(name, false) || strncmp(name, "__", 2) == 0)
		return false;
	size_t at = strlen(out);
	int n = snprintf(out + at, outlen - at, "%s%s=\"", at ? "," : "", name);
	if (n < 0 || (size_t)n >= outlen - at)
		return false;
	at += (size_t)n;
	for (size_t i = 0; i < value_len; i++) {
		char c = value[i];
		const char *esc = c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
		size_t need = esc ? 2 : 1;
		if (at + need + 2 > outlen) /* and room for the closing quote and the NUL */
			return false;
		if (esc) {
			memcpy(out + at, esc, 2);
		} else {
			out[at] = c;
		}
		at += need;
	}
	out[at++] = '"';
	out[at] = '\0';
	return true;
}

static void add_number(sova_sbuf *b, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		sova_sbuf_printf(b, "%.0f", v);
	else
		sova_sbuf_printf(b, "%.9g", v);
}

/* HELP text: backslash and newline escaped */
static void add_help(sova_sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			sova_sbuf_adds(b, "\\\\");
		else if (*s == '\n')
			sova_sbuf_adds(b, "\\n");
		else
			sova_sbuf_add(b, s, 1);
	}
}

static void add_sample(sova_sbuf *b, const char *name, const char *suffix, const char *labels, const char *extra,
		       double v)
{
	sova_sbuf_adds(b, name);
	sova_sbuf_adds(b, suffix);
	if (labels[0] || extra) {
		sova_sbuf_adds(b, "{");
		sova_sbuf_adds(b, labels);
		if (extra) {
			if (labels[0])
				sova_sbuf_adds(b, ",");
			sova_sbuf_adds(b, extra);
		}
		sova_sbuf_adds(b, "}");
	}
	sova_sbuf_adds(b, " ");
	add_number(b, v);
	sova_sbuf_adds(b, "\n");
}

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};

char *sova_metrics_render(size_t *len)
{
	sova_sbuf b = {0};
	unsigned long long dropped = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nfamilies; i++) {
		family *f = &families[i];
		dropped += f->dropped;
		sova_sbuf_printf(&b, "# HELP %s ", f->name);
		add_help(&b, f->help);
		sova_sbuf_printf(&b, "\n# TYPE %s %s\n", f->name, TYPE_NAMES[f->kind]);
		for (int j = 0; j < f->nseries; j++) {
			series *s = &f->series[j];
			if (f->kind != SOVA_METRIC_HISTOGRAM) {
				add_sample(&b, f->name, "", s->labels, NULL, s->value);
				continue;
			}
			unsigned long long cum = 0;
			char le[48];
			for (int k = 0; k < f->nbuckets; k++) {
				cum += s->buckets[k];
				snprintf(le, sizeof le, "le=\"%g\"", f->bounds[k]);
				add_sample(&b, f->name, "_bucket", s->labels, le, (double)cum);
			}
			add_sample(&b, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
			add_sample(&b, f->name, "_sum", s->labels, NULL, s->value);
			add_sample(&b, f->name, "_count", s->labels, NULL, (double)s->count);
		}
	}
	pthread_mutex_unlock(&mu);
	sova_sbuf_adds(&b, "# HELP sova_metrics_series_dropped_total Observations not counted: their family had too many "
			   "series.\n# TYPE sova_metrics_series_dropped_total counter\n");
	add_sample(&b, "sova_metrics_series_dropped_total", "", "", NULL, (double)dropped);
	if (b.failed) {
		sova_sbuf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

static bool loopback(const char *peer)
{
	return peer && (strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 || strncmp(peer, "::ffff:127.", 11) == 0);
}

bool sova_metrics_authorized(const char *authorization, const char *peer, bool private_listener)
{
	const char *token = getenv("SOVA_METRICS_TOKEN");
	if (!token || !token[0]) {
		/* in production a proxy may well sit on loopback: there, the public port needs the token */
		const char *env = getenv("SOVA_ENV");
		bool production = env && strcmp(env, "production") == 0;
		return private_listener || (!production && loopback(peer));
	}
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	const char *given = authorization + 7;
	/* digests of both, compared in constant time: neither the token nor its length leaks */
	unsigned char want[crypto_generichash_BYTES], got[crypto_generichash_BYTES];
	crypto_generichash(want, sizeof want, (const unsigned char *)token, strlen(token), NULL, 0);
	crypto_generichash(got, sizeof got, (const unsigned char *)given, strlen(given), NULL, 0);
	return sodium_memcmp(want, got, sizeof want) == 0;
}

void sova_metrics_reset(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nfamilies; i++) {
		for (int j = 0; j < families[i].nseries; j++)
			free(families[i].series[j].labels);
		free(families[i].series);
	}
	nfamilies = 0;
	pthread_mutex_unlock(&mu);
}

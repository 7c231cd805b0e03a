#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void sova_log_line(const char *line, size_t len)
{
	pthread_mutex_lock(&log_lock);
	fwrite(line, 1, len, stderr);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void sova_iso_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

size_t sova_json_quote(char *buf, size_t size, const char *s)
{
	size_t n = 0;
#define PUT(c) do { if (n + 1 < size) buf[n] = (c); n++; } while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT((char)*p);
		} else if (*p < 0x20) {
			char esc[8];
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			for (char *e = esc; *e; e++)
				PUT(*e);
		} else {
			PUT((char)*p);
		}
	}
	PUT('"');
#undef PUT
	if (size > 0)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}

void sova_log(const char *level, const char *event, const char *msg)
{
	char ts[40], line[2048];
	char ev[256], m[1536];
	sova_iso_now(ts, sizeof ts);
	sova_json_quote(ev, sizeof ev, event ? event : "");
	int len;
	if (msg) {
		sova_json_quote(m, sizeof m, msg);
		len = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":%s,\"msg\":%s}",
			       ts, level, ev, m);
	} else {
		len = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":%s}", ts, level, ev);
	}
	if (len < 0)
		return;
	if ((size_t)len >= sizeof line)
		len = (int)strlen(line);
	sova_log_line(line, (size_t)len);
}

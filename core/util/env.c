#include "util/env.h"

#include <errno.h>
#include <stdlib.h>

const char *sova_env(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return (v && *v) ? v : fallback;
}

long sova_env_long(const char *name, long fallback, long min, long max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return fallback;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return fallback;
	return n;
}

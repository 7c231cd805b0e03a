/* The `metrics` table of sova.core: the process's Prometheus registry (core/util/metrics.h).
 * Declaring, counting and reading; every Lua state of the process counts into the same series.
 * Misuse (an undeclared metric, the wrong kind, a bad label) raises: it is a bug in platform Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind/sova_bind.h"
#include "http/metrics_server.h"
#include "util/metrics.h"

#define MAX_LABEL_PAIRS 8

typedef struct pair {
	const char *key, *value;
	size_t value_len;
} pair;

static int by_key(const void *a, const void *b) { return strcmp(((const pair *)a)->key, ((const pair *)b)->key); }

/* The table at idx (or nil: none) as rendered labels, keys sorted so {a=,b=} and {b=,a=} are one
 * series. Values are strings or numbers. */
static void check_labels(lua_State *L, int idx, char *out, size_t outlen)
{
	out[0] = '\0';
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	pair pairs[MAX_LABEL_PAIRS];
	char numbers[MAX_LABEL_PAIRS][32];
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "metrics: label names are strings");
		if (n == MAX_LABEL_PAIRS)
			luaL_error(L, "metrics: at most %d labels", MAX_LABEL_PAIRS);
		int t = lua_type(L, -1);
		if (t != LUA_TSTRING && t != LUA_TNUMBER)
			luaL_error(L, "metrics: label %s is a string or a number", lua_tostring(L, -2));
		pairs[n].key = lua_tostring(L, -2); /* the table keeps the key string alive */
		if (t == LUA_TSTRING) {
			pairs[n].value = lua_tolstring(L, -1, &pairs[n].value_len);
		} else { /* lua_tolstring would turn the table's number into a string under lua_next */
			int w = snprintf(numbers[n], sizeof numbers[n], "%.14g", lua_tonumber(L, -1));
			pairs[n].value = numbers[n];
			pairs[n].value_len = w > 0 ? (size_t)w : 0;
		}
		n++;
		lua_pop(L, 1);
	}
	qsort(pairs, (size_t)n, sizeof pairs[0], by_key);
	for (int i = 0; i < n; i++)
		if (!sova_metric_label(out, outlen, pairs[i].key, pairs[i].value, pairs[i].value_len))
			luaL_error(L, "metrics: label %s is no label name, or the labels are too long", pairs[i].key);
}

static int define(lua_State *L, sova_metric_kind kind)
{
	const char *name = luaL_checkstring(L, 1);
	const char *help = luaL_checkstring(L, 2);
	double buckets[SOVA_METRICS_MAX_BUCKETS];
	int nb = 0;
	if (kind == SOVA_METRIC_HISTOGRAM) {
		luaL_checktype(L, 3, LUA_TTABLE);
		nb = (int)lua_objlen(L, 3);
		if (nb > SOVA_METRICS_MAX_BUCKETS)
			return luaL_error(L, "metrics: %s: at most %d buckets", name, SOVA_METRICS_MAX_BUCKETS);
		for (int i = 0; i < nb; i++) {
			lua_rawgeti(L, 3, i + 1);
			if (!lua_isnumber(L, -1))
				return luaL_error(L, "metrics: %s: buckets are numbers", name);
			buckets[i] = lua_tonumber(L, -1);
			lua_pop(L, 1);
		}
	}
	char err[256];
	if (!sova_metric_define(name, kind, help, buckets, nb, err, sizeof err))
		return luaL_error(L, "metrics: %s", err);
	return 0;
}

/* counter(name, help) / gauge(name, help) / histogram(name, help, {upper bounds}) */
static int l_counter(lua_State *L) { return define(L, SOVA_METRIC_COUNTER); }
static int l_gauge(lua_State *L) { return define(L, SOVA_METRIC_GAUGE); }
static int l_histogram(lua_State *L) { return define(L, SOVA_METRIC_HISTOGRAM); }

typedef bool (*update_fn)(const char *, const char *, double, char *, size_t);

static int update(lua_State *L, update_fn fn, double v)
{
	const char *name = luaL_checkstring(L, 1);
	char labels[SOVA_METRICS_MAX_LABELS];
	check_labels(L, 2, labels, sizeof labels);
	char err[256];
	if (!fn(name, labels, v, err, sizeof err))
		return luaL_error(L, "metrics: %s", err);
	return 0;
}

/* inc(name[, labels][, n = 1]): a counter or a gauge goes up by n (a gauge may go down) */
static int l_inc(lua_State *L) { return update(L, sova_metric_add, luaL_optnumber(L, 3, 1)); }
/* set(name, labels, v): a gauge */
static int l_set(lua_State *L) { return update(L, sova_metric_set, luaL_checknumber(L, 3)); }
/* observe(name, labels, v): a histogram */
static int l_observe(lua_State *L) { return update(L, sova_metric_observe, luaL_checknumber(L, 3)); }

/* render() -> the registry in Prometheus' text format */
static int l_render(lua_State *L)
{
	size_t len = 0;
	char *text = sova_metrics_render(&len); /* owned; freed once pushed */
	if (!text)
		return luaL_error(L, "metrics: out of memory");
	lua_pushlstring(L, text, len);
	free(text);
	return 1;
}

/* authorized(authorization header | nil, peer address) -> may this request read the metrics on
 * a public port (sova_metrics_authorized) */
static int l_authorized(lua_State *L)
{
	const char *auth = luaL_optstring(L, 1, NULL);
	const char *peer = luaL_optstring(L, 2, NULL);
	lua_pushboolean(L, sova_metrics_authorized(auth, peer, false));
	return 1;
}

/* listen(host, port) -> the port listened on | nil, err: the private listener */
static int l_listen(lua_State *L)
{
	const char *host = luaL_checkstring(L, 1);
	lua_Integer port = luaL_checkinteger(L, 2);
	if (port < 0 || port > 65535)
		return luaL_error(L, "metrics.listen: a port is 0 to 65535");
	char err[256];
	int bound = sova_metrics_listen(host, (int)port, err, sizeof err);
	if (bound < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushinteger(L, bound);
	return 1;
}

int sova_open_metrics(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"counter", l_counter}, {"gauge", l_gauge},   {"histogram", l_histogram},   {"inc", l_inc},
		{"set", l_set},         {"observe", l_observe}, {"render", l_render}, {"authorized", l_authorized},
		{"listen", l_listen},   {NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}

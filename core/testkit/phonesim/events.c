/* The events file (events.h). */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bot/speech/provider_util.h"
#include "phonesim.h"

static FILE *out; /* owned; NULL: events off */

bool ps_events_open(const char *path, char *err, size_t errlen)
{
	if (!path)
		return true;
	out = fopen(path, "a");
	if (!out)
		snprintf(err, errlen, "cannot open the events file %s: %s", path, strerror(errno));
	return out != NULL;
}

void ps_events_close(void)
{
	if (out)
		fclose(out);
	out = NULL;
}

static void key(ps_ev *e, const char *k)
{
	sova_sbuf_add(&e->b, ",", 1);
	sova_sbuf_json_string(&e->b, k, strlen(k));
	sova_sbuf_add(&e->b, ":", 1);
}

void ps_ev_begin(ps_ev *e, const char *call_sid, const char *event)
{
	memset(e, 0, sizeof *e);
	sova_sbuf_printf(&e->b, "{\"t_ms\":%lld", (long long)((ps_now_us() - ps_started_us) / 1000));
	if (call_sid)
		ps_ev_str(e, "call", call_sid);
	ps_ev_str(e, "event", event);
}

void ps_ev_str(ps_ev *e, const char *k, const char *value)
{
	key(e, k);
	if (value)
		sova_sbuf_json_string(&e->b, value, strlen(value));
	else
		sova_sbuf_adds(&e->b, "null");
}

void ps_ev_int(ps_ev *e, const char *k, long long value)
{
	key(e, k);
	sova_sbuf_printf(&e->b, "%lld", value);
}

void ps_ev_bool(ps_ev *e, const char *k, bool value)
{
	key(e, k);
	sova_sbuf_adds(&e->b, value ? "true" : "false");
}

void ps_ev_end(ps_ev *e)
{
	sova_sbuf_add(&e->b, "}\n", 2);
	if (out && !e->b.failed) {
		fputs(e->b.data, out);
		fflush(out);
	}
	sova_sbuf_free(&e->b);
}

/* The events file (--events FILE): one JSON object a line for everything that happens to a call,
 * written as it happens and flushed, so a spec can read it while the simulator runs:
 *   {"t_ms":1234,"call":"CA…","event":"callback","kind":"status","status":"ringing","seq":1,"code":200}
 * t_ms counts from the simulator's start (monotonic). The file holds test data only (scripted
 * callees' lines, digits pressed): nothing of it goes to the log. Plain C. */
#ifndef SOVA_PHONESIM_EVENTS_H
#define SOVA_PHONESIM_EVENTS_H
#include <stdbool.h>
#include <stddef.h>

#include "util/sbuf.h"

/* NULL path: events are built and dropped. false with err when the file cannot be opened. */
bool ps_events_open(const char *path, char *err, size_t errlen);
void ps_events_close(void);

typedef struct ps_ev {
	sova_sbuf b;
} ps_ev;

/* call_sid may be NULL (an event of the simulator itself). */
void ps_ev_begin(ps_ev *e, const char *call_sid, const char *event);
void ps_ev_str(ps_ev *e, const char *key, const char *value); /* NULL value: null */
void ps_ev_int(ps_ev *e, const char *key, long long value);
void ps_ev_bool(ps_ev *e, const char *key, bool value);
/* Writes the line (when events are on) and frees the buffer. */
void ps_ev_end(ps_ev *e);
#endif

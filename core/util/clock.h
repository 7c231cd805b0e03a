/* Time for waits and deadlines. */
#ifndef SOVA_CLOCK_H
#define SOVA_CLOCK_H
#include <time.h>

/* The CLOCK_REALTIME instant ms milliseconds from now, for pthread_cond_timedwait. */
void sova_deadline_after(struct timespec *out, int ms);
/* Milliseconds on CLOCK_MONOTONIC. */
double sova_monotonic_ms(void);
#endif

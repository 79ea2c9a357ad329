/* clock.h - the time as seconds in a double: the one reading of a clock in
 * ROMA.  Durations are differences of roma_now() (CLOCK_MONOTONIC: a step
 * of the wall clock must not bend them). */
#ifndef ROMA_CLOCK_H
#define ROMA_CLOCK_H

#include <time.h>

/* Seconds on clock (CLOCK_MONOTONIC, CLOCK_REALTIME, ...). */
double roma_clock_seconds(clockid_t clock);

/* Seconds on CLOCK_MONOTONIC. */
double roma_now(void);

#endif

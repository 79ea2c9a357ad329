/* duration.h - "2s", "500ms", "1.5", "100us", "1m": the one parser of
 * durations in ROMA (config files, flags).  A bare number is seconds. */
#ifndef ROMA_DURATION_H
#define ROMA_DURATION_H

/* Returns 0 and *seconds (> 0 or 0), or -1 when text is not a duration. */
int roma_parse_duration(const char *text, double *seconds);

#endif

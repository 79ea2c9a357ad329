/* vpa.h - a baseline that sizes CPU workers as Kubernetes' Vertical Pod
 * Autoscaler does (controller kind `vpa`, controller.h): from a percentile
 * of the CPU the worker recently used, plus a safety margin, recomputed
 * every minute, with no look at response times or SLAs.
 *
 * The Vertical Pod Autoscaler's recommender keeps a histogram of each
 * container's CPU usage samples and recommends, once a minute, its 90th
 * percentile with a 15% margin (its defaults: target-cpu-percentile 0.9,
 * recommendation-margin-fraction 0.15, recommender-interval 1m).  Here the
 * samples are one per control window (the cores the worker used on average
 * over it: CPU seconds / window seconds), the last ROMA_VPA_SAMPLES of them
 * (5 minutes at a 1 s period; VPA keeps days, with decay: for runs of
 * minutes that is all of the history either way), and each recommendation
 * is actuated at once (VPA's in-place mode; ROMA's node normalisation then
 * applies as for every kind).
 *
 * As with VPA, a worker held at its quota can use no more than its cores,
 * so a model short of cores grows by at most the margin a recommendation:
 * that is the baseline's known weakness, not an error here.
 *
 * Pure functions over the caller's state: no globals, no clock, no I/O.
 */
#ifndef ROMA_VPA_H
#define ROMA_VPA_H

#include <stddef.h>

#define ROMA_VPA_SAMPLES 300

typedef struct {
    double percentile; /* of the usage samples, in (0, 1] */
    double margin;     /* added as a fraction of the percentile */
    double interval;   /* seconds between recommendations */
} roma_vpa_params;

/* Kubernetes' defaults: 0.9, 0.15, 60 s. */
roma_vpa_params roma_vpa_default_params(void);

/* Per worker, kept between windows; all zero is a valid start (no counter
 * read yet, no samples, a minute to the first recommendation). */
typedef struct {
    double samples[ROMA_VPA_SAMPLES]; /* cores used, one per window (a ring) */
    size_t n, next;                   /* samples held; where the next goes */
    double cpu_last;                  /* the CPU counter at the last window's end */
    int have_cpu;                     /* cpu_last is set */
    double since;                     /* seconds since the last recommendation */
} roma_vpa_state;

/* The nearest-rank percentile p in (0, 1] of x[0..n-1] (x is not changed):
 * the smallest sample with at least p*n samples at or below it; 0 when n
 * is 0.  At most ROMA_VPA_SAMPLES samples. */
double roma_vpa_percentile(const double *x, size_t n, double p);

/* One window of `window` seconds ended with the worker's CPU counter (CPU
 * seconds used so far, restarts included; negative: not known) at
 * cpu_seconds.  Records the window's usage and, once `interval` seconds have
 * passed since the last recommendation, returns the new one:
 * ceil to 0.1 core of percentile * (1 + margin), clamped to [min, max].
 * Otherwise (and while no usage is known) returns `current`. */
double roma_vpa_update(const roma_vpa_params *p, roma_vpa_state *st, double cpu_seconds,
                       double window, double current, double min, double max);

#endif

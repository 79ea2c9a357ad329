/* stats.h - response-time statistics of a `roma bench` run, for one model.
 *
 * Definitions (DESIGN.md section 5):
 *   - percentiles are nearest-rank: the p-th percentile of n sorted values
 *     is the value at rank ceil(p/100 * n) (1-based), i.e. the smallest
 *     response time that at least p% of the requests did not exceed.  It
 *     is always a measured value, never an interpolation between two.
 *   - a request violates its SLA when its response time > SLA (equal is
 *     fine); violation_rate is the share of requests that do.
 *   - time is cut into windows [k*w, (k+1)*w) by each request's scheduled
 *     send time; a window violates when the mean response time of its
 *     requests > SLA.  window_violation_rate is the share of violating
 *     windows among those holding at least one request (a window in which
 *     nothing was sent or answered says nothing about the SLA).
 *     window_p95_violation_rate does the same with each window's 95th
 *     percentile in place of its mean (a percentile SLA).
 *
 * Pure functions of their arguments; any thread.  Times in seconds.
 */
#ifndef ROMA_BENCH_STATS_H
#define ROMA_BENCH_STATS_H

#include <stddef.h>

typedef struct {
    size_t n;                     /* requests summarized */
    double mean, p50, p95, p99;   /* NAN when n == 0 */
    double violation_rate;        /* NAN when n == 0 */
    double window_violation_rate; /* NAN when windows == 0 */
    double window_p95_violation_rate; /* windows whose 95th percentile > SLA (the
                                         percentile SLA of `sla_percentile: 95`) */
    size_t windows, windows_violated;
} bench_stats;

/* The nearest-rank p-th percentile (0 <= p <= 100) of sorted[0..n);
 * p = 0 gives the minimum.  NAN when n == 0. */
double bench_stats_percentile(const double *sorted, size_t n, double p);

/* The arithmetic mean; NAN when n == 0. */
double bench_stats_mean(const double *x, size_t n);

/* The share of latency[0..n) strictly greater than sla; NAN when n == 0. */
double bench_stats_violation_rate(const double *latency, size_t n, double sla);

/* The share of windows of `window` seconds (> 0) whose mean latency > sla,
 * request i falling in window floor(when[i] / window) (when[i] >= 0).
 * *windows and *violated (if not NULL) receive the two counts.  NAN when
 * n == 0.  Costs O(n + number of windows) time and memory. */
double bench_stats_window_violation_rate(const double *when, const double *latency, size_t n,
                                         double window, double sla, size_t *windows,
                                         size_t *violated);

/* The same with the window's nearest-rank p-th percentile (0 < p <= 100)
 * in place of its mean: the share of windows that miss a percentile SLA.
 * Costs O(n log n) time and O(n + windows) memory. */
double bench_stats_window_percentile_violation_rate(const double *when, const double *latency,
                                                    size_t n, double window, double sla, double p);

/* All of the above for requests i < n (scheduled at when[i], answered
 * after latency[i]).  latency is not modified (a sorted copy is made). */
void bench_stats_summarize(const double *when, const double *latency, size_t n, double sla,
                           double window, bench_stats *out);

#endif

/* stats.c - see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double bench_stats_percentile(const double *sorted, size_t n, double p) {
    if (n == 0) return NAN;
    /* p * n / 100 rather than p / 100 * n: for whole p the product is an
     * exact integer, so a rank that is a whole number is not pushed over
     * by rounding (0.95 * 100 is not exactly 95). */
    double rank = ceil(p * (double)n / 100);
    if (rank < 1) rank = 1;
    if (rank > (double)n) rank = (double)n;
    return sorted[(size_t)rank - 1];
}

double bench_stats_mean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (double)n;
}

double bench_stats_violation_rate(const double *latency, size_t n, double sla) {
    if (n == 0) return NAN;
    size_t slow = 0;
    for (size_t i = 0; i < n; i++) slow += latency[i] > sla;
    return (double)slow / (double)n;
}

static int double_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Requests as (window, latency) pairs, sorted by window then latency, so
 * that each window is one sorted run. */
typedef struct {
    size_t window;
    double latency;
} windowed;

static int windowed_cmp(const void *a, const void *b) {
    const windowed *x = a, *y = b;
    if (x->window != y->window) return (x->window > y->window) - (x->window < y->window);
    return double_cmp(&x->latency, &y->latency);
}

double bench_stats_window_percentile_violation_rate(const double *when, const double *latency,
                                                    size_t n, double window, double sla, double p) {
    windowed *all = malloc((n ? n : 1) * sizeof(*all));
    double *run = malloc((n ? n : 1) * sizeof(*run));
    if (!all || !run) abort();
    for (size_t i = 0; i < n; i++) all[i] = (windowed){(size_t)(when[i] / window), latency[i]};
    qsort(all, n, sizeof(*all), windowed_cmp);
    size_t used = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        for (size_t k = all[i].window; i < n && all[i].window == k; i++) run[len++] = all[i].latency;
        used++;
        bad += bench_stats_percentile(run, len, p) > sla;
    }
    free(all);
    free(run);
    return used ? (double)bad / (double)used : NAN;
}

double bench_stats_window_violation_rate(const double *when, const double *latency, size_t n,
                                         double window, double sla, size_t *windows,
                                         size_t *violated) {
    size_t nwin = 0, bad = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(when[i] / window);
        if (k + 1 > nwin) nwin = k + 1;
    }
    double *sum = calloc(nwin ? nwin : 1, sizeof(*sum));
    size_t *count = calloc(nwin ? nwin : 1, sizeof(*count));
    if (!sum || !count) abort(); /* as roma_buf: out of memory ends the run */
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(when[i] / window);
        sum[k] += latency[i];
        count[k]++;
    }
    for (size_t k = 0; k < nwin; k++) {
        if (!count[k]) continue;
        used++;
        bad += sum[k] / (double)count[k] > sla;
    }
    free(sum);
    free(count);
    if (windows) *windows = used;
    if (violated) *violated = bad;
    return used ? (double)bad / (double)used : NAN;
}


void bench_stats_summarize(const double *when, const double *latency, size_t n, double sla,
                           double window, bench_stats *out) {
    memset(out, 0, sizeof(*out));
    out->n = n;
    double *sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (!sorted) abort();
    if (n) memcpy(sorted, latency, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), double_cmp);
    out->mean = bench_stats_mean(latency, n);
    out->p50 = bench_stats_percentile(sorted, n, 50);
    out->p95 = bench_stats_percentile(sorted, n, 95);
    out->p99 = bench_stats_percentile(sorted, n, 99);
    out->violation_rate = bench_stats_violation_rate(latency, n, sla);
    out->window_violation_rate = bench_stats_window_violation_rate(
        when, latency, n, window, sla, &out->windows, &out->windows_violated);
    out->window_p95_violation_rate =
        bench_stats_window_percentile_violation_rate(when, latency, n, window, sla, 95);
    free(sorted);
}

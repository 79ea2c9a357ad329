/* vpa.c - the Vertical-Pod-Autoscaler-like baseline (see vpa.h). */
#include "control/vpa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

roma_vpa_params roma_vpa_default_params(void) {
    return (roma_vpa_params){.percentile = 0.9, .margin = 0.15, .interval = 60};
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double roma_vpa_percentile(const double *x, size_t n, double p) {
    double sorted[ROMA_VPA_SAMPLES];
    if (n == 0) return 0;
    if (n > ROMA_VPA_SAMPLES) n = ROMA_VPA_SAMPLES;
    memcpy(sorted, x, n * sizeof(*x));
    qsort(sorted, n, sizeof(*sorted), cmp_double);
    /* nearest rank: ceil(p*n), less a hair so that 0.9 * 10 is rank 9, not 10 */
    double rank = ceil(p * (double)n - 1e-9);
    size_t k = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[k < n ? k : n - 1];
}

double roma_vpa_update(const roma_vpa_params *p, roma_vpa_state *st, double cpu_seconds,
                       double window, double current, double min, double max) {
    if (!(cpu_seconds >= 0) || !(window > 0)) return current; /* nothing measured */
    if (st->have_cpu) {
        /* a counter that went back (it never should) counts as no use */
        double used = fmax(cpu_seconds - st->cpu_last, 0) / window;
        st->samples[st->next] = used;
        st->next = (st->next + 1) % ROMA_VPA_SAMPLES;
        if (st->n < ROMA_VPA_SAMPLES) st->n++;
        st->since += window;
    }
    st->cpu_last = cpu_seconds;
    st->have_cpu = 1;
    /* the tolerance lets 60 windows of 1 s (summed in doubles) make a minute */
    if (st->n == 0 || st->since < p->interval - 1e-6) return current;
    st->since = 0;
    double target = roma_vpa_percentile(st->samples, st->n, p->percentile) * (1 + p->margin);
    /* to the controllers' 0.1-core grid, rounding up as roma's law does */
    target = ceil(target * 10 - 1e-9) / 10;
    return target < min ? min : target > max ? max : target;
}

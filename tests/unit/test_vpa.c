/* test_vpa.c - the Vertical-Pod-Autoscaler-like baseline (control/vpa.h):
 * the nearest-rank percentile on hand-sorted samples; a recommendation only
 * once a minute, from the 90th percentile of per-window usage plus 15%,
 * rounded up to a tenth and clamped (known answers computed in the
 * comments); the ring forgetting old samples; an unknown counter holding;
 * and the kind `vpa` through roma_ctl_update, node normalisation included. */
#include "unit.h"

#include <math.h>

#include "control/controller.h"
#include "control/vpa.h"

static void test_percentile(void **state) {
    (void)state;
    const double five[] = {5, 1, 4, 2, 3};
    double ten[10];
    for (int i = 0; i < 10; i++) ten[i] = 10 - i; /* 10 .. 1 */
    /* nearest rank ceil(p*n): 0.9*5 = 4.5 -> 5th; 0.5*5 = 2.5 -> 3rd;
     * 0.2*5 = 1 -> 1st; 0.9*10 = 9 -> 9th (not the 10th) */
    CHECK_NEAR("p90 of 5", roma_vpa_percentile(five, 5, 0.9), 5);
    CHECK_NEAR("p50 of 5", roma_vpa_percentile(five, 5, 0.5), 3);
    CHECK_NEAR("p20 of 5", roma_vpa_percentile(five, 5, 0.2), 1);
    CHECK_NEAR("p90 of 10", roma_vpa_percentile(ten, 10, 0.9), 9);
    CHECK_NEAR("p100 of 10", roma_vpa_percentile(ten, 10, 1), 10);
    CHECK_NEAR("none", roma_vpa_percentile(ten, 0, 0.9), 0);
    CHECK_NEAR("input unchanged", ten[0], 10);
}

/* Feeds `windows` windows of 1 s, each using usage[i % n] cores; returns
 * the last answer and counts the answers that differed from `current`. */
static double feed(const roma_vpa_params *p, roma_vpa_state *st, double *counter, const double *usage,
                   size_t n, size_t windows, double current, int *changes) {
    double out = current;
    for (size_t i = 0; i < windows; i++) {
        *counter += usage[i % n];
        out = roma_vpa_update(p, st, *counter, 1, current, 0.2, 2);
        if (fabs(out - current) > 1e-9) (*changes)++;
    }
    return out;
}

static void test_once_a_minute_p90_plus_margin(void **state) {
    (void)state;
    roma_vpa_params p = roma_vpa_default_params();
    CHECK_NEAR("percentile", p.percentile, 0.9);
    CHECK_NEAR("margin", p.margin, 0.15);
    CHECK_NEAR("interval", p.interval, 60);
    static const struct {
        const char *name;
        size_t high;     /* windows at 1.0 core out of 60; the rest at 0.2 */
        double want;
    } cases[] = {
        /* 6 of 60 high: the 54th smallest is 0.2; 0.2 * 1.15 = 0.23 -> 0.3 */
        {"6 of 60 windows busy", 6, 0.3},
        /* 7 of 60 high: the 54th smallest is 1.0; 1.15 -> 1.2 */
        {"7 of 60 windows busy", 7, 1.2},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        double usage[60];
        for (size_t i = 0; i < 60; i++) usage[i] = i < cases[c].high ? 1.0 : 0.2;
        roma_vpa_state st = {0};
        double counter = 5; /* the worker used 5 s before: only deltas count */
        int changes = 0;
        /* the first window only reads the counter; then 59 measured windows
         * hold the current 0.6 cores */
        CHECK_NEAR(cases[c].name, roma_vpa_update(&p, &st, counter, 1, 0.6, 0.2, 2), 0.6);
        CHECK_NEAR(cases[c].name, feed(&p, &st, &counter, usage, 60, 59, 0.6, &changes), 0.6);
        CASE_CHECK_INT(cases[c].name, changes, 0);
        /* the 60th measured window: a minute, the recommendation */
        counter += usage[59];
        CHECK_NEAR(cases[c].name, roma_vpa_update(&p, &st, counter, 1, 0.6, 0.2, 2), cases[c].want);
        /* and then nothing for another minute */
        changes = 0;
        feed(&p, &st, &counter, usage, 60, 59, 0.6, &changes);
        CASE_CHECK_INT(cases[c].name, changes, 0);
    }
}

static void test_clamped_and_forgetting(void **state) {
    (void)state;
    roma_vpa_params p = roma_vpa_default_params();
    roma_vpa_state st = {0};
    double counter = 0, hot = 3, cold = 0.05;
    int changes = 0;
    roma_vpa_update(&p, &st, counter, 1, 1, 0.2, 2);
    /* 3 cores used (two workers' worth: a counter over restarts can): 3.45 -> max 2 */
    CHECK_NEAR("to max", feed(&p, &st, &counter, &hot, 1, 60, 1, &changes), 2);
    /* after ROMA_VPA_SAMPLES idle windows the busy ones are forgotten:
     * 0.05 * 1.15 = 0.0575 -> 0.1 -> min 0.2 */
    double last = feed(&p, &st, &counter, &cold, 1, ROMA_VPA_SAMPLES, 1, &changes);
    CHECK_NEAR("to min", last, 0.2);
    /* with the busy windows still among the last ROMA_VPA_SAMPLES, they count */
    roma_vpa_state st2 = {0};
    counter = 0;
    roma_vpa_update(&p, &st2, counter, 1, 1, 0.2, 2);
    feed(&p, &st2, &counter, &hot, 1, 60, 1, &changes);
    feed(&p, &st2, &counter, &cold, 1, ROMA_VPA_SAMPLES - 60, 1, &changes); /* 240: a multiple of 60 */
    CHECK_NEAR("remembers", st2.n, ROMA_VPA_SAMPLES);
    /* 60 busy of 300: 20%, so the 270th smallest is still a busy one */
    CHECK_NEAR("p90 still busy", roma_vpa_percentile(st2.samples, st2.n, 0.9), 3);
}

static void test_unknown_usage_holds(void **state) {
    (void)state;
    roma_vpa_params p = roma_vpa_default_params();
    roma_vpa_state st = {0};
    for (int i = 0; i < 200; i++) {
        CHECK_NEAR("unknown counter", roma_vpa_update(&p, &st, -1, 1, 0.7, 0.2, 2), 0.7);
        CHECK_NEAR("no window", roma_vpa_update(&p, &st, i, 0, 0.7, 0.2, 2), 0.7);
        CHECK_NEAR("NaN counter", roma_vpa_update(&p, &st, NAN, 1, 0.7, 0.2, 2), 0.7);
    }
    CASE_CHECK_INT("no samples", (int)st.n, 0);
    /* a counter that goes back counts as no use, never as negative */
    roma_vpa_update(&p, &st, 10, 1, 0.7, 0.2, 2);
    roma_vpa_update(&p, &st, 4, 1, 0.7, 0.2, 2);
    CHECK_NEAR("no negative usage", st.samples[0], 0);
}

/* The kind `vpa` through the controller: usage from cpu_seconds and window,
 * then node normalisation as for every kind. */
static void test_vpa_kind_on_a_node(void **state) {
    (void)state;
    roma_ctl_model m[2];
    for (int i = 0; i < 2; i++) {
        m[i] = (roma_ctl_model){.sla = 1, .min = 0.2, .max = 2, .initial = 0.6};
        roma_ctl_init(&m[i]);
    }
    /* model 0 uses 1.5 cores a window, model 1 0.5; windows of 1 s */
    for (int t = 0; t <= 60; t++) {
        m[0].cpu_seconds = 1.5 * t, m[0].window = 1;
        m[1].cpu_seconds = 0.5 * t, m[1].window = 1;
        roma_ctl_update(ROMA_CTL_VPA, NULL, m, 2, 2);
        if (t < 60) {
            CHECK_NEAR("holds initial", m[0].cores, 0.6);
            CHECK_NEAR("holds initial", m[1].cores, 0.6);
        }
    }
    /* proposals 1.5 * 1.15 = 1.725 -> 1.8 and 0.575 -> 0.6: 2.4 > 2 cpus,
     * scaled by 2/2.4: 1.5 and 0.5 */
    CHECK_NEAR("proposal 0", m[0].cores_before_norm, 1.8);
    CHECK_NEAR("proposal 1", m[1].cores_before_norm, 0.6);
    CHECK_NEAR("cores 0", m[0].cores, 1.5);
    CHECK_NEAR("cores 1", m[1].cores, 0.5);
    /* roma_ctl_init forgets the samples */
    roma_ctl_init(&m[0]);
    CASE_CHECK_INT("init resets", (int)m[0].vpa.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_once_a_minute_p90_plus_margin),
        cmocka_unit_test(test_clamped_and_forgetting),
        cmocka_unit_test(test_unknown_usage_holds),
        cmocka_unit_test(test_vpa_kind_on_a_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

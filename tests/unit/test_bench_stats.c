/* test_bench_stats.c - roma bench's response-time statistics (src/bench/stats.h).
 *
 * Covers: nearest-rank percentiles on hand-computed inputs (1..100, ten
 * values where p95 and p99 are the maximum, a single value, p0 and p100,
 * whole ranks not pushed over by rounding, empty input); the mean; the
 * violation rate (equal to the SLA is no violation); the window violation
 * rate (windows by scheduled time, empty windows not counted, the window
 * edge belonging to the next window, a window violating on its mean while
 * most of its requests meet the SLA); and bench_stats_summarize on
 * unsorted input, which it must leave unchanged, and on no requests.
 */
#include "unit.h"

#include <math.h>

#include "bench/stats.h"

static void test_percentiles(void **state) {
    double hundred[100];
    for (int i = 0; i < 100; i++) hundred[i] = i + 1;
    static const struct {
        double p, want;
    } on_hundred[] = {{0, 1}, {1, 1}, {50, 50}, {95, 95}, {99, 99}, {99.5, 100}, {100, 100}, {0.5, 1}};
    for (size_t i = 0; i < ARRAY_LEN(on_hundred); i++) {
        char name[32];
        snprintf(name, sizeof(name), "1..100 p%g", on_hundred[i].p);
        CHECK_NEAR_TOL(name, bench_stats_percentile(hundred, 100, on_hundred[i].p), on_hundred[i].want, 1e-12);
    }
    /* Ten values: p50 is rank 5, p95 and p99 rank 10 (ceil(9.5), ceil(9.9)). */
    const double ten[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 5.0};
    CHECK_NEAR_TOL("ten p50", bench_stats_percentile(ten, 10, 50), 0.5, 1e-12);
    CHECK_NEAR_TOL("ten p90", bench_stats_percentile(ten, 10, 90), 0.9, 1e-12);
    CHECK_NEAR_TOL("ten p95", bench_stats_percentile(ten, 10, 95), 5.0, 1e-12);
    CHECK_NEAR_TOL("ten p99", bench_stats_percentile(ten, 10, 99), 5.0, 1e-12);
    /* Twenty values: p95 is rank 19 exactly (not 20 by rounding 0.95 * 20). */
    double twenty[20];
    for (int i = 0; i < 20; i++) twenty[i] = i + 1;
    CHECK_NEAR_TOL("twenty p95", bench_stats_percentile(twenty, 20, 95), 19, 1e-12);
    CHECK_NEAR_TOL("twenty p55", bench_stats_percentile(twenty, 20, 55), 11, 1e-12);
    const double one[] = {0.25};
    CHECK_NEAR_TOL("one p50", bench_stats_percentile(one, 1, 50), 0.25, 1e-12);
    CHECK_NEAR_TOL("one p99", bench_stats_percentile(one, 1, 99), 0.25, 1e-12);
    assert_true(isnan(bench_stats_percentile(NULL, 0, 50)));
}

static void test_mean_and_violations(void **state) {
    const double x[] = {0.1, 0.2, 0.3, 0.2, 0.7};
    CHECK_NEAR_TOL("mean", bench_stats_mean(x, 5), 0.3, 1e-12);
    assert_true(isnan(bench_stats_mean(NULL, 0)));
    /* SLA 0.2: 0.3 and 0.7 violate, the two 0.2 (equal) do not. */
    CHECK_NEAR_TOL("violations at 0.2", bench_stats_violation_rate(x, 5, 0.2), 0.4, 1e-12);
    CHECK_NEAR_TOL("violations at 1", bench_stats_violation_rate(x, 5, 1), 0, 1e-12);
    CHECK_NEAR_TOL("violations at 0", bench_stats_violation_rate(x, 5, 0), 1, 1e-12);
    assert_true(isnan(bench_stats_violation_rate(NULL, 0, 1)));
}

static void test_window_violations(void **state) {
    /* Windows of 2 s, SLA 0.5:
     *   [0,2): 0.1 0.2 0.3        mean 0.2   ok
     *   [2,4): 0.1 0.1 0.1 1.7    mean 0.5   ok (equal), though 1.7 violates
     *   [4,6): nothing            not counted
     *   [6,8): 0.9 (sent at 6.0, the edge belongs here)  mean 0.9  violates
     *   [8,10): 0.2 0.4 1.5       mean 0.7   violates, though 2 of 3 meet the SLA */
    const double when[] = {0, 0.5, 1.99, 2, 2.5, 3, 3.9, 6.0, 8, 9, 9.99};
    const double lat[] = {0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 1.7, 0.9, 0.2, 0.4, 1.5};
    size_t windows = 0, violated = 0;
    double r = bench_stats_window_violation_rate(when, lat, 11, 2, 0.5, &windows, &violated);
    assert_int_equal(windows, 4);
    assert_int_equal(violated, 2);
    CHECK_NEAR_TOL("rate", r, 0.5, 1e-12);
    /* One big window: mean of all. */
    r = bench_stats_window_violation_rate(when, lat, 11, 100, 0.5, &windows, &violated);
    assert_int_equal(windows, 1);
    CHECK_NEAR_TOL("one window", r, 1, 1e-12); /* mean 5.6 / 11 = 0.509 > 0.5 */
    /* Order of the input does not matter. */
    const double when_r[] = {9.99, 6.0, 0};
    const double lat_r[] = {1.5, 0.9, 0.1};
    CHECK_NEAR_TOL("reversed", bench_stats_window_violation_rate(when_r, lat_r, 3, 2, 0.5, NULL, NULL),
               2.0 / 3, 1e-12);
    assert_true(isnan(bench_stats_window_violation_rate(NULL, NULL, 0, 2, 0.5, &windows, &violated)));
    assert_int_equal(windows, 0);
}

static void test_summarize(void **state) {
    const double when[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    double lat[] = {0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 1.0};
    double copy[10];
    memcpy(copy, lat, sizeof(lat));
    bench_stats st;
    bench_stats_summarize(when, lat, 10, 0.55, 5, &st);
    assert_memory_equal(lat, copy, sizeof(lat)); /* not sorted in place */
    assert_int_equal(st.n, 10);
    CHECK_NEAR_TOL("mean", st.mean, 0.55, 1e-12);
    CHECK_NEAR_TOL("p50", st.p50, 0.5, 1e-12);
    CHECK_NEAR_TOL("p95", st.p95, 1.0, 1e-12);
    CHECK_NEAR_TOL("p99", st.p99, 1.0, 1e-12);
    CHECK_NEAR_TOL("violation", st.violation_rate, 0.5, 1e-12); /* 0.6 .. 1.0 */
    /* [0,5): 0.9 0.1 0.8 0.2 0.7 mean 0.54 ok; [5,10): 0.3 0.6 0.4 0.5 1.0 mean 0.56 violates. */
    assert_int_equal(st.windows, 2);
    assert_int_equal(st.windows_violated, 1);
    CHECK_NEAR_TOL("window violation", st.window_violation_rate, 0.5, 1e-12);

    bench_stats_summarize(NULL, NULL, 0, 0.1, 2, &st);
    assert_int_equal(st.n, 0);
    assert_true(isnan(st.mean) && isnan(st.p50) && isnan(st.p99));
    assert_true(isnan(st.violation_rate) && isnan(st.window_violation_rate));
}

/* Window percentile violations, by hand: window 0 holds 0.1, 0.2, 0.9 (mean
 * 0.4, p95 0.9, p50 0.2), window 1 holds 0.3, 0.4 (p95 0.4); SLA 0.5. */
static void test_window_percentile_violations(void **state) {
    (void)state;
    const double when[] = {0.1, 2.5, 0.2, 2.6, 0.3}, lat[] = {0.1, 0.3, 0.2, 0.4, 0.9};
    CHECK_NEAR("p95", bench_stats_window_percentile_violation_rate(when, lat, 5, 2, 0.5, 95), 0.5);
    CHECK_NEAR("p50", bench_stats_window_percentile_violation_rate(when, lat, 5, 2, 0.5, 50), 0);
    CHECK_NEAR("mean", bench_stats_window_violation_rate(when, lat, 5, 2, 0.5, NULL, NULL), 0);
    assert_true(isnan(bench_stats_window_percentile_violation_rate(when, lat, 0, 2, 0.5, 95)));
    bench_stats st;
    bench_stats_summarize(when, lat, 5, 0.5, 2, &st);
    CHECK_NEAR("summary", st.window_p95_violation_rate, 0.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_mean_and_violations),
        cmocka_unit_test(test_window_violations),
        cmocka_unit_test(test_summarize),
        cmocka_unit_test(test_window_percentile_violations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

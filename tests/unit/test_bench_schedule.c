/* test_bench_schedule.c - roma bench's send schedule (src/bench/schedule.h).
 *
 * Covers: arrival-process names; profile checks naming the bad parameter;
 * rate(t) and E(t) of every profile kind on hand-computed points; constant
 * arrivals (exact count and spacing, fractional expected counts, the
 * `until` cut); Poisson arrivals (mean count and inter-arrival CV within
 * tolerance for a fixed seed, identical for one seed, different for
 * another); step, ramp and sine shapes (sends per interval equal to E's
 * growth over it, within one for constant arrivals and a few standard
 * deviations for Poisson); trace replay (exact times and models, header,
 * comments, blank lines, CRLF, `until`, and errors naming file and line);
 * sorting with ties by model; and the size limit.
 */
#include "unit.h"

#include <math.h>

#include "bench/schedule.h"

static bench_profile constant(double rate, double duration) {
    return (bench_profile){.kind = BENCH_PROFILE_CONSTANT, .rate = rate, .duration = duration};
}

static bench_profile ramp(double from, double to, double duration) {
    return (bench_profile){.kind = BENCH_PROFILE_RAMP, .from = from, .to = to, .duration = duration};
}

static bench_profile sine(double mean, double amplitude, double period, double duration) {
    return (bench_profile){.kind = BENCH_PROFILE_SINE, .mean = mean, .amplitude = amplitude,
                           .period = period, .duration = duration};
}

/* Builds the schedule of one profile; fails the test on error. */
static bench_schedule build(const bench_profile *p, bench_arrivals a, uint64_t seed) {
    bench_schedule s = BENCH_SCHEDULE_INIT;
    roma_err err = {""};
    if (bench_schedule_add_profile(&s, p, a, seed, 0, INFINITY, &err) != ROMA_OK)
        fail_msg("add_profile failed: %s", err.msg);
    return s;
}

static size_t count_in(const bench_schedule *s, double from, double to) {
    size_t n = 0;
    for (size_t i = 0; i < s->len; i++) n += s->sends[i].time >= from && s->sends[i].time < to;
    return n;
}

static void check_sorted(const char *name, const bench_schedule *s) {
    for (size_t i = 1; i < s->len; i++) CASE_CHECK(name, s->sends[i - 1].time <= s->sends[i].time);
}

/* Every interval [k*dt, (k+1)*dt) of [0, duration) holds E's growth over
 * it, within tol sends. */
static void check_shape(const char *name, const bench_profile *p, const bench_schedule *s, double dt,
                        double tol) {
    double d = bench_profile_duration(p);
    for (double t = 0; t < d - 1e-9; t += dt) {
        double want = bench_profile_expected(p, t + dt) - bench_profile_expected(p, t);
        char label[128];
        snprintf(label, sizeof(label), "%s [%g, %g)", name, t, t + dt);
        CHECK_NEAR_TOL(label, (double)count_in(s, t, t + dt), want, tol);
    }
    CASE_CHECK(name, s->len == 0 || s->sends[s->len - 1].time < d);
    check_sorted(name, s);
}

/* ---- names and checks ------------------------------------------------------ */

static void test_arrivals_names(void **state) {
    bench_arrivals a = BENCH_ARRIVALS_CONSTANT;
    roma_err err = {""};
    assert_int_equal(bench_arrivals_parse("poisson", &a, &err), ROMA_OK);
    assert_int_equal(a, BENCH_ARRIVALS_POISSON);
    assert_string_equal(bench_arrivals_name(a), "poisson");
    assert_int_equal(bench_arrivals_parse("constant", &a, &err), ROMA_OK);
    assert_int_equal(a, BENCH_ARRIVALS_CONSTANT);
    assert_string_equal(bench_arrivals_name(a), "constant");
    static const char *const bad[] = {"", "Poisson", "uniform", "constant "};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CASE_CHECK_INT(bad[i], bench_arrivals_parse(bad[i], &a, &err), ROMA_INVALID_ARGUMENT);
        check_contains(bad[i], err.msg, "constant or poisson");
    }
    assert_int_equal(bench_arrivals_parse(NULL, &a, &err), ROMA_INVALID_ARGUMENT);
    assert_string_equal(bench_profile_name(BENCH_PROFILE_SINE), "sine");
    assert_string_equal(bench_profile_name((bench_profile_kind)42), "unknown");
}

static void test_profile_check(void **state) {
    bench_step no_steps[1], bad_step[] = {{10, 1}, {5, 0}}, good_steps[] = {{0, 1}, {5, 2}};
    static struct {
        const char *name;
        bench_profile p;
        const char *msg; /* NULL: valid */
    } cases[] = {
        {"constant ok", {.kind = BENCH_PROFILE_CONSTANT, .rate = 0, .duration = 1}},
        {"constant negative", {.kind = BENCH_PROFILE_CONSTANT, .rate = -1, .duration = 1}, "'rate'"},
        {"constant nan", {.kind = BENCH_PROFILE_CONSTANT, .rate = NAN, .duration = 1}, "'rate'"},
        {"constant no duration", {.kind = BENCH_PROFILE_CONSTANT, .rate = 1, .duration = 0}, "constant: 'duration'"},
        {"ramp ok", {.kind = BENCH_PROFILE_RAMP, .from = 0, .to = 5, .duration = 1}},
        {"ramp from", {.kind = BENCH_PROFILE_RAMP, .from = -1, .to = 5, .duration = 1}, "'from'"},
        {"ramp to", {.kind = BENCH_PROFILE_RAMP, .from = 1, .to = INFINITY, .duration = 1}, "'to'"},
        {"sine ok", {.kind = BENCH_PROFILE_SINE, .mean = 5, .amplitude = 5, .period = 1, .duration = 2}},
        {"sine amplitude", {.kind = BENCH_PROFILE_SINE, .mean = 5, .amplitude = 6, .period = 1, .duration = 2}, "'amplitude'"},
        {"sine period", {.kind = BENCH_PROFILE_SINE, .mean = 5, .amplitude = 1, .period = 0, .duration = 2}, "'period'"},
        {"sine duration", {.kind = BENCH_PROFILE_SINE, .mean = 5, .amplitude = 1, .period = 1, .duration = -2}, "sine: 'duration'"},
        {"step none", {.kind = BENCH_PROFILE_STEP}, "at least one step"},
        {"step bad", {.kind = BENCH_PROFILE_STEP, .nsteps = 2}, "step 2"},
        {"step ok", {.kind = BENCH_PROFILE_STEP, .nsteps = 2}},
        {"unknown kind", {.kind = (bench_profile_kind)9, .duration = 1}, "unknown profile kind"},
    };
    cases[11].p.steps = no_steps;
    cases[12].p.steps = bad_step;
    cases[13].p.steps = good_steps;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {""};
        roma_code rc = bench_profile_check(&cases[i].p, &err);
        CASE_CHECK_INT(cases[i].name, rc, cases[i].msg ? ROMA_INVALID_ARGUMENT : ROMA_OK);
        if (cases[i].msg) check_contains(cases[i].name, err.msg, cases[i].msg);
    }
}

/* ---- rate(t) and E(t) ------------------------------------------------------- */

static void test_rate_and_expected(void **state) {
    bench_step steps[] = {{10, 5}, {50, 2}};
    bench_profile st = {.kind = BENCH_PROFILE_STEP, .steps = steps, .nsteps = 2};
    bench_profile c = constant(100, 10), r = ramp(0, 100, 10), sn = sine(50, 30, 4, 8);
    static const double tol = 1e-9;
    CHECK_NEAR_TOL("constant rate", bench_profile_rate(&c, 3), 100, tol);
    CHECK_NEAR_TOL("constant after end", bench_profile_rate(&c, 10), 0, tol);
    CHECK_NEAR_TOL("constant before start", bench_profile_rate(&c, -1), 0, tol);
    CHECK_NEAR_TOL("constant E", bench_profile_expected(&c, 2.5), 250, tol);
    CHECK_NEAR_TOL("constant E clamped", bench_profile_expected(&c, 99), 1000, tol);
    CHECK_NEAR_TOL("step duration", bench_profile_duration(&st), 7, tol);
    CHECK_NEAR_TOL("step rate 1", bench_profile_rate(&st, 4.99), 10, tol);
    CHECK_NEAR_TOL("step rate 2", bench_profile_rate(&st, 5), 50, tol);
    CHECK_NEAR_TOL("step E", bench_profile_expected(&st, 6), 10 * 5 + 50 * 1, tol);
    CHECK_NEAR_TOL("ramp rate", bench_profile_rate(&r, 2.5), 25, tol);
    CHECK_NEAR_TOL("ramp E", bench_profile_expected(&r, 4), 80, tol); /* 100/10 * 4^2 / 2 */
    CHECK_NEAR_TOL("ramp E end", bench_profile_expected(&r, 10), 500, tol);
    CHECK_NEAR_TOL("sine peak", bench_profile_rate(&sn, 1), 80, tol);
    CHECK_NEAR_TOL("sine trough", bench_profile_rate(&sn, 3), 20, tol);
    /* Over whole periods the sine adds nothing: E = mean * t. */
    CHECK_NEAR_TOL("sine E period", bench_profile_expected(&sn, 4), 200, tol);
    /* Over the rising half: 50*2 + 30*4/(2 pi) * (1 - cos(pi)) = 100 + 120/pi. */
    CHECK_NEAR_TOL("sine E half", bench_profile_expected(&sn, 2), 100 + 120 / M_PI, tol);
}

/* ---- constant arrivals --------------------------------------------------- */

static void test_constant_exact(void **state) {
    bench_profile p = constant(200, 3);
    bench_schedule s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 600);
    for (size_t i = 0; i < s.len; i++) {
        CHECK_NEAR_TOL("spacing", s.sends[i].time, (double)i / 200, 1e-12);
        assert_int_equal(s.sends[i].model, 0);
    }
    bench_schedule_free(&s);

    /* 3.5 expected in one second: sends at 0, 1/3.5, 2/3.5, 3/3.5. */
    p = constant(3.5, 1);
    s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 4);
    bench_schedule_free(&s);

    /* Cut at `until`, with a model index; appended after what is there. */
    p = constant(100, 10);
    roma_err err;
    assert_int_equal(bench_schedule_add_profile(&s, &p, BENCH_ARRIVALS_CONSTANT, 1, 3, 2.5, &err), ROMA_OK);
    assert_int_equal(bench_schedule_add_profile(&s, &p, BENCH_ARRIVALS_CONSTANT, 1, 4, 0.5, &err), ROMA_OK);
    assert_int_equal(s.len, 250 + 50);
    assert_int_equal(s.sends[0].model, 3);
    assert_int_equal(s.sends[250].model, 4);
    assert_true(s.sends[249].time < 2.5);
    bench_schedule_free(&s);

    /* Rate 0: nothing. */
    p = constant(0, 10);
    s = build(&p, BENCH_ARRIVALS_POISSON, 1);
    assert_int_equal(s.len, 0);
    bench_schedule_free(&s);
}

/* ---- Poisson arrivals ------------------------------------------------------ */

static void test_poisson_statistics(void **state) {
    bench_profile p = constant(1000, 10);
    bench_schedule s = build(&p, BENCH_ARRIVALS_POISSON, 42);
    /* 10000 expected, standard deviation 100: 4 sigma. */
    CHECK_NEAR_TOL("count", (double)s.len, 10000, 400);
    check_sorted("poisson", &s);
    double sum = 0, sum2 = 0;
    for (size_t i = 1; i < s.len; i++) {
        double gap = s.sends[i].time - s.sends[i - 1].time;
        sum += gap;
        sum2 += gap * gap;
    }
    double n = (double)(s.len - 1), mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    CHECK_NEAR_TOL("mean gap", mean, 1e-3, 5e-5);
    /* Exponential gaps: coefficient of variation 1 (constant ones: 0). */
    CHECK_NEAR_TOL("gap cv", sd / mean, 1.0, 0.05);
    /* Per second about 1000 each. */
    check_shape("poisson per second", &p, &s, 1, 4 * sqrt(1000));
    bench_schedule_free(&s);
}

static void test_poisson_seeded(void **state) {
    bench_profile p = constant(500, 2);
    bench_schedule a = build(&p, BENCH_ARRIVALS_POISSON, 7), b = build(&p, BENCH_ARRIVALS_POISSON, 7),
                   c = build(&p, BENCH_ARRIVALS_POISSON, 8);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.sends, b.sends, a.len * sizeof(*a.sends));
    size_t n = a.len < c.len ? a.len : c.len, same = 0;
    for (size_t i = 0; i < n; i++) same += a.sends[i].time == c.sends[i].time;
    assert_true(same < n / 10);
    bench_schedule_free(&a);
    bench_schedule_free(&b);
    bench_schedule_free(&c);
}

/* ---- shapes ----------------------------------------------------------------- */

static void test_step_shape(void **state) {
    bench_step steps[] = {{10, 5}, {50, 2}, {0, 1}, {20, 2}};
    bench_profile p = {.kind = BENCH_PROFILE_STEP, .steps = steps, .nsteps = 4};
    bench_schedule s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 50 + 100 + 0 + 40);
    assert_int_equal(count_in(&s, 0, 5), 50);
    assert_int_equal(count_in(&s, 5, 7), 100);
    assert_int_equal(count_in(&s, 7, 8), 0);
    assert_int_equal(count_in(&s, 8, 10), 40);
    /* Evenly spaced within a step, phase kept across the boundary. */
    CHECK_NEAR_TOL("first of step 2", s.sends[50].time, 5.0, 1e-12);
    CHECK_NEAR_TOL("second of step 2", s.sends[51].time, 5.02, 1e-12);
    CHECK_NEAR_TOL("first after the pause", s.sends[150].time, 8.0, 1e-12);
    bench_schedule_free(&s);

    /* A leading pause: the first send waits for it. */
    bench_step paused[] = {{0, 2}, {4, 1}};
    p.steps = paused;
    p.nsteps = 2;
    s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 4);
    CHECK_NEAR_TOL("after pause", s.sends[0].time, 2.0, 1e-12);
    bench_schedule_free(&s);

    bench_step big[] = {{200, 10}, {1000, 10}};
    p.steps = big;
    s = build(&p, BENCH_ARRIVALS_POISSON, 3);
    CHECK_NEAR_TOL("poisson low step", (double)count_in(&s, 0, 10), 2000, 4 * sqrt(2000));
    CHECK_NEAR_TOL("poisson high step", (double)count_in(&s, 10, 20), 10000, 4 * sqrt(10000));
    bench_schedule_free(&s);
}

static void test_ramp_shape(void **state) {
    static const struct {
        const char *name;
        double from, to, duration;
        size_t total;
    } cases[] = {
        {"up from zero", 0, 100, 10, 500},
        {"up", 10, 50, 4, 120},
        {"down", 100, 0, 10, 500},
        {"flat", 30, 30, 2, 60},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bench_profile p = ramp(cases[i].from, cases[i].to, cases[i].duration);
        bench_schedule s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
        CASE_CHECK_INT(cases[i].name, s.len, cases[i].total);
        check_shape(cases[i].name, &p, &s, 1, 1);
        bench_schedule_free(&s);
    }
    bench_profile p = ramp(100, 2000, 10);
    bench_schedule s = build(&p, BENCH_ARRIVALS_POISSON, 11);
    check_shape("poisson ramp", &p, &s, 2, 4 * sqrt(4000));
    bench_schedule_free(&s);
}

static void test_sine_shape(void **state) {
    bench_profile p = sine(50, 30, 4, 8);
    bench_schedule s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 400);
    check_shape("sine quarters", &p, &s, 1, 1);
    /* The rising half of a period holds more than the falling half. */
    assert_true(count_in(&s, 0, 2) > count_in(&s, 2, 4) + 60);
    bench_schedule_free(&s);

    /* amplitude = mean: the rate touches 0 and the inverse still works. */
    p = sine(200, 200, 2, 4);
    s = build(&p, BENCH_ARRIVALS_CONSTANT, 1);
    assert_int_equal(s.len, 800);
    check_shape("sine full swing", &p, &s, 0.5, 1);
    bench_schedule_free(&s);

    p = sine(1000, 800, 4, 8);
    s = build(&p, BENCH_ARRIVALS_POISSON, 5);
    check_shape("poisson sine", &p, &s, 1, 4 * sqrt(1800));
    bench_schedule_free(&s);
}

/* ---- trace replay ------------------------------------------------------------ */

static void test_trace_replay(void **state) {
    static const char *const models[] = {"resnet", "hp2"};
    const char *csv = "time_seconds,model\r\n"
                      "0.5,hp2\r\n"
                      "\n"
                      "# a comment\n"
                      "0.25, resnet \n"
                      "0.5,resnet\n"
                      "3,hp2\n"
                      "10.0,resnet"; /* no newline at the end */
    bench_schedule s = BENCH_SCHEDULE_INIT;
    roma_err err = {""};
    assert_int_equal(bench_schedule_add_trace(&s, csv, "t.csv", models, 2, INFINITY, &err), ROMA_OK);
    assert_int_equal(s.len, 5);
    bench_schedule_sort(&s);
    static const bench_send want[] = {{0.25, 0}, {0.5, 0}, {0.5, 1}, {3, 1}, {10, 0}};
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        CHECK_NEAR_TOL("trace time", s.sends[i].time, want[i].time, 0);
        assert_int_equal(s.sends[i].model, want[i].model);
    }
    bench_schedule_free(&s);

    /* until: rows at or after it are left out; no header is fine. */
    assert_int_equal(bench_schedule_add_trace(&s, "1,hp2\n2,hp2\n2.5,hp2\n", "t.csv", models, 2, 2,
                                              &err), ROMA_OK);
    assert_int_equal(s.len, 1);
    bench_schedule_free(&s);
}

static void test_trace_errors(void **state) {
    static const char *const models[] = {"resnet", "hp2"};
    static const struct {
        const char *name, *csv, *msg;
    } cases[] = {
        {"unknown model", "time,model\n0.1,hp2\n0.2,vgg\n", "t.csv:3: unknown model 'vgg'"},
        {"no comma", "0.1 hp2\n", "t.csv:1: expected 'time_seconds,model'"},
        {"second header", "0.1,hp2\ntime,model\n", "t.csv:2: expected"},
        {"negative", "-1,hp2\n", "t.csv:1: time -1 must be >= 0"},
        {"empty model", "1,\n", "t.csv:1: unknown model ''"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bench_schedule s = BENCH_SCHEDULE_INIT;
        bench_profile p = constant(10, 1);
        roma_err err = {""};
        CASE_CHECK_INT(cases[i].name, bench_schedule_add_profile(&s, &p, BENCH_ARRIVALS_CONSTANT, 1, 0, 1, &err), ROMA_OK);
        CASE_CHECK_INT(cases[i].name, bench_schedule_add_trace(&s, cases[i].csv, "t.csv", models, 2, INFINITY, &err),
                       ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, cases[i].msg);
        CASE_CHECK_INT(cases[i].name, s.len, 10); /* left as it was */
        bench_schedule_free(&s);
    }
}

/* ---- order and limits ---------------------------------------------------------- */

static void test_sort_and_limit(void **state) {
    bench_schedule s = BENCH_SCHEDULE_INIT;
    roma_err err = {""};
    bench_profile a = constant(10, 1), b = constant(4, 1);
    assert_int_equal(bench_schedule_add_profile(&s, &a, BENCH_ARRIVALS_CONSTANT, 1, 1, 1, &err), ROMA_OK);
    assert_int_equal(bench_schedule_add_profile(&s, &b, BENCH_ARRIVALS_CONSTANT, 1, 0, 1, &err), ROMA_OK);
    bench_schedule_sort(&s);
    assert_int_equal(s.len, 14);
    check_sorted("merged", &s);
    /* t = 0 and t = 0.5 are in both: model 0 first. */
    assert_int_equal(s.sends[0].model, 0);
    assert_int_equal(s.sends[1].model, 1);

    bench_profile huge = constant(1e9, 1000);
    assert_int_equal(bench_schedule_add_profile(&s, &huge, BENCH_ARRIVALS_CONSTANT, 1, 0, INFINITY, &err),
                     ROMA_RESOURCE_EXHAUSTED);
    check_contains("huge", err.msg, "lower the rate or the duration");
    assert_int_equal(s.len, 14);
    bench_schedule_free(&s);
    assert_null(s.sends);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrivals_names),
        cmocka_unit_test(test_profile_check),
        cmocka_unit_test(test_rate_and_expected),
        cmocka_unit_test(test_constant_exact),
        cmocka_unit_test(test_poisson_statistics),
        cmocka_unit_test(test_poisson_seeded),
        cmocka_unit_test(test_step_shape),
        cmocka_unit_test(test_ramp_shape),
        cmocka_unit_test(test_sine_shape),
        cmocka_unit_test(test_trace_replay),
        cmocka_unit_test(test_trace_errors),
        cmocka_unit_test(test_sort_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

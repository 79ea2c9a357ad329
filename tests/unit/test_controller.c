/* test_controller.c - CPU core controllers (src/control/controller.h).
 *
 * Covers: roma_ctl_parse/roma_ctl_name, the default parameters and
 * roma_ctl_init; the roma controller one period at a time against DESIGN
 * 4.1's formula with every value computed by hand (error, integral state,
 * ceiling to 0.1 core including values already on a tenth, clamping to min
 * and max, ms-scale SLAs, windows with no requests or no usable mean, and a
 * second period that starts from the anti-windup state); anti-windup (a
 * model held at max for many periods leaves max in one period once it is
 * over-provisioned; the integral state follows the cores actually actuated
 * after node normalisation); node normalisation on hand-computed cases
 * (proportional scaling, rounding down with the left-over tenths handed to
 * the largest remainders, models pinned at min, off-grid mins, mins that do
 * not fit) and as a property over random nodes for every kind (never
 * outside [min, max], never above the proposal, never above the node's
 * cpus, and on the 0.1 grid no more than a tenth left unused); a step
 * response of the roma controller on a processor-sharing plant (cores rise
 * at once under overload, settle at the cores that meet the SLA without
 * over-provisioning, drop to min when the load stops, rise again when it
 * returns, and share a node too small for both models without exceeding
 * it); the rules controller's thresholds, clamping, cooldown and
 * normalisation; static cores that are always `initial` (normalised only
 * when the initials do not fit); windows with no completion: a backlog
 * whose oldest request has waited past the SLA grows every kind (known
 * answers), a young one or one of unknown age holds (never falls), a
 * stalled model keeps growing period after period, while no arrivals and
 * an empty backlog (or arrivals a GPU served) still go to min; a backlog
 * changes nothing in a window with completions; an absurd or NaN SLA and a
 * NaN proposal leave the node sane (finite, in [min, max], the neighbours
 * not pinned at min).
 */
#include "unit.h"

#include <math.h>

#include "control/controller.h"

#define TOL 1e-9

/* A model with the given config, initialised (cores = xc = initial). */
static roma_ctl_model model(double sla, double min, double max, double initial) {
    roma_ctl_model m = {.sla = sla, .min = min, .max = max, .initial = initial};
    roma_ctl_init(&m);
    return m;
}

static void measure(roma_ctl_model *m, double rt, size_t completed) {
    m->rt_mean = rt;
    m->completed = completed;
}

static double node_sum(const roma_ctl_model *models, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += models[i].cores;
    return sum;
}

/* The invariants every kind keeps after every update. */
static void check_node(const char *name, const roma_ctl_model *models, size_t n, double cpus) {
    for (size_t i = 0; i < n; i++) {
        CASE_CHECK(name, models[i].cores >= models[i].min - TOL);
        CASE_CHECK(name, models[i].cores <= models[i].max + TOL);
    }
    CASE_CHECK(name, node_sum(models, n) <= cpus + TOL);
}

/* ---- names, defaults, init ---------------------------------------------------- */

static void test_parse_name_defaults_init(void **state) {
    static const struct {
        const char *name;
        roma_ctl_kind kind;
    } cases[] = {{"roma", ROMA_CTL_ROMA}, {"rules", ROMA_CTL_RULES}, {"static", ROMA_CTL_STATIC},
                 {"relative-pi", ROMA_CTL_ROMA_NORM}, {"vpa", ROMA_CTL_VPA},
                 {"relative-pi-ff", ROMA_CTL_RELATIVE_PI_FF}};
    roma_ctl_kind alias = ROMA_CTL_RULES, dflt = ROMA_CTL_RULES;
    assert_int_equal(roma_ctl_parse("roma-norm", &alias), ROMA_OK); /* the earlier name */
    assert_int_equal(alias, ROMA_CTL_ROMA_NORM);
    assert_int_equal(roma_ctl_parse(ROMA_CTL_DEFAULT, &dflt), ROMA_OK);
    assert_int_equal(dflt, ROMA_CTL_RELATIVE_PI_FF);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_kind kind = (roma_ctl_kind)-1;
        CASE_CHECK_INT(cases[i].name, roma_ctl_parse(cases[i].name, &kind), ROMA_OK);
        CASE_CHECK_INT(cases[i].name, kind, cases[i].kind);
        CASE_CHECK_STR(cases[i].name, roma_ctl_name(kind), cases[i].name);
        check_contains(cases[i].name, ROMA_CTL_NAMES, cases[i].name);
    }
    static const char *const bad[] = {"", "Roma", "pid", "static ", "rule"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        roma_ctl_kind kind = ROMA_CTL_RULES;
        CASE_CHECK_INT(bad[i], roma_ctl_parse(bad[i], &kind), ROMA_INVALID_ARGUMENT);
        CASE_CHECK_INT(bad[i], kind, ROMA_CTL_RULES);
    }
    roma_ctl_kind kind = ROMA_CTL_RULES;
    assert_int_equal(roma_ctl_parse(NULL, &kind), ROMA_INVALID_ARGUMENT);
    assert_string_equal(roma_ctl_name((roma_ctl_kind)42), "unknown");

    roma_ctl_params p = roma_ctl_default_params();
    CHECK_NEAR("B", p.B, 0.21);
    CHECK_NEAR("D", p.D, 0.17);
    CHECK_NEAR("ff headroom", p.ff_headroom, 0.9);
    CHECK_NEAR("ff drain", p.ff_drain, 4);
    CHECK_NEAR("ff memory", p.ff_memory, 0.9);
    CHECK_NEAR("up", p.rules_up, 0.6);
    CHECK_NEAR("down", p.rules_down, 0.2);
    CHECK_NEAR("step", p.rules_step, 0.5);
    assert_int_equal(p.rules_cooldown, 2);

    roma_ctl_model m = {.sla = 1, .min = 0.2, .max = 3, .initial = 1.3, .xc = 9, .cores = 9,
                        .cooldown = 4, .error = 7, .cores_before_norm = 9};
    roma_ctl_init(&m);
    CHECK_NEAR("init cores", m.cores, 1.3);
    CHECK_NEAR("init xc", m.xc, 1.3);
    CHECK_NEAR("init before norm", m.cores_before_norm, 1.3);
    CHECK_NEAR("init error", m.error, 0);
    assert_int_equal(m.cooldown, 0);
    CHECK_NEAR("init keeps config", m.max, 3);
}

/* ---- roma: one period ------------------------------------------------------------ */

static void test_roma_one_period(void **state) {
    /* B = 0.21, D = 0.17; one model on a 16-core node, so no normalisation.
     * e = 1/SLA - 1/rt;  xc = xc_prev + B*e;  cores = clamp(ceil_0.1(xc + D*e));
     * then xc = cores - B*e. */
    static const struct {
        const char *name;
        double sla, min, max, xc_prev, rt;
        size_t completed;
        double error, cores, xc;
    } cases[] = {
        /* e = 5 - 2.5 = 2.5; xc = 1 + 0.525 = 1.525; 1.525 + 0.425 = 1.95 -> 2.0;
         * xc = 2.0 - 0.525 = 1.475 */
        {"rt above SLA", 0.2, 0.2, 4, 1.0, 0.4, 10, 2.5, 2.0, 1.475},
        /* e = 1 - 2 = -1; xc = 1 - 0.21 = 0.79; 0.79 - 0.17 = 0.62 -> 0.7;
         * xc = 0.7 + 0.21 = 0.91 */
        {"rt below SLA", 1, 0.2, 4, 1.0, 0.5, 10, -1, 0.7, 0.91},
        /* e = 1 - 0.5 = 0.5; xc = 0.82 + 0.105 = 0.925; + 0.085 = 1.01 -> 1.1
         * (the ceiling, not the nearest tenth); xc = 1.1 - 0.105 = 0.995 */
        {"ceiling to a tenth", 1, 0.2, 4, 0.82, 2, 10, 0.5, 1.1, 0.995},
        /* e = 0.5; xc = 1.01 + 0.105 = 1.115; + 0.085 = 1.2 -> stays 1.2 */
        {"exact tenth kept", 1, 0.2, 4, 1.01, 2, 10, 0.5, 1.2, 1.095},
        /* e = 0.5; 3.91 + 0.105 + 0.085 = 4.1, which doubles compute as
         * 4.1000000000000005: still 4.1 (a bare ceil gives 4.2); xc = 3.995 */
        {"tenth plus rounding error", 1, 0.2, 8, 3.91, 2, 10, 0.5, 4.1, 3.995},
        /* e = 1 - 1 = 0: cores = ceil_0.1(1.23) = 1.3, xc = 1.3 */
        {"rt at SLA", 1, 0.2, 4, 1.23, 1, 10, 0, 1.3, 1.3},
        /* e = 5 - 0.5 = 4.5; xc = 1.5 + 0.945 = 2.445; + 0.765 = 3.21 -> 3.3 ->
         * max 2.0; xc = 2.0 - 0.945 = 1.055 */
        {"clamped to max", 0.2, 0.2, 2, 1.5, 2, 10, 4.5, 2.0, 1.055},
        /* e = 1 - 10 = -9; xc = 1 - 1.89 = -0.89; - 1.53 = -2.42 -> min 0.5;
         * xc = 0.5 + 1.89 = 2.39 */
        {"clamped to min", 1, 0.5, 4, 1.0, 0.1, 10, -9, 0.5, 2.39},
        /* ms SLA: e = 20 - 10 = 10; xc = 0.5 + 2.1 = 2.6; + 1.7 = 4.3 -> max 4;
         * xc = 4 - 2.1 = 1.9 */
        {"ms SLA", 0.05, 0.2, 4, 0.5, 0.1, 10, 10, 4.0, 1.9},
        /* one request is a measurement like any other */
        {"one request", 1, 0.2, 4, 1.0, 0.5, 1, -1, 0.7, 0.91},
        /* no request in the window: min, integral state reset to min, error 0
         * (the stale rt_mean 9 is ignored) */
        {"no requests", 1, 0.3, 4, 2.5, 9, 0, 0, 0.3, 0.3},
        {"zero mean", 1, 0.3, 4, 2.5, 0, 4, 0, 0.3, 0.3},
        {"NaN mean", 1, 0.3, 4, 2.5, NAN, 4, 0, 0.3, 0.3},
    };
    roma_ctl_params p = roma_ctl_default_params();
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_model m = model(cases[i].sla, cases[i].min, cases[i].max, 1);
        m.xc = cases[i].xc_prev;
        measure(&m, cases[i].rt, cases[i].completed);
        roma_ctl_update(ROMA_CTL_ROMA, &p, &m, 1, 16);
        CHECK_NEAR(cases[i].name, m.error, cases[i].error);
        CHECK_NEAR(cases[i].name, m.cores, cases[i].cores);
        CHECK_NEAR(cases[i].name, m.cores_before_norm, cases[i].cores);
        CHECK_NEAR(cases[i].name, m.xc, cases[i].xc);
    }
}

static void test_roma_second_period_and_null_params(void **state) {
    /* Period 1 as "rt above SLA": cores 2.0, xc 1.475.  Period 2, rt 0.25:
     * e = 5 - 4 = 1; xc = 1.475 + 0.21 = 1.685; + 0.17 = 1.855 -> 1.9;
     * xc = 1.9 - 0.21 = 1.69.  NULL params are the defaults. */
    roma_ctl_model m = model(0.2, 0.2, 4, 1);
    measure(&m, 0.4, 10);
    roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
    CHECK_NEAR("period 1", m.cores, 2.0);
    measure(&m, 0.25, 10);
    roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
    CHECK_NEAR("period 2 error", m.error, 1);
    CHECK_NEAR("period 2 cores", m.cores, 1.9);
    CHECK_NEAR("period 2 xc", m.xc, 1.69);

    /* other gains are used as given: B = 0.5, D = 0: xc = 1.69 + 0.5 = 2.19 ->
     * 2.2; xc = 2.2 - 0.5 = 1.7 */
    roma_ctl_params p = roma_ctl_default_params();
    p.B = 0.5;
    p.D = 0;
    roma_ctl_update(ROMA_CTL_ROMA, &p, &m, 1, 16);
    CHECK_NEAR("custom gains cores", m.cores, 2.2);
    CHECK_NEAR("custom gains xc", m.xc, 1.7);
}

/* ---- roma: anti-windup -------------------------------------------------------- */

static void test_roma_anti_windup_at_max(void **state) {
    /* SLA 1, rt 10: e = 0.9 every period, far more than max 1.0 can fix.
     * Period 0 from 0.5: xc = 0.689, 0.689 + 0.153 = 0.842 -> 0.9, xc = 0.711;
     * period 1: xc = 0.9, 1.053 -> 1.1 -> max 1.0.  From then on
     * xc = 1.0 - 0.189 = 0.811, however long it lasts. */
    roma_ctl_model m = model(1, 0.2, 1.0, 0.5);
    measure(&m, 10, 10);
    roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
    CHECK_NEAR("period 0", m.cores, 0.9);
    CHECK_NEAR("period 0 xc", m.xc, 0.711);
    for (int t = 1; t < 20; t++) {
        measure(&m, 10, 10);
        roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
        CHECK_NEAR("saturated", m.cores, 1.0);
        CHECK_NEAR("saturated xc", m.xc, 0.811);
    }
    /* Load falls, rt 0.5: e = -1; xc = 0.811 - 0.21 = 0.601; - 0.17 = 0.431
     * -> 0.5; xc = 0.5 + 0.21 = 0.71.  A wound-up integral (about
     * 0.5 + 20 * 0.189 = 4.28) would have held the model at max for many
     * more periods. */
    measure(&m, 0.5, 10);
    roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
    CHECK_NEAR("released", m.cores, 0.5);
    CHECK_NEAR("released xc", m.xc, 0.71);
}

/* Two equal models on a node too small for both: what each kind proposes,
 * what normalisation actuates, and (roma) the integral state after it. */
static void test_normalised_by_kind(void **state) {
    static const struct {
        const char *name;
        roma_ctl_kind kind;
        double min, initial, rt, cpus, proposed, actuated, xc;
    } cases[] = {
        /* SLA 1, rt 10: e = 0.9, xc = 1 + 0.189 = 1.189; + 0.153 = 1.342 -> 1.4
         * each; 2.8 > 1: 1.4 / 2.8 = 0.5 each.  Anti-windup from the actuated
         * 0.5, not the proposed 1.4: xc = 0.5 - 0.189 = 0.311 */
        {"roma", ROMA_CTL_ROMA, 0.1, 1, 10, 1, 1.4, 0.5, 0.311},
        /* rt 2 > 0.6: 1.5 + 0.5 = 2.0 each; 4.0 > 3: scaled by 0.75 to 1.5 */
        {"rules", ROMA_CTL_RULES, 0.2, 1.5, 2, 3, 2.0, 1.5, NAN},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        roma_ctl_model m[2];
        for (int i = 0; i < 2; i++) {
            m[i] = model(1, cases[c].min, 4, cases[c].initial);
            measure(&m[i], cases[c].rt, 5);
        }
        roma_ctl_update(cases[c].kind, NULL, m, 2, cases[c].cpus);
        for (int i = 0; i < 2; i++) {
            CHECK_NEAR(cases[c].name, m[i].cores_before_norm, cases[c].proposed);
            CHECK_NEAR(cases[c].name, m[i].cores, cases[c].actuated);
            if (!isnan(cases[c].xc)) CHECK_NEAR(cases[c].name, m[i].xc, cases[c].xc);
        }
    }
}

/* ---- node normalisation ---------------------------------------------------------- */

#define MAXN 4

static void test_normalisation_cases(void **state) {
    /* static proposes each model's initial, so these are the proposals. */
    static const struct {
        const char *name;
        double cpus;
        size_t n;
        double min[MAXN], initial[MAXN], want[MAXN];
    } cases[] = {
        {"fits exactly", 2, 2, {0.1, 0.1}, {1.2, 0.8}, {1.2, 0.8}},
        /* scale 2/3: 1.0, 0.667, 0.333 -> 1.0, 0.6, 0.3 (1.9); the tenth left
         * goes to the larger remainder (0.067 > 0.033): 1.0, 0.7, 0.3 */
        {"proportional", 2, 3, {0.1, 0.1, 0.1}, {1.5, 1.0, 0.5}, {1.0, 0.7, 0.3}},
        /* scale 1/3 each: 0.3 each, one tenth left, tie to the lowest index */
        {"left-over tie", 1, 3, {0.1, 0.1, 0.1}, {1, 1, 1}, {0.4, 0.3, 0.3}},
        /* 2/3.5 would give model 1 0.286 < its min 0.5: pinned at 0.5, model 0
         * gets the other 1.5 (a plain scale-then-lift would give 1.7 + 0.5) */
        {"pinned at min", 2, 2, {0.1, 0.5}, {3.0, 0.5}, {1.5, 0.5}},
        /* 1.5/2.3: model 1 0.196 < 0.25 pinned; model 0 gets 1.25 -> 1.2 (the
         * 0.05 left is not a whole tenth) */
        {"off-grid min", 1.5, 2, {0.1, 0.25}, {2.0, 0.3}, {1.2, 0.25}},
        /* mins alone exceed the node (a config error): never below min */
        {"mins do not fit", 1, 2, {0.8, 0.8}, {1.0, 1.0}, {0.8, 0.8}},
        /* 4 models, 3 cores, 1.0 each: 0.75 -> 0.7 each (2.8), 2 tenths left
         * for the first two (equal remainders) */
        {"two tenths left", 3, 4, {0.1, 0.1, 0.1, 0.1}, {1, 1, 1, 1}, {0.8, 0.8, 0.7, 0.7}},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        roma_ctl_model m[MAXN];
        for (size_t i = 0; i < cases[c].n; i++)
            m[i] = model(1, cases[c].min[i], 8, cases[c].initial[i]);
        roma_ctl_update(ROMA_CTL_STATIC, NULL, m, cases[c].n, cases[c].cpus);
        for (size_t i = 0; i < cases[c].n; i++) {
            CHECK_NEAR(cases[c].name, m[i].cores, cases[c].want[i]);
            CHECK_NEAR(cases[c].name, m[i].cores_before_norm, cases[c].initial[i]);
        }
    }
}

/* A small deterministic PRNG for the property test (xorshift64). */
static double rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0; /* [0, 1) */
}

static double rnd_tenths(uint64_t *s, double lo, double hi) {
    return lo + floor(rnd(s) * ((hi - lo) * 10 + 1)) / 10;
}

/* Random node for one trial: mins fit; on_grid keeps everything in tenths. */
static size_t random_node(uint64_t *s, roma_ctl_model *m, double *cpus, int on_grid) {
    size_t n = 1 + (size_t)(rnd(s) * 6);
    *cpus = rnd_tenths(s, 0.5, 6);
    double mins = 0;
    for (size_t i = 0; i < n; i++) {
        double min = on_grid ? rnd_tenths(s, 0.1, 0.5) : 0.05 + 0.5 * rnd(s);
        if (mins + min > *cpus) min = 0; /* keep the mins inside the node */
        mins += min;
        double max = min + rnd_tenths(s, 0, 4);
        m[i] = model(0.05 + 2 * rnd(s), min, max, min + (max - min) * rnd(s));
        if (on_grid) m[i] = model(m[i].sla, min, max, rnd_tenths(s, min, max));
    }
    return n;
}

static void test_normalisation_property(void **state) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    /* Every kind roma_ctl_name knows, so that a new law joins by itself. */
    roma_ctl_kind kinds[16];
    size_t nkinds = 0;
    while (nkinds < ARRAY_LEN(kinds) && strcmp(roma_ctl_name((roma_ctl_kind)nkinds), "unknown") != 0)
        kinds[nkinds] = (roma_ctl_kind)nkinds, nkinds++;
    assert_int_equal(nkinds, 6); /* roma, rules, static, roma-norm, vpa, relative-pi-ff: update
                                    with a new kind */
    char name[64];
    for (int trial = 0; trial < 3000; trial++) {
        roma_ctl_model m[8];
        double cpus;
        int on_grid = trial % 2;
        size_t n = random_node(&s, m, &cpus, on_grid);
        roma_ctl_kind kind = kinds[(size_t)trial % nkinds];
        for (int t = 0; t < 30; t++) {
            snprintf(name, sizeof(name), "trial %d (%s) period %d", trial, roma_ctl_name(kind), t);
            double proposed = 0;
            for (size_t i = 0; i < n; i++) {
                measure(&m[i], m[i].sla * (0.1 + 3 * rnd(&s)), rnd(&s) < 0.1 ? 0 : 5);
                /* vpa's usage: up to 1.5x max cores over a window of 20 s, so
                 * that it recommends every third period */
                m[i].window = 20;
                m[i].cpu_seconds += 20 * 1.5 * m[i].max * rnd(&s);
            }
            roma_ctl_update(kind, NULL, m, n, cpus);
            check_node(name, m, n, cpus);
            for (size_t i = 0; i < n; i++) {
                CASE_CHECK(name, m[i].cores <= m[i].cores_before_norm + TOL);
                proposed += m[i].cores_before_norm;
            }
            if (proposed <= cpus + TOL)
                for (size_t i = 0; i < n; i++)
                    CASE_CHECK(name, fabs(m[i].cores - m[i].cores_before_norm) <= TOL);
            else if (on_grid) /* normalised on the grid: under a tenth unused */
                CASE_CHECK(name, node_sum(m, n) > cpus - 0.1 + TOL);
        }
    }
}

/* ---- roma: step response ------------------------------------------------------- */

/* Processor sharing with c cores, `rate` requests/s of `service` CPU-seconds:
 * rt = service / (c - rate*service), monotone in c; with (almost) no spare
 * capacity the queue grows and the window's mean is taken as 10 s. */
static double plant_rt(double cores, double rate, double service) {
    double spare = cores - rate * service;
    return spare > 0.05 ? service / spare : 10;
}

/* One period: each model's window is measured with the cores it had. */
static void run_period(roma_ctl_model *m, const double *rate, size_t n, double cpus, double *rt) {
    for (size_t i = 0; i < n; i++) {
        rt[i] = plant_rt(m[i].cores, rate[i], 0.5);
        measure(&m[i], rt[i], rate[i] > 0 ? 10 : 0);
    }
    roma_ctl_update(ROMA_CTL_ROMA, NULL, m, n, cpus);
}

static void test_roma_step_response(void **state) {
    /* SLA 1 s, service 0.5 s.  Model A: 2 req/s (1 core of demand; rt <= 1
     * needs 1.5 cores) for periods 0-24, none for 25-34, 2 req/s again from
     * 35.  Model B: 0.6 req/s throughout (needs 0.8).  Node of 3 cores. */
    roma_ctl_model m[2] = {model(1, 0.2, 2.5, 0.5), model(1, 0.2, 2.5, 0.5)};
    double rt[2], prev = m[0].cores;
    int met_at = -1;
    for (int t = 0; t < 60; t++) {
        double rate[2] = {(t < 25 || t >= 35) ? 2 : 0, 0.6};
        run_period(m, rate, 2, 3, rt);
        char name[32];
        snprintf(name, sizeof(name), "period %d", t);
        check_node(name, m, 2, 3);
        if (t == 0) CASE_CHECK(name, m[0].cores > 0.5); /* rises at once */
        if (t < 25 && rt[0] > 1 + TOL) CASE_CHECK(name, m[0].cores >= prev); /* never backs off */
        if (t < 25 && rt[0] <= 1 + TOL && met_at < 0) met_at = t;
        if (t >= 25 && t < 35) { /* idle: min at once, integral reset */
            CHECK_NEAR(name, m[0].cores, 0.2);
            CHECK_NEAR(name, m[0].xc, 0.2);
        }
        if (t == 35) CASE_CHECK(name, m[0].cores > 0.2); /* load is back */
        if ((t >= 15 && t < 25) || t >= 50) {
            /* settled: the SLA is met, without more than a tenth to spare */
            CASE_CHECK(name, rt[0] <= 1 + TOL && rt[1] <= 1 + TOL);
            CASE_CHECK(name, m[0].cores <= 1.6 + TOL && m[1].cores <= 0.9 + TOL);
        }
        prev = m[0].cores;
    }
    /* the SLA was met within a few periods of the step */
    assert_true(met_at >= 0 && met_at <= 10);
}

static void test_roma_step_response_node_too_small(void **state) {
    /* Same loads, node of 1.8 cores: A alone wants 1.5 and B 0.8.  The node
     * is never exceeded, both stay in [min, max], and normalisation uses
     * the node instead of leaving tenths idle. */
    roma_ctl_model m[2] = {model(1, 0.2, 2.5, 0.5), model(1, 0.2, 2.5, 0.5)};
    double rt[2], rate[2] = {2, 0.6};
    for (int t = 0; t < 40; t++) {
        run_period(m, rate, 2, 1.8, rt);
        char name[32];
        snprintf(name, sizeof(name), "period %d", t);
        check_node(name, m, 2, 1.8);
        if (t >= 5) CHECK_NEAR(name, node_sum(m, 2), 1.8);
    }
}

/* ---- rules --------------------------------------------------------------------- */

/* ---- relative-pi-ff ------------------------------------------------------------ */

/* One window of a relative-pi-ff model: what it completed (at rt), the CPU
 * counter at its end, its backlog; 1 s long. */
static void ff_window(roma_ctl_model *m, double rt, size_t completed, double cpu, size_t backlog) {
    measure(m, rt, completed);
    m->cpu_seconds = cpu;
    m->backlog = backlog;
    m->oldest_wait = 0.01;
    m->window = 1;
    roma_ctl_update(ROMA_CTL_RELATIVE_PI_FF, NULL, m, 1, 4);
}

static void test_relative_pi_ff_known_answers(void **state) {
    /* SLA 0.25 s (set point 0.1 s), cores [0.2, 2], from 0.6 (xc 0.6);
     * headroom 0.9, drain 4 SLAs = 1 s, memory 0.9, B 0.21, D 0.17.
     * 1: 10 done at rt 0.1 (e = 0), counter 0.3: no counter before, so no
     *    cost yet: ff = 0, relative-pi alone: xc = 0.6, cores 0.6.
     * 2: 40 done at rt 0.1, counter 1.3: cost = 1.0/40 = 0.025; backlog
     *    0 -> 8: came = 48; ff = 0.025 * (0.9 * 48 / 1 + 8 / 1) = 1.28;
     *    PI 0.6; cores = ceil(1.28) = 1.3; xc = 1.3 (anti-windup).
     * 3: 5 done at rt 0.05 (e = -0.5), counter 1.45, backlog 8 -> 0:
     *    came = 5 - 8 < 0 -> 0; ff = 0 (cost 1.05/41 is learnt all the
     *    same); PI: xc = 1.3 - 0.105 = 1.195, cores = ceil(1.11) = 1.2
     *    (the floor gone, the PI steps down); xc = 1.2 + 0.105 = 1.305.
     * 4: 20 done at rt 0.1, counter 1.95 (cost sums 0.9 * 1.05 + 0.5 =
     *    1.445 over 0.9 * 41 + 20 = 56.9), backlog 0 -> 30: came = 50;
     *    ff = 1.445/56.9 * (45 + 30) = 1.9047; cores = 2.0; xc = 2.0.
     * 5: nothing completed, nothing waits: idle, min 0.2, ff 0, xc 0.2.
     * 6: 40 done at rt 0.1, counter 41.95 (1 s a request), backlog 0: the
     *    idle window taught nothing, so the sums are 0.9 * 1.445 + 40 =
     *    41.3005 over 0.9 * 56.9 + 40 = 91.21; came = 40; ff =
     *    41.3005/91.21 * 36 = 16.3, held at max; PI from 0.2: 0.2. */
    static const struct {
        double rt;
        size_t completed;
        double cpu;
        size_t backlog;
        double ff, cores, xc;
    } steps[] = {
        {0.1, 10, 0.3, 0, 0, 0.6, 0.6},
        {0.1, 40, 1.3, 8, 1.28, 1.3, 1.3},
        {0.05, 5, 1.45, 0, 0, 1.2, 1.305},
        {0.1, 20, 1.95, 30, 1.445 / 56.9 * 75, 2.0, 2.0},
        {0, 0, 1.95, 0, 0, 0.2, 0.2},
        {0.1, 40, 41.95, 0, 41.3005 / 91.21 * 36, 2.0, 2.0},
    };
    roma_ctl_model m = model(0.25, 0.2, 2, 0.6);
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        char name[32];
        snprintf(name, sizeof(name), "window %zu", i + 1);
        ff_window(&m, steps[i].rt, steps[i].completed, steps[i].cpu, steps[i].backlog);
        CHECK_NEAR(name, m.ff_cores, steps[i].ff);
        CHECK_NEAR(name, m.cores, steps[i].cores);
        CHECK_NEAR(name, m.xc, steps[i].xc);
    }
}

/* Without the worker's CPU counter (cpu_seconds < 0: cluster mode) there
 * is no cost, so no feed-forward: decision for decision, relative-pi. */
static void test_relative_pi_ff_without_counter_is_relative_pi(void **state) {
    roma_ctl_model ff = model(0.25, 0.2, 2, 0.6), pi = model(0.25, 0.2, 2, 0.6);
    static const double rts[] = {0.3, 0.2, 0.05, 0.02, 0, 0.4, 0.1};
    for (size_t i = 0; i < ARRAY_LEN(rts); i++) {
        ff_window(&ff, rts[i], rts[i] > 0 ? 30 : 0, -1, i * 3);
        measure(&pi, rts[i], rts[i] > 0 ? 30 : 0);
        pi.backlog = i * 3, pi.oldest_wait = 0.01;
        roma_ctl_update(ROMA_CTL_ROMA_NORM, NULL, &pi, 1, 4);
        CHECK_NEAR("no counter", ff.ff_cores, 0);
        CHECK_NEAR("no counter", ff.cores, pi.cores);
        CHECK_NEAR("no counter", ff.xc, pi.xc);
    }
}

/* The parameters go with the control period: below ROMA_CTL_SHORT_PERIOD
 * relative-pi-ff aims at 0.5 SLA with its floor at 0.8 of the demand; from
 * it up, and for every other parameter, the defaults. */
static void test_params_follow_the_period(void **state) {
    roma_ctl_params d = roma_ctl_default_params();
    CHECK_NEAR("default ff set point", d.ff_setpoint, 0.4);
    static const double long_periods[] = {ROMA_CTL_SHORT_PERIOD, 1, 2};
    for (size_t i = 0; i < ARRAY_LEN(long_periods); i++) {
        roma_ctl_params p = roma_ctl_params_for_period(long_periods[i]);
        CHECK_NEAR("long: set point", p.ff_setpoint, d.ff_setpoint);
        CHECK_NEAR("long: headroom", p.ff_headroom, d.ff_headroom);
    }
    static const double short_periods[] = {0.05, 0.25, ROMA_CTL_SHORT_PERIOD - 0.001};
    for (size_t i = 0; i < ARRAY_LEN(short_periods); i++) {
        roma_ctl_params p = roma_ctl_params_for_period(short_periods[i]);
        CHECK_NEAR("short: set point", p.ff_setpoint, 0.5);
        CHECK_NEAR("short: headroom", p.ff_headroom, 0.8);
        /* the rest is the defaults' */
        CHECK_NEAR("short: relative-pi's set point", p.norm_setpoint, d.norm_setpoint);
        CHECK_NEAR("short: percentile set point", p.pct_setpoint, d.pct_setpoint);
        CHECK_NEAR("short: B", p.B, d.B);
        CHECK_NEAR("short: D", p.D, d.D);
        CHECK_NEAR("short: drain", p.ff_drain, d.ff_drain);
        CHECK_NEAR("short: memory", p.ff_memory, d.ff_memory);
        CHECK_NEAR("short: rules up", p.rules_up, d.rules_up);
    }

    /* SLA 0.25 s, a window at rt 0.1 s.  relative-pi-ff at the short set
     * aims at 0.125 s: e = (0.1 - 0.125) / 0.125 = -0.2, xc = 1 - 0.042 =
     * 0.958, cores = ceil(0.958 - 0.034) = 1.0 (0.924 up to a tenth);
     * relative-pi keeps its 0.1 s (e = 0).  Then the short headroom, as
     * window 2 of test_relative_pi_ff_known_answers: cost 0.025 (1 CPU
     * second over 40 done), 48 came (40 done, backlog 0 -> 8), drain 4 SLAs
     * = 1 s: ff = 0.025 * (0.8 * 48 + 8 / 1) = 1.16 (1.28 at 0.9). */
    roma_ctl_params p = roma_ctl_params_for_period(0.25);
    roma_ctl_model ff = model(0.25, 0.2, 2, 1), pi = model(0.25, 0.2, 2, 1);
    measure(&ff, 0.1, 10), measure(&pi, 0.1, 10);
    ff.cpu_seconds = 0.3, ff.window = 1;
    roma_ctl_update(ROMA_CTL_RELATIVE_PI_FF, &p, &ff, 1, 4);
    roma_ctl_update(ROMA_CTL_ROMA_NORM, &p, &pi, 1, 4);
    CHECK_NEAR("ff error at 0.5 SLA", ff.error, -0.2);
    CHECK_NEAR("ff cores", ff.cores, 1.0);
    CHECK_NEAR("relative-pi error at 0.4 SLA", pi.error, 0);
    measure(&ff, 0.125, 40);
    ff.cpu_seconds = 1.3, ff.backlog = 8, ff.oldest_wait = 0.01;
    roma_ctl_update(ROMA_CTL_RELATIVE_PI_FF, &p, &ff, 1, 4);
    CHECK_NEAR("ff at headroom 0.8", ff.ff_cores, 1.16);
    CHECK_NEAR("ff floor", ff.cores, 1.2);
}

/* ---- roma-norm ------------------------------------------------------------------ */

static void test_roma_norm_one_period(void **state) {
    /* SLA 1 s, set point 0.4 s, from 1 core (xc 1):
     *   rt 0.8: e = (0.8-0.4)/0.4 = 1;   xc = 1.21;   cores = ceil(1.21+0.17) = 1.4
     *   rt 0.1: e = -0.75;               xc = 0.8425; cores = ceil(0.715) = 0.8
     *   rt 10:  e = 24, capped at 3;     xc = 1.63;   cores = ceil(2.14) = 2.2
     *   rt 0.0001: e = -0.99975;          cores = ceil(1 - 0.36) = 0.7 (not min) */
    static const struct {
        const char *name;
        double rt, cores, error;
    } cases[] = {
        {"above the set point", 0.8, 1.4, 1},
        {"below the set point", 0.1, 0.8, -0.75},
        {"overload is capped", 10, 2.2, 3},
        {"far below: one gentle step", 0.0001, 0.7, -0.99975},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_model m = {.sla = 1, .min = 0.2, .max = 3, .initial = 1};
        roma_ctl_init(&m);
        m.rt_mean = cases[i].rt;
        m.completed = 10;
        roma_ctl_update(ROMA_CTL_ROMA_NORM, NULL, &m, 1, 16);
        CHECK_NEAR(cases[i].name, m.error, cases[i].error);
        CHECK_NEAR(cases[i].name, m.cores, cases[i].cores);
        CHECK_NEAR(cases[i].name, m.xc, cases[i].cores - 0.21 * cases[i].error); /* anti-windup */
    }
}

static void test_roma_norm_step_response(void **state) {
    /* The plant of test_roma_step_response: SLA 1 s, service 0.5 s, 2 req/s
     * for periods 0-29, idle 30-39, 2 req/s again.  The set point 0.4 s
     * needs 2.25 cores (0.5 / (c - 1) <= 0.4). */
    roma_ctl_model m = model(1, 0.2, 3, 0.5);
    double prev = m.cores;
    for (int t = 0; t < 60; t++) {
        double rate = (t < 30 || t >= 40) ? 2 : 0;
        double rt = plant_rt(m.cores, rate, 0.5);
        char name[32];
        snprintf(name, sizeof(name), "period %d", t);
        measure(&m, rt, rate > 0 ? 10 : 0);
        roma_ctl_update(ROMA_CTL_ROMA_NORM, NULL, &m, 1, 4);
        CASE_CHECK(name, m.cores >= 0.2 - TOL && m.cores <= 3 + TOL);
        if (t < 30 && rt > 1) CASE_CHECK(name, m.cores >= prev); /* never backs off while late */
        if (t >= 15 && t < 30) { /* settled near the set point, below the SLA */
            double settled = plant_rt(m.cores, rate, 0.5);
            CASE_CHECK(name, settled <= 0.55 && m.cores <= 2.6 + TOL);
        }
        if (t >= 30 && t < 40) CHECK_NEAR(name, m.cores, 0.2); /* idle: min */
        prev = m.cores;
    }
}

static void test_rules_one_period(void **state) {
    /* SLA 1, [0.5, 3], cores 1.5: up above 0.6 s, down below 0.2 s, step 0.5 */
    static const struct {
        const char *name;
        double cores, rt;
        size_t completed;
        int cooldown;
        double want;
        int want_cooldown;
    } cases[] = {
        {"above 0.6 SLA", 1.5, 0.7, 5, 0, 2.0, 2},
        {"at 0.6 SLA holds", 1.5, 0.6, 5, 0, 1.5, 0},
        {"between holds", 1.5, 0.5, 5, 0, 1.5, 0},
        {"at 0.2 SLA holds", 1.5, 0.2, 5, 0, 1.5, 0},
        {"below 0.2 SLA", 1.5, 0.1, 5, 0, 1.0, 2},
        {"no requests", 1.5, 0.9, 0, 0, 1.0, 2},
        {"clamped to max", 2.8, 5, 5, 0, 3.0, 2},
        {"at max: no change, no cooldown", 3.0, 5, 5, 0, 3.0, 0},
        {"clamped to min", 0.7, 0.1, 5, 0, 0.5, 2},
        {"at min: no change", 0.5, 0.1, 5, 0, 0.5, 0},
        {"cooling down holds", 1.5, 5, 5, 2, 1.5, 1},
        {"last cooldown period holds", 1.5, 5, 5, 1, 1.5, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_model m = model(1, 0.5, 3, cases[i].cores);
        m.cooldown = cases[i].cooldown;
        measure(&m, cases[i].rt, cases[i].completed);
        roma_ctl_update(ROMA_CTL_RULES, NULL, &m, 1, 16);
        CHECK_NEAR(cases[i].name, m.cores, cases[i].want);
        CASE_CHECK_INT(cases[i].name, m.cooldown, cases[i].want_cooldown);
    }
}

static void test_rules_cooldown_sequence(void **state) {
    /* Overloaded every period from 1.0 with cooldown 2: a change, two held
     * periods, a change, ... */
    static const double want[] = {1.5, 1.5, 1.5, 2.0, 2.0, 2.0, 2.5};
    roma_ctl_model m = model(1, 0.5, 4, 1.0);
    for (size_t t = 0; t < ARRAY_LEN(want); t++) {
        measure(&m, 2, 5);
        roma_ctl_update(ROMA_CTL_RULES, NULL, &m, 1, 16);
        CHECK_NEAR("cooldown 2", m.cores, want[t]);
    }
    /* cooldown 0 and step 0.3: every period changes */
    roma_ctl_params p = roma_ctl_default_params();
    p.rules_cooldown = 0;
    p.rules_step = 0.3;
    m = model(1, 0.5, 4, 1.0);
    static const double want0[] = {1.3, 1.6, 1.9};
    for (size_t t = 0; t < ARRAY_LEN(want0); t++) {
        measure(&m, 2, 5);
        roma_ctl_update(ROMA_CTL_RULES, &p, &m, 1, 16);
        CHECK_NEAR("cooldown 0", m.cores, want0[t]);
    }
}

/* ---- static -------------------------------------------------------------------- */

static void test_static_never_changes(void **state) {
    roma_ctl_model m[2] = {model(1, 0.2, 4, 1.3), model(0.1, 0.2, 4, 0.7)};
    static const double rts[] = {10, 0.01, 1, 3};
    for (int t = 0; t < 12; t++) {
        measure(&m[0], rts[t % 4], t % 3 ? 5 : 0);
        measure(&m[1], rts[(t + 1) % 4], 5);
        roma_ctl_update(ROMA_CTL_STATIC, NULL, m, 2, 8);
        CHECK_NEAR("static 0", m[0].cores, 1.3);
        CHECK_NEAR("static 1", m[1].cores, 0.7);
    }
    /* initials of 3 + 1 on a 2-core node: 1.5 + 0.5, the same every period */
    roma_ctl_model big[2] = {model(1, 0.2, 4, 3), model(1, 0.2, 4, 1)};
    for (int t = 0; t < 5; t++) {
        measure(&big[0], 10, 5);
        measure(&big[1], 0.01, 0);
        roma_ctl_update(ROMA_CTL_STATIC, NULL, big, 2, 2);
        CHECK_NEAR("normalised 0", big[0].cores, 1.5);
        CHECK_NEAR("normalised 1", big[1].cores, 0.5);
    }
    /* static means `initial`, not "whatever it had": on a node with room
     * again (or after a switch from another controller) it is 3 + 1 */
    roma_ctl_update(ROMA_CTL_STATIC, NULL, big, 2, 8);
    CHECK_NEAR("room again 0", big[0].cores, 3);
    CHECK_NEAR("room again 1", big[1].cores, 1);
}

/* ---- percentile SLAs ------------------------------------------------------------ */

static void test_window_percentile(void **state) {
    (void)state;
    double rts[] = {0.5, 0.1, 0.3, 0.2, 0.4};
    /* nearest rank: p95 -> rank ceil(4.75) = 5, p50 -> rank ceil(2.5) = 3, p20 -> rank 1 */
    CHECK_NEAR("p95", roma_ctl_window_percentile(rts, 5, 95), 0.5);
    CHECK_NEAR("p50", roma_ctl_window_percentile(rts, 5, 50), 0.3);
    CHECK_NEAR("p20", roma_ctl_window_percentile(rts, 5, 20), 0.1);
    CHECK_NEAR("p100", roma_ctl_window_percentile(rts, 5, 100), 0.5);
    CHECK_NEAR("sorted in place", rts[0], 0.1);
    CHECK_NEAR("none", roma_ctl_window_percentile(rts, 0, 95), 0);
}

/* One model on a 16-core node at 1 core, SLA 1 s, a window whose mean is
 * 0.2 s but whose 95th percentile is 1.2 s (a tail over the SLA), worked by
 * hand.  B = 0.21, D = 0.17. */
static void test_percentile_sla_one_period(void **state) {
    (void)state;
    static const struct {
        const char *name;
        roma_ctl_kind kind;
        double percentile, error, cores;
    } cases[] = {
        /* mean: target 0.4; e = (0.2 - 0.4)/0.4 = -0.5; xc = 1 - 0.105 = 0.895;
         * 0.895 - 0.085 = 0.81 -> 0.9 */
        {"relative-pi, mean", ROMA_CTL_ROMA_NORM, 0, -0.5, 0.9},
        /* p95: target 0.5 (pct_setpoint); e = (1.2 - 0.5)/0.5 = 1.4; xc = 1.294;
         * 1.294 + 0.238 = 1.532 -> 1.6 */
        {"relative-pi, p95", ROMA_CTL_ROMA_NORM, 95, 1.4, 1.6},
        /* roma on the mean: e = 1 - 1/0.2 = -4; xc = 1 - 0.84 = 0.16;
         * 0.16 - 0.68 < min -> 0.2 */
        {"roma, mean", ROMA_CTL_ROMA, 0, -4, 0.2},
        /* roma on p95: e = 1 - 1/1.2 = 0.1667; xc = 1.035; + 0.02833 = 1.0633 -> 1.1 */
        {"roma, p95", ROMA_CTL_ROMA, 95, 1 - 1 / 1.2, 1.1},
        /* rules on p95: 1.2 > 0.8 SLA: +0.5 */
        {"rules, p95", ROMA_CTL_RULES, 95, 1 - 1 / 1.2, 1.5},
        /* rules on the mean: 0.2 is not below 0.2 SLA: hold */
        {"rules, mean", ROMA_CTL_RULES, 0, 1 - 1 / 0.2, 1.0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_model m = model(1, 0.2, 4, 1);
        m.sla_percentile = cases[i].percentile;
        m.rt_mean = 0.2, m.rt_pct = 1.2, m.completed = 20;
        roma_ctl_update(cases[i].kind, NULL, &m, 1, 16);
        CHECK_NEAR(cases[i].name, m.error, cases[i].error);
        CHECK_NEAR(cases[i].name, m.cores, cases[i].cores);
    }
}

/* ---- windows with no completion ------------------------------------------- */

static void backlog(roma_ctl_model *m, size_t waiting, double oldest_wait) {
    m->backlog = waiting;
    m->oldest_wait = oldest_wait;
}

static void test_backlog_grows_every_kind(void **state) {
    /* SLA 1, [0.2, 4], at 1 core (xc 1): nothing completed, 5 requests
     * waiting, the oldest for 3 s, so the window's rt is at least 3 s:
     *   roma:      e = 1 - 1/3 = 0.6667; xc = 1 + 0.14 = 1.14;
     *              + 0.11333 = 1.2533 -> 1.3; xc = 1.3 - 0.14 = 1.16
     *   roma-norm: e = (3 - 0.4) / 0.4 = 6.5, capped at 3; xc = 1.63;
     *              + 0.51 = 2.14 -> 2.2; xc = 2.2 - 0.63 = 1.57
     *   rules:     3 > 0.8: + 0.5 -> 1.5, cooldown 2
     *   static:    1, as ever
     * (The old controller took such a window as idle: 0.2, or 0.5 for rules.) */
    static const struct {
        const char *name;
        roma_ctl_kind kind;
        double error, cores, xc;
        int cooldown;
    } cases[] = {
        {"roma", ROMA_CTL_ROMA, 2.0 / 3, 1.3, 1.16, 0},
        {"roma-norm", ROMA_CTL_ROMA_NORM, 3, 2.2, 1.57, 0},
        {"rules", ROMA_CTL_RULES, 2.0 / 3, 1.5, NAN, 2},
        {"static", ROMA_CTL_STATIC, 2.0 / 3, 1, NAN, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_ctl_model m = model(1, 0.2, 4, 1);
        measure(&m, 0, 0);
        m.arrivals = 0; /* all 5 came before the window: a stall, not idleness */
        backlog(&m, 5, 3);
        roma_ctl_update(cases[i].kind, NULL, &m, 1, 16);
        CHECK_NEAR(cases[i].name, m.error, cases[i].error);
        CHECK_NEAR(cases[i].name, m.cores, cases[i].cores);
        if (!isnan(cases[i].xc)) CHECK_NEAR(cases[i].name, m.xc, cases[i].xc);
        CASE_CHECK_INT(cases[i].name, m.cooldown, cases[i].cooldown);
    }
}

static void test_backlog_lower_bound_never_shrinks(void **state) {
    /* A backlog younger than the SLA (0.1 s: arrived at the end of the
     * window), of unknown age (0, NaN), or with a NaN mean from completions:
     * the lower bound says nothing against the cores, so every kind holds.
     * roma starts from xc 0.8 < cores 1 (the state after a step up), where
     * a zero error alone would give ceil(0.8) = 0.8; it holds 1, and its
     * anti-windup remembers the 1 it holds (xc = 1 - B*0). */
    static const roma_ctl_kind kinds[] = {ROMA_CTL_ROMA, ROMA_CTL_ROMA_NORM, ROMA_CTL_RULES};
    static const struct {
        const char *name;
        double rt;
        size_t completed;
        double wait;
    } cases[] = {
        {"young", 0, 0, 0.1}, {"zero wait", 0, 0, 0}, {"NaN wait", 0, 0, NAN},
        {"NaN mean", NAN, 3, 0.1}, {"negative mean", -1, 3, 0.1},
    };
    char name[64];
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
            snprintf(name, sizeof(name), "%s, %s", roma_ctl_name(kinds[k]), cases[i].name);
            roma_ctl_model m = model(1, 0.2, 4, 1);
            m.xc = 0.8;
            measure(&m, cases[i].rt, cases[i].completed);
            backlog(&m, 2, cases[i].wait);
            roma_ctl_update(kinds[k], NULL, &m, 1, 16);
            CHECK_NEAR(name, m.error, 0);
            CHECK_NEAR(name, m.cores, 1);
            CASE_CHECK_INT(name, m.cooldown, 0);
            if (kinds[k] != ROMA_CTL_RULES) CHECK_NEAR(name, m.xc, 1);
        }
    }
}

static void test_stalled_model_keeps_growing(void **state) {
    /* From min 0.2, SLA 1: a model whose requests take longer than a period
     * completes nothing while its oldest request waits 1.5, 2.5, ... s.
     * Each kind's cores never fall, and rise at once (rules: every third
     * period, its cooldown).  The old controller held it at min. */
    static const roma_ctl_kind kinds[] = {ROMA_CTL_ROMA, ROMA_CTL_ROMA_NORM, ROMA_CTL_RULES};
    char name[64];
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        roma_ctl_model m = model(1, 0.2, 4, 0.2);
        double prev = m.cores;
        for (int t = 0; t < 6; t++) {
            snprintf(name, sizeof(name), "%s period %d", roma_ctl_name(kinds[k]), t);
            measure(&m, 0, 0);
            m.arrivals = 1;
            backlog(&m, 3 + (size_t)t, 1.5 + t);
            roma_ctl_update(kinds[k], NULL, &m, 1, 4);
            CASE_CHECK(name, m.cores >= prev - TOL);
            if (t == 0 || (kinds[k] != ROMA_CTL_RULES && m.cores < 4))
                CASE_CHECK(name, m.cores > prev + TOL);
            prev = m.cores;
        }
    }
}

static void test_idle_still_goes_to_min(void **state) {
    /* Nothing completed on CPU and nothing waits: min, integral state reset
     * to min, whether nothing arrived or a GPU served all that did; the
     * stale rt_mean and oldest_wait are ignored. */
    static const size_t arrivals[] = {0, 40};
    for (size_t i = 0; i < ARRAY_LEN(arrivals); i++) {
        roma_ctl_model m = model(1, 0.3, 4, 2.5);
        measure(&m, 9, 0);
        m.arrivals = arrivals[i];
        backlog(&m, 0, 7);
        roma_ctl_update(ROMA_CTL_ROMA, NULL, &m, 1, 16);
        CHECK_NEAR("roma idle", m.cores, 0.3);
        CHECK_NEAR("roma idle xc", m.xc, 0.3);
        CHECK_NEAR("roma idle error", m.error, 0);
        roma_ctl_model r = model(1, 0.5, 3, 1.5);
        measure(&r, 0.9, 0);
        r.arrivals = arrivals[i];
        roma_ctl_update(ROMA_CTL_RULES, NULL, &r, 1, 16);
        CHECK_NEAR("rules idle", r.cores, 1.0);
    }
}

static void test_completions_ignore_backlog(void **state) {
    /* Where requests completed, the backlog changes nothing: the same node
     * twice, once with long backlogs, period after period, every kind. */
    static const roma_ctl_kind kinds[] = {ROMA_CTL_ROMA, ROMA_CTL_ROMA_NORM, ROMA_CTL_RULES,
                                          ROMA_CTL_STATIC};
    uint64_t s = 42;
    char name[64];
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        roma_ctl_model a[3], b[3];
        for (size_t i = 0; i < 3; i++) a[i] = b[i] = model(0.5 + (double)i, 0.2, 3, 1);
        for (int t = 0; t < 40; t++) {
            snprintf(name, sizeof(name), "%s period %d", roma_ctl_name(kinds[k]), t);
            for (size_t i = 0; i < 3; i++) {
                double rt = a[i].sla * (0.05 + 3 * rnd(&s));
                measure(&a[i], rt, 1 + (size_t)(rnd(&s) * 9));
                measure(&b[i], rt, a[i].completed);
                b[i].arrivals = 100;
                backlog(&b[i], 50, 30 * rnd(&s));
            }
            roma_ctl_update(kinds[k], NULL, a, 3, 4);
            roma_ctl_update(kinds[k], NULL, b, 3, 4);
            for (size_t i = 0; i < 3; i++) {
                CASE_CHECK(name, a[i].cores == b[i].cores && a[i].xc == b[i].xc);
                CASE_CHECK(name, a[i].error == b[i].error && a[i].cooldown == b[i].cooldown);
            }
        }
    }
}

/* ---- non-finite and absurd input ------------------------------------------ */

static int finite_state(const roma_ctl_model *m) {
    return isfinite(m->cores) && isfinite(m->xc) && isfinite(m->error) &&
           isfinite(m->cores_before_norm);
}

static void test_absurd_sla_roma(void **state) {
    /* Model A's SLA is 1e-320 s (1/SLA = inf), B's is 1 s; node of 2 cores,
     * both [0.2, 2] from 1 core, measured rt 0.5 (A) and 4 (B).
     * Period 1: A: e = inf, held to 1e6: proposes max 2.  B: e = 0.75,
     *   xc = 1.1575, + 0.1275 = 1.285 -> 1.3.  3.3 > 2: scale 0.60606:
     *   A 1.212 -> 1.2, B 0.788 -> 0.7, the tenth left to B (larger
     *   remainder): 1.2 + 0.8.  B's xc = 0.8 - 0.1575 = 0.6425.
     * Period 2: A proposes 2 again.  B: xc = 0.8, + 0.1275 = 0.9275 -> 1.0;
     *   3.0 > 2: A 1.333 -> 1.3, B 0.667 -> 0.6, the tenth to B: 1.3 + 0.7.
     * With e = inf, A's integral state went -inf, then NaN (inf - inf), and
     * the NaN proposal pinned both models at min from period 2 on. */
    roma_ctl_model m[2] = {model(1e-320, 0.2, 2, 1), model(1, 0.2, 2, 1)};
    static const double want_b[] = {0.8, 0.7};
    for (int t = 0; t < 10; t++) {
        char name[32];
        snprintf(name, sizeof(name), "period %d", t);
        measure(&m[0], 0.5, 5);
        measure(&m[1], 4, 5);
        roma_ctl_update(ROMA_CTL_ROMA, NULL, m, 2, 2);
        check_node(name, m, 2, 2);
        CASE_CHECK(name, finite_state(&m[0]) && finite_state(&m[1]));
        CHECK_NEAR(name, m[0].cores_before_norm, 2);
        if (t < 2) {
            CHECK_NEAR(name, m[1].cores, want_b[t]);
            CHECK_NEAR(name, m[0].cores, 2 - want_b[t]);
        }
        CASE_CHECK(name, m[1].cores > 0.2 + TOL && m[0].cores > 0.2 + TOL);
        CHECK_NEAR(name, node_sum(m, 2), 2);
    }
}

static void test_non_finite_input_every_kind(void **state) {
    /* An SLA of 1e-320, 0, NaN or inf on model A, a sane neighbour B on a
     * node too small for both wants; every kind, with completions and with
     * a stalled backlog: the state stays finite, both stay in [min, max],
     * the node is never exceeded, and B is not pinned at min. */
    static const roma_ctl_kind kinds[] = {ROMA_CTL_ROMA, ROMA_CTL_ROMA_NORM, ROMA_CTL_RULES};
    static const double slas[] = {1e-320, 0, NAN, INFINITY, -1};
    char name[96];
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        for (size_t i = 0; i < ARRAY_LEN(slas); i++) {
            roma_ctl_model m[2] = {model(slas[i], 0.2, 2, 1), model(1, 0.2, 2, 1)};
            for (int t = 0; t < 12; t++) {
                snprintf(name, sizeof(name), "%s, SLA %g, period %d", roma_ctl_name(kinds[k]),
                         slas[i], t);
                measure(&m[0], 0.5, t % 3 ? 5 : 0);
                backlog(&m[0], 4, 2.5);
                measure(&m[1], 4, 5); /* B is late: it wants more than 1.5 */
                roma_ctl_update(kinds[k], NULL, m, 2, 2);
                check_node(name, m, 2, 2);
                CASE_CHECK(name, finite_state(&m[0]) && finite_state(&m[1]));
                if (t > 3) CASE_CHECK(name, m[1].cores > 0.2 + TOL);
            }
        }
    }
}

static void test_nan_proposal_keeps_the_node(void **state) {
    /* static proposes `initial`: A's is NaN (never validated, say), B's 3.
     * The NaN proposal is replaced by A's current cores (NaN too, so min);
     * B gets the rest of the 2-core node, 1.8.  Formerly the NaN sum pinned
     * both at min (0.2 + 0.2). */
    roma_ctl_model m[2] = {model(1, 0.2, 2, NAN), model(1, 0.2, 4, 3)};
    roma_ctl_update(ROMA_CTL_STATIC, NULL, m, 2, 2);
    CHECK_NEAR("NaN proposal", m[0].cores_before_norm, 0.2);
    CHECK_NEAR("NaN proposal", m[0].cores, 0.2);
    CHECK_NEAR("neighbour", m[1].cores, 1.8);
    /* a model that has cores keeps them */
    roma_ctl_model h[2] = {model(1, 0.2, 2, 1), model(1, 0.2, 4, 3)};
    h[0].initial = NAN;
    roma_ctl_update(ROMA_CTL_STATIC, NULL, h, 2, 8);
    CHECK_NEAR("NaN proposal holds", h[0].cores, 1);
    CHECK_NEAR("neighbour with room", h[1].cores, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_name_defaults_init),
        cmocka_unit_test(test_roma_one_period),
        cmocka_unit_test(test_roma_second_period_and_null_params),
        cmocka_unit_test(test_roma_anti_windup_at_max),
        cmocka_unit_test(test_normalised_by_kind),
        cmocka_unit_test(test_normalisation_cases),
        cmocka_unit_test(test_normalisation_property),
        cmocka_unit_test(test_roma_step_response),
        cmocka_unit_test(test_roma_step_response_node_too_small),
        cmocka_unit_test(test_rules_one_period),
        cmocka_unit_test(test_rules_cooldown_sequence),
        cmocka_unit_test(test_static_never_changes),
        cmocka_unit_test(test_roma_norm_one_period),
        cmocka_unit_test(test_roma_norm_step_response),
        cmocka_unit_test(test_window_percentile),
        cmocka_unit_test(test_percentile_sla_one_period),
        cmocka_unit_test(test_backlog_grows_every_kind),
        cmocka_unit_test(test_backlog_lower_bound_never_shrinks),
        cmocka_unit_test(test_stalled_model_keeps_growing),
        cmocka_unit_test(test_idle_still_goes_to_min),
        cmocka_unit_test(test_completions_ignore_backlog),
        cmocka_unit_test(test_absurd_sla_roma),
        cmocka_unit_test(test_non_finite_input_every_kind),
        cmocka_unit_test(test_nan_proposal_keeps_the_node),
        cmocka_unit_test(test_relative_pi_ff_known_answers),
        cmocka_unit_test(test_relative_pi_ff_without_counter_is_relative_pi),
        cmocka_unit_test(test_params_follow_the_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_policy.c - GPU dispatch policies (src/control/policy.h).
 *
 * Covers: roma_policy_parse/roma_policy_name for every kind and rejected
 * names; the roma heuristic's estimate and need on hand-computed cases
 * (queued mean from the arrival sum, 50/50 blend with the recent mean, no
 * blend without finished requests, the alpha threshold including its exact
 * edge, empty queues); roma picks (largest need, need beating a longer
 * queue, fallback to the longest queue when every need is 0, ties to the
 * lowest index, empty queues skipped even with garbage summaries, -1 when
 * all are empty); edf (oldest arrival + SLA, per-model SLAs); longest-queue;
 * round-robin rotation with a cursor that skips empty queues and survives a
 * shrinking model count; random (only non-empty queues, roughly uniform,
 * identical sequences for one seed, different ones for another); the
 * cost-aware dispatch (expected finish on hand-computed CPU and GPU loads,
 * the pick with ties to the device listed first, a CPU worker at 0 cores
 * never chosen; a free GPU slot serving the largest CPU saving per GPU
 * second, queues without a CPU cost first by edf, all-unknown as edf); and the
 * recent-response-time ring (empty, partial, wrap-around past 50).
 */
#include "unit.h"

#include <math.h>

#include "control/policy.h"

/* A queue of len requests whose arrivals add up to sum_arrival. */
static roma_policy_queue queue(double sla, double alpha, double profiled, size_t len,
                               double sum_arrival, double oldest, double recent) {
    return (roma_policy_queue){sla, alpha, profiled, len, sum_arrival, oldest, recent};
}

static int pick(roma_policy_kind kind, const roma_policy_queue *q, size_t n, double now) {
    roma_policy p;
    roma_policy_init(&p, kind, 1);
    return roma_policy_pick(&p, q, n, now);
}

/* ---- names ------------------------------------------------------------------ */

static void test_parse_and_name(void **state) {
    static const struct {
        const char *name;
        roma_policy_kind kind;
    } cases[] = {
        {"roma", ROMA_POLICY_ROMA},
        {"edf", ROMA_POLICY_EDF},
        {"longest-queue", ROMA_POLICY_LONGEST_QUEUE},
        {"round-robin", ROMA_POLICY_ROUND_ROBIN},
        {"random", ROMA_POLICY_RANDOM},
        {"cost-aware", ROMA_POLICY_COST_AWARE},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_policy_kind kind = (roma_policy_kind)-1;
        CASE_CHECK_INT(cases[i].name, roma_policy_parse(cases[i].name, &kind), ROMA_OK);
        CASE_CHECK_INT(cases[i].name, kind, cases[i].kind);
        CASE_CHECK_STR(cases[i].name, roma_policy_name(kind), cases[i].name);
        check_contains(cases[i].name, ROMA_POLICY_NAMES, cases[i].name);
    }
    static const char *const bad[] = {"", "ROMA", "fifo", "longest_queue", "round-robin ", "rand"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        roma_policy_kind kind = ROMA_POLICY_EDF;
        CASE_CHECK_INT(bad[i], roma_policy_parse(bad[i], &kind), ROMA_INVALID_ARGUMENT);
        CASE_CHECK_INT(bad[i], kind, ROMA_POLICY_EDF);
    }
    roma_policy_kind kind = ROMA_POLICY_EDF;
    assert_int_equal(roma_policy_parse(NULL, &kind), ROMA_INVALID_ARGUMENT);
    assert_string_equal(roma_policy_name((roma_policy_kind)99), "unknown");
}

/* ---- roma: estimate and need ------------------------------------------------ */

static void test_roma_estimate_and_need(void **state) {
    /* Binary-exact numbers (halves, quarters, eighths) keep the arithmetic
     * exact, so the threshold edge is tested exactly. */
    static const struct {
        const char *name;
        roma_policy_queue q;
        double now, est, need;
    } cases[] = {
        /* arrivals 9.5 and 9.75 (sum 19.25), now 10, profiled 0.25:
         * mean of (10-9.5+0.25, 10-9.75+0.25) = (0.75 + 0.5)/2 = 0.625;
         * SLA 0.5, alpha 0.5: 0.625 >= 0.25, need = 0.625 - 0.5 + 0.25 = 0.375 */
        {"queued mean only", {0.5, 0.5, 0.25, 2, 19.25, 9.5, -1}, 10, 0.625, 0.375},
        /* same queue, last finished mean 1.125: est = (0.625 + 1.125)/2 = 0.875,
         * need = 0.875 - 0.5 + 0.25 = 0.625 */
        {"blended 50/50", {0.5, 0.5, 0.25, 2, 19.25, 9.5, 1.125}, 10, 0.875, 0.625},
        /* recent mean 0 is a real mean (finished instantly): est = 0.625/2 */
        {"recent mean of 0 blends", {0.5, 0.5, 0.25, 2, 19.25, 9.5, 0}, 10, 0.3125, 0.0625},
        /* one request, waited 0.125 + 0.0625 profiled = 0.1875 < 0.5*(1-0.5) */
        {"below threshold", {0.5, 0.5, 0.0625, 1, 9.875, 9.875, -1}, 10, 0.1875, 0},
        /* est exactly SLA*(1-alpha) = 0.25: need 0.25 - 0.5 + 0.25 = 0 */
        {"at threshold", {0.5, 0.5, 0, 1, 9.75, 9.75, -1}, 10, 0.25, 0},
        /* alpha 0: no margin; 0.375 < SLA 0.5 is not yet a need */
        {"alpha 0 under SLA", {0.5, 0, 0.125, 1, 9.75, 9.75, -1}, 10, 0.375, 0},
        /* alpha 0, est 0.75: need = 0.75 - 0.5 = 0.25 */
        {"alpha 0 over SLA", {0.5, 0, 0.25, 1, 9.5, 9.5, -1}, 10, 0.75, 0.25},
        /* alpha 1: every est counts, need = est - 0.5 + 0.5 = est */
        {"alpha 1", {0.5, 1, 0.125, 1, 9.875, 9.875, -1}, 10, 0.25, 0.25},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_NEAR(cases[i].name, roma_policy_estimate(&cases[i].q, cases[i].now), cases[i].est);
        CHECK_NEAR(cases[i].name, roma_policy_need(&cases[i].q, cases[i].now), cases[i].need);
    }
    roma_policy_queue empty = queue(0.5, 0.5, 0.25, 0, 0, 0, 3);
    assert_true(roma_policy_need(&empty, 10) == 0);
}

/* ---- roma: picks ------------------------------------------------------------ */

#define MAXQ 4

static void test_roma_pick(void **state) {
    /* now = 10 throughout.  Per queue: {sla, alpha, profiled, len, sum, oldest, recent} */
    static const struct {
        const char *name;
        size_t n;
        roma_policy_queue q[MAXQ];
        int want;
    } cases[] = {
        /* needs: q0 1 request waited 0.5 (+0.25) = 0.75 -> 0.75-1+0.5 = 0.25;
         *        q1 1 request waited 1.0 (+0.25) = 1.25 -> 0.75 */
        {"largest need", 2, {{1, 0.5, 0.25, 1, 9.5, 9.5, -1}, {1, 0.5, 0.25, 1, 9, 9, -1}}, 1},
        /* q0: 5 requests that just arrived (est 0.25 < 0.5: need 0);
         * q1: 1 request, est 1.25 -> need 0.75: need beats length */
        {"need beats longer queue", 2,
         {{1, 0.5, 0.25, 5, 50, 10, -1}, {1, 0.5, 0.25, 1, 9, 9, -1}}, 1},
        /* every est 0.25 < 0.5: no need, serve the longest (q2, 3 requests) */
        {"no need: longest queue", 3,
         {{1, 0.5, 0.25, 1, 10, 10, -1}, {1, 0.5, 0.25, 2, 20, 10, -1},
          {1, 0.5, 0.25, 3, 30, 10, -1}}, 2},
        {"no need: longest tie to lowest index", 3,
         {{1, 0.5, 0.25, 1, 10, 10, -1}, {1, 0.5, 0.25, 3, 30, 10, -1},
          {1, 0.5, 0.25, 3, 30, 10, -1}}, 1},
        /* both est 1.25 -> need 0.75 */
        {"need tie to lowest index", 3,
         {{1, 0.5, 0.25, 0, 0, 0, -1}, {1, 0.5, 0.25, 1, 9, 9, -1}, {1, 0.5, 0.25, 2, 18, 9, -1}},
         1},
        /* q1's queued est (0.75) is below q0's (1.0), but its last 50 took
         * 2.25: est (0.75+2.25)/2 = 1.5 -> need 1.0 vs q0 1.0-1+0.5 = 0.5 */
        {"blend changes the pick", 2,
         {{1, 0.5, 0, 1, 9, 9, -1}, {1, 0.5, 0.25, 1, 9.5, 9.5, 2.25}}, 1},
        /* same queues, no recent history: q0 (need 0.5) beats q1 (0.25) */
        {"without history", 2, {{1, 0.5, 0, 1, 9, 9, -1}, {1, 0.5, 0.25, 1, 9.5, 9.5, -1}}, 0},
        /* est 0.75 each, SLA 1: alpha 0.5 gives need 0.25, alpha 0.1 gives 0
         * (0.75 < 0.9); the wider margin wins even though q0 is longer */
        {"alpha decides", 2,
         {{1, 0.1, 0.25, 2, 19, 9.5, -1}, {1, 0.5, 0.25, 1, 9.5, 9.5, -1}}, 1},
        /* q0 and q2 empty with garbage summaries that would look urgent */
        {"empty queues skipped", 3,
         {{1, 0.5, 5, 0, -100, -100, 50}, {1, 0.5, 0.25, 1, 10, 10, -1},
          {0.01, 1, 9, 0, 0, 0, 99}}, 1},
        {"all empty", 2, {{1, 0.5, 0.25, 0, 0, 0, 1}, {1, 0.5, 0.25, 0, 0, 0, -1}}, -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CASE_CHECK_INT(cases[i].name, pick(ROMA_POLICY_ROMA, cases[i].q, cases[i].n, 10),
                       cases[i].want);
    assert_int_equal(pick(ROMA_POLICY_ROMA, NULL, 0, 10), -1);
}

/* ---- edf and longest-queue -------------------------------------------------- */

static void test_edf_and_longest_queue(void **state) {
    static const struct {
        const char *name;
        roma_policy_kind kind;
        size_t n;
        roma_policy_queue q[MAXQ];
        int want;
    } cases[] = {
        /* deadlines 1.0+0.5 = 1.5 and 1.2+0.2 = 1.4: the later arrival has the
         * tighter SLA and goes first */
        {"edf uses arrival + SLA", ROMA_POLICY_EDF, 2,
         {{0.5, 0, 0, 4, 0, 1.0, -1}, {0.2, 0, 0, 1, 0, 1.2, -1}}, 1},
        /* same SLA: the oldest head goes first */
        {"edf oldest", ROMA_POLICY_EDF, 3,
         {{0.5, 0, 0, 1, 0, 2, -1}, {0.5, 0, 0, 1, 0, 1, -1}, {0.5, 0, 0, 1, 0, 3, -1}}, 1},
        {"edf tie to lowest index", ROMA_POLICY_EDF, 3,
         {{0.5, 0, 0, 1, 0, 2, -1}, {1, 0, 0, 1, 0, 1.5, -1}, {0.5, 0, 0, 1, 0, 2, -1}}, 0},
        /* q0 is empty; its stale oldest_arrival 0 must not win */
        {"edf skips empty", ROMA_POLICY_EDF, 2,
         {{0.5, 0, 0, 0, 0, 0, -1}, {0.5, 0, 0, 1, 0, 7, -1}}, 1},
        {"edf all empty", ROMA_POLICY_EDF, 2, {{0.5}, {0.5}}, -1},
        {"longest", ROMA_POLICY_LONGEST_QUEUE, 4,
         {{1, 0, 0, 2}, {1, 0, 0, 7}, {1, 0, 0, 0}, {1, 0, 0, 3}}, 1},
        {"longest tie to lowest index", ROMA_POLICY_LONGEST_QUEUE, 3,
         {{1, 0, 0, 1}, {1, 0, 0, 4}, {1, 0, 0, 4}}, 1},
        {"longest all empty", ROMA_POLICY_LONGEST_QUEUE, 2, {{1}, {1}}, -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CASE_CHECK_INT(cases[i].name, pick(cases[i].kind, cases[i].q, cases[i].n, 10),
                       cases[i].want);
}

/* ---- round-robin ------------------------------------------------------------ */

static void test_round_robin_rotates_and_skips_empty(void **state) {
    roma_policy p;
    roma_policy_init(&p, ROMA_POLICY_ROUND_ROBIN, 0);
    roma_policy_queue q[4] = {{1, 0, 0, 3}, {1, 0, 0, 0}, {1, 0, 0, 2}, {1, 0, 0, 1}};
    /* queue 1 is empty: 0, 2, 3, 0, 2, 3 */
    static const int want[] = {0, 2, 3, 0, 2, 3};
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        assert_int_equal(roma_policy_pick(&p, q, 4, 0), want[i]);

    /* queue 1 fills, queue 0 empties: the cursor (after 3, so at 0) goes on
     * to 1, then 2, 3, 1 */
    q[1].queue_len = 5;
    q[0].queue_len = 0;
    static const int want2[] = {1, 2, 3, 1};
    for (size_t i = 0; i < ARRAY_LEN(want2); i++)
        assert_int_equal(roma_policy_pick(&p, q, 4, 0), want2[i]);

    /* all empty: -1, and the cursor does not move */
    roma_policy_queue none[4] = {{1}, {1}, {1}, {1}};
    size_t cursor = p.rr_next;
    assert_int_equal(roma_policy_pick(&p, none, 4, 0), -1);
    assert_int_equal(p.rr_next, cursor);

    /* a cursor left beyond a shrunk model count still lands on a queue */
    p.rr_next = 7;
    roma_policy_queue two[2] = {{1, 0, 0, 1}, {1, 0, 0, 1}};
    assert_int_equal(roma_policy_pick(&p, two, 2, 0), 1); /* 7 % 2 */
    assert_int_equal(roma_policy_pick(&p, two, 2, 0), 0);
}

/* ---- random ----------------------------------------------------------------- */

static void test_random_only_nonempty_and_uniform(void **state) {
    roma_policy p;
    roma_policy_init(&p, ROMA_POLICY_RANDOM, 42);
    roma_policy_queue q[5] = {{1, 0, 0, 5}, {1, 0, 0, 0}, {1, 0, 0, 3}, {1, 0, 0, 0}, {1, 0, 0, 1}};
    size_t hits[5] = {0};
    enum { DRAWS = 30000 };
    for (int i = 0; i < DRAWS; i++) {
        int k = roma_policy_pick(&p, q, 5, 0);
        assert_true(k == 0 || k == 2 || k == 4);
        hits[k]++;
    }
    /* uniform over the 3 non-empty queues, not weighted by length: 10000
     * each expected, sd ~82, so +-600 never fails by chance */
    for (int k = 0; k < 5; k += 2)
        if (hits[k] < DRAWS / 3 - 600 || hits[k] > DRAWS / 3 + 600)
            fail_msg("queue %d picked %zu times of %d", k, hits[k], DRAWS);

    roma_policy_queue none[2] = {{1}, {1}};
    assert_int_equal(roma_policy_pick(&p, none, 2, 0), -1);
    roma_policy_queue one[3] = {{1}, {1}, {1, 0, 0, 2}};
    for (int i = 0; i < 20; i++) assert_int_equal(roma_policy_pick(&p, one, 3, 0), 2);
}

static void test_random_deterministic_for_a_seed(void **state) {
    roma_policy a, b, c;
    roma_policy_init(&a, ROMA_POLICY_RANDOM, 7);
    roma_policy_init(&b, ROMA_POLICY_RANDOM, 7);
    roma_policy_init(&c, ROMA_POLICY_RANDOM, 8);
    roma_policy_queue q[8];
    for (size_t i = 0; i < 8; i++) q[i] = queue(1, 0, 0, 1, 0, 0, -1);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int ka = roma_policy_pick(&a, q, 8, 0);
        assert_int_equal(ka, roma_policy_pick(&b, q, 8, 0));
        differ += ka != roma_policy_pick(&c, q, 8, 0);
    }
    /* another seed is another sequence (chance agreement is 1/8 per draw) */
    assert_true(differ > 100);
}

/* ---- fastest: cost-aware dispatch ------------------------------------------- */

static void test_fastest_finish(void **state) {
    /* {service, work_ahead, rate, lane} -> max(service/lane, (ahead+service)/rate) */
    static const struct {
        const char *name;
        roma_device_load d;
        double finish;
    } cases[] = {
        /* idle GPU: its own 4 ms */
        {"idle GPU", {0.004, 0, 1, 1}, 0.004},
        /* GPU with 3 requests of 8 ms ahead: 0.024 + 0.008 */
        {"GPU queue", {0.008, 0.024, 1, 1}, 0.032},
        /* CPU worker at 0.5 core, idle: 0.125 s of work at 0.5 = 0.25 s */
        {"CPU half core", {0.125, 0, 0.5, 0.5}, 0.25},
        /* 2 cores, one 0.125 request held: a lane is free, so alone
         * (0.125 s) beats drained (0.25 / 2 = 0.125): equal, 0.125 */
        {"CPU free lane", {0.125, 0.125, 2, 1}, 0.125},
        /* 2 cores, three held: drained (0.375 + 0.125) / 2 = 0.25 */
        {"CPU all lanes busy", {0.125, 0.375, 2, 1}, 0.25},
        /* 1.5 cores, nothing held: one thread, 1 core: 0.125 */
        {"CPU lane capped at one core", {0.125, 0, 1.5, 1}, 0.125},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CHECK_NEAR(cases[i].name, roma_fastest_finish(&cases[i].d), cases[i].finish);
    roma_device_load none = {0.125, 0, 0, 0};
    assert_true(isinf(roma_fastest_finish(&none)));
}

static void test_fastest_pick(void **state) {
    /* A GPU of 8 ms per request against a CPU worker of 123 ms at 0.5 core
     * (finish 0.246 s): the GPU wins until 0.238 s of work waits for it. */
    roma_device_load d[2] = {{0.008, 0, 1, 1}, {0.123, 0, 0.5, 0.5}};
    assert_int_equal(roma_fastest_pick(d, 2), 0);
    d[0].work_ahead = 0.25; /* 0.258 > 0.246: the CPU now finishes first */
    assert_int_equal(roma_fastest_pick(d, 2), 1);
    d[1].work_ahead = 0.123; /* CPU: (0.123 + 0.123) / 0.5 = 0.492: GPU again */
    assert_int_equal(roma_fastest_pick(d, 2), 0);
    /* exact tie (0.25 both): the first listed, the cheaper device */
    roma_device_load tie[2] = {{0.125, 0.125, 1, 1}, {0.125, 0, 0.5, 0.5}};
    assert_int_equal(roma_fastest_pick(tie, 2), 0);
    roma_device_load tie_rev[2] = {tie[1], tie[0]};
    assert_int_equal(roma_fastest_pick(tie_rev, 2), 0);
    /* a CPU worker at 0 cores never finishes: a deep GPU queue still wins */
    roma_device_load zero[2] = {{0.125, 0, 0, 0}, {0.008, 100, 1, 1}};
    assert_int_equal(roma_fastest_pick(zero, 2), 1);
    assert_int_equal(roma_fastest_pick(d, 0), -1);
    assert_int_equal(roma_fastest_pick(d, 1), 0);
}

/* queue() with the CPU cost a request of the model has on its CPU worker */
static roma_policy_queue costed(double sla, double profiled, size_t len, double oldest, double cpu_cost) {
    roma_policy_queue q = queue(sla, 0.5, profiled, len, oldest * (double)len, oldest, -1);
    q.cpu_cost = cpu_cost;
    return q;
}

/* A free CPU slot's decision, worked by hand.  The CPU worker: 40 ms a
 * request at one core.  The GPU: 10 ms a request. */
static void test_cost_cpu_takes(void **state) {
    (void)state;
    struct {
        const char *name;
        roma_cost_split v;
        int takes;
    } cases[] = {
        /* GPU: max(0.01, (0 + 0.01)/1) = 0.01 s; CPU at 1 core: 0.04 s */
        {"idle GPU wins", {.cpu_service = 0.04, .cpu_cores = 1, .gpu_service = 0.01, .gpus = 1}, 0},
        /* GPU: (0.05 + 0.01)/1 = 0.06 s; CPU: 0.04 s */
        {"busy GPU loses", {.cpu_service = 0.04, .cpu_cores = 1, .gpu_service = 0.01,
                            .gpu_work = 0.05, .gpus = 1}, 1},
        /* the same GPU work over 2 GPUs: 0.03 s < 0.04 s */
        {"two GPUs drain faster", {.cpu_service = 0.04, .cpu_cores = 1, .gpu_service = 0.01,
                                   .gpu_work = 0.05, .gpus = 2}, 0},
        /* CPU at 0.5 cores: 0.04/0.5 = 0.08 s > 0.06 s */
        {"few cores lose", {.cpu_service = 0.04, .cpu_cores = 0.5, .gpu_service = 0.01,
                            .gpu_work = 0.05, .gpus = 1}, 0},
        /* CPU at 2 cores holding 3: max(0.04/1, (3*0.04 + 0.04)/2) = 0.08 s > 0.06 s */
        {"a held CPU loses", {.cpu_service = 0.04, .cpu_cores = 2, .cpu_held = 3,
                              .gpu_service = 0.01, .gpu_work = 0.05, .gpus = 1}, 0},
        /* equal: 0.04 s each; the tie goes to the GPU, whose seconds cost no cores */
        {"tie to the GPU", {.cpu_service = 0.04, .cpu_cores = 1, .gpu_service = 0.04, .gpus = 1}, 0},
        {"no GPU ready", {.cpu_service = 0.04, .cpu_cores = 1, .gpu_service = 0.01, .gpus = 0}, 1},
        {"CPU cost unknown", {.cpu_service = 0, .cpu_cores = 1, .gpu_service = 0.01, .gpus = 1}, 1},
        {"GPU time unknown", {.cpu_service = 0.04, .cpu_cores = 1, .gpus = 1}, 0},
        {"no cores", {.cpu_service = 0.04, .cpu_cores = 0, .gpu_service = 5, .gpus = 1}, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (roma_cost_cpu_takes(&cases[i].v) != cases[i].takes) fail_msg("%s", cases[i].name);
    }
}

static void test_cost_aware_gpu_slot(void **state) {
    /* resnet-like (0.123 s CPU / 0.008 s GPU: 15.4 CPU seconds saved per GPU
     * second) against vgg-like (0.346 / 0.012: 28.8): vgg, although
     * resnet's deadline (9 + 0.6) is earlier than vgg's (9.5 + 1). */
    roma_policy_queue q[3] = {costed(0.6, 0.008, 5, 9, 0.123), costed(1, 0.012, 1, 9.5, 0.346),
                              costed(0.5, 0.004, 0, 9, 0)};
    assert_int_equal(pick(ROMA_POLICY_COST_AWARE, q, 3, 10), 1);
    /* a non-empty queue without a CPU cost (GPU only) goes first */
    q[2].queue_len = 1;
    assert_int_equal(pick(ROMA_POLICY_COST_AWARE, q, 3, 10), 2);
    /* with no CPU cost known anywhere (a caller that does not fill it in)
     * it is edf: resnet's deadline 9.6 before vgg's 10.5 */
    roma_policy_queue unknown[2] = {costed(0.6, 0.008, 5, 9, 0), costed(1, 0.012, 1, 9.5, 0)};
    assert_int_equal(pick(ROMA_POLICY_COST_AWARE, unknown, 2, 10), 0);
    /* empty queues are skipped; all empty: -1 */
    q[1].queue_len = 0, q[2].queue_len = 0;
    assert_int_equal(pick(ROMA_POLICY_COST_AWARE, q, 3, 10), 0);
    q[0].queue_len = 0;
    assert_int_equal(pick(ROMA_POLICY_COST_AWARE, q, 3, 10), -1);
}

/* ---- recent response times ------------------------------------------------- */

static void test_rt_ring(void **state) {
    roma_rt_ring r;
    roma_rt_ring_init(&r);
    assert_true(roma_rt_ring_mean(&r) < 0);

    roma_rt_ring_push(&r, 0.5);
    roma_rt_ring_push(&r, 1.0);
    roma_rt_ring_push(&r, 3.0);
    CHECK_NEAR("three", roma_rt_ring_mean(&r), 1.5);

    /* 1..60 pushed in all (1 .. 3 above are overwritten too): the ring keeps
     * 11..60, mean (11 + 60) / 2 = 35.5 */
    roma_rt_ring_init(&r);
    for (int i = 1; i <= 60; i++) roma_rt_ring_push(&r, i);
    assert_int_equal(r.count, ROMA_RT_RING_CAP);
    CHECK_NEAR("wrapped", roma_rt_ring_mean(&r), 35.5);

    /* exactly 50: 1..50, mean 25.5 */
    roma_rt_ring_init(&r);
    for (int i = 1; i <= 50; i++) roma_rt_ring_push(&r, i);
    CHECK_NEAR("full", roma_rt_ring_mean(&r), 25.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_name),
        cmocka_unit_test(test_roma_estimate_and_need),
        cmocka_unit_test(test_roma_pick),
        cmocka_unit_test(test_edf_and_longest_queue),
        cmocka_unit_test(test_round_robin_rotates_and_skips_empty),
        cmocka_unit_test(test_random_only_nonempty_and_uniform),
        cmocka_unit_test(test_random_deterministic_for_a_seed),
        cmocka_unit_test(test_fastest_finish),
        cmocka_unit_test(test_fastest_pick),
        cmocka_unit_test(test_cost_aware_gpu_slot),
        cmocka_unit_test(test_cost_cpu_takes),
        cmocka_unit_test(test_rt_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_history.c - the dashboard's time series (src/serve/history.h) and
 * its rows in the store (store_add_history, store_read_history).
 *
 * Covers: quantiles of an interval's response times (empty, one value,
 * a spread within the 2.5% the buckets promise, bad values ignored); the
 * ring's bound (the oldest samples go), its time order (an older sample is
 * refused) and `since` (first_after and the JSON holding only newer
 * samples, "last" to pass back, one model alone, null for absent points
 * and empty intervals); a point through its stored JSON and back; and a
 * restart: samples written through one store, the store closed, a new
 * store on the same file read back into a new ring (rows of a day ago
 * deleted).
 */
#include "unit.h"

#include <unistd.h>

#include "serve/history.h"
#include "serve/store.h"

/* ---- quantiles -------------------------------------------------------------- */

static void test_quantiles(void **state) {
    (void)state;
    history_rt_acc a = {0};
    assert_true(isnan(history_rt_quantile(&a, 0.5)));
    assert_true(isnan(history_rt_mean(&a)));

    history_rt_add(&a, 0.0123);
    assert_float_equal(history_rt_quantile(&a, 0.5), 0.0123, 1e-12);
    assert_float_equal(history_rt_quantile(&a, 0.99), 0.0123, 1e-12);

    history_rt_reset(&a);
    for (int ms = 1; ms <= 100; ms++) history_rt_add(&a, ms / 1000.0);
    history_rt_add(&a, -1);
    history_rt_add(&a, NAN);
    assert_int_equal(a.count, 100);
    assert_float_equal(history_rt_mean(&a), 0.0505, 1e-9);
    struct { double p, want; } cases[] = {{0.5, 0.050}, {0.95, 0.095}, {0.99, 0.099}, {1, 0.100}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        double got = history_rt_quantile(&a, cases[i].p);
        if (fabs(got - cases[i].want) > 0.026 * cases[i].want)
            fail_msg("p%g: %g, expected %g within 2.6%%", cases[i].p * 100, got, cases[i].want);
    }
    assert_float_equal(history_rt_quantile(&a, 0.001), 0.001, 0.026 * 0.001);

    history_rt_reset(&a);
    history_rt_add(&a, 1e-7);   /* below the first bucket */
    history_rt_add(&a, 1e6); /* past the last (8 h) */
    assert_float_equal(history_rt_quantile(&a, 0.5), 1e-7, 1e-12);
    assert_float_equal(history_rt_quantile(&a, 1), 1e6, 1e-9);
}

/* ---- the ring ------------------------------------------------------------- */

static history_point point_at(double t) {
    history_point p = {.present = 1, .sla = 0.25, .p50 = t / 1000, .p95 = t / 500,
                       .p99 = t / 400, .mean = t / 900, .queue = (uint32_t)t, .cores = 1.5,
                       .cpu_used = 0.75};
    p.ok[0] = (uint32_t)t;
    p.ok[3] = 2; /* gpu:2 */
    p.violations = 1;
    return p;
}

static void push_models(history_ring *r, double t) {
    history_point pts[2] = {point_at(t), point_at(t)};
    pts[1].queue = 7;
    double busy = 0.5;
    assert_int_equal(history_ring_push(r, t, pts, &busy), 0);
}

static void test_ring_bounds_and_order(void **state) {
    (void)state;
    history_ring r;
    roma_err err;
    int gpus[] = {2};
    assert_int_equal(history_ring_init(&r, 5, 2, gpus, 1, &err), ROMA_OK);
    assert_int_equal(history_ring_first_after(&r, 0), 0);
    for (int t = 1; t <= 8; t++) push_models(&r, t);
    assert_int_equal(r.len, 5);
    assert_float_equal(history_ring_time(&r, 0), 4, 0);
    assert_float_equal(history_ring_time(&r, 4), 8, 0);
    assert_int_equal(history_ring_point(&r, 0, 0)->queue, 4);
    assert_int_equal(history_ring_point(&r, 4, 1)->queue, 7);
    assert_float_equal(history_ring_gpu_busy(&r, 2, 0), 0.5, 0);

    /* Time order: not after the newest is refused, and nothing changes. */
    history_point pts[2] = {point_at(8), point_at(8)};
    assert_int_equal(history_ring_push(&r, 8, pts, NULL), -1);
    assert_int_equal(history_ring_push(&r, 3, pts, NULL), -1);
    assert_int_equal(r.len, 5);
    assert_float_equal(history_ring_time(&r, 4), 8, 0);

    struct { double since; size_t want; } cases[] = {
        {-INFINITY, 0}, {0, 0}, {4, 1}, {4.5, 1}, {7.999, 4}, {8, 5}, {100, 5}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (history_ring_first_after(&r, cases[i].since) != cases[i].want)
            fail_msg("first_after(%g) = %zu, expected %zu", cases[i].since,
                     history_ring_first_after(&r, cases[i].since), cases[i].want);
    history_ring_free(&r);

    int too_many[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, negative[] = {-1};
    assert_int_equal(history_ring_init(&r, 5, 1, too_many, 9, &err), ROMA_INVALID_ARGUMENT);
    assert_int_equal(history_ring_init(&r, 5, 1, negative, 1, &err), ROMA_INVALID_ARGUMENT);
    assert_int_equal(history_ring_init(&r, 0, 1, NULL, 0, &err), ROMA_INVALID_ARGUMENT);
}

static json_t *history_json(const history_ring *r, double since, int only) {
    static const char *const names[] = {"resnet", "mob\"ile"};
    roma_buf b = ROMA_BUF_INIT;
    json_error_t je;
    history_write_json(r, since, names, only, 1, &b);
    json_t *o = json_loads(b.data, 0, &je);
    if (!o) fail_msg("not JSON (%s): %s", je.text, b.data);
    roma_buf_free(&b);
    return o;
}

static void test_json_since_and_model(void **state) {
    (void)state;
    history_ring r;
    roma_err err;
    int gpus[] = {2};
    assert_int_equal(history_ring_init(&r, 10, 2, gpus, 1, &err), ROMA_OK);

    json_t *o = history_json(&r, -INFINITY, -1); /* empty: last 0, no samples */
    assert_float_equal(json_number_value(json_object_get(o, "last")), 0, 0);
    assert_int_equal(json_array_size(json_object_get(o, "t")), 0);
    json_decref(o);

    for (int t = 101; t <= 104; t++) push_models(&r, t);
    /* Sample 105: the second model absent, nothing answered by the first. */
    history_point pts[2] = {point_at(105), {0}};
    pts[0].p50 = pts[0].p95 = pts[0].p99 = pts[0].mean = NAN;
    double busy = 1;
    assert_int_equal(history_ring_push(&r, 105, pts, &busy), 0);

    o = history_json(&r, 102, -1);
    json_t *t = json_object_get(o, "t"), *models = json_object_get(o, "models");
    assert_int_equal(json_array_size(t), 3);
    assert_float_equal(json_number_value(json_array_get(t, 0)), 103, 1e-9);
    assert_float_equal(json_number_value(json_object_get(o, "last")), 105, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(o, "horizon")), 10);
    assert_int_equal(json_array_size(models), 2);
    json_t *m0 = json_array_get(models, 0), *m1 = json_array_get(models, 1);
    assert_string_equal(json_string_value(json_object_get(m1, "name")), "mob\"ile");
    assert_float_equal(json_number_value(json_array_get(json_object_get(m0, "sla"), 0)), 0.25, 1e-9);
    assert_float_equal(json_number_value(json_array_get(json_object_get(m0, "p50"), 1)), 0.104, 1e-6);
    assert_true(json_is_null(json_array_get(json_object_get(m0, "p50"), 2)));
    assert_true(json_is_null(json_array_get(json_object_get(m1, "queue"), 2)));
    json_t *ok = json_object_get(m0, "ok");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ok, "cpu"), 0)), 103);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ok, "gpu:2"), 0)), 2);
    json_t *g = json_array_get(json_object_get(o, "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "gpu:2");
    assert_float_equal(json_number_value(json_array_get(json_object_get(g, "busy"), 2)), 1, 0);
    json_decref(o);

    /* Nothing newer: empty columns, and last stays what was passed. */
    o = history_json(&r, 105, 1);
    assert_int_equal(json_array_size(json_object_get(o, "t")), 0);
    assert_float_equal(json_number_value(json_object_get(o, "last")), 105, 1e-9);
    models = json_object_get(o, "models");
    assert_int_equal(json_array_size(models), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 0), "name")), "mob\"ile");
    assert_int_equal(json_array_size(json_object_get(o, "gpus")), 0); /* one model: no GPUs */
    json_decref(o);
    history_ring_free(&r);
}

static void test_point_json_round_trip(void **state) {
    (void)state;
    history_point p = point_at(42), back;
    p.rejected = 3, p.failed = 4;
    p.p99 = NAN;
    roma_buf b = ROMA_BUF_INIT;
    roma_err err;
    history_point_json(&p, &b);
    assert_int_equal(history_point_parse(b.data, &back, &err), ROMA_OK);
    assert_int_equal(back.present, 1);
    assert_float_equal(back.sla, p.sla, 1e-9);
    assert_float_equal(back.p50, p.p50, 1e-6);
    assert_true(isnan(back.p99));
    assert_int_equal(back.ok[0], 42);
    assert_int_equal(back.ok[3], 2);
    assert_int_equal(back.rejected, 3);
    assert_int_equal(back.failed, 4);
    assert_int_equal(back.queue, 42);
    assert_float_equal(back.cpu_used, 0.75, 1e-9);
    roma_buf_free(&b);
    assert_int_equal(history_point_parse("[1]", &back, &err), ROMA_INVALID_ARGUMENT);
    assert_int_equal(history_point_parse("{\"sla\": ", &back, &err), ROMA_INVALID_ARGUMENT);
}

/* ---- restart from the store --------------------------------------------------- */

typedef struct {
    history_ring *ring;
    double t;
    history_point pts[1];
    int have, rows;
    char series[8][32];
} loader;

static void load_row(void *arg, double t, const char *series, const char *data) {
    loader *l = arg;
    roma_err err;
    if (l->have && t != l->t) history_ring_push(l->ring, l->t, l->pts, NULL), l->have = 0;
    if (l->rows < 8) snprintf(l->series[l->rows], sizeof(l->series[0]), "%s", series);
    l->rows++;
    l->t = t;
    if (strcmp(series, "resnet") == 0) {
        assert_int_equal(history_point_parse(data, &l->pts[0], &err), ROMA_OK);
        l->have = 1;
    }
}

static void test_restart_from_store(void **state) {
    (void)state;
    char dir[] = "/tmp/roma-history-XXXXXX", path[64], cmd[96];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/roma.db", dir);
    store *s = NULL;
    roma_err err;
    assert_int_equal(store_open(path, 0, &s, &err), ROMA_OK);
    roma_buf b = ROMA_BUF_INIT;
    /* A sample of two days ago, then 100 s of samples: the old one goes. */
    double base = 1.7e9;
    history_point old = point_at(1);
    history_point_json(&old, &b);
    store_add_history(s, base - 2 * 86400, "resnet", b.data);
    for (int i = 1; i <= 100; i++) {
        history_point p = point_at(i);
        b.len = 0;
        history_point_json(&p, &b);
        store_add_history(s, base + i, "resnet", b.data);
        store_add_history(s, base + i, "gpu:0", "{\"busy\": 0.5}");
    }
    roma_buf_free(&b);
    store_close(s); /* writes what is queued */

    assert_int_equal(store_open(path, 0, &s, &err), ROMA_OK);
    history_ring ring;
    assert_int_equal(history_ring_init(&ring, 60, 1, NULL, 0, &err), ROMA_OK);
    loader l = {.ring = &ring};
    assert_int_equal(store_read_history(s, base - 3 * 86400, load_row, &l, &err), ROMA_OK);
    if (l.have) history_ring_push(&ring, l.t, l.pts, NULL);
    assert_int_equal(l.rows, 200); /* the row of two days ago was deleted */
    assert_string_equal(l.series[0], "resnet");
    assert_string_equal(l.series[1], "gpu:0");
    assert_int_equal(ring.len, 60); /* the ring's bound: the newest 60 */
    assert_float_equal(history_ring_time(&ring, 0), base + 41, 1e-6);
    assert_int_equal(history_ring_point(&ring, 59, 0)->queue, 100);

    loader since = {.ring = &ring};
    assert_int_equal(store_read_history(s, base + 90, load_row, &since, &err), ROMA_OK);
    assert_int_equal(since.rows, 20);
    history_ring_free(&ring);
    store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_ring_bounds_and_order),
        cmocka_unit_test(test_json_since_and_model),
        cmocka_unit_test(test_point_json_round_trip),
        cmocka_unit_test(test_restart_from_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_bench_report.c - roma bench's summary and outputs (src/bench/report.h).
 *
 * Covers: reading roma_core_seconds_total{model=...} from a /metrics text
 * (the right model among several, labels in any order, no match on a
 * longer label name or another metric, absent metric); the summary JSON
 * built from hand-made outcomes (per model sent / ok / errors / statuses,
 * statistics over the 200 answers only, null statistics for a model with
 * no answer, rate_asked from the plan, rate_achieved over the planned
 * duration or over a late last send, an interrupted run, core_seconds
 * only when given, send_lag_p99); and the CSV and JSON writers (header,
 * unsent requests left out, empty latency without an answer, an
 * unwritable path reported with the path).
 */
#include "unit.h"

#include <math.h>
#include <unistd.h>

#include "bench/report.h"

static void test_core_seconds(void **state) {
    const char *metrics =
        "# HELP roma_core_seconds_total Integral of the allocated cores over time.\n"
        "# TYPE roma_core_seconds_total counter\n"
        "roma_cores_allocated{model=\"resnet\"} 2\n"
        "roma_core_seconds_total{model=\"resnet\"} 12.5\n"
        "roma_core_seconds_total{other_model=\"hp2\",model=\"hp\"} 1\n"
        "roma_core_seconds_total{model=\"hp2\"} 3.25e1\n"
        "roma_core_seconds_total{device=\"cpu\",model=\"vgg\"} 7";
    static const struct {
        const char *model;
        int found;
        double value;
    } cases[] = {
        {"resnet", 1, 12.5}, {"hp2", 1, 32.5}, {"hp", 1, 1}, {"vgg", 1, 7}, {"res", 0, 0}, {"bert", 0, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        double v = -1;
        CASE_CHECK_INT(cases[i].model, bench_report_core_seconds(metrics, cases[i].model, &v), cases[i].found);
        if (cases[i].found) CHECK_NEAR(cases[i].model, v, cases[i].value);
    }
    double v;
    assert_int_equal(bench_report_core_seconds("", "resnet", &v), 0);
    assert_int_equal(bench_report_core_seconds("{\"error\": \"Not found\"}", "resnet", &v), 0);
}

/* Two models; a: 4 requests at 0, 1, 2, 3 s, b: 2 at 0.5, 1.5; a 4 s run. */
typedef struct {
    bench_workload w;
    bench_plan p;
    bench_outcome o[6];
    bench_run_info info;
} fixture;

static void make_fixture(fixture *f) {
    static bench_send sends[] = {{0, 0}, {0.5, 1}, {1, 0}, {1.5, 1}, {2, 0}, {3, 0}};
    static double asked[] = {4, 2.5};
    roma_err err;
    memset(f, 0, sizeof(*f));
    bench_workload_init(&f->w);
    bench_workload_set_flag(&f->w, "target", "http://h:1", &err);
    bench_workload_set_flag(&f->w, "model", "a", &err);
    bench_workload_set_flag(&f->w, "sla", "0.1", &err);
    f->w.models = realloc(f->w.models, 2 * sizeof(bench_model));
    f->w.models[1] = (bench_model){.name = strdup("b"), .sla = 1};
    f->w.nmodels = 2;
    f->p.schedule = (bench_schedule){sends, 6, 6};
    f->p.duration = 4;
    f->p.asked = asked;
    /* a: 200 in 0.05, 200 in 0.3 (violates), 503 in 0.01, no answer;
     * b: 200 in 0.2, never sent. */
    bench_outcome o[] = {{0.05, 0, 200}, {0.2, 0.001, 200}, {0.3, 0.002, 200},
                         {NAN, NAN, -1}, {0.01, 0.003, 503}, {NAN, 0.004, 0}};
    memcpy(f->o, o, sizeof(o));
    f->info = (bench_run_info){.sent = 5, .last_send = 3.0, .elapsed = 3.5, .interrupted_at = NAN,
                               .max_inflight = 2, .connections = 2};
}

static void free_fixture(fixture *f) {
    f->p.schedule.sends = NULL; /* static */
    f->p.asked = NULL;
    bench_workload_free(&f->w);
}

static double num(const json_t *j, const char *path_a, const char *path_b) {
    if (path_b) j = json_object_get(json_object_get(json_object_get(j, "models"), path_a), path_b);
    else j = json_object_get(j, path_a);
    if (!json_is_number(j)) fail_msg("%s.%s is not a number", path_a, path_b ? path_b : "");
    return json_number_value(j);
}

static void test_summary(void **state) {
    fixture f;
    make_fixture(&f);
    double core[] = {1.5, NAN};
    json_t *s = bench_report_summary(&f.w, &f.p, f.o, &f.info, core);
    CHECK_NEAR("duration", num(s, "duration", NULL), 4);
    CHECK_NEAR("rate asked", num(s, "rate_asked", NULL), 6.5 / 4);
    CHECK_NEAR("rate achieved", num(s, "rate_achieved", NULL), 5.0 / 4);
    CHECK_NEAR("sent", num(s, "sent", NULL), 5);
    CHECK_NEAR("ok", num(s, "ok", NULL), 3);
    CHECK_NEAR("errors", num(s, "errors", NULL), 2);
    CHECK_NEAR("lag", num(s, "send_lag_p99", NULL), 0.004);
    assert_true(json_is_false(json_object_get(s, "interrupted")));

    CHECK_NEAR("a sent", num(s, "a", "sent"), 4);
    CHECK_NEAR("a ok", num(s, "a", "ok"), 2);
    CHECK_NEAR("a errors", num(s, "a", "errors"), 2);
    CHECK_NEAR("a mean", num(s, "a", "mean"), (0.05 + 0.3) / 2);
    CHECK_NEAR("a p50", num(s, "a", "p50"), 0.05);
    CHECK_NEAR("a p99", num(s, "a", "p99"), 0.3);
    CHECK_NEAR("a violation", num(s, "a", "violation_rate"), 0.5);
    /* windows of 2 s: [0,2) holds 0.05 and 0.3, mean 0.175 > 0.1; [2,4)
     * holds only the 503 and no answer, so it is not counted: 1 of 1. */
    CHECK_NEAR("a window violation", num(s, "a", "window_violation_rate"), 1);
    CHECK_NEAR("a windows", num(s, "a", "windows"), 1);
    CHECK_NEAR("a rate asked", num(s, "a", "rate_asked"), 1);
    CHECK_NEAR("a rate achieved", num(s, "a", "rate_achieved"), 1);
    CHECK_NEAR("a core", num(s, "a", "core_seconds"), 1.5);
    char *statuses = json_dumps(json_object_get(json_object_get(json_object_get(s, "models"), "a"), "statuses"), 0);
    check_json_equal("a statuses", statuses, "{\"200\": 2, \"503\": 1, \"0\": 1}");
    free(statuses);

    const json_t *b = json_object_get(json_object_get(s, "models"), "b");
    CHECK_NEAR("b sent", num(s, "b", "sent"), 1);
    CHECK_NEAR("b p50", num(s, "b", "p50"), 0.2);
    CHECK_NEAR("b violation", num(s, "b", "violation_rate"), 0);
    assert_true(json_is_null(json_object_get(b, "core_seconds")));
    json_decref(s);

    /* No core-seconds: no key; a late last send stretches the span; a
     * model with no 200 has null statistics. */
    f.o[1].status = 500;
    f.info.last_send = 5;
    s = bench_report_summary(&f.w, &f.p, f.o, &f.info, NULL);
    CHECK_NEAR("late rate", num(s, "rate_achieved", NULL), 5.0 / 5);
    b = json_object_get(json_object_get(s, "models"), "b");
    assert_null(json_object_get(b, "core_seconds"));
    assert_true(json_is_null(json_object_get(b, "p50")));
    assert_true(json_is_null(json_object_get(b, "mean")));
    assert_true(json_is_null(json_object_get(b, "violation_rate")));
    json_decref(s);

    /* Interrupted after 2.5 s: rates over what ran. */
    f.info.interrupted_at = 2.5;
    s = bench_report_summary(&f.w, &f.p, f.o, &f.info, NULL);
    CHECK_NEAR("interrupted rate", num(s, "rate_achieved", NULL), 5.0 / 2.5);
    assert_true(json_is_true(json_object_get(s, "interrupted")));
    json_decref(s);
    free_fixture(&f);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_writers(void **state) {
    fixture f;
    make_fixture(&f);
    char dir[] = "/tmp/roma-bench-report-XXXXXX", csv[64], out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(csv, sizeof(csv), "%s/r.csv", dir);
    snprintf(out, sizeof(out), "%s/s.json", dir);
    roma_err err = {""};
    assert_int_equal(bench_report_write_csv(csv, &f.w, &f.p, f.o, &err), ROMA_OK);
    assert_string_equal(slurp(csv), "model,scheduled,latency,status\n"
                                    "a,0.000000,0.050000,200\n"
                                    "b,0.500000,0.200000,200\n"
                                    "a,1.000000,0.300000,200\n"
                                    "a,2.000000,0.010000,503\n"
                                    "a,3.000000,,0\n");
    json_t *s = bench_report_summary(&f.w, &f.p, f.o, &f.info, NULL);
    assert_int_equal(bench_report_write_summary(out, s, &err), ROMA_OK);
    json_error_t je;
    json_t *back = json_load_file(out, 0, &je);
    assert_non_null(back);
    assert_true(json_equal(back, s));
    json_decref(back);

    assert_int_equal(bench_report_write_summary("/nonexistent/dir/s.json", s, &err), ROMA_PERMISSION_DENIED);
    check_contains("json path", err.msg, "cannot write the summary to '/nonexistent/dir/s.json'");
    assert_int_equal(bench_report_write_csv("/nonexistent/dir/r.csv", &f.w, &f.p, f.o, &err),
                     ROMA_PERMISSION_DENIED);
    check_contains("csv path", err.msg, "cannot write the CSV to '/nonexistent/dir/r.csv'");

    FILE *devnull = fopen("/dev/null", "w");
    bench_report_print(devnull, s); /* must not crash on null statistics */
    fclose(devnull);
    json_decref(s);
    unlink(csv);
    unlink(out);
    rmdir(dir);
    free_fixture(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_seconds),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_bench_workload.c - roma bench's workload (src/bench/workload.h).
 *
 * Covers: a complete workload file (every top-level key, every load kind,
 * steps as mappings and as pairs, payload and trace paths resolved against
 * the file's folder, absolute paths kept, defaults for keys not given);
 * invalid files, each rejected with a message naming the file, line and
 * key (unknown keys listing the known ones, wrong types, two loads, a
 * missing required key, bad durations, seeds, connection counts, YAML
 * syntax, duplicate and malformed model names); bench_workload_finish
 * (durations inherited from the run, profile checks naming the model,
 * missing target / SLA / payload / load); command-line flags through
 * bench_workload_set_flag (values checked, messages naming the flag);
 * plans (run duration given or natural, per-model seeds, trace rows, the
 * asked counts, refusal of an empty plan); and reading payload files.
 */
#include "unit.h"

#include <math.h>
#include <unistd.h>

#include "bench/workload.h"

static roma_code parse(const char *text, bench_workload *w, roma_err *err) {
    bench_workload_init(w);
    return bench_workload_parse(text, strlen(text), "dir/bench.yaml", w, err);
}

/* ---- a valid file ---------------------------------------------------------- */

static const char full_yaml[] =
    "target: http://127.0.0.1:8501\n"
    "duration: 1m\n"
    "seed: 7\n"
    "window: 500ms\n"
    "connections: 32\n"
    "timeout: 5s\n"
    "trace: traces/t.csv\n"
    "models:\n"
    "  - name: resnet\n"
    "    payload: resnet.json\n"
    "    sla: 200ms\n"
    "    arrivals: poisson\n"
    "    rate: 50\n"
    "  - name: hp2\n"
    "    payload: /abs/hp2.json\n"
    "    sla: 0.05\n"
    "    step: [{rate: 10, duration: 5s}, [50, 10s]]\n"
    "  - name: up\n"
    "    payload: up.json\n"
    "    sla: 1s\n"
    "    ramp: {from: 10, to: 100, duration: 30s}\n"
    "  - name: wave\n"
    "    payload: wave.json\n"
    "    sla: 1s\n"
    "    sine: {mean: 50, amplitude: 30, period: 20s}\n"
    "  - name: traced\n"
    "    payload: traced.json\n"
    "    sla: 1s\n";

static void test_full_file(void **state) {
    bench_workload w;
    roma_err err = {""};
    if (parse(full_yaml, &w, &err) != ROMA_OK) fail_msg("parse failed: %s", err.msg);
    assert_string_equal(w.target, "http://127.0.0.1:8501");
    CHECK_NEAR("duration", w.duration, 60);
    assert_int_equal(w.seed, 7);
    CHECK_NEAR("window", w.window, 0.5);
    assert_int_equal(w.connections, 32);
    CHECK_NEAR("timeout", w.timeout, 5);
    assert_string_equal(w.trace_path, "dir/traces/t.csv");
    assert_int_equal(w.nmodels, 5);

    const bench_model *m = &w.models[0];
    assert_string_equal(m->name, "resnet");
    assert_string_equal(m->payload_path, "dir/resnet.json");
    CHECK_NEAR("sla", m->sla, 0.2);
    assert_int_equal(m->arrivals, BENCH_ARRIVALS_POISSON);
    assert_true(m->has_load);
    assert_int_equal(m->profile.kind, BENCH_PROFILE_CONSTANT);
    CHECK_NEAR("rate", m->profile.rate, 50);

    m = &w.models[1];
    assert_string_equal(m->payload_path, "/abs/hp2.json");
    assert_int_equal(m->arrivals, BENCH_ARRIVALS_CONSTANT);
    assert_int_equal(m->profile.kind, BENCH_PROFILE_STEP);
    assert_int_equal(m->profile.nsteps, 2);
    CHECK_NEAR("step 1 rate", m->profile.steps[0].rate, 10);
    CHECK_NEAR("step 2 duration", m->profile.steps[1].duration, 10);

    m = &w.models[2];
    assert_int_equal(m->profile.kind, BENCH_PROFILE_RAMP);
    CHECK_NEAR("ramp from", m->profile.from, 10);
    CHECK_NEAR("ramp to", m->profile.to, 100);
    CHECK_NEAR("ramp duration", m->profile.duration, 30);

    m = &w.models[3];
    assert_int_equal(m->profile.kind, BENCH_PROFILE_SINE);
    CHECK_NEAR("sine period", m->profile.period, 20);
    assert_true(isnan(m->profile.duration)); /* until finish gives it the run's */
    assert_false(w.models[4].has_load);

    assert_int_equal(bench_workload_finish(&w, &err), ROMA_OK);
    CHECK_NEAR("sine duration", w.models[3].profile.duration, 60);
    CHECK_NEAR("rate duration", w.models[0].profile.duration, 60);
    CHECK_NEAR("ramp keeps its own", w.models[2].profile.duration, 30);
    bench_workload_free(&w);
}

static void test_defaults(void **state) {
    bench_workload w;
    roma_err err = {""};
    const char *yaml = "models: [{name: m, payload: p.json, sla: 1, rate: 5}]\n";
    bench_workload_init(&w);
    /* A file name without a folder: paths stay as written. */
    assert_int_equal(bench_workload_parse(yaml, strlen(yaml), "w.yaml", &w, &err), ROMA_OK);
    assert_null(w.target);
    assert_true(isnan(w.duration));
    assert_int_equal(w.seed, BENCH_DEFAULT_SEED);
    CHECK_NEAR("window", w.window, BENCH_DEFAULT_WINDOW);
    assert_int_equal(w.connections, BENCH_DEFAULT_CONNECTIONS);
    CHECK_NEAR("timeout", w.timeout, BENCH_DEFAULT_TIMEOUT);
    assert_null(w.trace_path);
    assert_string_equal(w.models[0].payload_path, "p.json");
    bench_workload_free(&w);
}

/* ---- invalid files --------------------------------------------------------- */

static void test_invalid_files(void **state) {
    static const struct {
        const char *name, *yaml, *msg;
    } cases[] = {
        {"unknown top key", "target: http://x\nrates: 5\n",
         "dir/bench.yaml:2: unknown key 'rates' in the workload (known keys: target, duration"},
        {"unknown model key", "models:\n  - name: m\n    payload: p\n    sla: 1\n    qps: 5\n",
         "dir/bench.yaml:5: unknown key 'qps' in models[0] (known keys: name, payload, sla, arrivals, rate, step, ramp, sine)"},
        {"rate not a number", "models:\n  - {name: m, payload: p, sla: 1, rate: fast}\n",
         ":2: models[0].rate must be a number, got 'fast'"},
        {"two loads", "models:\n  - name: m\n    payload: p\n    sla: 1\n    rate: 5\n    sine: {mean: 1, amplitude: 1, period: 1}\n",
         ":6: models[0].sine: a model takes one load (rate, step, ramp or sine), and 'rate' is given too"},
        {"ramp without to", "models:\n  - {name: m, payload: p, sla: 1, ramp: {from: 1}}\n",
         "models[0].ramp needs 'to' (the rate at the end)"},
        {"sine without period", "models:\n  - {name: m, payload: p, sla: 1, sine: {mean: 5, amplitude: 1}}\n",
         "models[0].sine needs 'period'"},
        {"ramp unknown key", "models:\n  - {name: m, payload: p, sla: 1, ramp: {from: 1, to: 2, length: 3}}\n",
         "unknown key 'length' in models[0].ramp (known keys: from, to, duration)"},
        {"ramp not a mapping", "models:\n  - {name: m, payload: p, sla: 1, ramp: 5}\n",
         "models[0].ramp must be a mapping"},
        {"no sla", "models:\n  - {name: m, payload: p, rate: 1}\n",
         ":2: models[0] needs 'sla' (the response-time constraint"},
        {"no name", "models:\n  - {payload: p, sla: 1, rate: 1}\n", "models[0] needs 'name'"},
        {"bad name", "models:\n  - {name: 'a b', payload: p, sla: 1}\n",
         "models[0].name 'a b' may hold only letters"},
        {"twice", "models:\n  - {name: m, payload: p, sla: 1}\n  - {name: m, payload: p, sla: 1}\n",
         ":3: models[1].name: model 'm' is listed twice"},
        {"bad sla", "models:\n  - {name: m, payload: p, sla: soon}\n",
         "models[0].sla must be a duration > 0 such as 2s, 500ms or 1.5, got 'soon'"},
        {"zero sla", "models:\n  - {name: m, payload: p, sla: 0}\n", "models[0].sla must be a duration > 0"},
        {"bad duration", "duration: -3s\n", ":1: duration must be a duration > 0"},
        {"bad window", "window: [1]\n", "window must be a duration > 0 such as 2s, 500ms or 1.5, got 'a collection'"},
        {"bad seed", "seed: -1\n", ":1: seed must be a whole number >= 0, got '-1'"},
        {"bad connections", "connections: 0\n", "connections must be a whole number from 1 to 10000, got '0'"},
        {"bad arrivals", "models:\n  - {name: m, payload: p, sla: 1, arrivals: bursty}\n",
         "models[0].arrivals: unknown arrival process 'bursty' (expected constant or poisson)"},
        {"step empty", "models:\n  - {name: m, payload: p, sla: 1, step: []}\n",
         "models[0].step must be a non-empty list of steps"},
        {"step triple", "models:\n  - {name: m, payload: p, sla: 1, step: [[1, 2, 3]]}\n",
         "models[0].step[0] must be a pair [rate, duration]"},
        {"step missing duration", "models:\n  - {name: m, payload: p, sla: 1, step: [{rate: 1}]}\n",
         "models[0].step[0] needs 'duration'"},
        {"step bad rate", "models:\n  - {name: m, payload: p, sla: 1, step: [[1, 2s], [x, 2s]]}\n",
         "models[0].step[1] must be a number, got 'x'"},
        {"models not a list", "models: {name: m}\n", "models must be a non-empty list of models"},
        {"no models", "target: http://x\n", ":1: the workload needs 'models' (a list of"},
        {"not a mapping", "- 1\n- 2\n", "the workload must be a mapping"},
        {"empty file", "", "dir/bench.yaml: the workload file is empty"},
        {"bad yaml", "models: [\n", "dir/bench.yaml:2: not valid YAML"},
        {"empty target", "target: ''\n", "target must be a non-empty string"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bench_workload w;
        roma_err err = {""};
        CASE_CHECK_INT(cases[i].name, parse(cases[i].yaml, &w, &err), ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, cases[i].msg);
        bench_workload_free(&w);
    }
}

/* ---- finish ------------------------------------------------------------------ */

static void test_finish(void **state) {
    static const struct {
        const char *name, *yaml, *msg; /* msg NULL: fine */
    } cases[] = {
        {"ok", "target: http://h:1\nmodels: [{name: m, payload: p, sla: 1, step: [[1, 1s]]}]\n"},
        {"no target", "models: [{name: m, payload: p, sla: 1, rate: 1}]\n",
         "no target: give target: in the workload file or --target URL"},
        {"not http", "target: https://h\nmodels: [{name: m, payload: p, sla: 1, rate: 1}]\n",
         "target 'https://h' must be an http:// URL"},
        {"rate without duration", "target: http://h\nmodels: [{name: m, payload: p, sla: 1, rate: 1}]\n",
         "model 'm': rate has no duration: give the top-level duration"},
        {"sine without duration", "target: http://h\nmodels: [{name: m, payload: p, sla: 1, sine: {mean: 2, amplitude: 1, period: 1}}]\n",
         "model 'm': sine has no duration"},
        {"amplitude over mean", "target: http://h\nduration: 5\nmodels: [{name: w, payload: p, sla: 1, sine: {mean: 2, amplitude: 3, period: 1}}]\n",
         "model 'w': sine: 'amplitude' must be between 0 and 'mean'"},
        {"negative rate", "target: http://h\nduration: 5\nmodels: [{name: n, payload: p, sla: 1, rate: -2}]\n",
         "model 'n': constant: 'rate' must be >= 0"},
        {"no load", "target: http://h\nmodels: [{name: m, payload: p, sla: 1}]\n",
         "model 'm' has no load: give rate, step, ramp or sine"},
        {"trace gives load", "target: http://h\ntrace: t.csv\nmodels: [{name: m, payload: p, sla: 1}]\n"},
        {"no payload", "target: http://h\nduration: 5\nmodels: [{name: m, sla: 1, rate: 1}]\n",
         "model 'm' has no payload: give payload"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        bench_workload w;
        roma_err err = {""};
        CASE_CHECK_INT(cases[i].name, parse(cases[i].yaml, &w, &err), ROMA_OK);
        roma_code rc = bench_workload_finish(&w, &err);
        CASE_CHECK_INT(cases[i].name, rc, cases[i].msg ? ROMA_INVALID_ARGUMENT : ROMA_OK);
        if (cases[i].msg) check_contains(cases[i].name, err.msg, cases[i].msg);
        bench_workload_free(&w);
    }
}

/* roma sim plans a workload without sending it: no target, no payload. */
static void test_finish_load(void **state) {
    (void)state;
    bench_workload w;
    roma_err err = {""};
    assert_int_equal(parse("duration: 5\nmodels: [{name: m, sla: 1, rate: 1}]\n", &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_finish_load(&w, &err), ROMA_OK);
    bench_workload_free(&w);
    assert_int_equal(parse("duration: 5\nmodels: [{name: m, sla: 1}]\n", &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_finish_load(&w, &err), ROMA_INVALID_ARGUMENT);
    check_contains("no load", err.msg, "model 'm' has no load");
    bench_workload_free(&w);
}

/* ---- flags ------------------------------------------------------------------- */

static void test_flags(void **state) {
    bench_workload w;
    roma_err err = {""};
    bench_workload_init(&w);
    static const char *const good[][2] = {
        {"target", "http://127.0.0.1:8501"}, {"model", "default"}, {"payload", "p.json"},
        {"rate", "200"}, {"duration", "3s"}, {"sla", "50ms"}, {"arrivals", "poisson"},
        {"seed", "9"}, {"window", "1"}, {"connections", "64"}, {"timeout", "2s"},
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++)
        CASE_CHECK_INT(good[i][0], bench_workload_set_flag(&w, good[i][0], good[i][1], &err), ROMA_OK);
    assert_int_equal(bench_workload_finish(&w, &err), ROMA_OK);
    assert_int_equal(w.nmodels, 1);
    assert_string_equal(w.models[0].name, "default");
    assert_string_equal(w.models[0].payload_path, "p.json");
    CHECK_NEAR("rate", w.models[0].profile.rate, 200);
    CHECK_NEAR("profile duration", w.models[0].profile.duration, 3);
    CHECK_NEAR("sla", w.models[0].sla, 0.05);
    assert_int_equal(w.models[0].arrivals, BENCH_ARRIVALS_POISSON);
    assert_int_equal(w.seed, 9);
    assert_int_equal(w.connections, 64);
    bench_workload_free(&w);

    static const struct {
        const char *flag, *value, *msg;
    } bad[] = {
        {"rate", "abc", "--rate must be a number, got 'abc'"},
        {"duration", "3 days", "--duration must be a duration > 0"},
        {"sla", "0", "--sla must be a duration > 0"},
        {"connections", "100000", "--connections must be a whole number from 1 to 10000"},
        {"arrivals", "burst", "--arrivals: unknown arrival process 'burst'"},
        {"seed", "x", "--seed must be a whole number"},
        {"models", "x", "unknown flag --models"},
        {"step", "x", "unknown flag --step"},
        {"target", "", "--target must be a non-empty string"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        bench_workload_init(&w);
        CASE_CHECK_INT(bad[i].flag, bench_workload_set_flag(&w, bad[i].flag, bad[i].value, &err),
                       ROMA_INVALID_ARGUMENT);
        check_contains(bad[i].flag, err.msg, bad[i].msg);
        bench_workload_free(&w);
    }

    /* A payload without --model: the model has no name. */
    bench_workload_init(&w);
    bench_workload_set_flag(&w, "target", "http://h", &err);
    bench_workload_set_flag(&w, "payload", "p", &err);
    assert_int_equal(bench_workload_finish(&w, &err), ROMA_INVALID_ARGUMENT);
    check_contains("no model name", err.msg, "give --model NAME");
    bench_workload_free(&w);
}

/* ---- plans -------------------------------------------------------------------- */

static void plan_of(const char *yaml, const char *trace, bench_workload *w, bench_plan *p) {
    roma_err err = {""};
    if (parse(yaml, w, &err) != ROMA_OK || bench_workload_finish(w, &err) != ROMA_OK ||
        bench_workload_plan(w, trace, p, &err) != ROMA_OK)
        fail_msg("plan failed: %s", err.msg);
}

static void test_plan(void **state) {
    bench_workload w;
    bench_plan p;
    /* Run duration 4 s: a's rate is cut there, b's 3 s ramp is whole,
     * the trace row at 5 s is left out. */
    plan_of("target: http://h\nduration: 4\ntrace: t.csv\nmodels:\n"
            "  - {name: a, payload: p, sla: 1, rate: 10}\n"
            "  - {name: b, payload: p, sla: 1, ramp: {from: 0, to: 20, duration: 3}}\n"
            "  - {name: c, payload: p, sla: 1}\n",
            "time_seconds,model\n0.1,c\n0.2,c\n5,c\n1,a\n", &w, &p);
    CHECK_NEAR("duration", p.duration, 4);
    CHECK_NEAR("asked a", p.asked[0], 40 + 1);
    CHECK_NEAR("asked b", p.asked[1], 30);
    CHECK_NEAR("asked c", p.asked[2], 2);
    assert_int_equal(p.schedule.len, 41 + 30 + 2);
    for (size_t i = 1; i < p.schedule.len; i++)
        assert_true(p.schedule.sends[i - 1].time <= p.schedule.sends[i].time);
    bench_plan_free(&p);
    bench_workload_free(&w);

    /* No duration: the longest load or the last trace row decides. */
    plan_of("target: http://h\ntrace: t.csv\nmodels:\n"
            "  - {name: a, payload: p, sla: 1, step: [[10, 2s], [20, 1s]]}\n"
            "  - {name: c, payload: p, sla: 1}\n", "7.5,c\n", &w, &p);
    CHECK_NEAR("natural duration", p.duration, 7.5);
    assert_int_equal(p.schedule.len, 40 + 1);
    bench_plan_free(&p);
    bench_workload_free(&w);

    /* Two Poisson models at the same rate: seed + i, so different draws. */
    plan_of("target: http://h\nduration: 2\nseed: 3\nmodels:\n"
            "  - {name: a, payload: p, sla: 1, rate: 100, arrivals: poisson}\n"
            "  - {name: b, payload: p, sla: 1, rate: 100, arrivals: poisson}\n", NULL, &w, &p);
    double first[2] = {-1, -1};
    for (size_t i = 0; i < p.schedule.len; i++)
        if (first[p.schedule.sends[i].model] < 0) first[p.schedule.sends[i].model] = p.schedule.sends[i].time;
    assert_true(first[0] >= 0 && first[1] >= 0 && first[0] != first[1]);
    bench_plan_free(&p);
    bench_workload_free(&w);

    /* Nothing to send is refused. */
    roma_err err = {""};
    assert_int_equal(parse("target: http://h\nduration: 2\nmodels: [{name: a, payload: p, sla: 1, rate: 0}]\n",
                           &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_finish(&w, &err), ROMA_OK);
    assert_int_equal(bench_workload_plan(&w, NULL, &p, &err), ROMA_INVALID_ARGUMENT);
    check_contains("empty", err.msg, "the workload sends no requests");
    bench_workload_free(&w);

    /* A trace naming an unknown model fails the plan with its line. */
    assert_int_equal(parse("target: http://h\ntrace: t.csv\nmodels: [{name: a, payload: p, sla: 1}]\n",
                           &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_finish(&w, &err), ROMA_OK);
    assert_int_equal(bench_workload_plan(&w, "1,a\n2,b\n", &p, &err), ROMA_INVALID_ARGUMENT);
    check_contains("trace", err.msg, "dir/t.csv:2: unknown model 'b'");
    bench_workload_free(&w);
}

/* ---- payload files -------------------------------------------------------------- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_payloads(void **state) {
    char dir[] = "/tmp/roma-bench-test-XXXXXX", good[64], bad[64], yaml[512];
    assert_non_null(mkdtemp(dir));
    snprintf(good, sizeof(good), "%s/good.json", dir);
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    write_text(good, "{\"instances\": [1.0, 2.0]}\n");
    write_text(bad, "{\"instances\": [1.0,\n");

    bench_workload w;
    roma_err err = {""};
    snprintf(yaml, sizeof(yaml), "models: [{name: m, payload: %s, sla: 1}]\n", good);
    assert_int_equal(parse(yaml, &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_read_payloads(&w, &err), ROMA_OK);
    assert_string_equal(w.models[0].body, "{\"instances\": [1.0, 2.0]}\n");
    assert_int_equal(w.models[0].body_len, strlen(w.models[0].body));
    bench_workload_free(&w);

    snprintf(yaml, sizeof(yaml), "models: [{name: m, payload: %s, sla: 1}]\n", bad);
    assert_int_equal(parse(yaml, &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_read_payloads(&w, &err), ROMA_INVALID_ARGUMENT);
    check_contains("bad json", err.msg, "the payload of model 'm'");
    check_contains("bad json", err.msg, "is not JSON: line");
    bench_workload_free(&w);

    snprintf(yaml, sizeof(yaml), "models: [{name: m, payload: %s/none.json, sla: 1}]\n", dir);
    assert_int_equal(parse(yaml, &w, &err), ROMA_OK);
    assert_int_equal(bench_workload_read_payloads(&w, &err), ROMA_NOT_FOUND);
    check_contains("missing", err.msg, "cannot read the payload of model 'm'");
    check_contains("missing", err.msg, "No such file");
    bench_workload_free(&w);

    unlink(good);
    unlink(bad);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_finish_load),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

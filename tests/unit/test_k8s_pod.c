/* test_k8s_pod.c - CPU quantities, the resize patch, reading Pod objects
 * and watch events (src/k8s/pod.c). */
#include "unit.h"

#include "k8s/pod.h"

static void test_cpu_parse_good(void **state) {
    static const struct {
        const char *text;
        double cores;
    } cases[] = {
        {"2", 2},         {"1.5", 1.5},     {"1500m", 1.5}, {"250m", 0.25}, {"0.1", 0.1},
        {"100m", 0.1},    {"0", 0},         {"+3", 3},      {"1.250", 1.25}, {"1.2500000", 1.25},
        {"64", 64},       {".5", 0.5},      {"1m", 0.001},  {"2.", 2},
        {"1000000000", 1e9}, {"1000000000000m", 1e9}, /* the limit, both ways */
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        double cores = -1;
        roma_err err;
        CASE_CHECK_INT(cases[i].text, k8s_cpu_parse(cases[i].text, &cores, &err), ROMA_OK);
        CHECK_NEAR(cases[i].text, cores, cases[i].cores);
    }
}

static void test_cpu_parse_bad(void **state) {
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "empty"},        {"-1", "negative"},          {"abc", "no digits"},
        {"1Gi", "suffix"},    {"1.5m", "millicore"},       {"0.0001", "millicore"},
        {"2e3", "suffix"},    {"1 ", "suffix"},            {"m", "no digits"},
        {".", "no digits"},   {"99999999999999999", "too large"},
        /* found by tests/fuzz/fuzz_k8s_pod.c: read as cores, formatted as
         * millicores that did not read back (corpus: tests/fuzz/corpus/
         * k8s_pod/cores-beyond-the-millicore-limit) */
        {"142500000000.425", "too large"}, {"1000000000.001", "too large"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        double cores = 7;
        roma_err err = {0};
        CASE_CHECK_INT(cases[i].text, k8s_cpu_parse(cases[i].text, &cores, &err), ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].text, err.msg, cases[i].why);
        check_contains(cases[i].text, err.msg, "1500m"); /* says how to write one */
        CHECK_NEAR(cases[i].text, cores, 7);
    }
}

static void test_cpu_format(void **state) {
    static const struct {
        double cores;
        const char *text;
    } cases[] = {
        {1, "1"}, {2, "2"}, {1.5, "1500m"}, {0.25, "250m"}, {0.1, "100m"},
        {0.1 + 0.2, "300m"}, {1.6, "1600m"}, {0.0004, "0"}, {100, "100"}, {-1, "0"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char buf[32], name[32];
        snprintf(name, sizeof(name), "%g", cases[i].cores);
        CASE_CHECK_STR(name, k8s_cpu_format(cases[i].cores, buf, sizeof(buf)), cases[i].text);
        double back;
        roma_err err;
        CASE_CHECK_INT(name, k8s_cpu_parse(buf, &back, &err), ROMA_OK);
    }
}

static void test_resize_patch(void **state) {
    (void)state;
    char *p = k8s_resize_patch(1.5);
    check_json_equal("1.5", p,
                     "{\"spec\":{\"containers\":[{\"name\":\"worker\",\"resources\":"
                     "{\"requests\":{\"cpu\":\"1500m\"},\"limits\":{\"cpu\":\"1500m\"}}}]}}");
    free(p);
    p = k8s_resize_patch(2);
    check_json_equal("2", p,
                     "{\"spec\":{\"containers\":[{\"name\":\"worker\",\"resources\":"
                     "{\"requests\":{\"cpu\":\"2\"},\"limits\":{\"cpu\":\"2\"}}}]}}");
    free(p);
}

/* A CPU worker pod as the API server shows it mid-resize (KEP-1287). */
static const char *POD_JSON =
    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"roma-worker-resnet\",\"uid\":\"u-1\","
    "\"namespace\":\"roma\",\"resourceVersion\":\"4711\",\"generation\":3,"
    "\"labels\":{\"app.kubernetes.io/name\":\"roma\",\"roma.io/model\":\"resnet\","
    "\"roma.io/role\":\"cpu-worker\"}},"
    "\"spec\":{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"sidecar\",\"resources\":"
    "{\"limits\":{\"cpu\":\"9\"}}},{\"name\":\"worker\",\"ports\":[{\"name\":\"metrics\",\"containerPort\":9},"
    "{\"name\":\"http\",\"containerPort\":8501}],\"resources\":{\"requests\":{\"cpu\":\"2\","
    "\"memory\":\"2Gi\"},\"limits\":{\"cpu\":\"2\",\"memory\":\"2Gi\"}}}]},"
    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.2.3\",\"observedGeneration\":3,"
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
    "{\"type\":\"PodResizePending\",\"status\":\"True\",\"reason\":\"Deferred\","
    "\"message\":\"Node didn't have enough capacity: cpu, requested: 2000, capacity: 1800\"},"
    "{\"type\":\"PodResizeInProgress\",\"status\":\"True\",\"reason\":\"\"}],"
    "\"containerStatuses\":[{\"name\":\"worker\",\"ready\":true,"
    "\"allocatedResources\":{\"cpu\":\"1500m\",\"memory\":\"2Gi\"},"
    "\"resources\":{\"requests\":{\"cpu\":\"1500m\"},\"limits\":{\"cpu\":\"1500m\"}}}]}}";

static void test_pod_read_full(void **state) {
    (void)state;
    json_t *obj = json_loads(POD_JSON, 0, NULL);
    assert_non_null(obj);
    k8s_pod p;
    roma_err err;
    assert_int_equal(k8s_pod_read(obj, &p, &err), ROMA_OK);
    json_decref(obj);
    assert_string_equal(p.name, "roma-worker-resnet");
    assert_string_equal(p.uid, "u-1");
    assert_string_equal(p.resource_version, "4711");
    assert_int_equal(p.generation, 3);
    assert_string_equal(p.node, "node-a");
    assert_string_equal(p.ip, "10.1.2.3");
    assert_int_equal(p.port, 8501);
    assert_true(p.ready);
    assert_false(p.deleting);
    assert_string_equal(p.model, "resnet");
    assert_string_equal(p.role, K8S_ROLE_CPU);
    assert_int_equal(p.gpu, -1);
    CHECK_NEAR("spec", p.spec_request, 2);
    CHECK_NEAR("spec", p.spec_limit, 2);
    CHECK_NEAR("actual", p.actual_limit, 1.5);
    CHECK_NEAR("actual", p.actual_request, 1.5);
    CHECK_NEAR("allocated", p.allocated, 1.5);
    CHECK_NEAR("cores", k8s_pod_cores(&p), 1.5);
    assert_int_equal(p.observed_generation, 3);
    assert_true(p.resize_pending.present);
    assert_string_equal(p.resize_pending.reason, "Deferred");
    check_contains("pending", p.resize_pending.message, "capacity: 1800");
    assert_true(p.resize_in_progress.present);
    assert_string_equal(p.resize_in_progress.reason, "");
    assert_true(k8s_pod_usable(&p));
}

static void test_pod_read_sparse(void **state) {
    /* A GPU pod just created: no status, no node, model only in the annotation. */
    (void)state;
    json_t *obj = json_loads("{\"metadata\":{\"name\":\"roma-worker-gpu-1\",\"labels\":{\"roma.io/role\":"
                             "\"gpu-worker\",\"roma.io/gpu\":\"1\"},\"annotations\":{\"roma.io/model\":"
                             "\"_odd.\"},\"deletionTimestamp\":\"2026-12-04T12:00:00Z\"}}",
                             0, NULL);
    k8s_pod p;
    roma_err err;
    assert_int_equal(k8s_pod_read(obj, &p, &err), ROMA_OK);
    json_decref(obj);
    assert_int_equal(p.gpu, 1);
    assert_string_equal(p.role, K8S_ROLE_GPU);
    assert_string_equal(p.model, "_odd.");
    assert_true(p.deleting);
    assert_false(p.ready);
    assert_string_equal(p.node, "");
    assert_int_equal(p.port, 0);
    assert_int_equal(p.observed_generation, 0);
    assert_false(p.resize_pending.present);
    CHECK_NEAR("cores", k8s_pod_cores(&p), 0);
    assert_false(k8s_pod_usable(&p));
}

static void test_pod_usable_and_cores_fallback(void **state) {
    (void)state;
    k8s_pod p = {.ready = 1, .spec_limit = 2};
    strcpy(p.ip, "10.0.0.1");
    assert_true(k8s_pod_usable(&p));
    CHECK_NEAR("spec only", k8s_pod_cores(&p), 2);
    p.allocated = 1.2;
    CHECK_NEAR("allocated", k8s_pod_cores(&p), 1.2);
    p.actual_limit = 1.1;
    CHECK_NEAR("actual", k8s_pod_cores(&p), 1.1);
    p.ready = 0;
    assert_false(k8s_pod_usable(&p));
    p.ready = 1, p.deleting = 1;
    assert_false(k8s_pod_usable(&p));
    p.deleting = 0, p.ip[0] = '\0';
    assert_false(k8s_pod_usable(&p));
}

static void test_pod_read_bad(void **state) {
    static const struct {
        const char *name, *json, *msg;
    } cases[] = {
        {"no name", "{\"metadata\":{}}", "metadata.name"},
        {"not an object", "[1]", "metadata.name"},
        {"bad spec quantity",
         "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"worker\",\"resources\":"
         "{\"limits\":{\"cpu\":\"lots\"}}}]}}",
         "spec.containers[worker].resources.limits.cpu"},
        {"number quantity",
         "{\"metadata\":{\"name\":\"p\"},\"status\":{\"containerStatuses\":[{\"name\":\"worker\","
         "\"allocatedResources\":{\"cpu\":2}}]}}",
         "allocatedResources.cpu: not a string"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *obj = json_loads(cases[i].json, 0, NULL);
        k8s_pod p;
        roma_err err = {0};
        CASE_CHECK_INT(cases[i].name, k8s_pod_read(obj, &p, &err), ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, cases[i].msg);
        json_decref(obj);
    }
}

static void test_events(void **state) {
    (void)state;
    k8s_event ev;
    roma_err err;
    char line[4096];
    snprintf(line, sizeof(line), "{\"type\":\"MODIFIED\",\"object\":%s}", POD_JSON);
    assert_int_equal(k8s_event_parse(line, strlen(line), &ev, &err), ROMA_OK);
    assert_int_equal(ev.type, K8S_EVENT_MODIFIED);
    assert_string_equal(ev.pod.name, "roma-worker-resnet");
    assert_string_equal(ev.resource_version, "4711");

    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"99\"}}}";
    assert_int_equal(k8s_event_parse(bm, strlen(bm), &ev, &err), ROMA_OK);
    assert_int_equal(ev.type, K8S_EVENT_BOOKMARK);
    assert_string_equal(ev.resource_version, "99");

    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                       "\"Failure\",\"message\":\"too old resource version: 5 (42)\",\"reason\":\"Expired\","
                       "\"code\":410}}";
    assert_int_equal(k8s_event_parse(gone, strlen(gone), &ev, &err), ROMA_OK);
    assert_int_equal(ev.type, K8S_EVENT_ERROR);
    assert_int_equal(ev.code, 410);
    check_contains("410", ev.message, "too old");

    const char *del = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"7\"}}}";
    assert_int_equal(k8s_event_parse(del, strlen(del), &ev, &err), ROMA_OK);
    assert_int_equal(ev.type, K8S_EVENT_DELETED);
    assert_string_equal(ev.pod.name, "x");
    assert_string_equal(ev.resource_version, "7");
}

static void test_events_bad(void **state) {
    static const char *cases[] = {
        "", "{", "[]", "{\"type\":\"ADDED\"}", "{\"type\":\"RENAMED\",\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}",
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        k8s_event ev;
        roma_err err = {0};
        CASE_CHECK_INT(cases[i], k8s_event_parse(cases[i], strlen(cases[i]), &ev, &err), ROMA_INVALID_ARGUMENT);
        check_message(cases[i], err.msg);
    }
}

static void test_status_message(void **state) {
    (void)state;
    char msg[128];
    const char *st = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Pod \\\"p\\\" is invalid\",\"code\":422}";
    k8s_status_message(st, strlen(st), msg, sizeof(msg));
    assert_string_equal(msg, "Pod \"p\" is invalid");
    k8s_status_message("<html>", 6, msg, sizeof(msg));
    assert_string_equal(msg, "");
    k8s_status_message(NULL, 0, msg, sizeof(msg));
    assert_string_equal(msg, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_parse_good),
        cmocka_unit_test(test_cpu_parse_bad),
        cmocka_unit_test(test_cpu_format),
        cmocka_unit_test(test_resize_patch),
        cmocka_unit_test(test_pod_read_full),
        cmocka_unit_test(test_pod_read_sparse),
        cmocka_unit_test(test_pod_usable_and_cores_fallback),
        cmocka_unit_test(test_pod_read_bad),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_bad),
        cmocka_unit_test(test_status_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

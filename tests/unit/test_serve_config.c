/* test_serve_config.c - roma.yaml's cluster: and ops: sections and the SLA
 * and alpha ranges (src/serve/config.h).
 *
 * Table-driven: each case is a whole YAML file; a good one is parsed and
 * its fields read back, a bad one must fail with a message that names the
 * key and, where there is one, the fix.  The local default (no cluster:)
 * keeps today's behaviour: base paths checked on this machine, the sum of
 * cores.min against node.cpus.
 *
 * ops: without it, no token file is named and reads are open; token_file
 * and read (open | token) are read back; an unknown key under ops, an
 * unknown read value, an empty token_file and an ops that is not a mapping
 * are refused with the file, the line and the fix.  sla and alpha in
 * roma.yaml are checked by the one range function PATCH uses: 1 ms, 1 hour
 * and "200ms" are accepted; 1e-320, 0.0009, 0, 3601, a missing sla, alpha
 * 2, -0.1 and NaN refused naming the range; the range function itself at
 * its bounds and for NaN, infinities and denormals.
 *
 * control.period: without it 0.25 s on one node and 1 s in a cluster; 0s
 * refused.
 *
 * limits: the defaults without it (1024 connections, 64 MB bodies, 1024 MB
 * held, 60 s per request), each key read back, and refused: an unknown
 * key, 0 connections, a fraction, inflight_mb below body_mb, a timeout
 * outside 100ms..1h.
 */
#include "unit.h"

#include <float.h>

#include "serve/config.h"

/* A model whose base_path does not exist here: only cluster mode takes it. */
#define POD_MODEL "models:\n  - {name: m, base_path: /nonexistent/m, sla: 0.2, cores: {min: 0.5, max: 2}}\n"

static void test_kubernetes_defaults(void **state) {
    const char *yaml = "cluster: {kind: kubernetes}\n" POD_MODEL;
    serve_config c;
    roma_err err = {0};
    assert_int_equal(serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err), ROMA_OK);
    assert_int_equal(c.cluster.kind, SERVE_CLUSTER_KUBERNETES);
    assert_string_equal(c.cluster.namespace_name, "roma");
    assert_null(c.cluster.api_server);
    assert_string_equal(c.cluster.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert_string_equal(c.cluster.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    assert_int_equal(c.cluster.worker_port, 8501);
    assert_int_equal(c.cluster.insecure_http, 0);
    assert_int_equal(c.cluster.nnodes, 0);
    serve_config_free(&c);
}

static void test_kubernetes_full(void **state) {
    const char *yaml =
        "node: {cpus: 4}\n"
        "cluster:\n"
        "  kind: kubernetes\n"
        "  namespace: ml-serving\n"
        "  api_server: http://127.0.0.1:6443\n"
        "  insecure_http: true\n"
        "  token_file: /tmp/token\n"
        "  ca_file: /tmp/ca.crt\n"
        "  worker_port: 9000\n"
        "  models_volume: {claim: models}\n"
        "  nodes:\n"
        "    - {name: node-a, cpus: 6, gpus: [0, 1]}\n"
        "    - {name: node-b, cpus: 3}\n"
        "models:\n"
        "  - {name: a, base_path: /m/a, sla: 0.2, node: node-a, cores: {min: 1, max: 6}}\n"
        "  - {name: b, base_path: /m/b, sla: 0.2, node: node-b, cores: {min: 1, max: 3}}\n";
    serve_config c;
    roma_err err = {0};
    assert_int_equal(serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err), ROMA_OK);
    assert_string_equal(c.cluster.namespace_name, "ml-serving");
    assert_string_equal(c.cluster.api_server, "http://127.0.0.1:6443");
    assert_int_equal(c.cluster.insecure_http, 1);
    assert_int_equal(c.cluster.worker_port, 9000);
    assert_string_equal(c.cluster.models_claim, "models");
    assert_null(c.cluster.models_host_path);
    assert_int_equal(c.cluster.nnodes, 2);
    assert_int_equal(c.cluster.nodes[0].ngpus, 2);
    assert_int_equal(c.cluster.nodes[0].gpus[1], 1);
    assert_string_equal(c.models[0].node, "node-a");
    CHECK_NEAR("node-a", serve_config_node_cpus(&c, "node-a"), 6);
    CHECK_NEAR("node-b", serve_config_node_cpus(&c, "node-b"), 3);
    CHECK_NEAR("unlisted", serve_config_node_cpus(&c, "node-z"), 4);
    CHECK_NEAR("unplaced", serve_config_node_cpus(&c, NULL), 4);
    serve_config_free(&c);
}

static void test_local_unchanged(void **state) {
    const char *yaml = "cluster: {kind: local}\n" POD_MODEL;
    serve_config c;
    roma_err err = {0};
    assert_int_equal(serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err), ROMA_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "is not a directory"));
}

typedef struct {
    const char *name;
    const char *yaml;
    const char *want; /* in the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"kind", "cluster: {kind: swarm}\n" POD_MODEL, "cluster.kind must be local or kubernetes"},
    {"vpa in pods", "control: {controller: vpa}\ncluster: {kind: kubernetes}\n" POD_MODEL,
     "control.controller vpa needs the workers' CPU usage"},
    {"namespace upper", "cluster: {kind: kubernetes, namespace: Roma}\n" POD_MODEL,
     "cluster.namespace 'Roma' is not a DNS label"},
    {"namespace dash", "cluster: {kind: kubernetes, namespace: roma-}\n" POD_MODEL, "not a DNS label"},
    {"namespace long",
     "cluster: {kind: kubernetes, namespace: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n" POD_MODEL,
     "not a DNS label"},
    {"plain http", "cluster: {kind: kubernetes, api_server: 'http://10.0.0.1'}\n" POD_MODEL,
     "set insecure_http: true"},
    {"scheme", "cluster: {kind: kubernetes, api_server: '10.0.0.1:6443'}\n" POD_MODEL,
     "must be an https:// URL"},
    {"insecure value", "cluster: {kind: kubernetes, insecure_http: yes}\n" POD_MODEL,
     "insecure_http must be true or false"},
    {"port", "cluster: {kind: kubernetes, worker_port: 70000}\n" POD_MODEL, "worker_port must be a port"},
    {"unknown key", "cluster: {kind: kubernetes, namespase: roma}\n" POD_MODEL,
     "unknown key 'namespase' in cluster"},
    {"local extra", "cluster: {kind: local, namespace: roma}\n" POD_MODEL, "takes no other keys"},
    {"volume both", "cluster: {kind: kubernetes, models_volume: {claim: a, host_path: /b}}\n" POD_MODEL,
     "exactly one of claim"},
    {"volume none", "cluster: {kind: kubernetes, models_volume: {}}\n" POD_MODEL, "exactly one of claim"},
    {"volume relative", "cluster: {kind: kubernetes, models_volume: {host_path: srv}}\n" POD_MODEL,
     "must be an absolute path"},
    {"node cpus", "cluster: {kind: kubernetes, nodes: [{name: a}]}\n" POD_MODEL, "cpus: > 0"},
    {"node twice", "cluster: {kind: kubernetes, nodes: [{name: a, cpus: 1}, {name: a, cpus: 2}]}\n" POD_MODEL,
     "names 'a' twice"},
    {"node gpus", "cluster: {kind: kubernetes, nodes: [{name: a, cpus: 1, gpus: [x]}]}\n" POD_MODEL,
     "must be GPU indexes"},
    {"model node local",
     "models:\n  - {name: m, base_path: /tmp, sla: 0.2, node: a}\n", "it needs cluster: {kind: kubernetes}"},
    {"model node unknown",
     "cluster: {kind: kubernetes, nodes: [{name: a, cpus: 4}]}\n"
     "models:\n  - {name: m, base_path: /m, sla: 0.2, node: b}\n", "node 'b' is not in cluster.nodes"},
    {"model above its node",
     "cluster: {kind: kubernetes, nodes: [{name: a, cpus: 1}]}\n"
     "models:\n  - {name: m, base_path: /m, sla: 0.2, node: a, cores: {max: 2}}\n", "above node.cpus 1"},
};

/* Found by tests/fuzz/fuzz_serve_config.c (corpus: tests/fuzz/corpus/
 * serve_config/max-rows-beyond-int64): a max_rows beyond int64_t was
 * converted to one (undefined behaviour). */
static void test_store_max_rows_out_of_range(void **state) {
    static const char *values[] = {"1e41", "9.3e18", "1e300", "0", "-1"};
    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "cluster: {kind: kubernetes}\nstore: {max_rows: %s}\n" POD_MODEL, values[i]);
        serve_config c;
        roma_err err = {0};
        CASE_CHECK_INT(values[i], serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err),
                       ROMA_INVALID_ARGUMENT);
        if (!strstr(err.msg, "store.max_rows must be between 1 and 1e15"))
            fail_msg("case '%s': message \"%s\"", values[i], err.msg);
    }
}

static void test_bad_inputs(void **state) {
    for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
        const bad_case *bc = &bad_cases[i];
        serve_config c;
        roma_err err = {0};
        roma_code rc = serve_config_parse(bc->yaml, strlen(bc->yaml), "t.yaml", &c, &err);
        CASE_CHECK_INT(bc->name, rc, ROMA_INVALID_ARGUMENT);
        if (!strstr(err.msg, bc->want))
            fail_msg("case '%s': message \"%s\" lacks \"%s\"", bc->name, err.msg, bc->want);
        CASE_CHECK(bc->name, strncmp(err.msg, "t.yaml:", 7) == 0);
    }
}

static void test_dns_label(void **state) {
    assert_true(serve_is_dns_label("roma"));
    assert_true(serve_is_dns_label("a-1"));
    assert_true(serve_is_dns_label("9"));
    assert_false(serve_is_dns_label(""));
    assert_false(serve_is_dns_label(NULL));
    assert_false(serve_is_dns_label("-a"));
    assert_false(serve_is_dns_label("a_b"));
    assert_false(serve_is_dns_label("a.b"));
}

/* A roma.yaml with extra lines at the top level and the given model keys
 * (base_path /tmp: any existing directory passes the check). */
static roma_code parse(const char *top, const char *model, serve_config *c, roma_err *err) {
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "node: {cpus: 2}\n%s\nmodels:\n  - name: m\n    base_path: /tmp\n%s\n", top,
                     model ? model : "    sla: 0.2");
    return serve_config_parse(text, (size_t)n, "roma.yaml", c, err);
}

static void test_ops_keys(void **state) {
    static const struct {
        const char *name, *top;
        const char *token_file;
        serve_ops_read read;
    } ok[] = {
        {"no ops", "", NULL, SERVE_OPS_READ_OPEN},
        {"token_file", "ops: {token_file: /etc/roma/token}", "/etc/roma/token", SERVE_OPS_READ_OPEN},
        {"read open", "ops: {read: open}", NULL, SERVE_OPS_READ_OPEN},
        {"read token", "ops:\n  token_file: t\n  read: token", "t", SERVE_OPS_READ_TOKEN},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        serve_config c;
        roma_err err;
        roma_code rc = parse(ok[i].top, NULL, &c, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", ok[i].name, err.msg);
        if (ok[i].token_file) CASE_CHECK_STR(ok[i].name, c.ops_token_file, ok[i].token_file);
        else CASE_CHECK(ok[i].name, c.ops_token_file == NULL);
        CASE_CHECK_INT(ok[i].name, c.ops_read, ok[i].read);
        serve_config_free(&c);
    }
}

static void test_ops_errors(void **state) {
    static const struct {
        const char *name, *top;
        const char *msg[3];
    } bad[] = {
        {"unknown key", "ops:\n  read: open\n  token: abc",
         {"roma.yaml:4:", "unknown key 'token' in ops", "known keys: token_file, read"}},
        {"unknown read", "ops: {read: maybe}",
         {"roma.yaml:2:", "ops.read 'maybe' is unknown", "use open"}},
        {"empty token_file", "ops: {token_file: \"\"}",
         {"roma.yaml:2:", "ops.token_file must be a non-empty string"}},
        {"not a mapping", "ops: token", {"roma.yaml:2:", "ops must be a mapping"}},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        serve_config c;
        roma_err err;
        CASE_CHECK_INT(bad[i].name, parse(bad[i].top, NULL, &c, &err), ROMA_INVALID_ARGUMENT);
        for (size_t k = 0; k < 3 && bad[i].msg[k]; k++)
            check_contains(bad[i].name, err.msg, bad[i].msg[k]);
    }
}

static void test_limits(void **state) {
    static const struct {
        const char *name, *top;
        int conns;
        size_t body, inflight;
        double timeout;
    } ok[] = {
        {"defaults", "", 1024, 64u << 20, 1024u << 20, 60},
        {"all", "limits: {connections: 10, body_mb: 2, inflight_mb: 8, request_timeout: 500ms}",
         10, 2u << 20, 8u << 20, 0.5},
        {"one", "limits: {connections: 1}", 1, 64u << 20, 1024u << 20, 60},
    };
    static const struct {
        const char *name, *top;
        const char *msg;
    } bad[] = {
        {"unknown key", "limits: {conns: 3}", "unknown key 'conns' in limits"},
        {"zero connections", "limits: {connections: 0}", "limits.connections must be an integer"},
        {"fraction", "limits: {body_mb: 1.5}", "limits.body_mb must be an integer"},
        {"inflight below body", "limits: {body_mb: 8, inflight_mb: 4}", "at least limits.body_mb"},
        {"short timeout", "limits: {request_timeout: 10ms}", "limits.request_timeout must be"},
        {"long timeout", "limits: {request_timeout: 2h}", "limits.request_timeout must be"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        serve_config c;
        roma_err err;
        if (parse(ok[i].top, NULL, &c, &err) != ROMA_OK) fail_msg("case '%s': %s", ok[i].name, err.msg);
        CASE_CHECK_INT(ok[i].name, c.max_connections, ok[i].conns);
        CASE_CHECK(ok[i].name, c.max_body_bytes == ok[i].body);
        CASE_CHECK(ok[i].name, c.max_inflight_bytes == ok[i].inflight);
        CASE_CHECK(ok[i].name, fabs(c.request_timeout - ok[i].timeout) < 1e-9);
        serve_config_free(&c);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        serve_config c;
        roma_err err;
        CASE_CHECK_INT(bad[i].name, parse(bad[i].top, NULL, &c, &err), ROMA_INVALID_ARGUMENT);
        check_contains(bad[i].name, err.msg, bad[i].msg);
    }
}

/* Without control.period: 0.25 s on one node, 1 s in a cluster (config.h);
 * a period given is kept, and one under 50 ms refused. */
static void test_control_period(void **state) {
    static const struct {
        const char *name, *top;
        double period;
    } ok[] = {
        {"local default", "", SERVE_PERIOD_NODE},
        {"control without period", "control: {controller: rules}", SERVE_PERIOD_NODE},
        {"given", "control: {period: 2s}", 2},
        {"given in ms", "control: {period: 50ms}", 0.05},
    };
    (void)state;
    assert_true(SERVE_PERIOD_NODE == 0.25 && SERVE_PERIOD_CLUSTER == 1.0);
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        serve_config c;
        roma_err err;
        if (parse(ok[i].top, NULL, &c, &err) != ROMA_OK) fail_msg("case '%s': %s", ok[i].name, err.msg);
        CASE_CHECK(ok[i].name, fabs(c.period - ok[i].period) < 1e-9);
        CASE_CHECK_INT(ok[i].name, c.period_default, strstr(ok[i].top, "period") == NULL);
        serve_config_free(&c);
    }
    serve_config c;
    roma_err err;
    assert_int_equal(parse("control: {period: 0s}", NULL, &c, &err), ROMA_INVALID_ARGUMENT);
    check_contains("zero period", err.msg, "control.period must be at least 50ms");
    const char *k8s = "cluster: {kind: kubernetes}\n" POD_MODEL;
    assert_int_equal(serve_config_parse(k8s, strlen(k8s), "t.yaml", &c, &err), ROMA_OK);
    assert_true(fabs(c.period - SERVE_PERIOD_CLUSTER) < 1e-9);
    serve_config_free(&c);
}

static void test_sla_and_alpha_in_the_file(void **state) {
    static const struct {
        const char *name, *model;
        double sla, alpha; /* when accepted */
        const char *msg;   /* NULL: accepted */
    } cases[] = {
        {"1 ms", "    sla: 0.001", 0.001, 0.5, NULL},
        {"1 hour", "    sla: 3600\n    alpha: 1", 3600, 1, NULL},
        {"200ms", "    sla: 200ms\n    alpha: 0", 0.2, 0, NULL},
        {"1e-320", "    sla: 1e-320", 0, 0, "within [0.001, 3600"},
        {"0.9 ms", "    sla: 0.0009", 0, 0, "within [0.001, 3600"},
        {"zero", "    sla: 0", 0, 0, "within [0.001, 3600"},
        {"over an hour", "    sla: 3601", 0, 0, "(1 ms to 1 hour)"},
        {"missing", "    alpha: 0.5", 0, 0, "sla is missing"},
        {"alpha 2", "    sla: 0.2\n    alpha: 2", 0, 0, "alpha must be a number within [0, 1]"},
        {"alpha -0.1", "    sla: 0.2\n    alpha: -0.1", 0, 0, "within [0, 1]"},
        {"alpha nan", "    sla: 0.2\n    alpha: nan", 0, 0, "alpha"},
        {"p95", "    sla: 0.2\n    sla_percentile: 95", 0.2, 0.5, NULL},
        {"p100", "    sla: 0.2\n    sla_percentile: 100", 0.2, 0.5, NULL},
        {"p0", "    sla: 0.2\n    sla_percentile: 0", 0, 0, "sla_percentile must be in (0, 100]"},
        {"p101", "    sla: 0.2\n    sla_percentile: 101", 0, 0, "sla_percentile must be in (0, 100]"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        serve_config c;
        roma_err err;
        roma_code rc = parse("", cases[i].model, &c, &err);
        if (!cases[i].msg) {
            if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
            CHECK_NEAR(cases[i].name, c.models[0].sla, cases[i].sla);
            CHECK_NEAR(cases[i].name, c.models[0].alpha, cases[i].alpha);
            serve_config_free(&c);
            continue;
        }
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, "roma.yaml:");
        check_contains(cases[i].name, err.msg, "model 'm'");
        check_contains(cases[i].name, err.msg, cases[i].msg);
    }
}

/* node.gpu_standins' CPU lists (serve_config_cpu_list), by hand. */
static void test_standin_cpu_lists(void **state) {
    static const struct {
        const char *text;
        int ok;
        size_t n;
        int cpus[4];
    } cases[] = {
        {"1", 1, 1, {1}},
        {"0-2", 1, 3, {0, 1, 2}},
        {"5,2-3", 1, 3, {2, 3, 5}},
        {"1,1,0-1", 1, 2, {0, 1}},
        {"1023", 1, 1, {1023}},
        {"", 0, 0, {0}},
        {"1024", 0, 0, {0}},
        {"-1", 0, 0, {0}},
        {"3-1", 0, 0, {0}},
        {"1,", 0, 0, {0}},
        {"1-", 0, 0, {0}},
        {"a", 0, 0, {0}},
        {" 1", 0, 0, {0}},
        {"1 ", 0, 0, {0}},
        {"99999999999999999999", 0, 0, {0}},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        serve_gpu_standin st = {0};
        roma_err err;
        roma_code rc = serve_config_cpu_list(cases[i].text, &st, &err);
        CASE_CHECK_INT(cases[i].text, rc == ROMA_OK, cases[i].ok);
        if (rc != ROMA_OK) {
            check_contains(cases[i].text, err.msg, "is not a CPU list");
            continue;
        }
        CASE_CHECK_INT(cases[i].text, (int)st.ncpus, (int)cases[i].n);
        for (size_t k = 0; k < st.ncpus; k++) CASE_CHECK_INT(cases[i].text, st.cpus[k], cases[i].cpus[k]);
        free(st.cpus);
    }
    const char *yaml = "node: {cpus: 1, gpu_standins: [{cpus: \"1\"}, {cpus: 2-3}]}\n"
                       "cluster: {kind: kubernetes}\n" POD_MODEL;
    serve_config c;
    roma_err err;
    assert_int_equal(serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err), ROMA_INVALID_ARGUMENT);
    check_contains("cluster", err.msg, "remove them in cluster mode");
}

static void test_range_functions(void **state) {
    static const struct {
        const char *name;
        double v;
        int sla_ok, alpha_ok;
    } cases[] = {
        {"0", 0, 0, 1},
        {"1", 1, 1, 1},
        {"1 ms", SERVE_SLA_MIN, 1, 1},
        {"just under 1 ms", SERVE_SLA_MIN * (1 - 1e-12), 0, 1},
        {"1 hour", SERVE_SLA_MAX, 1, 0},
        {"just over 1 hour", SERVE_SLA_MAX * (1 + 1e-12), 0, 0},
        {"denormal", 1e-320, 0, 1},
        {"negative", -0.5, 0, 0},
        {"just over 1", 1 + DBL_EPSILON, 1, 0},
        {"nan", NAN, 0, 0},
        {"inf", INFINITY, 0, 0},
        {"-inf", -INFINITY, 0, 0},
        {"max", DBL_MAX, 0, 0},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *sla = serve_config_sla_problem(cases[i].v);
        const char *alpha = serve_config_alpha_problem(cases[i].v);
        CASE_CHECK_INT(cases[i].name, sla == NULL, cases[i].sla_ok);
        CASE_CHECK_INT(cases[i].name, alpha == NULL, cases[i].alpha_ok);
        if (sla) check_contains(cases[i].name, sla, "[0.001, 3600");
        if (alpha) check_contains(cases[i].name, alpha, "[0, 1]");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubernetes_defaults), cmocka_unit_test(test_kubernetes_full),
        cmocka_unit_test(test_local_unchanged),     cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_control_period),
        cmocka_unit_test(test_dns_label),
        cmocka_unit_test(test_ops_keys),            cmocka_unit_test(test_ops_errors),
        cmocka_unit_test(test_sla_and_alpha_in_the_file),
        cmocka_unit_test(test_range_functions),
        cmocka_unit_test(test_standin_cpu_lists),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_store_max_rows_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

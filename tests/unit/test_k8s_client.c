/* test_k8s_client.c - where the Kubernetes client finds the API server
 * (src/k8s/client.c: k8s_client_api_url; the client itself is exercised end
 * to end against the fake API server in tests/k8s/test_cluster_e2e.py). */
#include "unit.h"

#include "k8s/client.h"

static void env(const char *host, const char *port) {
    if (host) setenv("KUBERNETES_SERVICE_HOST", host, 1);
    else unsetenv("KUBERNETES_SERVICE_HOST");
    if (port) setenv("KUBERNETES_SERVICE_PORT", port, 1);
    else unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_api_url(void **state) {
    static const struct {
        const char *name, *api_server, *host, *port;
        int insecure_http;
        const char *url;   /* NULL: refused */
        const char *msg;
    } cases[] = {
        {"in cluster", NULL, "10.96.0.1", "443", 0, "https://10.96.0.1:443"},
        {"in cluster, no port", NULL, "10.96.0.1", NULL, 0, "https://10.96.0.1:443"},
        {"in cluster, IPv6", NULL, "fd00::1", "6443", 0, "https://[fd00::1]:6443"},
        {"config wins", "https://api.example:6443/", "10.96.0.1", "443", 0, "https://api.example:6443"},
        {"http allowed", "http://127.0.0.1:8080", NULL, NULL, 1, "http://127.0.0.1:8080"},
        {"http refused", "http://127.0.0.1:8080", NULL, NULL, 0, NULL, "insecure_http: true"},
        {"not a URL", "api.example:6443", NULL, NULL, 1, NULL, "https://"},
        {"nowhere", NULL, NULL, NULL, 0, NULL, "set cluster.api_server"},
        {"empty host", NULL, "", "443", 0, NULL, "KUBERNETES_SERVICE_HOST"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char url[256] = "";
        roma_err err = {0};
        env(cases[i].host, cases[i].port);
        k8s_client_config cfg = {.api_server = cases[i].api_server, .insecure_http = cases[i].insecure_http};
        roma_code rc = k8s_client_api_url(&cfg, url, sizeof(url), &err);
        if (cases[i].url) {
            CASE_CHECK_INT(cases[i].name, rc, ROMA_OK);
            CASE_CHECK_STR(cases[i].name, url, cases[i].url);
        } else {
            CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
            check_contains(cases[i].name, err.msg, cases[i].msg);
        }
    }
    env(NULL, NULL);
}

static void test_start_refuses_bad_url(void **state) {
    (void)state;
    env(NULL, NULL);
    roma_err err = {0};
    k8s_client_config cfg = {.namespace_name = "roma", .selector = K8S_WORKER_SELECTOR};
    assert_null(k8s_client_start(&cfg, &err));
    check_contains("start", err.msg, "cluster.api_server");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_url),
        cmocka_unit_test(test_start_refuses_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_k8s_resize.c - judging an in-place resize (src/k8s/resize.c) and the
 * controller run once per Kubernetes node (src/k8s/nodes.c). */
#include "unit.h"

#include "k8s/nodes.h"
#include "k8s/resize.h"

/* A pod at `cores` that has observed generation `observed`. */
static k8s_pod pod_at(double cores, long long observed) {
    k8s_pod p = {.gpu = -1, .ready = 1, .spec_limit = cores, .spec_request = cores,
                 .actual_limit = cores, .actual_request = cores, .allocated = cores,
                 .observed_generation = observed, .generation = observed};
    strcpy(p.name, "roma-worker-resnet");
    return p;
}

static void pending(k8s_pod *p, const char *reason, const char *msg) {
    p->resize_pending.present = 1;
    snprintf(p->resize_pending.reason, sizeof(p->resize_pending.reason), "%s", reason);
    snprintf(p->resize_pending.message, sizeof(p->resize_pending.message), "%s", msg);
}

static void in_progress(k8s_pod *p, const char *reason, const char *msg) {
    p->resize_in_progress.present = 1;
    snprintf(p->resize_in_progress.reason, sizeof(p->resize_in_progress.reason), "%s", reason);
    snprintf(p->resize_in_progress.message, sizeof(p->resize_in_progress.message), "%s", msg);
}

static k8s_resize_ask accepted(double cores, long long generation) {
    return (k8s_resize_ask){.cores = cores, .answered = 1, .http_status = 200, .generation = generation};
}

static void expect(const char *name, const k8s_resize_ask *ask, const k8s_pod *pod, k8s_resize_state state,
                   double cores, const char *why) {
    k8s_resize_view v;
    k8s_resize_judge(ask, pod, &v);
    if (v.state != state)
        fail_msg("case '%s': state %s, expected %s (%s)", name, k8s_resize_state_name(v.state),
                 k8s_resize_state_name(state), v.why);
    CHECK_NEAR(name, v.cores, cores);
    if (state == K8S_RESIZE_NONE) CASE_CHECK_STR(name, v.why, "");
    else check_contains(name, v.why, why);
}

/* The KEP's own flow: cpu 1 -> 1.5 -> 2 (Deferred) -> 1.6 -> 100 (Infeasible). */
static void test_kep_flow(void **state) {
    (void)state;
    k8s_resize_ask none = {0};
    k8s_pod p = pod_at(1, 1);
    expect("nothing asked", &none, &p, K8S_RESIZE_NONE, 1, NULL);

    k8s_resize_ask ask = {.cores = 1.5};
    expect("sent", &ask, &p, K8S_RESIZE_SENT, 1, "1500m sent");
    ask = accepted(1.5, 2);
    expect("accepted, kubelet behind", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1, "generation 2");
    /* Stale conditions from before generation 2 must not be believed. */
    pending(&p, "Infeasible", "old news");
    expect("stale condition ignored", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1, "generation 2");
    p.resize_pending.present = 0;
    p.observed_generation = 2;
    p.allocated = 1.5;
    in_progress(&p, "", "");
    expect("in progress", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1, "in progress");
    p.actual_limit = p.actual_request = 1.5;
    p.resize_in_progress.present = 0;
    expect("1.5 done", &ask, &p, K8S_RESIZE_NONE, 1.5, NULL);

    ask = accepted(2, 3);
    p.observed_generation = 3;
    pending(&p, "Deferred", "Node didn't have enough capacity: cpu, requested: 2000, capacity: 1800");
    expect("2 deferred", &ask, &p, K8S_RESIZE_DEFERRED, 1.5, "capacity: 1800");

    ask = accepted(1.6, 4);
    expect("1.6 before kubelet", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1.5, "generation 4");
    p.observed_generation = 4;
    p.resize_pending.present = 0;
    p.actual_limit = p.actual_request = p.allocated = 1.6;
    expect("1.6 done", &ask, &p, K8S_RESIZE_NONE, 1.6, NULL);

    ask = accepted(100, 5);
    p.observed_generation = 5;
    pending(&p, "Infeasible", "Node didn't have enough capacity: cpu, requested: 100000, capacity: 4000");
    expect("100 infeasible", &ask, &p, K8S_RESIZE_INFEASIBLE, 1.6, "infeasible");
    k8s_resize_view v;
    k8s_resize_judge(&ask, &p, &v);
    assert_true(v.settled);
    check_contains("infeasible message", v.why, "capacity: 4000");
}

static void test_refused_and_unreachable(void **state) {
    (void)state;
    k8s_pod p = pod_at(1, 1);
    k8s_resize_ask ask = {.cores = 2, .answered = 1, .http_status = 422};
    strcpy(ask.message, "Pod \"roma-worker-resnet\" is invalid: spec: Forbidden: pod updates may not change fields other than ...");
    expect("422", &ask, &p, K8S_RESIZE_REFUSED, 1, "(422): Pod");
    ask.http_status = 409;
    strcpy(ask.message, "the object has been modified");
    expect("409", &ask, &p, K8S_RESIZE_REFUSED, 1, "(409): the object has been modified");
    ask.http_status = 0;
    strcpy(ask.message, "Couldn't connect to server");
    expect("down", &ask, &p, K8S_RESIZE_UNREACHABLE, 1, "unreachable (Couldn't connect");
    ask.http_status = 403;
    ask.message[0] = '\0';
    expect("403 without message", &ask, &p, K8S_RESIZE_REFUSED, 1, "no message");
}

static void test_kubelet_error_and_no_conditions(void **state) {
    (void)state;
    k8s_pod p = pod_at(1, 2);
    k8s_resize_ask ask = accepted(2, 2);
    in_progress(&p, "Error", "cgroup write failed");
    expect("kubelet error", &ask, &p, K8S_RESIZE_FAILED, 1, "cgroup write failed");
    p.resize_in_progress.present = 0;
    expect("observed, nothing said yet", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1, "not updated");
    /* A pod that never reports observedGeneration: done when the cores are there. */
    p = pod_at(2, 0);
    expect("no observedGeneration, done", &ask, &p, K8S_RESIZE_NONE, 2, NULL);
    p = pod_at(1, 0);
    expect("no observedGeneration, waiting", &ask, &p, K8S_RESIZE_IN_PROGRESS, 1, "generation 2");
}

static void test_group_by_node(void **state) {
    (void)state;
    const char *nodes[] = {"node-a", "node-b", NULL, "node-a", "", "node-c", "node-b"};
    size_t group[7];
    assert_int_equal(k8s_nodes_group(nodes, 7, group), 3);
    size_t want[] = {0, 1, K8S_NO_GROUP, 0, K8S_NO_GROUP, 2, 1};
    for (size_t i = 0; i < 7; i++) assert_int_equal(group[i], want[i]);
    assert_int_equal(k8s_nodes_group(nodes, 0, group), 0);
}

/* Two overloaded models on a 2-core node and one on a 4-core node: only
 * the first two are normalised together; the unscheduled one holds. */
static void test_update_per_node(void **state) {
    (void)state;
    roma_ctl_model m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (roma_ctl_model){.sla = 0.1, .min = 0.2, .max = 4, .initial = 1};
        roma_ctl_init(&m[i]);
        m[i].rt_mean = 1.0; /* ten times the SLA: every controller asks for more */
        m[i].completed = 10;
    }
    const char *nodes[] = {"small", "big", "small", NULL};
    double cpus[] = {2, 4, 2, 8};
    roma_ctl_model scratch[4];
    size_t group[4];
    k8s_nodes_update(ROMA_CTL_RULES, NULL, m, 4, nodes, cpus, scratch, group);
    /* rules: +0.5 each -> 1.5 + 1.5 on "small" is 3 > 2: normalised to 1 + 1. */
    CHECK_NEAR("small a", m[0].cores, 1.0);
    CHECK_NEAR("small b", m[2].cores, 1.0);
    CHECK_NEAR("big", m[1].cores, 1.5);
    CHECK_NEAR("unscheduled holds", m[3].cores, 1.0);
    assert_int_equal(m[3].completed, 10); /* untouched entirely */

    /* The same models all on one node of 8: nothing to normalise. */
    const char *one[] = {"n", "n", "n", "n"};
    for (int i = 0; i < 4; i++) roma_ctl_init(&m[i]), m[i].rt_mean = 1.0, m[i].completed = 10;
    double eight[] = {8, 8, 8, 8};
    k8s_nodes_update(ROMA_CTL_RULES, NULL, m, 4, one, eight, scratch, group);
    for (int i = 0; i < 4; i++) CHECK_NEAR("one node", m[i].cores, 1.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kep_flow),
        cmocka_unit_test(test_refused_and_unreachable),
        cmocka_unit_test(test_kubelet_error_and_no_conditions),
        cmocka_unit_test(test_group_by_node),
        cmocka_unit_test(test_update_per_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

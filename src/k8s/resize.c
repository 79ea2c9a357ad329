/* resize.c - the state of an in-place CPU resize (see resize.h). */
#include "k8s/resize.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int k8s_cores_equal(double a, double b) {
    return fabs(a - b) < 0.0005;
}

const char *k8s_resize_state_name(k8s_resize_state state) {
    static const char *const names[] = {"none",   "sent",    "in-progress", "deferred",
                                        "infeasible", "failed", "refused", "unreachable"};
    return names[state];
}

static void set(k8s_resize_view *v, k8s_resize_state state, int settled, const char *fmt, const char *a,
                const char *b) {
    v->state = state;
    v->settled = settled;
    snprintf(v->why, sizeof(v->why), fmt, a, b);
}

/* The API server answered the PATCH with something else than 200. */
static void judge_refusal(const k8s_resize_ask *ask, k8s_resize_view *v, const char *asked) {
    char code[16];
    snprintf(code, sizeof(code), "%d", ask->http_status);
    if (ask->http_status == 0) {
        set(v, K8S_RESIZE_UNREACHABLE, 1, "resize to %s not done: API server unreachable (%s)", asked,
            ask->message);
        return;
    }
    v->state = K8S_RESIZE_REFUSED;
    v->settled = 1;
    snprintf(v->why, sizeof(v->why), "resize to %s refused by the API server (%s): %s", asked, code,
             ask->message[0] ? ask->message : "no message");
}

/* The kubelet has seen the patched generation: its conditions speak for it. */
static void judge_conditions(const k8s_pod *pod, k8s_resize_view *v, const char *asked) {
    const k8s_condition *pend = &pod->resize_pending, *prog = &pod->resize_in_progress;
    if (pend->present && strcmp(pend->reason, "Infeasible") == 0)
        set(v, K8S_RESIZE_INFEASIBLE, 1, "resize to %s infeasible: %s", asked, pend->message);
    else if (pend->present)
        set(v, K8S_RESIZE_DEFERRED, 0, "resize to %s deferred: %s", asked, pend->message);
    else if (prog->present && strcmp(prog->reason, "Error") == 0)
        set(v, K8S_RESIZE_FAILED, 0, "resize to %s failed on the node: %s", asked, prog->message);
    else
        set(v, K8S_RESIZE_IN_PROGRESS, 0, "resize to %s in progress%s", asked,
            prog->present ? "" : " (status not updated yet)");
}

void k8s_resize_judge(const k8s_resize_ask *ask, const k8s_pod *pod, k8s_resize_view *v) {
    char asked[32], gen[64];
    v->cores = k8s_pod_cores(pod);
    set(v, K8S_RESIZE_NONE, 1, "%s", "", "");
    if (ask->cores <= 0) return;
    k8s_cpu_format(ask->cores, asked, sizeof(asked));
    if (!ask->answered) {
        set(v, K8S_RESIZE_SENT, 0, "resize to %s sent, not answered yet", asked, "");
    } else if (ask->http_status != 200) {
        judge_refusal(ask, v, asked);
    } else if (pod->observed_generation < ask->generation) {
        /* Conditions may still be about an older resize: only the actual
         * cores count (a pod that reports no observedGeneration lands here
         * too, and is done when its cores are the asked ones). */
        if (k8s_cores_equal(v->cores, ask->cores)) return;
        snprintf(gen, sizeof(gen), "%lld", ask->generation);
        set(v, K8S_RESIZE_IN_PROGRESS, 0, "resize to %s accepted; the kubelet has not reached generation %s yet",
            asked, gen);
    } else if (k8s_cores_equal(v->cores, ask->cores) && !pod->resize_pending.present &&
               !pod->resize_in_progress.present) {
        return; /* done */
    } else {
        judge_conditions(pod, v, asked);
    }
}

/* fuzz_k8s_pod.c - what roma serve reads from the Kubernetes API (src/k8s/
 * pod.h): any text, read as a watch-stream line, as a Pod object and as a
 * Status body, is read or refused with a message, every string it fills
 * is NUL-terminated within its array; and its first line, read as a CPU
 * quantity, is refused or formats back to a canonical quantity that reads
 * as the same cores (quantity -> cores -> quantity), whose resize patch
 * is JSON. */
#include "fuzz.h"

#include <math.h>

#include "k8s/pod.h"

#define TERMINATED(field) FUZZ_CHECK(memchr((field), '\0', sizeof(field)) != NULL, #field " unterminated")

static void check_pod(const k8s_pod *p) {
    TERMINATED(p->name);
    TERMINATED(p->uid);
    TERMINATED(p->resource_version);
    TERMINATED(p->node);
    TERMINATED(p->ip);
    TERMINATED(p->model);
    TERMINATED(p->role);
    TERMINATED(p->resize_pending.reason);
    TERMINATED(p->resize_pending.message);
    TERMINATED(p->resize_in_progress.reason);
    TERMINATED(p->resize_in_progress.message);
    double c = k8s_pod_cores(p);
    FUZZ_CHECK(isfinite(c) && c >= 0, "pod cores %g", c);
    (void)k8s_pod_usable(p);
}

static void check_quantity(const char *text) {
    double cores, back;
    roma_err err;
    char q[32], q2[32];
    err.msg[0] = '\0';
    if (k8s_cpu_parse(text, &cores, &err) != ROMA_OK) {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
        return;
    }
    FUZZ_CHECK(isfinite(cores) && cores >= 0, "'%s' is %g cores", text, cores);
    k8s_cpu_format(cores, q, 24); /* pod.h: cap >= 24 always suffices */
    FUZZ_CHECK(strlen(q) < 23, "'%s' formatted as '%s', which may not fit", text, q);
    FUZZ_CHECK(k8s_cpu_parse(q, &back, &err) == ROMA_OK, "own quantity '%s' refused: %s", q, err.msg);
    FUZZ_CHECK(back == cores, "'%s' is %.17g cores, '%s' %.17g", text, cores, q, back);
    k8s_cpu_format(back, q2, sizeof(q2));
    FUZZ_CHECK(strcmp(q, q2) == 0, "'%s' formats as '%s' then '%s'", text, q, q2);
    char *patch = k8s_resize_patch(cores);
    json_t *obj = json_loads(patch, 0, NULL);
    FUZZ_CHECK(obj != NULL, "resize patch is not JSON: %s", patch);
    json_decref(obj);
    free(patch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    k8s_event ev;
    roma_err err;
    err.msg[0] = '\0';
    if (k8s_event_parse(text, size, &ev, &err) == ROMA_OK) {
        TERMINATED(ev.resource_version);
        TERMINATED(ev.message);
        if (ev.type == K8S_EVENT_ADDED || ev.type == K8S_EVENT_MODIFIED || ev.type == K8S_EVENT_DELETED)
            check_pod(&ev.pod);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "event refused without a message");
    }
    json_t *obj = json_loadb(text, size, 0, NULL);
    if (obj) {
        k8s_pod pod;
        err.msg[0] = '\0';
        if (k8s_pod_read(obj, &pod, &err) == ROMA_OK) check_pod(&pod);
        else FUZZ_CHECK(err.msg[0] != '\0', "pod refused without a message");
        json_decref(obj);
    }
    char msg[128];
    k8s_status_message(text, size, msg, sizeof(msg));
    TERMINATED(msg);
    text[strcspn(text, "\n")] = '\0';
    check_quantity(text);
    free(text);
    return 0;
}

/* pod.c - Kubernetes Pod objects, CPU quantities, the resize patch and
 * watch events, read and written with jansson (see pod.h).
 *
 * Quantities are read in whole millicores with integer arithmetic, as the
 * API server stores them, so "0.1" is exactly 100m and comparing what ROMA
 * asked with what the pod reports never trips over 0.1 + 0.2 in binary.
 */
#include "k8s/pod.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MILLICORES 1000000000000LL /* a billion cores: beyond any node */

static roma_code bad_quantity(roma_err *err, const char *text, const char *why) {
    return roma_fail(err, ROMA_INVALID_ARGUMENT,
                     "'%s' is not a CPU quantity (%s): write cores as \"2\", \"1.5\" or millicores as \"1500m\"",
                     text, why);
}

roma_code k8s_cpu_parse(const char *text, double *cores, roma_err *err) {
    const char *p = text;
    long long whole = 0, frac = 0;
    int frac_digits = 0, digits = 0, milli = 0;
    if (!text || !*text) return bad_quantity(err, text ? text : "", "empty");
    if (*p == '+') p++;
    if (*p == '-') return bad_quantity(err, text, "negative");
    for (; isdigit((unsigned char)*p); p++, digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_MILLICORES) return bad_quantity(err, text, "too large");
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, digits++, frac_digits++) {
            if (frac_digits >= 3 && *p != '0') return bad_quantity(err, text, "finer than a millicore");
            if (frac_digits < 3) frac = frac * 10 + (*p - '0');
        }
    if (digits == 0) return bad_quantity(err, text, "no digits");
    if (*p == 'm') milli = 1, p++;
    if (*p) return bad_quantity(err, text, "unknown suffix; CPU takes none or 'm'");
    for (int i = frac_digits < 3 ? frac_digits : 3; i < 3; i++) frac *= 10;
    long long millicores;
    if (milli) {
        if (frac) return bad_quantity(err, text, "finer than a millicore");
        millicores = whole;
    } else {
        millicores = whole * 1000 + frac;
    }
    /* The loop bounds whole alone; in cores it may still be 1000x the limit,
     * and k8s_cpu_format's millicores would then not read back. */
    if (millicores > MAX_MILLICORES) return bad_quantity(err, text, "too large");
    *cores = (double)millicores / 1000.0;
    return ROMA_OK;
}

char *k8s_cpu_format(double cores, char *buf, size_t cap) {
    long long m = llround(cores * 1000.0);
    if (m < 0) m = 0;
    if (m % 1000 == 0) snprintf(buf, cap, "%lld", m / 1000);
    else snprintf(buf, cap, "%lldm", m);
    return buf;
}

char *k8s_resize_patch(double cores) {
    char q[32];
    k8s_cpu_format(cores, q, sizeof(q));
    json_t *res = json_pack("{s:{s:s},s:{s:s}}", "requests", "cpu", q, "limits", "cpu", q);
    json_t *patch = json_pack("{s:{s:[{s:s,s:o}]}}", "spec", "containers", "name", K8S_CONTAINER,
                              "resources", res);
    char *text = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    if (!text) abort();
    return text;
}

/* ---- reading a Pod ----------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const json_t *v) {
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    snprintf(dst, cap, "%s", s);
}

/* The element of array arr whose "name" (or "type", for conditions) is key. */
static json_t *find_named(const json_t *arr, const char *field, const char *key) {
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *n = json_string_value(json_object_get(e, field));
        if (n && strcmp(n, key) == 0) return e;
    }
    return NULL;
}

/* A cpu quantity q (absent: 0 cores), where names its field in messages. */
static roma_code read_quantity(const k8s_pod *pod, const json_t *q, const char *where, double *cores,
                               roma_err *err) {
    roma_err qerr;
    *cores = 0;
    if (!q) return ROMA_OK;
    if (!json_is_string(q) || k8s_cpu_parse(json_string_value(q), cores, &qerr) != ROMA_OK)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "pod %s: %s.cpu: %s", pod->name, where,
                         json_is_string(q) ? qerr.msg : "not a string");
    return ROMA_OK;
}

/* resources.<kind>.cpu of a container into *cores (0 when absent). */
static roma_code read_cpu(const k8s_pod *pod, const json_t *resources, const char *kind,
                          const char *where, double *cores, roma_err *err) {
    char field[160];
    snprintf(field, sizeof(field), "%s.%s", where, kind);
    return read_quantity(pod, json_object_get(json_object_get(resources, kind), "cpu"), field, cores, err);
}

static void read_condition(const json_t *conds, const char *type, k8s_condition *c) {
    const json_t *e = find_named(conds, "type", type);
    const char *status = json_string_value(json_object_get(e, "status"));
    c->present = e && (!status || strcmp(status, "True") == 0);
    if (!c->present) return;
    copy_str(c->reason, sizeof(c->reason), json_object_get(e, "reason"));
    copy_str(c->message, sizeof(c->message), json_object_get(e, "message"));
}

static void read_metadata(const json_t *meta, k8s_pod *pod) {
    const json_t *labels = json_object_get(meta, "labels");
    const char *gpu = json_string_value(json_object_get(labels, K8S_LABEL_GPU));
    copy_str(pod->uid, sizeof(pod->uid), json_object_get(meta, "uid"));
    copy_str(pod->resource_version, sizeof(pod->resource_version), json_object_get(meta, "resourceVersion"));
    pod->generation = json_integer_value(json_object_get(meta, "generation"));
    pod->deleting = json_object_get(meta, "deletionTimestamp") != NULL &&
                    !json_is_null(json_object_get(meta, "deletionTimestamp"));
    copy_str(pod->model, sizeof(pod->model), json_object_get(labels, K8S_LABEL_MODEL));
    if (!pod->model[0]) /* a model name that is no valid label value rides in the annotation */
        copy_str(pod->model, sizeof(pod->model),
                 json_object_get(json_object_get(meta, "annotations"), K8S_LABEL_MODEL));
    copy_str(pod->role, sizeof(pod->role), json_object_get(labels, K8S_LABEL_ROLE));
    char *end = NULL;
    long g = gpu && *gpu ? strtol(gpu, &end, 10) : -1;
    pod->gpu = gpu && *gpu && end && !*end && g >= 0 && g < 1024 ? (int)g : -1;
}

static roma_code read_status(const json_t *status, k8s_pod *pod, roma_err *err) {
    const json_t *conds = json_object_get(status, "conditions");
    const json_t *cs = find_named(json_object_get(status, "containerStatuses"), "name", K8S_CONTAINER);
    const json_t *ready = find_named(conds, "type", "Ready");
    const char *rs = json_string_value(json_object_get(ready, "status"));
    roma_code rc;
    copy_str(pod->ip, sizeof(pod->ip), json_object_get(status, "podIP"));
    pod->ready = rs && strcmp(rs, "True") == 0;
    pod->observed_generation = json_integer_value(json_object_get(status, "observedGeneration"));
    read_condition(conds, "PodResizePending", &pod->resize_pending);
    read_condition(conds, "PodResizeInProgress", &pod->resize_in_progress);
    const json_t *res = json_object_get(cs, "resources");
    if ((rc = read_cpu(pod, res, "requests", "status.containerStatuses[worker].resources",
                       &pod->actual_request, err)) != ROMA_OK ||
        (rc = read_cpu(pod, res, "limits", "status.containerStatuses[worker].resources",
                       &pod->actual_limit, err)) != ROMA_OK)
        return rc;
    return read_quantity(pod, json_object_get(json_object_get(cs, "allocatedResources"), "cpu"),
                         "status.containerStatuses[worker].allocatedResources", &pod->allocated, err);
}

roma_code k8s_pod_read(const json_t *obj, k8s_pod *pod, roma_err *err) {
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    roma_code rc;
    memset(pod, 0, sizeof(*pod));
    pod->gpu = -1;
    if (!json_is_object(obj) || !name || !*name)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "not a Pod: no metadata.name");
    snprintf(pod->name, sizeof(pod->name), "%s", name);
    read_metadata(meta, pod);
    const json_t *spec = json_object_get(obj, "spec");
    copy_str(pod->node, sizeof(pod->node), json_object_get(spec, "nodeName"));
    const json_t *c = find_named(json_object_get(spec, "containers"), "name", K8S_CONTAINER);
    const json_t *res = json_object_get(c, "resources");
    pod->port = (int)json_integer_value(json_object_get(find_named(json_object_get(c, "ports"), "name", "http"),
                                                        "containerPort"));
    if (pod->port < 0 || pod->port > 65535) pod->port = 0;
    if ((rc = read_cpu(pod, res, "requests", "spec.containers[worker].resources", &pod->spec_request, err)) != ROMA_OK ||
        (rc = read_cpu(pod, res, "limits", "spec.containers[worker].resources", &pod->spec_limit, err)) != ROMA_OK)
        return rc;
    return read_status(json_object_get(obj, "status"), pod, err);
}

int k8s_pod_usable(const k8s_pod *pod) {
    return pod->ip[0] && pod->ready && !pod->deleting;
}

double k8s_pod_cores(const k8s_pod *pod) {
    if (pod->actual_limit > 0) return pod->actual_limit;
    if (pod->allocated > 0) return pod->allocated;
    return pod->spec_limit;
}

/* ---- watch events ------------------------------------------------------ */

static int event_type(const char *t, k8s_event_type *type) {
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (int i = 0; t && i < 5; i++)
        if (strcmp(t, names[i]) == 0) return *type = (k8s_event_type)i, 1;
    return 0;
}

roma_code k8s_event_parse(const char *line, size_t len, k8s_event *ev, roma_err *err) {
    json_error_t je;
    json_t *root = json_loadb(line, len, 0, &je);
    roma_code rc = ROMA_OK;
    memset(ev, 0, sizeof(*ev));
    ev->pod.gpu = -1;
    const json_t *obj = json_object_get(root, "object");
    if (!root) {
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "watch event is not JSON: %s", je.text);
    } else if (!event_type(json_string_value(json_object_get(root, "type")), &ev->type) ||
               !json_is_object(obj)) {
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "not a watch event: needs type ADDED/MODIFIED/DELETED/BOOKMARK/ERROR and an object");
    } else if (ev->type == K8S_EVENT_ERROR) {
        ev->code = (int)json_integer_value(json_object_get(obj, "code"));
        copy_str(ev->message, sizeof(ev->message), json_object_get(obj, "message"));
    } else if (ev->type == K8S_EVENT_BOOKMARK) {
        copy_str(ev->resource_version, sizeof(ev->resource_version),
                 json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    } else if ((rc = k8s_pod_read(obj, &ev->pod, err)) == ROMA_OK) {
        memcpy(ev->resource_version, ev->pod.resource_version, sizeof(ev->resource_version));
    }
    json_decref(root);
    return rc;
}

void k8s_status_message(const char *body, size_t len, char *msg, size_t cap) {
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const char *m = json_string_value(json_object_get(root, "message"));
    snprintf(msg, cap, "%s", kind && strcmp(kind, "Status") == 0 && m ? m : "");
    json_decref(root);
}

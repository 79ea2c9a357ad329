/* resize.h - where an in-place CPU resize of a worker pod stands
 * (KEP-1287), judged from what ROMA asked and the pod as last seen.
 *
 * ROMA PATCHes pods/<name>/resize; the API server answers with the pod,
 * whose metadata.generation that patch raised.  The kubelet then, in
 * separate updates, writes allocatedResources, the container's actual
 * resources, status.observedGeneration and the conditions PodResizePending
 * (reason Deferred: retried when room appears; Infeasible: never) and
 * PodResizeInProgress (reason "" while it works, Error when it failed).
 * Conditions are trusted only once status.observedGeneration has reached
 * the generation the patch produced: before that they may describe an
 * older resize.  Whatever the state, the cores that count are the ones the
 * pod really has (k8s_pod_cores), never the ones asked for.
 *
 * Pure: no I/O, no clock, no globals.
 */
#ifndef ROMA_K8S_RESIZE_H
#define ROMA_K8S_RESIZE_H

#include "k8s/pod.h"

typedef enum {
    K8S_RESIZE_NONE,        /* nothing asked, or the pod already has what was asked */
    K8S_RESIZE_SENT,        /* PATCH sent, no answer yet */
    K8S_RESIZE_IN_PROGRESS, /* accepted; the kubelet has not finished (or not seen it yet) */
    K8S_RESIZE_DEFERRED,    /* PodResizePending Deferred: no room on the node now */
    K8S_RESIZE_INFEASIBLE,  /* PodResizePending Infeasible: never, as asked */
    K8S_RESIZE_FAILED,      /* PodResizeInProgress Error: the kubelet could not apply it */
    K8S_RESIZE_REFUSED,     /* the API server refused the PATCH (409, 422, 403...) */
    K8S_RESIZE_UNREACHABLE, /* the PATCH got no answer: API server down or unreachable */
} k8s_resize_state;

/* What ROMA asked of one pod, and what the API server answered. */
typedef struct {
    double cores;           /* asked; 0: nothing asked yet */
    int answered;           /* the PATCH got an answer (or failed in transport) */
    int http_status;        /* its HTTP status; 0 when it failed in transport */
    long long generation;   /* metadata.generation in a 200 answer */
    char message[K8S_MESSAGE_CAP]; /* a refusal's Status message, or the transport error */
} k8s_resize_ask;

typedef struct {
    double cores;           /* what the pod really has now (k8s_pod_cores) */
    k8s_resize_state state;
    int settled;            /* no more change will come without a new ask (done or given up) */
    char why[K8S_MESSAGE_CAP + 96]; /* "" when done; else a sentence for /roma/v1/workers */
} k8s_resize_view;

/* Judges ask against pod. */
void k8s_resize_judge(const k8s_resize_ask *ask, const k8s_pod *pod, k8s_resize_view *view);

/* "none", "sent", "in-progress", "deferred", "infeasible", "failed",
 * "refused", "unreachable": a static string. */
const char *k8s_resize_state_name(k8s_resize_state state);

/* Whether two core counts are the same quantity (within half a millicore). */
int k8s_cores_equal(double a, double b);

#endif

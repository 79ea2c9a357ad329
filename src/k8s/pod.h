/* pod.h - what `roma serve` reads from and writes to the Kubernetes API
 * about its worker pods (docs/k8s-contract: labels, container `worker`).
 *
 *   - CPU quantities: "2", "1.5", "1500m", "250m" to cores, and cores to the
 *     canonical quantity the API server itself would write ("1500m", "2");
 *   - a Pod object (as the API returns it) read into a plain k8s_pod;
 *   - the body of a PATCH of pods/<name>/resize (KEP-1287);
 *   - one line of a watch stream read into a k8s_event.
 *
 * Pure: no I/O, no globals, no allocation the caller must free unless a
 * function says so.  Any thread may call these.
 */
#ifndef ROMA_K8S_POD_H
#define ROMA_K8S_POD_H

#include <jansson.h>
#include <stddef.h>

#include "common/status.h"

#define K8S_CONTAINER "worker"     /* the container ROMA resizes, in every worker pod */
#define K8S_NAME_CAP 254           /* object names: at most 253 characters */
#define K8S_RV_CAP 64              /* resourceVersion: opaque, short */
#define K8S_MESSAGE_CAP 1024

/* Label keys (both sides of the contract use exactly these). */
#define K8S_LABEL_MODEL "roma.io/model"
#define K8S_LABEL_ROLE "roma.io/role"
#define K8S_LABEL_GPU "roma.io/gpu"
#define K8S_ROLE_CPU "cpu-worker"
#define K8S_ROLE_GPU "gpu-worker"
/* The selector the control plane lists and watches with. */
#define K8S_WORKER_SELECTOR "app.kubernetes.io/name=roma,app.kubernetes.io/component=worker"

/* A pod condition ROMA reads; present 0 when the pod does not carry it. */
typedef struct {
    int present;
    char reason[64];                /* e.g. "Deferred", "Infeasible", "Error", "" */
    char message[K8S_MESSAGE_CAP];
} k8s_condition;

typedef struct {
    char name[K8S_NAME_CAP];
    char uid[64];                   /* metadata.uid: a pod re-created under its name differs */
    char resource_version[K8S_RV_CAP];
    long long generation;           /* metadata.generation; 0 when absent */
    char node[K8S_NAME_CAP];        /* spec.nodeName; "" until scheduled */
    char ip[64];                    /* status.podIP; "" until it has one */
    int port;                       /* container worker's port named http; 0 when absent */
    int ready;                      /* condition Ready is "True" */
    int deleting;                   /* metadata.deletionTimestamp is set */
    char model[64];                 /* label (else annotation) roma.io/model; "" when absent */
    char role[32];                  /* label roma.io/role; "" when absent */
    int gpu;                        /* label roma.io/gpu; -1 when absent */
    /* container `worker`, cores; 0 where the field is absent */
    double spec_request, spec_limit;     /* spec.containers[worker].resources */
    double actual_request, actual_limit; /* status.containerStatuses[worker].resources */
    double allocated;                    /* ...allocatedResources.cpu */
    long long observed_generation;       /* status.observedGeneration; 0 when absent */
    k8s_condition resize_pending;        /* PodResizePending: Deferred | Infeasible */
    k8s_condition resize_in_progress;    /* PodResizeInProgress: "" | Error */
} k8s_pod;

/* Reads a Kubernetes CPU quantity ("2", "1.5", "1500m", "0.1", "2e0" is
 * refused) into cores.  ROMA_INVALID_ARGUMENT with a message naming text
 * for anything else: a negative, empty, non-numeric or non-CPU quantity
 * ("1Gi"), or one finer than a millicore. */
roma_code k8s_cpu_parse(const char *text, double *cores, roma_err *err);

/* Writes cores as the canonical CPU quantity: whole cores as "2", anything
 * else in millicores ("1500m", "250m"), rounded to the nearest millicore.
 * cap >= 24 always suffices.  Returns buf. */
char *k8s_cpu_format(double cores, char *buf, size_t cap);

/* The strategic merge patch of pods/<name>/resize that sets container
 * worker's cpu requests and limits both to cores.  Returns a malloc'ed
 * string the caller frees. */
char *k8s_resize_patch(double cores);

/* Reads the Pod object obj.  ROMA_INVALID_ARGUMENT (pod untouched beyond
 * zeroing) when obj is not a Pod with a name, or a quantity of container
 * worker is not a CPU quantity; the message names the pod and the field. */
roma_code k8s_pod_read(const json_t *obj, k8s_pod *pod, roma_err *err);

/* Whether the pod can take requests: it has an IP, is Ready and is not
 * being deleted. */
int k8s_pod_usable(const k8s_pod *pod);

/* The cores the container runs with now: status resources' limit, else
 * the allocated cores, else (a pod that reports no resources in its
 * status, as before KEP-1287) the spec's limit; 0 when none is known. */
double k8s_pod_cores(const k8s_pod *pod);

typedef enum {
    K8S_EVENT_ADDED,
    K8S_EVENT_MODIFIED,
    K8S_EVENT_DELETED,
    K8S_EVENT_BOOKMARK,
    K8S_EVENT_ERROR,
} k8s_event_type;

/* One event of a watch stream. */
typedef struct {
    k8s_event_type type;
    k8s_pod pod;                      /* ADDED, MODIFIED, DELETED */
    char resource_version[K8S_RV_CAP]; /* every type but ERROR: resume from here */
    int code;                         /* ERROR: the Status code (410: re-list) */
    char message[K8S_MESSAGE_CAP];    /* ERROR: the Status message */
} k8s_event;

/* Reads one line of a watch stream (one JSON object, without the newline).
 * ROMA_INVALID_ARGUMENT with a message when it is not a watch event. */
roma_code k8s_event_parse(const char *line, size_t len, k8s_event *ev, roma_err *err);

/* The message of a Kubernetes Status body (an API error answer), copied
 * into msg; "" when body is not a Status. */
void k8s_status_message(const char *body, size_t len, char *msg, size_t cap);

#endif

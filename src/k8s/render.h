/* render.h - `roma k8s render`: the Kubernetes manifests that run a
 * roma.yaml on a cluster (docs: /work/notes/k8s-contract.md's objects,
 * README "Kubernetes").
 *
 * k8s_render is a pure function of the parsed config and the options: it
 * builds every object as a JSON value (kubectl takes JSON and YAML alike)
 * and reads nothing else, so tests check the manifests' content directly.
 * k8s_write_yaml turns objects into the YAML users read.  k8s_main is the
 * command line around them (reads the config, resolves a local config's
 * relative base paths, writes stdout or one file per object).
 *
 * Objects, in the order they must be applied: Namespace; ServiceAccount,
 * Role (pods get/list/watch, pods/resize patch, nothing else) and
 * RoleBinding `roma`; ConfigMap `roma-config` (roma.yaml with cluster.kind
 * kubernetes, and the GPU workers' models.config); Service and Deployment
 * `roma` (the control plane); per model a CPU worker Pod
 * `roma-worker-<model>` with CPU requests = limits = cores.initial, resized
 * in place by roma serve; per GPU a GPU worker Pod serving every model.
 * The control plane and every worker get ROMA_WORKER_SECRET from the
 * Secret K8S_WORKER_SECRET_NAME (key K8S_WORKER_SECRET_KEY): the workers
 * answer only requests that carry it (common/secret.h), i.e. roma serve's.
 * That Secret is rendered (second, after the Namespace) only when the
 * options give its value: a pure function cannot draw one, and a value
 * drawn at each render would change at each apply.  Without it the
 * operator creates the Secret once (README "Kubernetes"); until then the
 * pods wait in CreateContainerConfigError, which names the Secret.
 * Every container runs as a fixed non-root UID with a read-only root file
 * system, no capabilities, no privilege escalation and the runtime's
 * default seccomp profile.
 *
 * Single-threaded; no global state.
 */
#ifndef ROMA_K8S_RENDER_H
#define ROMA_K8S_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "../common/status.h"
#include "../serve/config.h"

#define K8S_DEFAULT_IMAGE "roma:latest"               /* scripts/build-images.sh tags these */
#define K8S_DEFAULT_WORKER_IMAGE "roma-worker:latest"
#define K8S_UID 65532                                 /* the images' non-root user */
#define K8S_WORKER_MEMORY "2Gi"                       /* CPU worker: request = limit */
#define K8S_GPU_WORKER_MEMORY "8Gi"                   /* GPU worker: request = limit */
#define K8S_WORKER_SECRET_NAME "roma-worker-secret"  /* Secret holding the workers' secret */
#define K8S_WORKER_SECRET_KEY "secret"                /* ...under this key */

typedef struct {
    const char *image;          /* control plane (roma); NULL: K8S_DEFAULT_IMAGE */
    const char *worker_image;   /* workers (roma-worker); NULL: K8S_DEFAULT_WORKER_IMAGE */
    const char *namespace_name; /* NULL: cluster.namespace, else "roma" */
    const char *worker_secret;  /* NULL: the Secret is referenced, not rendered; else its
                                   value (roma_secret_check's rules), rendered as a Secret */
} k8s_render_options;

/* Builds the manifests for cfg (kind local is rendered as kind kubernetes
 * with its defaults).  On success *objects is a new JSON array of objects in
 * apply order (caller json_decref's it).  INVALID_ARGUMENT, naming what is
 * wrong and how to fix it, for: no models, an invalid image reference, a
 * namespace that is not a DNS label, a model or node name that makes no
 * valid object name or label, two models with the same object name, and a
 * model served from a hostPath whose base_path is not absolute, and a
 * worker_secret that is no valid secret. */
roma_code k8s_render(const serve_config *cfg, const k8s_render_options *opt, json_t **objects,
                     roma_err *err);

/* ref is an image reference by the distribution reference grammar:
 * [host[:port]/]path-component[/path-component...][:tag][@algorithm:hex].
 * Returns 1, or 0 with why (cap bytes) saying what is wrong. */
int k8s_image_ref_valid(const char *ref, char *why, size_t cap);

/* The object-name part for a model: lower case, '_' and '.' as '-'
 * ("ResNet_v2" -> "resnet-v2"), into out (cap >= 64). */
void k8s_model_object_name(const char *model, char *out, size_t cap);

/* A Kubernetes quantity for cores: whole cores as "2", else millicores as
 * "1500m" (rounded to the millicore), into out. */
void k8s_cpu_quantity(double cores, char *out, size_t cap);

/* Writes a stream of YAML documents: one per element when value is an
 * array, else value alone; each starts with "---".  0, or -1 on a write
 * error.  k8s_yaml_string writes value as one document without the
 * "---" into a new string (caller frees). */
int k8s_write_yaml(FILE *f, const json_t *value);
char *k8s_yaml_string(const json_t *value);

/* `roma k8s ARGS` (ARGS after "k8s"): 0, 2 on bad input, 1 on a write error. */
int k8s_main(int argc, char **argv);

#endif

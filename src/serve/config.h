/* config.h - roma.yaml, the one file an operator writes (DESIGN.md §1):
 *
 *   listen: 127.0.0.1:8501
 *   node:   {cpus: 2, gpus: []}
 *           # gpu_standins: [{cpus: "1"}]   tests and experiments only (below)
 *   control: {period: 250ms, controller: relative-pi-ff}   # the defaults (below)
 *   dispatch: {gpu_policy: roma, queue_limit: 1000}
 *   store:  {path: roma.db, max_rows: 1000000}
 *   ops:    {token_file: /etc/roma/token, read: open}   # read: open | token
 *   limits: {connections: 1024, body_mb: 64, inflight_mb: 1024, request_timeout: 60s}
 *   models:
 *     - name: resnet
 *       base_path: models/resnet
 *       sla: 0.200          # seconds (or "200ms"), 1 ms to 1 hour
 *       alpha: 0.5          # [0, 1]
 *       profiled: 0.015     # optional: service time on a GPU, seconds
 *       sla_percentile: 95  # optional: hold the window's 95th percentile (default: mean)
 *       cores: {min: 0.2, max: 2, initial: 1}
 *       node: node-a        # cluster mode: the Kubernetes node to run on (optional)
 *   cluster:                # optional; kind: local (the default) is one machine
 *     kind: kubernetes      # local | kubernetes
 *     namespace: roma       # where the worker pods live (a DNS label)
 *     api_server: https://10.96.0.1:443   # default: the in-cluster service
 *     token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
 *     ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
 *     insecure_http: false  # true allows an http:// api_server (tests only)
 *     worker_port: 8501     # roma worker's REST port inside its pod
 *     models_volume: {claim: models}   # or {host_path: /srv/models}
 *     nodes:                # cores ROMA may hand out per node (default node.cpus)
 *       - {name: node-a, cpus: 6, gpus: [0]}
 *
 * node.gpu_standins: GPU stand-ins for machines without a GPU, for tests
 * and experiments only (not a device for production).  Each is a worker
 * that roma serve treats as a GPU (its own slot and queue choice by the
 * GPU policy, never resized by the controller) but that runs on CPU,
 * pinned to its own CPUs (`cpus`: a Linux CPU list such as "1" or "2-3,6"),
 * which the CPU workers then never use.  Local mode only.
 *
 * In cluster mode a model's base_path is not read on this machine: worker
 * pods serve <models volume>/<model name>, as TF Serving's image serves
 * /models/$MODEL_NAME.
 *
 * ops: changes (PATCH /roma/v1/...) always need the bearer token kept in
 * token_file; without token_file roma serve generates one at first start
 * in <store dir>/roma.token (mode 0600) and reuses it.  read: open leaves
 * the read-only endpoints (GET /roma/v1/..., /metrics) open; read: token
 * asks the token for them too.
 *
 * limits: what the front end holds at most.  connections: client
 * connections open at once (past it roma serve stops accepting until one
 * closes; the kernel's backlog holds the rest).  body_mb: one request's
 * body.  inflight_mb: the bodies of all accepted requests together (past
 * it new ones get 503 and Retry-After).  request_timeout: how long a
 * connection may take to deliver a whole request, counted from when it
 * opened or got its previous answer (idle keep-alive connections and
 * slow senders are closed after it).
 *
 * Parsed once into plain structs and validated: every mistake is reported
 * with the key, the line and the fix.  Pure (reads only the file and, to
 * check base paths, the file system).
 */
#ifndef ROMA_SERVE_CONFIG_H
#define ROMA_SERVE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* SLAs accepted, seconds: 1 ms to 1 hour.  Outside, an SLA is a slip of
 * units (200 for 200 ms) or a value whose 1/sla overflows (1e-320), and
 * the controller would act on nonsense. */
#define SERVE_SLA_MIN 0.001
#define SERVE_SLA_MAX 3600.0

typedef enum { SERVE_OPS_READ_OPEN, SERVE_OPS_READ_TOKEN } serve_ops_read;

typedef struct {
    char *name;
    char *base_path;
    double sla;      /* seconds, [SERVE_SLA_MIN, SERVE_SLA_MAX] */
    double alpha;    /* [0, 1] */
    double profiled; /* seconds; 0 when not given */
    double sla_percentile; /* (0, 100]: the controller holds this percentile of a
                              window under the SLA; 0 (not given): the mean */
    double cores_min, cores_max, cores_initial;
    char *node;      /* cluster mode: the node it is pinned to, or NULL */
} serve_model_config;

/* node.gpu_standins[]: one GPU stand-in's CPUs (indexes, ascending, distinct). */
typedef struct {
    int *cpus;
    size_t ncpus;
} serve_gpu_standin;

/* The highest CPU index a stand-in may name (cpu_set_t's CPU_SETSIZE). */
#define SERVE_STANDIN_CPU_MAX 1023

typedef enum { SERVE_CLUSTER_LOCAL, SERVE_CLUSTER_KUBERNETES } serve_cluster_kind;

/* One Kubernetes node ROMA hands cores out on. */
typedef struct {
    char *name;
    double cpus;     /* cores ROMA may hand out there */
    int *gpus;       /* GPU indexes on that node */
    size_t ngpus;
} serve_cluster_node;

/* The cluster section.  With kind local every other field is unset. */
typedef struct {
    serve_cluster_kind kind;
    char *namespace_name;    /* a DNS label; default "roma" */
    char *api_server;        /* NULL: from KUBERNETES_SERVICE_HOST/_PORT */
    char *token_file;        /* default: the service account's token */
    char *ca_file;           /* default: the service account's ca.crt */
    int insecure_http;       /* an http:// api_server is allowed */
    int worker_port;         /* roma worker's port in its pod; default 8501 */
    char *models_claim;      /* PersistentVolumeClaim holding the models, or NULL */
    char *models_host_path;  /* hostPath holding the models, or NULL */
    serve_cluster_node *nodes; /* empty: every node gets node.cpus */
    size_t nnodes;
} serve_cluster_config;

/* The control period when roma.yaml names none.  On one node 0.25 s: in
 * `make experiment` (3 interleaved rounds, experiments/README.md) it cut
 * relative-pi-ff's strict violations from 6.9% at 1 s to 0.4% at about the
 * same core-seconds, since the controller answers a load step within a
 * quarter of a second instead of one or two seconds.  In a cluster 1 s: each
 * change is a PATCH through the API server and the kubelet takes about that
 * long to apply an in-place resize (KEP-1287). */
#define SERVE_PERIOD_NODE 0.25
#define SERVE_PERIOD_CLUSTER 1.0

typedef struct {
    char *listen_host;
    int listen_port;
    double node_cpus;
    int *gpus;
    size_t ngpus;
    serve_gpu_standin *standins; /* node.gpu_standins (tests and experiments) */
    size_t nstandins;
    double period;        /* seconds; without control.period SERVE_PERIOD_NODE or
                             SERVE_PERIOD_CLUSTER */
    int period_default;   /* 1: control.period was not given (roma k8s render then writes the cluster's) */
    char *controller;     /* a name roma_ctl_parse accepts */
    char *gpu_policy;     /* a name roma_policy_parse accepts */
    int queue_limit;      /* per model; past it requests get 429 */
    char *store_path;
    int64_t store_max_rows;
    char *ops_token_file;   /* NULL: <store dir>/roma.token, generated at first start */
    serve_ops_read ops_read;
    int max_connections;      /* limits.connections */
    size_t max_body_bytes;    /* limits.body_mb */
    size_t max_inflight_bytes; /* limits.inflight_mb */
    double request_timeout;   /* limits.request_timeout, seconds */
    serve_model_config *models;
    size_t nmodels;
    serve_cluster_config cluster;
} serve_config;

/* Parses and validates the YAML file at path.  On success the caller frees
 * *cfg with serve_config_free. */
roma_code serve_config_load(const char *path, serve_config *cfg, roma_err *err);

/* The same for YAML text (name is used in messages). */
roma_code serve_config_parse(const char *text, size_t len, const char *name, serve_config *cfg,
                             roma_err *err);

void serve_config_free(serve_config *cfg);

/* NULL when sla (seconds) is one roma serve accepts, else why not: a
 * message naming the range.  The one check for roma.yaml and PATCH. */
const char *serve_config_sla_problem(double sla);

/* The same for alpha: finite, within [0, 1]. */
const char *serve_config_alpha_problem(double alpha);

/* Reads a Linux CPU list ("1", "0-2,5"; YAML may give a bare integer)
 * into *out, ascending and distinct.  ROMA_INVALID_ARGUMENT with a message
 * (the offending text, the form expected) on a bad list or an index past
 * SERVE_STANDIN_CPU_MAX; *out is then untouched. */
roma_code serve_config_cpu_list(const char *text, serve_gpu_standin *out, roma_err *err);

/* The model called name, or NULL. */
serve_model_config *serve_config_model(const serve_config *cfg, const char *name);

/* The cores ROMA may hand out on the Kubernetes node called name:
 * cluster.nodes' entry for it, else node.cpus. */
double serve_config_node_cpus(const serve_config *cfg, const char *name);

/* name is a DNS-1123 label (1-63 of a-z, 0-9, '-', starting and ending
 * alphanumeric): what Kubernetes takes for namespaces and label values. */
int serve_is_dns_label(const char *name);

#endif

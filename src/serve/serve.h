/* serve.h - the state of one `roma serve` process and the modules that
 * share it.
 *
 *   serve.c       start-up, signals, graceful stop (serve_main)
 *   supervisor.c  worker processes: spawn, readiness, restart, stop
 *   dispatch.c    the request path: front end, queues, slots, forwarding
 *   control.c     the control period: controller, cgroup actuation
 *   ops.c         /metrics and the /roma/v1 operations API
 *   cluster.c     cluster mode: worker pods instead of processes, resizes
 *                 instead of cgroup writes (the Kubernetes client, src/k8s/,
 *                 runs on its own thread and talks to cluster.c only)
 *
 * Everything here is owned and touched by the one event-loop thread, so
 * nothing is locked; the only other thread is the store's writer, which
 * only sees copied records (store_add).
 */
#ifndef ROMA_SERVE_H
#define ROMA_SERVE_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/secret.h"
#include "control/controller.h"
#include "control/policy.h"
#include "cgroup.h"
#include "config.h"
#include "store.h"

#define SERVE_MAX_SLOTS 64
#define SERVE_PIPELINE 2 /* requests kept waiting at a worker beyond what it runs */
#define SERVE_DEVICES 9 /* cpu + up to 8 GPUs, for metrics */
#define SERVE_CODES 12  /* distinct HTTP statuses counted per model and device */
#define SERVE_BUCKETS 12

typedef struct serve_model serve_model;
typedef struct serve_worker serve_worker;
typedef struct serve_slot serve_slot;

/* One accepted client request, from arrival to its answer. */
typedef struct serve_request {
    struct evhttp_request *client;
    serve_model *model;
    enum evhttp_cmd_type cmd;  /* forwarded as is, with client's URI */
    struct evbuffer *body;     /* forwarded as is: never parsed here */
    uint64_t id;
    int counted;               /* an inference (predict/classify/regress) */
    double arrival, dispatch;  /* UNIX seconds */
    int attempts;              /* times sent to a worker */
    serve_slot *slot;          /* while in flight */
    struct serve_request *prev, *next; /* queue links */
} serve_request;

typedef struct {
    serve_request *head, *tail;
    size_t len;
    double sum_arrival;        /* for the policy's mean waiting time */
} serve_queue;

typedef struct {
    uint64_t count[SERVE_DEVICES][SERVE_CODES];
    int code[SERVE_CODES];     /* the status counted in each column */
    uint64_t bucket[SERVE_DEVICES][SERVE_BUCKETS + 1];
    double rt_sum[SERVE_DEVICES];
    uint64_t rt_count[SERVE_DEVICES];
} serve_counters;

struct serve_model {
    struct serve_state *owner;
    const serve_model_config *cfg;
    double sla, alpha;         /* live values (PATCH /roma/v1/models) */
    serve_queue queue;
    serve_worker *cpu_worker;
    roma_ctl_model *ctl;       /* this model's entry in serve_state.ctl */
    roma_rt_ring recent;       /* last finished response times, any device */
    double win_rt_sum;         /* CPU-served requests finished this period */
    size_t win_count;
    size_t win_arrivals;       /* inference requests queued this period */
    double rt_mean_window;     /* the last closed window's mean (0: none) */
    uint64_t completed, violations;
    double core_seconds;       /* integral of the allocation up to last_tick */
    serve_counters counters;
};

typedef enum { WORKER_STARTING, WORKER_READY, WORKER_RESTARTING, WORKER_FAILED } worker_state;

struct serve_slot {
    serve_worker *worker;
    struct evhttp_connection *conn;  /* keep-alive, reconnects by itself */
    serve_request *req;              /* in flight, or NULL */
    struct evhttp_request *wreq;
};

struct serve_worker {
    char name[64];
    int gpu;                   /* -1: the CPU worker of models[0] */
    serve_model **models;
    size_t nmodels;
    char host[64];             /* its address: "127.0.0.1", or the pod IP in cluster mode */
    int port;
    pid_t pid;
    worker_state state;
    int restarts, failures_in_a_row;
    int suspect;               /* a connection failed while ready: probing */
    double started_at, backoff;
    double cpu_exited;         /* CPU seconds of its processes that exited (wait4) */
    char cgroup[4096];         /* "" in fallback mode */
    double cores;              /* allocation read back after the last write */
    serve_slot slots[SERVE_MAX_SLOTS];
    int nslots, active_slots;  /* connections; those usable now */
    int max_threads;           /* the worker's inference threads: ceil(cores.max) */
    int max_runs;              /* inferences it may run at once: ceil(cores) */
    char host_header[80];      /* "<host>:<port>" for host_port (0: to be made again) */
    char runs_header[12];      /* X-Roma-Max-Runs for runs_header_of */
    int host_port, runs_header_of; /* what the two headers were made for */
    struct event *timer;       /* readiness probe or restart back-off */
    struct evhttp_connection *probe;
    char config_file[256];     /* GPU workers: the model config written for them */
    struct serve_state *state_owner;
};

typedef struct serve_state {
    serve_config cfg;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    cg_system cg;
    char cgroup_parent[4096];  /* <root>/roma-<port>, "" in fallback mode */
    store *store;
    roma_ctl_kind ctl_kind;
    roma_ctl_params ctl_params;
    roma_ctl_model *ctl;       /* one per model, same order as models */
    roma_policy policy;
    serve_model *models;
    size_t nmodels;
    serve_worker *workers;
    size_t nworkers;
    uint64_t next_id;
    size_t inflight;
    double last_tick;
    int draining;
    struct event *tick_ev, *drain_ev, *sweep_ev, *sig_term, *sig_int, *sig_chld;
    char self_exe[4096];
    char ops_token[ROMA_SECRET_MAX_LEN + 1];     /* Bearer token of the operations API */
    char worker_secret[ROMA_SECRET_MAX_LEN + 1]; /* ROMA_WORKER_SECRET_HEADER: per start,
                                                    the Kubernetes Secret's in cluster mode */
    struct serve_cluster *cluster; /* cluster mode's state (cluster.c); NULL with kind local */
} serve_state;

/* serve.c */
int serve_main(int argc, char **argv);
double serve_now(void);

/* supervisor.c */
int supervisor_start(serve_state *s);
void supervisor_on_child_exit(serve_state *s);
void supervisor_stop(serve_state *s);
const char *supervisor_state_name(worker_state st);
/* Takes a ready worker whose connection failed out of dispatch until a
 * probe answers (or SIGCHLD says it died). */
void supervisor_suspect(serve_state *s, serve_worker *w);
void supervisor_set_cores(serve_state *s, serve_worker *w, double cores);
/* CPU seconds (user + system) the worker's processes have used since
 * roma serve started, restarts included: what its cores were spent on. */
double supervisor_cpu_seconds(const serve_worker *w);
/* Makes w's slots (max_runs + SERVE_PIPELINE connections to w->host:w->port),
 * its timer and its probe connection. */
void supervisor_init_worker(serve_state *s, serve_worker *w, int max_runs);
/* Inferences a worker may run at once with cores. */
int supervisor_cores_to_runs(double cores);

/* dispatch.c */
void dispatch_on_request(struct evhttp_request *req, void *arg);
void dispatch_worker(serve_state *s, serve_worker *w);
void dispatch_worker_lost(serve_state *s, serve_worker *w);
/* Answers 503 to what no worker can serve any more (used when stopping). */
void dispatch_fail_unservable(serve_state *s);
/* Starts the sweep that notices clients that went away. */
void dispatch_start(serve_state *s);
size_t dispatch_queued(const serve_state *s);

/* control.c */
void control_start(serve_state *s);
void control_tick(evutil_socket_t fd, short what, void *arg);
void control_write_decisions(const serve_state *s, struct evbuffer *out);

/* ops.c: answers /metrics and /roma/v1/...; returns 0 when path is not its own. */
int ops_handle(serve_state *s, struct evhttp_request *req, const char *path);
void ops_count(serve_model *m, int device, int status, double rt);

/* cluster.c: cluster mode (cluster.kind kubernetes) */
/* Whether the API server can be found (cluster.api_server, or the
 * in-cluster environment); -1 with the fix logged when not. */
int cluster_check(const serve_config *cfg);
/* Makes a worker per model and per GPU pod of the config and starts the
 * Kubernetes client; the workers turn ready as their pods do.  -1 with a
 * message logged when the client cannot start. */
int cluster_start(serve_state *s);
void cluster_stop(serve_state *s);
/* The control period's decision and actuation, per Kubernetes node, from
 * the cores the pods really have (called by control_tick). */
void cluster_control(serve_state *s);
/* Appends w's pod, node, desired vs actual cores and why they differ to a
 * /roma/v1/workers entry (nothing with kind local). */
void cluster_write_worker(const serve_state *s, const serve_worker *w, struct evbuffer *out);

#endif

/* serve.h - the state of one `roma serve` process and the modules that
 * share it.
 *
 *   serve.c       start-up, signals, graceful stop (serve_main); the
 *                 listener and its limits (limits:) on common/http.h
 *   supervisor.c  worker processes: spawn, readiness, restart, stop
 *   dispatch.c    the request path: front end, queues, slots, forwarding
 *   control.c     the control period: controller, cgroup actuation
 *   ops.c         /metrics and the /roma/v1 operations API
 *   sampler.c     the dashboard's time series: a sample a second into a
 *                 history ring (history.h) and the store; /roma/v1/history
 *   dashboard.c   the dashboard page at / and its assets, built into roma
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
#include <event2/buffer.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/secret.h"
#include "control/controller.h"
#include "control/policy.h"
#include "cgroup.h"
#include "config.h"
#include "history.h"
#include "store.h"
#include "worker/route.h"

#define SERVE_MAX_SLOTS 64
/* Requests kept waiting at a CPU worker beyond what it runs: enough for
 * SERVE_PIPELINE_S of its runs, so that its threads do not wait for the
 * round trip through roma serve (some 50-100 us on loopback) when a
 * request takes less, between SERVE_PIPELINE and SERVE_PIPELINE_MAX
 * (supervisor_pipeline).  Everything beyond waits in roma serve's queue,
 * where the policies and the controller see it: for a model of
 * milliseconds the worker holds 2 more than it runs, for half_plus_two
 * (some 20 us) 14 more, a quarter of a millisecond of work. */
#define SERVE_PIPELINE 2
#define SERVE_PIPELINE_MAX 14
#define SERVE_PIPELINE_S 200e-6
#define SERVE_SLOT_TIMEOUT_S 600 /* a forwarded request not answered by then failed */
#define SERVE_DEVICES 9 /* cpu + up to 8 GPUs, for metrics */
#define SERVE_CODES 12  /* distinct HTTP statuses counted per model and device */
#define SERVE_BUCKETS 12

typedef struct serve_model serve_model;
typedef struct serve_worker serve_worker;
typedef struct serve_slot serve_slot;

/* One accepted client request, from arrival to its answer. */
typedef struct serve_request {
    roma_http_req *client;     /* freed by the answer: it holds what is borrowed below */
    serve_model *model;
    const char *method, *target; /* the client's, forwarded as they are */
    const char *body;          /* the client's, forwarded as is: never parsed here */
    const char *header_len;    /* v2: Inference-Header-Content-Length, forwarded as is (NULL: none) */
    size_t body_len;           /* counted in serve_state.inflight_bytes */
    uint64_t id;
    int counted;               /* an inference (predict/classify/regress) */
    double arrival, dispatch;  /* serve_now() seconds (monotonic) */
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
    double *win_rts;           /* with sla_percentile: their response times */
    size_t win_rts_cap;        /* entries allocated (win_count of them used) */
    size_t win_arrivals;       /* inference requests queued this period */
    double rt_mean_window;     /* the last closed window's mean (0: none) */
    uint64_t completed, violations;
    double core_seconds;       /* integral of the allocation up to last_tick */
    serve_counters counters;
    history_rt_acc hist_rt;    /* 200s' response times since the last sample (sampler.c) */
    /* cost-aware dispatch: service times measured as requests finish */
    double gpu_service;        /* seconds a request takes on a GPU: `profiled`, then
                                  measured (0: neither yet) */
    size_t gpu_samples;        /* GPU requests measured */
    double cpu_cost;           /* one-core seconds a request costs on its CPU worker,
                                  measured (0: not yet) */
    double cpu_mark;           /* the CPU worker's CPU seconds where the open
                                  measurement began */
    size_t cpu_mark_count;     /* CPU requests finished since then */
};

typedef enum { WORKER_STARTING, WORKER_READY, WORKER_RESTARTING, WORKER_FAILED } worker_state;

struct serve_slot {
    serve_worker *worker;
    roma_http_client *conn;          /* keep-alive, reconnects by itself */
    serve_request *req;              /* in flight, or NULL */
};

struct serve_worker {
    char name[64];
    int gpu;                   /* -1: the CPU worker of models[0] */
    serve_model **models;
    size_t nmodels;
    char host[64];             /* its address: "127.0.0.1", or the pod IP in cluster mode */
    int port;
    int listen_fd;             /* its listening socket, kept here (0: none, cluster mode) */
    pid_t pid;
    worker_state state;
    int restarts, failures_in_a_row;
    unsigned long long resent; /* requests queued again when their connection to it failed */
    int suspect;               /* a connection failed while ready: probing */
    double started_at, backoff;
    double cpu_exited;         /* CPU seconds of its processes that exited (wait4) */
    char cgroup[4096];         /* "" in fallback mode */
    double cores;              /* allocation read back after the last write */
    char cores_error[1024];     /* why the last cgroup write failed ("": it worked) */
    serve_slot slots[SERVE_MAX_SLOTS];
    int nslots, active_slots;  /* connections; those usable now */
    int max_threads;           /* the worker's inference threads: ceil(cores.max) */
    int max_runs;              /* inferences it may run at once: ceil(cores) */
    char host_header[80];      /* "<host>:<port>" for host_port (0: to be made again) */
    char runs_header[12];      /* X-Roma-Max-Runs for runs_header_of */
    int host_port, runs_header_of; /* what the two headers were made for */
    struct event *timer;       /* readiness probe or restart back-off */
    roma_http_client *probe;
    char config_file[4200];    /* GPU workers: the model config written for them */
    double last_finish;        /* GPU workers: when the last answer came (serve_now) */
    unsigned char *warmed;     /* per models[k]: answered once since the worker turned
                                  ready (TensorFlow's first run of a model is not its
                                  service time); NULL: every answer is measured */
    const serve_gpu_standin *standin; /* a GPU stand-in (node.gpu_standins): its CPUs */
    cpu_set_t standin_cpus;    /* the same as a set, for sched_setaffinity */
    struct serve_state *state_owner;
    int busy_slots;            /* slots with a request in flight (dispatch.c) */
    double busy_since, busy_seconds; /* time with busy_slots > 0: the GPU's busy share */
};

typedef struct serve_state {
    serve_config cfg;
    struct event_base *base;
    roma_http_server *http;
    int listen_fd;
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
    size_t inflight_bytes;     /* bodies of accepted requests held (limits.inflight_mb) */
    double last_trim;          /* serve_release_memory's last malloc_trim (serve_now) */
    double last_tick;
    int draining;
    struct event *tick_ev, *drain_ev, *sig_term, *sig_int, *sig_chld;
    char self_exe[4096];
    char private_dir[4096];    /* mode 0700, for the GPU workers' model configs ("": none) */
    char ops_token[ROMA_SECRET_MAX_LEN + 1];     /* Bearer token of the operations API */
    char worker_secret[ROMA_SECRET_MAX_LEN + 1]; /* ROMA_WORKER_SECRET_HEADER: per start,
                                                    the Kubernetes Secret's in cluster mode */
    struct serve_cluster *cluster; /* cluster mode's state (cluster.c); NULL with kind local */
    struct serve_sampler *sampler; /* the dashboard's time series (sampler.c) */
    cpu_set_t cpu_pool;        /* the CPUs CPU workers are pinned within: this process's
                                  allowed set less the GPU stand-ins' (supervisor_check_cpus) */
} serve_state;

/* serve.c */
int serve_main(int argc, char **argv);
/* Seconds on CLOCK_MONOTONIC: every time and duration roma serve keeps
 * (arrival, dispatch, timeouts, the control period). */
double serve_now(void);
/* A serve_now() value as UNIX seconds, for what is written out (the
 * store's rows): one offset, measured at start. */
double serve_unix_time(double now);
/* Whether to give the heap malloc holds unused back to the system now:
 * malloc holds free_bytes unused, at least SERVE_TRIM_MIN_FREE and more
 * than twice held_bytes (the request bodies held: a burst still queued
 * will reuse its memory at once), and the last trim (last_trim, serve_now
 * seconds; 0: none yet) is SERVE_TRIM_EVERY_S old.  malloc's free count
 * keeps the pages a trim handed back, so after a burst this stays true
 * and trims every SERVE_TRIM_EVERY_S: each hands back what was touched
 * again since the last, and costs little when that is nothing.  Pure. */
#define SERVE_TRIM_MIN_FREE ((size_t)256 << 10)
#define SERVE_TRIM_EVERY_S 5.0
int serve_trim_due(double now, double last_trim, size_t free_bytes, size_t held_bytes);
/* Once per control period (event loop thread): glibc keeps the heap a
 * burst of large bodies grew, so RSS would stay at the burst's peak for
 * ever; this calls malloc_trim when serve_trim_due says so. */
void serve_release_memory(serve_state *s);

/* supervisor.c */
/* Checks that every GPU stand-in's CPUs are among this process's allowed
 * CPUs and that some are left for the CPU workers, and sets s->cpu_pool.
 * -1 with the fix logged otherwise (roma serve exits 2). */
int supervisor_check_cpus(serve_state *s);
int supervisor_start(serve_state *s);
void supervisor_on_child_exit(serve_state *s);
void supervisor_stop(serve_state *s);
const char *supervisor_state_name(worker_state st);
/* Takes a ready worker whose connection failed out of dispatch until a
 * probe answers (or SIGCHLD says it died). */
void supervisor_suspect(serve_state *s, serve_worker *w);
/* Sets w's allocation: its cgroup's quota (read back), its CPUs (pinned to
 * what is in force) and its slots.  -1 when the cgroup write failed: the
 * old quota stays, and so w->cores, the pinning and the controller's cores
 * for its model (CPU workers); w->cores_error says why (logged once per
 * episode, shown in /roma/v1/workers).  0 otherwise. */
int supervisor_set_cores(serve_state *s, serve_worker *w, double cores);
/* CPU seconds (user + system) the worker's processes have used since
 * roma serve started, restarts included: what its cores were spent on. */
double supervisor_cpu_seconds(const serve_worker *w);
/* Makes w's slots (max_runs + SERVE_PIPELINE_MAX connections to w->host:w->port, opened at first use),
 * its timer and its probe connection. */
void supervisor_init_worker(serve_state *s, serve_worker *w, int max_runs);
/* w moved to w->host:w->port (cluster mode: a new pod): its probe
 * connection follows, and a suspect w is probed again there (a probe in
 * flight to the old address is dropped unanswered, which would end the
 * probing; a probe of the old address would never answer). */
void supervisor_probe_moved(serve_worker *w);
/* Inferences a worker may run at once with cores. */
int supervisor_cores_to_runs(double cores);
/* Requests kept at a worker beyond its max_runs, for a request cost of
 * cpu_cost one-core seconds (0: not measured yet): see SERVE_PIPELINE.  Pure. */
int supervisor_pipeline(int max_runs, double cpu_cost);
/* w's usable slots after its runs or its model's measured cost changed:
 * max_runs + supervisor_pipeline, within its connections; offers work to
 * the new ones. */
void supervisor_update_slots(serve_state *s, serve_worker *w);
/* Appends the TF Serving text-format model config serving models[0..n)
 * (what a GPU worker reads with --model_config_file), strings escaped;
 * ROMA_INVALID_ARGUMENT when a name or path cannot be written there. */
roma_code supervisor_model_config_text(const serve_model_config *models, size_t n,
                                       roma_buf *out, roma_err *err);

/* dispatch.c */
void dispatch_on_request(roma_http_req *req, void *arg);
void dispatch_worker(serve_state *s, serve_worker *w);
void dispatch_worker_lost(serve_state *s, serve_worker *w);
/* Answers 503 to what no worker can serve any more (used when stopping). */
void dispatch_fail_unservable(serve_state *s);
/* What roma serve does with an Open Inference Protocol (v2) request. */
typedef enum {
    DISPATCH_V2_FORWARD,         /* into the model's queue, to one of its workers */
    DISPATCH_V2_OK,              /* 200, empty body: live, or ready */
    DISPATCH_V2_SERVER_METADATA, /* 200, roma serve's own metadata */
    DISPATCH_V2_UNKNOWN_MODEL,   /* 404 */
    DISPATCH_V2_NOT_READY,       /* 400: the protocol's "false" for a readiness check */
} dispatch_v2_action;
/* Pure: the action for route r; model_known / model_ready: r's model is in
 * the config / has a ready worker now; all_ready: every model has one and
 * roma serve is not stopping.  Metadata and inference go to a worker (only
 * workers load models: they know signatures and versions); readiness is
 * answered here from the workers' states, unless a version is named,
 * which only a worker knows. */
dispatch_v2_action dispatch_v2_action_of(const v2_route *r, int model_known, int model_ready,
                                         int all_ready);
size_t dispatch_queued(const serve_state *s);
/* m's requests sent to a worker and not answered yet (any worker). */
size_t dispatch_in_flight(const serve_state *s, const serve_model *m);
/* Seconds w has had at least one request in flight since it was made,
 * up to now (serve_now()): a GPU's busy time. */
double dispatch_busy_seconds(const serve_worker *w, double now);
/* The model of the config named name, or NULL. */
serve_model *dispatch_find_model(serve_state *s, const char *name);
/* Cost-aware dispatch: the GPUs' state or the CPU workers' cores changed,
 * so a CPU worker that left its queue to the GPUs may now take it (or
 * must: no GPU is ready).  Offers every model's queue to its CPU worker;
 * nothing with other policies. */
void dispatch_reconsider(serve_state *s);

/* control.c */
void control_start(serve_state *s);
void control_tick(evutil_socket_t fd, short what, void *arg);
void control_write_decisions(const serve_state *s, struct evbuffer *out);

/* ops.c: answers /metrics and /roma/v1/...; returns 0 when path is not its own. */
int ops_handle(serve_state *s, roma_http_req *req, const char *path);
void ops_count(serve_model *m, int device, int status, double rt);

/* sampler.c: every function on the loop thread. */
/* Makes the history ring (HISTORY_HORIZON samples), fills it with the
 * store's samples of the last horizon (a restart shows the past; a failed
 * read is logged and starts empty) and starts the 1 s sample timer. */
void sampler_start(serve_state *s);
void sampler_stop(serve_state *s);
/* GET /roma/v1/history?since=T&model=M: the samples after T (UNIX
 * seconds; default: all held) of model M (default: every model and GPU)
 * as history_write_json writes them.  Returns the HTTP status; on an error
 * (a bad since: 400, an unknown model: 404) *out holds the JSON error. */
int sampler_write_history(serve_state *s, roma_http_req *req, roma_buf *out);

/* dashboard.c */
/* Answers GET/HEAD of the dashboard (/ and /dashboard/...): the page and
 * its assets, built into the binary.  Returns 0 when path is not its own. */
int dashboard_handle(roma_http_req *req, const char *path);

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

/* serve.c - `roma serve -c roma.yaml`: start-up, signals, graceful stop.
 *
 * Start-up order: config (exit 2 on any mistake; in cluster mode also
 * without a valid ROMA_WORKER_SECRET), cgroups (detected; when
 * not writable ROMA says so once and falls back to CPU affinity), the
 * SQLite store, the operations token (exit 2 when it cannot be read or
 * made), the listening socket (exit 1 when taken), then the workers and
 * the control period.  SIGTERM/SIGINT stop accepting, let the
 * dispatcher answer everything queued or in flight (at most 60 s), stop
 * the workers, remove the cgroups and exit 0.
 */
#include "serve.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/tcp.h"

#define DRAIN_LIMIT_S 60

/* Monotonic: a step of the wall clock (NTP, an operator) must not bend
 * response times, violation counts or the controller's input. */
double serve_now(void) {
    return roma_clock_seconds(CLOCK_MONOTONIC);
}

/* UNIX time = monotonic time + this, measured once (the first call, from
 * serve_main before anything is timed), so times written to the store
 * keep their spacing across a clock step. */
double serve_unix_time(double now) {
    static double offset;
    static int measured;
    if (!measured) {
        offset = roma_clock_seconds(CLOCK_REALTIME) - roma_clock_seconds(CLOCK_MONOTONIC);
        measured = 1;
    }
    return now + offset;
}

int serve_trim_due(double now, double last_trim, size_t free_bytes, size_t held_bytes) {
    return free_bytes >= SERVE_TRIM_MIN_FREE && free_bytes / 2 > held_bytes &&
           (last_trim <= 0 || now - last_trim >= SERVE_TRIM_EVERY_S);
}

/* The soak (bench/soak.sh) found it: after a 10x burst of 1 MB bodies
 * roma serve's RSS stayed at 350 MB with nothing queued, because freed
 * chunks below glibc's mmap threshold (libevent's buffers are) stay in
 * the heap.  mallinfo2 walks malloc's bins (microseconds), so it can run
 * every period. */
void serve_release_memory(serve_state *s) {
    double now = serve_now();
    struct mallinfo2 mi = mallinfo2();
    if (!serve_trim_due(now, s->last_trim, mi.fordblks, s->inflight_bytes)) return;
    malloc_trim(0);
    s->last_trim = now;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: roma serve -c roma.yaml\n"
            "Serves the models of roma.yaml over TensorFlow Serving's REST API (/v1) and the Open\n"
            "Inference Protocol (/v2, binary tensors too), one worker per model on CPU (own\n"
            "cgroup) and one per GPU, resizing CPU cores every control period.\n"
            "With cluster: {kind: kubernetes} the workers are the pods `roma k8s render` made,\n"
            "found through the Kubernetes API and resized in place (pods/resize).\n"
            "Operations: GET /metrics, /roma/v1/models, /roma/v1/workers, /roma/v1/controller,\n"
            "/roma/v1/history?since=T&model=M; the dashboard at http://LISTEN/;\n"
            "PATCH /roma/v1/models/NAME {\"sla\": s, \"alpha\": a} with 'Authorization: Bearer\n"
            "TOKEN' (the token file is logged at start).  See README.md for the config.\n");
}

static void setup_models(serve_state *s) {
    s->nmodels = s->cfg.nmodels;
    s->models = calloc(s->nmodels, sizeof(serve_model));
    s->ctl = calloc(s->nmodels, sizeof(roma_ctl_model));
    if (!s->models || !s->ctl) abort();
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_model *m = &s->models[i];
        const serve_model_config *c = &s->cfg.models[i];
        m->owner = s;
        m->cfg = c;
        m->sla = c->sla;
        m->alpha = c->alpha;
        m->ctl = &s->ctl[i];
        m->gpu_service = c->profiled; /* until measured */
        roma_rt_ring_init(&m->recent);
        s->ctl[i] = (roma_ctl_model){.sla = c->sla, .min = c->cores_min, .max = c->cores_max,
                                     .initial = c->cores_initial};
        roma_ctl_init(&s->ctl[i]);
    }
    roma_ctl_parse(s->cfg.controller, &s->ctl_kind);
    s->ctl_params = roma_ctl_params_for_period(s->cfg.period);
    roma_policy_kind pk;
    roma_policy_parse(s->cfg.gpu_policy, &pk);
    roma_policy_init(&s->policy, pk, 42);
}

/* The operations token: ops.token_file, or <store dir>/roma.token, made
 * at first start and reused.  Its path is logged, never the token. */
static int load_ops_token(serve_state *s) {
    char path[4096];
    roma_err err;
    int created = 0, loose = 0;
    roma_code rc;
    if (s->cfg.ops_token_file) {
        snprintf(path, sizeof(path), "%s", s->cfg.ops_token_file);
        rc = roma_secret_read_file(path, s->ops_token, sizeof(s->ops_token), &loose, &err);
    } else {
        const char *store_path = s->cfg.store_path, *slash = strrchr(store_path, '/');
        snprintf(path, sizeof(path), "%.*sroma.token", slash ? (int)(slash - store_path + 1) : 0,
                 store_path);
        rc = roma_secret_load_or_create(path, s->ops_token, sizeof(s->ops_token), &created,
                                        &loose, &err);
    }
    if (rc != ROMA_OK) {
        roma_error("%s%s", err.msg, s->cfg.ops_token_file ? " (ops.token_file in the config; "
                   "without it roma serve makes a token next to the store)" : "");
        return -1;
    }
    if (loose) roma_warn("token file %s can be read by other users: chmod 600 %s", path, path);
    roma_info("operations token %s %s: operations that change something need 'Authorization: "
              "Bearer <the token>'%s", created ? "generated in" : "read from", path,
              s->cfg.ops_read == SERVE_OPS_READ_TOKEN ? ", and so do reads (ops.read: token)" : "");
    return 0;
}

/* Cluster mode: the secret every worker pod has from the Kubernetes Secret
 * (`roma k8s render` gives this Deployment the same env).  Required, not
 * drawn: a drawn one would be refused by every pod, and sending none would
 * leave the pods open to anything in the cluster; exit 2 says how to fix. */
static int cluster_worker_secret(serve_state *s) {
    roma_err err;
    const char *v = getenv(ROMA_WORKER_SECRET_ENV);
    if (!v || !*v) {
        roma_error("cluster mode needs " ROMA_WORKER_SECRET_ENV " in the environment, the "
                   "secret the worker pods require (the manifests of `roma k8s render` give "
                   "it to roma serve and the workers from Secret roma-worker-secret; create "
                   "that Secret as README.md \"Kubernetes\" says)");
        return 2;
    }
    if (roma_secret_check(ROMA_WORKER_SECRET_ENV, v, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        return 2;
    }
    snprintf(s->worker_secret, sizeof(s->worker_secret), "%s", v);
    unsetenv(ROMA_WORKER_SECRET_ENV); /* nothing roma serve runs needs it */
    return 0;
}

/* The secret the workers of this start require (see common/secret.h): in
 * the environment every worker inherits, set before any thread runs.
 * 0, or the exit code. */
static int make_worker_secret(serve_state *s) {
    roma_err err;
    if (s->cfg.cluster.kind == SERVE_CLUSTER_KUBERNETES) return cluster_worker_secret(s);
    if (roma_secret_random(s->worker_secret, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        return 1;
    }
    setenv(ROMA_WORKER_SECRET_ENV, s->worker_secret, 1);
    unsetenv(ROMA_WORKER_OPEN_STATUS_ENV); /* for pods only: local workers open nothing */
    return 0;
}

static void setup_cgroups(serve_state *s) {
    roma_err err;
    char group[64];
    s->cgroup_parent[0] = '\0';
    if (cg_detect(&s->cg, &err) != ROMA_OK || s->cg.mode == CG_NONE) {
        roma_warn("cgroups are not writable here (%s): serving anyway; cores are approximated "
                  "with CPU affinity alone, in whole CPUs (see /roma/v1/workers)",
                  s->cg.mode == CG_NONE ? s->cg.reason : err.msg);
        s->cg.mode = CG_NONE;
        return;
    }
    snprintf(group, sizeof(group), "roma-%d", s->cfg.listen_port);
    if (cg_create(&s->cg, group, s->cgroup_parent, sizeof(s->cgroup_parent), &err) != ROMA_OK) {
        roma_warn("cannot create cgroup %s (%s): falling back to CPU affinity", group, err.msg);
        snprintf(s->cg.reason, sizeof(s->cg.reason), "%s", err.msg);
        s->cg.mode = CG_NONE;
        s->cgroup_parent[0] = '\0';
        return;
    }
    roma_info("cgroups: %s at %s", cg_mode_name(s->cg.mode), s->cgroup_parent);
}

/* Worker processes in cgroups on this machine, or (cluster mode) worker
 * pods whose CPU the kubelet sets. */
static int start_workers(serve_state *s) {
    if (s->cfg.cluster.kind != SERVE_CLUSTER_KUBERNETES) {
        setup_cgroups(s);
        return supervisor_start(s);
    }
    s->cg.mode = CG_NONE;
    snprintf(s->cg.reason, sizeof(s->cg.reason), "cluster mode: the kubelet sets each worker pod's CPU");
    return cluster_start(s);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    static int checks;
    (void)fd, (void)what;
    if (s->inflight == 0 || ++checks > DRAIN_LIMIT_S * 20) event_base_loopexit(s->base, NULL);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg) {
    serve_state *s = arg;
    struct timeval tv = {0, 50000};
    (void)what;
    if (s->draining) return;
    roma_info("signal %d: no longer accepting; answering %zu accepted requests", (int)sig, s->inflight);
    s->draining = 1;
    roma_http_server_stop_accepting(s->http);
    close(s->listen_fd); /* new clients are refused now, not left in the backlog */
    s->listen_fd = -1;
    s->drain_ev = event_new(s->base, -1, EV_PERSIST, on_drain_check, s);
    event_add(s->drain_ev, &tv);
    dispatch_fail_unservable(s); /* workers are not restarted from now on */
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg) {
    (void)sig, (void)what;
    supervisor_on_child_exit(arg);
}

/* Raises the open-files limit to its hard limit: each client connection
 * is a descriptor.  Warns when limits.connections cannot fit in it. */
static void raise_fd_limit(const serve_state *s) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)s->cfg.max_connections + 256)
        roma_warn("the open-files limit (%llu) leaves less than limits.connections (%d) for client "
                  "connections: accepting pauses when descriptors run out; raise ulimit -n",
                  (unsigned long long)rl.rlim_cur, s->cfg.max_connections);
}

/* Client connections are bounded by the HTTP layer: limits.connections
 * open (the kernel's backlog holds the rest), limits.request_timeout to
 * deliver each request, limits.body_mb a body; accepting pauses instead
 * of spinning when descriptors run out. */
static int open_listener(serve_state *s) {
    raise_fd_limit(s);
    s->listen_fd = roma_http_listen(s->cfg.listen_host, s->cfg.listen_port);
    if (s->listen_fd < 0) {
        roma_error("cannot listen on %s:%d (%s): change 'listen' in the config",
                   s->cfg.listen_host, s->cfg.listen_port, strerror(errno));
        return -1;
    }
    if (roma_tcp_nodelay(s->listen_fd) != 0) /* the accepted sockets inherit it */
        roma_warn("cannot set TCP_NODELAY on the listening socket: answers may be delayed");
    roma_http_limits limits = {.max_body = s->cfg.max_body_bytes,
                               .max_header_bytes = 64 * 1024,
                               .timeout_ms = (int)(s->cfg.request_timeout * 1000 + 0.5),
                               .max_connections = s->cfg.max_connections,
                               .connections_key = "limits.connections",
                               .body_key = "limits.body_mb"};
    s->http = roma_http_server_new(s->base, s->listen_fd, &limits, dispatch_on_request, s);
    if (!s->http) abort();
    roma_info("serving TensorFlow Serving REST on %s:%d (%zu models, controller %s, gpu policy %s)",
              s->cfg.listen_host, s->cfg.listen_port, s->nmodels, s->cfg.controller, s->cfg.gpu_policy);
    return 0;
}

/* The changelist makes epoll see only the net change of a loop iteration
 * (a write event added and removed within one turn costs no epoll_ctl).
 * It breaks only for dup()ed descriptors, which roma serve never
 * registers. */
static struct event_base *new_event_base(void) {
    struct event_config *c = event_config_new();
    struct event_base *base;
    if (!c) abort();
    event_config_set_flag(c, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(c);
    event_config_free(c);
    if (!base) abort();
    return base;
}

static void add_signals(serve_state *s) {
    signal(SIGPIPE, SIG_IGN);
    s->sig_term = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_stop_signal, s);
    s->sig_chld = evsignal_new(s->base, SIGCHLD, on_sigchld, s);
    event_add(s->sig_term, NULL);
    event_add(s->sig_int, NULL);
    event_add(s->sig_chld, NULL);
}

static void teardown(serve_state *s) {
    cluster_stop(s);
    supervisor_stop(s);
    if (s->store) store_close(s->store);
    for (size_t i = 0; i < s->nworkers; i++) {
        serve_worker *w = &s->workers[i];
        for (int k = 0; k < w->nslots; k++) roma_http_client_free(w->slots[k].conn);
        if (w->probe) roma_http_client_free(w->probe);
        if (w->timer) event_free(w->timer);
        free(w->models);
        free(w->warmed);
    }
    roma_http_server_free(s->http);
    if (s->listen_fd >= 0) close(s->listen_fd);
    sampler_stop(s);
    if (s->tick_ev) event_free(s->tick_ev);
    if (s->drain_ev) event_free(s->drain_ev);
    if (s->sig_term) event_free(s->sig_term), event_free(s->sig_int), event_free(s->sig_chld);
    event_base_free(s->base);
    free(s->workers);
    for (size_t i = 0; i < s->nmodels; i++) free(s->models[i].win_rts);
    free(s->models);
    free(s->ctl);
    serve_config_free(&s->cfg);
}

static int parse_args(int argc, char **argv, const char **config) {
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) *config = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0) *config = argv[i] + 9;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return usage(stdout), 1;
        else return fprintf(stderr, "roma serve: unknown argument '%s'\n", argv[i]), usage(stderr), 2;
    }
    if (!*config) return fprintf(stderr, "roma serve: no config: pass -c roma.yaml\n"), 2;
    return 0;
}

int serve_main(int argc, char **argv) {
    static serve_state state;
    serve_state *s = &state;
    const char *config = NULL;
    roma_err err;
    s->listen_fd = -1;
    int rc = parse_args(argc, argv, &config);
    if (rc) return rc == 1 ? 0 : rc;
    roma_log_init("roma serve", ROMA_LOG_INFO);
    serve_unix_time(0); /* the clocks' offset, once */
    if (serve_config_load(config, &s->cfg, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        return 2;
    }
    if (s->cfg.cluster.kind == SERVE_CLUSTER_KUBERNETES && cluster_check(&s->cfg) != 0) {
        serve_config_free(&s->cfg);
        return 2;
    }
    if (supervisor_check_cpus(s) != 0) { /* the GPU stand-ins' CPUs */
        serve_config_free(&s->cfg);
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", s->self_exe, sizeof(s->self_exe) - 1);
    s->self_exe[n > 0 ? n : 0] = '\0';
    setenv("TF_CPP_MIN_LOG_LEVEL", "2", 0); /* workers: TensorFlow's warnings and up */
    if ((rc = make_worker_secret(s)) != 0) {
        serve_config_free(&s->cfg);
        return rc;
    }
    setup_models(s);
    if (store_open(s->cfg.store_path, s->cfg.store_max_rows, &s->store, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        serve_config_free(&s->cfg);
        return 2;
    }
    if (load_ops_token(s) != 0) {
        store_close(s->store);
        serve_config_free(&s->cfg);
        return 2;
    }
    s->base = new_event_base();
    add_signals(s);
    if (open_listener(s) != 0) {
        teardown(s);
        return 1;
    }
    if (start_workers(s) != 0) {
        teardown(s);
        return 1;
    }
    control_start(s);
    sampler_start(s);
    event_base_dispatch(s->base);
    teardown(s);
    roma_info("stopped");
    return 0;
}

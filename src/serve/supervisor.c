/* supervisor.c - the worker processes of `roma serve`.
 *
 * One `roma worker` per model on CPU, in its own cgroup, and one per GPU
 * serving every model.  A worker is spawned with PR_SET_PDEATHSIG so it
 * dies with this process however that ends (SIGTERM, SIGINT, a crash), is
 * probed until it answers (STARTING -> READY), and when it exits it is
 * restarted after a back-off that doubles from 0.25 s up to 8 s
 * (RESTARTING); after 8 starts in a row that never became ready it is
 * FAILED and its requests are answered 503, and it is started again every
 * FAILED_RETRY_S (a model directory missing for a moment comes back without
 * restarting roma serve).  A ready worker is still probed every HEALTH_S:
 * one that does not answer within PROBE_TIMEOUT_S (hung, SIGSTOPped) is
 * taken out of dispatch like a worker whose connection failed
 * (supervisor_suspect) until a probe answers again.  The probe waits behind
 * the requests the worker holds (at most its slots), hence the long
 * timeout.  Threads follow cores (DESIGN
 * section 2): a CPU worker has ceil(cores.max) intra-op and inter-op
 * threads (one inter-op thread would serialise concurrent runs: 49 vs 70
 * req/s for resnet at 2 cores), idle threads that sleep instead of spinning
 * (a spinning thread burns the quota), is pinned to ceil(cores) CPUs with
 * the quota giving the fraction, and runs at most ceil(cores) requests at once
 * (X-Roma-Max-Runs): its threads never spread over more CPUs than the
 * allocation can feed, so the quota is not burnt in a burst and then
 * throttled (bench/threads.sh measures it).
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "../common/buf.h"
#include "../common/file.h"
#include "../common/log.h"

#define MAX_FAILED_STARTS 8
#define HEALTH_S 1.0         /* between probes of a ready worker */
#define PROBE_TIMEOUT_S 10   /* a probe not answered by then failed */
#define FAILED_RETRY_S 30.0  /* between starts of a failed worker */

const char *supervisor_state_name(worker_state st) {
    static const char *names[] = {"starting", "ready", "restarting", "failed"};
    return names[st];
}

/* A listening socket on a loopback port the kernel picks, kept by roma
 * serve for the worker's whole life (restarts included) and inherited by
 * each of its processes (--rest_api_fd): no other process can take the
 * port between its choice and the worker's start.  -1 on failure. */
static int listen_socket(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A worker's listening socket, or -1 with the reason logged. */
static int make_listener(serve_worker *w) {
    w->listen_fd = listen_socket(&w->port);
    if (w->listen_fd < 0)
        roma_error("worker %s: cannot make a listening socket on 127.0.0.1: %s", w->name,
                   strerror(errno));
    return w->listen_fd < 0 ? -1 : 0;
}

/* Inferences a worker may run at once: what its cores can feed. */
int supervisor_cores_to_runs(double cores) {
    int n = (int)ceil(cores - 1e-9);
    return n < 1 ? 1 : n > SERVE_MAX_SLOTS - SERVE_PIPELINE_MAX ? SERVE_MAX_SLOTS - SERVE_PIPELINE_MAX : n;
}

int supervisor_pipeline(int max_runs, double cpu_cost) {
    if (!(cpu_cost > 0)) return SERVE_PIPELINE;
    double want = ceil(max_runs * SERVE_PIPELINE_S / cpu_cost - 1e-9);
    return want < SERVE_PIPELINE ? SERVE_PIPELINE : want > SERVE_PIPELINE_MAX ? SERVE_PIPELINE_MAX
                                                                                : (int)want;
}

void supervisor_update_slots(serve_state *s, serve_worker *w) {
    /* a GPU worker serves several models: it keeps the fixed depth */
    double cost = w->gpu < 0 && w->nmodels ? w->models[0]->cpu_cost : 0;
    int before = w->active_slots, want = w->max_runs + supervisor_pipeline(w->max_runs, cost);
    w->active_slots = want < w->nslots ? want : w->nslots;
    if (w->active_slots > before && w->state == WORKER_READY) dispatch_worker(s, w);
}

/* The command line of a worker: tensorflow_model_server's flags. */
typedef struct {
    char text[12][4200];
    char *argv[13];
    int n;
} worker_args;

static void add_arg(worker_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_arg(worker_args *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->text[a->n], sizeof(a->text[a->n]), fmt, ap);
    va_end(ap);
    a->argv[a->n] = a->text[a->n];
    a->argv[++a->n] = NULL;
}

static void build_args(const serve_worker *w, worker_args *a) {
    a->n = 0;
    add_arg(a, "roma-worker");
    add_arg(a, "--rest_api_host=127.0.0.1");
    add_arg(a, "--rest_api_port=%d", w->port);
    add_arg(a, "--rest_api_fd=%d", w->listen_fd);
    add_arg(a, "--rest_api_num_threads=%d", w->max_threads);
    if (w->standin) { /* a GPU's one request at a time, on all of its own CPUs */
        add_arg(a, "--device=cpu");
        add_arg(a, "--tensorflow_intra_op_parallelism=%zu", w->standin->ncpus);
        add_arg(a, "--tensorflow_inter_op_parallelism=%zu", w->standin->ncpus);
        add_arg(a, "--tensorflow_thread_spinning=0");
        add_arg(a, "--model_config_file=%s", w->config_file);
        return;
    }
    if (w->gpu >= 0) {
        add_arg(a, "--device=gpu:%d", w->gpu);
        add_arg(a, "--model_config_file=%s", w->config_file);
        return;
    }
    add_arg(a, "--device=cpu");
    add_arg(a, "--tensorflow_intra_op_parallelism=%d", w->max_threads);
    add_arg(a, "--tensorflow_inter_op_parallelism=%d", w->max_threads);
    add_arg(a, "--tensorflow_thread_spinning=0");
    add_arg(a, "--model_name=%s", w->models[0]->cfg->name);
    add_arg(a, "--model_base_path=%s", w->models[0]->cfg->base_path);
}

static void on_probe(roma_http_client *cl, int status, void *arg);

/* The CPUs the CPU workers are pinned within: all this process may use but
 * the GPU stand-ins' (NULL, this process's own set, before
 * supervisor_check_cpus has set them). */
static const cpu_set_t *cpu_pool(const serve_state *s) {
    return CPU_COUNT(&s->cpu_pool) ? &s->cpu_pool : NULL;
}

static void probe_later(serve_worker *w, double seconds);

/* One past the highest descriptor this process may have open. */
static int open_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 20)
        return 1 << 20;
    return (int)rl.rlim_cur;
}

/* In a forked child: every descriptor from 3 on closes at exec, but keep.
 * Not only ours: a library may open descriptors without O_CLOEXEC, and a
 * worker that inherited a connection of roma serve's once held it open for
 * its whole life, so roma serve's epoll kept reporting the closed connection (a busy
 * loop) and the peer never saw it close.  Async-signal-safe. */
static void keep_only_across_exec(int keep, int maxfd) {
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) /* before Linux 5.11 */
        for (int fd = 3; fd < maxfd; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(keep, F_SETFD, 0);
}

static void spawn(serve_state *s, serve_worker *w) {
    static worker_args args; /* large; the loop thread is the only caller */
    static char exe[4096];   /* roma-worker, the TensorFlow program next to roma */
    build_args(w, &args);
    if (roma_sibling_exe("roma-worker", exe, sizeof(exe)) != 0 || access(exe, X_OK) != 0)
        roma_error("worker %s: cannot run %s: %s (build it with make; it is installed next to "
                   "roma)", w->name, exe, strerror(errno));
    pid_t parent = getpid();
    int maxfd = open_fd_limit();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        keep_only_across_exec(w->listen_fd, maxfd); /* this worker's socket */
        /* A stand-in's threads all inherit its CPUs, from the first one on. */
        if (w->standin && sched_setaffinity(0, sizeof(w->standin_cpus), &w->standin_cpus) != 0)
            _exit(126);
        execv(exe, args.argv);
        _exit(127);
    }
    if (pid < 0) {
        roma_error("worker %s: fork failed: %s", w->name, strerror(errno));
        return;
    }
    w->pid = pid;
    w->state = WORKER_STARTING;
    w->started_at = serve_now();
    roma_err err;
    if (w->cgroup[0] && cg_add_pid(&s->cg, w->cgroup, pid, &err) != ROMA_OK)
        roma_warn("worker %s: %s", w->name, err.msg);
    if (w->gpu < 0 && cg_pin_cpus_in(pid, w->cores, (int)(w - s->workers), cpu_pool(s), &err) != ROMA_OK)
        roma_warn("worker %s: %s", w->name, err.msg);
    roma_info("worker %s: started, pid %d, port %d", w->name, (int)pid, w->port);
    probe_later(w, 0.2);
}

static void probe_send(serve_worker *w) {
    char uri[320], headers[ROMA_SECRET_MAX_LEN + 64];
    snprintf(headers, sizeof(headers), ROMA_WORKER_SECRET_HEADER ": %s\r\n",
             w->state_owner->worker_secret);
    snprintf(uri, sizeof(uri), "/v1/models/%s", w->models[0]->cfg->name);
    if (roma_http_client_request(w->probe, "GET", uri, headers, NULL, 0, on_probe, w) != 0)
        probe_later(w, 0.2);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    serve_worker *w = arg;
    serve_state *s = w->state_owner;
    (void)fd, (void)what;
    if (s->draining && w->state != WORKER_STARTING) return;
    if (s->cluster && w->state != WORKER_STARTING && w->state != WORKER_READY)
        return; /* pods are cluster.c's to bring back, not processes to spawn */
    if (w->state == WORKER_FAILED) {
        roma_info("worker %s: starting it again (failed %.0f s ago)", w->name, FAILED_RETRY_S);
        spawn(s, w);
    } else if (w->state == WORKER_RESTARTING) {
        spawn(s, w);
    } else {
        probe_send(w); /* STARTING: readiness; READY: health */
    }
}

static void probe_later(serve_worker *w, double seconds) {
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - floor(seconds)) * 1e6)};
    evtimer_add(w->timer, &tv);
}

static void on_probe(roma_http_client *cl, int status, void *arg) {
    serve_worker *w = arg;
    serve_state *s = w->state_owner;
    int ok = status == 200;
    (void)cl;
    if (w->state == WORKER_READY) {
        if (ok) probe_later(w, HEALTH_S);
        else supervisor_suspect(s, w);
        return;
    }
    if (w->state != WORKER_STARTING) return;
    if (!ok) {
        probe_later(w, 0.1);
        return;
    }
    w->state = WORKER_READY;
    w->failures_in_a_row = 0;
    if (w->suspect) roma_info("worker %s: answers its probe again", w->name);
    else roma_info("worker %s: ready after %.1f s", w->name, serve_now() - w->started_at);
    w->suspect = 0;
    w->last_finish = 0;
    if (w->warmed) memset(w->warmed, 0, w->nmodels); /* a new process warms up again (dispatch.c) */
    probe_later(w, HEALTH_S);
    dispatch_worker(s, w);
}

/* A connection to a ready worker failed: when a worker is killed its
 * sockets close before SIGCHLD arrives, so sending it more (the retry
 * included) would only fail again.  Take it out of dispatch and probe it:
 * alive, it is ready again within a probe; dead, SIGCHLD restarts it. */
void supervisor_suspect(serve_state *s, serve_worker *w) {
    if (w->state != WORKER_READY || s->draining) return;
    roma_warn("worker %s: a connection to it failed or it did not answer its probe; probing it "
              "before sending more", w->name);
    w->state = WORKER_STARTING;
    w->suspect = 1;
    probe_later(w, 0);
    if (w->gpu >= 0) dispatch_reconsider(s); /* cost-aware: its queues may go to CPUs now */
}

static void worker_exited(serve_state *s, serve_worker *w, int status) {
    int was_ready = w->state == WORKER_READY || w->suspect;
    w->suspect = 0;
    w->pid = 0;
    if (s->draining) { /* no restart while stopping: answer what it would serve */
        w->state = WORKER_FAILED;
        dispatch_worker_lost(s, w);
        return;
    }
    roma_warn("worker %s: exited (%s %d); restarting", w->name,
              WIFSIGNALED(status) ? "signal" : "status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    w->restarts++;
    if (!was_ready) w->failures_in_a_row++;
    if (w->failures_in_a_row >= MAX_FAILED_STARTS) {
        w->state = WORKER_FAILED;
        roma_error("worker %s: failed %d starts in a row; its requests get 503; starting it again "
                   "every %.0f s", w->name, w->failures_in_a_row, FAILED_RETRY_S);
        probe_later(w, FAILED_RETRY_S);
    } else {
        w->state = WORKER_RESTARTING;
        w->backoff = was_ready ? 0.25 : fmin(w->backoff * 2, 8);
        probe_later(w, w->backoff);
    }
    dispatch_worker_lost(s, w);
}

static double rusage_seconds(const struct rusage *ru) {
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           ru->ru_stime.tv_usec / 1e6;
}

void supervisor_on_child_exit(serve_state *s) {
    int status;
    pid_t pid;
    struct rusage ru;
    while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
        for (size_t i = 0; i < s->nworkers; i++)
            if (s->workers[i].pid == pid) {
                s->workers[i].cpu_exited += rusage_seconds(&ru);
                worker_exited(s, &s->workers[i], status);
            }
}

/* utime + stime of a live process, all its threads, from /proc/<pid>/stat
 * (fields 14 and 15, after the command name, which may hold spaces). */
static double proc_cpu_seconds(pid_t pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    size_t len;
    char *text = roma_read_file(path, &len);
    if (!text) return 0; /* exited a moment ago: wait4 will count it */
    double seconds = 0;
    unsigned long long utime, stime;
    const char *after = strrchr(text, ')');
    if (after && sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                        &stime) == 2)
        seconds = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    free(text);
    return seconds;
}

double supervisor_cpu_seconds(const serve_worker *w) {
    return w->cpu_exited + (w->pid > 0 ? proc_cpu_seconds(w->pid) : 0);
}

/* Writes cores to w's cgroup; the value in force is read back.  A failed
 * write leaves the old quota: then the read-back (else the last known)
 * value is what is in force.  Logged once per episode of failures. */
static int write_cgroup(serve_state *s, serve_worker *w, double cores, double *actual) {
    roma_err err, rerr;
    double now_in_force;
    if (cg_set_cores(&s->cg, w->cgroup, cores, &err) == ROMA_OK &&
        cg_get_cores(&s->cg, w->cgroup, actual, &err) == ROMA_OK) {
        if (w->cores_error[0])
            roma_info("worker %s: its cgroup takes writes again (%g cores)", w->name, *actual);
        w->cores_error[0] = '\0';
        return 0;
    }
    *actual = cg_get_cores(&s->cg, w->cgroup, &now_in_force, &rerr) == ROMA_OK && now_in_force > 0
                  ? now_in_force : w->cores;
    if (!w->cores_error[0])
        roma_warn("worker %s: cannot set %g cores: %s; %g cores stay in force (and its CPUs)",
                  w->name, cores, err.msg, *actual);
    snprintf(w->cores_error, sizeof(w->cores_error), "%s", err.msg);
    return -1;
}

int supervisor_set_cores(serve_state *s, serve_worker *w, double cores) {
    roma_err err;
    double actual = cores;
    int rc = w->cgroup[0] ? write_cgroup(s, w, cores, &actual) : 0;
    if (w->pid > 0 && cg_pin_cpus_in(w->pid, actual, (int)(w - s->workers), cpu_pool(s), &err) != ROMA_OK)
        roma_warn("worker %s: %s", w->name, err.msg);
    /* The controller works from what is in force, not from what it asked. */
    if (rc != 0 && w->gpu < 0 && w->nmodels && w->models[0]->ctl) w->models[0]->ctl->cores = actual;
    w->cores = actual;
    w->max_runs = supervisor_cores_to_runs(actual);
    supervisor_update_slots(s, w);
    return rc;
}

static void probe_connect(serve_worker *w, struct event_base *base) {
    w->probe = roma_http_client_new(base, w->host, w->port, PROBE_TIMEOUT_S * 1000);
}

void supervisor_probe_moved(serve_worker *w) {
    roma_http_client_free(w->probe); /* its pending probe goes, its callback never runs */
    probe_connect(w, w->state_owner->base);
    if (w->suspect) probe_later(w, 0);
}

void supervisor_init_worker(serve_state *s, serve_worker *w, int max_runs) {
    int nslots = max_runs + SERVE_PIPELINE_MAX; /* connections open at first use */
    w->nslots = nslots;
    w->max_threads = w->max_runs = max_runs;
    w->active_slots = max_runs + SERVE_PIPELINE;
    for (int i = 0; i < nslots; i++) {
        w->slots[i].worker = w;
        w->slots[i].conn = roma_http_client_new(s->base, w->host, w->port, SERVE_SLOT_TIMEOUT_S * 1000);
    }
    probe_connect(w, s->base);
    w->timer = evtimer_new(s->base, on_timer, w);
    w->state_owner = s;
    w->backoff = 0.25;
}

static int make_cpu_worker(serve_state *s, serve_worker *w, serve_model *m) {
    roma_err err;
    char group[512];
    snprintf(w->name, sizeof(w->name), "%s-cpu", m->cfg->name);
    w->gpu = -1;
    w->models = malloc(sizeof(serve_model *));
    w->warmed = calloc(1, 1);
    if (!w->models || !w->warmed) abort();
    w->models[0] = m;
    w->nmodels = 1;
    m->cpu_worker = w;
    snprintf(w->host, sizeof(w->host), "127.0.0.1");
    if (make_listener(w) != 0) return -1;
    w->cores = m->cfg->cores_initial;
    if (s->cgroup_parent[0]) {
        snprintf(group, sizeof(group), "roma-%d/%s", s->cfg.listen_port, m->cfg->name);
        if (cg_create(&s->cg, group, w->cgroup, sizeof(w->cgroup), &err) != ROMA_OK) {
            roma_error("worker %s: %s", w->name, err.msg);
            return -1;
        }
    }
    supervisor_init_worker(s, w, supervisor_cores_to_runs(m->cfg->cores_max));
    supervisor_set_cores(s, w, w->cores);
    return 0;
}

/* Appends s as a text-format string literal.  Only \ and " need escaping
 * for both TF Serving's parser and ours (worker/model_config.c); control
 * characters would need C escapes ours does not read, so they are refused. */
static int put_quoted(roma_buf *b, const char *s) {
    roma_buf_putc(b, '"');
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return -1;
        if (*s == '\\' || *s == '"') roma_buf_putc(b, '\\');
        roma_buf_putc(b, *s);
    }
    roma_buf_putc(b, '"');
    return 0;
}

roma_code supervisor_model_config_text(const serve_model_config *models, size_t n, roma_buf *out,
                                       roma_err *err) {
    roma_buf_puts(out, "model_config_list {\n");
    for (size_t i = 0; i < n; i++) {
        roma_buf_puts(out, "  config { name: ");
        if (put_quoted(out, models[i].name) != 0)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "model name of models[%zu] holds a "
                             "control character: rename it", i);
        roma_buf_puts(out, " base_path: ");
        if (put_quoted(out, models[i].base_path) != 0)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "model %s: its base_path holds a control "
                             "character (a newline?): move the model to a plain path",
                             models[i].name);
        roma_buf_puts(out, " model_platform: \"tensorflow\" }\n");
    }
    roma_buf_puts(out, "}\n");
    return ROMA_OK;
}

/* A directory only this user can enter, for the GPU workers' model
 * configs (a predictable name in /tmp could be a link planted by
 * someone else). */
static int make_private_dir(serve_state *s) {
    const char *tmp = getenv("TMPDIR");
    if (s->private_dir[0]) return 0;
    snprintf(s->private_dir, sizeof(s->private_dir), "%s/roma-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(s->private_dir)) return 0;
    roma_error("cannot make a private directory %s: %s (set TMPDIR to a writable directory)",
               s->private_dir, strerror(errno));
    s->private_dir[0] = '\0';
    return -1;
}

/* Writes text to path, a file that must not exist yet (not through a link). */
static int write_new_file(const char *path, const char *text, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, len);
    int saved = errno;
    if (close(fd) != 0 && n == (ssize_t)len) return -1;
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

/* A GPU worker serves every model from a model config file of its own;
 * so does a stand-in (standin non-NULL), on its CPUs. */
static int make_gpu_worker(serve_state *s, serve_worker *w, int gpu, const serve_gpu_standin *standin) {
    roma_buf text = ROMA_BUF_INIT;
    roma_err err;
    snprintf(w->name, sizeof(w->name), standin ? "gpu%d-standin" : "gpu%d", gpu);
    w->gpu = gpu;
    w->standin = standin;
    CPU_ZERO(&w->standin_cpus);
    for (size_t i = 0; standin && i < standin->ncpus; i++) CPU_SET(standin->cpus[i], &w->standin_cpus);
    snprintf(w->host, sizeof(w->host), "127.0.0.1");
    if (make_listener(w) != 0) return -1;
    w->models = calloc(s->nmodels, sizeof(serve_model *));
    w->warmed = calloc(s->nmodels, 1);
    if (!w->models || !w->warmed) abort();
    w->nmodels = s->nmodels;
    for (size_t i = 0; i < s->nmodels; i++) w->models[i] = &s->models[i];
    if (make_private_dir(s) != 0) return -1;
    snprintf(w->config_file, sizeof(w->config_file), "%s/gpu%d.config", s->private_dir, gpu);
    if (supervisor_model_config_text(s->cfg.models, s->cfg.nmodels, &text, &err) != ROMA_OK) {
        roma_error("worker %s: %s", w->name, err.msg);
        roma_buf_free(&text);
        return -1;
    }
    if (write_new_file(w->config_file, text.data, text.len) != 0) {
        roma_error("worker %s: cannot write %s: %s", w->name, w->config_file, strerror(errno));
        roma_buf_free(&text);
        return -1;
    }
    roma_buf_free(&text);
    supervisor_init_worker(s, w, 1); /* one batch at a time on a GPU */
    return 0;
}

int supervisor_check_cpus(serve_state *s) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        roma_error("cannot read this process's CPU affinity: %s", strerror(errno));
        return -1;
    }
    s->cpu_pool = allowed;
    for (size_t i = 0; i < s->cfg.nstandins; i++)
        for (size_t k = 0; k < s->cfg.standins[i].ncpus; k++) {
            int cpu = s->cfg.standins[i].cpus[k];
            if (!CPU_ISSET(cpu, &allowed)) {
                roma_error("node.gpu_standins[%zu].cpus: CPU %d is not one this process may run "
                           "on (%d allowed, see `taskset -p $$`): name CPUs it may use", i, cpu,
                           CPU_COUNT(&allowed));
                return -1;
            }
            CPU_CLR(cpu, &s->cpu_pool);
        }
    if (CPU_COUNT(&s->cpu_pool) == 0) {
        roma_error("node.gpu_standins take every CPU this process may run on; leave at least one "
                   "for the CPU workers");
        return -1;
    }
    return 0;
}

/* Stand-ins take the GPU indexes after the real GPUs', so X-Roma-Device
 * never names one device for two workers. */
static int first_standin_index(const serve_config *c) {
    int next = 0;
    for (size_t g = 0; g < c->ngpus; g++)
        if (c->gpus[g] + 1 > next) next = c->gpus[g] + 1;
    return next;
}

int supervisor_start(serve_state *s) {
    size_t nstandins = s->cluster ? 0 : s->cfg.nstandins;
    s->nworkers = s->nmodels + s->cfg.ngpus + nstandins;
    s->workers = calloc(s->nworkers, sizeof(serve_worker));
    if (!s->workers) abort();
    for (size_t i = 0; i < s->nmodels; i++)
        if (make_cpu_worker(s, &s->workers[i], &s->models[i]) != 0) return -1;
    for (size_t g = 0; g < s->cfg.ngpus; g++)
        if (make_gpu_worker(s, &s->workers[s->nmodels + g], s->cfg.gpus[g], NULL) != 0) return -1;
    for (size_t k = 0; k < nstandins; k++)
        if (make_gpu_worker(s, &s->workers[s->nmodels + s->cfg.ngpus + k],
                            first_standin_index(&s->cfg) + (int)k, &s->cfg.standins[k]) != 0)
            return -1;
    for (size_t i = 0; i < s->nworkers; i++) spawn(s, &s->workers[i]);
    return 0;
}

/* Stops every worker (SIGTERM, then SIGKILL after 5 s) and removes the
 * cgroups.  Called once the dispatcher has answered everything. */
void supervisor_stop(serve_state *s) {
    roma_err err;
    for (size_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].pid > 0) kill(s->workers[i].pid, SIGTERM);
    for (int tick = 0; tick < 100; tick++) {
        int alive = 0;
        for (size_t i = 0; i < s->nworkers; i++) {
            serve_worker *w = &s->workers[i];
            if (w->pid > 0 && waitpid(w->pid, NULL, WNOHANG) == w->pid) w->pid = 0;
            alive |= w->pid > 0;
        }
        if (!alive) break;
        if (tick == 99) {
            for (size_t i = 0; i < s->nworkers; i++)
                if (s->workers[i].pid > 0) kill(s->workers[i].pid, SIGKILL), waitpid(s->workers[i].pid, NULL, 0);
        }
        usleep(50000);
    }
    for (size_t i = 0; i < s->nworkers; i++) {
        serve_worker *w = &s->workers[i];
        if (w->cgroup[0] && cg_remove(&s->cg, w->cgroup, &err) != ROMA_OK) roma_warn("%s", err.msg);
        if (w->config_file[0]) unlink(w->config_file);
        if (w->listen_fd > 0) close(w->listen_fd);
        w->listen_fd = 0;
    }
    if (s->cgroup_parent[0] && cg_remove(&s->cg, s->cgroup_parent, &err) != ROMA_OK)
        roma_warn("%s", err.msg);
    if (s->private_dir[0]) rmdir(s->private_dir);
}

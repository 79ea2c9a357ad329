/* cluster.c - `roma serve` in cluster mode (cluster.kind: kubernetes).
 *
 * Nothing is spawned and no cgroup is written here: the worker pods exist
 * already (`roma k8s render`), and the Kubernetes client (src/k8s/client.h,
 * on its own thread) tells this file about them.  Pods in, resize requests
 * out:
 *
 *   - every pod the client reports is kept in a table by name; after each
 *     batch of updates every worker is bound again: a CPU worker to a usable
 *     pod labelled with its model (role cpu-worker), a GPU worker to the pod
 *     named for its node and GPU.  A bound worker is READY at podIP:port
 *     (the container's port named http, else cluster.worker_port).  A
 *     worker whose pod goes away (deleted, not Ready, being deleted) is
 *     handled like a worker process that died: RESTARTING, its in-flight
 *     requests re-sent once when their connections fail, then 503; after
 *     POD_WAIT_S without a pod it is FAILED and its queue is answered 503.
 *   - every control period the controller runs once per Kubernetes node
 *     (k8s/nodes.h) from the cores the pods really have, and each decision
 *     that differs from what the pod has (or was last asked) becomes a
 *     resize request; its progress is judged by k8s_resize_judge from the
 *     pod's status, and a deferred, infeasible, failed or refused resize is
 *     logged once per episode and shown in /roma/v1/workers.  While the API
 *     server is unreachable nothing is asked: every pod keeps its cores.
 */
#include "serve.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "k8s/client.h"
#include "k8s/nodes.h"
#include "k8s/resize.h"

#define POD_WAIT_S 30.0 /* a worker with no usable pod this long fails: its queue gets 503 */

typedef struct {
    char pod[K8S_NAME_CAP];      /* the pod it follows; "" for none */
    char uid[64];                /* that pod's uid: one re-created under the name is new */
    char expect[K8S_NAME_CAP];   /* GPU workers: the name of their pod */
    char address[96];            /* host:port its slots connect to; "" before the first pod */
    k8s_resize_ask ask;          /* the last resize asked of pod */
    double asked_at;             /* when it was decided (serve_now); 0 once the pod has it */
    double last_resize_s;        /* decision to pod status showing it, the last resize */
    k8s_resize_view view;
    k8s_resize_state logged;     /* the episode last logged, to log each once */
    double logged_cores;
    double lost_at;              /* since when it has no usable pod (0: it has one) */
} pod_worker;

struct serve_cluster {
    k8s_client *client;
    struct event *updates_ev, *timer_ev;
    k8s_pod *pods;               /* every pod the client reported, by name */
    int *seen;                   /* pods[i] was in the list being received */
    size_t npods, cap;
    int listing;
    pod_worker *pw;              /* one per serve worker, same order */
    int api_down;
    char api_message[K8S_MESSAGE_CAP];
    roma_http_client **retired;  /* connections to pods gone, with a request in flight */
    size_t nretired;
    roma_ctl_model *scratch;     /* k8s_nodes_update's, one per model */
    size_t *group;
    const char **node_of;
    double *node_cpus;
};

/* ---- the pod table -------------------------------------------------------- */

static k8s_pod *find_pod(const struct serve_cluster *c, const char *name) {
    for (size_t i = 0; name[0] && i < c->npods; i++)
        if (strcmp(c->pods[i].name, name) == 0) return &c->pods[i];
    return NULL;
}

static void upsert_pod(struct serve_cluster *c, const k8s_pod *p) {
    k8s_pod *old = find_pod(c, p->name);
    if (!old) {
        if (c->npods == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 16;
            c->pods = realloc(c->pods, c->cap * sizeof(*c->pods));
            c->seen = realloc(c->seen, c->cap * sizeof(*c->seen));
            if (!c->pods || !c->seen) abort();
        }
        old = &c->pods[c->npods++];
    }
    *old = *p;
    c->seen[old - c->pods] = 1;
}

static void remove_pod_at(struct serve_cluster *c, size_t i) {
    c->pods[i] = c->pods[c->npods - 1];
    c->seen[i] = c->seen[c->npods - 1];
    c->npods--;
}

static void remove_pod(struct serve_cluster *c, const char *name) {
    k8s_pod *p = find_pod(c, name);
    if (p) remove_pod_at(c, (size_t)(p - c->pods));
}

/* ---- binding workers to pods ------------------------------------------------ */

static int pod_fits(const serve_state *s, size_t wi, const k8s_pod *p) {
    if (wi < s->nmodels)
        return strcmp(p->role, K8S_ROLE_CPU) == 0 && strcmp(p->model, s->models[wi].cfg->name) == 0;
    return strcmp(p->name, s->cluster->pw[wi].expect) == 0;
}

/* Points w's connections at host:port.  A connection with a request in
 * flight is kept until stop (its answer, or its failure, still arrives). */
static void reconnect(serve_state *s, serve_worker *w, const char *host, int port) {
    struct serve_cluster *c = s->cluster;
    snprintf(w->host, sizeof(w->host), "%s", host);
    w->port = port;
    w->host_port = 0; /* the Host header is made again */
    for (int k = 0; k < w->nslots; k++) {
        serve_slot *slot = &w->slots[k];
        if (slot->req) {
            c->retired = realloc(c->retired, (c->nretired + 1) * sizeof(*c->retired));
            if (!c->retired) abort();
            c->retired[c->nretired++] = slot->conn;
        } else {
            roma_http_client_free(slot->conn);
        }
        slot->conn = roma_http_client_new(s->base, host, port, SERVE_SLOT_TIMEOUT_S * 1000);
    }
    supervisor_probe_moved(w);
}

/* Logs a resize that went wrong once per episode (state and cores). */
static void log_episode(serve_worker *w, pod_worker *pw) {
    k8s_resize_state st = pw->view.state;
    int bad = st == K8S_RESIZE_DEFERRED || st == K8S_RESIZE_INFEASIBLE || st == K8S_RESIZE_FAILED ||
              st == K8S_RESIZE_REFUSED;
    if (!bad) {
        if (st == K8S_RESIZE_NONE) pw->logged = K8S_RESIZE_NONE;
        return;
    }
    if (st == pw->logged && k8s_cores_equal(pw->logged_cores, pw->ask.cores)) return;
    pw->logged = st;
    pw->logged_cores = pw->ask.cores;
    roma_warn("worker %s: pod %s: %s; it keeps %g cores", w->name, pw->pod, pw->view.why, pw->view.cores);
}

/* Takes the pod's real cores as the worker's, and times a finished resize. */
static void follow_cores(serve_state *s, serve_worker *w, pod_worker *pw, const k8s_pod *pod) {
    k8s_resize_judge(&pw->ask, pod, &pw->view);
    if (pw->asked_at > 0 && pw->view.state == K8S_RESIZE_NONE) {
        pw->last_resize_s = serve_now() - pw->asked_at;
        pw->asked_at = 0;
        roma_info("worker %s: pod %s runs with %g cores, %.3f s after the decision", w->name, pod->name,
                  pw->view.cores, pw->last_resize_s);
    }
    log_episode(w, pw);
    if (w->gpu < 0 && pw->view.cores > 0 && !k8s_cores_equal(pw->view.cores, w->cores))
        supervisor_set_cores(s, w, pw->view.cores);
}

static void bind_usable(serve_state *s, size_t wi, const k8s_pod *pod) {
    serve_worker *w = &s->workers[wi];
    pod_worker *pw = &s->cluster->pw[wi];
    char address[96];
    int port = pod->port > 0 ? pod->port : s->cfg.cluster.worker_port;
    if (strcmp(pw->pod, pod->name) != 0 || strcmp(pw->uid, pod->uid) != 0) { /* new: nothing asked of it */
        snprintf(pw->pod, sizeof(pw->pod), "%s", pod->name);
        snprintf(pw->uid, sizeof(pw->uid), "%s", pod->uid);
        memset(&pw->ask, 0, sizeof(pw->ask));
        pw->asked_at = 0;
        pw->logged = K8S_RESIZE_NONE;
    }
    snprintf(address, sizeof(address), "%s:%d", pod->ip, port);
    if (strcmp(address, pw->address) != 0) {
        reconnect(s, w, pod->ip, port);
        snprintf(pw->address, sizeof(pw->address), "%s", address);
    }
    follow_cores(s, w, pw, pod);
    if (w->state != WORKER_READY) {
        w->state = WORKER_READY;
        pw->lost_at = 0;
        roma_info("worker %s: pod %s ready at %s on node %s", w->name, pod->name, address,
                  pod->node[0] ? pod->node : "?");
        dispatch_worker(s, w);
    }
}

static void unbind(serve_state *s, size_t wi, const k8s_pod *still) {
    serve_worker *w = &s->workers[wi];
    pod_worker *pw = &s->cluster->pw[wi];
    if (!still) pw->pod[0] = '\0';
    if (w->state != WORKER_READY) return;
    w->state = WORKER_RESTARTING;
    pw->lost_at = serve_now();
    roma_warn("worker %s: pod %s %s: requests wait for a pod (503 after %g s without one)", w->name,
              still ? still->name : "", !still ? "is gone" : still->deleting ? "is being deleted" : "is not ready",
              POD_WAIT_S);
}

/* Binds every worker to its pod: the one it follows while usable, else
 * the first usable pod that fits. */
static void bind_all(serve_state *s) {
    struct serve_cluster *c = s->cluster;
    for (size_t wi = 0; wi < s->nworkers; wi++) {
        k8s_pod *cur = find_pod(c, c->pw[wi].pod), *pick = NULL;
        if (cur && k8s_pod_usable(cur)) pick = cur;
        for (size_t i = 0; !pick && i < c->npods; i++)
            if (pod_fits(s, wi, &c->pods[i]) && k8s_pod_usable(&c->pods[i])) pick = &c->pods[i];
        if (pick) bind_usable(s, wi, pick);
        else unbind(s, wi, cur);
    }
}

/* ---- updates from the client ------------------------------------------------ */

static void on_resized(serve_state *s, const k8s_update *u) {
    struct serve_cluster *c = s->cluster;
    for (size_t wi = 0; wi < s->nworkers; wi++) {
        pod_worker *pw = &c->pw[wi];
        /* An answer to an ask since replaced is old news: the newer one follows. */
        if (strcmp(pw->pod, u->pod.name) != 0 || !k8s_cores_equal(pw->ask.cores, u->ask.cores)) continue;
        pw->ask = u->ask;
    }
}

static void on_updates(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    struct serve_cluster *c = s->cluster;
    (void)fd, (void)what;
    k8s_update *list = k8s_client_take(c->client);
    for (k8s_update *u = list; u; u = u->next) {
        switch (u->kind) {
        case K8S_UPDATE_LIST_BEGIN:
            for (size_t i = 0; i < c->npods; i++) c->seen[i] = 0;
            c->listing = 1;
            break;
        case K8S_UPDATE_POD: upsert_pod(c, &u->pod); break;
        case K8S_UPDATE_POD_GONE: remove_pod(c, u->pod.name); break;
        case K8S_UPDATE_LIST_END:
            for (size_t i = c->npods; i-- > 0;)
                if (!c->seen[i]) remove_pod_at(c, i);
            c->listing = 0;
            break;
        case K8S_UPDATE_RESIZED: on_resized(s, u); break;
        case K8S_UPDATE_API_DOWN:
            c->api_down = 1;
            snprintf(c->api_message, sizeof(c->api_message), "%s", u->message);
            break;
        case K8S_UPDATE_API_UP: c->api_down = 0; break;
        }
    }
    k8s_updates_free(list);
    if (!c->listing) bind_all(s);
}

/* Every second: a worker without a pod for too long fails. */
static void on_timer(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    double now = serve_now();
    (void)fd, (void)what;
    for (size_t wi = 0; wi < s->nworkers; wi++) {
        serve_worker *w = &s->workers[wi];
        pod_worker *pw = &s->cluster->pw[wi];
        if (w->state == WORKER_READY || w->state == WORKER_FAILED || !pw->lost_at ||
            now - pw->lost_at < POD_WAIT_S)
            continue;
        w->state = WORKER_FAILED;
        roma_error("worker %s: no usable pod for %g s; answering its requests 503 until one is ready",
                   w->name, POD_WAIT_S);
        dispatch_worker_lost(s, w);
    }
}

/* ---- the control period ------------------------------------------------------ */

/* Asks pod of model i for the decided cores when they differ from what it
 * has or was last asked. */
static void actuate(serve_state *s, size_t i) {
    serve_worker *w = s->models[i].cpu_worker;
    pod_worker *pw = &s->cluster->pw[w - s->workers];
    double decision = s->ctl[i].cores;
    double target = pw->ask.cores > 0 ? pw->ask.cores : w->cores;
    /* Asked again: what never reached the API server, and a 409 (a conflict
     * is the API server's "retry"); a 422 or Infeasible would only repeat. */
    int retry = pw->view.state == K8S_RESIZE_UNREACHABLE ||
                (pw->view.state == K8S_RESIZE_REFUSED && pw->ask.http_status == 409);
    int resend = retry && !k8s_cores_equal(decision, w->cores);
    if (k8s_cores_equal(decision, target) && !resend) return;
    k8s_client_resize(s->cluster->client, pw->pod, decision);
    pw->ask = (k8s_resize_ask){.cores = decision};
    pw->asked_at = serve_now();
    const k8s_pod *pod = find_pod(s->cluster, pw->pod);
    if (pod) k8s_resize_judge(&pw->ask, pod, &pw->view);
}

void cluster_control(serve_state *s) {
    struct serve_cluster *c = s->cluster;
    if (c->api_down) return; /* hold: every pod keeps the cores it has */
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_worker *w = s->models[i].cpu_worker;
        const k8s_pod *pod = find_pod(c, c->pw[w - s->workers].pod);
        roma_ctl_model *m = &s->ctl[i];
        c->node_of[i] = w->state == WORKER_READY && pod ? pod->node : NULL;
        c->node_cpus[i] = c->node_of[i] ? serve_config_node_cpus(&s->cfg, pod->node) : 0;
        if (!c->node_of[i]) continue;
        /* Start from what the pod really has: the integral follows (anti-windup
         * on the actuated cores, as the controller itself does). */
        m->xc += w->cores - m->cores;
        m->cores = w->cores;
    }
    k8s_nodes_update(s->ctl_kind, &s->ctl_params, s->ctl, s->nmodels, c->node_of, c->node_cpus, c->scratch,
                     c->group);
    for (size_t i = 0; i < s->nmodels; i++)
        if (c->node_of[i]) actuate(s, i);
}

/* ---- /roma/v1/workers ---------------------------------------------------------- */

static void put_string(struct evbuffer *out, const char *key, const char *value) {
    roma_buf b = ROMA_BUF_INIT;
    roma_buf_printf(&b, ", \"%s\": ", key);
    if (value && value[0]) roma_buf_json_string(&b, value, strlen(value));
    else roma_buf_puts(&b, "null");
    evbuffer_add(out, b.data, b.len);
    roma_buf_free(&b);
}

void cluster_write_worker(const serve_state *s, const serve_worker *w, struct evbuffer *out) {
    const struct serve_cluster *c = s->cluster;
    if (!c) return;
    const pod_worker *pw = &c->pw[w - s->workers];
    const k8s_pod *pod = find_pod(c, pw->pod);
    put_string(out, "pod", pw->pod);
    put_string(out, "node", pod ? pod->node : NULL);
    put_string(out, "address", w->state == WORKER_READY ? pw->address : NULL);
    put_string(out, "api_unreachable", c->api_down ? c->api_message : NULL);
    if (w->gpu >= 0) return;
    double desired = pw->ask.cores > 0 ? pw->ask.cores : w->cores;
    int differ = !k8s_cores_equal(desired, w->cores);
    if (pod) /* without a pod there are no actual cores to show */
        evbuffer_add_printf(out, ", \"cores_desired\": %g, \"cores_actual\": %g", desired, w->cores);
    else
        evbuffer_add_printf(out, ", \"cores_desired\": null, \"cores_actual\": null");
    evbuffer_add_printf(out, ", \"last_resize_s\": %g", pw->last_resize_s);
    put_string(out, "resize", k8s_resize_state_name(pw->view.state));
    put_string(out, "why", c->api_down && differ ? c->api_message : pw->view.why);
}

/* ---- start and stop ------------------------------------------------------------ */

static void add_worker(serve_state *s, size_t wi, int gpu) {
    serve_worker *w = &s->workers[wi];
    w->gpu = gpu;
    snprintf(w->host, sizeof(w->host), "127.0.0.1"); /* until a pod says where */
    w->port = s->cfg.cluster.worker_port;
    w->state = WORKER_STARTING;
    s->cluster->pw[wi].lost_at = serve_now();
}

static size_t count_gpu_pods(const serve_config *cfg) {
    size_t n = cfg->cluster.nnodes ? 0 : cfg->ngpus;
    for (size_t i = 0; i < cfg->cluster.nnodes; i++) n += cfg->cluster.nodes[i].ngpus;
    return n;
}

static void make_workers(serve_state *s) {
    const serve_cluster_config *k = &s->cfg.cluster;
    size_t wi = s->nmodels;
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_worker *w = &s->workers[i];
        serve_model *m = &s->models[i];
        add_worker(s, i, -1);
        snprintf(w->name, sizeof(w->name), "%s-cpu", m->cfg->name);
        w->models = malloc(sizeof(serve_model *));
        if (!w->models) abort();
        w->models[0] = m;
        w->nmodels = 1;
        m->cpu_worker = w;
        w->cores = m->cfg->cores_initial;
        supervisor_init_worker(s, w, supervisor_cores_to_runs(m->cfg->cores_max));
        supervisor_set_cores(s, w, w->cores);
    }
    for (size_t n = 0; n < (k->nnodes ? k->nnodes : 1); n++) {
        size_t ngpus = k->nnodes ? k->nodes[n].ngpus : s->cfg.ngpus;
        for (size_t g = 0; g < ngpus; g++, wi++) {
            serve_worker *w = &s->workers[wi];
            int gpu = k->nnodes ? k->nodes[n].gpus[g] : s->cfg.gpus[g];
            add_worker(s, wi, gpu);
            if (k->nnodes) {
                snprintf(w->name, sizeof(w->name), "%.40s-gpu%d", k->nodes[n].name, gpu);
                snprintf(s->cluster->pw[wi].expect, K8S_NAME_CAP, "roma-worker-gpu-%s-%d", k->nodes[n].name, gpu);
            } else {
                snprintf(w->name, sizeof(w->name), "gpu%d", gpu);
                snprintf(s->cluster->pw[wi].expect, K8S_NAME_CAP, "roma-worker-gpu-%d", gpu);
            }
            w->models = calloc(s->nmodels, sizeof(serve_model *));
            if (!w->models) abort();
            for (size_t i = 0; i < s->nmodels; i++) w->models[i] = &s->models[i];
            w->nmodels = s->nmodels;
            supervisor_init_worker(s, w, 1); /* one batch at a time on a GPU */
        }
    }
}

static struct serve_cluster *cluster_new(size_t nmodels, size_t nworkers) {
    struct serve_cluster *c = calloc(1, sizeof(*c));
    if (!c) abort();
    c->pw = calloc(nworkers, sizeof(*c->pw));
    c->scratch = calloc(nmodels ? nmodels : 1, sizeof(*c->scratch));
    c->group = calloc(nmodels ? nmodels : 1, sizeof(*c->group));
    c->node_of = calloc(nmodels ? nmodels : 1, sizeof(*c->node_of));
    c->node_cpus = calloc(nmodels ? nmodels : 1, sizeof(*c->node_cpus));
    if (!c->pw || !c->scratch || !c->group || !c->node_of || !c->node_cpus) abort();
    return c;
}

static k8s_client_config client_config(const serve_cluster_config *k) {
    return (k8s_client_config){.api_server = k->api_server, .namespace_name = k->namespace_name,
                               .token_file = k->token_file, .ca_file = k->ca_file,
                               .insecure_http = k->insecure_http, .selector = K8S_WORKER_SELECTOR};
}

int cluster_check(const serve_config *cfg) {
    char url[512];
    roma_err err;
    k8s_client_config kc = client_config(&cfg->cluster);
    if (k8s_client_api_url(&kc, url, sizeof(url), &err) == ROMA_OK) return 0;
    roma_error("%s", err.msg);
    return -1;
}

int cluster_start(serve_state *s) {
    const serve_cluster_config *k = &s->cfg.cluster;
    roma_err err;
    s->nworkers = s->nmodels + count_gpu_pods(&s->cfg);
    s->workers = calloc(s->nworkers, sizeof(serve_worker));
    if (!s->workers) abort();
    s->cluster = cluster_new(s->nmodels, s->nworkers);
    make_workers(s);
    k8s_client_config kc = client_config(k);
    if (!(s->cluster->client = k8s_client_start(&kc, &err))) {
        roma_error("%s", err.msg);
        return -1;
    }
    struct timeval second = {1, 0};
    s->cluster->updates_ev = event_new(s->base, k8s_client_fd(s->cluster->client), EV_READ | EV_PERSIST,
                                       on_updates, s);
    s->cluster->timer_ev = event_new(s->base, -1, EV_PERSIST, on_timer, s);
    event_add(s->cluster->updates_ev, NULL);
    event_add(s->cluster->timer_ev, &second);
    roma_info("cluster mode: watching the worker pods of namespace %s (%s); %zu CPU and %zu GPU workers",
              k->namespace_name, K8S_WORKER_SELECTOR, s->nmodels, s->nworkers - s->nmodels);
    return 0;
}

void cluster_stop(serve_state *s) {
    struct serve_cluster *c = s->cluster;
    if (!c) return;
    k8s_client_stop(c->client);
    if (c->updates_ev) event_free(c->updates_ev);
    if (c->timer_ev) event_free(c->timer_ev);
    for (size_t i = 0; i < c->nretired; i++) roma_http_client_free(c->retired[i]);
    free(c->retired);
    free(c->pods);
    free(c->seen);
    free(c->pw);
    free(c->scratch);
    free(c->group);
    free(c->node_of);
    free(c->node_cpus);
    free(c);
    s->cluster = NULL;
}

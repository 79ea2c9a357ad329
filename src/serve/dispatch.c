/* dispatch.c - the request path of `roma serve` (DESIGN.md §3).
 *
 * A TF Serving or Open Inference Protocol (v2) request is accepted into
 * its model's FIFO queue with its arrival time, body untouched (a v2
 * body's binary tail too, with its Inference-Header-Content-Length).
 * Whenever a worker slot is free the slot takes a request: a CPU worker's
 * slot the head of its model's queue, a GPU worker's slot the head of the
 * queue the GPU policy picks.  With the cost-aware policy a CPU slot takes
 * its model's head only when the CPU worker is expected to finish the
 * newest queued request sooner than the GPUs (roma_cost_cpu_takes), from
 * the service times measured here: a GPU's from its answers (it runs one
 * request at a time, so a request's service began at its dispatch or at
 * the previous answer, whichever came later), a CPU worker's from the CPU
 * its processes used per request (control.c).  The body goes
 * to the worker over the slot's keep-alive connection and the worker's
 * answer goes back unchanged, with X-Roma-Device.  A request whose worker
 * dies is re-queued once, then answered 503; past dispatch.queue_limit a
 * model's requests are refused with 429 and Retry-After; a client that
 * disconnects gives up its place (queued) or its slot (in flight): the
 * HTTP layer reports the close as it happens (roma_http_set_close_cb).
 * Nothing is copied on the way: the forwarded body is the client's
 * request's own (held until its answer), the answer's is the worker
 * connection's, written from there.
 * Of v2, roma serve answers liveness, readiness (from its workers' states)
 * and its server metadata itself; model metadata, a named version's
 * readiness and inference go to a worker, which loads the models.
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "worker/route.h"

/* ---- queues ------------------------------------------------------------ */

static void queue_push(serve_queue *q, serve_request *r, int at_head) {
    r->prev = r->next = NULL;
    if (!q->head) {
        q->head = q->tail = r;
    } else if (at_head) {
        r->next = q->head;
        q->head->prev = r;
        q->head = r;
    } else {
        r->prev = q->tail;
        q->tail->next = r;
        q->tail = r;
    }
    q->len++;
    q->sum_arrival += r->arrival;
}

static void queue_remove(serve_queue *q, serve_request *r) {
    if (r->prev) r->prev->next = r->next;
    else q->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else q->tail = r->prev;
    r->prev = r->next = NULL;
    q->len--;
    q->sum_arrival -= r->arrival;
    if (q->len == 0) q->sum_arrival = 0; /* no drift from float sums */
}

size_t dispatch_queued(const serve_state *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->nmodels; i++) n += s->models[i].queue.len;
    return n;
}

size_t dispatch_in_flight(const serve_state *s, const serve_model *m) {
    size_t n = 0;
    for (size_t i = 0; i < s->nworkers; i++)
        for (int k = 0; k < s->workers[i].nslots; k++)
            n += s->workers[i].slots[k].req && s->workers[i].slots[k].req->model == m;
    return n;
}

/* ---- answers ----------------------------------------------------------- */

static void request_free(serve_state *s, serve_request *r) {
    s->inflight_bytes -= r->body_len;
    free(r);
}

/* "cpu" or "gpu:N" for device 0 or N + 1; formats into buf only for GPUs. */
static const char *device_name(int device, char *buf, size_t cap) {
    if (device <= 0) return "cpu";
    snprintf(buf, cap, "gpu:%d", device - 1);
    return buf;
}

/* Copies src into dst[cap], cut to fit (snprintf's result, without its
 * cost: this runs for every request). */
static void copy_name(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Keeps rt for the window's percentile (sla_percentile); grows by doubling,
 * so a period's requests cost O(1) each. */
static void keep_window_rt(serve_model *m, double rt) {
    if (m->win_count == m->win_rts_cap) {
        m->win_rts_cap = m->win_rts_cap ? 2 * m->win_rts_cap : 256;
        m->win_rts = realloc(m->win_rts, m->win_rts_cap * sizeof(double));
        if (!m->win_rts) abort();
    }
    m->win_rts[m->win_count] = rt;
}

/* Records a finished inference: store row, counters, controller window. */
static void record(serve_state *s, serve_request *r, serve_worker *w, int status) {
    serve_model *m = r->model;
    double finish = serve_now(), rt = finish - r->arrival;
    int device = w && w->gpu >= 0 ? w->gpu + 1 : 0;
    if (!r->counted) return;
    ops_count(m, device, status, rt);
    if (status == 200) {
        m->completed++;
        m->violations += rt > m->sla;
        roma_rt_ring_push(&m->recent, rt);
        history_rt_add(&m->hist_rt, rt);
        if (device == 0) {
            if (m->cfg->sla_percentile > 0) keep_window_rt(m, rt);
            m->win_rt_sum += rt, m->win_count++;
        }
    }
    store_record rec = {.id = r->id, .version = -1, .arrival = serve_unix_time(r->arrival),
                        .dispatch = r->dispatch > 0 ? serve_unix_time(r->dispatch) : 0,
                        .finish = serve_unix_time(finish),
                        .status = status};
    char dev[16];
    copy_name(rec.model, sizeof(rec.model), m->cfg->name);
    copy_name(rec.device, sizeof(rec.device), device_name(device, dev, sizeof(dev)));
    copy_name(rec.worker, sizeof(rec.worker), w ? w->name : "");
    if (s->store) store_add(s->store, &rec);
}

/* Answers r and frees it: with the answer of w's connection `from` (its
 * body and the headers that say how to read it: a v2 answer with binary
 * outputs is application/octet-stream, its JSON part as long as
 * Inference-Header-Content-Length says), or with status and error when
 * from is NULL. */
static void answer(serve_state *s, serve_request *r, serve_worker *w, int status,
                   const roma_http_client *from, const char *error) {
    record(s, r, w, status);
    char extra[160], dev[16];
    size_t n = 0;
    const char *type = from ? roma_http_client_header(from, "Content-Type") : NULL;
    const char *header_len = from ? roma_http_client_header(from, "Inference-Header-Content-Length")
                                  : NULL;
    if (header_len && strlen(header_len) < 32)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Inference-Header-Content-Length: %s\r\n",
                              header_len);
    if (w)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, "X-Roma-Device: %s\r\n",
                              device_name(w->gpu + 1, dev, sizeof(dev)));
    if (status == 429 || status == 503) snprintf(extra + n, sizeof(extra) - n, "Retry-After: 1\r\n");
    if (from) {
        size_t len;
        const char *body = roma_http_client_body(from, &len);
        roma_http_reply(r->client, status, type && strlen(type) < 128 ? type : "application/json",
                        extra, body, len);
    } else {
        roma_buf b = ROMA_BUF_INIT;
        rest_error(&b, ROMA_UNAVAILABLE, error ? error : "");
        roma_http_reply(r->client, status, "application/json", extra, b.data, b.len);
        roma_buf_free(&b);
    }
    s->inflight--;
    request_free(s, r);
}

/* ---- measured service times --------------------------------------------- */

/* Weight of a new GPU sample in the running average: some 10 requests of
 * memory, enough to ride out one slow answer on a noisy machine. */
#define GPU_SERVICE_WEIGHT 0.1

/* Whether this is w's first answer for r's model since it turned ready,
 * the model's warm-up run (noted as done). */
static int warm_up(serve_worker *w, const serve_request *r) {
    for (size_t k = 0; w->warmed && k < w->nmodels; k++) {
        if (w->models[k] != r->model) continue;
        if (w->warmed[k]) return 0;
        w->warmed[k] = 1;
        return 1;
    }
    return 0;
}

/* A CPU worker answered r: after its warm-up run the measurement of what a
 * request costs there starts afresh (control.c), so that neither loading
 * the model nor its first run counts as a request's CPU. */
static void measure_cpu_start(serve_worker *w, const serve_request *r) {
    if (!warm_up(w, r)) return;
    r->model->cpu_mark = supervisor_cpu_seconds(w);
    r->model->cpu_mark_count = 0;
}

/* A GPU worker answered r (any answer, status code), at finish. */
static void measure_gpu(serve_worker *w, const serve_request *r, double finish, int ok) {
    double began = r->dispatch > w->last_finish ? r->dispatch : w->last_finish;
    w->last_finish = finish;
    if (!ok || !r->counted || warm_up(w, r)) return;
    serve_model *m = r->model;
    double sample = finish - began;
    m->gpu_service = m->gpu_samples ? m->gpu_service + GPU_SERVICE_WEIGHT * (sample - m->gpu_service)
                                    : sample; /* a measurement replaces `profiled` */
    m->gpu_samples++;
}

/* Cost-aware: whether a free slot of m's CPU worker w takes m's head, from
 * what the dispatcher holds now: w's requests, the ready GPUs' requests and
 * every queue they serve, each times its model's measured service time. */
static int cpu_takes(const serve_state *s, const serve_worker *w, const serve_model *m) {
    roma_cost_split v = {.cpu_service = m->cpu_cost, .cpu_cores = w->cores,
                         .gpu_service = m->gpu_service};
    for (int i = 0; i < w->nslots; i++) v.cpu_held += w->slots[i].req != NULL;
    for (size_t i = s->nmodels; i < s->nworkers; i++) {
        const serve_worker *g = &s->workers[i];
        if (g->state != WORKER_READY) continue;
        v.gpus++;
        for (int k = 0; k < g->nslots; k++)
            if (g->slots[k].req) v.gpu_work += g->slots[k].req->model->gpu_service;
    }
    for (size_t i = 0; v.gpus > 0 && i < s->nmodels; i++)
        v.gpu_work += (double)s->models[i].queue.len * s->models[i].gpu_service;
    v.gpu_work -= m->gpu_service; /* the newest request itself */
    return roma_cost_cpu_takes(&v);
}

/* ---- forwarding -------------------------------------------------------- */

static void on_worker_answer(roma_http_client *cl, int status, void *arg);

/* Formats w's Host and X-Roma-Max-Runs values when its address or its cap
 * changed since last time (host_port reset to 0 on a new host), not per
 * request. */
static void refresh_headers(serve_worker *w) {
    if (w->host_port != w->port) {
        snprintf(w->host_header, sizeof(w->host_header), "%s:%d", w->host, w->port);
        w->host_port = w->port;
    }
    if (w->runs_header_of != w->max_runs) {
        snprintf(w->runs_header, sizeof(w->runs_header), "%d", w->max_runs);
        w->runs_header_of = w->max_runs;
    }
}

/* A slot of w took a request / gave one up: w's busy time (the dashboard's
 * GPU busy share) runs while any slot holds one. */
static void slot_taken(serve_worker *w) {
    if (w->busy_slots++ == 0) w->busy_since = serve_now();
}

static void slot_freed(serve_worker *w) {
    if (w->busy_slots > 0 && --w->busy_slots == 0) w->busy_seconds += serve_now() - w->busy_since;
}

double dispatch_busy_seconds(const serve_worker *w, double now) {
    return w->busy_seconds + (w->busy_slots > 0 ? now - w->busy_since : 0);
}

static void send_to_slot(serve_state *s, serve_slot *slot, serve_request *r) {
    serve_worker *w = slot->worker;
    char headers[ROMA_SECRET_MAX_LEN + 256];
    refresh_headers(w);
    /* v2 with binary data: the worker finds the JSON's end by Inference-Header-Content-Length */
    snprintf(headers, sizeof(headers),
             "Content-Type: %s\r\n%s%s%sX-Roma-Max-Runs: %s\r\n" ROMA_WORKER_SECRET_HEADER ": %s\r\n",
             r->header_len ? "application/octet-stream" : "application/json",
             r->header_len ? "Inference-Header-Content-Length: " : "",
             r->header_len ? r->header_len : "", r->header_len ? "\r\n" : "", w->runs_header,
             s->worker_secret);
    r->slot = slot;
    r->attempts++;
    r->dispatch = serve_now();
    slot->req = r;
    slot_taken(w);
    /* The body is the client's, not a copy: it stays there for a retry. */
    if (roma_http_client_request(slot->conn, r->method, r->target, headers, r->body, r->body_len,
                                 on_worker_answer, slot) != 0) {
        slot_freed(w);
        slot->req = NULL;
        r->slot = NULL;
        answer(s, r, w, 503, NULL, "the worker could not be reached; retry");
    }
}

/* The model a free slot of w serves next, or NULL. */
static serve_model *pick_model(serve_state *s, serve_worker *w) {
    int cost_aware = s->policy.kind == ROMA_POLICY_COST_AWARE;
    if (w->gpu < 0) {
        serve_model *m = w->models[0];
        return m->queue.len && (!cost_aware || cpu_takes(s, w, m)) ? m : NULL;
    }
    roma_policy_queue q[64];
    size_t n = w->nmodels < 64 ? w->nmodels : 64;
    double now = serve_now();
    for (size_t i = 0; i < n; i++) {
        serve_model *m = w->models[i];
        /* The paper's heuristic works on the configured profile; cost-aware
         * on what is measured (which starts from the profile). */
        double profiled = m->cfg->profiled > 0 && !cost_aware ? m->cfg->profiled : m->gpu_service;
        q[i] = (roma_policy_queue){.sla = m->sla, .alpha = m->alpha, .profiled = profiled,
                                   .queue_len = m->queue.len, .sum_arrival = m->queue.sum_arrival,
                                   .oldest_arrival = m->queue.head ? m->queue.head->arrival : now,
                                   .recent_rt_mean = roma_rt_ring_mean(&m->recent),
                                   .cpu_cost = m->cpu_worker ? m->cpu_cost : 0};
    }
    int k = roma_policy_pick(&s->policy, q, n, now);
    return k < 0 ? NULL : w->models[k];
}

void dispatch_worker(serve_state *s, serve_worker *w) {
    if (w->state != WORKER_READY) return;
    for (int i = 0; i < w->active_slots; i++) {
        if (w->slots[i].req) continue;
        serve_model *m = pick_model(s, w);
        if (!m) return;
        serve_request *r = m->queue.head;
        queue_remove(&m->queue, r);
        send_to_slot(s, &w->slots[i], r);
    }
}

void dispatch_reconsider(serve_state *s) {
    if (s->policy.kind != ROMA_POLICY_COST_AWARE) return;
    for (size_t i = 0; i < s->nmodels; i++)
        if (s->models[i].cpu_worker && s->models[i].queue.len) dispatch_worker(s, s->models[i].cpu_worker);
}

/* Offers model m's new work to every worker that serves it; with
 * cost-aware dispatch the GPUs now have more ahead, so the other models'
 * CPU workers that left their queues to them are asked again. */
static void dispatch_model(serve_state *s, serve_model *m) {
    if (m->cpu_worker) dispatch_worker(s, m->cpu_worker);
    for (size_t i = s->nmodels; i < s->nworkers && m->queue.len; i++) dispatch_worker(s, &s->workers[i]);
    dispatch_reconsider(s);
}

/* Whether some worker can still serve m (while stopping: is serving now,
 * since nothing is restarted then). */
static int worker_usable(const serve_state *s, const serve_worker *w) {
    return s->draining ? w->state == WORKER_READY : w->state != WORKER_FAILED;
}

static int model_servable(const serve_state *s, const serve_model *m) {
    if (m->cpu_worker && worker_usable(s, m->cpu_worker)) return 1;
    for (size_t i = s->nmodels; i < s->nworkers; i++)
        if (worker_usable(s, &s->workers[i])) return 1;
    return 0;
}

/* A request that met a dead worker: back to the head of its queue once. */
static void retry_or_fail(serve_state *s, serve_request *r, serve_worker *w) {
    r->slot = NULL;
    if (r->attempts >= 2 || !model_servable(s, r->model)) {
        answer(s, r, w, 503, NULL, "the worker serving this model failed twice; retry later");
        return;
    }
    if (w) w->resent++;
    queue_push(&r->model->queue, r, 1);
    dispatch_model(s, r->model);
}

static void on_worker_answer(roma_http_client *cl, int code, void *arg) {
    serve_slot *slot = arg;
    serve_worker *w = slot->worker;
    serve_state *s = w->state_owner;
    serve_request *r = slot->req;
    slot->req = NULL;
    if (!r) return;
    slot_freed(w);
    if (w->gpu >= 0) measure_gpu(w, r, serve_now(), code == 200);
    else if (code == 200 && r->counted) measure_cpu_start(w, r);
    if (code == 0) {
        supervisor_suspect(s, w); /* before the retry, so it waits for a live worker */
        retry_or_fail(s, r, w);
    } else {
        answer(s, r, w, code, cl, NULL);
    }
    if (s->draining || w->state == WORKER_READY) dispatch_worker(s, w);
}

void dispatch_fail_unservable(serve_state *s) {
    for (size_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].state != WORKER_READY) dispatch_worker_lost(s, &s->workers[i]);
}

void dispatch_worker_lost(serve_state *s, serve_worker *w) {
    /* In-flight requests come back through on_worker_answer when their
     * connections fail; queued ones wait for the restart, unless the
     * model has no worker left. */
    for (size_t i = 0; i < w->nmodels; i++) {
        serve_model *m = w->models[i];
        while (!model_servable(s, m) && m->queue.head) {
            serve_request *r = m->queue.head;
            queue_remove(&m->queue, r);
            answer(s, r, NULL, 503, NULL, "no worker can serve this model; see /roma/v1/workers");
        }
    }
    if (w->gpu >= 0) dispatch_reconsider(s); /* cost-aware: its queues may go to CPUs now */
}

/* ---- the front end ----------------------------------------------------- */

/* Frees the slot of an in-flight request (the worker's answer is dropped:
 * closing the connection tells the worker, which then skips the job). */
static serve_worker *release_slot(serve_request *r) {
    serve_slot *slot = r->slot;
    if (!slot) return NULL;
    roma_http_client_cancel(slot->conn);
    slot_freed(slot->worker);
    slot->req = NULL;
    r->slot = NULL;
    return slot->worker;
}

/* The client went away: the request gives up its place or its slot, and
 * its answer (499, which nobody reads) frees it. */
static void on_client_closed(roma_http_req *req, void *arg) {
    serve_request *r = arg;
    serve_state *s = r->model->owner;
    serve_worker *w = release_slot(r);
    (void)req;
    if (!w) queue_remove(&r->model->queue, r);
    answer(s, r, NULL, 499, NULL, "client closed the connection");
    if (w) dispatch_worker(s, w);
}

/* ---- accepting --------------------------------------------------------- */

serve_model *dispatch_find_model(serve_state *s, const char *name) {
    for (size_t i = 0; i < s->nmodels; i++)
        if (strcmp(s->models[i].cfg->name, name) == 0) return &s->models[i];
    return NULL;
}

static void reply_error(roma_http_req *req, roma_code code, const char *msg, int retry) {
    roma_buf b = ROMA_BUF_INIT;
    int status = rest_error(&b, code, msg);
    roma_http_reply(req, status, "application/json", retry ? "Retry-After: 1\r\n" : NULL, b.data,
                    b.len);
    roma_buf_free(&b);
}

static serve_request *accept_request(serve_state *s, roma_http_req *req, serve_model *m,
                                     int counted, const char *header_len) {
    serve_request *r = calloc(1, sizeof(*r));
    if (!r) abort();
    r->client = req;
    r->model = m;
    r->method = roma_http_method(req);
    r->target = roma_http_target(req);
    r->body = roma_http_body(req, &r->body_len); /* borrowed until the answer */
    r->header_len = header_len;
    s->inflight_bytes += r->body_len;
    r->id = ++s->next_id;
    r->counted = counted;
    m->win_arrivals += (size_t)r->counted; /* the controller's window */
    r->arrival = serve_now();
    s->inflight++;
    roma_http_set_close_cb(req, on_client_closed, r);
    return r;
}

/* Queues req for model m, TF Serving's API and v2 alike, or refuses it:
 * roma serve stopping, no worker left for m or limits.inflight_mb of
 * bodies held (503), m's queue full (429).  counted: an inference;
 * header_len: v2's Inference-Header-Content-Length to forward, or NULL. */
static void admit(serve_state *s, roma_http_req *req, serve_model *m, int counted,
                  const char *header_len) {
    size_t body_len;
    (void)roma_http_body(req, &body_len);
    if (s->draining) {
        reply_error(req, ROMA_UNAVAILABLE, "roma serve is stopping", 1);
    } else if (m->queue.len >= (size_t)s->cfg.queue_limit) {
        ops_count(m, 0, 429, 0);
        reply_error(req, ROMA_RESOURCE_EXHAUSTED,
                    "the model's queue is full (dispatch.queue_limit); retry later", 1);
    } else if (!model_servable(s, m)) {
        reply_error(req, ROMA_UNAVAILABLE, "no worker can serve this model; see /roma/v1/workers", 1);
    } else if (s->inflight_bytes + body_len > s->cfg.max_inflight_bytes) {
        ops_count(m, 0, 503, 0);
        reply_error(req, ROMA_UNAVAILABLE, "roma serve holds limits.inflight_mb of request bodies "
                    "already; retry later", 1);
    } else {
        queue_push(&m->queue, accept_request(s, req, m, counted, header_len), 0);
        dispatch_model(s, m);
    }
}

static void on_v1_request(serve_state *s, roma_http_req *req, const char *method,
                          const char *path) {
    rest_route route;
    roma_err err;
    roma_code rc;
    serve_model *m;
    if ((rc = rest_parse_route(method, path, &route, &err)) != ROMA_OK) {
        reply_error(req, rc, err.msg, 0);
    } else if (!(m = dispatch_find_model(s, route.model))) {
        snprintf(err.msg, sizeof(err.msg), "Servable not found for request: Latest(%s)", route.model);
        reply_error(req, ROMA_NOT_FOUND, err.msg, 0);
    } else {
        admit(s, req, m, route.verb == REST_PREDICT || route.verb == REST_CLASSIFY ||
                         route.verb == REST_REGRESS, NULL);
    }
}

/* ---- the Open Inference Protocol (v2) ---------------------------------- */

dispatch_v2_action dispatch_v2_action_of(const v2_route *r, int model_known, int model_ready,
                                         int all_ready) {
    switch (r->verb) {
    case V2_LIVE: return DISPATCH_V2_OK;
    case V2_READY: return all_ready ? DISPATCH_V2_OK : DISPATCH_V2_NOT_READY;
    case V2_SERVER_METADATA: return DISPATCH_V2_SERVER_METADATA;
    default: break;
    }
    if (!model_known) return DISPATCH_V2_UNKNOWN_MODEL;
    if (r->verb != V2_MODEL_READY) return DISPATCH_V2_FORWARD;
    if (!model_ready) return DISPATCH_V2_NOT_READY;
    return r->version[0] ? DISPATCH_V2_FORWARD : DISPATCH_V2_OK;
}

/* Whether a worker of m is ready now (a worker opens its port only once
 * its models are loaded). */
static int model_ready(const serve_state *s, const serve_model *m) {
    if (s->draining) return 0;
    if (m->cpu_worker && m->cpu_worker->state == WORKER_READY) return 1;
    for (size_t i = s->nmodels; i < s->nworkers; i++)
        if (s->workers[i].state == WORKER_READY) return 1;
    return 0;
}

/* The first model without a ready worker, or NULL when all have one. */
static const serve_model *unready_model(const serve_state *s) {
    for (size_t i = 0; i < s->nmodels; i++)
        if (!model_ready(s, &s->models[i])) return &s->models[i];
    return NULL;
}

static void reply_not_ready(serve_state *s, roma_http_req *req, const serve_model *m) {
    char msg[512];
    if (s->draining)
        snprintf(msg, sizeof(msg), "not ready: roma serve is stopping");
    else
        snprintf(msg, sizeof(msg), "not ready: model '%s' has no ready worker now (its state is in "
                 "GET /roma/v1/workers)", m ? m->cfg->name : "");
    reply_error(req, ROMA_FAILED_PRECONDITION, msg, 0);
}

static void on_v2_request(serve_state *s, roma_http_req *req, const char *method,
                          const char *path) {
    v2_route route;
    roma_err err;
    roma_buf b = ROMA_BUF_INIT;
    roma_code rc = rest_parse_v2_route(method, path, &route, &err);
    if (rc != ROMA_OK) {
        reply_error(req, rc, err.msg, 0);
        return;
    }
    serve_model *m = route.model[0] ? dispatch_find_model(s, route.model) : NULL;
    /* Only readiness looks at every model: an inference does not pay for it. */
    const serve_model *unready = route.verb == V2_READY ? unready_model(s) : NULL;
    switch (dispatch_v2_action_of(&route, m != NULL, m && model_ready(s, m), !unready)) {
    case DISPATCH_V2_OK:
        roma_http_reply(req, 200, "application/json", NULL, "", 0);
        break;
    case DISPATCH_V2_SERVER_METADATA:
        rest_v2_server_metadata(&b);
        roma_http_reply(req, 200, "application/json", NULL, b.data, b.len);
        roma_buf_free(&b);
        break;
    case DISPATCH_V2_UNKNOWN_MODEL:
        snprintf(err.msg, sizeof(err.msg), "unknown model '%s': roma serve serves the models of "
                 "its config (GET /roma/v1/models lists them)", route.model);
        reply_error(req, ROMA_NOT_FOUND, err.msg, 0);
        break;
    case DISPATCH_V2_NOT_READY:
        reply_not_ready(s, req, m ? m : unready);
        break;
    case DISPATCH_V2_FORWARD: {
        const char *header_len = roma_http_header(req, "Inference-Header-Content-Length");
        admit(s, req, m, route.verb == V2_INFER, route.verb == V2_INFER ? header_len : NULL);
        break;
    }
    }
}

void dispatch_on_request(roma_http_req *req, void *arg) {
    serve_state *s = arg;
    char *path = roma_http_path(roma_http_target(req));
    const char *method = roma_http_method(req);
    if (!ops_handle(s, req, path)) {
        if (rest_is_v2_path(path)) on_v2_request(s, req, method, path);
        else on_v1_request(s, req, method, path);
    }
    free(path);
}

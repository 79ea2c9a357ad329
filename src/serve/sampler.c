/* sampler.c - the dashboard's time series inside `roma serve`.
 *
 * Every SAMPLER_PERIOD_S a timer closes an interval: per model it takes
 * the counters' growth since the last sample (answers by device and
 * status, violations), the quantiles of the response times dispatch.c
 * added to the model's history_rt_acc, the queue length and cores now,
 * and the CPU its worker really used (supervisor_cpu_seconds: /proc and
 * wait4, restarts included) over the interval; per GPU the share of the
 * interval its worker had a request in flight.  The sample goes into the
 * history ring (history.h), which /roma/v1/history reads, and to the
 * store, one row per model and GPU, so that a restarted roma serve on the
 * same store starts with the last hour filled in.
 *
 * Times: intervals are measured on the monotonic clock; a sample is
 * stamped with its end as UNIX seconds (serve_unix_time), the time
 * readers pass back as `since`.
 */
#include "serve.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "worker/route.h"

#define SAMPLER_PERIOD_S 1.0

typedef struct {
    uint64_t count[SERVE_DEVICES][SERVE_CODES]; /* serve_counters.count at the last sample */
    uint64_t violations;
    double cpu_seconds;
} sampler_model;

typedef struct serve_sampler {
    history_ring ring;
    const char **names;      /* the models' names, for the JSON */
    sampler_model *prev;     /* per model */
    history_point *points;   /* per model: the sample being made */
    double *gpu_busy;        /* per GPU: the sample being made */
    double *gpu_prev;        /* per GPU: busy seconds at the last sample */
    double last;             /* serve_now() of the last sample */
    struct event *timer;
} serve_sampler;

/* The GPUs the history follows: the first HISTORY_DEVICES - 1 (the
 * counters of serve.h have no room for more). */
static size_t sampler_ngpus(const serve_state *s) {
    return s->cfg.ngpus < HISTORY_DEVICES - 1 ? s->cfg.ngpus : HISTORY_DEVICES - 1;
}

/* The worker of GPU g: workers after the models' CPU workers, in the
 * config's order (supervisor.c), or NULL in cluster mode without it. */
static serve_worker *gpu_worker(serve_state *s, size_t g) {
    size_t i = s->nmodels + g;
    return i < s->nworkers && s->workers[i].gpu >= 0 ? &s->workers[i] : NULL;
}

static void count_answers(const serve_model *m, sampler_model *prev, history_point *p) {
    const serve_counters *c = &m->counters;
    for (int d = 0; d < SERVE_DEVICES; d++) {
        for (int k = 0; k < SERVE_CODES && c->code[k]; k++) {
            uint32_t n = (uint32_t)(c->count[d][k] - prev->count[d][k]);
            prev->count[d][k] = c->count[d][k];
            if (c->code[k] == 200) p->ok[d < HISTORY_DEVICES ? d : HISTORY_DEVICES - 1] += n;
            else if (c->code[k] == 429) p->rejected += n;
            else p->failed += n;
        }
    }
}

static void sample_model(serve_model *m, sampler_model *prev, double dt, history_point *p) {
    memset(p, 0, sizeof(*p));
    p->present = 1;
    p->sla = m->sla;
    p->p50 = history_rt_quantile(&m->hist_rt, 0.50);
    p->p95 = history_rt_quantile(&m->hist_rt, 0.95);
    p->p99 = history_rt_quantile(&m->hist_rt, 0.99);
    p->mean = history_rt_mean(&m->hist_rt);
    history_rt_reset(&m->hist_rt);
    count_answers(m, prev, p);
    p->violations = (uint32_t)(m->violations - prev->violations);
    prev->violations = m->violations;
    p->queue = (uint32_t)m->queue.len;
    p->cores = m->cpu_worker ? m->cpu_worker->cores : 0;
    double cpu = m->cpu_worker ? supervisor_cpu_seconds(m->cpu_worker) : 0;
    p->cpu_used = dt > 0 && cpu >= prev->cpu_seconds ? (cpu - prev->cpu_seconds) / dt : 0;
    prev->cpu_seconds = cpu;
}

/* Writes the sample ending at t to the store, a row per model and GPU. */
static void store_sample(serve_state *s, double t) {
    serve_sampler *h = s->sampler;
    roma_buf b = ROMA_BUF_INIT;
    if (!s->store) return;
    for (size_t i = 0; i < s->nmodels; i++) {
        b.len = 0;
        history_point_json(&h->points[i], &b);
        store_add_history(s->store, t, s->models[i].cfg->name, b.data);
    }
    for (size_t g = 0; g < sampler_ngpus(s); g++) {
        char series[16];
        b.len = 0;
        roma_buf_printf(&b, "{\"busy\": %.4f}", h->gpu_busy[g]);
        snprintf(series, sizeof(series), "gpu:%d", s->cfg.gpus[g]);
        store_add_history(s->store, t, series, b.data);
    }
    roma_buf_free(&b);
}

static void on_sample(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    serve_sampler *h = s->sampler;
    double now = serve_now(), dt = now - h->last;
    (void)fd, (void)what;
    h->last = now;
    for (size_t i = 0; i < s->nmodels; i++) sample_model(&s->models[i], &h->prev[i], dt, &h->points[i]);
    for (size_t g = 0; g < sampler_ngpus(s); g++) {
        serve_worker *w = gpu_worker(s, g);
        double busy = w ? dispatch_busy_seconds(w, now) : 0;
        h->gpu_busy[g] = dt > 0 ? fmin(1.0, fmax(0.0, (busy - h->gpu_prev[g]) / dt)) : 0;
        h->gpu_prev[g] = busy;
    }
    /* Whole milliseconds, as the JSON writes them: a reader's `since` (the
     * "last" it was given) then equals the sample's t, not just below it. */
    double t = round(serve_unix_time(now) * 1000) / 1000;
    if (history_ring_push(&h->ring, t, h->points, h->gpu_busy) == 0) store_sample(s, t);
}

/* ---- the past, from the store ------------------------------------------- */

/* Rows come oldest first; those of one t make one sample. */
typedef struct {
    serve_state *s;
    double t, now;
    int pending, bad_logged;
} sampler_loader;

static void flush_loaded(sampler_loader *l) {
    serve_sampler *h = l->s->sampler;
    if (l->pending) history_ring_push(&h->ring, l->t, h->points, h->gpu_busy);
    l->pending = 0;
    memset(h->points, 0, l->s->nmodels * sizeof(*h->points)); /* absent unless a row says */
    memset(h->gpu_busy, 0, sampler_ngpus(l->s) * sizeof(double));
}

static void load_row(void *arg, double t, const char *series, const char *data) {
    sampler_loader *l = arg;
    serve_state *s = l->s;
    serve_sampler *h = s->sampler;
    roma_err err;
    /* After the wall clock stepped back, samples "from the future" would
     * keep every new one out of the ring (time order): they are left out. */
    if (t > l->now) return;
    if (l->pending && t != l->t) flush_loaded(l);
    l->t = t;
    for (size_t i = 0; i < s->nmodels; i++) {
        if (strcmp(series, s->models[i].cfg->name) != 0) continue;
        if (history_point_parse(data, &h->points[i], &err) != ROMA_OK) {
            if (!l->bad_logged++) roma_warn("%s: skipped", err.msg);
            return;
        }
        l->pending = 1;
        return;
    }
    for (size_t g = 0; g < sampler_ngpus(s); g++) {
        char name[16];
        snprintf(name, sizeof(name), "gpu:%d", s->cfg.gpus[g]);
        if (strcmp(series, name) != 0) continue;
        json_error_t je;
        json_t *o = json_loads(data, 0, &je);
        h->gpu_busy[g] = json_number_value(json_object_get(o, "busy"));
        json_decref(o);
        l->pending = 1;
    }
    /* A series no longer configured (a model removed since) is left out. */
}

static void load_past(serve_state *s) {
    sampler_loader l = {.s = s, .now = serve_unix_time(serve_now())};
    roma_err err;
    double since = l.now - HISTORY_HORIZON * SAMPLER_PERIOD_S;
    if (!s->store) return;
    flush_loaded(&l);
    if (store_read_history(s->store, since, load_row, &l, &err) != ROMA_OK)
        roma_warn("%s: the dashboard starts without the past", err.msg);
    flush_loaded(&l);
    if (s->sampler->ring.len)
        roma_info("history: %zu samples of the last hour read from the store",
                  s->sampler->ring.len);
}

/* ---- start, stop, read -------------------------------------------------- */

void sampler_start(serve_state *s) {
    serve_sampler *h = calloc(1, sizeof(*h));
    roma_err err;
    if (!h) abort();
    s->sampler = h;
    h->names = calloc(s->nmodels + 1, sizeof(char *));
    h->prev = calloc(s->nmodels + 1, sizeof(sampler_model));
    h->points = calloc(s->nmodels + 1, sizeof(history_point));
    h->gpu_busy = calloc(sampler_ngpus(s) + 1, sizeof(double));
    h->gpu_prev = calloc(sampler_ngpus(s) + 1, sizeof(double));
    if (!h->names || !h->prev || !h->points || !h->gpu_busy || !h->gpu_prev) abort();
    for (size_t i = 0; i < s->nmodels; i++) h->names[i] = s->models[i].cfg->name;
    if (history_ring_init(&h->ring, HISTORY_HORIZON, s->nmodels, s->cfg.gpus, sampler_ngpus(s),
                          &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        abort();
    }
    load_past(s);
    /* The first interval counts from now: not the workers' start-up CPU. */
    for (size_t i = 0; i < s->nmodels; i++)
        if (s->models[i].cpu_worker) h->prev[i].cpu_seconds = supervisor_cpu_seconds(s->models[i].cpu_worker);
    h->last = serve_now();
    struct timeval tv = {(time_t)SAMPLER_PERIOD_S, 0};
    h->timer = event_new(s->base, -1, EV_PERSIST, on_sample, s);
    event_add(h->timer, &tv);
}

void sampler_stop(serve_state *s) {
    serve_sampler *h = s->sampler;
    if (!h) return;
    if (h->timer) event_free(h->timer);
    history_ring_free(&h->ring);
    free(h->names);
    free(h->prev);
    free(h->points);
    free(h->gpu_busy);
    free(h->gpu_prev);
    free(h);
    s->sampler = NULL;
}

/* A finite number, the whole value: "1733300000.5", not "12abc" or "nan". */
static int parse_since(const char *v, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x)) return -1;
    *out = x;
    return 0;
}

int sampler_write_history(serve_state *s, roma_http_req *req, roma_buf *out) {
    const char *target = roma_http_target(req);
    char since_b[64], model_b[256];
    double since = -INFINITY;
    int only = -1, status = 200;
    int has_since = roma_http_query(target, "since", since_b, sizeof(since_b));
    int has_model = roma_http_query(target, "model", model_b, sizeof(model_b));
    if (has_since < 0 || has_model < 0)
        return rest_error(out, ROMA_INVALID_ARGUMENT,
                          "cannot read the query string: use ?since=UNIX_SECONDS&model=NAME");
    const char *since_v = has_since ? since_b : NULL, *model_v = has_model ? model_b : NULL;
    if (since_v && parse_since(since_v, &since) != 0)
        status = rest_error(out, ROMA_INVALID_ARGUMENT,
                            "since must be a number of UNIX seconds (the \"last\" of the previous "
                            "answer), such as since=1733300000.5");
    if (status == 200 && model_v) {
        serve_model *m = dispatch_find_model(s, model_v);
        if (m) only = (int)(m - s->models);
        else status = rest_error(out, ROMA_NOT_FOUND, "no such model: GET /roma/v1/models lists them");
    }
    if (status == 200)
        history_write_json(&s->sampler->ring, since, s->sampler->names, only, SAMPLER_PERIOD_S,
                           out);
    return status;
}

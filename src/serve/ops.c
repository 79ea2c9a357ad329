/* ops.c - what an operator reads and changes while `roma serve` runs
 * (DESIGN.md §6):
 *
 *   GET   /metrics                  Prometheus text format
 *   GET   /roma/v1/models           SLA, cores, queue, window and totals per model
 *   PATCH /roma/v1/models/{name}    {"sla": seconds} and/or {"alpha": a}
 *   GET   /roma/v1/workers          worker processes, cgroups and states
 *   GET   /roma/v1/controller       the controller's last decision per model
 *   GET   /roma/v1/history          the per-second time series (sampler.c)
 *   GET   /, /dashboard/...         the dashboard page (dashboard.c; no data,
 *                                   so open: it reads the endpoints above)
 *
 * Every change (any method but GET and HEAD) needs the operations token
 * as "Authorization: Bearer TOKEN" (RFC 6750); reads need it only with
 * ops.read: token.  No token: 401 with WWW-Authenticate; a wrong one: 403.
 * TF Serving's API (/v1/...) is not ours and stays open: its clients send
 * no token.
 */
#include "serve.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/secret.h"
#include "worker/route.h"

static const double bucket_bounds[SERVE_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                    0.5,   1,    2.5,   5,    10,  30};

void ops_count(serve_model *m, int device, int status, double rt) {
    serve_counters *c = &m->counters;
    int col = SERVE_CODES - 1; /* the last column takes any overflow */
    if (device < 0 || device >= SERVE_DEVICES) device = SERVE_DEVICES - 1;
    for (int i = 0; i < SERVE_CODES; i++) {
        if (c->code[i] == status || c->code[i] == 0) {
            col = i;
            c->code[i] = status;
            break;
        }
    }
    c->count[device][col]++;
    if (rt <= 0) return;
    int b = 0;
    while (b < SERVE_BUCKETS && rt > bucket_bounds[b]) b++;
    c->bucket[device][b]++;
    c->rt_sum[device] += rt;
    c->rt_count[device]++;
}

static const char *device_label(int d, char *buf, size_t cap) {
    if (d == 0) return "cpu";
    snprintf(buf, cap, "gpu:%d", d - 1);
    return buf;
}

static double live_core_seconds(const serve_state *s, const serve_model *m) {
    double cores = m->cpu_worker ? m->cpu_worker->cores : 0;
    return m->core_seconds + cores * (serve_now() - s->last_tick);
}

static void metrics_histogram(struct evbuffer *o, const serve_model *m) {
    const serve_counters *c = &m->counters;
    char dev[16];
    for (int d = 0; d < SERVE_DEVICES; d++) {
        if (!c->rt_count[d]) continue;
        const char *dl = device_label(d, dev, sizeof(dev));
        uint64_t cum = 0;
        for (int b = 0; b <= SERVE_BUCKETS; b++) {
            cum += c->bucket[d][b];
            if (b < SERVE_BUCKETS)
                evbuffer_add_printf(o, "roma_request_duration_seconds_bucket{model=\"%s\",device=\"%s\",le=\"%g\"} %llu\n",
                                    m->cfg->name, dl, bucket_bounds[b], (unsigned long long)cum);
            else
                evbuffer_add_printf(o, "roma_request_duration_seconds_bucket{model=\"%s\",device=\"%s\",le=\"+Inf\"} %llu\n",
                                    m->cfg->name, dl, (unsigned long long)cum);
        }
        evbuffer_add_printf(o, "roma_request_duration_seconds_sum{model=\"%s\",device=\"%s\"} %.6f\n",
                            m->cfg->name, dl, c->rt_sum[d]);
        evbuffer_add_printf(o, "roma_request_duration_seconds_count{model=\"%s\",device=\"%s\"} %llu\n",
                            m->cfg->name, dl, (unsigned long long)c->rt_count[d]);
    }
}

static void write_metrics(serve_state *s, struct evbuffer *o) {
    char dev[16];
    evbuffer_add_printf(o, "# HELP roma_requests_total Requests answered, by model, device and HTTP code.\n"
                           "# TYPE roma_requests_total counter\n");
    for (size_t i = 0; i < s->nmodels; i++) {
        const serve_counters *c = &s->models[i].counters;
        for (int d = 0; d < SERVE_DEVICES; d++)
            for (int k = 0; k < SERVE_CODES && c->code[k]; k++)
                if (c->count[d][k])
                    evbuffer_add_printf(o, "roma_requests_total{model=\"%s\",device=\"%s\",code=\"%d\"} %llu\n",
                                        s->models[i].cfg->name, device_label(d, dev, sizeof(dev)),
                                        c->code[k], (unsigned long long)c->count[d][k]);
    }
    evbuffer_add_printf(o, "# HELP roma_request_duration_seconds Response time (arrival to answer).\n"
                           "# TYPE roma_request_duration_seconds histogram\n");
    for (size_t i = 0; i < s->nmodels; i++) metrics_histogram(o, &s->models[i]);
    static const char *gauges[][3] = {
        {"roma_queue_length", "gauge", "Requests waiting in the model's queue."},
        {"roma_requests_in_flight", "gauge", "Requests sent to a worker and not answered yet."},
        {"roma_cores_allocated", "gauge", "CPU cores of the model's CPU worker (cgroup quota read back)."},
        {"roma_sla_seconds", "gauge", "The model's response-time constraint."},
        {"roma_sla_violations_total", "counter", "Answered requests slower than the SLA."},
        {"roma_core_seconds_total", "counter", "Integral of the allocated cores over time."},
    };
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", gauges[g][0], gauges[g][2], gauges[g][0], gauges[g][1]);
        for (size_t i = 0; i < s->nmodels; i++) {
            const serve_model *m = &s->models[i];
            double v = g == 0 ? (double)m->queue.len
                       : g == 1 ? (double)dispatch_in_flight(s, m)
                       : g == 2 ? (m->cpu_worker ? m->cpu_worker->cores : 0)
                       : g == 3 ? m->sla
                       : g == 4 ? (double)m->violations : live_core_seconds(s, m);
            evbuffer_add_printf(o, "%s{model=\"%s\"} %.6g\n", gauges[g][0], m->cfg->name, v);
        }
    }
    evbuffer_add_printf(o, "# HELP roma_request_body_bytes_held Bytes of request bodies roma serve "
                           "holds until their answers (limited by limits.inflight_mb).\n"
                           "# TYPE roma_request_body_bytes_held gauge\nroma_request_body_bytes_held %zu\n",
                        s->inflight_bytes);
    evbuffer_add_printf(o, "# HELP roma_worker_cpu_seconds_total CPU time (user + system) the worker's "
                           "processes used, restarts included.\n# TYPE roma_worker_cpu_seconds_total counter\n");
    for (size_t i = 0; i < s->nworkers; i++)
        evbuffer_add_printf(o, "roma_worker_cpu_seconds_total{worker=\"%s\"} %.3f\n", s->workers[i].name,
                            supervisor_cpu_seconds(&s->workers[i]));
    evbuffer_add_printf(o, "# HELP roma_worker_requests_resent_total Requests whose connection to "
                           "the worker failed (it died or restarted), queued again once.\n"
                           "# TYPE roma_worker_requests_resent_total counter\n");
    for (size_t i = 0; i < s->nworkers; i++)
        evbuffer_add_printf(o, "roma_worker_requests_resent_total{worker=\"%s\"} %llu\n",
                            s->workers[i].name, s->workers[i].resent);
    evbuffer_add_printf(o, "# HELP roma_gpu_busy_seconds_total Time the GPU's worker had a request in "
                           "flight.\n# TYPE roma_gpu_busy_seconds_total counter\n");
    for (size_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].gpu >= 0)
            evbuffer_add_printf(o, "roma_gpu_busy_seconds_total{gpu=\"gpu:%d\"} %.3f\n", s->workers[i].gpu,
                                dispatch_busy_seconds(&s->workers[i], serve_now()));
}

static void write_models(serve_state *s, struct evbuffer *o) {
    evbuffer_add_printf(o, "{\"models\": [");
    for (size_t i = 0; i < s->nmodels; i++) {
        const serve_model *m = &s->models[i];
        evbuffer_add_printf(o,
                            "%s{\"name\": \"%s\", \"sla\": %g, \"alpha\": %g, \"cores\": %g, "
                            "\"queue_length\": %zu, \"in_flight\": %zu, \"completed\": %llu, "
                            "\"rt_mean_window\": %g, "
                            "\"violations\": %llu, \"core_seconds\": %g, "
                            "\"gpu_service\": %g, \"cpu_cost\": %g}",
                            i ? ", " : "", m->cfg->name, m->sla, m->alpha,
                            m->cpu_worker ? m->cpu_worker->cores : 0, m->queue.len,
                            dispatch_in_flight(s, m), (unsigned long long)m->completed, m->rt_mean_window,
                            (unsigned long long)m->violations, live_core_seconds(s, m),
                            m->gpu_service, m->cpu_cost);
    }
    evbuffer_add_printf(o, "]}");
}

static void write_workers(serve_state *s, struct evbuffer *o) {
    evbuffer_add_printf(o, "{\"cgroups\": \"%s\", \"cgroups_note\": ", cg_mode_name(s->cg.mode));
    roma_buf note = ROMA_BUF_INIT;
    roma_buf_json_string(&note, s->cg.reason, strlen(s->cg.reason));
    evbuffer_add(o, note.data, note.len);
    roma_buf_free(&note);
    evbuffer_add_printf(o, ", \"workers\": [");
    for (size_t i = 0; i < s->nworkers; i++) {
        const serve_worker *w = &s->workers[i];
        evbuffer_add_printf(o, "%s{\"name\": \"%s\", \"models\": [", i ? ", " : "", w->name);
        for (size_t k = 0; k < w->nmodels; k++)
            evbuffer_add_printf(o, "%s\"%s\"", k ? ", " : "", w->models[k]->cfg->name);
        if (w->gpu < 0) evbuffer_add_printf(o, "], \"device\": \"cpu\"");
        else evbuffer_add_printf(o, "], \"device\": \"gpu:%d\"", w->gpu);
        /* A stand-in's cores are its CPUs, fixed: the controller never sets them. */
        double cores = w->gpu < 0 ? w->cores : w->standin ? (double)w->standin->ncpus : 0;
        evbuffer_add_printf(o, ", \"pid\": %d, \"port\": %d, \"cores\": %g, \"slots\": %d, \"cgroup\": ",
                            (int)w->pid, w->port, cores, w->active_slots);
        if (w->cgroup[0]) evbuffer_add_printf(o, "\"%s\"", w->cgroup);
        else evbuffer_add_printf(o, "null");
        if (w->standin) { /* node.gpu_standins: a CPU set standing in for a GPU */
            evbuffer_add_printf(o, ", \"standin_cpus\": [");
            for (size_t k = 0; k < w->standin->ncpus; k++)
                evbuffer_add_printf(o, "%s%d", k ? ", " : "", w->standin->cpus[k]);
            evbuffer_add_printf(o, "]");
        }
        evbuffer_add_printf(o, ", \"state\": \"%s\", \"restarts\": %d, \"resent\": %llu, "
                            "\"cpu_seconds\": %.3f", supervisor_state_name(w->state), w->restarts,
                            w->resent, supervisor_cpu_seconds(w));
        evbuffer_add_printf(o, ", \"cores_error\": ");
        if (w->cores_error[0]) {
            roma_buf why = ROMA_BUF_INIT;
            roma_buf_json_string(&why, w->cores_error, strlen(w->cores_error));
            evbuffer_add(o, why.data, why.len);
            roma_buf_free(&why);
        } else {
            evbuffer_add_printf(o, "null");
        }
        cluster_write_worker(s, w, o); /* pod, node, desired vs actual cores (cluster mode) */
        evbuffer_add(o, "}", 1);
    }
    evbuffer_add_printf(o, "]}");
}

/* PATCH /roma/v1/models/{name}: {"sla": s} and/or {"alpha": a}. */
static int patch_model(serve_state *s, roma_http_req *req, const char *name, roma_buf *err) {
    serve_model *m = dispatch_find_model(s, name);
    if (!m) return rest_error(err, ROMA_NOT_FOUND, "no such model: GET /roma/v1/models lists them");
    size_t len;
    const char *text = roma_http_body(req, &len);
    json_error_t je;
    json_t *body = json_loadb(text, len, 0, &je);
    json_t *sla = body ? json_object_get(body, "sla") : NULL;
    json_t *alpha = body ? json_object_get(body, "alpha") : NULL;
    int status = 200;
    if (!json_is_object(body) || (!sla && !alpha) || json_object_size(body) != (size_t)((sla != NULL) + (alpha != NULL)))
        status = rest_error(err, ROMA_INVALID_ARGUMENT, "send a JSON object {\"sla\": seconds} and/or {\"alpha\": 0..1}");
    else if (sla && (!json_is_number(sla) || serve_config_sla_problem(json_number_value(sla))))
        status = rest_error(err, ROMA_INVALID_ARGUMENT, serve_config_sla_problem(-1));
    else if (alpha && (!json_is_number(alpha) || serve_config_alpha_problem(json_number_value(alpha))))
        status = rest_error(err, ROMA_INVALID_ARGUMENT, serve_config_alpha_problem(-1));
    if (status == 200) {
        if (sla) m->sla = json_number_value(sla);
        if (alpha) m->alpha = json_number_value(alpha);
    }
    json_decref(body);
    return status;
}

static void reply(roma_http_req *req, int status, struct evbuffer *o, const char *type,
                  const char *extra_headers) {
    size_t len = evbuffer_get_length(o);
    roma_http_reply(req, status, type, extra_headers, evbuffer_pullup(o, -1), len);
}

/* The token of an "Authorization: Bearer TOKEN" header (the scheme is
 * case-insensitive, RFC 7235), or NULL; *len is its length. */
static const char *bearer_token(roma_http_req *req, size_t *len) {
    const char *h = roma_http_header(req, "Authorization");
    if (!h) return NULL;
    h += strspn(h, " \t");
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    h += strspn(h, " \t");
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    *len = n;
    return n ? h : NULL;
}

/* Whether req may go on to its endpoint; when not, it is answered here. */
static int authorized(serve_state *s, roma_http_req *req, int changes) {
    size_t len = 0;
    const char *token;
    if (!changes && s->cfg.ops_read == SERVE_OPS_READ_OPEN) return 1;
    token = bearer_token(req, &len);
    if (token && s->ops_token[0] && roma_secret_equal(token, len, s->ops_token)) return 1;
    roma_buf err = ROMA_BUF_INIT;
    int status;
    if (!token) {
        status = rest_error(&err, ROMA_UNAUTHENTICATED,
                            "this operations endpoint needs the token: send 'Authorization: "
                            "Bearer TOKEN' with the token in the file roma serve logged at start "
                            "(ops.token_file)");
    } else {
        status = rest_error(&err, ROMA_PERMISSION_DENIED,
                            "wrong operations token: send the one in the file roma serve logged "
                            "at start (ops.token_file)");
    }
    roma_http_reply(req, status, "application/json",
                    token ? NULL : "WWW-Authenticate: Bearer realm=\"roma\"\r\n", err.data, err.len);
    roma_buf_free(&err);
    return 0;
}

int ops_handle(serve_state *s, roma_http_req *req, const char *path) {
    const char *method = roma_http_method(req);
    int get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    struct evbuffer *o;
    int status = 200;
    if (dashboard_handle(req, path)) return 1;
    if (strcmp(path, "/metrics") != 0 && strncmp(path, "/roma/v1/", 9) != 0) return 0;
    if (!authorized(s, req, !get && !head)) return 1;
    o = evbuffer_new();
    if (get && strcmp(path, "/metrics") == 0) {
        write_metrics(s, o);
        reply(req, 200, o, "text/plain; version=0.0.4", NULL);
        evbuffer_free(o);
        return 1;
    }
    if (get && strcmp(path, "/roma/v1/models") == 0) write_models(s, o);
    else if (get && strcmp(path, "/roma/v1/workers") == 0) write_workers(s, o);
    else if (get && strcmp(path, "/roma/v1/controller") == 0) control_write_decisions(s, o);
    else {
        roma_buf err = ROMA_BUF_INIT;
        if (get && strcmp(path, "/roma/v1/history") == 0) {
            status = sampler_write_history(s, req, &err);
            evbuffer_add(o, err.data, err.len); /* the samples, or the error */
            roma_buf_free(&err);
            reply(req, status, o, "application/json", NULL);
            evbuffer_free(o);
            return 1;
        }
        if (strcmp(method, "PATCH") == 0 && strncmp(path, "/roma/v1/models/", 16) == 0)
            status = patch_model(s, req, path + 16, &err);
        else
            status = rest_error(&err, ROMA_NOT_FOUND,
                                "unknown operations endpoint: GET /metrics, /roma/v1/models, "
                                "/roma/v1/workers, /roma/v1/controller, /roma/v1/history; "
                                "PATCH /roma/v1/models/NAME");
        if (status == 200) write_models(s, o);
        else evbuffer_add(o, err.data, err.len);
        roma_buf_free(&err);
    }
    reply(req, status, o, "application/json", NULL);
    evbuffer_free(o);
    return 1;
}

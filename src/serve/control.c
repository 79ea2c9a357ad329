/* control.c - the control period of `roma serve` (DESIGN.md §4.1).
 *
 * Every control.period the mean response time of each model's CPU-served
 * requests in the closing window, its arrivals and its backlog go to the
 * configured controller (a pure function over all models of the node), and
 * the cores it decides are written to each CPU worker's cgroup and read
 * back; the read-back value is what counts (metrics, core-seconds, the
 * worker's slots).  The same tick measures what a request costs on each
 * CPU worker, for cost-aware dispatch (measure_cpu).
 */
#include "serve.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>

/* The requests waiting for m's CPU worker (in m's queue, or in the worker's
 * slots: running or pipelined) and how long the oldest has waited.  The
 * queue's head is its oldest: arrivals join at the tail, retries go back to
 * the head. */
static void read_backlog(const serve_model *m, double now, roma_ctl_model *c) {
    double oldest = m->queue.head ? m->queue.head->arrival : now;
    size_t n = m->queue.len;
    const serve_worker *w = m->cpu_worker;
    for (int i = 0; w && i < w->nslots; i++) {
        const serve_request *r = w->slots[i].req;
        if (!r) continue;
        n++;
        if (r->arrival < oldest) oldest = r->arrival;
    }
    c->backlog = n;
    c->oldest_wait = now - oldest;
}

/* CPU seconds a measurement needs at least: /proc counts in clock ticks
 * (10 ms), so 5 of them keep the rounding under 20%. */
#define CPU_MEASURE_MIN 0.05

/* Cost-aware dispatch: the one-core seconds a request of m costs on its CPU
 * worker, from the CPU the worker's processes used (supervisor_cpu_seconds)
 * over the requests it finished, accumulated over windows until the CPU
 * used is large enough to read, and averaged with the earlier value in
 * proportion to the requests (a window of 1 request moves it little).
 * Where nothing was served nor held the CPU used is not a request's (idle
 * threads, probes) and is dropped; so is a start's or restart's (model
 * loading, the first run): dispatch.c moves the mark after the warm-up. */
static void measure_cpu(serve_model *m, size_t completed) {
    const serve_worker *w = m->cpu_worker;
    if (!w || w->state != WORKER_READY) return;
    double used = supervisor_cpu_seconds(w);
    int holds = 0;
    for (int i = 0; i < w->nslots; i++) holds |= w->slots[i].req != NULL;
    m->cpu_mark_count += completed;
    if (m->cpu_mark_count == 0 && !holds) {
        m->cpu_mark = used;
        return;
    }
    double spent = used - m->cpu_mark;
    if (m->cpu_mark_count == 0 || spent < CPU_MEASURE_MIN) return;
    double n = (double)m->cpu_mark_count, sample = spent / n;
    m->cpu_cost = m->cpu_cost > 0 ? m->cpu_cost + n / (n + 5) * (sample - m->cpu_cost) : sample;
    m->cpu_mark = used;
    m->cpu_mark_count = 0;
}

void control_tick(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    double now = serve_now(), dt = now - s->last_tick;
    (void)fd, (void)what;
    s->last_tick = now;
    serve_release_memory(s);
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_model *m = &s->models[i];
        m->core_seconds += (m->cpu_worker ? m->cpu_worker->cores : 0) * dt;
        m->rt_mean_window = m->win_count ? m->win_rt_sum / (double)m->win_count : 0;
        m->ctl->sla = m->sla;
        m->ctl->rt_mean = m->rt_mean_window;
        m->ctl->completed = m->win_count;
        m->ctl->sla_percentile = m->cfg->sla_percentile;
        m->ctl->rt_pct = m->cfg->sla_percentile > 0
                             ? roma_ctl_window_percentile(m->win_rts, m->win_count, m->cfg->sla_percentile)
                             : 0;
        m->ctl->arrivals = m->win_arrivals;
        /* vpa's usage; a pod's CPU is not read here (cluster mode) */
        m->ctl->cpu_seconds = m->cpu_worker && !s->cluster ? supervisor_cpu_seconds(m->cpu_worker) : -1;
        m->ctl->window = dt;
        read_backlog(m, now, m->ctl);
        measure_cpu(m, m->win_count);
        m->win_rt_sum = 0;
        m->win_count = 0;
        m->win_arrivals = 0;
    }
    if (s->cluster) { /* pods: per Kubernetes node, by resize requests */
        cluster_control(s);
        return;
    }
    roma_ctl_update(s->ctl_kind, &s->ctl_params, s->ctl, s->nmodels, s->cfg.node_cpus);
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_worker *w = s->models[i].cpu_worker;
        if (w && fabs(w->cores - s->ctl[i].cores) > 1e-9) supervisor_set_cores(s, w, s->ctl[i].cores);
        else if (w) supervisor_update_slots(s, w); /* its model's measured cost moved */
    }
    dispatch_reconsider(s); /* cost-aware: new cores, new measured costs */
}

void control_start(serve_state *s) {
    struct timeval tv = {(time_t)s->cfg.period,
                         (suseconds_t)((s->cfg.period - floor(s->cfg.period)) * 1e6)};
    s->last_tick = serve_now();
    s->tick_ev = event_new(s->base, -1, EV_PERSIST, control_tick, s);
    event_add(s->tick_ev, &tv);
}

/* A number, or null when x < 0 (not applicable). */
static void add_number_or_null(struct evbuffer *out, const char *key, double x) {
    if (x < 0)
        evbuffer_add_printf(out, "\"%s\": null, ", key);
    else
        evbuffer_add_printf(out, "\"%s\": %g, ", key, x);
}

void control_write_decisions(const serve_state *s, struct evbuffer *out) {
    evbuffer_add_printf(out, "{\"controller\": \"%s\", \"period\": %g, ", roma_ctl_name(s->ctl_kind),
                        s->cfg.period);
    add_number_or_null(out, "headroom", s->ctl_kind == ROMA_CTL_RELATIVE_PI_FF ? s->ctl_params.ff_headroom : -1);
    evbuffer_add_printf(out, "\"node_cpus\": %g, \"models\": [", s->cfg.node_cpus);
    for (size_t i = 0; i < s->nmodels; i++) {
        const roma_ctl_model *c = &s->ctl[i];
        evbuffer_add_printf(out, "%s{\"name\": \"%s\", \"sla\": %g, \"sla_percentile\": %g, ",
                            i ? ", " : "", s->models[i].cfg->name, c->sla, c->sla_percentile);
        add_number_or_null(out, "set_point", roma_ctl_set_point(s->ctl_kind, &s->ctl_params, c->sla_percentile));
        evbuffer_add_printf(out,
                            "\"rt_mean\": %g, \"rt_percentile\": %g, \"completed\": %zu, "
                            "\"arrivals\": %zu, \"backlog\": %zu, \"oldest_wait\": %g, "
                            "\"error\": %g, \"integral\": %g, \"cores_before_normalisation\": %g, "
                            "\"cores\": %g, \"cores_actuated\": %g}",
                            c->rt_mean, c->rt_pct, c->completed,
                            c->arrivals, c->backlog, c->backlog ? c->oldest_wait : 0,
                            c->error, c->xc, c->cores_before_norm, c->cores,
                            s->models[i].cpu_worker ? s->models[i].cpu_worker->cores : 0);
    }
    evbuffer_add(out, "]}", 2);
}

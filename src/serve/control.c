/* control.c - the control period of `roma serve` (DESIGN.md §4.1).
 *
 * Every control.period the mean response time of each model's CPU-served
 * requests in the closing window, its arrivals and its backlog go to the
 * configured controller (a pure function over all models of the node), and
 * the cores it decides are written to each CPU worker's cgroup and read
 * back; the read-back value is what counts (metrics, core-seconds, the
 * worker's slots).
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

void control_tick(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    double now = serve_now(), dt = now - s->last_tick;
    (void)fd, (void)what;
    s->last_tick = now;
    for (size_t i = 0; i < s->nmodels; i++) {
        serve_model *m = &s->models[i];
        m->core_seconds += (m->cpu_worker ? m->cpu_worker->cores : 0) * dt;
        m->rt_mean_window = m->win_count ? m->win_rt_sum / (double)m->win_count : 0;
        m->ctl->sla = m->sla;
        m->ctl->rt_mean = m->rt_mean_window;
        m->ctl->completed = m->win_count;
        m->ctl->arrivals = m->win_arrivals;
        /* vpa's usage; a pod's CPU is not read here (cluster mode) */
        m->ctl->cpu_seconds = m->cpu_worker && !s->cluster ? supervisor_cpu_seconds(m->cpu_worker) : -1;
        m->ctl->window = dt;
        read_backlog(m, now, m->ctl);
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
    }
}

void control_start(serve_state *s) {
    struct timeval tv = {(time_t)s->cfg.period,
                         (suseconds_t)((s->cfg.period - floor(s->cfg.period)) * 1e6)};
    s->last_tick = serve_now();
    s->tick_ev = event_new(s->base, -1, EV_PERSIST, control_tick, s);
    event_add(s->tick_ev, &tv);
}

void control_write_decisions(const serve_state *s, struct evbuffer *out) {
    evbuffer_add_printf(out, "{\"controller\": \"%s\", \"period\": %g, \"node_cpus\": %g, \"models\": [",
                        roma_ctl_name(s->ctl_kind), s->cfg.period, s->cfg.node_cpus);
    for (size_t i = 0; i < s->nmodels; i++) {
        const roma_ctl_model *c = &s->ctl[i];
        evbuffer_add_printf(out,
                            "%s{\"name\": \"%s\", \"sla\": %g, \"rt_mean\": %g, \"completed\": %zu, "
                            "\"arrivals\": %zu, \"backlog\": %zu, \"oldest_wait\": %g, "
                            "\"error\": %g, \"integral\": %g, \"cores_before_normalisation\": %g, "
                            "\"cores\": %g, \"cores_actuated\": %g}",
                            i ? ", " : "", s->models[i].cfg->name, c->sla, c->rt_mean, c->completed,
                            c->arrivals, c->backlog, c->backlog ? c->oldest_wait : 0,
                            c->error, c->xc, c->cores_before_norm, c->cores,
                            s->models[i].cpu_worker ? s->models[i].cpu_worker->cores : 0);
    }
    evbuffer_add(out, "]}", 2);
}

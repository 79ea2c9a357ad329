/* engine.c - see engine.h.
 *
 * The state is small: per model a FIFO of waiting requests (send indexes
 * into the plan) and the controller's and policy's inputs; per worker the
 * requests it holds, the first `nrunning` of them running.  Each running
 * request keeps its remaining work; between two events every running
 * request of a worker progresses at the same speed, so a worker's next
 * completion time only changes when what it runs or its cores change, and
 * is cached.  Finding the next event is a scan over the workers: O(workers)
 * an event, fine for the tens of workers a scenario has.
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

#define SIM_MAX_HELD 64 /* as roma serve's SERVE_MAX_SLOTS */

typedef struct {
    size_t send;  /* index into the plan's sends */
    double work;  /* what is left: one-core seconds on CPU, seconds on GPU */
} sim_job;

typedef struct {
    size_t *items; /* ring of send indexes */
    size_t head, len, cap;
    double sum_arrival; /* for the roma heuristic's estimate */
} sim_fifo;

typedef struct {
    int gpu;          /* -1: the CPU worker of `model`; else a GPU index */
    size_t node, model;
    size_t *models;   /* GPU: the models placed on it (owned) */
    size_t nmodels;
    double cores;     /* CPU: the allocation */
    int runs, slots;  /* most requests running; most held */
    sim_job held[SIM_MAX_HELD];
    size_t nheld, nrunning;
    double budget;        /* CPU: core-seconds of quota left this CFS period (quota model) */
    double next_done;     /* time of the next completion; INFINITY: none */
    double next_throttle; /* time the budget runs out at the current speed; INFINITY: never */
    double cpu_used;      /* CPU: CPU seconds it has used (the vpa controller's input) */
} sim_worker;

typedef struct {
    sim_fifo queue;
    roma_rt_ring recent;
    double win_rt_sum; /* the window's CPU-served response times */
    size_t win_count;
    double *win_rts;   /* with sla_percentile: each of them (win_count used) */
    size_t win_rts_cap;
    size_t win_arrivals; /* requests queued this window */
    roma_ctl_model ctl;
    sim_worker *cpu, *gpu; /* NULL when the run gives it none */
} sim_model_state;

typedef struct {
    const sim_scenario *s;
    const sim_run_spec *spec;
    const bench_workload *w;
    const bench_send *sends;
    size_t nsends;
    sim_model_state *m; /* per scenario model */
    roma_ctl_model *ctl; /* per scenario model: one node's controller input at a tick (on
                            the heap: with vpa's samples a model's is some 2.5 KB) */
    sim_worker *workers;
    size_t nworkers;
    size_t *model_of;   /* workload model index -> scenario model index */
    double *cpu_work, *gpu_work; /* per send: drawn service work */
    roma_policy policy;
    roma_ctl_params ctl_params; /* roma serve's at the scenario's period */
    double *node_share; /* per node: the share of its cores workers get (contention) */
    double now, last_integral;
    size_t cfs_periods; /* CFS period boundaries passed (quota model) */
    size_t done, inflight;
    sim_result *out;
} sim;

/* ---- numbers ------------------------------------------------------------- */

double sim_cpu_speed(double share, double p) {
    if (share <= 1) return share;
    return 1 / ((1 - p) + p / share);
}

double sim_noise(uint64_t *rng, sim_noise_kind dist, double cv) {
    double u1 = roma_rng_unit(rng), u2 = roma_rng_unit(rng);
    if (dist == SIM_NOISE_EXPONENTIAL) return -log(u1);
    if (cv <= 0) return 1;
    double var = log1p(cv * cv); /* lognormal: E = 1, CV = cv */
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    return exp(-var / 2 + sqrt(var) * z);
}

/* ---- queues -------------------------------------------------------------- */

static void fifo_push(sim_fifo *q, size_t send, double arrival) {
    if (q->len == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64, *items = malloc(cap * sizeof(*items));
        if (!items) abort();
        for (size_t i = 0; i < q->len; i++) items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items, q->cap = cap, q->head = 0;
    }
    q->items[(q->head + q->len++) % q->cap] = send;
    q->sum_arrival += arrival;
}

static size_t fifo_pop(sim_fifo *q, double arrival_of_head) {
    size_t send = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->sum_arrival = q->len ? q->sum_arrival - arrival_of_head : 0; /* 0: no drift when empty */
    return send;
}

/* ---- workers -------------------------------------------------------------- */

static int quota_model(const sim *x) { return x->s->cfs_period > 0; }

/* The cores a CPU worker can use now: the ceil(cores) CPUs it is pinned
 * to (roma serve pins it there).  Under the quota model that is all of
 * them while the period's budget lasts and nothing once it is spent (CFS
 * throttles the cgroup until the next period); in the fluid model the
 * quota caps it at `cores` at all times.  The dispatcher and the clients
 * are not pinned: Linux runs them on idle CPUs first, so they slow a
 * worker only when the whole node is short (node_share). */
static double usable_cores(const sim *x, const sim_worker *w) {
    double pinned = ceil(w->cores - 1e-9);
    if (quota_model(x)) return w->budget > 0 ? pinned : 0;
    return fmin(w->cores, pinned);
}

/* CFS refills a cgroup's quota at every period boundary, and also when the
 * quota is written (tg_set_cfs_bandwidth refills the runtime and
 * unthrottles the group), which roma serve does on every change of cores. */
static void refill_budget(const sim *x, sim_worker *w) {
    w->budget = w->cores * x->s->cfs_period;
}

static double worker_speed(const sim *x, const sim_worker *w) {
    if (w->gpu >= 0 || w->nrunning == 0) return 1;
    double alone = sim_cpu_speed(usable_cores(x, w) / (double)w->nrunning,
                                 x->s->models[w->model].cpu.parallel);
    return alone * x->node_share[w->node];
}

/* Recomputes the cached completion and throttle times after what w runs,
 * or how fast, changed.  A running request's speed is also the CPU it
 * burns (one-core seconds of work per second), so the budget drains at
 * nrunning x speed. */
static void worker_schedule(sim *x, sim_worker *w) {
    double least = INFINITY, speed = worker_speed(x, w);
    for (size_t i = 0; i < w->nrunning; i++)
        if (w->held[i].work < least) least = w->held[i].work;
    int busy = w->nrunning && speed > 0;
    w->next_done = busy ? x->now + fmax(least, 0) / speed : INFINITY;
    w->next_throttle = busy && w->gpu < 0 && quota_model(x)
                           ? x->now + w->budget / ((double)w->nrunning * speed) : INFINITY;
}

/* Starts held requests while fewer than `runs` run. */
static void worker_start(sim *x, sim_worker *w) {
    while (w->nrunning < w->nheld && (int)w->nrunning < w->runs) w->nrunning++;
    worker_schedule(x, w);
}

static void worker_take(sim *x, sim_worker *w, size_t send) {
    int gpu = w->gpu >= 0;
    w->held[w->nheld++] = (sim_job){send, gpu ? x->gpu_work[send] : x->cpu_work[send]};
    if (gpu) x->out->gpu_busy += x->gpu_work[send];
    worker_start(x, w);
}

static void worker_advance(sim *x, sim_worker *w, double dt) {
    double speed = worker_speed(x, w);
    for (size_t i = 0; i < w->nrunning; i++) w->held[i].work -= speed * dt;
    if (w->gpu < 0 && quota_model(x)) w->budget -= (double)w->nrunning * speed * dt;
    if (w->gpu < 0) w->cpu_used += (double)w->nrunning * speed * dt;
}

static void set_cores(sim *x, sim_worker *w, double cores) {
    int runs = (int)ceil(cores - 1e-9);
    w->cores = cores;
    refill_budget(x, w);
    w->runs = runs < 1 ? 1 : runs > SIM_MAX_HELD ? SIM_MAX_HELD : runs;
    w->slots = w->runs + (int)x->s->pipeline;
    if (w->slots > SIM_MAX_HELD) w->slots = SIM_MAX_HELD;
    worker_start(x, w);
}

/* ---- dispatch (as src/serve/dispatch.c) ------------------------------------ */

static double arrival_of(const sim *x, size_t send) { return x->sends[send].time; }

/* Cost-aware dispatch (policy `cost-aware`): whether the GPU of model mi is
 * expected to finish the newest request of its queue sooner than its CPU
 * worker w, from what roma serve's dispatcher can know too: counts of held
 * and queued requests times the models' mean service times (cpu.time, the
 * GPU's profiled time), never the drawn work of a request.  The newest
 * request, not the head: it has every queued request of the GPU ahead of
 * it (its own model's included), so when even it would finish sooner on
 * the GPU, the whole queue is better left there; otherwise the CPU takes
 * the head, which moves everyone behind it up (FIFO order is kept).
 * Judging the head alone would let a model's own queue grow behind a
 * head the GPU is about to serve. */
static int gpu_finishes_first(const sim *x, const sim_worker *w, size_t mi) {
    const sim_worker *g = x->m[mi].gpu;
    const sim_model *cfg = &x->s->models[mi];
    roma_cost_split v = {.cpu_service = cfg->cpu.time, .cpu_cores = w->cores, .cpu_held = w->nheld,
                         .gpu_service = cfg->gpu.profiled, .gpus = 1};
    for (size_t i = 0; i < g->nheld; i++)
        v.gpu_work += x->s->models[x->model_of[x->sends[g->held[i].send].model]].gpu.profiled;
    for (size_t i = 0; i < g->nmodels; i++)
        v.gpu_work += (double)x->m[g->models[i]].queue.len * x->s->models[g->models[i]].gpu.profiled;
    v.gpu_work -= cfg->gpu.profiled; /* the newest request itself */
    return !roma_cost_cpu_takes(&v);
}

static void dispatch_cpu(sim *x, sim_worker *w) {
    sim_fifo *q = &x->m[w->model].queue;
    int cost_aware = x->spec->policy == ROMA_POLICY_COST_AWARE && x->m[w->model].gpu;
    while ((int)w->nheld < w->slots && q->len) {
        if (cost_aware && gpu_finishes_first(x, w, w->model)) return; /* left for the GPU */
        worker_take(x, w, fifo_pop(q, arrival_of(x, q->items[q->head])));
    }
}

static void dispatch_gpu(sim *x, sim_worker *w) {
    roma_policy_queue pq[SIM_MAX_MODELS];
    while ((int)w->nheld < w->slots) {
        for (size_t i = 0; i < w->nmodels; i++) {
            const sim_model *cfg = &x->s->models[w->models[i]];
            const sim_model_state *m = &x->m[w->models[i]];
            pq[i] = (roma_policy_queue){
                .sla = cfg->sla, .alpha = cfg->alpha, .profiled = cfg->gpu.profiled,
                .queue_len = m->queue.len, .sum_arrival = m->queue.sum_arrival,
                .oldest_arrival = m->queue.len ? arrival_of(x, m->queue.items[m->queue.head]) : x->now,
                .recent_rt_mean = roma_rt_ring_mean(&m->recent),
                .cpu_cost = m->cpu ? cfg->cpu.time : 0};
        }
        int k = roma_policy_pick(&x->policy, pq, w->nmodels, x->now);
        if (k < 0) return;
        sim_fifo *q = &x->m[w->models[k]].queue;
        worker_take(x, w, fifo_pop(q, arrival_of(x, q->items[q->head])));
    }
}

static void dispatch_worker(sim *x, sim_worker *w) {
    if (w->gpu >= 0) dispatch_gpu(x, w);
    else dispatch_cpu(x, w);
}

/* ---- events ---------------------------------------------------------------- */

static void answer(sim *x, size_t send, int status, double latency) {
    bench_outcome *o = &x->out->outcomes[send];
    o->lag = 0;
    o->status = latency > x->w->timeout ? 0 : status; /* roma bench gives up */
    o->latency = o->status ? latency : NAN;
    x->done++;
    if (x->now > x->out->info.elapsed) x->out->info.elapsed = x->now;
}

/* Keeps rt for the window's percentile (sla_percentile), as roma serve. */
static void keep_window_rt(sim_model_state *m, double rt) {
    if (m->win_count == m->win_rts_cap) {
        m->win_rts_cap = m->win_rts_cap ? 2 * m->win_rts_cap : 256;
        m->win_rts = realloc(m->win_rts, m->win_rts_cap * sizeof(double));
        if (!m->win_rts) abort();
    }
    m->win_rts[m->win_count] = rt;
}

static void complete(sim *x, sim_worker *w) {
    size_t at = 0;
    for (size_t i = 1; i < w->nrunning; i++)
        if (w->held[i].work < w->held[at].work) at = i;
    size_t send = w->held[at].send, mi = x->model_of[x->sends[send].model];
    memmove(&w->held[at], &w->held[at + 1], (w->nheld - at - 1) * sizeof(sim_job));
    w->nheld--, w->nrunning--;
    double rt = x->now - arrival_of(x, send);
    sim_model_state *m = &x->m[mi];
    roma_rt_ring_push(&m->recent, rt);
    if (w->gpu < 0) {
        if (x->s->models[mi].sla_percentile > 0) keep_window_rt(m, rt);
        m->win_rt_sum += rt, m->win_count++;
    }
    else x->out->on_gpu[mi]++;
    x->inflight--;
    answer(x, send, 200, rt);
    worker_start(x, w);
    dispatch_worker(x, w);
}

/* w spent its period's quota: it waits for the next CFS period. */
static void throttle(sim *x, sim_worker *w) {
    w->budget = 0; /* not a rounding residue that would wake it again */
    worker_schedule(x, w);
}

/* A CFS period boundary: every CPU worker gets its full quota again. */
static void cfs_period(sim *x) {
    x->cfs_periods++;
    for (size_t i = 0; i < x->nworkers; i++)
        if (x->workers[i].gpu < 0) refill_budget(x, &x->workers[i]);
}

static void arrive(sim *x, size_t send) {
    size_t mi = x->model_of[x->sends[send].model];
    sim_model_state *m = &x->m[mi];
    if (m->queue.len >= (size_t)x->s->queue_limit) {
        answer(x, send, 429, 0);
        return;
    }
    fifo_push(&m->queue, send, arrival_of(x, send));
    m->win_arrivals++;
    if (++x->inflight > x->out->info.max_inflight) x->out->info.max_inflight = x->inflight;
    if (m->cpu) dispatch_cpu(x, m->cpu);
    if (m->gpu && m->queue.len) dispatch_gpu(x, m->gpu);
    /* Cost-aware: the GPU has more ahead now, so a CPU worker of another
     * model on it that left its queue to the GPU may finish sooner itself. */
    if (x->spec->policy == ROMA_POLICY_COST_AWARE && m->gpu)
        for (size_t i = 0; i < m->gpu->nmodels; i++)
            if (m->gpu->models[i] != mi && x->m[m->gpu->models[i]].cpu)
                dispatch_cpu(x, x->m[m->gpu->models[i]].cpu);
}

/* Adds each CPU worker's cores over the time since the last call. */
static void integrate_cores(sim *x, double until) {
    for (size_t i = 0; i < x->s->nmodels; i++)
        if (x->m[i].cpu) x->out->core_seconds[i] += x->m[i].cpu->cores * (until - x->last_integral);
    x->last_integral = until;
}

static void log_decision(sim_result *out, double t, size_t model, const roma_ctl_model *c) {
    if (out->ndecisions == out->decisions_cap) {
        out->decisions_cap = out->decisions_cap ? 2 * out->decisions_cap : 256;
        out->decisions = realloc(out->decisions, out->decisions_cap * sizeof(sim_decision));
        if (!out->decisions) abort();
    }
    out->decisions[out->ndecisions++] = (sim_decision){t, (uint32_t)model, c->rt_mean,
                                                       (uint32_t)c->completed, c->cores};
}

/* The requests waiting for m's CPU worker (queued, or held by it) and how
 * long the oldest has waited, into the controller's input (as roma serve's
 * control_tick does). */
static void read_backlog(const sim *x, const sim_model_state *m, roma_ctl_model *c) {
    double oldest = m->queue.len ? arrival_of(x, m->queue.items[m->queue.head]) : x->now;
    for (size_t i = 0; i < m->cpu->nheld; i++) oldest = fmin(oldest, arrival_of(x, m->cpu->held[i].send));
    c->backlog = m->queue.len + m->cpu->nheld;
    c->oldest_wait = x->now - oldest;
}

/* One control period, node by node, as control_tick in roma serve. */
static void tick(sim *x) {
    roma_ctl_model *ctl = x->ctl;
    size_t idx[SIM_MAX_MODELS];
    integrate_cores(x, x->now);
    x->out->ticks++;
    for (size_t node = 0; node < x->s->nnodes; node++) {
        size_t n = 0;
        for (size_t i = 0; i < x->s->nmodels; i++) {
            sim_model_state *m = &x->m[i];
            if (!m->cpu || m->cpu->node != node) continue;
            m->ctl.rt_mean = m->win_count ? m->win_rt_sum / (double)m->win_count : 0;
            m->ctl.completed = m->win_count;
            m->ctl.sla_percentile = x->s->models[i].sla_percentile;
            m->ctl.rt_pct = m->ctl.sla_percentile > 0
                                ? roma_ctl_window_percentile(m->win_rts, m->win_count, m->ctl.sla_percentile)
                                : 0;
            m->ctl.arrivals = m->win_arrivals;
            m->ctl.cpu_seconds = m->cpu->cpu_used;
            m->ctl.window = x->s->period;
            read_backlog(x, m, &m->ctl);
            m->win_rt_sum = 0, m->win_count = 0, m->win_arrivals = 0;
            ctl[n] = m->ctl, idx[n++] = i;
        }
        if (n == 0) continue;
        roma_ctl_update(x->spec->controller, &x->ctl_params, ctl, n, x->s->nodes[node].cpus);
        for (size_t k = 0; k < n; k++) {
            sim_model_state *m = &x->m[idx[k]];
            m->ctl = ctl[k];
            log_decision(x->out, x->now, idx[k], &ctl[k]);
            if (fabs(m->cpu->cores - ctl[k].cores) > 1e-12) {
                set_cores(x, m->cpu, ctl[k].cores);
                dispatch_cpu(x, m->cpu);
            }
        }
    }
}

/* ---- set-up ---------------------------------------------------------------- */

static void add_cpu_worker(sim *x, size_t mi) {
    const sim_model *cfg = &x->s->models[mi];
    sim_worker *w = &x->workers[x->nworkers++];
    w->gpu = -1, w->node = cfg->node, w->model = mi;
    w->next_done = w->next_throttle = INFINITY;
    x->m[mi].cpu = w;
    roma_ctl_model *c = &x->m[mi].ctl;
    c->sla = cfg->sla, c->min = cfg->cores_min, c->max = cfg->cores_max;
    c->initial = x->spec->cores_max ? cfg->cores_max : cfg->cores_initial;
    roma_ctl_init(c);
    set_cores(x, w, c->cores);
}

/* The GPU (node, index), created when the first model placed on it comes. */
static void place_on_gpu(sim *x, size_t mi) {
    const sim_model *cfg = &x->s->models[mi];
    sim_worker *w = NULL;
    for (size_t i = 0; i < x->nworkers && !w; i++)
        if (x->workers[i].gpu == (int)cfg->gpu.index && x->workers[i].node == cfg->node) w = &x->workers[i];
    if (!w) {
        w = &x->workers[x->nworkers++];
        w->gpu = (int)cfg->gpu.index, w->node = cfg->node, w->runs = 1;
        w->next_done = w->next_throttle = INFINITY;
        w->slots = 1 + (int)x->s->pipeline;
        w->models = calloc(x->s->nmodels, sizeof(size_t));
        if (!w->models) abort();
        x->out->gpus++;
    }
    w->models[w->nmodels++] = mi;
    x->m[mi].gpu = w;
}

static void setup(sim *x, uint64_t seed) {
    const sim_scenario *s = x->s;
    x->m = calloc(s->nmodels, sizeof(*x->m));
    x->ctl = calloc(s->nmodels, sizeof(*x->ctl));
    x->workers = calloc(2 * s->nmodels, sizeof(*x->workers));
    x->model_of = calloc(x->w->nmodels, sizeof(size_t));
    x->cpu_work = malloc((x->nsends + 1) * sizeof(double));
    x->gpu_work = malloc((x->nsends + 1) * sizeof(double));
    x->node_share = malloc(s->nnodes * sizeof(double));
    if (!x->m || !x->ctl || !x->workers || !x->model_of || !x->cpu_work || !x->gpu_work ||
        !x->node_share)
        abort();
    for (size_t i = 0; i < s->nnodes; i++) x->node_share[i] = 1;
    for (size_t i = 0; i < s->nmodels; i++) {
        const sim_model *cfg = &s->models[i];
        x->model_of[cfg->workload_model] = i;
        roma_rt_ring_init(&x->m[i].recent);
        if (x->spec->devices != SIM_DEVICES_GPU && cfg->cores_max > 0) add_cpu_worker(x, i);
        if (x->spec->devices != SIM_DEVICES_CPU && !isnan(cfg->gpu.index)) place_on_gpu(x, i);
    }
    sim_engine_draw_work(s, x->sends, x->nsends, x->model_of, seed, x->cpu_work, x->gpu_work);
    roma_policy_init(&x->policy, x->spec->policy, seed);
}

void sim_engine_draw_work(const sim_scenario *s, const bench_send *sends, size_t n,
                          const size_t *model_of, uint64_t seed, double *cpu_work, double *gpu_work) {
    uint64_t rng = seed;
    for (size_t k = 0; k < n; k++) { /* in schedule order: one seed, one draw */
        const sim_model *cfg = &s->models[model_of[sends[k].model]];
        cpu_work[k] = cfg->cpu.time * sim_noise(&rng, cfg->cpu.dist, cfg->cpu.cv);
        gpu_work[k] = cfg->gpu.time * sim_noise(&rng, cfg->gpu.dist, cfg->gpu.cv);
    }
}

static void teardown(sim *x) {
    for (size_t i = 0; i < x->s->nmodels; i++) free(x->m[i].queue.items), free(x->m[i].win_rts);
    for (size_t i = 0; i < x->nworkers; i++) free(x->workers[i].models);
    free(x->m);
    free(x->ctl);
    free(x->workers);
    free(x->model_of);
    free(x->cpu_work);
    free(x->gpu_work);
    free(x->node_share);
}

static void alloc_result(sim_result *out, size_t nsends, size_t nmodels) {
    memset(out, 0, sizeof(*out));
    out->outcomes = calloc(nsends + 1, sizeof(bench_outcome));
    out->core_seconds = calloc(nmodels, sizeof(double));
    out->on_gpu = calloc(nmodels, sizeof(size_t));
    if (!out->outcomes || !out->core_seconds || !out->on_gpu) abort();
    out->info.interrupted_at = NAN;
}

/* ---- contention ------------------------------------------------------------ */

/* CPU time per second that requests cost node `node` outside its workers:
 * each model's overhead at the rate its load asks for now. */
static double node_overhead(const sim *x, size_t node) {
    double busy = 0;
    for (size_t i = 0; i < x->s->nmodels; i++) {
        const sim_model *cfg = &x->s->models[i];
        const bench_model *load = &x->w->models[cfg->workload_model];
        if (cfg->node == node && cfg->cpu.overhead > 0 && load->has_load)
            busy += cfg->cpu.overhead * bench_profile_rate(&load->profile, x->now);
    }
    return busy;
}

/* After every event: each node's share (1 unless its busy workers and the
 * overhead want more than its physical cores, then cores / demand, as CFS
 * splits a saturated machine), and every CPU worker's completion time at
 * its new speed. */
static void update_contention(sim *x) {
    for (size_t node = 0; node < x->s->nnodes; node++) {
        double overhead = node_overhead(x, node), cores = x->s->nodes[node].cores;
        double demand = overhead;
        for (size_t i = 0; i < x->nworkers; i++) {
            const sim_worker *w = &x->workers[i];
            if (w->gpu < 0 && w->node == node) demand += fmin(usable_cores(x, w), (double)w->nrunning);
        }
        x->node_share[node] = demand > cores ? cores / demand : 1;
    }
    for (size_t i = 0; i < x->nworkers; i++)
        if (x->workers[i].gpu < 0) worker_schedule(x, &x->workers[i]);
}

/* ---- the loop -------------------------------------------------------------- */

static double worker_next(const sim_worker *w) { return fmin(w->next_done, w->next_throttle); }

/* The worker whose completion or throttling comes first. */
static sim_worker *next_worker_event(sim *x) {
    sim_worker *first = NULL;
    for (size_t i = 0; i < x->nworkers; i++)
        if (!first || worker_next(&x->workers[i]) < worker_next(first)) first = &x->workers[i];
    return first;
}

static void advance_to(sim *x, double t) {
    for (size_t i = 0; i < x->nworkers; i++) worker_advance(x, &x->workers[i], t - x->now);
    x->now = t;
}

void sim_engine_run(const sim_scenario *s, const sim_run_spec *spec, const bench_workload *w,
                    const bench_plan *plan, uint64_t seed, sim_result *out) {
    sim x = {.s = s, .spec = spec, .w = w, .sends = plan->schedule.sends,
             .nsends = plan->schedule.len, .ctl_params = roma_ctl_params_for_period(s->period),
             .out = out};
    alloc_result(out, x.nsends, s->nmodels);
    setup(&x, seed);
    size_t next = 0;
    while (x.done < x.nsends) {
        sim_worker *cw = next_worker_event(&x);
        double td = cw ? worker_next(cw) : INFINITY;
        double tc = quota_model(&x) ? (double)(x.cfs_periods + 1) * s->cfs_period : INFINITY;
        double tt = (double)(out->ticks + 1) * s->period; /* no drift from summing */
        double ta = next < x.nsends ? x.sends[next].time : INFINITY;
        double t = fmin(fmin(td, tc), fmin(tt, ta));
        advance_to(&x, t);
        if (td <= t && cw->next_done <= cw->next_throttle) complete(&x, cw);
        else if (td <= t) throttle(&x, cw);
        else if (tc <= t) cfs_period(&x);
        else if (tt <= t) tick(&x);
        else arrive(&x, next++);
        update_contention(&x);
    }
    integrate_cores(&x, fmax(x.now, plan->duration));
    out->info.sent = x.nsends;
    out->info.last_send = x.nsends ? x.sends[x.nsends - 1].time : 0;
    teardown(&x);
}

void sim_result_free(sim_result *r) {
    free(r->outcomes);
    free(r->core_seconds);
    free(r->on_gpu);
    free(r->decisions);
    memset(r, 0, sizeof(*r));
}

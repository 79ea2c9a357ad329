/* optimum.c - the offline optimum (see optimum.h).
 *
 * One model at a time: the waiting requests of its CPU worker are an array
 * in FIFO order (send index and remaining work) whose first ceil(c) run.
 * A period is tried on a copy of that state for each candidate core value,
 * from cores.min up, until one meets the window's target; the chosen one is
 * then replayed on the real state.  A trial costs the period's events plus
 * a copy of the backlog, so a run of a few hundred periods and tens of
 * candidates stays well under a second for the paper's 200,000 requests.
 */
#include "optimum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"

/* Slack for finish times that equal their deadline in exact arithmetic. */
#define DEADLINE_SLACK 1e-9

typedef struct {
    size_t req;  /* index into the model's requests */
    double rem;  /* work left, one-core seconds */
} opt_job;

/* The CPU worker's state between periods. */
typedef struct {
    opt_job *jobs; /* FIFO, jobs[0..len) */
    size_t len, cap;
    size_t next;   /* first request not yet arrived */
} opt_state;

static void state_reserve(opt_state *st, size_t cap) {
    if (cap <= st->cap) return;
    st->jobs = realloc(st->jobs, cap * sizeof(opt_job));
    if (!st->jobs) abort();
    st->cap = cap;
}

static void state_copy(opt_state *dst, const opt_state *src) {
    state_reserve(dst, src->cap);
    if (src->len) memcpy(dst->jobs, src->jobs, src->len * sizeof(opt_job)); /* NULL while empty */
    dst->len = src->len, dst->next = src->next;
}

/* The window a deadline belongs to: the period holding it, its end
 * included (period k is (k*period, (k+1)*period] for deadlines). */
static size_t window_of(double deadline, double period) {
    double k = ceil(deadline / period - DEADLINE_SLACK) - 1;
    return k < 0 ? 0 : (size_t)k;
}

/* Plays period k at cores c on st; returns the violations of window k
 * (requests whose deadline lies in it that finish late or not at all). */
static size_t play_period(const sim_opt_model *m, const sim_opt_request *reqs, size_t n, size_t k,
                          double c, opt_state *st) {
    double t = (double)k * m->period, end = t + m->period;
    size_t lanes = (size_t)fmax(1, ceil(c - 1e-9)), late = 0;
    for (;;) {
        while (st->next < n && (reqs[st->next].on_gpu || reqs[st->next].arrival <= t)) {
            if (!reqs[st->next].on_gpu) {
                if (st->len == st->cap) state_reserve(st, 2 * st->cap + 16);
                st->jobs[st->len++] = (opt_job){st->next, reqs[st->next].work};
            }
            st->next++;
        }
        size_t running = st->len < lanes ? st->len : lanes, first = 0;
        double speed = running ? sim_cpu_speed(c / (double)running, m->parallel) : 0;
        for (size_t i = 1; i < running; i++)
            if (st->jobs[i].rem < st->jobs[first].rem) first = i;
        double t_done = running ? t + st->jobs[first].rem / speed : INFINITY;
        double t_arrive = st->next < n ? reqs[st->next].arrival : INFINITY;
        double t_next = fmin(fmin(t_done, t_arrive), end);
        for (size_t i = 0; i < running; i++) st->jobs[i].rem -= speed * (t_next - t);
        t = t_next;
        if (t_done <= t && t_done < INFINITY) {
            const sim_opt_request *r = &reqs[st->jobs[first].req];
            double deadline = r->arrival + r->sla;
            if (window_of(deadline, m->period) == k && t > deadline + DEADLINE_SLACK) late++;
            memmove(&st->jobs[first], &st->jobs[first + 1], (st->len - first - 1) * sizeof(opt_job));
            st->len--;
            continue;
        }
        if (t >= end) break;
    }
    for (size_t i = 0; i < st->len; i++) { /* still waiting at the window's end */
        const sim_opt_request *r = &reqs[st->jobs[i].req];
        if (window_of(r->arrival + r->sla, m->period) == k) late++;
    }
    return late;
}

double sim_optimum_model(const sim_opt_model *m, const sim_opt_request *reqs, size_t n,
                         double *cores, size_t *infeasible) {
    size_t *window_reqs = calloc(m->nperiods + 1, sizeof(size_t));
    if (!window_reqs) abort();
    for (size_t i = 0; i < n; i++) {
        size_t k = window_of(reqs[i].arrival + reqs[i].sla, m->period);
        window_reqs[k < m->nperiods ? k : m->nperiods]++;
    }
    opt_state st = {0}, trial = {0};
    double total = 0;
    *infeasible = 0;
    long lo = lround(ceil(m->min * 10 - 1e-9)), hi = lround(floor(m->max * 10 + 1e-9));
    for (size_t k = 0; k < m->nperiods; k++) {
        double allowed = m->target * (double)window_reqs[k] + 1e-9;
        double best = m->min;
        size_t best_late = SIZE_MAX;
        /* candidates: min itself, then the tenths above it up to max */
        for (long j = lo - 1; j <= hi; j++) {
            double c = j < lo ? m->min : (double)j / 10;
            if (j >= lo && c <= m->min + 1e-9) continue;
            state_copy(&trial, &st);
            size_t late = play_period(m, reqs, n, k, c, &trial);
            if (late < best_late) best = c, best_late = late;
            if ((double)late <= allowed) break;
        }
        if ((double)best_late > allowed) (*infeasible)++;
        play_period(m, reqs, n, k, best, &st);
        cores[k] = best;
        total += best * m->period;
    }
    free(st.jobs);
    free(trial.jobs);
    free(window_reqs);
    return total;
}

/* ---- the scenario ---------------------------------------------------------- */

/* Which requests the GPUs take (optimum.h, "GPUs first"): on_gpu[k] for
 * every send; returns how many. */
static size_t route_to_gpus(const sim_scenario *s, const bench_send *sends, size_t n,
                            const size_t *model_of, const double *gpu_work, int *on_gpu) {
    double *free_at = calloc(s->nnodes * SIM_MAX_GPUS, sizeof(double));
    if (!free_at) abort();
    size_t taken = 0;
    for (size_t k = 0; k < n; k++) {
        const sim_model *cfg = &s->models[model_of[sends[k].model]];
        if (isnan(cfg->gpu.index)) continue;
        double *gpu = &free_at[cfg->node * SIM_MAX_GPUS + (size_t)cfg->gpu.index];
        double done = fmax(*gpu, sends[k].time) + gpu_work[k];
        if (done <= sends[k].time + cfg->sla + DEADLINE_SLACK || !(cfg->cores_max > 0)) {
            *gpu = done;
            on_gpu[k] = 1;
            taken++;
        }
    }
    free(free_at);
    return taken;
}

/* Node periods in which the models' cores add up to more than the node's
 * cpus; cores[i * periods + k] is model i's in period k. */
static size_t count_node_over(const sim_scenario *s, const double *cores, size_t periods) {
    size_t over = 0;
    for (size_t node = 0; node < s->nnodes; node++)
        for (size_t k = 0; k < periods; k++) {
            double sum = 0;
            for (size_t i = 0; i < s->nmodels; i++)
                if (s->models[i].node == node) sum += cores[i * periods + k];
            over += sum > s->nodes[node].cpus + ROMA_CTL_EPS;
        }
    return over;
}

void sim_optimum_compute(const sim_scenario *s, const bench_workload *w, const bench_plan *plan,
                         uint64_t seed, double target, sim_optimum *out) {
    const bench_send *sends = plan->schedule.sends;
    size_t n = plan->schedule.len;
    size_t *model_of = calloc(w->nmodels ? w->nmodels : 1, sizeof(size_t));
    double *cpu_work = malloc((n + 1) * sizeof(double)), *gpu_work = malloc((n + 1) * sizeof(double));
    int *on_gpu = calloc(n + 1, sizeof(int));
    sim_opt_request *reqs = malloc((n + 1) * sizeof(sim_opt_request));
    if (!model_of || !cpu_work || !gpu_work || !on_gpu || !reqs) abort();
    for (size_t i = 0; i < s->nmodels; i++) model_of[s->models[i].workload_model] = i;
    sim_engine_draw_work(s, sends, n, model_of, seed, cpu_work, gpu_work);
    size_t taken = route_to_gpus(s, sends, n, model_of, gpu_work, on_gpu);

    double horizon = plan->duration;
    for (size_t k = 0; k < n; k++) horizon = fmax(horizon, sends[k].time + s->models[model_of[sends[k].model]].sla);
    size_t periods = (size_t)ceil(horizon / s->period - 1e-9);
    double *cores = calloc(s->nmodels * (periods ? periods : 1), sizeof(double));
    memset(out, 0, sizeof(*out));
    out->model_core_seconds = calloc(s->nmodels, sizeof(double));
    if (!cores || !out->model_core_seconds) abort();
    out->target = target, out->periods = periods;
    out->gpu_share = n ? (double)taken / (double)n : 0;
    for (size_t i = 0; i < s->nmodels; i++) {
        const sim_model *cfg = &s->models[i];
        if (!(cfg->cores_max > 0)) continue;
        size_t nr = 0;
        for (size_t k = 0; k < n; k++) /* sends are in time order */
            if (model_of[sends[k].model] == i)
                reqs[nr++] = (sim_opt_request){sends[k].time, cpu_work[k], cfg->sla, on_gpu[k]};
        sim_opt_model m = {cfg->cores_min, cfg->cores_max, cfg->cpu.parallel, s->period, target, periods};
        size_t infeasible;
        out->model_core_seconds[i] = sim_optimum_model(&m, reqs, nr, &cores[i * periods], &infeasible);
        out->core_seconds += out->model_core_seconds[i];
        out->infeasible += infeasible;
    }
    out->node_over = count_node_over(s, cores, periods);
    free(cores);
    free(reqs);
    free(on_gpu);
    free(gpu_work);
    free(cpu_work);
    free(model_of);
}

void sim_optimum_free(sim_optimum *o) {
    free(o->model_core_seconds);
    memset(o, 0, sizeof(*o));
}

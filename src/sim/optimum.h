/* optimum.h - the offline optimum of `roma sim`: the fewest core-seconds
 * an allocation that knows the whole future (every arrival and every
 * request's drawn work) needs to keep each window's violations at or below
 * a target, against which every run's core-seconds are reported ("x
 * optimum").
 *
 * The model, precisely:
 *
 *   - Same requests as the runs: the plan's arrival times and the work the
 *     engine draws for each (sim_engine_draw_work, same seed).
 *   - GPUs first.  Each GPU (node, index) takes, in arrival order, every
 *     request of a model placed on it that it can finish within the
 *     request's SLA, running one at a time FIFO at the request's drawn GPU
 *     time; the rest go to the model's CPU worker (a model without one,
 *     cores.max 0, leaves every request on its GPU).  A GPU costs no
 *     core-seconds, so it serves what it can in time; this choice does not
 *     depend on the cores, which makes the models independent.
 *   - Per model, its CPU worker is a FIFO that runs its first ceil(c)
 *     requests at once, each at sim_cpu_speed(c / running, parallel): the
 *     engine's fluid model (cfs_period 0), without node contention.
 *   - Its cores c_k are held for control period k ([k*period,
 *     (k+1)*period)), on the grid {cores.min} and the tenths above it up
 *     to cores.max, as the controllers actuate them.
 *   - Windows by deadline: a request belongs to the window of the period
 *     that holds its deadline (arrival + SLA, the end of a period
 *     included), and violates when not finished by then; GPU-served
 *     requests count in their window and never violate.  So window k's
 *     outcome depends on c_0..c_k only.  A window meets the target when
 *     violations <= target x its requests.
 *   - Periods run from 0 to the later of the workload's duration and the
 *     last deadline; core-seconds = sum over models and periods of
 *     c_k x period.
 *
 * Computed greedily forward, per model: c_k is the smallest grid value
 * whose window k meets the target given the state c_0..c_{k-1} left;
 * when none does, the smallest with the fewest violations (an
 * "infeasible" window: even cores.max misses the target).
 *
 * Greedy is exact for a window taken alone but not optimal over the run:
 * the least cores now leave the most work for later, and a request alone
 * runs at most at one core's speed, so work postponed to its deadline's
 * period may no longer fit (unit test: 0.8 s of work with a 1.5 s
 * deadline, period 1, min 0.2, max 1: greedy gives 0.2 to the first
 * period, which holds no deadline, and then no value can finish the 0.6
 * left in 0.5 s; 0.7 then 0.2 meets the target with 0.9 core-seconds).  A DP over the carried work is
 * what would be exact; its state (each waiting request's remaining work)
 * is continuous.  So the figure is the cost of one feasible, clairvoyant
 * allocation: an upper bound on the true optimum of this model, and a run
 * at "1.0x" or below spends no more than it.  Node cpus are not enforced
 * (each model is sized alone); periods in which a node's models add up to
 * more than its cpus are counted and reported.
 *
 * Pure: no clock, no I/O.  Single thread.
 */
#ifndef ROMA_SIM_OPTIMUM_H
#define ROMA_SIM_OPTIMUM_H

#include <stddef.h>
#include <stdint.h>

#include "bench/load.h"
#include "bench/workload.h"
#include "sim/scenario.h"

/* One request of one model, in arrival order. */
typedef struct {
    double arrival, work, sla; /* seconds; work at one core */
    int on_gpu;                /* served by a GPU: counts in its window, never violates */
} sim_opt_request;

/* One model's CPU allocation problem (above). */
typedef struct {
    double min, max;   /* cores */
    double parallel;   /* Amdahl fraction above one core */
    double period;     /* seconds */
    double target;     /* violations allowed per window, a share of its requests */
    size_t nperiods;
} sim_opt_model;

/* Solves one model greedily over reqs[0..n) (sorted by arrival, deadlines
 * before nperiods * period): writes c_k into cores[0..nperiods) and
 * returns the core-seconds; *infeasible gets the windows that missed the
 * target even at max. */
double sim_optimum_model(const sim_opt_model *m, const sim_opt_request *reqs, size_t n,
                         double *cores, size_t *infeasible);

typedef struct {
    double target;        /* as given */
    double core_seconds;  /* all models */
    double *model_core_seconds; /* owned; per scenario model */
    size_t periods;       /* control periods of the horizon */
    size_t infeasible;    /* model windows over the target even at cores.max */
    size_t node_over;     /* node periods whose models' cores exceed its cpus */
    double gpu_share;     /* share of all requests the GPUs took */
} sim_optimum;

/* The optimum of scenario s over plan (from w) with noise seed `seed`
 * (the one the runs use) and window target `target`; free with
 * sim_optimum_free. */
void sim_optimum_compute(const sim_scenario *s, const bench_workload *w, const bench_plan *plan,
                         uint64_t seed, double target, sim_optimum *out);

void sim_optimum_free(sim_optimum *o);

#endif

/* engine.h - the discrete-event engine of `roma sim`: one run of a
 * scenario (one controller/policy pair) over a planned workload.
 *
 * It plays `roma serve`'s request path in simulated time, with the very
 * functions `roma serve` links for its decisions (control/policy.h picks
 * the queue a free GPU serves, control/controller.h sets the cores):
 *
 *   - a request arrives at its scheduled time into its model's FIFO
 *     queue, or is refused (429) when queue_limit requests already wait;
 *   - it is then offered to the model's CPU worker, then to its GPU, as
 *     dispatch_model does: a worker takes requests while it holds fewer
 *     than runs + pipeline (CPU: runs = ceil(cores); GPU: runs = 1), and
 *     runs at most `runs` at once, first come first served;
 *   - the requests running on a CPU worker share the ceil(cores) CPUs it
 *     is pinned to (processor sharing; see scenario.h for the speed of one
 *     request) while its CFS quota of the period lasts, and stop, as the
 *     kernel throttles the cgroup, until the next CFS period refills it
 *     (scenario.h, "Quotas"; with cfs_period 0 they share `cores` instead);
 *   - a GPU runs one request at a time; whenever it can take one, the
 *     run's policy picks the queue among the models placed on it;
 *   - where a node's busy workers and the requests' overhead outside them
 *     want more CPU than the node has (scenario.h, "Contention"), every
 *     worker there slows down in proportion;
 *   - every control period, node by node, the run's controller gets each
 *     CPU worker's mean response time of the window (requests served on
 *     CPU), the model's arrivals and its backlog (queued or held by the
 *     CPU worker, and the oldest one's wait) and sets its cores, which
 *     take effect at once with a full quota (writing a cgroup's quota
 *     refills it).
 *
 * Events at the same time go completions first (lowest worker first),
 * then quotas running out, then the CFS period boundary, then the control
 * tick, then arrivals in schedule order, and the noise
 * comes from a seeded generator drawn in schedule order: one scenario,
 * plan and seed always give the same result, bit for bit.  Pure: no
 * clock, no I/O.  One run per call; runs may go on separate threads.
 */
#ifndef ROMA_SIM_ENGINE_H
#define ROMA_SIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/load.h"
#include "bench/workload.h"
#include "sim/scenario.h"

/* One model's control decision at one tick (for plots and calibration). */
typedef struct {
    double t;        /* simulated seconds */
    uint32_t model;  /* scenario model index */
    double rt_mean;  /* the window's mean CPU response time; 0 without requests */
    uint32_t completed;
    double cores;    /* cores decided for the next period */
} sim_decision;

typedef struct {
    bench_outcome *outcomes; /* owned; one per send of the plan, as roma bench
                                fills them (latency from the send time) */
    double *core_seconds;    /* owned; per scenario model: integral of its cores */
    size_t *on_gpu;          /* owned; per scenario model: requests a GPU served */
    double gpu_busy;         /* seconds GPUs spent running requests, all GPUs */
    size_t gpus;             /* GPUs that serve at least one model in this run */
    size_t ticks;            /* control periods run */
    sim_decision *decisions; /* owned; every CPU worker's decision at every tick */
    size_t ndecisions, decisions_cap;
    bench_run_info info;     /* as roma bench reports it */
} sim_result;

/* Runs spec over plan (built from w, which s was checked against) with
 * noise seed `seed`, until every request is answered; fills *out (free
 * it with sim_result_free). */
void sim_engine_run(const sim_scenario *s, const sim_run_spec *spec, const bench_workload *w,
                    const bench_plan *plan, uint64_t seed, sim_result *out);

void sim_result_free(sim_result *r);

/* The work of each of the n sends as sim_engine_run draws it with `seed`:
 * cpu_work[k] (seconds at one core) and gpu_work[k] (seconds on the GPU)
 * of sends[k], whose workload model maps to scenario model
 * model_of[sends[k].model].  For the offline optimum (sim/optimum.h),
 * which must see the very requests the runs serve. */
void sim_engine_draw_work(const sim_scenario *s, const bench_send *sends, size_t n,
                          const size_t *model_of, uint64_t seed, double *cpu_work, double *gpu_work);

/* The speed of one request given `share` cores with Amdahl parallel
 * fraction p: share for share <= 1, else 1 / ((1 - p) + p / share).
 * Exposed for tests. */
double sim_cpu_speed(double share, double p);

/* A draw of a service-time factor of mean 1: lognormal with coefficient of
 * variation cv (exactly 1 when cv is 0), or exponential; advances the
 * roma_rng state *rng by two draws either way. */
double sim_noise(uint64_t *rng, sim_noise_kind dist, double cv);

#endif

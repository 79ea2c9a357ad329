/* policy.h - GPU dispatch policies: which model's queue a free GPU slot serves.
 *
 * A CPU slot belongs to one model and always takes the head of that model's
 * queue; a GPU slot serves every model placed on its GPU, so when it frees up
 * something has to choose a queue (DESIGN 4.2).  That choice is a policy:
 *
 *   roma           ROMA's heuristic: estimate each queue's response time,
 *                  serve the one that most needs it (see roma_policy_need),
 *                  or the longest queue when none is in danger.
 *   edf            earliest deadline first: oldest arrival + SLA.
 *   longest-queue  the queue holding the most requests.
 *   round-robin    the next non-empty queue after the one served last.
 *   random         uniform over the non-empty queues (seeded, reproducible).
 *   cost-aware     a request goes to the device where it is expected to
 *                  finish first (roma_fastest_pick, below).  That is a
 *                  second decision point besides the GPU slot's: a free CPU
 *                  slot takes the head of its model's queue only when the
 *                  CPU would finish the newest queued request sooner than
 *                  the model's GPU, else it leaves the queue to the GPU.  A
 *                  free GPU slot serves the queue whose requests save the
 *                  most CPU per GPU second (largest cpu_cost / profiled: the
 *                  GPU goes where it replaces the most cores); queues
 *                  without a cpu_cost (a model with no CPU worker, or a
 *                  caller that does not know it) come first, by earliest
 *                  deadline, as edf.
 *
 * Every function here is pure over explicit state: no globals, no clock
 * reads, no I/O, no allocation.  Time is an argument, so the live dispatcher
 * (`roma serve`, monotonic seconds) and the discrete-event simulator
 * (`roma sim`, simulated seconds) run the same code.  None of it locks: the
 * caller owns the state and serialises access to it (the dispatcher thread
 * in `roma serve`).  Ties always go to the lowest queue index, so a decision
 * is a function of its inputs alone.
 */
#ifndef ROMA_POLICY_H
#define ROMA_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef enum {
    ROMA_POLICY_ROMA,
    ROMA_POLICY_EDF,
    ROMA_POLICY_LONGEST_QUEUE,
    ROMA_POLICY_ROUND_ROBIN,
    ROMA_POLICY_RANDOM,
    ROMA_POLICY_COST_AWARE,
} roma_policy_kind;

/* The names roma_policy_parse accepts, for error messages and --help. */
#define ROMA_POLICY_NAMES "roma, edf, longest-queue, round-robin, random, cost-aware"

/* What a policy sees of one model's queue.  The caller keeps it up to date
 * as requests arrive and leave (O(1) per request: add or subtract the
 * arrival time), so a decision costs O(models), not O(queued requests).
 * Times are seconds on the same clock as `now`; keep them small (relative
 * to process start) so sum_arrival does not lose precision. */
typedef struct {
    double sla;            /* seconds: the model's response-time target */
    double alpha;          /* safety margin of the roma heuristic, in [0, 1] */
    double profiled;       /* seconds: profiled service time on this GPU */
    size_t queue_len;      /* requests waiting; 0 means the queue is skipped */
    double sum_arrival;    /* sum of the arrival times of the waiting requests */
    double oldest_arrival; /* arrival time of the head of the queue */
    double recent_rt_mean; /* mean response time of the last finished requests
                              (roma_rt_ring_mean); < 0 when none finished yet */
    double cpu_cost;       /* cost-aware: one-core seconds a request of the model
                              costs on its CPU worker; <= 0: none or unknown */
} roma_policy_queue;

/* A policy and the little state some kinds keep between decisions. */
typedef struct {
    roma_policy_kind kind;
    size_t rr_next; /* round-robin: first queue index to try next time */
    uint64_t rng;   /* random: splitmix64 state */
} roma_policy;

/* Sets up p for kind; seed makes `random` reproducible (any value works,
 * 0 included). */
void roma_policy_init(roma_policy *p, roma_policy_kind kind, uint64_t seed);

/* The index of the queue a free GPU slot should serve at time now, or -1
 * when all n queues are empty.  Updates p's round-robin cursor or PRNG. */
int roma_policy_pick(roma_policy *p, const roma_policy_queue *queues, size_t n, double now);

/* The roma heuristic's response-time estimate for a non-empty queue: the
 * mean over queued requests of (now - arrival + profiled), i.e.
 * now - sum_arrival/queue_len + profiled, averaged 50/50 with
 * recent_rt_mean when that is >= 0.  Exposed for metrics and tests. */
double roma_policy_estimate(const roma_policy_queue *q, double now);

/* How badly the queue needs a slot: with est = roma_policy_estimate,
 * est - SLA + alpha*SLA when est >= SLA*(1 - alpha), else 0.  0 for an
 * empty queue. */
double roma_policy_need(const roma_policy_queue *q, double now);

/* Reads a policy name as written in the config (`dispatch.gpu_policy`).
 * ROMA_OK, or ROMA_INVALID_ARGUMENT (kind untouched) when name is none of
 * ROMA_POLICY_NAMES; the caller names the offending value in its message. */
roma_code roma_policy_parse(const char *name, roma_policy_kind *kind);

/* The config name of kind ("roma", "edf", ...); a static string. */
const char *roma_policy_name(roma_policy_kind kind);

/* ---- cost-aware dispatch: where a request finishes first --------------------
 * Where one request would finish first.  Each candidate device is described
 * by what its dispatcher knows, in one unit of work per device (one-core
 * seconds on a CPU worker, seconds on a GPU):
 *
 *   service     the request's expected work there: the model's measured or
 *               profiled service time (CPU: at one core; GPU: profiled);
 *   work_ahead  the expected work queued or in flight before it (requests
 *               held by the device x their service times, plus, on a GPU,
 *               other models' queued requests it would serve first);
 *   rate        work the device does per second with all its lanes busy:
 *               a CPU worker's cores, a GPU's 1;
 *   lane        the speed of one request alone: min(cores, 1) on a CPU
 *               worker (one intra-op thread), 1 on a GPU.
 *
 * Its expected finish, seconds from now, is
 *     max(service / lane, (work_ahead + service) / rate)
 * the later of the request alone on one lane and the device draining all it
 * has at its full rate.  A device with rate or lane <= 0 (a CPU worker at 0
 * cores) never finishes: +inf.  Elapsed progress of running requests is not
 * credited (the dispatcher of `roma serve` does not know it either), which
 * errs towards the other device by at most one service time. */

typedef struct {
    double service, work_ahead, rate, lane;
} roma_device_load;

/* The expected seconds until a new request finishes on d (above). */
double roma_fastest_finish(const roma_device_load *d);

/* The index of the device among n where a request is expected to finish
 * first; ties to the lowest index (callers list the cheaper device first:
 * the GPU before a CPU worker, whose cores cost).  -1 when n is 0. */
int roma_fastest_pick(const roma_device_load *devices, size_t n);

/* ---- cost-aware dispatch: a free CPU slot's decision -------------------------
 * What a model's CPU worker and the GPUs that serve the model look like to
 * the dispatcher when a CPU slot of the model frees up and its queue is not
 * empty, in the units of roma_device_load.  `roma serve` fills it from what
 * it measures (dispatch.c), `roma sim` from its scenario (sim/engine.c). */
typedef struct {
    double cpu_service; /* one-core seconds a request of the model costs on its
                           CPU worker; <= 0: not known yet */
    double cpu_cores;   /* the CPU worker's cores now */
    size_t cpu_held;    /* requests the CPU worker holds (running or waiting at it) */
    double gpu_service; /* seconds a request of the model takes on a GPU
                           (profiled or measured; 0 when neither is known yet) */
    double gpu_work;    /* GPU seconds ahead of the model's newest queued request:
                           the requests the GPUs hold and every queued request of
                           the models they serve, that newest one excepted */
    double gpus;        /* GPUs that can serve the model now (0: none ready) */
} roma_cost_split;

/* Whether the free CPU slot takes the head of its model's queue: 1 when the
 * CPU worker is expected to finish the newest queued request strictly
 * sooner than the GPUs (roma_fastest_pick, the GPUs listed first as one
 * device of rate `gpus`), so the whole queue is better left to the GPUs
 * otherwise.  Also 1 when no GPU can serve the model (gpus <= 0) and when
 * the CPU cost is not known yet (cpu_service <= 0): a request waiting for
 * a measurement would wait forever.  0 when the worker has no cores. */
int roma_cost_cpu_takes(const roma_cost_split *v);

/* ---- recent response times ------------------------------------------------
 * The mean response time of a model's last ROMA_RT_RING_CAP finished
 * requests, the second half of the roma estimate.  Both the dispatcher and
 * the simulator keep one ring per model and push every finished request. */

#define ROMA_RT_RING_CAP 50

typedef struct {
    double rt[ROMA_RT_RING_CAP];
    size_t next;  /* slot the next push overwrites */
    size_t count; /* finished requests held, at most ROMA_RT_RING_CAP */
} roma_rt_ring;

void roma_rt_ring_init(roma_rt_ring *r);

/* Records one finished request's response time (seconds), forgetting the
 * oldest once the ring holds ROMA_RT_RING_CAP. */
void roma_rt_ring_push(roma_rt_ring *r, double rt);

/* The mean of the response times held, or -1 when none: the value
 * roma_policy_queue.recent_rt_mean expects. */
double roma_rt_ring_mean(const roma_rt_ring *r);

#endif

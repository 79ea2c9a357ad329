/* scenario.h - what `roma sim` simulates: nodes, models with their service
 * times, the workload, and the runs (controller/policy pairs) to compare.
 *
 * The scenario file (YAML; durations take "2s", "500ms" or bare seconds):
 *
 *   workload: paper-workload.yaml   # a `roma bench` workload file (same
 *                                   # format: profiles, Poisson, trace);
 *                                   # its target and payloads are ignored
 *   seed: 1                 # service-time noise and the random policy
 *   control: {period: 2s, cfs_period: 100ms}   # as roma.yaml's control.period
 *                           # (default 250ms, roma serve's on one node; roma
 *                           # sim --period overrides it); cfs_period: see
 *                           # "Quotas" below
 *   dispatch: {queue_limit: 1000, pipeline: 2}
 *   optimum: {target: 0.05} # violations a window may have in the offline
 *                           # optimum every run is compared with (optimum.h)
 *   nodes:
 *     - {name: n1, cpus: 6, gpus: 1, cores: 6}   # cores: physical, default cpus
 *   models:
 *     - name: resnet50      # must be a model of the workload
 *       node: n1
 *       sla: 600ms          # optional: the workload's sla otherwise
 *       alpha: 0.5          # the roma GPU heuristic's margin (default 0.5)
 *       sla_percentile: 95  # optional: the controller holds the window's 95th
 *                           # percentile under the SLA (default: the mean)
 *       cores: {min: 0.5, max: 6, initial: 1}
 *       cpu: {time: 180ms, parallel: 0, cv: 0.1, overhead: 0}
 *       gpu: {index: 0, time: 20ms, cv: 0.05, profiled: 20ms}
 *   runs:
 *     - {name: roma, controller: roma, policy: roma}
 *     - {name: static-max, controller: static, cores: max}
 *     - {name: gpu-only, devices: gpu}
 *
 * Service times: a request's CPU work is cpu.time (seconds at one core)
 * times a noise factor drawn from a lognormal of mean 1 and coefficient of
 * variation cv (dist: exponential instead draws an exponential factor of
 * mean 1, i.e. cv 1, as queueing formulas assume).  It runs at speed s = the cores its worker has divided by
 * the requests running there, capped by Amdahl's law with parallel
 * fraction p above one core: speed(s) = s for s <= 1, else
 * 1 / ((1 - p) + p / s).  p = 0 (the default) is `roma serve`'s policy of
 * one intra-op thread per inference.  GPU time is gpu.time times its own
 * noise; one request at a time per GPU.  `profiled` is what the roma
 * heuristic is told (default gpu.time).  A model without `gpu` runs on CPU
 * only; a run with devices: gpu gives CPU workers no cores.
 *
 * Contention: `cpus` is what ROMA hands out, `cores` what the node really
 * has.  cpu.overhead is the CPU time one request costs on its node outside
 * its worker (the dispatcher, the client, the network stack: for a 780 KB
 * JSON body, milliseconds), spent at the rate its load profile asks for
 * and not pinned: Linux runs it on idle CPUs first.  A worker is pinned
 * to ceil(cores) CPUs, as roma serve pins it, and can use them all while
 * it has quota left (see Quotas; fluid: min(cores, ceil(cores))).
 * Whenever the busy workers (each using min(those cores, its running
 * requests)) and the overhead want more than `cores`, every worker of the
 * node slows down in proportion, as CFS shares a saturated machine.  (An
 * earlier model also took the overhead off every pinned CPU at all times;
 * against three rounds of `make experiment` it made `static-max`, whose
 * two busy-in-turn workers leave a CPU idle, 10-19 points too pessimistic:
 * experiments/README.md.)  With the defaults (cores = cpus, overhead
 * 0) quotas add up to at most cpus, so workers slow only while bursts of
 * theirs on a fresh quota overlap (never with cfs_period 0).
 *
 * Quotas: roma serve gives a CPU worker its cores as a CFS bandwidth quota
 * (cgroup cpu.cfs_quota_us = cores x cpu.cfs_period_us, the period 100 ms).
 * The kernel does not slow the worker to `cores`: its threads run at the
 * full speed of its pinned CPUs until the period's quota is spent, then
 * wait, throttled, for the next period, which refills it (unused quota is
 * not carried over).  So one 25 ms request at 0.2 core takes 25 to 105 ms
 * depending on where in the period it starts, not 125 ms; the average rate
 * over a busy stretch is still `cores`.  The simulator does the same with
 * cfs_period (default 100 ms): a budget of cores x cfs_period per period
 * boundary (k x cfs_period), spent at the rate the worker's requests run,
 * and, as the kernel does when a quota is written, refilled at once when
 * the controller changes the cores.  cfs_period: 0 gives the fluid model
 * instead (a worker always runs at min(cores, its pinned CPUs)), which is
 * what queueing formulas assume.
 *
 * A run takes: name (required), controller (relative-pi-ff | relative-pi |
 * roma | rules | static | vpa, default ROMA_CTL_DEFAULT: relative-pi-ff;
 * roma-norm is read as relative-pi), policy (roma | edf | longest-queue | round-robin |
 * random | cost-aware, default roma), devices (both | cpu | gpu, default both) and
 * cores (initial | max: the static allocation to start from; max gives
 * `static-max`).
 *
 * Parsing is pure (text in, structs out); every mistake names file, line
 * and key.  Single thread.
 */
#ifndef ROMA_SIM_SCENARIO_H
#define ROMA_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "bench/workload.h"
#include "common/status.h"
#include "control/controller.h"
#include "control/policy.h"

#define SIM_MAX_NODES 64
#define SIM_MAX_GPUS 8     /* per node, as roma serve */
#define SIM_MAX_MODELS 256
#define SIM_MAX_RUNS 64

typedef struct {
    char *name; /* owned */
    double cpus;  /* cores ROMA may hand out (node.cpus of roma serve) */
    double cores; /* physical cores; NAN until read, then cpus by default */
    double gpus;  /* read as a number, checked to be a whole one */
} sim_node;

typedef enum { SIM_NOISE_LOGNORMAL, SIM_NOISE_EXPONENTIAL } sim_noise_kind;

typedef struct {
    double time;     /* seconds of work at one core (CPU) or on the GPU */
    double parallel; /* CPU: Amdahl parallel fraction above one core */
    double overhead; /* CPU: seconds per request spent outside the worker */
    double cv;       /* coefficient of variation of the noise factor */
    char *dist_name; /* owned; NULL: lognormal */
    sim_noise_kind dist; /* exponential: cv is 1 (for queueing checks) */
    double index;    /* GPU: index on the model's node; NAN: no GPU */
    double profiled; /* GPU: the roma heuristic's estimate; NAN: time */
} sim_service;

typedef struct {
    char *name, *node_name; /* owned */
    size_t node;            /* index into nodes, after the checks */
    size_t workload_model;  /* index into the workload's models */
    double sla, alpha;      /* seconds; sla NAN until given */
    double sla_percentile;  /* (0, 100]: the controller holds this percentile; 0: mean */
    double cores_min, cores_max, cores_initial;
    sim_service cpu, gpu;
} sim_model;

typedef enum { SIM_DEVICES_BOTH, SIM_DEVICES_CPU, SIM_DEVICES_GPU } sim_devices;

typedef struct {
    char *name;           /* owned */
    char *controller_name, *policy_name, *devices_name, *cores_name; /* owned; NULL: default */
    roma_ctl_kind controller;
    roma_policy_kind policy;
    sim_devices devices;
    int cores_max; /* 1: start (and, for static, stay) at cores.max */
} sim_run_spec;

typedef struct {
    char *workload_path; /* owned */
    uint64_t seed;
    double period;     /* control period, seconds */
    double cfs_period; /* the CFS bandwidth period of a worker's quota, seconds; 0: fluid */
    double queue_limit;
    double pipeline;   /* requests a worker may hold beyond those it runs */
    double optimum_target; /* the offline optimum's window violation target, 0..1 */
    sim_node *nodes;   /* owned */
    size_t nnodes;
    sim_model *models; /* owned */
    size_t nmodels;
    sim_run_spec *runs; /* owned */
    size_t nruns;
} sim_scenario;

void sim_scenario_init(sim_scenario *s);

/* Parses scenario YAML text (`file` names it in messages; the workload
 * path is resolved against its folder). */
roma_code sim_scenario_parse(const char *text, size_t len, const char *file, sim_scenario *s,
                             roma_err *err);

/* Checks the parsed scenario against its workload w (finished with
 * bench_workload_finish_load) and links them: every model's node exists
 * and its GPU index is below the node's gpus, every model is one of the
 * workload's (an SLA missing from the scenario comes from there), cores
 * satisfy 0 <= min <= initial <= max, the mins of a node fit its cpus, a
 * gpu-only run has a GPU for every model and a cpu-only run a CPU worker
 * (cores.max > 0), run names are unique. */
roma_code sim_scenario_check(sim_scenario *s, const bench_workload *w, roma_err *err);

void sim_scenario_free(sim_scenario *s);

#endif

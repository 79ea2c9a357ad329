/* controller.h - CPU core controllers: how many cores each model's CPU
 * worker gets for the next control period (DESIGN 4.1).
 *
 * Every `control.period` the caller fills in, for each CPU worker of one
 * node, what the window just ended saw (the mean response time and the
 * number of requests completed on CPU, the arrivals, and the backlog at its
 * end), calls roma_ctl_update once for the whole node, and actuates the
 * resulting `cores` (cgroup quota, pod resize, or the simulator's service
 * rate).
 *
 * Windows, for every kind but static:
 *   measured  requests completed on CPU with a usable mean: rt = rt_mean.
 *   backlog   none completed (or no usable mean) but requests wait for the
 *             CPU worker (queued or held by it): the model is stalled, not
 *             idle, because its requests take longer than a period at its
 *             cores or its worker is down.  The oldest has waited
 *             oldest_wait, so the window's response time is at least that:
 *             each law runs on rt = oldest_wait as on a measurement, except
 *             that a lower bound can show a model is late but never that it
 *             is early: the error is taken as at least 0 and the cores
 *             never fall below the current ones (a stall that has lasted
 *             past the SLA grows every kind; a young one holds).
 *   idle      nothing completed on CPU and nothing waits (nothing arrived,
 *             or a GPU served all that did): min, as published.
 *
 * Kinds:
 *
 *   relative-pi-ff  (the default, ROMA_CTL_DEFAULT) relative-pi (below)
 *           with a feed-forward floor: the cores the window's demand needs,
 *           measured live, plus what clears the backlog within a few SLAs:
 *             cost  = sum(CPU seconds) / sum(completed) over the windows
 *                     with completions, both sums decayed by ff_memory a
 *                     period (the CPU the worker used, from cpu_seconds,
 *                     per request it finished)
 *             came  = completed + backlog - backlog_prev: the requests that
 *                     came for the CPU worker (the arrivals less those a
 *                     GPU served), not capped by the cores it had
 *             ff    = cost * (ff_headroom * max(came, 0) / window
 *                             + backlog / (ff_drain * SLA))
 *             cores = clamp(max(relative-pi's cores, ceil_0.1(ff)), min, max)
 *           where relative-pi's set point is ff_setpoint (a percentile
 *           SLA: pct_setpoint); relative-pi's integral stays on the actuated cores
 *           (anti-windup).  Until a cost is known (nothing completed yet,
 *           or cpu_seconds < 0, as in cluster mode) ff is 0 and the law is
 *           relative-pi's.  Backlog and idle windows as relative-pi.
 *   roma    ROMA's PI controller on speeds (1/time), exactly as published:
 *             e     = 1/SLA - 1/rt
 *             xc    = xc_prev + B*e
 *             cores = clamp(ceil_0.1(xc + D*e), min, max)
 *             (node normalisation, below)
 *             xc    = cores - B*e        anti-windup on the actuated cores
 *           An idle window drops the model to min and resets its integral
 *           state to min.  The published law leaves e unbounded; here it is
 *           held to +-1e6 1/s (an SLA or a response time of 1 us), beyond
 *           which the cores saturate anyway: an absurd SLA (1e-320 s gives
 *           1/SLA = inf) would otherwise make xc infinite, then NaN.
 *   relative-pi  (earlier roma-norm; the default before relative-pi-ff)
 *           the same law on a relative time error, so one set of gains
 *           holds for ms and s SLAs alike, aimed below the SLA so that few
 *           requests (not only few windows) violate it:
 *             target = norm_setpoint * SLA
 *             e      = clamp((rt - target) / target, -1, norm_error_max)
 *           The speed error of `roma` grows without bound as rt falls
 *           (1/SLA - 1/rt), which with B and D as published drops a model
 *           from its peak allocation to min in one period and makes the
 *           allocation swing (measured: results/experiment.md).
 *   rules   a threshold autoscaler, the baseline: +step when
 *           rt > rules_up*SLA, -step when rt < rules_down*SLA or when the
 *           window is idle, clamped to [min, max]; after any change the
 *           model holds for rules_cooldown periods.  On a backlog window
 *           only the step up applies.
 *   static  `initial` cores, never changed.
 *   vpa     a baseline like Kubernetes' Vertical Pod Autoscaler (vpa.h):
 *           the 90th percentile of the cores the worker used per window
 *           (from cpu_seconds), plus 15%, recomputed every minute; it
 *           reads neither response times nor the SLA, so measured, backlog
 *           and idle windows are all just usage samples.
 *
 * Percentile SLAs.  A model with sla_percentile p > 0 (`sla_percentile: 95`)
 * holds the p-th percentile of its window under the SLA instead of the
 * mean (the paper's, p = 0): every law above runs on rt = rt_pct, the
 * window's nearest-rank p-th percentile (roma_ctl_window_percentile), in
 * place of rt_mean; relative-pi aims it at pct_setpoint * SLA (0.5: the
 * percentile of a window of a few tens of requests swings widely from one
 * window to the next; measured in roma sim on experiments/standard.yaml
 * with both models at p95, 0.8, 0.6 and 0.5 left 21-20%, 9-12% and 4-7% of
 * windows with their p95 over the SLA, at 189, 207 and 216 core-seconds).
 * Backlog and idle windows are as above.
 *
 * Node normalisation, common to all kinds: when the cores proposed for the
 * node add up to more than its cpus, every model's proposal is scaled by
 * cpus/sum and rounded DOWN to 0.1 core; a model that would fall below its
 * min is held at min and the others share what is left; whole tenths that
 * rounding down left unused go, one each, to the models that lost the most
 * to rounding (never above their proposal).  So as long as the mins fit
 * (sum of min <= cpus, which config validation guarantees) the node never
 * gets more than cpus cores (to within ROMA_CTL_EPS), and whatever happens
 * no model ever leaves [min, max].  A proposal that is not a number (which
 * no law makes from sane inputs) is replaced by the model's current cores
 * before normalisation: one NaN in the node's sum would make the scale NaN
 * and pin every model of the node at its min.
 *
 * Pure functions over the caller's array: no globals, no clock reads, no
 * I/O, no allocation.  The caller serialises calls (the controller timer in
 * `roma serve`, the event loop in `roma sim`).
 */
#ifndef ROMA_CONTROLLER_H
#define ROMA_CONTROLLER_H

#include <stddef.h>

#include "common/status.h"
#include "control/vpa.h"

typedef enum {
    ROMA_CTL_ROMA,
    ROMA_CTL_RULES,
    ROMA_CTL_STATIC,
    ROMA_CTL_ROMA_NORM,
    ROMA_CTL_VPA,
    ROMA_CTL_RELATIVE_PI_FF,
} roma_ctl_kind;

/* The names roma_ctl_parse accepts, for error messages and --help;
 * roma-norm is relative-pi's earlier name, still read. */
#define ROMA_CTL_NAMES "relative-pi-ff, relative-pi, roma, rules, static, vpa, roma-norm"

/* What a user gets without naming a controller: the best one measured
 * (README, "Controllers"); `roma` stays the published law. */
#define ROMA_CTL_DEFAULT "relative-pi-ff"

/* Slack for comparing sums of tenths held in doubles (0.1 + 0.2 != 0.3). */
#define ROMA_CTL_EPS 1e-9

typedef struct {
    double B, D;        /* roma: integral and proportional gains (cores*s) */
    double rules_up;    /* rules: step up when rt > rules_up * SLA */
    double rules_down;  /* rules: step down when rt < rules_down * SLA */
    double rules_step;  /* rules: cores added or removed per step */
    int rules_cooldown; /* rules: periods held after a change */
    double norm_setpoint;  /* roma-norm: target mean response time / SLA */
    double norm_error_max; /* roma-norm: the relative error is capped here */
    double pct_setpoint;   /* relative-pi with a percentile SLA: target percentile / SLA */
    double ff_setpoint;    /* relative-pi-ff: its PI's target mean response time / SLA */
    double ff_headroom;    /* relative-pi-ff: feed-forward cores per core of measured demand */
    double ff_drain;       /* relative-pi-ff: the backlog's work is given ff_drain * SLA */
    double ff_memory;      /* relative-pi-ff: what the cost's sums keep of themselves a period */
    roma_vpa_params vpa;   /* vpa: percentile, margin, interval */
} roma_ctl_params;

/* The defaults at a 1-s control period (the paper's): ROMA's published
 * gains B = 0.21, D = 0.17; relative-pi-ff aims its PI at 0.4 SLA, its floor
 * at 0.9 of the measured demand, the backlog cleared within 4 SLAs, the cost's
 * sums decayed by 0.9 a period (chosen in roma sim on
 * experiments/standard.yaml: README, "Controllers"); rules 0.6/0.2 of the SLA (a
 * band of +-50% around relative-pi's set point 0.4, so that the baseline
 * aims where the best ROMA law aims: experiments/README.md), steps of 0.5
 * core, cooldown 2 periods; relative-pi aims at 0.4 SLA (a percentile at
 * 0.5 SLA) with the error capped at 3 (at most +0.5 core a period from D). */
roma_ctl_params roma_ctl_default_params(void);

/* Control periods shorter than this get relative-pi-ff's short-period set
 * (roma_ctl_params_for_period). */
#define ROMA_CTL_SHORT_PERIOD 0.5

/* The defaults for a control period of `period` seconds.  A discrete
 * controller's parameters go with its sampling period: at 1 s a load step
 * goes unanswered for one or two periods, so relative-pi-ff aims its PI
 * low (0.4 SLA) and floors the cores at 0.9 of the measured demand; below
 * ROMA_CTL_SHORT_PERIOD it answers within a fraction of a second, and the
 * same margins only buy idle cores, so it aims at 0.5 SLA with the floor
 * at 0.8 of the demand (chosen in roma sim on experiments/standard.yaml at
 * 0.25 s, measured in real runs: README, "Control period").  Every other
 * parameter, and every other kind's, is roma_ctl_default_params()'s. */
roma_ctl_params roma_ctl_params_for_period(double period);

/* The fraction of its SLA that a relative law (relative-pi, relative-pi-ff)
 * aims model m's window at: pct_setpoint for a percentile SLA, else the
 * kind's mean set point; -1 for the kinds without one. */
double roma_ctl_set_point(roma_ctl_kind kind, const roma_ctl_params *p, double sla_percentile);

/* One CPU worker (one model) of the node. */
typedef struct {
    /* config (seconds, cores); the caller may change sla at run time */
    double sla, min, max, initial;
    double sla_percentile; /* p in (0, 100]: hold the window's p-th percentile under
                              the SLA; 0: the mean (the paper's) */
    /* input: the window that just ended */
    double rt_mean;   /* mean response time of requests completed on CPU */
    size_t completed; /* how many completed; 0 means rt_mean is ignored */
    double rt_pct;    /* with sla_percentile: the window's p-th percentile of the
                         same requests (roma_ctl_window_percentile) */
    size_t arrivals;  /* inference requests that joined the model's queue; only
                         reported (it tells an idle model from one a GPU serves) */
    size_t backlog;   /* at the window's end: requests in the model's queue or
                         held (running or pipelined) by its CPU worker */
    double oldest_wait; /* seconds the oldest of them had waited; ignored without
                           a backlog */
    double cpu_seconds; /* vpa: the CPU worker's CPU counter (seconds used so far,
                           restarts included) at the window's end; < 0: unknown */
    double window;      /* vpa: seconds the window lasted */
    /* state kept between periods; cores is the output to actuate */
    double xc;    /* roma: integral state */
    double cores; /* cores allocated for the next period */
    int cooldown; /* rules: periods left before the next change */
    roma_vpa_state vpa; /* vpa: usage samples (roma_ctl_init resets them) */
    /* relative-pi-ff: what the cost estimate and the demand need from the
       windows before (roma_ctl_init resets them) */
    double ff_cpu_prev;     /* cpu_seconds at the last window's end; < 0: unknown */
    double ff_cpu, ff_done; /* decayed sums of CPU seconds used and requests completed */
    size_t ff_backlog_prev; /* backlog at the last window's end */
    /* the last decision, for GET /roma/v1/controller */
    double error;             /* the law's error: e = 1/SLA - 1/rt (1/s) for roma, rules,
                                 static and vpa, the relative error for relative-pi and
                                 relative-pi-ff; 0 when idle */
    double cores_before_norm; /* cores proposed before node normalisation */
    double ff_cores;          /* relative-pi-ff: the feed-forward term (0: not known yet) */
} roma_ctl_model;

/* Starts m at its initial cores (the integral state too); leaves config
 * and input alone. */
void roma_ctl_init(roma_ctl_model *m);

/* One control period for all n CPU workers of a node with node_cpus cores:
 * reads each model's config, input and state, writes its new state, cores
 * and last decision.  p NULL means roma_ctl_default_params().  A window with
 * completed > 0 but a non-positive or NaN rt_mean carries no usable
 * measurement and counts as a window with no completions (backlog or idle).
 * Config (sla > 0, 0 <= min <= max, sum of mins <= node_cpus) is the
 * caller's to validate; an SLA that is absurd or not even a number (0,
 * 1e-320, NaN) still leaves every model of the node in [min, max] and the
 * other models' decisions sane. */
void roma_ctl_update(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *models,
                     size_t n, double node_cpus);

/* The nearest-rank p-th percentile (0 < p <= 100) of the n response times
 * rts[0..n) (sorted in place): the smallest value that at least p% of them
 * do not exceed, the definition roma bench reports (bench/stats.h).  0 when
 * n is 0 (a window with nothing completed: no measurement). */
double roma_ctl_window_percentile(double *rts, size_t n, double p);

/* Reads a controller name as written in the config (`control.controller`).
 * ROMA_OK, or ROMA_INVALID_ARGUMENT (kind untouched) when name is none of
 * ROMA_CTL_NAMES; the caller names the offending value in its message. */
roma_code roma_ctl_parse(const char *name, roma_ctl_kind *kind);

/* The config name of kind ("roma", "relative-pi", ...); a static string. */
const char *roma_ctl_name(roma_ctl_kind kind);

#endif

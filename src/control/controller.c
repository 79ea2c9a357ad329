/* controller.c - CPU core controllers (see controller.h).
 *
 * A period runs in three phases over the node's models: each kind proposes
 * cores for every model (cores_before_norm) from what its window tells
 * (measured, backlog or idle: controller.h), the node normalisation fits the
 * proposals into the node's cpus (cores), and the roma controller then
 * back-calculates its integral state from what will really be actuated, so
 * that a model held down by its max or by its neighbours does not wind up.
 */
#include "control/controller.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/stats.h" /* the nearest-rank percentile, as roma bench reports it */

/* Rounding to tenths tolerates the error of the arithmetic that produced x:
 * 0.1 + 0.2 is 0.30000000000000004, which must stay 0.3 rather than be
 * rounded up to 0.4, and 1.5 * (2.0 / 3) must give 1.0, not 0.9.  In
 * whole tenths the slack cannot change a sum of rounded shares whose exact
 * total is a whole number of tenths (node cpus and mins on the 0.1 grid). */
#define TENTH_SLACK 1e-9

/* The bound on roma's speed error (1/s): an SLA or response time of 1 us.
 * Real ones are of ms at least (|e| up to some 1e3), and past 1e6 the
 * proposal is saturated anyway (B*e = 2.1e5 cores).  The bound keeps xc
 * finite, and small enough that xc_prev + B*e, where xc_prev = cores - B*e
 * from the last period, loses nothing near a tenth (doubles near 2e5 are
 * exact to 3e-11). */
#define SPEED_ERROR_MAX 1e6

/* What a window tells the laws (controller.h, "Windows"). */
typedef enum { WINDOW_IDLE, WINDOW_MEASURED, WINDOW_BACKLOG } window_kind;

static const char *const ctl_names[] = {
    [ROMA_CTL_ROMA] = "roma",
    [ROMA_CTL_RULES] = "rules",
    [ROMA_CTL_STATIC] = "static",
    [ROMA_CTL_ROMA_NORM] = "relative-pi",
    [ROMA_CTL_VPA] = "vpa",
    [ROMA_CTL_RELATIVE_PI_FF] = "relative-pi-ff",
};

/* Earlier names still read (configs and scripts that use them), with the
 * kind they stand for. */
static const struct {
    const char *name;
    roma_ctl_kind kind;
} ctl_aliases[] = {{"roma-norm", ROMA_CTL_ROMA_NORM}};

#define CTL_KINDS (sizeof(ctl_names) / sizeof(ctl_names[0]))

roma_ctl_params roma_ctl_default_params(void) {
    return (roma_ctl_params){
        .B = 0.21, .D = 0.17, .rules_up = 0.6, .rules_down = 0.2, .rules_step = 0.5,
        .rules_cooldown = 2, .norm_setpoint = 0.4, .norm_error_max = 3, .pct_setpoint = 0.5,
        .ff_setpoint = 0.4, .ff_headroom = 0.9, .ff_drain = 4, .ff_memory = 0.9,
        .vpa = roma_vpa_default_params(),
    };
}

roma_ctl_params roma_ctl_params_for_period(double period) {
    roma_ctl_params p = roma_ctl_default_params();
    if (period < ROMA_CTL_SHORT_PERIOD) {
        p.ff_setpoint = 0.5;
        p.ff_headroom = 0.8;
    }
    return p;
}

double roma_ctl_set_point(roma_ctl_kind kind, const roma_ctl_params *p, double sla_percentile) {
    if (kind != ROMA_CTL_ROMA_NORM && kind != ROMA_CTL_RELATIVE_PI_FF) return -1;
    if (sla_percentile > 0) return p->pct_setpoint;
    return kind == ROMA_CTL_RELATIVE_PI_FF ? p->ff_setpoint : p->norm_setpoint;
}

void roma_ctl_init(roma_ctl_model *m) {
    m->cores = m->initial;
    m->xc = m->initial;
    m->cooldown = 0;
    m->error = 0;
    m->cores_before_norm = m->initial;
    memset(&m->vpa, 0, sizeof(m->vpa));
    m->ff_cpu_prev = -1;
    m->ff_cpu = m->ff_done = 0;
    m->ff_backlog_prev = 0;
    m->ff_cores = 0;
}

/* Works in whole tenths and divides at the end: k / 10 is the double
 * nearest to k tenths, while k * 0.1 is not always (3 * 0.1 != 0.3). */
static double ceil_tenth(double x) {
    return ceil(x * 10 - TENTH_SLACK) / 10;
}

static double floor_tenth(double x) {
    return floor(x * 10 + TENTH_SLACK) / 10;
}

static double clamp(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

/* The window's kind and the response time the laws work on: the mean of
 * the completed requests, or the oldest waiting request's wait (a lower
 * bound on the window's response time; 0 when unknown), or none.  NaN
 * fails every comparison, so a NaN mean counts as no measurement and a NaN
 * wait as 0. */
static window_kind read_window(const roma_ctl_model *m, double *rt) {
    double measured = m->sla_percentile > 0 ? m->rt_pct : m->rt_mean;
    *rt = 0;
    if (m->completed > 0 && measured > 0) {
        *rt = measured;
        return WINDOW_MEASURED;
    }
    if (m->backlog == 0) return WINDOW_IDLE;
    if (m->oldest_wait > 0) *rt = m->oldest_wait;
    return WINDOW_BACKLOG;
}

/* The current cores, where a law that holds starts from. */
static double current_cores(const roma_ctl_model *m) {
    return clamp(isnan(m->cores) ? m->min : m->cores, m->min, m->max);
}

/* ---- proposals ------------------------------------------------------------ */

static double propose_roma(const roma_ctl_params *p, roma_ctl_model *m, window_kind w) {
    if (w == WINDOW_IDLE) return m->min; /* nothing to learn, give cores back */
    /* The bounded error keeps xc finite; one that came in otherwise (a
     * caller's state never initialised) restarts from the cores. */
    if (!isfinite(m->xc)) m->xc = current_cores(m);
    m->xc += p->B * m->error;
    double next = ceil_tenth(m->xc + p->D * m->error);
    /* A lower bound on rt can only argue for more cores (controller.h). */
    if (w == WINDOW_BACKLOG) next = fmax(next, current_cores(m));
    return clamp(next, m->min, m->max);
}

/* ---- relative-pi-ff ------------------------------------------------------ */

/* Learns what a request costs on the CPU worker: CPU seconds used over
 * requests completed, as sums that forget a factor ff_memory a period (a
 * ratio of sums, not a mean of ratios: a window of 1 request moves it
 * little).  CPU a window used without completing anything (a start, a
 * stall) is not a request's cost and is dropped, as roma serve's cost-aware
 * dispatch drops it.  An unknown counter (cpu_seconds < 0, cluster mode)
 * teaches nothing. */
static void ff_learn_cost(const roma_ctl_params *p, roma_ctl_model *m) {
    if (!(m->cpu_seconds >= 0)) {
        m->ff_cpu_prev = -1;
        return;
    }
    double used = m->cpu_seconds - m->ff_cpu_prev;
    if (m->ff_cpu_prev >= 0 && m->completed > 0 && used >= 0) {
        m->ff_cpu = p->ff_memory * m->ff_cpu + used;
        m->ff_done = p->ff_memory * m->ff_done + (double)m->completed;
    }
    m->ff_cpu_prev = m->cpu_seconds;
}

/* The feed-forward cores: the CPU the window's demand needs, with headroom,
 * plus what clears the backlog within ff_drain SLAs.  The demand is the
 * requests that came for the CPU worker: those it completed plus what its
 * backlog grew by, which is the arrivals less those a GPU served, and is
 * not capped by the cores it had (a worker short of cores completes fewer,
 * and its backlog grows by the rest).  0 while the cost or the window's
 * length is unknown: the law is then relative-pi alone. */
static double ff_cores(const roma_ctl_params *p, roma_ctl_model *m) {
    size_t backlog_prev = m->ff_backlog_prev;
    m->ff_backlog_prev = m->backlog;
    ff_learn_cost(p, m);
    if (!(m->ff_done > 0) || !(m->window > 0) || !(m->sla > 0)) return 0;
    double cost = m->ff_cpu / m->ff_done;
    double came = (double)m->completed + (double)m->backlog - (double)backlog_prev;
    double ff = cost * (p->ff_headroom * fmax(came, 0) / m->window +
                        (double)m->backlog / (p->ff_drain * m->sla));
    return isfinite(ff) ? ff : 0;
}

/* relative-pi with the feed-forward as a floor: cores = max(PI, ff).
 * Adding the PI on top of the feed-forward (cores = ff + PI correction)
 * was measured too and was worse (roma sim, experiments/standard.yaml,
 * headroom 1-1.5, drain 1-4 SLAs: 5.7-30% of requests late at 1.24-1.31x
 * the optimum's core-seconds, the max 0.9-3.1% at 1.24-1.54x; README,
 * "Controllers"): a window's arrival count is noisy (a few
 * tens of Poisson arrivals, +-20-30%), the sum passes that noise straight
 * into the cores, and the correction integral, which must then cancel the
 * headroom, lags every load change.  As a floor the feed-forward acts only
 * where the PI is short, on a rise of the load or a backlog, which is where
 * a PI that waits for response times to grow is late; the PI keeps its
 * integral on the actuated cores (anti-windup), so when the floor lifts the
 * cores the integral starts from there, and when the load falls the PI
 * brings the cores down as relative-pi would. */
static double propose_ff(const roma_ctl_params *p, roma_ctl_model *m, window_kind w) {
    m->ff_cores = ff_cores(p, m);
    double pi = propose_roma(p, m, w);
    if (w == WINDOW_IDLE) return pi; /* min: nothing came, nothing waits */
    return clamp(fmax(pi, ceil_tenth(m->ff_cores)), m->min, m->max);
}

static double propose_rules(const roma_ctl_params *p, roma_ctl_model *m, window_kind w, double rt) {
    double current = current_cores(m);
    if (m->cooldown > 0) {
        m->cooldown--;
        return current;
    }
    double next = current;
    if (w == WINDOW_IDLE || (w == WINDOW_MEASURED && rt < p->rules_down * m->sla))
        next -= p->rules_step;
    else if (rt > p->rules_up * m->sla)
        next += p->rules_step;
    next = clamp(next, m->min, m->max);
    if (fabs(next - current) > ROMA_CTL_EPS) m->cooldown = p->rules_cooldown;
    return next;
}

/* The error each kind's law works on: 0 when idle, never negative on a
 * backlog (a lower bound cannot show a model early), never NaN (an SLA
 * that is NaN carries no set point: no error) and bounded (SPEED_ERROR_MAX,
 * norm_error_max). */
static double error_of(roma_ctl_kind kind, const roma_ctl_params *p, const roma_ctl_model *m,
                       window_kind w, double rt) {
    if (w == WINDOW_IDLE) return 0;
    double e;
    if (kind != ROMA_CTL_ROMA_NORM && kind != ROMA_CTL_RELATIVE_PI_FF) {
        e = clamp(1 / m->sla - 1 / rt, -SPEED_ERROR_MAX, SPEED_ERROR_MAX);
    } else {
        double target = roma_ctl_set_point(kind, p, m->sla_percentile) * m->sla;
        e = clamp((rt - target) / target, -1, p->norm_error_max);
    }
    if (isnan(e)) e = 0; /* inf - inf, 0/0: clamp lets NaN through */
    return w == WINDOW_BACKLOG ? fmax(e, 0) : e;
}

static double propose(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *m) {
    double rt;
    window_kind w = read_window(m, &rt);
    m->error = error_of(kind, p, m, w, rt);
    switch (kind) {
    case ROMA_CTL_ROMA:
    case ROMA_CTL_ROMA_NORM: return propose_roma(p, m, w);
    case ROMA_CTL_RELATIVE_PI_FF: return propose_ff(p, m, w);
    case ROMA_CTL_RULES: return propose_rules(p, m, w, rt);
    case ROMA_CTL_STATIC: return clamp(m->initial, m->min, m->max);
    case ROMA_CTL_VPA:
        return roma_vpa_update(&p->vpa, &m->vpa, m->cpu_seconds, m->window, current_cores(m), m->min,
                               m->max);
    }
    return current_cores(m); /* not a kind: hold */
}

/* What normalisation may work on: a number in [min, max].  No law proposes
 * NaN from sane inputs, but one NaN in the node's sum would make the scale
 * NaN and pin every model of the node at its min (NaN compares false
 * everywhere), so a model whose law has nothing sane to say keeps the
 * cores it has; +-inf are clamped like any other value. */
static double sane_proposal(const roma_ctl_model *m, double x) {
    return isnan(x) ? current_cores(m) : clamp(x, m->min, m->max);
}

/* ---- node normalisation ----------------------------------------------------
 * Scaling every proposal by cpus/sum would fit the node exactly, but a model
 * scaled below its min must be lifted back to min, which takes cores the
 * others were counting on.  So the models that scaling pushes below min are
 * pinned at min and the rest share cpus - (their mins) in proportion to
 * their proposals; pinning lowers the scale, which may pin more, so repeat
 * until the pinned set stops growing (at most n rounds; n is a handful of
 * models, and the O(n^2) worst case is nothing).
 *
 * Each unpinned model gets its exact share rounded down to a tenth, so the
 * shares add up to at most cpus and min <= share < proposal <= max.
 * Rounding down alone can waste most of a small node (two models sharing 1
 * core get 0.3 + 0.3 of 0.5 + 0.5 when their shares are 0.357), so the whole
 * tenths it leaves over go back one each to the models that lost the most
 * to rounding (largest remainder), never above a model's own proposal. */

/* The scale that fits the node, or 0 when only the mins fit (or not even
 * they: a config error reported elsewhere; every model then sits at min). */
static double fit_scale(const roma_ctl_model *models, size_t n, double cpus, double sum) {
    double scale = cpus / sum;
    size_t pinned_before = 0;
    for (;;) {
        size_t pinned = 0;
        double pinned_cores = 0, free_cores = 0;
        for (size_t i = 0; i < n; i++) {
            const roma_ctl_model *m = &models[i];
            if (m->cores_before_norm * scale < m->min) {
                pinned++;
                pinned_cores += m->min;
            } else {
                free_cores += m->cores_before_norm;
            }
        }
        if (free_cores <= 0 || pinned_cores >= cpus) return 0;
        /* Pinning only ever lowers the scale, and a lower scale only pins
         * more, so the loop ends once the pinned set stops growing (same
         * size, same set).  fmin keeps that true in floating point too: a
         * model exactly on its min's edge could otherwise flip in and out
         * forever as rounding nudges the scale up and down. */
        scale = fmin(scale, (cpus - pinned_cores) / free_cores);
        if (pinned == pinned_before) return scale;
        pinned_before = pinned;
    }
}

/* Index of the model that lost the most to rounding down and can take one
 * more tenth without passing its proposal, or -1.  A model already given a
 * tenth sits above its exact share and so is never picked twice. */
static int largest_remainder(const roma_ctl_model *models, size_t n, double scale) {
    int best = -1;
    double best_rem = TENTH_SLACK / 10;
    for (size_t i = 0; i < n; i++) {
        const roma_ctl_model *m = &models[i];
        double rem = m->cores_before_norm * scale - m->cores;
        if (rem > best_rem && m->cores + 0.1 <= m->cores_before_norm + ROMA_CTL_EPS) {
            best = (int)i;
            best_rem = rem;
        }
    }
    return best;
}

static void fit_node(roma_ctl_model *models, size_t n, double cpus) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += models[i].cores_before_norm;
    if (sum <= cpus + ROMA_CTL_EPS) {
        for (size_t i = 0; i < n; i++) models[i].cores = models[i].cores_before_norm;
        return;
    }
    double scale = fit_scale(models, n, cpus, sum), given = 0;
    for (size_t i = 0; i < n; i++) {
        roma_ctl_model *m = &models[i];
        m->cores = fmax(m->min, floor_tenth(m->cores_before_norm * scale));
        given += m->cores;
    }
    long tenths_left = lround(floor_tenth(cpus - given) * 10);
    for (; tenths_left > 0; tenths_left--) {
        int k = largest_remainder(models, n, scale);
        if (k < 0) break;
        models[k].cores = floor_tenth(models[k].cores + 0.1);
    }
}

void roma_ctl_update(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *models,
                     size_t n, double node_cpus) {
    roma_ctl_params defaults = roma_ctl_default_params();
    if (!p) p = &defaults;
    for (size_t i = 0; i < n; i++)
        models[i].cores_before_norm = sane_proposal(&models[i], propose(kind, p, &models[i]));
    fit_node(models, n, node_cpus);
    /* Anti-windup: remember what was actuated.  For an idle model error is
     * 0, so its integral state restarts from min. */
    if (kind == ROMA_CTL_ROMA || kind == ROMA_CTL_ROMA_NORM || kind == ROMA_CTL_RELATIVE_PI_FF)
        for (size_t i = 0; i < n; i++) models[i].xc = models[i].cores - p->B * models[i].error;
}

static int rt_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double roma_ctl_window_percentile(double *rts, size_t n, double p) {
    if (n == 0) return 0;
    qsort(rts, n, sizeof(*rts), rt_cmp);
    return bench_stats_percentile(rts, n, p);
}

roma_code roma_ctl_parse(const char *name, roma_ctl_kind *kind) {
    for (size_t i = 0; name && i < CTL_KINDS; i++) {
        if (strcmp(name, ctl_names[i]) == 0) {
            *kind = (roma_ctl_kind)i;
            return ROMA_OK;
        }
    }
    for (size_t i = 0; name && i < sizeof(ctl_aliases) / sizeof(ctl_aliases[0]); i++) {
        if (strcmp(name, ctl_aliases[i].name) == 0) {
            *kind = ctl_aliases[i].kind;
            return ROMA_OK;
        }
    }
    return ROMA_INVALID_ARGUMENT;
}

const char *roma_ctl_name(roma_ctl_kind kind) {
    if ((size_t)kind >= CTL_KINDS) return "unknown";
    return ctl_names[kind];
}

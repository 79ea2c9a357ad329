/* controller.c - CPU core controllers (see controller.h).
 *
 * A period runs in three phases over the node's models: each kind proposes
 * cores for every model (cores_before_norm), the node normalisation fits the
 * proposals into the node's cpus (cores), and the roma controller then
 * back-calculates its integral state from what will really be actuated, so
 * that a model held down by its max or by its neighbours does not wind up.
 */
#include "control/controller.h"

#include <math.h>
#include <string.h>

/* Rounding to tenths tolerates the error of the arithmetic that produced x:
 * 0.1 + 0.2 is 0.30000000000000004, which must stay 0.3 rather than be
 * rounded up to 0.4, and 1.5 * (2.0 / 3) must give 1.0, not 0.9.  In
 * whole tenths the slack cannot change a sum of rounded shares whose exact
 * total is a whole number of tenths (node cpus and mins on the 0.1 grid). */
#define TENTH_SLACK 1e-9

static const char *const ctl_names[] = {
    [ROMA_CTL_ROMA] = "roma",
    [ROMA_CTL_RULES] = "rules",
    [ROMA_CTL_STATIC] = "static",
    [ROMA_CTL_ROMA_NORM] = "roma-norm",
};

#define CTL_KINDS (sizeof(ctl_names) / sizeof(ctl_names[0]))

roma_ctl_params roma_ctl_default_params(void) {
    return (roma_ctl_params){
        .B = 0.21, .D = 0.17, .rules_up = 0.8, .rules_down = 0.2, .rules_step = 0.5,
        .rules_cooldown = 2, .norm_setpoint = 0.4, .norm_error_max = 3,
    };
}

void roma_ctl_init(roma_ctl_model *m) {
    m->cores = m->initial;
    m->xc = m->initial;
    m->cooldown = 0;
    m->error = 0;
    m->cores_before_norm = m->initial;
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

/* rt_mean is a usable measurement (NaN fails the comparison too). */
static int measured(const roma_ctl_model *m) {
    return m->completed > 0 && m->rt_mean > 0;
}

/* ---- proposals ------------------------------------------------------------ */

static double propose_roma(const roma_ctl_params *p, roma_ctl_model *m) {
    if (!measured(m)) return m->min; /* idle: nothing to learn, give cores back */
    m->xc += p->B * m->error;
    return clamp(ceil_tenth(m->xc + p->D * m->error), m->min, m->max);
}

static double propose_rules(const roma_ctl_params *p, roma_ctl_model *m) {
    double current = clamp(m->cores, m->min, m->max);
    if (m->cooldown > 0) {
        m->cooldown--;
        return current;
    }
    double next = current;
    if (!measured(m) || m->rt_mean < p->rules_down * m->sla)
        next -= p->rules_step;
    else if (m->rt_mean > p->rules_up * m->sla)
        next += p->rules_step;
    next = clamp(next, m->min, m->max);
    if (fabs(next - current) > ROMA_CTL_EPS) m->cooldown = p->rules_cooldown;
    return next;
}

/* The error each kind's law works on (0 without a measurement). */
static double error_of(roma_ctl_kind kind, const roma_ctl_params *p, const roma_ctl_model *m) {
    if (!measured(m)) return 0;
    if (kind != ROMA_CTL_ROMA_NORM) return 1 / m->sla - 1 / m->rt_mean;
    double target = p->norm_setpoint * m->sla;
    return clamp((m->rt_mean - target) / target, -1, p->norm_error_max);
}

static double propose(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *m) {
    m->error = error_of(kind, p, m);
    switch (kind) {
    case ROMA_CTL_ROMA:
    case ROMA_CTL_ROMA_NORM: return propose_roma(p, m);
    case ROMA_CTL_RULES: return propose_rules(p, m);
    case ROMA_CTL_STATIC: return clamp(m->initial, m->min, m->max);
    }
    return clamp(m->cores, m->min, m->max); /* not a kind: hold */
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
    for (size_t i = 0; i < n; i++) models[i].cores_before_norm = propose(kind, p, &models[i]);
    fit_node(models, n, node_cpus);
    /* Anti-windup: remember what was actuated.  For an idle model error is
     * 0, so its integral state restarts from min. */
    if (kind == ROMA_CTL_ROMA || kind == ROMA_CTL_ROMA_NORM)
        for (size_t i = 0; i < n; i++) models[i].xc = models[i].cores - p->B * models[i].error;
}

roma_code roma_ctl_parse(const char *name, roma_ctl_kind *kind) {
    for (size_t i = 0; name && i < CTL_KINDS; i++) {
        if (strcmp(name, ctl_names[i]) == 0) {
            *kind = (roma_ctl_kind)i;
            return ROMA_OK;
        }
    }
    return ROMA_INVALID_ARGUMENT;
}

const char *roma_ctl_name(roma_ctl_kind kind) {
    if ((size_t)kind >= CTL_KINDS) return "unknown";
    return ctl_names[kind];
}

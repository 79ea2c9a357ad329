/* schedule.c - see schedule.h.  The time change (send k at E^-1(y_k)) is
 * solved in closed form for constant, step and ramp profiles and by
 * bisection for sine, whose E has no closed-form inverse; E is monotone
 * because rates are never negative, so bisection always converges. */
#include "schedule.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

/* ---- names ------------------------------------------------------------- */

roma_code bench_arrivals_parse(const char *name, bench_arrivals *out, roma_err *err) {
    if (name && strcmp(name, "constant") == 0) *out = BENCH_ARRIVALS_CONSTANT;
    else if (name && strcmp(name, "poisson") == 0) *out = BENCH_ARRIVALS_POISSON;
    else
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "unknown arrival process '%s' (expected constant or poisson)",
                         name ? name : "");
    return ROMA_OK;
}

const char *bench_arrivals_name(bench_arrivals a) {
    return a == BENCH_ARRIVALS_POISSON ? "poisson" : "constant";
}

const char *bench_profile_name(bench_profile_kind k) {
    static const char *const names[] = {"constant", "step", "ramp", "sine"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

/* ---- profile arithmetic ------------------------------------------------ */

static int bad_rate(double r) { return !isfinite(r) || r < 0; }
static int bad_length(double d) { return !isfinite(d) || d <= 0; }

roma_code bench_profile_check(const bench_profile *p, roma_err *err) {
    const char *kind = bench_profile_name(p->kind);
    switch (p->kind) {
    case BENCH_PROFILE_CONSTANT:
        if (bad_rate(p->rate)) return roma_fail(err, ROMA_INVALID_ARGUMENT, "constant: 'rate' must be >= 0");
        break;
    case BENCH_PROFILE_STEP:
        if (!p->nsteps) return roma_fail(err, ROMA_INVALID_ARGUMENT, "step: needs at least one step");
        for (size_t i = 0; i < p->nsteps; i++)
            if (bad_rate(p->steps[i].rate) || bad_length(p->steps[i].duration))
                return roma_fail(err, ROMA_INVALID_ARGUMENT,
                                 "step %zu: 'rate' must be >= 0 and 'duration' > 0", i + 1);
        return ROMA_OK;
    case BENCH_PROFILE_RAMP:
        if (bad_rate(p->from)) return roma_fail(err, ROMA_INVALID_ARGUMENT, "ramp: 'from' must be >= 0");
        if (bad_rate(p->to)) return roma_fail(err, ROMA_INVALID_ARGUMENT, "ramp: 'to' must be >= 0");
        break;
    case BENCH_PROFILE_SINE:
        if (bad_rate(p->mean)) return roma_fail(err, ROMA_INVALID_ARGUMENT, "sine: 'mean' must be >= 0");
        if (bad_rate(p->amplitude) || p->amplitude > p->mean)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "sine: 'amplitude' must be between 0 and 'mean' (%g), or the rate "
                             "would go negative", p->mean);
        if (bad_length(p->period)) return roma_fail(err, ROMA_INVALID_ARGUMENT, "sine: 'period' must be > 0");
        break;
    default:
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "unknown profile kind %d", (int)p->kind);
    }
    if (bad_length(p->duration))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s: 'duration' must be > 0", kind);
    return ROMA_OK;
}

double bench_profile_duration(const bench_profile *p) {
    if (p->kind != BENCH_PROFILE_STEP) return p->duration;
    double d = 0;
    for (size_t i = 0; i < p->nsteps; i++) d += p->steps[i].duration;
    return d;
}

double bench_profile_rate(const bench_profile *p, double t) {
    double d = bench_profile_duration(p);
    if (!(t >= 0 && t < d)) return 0;
    switch (p->kind) {
    case BENCH_PROFILE_CONSTANT: return p->rate;
    case BENCH_PROFILE_RAMP: return p->from + (p->to - p->from) * t / d;
    case BENCH_PROFILE_SINE: return p->mean + p->amplitude * sin(2 * M_PI * t / p->period);
    case BENCH_PROFILE_STEP:
        for (size_t i = 0; i < p->nsteps; i++) {
            if (t < p->steps[i].duration) return p->steps[i].rate;
            t -= p->steps[i].duration;
        }
        return 0;
    }
    return 0;
}

double bench_profile_expected(const bench_profile *p, double t) {
    double d = bench_profile_duration(p), e = 0;
    t = t < 0 ? 0 : t > d ? d : t;
    switch (p->kind) {
    case BENCH_PROFILE_CONSTANT: return p->rate * t;
    case BENCH_PROFILE_RAMP: return p->from * t + (p->to - p->from) * t * t / (2 * d);
    case BENCH_PROFILE_SINE:
        return p->mean * t + p->amplitude * p->period / (2 * M_PI) * (1 - cos(2 * M_PI * t / p->period));
    case BENCH_PROFILE_STEP:
        for (size_t i = 0; i < p->nsteps && t > 0; i++) {
            double part = t < p->steps[i].duration ? t : p->steps[i].duration;
            e += p->steps[i].rate * part;
            t -= part;
        }
        return e;
    }
    return 0;
}

/* The earliest t with E(t) = y, for 0 <= y < E(duration). */
static double profile_inverse(const bench_profile *p, double y) {
    double d = bench_profile_duration(p);
    switch (p->kind) {
    case BENCH_PROFILE_CONSTANT: return y / p->rate;
    case BENCH_PROFILE_STEP: {
        double acc = 0, start = 0;
        for (size_t i = 0; i < p->nsteps; i++) {
            double e = p->steps[i].rate * p->steps[i].duration;
            if (acc + e > y) return start + (y - acc) / p->steps[i].rate;
            acc += e;
            start += p->steps[i].duration;
        }
        return d;
    }
    case BENCH_PROFILE_RAMP: {
        /* from*x + a*x^2/2 = y, in the form that stays exact when a -> 0. */
        double a = (p->to - p->from) / d, den = p->from + sqrt(p->from * p->from + 2 * a * y);
        return den > 0 ? 2 * y / den : 0;
    }
    case BENCH_PROFILE_SINE: {
        double lo = 0, hi = d;
        for (int i = 0; i < 200 && hi - lo > 0; i++) {
            double mid = lo + (hi - lo) / 2;
            if (mid <= lo || mid >= hi) break;
            if (bench_profile_expected(p, mid) < y) lo = mid;
            else hi = mid;
        }
        return hi;
    }
    }
    return d;
}

/* ---- building the schedule -------------------------------------------- */

/* An exponential(1) draw. */
static double next_exponential(uint64_t *state) {
    return -log(roma_rng_unit(state));
}

static roma_code push(bench_schedule *s, double time, uint32_t model, roma_err *err) {
    if (s->len >= BENCH_SCHEDULE_MAX)
        return roma_fail(err, ROMA_RESOURCE_EXHAUSTED,
                         "the schedule would hold more than %u requests; lower the rate or "
                         "the duration", BENCH_SCHEDULE_MAX);
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        bench_send *n = realloc(s->sends, cap * sizeof(*n));
        if (!n) abort(); /* as roma_buf: nothing sensible is left to do */
        s->sends = n;
        s->cap = cap;
    }
    s->sends[s->len++] = (bench_send){time, model};
    return ROMA_OK;
}

roma_code bench_schedule_add_profile(bench_schedule *s, const bench_profile *p, bench_arrivals a,
                                     uint64_t seed, uint32_t model, double until, roma_err *err) {
    double end = bench_profile_duration(p);
    if (until < end) end = until;
    double limit = bench_profile_expected(p, end);
    if (limit > (double)BENCH_SCHEDULE_MAX)
        return roma_fail(err, ROMA_RESOURCE_EXHAUSTED,
                         "%s profile: %.0f requests expected, more than the %u a schedule may "
                         "hold; lower the rate or the duration",
                         bench_profile_name(p->kind), limit, BENCH_SCHEDULE_MAX);
    size_t first = s->len;
    uint64_t state = seed;
    double y = a == BENCH_ARRIVALS_POISSON ? next_exponential(&state) : 0;
    for (uint64_t k = 1; y < limit; k++) {
        double t = profile_inverse(p, y);
        if (t >= end) break;
        if (push(s, t, model, err) != ROMA_OK) {
            s->len = first;
            return ROMA_RESOURCE_EXHAUSTED;
        }
        /* y_k = k exactly (not a running sum) so constant arrivals never drift. */
        y = a == BENCH_ARRIVALS_POISSON ? y + next_exponential(&state) : (double)k;
    }
    return ROMA_OK;
}

/* ---- trace replay ------------------------------------------------------ */

static int find_model(const char *const *models, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(models[i]) == len && memcmp(models[i], name, len) == 0) return (int)i;
    return -1;
}

/* One trace line (NUL-terminated, trimmed).  A first line that does not
 * start with a number is a header and is skipped. */
static roma_code trace_row(bench_schedule *s, char *line, const char *file, size_t lineno,
                           int first, const char *const *models, size_t nmodels, double until,
                           roma_err *err) {
    char *end;
    double t = strtod(line, &end);
    if (end == line && first) return ROMA_OK; /* a header such as "time_seconds,model" */
    while (*end == ' ' || *end == '\t') end++;
    if (end == line || *end != ',')
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "%s:%zu: expected 'time_seconds,model', got '%.80s'", file, lineno, line);
    if (!isfinite(t) || t < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s:%zu: time %g must be >= 0 seconds",
                         file, lineno, t);
    char *name = end + 1;
    while (*name == ' ' || *name == '\t') name++;
    size_t len = strlen(name);
    while (len && isspace((unsigned char)name[len - 1])) len--;
    int m = find_model(models, nmodels, name, len);
    if (m < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "%s:%zu: unknown model '%.*s' (the workload's models are listed under "
                         "'models')", file, lineno, (int)(len > 80 ? 80 : len), name);
    if (t >= until) return ROMA_OK;
    return push(s, t, (uint32_t)m, err);
}

roma_code bench_schedule_add_trace(bench_schedule *s, const char *csv, const char *file,
                                   const char *const *models, size_t nmodels, double until,
                                   roma_err *err) {
    size_t first = s->len, lineno = 0;
    int seen_row = 0;
    char line[1024];
    for (const char *p = csv; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (n >= sizeof(line)) {
            s->len = first;
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s:%zu: line longer than %zu bytes",
                             file, lineno, sizeof(line) - 1);
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl ? nl + 1 : "";
        while (n && isspace((unsigned char)line[n - 1])) line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        roma_code rc = trace_row(s, line, file, lineno, !seen_row, models, nmodels, until, err);
        seen_row = 1;
        if (rc != ROMA_OK) {
            s->len = first;
            return rc;
        }
    }
    return ROMA_OK;
}

/* ---- order and cleanup ------------------------------------------------- */

static int send_cmp(const void *a, const void *b) {
    const bench_send *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return (x->model > y->model) - (x->model < y->model);
}

void bench_schedule_sort(bench_schedule *s) {
    if (s->len > 1) qsort(s->sends, s->len, sizeof(*s->sends), send_cmp);
}

void bench_schedule_free(bench_schedule *s) {
    free(s->sends);
    *s = (bench_schedule)BENCH_SCHEDULE_INIT;
}

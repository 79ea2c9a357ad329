/* history.c - the dashboard's time series: response-time quantiles of an
 * interval, the ring of samples and its JSON (see history.h).
 *
 * Quantiles come from a log-bucket histogram rather than from sorting the
 * interval's response times: a second of a busy model may hold thousands
 * of requests, and the event loop must not allocate or sort per request.
 * With buckets 5% wide the middle of a bucket is within 2.5% of any value
 * in it, which is finer than a chart can show.
 */
#include "history.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- response times of an interval --------------------------------------- */

static int rt_bucket(double rt) {
    if (!(rt > HISTORY_RT_MIN)) return 0;
    double k = log(rt / HISTORY_RT_MIN) / log(HISTORY_RT_GROWTH);
    return k >= HISTORY_RT_BUCKETS - 1 ? HISTORY_RT_BUCKETS - 1 : (int)k;
}

void history_rt_add(history_rt_acc *a, double rt) {
    if (!isfinite(rt) || rt < 0) return;
    if (!a->count || rt < a->min) a->min = rt;
    if (!a->count || rt > a->max) a->max = rt;
    a->count++;
    a->sum += rt;
    a->bucket[rt_bucket(rt)]++;
}

double history_rt_quantile(const history_rt_acc *a, double p) {
    if (!a->count) return NAN;
    /* The rank of the p-quantile (nearest rank, 1-based). */
    uint64_t rank = (uint64_t)ceil(p * (double)a->count), seen = 0;
    if (rank < 1) rank = 1;
    int b = 0;
    for (; b < HISTORY_RT_BUCKETS - 1; b++) {
        seen += a->bucket[b];
        if (seen >= rank) break;
    }
    /* The open-ended first and last buckets have no middle: their extremes. */
    if (b == 0) return a->min;
    if (b == HISTORY_RT_BUCKETS - 1) return a->max;
    double v = HISTORY_RT_MIN * pow(HISTORY_RT_GROWTH, b + 0.5);
    return v < a->min ? a->min : v > a->max ? a->max : v;
}

double history_rt_mean(const history_rt_acc *a) {
    return a->count ? a->sum / (double)a->count : NAN;
}

void history_rt_reset(history_rt_acc *a) {
    memset(a, 0, sizeof(*a));
}

/* ---- the ring -------------------------------------------------------------- */

/* Writes one byte a page, through volatile so no compiler drops the stores
 * as redundant after calloc. */
static void touch_pages(void *p, size_t n) {
    volatile char *c = p;
    for (size_t i = 0; i < n; i += 4096) c[i] = 0;
}

roma_code history_ring_init(history_ring *r, size_t cap, size_t nmodels, const int *gpu_ids,
                            size_t ngpus, roma_err *err) {
    memset(r, 0, sizeof(*r));
    if (cap < 1)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "history: a ring needs room for a sample");
    if (ngpus > HISTORY_DEVICES - 1)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "history: at most %d GPUs",
                         HISTORY_DEVICES - 1);
    for (size_t g = 0; g < ngpus; g++) {
        if (gpu_ids[g] < 0)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "history: GPU id %d is negative",
                             gpu_ids[g]);
        r->gpu_ids[g] = gpu_ids[g];
    }
    r->cap = cap, r->nmodels = nmodels, r->ngpus = ngpus;
    r->t = calloc(cap, sizeof(double));
    r->points = calloc(cap * (nmodels ? nmodels : 1), sizeof(history_point));
    r->gpu_busy = calloc(cap * (ngpus ? ngpus : 1), sizeof(double));
    if (!r->t || !r->points || !r->gpu_busy) {
        history_ring_free(r);
        return roma_fail(err, ROMA_RESOURCE_EXHAUSTED, "history: out of memory for %zu samples",
                         cap);
    }
    /* Touch every page now (calloc hands back untouched pages for large
     * sizes): the ring is full after an hour anyway, and paying for it at
     * start keeps roma serve's RSS flat, so a leak stands out. */
    touch_pages(r->t, cap * sizeof(double));
    touch_pages(r->points, cap * (nmodels ? nmodels : 1) * sizeof(history_point));
    touch_pages(r->gpu_busy, cap * (ngpus ? ngpus : 1) * sizeof(double));
    return ROMA_OK;
}

void history_ring_free(history_ring *r) {
    free(r->t);
    free(r->points);
    free(r->gpu_busy);
    r->t = NULL, r->points = NULL, r->gpu_busy = NULL;
    r->len = r->head = 0;
}

static size_t slot_of(const history_ring *r, size_t i) {
    return (r->head + i) % r->cap;
}

int history_ring_push(history_ring *r, double t, const history_point *points,
                      const double *gpu_busy) {
    if (r->len && !(t > history_ring_time(r, r->len - 1))) return -1;
    size_t slot;
    if (r->len < r->cap) {
        slot = slot_of(r, r->len++);
    } else {
        slot = r->head; /* the oldest goes */
        r->head = (r->head + 1) % r->cap;
    }
    r->t[slot] = t;
    if (r->nmodels) memcpy(&r->points[slot * r->nmodels], points, r->nmodels * sizeof(*points));
    if (r->ngpus) memcpy(&r->gpu_busy[slot * r->ngpus], gpu_busy, r->ngpus * sizeof(double));
    return 0;
}

double history_ring_time(const history_ring *r, size_t i) {
    return r->t[slot_of(r, i)];
}

const history_point *history_ring_point(const history_ring *r, size_t i, size_t model) {
    return &r->points[slot_of(r, i) * r->nmodels + model];
}

double history_ring_gpu_busy(const history_ring *r, size_t i, size_t gpu) {
    return r->gpu_busy[slot_of(r, i) * r->ngpus + gpu];
}

/* Binary search: samples are in time order (history_ring_push). */
size_t history_ring_first_after(const history_ring *r, double since) {
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (history_ring_time(r, mid) > since) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* ---- JSON ------------------------------------------------------------------ */

static void put_number(roma_buf *out, double v, const char *fmt) {
    if (isfinite(v)) roma_buf_printf(out, fmt, v);
    else roma_buf_puts(out, "null");
}

/* The fields of a point by name, so the column writer, the row writer and
 * the parser share one list. */
typedef enum { F_DOUBLE, F_RT, F_U32 } field_kind;
static const struct {
    const char *name;
    field_kind kind;
    size_t offset;
} fields[] = {
    {"sla", F_DOUBLE, offsetof(history_point, sla)},
    {"p50", F_RT, offsetof(history_point, p50)},
    {"p95", F_RT, offsetof(history_point, p95)},
    {"p99", F_RT, offsetof(history_point, p99)},
    {"mean", F_RT, offsetof(history_point, mean)},
    {"rejected", F_U32, offsetof(history_point, rejected)},
    {"failed", F_U32, offsetof(history_point, failed)},
    {"violations", F_U32, offsetof(history_point, violations)},
    {"queue", F_U32, offsetof(history_point, queue)},
    {"cores", F_DOUBLE, offsetof(history_point, cores)},
    {"cpu_used", F_DOUBLE, offsetof(history_point, cpu_used)},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static void put_field(roma_buf *out, const history_point *p, size_t f) {
    const char *base = (const char *)p + fields[f].offset;
    if (fields[f].kind == F_U32) roma_buf_printf(out, "%u", *(const uint32_t *)base);
    else put_number(out, *(const double *)base, fields[f].kind == F_RT ? "%.6f" : "%.6g");
}

int history_device_of_gpu(int gpu) {
    return gpu + 1 < HISTORY_DEVICES ? gpu + 1 : HISTORY_DEVICES - 1;
}

static const char *device_name(int device, char *buf, size_t cap) {
    if (device == 0) return "cpu";
    snprintf(buf, cap, "gpu:%d", device - 1);
    return buf;
}

/* "name": [column of field f of model m over samples first..len). */
static void put_column(roma_buf *out, const history_ring *r, size_t first, size_t m, int f,
                       int device) {
    roma_buf_putc(out, '[');
    for (size_t i = first; i < r->len; i++) {
        const history_point *p = history_ring_point(r, i, m);
        if (i > first) roma_buf_putc(out, ',');
        if (!p->present) roma_buf_puts(out, "null");
        else if (f >= 0) put_field(out, p, (size_t)f);
        else roma_buf_printf(out, "%u", p->ok[device]);
    }
    roma_buf_putc(out, ']');
}

static void put_model(roma_buf *out, const history_ring *r, size_t first, size_t m,
                      const char *name) {
    char dev[16];
    roma_buf_puts(out, "{\"name\": ");
    roma_buf_json_string(out, name, strlen(name));
    for (size_t f = 0; f < NFIELDS; f++) {
        roma_buf_printf(out, ", \"%s\": ", fields[f].name);
        put_column(out, r, first, m, (int)f, 0);
    }
    roma_buf_puts(out, ", \"ok\": {\"cpu\": ");
    put_column(out, r, first, m, -1, 0);
    for (size_t g = 0; g < r->ngpus; g++) {
        int d = history_device_of_gpu(r->gpu_ids[g]);
        roma_buf_printf(out, ", \"%s\": ", device_name(1 + r->gpu_ids[g], dev, sizeof(dev)));
        put_column(out, r, first, m, -1, d);
    }
    roma_buf_puts(out, "}}");
}

void history_write_json(const history_ring *r, double since, const char *const *names,
                        int only_model, double interval, roma_buf *out) {
    size_t first = history_ring_first_after(r, since);
    double last = r->len ? history_ring_time(r, r->len - 1) : since;
    if (last < since) last = since;
    if (!isfinite(last)) last = 0; /* no since and nothing held */
    roma_buf_printf(out, "{\"interval\": %g, \"horizon\": %zu, \"last\": %.3f, \"t\": [",
                    interval, r->cap, last);
    for (size_t i = first; i < r->len; i++)
        roma_buf_printf(out, "%s%.3f", i > first ? "," : "", history_ring_time(r, i));
    roma_buf_puts(out, "], \"models\": [");
    int n = 0;
    for (size_t m = 0; m < r->nmodels; m++) {
        if (only_model >= 0 && (size_t)only_model != m) continue;
        if (n++) roma_buf_puts(out, ", ");
        put_model(out, r, first, m, names[m]);
    }
    roma_buf_puts(out, "], \"gpus\": [");
    for (size_t g = 0; only_model < 0 && g < r->ngpus; g++) {
        roma_buf_printf(out, "%s{\"name\": \"gpu:%d\", \"busy\": [", g ? ", " : "",
                        r->gpu_ids[g]);
        for (size_t i = first; i < r->len; i++) {
            if (i > first) roma_buf_putc(out, ',');
            put_number(out, history_ring_gpu_busy(r, i, g), "%.4f");
        }
        roma_buf_puts(out, "]}");
    }
    roma_buf_puts(out, "]}");
}

void history_point_json(const history_point *p, roma_buf *out) {
    char dev[16];
    roma_buf_putc(out, '{');
    for (size_t f = 0; f < NFIELDS; f++) {
        roma_buf_printf(out, "%s\"%s\": ", f ? ", " : "", fields[f].name);
        put_field(out, p, f);
    }
    roma_buf_puts(out, ", \"ok\": {");
    int n = 0;
    for (int d = 0; d < HISTORY_DEVICES; d++)
        if (p->ok[d] || d == 0)
            roma_buf_printf(out, "%s\"%s\": %u", n++ ? ", " : "", device_name(d, dev, sizeof(dev)),
                            p->ok[d]);
    roma_buf_puts(out, "}}");
}

static uint32_t u32_of(json_t *v) {
    double x = json_is_number(v) ? json_number_value(v) : 0;
    return x > 0 && x < 4294967295.0 ? (uint32_t)x : 0;
}

roma_code history_point_parse(const char *text, history_point *p, roma_err *err) {
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "history: a stored sample is not a JSON object (%s)", je.text);
    }
    memset(p, 0, sizeof(*p));
    p->present = 1;
    for (size_t f = 0; f < NFIELDS; f++) {
        json_t *v = json_object_get(o, fields[f].name);
        char *base = (char *)p + fields[f].offset;
        if (fields[f].kind == F_U32) *(uint32_t *)base = u32_of(v);
        else if (json_is_number(v)) *(double *)base = json_number_value(v);
        else *(double *)base = fields[f].kind == F_RT ? NAN : 0;
    }
    json_t *ok = json_object_get(o, "ok");
    p->ok[0] = u32_of(json_object_get(ok, "cpu"));
    char dev[16];
    for (int d = 1; d < HISTORY_DEVICES; d++)
        p->ok[d] = u32_of(json_object_get(ok, device_name(d, dev, sizeof(dev))));
    json_decref(o);
    return ROMA_OK;
}

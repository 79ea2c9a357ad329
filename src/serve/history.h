/* history.h - the time series `roma serve` keeps for its dashboard: one
 * sample a second, per model and per GPU, in a bounded in-memory ring.
 *
 * A sample is what happened in one interval (1 s): per model the requests
 * answered (200s by device, 429s, other failures), their p50/p95/p99 and
 * mean response time, the SLA in force, the violations, the queue length
 * at the end, the cores allocated and the CPU the model's worker really
 * used (cores: CPU seconds over the interval); per GPU the share of the
 * interval its worker had a request in flight.  The ring keeps the newest
 * `cap` samples (3600: an hour at 1 s, about 120 bytes per model and
 * second; every page touched at start, so RSS does not creep for an hour)
 * and drops the oldest.
 *
 * Everything here is pure: no clock, no I/O, no serve_state.  The caller
 * (sampler.c) measures, pushes and asks for JSON; the store (store.h)
 * keeps the samples as rows made by history_point_json, and a restarted
 * roma serve reads them back with history_point_parse.
 *
 * Threads: none of its own; a ring is used by one thread at a time.
 */
#ifndef ROMA_HISTORY_H
#define ROMA_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"

#define HISTORY_DEVICES 9       /* "cpu" and gpu:0..7, as serve.h's SERVE_DEVICES */
#define HISTORY_RT_BUCKETS 400  /* log buckets of HISTORY_RT_GROWTH from HISTORY_RT_MIN */
#define HISTORY_RT_MIN 1e-4     /* seconds; faster ones count in the first bucket */
#define HISTORY_RT_GROWTH 1.05  /* so a quantile is within 2.5% of the truth */
#define HISTORY_HORIZON 3600    /* samples kept in memory by roma serve (1 h at 1 s) */

/* The response times of one interval, for its quantiles: a log-bucket
 * histogram (fixed size, O(1) per request) plus the exact min, max and
 * sum.  Zero-initialised is empty. */
typedef struct {
    uint64_t count;
    double sum, min, max;
    uint32_t bucket[HISTORY_RT_BUCKETS];
} history_rt_acc;

void history_rt_add(history_rt_acc *a, double rt);
/* The p-quantile (0 < p <= 1) of what was added: the geometric middle of
 * its bucket, clamped to [min, max] (so exact for one value, or when all
 * are equal); min or max for the open-ended buckets below 0.1 ms and past
 * 8 hours; NAN when empty. */
double history_rt_quantile(const history_rt_acc *a, double p);
double history_rt_mean(const history_rt_acc *a); /* NAN when empty */
void history_rt_reset(history_rt_acc *a);

/* One model in one sample. */
typedef struct {
    int present;                  /* 0: the model did not exist then (a restart
                                     with another config): written as null */
    double sla;                   /* seconds, in force at the end */
    double p50, p95, p99, mean;   /* of 200s answered in the interval; NAN: none */
    uint32_t ok[HISTORY_DEVICES]; /* 200s by device: [0] cpu, [1 + N] gpu:N */
    uint32_t rejected;            /* 429: queue full */
    uint32_t failed;              /* any other non-200 status */
    uint32_t violations;          /* 200s slower than the SLA */
    uint32_t queue;               /* requests waiting at the end */
    double cores;                 /* allocated to its CPU worker at the end */
    double cpu_used;              /* cores its CPU worker really used (CPU s / s) */
} history_point;

typedef struct {
    size_t cap, nmodels, ngpus;
    int gpu_ids[HISTORY_DEVICES - 1]; /* GPU g is gpu:gpu_ids[g] */
    size_t head, len;                 /* oldest sample, samples held */
    double *t;                        /* cap: end of each interval, UNIX seconds */
    history_point *points;            /* cap * nmodels */
    double *gpu_busy;                 /* cap * ngpus: busy share, [0, 1] */
} history_ring;

/* The index in history_point.ok of GPU id gpu: 1 + gpu, the last one for
 * ids past 7 (as roma serve's counters: serve.h SERVE_DEVICES). */
int history_device_of_gpu(int gpu);

/* Makes an empty ring of cap samples (cap >= 1) for nmodels models and the
 * GPUs gpu_ids[0..ngpus) (ngpus <= 8, ids >= 0).  ROMA_INVALID_ARGUMENT on a bad size
 * or GPU id; the arrays are owned by r until history_ring_free. */
roma_code history_ring_init(history_ring *r, size_t cap, size_t nmodels, const int *gpu_ids,
                            size_t ngpus, roma_err *err);
void history_ring_free(history_ring *r);

/* Appends the sample ending at t: points[nmodels] and gpu_busy[ngpus]
 * (copied; gpu_busy may be NULL when ngpus is 0).  When full, the oldest
 * sample goes.  Samples are kept in time order: one whose t is not after
 * the newest is refused (-1, nothing changes); 0 otherwise. */
int history_ring_push(history_ring *r, double t, const history_point *points,
                      const double *gpu_busy);

/* Sample i (0: the oldest held, len - 1: the newest). */
double history_ring_time(const history_ring *r, size_t i);
const history_point *history_ring_point(const history_ring *r, size_t i, size_t model);
double history_ring_gpu_busy(const history_ring *r, size_t i, size_t gpu);

/* The index of the first sample with t > since (len when none): what an
 * incremental reader that has seen everything up to `since` is missing. */
size_t history_ring_first_after(const history_ring *r, double since);

/* Appends the samples after `since` as JSON, by columns (arrays aligned
 * with "t"; NAN and absent points as null):
 *   {"interval": s, "horizon": n, "last": T, "t": [...],
 *    "models": [{"name": ..., "sla": [...], "p50": [...], "p95": [...],
 *                "p99": [...], "mean": [...], "ok": {"cpu": [...], "gpu:0": [...]},
 *                "rejected": [...], "failed": [...], "violations": [...],
 *                "queue": [...], "cores": [...], "cpu_used": [...]}, ...],
 *    "gpus": [{"name": "gpu:0", "busy": [...]}, ...]}
 * "last" is the newest sample's t (since itself when there is none): the
 * next `since`.  names[nmodels] are the models' names; only_model >= 0
 * writes that model alone (and no GPUs), -1 every model and GPU. */
void history_write_json(const history_ring *r, double since, const char *const *names,
                        int only_model, double interval, roma_buf *out);

/* A point as one JSON object (the store's `data` column), and back.
 * history_point_parse fills *p from such an object (missing fields: 0, or
 * NAN for the response times) and sets present; ROMA_INVALID_ARGUMENT
 * when text is not a JSON object. */
void history_point_json(const history_point *p, roma_buf *out);
roma_code history_point_parse(const char *text, history_point *p, roma_err *err);

#endif

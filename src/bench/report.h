/* report.h - what a `roma bench` run writes: the summary JSON (--out), the
 * per-request CSV (--csv), a short table on stdout, and the reading of
 * roma serve's core-seconds counter from /metrics.
 *
 * The summary (seconds throughout; null where there is nothing to
 * measure, e.g. percentiles of a model with no answer):
 *
 *   {"target": URL, "duration": D, "elapsed": E, "window": W,
 *    "rate_asked": R, "rate_achieved": A, "sent": N, "ok": N, "errors": N,
 *    "send_lag_p99": L, "max_in_flight": N, "connections": N,
 *    "interrupted": false,
 *    "models": {"NAME": {"sla": S, "arrivals": "constant", "load": "ramp",
 *               "sent": N, "ok": N, "errors": N, "statuses": {"200": N},
 *               "mean": M, "p50": P, "p95": P, "p99": P,
 *               "violation_rate": V, "window_violation_rate": V,
 *               "windows": N, "rate_asked": R, "rate_achieved": A,
 *               "core_seconds": C}}}
 *
 *   ok        requests answered 200; mean, percentiles and both violation
 *             rates are over these (stats.h has the definitions);
 *   errors    sent requests that got another status or no answer
 *             (status 0 in "statuses": connection failure or timeout);
 *   rate_asked     requests the load asks for / duration (for Poisson
 *             arrivals the expected count, not the drawn one);
 *   rate_achieved  sent / max(duration, time of the last send): a client
 *             that falls behind its schedule shows a lower rate;
 *   send_lag_p99   99th percentile of (actual - scheduled) send time;
 *   core_seconds   only when the target is roma serve: the growth of
 *             roma_core_seconds_total{model=NAME} over the run.
 *
 * Pure except the two writers, which write the named file.
 */
#ifndef ROMA_BENCH_REPORT_H
#define ROMA_BENCH_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "bench/load.h"
#include "bench/workload.h"
#include "common/status.h"

/* The summary of a run of plan p (of workload w) with outcomes o (one per
 * send of p->schedule).  core_seconds: per model, NAN when unknown; NULL
 * when the target is not roma serve.  The caller owns the result
 * (json_decref). */
json_t *bench_report_summary(const bench_workload *w, const bench_plan *p, const bench_outcome *o,
                             const bench_run_info *info, const double *core_seconds);

/* Writes the summary, indented, to path. */
roma_code bench_report_write_summary(const char *path, const json_t *summary, roma_err *err);

/* Writes "model,scheduled,latency,status", one line per sent request in
 * schedule order (latency empty when there was no answer). */
roma_code bench_report_write_csv(const char *path, const bench_workload *w, const bench_plan *p,
                                 const bench_outcome *o, roma_err *err);

/* A few lines for a person: per model sent, ok, p50/p99, violations. */
void bench_report_print(FILE *f, const json_t *summary);

/* Reads roma_core_seconds_total{model="<model>"} from a Prometheus text
 * exposition; returns 1 and *value when the sample is there, else 0. */
int bench_report_core_seconds(const char *metrics, const char *model, double *value);

#endif

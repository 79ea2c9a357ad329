/* report.h - what `roma sim` writes: per run the summary of `roma bench`
 * (bench/report.h, the same schema, so `make experiment`'s tools read it)
 * plus what only a simulation knows, and a Markdown table of all runs.
 *
 * Added to bench's summary, per run:
 *   "controller", "policy", "devices"  what the run compared;
 *   "core_seconds"       total over models (each model has its own too);
 *   "violation_rate_strict"  share of sent requests not answered 200
 *                        within their SLA (a 429 counts as a violation);
 *   "gpu_busy_share"     GPU busy time / (GPUs in use * elapsed); null
 *                        when the run uses no GPU;
 * and per model "gpu_share": the share of its answered requests a GPU
 * served.  With the offline optimum (sim/optimum.h) the output also has
 * "optimum": {"target", "core_seconds", "models": {name: core_seconds},
 * "periods", "infeasible_windows", "node_over_periods", "gpu_share"} and
 * each run "optimum_ratio" (its core_seconds / the optimum's; null when
 * the optimum is 0).  Pure functions; the caller owns what they return.
 */
#ifndef ROMA_SIM_REPORT_H
#define ROMA_SIM_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "sim/engine.h"
#include "sim/optimum.h"
#include "sim/scenario.h"

/* The summary of one run (json_decref it). */
json_t *sim_report_run(const sim_scenario *s, const sim_run_spec *spec, const bench_workload *w,
                       const bench_plan *plan, const sim_result *r);

/* Adds the optimum o to output ({"runs": ...}): its object, and each
 * run's optimum_ratio. */
void sim_report_optimum(json_t *output, const sim_scenario *s, const bench_workload *w,
                        const sim_optimum *o);

/* The Markdown tables of a whole output ({"runs": {name: summary}}):
 * one line per run (totals), then one per run and model. */
void sim_report_markdown(FILE *f, const json_t *output);

#endif

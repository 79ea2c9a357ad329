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
 * served.  Pure functions; the caller owns what they return.
 */
#ifndef ROMA_SIM_REPORT_H
#define ROMA_SIM_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "sim/engine.h"
#include "sim/scenario.h"

/* The summary of one run (json_decref it). */
json_t *sim_report_run(const sim_scenario *s, const sim_run_spec *spec, const bench_workload *w,
                       const bench_plan *plan, const sim_result *r);

/* The Markdown tables of a whole output ({"runs": {name: summary}}):
 * one line per run (totals), then one per run and model. */
void sim_report_markdown(FILE *f, const json_t *output);

#endif

/* report.c - see report.h. */
#include "report.h"

#include <math.h>
#include <stdlib.h>

#include "bench/report.h"

static const char *const device_names[] = {"both", "cpu", "gpu"};

static json_t *number(double x) { return isnan(x) ? json_null() : json_real(x); }

static double get(const json_t *j, const char *key) {
    const json_t *v = json_object_get(j, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Per model "gpu_share"; returns the strict violation count (429s and
 * other errors, plus answers slower than the SLA). */
static double add_model_fields(const sim_scenario *s, const bench_workload *w, const sim_result *r,
                               json_t *models) {
    double bad = 0;
    for (size_t i = 0; i < s->nmodels; i++) {
        json_t *m = json_object_get(models, w->models[s->models[i].workload_model].name);
        double ok = get(m, "ok"), viol = get(m, "violation_rate");
        json_object_set_new(m, "gpu_share", number(ok > 0 ? (double)r->on_gpu[i] / ok : NAN));
        bad += get(m, "errors") + (ok > 0 ? viol * ok : 0);
    }
    return bad;
}

json_t *sim_report_run(const sim_scenario *s, const sim_run_spec *spec, const bench_workload *w,
                       const bench_plan *plan, const sim_result *r) {
    double *cs = calloc(w->nmodels ? w->nmodels : 1, sizeof(double)), total = 0;
    if (!cs) abort();
    for (size_t i = 0; i < s->nmodels; i++) {
        cs[s->models[i].workload_model] = r->core_seconds[i];
        total += r->core_seconds[i];
    }
    json_t *j = bench_report_summary(w, plan, r->outcomes, &r->info, cs);
    free(cs);
    double bad = add_model_fields(s, w, r, json_object_get(j, "models"));
    double sent = get(j, "sent"), span = r->info.elapsed;
    json_object_set_new(j, "target", json_string("roma sim"));
    json_object_set_new(j, "controller", json_string(roma_ctl_name(spec->controller)));
    json_object_set_new(j, "policy", json_string(roma_policy_name(spec->policy)));
    json_object_set_new(j, "devices", json_string(device_names[spec->devices]));
    json_object_set_new(j, "cores", json_string(spec->cores_max ? "max" : "initial"));
    json_object_set_new(j, "core_seconds", json_real(total));
    json_object_set_new(j, "violation_rate_strict", number(sent > 0 ? bad / sent : NAN));
    json_object_set_new(j, "gpu_busy_share",
                        number(r->gpus && span > 0 ? r->gpu_busy / ((double)r->gpus * span) : NAN));
    json_object_set_new(j, "control_periods", json_integer((json_int_t)r->ticks));
    return j;
}

void sim_report_optimum(json_t *output, const sim_scenario *s, const bench_workload *w,
                        const sim_optimum *o) {
    json_t *j = json_object(), *models = json_object();
    for (size_t i = 0; i < s->nmodels; i++)
        json_object_set_new(models, w->models[s->models[i].workload_model].name,
                            json_real(o->model_core_seconds[i]));
    json_object_set_new(j, "target", json_real(o->target));
    json_object_set_new(j, "core_seconds", json_real(o->core_seconds));
    json_object_set_new(j, "models", models);
    json_object_set_new(j, "periods", json_integer((json_int_t)o->periods));
    json_object_set_new(j, "infeasible_windows", json_integer((json_int_t)o->infeasible));
    json_object_set_new(j, "node_over_periods", json_integer((json_int_t)o->node_over));
    json_object_set_new(j, "gpu_share", json_real(o->gpu_share));
    json_object_set_new(output, "optimum", j);
    const char *name;
    json_t *r;
    json_object_foreach(json_object_get(output, "runs"), name, r)
        json_object_set_new(r, "optimum_ratio",
                            number(o->core_seconds > 0 ? get(r, "core_seconds") / o->core_seconds : NAN));
}

/* "12.3%" or "-" */
static void percent(FILE *f, double x) {
    if (isnan(x)) fputs(" - |", f);
    else fprintf(f, " %.1f%% |", 100 * x);
}

static void totals_table(FILE *f, const json_t *runs) {
    const char *name;
    const json_t *r;
    fputs("| run | controller | GPU policy | devices | sent | violations (strict) | "
          "core-seconds | × optimum | GPU busy |\n|---|---|---|---|---:|---:|---:|---:|---:|\n", f);
    json_object_foreach((json_t *)runs, name, r) {
        fprintf(f, "| %s | %s | %s | %s | %.0f |", name,
                json_string_value(json_object_get(r, "controller")),
                json_string_value(json_object_get(r, "policy")),
                json_string_value(json_object_get(r, "devices")), get(r, "sent"));
        percent(f, get(r, "violation_rate_strict"));
        fprintf(f, " %.1f |", get(r, "core_seconds"));
        double ratio = get(r, "optimum_ratio");
        if (isnan(ratio)) fputs(" - |", f);
        else fprintf(f, " %.2f |", ratio);
        percent(f, get(r, "gpu_busy_share"));
        fputc('\n', f);
    }
}

static void models_table(FILE *f, const json_t *runs) {
    const char *name, *model;
    const json_t *r, *m;
    fputs("\n| run | model | SLA (s) | sent | errors | violations | window violations (mean) | "
          "window violations (p95) | p50 (s) | p99 (s) | on GPU | core-seconds |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", f);
    json_object_foreach((json_t *)runs, name, r) {
        json_object_foreach(json_object_get(r, "models"), model, m) {
            fprintf(f, "| %s | %s | %g | %.0f | %.0f |", name, model, get(m, "sla"), get(m, "sent"),
                    get(m, "errors"));
            percent(f, get(m, "violation_rate"));
            percent(f, get(m, "window_violation_rate"));
            percent(f, get(m, "window_p95_violation_rate"));
            fprintf(f, " %.3f | %.3f |", get(m, "p50"), get(m, "p99"));
            percent(f, get(m, "gpu_share"));
            fprintf(f, " %.1f |\n", get(m, "core_seconds"));
        }
    }
}

/* The line under the totals that says what "× optimum" compares with. */
static void optimum_line(FILE *f, const json_t *o) {
    if (!o) return;
    fprintf(f, "\nOffline optimum (greedy, clairvoyant; each control period's window at most "
            "%.1f%% violations): %.1f core-seconds; GPUs take %.1f%% of the requests; %.0f model "
            "windows over the target even at cores.max; %.0f node periods over the node's cpus.\n",
            100 * get(o, "target"), get(o, "core_seconds"), 100 * get(o, "gpu_share"),
            get(o, "infeasible_windows"), get(o, "node_over_periods"));
}

void sim_report_markdown(FILE *f, const json_t *output) {
    const json_t *runs = json_object_get(output, "runs");
    totals_table(f, runs);
    optimum_line(f, json_object_get(output, "optimum"));
    models_table(f, runs);
}

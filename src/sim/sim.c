/* sim.c - the `roma sim` command: reads the scenario and its workload,
 * plans the workload as roma bench would send it, runs the engine once per
 * run of the scenario, computes the offline optimum they are compared with
 * (sim/optimum.h) and writes the summaries.  The work is in the
 * modules; this file only chains them and turns errors into exit codes. */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/report.h"
#include "common/clock.h"
#include "common/duration.h"
#include "bench/workload.h"
#include "sim/engine.h"
#include "sim/optimum.h"
#include "sim/report.h"
#include "sim/scenario.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: roma sim -c SCENARIO.yaml [--seed N] [--out FILE.json] [--md FILE.md]\n"
        "                [--runs NAME,NAME...] [--period DURATION]\n"
        "Discrete-event simulation of roma serve on the nodes, GPUs and models of a scenario,\n"
        "with the same GPU policies and core controllers, once per run of the scenario.\n\n"
        "  -c FILE       scenario (below)\n"
        "  --seed N      seed of the service-time noise and the random policy; also replaces\n"
        "                the workload's seed of Poisson arrivals (default: the scenario's seed\n"
        "                and the workload's)\n"
        "  --out FILE    all runs' summaries as JSON: {\"runs\": {NAME: summary}}, each the\n"
        "                schema of roma bench --out plus controller, policy, devices,\n"
        "                core_seconds, violation_rate_strict, gpu_busy_share\n"
        "  --md FILE     the Markdown tables printed on stdout, also into FILE\n"
        "  --timeline FILE  every control decision as CSV: run,t,model,rt_mean,completed,cores\n"
        "  --runs LIST   only these runs of the scenario\n"
        "  --period P    control period of every run and of the optimum, instead of the\n"
        "                scenario's control.period (e.g. 250ms: roma serve's default on one node)\n\n"
        "Scenario (YAML):\n"
        "  workload: load.yaml        # a roma bench workload file (target, payloads ignored)\n"
        "  seed: 1\n"
        "  control: {period: 2s, cfs_period: 100ms}   # period: default 250ms (roma serve's on\n"
        "                             # one node); cfs_period: of the workers' quotas\n"
        "                             # (roma serve's); 0: cores as a steady rate (fluid)\n"
        "  dispatch: {queue_limit: 1000, pipeline: 2}\n"
        "  optimum: {target: 0.05}    # the offline optimum every run is compared with\n"
        "                             # (\"x optimum\"): least core-seconds keeping each\n"
        "                             # control period's window at most this share late\n"
        "  nodes: [{name: n1, cpus: 6, gpus: 1, cores: 6}]   # cpus: what ROMA hands out;\n"
        "                                                     # cores: physical (default cpus)\n"
        "  models:\n"
        "    - name: resnet           # a model of the workload\n"
        "      node: n1\n"
        "      sla: 600ms             # default: the workload's\n"
        "      alpha: 0.5\n"
        "      cores: {min: 0.5, max: 6, initial: 1}\n"
        "      cpu: {time: 180ms, parallel: 0, cv: 0.1, dist: lognormal, overhead: 0}\n"
        "          # seconds at one core, Amdahl fraction above one, noise (lognormal with\n"
        "          # this cv, or exponential), CPU seconds a request costs outside the worker\n"
        "      gpu: {index: 0, time: 20ms, cv: 0.05, profiled: 20ms}   # optional\n"
        "  runs:\n"
        "    - {name: roma, controller: roma, policy: roma}\n"
        "    - {name: static-max, controller: static, cores: max}\n"
        "    - {name: gpu-only, devices: gpu}             # devices: both | cpu | gpu\n"
        "Controllers: " ROMA_CTL_NAMES "; policies: " ROMA_POLICY_NAMES ".\n"
        "The same scenario and seed always give the same output, byte for byte.\n");
}

typedef struct {
    const char *scenario, *out, *md, *runs, *timeline;
    int has_seed;
    uint64_t seed;
    double period; /* --period in seconds; 0: the scenario's */
} sim_args;

static int parse_args(int argc, char **argv, sim_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) return usage(stdout), 0;
        const char **dst = strcmp(f, "-c") == 0 ? &a->scenario : strcmp(f, "--out") == 0 ? &a->out
                          : strcmp(f, "--md") == 0 ? &a->md : strcmp(f, "--runs") == 0 ? &a->runs
                          : strcmp(f, "--timeline") == 0 ? &a->timeline : NULL;
        if (!dst && strcmp(f, "--seed") != 0 && strcmp(f, "--period") != 0) {
            fprintf(stderr, "roma sim: unknown flag '%s' (see roma sim --help)\n", f);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "roma sim: %s needs a value (see roma sim --help)\n", f);
            return 2;
        }
        i++;
        if (dst) {
            *dst = v;
            continue;
        }
        if (strcmp(f, "--period") == 0) {
            if (roma_parse_duration(v, &a->period) != 0 || a->period <= 0) {
                fprintf(stderr, "roma sim: --period must be a duration > 0 such as 250ms or 1s, got '%s'\n", v);
                return 2;
            }
            continue;
        }
        char *end = NULL;
        errno = 0;
        a->seed = strtoull(v, &end, 10), a->has_seed = 1;
        if (*v == '-' || end == v || *end || errno) {
            fprintf(stderr, "roma sim: --seed must be a whole number >= 0, got '%s'\n", v);
            return 2;
        }
    }
    if (!a->scenario) {
        fprintf(stderr, "roma sim: give the scenario with -c FILE (see roma sim --help)\n");
        return 2;
    }
    return -1;
}

/* Everything a simulation needs, read and checked. */
typedef struct {
    sim_scenario s;
    bench_workload w;
    bench_plan plan;
} sim_input;

static roma_code load_input(const sim_args *a, sim_input *in, roma_err *err) {
    char *text = NULL, *trace = NULL;
    size_t len;
    roma_code rc = bench_read_file(a->scenario, "the scenario", &text, &len, err);
    if (rc == ROMA_OK) rc = sim_scenario_parse(text, len, a->scenario, &in->s, err);
    free(text), text = NULL;
    if (rc == ROMA_OK) rc = bench_read_file(in->s.workload_path, "the scenario's workload", &text, &len, err);
    if (rc == ROMA_OK) rc = bench_workload_parse(text, len, in->s.workload_path, &in->w, err);
    free(text);
    if (rc != ROMA_OK) return rc;
    if (a->has_seed) in->s.seed = in->w.seed = a->seed;
    if (a->period > 0) in->s.period = a->period;
    if ((rc = bench_workload_finish_load(&in->w, err)) != ROMA_OK) return rc;
    if ((rc = sim_scenario_check(&in->s, &in->w, err)) != ROMA_OK) return rc;
    if (in->w.trace_path && (rc = bench_read_file(in->w.trace_path, "the trace", &trace, &len, err)) != ROMA_OK)
        return rc;
    rc = bench_workload_plan(&in->w, trace, &in->plan, err);
    free(trace);
    return rc;
}

/* Whether run `name` is in the comma-separated list (all when NULL). */
static int selected(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
    return list == NULL;
}

static void write_decisions(FILE *f, const sim_input *in, const char *run, const sim_result *r) {
    for (size_t i = 0; f && i < r->ndecisions; i++) {
        const sim_decision *d = &r->decisions[i];
        fprintf(f, "%s,%.6f,%s,%.6f,%u,%.3f\n", run, d->t, in->s.models[d->model].name, d->rt_mean,
                d->completed, d->cores);
    }
}

/* Runs every selected run; the timeline (when asked) goes to tl. */
static json_t *run_all(const sim_args *a, const sim_input *in, FILE *tl) {
    json_t *runs = json_object();
    if (tl) fputs("run,t,model,rt_mean,completed,cores\n", tl);
    for (size_t i = 0; i < in->s.nruns; i++) {
        const sim_run_spec *spec = &in->s.runs[i];
        if (!selected(a->runs, spec->name)) continue;
        sim_result r;
        sim_engine_run(&in->s, spec, &in->w, &in->plan, in->s.seed, &r);
        json_object_set_new(runs, spec->name, sim_report_run(&in->s, spec, &in->w, &in->plan, &r));
        write_decisions(tl, in, spec->name, &r);
        sim_result_free(&r);
    }
    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(a->scenario));
    json_object_set_new(out, "seed", json_integer((json_int_t)in->s.seed));
    json_object_set_new(out, "requests", json_integer((json_int_t)in->plan.schedule.len));
    json_object_set_new(out, "duration", json_real(in->plan.duration));
    json_object_set_new(out, "period", json_real(in->s.period));
    json_object_set_new(out, "runs", runs);
    sim_optimum opt;
    sim_optimum_compute(&in->s, &in->w, &in->plan, in->s.seed, in->s.optimum_target, &opt);
    sim_report_optimum(out, &in->s, &in->w, &opt);
    sim_optimum_free(&opt);
    return out;
}

static int write_outputs(const sim_args *a, const json_t *out) {
    roma_err err;
    sim_report_markdown(stdout, out);
    if (a->out && bench_report_write_summary(a->out, out, &err) != ROMA_OK) {
        fprintf(stderr, "roma sim: %s\n", err.msg);
        return 1;
    }
    FILE *f = a->md ? fopen(a->md, "w") : NULL;
    if (a->md && !f) {
        fprintf(stderr, "roma sim: cannot write '%s': %s\n", a->md, strerror(errno));
        return 1;
    }
    if (f) sim_report_markdown(f, out);
    if (f && fclose(f) != 0) {
        fprintf(stderr, "roma sim: writing '%s' failed: %s\n", a->md, strerror(errno));
        return 1;
    }
    return 0;
}

/* A --runs name that is not a run of the scenario is a mistake to report,
 * not a silent empty table. */
static roma_code check_selection(const char *list, const sim_scenario *s, roma_err *err) {
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        size_t n = strcspn(p, ","), i = 0;
        while (i < s->nruns && !(strlen(s->runs[i].name) == n && strncmp(s->runs[i].name, p, n) == 0)) i++;
        if (i == s->nruns)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "--runs: the scenario has no run '%.*s'",
                             (int)n, p);
    }
    return ROMA_OK;
}

int sim_main(int argc, char **argv) {
    sim_args a = {0};
    int code = parse_args(argc, argv, &a);
    if (code >= 0) return code;
    sim_input in;
    roma_err err;
    FILE *tl = NULL;
    sim_scenario_init(&in.s);
    bench_workload_init(&in.w);
    memset(&in.plan, 0, sizeof(in.plan));
    double t0 = roma_now();
    if (load_input(&a, &in, &err) != ROMA_OK || check_selection(a.runs, &in.s, &err) != ROMA_OK) {
        fprintf(stderr, "roma sim: %s\n", err.msg);
        code = 2;
    } else if (a.timeline && !(tl = fopen(a.timeline, "w"))) {
        fprintf(stderr, "roma sim: cannot write '%s': %s\n", a.timeline, strerror(errno));
        code = 1;
    } else {
        json_t *out = run_all(&a, &in, tl);
        code = write_outputs(&a, out);
        if (tl && fclose(tl) != 0) {
            fprintf(stderr, "roma sim: writing '%s' failed: %s\n", a.timeline, strerror(errno));
            code = 1;
        }
        json_decref(out);
        fprintf(stderr, "roma sim: %zu requests, %g s simulated per run, took %.2f s\n",
                in.plan.schedule.len, in.plan.duration,
                roma_now() - t0);
    }
    sim_scenario_free(&in.s);
    bench_workload_free(&in.w);
    bench_plan_free(&in.plan);
    return code;
}

/* bench.c - the `roma bench` command: flags and workload file in, then
 * plan, probe the target (and read roma serve's core-seconds), run, and
 * write the summary.  The work is in the modules; this file only chains
 * them and turns their errors into exit codes. */
#include "bench.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/load.h"
#include "bench/report.h"
#include "bench/schedule.h"
#include "bench/workload.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: roma bench --target URL --model NAME --payload FILE --rate R --duration SECONDS\n"
        "                  --sla SECONDS --out FILE [flags]\n"
        "       roma bench -w WORKLOAD.yaml --out FILE [flags]\n"
        "Open-loop load against a TensorFlow Serving REST endpoint: POST\n"
        "{target}/v1/models/{model}:predict at the times a schedule gives, whatever the server\n"
        "answers; latency counts from the scheduled send time (no coordinated omission).\n\n"
        "  --target URL         e.g. http://127.0.0.1:8501 (roma serve, roma worker, TF Serving)\n"
        "  --model NAME         model name on the server\n"
        "  --payload FILE       request body (TF Serving JSON, e.g. {\"instances\": [1.0]})\n"
        "  --rate R             requests per second (constant profile)\n"
        "  --duration SECONDS   run length (2s, 500ms, 1.5 and 1m are durations)\n"
        "  --sla SECONDS        response-time constraint for the violation rates\n"
        "  --arrivals KIND      constant (evenly spaced, default) or poisson\n"
        "  --seed N             seed of the Poisson draws (default 1)\n"
        "  --out FILE           summary JSON (required)\n"
        "  --csv FILE           per-request CSV: model,scheduled,latency,status\n"
        "  --window SECONDS     window of window_violation_rate (default 2s)\n"
        "  --connections N      most keep-alive connections (default 256); past it a request\n"
        "                       waits for one, its latency still counted from its schedule\n"
        "  --timeout SECONDS    an answer later than this is an error (default 30s)\n"
        "  --trace FILE         replay a CSV of 'time_seconds,model' rows\n"
        "  -w FILE              workload file (below); --target, --duration, --seed, --window,\n"
        "                       --connections, --timeout and --trace override its values\n\n"
        "Workload file (YAML; payload and trace paths are relative to it):\n"
        "  target: http://127.0.0.1:8501\n"
        "  duration: 60s        # run length; loads without their own duration use it\n"
        "  seed: 1              # model i draws with seed + i\n"
        "  window: 2s\n"
        "  connections: 256\n"
        "  timeout: 30s\n"
        "  trace: trace.csv     # optional: rows time_seconds,model\n"
        "  models:\n"
        "    - name: resnet\n"
        "      payload: resnet.json\n"
        "      sla: 200ms\n"
        "      arrivals: poisson          # constant | poisson\n"
        "      rate: 50                   # the load: one of rate, step, ramp, sine, or\n"
        "                                 # none when the trace sends this model's requests\n"
        "    - name: hp2\n"
        "      payload: hp2.json\n"
        "      sla: 50ms\n"
        "      step: [{rate: 10, duration: 5s}, {rate: 50, duration: 10s}]  # or [[10, 5s], ...]\n"
        "      # ramp: {from: 10, to: 100, duration: 30s}\n"
        "      # sine: {mean: 50, amplitude: 30, period: 20s, duration: 60s}\n\n"
        "The summary holds per model sent, ok, errors, mean, p50, p95, p99 (seconds, over the\n"
        "requests answered 200; nearest-rank percentiles), violation_rate (share slower than\n"
        "the SLA), window_violation_rate (share of windows whose mean exceeds the SLA), and\n"
        "core_seconds when the target is roma serve; and duration, rate_asked, rate_achieved.\n"
        "A progress line goes to stderr once a second when it is a terminal.\n");
}

/* ---- flags ---------------------------------------------------------------- */

#define MAX_SETTINGS 32

typedef struct {
    const char *workload, *out, *csv;
    const char *names[MAX_SETTINGS], *values[MAX_SETTINGS]; /* for bench_workload_set_flag */
    size_t n;
} bench_args;

static const char *const value_flags[] = {
    "workload", "out", "csv", "target", "duration", "seed", "window", "connections", "timeout",
    "trace", "model", "payload", "sla", "arrivals", "rate", NULL,
};
#define FIRST_SETTING 3  /* value_flags from here on are workload settings */
#define FIRST_MODEL_FLAG 10 /* ... and from here on the single model's */

static int flag_index(const char *name, size_t len) {
    for (int i = 0; value_flags[i]; i++)
        if (strlen(value_flags[i]) == len && strncmp(value_flags[i], name, len) == 0) return i;
    return -1;
}

/* Records one flag; 0 or 2 (message printed). */
static int take_flag(bench_args *a, int k, const char *value) {
    if (k == 0) a->workload = value;
    else if (k == 1) a->out = value;
    else if (k == 2) a->csv = value;
    else if (a->n == MAX_SETTINGS) return fprintf(stderr, "roma bench: too many flags\n"), 2;
    else {
        a->names[a->n] = value_flags[k];
        a->values[a->n++] = value;
    }
    return 0;
}

/* 0: parsed; 1: --help; 2: a bad flag (message printed). */
static int parse_args(int argc, char **argv, bench_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '='), *value = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return 1;
        int k = strcmp(arg, "-w") == 0 ? 0 : -1;
        if (k < 0 && strncmp(arg, "--", 2) == 0)
            k = flag_index(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
        if (k < 0) return fprintf(stderr, "roma bench: unknown flag '%s' (see roma bench --help)\n", arg), 2;
        value = eq ? eq + 1 : NULL; /* --flag=value; else the next argument */
        if (!value && i + 1 >= argc)
            return fprintf(stderr, "roma bench: %s needs a value (see roma bench --help)\n", arg), 2;
        if (take_flag(a, k, value ? value : argv[++i])) return 2;
    }
    if (!a->out) return fprintf(stderr, "roma bench: --out FILE is required (the summary JSON)\n"), 2;
    return 0;
}

static roma_code build_workload(const bench_args *a, bench_workload *w, roma_err *err) {
    bench_workload_init(w);
    if (a->workload) {
        char *text;
        size_t len;
        roma_code rc = bench_read_file(a->workload, "the workload file", &text, &len, err);
        if (rc != ROMA_OK) return rc;
        rc = bench_workload_parse(text, len, a->workload, w, err);
        free(text);
        if (rc != ROMA_OK) return rc;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->workload && flag_index(a->names[i], strlen(a->names[i])) >= FIRST_MODEL_FLAG)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "--%s describes the one model of a run without -w; with -w %s "
                             "set it under the file's models", a->names[i], a->workload);
        roma_code rc = bench_workload_set_flag(w, a->names[i], a->values[i], err);
        if (rc != ROMA_OK) return rc;
    }
    return bench_workload_finish(w, err);
}

/* ---- the run -------------------------------------------------------------- */

/* roma_core_seconds_total per model into out (NAN where absent) and how
 * many were found; -1 (and a message) when the target does not answer. */
static int read_core_seconds(const bench_workload *w, double *out, roma_err *err) {
    roma_buf body = ROMA_BUF_INIT;
    int status = 0, found = 0;
    double timeout = w->timeout < 10 ? w->timeout : 10;
    for (size_t i = 0; i < w->nmodels; i++) out[i] = NAN;
    roma_code rc = bench_load_get(w->target, "/metrics", timeout, &status, &body, err);
    if (rc == ROMA_OK && !status)
        roma_fail(err, ROMA_UNAVAILABLE, "%s does not answer (GET /metrics failed): is the "
                  "server running there?", w->target);
    if (rc != ROMA_OK || !status) {
        roma_buf_free(&body);
        return -1;
    }
    for (size_t i = 0; i < w->nmodels; i++) {
        if (status == 200 && body.data)
            found += bench_report_core_seconds(body.data, w->models[i].name, &out[i]);
    }
    roma_buf_free(&body);
    return found;
}

static roma_code write_outputs(const bench_args *a, const bench_workload *w, const bench_plan *p,
                               const bench_outcome *o, const bench_run_info *info,
                               const double *core, roma_err *err) {
    json_t *summary = bench_report_summary(w, p, o, info, core);
    roma_code rc = bench_report_write_summary(a->out, summary, err);
    if (rc == ROMA_OK && a->csv) rc = bench_report_write_csv(a->csv, w, p, o, err);
    if (rc == ROMA_OK) bench_report_print(stdout, summary);
    json_decref(summary);
    return rc;
}

/* Probe, run, measure core-seconds around the run, write.  0 or 1. */
static int run(const bench_args *a, const bench_workload *w, const bench_plan *p) {
    roma_err err;
    double *before = calloc(w->nmodels, sizeof(double)), *core = calloc(w->nmodels, sizeof(double));
    bench_outcome *o = calloc(p->schedule.len, sizeof(*o));
    if (!before || !core || !o) abort();
    int found = read_core_seconds(w, before, &err);
    roma_code rc = found < 0 ? ROMA_UNAVAILABLE : ROMA_OK;
    bench_load_config cfg = {w->target, w->models, w->nmodels, w->connections, w->timeout,
                             isatty(STDERR_FILENO)};
    bench_run_info info;
    if (rc == ROMA_OK) rc = bench_load_run(&cfg, &p->schedule, o, &info, &err);
    if (rc == ROMA_OK && found > 0) {
        roma_err ignored; /* a failed end reading leaves NAN: core_seconds null */
        read_core_seconds(w, core, &ignored);
        for (size_t i = 0; i < w->nmodels; i++) core[i] -= before[i];
    }
    if (rc == ROMA_OK) rc = write_outputs(a, w, p, o, &info, found > 0 ? core : NULL, &err);
    if (rc != ROMA_OK) fprintf(stderr, "roma bench: %s\n", err.msg);
    free(before);
    free(core);
    free(o);
    return rc == ROMA_OK ? 0 : 1;
}

int bench_main(int argc, char **argv) {
    bench_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) usage(stdout);
    if (rc) return rc == 1 ? 0 : 2;
    bench_workload w;
    bench_plan plan = {0};
    char *trace = NULL;
    roma_err err;
    roma_code code = build_workload(&a, &w, &err);
    if (code == ROMA_OK) code = bench_workload_read_payloads(&w, &err);
    if (code == ROMA_OK && w.trace_path)
        code = bench_read_file(w.trace_path, "the trace", &trace, NULL, &err);
    if (code == ROMA_OK) code = bench_workload_plan(&w, trace, &plan, &err);
    free(trace);
    if (code != ROMA_OK) {
        fprintf(stderr, "roma bench: %s\n", err.msg);
        bench_workload_free(&w);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an error to count, not a crash */
    rc = run(&a, &w, &plan);
    bench_plan_free(&plan);
    bench_workload_free(&w);
    return rc;
}

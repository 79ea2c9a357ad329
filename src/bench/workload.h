/* workload.h - what a `roma bench` run sends: the target, the models with
 * their payloads, SLAs and load, read from a YAML workload file (-w) or
 * built from flags, and turned into a plan (the schedule of sends).
 *
 * The workload file (every duration takes "2s", "500ms" or bare seconds):
 *
 *   target: http://127.0.0.1:8501  # TF Serving REST endpoint (or --target)
 *   duration: 60s       # run length; profiles without their own duration
 *                       # use it, and nothing is sent after it
 *   seed: 1             # Poisson draws; model i uses seed + i
 *   window: 2s          # window of window_violation_rate
 *   connections: 256    # most keep-alive connections open at once
 *   timeout: 30s        # a request unanswered this long is an error
 *   trace: trace.csv    # optional replay, rows "time_seconds,model"
 *   models:
 *     - name: resnet            # POST {target}/v1/models/resnet:predict
 *       payload: resnet.json    # request body (relative to this file)
 *       sla: 200ms              # response-time constraint
 *       arrivals: poisson       # constant (default) | poisson
 *       rate: 50                # load: exactly one of rate, step, ramp,
 *                               # sine, or none when the trace sends
 *                               # this model's requests
 *     - name: hp2
 *       payload: hp2.json
 *       sla: 50ms
 *       step: [{rate: 10, duration: 5s}, {rate: 50, duration: 10s}]
 *       # ramp: {from: 10, to: 100, duration: 30s}
 *       # sine: {mean: 50, amplitude: 30, period: 20s, duration: 60s}
 *
 * Parsing is pure (text in, structs out; payload and trace files are read
 * separately); every mistake names the file, line and key.  Single thread.
 */
#ifndef ROMA_BENCH_WORKLOAD_H
#define ROMA_BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "bench/schedule.h"
#include "common/status.h"

typedef struct {
    char *name;           /* owned */
    char *payload_path;   /* owned; resolved against the workload file's folder */
    char *body;           /* owned; the payload, after bench_workload_read_payloads */
    size_t body_len;
    double sla;           /* seconds; NAN until given */
    int has_load;         /* 0: this model's requests come from the trace only */
    bench_profile profile;
    bench_arrivals arrivals;
} bench_model;

typedef struct {
    char *target;     /* owned; NULL until given */
    double duration;  /* seconds; NAN until given */
    uint64_t seed;
    double window;    /* seconds */
    int connections;
    double timeout;   /* seconds */
    char *trace_path; /* owned; NULL when there is no trace */
    bench_model *models; /* owned */
    size_t nmodels;
} bench_workload;

#define BENCH_DEFAULT_WINDOW 2.0
#define BENCH_DEFAULT_CONNECTIONS 256
#define BENCH_DEFAULT_TIMEOUT 30.0
#define BENCH_DEFAULT_SEED 1
#define BENCH_MAX_CONNECTIONS 10000

/* An empty workload with the defaults above (call before parsing). */
void bench_workload_init(bench_workload *w);

/* Parses workload YAML text into w (initialized with bench_workload_init;
 * fields the text sets replace the defaults).  `file` names the text in
 * messages; relative payload and trace paths are resolved against its
 * folder.  On failure w may hold part of the text: free it anyway. */
roma_code bench_workload_parse(const char *text, size_t len, const char *file, bench_workload *w,
                               roma_err *err);

/* Sets one setting from a command-line flag, checked as in the file and
 * named as the flag in messages ("--rate must be a number, got 'x'"):
 * target, duration, seed, window, connections, timeout and trace for the
 * run; model (its name), payload, sla, arrivals and rate (a constant
 * load) for the run's first model, which is created when there is none. */
roma_code bench_workload_set_flag(bench_workload *w, const char *flag, const char *value,
                                  roma_err *err);

/* Completes and checks w once the file and the flags are in: gives ramp,
 * sine and rate profiles without a duration the run's duration, checks
 * each profile, that there is a target and at least one model, that every
 * model has an SLA, a payload, and load or a trace. */
roma_code bench_workload_finish(bench_workload *w, roma_err *err);

/* The same for a workload that is simulated, not sent (`roma sim`): only
 * what the schedule needs (models, SLAs, loads); target and payloads may
 * be absent and are ignored. */
roma_code bench_workload_finish_load(bench_workload *w, roma_err *err);

/* Reads every model's payload file into body and checks it is JSON. */
roma_code bench_workload_read_payloads(bench_workload *w, roma_err *err);

void bench_workload_free(bench_workload *w);

/* What a finished workload sends. */
typedef struct {
    bench_schedule schedule; /* sorted */
    double duration;         /* the run's length in seconds */
    double *asked;           /* owned; per model: requests the load asks for
                                (expected count of its profile, plus its
                                trace rows) */
} bench_plan;

/* Builds the plan of a finished workload; trace_csv is the text of its
 * trace file (NULL when it has none).  The run lasts `duration` when
 * given, else until the longest profile or the last trace row ends. */
roma_code bench_workload_plan(const bench_workload *w, const char *trace_csv, bench_plan *plan,
                              roma_err *err);

void bench_plan_free(bench_plan *plan);

/* Reads a whole file into a NUL-terminated string (free() it); `what`
 * says in the message what the file was for ("payload of model 'x'"). */
roma_code bench_read_file(const char *path, const char *what, char **text, size_t *len,
                          roma_err *err);

#endif

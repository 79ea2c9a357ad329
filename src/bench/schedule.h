/* schedule.h - when `roma bench` sends each request: rate profiles, arrival
 * processes and trace replay, turned into a sorted list of send times.
 *
 * A profile is a request rate over time, rate(t) for 0 <= t < duration:
 * constant, step (rate/duration pairs one after another), ramp (linear from
 * one rate to another) or sine (mean + amplitude * sin(2 pi t / period)).
 * Every profile is turned into sends the same way, by time change: with
 * E(t) the integral of rate(t) (the requests expected by time t), the k-th
 * send goes at the time t where E(t) = y_k, with y_k = k for constant
 * arrivals (evenly spaced at the local rate) and y_k a sum of k+1
 * exponential(1) draws for Poisson arrivals (an inhomogeneous Poisson
 * process).  So the arrivals follow the profile's shape exactly, constant
 * arrivals keep their phase across step boundaries, and the send count of
 * constant arrivals is ceil(E(duration)).
 *
 * Everything here is pure: no clock, no I/O; the Poisson draws come from a
 * seeded generator, so one seed always gives one schedule.  Not
 * thread-safe per schedule; separate schedules may be built concurrently.
 */
#ifndef ROMA_BENCH_SCHEDULE_H
#define ROMA_BENCH_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* A schedule larger than this is refused: at 24 bytes a request it would
 * take gigabytes, and no single client sends that many anyway. */
#define BENCH_SCHEDULE_MAX 50000000u

typedef enum {
    BENCH_PROFILE_CONSTANT,
    BENCH_PROFILE_STEP,
    BENCH_PROFILE_RAMP,
    BENCH_PROFILE_SINE,
} bench_profile_kind;

typedef enum { BENCH_ARRIVALS_CONSTANT, BENCH_ARRIVALS_POISSON } bench_arrivals;

/* One stretch of a step profile: rate requests/s for duration seconds. */
typedef struct {
    double rate, duration;
} bench_step;

typedef struct {
    bench_profile_kind kind;
    double rate;                    /* constant */
    double from, to;                /* ramp: rate at t = 0 and at t = duration */
    double mean, amplitude, period; /* sine */
    double duration;                /* constant, ramp, sine (step: sum of steps) */
    bench_step *steps;              /* step: owned by whoever filled the profile */
    size_t nsteps;
} bench_profile;

/* One scheduled request: seconds after the start of the run, and the index
 * of its model in the workload. */
typedef struct {
    double time;
    uint32_t model;
} bench_send;

typedef struct {
    bench_send *sends; /* owned; sorted by time after bench_schedule_sort */
    size_t len, cap;
} bench_schedule;

#define BENCH_SCHEDULE_INIT {NULL, 0, 0}

/* "constant" or "poisson" into *out; ROMA_INVALID_ARGUMENT otherwise. */
roma_code bench_arrivals_parse(const char *name, bench_arrivals *out, roma_err *err);
const char *bench_arrivals_name(bench_arrivals a);
const char *bench_profile_name(bench_profile_kind k);

/* Checks a profile: rates >= 0 and finite, durations > 0, sine amplitude
 * <= mean (the rate may not go negative), period > 0, at least one step.
 * The message names the parameter (e.g. "ramp: 'to' must be >= 0"). */
roma_code bench_profile_check(const bench_profile *p, roma_err *err);

/* The profile's length in seconds (for step: the sum of its steps). */
double bench_profile_duration(const bench_profile *p);

/* rate(t) in requests/s; 0 outside [0, duration). */
double bench_profile_rate(const bench_profile *p, double t);

/* E(t): requests expected in [0, t), t clamped to [0, duration]. */
double bench_profile_expected(const bench_profile *p, double t);

/* Appends the sends of one model following profile p (checked with
 * bench_profile_check) and arrival process a; seed picks the Poisson
 * draws (ignored for constant arrivals).  Sends at or after `until` are
 * left out (pass the profile's duration or less).  The appended sends are
 * in time order.  Fails with ROMA_RESOURCE_EXHAUSTED, leaving s as it
 * was, when the schedule would exceed BENCH_SCHEDULE_MAX. */
roma_code bench_schedule_add_profile(bench_schedule *s, const bench_profile *p, bench_arrivals a,
                                     uint64_t seed, uint32_t model, double until, roma_err *err);

/* Appends the rows of a trace, CSV text "time_seconds,model" one request a
 * line (a first line that does not start with a number is a header; blank
 * lines and lines starting with '#' are skipped).  Each model must be one
 * of models[0..nmodels); its index becomes the send's model.  Rows at or
 * after `until` are left out (pass INFINITY to keep all).  `file` names the
 * trace in messages, which also give the line ("trace.csv:7: unknown model
 * 'x'").  On error s is left as it was. */
roma_code bench_schedule_add_trace(bench_schedule *s, const char *csv, const char *file,
                                   const char *const *models, size_t nmodels, double until,
                                   roma_err *err);

/* Sorts by time; sends at equal times are ordered by model index. */
void bench_schedule_sort(bench_schedule *s);

void bench_schedule_free(bench_schedule *s);

#endif

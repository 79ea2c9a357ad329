/* load.h - the I/O of `roma bench`: sends a schedule to a TF Serving REST
 * endpoint, open loop, and records when each answer came back.
 *
 * One libevent loop owns the run.  A timer is armed for the next
 * scheduled send; when it fires, every request that is due goes out on a
 * keep-alive connection of a pool that grows on demand up to a limit.
 * Answers never hold back the schedule (no coordinated omission): a
 * request waits only when every connection is busy and the pool is at its
 * limit, and even then its latency is measured from its SCHEDULED send
 * time, so a slow server shows up as latency, never as a slower load.
 */
#ifndef ROMA_BENCH_LOAD_H
#define ROMA_BENCH_LOAD_H

#include <stddef.h>

#include "bench/schedule.h"
#include "bench/workload.h"
#include "common/buf.h"
#include "common/status.h"

/* The fate of one scheduled request. */
typedef struct {
    double latency; /* seconds from the scheduled send time to the answer; NAN: none */
    double lag;     /* seconds from the scheduled to the actual send; NAN: not sent */
    int status;     /* HTTP status of the answer; 0: sent, no answer (connection
                       failed or timed out); -1: never sent (run interrupted) */
} bench_outcome;

typedef struct {
    const char *target;        /* http://HOST[:PORT][/PREFIX] */
    const bench_model *models; /* name and body of each model of the schedule */
    size_t nmodels;
    int connections; /* most connections open at once, >= 1 */
    double timeout;  /* seconds an answer may take */
    int progress;    /* print a progress line on stderr once a second */
} bench_load_config;

typedef struct {
    size_t sent;            /* requests handed to a connection */
    double last_send;       /* seconds after the start: the last hand-over */
    double elapsed;         /* seconds after the start: the last answer */
    double interrupted_at;  /* seconds after the start of SIGINT; NAN: ran to the end */
    size_t max_inflight;    /* most requests awaiting an answer at once */
    size_t connections;     /* connections opened */
} bench_run_info;

/* Sends schedule s (sorted) and fills out[i] for each s->sends[i] and
 * *info.  Blocks until every request is answered or has failed; SIGINT
 * stops the sending (a second one stops waiting for answers).  Fails
 * without sending anything when the target is not an http:// URL or its
 * host cannot be resolved.  Call from one thread at a time. */
roma_code bench_load_run(const bench_load_config *c, const bench_schedule *s, bench_outcome *out,
                         bench_run_info *info, roma_err *err);

/* GET {target}{path}, waiting at most timeout seconds.  *status is the
 * HTTP status (0 when the target did not answer) and body (appended to)
 * its body.  Fails only when target is not a usable URL. */
roma_code bench_load_get(const char *target, const char *path, double timeout, int *status,
                         roma_buf *body, roma_err *err);

#endif

/* server.h - the worker's HTTP front end.
 *
 * One libevent loop owns every socket; it never runs TensorFlow.  Each
 * request's body is handed to a fixed pool of inference threads, which call
 * rest_handle and queue the answer back to the loop (event_active from the
 * pool thread), so a slow model never stalls accepting, reading or writing.
 * SIGTERM/SIGINT stop accepting, finish what was accepted, and return.
 * The queue of requests waiting for a thread is bounded (503 past it), and
 * a request whose client has closed its connection by the time a thread
 * takes it is not run (answered CANCELLED, logged with a running count).
 */
#ifndef ROMA_SERVER_H
#define ROMA_SERVER_H

#include <stddef.h>

#include "servables.h"

/* The default bound on queued requests, per inference thread: deep enough
 * for a closed-loop client with a few dozen connections (bench/worker.sh
 * runs 32 against 2 threads), shallow enough that a backlog drains in a
 * few seconds of the slower models. */
#define SRV_QUEUED_PER_THREAD 16

typedef struct {
    const char *host;     /* "0.0.0.0" */
    int port;
    int threads;          /* inference threads (concurrent TF_SessionRun calls) */
    int timeout_ms;       /* idle/read/write timeout of a connection; 0: none */
    size_t max_body;      /* larger request bodies are refused with 413 */
    int max_queued;       /* requests waiting for a thread, past which new ones
                             are answered 503 with Retry-After; 0:
                             SRV_QUEUED_PER_THREAD * threads */
    int listen_fd;        /* >= 0: serve this listening socket (inherited from roma serve)
                             instead of binding host:port */
    const char *secret;   /* when set (started by roma serve), every request must carry it
                             in ROMA_WORKER_SECRET_HEADER, else 403; NULL: standalone */
    int open_status;      /* with a secret: GET/HEAD /v1/models/NAME (model status, what
                             Kubernetes probes ask) is answered without it */
    int server_timing;    /* answers carry a Server-Timing header: the time a request
                             waited for an inference thread, converted (request to
                             tensors, tensors to answer) and ran in TensorFlow */
} srv_options;

/* Serves until SIGTERM or SIGINT.  Returns 0, or 1 when the port cannot be
 * bound (message logged). */
int srv_run(const sv_registry *reg, const srv_options *opt);

#endif

/* server.c - see server.h.
 *
 * Life of a request: common/http.c parses it on the loop thread, its body
 * read into one NUL-terminated block -> on_request copies method and path
 * into a job that points at that body and pushes it on the pool queue ->
 * an inference thread runs rest_handle -> pushes the job on the done list
 * and activates `done_ev` -> on_done (loop thread) sends the reply, which
 * frees the request and with it the body.  A request is freed only by its
 * answer, also when the client went away meanwhile, so the body and the
 * client's socket stay valid until then.
 *
 * `roma serve` keeps a couple more requests in flight than the worker's
 * cores can run, so the next request is always read and waiting; the
 * header X-Roma-Max-Runs on each request caps how many are handled at once
 * (threads follow cores: the cap follows the cgroup quota).
 *
 * Overload.  The queue of jobs not yet started is bounded (max_queued):
 * past it a request is answered 503 at once, with Retry-After, instead of
 * waiting behind work that may never be wanted.  And a job whose client
 * has closed its connection is not run: an inference thread peeks at the
 * client's socket when it takes the job (the loop sees the close too, but
 * the thread must not wait for the loop to tell it), and 0 bytes there means the peer's FIN has arrived, as nginx and roma
 * serve read it.  A full queue is swept the same way before a request is
 * refused, so abandoned jobs hold no places.  roma serve closes its
 * connection to the worker when its own client goes away, so abandoned
 * work is dropped here too.
 *
 * Only roma serve.  A worker that roma serve started takes requests, and so
 * the X-Roma-Max-Runs cap, only from it: each must carry the per-start
 * secret (common/secret.h), else 403.  A worker pod's kubelet probes
 * cannot send it: with open_status a model status request (GET or HEAD of
 * /v1/models/NAME, nothing after the name) is answered without it, and
 * never changes the X-Roma-Max-Runs cap.
 */
#include "server.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/tcp.h"
#include "rest.h"
#include "tf/tfb.h"

typedef struct job {
    roma_http_req *req;
    int fd;            /* the client's socket, peeked before running */
    char method[16];
    char *path;
    const char *body;  /* req's: freed with req */
    size_t body_len;
    int max_runs;      /* X-Roma-Max-Runs of this request, 0 when absent */
    char *header_len;  /* Inference-Header-Content-Length (v2 binary data), NULL when absent */
    int status;
    roma_buf answer;
    size_t answer_header_len; /* > 0: the answer's JSON part, binary data after it */
    /* microseconds (monotonic): read, taken by an inference thread, handled;
     * and of the handling, in TF_SessionRun (for Server-Timing) */
    long long arrived_us, started_us, handled_us, run_us;
    struct job *next;
} job;

typedef struct {
    job *head, *tail;
} job_queue;

typedef struct {
    const sv_registry *reg;
    jf_helper *parse_helper; /* second thread for large bodies; may be NULL */
    struct event_base *base;
    struct event *done_ev;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_queue todo, done;
    int queued;        /* jobs in todo (locked) */
    int max_queued;    /* past it, requests are answered 503 (set once) */
    unsigned long long skipped; /* jobs not run: their client had gone (locked) */
    long long swept_us; /* when the full queue was last swept (loop thread) */
    int stopping;      /* the pool: finish the queue, then exit (locked) */
    int running;       /* requests being handled now (locked) */
    int max_running;   /* cap on `running`, set by X-Roma-Max-Runs (locked) */
    int draining;      /* the loop: no longer accepting (loop thread only) */
    int inflight;      /* accepted, not yet answered (loop thread only) */
    roma_http_server *http;
    int listen_fd;       /* closed when draining: new clients are refused */
    const char *secret;  /* srv_options.secret */
    int open_status;     /* srv_options.open_status */
    int server_timing;   /* srv_options.server_timing */
    pthread_t *threads;
    int nthreads;
} server;

static long long monotonic_us(void) { return (long long)(roma_now() * 1e6); }

static void queue_push(job_queue *q, job *j) {
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
}

static job *queue_take_all(job_queue *q) {
    job *all = q->head;
    q->head = q->tail = NULL;
    return all;
}

static void job_free(job *j) {
    free(j->path);
    free(j->header_len);
    roma_buf_free(&j->answer);
    free(j);
}

/* The next job to run, once a run slot is free; NULL when stopping and
 * the queue is empty.  A job is taken only when it can start, so `todo`
 * holds exactly the jobs waiting (what max_queued bounds).  Locked. */
static job *next_job(server *s) {
    for (;;) {
        job *j = s->todo.head;
        if (j && j->max_runs > 0) s->max_running = j->max_runs;
        if (j && s->running < s->max_running) {
            s->todo.head = j->next;
            if (!s->todo.head) s->todo.tail = NULL;
            s->queued--;
            return j;
        }
        if (!j && s->stopping) return NULL;
        pthread_cond_wait(&s->wake, &s->lock);
    }
}

/* Whether the client closed its socket: a FIN reads as 0 bytes (data
 * waiting, such as a pipelined request, means it is still there).  The
 * socket stays open while its request is unanswered: libevent neither
 * reads nor writes it meanwhile, so nothing can close it under us. */
static int client_gone(int fd) {
    char byte;
    if (fd < 0) return 0;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The answer to a job whose client left: nobody reads it, unless the
 * client only shut down its sending side and still listens. */
static void skip_job(job *j, unsigned long long skipped) {
    roma_info("%s %s: the client closed its connection before the request ran; not run "
              "(%llu skipped so far)",
              j->method, j->path, skipped);
    j->status = rest_error(&j->answer, ROMA_CANCELLED,
                           "the client closed its connection before the request ran");
}

static void *inference_thread(void *arg) {
    server *s = arg;
    pthread_mutex_lock(&s->lock);
    job *j;
    while ((j = next_job(s))) {
        int gone = client_gone(j->fd);
        unsigned long long skipped = gone ? ++s->skipped : s->skipped;
        if (!gone) s->running++;
        pthread_mutex_unlock(&s->lock);

        j->started_us = monotonic_us();
        double ran = tfb_thread_run_seconds();
        if (gone) skip_job(j, skipped);
        else j->status = rest_handle(s->reg, s->parse_helper, j->method, j->path, j->body,
                                     j->body_len, j->header_len, &j->answer,
                                     &j->answer_header_len);
        j->run_us = (long long)((tfb_thread_run_seconds() - ran) * 1e6);
        j->handled_us = monotonic_us();

        pthread_mutex_lock(&s->lock);
        if (!gone) {
            s->running--;
            pthread_cond_signal(&s->wake); /* a job may wait for this run slot */
        }
        queue_push(&s->done, j);
        event_active(s->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Server-Timing (W3C): where the worker's time went, in milliseconds:
 * waiting for an inference thread, converting (request to tensors,
 * tensors to answer) and running in TensorFlow. */
static void add_server_timing(const job *j, char *out, size_t cap) {
    long long handle = j->handled_us - j->started_us;
    snprintf(out, cap, "Server-Timing: queue;dur=%.3f, convert;dur=%.3f, run;dur=%.3f\r\n",
             (double)(j->started_us - j->arrived_us) / 1e3, (double)(handle - j->run_us) / 1e3,
             (double)j->run_us / 1e3);
}

static void send_answer(const server *s, job *j) {
    const char *body = j->answer.data ? j->answer.data : "";
    char extra[192] = "";
    size_t n = 0;
    if (j->answer_header_len > 0)
        n = (size_t)snprintf(extra, sizeof(extra), "Inference-Header-Content-Length: %zu\r\n",
                             j->answer_header_len);
    if (s->server_timing) add_server_timing(j, extra + n, sizeof(extra) - n);
    roma_http_reply(j->req, j->status,
                    j->answer_header_len > 0 ? "application/octet-stream" : "application/json",
                    extra[0] ? extra : NULL, body, j->answer.len);
}

/* Leaves the loop after a moment, so the last answers are written out. */
static void exit_soon(server *s) {
    struct timeval flush = {0, 100000};
    event_base_loopexit(s->base, &flush);
}

static void on_done(evutil_socket_t fd, short what, void *arg) {
    server *s = arg;
    (void)fd, (void)what;
    pthread_mutex_lock(&s->lock);
    job *j = queue_take_all(&s->done);
    pthread_mutex_unlock(&s->lock);
    while (j) {
        job *next = j->next;
        send_answer(s, j);
        job_free(j);
        s->inflight--;
        j = next;
    }
    if (s->draining && s->inflight == 0) exit_soon(s);
}

/* 503 at once: the queue is full.  Retry-After: by then the threads
 * will have started some of the queue. */
static void answer_overloaded(const server *s, roma_http_req *req) {
    char msg[320];
    roma_buf body = ROMA_BUF_INIT;
    snprintf(msg, sizeof(msg),
             "Too many requests: the queue is full (%d requests wait for the worker's %d "
             "inference thread%s; the limit is --rest_api_max_queued); retry after a moment, "
             "or add workers",
             s->max_queued, s->nthreads, s->nthreads == 1 ? "" : "s");
    int status = rest_error(&body, ROMA_UNAVAILABLE, msg);
    roma_http_reply(req, status, "application/json", "Retry-After: 1\r\n", body.data, body.len);
    roma_buf_free(&body);
}

/* Takes the jobs whose client has gone out of the queue and answers them
 * as skipped (through on_done), so that they hold no place a live request
 * would be refused for.  Locked; loop thread. */
static void drop_abandoned(server *s) {
    job_queue keep = {0};
    job *next;
    int dropped = 0;
    for (job *j = s->todo.head; j; j = next) {
        next = j->next;
        if (!client_gone(j->fd)) {
            queue_push(&keep, j);
            continue;
        }
        skip_job(j, ++s->skipped);
        j->started_us = j->handled_us = monotonic_us(); /* waited this long, never ran */
        queue_push(&s->done, j);
        s->queued--;
        dropped = 1;
    }
    s->todo = keep;
    if (dropped) event_active(s->done_ev, EV_READ, 0);
}

/* Whether a new request finds the queue full.  When it does, abandoned
 * jobs are dropped first; that costs a syscall per job, so at most every
 * SWEEP_EVERY_US under a flood of refused requests.  Only this thread adds
 * to the queue: it cannot grow past the check. */
#define SWEEP_EVERY_US 10000
static int queue_full(server *s) {
    pthread_mutex_lock(&s->lock);
    int full = s->queued >= s->max_queued;
    if (full && monotonic_us() - s->swept_us >= SWEEP_EVERY_US) {
        drop_abandoned(s);
        s->swept_us = monotonic_us();
        full = s->queued >= s->max_queued;
    }
    pthread_mutex_unlock(&s->lock);
    return full;
}

/* A model status request: GET or HEAD of /v1/models/NAME, no query.  No
 * '%' either (model names need none): "x%2Fmetadata" would be another route
 * once decoded. */
static int is_status_probe(roma_http_req *req) {
    const char *method = roma_http_method(req);
    const char *uri = roma_http_target(req), *prefix = "/v1/models/";
    size_t n = strlen(prefix);
    if ((strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) ||
        strncmp(uri, prefix, n) != 0)
        return 0;
    return uri[n] != '\0' && strcspn(uri + n, "/:?#%") == strlen(uri + n);
}

/* 1 when req comes from the roma serve that started this worker (always
 * for a standalone worker); 2 for a status probe let through without the
 * secret (open_status); 0 when refused: answers 403 itself then. */
static int from_roma_serve(const server *s, roma_http_req *req) {
    if (!s->secret) return 1;
    const char *got = roma_http_header(req, ROMA_WORKER_SECRET_HEADER);
    if (got && roma_secret_equal(got, strlen(got), s->secret)) return 1;
    if (s->open_status && is_status_probe(req)) return 2;
    roma_buf b = ROMA_BUF_INIT;
    int status = rest_error(&b, ROMA_PERMISSION_DENIED,
                            "this worker was started by roma serve and answers only it (header "
                            ROMA_WORKER_SECRET_HEADER " missing or wrong): send requests to "
                            "roma serve instead");
    roma_http_reply(req, status, "application/json", NULL, b.data, b.len);
    roma_buf_free(&b);
    return 0;
}

/* A TF Serving predict with a JSON body: the body jf_parse may split. */
static int is_json_predict(const job *j) {
    size_t n = strlen(j->path);
    return !j->header_len && strcmp(j->method, "POST") == 0 && n >= 8 &&
           strcmp(j->path + n - 8, ":predict") == 0;
}

static void on_request(roma_http_req *req, void *arg) {
    server *s = arg;
    int from = from_roma_serve(s, req);
    if (!from) return;
    if (queue_full(s)) return answer_overloaded(s, req);
    job *j = calloc(1, sizeof(*j));
    if (!j) abort();
    j->req = req;
    j->arrived_us = monotonic_us();
    j->fd = roma_http_fd(req);
    snprintf(j->method, sizeof(j->method), "%s", roma_http_method(req));
    j->path = roma_http_path(roma_http_target(req));
    j->body = roma_http_body(req, &j->body_len);
    const char *runs = roma_http_header(req, "X-Roma-Max-Runs");
    const char *header_len = roma_http_header(req, "Inference-Header-Content-Length");
    j->max_runs = runs && from == 1 ? atoi(runs) : 0;
    j->header_len = header_len ? strdup(header_len) : NULL;
    if (header_len && !j->header_len) abort();
    s->inflight++;
    pthread_mutex_lock(&s->lock);
    queue_push(&s->todo, j);
    s->queued++;
    int starts_now = s->queued <= s->max_running - s->running;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (starts_now && is_json_predict(j)) jf_helper_expect(s->parse_helper, j->body_len);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    server *s = arg;
    (void)what;
    if (s->draining) return;
    roma_info("signal %d: no longer accepting; answering %d accepted requests", (int)sig,
              s->inflight);
    s->draining = 1;
    roma_http_server_stop_accepting(s->http);
    close(s->listen_fd);
    s->listen_fd = -1;
    if (s->inflight == 0) exit_soon(s);
}

static int start_threads(server *s, int n) {
    s->threads = calloc((size_t)n, sizeof(pthread_t));
    if (!s->threads) abort();
    for (s->nthreads = 0; s->nthreads < n; s->nthreads++)
        if (pthread_create(&s->threads[s->nthreads], NULL, inference_thread, s) != 0) return -1;
    return 0;
}

/* Stops the pool (the loop has already answered every accepted job). */
static void stop_threads(server *s) {
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
    on_done(-1, 0, s); /* answers (into closed sockets) anything left */
}

/* The listening socket: the one roma serve made and passed down
 * (--rest_api_fd), or host:port bound here.  -1 with the fix logged. */
static int srv_listen(const srv_options *opt) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (opt->listen_fd < 0) {
        int fd = roma_http_listen(opt->host, opt->port);
        if (fd < 0)
            roma_error("cannot listen on %s:%d (%s): pick another --rest_api_port", opt->host,
                       opt->port, strerror(errno));
        return fd;
    }
    if (getsockopt(opt->listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        roma_error("--rest_api_fd=%d is not a listening socket (the flag is roma serve's, for the "
                   "workers it starts; use --rest_api_port)", opt->listen_fd);
        return -1;
    }
    evutil_make_socket_closeonexec(opt->listen_fd);
    return opt->listen_fd;
}

int srv_run(const sv_registry *reg, const srv_options *opt) {
    server s = {.reg = reg, .secret = opt->secret && *opt->secret ? opt->secret : NULL,
                .open_status = opt->open_status, .server_timing = opt->server_timing};
    int rc = 1;
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up mid-answer is an error to handle, not a crash */
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.wake, NULL);
    s.max_running = opt->threads;
    s.max_queued = opt->max_queued > 0 ? opt->max_queued : SRV_QUEUED_PER_THREAD * opt->threads;
    s.base = event_base_new();
    s.done_ev = event_new(s.base, -1, EV_PERSIST | EV_READ, on_done, &s);
    struct event *sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    struct event *sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    int listen_fd = s.listen_fd = srv_listen(opt);
    if (listen_fd < 0) goto out;
    if (roma_tcp_nodelay(listen_fd) != 0) /* the accepted sockets inherit it */
        roma_warn("cannot set TCP_NODELAY on the listening socket: answers may be delayed");
    roma_http_limits limits = {.max_body = opt->max_body,
                               .max_header_bytes = 64 * 1024, /* bounds memory per client */
                               .timeout_ms = opt->timeout_ms,
                               .body_key = "--rest_api_max_body_bytes"};
    s.http = roma_http_server_new(s.base, listen_fd, &limits, on_request, &s);
    if (!s.http) abort();
    if (start_threads(&s, opt->threads) != 0) {
        roma_error("cannot start %d inference threads", opt->threads);
        stop_threads(&s);
        roma_http_server_free(s.http);
        close(listen_fd);
        goto out;
    }
    s.parse_helper = jf_helper_start(JF_SPLIT_MIN_BYTES);
    if (!s.parse_helper) roma_warn("cannot start the JSON parse helper thread: large bodies are "
                                   "parsed on one thread");
    roma_info("serving REST on %s:%d with %d inference threads, at most %d requests queued%s",
              opt->host, opt->port, opt->threads, s.max_queued,
              s.secret ? ", for the roma serve that started it only" : "");
    event_base_dispatch(s.base);
    stop_threads(&s);
    jf_helper_stop(s.parse_helper);
    roma_http_server_free(s.http);
    if (s.listen_fd >= 0) close(s.listen_fd);
    rc = 0;
out:
    event_free(sigterm);
    event_free(sigint);
    event_free(s.done_ev);
    event_base_free(s.base);
    free(s.threads);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.wake);
    return rc;
}

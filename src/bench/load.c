/* load.c - see load.h.
 *
 * The pump: whenever something may have changed (the send timer fired, an
 * answer freed a connection), send every request that is due while a
 * connection is free, then arm the timer for the next one.  Requests go
 * out in schedule order, so the requests waiting for a connection are
 * simply the due ones from `next` on: no queue to keep.  One request per
 * connection at a time (no pipelining), so an answer's latency is its own
 * and not that of the answers queued ahead of it.
 */
#include "load.h"

#include <event2/event.h>
#include <assert.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "../common/http.h"

/* ---- the target ------------------------------------------------------- */

typedef struct {
    char address[64];      /* numeric, resolved once: no DNS per connection */
    int port;
    char prefix[512];      /* URL path before /v1/..., no trailing '/' */
} endpoint;

/* Looks host up once and keeps its numeric address. */
static roma_code resolve(const char *host, endpoint *e, roma_err *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return roma_fail(err, ROMA_UNAVAILABLE, "target host '%s' cannot be resolved: %s", host,
                         gai_strerror(rc));
    rc = getnameinfo(res->ai_addr, res->ai_addrlen, e->address, sizeof(e->address), NULL, 0,
                     NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0)
        return roma_fail(err, ROMA_UNAVAILABLE, "target host '%s': %s", host, gai_strerror(rc));
    return ROMA_OK;
}

/* "http://HOST[:PORT][/PREFIX]", HOST a name, an IPv4 address or an IPv6
 * one in brackets. */
static roma_code endpoint_parse(const char *target, endpoint *e, roma_err *err) {
    const char *p = strncmp(target, "http://", 7) == 0 ? target + 7 : NULL, *end = NULL;
    char bare[256];
    size_t n = 0;
    if (p && *p == '[') { /* [v6]:port */
        end = strchr(p, ']');
        if (end) n = (size_t)(end - p - 1), p++, end++;
    } else if (p) {
        n = strcspn(p, ":/?#");
        end = p + n;
    }
    long port = 80;
    if (end && *end == ':') {
        char *after;
        port = strtol(end + 1, &after, 10);
        if (after == end + 1 || port < 1 || port > 65535) end = NULL;
        else end = after;
    }
    if (!end || n == 0 || n >= sizeof(bare) || (*end && *end != '/'))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "target '%s' is not an http:// URL such as http://127.0.0.1:8501", target);
    memcpy(bare, p, n);
    bare[n] = '\0';
    e->port = (int)port;
    snprintf(e->prefix, sizeof(e->prefix), "%.*s", (int)strcspn(end, "?#"), end);
    for (n = strlen(e->prefix); n && e->prefix[n - 1] == '/';) e->prefix[--n] = '\0';
    return resolve(bare, e, err);
}

/* A failure is a result, not something to hide: no retries. */
static roma_http_client *connect_to(struct event_base *base, const endpoint *e, double timeout) {
    return roma_http_client_new(base, e->address, e->port, (int)(timeout * 1000 + 0.5));
}

/* ---- the run ---------------------------------------------------------- */

typedef struct loader loader;

typedef struct {
    loader *owner;
    roma_http_client *cl;
    size_t request; /* schedule index of the request in flight */
} pool_conn;

struct loader {
    const bench_load_config *cfg;
    const bench_schedule *s;
    bench_outcome *out;
    bench_run_info *info;
    endpoint ep;
    char **uris; /* per model: {prefix}/v1/models/{name}:predict */
    struct event_base *base;
    struct event *timer, *tick, *sigint;
    pool_conn *conns; /* cfg->connections of them, opened on demand */
    size_t *idle, nidle;
    size_t next; /* the next request of the schedule to send */
    size_t inflight, errors;
    size_t tick_sent;
    double tick_time;
    struct timespec start;
    int stopping;
    int pumping; /* an answer delivered inside roma_http_client_request must not
                    re-enter the pump; the running pump carries on */
};

static double since_start(const loader *L) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - L->start.tv_sec) + (double)(now.tv_nsec - L->start.tv_nsec) * 1e-9;
}

/* An idle connection, a new one while the pool may grow, or NULL. */
static pool_conn *take_conn(loader *L) {
    if (L->nidle) return &L->conns[L->idle[--L->nidle]];
    if (L->info->connections == (size_t)L->cfg->connections) return NULL;
    pool_conn *c = &L->conns[L->info->connections];
    /* Only allocates (the address is numeric): failing is out of memory. */
    c->cl = connect_to(L->base, &L->ep, L->cfg->timeout);
    c->owner = L;
    L->info->connections++;
    return c;
}

static void release_conn(loader *L, pool_conn *c) { L->idle[L->nidle++] = (size_t)(c - L->conns); }

static void pump(loader *L);

static void on_answer(roma_http_client *cl, int status, void *arg) {
    pool_conn *c = arg;
    loader *L = c->owner;
    bench_outcome *o = &L->out[c->request];
    double now = since_start(L);
    (void)cl;
    o->status = status;
    if (o->status) o->latency = now - L->s->sends[c->request].time;
    if (o->status != 200) L->errors++;
    L->inflight--;
    release_conn(L, c);
    pump(L);
}

static void send_request(loader *L, pool_conn *c, size_t i, double now) {
    const bench_send *snd = &L->s->sends[i];
    const bench_model *m = &L->cfg->models[snd->model];
    c->request = i;
    L->out[i].status = 0;
    L->out[i].lag = now - snd->time;
    L->info->sent++;
    L->info->last_send = now;
    if (++L->inflight > L->info->max_inflight) L->info->max_inflight = L->inflight;
    /* Not a copy: every request of a model sends its one body. */
    if (roma_http_client_request(c->cl, "POST", L->uris[snd->model],
                                 "Content-Type: application/json\r\n", m->body, m->body_len,
                                 on_answer, c) != 0) {
        L->inflight--;
        L->errors++;
        release_conn(L, c);
    }
}

static void pump(loader *L) {
    if (L->pumping) return;
    L->pumping = 1;
    while (L->next < L->s->len && !L->stopping) {
        double now = since_start(L), due = L->s->sends[L->next].time;
        if (due > now) {
            double wait = due - now;
            struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
            evtimer_add(L->timer, &tv);
            break;
        }
        pool_conn *c = take_conn(L);
        if (!c) break; /* every connection is busy: the next answer pumps again */
        send_request(L, c, L->next++, now);
    }
    L->pumping = 0;
    if ((L->next == L->s->len || L->stopping) && L->inflight == 0) event_base_loopexit(L->base, NULL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) { pump(arg); }

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    loader *L = arg;
    double now = since_start(L), dt = now - L->tick_time;
    fprintf(stderr, "\rroma bench: %6.1f s  rate %8.1f/s  in flight %5zu  errors %zu   ", now,
            dt > 0 ? (double)(L->info->sent - L->tick_sent) / dt : 0.0, L->inflight, L->errors);
    L->tick_sent = L->info->sent;
    L->tick_time = now;
}

static void on_sigint(evutil_socket_t fd, short what, void *arg) {
    loader *L = arg;
    if (L->stopping) {
        event_base_loopbreak(L->base);
        return;
    }
    L->stopping = 1;
    L->info->interrupted_at = since_start(L);
    fprintf(stderr, "\nroma bench: interrupted: nothing more is sent; waiting for %zu answers "
                    "(Ctrl-C again to stop now)\n", L->inflight);
    if (L->inflight == 0) event_base_loopexit(L->base, NULL);
}

/* Each connection is a descriptor: raise the soft limit when the pool
 * could outgrow it (best effort; connections fail with an error if not). */
static void allow_descriptors(int connections) {
    struct rlimit rl;
    rlim_t need = (rlim_t)connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static roma_code loader_open(loader *L, roma_err *err) {
    assert(L->cfg->connections >= 1); /* with none, nothing would ever be sent */
    roma_code rc = endpoint_parse(L->cfg->target, &L->ep, err);
    if (rc != ROMA_OK) return rc;
    L->uris = calloc(L->cfg->nmodels, sizeof(*L->uris));
    L->conns = calloc((size_t)L->cfg->connections, sizeof(*L->conns));
    L->idle = calloc((size_t)L->cfg->connections, sizeof(*L->idle));
    if (!L->uris || !L->conns || !L->idle) abort();
    for (size_t i = 0; i < L->cfg->nmodels; i++)
        if (asprintf(&L->uris[i], "%s/v1/models/%s:predict", L->ep.prefix, L->cfg->models[i].name) < 0)
            abort();
    /* A precise timer (timerfd) instead of epoll's milliseconds: sends
     * keep their spacing at rates of thousands a second. */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    L->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!L->base) return roma_fail(err, ROMA_INTERNAL, "libevent: cannot create an event loop");
    L->timer = evtimer_new(L->base, on_timer, L);
    L->sigint = evsignal_new(L->base, SIGINT, on_sigint, L);
    event_add(L->sigint, NULL);
    if (L->cfg->progress) {
        struct timeval second = {1, 0};
        L->tick = event_new(L->base, -1, EV_PERSIST, on_tick, L);
        event_add(L->tick, &second);
    }
    allow_descriptors(L->cfg->connections);
    return ROMA_OK;
}

static void loader_close(loader *L) {
    /* Freeing a connection drops its request without calling back. */
    for (size_t i = 0; i < L->info->connections; i++) roma_http_client_free(L->conns[i].cl);
    if (L->timer) event_free(L->timer);
    if (L->sigint) event_free(L->sigint);
    if (L->tick) event_free(L->tick);
    if (L->base) event_base_free(L->base);
    for (size_t i = 0; L->uris && i < L->cfg->nmodels; i++) free(L->uris[i]);
    free(L->uris);
    free(L->conns);
    free(L->idle);
}

roma_code bench_load_run(const bench_load_config *c, const bench_schedule *s, bench_outcome *out,
                         bench_run_info *info, roma_err *err) {
    loader L = {.cfg = c, .s = s, .out = out, .info = info};
    memset(info, 0, sizeof(*info));
    info->interrupted_at = NAN;
    for (size_t i = 0; i < s->len; i++) out[i] = (bench_outcome){NAN, NAN, -1};
    roma_code rc = loader_open(&L, err);
    if (rc == ROMA_OK) {
        clock_gettime(CLOCK_MONOTONIC, &L.start);
        pump(&L);
        event_base_dispatch(L.base);
        info->elapsed = since_start(&L);
        if (c->progress) {
            on_tick(-1, 0, &L);
            fputc('\n', stderr);
        }
    }
    loader_close(&L);
    return rc;
}

/* ---- one GET (for /metrics) ------------------------------------------- */

typedef struct {
    struct event_base *base;
    int status;
    roma_buf *body;
} get_call;

static void on_get(roma_http_client *cl, int status, void *arg) {
    get_call *g = arg;
    g->status = status;
    if (status) {
        size_t n;
        const char *body = roma_http_client_body(cl, &n);
        roma_buf_append(g->body, body, n);
    }
    event_base_loopexit(g->base, NULL);
}

roma_code bench_load_get(const char *target, const char *path, double timeout, int *status,
                         roma_buf *body, roma_err *err) {
    endpoint ep;
    roma_code rc = endpoint_parse(target, &ep, err);
    *status = 0;
    if (rc != ROMA_OK) return rc;
    get_call g = {event_base_new(), 0, body};
    if (!g.base) return roma_fail(err, ROMA_INTERNAL, "libevent: cannot create an event loop");
    roma_http_client *conn = connect_to(g.base, &ep, timeout);
    char uri[1024];
    snprintf(uri, sizeof(uri), "%s%s", ep.prefix, path);
    if (roma_http_client_request(conn, "GET", uri, NULL, NULL, 0, on_get, &g) == 0 && g.status == 0)
        event_base_dispatch(g.base);
    *status = g.status;
    roma_http_client_free(conn);
    event_base_free(g.base);
    return ROMA_OK;
}

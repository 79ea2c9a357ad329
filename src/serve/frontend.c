/* frontend.c - the client connections of `roma serve` and their bounds.
 *
 * evhttp alone bounds nothing: idle or slow connections stay open, each
 * may buffer a body, and at the file-descriptor limit its listener retries
 * accept() in a loop, logging every failure.  This module keeps a table of
 * the open client connections, indexed by socket, and bounds them
 * (config.h, limits):
 *   - connections: at limits.connections open ones the listener is
 *     disabled until one closes (the kernel's backlog holds the rest);
 *   - time: a connection that has not delivered a whole request within
 *     limits.request_timeout of opening or of its previous answer is
 *     closed (idle keep-alive connections, slowloris clients);
 *   - file descriptors: accept() failing for want of them disables the
 *     listener for FRONTEND_PAUSE_S instead of spinning, logged once per
 *     episode.
 * Bytes: limits.body_mb per body (evhttp), and dispatch.c refuses a
 * request whose body would take the held bodies past limits.inflight_mb.
 *
 * A connection is seen when evhttp asks for its bufferevent (bevcb), and
 * registered just after (a deferred event: the evhttp_connection exists
 * only once bevcb has returned; it is the bufferevent's callback argument).
 * Its close callback is this module's: it updates the table and tells
 * dispatch.c when a request was being handled (dispatch_client_closed).
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/bulkio.h"
#include "common/log.h"

#define FRONTEND_PAUSE_S 0.5
/* At the fd limit a transient descriptor (a cgroup file read, a probe)
 * lets one accept through and the next fail again: warn at most this often. */
#define FRONTEND_WARN_EVERY_S 60.0

/* The listener's error callback has no argument of its own (its argument
 * is evhttp's); there is one serve_state per process. */
static serve_state *frontend_state;

static serve_conn *conn_entry(serve_state *s, struct evhttp_connection *conn) {
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || (size_t)fd >= s->nconn_table) return NULL;
    serve_conn *e = &s->conn_table[fd];
    return e->open && e->conn == conn ? e : NULL;
}

static void listener_enable(serve_state *s, int on) {
    struct evconnlistener *lev = s->listener ? evhttp_bound_socket_get_listener(s->listener) : NULL;
    if (!lev) return;
    if (on) evconnlistener_enable(lev);
    else evconnlistener_disable(lev);
}

/* Accepting goes on when neither the cap nor an fd shortage holds it. */
static void update_accepting(serve_state *s) {
    int full = s->nconns >= (size_t)s->cfg.max_connections;
    if (full && !s->at_conn_cap)
        roma_warn("%zu client connections open (limits.connections): not accepting more until "
                  "one closes", s->nconns);
    if (!full && s->at_conn_cap) roma_info("accepting connections again (%zu open)", s->nconns);
    s->at_conn_cap = full;
    listener_enable(s, !full && !s->accept_paused);
}

static void conn_closed(serve_state *s, serve_conn *e) {
    serve_request *r = e->req;
    e->open = 0;
    e->req = NULL;
    e->conn = NULL;
    s->nconns--;
    update_accepting(s);
    if (r) dispatch_client_closed(s, r);
}

static void on_conn_close(struct evhttp_connection *conn, void *arg) {
    serve_state *s = arg;
    serve_conn *e = conn_entry(s, conn);
    if (e) conn_closed(s, e);
}

static void table_fit(serve_state *s, size_t fd) {
    if (fd < s->nconn_table) return;
    size_t n = s->nconn_table ? s->nconn_table : 256;
    while (n <= fd) n *= 2;
    s->conn_table = realloc(s->conn_table, n * sizeof(serve_conn));
    if (!s->conn_table) abort();
    memset(s->conn_table + s->nconn_table, 0, (n - s->nconn_table) * sizeof(serve_conn));
    s->nconn_table = n;
}

/* Registers the connections evhttp made since the last call. */
static void on_pending(evutil_socket_t fd_, short what, void *arg) {
    serve_state *s = arg;
    (void)fd_, (void)what;
    for (size_t i = 0; i < s->npending; i++) {
        struct bufferevent *bev = s->pending[i];
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (fd < 0 || !cbarg) { /* not a connection after all: uncount it */
            s->nconns--;
            continue;
        }
        table_fit(s, (size_t)fd);
        serve_conn *e = &s->conn_table[fd];
        if (e->open) s->nconns--; /* its socket was closed unseen: drop the stale entry */
        *e = (serve_conn){.open = 1, .since = serve_now(), .conn = cbarg};
        evhttp_connection_set_closecb(e->conn, on_conn_close, s);
    }
    s->npending = 0;
    update_accepting(s);
}

static struct bufferevent *on_new_connection(struct event_base *base, void *arg) {
    serve_state *s = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return NULL; /* evhttp refuses the connection */
    (void)roma_bulkio_enable(bev); /* bodies in a few reads, not 4 KB a loop turn */
    if (s->npending == s->pending_cap) {
        s->pending_cap = s->pending_cap ? 2 * s->pending_cap : 64;
        s->pending = realloc(s->pending, s->pending_cap * sizeof(*s->pending));
        if (!s->pending) abort();
    }
    s->pending[s->npending++] = bev;
    s->nconns++;
    if (s->nconns >= (size_t)s->cfg.max_connections) update_accepting(s);
    event_active(s->pending_ev, EV_TIMEOUT, 1);
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
    serve_state *s = arg;
    (void)fd, (void)what;
    s->accept_paused = 0;
    update_accepting(s);
}

/* accept() failed with something other than "try again": most often no
 * file descriptor is left.  Retrying at once would spin; pause instead. */
static void on_accept_error(struct evconnlistener *lev, void *arg) {
    serve_state *s = frontend_state;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {0, (suseconds_t)(FRONTEND_PAUSE_S * 1e6)};
    double now = serve_now();
    (void)arg;
    if (s->fd_short_warned == 0 || now - s->fd_short_warned >= FRONTEND_WARN_EVERY_S) {
        roma_warn("cannot accept connections: %s (%zu client connections open, %lu more failures "
                  "since the last warning): pausing accepting for %.1f s at a time until one is "
                  "accepted; raise the open-files limit (ulimit -n) or lower limits.connections",
                  evutil_socket_error_to_string(err), s->nconns, s->fd_short_unwarned,
                  FRONTEND_PAUSE_S);
        s->fd_short_warned = now;
        s->fd_short_unwarned = 0;
    } else {
        s->fd_short_unwarned++;
    }
    s->accept_paused = 1;
    evconnlistener_disable(lev);
    evtimer_add(s->resume_ev, &tv);
}

/* Closes connections that took longer than limits.request_timeout to
 * deliver a request; drops entries whose socket was closed unseen. */
static void on_expire(evutil_socket_t fd_, short what, void *arg) {
    serve_state *s = arg;
    double now = serve_now();
    (void)fd_, (void)what;
    for (size_t fd = 0; fd < s->nconn_table; fd++) {
        serve_conn *e = &s->conn_table[fd];
        if (!e->open || e->busy) continue;
        if (fcntl((int)fd, F_GETFD) < 0 && errno == EBADF) {
            conn_closed(s, e);
        } else if (now - e->since > s->cfg.request_timeout) {
            struct evhttp_connection *conn = e->conn;
            conn_closed(s, e);
            evhttp_connection_set_closecb(conn, NULL, NULL);
            evhttp_connection_free(conn);
        }
    }
}

static void on_request_done(struct evhttp_request *req, void *arg) {
    serve_conn *e = conn_entry(arg, evhttp_request_get_connection(req));
    if (!e) return;
    e->busy = 0;
    e->since = serve_now();
}

void frontend_request_started(serve_state *s, struct evhttp_request *req) {
    serve_conn *e = conn_entry(s, evhttp_request_get_connection(req));
    if (!e) return;
    e->busy = 1;
    evhttp_request_set_on_complete_cb(req, on_request_done, s);
}

void frontend_attach(serve_state *s, struct evhttp_request *req, serve_request *r) {
    serve_conn *e = conn_entry(s, evhttp_request_get_connection(req));
    if (e) e->req = r;
}

void frontend_detach(serve_state *s, struct evhttp_request *req) {
    serve_conn *e = req ? conn_entry(s, evhttp_request_get_connection(req)) : NULL;
    if (e) e->req = NULL;
}

void frontend_close(serve_state *s, struct evhttp_connection *conn) {
    serve_conn *e = conn_entry(s, conn);
    if (e) {
        e->req = NULL;
        conn_closed(s, e);
    }
    evhttp_connection_set_closecb(conn, NULL, NULL);
    evhttp_connection_free(conn);
}

void frontend_start(serve_state *s) {
    struct timeval tv = {1, 0};
    frontend_state = s;
    evhttp_set_bevcb(s->http, on_new_connection, s);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->cfg.max_body_bytes);
    evhttp_set_timeout(s->http, (int)(s->cfg.request_timeout + 0.999));
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->listener), on_accept_error);
    s->pending_ev = event_new(s->base, -1, 0, on_pending, s);
    s->resume_ev = evtimer_new(s->base, on_resume, s);
    s->expire_ev = event_new(s->base, -1, EV_PERSIST, on_expire, s);
    event_add(s->expire_ev, &tv);
}

void frontend_free(serve_state *s) {
    if (s->pending_ev) event_free(s->pending_ev);
    if (s->resume_ev) event_free(s->resume_ev);
    if (s->expire_ev) event_free(s->expire_ev);
    free(s->pending);
    free(s->conn_table);
    s->pending_ev = s->resume_ev = s->expire_ev = NULL;
    s->pending = NULL;
    s->conn_table = NULL; /* connections evhttp_free closes are no longer tracked */
    s->nconn_table = s->npending = 0;
}

/* http.h - a lean HTTP/1.1 server and client on a libevent loop.
 *
 * Why not evhttp: libevent 2.1's evhttp reads 4 KB a loop turn, sizes
 * every read with ioctl(FIONREAD), keeps headers in malloc'ed lists it
 * searches with strcasecmp, and turns a connection's epoll interest off
 * and on around every request.  Measured on roma serve (issue 14), that
 * was 20% of its CPU in libevent and 21% in libc, against 2% in ROMA's own
 * code.  This layer does the least a server must:
 *
 *   - one read buffer a connection; the request line and headers are
 *     parsed in place by Debian's http-parser (nodejs' http_parser, no
 *     allocation) and kept as offsets into a per-connection block;
 *   - a body of known length is read straight into its own block, sized
 *     once from Content-Length, in as few recv() calls as the kernel
 *     allows (one copy: kernel to that block); chunked bodies are copied
 *     chunk by chunk;
 *   - the answer goes out with one writev (status line and headers, then
 *     the body from the caller's memory); only what the socket does not
 *     take is copied and waits for EPOLLOUT;
 *   - a connection's read interest stays on while its request is handled:
 *     a client that sends nothing more costs no system call, and one that
 *     closes is seen at once (roma_http_set_close_cb) instead of when the
 *     answer fails.
 *
 * Requests on a connection are handled one at a time, in order (pipelined
 * requests wait in the read buffer).  Everything runs on the loop's
 * thread; a request may be answered later, from that thread, after other
 * threads did the work (the worker's inference threads).
 *
 * The client (roma_http_client) is the same on the other side: one
 * keep-alive connection to a host:port, one request at a time, the answer
 * parsed in place.  It is what `roma serve` forwards to its workers with.
 *
 * Limits (roma_http_limits): a request line plus headers beyond
 * max_header_bytes is answered 431, a body beyond max_body 413 (both
 * before the body is read), anything http-parser refuses 400; each closes
 * the connection.  A connection that has not delivered a whole request
 * within timeout_ms of opening or of its previous answer is closed, and
 * so is one that takes none of its answer for timeout_ms.
 * At max_connections open ones accepting pauses until one closes (the
 * kernel's backlog holds the rest); accept() failing for want of
 * descriptors pauses it for half a second instead of spinning (logged once).
 */
#ifndef ROMA_HTTP_H
#define ROMA_HTTP_H

#include <stddef.h>

struct event_base;

typedef struct roma_http_server roma_http_server;
typedef struct roma_http_req roma_http_req;

typedef struct {
    size_t max_body;         /* larger bodies: 413 */
    size_t max_header_bytes; /* request line + headers; larger: 431 */
    int timeout_ms;          /* 0: connections may idle forever */
    int max_connections;     /* 0: no bound */
    const char *connections_key; /* the setting that sets it, for the log ("limits.connections") */
    const char *body_key;        /* the setting of max_body, named in a 413 ("limits.body_mb") */
} roma_http_limits;

/* Called once per complete request; the request is the callee's until it
 * calls roma_http_reply (now or later, on the loop's thread). */
typedef void (*roma_http_handler)(roma_http_req *req, void *arg);

/* Serves listen_fd (a listening TCP socket; made non-blocking here) on
 * base.  NULL when out of memory. */
roma_http_server *roma_http_server_new(struct event_base *base, int listen_fd,
                                       const roma_http_limits *limits,
                                       roma_http_handler handler, void *arg);

/* Stops accepting (the listening socket stays open, the caller's);
 * connections with a request in progress finish it. */
void roma_http_server_stop_accepting(roma_http_server *srv);

/* How many client connections are open. */
int roma_http_server_connections(const roma_http_server *srv);

/* Closes every connection; requests not yet answered are freed unanswered
 * (their handlers must no longer hold them).  NULL is a no-op. */
void roma_http_server_free(roma_http_server *srv);

/* The request. */
const char *roma_http_method(const roma_http_req *req); /* "GET", "POST", ... */
const char *roma_http_target(const roma_http_req *req); /* as sent: "/v1/models/m?x=1" */
/* The value of header name (case-insensitive), or NULL.  With repeats, the first. */
const char *roma_http_header(const roma_http_req *req, const char *name);
/* The body, followed by a NUL not counted in len; "" when none. */
const char *roma_http_body(const roma_http_req *req, size_t *len);
/* The client's socket, e.g. to peek whether it is gone from another thread. */
int roma_http_fd(const roma_http_req *req);

/* Calls cb(req, arg) if the client closes its connection before the
 * answer (the request stays the callee's until it is answered). */
void roma_http_set_close_cb(roma_http_req *req, void (*cb)(roma_http_req *, void *), void *arg);

/* Answers req and frees it.  content_type may be NULL (no header);
 * extra_headers is NULL or complete lines ("Retry-After: 1\r\n").  The
 * body is written from the caller's memory or copied; it may be freed on
 * return.  A HEAD request gets the headers only. */
void roma_http_reply(roma_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len);

/* The path of a request target, percent-decoded ("%2F" is "/"; a '%'
 * not followed by two hex digits stays as it is), without its query or
 * fragment; an absolute target ("http://host/p") gives its path.  A new
 * string (free it). */
char *roma_http_path(const char *target);

/* The value of query parameter name in target ("+" and %XX decoded) into
 * out[cap]: 1 when found, 0 when absent, -1 when it does not fit. */
int roma_http_query(const char *target, const char *name, char *out, size_t cap);

/* A listening TCP socket on host:port (SO_REUSEADDR, close-on-exec,
 * non-blocking); -1 with errno set when it cannot be had. */
int roma_http_listen(const char *host, int port);

/* ---- the client ---- */

typedef struct roma_http_client roma_http_client;

/* A request ended: status is the answer's, or 0 when there is none (cannot
 * connect, the connection broke, the timeout passed).  The answer's
 * headers and body (below) are valid until the next request on cl. */
typedef void (*roma_http_answer_cb)(roma_http_client *cl, int status, void *arg);

/* A connection to host:port (a name or an address), opened at the first
 * request and again after the server closes it.  timeout_ms bounds a
 * request from sending to its whole answer (0: none). */
roma_http_client *roma_http_client_new(struct event_base *base, const char *host, int port,
                                       int timeout_ms);

/* Sends a request; Host and Content-Length are added, headers are NULL
 * or complete lines.  The body is the caller's: it must stay valid until
 * the answer (or the cancel).  cb runs once, later, or at once with 0
 * when the socket fails as the request is written.  Returns 0, or -1 when
 * busy or the connection cannot be opened (cb does not run then). */
int roma_http_client_request(roma_http_client *cl, const char *method, const char *target,
                             const char *headers, const void *body, size_t len,
                             roma_http_answer_cb cb, void *arg);

/* The answer's header (case-insensitive), or NULL; its body (NUL after len). */
const char *roma_http_client_header(const roma_http_client *cl, const char *name);
const char *roma_http_client_body(const roma_http_client *cl, size_t *len);

/* Whether a request is in flight. */
int roma_http_client_busy(const roma_http_client *cl);

/* Drops the request in flight by closing the connection (the server sees
 * its client go); cb does not run. */
void roma_http_client_cancel(roma_http_client *cl);

/* Closes and frees; a request in flight is dropped, cb does not run. */
void roma_http_client_free(roma_http_client *cl);

/* The reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *roma_http_reason(int status);

#endif

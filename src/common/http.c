/* http.c - see http.h.
 *
 * Both sides read the same way: a `reader` owns a socket's read buffer and
 * one `message` (a request on the server's side, an answer on the
 * client's), which http-parser fills through the callbacks below.
 *
 * A server connection is in one of four states:
 *   READING   parsing a request from `in` (request line, headers) and then
 *             its body into `body`;
 *   HANDLING  the request is the handler's; the socket is only watched
 *             for the client closing (a peek, no read);
 *   WRITING   the answer did not fit the socket: the rest waits in `out`
 *             for EPOLLOUT;
 *   LINGERING the answer said "Connection: close" and went; our side is
 *             shut down, the client's bytes are dropped until it closes.
 * While HANDLING or WRITING the connection is never freed: its socket
 * number stays taken, so another thread may peek it (roma_http_fd).  A
 * connection whose client went away meanwhile is freed once answered.
 */
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

#define IN_INITIAL 4096 /* a head in one read; a large body goes to its own block */
#define MAX_HEADERS 100
#define ACCEPT_BATCH 32        /* connections taken a wake-up of the listener */
#define ACCEPT_PAUSE_US 500000 /* out of descriptors: accept again after this */
/* At the fd limit a transient descriptor (a file read, a probe) lets one
 * accept through and the next fail again: warn at most this often. */
#define ACCEPT_WARN_EVERY_S 60
/* After an answer that closes the connection, what the client still sends
 * is read and dropped for up to this long: closing a socket with unread
 * bytes resets the connection, and the reset can destroy the answer
 * before the client reads it (a 413 to a client still sending its body). */
#define LINGER_MS 1000
/* Bounds of an answer read by the client (the worker's, roma's own). */
#define CLIENT_MAX_HEADER (64 * 1024)
#define CLIENT_MAX_BODY ((size_t)1 << 31)

const char *roma_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) abort(); /* as everywhere in ROMA: out of memory is not handled */
    return q;
}

/* Makes room for n more bytes after len in *buf of *cap. */
static void reserve(char **buf, size_t *cap, size_t len, size_t n) {
    if (len + n <= *cap) return;
    size_t want = *cap ? *cap : 256;
    while (want < len + n) want *= 2;
    *buf = xrealloc(*buf, want);
    *cap = want;
}

/* ---- one message, filled by http-parser ------------------------------ */

typedef struct {
    uint32_t name, value; /* offsets into message.head, each NUL-terminated */
} header;

typedef struct {
    http_parser parser;
    size_t max_header_bytes, max_body;
    /* the request line's target (requests) and the headers, NUL-separated */
    char *head;
    size_t head_len, head_cap;
    int url_done;
    header hdrs[MAX_HEADERS];
    int nhdrs, in_value; /* in_value: the last callback was a header value */
    /* the body; with a Content-Length (sized) of body_cap - 1 bytes */
    char *body;
    size_t body_len, body_cap;
    int sized, complete, keep_alive, expect_continue;
    int error; /* an HTTP status the message is refused with (413, 431) */
} message;

static void message_reset(message *m, enum http_parser_type type) {
    http_parser_init(&m->parser, type);
    m->parser.data = m;
    m->head_len = 0;
    m->url_done = 0;
    m->nhdrs = m->in_value = 0;
    free(m->body);
    m->body = NULL;
    m->body_len = m->body_cap = 0;
    m->sized = m->complete = m->keep_alive = m->expect_continue = m->error = 0;
}

static void message_free(message *m) {
    free(m->head);
    free(m->body);
}

static void head_add(message *m, const char *at, size_t n) {
    reserve(&m->head, &m->head_cap, m->head_len, n);
    memcpy(m->head + m->head_len, at, n);
    m->head_len += n;
}

static void head_end_string(message *m) { head_add(m, "", 1); }

/* Too large a head: stop the parser (refused with 431). */
static int head_over(message *m) {
    if (m->head_len <= m->max_header_bytes) return 0;
    m->error = 431;
    return -1;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    message *m = p->data;
    head_add(m, at, n);
    return head_over(m);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    message *m = p->data;
    if (!m->url_done) { /* the target ends where the first header starts */
        head_end_string(m);
        m->url_done = 1;
    }
    if (m->in_value || m->nhdrs == 0) { /* a new header */
        if (m->nhdrs > 0) head_end_string(m); /* ends the previous value */
        if (m->nhdrs == MAX_HEADERS) {
            m->error = 431;
            return -1;
        }
        m->hdrs[m->nhdrs++] = (header){(uint32_t)m->head_len, 0};
        m->in_value = 0;
    }
    head_add(m, at, n);
    return head_over(m);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    message *m = p->data;
    if (!m->in_value) {
        head_end_string(m); /* ends the name */
        m->hdrs[m->nhdrs - 1].value = (uint32_t)m->head_len;
        m->in_value = 1;
    }
    head_add(m, at, n);
    return head_over(m);
}

static const char *message_header(const message *m, const char *name) {
    for (int i = 0; i < m->nhdrs; i++)
        if (strcasecmp(m->head + m->hdrs[i].name, name) == 0) return m->head + m->hdrs[i].value;
    return NULL;
}

static int on_headers_complete(http_parser *p) {
    message *m = p->data;
    if (!m->url_done || m->in_value) head_end_string(m);
    m->url_done = 1;
    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t length = p->content_length;
    int has_length = !chunked && length != ULLONG_MAX && length > 0;
    if (has_length && length > m->max_body) {
        m->error = 413;
        return -1;
    }
    if (has_length) {
        m->sized = 1;
        m->body_cap = (size_t)length + 1;
        m->body = xrealloc(m->body, m->body_cap);
    }
    /* curl sends it before bodies over 1 KB and waits up to a second */
    const char *expect = message_header(m, "Expect");
    m->expect_continue = (has_length || chunked) && expect && strcasecmp(expect, "100-continue") == 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    message *m = p->data;
    if (m->sized && at == m->body + m->body_len) { /* read there directly (reader_read) */
        m->body_len += n;
        return 0;
    }
    if (m->body_len + n > m->max_body) { /* only bodies without a length get here */
        m->error = 413;
        return -1;
    }
    reserve(&m->body, &m->body_cap, m->body_len, n + 1);
    memcpy(m->body + m->body_len, at, n);
    m->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p) {
    message *m = p->data;
    /* trailers after a chunked body come after on_headers_complete: the
     * last one's value is still open */
    if (m->head_len > 0 && m->head[m->head_len - 1] != '\0') head_end_string(m);
    if (!m->body) m->body = xrealloc(NULL, m->body_cap = 1);
    m->body[m->body_len] = '\0'; /* room kept: body_cap > body_len always */
    m->complete = 1;
    m->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* a pipelined message waits for this one's answer */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading a socket into a message --------------------------------- */

typedef struct {
    int fd;
    /* bytes read and not yet parsed: in[in_off, in_len) */
    char *in;
    size_t in_off, in_len, in_cap;
    message m;
} reader;

enum { R_MORE, R_DONE, R_BAD, R_EOF };

/* Feeds n bytes at data (inside `in` when from_in) to the parser. */
static int reader_feed(reader *r, const char *data, size_t n, int from_in) {
    message *m = &r->m;
    size_t used = http_parser_execute(&m->parser, &settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&m->parser);
    if (from_in) r->in_off += used;
    if (m->error || (e != HPE_OK && e != HPE_PAUSED)) return R_BAD;
    if (m->parser.upgrade && m->parser.type == HTTP_REQUEST) { /* CONNECT, Upgrade: HTTP/1.1 only */
        m->error = 501;
        return R_BAD;
    }
    return m->complete ? R_DONE : R_MORE;
}

/* The socket closed (or failed): an answer without a length ends here. */
static int reader_eof(reader *r) {
    if (r->m.parser.type == HTTP_RESPONSE && r->m.url_done) {
        http_parser_execute(&r->m.parser, &settings, NULL, 0);
        if (r->m.complete) return R_DONE;
    }
    return R_EOF;
}

/* Reads what has come and parses it.  R_MORE: wait for more; R_DONE: the
 * message is complete (a pipelined one's bytes stay in `in`); R_BAD:
 * refused (m.error or the parser's error); R_EOF: closed or failed.
 *
 * Bytes parsed are not kept: the parser takes every byte it is given until
 * a message ends, so `in` holds unparsed bytes only after a complete one
 * (pipelined), and one block of IN_INITIAL is enough.  A body of known
 * length is read straight into its block. */
static int reader_read(reader *r) {
    message *m = &r->m;
    if (r->in_off < r->in_len) return reader_feed(r, r->in + r->in_off, r->in_len - r->in_off, 1);
    if (m->sized && m->url_done && !m->complete) {
        for (;;) {
            size_t want = m->body_cap - 1 - m->body_len;
            ssize_t got = recv(r->fd, m->body + m->body_len, want, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return R_MORE;
            if (got <= 0) return reader_eof(r);
            int rc = reader_feed(r, m->body + m->body_len, (size_t)got, 0);
            if (rc != R_MORE || (size_t)got < want) return rc; /* the kernel had no more */
        }
    }
    r->in_off = r->in_len = 0;
    if (!r->in) r->in = xrealloc(NULL, r->in_cap = IN_INITIAL);
    ssize_t got;
    do got = recv(r->fd, r->in, r->in_cap, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return R_MORE;
    if (got <= 0) return reader_eof(r);
    r->in_len = (size_t)got;
    return reader_feed(r, r->in, r->in_len, 1);
}

/* Moves unparsed bytes to the front of `in` for the next message. */
static void reader_next(reader *r, enum http_parser_type type) {
    if (r->in_off > 0 && r->in_off < r->in_len)
        memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
    r->in_len -= r->in_off;
    r->in_off = 0;
    message_reset(&r->m, type);
}

/* ---- writing --------------------------------------------------------- */

/* Sends v[0..n) at once; what the socket does not take is copied to
 * *out (malloc'ed).  Returns 1 when all went, 0 when *out waits, -1 on an
 * error. */
static int send_or_keep(int fd, struct iovec *v, int n, char **out, size_t *out_len) {
    struct msghdr msg = {.msg_iov = v, .msg_iovlen = (size_t)n};
    size_t total = 0;
    for (int i = 0; i < n; i++) total += v[i].iov_len;
    ssize_t w;
    do w = sendmsg(fd, &msg, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    size_t sent = w > 0 ? (size_t)w : 0;
    if (sent == total) return 1;
    *out = xrealloc(NULL, total - sent);
    *out_len = 0;
    for (int i = 0; i < n; i++) {
        size_t skip = sent < v[i].iov_len ? sent : v[i].iov_len;
        sent -= skip;
        memcpy(*out + *out_len, (char *)v[i].iov_base + skip, v[i].iov_len - skip);
        *out_len += v[i].iov_len - skip;
    }
    return 0;
}

/* Writes what waits in out from *off.  1: all went; 0: wait; -1: error. */
static int flush_kept(int fd, const char *out, size_t len, size_t *off) {
    while (*off < len) {
        ssize_t n = send(fd, out + *off, len - *off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n < 0) return -1;
        *off += (size_t)n;
    }
    return 1;
}

static struct timeval ms_tv(int ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

/* ---- the server's connections ---------------------------------------- */

enum { READING, HANDLING, WRITING, LINGERING };

typedef struct conn conn;

struct roma_http_req {
    conn *c;
    void (*close_cb)(roma_http_req *, void *);
    void *close_arg;
};

struct conn {
    roma_http_server *srv;
    reader rd;
    int state, gone;
    struct event *rev, *wev, *timer;
    char *out; /* the answer's unwritten rest */
    size_t out_off, out_len;
    roma_http_req req;
    conn *prev, *next;
};

struct roma_http_server {
    struct event_base *base;
    int listen_fd;
    struct event *accept_ev, *resume_ev;
    roma_http_limits limits;
    roma_http_handler handler;
    void *arg;
    conn *conns;
    int nconns;
    int accepting, paused, at_cap;
    time_t warned;            /* the last "cannot accept" warning (0: none) */
    unsigned long unwarned;   /* accept failures since, not logged */
};

static void accept_resume(roma_http_server *s);

static void conn_free(conn *c) {
    roma_http_server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->timer);
    close(c->rd.fd);
    free(c->rd.in);
    message_free(&c->rd.m);
    free(c->out);
    free(c);
    if (s->nconns-- == s->limits.max_connections && s->at_cap) accept_resume(s);
}

static void arm_timer(conn *c, int ms) {
    if (ms <= 0) return;
    struct timeval tv = ms_tv(ms);
    event_add(c->timer, &tv);
}

/* Ready for the next request. */
static void start_request(conn *c) {
    reader_next(&c->rd, HTTP_REQUEST);
    c->rd.m.max_header_bytes = c->srv->limits.max_header_bytes;
    c->rd.m.max_body = c->srv->limits.max_body;
    c->state = READING;
    c->req = (roma_http_req){.c = c};
    arm_timer(c, c->srv->limits.timeout_ms);
}

/* Answers a request the parser or a limit refused; the connection closes. */
static void refuse(conn *c) {
    message *m = &c->rd.m;
    enum http_errno e = HTTP_PARSER_ERRNO(&m->parser);
    int status = m->error ? m->error : e == HPE_HEADER_OVERFLOW ? 431 : 400;
    const roma_http_limits *lim = &c->srv->limits;
    const char *key = lim->body_key ? lim->body_key : "its limit";
    uint64_t length = m->parser.content_length;
    char why[200];
    switch (status) {
    case 413:
        if (!(m->parser.flags & F_CHUNKED) && length != ULLONG_MAX)
            snprintf(why, sizeof(why), "the request body is %llu bytes, more than the %zu this "
                     "server accepts (%s)", (unsigned long long)length, lim->max_body, key);
        else
            snprintf(why, sizeof(why), "the request body passes the %zu bytes this server accepts "
                     "(%s)", lim->max_body, key);
        break;
    case 431:
        snprintf(why, sizeof(why), "the request line and headers pass %zu bytes, the most this "
                 "server accepts: send fewer or shorter headers", lim->max_header_bytes);
        break;
    case 501: snprintf(why, sizeof(why), "CONNECT and protocol upgrades are not supported"); break;
    default:
        snprintf(why, sizeof(why), "%s",
                 e != HPE_OK ? http_errno_description(e) : "malformed HTTP request");
    }
    char body[320];
    int n = snprintf(body, sizeof(body), "{\"error\": \"%s: %s\"}", roma_http_reason(status), why);
    m->keep_alive = 0;
    m->parser.method = HTTP_GET; /* not HEAD: the body is sent */
    c->state = HANDLING;
    roma_http_reply(&c->req, status, "application/json", NULL, body, (size_t)n);
}

/* Drops what the client still sends; frees c at its end of file. */
static void drain(conn *c) {
    char sink[16384];
    for (;;) {
        ssize_t n = recv(c->rd.fd, sink, sizeof(sink), 0);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_free(c);
        return;
    }
}

/* The client closed (or reset) while its request is handled or answered:
 * tell the handler; the connection goes once the request is answered. */
static void client_left(conn *c) {
    c->gone = 1;
    event_del(c->rev);
    if (c->state == HANDLING && c->req.close_cb) c->req.close_cb(&c->req, c->req.close_arg);
}

static void send_continue(conn *c) {
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n;
    do n = send(c->rd.fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    c->rd.m.expect_continue = 0; /* a failed send shows as the client's error or timeout */
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)fd, (void)what;
    if (c->state == LINGERING) return drain(c);
    if (c->state != READING) { /* only an end of file matters now */
        char byte;
        ssize_t n = recv(c->rd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) client_left(c);
        else if (n > 0) event_del(c->rev); /* pipelined: read after this answer */
        return;
    }
    switch (reader_read(&c->rd)) {
    case R_MORE:
        if (c->rd.m.expect_continue) send_continue(c);
        return;
    case R_BAD: return refuse(c);
    case R_EOF: return conn_free(c); /* gone between requests or in the middle of one */
    case R_DONE:
        c->state = HANDLING;
        event_del(c->timer);
        c->srv->handler(&c->req, c->srv->arg);
        return;
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)fd, (void)what;
    if (c->state == HANDLING) return; /* the handler's business */
    conn_free(c);                     /* idle, too slow to send, or not reading its answer */
}

/* After the whole answer is written. */
static void answered(conn *c) {
    /* a client that shut down its sending side after pipelining still
     * gets the answers to what it sent */
    if (c->gone && c->rd.in_off == c->rd.in_len) return conn_free(c);
    if (!c->rd.m.keep_alive) {
        c->state = LINGERING;
        shutdown(c->rd.fd, SHUT_WR);
        arm_timer(c, LINGER_MS);
        event_add(c->rev, NULL);
        return;
    }
    start_request(c);
    if (!c->gone) event_add(c->rev, NULL); /* a no-op unless a pipelined request paused it */
    if (c->rd.in_len > 0) event_active(c->rev, EV_READ, 0); /* parse what already came */
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    size_t before = c->out_off;
    (void)fd, (void)what;
    int r = flush_kept(c->rd.fd, c->out, c->out_len, &c->out_off);
    if (r == 0) {
        if (c->out_off > before) arm_timer(c, c->srv->limits.timeout_ms); /* it reads: not stuck */
        return;
    }
    event_del(c->wev);
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = 0;
    if (r < 0) conn_free(c);
    else answered(c);
}

static conn *conn_new(roma_http_server *s, int fd) {
    conn *c = calloc(1, sizeof(*c));
    if (!c) abort();
    c->srv = s;
    c->rd.fd = fd;
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->timer = evtimer_new(s->base, on_timeout, c);
    if (!c->rev || !c->wev || !c->timer) abort();
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    start_request(c);
    event_add(c->rev, NULL);
    return c;
}

void roma_http_reply(roma_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len) {
    conn *c = req->c;
    message *m = &c->rd.m;
    /* an HTTP/1.0 client keeps the connection only when told so */
    const char *connection = !m->keep_alive ? "Connection: close\r\n"
                             : m->parser.http_minor == 0 ? "Connection: keep-alive\r\n" : "";
    char line[512];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s",
                     status, roma_http_reason(status), content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "", len,
                     connection);
    if (n < 0 || (size_t)n >= sizeof(line)) abort(); /* content types are ROMA's own, short */
    struct iovec v[4] = {{line, (size_t)n},
                         {(void *)(extra_headers ? extra_headers : ""),
                          extra_headers ? strlen(extra_headers) : 0},
                         {"\r\n", 2},
                         {(void *)body, m->parser.method == HTTP_HEAD ? 0 : len}};
    c->state = WRITING;
    /* written also when the client closed: it may only have shut down its sending side */
    int r = send_or_keep(c->rd.fd, v, 4, &c->out, &c->out_len);
    if (r < 0) return conn_free(c);
    if (r == 1) return answered(c);
    c->out_off = 0;
    arm_timer(c, c->srv->limits.timeout_ms); /* a client that does not read its answer is dropped */
    event_add(c->wev, NULL);
}

const char *roma_http_method(const roma_http_req *req) {
    return http_method_str((enum http_method)req->c->rd.m.parser.method);
}

const char *roma_http_target(const roma_http_req *req) { return req->c->rd.m.head; }

const char *roma_http_header(const roma_http_req *req, const char *name) {
    return message_header(&req->c->rd.m, name);
}

const char *roma_http_body(const roma_http_req *req, size_t *len) {
    *len = req->c->rd.m.body_len;
    return req->c->rd.m.body;
}

int roma_http_fd(const roma_http_req *req) { return req->c->rd.fd; }

void roma_http_set_close_cb(roma_http_req *req, void (*cb)(roma_http_req *, void *), void *arg) {
    req->close_cb = cb;
    req->close_arg = arg;
}

/* ---- the listener ---------------------------------------------------- */

static void accept_resume(roma_http_server *s) {
    if (s->at_cap) {
        roma_info("accepting connections again (%d open)", s->nconns);
        s->at_cap = 0;
    }
    if (s->accepting && !s->paused) event_add(s->accept_ev, NULL);
}

/* accept() failed for want of descriptors or memory: retrying at once
 * would spin, so accepting pauses. */
static void accept_pause(roma_http_server *s) {
    time_t now = time(NULL);
    if (s->warned == 0 || now - s->warned >= ACCEPT_WARN_EVERY_S) {
        roma_warn("cannot accept connections: %s (%d client connections open, %lu more failures "
                  "since the last warning): pausing accepting for %d ms at a time until one is "
                  "accepted; raise the open-files limit (ulimit -n)%s%s", strerror(errno),
                  s->nconns, s->unwarned, ACCEPT_PAUSE_US / 1000,
                  s->limits.connections_key ? " or lower " : "",
                  s->limits.connections_key ? s->limits.connections_key : "");
        s->warned = now;
        s->unwarned = 0;
    } else {
        s->unwarned++;
    }
    s->paused = 1;
    event_del(s->accept_ev);
    struct timeval tv = {0, ACCEPT_PAUSE_US};
    event_add(s->resume_ev, &tv);
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
    roma_http_server *s = arg;
    (void)fd, (void)what;
    s->paused = 0;
    if (s->limits.max_connections <= 0 || s->nconns < s->limits.max_connections) accept_resume(s);
}

static void on_accept(evutil_socket_t fd, short what, void *arg) {
    roma_http_server *s = arg;
    (void)what;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (s->limits.max_connections > 0 && s->nconns >= s->limits.max_connections) {
            event_del(s->accept_ev); /* the kernel's backlog holds the rest */
            roma_warn("%d client connections open (%s): not accepting more until one closes",
                      s->nconns, s->limits.connections_key ? s->limits.connections_key : "the limit");
            s->at_cap = 1;
            return;
        }
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            conn_new(s, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_pause(s);
        return; /* EAGAIN: all taken */
    }
}

roma_http_server *roma_http_server_new(struct event_base *base, int listen_fd,
                                       const roma_http_limits *limits,
                                       roma_http_handler handler, void *arg) {
    roma_http_server *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->base = base;
    s->listen_fd = listen_fd;
    s->limits = *limits;
    s->handler = handler;
    s->arg = arg;
    evutil_make_socket_nonblocking(listen_fd);
    s->accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, s);
    s->resume_ev = evtimer_new(base, on_resume, s);
    if (!s->accept_ev || !s->resume_ev) {
        roma_http_server_free(s);
        return NULL;
    }
    s->accepting = 1;
    event_add(s->accept_ev, NULL);
    return s;
}

void roma_http_server_stop_accepting(roma_http_server *s) {
    s->accepting = 0;
    event_del(s->accept_ev);
    event_del(s->resume_ev);
}

int roma_http_server_connections(const roma_http_server *s) { return s->nconns; }

void roma_http_server_free(roma_http_server *s) {
    if (!s) return;
    s->accepting = 0;
    while (s->conns) conn_free(s->conns);
    if (s->accept_ev) event_free(s->accept_ev);
    if (s->resume_ev) event_free(s->resume_ev);
    free(s);
}

/* ---- the client ------------------------------------------------------ */

enum { C_IDLE, C_CONNECTING, C_SENDING, C_AWAITING };

struct roma_http_client {
    struct event_base *base;
    char *host;
    int port, timeout_ms;
    char host_header[300];
    reader rd; /* rd.fd -1: not connected */
    int state;
    struct event *rev, *wev, *timer;
    /* the request being sent: head (ours) and body (the caller's) */
    char *head;
    size_t head_len, head_cap;
    const char *body;
    size_t body_len;
    char *out; /* what the socket did not take at once */
    size_t out_off, out_len;
    roma_http_answer_cb cb;
    void *arg;
};

static void client_close(roma_http_client *cl) {
    if (cl->rd.fd < 0) return;
    event_del(cl->rev);
    event_del(cl->wev);
    close(cl->rd.fd);
    cl->rd.fd = -1;
    cl->rd.in_off = cl->rd.in_len = 0;
    free(cl->out);
    cl->out = NULL;
    cl->out_off = cl->out_len = 0;
}

/* The request ends: the callback gets status (0: no answer). */
static void client_done(roma_http_client *cl, int status) {
    roma_http_answer_cb cb = cl->cb;
    void *arg = cl->arg;
    event_del(cl->timer);
    cl->state = C_IDLE;
    cl->cb = NULL;
    if (status == 0 || !cl->rd.m.keep_alive || cl->rd.in_off < cl->rd.in_len)
        client_close(cl); /* bytes after an answer: not a server to keep */
    if (cb) cb(cl, status, arg);
}

/* Sends the head and body; the rest waits for EPOLLOUT. */
static void client_send(roma_http_client *cl) {
    struct iovec v[2] = {{cl->head, cl->head_len}, {(void *)cl->body, cl->body_len}};
    int r = send_or_keep(cl->rd.fd, v, 2, &cl->out, &cl->out_len);
    if (r < 0) return client_done(cl, 0);
    cl->state = C_AWAITING;
    if (r == 0) {
        cl->state = C_SENDING;
        cl->out_off = 0;
        event_add(cl->wev, NULL);
    }
}

static void client_on_readable(evutil_socket_t fd, short what, void *arg) {
    roma_http_client *cl = arg;
    (void)fd, (void)what;
    if (cl->state == C_IDLE) { /* the server closed a kept connection (or sent junk) */
        client_close(cl);
        return;
    }
    switch (reader_read(&cl->rd)) {
    case R_MORE: return;
    case R_DONE: return client_done(cl, cl->rd.m.parser.status_code);
    default: return client_done(cl, 0);
    }
}

static void client_on_writable(evutil_socket_t fd, short what, void *arg) {
    roma_http_client *cl = arg;
    (void)fd, (void)what;
    if (cl->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        event_del(cl->wev);
        if (getsockopt(cl->rd.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            return client_done(cl, 0);
        return client_send(cl);
    }
    int r = flush_kept(cl->rd.fd, cl->out, cl->out_len, &cl->out_off);
    if (r == 0) return;
    event_del(cl->wev);
    free(cl->out);
    cl->out = NULL;
    cl->out_off = cl->out_len = 0;
    if (r < 0) return client_done(cl, 0);
    cl->state = C_AWAITING;
}

static void client_on_timeout(evutil_socket_t fd, short what, void *arg) {
    roma_http_client *cl = arg;
    (void)fd, (void)what;
    if (cl->state != C_IDLE) client_done(cl, 0);
}

/* Opens a non-blocking connection to host:port.  0, or -1 (errno). */
static int client_connect(roma_http_client *cl) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV}, *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", cl->port);
    if (getaddrinfo(cl->host, service, &hints, &res) != 0 || !res) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) {
        freeaddrinfo(res);
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)); /* whole messages only */
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    cl->rd.fd = fd;
    event_assign(cl->rev, cl->base, fd, EV_READ | EV_PERSIST, client_on_readable, cl);
    event_assign(cl->wev, cl->base, fd, EV_WRITE | EV_PERSIST, client_on_writable, cl);
    event_add(cl->rev, NULL);
    cl->state = rc == 0 ? C_AWAITING : C_CONNECTING;
    return 0;
}

roma_http_client *roma_http_client_new(struct event_base *base, const char *host, int port,
                                       int timeout_ms) {
    roma_http_client *cl = calloc(1, sizeof(*cl));
    if (!cl) abort();
    cl->base = base;
    cl->host = strdup(host);
    cl->port = port;
    cl->timeout_ms = timeout_ms;
    cl->rd.fd = -1;
    snprintf(cl->host_header, sizeof(cl->host_header), "%s:%d", host, port);
    cl->rev = event_new(base, -1, 0, client_on_readable, cl);
    cl->wev = event_new(base, -1, 0, client_on_writable, cl);
    cl->timer = evtimer_new(base, client_on_timeout, cl);
    if (!cl->host || !cl->rev || !cl->wev || !cl->timer) abort();
    message_reset(&cl->rd.m, HTTP_RESPONSE);
    return cl;
}

int roma_http_client_request(roma_http_client *cl, const char *method, const char *target,
                             const char *headers, const void *body, size_t len,
                             roma_http_answer_cb cb, void *arg) {
    if (cl->state != C_IDLE) return -1;
    reader_next(&cl->rd, HTTP_RESPONSE);
    cl->rd.m.max_header_bytes = CLIENT_MAX_HEADER;
    cl->rd.m.max_body = CLIENT_MAX_BODY;
    cl->head_len = 0;
    size_t need = strlen(method) + strlen(target) + strlen(cl->host_header) +
                  (headers ? strlen(headers) : 0) + 96;
    reserve(&cl->head, &cl->head_cap, 0, need);
    int n = snprintf(cl->head, cl->head_cap, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n%s\r\n",
                     method, target, cl->host_header, len, headers ? headers : "");
    if (n < 0 || (size_t)n >= cl->head_cap) abort(); /* sized above */
    cl->head_len = (size_t)n;
    cl->body = body;
    cl->body_len = len;
    cl->cb = cb;
    cl->arg = arg;
    if (cl->timeout_ms > 0) {
        struct timeval tv = ms_tv(cl->timeout_ms);
        event_add(cl->timer, &tv);
    }
    if (cl->rd.fd < 0) {
        if (client_connect(cl) != 0) {
            event_del(cl->timer);
            cl->cb = NULL;
            cl->state = C_IDLE;
            return -1;
        }
        if (cl->state == C_CONNECTING) {
            event_add(cl->wev, NULL);
            return 0;
        }
    }
    cl->state = C_AWAITING;
    client_send(cl); /* may call cb(cl, 0) at once when the socket fails */
    return 0;
}

const char *roma_http_client_header(const roma_http_client *cl, const char *name) {
    return message_header(&cl->rd.m, name);
}

const char *roma_http_client_body(const roma_http_client *cl, size_t *len) {
    *len = cl->rd.m.body_len;
    return cl->rd.m.body ? cl->rd.m.body : "";
}

int roma_http_client_busy(const roma_http_client *cl) { return cl->state != C_IDLE; }

void roma_http_client_cancel(roma_http_client *cl) {
    if (cl->state == C_IDLE) return;
    event_del(cl->timer);
    cl->state = C_IDLE;
    cl->cb = NULL;
    client_close(cl); /* the server sees the close; the answer, if any, is not wanted */
}

void roma_http_client_free(roma_http_client *cl) {
    if (!cl) return;
    client_close(cl);
    event_free(cl->rev);
    event_free(cl->wev);
    event_free(cl->timer);
    free(cl->rd.in);
    message_free(&cl->rd.m);
    free(cl->head);
    free(cl->host);
    free(cl);
}

/* ---- targets and sockets --------------------------------------------- */

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into dst (room for n + 1); returns its length. */
static size_t decode(char *dst, const char *src, size_t n, int plus_is_space) {
    char *o = dst;
    for (size_t i = 0; i < n; i++) {
        int hi = src[i] == '%' && i + 2 < n ? hex_digit(src[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(src[i + 2]) : -1;
        if (lo >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = plus_is_space && src[i] == '+' ? ' ' : src[i];
        }
    }
    *o = '\0';
    return (size_t)(o - dst);
}

char *roma_http_path(const char *target) {
    const char *p = target;
    const char *scheme = strstr(p, "://");
    if (scheme && scheme < p + strcspn(p, "/?#")) { /* absolute form: skip to the path */
        p = scheme + 3;
        p += strcspn(p, "/?#");
    }
    size_t n = strcspn(p, "?#");
    char *out = xrealloc(NULL, n + 2);
    if (n == 0 || p[0] != '/') {
        out[0] = '/';
        decode(out + 1, p, n, 0);
    } else {
        decode(out, p, n, 0);
    }
    return out;
}

int roma_http_query(const char *target, const char *name, char *out, size_t cap) {
    const char *q = strchr(target, '?');
    size_t name_len = strlen(name);
    if (!q || cap == 0) return 0;
    for (const char *p = q + 1; *p && *p != '#';) {
        size_t n = strcspn(p, "&#");
        const char *eq = memchr(p, '=', n);
        size_t key_len = eq ? (size_t)(eq - p) : n;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq ? eq + 1 : p + n;
            size_t vlen = (size_t)(p + n - v);
            char *tmp = xrealloc(NULL, vlen + 1);
            size_t len = decode(tmp, v, vlen, 1);
            int fits = len < cap;
            if (fits) memcpy(out, tmp, len + 1);
            free(tmp);
            return fits ? 1 : -1;
        }
        p += n;
        if (*p == '&') p++;
    }
    return 0;
}

int roma_http_listen(const char *host, int port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = -1, err = EADDRNOTAVAIL, on = 1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
            bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) errno = err;
    return fd;
}

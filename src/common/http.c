/* http.c - see http.h.
 *
 * A connection is in one of three states:
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

#define IN_INITIAL (16 * 1024) /* a request's head and small body in one read */
#define MAX_HEADERS 100
#define ACCEPT_BATCH 32        /* connections taken a wake-up of the listener */
#define ACCEPT_PAUSE_US 500000 /* out of descriptors: accept again after this */

enum { READING, HANDLING, WRITING, LINGERING };

/* After an answer that closes the connection, what the client still sends
 * is read and dropped for up to this long: closing a socket with unread
 * bytes resets the connection, and the reset can destroy the answer
 * before the client reads it (a 413 to a client still sending its body). */
#define LINGER_MS 1000

typedef struct {
    uint32_t name, value; /* offsets into conn.head, each NUL-terminated */
} header;

typedef struct conn conn;

struct roma_http_req {
    conn *c;
    void (*close_cb)(roma_http_req *, void *);
    void *close_arg;
};

struct conn {
    roma_http_server *srv;
    int fd;
    int state;
    struct event *rev, *wev, *timer;
    http_parser parser;
    /* bytes read and not yet parsed: in[in_off, in_len) */
    char *in;
    size_t in_off, in_len, in_cap;
    /* the request line and headers, NUL-separated; offsets in hdrs */
    char *head;
    size_t head_len, head_cap;
    uint32_t url;
    int url_done;
    header hdrs[MAX_HEADERS];
    int nhdrs, in_value; /* in_value: the last callback was a header value */
    /* the body; with a Content-Length (sized) of body_cap - 1 bytes */
    char *body;
    size_t body_len, body_cap;
    int sized;
    int complete, keep_alive, gone, error;
    /* the answer's unwritten rest */
    char *out;
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
    int accepting, paused_logged;
};

const char *roma_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
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

/* ---- memory ---------------------------------------------------------- */

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) abort(); /* as everywhere in ROMA: out of memory is not handled */
    return q;
}

/* Makes room for n more bytes after *len in *buf of *cap. */
static void reserve(char **buf, size_t *cap, size_t len, size_t n) {
    if (len + n <= *cap) return;
    size_t want = *cap ? *cap : 256;
    while (want < len + n) want *= 2;
    *buf = xrealloc(*buf, want);
    *cap = want;
}

/* ---- the parser's callbacks ------------------------------------------ */

static void head_add(conn *c, const char *at, size_t n) {
    reserve(&c->head, &c->head_cap, c->head_len, n);
    memcpy(c->head + c->head_len, at, n);
    c->head_len += n;
}

static void head_end_string(conn *c) { head_add(c, "", 1); }

/* Too large a head: stop the parser (answered 431). */
static int head_over(conn *c) {
    if (c->head_len <= c->srv->limits.max_header_bytes) return 0;
    c->error = 431;
    return -1;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    head_add(c, at, n);
    return head_over(c);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    if (!c->url_done) {
        head_end_string(c);
        c->url_done = 1;
    }
    if (c->in_value || c->nhdrs == 0) { /* a new header */
        if (c->nhdrs > 0) head_end_string(c); /* ends the previous value */
        if (c->nhdrs == MAX_HEADERS) {
            c->error = 431;
            return -1;
        }
        c->hdrs[c->nhdrs++] = (header){(uint32_t)c->head_len, 0};
        c->in_value = 0;
    }
    head_add(c, at, n);
    return head_over(c);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    if (!c->in_value) {
        head_end_string(c); /* ends the name */
        c->hdrs[c->nhdrs - 1].value = (uint32_t)c->head_len;
        c->in_value = 1;
    }
    head_add(c, at, n);
    return head_over(c);
}

static const char *conn_header(const conn *c, const char *name) {
    for (int i = 0; i < c->nhdrs; i++)
        if (strcasecmp(c->head + c->hdrs[i].name, name) == 0) return c->head + c->hdrs[i].value;
    return NULL;
}

/* "Expect: 100-continue" (curl sends it before bodies over 1 KB): the
 * client waits for this, or a second, before it sends the body. */
static void send_continue(conn *c) {
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n;
    do n = send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    /* a short or failed write shows as the client's error or timeout */
}

static int on_headers_complete(http_parser *p) {
    conn *c = p->data;
    if (!c->url_done) head_end_string(c);
    else if (c->in_value) head_end_string(c);
    c->url_done = 1;
    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t length = p->content_length;
    int has_length = !chunked && length != ULLONG_MAX && length > 0;
    if (has_length && length > c->srv->limits.max_body) {
        c->error = 413;
        return -1;
    }
    if (has_length) {
        c->sized = 1;
        c->body_cap = (size_t)length + 1;
        c->body = xrealloc(c->body, c->body_cap);
    }
    const char *expect = conn_header(c, "Expect");
    if ((has_length || chunked) && expect && strcasecmp(expect, "100-continue") == 0)
        send_continue(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    if (at == c->body + c->body_len) { /* read there directly (read_body) */
        c->body_len += n;
        return 0;
    }
    if (c->body_len + n > c->srv->limits.max_body) { /* only chunked bodies get here */
        c->error = 413;
        return -1;
    }
    size_t cap = c->body_cap;
    reserve(&c->body, &cap, c->body_len, n + 1);
    c->body_cap = cap;
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p) {
    conn *c = p->data;
    c->complete = 1;
    c->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* the next pipelined request waits for this answer */
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

/* ---- connections ----------------------------------------------------- */

static void conn_free(conn *c) {
    roma_http_server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->timer);
    close(c->fd);
    free(c->in);
    free(c->head);
    free(c->body);
    free(c->out);
    free(c);
}

static void arm_timer(conn *c) {
    int ms = c->srv->limits.timeout_ms;
    if (ms <= 0) return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* Ready for the next request: the parser and the request's memory reset,
 * unparsed pipelined bytes moved to the front of `in`. */
static void start_request(conn *c) {
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = READING;
    c->head_len = 0;
    c->url = 0;
    c->url_done = 0;
    c->nhdrs = 0;
    c->in_value = 0;
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    c->sized = 0;
    c->complete = c->error = 0;
    c->req = (roma_http_req){.c = c};
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    arm_timer(c);
}

/* Answers a request the parser or a limit refused, then closes. */
static void refuse(conn *c, int status) {
    char body[256];
    const char *why;
    switch (status) {
    case 413: why = "the request body is larger than this server accepts"; break;
    case 431: why = "the request line and headers are larger than this server accepts"; break;
    case 501: why = "CONNECT and protocol upgrades are not supported"; break;
    default:
        why = c->parser.http_errno != HPE_OK ? http_errno_description(HTTP_PARSER_ERRNO(&c->parser))
                                             : "malformed HTTP request";
    }
    int n = snprintf(body, sizeof(body), "{\"error\": \"%s: %s\"}", roma_http_reason(status), why);
    c->keep_alive = 0;
    c->state = HANDLING; /* roma_http_reply expects a request being handled */
    roma_http_reply(&c->req, status, "application/json", NULL, body, (size_t)n);
}

/* Feeds data to the parser; then hands a complete request to the handler,
 * refuses a bad one, or waits for more.  Returns 1 when it waits for more,
 * 0 when c is no longer the caller's to touch (handled, answered, freed). */
static int parse(conn *c, const char *data, size_t n) {
    size_t used = http_parser_execute(&c->parser, &settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (data == c->in + c->in_off) c->in_off += used;
    if (c->error || (e != HPE_OK && e != HPE_PAUSED)) {
        refuse(c, c->error ? c->error : (e == HPE_HEADER_OVERFLOW ? 431 : 400));
        return 0;
    }
    if (c->parser.upgrade) { /* CONNECT, or an Upgrade: ROMA speaks HTTP/1.1 only */
        refuse(c, 501);
        return 0;
    }
    if (!c->complete) return 1;
    if (c->body == NULL) c->body = xrealloc(NULL, 1);
    c->body[c->body_len] = '\0';
    c->state = HANDLING;
    event_del(c->timer);
    c->srv->handler(&c->req, c->srv->arg);
    return 0;
}

/* What read_body and read_head return besides recv's 0 and -1. */
#define MORE 1   /* c waits for more bytes */
#define TAKEN 2  /* c is no longer the caller's (see parse) */

/* In a body of known length: read it in place, as much as has come. */
static int read_body(conn *c) {
    for (;;) {
        size_t want = c->body_cap - 1 - c->body_len;
        ssize_t got = recv(c->fd, c->body + c->body_len, want, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return (int)got;
        if (!parse(c, c->body + c->body_len, (size_t)got)) return TAKEN;
        if ((size_t)got < want) return MORE; /* the kernel had no more */
    }
}

/* Reads into `in` and parses.  The parser takes every byte it is given
 * while READING (it stops only at the end of a request), so `in` holds
 * unparsed bytes only after an answer (pipelined requests): one block of
 * IN_INITIAL is enough. */
static int read_head(conn *c) {
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (!c->in) {
        c->in = xrealloc(NULL, IN_INITIAL);
        c->in_cap = IN_INITIAL;
    }
    ssize_t got;
    do got = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return (int)got;
    c->in_len += (size_t)got;
    return parse(c, c->in + c->in_off, c->in_len - c->in_off) ? MORE : TAKEN;
}

/* Whether the parser is in a body of known length, all of `in` parsed. */
static int in_known_body(const conn *c) {
    return c->sized && !c->complete && c->in_off == c->in_len;
}

/* The client closed (or reset) while its request is handled: tell the
 * handler; the connection goes once the request is answered. */
static void client_left(conn *c) {
    c->gone = 1;
    event_del(c->rev);
    if (c->state == HANDLING && c->req.close_cb) c->req.close_cb(&c->req, c->req.close_arg);
}

/* Drops what the client still sends; frees c at its end of file. */
static void drain(conn *c) {
    char sink[16384];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_free(c);
        return;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)fd, (void)what;
    if (c->state == LINGERING) return drain(c);
    if (c->state != READING) { /* only an end of file matters now */
        char byte;
        ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) client_left(c);
        else if (n > 0) event_del(c->rev); /* pipelined: read after this answer */
        return;
    }
    if (c->in_off < c->in_len) { /* pipelined bytes read before the last answer */
        (void)parse(c, c->in + c->in_off, c->in_len - c->in_off);
        return;
    }
    int r = in_known_body(c) ? read_body(c) : read_head(c);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        conn_free(c); /* gone between requests or in the middle of one */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)fd, (void)what;
    if (c->state == HANDLING) return; /* the handler's business */
    conn_free(c);                     /* idle, too slow to send, or not reading its answer */
}

/* After the whole answer is written. */
static void answered(conn *c) {
    if (c->gone) {
        conn_free(c);
        return;
    }
    if (!c->keep_alive) {
        c->state = LINGERING;
        shutdown(c->fd, SHUT_WR);
        struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
        event_add(c->timer, &tv);
        event_add(c->rev, NULL);
        return;
    }
    start_request(c);
    event_add(c->rev, NULL); /* a no-op unless a pipelined request paused it */
    if (c->in_len > 0) event_active(c->rev, EV_READ, 0); /* parse what already came */
}

/* Writes what waits in `out`.  Returns 1 when all of it went, 0 when the
 * rest waits for EPOLLOUT, -1 on an error. */
static int flush_out(conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n < 0) return -1;
        c->out_off += (size_t)n;
    }
    return 1;
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)fd, (void)what;
    int r = flush_out(c);
    if (r == 0) return;
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
    c->fd = fd;
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->timer = evtimer_new(s->base, on_timeout, c);
    if (!c->rev || !c->wev || !c->timer) abort();
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    start_request(c);
    event_add(c->rev, NULL);
    return c;
}

/* ---- answering ------------------------------------------------------- */

void roma_http_reply(roma_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len) {
    conn *c = req->c;
    int head_only = c->parser.method == HTTP_HEAD;
    /* an HTTP/1.0 client keeps the connection only when told so */
    const char *connection = !c->keep_alive ? "Connection: close\r\n"
                             : c->parser.http_minor == 0 ? "Connection: keep-alive\r\n" : "";
    char line[512];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%s",
                     status, roma_http_reason(status), content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "", len,
                     connection);
    if (n < 0 || (size_t)n >= sizeof(line)) abort(); /* content types are ROMA's own, short */
    size_t extra = extra_headers ? strlen(extra_headers) : 0;
    struct iovec v[4] = {{line, (size_t)n},
                         {(void *)(extra_headers ? extra_headers : ""), extra},
                         {"\r\n", 2},
                         {(void *)body, head_only ? 0 : len}};
    size_t total = v[0].iov_len + v[1].iov_len + v[2].iov_len + v[3].iov_len, sent = 0;
    c->state = WRITING;
    struct msghdr m = {.msg_iov = v, .msg_iovlen = 4};
    ssize_t w; /* also when the client closed: it may only have shut down its sending side */
    do w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_free(c);
        return;
    }
    sent = w > 0 ? (size_t)w : 0;
    if (sent == total) {
        answered(c);
        return;
    }
    /* the rest waits in `out` for EPOLLOUT */
    c->out = xrealloc(NULL, total - sent);
    c->out_len = 0;
    c->out_off = 0;
    for (int i = 0; i < 4; i++) {
        size_t skip = sent < v[i].iov_len ? sent : v[i].iov_len;
        sent -= skip;
        memcpy(c->out + c->out_len, (char *)v[i].iov_base + skip, v[i].iov_len - skip);
        c->out_len += v[i].iov_len - skip;
    }
    arm_timer(c); /* a client that does not read its answer is dropped */
    event_add(c->wev, NULL);
}

/* ---- the request ----------------------------------------------------- */

const char *roma_http_method(const roma_http_req *req) {
    return http_method_str((enum http_method)req->c->parser.method);
}

const char *roma_http_target(const roma_http_req *req) { return req->c->head + req->c->url; }

const char *roma_http_header(const roma_http_req *req, const char *name) {
    return conn_header(req->c, name);
}

const char *roma_http_body(const roma_http_req *req, size_t *len) {
    *len = req->c->body_len;
    return req->c->body;
}

int roma_http_fd(const roma_http_req *req) { return req->c->fd; }

void roma_http_set_close_cb(roma_http_req *req, void (*cb)(roma_http_req *, void *), void *arg) {
    req->close_cb = cb;
    req->close_arg = arg;
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

char *roma_http_path(const char *target) {
    const char *p = target;
    const char *scheme = strstr(p, "://");
    if (scheme && scheme < p + strcspn(p, "/?#")) { /* absolute form: skip to the path */
        p = scheme + 3;
        p += strcspn(p, "/?#");
    }
    size_t n = strcspn(p, "?#");
    char *out = xrealloc(NULL, n + 2), *o = out;
    if (n == 0 || p[0] != '/') *o++ = '/';
    for (size_t i = 0; i < n; i++) {
        int hi = p[i] == '%' && i + 2 < n ? hex_digit(p[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(p[i + 2]) : -1;
        if (lo >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* ---- the listener ---------------------------------------------------- */

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

static void on_resume(evutil_socket_t fd, short what, void *arg) {
    roma_http_server *s = arg;
    (void)fd, (void)what;
    if (s->accepting) event_add(s->accept_ev, NULL);
}

static void on_accept(evutil_socket_t fd, short what, void *arg) {
    roma_http_server *s = arg;
    (void)what;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            conn_new(s, cfd);
            s->paused_logged = 0;
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            if (!s->paused_logged)
                roma_warn("cannot accept connections: %s; pausing accepting for %d ms (raise the "
                          "open files limit, ulimit -n)", strerror(errno), ACCEPT_PAUSE_US / 1000);
            s->paused_logged = 1;
            event_del(s->accept_ev);
            struct timeval tv = {0, ACCEPT_PAUSE_US};
            event_add(s->resume_ev, &tv);
        }
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

void roma_http_server_free(roma_http_server *s) {
    if (!s) return;
    while (s->conns) conn_free(s->conns);
    if (s->accept_ev) event_free(s->accept_ev);
    if (s->resume_ev) event_free(s->resume_ev);
    free(s);
}

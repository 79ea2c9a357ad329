/* fuzz_http.c - the HTTP/1.1 server (src/common/http.h) fed arbitrary
 * bytes as one client's stream, over a Unix socket on a loop of its own.
 *
 * Each input is a connection: its bytes are written in two pieces with
 * the loop turned in between, the loop runs until quiet, every request
 * the handler gets is answered (at once, on a later turn as the worker
 * does, or only after the client left), and the client closes (after a
 * half-close, when the input says).
 * Besides crashes and leaks (ASan) the server must keep its promises:
 *   - every request has a method and a target, and a NUL after its body;
 *   - a body with a Content-Length (and no Transfer-Encoding) has that length;
 *   - header values are NUL-terminated strings (looked up by the names the
 *     input's lines start with);
 *   - requests on a connection reach the handler one at a time: never
 *     while the previous one is unanswered, never after a refusal (400,
 *     413, 431, 501) reached the client;
 *   - the close callback fires only for the request being handled;
 *   - once the client has closed and everything is answered, the server
 *     holds no connection.
 *
 * Input: byte 0 picks the limits and how requests are answered, bytes 1-2
 * where the stream is split, the rest is the stream.
 */
#include "fuzz.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <strings.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/http.h"

#define MAX_NAMES 16
#define MAX_TURNS 100000     /* a loop that never goes quiet is a bug too */
#define LARGE_ANSWER 300000  /* over a Unix socket's buffer: the WRITING path */
#define MAX_LARGE_ANSWERS 2  /* an input's first answers may be large */

enum {
    F_SMALL_BODY = 1, /* max_body 64 */
    F_SMALL_HEAD = 2, /* max_header_bytes 256 */
    F_HALF_CLOSE = 4, /* the client shuts down its sending side before closing */
    F_LARGE = 8,      /* the first answers are large */
    F_DEFER = 16,     /* requests are answered on a later turn */
    F_LATE = 32,      /* ... only once the client has closed (the close callback) */
};

typedef struct {
    int flags;
    int calls, replies, refused_seen;
    roma_http_req *held; /* a request answered on a later turn */
    int closes;          /* close callbacks */
    char names[MAX_NAMES][65];
    int nnames;
    char tail[16]; /* the end of what the client read, for status lines across reads */
    size_t tail_len;
} run;

static struct event_base *base;
static int lfd = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;
static char *large_body;

static void setup(void) {
    base = event_base_new();
    FUZZ_CHECK(base != NULL, "event_base_new");
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(lfd >= 0, "socket: %s", strerror(errno));
    addr.sun_family = AF_UNIX;
    /* the abstract namespace: nothing to clean up */
    int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "roma-fuzz-http-%d", (int)getpid());
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    FUZZ_CHECK(bind(lfd, (struct sockaddr *)&addr, addr_len) == 0, "bind: %s", strerror(errno));
    FUZZ_CHECK(listen(lfd, 16) == 0, "listen: %s", strerror(errno));
    large_body = malloc(LARGE_ANSWER);
    FUZZ_CHECK(large_body != NULL, "malloc");
    memset(large_body, 'x', LARGE_ANSWER);
}

/* The names at the start of the input's lines ("Name:"): the headers to look up. */
static void scan_names(run *r, const uint8_t *data, size_t size) {
    for (size_t i = 0; i < size && r->nnames < MAX_NAMES; i++) {
        if (i > 0 && data[i - 1] != '\n') continue;
        size_t n = 0;
        while (i + n < size && n < 64 && data[i + n] > ' ' && data[i + n] < 127 && data[i + n] != ':') n++;
        if (n == 0 || i + n >= size || data[i + n] != ':') continue;
        memcpy(r->names[r->nnames], data + i, n);
        r->names[r->nnames++][n] = '\0';
    }
}

/* Content-Length's value as http-parser takes it (digits between
 * blanks), or -1. */
static long long content_length(const char *v) {
    while (*v == ' ' || *v == '\t') v++;
    if (!isdigit((unsigned char)*v)) return -1;
    long long n = 0;
    for (; isdigit((unsigned char)*v); v++) {
        if (n > (1LL << 50)) return -1;
        n = n * 10 + (*v - '0');
    }
    while (*v == ' ' || *v == '\t') v++;
    return *v ? -1 : n;
}

static void check_request(run *r, roma_http_req *req) {
    const char *method = roma_http_method(req), *target = roma_http_target(req);
    FUZZ_CHECK(method != NULL && method[0] != '\0', "no method");
    FUZZ_CHECK(target != NULL, "no target");
    size_t target_len = strlen(target);
    FUZZ_CHECK(roma_http_fd(req) >= 0, "no socket");
    size_t len = (size_t)-1;
    const char *body = roma_http_body(req, &len);
    FUZZ_CHECK(body != NULL && len != (size_t)-1, "no body");
    FUZZ_CHECK(body[len] == '\0', "no NUL after a body of %zu bytes", len);
    const char *te = roma_http_header(req, "Transfer-Encoding");
    if (te) (void)strlen(te);
    for (int i = 0; i < r->nnames; i++) {
        const char *v = roma_http_header(req, r->names[i]);
        if (v) (void)strlen(v);
    }
    const char *cl = roma_http_header(req, "Content-Length");
    long long want = cl ? content_length(cl) : -1;
    if (!te && want >= 0)
        FUZZ_CHECK((long long)len == want, "a body of %zu bytes with Content-Length %s", len, cl);
    /* (no "body without a length" check: http-parser frames "Content-Length :3"
     * by it, while the name kept, and looked up, is "Content-Length ") */
    char *path = roma_http_path(target);
    FUZZ_CHECK(path[0] == '/' && strlen(path) <= target_len + 1, "path '%s' of '%s'", path, target);
    free(path);
    char value[8];
    int q = roma_http_query(target, "a", value, sizeof(value));
    FUZZ_CHECK(q >= -1 && q <= 1, "query %d", q);
    if (q == 1) FUZZ_CHECK(memchr(value, '\0', sizeof(value)) != NULL, "query value unterminated");
}

static void answer(run *r, roma_http_req *req) {
    static const int statuses[] = {200, 204, 500};
    int k = r->replies++;
    int large = (r->flags & F_LARGE) && k < MAX_LARGE_ANSWERS;
    roma_http_reply(req, statuses[k % 3], k % 2 ? NULL : "text/plain",
                    k % 4 == 1 ? "Retry-After: 1\r\n" : NULL, large ? large_body : "ok",
                    large ? LARGE_ANSWER : 2);
}

static void on_close(roma_http_req *req, void *arg) {
    run *r = arg;
    FUZZ_CHECK(req == r->held, "a close callback for a request not being handled");
    r->closes++;
}

static void on_request(roma_http_req *req, void *arg) {
    run *r = arg;
    FUZZ_CHECK(r->held == NULL, "a request while the previous one is unanswered");
    FUZZ_CHECK(!r->refused_seen, "a request after a refusal");
    r->calls++;
    check_request(r, req);
    if (r->flags & F_DEFER) {
        r->held = req;
        roma_http_set_close_cb(req, on_close, r);
        return;
    }
    answer(r, req);
}

/* Notes the refusals among the status lines the client reads (the
 * answers' own bodies are "ok", x's and JSON: no status line in them). */
static void scan_answers(run *r, const char *buf, size_t n) {
    char window[16 + 65536];
    memcpy(window, r->tail, r->tail_len);
    memcpy(window + r->tail_len, buf, n);
    size_t len = r->tail_len + n;
    for (const char *p = window; (p = memmem(p, (size_t)(window + len - p), "HTTP/1.1 ", 9)); p++) {
        if (window + len - p < 12) break; /* the rest comes with the next read */
        int status = atoi(p + 9);
        if (status == 400 || status == 413 || status == 431 || status == 501) r->refused_seen = 1;
    }
    r->tail_len = len < 11 ? len : 11;
    memcpy(r->tail, window + len - r->tail_len, r->tail_len);
}

/* Reads what the client was sent; 1 when something came. */
static int client_read(run *r, int cfd) {
    char buf[65536];
    int got = 0;
    for (;;) {
        ssize_t n = recv(cfd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) return got;
        scan_answers(r, buf, (size_t)n);
        got = 1;
    }
}

static roma_http_server *srv;

/* What the client sent and the server has not read yet (0: none). */
static int unread(int cfd) {
    int n = 0;
    return ioctl(cfd, SIOCOUTQ, &n) == 0 ? n : 0;
}

/* Turns the loop, sending what is left of out[0..*out_len) and reading
 * the answers, until nothing moves: no handler call, no answer bytes, the
 * server reads none of what waits for it.  A held request is answered on
 * the first turn that moves nothing.  cfd -1: the client is gone, and the
 * loop turns until the server holds no connection. */
static void pump(run *r, int cfd, const uint8_t **out, size_t *out_len) {
    int waiting = cfd >= 0 ? unread(cfd) : 0;
    for (int i = 0; i < MAX_TURNS; i++) {
        int moved = 0;
        if (out && *out_len > 0) {
            ssize_t n = send(cfd, *out, *out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                *out += n;
                *out_len -= (size_t)n;
                moved = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                *out_len = 0; /* the server closed */
            }
        }
        int calls = r->calls;
        event_base_loop(base, EVLOOP_NONBLOCK);
        moved |= r->calls != calls;
        if (cfd >= 0) {
            moved |= client_read(r, cfd);
            int now = unread(cfd);
            moved |= now < waiting;
            waiting = now;
        }
        if (r->held && !moved && (cfd < 0 || !(r->flags & F_LATE))) {
            roma_http_req *req = r->held;
            r->held = NULL;
            answer(r, req);
            moved = 1;
        }
        if (cfd < 0 && roma_http_server_connections(srv) == 0) return;
        if (cfd >= 0 && !moved && !(out && *out_len > 0)) return;
    }
    FUZZ_CHECK(0, "the loop never went quiet (%d connections)", roma_http_server_connections(srv));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!base) setup();
    if (size < 3) return 0;
    run r = {.flags = data[0]};
    size_t split = (size_t)(data[1] | data[2] << 8);
    data += 3;
    size -= 3;
    split = size ? split % (size + 1) : 0;
    scan_names(&r, data, size);
    roma_http_limits limits = {
        .max_body = r.flags & F_SMALL_BODY ? 64 : 1 << 20,
        .max_header_bytes = r.flags & F_SMALL_HEAD ? 256 : 8192,
    };
    srv = roma_http_server_new(base, lfd, &limits, on_request, &r);
    FUZZ_CHECK(srv != NULL, "roma_http_server_new");
    int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(cfd >= 0, "socket: %s", strerror(errno));
    FUZZ_CHECK(connect(cfd, (struct sockaddr *)&addr, addr_len) == 0, "connect: %s", strerror(errno));

    const uint8_t *out = data;
    size_t out_len = split;
    pump(&r, cfd, &out, &out_len);
    out_len = size - split;
    pump(&r, cfd, &out, &out_len);
    if (r.flags & F_HALF_CLOSE) {
        shutdown(cfd, SHUT_WR);
        pump(&r, cfd, NULL, NULL);
    }
    close(cfd);
    pump(&r, -1, NULL, NULL);
    FUZZ_CHECK(r.held == NULL, "a request still held");
    FUZZ_CHECK(roma_http_server_connections(srv) == 0, "%d connections left after the client closed",
               roma_http_server_connections(srv));
    roma_http_server_free(srv);
    srv = NULL;
    return 0;
}

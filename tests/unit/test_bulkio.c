/* test_bulkio.c - large reads and writes on bufferevents (src/common/bulkio.h):
 * what waits in a socket arrives in one read callback instead of 4 KB a
 * loop turn, intact and in order, small reads and end of file behave as
 * before, and evhttp receives a large body whole through roma_bulkio_bevcb;
 * roma_bulkio_flush writes queued output at once and runs the write
 * callback only once all of it went.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/bulkio.h"

typedef struct {
    struct evbuffer *got; /* everything read so far */
    int reads;            /* read callbacks */
    int writes;           /* write callbacks */
    int eof;              /* BEV_EVENT_EOF seen */
} sink;

static void on_write(struct bufferevent *bev, void *arg) {
    sink *k = arg;
    (void)bev;
    k->writes++;
}

static void on_read(struct bufferevent *bev, void *arg) {
    sink *k = arg;
    k->reads++;
    evbuffer_add_buffer(k->got, bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
    sink *k = arg;
    (void)bev;
    if (what & BEV_EVENT_EOF) k->eof = 1;
}

/* A byte pattern that shows a lost, repeated or reordered block. */
static unsigned char pattern(size_t i) { return (unsigned char)((i * 7 + i / 4096) & 0xff); }

/* Writes n pattern bytes into fd, all of which must fit its buffers now. */
static void write_pattern(int fd, size_t n) {
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = pattern(i);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    free(p);
}

static void check_pattern(struct evbuffer *b, size_t n) {
    assert_int_equal(evbuffer_get_length(b), n);
    const unsigned char *p = evbuffer_pullup(b, -1);
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(i)) fail_msg("byte %zu is %d, expected %d", i, p[i], pattern(i));
}

typedef struct {
    struct event_base *base;
    struct bufferevent *bev;
    int peer; /* the writing end */
    sink k;
} pair;

static void pair_open(pair *t) {
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    t->base = event_base_new();
    t->bev = bufferevent_socket_new(t->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    assert_int_equal(roma_bulkio_enable(t->bev), 0);
    t->peer = fds[1];
    t->k = (sink){.got = evbuffer_new()};
    bufferevent_setcb(t->bev, on_read, on_write, on_event, &t->k);
    bufferevent_enable(t->bev, EV_READ);
}

static void pair_close(pair *t) {
    bufferevent_free(t->bev);
    evbuffer_free(t->k.got);
    event_base_free(t->base);
    close(t->peer);
}

static void test_waiting_bytes_arrive_in_one_turn(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    write_pattern(t.peer, 100000); /* 25 of libevent's reads */
    event_base_loop(t.base, EVLOOP_ONCE);
    assert_int_equal(t.k.reads, 1);
    check_pattern(t.k.got, 100000);
    pair_close(&t);
}

static void test_small_and_exact_reads_as_before(void **state) {
    (void)state;
    const size_t sizes[] = {1, 100, 4095, 4096, 4097};
    for (size_t c = 0; c < ARRAY_LEN(sizes); c++) {
        pair t;
        pair_open(&t);
        write_pattern(t.peer, sizes[c]);
        event_base_loop(t.base, EVLOOP_ONCE);
        assert_int_equal(t.k.reads, 1);
        check_pattern(t.k.got, sizes[c]);
        pair_close(&t);
    }
}

static void test_eof_after_data_still_reported(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    write_pattern(t.peer, 10000);
    shutdown(t.peer, SHUT_WR);
    for (int i = 0; i < 3 && !t.k.eof; i++) event_base_loop(t.base, EVLOOP_ONCE);
    check_pattern(t.k.got, 10000);
    assert_true(t.k.eof);
    pair_close(&t);
}

static void test_writes_are_large(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    assert_int_equal(bufferevent_get_max_single_write(t.bev), ROMA_BULKIO_MAX_WRITE);
    assert_int_equal(roma_bulkio_enable(NULL), -1);
    pair_close(&t);
}

/* Reads what the peer end holds now, without waiting. */
static size_t peer_read(int fd, struct evbuffer *into) {
    size_t total = 0;
    char chunk[65536];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0) {
        evbuffer_add(into, chunk, (size_t)n);
        total += (size_t)n;
    }
    return total;
}

static void test_flush_writes_now_and_calls_back(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    unsigned char msg[3000];
    for (size_t i = 0; i < sizeof(msg); i++) msg[i] = pattern(i);
    bufferevent_write(t.bev, msg, sizeof(msg));
    roma_bulkio_flush(t.bev); /* no loop turn */
    struct evbuffer *got = evbuffer_new();
    assert_int_equal(peer_read(t.peer, got), sizeof(msg));
    check_pattern(got, sizeof(msg));
    assert_int_equal(evbuffer_get_length(bufferevent_get_output(t.bev)), 0);
    assert_int_equal(t.k.writes, 1);
    evbuffer_free(got);
    pair_close(&t);
}

static void test_flush_leaves_the_rest_to_libevent(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    const size_t n = 4 << 20; /* more than a socket pair holds */
    unsigned char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) big[i] = pattern(i);
    bufferevent_write(t.bev, big, n);
    free(big);
    roma_bulkio_flush(t.bev);
    assert_true(evbuffer_get_length(bufferevent_get_output(t.bev)) > 0);
    assert_int_equal(t.k.writes, 0); /* not all of it went */
    struct evbuffer *got = evbuffer_new();
    for (int turns = 0; evbuffer_get_length(got) < n && turns < 100000; turns++) {
        peer_read(t.peer, got);
        event_base_loop(t.base, EVLOOP_NONBLOCK);
    }
    check_pattern(got, n);
    assert_int_equal(t.k.writes, 1);
    evbuffer_free(got);
    pair_close(&t);
}

static void test_flush_leaves_a_bufferevent_not_writing_alone(void **state) {
    (void)state;
    pair t;
    pair_open(&t);
    bufferevent_disable(t.bev, EV_WRITE);
    bufferevent_write(t.bev, "abc", 3);
    roma_bulkio_flush(t.bev);
    roma_bulkio_flush(NULL);
    assert_int_equal(evbuffer_get_length(bufferevent_get_output(t.bev)), 3);
    assert_int_equal(t.k.writes, 0);
    pair_close(&t);
}

/* evhttp with roma_bulkio_bevcb: a client thread posts a large body in
 * one piece; the handler checks it arrived whole. */
#define BODY_BYTES (600 * 1000)

typedef struct {
    int port;
    int status; /* the HTTP status the client read */
} client_arg;

static void *post_body(void *arg) {
    client_arg *c = arg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) return NULL;
    char head[128];
    int hn = snprintf(head, sizeof(head), "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
                      BODY_BYTES);
    unsigned char *body = malloc(BODY_BYTES);
    for (size_t i = 0; i < BODY_BYTES; i++) body[i] = pattern(i);
    ssize_t w = write(fd, head, (size_t)hn);
    for (size_t off = 0; w >= 0 && off < BODY_BYTES; off += (size_t)w) w = write(fd, body + off, BODY_BYTES - off);
    char reply[256] = "";
    if (read(fd, reply, sizeof(reply) - 1) > 0) sscanf(reply, "HTTP/1.1 %d", &c->status);
    free(body);
    close(fd);
    return NULL;
}

static void on_post(struct evhttp_request *req, void *arg) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const unsigned char *p = evbuffer_pullup(in, -1);
    int ok = n == BODY_BYTES;
    for (size_t i = 0; ok && i < n; i++) ok = p[i] == pattern(i);
    evhttp_send_reply(req, ok ? 200 : 400, NULL, NULL);
    event_base_loopexit(arg, NULL);
}

static void test_evhttp_receives_a_large_body_whole(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_bevcb(http, roma_bulkio_bevcb, NULL);
    evhttp_set_gencb(http, on_post, base);
    struct evhttp_bound_socket *l = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(l);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(l), (struct sockaddr *)&a, &len), 0);
    client_arg c = {.port = ntohs(a.sin_port)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_body, &c), 0);
    struct timeval limit = {30, 0}; /* a hang fails the test instead of blocking it */
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    event_base_loop(base, EVLOOP_NONBLOCK); /* write the answer out */
    pthread_join(th, NULL);
    assert_int_equal(c.status, 200);
    evhttp_free(http);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiting_bytes_arrive_in_one_turn),
        cmocka_unit_test(test_small_and_exact_reads_as_before),
        cmocka_unit_test(test_eof_after_data_still_reported),
        cmocka_unit_test(test_writes_are_large),
        cmocka_unit_test(test_flush_writes_now_and_calls_back),
        cmocka_unit_test(test_flush_leaves_the_rest_to_libevent),
        cmocka_unit_test(test_flush_leaves_a_bufferevent_not_writing_alone),
        cmocka_unit_test(test_evhttp_receives_a_large_body_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

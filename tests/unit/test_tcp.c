/* test_tcp.c - TCP_NODELAY where ROMA sets it (src/common/tcp.h): on a
 * socket, on an evhttp listener so that the sockets it accepts have it,
 * and on an evhttp client connection once its request is on its way, once
 * per socket the connection opens (roma_tcp_make_request), not per request.
 * (Nagle's algorithm held the last segment of large bodies back for up to
 * 40 ms; the option is what prevents that.)
 */
#include "unit.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tcp.h"

static int nodelay_of(int fd) {
    int on = -1;
    socklen_t len = sizeof(on);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on;
}

static void test_socket_gets_nodelay(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(nodelay_of(fd), 0); /* the kernel's default: Nagle on */
    assert_int_equal(roma_tcp_nodelay(fd), 0);
    assert_true(nodelay_of(fd) != 0);
    close(fd);
}

static void test_not_a_socket_is_an_error(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(roma_tcp_nodelay(fds[0]), -1);
    close(fds[0]);
    close(fds[1]);
}

/* The port an evhttp listener was given by the kernel. */
static int listener_port(struct evhttp_bound_socket *l) {
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(l), (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void test_accepted_sockets_inherit_it(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct evhttp_bound_socket *l = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(l);
    assert_int_equal(roma_tcp_nodelay_listener(l), 0);
    int lfd = evhttp_bound_socket_get_fd(l);
    assert_true(nodelay_of(lfd) != 0);

    /* accept one connection by hand, as evhttp would */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listener_port(l)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
    int a = -1;
    for (int i = 0; i < 1000 && a < 0; i++) {
        a = accept(lfd, NULL, NULL);
        if (a < 0) usleep(1000); /* the listener is non-blocking */
    }
    assert_true(a >= 0);
    assert_true(nodelay_of(a) != 0);
    close(a);
    close(c);
    evhttp_free(http);
    event_base_free(base);
}

static void on_answer(struct evhttp_request *req, void *arg) {
    (void)req;
    event_base_loopbreak(arg);
}

static void test_client_connection_gets_it(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct evhttp_bound_socket *l = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(l);
    struct evhttp_connection *conn =
        evhttp_connection_base_new(base, NULL, "127.0.0.1", (ev_uint16_t)listener_port(l));
    struct evhttp_request *req = evhttp_request_new(on_answer, base);
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/"), 0);
    roma_tcp_nodelay_connection(conn);
    int fd = (int)bufferevent_getfd(evhttp_connection_get_bufferevent(conn));
    assert_true(fd >= 0); /* the socket exists once the request is made */
    assert_true(nodelay_of(fd) != 0);
    event_base_dispatch(base); /* evhttp answers 404; the loop ends with it */
    evhttp_connection_free(conn);
    evhttp_free(http);
    event_base_free(base);
}

static void test_opened_only_from_no_socket(void **state) {
    (void)state;
    assert_true(roma_tcp_opened(-1, 7));     /* the request opened a socket */
    assert_true(roma_tcp_opened(-1, 0));     /* descriptor 0 is a socket too */
    assert_false(roma_tcp_opened(7, 7));     /* keep-alive: the same socket */
    assert_false(roma_tcp_opened(7, 9));     /* had one: not opened by this request */
    assert_false(roma_tcp_opened(-1, -1));   /* nothing opened (refused at once) */
}

static void on_any(struct evhttp_request *req, void *arg) {
    (void)arg;
    evhttp_send_reply(req, 200, "OK", NULL);
}

static int conn_fd(struct evhttp_connection *conn) {
    return (int)bufferevent_getfd(evhttp_connection_get_bufferevent(conn));
}

/* One request through roma_tcp_make_request, answered; returns the socket
 * it went out on, and its TCP_NODELAY as the request left in *nodelay. */
static int one_request(struct event_base *base, struct evhttp_connection *conn, int close,
                       int *nodelay) {
    struct evhttp_request *req = evhttp_request_new(on_answer, base);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (close) evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    assert_int_equal(roma_tcp_make_request(conn, req, EVHTTP_REQ_GET, "/"), 0);
    int fd = conn_fd(conn);
    assert_true(fd >= 0);
    *nodelay = nodelay_of(fd);
    event_base_dispatch(base);
    return fd;
}

static void test_make_request_sets_it_once_per_socket(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, on_any, NULL);
    struct evhttp_bound_socket *l = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(l);
    struct evhttp_connection *conn =
        evhttp_connection_base_new(base, NULL, "127.0.0.1", (ev_uint16_t)listener_port(l));
    evhttp_connection_set_retries(conn, 0);
    int on;
    int fd = one_request(base, conn, 0, &on);
    assert_true(on != 0); /* the first request opened the socket: set */
    /* Cleared behind its back: a keep-alive request on the same socket
     * leaves it alone, which shows it is not set again per request. */
    int off = 0;
    assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off)), 0);
    assert_int_equal(one_request(base, conn, 1, &on), fd);
    assert_int_equal(on, 0);
    /* That one asked for Connection: close: evhttp closed the socket, the
     * next request opens a new one, which gets it. */
    assert_int_equal(conn_fd(conn), -1);
    (void)one_request(base, conn, 0, &on);
    assert_true(on != 0);
    evhttp_connection_free(conn);
    evhttp_free(http);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_gets_nodelay),
        cmocka_unit_test(test_not_a_socket_is_an_error),
        cmocka_unit_test(test_accepted_sockets_inherit_it),
        cmocka_unit_test(test_client_connection_gets_it),
        cmocka_unit_test(test_opened_only_from_no_socket),
        cmocka_unit_test(test_make_request_sets_it_once_per_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

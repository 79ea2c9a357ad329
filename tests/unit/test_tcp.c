/* test_tcp.c - TCP_NODELAY where ROMA sets it (src/common/tcp.h): on a
 * socket, and on a listening socket so that the sockets it accepts have it
 * (the HTTP client sets it on its own sockets: test_http.c).  Nagle's
 * algorithm held the last segment of large bodies back for up to 40 ms;
 * the option is what prevents that.
 */
#include "unit.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http.h"
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

/* A socket accepted from a listening socket with it has it (Linux), which
 * is how roma serve and roma worker set it for their clients. */
static void test_accepted_sockets_inherit_it(void **state) {
    (void)state;
    int lfd = roma_http_listen("127.0.0.1", 0);
    assert_true(lfd >= 0);
    assert_int_equal(roma_tcp_nodelay(lfd), 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cfd, (struct sockaddr *)&a, len), 0);
    int afd = -1;
    for (int i = 0; i < 1000 && afd < 0; i++) {
        afd = accept(lfd, NULL, NULL); /* the listener is non-blocking */
        if (afd < 0) usleep(1000);
    }
    assert_true(afd >= 0);
    assert_true(nodelay_of(afd) != 0);
    close(afd);
    close(cfd);
    close(lfd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_gets_nodelay),
        cmocka_unit_test(test_not_a_socket_is_an_error),
        cmocka_unit_test(test_accepted_sockets_inherit_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tcp.c - see tcp.h. */
#include "tcp.h"

#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int roma_tcp_nodelay(int fd) {
    int on = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int roma_tcp_nodelay_listener(struct evhttp_bound_socket *listener) {
    return roma_tcp_nodelay(evhttp_bound_socket_get_fd(listener));
}

static int connection_fd(struct evhttp_connection *conn) {
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev ? (int)bufferevent_getfd(bev) : -1;
}

void roma_tcp_nodelay_connection(struct evhttp_connection *conn) {
    int fd = connection_fd(conn);
    /* a failure only costs latency (and does not happen on a TCP socket) */
    if (fd >= 0) (void)roma_tcp_nodelay(fd);
}

int roma_tcp_opened(int fd_before, int fd_after) {
    return fd_before < 0 && fd_after >= 0;
}

int roma_tcp_make_request(struct evhttp_connection *conn, struct evhttp_request *req,
                          enum evhttp_cmd_type cmd, const char *uri) {
    int before = connection_fd(conn);
    if (evhttp_make_request(conn, req, cmd, uri) != 0) return -1;
    int after = connection_fd(conn);
    if (roma_tcp_opened(before, after)) (void)roma_tcp_nodelay(after); /* as above */
    return 0;
}

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

void roma_tcp_nodelay_connection(struct evhttp_connection *conn) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;
    /* a failure only costs latency (and does not happen on a TCP socket) */
    if (fd >= 0) (void)roma_tcp_nodelay(fd);
}

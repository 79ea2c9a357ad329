/* tcp.h - the one socket option every ROMA connection wants: TCP_NODELAY.
 *
 * Why: a request body of several segments (a 0.8 MB image body is a dozen
 * on loopback) ends with a short one, which Nagle's algorithm holds back
 * until the earlier ones are acknowledged, while the receiver, waiting for
 * the rest of the body, delays its ACK by up to 40 ms (Linux's delayed-ACK
 * timer).  Through roma serve, about 6% of such requests took 40 ms longer
 * than the rest.  Every ROMA socket writes whole messages, so nothing is
 * gained by holding bytes back. */
#ifndef ROMA_TCP_H
#define ROMA_TCP_H

#include <event2/http.h>

/* Sets TCP_NODELAY on fd; returns 0, or -1 with errno set. */
int roma_tcp_nodelay(int fd);

/* For a server: sets it on the listening socket, which the sockets it
 * accepts inherit (Linux).  Returns 0, or -1 with errno set. */
int roma_tcp_nodelay_listener(struct evhttp_bound_socket *listener);

/* For an evhttp client connection, which opens its socket inside
 * evhttp_make_request, and a new one (perhaps with the same number) after
 * a reconnect: call it after each evhttp_make_request.  One system call a
 * request (~0.3 us) is cheaper than telling a new socket from an old one. */
void roma_tcp_nodelay_connection(struct evhttp_connection *conn);

#endif

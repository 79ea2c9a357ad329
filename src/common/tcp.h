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
 * a reconnect: sets it on the connection's socket now, if it has one.
 * Costs a system call each time; a keep-alive connection wants
 * roma_tcp_make_request instead. */
void roma_tcp_nodelay_connection(struct evhttp_connection *conn);

/* Whether a request made on a connection opened its socket, from the
 * bufferevent's socket before and after evhttp_make_request (-1: none).
 * libevent 2.1 sets the socket to -1 whenever it closes one
 * (evhttp_connection_reset_) and opens a new one only inside
 * evhttp_make_request when it has none (with retries 0, which roma's
 * worker connections use; a retry would reconnect on a timer), so a socket
 * that was there before is one already set up. */
int roma_tcp_opened(int fd_before, int fd_after);

/* evhttp_make_request (same arguments and result), then TCP_NODELAY on the
 * connection's socket only when this request opened it: once per
 * connection, not a system call per request.  For connections with
 * retries 0 (see roma_tcp_opened). */
int roma_tcp_make_request(struct evhttp_connection *conn, struct evhttp_request *req,
                          enum evhttp_cmd_type cmd, const char *uri);

#endif

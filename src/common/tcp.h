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

/* Sets TCP_NODELAY on fd; returns 0, or -1 with errno set.  On a
 * listening socket, the sockets it accepts inherit it (Linux). */
int roma_tcp_nodelay(int fd);

#endif

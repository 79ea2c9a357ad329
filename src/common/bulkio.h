/* bulkio.h - large socket reads and writes for libevent 2.1 bufferevents.
 *
 * Why: libevent 2.1 reads at most 4096 bytes from a socket per event-loop
 * turn (EVBUFFER_MAX_READ, fixed when libevent is built;
 * bufferevent_set_max_single_read can only lower it) and writes at most
 * 16 KB a turn by default.  A 0.4 MB image body therefore cost over a
 * hundred loop turns to receive (each an epoll_wait, a FIONREAD, a read
 * and evhttp's parsing step) and a forwarded one 27 turns to send.
 *
 * roma_bulkio_enable hooks the bufferevent's input buffer: whenever one of
 * libevent's reads filled its 4096 bytes, the rest of what already waits
 * in the socket (at most ROMA_BULKIO_MAX_READ) is read at once, with one
 * read, into one contiguous block after the bytes libevent read, before
 * evhttp sees them.  A read of fewer bytes (a small request, the common
 * case) costs nothing more.  Only bytes the kernel already holds for the
 * connection are taken, at most ROMA_BULKIO_MAX_READ a turn: a body is
 * still checked against evhttp's size limit as it arrives, and a client
 * that pipelines requests has its next one read ahead by at most that
 * much (4 KB before).  End of file and errors are left in the socket for
 * libevent to find.
 *
 * Writing at once.  A bufferevent writes only when epoll reports its
 * socket writable: evhttp turns the write event on for each message and
 * off once it is written, so every message costs a loop turn and, in
 * different turns, two epoll_ctl calls (a third of roma serve's system
 * calls a request).  roma_bulkio_flush writes what is queued at once and,
 * when all of it went, runs the write callback, so evhttp turns the event
 * off in the same turn it turned it on, which epoll never sees
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST).  What does not fit the socket
 * stays queued for libevent, and so do errors.
 *
 * Everything here runs on the thread of the bufferevent's event loop.
 */
#ifndef ROMA_BULKIO_H
#define ROMA_BULKIO_H

#include <event2/bufferevent.h>
#include <event2/http.h>

/* At most this much is read from one socket in one loop turn (the loop's
 * other connections wait meanwhile), and written. */
#define ROMA_BULKIO_MAX_READ (1 << 20)
#define ROMA_BULKIO_MAX_WRITE (4 << 20)

/* Makes bev (a socket bufferevent, its socket set now or later) read and
 * write in large blocks.  Returns 0, or -1 when libevent refused (the
 * bufferevent then works as before, in small steps). */
int roma_bulkio_enable(struct bufferevent *bev);

/* The same for an evhttp client connection's bufferevent, which it keeps
 * across reconnects: call once after evhttp_connection_base_new. */
int roma_bulkio_connection(struct evhttp_connection *conn);

/* Writes bev's queued output now (see above); NULL, an unconnected
 * bufferevent or one not writing is left alone.  The write callback may
 * free bev (evhttp closing a connection): do not use it afterwards. */
void roma_bulkio_flush(struct bufferevent *bev);

/* evhttp_send_reply, then roma_bulkio_flush of the request's connection.
 * req is freed by it, as by evhttp_send_reply. */
void roma_bulkio_send_reply(struct evhttp_request *req, int code, const char *reason,
                            struct evbuffer *body);

/* roma_bulkio_flush of an evhttp client connection, after
 * evhttp_make_request (and after setting socket options: the request
 * leaves now). */
void roma_bulkio_flush_connection(struct evhttp_connection *conn);

/* An evhttp_set_bevcb callback for a server whose connections need
 * nothing else: a socket bufferevent with large reads and writes. */
struct bufferevent *roma_bulkio_bevcb(struct event_base *base, void *arg);

#endif

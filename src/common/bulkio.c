/* bulkio.c - see bulkio.h. */
#include "bulkio.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

/* What libevent 2.1 reads at most per call (buffer.c's EVBUFFER_MAX_READ):
 * a read that added this much may have left more in the socket. */
#define LIBEVENT_MAX_READ 4096

/* Set while this thread adds to an input buffer: committing our bytes runs
 * the buffer's callbacks again, which must not read once more. */
static __thread int in_bulk_read;

/* How many bytes wait in fd's receive queue, at most ROMA_BULKIO_MAX_READ;
 * 0 when none or unknown. */
static size_t waiting_bytes(evutil_socket_t fd) {
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0 || n <= 0) return 0;
    return (size_t)n < ROMA_BULKIO_MAX_READ ? (size_t)n : ROMA_BULKIO_MAX_READ;
}

/* Reads what waits in the socket into one contiguous block at the end of
 * in; on EOF, error or nothing waiting it adds nothing (libevent's next
 * read meets the condition and reports it as usual). */
static void read_rest(struct evbuffer *in, evutil_socket_t fd) {
    size_t want = waiting_bytes(fd);
    struct evbuffer_iovec v;
    if (want == 0 || evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) != 1) return;
    ssize_t got;
    do {
        got = recv(fd, v.iov_base, want, MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) return; /* the reserved space is simply not committed */
    v.iov_len = (size_t)got;
    in_bulk_read = 1;
    evbuffer_commit_space(in, &v, 1);
    in_bulk_read = 0;
}

/* The input buffer's callback: runs inside libevent's read, after it added
 * its bytes and before the bufferevent's read callback (evhttp) runs. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
    struct bufferevent *bev = arg;
    if (in_bulk_read || info->n_added < LIBEVENT_MAX_READ) return;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd >= 0) read_rest(in, fd);
}

int roma_bulkio_enable(struct bufferevent *bev) {
    if (!bev) return -1;
    if (bufferevent_set_max_single_write(bev, ROMA_BULKIO_MAX_WRITE) != 0) return -1;
    return evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev) ? 0 : -1;
}

int roma_bulkio_connection(struct evhttp_connection *conn) {
    return roma_bulkio_enable(conn ? evhttp_connection_get_bufferevent(conn) : NULL);
}

void roma_bulkio_flush(struct bufferevent *bev) {
    struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || evbuffer_get_length(out) == 0 || !(bufferevent_get_enabled(bev) & EV_WRITE))
        return;
    /* a socket bufferevent keeps its output's front frozen but while it writes */
    evbuffer_unfreeze(out, 1);
    int n = evbuffer_write_atmost(out, fd, ROMA_BULKIO_MAX_WRITE);
    evbuffer_freeze(out, 1);
    if (n > 0 && evbuffer_get_length(out) == 0) bufferevent_trigger(bev, EV_WRITE, 0);
}

static struct bufferevent *connection_bev(struct evhttp_connection *conn) {
    return conn ? evhttp_connection_get_bufferevent(conn) : NULL;
}

void roma_bulkio_send_reply(struct evhttp_request *req, int code, const char *reason,
                            struct evbuffer *body) {
    /* taken before: evhttp_send_reply frees a request whose client left */
    struct bufferevent *bev = connection_bev(evhttp_request_get_connection(req));
    evhttp_send_reply(req, code, reason, body);
    roma_bulkio_flush(bev);
}

void roma_bulkio_flush_connection(struct evhttp_connection *conn) {
    roma_bulkio_flush(connection_bev(conn));
}

struct bufferevent *roma_bulkio_bevcb(struct event_base *base, void *arg) {
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    (void)arg;
    if (bev) (void)roma_bulkio_enable(bev); /* else evhttp refuses the connection */
    return bev;
}

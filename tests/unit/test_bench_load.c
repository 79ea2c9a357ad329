/* test_bench_load.c - roma bench's I/O (src/bench/load.h) against a small
 * evhttp server forked by the test, on a loopback port.
 *
 * Covers: every request sent, with its body, and answered 200 at a
 * modest rate, on few keep-alive connections; open loop (slow answers do
 * not delay later sends: the pool grows and every latency stays near the
 * server's delay); with the pool capped at one connection, requests wait
 * for it yet their latency counts from the SCHEDULED time (0.1, 0.2, ...
 * for a server taking 0.1 s); answers other than 200 kept with their
 * status; a refused connection and a timeout recorded as status 0; one
 * GET (for /metrics); and targets that are not http:// URLs.  The server
 * delays with a timer, so it answers many requests at once.  Timing
 * bounds are loose: the machine is shared.
 */
#include "unit.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "bench/load.h"

static const char body[] = "{\"instances\": [1.0, 2.0, 5.0]}";

/* ---- the server (child process) --------------------------------------------- */

static struct event_base *server_base;

static void reply(struct evhttp_request *req, int code, const char *text) {
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "%s", text);
    evhttp_send_reply(req, code, NULL, out);
    evbuffer_free(out);
}

static void reply_later(evutil_socket_t fd, short what, void *arg) {
    reply(arg, 200, "{\"predictions\": [2.5]}");
}

static void handle(struct evhttp_request *req, void *arg) {
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    if (strcmp(uri, "/metrics") == 0) return reply(req, 200, "roma_core_seconds_total{model=\"fast\"} 4\n");
    if (evbuffer_get_length(in) != strlen(body) ||
        memcmp(evbuffer_pullup(in, -1), body, strlen(body)) != 0)
        return reply(req, 400, "{\"error\": \"unexpected body\"}");
    if (strcmp(uri, "/v1/models/fast:predict") == 0) return reply(req, 200, "{\"predictions\": [2.5]}");
    if (strcmp(uri, "/v1/models/busy:predict") == 0) return reply(req, 503, "{\"error\": \"busy\"}");
    if (strcmp(uri, "/v1/models/slow:predict") == 0) {
        struct timeval delay = {0, 100000};
        event_base_once(server_base, -1, EV_TIMEOUT, reply_later, req, &delay);
        return;
    }
    reply(req, 404, "{\"error\": \"no such model\"}");
}

static int listen_loopback(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("cannot listen on loopback");
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct {
    pid_t pid;
    char target[64];
} server;

static int start_server(void **state) {
    static server s;
    int port, fd = listen_loopback(&port);
    fflush(NULL);
    s.pid = fork();
    if (s.pid == 0) {
        /* A precise clock: the coarse default fires the 100 ms delay up to
         * a tick (4 ms) early, and latencies would look shorter than it. */
        struct event_config *ec = event_config_new();
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        evutil_make_socket_nonblocking(fd);
        server_base = event_base_new_with_config(ec);
        event_config_free(ec);
        struct evhttp *http = evhttp_new(server_base);
        evhttp_set_gencb(http, handle, NULL);
        evhttp_accept_socket(http, fd);
        event_base_dispatch(server_base);
        _exit(0);
    }
    close(fd);
    snprintf(s.target, sizeof(s.target), "http://127.0.0.1:%d", port);
    *state = &s;
    return 0;
}

static int stop_server(void **state) {
    server *s = *state;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static bench_model model(const char *name) {
    return (bench_model){.name = (char *)name, .body = (char *)body, .body_len = strlen(body)};
}

/* n sends of model 0, the i-th at i * gap seconds. */
static bench_schedule evenly(size_t n, double gap) {
    bench_schedule s = {calloc(n, sizeof(bench_send)), n, n};
    for (size_t i = 0; i < n; i++) s.sends[i] = (bench_send){(double)i * gap, 0};
    return s;
}

static void run(const char *target, const char *name, int connections, double timeout,
                bench_schedule *s, bench_outcome *out, bench_run_info *info) {
    bench_model m = model(name);
    bench_load_config c = {target, &m, 1, connections, timeout, 0};
    roma_err err = {""};
    if (bench_load_run(&c, s, out, info, &err) != ROMA_OK) fail_msg("run failed: %s", err.msg);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_all_answered(void **state) {
    server *srv = *state;
    bench_schedule s = evenly(50, 0.01);
    bench_outcome out[50];
    bench_run_info info;
    run(srv->target, "fast", 256, 5, &s, out, &info);
    assert_int_equal(info.sent, 50);
    assert_true(info.connections >= 1 && info.connections <= 10);
    assert_true(info.elapsed >= 0.49);
    assert_true(isnan(info.interrupted_at));
    for (size_t i = 0; i < 50; i++) {
        CASE_CHECK_INT("fast", out[i].status, 200);
        CASE_CHECK("fast", out[i].latency > 0 && out[i].latency < 0.5);
        CASE_CHECK("fast", out[i].lag >= 0 && out[i].lag < 0.5);
    }
    free(s.sends);
}

static void test_open_loop(void **state) {
    server *srv = *state;
    /* 20 sends 10 ms apart to a server taking 100 ms: ~10 in flight. */
    bench_schedule s = evenly(20, 0.01);
    bench_outcome out[20];
    bench_run_info info;
    run(srv->target, "slow", 256, 5, &s, out, &info);
    assert_true(info.max_inflight >= 5);
    assert_true(info.connections >= 5);
    for (size_t i = 0; i < 20; i++) {
        CASE_CHECK_INT("slow", out[i].status, 200);
        CASE_CHECK("slow", out[i].latency >= 0.1 && out[i].latency < 0.6);
    }
    /* The last send left on time, not after the answers before it. */
    assert_true(info.last_send < 0.19 + 0.3);
    free(s.sends);
}

static void test_pool_limit_counts_from_schedule(void **state) {
    server *srv = *state;
    /* Five sends at t = 0, one connection, 100 ms each: the k-th waits for
     * the k-1 before it, and its latency says so. */
    bench_schedule s = evenly(5, 0);
    bench_outcome out[5];
    bench_run_info info;
    run(srv->target, "slow", 1, 5, &s, out, &info);
    assert_int_equal(info.connections, 1);
    assert_int_equal(info.max_inflight, 1);
    for (size_t i = 0; i < 5; i++) {
        CASE_CHECK_INT("serial", out[i].status, 200);
        CASE_CHECK("serial", out[i].latency >= 0.1 * (double)(i + 1) - 0.005);
        CASE_CHECK("serial", out[i].lag >= 0.1 * (double)i - 0.005);
    }
    free(s.sends);
}

static void test_errors(void **state) {
    server *srv = *state;
    bench_schedule s = evenly(3, 0.01);
    bench_outcome out[3];
    bench_run_info info;
    run(srv->target, "busy", 4, 5, &s, out, &info);
    for (size_t i = 0; i < 3; i++) {
        CASE_CHECK_INT("503", out[i].status, 503);
        CASE_CHECK("503", !isnan(out[i].latency));
    }
    run(srv->target, "nope", 4, 5, &s, out, &info);
    CASE_CHECK_INT("404", out[0].status, 404);

    /* Answers later than the timeout: no answer. */
    run(srv->target, "slow", 4, 0.03, &s, out, &info);
    for (size_t i = 0; i < 3; i++) {
        CASE_CHECK_INT("timeout", out[i].status, 0);
        CASE_CHECK("timeout", isnan(out[i].latency));
    }

    /* Nobody listening: refused, no answer, and the run still ends. */
    int port, fd = listen_loopback(&port);
    close(fd);
    char closed[64];
    snprintf(closed, sizeof(closed), "http://127.0.0.1:%d", port);
    run(closed, "fast", 4, 5, &s, out, &info);
    assert_int_equal(info.sent, 3);
    for (size_t i = 0; i < 3; i++) CASE_CHECK_INT("refused", out[i].status, 0);
    free(s.sends);
}

static void test_get_and_bad_targets(void **state) {
    server *srv = *state;
    roma_buf b = ROMA_BUF_INIT;
    roma_err err = {""};
    int status = -1;
    assert_int_equal(bench_load_get(srv->target, "/metrics", 5, &status, &b, &err), ROMA_OK);
    assert_int_equal(status, 200);
    check_contains("metrics", b.data, "roma_core_seconds_total{model=\"fast\"} 4");
    roma_buf_free(&b);

    static const char *const bad[] = {"https://127.0.0.1:1", "127.0.0.1:8501", "http://", "ftp://h"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CASE_CHECK_INT(bad[i], bench_load_get(bad[i], "/metrics", 1, &status, &b, &err), ROMA_INVALID_ARGUMENT);
        check_contains(bad[i], err.msg, "is not an http:// URL");
        bench_schedule s = evenly(1, 0);
        bench_outcome out[1];
        bench_run_info info;
        bench_model m = model("fast");
        bench_load_config c = {bad[i], &m, 1, 4, 1, 0};
        CASE_CHECK_INT(bad[i], bench_load_run(&c, &s, out, &info, &err), ROMA_INVALID_ARGUMENT);
        CASE_CHECK_INT(bad[i], out[0].status, -1);
        free(s.sends);
    }
    roma_buf_free(&b);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_answered),
        cmocka_unit_test(test_open_loop),
        cmocka_unit_test(test_pool_limit_counts_from_schedule),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_get_and_bad_targets),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}

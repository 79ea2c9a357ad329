/* tfrun.c - the cost of a bare TF_SessionRun, as the baseline for the
 * worker benchmark (bench/worker.sh).
 *
 *   build/bench/tfrun SAVED_MODEL_VERSION_DIR REQUEST_JSON [RUNS] [INTRA_OP]
 *                     [SPINNING 0|1] [PREDICT_URL]
 *
 * Loads the model with the worker's own binding, turns the predict request
 * into tensors once, then times RUNS calls of tfb_run alone (no HTTP, no
 * JSON) and prints p50/p99 in microseconds as one JSON line.
 *
 * With PREDICT_URL (a `roma worker` serving the same model), each bare run
 * is followed by the same request sent to the worker over one keep-alive
 * connection, and both are timed: pairs a few milliseconds apart see the
 * same machine, where runs minutes apart do not (a shared VM's speed drifts
 * by tens of percent).  Then "served_p50_us", "served_p99_us" and the
 * median of the pairs' ratios "overhead_ratio_p50" are printed too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/file.h"
#include "common/tcp.h"
#include "tf/tfb.h"
#include "worker/json_tensor.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts t[n] and returns its q-quantile (0 <= q < 1). */
static double quantile(double *t, int n, double q) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return t[(int)(n * q)];
}

/* The served half of a pair: one predict request over a kept connection. */
typedef struct {
    struct event_base *base;
    struct evhttp_connection *conn;
    char path[1024], host[256];
    const char *body;
    size_t len;
    int status;
} client;

static int client_open(client *c, const char *url, const char *body, size_t len) {
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u || !evhttp_uri_get_host(u) || evhttp_uri_get_port(u) <= 0) {
        fprintf(stderr, "tfrun: %s is not http://HOST:PORT/v1/models/NAME:predict\n", url);
        if (u) evhttp_uri_free(u);
        return -1;
    }
    c->base = event_base_new();
    c->conn = evhttp_connection_base_new(c->base, NULL, evhttp_uri_get_host(u),
                                         (unsigned short)evhttp_uri_get_port(u));
    snprintf(c->path, sizeof(c->path), "%s", evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/");
    snprintf(c->host, sizeof(c->host), "%s:%d", evhttp_uri_get_host(u), evhttp_uri_get_port(u));
    c->body = body;
    c->len = len;
    evhttp_uri_free(u);
    return c->conn ? 0 : -1;
}

static void on_answer(struct evhttp_request *req, void *arg) {
    client *c = arg;
    c->status = req ? evhttp_request_get_response_code(req) : 0;
    event_base_loopbreak(c->base);
}

/* Sends the request and waits for the whole answer: its HTTP status. */
static int client_predict(client *c) {
    struct evhttp_request *req = evhttp_request_new(on_answer, c);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", c->host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add_reference(evhttp_request_get_output_buffer(req), c->body, c->len, NULL, NULL);
    c->status = 0;
    if (evhttp_make_request(c->conn, req, EVHTTP_REQ_POST, c->path) != 0) return 0;
    roma_tcp_nodelay_connection(c->conn); /* as wrk and roma serve do (tcp.h says why) */
    event_base_dispatch(c->base);
    return c->status;
}

static void client_close(client *c) {
    if (c->conn) evhttp_connection_free(c->conn);
    if (c->base) event_base_free(c->base);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tfrun SAVED_MODEL_VERSION_DIR REQUEST_JSON [RUNS] [INTRA_OP] "
                        "[SPINNING 0|1] [PREDICT_URL]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 1000;
    tfb_options opt = {.intra_op_threads = argc > 4 ? atoi(argv[4]) : 0,
                       .no_spinning = argc > 5 && atoi(argv[5]) == 0};
    const char *url = argc > 6 ? argv[6] : NULL;
    tfb_model *m;
    roma_err err;
    json_t *root;
    size_t len;
    char *body = roma_read_file(argv[2], &len);
    TF_Tensor *in[64], *out[64];
    jt_format format;
    client c = {0};
    if (runs < 1) runs = 1;
    if (!body || tfb_model_load(argv[1], &opt, &m, &err) != ROMA_OK ||
        jt_parse_body(body, len, &root, &err) != ROMA_OK) {
        fprintf(stderr, "tfrun: %s\n", body ? err.msg : "cannot read the request file");
        return 1;
    }
    const tfb_signature *sig = tfb_model_find_signature(m, "serving_default");
    if (!sig || jt_predict_inputs(root, sig, in, &format, &err) != ROMA_OK) {
        fprintf(stderr, "tfrun: %s\n", sig ? err.msg : "no serving_default signature");
        return 1;
    }
    if (url && client_open(&c, url, body, len) != 0) return 1;
    double *t = malloc(sizeof(double) * (size_t)runs * 3), *served = t + runs, *ratio = t + 2 * runs;
    for (int i = -runs / 10; i < runs; i++) { /* the first tenth warms up */
        double start = now_us();
        if (tfb_run(m, sig, in, out, &err) != ROMA_OK) {
            fprintf(stderr, "tfrun: %s\n", err.msg);
            return 1;
        }
        double bare = now_us() - start;
        for (size_t k = 0; k < sig->noutputs; k++) TF_DeleteTensor(out[k]);
        if (url) {
            start = now_us();
            int status = client_predict(&c);
            if (status != 200) {
                fprintf(stderr, "tfrun: %s answered HTTP %d (0: no answer)\n", url, status);
                return 1;
            }
            if (i >= 0) served[i] = now_us() - start, ratio[i] = (served[i] - bare) / bare;
        }
        if (i >= 0) t[i] = bare;
    }
    printf("{\"runs\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f", runs, quantile(t, runs, 0.5),
           quantile(t, runs, 0.99));
    if (url)
        printf(", \"served_p50_us\": %.1f, \"served_p99_us\": %.1f, \"overhead_ratio_p50\": %.4f",
               quantile(served, runs, 0.5), quantile(served, runs, 0.99),
               quantile(ratio, runs, 0.5));
    printf("}\n");
    client_close(&c);
    jt_tensors_free(in, sig->ninputs);
    json_decref(root);
    tfb_model_free(m);
    free(t);
    free(body);
    return 0;
}

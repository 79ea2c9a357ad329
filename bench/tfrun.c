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
 *
 * When PREDICT_URL is a v2 infer URL (.../v2/models/NAME/infer), the
 * served request is the same input in the Open Inference Protocol with
 * binary tensors (built here from the tensors of the bare run, outputs
 * asked for as binary), as tritonclient sends it.  With TFRUN_V2_BODY set,
 * that body is also written to the file it names, for wrk (bench/post.lua),
 * and "v2_header_len" (its JSON header's length) is printed too.
 *
 * When the worker runs with --server_timing=1, its answers say where its
 * time went (Server-Timing: queue, convert, run); the medians are printed
 * as "served_queue_us", "served_convert_us", "served_run_us", and
 * "served_outside_us": the rest of each served request's time, outside the
 * worker's handling (this client, the kernel moving the bytes both ways,
 * the worker's loop thread reading the request and writing the answer,
 * and its wake-ups).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/file.h"
#include "common/http.h"
#include "tf/tfb.h"
#include "worker/json_tensor.h"
#include "worker/v2.h"

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
    roma_http_client *conn;
    char path[1024];
    const char *body;
    size_t len;
    char header_len[32]; /* v2 binary body: its JSON header's length; "" otherwise */
    int status;
} client;

static int client_open(client *c, const char *url, const char *body, size_t len) {
    char host[256];
    int port = 0, n = 0;
    if (sscanf(url, "http://%255[^:/]:%d%n", host, &port, &n) != 2 || port <= 0 ||
        (url[n] != '/' && url[n] != '\0')) {
        fprintf(stderr, "tfrun: %s is not http://HOST:PORT/v1/models/NAME:predict\n", url);
        return -1;
    }
    c->base = event_base_new();
    c->conn = roma_http_client_new(c->base, host, port, 0);
    snprintf(c->path, sizeof(c->path), "%s", url[n] ? url + n : "/");
    c->body = body;
    c->len = len;
    return 0;
}

static void on_answer(roma_http_client *cl, int status, void *arg) {
    client *c = arg;
    (void)cl;
    c->status = status;
    event_base_loopbreak(c->base);
}

/* Sends the request and waits for the whole answer: its HTTP status. */
static int client_predict(client *c) {
    char headers[128];
    if (c->header_len[0])
        snprintf(headers, sizeof(headers), "Content-Type: application/octet-stream\r\n"
                 "Inference-Header-Content-Length: %s\r\n", c->header_len);
    else
        snprintf(headers, sizeof(headers), "Content-Type: application/json\r\n");
    c->status = -1;
    if (roma_http_client_request(c->conn, "POST", c->path, headers, c->body, c->len, on_answer, c) != 0)
        return 0;
    if (c->status < 0) event_base_dispatch(c->base); /* else it failed at once */
    return c->status < 0 ? 0 : c->status;
}

/* The v2 binary request for the inputs: a JSON header naming each input's
 * datatype, shape and byte count, then the tensors' bytes; every output
 * asked for as binary.  Returns the JSON header's length. */
static size_t v2_binary_body(const tfb_signature *sig, TF_Tensor *const *in, roma_buf *b) {
    roma_buf_puts(b, "{\"inputs\": [");
    for (size_t i = 0; i < sig->ninputs; i++) {
        roma_buf_printf(b, "%s{\"name\": \"%s\", \"datatype\": \"%s\", \"shape\": [", i ? ", " : "",
                        sig->inputs[i].key, v2_datatype_name(TF_TensorType(in[i])));
        for (int d = 0; d < TF_NumDims(in[i]); d++)
            roma_buf_printf(b, "%s%lld", d ? ", " : "", (long long)TF_Dim(in[i], d));
        roma_buf_printf(b, "], \"parameters\": {\"binary_data_size\": %zu}}",
                        TF_TensorByteSize(in[i]));
    }
    roma_buf_puts(b, "], \"outputs\": [");
    for (size_t i = 0; i < sig->noutputs; i++)
        roma_buf_printf(b, "%s{\"name\": \"%s\", \"parameters\": {\"binary_data\": true}}",
                        i ? ", " : "", sig->outputs[i].key);
    roma_buf_puts(b, "]}");
    size_t header = b->len;
    for (size_t i = 0; i < sig->ninputs; i++)
        roma_buf_append(b, TF_TensorData(in[i]), TF_TensorByteSize(in[i]));
    return header;
}

/* For a v2 URL: replaces the client's body with the binary request. */
static int client_use_v2(client *c, const tfb_signature *sig, TF_Tensor *const *in, roma_buf *b) {
    for (size_t i = 0; i < sig->ninputs; i++)
        if (TF_TensorType(in[i]) == TF_STRING || !v2_datatype_name(TF_TensorType(in[i]))) {
            fprintf(stderr, "tfrun: input '%s' is not a fixed-size tensor the v2 binary "
                            "request can carry\n", sig->inputs[i].key);
            return -1;
        }
    size_t header = v2_binary_body(sig, in, b);
    snprintf(c->header_len, sizeof(c->header_len), "%zu", header);
    c->body = b->data;
    c->len = b->len;
    const char *out = getenv("TFRUN_V2_BODY");
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
            fprintf(stderr, "tfrun: cannot write %s\n", out);
            return -1;
        }
    }
    return 0;
}

static void client_close(client *c) {
    roma_http_client_free(c->conn);
    if (c->base) event_base_free(c->base);
}

/* The dur= of metric name in a Server-Timing value, in microseconds; -1
 * when absent. */
static double timing_us(const char *header, const char *name) {
    size_t n = strlen(name);
    for (const char *p = header; p && *p; p = strchr(p, ',')) {
        while (*p == ',' || *p == ' ') p++;
        if (strncmp(p, name, n) == 0 && strncmp(p + n, ";dur=", 5) == 0)
            return atof(p + n + 5) * 1e3;
    }
    return -1;
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
    roma_buf v2_body = ROMA_BUF_INIT;
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
    if (url && strstr(url, "/v2/") && client_use_v2(&c, sig, in, &v2_body) != 0) return 1;
    /* bare runs, served requests, their ratios; the worker's Server-Timing parts */
    double *t = malloc(sizeof(double) * (size_t)runs * 7), *served = t + runs, *ratio = t + 2 * runs;
    double *parts[4] = {t + 3 * runs, t + 4 * runs, t + 5 * runs, t + 6 * runs};
    static const char *part_names[4] = {"queue", "convert", "run", "outside"};
    int timed = url != NULL;
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
            const char *st = roma_http_client_header(c.conn, "Server-Timing");
            double inside = 0;
            for (int k = 0; k < 3 && i >= 0; k++) {
                parts[k][i] = timing_us(st, part_names[k]);
                timed = timed && parts[k][i] >= 0;
                inside += parts[k][i];
            }
            if (i >= 0) parts[3][i] = served[i] - inside;
        }
        if (i >= 0) t[i] = bare;
    }
    printf("{\"runs\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f", runs, quantile(t, runs, 0.5),
           quantile(t, runs, 0.99));
    if (url)
        printf(", \"served_p50_us\": %.1f, \"served_p99_us\": %.1f, \"overhead_ratio_p50\": %.4f",
               quantile(served, runs, 0.5), quantile(served, runs, 0.99),
               quantile(ratio, runs, 0.5));
    for (int k = 0; k < 4 && timed; k++)
        printf(", \"served_%s_us\": %.1f", part_names[k], quantile(parts[k], runs, 0.5));
    if (c.header_len[0]) printf(", \"v2_header_len\": %s", c.header_len);
    printf("}\n");
    client_close(&c);
    jt_tensors_free(in, sig->ninputs);
    json_decref(root);
    tfb_model_free(m);
    free(t);
    free(body);
    roma_buf_free(&v2_body);
    return 0;
}

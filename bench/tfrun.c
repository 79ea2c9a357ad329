/* tfrun.c - the cost of a bare TF_SessionRun, as the baseline for the
 * worker benchmark (bench/worker.sh).
 *
 *   build/bench/tfrun SAVED_MODEL_VERSION_DIR REQUEST_JSON [RUNS] [INTRA_OP]
 *
 * Loads the model with the worker's own binding, turns the predict request
 * into tensors once, then times RUNS calls of tfb_run alone (no HTTP, no
 * JSON) and prints p50/p99 in microseconds as one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/file.h"
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

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tfrun SAVED_MODEL_VERSION_DIR REQUEST_JSON [RUNS] [INTRA_OP] "
                        "[SPINNING 0|1]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 1000;
    tfb_options opt = {.intra_op_threads = argc > 4 ? atoi(argv[4]) : 0,
                       .no_spinning = argc > 5 && atoi(argv[5]) == 0};
    tfb_model *m;
    roma_err err;
    json_t *root;
    size_t len;
    char *body = roma_read_file(argv[2], &len);
    TF_Tensor *in[64], *out[64];
    jt_format format;
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
    double *t = malloc(sizeof(double) * (size_t)runs);
    for (int i = -runs / 10; i < runs; i++) { /* the first tenth warms up */
        double start = now_us();
        if (tfb_run(m, sig, in, out, &err) != ROMA_OK) {
            fprintf(stderr, "tfrun: %s\n", err.msg);
            return 1;
        }
        if (i >= 0) t[i] = now_us() - start;
        for (size_t k = 0; k < sig->noutputs; k++) TF_DeleteTensor(out[k]);
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_double);
    printf("{\"runs\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f}\n", runs, t[runs / 2],
           t[(int)(runs * 0.99)]);
    jt_tensors_free(in, sig->ninputs);
    json_decref(root);
    tfb_model_free(m);
    free(t);
    free(body);
    return 0;
}

/* jsonparse.c - what parsing a large predict body costs: jansson's tree
 * (the general path's first step) against the worker's fast path
 * (src/worker/json_fast.h) on one thread and on two (its helper thread).
 *
 *   build/bench/jsonparse REQUEST_JSON [RUNS]
 *
 * Times RUNS parses of each kind (default 30, after one untimed each) and
 * prints one JSON line: the body's size and each kind's median in ms.
 * bench/json.sh runs it on the generated models' request.json files; the
 * README's figure for the fast path comes from it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/file.h"
#include "worker/json_fast.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof(*x), cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* kind 0: jansson tree; 1: fast path, one thread; 2: fast path with helper.
 * Returns the time in ms, or -1 when the parse failed or declined. */
static double parse_once(int kind, const char *body, size_t len, jf_helper *helper) {
    double t0 = now_ms();
    if (kind == 0) {
        json_error_t err;
        json_t *root = json_loadb(body, len, 0, &err);
        if (!root) return -1;
        json_decref(root);
    } else {
        jf_request req;
        if (!jf_parse(body, len, TF_FLOAT, kind == 2 ? helper : NULL, &req)) return -1;
        jf_free(&req);
    }
    return now_ms() - t0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s REQUEST_JSON [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 30;
    if (runs < 1) {
        fprintf(stderr, "jsonparse: RUNS must be a positive number, not '%s'\n", argv[2]);
        return 2;
    }
    size_t len;
    char *body = roma_read_file(argv[1], &len); /* NUL-terminated, as jf_parse needs */
    if (!body) {
        fprintf(stderr, "jsonparse: cannot read %s\n", argv[1]);
        return 1;
    }
    jf_helper *helper = jf_helper_start(JF_SPLIT_MIN_BYTES);
    double *t = malloc(sizeof(double) * (size_t)runs), med[3];
    static const char *names[] = {"jansson_ms", "fast_ms", "fast_two_threads_ms"};
    int rc = 0;
    for (int kind = 0; kind < 3 && rc == 0; kind++) {
        parse_once(kind, body, len, helper); /* warm caches and the allocator */
        for (int i = 0; i < runs && rc == 0; i++)
            if ((t[i] = parse_once(kind, body, len, helper)) < 0) {
                fprintf(stderr, "jsonparse: %s: %s failed or declined the body\n", argv[1], names[kind]);
                rc = 1;
            }
        if (rc == 0) med[kind] = median(t, runs);
    }
    if (rc == 0)
        printf("{\"file\": \"%s\", \"bytes\": %zu, \"runs\": %d, \"%s\": %.2f, \"%s\": %.2f, \"%s\": %.2f}\n",
               argv[1], len, runs, names[0], med[0], names[1], med[1], names[2], med[2]);
    jf_helper_stop(helper);
    free(t);
    free(body);
    return rc;
}

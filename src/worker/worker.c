/* worker.c - `roma worker`: flags, model loading, then the HTTP server.
 *
 * Flags follow tensorflow_model_server (--name=value or --name value).
 * Unlike TF Serving, a model path that holds nothing loadable stops the
 * worker at once with a message naming the path, instead of waiting for a
 * version to appear: a supervisor wants a clear failure, not a silent hang.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/secret.h"
#include "model_config.h"
#include "server.h"
#include "servables.h"

typedef struct {
    const char *model_name, *model_base_path, *model_config_file, *device, *host;
    int rest_api_port, rest_api_num_threads, rest_api_timeout_in_ms;
    int intra_op, inter_op, spinning, max_queued, rest_api_fd, server_timing;
    long max_body_bytes;
} worker_flags;

static void worker_usage(FILE *f) {
    fprintf(f,
            "usage: roma worker [flags]\n"
            "A TensorFlow Serving compatible REST model server (tensorflow_model_server flags).\n"
            "  --rest_api_port=8501               HTTP port\n"
            "  --rest_api_host=0.0.0.0            address to listen on\n"
            "  --model_name=default               name of the model served from --model_base_path\n"
            "  --model_base_path=DIR              DIR/<version>/saved_model.pb (latest version served)\n"
            "  --model_config_file=FILE           ModelServerConfig text: several models, version\n"
            "                                     policies (latest/all/specific), version_labels\n"
            "  --tensorflow_intra_op_parallelism=N  threads inside one op (0: TensorFlow default)\n"
            "  --tensorflow_inter_op_parallelism=N  ops run at once (0: TensorFlow default)\n"
            "  --tensorflow_thread_spinning=1     idle TensorFlow threads spin before sleeping\n"
            "                                     (TensorFlow's default); 0 under a CPU quota,\n"
            "                                     where spinning burns the quota (roma serve)\n"
            "  --rest_api_num_threads=N           concurrent inferences (default: number of CPUs)\n"
            "  --rest_api_timeout_in_ms=30000     connection read/write timeout\n"
            "  --rest_api_max_body_bytes=67108864 larger request bodies are answered 413\n"
            "  --rest_api_max_queued=N            requests waiting for a thread, past which new\n"
            "                                     ones are answered 503 with Retry-After\n"
            "                                     (default: 16 per inference thread)\n"
            "  --device=cpu|gpu:N                 run on the CPU, or only on GPU N\n"
            "  --server_timing=0                  1: answers carry Server-Timing: queue (waiting\n"
            "                                     for a thread), convert (request to tensors and\n"
            "                                     back) and run (TensorFlow), in ms\n"
            "Environment: " ROMA_WORKER_SECRET_ENV "=S (set by roma serve) answers only requests\n"
            "with the header " ROMA_WORKER_SECRET_HEADER ": S, others 403; with also\n"
            ROMA_WORKER_OPEN_STATUS_ENV "=1 (worker pods) GET /v1/models/NAME needs no header.\n");
}

/* Matches "--name=value" or "--name value"; advances *i past what it used. */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0) return NULL;
    if (a[2 + n] == '=') return a + 3 + n;
    if (a[2 + n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int parse_int_flag(const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end || x < lo || x > hi) {
        fprintf(stderr, "roma worker: --%s=%s: expected an integer in [%ld, %ld]\n", name, v, lo,
                hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_flags(int argc, char **argv, worker_flags *f) {
    static const char *ints[] = {"rest_api_port", "rest_api_num_threads",
                                 "rest_api_timeout_in_ms", "tensorflow_intra_op_parallelism",
                                 "tensorflow_inter_op_parallelism", "rest_api_max_body_bytes",
                                 "tensorflow_thread_spinning", "rest_api_max_queued", "rest_api_fd",
                                 "server_timing", "port"};
    static const long hi[] = {65535, 1024, 86400000, 1024, 1024, 1L << 34, 1, 1L << 20, 1L << 30,
                              1, 65535};
    for (int i = 0; i < argc; i++) {
        const char *v;
        long x = 0;
        int matched = 0;
        if ((v = flag_value(argc, argv, &i, "model_name"))) { f->model_name = v; continue; }
        if ((v = flag_value(argc, argv, &i, "model_base_path"))) { f->model_base_path = v; continue; }
        if ((v = flag_value(argc, argv, &i, "model_config_file"))) { f->model_config_file = v; continue; }
        if ((v = flag_value(argc, argv, &i, "device"))) { f->device = v; continue; }
        if ((v = flag_value(argc, argv, &i, "rest_api_host"))) { f->host = v; continue; }
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]) && !matched; k++) {
            if (!(v = flag_value(argc, argv, &i, ints[k]))) continue;
            if (parse_int_flag(ints[k], v, 0, hi[k], &x) != 0) return -1;
            matched = 1;
            switch (k) {
            case 0: f->rest_api_port = (int)x; break;
            case 1: f->rest_api_num_threads = (int)x; break;
            case 2: f->rest_api_timeout_in_ms = (int)x; break;
            case 3: f->intra_op = (int)x; break;
            case 4: f->inter_op = (int)x; break;
            case 5: f->max_body_bytes = x; break;
            case 6: f->spinning = (int)x; break;
            case 7: f->max_queued = (int)x; break;
            case 8: f->rest_api_fd = (int)x; break;
            case 9: f->server_timing = (int)x; break;
            default: roma_warn("--port (gRPC) is ignored: roma worker serves REST only"); break;
            }
        }
        if (matched) continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            worker_usage(stdout);
            exit(0);
        }
        fprintf(stderr, "roma worker: unknown flag '%s' (see roma worker --help)\n", argv[i]);
        return -1;
    }
    return 0;
}

/* --device: cpu hides every GPU; gpu:N shows TensorFlow only GPU N. */
static int apply_device(const char *device, tfb_options *opt) {
    if (strcmp(device, "cpu") == 0) {
        setenv("CUDA_VISIBLE_DEVICES", "", 1);
        return 0;
    }
    char *end;
    if (strncmp(device, "gpu:", 4) == 0 && device[4] && (strtol(device + 4, &end, 10), !*end)) {
        setenv("CUDA_VISIBLE_DEVICES", device + 4, 1);
        opt->gpu = 1;
        return 0;
    }
    fprintf(stderr, "roma worker: --device=%s: expected cpu or gpu:N (e.g. gpu:0)\n", device);
    return -1;
}

static int read_config(const worker_flags *f, mc_config *cfg, roma_err *err) {
    if (!f->model_config_file) return mc_single(f->model_name, f->model_base_path, cfg, err);
    if (f->model_base_path) {
        roma_fail(err, ROMA_INVALID_ARGUMENT,
                  "--model_config_file and --model_base_path both given: use one");
        return ROMA_INVALID_ARGUMENT;
    }
    char *text = roma_read_file(f->model_config_file, NULL);
    if (!text)
        return roma_fail(err, ROMA_NOT_FOUND, "--model_config_file=%s cannot be read",
                         f->model_config_file);
    roma_code rc = mc_parse(text, cfg, err);
    free(text);
    if (rc != ROMA_OK) {
        roma_err inner = *err;
        roma_fail(err, rc, "%s: %s", f->model_config_file, inner.msg);
    }
    return rc;
}

/* The secret of the roma serve that started this worker (common/secret.h),
 * or NULL.  Taken out of the environment before any thread starts, so
 * nothing this process runs later inherits it. */
static const char *take_secret(void) {
    static char secret[ROMA_SECRET_MAX_LEN + 1];
    const char *v = getenv(ROMA_WORKER_SECRET_ENV);
    if (!v || !*v) return NULL;
    snprintf(secret, sizeof(secret), "%s", v);
    unsetenv(ROMA_WORKER_SECRET_ENV);
    return secret;
}

/* ROMA_WORKER_OPEN_STATUS=1 (worker pods: common/secret.h), taken out of
 * the environment like the secret. */
static int take_open_status(void) {
    const char *v = getenv(ROMA_WORKER_OPEN_STATUS_ENV);
    int open = v && strcmp(v, "1") == 0;
    unsetenv(ROMA_WORKER_OPEN_STATUS_ENV);
    return open;
}

int worker_main(int argc, char **argv) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    worker_flags f = {.model_name = "default", .device = "cpu", .host = "0.0.0.0",
                      .rest_api_port = 8501, .rest_api_num_threads = ncpu > 0 ? (int)ncpu : 1,
                      .rest_api_timeout_in_ms = 30000, .max_body_bytes = 64L << 20,
                      .spinning = 1, .rest_api_fd = -1};
    tfb_options topt = {0};
    mc_config cfg;
    sv_registry reg = {0};
    roma_err err;
    const char *secret = take_secret();
    int open_status = take_open_status();
    roma_log_init("roma worker", ROMA_LOG_INFO);
    if (parse_flags(argc, argv, &f) != 0 || apply_device(f.device, &topt) != 0) return 2;
    if (f.rest_api_num_threads < 1) f.rest_api_num_threads = 1;
    topt.intra_op_threads = f.intra_op;
    topt.inter_op_threads = f.inter_op;
    topt.no_spinning = !f.spinning;
    if (read_config(&f, &cfg, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
        return 2;
    }
    int rc = 1;
    if (sv_load(&cfg, &topt, &reg, &err) != ROMA_OK) {
        roma_error("%s", err.msg);
    } else {
        srv_options so = {f.host, f.rest_api_port, f.rest_api_num_threads,
                          f.rest_api_timeout_in_ms, (size_t)f.max_body_bytes, f.max_queued,
                          f.rest_api_fd, secret, open_status, f.server_timing};
        rc = srv_run(&reg, &so);
        sv_free(&reg);
    }
    mc_config_free(&cfg);
    return rc;
}

/* main.c - the `roma` command: one binary, one subcommand per process kind.
 *
 *   roma serve    the control plane: dispatcher, supervisor, controller
 *   roma worker   a TensorFlow-Serving-compatible model server (one model
 *                 server process; `roma serve` starts these)
 *   roma bench    open-loop load against any TF Serving REST endpoint
 *   roma sim      discrete-event simulation of roma serve
 *   roma k8s      Kubernetes manifests for a roma.yaml
 *
 * Only the worker needs TensorFlow, so it is a program of its own,
 * roma-worker, installed next to roma: `roma worker ARGS` execs it.  This
 * binary links no TensorFlow, so the control plane's image and a client
 * machine running `roma bench` carry none and start without its banner.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/file.h"
#include "common/version.h"
#include "k8s/render.h"
#include "serve/serve.h"
#include "sim/sim.h"


static void usage(FILE *f) {
    fprintf(f,
            "usage: roma <command> [flags]\n"
            "ROMA: resource management for TensorFlow inference.\n\n"
            "commands:\n"
            "  serve     the ROMA control plane: SLA-aware dispatch over CPU and GPU workers,\n"
            "            cgroup core control (roma serve -c roma.yaml)\n"
            "  worker    serve SavedModels over TensorFlow Serving's REST API\n"
            "  bench     open-loop load (constant, Poisson, step, ramp, sine, trace) against a\n"
            "            TF Serving REST endpoint; latency percentiles and SLA violations\n"
            "  sim       discrete-event simulation of roma serve (same policies and controllers)\n"
            "            on the nodes, GPUs and models of a scenario (roma sim -c scenario.yaml)\n"
            "  k8s       Kubernetes manifests for a roma.yaml (roma k8s render -c roma.yaml)\n"
            "  version   print the version\n\n"
            "roma <command> --help shows a command's flags.\n");
}

/* `roma worker ARGS`: runs the roma-worker program beside this one with
 * ARGS; returns only when it cannot. */
static int exec_worker(int argc, char **argv) {
    char exe[4096];
    if (roma_sibling_exe("roma-worker", exe, sizeof(exe)) != 0) {
        fprintf(stderr, "roma worker: cannot find this program's directory: %s\n", strerror(errno));
        return 127;
    }
    argv[0] = "roma-worker";
    execv(exe, argv);
    fprintf(stderr,
            "roma worker: cannot run %s: %s; the worker is a separate program (it links "
            "TensorFlow): build it with `make` (build/roma-worker) or install it next to roma\n",
            exe, strerror(errno));
    return 127;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "worker") == 0) return exec_worker(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0) return serve_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0) return bench_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "sim") == 0) return sim_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "k8s") == 0) return k8s_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("roma %s\n", ROMA_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "roma: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

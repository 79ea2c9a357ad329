/* worker_main.c - the roma-worker program: `roma worker` (worker/worker.h),
 * the one ROMA process that runs TensorFlow, as a binary of its own so
 * that roma itself links no TensorFlow.  `roma worker ARGS` and roma
 * serve's supervisor both run it as `roma-worker ARGS`. */
#include "worker/worker.h"

int main(int argc, char **argv) {
    return worker_main(argc - 1, argv + 1);
}

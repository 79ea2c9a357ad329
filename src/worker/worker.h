/* worker.h - `roma worker`: a TensorFlow-Serving-compatible model server.
 * Takes tensorflow_model_server's flags; see worker_usage(). */
#ifndef ROMA_WORKER_H
#define ROMA_WORKER_H

/* Runs the worker; returns the process exit code (0 after a clean stop,
 * 1 when a model cannot be loaded or the port bound, 2 on bad flags). */
int worker_main(int argc, char **argv);

#endif

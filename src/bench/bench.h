/* bench.h - `roma bench`: an open-loop load generator for any TensorFlow
 * Serving REST endpoint (DESIGN.md section 5).
 *
 * The command reads a workload (workload.h: flags or a YAML file), plans
 * its sends (schedule.h), runs them (load.h) and writes the summary and
 * per-request CSV (report.h, with stats.h's definitions).  See
 * bench_main's --help for the flags.
 */
#ifndef ROMA_BENCH_H
#define ROMA_BENCH_H

/* Runs `roma bench` with the arguments after "bench"; returns the process
 * exit code: 0 when the run completed (whatever the server answered), 1
 * when the target could not be reached or the output not written, 2 on a
 * bad flag or workload. */
int bench_main(int argc, char **argv);

#endif

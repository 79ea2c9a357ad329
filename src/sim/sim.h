/* sim.h - the `roma sim` command: a discrete-event simulation of roma serve
 * (same policies, same controllers) for nodes, GPUs and models this machine
 * does not have.  See scenario.h for the input, report.h for the output. */
#ifndef ROMA_SIM_SIM_H
#define ROMA_SIM_SIM_H

/* argv holds the flags after "sim"; returns the exit code: 0, 1 when the
 * output cannot be written, 2 for a bad scenario or flag. */
int sim_main(int argc, char **argv);

#endif

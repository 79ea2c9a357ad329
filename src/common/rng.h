/* rng.h - the one pseudo-random generator of ROMA: splitmix64 (Steele, Lea,
 * Flood 2014).  One add and a mix per draw, good statistical quality, and
 * every seed, 0 included, is a valid state.  The state is the caller's, so
 * a seed always replays one sequence (Poisson schedules of roma bench, the
 * random GPU policy, the simulator's noise).  Pure; any thread, one state
 * per thread. */
#ifndef ROMA_RNG_H
#define ROMA_RNG_H

#include <stdint.h>

/* The next 64 random bits; advances *state. */
uint64_t roma_rng_next(uint64_t *state);

/* Uniform in (0, 1], 53 bits: never 0, so log() of it is finite. */
double roma_rng_unit(uint64_t *state);

#endif

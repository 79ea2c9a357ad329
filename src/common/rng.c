/* rng.c - see rng.h. */
#include "rng.h"

uint64_t roma_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double roma_rng_unit(uint64_t *state) {
    return (double)((roma_rng_next(state) >> 11) + 1) * 0x1.0p-53;
}

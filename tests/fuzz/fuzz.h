/* fuzz.h - shared helpers for the libFuzzer harnesses in tests/fuzz/
 * (header only: `make fuzz` builds every tests/fuzz/fuzz_*.c into its own
 * binary in build-fuzz/fuzz/, with -fsanitize=fuzzer,address,undefined).
 *
 * A harness feeds its parser the fuzzer's bytes and checks the properties
 * the parser promises (round trips, agreement of two paths); a broken
 * promise aborts with FUZZ_CHECK's message, which libFuzzer reports as a
 * crash and saves the input for.
 */
#ifndef ROMA_FUZZ_H
#define ROMA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a crash libFuzzer keeps the input of) when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                     \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__,         \
                    __LINE__, #cond);                                             \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* A NUL-terminated copy of the input (text parsers want C strings; the
 * worker keeps a NUL after every body).  free() it. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif

/* unit.h - shared helpers for ROMA's cmocka unit tests (header only: the
 * Makefile builds every tests/unit/test_*.c into its own binary).
 *
 * Table-driven tests report failures with the table case's name, so a
 * failing row is found without counting lines.
 */
#ifndef ROMA_TEST_UNIT_H
#define ROMA_TEST_UNIT_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

/* Tables below list only the fields a case needs; the rest are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fails the running test, naming the table case and the failed condition. */
#define CASE_CHECK(case_name, cond)                                                         \
    do {                                                                                    \
        if (!(cond)) fail_msg("case '%s': check failed: %s", (case_name), #cond);           \
    } while (0)

#define CASE_CHECK_INT(case_name, got, want)                                                \
    do {                                                                                    \
        long long got_ = (long long)(got), want_ = (long long)(want);                       \
        if (got_ != want_)                                                                  \
            fail_msg("case '%s': %s is %lld, expected %lld", (case_name), #got, got_, want_); \
    } while (0)

#define CASE_CHECK_STR(case_name, got, want)                                                \
    do {                                                                                    \
        const char *got_ = (got), *want_ = (want);                                          \
        if (!got_ || strcmp(got_, want_) != 0)                                              \
            fail_msg("case '%s': %s is \"%s\", expected \"%s\"", (case_name), #got,          \
                     got_ ? got_ : "(null)", want_);                                        \
    } while (0)

/* |got - want| <= tol, naming the table case, the expression and both values. */
#define CHECK_NEAR_TOL(case_name, got, want, tol)                                              \
    do {                                                                                       \
        double got_ = (got), want_ = (want);                                                   \
        if (!(fabs(got_ - want_) <= (tol)))                                                    \
            fail_msg("case '%s': %s is %.12g, expected %.12g (+- %g)", (case_name), #got, got_, \
                     want_, (double)(tol));                                                    \
    } while (0)

/* Equal but for rounding: within 1e-9. */
#define CHECK_NEAR(case_name, got, want) CHECK_NEAR_TOL(case_name, got, want, 1e-9)

/* hay contains needle (needle NULL or "" means: no requirement). */
static inline void check_contains(const char *case_name, const char *hay, const char *needle) {
    if (!needle || !*needle) return;
    if (!hay || !strstr(hay, needle))
        fail_msg("case '%s': \"%s\" does not contain \"%s\"", case_name, hay ? hay : "(null)",
                 needle);
}

/* An error message must say something. */
static inline void check_message(const char *case_name, const char *msg) {
    if (!msg || !*msg) fail_msg("case '%s': the error message is empty", case_name);
}

/* got and want are JSON texts of equal value (numbers compared by value,
 * object keys in any order).  got must be valid JSON. */
static inline void check_json_equal(const char *case_name, const char *got, const char *want) {
    json_error_t e;
    json_t *g = json_loads(got ? got : "", JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!g) fail_msg("case '%s': output is not valid JSON (%s): %s", case_name, e.text, got);
    json_t *w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!w) {
        json_decref(g);
        fail_msg("case '%s': the expected JSON is malformed (%s): %s", case_name, e.text, want);
    }
    int eq = json_equal(g, w);
    json_decref(g);
    json_decref(w);
    if (!eq) fail_msg("case '%s': got %s\n  expected %s", case_name, got, want);
}

/* s with every space removed, into out (for comparing non-JSON output such
 * as bare NaN tokens without depending on the writer's spacing). */
static inline const char *squash_spaces(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; s && *s && n + 1 < cap; s++)
        if (*s != ' ') out[n++] = *s;
    out[n] = '\0';
    return out;
}

/* Runs fn(arg) in a child process and returns its exit status (0: fn
 * returned), or 128 + the signal that killed it.  For calls that may hit
 * undefined behaviour: the sanitizer build aborts on it, and in a child the
 * abort fails one test instead of ending the whole binary. */
#include <sys/wait.h>
#include <unistd.h>
static inline int run_in_child(int (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) _exit(fn(arg));
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) fail_msg("waitpid failed");
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

#endif

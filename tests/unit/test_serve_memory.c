/* test_serve_memory.c - roma serve gives a burst's heap back
 * (serve_trim_due and serve_release_memory, src/serve/serve.h).
 *
 * Covers: the policy trims only when malloc holds at least
 * SERVE_TRIM_MIN_FREE unused and more than twice the bodies still held
 * (not while a burst is on), and serve_release_memory really returns a
 * freed burst of small allocations (what libevent's buffers are) to the
 * system: the process's RSS drops.  The soak found RSS stuck at 350 MB
 * after a burst of 1 MB requests.
 */
#include "unit.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/serve.h"

#define MB ((size_t)1 << 20)

static void test_no_trim_below_the_minimum(void **state) {
    (void)state;
    assert_false(serve_trim_due(100, 0, 0, 0));
    assert_false(serve_trim_due(100, 0, SERVE_TRIM_MIN_FREE - 1, 0));
    assert_true(serve_trim_due(100, 0, SERVE_TRIM_MIN_FREE, 0));
}

static void test_no_trim_while_bodies_are_held(void **state) {
    (void)state;
    /* A burst still queued: its freed memory will be reused at once. */
    assert_false(serve_trim_due(100, 0, 100 * MB, 50 * MB));
    assert_false(serve_trim_due(100, 0, 100 * MB, 200 * MB));
    assert_true(serve_trim_due(100, 0, 100 * MB, 49 * MB));
    assert_true(serve_trim_due(100, 0, 300 * MB, 1 * MB));
}

/* At most one trim per SERVE_TRIM_EVERY_S: malloc's free count stays high
 * after a trim, so without this every period would trim. */
static void test_at_most_one_trim_per_interval(void **state) {
    (void)state;
    assert_false(serve_trim_due(100, 100, 300 * MB, 0));
    assert_false(serve_trim_due(100 + SERVE_TRIM_EVERY_S - 0.1, 100, 300 * MB, 0));
    assert_true(serve_trim_due(100 + SERVE_TRIM_EVERY_S, 100, 300 * MB, 0));
}

static size_t rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* 4 KB chunks, 64 MB in all, freed but the last (which pins the heap's
 * top, as a live connection's buffer does): without a trim RSS keeps them.
 * Under ASan malloc is the sanitizer's (its mallinfo2 says nothing is
 * free), so there this only checks that the call is harmless. */
static void test_release_returns_a_freed_burst(void **state) {
    (void)state;
    enum { CHUNK = 4096, N = 64 * 256 };
    char **chunks = malloc(N * sizeof(*chunks));
    assert_non_null(chunks);
    for (int i = 0; i < N; i++) {
        chunks[i] = malloc(CHUNK);
        assert_non_null(chunks[i]);
        memset(chunks[i], 1, CHUNK);
    }
    for (int i = 0; i < N - 1; i++) free(chunks[i]);
    size_t before = rss_bytes();
    serve_state s;
    memset(&s, 0, sizeof(s));
    serve_release_memory(&s);
    size_t after = rss_bytes();
    free(chunks[N - 1]);
    free(chunks);
#ifndef UNDER_ASAN
    assert_true(s.last_trim > 0);
    if (before <= after + 32 * MB)
        fail_msg("RSS %zu MB before serve_release_memory, %zu MB after: the freed 64 MB stayed",
                 before / MB, after / MB);
#else
    (void)before, (void)after;
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_trim_below_the_minimum),
        cmocka_unit_test(test_no_trim_while_bodies_are_held),
        cmocka_unit_test(test_at_most_one_trim_per_interval),
        cmocka_unit_test(test_release_returns_a_freed_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_serve_clock.c - the clocks of roma serve (serve_now and
 * serve_unix_time, src/serve/serve.h).
 *
 * Covers: serve_now() runs on CLOCK_MONOTONIC (it used to read the wall
 * clock, so a clock step bent response times, violation counts and the
 * controller's input), and serve_unix_time turns its values into UNIX
 * seconds with one offset: the current time within a second, and the
 * spacing of two instants kept exactly.
 */
#include "unit.h"

#include <time.h>

#include "serve/serve.h"

static double clock_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_now_is_monotonic_time(void **state) {
    (void)state;
    double before = clock_s(CLOCK_MONOTONIC), now = serve_now(), after = clock_s(CLOCK_MONOTONIC);
    assert_true(before <= now && now <= after);
}

static void test_unix_time_of_now_is_the_wall_clock(void **state) {
    (void)state;
    double wall = clock_s(CLOCK_REALTIME), unix_now = serve_unix_time(serve_now());
    assert_true(fabs(unix_now - wall) < 1.0);
    assert_true(fabs(serve_unix_time(100.25) - serve_unix_time(100.0) - 0.25) < 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_is_monotonic_time),
        cmocka_unit_test(test_unix_time_of_now_is_the_wall_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

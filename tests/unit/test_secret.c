/* test_secret.c - shared secrets (src/common/secret.h).
 *
 * Covers: a fresh secret is 64 lowercase hex digits and two draws differ;
 * roma_secret_equal accepts only the exact secret (not a prefix, a longer
 * string, one changed byte at either end, an empty or NULL guess);
 * roma_secret_read_file cuts trailing white space, refuses tokens too
 * short or too long or with spaces or control bytes, a missing file
 * (NOT_FOUND) and a directory, each with a message naming the path, and
 * flags a file others may read; roma_secret_load_or_create makes the file
 * with mode 0600 at first call and returns the same token from it later,
 * and never writes through a symlink placed at the path;
 * roma_secret_check (a secret from the environment) takes the text as is
 * and refuses one too short, too long, or with a space or a line end.
 */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/secret.h"

static char dir[64];

static int dir_setup(void **state) {
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/roma-secret-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state) {
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_random_is_hex_and_fresh(void **state) {
    char a[ROMA_SECRET_HEX_LEN + 1], b[ROMA_SECRET_HEX_LEN + 1];
    roma_err err;
    (void)state;
    assert_int_equal(roma_secret_random(a, &err), ROMA_OK);
    assert_int_equal(roma_secret_random(b, &err), ROMA_OK);
    assert_int_equal(strlen(a), ROMA_SECRET_HEX_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), ROMA_SECRET_HEX_LEN);
    assert_string_not_equal(a, b);
}

static void test_equal_only_the_exact_secret(void **state) {
    static const struct {
        const char *name, *given;
        int want;
    } cases[] = {
        {"same", "0123456789abcdef", 1},
        {"last byte", "0123456789abcdeF", 0},
        {"first byte", "1123456789abcdef", 0},
        {"prefix", "0123456789abcde", 0},
        {"longer", "0123456789abcdef0", 0},
        {"empty", "", 0},
        {"NULL", NULL, 0},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CASE_CHECK_INT(cases[i].name,
                       roma_secret_equal(cases[i].given,
                                         cases[i].given ? strlen(cases[i].given) : 0,
                                         "0123456789abcdef"),
                       cases[i].want);
    /* given_len, not a NUL, ends the guess: a header value is not cut */
    assert_int_equal(roma_secret_equal("0123456789abcdefXX", 16, "0123456789abcdef"), 1);
    assert_int_equal(roma_secret_equal("", 0, ""), 1); /* callers refuse empty secrets */
}

static void test_read_file(void **state) {
    static const struct {
        const char *name, *text;
        roma_code code;
        const char *want, *msg;
    } cases[] = {
        {"newline cut", "abcdefghijklmnop\n", ROMA_OK, "abcdefghijklmnop", NULL},
        {"crlf and blanks cut", "abcdefghijklmnopq \t\r\n", ROMA_OK, "abcdefghijklmnopq", NULL},
        {"too short", "abc\n", ROMA_INVALID_ARGUMENT, NULL, "holds 3 characters"},
        {"empty", "", ROMA_INVALID_ARGUMENT, NULL, "holds 0 characters"},
        {"inner space", "abcdefgh ijklmnop", ROMA_INVALID_ARGUMENT, NULL, "byte 9"},
        {"two lines", "abcdefghijklmnop\nqrstuvwxyz", ROMA_INVALID_ARGUMENT, NULL, "one line"},
    };
    char path[128], out[ROMA_SECRET_MAX_LEN + 1];
    roma_err err;
    int loose;
    (void)state;
    snprintf(path, sizeof(path), "%s/token", dir);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        write_file(path, cases[i].text, 0600);
        err.msg[0] = '\0';
        roma_code rc = roma_secret_read_file(path, out, sizeof(out), &loose, &err);
        CASE_CHECK_INT(cases[i].name, rc, cases[i].code);
        if (rc == ROMA_OK) {
            CASE_CHECK_STR(cases[i].name, out, cases[i].want);
            CASE_CHECK_INT(cases[i].name, loose, 0);
        } else {
            check_contains(cases[i].name, err.msg, path);
            check_contains(cases[i].name, err.msg, cases[i].msg);
        }
    }
    char *long_token = malloc(ROMA_SECRET_MAX_LEN + 2);
    memset(long_token, 'a', ROMA_SECRET_MAX_LEN + 1);
    long_token[ROMA_SECRET_MAX_LEN + 1] = '\0';
    write_file(path, long_token, 0600);
    assert_int_equal(roma_secret_read_file(path, out, sizeof(out), &loose, &err),
                     ROMA_INVALID_ARGUMENT);
    long_token[ROMA_SECRET_MAX_LEN] = '\0'; /* the longest accepted */
    write_file(path, long_token, 0600);
    assert_int_equal(roma_secret_read_file(path, out, sizeof(out), &loose, &err), ROMA_OK);
    assert_string_equal(out, long_token);
    free(long_token);

    write_file(path, "abcdefghijklmnop", 0644);
    assert_int_equal(roma_secret_read_file(path, out, sizeof(out), &loose, &err), ROMA_OK);
    assert_int_equal(loose, 1);

    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(roma_secret_read_file(path, out, sizeof(out), &loose, &err), ROMA_NOT_FOUND);
    check_contains("missing", err.msg, path);
    assert_int_equal(roma_secret_read_file(dir, out, sizeof(out), &loose, &err),
                     ROMA_INVALID_ARGUMENT);
    check_contains("directory", err.msg, "not a regular file");
}

static void test_load_or_create_makes_0600_then_reuses(void **state) {
    char path[128], first[ROMA_SECRET_MAX_LEN + 1], again[ROMA_SECRET_MAX_LEN + 1];
    roma_err err;
    int created, loose;
    struct stat st;
    (void)state;
    snprintf(path, sizeof(path), "%s/roma.token", dir);
    assert_int_equal(roma_secret_load_or_create(path, first, sizeof(first), &created, &loose, &err),
                     ROMA_OK);
    assert_int_equal(created, 1);
    assert_int_equal(loose, 0);
    assert_int_equal(strlen(first), ROMA_SECRET_HEX_LEN);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, ROMA_SECRET_HEX_LEN + 1); /* the token and a newline */

    assert_int_equal(roma_secret_load_or_create(path, again, sizeof(again), &created, &loose, &err),
                     ROMA_OK);
    assert_int_equal(created, 0);
    assert_string_equal(first, again);
}

static void test_check(void **state) {
    roma_err err;
    char long_one[ROMA_SECRET_MAX_LEN + 2];
    memset(long_one, 'a', sizeof(long_one) - 1);
    long_one[sizeof(long_one) - 1] = '\0';
    assert_int_equal(roma_secret_check("S", "0123456789abcdef", &err), ROMA_OK);
    static const struct {
        const char *text, *want;
    } bad[] = {{"", "S holds 0 characters"},
               {"0123456789abcde", "S holds 15 characters"},
               {"0123456789abcdef\n", "S: a secret is printable characters without spaces or line "
                                     "ends, and byte 17 is not (a Kubernetes Secret made from a file"},
               {"0123456789 abcdef", "byte 11 is not"}};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CASE_CHECK_INT(bad[i].want, roma_secret_check("S", bad[i].text, &err), ROMA_INVALID_ARGUMENT);
        check_contains(bad[i].want, err.msg, bad[i].want);
    }
    assert_int_equal(roma_secret_check("S", long_one, &err), ROMA_INVALID_ARGUMENT);
    check_contains("long", err.msg, "257 characters; a secret has 16 to 256");
}

static void test_load_or_create_errors(void **state) {
    char path[128], target[128], out[ROMA_SECRET_MAX_LEN + 1];
    roma_err err;
    int created, loose;
    (void)state;
    /* a dangling symlink at the path: nothing is written where it points */
    snprintf(path, sizeof(path), "%s/roma.token", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_not_equal(roma_secret_load_or_create(path, out, sizeof(out), &created, &loose, &err),
                         ROMA_OK);
    assert_int_equal(access(target, F_OK), -1);
    check_contains("symlink", err.msg, path);

    snprintf(path, sizeof(path), "%s/no_such_dir/roma.token", dir);
    assert_int_not_equal(roma_secret_load_or_create(path, out, sizeof(out), &created, &loose, &err),
                         ROMA_OK);
    check_contains("no dir", err.msg, path);
    check_contains("no dir", err.msg, "ops.token_file");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_is_hex_and_fresh),
        cmocka_unit_test(test_equal_only_the_exact_secret),
        cmocka_unit_test(test_check),
        cmocka_unit_test_setup_teardown(test_read_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_or_create_makes_0600_then_reuses, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_or_create_errors, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

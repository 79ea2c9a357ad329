/* test_cgroup.c - the CPU-quota actuator (src/serve/cgroup.h).
 *
 * Covers, on fake hierarchies (plain directories in a mkdtemp tree that
 * stand in for cgroupfs: a v1 tree with cpu.cfs_quota_us, cpu.cfs_period_us
 * and cgroup.procs, a v2 tree with cgroup.controllers, cgroup.subtree_control
 * and cgroup.procs):
 *   - cg_detect_at: v1 only, v2 only, both (v2 wins), a hybrid v2 without the
 *     cpu controller (falls back to v1 and says why), none (reason names both
 *     roots), a v1 root without cpu.cfs_quota_us, an unwritable root (as an
 *     unprivileged user), and that the probe leaves no group behind;
 *   - cg_create: nested groups, reuse, stand-in control files, v2 enabling
 *     +cpu in every ancestor but not in the leaf, bad group names;
 *   - cg_set_cores / cg_get_cores for 0.25, 0.5, 1.5, 2 and unlimited on both
 *     layouts (the exact file contents the kernel would get), quota rounding
 *     and the 1000 us minimum, out-of-range cores, other kernel formats read
 *     back, unparsable files;
 *   - actionable errors: a missing group, a group without the cpu
 *     controller, an unwritable control file, a host without cgroups;
 *   - cg_add_pid, cg_remove (moves processes to the parent, refuses groups
 *     with children and paths outside the base, idempotent);
 *   - cg_pin_cpus on a two-thread child process (CPU count, spreading by
 *     `first`);
 *   - cg_detect on this host (whatever it finds must be consistent), and one
 *     REAL test on the kernel's hierarchy, run only as root where cg_detect
 *     finds a writable one: create, 0.5 cores read back, a child process
 *     moved in and seen in /proc/PID/cgroup, removal while it still runs,
 *     clean-up.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/cgroup.h"

/* ---- fake trees ------------------------------------------------------- */

typedef struct {
    char root[64]; /* the mkdtemp directory */
    char v1[128];  /* root/v1: a fake v1 cpu hierarchy (once made) */
    char v2[128];  /* root/v2: a fake v2 hierarchy (once made) */
} fake;

static void put(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot create %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* Contents of dir/name (static buffer), or "(missing)". */
static const char *slurp(const char *dir, const char *name) {
    static char buf[4096];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return "(missing)";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void make_v1(fake *f) {
    snprintf(f->v1, sizeof(f->v1), "%s/v1", f->root);
    assert_int_equal(mkdir(f->v1, 0755), 0);
    put(f->v1, "cpu.cfs_quota_us", "-1\n");
    put(f->v1, "cpu.cfs_period_us", "100000\n");
    put(f->v1, "cgroup.procs", "1\n");
}

static void make_v2(fake *f, const char *controllers) {
    snprintf(f->v2, sizeof(f->v2), "%s/v2", f->root);
    assert_int_equal(mkdir(f->v2, 0755), 0);
    put(f->v2, "cgroup.controllers", controllers);
    put(f->v2, "cgroup.subtree_control", "");
    put(f->v2, "cgroup.procs", "1\n");
}

static int setup(void **state) {
    fake *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/roma-cgroup-XXXXXX");
    if (!mkdtemp(f->root)) return free(f), -1;
    chmod(f->root, 0755); /* the unprivileged-user tests must reach it */
    snprintf(f->v1, sizeof(f->v1), "%s/v1", f->root);
    snprintf(f->v2, sizeof(f->v2), "%s/v2", f->root);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int teardown(void **state) {
    fake *f = *state;
    nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void detect_fake(const char *v1, const char *v2, cg_system *sys) {
    roma_err err = {{0}};
    roma_code rc = cg_detect_at(v1, v2, sys, &err);
    if (rc != ROMA_OK) fail_msg("cg_detect_at failed (%d): %s", rc, err.msg);
}

/* dir holds no subdirectory (the probe cleaned up after itself). */
static void check_no_groups(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -mindepth 1 -type d)\"", dir);
    if (system(cmd) != 0) fail_msg("groups left behind under %s", dir);
}

static void create_ok(const cg_system *sys, const char *group, char *path, size_t cap) {
    roma_err err = {{0}};
    roma_code rc = cg_create(sys, group, path, cap, &err);
    if (rc != ROMA_OK) fail_msg("cg_create(%s) failed (%d): %s", group, rc, err.msg);
}

/* A fake tree of the given layout (v2: cpu available), detected, with the
 * group roma-8501/resnet created at path. */
static void fake_group(fake *f, cg_mode mode, cg_system *sys, char *path, size_t cap) {
    if (mode == CG_V1)
        make_v1(f);
    else
        make_v2(f, "cpu\n");
    detect_fake(mode == CG_V1 ? f->v1 : NULL, mode == CG_V2 ? f->v2 : NULL, sys);
    assert_int_equal(sys->mode, mode);
    create_ok(sys, "roma-8501/resnet", path, cap);
}

/* ---- detection -------------------------------------------------------- */

static void test_detect_v1(void **state) {
    fake *f = *state;
    make_v1(f);
    cg_system sys;
    detect_fake(f->v1, NULL, &sys);
    assert_int_equal(sys.mode, CG_V1);
    assert_string_equal(sys.base, f->v1);
    assert_true(sys.plain_dirs);
    assert_string_equal(sys.reason, "");
    assert_string_equal(cg_mode_name(sys.mode), "cgroup v1");
    check_no_groups(f->v1);
    assert_string_equal(slurp(f->v1, "cpu.cfs_quota_us"), "-1\n"); /* root untouched */
}

static void test_detect_v2(void **state) {
    fake *f = *state;
    make_v2(f, "cpuset cpu io memory pids\n");
    cg_system sys;
    detect_fake(f->v1 /* absent */, f->v2, &sys);
    assert_int_equal(sys.mode, CG_V2);
    assert_string_equal(sys.base, f->v2);
    assert_string_equal(cg_mode_name(sys.mode), "cgroup v2");
    /* the probe had to delegate cpu to the root's children */
    assert_string_equal(slurp(f->v2, "cgroup.subtree_control"), "+cpu\n");
    check_no_groups(f->v2);
}

static void test_detect_prefers_v2(void **state) {
    fake *f = *state;
    make_v1(f);
    make_v2(f, "cpu\n");
    cg_system sys;
    detect_fake(f->v1, f->v2, &sys);
    assert_int_equal(sys.mode, CG_V2);
    assert_string_equal(sys.reason, "");
}

/* This development host's layout: v2 mounted, cpu bound to v1. */
static void test_detect_hybrid_without_v2_cpu(void **state) {
    fake *f = *state;
    make_v1(f);
    make_v2(f, "hugetlb\n");
    cg_system sys;
    detect_fake(f->v1, f->v2, &sys);
    assert_int_equal(sys.mode, CG_V1);
    assert_string_equal(sys.base, f->v1);
    check_contains("hybrid", sys.reason, "no cpu controller");
    check_contains("hybrid", sys.reason, "hugetlb");
    check_no_groups(f->v2);
}

static void test_detect_none(void **state) {
    fake *f = *state;
    cg_system sys;
    detect_fake(f->v1, f->v2, &sys); /* neither exists */
    assert_int_equal(sys.mode, CG_NONE);
    assert_string_equal(sys.base, "");
    assert_string_equal(cg_mode_name(sys.mode), "none");
    check_contains("none", sys.reason, "no writable cgroup cpu controller");
    check_contains("none", sys.reason, f->v1);
    check_contains("none", sys.reason, f->v2);

    /* every operation refuses, quoting the reason */
    char path[256];
    roma_err err = {{0}};
    assert_int_equal(cg_create(&sys, "roma-8501/m", path, sizeof(path), &err),
                     ROMA_FAILED_PRECONDITION);
    check_contains("none create", err.msg, "not available on this host");
    check_contains("none create", err.msg, f->v1);
    double cores;
    assert_int_equal(cg_set_cores(&sys, "/x", 1, &err), ROMA_FAILED_PRECONDITION);
    assert_int_equal(cg_get_cores(&sys, "/x", &cores, &err), ROMA_FAILED_PRECONDITION);
    assert_int_equal(cg_add_pid(&sys, "/x", 1, &err), ROMA_FAILED_PRECONDITION);
    assert_int_equal(cg_remove(&sys, "/x", &err), ROMA_FAILED_PRECONDITION);
    assert_int_equal(cg_detect_at(NULL, NULL, NULL, &err), ROMA_INVALID_ARGUMENT);
}

static void test_detect_v1_root_without_quota_file(void **state) {
    fake *f = *state;
    make_v1(f);
    char path[256];
    snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", f->v1);
    unlink(path);
    cg_system sys;
    detect_fake(f->v1, NULL, &sys);
    assert_int_equal(sys.mode, CG_NONE);
    check_contains("no quota file", sys.reason, "cpu.cfs_quota_us");
    check_contains("no quota file", sys.reason, "CFS bandwidth");
}

/* ---- as an unprivileged user (root drops to nobody in a child) ------- */

#define CHILD_SKIP 77

/* In a forked child: become an ordinary user if root.  False: cannot. */
static bool become_unprivileged(void) {
    if (geteuid() != 0) return true;
    return setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
           setresuid(65534, 65534, 65534) == 0;
}

static int child_detect_unwritable(void *arg) {
    fake *f = arg;
    if (!become_unprivileged()) return CHILD_SKIP;
    cg_system sys;
    roma_err err = {{0}};
    if (cg_detect_at(f->v1, NULL, &sys, &err) != ROMA_OK) return 1;
    if (sys.mode != CG_NONE) return 2;
    if (!strstr(sys.reason, "Permission denied") || !strstr(sys.reason, "as root")) {
        fprintf(stderr, "reason: %s\n", sys.reason);
        return 3;
    }
    return 0;
}

static void test_detect_unwritable(void **state) {
    fake *f = *state;
    make_v1(f);
    chmod(f->v1, 0555);
    int rc = run_in_child(child_detect_unwritable, f);
    chmod(f->v1, 0755);
    if (rc == CHILD_SKIP) skip();
    assert_int_equal(rc, 0);
}

typedef struct {
    cg_system sys;
    char path[256];
} group_arg;

static int child_set_unwritable(void *arg) {
    const group_arg *g = arg;
    if (!become_unprivileged()) return CHILD_SKIP;
    roma_err err = {{0}};
    roma_code rc = cg_set_cores(&g->sys, g->path, 0.5, &err);
    if (rc != ROMA_PERMISSION_DENIED || !strstr(err.msg, "cpu.max") ||
        !strstr(err.msg, "Permission denied") || !strstr(err.msg, "run roma serve as root")) {
        fprintf(stderr, "code %d, message: %s\n", rc, err.msg);
        return 1;
    }
    return 0;
}

static void test_error_unwritable_file(void **state) {
    fake *f = *state;
    group_arg g;
    char file[300];
    fake_group(f, CG_V2, &g.sys, g.path, sizeof(g.path));
    snprintf(file, sizeof(file), "%s/cpu.max", g.path);
    assert_int_equal(chmod(file, 0444), 0);
    int rc = run_in_child(child_set_unwritable, &g);
    if (rc == CHILD_SKIP) skip();
    assert_int_equal(rc, 0);
    assert_string_equal(slurp(g.path, "cpu.max"), "max 100000\n"); /* unchanged */
}

/* ---- create ----------------------------------------------------------- */

static void test_create_v1(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256], want[256], again[256], other[256];
    fake_group(f, CG_V1, &sys, path, sizeof(path));
    snprintf(want, sizeof(want), "%s/roma-8501/resnet", f->v1);
    assert_string_equal(path, want);
    assert_true(exists(path));
    /* the stand-in control files, as the kernel shows a new group */
    assert_string_equal(slurp(path, "cpu.cfs_quota_us"), "-1\n");
    assert_string_equal(slurp(path, "cpu.cfs_period_us"), "100000\n");
    assert_string_equal(slurp(path, "cgroup.procs"), "");
    create_ok(&sys, "roma-8501/resnet", again, sizeof(again)); /* reused */
    assert_string_equal(again, path);
    create_ok(&sys, "roma-8501/mnist", other, sizeof(other));
    assert_true(exists(other));
    assert_string_equal(slurp(f->v1, "cgroup.subtree_control"), "(missing)"); /* v2 only */

    roma_err err = {{0}};
    char tiny[8];
    assert_int_equal(cg_create(&sys, "roma-8501/resnet", tiny, sizeof(tiny), &err),
                     ROMA_INVALID_ARGUMENT);
    check_contains("tiny", err.msg, "too long");
}

static void test_create_v2_enables_cpu_in_ancestors(void **state) {
    fake *f = *state;
    make_v2(f, "cpu memory\n");
    put(f->v2, "cgroup.subtree_control", "memory\n");
    cg_system sys;
    detect_fake(NULL, f->v2, &sys);
    char path[256], parent[256];
    create_ok(&sys, "roma-8501/resnet", path, sizeof(path));
    snprintf(parent, sizeof(parent), "%s/roma-8501", f->v2);
    assert_string_equal(slurp(f->v2, "cgroup.subtree_control"), "+cpu\n");
    assert_string_equal(slurp(parent, "cgroup.subtree_control"), "+cpu\n");
    /* not in the leaf: v2 would then refuse the worker's pid */
    assert_string_equal(slurp(path, "cgroup.subtree_control"), "");
    assert_string_equal(slurp(path, "cpu.max"), "max 100000\n");

    /* an ancestor that already lists cpu is not written again */
    put(parent, "cgroup.subtree_control", "cpu memory\n");
    create_ok(&sys, "roma-8501/mnist", path, sizeof(path));
    assert_string_equal(slurp(parent, "cgroup.subtree_control"), "cpu memory\n");
}

static void test_create_bad_names(void **state) {
    fake *f = *state;
    make_v1(f);
    cg_system sys;
    detect_fake(f->v1, NULL, &sys);
    static const char *bad[] = {"", "/roma-8501/m", "a//b", "a/../b", "..", "a/", "./a", "a/."};
    char path[256];
    roma_err err;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err.msg[0] = '\0';
        CASE_CHECK_INT(bad[i], cg_create(&sys, bad[i], path, sizeof(path), &err),
                       ROMA_INVALID_ARGUMENT);
        check_contains(bad[i], err.msg, "'roma-8501/resnet'");
    }
    assert_int_equal(cg_create(&sys, NULL, path, sizeof(path), &err), ROMA_INVALID_ARGUMENT);
    /* a name taken by a control file */
    assert_int_equal(cg_create(&sys, "cgroup.procs", path, sizeof(path), &err),
                     ROMA_ALREADY_EXISTS);
    check_contains("control file", err.msg, "not a directory");
    check_no_groups(f->v1);
}

/* ---- cores ------------------------------------------------------------ */

typedef struct {
    const char *name;
    double cores;
    const char *v1_quota; /* cpu.cfs_quota_us after the write */
    const char *v2_max;   /* cpu.max after the write */
    double back;          /* cg_get_cores; < 0: unlimited */
} cores_case;

static const cores_case cores_cases[] = {
    {"quarter", 0.25, "25000\n", "25000 100000\n", 0.25},
    {"half", 0.5, "50000\n", "50000 100000\n", 0.5},
    {"one and a half", 1.5, "150000\n", "150000 100000\n", 1.5},
    {"two", 2, "200000\n", "200000 100000\n", 2},
    {"many", 96, "9600000\n", "9600000 100000\n", 96},
    {"zero is unlimited", 0, "-1\n", "max 100000\n", -1},
    {"negative is unlimited", -3, "-1\n", "max 100000\n", -1},
    {"rounds up", 0.123456, "12346\n", "12346 100000\n", 0.12346},
    {"rounds down", 1.0 / 3, "33333\n", "33333 100000\n", 0.33333},
    {"just above the minimum", 0.0149, "1490\n", "1490 100000\n", 0.0149},
    {"the minimum", 0.01, "1000\n", "1000 100000\n", 0.01},
    {"below the minimum", 0.005, "1000\n", "1000 100000\n", 0.01},
    {"tiny", 1e-9, "1000\n", "1000 100000\n", 0.01},
};

static void check_cores_case(const cg_system *sys, const char *path, const cores_case *c) {
    roma_err err = {{0}};
    roma_code rc = cg_set_cores(sys, path, c->cores, &err);
    if (rc != ROMA_OK) fail_msg("case '%s': cg_set_cores failed: %s", c->name, err.msg);
    if (sys->mode == CG_V1) {
        CASE_CHECK_STR(c->name, slurp(path, "cpu.cfs_quota_us"), c->v1_quota);
        CASE_CHECK_STR(c->name, slurp(path, "cpu.cfs_period_us"), "100000\n");
    } else {
        CASE_CHECK_STR(c->name, slurp(path, "cpu.max"), c->v2_max);
    }
    double got = 0;
    rc = cg_get_cores(sys, path, &got, &err);
    if (rc != ROMA_OK) fail_msg("case '%s': cg_get_cores failed: %s", c->name, err.msg);
    if (c->back < 0)
        CASE_CHECK(c->name, got < 0);
    else
        CASE_CHECK(c->name, fabs(got - c->back) < 1e-9);
}

static void check_cores_table(fake *f, cg_mode mode) {
    cg_system sys;
    char path[256];
    fake_group(f, mode, &sys, path, sizeof(path));
    for (size_t i = 0; i < ARRAY_LEN(cores_cases); i++)
        check_cores_case(&sys, path, &cores_cases[i]);
}

static void test_cores_v1(void **state) { check_cores_table(*state, CG_V1); }

static void test_cores_v2(void **state) { check_cores_table(*state, CG_V2); }

static void test_cores_out_of_range(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256];
    fake_group(f, CG_V2, &sys, path, sizeof(path));
    assert_int_equal(cg_set_cores(&sys, path, 0.5, NULL), ROMA_OK);
    const double bad[] = {NAN, INFINITY, 2e6};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        roma_err err = {{0}};
        assert_int_equal(cg_set_cores(&sys, path, bad[i], &err), ROMA_INVALID_ARGUMENT);
        check_contains("out of range", err.msg, "out of range");
        assert_string_equal(slurp(path, "cpu.max"), "50000 100000\n"); /* unchanged */
    }
}

/* What the kernel may hold when someone else wrote it (other periods). */
static void test_get_cores_kernel_formats(void **state) {
    fake *f = *state;
    cg_system s1, s2;
    char p1[256], p2[256];
    fake_group(f, CG_V1, &s1, p1, sizeof(p1));
    fake_group(f, CG_V2, &s2, p2, sizeof(p2));
    double got;
    put(p1, "cpu.cfs_quota_us", "150000\n");
    put(p1, "cpu.cfs_period_us", "50000\n");
    assert_int_equal(cg_get_cores(&s1, p1, &got, NULL), ROMA_OK);
    assert_true(fabs(got - 3.0) < 1e-12);
    put(p2, "cpu.max", "max 50000\n");
    assert_int_equal(cg_get_cores(&s2, p2, &got, NULL), ROMA_OK);
    assert_true(got < 0);
    put(p2, "cpu.max", "12345 50000\n");
    assert_int_equal(cg_get_cores(&s2, p2, &got, NULL), ROMA_OK);
    assert_true(fabs(got - 0.2469) < 1e-12);
}

static void test_get_cores_unparsable(void **state) {
    fake *f = *state;
    cg_system s1, s2;
    char p1[256], p2[256];
    fake_group(f, CG_V1, &s1, p1, sizeof(p1));
    fake_group(f, CG_V2, &s2, p2, sizeof(p2));
    static const char *bad_v2[] = {"abc\n",       "100000\n", "50000 0\n", "50000 100000 7\n",
                                   "5x 100000\n", ""};
    double got;
    roma_err err;
    for (size_t i = 0; i < ARRAY_LEN(bad_v2); i++) {
        put(p2, "cpu.max", bad_v2[i]);
        CASE_CHECK_INT(bad_v2[i], cg_get_cores(&s2, p2, &got, &err), ROMA_INTERNAL);
        check_contains(bad_v2[i], err.msg, "cpu.max");
        check_contains(bad_v2[i], err.msg, "'QUOTA PERIOD' or 'max PERIOD'");
    }
    put(p1, "cpu.cfs_quota_us", "lots\n");
    assert_int_equal(cg_get_cores(&s1, p1, &got, &err), ROMA_INTERNAL);
    check_contains("v1 quota", err.msg, "'lots'");
    put(p1, "cpu.cfs_quota_us", "5000\n");
    put(p1, "cpu.cfs_period_us", "0\n");
    assert_int_equal(cg_get_cores(&s1, p1, &got, &err), ROMA_INTERNAL);
    check_contains("v1 period", err.msg, "cpu.cfs_period_us");
}

/* ---- errors users meet ------------------------------------------------ */

static void test_error_missing_group(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256];
    fake_group(f, CG_V2, &sys, path, sizeof(path));
    snprintf(path, sizeof(path), "%s/roma-8501/gone", f->v2);
    roma_err err = {{0}};
    double got;
    assert_int_equal(cg_set_cores(&sys, path, 1, &err), ROMA_NOT_FOUND);
    check_contains("set", err.msg, path);
    check_contains("set", err.msg, "create it with cg_create");
    err.msg[0] = '\0';
    assert_int_equal(cg_get_cores(&sys, path, &got, &err), ROMA_NOT_FOUND);
    check_contains("get", err.msg, "does not exist");
    err.msg[0] = '\0';
    assert_int_equal(cg_add_pid(&sys, path, getpid(), &err), ROMA_NOT_FOUND);
    check_contains("add", err.msg, path);
}

static void test_error_no_cpu_controller(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256];
    fake_group(f, CG_V2, &sys, path, sizeof(path));
    snprintf(path, sizeof(path), "%s/plain", f->v2);
    assert_int_equal(mkdir(path, 0755), 0); /* a group without cpu.max */
    roma_err err = {{0}};
    assert_int_equal(cg_set_cores(&sys, path, 1, &err), ROMA_NOT_FOUND);
    check_contains("no cpu.max", err.msg, "has no cpu.max");
    check_contains("no cpu.max", err.msg, "cgroup.subtree_control must list cpu");
}

/* ---- processes -------------------------------------------------------- */

static void test_add_pid(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256];
    fake_group(f, CG_V2, &sys, path, sizeof(path));
    assert_int_equal(cg_add_pid(&sys, path, 1234, NULL), ROMA_OK);
    assert_int_equal(cg_add_pid(&sys, path, 5678, NULL), ROMA_OK);
    assert_string_equal(slurp(path, "cgroup.procs"), "1234\n5678\n");
    roma_err err = {{0}};
    assert_int_equal(cg_add_pid(&sys, path, 0, &err), ROMA_INVALID_ARGUMENT);
    check_contains("pid 0", err.msg, "bad process id 0");
    assert_int_equal(cg_add_pid(&sys, path, -5, &err), ROMA_INVALID_ARGUMENT);
}

static void test_remove_moves_pids_to_parent(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256], parent[256];
    fake_group(f, CG_V1, &sys, path, sizeof(path));
    snprintf(parent, sizeof(parent), "%s/roma-8501", f->v1);
    put(path, "cgroup.procs", "111\n222\n");
    roma_err err = {{0}};
    if (cg_remove(&sys, path, &err) != ROMA_OK) fail_msg("cg_remove: %s", err.msg);
    assert_false(exists(path));
    assert_string_equal(slurp(parent, "cgroup.procs"), "111\n222\n");
    put(parent, "cgroup.procs", "");
    assert_int_equal(cg_remove(&sys, parent, &err), ROMA_OK); /* the caller's second call */
    assert_false(exists(parent));
    assert_true(exists(f->v1));
    assert_int_equal(cg_remove(&sys, path, &err), ROMA_OK); /* already gone */
}

static void test_remove_refuses(void **state) {
    fake *f = *state;
    cg_system sys;
    char path[256], parent[256], outside[300];
    fake_group(f, CG_V1, &sys, path, sizeof(path));
    snprintf(parent, sizeof(parent), "%s/roma-8501", f->v1);
    roma_err err = {{0}};
    assert_int_equal(cg_remove(&sys, parent, &err), ROMA_FAILED_PRECONDITION);
    check_contains("children", err.msg, "child group 'resnet'");
    assert_true(exists(path));
    const char *not_groups[] = {f->v1, f->root, "/tmp", "relative/x", NULL};
    for (size_t i = 0; i < ARRAY_LEN(not_groups); i++) {
        err.msg[0] = '\0';
        CASE_CHECK_INT(not_groups[i] ? not_groups[i] : "NULL", cg_remove(&sys, not_groups[i], &err),
                       ROMA_INVALID_ARGUMENT);
        check_contains("outside", err.msg, "not a group below");
    }
    snprintf(outside, sizeof(outside), "%s/roma-8501/../../v2", f->v1);
    assert_int_equal(cg_remove(&sys, outside, &err), ROMA_INVALID_ARGUMENT);
    assert_true(exists(f->v1));
}

/* ---- fallback: affinity ----------------------------------------------- */

static void *idle_thread(void *arg) {
    for (;;) pause();
    return NULL;
}

/* A worker stand-in: two threads, then waits to be killed. */
static void worker_with_two_threads(int ready_fd) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle_thread, NULL) != 0) _exit(1);
    (void)!write(ready_fd, "r", 1);
    for (;;) pause();
}

/* Every thread of pid (there are two) is allowed exactly `want` CPUs. */
static void check_threads(pid_t pid, int want, const char *case_name) {
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) fail_msg("case '%s': cannot open %s", case_name, dir);
    int threads = 0, bad = 0, got = 0;
    for (struct dirent *de; (de = readdir(d));) {
        pid_t tid = (pid_t)atoi(de->d_name);
        if (tid <= 0) continue;
        threads++;
        cpu_set_t set;
        got = sched_getaffinity(tid, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
        if (got != want) bad = tid;
    }
    closedir(d);
    if (bad)
        fail_msg("case '%s': thread %d may use %d CPUs, expected %d", case_name, bad, got, want);
    CASE_CHECK_INT(case_name, threads, 2);
}

static pid_t affinity_worker;

static int affinity_teardown(void **state) {
    if (affinity_worker > 0) {
        kill(affinity_worker, SIGKILL);
        waitpid(affinity_worker, NULL, 0);
    }
    affinity_worker = 0;
    return 0;
}

static void test_pin_cpus(void **state) {
    cpu_set_t all;
    assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
    int n = CPU_COUNT(&all);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    pid_t worker = affinity_worker = fork();
    assert_true(worker >= 0);
    if (worker == 0) worker_with_two_threads(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    close(ready[1]);

    struct {
        const char *name;
        double cores;
        int want;
    } cases[] = {
        {"a quarter is one CPU", 0.25, 1},
        {"one", 1, 1},
        {"one and a half is two", 1.5, n < 2 ? n : 2},
        {"zero is all", 0, n},
        {"more than the host is all", 1e6, n},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        roma_code rc = cg_pin_cpus(worker, cases[i].cores, (int)i, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        check_threads(worker, cases[i].want, cases[i].name);
    }
    affinity_teardown(NULL);

    roma_err err = {{0}};
    assert_int_equal(cg_pin_cpus(0, 1, 0, &err), ROMA_INVALID_ARGUMENT);
    assert_int_equal(cg_pin_cpus(getpid(), NAN, 0, &err), ROMA_INVALID_ARGUMENT);
    /* the reaped worker's pid names no process (until reused: unlikely here) */
    err.msg[0] = '\0';
    assert_int_equal(cg_pin_cpus(worker, 1, 0, &err), ROMA_NOT_FOUND);
    check_contains("gone", err.msg, "no process");
}

/* ---- this host ---------------------------------------------------------- */

static void test_detect_this_host(void **state) {
    cg_system sys;
    roma_err err = {{0}};
    assert_int_equal(cg_detect(&sys, &err), ROMA_OK);
    assert_false(sys.plain_dirs); /* only mounted cgroupfs qualifies */
    if (sys.mode == CG_NONE) {
        check_message("this host", sys.reason);
        assert_string_equal(sys.base, "");
    } else {
        assert_true(sys.base[0] == '/');
    }
    print_message("cg_detect on this host: %s%s%s%s%s\n", cg_mode_name(sys.mode),
                  sys.base[0] ? " at " : "", sys.base, sys.reason[0] ? " - " : "", sys.reason);
}

/* ---- the real kernel ---------------------------------------------------- */

typedef struct {
    cg_system sys;
    char group[4200]; /* <base>/roma-test-<pid> */
    char probe[4300]; /* <group>/probe */
    pid_t child;
} real_state;

static real_state real;

static int real_teardown(void **state) {
    if (real.child > 0) {
        kill(real.child, SIGKILL);
        waitpid(real.child, NULL, 0);
        real.child = 0;
    }
    if (real.sys.mode != CG_NONE && real.group[0]) {
        cg_remove(&real.sys, real.probe, NULL);
        cg_remove(&real.sys, real.group, NULL);
    }
    return 0;
}

/* The path /proc/pid/cgroup gives for the hierarchy in use. */
static void cgroup_of(pid_t pid, cg_mode mode, char *out, size_t cap) {
    char file[64], line[1024];
    snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(file, "r");
    if (!f) fail_msg("cannot read %s", file);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
        if (!path) continue;
        *path++ = '\0';
        *ctl++ = '\0';
        bool match = mode == CG_V2 ? strcmp(line, "0") == 0 && *ctl == '\0' : false;
        for (char *tok = strtok(ctl, ","); mode == CG_V1 && tok; tok = strtok(NULL, ","))
            match = match || strcmp(tok, "cpu") == 0;
        if (match) snprintf(out, cap, "%s", path);
    }
    fclose(f);
}

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void test_real_kernel(void **state) {
    roma_err err = {{0}};
    assert_int_equal(cg_detect(&real.sys, &err), ROMA_OK);
    if (geteuid() != 0 || real.sys.mode == CG_NONE) {
        print_message("[  SKIPPED ] real cgroup test: %s\n",
                      geteuid() != 0 ? "needs root" : real.sys.reason);
        skip();
    }
    char name[64], tail[64], where[1024];
    snprintf(name, sizeof(name), "roma-test-%d/probe", (int)getpid());
    snprintf(real.group, sizeof(real.group), "%s/roma-test-%d", real.sys.base, (int)getpid());
    snprintf(real.probe, sizeof(real.probe), "%s/probe", real.group); /* for the teardown */
    create_ok(&real.sys, name, real.probe, sizeof(real.probe));
    assert_true(exists(real.probe));

    double got = 0;
    assert_int_equal(cg_set_cores(&real.sys, real.probe, 0.5, &err), ROMA_OK);
    assert_int_equal(cg_get_cores(&real.sys, real.probe, &got, &err), ROMA_OK);
    assert_true(fabs(got - 0.5) < 1e-9);

    fflush(NULL);
    real.child = fork();
    assert_true(real.child >= 0);
    if (real.child == 0) {
        pause();
        _exit(0);
    }
    if (cg_add_pid(&real.sys, real.probe, real.child, &err) != ROMA_OK)
        fail_msg("cg_add_pid: %s", err.msg);
    cgroup_of(real.child, real.sys.mode, where, sizeof(where));
    snprintf(tail, sizeof(tail), "/roma-test-%d/probe", (int)getpid());
    if (!ends_with(where, tail)) fail_msg("child is in '%s', expected ...%s", where, tail);

    /* removal while the child still runs moves it to the parent */
    if (cg_remove(&real.sys, real.probe, &err) != ROMA_OK) fail_msg("cg_remove: %s", err.msg);
    assert_false(exists(real.probe));
    cgroup_of(real.child, real.sys.mode, where, sizeof(where));
    snprintf(tail, sizeof(tail), "/roma-test-%d", (int)getpid());
    if (!ends_with(where, tail)) fail_msg("child is in '%s', expected ...%s", where, tail);

    kill(real.child, SIGKILL);
    waitpid(real.child, NULL, 0);
    real.child = 0;
    if (cg_remove(&real.sys, real.group, &err) != ROMA_OK) fail_msg("cg_remove: %s", err.msg);
    assert_false(exists(real.group));
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_detect_v1),
        T(test_detect_v2),
        T(test_detect_prefers_v2),
        T(test_detect_hybrid_without_v2_cpu),
        T(test_detect_none),
        T(test_detect_v1_root_without_quota_file),
        T(test_detect_unwritable),
        T(test_create_v1),
        T(test_create_v2_enables_cpu_in_ancestors),
        T(test_create_bad_names),
        T(test_cores_v1),
        T(test_cores_v2),
        T(test_cores_out_of_range),
        T(test_get_cores_kernel_formats),
        T(test_get_cores_unparsable),
        T(test_error_missing_group),
        T(test_error_no_cpu_controller),
        T(test_error_unwritable_file),
        T(test_add_pid),
        T(test_remove_moves_pids_to_parent),
        T(test_remove_refuses),
        cmocka_unit_test_teardown(test_pin_cpus, affinity_teardown),
        cmocka_unit_test(test_detect_this_host),
        cmocka_unit_test_teardown(test_real_kernel, real_teardown),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

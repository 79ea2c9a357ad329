/* test_serve_cores.c - supervisor_set_cores (src/serve/serve.h) when the
 * cgroup write fails, on a fake v1 hierarchy (a mkdtemp tree standing in
 * for cgroupfs, src/serve/cgroup.h).
 *
 * Covers: a write that works sets the worker's cores, the controller's
 * belief untouched; a write that fails (the quota file not writable: the
 * test drops to an ordinary user in a child, as test_cgroup.c does) keeps
 * the worker's cores, its CPU pinning and its model's controller cores at
 * the quota really in force (read back), says why in cores_error, and
 * returns -1; a later write that works clears cores_error.  It used to pin
 * the worker to the new allocation's CPUs and leave it to the caller (the
 * controller kept believing the new value).
 * Also supervisor_pipeline, the requests a worker holds beyond its runs,
 * with known answers: 2 until a cost is measured, SERVE_PIPELINE_S of runs
 * for fast models (at most 14), 2 for models of a millisecond and more;
 * and the slots supervisor_set_cores leaves usable with a measured cost.
 */
#include "unit.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve/serve.h"

#define CHILD_SKIP 77

typedef struct {
    char root[64];
    char v1[128];
    char group[4096];
    cg_system sys;
    serve_state s;
    serve_worker w;
    serve_model m;
    serve_model *mp;
    roma_ctl_model ctl;
} fixture;

static void put(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot create %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    roma_err err = {{0}};
    if (!f) return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/roma-cores-XXXXXX");
    if (!mkdtemp(f->root)) return free(f), -1;
    chmod(f->root, 0755);
    snprintf(f->v1, sizeof(f->v1), "%s/v1", f->root);
    mkdir(f->v1, 0755);
    put(f->v1, "cpu.cfs_quota_us", "-1\n");
    put(f->v1, "cpu.cfs_period_us", "100000\n");
    put(f->v1, "cgroup.procs", "1\n");
    if (cg_detect_at(f->v1, NULL, &f->sys, &err) != ROMA_OK || f->sys.mode != CG_V1) return -1;
    if (cg_create(&f->sys, "roma-1/m", f->group, sizeof(f->group), &err) != ROMA_OK) return -1;
    f->s.cg = f->sys;
    f->s.workers = &f->w;
    f->s.nworkers = 1;
    f->m.ctl = &f->ctl;
    f->mp = &f->m;
    f->w = (serve_worker){.gpu = -1, .models = &f->mp, .nmodels = 1, .state = WORKER_STARTING,
                          .nslots = 4, .active_slots = 4};
    snprintf(f->w.name, sizeof(f->w.name), "m-cpu");
    snprintf(f->w.cgroup, sizeof(f->w.cgroup), "%s", f->group);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int teardown(void **state) {
    fixture *f = *state;
    nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void set_file_modes(const char *group, mode_t mode) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", group);
    chmod(path, mode);
    snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", group);
    chmod(path, mode);
}

static int cpus_of(pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(pid, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
}

/* As an ordinary user, with a process of its own to pin: the write of 2
 * cores fails and 1 core (in force) is what the worker, its pinning and
 * the controller are left with. */
static int child_write_fails(void *arg) {
    fixture *f = arg;
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                           setresuid(65534, 65534, 65534) != 0))
        return CHILD_SKIP;
    pid_t sleeper = fork();
    if (sleeper == 0) {
        pause();
        _exit(0);
    }
    f->w.pid = sleeper;
    f->ctl.cores = 2; /* what the controller decided */
    int rc = supervisor_set_cores(&f->s, &f->w, 2.0);
    int failures = 0;
    if (rc != -1) fprintf(stderr, "rc %d\n", rc), failures++;
    if (fabs(f->w.cores - 1.0) > 1e-9) fprintf(stderr, "cores %g\n", f->w.cores), failures++;
    if (fabs(f->ctl.cores - 1.0) > 1e-9) fprintf(stderr, "ctl %g\n", f->ctl.cores), failures++;
    if (!strstr(f->w.cores_error, "cpu.cfs_")) fprintf(stderr, "why '%s'\n", f->w.cores_error), failures++;
    if (sysconf(_SC_NPROCESSORS_ONLN) >= 2 && cpus_of(sleeper) != 1)
        fprintf(stderr, "pinned to %d CPUs\n", cpus_of(sleeper)), failures++;
    if (f->w.max_runs != 1) fprintf(stderr, "max_runs %d\n", f->w.max_runs), failures++;
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    return failures;
}

static void test_failed_write_keeps_the_cores_in_force(void **state) {
    fixture *f = *state;
    assert_int_equal(supervisor_set_cores(&f->s, &f->w, 1.0), 0);
    assert_true(fabs(f->w.cores - 1.0) < 1e-9);
    assert_string_equal(f->w.cores_error, "");
    set_file_modes(f->group, 0444);
    int rc = run_in_child(child_write_fails, f);
    set_file_modes(f->group, 0644);
    if (rc == CHILD_SKIP) skip();
    assert_int_equal(rc, 0);
}

static void test_write_that_works_again_clears_the_error(void **state) {
    fixture *f = *state;
    snprintf(f->w.cores_error, sizeof(f->w.cores_error), "an earlier failure");
    f->ctl.cores = 1.5;
    assert_int_equal(supervisor_set_cores(&f->s, &f->w, 1.5), 0);
    assert_true(fabs(f->w.cores - 1.5) < 1e-9);
    assert_true(fabs(f->ctl.cores - 1.5) < 1e-9);
    assert_string_equal(f->w.cores_error, "");
}

static void test_pipeline_covers_a_fifth_of_a_millisecond(void **state) {
    (void)state;
    assert_int_equal(supervisor_pipeline(2, 0), 2);        /* not measured yet */
    assert_int_equal(supervisor_pipeline(2, 20e-6), 14);   /* 20 wanted: at most 14 */
    assert_int_equal(supervisor_pipeline(2, 100e-6), 4);   /* 2 runs x 200 us / 100 us */
    assert_int_equal(supervisor_pipeline(4, 100e-6), 8);
    assert_int_equal(supervisor_pipeline(1, 150e-6), 2);   /* ceil(1.33) = 2 */
    assert_int_equal(supervisor_pipeline(2, 60e-6), 7);    /* ceil(6.67) */
    assert_int_equal(supervisor_pipeline(2, 0.5e-3), 2);   /* 0.8 wanted: at least 2 */
    assert_int_equal(supervisor_pipeline(2, -1), 2);
}

static void test_set_cores_opens_slots_for_a_fast_model(void **state) {
    fixture *f = *state;
    f->w.nslots = 1 + SERVE_PIPELINE_MAX;
    f->m.cpu_cost = 50e-6; /* one run: 200 us / 50 us = 4 more */
    assert_int_equal(supervisor_set_cores(&f->s, &f->w, 1), 0);
    assert_int_equal(f->w.max_runs, 1);
    assert_int_equal(f->w.active_slots, 1 + 4);
    f->m.cpu_cost = 5e-3;
    assert_int_equal(supervisor_set_cores(&f->s, &f->w, 1), 0);
    assert_int_equal(f->w.active_slots, 1 + SERVE_PIPELINE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_the_cores_in_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_that_works_again_clears_the_error, setup, teardown),
        cmocka_unit_test(test_pipeline_covers_a_fifth_of_a_millisecond),
        cmocka_unit_test_setup_teardown(test_set_cores_opens_slots_for_a_fast_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

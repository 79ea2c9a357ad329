/* cgroup.h - the CPU-quota actuator of `roma serve`: one cgroup per CPU
 * worker, and "cores" = CFS quota / period, exactly what Docker --cpus and
 * Kubernetes CPU limits do.
 *
 * A worker for model M behind port P lives in <base>/roma-<P>/<M>, where
 * <base> is the root of whichever hierarchy really enforces quotas:
 *
 *   cgroup v2  cpu.max          "QUOTA PERIOD" or "max PERIOD"
 *   cgroup v1  cpu.cfs_quota_us / cpu.cfs_period_us  (quota -1 = unlimited)
 *
 * Hybrid hosts (systemd's "unified" layout) mount a v2 hierarchy that often
 * has no cpu controller, because a controller can be bound to only one
 * hierarchy and v1's `cpu` has it.  So cg_detect does not trust the layout:
 * it probes each candidate (create a child, write a quota, read it back,
 * remove it) and keeps the first that works.  Where none works (not root, a
 * read-only mount, no cpu controller) the mode is CG_NONE and `reason` says
 * why; the caller must say so and fall back (cg_pin_cpus alone), never
 * pretend a quota is in force.
 *
 * The period is always 100 ms (the kernel's and Docker's default), so the
 * quota alone carries the allocation: quota = round(cores * 100000) us, at
 * least 1000 us (the kernel's minimum, 0.01 cores).
 *
 * Threads: every function is a few reads/writes of files under the
 * hierarchy; none keeps state, so any thread may call any of them.  A
 * cg_system is filled once by cg_detect and read-only afterwards.
 */
#ifndef ROMA_CGROUP_H
#define ROMA_CGROUP_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/status.h"

typedef enum { CG_NONE, CG_V1, CG_V2 } cg_mode;

#define CG_PERIOD_US 100000LL
#define CG_MIN_QUOTA_US 1000LL
/* Far above any host, far below the kernel's quota ceiling (~1.7e8 cores). */
#define CG_MAX_CORES 1e6

typedef struct {
    cg_mode mode;
    char base[4096];   /* root of the hierarchy in use ("" when CG_NONE) */
    char reason[1024]; /* CG_NONE: why no hierarchy works, for the start-up
                        * message and /roma/v1/workers.  Otherwise: what was
                        * skipped and why ("" when the first choice worked). */
    bool plain_dirs;   /* base is an ordinary directory standing in for
                        * cgroupfs (unit tests, via cg_detect_at only): this
                        * module then does the kernel's part too: it creates
                        * the control files on mkdir, empties a group's
                        * cgroup.procs when moving its processes out, and
                        * deletes the files before rmdir. */
} cg_system;

/* "cgroup v1", "cgroup v2" or "none" (static strings). */
const char *cg_mode_name(cg_mode mode);

/* Probes the standard locations: v2 at /sys/fs/cgroup when it holds
 * cgroup.controllers (pure v2), else /sys/fs/cgroup/unified (hybrid); v1 at
 * /sys/fs/cgroup/cpu (or cpu,cpuacct).  v2 is tried first.  Only mounted
 * cgroup filesystems qualify.  Returns ROMA_OK whenever it could decide,
 * including CG_NONE (see sys->reason); an error only for a NULL sys.
 * Side effect on v2: "+cpu" is written to the root's cgroup.subtree_control
 * if it lacks it (needed for any per-worker quota there). */
roma_code cg_detect(cg_system *sys, roma_err *err);

/* The same probe on given roots (either may be NULL: not tried), for tests
 * with fake trees.  Unlike cg_detect, a plain directory is accepted as a
 * stand-in hierarchy (sys->plain_dirs): a v1 stand-in needs
 * cpu.cfs_quota_us, cpu.cfs_period_us and cgroup.procs in its root; a v2
 * stand-in cgroup.controllers listing "cpu", cgroup.subtree_control and
 * cgroup.procs. */
roma_code cg_detect_at(const char *v1_cpu_root, const char *v2_root, cg_system *sys, roma_err *err);

/* mkdir -p <base>/<group> (group is relative, e.g. "roma-8501/resnet": no
 * leading '/', no empty, "." or ".." parts) and writes the full path to
 * path_out.  On v2, first enables +cpu in the cgroup.subtree_control of
 * every ancestor from the base down (never in the new leaf: v2 admits
 * processes only to cgroups that do not delegate controllers).  An existing
 * group is reused.  ROMA_FAILED_PRECONDITION when sys->mode is CG_NONE. */
roma_code cg_create(const cg_system *sys, const char *group, char *path_out, size_t cap,
                    roma_err *err);

/* Sets the group's CPU limit: period 100000 us, quota = round(cores *
 * period), at least CG_MIN_QUOTA_US; cores <= 0 means unlimited.  NaN,
 * infinity and cores > CG_MAX_CORES are ROMA_INVALID_ARGUMENT.  The new
 * limit applies from the next period; running processes are not disturbed. */
roma_code cg_set_cores(const cg_system *sys, const char *path, double cores, roma_err *err);

/* What the kernel holds for the group now: quota / period, or a negative
 * value when unlimited. */
roma_code cg_get_cores(const cg_system *sys, const char *path, double *cores, roma_err *err);

/* Moves process pid (all its threads) into the group (cgroup.procs).
 * ROMA_NOT_FOUND when the process has exited. */
roma_code cg_add_pid(const cg_system *sys, const char *path, pid_t pid, roma_err *err);

/* Removes the group at path (a directory strictly below sys->base): first
 * moves any processes still in it to the parent group (on v2, where the
 * parent delegates controllers and may not hold processes, to the base),
 * then rmdir.  A group that does not exist is ROMA_OK (idempotent clean-up);
 * one with child groups is ROMA_FAILED_PRECONDITION.  Removing the
 * roma-<port> parent once empty is a separate call by the caller. */
roma_code cg_remove(const cg_system *sys, const char *path, roma_err *err);

/* Threads follow cores (DESIGN.md section 2): pins every thread of pid
 * (each entry of /proc/PID/task; threads created later inherit it) to
 * ceil(cores) CPUs of the calling process's own allowed set, starting at
 * the `first`-th of them (callers pass each worker's index, so workers
 * spread over the CPUs instead of all sharing the first).  With a quota in
 * force this is the integer part of the allocation and the quota the
 * fraction: a worker's threads cannot burn its quota on all the host's
 * CPUs at once and then sit throttled.  Where cgroups are not writable it
 * is the nearest real substitute, coarse: it caps parallelism in whole
 * CPUs, so 0.25 cores is enforced as 1.  cores <= 0, or more cores than
 * the caller may use, means all of the caller's CPUs. */
roma_code cg_pin_cpus(pid_t pid, double cores, int first, roma_err *err);

/* The same within pool (a subset of the caller's CPUs, such as those left
 * over by roma serve's GPU stand-ins) instead of the caller's allowed set;
 * pool NULL is cg_pin_cpus.  An empty pool is ROMA_INVALID_ARGUMENT. */
roma_code cg_pin_cpus_in(pid_t pid, double cores, int first, const cpu_set_t *pool, roma_err *err);

#endif

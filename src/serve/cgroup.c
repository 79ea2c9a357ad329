/* cgroup.c - the CPU-quota actuator (see cgroup.h).
 *
 * Everything is a read or a single write() of a small text file under the
 * hierarchy: the kernel parses each write() as one command and reports a
 * refused value (EINVAL, EBUSY, ESRCH) from write(), not from open(), so
 * both are checked and each errno is turned into a message that names the
 * file, the value and what to do about it.
 *
 * Stand-in trees (sys->plain_dirs, unit tests only) differ from cgroupfs in
 * three places, and only there: mkdir creates no control files, moving a
 * pid does not take it out of the old group's cgroup.procs, and rmdir needs
 * the files gone.  make_group(), move_out() and remove_dir() do the kernel's
 * part for them; every other line runs the same on both.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

/* Paths are a base (up to 4095 bytes) plus a group and a file name. */
#define CG_PATH_CAP 4352

typedef struct {
    const char *name;
    const char *initial; /* what the kernel shows in a new group */
} cg_file;

static const cg_file v1_files[] = {
    {"cgroup.procs", ""}, {"cpu.cfs_quota_us", "-1\n"}, {"cpu.cfs_period_us", "100000\n"}, {0}};
static const cg_file v2_files[] = {
    {"cgroup.procs", ""}, {"cgroup.subtree_control", ""}, {"cpu.max", "max 100000\n"}, {0}};

const char *cg_mode_name(cg_mode mode) {
    switch (mode) {
    case CG_V1: return "cgroup v1";
    case CG_V2: return "cgroup v2";
    default: return "none";
    }
}

/* ---- errors ---------------------------------------------------------- */

static roma_code errno_code(int e) {
    switch (e) {
    case ENOENT:
    case ESRCH: return ROMA_NOT_FOUND;
    case EACCES:
    case EPERM: return ROMA_PERMISSION_DENIED;
    case EROFS:
    case EBUSY:
    case ENOTEMPTY: return ROMA_FAILED_PRECONDITION;
    case EINVAL: return ROMA_INVALID_ARGUMENT;
    case EEXIST: return ROMA_ALREADY_EXISTS;
    default: return ROMA_INTERNAL;
    }
}

/* What a user can do about errno e when writing file `name`. */
static const char *errno_hint(int e, const char *name) {
    switch (e) {
    case EACCES:
    case EPERM: return " (run roma serve as root, or delegate this cgroup subtree to its user)";
    case EROFS:
        return " (the cgroup filesystem is mounted read-only; in a container, give it a writable "
               "cgroup, e.g. docker run --cgroupns=private --privileged)";
    case EBUSY:
        if (strcmp(name, "cgroup.subtree_control") == 0)
            return " (cgroup v2 enables controllers for children only in a cgroup that holds no "
                   "processes itself: move them to a leaf cgroup)";
        if (strcmp(name, "cgroup.procs") == 0)
            return " (cgroup v2 admits processes only to cgroups that delegate no controllers)";
        return "";
    case EINVAL:
        if (strncmp(name, "cpu.", 4) == 0)
            return " (the kernel refuses a quota above a parent cgroup's limit, or a period "
                   "outside 1 ms..1 s)";
        return "";
    case ENOENT:
        if (strcmp(name, "cgroup.subtree_control") == 0)
            return " (the cpu controller is not available here: it is missing from "
                   "cgroup.controllers, e.g. bound to a cgroup v1 hierarchy)";
        return "";
    default: return "";
    }
}

/* open() of dir/name failed with e.  ENOENT gets told apart: a missing
 * group and a group without the cpu controller need different fixes. */
static roma_code open_failed(const char *dir, const char *name, const char *verb, int e,
                             roma_err *err) {
    struct stat st;
    if (e == ENOENT && stat(dir, &st) != 0)
        return roma_fail(err, ROMA_NOT_FOUND,
                         "cgroup %s does not exist (create it with cg_create first; it may have "
                         "been removed)",
                         dir);
    if (e == ENOENT)
        return roma_fail(err, ROMA_NOT_FOUND,
                         "cgroup %s has no %s: the cpu controller is not enabled for it (on "
                         "cgroup v2 its parent's cgroup.subtree_control must list cpu; on v1 it "
                         "must lie in the cpu hierarchy)",
                         dir, name);
    return roma_fail(err, errno_code(e), "cgroup: cannot %s %s/%s: %s%s", verb, dir, name,
                     strerror(e), errno_hint(e, name));
}

static roma_code join(char *out, size_t cap, const char *dir, const char *name, roma_err *err) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "cgroup: path %s/%s is too long (limit %zu)",
                         dir, name, cap - 1);
    return ROMA_OK;
}

/* ---- control files --------------------------------------------------- */

/* Reads dir/name into buf (NUL-terminated, trailing newline removed). */
static roma_code read_control(const char *dir, const char *name, char *buf, size_t cap,
                              roma_err *err) {
    char path[CG_PATH_CAP];
    roma_code rc = join(path, sizeof(path), dir, name, err);
    if (rc != ROMA_OK) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_failed(dir, name, "read", errno, err);
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            return roma_fail(err, errno_code(e), "cgroup: cannot read %s: %s", path, strerror(e));
        }
        if (got == 0 || (n += (size_t)got) == cap - 1) break;
    }
    close(fd);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
    return ROMA_OK;
}

/* Writes text + "\n" to dir/name in one write(), the unit the kernel
 * parses.  append: O_APPEND instead of O_TRUNC (cgroup.procs: the kernel
 * ignores it, a stand-in file then accumulates pids like the real list). */
static roma_code write_control(const char *dir, const char *name, const char *text, bool append,
                               roma_err *err) {
    char path[CG_PATH_CAP], line[128];
    roma_code rc = join(path, sizeof(path), dir, name, err);
    if (rc != ROMA_OK) return rc;
    int len = snprintf(line, sizeof(line), "%s\n", text);
    if (len < 0 || (size_t)len >= sizeof(line))
        return roma_fail(err, ROMA_INTERNAL, "cgroup: value '%s' for %s is too long", text, path);
    int fd = open(path, O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
    if (fd < 0) return open_failed(dir, name, "open for writing", errno, err);
    ssize_t put;
    do put = write(fd, line, (size_t)len);
    while (put < 0 && errno == EINTR);
    int e = put < 0 ? errno : 0;
    if (close(fd) != 0 && !e) e = errno; /* a stand-in on a full disk fails here */
    if (e)
        return roma_fail(err, errno_code(e), "cgroup: writing '%s' to %s failed: %s%s", text, path,
                         strerror(e), errno_hint(e, name));
    if (put != len)
        return roma_fail(err, ROMA_INTERNAL, "cgroup: short write of '%s' to %s", text, path);
    return ROMA_OK;
}

static bool has_word(const char *list, const char *word) {
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\n' || *p == '\t') p++;
        size_t n = strcspn(p, " \n\t");
        if (n == wl && strncmp(p, word, n) == 0) return true;
        p += n;
    }
    return false;
}

/* A whole number, optionally followed by whitespace, and nothing else. */
static bool parse_ll(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s) return false;
    while (*end == ' ' || *end == '\n') end++;
    if (*end) return false;
    *out = v;
    return true;
}

/* ---- groups ---------------------------------------------------------- */

static roma_code need_mode(const cg_system *sys, roma_err *err) {
    if (!sys || sys->mode == CG_NONE)
        return roma_fail(err, ROMA_FAILED_PRECONDITION,
                         "cgroup CPU quotas are not available on this host: %s",
                         sys && sys->reason[0] ? sys->reason : "cg_detect found no hierarchy");
    return ROMA_OK;
}

static const cg_file *mode_files(const cg_system *sys) {
    return sys->mode == CG_V2 ? v2_files : v1_files;
}

/* mkdir one level; an existing directory is fine. */
static roma_code make_group(const cg_system *sys, const char *path, roma_err *err) {
    if (mkdir(path, 0755) != 0) {
        int e = errno;
        struct stat st;
        if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return ROMA_OK;
        if (e == EEXIST)
            return roma_fail(err, ROMA_ALREADY_EXISTS,
                             "cgroup: %s exists and is not a directory (a control file? choose "
                             "another group name)",
                             path);
        return roma_fail(err, errno_code(e), "cgroup: cannot create %s: %s%s", path, strerror(e),
                         errno_hint(e, ""));
    }
    if (!sys->plain_dirs) return ROMA_OK; /* the kernel made the files */
    for (const cg_file *f = mode_files(sys); f->name; f++) {
        char file[CG_PATH_CAP];
        roma_code rc = join(file, sizeof(file), path, f->name, err);
        if (rc != ROMA_OK) return rc;
        FILE *fp = fopen(file, "we");
        bool ok = fp && fputs(f->initial, fp) >= 0;
        if (fp && fclose(fp) != 0) ok = false;
        if (!ok)
            return roma_fail(err, ROMA_INTERNAL, "cgroup: cannot create stand-in file %s: %s", file,
                             strerror(errno));
    }
    return ROMA_OK;
}

/* v2: let dir's children use the cpu controller (idempotent). */
static roma_code enable_cpu(const char *dir, roma_err *err) {
    char list[512];
    roma_code rc = read_control(dir, "cgroup.subtree_control", list, sizeof(list), err);
    if (rc != ROMA_OK || has_word(list, "cpu")) return rc;
    return write_control(dir, "cgroup.subtree_control", "+cpu", false, err);
}

static roma_code check_group_name(const char *group, roma_err *err) {
    bool bad = !group || !*group || group[0] == '/';
    for (const char *p = group; !bad && p && *p;) {
        size_t n = strcspn(p, "/");
        bad = n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
        p += n;
        if (*p == '/') p++, bad = bad || !*p;
    }
    if (bad)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "cgroup: bad group name '%s': expected a relative path such as "
                         "'roma-8501/resnet' (no leading '/', no empty, '.' or '..' parts)",
                         group ? group : "(null)");
    return ROMA_OK;
}

roma_code cg_create(const cg_system *sys, const char *group, char *path_out, size_t cap,
                    roma_err *err) {
    roma_code rc = need_mode(sys, err);
    if (rc == ROMA_OK) rc = check_group_name(group, err);
    if (rc == ROMA_OK && (!path_out || cap == 0))
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "cg_create: no output buffer");
    if (rc == ROMA_OK) rc = join(path_out, cap, sys->base, group, err);
    if (rc != ROMA_OK) return rc;
    /* Walk path_out one component at a time, cutting it with a NUL. */
    for (char *p = path_out + strlen(sys->base) + 1;; p++) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (sys->mode == CG_V2) {
            char *last = strrchr(path_out, '/');
            *last = '\0';
            rc = enable_cpu(path_out, err);
            *last = '/';
        }
        if (rc == ROMA_OK) rc = make_group(sys, path_out, err);
        if (slash) *slash = '/';
        if (rc != ROMA_OK || !slash) return rc;
        p = slash;
    }
}

/* ---- cores ----------------------------------------------------------- */

roma_code cg_set_cores(const cg_system *sys, const char *path, double cores, roma_err *err) {
    roma_code rc = need_mode(sys, err);
    if (rc != ROMA_OK) return rc;
    if (isnan(cores) || cores > CG_MAX_CORES)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "cgroup: %g cores is out of range (0 < cores <= %g, or <= 0 for "
                         "unlimited)",
                         cores, CG_MAX_CORES);
    long long quota = -1;
    if (cores > 0) {
        quota = llround(cores * (double)CG_PERIOD_US);
        if (quota < CG_MIN_QUOTA_US) quota = CG_MIN_QUOTA_US;
    }
    char text[64];
    if (sys->mode == CG_V2) {
        if (quota < 0)
            snprintf(text, sizeof(text), "max %lld", CG_PERIOD_US);
        else
            snprintf(text, sizeof(text), "%lld %lld", quota, CG_PERIOD_US);
        return write_control(path, "cpu.max", text, false, err);
    }
    /* v1: period first; quota -1 or any quota is valid with a 100 ms period. */
    snprintf(text, sizeof(text), "%lld", CG_PERIOD_US);
    rc = write_control(path, "cpu.cfs_period_us", text, false, err);
    if (rc != ROMA_OK) return rc;
    snprintf(text, sizeof(text), "%lld", quota);
    return write_control(path, "cpu.cfs_quota_us", text, false, err);
}

static roma_code unparsable(const char *path, const char *name, const char *text,
                            const char *expected, roma_err *err) {
    return roma_fail(err, ROMA_INTERNAL, "cgroup: cannot parse %s/%s ('%s'): expected %s", path,
                     name, text, expected);
}

roma_code cg_get_cores(const cg_system *sys, const char *path, double *cores, roma_err *err) {
    roma_code rc = need_mode(sys, err);
    if (rc != ROMA_OK) return rc;
    char text[128], word[32];
    long long quota = -1, period = 0;
    if (sys->mode == CG_V2) {
        rc = read_control(path, "cpu.max", text, sizeof(text), err);
        if (rc != ROMA_OK) return rc;
        char tail;
        if (sscanf(text, "%31s %lld %c", word, &period, &tail) != 2 ||
            (strcmp(word, "max") != 0 && !parse_ll(word, &quota)) || period <= 0)
            return unparsable(path, "cpu.max", text, "'QUOTA PERIOD' or 'max PERIOD'", err);
    } else {
        rc = read_control(path, "cpu.cfs_quota_us", text, sizeof(text), err);
        if (rc != ROMA_OK) return rc;
        if (!parse_ll(text, &quota))
            return unparsable(path, "cpu.cfs_quota_us", text, "microseconds or -1", err);
        rc = read_control(path, "cpu.cfs_period_us", text, sizeof(text), err);
        if (rc != ROMA_OK) return rc;
        if (!parse_ll(text, &period) || period <= 0)
            return unparsable(path, "cpu.cfs_period_us", text, "positive microseconds", err);
    }
    *cores = quota < 0 ? -1.0 : (double)quota / (double)period;
    return ROMA_OK;
}

/* ---- processes ------------------------------------------------------- */

roma_code cg_add_pid(const cg_system *sys, const char *path, pid_t pid, roma_err *err) {
    roma_code rc = need_mode(sys, err);
    if (rc != ROMA_OK) return rc;
    if (pid <= 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "cgroup: bad process id %d", (int)pid);
    char text[32];
    snprintf(text, sizeof(text), "%d", (int)pid);
    return write_control(path, "cgroup.procs", text, true, err);
}

/* Up to cap pids listed in path/cgroup.procs. */
static roma_code read_pids(const char *path, pid_t *pids, size_t cap, size_t *n, roma_err *err) {
    char file[CG_PATH_CAP];
    roma_code rc = join(file, sizeof(file), path, "cgroup.procs", err);
    if (rc != ROMA_OK) return rc;
    FILE *fp = fopen(file, "re");
    if (!fp) return open_failed(path, "cgroup.procs", "read", errno, err);
    int pid;
    for (*n = 0; *n < cap && fscanf(fp, "%d", &pid) == 1;) pids[(*n)++] = pid;
    fclose(fp);
    return ROMA_OK;
}

/* Moves every process in path to parent (v2 parents that delegate the cpu
 * controller refuse processes: then to the base).  Repeats because a
 * process may fork while we move it; gives up after many rounds. */
static roma_code move_out(const cg_system *sys, const char *path, const char *parent,
                          roma_err *err) {
    for (int round = 0; round < 100; round++) {
        pid_t pids[256];
        size_t n = 0;
        roma_code rc = read_pids(path, pids, 256, &n, err);
        if (rc != ROMA_OK || n == 0) return rc;
        for (size_t i = 0; i < n; i++) {
            roma_err e1;
            rc = cg_add_pid(sys, parent, pids[i], &e1);
            if (rc == ROMA_FAILED_PRECONDITION && sys->mode == CG_V2)
                rc = cg_add_pid(sys, sys->base, pids[i], &e1);
            if (rc == ROMA_NOT_FOUND && kill(pids[i], 0) != 0) rc = ROMA_OK; /* exited */
            if (rc != ROMA_OK)
                return roma_fail(err, rc,
                                 "cgroup: cannot move process %d out of %s before "
                                 "removing it: %s",
                                 (int)pids[i], path, e1.msg);
        }
        if (sys->plain_dirs) { /* the kernel's side of the move */
            char file[CG_PATH_CAP];
            if (join(file, sizeof(file), path, "cgroup.procs", err) != ROMA_OK)
                return ROMA_INTERNAL;
            if (truncate(file, 0) != 0)
                return roma_fail(err, ROMA_INTERNAL, "cgroup: cannot empty %s: %s", file,
                                 strerror(errno));
        }
    }
    return roma_fail(err, ROMA_UNAVAILABLE,
                     "cgroup: processes keep appearing in %s (a fork loop?); kill them and retry",
                     path);
}

/* The first child group of path, if any, into name. */
static bool has_child_group(const char *path, char *name, size_t cap) {
    DIR *d = opendir(path);
    if (!d) return false;
    bool found = false;
    for (struct dirent *de; !found && (de = readdir(d));) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(name, cap, "%s", de->d_name);
        found = true;
    }
    closedir(d);
    return found;
}

static roma_code remove_dir(const cg_system *sys, const char *path, roma_err *err) {
    if (sys->plain_dirs)
        for (const cg_file *f = mode_files(sys); f->name; f++) {
            char file[CG_PATH_CAP];
            if (join(file, sizeof(file), path, f->name, err) != ROMA_OK) return ROMA_INTERNAL;
            unlink(file);
        }
    /* An exiting process can keep a v1 group busy for a moment after it
     * left cgroup.procs; wait up to about a second for it. */
    for (int tries = 0;; tries++) {
        if (rmdir(path) == 0) return ROMA_OK;
        int e = errno;
        if (e != EBUSY || tries == 100)
            return roma_fail(err, errno_code(e), "cgroup: cannot remove %s: %s%s", path,
                             strerror(e), errno_hint(e, ""));
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

roma_code cg_remove(const cg_system *sys, const char *path, roma_err *err) {
    roma_code rc = need_mode(sys, err);
    if (rc != ROMA_OK) return rc;
    size_t bl = strlen(sys->base);
    if (!path || strncmp(path, sys->base, bl) != 0 || path[bl] != '/' || !path[bl + 1] ||
        strstr(path + bl, "/.."))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "cgroup: refusing to remove '%s': not a group below %s",
                         path ? path : "(null)", sys->base);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return ROMA_OK;
    char child[256], parent[CG_PATH_CAP];
    if (has_child_group(path, child, sizeof(child)))
        return roma_fail(err, ROMA_FAILED_PRECONDITION,
                         "cgroup: cannot remove %s: it still has child group '%s' (remove the "
                         "children first)",
                         path, child);
    snprintf(parent, sizeof(parent), "%s", path);
    *strrchr(parent, '/') = '\0';
    rc = move_out(sys, path, parent, err);
    return rc != ROMA_OK ? rc : remove_dir(sys, path, err);
}

/* ---- detection ------------------------------------------------------- */

/* snprintf for notes that may be cut short (reasons quote other messages). */
__attribute__((format(printf, 3, 4))) static bool note(char *dst, size_t cap, const char *fmt,
                                                       ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return false;
}

static bool is_cgroupfs(const char *path) {
    struct statfs s;
    return statfs(path, &s) == 0 &&
           (s.f_type == CGROUP_SUPER_MAGIC || s.f_type == CGROUP2_SUPER_MAGIC);
}

/* Create, set 0.5, read back, remove: proves the hierarchy enforces what
 * we write rather than that its files look right. */
static roma_code probe(const cg_system *sys, roma_err *err) {
    char group[64], path[CG_PATH_CAP];
    snprintf(group, sizeof(group), "roma-probe-%d", (int)getpid());
    roma_code rc = cg_create(sys, group, path, sizeof(path), err);
    if (rc != ROMA_OK) return rc;
    double got = 0;
    rc = cg_set_cores(sys, path, 0.5, err);
    if (rc == ROMA_OK) rc = cg_get_cores(sys, path, &got, err);
    if (rc == ROMA_OK && fabs(got - 0.5) > 1e-9)
        rc = roma_fail(err, ROMA_INTERNAL, "wrote 0.5 cores to %s, the kernel holds %g", path, got);
    roma_err rm_err;
    roma_code rm = cg_remove(sys, path, &rm_err);
    if (rc == ROMA_OK && rm != ROMA_OK) rc = roma_fail(err, rm, "%s", rm_err.msg);
    return rc;
}

/* Whether root works as a hierarchy of the given mode; why not in why. */
static bool try_root(cg_mode mode, const char *root, bool allow_plain, cg_system *out, char *why,
                     size_t cap) {
    struct stat st;
    char list[512];
    roma_err err = {{0}};
    if (!root || !*root) return note(why, cap, "not probed");
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return note(why, cap, "no hierarchy at %s", root);
    bool plain = !is_cgroupfs(root);
    if (plain && !allow_plain) return note(why, cap, "%s is not a mounted cgroup filesystem", root);
    if (strlen(root) >= sizeof(out->base)) return note(why, cap, "path %s is too long", root);
    if (mode == CG_V2) {
        if (read_control(root, "cgroup.controllers", list, sizeof(list), &err) != ROMA_OK)
            return note(why, cap, "%s", err.msg);
        if (!has_word(list, "cpu"))
            return note(why, cap,
                        "no cpu controller in %s/cgroup.controllers ('%s'); on a hybrid "
                        "v1/v2 host it is bound to the v1 hierarchy",
                        root, list);
    } else if (read_control(root, "cpu.cfs_quota_us", list, sizeof(list), &err) != ROMA_OK) {
        return note(why, cap,
                    "%s has no readable cpu.cfs_quota_us: not the cpu controller's "
                    "hierarchy, or a kernel without CFS bandwidth control",
                    root);
    }
    cg_system trial = {.mode = mode, .plain_dirs = plain};
    snprintf(trial.base, sizeof(trial.base), "%s", root);
    for (size_t n = strlen(trial.base); n > 1 && trial.base[n - 1] == '/';) trial.base[--n] = '\0';
    if (probe(&trial, &err) != ROMA_OK) return note(why, cap, "%s", err.msg);
    *out = trial;
    return true;
}

static roma_code detect(const char *v1_root, const char *v2_root, bool allow_plain, cg_system *sys,
                        roma_err *err) {
    if (!sys) return roma_fail(err, ROMA_INVALID_ARGUMENT, "cg_detect: sys is NULL");
    char why2[1024], why1[1024];
    memset(sys, 0, sizeof(*sys));
    if (try_root(CG_V2, v2_root, allow_plain, sys, why2, sizeof(why2))) return ROMA_OK;
    if (try_root(CG_V1, v1_root, allow_plain, sys, why1, sizeof(why1))) {
        if (v2_root) note(sys->reason, sizeof(sys->reason), "cgroup v2 skipped: %s", why2);
        return ROMA_OK;
    }
    sys->mode = CG_NONE;
    note(sys->reason, sizeof(sys->reason),
         "no writable cgroup cpu controller (cgroup v2: %s; cgroup v1: %s)", why2, why1);
    return ROMA_OK;
}

roma_code cg_detect_at(const char *v1_cpu_root, const char *v2_root, cg_system *sys,
                       roma_err *err) {
    return detect(v1_cpu_root, v2_root, true, sys, err);
}

roma_code cg_detect(cg_system *sys, roma_err *err) {
    struct stat st;
    const char *v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0 ? "/sys/fs/cgroup"
                                                                         : "/sys/fs/cgroup/unified";
    const char *v1 =
        stat("/sys/fs/cgroup/cpu", &st) == 0 ? "/sys/fs/cgroup/cpu" : "/sys/fs/cgroup/cpu,cpuacct";
    return detect(v1, v2, false, sys, err);
}

/* ---- CPU affinity ------------------------------------------------------ */

/* ceil(cores) CPUs of pool (NULL: the caller's allowed set), from the
 * first-th on. */
static roma_code pick_cpus(int first, double cores, const cpu_set_t *given, cpu_set_t *set,
                           roma_err *err) {
    cpu_set_t pool;
    if (given) pool = *given;
    else if (sched_getaffinity(0, sizeof(pool), &pool) != 0)
        return roma_fail(err, ROMA_INTERNAL, "cannot read this process's CPU affinity: %s",
                         strerror(errno));
    int avail[CPU_SETSIZE], n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &pool)) avail[n++] = c;
    if (n == 0) return roma_fail(err, ROMA_INVALID_ARGUMENT, "affinity: no CPU to pin to");
    int want = cores <= 0 || ceil(cores) >= n ? n : (int)ceil(cores);
    CPU_ZERO(set);
    for (int i = 0; i < want; i++) CPU_SET(avail[(first + i) % n], set);
    return ROMA_OK;
}

roma_code cg_pin_cpus(pid_t pid, double cores, int first, roma_err *err) {
    return cg_pin_cpus_in(pid, cores, first, NULL, err);
}

roma_code cg_pin_cpus_in(pid_t pid, double cores, int first, const cpu_set_t *pool, roma_err *err) {
    if (pid <= 0 || isnan(cores) || first < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "affinity: bad process id %d, cores %g or "
                         "first CPU %d", (int)pid, cores, first);
    cpu_set_t set;
    roma_code rc = pick_cpus(first, cores, pool, &set, err);
    if (rc != ROMA_OK) return rc;
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    /* Two passes: a thread started during the first may have copied its
     * creator's mask before we changed it. */
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(dir);
        if (!d)
            return roma_fail(err, ROMA_NOT_FOUND, "affinity: no process %d (%s)", (int)pid,
                             strerror(errno));
        for (struct dirent *de; (de = readdir(d));) {
            pid_t tid = (pid_t)atoi(de->d_name);
            if (tid <= 0 || sched_setaffinity(tid, sizeof(set), &set) == 0 || errno == ESRCH)
                continue; /* ".", "..", or a thread that just exited */
            int e = errno;
            closedir(d);
            return roma_fail(err, errno_code(e),
                             "affinity: cannot pin thread %d of process %d to %d CPUs: %s%s",
                             (int)tid, (int)pid, CPU_COUNT(&set), strerror(e),
                             e == EPERM ? " (run roma serve as root or as the worker's user)" : "");
        }
        closedir(d);
    }
    return ROMA_OK;
}

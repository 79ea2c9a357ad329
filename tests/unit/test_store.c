/* test_store.c - the request store of `roma serve` (src/serve/store.h).
 *
 * Covers, each in a fresh temporary directory: store_open creates the file
 * with the table `requests` and its index on finish, in WAL mode (read back
 * with a second SQLite connection); 10,000 rows added from 4 threads at once
 * all land after store_flush, every thread's rows in the order it added
 * them, with exact field values (REAL times to the microsecond) for a
 * sample; over-long strings are cut, never overread; retention keeps at most
 * max_rows rows after every flush and keeps the newest, also when an
 * existing file is reopened with a lower bound; store_close writes what is
 * queued without an explicit flush; store_open's errors (missing directory,
 * a path that is a directory, an unwritable directory, a file that is not a
 * database or holds another 'requests' table, bad options) return the
 * documented code and a message naming the path; a full queue counts drops
 * instead of blocking (a second connection holds the write lock, so the
 * writer is stuck exactly as behind a slow disk); and a batch that cannot
 * commit makes store_flush report it once, with its rows counted as
 * dropped, after which the store works again.
 */
#include "unit.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "serve/store.h"

/* ---- fixture: a temporary directory -------------------------------------- */

typedef struct {
    char dir[64];
    char db[128];
} tmp_dir;

static int dir_setup(void **state) {
    tmp_dir *t = calloc(1, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/roma-store-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->db, sizeof(t->db), "%s/roma.db", t->dir);
    *state = t;
    return 0;
}

static int dir_teardown(void **state) {
    tmp_dir *t = *state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' && rm -rf '%s'", t->dir, t->dir);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

/* ---- helpers --------------------------------------------------------------- */

/* The record for request id: every field derived from it, so a row read
 * back can be checked without keeping what was sent. */
static store_record make_record(uint64_t id) {
    store_record r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    snprintf(r.model, sizeof(r.model), "model-%llu", (unsigned long long)(id % 5));
    r.version = (int64_t)(id % 3) + 1;
    snprintf(r.device, sizeof(r.device), "%s", id % 2 ? "gpu:0" : "cpu");
    snprintf(r.worker, sizeof(r.worker), "worker-%llu", (unsigned long long)(id % 7));
    /* UNIX seconds with microseconds, as the dispatcher records them. */
    r.arrival = 1700000000.0 + (double)id * 0.001 + 0.000001;
    r.dispatch = r.arrival + 0.000250;
    r.finish = r.dispatch + 0.012345;
    r.status = id % 11 ? 200 : 429;
    return r;
}

static sqlite3 *db_open(const char *path) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The single integer a query returns. */
static int64_t db_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t count_rows(const char *path) {
    sqlite3 *db = db_open(path);
    int64_t n = db_int(db, "SELECT count(*) FROM requests");
    sqlite3_close(db);
    return n;
}

static void db_exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

static store *open_ok(const char *path, const store_options *opt) {
    store *s = NULL;
    roma_err err = {{0}};
    roma_code rc = store_open_opts(path, opt, &s, &err);
    if (rc != ROMA_OK) fail_msg("store_open_opts(%s): %s: %s", path, roma_code_name(rc), err.msg);
    return s;
}

static void flush_ok(store *s) {
    roma_err err = {{0}};
    roma_code rc = store_flush(s, &err);
    if (rc != ROMA_OK) fail_msg("store_flush: %s: %s", roma_code_name(rc), err.msg);
}

static void add_range(store *s, uint64_t from, uint64_t to) {
    for (uint64_t id = from; id < to; id++) {
        store_record r = make_record(id);
        store_add(s, &r);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Every column of the row with request id equals make_record(id). */
static void check_row(sqlite3 *db, uint64_t id) {
    char name[32];
    snprintf(name, sizeof(name), "id %llu", (unsigned long long)id);
    store_record want = make_record(id);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT model, version, device, worker, arrival, dispatch, finish, "
                           "status, typeof(arrival) FROM requests WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    CASE_CHECK_INT(name, sqlite3_step(st), SQLITE_ROW);
    CASE_CHECK_STR(name, (const char *)sqlite3_column_text(st, 0), want.model);
    CASE_CHECK_INT(name, sqlite3_column_int64(st, 1), want.version);
    CASE_CHECK_STR(name, (const char *)sqlite3_column_text(st, 2), want.device);
    CASE_CHECK_STR(name, (const char *)sqlite3_column_text(st, 3), want.worker);
    /* Exact: a REAL is the same IEEE double, so microseconds survive. */
    CASE_CHECK(name, sqlite3_column_double(st, 4) == want.arrival);
    CASE_CHECK(name, sqlite3_column_double(st, 5) == want.dispatch);
    CASE_CHECK(name, sqlite3_column_double(st, 6) == want.finish);
    CASE_CHECK_INT(name, sqlite3_column_int(st, 7), want.status);
    CASE_CHECK_STR(name, (const char *)sqlite3_column_text(st, 8), "real");
    CASE_CHECK_INT(name, sqlite3_step(st), SQLITE_DONE); /* exactly one row */
    sqlite3_finalize(st);
}

/* ---- open ---------------------------------------------------------------- */

static void test_open_creates_wal_file(void **state) {
    tmp_dir *t = *state;
    store *s = open_ok(t->db, NULL);
    struct stat st;
    assert_int_equal(stat(t->db, &st), 0);

    sqlite3 *db = db_open(t->db);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                "AND name = 'requests_finish' AND tbl_name = 'requests'"),
                     1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 0);
    sqlite3_close(db);

    flush_ok(s); /* nothing added: returns at once */
    assert_int_equal(store_dropped(s), 0);
    store_close(s);
    store_close(NULL);
}

typedef struct {
    const char *name;
    const char *sub;      /* path relative to the temp dir */
    const char *prepare;  /* shell command run in the temp dir first */
    roma_code code;
    const char *says;     /* the message must contain this */
    int as_nobody;        /* run as an unprivileged user: root may write anywhere */
} open_error_case;

typedef struct {
    const open_error_case *c;
    const char *path;
} open_error_run;

/* Opens c->path and checks the error; returns 0 when it is as expected.
 * Runs in a child process when it must drop root. */
static int open_error_check(void *arg) {
    const open_error_run *run = arg;
    const open_error_case *c = run->c;
    if (c->as_nobody && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return 2;
    store *s = (store *)&run; /* must be reset to NULL */
    roma_err err = {{0}};
    roma_code rc = store_open(run->path, 0, &s, &err);
    int ok = rc == c->code && s == NULL && err.msg[0] && strstr(err.msg, run->path) &&
             (!c->says || strstr(err.msg, c->says));
    if (!ok)
        print_error("case '%s': code %s, message \"%s\"; expected %s and a message naming %s "
                    "and saying \"%s\"\n",
                    c->name, roma_code_name(rc), err.msg, roma_code_name(c->code), run->path,
                    c->says ? c->says : "");
    return ok ? 0 : 1;
}

static void test_open_errors(void **state) {
    tmp_dir *t = *state;
    static const open_error_case cases[] = {
        {"missing directory", "no-such-dir/roma.db", NULL, ROMA_INVALID_ARGUMENT,
         "no-such-dir' does not exist"},
        {"path is a directory", "sub", "mkdir sub", ROMA_INVALID_ARGUMENT, "is a directory"},
        {"parent is a file", "plain/roma.db", "touch plain", ROMA_INVALID_ARGUMENT,
         "is not a directory"},
        {"unwritable directory", "ro/roma.db", "mkdir ro && chmod 555 ro",
         ROMA_PERMISSION_DENIED, "ro' is not writable", 1},
        {"not a database", "junk.db",
         "printf 'this is not an SQLite file, it is just text, long enough: "
         "0123456789012345678901234567890123456789012345678901234567890123456789' > junk.db",
         ROMA_FAILED_PRECONDITION, "not a ROMA request store"},
        {"another requests table", "other.db",
         "sqlite3 other.db 'CREATE TABLE requests (id INTEGER, what TEXT)'",
         ROMA_FAILED_PRECONDITION, "another layout"},
    };
    /* The temporary directory is 0700; the unprivileged user must reach ro/. */
    assert_int_equal(chmod(t->dir, 0755), 0);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const open_error_case *c = &cases[i];
        if (c->prepare) {
            char cmd[512];
            snprintf(cmd, sizeof(cmd), "cd '%s' && %s", t->dir, c->prepare);
            CASE_CHECK(c->name, system(cmd) == 0);
        }
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", t->dir, c->sub);
        open_error_run run = {c, path};
        int rc = c->as_nobody ? run_in_child(open_error_check, &run) : open_error_check(&run);
        CASE_CHECK_INT(c->name, rc, 0);
    }
}

static void test_open_bad_arguments(void **state) {
    tmp_dir *t = *state;
    store *s = NULL;
    roma_err err = {{0}};
    assert_int_equal(store_open("", 0, &s, &err), ROMA_INVALID_ARGUMENT);
    check_contains("empty path", err.msg, "store.path");
    assert_null(s);

    store_options neg = {.queue_rows = -1};
    assert_int_equal(store_open_opts(t->db, &neg, &s, &err), ROMA_INVALID_ARGUMENT);
    check_contains("negative queue", err.msg, "must not be negative");
    assert_null(s);
    assert_int_equal(store_open(t->db, -5, &s, &err), ROMA_INVALID_ARGUMENT);
    assert_null(s);
}

/* ---- rows land ---------------------------------------------------------------- */

#define THREADS 4
#define ROWS_PER_THREAD 2500

typedef struct {
    store *s;
    uint64_t first;
} adder_arg;

static void *adder(void *arg) {
    adder_arg *a = arg;
    add_range(a->s, a->first, a->first + ROWS_PER_THREAD);
    return NULL;
}

static void test_rows_from_threads_land(void **state) {
    tmp_dir *t = *state;
    store *s = open_ok(t->db, NULL);
    pthread_t th[THREADS];
    adder_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (adder_arg){s, (uint64_t)i * ROWS_PER_THREAD};
        assert_int_equal(pthread_create(&th[i], NULL, adder, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    flush_ok(s);
    assert_int_equal(store_dropped(s), 0);

    /* Read while the store is still open: WAL readers see committed rows. */
    sqlite3 *db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), THREADS * ROWS_PER_THREAD);
    assert_int_equal(db_int(db, "SELECT count(DISTINCT id) FROM requests"),
                     THREADS * ROWS_PER_THREAD);
    assert_int_equal(db_int(db, "SELECT min(id) FROM requests"), 0);
    assert_int_equal(db_int(db, "SELECT max(id) FROM requests"), THREADS * ROWS_PER_THREAD - 1);
    static const uint64_t sample[] = {0, 1, 10, 2499, 2500, 4242, 7777, 9998, 9999};
    for (size_t i = 0; i < ARRAY_LEN(sample); i++) check_row(db, sample[i]);

    /* One thread's rows keep the order it added them in. */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM requests ORDER BY seq", -1, &st, NULL),
                     SQLITE_OK);
    int64_t last[THREADS] = {-1, -1, -1, -1};
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        int k = (int)(id / ROWS_PER_THREAD);
        if (id <= last[k]) fail_msg("id %lld stored after id %lld", (long long)id, (long long)last[k]);
        last[k] = id;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    store_close(s);
}

static void test_long_strings_are_cut(void **state) {
    tmp_dir *t = *state;
    store *s = open_ok(t->db, NULL);
    store_record r = make_record(1);
    memset(r.model, 'm', sizeof(r.model)); /* no terminating NUL anywhere */
    memset(r.device, 'd', sizeof(r.device));
    memset(r.worker, 'w', sizeof(r.worker));
    store_add(s, &r);
    flush_ok(s);
    sqlite3 *db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT length(model) FROM requests"), sizeof(r.model) - 1);
    assert_int_equal(db_int(db, "SELECT length(device) FROM requests"), sizeof(r.device) - 1);
    assert_int_equal(db_int(db, "SELECT length(worker) FROM requests"), sizeof(r.worker) - 1);
    sqlite3_close(db);
    store_close(s);
}

/* ---- retention ----------------------------------------------------------------- */

static void test_retention_keeps_newest(void **state) {
    tmp_dir *t = *state;
    store_options o = {.max_rows = 1000, .batch_rows = 100};
    store *s = open_ok(t->db, &o);
    for (uint64_t from = 0; from < 5000; from += 700) {
        add_range(s, from, from + 700);
        flush_ok(s);
        int64_t n = count_rows(t->db);
        if (n > 1000) fail_msg("%lld rows after adding %llu, more than max_rows 1000",
                               (long long)n, (unsigned long long)from + 700);
    }
    store_close(s);
    /* 0..5599 were added: the newest 1000 are 4600..5599. */
    sqlite3 *db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 1000);
    assert_int_equal(db_int(db, "SELECT min(id) FROM requests"), 4600);
    assert_int_equal(db_int(db, "SELECT max(id) FROM requests"), 5599);
    sqlite3_close(db);

    /* Reopened with a lower bound, the old rows beyond it go at the next batch. */
    o.max_rows = 300;
    s = open_ok(t->db, &o);
    add_range(s, 10000, 10010);
    flush_ok(s);
    db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 300);
    assert_int_equal(db_int(db, "SELECT min(id) FROM requests"), 5310);
    assert_int_equal(db_int(db, "SELECT max(id) FROM requests"), 10009);
    sqlite3_close(db);
    store_close(s);
}

/* ---- close ----------------------------------------------------------------------- */

static void test_close_flushes(void **state) {
    tmp_dir *t = *state;
    /* Neither the batch size nor the interval would make the writer write. */
    store_options o = {.batch_rows = 100000, .interval_ms = 3600 * 1000};
    store *s = open_ok(t->db, &o);
    add_range(s, 0, 123);
    store_close(s);
    sqlite3 *db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 123);
    check_row(db, 122);
    sqlite3_close(db);
}

/* ---- back pressure ------------------------------------------------------------ */

/* A second connection takes the write lock, so the store's writer waits in
 * its busy timeout like behind a stalled disk.  Returns the connection;
 * COMMIT on it releases the lock. */
static sqlite3 *hold_write_lock(const char *path) {
    sqlite3 *db = db_open(path);
    db_exec(db, "BEGIN IMMEDIATE");
    return db;
}

static void test_full_queue_drops_instead_of_blocking(void **state) {
    tmp_dir *t = *state;
    store_options o = {.queue_rows = 100, .batch_rows = 10, .busy_timeout_ms = 20000};
    store *s = open_ok(t->db, &o);
    sqlite3 *locker = hold_write_lock(t->db);

    double t0 = now_s();
    add_range(s, 0, 1000);
    double took = now_s() - t0;
    /* Blocking on the writer would take the 20 s busy timeout. */
    if (took > 2.0) fail_msg("1000 store_add calls took %.3f s with the writer stuck", took);
    /* Nothing could be written, so exactly the queue's 100 rows were kept. */
    assert_int_equal(store_dropped(s), 900);

    db_exec(locker, "COMMIT");
    sqlite3_close(locker);
    flush_ok(s);
    assert_int_equal(store_dropped(s), 900);
    sqlite3 *db = db_open(t->db);
    assert_int_equal(db_int(db, "SELECT count(*) FROM requests"), 100);
    assert_int_equal(db_int(db, "SELECT max(id) FROM requests"), 99);
    check_row(db, 57);
    sqlite3_close(db);

    /* The queue has room again. */
    add_range(s, 1000, 1050);
    flush_ok(s);
    assert_int_equal(count_rows(t->db), 150);
    assert_int_equal(store_dropped(s), 900);
    store_close(s);
}

static void test_failed_batch_is_reported_once(void **state) {
    tmp_dir *t = *state;
    store_options o = {.busy_timeout_ms = 50};
    store *s = open_ok(t->db, &o);
    sqlite3 *locker = hold_write_lock(t->db);

    add_range(s, 0, 10);
    /* History samples in the failed batch are not request rows: counting
     * them there made the log claim more requests lost than were. */
    store_add_history(s, 1.0, "m", "{}");
    store_add_history(s, 2.0, "m", "{}");
    roma_err err = {{0}};
    assert_int_equal(store_flush(s, &err), ROMA_UNAVAILABLE);
    check_contains("locked", err.msg, t->db);
    check_contains("locked", err.msg, "write lock");
    assert_int_equal(store_dropped(s), 10);

    db_exec(locker, "COMMIT");
    sqlite3_close(locker);
    add_range(s, 10, 15);
    flush_ok(s); /* the error was reported once; new rows land */
    assert_int_equal(count_rows(t->db), 5);
    assert_int_equal(store_dropped(s), 10);
    store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_wal_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_open_bad_arguments, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_rows_from_threads_land, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_long_strings_are_cut, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_retention_keeps_newest, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_instead_of_blocking, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_is_reported_once, dir_setup,
                                        dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

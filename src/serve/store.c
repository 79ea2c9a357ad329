/* store.c - the request store: a bounded in-memory queue drained into
 * SQLite by one writer thread (see store.h for the contract).
 *
 * The queue is a ring of store_record slots.  `len` counts every queued
 * row, including the batch the writer is inserting right now (`inflight`
 * rows starting at `head`): the writer reads those slots without the lock
 * while store_add fills slots after them, so the two never touch the same
 * memory, and the mutex is held only to move indexes and copy one row.
 * Counting in-flight rows against the bound makes it exact: at most
 * queue_rows rows are ever held in memory.
 *
 * Sequence numbers tie flushes to batches: `added` counts rows accepted,
 * `written` counts rows whose batch has finished (committed or failed), and
 * len == added - written always.  store_flush waits for written to reach
 * the `added` it saw on entry.
 */
#include "store.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define STORE_QUEUE_ROWS 100000
#define STORE_BATCH_ROWS 1000
#define STORE_INTERVAL_MS 100
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_LOG_EVERY_S 10.0 /* at most one line about drops per period */
#define STORE_HISTORY_ROWS 100000 /* history rows queued before drops (samples
                                   * of a minute of 1000 models) */
#define STORE_HISTORY_KEEP_S 86400.0 /* history rows kept: a day */

/* One queued row of the table `history` (store_add_history). */
typedef struct {
    double t;
    char series[128];
    char *data; /* owned */
} store_history_row;

struct store {
    char *path;
    store_options opt;
    sqlite3 *db;
    sqlite3_stmt *insert, *prune, *begin, *commit;
    sqlite3_stmt *hist_insert, *hist_prune;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer waits here: rows, a flush, close */
    pthread_cond_t done; /* flushers wait here: a batch finished */
    pthread_t writer;

    /* Under mu. */
    store_record *ring; /* opt.queue_rows slots */
    size_t head;        /* oldest queued row */
    size_t len;         /* queued rows, in-flight ones included */
    size_t inflight;    /* rows at head the writer is inserting now */
    uint64_t added, written, flush_upto;
    /* History rows wait in their own array (a few a second: one per model
     * and GPU); the writer takes the whole array with each batch. */
    store_history_row *hist;
    size_t hist_len, hist_cap;
    uint64_t hist_added, hist_written, hist_flush_upto;
    int writer_idle; /* the writer sleeps with an empty queue: wake it */
    int closing;
    roma_code write_rc; /* first failed batch since the last flush */
    roma_err write_err;

    uint64_t dropped;   /* atomic: request rows lost (store_dropped) */
    uint64_t hist_lost; /* atomic: history samples lost, counted apart: the
                           request-row count must match the requests answered */

    /* Writer thread only. */
    int64_t pruned_upto; /* rows with seq <= this are already deleted */
    uint64_t failed_rows, failed_logged, dropped_logged, hist_logged;
    double last_log;
    roma_err last_failure;
};

/* ---- SQLite errors ----------------------------------------------------- */

static roma_code sql_code(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL: return ROMA_RESOURCE_EXHAUSTED;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ROMA_UNAVAILABLE;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH: return ROMA_PERMISSION_DENIED;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return ROMA_FAILED_PRECONDITION;
    default: return ROMA_INTERNAL;
    }
}

/* What the operator can do about an SQLite error, or "". */
static const char *sql_hint(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL: return "; free disk space or lower the store's max_rows";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "; another process holds the write lock on the file: stop it or set "
               "store.path to a file of its own";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return "; make the file, its -wal and -shm files and their directory writable "
               "by this user, or set store.path elsewhere";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return "; the file is not a ROMA request store: move it away or set store.path "
               "to a new file";
    default: return "";
    }
}

static roma_code sql_fail(roma_err *err, const char *path, sqlite3 *db, int rc,
                          const char *what) {
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return roma_fail(err, sql_code(rc), "request store '%s': %s: %s%s", path, what, msg,
                     sql_hint(rc));
}

/* Runs a statement that returns no rows we need, then resets it. */
static int step_done(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* ---- open -------------------------------------------------------------- */

/* Catches the usual mistakes before SQLite does, because its own message
 * for them ("unable to open database file") names neither the directory
 * nor the fix. */
static roma_code check_path(const char *path, roma_err *err) {
    if (!path || !*path)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "request store: empty path; set store.path to a file such as roma.db");
    char *copy = strdup(path);
    if (!copy) return roma_fail(err, ROMA_RESOURCE_EXHAUSTED, "request store: out of memory");
    const char *dir = dirname(copy);
    struct stat st;
    roma_code rc = ROMA_OK;
    int e = stat(dir, &st) == 0 ? 0 : errno;
    if (e)
        rc = roma_fail(err, e == ENOENT ? ROMA_INVALID_ARGUMENT : ROMA_PERMISSION_DENIED,
                       "request store '%s': directory '%s' %s; create it (mkdir -p '%s') or "
                       "set store.path to a file in an existing directory",
                       path, dir, e == ENOENT ? "does not exist" : strerror(e), dir);
    else if (!S_ISDIR(st.st_mode))
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "request store '%s': '%s' is not a directory; set store.path to a "
                       "file in a directory",
                       path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        /* WAL creates path-wal and path-shm beside the file, so the
         * directory must be writable even when the file already exists. */
        rc = roma_fail(err, ROMA_PERMISSION_DENIED,
                       "request store '%s': directory '%s' is not writable by this user (the "
                       "store creates the file and its -wal and -shm files there); fix its "
                       "permissions or set store.path elsewhere",
                       path, dir);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "request store '%s' is a directory; set store.path to a file in it, "
                       "such as '%s/roma.db'",
                       path, path);
    else if (stat(path, &st) == 0 && access(path, R_OK | W_OK) != 0)
        rc = roma_fail(err, ROMA_PERMISSION_DENIED,
                       "request store '%s' is not readable and writable by this user; fix "
                       "its permissions or set store.path elsewhere",
                       path);
    free(copy);
    return rc;
}

static roma_code check_options(const char *path, const store_options *in, store_options *out,
                               roma_err *err) {
    static const store_options none;
    *out = in ? *in : none;
    if (out->max_rows < 0 || out->queue_rows < 0 || out->batch_rows < 0 ||
        out->interval_ms < 0 || out->busy_timeout_ms < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "request store '%s': max_rows, queue_rows, batch_rows, interval_ms "
                         "and busy_timeout_ms must not be negative (0 takes the default)",
                         path ? path : "");
    if (!out->queue_rows) out->queue_rows = STORE_QUEUE_ROWS;
    if (!out->batch_rows) out->batch_rows = STORE_BATCH_ROWS;
    if (!out->interval_ms) out->interval_ms = STORE_INTERVAL_MS;
    if (!out->busy_timeout_ms) out->busy_timeout_ms = STORE_BUSY_TIMEOUT_MS;
    /* A batch larger than the queue would never be reached: the writer
     * would wait for the interval while rows are being dropped. */
    if (out->batch_rows > out->queue_rows) out->batch_rows = out->queue_rows;
    return ROMA_OK;
}

static const char schema_sql[] =
    "PRAGMA synchronous=NORMAL;"
    /* The writer appends at the right edge of the table and its index and
     * prunes at the left: 256 KB holds those paths.  The default 2 MB only
     * keeps pages it will not read again, and made RSS creep for as long
     * as the file grew (the soak's RSS check, bench/soak.sh). */
    "PRAGMA cache_size=-256;"
    "CREATE TABLE IF NOT EXISTS requests ("
    " seq INTEGER PRIMARY KEY,"
    " id INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " device TEXT NOT NULL,"
    " worker TEXT NOT NULL,"
    " arrival REAL NOT NULL,"
    " dispatch REAL NOT NULL,"
    " finish REAL NOT NULL,"
    " status INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS requests_finish ON requests(finish);"
    "CREATE TABLE IF NOT EXISTS history ("
    " t REAL NOT NULL,"
    " series TEXT NOT NULL,"
    " data TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS history_t ON history(t);";

/* WAL lets readers (the dashboard, sqlite3 on the command line) run while
 * the writer commits; without it a reader would stall the writer and the
 * queue would overflow.  So a file system without WAL support (some
 * network mounts) is an error, not a silent fallback. */
static roma_code enable_wal(store *s, roma_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sql_fail(err, s->path, s->db, rc, "cannot set the journal mode");
    }
    char mode[32];
    snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (strcmp(mode, "wal") != 0)
        return roma_fail(err, ROMA_FAILED_PRECONDITION,
                         "request store '%s': SQLite cannot use WAL journaling there (it "
                         "stays in '%s' mode); put the file on a local file system",
                         s->path, mode);
    return ROMA_OK;
}

/* A plain SQLITE_ERROR while creating or using the table means the file
 * already has a 'requests' table that is not ours ("no such column:
 * finish", "table requests has no column named worker"). */
static roma_code schema_fail(store *s, int rc, const char *what, roma_err *err) {
    if ((rc & 0xff) == SQLITE_ERROR)
        return roma_fail(err, ROMA_FAILED_PRECONDITION,
                         "request store '%s': the file holds a 'requests' table of another "
                         "layout (%s); move the file away or set store.path to a new file",
                         s->path, sqlite3_errmsg(s->db));
    return sql_fail(err, s->path, s->db, rc, what);
}

static roma_code prepare(store *s, const char *sql, sqlite3_stmt **st, roma_err *err) {
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? ROMA_OK : schema_fail(s, rc, "cannot prepare a statement", err);
}

static roma_code open_db(store *s, roma_err *err) {
    int rc = sqlite3_open_v2(s->path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) return sql_fail(err, s->path, s->db, rc, "cannot open");
    sqlite3_busy_timeout(s->db, s->opt.busy_timeout_ms);
    roma_code code = enable_wal(s, err);
    if (code != ROMA_OK) return code;
    rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return schema_fail(s, rc, "cannot create the table", err);
    if ((code = prepare(s,
                        "INSERT INTO requests (id, model, version, device, worker, arrival, "
                        "dispatch, finish, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        &s->insert, err)) ||
        (code = prepare(s, "DELETE FROM requests WHERE seq <= ?1", &s->prune, err)) ||
        /* IMMEDIATE takes the write lock up front, so waiting for another
         * writer goes through the busy timeout instead of failing later
         * with a stale snapshot. */
        (code = prepare(s, "BEGIN IMMEDIATE", &s->begin, err)) ||
        (code = prepare(s, "COMMIT", &s->commit, err)) ||
        (code = prepare(s, "INSERT INTO history (t, series, data) VALUES (?1, ?2, ?3)",
                        &s->hist_insert, err)) ||
        (code = prepare(s, "DELETE FROM history WHERE t < ?1", &s->hist_prune, err)))
        return code;
    return ROMA_OK;
}

/* ---- the writer thread -------------------------------------------------- */

static roma_code insert_row(store *s, const store_record *r, roma_err *err) {
    sqlite3_stmt *st = s->insert;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
    /* SQLITE_STATIC: the slot stays put until the batch is finished. */
    sqlite3_bind_text(st, 2, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, r->version);
    sqlite3_bind_text(st, 4, r->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->worker, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, r->arrival);
    sqlite3_bind_double(st, 7, r->dispatch);
    sqlite3_bind_double(st, 8, r->finish);
    sqlite3_bind_int(st, 9, r->status);
    int rc = step_done(st);
    return rc == SQLITE_OK ? ROMA_OK : sql_fail(err, s->path, s->db, rc, "cannot insert a row");
}

/* Deletes the oldest rows beyond max_rows.  seq grows by one per insert
 * (the writer is the only one inserting and only the oldest rows are ever
 * deleted), so "the newest max_rows" is a seq range: one range delete on
 * the primary key instead of a count and a sort. */
static roma_code prune(store *s, int64_t *upto, roma_err *err) {
    *upto = s->pruned_upto;
    if (s->opt.max_rows <= 0) return ROMA_OK;
    int64_t below = (int64_t)sqlite3_last_insert_rowid(s->db) - s->opt.max_rows;
    if (below <= s->pruned_upto) return ROMA_OK;
    sqlite3_bind_int64(s->prune, 1, below);
    int rc = step_done(s->prune);
    if (rc != SQLITE_OK) return sql_fail(err, s->path, s->db, rc, "cannot delete old rows");
    *upto = below;
    return ROMA_OK;
}

/* Inserts the history rows, then deletes those older than a day before
 * the newest (the index on t makes it a range delete). */
static roma_code write_history(store *s, const store_history_row *rows, size_t n,
                               roma_err *err) {
    double newest = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = s->hist_insert;
        sqlite3_bind_double(st, 1, rows[i].t);
        sqlite3_bind_text(st, 2, rows[i].series, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rows[i].data, -1, SQLITE_STATIC);
        int rc = step_done(st);
        if (rc != SQLITE_OK) return sql_fail(err, s->path, s->db, rc, "cannot insert a history row");
        if (rows[i].t > newest) newest = rows[i].t;
    }
    if (!n) return ROMA_OK;
    sqlite3_bind_double(s->hist_prune, 1, newest - STORE_HISTORY_KEEP_S);
    int rc = step_done(s->hist_prune);
    return rc == SQLITE_OK ? ROMA_OK
                           : sql_fail(err, s->path, s->db, rc, "cannot delete old history rows");
}

/* Inserts rows [first, first + n) of the ring and the history rows in one
 * transaction. */
static roma_code write_batch(store *s, size_t first, size_t n, const store_history_row *hist,
                             size_t nhist, roma_err *err) {
    size_t cap = (size_t)s->opt.queue_rows;
    int64_t upto;
    int rc = step_done(s->begin);
    if (rc != SQLITE_OK) return sql_fail(err, s->path, s->db, rc, "cannot begin a batch");
    roma_code code = ROMA_OK;
    for (size_t i = 0; i < n && code == ROMA_OK; i++)
        code = insert_row(s, &s->ring[(first + i) % cap], err);
    if (code == ROMA_OK) code = write_history(s, hist, nhist, err);
    if (code == ROMA_OK) code = prune(s, &upto, err);
    if (code == ROMA_OK && (rc = step_done(s->commit)) != SQLITE_OK)
        code = sql_fail(err, s->path, s->db, rc, "cannot commit a batch");
    if (code != ROMA_OK) {
        if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    s->pruned_upto = upto;
    return ROMA_OK;
}

/* Logs queue drops and failed batches, at most one line each per
 * STORE_LOG_EVERY_S: a disk that cannot keep up would otherwise log on
 * every batch.  `final` logs whatever is left (at close). */
static void report_losses(store *s, int final) {
    uint64_t dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED) - s->failed_rows;
    uint64_t hist = __atomic_load_n(&s->hist_lost, __ATOMIC_RELAXED);
    if (dropped == s->dropped_logged && s->failed_rows == s->failed_logged &&
        hist == s->hist_logged)
        return;
    double now = roma_now();
    if (!final && s->last_log != 0 && now - s->last_log < STORE_LOG_EVERY_S) return;
    s->last_log = now;
    if (dropped != s->dropped_logged)
        roma_warn("request store '%s': %llu rows dropped, %llu in all: the queue of %d rows "
                  "was full because the disk is slower than the request rate; raise the "
                  "store's queue_rows or put the file on faster storage",
                  s->path, (unsigned long long)(dropped - s->dropped_logged),
                  (unsigned long long)dropped, s->opt.queue_rows);
    if (s->failed_rows != s->failed_logged)
        roma_error("%s (%llu rows lost, %llu in all)", s->last_failure.msg,
                   (unsigned long long)(s->failed_rows - s->failed_logged),
                   (unsigned long long)s->failed_rows);
    if (hist != s->hist_logged)
        roma_warn("request store '%s': %llu history samples lost, %llu in all (the "
                  "dashboard's older history has gaps there)",
                  s->path, (unsigned long long)(hist - s->hist_logged),
                  (unsigned long long)hist);
    s->dropped_logged = dropped;
    s->failed_logged = s->failed_rows;
    s->hist_logged = hist;
}

static struct timespec deadline_after_ms(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

/* With mu held: waits until a batch is due (batch_rows waiting, the
 * interval since the first waiting row is over, a flush, or close) and
 * returns how many rows to write; 0 only when closing with nothing left. */
static size_t wait_for_batch(store *s) {
    struct timespec deadline;
    int timed = 0;
    for (;;) {
        size_t waiting = s->len + s->hist_len;
        if (s->closing || s->len >= (size_t)s->opt.batch_rows ||
            (waiting && (s->flush_upto > s->written || s->hist_flush_upto > s->hist_written)))
            return waiting;
        if (!waiting) {
            s->writer_idle = 1;
            pthread_cond_wait(&s->wake, &s->mu);
            s->writer_idle = 0;
            timed = 0;
            continue;
        }
        if (!timed) deadline = deadline_after_ms(s->opt.interval_ms), timed = 1;
        if (pthread_cond_timedwait(&s->wake, &s->mu, &deadline) == ETIMEDOUT)
            return s->len + s->hist_len;
    }
}

static void *writer_main(void *arg) {
    store *s = arg;
    size_t cap = (size_t)s->opt.queue_rows;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!wait_for_batch(s)) break; /* closing and drained */
        size_t first = s->head, n = s->len, nhist = s->hist_len;
        uint64_t end = s->added, hist_end = s->hist_added;
        store_history_row *hist = s->hist;
        s->hist = NULL, s->hist_len = s->hist_cap = 0;
        s->inflight = n;
        pthread_mutex_unlock(&s->mu);

        roma_err err = {{0}};
        roma_code rc = write_batch(s, first, n, hist, nhist, &err);
        if (rc != ROMA_OK) {
            __atomic_add_fetch(&s->dropped, n, __ATOMIC_RELAXED);
            __atomic_add_fetch(&s->hist_lost, nhist, __ATOMIC_RELAXED);
            s->failed_rows += n;
            s->last_failure = err;
        }
        for (size_t i = 0; i < nhist; i++) free(hist[i].data);
        free(hist);
        report_losses(s, 0);

        pthread_mutex_lock(&s->mu);
        s->head = (first + n) % cap;
        s->len -= n;
        s->inflight = 0;
        /* Restart at slot 0 whenever the queue empties: under a steady load
         * only the first few batches' slots are ever touched, so the ring's
         * memory stays unmapped up to the worst backlog seen. */
        if (!s->len) s->head = 0;
        s->written = end;
        s->hist_written = hist_end;
        if (rc != ROMA_OK && s->write_rc == ROMA_OK) s->write_rc = rc, s->write_err = err;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    report_losses(s, 1);
    return NULL;
}

/* ---- public API ---------------------------------------------------------- */

static void free_store(store *s) {
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->prune);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->hist_insert);
    sqlite3_finalize(s->hist_prune);
    for (size_t i = 0; i < s->hist_len; i++) free(s->hist[i].data);
    free(s->hist);
    /* The last connection to close checkpoints the WAL and removes it. */
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        roma_error("request store '%s': cannot close: %s", s->path, sqlite3_errmsg(s->db));
    free(s->ring);
    free(s->path);
    free(s);
}

roma_code store_open_opts(const char *path, const store_options *opt, store **out,
                          roma_err *err) {
    *out = NULL;
    store_options o;
    roma_code rc = check_options(path, opt, &o, err);
    if (rc == ROMA_OK) rc = check_path(path, err);
    if (rc != ROMA_OK) return rc;

    store *s = calloc(1, sizeof(*s));
    if (!s) return roma_fail(err, ROMA_RESOURCE_EXHAUSTED, "request store: out of memory");
    s->opt = o;
    s->path = strdup(path);
    /* malloc, not calloc: pages are touched only as the backlog needs them. */
    s->ring = malloc((size_t)o.queue_rows * sizeof(store_record));
    if (!s->path || !s->ring) {
        rc = roma_fail(err, ROMA_RESOURCE_EXHAUSTED,
                       "request store '%s': cannot allocate a queue of %d rows; lower the "
                       "store's queue_rows",
                       path, o.queue_rows);
        goto fail;
    }
    if ((rc = open_db(s, err)) != ROMA_OK) goto fail;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->done, NULL);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&s->writer, NULL, writer_main, s);
    if (e != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->wake);
        pthread_cond_destroy(&s->done);
        rc = roma_fail(err, ROMA_RESOURCE_EXHAUSTED,
                       "request store '%s': cannot start the writer thread: %s", path,
                       strerror(e));
        goto fail;
    }
    pthread_setname_np(s->writer, "roma-store");
    *out = s;
    return ROMA_OK;

fail:
    free_store(s);
    return rc;
}

roma_code store_open(const char *path, int64_t max_rows, store **out, roma_err *err) {
    store_options o = {.max_rows = max_rows};
    return store_open_opts(path, &o, out, err);
}

static void copy_string(char *dst, const char *src, size_t cap) {
    memcpy(dst, src, cap);
    dst[cap - 1] = '\0'; /* the caller's array may be full, unterminated */
}

void store_add(store *s, const store_record *r) {
    pthread_mutex_lock(&s->mu);
    if (s->len == (size_t)s->opt.queue_rows) {
        pthread_mutex_unlock(&s->mu);
        __atomic_add_fetch(&s->dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    store_record *slot = &s->ring[(s->head + s->len) % (size_t)s->opt.queue_rows];
    *slot = *r;
    copy_string(slot->model, r->model, sizeof(slot->model));
    copy_string(slot->device, r->device, sizeof(slot->device));
    copy_string(slot->worker, r->worker, sizeof(slot->worker));
    s->len++;
    s->added++;
    /* Signal only when it changes something: a wake-up is a system call on
     * the event loop's thread, so not one per row. */
    size_t waiting = s->len - s->inflight;
    if ((s->writer_idle && waiting == 1) || waiting == (size_t)s->opt.batch_rows)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

roma_code store_flush(store *s, roma_err *err) {
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->added, hist_target = s->hist_added;
    if (target > s->flush_upto) s->flush_upto = target;
    if (hist_target > s->hist_flush_upto) s->hist_flush_upto = hist_target;
    pthread_cond_signal(&s->wake);
    while (s->written < target || s->hist_written < hist_target)
        pthread_cond_wait(&s->done, &s->mu);
    roma_code rc = s->write_rc;
    if (rc != ROMA_OK) {
        if (err) *err = s->write_err;
        s->write_rc = ROMA_OK;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void store_add_history(store *s, double t, const char *series, const char *data) {
    store_history_row row = {.t = t, .data = strdup(data)};
    snprintf(row.series, sizeof(row.series), "%s", series);
    pthread_mutex_lock(&s->mu);
    if (!row.data || s->hist_len == STORE_HISTORY_ROWS) {
        pthread_mutex_unlock(&s->mu);
        free(row.data);
        __atomic_add_fetch(&s->hist_lost, 1, __ATOMIC_RELAXED);
        return;
    }
    if (s->hist_len == s->hist_cap) {
        size_t cap = s->hist_cap ? 2 * s->hist_cap : 16;
        store_history_row *grown = realloc(s->hist, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&s->mu);
            free(row.data);
            __atomic_add_fetch(&s->hist_lost, 1, __ATOMIC_RELAXED);
            return;
        }
        s->hist = grown, s->hist_cap = cap;
    }
    s->hist[s->hist_len++] = row;
    s->hist_added++;
    if (s->writer_idle && s->hist_len == 1) pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

/* A connection of its own, read-only: the writer's connection belongs to
 * the writer thread, and WAL lets this one read while it commits. */
roma_code store_read_history(store *s, double since, store_history_fn fn, void *arg,
                             roma_err *err) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, s->opt.busy_timeout_ms);
        rc = sqlite3_prepare_v2(db, "SELECT t, series, data FROM history WHERE t > ?1 "
                                    "ORDER BY t, rowid", -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_double(st, 1, since);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *series = (const char *)sqlite3_column_text(st, 1);
            const char *data = (const char *)sqlite3_column_text(st, 2);
            fn(arg, sqlite3_column_double(st, 0), series ? series : "", data ? data : "");
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    roma_code code = rc == SQLITE_OK ? ROMA_OK
                                     : sql_fail(err, s->path, db, rc, "cannot read the history");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return code;
}

uint64_t store_dropped(const store *s) {
    return __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
}

void store_close(store *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    free_store(s);
}

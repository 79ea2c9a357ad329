/* store.h - the request store of `roma serve`: one SQLite row per finished
 * request, written off the event loop.
 *
 * The dispatcher's event-loop thread calls store_add for every finished
 * request.  store_add only copies the row into a bounded in-memory queue
 * under a mutex: it never touches the disk, never allocates and never
 * waits for the writer beyond that short critical section.  A background
 * writer thread takes whatever is queued, every interval_ms or as soon as
 * batch_rows are waiting, and inserts it into the table `requests` in one
 * transaction (WAL journal, synchronous=NORMAL, one prepared statement
 * reused).  When the disk cannot keep up and the queue is full, store_add
 * drops the row and counts it (store_dropped) rather than block the loop or
 * grow without bound: the in-memory windows that feed the controller and
 * the metrics never depend on the store, so a lost history row costs only
 * history.
 *
 * Table `requests` (an index on finish serves "the last N minutes"):
 *   seq      INTEGER PRIMARY KEY  insertion order, used for retention
 *   id       INTEGER   request id (uint64 stored as int64; ids < 2^63)
 *   model    TEXT      version INTEGER   device TEXT ("cpu", "gpu:0")
 *   worker   TEXT      arrival, dispatch, finish REAL (UNIX seconds, us)
 *   status   INTEGER   HTTP status answered
 * Table `history` (the dashboard's samples, history.h; index on t):
 *   t        REAL      end of the sample's interval, UNIX seconds
 *   series   TEXT      a model's name, or "gpu:N"
 *   data     TEXT      the sample as a JSON object (history_point_json)
 * Its rows older than a day before the newest are deleted as new ones come.
 * Retention: with max_rows > 0 each batch's transaction also deletes the
 * oldest rows (by seq range, a cheap B-tree range delete) so that the table
 * never holds more than max_rows committed rows.
 *
 * Threads: store_add and store_dropped from any thread, concurrently.
 * store_flush from any thread but the writer.  store_open and store_close
 * from one owning thread; no other call may run during or after
 * store_close.
 */
#ifndef ROMA_STORE_H
#define ROMA_STORE_H

#include <stdint.h>

#include "common/status.h"

/* One finished request.  Strings are NUL-terminated; longer ones are cut
 * when the row is queued. */
typedef struct {
    uint64_t id;
    char model[128];
    int64_t version;
    char device[16];   /* "cpu", "gpu:0" */
    char worker[64];
    double arrival, dispatch, finish; /* UNIX seconds with microseconds */
    int status;                       /* HTTP status */
} store_record;

typedef struct store store;

/* Tuning knobs; a field left 0 takes the default shown. */
typedef struct {
    int64_t max_rows;    /* retention bound; 0: keep every row */
    int queue_rows;      /* rows queued in memory before drops; 100000
                          * (about 26 MB at the peak of a backlog) */
    int batch_rows;      /* wake the writer once this many wait; 1000 */
    int interval_ms;     /* otherwise write at least this often; 100 */
    int busy_timeout_ms; /* how long a batch waits for another process's
                          * write lock on the file before it fails; 5000 */
} store_options;

/* Opens (creating if needed) the SQLite file at path with the table and
 * index above, switches it to WAL and starts the writer thread.  Errors:
 * ROMA_INVALID_ARGUMENT when path's directory does not exist or path is a
 * directory, ROMA_PERMISSION_DENIED when the directory or file is not
 * writable, ROMA_FAILED_PRECONDITION when the file is not a ROMA store
 * (not SQLite, another schema, or WAL unavailable), ROMA_INTERNAL
 * otherwise; each message names the path and what to change.  On success
 * *out is owned by the caller until store_close. */
roma_code store_open(const char *path, int64_t max_rows, store **out, roma_err *err);

/* store_open with every knob (opt may be NULL: all defaults). */
roma_code store_open_opts(const char *path, const store_options *opt, store **out,
                          roma_err *err);

/* Queues a copy of *r (r is not kept).  Any thread; never does I/O and
 * never waits for the disk.  When the queue is full the row is dropped and
 * counted in store_dropped. */
void store_add(store *s, const store_record *r);

/* Waits until every row added before the call is committed (or has failed).
 * Returns ROMA_OK, or the error of a batch that failed since the previous
 * store_flush (the error is then cleared): disk full
 * (ROMA_RESOURCE_EXHAUSTED), file locked by another process past
 * busy_timeout_ms (ROMA_UNAVAILABLE), ...; the rows of a failed batch are
 * counted in store_dropped.  Not from the writer thread. */
roma_code store_flush(store *s, roma_err *err);

/* Queues one row of the table `history` (series and data are copied;
 * series is cut at 127 bytes).  Any thread; never does I/O.  Written with
 * the next batch (within interval_ms); past 100000 waiting rows it is
 * dropped and counted in store_dropped. */
void store_add_history(store *s, double t, const char *series, const char *data);

/* Calls fn(arg, t, series, data) for every history row with t > since,
 * oldest first, on the calling thread, through a read-only connection of
 * its own (so it may run while the writer commits).  The strings are valid
 * during the call only.  ROMA_OK, or the SQLite error with the store's
 * path.  Any thread but the writer; not during or after store_close. */
typedef void (*store_history_fn)(void *arg, double t, const char *series, const char *data);
roma_code store_read_history(store *s, double since, store_history_fn fn, void *arg,
                             roma_err *err);

/* Request rows that will never reach the file: dropped because the queue
 * was full, or lost with a batch that failed to commit.  History samples are
 * counted apart (logged, not here).  Any thread. */
uint64_t store_dropped(const store *s);

/* Writes everything still queued, stops the writer, closes the file and
 * frees s.  A write error at this point is logged.  s may be NULL. */
void store_close(store *s);

#endif

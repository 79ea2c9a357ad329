/* secret.h - shared secrets: the operations token of `roma serve` and the
 * per-start secret between roma serve and its workers.
 *
 * A secret is a string of printable ASCII without spaces (a fresh one is
 * 64 hex digits from getrandom: 256 bits).  Comparisons take a time that
 * depends only on the expected secret's length, never on where a guess
 * first differs, so a client cannot find a token one byte at a time.
 * Pure apart from getrandom and the token file; any thread.
 */
#ifndef ROMA_SECRET_H
#define ROMA_SECRET_H

#include <stddef.h>

#include "common/status.h"

#define ROMA_SECRET_HEX_LEN 64 /* a fresh secret: 32 random bytes in hex */
#define ROMA_SECRET_MIN_LEN 16 /* the shortest token accepted from a file */
#define ROMA_SECRET_MAX_LEN 256

/* roma serve hands each worker it starts a per-start secret in this
 * environment variable (not argv: `ps` shows argv to every user), and
 * sends it in this header with every request; such a worker refuses any
 * request without it (403).  A worker without the variable needs none. */
#define ROMA_WORKER_SECRET_ENV "ROMA_WORKER_SECRET"
#define ROMA_WORKER_SECRET_HEADER "X-Roma-Secret"

/* In cluster mode the secret is not drawn per start: every pod gets it from
 * the Kubernetes Secret `roma k8s render` references, roma serve included.
 * The kubelet's probes cannot carry it (probe headers are literal text in
 * the pod spec), so a worker pod also has this variable set to "1": its
 * model status, GET /v1/models/NAME (what the probes ask), is answered
 * without the secret.  Everything else still needs it. */
#define ROMA_WORKER_OPEN_STATUS_ENV "ROMA_WORKER_OPEN_STATUS"

/* Writes a fresh secret (ROMA_SECRET_HEX_LEN hex digits and a NUL) into
 * out, which holds at least ROMA_SECRET_HEX_LEN + 1 bytes.  Fails only
 * when the kernel gives no random bytes. */
roma_code roma_secret_random(char *out, roma_err *err);

/* 1 when the given_len bytes at given equal the NUL-terminated expected,
 * else 0.  Constant time in the sense above; given may be NULL (0). */
int roma_secret_equal(const char *given, size_t given_len, const char *expected);

/* Checks a secret given as text (what names where it came from, for the
 * message): ROMA_SECRET_MIN_LEN..ROMA_SECRET_MAX_LEN printable characters
 * without spaces, taken as is (nothing trimmed: the workers that get the
 * same text compare it as is). */
roma_code roma_secret_check(const char *what, const char *text, roma_err *err);

/* Reads the token stored in path into out[cap] (cap > ROMA_SECRET_MAX_LEN):
 * the file's text without trailing white space, which must be
 * ROMA_SECRET_MIN_LEN..ROMA_SECRET_MAX_LEN printable characters and no
 * space.  *loose is set when group or others may read the file (the caller
 * warns). */
roma_code roma_secret_read_file(const char *path, char *out, size_t cap, int *loose,
                                roma_err *err);

/* The token in path; when path does not exist, creates it (mode 0600, never
 * through a symlink) with a fresh secret and sets *created.  Later starts
 * find it and reuse it. */
roma_code roma_secret_load_or_create(const char *path, char *out, size_t cap, int *created,
                                     int *loose, roma_err *err);

#endif

/* status.h - error codes and messages shared by every ROMA module.
 *
 * A function that can fail returns a roma_code and, on failure, leaves a
 * message a user can act on in a caller-owned roma_err.  The codes are
 * TensorFlow's (absl) canonical codes, so a TF_Status from the C API maps
 * onto them unchanged and the REST layer has one table to turn them into
 * HTTP status codes (TensorFlow Serving does the same).
 */
#ifndef ROMA_STATUS_H
#define ROMA_STATUS_H

#include <stdarg.h>

typedef enum {
    ROMA_OK = 0,
    ROMA_CANCELLED = 1,
    ROMA_UNKNOWN = 2,
    ROMA_INVALID_ARGUMENT = 3,
    ROMA_DEADLINE_EXCEEDED = 4,
    ROMA_NOT_FOUND = 5,
    ROMA_ALREADY_EXISTS = 6,
    ROMA_PERMISSION_DENIED = 7,
    ROMA_RESOURCE_EXHAUSTED = 8,
    ROMA_FAILED_PRECONDITION = 9,
    ROMA_ABORTED = 10,
    ROMA_OUT_OF_RANGE = 11,
    ROMA_UNIMPLEMENTED = 12,
    ROMA_INTERNAL = 13,
    ROMA_UNAVAILABLE = 14,
    ROMA_DATA_LOSS = 15,
    ROMA_UNAUTHENTICATED = 16,
} roma_code;

typedef struct {
    char msg[1024];
} roma_err;

/* Records a printf-style message in err (if not NULL) and returns code, so
 * callers can write `return roma_fail(err, ROMA_NOT_FOUND, "...", ...)`. */
roma_code roma_fail(roma_err *err, roma_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The HTTP status TensorFlow Serving answers for a code (400, 404, ...). */
int roma_code_http_status(roma_code code);

/* "INVALID_ARGUMENT", ... as in TF Serving's status JSON. */
const char *roma_code_name(roma_code code);

#endif

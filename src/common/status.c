/* status.c - see status.h. */
#include "status.h"

#include <stdio.h>

roma_code roma_fail(roma_err *err, roma_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The mapping TensorFlow Serving's HTTP front end applies to a status. */
int roma_code_http_status(roma_code code) {
    switch (code) {
    case ROMA_OK: return 200;
    case ROMA_CANCELLED: return 499;
    case ROMA_INVALID_ARGUMENT:
    case ROMA_FAILED_PRECONDITION:
    case ROMA_OUT_OF_RANGE: return 400;
    case ROMA_DEADLINE_EXCEEDED: return 504;
    case ROMA_NOT_FOUND: return 404;
    case ROMA_ALREADY_EXISTS:
    case ROMA_ABORTED: return 409;
    case ROMA_PERMISSION_DENIED: return 403;
    case ROMA_RESOURCE_EXHAUSTED: return 429;
    case ROMA_UNIMPLEMENTED: return 501;
    case ROMA_UNAVAILABLE: return 503;
    case ROMA_UNAUTHENTICATED: return 401;
    default: return 500;
    }
}

const char *roma_code_name(roma_code code) {
    static const char *names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    if ((unsigned)code < sizeof(names) / sizeof(names[0])) return names[code];
    return "UNKNOWN";
}

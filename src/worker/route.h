/* route.h - the paths of TensorFlow Serving's REST API and its error
 * bodies, without TensorFlow: the worker (rest.h) and roma serve's
 * dispatcher both route requests by them, and only the worker links
 * TensorFlow.  Pure functions, safe from any thread.
 */
#ifndef ROMA_ROUTE_H
#define ROMA_ROUTE_H

#include "../common/buf.h"
#include "../common/status.h"

typedef enum { REST_PREDICT, REST_CLASSIFY, REST_REGRESS, REST_STATUS, REST_METADATA } rest_verb;

typedef struct {
    rest_verb verb;
    char model[256];
    char version[32]; /* "" when not given */
    char label[256];  /* "" when not given */
} rest_route;

/* Parses method and path (no query string; percent-decoding done).
 * NOT_FOUND/INVALID_ARGUMENT with TF Serving's message when malformed. */
roma_code rest_parse_route(const char *method, const char *path, rest_route *route,
                           roma_err *err);

/* Writes {"error": msg} and returns the HTTP status for code. */
int rest_error(roma_buf *out, roma_code code, const char *msg);

#endif

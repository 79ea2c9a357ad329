/* rest.h - TensorFlow Serving's REST API over a servable registry,
 * independent of any HTTP library: a request (method, path, body) in, a
 * status code and a JSON body out.
 *
 *   POST /v1/models/M[/versions/V|/labels/L]:predict|classify|regress
 *   GET  /v1/models/M[/versions/V|/labels/L]           (model status)
 *   GET  /v1/models/M[/versions/V|/labels/L]/metadata
 *
 * rest_handle runs TensorFlow, so it is called on an inference thread;
 * it is safe to call from many threads at once.
 */
#ifndef ROMA_REST_H
#define ROMA_REST_H

#include <stddef.h>

#include "../common/buf.h"
#include "../common/status.h"
#include "json_fast.h"
#include "servables.h"

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

/* Answers one request: writes the JSON body into out, returns the HTTP
 * status.  Errors are {"error": "..."} with TF Serving's status codes.
 * helper (may be NULL) parses the second half of large numeric bodies;
 * body[body_len] must be a NUL byte. */
int rest_handle(const sv_registry *reg, jf_helper *helper, const char *method, const char *path,
                const char *body, size_t body_len, roma_buf *out);

/* Writes {"error": msg} and returns the HTTP status for code. */
int rest_error(roma_buf *out, roma_code code, const char *msg);

#endif

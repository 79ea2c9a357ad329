/* route.h - the paths of TensorFlow Serving's REST API and of the Open
 * Inference Protocol (KServe v2, Triton's HTTP API), and the error bodies
 * both share, without TensorFlow: the worker (rest.h, v2.h) and roma
 * serve's dispatcher both route requests by them, and only the worker
 * links TensorFlow.  Pure functions, safe from any thread.
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

/* The Open Inference Protocol's paths:
 *   GET  /v2                                   server metadata
 *   GET  /v2/health/live, /v2/health/ready
 *   GET  /v2/models/M[/versions/V]             model metadata
 *   GET  /v2/models/M[/versions/V]/ready
 *   POST /v2/models/M[/versions/V]/infer */
typedef enum {
    V2_SERVER_METADATA, V2_LIVE, V2_READY, V2_MODEL_METADATA, V2_MODEL_READY, V2_INFER
} v2_verb;

typedef struct {
    v2_verb verb;
    char model[256];  /* "" for the server-wide verbs */
    char version[32]; /* "" when not given */
} v2_route;

/* Whether path belongs to the v2 API ("/v2" or under "/v2/"). */
int rest_is_v2_path(const char *path);

/* Parses a v2 method and path (percent-decoding done).  NOT_FOUND for a
 * path the protocol does not have, INVALID_ARGUMENT for a known path with
 * the wrong method or a version that is not a number. */
roma_code rest_parse_v2_route(const char *method, const char *path, v2_route *route,
                              roma_err *err);

/* Writes the v2 server metadata (GET /v2): name, version and extensions,
 * the same from roma worker and roma serve. */
void rest_v2_server_metadata(roma_buf *out);

/* Writes {"error": msg} and returns the HTTP status for code. */
int rest_error(roma_buf *out, roma_code code, const char *msg);

#endif

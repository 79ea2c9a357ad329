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
#include "route.h"
#include "servables.h"

/* Answers one request: writes the JSON body into out, returns the HTTP
 * status.  Errors are {"error": "..."} with TF Serving's status codes.
 * helper (may be NULL) parses the second half of large numeric bodies;
 * body[body_len] must be a NUL byte. */
int rest_handle(const sv_registry *reg, jf_helper *helper, const char *method, const char *path,
                const char *body, size_t body_len, roma_buf *out);

#endif

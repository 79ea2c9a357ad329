/* rest.h - TensorFlow Serving's REST API over a servable registry,
 * independent of any HTTP library: a request (method, path, body) in, a
 * status code and a JSON body out.
 *
 *   POST /v1/models/M[/versions/V|/labels/L]:predict|classify|regress
 *   GET  /v1/models/M[/versions/V|/labels/L]           (model status)
 *   GET  /v1/models/M[/versions/V|/labels/L]/metadata
 *
 * and the Open Inference Protocol's paths under /v2 (v2.h).
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
 * body[body_len] must be a NUL byte.  header_len is the request's
 * Inference-Header-Content-Length (NULL when absent); *answer_header_len
 * is set to the JSON part's length when a v2 answer carries binary
 * outputs after it (the reply then sends it in that header), else 0. */
int rest_handle(const sv_registry *reg, jf_helper *helper, const char *method, const char *path,
                const char *body, size_t body_len, const char *header_len, roma_buf *out,
                size_t *answer_header_len);

#endif

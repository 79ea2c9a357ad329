/* route.c - see route.h. */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include "common/version.h"

#define PREFIX "/v1/models/"

int rest_error(roma_buf *out, roma_code code, const char *msg) {
    out->len = 0;
    roma_buf_puts(out, "{\"error\": ");
    roma_buf_json_string(out, msg, strlen(msg));
    roma_buf_putc(out, '}');
    return roma_code_http_status(code);
}

/* Copies the path segment at *p (up to '/', ':' or the end) into dst. */
static int take_segment(const char **p, char *dst, size_t cap) {
    size_t n = strcspn(*p, "/:");
    if (n == 0 || n >= cap) return 0;
    memcpy(dst, *p, n);
    dst[n] = '\0';
    *p += n;
    return 1;
}

/* TF Serving: a bad request under /v1/ is 400 "Malformed request", any
 * other path 404. */
static roma_code bad_path(const char *method, const char *path, roma_err *err) {
    if (strncmp(path, "/v1/", 4) != 0)
        return roma_fail(err, ROMA_NOT_FOUND, "Not found: %s %s (the API is under /v1/models/)",
                         method, path);
    if (strcmp(method, "GET") == 0 && (strcmp(path, "/v1/models") == 0 || strcmp(path, PREFIX) == 0))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "Missing model name in request.");
    return roma_fail(err, ROMA_INVALID_ARGUMENT,
                     "Malformed request: %s %s (expected POST " PREFIX
                     "NAME[/versions/N|/labels/L]:predict|classify|regress or GET " PREFIX
                     "NAME[/versions/N|/labels/L][/metadata])",
                     method, path);
}

roma_code rest_parse_route(const char *method, const char *path, rest_route *r,
                           roma_err *err) {
    const char *p = path;
    memset(r, 0, sizeof(*r));
    if (strncmp(p, PREFIX, strlen(PREFIX)) != 0) return bad_path(method, path, err);
    p += strlen(PREFIX);
    if (!take_segment(&p, r->model, sizeof(r->model))) return bad_path(method, path, err);
    if (strncmp(p, "/versions/", 10) == 0) {
        p += 10;
        if (!take_segment(&p, r->version, sizeof(r->version)) ||
            strspn(r->version, "0123456789") != strlen(r->version))
            return bad_path(method, path, err);
    } else if (strncmp(p, "/labels/", 8) == 0) {
        p += 8;
        if (!take_segment(&p, r->label, sizeof(r->label))) return bad_path(method, path, err);
    }
    int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (post && strcmp(p, ":predict") == 0) r->verb = REST_PREDICT;
    else if (post && strcmp(p, ":classify") == 0) r->verb = REST_CLASSIFY;
    else if (post && strcmp(p, ":regress") == 0) r->verb = REST_REGRESS;
    else if (get && (strcmp(p, "") == 0 || strcmp(p, "/") == 0)) r->verb = REST_STATUS;
    else if (get && strcmp(p, "/metadata") == 0) r->verb = REST_METADATA;
    else return bad_path(method, path, err);
    return ROMA_OK;
}

/* ---- Open Inference Protocol (v2) -------------------------------------- */

#define V2_MODELS "/v2/models/"

int rest_is_v2_path(const char *path) {
    return strncmp(path, "/v2", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

void rest_v2_server_metadata(roma_buf *out) {
    roma_buf_puts(out, "{\"name\": \"roma\", \"version\": \"" ROMA_VERSION
                       "\", \"extensions\": [\"binary_tensor_data\"]}");
}

static roma_code v2_not_found(const char *method, const char *path, roma_err *err) {
    return roma_fail(err, ROMA_NOT_FOUND,
                     "Not found: %s %s (the v2 API has GET /v2, /v2/health/live, "
                     "/v2/health/ready, /v2/models/NAME[/versions/N][/ready] and POST "
                     "/v2/models/NAME[/versions/N]/infer)",
                     method, path);
}

/* The verb a path's tail names, and the method it needs. */
static int v2_tail_verb(const char *tail, v2_verb *verb, const char **method) {
    static const struct { const char *tail; v2_verb verb; const char *method; } tails[] = {
        {"", V2_MODEL_METADATA, "GET"},
        {"/ready", V2_MODEL_READY, "GET"},
        {"/infer", V2_INFER, "POST"},
    };
    for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
        if (strcmp(tail, tails[k].tail) != 0) continue;
        *verb = tails[k].verb;
        *method = tails[k].method;
        return 1;
    }
    return 0;
}

static int v2_server_verb(const char *path, v2_verb *verb) {
    if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) *verb = V2_SERVER_METADATA;
    else if (strcmp(path, "/v2/health/live") == 0) *verb = V2_LIVE;
    else if (strcmp(path, "/v2/health/ready") == 0) *verb = V2_READY;
    else return 0;
    return 1;
}

roma_code rest_parse_v2_route(const char *method, const char *path, v2_route *r,
                              roma_err *err) {
    const char *want = "GET", *p = path;
    memset(r, 0, sizeof(*r));
    if (!v2_server_verb(path, &r->verb)) {
        if (strncmp(p, V2_MODELS, strlen(V2_MODELS)) != 0) return v2_not_found(method, path, err);
        p += strlen(V2_MODELS);
        if (!take_segment(&p, r->model, sizeof(r->model)) || *p == ':')
            return v2_not_found(method, path, err);
        if (strncmp(p, "/versions/", 10) == 0) {
            p += 10;
            if (!take_segment(&p, r->version, sizeof(r->version)) || *p == ':')
                return v2_not_found(method, path, err);
            if (strspn(r->version, "0123456789") != strlen(r->version))
                return roma_fail(err, ROMA_INVALID_ARGUMENT,
                                 "model version '%s' is not a number: use "
                                 V2_MODELS "%s/versions/N with N a version the worker serves",
                                 r->version, r->model);
        }
        if (!v2_tail_verb(p, &r->verb, &want)) return v2_not_found(method, path, err);
    }
    if (strcmp(method, want) != 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s %s: this path takes %s", method, path,
                         want);
    return ROMA_OK;
}

/* test_serve_v2.c - what roma serve does with an Open Inference Protocol
 * (v2) request (dispatch_v2_action_of, src/serve/serve.h).
 *
 * Covers: from real paths (rest_parse_v2_route), liveness is always
 * answered here; server readiness follows "every model has a ready
 * worker"; server metadata is roma serve's own; an unknown model is 404
 * for every per-model verb; model metadata and inference are forwarded
 * whether or not a worker is ready now (the queue waits for a restarting
 * one); a model's readiness is answered here without a version, forwarded
 * with one (only the worker knows its versions) and "not ready" when the
 * model has no ready worker.
 */
#include "unit.h"

#include "serve/serve.h"

typedef struct {
    const char *name, *method, *path;
    int known, ready, all_ready;
    dispatch_v2_action want;
} v2_case;

static void test_actions(void **state) {
    (void)state;
    static const v2_case cases[] = {
        {"live", "GET", "/v2/health/live", 0, 0, 0, DISPATCH_V2_OK},
        {"ready", "GET", "/v2/health/ready", 0, 0, 1, DISPATCH_V2_OK},
        {"not ready", "GET", "/v2/health/ready", 1, 1, 0, DISPATCH_V2_NOT_READY},
        {"server metadata", "GET", "/v2", 0, 0, 0, DISPATCH_V2_SERVER_METADATA},
        {"infer", "POST", "/v2/models/m/infer", 1, 1, 1, DISPATCH_V2_FORWARD},
        {"infer, worker restarting", "POST", "/v2/models/m/infer", 1, 0, 0, DISPATCH_V2_FORWARD},
        {"infer, version", "POST", "/v2/models/m/versions/3/infer", 1, 1, 1, DISPATCH_V2_FORWARD},
        {"infer, unknown", "POST", "/v2/models/x/infer", 0, 0, 1, DISPATCH_V2_UNKNOWN_MODEL},
        {"metadata", "GET", "/v2/models/m", 1, 1, 1, DISPATCH_V2_FORWARD},
        {"metadata, version", "GET", "/v2/models/m/versions/2", 1, 0, 0, DISPATCH_V2_FORWARD},
        {"metadata, unknown", "GET", "/v2/models/x", 0, 0, 1, DISPATCH_V2_UNKNOWN_MODEL},
        {"model ready", "GET", "/v2/models/m/ready", 1, 1, 0, DISPATCH_V2_OK},
        {"model not ready", "GET", "/v2/models/m/ready", 1, 0, 0, DISPATCH_V2_NOT_READY},
        {"model ready, version", "GET", "/v2/models/m/versions/1/ready", 1, 1, 1,
         DISPATCH_V2_FORWARD},
        {"model not ready, version", "GET", "/v2/models/m/versions/1/ready", 1, 0, 1,
         DISPATCH_V2_NOT_READY},
        {"model ready, unknown", "GET", "/v2/models/x/ready", 0, 0, 1, DISPATCH_V2_UNKNOWN_MODEL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const v2_case *c = &cases[i];
        v2_route r;
        roma_err err;
        CASE_CHECK(c->name, rest_parse_v2_route(c->method, c->path, &r, &err) == ROMA_OK);
        CASE_CHECK(c->name, dispatch_v2_action_of(&r, c->known, c->ready, c->all_ready) == c->want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

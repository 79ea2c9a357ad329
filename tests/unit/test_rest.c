/* test_rest.c - the REST layer's pure parts (src/worker/rest.h,
 * src/common/status.h).
 *
 * Covers: rest_parse_route for every URL form TF Serving serves (predict /
 * classify / regress, /versions/N, /labels/L, model status, metadata) and
 * the ones it refuses (paths under /v1/ that match no route or use the
 * wrong method: 400 INVALID_ARGUMENT "Malformed request: <METHOD> <path>";
 * GET /v1/models: "Missing model name"; paths outside /v1/: 404);
 * roma_code_http_status for every code (TF Serving's http_server.cc table)
 * and roma_code_name; rest_error writing valid JSON {"error": msg} with
 * quotes, backslashes, newlines and control characters escaped; and
 * rest_handle's error answers on an empty registry (no TensorFlow needed).
 */
#include "unit.h"

#include "worker/rest.h"

/* ---- rest_parse_route: accepted routes --------------------------------- */

static void test_route_accepts_every_form(void **state) {
    static const struct {
        const char *method, *path;
        rest_verb verb;
        const char *model, *version, *label;
    } cases[] = {
        {"POST", "/v1/models/m:predict", REST_PREDICT, "m", "", ""},
        {"POST", "/v1/models/m:classify", REST_CLASSIFY, "m", "", ""},
        {"POST", "/v1/models/m:regress", REST_REGRESS, "m", "", ""},
        {"POST", "/v1/models/half_plus_two/versions/123:predict", REST_PREDICT, "half_plus_two",
         "123", ""},
        {"POST", "/v1/models/m/versions/00000123:classify", REST_CLASSIFY, "m", "00000123", ""},
        {"POST", "/v1/models/m/versions/7:regress", REST_REGRESS, "m", "7", ""},
        {"POST", "/v1/models/m/labels/stable:predict", REST_PREDICT, "m", "", "stable"},
        {"POST", "/v1/models/m/labels/canary:classify", REST_CLASSIFY, "m", "", "canary"},
        {"POST", "/v1/models/m/labels/canary:regress", REST_REGRESS, "m", "", "canary"},
        {"GET", "/v1/models/m", REST_STATUS, "m", "", ""},
        {"GET", "/v1/models/m/versions/12", REST_STATUS, "m", "12", ""},
        {"GET", "/v1/models/m/labels/stable", REST_STATUS, "m", "", "stable"},
        {"GET", "/v1/models/m/metadata", REST_METADATA, "m", "", ""},
        {"GET", "/v1/models/m/versions/12/metadata", REST_METADATA, "m", "12", ""},
        {"GET", "/v1/models/m/labels/stable/metadata", REST_METADATA, "m", "", "stable"},
        {"POST", "/v1/models/my.model-v2_x:predict", REST_PREDICT, "my.model-v2_x", "", ""},
        {"POST", "/v1/models/with space:predict", REST_PREDICT, "with space", "", ""},
        {"GET", "/v1/models/versions/versions/1", REST_STATUS, "versions", "1", ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s %s", cases[i].method, cases[i].path);
        rest_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_route(cases[i].method, cases[i].path, &r, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", name, err.msg);
        CASE_CHECK_INT(name, r.verb, cases[i].verb);
        CASE_CHECK_STR(name, r.model, cases[i].model);
        CASE_CHECK_STR(name, r.version, cases[i].version);
        CASE_CHECK_STR(name, r.label, cases[i].label);
    }
}

static void test_route_long_names(void **state) {
    char path[512], model[256];
    rest_route r;
    roma_err err = {{0}};
    memset(model, 'm', 255);
    model[255] = '\0';
    snprintf(path, sizeof(path), "/v1/models/%s:predict", model);
    assert_int_equal(rest_parse_route("POST", path, &r, &err), ROMA_OK);
    assert_string_equal(r.model, model);
    /* longer than rest_route can hold: refused, never truncated */
    char big[400];
    memset(big, 'm', 300);
    big[300] = '\0';
    snprintf(path, sizeof(path), "/v1/models/%s:predict", big);
    assert_int_not_equal(rest_parse_route("POST", path, &r, &err), ROMA_OK);
    check_message("300-character model name", err.msg);
}

/* ---- rest_parse_route: refused routes ---------------------------------- */

/* Paths under /v1/ that match no route, or a route with the wrong method
 * (the list tests/http/test_errors.py sends). */
static const struct {
    const char *method, *path;
} malformed_v1[] = {
    {"GET", "/v1/foo"},
    {"POST", "/v1/foo"},
    {"GET", "/v1/models/default:predict"},
    {"GET", "/v1/models/default:classify"},
    {"PUT", "/v1/models/default:predict"},
    {"POST", "/v1/models/default"},
    {"POST", "/v1/models/default/metadata"},
    {"POST", "/v1/models/default/version/123:predict"},
    {"POST", "/v1/models/default/versions/123/labels/x:predict"},
    {"POST", "/v1/models/default:explain"},
    {"POST", "/v1/models/default:"},
    {"POST", "/v1/models/default/versions/:predict"},
    {"POST", "/v1/models/default/labels/:predict"},
    {"POST", "/v1/models//versions/1:predict"},
    {"GET", "/v1/models/default/debug/x"},
    {"GET", "/v1/models/default/metadata/x"},
    {"GET", "/v1/models/default/versions"},
    {"PUT", "/v1/models/default"},
    {"DELETE", "/v1/models/default"},
};

static void test_route_rejects_malformed_v1_paths(void **state) {
    for (size_t i = 0; i < ARRAY_LEN(malformed_v1); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s %s", malformed_v1[i].method, malformed_v1[i].path);
        rest_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_route(malformed_v1[i].method, malformed_v1[i].path, &r, &err);
        CASE_CHECK(name, rc != ROMA_OK);
        check_contains(name, err.msg, "Malformed request");
        check_contains(name, err.msg, name); /* "<METHOD> <path>" */
    }
}

/* TF Serving (model_servers/http_rest_api_handler.cc) answers these with
 * errors::InvalidArgument("Malformed request: ", method, " ", path), i.e.
 * HTTP 400, not 404 (tests/http/TFSERVING_BEHAVIOUR.md, "Routes"). */
static void test_route_malformed_v1_path_is_invalid_argument_like_tfserving(void **state) {
    for (size_t i = 0; i < ARRAY_LEN(malformed_v1); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s %s", malformed_v1[i].method, malformed_v1[i].path);
        rest_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_route(malformed_v1[i].method, malformed_v1[i].path, &r, &err);
        CASE_CHECK_INT(name, rc, ROMA_INVALID_ARGUMENT);
    }
}

/* TF Serving's route regexes take /versions/(\\d+) only, so any other version
 * text is "Malformed request" (400); tests/http/test_errors.py sends
 * /versions/abc.  rest_parse_route must not hand such text on as a version. */
static void test_route_non_numeric_version_is_malformed_like_tfserving(void **state) {
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"POST", "/v1/models/default/versions/abc:predict"},
        {"POST", "/v1/models/default/versions/-1:predict"},
        {"POST", "/v1/models/default/versions/1.5:regress"},
        {"GET", "/v1/models/default/versions/0x10"},
        {"GET", "/v1/models/default/versions/+3/metadata"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s %s", cases[i].method, cases[i].path);
        rest_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_route(cases[i].method, cases[i].path, &r, &err);
        CASE_CHECK(name, rc != ROMA_OK);
        CASE_CHECK_INT(name, rc, ROMA_INVALID_ARGUMENT);
        check_contains(name, err.msg, "Malformed request");
    }
}

/* Only GET /v1/models reaches TF Serving's status handler ("Missing model
 * name"); a POST matches no route and is "Malformed request: POST
 * /v1/models" (tests/http/test_errors.py sends exactly this). */
static void test_route_post_v1_models_is_malformed_like_tfserving(void **state) {
    rest_route r;
    roma_err err = {{0}};
    roma_code rc = rest_parse_route("POST", "/v1/models", &r, &err);
    assert_int_equal(rc, ROMA_INVALID_ARGUMENT);
    check_contains("POST /v1/models", err.msg, "Malformed request: POST /v1/models");
}

/* TF Serving: GET /v1/models (no name) is 400 "Missing model name in request." */
static void test_route_get_models_without_name_is_missing_model_name(void **state) {
    rest_route r;
    roma_err err = {{0}};
    roma_code rc = rest_parse_route("GET", "/v1/models", &r, &err);
    assert_int_equal(rc, ROMA_INVALID_ARGUMENT);
    check_contains("GET /v1/models", err.msg, "Missing model name");
}

/* Paths outside /v1/ are not TF Serving REST routes at all: 404. */
static void test_route_outside_v1_is_not_found(void **state) {
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"POST", "/v2/models/m:predict"}, {"GET", "/"},        {"GET", "/models/m"},
        {"GET", "/v1"},                   {"GET", "/v1models/m"}, {"GET", ""},
        {"POST", "v1/models/m:predict"},  {"GET", "/favicon.ico"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s '%s'", cases[i].method, cases[i].path);
        rest_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_route(cases[i].method, cases[i].path, &r, &err);
        CASE_CHECK_INT(name, rc, ROMA_NOT_FOUND);
        check_message(name, err.msg);
    }
}

/* ---- status codes ------------------------------------------------------ */

static void test_code_http_status_every_code(void **state) {
    static const struct {
        roma_code code;
        int http;
        const char *name;
    } cases[] = {
        {ROMA_OK, 200, "OK"},
        {ROMA_CANCELLED, 499, "CANCELLED"},
        {ROMA_UNKNOWN, 500, "UNKNOWN"},
        {ROMA_INVALID_ARGUMENT, 400, "INVALID_ARGUMENT"},
        {ROMA_DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED"},
        {ROMA_NOT_FOUND, 404, "NOT_FOUND"},
        {ROMA_ALREADY_EXISTS, 409, "ALREADY_EXISTS"},
        {ROMA_PERMISSION_DENIED, 403, "PERMISSION_DENIED"},
        {ROMA_RESOURCE_EXHAUSTED, 429, "RESOURCE_EXHAUSTED"},
        {ROMA_FAILED_PRECONDITION, 400, "FAILED_PRECONDITION"},
        {ROMA_ABORTED, 409, "ABORTED"},
        {ROMA_OUT_OF_RANGE, 400, "OUT_OF_RANGE"},
        {ROMA_UNIMPLEMENTED, 501, "UNIMPLEMENTED"},
        {ROMA_INTERNAL, 500, "INTERNAL"},
        {ROMA_UNAVAILABLE, 503, "UNAVAILABLE"},
        {ROMA_DATA_LOSS, 500, "DATA_LOSS"},
        {ROMA_UNAUTHENTICATED, 401, "UNAUTHENTICATED"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CASE_CHECK_INT(cases[i].name, roma_code_http_status(cases[i].code), cases[i].http);
        CASE_CHECK_STR(cases[i].name, roma_code_name(cases[i].code), cases[i].name);
    }
    /* codes outside the enum: an internal error */
    assert_int_equal(roma_code_http_status((roma_code)99), 500);
    assert_int_equal(roma_code_http_status((roma_code)-1), 500);
    assert_string_equal(roma_code_name((roma_code)99), "UNKNOWN");
    assert_string_equal(roma_code_name((roma_code)-1), "UNKNOWN");
}

static void test_roma_fail(void **state) {
    roma_err err = {{0}};
    assert_int_equal(roma_fail(&err, ROMA_NOT_FOUND, "model '%s' v%d", "m", 3), ROMA_NOT_FOUND);
    assert_string_equal(err.msg, "model 'm' v3");
    assert_int_equal(roma_fail(NULL, ROMA_INTERNAL, "no err given"), ROMA_INTERNAL);
    /* long messages are truncated, still NUL-terminated */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    roma_fail(&err, ROMA_INTERNAL, "%s", big);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

/* ---- rest_error -------------------------------------------------------- */

static void test_rest_error_is_valid_json(void **state) {
    static const struct {
        const char *name, *msg;
        roma_code code;
        int http;
    } cases[] = {
        {"plain", "Servable not found for request: Latest(foo)", ROMA_NOT_FOUND, 404},
        {"double quotes", "Serving signature name: \"foo\" not found in signature def",
         ROMA_INVALID_ARGUMENT, 400},
        {"backslash", "path C:\\models\\x", ROMA_INVALID_ARGUMENT, 400},
        {"newline and tab", "line one\nline two\tend\r", ROMA_INTERNAL, 500},
        {"control characters", "bell \x07 and \x01 and \x1f", ROMA_UNAVAILABLE, 503},
        {"utf-8", "caf\xc3\xa9 \xe2\x82\xac", ROMA_FAILED_PRECONDITION, 400},
        {"JSON-looking", "{\"error\": \"nested\"}", ROMA_UNIMPLEMENTED, 501},
        {"empty", "", ROMA_UNKNOWN, 500},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_buf out = ROMA_BUF_INIT;
        roma_buf_puts(&out, "partial answer that must not survive");
        int http = rest_error(&out, cases[i].code, cases[i].msg);
        CASE_CHECK_INT(cases[i].name, http, cases[i].http);
        json_error_t e;
        json_t *root = json_loads(out.data, 0, &e);
        if (!root) fail_msg("case '%s': not valid JSON (%s): %s", cases[i].name, e.text, out.data);
        CASE_CHECK(cases[i].name, json_is_object(root) && json_object_size(root) == 1);
        CASE_CHECK_STR(cases[i].name, json_string_value(json_object_get(root, "error")),
                       cases[i].msg);
        json_decref(root);
        roma_buf_free(&out);
    }
}

/* ---- rest_handle on an empty registry ---------------------------------- */

static int handle(const char *method, const char *path, const char *body, char **error) {
    sv_registry reg = {NULL, 0};
    roma_buf out = ROMA_BUF_INIT;
    size_t header_len;
    int http = rest_handle(&reg, NULL, method, path, body, body ? strlen(body) : 0, NULL, &out,
                           &header_len);
    json_error_t e;
    json_t *root = json_loads(out.data ? out.data : "", 0, &e);
    if (!root) fail_msg("%s %s: answer is not valid JSON (%s): %s", method, path, e.text, out.data);
    const char *msg = json_string_value(json_object_get(root, "error"));
    *error = msg ? strdup(msg) : NULL;
    json_decref(root);
    roma_buf_free(&out);
    return http;
}

static void test_handle_unknown_model_is_404(void **state) {
    static const struct {
        const char *method, *path, *body;
    } cases[] = {
        {"POST", "/v1/models/nope:predict", "{\"instances\": [1.0]}"},
        {"POST", "/v1/models/nope:classify", "{\"examples\": [{\"x\": 1.0}]}"},
        {"POST", "/v1/models/nope:regress", "{\"examples\": [{\"x\": 1.0}]}"},
        {"POST", "/v1/models/nope/versions/3:predict", "{\"instances\": [1.0]}"},
        {"GET", "/v1/models/nope", NULL},
        {"GET", "/v1/models/nope/metadata", NULL},
        {"GET", "/v1/models/nope/labels/stable", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[256], *msg = NULL;
        snprintf(name, sizeof(name), "%s %s", cases[i].method, cases[i].path);
        int http = handle(cases[i].method, cases[i].path, cases[i].body, &msg);
        CASE_CHECK_INT(name, http, 404);
        check_message(name, msg);
        check_contains(name, msg, "nope");
        free(msg);
    }
}

static void test_handle_outside_v1_is_404(void **state) {
    char *msg = NULL;
    assert_int_equal(handle("GET", "/index.html", NULL, &msg), 404);
    free(msg);
}

/* End to end, the route bug above: TF Serving answers 400 here. */
static void test_handle_malformed_request_is_400_like_tfserving(void **state) {
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"PUT", "/v1/models/default"},
        {"GET", "/v1/models/default:predict"},
        {"POST", "/v1/models/default:explain"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[256], *msg = NULL;
        snprintf(name, sizeof(name), "%s %s", cases[i].method, cases[i].path);
        int http = handle(cases[i].method, cases[i].path, "{\"instances\": [1.0]}", &msg);
        check_contains(name, msg, "Malformed request");
        free(msg);
        CASE_CHECK_INT(name, http, 400);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_accepts_every_form),
        cmocka_unit_test(test_route_long_names),
        cmocka_unit_test(test_route_rejects_malformed_v1_paths),
        cmocka_unit_test(test_route_malformed_v1_path_is_invalid_argument_like_tfserving),
        cmocka_unit_test(test_route_non_numeric_version_is_malformed_like_tfserving),
        cmocka_unit_test(test_route_get_models_without_name_is_missing_model_name),
        cmocka_unit_test(test_route_post_v1_models_is_malformed_like_tfserving),
        cmocka_unit_test(test_route_outside_v1_is_not_found),
        cmocka_unit_test(test_code_http_status_every_code),
        cmocka_unit_test(test_roma_fail),
        cmocka_unit_test(test_rest_error_is_valid_json),
        cmocka_unit_test(test_handle_unknown_model_is_404),
        cmocka_unit_test(test_handle_outside_v1_is_404),
        cmocka_unit_test(test_handle_malformed_request_is_400_like_tfserving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

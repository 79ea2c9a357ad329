/* test_serve_gpu_config.c - the model config roma serve writes for a GPU
 * worker (supervisor_model_config_text, src/serve/serve.h), read back with
 * the worker's parser (src/worker/model_config.h).
 *
 * Covers: names and base paths with quotes, backslashes, spaces and
 * non-ASCII bytes come back unchanged (they used to be written unescaped:
 * a '"' in a path cut the string or injected fields); a path holding a
 * newline or another control character is refused with a message naming
 * the model.
 */
#include "unit.h"

#include <string.h>

#include "serve/serve.h"
#include "worker/model_config.h"

static void round_trip(serve_model_config *models, size_t n) {
    roma_buf text = ROMA_BUF_INIT;
    roma_err err = {{0}};
    mc_config cfg;
    assert_int_equal(supervisor_model_config_text(models, n, &text, &err), ROMA_OK);
    roma_code rc = mc_parse(text.data, &cfg, &err);
    if (rc != ROMA_OK) fail_msg("mc_parse: %s\n--- config:\n%s", err.msg, text.data);
    assert_int_equal(cfg.nmodels, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(cfg.models[i].name, models[i].name);
        assert_string_equal(cfg.models[i].base_path, models[i].base_path);
        assert_string_equal(cfg.models[i].platform, "tensorflow");
    }
    mc_config_free(&cfg);
    roma_buf_free(&text);
}

static void test_plain_paths(void **state) {
    serve_model_config m[] = {{.name = "resnet", .base_path = "/srv/models/resnet"},
                              {.name = "mlp", .base_path = "models/mlp"}};
    (void)state;
    round_trip(m, 2);
}

static void test_quotes_and_backslashes_are_escaped(void **state) {
    serve_model_config m[] = {
        {.name = "a", .base_path = "/srv/we\"ird\" base_path: \"/etc\""},
        {.name = "b", .base_path = "C:\\models\\b\\"},
        {.name = "c", .base_path = "/srv/a path with spaces/and 'quotes'/\xc3\xa9t\xc3\xa9"},
    };
    (void)state;
    round_trip(m, 3);
}

static void test_control_characters_are_refused(void **state) {
    serve_model_config m[] = {{.name = "evil", .base_path = "/srv/x\"}\nconfig { name: \"y"}};
    roma_buf text = ROMA_BUF_INIT;
    roma_err err = {{0}};
    (void)state;
    assert_int_equal(supervisor_model_config_text(m, 1, &text, &err), ROMA_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "evil"));
    assert_non_null(strstr(err.msg, "base_path"));
    roma_buf_free(&text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_paths),
        cmocka_unit_test(test_quotes_and_backslashes_are_escaped),
        cmocka_unit_test(test_control_characters_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

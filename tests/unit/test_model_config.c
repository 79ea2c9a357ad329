/* test_model_config.c - the model config (src/worker/model_config.h).
 *
 * Covers: mc_parse on TF Serving's text-format ModelServerConfig (one and
 * several models, model_version_policy latest{num_versions} / all{} /
 * specific{versions...}, version_labels, comments, single quotes, optional
 * separators) and its errors (unknown field names the field and its line,
 * missing name or base_path, duplicate model names, unclosed braces and
 * strings, bad integers, empty config, unsupported platform); mc_single;
 * mc_apply_policy (latest 1, latest N with fewer versions available, all,
 * specific, a missing specific version => ROMA_NOT_FOUND, the output never
 * exceeding navailable); and mc_scan_versions on a temporary directory tree
 * (numeric directories incl. zero-padded "00000123"; non-numeric directories
 * and plain files ignored; a missing directory is an error naming the path).
 */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "worker/model_config.h"

/* ---- mc_parse: accepted configs ---------------------------------------- */

static void parse_ok(const char *text, mc_config *cfg) {
    roma_err err = {{0}};
    roma_code rc = mc_parse(text, cfg, &err);
    if (rc != ROMA_OK) fail_msg("mc_parse failed (%d): %s\n--- config:\n%s", rc, err.msg, text);
}

static void test_parse_single_model(void **state) {
    mc_config cfg;
    parse_ok("model_config_list {\n"
             "  config {\n"
             "    name: \"half_plus_two\"\n"
             "    base_path: \"/models/half_plus_two\"\n"
             "    model_platform: \"tensorflow\"\n"
             "  }\n"
             "}\n",
             &cfg);
    assert_int_equal(cfg.nmodels, 1);
    const mc_model *m = &cfg.models[0];
    assert_string_equal(m->name, "half_plus_two");
    assert_string_equal(m->base_path, "/models/half_plus_two");
    assert_string_equal(m->platform, "tensorflow");
    /* TF Serving's default policy: latest { num_versions: 1 } */
    assert_int_equal(m->policy.kind, MC_LATEST);
    assert_int_equal(m->policy.num_versions, 1);
    assert_int_equal(m->policy.nversions, 0);
    assert_int_equal(m->nlabels, 0);
    mc_config_free(&cfg);
    assert_int_equal(cfg.nmodels, 0);
}

static void test_parse_several_models(void **state) {
    mc_config cfg;
    parse_ok("model_config_list {\n"
             "  config { name: \"a\" base_path: \"/m/a\" model_platform: \"tensorflow\" }\n"
             "  config { name: \"b\" base_path: \"/m/b\" }\n"
             "  config: { name: \"c\", base_path: \"/m/c\"; }\n"
             "}\n",
             &cfg);
    static const char *names[] = {"a", "b", "c"}, *paths[] = {"/m/a", "/m/b", "/m/c"};
    assert_int_equal(cfg.nmodels, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(cfg.models[i].name, names[i]);
        assert_string_equal(cfg.models[i].base_path, paths[i]);
        assert_int_equal(cfg.models[i].policy.kind, MC_LATEST);
        assert_int_equal(cfg.models[i].policy.num_versions, 1);
    }
    mc_config_free(&cfg);
}

static void test_parse_version_policies(void **state) {
    static const struct {
        const char *name, *policy;
        mc_policy_kind kind;
        int num_versions;
        size_t nversions;
        int64_t versions[3];
    } cases[] = {
        {"latest with num_versions", "latest { num_versions: 3 }", MC_LATEST, 3, 0, {0}},
        {"latest without num_versions", "latest {}", MC_LATEST, 1, 0, {0}},
        {"all", "all {}", MC_ALL, 0, 0, {0}},
        {"all with colon", "all: {}", MC_ALL, 0, 0, {0}},
        {"specific one", "specific { versions: 42 }", MC_SPECIFIC, 0, 1, {42}},
        {"specific several", "specific { versions: 1 versions: 2 versions: 1234567890123 }",
         MC_SPECIFIC, 0, 3, {1, 2, 1234567890123}},
        {"specific angle brackets", "specific < versions: 7 >", MC_SPECIFIC, 0, 1, {7}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "model_config_list {\n config {\n  name: \"m\"\n  base_path: \"/m\"\n"
                 "  model_version_policy { %s }\n }\n}\n",
                 cases[i].policy);
        mc_config cfg;
        roma_err err = {{0}};
        roma_code rc = mc_parse(text, &cfg, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        const mc_policy *p = &cfg.models[0].policy;
        CASE_CHECK_INT(cases[i].name, p->kind, cases[i].kind);
        if (cases[i].kind == MC_LATEST)
            CASE_CHECK_INT(cases[i].name, p->num_versions, cases[i].num_versions);
        CASE_CHECK_INT(cases[i].name, p->nversions, cases[i].nversions);
        for (size_t k = 0; k < cases[i].nversions && k < p->nversions; k++)
            CASE_CHECK_INT(cases[i].name, p->versions[k], cases[i].versions[k]);
        mc_config_free(&cfg);
    }
}

static void test_parse_version_labels(void **state) {
    mc_config cfg;
    parse_ok("model_config_list {\n"
             "  config {\n"
             "    name: \"m\"\n"
             "    base_path: \"/m\"\n"
             "    model_version_policy { specific { versions: 123 versions: 124 } }\n"
             "    version_labels { key: \"stable\" value: 123 }\n"
             "    version_labels { key: 'canary' value: 124 }\n"
             "  }\n"
             "}\n",
             &cfg);
    const mc_model *m = &cfg.models[0];
    assert_int_equal(m->nlabels, 2);
    assert_string_equal(m->labels[0].label, "stable");
    assert_int_equal(m->labels[0].version, 123);
    assert_string_equal(m->labels[1].label, "canary");
    assert_int_equal(m->labels[1].version, 124);
    mc_config_free(&cfg);
}

static void test_parse_comments_quotes_and_layout(void **state) {
    mc_config cfg;
    parse_ok("# the models this worker serves\n"
             "model_config_list {   # trailing comment\n"
             "  # a whole-line comment with a { brace and a \" quote\n"
             "  config {\n"
             "    name: 'single_quoted'\n"
             "    base_path: \"/models/with # hash\"   # '#' inside a string is data\n"
             "  }\n"
             "  config{name:\"tight\" base_path:'/t'}\n"
             "}\n"
             "# end\n",
             &cfg);
    assert_int_equal(cfg.nmodels, 2);
    assert_string_equal(cfg.models[0].name, "single_quoted");
    assert_string_equal(cfg.models[0].base_path, "/models/with # hash");
    assert_string_equal(cfg.models[1].name, "tight");
    assert_string_equal(cfg.models[1].base_path, "/t");
    mc_config_free(&cfg);
}

static void test_parse_quotes_inside_strings(void **state) {
    mc_config cfg;
    parse_ok("model_config_list { config { name: \"it's\" base_path: '/a \"b\"' } }", &cfg);
    assert_string_equal(cfg.models[0].name, "it's");
    assert_string_equal(cfg.models[0].base_path, "/a \"b\"");
    mc_config_free(&cfg);
}

static void test_single(void **state) {
    mc_config cfg;
    roma_err err = {{0}};
    assert_int_equal(mc_single("half", "/models/half", &cfg, &err), ROMA_OK);
    assert_int_equal(cfg.nmodels, 1);
    assert_string_equal(cfg.models[0].name, "half");
    assert_string_equal(cfg.models[0].base_path, "/models/half");
    assert_int_equal(cfg.models[0].policy.kind, MC_LATEST);
    assert_int_equal(cfg.models[0].policy.num_versions, 1);
    mc_config_free(&cfg);

    assert_int_equal(mc_single("half", "", &cfg, &err), ROMA_INVALID_ARGUMENT);
    check_message("empty base path", err.msg);
    assert_int_equal(mc_single("half", NULL, &cfg, &err), ROMA_INVALID_ARGUMENT);
}

/* ---- mc_parse: errors -------------------------------------------------- */

static void test_parse_errors(void **state) {
    static const struct {
        const char *name, *text;
        const char *mentions[3]; /* each must appear in the message */
    } cases[] = {
        {"unknown field in config",
         "model_config_list {\n"
         "  config {\n"
         "    name: \"m\"\n"
         "    bogus_field: 1\n"
         "    base_path: \"/m\"\n"
         "  }\n"
         "}\n",
         {"bogus_field", "line 4"}},
        {"unknown top-level field", "\n\nmodel_config_lst { }\n", {"model_config_lst", "line 3"}},
        {"unknown field in model_config_list",
         "model_config_list {\n  configs { name: \"m\" base_path: \"/m\" }\n}\n",
         {"configs", "line 2"}},
        {"unknown policy",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { newest {} } } }\n",
         {"newest", "line 2"}},
        {"unknown field in latest",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { latest { count: 2 } } } }\n",
         {"count", "line 2"}},
        {"unknown field in specific",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { specific { version: 2 } } } }\n",
         {"version", "line 2"}},
        {"unknown field in version_labels",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  version_labels { label: \"a\" value: 1 } } }\n",
         {"label", "line 2"}},
        {"missing name", "model_config_list {\n  config { base_path: \"/m\" }\n}\n", {"name"}},
        {"empty name", "model_config_list { config { name: \"\" base_path: \"/m\" } }\n",
         {"name"}},
        {"missing base_path", "model_config_list {\n  config { name: \"m\" }\n}\n",
         {"base_path"}},
        {"duplicate model names",
         "model_config_list {\n"
         "  config { name: \"twice\" base_path: \"/a\" }\n"
         "  config { name: \"twice\" base_path: \"/b\" }\n"
         "}\n",
         {"twice"}},
        {"unclosed brace",
         "model_config_list {\n  config { name: \"m\" base_path: \"/m\"\n}\n", {"line"}},
        {"unclosed outer brace", "model_config_list {\n  config { name: \"m\" base_path: \"/m\" }\n",
         {"model_config_list"}},
        {"stray closing brace",
         "model_config_list { config { name: \"m\" base_path: \"/m\" } } }\n", {"line"}},
        {"unclosed string", "model_config_list { config { name: \"m base_path: \"/m\" } }\n",
         {"line"}},
        {"bad num_versions",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { latest { num_versions: two } } } }\n",
         {"num_versions", "line 2"}},
        {"num_versions zero",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { latest { num_versions: 0 } } } }\n",
         {"num_versions"}},
        {"fractional version",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { specific { versions: 1.5 } } } }\n",
         {"versions", "line 2"}},
        {"version too big",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { specific { versions: 99999999999999999999 } } } }\n",
         {"versions"}},
        {"specific without versions",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  model_version_policy { specific {} } } }\n",
         {"specific"}},
        {"bad label value",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  version_labels { key: \"a\" value: x1 } } }\n",
         {"value", "line 2"}},
        {"label without key",
         "model_config_list { config { name: \"m\" base_path: \"/m\"\n"
         "  version_labels { value: 1 } } }\n",
         {"version_labels"}},
        {"scalar where a message is expected", "model_config_list: 3\n", {"model_config_list"}},
        {"message where a value is expected",
         "model_config_list { config { name { } base_path: \"/m\" } }\n", {"name"}},
        {"value without colon", "model_config_list { config { name \"m\" } }\n", {"name"}},
        {"unsupported platform",
         "model_config_list { config { name: \"m\" base_path: \"/m\" model_platform: \"pytorch\" } }\n",
         {"pytorch"}},
        {"empty config", "", {NULL}},
        {"only comments", "# nothing here\n\n", {NULL}},
        {"empty model list", "model_config_list { }\n", {NULL}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        mc_config cfg;
        roma_err err = {{0}};
        roma_code rc = mc_parse(cases[i].text, &cfg, &err);
        if (rc == ROMA_OK) mc_config_free(&cfg);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        for (size_t k = 0; k < ARRAY_LEN(cases[i].mentions); k++)
            check_contains(cases[i].name, err.msg, cases[i].mentions[k]);
    }
}

/* ---- mc_apply_policy --------------------------------------------------- */

static void test_apply_policy(void **state) {
    static const int64_t avail[] = {3, 10, 1, 7}; /* any order */
    static const int64_t spec_1_7[] = {1, 7}, spec_10[] = {10}, spec_7_3_10[] = {7, 3, 10};
    static const struct {
        const char *name;
        mc_policy policy;
        size_t navail;
        size_t nchosen;
        int64_t chosen[4]; /* highest first */
    } cases[] = {
        {"latest 1", {MC_LATEST, 1, NULL, 0}, 4, 1, {10}},
        {"latest 2", {MC_LATEST, 2, NULL, 0}, 4, 2, {10, 7}},
        {"latest 4", {MC_LATEST, 4, NULL, 0}, 4, 4, {10, 7, 3, 1}},
        {"latest 10 with 4 available", {MC_LATEST, 10, NULL, 0}, 4, 4, {10, 7, 3, 1}},
        {"latest 3 with 1 available", {MC_LATEST, 3, NULL, 0}, 1, 1, {3}},
        {"latest with none available", {MC_LATEST, 1, NULL, 0}, 0, 0, {0}},
        {"all", {MC_ALL, 0, NULL, 0}, 4, 4, {10, 7, 3, 1}},
        {"all with none available", {MC_ALL, 0, NULL, 0}, 0, 0, {0}},
        {"specific 1 and 7", {MC_SPECIFIC, 0, (int64_t *)spec_1_7, 2}, 4, 2, {7, 1}},
        {"specific 10", {MC_SPECIFIC, 0, (int64_t *)spec_10, 1}, 4, 1, {10}},
        {"specific unsorted", {MC_SPECIFIC, 0, (int64_t *)spec_7_3_10, 3}, 4, 3, {10, 7, 3}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t chosen[4] = {-1, -1, -1, -1};
        size_t nchosen = 99;
        roma_err err = {{0}};
        roma_code rc = mc_apply_policy(&cases[i].policy, avail, cases[i].navail, chosen,
                                       &nchosen, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        CASE_CHECK_INT(cases[i].name, nchosen, cases[i].nchosen);
        for (size_t k = 0; k < nchosen && k < 4; k++)
            CASE_CHECK_INT(cases[i].name, chosen[k], cases[i].chosen[k]);
    }
}

static void test_apply_policy_missing_specific_version(void **state) {
    static const int64_t avail[] = {1, 2, 3};
    static const struct {
        const char *name;
        int64_t versions[3];
        size_t n;
        const char *mentions;
    } cases[] = {
        {"one missing", {4}, 1, "4"},
        {"second missing", {2, 99}, 2, "99"},
        {"none available", {1}, 1, "1"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        mc_policy p = {MC_SPECIFIC, 0, (int64_t *)cases[i].versions, cases[i].n};
        int64_t chosen[3];
        size_t nchosen = 0;
        roma_err err = {{0}};
        size_t navail = strcmp(cases[i].name, "none available") == 0 ? 0 : 3;
        roma_code rc = mc_apply_policy(&p, avail, navail, chosen, &nchosen, &err);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_NOT_FOUND);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
    }
}

/* mc_apply_policy's contract: chosen has room for navailable entries.  A
 * 'specific' policy naming a version twice (mc_parse accepts
 * "specific { versions: 1 versions: 1 }") must still choose each available
 * version once, never writing past navailable entries. */
static void test_apply_policy_duplicate_specific_versions_stay_in_bounds(void **state) {
    static const int64_t avail[] = {1};
    int64_t twice[] = {1, 1};
    mc_policy p = {MC_SPECIFIC, 0, twice, 2};
    /* one slot, as servables.c allocates it, plus a guard we can inspect */
    int64_t *chosen = calloc(2, sizeof(int64_t));
    assert_non_null(chosen);
    chosen[1] = -12345;
    size_t nchosen = 0;
    roma_err err = {{0}};
    roma_code rc = mc_apply_policy(&p, avail, 1, chosen, &nchosen, &err);
    int64_t guard = chosen[1];
    free(chosen);
    assert_int_equal(rc, ROMA_OK);
    assert_int_equal(nchosen, 1);
    assert_true(guard == -12345); /* nothing written past navailable */
}

/* ---- mc_scan_versions -------------------------------------------------- */

static char *make_tree(void) {
    char tmpl[] = "/tmp/roma_test_versions_XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    static const char *dirs[] = {"1", "00000123", "42", "0", "abc", "1a", "v2", "-3",
                                 "1234567890123456789012", ".hidden"};
    static const char *files[] = {"7", "saved_model.pb", "99.txt"};
    char path[512];
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("not a version\n", f);
        fclose(f);
    }
    /* a numeric directory's contents do not matter to the scan */
    snprintf(path, sizeof(path), "%s/1/saved_model.pb", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    return strdup(root);
}

static void remove_tree(const char *root) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_scan_versions(void **state) {
    char *root = make_tree();
    int64_t *versions = NULL;
    size_t n = 0;
    roma_err err = {{0}};
    roma_code rc = mc_scan_versions(root, &versions, &n, &err);
    remove_tree(root);
    free(root);
    if (rc != ROMA_OK) fail_msg("mc_scan_versions: %s", err.msg);
    qsort(versions, n, sizeof(int64_t), cmp_i64);
    static const int64_t want[] = {0, 1, 42, 123};
    assert_int_equal(n, ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++) assert_int_equal(versions[i], want[i]);
    free(versions);
}

static void test_scan_versions_empty_dir(void **state) {
    char tmpl[] = "/tmp/roma_test_empty_XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    int64_t *versions = NULL;
    size_t n = 99;
    roma_err err = {{0}};
    roma_code rc = mc_scan_versions(root, &versions, &n, &err);
    rmdir(root);
    assert_int_equal(rc, ROMA_OK);
    assert_int_equal(n, 0);
    free(versions);
}

static void test_scan_versions_errors(void **state) {
    char tmpl[] = "/tmp/roma_test_file_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    close(fd);
    const struct {
        const char *name, *path;
    } cases[] = {
        {"missing directory", "/tmp/roma_test_no_such_dir/models/m"},
        {"a plain file", tmpl},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t *versions = NULL;
        size_t n = 0;
        roma_err err = {{0}};
        roma_code rc = mc_scan_versions(cases[i].path, &versions, &n, &err);
        free(versions);
        CASE_CHECK(cases[i].name, rc != ROMA_OK);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].path);
    }
    unlink(tmpl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_single_model),
        cmocka_unit_test(test_parse_several_models),
        cmocka_unit_test(test_parse_version_policies),
        cmocka_unit_test(test_parse_version_labels),
        cmocka_unit_test(test_parse_comments_quotes_and_layout),
        cmocka_unit_test(test_parse_quotes_inside_strings),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_apply_policy),
        cmocka_unit_test(test_apply_policy_missing_specific_version),
        cmocka_unit_test(test_apply_policy_duplicate_specific_versions_stay_in_bounds),
        cmocka_unit_test(test_scan_versions),
        cmocka_unit_test(test_scan_versions_empty_dir),
        cmocka_unit_test(test_scan_versions_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

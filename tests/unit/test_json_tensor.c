/* test_json_tensor.c - TensorFlow Serving's JSON <-> tensor conversion
 * (src/worker/json_tensor.h).
 *
 * Covers: jt_parse_body (NaN / Infinity / -Infinity tokens, malformed and
 * non-object bodies); jt_signature_name; jt_values_to_tensor for every
 * supported dtype (float, double, int8/16/32/64, uint8/16/32/64, bool,
 * string incl. {"b64": ...}) and every shape case (scalar, 1-D, 2-D, 3-D,
 * empty lists, stacked instances) plus its error paths (ragged lists, wrong
 * leaf types, out-of-range integers, unsupported dtypes, lossy numbers);
 * jt_write_tensor / jt_write_float / jt_write_double (NaN and infinities as
 * bare tokens, shortest text that reads back, TF Serving's ".0" suffix);
 * jt_predict_inputs in row ("instances") and columnar ("inputs") form with
 * hand-built signatures of one and several inputs, and its errors; and
 * jt_write_predict for row/columnar answers with one and several outputs,
 * "_bytes" outputs as {"b64": ...}, and row answers whose outputs disagree
 * on the batch size.  Every error must be ROMA_INVALID_ARGUMENT (or the
 * documented code) with a non-empty message.  Tensors are freed with
 * jt_tensors_free so the AddressSanitizer build finds leaks.
 */
#include "unit.h"

#include <float.h>
#include <math.h>

#include "common/b64.h"
#include "worker/json_tensor.h"

/* ---- helpers ----------------------------------------------------------- */

/* Parses `{"v": <value_text>}` with jt_parse_body (so NaN tokens work);
 * *v is the "v" member.  json_decref the result. */
static json_t *parse_value(const char *value_text, const json_t **v) {
    roma_buf body = ROMA_BUF_INIT;
    roma_err err = {{0}};
    json_t *root = NULL;
    roma_buf_printf(&body, "{\"v\": %s}", value_text);
    roma_code rc = jt_parse_body(body.data, body.len, &root, &err);
    if (rc != ROMA_OK) fail_msg("cannot parse test value %s: %s", body.data, err.msg);
    roma_buf_free(&body);
    *v = json_object_get(root, "v");
    assert_non_null(*v);
    return root;
}

static json_t *parse_body(const char *text) {
    roma_err err = {{0}};
    json_t *root = NULL;
    roma_code rc = jt_parse_body(text, strlen(text), &root, &err);
    if (rc != ROMA_OK) fail_msg("cannot parse test body %s: %s", text, err.msg);
    return root;
}

/* One JSON value (not stacked) as a tensor of dtype. */
static roma_code value_to_tensor(const char *value_text, TF_DataType dtype, TF_Tensor **t,
                                 roma_err *err) {
    const json_t *v;
    json_t *root = parse_value(value_text, &v);
    *t = NULL;
    roma_code rc = jt_values_to_tensor(&v, 1, 0, dtype, t, err);
    json_decref(root);
    return rc;
}

/* The elements of a JSON list stacked as instances (a new leading dim). */
static roma_code instances_to_tensor(const char *list_text, TF_DataType dtype, TF_Tensor **t,
                                     roma_err *err) {
    const json_t *list;
    json_t *root = parse_value(list_text, &list);
    const json_t *vals[16];
    size_t n = json_array_size(list);
    assert_true(n <= ARRAY_LEN(vals));
    for (size_t i = 0; i < n; i++) vals[i] = json_array_get(list, i);
    *t = NULL;
    roma_code rc = jt_values_to_tensor(vals, n, 1, dtype, t, err);
    json_decref(root);
    return rc;
}

static void check_dims(const char *name, const TF_Tensor *t, int ndims, const int64_t *dims) {
    CASE_CHECK_INT(name, TF_NumDims(t), ndims);
    for (int d = 0; d < ndims; d++) CASE_CHECK_INT(name, TF_Dim(t, d), dims[d]);
}

/* jt_write_tensor's text; free() it. */
static char *tensor_text(const TF_Tensor *t, int as_b64) {
    roma_buf out = ROMA_BUF_INIT;
    jt_write_tensor(&out, t, as_b64);
    return roma_buf_detach(&out, NULL);
}

static char *float_text(float v) {
    roma_buf out = ROMA_BUF_INIT;
    jt_write_float(&out, v);
    return roma_buf_detach(&out, NULL);
}

static char *double_text(double v) {
    roma_buf out = ROMA_BUF_INIT;
    jt_write_double(&out, v);
    return roma_buf_detach(&out, NULL);
}

static TF_Tensor *numeric_tensor(TF_DataType dtype, const int64_t *dims, int ndims,
                                 const void *data, size_t nbytes) {
    TF_Tensor *t = TF_AllocateTensor(dtype, dims, ndims, nbytes);
    assert_non_null(t);
    if (nbytes) memcpy(TF_TensorData(t), data, nbytes);
    return t;
}

/* A DT_STRING tensor of n elements; lens[i] (or strlen when lens is NULL). */
static TF_Tensor *string_tensor(const int64_t *dims, int ndims, const char *const *strs,
                                const size_t *lens, size_t n) {
    TF_Tensor *t = TF_AllocateTensor(TF_STRING, dims, ndims, n * sizeof(TF_TString));
    assert_non_null(t);
    TF_TString *s = TF_TensorData(t);
    for (size_t i = 0; i < n; i++) {
        TF_StringInit(&s[i]);
        TF_StringCopy(&s[i], strs[i], lens ? lens[i] : strlen(strs[i]));
    }
    return t;
}

static tfb_tensor_info tinfo(const char *key, TF_DataType dtype) {
    tfb_tensor_info t;
    memset(&t, 0, sizeof(t));
    t.key = (char *)key;
    t.tensor_name = (char *)key;
    t.dtype = dtype;
    t.unknown_rank = 1;
    return t;
}

/* ---- jt_parse_body ----------------------------------------------------- */

static void test_parse_body_accepts_objects(void **state) {
    json_t *root = parse_body("{\"instances\": [1, 2.5, \"s\"], \"signature_name\": \"x\"}");
    assert_true(json_is_object(root));
    assert_int_equal(json_array_size(json_object_get(root, "instances")), 3);
    json_decref(root);
}

static void test_parse_body_nan_and_infinity_tokens(void **state) {
    const json_t *v;
    json_t *root = parse_value("[NaN, Infinity, -Infinity, 2.5]", &v);
    TF_Tensor *t = NULL;
    roma_err err = {{0}};
    static const TF_DataType types[] = {TF_FLOAT, TF_DOUBLE};
    for (size_t k = 0; k < ARRAY_LEN(types); k++) {
        assert_int_equal(jt_values_to_tensor(&v, 1, 0, types[k], &t, &err), ROMA_OK);
        double got[4];
        for (int i = 0; i < 4; i++)
            got[i] = types[k] == TF_FLOAT ? (double)((float *)TF_TensorData(t))[i]
                                          : ((double *)TF_TensorData(t))[i];
        assert_true(isnan(got[0]));
        assert_true(isinf(got[1]) && got[1] > 0);
        assert_true(isinf(got[2]) && got[2] < 0);
        assert_true(got[3] == 2.5);
        jt_tensors_free(&t, 1);
        assert_null(t);
    }
    json_decref(root);
}

static void test_parse_body_tokens_inside_strings_are_left_alone(void **state) {
    /* Keys and string values that spell the tokens, an escaped quote before
     * one, and a string ending in an escaped backslash before a real token. */
    json_t *root = parse_body("{\"NaN\": [\"NaN\", \"-Infinity\", \"say \\\"NaN\\\"\"],"
                              " \"s\": \"x\\\\\", \"v\": [NaN]}");
    const json_t *strs = json_object_get(root, "NaN");
    assert_non_null(strs);
    TF_Tensor *t = NULL;
    roma_err err = {{0}};
    assert_int_equal(jt_values_to_tensor(&strs, 1, 0, TF_STRING, &t, &err), ROMA_OK);
    const TF_TString *s = TF_TensorData(t);
    static const char *want[] = {"NaN", "-Infinity", "say \"NaN\""};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(TF_StringGetSize(&s[i]), strlen(want[i]));
        assert_memory_equal(TF_StringGetDataPointer(&s[i]), want[i], strlen(want[i]));
    }
    jt_tensors_free(&t, 1);
    assert_string_equal(json_string_value(json_object_get(root, "s")), "x\\");
    const json_t *v = json_object_get(root, "v");
    assert_int_equal(jt_values_to_tensor(&v, 1, 0, TF_FLOAT, &t, &err), ROMA_OK);
    assert_true(isnan(((float *)TF_TensorData(t))[0]));
    jt_tensors_free(&t, 1);
    json_decref(root);
}

static void test_parse_body_errors(void **state) {
    static const struct {
        const char *name, *body;
    } cases[] = {
        {"empty body", ""},
        {"whitespace only", "   "},
        {"unclosed object", "{\"instances\": [1.0]"},
        {"missing value", "{\"instances\": }"},
        {"bare word", "nope"},
        {"token glued to letters", "{\"v\": NaNa}"},
        {"list at top level", "[1, 2]"},
        {"number at top level", "3"},
        {"NaN at top level", "NaN"},
        {"string at top level", "\"instances\""},
        {"trailing garbage", "{\"v\": 1} x"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        json_t *root = (json_t *)1;
        roma_code rc = jt_parse_body(cases[i].body, strlen(cases[i].body), &root, &err);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        if (rc == ROMA_OK) json_decref(root);
    }
}

/* ---- jt_signature_name ------------------------------------------------- */

static void test_signature_name(void **state) {
    roma_err err = {{0}};
    const char *name = NULL;
    json_t *root = parse_body("{\"instances\": [1]}");
    assert_int_equal(jt_signature_name(root, &name, &err), ROMA_OK);
    assert_string_equal(name, "serving_default");
    json_decref(root);

    root = parse_body("{\"signature_name\": \"classify_x\", \"instances\": [1]}");
    assert_int_equal(jt_signature_name(root, &name, &err), ROMA_OK);
    assert_string_equal(name, "classify_x");
    json_decref(root);

    root = parse_body("{\"signature_name\": 5, \"instances\": [1]}");
    assert_int_equal(jt_signature_name(root, &name, &err), ROMA_INVALID_ARGUMENT);
    check_message("non-string signature_name", err.msg);
    json_decref(root);
}

/* ---- JSON -> tensor: every dtype --------------------------------------- */

static const float f32_vals[] = {1.5f, -2.25f, 0.1f, 1e-3f};
static const double f64_vals[] = {0.1, -1e300, 2.5};
static const int8_t i8_vals[] = {-128, 0, 127};
static const uint8_t u8_vals[] = {0, 200, 255};
static const int16_t i16_vals[] = {-32768, 7, 32767};
static const uint16_t u16_vals[] = {0, 65535};
static const int32_t i32_vals[] = {INT32_MIN, -1, INT32_MAX};
static const uint32_t u32_vals[] = {0, 4294967295u};
static const int64_t i64_vals[] = {INT64_MIN, 0, INT64_MAX};
static const uint64_t u64_vals[] = {0, 1, 9223372036854775807ull};
static const uint8_t bool_vals[] = {1, 0, 0, 1};

static void test_values_every_numeric_dtype(void **state) {
    static const struct {
        const char *name;
        TF_DataType dtype;
        const char *json;
        int ndims;
        int64_t dims[2];
        const void *data;
        size_t nbytes;
        const char *written; /* jt_write_tensor's output, as JSON */
    } cases[] = {
        {"float", TF_FLOAT, "[[1.5, -2.25], [0.1, 1e-3]]", 2, {2, 2}, f32_vals,
         sizeof(f32_vals), "[[1.5, -2.25], [0.1, 0.001]]"},
        {"double", TF_DOUBLE, "[0.1, -1e300, 2.5]", 1, {3}, f64_vals, sizeof(f64_vals),
         "[0.1, -1e300, 2.5]"},
        {"int8", TF_INT8, "[-128, 0, 127]", 1, {3}, i8_vals, sizeof(i8_vals), NULL},
        {"uint8", TF_UINT8, "[0, 200, 255]", 1, {3}, u8_vals, sizeof(u8_vals), NULL},
        {"int16", TF_INT16, "[-32768, 7, 32767]", 1, {3}, i16_vals, sizeof(i16_vals), NULL},
        {"uint16", TF_UINT16, "[0, 65535]", 1, {2}, u16_vals, sizeof(u16_vals), NULL},
        {"int32", TF_INT32, "[-2147483648, -1, 2147483647]", 1, {3}, i32_vals,
         sizeof(i32_vals), NULL},
        {"uint32", TF_UINT32, "[0, 4294967295]", 1, {2}, u32_vals, sizeof(u32_vals), NULL},
        {"int64", TF_INT64, "[-9223372036854775808, 0, 9223372036854775807]", 1, {3},
         i64_vals, sizeof(i64_vals), NULL},
        {"uint64", TF_UINT64, "[0, 1, 9223372036854775807]", 1, {3}, u64_vals,
         sizeof(u64_vals), NULL},
        {"bool", TF_BOOL, "[[true, false], [false, true]]", 2, {2, 2}, bool_vals,
         sizeof(bool_vals), NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t;
        roma_code rc = value_to_tensor(cases[i].json, cases[i].dtype, &t, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        CASE_CHECK_INT(cases[i].name, TF_TensorType(t), cases[i].dtype);
        check_dims(cases[i].name, t, cases[i].ndims, cases[i].dims);
        CASE_CHECK_INT(cases[i].name, TF_TensorByteSize(t), cases[i].nbytes);
        CASE_CHECK(cases[i].name, memcmp(TF_TensorData(t), cases[i].data, cases[i].nbytes) == 0);
        char *text = tensor_text(t, 0);
        check_json_equal(cases[i].name, text,
                         cases[i].written ? cases[i].written : cases[i].json);
        free(text);
        jt_tensors_free(&t, 1);
    }
}

static void test_values_strings_and_b64(void **state) {
    static const struct {
        const char *name, *json;
        int ndims;
        int64_t dims[2];
        size_t n;
        const char *want[4];
        size_t lens[4];
        int as_b64;
        const char *written;
    } cases[] = {
        {"plain strings", "[\"plain\", \"\", \"quote \\\" nl \\n\", \"h\\u00e9\"]", 1, {4}, 4,
         {"plain", "", "quote \" nl \n", "h\xc3\xa9"}, {5, 0, 12, 3}, 0, NULL},
        {"scalar string", "\"x\"", 0, {0}, 1, {"x"}, {1}, 0, NULL},
        {"2-D strings", "[[\"a\", \"b\"], [\"c\", \"d\"]]", 2, {2, 2}, 4, {"a", "b", "c", "d"},
         {1, 1, 1, 1}, 0, NULL},
        {"b64 binary", "[{\"b64\": \"AAEC/w==\"}, {\"b64\": \"\"}, {\"b64\": \"aGk=\"}]", 1, {3},
         3, {"\x00\x01\x02\xff", "", "hi"}, {4, 0, 2}, 1, NULL},
        {"b64 without padding", "[{\"b64\": \"aGk\"}]", 1, {1}, 1, {"hi"}, {2}, 1,
         "[{\"b64\": \"aGk=\"}]"},
        {"b64 mixed with plain", "[\"hi\", {\"b64\": \"aGk=\"}]", 1, {2}, 2, {"hi", "hi"},
         {2, 2}, 0, "[\"hi\", \"hi\"]"},
        {"string with NUL escape", "[\"a\\u0000b\"]", 1, {1}, 1, {"a\0b"}, {3}, 0, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t;
        roma_code rc = value_to_tensor(cases[i].json, TF_STRING, &t, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        CASE_CHECK_INT(cases[i].name, TF_TensorType(t), TF_STRING);
        check_dims(cases[i].name, t, cases[i].ndims, cases[i].dims);
        CASE_CHECK_INT(cases[i].name, TF_TensorElementCount(t), cases[i].n);
        const TF_TString *s = TF_TensorData(t);
        for (size_t k = 0; k < cases[i].n; k++) {
            CASE_CHECK_INT(cases[i].name, TF_StringGetSize(&s[k]), cases[i].lens[k]);
            CASE_CHECK(cases[i].name, memcmp(TF_StringGetDataPointer(&s[k]), cases[i].want[k],
                                             cases[i].lens[k]) == 0);
        }
        char *text = tensor_text(t, cases[i].as_b64);
        check_json_equal(cases[i].name, text,
                         cases[i].written ? cases[i].written : cases[i].json);
        free(text);
        jt_tensors_free(&t, 1);
    }
}

/* ---- JSON -> tensor: shapes -------------------------------------------- */

static void test_values_shapes(void **state) {
    static const float seq[] = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f};
    static const struct {
        const char *name, *json;
        int stacked;
        int ndims;
        int64_t dims[4];
        size_t count; /* elements; data is seq[0..count) */
    } cases[] = {
        {"scalar", "0.5", 0, 0, {0}, 1},
        {"1-D of one", "[0.5]", 0, 1, {1}, 1},
        {"1-D", "[0.5, 1.5, 2.5]", 0, 1, {3}, 3},
        {"2-D", "[[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]", 0, 2, {2, 3}, 6},
        {"3-D", "[[[0.5], [1.5]], [[2.5], [3.5]], [[4.5], [5.5]]]", 0, 3, {3, 2, 1}, 6},
        {"empty list", "[]", 0, 1, {0}, 0},
        {"list of empty lists", "[[], []]", 0, 2, {2, 0}, 0},
        {"3-D with empty innermost", "[[[]]]", 0, 3, {1, 1, 0}, 0},
        {"stacked scalars", "[0.5, 1.5, 2.5]", 1, 1, {3}, 3},
        {"stacked one scalar", "[0.5]", 1, 1, {1}, 1},
        {"stacked vectors", "[[0.5, 1.5], [2.5, 3.5], [4.5, 5.5]]", 1, 2, {3, 2}, 6},
        {"stacked matrices", "[[[0.5], [1.5], [2.5]], [[3.5], [4.5], [5.5]]]", 1, 3, {2, 3, 1},
         6},
        {"stacked empty lists", "[[], []]", 1, 2, {2, 0}, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t;
        roma_code rc = cases[i].stacked ? instances_to_tensor(cases[i].json, TF_FLOAT, &t, &err)
                                        : value_to_tensor(cases[i].json, TF_FLOAT, &t, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        check_dims(cases[i].name, t, cases[i].ndims, cases[i].dims);
        CASE_CHECK_INT(cases[i].name, TF_TensorElementCount(t), cases[i].count);
        CASE_CHECK(cases[i].name,
                   cases[i].count == 0 ||
                       memcmp(TF_TensorData(t), seq, cases[i].count * sizeof(float)) == 0);
        char *text = tensor_text(t, 0); /* a stack of instances is written as their list */
        check_json_equal(cases[i].name, text, cases[i].json);
        free(text);
        jt_tensors_free(&t, 1);
    }
}

/* ---- JSON -> tensor: errors -------------------------------------------- */

static void test_values_errors(void **state) {
    static const struct {
        const char *name;
        TF_DataType dtype;
        const char *json;
        int stacked;
        const char *mentions;
    } cases[] = {
        {"ragged 2-D", TF_FLOAT, "[[1.5, 2.5], [3.5]]", 0, NULL},
        {"list deeper than its sibling", TF_FLOAT, "[1.5, [2.5]]", 0, NULL},
        {"scalar where sibling is a list", TF_FLOAT, "[[1.5], 2.5]", 0, NULL},
        {"ragged after an empty list", TF_FLOAT, "[[], [1.5]]", 0, NULL},
        {"ragged 3-D", TF_INT32, "[[[1, 2]], [[3]]]", 0, NULL},
        {"ragged instances", TF_FLOAT, "[[1.5, 2.5], [3.5]]", 1, NULL},
        {"instances of different rank", TF_FLOAT, "[[1.5], 2.5]", 1, NULL},
        {"string for float", TF_FLOAT, "\"x\"", 0, NULL},
        {"bool for float", TF_FLOAT, "[true]", 0, NULL},
        {"null for double", TF_DOUBLE, "null", 0, NULL},
        {"object for float", TF_FLOAT, "{\"a\": 1}", 0, NULL},
        {"b64 object for float", TF_FLOAT, "[{\"b64\": \"AA==\"}]", 0, NULL},
        {"real for int32", TF_INT32, "[1.5]", 0, NULL},
        {"real 2.0 for int64", TF_INT64, "2.0", 0, NULL},
        {"string for int8", TF_INT8, "\"1\"", 0, NULL},
        {"bool for int32", TF_INT32, "[true]", 0, NULL},
        {"NaN for int32", TF_INT32, "[NaN]", 0, NULL},
        {"Infinity for uint8", TF_UINT8, "Infinity", 0, NULL},
        {"integer for bool", TF_BOOL, "[1]", 0, NULL},
        {"string for bool", TF_BOOL, "\"true\"", 0, NULL},
        {"null for bool", TF_BOOL, "null", 0, NULL},
        {"number for string", TF_STRING, "[1]", 0, NULL},
        {"null for string", TF_STRING, "null", 0, NULL},
        {"NaN for string", TF_STRING, "NaN", 0, NULL},
        {"object with b64 and more for string", TF_STRING, "{\"b64\": \"AA==\", \"x\": 1}", 0,
         NULL},
        {"b64 holding a number", TF_STRING, "{\"b64\": 5}", 0, NULL},
        {"invalid base64", TF_STRING, "[{\"b64\": \"!!!!\"}]", 0, NULL},
        {"base64 of impossible length", TF_STRING, "{\"b64\": \"aGkhY\"}", 0, NULL},
        /* out of range integers: the message names the value */
        {"int8 128", TF_INT8, "[128]", 0, "128"},
        {"int8 -129", TF_INT8, "[-129]", 0, "-129"},
        {"uint8 256", TF_UINT8, "[256]", 0, "256"},
        {"uint8 -1", TF_UINT8, "[-1]", 0, "-1"},
        {"int16 32768", TF_INT16, "[32768]", 0, "32768"},
        {"int16 -32769", TF_INT16, "[-32769]", 0, "-32769"},
        {"uint16 65536", TF_UINT16, "[65536]", 0, "65536"},
        {"uint16 -1", TF_UINT16, "-1", 0, "-1"},
        {"int32 2147483648", TF_INT32, "[2147483648]", 0, "2147483648"},
        {"int32 -2147483649", TF_INT32, "[-2147483649]", 0, "-2147483649"},
        {"uint32 4294967296", TF_UINT32, "[4294967296]", 0, "4294967296"},
        {"uint32 -1", TF_UINT32, "[-1]", 0, "-1"},
        {"uint64 -1", TF_UINT64, "[-1]", 0, "-1"},
        {"out of range in the last instance", TF_INT8, "[[1], [2], [300]]", 1, "300"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = cases[i].stacked ? instances_to_tensor(cases[i].json, cases[i].dtype, &t, &err)
                                        : value_to_tensor(cases[i].json, cases[i].dtype, &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
    }
}

/* ---- JSON -> tensor: ragged lists whose first elements promise more ------
 * The shape is read off the first element at each depth; a long first
 * list followed by short or empty ones must be refused before anything is
 * allocated for the promised shape (issue 16: a 1.58 MB body asked
 * TensorFlow for 360 GB and the worker died; strings wrote gigabytes). */

/* A list whose first element is `first` (text), followed by `more` copies
 * of `rest` (text). */
static void append_list(roma_buf *b, const char *first, const char *rest, size_t more) {
    roma_buf_putc(b, '[');
    roma_buf_puts(b, first);
    for (size_t k = 0; k < more; k++) {
        roma_buf_putc(b, ',');
        roma_buf_puts(b, rest);
    }
    roma_buf_putc(b, ']');
}

/* `levels` nested lists, each with `len` elements of which only the first
 * is a list (the others: `rest`); the innermost holds `len` copies of leaf.
 * Read off the first elements, its shape is len^levels. */
static char *deep_ragged(int levels, size_t len, const char *leaf, const char *rest) {
    roma_buf inner = ROMA_BUF_INIT;
    append_list(&inner, leaf, leaf, len - 1);
    for (int d = 1; d < levels; d++) {
        roma_buf outer = ROMA_BUF_INIT;
        append_list(&outer, inner.data, rest, len - 1);
        roma_buf_free(&inner);
        inner = outer;
    }
    return roma_buf_detach(&inner, NULL);
}

/* `{"instances": [<long row of n leaves>, [], [], ... rows times]}`. */
static char *ragged_instances_body(size_t n, const char *leaf, size_t rows) {
    roma_buf row = ROMA_BUF_INIT, body = ROMA_BUF_INIT;
    append_list(&row, leaf, leaf, n - 1);
    roma_buf_puts(&body, "{\"instances\": ");
    append_list(&body, row.data, "[]", rows);
    roma_buf_putc(&body, '}');
    roma_buf_free(&row);
    return roma_buf_detach(&body, NULL);
}

static void test_values_ragged_promising_huge_shapes_refused(void **state) {
    /* Shapes read off the first elements: 100000 x 100000 (4e10 floats),
     * 1000^4 (1e12), 4^32 (2^64: the element count itself overflows). */
    char *rows = deep_ragged(2, 100000, "1", "[]");
    char *deep = deep_ragged(4, 1000, "1", "[]");
    char *deep_str = deep_ragged(4, 1000, "\"s\"", "[]");
    char *deep_b64 = deep_ragged(4, 1000, "{\"b64\": \"aGk=\"}", "[]");
    char *deeper_later = deep_ragged(3, 1000, "1", "[[1, [2]]]");
    char *overflow = deep_ragged(32, 4, "1", "[]");
    char *overflow_leaf = deep_ragged(32, 4, "1", "2");
    const struct {
        const char *name;
        TF_DataType dtype;
        const char *json;
        const char *mentions;
    } cases[] = {
        {"long first row, then empty rows", TF_FLOAT, rows, "got a list of 0"},
        {"long first row, empty rows, doubles", TF_DOUBLE, rows, "ragged"},
        {"long first row, empty rows, int8", TF_INT8, rows, "ragged"},
        {"deep ragged numbers", TF_FLOAT, deep, "at depth 3"},
        {"deep ragged strings", TF_STRING, deep_str, "ragged"},
        {"deep ragged b64 strings", TF_STRING, deep_b64, "ragged"},
        {"deep ragged bools", TF_BOOL, deep, "ragged"},
        {"siblings of other lengths deeper down", TF_FLOAT, deeper_later, "ragged"},
        {"first elements' shape overflows the count", TF_FLOAT, overflow, "ragged"},
        {"first elements' shape overflows, scalar siblings", TF_INT64, overflow_leaf,
         "got an integer"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = value_to_tensor(cases[i].json, cases[i].dtype, &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
    }
    free(rows), free(deep), free(deep_str), free(deep_b64), free(deeper_later);
    free(overflow), free(overflow_leaf);
}

static void test_values_unsupported_dtype_is_unimplemented(void **state) {
    static const TF_DataType types[] = {TF_COMPLEX64, TF_HALF, TF_RESOURCE};
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = value_to_tensor("[1.5]", types[i], &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        assert_int_equal(rc, ROMA_UNIMPLEMENTED);
        check_message("unsupported dtype", err.msg);
    }
}

static void test_values_integers_into_floats(void **state) {
    /* Integers that a float or double holds exactly are accepted. */
    roma_err err = {{0}};
    TF_Tensor *t;
    assert_int_equal(value_to_tensor("[3, -16777215, 0]", TF_FLOAT, &t, &err), ROMA_OK);
    const float *f = TF_TensorData(t);
    assert_true(f[0] == 3.0f && f[1] == -16777215.0f && f[2] == 0.0f);
    jt_tensors_free(&t, 1);
    assert_int_equal(value_to_tensor("[9007199254740991]", TF_DOUBLE, &t, &err), ROMA_OK);
    assert_true(((double *)TF_TensorData(t))[0] == 9007199254740991.0);
    jt_tensors_free(&t, 1);
}

/* TF Serving (util/json_tensor.cc, IsLosslessDecimal) answers 400 "Cannot
 * convert JSON value: 16777217 to float without loss of precision" for
 * integers the target type cannot hold exactly (tests/http/TFSERVING_BEHAVIOUR.md
 * lists it too).  INT64_MAX rounds up to 2^63 as a float/double: checking it
 * must not convert 2^63 back to long long (undefined; UBSan aborts). */
static void test_values_lossy_numbers_rejected_like_tfserving(void **state) {
    static const struct {
        const char *name;
        TF_DataType dtype;
        const char *json;
    } cases[] = {
        {"16777217 into float", TF_FLOAT, "[16777217]"},
        {"-16777217 into float", TF_FLOAT, "[-16777217]"},
        {"2^53+1 into double", TF_DOUBLE, "[9007199254740993]"},
        {"INT64_MAX into float", TF_FLOAT, "[9223372036854775807]"},
        {"INT64_MAX into double", TF_DOUBLE, "[9223372036854775807]"},
        {"INT64_MAX - 1 into double", TF_DOUBLE, "[9223372036854775806]"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = value_to_tensor(cases[i].json, cases[i].dtype, &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
    }
}

/* TF Serving's IsLosslessDecimal<float> also rejects a JSON real outside
 * float's range (1e39 would silently become Infinity). */
static void test_values_real_beyond_float_range_rejected_like_tfserving(void **state) {
    static const char *cases[] = {"[1e39]", "[-1e39]", "[3.5e38]"};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = value_to_tensor(cases[i], TF_FLOAT, &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(cases[i], rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i], err.msg);
    }
}

/* jt_parse_body marks NaN/Infinity tokens as strings starting with a NUL
 * byte.  A JSON string the client sent that starts with "\u0000" is still
 * a string: a DT_STRING input must keep it (TF Serving does), and a float
 * input must reject it, not read it as -Infinity or NaN. */
static void test_values_string_starting_with_nul_is_a_string(void **state) {
    roma_err err = {{0}};
    TF_Tensor *t = NULL;
    roma_code rc = value_to_tensor("[\"\\u0000abc\"]", TF_STRING, &t, &err);
    if (rc != ROMA_OK) fail_msg("DT_STRING input \"\\u0000abc\" rejected: %s", err.msg);
    const TF_TString *s = TF_TensorData(t);
    assert_int_equal(TF_StringGetSize(&s[0]), 4);
    assert_memory_equal(TF_StringGetDataPointer(&s[0]), "\0abc", 4);
    jt_tensors_free(&t, 1);
}

static void test_values_nul_prefixed_string_is_not_a_number(void **state) {
    static const struct {
        const char *name, *json;
        TF_DataType dtype;
    } cases[] = {
        {"\\u0000xyz for float", "[\"\\u0000xyz\"]", TF_FLOAT},
        {"\\u0000Infinity for double", "[\"\\u0000Infinity\"]", TF_DOUBLE},
        {"\\u0000 alone for float", "[\"\\u0000\"]", TF_FLOAT},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = value_to_tensor(cases[i].json, cases[i].dtype, &t, &err);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
    }
}

/* ---- tensor -> JSON: floats -------------------------------------------- */

static void test_write_special_floats(void **state) {
    static const struct {
        const char *name;
        double v;
        const char *want;
    } cases[] = {
        {"NaN", NAN, "NaN"},
        {"-NaN", -NAN, "NaN"},
        {"Infinity", INFINITY, "Infinity"},
        {"-Infinity", -INFINITY, "-Infinity"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *f = float_text((float)cases[i].v), *d = double_text(cases[i].v);
        CASE_CHECK_STR(cases[i].name, f, cases[i].want);
        CASE_CHECK_STR(cases[i].name, d, cases[i].want);
        free(f);
        free(d);
    }
    /* The same tokens inside a tensor. */
    static const float fv[] = {NAN, INFINITY, -INFINITY, 1.5f};
    int64_t dims[] = {4};
    TF_Tensor *t = numeric_tensor(TF_FLOAT, dims, 1, fv, sizeof(fv));
    char *text = tensor_text(t, 0), squashed[64];
    assert_string_equal(squash_spaces(text, squashed, sizeof(squashed)),
                        "[NaN,Infinity,-Infinity,1.5]");
    free(text);
    jt_tensors_free(&t, 1);
}

static void test_write_float_shortest_text(void **state) {
    static const struct {
        const char *name;
        float v;
        const char *want;
    } cases[] = {
        {"0.1f", 0.1f, "0.1"},     {"0.2f", 0.2f, "0.2"},       {"2.05f", 2.05f, "2.05"},
        {"-1.25f", -1.25f, "-1.25"}, {"0.001f", 0.001f, "0.001"}, {"1.5e-07f", 1.5e-7f, "1.5e-07"},
        {"123.456f", 123.456f, "123.456"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *s = float_text(cases[i].v);
        CASE_CHECK_STR(cases[i].name, s, cases[i].want);
        free(s);
    }
    static const struct {
        const char *name;
        double v;
        const char *want;
    } dcases[] = {
        {"0.1", 0.1, "0.1"}, {"-2.5", -2.5, "-2.5"}, {"1e-300", 1e-300, "1e-300"},
        {"0.30000000000000004", 0.1 + 0.2, "0.30000000000000004"},
    };
    for (size_t i = 0; i < ARRAY_LEN(dcases); i++) {
        char *s = double_text(dcases[i].v);
        CASE_CHECK_STR(dcases[i].name, s, dcases[i].want);
        free(s);
    }
}

/* Every finite value is written as a valid JSON number that reads back to
 * the same value, never longer than max_digits10 digits (plus ".0"). */
static void test_write_float_reads_back_equal(void **state) {
    static const float fv[] = {0.1f,    3.0f,     1.0f / 3.0f, FLT_MAX,   FLT_MIN,  FLT_TRUE_MIN,
                               -123.456f, 16777216.0f, 1e10f,  2.05f,     0.3f,     -0.0f,
                               0.0f,    1.1f,     7.0e-5f,     33554432.0f, 1.0f + FLT_EPSILON};
    for (size_t i = 0; i < ARRAY_LEN(fv); i++) {
        char name[64], longest[64];
        snprintf(name, sizeof(name), "float %.9g", (double)fv[i]);
        char *s = float_text(fv[i]);
        CASE_CHECK(name, strtof(s, NULL) == fv[i]);
        CASE_CHECK(name, signbit(strtof(s, NULL)) == signbit(fv[i]));
        snprintf(longest, sizeof(longest), "%.9g", (double)fv[i]);
        CASE_CHECK(name, strlen(s) <= strlen(longest) + 2);
        check_json_equal(name, s, s); /* valid JSON */
        free(s);
    }
    static const double dv[] = {0.1,     3.0,      1.0 / 3.0,  DBL_MAX, DBL_MIN, 5e-324,
                                -123.456, 1e22,    0.1 + 0.2,  -0.0,    2.05,    9007199254740993.0};
    for (size_t i = 0; i < ARRAY_LEN(dv); i++) {
        char name[64], longest[64];
        snprintf(name, sizeof(name), "double %.17g", dv[i]);
        char *s = double_text(dv[i]);
        CASE_CHECK(name, strtod(s, NULL) == dv[i]);
        CASE_CHECK(name, signbit(strtod(s, NULL)) == signbit(dv[i]));
        snprintf(longest, sizeof(longest), "%.17g", dv[i]);
        CASE_CHECK(name, strlen(s) <= strlen(longest) + 2);
        check_json_equal(name, s, s);
        free(s);
    }
}

/* TF Serving (util/json_tensor.cc, WriteDecimal) appends ".0" to a float or
 * double whose text has neither '.' nor 'e', so whole numbers stay JSON
 * reals (3.0f -> "3.0", never "3"); the header promises "the way TF Serving
 * does" and tests/http/roma_http.py's strict_floats relies on it.  Floats
 * are compared as text (TF Serving's 6-digit %g first); doubles only by
 * that property, as ROMA starts doubles at 15 digits ("1000000.0" where TF
 * Serving writes "1e+06": the same JSON real). */
static void test_write_whole_float_appends_dot_zero_like_tfserving(void **state) {
    static const struct {
        const char *name;
        float v;
        const char *want;
    } cases[] = {
        {"3", 3.0f, "3.0"},     {"-2", -2.0f, "-2.0"},   {"0", 0.0f, "0.0"},
        {"100", 100.0f, "100.0"}, {"1e6 stays scientific", 1e6f, "1e+06"},
        {"0.5 unchanged", 0.5f, "0.5"}, {"16777216", 16777216.0f, "16777216.0"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *f = float_text(cases[i].v);
        CASE_CHECK_STR(cases[i].name, f, cases[i].want);
        free(f);
    }
    static const double dv[] = {3.0, -2.0, 0.0, 100.0, 1e6, 1e22, 9007199254740992.0, -0.0};
    for (size_t i = 0; i < ARRAY_LEN(dv); i++) {
        char name[64];
        snprintf(name, sizeof(name), "double %.17g", dv[i]);
        char *d = double_text(dv[i]);
        CASE_CHECK(name, strpbrk(d, ".eE") != NULL);
        CASE_CHECK(name, strtod(d, NULL) == dv[i]);
        free(d);
    }
}

/* ---- jt_predict_inputs ------------------------------------------------- */

enum { SIG_ONE_FLOAT, SIG_ONE_STRING, SIG_THREE, SIG_NONE };

typedef struct {
    tfb_tensor_info in[3];
    tfb_signature sig;
} sig_fixture;

/* SIG_THREE takes "a" (float), "b" (int32), "c" (string): sorted by key. */
static void make_sig(int which, sig_fixture *f) {
    memset(f, 0, sizeof(*f));
    f->sig.name = "serving_default";
    f->sig.method_name = "tensorflow/serving/predict";
    f->sig.inputs = f->in;
    switch (which) {
    case SIG_ONE_FLOAT: f->in[0] = tinfo("x", TF_FLOAT), f->sig.ninputs = 1; break;
    case SIG_ONE_STRING: f->in[0] = tinfo("x", TF_STRING), f->sig.ninputs = 1; break;
    case SIG_THREE:
        f->in[0] = tinfo("a", TF_FLOAT);
        f->in[1] = tinfo("b", TF_INT32);
        f->in[2] = tinfo("c", TF_STRING);
        f->sig.ninputs = 3;
        break;
    default: f->sig.ninputs = 0; break;
    }
}

static void test_predict_inputs(void **state) {
    static const struct {
        const char *name;
        int sig;
        const char *body;
        jt_format format;
        struct {
            int ndims;
            int64_t dims[3];
            const char *written; /* jt_write_tensor (b64 for strings), as JSON */
        } want[3];
    } cases[] = {
        {"row: list of vectors", SIG_ONE_FLOAT,
         "{\"instances\": [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]]}", JT_ROW,
         {{2, {3, 2}, "[[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]]"}}},
        {"row: scalars", SIG_ONE_FLOAT, "{\"instances\": [1.5, 2.5]}", JT_ROW,
         {{1, {2}, "[1.5, 2.5]"}}},
        {"row: named single input", SIG_ONE_FLOAT,
         "{\"instances\": [{\"x\": [1.5]}, {\"x\": [2.5]}]}", JT_ROW,
         {{2, {2, 1}, "[[1.5], [2.5]]"}}},
        {"row: with signature_name", SIG_ONE_FLOAT,
         "{\"signature_name\": \"serving_default\", \"instances\": [[0.5]]}", JT_ROW,
         {{2, {1, 1}, "[[0.5]]"}}},
        {"row: b64 instances are values, not named inputs", SIG_ONE_STRING,
         "{\"instances\": [{\"b64\": \"aGk=\"}, {\"b64\": \"AAE=\"}]}", JT_ROW,
         {{1, {2}, "[{\"b64\": \"aGk=\"}, {\"b64\": \"AAE=\"}]"}}},
        {"columnar: tensor", SIG_ONE_FLOAT, "{\"inputs\": [[1.5, 2.5]]}", JT_COLUMNAR,
         {{2, {1, 2}, "[[1.5, 2.5]]"}}},
        {"columnar: scalar", SIG_ONE_FLOAT, "{\"inputs\": 2.5}", JT_COLUMNAR, {{0, {0}, "2.5"}}},
        {"columnar: named single input", SIG_ONE_FLOAT, "{\"inputs\": {\"x\": [1.5, 2.5]}}",
         JT_COLUMNAR, {{1, {2}, "[1.5, 2.5]"}}},
        {"columnar: b64 scalar", SIG_ONE_STRING, "{\"inputs\": {\"b64\": \"aGk=\"}}",
         JT_COLUMNAR, {{0, {0}, "{\"b64\": \"aGk=\"}"}}},
        {"row: several named inputs", SIG_THREE,
         "{\"instances\": [{\"a\": 1.5, \"b\": [1, 2], \"c\": \"x\"},"
         " {\"c\": \"y\", \"b\": [3, 4], \"a\": 2.5}]}",
         JT_ROW,
         {{1, {2}, "[1.5, 2.5]"},
          {2, {2, 2}, "[[1, 2], [3, 4]]"},
          {1, {2}, "[{\"b64\": \"eA==\"}, {\"b64\": \"eQ==\"}]"}}},
        {"columnar: several named inputs", SIG_THREE,
         "{\"inputs\": {\"b\": [[1, 2]], \"a\": [1.5], \"c\": [{\"b64\": \"eA==\"}]}}",
         JT_COLUMNAR,
         {{1, {1}, "[1.5]"}, {2, {1, 2}, "[[1, 2]]"}, {1, {1}, "[{\"b64\": \"eA==\"}]"}}},
        {"columnar: inputs need not share a batch size", SIG_THREE,
         "{\"inputs\": {\"a\": 1.5, \"b\": [[1, 2, 3]], \"c\": []}}", JT_COLUMNAR,
         {{0, {0}, "1.5"}, {2, {1, 3}, "[[1, 2, 3]]"}, {1, {0}, "[]"}}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        sig_fixture f;
        make_sig(cases[i].sig, &f);
        json_t *root = parse_body(cases[i].body);
        TF_Tensor *in[3] = {0};
        jt_format format = (jt_format)-1;
        roma_err err = {{0}};
        roma_code rc = jt_predict_inputs(root, &f.sig, in, &format, &err);
        json_decref(root);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        CASE_CHECK_INT(cases[i].name, format, cases[i].format);
        for (size_t k = 0; k < f.sig.ninputs; k++) {
            CASE_CHECK(cases[i].name, in[k] != NULL);
            CASE_CHECK_INT(cases[i].name, TF_TensorType(in[k]), f.in[k].dtype);
            check_dims(cases[i].name, in[k], cases[i].want[k].ndims, cases[i].want[k].dims);
            char *text = tensor_text(in[k], f.in[k].dtype == TF_STRING);
            check_json_equal(cases[i].name, text, cases[i].want[k].written);
            free(text);
        }
        jt_tensors_free(in, f.sig.ninputs);
    }
}

static void test_predict_inputs_errors(void **state) {
    static const struct {
        const char *name;
        int sig;
        const char *body;
        const char *mentions;
    } cases[] = {
        {"both instances and inputs", SIG_ONE_FLOAT,
         "{\"instances\": [1.5], \"inputs\": [1.5]}", NULL},
        {"neither instances nor inputs", SIG_ONE_FLOAT, "{\"signature_name\": \"x\"}", NULL},
        {"empty object", SIG_ONE_FLOAT, "{}", NULL},
        {"instances not a list", SIG_ONE_FLOAT, "{\"instances\": 1.5}", NULL},
        {"instances an object", SIG_ONE_FLOAT, "{\"instances\": {\"x\": [1.5]}}", NULL},
        {"instances empty", SIG_ONE_FLOAT, "{\"instances\": []}", NULL},
        {"object then value", SIG_ONE_FLOAT, "{\"instances\": [{\"x\": 1.5}, 2.5]}", NULL},
        {"value then object", SIG_ONE_FLOAT, "{\"instances\": [1.5, {\"x\": 2.5}]}", NULL},
        {"ragged instances", SIG_ONE_FLOAT, "{\"instances\": [[1.5, 2.5], [3.5]]}", NULL},
        {"wrong leaf type", SIG_ONE_FLOAT, "{\"instances\": [\"a\"]}", NULL},
        {"row: unknown input name", SIG_ONE_FLOAT, "{\"instances\": [{\"y\": 1.5}]}", "y"},
        {"row: extra input name", SIG_ONE_FLOAT, "{\"instances\": [{\"x\": 1.5, \"zz\": 2}]}",
         "zz"},
        {"columnar: unknown input name", SIG_ONE_FLOAT, "{\"inputs\": {\"y\": [1.5]}}", "y"},
        {"row: missing input", SIG_THREE,
         "{\"instances\": [{\"a\": 1.5, \"b\": [1]}]}", "c"},
        {"row: unknown input", SIG_THREE,
         "{\"instances\": [{\"a\": 1.5, \"b\": [1], \"c\": \"x\", \"dd\": 1}]}", "dd"},
        {"row: second instance misses an input", SIG_THREE,
         "{\"instances\": [{\"a\": 1.5, \"b\": [1], \"c\": \"x\"}, {\"a\": 2.5, \"b\": [2]}]}",
         "c"},
        {"row: plain list for several inputs", SIG_THREE, "{\"instances\": [1.5]}", NULL},
        {"columnar: plain value for several inputs", SIG_THREE, "{\"inputs\": [1.5]}", NULL},
        {"columnar: missing input", SIG_THREE, "{\"inputs\": {\"a\": [1.5], \"b\": [[1]]}}",
         "c"},
        {"columnar: unknown input", SIG_THREE,
         "{\"inputs\": {\"a\": [1.5], \"b\": [[1]], \"c\": [\"x\"], \"zz\": [1]}}", "zz"},
        {"row: shapes differ in a later input", SIG_THREE,
         "{\"instances\": [{\"a\": 1.5, \"b\": [1, 2], \"c\": \"x\"},"
         " {\"a\": 2.5, \"b\": [3], \"c\": \"y\"}]}",
         NULL},
        {"columnar: later input of wrong type", SIG_THREE,
         "{\"inputs\": {\"a\": [1.5], \"b\": [[1.5]], \"c\": [\"x\"]}}", NULL},
        {"columnar: last input of wrong type", SIG_THREE,
         "{\"inputs\": {\"a\": [1.5], \"b\": [[1]], \"c\": [7]}}", NULL},
        {"signature without inputs", SIG_NONE, "{\"instances\": [1]}", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        sig_fixture f;
        make_sig(cases[i].sig, &f);
        json_t *root = parse_body(cases[i].body);
        TF_Tensor *in[3] = {0};
        jt_format format;
        roma_err err = {{0}};
        roma_code rc = jt_predict_inputs(root, &f.sig, in, &format, &err);
        json_decref(root);
        if (rc == ROMA_OK) jt_tensors_free(in, f.sig.ninputs);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
    }
}

/* The body, row and columnar, numbers and strings: refused with
 * the element named as TF Serving names it. */
static void test_predict_ragged_instances_named_like_tfserving(void **state) {
    char *numbers = ragged_instances_body(250000, "1", 360000);
    char *strings = ragged_instances_body(100000, "\"ab\"", 300000);
    char *named = NULL;
    {
        roma_buf b = ROMA_BUF_INIT, row = ROMA_BUF_INIT;
        append_list(&row, "1", "1", 99999);
        roma_buf_printf(&b, "{\"instances\": [{\"x\": %s}", row.data);
        for (int k = 0; k < 100000; k++) roma_buf_puts(&b, ", {\"x\": []}");
        roma_buf_puts(&b, "]}");
        roma_buf_free(&row);
        named = roma_buf_detach(&b, NULL);
    }
    char *columnar = NULL;
    {
        char *value = deep_ragged(3, 5000, "1", "[]");
        roma_buf b = ROMA_BUF_INIT;
        roma_buf_printf(&b, "{\"inputs\": %s}", value);
        free(value);
        columnar = roma_buf_detach(&b, NULL);
    }
    const struct {
        const char *name;
        int sig;
        const char *body;
        const char *mentions;
    } cases[] = {
        {"ragged float instances", SIG_ONE_FLOAT, numbers,
         "Failed to process element: 1 of 'instances' list"},
        {"ragged string instances", SIG_ONE_STRING, strings,
         "Failed to process element: 1 of 'instances' list"},
        {"ragged named instances", SIG_ONE_FLOAT, named,
         "Failed to process element: 1 of 'instances' list"},
        {"ragged columnar value", SIG_ONE_FLOAT, columnar, "ragged"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        sig_fixture f;
        make_sig(cases[i].sig, &f);
        json_t *root = parse_body(cases[i].body);
        TF_Tensor *in[3] = {0};
        jt_format format;
        roma_err err = {{0}};
        roma_code rc = jt_predict_inputs(root, &f.sig, in, &format, &err);
        json_decref(root);
        if (rc == ROMA_OK) jt_tensors_free(in, f.sig.ninputs);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
        check_contains(cases[i].name, err.msg, "ragged");
    }
    free(numbers), free(strings), free(named), free(columnar);
}

static void test_predict_inputs_nan_instances(void **state) {
    sig_fixture f;
    make_sig(SIG_ONE_FLOAT, &f);
    json_t *root = parse_body("{\"instances\": [NaN, -Infinity, 0.5]}");
    TF_Tensor *in[1] = {0};
    jt_format format;
    roma_err err = {{0}};
    assert_int_equal(jt_predict_inputs(root, &f.sig, in, &format, &err), ROMA_OK);
    json_decref(root);
    const float *v = TF_TensorData(in[0]);
    assert_true(isnan(v[0]));
    assert_true(isinf(v[1]) && v[1] < 0);
    assert_true(v[2] == 0.5f);
    jt_tensors_free(in, 1);
}

/* ---- jt_write_predict -------------------------------------------------- */

typedef struct {
    const char *key;
    TF_DataType dtype;
    int ndims;
    int64_t dims[3];
    const void *data;      /* numeric */
    size_t nbytes;
    const char *strs[4];   /* DT_STRING elements */
    size_t lens[4];
} out_spec;

static const float two_by_two[] = {1.5f, 2.5f, 3.5f, 4.5f};
static const float pair[] = {1.5f, 2.5f};
static const float one[] = {1.5f};
static const int32_t ints[] = {1, 2, 3, 4};

static void test_write_predict(void **state) {
    static const struct {
        const char *name;
        jt_format format;
        size_t nout;
        out_spec out[3];
        const char *want;
    } cases[] = {
        {"row, one output", JT_ROW, 1, {{"y", TF_FLOAT, 2, {2, 2}, two_by_two, 16}},
         "{\"predictions\": [[1.5, 2.5], [3.5, 4.5]]}"},
        {"row, one 1-D output", JT_ROW, 1, {{"y", TF_FLOAT, 1, {2}, pair, 8}},
         "{\"predictions\": [1.5, 2.5]}"},
        {"row, empty batch", JT_ROW, 1, {{"y", TF_FLOAT, 2, {0, 3}, NULL, 0}},
         "{\"predictions\": []}"},
        {"row, several outputs", JT_ROW, 2,
         {{"a", TF_FLOAT, 1, {2}, pair, 8}, {"b", TF_INT32, 2, {2, 2}, ints, 16}},
         "{\"predictions\": [{\"a\": 1.5, \"b\": [1, 2]}, {\"a\": 2.5, \"b\": [3, 4]}]}"},
        {"columnar, one output", JT_COLUMNAR, 1, {{"y", TF_FLOAT, 2, {2, 2}, two_by_two, 16}},
         "{\"outputs\": [[1.5, 2.5], [3.5, 4.5]]}"},
        {"columnar, scalar output", JT_COLUMNAR, 1, {{"y", TF_FLOAT, 0, {0}, one, 4}},
         "{\"outputs\": 1.5}"},
        {"columnar, several outputs", JT_COLUMNAR, 2,
         {{"a", TF_FLOAT, 1, {2}, pair, 8}, {"b", TF_INT32, 2, {2, 2}, ints, 16}},
         "{\"outputs\": {\"a\": [1.5, 2.5], \"b\": [[1, 2], [3, 4]]}}"},
        {"columnar, outputs of different batch", JT_COLUMNAR, 2,
         {{"a", TF_FLOAT, 1, {1}, one, 4}, {"b", TF_INT32, 2, {2, 2}, ints, 16}},
         "{\"outputs\": {\"a\": [1.5], \"b\": [[1, 2], [3, 4]]}}"},
        {"row, _bytes output as b64", JT_ROW, 1,
         {{"img_bytes", TF_STRING, 1, {2}, NULL, 0, {"\x00\x01", "hi"}, {2, 2}}},
         "{\"predictions\": [{\"b64\": \"AAE=\"}, {\"b64\": \"aGk=\"}]}"},
        {"columnar, _bytes output as b64", JT_COLUMNAR, 1,
         {{"img_bytes", TF_STRING, 1, {2}, NULL, 0, {"\x00\x01", "hi"}, {2, 2}}},
         "{\"outputs\": [{\"b64\": \"AAE=\"}, {\"b64\": \"aGk=\"}]}"},
        {"key exactly _bytes", JT_COLUMNAR, 1,
         {{"_bytes", TF_STRING, 1, {1}, NULL, 0, {"hi"}, {2}}},
         "{\"outputs\": [{\"b64\": \"aGk=\"}]}"},
        {"row, plain strings escaped", JT_ROW, 1,
         {{"label", TF_STRING, 1, {2}, NULL, 0, {"a\"b\\", "c\nd"}, {4, 3}}},
         "{\"predictions\": [\"a\\\"b\\\\\", \"c\\nd\"]}"},
        {"row, strings and bytes side by side", JT_ROW, 2,
         {{"label", TF_STRING, 1, {1}, NULL, 0, {"x"}, {1}},
          {"out_bytes", TF_STRING, 1, {1}, NULL, 0, {"y"}, {1}}},
         "{\"predictions\": [{\"label\": \"x\", \"out_bytes\": {\"b64\": \"eQ==\"}}]}"},
        {"columnar, several outputs with bytes", JT_COLUMNAR, 2,
         {{"a", TF_FLOAT, 1, {1}, one, 4},
          {"b_bytes", TF_STRING, 2, {1, 1}, NULL, 0, {"\xff"}, {1}}},
         "{\"outputs\": {\"a\": [1.5], \"b_bytes\": [[{\"b64\": \"/w==\"}]]}}"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        tfb_tensor_info infos[3];
        TF_Tensor *outs[3] = {0};
        for (size_t k = 0; k < cases[i].nout; k++) {
            const out_spec *o = &cases[i].out[k];
            infos[k] = tinfo(o->key, o->dtype);
            size_t n = 1;
            for (int d = 0; d < o->ndims; d++) n *= (size_t)o->dims[d];
            outs[k] = o->dtype == TF_STRING ? string_tensor(o->dims, o->ndims, o->strs, o->lens, n)
                                            : numeric_tensor(o->dtype, o->dims, o->ndims, o->data,
                                                             o->nbytes);
        }
        tfb_signature sig = {"serving_default", "tensorflow/serving/predict", 0, cases[i].nout,
                             NULL, infos};
        roma_buf out = ROMA_BUF_INIT;
        roma_err err = {{0}};
        roma_code rc = jt_write_predict(&out, cases[i].format, &sig, outs, &err);
        if (rc != ROMA_OK) fail_msg("case '%s': %s", cases[i].name, err.msg);
        check_json_equal(cases[i].name, out.data, cases[i].want);
        roma_buf_free(&out);
        jt_tensors_free(outs, cases[i].nout);
    }
}

static void test_write_predict_row_errors(void **state) {
    static const struct {
        const char *name;
        size_t nout;
        out_spec out[2];
    } cases[] = {
        {"batch sizes differ", 2,
         {{"a", TF_FLOAT, 1, {2}, pair, 8}, {"b", TF_INT32, 1, {4}, ints, 16}}},
        {"batch sizes differ, 2-D first", 2,
         {{"a", TF_INT32, 2, {2, 2}, ints, 16}, {"b", TF_FLOAT, 1, {1}, one, 4}}},
        {"scalar output", 1, {{"y", TF_FLOAT, 0, {0}, one, 4}}},
        {"one of two outputs scalar", 2,
         {{"a", TF_FLOAT, 1, {1}, one, 4}, {"b", TF_FLOAT, 0, {0}, one, 4}}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        tfb_tensor_info infos[2];
        TF_Tensor *outs[2] = {0};
        for (size_t k = 0; k < cases[i].nout; k++) {
            const out_spec *o = &cases[i].out[k];
            infos[k] = tinfo(o->key, o->dtype);
            outs[k] = numeric_tensor(o->dtype, o->dims, o->ndims, o->data, o->nbytes);
        }
        tfb_signature sig = {"serving_default", "tensorflow/serving/predict", 0, cases[i].nout,
                             NULL, infos};
        roma_buf out = ROMA_BUF_INIT;
        roma_err err = {{0}};
        roma_code rc = jt_write_predict(&out, JT_ROW, &sig, outs, &err);
        roma_buf_free(&out);
        jt_tensors_free(outs, cases[i].nout);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
    }
}

static void test_tensors_free_accepts_nulls(void **state) {
    TF_Tensor *ts[3] = {NULL, NULL, NULL};
    int64_t dims[] = {1};
    ts[1] = string_tensor(dims, 1, (const char *[]){"a string longer than the small-string buffer"},
                          NULL, 1);
    jt_tensors_free(ts, 3);
    assert_null(ts[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_body_accepts_objects),
        cmocka_unit_test(test_parse_body_nan_and_infinity_tokens),
        cmocka_unit_test(test_parse_body_tokens_inside_strings_are_left_alone),
        cmocka_unit_test(test_parse_body_errors),
        cmocka_unit_test(test_signature_name),
        cmocka_unit_test(test_values_every_numeric_dtype),
        cmocka_unit_test(test_values_strings_and_b64),
        cmocka_unit_test(test_values_shapes),
        cmocka_unit_test(test_values_errors),
        cmocka_unit_test(test_values_ragged_promising_huge_shapes_refused),
        cmocka_unit_test(test_values_unsupported_dtype_is_unimplemented),
        cmocka_unit_test(test_values_integers_into_floats),
        cmocka_unit_test(test_values_lossy_numbers_rejected_like_tfserving),
        cmocka_unit_test(test_values_real_beyond_float_range_rejected_like_tfserving),
        cmocka_unit_test(test_values_string_starting_with_nul_is_a_string),
        cmocka_unit_test(test_values_nul_prefixed_string_is_not_a_number),
        cmocka_unit_test(test_write_special_floats),
        cmocka_unit_test(test_write_float_shortest_text),
        cmocka_unit_test(test_write_float_reads_back_equal),
        cmocka_unit_test(test_write_whole_float_appends_dot_zero_like_tfserving),
        cmocka_unit_test(test_predict_inputs),
        cmocka_unit_test(test_predict_inputs_errors),
        cmocka_unit_test(test_predict_ragged_instances_named_like_tfserving),
        cmocka_unit_test(test_predict_inputs_nan_instances),
        cmocka_unit_test(test_write_predict),
        cmocka_unit_test(test_write_predict_row_errors),
        cmocka_unit_test(test_tensors_free_accepts_nulls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_v2.c - the Open Inference Protocol (src/worker/v2.h, and the v2
 * paths of src/worker/route.h), without a model.
 *
 * Covers: rest_parse_v2_route for every path of the protocol, with and
 * without versions, and its errors (unknown paths, wrong methods, versions
 * that are not numbers); v2_parse_request on JSON and binary requests
 * (offsets of each binary input in the body, id, outputs and their
 * binary_data flags, binary_data_output, signature_name) and on every
 * hostile request the worker must refuse with a clear message (a header
 * length past the body or not a number, negative / fractional / huge /
 * overflowing shapes, sizes that do not add up with shape and datatype, a
 * truncated tail, extra bytes, binary data without the header, duplicate
 * inputs, unknown datatypes); v2_check_input against signature tensors;
 * v2_input_tensor for fixed-size binary data, BYTES (valid, truncated,
 * short), BOOL bytes other than 0/1, flat and nested JSON data and JSON
 * data whose count does not match the shape; v2_write_response for JSON
 * and binary outputs (the header length and the bytes after it, BYTES
 * length prefixes), output selection and unknown outputs; and
 * v2_write_model_metadata.  Tensors are freed with jt_tensors_free so the
 * AddressSanitizer build finds leaks.
 */
#include "unit.h"

#include "worker/json_tensor.h"
#include "worker/route.h"
#include "worker/v2.h"

/* ---- routes ------------------------------------------------------------ */

static void test_v2_routes(void **state) {
    (void)state;
    static const struct {
        const char *name, *method, *path;
        roma_code rc;
        v2_verb verb;
        const char *model, *version, *msg;
    } cases[] = {
        {"server", "GET", "/v2", ROMA_OK, V2_SERVER_METADATA, "", ""},
        {"server slash", "GET", "/v2/", ROMA_OK, V2_SERVER_METADATA, "", ""},
        {"live", "GET", "/v2/health/live", ROMA_OK, V2_LIVE, "", ""},
        {"ready", "GET", "/v2/health/ready", ROMA_OK, V2_READY, "", ""},
        {"model", "GET", "/v2/models/m", ROMA_OK, V2_MODEL_METADATA, "m", ""},
        {"model version", "GET", "/v2/models/m/versions/12", ROMA_OK, V2_MODEL_METADATA, "m",
         "12"},
        {"model ready", "GET", "/v2/models/m/ready", ROMA_OK, V2_MODEL_READY, "m", ""},
        {"version ready", "GET", "/v2/models/m/versions/3/ready", ROMA_OK, V2_MODEL_READY, "m",
         "3"},
        {"infer", "POST", "/v2/models/res.net-1/infer", ROMA_OK, V2_INFER, "res.net-1", ""},
        {"infer version", "POST", "/v2/models/m/versions/7/infer", ROMA_OK, V2_INFER, "m", "7"},
        {"infer by GET", "GET", "/v2/models/m/infer", ROMA_INVALID_ARGUMENT, 0, NULL, NULL,
         "takes POST"},
        {"metadata by POST", "POST", "/v2/models/m", ROMA_INVALID_ARGUMENT, 0, NULL, NULL,
         "takes GET"},
        {"version not a number", "GET", "/v2/models/m/versions/x/ready", ROMA_INVALID_ARGUMENT,
         0, NULL, NULL, "'x' is not a number"},
        {"unknown tail", "POST", "/v2/models/m/predict", ROMA_NOT_FOUND, 0, NULL, NULL,
         "Not found"},
        {"no model", "GET", "/v2/models/", ROMA_NOT_FOUND, 0, NULL, NULL, "Not found"},
        {"v1 verb syntax", "POST", "/v2/models/m:predict", ROMA_NOT_FOUND},
        {"other v2 path", "GET", "/v2/repository/index", ROMA_NOT_FOUND},
        {"empty version", "GET", "/v2/models/m/versions//ready", ROMA_NOT_FOUND},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        v2_route r;
        roma_err err = {{0}};
        roma_code rc = rest_parse_v2_route(cases[i].method, cases[i].path, &r, &err);
        CASE_CHECK_INT(cases[i].name, rc, cases[i].rc);
        if (rc != ROMA_OK) {
            check_message(cases[i].name, err.msg);
            check_contains(cases[i].name, err.msg, cases[i].msg);
            continue;
        }
        CASE_CHECK_INT(cases[i].name, r.verb, cases[i].verb);
        CASE_CHECK_STR(cases[i].name, r.model, cases[i].model);
        CASE_CHECK_STR(cases[i].name, r.version, cases[i].version);
    }
    CASE_CHECK("v2 path", rest_is_v2_path("/v2") && rest_is_v2_path("/v2/models/m"));
    CASE_CHECK("not v2", !rest_is_v2_path("/v1/models/m") && !rest_is_v2_path("/v20"));
}

/* ---- request parsing --------------------------------------------------- */

/* A body: the JSON header then len bytes of blob; *header_len its length. */
static size_t make_body(roma_buf *b, const char *json, const void *blob, size_t len,
                        char *header_len, size_t cap) {
    b->len = 0;
    roma_buf_puts(b, json);
    snprintf(header_len, cap, "%zu", b->len);
    roma_buf_append(b, blob, len);
    return b->len;
}

static void test_parse_json_request(void **state) {
    (void)state;
    const char *body =
        "{\"id\": \"r1\", \"parameters\": {\"binary_data_output\": true, \"signature_name\": "
        "\"s\"}, \"inputs\": [{\"name\": \"a\", \"shape\": [2, 2], \"datatype\": \"INT32\", "
        "\"data\": [1, 2, 3, 4]}, {\"name\": \"b\", \"shape\": [], \"datatype\": \"BYTES\", "
        "\"data\": [\"x\"]}], \"outputs\": [{\"name\": \"y\"}, {\"name\": \"z\", \"parameters\": "
        "{\"binary_data\": false}}]}";
    v2_request req;
    roma_err err = {{0}};
    assert_int_equal(v2_parse_request(body, strlen(body), NULL, &req, &err), ROMA_OK);
    assert_string_equal(req.id, "r1");
    assert_string_equal(req.signature_name, "s");
    assert_int_equal(req.binary_output, 1);
    assert_int_equal(req.ninputs, 2);
    assert_string_equal(req.inputs[0].name, "a");
    assert_int_equal(req.inputs[0].dtype, TF_INT32);
    assert_int_equal(req.inputs[0].ndims, 2);
    assert_int_equal(req.inputs[0].count, 4);
    assert_null(req.inputs[0].binary);
    assert_non_null(req.inputs[0].data);
    assert_int_equal(req.inputs[1].ndims, 0);
    assert_int_equal(req.inputs[1].count, 1);
    assert_int_equal(req.noutputs, 2);
    assert_int_equal(req.outputs[0].binary, -1);
    assert_int_equal(req.outputs[1].binary, 0);
    v2_request_free(&req);

    const char *plain = "{\"inputs\": []}";
    assert_int_equal(v2_parse_request(plain, strlen(plain), NULL, &req, &err), ROMA_OK);
    assert_null(req.id);
    assert_string_equal(req.signature_name, "serving_default");
    assert_int_equal(req.binary_output, 0);
    assert_int_equal(req.noutputs, 0);
    v2_request_free(&req);
}

static void test_parse_binary_request_lays_inputs_over_the_body(void **state) {
    (void)state;
    const char blob[] = "AAAAAAAABBBBBBBBBBBBBBBBCC";
    char hl[32];
    roma_buf b = ROMA_BUF_INIT;
    size_t n = make_body(&b,
                         "{\"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": \"FP32\", "
                         "\"parameters\": {\"binary_data_size\": 8}}, {\"name\": \"j\", \"shape\": "
                         "[1], \"datatype\": \"FP64\", \"data\": [1.5]}, {\"name\": \"b\", "
                         "\"shape\": [2], \"datatype\": \"INT64\", \"parameters\": "
                         "{\"binary_data_size\": 16}}, {\"name\": \"c\", \"shape\": [2, 1], "
                         "\"datatype\": \"UINT8\", \"parameters\": {\"binary_data_size\": 2}}]}",
                         blob, 26, hl, sizeof(hl));
    v2_request req;
    roma_err err = {{0}};
    assert_int_equal(v2_parse_request(b.data, n, hl, &req, &err), ROMA_OK);
    assert_int_equal(req.ninputs, 4);
    size_t json_len = (size_t)atoi(hl);
    assert_ptr_equal(req.inputs[0].binary, b.data + json_len);
    assert_int_equal(req.inputs[0].binary_len, 8);
    assert_null(req.inputs[1].binary);
    assert_ptr_equal(req.inputs[2].binary, b.data + json_len + 8);
    assert_int_equal(req.inputs[2].binary_len, 16);
    assert_ptr_equal(req.inputs[3].binary, b.data + json_len + 24);
    assert_int_equal(req.inputs[3].count, 2);
    v2_request_free(&req);
    roma_buf_free(&b);
}

/* Every request here must be refused: INVALID_ARGUMENT, with msg. */
static void test_parse_hostile_requests(void **state) {
    (void)state;
    static const struct {
        const char *name, *json;
        size_t blob;            /* zero bytes after the JSON */
        const char *header_len; /* NULL: the real JSON length; "-": none */
        const char *msg;
    } cases[] = {
        {"header past the body", "{\"inputs\": []}", 4, "99999",
         "Inference-Header-Content-Length is 99999 but the body has only"},
        {"header not a number", "{\"inputs\": []}", 0, "12x", "not a byte count"},
        {"header negative", "{\"inputs\": []}", 0, "-5", "not a byte count"},
        {"header overflows", "{\"inputs\": []}", 0, "99999999999999999999999", "not a byte count"},
        {"header empty", "{\"inputs\": []}", 0, "", "not a byte count"},
        {"negative dimension",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [-1, 4], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 16}}]}",
         16, NULL, "input 'x': shape dimension 0 is not a size"},
        {"fractional dimension",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1.5], \"datatype\": \"FP32\", \"data\": [1]}]}",
         0, "-", "dimension 0 is not a size"},
        {"overflowing shape",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [4611686018427387904, 4611686018427387904], "
         "\"datatype\": \"FP32\", \"parameters\": {\"binary_data_size\": 16}}]}",
         16, NULL, "would overflow"},
        {"shape times dtype overflows",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [4611686018427387904], "
         "\"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": 16}}]}",
         16, NULL, "would overflow"},
        {"huge dimension, small data",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1000000000000], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 16}}]}",
         16, NULL, "binary_data_size 16 does not add up: shape [1000000000000] of FP32 is"},
        {"huge BYTES count, small data",
         "{\"inputs\": [{\"name\": \"s\", \"shape\": [1000000000000], \"datatype\": \"BYTES\", "
         "\"parameters\": {\"binary_data_size\": 8}}]}",
         8, NULL, "holds 1000000000000 BYTES elements of at least 4 bytes"},
        {"size does not add up",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 2], \"datatype\": \"FP64\", "
         "\"parameters\": {\"binary_data_size\": 24}}]}",
         24, NULL, "binary_data_size 24 does not add up: shape [2, 2] of FP64 is 32 bytes"},
        {"truncated tail",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [4], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 16}}]}",
         10, NULL, "only 10 bytes of binary data remain"},
        {"second input truncated",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 4}}, {\"name\": \"y\", \"shape\": [1], "
         "\"datatype\": \"FP32\", \"parameters\": {\"binary_data_size\": 4}}]}",
         6, NULL, "input 'y': binary_data_size is 4 but only 2 bytes"},
        {"bytes left over",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 4}}]}",
         9, NULL, "the body has 9 bytes after the JSON header but the inputs' binary_data_size "
                  "add up to 4"},
        {"negative size",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": -4}}]}",
         4, NULL, "must be an integer >= 0"},
        {"binary without the header",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
         "\"parameters\": {\"binary_data_size\": 4}}]}",
         0, "-", "no Inference-Header-Content-Length"},
        {"no data", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\"}]}",
         0, "-", "neither \"data\" nor parameters.binary_data_size"},
        {"unknown datatype",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FLOAT32\", \"data\": [1]}]}",
         0, "-", "\"datatype\" must be one of"},
        {"no shape", "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"data\": [1]}]}", 0,
         "-", "\"shape\" must be a list"},
        {"too many dimensions",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1,1,1,1,1,1,1,1,1,1], \"datatype\": \"FP32\", \"data\": [1]}]}",
         0, "-", "33 dimensions"},
        {"duplicate input",
         "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}, "
         "{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [2]}]}",
         0, "-", "input 'x' is given twice"},
        {"no inputs", "{\"outputs\": []}", 0, "-", "must have \"inputs\""},
        {"input not an object", "{\"inputs\": [3]}", 0, "-", "input 0 must be an object"},
        {"id not a string", "{\"id\": 3, \"inputs\": []}", 0, "-", "\"id\" must be a string"},
        {"binary_data not a bool", "{\"inputs\": [], \"outputs\": [{\"name\": \"y\", "
         "\"parameters\": {\"binary_data\": 1}}]}", 0, "-", "must be true or false"},
        {"output without name", "{\"inputs\": [], \"outputs\": [{}]}", 0, "-",
         "output 0 must be an object with a \"name\""},
        {"header cuts the JSON", "{\"inputs\": []}", 0, "5", "JSON Parse error"},
        {"not an object", "[1, 2]", 0, "-", "must be a JSON object"},
    };
    char zeros[64] = {0};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char hl[32];
        roma_buf b = ROMA_BUF_INIT;
        size_t n = make_body(&b, cases[i].json, zeros, cases[i].blob, hl, sizeof(hl));
        const char *header = cases[i].header_len == NULL ? hl
                             : strcmp(cases[i].header_len, "-") == 0 ? NULL
                                                                     : cases[i].header_len;
        v2_request req;
        roma_err err = {{0}};
        roma_code rc = v2_parse_request(b.data, n, header, &req, &err);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].msg);
        CASE_CHECK(cases[i].name, req.root == NULL);
        roma_buf_free(&b);
    }
}

/* ---- inputs ------------------------------------------------------------ */

static tfb_tensor_info info(const char *key, TF_DataType dtype, int ndims, int64_t *dims) {
    tfb_tensor_info t;
    memset(&t, 0, sizeof(t));
    t.key = (char *)key;
    t.tensor_name = (char *)key;
    t.dtype = dtype;
    t.ndims = ndims;
    t.dims = dims;
    t.unknown_rank = ndims < 0;
    return t;
}

static v2_input input(const char *name, TF_DataType dtype, int ndims, const int64_t *dims) {
    v2_input in;
    memset(&in, 0, sizeof(in));
    in.name = name;
    in.dtype = dtype;
    in.ndims = ndims;
    in.count = 1;
    for (int d = 0; d < ndims; d++) {
        in.dims[d] = dims[d];
        in.count *= (size_t)dims[d];
    }
    return in;
}

static void test_check_input(void **state) {
    (void)state;
    int64_t any_by_3[] = {-1, 3}, two_by_3[] = {2, 3}, four[] = {4};
    tfb_tensor_info t = info("x", TF_FLOAT, 2, any_by_3), unknown = info("x", TF_FLOAT, -1, NULL);
    roma_err err = {{0}};
    v2_input ok = input("x", TF_FLOAT, 2, two_by_3), flat = input("x", TF_FLOAT, 1, four);
    v2_input wrong_type = input("x", TF_INT32, 2, two_by_3);
    assert_int_equal(v2_check_input(&ok, &t, &err), ROMA_OK);
    assert_int_equal(v2_check_input(&flat, &unknown, &err), ROMA_OK);
    assert_int_equal(v2_check_input(&flat, &t, &err), ROMA_INVALID_ARGUMENT);
    check_contains("rank", err.msg, "input 'x' has shape [4], but the model expects [-1, 3]");
    int64_t two_by_4[] = {2, 4};
    v2_input wrong_dim = input("x", TF_FLOAT, 2, two_by_4);
    assert_int_equal(v2_check_input(&wrong_dim, &t, &err), ROMA_INVALID_ARGUMENT);
    check_contains("dim", err.msg, "[2, 4]");
    assert_int_equal(v2_check_input(&wrong_type, &t, &err), ROMA_INVALID_ARGUMENT);
    check_contains("dtype", err.msg, "datatype INT32, but the model's input is FP32");
}

static void test_binary_fixed_size_tensor(void **state) {
    (void)state;
    int64_t dims[] = {2, 2};
    float values[] = {1.5f, -2.0f, 3.25f, 1e30f};
    v2_input in = input("x", TF_FLOAT, 2, dims);
    in.binary = (const char *)values;
    in.binary_len = sizeof(values);
    TF_Tensor *t = NULL;
    roma_err err = {{0}};
    assert_int_equal(v2_input_tensor(&in, &t, &err), ROMA_OK);
    assert_int_equal(TF_TensorType(t), TF_FLOAT);
    assert_int_equal(TF_NumDims(t), 2);
    assert_int_equal(TF_Dim(t, 1), 2);
    assert_memory_equal(TF_TensorData(t), values, sizeof(values));
    jt_tensors_free(&t, 1);

    unsigned char bools[] = {0, 1, 2};
    int64_t three[] = {3};
    v2_input b = input("f", TF_BOOL, 1, three);
    b.binary = (const char *)bools;
    b.binary_len = 3;
    assert_int_equal(v2_input_tensor(&b, &t, &err), ROMA_INVALID_ARGUMENT);
    check_contains("bool", err.msg, "BOOL element 2 is 2");
}

static void test_binary_bytes_tensor(void **state) {
    (void)state;
    static const struct {
        const char *name;
        const char *blob;
        size_t len, count;
        const char *msg; /* NULL: valid, elements "ab" and "" */
    } cases[] = {
        {"two elements", "\x02\0\0\0ab\0\0\0\0", 10, 2, NULL},
        {"length past the end", "\x09\0\0\0ab\0\0\0\0", 10, 2, "BYTES element 0 runs past"},
        {"prefix cut", "\x02\0\0\0ab\0\0", 8, 2, "BYTES element 1 runs past"},
        {"bytes left over", "\x02\0\0\0ab\0\0\0\0zz", 12, 2,
         "binary_data_size 12 does not add up: its 2 BYTES elements take 10 bytes"},
        {"huge length", "\xff\xff\xff\xff" "ab", 6, 1, "runs past"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t dims[] = {(int64_t)cases[i].count};
        v2_input in = input("s", TF_STRING, 1, dims);
        in.binary = cases[i].blob;
        in.binary_len = cases[i].len;
        TF_Tensor *t = NULL;
        roma_err err = {{0}};
        roma_code rc = v2_input_tensor(&in, &t, &err);
        if (cases[i].msg) {
            CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
            check_contains(cases[i].name, err.msg, cases[i].msg);
            continue;
        }
        CASE_CHECK_INT(cases[i].name, rc, ROMA_OK);
        const TF_TString *s = TF_TensorData(t);
        CASE_CHECK_INT(cases[i].name, TF_StringGetSize(&s[0]), 2);
        CASE_CHECK(cases[i].name, memcmp(TF_StringGetDataPointer(&s[0]), "ab", 2) == 0);
        CASE_CHECK_INT(cases[i].name, TF_StringGetSize(&s[1]), 0);
        jt_tensors_free(&t, 1);
    }
}

/* JSON data, parsed from a request, into a tensor of the declared shape. */
static void test_json_data_tensor(void **state) {
    (void)state;
    static const struct {
        const char *name, *json;
        TF_DataType dtype;
        const char *msg; /* NULL: valid; the tensor is [2, 2] */
    } cases[] = {
        {"flat ints", "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 2], \"datatype\": \"INT32\","
                      " \"data\": [1, 2, 3, 4]}]}", TF_INT32},
        {"nested ints", "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 2], \"datatype\": "
                        "\"INT32\", \"data\": [[1, 2], [3, 4]]}]}", TF_INT32},
        {"strings", "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 2], \"datatype\": \"BYTES\","
                    " \"data\": [\"a\", \"bb\", \"a long string past the inline size\", \"\"]}]}",
         TF_STRING},
        {"too few values", "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 2], \"datatype\": "
                           "\"INT32\", \"data\": [1, 2, 3]}]}", TF_INT32,
         "input 'x' has 3 values in \"data\", but its shape [2, 2] holds 4"},
        {"too many strings", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": "
                             "\"BYTES\", \"data\": [\"a long string past the inline size\", "
                             "\"b\"]}]}", TF_STRING, "has 2 values"},
        {"wrong leaf", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BOOL\","
                       " \"data\": [3]}]}", TF_BOOL, "input 'x': JSON Value: an integer is not"},
        {"out of range", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": "
                         "\"UINT8\", \"data\": [256]}]}", TF_UINT8, "out of range"},
        {"FP16 as JSON", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP16\","
                         " \"data\": [1]}]}", TF_HALF, "FP16 has no JSON form"},
        {"ragged", "{\"inputs\": [{\"name\": \"x\", \"shape\": [3], \"datatype\": \"INT32\","
                   " \"data\": [[1, 2], [3]]}]}", TF_INT32, "ragged"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        v2_request req;
        roma_err err = {{0}};
        TF_Tensor *t = NULL;
        roma_code rc = v2_parse_request(cases[i].json, strlen(cases[i].json), NULL, &req, &err);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_OK);
        rc = v2_input_tensor(&req.inputs[0], &t, &err);
        if (cases[i].msg) {
            CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
            check_contains(cases[i].name, err.msg, cases[i].msg);
            CASE_CHECK(cases[i].name, t == NULL);
        } else {
            CASE_CHECK_INT(cases[i].name, rc, ROMA_OK);
            CASE_CHECK_INT(cases[i].name, TF_TensorType(t), cases[i].dtype);
            CASE_CHECK_INT(cases[i].name, TF_NumDims(t), 2);
            CASE_CHECK_INT(cases[i].name, TF_Dim(t, 0), 2);
            roma_buf out = ROMA_BUF_INIT;
            jt_write_elements(&out, t);
            check_json_equal(cases[i].name, out.data,
                             cases[i].dtype == TF_STRING
                                 ? "[\"a\", \"bb\", \"a long string past the inline size\", \"\"]"
                                 : "[1, 2, 3, 4]");
            roma_buf_free(&out);
            jt_tensors_free(&t, 1);
        }
        v2_request_free(&req);
    }
}

/* ---- answers ----------------------------------------------------------- */

static TF_Tensor *float_tensor(const float *v, int64_t rows) {
    int64_t dims[] = {rows, 1};
    TF_Tensor *t = TF_AllocateTensor(TF_FLOAT, dims, 2, sizeof(float) * (size_t)rows);
    memcpy(TF_TensorData(t), v, sizeof(float) * (size_t)rows);
    return t;
}

static TF_Tensor *string_tensor(const char *const *v, int64_t n) {
    TF_Tensor *t = TF_AllocateTensor(TF_STRING, &n, 1, sizeof(TF_TString) * (size_t)n);
    TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < n; i++) {
        TF_StringInit(&s[i]);
        TF_StringCopy(&s[i], v[i], strlen(v[i]));
    }
    return t;
}

typedef struct {
    tfb_tensor_info outs[2];
    tfb_signature sig;
    TF_Tensor *tensors[2];
} answer_fixture;

static void answer_setup(answer_fixture *f) {
    static const float y[] = {2.5f, 3.0f};
    static const char *const s[] = {"hi", ""};
    f->outs[0] = info("s", TF_STRING, -1, NULL);
    f->outs[1] = info("y", TF_FLOAT, -1, NULL);
    tfb_signature sig = {"serving_default", "tensorflow/serving/predict", 0, 2, NULL, f->outs, 1};
    f->sig = sig;
    f->tensors[0] = string_tensor(s, 2);
    f->tensors[1] = float_tensor(y, 2);
}

static void answer_teardown(answer_fixture *f) { jt_tensors_free(f->tensors, 2); }

/* Answers a parsed request body; returns the code, fills out. */
static roma_code answer(answer_fixture *f, const char *json, roma_buf *out, size_t *header_len,
                        roma_err *err) {
    v2_request req;
    if (v2_parse_request(json, strlen(json), NULL, &req, err) != ROMA_OK)
        fail_msg("test request does not parse: %s", err->msg);
    roma_code rc = v2_write_response(out, "m", 4, &req, &f->sig, f->tensors, header_len, err);
    v2_request_free(&req);
    return rc;
}

static void test_response_json(void **state) {
    (void)state;
    answer_fixture f;
    answer_setup(&f);
    roma_buf out = ROMA_BUF_INIT;
    size_t hl = 99;
    roma_err err = {{0}};
    assert_int_equal(answer(&f, "{\"id\": \"q\\\"1\", \"inputs\": []}", &out, &hl, &err), ROMA_OK);
    assert_int_equal(hl, 0);
    check_json_equal("json", out.data,
                     "{\"model_name\": \"m\", \"model_version\": \"4\", \"id\": \"q\\\"1\", "
                     "\"outputs\": [{\"name\": \"s\", \"datatype\": \"BYTES\", \"shape\": [2], "
                     "\"data\": [\"hi\", \"\"]}, {\"name\": \"y\", \"datatype\": \"FP32\", "
                     "\"shape\": [2, 1], \"data\": [2.5, 3.0]}]}");
    roma_buf_free(&out);
    answer_teardown(&f);
}

static void test_response_binary(void **state) {
    (void)state;
    answer_fixture f;
    answer_setup(&f);
    roma_buf out = ROMA_BUF_INIT;
    size_t hl = 0;
    roma_err err = {{0}};
    /* y binary, s as JSON by its own flag against binary_data_output. */
    assert_int_equal(answer(&f,
                            "{\"parameters\": {\"binary_data_output\": true}, \"inputs\": [], "
                            "\"outputs\": [{\"name\": \"y\"}, {\"name\": \"s\", \"parameters\": "
                            "{\"binary_data\": false}}]}",
                            &out, &hl, &err),
                     ROMA_OK);
    assert_true(hl > 0 && hl < out.len);
    char *header = strndup(out.data, hl);
    check_json_equal("binary header", header,
                     "{\"model_name\": \"m\", \"model_version\": \"4\", \"outputs\": [{\"name\": "
                     "\"y\", \"datatype\": \"FP32\", \"shape\": [2, 1], \"parameters\": "
                     "{\"binary_data_size\": 8}}, {\"name\": \"s\", \"datatype\": \"BYTES\", "
                     "\"shape\": [2], \"data\": [\"hi\", \"\"]}]}");
    free(header);
    const float want[] = {2.5f, 3.0f};
    assert_int_equal(out.len - hl, sizeof(want));
    assert_memory_equal(out.data + hl, want, sizeof(want));

    /* BYTES as binary: a 4-byte little-endian length before each element. */
    out.len = 0;
    assert_int_equal(answer(&f,
                            "{\"inputs\": [], \"outputs\": [{\"name\": \"s\", \"parameters\": "
                            "{\"binary_data\": true}}]}",
                            &out, &hl, &err),
                     ROMA_OK);
    check_contains("bytes size", out.data, "\"binary_data_size\": 10");
    assert_int_equal(out.len - hl, 10);
    assert_memory_equal(out.data + hl, "\x02\0\0\0hi\0\0\0\0", 10);
    roma_buf_free(&out);
    answer_teardown(&f);
}

static void test_response_unknown_output(void **state) {
    (void)state;
    answer_fixture f;
    answer_setup(&f);
    roma_buf out = ROMA_BUF_INIT;
    size_t hl;
    roma_err err = {{0}};
    assert_int_equal(answer(&f, "{\"inputs\": [], \"outputs\": [{\"name\": \"z\"}]}", &out, &hl,
                            &err),
                     ROMA_INVALID_ARGUMENT);
    check_contains("unknown output", err.msg, "unknown output 'z': signature 'serving_default' "
                                              "has outputs s, y");
    roma_buf_free(&out);
    answer_teardown(&f);
}

static void test_model_metadata(void **state) {
    (void)state;
    int64_t dims[] = {-1, 3};
    tfb_tensor_info ins[] = {info("img", TF_UINT8, 2, dims), info("txt", TF_STRING, -1, NULL)};
    tfb_tensor_info outs[] = {info("p", TF_HALF, 0, NULL)};
    tfb_signature sig = {"serving_default", "tensorflow/serving/predict", 2, 1, ins, outs, 1};
    int64_t versions[] = {7, 3};
    roma_buf out = ROMA_BUF_INIT;
    v2_write_model_metadata(&out, "m", versions, 2, &sig);
    check_json_equal("metadata", out.data,
                     "{\"name\": \"m\", \"versions\": [\"7\", \"3\"], \"platform\": "
                     "\"tensorflow_savedmodel\", \"inputs\": [{\"name\": \"img\", \"datatype\": "
                     "\"UINT8\", \"shape\": [-1, 3]}, {\"name\": \"txt\", \"datatype\": "
                     "\"BYTES\", \"shape\": [-1]}], \"outputs\": [{\"name\": \"p\", "
                     "\"datatype\": \"FP16\", \"shape\": []}]}");
    out.len = 0;
    v2_write_model_metadata(&out, "m", versions, 1, NULL);
    check_json_equal("no signature", out.data,
                     "{\"name\": \"m\", \"versions\": [\"7\"], \"platform\": "
                     "\"tensorflow_savedmodel\", \"inputs\": [], \"outputs\": []}");
    roma_buf_free(&out);
    assert_string_equal(v2_datatype_name(TF_DOUBLE), "FP64");
    assert_null(v2_datatype_name(TF_RESOURCE));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_routes),
        cmocka_unit_test(test_parse_json_request),
        cmocka_unit_test(test_parse_binary_request_lays_inputs_over_the_body),
        cmocka_unit_test(test_parse_hostile_requests),
        cmocka_unit_test(test_check_input),
        cmocka_unit_test(test_binary_fixed_size_tensor),
        cmocka_unit_test(test_binary_bytes_tensor),
        cmocka_unit_test(test_json_data_tensor),
        cmocka_unit_test(test_response_json),
        cmocka_unit_test(test_response_binary),
        cmocka_unit_test(test_response_unknown_output),
        cmocka_unit_test(test_model_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_json_fast.c - the fast path for numeric predict bodies
 * (src/worker/json_fast.h): which bodies it takes and which it leaves to
 * the general jansson path, and that for every body it takes, the tensor
 * it builds is identical (shape, dtype, every byte) to the general path's;
 * and that a body parsed on two threads, cut anywhere, gives exactly what
 * one thread gives, and is taken or left exactly as one thread decides.
 */
#include "unit.h"

#include "worker/json_fast.h"

static const tfb_tensor_info input_x = {.key = "x", .dtype = TF_FLOAT};

/* The general path's tensor for body, for a one-input signature of dtype. */
static TF_Tensor *general_tensor(const char *body, TF_DataType dtype, jt_format *format) {
    tfb_tensor_info in = input_x;
    in.dtype = dtype;
    tfb_signature sig = {.name = "serving_default", .ninputs = 1, .inputs = &in};
    json_t *root;
    roma_err err;
    TF_Tensor *t[1] = {NULL};
    assert_int_equal(jt_parse_body(body, strlen(body), &root, &err), ROMA_OK);
    assert_int_equal(jt_predict_inputs(root, &sig, t, format, &err), ROMA_OK);
    json_decref(root);
    return t[0];
}

static void assert_same_tensor(const char *name, TF_Tensor *a, TF_Tensor *b) {
    CASE_CHECK_INT(name, TF_TensorType(a), TF_TensorType(b));
    CASE_CHECK_INT(name, TF_NumDims(a), TF_NumDims(b));
    for (int d = 0; d < TF_NumDims(a); d++) CASE_CHECK_INT(name, TF_Dim(a, d), TF_Dim(b, d));
    CASE_CHECK_INT(name, TF_TensorByteSize(a), TF_TensorByteSize(b));
    CASE_CHECK(name, memcmp(TF_TensorData(a), TF_TensorData(b), TF_TensorByteSize(a)) == 0);
}

/* body is taken by the fast path and gives the general path's tensor. */
static void check_fast_path(const char *name, const char *body, TF_DataType dtype,
                            jt_format format, const char *signature) {
    jf_request req;
    jt_format want_format;
    CASE_CHECK(name, jf_parse(body, strlen(body), dtype, NULL, &req));
    CASE_CHECK(name, jf_fits(&req, dtype));
    CASE_CHECK_INT(name, req.format, format);
    if (signature) CASE_CHECK_STR(name, req.signature_name, signature);
    else CASE_CHECK(name, req.signature_name == NULL);
    TF_Tensor *fast = jf_to_tensor(&req, dtype);
    TF_Tensor *general = general_tensor(body, dtype, &want_format);
    CASE_CHECK_INT(name, req.format, want_format);
    assert_same_tensor(name, fast, general);
    jt_tensors_free(&fast, 1);
    jt_tensors_free(&general, 1);
    jf_free(&req);
}

static void test_taken_bodies_match_the_general_path(void **state) {
    static const struct {
        const char *name, *body;
        TF_DataType dtype;
        jt_format format;
        const char *signature;
    } cases[] = {
        {"row floats", "{\"instances\": [1.0, 2.5, -3.25]}", TF_FLOAT, JT_ROW},
        {"columnar 2-D", "{\"inputs\": [[1, 2], [3, 4]]}", TF_FLOAT, JT_COLUMNAR},
        {"3-D with spaces", " { \"instances\" : [ [ [0.1,0.2] , [0.3,0.4] ] ] } ", TF_FLOAT, JT_ROW},
        {"exponents", "{\"instances\": [1e3, 2.5E-2, -7e+1, 0.000123]}", TF_FLOAT, JT_ROW},
        {"doubles exact", "{\"instances\": [0.1, 0.2, 0.30000000000000004]}", TF_DOUBLE, JT_ROW},
        {"long mantissa (strtod)", "{\"instances\": [3.14159265358979323846264]}", TF_DOUBLE, JT_ROW},
        {"tiny exponent (strtod)", "{\"instances\": [1e-300, 4.9e-324]}", TF_DOUBLE, JT_ROW},
        {"int32", "{\"instances\": [[1, -2], [3, 2147483647]]}", TF_INT32, JT_ROW},
        {"uint8", "{\"inputs\": [0, 255, 7]}", TF_UINT8, JT_COLUMNAR},
        {"int64", "{\"instances\": [123456789012345]}", TF_INT64, JT_ROW},
        {"signature named", "{\"signature_name\": \"s\", \"instances\": [1.5]}", TF_FLOAT, JT_ROW, "s"},
        {"negative zeros", "{\"instances\": [-0, 0, -0.0, 0.0, -0e0, -0.000]}", TF_FLOAT, JT_ROW},
        {"negative zeros double", "{\"instances\": [-0, -0.0, -0E+3]}", TF_DOUBLE, JT_ROW},
        {"image-like", "{\"instances\": [[[0.86,-0.733,-0.43],[0.146,-0.848,0.329]]]}", TF_FLOAT, JT_ROW},
        {"every digit count",
         "{\"instances\": [1, -12, 123, -1234, 12345, -123456, 1234567, -12345678, 0.1, -0.12, "
         "0.123, -0.1234, 0.12345, -0.123456, 0.1234567, -0.12345678, 1.123456789, "
         "-12.1234567890, 1234567.1234567, 12345678.12345678, 123456789.123456789]}",
         TF_DOUBLE, JT_ROW},
        {"every digit count float",
         "{\"instances\": [1, -12, 123, -1234, 12345, -123456, 1234567, -12345678, 0.1, -0.12, "
         "0.123, -0.1234, 0.12345, -0.123456, 0.1234567, -0.12345678, 1.123456789, "
         "-12.1234567890, 1234567.1234567, 12345678.12345678, 123456789.123456789]}",
         TF_FLOAT, JT_ROW},
        {"many digits (strtod)",
         "{\"instances\": [0.1000000000000000055511151231257827, 9007199254740993.0, "
         "123456789012345678901234567890.5, -0.00000000000000000000000000001]}",
         TF_DOUBLE, JT_ROW},
        {"halfway cases (strtod)",
         "{\"instances\": [9007199254740993.0, 2.0000000000000002220446049250313080847263336181640625, "
         "1.00000005960464477539062500001, 16777217.0]}",
         TF_DOUBLE, JT_ROW},
        {"float double rounding", "{\"instances\": [1.00000005960464477539062500001, "
         "0.1, 3.4028235e38, -3.4028234e38, 1.1754943508222875e-38]}", TF_FLOAT, JT_ROW},
        {"exponent forms", "{\"instances\": [1E2, 1e+2, 1e-2, -1.5e22, 1.5e-22, 2e23, 5e-23, "
         "12.5e1, 0e0, 0.0e-5]}", TF_DOUBLE, JT_ROW},
        {"subnormals double", "{\"instances\": [4.9e-324, 2.2250738585072009e-308, "
         "-5e-324, 1e-400]}", TF_DOUBLE, JT_ROW},
        {"subnormals float", "{\"instances\": [1.4e-45, 1e-45, -7e-46, 1.1754942e-38, 1e-50]}",
         TF_FLOAT, JT_ROW},
        {"whitespace everywhere", "\n{\t\"instances\"\r:\n[ [ 1 ,\t-2.5 ] ,\n[ 3e1 , 4 ] ]\n}\n",
         TF_FLOAT, JT_ROW},
        {"int8 limits", "{\"instances\": [-128, 127, 0, -0]}", TF_INT8, JT_ROW},
        {"uint16", "{\"inputs\": [[0, 65535], [1, 2]]}", TF_UINT16, JT_COLUMNAR},
        {"int64 negative", "{\"instances\": [-123456789012345, 999999999999999]}", TF_INT64, JT_ROW},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        /* Short numbers are read eight bytes at a time only where 24 bytes
         * follow: each body as it is and with trailing spaces takes both ways. */
        char padded[1024];
        snprintf(padded, sizeof(padded), "%s%32s", cases[i].body, "");
        check_fast_path(cases[i].name, cases[i].body, cases[i].dtype, cases[i].format,
                        cases[i].signature);
        check_fast_path(cases[i].name, padded, cases[i].dtype, cases[i].format,
                        cases[i].signature);
    }
}

/* A deterministic stream of short numbers like an image body's, with every
 * digit count, both signs, integers and exponents mixed in. */
static void append_random_number(roma_buf *b, uint64_t *seed) {
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *seed >> 16;
    int ni = 1 + (int)(r % 7), nf = (int)((r >> 3) % 8), form = (int)((r >> 6) % 16);
    if ((r >> 10) & 1) roma_buf_putc(b, '-');
    roma_buf_putc(b, (char)('1' + (r >> 11) % 9));
    for (int k = 1; k < ni; k++) roma_buf_putc(b, (char)('0' + (r >> (14 + 2 * k)) % 10));
    if (ni == 1 && form == 0) b->data[b->len - 1] = '0'; /* 0.xxx */
    if (nf > 0) {
        roma_buf_putc(b, '.');
        for (int k = 0; k < nf; k++) roma_buf_putc(b, (char)('0' + ((r >> (2 * k)) ^ (r >> 40)) % 10));
    }
    if (form == 1) roma_buf_printf(b, "e%d", (int)(r >> 44) % 30 - 15);
}

/* Float midpoints with at most 14 digits: (2^24 + odd) / 2^j and
 * (2^25 - odd) / 2^j, at the bottom and the top of a binade, which the float
 * path must not round from a nearby double; and their neighbours. */
static void append_midpoints(roma_buf *b) {
    for (int j = 2; j <= 7; j++)
        for (int odd = -63; odd < 64; odd += 2) {
            double mid = ((odd < 0 ? 33554432.0 : 16777216.0) + odd) / (double)(1 << j);
            roma_buf_printf(b, "%.*f, %.*f1, -%.*f, ", j, mid, j, mid, j, mid);
            roma_buf_printf(b, "%.*f, ", j, mid - 1.0 / (1 << j) / 2);
        }
}

static void test_many_numbers_match_the_general_path(void **state) {
    static const TF_DataType dtypes[] = {TF_FLOAT, TF_DOUBLE};
    roma_buf body = ROMA_BUF_INIT;
    uint64_t seed = 42;
    roma_buf_puts(&body, "{\"instances\": [");
    append_midpoints(&body);
    for (int i = 0; i < 200000; i++) {
        if (i) roma_buf_puts(&body, i % 3 ? "," : ", ");
        append_random_number(&body, &seed);
    }
    roma_buf_puts(&body, "]}");
    for (size_t d = 0; d < ARRAY_LEN(dtypes); d++)
        check_fast_path(tfb_dtype_name(dtypes[d]), body.data, dtypes[d], JT_ROW, NULL);
    roma_buf_free(&body);
}

static void test_other_bodies_are_left_to_the_general_path(void **state) {
    static const char *bodies[] = {
        "{\"instances\": [{\"x\": 1.0}]}",          /* named inputs */
        "{\"instances\": [\"a\"]}",                 /* strings */
        "{\"instances\": [NaN]}",                   /* special tokens */
        "{\"instances\": [[1, 2], [3]]}",           /* ragged */
        "{\"instances\": [[1, 2], 3]}",             /* mixed depth */
        "{\"instances\": []}",                      /* empty */
        "{\"instances\": [1], \"inputs\": [1]}",    /* both */
        "{\"instances\": [1], \"other\": 2}",       /* another key */
        "{\"signature_name\": \"a\\\"b\", \"instances\": [1]}", /* escapes */
        "{\"instances\": [01]}",                    /* leading zero */
        "{\"instances\": [1.]}",                    /* no fraction digits */
        "{\"instances\": [1e]}",                    /* no exponent digits */
        "{\"instances\": [1]",                      /* truncated */
        "{\"instances\": [1]} x",                   /* trailing text */
        "[1, 2]",                                   /* not an object */
        "{\"signature_name\": \"s\"}",              /* no tensor */
        "{\"instances\": [1e400]}",                 /* overflows a double */
        "{\"instances\": [-1.5e309]}",              /* overflows a double */
        "{\"instances\": [-]}",                     /* sign alone */
        "{\"instances\": [+1]}",                    /* plus sign */
        "{\"instances\": [.5]}",                    /* no integer digits */
        "{\"instances\": [1.5.5]}",                 /* two points */
        "{\"instances\": [0x10]}",                  /* hex */
        "{\"instances\": [1 2]}",                   /* no comma */
        "{\"instances\": [1,]}",                    /* trailing comma */
        "{\"instances\": [[1,2],[3,4]],}",          /* trailing comma */
    };
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        jf_request req;
        CASE_CHECK(bodies[i], !jf_parse(bodies[i], strlen(bodies[i]), TF_FLOAT, NULL, &req));
        CASE_CHECK(bodies[i], !jf_parse(bodies[i], strlen(bodies[i]), TF_DOUBLE, NULL, &req));
    }
}

static void test_fits_only_exact_conversions(void **state) {
    static const struct {
        const char *name, *body;
        TF_DataType dtype;
        int fits;
    } cases[] = {
        {"fraction into int32", "{\"instances\": [1.5]}", TF_INT32, 0},
        {"1.0 into int32 (general path refuses)", "{\"instances\": [1.0]}", TF_INT32, 0},
        {"256 into uint8", "{\"instances\": [256]}", TF_UINT8, 0},
        {"-1 into uint32", "{\"instances\": [-1]}", TF_UINT32, 0},
        {"2^24+1 into float", "{\"instances\": [16777217]}", TF_FLOAT, 0},
        {"16 digits into int64", "{\"instances\": [1234567890123456]}", TF_INT64, 0},
        {"numbers into string", "{\"instances\": [1]}", TF_STRING, 0},
        {"numbers into bool", "{\"instances\": [1]}", TF_BOOL, 0},
        {"small ints into float", "{\"instances\": [1, 2]}", TF_FLOAT, 1},
        {"above FLT_MAX into float", "{\"instances\": [1e39]}", TF_FLOAT, 0},
        {"above FLT_MAX, long form", "{\"instances\": [340282356779733661637539395458142568448.0]}", TF_FLOAT, 0},
        {"above FLT_MAX into double", "{\"instances\": [1e39]}", TF_DOUBLE, 1},
        {"FLT_MAX into float", "{\"instances\": [3.4028235e38]}", TF_FLOAT, 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        jf_request req;
        CASE_CHECK(cases[i].name, jf_parse(cases[i].body, strlen(cases[i].body), cases[i].dtype, NULL, &req));
        CASE_CHECK_INT(cases[i].name, jf_fits(&req, cases[i].dtype), cases[i].fits);
        jf_free(&req);
    }
}

static void test_body_without_trailing_nul_is_declined(void **state) {
    char body[] = "{\"instances\": [1]}XX";
    jf_request req;
    /* len excludes "XX": body[len] is 'X', not the NUL the contract needs. */
    assert_false(jf_parse(body, strlen(body) - 2, TF_FLOAT, NULL, &req));
}

/* ---- two threads: the same result as one, wherever the body is cut ------ */

static void assert_same_request(const char *name, const jf_request *a, const jf_request *b) {
    CASE_CHECK_INT(name, a->format, b->format);
    CASE_CHECK_INT(name, a->count, b->count);
    CASE_CHECK_INT(name, a->ndims, b->ndims);
    for (int d = 0; d < a->ndims; d++) CASE_CHECK_INT(name, a->dims[d], b->dims[d]);
    CASE_CHECK_INT(name, a->integers_only, b->integers_only);
    CASE_CHECK_INT(name, a->big_integers, b->big_integers);
    CASE_CHECK_INT(name, a->beyond_float, b->beyond_float);
    CASE_CHECK(name, (a->signature_name == NULL) == (b->signature_name == NULL));
    if (a->signature_name) CASE_CHECK_STR(name, a->signature_name, b->signature_name);
    CASE_CHECK(name, (a->floats == NULL) == (b->floats == NULL));
    if (a->floats) CASE_CHECK(name, memcmp(a->floats, b->floats, a->count * sizeof(float)) == 0);
    else CASE_CHECK(name, memcmp(a->values, b->values, a->count * sizeof(double)) == 0);
}

/* Whether the body has a ',' at or after from that a list element follows
 * (where jf_parse_split cuts). */
static int has_cut_after(const char *body, size_t from) {
    for (const char *p = body + from; (p = strchr(p, ',')); p++) {
        const char *q = p + 1 + strspn(p + 1, " \t\r\n");
        if (*q == '[' || *q == '-' || (*q >= '0' && *q <= '9')) return 1;
    }
    return 0;
}

/* Cuts body at every byte: whenever the halves join, the result is one
 * thread's; when must_join (a taken body whose every such ',' separates
 * list elements), they join wherever there is a cut.  Each cut is parsed
 * twice: waiting for the helper, and as jf_parse does (on bodies this
 * small the first half mostly takes the tail back before the helper wakes
 * up).  And jf_parse with a helper that splits every body takes it exactly
 * when one thread does. */
static void check_every_cut(const char *name, const char *body, TF_DataType dtype,
                            jf_helper *all, int must_join) {
    size_t len = strlen(body);
    jf_request one, split;
    char what[160];
    int taken = jf_parse(body, len, dtype, NULL, &one);
    for (size_t from = 0; from <= len; from++) {
        snprintf(what, sizeof(what), "%s, %s, cut after byte %zu", name, tfb_dtype_name(dtype), from);
        for (int take_back = 0; take_back <= 1; take_back++) {
            int joined = jf_parse_split(body, len, dtype, all, from, take_back, &split);
            if (must_join) CASE_CHECK_INT(what, joined, has_cut_after(body, from));
            if (!joined) continue;
            CASE_CHECK(what, taken);
            assert_same_request(what, &split, &one);
            jf_free(&split);
        }
    }
    snprintf(what, sizeof(what), "%s, %s, jf_parse with a helper", name, tfb_dtype_name(dtype));
    CASE_CHECK_INT(what, jf_parse(body, len, dtype, all, &split), taken);
    if (taken) assert_same_request(what, &split, &one);
    jf_free(&split);
    jf_free(&one);
}

static void test_split_bodies_match_one_thread(void **state) {
    static const struct {
        const char *name, *body;
        int taken;
    } cases[] = {
        {"1-D", "{\"instances\": [1.5, -2, 3e2, 0.25, 7]}", 1},
        {"2-D", "{\"instances\": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}", 1},
        {"3-D", "{\"inputs\": [[[1,2],[3,4]],[[5,6],[7,8]],[[9,10],[11,12]]]}", 1},
        {"4-D image-like", "{\"instances\": [[[[0.86,-0.733,-0.43],[0.146,-0.848,0.329]],"
                           "[[0.285,-0.626,0.165],[0.063,-0.809,-0.634]]]]}", 1},
        {"one-element lists", "{\"instances\": [[[1]], [[2]], [[3]]]}", 1},
        {"whitespace", " {\n\"instances\" :\t[ [ 1 ,\n 2 ] ,\r\n [ 3 , 4 ] ]\n,\n"
                       "\"signature_name\" : \"s\" } ", 1},
        {"signature first", "{\"signature_name\": \"sig\", \"instances\": [[1, 2], [3, 4]]}", 1},
        {"signature last", "{\"instances\": [[1, 2], [3, 4]], \"signature_name\": \"sig\"}", 1},
        {"integers then a fraction", "{\"instances\": [[1, 2], [3, 4.5]]}", 1},
        {"big integer late", "{\"instances\": [[1, 2], [3, 16777217]]}", 1},
        {"beyond float late", "{\"instances\": [[1, 2], [3, 1e39]]}", 1},
        {"long numbers", "{\"instances\": [[0.1000000000000000055511151231257827, 2], "
                         "[3.14159265358979323846264, -0.00000000000000000000000000001]]}", 1},
        {"ragged after", "{\"instances\": [[1, 2], [3, 4, 5]]}", 0},
        {"ragged before", "{\"instances\": [[1, 2, 3], [4, 5]]}", 0},
        {"ragged deep", "{\"instances\": [[[1,2],[3,4]],[[5,6]]]}", 0},
        {"ragged deep first", "{\"instances\": [[[1,2]],[[3,4],[5,6]]]}", 0},
        {"mixed depth after", "{\"instances\": [[1, 2], 3]}", 0},
        {"mixed depth before", "{\"instances\": [1, [2, 3]]}", 0},
        {"deeper after", "{\"instances\": [[1, 2], [[3], [4]]]}", 0},
        {"element after the tensor", "{\"instances\": [[1,2],[3,4]], [[5,6],[7,8]]}", 0},
        {"number after the tensor", "{\"instances\": [[1,2],[3,4]], 5}", 0},
        {"one close too many", "{\"instances\": [[1,2],[3,4]]]}", 0},
        {"one close too few", "{\"instances\": [[1,2],[3,4]}", 0},
        {"list closes early", "{\"instances\": [[1,2]],[3,4]]}", 0},
        {"comma in the signature", "{\"signature_name\": \"a,1\", \"instances\": [[1, 2], [3, 4]]}", 1},
        {"bad number after", "{\"instances\": [[1, 2], [3, 4x]]}", 0},
        {"bad number before", "{\"instances\": [[1, 2x], [3, 4]]}", 0},
        {"empty list after", "{\"instances\": [[1, 2], []]}", 0},
        {"trailing comma", "{\"instances\": [[1, 2], [3, 4],]}", 0},
        {"no comma", "{\"instances\": [[1, 2] [3, 4]]}", 0},
        {"truncated", "{\"instances\": [[1, 2], [3, 4", 0},
        {"trailing text", "{\"instances\": [[1, 2], [3, 4]]} x", 0},
        {"other key after", "{\"instances\": [[1, 2], [3, 4]], \"x\": 1}", 0},
        {"strings", "{\"instances\": [[1, 2], [\"a\", 4]]}", 0},
        {"double overflow after", "{\"instances\": [[1, 2], [3, 1e400]]}", 0},
    };
    static const TF_DataType dtypes[] = {TF_FLOAT, TF_DOUBLE};
    jf_helper *all = jf_helper_start(0);
    assert_non_null(all);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        for (size_t d = 0; d < ARRAY_LEN(dtypes); d++) {
            jf_request one;
            int taken = jf_parse(cases[i].body, strlen(cases[i].body), dtypes[d], NULL, &one);
            CASE_CHECK_INT(cases[i].name, taken, cases[i].taken);
            jf_free(&one);
            int must_join = cases[i].taken && !strstr(cases[i].name, "comma in");
            check_every_cut(cases[i].name, cases[i].body, dtypes[d], all, must_join);
        }
    jf_helper_stop(all);
}

/* Lists nested to the limit (JF_MAX_DIMS) and one deeper. */
static void test_split_bodies_at_the_depth_limit(void **state) {
    jf_helper *all = jf_helper_start(0);
    assert_non_null(all);
    for (int depth = JF_MAX_DIMS - 1; depth <= JF_MAX_DIMS + 1; depth++) {
        roma_buf body = ROMA_BUF_INIT;
        roma_buf_puts(&body, "{\"instances\": [");
        for (int k = 1; k < depth; k++) roma_buf_putc(&body, '[');
        roma_buf_puts(&body, "1, 2");
        for (int k = 1; k < depth; k++) roma_buf_putc(&body, ']');
        roma_buf_puts(&body, ", ");
        for (int k = 1; k < depth; k++) roma_buf_putc(&body, '[');
        roma_buf_puts(&body, "3, 4");
        for (int k = 1; k < depth; k++) roma_buf_putc(&body, ']');
        roma_buf_puts(&body, "]}");
        jf_request one;
        CASE_CHECK_INT(body.data, jf_parse(body.data, body.len, TF_FLOAT, NULL, &one),
                       depth <= JF_MAX_DIMS);
        jf_free(&one);
        check_every_cut("nested", body.data, TF_FLOAT, all, depth <= JF_MAX_DIMS);
        roma_buf_free(&body);
    }
    jf_helper_stop(all);
}

/* ---- ragged bodies whose first elements promise a huge shape ------------
 * (issue 16): refused by one thread and by two wherever cut, and then by
 * the general path too, with an error and nothing allocated for the
 * promised shape. */

/* `levels` nested lists of `len` elements where only the first is a list
 * (the others: `rest`); the innermost holds `len` numbers. */
static void append_ragged(roma_buf *b, int levels, int len, const char *rest) {
    roma_buf_putc(b, '[');
    for (int i = 0; i < len; i++) {
        if (i) roma_buf_puts(b, ", ");
        if (levels == 1) roma_buf_printf(b, "%d", i % 10);
        else if (i == 0) append_ragged(b, levels - 1, len, rest);
        else roma_buf_puts(b, rest);
    }
    roma_buf_putc(b, ']');
}

static char *ragged_body(int levels, int len, const char *rest) {
    roma_buf b = ROMA_BUF_INIT;
    roma_buf_puts(&b, "{\"instances\": ");
    append_ragged(&b, levels, len, rest);
    roma_buf_puts(&b, "}");
    return roma_buf_detach(&b, NULL);
}

static void check_general_path_refuses(const char *name, const char *body) {
    tfb_tensor_info in = input_x;
    tfb_signature sig = {.name = "serving_default", .ninputs = 1, .inputs = &in};
    json_t *root;
    roma_err err = {{0}};
    TF_Tensor *t[1] = {NULL};
    jt_format format;
    assert_int_equal(jt_parse_body(body, strlen(body), &root, &err), ROMA_OK);
    roma_code rc = jt_predict_inputs(root, &sig, t, &format, &err);
    json_decref(root);
    if (rc == ROMA_OK) jt_tensors_free(t, 1);
    CASE_CHECK_INT(name, rc, ROMA_INVALID_ARGUMENT);
    check_contains(name, err.msg, "ragged");
}

/* Found by tests/fuzz/fuzz_json_fast.c (corpus: tests/fuzz/corpus/
 * json_fast/signature-name-not-utf8): the fast path took a signature name
 * that is not UTF-8, which the general path (jansson) refuses with a 400;
 * now any non-ASCII name is left to the general path, which decides. */
static void test_signature_name_not_ascii_is_left_to_the_general_path(void **state) {
    static const char *bodies[] = {
        "{\"signature_name\": \"a\x9c\x9c\", \"instances\": [[1, 2], [3, 4]]}",
        "{\"signature_name\": \"\xff\", \"inputs\": [1]}",
        "{\"signature_name\": \"caf\xc3\xa9\", \"instances\": [1]}", /* UTF-8: general path */
    };
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        jf_request req;
        CASE_CHECK(bodies[i], !jf_parse(bodies[i], strlen(bodies[i]), TF_FLOAT, NULL, &req));
        json_t *root;
        roma_err err;
        roma_code rc = jt_parse_body(bodies[i], strlen(bodies[i]), &root, &err);
        CASE_CHECK_INT(bodies[i], rc, i < 2 ? ROMA_INVALID_ARGUMENT : ROMA_OK);
        if (rc == ROMA_OK) json_decref(root);
    }
}

static void test_ragged_bodies_promising_huge_shapes_are_declined(void **state) {
    static const struct {
        const char *name;
        int levels, len;
        const char *rest;
    } cases[] = {
        {"long first row, then one-number rows", 2, 300, "[1]"},
        {"long first row, then empty rows", 2, 300, "[]"},
        {"long first row, then longer rows later", 2, 30, "[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, "
                                                         "3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, "
                                                         "6, 7, 8, 9, 0, 1]"},
        {"deep ragged", 4, 12, "[[[1]]]"},
        {"deep ragged, numbers where lists were", 4, 12, "7"},
        {"32 levels whose first elements multiply past 2^64", 32, 4, "[]"},
    };
    static const TF_DataType dtypes[] = {TF_FLOAT, TF_DOUBLE};
    jf_helper *all = jf_helper_start(0);
    assert_non_null(all);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *body = ragged_body(cases[i].levels, cases[i].len, cases[i].rest);
        for (size_t d = 0; d < ARRAY_LEN(dtypes); d++) {
            jf_request one;
            CASE_CHECK_INT(cases[i].name, jf_parse(body, strlen(body), dtypes[d], NULL, &one), 0);
            if (strlen(body) < 4000) check_every_cut(cases[i].name, body, dtypes[d], all, 0);
        }
        check_general_path_refuses(cases[i].name, body);
        free(body);
    }
    jf_helper_stop(all);
}

/* The 1.58 MB body (a 250000-number row, then 360000 empty rows)
 * and one with one-number rows instead, through the production helper. */
static void test_large_ragged_body_is_declined_on_two_threads(void **state) {
    static const char *const rests[] = {"[]", "[1]"};
    jf_helper *helper = jf_helper_start(JF_SPLIT_MIN_BYTES);
    assert_non_null(helper);
    for (size_t i = 0; i < ARRAY_LEN(rests); i++) {
        roma_buf b = ROMA_BUF_INIT;
        roma_buf_puts(&b, "{\"instances\": [[1");
        for (int k = 1; k < 250000; k++) roma_buf_puts(&b, ",1");
        roma_buf_putc(&b, ']');
        for (int k = 0; k < 360000 / (int)(i + 1); k++) roma_buf_printf(&b, ",%s", rests[i]);
        roma_buf_puts(&b, "]}");
        jf_request req;
        CASE_CHECK_INT(rests[i], jf_parse(b.data, b.len, TF_FLOAT, NULL, &req), 0);
        CASE_CHECK_INT(rests[i], jf_parse(b.data, b.len, TF_FLOAT, helper, &req), 0);
        CASE_CHECK_INT(rests[i], jf_parse_split(b.data, b.len, TF_FLOAT, helper, b.len / 2, 0,
                                                &req), 0);
        check_general_path_refuses(rests[i], b.data);
        roma_buf_free(&b);
    }
    jf_helper_stop(helper);
}

/* An image-like body of random numbers in shape dims, every list long
 * enough that the short-number path reads both halves. */
static void append_tensor(roma_buf *b, const int *dims, int ndims, uint64_t *seed) {
    roma_buf_putc(b, '[');
    for (int i = 0; i < dims[0]; i++) {
        if (i) roma_buf_puts(b, (*seed >> 20) % 3 ? ", " : ",\n ");
        if (ndims == 1) append_random_number(b, seed);
        else append_tensor(b, dims + 1, ndims - 1, seed);
    }
    roma_buf_putc(b, ']');
}

static void test_split_random_tensors(void **state) {
    static const int shapes[][4] = {{1, 6, 5, 3}, {3, 40}, {2, 3, 4, 5}, {300}};
    static const int ranks[] = {4, 2, 4, 1};
    static const TF_DataType dtypes[] = {TF_FLOAT, TF_DOUBLE};
    jf_helper *all = jf_helper_start(0);
    uint64_t seed = 7;
    assert_non_null(all);
    for (size_t i = 0; i < ARRAY_LEN(shapes); i++) {
        roma_buf body = ROMA_BUF_INIT;
        roma_buf_puts(&body, "{\"instances\": ");
        append_tensor(&body, shapes[i], ranks[i], &seed);
        roma_buf_puts(&body, "}");
        for (size_t d = 0; d < ARRAY_LEN(dtypes); d++)
            check_every_cut("random tensor", body.data, dtypes[d], all, 1);
        roma_buf_free(&body);
    }
    jf_helper_stop(all);
}

/* An image-like body larger than JF_SPLIT_MIN_BYTES. */
static void large_body(roma_buf *body) {
    static const int dims[] = {1, 64, 64, 3};
    uint64_t seed = 11;
    roma_buf_puts(body, "{\"instances\": ");
    append_tensor(body, dims, 4, &seed);
    roma_buf_puts(body, "}");
    assert_true(body->len >= JF_SPLIT_MIN_BYTES);
}

/* The production helper, a large body and its one-thread parse. */
typedef struct {
    jf_helper *helper;
    roma_buf body;
    jf_request one;
} large_case;

static void large_case_start(large_case *c) {
    c->helper = jf_helper_start(JF_SPLIT_MIN_BYTES);
    assert_non_null(c->helper);
    c->body = (roma_buf)ROMA_BUF_INIT;
    large_body(&c->body);
    assert_true(jf_parse(c->body.data, c->body.len, TF_FLOAT, NULL, &c->one));
}

static void large_case_end(large_case *c) {
    jf_helper_stop(c->helper);
    jf_free(&c->one);
    roma_buf_free(&c->body);
}

/* A body larger than JF_SPLIT_MIN_BYTES, through the production helper. */
static void test_large_body_split_in_the_middle(void **state) {
    large_case c;
    jf_request two;
    large_case_start(&c);
    assert_true(jf_parse_split(c.body.data, c.body.len, TF_FLOAT, c.helper, c.body.len / 2, 0, &two));
    assert_same_request("large, split", &two, &c.one);
    jf_free(&two);
    assert_true(jf_parse(c.body.data, c.body.len, TF_FLOAT, c.helper, &two));
    assert_same_request("large, jf_parse", &two, &c.one);
    jf_free(&two);
    check_fast_path("large", c.body.data, TF_FLOAT, JT_ROW, NULL);
    large_case_end(&c);
}

/* jf_helper_expect is a hint: a helper woken by it takes the tail that
 * comes (the same request as one thread's), goes back to sleep when none
 * comes, and stops at once when told to, spinning or not; small bodies and
 * a NULL helper are ignored. */
static void test_expected_body_and_unused_hints(void **state) {
    large_case c;
    jf_request two;
    large_case_start(&c);
    for (int i = 0; i < 20; i++) {
        jf_helper_expect(c.helper, c.body.len);
        if (i % 2) usleep(JF_WARM_US * 3); /* the helper gave up and sleeps again */
        assert_true(jf_parse(c.body.data, c.body.len, TF_FLOAT, c.helper, &two));
        assert_same_request("expected", &two, &c.one);
        jf_free(&two);
    }
    jf_helper_expect(c.helper, c.body.len);
    usleep(JF_WARM_US * 3);
    jf_helper_expect(c.helper, JF_SPLIT_MIN_BYTES - 1);
    jf_helper_expect(NULL, c.body.len);
    jf_helper_expect(c.helper, c.body.len); /* stopped while it may spin */
    large_case_end(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_bodies_match_the_general_path),
        cmocka_unit_test(test_many_numbers_match_the_general_path),
        cmocka_unit_test(test_other_bodies_are_left_to_the_general_path),
        cmocka_unit_test(test_fits_only_exact_conversions),
        cmocka_unit_test(test_body_without_trailing_nul_is_declined),
        cmocka_unit_test(test_split_bodies_match_one_thread),
        cmocka_unit_test(test_split_bodies_at_the_depth_limit),
        cmocka_unit_test(test_signature_name_not_ascii_is_left_to_the_general_path),
        cmocka_unit_test(test_ragged_bodies_promising_huge_shapes_are_declined),
        cmocka_unit_test(test_large_ragged_body_is_declined_on_two_threads),
        cmocka_unit_test(test_split_random_tensors),
        cmocka_unit_test(test_large_body_split_in_the_middle),
        cmocka_unit_test(test_expected_body_and_unused_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

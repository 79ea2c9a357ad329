/* test_proto.c - the hand-written protobuf wire format and what is built on
 * it (src/tf/proto.h, src/tf/tfb.h, src/worker/example.h, src/common/b64.h).
 *
 * Covers: pb writer/reader round trips (varints incl. 64-bit and negative
 * int64 values with their exact encodings, bytes fields, fixed32/fixed64,
 * large field numbers, nested messages via pb_sub) and truncated or
 * malformed input setting the reader's sticky error; tfb_parse_signatures
 * on a hand-built serialized MetaGraphDef (field 5 map entries; SignatureDef
 * inputs=1, outputs=2, method_name=3; TensorInfo name=1, dtype=2,
 * tensor_shape=3 with dim=2{size=1} and unknown_rank=3): signatures sorted by
 * name and tensors by key, dims, unknown_rank, unrelated fields skipped, and
 * malformed bytes (incl. every truncation) giving an error without leaks;
 * ex_serialize of {"a": 1, "b": 2.5, "c": "s", "d": [1, 2]} and other
 * feature kinds decoded back with the pb reader, its errors, and
 * ex_request_tensor's context merge; base64 (RFC 4648 vectors, every byte
 * value, missing padding, URL-safe letters, invalid input).
 */
#include "unit.h"

#include "common/b64.h"
#include "tf/proto.h"
#include "tf/tfb.h"
#include "worker/example.h"
#include "worker/json_tensor.h"

/* ---- pb: varints ------------------------------------------------------- */

static void test_varint_encodings_and_round_trip(void **state) {
    static const struct {
        const char *name;
        uint64_t v;
        size_t n;
        uint8_t bytes[10];
    } cases[] = {
        {"0", 0, 1, {0x00}},
        {"1", 1, 1, {0x01}},
        {"127", 127, 1, {0x7f}},
        {"128", 128, 2, {0x80, 0x01}},
        {"150", 150, 2, {0x96, 0x01}},
        {"300", 300, 2, {0xac, 0x02}},
        {"16383", 16383, 2, {0xff, 0x7f}},
        {"16384", 16384, 3, {0x80, 0x80, 0x01}},
        {"2^32-1", 0xffffffffull, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
        {"2^35", 1ull << 35, 6, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
        {"INT64_MAX", (uint64_t)INT64_MAX, 9, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
        {"2^63", 1ull << 63, 10, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
        {"UINT64_MAX", UINT64_MAX, 10,
         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
        {"int64 -2", (uint64_t)(int64_t)-2, 10,
         {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_buf b = ROMA_BUF_INIT;
        pb_put_varint(&b, cases[i].v);
        CASE_CHECK_INT(cases[i].name, b.len, cases[i].n);
        CASE_CHECK(cases[i].name, memcmp(b.data, cases[i].bytes, cases[i].n) == 0);
        roma_buf_free(&b);

        /* as a field, read back */
        pb_put_uint(&b, 9, cases[i].v);
        pb_reader r;
        pb_field f;
        pb_reader_init(&r, b.data, b.len);
        CASE_CHECK(cases[i].name, pb_next(&r, &f) == 1);
        CASE_CHECK_INT(cases[i].name, f.field, 9);
        CASE_CHECK_INT(cases[i].name, f.wire, PB_VARINT);
        CASE_CHECK(cases[i].name, f.u == cases[i].v);
        CASE_CHECK(cases[i].name, pb_next(&r, &f) == 0);
        CASE_CHECK_INT(cases[i].name, r.error, 0);
        roma_buf_free(&b);
    }
}

/* ---- pb: a message with every wire type -------------------------------- */

static void put_fixed(roma_buf *b, int field, int wire, uint64_t v) {
    uint8_t le[8];
    size_t n = wire == PB_FIXED32 ? 4 : 8;
    pb_put_key(b, field, wire);
    for (size_t i = 0; i < n; i++) le[i] = (uint8_t)(v >> (8 * i));
    roma_buf_append(b, le, n);
}

static void test_message_round_trip(void **state) {
    static char big[300];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)i;
    roma_buf b = ROMA_BUF_INIT;
    pb_put_uint(&b, 1, 150);
    pb_put_bytes(&b, 2, "testing", 7);
    put_fixed(&b, 3, PB_FIXED32, 0xdeadbeef);
    put_fixed(&b, 4, PB_FIXED64, 0x0123456789abcdefull);
    pb_put_uint(&b, 536870911, 5); /* the largest field number */
    pb_put_bytes(&b, 6, "", 0);
    pb_put_bytes(&b, 7, big, sizeof(big));
    pb_put_uint(&b, 16, 1); /* a two-byte key */

    /* the protobuf documentation's examples, byte for byte */
    static const uint8_t head[] = {0x08, 0x96, 0x01, 0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'};
    assert_memory_equal(b.data, head, sizeof(head));

    static const struct {
        int field, wire;
        uint64_t u;
        const void *bytes;
        size_t len;
    } want[] = {
        {1, PB_VARINT, 150, NULL, 0},
        {2, PB_BYTES, 0, "testing", 7},
        {3, PB_FIXED32, 0xdeadbeef, NULL, 0},
        {4, PB_FIXED64, 0x0123456789abcdefull, NULL, 0},
        {536870911, PB_VARINT, 5, NULL, 0},
        {6, PB_BYTES, 0, "", 0},
        {7, PB_BYTES, 0, big, sizeof(big)},
        {16, PB_VARINT, 1, NULL, 0},
    };
    pb_reader r;
    pb_field f;
    pb_reader_init(&r, b.data, b.len);
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        char name[32];
        snprintf(name, sizeof(name), "field %d", want[i].field);
        CASE_CHECK(name, pb_next(&r, &f) == 1);
        CASE_CHECK_INT(name, f.field, want[i].field);
        CASE_CHECK_INT(name, f.wire, want[i].wire);
        if (want[i].wire == PB_BYTES) {
            CASE_CHECK_INT(name, f.len, want[i].len);
            CASE_CHECK(name, f.len == 0 || memcmp(f.bytes, want[i].bytes, f.len) == 0);
        } else {
            CASE_CHECK(name, f.u == want[i].u);
        }
    }
    assert_int_equal(pb_next(&r, &f), 0);
    assert_int_equal(r.error, 0);
    roma_buf_free(&b);
}

static void test_nested_messages(void **state) {
    roma_buf innermost = ROMA_BUF_INIT, inner = ROMA_BUF_INIT, outer = ROMA_BUF_INIT;
    pb_put_uint(&innermost, 1, 7);
    pb_put_uint(&inner, 1, 150);
    pb_put_bytes(&inner, 2, "x", 1);
    pb_put_bytes(&inner, 3, innermost.data, innermost.len);
    pb_put_bytes(&outer, 1, inner.data, inner.len);
    pb_put_uint(&outer, 2, 9);

    pb_reader r;
    pb_field f, g, h;
    pb_reader_init(&r, outer.data, outer.len);
    assert_int_equal(pb_next(&r, &f), 1);
    assert_int_equal(f.field, 1);
    assert_int_equal(f.wire, PB_BYTES);
    pb_reader in = pb_sub(&f);
    assert_int_equal(pb_next(&in, &g), 1);
    assert_true(g.field == 1 && g.u == 150);
    assert_int_equal(pb_next(&in, &g), 1);
    assert_true(g.field == 2 && g.len == 1 && g.bytes[0] == 'x');
    assert_int_equal(pb_next(&in, &g), 1);
    assert_int_equal(g.field, 3);
    pb_reader most = pb_sub(&g);
    assert_int_equal(pb_next(&most, &h), 1);
    assert_true(h.field == 1 && h.u == 7);
    assert_int_equal(pb_next(&most, &h), 0);
    assert_int_equal(most.error, 0);
    assert_int_equal(pb_next(&in, &g), 0);
    assert_int_equal(in.error, 0);
    /* the outer reader continues after the embedded message */
    assert_int_equal(pb_next(&r, &f), 1);
    assert_true(f.field == 2 && f.u == 9);
    assert_int_equal(pb_next(&r, &f), 0);
    assert_int_equal(r.error, 0);
    roma_buf_free(&innermost);
    roma_buf_free(&inner);
    roma_buf_free(&outer);
}

/* pb_reader_init(NULL, 0) computed NULL + 0, undefined behaviour that
 * clang's UBSan reports (found by tests/fuzz/fuzz_proto.c on an empty
 * input; gcc's build-asan does not flag it). */
static void test_empty_input(void **state) {
    pb_reader r;
    pb_field f;
    pb_reader_init(&r, NULL, 0);
    assert_int_equal(pb_next(&r, &f), 0);
    assert_int_equal(r.error, 0);
}

static void test_truncated_and_malformed_input(void **state) {
    static const struct {
        const char *name;
        size_t n;
        uint8_t bytes[12];
        int good_fields; /* fields read before the error */
    } cases[] = {
        {"key with continuation bit and nothing after", 1, {0x80}, 0},
        {"key without value", 1, {0x08}, 0},
        {"varint value cut short", 2, {0x08, 0x80}, 0},
        {"bytes length past the end", 4, {0x12, 0x05, 'a', 'b'}, 0},
        {"bytes length missing", 1, {0x12}, 0},
        {"huge bytes length", 11, {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, 0},
        {"fixed32 cut short", 3, {0x1d, 0x01, 0x02}, 0},
        {"fixed64 cut short", 8, {0x19, 1, 2, 3, 4, 5, 6, 7}, 0},
        {"varint longer than 10 bytes", 12,
         {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0},
        {"group start wire type", 2, {0x0b, 0x00}, 0},
        {"group end wire type", 1, {0x0c}, 0},
        {"wire type 6", 2, {0x0e, 0x00}, 0},
        {"wire type 7", 2, {0x0f, 0x00}, 0},
        {"good field then truncated", 4, {0x08, 0x01, 0x10, 0x80}, 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        pb_reader r;
        pb_field f;
        int good = 0;
        pb_reader_init(&r, cases[i].bytes, cases[i].n);
        while (pb_next(&r, &f)) good++;
        CASE_CHECK_INT(cases[i].name, good, cases[i].good_fields);
        CASE_CHECK_INT(cases[i].name, r.error, 1);
        /* sticky */
        CASE_CHECK_INT(cases[i].name, pb_next(&r, &f), 0);
        CASE_CHECK_INT(cases[i].name, r.error, 1);
    }
}

static void test_malformed_sub_message_leaves_outer_reader_ok(void **state) {
    static const uint8_t bad_inner[] = {0x08, 0x80}; /* truncated varint */
    roma_buf outer = ROMA_BUF_INIT;
    pb_put_bytes(&outer, 1, bad_inner, sizeof(bad_inner));
    pb_put_uint(&outer, 2, 3);
    pb_reader r;
    pb_field f, g;
    pb_reader_init(&r, outer.data, outer.len);
    assert_int_equal(pb_next(&r, &f), 1);
    pb_reader in = pb_sub(&f);
    assert_int_equal(pb_next(&in, &g), 0);
    assert_int_equal(in.error, 1);
    assert_int_equal(pb_next(&r, &f), 1);
    assert_true(f.field == 2 && f.u == 3);
    assert_int_equal(r.error, 0);
    roma_buf_free(&outer);
}

/* ---- tfb_parse_signatures ---------------------------------------------- */

static void put_str(roma_buf *b, int field, const char *s) { pb_put_bytes(b, field, s, strlen(s)); }

/* Appends msg as a length-delimited field and frees it. */
static void put_msg(roma_buf *b, int field, roma_buf *msg) {
    pb_put_bytes(b, field, msg->data ? msg->data : "", msg->len);
    roma_buf_free(msg);
}

/* has_shape 0: no tensor_shape field at all. */
static void put_tensor_entry(roma_buf *sig, int field, const char *key, const char *name,
                             int dtype, int has_shape, int ndims, const int64_t *dims,
                             int unknown_rank) {
    roma_buf info = ROMA_BUF_INIT, shape = ROMA_BUF_INIT, entry = ROMA_BUF_INIT;
    put_str(&info, 1, name);
    pb_put_uint(&info, 2, (uint64_t)dtype);
    if (has_shape) {
        for (int d = 0; d < ndims; d++) {
            roma_buf dim = ROMA_BUF_INIT;
            pb_put_uint(&dim, 1, (uint64_t)dims[d]);
            put_str(&dim, 2, "dim_name"); /* Dim.name: ignored */
            put_msg(&shape, 2, &dim);
        }
        if (unknown_rank) pb_put_uint(&shape, 3, 1);
        put_msg(&info, 3, &shape);
    }
    put_str(&entry, 1, key);
    put_msg(&entry, 2, &info);
    put_msg(sig, field, &entry);
}

static void put_signature_entry(roma_buf *mgd, const char *name, roma_buf *sigdef) {
    roma_buf entry = ROMA_BUF_INIT;
    put_str(&entry, 1, name);
    put_msg(&entry, 2, sigdef);
    put_msg(mgd, 5, &entry);
}

/* A MetaGraphDef with three signatures out of order and unrelated fields. */
static void build_meta_graph_def(roma_buf *mgd) {
    static const int64_t x_dims[] = {-1, 3}, scores_dims[] = {-1, 2}, batch[] = {-1},
                         img_dims[] = {-1, 224, 224, 3};
    roma_buf meta_info = ROMA_BUF_INIT, sig = ROMA_BUF_INIT;

    put_str(&meta_info, 4, "serve"); /* MetaInfoDef.tags */
    put_msg(mgd, 1, &meta_info);
    put_str(mgd, 2, "\x0a\x03op1 (a GraphDef ROMA does not read)");
    put_fixed(mgd, 9, PB_FIXED32, 42);

    /* serving_default: inputs x, a; outputs y, b_bytes */
    put_tensor_entry(&sig, 1, "x", "x:0", TF_FLOAT, 1, 2, x_dims, 0);
    put_tensor_entry(&sig, 1, "a", "a_in:0", TF_STRING, 1, 0, NULL, 1);
    put_str(&sig, 3, "tensorflow/serving/predict");
    put_tensor_entry(&sig, 2, "y", "out/y:0", TF_INT64, 1, 0, NULL, 0);
    put_tensor_entry(&sig, 2, "b_bytes", "out/b:1", TF_STRING, 1, 1, batch, 0);
    put_signature_entry(mgd, "serving_default", &sig);

    pb_put_uint(mgd, 12, 1); /* an unknown varint between map entries */

    /* classify_x */
    put_str(&sig, 3, "tensorflow/serving/classify");
    put_tensor_entry(&sig, 1, "inputs", "tf_example:0", TF_STRING, 1, 1, batch, 0);
    put_tensor_entry(&sig, 2, "scores", "scores:0", TF_FLOAT, 1, 2, scores_dims, 0);
    put_tensor_entry(&sig, 2, "classes", "classes:0", TF_STRING, 0, 0, NULL, 0);
    put_signature_entry(mgd, "classify_x", &sig);

    /* a_first: no inputs/outputs, no method_name */
    pb_put_uint(&sig, 7, 1); /* unknown field only */
    put_signature_entry(mgd, "a_first", &sig);

    /* image: a 4-D input, last so that truncations cut into it */
    put_str(&sig, 3, "tensorflow/serving/predict");
    put_tensor_entry(&sig, 1, "image_bytes", "img:0", TF_UINT8, 1, 4, img_dims, 0);
    put_signature_entry(mgd, "image", &sig);
}

typedef struct {
    const char *key, *tensor_name;
    TF_DataType dtype;
    int unknown_rank, ndims;
    int64_t dims[4];
} want_tensor;

static void check_tensors(const char *sig, const tfb_tensor_info *got, size_t n,
                          const want_tensor *want, size_t nwant) {
    CASE_CHECK_INT(sig, n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s/%s", sig, want[i].key);
        CASE_CHECK_STR(name, got[i].key, want[i].key);
        CASE_CHECK_STR(name, got[i].tensor_name, want[i].tensor_name);
        CASE_CHECK_INT(name, got[i].dtype, want[i].dtype);
        CASE_CHECK_INT(name, got[i].unknown_rank, want[i].unknown_rank);
        CASE_CHECK_INT(name, got[i].ndims, want[i].ndims);
        for (int d = 0; d < want[i].ndims; d++) CASE_CHECK_INT(name, got[i].dims[d], want[i].dims[d]);
    }
}

static void test_parse_signatures(void **state) {
    roma_buf mgd = ROMA_BUF_INIT;
    build_meta_graph_def(&mgd);
    tfb_signature *sigs = NULL;
    size_t n = 0;
    roma_err err = {{0}};
    roma_code rc = tfb_parse_signatures(mgd.data, mgd.len, &sigs, &n, &err);
    roma_buf_free(&mgd);
    if (rc != ROMA_OK) fail_msg("tfb_parse_signatures: %s", err.msg);

    /* sorted by name */
    assert_int_equal(n, 4);
    assert_string_equal(sigs[0].name, "a_first");
    assert_string_equal(sigs[1].name, "classify_x");
    assert_string_equal(sigs[2].name, "image");
    assert_string_equal(sigs[3].name, "serving_default");

    assert_string_equal(sigs[0].method_name, "");
    assert_int_equal(sigs[0].ninputs, 0);
    assert_int_equal(sigs[0].noutputs, 0);

    assert_string_equal(sigs[1].method_name, "tensorflow/serving/classify");
    static const want_tensor cls_in[] = {{"inputs", "tf_example:0", TF_STRING, 0, 1, {-1}}};
    static const want_tensor cls_out[] = {
        {"classes", "classes:0", TF_STRING, 0, 0, {0}}, /* no tensor_shape field */
        {"scores", "scores:0", TF_FLOAT, 0, 2, {-1, 2}},
    };
    check_tensors("classify_x inputs", sigs[1].inputs, sigs[1].ninputs, cls_in, 1);
    check_tensors("classify_x outputs", sigs[1].outputs, sigs[1].noutputs, cls_out, 2);

    static const want_tensor img_in[] = {{"image_bytes", "img:0", TF_UINT8, 0, 4, {-1, 224, 224, 3}}};
    check_tensors("image inputs", sigs[2].inputs, sigs[2].ninputs, img_in, 1);

    assert_string_equal(sigs[3].method_name, "tensorflow/serving/predict");
    static const want_tensor sd_in[] = {
        {"a", "a_in:0", TF_STRING, 1, 0, {0}},
        {"x", "x:0", TF_FLOAT, 0, 2, {-1, 3}},
    };
    static const want_tensor sd_out[] = {
        {"b_bytes", "out/b:1", TF_STRING, 0, 1, {-1}},
        {"y", "out/y:0", TF_INT64, 0, 0, {0}},
    };
    check_tensors("serving_default inputs", sigs[3].inputs, sigs[3].ninputs, sd_in, 2);
    check_tensors("serving_default outputs", sigs[3].outputs, sigs[3].noutputs, sd_out, 2);

    /* tfb_find_tensor over the sorted arrays */
    assert_int_equal(tfb_find_tensor(sigs[3].inputs, sigs[3].ninputs, "x"), 1);
    assert_int_equal(tfb_find_tensor(sigs[3].inputs, sigs[3].ninputs, "a"), 0);
    assert_int_equal(tfb_find_tensor(sigs[3].inputs, sigs[3].ninputs, "zz"), -1);
    assert_string_equal(tfb_dtype_name(sigs[3].outputs[1].dtype), "DT_INT64");
    tfb_signatures_free(sigs, n);
}

/* tfb_parse_signatures leaves inputs NULL for a signature without inputs;
 * tfb_find_tensor over it must answer -1.  (It passes the NULL array to
 * bsearch, whose pointer must be valid even for zero elements, C11 7.22.5;
 * the UBSan build aborts, hence the child process.) */
static int find_in_empty_signature(void *arg) {
    const tfb_signature *sig = arg;
    return tfb_find_tensor(sig->inputs, sig->ninputs, "x") == -1 &&
                   tfb_find_tensor(sig->outputs, sig->noutputs, "scores") == -1
               ? 0
               : 3;
}

static void test_find_tensor_in_signature_without_tensors(void **state) {
    roma_buf mgd = ROMA_BUF_INIT, sig = ROMA_BUF_INIT;
    put_str(&sig, 3, "tensorflow/serving/predict");
    put_signature_entry(&mgd, "empty", &sig);
    tfb_signature *sigs = NULL;
    size_t n = 0;
    roma_err err = {{0}};
    assert_int_equal(tfb_parse_signatures(mgd.data, mgd.len, &sigs, &n, &err), ROMA_OK);
    roma_buf_free(&mgd);
    assert_int_equal(n, 1);
    assert_int_equal(sigs[0].ninputs, 0);
    int status = run_in_child(find_in_empty_signature, &sigs[0]);
    tfb_signatures_free(sigs, n);
    if (status != 0)
        fail_msg("tfb_find_tensor on a signature without tensors: child exited with %d "
                 "(3: wrong answer; 1 or 134: sanitizer abort)",
                 status);
}

static void test_parse_signatures_empty(void **state) {
    tfb_signature *sigs = (tfb_signature *)1;
    size_t n = 99;
    roma_err err = {{0}};
    assert_int_equal(tfb_parse_signatures("", 0, &sigs, &n, &err), ROMA_OK);
    assert_int_equal(n, 0);
    tfb_signatures_free(sigs, n);
}

static void test_parse_signatures_malformed(void **state) {
    roma_buf full = ROMA_BUF_INIT;
    build_meta_graph_def(&full);

    /* a SignatureDef whose inputs entry claims more bytes than it has */
    roma_buf bad_sig = ROMA_BUF_INIT, bad_mgd = ROMA_BUF_INIT;
    static const uint8_t short_entry[] = {0x0a, 0x05, 'x'};
    roma_buf_append(&bad_sig, short_entry, sizeof(short_entry));
    put_signature_entry(&bad_mgd, "bad", &bad_sig);

    /* a TensorShapeProto with a group wire type */
    roma_buf bad_shape_mgd = ROMA_BUF_INIT, sig = ROMA_BUF_INIT, info = ROMA_BUF_INIT,
             entry = ROMA_BUF_INIT;
    static const uint8_t bad_shape[] = {0x13};
    put_str(&info, 1, "x:0");
    pb_put_bytes(&info, 3, bad_shape, sizeof(bad_shape));
    put_str(&entry, 1, "x");
    put_msg(&entry, 2, &info);
    put_msg(&sig, 1, &entry);
    put_signature_entry(&bad_shape_mgd, "bad_shape", &sig);

    static const uint8_t group[] = {0x0b, 0x2a, 0x01, 0x02};
    const struct {
        const char *name;
        const void *data;
        size_t len;
    } cases[] = {
        {"last byte cut off", full.data, full.len - 1},
        {"cut inside the last signature's length", full.data, full.len - 20},
        {"top-level group", group, sizeof(group)},
        {"inputs entry longer than its SignatureDef", bad_mgd.data, bad_mgd.len},
        {"bad wire type inside a TensorShapeProto", bad_shape_mgd.data, bad_shape_mgd.len},
        {"a single continuation byte", "\x80", 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        tfb_signature *sigs = NULL;
        size_t n = 0;
        roma_err err = {{0}};
        roma_code rc = tfb_parse_signatures(cases[i].data, cases[i].len, &sigs, &n, &err);
        if (rc == ROMA_OK) tfb_signatures_free(sigs, n);
        CASE_CHECK(cases[i].name, rc != ROMA_OK);
        check_message(cases[i].name, err.msg);
    }

    /* Every truncation either parses (it ended on a field boundary, with
     * fewer signatures) or fails cleanly: no crash, no leak under ASan. */
    for (size_t len = 0; len < full.len; len++) {
        tfb_signature *sigs = NULL;
        size_t n = 0;
        roma_err err = {{0}};
        char name[64];
        snprintf(name, sizeof(name), "truncated to %zu bytes", len);
        roma_code rc = tfb_parse_signatures(full.data, len, &sigs, &n, &err);
        if (rc == ROMA_OK) {
            CASE_CHECK(name, n < 4);
            tfb_signatures_free(sigs, n);
        } else {
            check_message(name, err.msg);
        }
    }
    roma_buf_free(&full);
    roma_buf_free(&bad_mgd);
    roma_buf_free(&bad_shape_mgd);
}

/* ---- ex_serialize, decoded with the pb reader -------------------------- */

enum { K_BYTES = 1, K_FLOAT = 2, K_INT64 = 3 };

typedef struct {
    char name[32];
    int kind;
    size_t n;
    int64_t i[8];
    float f[8];
    char s[8][16];
    size_t slen[8];
} feature;

/* Decodes a tf.Example into feats (packed or unpacked lists); returns the
 * number of feature entries. */
static size_t decode_example(const void *data, size_t len, feature *feats, size_t cap) {
    pb_reader ex, fs;
    pb_field f, g;
    size_t n = 0;
    pb_reader_init(&ex, data, len);
    while (pb_next(&ex, &f)) {
        assert_int_equal(f.field, 1); /* Example.features */
        fs = pb_sub(&f);
        while (pb_next(&fs, &g)) {
            assert_int_equal(g.field, 1); /* Features.feature map entry */
            assert_true(n < cap);
            feature *ft = &feats[n++];
            memset(ft, 0, sizeof(*ft));
            pb_reader entry = pb_sub(&g);
            pb_field e;
            while (pb_next(&entry, &e)) {
                if (e.field == 1) {
                    assert_true(e.len < sizeof(ft->name));
                    memcpy(ft->name, e.bytes, e.len);
                    continue;
                }
                assert_int_equal(e.field, 2);
                pb_reader feat = pb_sub(&e);
                pb_field k;
                while (pb_next(&feat, &k)) { /* the kind: bytes/float/int64 list */
                    ft->kind = k.field;
                    pb_reader list = pb_sub(&k);
                    pb_field v;
                    while (pb_next(&list, &v)) {
                        assert_int_equal(v.field, 1);
                        if (ft->kind == K_BYTES) {
                            assert_true(v.len < sizeof(ft->s[0]) && ft->n < 8);
                            memcpy(ft->s[ft->n], v.bytes, v.len);
                            ft->slen[ft->n++] = v.len;
                        } else if (v.wire == PB_BYTES) { /* packed */
                            pb_reader packed = pb_sub(&v);
                            if (ft->kind == K_FLOAT) {
                                assert_int_equal(v.len % 4, 0);
                                for (size_t q = 0; q < v.len; q += 4) {
                                    uint32_t bits = 0;
                                    for (int b = 0; b < 4; b++)
                                        bits |= (uint32_t)v.bytes[q + b] << (8 * b);
                                    memcpy(&ft->f[ft->n++], &bits, 4);
                                }
                            } else {
                                /* a packed run of varints: read them as keyless values */
                                const uint8_t *p = packed.p;
                                while (p < packed.end) {
                                    uint64_t x = 0;
                                    int shift = 0;
                                    while (*p & 0x80) x |= (uint64_t)(*p++ & 0x7f) << shift, shift += 7;
                                    x |= (uint64_t)(*p++) << shift;
                                    ft->i[ft->n++] = (int64_t)x;
                                }
                            }
                        } else if (v.wire == PB_FIXED32) {
                            uint32_t bits = (uint32_t)v.u;
                            memcpy(&ft->f[ft->n++], &bits, 4);
                        } else {
                            ft->i[ft->n++] = (int64_t)v.u;
                        }
                    }
                    assert_int_equal(list.error, 0);
                }
                assert_int_equal(feat.error, 0);
            }
            assert_int_equal(entry.error, 0);
        }
        assert_int_equal(fs.error, 0);
    }
    assert_int_equal(ex.error, 0);
    return n;
}

/* The last entry for name (a later entry wins when merged). */
static const feature *find_feature(const feature *feats, size_t n, const char *name) {
    const feature *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(feats[i].name, name) == 0) found = &feats[i];
    if (!found) fail_msg("feature '%s' not in the example", name);
    return found;
}

static roma_buf serialize(const char *json_text) {
    json_error_t e;
    json_t *obj = json_loads(json_text, JSON_DECODE_ANY, &e);
    if (!obj) fail_msg("bad test JSON %s: %s", json_text, e.text);
    roma_buf out = ROMA_BUF_INIT;
    roma_err err = {{0}};
    roma_code rc = ex_serialize(obj, &out, &err);
    json_decref(obj);
    if (rc != ROMA_OK) fail_msg("ex_serialize(%s): %s", json_text, err.msg);
    return out;
}

static void test_example_serialize_basic(void **state) {
    roma_buf out = serialize("{\"a\": 1, \"b\": 2.5, \"c\": \"s\", \"d\": [1, 2]}");
    feature feats[8];
    size_t n = decode_example(out.data, out.len, feats, 8);
    roma_buf_free(&out);
    assert_int_equal(n, 4);
    const feature *a = find_feature(feats, n, "a"), *b = find_feature(feats, n, "b"),
                  *c = find_feature(feats, n, "c"), *d = find_feature(feats, n, "d");
    assert_int_equal(a->kind, K_INT64);
    assert_int_equal(a->n, 1);
    assert_int_equal(a->i[0], 1);
    assert_int_equal(b->kind, K_FLOAT);
    assert_int_equal(b->n, 1);
    assert_true(b->f[0] == 2.5f);
    assert_int_equal(c->kind, K_BYTES);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->slen[0], 1);
    assert_memory_equal(c->s[0], "s", 1);
    assert_int_equal(d->kind, K_INT64);
    assert_int_equal(d->n, 2);
    assert_true(d->i[0] == 1 && d->i[1] == 2);
}

static void test_example_serialize_feature_kinds(void **state) {
    static const struct {
        const char *name, *json;
        int kind;
        size_t n;
        int64_t i[3];
        float f[3];
        const char *s[3];
        size_t slen[3];
    } cases[] = {
        {"negative int64", "{\"v\": -5}", K_INT64, 1, {-5}},
        {"large int64", "{\"v\": [9007199254740993, -9223372036854775808]}", K_INT64, 2,
         {9007199254740993LL, INT64_MIN}},
        {"float list", "{\"v\": [1.5, -0.25, 1e-3]}", K_FLOAT, 3, {0}, {1.5f, -0.25f, 1e-3f}},
        {"bytes list", "{\"v\": [\"x\", \"yz\", \"\"]}", K_BYTES, 3, {0}, {0}, {"x", "yz", ""},
         {1, 2, 0}},
        {"b64 value", "{\"v\": {\"b64\": \"AAE=\"}}", K_BYTES, 1, {0}, {0}, {"\x00\x01"}, {2}},
        {"b64 and plain strings", "{\"v\": [{\"b64\": \"aGk=\"}, \"plain\"]}", K_BYTES, 2, {0},
         {0}, {"hi", "plain"}, {2, 5}},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_buf out = serialize(cases[i].json);
        feature feats[2];
        size_t n = decode_example(out.data, out.len, feats, 2);
        roma_buf_free(&out);
        CASE_CHECK_INT(cases[i].name, n, 1);
        const feature *v = &feats[0];
        CASE_CHECK_STR(cases[i].name, v->name, "v");
        CASE_CHECK_INT(cases[i].name, v->kind, cases[i].kind);
        CASE_CHECK_INT(cases[i].name, v->n, cases[i].n);
        for (size_t k = 0; k < cases[i].n && k < v->n; k++) {
            if (cases[i].kind == K_INT64) CASE_CHECK_INT(cases[i].name, v->i[k], cases[i].i[k]);
            if (cases[i].kind == K_FLOAT) CASE_CHECK(cases[i].name, v->f[k] == cases[i].f[k]);
            if (cases[i].kind == K_BYTES) {
                CASE_CHECK_INT(cases[i].name, v->slen[k], cases[i].slen[k]);
                CASE_CHECK(cases[i].name, memcmp(v->s[k], cases[i].s[k], v->slen[k]) == 0);
            }
        }
    }
}

static void test_example_serialize_empty_object(void **state) {
    roma_buf out = serialize("{}");
    feature feats[1];
    assert_int_equal(decode_example(out.data, out.len, feats, 1), 0);
    roma_buf_free(&out);
}

static void test_example_serialize_errors(void **state) {
    static const struct {
        const char *name, *json, *mentions;
    } cases[] = {
        {"null feature", "{\"x\": null}", "x"},
        {"nested list", "{\"x\": [[1]]}", "x"},
        {"object feature", "{\"x\": {\"a\": 1}}", "x"},
        {"strings mixed with numbers", "{\"x\": [1, \"s\"]}", "x"},
        {"null inside a list", "{\"x\": [\"s\", null]}", "x"},
        {"invalid base64", "{\"x\": {\"b64\": \"!!\"}}", NULL},
        {"list instead of an object", "[1]", NULL},
        {"string instead of an object", "\"s\"", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_error_t e;
        json_t *obj = json_loads(cases[i].json, JSON_DECODE_ANY, &e);
        assert_non_null(obj);
        roma_buf out = ROMA_BUF_INIT;
        roma_err err = {{0}};
        roma_code rc = ex_serialize(obj, &out, &err);
        json_decref(obj);
        roma_buf_free(&out);
        CASE_CHECK_INT(cases[i].name, rc, ROMA_INVALID_ARGUMENT);
        check_message(cases[i].name, err.msg);
        check_contains(cases[i].name, err.msg, cases[i].mentions);
    }
}

/* TF Serving (util/json_tensor.cc, AddValueToFeature) writes JSON true/false
 * as int64 1/0 (tests/http/TFSERVING_BEHAVIOUR.md: "JSON integer/bool ->
 * int64_list"). */
static void test_example_bool_feature_is_int64_like_tfserving(void **state) {
    json_error_t e;
    json_t *obj = json_loads("{\"flag\": true, \"flags\": [true, false]}", 0, &e);
    assert_non_null(obj);
    roma_buf out = ROMA_BUF_INIT;
    roma_err err = {{0}};
    roma_code rc = ex_serialize(obj, &out, &err);
    json_decref(obj);
    if (rc != ROMA_OK) {
        roma_buf_free(&out);
        fail_msg("ex_serialize rejected boolean features: %s", err.msg);
    }
    feature feats[2];
    size_t n = decode_example(out.data, out.len, feats, 2);
    roma_buf_free(&out);
    assert_int_equal(n, 2);
    const feature *flag = find_feature(feats, n, "flag"), *flags = find_feature(feats, n, "flags");
    assert_int_equal(flag->kind, K_INT64);
    assert_true(flag->n == 1 && flag->i[0] == 1);
    assert_int_equal(flags->kind, K_INT64);
    assert_true(flags->n == 2 && flags->i[0] == 1 && flags->i[1] == 0);
}

static void test_example_request_tensor_merges_context(void **state) {
    json_error_t e;
    json_t *root = json_loads("{\"context\": {\"c\": 1, \"shared\": \"s\"},"
                              " \"examples\": [{\"a\": 2.5}, {\"c\": 3}]}",
                              0, &e);
    assert_non_null(root);
    TF_Tensor *t = NULL;
    roma_err err = {{0}};
    roma_code rc = ex_request_tensor(root, &t, &err);
    json_decref(root);
    if (rc != ROMA_OK) fail_msg("ex_request_tensor: %s", err.msg);
    assert_int_equal(TF_TensorType(t), TF_STRING);
    assert_int_equal(TF_NumDims(t), 1);
    assert_int_equal(TF_Dim(t, 0), 2);
    const TF_TString *s = TF_TensorData(t);
    feature feats[8];
    size_t n = decode_example(TF_StringGetDataPointer(&s[0]), TF_StringGetSize(&s[0]), feats, 8);
    assert_int_equal(find_feature(feats, n, "c")->i[0], 1);
    assert_true(find_feature(feats, n, "a")->f[0] == 2.5f);
    assert_memory_equal(find_feature(feats, n, "shared")->s[0], "s", 1);
    n = decode_example(TF_StringGetDataPointer(&s[1]), TF_StringGetSize(&s[1]), feats, 8);
    assert_int_equal(find_feature(feats, n, "c")->i[0], 3); /* the example's own value wins */
    jt_tensors_free(&t, 1);

    static const char *bad[] = {"{}", "{\"examples\": []}", "{\"examples\": {\"a\": 1}}",
                                "{\"examples\": [1]}", "{\"context\": 1, \"examples\": [{}]}"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        root = json_loads(bad[i], 0, &e);
        assert_non_null(root);
        t = NULL;
        rc = ex_request_tensor(root, &t, &err);
        json_decref(root);
        if (rc == ROMA_OK) jt_tensors_free(&t, 1);
        CASE_CHECK_INT(bad[i], rc, ROMA_INVALID_ARGUMENT);
        check_message(bad[i], err.msg);
    }
}

/* ---- base64 ------------------------------------------------------------ */

static void test_b64_rfc4648_vectors(void **state) {
    static const struct {
        const char *plain, *encoded;
    } cases[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char name[32];
        snprintf(name, sizeof(name), "\"%s\"", cases[i].plain);
        roma_buf enc = ROMA_BUF_INIT, dec = ROMA_BUF_INIT;
        roma_b64_encode(&enc, cases[i].plain, strlen(cases[i].plain));
        CASE_CHECK_INT(name, enc.len, strlen(cases[i].encoded));
        CASE_CHECK(name, enc.len == 0 || memcmp(enc.data, cases[i].encoded, enc.len) == 0);
        CASE_CHECK_INT(name, roma_b64_decode(&dec, cases[i].encoded, strlen(cases[i].encoded)), 0);
        CASE_CHECK_INT(name, dec.len, strlen(cases[i].plain));
        CASE_CHECK(name, dec.len == 0 || memcmp(dec.data, cases[i].plain, dec.len) == 0);
        roma_buf_free(&enc);
        roma_buf_free(&dec);
    }
}

/* buf.h: "the buffer always keeps a NUL after its data so it can be used as
 * a C string" (data is NULL until the first append).  Encoding or decoding
 * nothing into a fresh buffer must leave it NULL or "" - not an allocated,
 * unterminated block (roma_buf_reserve allocates without writing the NUL). */
static void test_b64_empty_input_leaves_a_c_string(void **state) {
    roma_buf enc = ROMA_BUF_INIT, dec = ROMA_BUF_INIT, res = ROMA_BUF_INIT;
    roma_b64_encode(&enc, "", 0);
    int dec_rc = roma_b64_decode(&dec, "", 0);
    roma_buf_reserve(&res, 16); /* the root cause, on its own */
    int enc_ok = enc.len == 0 && (enc.data == NULL || enc.data[0] == '\0');
    int dec_ok = dec_rc == 0 && dec.len == 0 && (dec.data == NULL || dec.data[0] == '\0');
    int res_ok = res.data == NULL || res.data[res.len] == '\0';
    roma_buf_free(&enc);
    roma_buf_free(&dec);
    roma_buf_free(&res);
    if (!enc_ok) fail_msg("roma_b64_encode of \"\" into a fresh buffer: data not NUL-terminated");
    if (!dec_ok) fail_msg("roma_b64_decode of \"\" into a fresh buffer: data not NUL-terminated");
    if (!res_ok) fail_msg("roma_buf_reserve on a fresh buffer: data not NUL-terminated");
}

static void test_b64_every_byte_round_trip(void **state) {
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(all); len++) {
        roma_buf enc = ROMA_BUF_INIT, dec = ROMA_BUF_INIT;
        char name[32];
        snprintf(name, sizeof(name), "%zu bytes", len);
        roma_b64_encode(&enc, all, len);
        CASE_CHECK_INT(name, enc.len, (len + 2) / 3 * 4);
        CASE_CHECK_INT(name, roma_b64_decode(&dec, enc.data ? enc.data : "", enc.len), 0);
        CASE_CHECK_INT(name, dec.len, len);
        CASE_CHECK(name, len == 0 || memcmp(dec.data, all, len) == 0);
        roma_buf_free(&enc);
        roma_buf_free(&dec);
    }
}

static void test_b64_decode_lenient_forms(void **state) {
    static const struct {
        const char *name, *text;
        size_t n;
        const char *bytes;
    } cases[] = {
        {"missing padding (2)", "Zg", 1, "f"},
        {"missing padding (1)", "Zm8", 2, "fo"},
        {"url-safe letters", "-_8", 2, "\xfb\xff"},
        {"standard letters", "+/8=", 2, "\xfb\xff"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_buf dec = ROMA_BUF_INIT;
        CASE_CHECK_INT(cases[i].name, roma_b64_decode(&dec, cases[i].text, strlen(cases[i].text)), 0);
        CASE_CHECK_INT(cases[i].name, dec.len, cases[i].n);
        CASE_CHECK(cases[i].name, memcmp(dec.data, cases[i].bytes, cases[i].n) == 0);
        roma_buf_free(&dec);
    }
}

static void test_b64_decode_invalid(void **state) {
    static const char *cases[] = {
        "Z",        /* one sextet cannot make a byte */
        "Zm9vY",    /* 5 characters: 4n+1 */
        "Zm9v!",    /* not in the alphabet */
        "Zm 9v",    /* space */
        "Zg=a",     /* padding in the middle */
        "Zm9v\n",   /* newline */
        "\xc3\xa9", /* non-ASCII */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        roma_buf dec = ROMA_BUF_INIT;
        CASE_CHECK_INT(cases[i], roma_b64_decode(&dec, cases[i], strlen(cases[i])), -1);
        roma_buf_free(&dec);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_encodings_and_round_trip),
        cmocka_unit_test(test_message_round_trip),
        cmocka_unit_test(test_nested_messages),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_truncated_and_malformed_input),
        cmocka_unit_test(test_malformed_sub_message_leaves_outer_reader_ok),
        cmocka_unit_test(test_parse_signatures),
        cmocka_unit_test(test_parse_signatures_empty),
        cmocka_unit_test(test_find_tensor_in_signature_without_tensors),
        cmocka_unit_test(test_parse_signatures_malformed),
        cmocka_unit_test(test_example_serialize_basic),
        cmocka_unit_test(test_example_serialize_feature_kinds),
        cmocka_unit_test(test_example_serialize_empty_object),
        cmocka_unit_test(test_example_serialize_errors),
        cmocka_unit_test(test_example_bool_feature_is_int64_like_tfserving),
        cmocka_unit_test(test_example_request_tensor_merges_context),
        cmocka_unit_test(test_b64_rfc4648_vectors),
        cmocka_unit_test(test_b64_empty_input_leaves_a_c_string),
        cmocka_unit_test(test_b64_every_byte_round_trip),
        cmocka_unit_test(test_b64_decode_lenient_forms),
        cmocka_unit_test(test_b64_decode_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_json_fast.c - the fast numeric path (src/worker/json_fast.h)
 * against the general jansson path (src/worker/json_tensor.h), for every
 * numeric dtype: whenever the fast path takes a body and says its numbers
 * fit the dtype, the general path must accept the body too and build a
 * byte-identical tensor (dtype, shape, bytes) with the same format and
 * signature name; a body the fast path declines is the general path's to
 * decide.  And the body parsed on two threads, cut where the input's last
 * bytes say, is either not joined or exactly what one thread gives. */
#include "tensor_util.h"

#include "worker/json_fast.h"

static jf_helper *helper;

static int same_request(const jf_request *a, const jf_request *b) {
    if (a->format != b->format || a->count != b->count || a->ndims != b->ndims ||
        a->integers_only != b->integers_only || a->big_integers != b->big_integers ||
        a->beyond_float != b->beyond_float)
        return 0;
    for (int d = 0; d < a->ndims; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    if ((a->signature_name == NULL) != (b->signature_name == NULL)) return 0;
    if (a->signature_name && strcmp(a->signature_name, b->signature_name) != 0) return 0;
    if ((a->floats == NULL) != (b->floats == NULL)) return 0;
    if (a->count == 0) return 1;
    return a->floats ? memcmp(a->floats, b->floats, a->count * sizeof(float)) == 0
                     : memcmp(a->values, b->values, a->count * sizeof(double)) == 0;
}

/* The general path's tensor, or NULL when it refuses the body. */
static TF_Tensor *general_tensor(const char *body, size_t len, TF_DataType dtype,
                                 jt_format *format, char **signature) {
    tfb_tensor_info in = {.key = "x", .dtype = dtype};
    tfb_signature sig = {.name = "serving_default", .ninputs = 1, .inputs = &in};
    json_t *root;
    roma_err err;
    const char *name;
    TF_Tensor *t[1] = {NULL};
    if (jt_parse_body(body, len, &root, &err) != ROMA_OK) return NULL;
    if (jt_signature_name(root, &name, &err) == ROMA_OK &&
        jt_predict_inputs(root, &sig, t, format, &err) == ROMA_OK)
        *signature = strdup(name);
    json_decref(root);
    return t[0];
}

static void check_dtype(const char *body, size_t len, TF_DataType dtype, size_t cut) {
    jf_request req, split;
    if (!jf_parse(body, len, dtype, NULL, &req)) return;
    const char *dname = tfb_dtype_name(dtype);
    if (jf_parse_split(body, len, dtype, helper, cut, 0, &split)) {
        FUZZ_CHECK(same_request(&req, &split), "%s: cut after byte %zu differs", dname, cut);
        jf_free(&split);
    }
    if (jf_fits(&req, dtype)) {
        jt_format format = JT_ROW;
        char *signature = NULL;
        TF_Tensor *general = general_tensor(body, len, dtype, &format, &signature);
        FUZZ_CHECK(general != NULL, "%s: the fast path takes a body the general path refuses",
                   dname);
        FUZZ_CHECK(format == req.format, "%s: format %d vs %d", dname, req.format, format);
        FUZZ_CHECK(strcmp(signature, req.signature_name ? req.signature_name : "serving_default")
                       == 0, "%s: signature '%s' vs '%s'", dname, req.signature_name, signature);
        TF_Tensor *fast = jf_to_tensor(&req, dtype);
        FUZZ_CHECK(fuzz_same_tensor(fast, general, 1), "%s: tensors differ", dname);
        jt_tensors_free(&fast, 1);
        jt_tensors_free(&general, 1);
        free(signature);
    }
    jf_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!helper) helper = jf_helper_start(1);
    char *body = fuzz_text(data, size);
    size_t cut = size ? (data[size - 1] * 257u + size / 2) % size : 0;
    for (size_t i = 0; i < FUZZ_NDTYPES; i++)
        if (fuzz_dtypes[i] != TF_STRING && fuzz_dtypes[i] != TF_BOOL)
            check_dtype(body, size, fuzz_dtypes[i], cut);
    free(body);
    return 0;
}

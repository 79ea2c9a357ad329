/* fuzz_example.c - the Classify/Regress requests (src/worker/example.h):
 * any body builds the batch of serialized tf.Example records or is
 * refused with a message; each record built is a well-formed protobuf
 * Example (features = 1: Features, whose feature = 1 entries are map
 * entries of a key = 1 and a Feature = 2), read back with the pb reader. */
#include "fuzz.h"

#include "tf/proto.h"
#include "worker/example.h"
#include "worker/json_tensor.h"

static void check_example(const char *p, size_t n) {
    pb_reader r;
    pb_field f, g;
    pb_reader_init(&r, p, n);
    while (pb_next(&r, &f)) {
        FUZZ_CHECK(f.field == 1 && f.wire == PB_BYTES, "Example: field %d", f.field);
        pb_reader features = pb_sub(&f);
        while (pb_next(&features, &g)) {
            FUZZ_CHECK(g.field == 1 && g.wire == PB_BYTES, "Features: field %d", g.field);
            pb_reader entry = pb_sub(&g);
            pb_field e;
            while (pb_next(&entry, &e))
                FUZZ_CHECK((e.field == 1 || e.field == 2) && e.wire == PB_BYTES, "entry: field %d",
                           e.field);
            FUZZ_CHECK(entry.error == 0, "map entry malformed");
        }
        FUZZ_CHECK(features.error == 0, "Features malformed");
    }
    FUZZ_CHECK(r.error == 0, "Example malformed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = fuzz_text(data, size);
    json_t *root;
    roma_err err;
    TF_Tensor *t = NULL;
    err.msg[0] = '\0';
    if (jt_parse_body(body, size, &root, &err) != ROMA_OK) {
        free(body);
        return 0;
    }
    if (ex_request_tensor(root, &t, &err) == ROMA_OK) {
        FUZZ_CHECK(TF_TensorType(t) == TF_STRING && TF_NumDims(t) == 1, "not a 1-D string tensor");
        const TF_TString *s = TF_TensorData(t);
        for (int64_t i = 0; i < TF_Dim(t, 0); i++)
            check_example(TF_StringGetDataPointer(&s[i]), TF_StringGetSize(&s[i]));
        jt_tensors_free(&t, 1);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    }
    /* Each example on its own, as ex_serialize is called. */
    const json_t *examples = json_object_get(root, "examples");
    for (size_t i = 0; i < json_array_size(examples) && i < 8; i++) {
        roma_buf out = ROMA_BUF_INIT;
        if (ex_serialize(json_array_get(examples, i), &out, &err) == ROMA_OK)
            check_example(out.data, out.len);
        roma_buf_free(&out);
    }
    json_decref(root);
    free(body);
    return 0;
}

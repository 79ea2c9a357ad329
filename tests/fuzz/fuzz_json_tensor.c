/* fuzz_json_tensor.c - TF Serving's JSON tensors (src/worker/json_tensor.h):
 * any predict body, for signatures whose inputs are named as the body
 * names them and take every dtype json_tensor converts, builds tensors or
 * is refused with a message; and every tensor built, written back as JSON
 * (jt_write_tensor, strings as b64) and read again, is the same tensor
 * (tensor -> JSON -> tensor). */
#include "tensor_util.h"

#define MAX_INPUTS 4

/* Input names: the keys of the first named-input object in the body
 * ("inputs": {...} or "instances": [{...}]), else one input "x". */
static size_t input_names(const json_t *root, const char **names) {
    const json_t *named = json_object_get(root, "inputs");
    if (!json_is_object(named)) named = json_array_get(json_object_get(root, "instances"), 0);
    size_t n = 0;
    const char *key;
    json_t *value;
    if (json_is_object(named))
        json_object_foreach((json_t *)named, key, value) {
            if (n == MAX_INPUTS) break;
            names[n++] = key;
        }
    if (n == 0) names[n++] = "x";
    for (size_t i = 1; i < n; i++) /* a signature's inputs are sorted by key */
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            const char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    return n;
}

static void check_round_trip(const TF_Tensor *t) {
    roma_buf text = ROMA_BUF_INIT;
    json_t *root = NULL;
    roma_err err;
    TF_Tensor *back = NULL;
    roma_buf_puts(&text, "{\"v\": "); /* a body is an object; a tensor may be a scalar */
    jt_write_tensor(&text, t, 1);
    roma_buf_putc(&text, '}');
    FUZZ_CHECK(jt_parse_body(text.data, text.len, &root, &err) == ROMA_OK,
               "own JSON refused: %s: %.200s", err.msg, text.data);
    const json_t *values[1] = {json_object_get(root, "v")};
    FUZZ_CHECK(jt_values_to_tensor(values, 1, 0, TF_TensorType(t), &back, &err) == ROMA_OK,
               "own JSON refused as %s: %s: %.200s", tfb_dtype_name(TF_TensorType(t)), err.msg,
               text.data);
    FUZZ_CHECK(fuzz_same_tensor(t, back, 0), "%s tensor changed through JSON: %.200s",
               tfb_dtype_name(TF_TensorType(t)), text.data);
    jt_tensors_free(&back, 1);
    json_decref(root);
    roma_buf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = fuzz_text(data, size);
    json_t *root;
    roma_err err;
    err.msg[0] = '\0';
    if (jt_parse_body(body, size, &root, &err) != ROMA_OK) {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
        free(body);
        return 0;
    }
    const char *names[MAX_INPUTS];
    size_t n = input_names(root, names);
    tfb_tensor_info inputs[MAX_INPUTS];
    for (size_t trial = 0; trial < FUZZ_NDTYPES; trial++) {
        memset(inputs, 0, sizeof(inputs));
        for (size_t i = 0; i < n; i++) {
            inputs[i].key = (char *)names[i];
            inputs[i].dtype = fuzz_dtypes[(trial + i) % FUZZ_NDTYPES];
        }
        tfb_signature sig = {.name = "serving_default", .ninputs = n, .inputs = inputs};
        TF_Tensor *t[MAX_INPUTS] = {0};
        jt_format format;
        err.msg[0] = '\0';
        if (jt_predict_inputs(root, &sig, t, &format, &err) == ROMA_OK) {
            for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(t[i] != NULL, "input %zu missing", i);
                check_round_trip(t[i]);
            }
            jt_tensors_free(t, n);
        } else {
            FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
        }
    }
    json_decref(root);
    free(body);
    return 0;
}

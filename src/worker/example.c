/* example.c - see example.h.
 *
 * tf.Example on the wire (example.proto, feature.proto):
 *   Example { Features features = 1 }
 *   Features { map<string, Feature> feature = 1 }
 *   Feature { BytesList bytes_list = 1 | FloatList float_list = 2 |
 *             Int64List int64_list = 3 }, each { repeated value = 1 }
 * Merging two serialized messages is concatenation, so context features are
 * written first and the example's own after them (its values win).
 */
#include "example.h"

#include <stdlib.h>
#include <string.h>

#include "../common/b64.h"
#include "../tf/proto.h"
#include "json_tensor.h"

enum { KIND_NONE, KIND_BYTES = 1, KIND_FLOAT = 2, KIND_INT64 = 3 };

static int leaf_kind(const json_t *v) {
    if (json_is_integer(v) || json_is_boolean(v)) return KIND_INT64; /* true: 1 */
    if (json_is_real(v)) return KIND_FLOAT;
    if (json_is_string(v)) return KIND_BYTES;
    if (json_is_object(v) && json_is_string(json_object_get(v, "b64"))) return KIND_BYTES;
    return KIND_NONE;
}

/* The list kind of a feature value: float wins over int64 when mixed. */
static int feature_kind(const json_t *v) {
    if (!json_is_array(v)) return leaf_kind(v);
    int kind = KIND_NONE;
    for (size_t i = 0; i < json_array_size(v); i++) {
        int k = leaf_kind(json_array_get(v, i));
        if (k == KIND_NONE) return KIND_NONE;
        if (kind == KIND_NONE || (kind == KIND_INT64 && k == KIND_FLOAT)) kind = k;
        else if (kind != k && !(kind == KIND_FLOAT && k == KIND_INT64)) return -1;
    }
    return kind == KIND_NONE ? KIND_FLOAT : kind; /* [] is an empty float_list */
}

static roma_code put_value(roma_buf *list, int kind, const json_t *v, roma_err *err) {
    if (kind == KIND_INT64) {
        long long x = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
        return pb_put_varint(list, (uint64_t)x), ROMA_OK;
    }
    if (kind == KIND_FLOAT) {
        float f = (float)json_number_value(v);
        uint8_t le[4];
        uint32_t bits;
        memcpy(&bits, &f, 4);
        for (int i = 0; i < 4; i++) le[i] = (uint8_t)(bits >> (8 * i));
        return roma_buf_append(list, le, 4), ROMA_OK;
    }
    if (json_is_string(v)) return pb_put_bytes(list, 1, json_string_value(v), json_string_length(v)), ROMA_OK;
    const json_t *text = json_object_get(v, "b64");
    roma_buf bytes = ROMA_BUF_INIT;
    roma_code rc = ROMA_OK;
    if (roma_b64_decode(&bytes, json_string_value(text), json_string_length(text)) != 0)
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "feature value {\"b64\": ...} is not base64");
    else pb_put_bytes(list, 1, bytes.data ? bytes.data : "", bytes.len);
    roma_buf_free(&bytes);
    return rc;
}

static roma_code put_feature(roma_buf *features, const char *name, const json_t *v,
                             roma_err *err) {
    int kind = feature_kind(v);
    if (kind <= KIND_NONE)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "feature '%s' must be a number, a string, {\"b64\": ...} or a list "
                         "of one of those kinds",
                         name);
    roma_buf values = ROMA_BUF_INIT, list = ROMA_BUF_INIT, feature = ROMA_BUF_INIT,
             entry = ROMA_BUF_INIT;
    roma_code rc = ROMA_OK;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n && rc == ROMA_OK; i++)
        rc = put_value(&values, kind, json_is_array(v) ? json_array_get(v, i) : v, err);
    if (kind == KIND_BYTES) roma_buf_append(&list, values.data, values.len);
    else if (values.len) pb_put_bytes(&list, 1, values.data, values.len); /* packed */
    pb_put_bytes(&feature, kind, list.data, list.len);
    pb_put_bytes(&entry, 1, name, strlen(name));
    pb_put_bytes(&entry, 2, feature.data, feature.len);
    pb_put_bytes(features, 1, entry.data, entry.len);
    roma_buf_free(&values);
    roma_buf_free(&list);
    roma_buf_free(&feature);
    roma_buf_free(&entry);
    return rc;
}

roma_code ex_serialize(const json_t *obj, roma_buf *out, roma_err *err) {
    const char *name;
    const json_t *v;
    roma_buf features = ROMA_BUF_INIT;
    roma_code rc = ROMA_OK;
    if (!json_is_object(obj))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "each example must be a JSON object of features");
    json_object_foreach((json_t *)obj, name, v) {
        if ((rc = put_feature(&features, name, v, err)) != ROMA_OK) break;
    }
    if (rc == ROMA_OK) pb_put_bytes(out, 1, features.data, features.len);
    roma_buf_free(&features);
    return rc;
}

roma_code ex_request_tensor(const json_t *root, TF_Tensor **out, roma_err *err) {
    const json_t *examples = json_object_get(root, "examples");
    const json_t *context = json_object_get(root, "context");
    roma_buf ctx = ROMA_BUF_INIT;
    roma_code rc = ROMA_OK;
    if (!json_is_array(examples) || json_array_size(examples) == 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "'examples' must be a non-empty list of feature objects");
    if (context && (rc = ex_serialize(context, &ctx, err)) != ROMA_OK) return rc;
    int64_t n = (int64_t)json_array_size(examples);
    TF_Tensor *t = TF_AllocateTensor(TF_STRING, &n, 1, (size_t)n * sizeof(TF_TString));
    TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < n; i++) TF_StringInit(&s[i]);
    for (int64_t i = 0; i < n && rc == ROMA_OK; i++) {
        roma_buf one = ROMA_BUF_INIT;
        roma_buf_append(&one, ctx.data, ctx.len);
        rc = ex_serialize(json_array_get(examples, (size_t)i), &one, err);
        TF_StringCopy(&s[i], one.data ? one.data : "", one.len);
        roma_buf_free(&one);
    }
    roma_buf_free(&ctx);
    if (rc != ROMA_OK) jt_tensors_free(&t, 1);
    else *out = t;
    return rc;
}

static const TF_Tensor *output_named(const tfb_signature *sig, TF_Tensor *const *outputs,
                                     const char *key) {
    int i = tfb_find_tensor(sig->outputs, sig->noutputs, key);
    return i < 0 ? NULL : outputs[i];
}

/* [batch] or [batch, n]: n, or -1 when the tensor has another rank. */
static int64_t per_example(const TF_Tensor *t, int64_t batch) {
    if (TF_NumDims(t) == 1 && TF_Dim(t, 0) == batch) return 1;
    if (TF_NumDims(t) == 2 && TF_Dim(t, 0) == batch) return TF_Dim(t, 1);
    return -1;
}

roma_code ex_write_classify(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs,
                            roma_err *err) {
    const TF_Tensor *classes = output_named(sig, outputs, "classes");
    const TF_Tensor *scores = output_named(sig, outputs, "scores");
    const TF_Tensor *any = scores ? scores : classes;
    if (!any || (scores && TF_TensorType(scores) != TF_FLOAT) ||
        (classes && TF_TensorType(classes) != TF_STRING))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s' has no float 'scores' or string 'classes' output",
                         sig->name);
    int64_t batch = TF_NumDims(any) > 0 ? TF_Dim(any, 0) : -1;
    int64_t n = per_example(any, batch);
    if (n < 0 || (classes && scores && per_example(classes, batch) != n))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s': classes and scores must be [batch, n] of one shape",
                         sig->name);
    const TF_TString *labels = classes ? TF_TensorData(classes) : NULL;
    const float *values = scores ? TF_TensorData(scores) : NULL;
    roma_buf_puts(out, "{\"results\": [");
    for (int64_t b = 0; b < batch; b++) {
        roma_buf_puts(out, b ? ", [" : "[");
        for (int64_t k = 0; k < n; k++) {
            size_t i = (size_t)(b * n + k);
            roma_buf_puts(out, k ? ", [" : "[");
            if (labels)
                roma_buf_json_string(out, TF_StringGetDataPointer(&labels[i]),
                                     TF_StringGetSize(&labels[i]));
            else roma_buf_puts(out, "\"\"");
            roma_buf_puts(out, ", ");
            jt_write_float(out, values ? values[i] : 0.0f);
            roma_buf_putc(out, ']');
        }
        roma_buf_putc(out, ']');
    }
    roma_buf_puts(out, "]}");
    return ROMA_OK;
}

roma_code ex_write_regress(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs,
                           roma_err *err) {
    const TF_Tensor *t = output_named(sig, outputs, "outputs");
    int64_t batch = t && TF_NumDims(t) > 0 ? TF_Dim(t, 0) : -1;
    if (!t || TF_TensorType(t) != TF_FLOAT || per_example(t, batch) != 1)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s' needs a float 'outputs' output of shape [batch] or "
                         "[batch, 1]",
                         sig->name);
    const float *v = TF_TensorData(t);
    roma_buf_puts(out, "{\"results\": [");
    for (int64_t b = 0; b < batch; b++) {
        if (b) roma_buf_puts(out, ", ");
        jt_write_float(out, v[b]);
    }
    roma_buf_puts(out, "]}");
    return ROMA_OK;
}

/* json_tensor.c - see json_tensor.h.
 *
 * Conversion is three passes over the JSON: the shape is read off the first
 * element at every depth, a recursive walk checks that every list at a
 * depth has that length (ragged lists are an error) before anything is
 * allocated, and a last walk stores each leaf straight into the tensor's
 * buffer, so no intermediate arrays are built.
 */
#include "json_tensor.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/b64.h"

#define JT_MAX_DIMS 32

/* NaN/Infinity tokens are rewritten to strings that start with a NUL byte,
 * which no JSON text can produce (JSON_ALLOW_NUL lets jansson keep them). */
static const struct { const char *token, *marker; } special_tokens[] = {
    {"NaN", "\"\\u0000NaN\""},
    {"-Infinity", "\"\\u0000-Inf\""},
    {"Infinity", "\"\\u0000Inf\""},
};

/* Copies body into out with the special tokens outside strings rewritten.
 * Returns 0 when the body holds none (out is then untouched). */
static int rewrite_special_tokens(const char *body, size_t len, roma_buf *out) {
    int in_string = 0, found = 0;
    size_t copied = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            continue;
        }
        if (c != 'N' && c != 'I' && c != '-') continue;
        for (size_t k = 0; k < sizeof(special_tokens) / sizeof(special_tokens[0]); k++) {
            size_t tl = strlen(special_tokens[k].token);
            if (len - i < tl || memcmp(body + i, special_tokens[k].token, tl) != 0) continue;
            roma_buf_append(out, body + copied, i - copied);
            roma_buf_puts(out, special_tokens[k].marker);
            i += tl - 1;
            copied = i + 1;
            found = 1;
            break;
        }
    }
    if (found) roma_buf_append(out, body + copied, len - copied);
    return found;
}

roma_code jt_parse_body(const char *body, size_t len, json_t **root, roma_err *err) {
    roma_buf rewritten = ROMA_BUF_INIT;
    json_error_t jerr;
    if (rewrite_special_tokens(body, len, &rewritten)) {
        body = rewritten.data;
        len = rewritten.len;
    }
    *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    roma_buf_free(&rewritten);
    if (!*root)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "JSON Parse error: %s at offset %d",
                         jerr.text, jerr.position);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: request body must be a JSON object");
    }
    return ROMA_OK;
}

roma_code jt_signature_name(const json_t *root, const char **name, roma_err *err) {
    const json_t *v = json_object_get(root, "signature_name");
    *name = "serving_default";
    if (!v) return ROMA_OK;
    if (!json_is_string(v))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "'signature_name' key must be a string, e.g. \"serving_default\"");
    *name = json_string_value(v);
    return ROMA_OK;
}

/* ---- JSON -> tensor ---------------------------------------------------- */

static int is_b64_object(const json_t *v) {
    return json_is_object(v) && json_object_size(v) == 1 && json_is_string(json_object_get(v, "b64"));
}

/* A leaf is anything that is not a list (b64 objects included). */
static void read_shape(const json_t *v, int64_t *dims, int *ndims) {
    while (json_is_array(v) && *ndims < JT_MAX_DIMS) {
        dims[(*ndims)++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0) break;
        v = json_array_get(v, 0);
    }
}

size_t jt_elem_size(TF_DataType t) {
    switch (t) {
    case TF_FLOAT: case TF_INT32: case TF_UINT32: return 4;
    case TF_DOUBLE: case TF_INT64: case TF_UINT64: return 8;
    case TF_INT16: case TF_UINT16: return 2;
    case TF_INT8: case TF_UINT8: case TF_BOOL: return 1;
    case TF_STRING: return sizeof(TF_TString);
    default: return 0;
    }
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* NaN, Infinity, -Infinity as rewritten by rewrite_special_tokens.  A
 * client could send the marker text itself ("\u0000NaN"); that one string
 * then reads as the token, a collision accepted for the simplicity of
 * letting jansson parse everything else. */
static int special_number(const json_t *v, double *out) {
    static const double values[] = {NAN, -INFINITY, INFINITY};
    if (!json_is_string(v) || json_string_length(v) < 4 || json_string_value(v)[0] != '\0')
        return 0;
    for (size_t k = 0; k < sizeof(special_tokens) / sizeof(special_tokens[0]); k++) {
        const char *marker = special_tokens[k].marker; /* "\"\\u0000NaN\"" */
        size_t n = strlen(marker) - 8; /* the text between \u0000 and the quote */
        if (json_string_length(v) == n + 1 && memcmp(json_string_value(v) + 1, marker + 7, n) == 0) {
            *out = values[k];
            return 1;
        }
    }
    return 0;
}

/* TF Serving refuses numbers a float/double cannot carry: integers that
 * would be rounded (2^24 + 1 is no float), finite reals that overflow. */
static int exact_number(const json_t *v, double d, TF_DataType t) {
    const double two63 = 9223372036854775808.0;
    double r = t == TF_FLOAT ? (double)(float)d : d;
    if (isfinite(d) && !isfinite(r)) return 0;
    if (!json_is_integer(v)) return 1;
    return r < two63 && r >= -two63 && (long long)r == json_integer_value(v);
}

static roma_code store_number(const json_t *v, TF_DataType t, void *data, size_t i,
                              roma_err *err) {
    double d;
    if (json_is_integer(v)) d = (double)json_integer_value(v);
    else if (json_is_real(v)) d = json_real_value(v);
    else if (!special_number(v, &d)) goto wrong;
    if (!exact_number(v, d, t))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: %s cannot be converted to %s without loss of precision",
                         json_is_integer(v) ? "an integer" : "a number", tfb_dtype_name(t));
    if (t == TF_FLOAT) ((float *)data)[i] = (float)d;
    else ((double *)data)[i] = d;
    return ROMA_OK;
wrong:
    return roma_fail(err, ROMA_INVALID_ARGUMENT, "JSON Value: %s is not of expected type: %s",
                     json_type_name(v), tfb_dtype_name(t));
}

int jt_int_range(TF_DataType t, long long *lo, long long *hi) {
    static const struct { TF_DataType t; long long lo, hi; } range[] = {
        {TF_INT8, INT8_MIN, INT8_MAX},     {TF_UINT8, 0, UINT8_MAX},
        {TF_INT16, INT16_MIN, INT16_MAX},  {TF_UINT16, 0, UINT16_MAX},
        {TF_INT32, INT32_MIN, INT32_MAX},  {TF_UINT32, 0, UINT32_MAX},
        {TF_INT64, INT64_MIN, INT64_MAX},  {TF_UINT64, 0, INT64_MAX},
    };
    for (size_t k = 0; k < sizeof(range) / sizeof(range[0]); k++) {
        if (range[k].t != t) continue;
        *lo = range[k].lo;
        *hi = range[k].hi;
        return 1;
    }
    return 0;
}

void jt_store_int(TF_DataType t, void *data, size_t i, long long x) {
    switch (t) {
    case TF_INT8: ((int8_t *)data)[i] = (int8_t)x; break;
    case TF_UINT8: ((uint8_t *)data)[i] = (uint8_t)x; break;
    case TF_INT16: ((int16_t *)data)[i] = (int16_t)x; break;
    case TF_UINT16: ((uint16_t *)data)[i] = (uint16_t)x; break;
    case TF_INT32: ((int32_t *)data)[i] = (int32_t)x; break;
    case TF_UINT32: ((uint32_t *)data)[i] = (uint32_t)x; break;
    case TF_INT64: ((int64_t *)data)[i] = (int64_t)x; break;
    default: ((uint64_t *)data)[i] = (uint64_t)x; break;
    }
}

static roma_code store_integer(const json_t *v, TF_DataType t, void *data, size_t i,
                               roma_err *err) {
    long long lo = 0, hi = 0;
    if (!json_is_integer(v))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: %s is not of expected type: %s (an integer)",
                         json_type_name(v), tfb_dtype_name(t));
    long long x = json_integer_value(v);
    if (jt_int_range(t, &lo, &hi) && (x < lo || x > hi))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "JSON Value: %lld is out of range for %s",
                         x, tfb_dtype_name(t));
    jt_store_int(t, data, i, x);
    return ROMA_OK;
}

static roma_code store_string(const json_t *v, void *data, size_t i, roma_err *err) {
    TF_TString *s = &((TF_TString *)data)[i];
    double token;
    if (json_is_string(v) && !special_number(v, &token)) {
        TF_StringCopy(s, json_string_value(v), json_string_length(v));
        return ROMA_OK;
    }
    if (!is_b64_object(v))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: %s is not of expected type: DT_STRING "
                         "(a string, or {\"b64\": \"...\"} for binary data)",
                         json_type_name(v));
    const json_t *text = json_object_get(v, "b64");
    roma_buf bytes = ROMA_BUF_INIT;
    if (roma_b64_decode(&bytes, json_string_value(text), json_string_length(text)) != 0) {
        roma_buf_free(&bytes);
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Unable to base64 decode the \"b64\" value: not valid base64");
    }
    TF_StringCopy(s, bytes.data ? bytes.data : "", bytes.len);
    roma_buf_free(&bytes);
    return ROMA_OK;
}

static roma_code store_leaf(const json_t *v, TF_DataType t, void *data, size_t i,
                            roma_err *err) {
    switch (t) {
    case TF_FLOAT: case TF_DOUBLE: return store_number(v, t, data, i, err);
    case TF_STRING: return store_string(v, data, i, err);
    case TF_BOOL:
        if (!json_is_boolean(v))
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "JSON Value: %s is not of expected type: DT_BOOL",
                             json_type_name(v));
        ((uint8_t *)data)[i] = json_is_true(v);
        return ROMA_OK;
    default: return store_integer(v, t, data, i, err);
    }
}

typedef struct {
    const int64_t *dims;
    int ndims;
    TF_DataType dtype;
    void *data;
    size_t next; /* index of the next leaf to store */
} fill_state;

/* Checks that v has the shape dims[0..ndims) (read off the first element
 * at each depth): every list at a depth has that depth's length, and only
 * leaves lie below the last.  Run over every value before the tensor is
 * allocated: the first elements alone may promise far more leaves than
 * the body holds (a long first row, then empty rows), and the allocation
 * would then ask for hundreds of GB.  Once it passes, the tensor's element
 * count is the number of leaves really present. */
#define NOT_RAGGED \
    "lists must not be ragged: every element at one depth must have the same shape"

static roma_code check_shape(const json_t *v, const int64_t *dims, int ndims, int depth,
                             roma_err *err) {
    if (depth == ndims) {
        if (!json_is_array(v)) return ROMA_OK;
        if (depth == JT_MAX_DIMS)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "JSON Value: lists nested more than %d deep: a tensor has at most "
                             "%d dimensions",
                             JT_MAX_DIMS, JT_MAX_DIMS);
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Encountered list at unexpected level %d: a list nested deeper than "
                         "its siblings; " NOT_RAGGED,
                         depth);
    }
    if (!json_is_array(v))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: expecting a list of %lld elements at depth %d, got %s; "
                         NOT_RAGGED,
                         (long long)dims[depth], depth, json_type_name(v));
    if ((int64_t)json_array_size(v) != dims[depth])
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: expecting a list of %lld elements at depth %d (the length "
                         "of the first list at that depth), got a list of %zu; " NOT_RAGGED,
                         (long long)dims[depth], depth, json_array_size(v));
    for (size_t k = 0; k < json_array_size(v); k++) {
        roma_code rc = check_shape(json_array_get(v, k), dims, ndims, depth + 1, err);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

/* check_shape for every value; a stacked value's error names its index,
 * as TF Serving's does ("Failed to process element: 1 of 'instances'"). */
static roma_code check_values_shape(const json_t *const *values, size_t n, int stacked,
                                    const int64_t *dims, int ndims, roma_err *err) {
    for (size_t k = 0; k < (stacked ? n : 1); k++) {
        roma_code rc = check_shape(values[k], dims, ndims, 0, err);
        if (rc == ROMA_OK) continue;
        if (stacked) {
            roma_err inner = *err;
            roma_fail(err, rc, "Failed to process element: %zu of 'instances' list. Error: %s", k,
                      inner.msg);
        }
        return rc;
    }
    return ROMA_OK;
}

/* Stores every leaf of v in order (the shape is already checked). */
static roma_code fill(fill_state *f, const json_t *v, int depth, roma_err *err) {
    if (depth == f->ndims) return store_leaf(v, f->dtype, f->data, f->next++, err);
    for (size_t k = 0; k < json_array_size(v); k++) {
        roma_code rc = fill(f, json_array_get(v, k), depth + 1, err);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

roma_code jt_values_to_tensor(const json_t *const *values, size_t n, int stacked,
                              TF_DataType dtype, TF_Tensor **out, roma_err *err) {
    int64_t dims[JT_MAX_DIMS + 1];
    int ndims = 0, lead = stacked ? 1 : 0;
    size_t esize = jt_elem_size(dtype);
    if (esize == 0)
        return roma_fail(err, ROMA_UNIMPLEMENTED, "tensors of type %s are not supported",
                         tfb_dtype_name(dtype));
    if (stacked) dims[0] = (int64_t)n;
    if (n > 0) read_shape(values[0], dims + lead, &ndims);
    roma_code rc = check_values_shape(values, n, stacked, dims + lead, ndims, err);
    if (rc != ROMA_OK) return rc;
    ndims += lead;
    /* The shape holds: count is the number of leaves present, which the
     * body bounds; the overflow check only guards that reasoning. */
    size_t count = 1;
    for (int d = 0; d < ndims; d++) {
        if (dims[d] > 0 && count > SIZE_MAX / esize / (size_t)dims[d])
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "JSON Value: tensor too large");
        count *= (size_t)dims[d];
    }
    TF_Tensor *t = TF_AllocateTensor(dtype, dims, ndims, count * esize);
    void *data = t ? TF_TensorData(t) : NULL;
    if (!t || (!data && count > 0)) {
        if (t) TF_DeleteTensor(t);
        return roma_fail(err, ROMA_RESOURCE_EXHAUSTED,
                         "cannot allocate a %s tensor of %zu elements: out of memory",
                         tfb_dtype_name(dtype), count);
    }
    if (dtype == TF_STRING)
        for (size_t i = 0; i < count; i++) TF_StringInit(&((TF_TString *)data)[i]);
    fill_state f = {dims + lead, ndims - lead, dtype, data, 0};
    for (size_t k = 0; k < (stacked ? n : 1); k++) {
        rc = fill(&f, values[k], 0, err);
        if (rc != ROMA_OK) {
            jt_tensors_free(&t, 1);
            return rc;
        }
    }
    *out = t;
    return ROMA_OK;
}

void jt_tensors_free(TF_Tensor **tensors, size_t n) {
    for (size_t i = 0; i < n; i++) {
        TF_Tensor *t = tensors[i];
        if (!t) continue;
        /* TF_AllocateTensor memory does not destroy its strings itself. */
        if (TF_TensorType(t) == TF_STRING) {
            TF_TString *s = TF_TensorData(t);
            for (int64_t k = 0; k < TF_TensorElementCount(t); k++) TF_StringDealloc(&s[k]);
        }
        TF_DeleteTensor(t);
        tensors[i] = NULL;
    }
}

/* ---- predict request --------------------------------------------------- */

static roma_code named_input_error(const tfb_signature *sig, const char *what, const char *key,
                                   roma_err *err) {
    roma_buf names = ROMA_BUF_INIT;
    for (size_t i = 0; i < sig->ninputs; i++)
        roma_buf_printf(&names, "%s'%s'", i ? ", " : "", sig->inputs[i].key);
    roma_fail(err, ROMA_INVALID_ARGUMENT, "%s '%s' (signature '%s' takes inputs: %s)", what, key,
              sig->name, names.data ? names.data : "none");
    roma_buf_free(&names);
    return ROMA_INVALID_ARGUMENT;
}

/* Checks that the object's keys are exactly the signature's inputs. */
static roma_code check_named_inputs(const json_t *obj, const tfb_signature *sig, roma_err *err) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (tfb_find_tensor(sig->inputs, sig->ninputs, key) < 0)
            return named_input_error(sig, "JSON object: unknown input", key, err);
    }
    for (size_t i = 0; i < sig->ninputs; i++)
        if (!json_object_get(obj, sig->inputs[i].key))
            return named_input_error(sig, "JSON object: missing input", sig->inputs[i].key, err);
    return ROMA_OK;
}

static int is_named_object(const json_t *v) { return json_is_object(v) && !is_b64_object(v); }

static roma_code row_inputs(const json_t *instances, const tfb_signature *sig, TF_Tensor **in,
                            roma_err *err) {
    size_t n = json_array_size(instances);
    if (!json_is_array(instances) || n == 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "'instances' must be a non-empty list, one element per instance");
    int named = is_named_object(json_array_get(instances, 0));
    if (!named && sig->ninputs != 1)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s' takes %zu inputs: each instance must be an object "
                         "naming them",
                         sig->name, sig->ninputs);
    if (!named) {
        const json_t **vals = malloc(n * sizeof(*vals));
        for (size_t k = 0; k < n; k++) vals[k] = json_array_get(instances, k);
        roma_code rc = jt_values_to_tensor(vals, n, 1, sig->inputs[0].dtype, &in[0], err);
        free(vals);
        return rc;
    }
    const json_t **vals = malloc(n * sizeof(*vals));
    roma_code rc = ROMA_OK;
    for (size_t k = 0; k < n && rc == ROMA_OK; k++) {
        const json_t *inst = json_array_get(instances, k);
        if (!is_named_object(inst))
            rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                           "instance %zu is %s but instance 0 is an object: all instances must "
                           "have the same form",
                           k, json_type_name(inst));
        else rc = check_named_inputs(inst, sig, err);
    }
    for (size_t i = 0; i < sig->ninputs && rc == ROMA_OK; i++) {
        for (size_t k = 0; k < n; k++)
            vals[k] = json_object_get(json_array_get(instances, k), sig->inputs[i].key);
        rc = jt_values_to_tensor(vals, n, 1, sig->inputs[i].dtype, &in[i], err);
    }
    free(vals);
    return rc;
}

static roma_code columnar_inputs(const json_t *inputs, const tfb_signature *sig, TF_Tensor **in,
                                 roma_err *err) {
    if (!is_named_object(inputs)) {
        if (sig->ninputs != 1)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "signature '%s' takes %zu inputs: 'inputs' must be an object "
                             "naming them",
                             sig->name, sig->ninputs);
        return jt_values_to_tensor(&inputs, 1, 0, sig->inputs[0].dtype, &in[0], err);
    }
    roma_code rc = check_named_inputs(inputs, sig, err);
    for (size_t i = 0; i < sig->ninputs && rc == ROMA_OK; i++) {
        const json_t *v = json_object_get(inputs, sig->inputs[i].key);
        rc = jt_values_to_tensor(&v, 1, 0, sig->inputs[i].dtype, &in[i], err);
    }
    return rc;
}

roma_code jt_predict_inputs(const json_t *root, const tfb_signature *sig, TF_Tensor **inputs,
                            jt_format *format, roma_err *err) {
    const json_t *instances = json_object_get(root, "instances");
    const json_t *columns = json_object_get(root, "inputs");
    roma_code rc;
    if (instances && columns)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "JSON Value: both 'instances' and 'inputs' given; send only one");
    if (!instances && !columns)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Missing 'inputs' or 'instances' key in the request body");
    if (sig->ninputs == 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "signature '%s' takes no inputs", sig->name);
    memset(inputs, 0, sizeof(*inputs) * sig->ninputs);
    *format = instances ? JT_ROW : JT_COLUMNAR;
    rc = instances ? row_inputs(instances, sig, inputs, err)
                   : columnar_inputs(columns, sig, inputs, err);
    if (rc != ROMA_OK) jt_tensors_free(inputs, sig->ninputs);
    return rc;
}

/* ---- tensor -> JSON ---------------------------------------------------- */

/* Whole numbers keep a ".0" (3.0, not 3), as TF Serving writes them. */
static void put_real(roma_buf *out, const char *s) {
    roma_buf_puts(out, s);
    if (!strpbrk(s, ".eE")) roma_buf_puts(out, ".0");
}

void jt_write_float(roma_buf *out, float v) {
    char s[32];
    if (isnan(v)) return roma_buf_puts(out, "NaN");
    if (isinf(v)) return roma_buf_puts(out, v > 0 ? "Infinity" : "-Infinity");
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    put_real(out, s);
}

void jt_write_double(roma_buf *out, double v) {
    char s[40];
    if (isnan(v)) return roma_buf_puts(out, "NaN");
    if (isinf(v)) return roma_buf_puts(out, v > 0 ? "Infinity" : "-Infinity");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    put_real(out, s);
}

static void write_leaf(roma_buf *out, TF_DataType t, const void *data, size_t i, int as_b64) {
    switch (t) {
    case TF_FLOAT: return jt_write_float(out, ((const float *)data)[i]);
    case TF_DOUBLE: return jt_write_double(out, ((const double *)data)[i]);
    case TF_INT8: return roma_buf_printf(out, "%d", ((const int8_t *)data)[i]);
    case TF_UINT8: return roma_buf_printf(out, "%u", ((const uint8_t *)data)[i]);
    case TF_INT16: return roma_buf_printf(out, "%d", ((const int16_t *)data)[i]);
    case TF_UINT16: return roma_buf_printf(out, "%u", ((const uint16_t *)data)[i]);
    case TF_INT32: return roma_buf_printf(out, "%d", ((const int32_t *)data)[i]);
    case TF_UINT32: return roma_buf_printf(out, "%u", ((const uint32_t *)data)[i]);
    case TF_INT64: return roma_buf_printf(out, "%lld", (long long)((const int64_t *)data)[i]);
    case TF_UINT64:
        return roma_buf_printf(out, "%llu", (unsigned long long)((const uint64_t *)data)[i]);
    case TF_BOOL: return roma_buf_puts(out, ((const uint8_t *)data)[i] ? "true" : "false");
    case TF_STRING: {
        const TF_TString *s = &((const TF_TString *)data)[i];
        const char *p = TF_StringGetDataPointer(s);
        size_t n = TF_StringGetSize(s);
        if (!as_b64) return roma_buf_json_string(out, p, n);
        roma_buf_puts(out, "{\"b64\": \"");
        roma_b64_encode(out, p, n);
        return roma_buf_puts(out, "\"}");
    }
    default: return roma_buf_puts(out, "null");
    }
}

typedef struct {
    TF_DataType dtype;
    const void *data;
    int64_t dims[JT_MAX_DIMS];
    int ndims;
    int as_b64;
} tensor_view;

static void write_dims(roma_buf *out, const tensor_view *v, int depth, size_t *next) {
    if (depth == v->ndims) return write_leaf(out, v->dtype, v->data, (*next)++, v->as_b64);
    roma_buf_putc(out, '[');
    for (int64_t k = 0; k < v->dims[depth]; k++) {
        if (k) roma_buf_puts(out, ", ");
        write_dims(out, v, depth + 1, next);
    }
    roma_buf_putc(out, ']');
}

static tensor_view view_of(const TF_Tensor *t, int as_b64) {
    tensor_view v = {TF_TensorType(t), TF_TensorData(t), {0}, 0, as_b64};
    v.ndims = TF_NumDims(t) < JT_MAX_DIMS ? TF_NumDims(t) : JT_MAX_DIMS;
    for (int d = 0; d < v.ndims; d++) v.dims[d] = TF_Dim(t, d);
    return v;
}

void jt_write_tensor(roma_buf *out, const TF_Tensor *t, int as_b64) {
    tensor_view v = view_of(t, as_b64);
    size_t next = 0;
    write_dims(out, &v, 0, &next);
}

void jt_write_elements(roma_buf *out, const TF_Tensor *t) {
    const void *data = TF_TensorData(t);
    int64_t n = TF_TensorElementCount(t);
    roma_buf_putc(out, '[');
    for (int64_t i = 0; i < n; i++) {
        if (i) roma_buf_puts(out, ", ");
        write_leaf(out, TF_TensorType(t), data, (size_t)i, 0);
    }
    roma_buf_putc(out, ']');
}

/* Writes element `row` of the tensor's leading dimension. */
static void write_row(roma_buf *out, const TF_Tensor *t, int64_t row, int as_b64) {
    tensor_view v = view_of(t, as_b64);
    size_t per_row = 1;
    for (int d = 1; d < v.ndims; d++) per_row *= (size_t)v.dims[d];
    size_t next = (size_t)row * per_row;
    /* View the remaining dimensions only, starting at the row's first leaf. */
    memmove(v.dims, v.dims + 1, sizeof(int64_t) * (size_t)(v.ndims - 1));
    v.ndims--;
    write_dims(out, &v, 0, &next);
}

static int is_bytes_key(const char *key) {
    size_t n = strlen(key);
    return n >= 6 && strcmp(key + n - 6, "_bytes") == 0;
}

static roma_code write_rows(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs,
                            roma_err *err) {
    int64_t batch = -1;
    for (size_t i = 0; i < sig->noutputs; i++) {
        int64_t b = TF_NumDims(outputs[i]) > 0 ? TF_Dim(outputs[i], 0) : -1;
        if (b < 0 || (batch >= 0 && b != batch))
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "output '%s' does not share the batch size of the other outputs; "
                             "use the columnar format (\"inputs\") for this signature",
                             sig->outputs[i].key);
        batch = b;
    }
    roma_buf_puts(out, "{\"predictions\": [");
    for (int64_t r = 0; r < batch; r++) {
        if (r) roma_buf_puts(out, ", ");
        if (sig->noutputs == 1) {
            write_row(out, outputs[0], r, is_bytes_key(sig->outputs[0].key));
            continue;
        }
        roma_buf_putc(out, '{');
        for (size_t i = 0; i < sig->noutputs; i++) {
            if (i) roma_buf_puts(out, ", ");
            roma_buf_json_string(out, sig->outputs[i].key, strlen(sig->outputs[i].key));
            roma_buf_puts(out, ": ");
            write_row(out, outputs[i], r, is_bytes_key(sig->outputs[i].key));
        }
        roma_buf_putc(out, '}');
    }
    roma_buf_puts(out, "]}");
    return ROMA_OK;
}

static void write_columns(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs) {
    roma_buf_puts(out, "{\"outputs\": ");
    if (sig->noutputs == 1) {
        jt_write_tensor(out, outputs[0], is_bytes_key(sig->outputs[0].key));
    } else {
        roma_buf_putc(out, '{');
        for (size_t i = 0; i < sig->noutputs; i++) {
            if (i) roma_buf_puts(out, ", ");
            roma_buf_json_string(out, sig->outputs[i].key, strlen(sig->outputs[i].key));
            roma_buf_puts(out, ": ");
            jt_write_tensor(out, outputs[i], is_bytes_key(sig->outputs[i].key));
        }
        roma_buf_putc(out, '}');
    }
    roma_buf_putc(out, '}');
}

roma_code jt_write_predict(roma_buf *out, jt_format format, const tfb_signature *sig,
                           TF_Tensor *const *outputs, roma_err *err) {
    if (format == JT_ROW) return write_rows(out, sig, outputs, err);
    write_columns(out, sig, outputs);
    return ROMA_OK;
}

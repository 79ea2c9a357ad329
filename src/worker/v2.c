/* v2.c - see v2.h.
 *
 * A request goes through three phases.  Parsing (v2_parse_request) reads
 * the JSON header and lays every binary input over its bytes in the body,
 * checking that shapes, datatypes and sizes agree before anything is
 * allocated: a shape is only trusted once its element count matches the
 * bytes (binary) or the values (JSON) really present.  Building
 * (v2_input_tensor) makes one TensorFlow tensor per input: fixed-size
 * binary data is one memcpy into TF_AllocateTensor's buffer (the body's
 * alignment is whatever the HTTP layer gives, so the bytes are copied
 * rather than wrapped), BYTES elements are unpacked one by one (a TF
 * string is not laid out like the wire's length + bytes), JSON data goes
 * through json_tensor.h.  Answering (v2_write_response) writes the JSON
 * header and appends the binary outputs straight from the output tensors.
 */
#include "v2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json_tensor.h"
#include "route.h"


/* ---- datatypes --------------------------------------------------------- */

static const struct {
    const char *name;
    TF_DataType dtype;
    size_t size; /* bytes of one element on the wire; 0: BYTES (variable) */
} datatypes[] = {
    {"BOOL", TF_BOOL, 1},     {"UINT8", TF_UINT8, 1},   {"UINT16", TF_UINT16, 2},
    {"UINT32", TF_UINT32, 4}, {"UINT64", TF_UINT64, 8}, {"INT8", TF_INT8, 1},
    {"INT16", TF_INT16, 2},   {"INT32", TF_INT32, 4},   {"INT64", TF_INT64, 8},
    {"FP16", TF_HALF, 2},     {"FP32", TF_FLOAT, 4},    {"FP64", TF_DOUBLE, 8},
    {"BYTES", TF_STRING, 0},
};
#define NDATATYPES (sizeof(datatypes) / sizeof(datatypes[0]))

const char *v2_datatype_name(TF_DataType t) {
    for (size_t k = 0; k < NDATATYPES; k++)
        if (datatypes[k].dtype == t) return datatypes[k].name;
    return NULL;
}

static int find_datatype(const char *name) {
    for (size_t k = 0; k < NDATATYPES; k++)
        if (strcmp(datatypes[k].name, name) == 0) return (int)k;
    return -1;
}

static void put_shape(roma_buf *b, const int64_t *dims, int ndims) {
    roma_buf_putc(b, '[');
    for (int d = 0; d < ndims; d++) roma_buf_printf(b, "%s%lld", d ? ", " : "", (long long)dims[d]);
    roma_buf_putc(b, ']');
}

/* The shape as text for messages ("[2, 3]"), in a caller's buffer. */
static const char *shape_text(char *text, size_t cap, const int64_t *dims, int ndims) {
    roma_buf b = ROMA_BUF_INIT;
    put_shape(&b, dims, ndims);
    snprintf(text, cap, "%s", b.data);
    roma_buf_free(&b);
    return text;
}

/* ---- request parsing --------------------------------------------------- */

/* The JSON header's length from Inference-Header-Content-Length. */
static roma_code parse_header_len(const char *text, size_t body_len, size_t *json_len,
                                  roma_err *err) {
    char *end;
    if (!text) {
        *json_len = body_len;
        return ROMA_OK;
    }
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (!*text || strspn(text, "0123456789") != strlen(text) || errno)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Inference-Header-Content-Length '%s' is not a byte count: it must be "
                         "the length of the JSON header at the start of the body",
                         text);
    if (n > body_len)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Inference-Header-Content-Length is %llu but the body has only %zu "
                         "bytes: it must be the length of the JSON header at the start of the body",
                         n, body_len);
    *json_len = (size_t)n;
    return ROMA_OK;
}

/* Reads "shape" into in->dims and in->count, refusing negative or
 * fractional sizes and element counts whose bytes do not fit in memory. */
static roma_code parse_shape(const json_t *shape, size_t elem_size, v2_input *in, roma_err *err) {
    if (!json_is_array(shape))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': \"shape\" must be a list of sizes, e.g. [1, 3]", in->name);
    if (json_array_size(shape) > V2_MAX_DIMS)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': shape has %zu dimensions, more than the %d a tensor may have",
                         in->name, json_array_size(shape), V2_MAX_DIMS);
    size_t count = 1, unit = elem_size ? elem_size : 4; /* a BYTES element takes >= 4 bytes */
    in->ndims = (int)json_array_size(shape);
    for (int d = 0; d < in->ndims; d++) {
        const json_t *v = json_array_get(shape, (size_t)d);
        long long x = json_is_integer(v) ? json_integer_value(v) : -1;
        if (x < 0)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "input '%s': shape dimension %d is not a size (sizes are integers "
                             ">= 0; -1 is only for model metadata)",
                             in->name, d);
        if (x > 0 && count > (size_t)INT64_MAX / unit / (size_t)x)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "input '%s': shape dimension %d (%lld) makes the tensor too large: "
                             "its bytes would overflow a 64-bit size",
                             in->name, d, x);
        in->dims[d] = x;
        count *= (size_t)x;
    }
    in->count = count;
    return ROMA_OK;
}

/* Lays a binary input over the next binary_data_size bytes of the body. */
static roma_code take_binary(const json_t *size_v, size_t elem_size, const char **next,
                             const char *end, v2_input *in, roma_err *err) {
    long long size = json_is_integer(size_v) ? json_integer_value(size_v) : -1;
    char shape[256];
    if (size < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': parameters.binary_data_size must be an integer >= 0",
                         in->name);
    if ((unsigned long long)size > (size_t)(end - *next))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': binary_data_size is %lld but only %zu bytes of binary data "
                         "remain after the JSON header and the inputs before it: the body is "
                         "truncated, or Inference-Header-Content-Length is wrong",
                         in->name, size, (size_t)(end - *next));
    shape_text(shape, sizeof(shape), in->dims, in->ndims);
    if (elem_size && (size_t)size != in->count * elem_size)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': binary_data_size %lld does not add up: shape %s of %s is "
                         "%zu bytes",
                         in->name, size, shape, v2_datatype_name(in->dtype),
                         in->count * elem_size);
    if (!elem_size && (size_t)size / 4 < in->count)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': binary_data_size %lld does not add up: shape %s holds %zu "
                         "BYTES elements of at least 4 bytes (length prefix) each",
                         in->name, size, shape, in->count);
    in->binary = *next;
    in->binary_len = (size_t)size;
    *next += size;
    return ROMA_OK;
}

static roma_code parse_input(const json_t *obj, size_t index, int has_binary, const char **next,
                             const char *end, v2_input *in, roma_err *err) {
    const json_t *name = json_object_get(obj, "name"), *type = json_object_get(obj, "datatype");
    memset(in, 0, sizeof(*in));
    if (!json_is_object(obj) || !json_is_string(name))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input %zu must be an object with a \"name\", a \"datatype\" and a "
                         "\"shape\"",
                         index);
    in->name = json_string_value(name);
    int k = json_is_string(type) ? find_datatype(json_string_value(type)) : -1;
    if (k < 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': \"datatype\" must be one of BOOL, UINT8, UINT16, UINT32, "
                         "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES",
                         in->name);
    in->dtype = datatypes[k].dtype;
    roma_code rc = parse_shape(json_object_get(obj, "shape"), datatypes[k].size, in, err);
    if (rc != ROMA_OK) return rc;
    const json_t *size = json_object_get(json_object_get(obj, "parameters"), "binary_data_size");
    if (size && !has_binary)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s' has parameters.binary_data_size but the request has no "
                         "Inference-Header-Content-Length header, which says where the JSON "
                         "ends and the binary data begins",
                         in->name);
    if (size) return take_binary(size, datatypes[k].size, next, end, in, err);
    in->data = json_object_get(obj, "data");
    if (!in->data)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s' has neither \"data\" nor parameters.binary_data_size",
                         in->name);
    return ROMA_OK;
}

static roma_code parse_inputs(const json_t *inputs, int has_binary, const char *binary,
                              const char *end, v2_request *req, roma_err *err) {
    if (!json_is_array(inputs))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "the request must have \"inputs\": a list of {\"name\", \"datatype\", "
                         "\"shape\", \"data\"} objects");
    if (json_array_size(inputs) > V2_MAX_TENSORS)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "the request has %zu inputs, more than %d",
                         json_array_size(inputs), V2_MAX_TENSORS);
    const char *next = binary;
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        v2_input *in = &req->inputs[req->ninputs];
        roma_code rc = parse_input(json_array_get(inputs, i), i, has_binary, &next, end, in, err);
        if (rc != ROMA_OK) return rc;
        for (size_t k = 0; k < req->ninputs; k++)
            if (strcmp(req->inputs[k].name, in->name) == 0)
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "input '%s' is given twice",
                                 in->name);
        req->ninputs++;
    }
    if (next != end)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "the body has %zu bytes after the JSON header but the inputs' "
                         "binary_data_size add up to %zu: every byte after the header must "
                         "belong to a binary input",
                         (size_t)(end - binary), (size_t)(next - binary));
    return ROMA_OK;
}

/* A boolean parameter: -1 when absent. */
static roma_code bool_param(const json_t *params, const char *key, const char *owner, int *out,
                            roma_err *err) {
    const json_t *v = json_object_get(params, key);
    *out = -1;
    if (!v) return ROMA_OK;
    if (!json_is_boolean(v))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "%s: parameters.%s must be true or false",
                         owner, key);
    *out = json_is_true(v);
    return ROMA_OK;
}

static roma_code parse_outputs(const json_t *outputs, v2_request *req, roma_err *err) {
    if (!outputs) return ROMA_OK;
    if (!json_is_array(outputs) || json_array_size(outputs) > V2_MAX_TENSORS)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "\"outputs\" must be a list of at most %d {\"name\": ...} objects",
                         V2_MAX_TENSORS);
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        const json_t *o = json_array_get(outputs, i), *name = json_object_get(o, "name");
        v2_output *out = &req->outputs[req->noutputs];
        if (!json_is_string(name))
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "output %zu must be an object with a \"name\"", i);
        out->name = json_string_value(name);
        roma_code rc = bool_param(json_object_get(o, "parameters"), "binary_data", out->name,
                                  &out->binary, err);
        if (rc != ROMA_OK) return rc;
        req->noutputs++;
    }
    return ROMA_OK;
}

static roma_code parse_header(const json_t *root, v2_request *req, roma_err *err) {
    const json_t *id = json_object_get(root, "id"), *params = json_object_get(root, "parameters");
    const json_t *sig = json_object_get(params, "signature_name");
    if (id && !json_is_string(id))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "\"id\" must be a string");
    if (params && !json_is_object(params))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "\"parameters\" must be an object");
    if (sig && !json_is_string(sig))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "parameters.signature_name must be a string, e.g. \"serving_default\"");
    req->id = id ? json_string_value(id) : NULL;
    req->signature_name = sig ? json_string_value(sig) : "serving_default";
    int binary_output;
    roma_code rc = bool_param(params, "binary_data_output", "the request", &binary_output, err);
    req->binary_output = binary_output == 1;
    return rc;
}

roma_code v2_parse_request(const char *body, size_t len, const char *header_len, v2_request *req,
                           roma_err *err) {
    size_t json_len = 0;
    memset(req, 0, sizeof(*req));
    roma_code rc = parse_header_len(header_len, len, &json_len, err);
    if (rc == ROMA_OK) rc = jt_parse_body(body, json_len, &req->root, err);
    if (rc == ROMA_OK) rc = parse_header(req->root, req, err);
    if (rc == ROMA_OK)
        rc = parse_inputs(json_object_get(req->root, "inputs"), header_len != NULL,
                          body + json_len, body + len, req, err);
    if (rc == ROMA_OK) rc = parse_outputs(json_object_get(req->root, "outputs"), req, err);
    if (rc != ROMA_OK) v2_request_free(req);
    return rc;
}

void v2_request_free(v2_request *req) {
    json_decref(req->root);
    memset(req, 0, sizeof(*req));
}

/* ---- inputs into tensors ----------------------------------------------- */

roma_code v2_check_input(const v2_input *in, const tfb_tensor_info *info, roma_err *err) {
    char got[256], want[256];
    const char *want_type = v2_datatype_name(info->dtype);
    if (in->dtype != info->dtype)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s' has datatype %s, but the model's input is %s", in->name,
                         v2_datatype_name(in->dtype), want_type ? want_type : tfb_dtype_name(info->dtype));
    if (info->unknown_rank) return ROMA_OK;
    int fits = in->ndims == info->ndims;
    for (int d = 0; fits && d < in->ndims; d++)
        fits = info->dims[d] < 0 || info->dims[d] == in->dims[d];
    if (!fits)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s' has shape %s, but the model expects %s (-1: any size)",
                         in->name, shape_text(got, sizeof(got), in->dims, in->ndims),
                         shape_text(want, sizeof(want), info->dims, info->ndims));
    return ROMA_OK;
}

static TF_Tensor *allocate(const v2_input *in, size_t bytes, roma_err *err) {
    TF_Tensor *t = TF_AllocateTensor(in->dtype, in->dims, in->ndims, bytes);
    if (!t || (bytes && !TF_TensorData(t))) {
        if (t) TF_DeleteTensor(t);
        roma_fail(err, ROMA_RESOURCE_EXHAUSTED, "input '%s': cannot allocate %zu bytes", in->name,
                  bytes);
        return NULL;
    }
    return t;
}

/* BYTES elements: a 4-byte little-endian length, then the bytes. */
static roma_code bytes_tensor(const v2_input *in, TF_Tensor **out, roma_err *err) {
    TF_Tensor *t = allocate(in, in->count * sizeof(TF_TString), err);
    if (!t) return ROMA_RESOURCE_EXHAUSTED;
    TF_TString *s = TF_TensorData(t);
    for (size_t i = 0; i < in->count; i++) TF_StringInit(&s[i]);
    const unsigned char *p = (const unsigned char *)in->binary;
    size_t pos = 0, len = in->binary_len;
    for (size_t i = 0; i < in->count; i++) {
        uint32_t n = len - pos >= 4 ? (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 |
                                          (uint32_t)p[pos + 2] << 16 | (uint32_t)p[pos + 3] << 24
                                    : 0;
        if (len - pos < 4 || n > len - pos - 4) {
            jt_tensors_free(&t, 1);
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "input '%s': BYTES element %zu runs past its binary_data_size (%zu "
                             "bytes): each element is a 4-byte little-endian length and that "
                             "many bytes",
                             in->name, i, len);
        }
        TF_StringCopy(&s[i], (const char *)p + pos + 4, n);
        pos += 4 + (size_t)n;
    }
    if (pos != len) {
        jt_tensors_free(&t, 1);
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': binary_data_size %zu does not add up: its %zu BYTES "
                         "elements take %zu bytes",
                         in->name, len, in->count, pos);
    }
    *out = t;
    return ROMA_OK;
}

/* A C++ bool holds 0 or 1 only: other bytes are refused, not passed on. */
static roma_code check_bools(const v2_input *in, roma_err *err) {
    for (size_t i = 0; i < in->binary_len; i++)
        if ((unsigned char)in->binary[i] > 1)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "input '%s': BOOL element %zu is %u: binary BOOL is one byte, 0 or 1",
                             in->name, i, (unsigned char)in->binary[i]);
    return ROMA_OK;
}

static roma_code binary_tensor(const v2_input *in, TF_Tensor **out, roma_err *err) {
    if (in->dtype == TF_STRING) return bytes_tensor(in, out, err);
    if (in->dtype == TF_BOOL && check_bools(in, err) != ROMA_OK) return ROMA_INVALID_ARGUMENT;
    TF_Tensor *t = allocate(in, in->binary_len, err);
    if (!t) return ROMA_RESOURCE_EXHAUSTED;
    if (in->binary_len) memcpy(TF_TensorData(t), in->binary, in->binary_len);
    *out = t;
    return ROMA_OK;
}

/* Copies n strings (a TF_TString cannot simply be moved: deleting the
 * tensor it came from frees what it points to). */
static void copy_strings(TF_Tensor *to, const TF_Tensor *from, size_t n) {
    TF_TString *d = TF_TensorData(to);
    const TF_TString *s = TF_TensorData(from);
    for (size_t i = 0; i < n; i++) {
        TF_StringInit(&d[i]);
        TF_StringCopy(&d[i], TF_StringGetDataPointer(&s[i]), TF_StringGetSize(&s[i]));
    }
}

/* JSON data, flat or nested: read by json_tensor.h in the shape the lists
 * have, then copied into a tensor of the declared shape (JSON is the slow
 * path anyway; the copy is small next to the parse). */
static roma_code json_data_tensor(const v2_input *in, TF_Tensor **out, roma_err *err) {
    TF_Tensor *read = NULL;
    char shape[256];
    if (in->dtype == TF_HALF)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "input '%s': FP16 has no JSON form: send it as binary data "
                         "(parameters.binary_data_size)",
                         in->name);
    roma_code rc = jt_values_to_tensor(&in->data, 1, 0, in->dtype, &read, err);
    if (rc != ROMA_OK) {
        roma_err inner = *err;
        return roma_fail(err, rc, "input '%s': %s", in->name, inner.msg);
    }
    if ((size_t)TF_TensorElementCount(read) != in->count) {
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "input '%s' has %lld values in \"data\", but its shape %s holds %zu",
                       in->name, (long long)TF_TensorElementCount(read),
                       shape_text(shape, sizeof(shape), in->dims, in->ndims), in->count);
        jt_tensors_free(&read, 1);
        return rc;
    }
    size_t bytes = in->count * jt_elem_size(in->dtype);
    TF_Tensor *t = allocate(in, bytes, err);
    if (!t) {
        jt_tensors_free(&read, 1);
        return ROMA_RESOURCE_EXHAUSTED;
    }
    if (in->dtype == TF_STRING) copy_strings(t, read, in->count);
    else if (bytes) memcpy(TF_TensorData(t), TF_TensorData(read), bytes);
    jt_tensors_free(&read, 1);
    *out = t;
    return ROMA_OK;
}

roma_code v2_input_tensor(const v2_input *in, TF_Tensor **out, roma_err *err) {
    return in->binary ? binary_tensor(in, out, err) : json_data_tensor(in, out, err);
}

/* ---- the answer -------------------------------------------------------- */

/* Bytes of a tensor on the wire (BYTES: each element's length + 4). */
static size_t binary_size(const TF_Tensor *t) {
    if (TF_TensorType(t) != TF_STRING) return TF_TensorByteSize(t);
    const TF_TString *s = TF_TensorData(t);
    size_t n = 0;
    for (int64_t i = 0; i < TF_TensorElementCount(t); i++) n += 4 + TF_StringGetSize(&s[i]);
    return n;
}

static void append_binary(roma_buf *out, const TF_Tensor *t) {
    if (TF_TensorType(t) != TF_STRING)
        return roma_buf_append(out, TF_TensorData(t), TF_TensorByteSize(t));
    const TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < TF_TensorElementCount(t); i++) {
        size_t n = TF_StringGetSize(&s[i]);
        unsigned char len[4] = {(unsigned char)n, (unsigned char)(n >> 8),
                                (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
        roma_buf_append(out, len, 4);
        roma_buf_append(out, TF_StringGetDataPointer(&s[i]), n);
    }
}

static void put_names(roma_buf *b, const tfb_tensor_info *t, size_t n) {
    for (size_t i = 0; i < n; i++) roma_buf_printf(b, "%s%s", i ? ", " : "", t[i].key);
}

/* Which outputs the answer carries (index into sig->outputs) and whether
 * each is binary. */
static roma_code select_outputs(const v2_request *req, const tfb_signature *sig,
                                TF_Tensor *const *outputs, int *index, int *binary, size_t *n,
                                roma_err *err) {
    *n = req->noutputs ? req->noutputs : sig->noutputs;
    for (size_t i = 0; i < *n; i++) {
        const v2_output *o = req->noutputs ? &req->outputs[i] : NULL;
        index[i] = o ? tfb_find_tensor(sig->outputs, sig->noutputs, o->name) : (int)i;
        binary[i] = o && o->binary >= 0 ? o->binary : req->binary_output;
        if (index[i] < 0) {
            roma_buf names = ROMA_BUF_INIT;
            put_names(&names, sig->outputs, sig->noutputs);
            roma_fail(err, ROMA_INVALID_ARGUMENT,
                      "unknown output '%s': signature '%s' has outputs %s", o->name, sig->name,
                      names.data ? names.data : "(none)");
            roma_buf_free(&names);
            return ROMA_INVALID_ARGUMENT;
        }
        TF_DataType t = TF_TensorType(outputs[index[i]]);
        if (!v2_datatype_name(t) || (t == TF_HALF && !binary[i]))
            return roma_fail(err, ROMA_UNIMPLEMENTED,
                             "output '%s' is %s, which the answer cannot carry%s",
                             sig->outputs[index[i]].key, tfb_dtype_name(t),
                             t == TF_HALF ? " as JSON: ask for it with parameters.binary_data" : "");
    }
    return ROMA_OK;
}

static void write_output(roma_buf *out, const char *name, const TF_Tensor *t, int binary) {
    int64_t dims[V2_MAX_DIMS];
    int ndims = TF_NumDims(t) < V2_MAX_DIMS ? TF_NumDims(t) : V2_MAX_DIMS;
    for (int d = 0; d < ndims; d++) dims[d] = TF_Dim(t, d);
    roma_buf_puts(out, "{\"name\": ");
    roma_buf_json_string(out, name, strlen(name));
    roma_buf_printf(out, ", \"datatype\": \"%s\", \"shape\": ", v2_datatype_name(TF_TensorType(t)));
    put_shape(out, dims, ndims);
    if (binary) {
        roma_buf_printf(out, ", \"parameters\": {\"binary_data_size\": %zu}}", binary_size(t));
        return;
    }
    roma_buf_puts(out, ", \"data\": ");
    jt_write_elements(out, t);
    roma_buf_putc(out, '}');
}

roma_code v2_write_response(roma_buf *out, const char *model, int64_t version,
                            const v2_request *req, const tfb_signature *sig,
                            TF_Tensor *const *outputs, size_t *header_len, roma_err *err) {
    int index[V2_MAX_TENSORS], binary[V2_MAX_TENSORS], any_binary = 0;
    size_t n;
    *header_len = 0;
    roma_code rc = select_outputs(req, sig, outputs, index, binary, &n, err);
    if (rc != ROMA_OK) return rc;
    roma_buf_puts(out, "{\"model_name\": ");
    roma_buf_json_string(out, model, strlen(model));
    roma_buf_printf(out, ", \"model_version\": \"%lld\"", (long long)version);
    if (req->id) {
        roma_buf_puts(out, ", \"id\": ");
        roma_buf_json_string(out, req->id, strlen(req->id));
    }
    roma_buf_puts(out, ", \"outputs\": [");
    for (size_t i = 0; i < n; i++) {
        if (i) roma_buf_puts(out, ", ");
        write_output(out, sig->outputs[index[i]].key, outputs[index[i]], binary[i]);
        any_binary |= binary[i];
    }
    roma_buf_puts(out, "]}");
    if (!any_binary) return ROMA_OK;
    *header_len = out->len;
    for (size_t i = 0; i < n; i++)
        if (binary[i]) append_binary(out, outputs[index[i]]);
    return ROMA_OK;
}

/* ---- metadata ---------------------------------------------------------- */

static void write_tensor_list(roma_buf *out, const tfb_tensor_info *t, size_t n) {
    static const int64_t unknown_rank[1] = {-1};
    roma_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        const char *type = v2_datatype_name(t[i].dtype);
        roma_buf_puts(out, i ? ", {\"name\": " : "{\"name\": ");
        roma_buf_json_string(out, t[i].key, strlen(t[i].key));
        roma_buf_printf(out, ", \"datatype\": \"%s\", \"shape\": ",
                        type ? type : tfb_dtype_name(t[i].dtype));
        /* Unknown rank: the protocol has no word for it; [-1] says "any". */
        if (t[i].unknown_rank) put_shape(out, unknown_rank, 1);
        else put_shape(out, t[i].dims, t[i].ndims);
        roma_buf_putc(out, '}');
    }
    roma_buf_putc(out, ']');
}

void v2_write_model_metadata(roma_buf *out, const char *model, const int64_t *versions, size_t n,
                             const tfb_signature *sig) {
    roma_buf_puts(out, "{\"name\": ");
    roma_buf_json_string(out, model, strlen(model));
    roma_buf_puts(out, ", \"versions\": [");
    for (size_t i = 0; i < n; i++)
        roma_buf_printf(out, "%s\"%lld\"", i ? ", " : "", (long long)versions[i]);
    roma_buf_puts(out, "], \"platform\": \"tensorflow_savedmodel\", \"inputs\": ");
    write_tensor_list(out, sig ? sig->inputs : NULL, sig ? sig->ninputs : 0);
    roma_buf_puts(out, ", \"outputs\": ");
    write_tensor_list(out, sig ? sig->outputs : NULL, sig ? sig->noutputs : 0);
    roma_buf_putc(out, '}');
}

/* ---- requests ---------------------------------------------------------- */

/* One tensor per signature input, from the request input of its name. */
static roma_code build_inputs(const v2_request *req, const tfb_signature *sig, TF_Tensor **in,
                              roma_err *err) {
    for (size_t i = 0; i < req->ninputs; i++) {
        if (tfb_find_tensor(sig->inputs, sig->ninputs, req->inputs[i].name) >= 0) continue;
        roma_buf names = ROMA_BUF_INIT;
        put_names(&names, sig->inputs, sig->ninputs);
        roma_fail(err, ROMA_INVALID_ARGUMENT, "unknown input '%s': signature '%s' takes %s",
                  req->inputs[i].name, sig->name, names.data ? names.data : "no inputs");
        roma_buf_free(&names);
        return ROMA_INVALID_ARGUMENT;
    }
    for (size_t k = 0; k < sig->ninputs; k++) {
        const v2_input *found = NULL;
        for (size_t i = 0; i < req->ninputs && !found; i++)
            if (strcmp(req->inputs[i].name, sig->inputs[k].key) == 0) found = &req->inputs[i];
        if (!found)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "input '%s' of signature '%s' is missing from the request",
                             sig->inputs[k].key, sig->name);
        roma_code rc = v2_check_input(found, &sig->inputs[k], err);
        if (rc == ROMA_OK) rc = v2_input_tensor(found, &in[k], err);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

static roma_code infer(const sv_model *m, const sv_version *v, const char *body, size_t len,
                       const char *header_len, roma_buf *out, size_t *answer_header_len,
                       roma_err *err) {
    v2_request req;
    TF_Tensor *in[V2_MAX_TENSORS] = {0}, *outs[V2_MAX_TENSORS] = {0};
    roma_code rc = v2_parse_request(body, len, header_len, &req, err);
    if (rc != ROMA_OK) return rc;
    const tfb_signature *sig = tfb_model_find_signature(v->model, req.signature_name);
    if (!sig)
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "model '%s' has no signature '%s' (set parameters.signature_name to one "
                       "that GET /v1/models/%s/metadata lists)",
                       m->name, req.signature_name, m->name);
    else if (sig->ninputs > V2_MAX_TENSORS || sig->noutputs > V2_MAX_TENSORS)
        rc = roma_fail(err, ROMA_UNIMPLEMENTED, "signature '%s' has more than %d tensors",
                       sig->name, V2_MAX_TENSORS);
    if (rc == ROMA_OK) rc = build_inputs(&req, sig, in, err);
    if (rc == ROMA_OK) rc = tfb_run(v->model, sig, in, outs, err);
    if (rc == ROMA_OK)
        rc = v2_write_response(out, m->name, v->version, &req, sig, outs, answer_header_len, err);
    for (size_t i = 0; sig && i < sig->noutputs && i < V2_MAX_TENSORS; i++)
        if (outs[i]) TF_DeleteTensor(outs[i]);
    jt_tensors_free(in, V2_MAX_TENSORS);
    v2_request_free(&req);
    return rc;
}

static int model_metadata(const sv_model *m, const sv_version *v, int one_version,
                          roma_buf *out) {
    int64_t versions[64];
    size_t n = 0;
    if (one_version) versions[n++] = v->version;
    for (size_t i = 0; !one_version && i < m->nversions && n < 64; i++)
        versions[n++] = m->versions[i].version;
    v2_write_model_metadata(out, m->name, versions, n,
                            tfb_model_find_signature(v->model, "serving_default"));
    return 200;
}

int v2_handle(const sv_registry *reg, const char *method, const char *path, const char *body,
              size_t body_len, const char *header_len, roma_buf *out, size_t *answer_header_len) {
    v2_route r;
    roma_err err;
    const sv_model *m;
    const sv_version *v;
    *answer_header_len = 0;
    roma_code rc = rest_parse_v2_route(method, path, &r, &err);
    if (rc != ROMA_OK) return rest_error(out, rc, err.msg);
    switch (r.verb) {
    case V2_LIVE: case V2_READY: return 200; /* models load before the port opens */
    case V2_SERVER_METADATA:
        rest_v2_server_metadata(out);
        return 200;
    default: break;
    }
    rc = sv_lookup(reg, r.model, r.version[0] ? r.version : NULL, NULL, &m, &v, &err);
    if (rc != ROMA_OK) return rest_error(out, rc, err.msg);
    if (r.verb == V2_MODEL_READY) return 200;
    if (r.verb == V2_MODEL_METADATA) return model_metadata(m, v, r.version[0] != 0, out);
    rc = infer(m, v, body ? body : "", body_len, header_len, out, answer_header_len, &err);
    return rc == ROMA_OK ? 200 : rest_error(out, rc, err.msg);
}

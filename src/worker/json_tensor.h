/* json_tensor.h - TensorFlow Serving's JSON encoding of tensors.
 *
 * A predict request is a JSON object with either "instances" (row format:
 * a list with one entry per batch element, each entry a value or an object
 * of named inputs) or "inputs" (columnar format: one value, or an object of
 * named values, each already holding the batch dimension).  Values are
 * nested lists of numbers, booleans, strings or {"b64": "..."} objects;
 * NaN, Infinity and -Infinity are accepted as bare tokens.  The answer is
 * "predictions" (row) or "outputs" (columnar) in the same shapes; string
 * outputs whose key ends in "_bytes" are written as {"b64": "..."}.
 *
 * All functions are pure (no I/O, no globals) and safe to call from any
 * thread.
 */
#ifndef ROMA_JSON_TENSOR_H
#define ROMA_JSON_TENSOR_H

#include <jansson.h>

#include "../common/buf.h"
#include "../common/status.h"
#include "../tf/tfb.h"

typedef enum { JT_ROW, JT_COLUMNAR } jt_format;

/* Parses a request body into a JSON object (*root; json_decref it).  Accepts
 * the NaN/Infinity/-Infinity tokens TF Serving accepts. */
roma_code jt_parse_body(const char *body, size_t len, json_t **root, roma_err *err);

/* The request's "signature_name", or "serving_default" when absent. */
roma_code jt_signature_name(const json_t *root, const char **name, roma_err *err);

/* Builds one tensor per signature input (inputs[i] for sig->inputs[i]) from
 * a predict request.  On success the caller owns the tensors and frees them
 * with jt_tensors_free. */
roma_code jt_predict_inputs(const json_t *root, const tfb_signature *sig, TF_Tensor **inputs,
                            jt_format *format, roma_err *err);

/* One JSON value (nested lists) as a tensor of dtype; when stacked, values
 * is n per-instance values joined along a new leading dimension. */
roma_code jt_values_to_tensor(const json_t *const *values, size_t n, int stacked,
                              TF_DataType dtype, TF_Tensor **out, roma_err *err);

/* Writes the predict answer for outputs (outputs[i] is sig->outputs[i]). */
roma_code jt_write_predict(roma_buf *out, jt_format format, const tfb_signature *sig,
                           TF_Tensor *const *outputs, roma_err *err);

/* Writes one tensor as nested JSON lists (as_b64: strings as {"b64": ..}). */
void jt_write_tensor(roma_buf *out, const TF_Tensor *t, int as_b64);

/* Writes every element of t, row-major, as one flat JSON list (strings as
 * JSON strings): the Open Inference Protocol's "data". */
void jt_write_elements(roma_buf *out, const TF_Tensor *t);

/* Writes a float/double the way TF Serving does: shortest text that reads
 * back to the same value, NaN / Infinity / -Infinity as bare tokens. */
void jt_write_float(roma_buf *out, float v);
void jt_write_double(roma_buf *out, double v);

/* Bytes of one element of a tensor of type t (0: a type ROMA does not
 * convert). */
size_t jt_elem_size(TF_DataType t);

/* The values an integer dtype holds (uint64 capped at INT64_MAX, as JSON
 * integers are read as long long); 0 when t is not an integer type. */
int jt_int_range(TF_DataType t, long long *lo, long long *hi);

/* Stores x, already checked against jt_int_range, as element i of data. */
void jt_store_int(TF_DataType t, void *data, size_t i, long long x);

/* Frees tensors made by this module (string elements included); NULLs ok. */
void jt_tensors_free(TF_Tensor **tensors, size_t n);

#endif

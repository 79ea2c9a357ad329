/* v2.h - the Open Inference Protocol (KServe v2, Triton's HTTP/REST API)
 * over a servable registry, next to TensorFlow Serving's API (rest.h):
 * the same models, the same inference threads.
 *
 * An inference request is a JSON header, optionally followed by raw tensor
 * bytes (Triton's binary tensor data extension): the HTTP header
 * Inference-Header-Content-Length says where the JSON ends, each binary
 * input names its byte count in parameters.binary_data_size, and the
 * inputs' bytes follow one another in the order the inputs are listed.
 * Binary data is little-endian, row-major, packed; a BYTES element is a
 * 4-byte little-endian length and that many bytes.  Outputs come back as
 * JSON ("data", flattened row-major) or, when asked for with
 * parameters.binary_data (or the request's binary_data_output), as bytes
 * after the JSON answer, whose length the reply's
 * Inference-Header-Content-Length gives.
 *
 * The signature run is the model's "serving_default", or the one named by
 * the request's parameters.signature_name.  Every check of sizes is done
 * before anything is allocated, so the memory a request takes is bounded
 * by its body.
 *
 * The parsing and encoding functions are pure and safe from any thread;
 * v2_handle runs TensorFlow, so it is called on an inference thread (many
 * at once are fine).
 */
#ifndef ROMA_V2_H
#define ROMA_V2_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"
#include "servables.h"
#include "tf/tfb.h"

#define V2_MAX_DIMS 32
#define V2_MAX_TENSORS 64

typedef struct {
    const char *name;       /* borrowed from the request's JSON */
    TF_DataType dtype;
    int ndims;
    int64_t dims[V2_MAX_DIMS];
    size_t count;           /* elements: the product of dims */
    const char *binary;     /* the input's bytes inside the body; NULL: JSON data */
    size_t binary_len;
    const json_t *data;     /* "data" when not binary (borrowed) */
} v2_input;

typedef struct {
    const char *name;       /* borrowed from the request's JSON */
    int binary;             /* 1: answer as binary data */
} v2_output;

typedef struct {
    json_t *root;           /* the parsed JSON header: owns every string below */
    const char *id;         /* NULL when the request has none */
    const char *signature_name;
    v2_input inputs[V2_MAX_TENSORS];
    size_t ninputs;
    v2_output outputs[V2_MAX_TENSORS];
    size_t noutputs;        /* 0: every output of the signature */
    int binary_output;      /* parameters.binary_data_output */
} v2_request;

/* The protocol's datatype name of a TensorFlow dtype ("FP32", "BYTES",
 * ...); NULL when the protocol has none. */
const char *v2_datatype_name(TF_DataType t);

/* Parses an inference request.  header_len is the value of the
 * Inference-Header-Content-Length header, or NULL when the request has
 * none (then the whole body is JSON and no input may be binary).  On
 * success the caller frees req with v2_request_free; the inputs point into
 * body, which must outlive req.  INVALID_ARGUMENT, naming the input and
 * what is wrong, for a malformed header, a header length past the body, a
 * negative, huge or overflowing shape, an unknown datatype, a
 * binary_data_size that does not match the shape and datatype, binary
 * sizes that do not add up to the bytes after the JSON, or a duplicate
 * input. */
roma_code v2_parse_request(const char *body, size_t len, const char *header_len, v2_request *req,
                           roma_err *err);
void v2_request_free(v2_request *req);

/* Checks that an input fits the signature's tensor: same dtype, same rank
 * and the same size in every dimension the signature fixes. */
roma_code v2_check_input(const v2_input *in, const tfb_tensor_info *info, roma_err *err);

/* Builds the tensor of one parsed input: fixed-size binary data in one
 * copy, BYTES elements unpacked, JSON data (flat or nested) read as the
 * input's dtype and laid out in its shape.  The caller frees the tensor
 * with jt_tensors_free. */
roma_code v2_input_tensor(const v2_input *in, TF_Tensor **out, roma_err *err);

/* Writes the inference answer: the JSON header into out, then the binary
 * outputs' bytes; *header_len is the JSON's length when some output is
 * binary, else 0.  outputs[i] is sig->outputs[i]. */
roma_code v2_write_response(roma_buf *out, const char *model, int64_t version,
                            const v2_request *req, const tfb_signature *sig,
                            TF_Tensor *const *outputs, size_t *header_len, roma_err *err);

/* Writes the model metadata answer for sig (NULL: no inputs/outputs
 * listed); versions are the model's (highest first), n of them. */
void v2_write_model_metadata(roma_buf *out, const char *model, const int64_t *versions, size_t n,
                             const tfb_signature *sig);

/* Answers one v2 request (path under /v2): writes the body into out and
 * returns the HTTP status; *answer_header_len as in v2_write_response.
 * Errors are {"error": "..."}.  header_len as in v2_parse_request. */
int v2_handle(const sv_registry *reg, const char *method, const char *path, const char *body,
              size_t body_len, const char *header_len, roma_buf *out, size_t *answer_header_len);

#endif

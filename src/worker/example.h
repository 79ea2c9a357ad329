/* example.h - the Classify and Regress APIs: JSON examples in, serialized
 * tf.Example records to the signature's string input, results out.
 *
 * Request:  {"signature_name": "...", "context": {features},
 *            "examples": [{features}, ...]}
 * where a feature is a number, string, {"b64": ".."}, or a list of one kind
 * (integers become an int64_list, any other number a float_list, strings a
 * bytes_list).  Context features are merged into every example.
 * Answer:   classify {"results": [[["label", score], ...], ...]}
 *           regress  {"results": [value, ...]}
 * Pure functions; any thread.
 */
#ifndef ROMA_EXAMPLE_H
#define ROMA_EXAMPLE_H

#include <jansson.h>

#include "../common/buf.h"
#include "../common/status.h"
#include "../tf/tfb.h"

/* Appends one serialized tf.Example holding the features of obj. */
roma_code ex_serialize(const json_t *obj, roma_buf *out, roma_err *err);

/* The batch of serialized examples of a classify/regress request, as a
 * 1-D DT_STRING tensor (free with jt_tensors_free). */
roma_code ex_request_tensor(const json_t *root, TF_Tensor **out, roma_err *err);

roma_code ex_write_classify(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs,
                            roma_err *err);
roma_code ex_write_regress(roma_buf *out, const tfb_signature *sig, TF_Tensor *const *outputs,
                           roma_err *err);

#endif

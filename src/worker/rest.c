/* rest.c - see rest.h. */
#include "rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "json_fast.h"
#include "json_tensor.h"
#include "v2.h"

/* ---- status and metadata ----------------------------------------------- */

static void write_status_entry(roma_buf *out, int64_t version) {
    roma_buf_printf(out,
                    "{\"version\": \"%lld\", \"state\": \"AVAILABLE\", \"status\": "
                    "{\"error_code\": \"OK\", \"error_message\": \"\"}}",
                    (long long)version);
}

static int handle_status(const sv_model *m, const sv_version *v, const rest_route *r,
                         roma_buf *out) {
    roma_buf_puts(out, "{\"model_version_status\": [");
    if (r->version[0] || r->label[0]) {
        write_status_entry(out, v->version);
    } else {
        for (size_t i = 0; i < m->nversions; i++) {
            if (i) roma_buf_puts(out, ", ");
            write_status_entry(out, m->versions[i].version);
        }
    }
    roma_buf_puts(out, "]}");
    return 200;
}

static void write_tensor_info(roma_buf *out, const tfb_tensor_info *t) {
    roma_buf_json_string(out, t->key, strlen(t->key));
    roma_buf_printf(out, ": {\"dtype\": \"%s\", \"tensor_shape\": {\"dim\": [",
                    tfb_dtype_name(t->dtype));
    for (int d = 0; d < t->ndims; d++)
        roma_buf_printf(out, "%s{\"size\": \"%lld\", \"name\": \"\"}", d ? ", " : "",
                        (long long)t->dims[d]);
    roma_buf_printf(out, "], \"unknown_rank\": %s}, \"name\": ",
                    t->unknown_rank ? "true" : "false");
    const char *name = t->tensor_name ? t->tensor_name : "";
    roma_buf_json_string(out, name, strlen(name));
    roma_buf_putc(out, '}');
}

static void write_tensor_map(roma_buf *out, const tfb_tensor_info *t, size_t n) {
    roma_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) roma_buf_puts(out, ", ");
        write_tensor_info(out, &t[i]);
    }
    roma_buf_putc(out, '}');
}

static int handle_metadata(const sv_model *m, const sv_version *v, roma_buf *out) {
    roma_buf_puts(out, "{\"model_spec\": {\"name\": ");
    roma_buf_json_string(out, m->name, strlen(m->name));
    roma_buf_printf(out,
                    ", \"signature_name\": \"\", \"version\": \"%lld\"}, \"metadata\": "
                    "{\"signature_def\": {\"signature_def\": {",
                    (long long)v->version);
    for (size_t i = 0; i < tfb_model_signature_count(v->model); i++) {
        const tfb_signature *s = tfb_model_signature(v->model, i);
        if (i) roma_buf_puts(out, ", ");
        roma_buf_json_string(out, s->name, strlen(s->name));
        roma_buf_puts(out, ": {\"inputs\": ");
        write_tensor_map(out, s->inputs, s->ninputs);
        roma_buf_puts(out, ", \"outputs\": ");
        write_tensor_map(out, s->outputs, s->noutputs);
        roma_buf_puts(out, ", \"method_name\": ");
        roma_buf_json_string(out, s->method_name, strlen(s->method_name));
        roma_buf_puts(out, ", \"defaults\": {}}");
    }
    roma_buf_puts(out, "}}}}");
    return 200;
}

/* ---- inference --------------------------------------------------------- */

static const char *expected_method(rest_verb verb) {
    return verb == REST_CLASSIFY ? "tensorflow/serving/classify" : "tensorflow/serving/regress";
}

/* Classify/regress signatures take one string input of serialized examples. */
static roma_code check_example_signature(const tfb_signature *sig, rest_verb verb,
                                         roma_err *err) {
    const char *want = expected_method(verb);
    if (strcmp(sig->method_name, want) != 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Expected %s signature method_name to be %s. Was: %s",
                         verb == REST_CLASSIFY ? "classification" : "regression", want,
                         sig->method_name);
    if (sig->ninputs != 1 || sig->inputs[0].dtype != TF_STRING)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s' must take one DT_STRING input of serialized "
                         "tf.Example records",
                         sig->name);
    return ROMA_OK;
}

static roma_code make_inputs(const json_t *root, const tfb_signature *sig, rest_verb verb,
                             TF_Tensor **in, jt_format *format, roma_err *err) {
    if (verb == REST_PREDICT) return jt_predict_inputs(root, sig, in, format, err);
    roma_code rc = check_example_signature(sig, verb, err);
    return rc == ROMA_OK ? ex_request_tensor(root, &in[0], err) : rc;
}

static roma_code write_answer(roma_buf *out, rest_verb verb, jt_format format,
                              const tfb_signature *sig, TF_Tensor *const *outputs,
                              roma_err *err) {
    if (verb == REST_CLASSIFY) return ex_write_classify(out, sig, outputs, err);
    if (verb == REST_REGRESS) return ex_write_regress(out, sig, outputs, err);
    return jt_write_predict(out, format, sig, outputs, err);
}

/* Runs sig on in and writes the answer; frees the tensors. */
static roma_code run_signature(const sv_version *v, rest_verb verb, jt_format format,
                               const tfb_signature *sig, TF_Tensor **in, roma_buf *out,
                               roma_err *err) {
    TF_Tensor *outs[64] = {0};
    roma_code rc = tfb_run(v->model, sig, in, outs, err);
    if (rc == ROMA_OK) rc = write_answer(out, verb, format, sig, outs, err);
    jt_tensors_free(in, sig->ninputs);
    for (size_t i = 0; i < sig->noutputs; i++)
        if (outs[i]) TF_DeleteTensor(outs[i]);
    return rc;
}

/* The input dtype of a one-input signature (what json_fast keeps the
 * numbers as); TF_DOUBLE for any other, which the fast path then declines. */
static TF_DataType fast_input_dtype(const tfb_signature *sig) {
    return sig && sig->ninputs == 1 ? sig->inputs[0].dtype : TF_DOUBLE;
}

/* The fast path of json_fast.h: returns 1 when it answered the request.
 * The numbers are read for the default signature's dtype; a body naming a
 * signature of another dtype (rare) is read a second time. */
static int try_fast_predict(const sv_version *v, jf_helper *helper, const char *body,
                            size_t len, roma_buf *out, roma_code *rc, roma_err *err) {
    jf_request req;
    TF_DataType dtype = fast_input_dtype(tfb_model_find_signature(v->model, "serving_default"));
    if (!jf_parse(body, len, dtype, helper, &req)) return 0;
    const char *name = req.signature_name ? req.signature_name : "serving_default";
    const tfb_signature *sig = tfb_model_find_signature(v->model, name);
    if (fast_input_dtype(sig) != dtype) {
        jf_free(&req);
        dtype = fast_input_dtype(sig);
        if (!jf_parse(body, len, dtype, helper, &req)) return 0;
    }
    int fits = sig && sig->ninputs == 1 && sig->noutputs <= 64 && jf_fits(&req, dtype);
    if (fits) {
        TF_Tensor *in[1] = {jf_to_tensor(&req, dtype)};
        *rc = run_signature(v, REST_PREDICT, req.format, sig, in, out, err);
    }
    jf_free(&req);
    return fits;
}

static roma_code run_inference(const sv_version *v, jf_helper *helper, rest_verb verb,
                               const char *body, size_t len, roma_buf *out, roma_err *err) {
    json_t *root = NULL;
    const char *sig_name;
    jt_format format = JT_ROW;
    TF_Tensor *in[64] = {0};
    roma_code rc;
    if (verb == REST_PREDICT && try_fast_predict(v, helper, body, len, out, &rc, err)) return rc;
    rc = jt_parse_body(body, len, &root, err);
    if (rc == ROMA_OK) rc = jt_signature_name(root, &sig_name, err);
    const tfb_signature *sig = rc == ROMA_OK ? tfb_model_find_signature(v->model, sig_name) : NULL;
    if (rc == ROMA_OK && !sig)
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "Serving signature name: \"%s\" not found in signature def", sig_name);
    if (rc == ROMA_OK && (sig->ninputs > 64 || sig->noutputs > 64))
        rc = roma_fail(err, ROMA_UNIMPLEMENTED, "signature '%s' has more than 64 tensors", sig_name);
    if (rc == ROMA_OK) rc = make_inputs(root, sig, verb, in, &format, err);
    json_decref(root); /* inputs are copied into tensors: the JSON can go */
    return rc == ROMA_OK ? run_signature(v, verb, format, sig, in, out, err) : rc;
}

int rest_handle(const sv_registry *reg, jf_helper *helper, const char *method, const char *path,
                const char *body, size_t body_len, const char *header_len, roma_buf *out,
                size_t *answer_header_len) {
    rest_route r;
    roma_err err;
    const sv_model *m;
    const sv_version *v;
    *answer_header_len = 0;
    if (rest_is_v2_path(path))
        return v2_handle(reg, method, path, body, body_len, header_len, out, answer_header_len);
    roma_code rc = rest_parse_route(method, path, &r, &err);
    if (rc == ROMA_OK)
        rc = sv_lookup(reg, r.model, r.version[0] ? r.version : NULL,
                       r.label[0] ? r.label : NULL, &m, &v, &err);
    if (rc != ROMA_OK) return rest_error(out, rc, err.msg);
    if (r.verb == REST_STATUS) return handle_status(m, v, &r, out);
    if (r.verb == REST_METADATA) return handle_metadata(m, v, out);
    rc = run_inference(v, helper, r.verb, body ? body : "", body_len, out, &err);
    return rc == ROMA_OK ? 200 : rest_error(out, rc, err.msg);
}

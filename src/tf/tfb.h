/* tfb.h - the TensorFlow binding: load a SavedModel, describe its
 * signatures, run one.
 *
 * This is the only module that talks to the TensorFlow C API for models.
 * A tfb_model owns one TF_Session over one SavedModel version directory and
 * the SignatureDefs read from its MetaGraphDef, each with its input and
 * output tensors already resolved to graph outputs, so running a signature
 * is a single TF_SessionRun with no string look-ups.
 *
 * Threads: tfb_model_load/free from one thread; tfb_run from any number of
 * threads at once (TF_Session is thread-safe for Run).
 */
#ifndef ROMA_TFB_H
#define ROMA_TFB_H

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/c/c_api.h"

#include "../common/status.h"

typedef struct {
    char *key;         /* the signature's name for it, e.g. "x" */
    char *tensor_name; /* the graph tensor, e.g. "x:0" */
    TF_Output output;  /* tensor_name resolved in the graph */
    TF_DataType dtype;
    int unknown_rank;
    int ndims;
    int64_t *dims;     /* ndims sizes, -1 where unknown */
} tfb_tensor_info;

typedef struct {
    char *name;        /* "serving_default", ... */
    char *method_name; /* "tensorflow/serving/predict", ... */
    size_t ninputs, noutputs;
    tfb_tensor_info *inputs, *outputs; /* each sorted by key */
    int runnable;      /* 0: a tensor is not a plain graph tensor (e.g. the
                          NoOp of __saved_model_init_op); listed, not run */
} tfb_signature;

typedef struct {
    int intra_op_threads; /* 0: TensorFlow's default */
    int inter_op_threads; /* 0: TensorFlow's default */
    int no_spinning;      /* 1: idle threads sleep at once instead of spinning */
    int gpu;              /* 1: the session must see a GPU device */
} tfb_options;

typedef struct tfb_model tfb_model;

/* Loads the SavedModel (tag "serve") in export_dir.  On success *out is a
 * model the caller frees with tfb_model_free. */
roma_code tfb_model_load(const char *export_dir, const tfb_options *opt, tfb_model **out,
                         roma_err *err);
void tfb_model_free(tfb_model *m);

size_t tfb_model_signature_count(const tfb_model *m);
/* Signatures sorted by name; i < tfb_model_signature_count(m). */
const tfb_signature *tfb_model_signature(const tfb_model *m, size_t i);
/* NULL when the model has no signature of that name. */
const tfb_signature *tfb_model_find_signature(const tfb_model *m, const char *name);

/* Runs sig with inputs[i] fed to sig->inputs[i] (tensors stay the caller's).
 * On success outputs[i] holds sig->outputs[i]; the caller deletes them. */
roma_code tfb_run(tfb_model *m, const tfb_signature *sig, TF_Tensor *const *inputs,
                  TF_Tensor **outputs, roma_err *err);

/* Seconds the calling thread has spent in TF_SessionRun so far (a
 * per-thread total: two readings around a request give its run time). */
double tfb_thread_run_seconds(void);

/* Parses the SignatureDefs of a serialized MetaGraphDef (graph outputs left
 * unresolved).  *sigs is sorted by name; free with tfb_signatures_free. */
roma_code tfb_parse_signatures(const void *meta_graph_def, size_t len, tfb_signature **sigs,
                               size_t *nsigs, roma_err *err);
void tfb_signatures_free(tfb_signature *sigs, size_t nsigs);

/* "DT_FLOAT", ... (TensorFlow's enum names); "DT_INVALID" when unknown. */
const char *tfb_dtype_name(TF_DataType t);

/* Finds a tensor's index in an array sorted by key, or -1. */
int tfb_find_tensor(const tfb_tensor_info *infos, size_t n, const char *key);

#endif

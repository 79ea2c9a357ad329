/* tfb.c - see tfb.h.
 *
 * The MetaGraphDef fields read here (field numbers from TensorFlow's
 * meta_graph.proto and tensor_shape.proto):
 *   MetaGraphDef.signature_def = 5          map<string, SignatureDef>
 *   SignatureDef: inputs = 1, outputs = 2   map<string, TensorInfo>
 *                 method_name = 3
 *   TensorInfo:   name = 1, dtype = 2, tensor_shape = 3
 *   TensorShapeProto: dim = 2 {size = 1}, unknown_rank = 3
 *   map entries:  key = 1, value = 2
 */
#include "tfb.h"

#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/clock.h"
#include "proto.h"

struct tfb_model {
    TF_Graph *graph;
    TF_Session *session;
    tfb_signature *sigs;
    size_t nsigs;
};

static char *dup_bytes(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int parse_shape(pb_reader r, tfb_tensor_info *t) {
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.field == 3 && f.wire == PB_VARINT) t->unknown_rank = f.u != 0;
        if (f.field != 2 || f.wire != PB_BYTES) continue;
        int64_t size = 0;
        pb_reader dr = pb_sub(&f);
        pb_field d;
        while (pb_next(&dr, &d))
            if (d.field == 1 && d.wire == PB_VARINT) size = (int64_t)d.u;
        t->dims = realloc(t->dims, sizeof(int64_t) * (size_t)(t->ndims + 1));
        if (!t->dims) abort();
        t->dims[t->ndims++] = size;
    }
    return !r.error;
}

static int parse_tensor_info(pb_reader r, tfb_tensor_info *t) {
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.field == 1 && f.wire == PB_BYTES) {
            free(t->tensor_name);
            t->tensor_name = dup_bytes(f.bytes, f.len);
        } else if (f.field == 2 && f.wire == PB_VARINT) {
            t->dtype = (TF_DataType)f.u;
        } else if (f.field == 3 && f.wire == PB_BYTES) {
            if (!parse_shape(pb_sub(&f), t)) return 0;
        }
    }
    return !r.error;
}

/* Reads one map<string, M> entry: its key, and its value as a field. */
static int parse_map_entry(const pb_field *entry, char **key, pb_field *value) {
    pb_reader r = pb_sub(entry);
    pb_field f;
    *key = NULL;
    memset(value, 0, sizeof(*value));
    while (pb_next(&r, &f)) {
        if (f.field == 1 && f.wire == PB_BYTES) {
            free(*key);
            *key = dup_bytes(f.bytes, f.len);
        } else if (f.field == 2 && f.wire == PB_BYTES) {
            *value = f;
        }
    }
    if (!*key) *key = dup_bytes((const uint8_t *)"", 0);
    return !r.error;
}

static int cmp_tensor_key(const void *a, const void *b) {
    return strcmp(((const tfb_tensor_info *)a)->key, ((const tfb_tensor_info *)b)->key);
}

static int add_tensor(const pb_field *entry, tfb_tensor_info **arr, size_t *n) {
    char *key;
    pb_field value;
    if (!parse_map_entry(entry, &key, &value)) return free(key), 0;
    *arr = realloc(*arr, sizeof(**arr) * (*n + 1));
    if (!*arr) abort();
    tfb_tensor_info *t = &(*arr)[(*n)++];
    memset(t, 0, sizeof(*t));
    t->key = key;
    return value.bytes ? parse_tensor_info(pb_sub(&value), t) : 1;
}

static int parse_signature(const pb_field *entry, tfb_signature *sig) {
    pb_field value, f;
    if (!parse_map_entry(entry, &sig->name, &value)) return 0;
    pb_reader r = pb_sub(&value);
    while (pb_next(&r, &f)) {
        if (f.wire != PB_BYTES) continue;
        if (f.field == 1 && !add_tensor(&f, &sig->inputs, &sig->ninputs)) return 0;
        if (f.field == 2 && !add_tensor(&f, &sig->outputs, &sig->noutputs)) return 0;
        if (f.field == 3) {
            free(sig->method_name);
            sig->method_name = dup_bytes(f.bytes, f.len);
        }
    }
    if (!sig->method_name) sig->method_name = dup_bytes((const uint8_t *)"", 0);
    if (sig->ninputs) qsort(sig->inputs, sig->ninputs, sizeof(*sig->inputs), cmp_tensor_key);
    if (sig->noutputs) qsort(sig->outputs, sig->noutputs, sizeof(*sig->outputs), cmp_tensor_key);
    return !r.error;
}

static int cmp_signature_name(const void *a, const void *b) {
    return strcmp(((const tfb_signature *)a)->name, ((const tfb_signature *)b)->name);
}

roma_code tfb_parse_signatures(const void *meta_graph_def, size_t len, tfb_signature **sigs,
                               size_t *nsigs, roma_err *err) {
    pb_reader r;
    pb_field f;
    tfb_signature *arr = NULL;
    size_t n = 0;
    pb_reader_init(&r, meta_graph_def, len);
    while (pb_next(&r, &f)) {
        if (f.field != 5 || f.wire != PB_BYTES) continue;
        arr = realloc(arr, sizeof(*arr) * (n + 1));
        if (!arr) abort();
        memset(&arr[n], 0, sizeof(arr[n]));
        if (!parse_signature(&f, &arr[n++])) goto malformed;
    }
    if (r.error) goto malformed;
    if (n) qsort(arr, n, sizeof(*arr), cmp_signature_name);
    *sigs = arr;
    *nsigs = n;
    return ROMA_OK;
malformed:
    tfb_signatures_free(arr, n);
    return roma_fail(err, ROMA_DATA_LOSS, "the MetaGraphDef is not a valid protobuf message");
}

static void free_tensors(tfb_tensor_info *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].tensor_name);
        free(t[i].dims);
    }
    free(t);
}

void tfb_signatures_free(tfb_signature *sigs, size_t nsigs) {
    for (size_t i = 0; i < nsigs; i++) {
        free(sigs[i].name);
        free(sigs[i].method_name);
        free_tensors(sigs[i].inputs, sigs[i].ninputs);
        free_tensors(sigs[i].outputs, sigs[i].noutputs);
    }
    free(sigs);
}

/* "op:3" -> the op's output 3 ("op" alone means output 0). */
static int resolve_output(TF_Graph *g, const char *tensor_name, TF_Output *out) {
    char op[512];
    int index = 0;
    const char *colon = strrchr(tensor_name, ':');
    size_t oplen = colon ? (size_t)(colon - tensor_name) : strlen(tensor_name);
    if (oplen >= sizeof(op)) return 0;
    memcpy(op, tensor_name, oplen);
    op[oplen] = '\0';
    if (colon) index = atoi(colon + 1);
    out->oper = TF_GraphOperationByName(g, op);
    out->index = index;
    return out->oper != NULL && index >= 0 && index < TF_OperationNumOutputs(out->oper);
}

/* Resolves every signature's tensors; one that names something other than
 * a plain tensor (sparse or composite tensors, the NoOp of TF2's
 * __saved_model_init_op) is kept for metadata but marked not runnable. */
static void resolve_signatures(tfb_model *m) {
    for (size_t i = 0; i < m->nsigs; i++) {
        tfb_signature *s = &m->sigs[i];
        s->runnable = 1;
        for (size_t k = 0; k < s->ninputs + s->noutputs; k++) {
            tfb_tensor_info *t = k < s->ninputs ? &s->inputs[k] : &s->outputs[k - s->ninputs];
            if (!t->tensor_name || !resolve_output(m->graph, t->tensor_name, &t->output))
                s->runnable = 0;
        }
    }
}

/* ConfigProto: intra_op_parallelism_threads = 2, inter_op = 5,
 * gpu_options = 6 { allow_growth = 4 } so several workers share a GPU,
 * experimental = 16 { disable_thread_spinning = 9 }: under a CPU quota a
 * spinning idle thread burns the quota its busy siblings need (resnet at 1
 * core on 1 CPU, 2 intra-op threads: 31.6 ms of CPU a request spinning,
 * 21.3 ms not). */
static void set_config(TF_SessionOptions *so, const tfb_options *opt, TF_Status *st) {
    roma_buf cfg = ROMA_BUF_INIT;
    if (opt && opt->intra_op_threads > 0) pb_put_uint(&cfg, 2, (uint64_t)opt->intra_op_threads);
    if (opt && opt->inter_op_threads > 0) pb_put_uint(&cfg, 5, (uint64_t)opt->inter_op_threads);
    if (opt && opt->gpu) {
        roma_buf gpu = ROMA_BUF_INIT;
        pb_put_uint(&gpu, 4, 1);
        pb_put_bytes(&cfg, 6, gpu.data, gpu.len);
        roma_buf_free(&gpu);
    }
    if (opt && opt->no_spinning) {
        roma_buf ex = ROMA_BUF_INIT;
        pb_put_uint(&ex, 9, 1);
        pb_put_bytes(&cfg, 16, ex.data, ex.len);
        roma_buf_free(&ex);
    }
    if (cfg.len) TF_SetConfig(so, cfg.data, cfg.len, st);
    roma_buf_free(&cfg);
}

static int session_has_gpu(TF_Session *s, TF_Status *st) {
    TF_DeviceList *list = TF_SessionListDevices(s, st);
    int found = 0;
    if (TF_GetCode(st) != TF_OK) return 0;
    for (int i = 0; i < TF_DeviceListCount(list); i++) {
        const char *type = TF_DeviceListType(list, i, st);
        if (TF_GetCode(st) == TF_OK && strcmp(type, "GPU") == 0) found = 1;
    }
    TF_DeleteDeviceList(list);
    return found;
}

static roma_code load_session(const char *dir, const tfb_options *opt, tfb_model *m,
                              TF_Buffer *meta, TF_Status *st, roma_err *err) {
    const char *tags[] = {"serve"};
    TF_SessionOptions *so = TF_NewSessionOptions();
    set_config(so, opt, st);
    if (TF_GetCode(st) != TF_OK) {
        TF_DeleteSessionOptions(so);
        return roma_fail(err, ROMA_INTERNAL, "session options: %s", TF_Message(st));
    }
    m->session = TF_LoadSessionFromSavedModel(so, NULL, dir, tags, 1, m->graph, meta, st);
    TF_DeleteSessionOptions(so);
    if (TF_GetCode(st) != TF_OK)
        return roma_fail(err, (roma_code)TF_GetCode(st), "cannot load SavedModel '%s': %s", dir,
                         TF_Message(st));
    if (opt && opt->gpu && !session_has_gpu(m->session, st))
        return roma_fail(err, ROMA_FAILED_PRECONDITION,
                         "--device=gpu asked for, but TensorFlow sees no GPU: this TensorFlow "
                         "build has no GPU support (the tensorflow-cpu wheel) or the GPU is "
                         "not visible; use --device=cpu or install TensorFlow with CUDA");
    return ROMA_OK;
}

roma_code tfb_model_load(const char *export_dir, const tfb_options *opt, tfb_model **out,
                         roma_err *err) {
    tfb_model *m = calloc(1, sizeof(*m));
    TF_Status *st = TF_NewStatus();
    TF_Buffer *meta = TF_NewBuffer();
    if (!m) abort();
    m->graph = TF_NewGraph();
    roma_code rc = load_session(export_dir, opt, m, meta, st, err);
    if (rc == ROMA_OK)
        rc = tfb_parse_signatures(meta->data, meta->length, &m->sigs, &m->nsigs, err);
    if (rc == ROMA_OK) resolve_signatures(m);
    TF_DeleteBuffer(meta);
    TF_DeleteStatus(st);
    if (rc != ROMA_OK) {
        tfb_model_free(m);
        return rc;
    }
    *out = m;
    return ROMA_OK;
}

void tfb_model_free(tfb_model *m) {
    if (!m) return;
    if (m->session) {
        TF_Status *st = TF_NewStatus();
        TF_CloseSession(m->session, st);
        TF_DeleteSession(m->session, st);
        TF_DeleteStatus(st);
    }
    TF_DeleteGraph(m->graph);
    tfb_signatures_free(m->sigs, m->nsigs);
    free(m);
}

size_t tfb_model_signature_count(const tfb_model *m) { return m->nsigs; }

const tfb_signature *tfb_model_signature(const tfb_model *m, size_t i) { return &m->sigs[i]; }

const tfb_signature *tfb_model_find_signature(const tfb_model *m, const char *name) {
    tfb_signature key = {.name = (char *)name};
    if (m->nsigs == 0) return NULL; /* bsearch wants a real array */
    return bsearch(&key, m->sigs, m->nsigs, sizeof(*m->sigs), cmp_signature_name);
}

int tfb_find_tensor(const tfb_tensor_info *infos, size_t n, const char *key) {
    tfb_tensor_info probe = {.key = (char *)key};
    if (n == 0) return -1;
    const tfb_tensor_info *t = bsearch(&probe, infos, n, sizeof(*infos), cmp_tensor_key);
    return t ? (int)(t - infos) : -1;
}

static __thread double thread_run_seconds;

double tfb_thread_run_seconds(void) { return thread_run_seconds; }

roma_code tfb_run(tfb_model *m, const tfb_signature *sig, TF_Tensor *const *inputs,
                  TF_Tensor **outputs, roma_err *err) {
    TF_Output in_ops[64], out_ops[64];
    if (!sig->runnable)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "signature '%s' cannot be run: one of its tensors is not a plain graph "
                         "tensor (sparse and composite tensors are not supported)",
                         sig->name);
    if (sig->ninputs > 64 || sig->noutputs > 64)
        return roma_fail(err, ROMA_UNIMPLEMENTED, "signature '%s' has more than 64 tensors",
                         sig->name);
    for (size_t i = 0; i < sig->ninputs; i++) in_ops[i] = sig->inputs[i].output;
    for (size_t i = 0; i < sig->noutputs; i++) out_ops[i] = sig->outputs[i].output;
    TF_Status *st = TF_NewStatus();
    double start = roma_now();
    TF_SessionRun(m->session, NULL, in_ops, inputs, (int)sig->ninputs, out_ops, outputs,
                  (int)sig->noutputs, NULL, 0, NULL, st);
    thread_run_seconds += roma_now() - start;
    roma_code rc = (roma_code)TF_GetCode(st);
    if (rc != ROMA_OK) roma_fail(err, rc, "%s", TF_Message(st));
    TF_DeleteStatus(st);
    return rc;
}

const char *tfb_dtype_name(TF_DataType t) {
    switch (t) {
    case TF_FLOAT: return "DT_FLOAT";
    case TF_DOUBLE: return "DT_DOUBLE";
    case TF_INT32: return "DT_INT32";
    case TF_UINT8: return "DT_UINT8";
    case TF_INT16: return "DT_INT16";
    case TF_INT8: return "DT_INT8";
    case TF_STRING: return "DT_STRING";
    case TF_COMPLEX64: return "DT_COMPLEX64";
    case TF_INT64: return "DT_INT64";
    case TF_BOOL: return "DT_BOOL";
    case TF_BFLOAT16: return "DT_BFLOAT16";
    case TF_UINT16: return "DT_UINT16";
    case TF_COMPLEX128: return "DT_COMPLEX128";
    case TF_HALF: return "DT_HALF";
    case TF_RESOURCE: return "DT_RESOURCE";
    case TF_VARIANT: return "DT_VARIANT";
    case TF_UINT32: return "DT_UINT32";
    case TF_UINT64: return "DT_UINT64";
    default: return "DT_INVALID";
    }
}

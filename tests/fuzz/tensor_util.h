/* tensor_util.h - comparing and building tensors in the JSON harnesses
 * (fuzz_json_tensor.c, fuzz_json_fast.c); header only. */
#ifndef ROMA_FUZZ_TENSOR_UTIL_H
#define ROMA_FUZZ_TENSOR_UTIL_H

#include "fuzz.h"

#include "worker/json_tensor.h"

/* Every dtype json_tensor converts. */
static const TF_DataType fuzz_dtypes[] = {
    TF_FLOAT,  TF_DOUBLE, TF_INT32,  TF_INT64,  TF_UINT8,  TF_INT8,
    TF_INT16,  TF_UINT16, TF_UINT32, TF_UINT64, TF_BOOL,   TF_STRING,
};
#define FUZZ_NDTYPES (sizeof(fuzz_dtypes) / sizeof(fuzz_dtypes[0]))

static inline size_t fuzz_elements(const TF_Tensor *t) {
    size_t n = 1;
    for (int d = 0; d < TF_NumDims(t); d++) n *= (size_t)TF_Dim(t, d);
    return n;
}

/* 1 when a and b have the same dtype, the same shape (or both no
 * elements, when shapes_of_empty is 0: JSON writes [[], []] and [] for
 * every empty tensor) and the same elements, byte for byte. */
static inline int fuzz_same_tensor(const TF_Tensor *a, const TF_Tensor *b, int shapes_of_empty) {
    size_t n = fuzz_elements(a);
    if (TF_TensorType(a) != TF_TensorType(b) || n != fuzz_elements(b)) return 0;
    if (n > 0 || shapes_of_empty) {
        if (TF_NumDims(a) != TF_NumDims(b)) return 0;
        for (int d = 0; d < TF_NumDims(a); d++)
            if (TF_Dim(a, d) != TF_Dim(b, d)) return 0;
    }
    if (TF_TensorType(a) != TF_STRING)
        return TF_TensorByteSize(a) == TF_TensorByteSize(b) &&
               (n == 0 || memcmp(TF_TensorData(a), TF_TensorData(b), TF_TensorByteSize(a)) == 0);
    const TF_TString *sa = TF_TensorData(a), *sb = TF_TensorData(b);
    for (size_t i = 0; i < n; i++) {
        size_t la = TF_StringGetSize(&sa[i]), lb = TF_StringGetSize(&sb[i]);
        if (la != lb || memcmp(TF_StringGetDataPointer(&sa[i]), TF_StringGetDataPointer(&sb[i]), la))
            return 0;
    }
    return 1;
}

#endif

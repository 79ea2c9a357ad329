/* fuzz_proto.c - the protobuf wire format (src/tf/proto.h) and the
 * MetaGraphDef reader built on it (tfb_parse_signatures, src/tf/tfb.h).
 *
 * Checks: reading any bytes ends (nested messages too) without reading
 * past the input; a message read without error, written back field by
 * field with the pb writer, reads back as the same fields, and writing
 * that again gives the same bytes; signatures parsed from any bytes,
 * written back as a MetaGraphDef, parse to the same signatures. */
#include "fuzz.h"

#include "tf/proto.h"
#include "tf/tfb.h"

#define MAX_DEPTH 8

static void put_fixed(roma_buf *b, const pb_field *f) {
    uint8_t le[8];
    size_t n = f->wire == PB_FIXED32 ? 4 : 8;
    for (size_t i = 0; i < n; i++) le[i] = (uint8_t)(f->u >> (8 * i));
    pb_put_key(b, f->field, f->wire);
    roma_buf_append(b, le, n);
}

/* Writes the fields of r into out; returns r's error. */
static int rewrite(pb_reader r, roma_buf *out) {
    pb_field f;
    while (pb_next(&r, &f)) {
        FUZZ_CHECK(f.wire == PB_VARINT || f.wire == PB_FIXED64 || f.wire == PB_FIXED32 ||
                       f.wire == PB_BYTES, "wire type %d returned", f.wire);
        if (f.wire == PB_VARINT) pb_put_uint(out, f.field, f.u);
        else if (f.wire == PB_BYTES) pb_put_bytes(out, f.field, f.bytes, f.len);
        else put_fixed(out, &f);
    }
    return r.error;
}

static int same_field(const pb_field *a, const pb_field *b) {
    return a->field == b->field && a->wire == b->wire && a->u == b->u && a->len == b->len &&
           (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
}

/* Walks every bytes field as a possible nested message, to MAX_DEPTH. */
static void walk(pb_reader r, const uint8_t *lo, const uint8_t *hi, int depth) {
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.wire != PB_BYTES) continue;
        FUZZ_CHECK(f.bytes >= lo && f.bytes + f.len <= hi, "bytes field outside the input");
        if (depth < MAX_DEPTH) walk(pb_sub(&f), lo, hi, depth + 1);
    }
}

static void check_wire_round_trip(const uint8_t *data, size_t size) {
    pb_reader r;
    roma_buf once = ROMA_BUF_INIT, twice = ROMA_BUF_INIT;
    pb_reader_init(&r, data, size);
    walk(r, data, data + size, 0);
    if (rewrite(r, &once) != 0) {
        roma_buf_free(&once);
        return;
    }
    pb_reader a, b;
    pb_field fa, fb;
    pb_reader_init(&a, data, size);
    pb_reader_init(&b, once.data, once.len);
    for (;;) {
        int na = pb_next(&a, &fa), nb = pb_next(&b, &fb);
        FUZZ_CHECK(na == nb, "written back: %d fields vs %d", na, nb);
        if (!na) break;
        FUZZ_CHECK(same_field(&fa, &fb), "field %d read back differently", fa.field);
    }
    FUZZ_CHECK(a.error == 0 && b.error == 0, "errors %d %d", a.error, b.error);
    pb_reader_init(&b, once.data, once.len);
    FUZZ_CHECK(rewrite(b, &twice) == 0, "own output malformed");
    FUZZ_CHECK(once.len == twice.len && (once.len == 0 || !memcmp(once.data, twice.data, once.len)),
               "writing is not canonical");
    roma_buf_free(&once);
    roma_buf_free(&twice);
}

/* ---- MetaGraphDef signatures ------------------------------------------ */

static void put_string(roma_buf *b, int field, const char *s) {
    pb_put_bytes(b, field, s, strlen(s));
}

static void put_tensor(roma_buf *sig, int field, const tfb_tensor_info *t) {
    roma_buf info = ROMA_BUF_INIT, shape = ROMA_BUF_INIT, entry = ROMA_BUF_INIT;
    if (t->tensor_name) put_string(&info, 1, t->tensor_name);
    if (t->dtype) pb_put_uint(&info, 2, (uint64_t)t->dtype);
    for (int d = 0; d < t->ndims; d++) {
        roma_buf dim = ROMA_BUF_INIT;
        pb_put_uint(&dim, 1, (uint64_t)t->dims[d]);
        pb_put_bytes(&shape, 2, dim.data, dim.len);
        roma_buf_free(&dim);
    }
    if (t->unknown_rank) pb_put_uint(&shape, 3, 1);
    if (shape.len) pb_put_bytes(&info, 3, shape.data, shape.len);
    put_string(&entry, 1, t->key);
    pb_put_bytes(&entry, 2, info.data ? info.data : "", info.len);
    pb_put_bytes(sig, field, entry.data, entry.len);
    roma_buf_free(&info);
    roma_buf_free(&shape);
    roma_buf_free(&entry);
}

static void put_signatures(roma_buf *out, const tfb_signature *sigs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        roma_buf def = ROMA_BUF_INIT, entry = ROMA_BUF_INIT;
        for (size_t k = 0; k < sigs[i].ninputs; k++) put_tensor(&def, 1, &sigs[i].inputs[k]);
        for (size_t k = 0; k < sigs[i].noutputs; k++) put_tensor(&def, 2, &sigs[i].outputs[k]);
        put_string(&def, 3, sigs[i].method_name);
        put_string(&entry, 1, sigs[i].name);
        pb_put_bytes(&entry, 2, def.data, def.len);
        pb_put_bytes(out, 5, entry.data, entry.len);
        roma_buf_free(&def);
        roma_buf_free(&entry);
    }
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_tensors(const tfb_tensor_info *a, const tfb_tensor_info *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!same_str(a[i].key, b[i].key) || !same_str(a[i].tensor_name, b[i].tensor_name) ||
            a[i].dtype != b[i].dtype || a[i].unknown_rank != b[i].unknown_rank ||
            a[i].ndims != b[i].ndims)
            return 0;
        for (int d = 0; d < a[i].ndims; d++)
            if (a[i].dims[d] != b[i].dims[d]) return 0;
    }
    return 1;
}

/* Equal names or keys sort in any order (qsort is not stable), so the
 * comparison is made only where they are unique. */
static int unique(const tfb_signature *sigs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(sigs[i - 1].name, sigs[i].name) == 0) return 0;
        for (size_t k = 1; k < sigs[i].ninputs; k++)
            if (strcmp(sigs[i].inputs[k - 1].key, sigs[i].inputs[k].key) == 0) return 0;
        for (size_t k = 1; k < sigs[i].noutputs; k++)
            if (strcmp(sigs[i].outputs[k - 1].key, sigs[i].outputs[k].key) == 0) return 0;
    }
    return 1;
}

static void check_signatures(const uint8_t *data, size_t size) {
    tfb_signature *sigs, *back;
    size_t n, nback;
    roma_err err;
    if (tfb_parse_signatures(data, size, &sigs, &n, &err) != ROMA_OK) return;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(sigs[i].name && sigs[i].method_name, "signature without name");
        if (i) FUZZ_CHECK(strcmp(sigs[i - 1].name, sigs[i].name) <= 0, "not sorted");
    }
    roma_buf out = ROMA_BUF_INIT;
    put_signatures(&out, sigs, n);
    FUZZ_CHECK(tfb_parse_signatures(out.data, out.len, &back, &nback, &err) == ROMA_OK,
               "own MetaGraphDef refused: %s", err.msg);
    FUZZ_CHECK(nback == n, "%zu signatures came back as %zu", n, nback);
    if (unique(sigs, n))
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(same_str(sigs[i].name, back[i].name) &&
                           same_str(sigs[i].method_name, back[i].method_name),
                       "signature %zu renamed", i);
            FUZZ_CHECK(sigs[i].ninputs == back[i].ninputs && sigs[i].noutputs == back[i].noutputs,
                       "signature '%s' tensor counts changed", sigs[i].name);
            FUZZ_CHECK(same_tensors(sigs[i].inputs, back[i].inputs, sigs[i].ninputs) &&
                           same_tensors(sigs[i].outputs, back[i].outputs, sigs[i].noutputs),
                       "signature '%s' tensors changed", sigs[i].name);
        }
    roma_buf_free(&out);
    tfb_signatures_free(sigs, n);
    tfb_signatures_free(back, nback);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_wire_round_trip(data, size);
    check_signatures(data, size);
    return 0;
}

/* proto.c - see proto.h. */
#include "proto.h"

#include <string.h>

void pb_reader_init(pb_reader *r, const void *data, size_t len) {
    r->p = data;
    r->end = len ? r->p + len : r->p; /* data may be NULL when len is 0 (NULL + 0 is UB) */
    r->error = 0;
}

static int read_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) break;
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 1;
        }
    }
    r->error = 1;
    return 0;
}

static int read_fixed(pb_reader *r, size_t n, uint64_t *out) {
    if ((size_t)(r->end - r->p) < n) return r->error = 1, 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *out = v;
    return 1;
}

int pb_next(pb_reader *r, pb_field *f) {
    uint64_t key;
    if (r->error || r->p >= r->end || !read_varint(r, &key)) return 0;
    memset(f, 0, sizeof(*f));
    f->field = (int)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case PB_VARINT: return read_varint(r, &f->u);
    case PB_FIXED64: return read_fixed(r, 8, &f->u);
    case PB_FIXED32: return read_fixed(r, 4, &f->u);
    case PB_BYTES: {
        uint64_t len;
        if (!read_varint(r, &len)) return 0;
        if (len > (uint64_t)(r->end - r->p)) return r->error = 1, 0;
        f->bytes = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: /* groups (3, 4) are not used by any message ROMA reads */
        r->error = 1;
        return 0;
    }
}

pb_reader pb_sub(const pb_field *f) {
    pb_reader r;
    pb_reader_init(&r, f->bytes, f->len);
    return r;
}

void pb_put_varint(roma_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    roma_buf_append(b, tmp, n);
}

void pb_put_key(roma_buf *b, int field, int wire) {
    pb_put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void pb_put_uint(roma_buf *b, int field, uint64_t v) {
    pb_put_key(b, field, PB_VARINT);
    pb_put_varint(b, v);
}

void pb_put_bytes(roma_buf *b, int field, const void *data, size_t len) {
    pb_put_key(b, field, PB_BYTES);
    pb_put_varint(b, len);
    roma_buf_append(b, data, len);
}

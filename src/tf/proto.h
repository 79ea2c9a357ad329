/* proto.h - the protobuf wire format, read and written by hand.
 *
 * ROMA needs exactly four protobuf messages: it reads SignatureDefs out of
 * the MetaGraphDef that TF_LoadSessionFromSavedModel returns, and it writes
 * a ConfigProto (thread counts) and tf.Example records (classify/regress).
 * The wire format is five rules (varint, 64-bit, length-delimited, 32-bit,
 * field keys), so a 150-line reader/writer is simpler than generating C from
 * TensorFlow's whole .proto tree with protoc-c and carrying the result.
 *
 * A reader is a cursor over a caller-owned byte range; nothing is copied.
 */
#ifndef ROMA_PROTO_H
#define ROMA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_BYTES = 2, PB_FIXED32 = 5 };

typedef struct {
    const uint8_t *p, *end;
    int error; /* set once the input is found malformed; sticky */
} pb_reader;

typedef struct {
    int field, wire;
    uint64_t u;           /* PB_VARINT, PB_FIXED64, PB_FIXED32 */
    const uint8_t *bytes; /* PB_BYTES: points into the reader's input */
    size_t len;
} pb_field;

void pb_reader_init(pb_reader *r, const void *data, size_t len);
/* Reads the next field into f.  Returns 1, or 0 at the end of the input or
 * on malformed input (then r->error is set). */
int pb_next(pb_reader *r, pb_field *f);
/* A reader over a PB_BYTES field's contents (an embedded message). */
pb_reader pb_sub(const pb_field *f);

void pb_put_varint(roma_buf *b, uint64_t v);
void pb_put_key(roma_buf *b, int field, int wire);
void pb_put_uint(roma_buf *b, int field, uint64_t v);
void pb_put_bytes(roma_buf *b, int field, const void *data, size_t len);

#endif

/* buf.h - a growable byte buffer, the one way ROMA builds text and bytes.
 *
 * Responses, protobuf messages and log lines are appended into a roma_buf;
 * the buffer always keeps a NUL after its data so it can be used as a C
 * string.  Allocation failure aborts: a server that cannot allocate a few
 * kilobytes cannot answer anything sensible anyway.
 */
#ifndef ROMA_BUF_H
#define ROMA_BUF_H

#include <stddef.h>

typedef struct {
    char *data; /* owned; NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} roma_buf;

#define ROMA_BUF_INIT {NULL, 0, 0}

void roma_buf_reserve(roma_buf *b, size_t extra);
void roma_buf_append(roma_buf *b, const void *data, size_t len);
void roma_buf_puts(roma_buf *b, const char *s);
void roma_buf_putc(roma_buf *b, char c);
void roma_buf_printf(roma_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes and escapes included). */
void roma_buf_json_string(roma_buf *b, const char *s, size_t len);
/* Gives up ownership of the data to the caller (free() it); b is reset. */
char *roma_buf_detach(roma_buf *b, size_t *len);
void roma_buf_free(roma_buf *b);

#endif

/* buf.c - see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void roma_buf_reserve(roma_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    int fresh = b->data == NULL;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) abort();
    b->data = p;
    b->cap = cap;
    if (fresh) b->data[0] = '\0'; /* the promise of buf.h: always a C string */
}

void roma_buf_append(roma_buf *b, const void *data, size_t len) {
    roma_buf_reserve(b, len);
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void roma_buf_puts(roma_buf *b, const char *s) { roma_buf_append(b, s, strlen(s)); }

void roma_buf_putc(roma_buf *b, char c) { roma_buf_append(b, &c, 1); }

void roma_buf_printf(roma_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        roma_buf_append(b, small, (size_t)n);
        return;
    }
    roma_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void roma_buf_json_string(roma_buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    roma_buf_reserve(b, len + 2);
    roma_buf_putc(b, '"');
    size_t run = 0; /* bytes copied verbatim in one go: the common case */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        roma_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': roma_buf_puts(b, "\\\""); break;
        case '\\': roma_buf_puts(b, "\\\\"); break;
        case '\n': roma_buf_puts(b, "\\n"); break;
        case '\r': roma_buf_puts(b, "\\r"); break;
        case '\t': roma_buf_puts(b, "\\t"); break;
        default: {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            roma_buf_puts(b, esc);
        }
        }
    }
    roma_buf_append(b, s + run, len - run);
    roma_buf_putc(b, '"');
}

char *roma_buf_detach(roma_buf *b, size_t *len) {
    if (!b->data) roma_buf_reserve(b, 0);
    char *p = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void roma_buf_free(roma_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

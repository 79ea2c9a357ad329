/* b64.c - see b64.h. */
#include "b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void roma_b64_encode(roma_buf *out, const void *data, size_t len) {
    const unsigned char *p = data;
    roma_buf_reserve(out, (len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len) v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63],
                     i + 1 < len ? alphabet[(v >> 6) & 63] : '=',
                     i + 2 < len ? alphabet[v & 63] : '='};
        roma_buf_append(out, q, 4);
    }
}

static int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int roma_b64_decode(roma_buf *out, const char *text, size_t len) {
    while (len > 0 && text[len - 1] == '=') len--;
    if (len % 4 == 1) return -1;
    roma_buf_reserve(out, len / 4 * 3 + 3);
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int s = sextet(text[i]);
        if (s < 0) return -1;
        v = (v << 6) | (unsigned)s;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            roma_buf_putc(out, (char)((v >> bits) & 0xff));
        }
    }
    return 0;
}

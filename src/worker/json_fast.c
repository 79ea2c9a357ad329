/* json_fast.c - see json_fast.h.
 *
 * Numbers are read with Clinger's fast path: a decimal with at most 19
 * significant digits whose mantissa is below 2^53 and whose power of ten is
 * within +-22 is exactly m * 10^e or m / 10^-e in one correctly rounded
 * double operation; any other number goes to strtod.  Either way the double
 * is the correctly rounded value, as a JSON library would produce.
 */
#include "json_fast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    jf_request *req;
    size_t cap;
    int leaf_depth;                  /* depth of the numbers, -1 until seen */
    int integers_only, big_integers, beyond_float; /* see jf_request */
    int64_t counted[JF_MAX_DIMS];    /* the length seen first at each depth */
} scanner;

static void skip_ws(scanner *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* jansson refuses a number that overflows a double ("real number
 * overflow"), so the fast path declines it and lets jansson word the error;
 * one that overflows only a float is refused later, for float tensors. */
static int slow_number(scanner *s, const char *start, size_t n, double *out) {
    char tmp[64];
    if (n >= sizeof(tmp)) return 0;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    if (isinf(*out)) return 0;
    if (isinf((float)*out)) s->beyond_float = 1;
    return 1;
}

/* The body ends in a NUL (jf_parse's contract), which is no digit, so the
 * digit loops need no end checks. */
static int scan_number(scanner *s, double *out) {
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *start = s->p, *p = s->p;
    uint64_t m = 0;
    int digits = 0, exp10 = 0, neg = 0, integer = 1;
    if (*p == '-') neg = 1, p++;
    if (!is_digit(*p)) return 0;
    if (*p == '0' && is_digit(p[1])) return 0; /* no leading zeros */
    for (; is_digit(*p); p++, digits++) m = m * 10 + (uint64_t)(*p - '0');
    if (*p == '.') {
        const char *frac = ++p;
        integer = 0;
        for (; is_digit(*p); p++) m = m * 10 + (uint64_t)(*p - '0');
        if (p == frac) return 0;
        digits += (int)(p - frac);
        exp10 -= (int)(p - frac);
    }
    if (*p == 'e' || *p == 'E') {
        int esign = 1, e = 0;
        integer = 0;
        p++;
        if (*p == '+' || *p == '-') esign = *p++ == '-' ? -1 : 1;
        if (!is_digit(*p)) return 0;
        for (; is_digit(*p); p++) e = e < 100000 ? e * 10 + (*p - '0') : e;
        exp10 += esign * e;
    }
    s->p = p;
    if (p > s->end) return 0;
    if (!integer || digits > 15) s->integers_only = 0;
    if (integer && (digits > 8 || m > (1u << 24))) s->big_integers = 1;
    if (digits > 19 || m > (1ULL << 53) || exp10 < -22 || exp10 > 22)
        return slow_number(s, start, (size_t)(p - start), out);
    double v = exp10 < 0 ? (double)m / pow10[-exp10] : (double)m * pow10[exp10];
    /* jansson reads "-0" as the integer 0, which becomes +0.0 */
    *out = neg && !(integer && m == 0) ? -v : v;
    return 1;
}

static int push_value(scanner *s, double v) {
    jf_request *r = s->req;
    if (r->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        double *grown = realloc(r->values, s->cap * sizeof(double));
        if (!grown) return 0;
        r->values = grown;
    }
    r->values[r->count++] = v;
    return 1;
}

/* A nested list of numbers, every list at one depth of one length. */
static int scan_list(scanner *s, int depth) {
    int64_t n = 0;
    if (depth >= JF_MAX_DIMS || s->p >= s->end || *s->p != '[') return 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') return 0; /* empty lists: general path */
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == '[') {
            if (s->leaf_depth >= 0 && s->leaf_depth <= depth) return 0;
            if (!scan_list(s, depth + 1)) return 0;
        } else {
            double v;
            if (s->leaf_depth < 0) s->leaf_depth = depth + 1;
            if (s->leaf_depth != depth + 1 || !scan_number(s, &v) || !push_value(s, v)) return 0;
        }
        n++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') break;
        return 0;
    }
    s->p++;
    if (s->counted[depth] == 0) s->counted[depth] = n;
    return s->counted[depth] == n;
}

/* A string without escapes (anything else is left to the general path). */
static int scan_plain_string(scanner *s, const char **start, size_t *len) {
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *q = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\' || (unsigned char)*s->p < 0x20) return 0;
        s->p++;
    }
    if (s->p >= s->end) return 0;
    *start = q;
    *len = (size_t)(s->p++ - q);
    return 1;
}

static int scan_member(scanner *s, int *have_tensor) {
    const char *key, *val;
    size_t klen, vlen;
    if (!scan_plain_string(s, &key, &klen)) return 0;
    skip_ws(s);
    if (s->p >= s->end || *s->p++ != ':') return 0;
    skip_ws(s);
    if (klen == 14 && memcmp(key, "signature_name", 14) == 0) {
        if (s->req->signature_name || !scan_plain_string(s, &val, &vlen)) return 0;
        s->req->signature_name = strndup(val, vlen);
        return s->req->signature_name != NULL;
    }
    int row = klen == 9 && memcmp(key, "instances", 9) == 0;
    if (!row && !(klen == 6 && memcmp(key, "inputs", 6) == 0)) return 0;
    if (*have_tensor) return 0;
    *have_tensor = 1;
    s->req->format = row ? JT_ROW : JT_COLUMNAR;
    return scan_list(s, 0);
}

static int scan_body(scanner *s) {
    int have_tensor = 0;
    skip_ws(s);
    if (s->p >= s->end || *s->p++ != '{') return 0;
    for (;;) {
        skip_ws(s);
        if (!scan_member(s, &have_tensor)) return 0;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p >= s->end || *s->p++ != '}') return 0;
        skip_ws(s);
        return have_tensor && s->p == s->end;
    }
}

int jf_parse(const char *body, size_t len, jf_request *req) {
    scanner s = {body, body + len, req, 0, -1, 1, 0, 0, {0}};
    memset(req, 0, sizeof(*req));
    if (body[len] != '\0') return 0; /* the contract: see json_fast.h */
    /* Every number takes at least two bytes ("1,"): room for all of them
     * up front, so the scan never reallocates. */
    s.cap = len / 2 + 1;
    req->values = malloc(s.cap * sizeof(double));
    if (!req->values || !scan_body(&s)) {
        jf_free(req);
        return 0;
    }
    req->ndims = s.leaf_depth;
    req->integers_only = s.integers_only;
    req->big_integers = s.big_integers;
    req->beyond_float = s.beyond_float;
    memcpy(req->dims, s.counted, sizeof(int64_t) * (size_t)req->ndims);
    return 1;
}

void jf_free(jf_request *req) {
    free(req->values);
    free(req->signature_name);
    memset(req, 0, sizeof(*req));
}

int jf_fits(const jf_request *req, TF_DataType dtype) {
    long long lo, hi;
    if (dtype == TF_FLOAT) return !req->big_integers && !req->beyond_float;
    if (dtype == TF_DOUBLE) return !req->big_integers;
    /* integers_only caps numbers at 15 digits, so every value is an exact
     * double and the comparisons below are exact. */
    if (!jt_int_range(dtype, &lo, &hi) || !req->integers_only) return 0;
    for (size_t i = 0; i < req->count; i++)
        if (req->values[i] < (double)lo || req->values[i] > (double)hi) return 0;
    return 1;
}

TF_Tensor *jf_to_tensor(const jf_request *req, TF_DataType dtype) {
    size_t n = req->count;
    TF_Tensor *t = TF_AllocateTensor(dtype, req->dims, req->ndims, n * jt_elem_size(dtype));
    void *d = TF_TensorData(t);
    for (size_t i = 0; i < n; i++) {
        double v = req->values[i];
        if (dtype == TF_FLOAT) ((float *)d)[i] = (float)v;
        else if (dtype == TF_DOUBLE) ((double *)d)[i] = v;
        else jt_store_int(dtype, d, i, (long long)v);
    }
    return t;
}

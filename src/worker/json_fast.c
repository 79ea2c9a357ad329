/* json_fast.c - see json_fast.h.
 *
 * Numbers are read with Clinger's fast path: a decimal with at most 19
 * significant digits whose mantissa is below 2^53 and whose power of ten is
 * within +-22 is exactly m * 10^e or m / 10^-e in one correctly rounded
 * double operation; any other number goes to strtod.  Either way the double
 * is the correctly rounded value, as a JSON library would produce.
 */
#include "json_fast.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    jf_request *req;
    size_t cap;                      /* numbers req->values has room for */
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

/* Any JSON number; the body ends in a NUL (jf_parse's contract), which is
 * no digit, so the digit loops need no end checks. */
static int scan_number_general(scanner *s, double *out) {
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

/* The general path's number for a float tensor is the double cast. */
static void store_value(scanner *s, size_t i, double v) {
    if (s->req->floats) s->req->floats[i] = (float)v;
    else s->req->values[i] = v;
}

/* ---- the short-number path ----------------------------------------------
 * Image bodies are ~10^5 numbers like -0.733: a sign, a few digits, a
 * point, a few digits.  Such numbers are read eight bytes at a time, with
 * no branch on the sign or the digit counts (on this data those branches
 * mispredict often; a mispredict costs about what a whole number should):
 * a mask finds the first non-digit, and the digits are summed by three
 * multiplications (the SWAR method of simdjson's parse_eight_digits). */

static uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* The count of leading ASCII digits in w (memory order), 8 when all are.
 * Bytes after the first non-digit may be flagged wrongly (a borrow or carry
 * runs into them), which ctz never looks at. */
static int leading_digits(uint64_t w) {
    uint64_t nondigit = ((w - 0x3030303030303030ULL) | (w + 0x4646464646464646ULL)) &
                        0x8080808080808080ULL;
    return nondigit ? __builtin_ctzll(nondigit) / 8 : 8;
}

/* The count of leading bytes of w that can be part of a short number
 * (0x2d-0x39: "-./0123456789"), 8 when all can. */
static int number_length(uint64_t w) {
    uint64_t other = ((w - 0x2d2d2d2d2d2d2d2dULL) | (w + 0x4646464646464646ULL)) &
                     0x8080808080808080ULL;
    return other ? __builtin_ctzll(other) / 8 : 8;
}

/* The value of the first n (1..8) digits of w. */
static uint64_t digits_value(uint64_t w, int n) {
    uint64_t v = (w - 0x3030303030303030ULL) << (64 - 8 * n); /* as if led by zeros */
    v = v * 10 + (v >> 8);                                    /* pairs */
    v = ((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32)) +
         ((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32))) >> 32;
    return (uint32_t)v;
}

/* The float nearest the double nearest m / 10^k (what the general path
 * stores), without a division: divsd is the slowest step of a short number.
 * m * 10^-k is within a few units in the last place of the exact quotient,
 * so it rounds to the same float unless a midpoint between two floats (a
 * double whose low 29 mantissa bits are 1 << 28) lies within those few
 * units; then the division decides.  0 < m < 2^53, k <= 7: no zero, no
 * subnormal, no overflow. */
static float short_quotient_float(uint64_t m, int k) {
    static const double inv10[] = {1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
    double q = (double)(int64_t)m * inv10[k];
    uint64_t bits;
    memcpy(&bits, &q, sizeof(bits));
    int64_t from_midpoint = (int64_t)(bits & ((1u << 29) - 1)) - (1 << 28);
    if (from_midpoint < -16 || from_midpoint > 16) return (float)q;
    return (float)((double)(int64_t)m / pow10[k]);
}

/* A number of 1-7 integer digits and an optional 1-7 digit fraction, no
 * exponent, stored at s->req->values[i]; returns 0, having read nothing,
 * for any other (or when fewer than 24 bytes are left: it reads 16 past
 * the number's start).
 *
 * Where the next number starts is what bounds the speed: computed from the
 * digit counts, each number would wait for the last one's (~40 cycles of
 * dependent steps).  So the end is found apart from the value, as the
 * first byte that cannot be in a short number, and the value's own end only
 * checked against it; the checks are branches the CPU predicts, which do
 * not make it wait. */
static int scan_short_number(scanner *s, size_t i) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
    static const uint64_t upow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    const char *p = s->p;
    if (s->end - p < 24) return 0;
    const char *end = p + number_length(load8(p));
    if ((*end | 0x20) == 'e') return 0;
    int neg = *p == '-';
    p += neg;
    uint64_t whole = load8(p);
    int ni = leading_digits(whole);
    if (ni == 0 || ni == 8 || (ni > 1 && *p == '0')) return 0;
    double v;
    if (p[ni] == '.') {
        uint64_t frac = load8(p + ni + 1);
        int nf = leading_digits(frac);
        p += ni + 1 + nf;
        if (nf == 0 || nf == 8 || p != end) return 0;
        s->integers_only = 0;
        s->p = end;
        /* below 10^14 < 2^53 and over an exact power of ten: one correctly
         * rounded division, as in Clinger's fast path */
        uint64_t m = digits_value(whole, ni) * upow10[nf] + digits_value(frac, nf);
        if (s->req->floats && m != 0) {
            float f = short_quotient_float(m, nf);
            s->req->floats[i] = neg ? -f : f;
            return 1;
        }
        v = (double)(int64_t)m / pow10[nf];
        v = neg ? -v : v;
    } else {
        if (p + ni != end) return 0;
        int64_t m = (int64_t)digits_value(whole, ni); /* below 2^24: no big integer */
        v = (double)(neg ? -m : m);                   /* -0 is the integer 0 */
        s->p = end;
    }
    store_value(s, i, v);
    return 1;
}

static int scan_number(scanner *s) {
    size_t i = s->req->count++;
    double v;
    assert(i < s->cap);
    if (scan_short_number(s, i)) return 1;
    if (!scan_number_general(s, &v)) return 0;
    store_value(s, i, v);
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
            if (s->leaf_depth < 0) s->leaf_depth = depth + 1;
            if (s->leaf_depth != depth + 1 || !scan_number(s)) return 0;
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

/* Room for every number the body could hold, at TensorFlow's alignment so
 * that jf_to_tensor can hand the memory to the tensor as it is.  Every
 * number takes at least two bytes ("1,"); the pages past the last number
 * are never touched. */
static void *alloc_numbers(size_t len, size_t elem, size_t *cap) {
    size_t align = 64;
    *cap = len / 2 + 1;
    return aligned_alloc(align, (*cap * elem + align - 1) / align * align);
}

int jf_parse(const char *body, size_t len, TF_DataType dtype, jf_request *req) {
    scanner s = {body, body + len, req, 0, -1, 1, 0, 0, {0}};
    memset(req, 0, sizeof(*req));
    if (body[len] != '\0') return 0; /* the contract: see json_fast.h */
    if (dtype == TF_FLOAT) req->floats = alloc_numbers(len, sizeof(float), &s.cap);
    else req->values = alloc_numbers(len, sizeof(double), &s.cap);
    if ((!req->floats && !req->values) || !scan_body(&s)) {
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
    free(req->floats);
    free(req->signature_name);
    memset(req, 0, sizeof(*req));
}

int jf_fits(const jf_request *req, TF_DataType dtype) {
    long long lo, hi;
    if ((dtype == TF_FLOAT) != (req->floats != NULL)) return 0; /* parsed for another */
    if (dtype == TF_FLOAT) return !req->big_integers && !req->beyond_float;
    if (dtype == TF_DOUBLE) return !req->big_integers;
    /* integers_only caps numbers at 15 digits, so every value is an exact
     * double and the comparisons below are exact. */
    if (!jt_int_range(dtype, &lo, &hi) || !req->integers_only) return 0;
    for (size_t i = 0; i < req->count; i++)
        if (req->values[i] < (double)lo || req->values[i] > (double)hi) return 0;
    return 1;
}

static void free_numbers(void *data, size_t len, void *arg) {
    (void)len, (void)arg;
    free(data);
}

TF_Tensor *jf_to_tensor(jf_request *req, TF_DataType dtype) {
    size_t n = req->count;
    void *numbers = dtype == TF_FLOAT ? (void *)req->floats : (void *)req->values;
    if (dtype == TF_FLOAT || dtype == TF_DOUBLE) {
        /* already the tensor's bytes: the tensor takes the memory */
        req->floats = NULL;
        req->values = NULL;
        return TF_NewTensor(dtype, req->dims, req->ndims, numbers, n * jt_elem_size(dtype),
                            free_numbers, NULL);
    }
    TF_Tensor *t = TF_AllocateTensor(dtype, req->dims, req->ndims, n * jt_elem_size(dtype));
    void *d = TF_TensorData(t);
    for (size_t i = 0; i < n; i++) jt_store_int(dtype, d, i, (long long)req->values[i]);
    return t;
}

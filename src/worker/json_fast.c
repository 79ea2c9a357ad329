/* json_fast.c - see json_fast.h.
 *
 * Numbers are read with Clinger's fast path: a decimal with at most 19
 * significant digits whose mantissa is below 2^53 and whose power of ten is
 * within +-22 is exactly m * 10^e or m / 10^-e in one correctly rounded
 * double operation; any other number goes to strtod.  Either way the double
 * is the correctly rounded value, as a JSON library would produce.
 *
 * Two threads.  A large body is cut at a ',' near its middle (the first
 * one after the middle that a list element follows).  The helper thread
 * parses from the cut to where the tensor's outermost list closes (the
 * "tail"), not knowing how deep in the nesting it starts: it numbers its
 * lists from JF_MAX_DIMS down, counts how many lists it closes that it did
 * not open, and writes its numbers into its own region of the output.  The
 * calling thread parses from the start; when it meets the cut as the
 * separator of a list at depth d, it waits for the tail and joins it: the
 * tail must have closed exactly d + 1 lists, have its numbers at the same
 * depth, and its lists must have the lengths seen before the cut.  Then
 * the head goes on after the tail (the body's remaining members), and the
 * tail's numbers are moved down to follow the head's.  Both halves run the
 * same scanning code as one thread would, so the joined result is the one
 * thread's, byte for byte; on any doubt (a half declined, the shapes do
 * not join, the cut was not a separator) the body is parsed again on one
 * thread, which alone decides whether it is taken.
 *
 * The two halves only save time when they run at once, on two CPUs, with
 * no thread waiting to be woken: the helper is woken when roma worker's
 * loop has read a large body (jf_helper_expect), kept off the head's CPU
 * (steer_helper), and the head spins for the tail (helper_wait).  Each of
 * these is measured where it is.
 */
#include "json_fast.h"

#include "common/clock.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* The helper's half of a split body, in its own numbering of depths: the
 * list the cut is in is at depth JF_MAX_DIMS, its parent one less. */
typedef struct {
    int ok;
    int closes;                      /* lists closed that the tail did not open */
    int64_t added[JF_MAX_DIMS];      /* elements in the j-th of them, after the cut */
    int leaf_depth;
    int64_t counted[2 * JF_MAX_DIMS];
    const char *end;                 /* where the head goes on */
    size_t count;
    int integers_only, big_integers, beyond_float;
} tail;

typedef struct {
    const char *p, *end;
    jf_request *req;
    size_t cap;                      /* numbers req->values has room for */
    int max_depth;                   /* lists nest at most this deep */
    int leaf_depth;                  /* depth of the numbers, -1 until seen */
    int integers_only, big_integers, beyond_float; /* see jf_request */
    int64_t counted[2 * JF_MAX_DIMS]; /* the length seen first at each depth */
    const char *cut;                 /* the head: where the tail starts; else NULL */
    jf_helper *helper;               /* the head: who parses the tail */
    const tail *joined;              /* the head: the tail, once joined */
    int cut_depth;                   /* the head: depth of the cut's list */
    size_t whole_cap;                /* the head: cap once it takes the tail back */
    int take_back;                   /* the head: may take back an unstarted tail */
    int took_back;                   /* the head: did, and parses the whole body */
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
 * units; then the division decides.  0 < |m| < 2^53, k <= 7: no zero, no
 * subnormal, no overflow.  A negative m gives exactly the negated result:
 * rounding to nearest is symmetric, and the low mantissa bits checked are
 * those of |q|. */
static float short_quotient_float(int64_t m, int k) {
    static const double inv10[] = {1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
    double q = (double)m * inv10[k];
    uint64_t bits;
    memcpy(&bits, &q, sizeof(bits));
    int64_t from_midpoint = (int64_t)(bits & ((1u << 29) - 1)) - (1 << 28);
    if (from_midpoint < -16 || from_midpoint > 16) return (float)q;
    return (float)((double)m / pow10[k]);
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
static inline __attribute__((always_inline)) int scan_short_number(scanner *s, size_t i) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
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
        /* The number after its sign lies within `whole` (end is at most 8
         * bytes on), so its digits are those ni + nf bytes with the point
         * cut out, summed at once: below 10^7, so over an exact power of
         * ten one correctly rounded division, as in Clinger's fast path. */
        uint64_t before = whole & ((1ULL << (8 * ni)) - 1);
        uint64_t after = (whole >> (8 * (ni + 1))) << (8 * ni); /* ni + 1 <= 7 */
        uint64_t m = digits_value(before | after, ni + nf);
        if (s->req->floats && m != 0) {
            /* the sign goes into m without a branch: on image data it is
             * a coin toss, and a mispredicted branch on it cost a fifth
             * of the parse (bench/json.sh, resnet: 1.44 -> 1.14 ms) */
            int64_t signed_m = ((int64_t)m ^ -(int64_t)neg) + neg;
            s->req->floats[i] = short_quotient_float(signed_m, nf);
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

/* This and scan_short_number are forced inline: called from two places
 * (scan_list, scan_element), they would become a call per number, ~8% of
 * the one-thread parse of resnet/request.json. */
static inline __attribute__((always_inline)) int scan_number(scanner *s) {
    size_t i = s->req->count++;
    double v;
    if (__builtin_expect(i >= s->cap, 0)) return 0; /* only a head past its cut */
    if (scan_short_number(s, i)) return 1;
    if (!scan_number_general(s, &v)) return 0;
    store_value(s, i, v);
    return 1;
}

static int scan_list(scanner *s, int depth);
static int join_tail(scanner *s, int depth);
static int take_back_tail(scanner *s);

/* A run of numbers of a list at the leaf depth, s->p on the first: each
 * next one read at once while the byte after a ',' can start a number, the
 * rest ("," with white space, ']', the cut) left to scan_list.  Returns how
 * many it read, -1 when one was no number.  The test on that byte is a
 * range, not "'-' or a digit": a branch on the sign would be mispredicted
 * half the time on image data ('.' and '/' fail in scan_number). */
static int64_t scan_leaf_numbers(scanner *s) {
    int64_t n = 0;
    for (;;) {
        if (!scan_number(s)) return -1;
        n++;
        const char *p = s->p;
        if (*p != ',' || p == s->cut) return n;
        if ((unsigned char)(p[1] - '-') > '9' - '-') return n;
        s->p = p + 1;
    }
}

/* One element of a list at depth (s->p is on it, before the end): a list
 * one deeper, or a number. */
static int scan_element(scanner *s, int depth) {
    if (*s->p == '[') {
        if (s->leaf_depth >= 0 && s->leaf_depth <= depth) return 0;
        return scan_list(s, depth + 1);
    }
    if (s->leaf_depth < 0) s->leaf_depth = depth + 1;
    return s->leaf_depth == depth + 1 && scan_number(s);
}

/* A list at depth has n elements: the first such list sets the length. */
static int list_length(scanner *s, int depth, int64_t n) {
    if (s->counted[depth] == 0) s->counted[depth] = n;
    return s->counted[depth] == n;
}

/* A nested list of numbers, every list at one depth of one length.  In a
 * head, a list the cut is in ends with the tail's elements. */
static int scan_list(scanner *s, int depth) {
    int64_t n = 0;
    if (depth >= s->max_depth || s->p >= s->end || *s->p != '[') return 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') return 0; /* empty lists: general path */
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == '[') { /* scan_element, with the join checked after lists only */
            if (s->leaf_depth >= 0 && s->leaf_depth <= depth) return 0;
            if (!scan_list(s, depth + 1)) return 0;
            n++;
            if (s->joined)
                return list_length(s, depth, n + s->joined->added[s->cut_depth - depth]);
        } else {
            if (s->leaf_depth < 0) s->leaf_depth = depth + 1;
            int64_t run = s->leaf_depth == depth + 1 ? scan_leaf_numbers(s) : -1;
            if (run < 0) return 0;
            n += run;
        }
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            if (s->p == s->cut && !take_back_tail(s))
                return join_tail(s, depth) && list_length(s, depth, n + s->joined->added[0]);
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') break;
        return 0;
    }
    s->p++;
    return list_length(s, depth, n);
}

/* A plain ASCII string without escapes (anything else is left to the
 * general path: jansson refuses invalid UTF-8, which this does not check). */
static int scan_plain_string(scanner *s, const char **start, size_t *len) {
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *q = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;
        if (c == '\\' || c < 0x20 || c >= 0x80) return 0;
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

/* Room for cap numbers, at TensorFlow's alignment so that jf_to_tensor
 * can hand the memory to the tensor as it is.  Every number takes at least
 * two bytes ("1,"), so n bytes hold at most n / 2 + 1 of them; the pages
 * past the last number are never touched. */
static int alloc_numbers(jf_request *req, TF_DataType dtype, size_t cap) {
    size_t align = 64, elem = dtype == TF_FLOAT ? sizeof(float) : sizeof(double);
    void *p = aligned_alloc(align, (cap * elem + align - 1) / align * align);
    if (dtype == TF_FLOAT) req->floats = p;
    else req->values = p;
    return p != NULL;
}

static void scanner_init(scanner *s, const char *from, const char *end, jf_request *req,
                         size_t cap) {
    memset(s, 0, sizeof(*s));
    s->p = from;
    s->end = end;
    s->req = req;
    s->cap = cap;
    s->max_depth = JF_MAX_DIMS;
    s->leaf_depth = -1;
    s->integers_only = 1;
}

/* Every list at each depth has one length, so the numbers fill the shape:
 * the dims multiply to the count of numbers really read.  Checked before a
 * tensor is made of them, so that a shape that promises more than the body
 * holds can never reach TensorFlow (the product is checked for overflow,
 * or a wrapped product could match). */
static int fills_shape(const jf_request *req) {
    size_t n = 1;
    for (int d = 0; d < req->ndims; d++)
        if (req->dims[d] < 0 || __builtin_mul_overflow(n, (size_t)req->dims[d], &n)) return 0;
    return n == req->count;
}

static int parse_one_thread(const char *body, size_t len, TF_DataType dtype, jf_request *req) {
    scanner s;
    scanner_init(&s, body, body + len, req, len / 2 + 1);
    if (!alloc_numbers(req, dtype, s.cap) || !scan_body(&s)) {
        jf_free(req);
        return 0;
    }
    req->ndims = s.leaf_depth;
    req->integers_only = s.integers_only;
    req->big_integers = s.big_integers;
    req->beyond_float = s.beyond_float;
    memcpy(req->dims, s.counted, sizeof(int64_t) * (size_t)req->ndims);
    if (fills_shape(req)) return 1;
    jf_free(req); /* cannot happen: every list at a depth was checked */
    return 0;
}

/* ---- the helper thread ---------------------------------------------------
 * One per worker, started once; it sleeps until a head hands it a tail.
 * Inference threads share it: one that finds it busy parses alone. */

typedef struct {
    const char *body, *cut;
    size_t len, cap;
    void *numbers;                   /* the tail's region of the output */
    int floats;                      /* numbers are floats, else doubles */
} tail_job;

struct jf_helper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done_cond;
    int busy;                        /* claimed by a head (locked) */
    int posted;                      /* (locked; read unlocked, atomically, by a warm helper) */
    int stopping;                    /* (locked) */
    int warm;                        /* a tail is expected soon: spin for it (locked) */
    int done;                        /* (locked; read unlocked, atomically, by a spinning head) */
    size_t min_split;
    tail_job job;
    tail result;
};

/* Whether a list element (a list or a number) starts after the ',' at
 * comma, past any white space; the body's NUL stops the look. */
static int element_follows(const char *comma) {
    const char *q = comma + 1;
    while (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t') q++;
    return *q == '[' || *q == '-' || is_digit(*q);
}

/* The tail: from the cut to past the last ']' of a run of closings after
 * which no element follows (a list's own end, or the body's next member). */
static int scan_tail(scanner *s, tail *t) {
    int depth = JF_MAX_DIMS;        /* the cut's list, in the tail's numbering */
    int64_t n = 0;
    while (*s->p == ',') {          /* s->p on a separator in a list */
        s->p++;
        skip_ws(s);
        if (s->p >= s->end || !scan_element(s, depth)) return 0;
        n++;
        skip_ws(s);
        while (s->p < s->end && *s->p == ']') {
            if (t->closes == JF_MAX_DIMS) return 0;
            t->added[t->closes++] = n;
            n = 0;
            depth--;
            s->p++;
            skip_ws(s);
        }
        if (*s->p == ',' && t->closes > 0 && !element_follows(s->p)) break; /* next member */
    }
    t->end = s->p;
    return t->closes > 0 && n == 0; /* no element after the outermost close */
}

static void run_tail(const tail_job *job, tail *t) {
    jf_request part = {0};
    scanner s;
    if (job->floats) part.floats = job->numbers;
    else part.values = job->numbers;
    scanner_init(&s, job->cut, job->body + job->len, &part, job->cap);
    s.max_depth = 2 * JF_MAX_DIMS;
    memset(t, 0, sizeof(*t));
    t->ok = scan_tail(&s, t);
    t->leaf_depth = s.leaf_depth;
    memcpy(t->counted, s.counted, sizeof(t->counted));
    t->count = part.count;
    t->integers_only = s.integers_only;
    t->big_integers = s.big_integers;
    t->beyond_float = s.beyond_float;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins until *flag is set or spin_us have passed; returns the flag. */
static int spin_for(const int *flag, double spin_us) {
    for (double start = roma_now(), t = start; t - start < spin_us * 1e-6; t = roma_now())
        for (int i = 0; i < 32; i++) {
            if (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) return 1;
            cpu_relax();
        }
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static void *helper_main(void *arg) {
    jf_helper *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->posted && !h->stopping && !h->warm) pthread_cond_wait(&h->wake, &h->lock);
        if (h->warm && !h->posted && !h->stopping) { /* jf_helper_expect: awake already */
            h->warm = 0;
            pthread_mutex_unlock(&h->lock);
            spin_for(&h->posted, JF_WARM_US);
            pthread_mutex_lock(&h->lock);
            continue;
        }
        h->warm = 0;
        if (!h->posted) break;
        __atomic_store_n(&h->posted, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&h->lock);
        run_tail(&h->job, &h->result);
        pthread_mutex_lock(&h->lock);
        __atomic_store_n(&h->done, 1, __ATOMIC_RELEASE); /* after the result */
        pthread_cond_signal(&h->done_cond);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

jf_helper *jf_helper_start(size_t min_split) {
    jf_helper *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->min_split = min_split;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    pthread_cond_init(&h->done_cond, NULL);
    if (pthread_create(&h->thread, NULL, helper_main, h) != 0) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->wake);
        pthread_cond_destroy(&h->done_cond);
        free(h);
        return NULL;
    }
    return h;
}

void jf_helper_stop(jf_helper *h) {
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->wake);
    pthread_cond_destroy(&h->done_cond);
    free(h);
}

static int allowed_cpus(void);

void jf_helper_expect(jf_helper *h, size_t len) {
    if (!h || len < h->min_split || allowed_cpus() < 2) return; /* no split would come */
    pthread_mutex_lock(&h->lock);
    if (!h->busy && !h->posted) {
        h->warm = 1;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
}

static int helper_claim(jf_helper *h) {
    pthread_mutex_lock(&h->lock);
    int got = !h->busy;
    h->busy = 1;
    pthread_mutex_unlock(&h->lock);
    return got;
}

static void helper_post(jf_helper *h, const tail_job *job) {
    pthread_mutex_lock(&h->lock);
    h->job = *job;
    __atomic_store_n(&h->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->posted, 1, __ATOMIC_RELEASE); /* after the job */
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
}

/* Where the helper may run: the head's CPUs, less off_cpu (-1: none).
 * Woken by the head, a thread goes to the waker's CPU when the kernel
 * judges it cache-hot (wake-affine), and inside roma worker it mostly did
 * (sched_getcpu in both halves): the tail then ran on the head's core
 * while the other core idled, and a split parse of resnet's body took
 * 1.2 ms, longer than one thread's 1.15.  So the head keeps the helper off
 * its own CPU while it parses, and gives it all its CPUs back before it
 * sleeps waiting for the tail (the other CPU may be busy elsewhere).  Set
 * at every split: roma serve re-pins every thread of a worker when its
 * cores change. */
static void steer_helper(jf_helper *h, int off_cpu) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
    if (off_cpu >= 0 && off_cpu < CPU_SETSIZE && CPU_ISSET(off_cpu, &set) && CPU_COUNT(&set) > 1)
        CPU_CLR(off_cpu, &set);
    pthread_setaffinity_np(h->thread, sizeof(set), &set); /* a failure only costs speed */
}

/* The tail, once the helper has finished it (each post is awaited once;
 * later calls return the same result).  The head spins for a while first:
 * the halves are about as long, so the tail is usually done within tens of
 * microseconds, and waking from a condition variable costs about as much
 * again (~50 us on this VM; bench/json.sh, resnet on two threads:
 * 0.72 -> 0.64 ms).  Past the spin, the helper is
 * likely not running at all (the CPUs are busy elsewhere): sleep. */
static const tail *helper_wait(jf_helper *h) {
    if (spin_for(&h->done, 500)) return &h->result;
    steer_helper(h, -1);
    pthread_mutex_lock(&h->lock);
    while (!h->done) pthread_cond_wait(&h->done_cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    return &h->result;
}

/* Takes back a posted tail the helper has not started: 1 when it did
 * (then the helper will not run it). */
static int helper_take_back(jf_helper *h) {
    pthread_mutex_lock(&h->lock);
    int unstarted = h->posted;
    __atomic_store_n(&h->posted, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    return unstarted;
}

static void helper_release(jf_helper *h) {
    pthread_mutex_lock(&h->lock);
    h->busy = 0;
    pthread_mutex_unlock(&h->lock);
}

/* ---- joining the halves ------------------------------------------------- */

/* The head met the cut before the helper even started the tail (the other
 * CPU is busy): it takes the tail back and goes on alone, into the tail's
 * region of the output too. */
static int take_back_tail(scanner *s) {
    if (!s->take_back || !helper_take_back(s->helper)) return 0;
    s->took_back = 1;
    s->cut = NULL;
    s->cap = s->whole_cap;
    return 1;
}

/* The head met the cut as the separator of its list at depth: the tail
 * must continue exactly that list. */
static int join_tail(scanner *s, int depth) {
    const tail *t = helper_wait(s->helper);
    int shift = JF_MAX_DIMS - depth; /* the tail's depth numbers minus ours */
    if (!t->ok || t->closes != depth + 1 || t->leaf_depth - shift != s->leaf_depth) return 0;
    for (int d = 0; d < s->leaf_depth; d++) {
        int64_t seen = t->counted[d + shift];
        if (seen == 0) continue;
        if (s->counted[d] != 0 && s->counted[d] != seen) return 0;
        s->counted[d] = seen;
    }
    s->joined = t;
    s->cut_depth = depth;
    s->p = t->end;
    return 1;
}

/* The first ',' at or after from that a list element follows; NULL if none. */
static const char *find_cut(const char *body, size_t len, size_t from) {
    const char *end = body + len;
    for (const char *p = body + from; p < end; p++) {
        p = memchr(p, ',', (size_t)(end - p));
        if (!p) return NULL;
        if (element_follows(p)) return p;
    }
    return NULL;
}


/* Moves the tail's numbers down to follow the head's; adds its flags. */
static void join_numbers(scanner *s, const tail *t, size_t head_cap, jf_request *req) {
    size_t elem = req->floats ? sizeof(float) : sizeof(double);
    char *numbers = req->floats ? (char *)req->floats : (char *)req->values;
    assert(req->count <= head_cap);
    memmove(numbers + req->count * elem, numbers + head_cap * elem, t->count * elem);
    req->count += t->count;
    s->integers_only &= t->integers_only;
    s->big_integers |= t->big_integers;
    s->beyond_float |= t->beyond_float;
}

int jf_parse_split(const char *body, size_t len, TF_DataType dtype, jf_helper *h, size_t from,
                   int take_back, jf_request *req) {
    scanner s;
    memset(req, 0, sizeof(*req));
    const char *cut = body[len] == '\0' && from < len ? find_cut(body, len, from) : NULL;
    if (!cut) return 0;
    size_t head_cap = (size_t)(cut - body) / 2 + 1, tail_cap = (size_t)(body + len - cut) / 2 + 1;
    if (!alloc_numbers(req, dtype, head_cap + tail_cap)) return 0;
    size_t elem = dtype == TF_FLOAT ? sizeof(float) : sizeof(double);
    char *numbers = dtype == TF_FLOAT ? (char *)req->floats : (char *)req->values;
    tail_job job = {body, cut, len, tail_cap, numbers + head_cap * elem, dtype == TF_FLOAT};
    steer_helper(h, sched_getcpu());
    helper_post(h, &job);
    scanner_init(&s, body, body + len, req, head_cap);
    s.cut = cut;
    s.helper = h;
    s.whole_cap = head_cap + tail_cap;
    s.take_back = take_back;
    int ok = scan_body(&s) && (s.joined || s.took_back);
    /* the tail writes into req: unless taken back, wait for it, whatever happened */
    if (!s.took_back && !helper_take_back(h)) {
        const tail *t = helper_wait(h);
        assert(t->count <= tail_cap);
        if (ok && s.joined) join_numbers(&s, t, head_cap, req);
    }
    if (ok) {
        req->ndims = s.leaf_depth;
        req->integers_only = s.integers_only;
        req->big_integers = s.big_integers;
        req->beyond_float = s.beyond_float;
        memcpy(req->dims, s.counted, sizeof(int64_t) * (size_t)req->ndims);
        ok = fills_shape(req);
    }
    if (!ok) jf_free(req);
    return ok;
}

/* CPUs this thread may run on (roma serve pins a worker to ceil(cores)). */
static int allowed_cpus(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

int jf_parse(const char *body, size_t len, TF_DataType dtype, jf_helper *h, jf_request *req) {
    memset(req, 0, sizeof(*req));
    if (body[len] != '\0') return 0; /* the contract: see json_fast.h */
    if (h && len >= h->min_split && allowed_cpus() >= 2 && helper_claim(h)) {
        int ok = jf_parse_split(body, len, dtype, h, len / 2, 1, req);
        helper_release(h);
        if (ok) return 1;
    }
    return parse_one_thread(body, len, dtype, req);
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

/* json_fast.h - the fast path for the one request shape that is large:
 * a predict body whose tensor is a nested list of plain numbers
 *
 *   {"instances": [[[0.1, ...]]]}  or  {"inputs": ...},  optionally with
 *   "signature_name": "..."
 *
 * An image request holds ~10^5 numbers; building a jansson tree for it cost
 * 56 ms against a 16 ms inference (measured on resnet/request.json), so such
 * bodies are scanned straight into a flat array instead.  Anything else
 * (named inputs, strings, b64, NaN tokens, escapes, other keys, malformed
 * JSON) is declined and takes the general jansson path, which also produces
 * every error message.
 *
 * A large body is parsed on two threads when the worker may use two CPUs:
 * a helper thread reads the second half while the calling thread reads the
 * first (json_fast.c says how the halves join).  The result is the same,
 * byte for byte, as one thread's.
 */
#ifndef ROMA_JSON_FAST_H
#define ROMA_JSON_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "json_tensor.h"

#define JF_MAX_DIMS 32

/* Bodies from this size on are parsed on two threads (each half then
 * takes ~0.5 ms or more, against ~20 us to hand one to the helper). */
#define JF_SPLIT_MIN_BYTES (64 * 1024)

/* The thread that parses second halves; one per worker. */
typedef struct jf_helper jf_helper;

typedef struct {
    jt_format format;
    char *signature_name; /* owned; NULL when the body names none */
    int64_t dims[JF_MAX_DIMS];
    int ndims;
    double *values;       /* owned; row-major; NULL when parsed for floats */
    float *floats;        /* owned; the same, when parsed for TF_FLOAT */
    size_t count;
    int integers_only;    /* every number was written as a short integer */
    int big_integers;     /* some number written as an integer is above 2^24,
                             where floats stop being exact: general path */
    int beyond_float;     /* some number is finite as a double but not as a
                             float: the general path refuses it for floats */
} jf_request;

/* Starts the helper thread; bodies of min_split bytes or more are then
 * split (JF_SPLIT_MIN_BYTES; tests pass less).  NULL when the thread cannot
 * be started: parse on one thread then.  Stop it with jf_helper_stop (NULL
 * is fine) once no jf_parse that uses it runs. */
jf_helper *jf_helper_start(size_t min_split);
void jf_helper_stop(jf_helper *helper);

/* A body of len bytes will soon be parsed (roma worker's loop thread calls
 * this when it has read a predict body that an idle inference thread will
 * take at once): when the body is large enough to be split, this thread may
 * run on two CPUs or more and the helper is idle, the helper wakes now and
 * spins up to JF_WARM_US for the tail, so the parse does not
 * wait for its wake-up (~80 us between CPUs on the 2-core test VM; with
 * it, the worker's convert of a resnet JSON request is ~40 us shorter).
 * A hint: nothing happens when no tail comes.  helper may be NULL. */
#define JF_WARM_US 250
void jf_helper_expect(jf_helper *helper, size_t len);

/* Returns 1 and fills *req when body has the shape above, 0 otherwise (req
 * then holds nothing to free).  The numbers are kept as the tensor of dtype
 * needs them: as floats for TF_FLOAT (each the float nearest the double
 * nearest the decimal, as the general path makes it), as doubles for any
 * other.  body[len] must be a readable NUL byte (the worker keeps one after
 * every body): the number scanner stops on it.  With a helper (else NULL),
 * a body of its min_split bytes or more is split when this thread may run
 * on two CPUs or more and no other thread is using the helper; any thread
 * may call this, many at once. */
int jf_parse(const char *body, size_t len, TF_DataType dtype, jf_helper *helper,
             jf_request *req);
void jf_free(jf_request *req);

/* For tests: jf_parse on two threads, cutting at the first ',' after
 * body[from] that a list element follows, with no fallback: 1 when the
 * halves joined (then *req is exactly what one thread gives), 0 when not
 * (a body one thread may still take).  Whatever its size; helper must be
 * used by no other thread meanwhile.  take_back: when the first half
 * reaches the cut before the helper has started on the second, parse it
 * too (as jf_parse does, so that a busy CPU does not hold the request
 * up); 0: always wait for the helper (tests of the join). */
int jf_parse_split(const char *body, size_t len, TF_DataType dtype, jf_helper *helper,
                   size_t from, int take_back, jf_request *req);

/* Whether the numbers can become a dtype tensor exactly as the general
 * path would make it (floats: always; integer types: written as integers,
 * in range).  When not, the general path decides (and words the error).
 * 0 also when req was parsed for another dtype (floats vs doubles). */
int jf_fits(const jf_request *req, TF_DataType dtype);

/* The numbers as a tensor of dtype; only after jf_fits said yes.  For
 * TF_FLOAT and TF_DOUBLE the tensor takes req's memory (no copy); req must
 * still be freed with jf_free. */
TF_Tensor *jf_to_tensor(jf_request *req, TF_DataType dtype);

#endif

/* fuzz_b64.c - base64 (src/common/b64.h): decoding any text either refuses
 * it or gives bytes that encode and decode back to themselves, and any
 * bytes encode to padded base64 that decodes back to them. */
#include "fuzz.h"

#include "common/b64.h"

static void check_round_trip(const void *data, size_t len) {
    roma_buf text = ROMA_BUF_INIT, back = ROMA_BUF_INIT;
    roma_b64_encode(&text, data, len);
    FUZZ_CHECK(text.len == (len + 2) / 3 * 4, "%zu bytes encoded to %zu chars", len, text.len);
    FUZZ_CHECK(roma_b64_decode(&back, text.data ? text.data : "", text.len) == 0,
               "own encoding refused");
    FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, data, len) == 0),
               "%zu bytes came back as %zu different ones", len, back.len);
    roma_buf_free(&text);
    roma_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    roma_buf out = ROMA_BUF_INIT;
    if (roma_b64_decode(&out, (const char *)data, size) == 0) check_round_trip(out.data, out.len);
    roma_buf_free(&out);
    check_round_trip(data, size);
    return 0;
}

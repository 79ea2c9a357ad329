/* fuzz_route.c - TF Serving's REST paths (src/worker/route.h): any method
 * and path is routed or refused with a message, and a routed path's
 * fields are NUL-terminated within their arrays.
 *
 * Input: the method's index (first byte: GET, POST, or the rest of the
 * line up to a newline as the method itself), then the path. */
#include "fuzz.h"

#include "worker/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char *text = fuzz_text(data + 1, size - 1);
    const char *method = data[0] % 3 == 0 ? "GET" : data[0] % 3 == 1 ? "POST" : text;
    char *path = text;
    if (data[0] % 3 == 2) {
        char *nl = strchr(text, '\n');
        path = nl ? nl + 1 : text + strlen(text);
        if (nl) *nl = '\0';
    }
    rest_route r;
    roma_err err;
    memset(&r, 0x55, sizeof(r)); /* no field may keep a stray byte unterminated */
    err.msg[0] = '\0';
    roma_code rc = rest_parse_route(method, path, &r, &err);
    if (rc == ROMA_OK) {
        FUZZ_CHECK(memchr(r.model, '\0', sizeof(r.model)) != NULL, "model unterminated");
        FUZZ_CHECK(memchr(r.version, '\0', sizeof(r.version)) != NULL, "version unterminated");
        FUZZ_CHECK(memchr(r.label, '\0', sizeof(r.label)) != NULL, "label unterminated");
        FUZZ_CHECK(r.model[0] != '\0', "routed with an empty model name");
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
        roma_buf out = ROMA_BUF_INIT;
        int status = rest_error(&out, rc, err.msg);
        FUZZ_CHECK(status == 404 || status == 400, "status %d for %s", status, err.msg);
        roma_buf_free(&out);
    }
    free(text);
    return 0;
}

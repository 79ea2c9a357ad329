/* fuzz_workload.c - bench workload YAML (src/bench/workload.h): any text
 * is parsed and completed (as `roma sim` completes it) or refused with a
 * message; a completed workload has its models' SLAs set and positive. */
#include "fuzz.h"

#include <math.h>

#include "bench/workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    bench_workload w;
    roma_err err;
    err.msg[0] = '\0';
    bench_workload_init(&w);
    roma_code rc = bench_workload_parse(text, size, "fuzz/workload.yaml", &w, &err);
    if (rc == ROMA_OK) rc = bench_workload_finish_load(&w, &err);
    if (rc == ROMA_OK) {
        FUZZ_CHECK(w.nmodels > 0, "finished without models");
        for (size_t i = 0; i < w.nmodels; i++)
            FUZZ_CHECK(w.models[i].name && isfinite(w.models[i].sla) && w.models[i].sla > 0,
                       "model %zu: sla %g", i, w.models[i].sla);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    }
    bench_workload_free(&w);
    free(text);
    return 0;
}

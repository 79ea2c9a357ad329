/* fuzz_model_config.c - TF Serving's model config text (src/worker/
 * model_config.h): any text is parsed or refused with a message; a parsed
 * config's strings are set and its policies, applied to versions 1..9,
 * choose only versions that exist, highest first, without repeats. */
#include "fuzz.h"

#include "worker/model_config.h"

static void check_policy(const mc_policy *p) {
    static const int64_t available[] = {3, 1, 4, 9, 5, 2, 6, 8, 7};
    int64_t chosen[9];
    size_t n = 0;
    roma_err err;
    if (mc_apply_policy(p, available, 9, chosen, &n, &err) != ROMA_OK) return;
    FUZZ_CHECK(n <= 9, "%zu versions chosen of 9", n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(chosen[i] >= 1 && chosen[i] <= 9, "version %lld chosen", (long long)chosen[i]);
        if (i) FUZZ_CHECK(chosen[i - 1] > chosen[i], "not highest first, or repeated");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    mc_config cfg;
    roma_err err;
    err.msg[0] = '\0';
    if (mc_parse(text, &cfg, &err) == ROMA_OK) {
        for (size_t i = 0; i < cfg.nmodels; i++) {
            const mc_model *m = &cfg.models[i];
            FUZZ_CHECK(m->name && m->base_path, "model %zu without name or base_path", i);
            for (size_t k = 0; k < m->nlabels; k++) FUZZ_CHECK(m->labels[k].label, "label unset");
            check_policy(&m->policy);
        }
        mc_config_free(&cfg);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    }
    free(text);
    return 0;
}

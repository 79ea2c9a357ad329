/* fuzz_serve_config.c - roma.yaml (src/serve/config.h, serve_config_parse
 * on text): any text is parsed or refused with a message, and a parsed
 * config keeps the ranges config.h promises. */
#include "fuzz.h"

#include "serve/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    serve_config cfg;
    roma_err err;
    err.msg[0] = '\0';
    if (serve_config_parse(text, size, "fuzz.yaml", &cfg, &err) == ROMA_OK) {
        for (size_t i = 0; i < cfg.nmodels; i++) {
            const serve_model_config *m = &cfg.models[i];
            FUZZ_CHECK(m->name && m->base_path, "model %zu without name or base_path", i);
            FUZZ_CHECK(m->sla > 0, "model '%s': sla %g", m->name, m->sla);
            FUZZ_CHECK(m->alpha >= 0 && m->alpha <= 1, "model '%s': alpha %g", m->name, m->alpha);
            FUZZ_CHECK(serve_config_model(&cfg, m->name) != NULL, "model '%s' not found", m->name);
        }
        serve_config_free(&cfg);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    }
    free(text);
    return 0;
}

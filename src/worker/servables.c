/* servables.c - see servables.h. */
#include "servables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"

static roma_code load_model(const mc_model *mc, const tfb_options *opt, sv_model *m,
                            roma_err *err) {
    int64_t *found = NULL, *chosen;
    size_t nfound = 0, nchosen = 0;
    roma_code rc = mc_scan_versions(mc->base_path, &found, &nfound, err);
    if (rc != ROMA_OK) return rc;
    if (nfound == 0) {
        free(found);
        return roma_fail(err, ROMA_NOT_FOUND,
                         "no version directory under '%s': expected numeric directories such "
                         "as '%s/1/saved_model.pb' (TensorFlow Serving layout)",
                         mc->base_path, mc->base_path);
    }
    chosen = malloc(sizeof(int64_t) * nfound);
    if (!chosen) abort();
    rc = mc_apply_policy(&mc->policy, found, nfound, chosen, &nchosen, err);
    m->versions = calloc(nchosen ? nchosen : 1, sizeof(*m->versions));
    if (!m->versions) abort();
    for (size_t i = 0; i < nchosen && rc == ROMA_OK; i++) {
        char dir[4096];
        /* The directory may be zero-padded ("00000123"): find its real name. */
        snprintf(dir, sizeof(dir), "%s/%lld", mc->base_path, (long long)chosen[i]);
        for (int pad = 1; pad < 19 && access(dir, F_OK) != 0; pad++)
            snprintf(dir, sizeof(dir), "%s/%0*lld", mc->base_path, pad, (long long)chosen[i]);
        rc = tfb_model_load(dir, opt, &m->versions[i].model, err);
        if (rc == ROMA_OK) {
            m->versions[i].version = chosen[i];
            m->nversions++;
            roma_info("model '%s' version %lld loaded from %s", mc->name, (long long)chosen[i],
                      dir);
        }
    }
    free(found);
    free(chosen);
    return rc;
}

static roma_code check_labels(const sv_model *m, roma_err *err) {
    for (size_t i = 0; i < m->nlabels; i++) {
        int found = 0;
        for (size_t k = 0; k < m->nversions; k++) found |= m->versions[k].version == m->labels[i].version;
        if (!found)
            return roma_fail(err, ROMA_FAILED_PRECONDITION,
                             "label '%s' points at version %lld, which is not loaded; label "
                             "only versions the version policy serves",
                             m->labels[i].label, (long long)m->labels[i].version);
    }
    return ROMA_OK;
}

roma_code sv_load(const mc_config *cfg, const tfb_options *opt, sv_registry *reg, roma_err *err) {
    roma_code rc = ROMA_OK;
    reg->models = calloc(cfg->nmodels, sizeof(*reg->models));
    reg->nmodels = 0;
    if (!reg->models) abort();
    for (size_t i = 0; i < cfg->nmodels && rc == ROMA_OK; i++) {
        sv_model *m = &reg->models[reg->nmodels++];
        m->name = strdup(cfg->models[i].name);
        m->labels = cfg->models[i].labels;
        m->nlabels = cfg->models[i].nlabels;
        rc = load_model(&cfg->models[i], opt, m, err);
        if (rc == ROMA_OK) rc = check_labels(m, err);
        if (rc != ROMA_OK) {
            roma_err inner = *err;
            roma_fail(err, rc, "model '%s': %s", m->name, inner.msg);
        }
    }
    if (rc != ROMA_OK) sv_free(reg);
    return rc;
}

void sv_free(sv_registry *reg) {
    for (size_t i = 0; i < reg->nmodels; i++) {
        for (size_t k = 0; k < reg->models[i].nversions; k++)
            tfb_model_free(reg->models[i].versions[k].model);
        free(reg->models[i].versions);
        free(reg->models[i].name);
    }
    free(reg->models);
    reg->models = NULL;
    reg->nmodels = 0;
}

static const sv_version *find_version(const sv_model *m, int64_t v) {
    for (size_t k = 0; k < m->nversions; k++)
        if (m->versions[k].version == v) return &m->versions[k];
    return NULL;
}

roma_code sv_lookup(const sv_registry *reg, const char *model, const char *version,
                    const char *label, const sv_model **mp, const sv_version **vp,
                    roma_err *err) {
    const sv_model *m = NULL;
    for (size_t i = 0; i < reg->nmodels && !m; i++)
        if (strcmp(reg->models[i].name, model) == 0) m = &reg->models[i];
    if (!m || m->nversions == 0)
        return roma_fail(err, ROMA_NOT_FOUND, "Servable not found for request: Latest(%s)", model);
    *mp = m;
    if (version) {
        char *end;
        errno = 0;
        long long v = strtoll(version, &end, 10);
        if (*end || end == version || errno)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "Failed to convert version: %s to numeric.", version);
        if (!(*vp = find_version(m, v)))
            return roma_fail(err, ROMA_NOT_FOUND, "Servable not found for request: Specific(%s, %lld)",
                             model, v);
        return ROMA_OK;
    }
    if (label) {
        for (size_t i = 0; i < m->nlabels; i++)
            if (strcmp(m->labels[i].label, label) == 0 &&
                (*vp = find_version(m, m->labels[i].version)) != NULL)
                return ROMA_OK;
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "Unrecognized servable version label: %s", label);
    }
    *vp = &m->versions[0];
    return ROMA_OK;
}

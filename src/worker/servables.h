/* servables.h - the models a worker has loaded, by name and version.
 *
 * Built once at start (every chosen version loaded before the port opens,
 * so a worker that answers is a worker that can serve) and read-only after,
 * so request threads share it without locks.
 */
#ifndef ROMA_SERVABLES_H
#define ROMA_SERVABLES_H

#include <stddef.h>
#include <stdint.h>

#include "../tf/tfb.h"
#include "model_config.h"

typedef struct {
    int64_t version;
    tfb_model *model;
} sv_version;

typedef struct {
    char *name;
    sv_version *versions; /* highest first */
    size_t nversions;
    mc_label *labels;     /* borrowed from the config, which must outlive this */
    size_t nlabels;
} sv_model;

typedef struct {
    sv_model *models;
    size_t nmodels;
} sv_registry;

/* Loads every version each model's policy chooses.  Fails, naming the
 * path and what was expected there, if a model has no loadable version. */
roma_code sv_load(const mc_config *cfg, const tfb_options *opt, sv_registry *reg, roma_err *err);
void sv_free(sv_registry *reg);

/* Finds the model, then the version: by number when version is not NULL,
 * by label when label is not NULL, else the highest.  Errors are
 * TF Serving's NOT_FOUND / INVALID_ARGUMENT messages. */
roma_code sv_lookup(const sv_registry *reg, const char *model, const char *version,
                    const char *label, const sv_model **m, const sv_version **v, roma_err *err);

#endif

/* model_config.h - which models a worker serves: TF Serving's
 * --model_config_file (protobuf text format of ModelServerConfig) or the
 * --model_name/--model_base_path pair, and the version policy that picks
 * version directories under a base path.
 *
 *   model_config_list {
 *     config {
 *       name: "half_plus_two"
 *       base_path: "/models/half_plus_two"
 *       model_platform: "tensorflow"
 *       model_version_policy { specific { versions: 1 versions: 2 } }
 *       version_labels { key: "stable" value: 1 }
 *     }
 *   }
 *
 * Pure functions (besides the directory scan in mc_select_versions).
 */
#ifndef ROMA_MODEL_CONFIG_H
#define ROMA_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"

typedef enum { MC_LATEST, MC_ALL, MC_SPECIFIC } mc_policy_kind;

typedef struct {
    mc_policy_kind kind;
    int num_versions; /* MC_LATEST: how many of the highest versions */
    int64_t *versions; /* MC_SPECIFIC */
    size_t nversions;
} mc_policy;

typedef struct {
    char *label;
    int64_t version;
} mc_label;

typedef struct {
    char *name;
    char *base_path;
    char *platform;
    mc_policy policy;
    mc_label *labels;
    size_t nlabels;
} mc_model;

typedef struct {
    mc_model *models;
    size_t nmodels;
} mc_config;

/* Parses the text of a model config file.  On success the caller frees
 * *cfg with mc_config_free.  Errors name the line and the fix. */
roma_code mc_parse(const char *text, mc_config *cfg, roma_err *err);

/* The config for --model_name/--model_base_path (latest 1 version). */
roma_code mc_single(const char *name, const char *base_path, mc_config *cfg, roma_err *err);

void mc_config_free(mc_config *cfg);

/* Applies policy to the versions found (any order).  Writes the chosen
 * versions, highest first, into chosen (room for navailable) and returns
 * their count; a specific version that is missing is an error. */
roma_code mc_apply_policy(const mc_policy *policy, const int64_t *available, size_t navailable,
                          int64_t *chosen, size_t *nchosen, roma_err *err);

/* Lists the numeric version directories under base_path (unsorted) into a
 * malloc'ed array the caller frees. */
roma_code mc_scan_versions(const char *base_path, int64_t **versions, size_t *n, roma_err *err);

#endif

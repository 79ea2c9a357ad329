/* config.h - roma.yaml, the one file an operator writes (DESIGN.md §1):
 *
 *   listen: 127.0.0.1:8501
 *   node:   {cpus: 2, gpus: []}
 *   control: {period: 2s, controller: roma}      # roma | rules | static
 *   dispatch: {gpu_policy: roma, queue_limit: 1000}
 *   store:  {path: roma.db, max_rows: 1000000}
 *   models:
 *     - name: resnet
 *       base_path: models/resnet
 *       sla: 0.200          # seconds (or "200ms")
 *       alpha: 0.5
 *       profiled: 0.015     # optional: service time on a GPU, seconds
 *       cores: {min: 0.2, max: 2, initial: 1}
 *
 * Parsed once into plain structs and validated: every mistake is reported
 * with the key, the line and the fix.  Pure (reads only the file and, to
 * check base paths, the file system).
 */
#ifndef ROMA_SERVE_CONFIG_H
#define ROMA_SERVE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"

typedef struct {
    char *name;
    char *base_path;
    double sla;      /* seconds, > 0 */
    double alpha;    /* [0, 1] */
    double profiled; /* seconds; 0 when not given */
    double cores_min, cores_max, cores_initial;
} serve_model_config;

typedef struct {
    char *listen_host;
    int listen_port;
    double node_cpus;
    int *gpus;
    size_t ngpus;
    double period;        /* seconds */
    char *controller;     /* a name roma_ctl_parse accepts */
    char *gpu_policy;     /* a name roma_policy_parse accepts */
    int queue_limit;      /* per model; past it requests get 429 */
    char *store_path;
    int64_t store_max_rows;
    serve_model_config *models;
    size_t nmodels;
} serve_config;

/* Parses and validates the YAML file at path.  On success the caller frees
 * *cfg with serve_config_free. */
roma_code serve_config_load(const char *path, serve_config *cfg, roma_err *err);

/* The same for YAML text (name is used in messages). */
roma_code serve_config_parse(const char *text, size_t len, const char *name, serve_config *cfg,
                             roma_err *err);

void serve_config_free(serve_config *cfg);

/* The model called name, or NULL. */
serve_model_config *serve_config_model(const serve_config *cfg, const char *name);

#endif

/* workload.c - see workload.h for the workload file's schema.
 *
 * Read with common/yamlmap.h: a table of keys per mapping, so every
 * message carries file:line and the key's full path
 * ("bench.yaml:9: models[1].ramp.to must be a number, got 'fast'"). */
#include "workload.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/file.h"
#include "common/yamlmap.h"

static roma_code read_connections(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    char *end = NULL;
    long x = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || x < 1 || x > BENCH_MAX_CONNECTIONS)
        return ym_fail(r, v, "%s must be a whole number from 1 to %d, got '%s'", path,
                       BENCH_MAX_CONNECTIONS, s ? s : "a collection");
    *(int *)dst = (int)x;
    return ROMA_OK;
}

static roma_code read_arrivals(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    roma_err e;
    if (bench_arrivals_parse(ym_text(v), dst, &e) != ROMA_OK) return ym_fail(r, v, "%s: %s", path, e.msg);
    return ROMA_OK;
}

/* ---- load: rate, step, ramp, sine ------------------------------------- */

static const char *load_key(bench_profile_kind k) {
    return k == BENCH_PROFILE_CONSTANT ? "rate" : bench_profile_name(k);
}

/* A model has one load; the second one given is an error naming both. */
static roma_code claim_load(ym_reader *r, const yaml_node_t *v, const char *path, bench_model *m,
                            bench_profile_kind kind) {
    if (m->has_load)
        return ym_fail(r, v, "%s: a model takes one load (rate, step, ramp or sine), and '%s' "
                       "is given too", path, load_key(m->profile.kind));
    m->has_load = 1;
    m->profile.kind = kind;
    m->profile.duration = NAN;
    return ROMA_OK;
}

static roma_code read_rate(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    bench_model *m = dst;
    roma_code rc = claim_load(r, v, path, m, BENCH_PROFILE_CONSTANT);
    return rc != ROMA_OK ? rc : ym_read_number(r, v, path, &m->profile.rate);
}

/* A load given as a mapping of its parameters. */
static roma_code read_load_map(ym_reader *r, const yaml_node_t *v, const char *path, bench_model *m,
                               bench_profile_kind kind, const ym_field *fields, size_t nfields) {
    roma_code rc = claim_load(r, v, path, m, kind);
    return rc != ROMA_OK ? rc : ym_read_map(r, v, path, fields, nfields, &m->profile);
}

static roma_code read_ramp(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"from", ym_read_number, offsetof(bench_profile, from), " (the rate at the start)"},
        {"to", ym_read_number, offsetof(bench_profile, to), " (the rate at the end)"},
        {"duration", ym_read_seconds, offsetof(bench_profile, duration), NULL},
    };
    return read_load_map(r, v, path, dst, BENCH_PROFILE_RAMP, fields, 3);
}

static roma_code read_sine(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"mean", ym_read_number, offsetof(bench_profile, mean), " (the average rate)"},
        {"amplitude", ym_read_number, offsetof(bench_profile, amplitude), " (the swing around the mean)"},
        {"period", ym_read_seconds, offsetof(bench_profile, period), " (the length of one cycle)"},
        {"duration", ym_read_seconds, offsetof(bench_profile, duration), NULL},
    };
    return read_load_map(r, v, path, dst, BENCH_PROFILE_SINE, fields, 4);
}

/* One step: {rate: R, duration: D} or the pair [R, D]. */
static roma_code read_one_step(ym_reader *r, const yaml_node_t *v, const char *path, bench_step *s) {
    static const ym_field fields[] = {
        {"rate", ym_read_number, offsetof(bench_step, rate), ""},
        {"duration", ym_read_seconds, offsetof(bench_step, duration), ""},
    };
    if (v && v->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = v->data.sequence.items.start;
        if (v->data.sequence.items.top - it != 2)
            return ym_fail(r, v, "%s must be a pair [rate, duration] or {rate: R, duration: D}", path);
        roma_code rc = ym_read_number(r, ym_node(r, it[0]), path, &s->rate);
        return rc != ROMA_OK ? rc : ym_read_seconds(r, ym_node(r, it[1]), path, &s->duration);
    }
    return ym_read_map(r, v, path, fields, 2, s);
}

static roma_code read_step(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    bench_model *m = dst;
    roma_code rc = claim_load(r, v, path, m, BENCH_PROFILE_STEP);
    if (rc != ROMA_OK) return rc;
    if (!v || v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return ym_fail(r, v, "%s must be a non-empty list of steps, e.g. "
                       "[{rate: 10, duration: 5s}, {rate: 50, duration: 10s}]", path);
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    m->profile.steps = calloc(n, sizeof(bench_step));
    if (!m->profile.steps) abort();
    for (size_t i = 0; i < n; i++) {
        char item[192];
        snprintf(item, sizeof(item), "%s[%zu]", path, i);
        rc = read_one_step(r, ym_node(r, v->data.sequence.items.start[i]), item, &m->profile.steps[i]);
        if (rc != ROMA_OK) return rc;
        m->profile.nsteps = i + 1;
    }
    return ROMA_OK;
}

/* ---- models ------------------------------------------------------------- */

static bench_model *grow_models(bench_workload *w) {
    bench_model *n = realloc(w->models, (w->nmodels + 1) * sizeof(*n));
    if (!n) abort();
    w->models = n;
    bench_model *m = &w->models[w->nmodels++];
    memset(m, 0, sizeof(*m));
    m->sla = NAN;
    m->arrivals = BENCH_ARRIVALS_CONSTANT;
    return m;
}

/* Model names become part of URLs: keep them to what TF Serving takes. */
static int good_model_name(const char *s) {
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(s);
}

/* A model's keys; the first five are flags too (name as --model). */
static const ym_field model_fields[] = {
    {"name", ym_read_text, offsetof(bench_model, name), " (the model's name on the server)"},
    {"payload", ym_read_path, offsetof(bench_model, payload_path), NULL}, /* finish checks it */
    {"sla", ym_read_seconds, offsetof(bench_model, sla), " (the response-time constraint, e.g. 100ms)"},
    {"arrivals", read_arrivals, offsetof(bench_model, arrivals), NULL},
    {"rate", read_rate, 0, NULL},
    {"step", read_step, 0, NULL},
    {"ramp", read_ramp, 0, NULL},
    {"sine", read_sine, 0, NULL},
};
#define MODEL_FIELDS (sizeof(model_fields) / sizeof(model_fields[0]))

static roma_code read_model(ym_reader *r, const yaml_node_t *v, const char *path, bench_workload *w) {
    bench_model *m = grow_models(w);
    roma_code rc = ym_read_map(r, v, path, model_fields, MODEL_FIELDS, m);
    if (rc != ROMA_OK) return rc;
    if (!good_model_name(m->name))
        return ym_fail(r, v, "%s.name '%s' may hold only letters, digits, '.', '_' and '-'", path, m->name);
    for (size_t i = 0; i + 1 < w->nmodels; i++)
        if (strcmp(w->models[i].name, m->name) == 0)
            return ym_fail(r, v, "%s.name: model '%s' is listed twice", path, m->name);
    return ROMA_OK;
}

static roma_code read_models(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    if (!v || v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return ym_fail(r, v, "%s must be a non-empty list of models (- name: ..., payload: ..., sla: ...)",
                       path);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        char item[64];
        snprintf(item, sizeof(item), "%s[%zu]", path, (size_t)(it - v->data.sequence.items.start));
        roma_code rc = read_model(r, ym_node(r, *it), item, dst);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

/* ---- the file ----------------------------------------------------------- */

void bench_workload_init(bench_workload *w) {
    memset(w, 0, sizeof(*w));
    w->duration = NAN;
    w->seed = BENCH_DEFAULT_SEED;
    w->window = BENCH_DEFAULT_WINDOW;
    w->connections = BENCH_DEFAULT_CONNECTIONS;
    w->timeout = BENCH_DEFAULT_TIMEOUT;
}

/* The top level of the file; all but models are flags too. */
static const ym_field run_fields[] = {
    {"target", ym_read_text, offsetof(bench_workload, target), NULL},
    {"duration", ym_read_seconds, offsetof(bench_workload, duration), NULL},
    {"seed", ym_read_seed, offsetof(bench_workload, seed), NULL},
    {"window", ym_read_seconds, offsetof(bench_workload, window), NULL},
    {"connections", read_connections, offsetof(bench_workload, connections), NULL},
    {"timeout", ym_read_seconds, offsetof(bench_workload, timeout), NULL},
    {"trace", ym_read_path, offsetof(bench_workload, trace_path), NULL},
    {"models", read_models, 0, " (a list of - name: ..., payload: ..., sla: ...)"},
};
#define RUN_FIELDS (sizeof(run_fields) / sizeof(run_fields[0]))

static roma_code read_run(ym_reader *r, const yaml_node_t *root, void *w) {
    return ym_read_map(r, root, "", run_fields, RUN_FIELDS, w);
}

roma_code bench_workload_parse(const char *text, size_t len, const char *file, bench_workload *w,
                               roma_err *err) {
    return ym_parse(text, len, file, "the workload", read_run, w, err);
}

/* ---- flags ---------------------------------------------------------------- */

roma_code bench_workload_set_flag(bench_workload *w, const char *flag, const char *value,
                                  roma_err *err) {
    yaml_node_t n;
    memset(&n, 0, sizeof(n));
    n.type = YAML_SCALAR_NODE;
    n.data.scalar.value = (yaml_char_t *)value;
    n.data.scalar.length = strlen(value);
    ym_reader r = {NULL, NULL, 0, "the workload", err};
    char path[64];
    snprintf(path, sizeof(path), "--%s", flag);
    for (size_t i = 0; i + 1 < RUN_FIELDS; i++) /* not models */
        if (strcmp(flag, run_fields[i].key) == 0)
            return run_fields[i].read(&r, &n, path, (char *)w + run_fields[i].offset);
    for (size_t i = 0; i < 5; i++) {
        if (strcmp(flag, i == 0 ? "model" : model_fields[i].key) != 0) continue;
        if (!w->nmodels) grow_models(w);
        return model_fields[i].read(&r, &n, path, (char *)&w->models[0] + model_fields[i].offset);
    }
    return roma_fail(err, ROMA_INVALID_ARGUMENT, "unknown flag --%s (see roma bench --help)", flag);
}

/* ---- after flags: defaults and checks ----------------------------------- */

static roma_code finish_model(const bench_workload *w, bench_model *m, int need_payload,
                              roma_err *err) {
    if (!m->name || !good_model_name(m->name))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "model name '%s': give --model NAME, the model's name on the server "
                         "(letters, digits, '.', '_' and '-')", m->name ? m->name : "");
    if (isnan(m->sla))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "model '%s' has no SLA: give sla (or --sla SECONDS)", m->name);
    if (need_payload && !m->payload_path)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "model '%s' has no payload: give payload (or --payload FILE)", m->name);
    if (!m->has_load && !w->trace_path)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "model '%s' has no load: give rate, step, ramp or sine (or --rate), or "
                         "a trace listing its requests", m->name);
    if (!m->has_load) return ROMA_OK;
    if (m->profile.kind != BENCH_PROFILE_STEP && isnan(m->profile.duration)) {
        if (isnan(w->duration))
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "model '%s': %s has no duration: give the top-level duration (or "
                             "--duration SECONDS)", m->name, load_key(m->profile.kind));
        m->profile.duration = w->duration;
    }
    roma_err e;
    if (bench_profile_check(&m->profile, &e) != ROMA_OK)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': %s", m->name, e.msg);
    return ROMA_OK;
}

static roma_code finish_models(bench_workload *w, int need_payload, roma_err *err) {
    if (w->nmodels == 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "no model: give --model NAME (or models: in a workload file)");
    for (size_t i = 0; i < w->nmodels; i++) {
        roma_code rc = finish_model(w, &w->models[i], need_payload, err);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

roma_code bench_workload_finish(bench_workload *w, roma_err *err) {
    if (!w->target)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "no target: give target: in the workload file or --target URL "
                         "(e.g. http://127.0.0.1:8501)");
    if (strncmp(w->target, "http://", 7) != 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "target '%s' must be an http:// URL such as http://127.0.0.1:8501",
                         w->target);
    return finish_models(w, 1, err);
}

roma_code bench_workload_finish_load(bench_workload *w, roma_err *err) {
    return finish_models(w, 0, err);
}

roma_code bench_read_file(const char *path, const char *what, char **text, size_t *len,
                          roma_err *err) {
    *text = roma_read_file(path, len);
    if (!*text) return roma_fail(err, ROMA_NOT_FOUND, "cannot read %s '%s': %s", what, path, strerror(errno));
    return ROMA_OK;
}

roma_code bench_workload_read_payloads(bench_workload *w, roma_err *err) {
    for (size_t i = 0; i < w->nmodels; i++) {
        bench_model *m = &w->models[i];
        char what[160];
        snprintf(what, sizeof(what), "the payload of model '%s'", m->name);
        free(m->body);
        m->body = NULL;
        roma_code rc = bench_read_file(m->payload_path, what, &m->body, &m->body_len, err);
        if (rc != ROMA_OK) return rc;
        json_error_t je;
        json_t *j = json_loadb(m->body, m->body_len, 0, &je);
        if (!j)
            return roma_fail(err, ROMA_INVALID_ARGUMENT,
                             "%s (%s) is not JSON: line %d: %s; it must be a TF Serving request "
                             "body such as {\"instances\": [1.0]}", what, m->payload_path, je.line, je.text);
        json_decref(j);
    }
    return ROMA_OK;
}

void bench_workload_free(bench_workload *w) {
    for (size_t i = 0; i < w->nmodels; i++) {
        free(w->models[i].name);
        free(w->models[i].payload_path);
        free(w->models[i].body);
        free(w->models[i].profile.steps);
    }
    free(w->models);
    free(w->target);
    free(w->trace_path);
    memset(w, 0, sizeof(*w));
}

/* ---- the plan ------------------------------------------------------------ */

/* The run's length when the workload does not give one: the longest
 * profile or the last row of the trace (the only sends planned so far). */
static double natural_duration(const bench_workload *w, const bench_schedule *trace_part) {
    double d = 0;
    for (size_t i = 0; i < w->nmodels; i++)
        if (w->models[i].has_load && bench_profile_duration(&w->models[i].profile) > d)
            d = bench_profile_duration(&w->models[i].profile);
    for (size_t k = 0; k < trace_part->len; k++)
        if (trace_part->sends[k].time > d) d = trace_part->sends[k].time;
    return d;
}

static roma_code plan_trace(const bench_workload *w, const char *csv, bench_plan *p, roma_err *err) {
    const char **names = calloc(w->nmodels, sizeof(*names));
    if (!names) abort();
    for (size_t i = 0; i < w->nmodels; i++) names[i] = w->models[i].name;
    roma_code rc = bench_schedule_add_trace(&p->schedule, csv, w->trace_path, names, w->nmodels,
                                            isnan(w->duration) ? INFINITY : w->duration, err);
    free(names);
    for (size_t k = 0; rc == ROMA_OK && k < p->schedule.len; k++) p->asked[p->schedule.sends[k].model]++;
    return rc;
}

roma_code bench_workload_plan(const bench_workload *w, const char *trace_csv, bench_plan *p,
                              roma_err *err) {
    memset(p, 0, sizeof(*p));
    p->asked = calloc(w->nmodels ? w->nmodels : 1, sizeof(*p->asked));
    if (!p->asked) abort();
    roma_code rc = trace_csv ? plan_trace(w, trace_csv, p, err) : ROMA_OK;
    p->duration = isnan(w->duration) ? natural_duration(w, &p->schedule) : w->duration;
    for (size_t i = 0; rc == ROMA_OK && i < w->nmodels; i++) {
        const bench_model *m = &w->models[i];
        if (!m->has_load) continue;
        rc = bench_schedule_add_profile(&p->schedule, &m->profile, m->arrivals, w->seed + i,
                                        (uint32_t)i, p->duration, err);
        p->asked[i] += bench_profile_expected(&m->profile, p->duration);
    }
    if (rc == ROMA_OK && (p->schedule.len == 0 || !(p->duration > 0)))
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "the workload sends no requests (%zu scheduled over %g s): check the "
                       "rates, the duration and the trace", p->schedule.len, p->duration);
    if (rc != ROMA_OK) {
        bench_plan_free(p);
        return rc;
    }
    bench_schedule_sort(&p->schedule);
    return ROMA_OK;
}

void bench_plan_free(bench_plan *p) {
    bench_schedule_free(&p->schedule);
    free(p->asked);
    p->asked = NULL;
}

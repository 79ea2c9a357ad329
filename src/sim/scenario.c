/* scenario.c - see scenario.h for the scenario file's schema. */
#include "scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/yamlmap.h"

/* ---- readers ------------------------------------------------------------- */

/* A sequence of mappings, each read by one_fn into a new element of a
 * growing array (*items, *n) of elements of size `size`, at most max. */
typedef roma_code (*item_fn)(ym_reader *r, const yaml_node_t *v, const char *path, void *item);

static roma_code read_list(ym_reader *r, const yaml_node_t *v, const char *path, void **items,
                           size_t *n, size_t size, size_t max, item_fn one, const char *example) {
    long len = ym_seq_len(v);
    if (len <= 0) return ym_fail(r, v, "%s must be a non-empty list, e.g. %s", path, example);
    if ((size_t)len > max) return ym_fail(r, v, "%s: at most %zu items, got %ld", path, max, len);
    *items = calloc((size_t)len, size);
    if (!*items) abort();
    for (long i = 0; i < len; i++) {
        char item[64];
        snprintf(item, sizeof(item), "%s[%ld]", path, i);
        *n = (size_t)i + 1;
        roma_code rc = one(r, ym_node(r, v->data.sequence.items.start[i]), item,
                           (char *)*items + (size_t)i * size);
        if (rc != ROMA_OK) return rc;
    }
    return ROMA_OK;
}

static roma_code read_node(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"name", ym_read_text, offsetof(sim_node, name), " (how models name their node)"},
        {"cpus", ym_read_number, offsetof(sim_node, cpus), " (cores ROMA may hand out)"},
        {"gpus", ym_read_number, offsetof(sim_node, gpus), NULL},
        {"cores", ym_read_number, offsetof(sim_node, cores), NULL},
    };
    sim_node *n = dst;
    n->cores = NAN;
    roma_code rc = ym_read_map(r, v, path, fields, 4, n);
    if (rc != ROMA_OK) return rc;
    if (!(n->cpus > 0)) return ym_fail(r, v, "%s.cpus must be > 0, got %g", path, n->cpus);
    if (isnan(n->cores)) n->cores = n->cpus;
    if (!(n->cores > 0)) return ym_fail(r, v, "%s.cores must be > 0, got %g", path, n->cores);
    if (n->gpus < 0 || n->gpus > SIM_MAX_GPUS || n->gpus != floor(n->gpus))
        return ym_fail(r, v, "%s.gpus must be a whole number from 0 to %d, got %g", path,
                       SIM_MAX_GPUS, n->gpus);
    return ROMA_OK;
}

static roma_code read_nodes(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    sim_scenario *s = dst;
    return read_list(r, v, path, (void **)&s->nodes, &s->nnodes, sizeof(sim_node), SIM_MAX_NODES,
                     read_node, "[{name: n1, cpus: 6, gpus: 1}]");
}

static roma_code read_cores(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"min", ym_read_number, offsetof(sim_model, cores_min), NULL},
        {"max", ym_read_number, offsetof(sim_model, cores_max), " (the most cores the CPU worker gets)"},
        {"initial", ym_read_number, offsetof(sim_model, cores_initial), NULL},
    };
    return ym_read_map(r, v, path, fields, 3, dst);
}

static roma_code check_service(ym_reader *r, const yaml_node_t *v, const char *path,
                               sim_service *s) {
    if (!(s->time > 0)) return ym_fail(r, v, "%s.time must be > 0", path);
    if (s->overhead < 0) return ym_fail(r, v, "%s.overhead must be >= 0 (seconds)", path);
    if (s->cv < 0 || s->cv > 10) return ym_fail(r, v, "%s.cv must be from 0 to 10, got %g", path, s->cv);
    if (s->dist_name && strcmp(s->dist_name, "lognormal") != 0 && strcmp(s->dist_name, "exponential") != 0)
        return ym_fail(r, v, "%s.dist '%s' is not one of lognormal, exponential", path, s->dist_name);
    if (s->parallel < 0 || s->parallel > 1)
        return ym_fail(r, v, "%s.parallel must be from 0 to 1, got %g", path, s->parallel);
    s->dist = s->dist_name && strcmp(s->dist_name, "exponential") == 0 ? SIM_NOISE_EXPONENTIAL
                                                                       : SIM_NOISE_LOGNORMAL;
    return ROMA_OK;
}

static roma_code read_cpu(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"time", ym_read_seconds, offsetof(sim_service, time), " (one request's time on one core)"},
        {"parallel", ym_read_number, offsetof(sim_service, parallel), NULL},
        {"cv", ym_read_number, offsetof(sim_service, cv), NULL},
        {"dist", ym_read_text, offsetof(sim_service, dist_name), NULL},
        {"overhead", ym_read_number, offsetof(sim_service, overhead), NULL},
    };
    roma_code rc = ym_read_map(r, v, path, fields, 5, dst);
    return rc != ROMA_OK ? rc : check_service(r, v, path, dst);
}

static roma_code read_gpu(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"index", ym_read_number, offsetof(sim_service, index), " (the GPU of the model's node)"},
        {"time", ym_read_seconds, offsetof(sim_service, time), " (one request's time on the GPU)"},
        {"cv", ym_read_number, offsetof(sim_service, cv), NULL},
        {"profiled", ym_read_seconds, offsetof(sim_service, profiled), NULL},
        {"dist", ym_read_text, offsetof(sim_service, dist_name), NULL},
    };
    sim_service *g = dst;
    roma_code rc = ym_read_map(r, v, path, fields, 5, g);
    if (rc != ROMA_OK) return rc;
    if (g->index < 0 || g->index != floor(g->index))
        return ym_fail(r, v, "%s.index must be a whole number >= 0, got %g", path, g->index);
    return check_service(r, v, path, g);
}

static roma_code read_model(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"name", ym_read_text, offsetof(sim_model, name), " (a model of the workload)"},
        {"node", ym_read_text, offsetof(sim_model, node_name), " (the name of a node)"},
        {"sla", ym_read_seconds, offsetof(sim_model, sla), NULL},
        {"alpha", ym_read_number, offsetof(sim_model, alpha), NULL},
        {"cores", read_cores, 0, NULL},
        {"cpu", read_cpu, offsetof(sim_model, cpu), NULL},
        {"gpu", read_gpu, offsetof(sim_model, gpu), NULL},
        {"sla_percentile", ym_read_number, offsetof(sim_model, sla_percentile), NULL},
    };
    sim_model *m = dst;
    m->sla = NAN;
    m->alpha = 0.5;
    m->cores_min = m->cores_initial = NAN;
    m->gpu.index = m->gpu.profiled = NAN;
    roma_code rc = ym_read_map(r, v, path, fields, 8, m);
    if (rc != ROMA_OK) return rc;
    if (isnan(m->cores_min)) m->cores_min = fmin(0.1, m->cores_max); /* roma serve's default */
    if (isnan(m->cores_initial)) m->cores_initial = m->cores_min;
    if (!(m->sla_percentile >= 0 && m->sla_percentile <= 100))
        return ym_fail(r, v, "%s.sla_percentile must be in (0, 100] (or left out: the mean), "
                       "got %g", path, m->sla_percentile);
    if (!(m->alpha >= 0 && m->alpha <= 1))
        return ym_fail(r, v, "%s.alpha must be from 0 to 1, got %g", path, m->alpha);
    /* As roma serve: a CPU worker held at 0 cores would never finish a
     * request, and a window without completions keeps it at min. */
    double least = m->cores_max > 0 ? 0.01 : 0;
    if (!(m->cores_min >= least && m->cores_min <= m->cores_initial && m->cores_initial <= m->cores_max))
        return ym_fail(r, v, "%s.cores must hold %g <= min <= initial <= max, got min %g, initial "
                       "%g, max %g", path, least, m->cores_min, m->cores_initial, m->cores_max);
    if (m->cores_max > 0 && !(m->cpu.time > 0))
        return ym_fail(r, v, "%s: cores.max is %g but there is no cpu: {time: T}; give the CPU "
                       "service time, or cores.max 0 for a model served by its GPU only", path,
                       m->cores_max);
    if (isnan(m->gpu.profiled)) m->gpu.profiled = m->gpu.time;
    return ROMA_OK;
}

static roma_code read_models(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    sim_scenario *s = dst;
    return read_list(r, v, path, (void **)&s->models, &s->nmodels, sizeof(sim_model),
                     SIM_MAX_MODELS, read_model, "[{name: resnet, node: n1, cores: ..., cpu: ...}]");
}

/* Turns a run's names into kinds, naming the bad one and the choices. */
static roma_code resolve_run(ym_reader *r, const yaml_node_t *v, const char *path, sim_run_spec *run) {
    static const char *const devices[] = {"both", "cpu", "gpu"};
    if (run->controller_name && roma_ctl_parse(run->controller_name, &run->controller) != ROMA_OK)
        return ym_fail(r, v, "%s.controller '%s' is not one of %s", path, run->controller_name,
                       ROMA_CTL_NAMES);
    if (run->policy_name && roma_policy_parse(run->policy_name, &run->policy) != ROMA_OK)
        return ym_fail(r, v, "%s.policy '%s' is not one of %s", path, run->policy_name,
                       ROMA_POLICY_NAMES);
    for (int i = 0; run->devices_name && i <= 3; i++) {
        if (i == 3) return ym_fail(r, v, "%s.devices '%s' is not one of both, cpu, gpu", path, run->devices_name);
        if (strcmp(run->devices_name, devices[i]) == 0) {
            run->devices = (sim_devices)i;
            break;
        }
    }
    if (run->cores_name && strcmp(run->cores_name, "initial") != 0 && strcmp(run->cores_name, "max") != 0)
        return ym_fail(r, v, "%s.cores '%s' is not one of initial, max", path, run->cores_name);
    run->cores_max = run->cores_name && strcmp(run->cores_name, "max") == 0;
    return ROMA_OK;
}

static roma_code read_run(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"name", ym_read_text, offsetof(sim_run_spec, name), " (names the run in the results)"},
        {"controller", ym_read_text, offsetof(sim_run_spec, controller_name), NULL},
        {"policy", ym_read_text, offsetof(sim_run_spec, policy_name), NULL},
        {"devices", ym_read_text, offsetof(sim_run_spec, devices_name), NULL},
        {"cores", ym_read_text, offsetof(sim_run_spec, cores_name), NULL},
    };
    sim_run_spec *run = dst;
    roma_ctl_parse(ROMA_CTL_DEFAULT, &run->controller); /* as roma serve's default */
    run->policy = ROMA_POLICY_ROMA;
    run->devices = SIM_DEVICES_BOTH;
    roma_code rc = ym_read_map(r, v, path, fields, 5, run);
    return rc != ROMA_OK ? rc : resolve_run(r, v, path, run);
}

static roma_code read_runs(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    sim_scenario *s = dst;
    return read_list(r, v, path, (void **)&s->runs, &s->nruns, sizeof(sim_run_spec), SIM_MAX_RUNS,
                     read_run, "[{name: roma, controller: roma, policy: roma}]");
}

/* A duration >= 0: cfs_period 0 asks for the fluid model of a quota. */
static roma_code read_cfs_period(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    double x;
    if (!s || roma_parse_duration(s, &x) != 0 || x < 0)
        return ym_fail(r, v, "%s must be a duration >= 0 such as 100ms (0: quota as a steady "
                       "rate), got '%s'", path, s ? s : "a collection");
    *(double *)dst = x;
    return ROMA_OK;
}

static roma_code read_control(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"period", ym_read_seconds, offsetof(sim_scenario, period), NULL},
        {"cfs_period", read_cfs_period, offsetof(sim_scenario, cfs_period), NULL},
    };
    return ym_read_map(r, v, path, fields, 2, dst);
}

static roma_code read_dispatch(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"queue_limit", ym_read_number, offsetof(sim_scenario, queue_limit), NULL},
        {"pipeline", ym_read_number, offsetof(sim_scenario, pipeline), NULL},
    };
    sim_scenario *s = dst;
    roma_code rc = ym_read_map(r, v, path, fields, 2, s);
    if (rc != ROMA_OK) return rc;
    if (s->queue_limit < 1 || s->queue_limit != floor(s->queue_limit) || s->queue_limit > 1e7)
        return ym_fail(r, v, "%s.queue_limit must be a whole number from 1 to 10000000", path);
    if (s->pipeline < 0 || s->pipeline != floor(s->pipeline) || s->pipeline > 62)
        return ym_fail(r, v, "%s.pipeline must be a whole number from 0 to 62", path);
    return ROMA_OK;
}

static roma_code read_optimum(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    static const ym_field fields[] = {
        {"target", ym_read_number, offsetof(sim_scenario, optimum_target),
         " (the share of a window's requests allowed to miss their SLA)"},
    };
    sim_scenario *s = dst;
    roma_code rc = ym_read_map(r, v, path, fields, 1, s);
    if (rc != ROMA_OK) return rc;
    if (!(s->optimum_target >= 0 && s->optimum_target <= 1))
        return ym_fail(r, v, "%s.target must be a share from 0 to 1 (0.05: 5%% of a window's "
                       "requests may miss their SLA), got %g", path, s->optimum_target);
    return ROMA_OK;
}

static const ym_field top_fields[] = {
    {"workload", ym_read_path, offsetof(sim_scenario, workload_path),
     " (a roma bench workload file: the load to simulate)"},
    {"seed", ym_read_seed, offsetof(sim_scenario, seed), NULL},
    {"control", read_control, 0, NULL},
    {"dispatch", read_dispatch, 0, NULL},
    {"optimum", read_optimum, 0, NULL},
    {"nodes", read_nodes, 0, " (a list of {name, cpus, gpus})"},
    {"models", read_models, 0, " (a list of models: name, node, cores, cpu, gpu)"},
    {"runs", read_runs, 0, " (a list of {name, controller, policy, devices, cores})"},
};

static roma_code read_top(ym_reader *r, const yaml_node_t *root, void *s) {
    return ym_read_map(r, root, "", top_fields, sizeof(top_fields) / sizeof(top_fields[0]), s);
}

/* ---- the scenario -------------------------------------------------------- */

void sim_scenario_init(sim_scenario *s) {
    memset(s, 0, sizeof(*s));
    s->seed = 1;
    s->period = 0.25;     /* roma serve's default control.period on one node (SERVE_PERIOD_NODE) */
    s->cfs_period = 0.1;  /* the cpu.cfs_period_us roma serve writes (CG_PERIOD_US) */
    s->queue_limit = 1000; /* roma serve's default dispatch.queue_limit */
    s->pipeline = 2;       /* roma serve keeps 2 requests waiting at each worker */
    s->optimum_target = 0.05;
}

roma_code sim_scenario_parse(const char *text, size_t len, const char *file, sim_scenario *s,
                             roma_err *err) {
    return ym_parse(text, len, file, "the scenario", read_top, s, err);
}

static roma_code link_model(sim_scenario *s, sim_model *m, const bench_workload *w, double *mins,
                            roma_err *err) {
    size_t i = 0;
    while (i < s->nnodes && strcmp(s->nodes[i].name, m->node_name) != 0) i++;
    if (i == s->nnodes)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': node '%s' is not in nodes:",
                         m->name, m->node_name);
    m->node = i;
    if (!isnan(m->gpu.index) && m->gpu.index >= s->nodes[i].gpus)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': gpu.index %g, but node '%s' has "
                         "%g GPU(s) (indexes from 0)", m->name, m->gpu.index, s->nodes[i].name,
                         s->nodes[i].gpus);
    size_t k = 0;
    while (k < w->nmodels && strcmp(w->models[k].name, m->name) != 0) k++;
    if (k == w->nmodels)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s' is not in the workload '%s': add "
                         "it there (with its load) or remove it here", m->name, s->workload_path);
    m->workload_model = k;
    if (isnan(m->sla)) m->sla = w->models[k].sla;
    mins[i] += m->cores_min;
    return ROMA_OK;
}

static roma_code check_runs(const sim_scenario *s, roma_err *err) {
    for (size_t r = 0; r < s->nruns; r++) {
        const sim_run_spec *run = &s->runs[r];
        for (size_t q = 0; q < r; q++)
            if (strcmp(s->runs[q].name, run->name) == 0)
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "run '%s' is listed twice", run->name);
        for (size_t i = 0; i < s->nmodels; i++) {
            const sim_model *m = &s->models[i];
            if (run->devices == SIM_DEVICES_GPU && isnan(m->gpu.index))
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "run '%s' uses GPUs only, but model "
                                 "'%s' has no gpu: give it one or drop the run", run->name, m->name);
            if (run->devices != SIM_DEVICES_GPU && isnan(m->gpu.index) && !(m->cores_max > 0))
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s' has neither a gpu nor "
                                 "cores.max > 0: nothing can serve it", m->name);
        }
    }
    return ROMA_OK;
}

roma_code sim_scenario_check(sim_scenario *s, const bench_workload *w, roma_err *err) {
    double mins[SIM_MAX_NODES] = {0};
    for (size_t i = 0; i < s->nmodels; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->models[j].name, s->models[i].name) == 0)
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s' is listed twice", s->models[i].name);
        roma_code rc = link_model(s, &s->models[i], w, mins, err);
        if (rc != ROMA_OK) return rc;
    }
    for (size_t k = 0; k < w->nmodels; k++) {
        size_t i = 0;
        while (i < s->nmodels && s->models[i].workload_model != k) i++;
        if (i == s->nmodels)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "the workload sends to model '%s', which "
                             "the scenario does not have: add it under models:", w->models[k].name);
    }
    for (size_t i = 0; i < s->nnodes; i++)
        if (mins[i] > s->nodes[i].cpus + ROMA_CTL_EPS)
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "node '%s': the models' cores.min add up "
                             "to %g, more than its %g cpus", s->nodes[i].name, mins[i], s->nodes[i].cpus);
    return check_runs(s, err);
}

void sim_scenario_free(sim_scenario *s) {
    for (size_t i = 0; i < s->nnodes; i++) free(s->nodes[i].name);
    for (size_t i = 0; i < s->nmodels; i++) {
        free(s->models[i].name);
        free(s->models[i].node_name);
        free(s->models[i].cpu.dist_name);
        free(s->models[i].gpu.dist_name);
    }
    for (size_t i = 0; i < s->nruns; i++) {
        sim_run_spec *r = &s->runs[i];
        free(r->name);
        free(r->controller_name);
        free(r->policy_name);
        free(r->devices_name);
        free(r->cores_name);
    }
    free(s->nodes);
    free(s->models);
    free(s->runs);
    free(s->workload_path);
    memset(s, 0, sizeof(*s));
}

/* config.c - see config.h.  libyaml loads the document tree; the walk
 * below checks every mapping against the keys it knows. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/duration.h"
#include "common/file.h"
#include "control/controller.h"
#include "control/policy.h"

typedef struct {
    yaml_document_t *doc;
    const char *file;
    roma_err *err;
} walker;

static roma_code bad(walker *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static roma_code bad(walker *w, const yaml_node_t *n, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return roma_fail(w->err, ROMA_INVALID_ARGUMENT, "%s:%zu: %s", w->file,
                     n ? n->start_mark.line + 1 : 0, msg);
}

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Checks that every key of map is one of known (a NULL-terminated list). */
static roma_code check_keys(walker *w, const yaml_node_t *map, const char *where,
                            const char *const *known) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return bad(w, map, "%s must be a mapping (key: value)", where);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *key = scalar(yaml_document_get_node(w->doc, p->key));
        int ok = 0;
        for (size_t i = 0; key && known[i]; i++) ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (size_t i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         known[i]);
            return bad(w, yaml_document_get_node(w->doc, p->key),
                       "unknown key '%s' in %s (known keys: %s)", key ? key : "?", where, list);
        }
    }
    return ROMA_OK;
}

static yaml_node_t *get(walker *w, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(w->doc, p->key));
        if (k && strcmp(k, key) == 0) return yaml_document_get_node(w->doc, p->value);
    }
    return NULL;
}

static roma_code get_number(walker *w, const yaml_node_t *map, const char *key, double *out,
                            const char *where) {
    const yaml_node_t *n = get(w, map, key);
    const char *s = scalar(n);
    char *end;
    if (!n) return ROMA_OK; /* keep the default */
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !isfinite(v))
        return bad(w, n, "%s.%s must be a number, got '%s'", where, key, s ? s : "a collection");
    *out = v;
    return ROMA_OK;
}

static roma_code get_duration(walker *w, const yaml_node_t *map, const char *key, double *out,
                              const char *where) {
    const yaml_node_t *n = get(w, map, key);
    if (!n) return ROMA_OK;
    if (roma_parse_duration(scalar(n), out) != 0)
        return bad(w, n, "%s.%s must be a duration such as 2s, 500ms or 0.2, got '%s'", where,
                   key, scalar(n) ? scalar(n) : "a collection");
    return ROMA_OK;
}

static roma_code get_string(walker *w, const yaml_node_t *map, const char *key, char **out,
                            const char *where) {
    const yaml_node_t *n = get(w, map, key);
    if (!n) return ROMA_OK;
    if (!scalar(n) || !*scalar(n)) return bad(w, n, "%s.%s must be a non-empty string", where, key);
    free(*out);
    *out = strdup(scalar(n));
    return ROMA_OK;
}

static roma_code parse_listen(walker *w, const yaml_node_t *root, serve_config *c) {
    const yaml_node_t *n = get(w, root, "listen");
    const char *s = scalar(n);
    if (!n) return ROMA_OK;
    const char *colon = s ? strrchr(s, ':') : NULL;
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == s || *end || port < 1 || port > 65535)
        return bad(w, n, "listen must be HOST:PORT such as 127.0.0.1:8501, got '%s'", s ? s : "?");
    free(c->listen_host);
    c->listen_host = strndup(s, (size_t)(colon - s));
    c->listen_port = (int)port;
    return ROMA_OK;
}

/* A list of GPU indexes such as [0, 1] (where names it in messages). */
static roma_code parse_gpus(walker *w, const yaml_node_t *gpus, const char *where, int **out,
                            size_t *n) {
    if (gpus->type != YAML_SEQUENCE_NODE)
        return bad(w, gpus, "%s must be a list of GPU indexes such as [0, 1] or []", where);
    for (yaml_node_item_t *i = gpus->data.sequence.items.start; i < gpus->data.sequence.items.top; i++) {
        const yaml_node_t *g = yaml_document_get_node(w->doc, *i);
        const char *s = scalar(g);
        char *end;
        long idx = s ? strtol(s, &end, 10) : -1;
        if (!s || *end || idx < 0 || idx > 1024)
            return bad(w, g, "%s entries must be GPU indexes (0, 1, ...)", where);
        *out = realloc(*out, sizeof(int) * (*n + 1));
        if (!*out) abort();
        (*out)[(*n)++] = (int)idx;
    }
    return ROMA_OK;
}

roma_code serve_config_cpu_list(const char *text, serve_gpu_standin *out, roma_err *err) {
    char seen[SERVE_STANDIN_CPU_MAX + 1] = {0};
    const char *p = text ? text : "";
    for (;;) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p || *p == '-' || *p == '+' || *p == ' ') goto bad;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || *p == '-' || *p == '+' || *p == ' ') goto bad;
        }
        if (lo < 0 || hi < lo || hi > SERVE_STANDIN_CPU_MAX) goto bad;
        for (long c = lo; c <= hi; c++) seen[c] = 1;
        if (*end == '\0') break;
        if (*end != ',') goto bad;
        p = end + 1;
    }
    out->ncpus = 0;
    out->cpus = malloc(sizeof(int) * (SERVE_STANDIN_CPU_MAX + 1));
    if (!out->cpus) abort();
    for (int c = 0; c <= SERVE_STANDIN_CPU_MAX; c++)
        if (seen[c]) out->cpus[out->ncpus++] = c;
    return ROMA_OK;
bad:
    return roma_fail(err, ROMA_INVALID_ARGUMENT, "'%s' is not a CPU list: write CPU indexes "
                     "0-%d and ranges, comma-separated, such as \"1\" or \"2-3,6\"",
                     text ? text : "?", SERVE_STANDIN_CPU_MAX);
}

/* node.gpu_standins: [{cpus: "1"}, ...]; no CPU in two stand-ins. */
static roma_code parse_standins(walker *w, const yaml_node_t *list, serve_config *c) {
    static const char *const keys[] = {"cpus", NULL};
    if (list->type != YAML_SEQUENCE_NODE)
        return bad(w, list, "node.gpu_standins must be a list such as [{cpus: \"1\"}]");
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    c->standins = calloc(n ? n : 1, sizeof(*c->standins));
    if (!c->standins) abort();
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, list->data.sequence.items.start[i]);
        char where[64];
        roma_err why;
        roma_code rc;
        snprintf(where, sizeof(where), "node.gpu_standins[%zu]", i);
        if ((rc = check_keys(w, e, where, keys)) != ROMA_OK) return rc;
        const yaml_node_t *cpus = get(w, e, "cpus");
        if (!cpus) return bad(w, e, "%s needs cpus: the CPUs it runs on, such as \"1\"", where);
        if (serve_config_cpu_list(scalar(cpus), &c->standins[i], &why) != ROMA_OK)
            return bad(w, cpus, "%s.cpus: %s", where, why.msg);
        c->nstandins++;
        for (size_t j = 0; j < i; j++)
            for (size_t a = 0; a < c->standins[i].ncpus; a++)
                for (size_t b = 0; b < c->standins[j].ncpus; b++)
                    if (c->standins[i].cpus[a] == c->standins[j].cpus[b])
                        return bad(w, cpus, "%s.cpus: CPU %d is also node.gpu_standins[%zu]'s: "
                                   "give each stand-in CPUs of its own", where,
                                   c->standins[i].cpus[a], j);
    }
    return ROMA_OK;
}

static roma_code parse_node(walker *w, const yaml_node_t *root, serve_config *c) {
    static const char *const keys[] = {"cpus", "gpus", "gpu_standins", NULL};
    const yaml_node_t *node = get(w, root, "node");
    roma_code rc;
    if (!node) return ROMA_OK;
    if ((rc = check_keys(w, node, "node", keys)) != ROMA_OK) return rc;
    if ((rc = get_number(w, node, "cpus", &c->node_cpus, "node")) != ROMA_OK) return rc;
    if (c->node_cpus <= 0) return bad(w, node, "node.cpus must be > 0 (cores ROMA may hand out)");
    const yaml_node_t *gpus = get(w, node, "gpus"), *standins = get(w, node, "gpu_standins");
    if (gpus && (rc = parse_gpus(w, gpus, "node.gpus", &c->gpus, &c->ngpus)) != ROMA_OK) return rc;
    return standins ? parse_standins(w, standins, c) : ROMA_OK;
}

static roma_code parse_sections(walker *w, const yaml_node_t *root, serve_config *c) {
    static const char *const control_keys[] = {"period", "controller", NULL};
    static const char *const dispatch_keys[] = {"gpu_policy", "queue_limit", NULL};
    static const char *const store_keys[] = {"path", "max_rows", NULL};
    const yaml_node_t *control = get(w, root, "control"), *dispatch = get(w, root, "dispatch");
    const yaml_node_t *store = get(w, root, "store");
    roma_code rc = ROMA_OK;
    double queue_limit = c->queue_limit, max_rows = (double)c->store_max_rows;
    if (control && (rc = check_keys(w, control, "control", control_keys)) != ROMA_OK) return rc;
    if (dispatch && (rc = check_keys(w, dispatch, "dispatch", dispatch_keys)) != ROMA_OK) return rc;
    if (store && (rc = check_keys(w, store, "store", store_keys)) != ROMA_OK) return rc;
    if ((rc = get_duration(w, control, "period", &c->period, "control")) != ROMA_OK) return rc;
    if (get(w, control, "period") && c->period < 0.05)
        return bad(w, control, "control.period must be at least 50ms");
    if ((rc = get_string(w, control, "controller", &c->controller, "control")) != ROMA_OK) return rc;
    roma_ctl_kind ck;
    if (roma_ctl_parse(c->controller, &ck) != 0)
        return bad(w, get(w, control, "controller"),
                   "control.controller '%s' is unknown: use one of " ROMA_CTL_NAMES, c->controller);
    if ((rc = get_string(w, dispatch, "gpu_policy", &c->gpu_policy, "dispatch")) != ROMA_OK) return rc;
    roma_policy_kind pk;
    if (roma_policy_parse(c->gpu_policy, &pk) != 0)
        return bad(w, get(w, dispatch, "gpu_policy"),
                   "dispatch.gpu_policy '%s' is unknown: use one of " ROMA_POLICY_NAMES,
                   c->gpu_policy);
    if ((rc = get_number(w, dispatch, "queue_limit", &queue_limit, "dispatch")) != ROMA_OK) return rc;
    if (queue_limit < 1 || queue_limit > 1e7 || queue_limit != floor(queue_limit))
        return bad(w, dispatch, "dispatch.queue_limit must be an integer >= 1");
    c->queue_limit = (int)queue_limit;
    if ((rc = get_string(w, store, "path", &c->store_path, "store")) != ROMA_OK) return rc;
    if ((rc = get_number(w, store, "max_rows", &max_rows, "store")) != ROMA_OK) return rc;
    if (max_rows < 1 || max_rows > 1e15) /* beyond int64_t: undefined */
        return bad(w, store, "store.max_rows must be between 1 and 1e15");
    c->store_max_rows = (int64_t)max_rows;
    return ROMA_OK;
}

/* An integer key of limits within [lo, hi] (kept when absent). */
static roma_code get_limit(walker *w, const yaml_node_t *limits, const char *key, double lo,
                           double hi, double *out) {
    roma_code rc = get_number(w, limits, key, out, "limits");
    if (rc != ROMA_OK) return rc;
    if (*out < lo || *out > hi || *out != floor(*out))
        return bad(w, get(w, limits, key), "limits.%s must be an integer from %g to %g", key, lo, hi);
    return ROMA_OK;
}

static roma_code parse_limits(walker *w, const yaml_node_t *root, serve_config *c) {
    static const char *const keys[] = {"connections", "body_mb", "inflight_mb", "request_timeout",
                                       NULL};
    const yaml_node_t *limits = get(w, root, "limits");
    double conns = c->max_connections, body = (double)(c->max_body_bytes >> 20),
           inflight = (double)(c->max_inflight_bytes >> 20);
    roma_code rc;
    if (!limits) return ROMA_OK;
    if ((rc = check_keys(w, limits, "limits", keys)) != ROMA_OK) return rc;
    if ((rc = get_limit(w, limits, "connections", 1, 1e6, &conns)) != ROMA_OK) return rc;
    if ((rc = get_limit(w, limits, "body_mb", 1, 4096, &body)) != ROMA_OK) return rc;
    if ((rc = get_limit(w, limits, "inflight_mb", 1, 1 << 20, &inflight)) != ROMA_OK) return rc;
    if (inflight < body)
        return bad(w, limits, "limits.inflight_mb (%g) must be at least limits.body_mb (%g): "
                   "a request of the largest size must fit", inflight, body);
    if ((rc = get_duration(w, limits, "request_timeout", &c->request_timeout, "limits")) != ROMA_OK)
        return rc;
    if (c->request_timeout < 0.1 || c->request_timeout > 3600)
        return bad(w, get(w, limits, "request_timeout"),
                   "limits.request_timeout must be from 100ms to 1h");
    c->max_connections = (int)conns;
    c->max_body_bytes = (size_t)body << 20;
    c->max_inflight_bytes = (size_t)inflight << 20;
    return ROMA_OK;
}

int serve_is_dns_label(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 63 || name[0] == '-' || name[n - 1] == '-') return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static roma_code parse_cluster_nodes(walker *w, const yaml_node_t *list, serve_cluster_config *k) {
    static const char *const keys[] = {"name", "cpus", "gpus", NULL};
    if (list->type != YAML_SEQUENCE_NODE)
        return bad(w, list, "cluster.nodes must be a list of {name, cpus, gpus}");
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    k->nodes = calloc(n ? n : 1, sizeof(*k->nodes));
    if (!k->nodes) abort();
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *e = yaml_document_get_node(w->doc, list->data.sequence.items.start[i]);
        serve_cluster_node *node = &k->nodes[k->nnodes++];
        char where[64];
        roma_code rc;
        snprintf(where, sizeof(where), "cluster.nodes[%zu]", i);
        node->cpus = -1;
        if ((rc = check_keys(w, e, where, keys)) != ROMA_OK) return rc;
        if ((rc = get_string(w, e, "name", &node->name, where)) != ROMA_OK) return rc;
        if ((rc = get_number(w, e, "cpus", &node->cpus, where)) != ROMA_OK) return rc;
        if (!node->name || node->cpus <= 0)
            return bad(w, e, "%s needs name: (the Kubernetes node) and cpus: > 0 (cores ROMA may "
                       "hand out there)", where);
        for (size_t j = 0; j + 1 < k->nnodes; j++)
            if (strcmp(k->nodes[j].name, node->name) == 0)
                return bad(w, e, "cluster.nodes names '%s' twice", node->name);
        const yaml_node_t *gpus = get(w, e, "gpus");
        if (gpus && (rc = parse_gpus(w, gpus, "cluster.nodes[].gpus", &node->gpus, &node->ngpus)) != ROMA_OK)
            return rc;
    }
    return ROMA_OK;
}

static roma_code parse_models_volume(walker *w, const yaml_node_t *vol, serve_cluster_config *k) {
    static const char *const keys[] = {"claim", "host_path", NULL};
    roma_code rc;
    if ((rc = check_keys(w, vol, "cluster.models_volume", keys)) != ROMA_OK) return rc;
    if ((rc = get_string(w, vol, "claim", &k->models_claim, "cluster.models_volume")) != ROMA_OK ||
        (rc = get_string(w, vol, "host_path", &k->models_host_path, "cluster.models_volume")) != ROMA_OK)
        return rc;
    if (!k->models_claim == !k->models_host_path)
        return bad(w, vol, "cluster.models_volume needs exactly one of claim: (a "
                   "PersistentVolumeClaim) or host_path: (a directory on every node)");
    if (k->models_host_path && k->models_host_path[0] != '/')
        return bad(w, vol, "cluster.models_volume.host_path must be an absolute path, got '%s'",
                   k->models_host_path);
    return ROMA_OK;
}

static roma_code parse_cluster_kind(walker *w, const yaml_node_t *cl, serve_cluster_config *k) {
    const yaml_node_t *n = get(w, cl, "kind");
    const char *kind = n ? scalar(n) : "local";
    if (kind && strcmp(kind, "local") == 0) k->kind = SERVE_CLUSTER_LOCAL;
    else if (kind && strcmp(kind, "kubernetes") == 0) k->kind = SERVE_CLUSTER_KUBERNETES;
    else return bad(w, n, "cluster.kind must be local or kubernetes, got '%s'", kind ? kind : "?");
    return ROMA_OK;
}

static roma_code parse_cluster(walker *w, const yaml_node_t *root, serve_cluster_config *k) {
    static const char *const keys[] = {"kind", "namespace", "api_server", "token_file", "ca_file",
                                       "insecure_http", "worker_port", "models_volume", "nodes",
                                       NULL};
    const yaml_node_t *cl = get(w, root, "cluster");
    double port = 8501;
    roma_code rc;
    k->worker_port = 8501;
    if (!cl) return ROMA_OK;
    if ((rc = check_keys(w, cl, "cluster", keys)) != ROMA_OK) return rc;
    if ((rc = parse_cluster_kind(w, cl, k)) != ROMA_OK) return rc;
    if (k->kind == SERVE_CLUSTER_LOCAL) {
        if (cl->data.mapping.pairs.top - cl->data.mapping.pairs.start > 1)
            return bad(w, cl, "cluster: with kind local takes no other keys (set kind: kubernetes)");
        return ROMA_OK;
    }
    k->namespace_name = strdup("roma");
    k->token_file = strdup("/var/run/secrets/kubernetes.io/serviceaccount/token");
    k->ca_file = strdup("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    if ((rc = get_string(w, cl, "namespace", &k->namespace_name, "cluster")) != ROMA_OK ||
        (rc = get_string(w, cl, "api_server", &k->api_server, "cluster")) != ROMA_OK ||
        (rc = get_string(w, cl, "token_file", &k->token_file, "cluster")) != ROMA_OK ||
        (rc = get_string(w, cl, "ca_file", &k->ca_file, "cluster")) != ROMA_OK)
        return rc;
    if (!serve_is_dns_label(k->namespace_name))
        return bad(w, get(w, cl, "namespace"), "cluster.namespace '%s' is not a DNS label (1-63 of "
                   "a-z, 0-9 and '-', starting and ending with a letter or digit)", k->namespace_name);
    const yaml_node_t *http = get(w, cl, "insecure_http");
    if (http) {
        const char *v = scalar(http);
        if (!v || (strcmp(v, "true") != 0 && strcmp(v, "false") != 0))
            return bad(w, http, "cluster.insecure_http must be true or false");
        k->insecure_http = strcmp(v, "true") == 0;
    }
    if (k->api_server) {
        int https = strncmp(k->api_server, "https://", 8) == 0;
        int plain = strncmp(k->api_server, "http://", 7) == 0;
        if (!https && !plain)
            return bad(w, get(w, cl, "api_server"), "cluster.api_server must be an https:// URL, "
                       "got '%s'", k->api_server);
        if (plain && !k->insecure_http)
            return bad(w, get(w, cl, "api_server"), "cluster.api_server '%s' is plain http: the "
                       "token would travel unencrypted; use https://, or set insecure_http: true "
                       "(tests only)", k->api_server);
    }
    if ((rc = get_number(w, cl, "worker_port", &port, "cluster")) != ROMA_OK) return rc;
    if (port < 1 || port > 65535 || port != floor(port))
        return bad(w, get(w, cl, "worker_port"), "cluster.worker_port must be a port (1-65535)");
    k->worker_port = (int)port;
    const yaml_node_t *vol = get(w, cl, "models_volume"), *nodes = get(w, cl, "nodes");
    if (vol && (rc = parse_models_volume(w, vol, k)) != ROMA_OK) return rc;
    return nodes ? parse_cluster_nodes(w, nodes, k) : ROMA_OK;
}

static int serve_cluster_has_node(const serve_cluster_config *k, const char *name) {
    for (size_t i = 0; i < k->nnodes; i++)
        if (strcmp(k->nodes[i].name, name) == 0) return 1;
    return 0;
}

double serve_config_node_cpus(const serve_config *cfg, const char *name) {
    for (size_t i = 0; name && i < cfg->cluster.nnodes; i++)
        if (strcmp(cfg->cluster.nodes[i].name, name) == 0) return cfg->cluster.nodes[i].cpus;
    return cfg->node_cpus;
}

static roma_code parse_ops(walker *w, const yaml_node_t *root, serve_config *c) {
    static const char *const keys[] = {"token_file", "read", NULL};
    const yaml_node_t *ops = get(w, root, "ops");
    char *read = NULL;
    roma_code rc;
    if (!ops) return ROMA_OK;
    if ((rc = check_keys(w, ops, "ops", keys)) != ROMA_OK) return rc;
    if ((rc = get_string(w, ops, "token_file", &c->ops_token_file, "ops")) != ROMA_OK) return rc;
    if ((rc = get_string(w, ops, "read", &read, "ops")) != ROMA_OK) return rc;
    if (read && strcmp(read, "open") == 0) c->ops_read = SERVE_OPS_READ_OPEN;
    else if (read && strcmp(read, "token") == 0) c->ops_read = SERVE_OPS_READ_TOKEN;
    else if (read)
        rc = bad(w, get(w, ops, "read"), "ops.read '%s' is unknown: use open (read-only "
                 "endpoints need no token) or token (they need it too)", read);
    free(read);
    return rc;
}

#define RANGE_TEXT_(x) #x
#define RANGE_TEXT(x) RANGE_TEXT_(x) /* a macro's value as a string literal */

const char *serve_config_sla_problem(double sla) {
    if (isfinite(sla) && sla >= SERVE_SLA_MIN && sla <= SERVE_SLA_MAX) return NULL;
    return "sla must be a number of seconds within [" RANGE_TEXT(SERVE_SLA_MIN) ", " RANGE_TEXT(
        SERVE_SLA_MAX) "] (1 ms to 1 hour), e.g. 0.2";
}

const char *serve_config_alpha_problem(double alpha) {
    if (isfinite(alpha) && alpha >= 0 && alpha <= 1) return NULL;
    return "alpha must be a number within [0, 1]";
}

static roma_code check_base_path(walker *w, const yaml_node_t *n, const serve_model_config *m) {
    struct stat st;
    if (stat(m->base_path, &st) != 0 || !S_ISDIR(st.st_mode))
        return bad(w, n,
                   "model '%s': base_path '%s' is not a directory (%s); it must hold version "
                   "directories such as %s/1/saved_model.pb",
                   m->name, m->base_path, strerror(errno ? errno : ENOTDIR), m->base_path);
    return ROMA_OK;
}

static roma_code parse_model(walker *w, const yaml_node_t *n, size_t index, const serve_config *c,
                             serve_model_config *m) {
    static const char *const keys[] = {"name", "base_path", "sla",  "alpha",
                                       "profiled", "cores",  "node", "sla_percentile", NULL};
    static const char *const core_keys[] = {"min", "max", "initial", NULL};
    char where[160];
    roma_code rc;
    snprintf(where, sizeof(where), "models[%zu]", index);
    m->alpha = 0.5;
    m->cores_min = 0.1;
    m->cores_max = 1;
    m->cores_initial = -1;
    if ((rc = check_keys(w, n, where, keys)) != ROMA_OK) return rc;
    if ((rc = get_string(w, n, "name", &m->name, where)) != ROMA_OK) return rc;
    if ((rc = get_string(w, n, "base_path", &m->base_path, where)) != ROMA_OK) return rc;
    if (!m->name || !m->base_path)
        return bad(w, n, "%s needs name: and base_path: (a TF Serving model directory)", where);
    if (strspn(m->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(m->name) || strlen(m->name) > 63)
        return bad(w, n, "%s: name '%s' must be 1-63 letters, digits, '.', '_' or '-' (it is "
                   "part of URLs, cgroup and metric names)", where, m->name);
    snprintf(where, sizeof(where), "model '%s'", m->name);
    const yaml_node_t *sla = get(w, n, "sla");
    const char *problem;
    if (!sla)
        return bad(w, n, "%s: sla is missing: the target response time in seconds, e.g. sla: 0.2",
                   where);
    if ((rc = get_duration(w, n, "sla", &m->sla, where)) != ROMA_OK) return rc;
    if ((problem = serve_config_sla_problem(m->sla))) return bad(w, sla, "%s: %s", where, problem);
    if ((rc = get_number(w, n, "alpha", &m->alpha, where)) != ROMA_OK) return rc;
    if ((problem = serve_config_alpha_problem(m->alpha)))
        return bad(w, get(w, n, "alpha"), "%s: %s", where, problem);
    if ((rc = get_duration(w, n, "profiled", &m->profiled, where)) != ROMA_OK) return rc;
    if ((rc = get_number(w, n, "sla_percentile", &m->sla_percentile, where)) != ROMA_OK) return rc;
    if (get(w, n, "sla_percentile") && !(m->sla_percentile > 0 && m->sla_percentile <= 100))
        return bad(w, get(w, n, "sla_percentile"), "%s: sla_percentile must be in (0, 100] (95: "
                   "the window's 95th percentile under the SLA); leave it out for the mean", where);
    if ((rc = get_string(w, n, "node", &m->node, where)) != ROMA_OK) return rc;
    if (m->node && c->cluster.kind != SERVE_CLUSTER_KUBERNETES)
        return bad(w, get(w, n, "node"), "%s: node: places a model on a Kubernetes node; it needs "
                   "cluster: {kind: kubernetes}", where);
    if (m->node && c->cluster.nnodes > 0 && !serve_cluster_has_node(&c->cluster, m->node))
        return bad(w, get(w, n, "node"), "%s: node '%s' is not in cluster.nodes", where, m->node);
    double c_node_cpus = serve_config_node_cpus(c, m->node);
    const yaml_node_t *cores = get(w, n, "cores");
    if (cores) {
        if ((rc = check_keys(w, cores, "cores", core_keys)) != ROMA_OK) return rc;
        if ((rc = get_number(w, cores, "min", &m->cores_min, where)) != ROMA_OK) return rc;
        if ((rc = get_number(w, cores, "max", &m->cores_max, where)) != ROMA_OK) return rc;
        if ((rc = get_number(w, cores, "initial", &m->cores_initial, where)) != ROMA_OK) return rc;
    }
    if (m->cores_initial < 0) m->cores_initial = m->cores_max;
    if (m->cores_min < 0.01 || m->cores_min > m->cores_max)
        return bad(w, cores ? cores : n, "%s: cores need 0.01 <= min <= max (got min %g, max %g)",
                   where, m->cores_min, m->cores_max);
    if (m->cores_max > c_node_cpus)
        return bad(w, cores ? cores : n, "%s: cores.max %g is above node.cpus %g; a model cannot "
                   "get more cores than the node has", where, m->cores_max, c_node_cpus);
    if (m->cores_initial < m->cores_min || m->cores_initial > m->cores_max)
        return bad(w, cores ? cores : n, "%s: cores.initial %g is outside [min %g, max %g]", where,
                   m->cores_initial, m->cores_min, m->cores_max);
    if (c->cluster.kind == SERVE_CLUSTER_KUBERNETES) return ROMA_OK; /* a path in the pods */
    return check_base_path(w, get(w, n, "base_path"), m);
}

static roma_code parse_models(walker *w, const yaml_node_t *root, serve_config *c) {
    const yaml_node_t *models = get(w, root, "models");
    if (!models || models->type != YAML_SEQUENCE_NODE ||
        models->data.sequence.items.top == models->data.sequence.items.start)
        return bad(w, models ? models : root,
                   "models must be a non-empty list of {name, base_path, sla, ...}");
    size_t n = (size_t)(models->data.sequence.items.top - models->data.sequence.items.start);
    c->models = calloc(n, sizeof(*c->models));
    if (!c->models) abort();
    double min_sum = 0;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *mn = yaml_document_get_node(w->doc, models->data.sequence.items.start[i]);
        roma_code rc = parse_model(w, mn, i, c, &c->models[c->nmodels++]);
        if (rc != ROMA_OK) return rc;
        for (size_t k = 0; k + 1 < c->nmodels; k++)
            if (strcmp(c->models[k].name, c->models[i].name) == 0)
                return bad(w, mn, "model name '%s' appears twice; names must be unique",
                           c->models[i].name);
        min_sum += c->models[i].cores_min;
    }
    /* In a cluster the scheduler spreads the pods: each node's normalisation
     * fits what lands there (serve_config_node_cpus). */
    if (c->cluster.kind == SERVE_CLUSTER_LOCAL && min_sum > c->node_cpus + 1e-9)
        return bad(w, models,
                   "the models' cores.min add up to %g, above node.cpus %g: lower some min or "
                   "raise node.cpus",
                   min_sum, c->node_cpus);
    return ROMA_OK;
}

static void set_defaults(serve_config *c) {
    memset(c, 0, sizeof(*c));
    c->listen_host = strdup("127.0.0.1");
    c->listen_port = 8501;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN); /* node.cpus defaults to this machine's */
    c->node_cpus = ncpu > 0 ? (double)ncpu : 1;
    c->period = 0; /* not given: serve_config_parse picks the default for the mode */
    c->controller = strdup(ROMA_CTL_DEFAULT);
    c->gpu_policy = strdup("roma");
    c->queue_limit = 1000;
    c->max_connections = 1024;
    c->max_body_bytes = (size_t)64 << 20;
    c->max_inflight_bytes = (size_t)1024 << 20;
    c->request_timeout = 60;
    c->store_path = strdup("roma.db");
    c->store_max_rows = 1000000;
}

/* vpa sizes a worker from the CPU its process used, which roma serve reads
 * from /proc for the workers it starts but not from pods (controller.h). */
static roma_code check_cluster_controller(walker *w, const yaml_node_t *root, const serve_config *c) {
    if (c->cluster.kind != SERVE_CLUSTER_KUBERNETES || !c->controller || strcmp(c->controller, "vpa") != 0)
        return ROMA_OK;
    return bad(w, get(w, root, "cluster"),
               "control.controller vpa needs the workers' CPU usage, which roma serve does not read "
               "from pods: use roma, roma-norm, rules or static with cluster kind kubernetes");
}

roma_code serve_config_parse(const char *text, size_t len, const char *name, serve_config *cfg,
                             roma_err *err) {
    static const char *const keys[] = {"listen", "node",   "control", "dispatch", "store",
                                       "models", "cluster", "ops",     "limits", NULL};
    yaml_parser_t parser;
    yaml_document_t doc;
    walker w = {&doc, name, err};
    roma_code rc;
    set_defaults(cfg);
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "%s:%zu: YAML error: %s", name,
                       parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        serve_config_free(cfg);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "%s: the file is empty", name);
    else rc = check_keys(&w, root, "the top level", keys);
    if (rc == ROMA_OK) rc = parse_listen(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_node(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_sections(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_cluster(&w, root, &cfg->cluster);
    if (rc == ROMA_OK && cfg->period == 0) {
        cfg->period_default = 1;
        cfg->period = cfg->cluster.kind == SERVE_CLUSTER_KUBERNETES ? SERVE_PERIOD_CLUSTER : SERVE_PERIOD_NODE;
    }
    if (rc == ROMA_OK && cfg->nstandins && cfg->cluster.kind == SERVE_CLUSTER_KUBERNETES)
        rc = bad(&w, get(&w, get(&w, root, "node"), "gpu_standins"), "node.gpu_standins run on this "
                 "machine (tests and experiments); remove them in cluster mode");
    if (rc == ROMA_OK) rc = check_cluster_controller(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_ops(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_limits(&w, root, cfg);
    if (rc == ROMA_OK) rc = parse_models(&w, root, cfg);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != ROMA_OK) serve_config_free(cfg);
    return rc;
}

roma_code serve_config_load(const char *path, serve_config *cfg, roma_err *err) {
    size_t len;
    char *text = roma_read_file(path, &len);
    if (!text)
        return roma_fail(err, ROMA_NOT_FOUND, "cannot read config '%s': %s (pass -c FILE)", path,
                         strerror(errno));
    roma_code rc = serve_config_parse(text, len, path, cfg, err);
    free(text);
    return rc;
}

void serve_config_free(serve_config *c) {
    for (size_t i = 0; i < c->nstandins; i++) free(c->standins[i].cpus);
    free(c->standins);
    for (size_t i = 0; i < c->nmodels; i++) {
        free(c->models[i].name);
        free(c->models[i].base_path);
        free(c->models[i].node);
    }
    serve_cluster_config *k = &c->cluster;
    for (size_t i = 0; i < k->nnodes; i++) {
        free(k->nodes[i].name);
        free(k->nodes[i].gpus);
    }
    free(k->nodes);
    free(k->namespace_name);
    free(k->api_server);
    free(k->token_file);
    free(k->ca_file);
    free(k->models_claim);
    free(k->models_host_path);
    free(c->models);
    free(c->gpus);
    free(c->listen_host);
    free(c->controller);
    free(c->gpu_policy);
    free(c->store_path);
    free(c->ops_token_file);
    memset(c, 0, sizeof(*c));
}

serve_model_config *serve_config_model(const serve_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->nmodels; i++)
        if (strcmp(cfg->models[i].name, name) == 0) return &cfg->models[i];
    return NULL;
}

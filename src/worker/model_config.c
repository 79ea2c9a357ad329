/* model_config.c - see model_config.h.
 *
 * The text format is read by a tiny tokenizer (names, ':', '{', '}',
 * quoted strings, numbers, # comments) into a tree of fields, and the tree
 * is then interpreted.  Only the ModelServerConfig fields a worker uses are
 * accepted; anything else is an error that names it, rather than a setting
 * silently ignored.
 */
#include "model_config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/buf.h"

/* ---- text-format tree -------------------------------------------------- */

typedef struct tp_node {
    char *name;
    char *value; /* scalar fields */
    struct tp_node *children; /* message fields */
    size_t nchildren;
    int line;
} tp_node;

typedef struct {
    const char *p;
    int line;
    roma_err *err;
} tp_lexer;

static void skip_space(tp_lexer *lx) {
    for (;;) {
        while (isspace((unsigned char)*lx->p)) lx->line += *lx->p++ == '\n';
        if (*lx->p != '#') return;
        while (*lx->p && *lx->p != '\n') lx->p++;
    }
}

static char *read_name(tp_lexer *lx) {
    const char *start = lx->p;
    while (isalnum((unsigned char)*lx->p) || *lx->p == '_' || *lx->p == '.' || *lx->p == '-' ||
           *lx->p == '+')
        lx->p++;
    if (lx->p == start) return NULL;
    return strndup(start, (size_t)(lx->p - start));
}

static char *read_string(tp_lexer *lx) {
    char quote = *lx->p++;
    roma_buf b = ROMA_BUF_INIT;
    while (*lx->p && *lx->p != quote && *lx->p != '\n') {
        if (*lx->p == '\\' && lx->p[1]) lx->p++;
        roma_buf_putc(&b, *lx->p++);
    }
    if (*lx->p != quote) {
        roma_buf_free(&b);
        return NULL;
    }
    lx->p++;
    return roma_buf_detach(&b, NULL);
}

static void tp_free(tp_node *n) {
    for (size_t i = 0; i < n->nchildren; i++) tp_free(&n->children[i]);
    free(n->children);
    free(n->name);
    free(n->value);
}

static roma_code parse_fields(tp_lexer *lx, tp_node *parent, int depth);

static roma_code parse_field(tp_lexer *lx, tp_node *n, int depth) {
    n->line = lx->line;
    if (!(n->name = read_name(lx)))
        return roma_fail(lx->err, ROMA_INVALID_ARGUMENT,
                         "line %d: expected a field name, found '%.20s'", lx->line, lx->p);
    skip_space(lx);
    int colon = *lx->p == ':';
    if (colon) lx->p++, skip_space(lx);
    if (*lx->p == '{' || *lx->p == '<') {
        char close = *lx->p++ == '{' ? '}' : '>';
        roma_code rc = parse_fields(lx, n, depth + 1);
        if (rc != ROMA_OK) return rc;
        if (*lx->p != close)
            return roma_fail(lx->err, ROMA_INVALID_ARGUMENT,
                             "line %d: '%s' is not closed with '%c'", n->line, n->name, close);
        lx->p++;
        return ROMA_OK;
    }
    if (!colon)
        return roma_fail(lx->err, ROMA_INVALID_ARGUMENT,
                         "line %d: expected ':' or '{' after '%s'", lx->line, n->name);
    n->value = (*lx->p == '"' || *lx->p == '\'') ? read_string(lx) : read_name(lx);
    if (!n->value)
        return roma_fail(lx->err, ROMA_INVALID_ARGUMENT,
                         "line %d: '%s' has no valid value (strings need matching quotes)",
                         lx->line, n->name);
    return ROMA_OK;
}

static roma_code parse_fields(tp_lexer *lx, tp_node *parent, int depth) {
    if (depth > 16)
        return roma_fail(lx->err, ROMA_INVALID_ARGUMENT, "line %d: nested too deeply", lx->line);
    for (;;) {
        skip_space(lx);
        if (*lx->p == '\0' || *lx->p == '}' || *lx->p == '>') return ROMA_OK;
        parent->children = realloc(parent->children, sizeof(tp_node) * (parent->nchildren + 1));
        if (!parent->children) abort();
        tp_node *n = &parent->children[parent->nchildren++];
        memset(n, 0, sizeof(*n));
        roma_code rc = parse_field(lx, n, depth);
        if (rc != ROMA_OK) return rc;
        skip_space(lx);
        if (*lx->p == ',' || *lx->p == ';') lx->p++;
    }
}

/* ---- interpretation ---------------------------------------------------- */

static roma_code unknown_field(const tp_node *n, const char *where, const char *known,
                               roma_err *err) {
    return roma_fail(err, ROMA_INVALID_ARGUMENT, "line %d: unknown field '%s' in %s (known: %s)",
                     n->line, n->name, where, known);
}

static roma_code parse_int(const tp_node *n, int64_t *out, roma_err *err) {
    char *end;
    errno = 0;
    long long v = n->value ? strtoll(n->value, &end, 10) : 0;
    if (!n->value || *end || errno || end == n->value)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "line %d: '%s' must be an integer",
                         n->line, n->name);
    *out = v;
    return ROMA_OK;
}

static roma_code need_message(const tp_node *n, roma_err *err) {
    if (n->value)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "line %d: '%s' must be a message { ... }",
                         n->line, n->name);
    return ROMA_OK;
}

static roma_code need_scalar(const tp_node *n, roma_err *err) {
    if (!n->value)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "line %d: '%s' must be a value (name: ...)",
                         n->line, n->name);
    return ROMA_OK;
}

static roma_code parse_policy(const tp_node *n, mc_policy *p, roma_err *err) {
    roma_code rc = need_message(n, err);
    for (size_t i = 0; i < n->nchildren && rc == ROMA_OK; i++) {
        const tp_node *c = &n->children[i];
        if ((rc = need_message(c, err)) != ROMA_OK) break;
        if (strcmp(c->name, "all") == 0) {
            p->kind = MC_ALL;
        } else if (strcmp(c->name, "latest") == 0) {
            p->kind = MC_LATEST;
            p->num_versions = 1;
            for (size_t k = 0; k < c->nchildren && rc == ROMA_OK; k++) {
                int64_t v = 0;
                if (strcmp(c->children[k].name, "num_versions") != 0)
                    rc = unknown_field(&c->children[k], "latest", "num_versions", err);
                else if ((rc = parse_int(&c->children[k], &v, err)) == ROMA_OK && v < 1)
                    rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                                   "line %d: num_versions must be at least 1", c->line);
                p->num_versions = (int)v;
            }
        } else if (strcmp(c->name, "specific") == 0) {
            p->kind = MC_SPECIFIC;
            for (size_t k = 0; k < c->nchildren && rc == ROMA_OK; k++) {
                int64_t v = 0;
                if (strcmp(c->children[k].name, "versions") != 0)
                    rc = unknown_field(&c->children[k], "specific", "versions", err);
                else if ((rc = parse_int(&c->children[k], &v, err)) == ROMA_OK) {
                    p->versions = realloc(p->versions, sizeof(int64_t) * (p->nversions + 1));
                    if (!p->versions) abort();
                    p->versions[p->nversions++] = v;
                }
            }
            if (rc == ROMA_OK && p->nversions == 0)
                rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                               "line %d: 'specific' lists no versions: add versions: N",
                               c->line);
        } else {
            rc = unknown_field(c, "model_version_policy", "latest, all, specific", err);
        }
    }
    return rc;
}

static roma_code parse_label(const tp_node *n, mc_model *m, roma_err *err) {
    const char *key = NULL;
    int64_t version = -1;
    roma_code rc = need_message(n, err);
    for (size_t k = 0; k < n->nchildren && rc == ROMA_OK; k++) {
        const tp_node *c = &n->children[k];
        if (strcmp(c->name, "key") == 0) rc = need_scalar(c, err), key = c->value;
        else if (strcmp(c->name, "value") == 0) rc = parse_int(c, &version, err);
        else rc = unknown_field(c, "version_labels", "key, value", err);
    }
    if (rc == ROMA_OK && (!key || version < 0))
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "line %d: version_labels needs key: \"label\" and value: VERSION",
                       n->line);
    if (rc != ROMA_OK) return rc;
    m->labels = realloc(m->labels, sizeof(*m->labels) * (m->nlabels + 1));
    if (!m->labels) abort();
    m->labels[m->nlabels].label = strdup(key);
    m->labels[m->nlabels++].version = version;
    return ROMA_OK;
}

static roma_code set_string(const tp_node *c, char **dst, roma_err *err) {
    roma_code rc = need_scalar(c, err);
    if (rc == ROMA_OK) {
        free(*dst);
        *dst = strdup(c->value);
    }
    return rc;
}

static roma_code parse_model(const tp_node *n, mc_model *m, roma_err *err) {
    roma_code rc = need_message(n, err);
    m->policy.kind = MC_LATEST;
    m->policy.num_versions = 1;
    for (size_t i = 0; i < n->nchildren && rc == ROMA_OK; i++) {
        const tp_node *c = &n->children[i];
        if (strcmp(c->name, "name") == 0) rc = set_string(c, &m->name, err);
        else if (strcmp(c->name, "base_path") == 0) rc = set_string(c, &m->base_path, err);
        else if (strcmp(c->name, "model_platform") == 0) rc = set_string(c, &m->platform, err);
        else if (strcmp(c->name, "model_version_policy") == 0) rc = parse_policy(c, &m->policy, err);
        else if (strcmp(c->name, "version_labels") == 0) rc = parse_label(c, m, err);
        else
            rc = unknown_field(c, "config",
                               "name, base_path, model_platform, model_version_policy, "
                               "version_labels",
                               err);
    }
    if (rc != ROMA_OK) return rc;
    if (!m->name || !*m->name || !m->base_path || !*m->base_path)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "line %d: every config needs name: \"...\" and base_path: \"...\"",
                         n->line);
    if (m->platform && strcmp(m->platform, "tensorflow") != 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "model '%s': model_platform '%s' is not supported (use \"tensorflow\")",
                         m->name, m->platform);
    return ROMA_OK;
}

static roma_code add_models(const tp_node *list, mc_config *cfg, roma_err *err) {
    roma_code rc = need_message(list, err);
    for (size_t i = 0; i < list->nchildren && rc == ROMA_OK; i++) {
        const tp_node *c = &list->children[i];
        if (strcmp(c->name, "config") != 0) {
            rc = unknown_field(c, "model_config_list", "config", err);
            break;
        }
        cfg->models = realloc(cfg->models, sizeof(*cfg->models) * (cfg->nmodels + 1));
        if (!cfg->models) abort();
        mc_model *m = &cfg->models[cfg->nmodels++];
        memset(m, 0, sizeof(*m));
        rc = parse_model(c, m, err);
        for (size_t k = 0; k + 1 < cfg->nmodels && rc == ROMA_OK; k++)
            if (strcmp(cfg->models[k].name, m->name) == 0)
                rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                               "line %d: model name '%s' is configured twice", c->line, m->name);
    }
    return rc;
}

roma_code mc_parse(const char *text, mc_config *cfg, roma_err *err) {
    tp_lexer lx = {text, 1, err};
    tp_node root = {0};
    memset(cfg, 0, sizeof(*cfg));
    roma_code rc = parse_fields(&lx, &root, 0);
    if (rc == ROMA_OK && *lx.p)
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "line %d: unexpected '%c'", lx.line, *lx.p);
    for (size_t i = 0; i < root.nchildren && rc == ROMA_OK; i++) {
        if (strcmp(root.children[i].name, "model_config_list") == 0)
            rc = add_models(&root.children[i], cfg, err);
        else
            rc = unknown_field(&root.children[i], "the model config", "model_config_list", err);
    }
    if (rc == ROMA_OK && cfg->nmodels == 0)
        rc = roma_fail(err, ROMA_INVALID_ARGUMENT,
                       "the model config lists no models: add model_config_list { config { "
                       "name: ... base_path: ... } }");
    tp_free(&root);
    if (rc != ROMA_OK) mc_config_free(cfg);
    return rc;
}

roma_code mc_single(const char *name, const char *base_path, mc_config *cfg, roma_err *err) {
    memset(cfg, 0, sizeof(*cfg));
    if (!base_path || !*base_path)
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "no model given: pass --model_base_path=DIR (and --model_name) or "
                         "--model_config_file=FILE");
    cfg->models = calloc(1, sizeof(*cfg->models));
    if (!cfg->models) abort();
    cfg->nmodels = 1;
    cfg->models[0].name = strdup(name && *name ? name : "default");
    cfg->models[0].base_path = strdup(base_path);
    cfg->models[0].policy.kind = MC_LATEST;
    cfg->models[0].policy.num_versions = 1;
    return ROMA_OK;
}

void mc_config_free(mc_config *cfg) {
    for (size_t i = 0; i < cfg->nmodels; i++) {
        mc_model *m = &cfg->models[i];
        free(m->name);
        free(m->base_path);
        free(m->platform);
        free(m->policy.versions);
        for (size_t k = 0; k < m->nlabels; k++) free(m->labels[k].label);
        free(m->labels);
    }
    free(cfg->models);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- versions ---------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

roma_code mc_apply_policy(const mc_policy *policy, const int64_t *available, size_t navailable,
                          int64_t *chosen, size_t *nchosen, roma_err *err) {
    size_t n = 0;
    memcpy(chosen, available, sizeof(int64_t) * navailable);
    qsort(chosen, navailable, sizeof(int64_t), cmp_desc);
    if (policy->kind == MC_ALL) n = navailable;
    if (policy->kind == MC_LATEST)
        n = navailable < (size_t)policy->num_versions ? navailable : (size_t)policy->num_versions;
    if (policy->kind == MC_SPECIFIC) {
        for (size_t i = 0; i < policy->nversions; i++) {
            int found = 0;
            for (size_t k = 0; k < navailable; k++) found |= available[k] == policy->versions[i];
            if (!found)
                return roma_fail(err, ROMA_NOT_FOUND,
                                 "version %lld is asked for by the 'specific' policy but has "
                                 "no directory",
                                 (long long)policy->versions[i]);
            int listed = 0; /* a version listed twice is served once */
            for (size_t k = 0; k < n; k++) listed |= chosen[k] == policy->versions[i];
            if (!listed) chosen[n++] = policy->versions[i];
        }
        qsort(chosen, n, sizeof(int64_t), cmp_desc);
    }
    *nchosen = n;
    return ROMA_OK;
}

static int numeric_name(const char *s, int64_t *v) {
    if (!*s || strlen(s) > 18) return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    *v = strtoll(s, NULL, 10);
    return 1;
}

roma_code mc_scan_versions(const char *base_path, int64_t **versions, size_t *n, roma_err *err) {
    DIR *d = opendir(base_path);
    struct dirent *e;
    *versions = NULL;
    *n = 0;
    if (!d)
        return roma_fail(err, ROMA_NOT_FOUND,
                         "model base path '%s' cannot be read (%s): it must be a directory "
                         "holding numeric version directories such as '%s/1/saved_model.pb'",
                         base_path, strerror(errno), base_path);
    while ((e = readdir(d)) != NULL) {
        int64_t v;
        struct stat st;
        char path[4096];
        if (!numeric_name(e->d_name, &v)) continue;
        snprintf(path, sizeof(path), "%s/%s", base_path, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        *versions = realloc(*versions, sizeof(int64_t) * (*n + 1));
        if (!*versions) abort();
        (*versions)[(*n)++] = v;
    }
    closedir(d);
    return ROMA_OK;
}

/* yamlmap.c - see yamlmap.h. */
#include "yamlmap.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

roma_code ym_fail(ym_reader *r, const yaml_node_t *n, const char *fmt, ...) {
    char what[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!r->file) return roma_fail(r->err, ROMA_INVALID_ARGUMENT, "%s", what); /* a flag */
    size_t line = n ? n->start_mark.line + 1 : 0;
    return roma_fail(r->err, ROMA_INVALID_ARGUMENT, "%s:%zu: %s", r->file, line, what);
}

yaml_node_t *ym_node(ym_reader *r, yaml_node_item_t id) {
    return r->doc ? yaml_document_get_node(r->doc, id) : NULL;
}

const char *ym_text(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

long ym_seq_len(const yaml_node_t *n) {
    if (!n || n->type != YAML_SEQUENCE_NODE) return -1;
    return (long)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* "unknown key 'x' in models[0] (known keys: a, b, c)" */
static roma_code unknown_key(ym_reader *r, const yaml_node_t *k, const char *in,
                             const ym_field *fields, size_t nfields) {
    char known[320] = "";
    for (size_t j = 0; j < nfields; j++)
        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", j ? ", " : "",
                 fields[j].key);
    const char *key = ym_text(k);
    return ym_fail(r, k, "unknown key '%s' in %s (known keys: %s)", key ? key : "?", in, known);
}

roma_code ym_read_map(ym_reader *r, const yaml_node_t *map, const char *where,
                      const ym_field *fields, size_t nfields, void *obj) {
    const char *in = *where ? where : r->what;
    uint32_t seen = 0;
    if (!map || map->type != YAML_MAPPING_NODE)
        return ym_fail(r, map, "%s must be a mapping (key: value)", in);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ym_node(r, p->key);
        const char *key = ym_text(k);
        size_t i = 0;
        while (i < nfields && !(key && strcmp(key, fields[i].key) == 0)) i++;
        if (i == nfields) return unknown_key(r, k, in, fields, nfields);
        char path[160];
        snprintf(path, sizeof(path), "%s%s%s", where, *where ? "." : "", key);
        roma_code rc = fields[i].read(r, ym_node(r, p->value), path, (char *)obj + fields[i].offset);
        if (rc != ROMA_OK) return rc;
        seen |= 1u << i;
    }
    for (size_t i = 0; i < nfields; i++)
        if (fields[i].need && !(seen & (1u << i)))
            return ym_fail(r, map, "%s needs '%s'%s", in, fields[i].key, fields[i].need);
    return ROMA_OK;
}

roma_code ym_read_text(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    if (!s || !*s) return ym_fail(r, v, "%s must be a non-empty string", path);
    free(*(char **)dst);
    *(char **)dst = strdup(s);
    if (!*(char **)dst) abort();
    return ROMA_OK;
}

roma_code ym_read_path(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    roma_code rc = ym_read_text(r, v, path, dst);
    char **out = dst;
    if (rc != ROMA_OK || (*out)[0] == '/' || r->dir_len == 0) return rc;
    char *joined = NULL;
    if (asprintf(&joined, "%.*s/%s", (int)r->dir_len, r->file, *out) < 0) abort();
    free(*out);
    *out = joined;
    return ROMA_OK;
}

roma_code ym_read_number(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    char *end = NULL;
    double x = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !isfinite(x))
        return ym_fail(r, v, "%s must be a number, got '%s'", path, s ? s : "a collection");
    *(double *)dst = x;
    return ROMA_OK;
}

roma_code ym_read_seconds(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    double x;
    if (!s || roma_parse_duration(s, &x) != 0 || x <= 0)
        return ym_fail(r, v, "%s must be a duration > 0 such as 2s, 500ms or 1.5, got '%s'", path,
                       s ? s : "a collection");
    *(double *)dst = x;
    return ROMA_OK;
}

roma_code ym_read_seed(ym_reader *r, const yaml_node_t *v, const char *path, void *dst) {
    const char *s = ym_text(v);
    char *end = NULL;
    errno = 0;
    unsigned long long x = s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || *s == '-' || end == s || *end || errno)
        return ym_fail(r, v, "%s must be a whole number >= 0, got '%s'", path, s ? s : "a collection");
    *(uint64_t *)dst = x;
    return ROMA_OK;
}

roma_code ym_parse(const char *text, size_t len, const char *file, const char *what,
                   roma_code (*read)(ym_reader *r, const yaml_node_t *root, void *obj), void *obj,
                   roma_err *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    const char *slash = strrchr(file, '/');
    ym_reader r = {&doc, file, slash ? (size_t)(slash - file) : 0, what, err};
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        roma_code rc = roma_fail(err, ROMA_INVALID_ARGUMENT, "%s:%zu: not valid YAML: %s", file,
                                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return rc;
    }
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    roma_code rc = root ? read(&r, root, obj)
                        : roma_fail(err, ROMA_INVALID_ARGUMENT, "%s: %s file is empty", file, what);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* yamlmap.h - reading a YAML file against tables of the keys it may hold.
 *
 * libyaml loads the document tree; each mapping is then read against a
 * table of its keys (key, reader, where the value goes in the caller's
 * struct, required or not), so a key nobody knows is an error that lists
 * the known ones, and every message carries file:line and the key's full
 * path ("paper.yaml:9: models[1].cpu.time must be a duration > 0 ...").
 * `roma bench` workload files and `roma sim` scenarios are read this way.
 * Single thread per reader.
 */
#ifndef ROMA_YAMLMAP_H
#define ROMA_YAMLMAP_H

#include <stddef.h>
#include <yaml.h>

#include "common/status.h"

typedef struct {
    yaml_document_t *doc; /* NULL while reading a command-line flag */
    const char *file;     /* names the text in messages; NULL for a flag */
    size_t dir_len;       /* file's folder: the first dir_len bytes of file */
    const char *what;     /* the whole document in messages ("the workload") */
    roma_err *err;
} ym_reader;

/* Reads the value v found at path (e.g. "models[0].sla") into dst. */
typedef roma_code (*ym_read_fn)(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);

typedef struct {
    const char *key;
    ym_read_fn read;
    size_t offset;    /* where in the object the value goes */
    const char *need; /* NULL: optional; else required, and this says why */
} ym_field;

/* Loads text (len bytes, from file) into doc and calls read(r, root, obj)
 * with r set up; frees the document afterwards.  Fails with a message
 * naming file:line when the text is not YAML or is empty. */
roma_code ym_parse(const char *text, size_t len, const char *file, const char *what,
                   roma_code (*read)(ym_reader *r, const yaml_node_t *root, void *obj), void *obj,
                   roma_err *err);

/* Fails with "file:line: message" (just the message for a flag). */
roma_code ym_fail(ym_reader *r, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The node with id, and the text of a scalar (NULL for a collection). */
yaml_node_t *ym_node(ym_reader *r, yaml_node_item_t id);
const char *ym_text(const yaml_node_t *n);

/* The number of items of a sequence node; -1 when n is not a sequence. */
long ym_seq_len(const yaml_node_t *n);

/* Reads every key of map through fields (at most 32) into obj, then checks
 * that the required ones were there.  where is the map's path ("" for the
 * top level). */
roma_code ym_read_map(ym_reader *r, const yaml_node_t *map, const char *where,
                      const ym_field *fields, size_t nfields, void *obj);

/* Readers of scalars; dst types: char * (owned, replaced), double, uint64_t.
 *   text     a non-empty string
 *   path     a file name, relative to the file's folder unless absolute
 *   number   a finite number
 *   seconds  a duration > 0 ("2s", "500ms", "1.5")
 *   seed     a whole number >= 0 */
roma_code ym_read_text(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);
roma_code ym_read_path(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);
roma_code ym_read_number(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);
roma_code ym_read_seconds(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);
roma_code ym_read_seed(ym_reader *r, const yaml_node_t *v, const char *path, void *dst);

#endif

/* file.h - reading a whole file, the one way ROMA does it (configs,
 * request bodies for benchmarks). */
#ifndef ROMA_FILE_H
#define ROMA_FILE_H

#include <stddef.h>

/* Returns the file's bytes with a NUL after them (caller frees) and sets
 * *len, or NULL with errno set when the file cannot be read. */
char *roma_read_file(const char *path, size_t *len);

#endif

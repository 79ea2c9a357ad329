/* file.h - reading a whole file, the one way ROMA does it (configs,
 * request bodies for benchmarks), and finding a program installed next to
 * roma (roma-worker). */
#ifndef ROMA_FILE_H
#define ROMA_FILE_H

#include <stddef.h>

/* Returns the file's bytes with a NUL after them (caller frees) and sets
 * *len, or NULL with errno set when the file cannot be read. */
char *roma_read_file(const char *path, size_t *len);

/* The program called name in the directory of the running executable
 * (/proc/self/exe), e.g. build/roma-worker next to build/roma, into out.
 * Returns 0, or -1 with errno set (ENAMETOOLONG when out is too small).
 * Says nothing about whether that file exists. */
int roma_sibling_exe(const char *name, char *out, size_t cap);

#endif

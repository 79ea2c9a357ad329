/* file.c - see file.h. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *roma_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t cap = 0;
    if (!f) return NULL;
    ssize_t n = getdelim(&text, &cap, '\0', f); /* a NUL in the file ends it early */
    fclose(f);
    if (n < 0) { /* an empty file: still a valid, empty string */
        free(text);
        text = calloc(1, 1);
        n = 0;
    }
    if (len) *len = (size_t)n;
    return text;
}

int roma_sibling_exe(const char *name, char *out, size_t cap) {
    ssize_t n = cap > 0 ? readlink("/proc/self/exe", out, cap - 1) : -1;
    if (n < 0) return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    size_t dir = slash ? (size_t)(slash - out) + 1 : 0;
    if (dir + strlen(name) + 1 > cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(out + dir, name);
    return 0;
}

/* file.c - see file.h. */
#include "file.h"

#include <stdio.h>
#include <stdlib.h>

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

/* duration.c - see duration.h. */
#include "duration.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int roma_parse_duration(const char *text, double *seconds) {
    static const struct { const char *unit; double scale; } units[] = {
        {"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}, {"h", 3600},
    };
    char *end;
    if (!text || !*text) return -1;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0) return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            *seconds = v * units[i].scale;
            return 0;
        }
    }
    return -1;
}

/* dashboard.c - the dashboard page of `roma serve` (GET /) and its assets.
 *
 * The page (src/serve/dashboard/index.html, dashboard.js, dashboard.css)
 * and Chart.js (Debian's libjs-chart.js, chart.min.js) are built into the
 * binary: the assembler's .incbin copies each file's bytes into read-only
 * data at build time (the Makefile passes the paths and makes this object
 * depend on the files), so no generator tool is needed and nothing is read
 * from disk at run time.  Why built in rather than served from
 * /usr/share/javascript: `roma serve` runs in images staged from its
 * binary and libraries alone (Containerfile) and on machines without the
 * Debian package, and a page whose scripts come from a path of the host
 * could change under a running server.  The cost is 200 KB of binary.
 *
 * The page holds no data: it reads /roma/v1/history, /controller and
 * /workers from the browser, with the operations token when ops.read is
 * token (dashboard.js asks for it).  So these assets are open like TF
 * Serving's API.  Every answer forbids framing and inline script (CSP), and
 * carries an ETag so a reload costs a 304 per asset.
 */
#include "serve.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

/* Defines roma_dash_<name>_start/_end around the bytes of file path. */
#define DASHBOARD_ASSET(name, path)                                                       \
    __asm__(".section .rodata\n"                                                          \
            ".global roma_dash_" #name "_start\n"                                         \
            ".global roma_dash_" #name "_end\n"                                           \
            ".balign 16\n"                                                                \
            "roma_dash_" #name "_start:\n"                                                \
            ".incbin \"" path "\"\n"                                                      \
            "roma_dash_" #name "_end:\n"                                                  \
            ".previous\n");                                                               \
    extern const char roma_dash_##name##_start[], roma_dash_##name##_end[]

DASHBOARD_ASSET(html, DASHBOARD_DIR "/index.html");
DASHBOARD_ASSET(js, DASHBOARD_DIR "/dashboard.js");
DASHBOARD_ASSET(css, DASHBOARD_DIR "/dashboard.css");
DASHBOARD_ASSET(chartjs, DASHBOARD_CHARTJS);

typedef struct {
    const char *path, *type;
    const char *start, *end;
    char etag[24]; /* made at the first request */
} dashboard_asset;

static dashboard_asset assets[] = {
    {"/", "text/html; charset=utf-8", roma_dash_html_start, roma_dash_html_end, ""},
    {"/dashboard/dashboard.js", "text/javascript; charset=utf-8", roma_dash_js_start,
     roma_dash_js_end, ""},
    {"/dashboard/dashboard.css", "text/css; charset=utf-8", roma_dash_css_start,
     roma_dash_css_end, ""},
    {"/dashboard/chart.min.js", "text/javascript; charset=utf-8", roma_dash_chartjs_start,
     roma_dash_chartjs_end, ""},
};

/* FNV-1a of the bytes: the asset changes only with the binary. */
static const char *etag_of(dashboard_asset *a) {
    if (!a->etag[0]) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = a->start; p < a->end; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        snprintf(a->etag, sizeof(a->etag), "\"%016llx\"", (unsigned long long)h);
    }
    return a->etag;
}

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                          "base-uri 'none'; form-action 'none'";

int dashboard_handle(roma_http_req *req, const char *path) {
    const char *method = roma_http_method(req);
    dashboard_asset *a = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return 0;
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
        if (strcmp(path, assets[i].path) == 0) a = &assets[i];
    if (!a) return 0;
    const char *etag = etag_of(a);
    const char *seen = roma_http_header(req, "If-None-Match");
    char headers[sizeof(csp) + 256];
    snprintf(headers, sizeof(headers),
             "ETag: %s\r\nCache-Control: no-cache\r\n" /* revalidate: a 304 when unchanged */
             "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n"
             "Referrer-Policy: no-referrer\r\n", etag, csp);
    if (seen && strstr(seen, etag)) {
        roma_http_reply(req, 304, NULL, headers, "", 0);
        return 1;
    }
    roma_http_reply(req, 200, a->type, headers, a->start, (size_t)(a->end - a->start));
    return 1;
}

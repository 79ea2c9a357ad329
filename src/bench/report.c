/* report.c - see report.h. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/stats.h"

/* JSON has no NaN: "nothing measured" is null. */
static json_t *number(double x) { return isnan(x) ? json_null() : json_real(x); }

static void count_status(json_t *statuses, int status) {
    char key[16];
    snprintf(key, sizeof(key), "%d", status);
    json_t *c = json_object_get(statuses, key);
    if (c) json_integer_set(c, json_integer_value(c) + 1);
    else json_object_set_new(statuses, key, json_integer(1));
}

/* Scratch space for one model's answered requests, reused across models. */
typedef struct {
    double *when, *latency;
} scratch;

static json_t *model_summary(const bench_workload *w, const bench_plan *p, const bench_outcome *o,
                             size_t model, double span, scratch *sc, size_t *sent_out,
                             size_t *ok_out) {
    const bench_model *m = &w->models[model];
    json_t *statuses = json_object();
    size_t sent = 0, ok = 0;
    for (size_t i = 0; i < p->schedule.len; i++) {
        if (p->schedule.sends[i].model != model || o[i].status < 0) continue;
        sent++;
        count_status(statuses, o[i].status);
        if (o[i].status != 200) continue;
        sc->when[ok] = p->schedule.sends[i].time;
        sc->latency[ok++] = o[i].latency;
    }
    bench_stats st;
    bench_stats_summarize(sc->when, sc->latency, ok, m->sla, w->window, &st);
    *sent_out += sent;
    *ok_out += ok;
    json_t *j = json_object();
    json_object_set_new(j, "sla", json_real(m->sla));
    json_object_set_new(j, "arrivals", json_string(bench_arrivals_name(m->arrivals)));
    json_object_set_new(j, "load", json_string(m->has_load ? bench_profile_name(m->profile.kind) : "trace"));
    json_object_set_new(j, "sent", json_integer((json_int_t)sent));
    json_object_set_new(j, "ok", json_integer((json_int_t)ok));
    json_object_set_new(j, "errors", json_integer((json_int_t)(sent - ok)));
    json_object_set_new(j, "statuses", statuses);
    json_object_set_new(j, "mean", number(st.mean));
    json_object_set_new(j, "p50", number(st.p50));
    json_object_set_new(j, "p95", number(st.p95));
    json_object_set_new(j, "p99", number(st.p99));
    json_object_set_new(j, "violation_rate", number(st.violation_rate));
    json_object_set_new(j, "window_violation_rate", number(st.window_violation_rate));
    json_object_set_new(j, "window_p95_violation_rate", number(st.window_p95_violation_rate));
    json_object_set_new(j, "windows", json_integer((json_int_t)st.windows));
    json_object_set_new(j, "rate_asked", json_real(p->asked[model] / p->duration));
    json_object_set_new(j, "rate_achieved", json_real((double)sent / span));
    return j;
}

/* The 99th percentile of how late requests were handed to a connection. */
static double send_lag_p99(const bench_plan *p, const bench_outcome *o, double *buf) {
    size_t n = 0;
    for (size_t i = 0; i < p->schedule.len; i++)
        if (!isnan(o[i].lag)) buf[n++] = o[i].lag;
    bench_stats st;
    bench_stats_summarize(buf, buf, n, INFINITY, INFINITY, &st);
    return st.p99;
}

json_t *bench_report_summary(const bench_workload *w, const bench_plan *p, const bench_outcome *o,
                             const bench_run_info *info, const double *core_seconds) {
    size_t n = p->schedule.len ? p->schedule.len : 1, sent = 0, ok = 0;
    int interrupted = !isnan(info->interrupted_at);
    double span = interrupted ? info->interrupted_at
                              : (info->last_send > p->duration ? info->last_send : p->duration);
    double asked = 0;
    scratch sc = {malloc(n * sizeof(double)), malloc(n * sizeof(double))};
    if (!sc.when || !sc.latency) abort();
    json_t *models = json_object();
    for (size_t k = 0; k < w->nmodels; k++) {
        json_t *m = model_summary(w, p, o, k, span, &sc, &sent, &ok);
        if (core_seconds) json_object_set_new(m, "core_seconds", number(core_seconds[k]));
        json_object_set_new(models, w->models[k].name, m);
        asked += p->asked[k];
    }
    double lag = send_lag_p99(p, o, sc.when);
    free(sc.when);
    free(sc.latency);
    json_t *j = json_object();
    json_object_set_new(j, "target", json_string(w->target));
    json_object_set_new(j, "duration", json_real(p->duration));
    json_object_set_new(j, "elapsed", json_real(info->elapsed));
    json_object_set_new(j, "window", json_real(w->window));
    json_object_set_new(j, "rate_asked", json_real(asked / p->duration));
    json_object_set_new(j, "rate_achieved", json_real(span > 0 ? (double)sent / span : 0));
    json_object_set_new(j, "sent", json_integer((json_int_t)sent));
    json_object_set_new(j, "ok", json_integer((json_int_t)ok));
    json_object_set_new(j, "errors", json_integer((json_int_t)(sent - ok)));
    json_object_set_new(j, "send_lag_p99", number(lag));
    json_object_set_new(j, "max_in_flight", json_integer((json_int_t)info->max_inflight));
    json_object_set_new(j, "connections", json_integer((json_int_t)info->connections));
    json_object_set_new(j, "interrupted", json_boolean(interrupted));
    json_object_set_new(j, "models", models);
    return j;
}

roma_code bench_report_write_summary(const char *path, const json_t *summary, roma_err *err) {
    if (json_dump_file(summary, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) != 0)
        return roma_fail(err, ROMA_PERMISSION_DENIED, "cannot write the summary to '%s': %s",
                         path, strerror(errno));
    return ROMA_OK;
}

roma_code bench_report_write_csv(const char *path, const bench_workload *w, const bench_plan *p,
                                 const bench_outcome *o, roma_err *err) {
    FILE *f = fopen(path, "w");
    if (!f)
        return roma_fail(err, ROMA_PERMISSION_DENIED, "cannot write the CSV to '%s': %s", path,
                         strerror(errno));
    fputs("model,scheduled,latency,status\n", f);
    for (size_t i = 0; i < p->schedule.len; i++) {
        if (o[i].status < 0) continue;
        fprintf(f, "%s,%.6f,", w->models[p->schedule.sends[i].model].name, p->schedule.sends[i].time);
        if (!isnan(o[i].latency)) fprintf(f, "%.6f", o[i].latency);
        fprintf(f, ",%d\n", o[i].status);
    }
    if (fclose(f) != 0)
        return roma_fail(err, ROMA_DATA_LOSS, "writing the CSV '%s' failed: %s", path, strerror(errno));
    return ROMA_OK;
}

static double field_of(const json_t *j, const char *key) {
    const json_t *v = json_object_get(j, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

void bench_report_print(FILE *f, const json_t *summary) {
    const char *name;
    const json_t *m;
    fprintf(f, "%-20s %8s %8s %7s %10s %10s %7s %9s\n", "model", "sent", "ok", "errors", "p50 ms",
            "p99 ms", "viol", "win-viol");
    json_object_foreach((json_t *)json_object_get(summary, "models"), name, m) {
        fprintf(f, "%-20s %8.0f %8.0f %7.0f %10.3f %10.3f %6.1f%% %8.1f%%\n", name,
                field_of(m, "sent"), field_of(m, "ok"), field_of(m, "errors"),
                1e3 * field_of(m, "p50"), 1e3 * field_of(m, "p99"),
                100 * field_of(m, "violation_rate"), 100 * field_of(m, "window_violation_rate"));
    }
    fprintf(f, "rate asked %.1f/s, achieved %.1f/s over %.1f s; send lag p99 %.3f ms\n",
            field_of(summary, "rate_asked"), field_of(summary, "rate_achieved"),
            field_of(summary, "duration"), 1e3 * field_of(summary, "send_lag_p99"));
}

int bench_report_core_seconds(const char *metrics, const char *model, double *value) {
    static const char metric[] = "roma_core_seconds_total{";
    char label[320];
    int len = snprintf(label, sizeof(label), "model=\"%s\"", model);
    for (const char *line = metrics; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        const char *close = memchr(line, '}', n);
        if (close && strncmp(line, metric, sizeof(metric) - 1) == 0) {
            /* model="x" must be a whole label: after '{' or ',', not in other_model="x". */
            const char *at = memmem(line, (size_t)(close - line), label, (size_t)len);
            char *end = NULL;
            double v = at && (at[-1] == '{' || at[-1] == ',') ? strtod(close + 1, &end) : NAN;
            if (!isnan(v) && end != close + 1) {
                *value = v;
                return 1;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* render.c - see render.h.  The objects follow the contract between these
 * manifests and `roma serve` in cluster mode (labels, names, ports): change
 * both sides together. */
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "../common/buf.h"
#include "../common/secret.h"

#define CONFIG_DIR "/etc/roma"
#define STATE_DIR "/var/lib/roma" /* roma serve's store (an emptyDir) */
#define MODELS_DIR "/models"
#define SERVE_PORT 8501           /* TF Serving's REST port: the Service's port */
#define NO_VPA_NOTE                                                                          \
    "roma serve resizes this pod's CPU in place through pods/resize; no Vertical Pod "     \
    "Autoscaler may act on it (the two would fight over its cores)"

/* ---- small JSON builders -------------------------------------------------- */

static json_t *str_array(const char *const *items) {
    json_t *a = json_array();
    for (; *items; items++) json_array_append_new(a, json_string(*items));
    return a;
}

/* The labels every object has, plus component (NULL: none). */
static json_t *labels(const char *component) {
    json_t *l = json_pack("{s:s, s:s}", "app.kubernetes.io/name", "roma",
                          "app.kubernetes.io/part-of", "roma");
    if (component) json_object_set_new(l, "app.kubernetes.io/component", json_string(component));
    return l;
}

static json_t *object(const char *api_version, const char *kind, const char *name,
                      const char *ns, json_t *labels_) {
    json_t *meta = json_pack("{s:s}", "name", name);
    if (ns) json_object_set_new(meta, "namespace", json_string(ns));
    json_object_set_new(meta, "labels", labels_);
    return json_pack("{s:s, s:s, s:o}", "apiVersion", api_version, "kind", kind, "metadata", meta);
}

/* Non-root with a fixed UID (hostPath models must be readable by it), the
 * runtime's default seccomp profile. */
static json_t *pod_security(void) {
    return json_pack("{s:b, s:i, s:i, s:i, s:{s:s}}", "runAsNonRoot", 1, "runAsUser", K8S_UID,
                     "runAsGroup", K8S_UID, "fsGroup", K8S_UID, "seccompProfile", "type",
                     "RuntimeDefault");
}

/* Nothing is written outside the emptyDir volumes (/tmp, the store). */
static json_t *container_security(void) {
    return json_pack("{s:b, s:b, s:b, s:{s:[s]}}", "allowPrivilegeEscalation", 0,
                     "readOnlyRootFilesystem", 1, "runAsNonRoot", 1, "capabilities", "drop",
                     "ALL");
}

static json_t *http_probe(const char *path, int period, int failures) {
    return json_pack("{s:{s:s, s:s}, s:i, s:i}", "httpGet", "path", path, "port", "http",
                     "periodSeconds", period, "failureThreshold", failures);
}

static json_t *volume_mount(const char *name, const char *path, int read_only) {
    json_t *m = json_pack("{s:s, s:s}", "name", name, "mountPath", path);
    if (read_only) json_object_set_new(m, "readOnly", json_true());
    return m;
}

static json_t *empty_dir(const char *name) {
    return json_pack("{s:s, s:{}}", "name", name, "emptyDir");
}

/* ROMA_WORKER_SECRET from the Secret (not optional: a pod without it
 * would not start rather than run unprotected). */
static json_t *secret_env(void) {
    return json_pack("{s:s, s:{s:{s:s, s:s, s:b}}}", "name", ROMA_WORKER_SECRET_ENV, "valueFrom",
                     "secretKeyRef", "name", K8S_WORKER_SECRET_NAME, "key", K8S_WORKER_SECRET_KEY,
                     "optional", 0);
}

/* ---- names and quantities ------------------------------------------------- */

void k8s_model_object_name(const char *model, char *out, size_t cap) {
    size_t n = 0;
    for (; *model && n + 1 < cap; model++)
        out[n++] = *model == '_' || *model == '.' ? '-' : (char)tolower((unsigned char)*model);
    out[n] = '\0';
}

void k8s_cpu_quantity(double cores, char *out, size_t cap) {
    long long milli = llround(cores * 1000);
    if (milli % 1000 == 0) snprintf(out, cap, "%lld", milli / 1000);
    else snprintf(out, cap, "%lldm", milli);
}

/* A DNS-1123 subdomain: what pod and other object names must be. */
static int dns_subdomain(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' && *p != '.')
            return 0;
    return 1;
}

/* A label value: up to 63 of [A-Za-z0-9._-], starting and ending alphanumeric. */
static int label_value(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* ---- image references ----------------------------------------------------- */

static int all_of(const char *s, size_t n, const char *set) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i])) return 0;
    return 1;
}

#define LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM LOWER_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* path-component: lower-case alphanumerics separated by '.', '_', '__' or
 * any run of '-'. */
static int path_component(const char *s, size_t n) {
    if (n == 0 || !strchr(LOWER_ALNUM, s[0]) || !strchr(LOWER_ALNUM, s[n - 1])) return 0;
    for (size_t i = 0; i < n;) {
        if (strchr(LOWER_ALNUM, s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !strchr(LOWER_ALNUM, s[j])) j++;
        size_t len = j - i;
        int ok = (len == 1 && (s[i] == '.' || s[i] == '_')) ||
                 (len == 2 && s[i] == '_' && s[i + 1] == '_') || all_of(s + i, len, "-");
        if (!ok) return 0;
        i = j;
    }
    return 1;
}

/* host[:port]: dot-separated components of [A-Za-z0-9-] that start and end
 * alphanumeric, and a decimal port. */
static int domain(const char *s, size_t n) {
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t)(colon - s) : n;
    if (colon && (n - host - 1 == 0 || !all_of(colon + 1, n - host - 1, "0123456789"))) return 0;
    for (size_t i = 0; i <= host;) {
        const char *dot = memchr(s + i, '.', host - i);
        size_t end = dot ? (size_t)(dot - s) : host, len = end - i;
        if (len == 0 || !strchr(ALNUM, s[i]) || !strchr(ALNUM, s[end - 1]) ||
            !all_of(s + i, len, ALNUM "-"))
            return 0;
        i = end + 1;
    }
    return 1;
}

/* algorithm ":" hex: algorithm components [A-Za-z][A-Za-z0-9]* joined by
 * one of "+.-_", and at least 32 hex digits. */
static int digest(const char *s) {
    const char *colon = strchr(s, ':');
    if (!colon || strlen(colon + 1) < 32 || !all_of(colon + 1, strlen(colon + 1), "0123456789abcdefABCDEF"))
        return 0;
    for (const char *p = s; p < colon;) {
        if (!isalpha((unsigned char)*p)) return 0;
        while (p < colon && isalnum((unsigned char)*p)) p++;
        if (p < colon && !strchr("+.-_", *p++)) return 0;
        if (p == colon && strchr("+.-_", p[-1])) return 0;
    }
    return colon > s;
}

static int reject(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int reject(char *why, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return 0;
}

/* Where the name ends: before ":tag" (a ':' after the last '/') and "@digest". */
static size_t name_length(const char *ref, size_t end) {
    for (size_t i = end; i-- > 0 && ref[i] != '/';)
        if (ref[i] == ':') return i;
    return end;
}

/* A leading registry: a first component (before a '/') with '.' or ':',
 * an upper-case letter, or localhost.  Its length, or 0 when there is none. */
static size_t registry_length(const char *ref, size_t name_end) {
    const char *slash = memchr(ref, '/', name_end);
    if (!slash) return 0;
    size_t n = (size_t)(slash - ref);
    int is_registry = memchr(ref, '.', n) || memchr(ref, ':', n) ||
                      (n == 9 && strncmp(ref, "localhost", 9) == 0);
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)ref[i])) is_registry = 1;
    return is_registry ? n : 0;
}

int k8s_image_ref_valid(const char *ref, char *why, size_t cap) {
    static const char form[] = "the form is [registry[:port]/]name[:tag][@sha256:hex], e.g. "
                               "registry.example.com:5000/team/roma:0.1.0";
    size_t len = strlen(ref);
    if (len == 0) return reject(why, cap, "the image reference is empty (%s)", form);
    const char *at = strchr(ref, '@');
    size_t end = at ? (size_t)(at - ref) : len, name_end = name_length(ref, end);
    if (at && !digest(at + 1))
        return reject(why, cap, "image '%s': the digest after '@' must be algorithm:hex with at "
                      "least 32 hex digits (%s)", ref, form);
    if (name_end < end) {
        const char *tag = ref + name_end + 1;
        size_t n = end - name_end - 1;
        if (n == 0 || n > 128 || !strchr(ALNUM "_", tag[0]) || !all_of(tag, n, ALNUM "_.-"))
            return reject(why, cap, "image '%s': a tag is 1-128 of letters, digits, '_', '.' and "
                          "'-', not starting with '.' or '-'", ref);
    }
    if (name_end > 255) return reject(why, cap, "image '%s': the name is longer than 255", ref);
    size_t start = registry_length(ref, name_end);
    if (start > 0 && !domain(ref, start))
        return reject(why, cap, "image '%s': the registry must be host[:port]: a host name of "
                      "letters, digits, '-' and '.', and a numeric port", ref);
    for (size_t i = start ? start + 1 : 0; i <= name_end;) {
        const char *next = memchr(ref + i, '/', name_end - i);
        size_t stop = next ? (size_t)(next - ref) : name_end;
        if (!path_component(ref + i, stop - i))
            return reject(why, cap, "image '%s': each part of the name must be lower-case letters "
                          "and digits, separated by '.', '_', '__' or '-' (%s)", ref, form);
        i = stop + 1;
    }
    return 1;
}

/* ---- the config the control plane reads ----------------------------------- */

static json_t *real(double v) {
    return v == floor(v) && fabs(v) < 1e15 ? json_integer((json_int_t)v) : json_real(v);
}

static json_t *int_array(const int *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *cluster_section(const serve_config *cfg, const char *ns) {
    const serve_cluster_config *k = &cfg->cluster;
    json_t *c = json_pack("{s:s, s:s}", "kind", "kubernetes", "namespace", ns);
    if (k->api_server) json_object_set_new(c, "api_server", json_string(k->api_server));
    if (k->token_file) json_object_set_new(c, "token_file", json_string(k->token_file));
    if (k->ca_file) json_object_set_new(c, "ca_file", json_string(k->ca_file));
    if (k->insecure_http) json_object_set_new(c, "insecure_http", json_true());
    json_object_set_new(c, "worker_port", json_integer(k->worker_port));
    if (k->models_claim)
        json_object_set_new(c, "models_volume", json_pack("{s:s}", "claim", k->models_claim));
    if (k->models_host_path)
        json_object_set_new(c, "models_volume",
                            json_pack("{s:s}", "host_path", k->models_host_path));
    if (k->nnodes == 0) return c;
    json_t *nodes = json_array();
    for (size_t i = 0; i < k->nnodes; i++)
        json_array_append_new(nodes, json_pack("{s:s, s:o, s:o}", "name", k->nodes[i].name,
                                               "cpus", real(k->nodes[i].cpus), "gpus",
                                               int_array(k->nodes[i].gpus, k->nodes[i].ngpus)));
    json_object_set_new(c, "nodes", nodes);
    return c;
}

/* roma.yaml as the control plane's pod reads it: listening on every
 * address, the store in its emptyDir, cluster.kind kubernetes; base paths
 * are where the worker pods mount the models (roma serve does not read them
 * in cluster mode). */
static char *pod_config(const serve_config *cfg, const char *ns) {
    char listen[32], path[300];
    snprintf(listen, sizeof(listen), "0.0.0.0:%d", SERVE_PORT);
    json_t *models = json_array();
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const serve_model_config *m = &cfg->models[i];
        snprintf(path, sizeof(path), MODELS_DIR "/%s", m->name);
        json_t *j = json_pack("{s:s, s:s, s:o, s:o}", "name", m->name, "base_path", path, "sla",
                              real(m->sla), "alpha", real(m->alpha));
        if (m->profiled > 0) json_object_set_new(j, "profiled", real(m->profiled));
        json_object_set_new(j, "cores", json_pack("{s:o, s:o, s:o}", "min", real(m->cores_min),
                                                  "max", real(m->cores_max), "initial",
                                                  real(m->cores_initial)));
        if (m->node) json_object_set_new(j, "node", json_string(m->node));
        json_array_append_new(models, j);
    }
    json_t *doc = json_pack(
        "{s:s, s:{s:o, s:o}, s:{s:o, s:s}, s:{s:s, s:i}, s:{s:s, s:I}, s:o, s:o}", "listen",
        listen, "node", "cpus", real(cfg->node_cpus), "gpus", int_array(cfg->gpus, cfg->ngpus),
        "control", "period", real(cfg->period_default ? SERVE_PERIOD_CLUSTER : cfg->period),
        "controller", cfg->controller, "dispatch",
        "gpu_policy", cfg->gpu_policy, "queue_limit", cfg->queue_limit, "store", "path",
        STATE_DIR "/roma.db", "max_rows", (json_int_t)cfg->store_max_rows, "models", models,
        "cluster", cluster_section(cfg, ns));
    char *yaml = k8s_yaml_string(doc);
    json_decref(doc);
    roma_buf b = {0};
    roma_buf_puts(&b, "# Rendered by `roma k8s render` from the operator's roma.yaml.\n");
    roma_buf_puts(&b, yaml);
    free(yaml);
    return roma_buf_detach(&b, NULL);
}

/* TF Serving's ModelServerConfig for the GPU workers (every model). */
static char *gpu_models_config(const serve_config *cfg) {
    roma_buf b = {0};
    roma_buf_puts(&b, "model_config_list {\n");
    for (size_t i = 0; i < cfg->nmodels; i++)
        roma_buf_printf(&b, "  config { name: \"%s\" base_path: \"" MODELS_DIR "/%s\" "
                        "model_platform: \"tensorflow\" }\n", cfg->models[i].name,
                        cfg->models[i].name);
    roma_buf_puts(&b, "}\n");
    return roma_buf_detach(&b, NULL);
}

/* ---- the objects ---------------------------------------------------------- */

static int has_gpus(const serve_config *cfg) {
    if (cfg->cluster.nnodes == 0) return cfg->ngpus > 0;
    for (size_t i = 0; i < cfg->cluster.nnodes; i++)
        if (cfg->cluster.nodes[i].ngpus > 0) return 1;
    return 0;
}

static void add_rbac(json_t *out, const char *ns) {
    json_t *sa = object("v1", "ServiceAccount", "roma", ns, labels("control-plane"));
    json_array_append_new(out, sa);
    json_t *role = object("rbac.authorization.k8s.io/v1", "Role", "roma", ns,
                          labels("control-plane"));
    static const char *const pods[] = {"pods", NULL}, *const resize[] = {"pods/resize", NULL},
                             *const core[] = {"", NULL}, *const read[] = {"get", "list", "watch", NULL},
                             *const patch[] = {"patch", NULL};
    json_object_set_new(role, "rules",
                        json_pack("[{s:o, s:o, s:o}, {s:o, s:o, s:o}]", "apiGroups",
                                  str_array(core), "resources", str_array(pods), "verbs",
                                  str_array(read), "apiGroups", str_array(core), "resources",
                                  str_array(resize), "verbs", str_array(patch)));
    json_array_append_new(out, role);
    json_t *rb = object("rbac.authorization.k8s.io/v1", "RoleBinding", "roma", ns,
                        labels("control-plane"));
    json_object_set_new(rb, "roleRef", json_pack("{s:s, s:s, s:s}", "apiGroup",
                                                 "rbac.authorization.k8s.io", "kind", "Role",
                                                 "name", "roma"));
    json_object_set_new(rb, "subjects", json_pack("[{s:s, s:s, s:s}]", "kind", "ServiceAccount",
                                                  "name", "roma", "namespace", ns));
    json_array_append_new(out, rb);
}

static json_t *config_map(const serve_config *cfg, const char *ns) {
    json_t *cm = object("v1", "ConfigMap", "roma-config", ns, labels("control-plane"));
    char *config = pod_config(cfg, ns);
    json_t *data = json_pack("{s:s}", "roma.yaml", config);
    free(config);
    if (has_gpus(cfg)) {
        char *models = gpu_models_config(cfg);
        json_object_set_new(data, "models.config", json_string(models));
        free(models);
    }
    json_object_set_new(cm, "data", data);
    return cm;
}

static json_t *service(const char *ns) {
    json_t *svc = object("v1", "Service", "roma", ns, labels("control-plane"));
    json_object_set_new(svc, "spec", json_pack("{s:o, s:[{s:s, s:i, s:s, s:s}]}", "selector",
                                               labels("control-plane"), "ports", "name", "http",
                                               "port", SERVE_PORT, "targetPort", "http",
                                               "protocol", "TCP"));
    return svc;
}

static json_t *deployment(const char *ns, const char *image) {
    json_t *container = json_pack(
        "{s:s, s:s, s:s, s:[s, s, s, s], s:[{s:s, s:i, s:s}], s:{s:{s:s, s:s}, s:{s:s}}, "
        "s:o, s:o, s:[o, o, o], s:o}",
        "name", "roma", "image", image, "imagePullPolicy", "IfNotPresent", "command", "roma",
        "serve", "-c", CONFIG_DIR "/roma.yaml", "ports", "name", "http", "containerPort",
        SERVE_PORT, "protocol", "TCP", "resources", "requests", "cpu", "500m", "memory", "256Mi",
        "limits", "memory", "512Mi", "readinessProbe", http_probe("/roma/v1/models", 2, 3),
        "livenessProbe", http_probe("/roma/v1/models", 10, 6), "volumeMounts",
        volume_mount("config", CONFIG_DIR, 1), volume_mount("state", STATE_DIR, 0),
        volume_mount("tmp", "/tmp", 0), "securityContext", container_security());
    json_object_set_new(container, "env", json_pack("[o]", secret_env()));
    json_t *pod_spec = json_pack(
        "{s:s, s:b, s:o, s:[o], s:[{s:s, s:{s:s}}, o, o]}", "serviceAccountName", "roma",
        "automountServiceAccountToken", 1, "securityContext", pod_security(), "containers",
        container, "volumes", "name", "config", "configMap", "name", "roma-config",
        empty_dir("state"), empty_dir("tmp"));
    json_t *dep = object("apps/v1", "Deployment", "roma", ns, labels("control-plane"));
    /* Recreate: two control planes at once would both resize the workers. */
    json_object_set_new(dep, "spec", json_pack("{s:i, s:{s:s}, s:{s:o}, s:{s:{s:o}, s:o}}",
                                               "replicas", 1, "strategy", "type", "Recreate",
                                               "selector", "matchLabels", labels("control-plane"),
                                               "template", "metadata", "labels",
                                               labels("control-plane"), "spec", pod_spec));
    return dep;
}

/* The models volume(s) and where a worker mounts them: one volume at
 * /models (claim or host_path), else one hostPath per model at
 * /models/<model>.  model NULL: every model (GPU workers). */
static void add_models_volumes(const serve_config *cfg, const serve_model_config *model,
                               json_t *volumes, json_t *mounts) {
    const serve_cluster_config *k = &cfg->cluster;
    if (k->models_claim || k->models_host_path) {
        json_array_append_new(mounts, volume_mount("models", MODELS_DIR, 1));
        if (k->models_claim)
            json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:b}}", "name", "models",
                                                     "persistentVolumeClaim", "claimName",
                                                     k->models_claim, "readOnly", 1));
        else
            json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:s}}", "name", "models",
                                                     "hostPath", "path", k->models_host_path,
                                                     "type", "Directory"));
        return;
    }
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const serve_model_config *m = &cfg->models[i];
        if (model && m != model) continue;
        char name[32], path[300];
        snprintf(name, sizeof(name), "model-%zu", i);
        snprintf(path, sizeof(path), MODELS_DIR "/%s", m->name);
        json_array_append_new(mounts, volume_mount(name, path, 1));
        json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:s}}", "name", name, "hostPath",
                                                 "path", m->base_path, "type", "Directory"));
    }
}

static json_t *worker_pod(const char *name, const char *ns, json_t *labels_, json_t *annotations,
                          json_t *container, json_t *volumes, const char *node) {
    json_t *pod = object("v1", "Pod", name, ns, labels_);
    json_object_set_new(json_object_get(pod, "metadata"), "annotations", annotations);
    json_array_append_new(volumes, empty_dir("tmp"));
    json_t *mounts = json_object_get(container, "volumeMounts");
    json_array_append_new(mounts, volume_mount("tmp", "/tmp", 0));
    json_object_set_new(container, "securityContext", container_security());
    /* The kubelet's probes cannot send the secret: the status they ask is
     * open (common/secret.h), nothing else. */
    json_object_set_new(container, "env",
                        json_pack("[{s:s, s:s}, o, {s:s, s:s}]", "name", "TF_CPP_MIN_LOG_LEVEL",
                                  "value", "2", secret_env(), "name", ROMA_WORKER_OPEN_STATUS_ENV,
                                  "value", "1"));
    /* Workers call no API: no token in them. */
    json_t *spec = json_pack("{s:b, s:s, s:o, s:[o], s:o}", "automountServiceAccountToken", 0,
                             "restartPolicy", "Always", "securityContext", pod_security(),
                             "containers", container, "volumes", volumes);
    if (node)
        json_object_set_new(spec, "nodeSelector", json_pack("{s:s}", "kubernetes.io/hostname", node));
    json_object_set_new(pod, "spec", spec);
    return pod;
}

static json_t *worker_container(const char *image, json_t *command, const char *probe_path,
                                json_t *resources, int port) {
    return json_pack("{s:s, s:s, s:s, s:o, s:[{s:s, s:i, s:s}], s:o, s:o, s:o, s:o, s:[]}",
                     "name", "worker", "image", image, "imagePullPolicy", "IfNotPresent",
                     "command", command, "ports", "name", "http", "containerPort", port,
                     "protocol", "TCP", "resources", resources, "startupProbe",
                     http_probe(probe_path, 2, 150), "readinessProbe", http_probe(probe_path, 2, 2),
                     "livenessProbe", http_probe(probe_path, 10, 3), "volumeMounts");
}

static json_t *cpu_worker(const serve_config *cfg, const serve_model_config *m, const char *ns,
                          const char *image) {
    char obj[64], name[96], probe[300], cpu[32], arg[8][320];
    int port = cfg->cluster.worker_port, threads = (int)ceil(m->cores_max - 1e-9);
    k8s_model_object_name(m->name, obj, sizeof(obj));
    snprintf(name, sizeof(name), "roma-worker-%s", obj);
    snprintf(probe, sizeof(probe), "/v1/models/%s", m->name);
    k8s_cpu_quantity(m->cores_initial, cpu, sizeof(cpu));
    snprintf(arg[0], sizeof(arg[0]), "--rest_api_port=%d", port);
    snprintf(arg[1], sizeof(arg[1]), "--model_name=%s", m->name);
    snprintf(arg[2], sizeof(arg[2]), "--model_base_path=" MODELS_DIR "/%s", m->name);
    snprintf(arg[3], sizeof(arg[3]), "--tensorflow_intra_op_parallelism=%d", threads);
    snprintf(arg[4], sizeof(arg[4]), "--tensorflow_inter_op_parallelism=%d", threads);
    snprintf(arg[5], sizeof(arg[5]), "--rest_api_num_threads=%d", threads);
    json_t *command = json_pack("[s, s, s, s, s, s, s, s, s, s]", "roma", "worker", arg[0],
                                "--rest_api_host=0.0.0.0", arg[1], arg[2], arg[3], arg[4],
                                "--tensorflow_thread_spinning=0", arg[5]);
    /* requests = limits (Guaranteed QoS) so a resize keeps the QoS class;
     * CPU resizes without a restart, memory needs one. */
    json_t *resources = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "requests", "cpu", cpu,
                                  "memory", K8S_WORKER_MEMORY, "limits", "cpu", cpu, "memory",
                                  K8S_WORKER_MEMORY);
    json_t *c = worker_container(image, command, probe, resources, port);
    json_object_set_new(c, "resizePolicy",
                        json_pack("[{s:s, s:s}, {s:s, s:s}]", "resourceName", "cpu",
                                  "restartPolicy", "NotRequired", "resourceName", "memory",
                                  "restartPolicy", "RestartContainer"));
    json_t *l = labels("worker");
    json_object_set_new(l, "roma.io/role", json_string("cpu-worker"));
    json_object_set_new(l, "roma.io/model", json_string(m->name));
    json_t *ann = json_pack("{s:s, s:s, s:s}", "roma.io/model", m->name, "roma.io/resized-by",
                            "roma", "roma.io/no-vertical-pod-autoscaler", NO_VPA_NOTE);
    json_t *volumes = json_array();
    add_models_volumes(cfg, m, volumes, json_object_get(c, "volumeMounts"));
    return worker_pod(name, ns, l, ann, c, volumes, m->node);
}

/* node NULL: the single-node form (node.gpus). */
static json_t *gpu_worker(const serve_config *cfg, const char *node, int gpu, const char *ns,
                          const char *image) {
    char name[320], index[16], probe[300], port_arg[48];
    if (node) snprintf(name, sizeof(name), "roma-worker-gpu-%s-%d", node, gpu);
    else snprintf(name, sizeof(name), "roma-worker-gpu-%d", gpu);
    snprintf(index, sizeof(index), "%d", gpu);
    snprintf(probe, sizeof(probe), "/v1/models/%s", cfg->models[0].name);
    snprintf(port_arg, sizeof(port_arg), "--rest_api_port=%d", cfg->cluster.worker_port);
    /* The device plugin shows the pod its one GPU as device 0. */
    json_t *command = json_pack("[s, s, s, s, s, s]", "roma", "worker", port_arg,
                                "--rest_api_host=0.0.0.0", "--device=gpu:0",
                                "--model_config_file=" CONFIG_DIR "/models.config");
    json_t *resources = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "requests", "cpu", "1",
                                  "memory", K8S_GPU_WORKER_MEMORY, "nvidia.com/gpu", "1",
                                  "limits", "memory", K8S_GPU_WORKER_MEMORY, "nvidia.com/gpu",
                                  "1");
    json_t *c = worker_container(image, command, probe, resources, cfg->cluster.worker_port);
    json_array_append_new(json_object_get(c, "volumeMounts"), volume_mount("config", CONFIG_DIR, 1));
    json_t *volumes = json_pack("[{s:s, s:{s:s}}]", "name", "config", "configMap", "name",
                                "roma-config");
    add_models_volumes(cfg, NULL, volumes, json_object_get(c, "volumeMounts"));
    json_t *l = labels("worker");
    json_object_set_new(l, "roma.io/role", json_string("gpu-worker"));
    json_object_set_new(l, "roma.io/gpu", json_string(index));
    json_t *ann = json_pack("{s:s}", "roma.io/gpu", index);
    return worker_pod(name, ns, l, ann, c, volumes, node);
}

/* ---- checks and the whole set --------------------------------------------- */

static roma_code check_names(const serve_config *cfg, roma_err *err) {
    char obj[64], other[64], pod[96];
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const serve_model_config *m = &cfg->models[i];
        k8s_model_object_name(m->name, obj, sizeof(obj));
        snprintf(pod, sizeof(pod), "roma-worker-%s", obj);
        if (!label_value(m->name) || !dns_subdomain(pod))
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': on Kubernetes a model name "
                             "must start and end with a letter or digit (it is a label value "
                             "and part of the pod name); rename it", m->name);
        for (size_t j = 0; j < i; j++) {
            k8s_model_object_name(cfg->models[j].name, other, sizeof(other));
            if (strcmp(obj, other) == 0)
                return roma_fail(err, ROMA_INVALID_ARGUMENT, "models '%s' and '%s' would both be "
                                 "pod roma-worker-%s (names are lower-cased, '_' and '.' become "
                                 "'-'); rename one", cfg->models[j].name, m->name, obj);
        }
        if (!cfg->cluster.models_claim && !cfg->cluster.models_host_path && m->base_path[0] != '/')
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': base_path '%s' is relative; "
                             "without cluster.models_volume each model is a hostPath volume, "
                             "which needs an absolute path (or set cluster.models_volume: "
                             "{claim: NAME})", m->name, m->base_path);
        if (m->node && !label_value(m->node))
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "model '%s': node '%s' is not a valid "
                             "node name (kubernetes.io/hostname label value)", m->name, m->node);
    }
    for (size_t i = 0; i < cfg->cluster.nnodes; i++) {
        snprintf(pod, sizeof(pod), "roma-worker-gpu-%.60s-0", cfg->cluster.nodes[i].name);
        if (cfg->cluster.nodes[i].ngpus > 0 &&
            (!dns_subdomain(pod) || !label_value(cfg->cluster.nodes[i].name)))
            return roma_fail(err, ROMA_INVALID_ARGUMENT, "cluster.nodes: '%s' is not a valid node "
                             "name (lower-case letters, digits, '-' and '.', up to 63)",
                             cfg->cluster.nodes[i].name);
    }
    return ROMA_OK;
}

static roma_code check_options(const serve_config *cfg, const char *ns, const char *image,
                               const char *worker_image, const k8s_render_options *opt,
                               roma_err *err) {
    char why[400];
    if (cfg->nmodels == 0)
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "the config has no models: list at least "
                         "one under models:");
    if (!serve_is_dns_label(ns))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "namespace '%s' is not a DNS label (1-63 of "
                         "a-z, 0-9 and '-', starting and ending with a letter or digit)", ns);
    if (!k8s_image_ref_valid(image, why, sizeof(why)))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "--image: %s", why);
    if (!k8s_image_ref_valid(worker_image, why, sizeof(why)))
        return roma_fail(err, ROMA_INVALID_ARGUMENT, "--worker-image: %s", why);
    if (opt->worker_secret) {
        roma_code rc = roma_secret_check("--worker-secret-file", opt->worker_secret, err);
        if (rc != ROMA_OK) return rc;
    }
    return check_names(cfg, err);
}

/* Only from a value the operator gave (render.h says why). */
static json_t *worker_secret(const char *ns, const char *value) {
    json_t *secret = object("v1", "Secret", K8S_WORKER_SECRET_NAME, ns, labels(NULL));
    json_object_set_new(secret, "type", json_string("Opaque"));
    json_object_set_new(secret, "stringData", json_pack("{s:s}", K8S_WORKER_SECRET_KEY, value));
    return secret;
}

roma_code k8s_render(const serve_config *cfg, const k8s_render_options *opt, json_t **objects,
                     roma_err *err) {
    const char *ns = opt->namespace_name ? opt->namespace_name
                     : cfg->cluster.namespace_name ? cfg->cluster.namespace_name : "roma";
    const char *image = opt->image ? opt->image : K8S_DEFAULT_IMAGE;
    const char *worker_image = opt->worker_image ? opt->worker_image : K8S_DEFAULT_WORKER_IMAGE;
    roma_code rc = check_options(cfg, ns, image, worker_image, opt, err);
    if (rc != ROMA_OK) return rc;
    json_t *out = json_array();
    json_array_append_new(out, object("v1", "Namespace", ns, NULL, labels(NULL)));
    if (opt->worker_secret) json_array_append_new(out, worker_secret(ns, opt->worker_secret));
    add_rbac(out, ns);
    json_array_append_new(out, config_map(cfg, ns));
    json_array_append_new(out, service(ns));
    json_array_append_new(out, deployment(ns, image));
    for (size_t i = 0; i < cfg->nmodels; i++)
        json_array_append_new(out, cpu_worker(cfg, &cfg->models[i], ns, worker_image));
    const serve_cluster_config *k = &cfg->cluster;
    for (size_t n = 0; n < k->nnodes; n++)
        for (size_t g = 0; g < k->nodes[n].ngpus; g++)
            json_array_append_new(out, gpu_worker(cfg, k->nodes[n].name, k->nodes[n].gpus[g], ns,
                                                  worker_image));
    for (size_t g = 0; k->nnodes == 0 && g < cfg->ngpus; g++)
        json_array_append_new(out, gpu_worker(cfg, NULL, cfg->gpus[g], ns, worker_image));
    *objects = out;
    return ROMA_OK;
}

/* ---- YAML ----------------------------------------------------------------- */

/* A string a YAML 1.1 or 1.2 reader would take for a string without
 * quotes: starts with a letter or '/', and is no boolean or null word. */
static int plain_safe(const char *s) {
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n",
                                        "null", NULL};
    if (!isalpha((unsigned char)s[0]) && s[0] != '/') return 0;
    for (int i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0) return 0;
    return 1;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, int plain, yaml_scalar_style_t style) {
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), plain, 1,
                                 style);
    return yaml_emitter_emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, const json_t *v) {
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, json_object_size(v)
                                            ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev)) return 0;
        json_object_foreach((json_t *)v, key, item) {
            if (!emit_scalar(e, key, plain_safe(key), YAML_ANY_SCALAR_STYLE) ||
                !emit_value(e, item))
                return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, json_array_size(v)
                                             ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev)) return 0;
        json_array_foreach(v, i, item) if (!emit_value(e, item)) return 0;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (strchr(s, '\n')) return emit_scalar(e, s, 0, YAML_LITERAL_SCALAR_STYLE);
        int plain = plain_safe(s);
        return emit_scalar(e, s, plain, plain ? YAML_PLAIN_SCALAR_STYLE
                                              : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(e, num, 1, YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL: /* the shortest text that reads back as the same double */
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(num, sizeof(num), "%.*g", digits, json_real_value(v));
            if (strtod(num, NULL) == json_real_value(v)) break;
        }
        return emit_scalar(e, num, 1, YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE: return emit_scalar(e, "true", 1, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE: return emit_scalar(e, "false", 1, YAML_PLAIN_SCALAR_STYLE);
    default: return emit_scalar(e, "null", 1, YAML_PLAIN_SCALAR_STYLE);
    }
}

static int emit_document(yaml_emitter_t *e, const json_t *v, int marker) {
    yaml_event_t ev;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !marker);
    if (!yaml_emitter_emit(e, &ev) || !emit_value(e, v)) return 0;
    yaml_document_end_event_initialize(&ev, 1);
    return yaml_emitter_emit(e, &ev);
}

/* Emits the documents (each element of an array, or v) through e. */
static int emit_stream(yaml_emitter_t *e, const json_t *v, int marker) {
    yaml_event_t ev;
    yaml_emitter_set_unicode(e, 1);
    yaml_emitter_set_width(e, -1); /* no folding of long strings */
    yaml_emitter_set_indent(e, 2);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(e, &ev)) return 0;
    if (json_is_array(v) && marker) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) if (!emit_document(e, item, 1)) return 0;
    } else if (!emit_document(e, v, marker)) {
        return 0;
    }
    yaml_stream_end_event_initialize(&ev);
    return yaml_emitter_emit(e, &ev) && yaml_emitter_flush(e);
}

int k8s_write_yaml(FILE *f, const json_t *value) {
    yaml_emitter_t e;
    yaml_emitter_initialize(&e);
    yaml_emitter_set_output_file(&e, f);
    int ok = emit_stream(&e, value, 1);
    yaml_emitter_delete(&e);
    return ok && fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

static int buf_write(void *data, unsigned char *bytes, size_t size) {
    roma_buf_append(data, bytes, size);
    return 1;
}

char *k8s_yaml_string(const json_t *value) {
    roma_buf b = {0};
    yaml_emitter_t e;
    yaml_emitter_initialize(&e);
    yaml_emitter_set_output(&e, buf_write, &b);
    roma_buf_reserve(&b, 1);
    emit_stream(&e, value, 0);
    yaml_emitter_delete(&e);
    return roma_buf_detach(&b, NULL);
}

/* ---- the command line ----------------------------------------------------- */

static void k8s_usage(FILE *f) {
    fprintf(f,
            "usage: roma k8s render -c roma.yaml [--image IMAGE] [--worker-image IMAGE]\n"
            "                       [--namespace NS] [--worker-secret-file FILE] [--out DIR]\n"
            "Writes the Kubernetes manifests that run roma.yaml on a cluster: namespace, RBAC,\n"
            "the control plane (roma serve) with its ConfigMap and Service, a worker pod per\n"
            "model and per GPU.  Apply them with kubectl apply -f DIR (or -f - from stdout).\n\n"
            "  -c, --config FILE     the roma.yaml (kind local is rendered as kind kubernetes)\n"
            "  --image IMAGE         the control plane's image (default " K8S_DEFAULT_IMAGE ")\n"
            "  --worker-image IMAGE  the workers' image, with TensorFlow (default "
            K8S_DEFAULT_WORKER_IMAGE ")\n"
            "  --namespace NS        the namespace (default cluster.namespace, else roma)\n"
            "  --worker-secret-file FILE  also write Secret " K8S_WORKER_SECRET_NAME " with the\n"
            "                        secret in FILE (default: the Secret is only referenced;\n"
            "                        create it once as README.md \"Kubernetes\" says)\n"
            "  --out DIR             one YAML file per object in DIR, numbered in apply order\n"
            "                        (default: one multi-document YAML stream on stdout)\n");
}

typedef struct {
    const char *config, *out, *secret_file;
    k8s_render_options opt;
    char secret[ROMA_SECRET_MAX_LEN + 1];
} render_args;

/* --name VALUE or --name=VALUE at argv[*i]: the value, or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* --worker-secret-file: its one line (trailing line end cut) into
 * a->opt.worker_secret.  0, or 2 (reported). */
static int read_secret_file(render_args *a) {
    roma_err err;
    int loose = 0;
    if (roma_secret_read_file(a->secret_file, a->secret, sizeof(a->secret), &loose, &err) != ROMA_OK)
        return fprintf(stderr, "roma k8s render: --worker-secret-file: %s\n", err.msg), 2;
    if (loose)
        fprintf(stderr, "roma k8s render: warning: %s can be read by other users: chmod 600 %s\n",
                a->secret_file, a->secret_file);
    a->opt.worker_secret = a->secret;
    return 0;
}

/* 0: parsed; 1: --help shown; 2: bad arguments (reported). */
static int parse_render_args(int argc, char **argv, render_args *a) {
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        if ((v = flag_value(argc, argv, &i, "-c", &missing)) ||
            (v = flag_value(argc, argv, &i, "--config", &missing))) a->config = v;
        else if ((v = flag_value(argc, argv, &i, "--image", &missing))) a->opt.image = v;
        else if ((v = flag_value(argc, argv, &i, "--worker-image", &missing))) a->opt.worker_image = v;
        else if ((v = flag_value(argc, argv, &i, "--namespace", &missing))) a->opt.namespace_name = v;
        else if ((v = flag_value(argc, argv, &i, "--out", &missing))) a->out = v;
        else if ((v = flag_value(argc, argv, &i, "--worker-secret-file", &missing))) a->secret_file = v;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return k8s_usage(stdout), 1;
        else if (missing) return fprintf(stderr, "roma k8s render: %s needs a value\n", argv[i]), 2;
        else return fprintf(stderr, "roma k8s render: unknown flag '%s' (see roma k8s render "
                            "--help)\n", argv[i]), 2;
    }
    if (!a->config) return fprintf(stderr, "roma k8s render: no config: pass -c roma.yaml\n"), 2;
    return a->secret_file ? read_secret_file(a) : 0;
}

/* A local config's base paths are relative to where roma serve runs (here);
 * as hostPath volumes they must be absolute. */
static int absolute_base_paths(serve_config *cfg) {
    for (size_t i = 0; cfg->cluster.kind == SERVE_CLUSTER_LOCAL && i < cfg->nmodels; i++) {
        char *abs = realpath(cfg->models[i].base_path, NULL);
        if (!abs) {
            fprintf(stderr, "roma k8s render: model '%s': base_path '%s': %s\n",
                    cfg->models[i].name, cfg->models[i].base_path, strerror(errno));
            return 2;
        }
        free(cfg->models[i].base_path);
        cfg->models[i].base_path = abs;
    }
    return 0;
}

static int write_files(const char *dir, const json_t *objects) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "roma k8s render: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(objects, i, obj) {
        char kind[64], path[PATH_MAX];
        k8s_model_object_name(json_string_value(json_object_get(obj, "kind")), kind, sizeof(kind));
        snprintf(path, sizeof(path), "%s/%02zu-%s-%s.yaml", dir, i, kind,
                 json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
        FILE *f = fopen(path, "w");
        int bad = !f || k8s_write_yaml(f, obj) != 0;
        if (f && fclose(f) != 0) bad = 1;
        if (bad) {
            fprintf(stderr, "roma k8s render: cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    fprintf(stderr, "roma k8s render: wrote %zu objects to %s (kubectl apply -f %s)\n",
            json_array_size(objects), dir, dir);
    return 0;
}

static int render_main(int argc, char **argv) {
    render_args a = {0};
    int rc = parse_render_args(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    serve_config cfg;
    roma_err err;
    json_t *objects = NULL;
    if (serve_config_load(a.config, &cfg, &err) != ROMA_OK) {
        fprintf(stderr, "roma k8s render: %s\n", err.msg);
        return 2;
    }
    rc = absolute_base_paths(&cfg);
    if (rc == 0 && k8s_render(&cfg, &a.opt, &objects, &err) != ROMA_OK) {
        fprintf(stderr, "roma k8s render: %s\n", err.msg);
        rc = 2;
    }
    serve_config_free(&cfg);
    if (rc) return rc;
    if (a.out) rc = write_files(a.out, objects);
    else if (k8s_write_yaml(stdout, objects) != 0) {
        fprintf(stderr, "roma k8s render: cannot write stdout: %s\n", strerror(errno));
        rc = 1;
    }
    json_decref(objects);
    return rc;
}

int k8s_main(int argc, char **argv) {
    if (argc >= 1 && strcmp(argv[0], "render") == 0) return render_main(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
                      strcmp(argv[0], "help") == 0)) {
        k8s_usage(stdout);
        return 0;
    }
    if (argc >= 1) fprintf(stderr, "roma k8s: unknown command '%s'\n", argv[0]);
    k8s_usage(stderr);
    return 2;
}

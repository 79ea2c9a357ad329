/* test_k8s_render.c - `roma k8s render`'s manifests (src/k8s/render.h).
 *
 * Configs are parsed from text (kind kubernetes, so no base path must
 * exist here) and rendered; the objects are read back as JSON and checked
 * against the contract with roma serve's cluster mode: names, labels, the
 * worker's command, CPU requests = limits = cores.initial, resizePolicy,
 * probes, GPU limits, nodeSelector, security contexts, and RBAC rules that
 * are exactly pods get/list/watch and pods/resize patch; the worker secret
 * (env from Secret roma-worker-secret on the control plane and every
 * worker, the Secret object itself only when its value is given).  Then the pure
 * helpers (image references, quantities, names) and the YAML writer.
 */
#include "unit.h"

#include <yaml.h>

#include "k8s/render.h"
#include "serve/config.h"

#define TWO_NODES                                                                           \
    "node: {cpus: 4}\n"                                                                     \
    "cluster:\n"                                                                            \
    "  kind: kubernetes\n"                                                                  \
    "  namespace: ml\n"                                                                     \
    "  worker_port: 9000\n"                                                                 \
    "  models_volume: {claim: models}\n"                                                    \
    "  nodes:\n"                                                                            \
    "    - {name: node-a, cpus: 6, gpus: [0, 1]}\n"                                         \
    "    - {name: node-b, cpus: 3}\n"                                                       \
    "models:\n"                                                                             \
    "  - {name: ResNet_v2, base_path: /m/a, sla: 0.2, node: node-a,\n"                      \
    "     cores: {min: 1, max: 2.5, initial: 1.5}}\n"                                       \
    "  - {name: mlp, base_path: /m/b, sla: 0.05, cores: {min: 0.1, max: 1, initial: 0.25}}\n"

static serve_config parse(const char *yaml) {
    serve_config c;
    roma_err err = {0};
    if (serve_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err) != ROMA_OK)
        fail_msg("config does not parse: %s", err.msg);
    return c;
}

static json_t *render_ok(const char *yaml, const k8s_render_options *opt) {
    serve_config c = parse(yaml);
    roma_err err = {0};
    json_t *objects = NULL;
    roma_code rc = k8s_render(&c, opt, &objects, &err);
    serve_config_free(&c);
    if (rc != ROMA_OK) fail_msg("render failed: %s", err.msg);
    return objects;
}

/* v["k1"]["k2"]... (NULL-terminated keys); NULL when any is missing. */
static json_t *at(json_t *v, ...) {
    va_list ap;
    va_start(ap, v);
    for (const char *k; v && (k = va_arg(ap, const char *));) v = json_object_get(v, k);
    va_end(ap);
    return v;
}

static const char *str_at(json_t *v, const char *k1, const char *k2, const char *k3) {
    return json_string_value(at(v, k1, k2, k3, NULL));
}

/* The object of that kind and name. */
static json_t *find(json_t *objects, const char *kind, const char *name) {
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o) {
        if (strcmp(str_at(o, "kind", NULL, NULL), kind) == 0 &&
            strcmp(str_at(o, "metadata", "name", NULL), name) == 0)
            return o;
    }
    fail_msg("no %s %s in the manifests", kind, name);
    return NULL;
}

static json_t *container(json_t *pod) {
    return json_array_get(at(pod, "spec", "containers", NULL), 0);
}

/* The command line has arg exactly once. */
static void check_arg(json_t *c, const char *arg) {
    size_t i, n = 0;
    json_t *a;
    json_array_foreach(at(c, "command", NULL), i, a) n += strcmp(json_string_value(a), arg) == 0;
    if (n != 1) fail_msg("the command has '%s' %zu times, expected once", arg, n);
}

/* v's JSON text equals want (by value). */
static void check_value(const char *name, json_t *v, const char *want) {
    char *got = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    check_json_equal(name, got, want);
    free(got);
}

static void check_security(json_t *pod) {
    json_t *psc = at(pod, "spec", "securityContext", NULL), *c = container(pod);
    assert_true(json_is_true(at(psc, "runAsNonRoot", NULL)));
    assert_int_equal(json_integer_value(at(psc, "runAsUser", NULL)), K8S_UID);
    assert_string_equal(str_at(psc, "seccompProfile", "type", NULL), "RuntimeDefault");
    json_t *sc = at(c, "securityContext", NULL);
    assert_true(json_is_false(at(sc, "allowPrivilegeEscalation", NULL)));
    assert_true(json_is_true(at(sc, "readOnlyRootFilesystem", NULL)));
    check_value("drop", at(sc, "capabilities", "drop", NULL), "[\"ALL\"]");
}

static void test_objects_in_apply_order(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){0});
    static const char *const kinds[] = {"Namespace", "ServiceAccount", "Role", "RoleBinding",
                                        "ConfigMap", "Service", "Deployment", "Pod", "Pod",
                                        "Pod", "Pod"};
    assert_int_equal(json_array_size(o), ARRAY_LEN(kinds));
    for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
        json_t *obj = json_array_get(o, i);
        CASE_CHECK_STR(kinds[i], str_at(obj, "kind", NULL, NULL), kinds[i]);
        CASE_CHECK_STR(kinds[i], str_at(obj, "metadata", "labels", "app.kubernetes.io/name"), "roma");
        CASE_CHECK_STR(kinds[i], str_at(obj, "metadata", "labels", "app.kubernetes.io/part-of"), "roma");
        if (i > 0) CASE_CHECK_STR(kinds[i], str_at(obj, "metadata", "namespace", NULL), "ml");
    }
    assert_string_equal(str_at(json_array_get(o, 0), "metadata", "name", NULL), "ml");
    json_decref(o);
}

static void test_rbac_exactly_the_list(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){0});
    check_value("rules", at(find(o, "Role", "roma"), "rules", NULL),
                     "[{\"apiGroups\": [\"\"], \"resources\": [\"pods\"], "
                     "\"verbs\": [\"get\", \"list\", \"watch\"]},"
                     " {\"apiGroups\": [\"\"], \"resources\": [\"pods/resize\"], "
                     "\"verbs\": [\"patch\"]}]");
    json_t *rb = find(o, "RoleBinding", "roma");
    assert_string_equal(str_at(rb, "roleRef", "kind", NULL), "Role");
    assert_string_equal(str_at(rb, "roleRef", "name", NULL), "roma");
    check_value("subjects", at(rb, "subjects", NULL),
                "[{\"kind\": \"ServiceAccount\", \"name\": \"roma\", \"namespace\": \"ml\"}]");
    json_decref(o);
}

static void test_cpu_worker(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){.worker_image = "reg.io/roma-worker:1"});
    json_t *pod = find(o, "Pod", "roma-worker-resnet-v2"), *c = container(pod);
    assert_string_equal(str_at(pod, "metadata", "labels", "app.kubernetes.io/component"), "worker");
    assert_string_equal(str_at(pod, "metadata", "labels", "roma.io/role"), "cpu-worker");
    assert_string_equal(str_at(pod, "metadata", "labels", "roma.io/model"), "ResNet_v2");
    assert_string_equal(str_at(pod, "metadata", "annotations", "roma.io/model"), "ResNet_v2");
    assert_string_equal(str_at(pod, "metadata", "annotations", "roma.io/resized-by"), "roma");
    check_contains("vpa", str_at(pod, "metadata", "annotations", "roma.io/no-vertical-pod-autoscaler"),
                   "Vertical Pod Autoscaler");
    assert_string_equal(str_at(c, "name", NULL, NULL), "worker");
    assert_string_equal(str_at(c, "image", NULL, NULL), "reg.io/roma-worker:1");
    assert_string_equal(json_string_value(json_array_get(at(c, "command", NULL), 0)), "roma");
    assert_string_equal(json_string_value(json_array_get(at(c, "command", NULL), 1)), "worker");
    static const char *const args[] = {
        "--rest_api_port=9000", "--rest_api_host=0.0.0.0", "--model_name=ResNet_v2",
        "--model_base_path=/models/ResNet_v2", "--tensorflow_intra_op_parallelism=3",
        "--tensorflow_inter_op_parallelism=3", "--tensorflow_thread_spinning=0",
        "--rest_api_num_threads=3"};
    for (size_t i = 0; i < ARRAY_LEN(args); i++) check_arg(c, args[i]);
    assert_int_equal(json_array_size(at(c, "command", NULL)), 2 + ARRAY_LEN(args));
    check_value("resources", at(c, "resources", NULL), "{\"requests\": {\"cpu\": \"1500m\", \"memory\": \"2Gi\"}, "
                                       "\"limits\": {\"cpu\": \"1500m\", \"memory\": \"2Gi\"}}");
    check_value("resizePolicy", at(c, "resizePolicy", NULL),
                     "[{\"resourceName\": \"cpu\", \"restartPolicy\": \"NotRequired\"}, "
                     "{\"resourceName\": \"memory\", \"restartPolicy\": \"RestartContainer\"}]");
    json_t *port = json_array_get(at(c, "ports", NULL), 0);
    assert_string_equal(str_at(port, "name", NULL, NULL), "http");
    assert_int_equal(json_integer_value(at(port, "containerPort", NULL)), 9000);
    static const char *const probes[] = {"readinessProbe", "livenessProbe"};
    for (size_t i = 0; i < ARRAY_LEN(probes); i++) {
        CASE_CHECK_STR(probes[i], str_at(c, probes[i], "httpGet", "path"), "/v1/models/ResNet_v2");
        CASE_CHECK_STR(probes[i], str_at(c, probes[i], "httpGet", "port"), "http");
    }
    assert_string_equal(str_at(pod, "spec", "nodeSelector", "kubernetes.io/hostname"), "node-a");
    assert_null(at(find(o, "Pod", "roma-worker-mlp"), "spec", "nodeSelector", NULL));
    check_value("mlp resources", at(container(find(o, "Pod", "roma-worker-mlp")), "resources", NULL),
                "{\"requests\": {\"cpu\": \"250m\", \"memory\": \"2Gi\"}, "
                "\"limits\": {\"cpu\": \"250m\", \"memory\": \"2Gi\"}}");
    json_t *vol = json_array_get(at(pod, "spec", "volumes", NULL), 0);
    assert_string_equal(str_at(vol, "persistentVolumeClaim", "claimName", NULL), "models");
    json_t *mount = json_array_get(at(c, "volumeMounts", NULL), 0);
    assert_string_equal(str_at(mount, "mountPath", NULL, NULL), "/models");
    assert_true(json_is_true(at(mount, "readOnly", NULL)));
    assert_true(json_is_false(at(pod, "spec", "automountServiceAccountToken", NULL)));
    check_security(pod);
    json_decref(o);
}

static void test_gpu_workers(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){0});
    for (int g = 0; g < 2; g++) {
        char name[64], index[16];
        snprintf(name, sizeof(name), "roma-worker-gpu-node-a-%d", g);
        snprintf(index, sizeof(index), "%d", g);
        json_t *pod = find(o, "Pod", name), *c = container(pod);
        CASE_CHECK_STR(name, str_at(pod, "metadata", "labels", "roma.io/role"), "gpu-worker");
        CASE_CHECK_STR(name, str_at(pod, "metadata", "labels", "roma.io/gpu"), index);
        CASE_CHECK_STR(name, str_at(pod, "metadata", "labels", "app.kubernetes.io/component"), "worker");
        CASE_CHECK_STR(name, str_at(c, "resources", "limits", "nvidia.com/gpu"), "1");
        CASE_CHECK_STR(name, str_at(pod, "spec", "nodeSelector", "kubernetes.io/hostname"), "node-a");
        CASE_CHECK_STR(name, str_at(c, "readinessProbe", "httpGet", "path"), "/v1/models/ResNet_v2");
        check_arg(c, "--model_config_file=/etc/roma/models.config");
        check_arg(c, "--rest_api_port=9000");
        check_security(pod);
    }
    const char *models = str_at(find(o, "ConfigMap", "roma-config"), "data", "models.config", NULL);
    check_contains("models.config", models,
                   "config { name: \"ResNet_v2\" base_path: \"/models/ResNet_v2\" "
                   "model_platform: \"tensorflow\" }");
    check_contains("models.config", models, "name: \"mlp\" base_path: \"/models/mlp\"");
    json_decref(o);
}

/* env[name] of container c, or NULL. */
static json_t *env_var(json_t *c, const char *name) {
    size_t i;
    json_t *e;
    json_array_foreach(at(c, "env", NULL), i, e) {
        if (strcmp(str_at(e, "name", NULL, NULL), name) == 0) return e;
    }
    return NULL;
}

#define SECRET_REF                                                                          \
    "{\"name\": \"ROMA_WORKER_SECRET\", \"valueFrom\": {\"secretKeyRef\": "                \
    "{\"name\": \"roma-worker-secret\", \"key\": \"secret\", \"optional\": false}}}"

/* roma serve and every worker pod read the same Secret; workers open their
 * status to the kubelet's probes; no Secret object unless given. */
static void test_worker_secret_refs(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){0});
    json_t *tmpl = at(find(o, "Deployment", "roma"), "spec", "template", NULL);
    check_value("control plane", env_var(container(tmpl), "ROMA_WORKER_SECRET"), SECRET_REF);
    static const char *const workers[] = {"roma-worker-resnet-v2", "roma-worker-mlp",
                                          "roma-worker-gpu-node-a-0", "roma-worker-gpu-node-a-1"};
    for (size_t i = 0; i < ARRAY_LEN(workers); i++) {
        json_t *c = container(find(o, "Pod", workers[i]));
        check_value(workers[i], env_var(c, "ROMA_WORKER_SECRET"), SECRET_REF);
        check_value(workers[i], env_var(c, "ROMA_WORKER_OPEN_STATUS"),
                    "{\"name\": \"ROMA_WORKER_OPEN_STATUS\", \"value\": \"1\"}");
        /* the value is never written in a pod spec */
        CASE_CHECK(workers[i], !at(env_var(c, "ROMA_WORKER_SECRET"), "value", NULL));
    }
    size_t i;
    json_t *obj;
    json_array_foreach(o, i, obj) CASE_CHECK(str_at(obj, "metadata", "name", NULL),
                                             strcmp(str_at(obj, "kind", NULL, NULL), "Secret") != 0);
    json_decref(o);
}

static void test_worker_secret_object(void **state) {
    const char *value = "0123456789abcdef0123456789abcdef";
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){.worker_secret = value});
    assert_int_equal(json_array_size(o), 12); /* test_objects_in_apply_order's 11, and this */
    json_t *secret = json_array_get(o, 1);    /* right after the Namespace, before any pod */
    assert_string_equal(str_at(secret, "kind", NULL, NULL), "Secret");
    assert_string_equal(str_at(secret, "metadata", "name", NULL), "roma-worker-secret");
    assert_string_equal(str_at(secret, "metadata", "namespace", NULL), "ml");
    assert_string_equal(str_at(secret, "metadata", "labels", "app.kubernetes.io/name"), "roma");
    assert_string_equal(str_at(secret, "type", NULL, NULL), "Opaque");
    check_value("stringData", at(secret, "stringData", NULL),
                "{\"secret\": \"0123456789abcdef0123456789abcdef\"}");
    /* the value is in the Secret only */
    char *text = json_dumps(o, 0);
    const char *first = strstr(text, value);
    assert_non_null(first);
    assert_null(strstr(first + 1, value));
    free(text);
    json_decref(o);
}

/* The single-node form: node.gpus, per-model hostPaths at the base paths. */
static void test_single_node_host_paths(void **state) {
    const char *yaml = "node: {cpus: 2, gpus: [3]}\ncluster: {kind: kubernetes}\nmodels:\n"
                       "  - {name: a.b, base_path: /srv/models/a, sla: 0.2}\n";
    json_t *o = render_ok(yaml, &(k8s_render_options){.namespace_name = "other"});
    json_t *pod = find(o, "Pod", "roma-worker-a-b");
    assert_string_equal(str_at(pod, "metadata", "namespace", NULL), "other");
    json_t *vol = json_array_get(at(pod, "spec", "volumes", NULL), 0);
    assert_string_equal(str_at(vol, "hostPath", "path", NULL), "/srv/models/a");
    json_t *mount = json_array_get(at(container(pod), "volumeMounts", NULL), 0);
    assert_string_equal(str_at(mount, "mountPath", NULL, NULL), "/models/a.b");
    json_t *gpu = find(o, "Pod", "roma-worker-gpu-3");
    assert_null(at(gpu, "spec", "nodeSelector", NULL));
    assert_string_equal(str_at(gpu, "metadata", "labels", "roma.io/gpu"), "3");
    json_decref(o);
}

/* The control plane reads back the config it is given: kind kubernetes,
 * the namespace, the same models. */
static void test_config_map_round_trip(void **state) {
    json_t *o = render_ok(TWO_NODES, &(k8s_render_options){.namespace_name = "prod"});
    const char *text = str_at(find(o, "ConfigMap", "roma-config"), "data", "roma.yaml", NULL);
    serve_config c = parse(text);
    assert_int_equal(c.cluster.kind, SERVE_CLUSTER_KUBERNETES);
    assert_string_equal(c.cluster.namespace_name, "prod");
    assert_int_equal(c.cluster.worker_port, 9000);
    assert_string_equal(c.cluster.models_claim, "models");
    assert_int_equal(c.cluster.nnodes, 2);
    assert_int_equal(c.cluster.nodes[0].ngpus, 2);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.nmodels, 2);
    assert_string_equal(c.models[0].name, "ResNet_v2");
    assert_string_equal(c.models[0].node, "node-a");
    CHECK_NEAR("initial", c.models[0].cores_initial, 1.5);
    CHECK_NEAR("sla", c.models[1].sla, 0.05);
    serve_config_free(&c);
    json_t *dep = find(o, "Deployment", "roma"), *tmpl = at(dep, "spec", "template", NULL);
    check_value("command", at(container(tmpl), "command", NULL),
                "[\"roma\", \"serve\", \"-c\", \"/etc/roma/roma.yaml\"]");
    assert_string_equal(str_at(tmpl, "spec", "serviceAccountName", NULL), "roma");
    assert_int_equal(json_integer_value(at(dep, "spec", "replicas", NULL)), 1);
    check_security(tmpl);
    json_t *svc_port = json_array_get(at(find(o, "Service", "roma"), "spec", "ports", NULL), 0);
    assert_int_equal(json_integer_value(at(svc_port, "port", NULL)), 8501);
    assert_string_equal(str_at(svc_port, "name", NULL, NULL), "http");
    json_decref(o);
}

typedef struct {
    const char *name;
    const char *yaml;
    k8s_render_options opt;
    const char *want;
} bad_case;

static void test_bad_input(void **state) {
    static const bad_case cases[] = {
        {"namespace", TWO_NODES, {.namespace_name = "Bad_NS"}, "not a DNS label"},
        {"image", TWO_NODES, {.image = "Roma:latest"}, "--image: image 'Roma:latest'"},
        {"worker image", TWO_NODES, {.worker_image = "roma:"}, "--worker-image"},
        {"relative hostPath", "cluster: {kind: kubernetes}\nmodels:\n"
                              "  - {name: a, base_path: models/a, sla: 0.2}\n",
         {0}, "base_path 'models/a' is relative"},
        {"same pod name", "cluster: {kind: kubernetes, models_volume: {claim: m}}\nmodels:\n"
                          "  - {name: a_b, base_path: /a, sla: 0.2}\n"
                          "  - {name: a.b, base_path: /b, sla: 0.2}\n",
         {0}, "would both be pod roma-worker-a-b"},
        {"model name edge", "cluster: {kind: kubernetes, models_volume: {claim: m}}\nmodels:\n"
                            "  - {name: a_, base_path: /a, sla: 0.2}\n",
         {0}, "start and end with a letter or digit"},
        {"short secret", TWO_NODES, {.worker_secret = "abc"},
         "--worker-secret-file holds 3 characters; a secret has 16 to 256"},
        {"secret with a line end", TWO_NODES, {.worker_secret = "0123456789abcdef\n"},
         "--worker-secret-file: a secret is printable characters without spaces"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        serve_config c = parse(cases[i].yaml);
        roma_err err = {0};
        json_t *objects = NULL;
        CASE_CHECK_INT(cases[i].name, k8s_render(&c, &cases[i].opt, &objects, &err),
                       ROMA_INVALID_ARGUMENT);
        CASE_CHECK(cases[i].name, objects == NULL);
        check_contains(cases[i].name, err.msg, cases[i].want);
        serve_config_free(&c);
    }
    serve_config c = parse(TWO_NODES); /* no models: the parser refuses it; a caller may not */
    size_t n = c.nmodels;
    c.nmodels = 0;
    roma_err err = {0};
    json_t *objects = NULL;
    assert_int_equal(k8s_render(&c, &(k8s_render_options){0}, &objects, &err), ROMA_INVALID_ARGUMENT);
    check_contains("no models", err.msg, "no models");
    c.nmodels = n;
    serve_config_free(&c);
}

static void test_image_refs(void **state) {
    static const struct {
        const char *ref;
        int ok;
    } cases[] = {
        {"roma", 1}, {"roma:latest", 1}, {"localhost/roma:0.1.0", 1},
        {"registry.example.com:5000/team/roma:0.1.0", 1}, {"docker.io/library/roma", 1},
        {"a/b__c/d-e--f.g", 1}, {"Registry.Example.com/roma", 1},
        {"roma@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1},
        {"roma:1@sha256:0123456789abcdef0123456789abcdef", 1},
        {"", 0}, {"Roma", 0}, {"roma:", 0}, {"roma:-x", 0}, {"roma:a b", 0}, {"/roma", 0},
        {"roma/", 0}, {"a//b", 0}, {"roma@sha256:abc", 0}, {"roma@:0123456789abcdef0123456789abcdef", 0},
        {"registry:port/roma", 0}, {"-reg.io/roma", 0}, {"roma..x", 0}, {"roma_", 0},
        {"roma:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char why[400] = "";
        CASE_CHECK_INT(cases[i].ref, k8s_image_ref_valid(cases[i].ref, why, sizeof(why)), cases[i].ok);
        if (!cases[i].ok) check_message(cases[i].ref, why);
    }
}

static void test_quantities_and_names(void **state) {
    static const struct {
        double cores;
        const char *want;
    } q[] = {{1, "1"}, {2, "2"}, {1.5, "1500m"}, {0.25, "250m"}, {0.01, "10m"}, {2.0004, "2"},
             {0.3333, "333m"}};
    for (size_t i = 0; i < ARRAY_LEN(q); i++) {
        char out[32];
        k8s_cpu_quantity(q[i].cores, out, sizeof(out));
        CASE_CHECK_STR(q[i].want, out, q[i].want);
    }
    char name[64];
    k8s_model_object_name("ResNet_v2.b", name, sizeof(name));
    assert_string_equal(name, "resnet-v2-b");
}

/* Strings a YAML reader would take for numbers, booleans or null are
 * quoted; the text reads back as the same strings. */
static void test_yaml_quoting(void **state) {
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:[], s:{}}", "a", "1",
                          "b", "true", "c", "yes", "d", "1500m", "e", "plain", "f", 7, "g", 1,
                          "h", "two\nlines\n", "i", "j");
    char *y = k8s_yaml_string(v);
    check_contains("1", y, "a: \"1\"\n");
    check_contains("true", y, "b: \"true\"\n");
    check_contains("yes", y, "c: \"yes\"\n");
    check_contains("1500m", y, "d: \"1500m\"\n");
    check_contains("plain", y, "e: plain\n");
    check_contains("int", y, "f: 7\n");
    check_contains("bool", y, "g: true\n");
    check_contains("literal", y, "h: |\n  two\n  lines\n");
    check_contains("empty", y, "i: []\n");
    check_contains("empty map", y, "j: {}\n");
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)y, strlen(y));
    assert_true(yaml_parser_load(&p, &doc));
    assert_non_null(yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    free(y);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_in_apply_order), cmocka_unit_test(test_rbac_exactly_the_list),
        cmocka_unit_test(test_cpu_worker),             cmocka_unit_test(test_gpu_workers),
        cmocka_unit_test(test_worker_secret_refs),     cmocka_unit_test(test_worker_secret_object),
        cmocka_unit_test(test_single_node_host_paths), cmocka_unit_test(test_config_map_round_trip),
        cmocka_unit_test(test_bad_input),              cmocka_unit_test(test_image_refs),
        cmocka_unit_test(test_quantities_and_names),   cmocka_unit_test(test_yaml_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

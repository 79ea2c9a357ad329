"""`roma k8s render` as a user runs it: the manifests for examples/roma.yaml
(kind local, rendered with the defaults) and examples/roma-k8s.yaml (two
nodes, GPUs on one, a models claim) validate against the Kubernetes 1.35
schemas (kubernetes-validate, strict: no unknown field), the RBAC grants
nothing beyond pods get/list/watch and pods/resize patch, the worker pods
follow the contract with roma serve, the control plane and every worker
read the worker secret from Secret roma-worker-secret (rendered only from
--worker-secret-file), and every bad input is refused with a clear message
and exit code 2.

Environment: ROMA_BIN, the roma binary (default <project>/build/roma).
"""
import copy
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROMA = Path(os.environ.get("ROMA_BIN", ROOT / "build" / "roma"))
K8S_VERSION = "1.35.0"
CONFIGS = [ROOT / "examples" / "roma.yaml", ROOT / "examples" / "roma-k8s.yaml"]
ALLOWED_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
]


def render(*args, cwd=ROOT):
    return subprocess.run([str(ROMA), "k8s", "render", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def objects_of(config, *args):
    r = render("-c", config, *args)
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d is not None]
    assert docs, "no objects rendered"
    return docs


def config_of(objects):
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    return yaml.safe_load(cm["data"]["roma.yaml"])


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda p: p.name)
def rendered(request):
    if not ROMA.exists():
        pytest.fail(f"{ROMA} not found: run make", pytrace=False)
    return request.param, objects_of(request.param)


def test_every_object_validates_against_1_35(rendered):
    _, objects = rendered
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_validator_is_strict():
    """A field the schema does not have, or a wrong type, fails: the check
    above is not vacuous."""
    objects = objects_of(CONFIGS[1])
    pod = copy.deepcopy(next(o for o in objects if o["kind"] == "Pod"))
    pod["spec"]["containers"][0]["resizePolicyX"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    pod = copy.deepcopy(next(o for o in objects if o["kind"] == "Pod"))
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_rbac_grants_nothing_beyond_the_list(rendered):
    _, objects = rendered
    kinds = [o["kind"] for o in objects]
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    roles = [o for o in objects if o["kind"] == "Role"]
    assert len(roles) == 1
    rules = roles[0]["rules"]
    for rule in rules:  # no wildcard, no other group, resource or verb, no names/URLs
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    allowed = {(g, r, v) for rule in ALLOWED_RULES for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    assert granted == allowed
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "roma"}
    ns = objects[0]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "roma", "namespace": ns}]


def test_objects_follow_the_contract(rendered):
    config, objects = rendered
    source = yaml.safe_load(config.read_text())
    assert objects[0]["kind"] == "Namespace"
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "roma"
        assert labels["app.kubernetes.io/part-of"] == "roma"
    pods = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Pod"}
    for model in source["models"]:
        pod = pods[f"roma-worker-{model['name']}"]
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["labels"]["app.kubernetes.io/component"] == "worker"
        assert meta["labels"]["roma.io/role"] == "cpu-worker"
        assert meta["labels"]["roma.io/model"] == model["name"]
        assert "Vertical Pod Autoscaler" in " ".join(meta["annotations"].values())
        c = spec["containers"][0]
        assert c["name"] == "worker"
        assert c["command"][:2] == ["roma", "worker"]
        assert f"--model_base_path=/models/{model['name']}" in c["command"]
        assert c["resources"]["requests"] == c["resources"]["limits"]
        cores = model["cores"]["initial"]
        want = str(int(cores)) if cores == int(cores) else f"{round(cores * 1000)}m"
        assert c["resources"]["requests"]["cpu"] == want
        assert {"resourceName": "cpu", "restartPolicy": "NotRequired"} in c["resizePolicy"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": f"/v1/models/{model['name']}", "port": "http"}
        if "node" in model:
            assert spec["nodeSelector"] == {"kubernetes.io/hostname": model["node"]}
    for obj in objects:  # every pod template: non-root, read-only root, no capabilities
        spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj.get("spec")
        if obj["kind"] not in ("Pod", "Deployment"):
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
    assert config_of(objects)["cluster"]["kind"] == "kubernetes"


SECRET_REF = {"name": "ROMA_WORKER_SECRET",
              "valueFrom": {"secretKeyRef": {"name": "roma-worker-secret", "key": "secret",
                                             "optional": False}}}


def containers_of(objects):
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield obj, obj["spec"]["template"]["spec"]["containers"][0]
        elif obj["kind"] == "Pod":
            yield obj, obj["spec"]["containers"][0]


def test_worker_secret_is_referenced_not_written(rendered):
    """roma serve and every worker take ROMA_WORKER_SECRET from the same Secret; the
    workers open their model status to the kubelet's probes; by default no Secret object
    (a pure render cannot draw one)."""
    _, objects = rendered
    assert "Secret" not in [o["kind"] for o in objects]
    seen = set()
    for obj, c in containers_of(objects):
        env = {e["name"]: e for e in c["env"]}
        assert env["ROMA_WORKER_SECRET"] == SECRET_REF, obj["metadata"]["name"]
        seen.add(obj["kind"])
        if obj["kind"] == "Pod":
            assert env["ROMA_WORKER_OPEN_STATUS"] == {"name": "ROMA_WORKER_OPEN_STATUS", "value": "1"}
    assert seen == {"Deployment", "Pod"}


def test_worker_secret_file_renders_the_secret(tmp_path):
    value = "9f" * 32
    secret_file = tmp_path / "worker-secret"
    secret_file.write_text(value + "\n")
    secret_file.chmod(0o600)
    plain = objects_of(CONFIGS[1])
    objects = objects_of(CONFIGS[1], "--worker-secret-file", secret_file)
    secret = objects[1]   # before anything that reads it
    assert secret == {"apiVersion": "v1", "kind": "Secret",
                      "metadata": {"name": "roma-worker-secret", "namespace": objects[0]["metadata"]["name"],
                                   "labels": {"app.kubernetes.io/name": "roma",
                                              "app.kubernetes.io/part-of": "roma"}},
                      "type": "Opaque", "stringData": {"secret": value}}
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    assert objects[:1] + objects[2:] == plain   # nothing else changes, the Role included
    role = next(o for o in objects if o["kind"] == "Role")
    assert role["rules"] == ALLOWED_RULES
    r = render("-c", CONFIGS[1], "--worker-secret-file", secret_file, "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir())[1] == "01-secret-roma-worker-secret.yaml"
    assert "can be read by other users" not in r.stderr
    secret_file.chmod(0o644)
    r = render("-c", CONFIGS[1], "--worker-secret-file", secret_file)
    assert r.returncode == 0 and "can be read by other users: chmod 600" in r.stderr


@pytest.mark.parametrize("text, message", [
    ("short\n", "holds 5 characters"),
    ("0123456789 abcdef0123\n", "without spaces"),
])
def test_bad_worker_secret_file(tmp_path, text, message):
    secret_file = tmp_path / "worker-secret"
    secret_file.write_text(text)
    r = render("-c", CONFIGS[1], "--worker-secret-file", secret_file)
    assert r.returncode == 2 and message in r.stderr and r.stdout == "", r


def test_local_config_serves_base_paths_as_host_paths():
    objects = objects_of(CONFIGS[0])
    pod = next(o for o in objects if o["metadata"]["name"] == "roma-worker-resnet")
    volume = pod["spec"]["volumes"][0]
    assert volume["hostPath"]["path"] == os.path.realpath(ROOT / "models" / "resnet")
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "/models/resnet"


def test_control_period_default_is_the_clusters(tmp_path):
    """A local roma.yaml without control.period runs every 0.25 s on one node;
    rendered for a cluster it gets the cluster's 1 s (each change is a PATCH),
    while a period the operator wrote is kept."""
    assert "period" not in yaml.safe_load(CONFIGS[0].read_text())["control"]
    assert config_of(objects_of(CONFIGS[0]))["control"]["period"] == 1
    text = CONFIGS[0].read_text().replace("control: {controller:", "control: {period: 3s, controller:")
    (tmp_path / "roma.yaml").write_text(text)
    assert config_of(objects_of(tmp_path / "roma.yaml"))["control"]["period"] == 3


def test_two_node_gpu_config():
    objects = objects_of(CONFIGS[1])
    gpu = sorted(o["metadata"]["name"] for o in objects
                 if o["kind"] == "Pod" and o["metadata"]["labels"]["roma.io/role"] == "gpu-worker")
    assert gpu == ["roma-worker-gpu-node-b-0", "roma-worker-gpu-node-b-1"]
    for name in gpu:
        pod = next(o for o in objects if o["metadata"]["name"] == name)
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "node-b"}
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    assert 'base_path: "/models/resnet"' in cm["data"]["models.config"]
    claims = {v["persistentVolumeClaim"]["claimName"] for o in objects if o["kind"] == "Pod"
              for v in o["spec"]["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"roma-models"}


def test_out_dir_holds_the_same_objects_in_apply_order(tmp_path):
    r = render("-c", CONFIGS[1], "--out", tmp_path / "m", "--namespace", "prod",
               "--image", "registry.example.com:5000/roma:0.1.0")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "m").iterdir())
    objects = [yaml.safe_load(f.read_text()) for f in files]
    assert [o["kind"] for o in objects[:4]] == ["Namespace", "ServiceAccount", "Role",
                                                "RoleBinding"]
    assert files[0].name == "00-namespace-prod.yaml"
    assert all(o["metadata"].get("namespace", "prod") == "prod" for o in objects)
    assert objects == objects_of(CONFIGS[1], "--namespace", "prod",
                                 "--image", "registry.example.com:5000/roma:0.1.0")
    dep = next(o for o in objects if o["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example.com:5000/roma:0.1.0"
    assert config_of(objects)["cluster"]["namespace"] == "prod"


NO_MODELS = "node: {cpus: 2}\nmodels: []\n"


@pytest.mark.parametrize("args, config_text, message", [
    (["--image", "Roma:Latest"], None, "--image: image 'Roma:Latest'"),
    (["--image", "roma:"], None, "a tag is 1-128"),
    (["--worker-image", "reg.io/roma@sha256:xyz"], None, "the digest after '@'"),
    (["--namespace", "Bad_NS"], None, "namespace 'Bad_NS' is not a DNS label"),
    (["--namespace", "a" * 64], None, "is not a DNS label"),
    (["--bogus"], None, "unknown flag '--bogus'"),
    (["--image"], None, "--image needs a value"),
    (["--worker-secret-file", "/nonexistent/roma-secret"], None,
     "--worker-secret-file: cannot read token file '/nonexistent/roma-secret'"),
    ([], NO_MODELS, "models must be a non-empty list"),
    ([], "cluster: {kind: kubernetes, namespace: Prod}\nmodels: []\n", "not a DNS label"),
])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, config_text, message):
    config = CONFIGS[1]
    if config_text is not None:
        config = tmp_path / "roma.yaml"
        config.write_text(config_text)
    r = render("-c", config, *args)
    assert r.returncode == 2, r
    assert message in r.stderr
    assert r.stdout == ""


def test_missing_config_and_help():
    r = subprocess.run([str(ROMA), "k8s", "render"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "pass -c roma.yaml" in r.stderr
    r = subprocess.run([str(ROMA), "k8s", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "roma k8s render -c roma.yaml" in r.stdout
    r = subprocess.run([str(ROMA), "k8s", "deploy"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown command 'deploy'" in r.stderr

"""The project's own generated models in models/ (mlp, resnet, mobilenet).

Each folder holds numeric version directories and a request.json (a TF Serving
predict body). mlp: x float32 [batch, 8] -> y; resnet/mobilenet: image float32
[batch, H, W, 3] -> probs. Skipped when models/ does not exist.
"""

import json
import math
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from roma_http import MODELS_DIR, assert_error, ok_json, project_models_dir

pytestmark = pytest.mark.project_models

KNOWN = ("mlp", "resnet", "mobilenet")


def model_entries():
    base = project_models_dir()
    found = {}
    for name in KNOWN:
        d = base / name
        versions = [v for v in d.iterdir() if v.is_dir() and v.name.isdigit()
                    and (v / "saved_model.pb").is_file()] if d.is_dir() else []
        if versions and (d / "request.json").is_file():
            found[name] = d
    if not found:
        pytest.skip(f"no servable model folders ({', '.join(KNOWN)}) with request.json in {base}")
    return found


def request_body(name):
    return json.loads((MODELS_DIR / name / "request.json").read_text())


def need(entries, name):
    if name not in entries:
        pytest.skip(f"models/{name} not present")
    return entries[name]


def batch_of(body):
    inst = body.get("instances")
    if inst is not None:
        return len(inst)
    inp = body["inputs"]
    first = next(iter(inp.values())) if isinstance(inp, dict) else inp
    return len(first)


def rows(answer):
    """predictions / outputs as a list of per-item values (single-output models)."""
    return answer["predictions"] if "predictions" in answer else answer["outputs"]


def close(a, b, rel=1e-4, abs_=1e-5):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y, rel, abs_) for x, y in zip(a, b))
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def flat(v):
    if isinstance(v, list):
        for x in v:
            yield from flat(x)
    else:
        yield v


def to_columnar(body):
    inst = body["instances"]
    out = {k: v for k, v in body.items() if k != "instances"}
    if isinstance(inst[0], dict):
        out["inputs"] = {k: [e[k] for e in inst] for k in inst[0]}
    else:
        out["inputs"] = inst
    return out


@pytest.fixture(scope="module")
def entries():
    return model_entries()


@pytest.fixture(scope="module")
def server(workers, entries):
    models = [{"name": n, "base_path": d} for n, d in entries.items()]
    return workers.serve_config(models, ready_model=models[0]["name"])


# What scripts/gen_models.py builds: (input name, input shape, output name, output shape).
SIGNATURES = {
    "mlp": ("x", [-1, 8], "y", [-1, 2]),
    "resnet": ("image", [-1, 192, 192, 3], "probs", [-1, 10]),
    "mobilenet": ("image", [-1, 224, 224, 3], "probs", [-1, 10]),
}


def shape_of(value):
    """The shape of a nested list (its first element at each level)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def test_manifest_describes_the_models(server, entries):
    """models/manifest.json names each model's signature, tensors, shapes and
    version folder as the models really have them: checked against the
    generator's design, the folder on disk, the model's request.json and the
    signature the worker reads from the SavedModel (GET .../metadata)."""
    path = project_models_dir() / "manifest.json"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    manifest = json.loads(path.read_text())
    for name in entries:
        assert name in manifest, f"manifest.json has no entry for {name}"
        m = manifest[name]
        in_name, in_shape, out_name, out_shape = SIGNATURES[name]
        assert (m["input"]["name"], m["input"]["shape"], m["input"]["dtype"]) == (in_name, in_shape, "float32")
        assert (m["output"]["name"], m["output"]["shape"], m["output"]["dtype"]) == \
            (out_name, out_shape, "float32")
        assert m["signature"] == "serving_default"
        assert isinstance(m["params"], int) and m["params"] > 0, m["params"]
        assert (project_models_dir() / m["path"] / "saved_model.pb").is_file(), m["path"]
        body = request_body(name)
        inst = body["instances"][0] if "instances" in body else body["inputs"]
        if isinstance(inst, dict):
            inst = inst[in_name]
        assert shape_of(inst)[-len(in_shape) + 1:] == in_shape[1:], f"{name}: request.json's shape"
        meta = ok_json(server.get(f"/v1/models/{name}/metadata"))
        sig = meta["metadata"]["signature_def"]["signature_def"][m["signature"]]
        for side, key in (("inputs", "input"), ("outputs", "output")):
            tensor = sig[side][m[key]["name"]]
            assert tensor["name"] == m[key]["tensor"], f"{name} {side}: {tensor['name']}"
            assert tensor["dtype"] == "DT_FLOAT"
            dims = [int(d["size"]) for d in tensor["tensor_shape"]["dim"]]
            assert dims == m[key]["shape"], f"{name} {side}: the model says {dims}"


@pytest.mark.parametrize("name", KNOWN)
def test_request_json_answers(server, entries, name):
    need(entries, name)
    body = request_body(name)
    answer = ok_json(server.predict(name, body))
    assert len(rows(answer)) == batch_of(body)
    assert all(isinstance(v, float) and math.isfinite(v) for v in flat(rows(answer)))


@pytest.mark.parametrize("name", ["resnet", "mobilenet"])
def test_image_models_give_probabilities(server, entries, name):
    need(entries, name)
    answer = ok_json(server.predict(name, request_body(name)))
    for row in rows(answer):
        probs = row["probs"] if isinstance(row, dict) else row
        values = list(flat(probs))
        assert all(-1e-6 <= p <= 1 + 1e-6 for p in values)
        assert math.isclose(sum(values), 1.0, abs_tol=1e-3), f"probs sum to {sum(values)}"


@pytest.mark.parametrize("name", KNOWN)
def test_columnar_matches_row_format(server, entries, name):
    need(entries, name)
    body = request_body(name)
    if "instances" not in body:
        pytest.skip("request.json is already columnar")
    row = ok_json(server.predict(name, body))["predictions"]
    col = ok_json(server.predict(name, to_columnar(body)))["outputs"]
    assert close(row, col)


@pytest.mark.parametrize("name", KNOWN)
def test_metadata_names_io(server, entries, name):
    need(entries, name)
    meta = ok_json(server.get(f"/v1/models/{name}/metadata"))
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    want_in, want_out = ("x", "y") if name == "mlp" else ("image", "probs")
    assert want_in in sig["inputs"] and want_out in sig["outputs"]
    assert sig["inputs"][want_in]["dtype"] == "DT_FLOAT"


def test_mlp_wrong_feature_count_is_400(server, entries):
    need(entries, "mlp")
    assert_error(server.predict("mlp", {"instances": [[1.0] * 7]}), 400)


def test_mlp_wrong_dtype_is_400(server, entries):
    need(entries, "mlp")
    assert_error(server.predict("mlp", {"instances": [["a"] * 8]}), 400)


def test_mlp_concurrent_answers_are_stable(server, entries):
    need(entries, "mlp")
    body = request_body("mlp")
    first = ok_json(server.predict("mlp", body))

    def one(_):
        r = requests.post(server.url("/v1/models/mlp:predict"), json=body, timeout=60)
        return r.status_code == 200 and close(rows(json.loads(r.text)), rows(first))

    with ThreadPoolExecutor(8) as ex:
        assert all(ex.map(one, range(80)))


ORACLE = textwrap.dedent("""
    import json, sys, numpy as np, tensorflow as tf
    path, body = sys.argv[1], json.loads(open(sys.argv[2]).read())
    fn = tf.saved_model.load(path).signatures["serving_default"]
    names = list(fn.structured_input_signature[1].keys())
    inst = body["instances"]
    if isinstance(inst[0], dict):
        feed = {k: np.array([e[k] for e in inst], np.float32) for k in names}
    else:
        feed = {names[0]: np.array(inst, np.float32)}
    out = fn(**feed)
    print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
""")


@pytest.mark.parametrize("name", KNOWN)
def test_matches_tensorflow_reference(server, entries, name, tmp_path):
    """Compare with TensorFlow's own answer (skipped when tensorflow is not importable)."""
    d = need(entries, name)
    body = request_body(name)
    if "instances" not in body:
        pytest.skip("reference check only written for row-format request.json")
    if subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True).returncode:
        pytest.skip("tensorflow not importable in this Python")
    version = max((v for v in d.iterdir() if v.is_dir() and v.name.isdigit()), key=lambda v: int(v.name))
    (tmp_path / "body.json").write_text(json.dumps(body))
    (tmp_path / "oracle.py").write_text(ORACLE)
    ref = subprocess.run([sys.executable, str(tmp_path / "oracle.py"), str(version), str(tmp_path / "body.json")],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert ref.returncode == 0, ref.stderr[-2000:]
    expected = json.loads(ref.stdout.strip().splitlines()[-1])
    got = ok_json(server.predict(name, body))["predictions"]
    if len(expected) == 1:
        assert close(got, next(iter(expected.values())), rel=1e-3, abs_=1e-4)
    else:
        assert all(close([row[k] for row in got], v, rel=1e-3, abs_=1e-4) for k, v in expected.items())
